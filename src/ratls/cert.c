/*
 * RA-TLS certificates: finding the evidence extension of a certificate
 * (walking its extensions with OpenSSL, never scanning bytes), and making
 * a self-signed certificate whose extension binds its own key.
 *
 * Extension OIDs are compared on the OBJECT IDENTIFIER's content bytes,
 * because Gramine writes its legacy quote OID with the tag and length of
 * the OID inside the content (06 09 2a 86 48 86 f8 4d 8a 39 06, which
 * decodes as 0.6.9.42.840.113741.1337.6).
 */
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ratls/ratls_internal.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/util.h"

/* OID content bytes. */
static const uint8_t OID_TCG_DICE[] = {0x67, 0x81, 0x05, 0x05, 0x04, 0x09};		    /* 2.23.133.5.4.9 */
static const uint8_t OID_CMW[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x23};	    /* 1.3.6.1.5.5.7.1.35 */
static const uint8_t OID_LEGACY[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x8a, 0x39, 0x06}; /* 1.2.840.113741.1337.6 */
static const uint8_t OID_LEGACY_GRAMINE[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x8a, 0x39, 0x06};
static const uint8_t OID_SGXSDK[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01}; /* 1.2.840.113741.1.13.1 */

enum kind { K_TCG, K_CMW, K_LEGACY, K_SGXSDK, K_COUNT };
static const char *const kind_names[K_COUNT] = {"tcg-dice " VT_RATLS_OID_TCG_DICE, "cmw " VT_RATLS_OID_CMW,
						"legacy-quote " VT_RATLS_OID_LEGACY_QUOTE,
						"sgxsdk-legacy " VT_RATLS_OID_SGXSDK_QUOTE};

static bool oid_is(const ASN1_OBJECT *obj, const uint8_t *want, size_t n)
{
	const unsigned char *d = OBJ_get0_data(obj);
	return d != NULL && OBJ_length(obj) == n && memcmp(d, want, n) == 0;
}

static int ext_kind(const ASN1_OBJECT *obj)
{
	if (oid_is(obj, OID_TCG_DICE, sizeof(OID_TCG_DICE)))
		return K_TCG;
	if (oid_is(obj, OID_CMW, sizeof(OID_CMW)))
		return K_CMW;
	if (oid_is(obj, OID_LEGACY, sizeof(OID_LEGACY)) || oid_is(obj, OID_LEGACY_GRAMINE, sizeof(OID_LEGACY_GRAMINE)))
		return K_LEGACY;
	if (oid_is(obj, OID_SGXSDK, sizeof(OID_SGXSDK)))
		return K_SGXSDK;
	return -1;
}

/* A raw quote extension (legacy formats). */
static vt_status legacy_parse(const uint8_t *v, size_t n, enum vt_ratls_format format, struct vt_ratls_evidence *out,
			      struct vt_err *err)
{
	if (n > VT_RATLS_MAX_EXTENSION)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "legacy-quote", "extension of %zu bytes, at most %zu", n,
			       VT_RATLS_MAX_EXTENSION);
	const char *tee = NULL;
	vt_status rc = vtx_ratls_quote_tee(v, n, "legacy-quote", &tee, err);
	if (rc != VT_OK)
		return rc;
	snprintf(out->tee, sizeof(out->tee), "%s", tee);
	out->format = format;
	out->oid = format == VT_RATLS_FORMAT_SGXSDK_LEGACY ? VT_RATLS_OID_SGXSDK_QUOTE : VT_RATLS_OID_LEGACY_QUOTE;
	out->evidence = vtx_ratls_dup(v, n);
	out->evidence_size = n;
	return out->evidence ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

vt_status vt_ratls_evidence_from_cert(X509 *cert, struct vt_ratls_evidence *out, struct vt_err *err)
{
	if (cert == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	X509_EXTENSION *found[K_COUNT] = {NULL};
	int count = X509_get_ext_count(cert);
	for (int i = 0; i < count; i++) {
		X509_EXTENSION *ext = X509_get_ext(cert, i);
		int k = ext ? ext_kind(X509_EXTENSION_get_object(ext)) : -1;
		if (k < 0)
			continue;
		if (found[k] != NULL)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "extensions", "the %s extension appears twice",
				       kind_names[k]);
		found[k] = ext;
	}
	int use = -1;
	for (int k = 0; k < K_COUNT && use < 0; k++)
		if (found[k] != NULL)
			use = k;
	if (use < 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "extensions",
			       "no RA-TLS evidence extension (" VT_RATLS_OID_TCG_DICE ", " VT_RATLS_OID_CMW
			       ", or a legacy quote OID)");
	const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(found[use]);
	const uint8_t *v = ASN1_STRING_get0_data(val);
	size_t n = (size_t)ASN1_STRING_length(val);
	vt_status rc;
	switch (use) {
	case K_TCG: rc = vt_ratls_tcg_parse(v, n, out, err); break;
	case K_CMW: rc = vt_ratls_cmw_parse(v, n, out, err); break;
	case K_LEGACY: rc = legacy_parse(v, n, VT_RATLS_FORMAT_LEGACY_QUOTE, out, err); break;
	default: rc = legacy_parse(v, n, VT_RATLS_FORMAT_SGXSDK_LEGACY, out, err); break;
	}
	if (rc != VT_OK) {
		vt_ratls_evidence_free(out);
		return rc;
	}
	out->critical = X509_EXTENSION_get_critical(found[use]) == 1;
	size_t w = 0;
	for (int k = 0; k < K_COUNT; k++) {
		if (k == use || found[k] == NULL)
			continue;
		int m = snprintf(out->others + w, sizeof(out->others) - w, "%s%s", w ? ", " : "", kind_names[k]);
		if (m > 0 && (size_t)m < sizeof(out->others) - w)
			w += (size_t)m;
	}
	return VT_OK;
}

