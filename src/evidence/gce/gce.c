/*
 * "gce-vtpm": a Google Compute Engine vTPM attestation (go-tpm-tools'
 * attest.Attestation protobuf) verified up to caller-given Google roots.
 * CLI only (include/veritee/gce.h, docs/gce-vtpm.md).
 *
 * Steps: parse -> chain (AK certificate to a Google root at ctx->now; its
 * key = the AK of ak_pub) -> signature + PCR digest of every quote ->
 * binding (extraData, event log replay to the SHA-256 bank) -> claims.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "crypto/x509_roots.h"
#include "evidence/gce/proto.h"
#include "veritee/crypto.h"
#include "veritee/gce.h"
#include "veritee/verifier.h"
#include "veritee/json.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

#define GCE_B64_MAX (4u * ((VT_GCE_PB_MAX + 2u) / 3u))
#define GCE_CHAIN_DEPTH 8
/* Google's CloudComputeInstanceIdentifier extension of GCE AK certificates. */
#define GCE_INSTANCE_OID "1.3.6.1.4.1.11129.2.1.21"

/* ------------------------------------------------------------ evidence JSON */

static vt_status decode_evidence(const json_t *evidence, uint8_t **pb, size_t *pb_size, struct vt_err *err)
{
	if (!json_is_object(evidence))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)evidence, key, value) {
		if (strcmp(key, "attestation") != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	json_t *a = json_object_get(evidence, "attestation");
	if (!json_is_string(a))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "attestation",
			       "member \"attestation\" is missing or not a string");
	size_t slen = json_string_length(a);
	if (slen > GCE_B64_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation", "%zu base64 characters, at most %zu accepted",
			       slen, (size_t)GCE_B64_MAX);
	vt_status rc = vt_b64_decode(json_string_value(a), slen, pb, pb_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "attestation");
	return rc;
}

/* ------------------------------------------------------------ AK public area */

/* The AK's TPMT_PUBLIC: a restricted signing key that never leaves its TPM,
 * of a key type and size vt_tpm_public_to_pkey accepts (RSA 2048..4096 or
 * ECC P-256/P-384); *out its public key. */
static vt_status ak_from_public(const uint8_t *p, size_t size, EVP_PKEY **out, struct vt_err *err)
{
	static const char field[] = "attestation.ak_pub";
	TPMT_PUBLIC *pub = calloc(1, sizeof(*pub));
	vt_status rc;
	size_t off = 0;
	if (pub == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
	if (Tss2_MU_TPMT_PUBLIC_Unmarshal(p, size, &off, pub) != TSS2_RC_SUCCESS || off != size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "ak_pub is not exactly one TPMT_PUBLIC");
		goto out;
	}
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
				 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if ((pub->objectAttributes & need) != need || (pub->objectAttributes & TPMA_OBJECT_DECRYPT)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
			     "objectAttributes 0x%08x: not a restricted, non-duplicable signing key",
			     (unsigned)pub->objectAttributes);
		goto out;
	}
	rc = vt_tpm_public_to_pkey(pub, field, out, err);
out:
	free(pub);
	return rc;
}

/* ------------------------------------------------------------ certificates */

static vt_status der_cert(const uint8_t *der, size_t size, const char *field, X509 **out, struct vt_err *err)
{
	const unsigned char *p = der;
	X509 *c = d2i_X509(NULL, &p, (long)size);
	if (c == NULL || p != der + size) {
		X509_free(c);
		ERR_clear_error();
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not exactly one DER X.509 certificate");
	}
	*out = c;
	return VT_OK;
}

/* The AK certificate to a self-signed certificate of `roots_path` at `now`,
 * through the evidence's intermediates and the non-self-signed certificates
 * of roots_path. */
