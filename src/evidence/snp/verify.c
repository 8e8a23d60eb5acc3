/*
 * AMD SEV-SNP evidence verification (tee "snp").  Steps, in order:
 *   parse      evidence JSON (Trustee's {attestation_report, cert_chain} or
 *              veritee's {report, cert_table}) and the report itself;
 *   product    CPUID (v3+) or, for v2, the VCEK productName; fail closed;
 *   chain      VEK -> ASK/ASVK -> ARK, the ARK pinned by the SHA-256 of its
 *              DER, validity at ctx->now, the CRL (when one is available);
 *   tcb        VEK extensions == REPORTED_TCB, hwID == CHIP_ID, VCEK/VLEK
 *              matches SIGNING_KEY;
 *   signature  ECDSA P-384 / SHA-384 over bytes 0x000..0x29F;
 *   binding    REPORT_DATA == the expected bytes zero-padded to 64;
 *   claims     Trustee's names (snp) plus veritee extras.
 * Certificates come from the evidence, then ctx->snp (certs_path, AMD's
 * shipped ARK/ASK/ASVK with builtin_roots, cache, KDS); all of them are
 * untrusted until the chain check.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "crypto/cache.h"
#include "evidence/snp/sources.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/snp.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define SNP_MAX_B64 (4u * ((VT_SNP_REPORT_SIZE + 4u * SNP_CERT_MAX_BYTES + 2u) / 3u))
#define SNP_MAX_CHAIN_ENTRIES 16

/* ------------------------------------------------------------ parse */

static vt_status add_cert_table(struct snp_pool *pool, const uint8_t *table, size_t size, struct vt_err *err)
{
	struct vt_snp_cert_entry entries[VT_SNP_CERT_TABLE_MAX];
	size_t count = 0;
	vt_status rc = vt_snp_cert_table_parse(table, size, entries, &count, err);
	for (size_t i = 0; i < count && rc == VT_OK; i++) {
		if (entries[i].kind == VT_SNP_CERT_OTHER || entries[i].length == 0)
			continue; /* e.g. go-sev-guest's extra platform info */
		rc = snp_pool_add_bytes(pool, table + entries[i].offset, entries[i].length, "evidence", "cert_table",
					err);
	}
	return rc;
}

static vt_status b64_member(const json_t *ev, const char *key, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	json_t *v = json_object_get(ev, key);
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "member \"%s\" is not a string", key);
	size_t slen = json_string_length(v);
	if (slen > SNP_MAX_B64)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "%zu base64 characters, at most %u accepted", slen,
			       SNP_MAX_B64);
	vt_status rc = vt_b64_decode(json_string_value(v), slen, out, out_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "%s", key);
	return rc;
}

/* Trustee's cert_chain: [{"cert_type": "VCEK", "data": [bytes]}] or null. */
static vt_status add_cert_chain(struct snp_pool *pool, const json_t *chain, struct vt_err *err)
{
	if (chain == NULL || json_is_null(chain))
		return VT_OK;
	if (!json_is_array(chain))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cert_chain", "cert_chain is not an array or null");
	if (json_array_size(chain) > SNP_MAX_CHAIN_ENTRIES)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cert_chain", "%zu entries, at most %d accepted",
			       json_array_size(chain), SNP_MAX_CHAIN_ENTRIES);
	vt_status rc = VT_OK;
	size_t i;
	json_t *entry;
	json_array_foreach (chain, i, entry) {
		json_t *type = json_object_get(entry, "cert_type");
		json_t *data = json_object_get(entry, "data");
		if (!json_is_object(entry) || !json_is_string(type) || !json_is_array(data))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cert_chain",
				       "entry %zu is not {\"cert_type\": string, \"data\": [bytes]}", i);
		size_t n = json_array_size(data);
		if (n == 0 || n > SNP_CERT_MAX_BYTES)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cert_chain", "entry %zu holds %zu bytes", i, n);
		uint8_t *buf = malloc(n);
		if (buf == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cert_chain", "out of memory");
		for (size_t j = 0; j < n; j++) {
			json_t *b = json_array_get(data, j);
			json_int_t v = json_is_integer(b) ? json_integer_value(b) : -1;
			if (v < 0 || v > 255) {
				free(buf);
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cert_chain",
					       "entry %zu: data[%zu] is not a byte", i, j);
			}
			buf[j] = (uint8_t)v;
		}
		/* The certificate says what it is; cert_type is only a hint. */
		rc = snp_pool_add_bytes(pool, buf, n, "evidence", "cert_chain", err);
		free(buf);
		if (rc != VT_OK)
			return rc;
	}
	return rc;
}

