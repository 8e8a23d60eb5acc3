/* JOSE pieces shared by JWK, JWS and JWE: curves, member access, errors. */
#include "crypto/jose_internal.h"

/* ---------------------------------------------------------------- vt_jose_curves */

const struct vt_jose_curve vt_jose_curves[] = {
	{"P-256", "prime256v1", 32},
	{"P-384", "secp384r1", 48},
	{"P-521", "secp521r1", 66},
};

const struct vt_jose_curve *vt_jose_curve_by_crv(const char *crv)
{
	for (size_t i = 0; i < sizeof(vt_jose_curves) / sizeof(vt_jose_curves[0]); i++)
		if (strcmp(vt_jose_curves[i].crv, crv) == 0)
			return &vt_jose_curves[i];
	return NULL;
}

/* The curve of an EC key, by its group name (aliases included). */
const struct vt_jose_curve *vt_jose_curve_of_key(const EVP_PKEY *key)
{
	char name[64];
	size_t len = 0;
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return NULL;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) != 1) {
		EVP_PKEY *pub = vt_key_public_copy(key); /* a key in an HSM (veritee/crypto.h) */
		bool ok = pub != NULL && EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, name,
									sizeof(name), &len) == 1;
		EVP_PKEY_free(pub);
		if (!ok)
			return NULL;
	}
	if (strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0 || strcmp(name, "secp256r1") == 0)
		return &vt_jose_curves[0];
	if (strcmp(name, "secp384r1") == 0 || strcmp(name, "P-384") == 0)
		return &vt_jose_curves[1];
	if (strcmp(name, "secp521r1") == 0 || strcmp(name, "P-521") == 0)
		return &vt_jose_curves[2];
	return NULL;
}

/* ---------------------------------------------------------------- helpers */

vt_status vt_jose_nomem(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* Copy a failure recorded in a scratch record into the caller's record,
 * following vt_fail's "innermost cause wins" rule. */
vt_status vt_jose_forward_err(struct vt_err *err, const struct vt_err *inner)
{
	if (err != NULL && (err->code == VT_OK || err->step == VT_STEP_NONE))
		*err = *inner;
	return inner->code;
}

/* A string member of `obj` (NULL if absent or not a string). */
const char *vt_jose_str_member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* base64url-decode member `key` of a JWK; `want` = exact length or 0 for any
 * non-empty length.  Errors name "jwk.<key>". */
vt_status vt_jose_jwk_bytes(const json_t *jwk, const char *key, size_t want, uint8_t **out, size_t *out_len,
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

void vt_jose_free_wipe(uint8_t *p, size_t n)
{
	if (p != NULL) {
		vt_wipe(p, n);
		free(p);
	}
}

/* Build a key from params (selection = EVP_PKEY_PUBLIC_KEY or EVP_PKEY_KEYPAIR). */
vt_status vt_jose_key_fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection, EVP_PKEY **out, const char *field,
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
	 * group order, which proves nothing more on the prime-order vt_jose_curves
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

