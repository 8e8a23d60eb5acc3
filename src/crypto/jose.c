/*
 * JOSE: JWK <-> EVP_PKEY, JWS compact (ES256, ES384, EdDSA, RS256, PS256)
 * and JWE flattened JSON (ECDH-ES+A256KW, RSA-OAEP-256; A256GCM).
 *
 * Everything here is composition of OpenSSL 3 primitives through the
 * provider-era APIs (EVP_PKEY_fromdata, OSSL_PARAM, EVP_PKEY_get_*_param).
 * No legacy EC_KEY / RSA object is touched.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define JWE_ALG_ECDH "ECDH-ES+A256KW"
#define JWE_ALG_RSA "RSA-OAEP-256"
#define JWE_ENC "A256GCM"
#define CEK_LEN 32
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define KW_LEN (CEK_LEN + 8)
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define JOSE_HEADER_MAX (256 * 1024)
#define JWE_GENERIC "JWE decryption failed"

/* ---------------------------------------------------------------- curves */

struct curve {
	const char *crv;   /* JOSE name */
	const char *group; /* OpenSSL group name */
	size_t size;       /* coordinate / scalar size in bytes */
};

static const struct curve curves[] = {
	{"P-256", "prime256v1", 32},
	{"P-384", "secp384r1", 48},
	{"P-521", "secp521r1", 66},
};

static const struct curve *curve_by_crv(const char *crv)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].crv, crv) == 0)
			return &curves[i];
	return NULL;
}

/* The curve of an EC key, by its group name (aliases included). */
static const struct curve *curve_of_key(const EVP_PKEY *key)
{
	char name[64];
	size_t len = 0;
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return NULL;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) != 1)
		return NULL;
	if (strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0 || strcmp(name, "secp256r1") == 0)
		return &curves[0];
	if (strcmp(name, "secp384r1") == 0 || strcmp(name, "P-384") == 0)
		return &curves[1];
	if (strcmp(name, "secp521r1") == 0 || strcmp(name, "P-521") == 0)
		return &curves[2];
	return NULL;
}

/* ---------------------------------------------------------------- helpers */

static vt_status nomem(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* Copy a failure recorded in a scratch record into the caller's record,
 * following vt_fail's "innermost cause wins" rule. */
static vt_status forward_err(struct vt_err *err, const struct vt_err *inner)
{
	if (err != NULL && (err->code == VT_OK || err->step == VT_STEP_NONE))
		*err = *inner;
	return inner->code;
}

/* A string member of `obj` (NULL if absent or not a string). */
static const char *str_member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* base64url-decode member `key` of a JWK; `want` = exact length or 0 for any
 * non-empty length.  Errors name "jwk.<key>". */
static vt_status jwk_bytes(const json_t *jwk, const char *key, size_t want, uint8_t **out, size_t *out_len,
			   struct vt_err *err)
{
	char field[32];
	snprintf(field, sizeof(field), "jwk.%s", key);
	json_t *v = json_object_get(jwk, key);
	if (v == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "missing member");
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a string");
	uint8_t *b = NULL;
	size_t n = 0;
	if (vt_b64url_decode(json_string_value(v), json_string_length(v), &b, &n, NULL) != VT_OK)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "invalid base64url");
	if ((want != 0 && n != want) || n == 0) {
		vt_wipe(b, n);
		free(b);
		if (want != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "length %zu, want %zu", n, want);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "empty");
	}
	*out = b;
	*out_len = n;
	return VT_OK;
}

static void free_wipe(uint8_t *p, size_t n)
{
	if (p != NULL) {
		vt_wipe(p, n);
		free(p);
	}
}

/* Build a key from params (selection = EVP_PKEY_PUBLIC_KEY or EVP_PKEY_KEYPAIR). */
static vt_status key_fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection, EVP_PKEY **out, const char *field,
			      struct vt_err *err)
{
	vt_status rc = VT_OK;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY_CTX *chk = NULL;
	EVP_PKEY *key = NULL;
	if (params == NULL || ctx == NULL) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, field, "OpenSSL allocation failed");
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, selection, params) != 1) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "invalid key material");
		goto out;
	}
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (chk == NULL) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, field, "OpenSSL allocation failed");
		goto out;
	}
	/* The quick check covers what matters for an untrusted key: on the
	 * curve, not the point at infinity, coordinates in range (RSA: modulus
	 * and exponent sanity).  The full check adds a multiplication by the
	 * group order, which proves nothing more on the prime-order curves
	 * accepted here (cofactor 1) and cost about a tenth of the broker's time. */
	if (EVP_PKEY_public_check_quick(chk) != 1) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "public key fails validation");
		goto out;
	}
	if (selection == EVP_PKEY_KEYPAIR && (EVP_PKEY_private_check(chk) != 1 || EVP_PKEY_pairwise_check(chk) != 1)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "private key does not match public key");
		goto out;
	}
	*out = key;
	key = NULL;
out:
	if (rc != VT_OK)
		ERR_clear_error();
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	OSSL_PARAM_free(params); /* secure BNs live in a secure, cleansed block */
	return rc;
}

/* ---------------------------------------------------------------- JWK -> key */

/*
 * Public EC keys are imported by copying the curve from a parameters-only
 * template and setting the encoded point (which OpenSSL checks is on the
 * curve).  EVP_PKEY_fromdata would build the curve group from its name on
 * every call, the largest cost of a key import, and the broker imports one
 * TEE key per attestation and per resource request.
 */
#define NCURVES (sizeof(curves) / sizeof(curves[0]))
static EVP_PKEY *curve_templates[NCURVES];
static pthread_once_t curve_templates_once = PTHREAD_ONCE_INIT;