static vt_status parse_evidence(const json_t *ev, uint8_t raw[VT_SNP_REPORT_SIZE], struct vt_snp_report *rep,
				struct snp_pool *pool, struct vt_err *err)
{
	if (!json_is_object(ev))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "snp evidence is not a JSON object");
	bool trustee = json_object_get(ev, "attestation_report") != NULL;
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)ev, key, value) {
		bool known = trustee ? (strcmp(key, "attestation_report") == 0 || strcmp(key, "cert_chain") == 0)
				     : (strcmp(key, "report") == 0 || strcmp(key, "cert_table") == 0);
		if (!known)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	vt_status rc;
	if (trustee) {
		json_t *ar = json_object_get(ev, "attestation_report");
		if (!json_is_object(ar))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "attestation_report", "not a JSON object");
		rc = vt_snp_report_from_json(ar, raw, err);
		if (rc == VT_OK)
			rc = vt_snp_report_parse(raw, VT_SNP_REPORT_SIZE, false, rep, err);
		if (rc == VT_OK)
			rc = add_cert_chain(pool, json_object_get(ev, "cert_chain"), err);
		return rc;
	}
	if (json_object_get(ev, "report") == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "neither \"attestation_report\" nor \"report\" is present");
	uint8_t *buf = NULL, *table = NULL;
	size_t n = 0, tn = 0;
	rc = b64_member(ev, "report", &buf, &n, err);
	if (rc == VT_OK)
		rc = vt_snp_report_parse(buf, n, true, rep, err);
	if (rc == VT_OK) {
		memcpy(raw, buf, VT_SNP_REPORT_SIZE);
		if (json_object_get(ev, "cert_table") != NULL) {
			if (n > VT_SNP_REPORT_SIZE)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cert_table",
					     "a certificate table both after the report and in \"cert_table\"");
			else
				rc = b64_member(ev, "cert_table", &table, &tn, err);
			if (rc == VT_OK && tn > 0)
				rc = add_cert_table(pool, table, tn, err);
		} else if (n > VT_SNP_REPORT_SIZE) {
			rc = add_cert_table(pool, buf + VT_SNP_REPORT_SIZE, n - VT_SNP_REPORT_SIZE, err);
		}
	}
	free(buf);
	free(table);
	return rc;
}

/* ------------------------------------------------------------ product */

/* "Milan-B0" / "Milan" -> MILAN; UNKNOWN otherwise. */
static vt_snp_product product_from_product_name(const char *name)
{
	const char *dash = strchr(name, '-');
	return snp_product_from_name(name, dash ? (size_t)(dash - name) : strlen(name));
}

/* ------------------------------------------------------------ chain */

static const char *depth_name(int depth, bool vlek)
{
	switch (depth) {
	case 0: return vlek ? "VLEK" : "VCEK";
	case 1: return vlek ? "ASVK" : "ASK";
	case 2: return "ARK";
	default: return "?";
	}
}

/*
 * Chains that verified, keyed by the SHA-256 of the VEK, ASK/ASVK and ARK
 * DER encodings (the ARK is one of the pinned roots: the pool only assigns
 * it a product through its pinned fingerprint) and the VLEK flag.  A hit
 * counts only while `now` lies inside all three certificates' validity
 * windows; failures are never remembered.
 */
static const struct vt_cache_class chain_class = {.name = "snp.chain", .capacity = 64};

static bool chain_key(const struct snp_cert *vek, const struct snp_cert *ca, const struct snp_cert *ark, bool vlek,
		      uint8_t key[32])
{
	uint8_t fp[3][32];
	uint8_t flag = vlek ? 1 : 0;
	struct vt_err scratch = {0};
	if (!snp_cert_fp(vek, fp[0]) || !snp_cert_fp(ca, fp[1]) || !snp_cert_fp(ark, fp[2]))
		return false;
	const void *parts[4] = {fp[0], fp[1], fp[2], &flag};
	size_t sizes[4] = {32, 32, 32, 1};
	return vt_cache_key(key, "snp-chain", 4, parts, sizes, &scratch) == VT_OK;
}

static vt_status verify_chain_uncached(X509 *vek, X509 *ca, X509 *ark, bool vlek, int64_t now, struct vt_err *err);

static vt_status verify_chain(struct vt_cache_set *caches, const struct snp_cert *vc, const struct snp_cert *cc,
			      const struct snp_cert *ac, bool vlek, int64_t now, struct vt_err *err)
{
	uint8_t key[32];
	X509 *vek = vc->x509, *ca = cc->x509, *ark = ac->x509;
	struct vt_cache *cache = vt_cache_of(caches, &chain_class);
	bool keyed = cache != NULL && chain_key(vc, cc, ac, vlek, key);
	if (keyed && vt_cache_get(cache, key, now, NULL))
		return VT_OK;
	vt_status rc = verify_chain_uncached(vek, ca, ark, vlek, now, err);
	int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO;
	if (rc == VT_OK && keyed && vt_x509_window_narrow(vek, &nb, &na) && vt_x509_window_narrow(ca, &nb, &na) &&
	    vt_x509_window_narrow(ark, &nb, &na) && now >= nb && now <= na)
		vt_cache_put(cache, key, nb, na, NULL);
	return rc;
}

static vt_status verify_chain_uncached(X509 *vek, X509 *ca, X509 *ark, bool vlek, int64_t now, struct vt_err *err)
{
	vt_status rc = VT_OK;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	if (store == NULL || ctx == NULL || untrusted == NULL || X509_STORE_add_cert(store, ark) != 1 ||
	    sk_X509_push(untrusted, ca) <= 0 || X509_STORE_CTX_init(ctx, store, vek, untrusted) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "chain", "X.509 store setup failed");
		goto out;
	}
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	/* Not X509_V_FLAG_X509_STRICT: AMD VEKs lack AKID/SKID and have serial 0.
	 * The ARK's own signature is checked too (it is pinned anyway). */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CHECK_SS_SIGNATURE);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		int depth = X509_STORE_CTX_get_error_depth(ctx);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate", "certificate chain: %s (%s, depth %d)",
			     X509_verify_cert_error_string(e), depth_name(depth, vlek), depth);
		ERR_clear_error();
		goto out;
	}
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	if (chain == NULL || sk_X509_num(chain) != 3 || X509_cmp(sk_X509_value(chain, 1), ca) != 0 ||
	    X509_cmp(sk_X509_value(chain, 2), ark) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate",
			     "certificate chain is not %s -> %s -> ARK", depth_name(0, vlek), depth_name(1, vlek));
		goto out;
	}
