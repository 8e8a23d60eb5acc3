/* Thin OpenSSL 3 wrappers: keys, raw ECDSA, digests, X.509 chains. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

static vt_status ossl_fail(struct vt_err *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "", "%s failed%s%s", what, buf[0] ? ": " : "", buf);
}

vt_status vt_key_generate(vt_key_type type, EVP_PKEY **out, struct vt_err *err)
{
	EVP_PKEY *k = NULL;
	switch (type) {
	case VT_KEY_P256: k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); break;
	case VT_KEY_P384: k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"); break;
	case VT_KEY_P521: k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"); break;
	case VT_KEY_ED25519: k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
	case VT_KEY_RSA2048: k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048); break;
	case VT_KEY_RSA3072: k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072); break;
	}
	if (k == NULL)
		return ossl_fail(err, "key generation");
	*out = k;
	return VT_OK;
}

vt_status vt_key_from_pem(const char *pem, size_t len, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	if (len > INT32_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "pem", "PEM too large");
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return ossl_fail(err, "BIO_new_mem_buf");
	EVP_PKEY *k = priv ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL) {
		ERR_clear_error();
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "pem", "not a PEM %s key", priv ? "private" : "public");
	}
	*out = k;
	return VT_OK;
}

vt_status vt_key_load_pem(const char *path, bool priv, EVP_PKEY **out, struct vt_err *err)
{
	uint8_t *p;
	size_t n;
	vt_status rc = vt_file_read(path, 1u << 20, &p, &n, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_key_from_pem((const char *)p, n, priv, out, err);
	vt_wipe(p, n);
	free(p);
	if (rc != VT_OK && err)
		snprintf(err->field, sizeof(err->field), "%s", path);
	return rc;
}

static char *key_pem(EVP_PKEY *key, bool priv, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		return NULL;
	int ok = priv ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, key);
	char *s = NULL;
	if (ok) {
		char *data;
		long n = BIO_get_mem_data(bio, &data);
		s = malloc((size_t)n + 1);
		if (s) {
			memcpy(s, data, (size_t)n);
			s[n] = 0;
			*len = (size_t)n;
		}
	}
	BIO_free(bio);
	return s;
}

char *vt_key_public_pem(EVP_PKEY *key)
{
	size_t n;
	return key_pem(key, false, &n);
}

vt_status vt_key_save_pem(const char *path, EVP_PKEY *key, bool priv, unsigned mode, struct vt_err *err)
{
	size_t n = 0;
	char *s = key_pem(key, priv, &n);
	if (s == NULL)
		return ossl_fail(err, "PEM encoding");
	vt_status rc = vt_file_write(path, s, n, mode, err);
	vt_wipe(s, n);
	free(s);
	return rc;
}

EVP_PKEY *vt_key_public_copy(const EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int n = key ? i2d_PUBKEY(key, &der) : 0;
	const unsigned char *p = der;
	EVP_PKEY *pub = n > 0 ? d2i_PUBKEY(NULL, &p, n) : NULL;
	OPENSSL_free(der);
	if (pub == NULL)
		ERR_clear_error();
	return pub;
}

/* The group orders of the NIST curves, and half of each, big-endian at the
 * curve's coordinate size: read from OpenSSL once.  Asking a key for its
 * order exports the whole group (~6 us); the low-S rule of every ECDSA
 * signature made and of every token checked needs it. */
struct curve_order {
	int nid;
	size_t size;
	uint8_t n[66], half[66];
	bool ok;
};
static struct curve_order curve_orders[] = {
	{.nid = NID_X9_62_prime256v1, .size = 32},
	{.nid = NID_secp384r1, .size = 48},
	{.nid = NID_secp521r1, .size = 66},
};
static pthread_once_t curve_orders_once = PTHREAD_ONCE_INIT;