static void make_curve_templates(void)
{
	for (size_t i = 0; i < NCURVES; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx == NULL || EVP_PKEY_paramgen_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_group_name(ctx, curves[i].group) != 1 ||
		    EVP_PKEY_paramgen(ctx, &curve_templates[i]) != 1)
			curve_templates[i] = NULL; /* the slow path is used instead */
		EVP_PKEY_CTX_free(ctx);
	}
	ERR_clear_error();
}

/* NULL when the fast path is unavailable; the caller falls back. */
static EVP_PKEY *ec_public_from_point(const struct curve *c, const uint8_t *pt, size_t pt_size)
{
	pthread_once(&curve_templates_once, make_curve_templates);
	EVP_PKEY *tmpl = curve_templates[c - curves];
	if (tmpl == NULL)
		return NULL;
	EVP_PKEY *k = EVP_PKEY_new();
	if (k == NULL || EVP_PKEY_copy_parameters(k, tmpl) != 1 || EVP_PKEY_set1_encoded_public_key(k, pt, pt_size) != 1) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		return NULL;
	}
	return k;
}

static vt_status jwk_ec_to_key(const json_t *jwk, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	uint8_t *x = NULL, *y = NULL, *d = NULL, *pt = NULL;
	size_t xl = 0, yl = 0, dl = 0;
	BIGNUM *dbn = NULL;
	OSSL_PARAM_BLD *bld = NULL;

	const char *crv = str_member(jwk, "crv");
	if (crv == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "missing or not a string");
	const struct curve *c = curve_by_crv(crv);
	if (c == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "unsupported curve");
	VT_GUARD(jwk_bytes(jwk, "x", c->size, &x, &xl, err));
	VT_GUARD(jwk_bytes(jwk, "y", c->size, &y, &yl, err));
	if (priv)
		VT_GUARD(jwk_bytes(jwk, "d", c->size, &d, &dl, err));

	pt = malloc(1 + 2 * c->size);
	bld = OSSL_PARAM_BLD_new();
	if (pt == NULL || bld == NULL) {
		rc = nomem(err);
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, c->size);
	memcpy(pt + 1 + c->size, y, c->size);
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * c->size) != 1) {
		rc = nomem(err);
		goto out;
	}
	if (priv) {
		dbn = BN_secure_new();
		if (dbn == NULL || BN_bin2bn(d, (int)dl, dbn) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, dbn) != 1) {
			rc = nomem(err);
			goto out;
		}
	}
	if (!priv) {
		EVP_PKEY *k = ec_public_from_point(c, pt, 1 + 2 * c->size);
		if (k != NULL) {
			EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
			int ok = chk != NULL && EVP_PKEY_public_check_quick(chk) == 1;
			EVP_PKEY_CTX_free(chk);
			if (ok) {
				*out = k;
				goto out;
			}
			EVP_PKEY_free(k);
			ERR_clear_error();
		}
		/* not on the curve, or no fast path: fromdata decides and reports */
	}
	VT_GUARD(key_fromdata("EC", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, out, "jwk", err));
out:
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(dbn);
	free(pt);
	free(x);
	free(y);
	free_wipe(d, dl);
	return rc;
}

static vt_status bn_member(const json_t *jwk, const char *key, BIGNUM **out, bool secret, struct vt_err *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	vt_status rc = jwk_bytes(jwk, key, 0, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	if (n > RSA_MAX_BITS / 8) {
		free_wipe(b, n);
		char field[32];
		snprintf(field, sizeof(field), "jwk.%s", key);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "too long (%zu bytes)", n);
	}
	BIGNUM *bn = secret ? BN_secure_new() : BN_new();
	if (bn == NULL || BN_bin2bn(b, (int)n, bn) == NULL) {
		BN_clear_free(bn);
		free_wipe(b, n);
		return nomem(err);
	}
	free_wipe(b, n);
	*out = bn;
	return VT_OK;
}

static vt_status jwk_rsa_to_key(const json_t *jwk, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	static const char *const priv_names[] = {"d", "p", "q", "dp", "dq", "qi"};
	static const char *const priv_params[] = {OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
						  OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
						  OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
	vt_status rc = VT_OK;
	BIGNUM *n = NULL, *e = NULL, *pv[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	OSSL_PARAM_BLD *bld = NULL;

	VT_GUARD(bn_member(jwk, "n", &n, false, err));
	VT_GUARD(bn_member(jwk, "e", &e, false, err));
	int bits = BN_num_bits(n);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.n", "modulus of %d bits (allowed %d..%d)", bits,
			     RSA_MIN_BITS, RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 256) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.e", "invalid public exponent");
		goto out;
	}
	if (priv)
		for (size_t i = 0; i < 6; i++)
			VT_GUARD(bn_member(jwk, priv_names[i], &pv[i], true, err));
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		rc = nomem(err);
		goto out;
	}
	if (priv)
		for (size_t i = 0; i < 6; i++)
			if (OSSL_PARAM_BLD_push_BN(bld, priv_params[i], pv[i]) != 1) {
				rc = nomem(err);
				goto out;
			}
	VT_GUARD(key_fromdata("RSA", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, out, "jwk", err));
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	for (size_t i = 0; i < 6; i++)
		BN_clear_free(pv[i]);
	return rc;
}

static vt_status jwk_okp_to_key(const json_t *jwk, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	uint8_t *x = NULL, *d = NULL;
	size_t xl = 0, dl = 0;
	EVP_PKEY *key = NULL;

	const char *crv = str_member(jwk, "crv");
	if (crv == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "missing or not a string");
	if (strcmp(crv, "Ed25519") != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "unsupported OKP curve");
	VT_GUARD(jwk_bytes(jwk, "x", 32, &x, &xl, err));
	if (priv) {
		VT_GUARD(jwk_bytes(jwk, "d", 32, &d, &dl, err));
		key = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, d, dl);
		if (key == NULL) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.d", "invalid private key");
			goto out;
		}
		uint8_t pub[32];
		size_t pl = sizeof(pub);
		if (EVP_PKEY_get_raw_public_key(key, pub, &pl) != 1 || pl != 32 || memcmp(pub, x, 32) != 0) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk", "private key does not match public key");
			goto out;
		}
	} else {
		key = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xl);
		if (key == NULL) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.x", "invalid public key");
			goto out;
		}
	}
	*out = key;
	key = NULL;
