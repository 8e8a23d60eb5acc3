/*
 * "tpm" evidence (kbs-protocol.md §5.3): a TPM 2.0 quote signed by an AK
 * given as a DER SubjectPublicKeyInfo, plus (veritee extension, absent from
 * Trustee's tpm evidence) an optional TCG PC Client event log.
 *
 * Steps: parse -> signature -> binding (qualifying data = first 32 bytes of
 * the expected report data; PCR digest; event-log replay vs quoted PCRs).
 * The AK itself is NOT trusted here: as in Trustee, the claims expose it
 * (ak_public as sent, ak_digest = hex SHA-256 of the DER, ak_public_pem) and
 * the policy must require it, e.g. against reference value `trusted_aks`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/x509_roots.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/tpm.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define TPM_AK_B64_MAX 4096u
#define TPM_MSG_B64_MAX (4u * ((VT_TPM_ATTEST_MAX + 2u) / 3u))
#define TPM_SIG_B64_MAX (4u * ((VT_TPM_SIGNATURE_MAX + 2u) / 3u))
#define TPM_LOG_B64_MAX ((size_t)8 << 20)
#define TPM_REPORT_DATA_SIZE 32u

static vt_status check_members(const json_t *o, const char *const *allowed, size_t n, const char *what,
			       struct vt_err *err)
{
	if (!json_is_object(o))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, what, "%s is not a JSON object", what);
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)o, key, value) {
		bool ok = false;
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, what, "unknown member \"%.64s\"", key);
	}
	return VT_OK;
}

static vt_status b64_member(const json_t *obj, const char *key, const char *field, size_t max_chars, uint8_t **out,
			    size_t *out_size, struct vt_err *err)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "member \"%s\" is missing or not a string", key);
	size_t slen = json_string_length(v);
	if (slen > max_chars)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu base64 characters, at most %zu accepted",
			       slen, max_chars);
	vt_status rc = vt_b64_decode(json_string_value(v), slen, out, out_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "%s", field);
	return rc;
}

static vt_status parse_ak(const uint8_t *der, size_t der_size, EVP_PKEY **out, struct vt_err *err)
{
	const unsigned char *p = der;
	if (der_size == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ak_public", "empty AK");
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)der_size);
	if (k == NULL || p != der + der_size) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ak_public",
			       "ak_public is not exactly one DER SubjectPublicKeyInfo");
	}
	int t = EVP_PKEY_get_base_id(k);
	if (t != EVP_PKEY_RSA && t != EVP_PKEY_EC) {
		EVP_PKEY_free(k);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ak_public", "AK is neither RSA nor EC");
	}
	*out = k;
	return VT_OK;
}

static unsigned popcount24(uint32_t m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VT_TPM_NUM_PCRS; i++)
		n += (m >> i) & 1u;
	return n;
}

/* Map the "pcrs" array onto the quoted bank: 24 entries = PCR 0..23, or
 * exactly the quoted PCRs in ascending order. */
static vt_status parse_pcrs(const json_t *arr, const struct vt_tpm_quote *q, struct vt_tpm_pcrs *out,
			    uint32_t *mask_out, struct vt_err *err)
{
	const struct vt_tpm_pcr_bank *bank = NULL;
	for (uint32_t i = 0; i < q->bank_count; i++) {
		if (q->banks[i].mask == 0)
			continue;
		if (bank != NULL)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select",
				       "the quote covers several PCR banks; tpm evidence carries one");
		bank = &q->banks[i];
	}
	uint16_t alg = bank ? bank->hash_alg : VT_TPM_ALG_SHA256;
	uint32_t mask = bank ? bank->mask : 0;
	const EVP_MD *md = vt_tpm_alg_md(alg);
	if (md == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select",
			       "PCR bank 0x%04x is not supported", (unsigned)alg);
	memset(out, 0, sizeof(*out));
	out->hash_alg = alg;
	out->digest_size = (size_t)EVP_MD_get_size(md);
	if (!json_is_array(arr))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.pcrs", "pcrs is missing or not an array");
	size_t n = json_array_size(arr);
	bool all = n == VT_TPM_NUM_PCRS;
	if (!all && n != popcount24(mask))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.pcrs",
			       "%zu PCR values for %u quoted PCRs (give all 24 or exactly the quoted ones)", n,
			       popcount24(mask));
	unsigned pcr = 0;
	for (size_t i = 0; i < n; i++) {
		if (all) {
			pcr = (unsigned)i;
		} else {
			while (!(mask & (1u << pcr)))
				pcr++;
		}
		const char *s = json_string_value(json_array_get(arr, i));
		if (s == NULL || vt_hex_decode_fixed(s, out->value[pcr], out->digest_size, NULL) != VT_OK)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.pcrs",
				       "pcrs[%zu] is not %zu hex characters", i, 2 * out->digest_size);
		out->present |= 1u << pcr;
		if (!all)
			pcr++;
	}
	*mask_out = mask;
	return VT_OK;
}

