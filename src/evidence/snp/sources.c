/*
 * SEV-SNP certificate sources: the pool of untrusted certificates gathered
 * for one verification from the evidence, --certs (file or directory), the
 * cache directory and AMD KDS (through src/fetch: the shared HTTP GET and
 * the fetch gate).  Nothing here decides trust; see verify.c for the chain
 * check against the pinned ARK.
 *
 * Cache layout (everything re-verified on every use):
 *   <cache>/amd/<Product>/cert_chain.pem        ASK + ARK   (KDS /vcek/v1/<P>/cert_chain)
 *   <cache>/amd/<Product>/vlek_cert_chain.pem   ASVK + ARK  (KDS /vlek/v1/<P>/cert_chain)
 *   <cache>/amd/<Product>/crl.der               (KDS /vcek/v1/<P>/crl)
 *   <cache>/amd/<Product>/vlek_crl.der          (KDS /vlek/v1/<P>/crl)
 *   <cache>/amd/<Product>/vcek/<hwid-hex>/<bl>-<tee>-<snp>-<ucode>[-<fmc>].der
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/snp/sources.h"
#include "crypto/cache.h"
#include "fetch/fetch_internal.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

/* ------------------------------------------------------------ pinned roots */

/* SHA-256 of the DER of AMD's ARK / ASK / ASVK per product
 * (../shared/docs/formats/sev-snp.md §2). */
static const struct {
	vt_snp_product product;
	uint8_t ark[32], ask[32], asvk[32];
} PINS[] = {
	{VT_SNP_PRODUCT_MILAN,
	 {0x69, 0xd0, 0x63, 0xb4, 0x53, 0x44, 0xd2, 0x6a, 0x2e, 0x94, 0xe1, 0xf4, 0x21, 0x0d, 0xe4, 0x9e,
	  0xf5, 0x55, 0x30, 0x82, 0x87, 0xd4, 0xc1, 0x74, 0x44, 0x5c, 0x95, 0x63, 0x9a, 0x54, 0x0b, 0xcd},
	 {0x67, 0xd3, 0x03, 0xbd, 0x39, 0x05, 0xfd, 0x38, 0xdb, 0x8b, 0x20, 0xe0, 0x79, 0x36, 0x99, 0x87,
	  0x0e, 0x7f, 0xa6, 0x12, 0xea, 0xad, 0x5d, 0xec, 0x35, 0x82, 0x93, 0xfd, 0x8c, 0x0b, 0xac, 0x1b},
	 {0xc5, 0xe0, 0x81, 0xf5, 0x9b, 0x7e, 0xfa, 0xb1, 0xfe, 0x2f, 0x8b, 0x50, 0x5e, 0x15, 0x97, 0x04,
	  0xe7, 0x2f, 0x29, 0xca, 0xb7, 0xef, 0x7c, 0xf6, 0x28, 0xa0, 0x5a, 0x42, 0x43, 0x90, 0x82, 0xf5}},
	{VT_SNP_PRODUCT_GENOA,
	 {0x4c, 0x65, 0x98, 0xd1, 0x9c, 0x18, 0x71, 0x9c, 0x5d, 0xfd, 0x4a, 0x7d, 0x33, 0x5f, 0x67, 0x4e,
	  0x5b, 0xfe, 0x1d, 0x8f, 0x80, 0x0c, 0xea, 0x2c, 0xf2, 0x70, 0xc1, 0x0d, 0x10, 0x3d, 0xb2, 0xf1},
	 {0x54, 0x64, 0x73, 0x8c, 0x15, 0x46, 0xae, 0xd5, 0xf2, 0xce, 0xcf, 0x1d, 0xc9, 0x8c, 0x5c, 0x96,
	  0x0a, 0x92, 0xe8, 0x91, 0x32, 0x38, 0xa6, 0x17, 0x11, 0xbc, 0x90, 0xec, 0x6e, 0x82, 0x85, 0x21},
	 {0x19, 0x7e, 0x61, 0x07, 0x43, 0xa9, 0x17, 0xd6, 0xb9, 0xbb, 0x98, 0x2a, 0x5a, 0x92, 0x26, 0xcc,
	  0xc0, 0xa1, 0x5b, 0x61, 0x1b, 0xe0, 0x61, 0x9e, 0x62, 0x6a, 0xca, 0x91, 0x51, 0x45, 0x73, 0x72}},
	{VT_SNP_PRODUCT_TURIN,
	 {0x1f, 0x08, 0x41, 0x61, 0xa4, 0x4b, 0xb6, 0xd9, 0x37, 0x78, 0xa9, 0x04, 0x87, 0x7d, 0x48, 0x19,
	  0xca, 0xfa, 0x5d, 0x05, 0xef, 0x41, 0x93, 0xb2, 0xde, 0xd9, 0xdd, 0x9c, 0x73, 0xdd, 0x3f, 0x6a},
	 {0x5b, 0x77, 0xef, 0x5f, 0xe7, 0xa7, 0xa0, 0x04, 0xfd, 0x90, 0x32, 0x66, 0x8f, 0xba, 0x9d, 0x0f,
	  0xda, 0x22, 0xf8, 0x8c, 0x44, 0x42, 0x06, 0x9a, 0x47, 0x96, 0x36, 0xa6, 0xae, 0x3b, 0x31, 0x85},
	 {0x10, 0x4e, 0x10, 0xa8, 0xbd, 0x06, 0x0a, 0x3c, 0x20, 0xa4, 0x34, 0x26, 0x1a, 0x57, 0xd0, 0x58,
	  0x8f, 0xd6, 0x5a, 0x88, 0x91, 0x5b, 0x4f, 0x65, 0xb0, 0x8b, 0xde, 0xca, 0xf8, 0xdf, 0x1a, 0x3c}},
};