out:
	if (rc != VT_OK)
		ERR_clear_error();
	EVP_PKEY_free(key);
	free(x);
	free_wipe(d, dl);
	return rc;
}

vt_status vt_jwk_to_key(const json_t *jwk, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwk", "no output");
	*out = NULL;
	if (!json_is_object(jwk))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk", "not a JSON object");
	const char *kty = str_member(jwk, "kty");
	if (kty == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.kty", "missing or not a string");
	if (strcmp(kty, "EC") == 0)
		return jwk_ec_to_key(jwk, priv, out, err);
	if (strcmp(kty, "RSA") == 0)
		return jwk_rsa_to_key(jwk, priv, out, err);
	if (strcmp(kty, "OKP") == 0)
		return jwk_okp_to_key(jwk, priv, out, err);
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.kty", "unsupported key type");
}

/* ---------------------------------------------------------------- key -> JWK */

/* Set obj[key] = b64url(bytes); false on OOM. */
static bool set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
	char *s = vt_b64url_encode(p, n);
	if (s == NULL)
		return false;
	json_t *v = json_string(s);
	vt_wipe(s, strlen(s));
	free(s);
	return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static bool set_str(json_t *obj, const char *key, const char *val)
{
	return json_object_set_new(obj, key, json_string(val)) == 0;
}

/* obj[key] = b64url of a BN parameter, `pad` bytes fixed or minimal when 0. */
static bool set_bn_param(json_t *obj, const char *key, EVP_PKEY *pk, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return false;
	size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
	if (n == 0)
		n = 1;
	uint8_t *b = malloc(n);
	bool ok = b != NULL && BN_bn2binpad(bn, b, (int)n) == (int)n && set_b64(obj, key, b, n);
	free_wipe(b, n);
	BN_clear_free(bn);
	return ok;
}

json_t *vt_key_to_jwk(EVP_PKEY *key, const char *alg, bool priv)
{
	if (key == NULL)
		return NULL;
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	bool ok = alg == NULL || set_str(o, "alg", alg);
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC: {
		const struct curve *c = curve_of_key(key);
		ok = ok && c != NULL && set_str(o, "crv", c->crv);
		if (priv)
			ok = ok && set_bn_param(o, "d", key, OSSL_PKEY_PARAM_PRIV_KEY, c->size);
		ok = ok && set_str(o, "kty", "EC");
		ok = ok && set_bn_param(o, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, c->size);
		ok = ok && set_bn_param(o, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, c->size);
		break;
	}
	case EVP_PKEY_RSA:
		if (priv) {
			ok = ok && set_bn_param(o, "d", key, OSSL_PKEY_PARAM_RSA_D, 0);
			ok = ok && set_bn_param(o, "dp", key, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0);
			ok = ok && set_bn_param(o, "dq", key, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0);
		}
		ok = ok && set_bn_param(o, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
		ok = ok && set_str(o, "kty", "RSA");
		ok = ok && set_bn_param(o, "n", key, OSSL_PKEY_PARAM_RSA_N, 0);
		if (priv) {
			ok = ok && set_bn_param(o, "p", key, OSSL_PKEY_PARAM_RSA_FACTOR1, 0);
			ok = ok && set_bn_param(o, "q", key, OSSL_PKEY_PARAM_RSA_FACTOR2, 0);
			ok = ok && set_bn_param(o, "qi", key, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
		}
		break;
	case EVP_PKEY_ED25519: {
		uint8_t raw[32];
		size_t rl = sizeof(raw);
		ok = ok && set_str(o, "crv", "Ed25519");
		if (priv) {
			ok = ok && EVP_PKEY_get_raw_private_key(key, raw, &rl) == 1 && rl == 32 &&
			     set_b64(o, "d", raw, rl);
			vt_wipe(raw, sizeof(raw));
			rl = sizeof(raw);
		}
		ok = ok && set_str(o, "kty", "OKP");
		ok = ok && EVP_PKEY_get_raw_public_key(key, raw, &rl) == 1 && rl == 32 && set_b64(o, "x", raw, rl);
		break;
	}
	default:
		ok = false;
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---------------------------------------------------------------- JWS */

enum sig_kind { SIG_ECDSA, SIG_EDDSA, SIG_RSA_PKCS1, SIG_RSA_PSS };

struct jws_alg {
	const char *name;
	enum sig_kind kind;
	const char *crv; /* required curve for ECDSA */
	const EVP_MD *(*md)(void);
};

static const struct jws_alg jws_algs[] = {
	{"ES256", SIG_ECDSA, "P-256", EVP_sha256},
	{"ES384", SIG_ECDSA, "P-384", EVP_sha384},
	{"EdDSA", SIG_EDDSA, NULL, NULL},
	{"RS256", SIG_RSA_PKCS1, NULL, EVP_sha256},
	{"PS256", SIG_RSA_PSS, NULL, EVP_sha256},
};

static const struct jws_alg *jws_alg_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(jws_algs) / sizeof(jws_algs[0]); i++)
		if (strcmp(jws_algs[i].name, name) == 0)
			return &jws_algs[i];
	return NULL;
}

static bool jws_alg_fits(const struct jws_alg *a, EVP_PKEY *key)
{
	const struct curve *c;
	switch (a->kind) {
	case SIG_ECDSA:
		c = curve_of_key(key);
		return c != NULL && strcmp(c->crv, a->crv) == 0;
	case SIG_EDDSA:
		return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
	case SIG_RSA_PKCS1:
	case SIG_RSA_PSS:
		return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) >= RSA_MIN_BITS;
	}
	return false;
}

/* Sign or verify with EVP_DigestSign/Verify (EdDSA and RSA). */
static int digest_sign_verify(const struct jws_alg *a, EVP_PKEY *key, bool sign, const uint8_t *msg, size_t msg_len,
			      uint8_t *sig, size_t *sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;
	if (mctx == NULL)
		return 0;
	const EVP_MD *md = a->md ? a->md() : NULL;
	int r = sign ? EVP_DigestSignInit(mctx, &pctx, md, NULL, key) : EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key);
	if (r != 1)
		goto out;
	if (a->kind == SIG_RSA_PKCS1 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (a->kind == SIG_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		goto out;
	if (sign)
		ok = EVP_DigestSign(mctx, sig, sig_len, msg, msg_len) == 1;
	else
		ok = EVP_DigestVerify(mctx, sig, *sig_len, msg, msg_len) == 1;
out:
	if (!ok)
		ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return ok;
}

vt_status vt_jws_sign(EVP_PKEY *key, const json_t *header, const uint8_t *payload, size_t payload_size, char **out,
		      struct vt_err *err)
{
	vt_status rc = VT_OK;
	char *hjson = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *res = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	if (key == NULL || out == NULL || (payload == NULL && payload_size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws", "missing argument");
	*out = NULL;
	if (!json_is_object(header))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws.header", "header is not an object");
	const char *alg = str_member(header, "alg");
	if (alg == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws.header.alg", "missing alg");
	const struct jws_alg *a = jws_alg_by_name(alg);
	if (a == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws.header.alg", "unsupported alg \"%.32s\"", alg);
	if (!jws_alg_fits(a, key))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws.header.alg", "alg %s does not fit the key", a->name);
	json_t *b64 = json_object_get(header, "b64");
	if (b64 != NULL && !json_is_true(b64))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws.header.b64", "unencoded payloads are not supported");

	hjson = vt_json_compact(header);
	if (hjson == NULL) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws.header", "header cannot be serialized");
		goto out;
	}
	h64 = vt_b64url_encode((const uint8_t *)hjson, strlen(hjson));
	p64 = vt_b64url_encode(payload, payload_size);
	if (h64 == NULL || p64 == NULL) {
		rc = nomem(err);
		goto out;
	}
	size_t hl = strlen(h64), pl = strlen(p64);
	/* signing input and result share one buffer: "h64.p64" then ".s64" */
	size_t in_len = hl + 1 + pl;
	res = malloc(in_len + 1);
	if (res == NULL) {
		rc = nomem(err);
		goto out;
	}
	memcpy(res, h64, hl);
	res[hl] = '.';
	memcpy(res + hl + 1, p64, pl);
	res[in_len] = '\0';

	if (a->kind == SIG_ECDSA) {
		sig_len = 2 * 66;
		sig = malloc(sig_len);
		if (sig == NULL) {
			rc = nomem(err);
			goto out;
		}
		VT_GUARD(vt_ecdsa_sign_raw(key, a->md(), (const uint8_t *)res, in_len, sig, &sig_len, err));
	} else {
		sig_len = (size_t)EVP_PKEY_get_size(key);
		if (sig_len == 0) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jws.signature", "key has no size");
			goto out;
		}
		sig = malloc(sig_len);
		if (sig == NULL) {
			rc = nomem(err);
			goto out;
		}
		if (!digest_sign_verify(a, key, true, (const uint8_t *)res, in_len, sig, &sig_len)) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jws.signature", "%s signing failed", a->name);
			goto out;
		}
	}
	s64 = vt_b64url_encode(sig, sig_len);
	if (s64 == NULL) {
		rc = nomem(err);
		goto out;
	}
	size_t sl = strlen(s64);
	char *grown = realloc(res, in_len + 1 + sl + 1);
	if (grown == NULL) {
		rc = nomem(err);
		goto out;
	}
	res = grown;
	res[in_len] = '.';
	memcpy(res + in_len + 1, s64, sl + 1);
	*out = res;
	res = NULL;
out:
	free(res);
	free(hjson);
	free(h64);
	free(p64);
	free(s64);
	free(sig);
	return rc;
}

/* Split a compact JWS into its three parts; strict about the part count. */
struct jws_parts {
	const char *h, *p, *s;
	size_t hl, pl, sl;
};

static vt_status jws_split(const char *jws, struct jws_parts *parts, struct vt_err *err)
{
	if (jws == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws", "no token");
	const char *d1 = strchr(jws, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL) {
		size_t dots = 0;
		for (const char *c = jws; *c; c++)
			dots += *c == '.';
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws", "%zu parts, want 3", dots + 1);
	}
	parts->h = jws;
	parts->hl = (size_t)(d1 - jws);
	parts->p = d1 + 1;
	parts->pl = (size_t)(d2 - d1 - 1);
	parts->s = d2 + 1;
	parts->sl = strlen(d2 + 1);
	if (parts->hl == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.header", "empty header");
	return VT_OK;
}

static vt_status jws_decode_header(const struct jws_parts *parts, json_t **out, struct vt_err *err)
{
	uint8_t *raw = NULL;
	size_t rl = 0;
	struct vt_err inner = {0};
	if (vt_b64url_decode(parts->h, parts->hl, &raw, &rl, NULL) != VT_OK)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.header", "invalid base64url");
	json_t *h = NULL;
	vt_status rc = vt_json_parse((const char *)raw, rl, JOSE_HEADER_MAX, &h, &inner);
	free(raw);
	if (rc != VT_OK) {
		if (rc == VT_E_LIMIT)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "jws.header", "header too large");
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.header", "invalid JSON: %s", inner.detail);
	}
	if (!json_is_object(h)) {
		json_decref(h);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.header", "not a JSON object");
	}
	*out = h;
	return VT_OK;
}

vt_status vt_jws_peek_header(const char *jws, json_t **header_out, struct vt_err *err)
{
	struct jws_parts parts;
	if (header_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws", "no output");
	*header_out = NULL;
	vt_status rc = jws_split(jws, &parts, err);
	if (rc != VT_OK)
		return rc;
	return jws_decode_header(&parts, header_out, err);
}

vt_status vt_jws_verify(const char *jws, EVP_PKEY *key, const char *const *allowed_algs, json_t **header_out,
			uint8_t **payload_out, size_t *payload_size, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct jws_parts parts;
	json_t *h = NULL;
	uint8_t *payload = NULL, *sig = NULL;
	size_t plen = 0, slen = 0;

	if (header_out)
		*header_out = NULL;
	if (payload_out)
		*payload_out = NULL;
	if (payload_size)
		*payload_size = 0;
	if (key == NULL || allowed_algs == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jws", "missing key or allowed algorithms");

	VT_GUARD(jws_split(jws, &parts, err));
	VT_GUARD(jws_decode_header(&parts, &h, err));
	json_t *algv = json_object_get(h, "alg");
	if (algv == NULL || !json_is_string(algv)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.header.alg", "missing or not a string");
		goto out;
	}
	const char *alg = json_string_value(algv);
	if (json_string_length(algv) != strlen(alg)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.header.alg", "embedded NUL");
		goto out;
	}
	/* Never "none" or HMAC, whatever the caller allows. */
	if (strcmp(alg, "none") == 0 || strncmp(alg, "HS", 2) == 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.header.alg", "alg \"%.16s\" is never accepted",
			     alg);
		goto out;
	}
	bool allowed = false;
	for (const char *const *p = allowed_algs; *p != NULL; p++)
		if (strcmp(*p, alg) == 0)
			allowed = true;
	const struct jws_alg *a = jws_alg_by_name(alg);
	if (!allowed || a == NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.header.alg", "alg \"%.32s\" is not allowed",
			     alg);
		goto out;
	}
	if (!jws_alg_fits(a, key)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.header.alg", "alg %s does not fit the key",
			     a->name);
		goto out;
	}
	/* We understand no extension: any "crit" must be rejected (RFC 7515 §4.1.11). */
	if (json_object_get(h, "crit") != NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.header.crit", "critical extensions unsupported");
		goto out;
	}
	json_t *b64 = json_object_get(h, "b64");
	if (b64 != NULL && !json_is_true(b64)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.header.b64", "unencoded payloads unsupported");
		goto out;
	}
	if (vt_b64url_decode(parts.p, parts.pl, &payload, &plen, NULL) != VT_OK) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.payload", "invalid base64url");
		goto out;
	}
	if (vt_b64url_decode(parts.s, parts.sl, &sig, &slen, NULL) != VT_OK) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jws.signature", "invalid base64url");
		goto out;
	}
	if (slen == 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.signature", "empty signature");
		goto out;
	}
	const uint8_t *msg = (const uint8_t *)jws;
	size_t msg_len = parts.hl + 1 + parts.pl;
	if (a->kind == SIG_ECDSA) {
		size_t want = 2 * vt_ec_coord_size(key);
		if (slen != want) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.signature",
				     "ECDSA signature of %zu bytes, want %zu", slen, want);
			goto out;
		}
		struct vt_err inner = {0};
		vt_status vr = vt_ecdsa_verify_raw(key, a->md(), msg, msg_len, sig, slen, &inner);
		if (vr == VT_E_REJECTED) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.signature", "%s verification failed",
				     a->name);
			goto out;
		}
		if (vr != VT_OK) {
			rc = forward_err(err, &inner);
			goto out;
		}
	} else {
		size_t want = a->kind == SIG_EDDSA ? 64 : (size_t)EVP_PKEY_get_size(key);
		if (slen != want) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.signature",
				     "%s signature of %zu bytes, want %zu", a->name, slen, want);
			goto out;
		}
		if (!digest_sign_verify(a, key, false, msg, msg_len, sig, &slen)) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "jws.signature", "%s verification failed",
				     a->name);
			goto out;
		}
	}
	if (payload_out) {
		/* documented as NUL-terminated: do not rely on the decoder for it */
		uint8_t *term = realloc(payload, plen + 1);
		if (term == NULL) {
			rc = nomem(err);
			goto out;
		}
		term[plen] = '\0';
		*payload_out = term;
		payload = NULL;
	}
	if (header_out) {
		*header_out = h;
		h = NULL;
	}
	if (payload_size)
		*payload_size = plen;