#define SET(obj, key, val)                                                             \
	do {                                                                           \
		if (json_object_set_new((obj), (key), (val)) != 0) {                   \
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, (key), "out of memory"); \
			goto out;                                                      \
		}                                                                      \
	} while (0)

static json_t *hexstr(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	json_t *s = h ? json_string(h) : NULL;
	free(h);
	return s;
}

static vt_status make_claims(const struct vt_tpm_quote *q, const struct vt_tpm_pcrs *pcrs, uint32_t mask,
			     const char *ak_b64, const uint8_t *ak_der, size_t ak_der_size, EVP_PKEY *ak,
			     json_t *events, json_t **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	char *pem = NULL;
	json_t *c = json_object(), *qi = NULL, *el = NULL;
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t md_size = 0;
	if (c == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	SET(c, "report_data", hexstr(q->extra_data, q->extra_data_size));
	if (mask & (1u << 8))
		SET(c, "init_data", hexstr(pcrs->value[8], pcrs->digest_size));
	SET(c, "ak_public", json_string(ak_b64));
	VT_GUARD(vt_digest(EVP_sha256(), ak_der, ak_der_size, md, &md_size, err));
	SET(c, "ak_digest", hexstr(md, md_size));
	pem = vt_key_public_pem(ak);
	SET(c, "ak_public_pem", pem ? json_string(pem) : NULL);
	SET(c, "pcr_bank", json_string(vt_tpm_alg_name(pcrs->hash_alg)));
	for (unsigned i = 0; i < VT_TPM_NUM_PCRS; i++) {
		if (!(mask & (1u << i)))
			continue;
		char key[8];
		snprintf(key, sizeof(key), "pcr%02u", i);
		SET(c, key, hexstr(pcrs->value[i], pcrs->digest_size));
	}
	char fw[24];
	snprintf(fw, sizeof(fw), "%016llx", (unsigned long long)q->firmware_version);
	qi = json_pack("{s:I, s:I, s:I, s:b, s:s}", "clock", (json_int_t)(q->clock & 0x7FFFFFFFFFFFFFFFull),
		       "reset_count", (json_int_t)q->reset_count, "restart_count", (json_int_t)q->restart_count, "safe",
		       q->safe, "firmware_version", fw);
	if (qi == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "quote", "out of memory");
		goto out;
	}
	SET(qi, "qualified_signer", hexstr(q->qualified_signer, q->qualified_signer_size));
	SET(qi, "pcr_digest", hexstr(q->pcr_digest, q->pcr_digest_size));
	SET(c, "quote", qi);
	qi = NULL;
	if (events != NULL) {
		el = vt_tcg_eventlog_summary(events);
		if (el == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "event_log", "out of memory");
			goto out;
		}
		SET(el, "events", json_incref(events));
		SET(c, "event_log", el);
		el = NULL;
	}
	*out = c;
	c = NULL;
out:
	free(pem);
	json_decref(qi);
	json_decref(el);
	json_decref(c);
	return rc;
}

