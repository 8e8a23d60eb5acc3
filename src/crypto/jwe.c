/* JWE flattened JSON: ECDH-ES+A256KW (P-256/384/521) and RSA-OAEP-256,
 * content A256GCM. */
#include "crypto/jose_internal.h"

/* ---------------------------------------------------------------- JWE pieces */

/* RFC 7518 §4.6.2 Concat KDF, SHA-256, one round (keydatalen 256 bits),
 * AlgorithmID = alg, PartyUInfo = PartyVInfo = empty. */
static bool concat_kdf_a256(const uint8_t *z, size_t zl, const char *alg, uint8_t kek[32])
{
	uint8_t counter[4], alglen[4], zero[4] = {0, 0, 0, 0}, bits[4];
	size_t al = strlen(alg);
	unsigned int outl = 0;
	vt_put_be(counter, 1, 4);
	vt_put_be(alglen, (uint32_t)al, 4);
	vt_put_be(bits, 256, 4);
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

/* ECDH shared secret (x-coordinate) between `priv` and `peer`.
 *
 * The peer's key is validated first: SP 800-56A's partial public-key
 * validation (coordinates in range, on the curve, not the point at
 * infinity).  On the curves allowed here (P-256, P-384, P-521, all of
 * cofactor 1) a point on the curve is in the prime-order group, so this is
 * full validation.  OpenSSL's check at set_peer (validate_peer = 1) also
 * multiplies the point by the group order, which cost as much as the
 * derivation itself and adds nothing for cofactor 1 (docs/decisions.md). */
static bool ecdh_derive(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t *z, size_t zcap, size_t *zl)
{
	EVP_PKEY_CTX *pc = vt_jose_curve_of_key(peer) ? EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL) : NULL;
	bool valid = pc != NULL && EVP_PKEY_public_check_quick(pc) == 1;
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_CTX *c = valid ? EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL) : NULL;
	size_t len = 0;
	bool ok = c != NULL && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer_ex(c, peer, 0) == 1 &&
		  EVP_PKEY_derive(c, NULL, &len) == 1 && len <= zcap && EVP_PKEY_derive(c, z, &len) == 1;
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
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
	return vt_jose_set_b64(o, key, p, n) ? VT_OK : vt_jose_nomem(err);
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
	const struct vt_jose_curve *c = ecdh ? vt_jose_curve_of_key(recipient) : NULL;
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
			rc = vt_jose_nomem(err);
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
		const char *ex = vt_jose_str_member(epk, "x"), *ey = vt_jose_str_member(epk, "y");
		if (ex == NULL || ey == NULL || asprintf(&hdr,
							 "{\"alg\":\"" JWE_ALG_ECDH "\",\"enc\":\"" JWE_ENC
							 "\",\"epk\":{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\","
							 "\"y\":\"%s\"}}",
							 c->crv, ex, ey) < 0) {
			hdr = NULL;
			rc = vt_jose_nomem(err);
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
			rc = vt_jose_nomem(err);
			goto out;
		}
		if (EVP_PKEY_encrypt(rctx, ek, &ek_len, cek->data, cek->len) != 1) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.encrypted_key", "RSA-OAEP failed");
			goto out;
		}
		hdr = strdup("{\"alg\":\"" JWE_ALG_RSA "\",\"enc\":\"" JWE_ENC "\"}");
		if (hdr == NULL) {
			rc = vt_jose_nomem(err);
			goto out;
		}
	}

	prot = vt_b64url_encode((const uint8_t *)hdr, strlen(hdr));
	ct = malloc(plaintext_size + GCM_TAG_LEN);
	if (prot == NULL || ct == NULL) {
		rc = vt_jose_nomem(err);
		goto out;
	}
	if (!gcm(true, cek->data, iv, prot, plaintext, plaintext_size, ct, tag)) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "jwe.ciphertext", "AES-GCM encryption failed");
		goto out;
	}
	res = json_object();
	if (res == NULL || json_object_set_new(res, "protected", json_string(prot)) != 0) {
		rc = vt_jose_nomem(err);
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
	const char *alg = vt_jose_str_member(hdr, "alg"), *enc = vt_jose_str_member(hdr, "enc");
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
	const struct vt_jose_curve *c = ecdh ? vt_jose_curve_of_key(recipient) : NULL;
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
		rc = vt_jose_nomem(err);
		goto out;
	}

	if (ecdh) {
		json_t *epkj = epk_unprot != NULL ? epk_unprot : json_object_get(hdr, "epk");
		const char *ekty = vt_jose_str_member(epkj, "kty"), *ecrv = vt_jose_str_member(epkj, "crv");
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
			rc = vt_jose_nomem(err);
			goto out;
		}
		rctx = oaep_ctx(recipient, false);
		unwrap_ok = rctx != NULL && EVP_PKEY_decrypt(rctx, buf, &ol, ek, ekl) == 1 && ol == CEK_LEN;
		if (unwrap_ok)
			memcpy(cek->data, buf, CEK_LEN);
		vt_jose_free_wipe(buf, (size_t)EVP_PKEY_get_size(recipient));
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