out:
	json_decref(h);
	free(payload);
	free(sig);
	return rc;
}

/* ---------------------------------------------------------------- JWE pieces */

static void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* RFC 7518 §4.6.2 Concat KDF, SHA-256, one round (keydatalen 256 bits),
 * AlgorithmID = alg, PartyUInfo = PartyVInfo = empty. */
static bool concat_kdf_a256(const uint8_t *z, size_t zl, const char *alg, uint8_t kek[32])
{
	uint8_t counter[4], alglen[4], zero[4] = {0, 0, 0, 0}, bits[4];
	size_t al = strlen(alg);
	unsigned int outl = 0;
	put_u32be(counter, 1);
	put_u32be(alglen, (uint32_t)al);
	put_u32be(bits, 256);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(c, counter, 4) == 1 && EVP_DigestUpdate(c, z, zl) == 1 &&
		  EVP_DigestUpdate(c, alglen, 4) == 1 && EVP_DigestUpdate(c, alg, al) == 1 &&
		  EVP_DigestUpdate(c, zero, 4) == 1 && EVP_DigestUpdate(c, zero, 4) == 1 &&
		  EVP_DigestUpdate(c, bits, 4) == 1 && EVP_DigestFinal_ex(c, kek, &outl) == 1 && outl == 32;
	EVP_MD_CTX_free(c); /* cleanses the digest state */
	if (!ok)
		vt_wipe(kek, 32);
	return ok;
}

