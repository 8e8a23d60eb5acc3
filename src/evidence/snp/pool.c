/*
 * SEV-SNP: the certificate pool of one verification (untrusted
 * certificates and CRLs, without duplicates), its lookups, and the VEK
 * extensions cached per certificate.  What fills it is in pool_load.c
 * (bytes, files, --certs), cache_dir.c and kds.c.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "evidence/snp/sources.h"
#include "crypto/cache.h"
#include "veritee/crypto.h"

/* ------------------------------------------------------------ adding */

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

vt_status snp_pool_add_known(struct snp_pool *pool, X509 *x509, const uint8_t *fp, snp_role role,
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
	snp_classify(x509, has_fp ? fp : NULL, &role, &product);
	return snp_pool_add_known(pool, x509, has_fp ? fp : NULL, role, product, origin, err);
}

vt_status snp_pool_add_crl(struct snp_pool *pool, X509_CRL *crl, struct vt_err *err)
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

bool snp_cert_fp(const struct snp_cert *c, uint8_t out[32])
{
	struct vt_err scratch = {0};
	if (c->has_fp) {
		memcpy(out, c->fp, 32);
		return true;
	}
	return vt_x509_fingerprint_sha256(c->x509, out, &scratch) == VT_OK;
}

/* ------------------------------------------------------------ lookups */

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

/* ------------------------------------------------------------ VEK extensions */

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
