/* KBS protocol helpers shared by broker and client. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "veritee/crypto.h"

#include "veritee/json.h"
#include "veritee/kbs.h"

const EVP_MD *vt_kbs_hash_md(const char *name)
{
	if (name == NULL)
		return NULL;
	if (strcmp(name, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(name, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(name, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

bool vt_kbs_hash_known(const char *name)
{
	return vt_kbs_hash_md(name) != NULL || (name != NULL && strcmp(name, "sm3") == 0);
}

vt_status vt_kbs_runtime_digest_md(const EVP_MD *md, const json_t *tee_pubkey, const char *nonce,
				   const char *additional, json_t **runtime_out, uint8_t out[64], size_t *out_size,
				   struct vt_err *err)
{
	if (md == NULL || EVP_MD_get_size(md) > 64)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "runtime-data", "no usable hash algorithm");
	json_t *rt = additional ? json_pack("{s:O, s:s, s:s}", "tee-pubkey", tee_pubkey, "nonce", nonce,
					    "additional-evidence", additional)
				: json_pack("{s:O, s:s}", "tee-pubkey", tee_pubkey, "nonce", nonce);
	if (rt == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_BINDING, "runtime-data", "cannot build runtime data");
	char *canon = vt_json_canonical(rt);
	if (canon == NULL) {
		json_decref(rt);
		return vt_fail(err, VT_E_PARSE, VT_STEP_BINDING, "runtime-data",
			       "runtime data has no canonical form (real numbers or too deep)");
	}
	size_t n = 0;
	vt_status rc = vt_digest(md, canon, strlen(canon), out, &n, err);
	free(canon);
	if (rc == VT_OK && out_size)
		*out_size = n;
	if (rc == VT_OK && runtime_out)
		*runtime_out = rt;
	else
		json_decref(rt);
	return rc;
}

vt_status vt_kbs_runtime_digest(const json_t *tee_pubkey, const char *nonce, const char *additional,
				json_t **runtime_out, uint8_t out[48], struct vt_err *err)
{
	uint8_t d[64];
	size_t n = 0;
	vt_status rc = vt_kbs_runtime_digest_md(EVP_sha384(), tee_pubkey, nonce, additional ? additional : "",
						runtime_out, d, &n, err);
	if (rc == VT_OK)
		memcpy(out, d, 48);
	return rc;
}

/* Length of the base64url text (no padding) of n bytes. */
static size_t b64url_len(size_t n)
{
	return (n * 4 + 2) / 3;
}

static vt_status fail_pk(struct vt_err *err, const char *member, const char *detail)
{
	char field[64];
	snprintf(field, sizeof(field), "runtime-data.tee-pubkey%s%s", member[0] ? "." : "", member);
	return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field, "%s", detail);
}

/* A base64url string member of length in [lo, hi] characters. */
static bool b64_member(const json_t *jwk, const char *name, size_t lo, size_t hi)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	if (s == NULL)
		return false;
	size_t n = strlen(s);
	if (n < lo || n > hi)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

vt_status vt_kbs_check_tee_pubkey(const json_t *jwk, struct vt_err *err)
{
	static const char *const allowed[] = {"kty", "alg", "crv", "x", "y", "n", "e", "kid", "use", NULL};
	if (!json_is_object(jwk))
		return fail_pk(err, "", "tee-pubkey must be a JWK object");
	char *compact = json_dumps(jwk, JSON_COMPACT);
	size_t size = compact ? strlen(compact) : SIZE_MAX;
	free(compact);
	if (size > VT_KBS_MAX_TEE_PUBKEY)
		return fail_pk(err, "", "tee-pubkey is larger than 2048 bytes (RSA keys up to 4096 bits, EC P-256/384/521)");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)jwk, k, v) {
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], k) != 0)
			i++;
		if (allowed[i] == NULL)
			return fail_pk(err, "", "tee-pubkey has a member a public JWK does not have (private key?)");
		if (!json_is_string(v))
			return fail_pk(err, k, "JWK members must be strings");
	}
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	if (alg == NULL || kty == NULL)
		return fail_pk(err, "", "tee-pubkey needs kty and alg");
	if (strcmp(kty, "EC") == 0 && strcmp(alg, "ECDH-ES+A256KW") == 0) {
		const char *crv = json_string_value(json_object_get(jwk, "crv"));
		size_t coord = 0;
		if (crv && strcmp(crv, "P-256") == 0)
			coord = 32;
		else if (crv && strcmp(crv, "P-384") == 0)
			coord = 48;
		else if (crv && strcmp(crv, "P-521") == 0)
			coord = 66;
		if (coord == 0)
			return fail_pk(err, "crv", "EC tee-pubkey needs crv P-256, P-384 or P-521");
		size_t len = b64url_len(coord);
		if (!b64_member(jwk, "x", len, len))
			return fail_pk(err, "x", "x is not the base64url of a coordinate of the curve");
		if (!b64_member(jwk, "y", len, len))
			return fail_pk(err, "y", "y is not the base64url of a coordinate of the curve");
		return VT_OK;
	}
	if (strcmp(kty, "RSA") == 0 && strcmp(alg, "RSA-OAEP-256") == 0) {
		/* 2048..4096 bits; refused here, before any import or key check. */
		if (!b64_member(jwk, "n", b64url_len(256), b64url_len(512)))
			return fail_pk(err, "n", "RSA modulus must be 2048 to 4096 bits (base64url)");
		if (!b64_member(jwk, "e", 1, b64url_len(4)))
			return fail_pk(err, "e", "RSA public exponent must be at most 4 bytes (base64url)");
		return VT_OK;
	}
	char d[160];
	snprintf(d, sizeof(d), "unsupported key/alg %.8s/%.32s (use EC with ECDH-ES+A256KW or RSA with RSA-OAEP-256)", kty,
		 alg);
	return fail_pk(err, "alg", d);
}

static bool seg_char(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
		return true;
	return !first && c == '.';
}

bool vt_kbs_resource_path_valid(const char *path)
{
	if (path == NULL || strlen(path) > 128)
		return false;
	int segs = 0;
	const char *p = path;
	for (;;) {
		if (!seg_char(*p, true))
			return false;
		p++;
		while (*p && *p != '/') {
			if (!seg_char(*p, false))
				return false;
			p++;
		}
		segs++;
		if (*p == '\0')
			break;
		p++; /* '/' */
	}
	return segs == 3;
}
