/* JWS compact serialization: ES256, ES384, EdDSA, RS256, PS256. */
#include "crypto/jose_internal.h"

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
	const struct vt_jose_curve *c;
	switch (a->kind) {
	case SIG_ECDSA:
		c = vt_jose_curve_of_key(key);
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
	const char *alg = vt_jose_str_member(header, "alg");
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
		rc = vt_jose_nomem(err);
		goto out;
	}
	size_t hl = strlen(h64), pl = strlen(p64);
	/* signing input and result share one buffer: "h64.p64" then ".s64" */
	size_t in_len = hl + 1 + pl;
	res = malloc(in_len + 1);
	if (res == NULL) {
		rc = vt_jose_nomem(err);
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
			rc = vt_jose_nomem(err);
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
			rc = vt_jose_nomem(err);
			goto out;
		}
		if (!digest_sign_verify(a, key, true, (const uint8_t *)res, in_len, sig, &sig_len)) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jws.signature", "%s signing failed", a->name);
			goto out;
		}
	}
	s64 = vt_b64url_encode(sig, sig_len);
	if (s64 == NULL) {
		rc = vt_jose_nomem(err);
		goto out;
	}
	size_t sl = strlen(s64);
	char *grown = realloc(res, in_len + 1 + sl + 1);
	if (grown == NULL) {
		rc = vt_jose_nomem(err);
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
			rc = vt_jose_forward_err(err, &inner);
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
			rc = vt_jose_nomem(err);
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