static vt_status verify_chain(X509 *leaf, STACK_OF(X509) *evidence_ints, const char *roots_path, int64_t now,
			      struct vt_err *err)
{
	struct vt_x509_roots *roots = NULL;
	vt_status rc = vt_x509_roots_load(roots_path, "gce_roots", &roots, err);
	if (rc != VT_OK)
		return rc;
	if (vt_x509_roots_anchors(roots) == 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "gce_roots",
			     "the Google roots %.300s hold no self-signed (root) certificate", roots_path);
		goto out;
	}
	VT_GUARD(vt_x509_roots_verify(roots, leaf, evidence_ints, now, GCE_CHAIN_DEPTH, NULL, "attestation.ak_cert",
				      "the AK certificate", "the Google roots", err));
	if (X509_check_ca(leaf) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "attestation.ak_cert", "the AK certificate is a CA");
		goto out;
	}
	if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) && !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "attestation.ak_cert",
			     "the AK certificate's key usage lacks digitalSignature");
		goto out;
	}
out:
	vt_x509_roots_free(roots);
	return rc;
}

/* ------------------------------------------------------------ claims */

#define SET(obj, key, val)                                                                   \
	do {                                                                                 \
		if (json_object_set_new((obj), (key), (val)) != 0) {                         \
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, (key), "out of memory"); \
			goto out;                                                            \
		}                                                                            \
	} while (0)

static json_t *hexstr(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	json_t *s = h ? json_string(h) : NULL;
	free(h);
	return s;
}

static json_t *name_str(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	json_t *s = NULL;
	if (b != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		char *p = NULL;
		long n = BIO_get_mem_data(b, &p);
		s = json_stringn(n > 0 ? p : "", n > 0 ? (size_t)n : 0);
	}
	BIO_free(b);
	ERR_clear_error();
	return s;
}

static json_t *time_str(int64_t t)
{
	char buf[32];
	vt_time_format_rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

/* A minimal DER TLV reader for the instance extension: low tag numbers,
 * definite lengths up to 2 bytes. */
static bool der_tlv(struct vt_reader *r, uint8_t *tag, const uint8_t **val, size_t *len)
{
	uint8_t t, l0;
	if (vt_reader_u8(r, &t, "der", NULL) != VT_OK || (t & 0x1Fu) == 0x1Fu ||
	    vt_reader_u8(r, &l0, "der", NULL) != VT_OK)
		return false;
	size_t l = l0;
	if (l0 == 0x81) {
		uint8_t b;
		if (vt_reader_u8(r, &b, "der", NULL) != VT_OK || b < 0x80)
			return false;
		l = b;
	} else if (l0 == 0x82) {
		uint16_t b;
		if (vt_reader_u16be(r, &b, "der", NULL) != VT_OK || b < 0x100)
			return false;
		l = b;
	} else if (l0 & 0x80u) {
		return false;
	}
	*tag = t;
	*len = l;
	return vt_reader_view(r, val, l, "der", NULL) == VT_OK;
}

/* Exactly one TLV spanning p[0..n). */
static bool der_one(const uint8_t *p, size_t n, uint8_t *tag, const uint8_t **val, size_t *len)
{
	struct vt_reader r;
	vt_reader_init(&r, p, n);
	return der_tlv(&r, tag, val, len) && vt_reader_remaining(&r) == 0;
}

/* Exactly one SEQUENCE spanning p[0..n); *contents reads what is inside it. */
static bool der_sequence(const uint8_t *p, size_t n, struct vt_reader *contents)
{
	uint8_t tag;
	const uint8_t *v;
	size_t l;
	if (!der_one(p, n, &tag, &v, &l) || tag != 0x30)
		return false;
	vt_reader_init(contents, v, l);
	return true;
}

/* A non-negative, minimally encoded DER INTEGER of at most 64 bits. */
static bool der_u64(const uint8_t *v, size_t n, uint64_t *out)
{
	if (n == 0 || (v[0] & 0x80u) || (n > 1 && v[0] == 0 && !(v[1] & 0x80u)))
		return false;
	if (v[0] == 0)
		v++, n--;
	if (n > 8)
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | v[i];
	*out = x;
	return true;
}

/* ... as a decimal string (project and instance numbers use all 64 bits). */
static json_t *der_uint(const uint8_t *v, size_t n)
{
	uint64_t x;
	char buf[24];
	if (!der_u64(v, n, &x))
		return NULL;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)x);
	return json_string(buf);
}