/* ECDH shared secret (x-coordinate) between `priv` and `peer`. */
static bool ecdh_derive(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t *z, size_t zcap, size_t *zl)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t len = 0;
	bool ok = c != NULL && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer_ex(c, peer, 1) == 1 &&
		  EVP_PKEY_derive(c, NULL, &len) == 1 && len <= zcap && EVP_PKEY_derive(c, z, &len) == 1;
	EVP_PKEY_CTX_free(c);
	if (!ok) {
		vt_wipe(z, zcap);
		return false;
	}
	*zl = len;
	return true;
}

/* AES-256 key wrap (RFC 3394) of a 32-byte key; `out` 40 bytes. */
static bool aes_kw(bool wrap, const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = false;
	if (c == NULL)
		return false;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL, wrap ? 1 : 0) != 1)
		goto out;
	if (EVP_CipherUpdate(c, out, &l1, in, (int)in_len) != 1 || l1 <= 0)
		goto out;
	if (EVP_CipherFinal_ex(c, out + l1, &l2) != 1)
		goto out;
	*out_len = (size_t)l1 + (size_t)l2;
	ok = true;
out:
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* AES-256-GCM over (possibly > INT_MAX) data, in chunks. */
static bool gcm_update(EVP_CIPHER_CTX *c, const uint8_t *in, size_t n, uint8_t *out)
{
	const size_t chunk = (size_t)1 << 30;
	while (n > 0) {
		size_t k = n < chunk ? n : chunk;
		int ol = 0;
		if (EVP_CipherUpdate(c, out, &ol, in, (int)k) != 1 || (size_t)ol != k)
			return false;
		in += k;
		out += k;
		n -= k;
	}
	return true;
}