static void curve_orders_init(void)
{
	for (size_t i = 0; i < sizeof(curve_orders) / sizeof(curve_orders[0]); i++) {
		struct curve_order *c = &curve_orders[i];
		EC_GROUP *g = EC_GROUP_new_by_curve_name(c->nid);
		const BIGNUM *n = g ? EC_GROUP_get0_order(g) : NULL;
		BIGNUM *h = BN_new();
		c->ok = n != NULL && h != NULL && BN_bn2binpad(n, c->n, (int)c->size) == (int)c->size &&
			BN_rshift1(h, n) == 1 && BN_bn2binpad(h, c->half, (int)c->size) == (int)c->size;
		BN_free(h);
		EC_GROUP_free(g);
	}
	ERR_clear_error();
}

/* The key's curve among those, by its group name; NULL for another curve,
 * or a key that does not say (an HSM's: the caller asks the key itself). */
static const struct curve_order *curve_order_of(const EVP_PKEY *key)
{
	char name[64];
	size_t len = 0;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) != 1) {
		ERR_clear_error();
		return NULL;
	}
	int nid = OBJ_sn2nid(name);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(name);
	pthread_once(&curve_orders_once, curve_orders_init);
	for (size_t i = 0; i < sizeof(curve_orders) / sizeof(curve_orders[0]); i++)
		if (curve_orders[i].nid == nid && curve_orders[i].ok)
			return &curve_orders[i];
	return NULL;
}

/* The curve order of an EC key (BN_free), also of an engine's key. */
static BIGNUM *ec_order(const EVP_PKEY *key)
{
	BIGNUM *order = NULL;
	const struct curve_order *c = curve_order_of(key);
	if (c != NULL)
		return BN_bin2bn(c->n, (int)c->size, NULL);
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_ORDER, &order) == 1)
		return order;
	ERR_clear_error();
	EVP_PKEY *pub = vt_key_public_copy(key);
	if (pub == NULL || EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_ORDER, &order) != 1)
		order = NULL;
	EVP_PKEY_free(pub);
	return order;
}

size_t vt_ec_coord_size(const EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return 0;
	return ((size_t)EVP_PKEY_get_bits(key) + 7) / 8;
}

vt_status vt_ecdsa_sign_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_size, uint8_t *sig,
			    size_t *sig_size, struct vt_err *err)
{
	size_t cs = vt_ec_coord_size(key);
	if (cs == 0 || *sig_size < 2 * cs)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CRYPTO, "key", "not an EC key or signature buffer too small");
	vt_status rc = VT_OK;
	unsigned char der[160];
	size_t der_len = sizeof(der);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &der_len, msg, msg_size) != 1) {
		rc = ossl_fail(err, "ECDSA signing");
		goto out;
	}
	const unsigned char *p = der;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)cs) != (int)cs ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + cs, (int)cs) != (int)cs) {
		rc = ossl_fail(err, "ECDSA signature conversion");
		goto out;
	}
	/* Low-S: (r, n - s) is the same signature's twin; always emit the
	 * smaller one so a token has exactly one valid encoding from us. */
	if (!vt_ecdsa_raw_low_s(key, sig, 2 * cs)) {
		BIGNUM *order = NULL, *s = BN_new();
		if (s == NULL || (order = ec_order(key)) == NULL ||
		    BN_sub(s, order, ECDSA_SIG_get0_s(es)) != 1 || BN_bn2binpad(s, sig + cs, (int)cs) != (int)cs) {
			BN_free(order);
			BN_free(s);
			rc = ossl_fail(err, "ECDSA low-S normalisation");
			goto out;
		}
		BN_free(order);
		BN_free(s);
	}
	*sig_size = 2 * cs;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return rc;
}

bool vt_ecdsa_raw_low_s(const EVP_PKEY *key, const uint8_t *sig, size_t sig_size)
{
	size_t cs = vt_ec_coord_size(key);
	if (cs == 0 || sig_size != 2 * cs)
		return false;
	const struct curve_order *c = curve_order_of(key);
	if (c != NULL && c->size == cs) /* s <= n/2: both big-endian at the same width */
		return memcmp(sig + cs, c->half, cs) <= 0;
	BIGNUM *order = NULL, *half = BN_new(), *s = BN_bin2bn(sig + cs, (int)cs, NULL);
	bool ok = half != NULL && s != NULL && (order = ec_order(key)) != NULL &&
		  BN_rshift1(half, order) == 1 && BN_cmp(s, half) <= 0;
	BN_free(order);
	BN_free(half);
	BN_free(s);
	return ok;
}