static json_t *der_utf8(const uint8_t *v, size_t n)
{
	if (memchr(v, 0, n) != NULL)
		return NULL;
	return json_stringn((const char *)v, n); /* NULL unless valid UTF-8 */
}

/* [0] SEQUENCE { [n] EXPLICIT (INTEGER | BOOLEAN) ... } */
static json_t *decode_security_properties(const uint8_t *p, size_t n)
{
	struct vt_reader s;
	uint8_t tag;
	const uint8_t *v;
	size_t l;
	if (!der_sequence(p, n, &s))
		return NULL;
	json_t *o = json_object();
	while (o != NULL && vt_reader_remaining(&s) > 0) {
		uint8_t itag;
		const uint8_t *iv;
		size_t il;
		json_t *val = NULL;
		if (!der_tlv(&s, &tag, &v, &l) || (tag & 0xE0u) != 0xA0u || !der_one(v, l, &itag, &iv, &il))
			goto bad;
		uint64_t x;
		if (itag == 0x02 && der_u64(iv, il, &x) && x <= (uint64_t)INT64_MAX)
			val = json_integer((json_int_t)x);
		else if (itag == 0x01 && il == 1 && (iv[0] == 0 || iv[0] == 0xFF))
			val = json_boolean(iv[0] != 0);
		if (val == NULL)
			goto bad;
		unsigned num = tag & 0x1Fu;
		char key[24];
		if (num == 0 && itag == 0x02)
			snprintf(key, sizeof(key), "security_version");
		else if (num == 1 && itag == 0x01)
			snprintf(key, sizeof(key), "is_production");
		else
			snprintf(key, sizeof(key), "field_%u", num);
		if (json_object_get(o, key) != NULL || json_object_set_new(o, key, val) != 0)
			goto bad;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* Google's CloudComputeInstanceIdentifier ::= SEQUENCE { zone UTF8String,
 * project_number INTEGER, project_id UTF8String, instance_id INTEGER,
 * instance_name UTF8String, security_properties [0] OPTIONAL }.
 * NULL when it does not decode (the caller then shows it as hex). */
static json_t *decode_instance(const uint8_t *p, size_t n)
{
	static const char *const names[] = {"zone", "project_number", "project_id", "instance_id", "instance_name"};
	static const uint8_t tags[] = {0x0C, 0x02, 0x0C, 0x02, 0x0C};
	struct vt_reader s;
	uint8_t tag;
	const uint8_t *v;
	size_t l;
	if (!der_sequence(p, n, &s))
		return NULL;
	json_t *o = json_object();
	for (size_t i = 0; o != NULL && i < sizeof(tags); i++) {
		if (!der_tlv(&s, &tag, &v, &l) || tag != tags[i])
			goto bad;
		json_t *val = tag == 0x02 ? der_uint(v, l) : der_utf8(v, l);
		if (val == NULL || json_object_set_new(o, names[i], val) != 0)
			goto bad;
	}
	if (o != NULL && vt_reader_remaining(&s) > 0) {
		if (!der_tlv(&s, &tag, &v, &l) || tag != 0xA0 || vt_reader_remaining(&s) != 0)
			goto bad;
		json_t *sp = decode_security_properties(v, l);
		if (sp == NULL || json_object_set_new(o, "security_properties", sp) != 0)
			goto bad;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* {"decoded": true, zone, ...} or {"decoded": false, "der": hex}; NULL when
 * the certificate has no such extension (or on OOM: *oom). */
static json_t *instance_claims(X509 *cert, bool *oom)
{
	*oom = false;
	ASN1_OBJECT *oid = OBJ_txt2obj(GCE_INSTANCE_OID, 1);
	int idx = oid ? X509_get_ext_by_OBJ(cert, oid, -1) : -1;
	ASN1_OBJECT_free(oid);
	ERR_clear_error();
	if (idx < 0)
		return NULL;
	const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
	const uint8_t *d = ASN1_STRING_get0_data(os);
	size_t dn = (size_t)ASN1_STRING_length(os);
	json_t *o = decode_instance(d, dn);
	if (o != NULL) {
		if (json_object_set_new(o, "decoded", json_true()) != 0) {
			json_decref(o);
			o = NULL;
		}
	} else {
		o = json_pack("{s:b, s:o}", "decoded", 0, "der", hexstr(d, dn));
	}
	*oom = o == NULL;
	return o;
}

static vt_status cert_claims(X509 *cert, json_t **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	json_t *c = json_object();
	uint8_t fp[32];
	int64_t nb = 0, na = 0;
	if (c == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "ak_cert", "out of memory");
	SET(c, "subject", name_str(X509_get_subject_name(cert)));
	SET(c, "issuer", name_str(X509_get_issuer_name(cert)));
	const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
	SET(c, "serial", hexstr(ASN1_STRING_get0_data(serial), (size_t)ASN1_STRING_length(serial)));
	if (vt_x509_window(cert, &nb, &na)) {
		SET(c, "not_before", time_str(nb));
		SET(c, "not_after", time_str(na));
	}
	VT_GUARD(vt_x509_fingerprint_sha256(cert, fp, err));
	SET(c, "sha256", hexstr(fp, sizeof(fp)));
	*out = c;
	c = NULL;
out:
	json_decref(c);
	return rc;
}

struct verified {
	struct vt_gce_attestation *att;
	struct vt_tpm_quote quotes[VT_GCE_MAX_QUOTES];
	uint16_t sig_hash[VT_GCE_MAX_QUOTES];
	EVP_PKEY *ak;
	X509 *ak_cert;
	json_t *events; /* NULL without an event log */
};

static vt_status make_claims(const struct verified *v, json_t **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	/* json_object_set_new takes its value even when it fails: `t` hands a
	 * value over so that the cleanup below never drops it a second time */
	json_t *c = json_object(), *pcrs = NULL, *qs = NULL, *bank = NULL, *qi = NULL, *el = NULL, *unv = NULL, *t;
	char *pem = NULL;
	uint8_t *spki = NULL;
	const struct vt_gce_attestation *a = v->att;
	if (c == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	SET(c, "report_data", hexstr(v->quotes[0].extra_data, v->quotes[0].extra_data_size));

	/* the AK, as the tpm verifier shows it */
	int spki_n = i2d_PUBKEY(v->ak, &spki);
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t md_n = 0;
	if (spki_n <= 0) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "ak_digest", "cannot encode the AK");
		goto out;
	}
	VT_GUARD(vt_digest(EVP_sha256(), spki, (size_t)spki_n, md, &md_n, err));
	SET(c, "ak_digest", hexstr(md, md_n));
	pem = vt_key_public_pem(v->ak);
	SET(c, "ak_public_pem", pem ? json_string(pem) : NULL);

	json_t *cc = NULL;
	VT_GUARD(cert_claims(v->ak_cert, &cc, err));
	SET(c, "ak_cert", cc);
	bool oom;
	json_t *inst = instance_claims(v->ak_cert, &oom);
	if (oom) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "gce", "out of memory");
		goto out;
	}
	if (inst != NULL)
		SET(c, "gce", inst);

	/* PCRs per bank: pcrs.<bank>.pcrNN (the quoted PCRs only) */
	if ((pcrs = json_object()) == NULL || (qs = json_array()) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "pcrs", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < a->quote_count; i++) {
		const struct vt_tpm_pcrs *p = &a->quotes[i].pcrs;
		const struct vt_tpm_quote *q = &v->quotes[i];
		if ((bank = json_object()) == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "pcrs", "out of memory");
			goto out;
		}
		for (unsigned k = 0; k < VT_TPM_NUM_PCRS; k++) {
			if (!(p->present & (1u << k)))
				continue;
			char key[8];
			snprintf(key, sizeof(key), "pcr%02u", k);
			SET(bank, key, hexstr(p->value[k], p->digest_size));
		}
		t = bank;
		bank = NULL;
		SET(pcrs, vt_tpm_alg_name(p->hash_alg), t);
		char fw[24];
		snprintf(fw, sizeof(fw), "%016llx", (unsigned long long)q->firmware_version);
		qi = json_pack("{s:s, s:s, s:I, s:I, s:I, s:b, s:s}", "pcr_bank", vt_tpm_alg_name(p->hash_alg),
			       "signature_hash", vt_tpm_alg_name(v->sig_hash[i]) ? vt_tpm_alg_name(v->sig_hash[i]) : "",
			       "clock", (json_int_t)(q->clock & 0x7FFFFFFFFFFFFFFFull), "reset_count",
			       (json_int_t)q->reset_count, "restart_count", (json_int_t)q->restart_count, "safe", q->safe,
			       "firmware_version", fw);
		if (qi == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "quotes", "out of memory");
			goto out;
		}
		SET(qi, "qualified_signer", hexstr(q->qualified_signer, q->qualified_signer_size));
		SET(qi, "pcr_digest", hexstr(q->pcr_digest, q->pcr_digest_size));
		t = qi;
		qi = NULL;
		if (json_array_append_new(qs, t) != 0) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "quotes", "out of memory");
			goto out;
		}
	}
	t = pcrs;
	pcrs = NULL;
	SET(c, "pcrs", t);
	t = qs;
	qs = NULL;
	SET(c, "quotes", t);

	if (v->events != NULL) {
		el = vt_tcg_eventlog_summary(v->events);
		if (el == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "event_log", "out of memory");
			goto out;
		}
		SET(el, "events", json_incref(v->events));
		t = el;
		el = NULL;
		SET(c, "event_log", t);
	}

	/* fields the evidence carries that nothing here verified */
	if ((unv = json_array()) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unverified", "out of memory");
		goto out;
	}
	if ((a->has_instance_info && json_array_append_new(unv, json_string("instance_info")) != 0) ||
	    (a->has_canonical_event_log && json_array_append_new(unv, json_string("canonical_event_log")) != 0) ||
	    (a->has_tee_attestation && json_array_append_new(unv, json_string("tee_attestation")) != 0)) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unverified", "out of memory");
		goto out;
	}
	t = unv;
	unv = NULL;
	SET(c, "unverified", t);
	*out = c;
	c = NULL;
