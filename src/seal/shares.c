/* Key shares: Shamir K-of-N over GF(256) by libgfshare, and the commitments
 * that let unseal recognise a wrong share (docs/sealed-format.md, "Shares"). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <libgfshare.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "veritee/crypto.h"
#include "veritee/kbs.h"
#include "veritee/seal.h"

static const char COMMIT_LABEL[] = "veritee/seal/share/v1"; /* 21 bytes, no NUL */

/* libgfshare draws its polynomial coefficients, and scrubs its buffers on
 * free, through this one global hook; it is NULL until someone sets it. */
static atomic_bool rand_failed;
static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void fill_rand(unsigned char *p, unsigned int n)
{
	if (RAND_priv_bytes(p, (int)n) != 1) {
		memset(p, 0, n);
		atomic_store(&rand_failed, true);
	}
}

static void set_rand(void)
{
	gfshare_fill_rand = fill_rand;
}

vt_status vt_seal_commitment(const uint8_t file_id[VT_SEAL_FILE_ID_SIZE], uint8_t index, const struct vt_secret *share,
			     uint8_t out[VT_SEAL_COMMIT_SIZE], struct vt_err *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(c, COMMIT_LABEL, sizeof(COMMIT_LABEL) - 1) == 1 &&
		  EVP_DigestUpdate(c, file_id, VT_SEAL_FILE_ID_SIZE) == 1 && EVP_DigestUpdate(c, &index, 1) == 1 &&
		  EVP_DigestUpdate(c, share->data, share->len) == 1 && EVP_DigestFinal_ex(c, out, &n) == 1 &&
		  n == VT_SEAL_COMMIT_SIZE;
	EVP_MD_CTX_free(c);
	return ok ? VT_OK : vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "commitment", "SHA-256 failed");
}

bool vt_seal_share_matches(const struct vt_seal_header *h, const struct vt_seal_broker *b,
			   const struct vt_secret *share)
{
	uint8_t c[VT_SEAL_COMMIT_SIZE];
	if (share == NULL || share->len != VT_SEAL_SHARE_SIZE || vt_seal_commitment(h->file_id, b->index, share, c, NULL) != VT_OK)
		return false;
	return vt_ct_eq(c, b->commitment, sizeof(c));
}

vt_status vt_seal_split(const struct vt_secret *key, uint8_t k, uint8_t n, uint8_t *indices, struct vt_secret **shares,
			struct vt_err *err)
{
	if (key == NULL || key->len != VT_SEAL_KEY_SIZE || k < 1 || k > n || n > VT_SEAL_MAX_BROKERS)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "threshold", "K=%u of N=%u: need 1 <= K <= N <= %u", k, n,
			       VT_SEAL_MAX_BROKERS);
	for (unsigned i = 0; i < n; i++)
		shares[i] = NULL;
	if (k == 1) { /* every broker keeps the key itself */
		for (unsigned i = 0; i < n; i++) {
			indices[i] = 0;
			if ((shares[i] = vt_secret_from(key->data, key->len)) == NULL)
				goto nomem;
		}
		return VT_OK;
	}
	pthread_once(&rand_once, set_rand);
	unsigned char nrs[VT_SEAL_MAX_BROKERS];
	for (unsigned i = 0; i < n; i++)
		nrs[i] = indices[i] = (uint8_t)(i + 1);
	gfshare_ctx *g = gfshare_ctx_init_enc(nrs, n, k, VT_SEAL_KEY_SIZE);
	if (g == NULL)
		goto nomem;
	atomic_store(&rand_failed, false);
	gfshare_ctx_enc_setsecret(g, key->data);
	for (unsigned i = 0; i < n; i++) {
		if ((shares[i] = vt_secret_new(VT_SEAL_SHARE_SIZE)) == NULL) {
			gfshare_ctx_free(g);
			goto nomem;
		}
		gfshare_ctx_enc_getshare(g, (unsigned char)i, shares[i]->data);
	}
	gfshare_ctx_free(g);
	if (atomic_load(&rand_failed)) {
		for (unsigned i = 0; i < n; i++)
			vt_secret_free(shares[i]), shares[i] = NULL;
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "shares", "RAND_priv_bytes failed");
	}
	return VT_OK;
nomem:
	for (unsigned i = 0; i < n; i++)
		vt_secret_free(shares[i]), shares[i] = NULL;
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "shares", "out of memory");
}

