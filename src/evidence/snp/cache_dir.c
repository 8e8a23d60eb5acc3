/*
 * SEV-SNP: the cache directory (--cache): what it holds for a product is
 * added to the pool, and what KDS answered is written there.
 *
 * Cache layout (everything re-verified on every use):
 *   <cache>/amd/<Product>/cert_chain.pem        ASK + ARK   (KDS /vcek/v1/<P>/cert_chain)
 *   <cache>/amd/<Product>/vlek_cert_chain.pem   ASVK + ARK  (KDS /vlek/v1/<P>/cert_chain)
 *   <cache>/amd/<Product>/crl.der               (KDS /vcek/v1/<P>/crl)
 *   <cache>/amd/<Product>/vlek_crl.der          (KDS /vlek/v1/<P>/crl)
 *   <cache>/amd/<Product>/vcek/<hwid-hex>/<bl>-<tee>-<snp>-<ucode>[-<fmc>].der
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "evidence/snp/sources.h"
#include "veritee/util.h"

size_t snp_hwid_size(vt_snp_product p)
{
	return p == VT_SNP_PRODUCT_TURIN ? 8 : 64;
}

static char *vcek_dir(const char *cache_dir, vt_snp_product p, const struct vt_snp_report *rep)
{
	char *hex = vt_hex_encode(rep->chip_id, snp_hwid_size(p));
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

char *snp_cache_product_file(const char *cache_dir, vt_snp_product p, const char *name)
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
		rc = snp_pool_add_file(pool, vp, "cache", false, err);
	free(vp);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && rc == VT_OK; i++) {
		char *path = snp_cache_product_file(cache_dir, product, files[i]);
		if (path == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cache", "out of memory");
		if (access(path, F_OK) == 0) {
			size_t before = pool->ncrl;
			rc = snp_pool_add_file(pool, path, "cache", false, err);
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

vt_status snp_cache_write(const char *path, const uint8_t *p, size_t n, struct vt_err *err)
{
	vt_status rc = mkdirs_for(path, err);
	if (rc == VT_OK)
		rc = vt_file_write(path, p, n, 0644, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_IO)
		err->step = VT_STEP_COLLATERAL;
	return rc;
}
