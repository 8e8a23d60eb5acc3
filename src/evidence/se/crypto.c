/*
 * IBM Secure Execution cryptography, on OpenSSL 3 only: AES-256-GCM
 * unwrap of an ARCB with its ARPK, the attestation measurement
 * (HMAC-SHA512), and the test builders (AES-256-GCM wrap).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "veritee/se.h"
#include "veritee/util.h"

static vt_status crypto_fail(struct vt_err *err, const char *what)
{
	return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "", "OpenSSL: %s failed", what);
}

/* AES-256-GCM: decrypt (enc 0; tag checked) or encrypt (enc 1; tag written). */
static vt_status gcm(int enc, const uint8_t key[32], const uint8_t iv[VT_SE_IV_SIZE], const uint8_t *aad,
		     size_t aad_size, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[VT_SE_GCM_TAG_SIZE],
		     bool *authentic, struct vt_err *err)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0;
	vt_status rc = VT_OK;
	if (c == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	if (aad_size > INT32_MAX || n > INT32_MAX ||
	    EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, VT_SE_IV_SIZE, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_size) != 1 ||
	    (n > 0 && EVP_CipherUpdate(c, out, &len, in, (int)n) != 1)) {
		rc = crypto_fail(err, "AES-256-GCM");
		goto out;
	}
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, VT_SE_GCM_TAG_SIZE, tag) != 1) {
		rc = crypto_fail(err, "AES-256-GCM tag");
		goto out;
	}
	/* Decrypting, a final that fails means the tag did not authenticate. */
	*authentic = EVP_CipherFinal_ex(c, out + (n > 0 ? (size_t)len : 0), &len) == 1;
	if (enc && (!*authentic || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, VT_SE_GCM_TAG_SIZE, tag) != 1))
		rc = crypto_fail(err, "AES-256-GCM");
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

vt_status vt_se_arcb_unwrap(const struct vt_se_arcb *a, const uint8_t arpk[VT_SE_ARPK_SIZE],
			    struct vt_se_arcb_secrets *out, struct vt_err *err)
{
	if (a == NULL || arpk == NULL || out == NULL || a->encrypted == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	uint8_t plain[VT_SE_MEAS_KEY_SIZE + VT_SE_NONCE_SIZE + 16];
	uint8_t tag[VT_SE_GCM_TAG_SIZE];
	bool ok = false;
	if (a->sea != VT_SE_MEAS_KEY_SIZE && a->sea != VT_SE_MEAS_KEY_SIZE + VT_SE_NONCE_SIZE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "arcb.sea", "not a parsed ARCB");
	memcpy(tag, a->tag, sizeof(tag));
	vt_status rc = gcm(0, arpk, a->iv, a->aad, a->aad_size, a->encrypted, a->sea, plain, tag, &ok, err);
	if (rc == VT_OK && !ok)
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "arcb.tag",
			     "the attestation request does not authenticate under this ARPK (AES-256-GCM tag mismatch)");
	if (rc == VT_OK) {
		memcpy(out->meas_key, plain, VT_SE_MEAS_KEY_SIZE);
		out->has_nonce = a->sea == VT_SE_MEAS_KEY_SIZE + VT_SE_NONCE_SIZE;
		if (out->has_nonce)
			memcpy(out->nonce, plain + VT_SE_MEAS_KEY_SIZE, VT_SE_NONCE_SIZE);
		else
			memset(out->nonce, 0, VT_SE_NONCE_SIZE);
	}
	vt_wipe(plain, sizeof(plain));
	return rc;
}

vt_status vt_se_measurement(const uint8_t *key, size_t key_size, const struct vt_se_measurement_input *in,
			    uint8_t out[VT_SE_MEASUREMENT_SIZE], struct vt_err *err)
{
	if (key == NULL || key_size == 0 || in == NULL || in->tags == NULL || in->cuid == NULL || out == NULL ||
	    (in->user_data == NULL && in->user_data_size > 0) || (in->additional == NULL && in->additional_size > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (in->user_data_size > VT_SE_USER_DATA_MAX || in->additional_size > VT_SE_ADDITIONAL_MAX)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "user_data", "user data of %zu or additional data of %zu bytes",
			       in->user_data_size, in->additional_size);
	/* rust/pv AttestationItems: the lengths are u16 / u32 big-endian, two zero bytes between */
	uint8_t lens[8] = {(uint8_t)(in->user_data_size >> 8), (uint8_t)in->user_data_size, 0, 0,
			   (uint8_t)(in->additional_size >> 24), (uint8_t)(in->additional_size >> 16),
			   (uint8_t)(in->additional_size >> 8), (uint8_t)in->additional_size};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA512", 0),
			       OSSL_PARAM_construct_end()};
	size_t len = 0;
	vt_status rc = VT_OK;
	if (c == NULL || EVP_MAC_init(c, key, key_size, params) != 1 ||
	    EVP_MAC_update(c, in->tags, VT_SE_TAGS_SIZE) != 1 || EVP_MAC_update(c, in->cuid, VT_SE_CUID_SIZE) != 1 ||
	    EVP_MAC_update(c, lens, sizeof(lens)) != 1 ||
	    (in->user_data_size > 0 && EVP_MAC_update(c, in->user_data, in->user_data_size) != 1) ||
	    (in->nonce != NULL && EVP_MAC_update(c, in->nonce, VT_SE_NONCE_SIZE) != 1) ||
	    (in->additional_size > 0 && EVP_MAC_update(c, in->additional, in->additional_size) != 1) ||
	    EVP_MAC_final(c, out, &len, VT_SE_MEASUREMENT_SIZE) != 1 || len != VT_SE_MEASUREMENT_SIZE)
		rc = crypto_fail(err, "HMAC-SHA512");
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	return rc;
}