static vt_status tpm_verify(const struct vt_verify_ctx *ctx, const json_t *evidence,
			    const struct vt_binding *binding, json_t **claims_out, struct vt_err *err)
{
	/* ek_cert / ak_cert: certificates the attester may add (checked only
	 * with ek_roots, tpm_verify_anchored). */
	static const char *const TOP[] = {"ak_public", "tpm_quote", "event_log", "ek_cert", "ak_cert"};
	static const char *const QUOTE[] = {"signature", "message", "pcrs"};
	vt_status rc;
	uint8_t *ak_der = NULL, *msg = NULL, *sig = NULL, *log = NULL;
	size_t ak_der_size = 0, msg_size = 0, sig_size = 0, log_size = 0;
	EVP_PKEY *ak = NULL;
	json_t *events = NULL;
	struct vt_tpm_quote *q = calloc(1, sizeof(*q));
	struct vt_tpm_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	uint32_t mask = 0;

	if (q == NULL || pcrs == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	if (ctx == NULL || evidence == NULL || claims_out == NULL) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
		goto out;
	}

	/* parse */
	VT_GUARD(check_members(evidence, TOP, 5, "evidence", err));
	const json_t *tq = json_object_get(evidence, "tpm_quote");
	if (tq == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote", "member \"tpm_quote\" is missing");
		goto out;
	}
	VT_GUARD(check_members(tq, QUOTE, 3, "tpm_quote", err));
	VT_GUARD(b64_member(evidence, "ak_public", "ak_public", TPM_AK_B64_MAX, &ak_der, &ak_der_size, err));
	VT_GUARD(b64_member(tq, "message", "tpm_quote.message", TPM_MSG_B64_MAX, &msg, &msg_size, err));
	VT_GUARD(b64_member(tq, "signature", "tpm_quote.signature", TPM_SIG_B64_MAX, &sig, &sig_size, err));
	if (json_object_get(evidence, "event_log") != NULL)
		VT_GUARD(b64_member(evidence, "event_log", "event_log", TPM_LOG_B64_MAX, &log, &log_size, err));
	VT_GUARD(parse_ak(ak_der, ak_der_size, &ak, err));
	VT_GUARD(vt_tpm_attest_parse(msg, msg_size, q, err));
	VT_GUARD(parse_pcrs(json_object_get(tq, "pcrs"), q, pcrs, &mask, err));

	/* signature, qualifying data, PCR digest */
	uint8_t want[TPM_REPORT_DATA_SIZE];
	const uint8_t *wantp = NULL;
	if (binding != NULL && binding->report_data != NULL) {
		memset(want, 0, sizeof(want));
		memcpy(want, binding->report_data,
		       binding->report_data_size < sizeof(want) ? binding->report_data_size : sizeof(want));
		wantp = want;
	}
	VT_GUARD(vt_tpm_quote_verify(ak, msg, msg_size, sig, sig_size, pcrs, wantp, sizeof(want), q, err));

	/* event log against the quoted PCRs */
	if (log != NULL)
		VT_GUARD(vt_tcg_eventlog_check(log, log_size, pcrs->hash_alg,
					       (const uint8_t(*)[VT_TPM_MAX_DIGEST])pcrs->value, mask, &events, err));

	VT_GUARD(make_claims(q, pcrs, mask, json_string_value(json_object_get(evidence, "ak_public")), ak_der,
			     ak_der_size, ak, events, claims_out, err));
out:
	json_decref(events);
	EVP_PKEY_free(ak);
	free(ak_der);
	free(msg);
	free(sig);
	free(log);
	free(q);
	free(pcrs);
	return rc;
}

static vt_status tpm_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	json_t *ev = NULL;
	vt_status rc = vt_json_parse((const char *)bytes, size, 16u << 20, &ev, err);
	if (rc != VT_OK)
		return rc;
	if (!json_is_object(ev) || json_object_get(ev, "tpm_quote") == NULL) {
		json_decref(ev);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "not tpm evidence JSON ({\"ak_public\", \"tpm_quote\", optional \"event_log\", \"ek_cert\", "
			       "\"ak_cert\"})");
	}
	*evidence_out = ev;
	return VT_OK;
}

/* Trustee's default_cpu branch for tpm: hardware 2 for a verified quote;
 * executables 3 only when PCR 11 is a reference value (tpm_pcr11) AND the
 * attestation key is a trusted one (trusted_aks: SHA-256 of the AK's DER
 * SubjectPublicKeyInfo, hex) -- the verifier checks the quote, only the
 * policy can say which AKs are trusted. */
