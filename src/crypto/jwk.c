/* JWK <-> EVP_PKEY (EC P-256/384/521, RSA, Ed25519) on OpenSSL 3's
 * provider APIs; no legacy EC_KEY / RSA object is touched. */
#include "crypto/jose_internal.h"

/* ---------------------------------------------------------------- JWK -> key */

/*
 * Public EC keys are imported by copying the curve from a parameters-only
 * template and setting the encoded point (which OpenSSL checks is on the
 * curve).  EVP_PKEY_fromdata would build the curve group from its name on
 * every call, the largest cost of a key import, and the broker imports one
 * TEE key per attestation and per resource request.
 */
#define NCURVES VT_JOSE_NCURVES
static EVP_PKEY *curve_templates[NCURVES];
static pthread_once_t curve_templates_once = PTHREAD_ONCE_INIT;

static void make_curve_templates(void)
{
	for (size_t i = 0; i < NCURVES; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx == NULL || EVP_PKEY_paramgen_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_group_name(ctx, vt_jose_curves[i].group) != 1 ||
		    EVP_PKEY_paramgen(ctx, &curve_templates[i]) != 1)
			curve_templates[i] = NULL; /* the slow path is used instead */
		EVP_PKEY_CTX_free(ctx);
	}
	ERR_clear_error();
}

/* NULL when the fast path is unavailable; the caller falls back. */
static EVP_PKEY *ec_public_from_point(const struct vt_jose_curve *c, const uint8_t *pt, size_t pt_size)
{
	pthread_once(&curve_templates_once, make_curve_templates);
	EVP_PKEY *tmpl = curve_templates[c - vt_jose_curves];
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

	const char *crv = vt_jose_str_member(jwk, "crv");
	if (crv == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "missing or not a string");
	const struct vt_jose_curve *c = vt_jose_curve_by_crv(crv);
	if (c == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "unsupported curve");
	VT_GUARD(vt_jose_jwk_bytes(jwk, "x", c->size, &x, &xl, err));
	VT_GUARD(vt_jose_jwk_bytes(jwk, "y", c->size, &y, &yl, err));
	if (priv)
		VT_GUARD(vt_jose_jwk_bytes(jwk, "d", c->size, &d, &dl, err));

	pt = malloc(1 + 2 * c->size);
	bld = OSSL_PARAM_BLD_new();
	if (pt == NULL || bld == NULL) {
		rc = vt_jose_nomem(err);
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, c->size);
	memcpy(pt + 1 + c->size, y, c->size);
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * c->size) != 1) {
		rc = vt_jose_nomem(err);
		goto out;
	}
	if (priv) {
		dbn = BN_secure_new();
		if (dbn == NULL || BN_bin2bn(d, (int)dl, dbn) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, dbn) != 1) {
			rc = vt_jose_nomem(err);
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
	VT_GUARD(vt_jose_key_fromdata("EC", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, out, "jwk", err));
out:
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(dbn);
	free(pt);
	free(x);
	free(y);
	vt_jose_free_wipe(d, dl);
	return rc;
}

static vt_status bn_member(const json_t *jwk, const char *key, BIGNUM **out, bool secret, struct vt_err *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	vt_status rc = vt_jose_jwk_bytes(jwk, key, 0, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	if (n > RSA_MAX_BITS / 8) {
		vt_jose_free_wipe(b, n);
		char field[32];
		snprintf(field, sizeof(field), "jwk.%s", key);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "too long (%zu bytes)", n);
	}
	BIGNUM *bn = secret ? BN_secure_new() : BN_new();
	if (bn == NULL || BN_bin2bn(b, (int)n, bn) == NULL) {
		BN_clear_free(bn);
		vt_jose_free_wipe(b, n);
		return vt_jose_nomem(err);
	}
	vt_jose_free_wipe(b, n);
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
		rc = vt_jose_nomem(err);
		goto out;
	}
	if (priv)
		for (size_t i = 0; i < 6; i++)
			if (OSSL_PARAM_BLD_push_BN(bld, priv_params[i], pv[i]) != 1) {
				rc = vt_jose_nomem(err);
				goto out;
			}
	VT_GUARD(vt_jose_key_fromdata("RSA", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, out, "jwk", err));
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

	const char *crv = vt_jose_str_member(jwk, "crv");
	if (crv == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "missing or not a string");
	if (strcmp(crv, "Ed25519") != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk.crv", "unsupported OKP curve");
	VT_GUARD(vt_jose_jwk_bytes(jwk, "x", 32, &x, &xl, err));
	if (priv) {
		VT_GUARD(vt_jose_jwk_bytes(jwk, "d", 32, &d, &dl, err));
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
	vt_jose_free_wipe(d, dl);
	return rc;
}

vt_status vt_jwk_to_key(const json_t *jwk, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "jwk", "no output");
	*out = NULL;
	if (!json_is_object(jwk))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwk", "not a JSON object");
	const char *kty = vt_jose_str_member(jwk, "kty");
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
bool vt_jose_set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n)
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
	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1) {
		EVP_PKEY *pub = vt_key_public_copy(pk); /* a key in an HSM: its public parameters */
		bool got = pub != NULL && EVP_PKEY_get_bn_param(pub, param, &bn) == 1;
		EVP_PKEY_free(pub);
		if (!got)
			return false;
	}
	size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
	if (n == 0)
		n = 1;
	uint8_t *b = malloc(n);
	bool ok = b != NULL && BN_bn2binpad(bn, b, (int)n) == (int)n && vt_jose_set_b64(obj, key, b, n);
	vt_jose_free_wipe(b, n);
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
		const struct vt_jose_curve *c = vt_jose_curve_of_key(key);
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
			     vt_jose_set_b64(o, "d", raw, rl);
			vt_wipe(raw, sizeof(raw));
			rl = sizeof(raw);
		}
		ok = ok && set_str(o, "kty", "OKP");
		ok = ok && EVP_PKEY_get_raw_public_key(key, raw, &rl) == 1 && rl == 32 && vt_jose_set_b64(o, "x", raw, rl);
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


char *vt_jwk_thumbprint(const json_t *jwk)
{
	json_t *req = json_pack("{s:O, s:O, s:O, s:O}", "crv", json_object_get(jwk, "crv"), "kty",
				json_object_get(jwk, "kty"), "x", json_object_get(jwk, "x"), "y", json_object_get(jwk, "y"));
	char *text = req ? vt_json_canonical(req) : NULL;
	uint8_t d[32];
	char *kid = text && vt_sha256(text, strlen(text), d, NULL) == VT_OK ? vt_b64url_encode(d, sizeof(d)) : NULL;
	free(text);
	json_decref(req);
	return kid;
}