#define PIN_COUNT (sizeof(PINS) / sizeof(PINS[0]))

vt_snp_product snp_pinned_ark_product(const uint8_t fp[32])
{
	for (size_t i = 0; i < PIN_COUNT; i++)
		if (memcmp(PINS[i].ark, fp, 32) == 0)
			return PINS[i].product;
	return VT_SNP_PRODUCT_UNKNOWN;
}

const uint8_t *snp_pinned_ask(vt_snp_product p)
{
	for (size_t i = 0; i < PIN_COUNT; i++)
		if (PINS[i].product == p)
			return PINS[i].ask;
	return NULL;
}

const uint8_t *snp_pinned_asvk(vt_snp_product p)
{
	for (size_t i = 0; i < PIN_COUNT; i++)
		if (PINS[i].product == p)
			return PINS[i].asvk;
	return NULL;
}

vt_snp_product snp_product_from_name(const char *s, size_t len)
{
	static const vt_snp_product all[] = {VT_SNP_PRODUCT_MILAN, VT_SNP_PRODUCT_GENOA, VT_SNP_PRODUCT_TURIN};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *name = vt_snp_product_name(all[i]);
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return all[i];
	}
	return VT_SNP_PRODUCT_UNKNOWN;
}

const char *snp_role_name(snp_role r)
{
	switch (r) {
	case SNP_ROLE_ARK: return "ARK";
	case SNP_ROLE_ASK: return "ASK";
	case SNP_ROLE_ASVK: return "ASVK";
	case SNP_ROLE_VCEK: return "VCEK";
	case SNP_ROLE_VLEK: return "VLEK";
	default: return "other";
	}
}

/* ------------------------------------------------------------ classification */

/* The (last) common name of a name into buf; false when absent or too long. */
static bool common_name(const X509_NAME *name, char *buf, size_t size)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		return false;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	if (s == NULL)
		return false;
	int len = ASN1_STRING_length(s);
	if (len <= 0 || (size_t)len >= size)
		return false;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
	buf[len] = '\0';
	if (strlen(buf) != (size_t)len)
		return false; /* embedded NUL */
	return true;
}

/* "<prefix><Product>" -> product, else UNKNOWN. */
static vt_snp_product suffix_product(const char *cn, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncmp(cn, prefix, pl) != 0)
		return VT_SNP_PRODUCT_UNKNOWN;
	return snp_product_from_name(cn + pl, strlen(cn + pl));
}