static const char tpm_policy[] =
	"{\"version\":1,\"id\":\"default_tpm\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33},"
	"\"rules\":["
	"{\"name\":\"tpm-quote-verified\",\"claim\":\"/tpm/quote/pcr_digest\",\"exists\":true,\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"pcr11\",\"claim\":\"/tpm/pcr11\",\"in_reference\":\"tpm_pcr11\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"trusted-ak\",\"claim\":\"/tpm/ak_digest\",\"in_reference\":\"trusted_aks\","
	"\"on_fail\":{\"executables\":33}}"
	"]}";

extern const struct vt_tee vt_tee_tpm;

/* ---------------------------------------------------------------- AK trust */

/* The verifier's trusted AK: the SHA-256 of its DER SubjectPublicKeyInfo,
 * from "ak" (a PEM public key) or "ak_digest" (hex).  Without either, the
 * quote is checked against the AK the evidence carries, and only a policy
 * (trusted_aks) or an enrollment can say that AK is a real TPM's. */
struct tpm_state {
	uint8_t ak_digest[32];
	bool has_digest;
	struct vt_x509_roots *roots; /* ek_roots, read once */
	char *ek_roots; /* the path, for vt_tpm_ek_verify */
	X509 *ak_cert;  /* an AK certificate given outside the evidence */
};

static void tpm_state_free(void *state)
{
	struct tpm_state *st = state;
	if (st == NULL)
		return;
	vt_x509_roots_free(st->roots);
	X509_free(st->ak_cert);
	free(st->ek_roots);
	free(st);
}

/* The ek_roots file or directory into st, once per verifier. */
static vt_status ek_roots_load(struct tpm_state *st, const char *roots, struct vt_err *err)
{
	if ((st->ek_roots = strdup(roots)) == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "ek_roots", "out of memory");
	vt_status rc = vt_x509_roots_load(roots, "ek_roots", &st->roots, err);
	if (rc != VT_OK)
		return rc;
	if (vt_x509_roots_anchors(st->roots) == 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ek_roots",
			       "ek_roots %.300s hold no self-signed (root) CA certificate", roots);
	return VT_OK;
}

static vt_status tpm_state_new(const struct vt_verifier *v, const json_t *o, void **state, struct vt_err *err)
{
	(void)v;
	const char *path = vt_tee_opt_str(o, "ak"), *hex = vt_tee_opt_str(o, "ak_digest");
	const char *roots = vt_tee_opt_str(o, "ek_roots"), *akc = vt_tee_opt_str(o, "ak_cert");
	if (path == NULL && hex == NULL && roots == NULL) {
		if (akc != NULL)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ak_cert",
				       "ak_cert needs ek_roots (the CA certificates it must chain to)");
		return VT_OK; /* no anchor: the policy decides (broker), the CLI says so */
	}
	if ((path != NULL) + (hex != NULL) + (roots != NULL) > 1)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ak", "give one of ak, ak_digest and ek_roots");
	struct tpm_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	vt_status rc = VT_OK;
	if (roots != NULL) {
		rc = ek_roots_load(st, roots, err);
		if (rc == VT_OK && akc != NULL)
			rc = vt_x509_load(akc, &st->ak_cert, err);
	} else if (hex != NULL) {
		rc = vt_hex_decode_fixed(hex, st->ak_digest, sizeof(st->ak_digest), err);
		if (rc != VT_OK)
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ak_digest",
				     "ak_digest must be the 64 hex digits of the SHA-256 of the AK's DER public key");
	} else {
		EVP_PKEY *k = NULL;
		unsigned char *der = NULL;
		int n = 0;
		rc = vt_key_load_pem(path, false, &k, err);
		if (rc == VT_OK && (n = i2d_PUBKEY(k, &der)) <= 0)
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "ak", "cannot encode the AK public key");
		if (rc == VT_OK)
			rc = vt_sha256(der, (size_t)n, st->ak_digest, err);
		OPENSSL_free(der);
		EVP_PKEY_free(k);
	}
	st->has_digest = roots == NULL;
	if (rc != VT_OK) {
		tpm_state_free(st);
		return rc;
	}
	*state = st;
	return VT_OK;
}