out:
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/*
 * CRL signatures that verified, keyed by the SHA-256 of the CRL's DER and of
 * the ARK's DER; a hit counts only while `now` lies inside the ARK's
 * validity and the CRL's thisUpdate..nextUpdate (without a nextUpdate: up
 * to the ARK's notAfter).  Checking the signature does not depend on time,
 * so a miss outside that window only costs a verification.
 */
static const struct vt_cache_class crl_sig_class = {.name = "snp.crl_signature", .capacity = 32};

static bool crl_signed_by(struct vt_cache_set *caches, X509_CRL *crl, const struct snp_cert *ac, EVP_PKEY *ark_key,
			  int64_t now)
{
	uint8_t cfp[32], afp[32], key[32];
	unsigned int cn = 32;
	struct vt_err scratch = {0};
	X509 *ark = ac->x509;
	struct vt_cache *cache = vt_cache_of(caches, &crl_sig_class);
	bool keyed = cache != NULL && X509_CRL_digest(crl, vt_md_sha256(), cfp, &cn) == 1 && cn == 32 &&
		     snp_cert_fp(ac, afp);
	if (keyed) {
		const void *parts[2] = {cfp, afp};
		size_t sizes[2] = {32, 32};
		keyed = vt_cache_key(key, "snp-crl-signature", 2, parts, sizes, &scratch) == VT_OK;
	}
	if (keyed && vt_cache_get(cache, key, now, NULL))
		return true;
	if (ark_key == NULL || X509_CRL_verify(crl, ark_key) != 1)
		return false;
	int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO, t;
	struct tm tm;
	const ASN1_TIME *last = X509_CRL_get0_lastUpdate(crl), *next = X509_CRL_get0_nextUpdate(crl);
	bool window = vt_x509_window_narrow(ark, &nb, &na) && last != NULL && ASN1_TIME_to_tm(last, &tm) == 1;
	if (window) {
		t = (int64_t)timegm(&tm);
		nb = t > nb ? t : nb;
	}
	if (window && next != NULL) {
		window = ASN1_TIME_to_tm(next, &tm) == 1;
		t = (int64_t)timegm(&tm);
		na = t < na ? t : na;
	}
	if (keyed && window && now >= nb && now <= na)
		vt_cache_put(cache, key, nb, na, NULL);
	return true;
}

/* Every CRL the ARK issued: signed by it, and the ASK/ASVK not listed. */
static vt_status check_crls(const struct snp_pool *pool, X509 *ca, const struct snp_cert *ac, int64_t now,
			    bool *checked, struct vt_err *err)
{
	X509 *ark = ac->x509;
	EVP_PKEY *ark_key = X509_get0_pubkey(ark);
	*checked = false;
	for (size_t i = 0; i < pool->ncrl; i++) {
		X509_CRL *crl = pool->crls[i];
		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ark)) != 0)
			continue; /* another product's CRL */
		if (!crl_signed_by(pool->caches, crl, ac, ark_key, now)) {
			ERR_clear_error();
			return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "crl", "the CRL is not signed by the ARK");
		}
		X509_REVOKED *rev = NULL;
		if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(ca)) == 1) {
			char cn[128] = "?";
			X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof(cn));
			return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "crl", "%s is revoked by the ARK's CRL", cn);
		}
		*checked = true;
	}
	return VT_OK;
}