/* ------------------------------------------------------------ test builders */

vt_status vt_se_arcb_build(const struct vt_se_arcb_spec *s, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	if (s == NULL || out == NULL || out_size == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	uint8_t nks = s->nks ? s->nks : 1;
	size_t sea = VT_SE_MEAS_KEY_SIZE + ((s->flags & VT_SE_FLAG_NONCE) ? VT_SE_NONCE_SIZE : 0);
	size_t aad = VT_SE_ARCB_MIN_AAD + (size_t)nks * VT_SE_KEYSLOT_SIZE;
	size_t n = aad + sea + VT_SE_GCM_TAG_SIZE;
	uint8_t *b = calloc(1, n);
	uint8_t plain[VT_SE_MEAS_KEY_SIZE + VT_SE_NONCE_SIZE];
	bool ok = false;
	if (b == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_put_be(b + 0x08, VT_SE_VERSION_1, 4);
	vt_put_be(b + 0x0c, (uint32_t)n, 4);
	memcpy(b + 0x10, s->iv, VT_SE_IV_SIZE);
	b[0x27] = nks;
	vt_put_be(b + 0x2c, (uint32_t)sea, 4);
	vt_put_be(b + 0x30, s->flags, 8);
	vt_put_be(b + 0x38, s->mai ? s->mai : VT_SE_MAI_HMAC_SHA512, 4);
	memset(b + 0x40, 0x3c, VT_SE_CUST_KEY_SIZE);
	for (size_t i = 0; i < nks; i++) {
		uint8_t *slot = b + VT_SE_ARCB_MIN_AAD + i * VT_SE_KEYSLOT_SIZE;
		memset(slot, 0x5a, VT_SE_KEYSLOT_SIZE);
		if (s->phkh != NULL)
			memcpy(slot, s->phkh + i * VT_SE_PHKH_SIZE, VT_SE_PHKH_SIZE);
	}
	memcpy(plain, s->meas_key, VT_SE_MEAS_KEY_SIZE);
	memcpy(plain + VT_SE_MEAS_KEY_SIZE, s->nonce, VT_SE_NONCE_SIZE);
	vt_status rc = gcm(1, s->arpk, s->iv, b, aad, plain, sea, b + aad, b + aad + sea, &ok, err);
	vt_wipe(plain, sizeof(plain));
	if (rc != VT_OK) {
		free(b);
		return rc;
	}
	*out = b;
	*out_size = n;
	return VT_OK;
}

vt_status vt_se_hdr_build(uint8_t seed, uint8_t nks, const uint8_t *phkh, uint8_t **out, size_t *out_size,
			  struct vt_err *err)
{
	if (out == NULL || out_size == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (nks == 0)
		nks = 1;
	const size_t sea = 128; /* cck, XTS key, PSW, secret control flags, no optional items */
	size_t n = VT_SE_HDR_FIXED_SIZE + (size_t)nks * VT_SE_KEYSLOT_SIZE + sea + VT_SE_GCM_TAG_SIZE;
	uint8_t *b = calloc(1, n);
	if (b == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	memcpy(b, "IBMSecEx", 8);
	vt_put_be(b + 0x08, VT_SE_VERSION_1, 4);
	vt_put_be(b + 0x0c, (uint32_t)n, 4);
	memset(b + 0x10, 0x4d, VT_SE_IV_SIZE);
	vt_put_be(b + 0x20, nks, 8);
	vt_put_be(b + 0x28, sea, 8);
	vt_put_be(b + 0x30, 0x100, 8);
	memset(b + 0x40, 0x3c, VT_SE_CUST_KEY_SIZE);
	memset(b + 0xe0, seed, VT_SE_DIGEST_SIZE);
	memset(b + 0x120, (uint8_t)(seed + 1), VT_SE_DIGEST_SIZE);
	memset(b + 0x160, (uint8_t)(seed + 2), VT_SE_DIGEST_SIZE);
	for (size_t i = 0; i < nks; i++) {
		uint8_t *slot = b + VT_SE_HDR_FIXED_SIZE + i * VT_SE_KEYSLOT_SIZE;
		memset(slot, 0x5a, VT_SE_KEYSLOT_SIZE);
		if (phkh != NULL)
			memcpy(slot, phkh + i * VT_SE_PHKH_SIZE, VT_SE_PHKH_SIZE);
	}
	memset(b + n - sea - VT_SE_GCM_TAG_SIZE, 0xe5, sea);
	memset(b + n - VT_SE_GCM_TAG_SIZE, (uint8_t)(seed + 3), VT_SE_GCM_TAG_SIZE);
	*out = b;
	*out_size = n;
	return VT_OK;
}