static bool gcm(bool enc, const uint8_t key[32], const uint8_t iv[GCM_IV_LEN], const char *aad, const uint8_t *in,
		size_t n, uint8_t *out, uint8_t tag[GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	bool ok = false;
	int ol = 0;
	if (c == NULL)
		return false;
	size_t al = strlen(aad);
	if (al > INT_MAX)
		goto out;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc ? 1 : 0) != 1)
		goto out;
	if (EVP_CipherUpdate(c, NULL, &ol, (const uint8_t *)aad, (int)al) != 1)
		goto out;
	if (!gcm_update(c, in, n, out))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + n, &ol) != 1 || ol != 0)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) != 1)
		goto out;
	ok = true;
out:
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* RSA-OAEP (SHA-256, MGF1-SHA-256, empty label). */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *key, bool enc)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (c == NULL)
		return NULL;
	if ((enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) != 1) {
		EVP_PKEY_CTX_free(c);
		return NULL;
	}
	return c;
}

/* ---------------------------------------------------------------- JWE encrypt */

static vt_status jwe_set_b64(json_t *o, const char *key, const uint8_t *p, size_t n, struct vt_err *err)
{
	return set_b64(o, key, p, n) ? VT_OK : nomem(err);
}

vt_status vt_jwe_encrypt(EVP_PKEY *recipient, const char *alg, const uint8_t *plaintext, size_t plaintext_size,
			 json_t **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct vt_secret *cek = NULL;
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *rctx = NULL;
	json_t *epk = NULL, *res = NULL;
	char *hdr = NULL, *prot = NULL;
	uint8_t *ek = NULL, *ct = NULL;
	size_t ek_len = 0;
	uint8_t iv[GCM_IV_LEN], tag[GCM_TAG_LEN];
	uint8_t z[66], kek[32];
	size_t zl = 0;

	if (recipient == NULL || alg == NULL || out == NULL || (plaintext == NULL && plaintext_size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwe", "missing argument");
	*out = NULL;
	bool ecdh = strcmp(alg, JWE_ALG_ECDH) == 0;
	bool oaep = strcmp(alg, JWE_ALG_RSA) == 0;
	if (!ecdh && !oaep)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwe.alg", "unsupported alg \"%.32s\"", alg);
	const struct curve *c = ecdh ? curve_of_key(recipient) : NULL;
	if (ecdh && c == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwe.alg", "%s needs an EC P-256/384/521 key", alg);
	if (oaep && (EVP_PKEY_get_base_id(recipient) != EVP_PKEY_RSA || EVP_PKEY_get_bits(recipient) < RSA_MIN_BITS))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwe.alg", "%s needs an RSA key of >= %d bits", alg,
			       RSA_MIN_BITS);
	if (plaintext_size > SIZE_MAX - GCM_TAG_LEN)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "jwe", "plaintext too large");

	cek = vt_secret_random(CEK_LEN);
	if (cek == NULL) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe", "random CEK generation failed");
		goto out;
	}
	VT_GUARD(vt_random(iv, sizeof(iv), err));

	if (ecdh) {
		eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->group);
		if (eph == NULL) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.epk", "ephemeral key generation failed");
			goto out;
		}
		if (!ecdh_derive(eph, recipient, z, sizeof(z), &zl) || zl != c->size) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe", "ECDH failed");
			goto out;
		}
		bool kdf_ok = concat_kdf_a256(z, zl, JWE_ALG_ECDH, kek);
		vt_wipe(z, sizeof(z));
		if (!kdf_ok) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe", "key derivation failed");
			goto out;
		}
		ek = malloc(KW_LEN + 16);
		if (ek == NULL) {
			rc = nomem(err);
			goto out;
		}
		bool kw_ok = aes_kw(true, kek, cek->data, cek->len, ek, &ek_len) && ek_len == KW_LEN;
		if (!kw_ok) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.encrypted_key", "AES key wrap failed");
			goto out;
		}
		epk = vt_key_to_jwk(eph, NULL, false);
		if (epk == NULL) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.epk", "cannot export ephemeral key");
			goto out;
		}
		const char *ex = str_member(epk, "x"), *ey = str_member(epk, "y");
		if (ex == NULL || ey == NULL || asprintf(&hdr,
							 "{\"alg\":\"" JWE_ALG_ECDH "\",\"enc\":\"" JWE_ENC
							 "\",\"epk\":{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\","
							 "\"y\":\"%s\"}}",
							 c->crv, ex, ey) < 0) {
			hdr = NULL;
			rc = nomem(err);
			goto out;
		}
	} else {
		rctx = oaep_ctx(recipient, true);
		if (rctx == NULL || EVP_PKEY_encrypt(rctx, NULL, &ek_len, cek->data, cek->len) != 1) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.encrypted_key", "RSA-OAEP setup failed");
			goto out;
		}
		ek = malloc(ek_len);
		if (ek == NULL) {
			rc = nomem(err);
			goto out;
		}
		if (EVP_PKEY_encrypt(rctx, ek, &ek_len, cek->data, cek->len) != 1) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.encrypted_key", "RSA-OAEP failed");
			goto out;
		}
		hdr = strdup("{\"alg\":\"" JWE_ALG_RSA "\",\"enc\":\"" JWE_ENC "\"}");
		if (hdr == NULL) {
			rc = nomem(err);
			goto out;
		}
	}

	prot = vt_b64url_encode((const uint8_t *)hdr, strlen(hdr));
	ct = malloc(plaintext_size + GCM_TAG_LEN);
	if (prot == NULL || ct == NULL) {
		rc = nomem(err);
		goto out;
	}
	if (!gcm(true, cek->data, iv, prot, plaintext, plaintext_size, ct, tag)) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.ciphertext", "AES-GCM encryption failed");
		goto out;
	}
	res = json_object();
	if (res == NULL || json_object_set_new(res, "protected", json_string(prot)) != 0) {
		rc = nomem(err);
		goto out;
	}
	VT_GUARD(jwe_set_b64(res, "encrypted_key", ek, ek_len, err));
	VT_GUARD(jwe_set_b64(res, "iv", iv, sizeof(iv), err));
	VT_GUARD(jwe_set_b64(res, "ciphertext", ct, plaintext_size, err));
	VT_GUARD(jwe_set_b64(res, "tag", tag, sizeof(tag), err));
	*out = res;
	res = NULL;