out:
	OPENSSL_free(spki);
	free(pem);
	json_decref(unv);
	json_decref(el);
	json_decref(qi);
	json_decref(bank);
	json_decref(qs);
	json_decref(pcrs);
	json_decref(c);
	return rc;
}

/* ------------------------------------------------------------ verify */

/* Prefix an error's field with "quotes[i]." */
static void quote_field(struct vt_err *err, size_t i)
{
	if (err == NULL)
		return;
	char f[sizeof(err->field)];
	snprintf(f, sizeof(f), "quotes[%zu].%.40s", i % 100u, err->field);
	memcpy(err->field, f, sizeof(f));
}

static uint32_t selection_of(const struct vt_tpm_quote *q, uint16_t alg)
{
	uint32_t m = 0;
	for (uint32_t b = 0; b < q->bank_count; b++)
		if (q->banks[b].hash_alg == alg)
			m |= q->banks[b].mask;
	return m;
}

static vt_status gce_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	uint8_t *pb = NULL;
	size_t pb_size = 0;
	struct verified *v = calloc(1, sizeof(*v));
	struct vt_gce_attestation *att = calloc(1, sizeof(*att));
	STACK_OF(X509) *ints = sk_X509_new_null();
	EVP_PKEY *cert_key = NULL;

	if (v == NULL || att == NULL || ints == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	if (ctx == NULL || evidence == NULL || claims_out == NULL) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
		goto out;
	}
	v->att = att;

	/* parse */
	VT_GUARD(decode_evidence(evidence, &pb, &pb_size, err));
	VT_GUARD(vt_gce_attestation_parse(pb, pb_size, att, err));
	VT_GUARD(ak_from_public(att->ak_pub, att->ak_pub_size, &v->ak, err));
	for (size_t i = 0; i < att->quote_count; i++) {
		rc = vt_tpm_attest_parse(att->quotes[i].quote, att->quotes[i].quote_size, &v->quotes[i], err);
		if (rc != VT_OK) {
			quote_field(err, i);
			goto out;
		}
	}
	if (att->ak_cert != NULL)
		VT_GUARD(der_cert(att->ak_cert, att->ak_cert_size, "attestation.ak_cert", &v->ak_cert, err));
	for (size_t i = 0; i < att->intermediate_count; i++) {
		X509 *c = NULL;
		VT_GUARD(der_cert(att->intermediates[i], att->intermediate_sizes[i], "attestation.intermediate_certs", &c,
				  err));
		if (!sk_X509_push(ints, c)) {
			X509_free(c);
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
			goto out;
		}
	}

	/* chain: the AK certificate to a Google root, and it certifies ak_pub */
	const char *roots = vt_verify_state(ctx, &vt_tee_gce_vtpm);
	if (roots == NULL)
		roots = ctx->gce_roots;
	if (roots == NULL || roots[0] == '\0') {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "gce_roots", "no Google roots configured (--gce-roots)");
		goto out;
	}
	if (v->ak_cert == NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "attestation.ak_cert",
			     "no AK certificate (field 6): the AK cannot be trusted");
		goto out;
	}
	VT_GUARD(verify_chain(v->ak_cert, ints, roots, ctx->now, err));
	cert_key = X509_get_pubkey(v->ak_cert);
	if (cert_key == NULL || EVP_PKEY_eq(cert_key, v->ak) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "attestation.ak_pub",
			     "the AK certificate's key is not the key of ak_pub");
		goto out;
	}

	/* every quote: signature by the AK, PCR digest over its bank's values */
	for (size_t i = 0; i < att->quote_count; i++) {
		const struct vt_gce_quote *gq = &att->quotes[i];
		rc = vt_tpm_signature_verify(v->ak, gq->quote, gq->quote_size, gq->raw_sig, gq->raw_sig_size,
					     &v->sig_hash[i], err);
		if (rc == VT_OK)
			rc = vt_tpm_quote_verify(v->ak, gq->quote, gq->quote_size, gq->raw_sig, gq->raw_sig_size, &gq->pcrs,
						 NULL, 0, &v->quotes[i], err);
		if (rc != VT_OK) {
			quote_field(err, i);
			goto out;
		}
		uint32_t sel = selection_of(&v->quotes[i], gq->pcrs.hash_alg);
		if (gq->pcrs.present != sel) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "attestation.quotes.pcrs",
				     "quote %zu (%s): PCR values given for 0x%06x, the quote covers 0x%06x", i,
				     vt_tpm_alg_name(gq->pcrs.hash_alg), (unsigned)gq->pcrs.present, (unsigned)sel);
			goto out;
		}
	}

	/* binding: one nonce in every quote, the caller's when given */
	for (size_t i = 0; i < att->quote_count; i++) {
		const struct vt_tpm_quote *q = &v->quotes[i];
		bool same = q->extra_data_size == v->quotes[0].extra_data_size &&
			    memcmp(q->extra_data, v->quotes[0].extra_data, q->extra_data_size) == 0;
		if (!same) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "attestation.quotes.extra_data",
				     "quote %zu has another extraData than quote 0", i);
			goto out;
		}
		if (binding != NULL && binding->report_data != NULL &&
		    (q->extra_data_size != binding->report_data_size ||
		     memcmp(q->extra_data, binding->report_data, q->extra_data_size) != 0)) {
			char *want = vt_hex_encode(binding->report_data,
						   binding->report_data_size < 64 ? binding->report_data_size : 64);
			char *got = vt_hex_encode(q->extra_data, q->extra_data_size);
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "attestation.quotes.extra_data",
				     "quote %zu extraData %s, expected %s", i, got ? got : "?", want ? want : "?");
			free(want);
			free(got);
			goto out;
		}
	}

	/* event log replayed to the SHA-256 bank */
	if (att->event_log != NULL) {
		size_t k = att->quote_count;
		for (size_t i = 0; i < att->quote_count; i++)
			if (att->quotes[i].pcrs.hash_alg == VT_TPM_ALG_SHA256)
				k = i;
		if (k == att->quote_count) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "attestation.event_log",
				     "an event log but no quote of the SHA-256 bank to replay it against");
			goto out;
		}
		rc = vt_tcg_eventlog_check(att->event_log, att->event_log_size, VT_TPM_ALG_SHA256,
					   (const uint8_t(*)[VT_TPM_MAX_DIGEST])att->quotes[k].pcrs.value,
					   att->quotes[k].pcrs.present, &v->events, err);
		if (rc != VT_OK) {
			if (err != NULL) {
				char f[sizeof(err->field)];
				snprintf(f, sizeof(f), "event_log.%.50s", err->field);
				memcpy(err->field, f, sizeof(f));
			}
			goto out;
		}
	}

	VT_GUARD(make_claims(v, claims_out, err));
