/*
 * TPM 2.0 quote verification: TPMS_ATTEST and TPMT_SIGNATURE are
 * unmarshalled by libtss2-mu; the signature is checked with OpenSSL; the PCR
 * digest is recomputed from the claimed values of the quoted selection.
 * Steps: shared/docs/formats/tpm-quote.md §2-§4.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "veritee/crypto.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

const char *vt_tpm_alg_name(uint16_t alg)
{
	switch (alg) {
	case VT_TPM_ALG_SHA1: return "sha1";
	case VT_TPM_ALG_SHA256: return "sha256";
	case VT_TPM_ALG_SHA384: return "sha384";
	case VT_TPM_ALG_SHA512: return "sha512";
	default: return NULL;
	}
}

const EVP_MD *vt_tpm_alg_md(uint16_t alg)
{
	switch (alg) {
	case VT_TPM_ALG_SHA1: return EVP_sha1();
	case VT_TPM_ALG_SHA256: return EVP_sha256();
	case VT_TPM_ALG_SHA384: return EVP_sha384();
	case VT_TPM_ALG_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

/* ------------------------------------------------------------ TPMS_ATTEST */

vt_status vt_tpm_attest_parse(const uint8_t *attest, size_t size, struct vt_tpm_quote *out, struct vt_err *err)
{
	if (attest == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (size == 0 || size > VT_TPM_ATTEST_MAX)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message",
			       "TPMS_ATTEST is %zu bytes (1..%u accepted)", size, VT_TPM_ATTEST_MAX);

	TPMS_ATTEST *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	size_t off = 0;
	vt_status rc;
	TSS2_RC trc = Tss2_MU_TPMS_ATTEST_Unmarshal(attest, size, &off, a);
	if (trc != TSS2_RC_SUCCESS) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message",
			     "TPMS_ATTEST does not unmarshal (libtss2-mu rc 0x%x)", (unsigned)trc);
		goto out;
	}
	if (off != size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message",
			     "%zu bytes after the TPMS_ATTEST (%zu of %zu used)", size - off, off, size);
		goto out;
	}
	if (a->magic != VT_TPM_GENERATED_VALUE) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.magic",
			     "magic is 0x%08x, not TPM_GENERATED_VALUE 0xff544347", (unsigned)a->magic);
		goto out;
	}
	if (a->type != VT_TPM_ST_ATTEST_QUOTE) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.type",
			     "attestation type is 0x%04x, not TPM_ST_ATTEST_QUOTE 0x8018", (unsigned)a->type);
		goto out;
	}
	out->magic = a->magic;
	out->type = a->type;
	/* MU bounds every TPM2B by its buffer; check again against ours. */
	if (a->qualifiedSigner.size > sizeof(out->qualified_signer) || a->extraData.size > sizeof(out->extra_data) ||
	    a->attested.quote.pcrDigest.size > sizeof(out->pcr_digest)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message", "TPM2B field too large");
		goto out;
	}
	memcpy(out->qualified_signer, a->qualifiedSigner.name, a->qualifiedSigner.size);
	out->qualified_signer_size = a->qualifiedSigner.size;
	memcpy(out->extra_data, a->extraData.buffer, a->extraData.size);
	out->extra_data_size = a->extraData.size;
	out->clock = a->clockInfo.clock;
	out->reset_count = a->clockInfo.resetCount;
	out->restart_count = a->clockInfo.restartCount;
	out->safe = a->clockInfo.safe != 0;
	out->firmware_version = a->firmwareVersion;

	const TPML_PCR_SELECTION *sel = &a->attested.quote.pcrSelect;
	if (sel->count > VT_TPM_MAX_BANKS) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select", "%u PCR banks selected",
			     (unsigned)sel->count);
		goto out;
	}
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		uint32_t mask = 0;
		if (s->sizeofSelect > TPM2_PCR_SELECT_MAX) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select",
				     "sizeofSelect %u", (unsigned)s->sizeofSelect);
			goto out;
		}
		for (unsigned b = 0; b < s->sizeofSelect; b++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				if (!(s->pcrSelect[b] & (1u << bit)))
					continue;
				unsigned pcr = b * 8 + bit;
				if (pcr >= VT_TPM_NUM_PCRS) {
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select",
						     "PCR %u selected (0..23 supported)", pcr);
					goto out;
				}
				mask |= 1u << pcr;
			}
		}
		for (uint32_t j = 0; j < i; j++) {
			if (out->banks[j].hash_alg == s->hash) {
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select",
					     "bank 0x%04x selected twice", (unsigned)s->hash);
				goto out;
			}
		}
		out->banks[i].hash_alg = s->hash;
		out->banks[i].mask = mask;
	}
	out->bank_count = sel->count;
	memcpy(out->pcr_digest, a->attested.quote.pcrDigest.buffer, a->attested.quote.pcrDigest.size);
	out->pcr_digest_size = a->attested.quote.pcrDigest.size;
	rc = VT_OK;