static void classify(X509 *x, const uint8_t *known_fp, snp_role *role, vt_snp_product *product)
{
	char cn[128], icn[128];
	*role = SNP_ROLE_OTHER;
	*product = VT_SNP_PRODUCT_UNKNOWN;
	bool has_cn = common_name(X509_get_subject_name(x), cn, sizeof(cn));
	bool has_icn = common_name(X509_get_issuer_name(x), icn, sizeof(icn));
	if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0) {
		uint8_t fp[32];
		struct vt_err scratch = {0};
		*role = SNP_ROLE_ARK;
		if (known_fp != NULL)
			*product = snp_pinned_ark_product(known_fp);
		else if (vt_x509_fingerprint_sha256(x, fp, &scratch) == VT_OK)
			*product = snp_pinned_ark_product(fp);
		return;
	}
	if (!has_cn || !has_icn)
		return;
	if (strcmp(cn, "SEV-VCEK") == 0) {
		*role = SNP_ROLE_VCEK;
		*product = suffix_product(icn, "SEV-");
		return;
	}
	if (strcmp(cn, "SEV-VLEK") == 0) {
		*role = SNP_ROLE_VLEK;
		*product = suffix_product(icn, "SEV-VLEK-");
		return;
	}
	vt_snp_product p = suffix_product(cn, "SEV-VLEK-");
	if (p != VT_SNP_PRODUCT_UNKNOWN && suffix_product(icn, "ARK-") == p) {
		*role = SNP_ROLE_ASVK;
		*product = p;
		return;
	}
	p = suffix_product(cn, "SEV-");
	if (p != VT_SNP_PRODUCT_UNKNOWN && suffix_product(icn, "ARK-") == p) {
		*role = SNP_ROLE_ASK;
		*product = p;
	}
}

/* ------------------------------------------------------------ the pool */

void snp_pool_free(struct snp_pool *pool)
{
	if (pool == NULL)
		return;
	for (size_t i = 0; i < pool->n; i++)
		X509_free(pool->certs[i].x509);
	for (size_t i = 0; i < pool->ncrl; i++)
		X509_CRL_free(pool->crls[i]);
	struct vt_cache_set *caches = pool->caches;
	memset(pool, 0, sizeof(*pool));
	pool->caches = caches;
}

/* Add with a known fingerprint and classification (from the parse cache). */
static vt_status pool_add_known(struct snp_pool *pool, X509 *x509, const uint8_t *fp, snp_role role,
				vt_snp_product product, const char *origin, struct vt_err *err)
{
	for (size_t i = 0; i < pool->n; i++) {
		const struct snp_cert *o = &pool->certs[i];
		bool same = fp != NULL && o->has_fp ? memcmp(o->fp, fp, 32) == 0 : X509_cmp(o->x509, x509) == 0;
		if (same) {
			X509_free(x509);
			return VT_OK;
		}
	}
	if (pool->n >= SNP_POOL_MAX) {
		X509_free(x509);
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, "certificates", "more than %d certificates supplied",
			       SNP_POOL_MAX);
	}
	struct snp_cert *c = &pool->certs[pool->n++];
	c->x509 = x509;
	c->origin = origin;
	c->role = role;
	c->product = product;
	c->has_fp = fp != NULL;
	if (fp != NULL)
		memcpy(c->fp, fp, 32);
	return VT_OK;
}

vt_status snp_pool_add_x509(struct snp_pool *pool, X509 *x509, const char *origin, struct vt_err *err)
{
	uint8_t fp[32];
	struct vt_err scratch = {0};
	bool has_fp = vt_x509_fingerprint_sha256(x509, fp, &scratch) == VT_OK;
	snp_role role;
	vt_snp_product product;
	classify(x509, has_fp ? fp : NULL, &role, &product);
	return pool_add_known(pool, x509, has_fp ? fp : NULL, role, product, origin, err);
}

bool snp_cert_fp(const struct snp_cert *c, uint8_t out[32])
{
	struct vt_err scratch = {0};
	if (c->has_fp) {
		memcpy(out, c->fp, 32);
		return true;
	}
	return vt_x509_fingerprint_sha256(c->x509, out, &scratch) == VT_OK;
}

/* Parsed VEK extensions by certificate fingerprint (a parse depends only on the DER). */
struct ext_entry {
	atomic_int refs;
	struct vt_snp_vek_ext ext;
};

static void ext_ref(void *o)
{
	atomic_fetch_add(&((struct ext_entry *)o)->refs, 1);
}

static void ext_release(void *o)
{
	struct ext_entry *e = o;
	if (e != NULL && atomic_fetch_sub(&e->refs, 1) == 1)
		free(e);
}

static const struct vt_cache_class ext_class = {
	.name = "snp.vek_ext", .capacity = 64, .ref = ext_ref, .release = ext_release};