out:
	if (v != NULL) {
		json_decref(v->events);
		EVP_PKEY_free(v->ak);
		X509_free(v->ak_cert);
	}
	EVP_PKEY_free(cert_key);
	sk_X509_pop_free(ints, X509_free);
	free(att);
	free(v);
	free(pb);
	return rc;
}

/* The evidence JSON itself, or the raw protobuf (wrapped in base64). */
static vt_status gce_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	size_t i = 0;
	while (i < size && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\r' || bytes[i] == '\n'))
		i++;
	if (i < size && bytes[i] == '{') /* a protobuf never starts so: field 15, wire type 3 (a group) */
		return vt_json_parse((const char *)bytes, size, GCE_B64_MAX + 64u, evidence_out, err);
	if (size > VT_GCE_PB_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation", "%zu bytes, at most %zu accepted", size,
			       VT_GCE_PB_MAX);
	char *b64 = vt_b64_encode(bytes, size);
	json_t *ev = b64 ? json_pack("{s:s}", "attestation", b64) : NULL;
	free(b64);
	if (ev == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "attestation", "out of memory");
	*evidence_out = ev;
	return VT_OK;
}

/* The state: the path of the trusted Google roots (read at verification). */
static vt_status gce_state_new(const struct vt_verifier *v, const json_t *o, void **state, struct vt_err *err)
{
	(void)v;
	const char *roots = vt_tee_opt_str(o, "gce_roots");
	if (roots == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_CONFIG, "gce_roots", "no Google roots configured (--gce-roots)");
	*state = strdup(roots);
	return *state ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
}

static const struct vt_tee_option gce_options[] = {
	{"gce_roots", "FILE|DIR", true,
	 "trusted Google vTPM root CA certificates (PEM/DER; non-self-signed ones serve as intermediates)"},
	{NULL, NULL, false, NULL},
};

const struct vt_tee vt_tee_gce_vtpm = {
	.name = "gce-vtpm",
	.cli_only = true,
	.flags = VT_TEE_CLI_ONLY,
	.summary = "Google Compute Engine vTPM attestation (go-tpm-tools protobuf, .pb)",
	.options = gce_options,
	.state_new = gce_state_new,
	.state_free = free,
	.verify = gce_verify,
	.load_file = gce_load_file,
};