/* Names of the CA certificates of other products in the pool, for messages. */
static void describe_cas(const struct snp_pool *pool, char *buf, size_t size)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < pool->n && off < size; i++) {
		const struct snp_cert *c = &pool->certs[i];
		if (c->role != SNP_ROLE_ARK && c->role != SNP_ROLE_ASK && c->role != SNP_ROLE_ASVK)
			continue;
		int w = snprintf(buf + off, size - off, "%s%s-%s", off ? ", " : "", snp_role_name(c->role),
				 c->product == VT_SNP_PRODUCT_UNKNOWN ? "unpinned" : vt_snp_product_name(c->product));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static bool pool_has_ca(const struct snp_pool *pool)
{
	for (size_t i = 0; i < pool->n; i++) {
		snp_role r = pool->certs[i].role;
		if (r == SNP_ROLE_ARK || r == SNP_ROLE_ASK || r == SNP_ROLE_ASVK)
			return true;
	}
	return false;
}

static bool pool_has_crl_for(const struct snp_pool *pool, vt_snp_product p)
{
	char want[32], cn[64];
	snprintf(want, sizeof(want), "ARK-%s", vt_snp_product_name(p));
	for (size_t i = 0; i < pool->ncrl; i++) {
		if (X509_NAME_get_text_by_NID(X509_CRL_get_issuer(pool->crls[i]), NID_commonName, cn, sizeof(cn)) > 0 &&
		    strcmp(cn, want) == 0)
			return true;
	}
	return false;
}

/* What is still missing for this report. */
static void compute_needs(const struct snp_pool *pool, const struct vt_snp_report *rep, vt_snp_product product,
			  bool want_crl, struct snp_needs *needs)
{
	bool vlek = ((rep->key_info >> 2) & 7u) == VT_SNP_SIGNING_KEY_VLEK;
	bool match = false;
	memset(needs, 0, sizeof(*needs));
	(void)snp_pool_find_vek(pool, rep, product, &match);
	needs->vcek = !vlek && !match;
	needs->vlek = vlek && !match;
	needs->chain = snp_pool_find(pool, SNP_ROLE_ARK, product) < 0 ||
		       snp_pool_find(pool, vlek ? SNP_ROLE_ASVK : SNP_ROLE_ASK, product) < 0;
	needs->crl = want_crl && product != VT_SNP_PRODUCT_UNKNOWN && !pool_has_crl_for(pool, product);
}

static bool needs_any(const struct snp_needs *n)
{
	return n->vcek || n->vlek || n->chain;
}

/* v2 reports: the product named by the best VEK's productName. */
static vt_snp_product product_from_pool(const struct snp_pool *pool, const struct vt_snp_report *rep, char *name,
					size_t name_size)
{
	bool match;
	int i = snp_pool_find_vek(pool, rep, VT_SNP_PRODUCT_UNKNOWN, &match);
	name[0] = '\0';
	if (i < 0)
		return VT_SNP_PRODUCT_UNKNOWN;
	struct vt_snp_vek_ext ext;
	struct vt_err scratch = {0};
	if (snp_vek_ext_get(pool->caches, &pool->certs[i], &ext, &scratch) != VT_OK)
		return VT_SNP_PRODUCT_UNKNOWN;
	snprintf(name, name_size, "%s", ext.product_name);
	return product_from_product_name(ext.product_name);
}

/* The SNP state of a verifier: its sources with owned strings. */
struct snp_state {
	struct vt_snp_sources src;
	char *certs, *cache, *kds;
};

/* The sources: the verifier's state, else the caller's ctx->snp. */
static const struct vt_snp_sources *snp_sources(const struct vt_verify_ctx *ctx)
{
	const struct snp_state *st = vt_verify_state(ctx, &vt_tee_snp);
	return st ? &st->src : ctx->snp;
}

/* Where this verification caches: the sources' set, else the verifier's, else nowhere. */
static struct vt_cache_set *snp_caches(const struct vt_verify_ctx *ctx)
{
	const struct vt_snp_sources *src = snp_sources(ctx);
	return src != NULL && src->caches != NULL ? src->caches : vt_verifier_caches(ctx->verifier);
}

/* Evidence, then certs_path, cache and KDS until nothing is missing. */
static vt_status gather(const struct vt_verify_ctx *ctx, const struct vt_snp_report *rep, struct snp_pool *pool,
			vt_snp_product *product, struct vt_err *err)
{
	const struct vt_snp_sources *src = snp_sources(ctx);
	bool online = src != NULL && !src->offline;
	struct snp_needs needs;
	vt_status rc = VT_OK;
	char pname[32] = "";

	compute_needs(pool, rep, *product, false, &needs);
	if (needs_any(&needs) && src != NULL && src->certs_path != NULL) {
		rc = snp_pool_add_path(pool, src->certs_path, err);
		if (rc != VT_OK)
			return rc;
	}
	if (*product == VT_SNP_PRODUCT_UNKNOWN && src != NULL && src->product != VT_SNP_PRODUCT_UNKNOWN)
		*product = src->product; /* --product: a version 2 report does not name it */
	if (*product == VT_SNP_PRODUCT_UNKNOWN)
		*product = product_from_pool(pool, rep, pname, sizeof(pname));
	compute_needs(pool, rep, *product, online, &needs);
	if (needs.chain && src != NULL && src->builtin_roots && *product != VT_SNP_PRODUCT_UNKNOWN) {
		rc = snp_pool_add_builtin(pool, *product, ((rep->key_info >> 2) & 7u) == VT_SNP_SIGNING_KEY_VLEK, err);
		if (rc != VT_OK)
			return rc;
		compute_needs(pool, rep, *product, online, &needs);
	}
	if ((needs_any(&needs) || needs.crl) && src != NULL && src->cache_dir != NULL) {
		if (*product != VT_SNP_PRODUCT_UNKNOWN) {
			rc = snp_pool_add_cache(pool, src->cache_dir, *product, rep, ctx->now, online, err);
		} else {
			static const vt_snp_product all[] = {VT_SNP_PRODUCT_MILAN, VT_SNP_PRODUCT_GENOA,
							     VT_SNP_PRODUCT_TURIN};
			for (size_t i = 0; i < 3 && rc == VT_OK; i++)
				rc = snp_pool_add_cache(pool, src->cache_dir, all[i], rep, ctx->now, online, err);
			*product = product_from_pool(pool, rep, pname, sizeof(pname));
		}
		if (rc == VT_OK && src->builtin_roots && *product != VT_SNP_PRODUCT_UNKNOWN) {
			compute_needs(pool, rep, *product, online, &needs);
			if (needs.chain)
				rc = snp_pool_add_builtin(pool, *product,
							  ((rep->key_info >> 2) & 7u) == VT_SNP_SIGNING_KEY_VLEK, err);
		}
		if (rc != VT_OK)
			return rc;
	}
	if (*product == VT_SNP_PRODUCT_UNKNOWN) {
		if (pname[0] != '\0')
			return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "product",
				       "unknown product: the VEK productName is \"%.31s\" (not Milan, Genoa or Turin)",
				       pname);
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "product",
			       "version %u report: the product is not in the report and no VCEK with a productName "
			       "was supplied (use --certs with the VCEK, or name it with --product)",
			       rep->version);
	}
	compute_needs(pool, rep, *product, online, &needs);
	if ((needs_any(&needs) || needs.crl) && online) {
		bool vlek = ((rep->key_info >> 2) & 7u) == VT_SNP_SIGNING_KEY_VLEK;
		rc = snp_kds_fetch(pool, src, ctx->client, *product, rep, vlek, &needs, err);
	}
	return rc;
}