vt_status snp_vek_ext_get(struct vt_cache_set *caches, const struct snp_cert *c, struct vt_snp_vek_ext *out,
			  struct vt_err *err)
{
	uint8_t fp[32];
	struct vt_cache *cache = vt_cache_of(caches, &ext_class);
	bool keyed = cache != NULL && snp_cert_fp(c, fp);
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, fp, 0, &hit)) {
		*out = ((struct ext_entry *)hit)->ext;
		ext_release(hit);
		return VT_OK;
	}
	vt_status rc = vt_snp_vek_ext_parse(c->x509, out, err);
	struct ext_entry *e = NULL;
	if (rc == VT_OK && keyed && (e = calloc(1, sizeof(*e))) != NULL) {
		atomic_init(&e->refs, 1);
		e->ext = *out;
		vt_cache_put(cache, fp, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, e);
		ext_release(e);
	}
	return rc;
}

static vt_status pool_add_crl(struct snp_pool *pool, X509_CRL *crl, struct vt_err *err)
{
	for (size_t i = 0; i < pool->ncrl; i++) {
		if (X509_CRL_cmp(pool->crls[i], crl) == 0 &&
		    X509_CRL_match(pool->crls[i], crl) == 0) {
			X509_CRL_free(crl);
			return VT_OK;
		}
	}
	if (pool->ncrl >= SNP_CRL_MAX) {
		X509_CRL_free(crl);
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, "crl", "more than %d CRLs supplied", SNP_CRL_MAX);
	}
	pool->crls[pool->ncrl++] = crl;
	return VT_OK;
}

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
	classify(x, it.has_fp ? it.fp : NULL, &it.role, &it.product);
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
			rc = pool_add_known(pool, it->x509, it->has_fp ? it->fp : NULL, it->role, it->product, origin, err);
		} else {
			X509_CRL_up_ref(pr->items[i].crl);
			rc = pool_add_crl(pool, pr->items[i].crl, err);
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
	return pool_add_known(pool, it->x509, it->has_fp ? it->fp : NULL, it->role, it->product, origin, err);
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
				rc = pool_add_crl(pool, c, err);
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
		return pool_add_crl(pool, crl, err);
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

static vt_status add_file(struct snp_pool *pool, const char *path, const char *origin, bool must, struct vt_err *err)
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

int snp_pool_find(const struct snp_pool *pool, snp_role role, vt_snp_product product)
{
	for (size_t i = 0; i < pool->n; i++)
		if (pool->certs[i].role == role && pool->certs[i].product == product)
			return (int)i;
	return -1;
}

int snp_pool_find_vek(const struct snp_pool *pool, const struct vt_snp_report *rep, vt_snp_product product,
		      bool *matches)
{
	unsigned signing = (rep->key_info >> 2) & 7u;
	snp_role want = signing == VT_SNP_SIGNING_KEY_VLEK ? SNP_ROLE_VLEK : SNP_ROLE_VCEK;
	int best = -1, best_score = -1;
	*matches = false;
	for (size_t i = 0; i < pool->n; i++) {
		const struct snp_cert *c = &pool->certs[i];
		if (c->role != SNP_ROLE_VCEK && c->role != SNP_ROLE_VLEK)
			continue;
		int score = 0;
		bool ok = false;
		if (c->role == want)
			score += 4;
		if (product == VT_SNP_PRODUCT_UNKNOWN || c->product == product)
			score += 2;
		struct vt_snp_vek_ext ext;
		struct vt_err scratch = {0};
		vt_snp_product p = product != VT_SNP_PRODUCT_UNKNOWN ? product : c->product;
		if (c->role == want && p != VT_SNP_PRODUCT_UNKNOWN && c->product == p &&
		    snp_vek_ext_get(pool->caches, c, &ext, &scratch) == VT_OK &&
		    snp_check_tcb(rep, p, &ext, c->role == SNP_ROLE_VLEK, &scratch) == VT_OK) {
			score += 8;
			ok = true;
		}
		if (score > best_score) {
			best = (int)i;
			best_score = score;
			*matches = ok;
		}
	}
	return best;
}

/* ------------------------------------------------------------ TCB check */

static vt_status spl_cmp(const char *name, bool has, uint8_t cert_value, uint8_t report_value, struct vt_err *err)
{
	char field[48];
	snprintf(field, sizeof(field), "reported_tcb.%s", name);
	if (!has)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, field, "the VEK certificate has no %s SPL extension",
			       name);
	if (cert_value != report_value)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, field,
			       "VEK certificate %s SPL %u != REPORTED_TCB %s %u (the certificate is for another TCB)",
			       name, cert_value, name, report_value);
	return VT_OK;
}