vt_status vt_seal_combine(uint8_t k, const uint8_t *indices, struct vt_secret *const *shares,
			  struct vt_secret **key_out, struct vt_err *err)
{
	if (k < 1 || k > VT_SEAL_MAX_BROKERS)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "threshold", "K=%u", k);
	for (unsigned i = 0; i < k; i++) {
		if (shares[i] == NULL || shares[i]->len != VT_SEAL_SHARE_SIZE || (k == 1) != (indices[i] == 0))
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "shares", "share %u is not a %u-byte share for K=%u",
				       i + 1, VT_SEAL_SHARE_SIZE, k);
		for (unsigned j = 0; j < i; j++)
			if (indices[j] == indices[i])
				return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "shares", "two shares with index %u", indices[i]);
	}
	struct vt_secret *key = vt_secret_new(VT_SEAL_KEY_SIZE);
	if (key == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "key", "out of memory");
	if (k == 1) {
		memcpy(key->data, shares[0]->data, VT_SEAL_KEY_SIZE);
		*key_out = key;
		return VT_OK;
	}
	pthread_once(&rand_once, set_rand);
	unsigned char nrs[VT_SEAL_MAX_BROKERS];
	memcpy(nrs, indices, k);
	gfshare_ctx *g = gfshare_ctx_init_dec(nrs, k, VT_SEAL_KEY_SIZE);
	if (g == NULL) {
		vt_secret_free(key);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "key", "out of memory");
	}
	for (unsigned i = 0; i < k; i++)
		gfshare_ctx_dec_giveshare(g, (unsigned char)i, shares[i]->data);
	gfshare_ctx_dec_extract(g, key->data);
	gfshare_ctx_free(g); /* overwrites its buffers through fill_rand */
	*key_out = key;
	return VT_OK;
}

vt_status vt_seal_header_new(uint8_t payload, uint32_t chunk_size, const char *resource, const char *const *urls,
			     size_t n, uint8_t k, struct vt_seal_header *h, struct vt_secret **key_out,
			     struct vt_secret **shares, struct vt_err *err)
{
	struct vt_secret *key = NULL;
	uint8_t idx[VT_SEAL_MAX_BROKERS];
	vt_status rc;
	if (n < 1 || n > VT_SEAL_MAX_BROKERS)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "brokers", "%zu brokers: need 1..%u", n, VT_SEAL_MAX_BROKERS);
	for (size_t i = 0; i < n; i++)
		shares[i] = NULL;
	if (resource == NULL || strlen(resource) > VT_SEAL_MAX_RESOURCE || !vt_kbs_resource_path_valid(resource))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "resource",
			       "resource must be REPO/TYPE/TAG of [A-Za-z0-9_.-] (at most %u bytes)", VT_SEAL_MAX_RESOURCE);
	memset(h, 0, sizeof(*h));
	h->version = VT_SEAL_VERSION;
	h->cipher = VT_SEAL_CIPHER_AES256GCM;
	h->payload = payload;
	h->chunk_size = chunk_size;
	h->threshold = k;
	h->count = (uint8_t)n;
	strcpy(h->resource, resource);
	for (size_t i = 0; i < n; i++) {
		if (strlen(urls[i]) > VT_SEAL_MAX_URL)
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "brokers.url", "broker URL longer than %u bytes",
				       VT_SEAL_MAX_URL);
		strcpy(h->brokers[i].url, urls[i]);
	}
	VT_GUARD(vt_random(h->file_id, sizeof(h->file_id), err));
	VT_GUARD(vt_random(h->nonce_prefix, sizeof(h->nonce_prefix), err));
	if ((key = vt_secret_new(VT_SEAL_KEY_SIZE)) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "key", "out of memory");
		goto out;
	}
	/* RAND_priv_bytes: OpenSSL's generator kept for private values. */
	if (RAND_priv_bytes(key->data, VT_SEAL_KEY_SIZE) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "key", "RAND_priv_bytes failed");
		goto out;
	}
	VT_GUARD(vt_seal_split(key, k, (uint8_t)n, idx, shares, err));
	for (size_t i = 0; i < n; i++) {
		h->brokers[i].index = idx[i];
		VT_GUARD(vt_seal_commitment(h->file_id, idx[i], shares[i], h->brokers[i].commitment, err));
	}
	*key_out = key;
	key = NULL;
out:
	if (rc != VT_OK)
		for (size_t i = 0; i < n; i++)
			vt_secret_free(shares[i]), shares[i] = NULL;
	vt_secret_free(key);
	return rc;
}