/* ------------------------------------------------------------ signature */

static vt_status verify_signature(X509 *vek, const uint8_t raw[VT_SNP_REPORT_SIZE], const struct vt_snp_report *rep,
				  struct vt_err *err)
{
	bool zero = true;
	for (size_t i = 0; i < sizeof(rep->sig_r); i++)
		zero = zero && rep->sig_r[i] == 0 && rep->sig_s[i] == 0;
	if (zero)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "report.signature",
			       "the report is not signed (zero signature)");
	EVP_PKEY *pub = X509_get0_pubkey(vek);
	if (pub == NULL || vt_ec_coord_size(pub) != 48)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "vek", "the VEK key is not ECDSA P-384");
	uint8_t sig[96];
	vt_status rc = VT_OK;
	BIGNUM *r = BN_lebin2bn(rep->sig_r, (int)sizeof(rep->sig_r), NULL);
	BIGNUM *s = BN_lebin2bn(rep->sig_s, (int)sizeof(rep->sig_s), NULL);
	if (r == NULL || s == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CRYPTO, "report.signature", "out of memory");
	} else if (BN_num_bytes(r) > 48 || BN_num_bytes(s) > 48) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "report.signature",
			     "signature component longer than 48 bytes");
	} else if (BN_bn2binpad(r, sig, 48) != 48 || BN_bn2binpad(s, sig + 48, 48) != 48) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "report.signature", "cannot encode the signature");
	} else {
		rc = vt_ecdsa_verify_raw(pub, EVP_sha384(), raw, VT_SNP_SIGNED_SIZE, sig, sizeof(sig), err);
	}
	BN_free(r);
	BN_free(s);
	return rc;
}

/* ------------------------------------------------------------ binding */

static vt_status check_binding(const struct vt_snp_report *rep, const struct vt_binding *binding,
			       struct vt_err *err)
{
	if (binding == NULL || binding->report_data == NULL)
		return VT_OK;
	if (binding->report_data_size > sizeof(rep->report_data))
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "report.report_data",
			       "expected report data is %zu bytes, at most %zu fit", binding->report_data_size,
			       sizeof(rep->report_data));
	uint8_t want[sizeof(rep->report_data)];
	memset(want, 0, sizeof(want));
	if (binding->report_data_size > 0)
		memcpy(want, binding->report_data, binding->report_data_size);
	if (memcmp(want, rep->report_data, sizeof(want)) == 0) /* public values */
		return VT_OK;
	char *hw = vt_hex_encode(want, sizeof(want));
	char *hs = vt_hex_encode(rep->report_data, sizeof(rep->report_data));
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "report.report_data",
			       "report data does not match the expected binding: expected %s, seen %s", hw ? hw : "?",
			       hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

/* ------------------------------------------------------------ claims */

static bool put(json_t *c, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(c, key, v) == 0;
}

static bool put_hex(json_t *c, const char *key, const uint8_t *p, size_t n)
{
	char buf[2 * 64 + 1];
	if (n > 64) {
		char *h = vt_hex_encode(p, n);
		bool ok = h != NULL && put(c, key, json_string(h));
		free(h);
		return ok;
	}
	/* on the stack; lowercase hex needs no UTF-8 check */
	vt_hex_encode_to(p, n, buf);
	return put(c, key, json_stringn_nocheck(buf, 2 * n));
}

/* A raw u64 as "0x%016llx" (JSON integers do not hold every u64). */
static bool put_u64_hex(json_t *c, const char *name, const char *suffix, uint64_t v)
{
	char key[64], val[24];
	snprintf(key, sizeof(key), "%s%s", name, suffix);
	snprintf(val, sizeof(val), "0x%016llx", (unsigned long long)v);
	return put(c, key, json_string(val));
}

static bool put_tcb(json_t *c, const char *prefix, uint64_t raw, vt_snp_product product)
{
	struct vt_snp_tcb t;
	char key[64];
	bool ok = true;
	vt_snp_tcb_decode(raw, product, &t);
	static const char *const names[] = {"bootloader", "tee", "snp", "microcode", "fmc"};
	const uint8_t vals[] = {t.bootloader, t.tee, t.snp, t.microcode, t.fmc};
	size_t count = product == VT_SNP_PRODUCT_TURIN ? 5 : 4;
	for (size_t i = 0; i < count && ok; i++) {
		snprintf(key, sizeof(key), "%s_%s", prefix, names[i]);
		ok = put(c, key, json_integer(vals[i]));
	}
	return ok && put_u64_hex(c, prefix, "_raw", raw);
}