vt_status snp_check_tcb(const struct vt_snp_report *rep, vt_snp_product product, const struct vt_snp_vek_ext *ext,
			bool vek_is_vlek, struct vt_err *err)
{
	unsigned signing = (rep->key_info >> 2) & 7u;
	if (signing == VT_SNP_SIGNING_KEY_VCEK) {
		if (vek_is_vlek || !ext->has_hwid || ext->has_csp_id)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "signing_key",
				       "report is signed with a VCEK (signing_key 0) but the certificate is not a VCEK "
				       "(%s, hwID %s, cspId %s)", vek_is_vlek ? "SEV-VLEK" : "SEV-VCEK",
				       ext->has_hwid ? "present" : "absent", ext->has_csp_id ? "present" : "absent");
	} else if (signing == VT_SNP_SIGNING_KEY_VLEK) {
		if (!vek_is_vlek || !ext->has_csp_id || ext->has_hwid)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "signing_key",
				       "report is signed with a VLEK (signing_key 1) but the certificate is not a VLEK "
				       "(%s, hwID %s, cspId %s)", vek_is_vlek ? "SEV-VLEK" : "SEV-VCEK",
				       ext->has_hwid ? "present" : "absent", ext->has_csp_id ? "present" : "absent");
	} else {
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "signing_key", "signing_key %u is not VCEK or VLEK",
			       signing);
	}
	if (signing == VT_SNP_SIGNING_KEY_VCEK) {
		size_t want = product == VT_SNP_PRODUCT_TURIN ? 8 : 64;
		if (ext->hwid_size != want || memcmp(ext->hwid, rep->chip_id, want) != 0) {
			char *hc = vt_hex_encode(ext->hwid, ext->hwid_size <= sizeof(ext->hwid) ? ext->hwid_size : 0);
			char *hr = vt_hex_encode(rep->chip_id, want);
			vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "chip_id",
					       "VCEK hwID %s != report CHIP_ID %s (a VCEK of another chip)",
					       hc ? hc : "?", hr ? hr : "?");
			free(hc);
			free(hr);
			return rc;
		}
	}
	struct vt_snp_tcb t;
	vt_snp_tcb_decode(rep->reported_tcb, product, &t);
	vt_status rc = VT_OK;
	if (product == VT_SNP_PRODUCT_TURIN)
		rc = spl_cmp("fmc", ext->has_fmc, ext->fmc, t.fmc, err);
	if (rc == VT_OK)
		rc = spl_cmp("bootloader", ext->has_bl, ext->bl, t.bootloader, err);
	if (rc == VT_OK)
		rc = spl_cmp("tee", ext->has_tee, ext->tee, t.tee, err);
	if (rc == VT_OK)
		rc = spl_cmp("snp", ext->has_snp, ext->snp, t.snp, err);
	if (rc == VT_OK)
		rc = spl_cmp("microcode", ext->has_ucode, ext->ucode, t.microcode, err);
	return rc;
}

/* ------------------------------------------------------------ cache */

static size_t hwid_size(vt_snp_product p)
{
	return p == VT_SNP_PRODUCT_TURIN ? 8 : 64;
}

static char *vcek_dir(const char *cache_dir, vt_snp_product p, const struct vt_snp_report *rep)
{
	char *hex = vt_hex_encode(rep->chip_id, hwid_size(p));
	char *out = NULL;
	if (hex != NULL && asprintf(&out, "%s/amd/%s/vcek/%s", cache_dir, vt_snp_product_name(p), hex) < 0)
		out = NULL;
	free(hex);
	return out;
}

char *snp_cache_vcek_path(const char *cache_dir, vt_snp_product p, const struct vt_snp_report *rep)
{
	struct vt_snp_tcb t;
	vt_snp_tcb_decode(rep->reported_tcb, p, &t);
	char *dir = vcek_dir(cache_dir, p, rep);
	char *out = NULL;
	if (dir == NULL)
		return NULL;
	int r = p == VT_SNP_PRODUCT_TURIN
			? asprintf(&out, "%s/%u-%u-%u-%u-%u.der", dir, t.bootloader, t.tee, t.snp, t.microcode, t.fmc)
			: asprintf(&out, "%s/%u-%u-%u-%u.der", dir, t.bootloader, t.tee, t.snp, t.microcode);
	if (r < 0)
		out = NULL;
	free(dir);
	return out;
}

