/*
 * SEV-SNP: certificates and CRLs into the pool, from bytes (one DER
 * certificate, one DER CRL, or a PEM bundle), from files, and from the
 * --certs path (a file or a directory).  Parsed bundles are remembered in
 * the verifier's caches by the SHA-256 of their bytes; --certs files and
 * listings are read through the stat-keyed file cache.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/snp/sources.h"
#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

static bool looks_like_pem(const uint8_t *p, size_t n)
{
	static const char tag[] = "-----BEGIN ";
	if (n < sizeof(tag) - 1)
		return false;
	for (size_t i = 0; i + sizeof(tag) - 1 <= n; i++)
		if (memcmp(p + i, tag, sizeof(tag) - 1) == 0)
			return true;
	return false;
}

/*
 * Parsed PEM bundles and DER CRLs, cached in the pool's caches (the
 * verifier's) by the SHA-256 of the exact bytes (parsing does not depend on
 * time; nothing here is trusted until verify.c checks the chain).  DER
 * certificates go through vt_x509_from_der_cached.  Entries hold one
 * reference to each object.
 */
struct parsed_item {
	X509 *x509;
	X509_CRL *crl;
	/* for certificates: fingerprint and classification (both depend only on the DER) */
	uint8_t fp[32];
	bool has_fp;
	snp_role role;
	vt_snp_product product;
};

/* A certificate item with its fingerprint and class computed once. */
static struct parsed_item cert_item(X509 *x)
{
	struct parsed_item it = {.x509 = x};
	struct vt_err scratch = {0};
	it.has_fp = vt_x509_fingerprint_sha256(x, it.fp, &scratch) == VT_OK;
	snp_classify(x, it.has_fp ? it.fp : NULL, &it.role, &it.product);
	return it;
}

struct parsed {
	atomic_int refs;
	size_t n, cap;
	struct parsed_item items[];
};

static struct parsed *parsed_new(size_t cap)
{
	if (cap == 0 || cap > 4096)
		return NULL;
	struct parsed *pr = calloc(1, sizeof(*pr) + cap * sizeof(pr->items[0]));
	if (pr != NULL) {
		atomic_init(&pr->refs, 1);
		pr->cap = cap;
	}
	return pr;
}

static void parsed_ref(void *obj)
{
	atomic_fetch_add(&((struct parsed *)obj)->refs, 1);
}

static void parsed_release(void *obj)
{
	struct parsed *pr = obj;
	if (pr == NULL || atomic_fetch_sub(&pr->refs, 1) != 1)
		return;
	for (size_t i = 0; i < pr->n; i++) {
		X509_free(pr->items[i].x509);
		X509_CRL_free(pr->items[i].crl);
	}
	free(pr);
}

static void parsed_spoil(struct parsed **pr)
{
	parsed_release(*pr);
	*pr = NULL;
}

static const struct vt_cache_class parsed_class = {
	.name = "snp.parsed", .capacity = 64, .ref = parsed_ref, .release = parsed_release};

/* Add new references to everything a cached parse holds; consumes `obj`'s reference. */
static vt_status add_parsed(struct snp_pool *pool, void *obj, const char *origin, struct vt_err *err)
{
	struct parsed *pr = obj;
	vt_status rc = VT_OK;
	for (size_t i = 0; i < pr->n && rc == VT_OK; i++) {
		const struct parsed_item *it = &pr->items[i];
		if (it->x509 != NULL) {
			X509_up_ref(it->x509);
			rc = snp_pool_add_known(pool, it->x509, it->has_fp ? it->fp : NULL, it->role, it->product, origin, err);
		} else {
			X509_CRL_up_ref(pr->items[i].crl);
			rc = snp_pool_add_crl(pool, pr->items[i].crl, err);
		}
	}
	parsed_release(pr);
	return rc;
}