vt_status vt_ratls_spki_der(X509 *cert, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	*out = NULL;
	*out_size = 0;
	unsigned char *der = NULL;
	int n = cert ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
	if (n <= 0)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "spki", "cannot encode the SubjectPublicKeyInfo");
	*out = vtx_ratls_dup(der, (size_t)n);
	*out_size = (size_t)n;
	OPENSSL_free(der);
	return *out ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* ------------------------------------------------------------------ making */

static vt_status add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct vt_err *err)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok ? VT_OK : vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "certificate", "cannot add extension %s", value);
}

static vt_status add_evidence_ext(X509 *x, const char *oid, const uint8_t *v, size_t n, struct vt_err *err)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e = NULL;
	int ok = obj != NULL && os != NULL && n <= (size_t)INT32_MAX && ASN1_OCTET_STRING_set(os, v, (int)n) == 1 &&
		 (e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0 /* not critical (CCC) */, os)) != NULL &&
		 X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ok ? VT_OK
		  : vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "certificate", "cannot add the %s extension", oid);
}

/* The evidence extension for `tee`: TCG DICE for a DCAP quote, CMW otherwise. */
static vt_status evidence_ext(const char *tee, const json_t *ev, const uint8_t *claims, size_t claims_size,
			      const char **oid, uint8_t **v, size_t *n, struct vt_err *err)
{
	if (strcmp(tee, "sgx") == 0 || strcmp(tee, "tdx") == 0) {
		const char *b64 = json_string_value(json_object_get(ev, "quote"));
		uint8_t *quote = NULL;
		size_t quote_size = 0;
		if (b64 == NULL)
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "evidence.quote", "%s evidence without a quote",
				       tee);
		vt_status rc = vt_b64_decode(b64, strlen(b64), &quote, &quote_size, err);
		if (rc == VT_OK)
			rc = vt_ratls_tcg_build(quote, quote_size, claims, claims_size, v, n, err);
		free(quote);
		*oid = VT_RATLS_OID_TCG_DICE;
		return rc;
	}
	char *text = vt_json_compact(ev);
	if (text == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_status rc = vt_ratls_cmw_build(tee, text, claims, claims_size, v, n, err);
	free(text);
	*oid = VT_RATLS_OID_CMW;
	return rc;
}

static const EVP_MD *sign_md(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448: return NULL; /* pure EdDSA */
	case EVP_PKEY_EC: {
		size_t c = vt_ec_coord_size(key);
		return c >= 66 ? EVP_sha512() : c >= 48 ? EVP_sha384() : EVP_sha256();
	}
	default: return EVP_sha256();
	}
}

vt_status vt_ratls_cert_build(EVP_PKEY *key, const struct vt_ratls_cert_opts *o, vt_ratls_attest_fn attest,
			      void *attest_ctx, X509 **out, struct vt_err *err)
{
	if (key == NULL || o == NULL || o->tee == NULL || attest == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*out = NULL;
	vt_status rc = VT_OK;
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	uint8_t *spki = NULL, *claims = NULL, *ext = NULL;
	size_t spki_size = 0, claims_size = 0, ext_size = 0;
	json_t *ev = NULL;
	const char *oid = NULL;
	if (x == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	int64_t nb = o->not_before ? o->not_before : vt_now() - 60;
	int64_t na = o->not_after ? o->not_after : nb + 86400;
	if (na <= nb) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "not_after", "notAfter must be after notBefore");
		goto out;
	}
	uint8_t serial[16];
	VT_GUARD(vt_random(serial, sizeof(serial), err));
	serial[0] &= 0x7f; /* a positive INTEGER */
	const char *cn = o->common_name ? o->common_name : "veritee RA-TLS";
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_set_version(x, X509_VERSION_3) != 1 || (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"veritee", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL || X509_set_pubkey(x, key) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "certificate", "cannot fill in the certificate");
		goto out;
	}
	/* claims-buffer -> report data -> the TEE's evidence */
	VT_GUARD(vt_ratls_spki_der(x, &spki, &spki_size, err));
	VT_GUARD(vt_ratls_claims_build(spki, spki_size, o->pubkey_hash_alg, o->nonce, o->nonce ? o->nonce_size : 0,
				       &claims, &claims_size, err));
	uint8_t rd[64] = {0};
	VT_GUARD(vt_sha256(claims, claims_size, rd, err));
	VT_GUARD(attest(attest_ctx, o->tee, rd, &ev, err));
	VT_GUARD(evidence_ext(o->tee, ev, claims, claims_size, &oid, &ext, &ext_size, err));

	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
	VT_GUARD(add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err));
	VT_GUARD(add_conf_ext(x, &ctx, NID_key_usage,
			      rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature", err));
	VT_GUARD(add_conf_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth", err));
	VT_GUARD(add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash", err));
	VT_GUARD(add_evidence_ext(x, oid, ext, ext_size, err));
	if (X509_sign(x, key, sign_md(key)) <= 0) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "certificate", "cannot sign the certificate");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	BN_free(bn);
	free(spki);
	free(claims);
	free(ext);
	json_decref(ev);
	return rc;
}