static char *product_file(const char *cache_dir, vt_snp_product p, const char *name)
{
	char *out = NULL;
	if (asprintf(&out, "%s/amd/%s/%s", cache_dir, vt_snp_product_name(p), name) < 0)
		return NULL;
	return out;
}

static bool crl_is_fresh(X509_CRL *crl, int64_t now)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	if (next == NULL)
		return true;
	time_t t = (time_t)now;
	return X509_cmp_time(next, &t) > 0;
}

vt_status snp_pool_add_cache(struct snp_pool *pool, const char *cache_dir, vt_snp_product product,
			     const struct vt_snp_report *rep, int64_t now, bool online, struct vt_err *err)
{
	static const char *const files[] = {"cert_chain.pem", "vlek_cert_chain.pem", "crl.der", "vlek_crl.der"};
	vt_status rc = VT_OK;
	char *vp = snp_cache_vcek_path(cache_dir, product, rep);
	if (vp == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cache", "out of memory");
	if (access(vp, F_OK) == 0)
		rc = add_file(pool, vp, "cache", false, err);
	free(vp);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && rc == VT_OK; i++) {
		char *path = product_file(cache_dir, product, files[i]);
		if (path == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cache", "out of memory");
		if (access(path, F_OK) == 0) {
			size_t before = pool->ncrl;
			rc = add_file(pool, path, "cache", false, err);
			/* A stale cached CRL is dropped when KDS can give a new one. */
			if (rc == VT_OK && online && pool->ncrl > before && !crl_is_fresh(pool->crls[pool->ncrl - 1], now)) {
				X509_CRL_free(pool->crls[--pool->ncrl]);
			}
		}
		free(path);
	}
	return rc;
}

/* mkdir -p of the directory part of `path`. */
static vt_status mkdirs_for(const char *path, struct vt_err *err)
{
	char *p = strdup(path);
	if (p == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cache", "out of memory");
	char *slash = strrchr(p, '/');
	if (slash != NULL && slash != p) {
		*slash = '\0';
		for (char *q = p + 1; *q; q++) {
			if (*q != '/')
				continue;
			*q = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST)
				goto fail;
			*q = '/';
		}
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			goto fail;
	}
	free(p);
	return VT_OK;
fail:;
	vt_status rc = vt_fail(err, VT_E_IO, VT_STEP_COLLATERAL, "cache", "cannot create %s: %s", p, strerror(errno));
	free(p);
	return rc;
}

static vt_status cache_write(const char *path, const uint8_t *p, size_t n, struct vt_err *err)
{
	vt_status rc = mkdirs_for(path, err);
	if (rc == VT_OK)
		rc = vt_file_write(path, p, n, 0644, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_IO)
		err->step = VT_STEP_COLLATERAL;
	return rc;
}

/* ------------------------------------------------------------ KDS */

#define KDS_DEFAULT "https://kdsintf.amd.com"
#define KDS_MAX_BODY (256u * 1024u)
#define KDS_ATTEMPT_TIMEOUT_MS 10000L

/* Fetch (through the gate), add to the pool, then cache.  A body the pool
 * cannot use counts as a failed fetch for the gate's negative cache. */
static vt_status fetch_into(struct snp_pool *pool, const struct vt_snp_sources *src, struct vt_fetch_ticket *ticket,
			    const char *url, const char *cache_path, bool optional, struct vt_err *err)
{
	struct vt_fetch_req req = {.url = url,
				   .what = "kds",
				   .max_body = KDS_MAX_BODY,
				   .attempt_timeout_ms = src->timeout_ms > 0 ? src->timeout_ms : KDS_ATTEMPT_TIMEOUT_MS,
				   .not_found_is_notfound = true};
	struct vt_fetch_resp resp;
	struct vt_err local = {0};
	vt_status rc = vt_fetch_get(ticket, &req, &resp, &local);
	if (rc == VT_E_NOTFOUND && optional)
		return VT_OK;
	if (rc != VT_OK)
		return vt_fail(err, local.code, local.step, local.field, "%s", local.detail);
	rc = snp_pool_add_bytes(pool, resp.body, resp.body_size, "kds", "kds", &local);
	if (rc != VT_OK) {
		struct vt_err bad = {0};
		vt_fail(&bad, VT_E_IO, VT_STEP_COLLATERAL, "kds", "GET %.200s: unusable response: %.250s", url,
			local.detail);
		if (rc == VT_E_PARSE) /* the body, not the pool (full, out of memory) */
			vt_fetch_gate_note_failure(ticket->gate, url, &bad);
		rc = vt_fail(err, bad.code, bad.step, bad.field, "%s", bad.detail);
	} else if (src->cache_dir != NULL && cache_path != NULL) {
		rc = cache_write(cache_path, resp.body, resp.body_size, err);
	}
	vt_fetch_resp_free(&resp);
	return rc;
}

vt_status snp_kds_fetch(struct snp_pool *pool, const struct vt_snp_sources *src, const char *client,
			vt_snp_product product, const struct vt_snp_report *rep, bool vlek, const struct snp_needs *needs,
			struct vt_err *err)
{
	struct vt_fetch_ticket ticket = {.gate = src->gate, .client = client, .http_get = src->http_get};
	const char *base = src->kds_url && src->kds_url[0] ? src->kds_url : KDS_DEFAULT;
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	const char *pname = vt_snp_product_name(product);
	const char *kind = vlek ? "vlek" : "vcek";
	vt_status rc = VT_OK;
	char *url = NULL, *path = NULL;

	if (product == VT_SNP_PRODUCT_UNKNOWN)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "product",
			       "cannot fetch from AMD KDS: the product is unknown (a version 2 report without a VCEK); "
			       "supply the certificates with --certs");
	if (needs->vlek)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "vlek",
			       "no VLEK certificate: AMD KDS gives VLEKs only to cloud providers; it must come with "
			       "the evidence or --certs");
	if (needs->vcek) {
		bool zero = true;
		for (size_t i = 0; i < hwid_size(product); i++)
			zero = zero && rep->chip_id[i] == 0;
		if (zero)
			return vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "chip_id",
				       "no VCEK and CHIP_ID is masked (all zero): the VCEK cannot be fetched by hwID");
		struct vt_snp_tcb t;
		vt_snp_tcb_decode(rep->reported_tcb, product, &t);
		char *hex = vt_hex_encode(rep->chip_id, hwid_size(product));
		int r = -1;
		if (hex != NULL)
			r = product == VT_SNP_PRODUCT_TURIN
				    ? asprintf(&url, "%.*s/vcek/v1/%s/%s?fmcSPL=%u&blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
					       (int)blen, base, pname, hex, t.fmc, t.bootloader, t.tee, t.snp, t.microcode)
				    : asprintf(&url, "%.*s/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
					       (int)blen, base, pname, hex, t.bootloader, t.tee, t.snp, t.microcode);
		free(hex);
		if (r < 0) {
			url = NULL;
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "kds", "out of memory");
		}
		path = src->cache_dir ? snp_cache_vcek_path(src->cache_dir, product, rep) : NULL;
		rc = fetch_into(pool, src, &ticket, url, path, false, err);
		free(url);
		free(path);
		url = path = NULL;
		if (rc != VT_OK)
			return rc;
	}
	if (needs->chain) {
		if (asprintf(&url, "%.*s/%s/v1/%s/cert_chain", (int)blen, base, kind, pname) < 0)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "kds", "out of memory");
		path = src->cache_dir ? product_file(src->cache_dir, product, vlek ? "vlek_cert_chain.pem" : "cert_chain.pem")
				      : NULL;
		rc = fetch_into(pool, src, &ticket, url, path, false, err);
		free(url);
		free(path);
		url = path = NULL;
		if (rc != VT_OK)
			return rc;
	}
	if (needs->crl) {
		if (asprintf(&url, "%.*s/%s/v1/%s/crl", (int)blen, base, kind, pname) < 0)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "kds", "out of memory");
		path = src->cache_dir ? product_file(src->cache_dir, product, vlek ? "vlek_crl.der" : "crl.der") : NULL;
		rc = fetch_into(pool, src, &ticket, url, path, true, err);
		free(url);
		free(path);
	}
	return rc;
}