vt_status snp_pool_add_bytes(struct snp_pool *pool, const uint8_t *p, size_t n, const char *origin,
			     const char *field, struct vt_err *err)
{
	uint8_t h[32];
	if (n == 0 || n > SNP_CERT_MAX_BYTES)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "certificate data is %zu bytes", n);
	struct vt_err scratch = {0};
	return snp_pool_add_bytes_hashed(pool, p, n, vt_sha256(p, n, h, &scratch) == VT_OK ? h : NULL, origin, field,
					 err);
}

/* Add a certificate item (the pool takes the caller's reference). */
static vt_status pool_add_item(struct snp_pool *pool, const struct parsed_item *it, const char *origin,
			       struct vt_err *err)
{
	return snp_pool_add_known(pool, it->x509, it->has_fp ? it->fp : NULL, it->role, it->product, origin, err);
}

vt_status snp_pool_add_bytes_hashed(struct snp_pool *pool, const uint8_t *p, size_t n, const uint8_t sha256[32],
				    const char *origin, const char *field, struct vt_err *err)
{
	vt_status rc = VT_OK;
	size_t added = 0;
	if (n == 0 || n > SNP_CERT_MAX_BYTES)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "certificate data is %zu bytes", n);
	/* Keyed by the SHA-256 of the exact bytes (and their length). */
	uint8_t key[32];
	uint64_t len = n;
	bool keyed = false;
	struct vt_cache *cache = vt_cache_of(pool->caches, &parsed_class);
	if (sha256 != NULL && cache != NULL) {
		const void *kp[2] = {sha256, &len};
		size_t ks[2] = {32, sizeof(len)};
		keyed = vt_cache_key(key, "snp-pem-or-der", 2, kp, ks, NULL) == VT_OK;
	}
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, 0, &hit))
		return add_parsed(pool, hit, origin, err);
	if (looks_like_pem(p, n)) {
		BIO *bio = BIO_new_mem_buf(p, (int)n);
		if (bio == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
		STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
		BIO_free(bio);
		ERR_clear_error();
		if (infos == NULL)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "unreadable PEM");
		struct parsed *pr = parsed_new((size_t)sk_X509_INFO_num(infos));
		for (int i = 0; i < sk_X509_INFO_num(infos) && rc == VT_OK; i++) {
			X509_INFO *info = sk_X509_INFO_value(infos, i);
			if (info->x509 != NULL) {
				X509 *x = info->x509;
				info->x509 = NULL;
				struct parsed_item it = cert_item(x);
				if (pr != NULL && X509_up_ref(x) == 1)
					pr->items[pr->n++] = it;
				else
					parsed_spoil(&pr);
				rc = pool_add_item(pool, &it, origin, err);
				added++;
			}
			if (info->crl != NULL && rc == VT_OK) {
				X509_CRL *c = info->crl;
				info->crl = NULL;
				if (pr != NULL && X509_CRL_up_ref(c) == 1)
					pr->items[pr->n++] = (struct parsed_item){.crl = c};
				else
					parsed_spoil(&pr);
				rc = snp_pool_add_crl(pool, c, err);
				added++;
			}
		}
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
		if (rc == VT_OK && added == 0)
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "no certificate in the PEM data");
		/* Only a complete parse is remembered (pool errors happen after it). */
		if (pr != NULL && added > 0 && pr->n == added && rc == VT_OK && keyed)
			vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, pr);
		parsed_release(pr);
		return rc;
	}
	/* DER: exactly one certificate or one CRL, nothing after it. */
	/* Parsed certificates are cached in the verifier's caches: a TEE sends
	 * the same VEK and chain with every report. */
	X509 *x = NULL;
	struct vt_err scratch = {0};
	if (vt_x509_from_der_cached(pool->caches, p, n, field, &x, &scratch) == VT_OK) {
		struct parsed_item it = cert_item(x);
		struct parsed *pr = keyed ? parsed_new(1) : NULL;
		if (pr != NULL && X509_up_ref(x) == 1) {
			pr->items[pr->n++] = it;
			vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, pr);
		}
		parsed_release(pr);
		return pool_add_item(pool, &it, origin, err);
	}
	const unsigned char *q = p;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)n);
	if (crl != NULL && q == p + n) {
		struct parsed *pr = keyed ? parsed_new(1) : NULL;
		if (pr != NULL && X509_CRL_up_ref(crl) == 1) {
			pr->items[pr->n++] = (struct parsed_item){.crl = crl};
			vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, pr);
		}
		parsed_release(pr);
		return snp_pool_add_crl(pool, crl, err);
	}
	X509_CRL_free(crl);
	ERR_clear_error();
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a DER or PEM certificate or CRL");
}