static vt_status make_claims(const struct vt_snp_report *rep, vt_snp_product product, bool vlek, bool crl_checked,
			     json_t **out, struct vt_err *err)
{
	json_t *c = json_object();
	uint64_t pol = rep->policy, pi = rep->platform_info;
	bool ok = c != NULL;
	/* Trustee's names (deps/verifier/src/snp) */
	ok = ok && put(c, "policy_abi_major", json_integer((json_int_t)((pol >> 8) & 0xff)));
	ok = ok && put(c, "policy_abi_minor", json_integer((json_int_t)(pol & 0xff)));
	ok = ok && put(c, "policy_smt_allowed", json_boolean(pol & (1ull << 16)));
	ok = ok && put(c, "policy_migrate_ma", json_boolean(pol & (1ull << 18)));
	ok = ok && put(c, "policy_debug_allowed", json_boolean(pol & (1ull << 19)));
	ok = ok && put(c, "policy_single_socket", json_boolean(pol & (1ull << 20)));
	ok = ok && put_tcb(c, "reported_tcb", rep->reported_tcb, product);
	ok = ok && put(c, "platform_tsme_enabled", json_boolean(pi & (1ull << 1)));
	ok = ok && put(c, "platform_smt_enabled", json_boolean(pi & (1ull << 0)));
	ok = ok && put_hex(c, "measurement", rep->measurement, sizeof(rep->measurement));
	ok = ok && put_hex(c, "chip_id", rep->chip_id, sizeof(rep->chip_id));
	ok = ok && put_hex(c, "report_data", rep->report_data, sizeof(rep->report_data));
	ok = ok && put_hex(c, "init_data", rep->host_data, sizeof(rep->host_data));
	/* veritee extras */
	ok = ok && put(c, "version", json_integer(rep->version));
	ok = ok && put(c, "product", json_string(vt_snp_product_name(product)));
	ok = ok && put(c, "signing_key", json_string(vlek ? "vlek" : "vcek"));
	ok = ok && put(c, "vmpl", json_integer(rep->vmpl));
	ok = ok && put(c, "guest_svn", json_integer(rep->guest_svn));
	ok = ok && put(c, "policy", json_integer((json_int_t)pol));
	ok = ok && put(c, "platform_info", json_integer((json_int_t)pi));
	ok = ok && put(c, "key_info", json_integer(rep->key_info));
	ok = ok && put(c, "author_key_en", json_boolean(rep->key_info & 1u));
	ok = ok && put(c, "mask_chip_key", json_boolean(rep->key_info & 2u));
	ok = ok && put_hex(c, "host_data", rep->host_data, sizeof(rep->host_data));
	ok = ok && put_hex(c, "id_key_digest", rep->id_key_digest, sizeof(rep->id_key_digest));
	ok = ok && put_hex(c, "author_key_digest", rep->author_key_digest, sizeof(rep->author_key_digest));
	ok = ok && put_hex(c, "family_id", rep->family_id, sizeof(rep->family_id));
	ok = ok && put_hex(c, "image_id", rep->image_id, sizeof(rep->image_id));
	ok = ok && put_hex(c, "report_id", rep->report_id, sizeof(rep->report_id));
	ok = ok && put_hex(c, "report_id_ma", rep->report_id_ma, sizeof(rep->report_id_ma));
	ok = ok && put_tcb(c, "current_tcb", rep->current_tcb, product);
	ok = ok && put_tcb(c, "committed_tcb", rep->committed_tcb, product);
	ok = ok && put_tcb(c, "launch_tcb", rep->launch_tcb, product);
	ok = ok && put(c, "current_build", json_integer(rep->current_build));
	ok = ok && put(c, "current_major", json_integer(rep->current_major));
	ok = ok && put(c, "current_minor", json_integer(rep->current_minor));
	ok = ok && put(c, "committed_build", json_integer(rep->committed_build));
	ok = ok && put(c, "committed_major", json_integer(rep->committed_major));
	ok = ok && put(c, "committed_minor", json_integer(rep->committed_minor));
	if (rep->version >= 3) {
		ok = ok && put(c, "cpuid_fam_id", json_integer(rep->cpuid_fam_id));
		ok = ok && put(c, "cpuid_mod_id", json_integer(rep->cpuid_mod_id));
		ok = ok && put(c, "cpuid_step", json_integer(rep->cpuid_step));
	}
	if (rep->version >= 5) {
		ok = ok && put_u64_hex(c, "launch_mit_vector", "", rep->launch_mit_vector);
		ok = ok && put_u64_hex(c, "current_mit_vector", "", rep->current_mit_vector);
	}
	ok = ok && put(c, "crl_checked", json_boolean(crl_checked));
	if (!ok) {
		json_decref(c);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "claims", "out of memory");
	}
	*out = c;
	return VT_OK;
}

/* ------------------------------------------------------------ verify */