out:
	free(a);
	return rc;
}

/* ------------------------------------------------------------ TPMT_SIGNATURE */

static vt_status sig_reject(struct vt_err *err, const char *what)
{
	ERR_clear_error();
	return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "tpm_quote.signature",
		       "%s signature over the TPMS_ATTEST does not verify with the AK", what);
}

/* DER ECDSA-Sig-Value from the big-endian r and s (any length). */
static vt_status ecdsa_der(const TPMS_SIGNATURE_ECC *e, unsigned char **der, int *der_size, struct vt_err *err)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
	BIGNUM *sv = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	if (s == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(s, r, sv) != 1) {
		ECDSA_SIG_free(s);
		BN_free(r);
		BN_free(sv);
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "tpm_quote.signature", "cannot build ECDSA signature");
	}
	*der = NULL;
	*der_size = i2d_ECDSA_SIG(s, der);
	ECDSA_SIG_free(s);
	if (*der_size <= 0)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "tpm_quote.signature", "cannot encode ECDSA signature");
	return VT_OK;
}

vt_status vt_tpm_signature_verify(EVP_PKEY *ak, const uint8_t *msg, size_t msg_size, const uint8_t *sig,
				  size_t sig_size, uint16_t *hash_alg_out, struct vt_err *err)
{
	if (ak == NULL || msg == NULL || sig == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (sig_size == 0 || sig_size > VT_TPM_SIGNATURE_MAX)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.signature",
			       "TPMT_SIGNATURE is %zu bytes (1..%u accepted)", sig_size, VT_TPM_SIGNATURE_MAX);
	TPMT_SIGNATURE *ts = calloc(1, sizeof(*ts));
	if (ts == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_status rc;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *der = NULL;
	size_t off = 0;
	TSS2_RC trc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_size, &off, ts);
	if (trc != TSS2_RC_SUCCESS) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.signature",
			     "TPMT_SIGNATURE does not unmarshal (libtss2-mu rc 0x%x)", (unsigned)trc);
		goto out;
	}
	if (off != sig_size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.signature",
			     "%zu bytes after the TPMT_SIGNATURE", sig_size - off);
		goto out;
	}

	uint16_t hash;
	const uint8_t *sigbytes;
	size_t siglen;
	int want_type, padding = 0;
	switch (ts->sigAlg) {
	case VT_TPM_ALG_RSASSA:
	case VT_TPM_ALG_RSAPSS:
		/* rsassa and rsapss share one layout in the union */
		hash = ts->signature.rsassa.hash;
		sigbytes = ts->signature.rsassa.sig.buffer;
		siglen = ts->signature.rsassa.sig.size;
		want_type = EVP_PKEY_RSA;
		padding = ts->sigAlg == VT_TPM_ALG_RSASSA ? RSA_PKCS1_PADDING : RSA_PKCS1_PSS_PADDING;
		break;
	case VT_TPM_ALG_ECDSA: {
		hash = ts->signature.ecdsa.hash;
		int dlen = 0;
		VT_GUARD(ecdsa_der(&ts->signature.ecdsa, &der, &dlen, err));
		sigbytes = der;
		siglen = (size_t)dlen;
		want_type = EVP_PKEY_EC;
		break;
	}
	default:
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "tpm_quote.signature.sig_alg",
			     "signature scheme 0x%04x not accepted (RSASSA, RSAPSS, ECDSA)", (unsigned)ts->sigAlg);
		goto out;
	}
	if (hash != VT_TPM_ALG_SHA256 && hash != VT_TPM_ALG_SHA384 && hash != VT_TPM_ALG_SHA512) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "tpm_quote.signature.hash",
			     "signature hash 0x%04x not accepted (SHA-256/384/512)", (unsigned)hash);
		goto out;
	}
	if (EVP_PKEY_get_base_id(ak) != want_type) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "ak_public",
			     "signature scheme 0x%04x does not fit the AK's key type", (unsigned)ts->sigAlg);
		goto out;
	}
	const EVP_MD *md = vt_tpm_alg_md(hash);
	EVP_PKEY_CTX *pctx = NULL;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL || EVP_DigestVerifyInit(mctx, &pctx, md, NULL, ak) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ak_public", "cannot set up signature verification");
		ERR_clear_error();
		goto out;
	}
	if (padding != 0) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, padding) != 1 ||
		    (padding == RSA_PKCS1_PSS_PADDING && (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1 ||
							   EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ak_public", "cannot set RSA padding");
			ERR_clear_error();
			goto out;
		}
	}
	if (EVP_DigestVerify(mctx, sigbytes, siglen, msg, msg_size) != 1) {
		rc = sig_reject(err, ts->sigAlg == VT_TPM_ALG_ECDSA	  ? "ECDSA"
				: ts->sigAlg == VT_TPM_ALG_RSAPSS ? "RSA-PSS"
								  : "RSASSA-PKCS1-v1_5");
		goto out;
	}
	if (hash_alg_out != NULL)
		*hash_alg_out = hash;
	rc = VT_OK;