out:
	if (rc != VT_OK)
		ERR_clear_error();
	vt_wipe(z, sizeof(z));
	vt_wipe(kek, sizeof(kek));
	vt_secret_free(cek);
	free(ct);
	free(ek);
	free(hdr);
	free(prot);
	json_decref(epk);
	json_decref(res);
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(rctx);
	return rc;
}

/* ---------------------------------------------------------------- JWE decrypt */

/* Every decryption failure looks the same to the caller (no oracle); only
 * structural problems with public members name the member. */
static vt_status jwe_reject(struct vt_err *err, const char *field)
{
	return vt_fail(err, VT_E_REJECTED, VT_STEP_CRYPTO, field, JWE_GENERIC);
}

static vt_status jwe_member(const json_t *jwe, const char *key, size_t want, uint8_t **out, size_t *out_len,
			    struct vt_err *err)
{
	char field[32];
	snprintf(field, sizeof(field), "jwe.%s", key);
	json_t *v = json_object_get(jwe, key);
	if (!json_is_string(v))
		return jwe_reject(err, field);
	uint8_t *b = NULL;
	size_t n = 0;
	if (vt_b64url_decode(json_string_value(v), json_string_length(v), &b, &n, NULL) != VT_OK)
		return jwe_reject(err, field);
	if (want != 0 && n != want) {
		free(b);
		return jwe_reject(err, field);
	}
	*out = b;
	*out_len = n;
	return VT_OK;
}