static vt_status snp_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	uint8_t raw[VT_SNP_REPORT_SIZE];
	struct vt_snp_report rep;
	struct snp_pool pool;
	struct vt_snp_vek_ext ext;
	struct vt_err ext_err = {0};
	vt_status ext_rc;
	bool crl_checked = false;
	char found[256];

	memset(&pool, 0, sizeof(pool));
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	pool.caches = snp_caches(ctx);

	/* 1. parse */
	VT_GUARD(parse_evidence(evidence, raw, &rep, &pool, err));

	/* 2. product (v3+: CPUID; v2: the VCEK, once found) */
	vt_snp_product product = VT_SNP_PRODUCT_UNKNOWN;
	if (rep.version >= 3) {
		product = vt_snp_product_from_cpuid(rep.cpuid_fam_id, rep.cpuid_mod_id);
		if (product == VT_SNP_PRODUCT_UNKNOWN) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "report.cpuid",
				     "unknown product: CPUID family 0x%02x model 0x%02x has no pinned AMD root",
				     rep.cpuid_fam_id, rep.cpuid_mod_id);
			goto out;
		}
	}
	if (product != VT_SNP_PRODUCT_UNKNOWN && snp_sources(ctx) != NULL &&
	    snp_sources(ctx)->product != VT_SNP_PRODUCT_UNKNOWN && snp_sources(ctx)->product != product) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "product",
			     "the report names its product (CPUID family 0x%02x model 0x%02x: %s), not %s as --product says",
			     rep.cpuid_fam_id, rep.cpuid_mod_id, vt_snp_product_name(product),
			     vt_snp_product_name(snp_sources(ctx)->product));
		goto out;
	}
	VT_GUARD(gather(ctx, &rep, &pool, &product, err));

	/* 3. chain */
	bool match = false;
	int vi = snp_pool_find_vek(&pool, &rep, product, &match);
	if (vi < 0) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "vek",
			     "no %s certificate for this report (looked in: the evidence%s%s%s)",
			     ((rep.key_info >> 2) & 7u) == VT_SNP_SIGNING_KEY_VLEK ? "VLEK" : "VCEK",
			     snp_sources(ctx) && snp_sources(ctx)->certs_path ? ", --certs" : "",
			     snp_sources(ctx) && snp_sources(ctx)->cache_dir ? ", the cache" : "",
			     snp_sources(ctx) == NULL ? "; no other source configured"
			     : snp_sources(ctx)->offline ? "; offline, AMD KDS not asked" : ", AMD KDS");
		goto out;
	}
	const struct snp_cert *vek = &pool.certs[vi];
	bool vlek = vek->role == SNP_ROLE_VLEK;
	snp_role ca_role = vlek ? SNP_ROLE_ASVK : SNP_ROLE_ASK;
	ext_rc = snp_vek_ext_get(pool.caches, vek, &ext, &ext_err);
	if (vek->product != product) {
		char icn[128] = "?";
		X509_NAME_get_text_by_NID(X509_get_issuer_name(vek->x509), NID_commonName, icn, sizeof(icn));
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "vek", "the %s is issued by \"%s\" but the report is from %s",
			     snp_role_name(vek->role), icn, vt_snp_product_name(product));
		goto out;
	}
	int ai = snp_pool_find(&pool, SNP_ROLE_ARK, product);
	int ci = snp_pool_find(&pool, ca_role, product);
	if (ai < 0 || ci < 0) {
		const char *what = ai < 0 ? "ARK" : snp_role_name(ca_role);
		if (pool_has_ca(&pool)) {
			describe_cas(&pool, found, sizeof(found));
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate",
				     "no %s-%s (pinned) among the supplied certificates; found: %s", what,
				     vt_snp_product_name(product), found);
		} else {
			rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, "certificate",
				     "no %s-%s certificate available%s", what, vt_snp_product_name(product),
				     snp_sources(ctx) == NULL || snp_sources(ctx)->offline ? " (offline: AMD KDS not asked)" : "");
		}
		goto out;
	}
	X509 *ca = pool.certs[ci].x509;
	VT_GUARD(verify_chain(pool.caches, vek, &pool.certs[ci], &pool.certs[ai], vlek, ctx->now, err));
	if (ext_rc == VT_OK && ext.product_name[0] != '\0' &&
	    product_from_product_name(ext.product_name) != product) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "vek.productName",
			     "the %s productName \"%.31s\" is not %s", snp_role_name(vek->role), ext.product_name,
			     vt_snp_product_name(product));
		goto out;
	}
	VT_GUARD(check_crls(&pool, ca, &pool.certs[ai], ctx->now, &crl_checked, err));

	/* 4. tcb */
	if (ext_rc != VT_OK) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, ext_err.field, "unreadable AMD extension: %s",
			     ext_err.detail);
		goto out;
	}
	VT_GUARD(snp_check_tcb(&rep, product, &ext, vlek, err));

	/* 5. signature */
	VT_GUARD(verify_signature(vek->x509, raw, &rep, err));

	/* 6. binding */
	VT_GUARD(check_binding(&rep, binding, err));

	/* 7. claims */
	VT_GUARD(make_claims(&rep, product, vlek, crl_checked, claims_out, err));
out:
	snp_pool_free(&pool);
	return rc;
}

/* ------------------------------------------------------------ load_file */