/* Read (through the stat-keyed file cache when `cached`: operator
 * configuration only) and add.  With `regular_only`, a path that is not a
 * regular file (or cannot be stat'ed) is skipped. */
static vt_status add_file_ex(struct snp_pool *pool, const char *path, const char *origin, bool must, bool cached,
			     bool regular_only, struct vt_err *err)
{
	const uint8_t *data = NULL;
	uint8_t *owned = NULL;
	size_t n = 0;
	uint8_t h[32];
	void *handle = NULL;
	struct vt_err scratch = {0};
	vt_status rc;
	if (cached) {
		rc = vt_file_read_cached(pool->caches, path, SNP_CERT_MAX_BYTES, regular_only ? VT_FILE_REGULAR_ONLY : 0,
					 &data, &n, h, &handle, must ? err : &scratch);
		if (rc == VT_E_NOTFOUND && regular_only)
			return VT_OK;
	} else {
		rc = vt_file_read(path, SNP_CERT_MAX_BYTES, &owned, &n, must ? err : &scratch);
		data = owned;
	}
	if (rc != VT_OK) {
		if (!must)
			return VT_OK;
		if (err != NULL && err->step == VT_STEP_IO)
			err->step = VT_STEP_COLLATERAL;
		return rc;
	}
	if (cached)
		rc = snp_pool_add_bytes_hashed(pool, data, n, h, origin, path, must ? err : &scratch);
	else
		rc = snp_pool_add_bytes(pool, data, n, origin, path, must ? err : &scratch);
	free(owned);
	vt_file_cache_release(handle);
	if (rc != VT_OK && !must && (rc == VT_E_PARSE))
		rc = VT_OK; /* a directory may hold other files */
	else if (rc != VT_OK && !must)
		rc = vt_fail(err, scratch.code, scratch.step, scratch.field, "%s", scratch.detail);
	return rc;
}

vt_status snp_pool_add_file(struct snp_pool *pool, const char *path, const char *origin, bool must,
			     struct vt_err *err)
{
	return add_file_ex(pool, path, origin, must, false, false, err);
}

/* certs_path is operator configuration: its files and listing go through the
 * stat-keyed caches (the bytes are still parsed and verified on every call). */
vt_status snp_pool_add_path(struct snp_pool *pool, const char *path, struct vt_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_COLLATERAL, "certs", "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return add_file_ex(pool, path, "certs", true, true, false, err);
	const char *const *names = NULL;
	size_t nn = 0;
	void *handle = NULL;
	struct vt_err le = {0};
	vt_status rc = vt_dir_list_cached(pool->caches, path, SNP_DIR_MAX_FILES, &names, &nn, &handle, &le);
	if (rc == VT_E_LIMIT)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, "certs", "%s: more than %d files", path,
			       SNP_DIR_MAX_FILES);
	if (rc == VT_E_NOMEM)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "certs", "out of memory");
	if (rc != VT_OK)
		return vt_fail(err, VT_E_IO, VT_STEP_COLLATERAL, "certs", "%s: %s", path, le.detail);
	/* Sorted, so that the pool (and any tie between candidates) is stable. */
	for (size_t i = 0; i < nn && rc == VT_OK; i++)
		rc = add_file_ex(pool, names[i], "certs", false, true, true, err);
	vt_dir_list_release(handle);
	return rc;
}