/* Larger coordinates (binary curves): through ECDSA_SIG and i2d. */
static vt_status ecdsa_verify_bn(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_size,
				 const uint8_t *sig, size_t cs, struct vt_err *err)
{
	vt_status rc = VT_OK;
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)cs, NULL), *s = BN_bin2bn(sig + cs, (int)cs, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		rc = ossl_fail(err, "ECDSA signature conversion");
		goto out;
	}
	int der_len = i2d_ECDSA_SIG(es, &der);
	ctx = EVP_MD_CTX_new();
	if (der_len <= 0 || ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1) {
		rc = ossl_fail(err, "ECDSA verification setup");
		goto out;
	}
	if (EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_size) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "signature", "ECDSA signature does not verify");
	}
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(es);
	return rc;
}

/* One unsigned big-endian integer as a DER INTEGER (minimal, 0x00 prefix when the top bit is set). */
static size_t der_uint(const uint8_t *p, size_t n, uint8_t *out)
{
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	bool pad = (p[0] & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(n + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, p, n);
	return 2 + pad + n;
}

vt_status vt_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_size,
			      const uint8_t *sig, size_t sig_size, struct vt_err *err)
{
	size_t cs = vt_ec_coord_size(key);
	if (cs == 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_SIGNATURE, "key", "not an EC key");
	if (sig_size != 2 * cs)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "signature",
			       "ECDSA signature must be %zu bytes, got %zu", 2 * cs, sig_size);
	if (cs > 66)
		return ecdsa_verify_bn(key, md, msg, msg_size, sig, cs, err);
	/* Ecdsa-Sig-Value DER written directly (the bytes i2d_ECDSA_SIG gives, without BIGNUMs). */
	vt_status rc = VT_OK;
	uint8_t ints[2 * (2 + 1 + 66)], der[4 + sizeof(ints)];
	size_t il = der_uint(sig, cs, ints);
	il += der_uint(sig + cs, cs, ints + il);
	size_t hl = 0;
	der[hl++] = 0x30;
	if (il >= 0x80)
		der[hl++] = 0x81;
	der[hl++] = (uint8_t)il;
	memcpy(der + hl, ints, il);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1) {
		rc = ossl_fail(err, "ECDSA verification setup");
		goto out;
	}
	if (EVP_DigestVerify(ctx, der, hl + il, msg, msg_size) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "signature", "ECDSA signature does not verify");
	}
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

vt_status vt_digest(const EVP_MD *md, const void *msg, size_t msg_size, uint8_t *out, size_t *out_size,
		    struct vt_err *err)
{
	unsigned int n = 0;
	if (EVP_Digest(msg, msg_size, out, &n, md, NULL) != 1)
		return ossl_fail(err, "digest");
	*out_size = n;
	return VT_OK;
}

vt_status vt_random(void *out, size_t n, struct vt_err *err)
{
	if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
		return ossl_fail(err, "RAND_bytes");
	return VT_OK;
}

vt_status vt_x509_from_bytes(const uint8_t *p, size_t n, X509 **out, struct vt_err *err)
{
	if (n > 1u << 20)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "certificate", "certificate larger than 1 MiB");
	X509 *x = NULL;
	static const char pem_tag[] = "-----BEGIN CERTIFICATE-----";
	if (n >= sizeof(pem_tag) - 1 && memmem(p, n, pem_tag, sizeof(pem_tag) - 1) != NULL) {
		BIO *bio = BIO_new_mem_buf(p, (int)n);
		if (bio)
			x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		const unsigned char *q = p;
		x = d2i_X509(NULL, &q, (long)n);
		if (x != NULL && q != p + n) { /* trailing bytes after the DER */
			X509_free(x);
			x = NULL;
		}
	}
	if (x == NULL) {
		ERR_clear_error();
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "certificate", "not a DER or PEM X.509 certificate");
	}
	*out = x;
	return VT_OK;
}