/* The base64 DER certificate `key` of the evidence: exactly one certificate. */
static vt_status cert_member(const json_t *evidence, const char *key, const char *what, X509 **out,
			     struct vt_err *err)
{
	uint8_t *der = NULL;
	size_t n = 0;
	vt_status rc = b64_member(evidence, key, key, TPM_AK_B64_MAX * 4, &der, &n, err);
	if (rc != VT_OK)
		return rc;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)n);
	bool whole = x != NULL && p == der + n;
	free(der);
	if (!whole) {
		X509_free(x);
		ERR_clear_error();
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, what, "the %s is not one DER X.509 certificate", what);
	}
	*out = x;
	return VT_OK;
}

static json_t *cert_json(X509 *x)
{
	char subject[256] = "", issuer[256] = "";
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof(issuer));
	uint8_t fp[32];
	char *h = vt_x509_fingerprint_sha256(x, fp, NULL) == VT_OK ? vt_hex_encode(fp, 32) : NULL;
	json_t *o = json_pack("{s:s, s:s, s:s?}", "subject", subject, "issuer", issuer, "sha256", h);
	free(h);
	return o;
}

static vt_status anchor_by_roots(const struct vt_verify_ctx *ctx, const struct tpm_state *st, const json_t *evidence,
				 json_t *claims, struct vt_err *err)
{
	uint8_t *ak_der = NULL;
	size_t ak_n = 0;
	X509 *cert = NULL;
	EVP_PKEY *ak = NULL;
	vt_status rc = VT_OK;
	if (json_string_value(json_object_get(evidence, "ak_cert")) != NULL) {
		VT_GUARD(cert_member(evidence, "ak_cert", "AK certificate", &cert, err));
	} else if (st->ak_cert != NULL) {
		X509_up_ref(st->ak_cert);
		cert = st->ak_cert;
	} else {
		/* No AK certificate: say what an EK certificate would and would not show. */
		char ek[400] = "the evidence carries no EK certificate either";
		if (json_string_value(json_object_get(evidence, "ek_cert")) != NULL) {
			struct vt_err e2 = {0};
			uint8_t *ekd = NULL;
			size_t ekn = 0;
			X509 *ekx = NULL;
			/* the EK profile's critical extensions are vt_tpm_ek_verify's to allow */
			if (b64_member(evidence, "ek_cert", "ek_cert", TPM_AK_B64_MAX * 4, &ekd, &ekn, &e2) == VT_OK &&
			    vt_tpm_ek_verify(ekd, ekn, st->ek_roots, ctx->now, NULL, &e2) == VT_OK &&
			    (ekx = d2i_X509(NULL, &(const unsigned char *){ekd}, (long)ekn)) != NULL) {
				char iss[200] = "";
				X509_NAME_oneline(X509_get_issuer_name(ekx), iss, sizeof(iss));
				snprintf(ek, sizeof(ek), "its EK certificate (issuer %.150s) chains to ek_roots, so the TPM is "
							 "genuine, but an EK cannot sign: nothing in a quote ties this AK to that TPM",
					 iss);
			} else {
				snprintf(ek, sizeof(ek), "its EK certificate does not check: %.300s", e2.detail);
			}
			X509_free(ekx);
			free(ekd);
		}
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert",
			     "no AK certificate (evidence member ak_cert, or --ak-cert) to anchor the AK in ek_roots; %s. "
			     "Enroll the AK with credential activation (veritee tpm-enroll) or give an AK certificate",
			     ek);
		goto out;
	}
	/*
	 * ek_roots: the AK is trusted when a certificate for exactly this AK (the
	 * evidence's "ak_cert", else the ak_cert option) chains to them at `now`:
	 * an AK certificate a CA issued after checking the TPM, e.g. after
	 * credential activation with its EK.  An EK certificate alone does not
	 * anchor the AK: an EK cannot sign, so nothing in a quote ties an AK to
	 * the EK's TPM without an activation (veritee tpm-enroll).  The EK
	 * certificate, when sent, is checked against the same roots and named in
	 * the refusal.
	 */
	VT_GUARD(vt_x509_roots_verify(st->roots, cert, NULL, ctx->now, 8, NULL, "AK certificate", "the AK certificate",
				      "ek_roots", err));
	VT_GUARD(b64_member(evidence, "ak_public", "ak_public", TPM_AK_B64_MAX, &ak_der, &ak_n, err));
	VT_GUARD(parse_ak(ak_der, ak_n, &ak, err));
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), ak) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert",
			     "the AK certificate is for another key than the AK that signed the quote");
		goto out;
	}
	json_t *cj = cert_json(cert);
	if (cj == NULL || json_object_set_new(claims, "ak_cert", cj) != 0)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "ak_cert", "out of memory");