vt_status vt_jwe_decrypt(EVP_PKEY *recipient, const json_t *jwe, struct vt_secret **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	json_t *hdr = NULL;
	EVP_PKEY *epk = NULL;
	EVP_PKEY_CTX *rctx = NULL;
	uint8_t *hraw = NULL, *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL;
	size_t hl = 0, ekl = 0, ivl = 0, ctl = 0, tagl = 0;
	struct vt_secret *cek = NULL, *pt = NULL;
	uint8_t z[66], kek[32];
	size_t zl = 0;
	bool unwrap_ok = false;

	vt_wipe(z, sizeof(z));
	vt_wipe(kek, sizeof(kek));
	if (out == NULL || recipient == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwe", "missing argument");
	*out = NULL;
	if (!json_is_object(jwe))
		return jwe_reject(err, "jwe");
	/* Only the flattened form with a protected header and no JWE AAD. */
	if (json_object_get(jwe, "aad") != NULL || json_object_get(jwe, "recipients") != NULL) {
		rc = jwe_reject(err, "jwe");
		goto out;
	}
	/* Unprotected headers (shared "unprotected", per-recipient "header") may
	 * only carry "epk" (jwcrypto puts it there) and "kid"; everything that
	 * steers decryption must be in the protected header. */
	json_t *epk_unprot = NULL;
	const char *unprot[] = {"unprotected", "header"};
	for (size_t i = 0; i < 2; i++) {
		json_t *u = json_object_get(jwe, unprot[i]);
		if (u == NULL)
			continue;
		if (!json_is_object(u)) {
			rc = jwe_reject(err, "jwe.header");
			goto out;
		}
		const char *name;
		json_t *val;
		json_object_foreach(u, name, val)
		{
			if (strcmp(name, "epk") == 0 && epk_unprot == NULL) {
				epk_unprot = val;
			} else if (strcmp(name, "kid") != 0 || !json_is_string(val)) {
				rc = jwe_reject(err, "jwe.header");
				goto out;
			}
		}
	}

	json_t *pv = json_object_get(jwe, "protected");
	if (!json_is_string(pv) || json_string_length(pv) != strlen(json_string_value(pv))) {
		rc = jwe_reject(err, "jwe.protected");
		goto out;
	}
	const char *prot = json_string_value(pv);
	VT_GUARD(jwe_member(jwe, "protected", 0, &hraw, &hl, err));
	if (vt_json_parse((const char *)hraw, hl, JOSE_HEADER_MAX, &hdr, NULL) != VT_OK || !json_is_object(hdr)) {
		rc = jwe_reject(err, "jwe.protected");
		goto out;
	}
	const char *alg = str_member(hdr, "alg"), *enc = str_member(hdr, "enc");
	/* zip, crit, apu/apv (non-empty PartyU/VInfo) are not supported; header
	 * parameter names must be disjoint across header locations. */
	if (alg == NULL || enc == NULL || strcmp(enc, JWE_ENC) != 0 || json_object_get(hdr, "zip") != NULL ||
	    json_object_get(hdr, "crit") != NULL || json_object_get(hdr, "apu") != NULL ||
	    json_object_get(hdr, "apv") != NULL || (epk_unprot != NULL && json_object_get(hdr, "epk") != NULL) ||
	    (json_object_get(hdr, "kid") != NULL && (json_object_get(json_object_get(jwe, "header"), "kid") != NULL ||
						       json_object_get(json_object_get(jwe, "unprotected"), "kid") != NULL))) {
		rc = jwe_reject(err, "jwe.protected");
		goto out;
	}
	bool ecdh = strcmp(alg, JWE_ALG_ECDH) == 0, oaep = strcmp(alg, JWE_ALG_RSA) == 0;
	const struct curve *c = ecdh ? curve_of_key(recipient) : NULL;
	if ((!ecdh && !oaep) || (ecdh && c == NULL) || (oaep && EVP_PKEY_get_base_id(recipient) != EVP_PKEY_RSA) ||
	    (oaep && (epk_unprot != NULL || json_object_get(hdr, "epk") != NULL))) {
		rc = jwe_reject(err, "jwe.protected");
		goto out;
	}
	VT_GUARD(jwe_member(jwe, "encrypted_key", ecdh ? KW_LEN : (size_t)EVP_PKEY_get_size(recipient), &ek, &ekl, err));
	VT_GUARD(jwe_member(jwe, "iv", GCM_IV_LEN, &iv, &ivl, err));
	VT_GUARD(jwe_member(jwe, "tag", GCM_TAG_LEN, &tag, &tagl, err));
	VT_GUARD(jwe_member(jwe, "ciphertext", 0, &ct, &ctl, err));

	cek = vt_secret_new(CEK_LEN);
	pt = vt_secret_new(ctl);
	if (cek == NULL || pt == NULL) {
		rc = nomem(err);
		goto out;
	}

	if (ecdh) {
		json_t *epkj = epk_unprot != NULL ? epk_unprot : json_object_get(hdr, "epk");
		const char *ekty = str_member(epkj, "kty"), *ecrv = str_member(epkj, "crv");
		if (!json_is_object(epkj) || ekty == NULL || strcmp(ekty, "EC") != 0 || ecrv == NULL ||
		    strcmp(ecrv, c->crv) != 0 || vt_jwk_to_key(epkj, false, &epk, NULL) != VT_OK) {
			rc = jwe_reject(err, "jwe.protected");
			goto out;
		}
		if (ecdh_derive(recipient, epk, z, sizeof(z), &zl) && zl == c->size &&
		    concat_kdf_a256(z, zl, JWE_ALG_ECDH, kek)) {
			size_t ol = 0;
			uint8_t unwrapped[KW_LEN];
			unwrap_ok = aes_kw(false, kek, ek, ekl, unwrapped, &ol) && ol == CEK_LEN;
			if (unwrap_ok)
				memcpy(cek->data, unwrapped, CEK_LEN);
			vt_wipe(unwrapped, sizeof(unwrapped));
		}
		vt_wipe(z, sizeof(z));
		vt_wipe(kek, sizeof(kek));
	} else {
		size_t ol = (size_t)EVP_PKEY_get_size(recipient);
		uint8_t *buf = malloc(ol);
		if (buf == NULL) {
			rc = nomem(err);
			goto out;
		}
		rctx = oaep_ctx(recipient, false);
		unwrap_ok = rctx != NULL && EVP_PKEY_decrypt(rctx, buf, &ol, ek, ekl) == 1 && ol == CEK_LEN;
		if (unwrap_ok)
			memcpy(cek->data, buf, CEK_LEN);
		free_wipe(buf, (size_t)EVP_PKEY_get_size(recipient));
	}
	/* On a failed unwrap continue with a random CEK (RFC 7516 §11.5) so the
	 * failure surfaces at the same place as a bad tag. */
	if (!unwrap_ok && vt_random(cek->data, CEK_LEN, NULL) != VT_OK)
		vt_wipe(cek->data, CEK_LEN);
	/* pt->data has len + 1 bytes, so GCM's zero-length final write fits.
	 * On failure the unauthenticated output is wiped by vt_secret_free. */
	if (gcm(false, cek->data, iv, prot, ct, ctl, pt->data, tag) && unwrap_ok) {
		*out = pt;
		pt = NULL;
	} else {
		rc = jwe_reject(err, "jwe");
	}
out:
	if (rc != VT_OK)
		ERR_clear_error();
	vt_wipe(z, sizeof(z));
	vt_wipe(kek, sizeof(kek));
	vt_secret_free(cek);
	vt_secret_free(pt);
	json_decref(hdr);
	EVP_PKEY_free(epk);
	EVP_PKEY_CTX_free(rctx);
	free(hraw);
	free(ek);
	free(iv);
	free(ct);
	free(tag);
	return rc;
}