vt_status vt_x509_load(const char *path, X509 **out, struct vt_err *err)
{
	uint8_t *p;
	size_t n;
	vt_status rc = vt_file_read(path, 1u << 20, &p, &n, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_x509_from_bytes(p, n, out, err);
	free(p);
	if (rc != VT_OK && err)
		snprintf(err->field, sizeof(err->field), "%s", path);
	return rc;
}

vt_status vt_x509_fingerprint_sha256(X509 *cert, uint8_t out[32], struct vt_err *err)
{
	unsigned int n = 32;
	if (X509_digest(cert, EVP_sha256(), out, &n) != 1 || n != 32)
		return ossl_fail(err, "certificate digest");
	return VT_OK;
}

vt_status vt_x509_verify_chain(X509 *leaf, STACK_OF(X509) *intermediates, X509 *root, int64_t now,
			       struct vt_err *err)
{
	vt_status rc = VT_OK;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, root) != 1 ||
	    X509_STORE_CTX_init(ctx, store, leaf, intermediates) != 1) {
		rc = ossl_fail(err, "X.509 store setup");
		goto out;
	}
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	/* Only the one configured root is trusted: no default paths, and the
	 * chain must end at it (partial chains are not accepted). */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate", "certificate chain: %s (depth %d)",
			     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
		ERR_clear_error();
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* ------------------------------------------------- cached chains, certificates */

static bool asn1_time_to_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	*out = (int64_t)timegm(&tm);
	return true;
}

/* (leaf, root) pairs that verified, keyed by both DER fingerprints. */
static const struct vt_cache_class chain_class = {.name = "x509.chain", .capacity = 64};

vt_status vt_x509_verify_chain_cached(struct vt_cache_set *caches, X509 *leaf, X509 *root, int64_t now,
				      struct vt_err *err)
{
	struct vt_cache *cache = vt_cache_of(caches, &chain_class);
	if (cache == NULL)
		return vt_x509_verify_chain(leaf, NULL, root, now, err);
	uint8_t lf[32], rf[32], key[32];
	vt_status rc = vt_x509_fingerprint_sha256(leaf, lf, err);
	if (rc == VT_OK)
		rc = vt_x509_fingerprint_sha256(root, rf, err);
	const void *parts[2] = {lf, rf};
	size_t sizes[2] = {32, 32};
	if (rc == VT_OK)
		rc = vt_cache_key(key, "x509-chain", 2, parts, sizes, err);
	if (rc != VT_OK)
		return rc;
	if (vt_cache_get(cache, key, now, NULL))
		return VT_OK;
	rc = vt_x509_verify_chain(leaf, NULL, root, now, err);
	int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO;
	/* an unreadable window: verified, just not cacheable */
	if (rc == VT_OK && vt_x509_window_narrow(leaf, &nb, &na) && vt_x509_window_narrow(root, &nb, &na) &&
	    now >= nb && now <= na)
		vt_cache_put(cache, key, nb, na, NULL);
	return rc;
}

/* Parsed certificates by the SHA-256 of their DER (a parse does not depend on time). */
static void x509_ref(void *o)
{
	X509_up_ref(o);
}

static void x509_release(void *o)
{
	X509_free(o);
}

static const struct vt_cache_class cert_class = {
	.name = "x509.der", .capacity = 64, .ref = x509_ref, .release = x509_release};