static vt_status report_json(const uint8_t *p, size_t n, json_t **out, struct vt_err *err)
{
	char *b = vt_b64_encode(p, n);
	json_t *o = b ? json_pack("{s:s}", "report", b) : NULL;
	free(b);
	if (o == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	*out = o;
	return VT_OK;
}

static vt_status load_binary(const uint8_t *p, size_t n, json_t **out, struct vt_err *err)
{
	static const uint8_t hcla[4] = {'H', 'C', 'L', 'A'};
	if (n >= 0x20 + VT_SNP_REPORT_SIZE && memcmp(p, hcla, 4) == 0)
		return report_json(p + 0x20, VT_SNP_REPORT_SIZE, out, err); /* Azure HCL report */
	if (n < VT_SNP_REPORT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report", "%zu bytes, a report is %u", n,
			       VT_SNP_REPORT_SIZE);
	if (n > VT_SNP_REPORT_SIZE) {
		struct vt_snp_cert_entry entries[VT_SNP_CERT_TABLE_MAX];
		size_t count = 0;
		struct vt_err scratch = {0};
		if (vt_snp_cert_table_parse(p + VT_SNP_REPORT_SIZE, n - VT_SNP_REPORT_SIZE, entries, &count, &scratch) !=
			    VT_OK ||
		    count == 0)
			n = VT_SNP_REPORT_SIZE; /* not a certificate table (e.g. an HCL trailer): ignored */
	}
	return report_json(p, n, out, err);
}

static vt_status snp_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	size_t i = 0;
	while (i < size && isspace(bytes[i]))
		i++;
	if (i < size && bytes[i] == '{')
		return vt_json_parse((const char *)bytes, size, 16u << 20, evidence_out, err);
	/* hex text? */
	size_t hex_digits = 0;
	bool is_hex = size > 0;
	for (size_t j = 0; j < size && is_hex; j++) {
		if (isxdigit(bytes[j]))
			hex_digits++;
		else if (!isspace(bytes[j]))
			is_hex = false;
	}
	if (is_hex && hex_digits >= 2 * VT_SNP_REPORT_SIZE) {
		char *s = malloc(hex_digits + 1);
		if (s == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		size_t k = 0;
		for (size_t j = 0; j < size; j++)
			if (isxdigit(bytes[j]))
				s[k++] = (char)bytes[j];
		s[k] = '\0';
		uint8_t *bin = NULL;
		size_t bn = 0;
		vt_status rc = vt_hex_decode(s, &bin, &bn, err);
		free(s);
		if (rc == VT_OK)
			rc = load_binary(bin, bn, evidence_out, err);
		free(bin);
		return rc;
	}
	return load_binary(bytes, size, evidence_out, err);
}

static void snp_state_free(void *state)
{
	struct snp_state *st = state;
	if (st == NULL)
		return;
	free(st->certs);
	free(st->cache);
	free(st->kds);
	free(st);
}

static vt_status snp_state_new(const struct vt_verifier *v, const json_t *o, void **state, struct vt_err *err)
{
	struct snp_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	st->certs = vt_tee_opt_dup(o, "certs");
	st->cache = vt_tee_opt_dup(o, "cache");
	st->kds = vt_tee_opt_dup(o, "kds_url");
	if (st->kds && strncmp(st->kds, "http", 4) != 0) {
		snp_state_free(st);
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "kds_url", "kds_url must be an http(s) URL");
	}
	st->src.certs_path = st->certs;
	st->src.cache_dir = st->cache;
	st->src.kds_url = st->kds;
	st->src.offline = vt_tee_opt_flag(o, "offline");
	st->src.builtin_roots = true;
	const char *pn = vt_tee_opt_str(o, "product");
	if (pn != NULL) {
		st->src.product = snp_product_from_name(pn, strlen(pn));
		if (st->src.product == VT_SNP_PRODUCT_UNKNOWN) {
			snp_state_free(st);
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "product",
				       "product must be Milan, Genoa or Turin, not \"%.32s\"", pn);
		}
	}
	st->src.gate = vt_verifier_fetch_gate(v);
	st->src.http_get = vt_verifier_http_get(v);
	st->src.caches = vt_verifier_caches(v);
	*state = st;
	return VT_OK;
}

static const struct vt_tee_option snp_options[] = {
	{"certs", "FILE|DIR", true,
	 "PEM/DER certificates (VCEK/VLEK, ASK/ASVK, ARK, CRL); only an ARK with a pinned fingerprint is trusted"},
	{"cache", "DIR", true, "certificates fetched before (<DIR>/amd/<Product>/...); what is fetched goes there"},
	{"kds_url", "URL", false, "AMD KDS base URL (default https://kdsintf.amd.com)"},
	{"offline", NULL, false, "never contact AMD KDS"},
	{"product", "NAME", false,
	 "Milan, Genoa or Turin, for a version 2 report (which does not name it) without its VCEK"},
	{NULL, NULL, false, NULL},
};

/* Trustee's default_cpu branch for snp, declaratively: the verifier
 * passing gives hardware 2, and any reported TCB component outside its
 * reference values takes it back to 97; executables 3 when the launch
 * measurement is a reference value; configuration 3 unless debug, a
 * migration agent or a VMPL other than 0 is allowed (96). */
static const char snp_policy[] =
	"{\"version\":1,\"id\":\"default_snp\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"snp-report-verified\",\"claim\":\"/snp/chip_id\",\"exists\":true,\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"tcb-bootloader\",\"claim\":\"/snp/reported_tcb_bootloader\",\"in_reference\":\"snp_bootloader\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"tcb-tee\",\"claim\":\"/snp/reported_tcb_tee\",\"in_reference\":\"snp_tee_svn\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"tcb-snp\",\"claim\":\"/snp/reported_tcb_snp\",\"in_reference\":\"snp_snp_svn\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"tcb-microcode\",\"claim\":\"/snp/reported_tcb_microcode\",\"in_reference\":\"snp_microcode\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"launch-measurement\",\"claim\":\"/snp/measurement\",\"in_reference\":\"snp_launch_measurement\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"debug-disabled\",\"claim\":\"/snp/policy_debug_allowed\",\"equals\":false,"
	"\"on_pass\":{\"configuration\":3},\"on_fail\":{\"configuration\":96}},"
	"{\"name\":\"no-migration-agent\",\"claim\":\"/snp/policy_migrate_ma\",\"equals\":false,"
	"\"on_fail\":{\"configuration\":96}},"
	"{\"name\":\"vmpl-0\",\"claim\":\"/snp/vmpl\",\"equals\":0,\"on_fail\":{\"configuration\":96}}"
	"]}";

const struct vt_tee vt_tee_snp = {
	.name = "snp",
	.summary = "AMD SEV-SNP report: Trustee's JSON, the raw 1184-byte report (optionally with its certificate "
		   "table), hex text, or an Azure HCL report",
	.default_policy = snp_policy,
	.options = snp_options,
	.state_new = snp_state_new,
	.state_free = snp_state_free,
	.verify = snp_verify,
	.load_file = snp_load_file,
	.init_data = VT_INIT_DATA_PAD,
};

