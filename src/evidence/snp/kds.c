/*
 * SEV-SNP: the AMD Key Distribution Service client.  Every request goes
 * through src/fetch (the shared HTTP GET and the fetch gate); what comes
 * back is added to the pool, then written to the cache directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/snp/sources.h"
#include "fetch/fetch_internal.h"
#include "veritee/util.h"

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
		rc = snp_cache_write(cache_path, resp.body, resp.body_size, err);
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
		for (size_t i = 0; i < snp_hwid_size(product); i++)
			zero = zero && rep->chip_id[i] == 0;
		if (zero)
			return vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "chip_id",
				       "no VCEK and CHIP_ID is masked (all zero): the VCEK cannot be fetched by hwID");
		struct vt_snp_tcb t;
		vt_snp_tcb_decode(rep->reported_tcb, product, &t);
		char *hex = vt_hex_encode(rep->chip_id, snp_hwid_size(product));
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
		path = src->cache_dir ? snp_cache_product_file(src->cache_dir, product, vlek ? "vlek_cert_chain.pem" : "cert_chain.pem")
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
		path = src->cache_dir ? snp_cache_product_file(src->cache_dir, product, vlek ? "vlek_crl.der" : "crl.der") : NULL;
		rc = fetch_into(pool, src, &ticket, url, path, true, err);
		free(url);
		free(path);
	}
	return rc;
}