vt_status vt_x509_from_der_cached(struct vt_cache_set *caches, const uint8_t *der, size_t der_size,
				  const char *field, X509 **out, struct vt_err *err)
{
	if (der_size == 0 || der_size > 1u << 20)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "certificate is %zu bytes", der_size);
	struct vt_cache *cache = vt_cache_of(caches, &cert_class);
	uint8_t h[32];
	if (cache != NULL) {
		vt_status rc = vt_sha256(der, der_size, h, err);
		if (rc != VT_OK)
			return rc;
		void *hit = NULL;
		if (vt_cache_get(cache, h, 0, &hit)) {
			*out = hit;
			return VT_OK;
		}
	}
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, (long)der_size);
	if (cert == NULL) {
		ERR_clear_error();
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a DER X.509 certificate");
	}
	if ((size_t)(p - der) != der_size) {
		X509_free(cert);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu trailing bytes after certificate",
			       der_size - (size_t)(p - der));
	}
	if (cache != NULL)
		vt_cache_put(cache, h, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, cert);
	*out = cert;
	return VT_OK;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

const EVP_MD *vt_md_sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

bool vt_x509_window(X509 *cert, int64_t *not_before, int64_t *not_after)
{
	return asn1_time_to_epoch(X509_get0_notBefore(cert), not_before) &&
	       asn1_time_to_epoch(X509_get0_notAfter(cert), not_after);
}

bool vt_x509_window_narrow(X509 *cert, int64_t *nb, int64_t *na)
{
	int64_t b, a;
	if (!vt_x509_window(cert, &b, &a))
		return false;
	if (b > *nb)
		*nb = b;
	if (a < *na)
		*na = a;
	return true;
}

/* ------------------------------------------------------ certificate files */

#define CERTS_FILE_MAX ((size_t)4 << 20)
#define CERTS_DIR_MAX_FILES 1000
#define CERTS_MAX 1000

/* The certificates of one file; *got = how many were added. */
static vt_status certs_file(const char *path, const char *field, STACK_OF(X509) *out, size_t *got,
			    struct vt_err *err)
{
	uint8_t *data = NULL;
	size_t n = 0, before = (size_t)sk_X509_num(out);
	vt_status rc = vt_file_read(path, CERTS_FILE_MAX, &data, &n, err);
	if (rc != VT_OK)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "cannot read %.300s", path);
	if (memmem(data, n, "-----BEGIN", 10) != NULL) {
		BIO *bio = BIO_new_mem_buf(data, (int)n);
		X509 *c;
		while (bio != NULL && (size_t)sk_X509_num(out) < CERTS_MAX &&
		       (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			if (!sk_X509_push(out, c)) {
				X509_free(c);
				break;
			}
		}
		BIO_free(bio);
	} else {
		const unsigned char *p = data;
		X509 *c = d2i_X509(NULL, &p, (long)n);
		if (c != NULL && (p != data + n || !sk_X509_push(out, c)))
			X509_free(c);
	}
	ERR_clear_error(); /* the end of the PEM data, or not a certificate */
	free(data);
	*got = (size_t)sk_X509_num(out) - before;
	return VT_OK;
}

vt_status vt_x509_load_all(const char *path, const char *field, STACK_OF(X509) *out, struct vt_err *err)
{
	struct stat st;
	size_t got = 0, total = 0;
	if (path == NULL || stat(path, &st) != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "cannot open %.300s: %s", path ? path : "(none)",
			       strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		vt_status rc = certs_file(path, field, out, &got, err);
		if (rc == VT_OK && got == 0)
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "%.300s holds no PEM or DER certificate", path);
		return rc;
	}
	DIR *d = opendir(path);
	if (d == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "cannot read %.300s: %s", path, strerror(errno));
	struct dirent *de;
	int files = 0;
	vt_status rc = VT_OK;
	while (rc == VT_OK && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *p = NULL;
		if (asprintf(&p, "%s/%s", path, de->d_name) < 0) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, field, "out of memory");
			break;
		}
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			if (++files > CERTS_DIR_MAX_FILES)
				rc = vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, field, "%.300s has more than %d files", path,
					     CERTS_DIR_MAX_FILES);
			else if (certs_file(p, field, out, &got, NULL) == VT_OK)
				total += got; /* files that are not certificates are skipped */
		}
		free(p);
	}
	closedir(d);
	if (rc == VT_OK && total == 0)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "%.300s holds no certificate", path);
	return rc;
}