out:
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	free(ts);
	return rc;
}

/* ------------------------------------------------------------ quote */

static vt_status check_extra_data(const struct vt_tpm_quote *q, const uint8_t *want, size_t want_size,
				  struct vt_err *err)
{
	if (want_size == q->extra_data_size && (want_size == 0 || vt_ct_eq(want, q->extra_data, want_size)))
		return VT_OK;
	char *hw = vt_hex_encode(want, want_size);
	char *hs = vt_hex_encode(q->extra_data, q->extra_data_size);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "extra_data",
			       "quote qualifying data does not match the expected binding: expected %s, seen %s",
			       hw ? hw : "?", hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

static vt_status check_pcr_digest(const struct vt_tpm_quote *q, uint16_t sig_hash, const struct vt_tpm_pcrs *pcrs,
				  struct vt_err *err)
{
	const EVP_MD *md = vt_tpm_alg_md(sig_hash);
	if (md == NULL)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_BINDING, "pcr_digest", "no digest for 0x%04x", sig_hash);
	if (pcrs == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "pcrs", "no PCR values given");
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL || EVP_DigestInit_ex(c, md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "pcr_digest", "digest init failed");
	}
	vt_status rc = VT_OK;
	for (uint32_t i = 0; i < q->bank_count && rc == VT_OK; i++) {
		const struct vt_tpm_pcr_bank *b = &q->banks[i];
		if (b->mask == 0)
			continue;
		if (b->hash_alg != pcrs->hash_alg) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "pcrs",
				     "the quote selects bank 0x%04x, the PCR values are for bank 0x%04x",
				     (unsigned)b->hash_alg, (unsigned)pcrs->hash_alg);
			break;
		}
		for (unsigned n = 0; n < VT_TPM_NUM_PCRS; n++) {
			if (!(b->mask & (1u << n)))
				continue;
			if (!(pcrs->present & (1u << n))) {
				rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "pcrs",
					     "PCR %u is quoted but no value was given", n);
				break;
			}
			if (EVP_DigestUpdate(c, pcrs->value[n], pcrs->digest_size) != 1) {
				rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "pcr_digest", "digest failed");
				break;
			}
		}
	}
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	if (rc == VT_OK && EVP_DigestFinal_ex(c, d, &dlen) != 1)
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "pcr_digest", "digest failed");
	EVP_MD_CTX_free(c);
	if (rc != VT_OK)
		return rc;
	if (dlen == q->pcr_digest_size && memcmp(d, q->pcr_digest, dlen) == 0) /* public values */
		return VT_OK;
	char *hw = vt_hex_encode(d, dlen);
	char *hs = vt_hex_encode(q->pcr_digest, q->pcr_digest_size);
	rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "pcr_digest",
		     "pcr digest mismatch: the PCR values hash to %s, the quote has %s", hw ? hw : "?", hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

vt_status vt_tpm_quote_verify(EVP_PKEY *ak, const uint8_t *attest, size_t attest_size, const uint8_t *sig,
			      size_t sig_size, const struct vt_tpm_pcrs *pcrs, const uint8_t *expected_qd,
			      size_t expected_qd_size, struct vt_tpm_quote *quote_out, struct vt_err *err)
{
	struct vt_tpm_quote *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_status rc;
	uint16_t hash = 0;
	VT_GUARD(vt_tpm_attest_parse(attest, attest_size, q, err));
	VT_GUARD(vt_tpm_signature_verify(ak, attest, attest_size, sig, sig_size, &hash, err));
	if (expected_qd != NULL)
		VT_GUARD(check_extra_data(q, expected_qd, expected_qd_size, err));
	VT_GUARD(check_pcr_digest(q, hash, pcrs, err));
	if (quote_out != NULL)
		*quote_out = *q;
out:
	free(q);
	return rc;
}