out:
	EVP_PKEY_free(ak);
	X509_free(cert);
	free(ak_der);
	return rc;
}

/* The quote verified against the AK it carries; with a trusted AK, that AK
 * must be it. */
static vt_status tpm_verify_anchored(const struct vt_verify_ctx *ctx, const json_t *evidence,
				     const struct vt_binding *binding, json_t **claims_out, struct vt_err *err)
{
	vt_status rc = tpm_verify(ctx, evidence, binding, claims_out, err);
	const struct tpm_state *st = vt_verify_state(ctx, &vt_tee_tpm);
	if (rc != VT_OK || st == NULL)
		return rc;
	if (!st->has_digest) {
		rc = anchor_by_roots(ctx, st, evidence, *claims_out, err);
		if (rc != VT_OK) {
			json_decref(*claims_out);
			*claims_out = NULL;
		}
		return rc;
	}
	char *want = vt_hex_encode(st->ak_digest, sizeof(st->ak_digest));
	const char *seen = json_string_value(json_object_get(*claims_out, "ak_digest"));
	if (want == NULL || seen == NULL || strcmp(want, seen) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "ak_public",
			     "the quote is signed by AK %.64s, not by the trusted AK %.64s", seen ? seen : "?",
			     want ? want : "?");
		json_decref(*claims_out);
		*claims_out = NULL;
	}
	free(want);
	return rc;
}

/* `veritee verify tpm` without an anchor verifies a signature, not a TPM. */
static const char *tpm_cli_untrusted(const json_t *options)
{
	if (json_object_get(options, "ak") || json_object_get(options, "ak_digest") || json_object_get(options, "ek_roots"))
		return NULL;
	return "the quote verifies with the AK the evidence itself carries, and nothing says that AK belongs to "
	       "a TPM you trust: give --ak FILE (its PEM public key), --ak-digest HEX (SHA-256 of its DER "
	       "public key) or --ek-roots DIR (CA certificates an AK certificate must chain to), or enroll it "
	       "with a broker (veritee tpm-enroll)";
}

static const struct vt_tee_option tpm_options[] = {
	{"ak", "FILE", true, "the trusted attestation key (PEM public key)"},
	{"ak_digest", "HEX", false, "the trusted AK as the SHA-256 of its DER public key (claim ak_digest)"},
	{"ek_roots", "FILE|DIR", true,
	 "TPM EK/AK CA certificates (roots; others are intermediates): the AK is trusted when an AK certificate "
	 "(evidence member ak_cert, or --ak-cert) chains to them; an EK certificate alone cannot vouch for an AK"},
	{"ak_cert", "FILE", true, "with ek_roots: the AK certificate, when the evidence does not carry one"},
	{NULL, NULL, false, NULL},
};

const struct vt_tee vt_tee_tpm = {
	.name = "tpm",
	.summary = "TPM 2.0 quote with its AK and event log (veritee's JSON); trust in the AK comes from policy "
		   "(trusted_aks)",
	.default_policy = tpm_policy,
	.options = tpm_options,
	.state_new = tpm_state_new,
	.state_free = tpm_state_free,
	.verify = tpm_verify_anchored,
	.load_file = tpm_load_file,
	.cli_untrusted = tpm_cli_untrusted,
	.init_data = VT_INIT_DATA_PCR_EXTEND,
};
