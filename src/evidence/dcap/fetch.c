/*
 * DCAP collateral from Intel PCS or a PCCS (API v4), cached on disk while
 * its nextUpdate has not passed.  Everything a server returns is untrusted:
 * sizes are capped, CRLs are parsed by OpenSSL, the signed JSON is split
 * without re-serialisation, and the verifier checks every signature and
 * date afterwards (a wrong or stale item here fails verification there).
 * See fetch.h and shared/docs/formats/tdx-sgx-dcap.md §5.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/dcap/dcap_internal.h"
#include "evidence/dcap/fetch.h"
#include "fetch/fetch_internal.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define BODY_MAX ((size_t)4 << 20)
#define CACHE_FILE_MAX ((size_t)16 << 20)
#define HTTP_TIMEOUT_MS 30000L     /* per attempt; the fetch deadline caps the whole fetch */

enum kind { K_PCK_CRL, K_ROOT_CRL, K_TCB_INFO, K_QE_ID };

struct item {
	enum kind kind;
	const char *what;            /* "PCK CRL", ... for messages */
	char url[1024];
	char cache_name[96];
	const char *chain_header;    /* NULL: no issuer chain (root CA CRL) */
	const char *chain_header_alt;
	/* result */
	uint8_t *body;               /* CRL: DER; JSON: the response body (NUL-terminated) */
	size_t body_size;
	char *chain;                 /* PEM */
	int64_t next_update;
	char *value;                 /* JSON: exact text of the signed member */
	uint8_t sig[64];
};

static void item_clear(struct item *it)
{
	free(it->body);
	free(it->chain);
	free(it->value);
	it->body = NULL;
	it->chain = NULL;
	it->value = NULL;
	it->body_size = 0;
}

/* ------------------------------------------------------------ parsing */

static int64_t asn1_time_epoch(const ASN1_TIME *t, bool *ok)
{
	struct tm tm;
	*ok = t != NULL && ASN1_TIME_to_tm(t, &tm) == 1;
	return *ok ? (int64_t)timegm(&tm) : 0;
}

/* A CRL as DER, PEM or hex text -> DER (malloc'd) and its nextUpdate. */
static vt_status crl_normalise(const struct item *it, const uint8_t *p, size_t n, uint8_t **der_out,
			       size_t *der_size, int64_t *next_update, struct vt_err *err)
{
	X509_CRL *crl = NULL;
	uint8_t *hex = NULL;
	vt_status rc = VT_OK;
	*der_out = NULL;
	if (n > 0 && p[0] == 0x30) {
		const unsigned char *q = p;
		crl = d2i_X509_CRL(NULL, &q, (long)n);
		if (crl != NULL && q != p + n) {
			X509_CRL_free(crl);
			crl = NULL;
		}
	} else if (n >= 10 && memcmp(p, "-----BEGIN", 10) == 0) {
		BIO *b = BIO_new_mem_buf(p, (int)n);
		crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else {
		/* hex text, possibly quoted or followed by whitespace */
		size_t s = 0, e = n;
		while (s < e && (p[s] == '"' || p[s] == ' ' || p[s] == '\n' || p[s] == '\r'))
			s++;
		while (e > s && (p[e - 1] == '"' || p[e - 1] == ' ' || p[e - 1] == '\n' || p[e - 1] == '\r'))
			e--;
		char *txt = strndup((const char *)p + s, e - s);
		size_t hn = 0;
		if (txt != NULL && strlen(txt) == e - s && vt_hex_decode(txt, &hex, &hn, NULL) == VT_OK) {
			const unsigned char *q = hex;
			crl = d2i_X509_CRL(NULL, &q, (long)hn);
			if (crl != NULL && q != hex + hn) {
				X509_CRL_free(crl);
				crl = NULL;
			}
		}
		free(txt);
	}
	if (crl == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, it->what, "%s from %s is not a CRL (DER, PEM or hex)",
			     it->what, it->url);
		goto out;
	}
	bool ok;
	*next_update = asn1_time_epoch(X509_CRL_get0_nextUpdate(crl), &ok);
	if (!ok) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, it->what, "%s from %s has no nextUpdate", it->what,
			     it->url);
		goto out;
	}
	unsigned char *der = NULL;
	int dn = i2d_X509_CRL(crl, &der);
	if (dn <= 0) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_COLLATERAL, it->what, "cannot encode %s", it->what);
		goto out;
	}
	*der_out = malloc((size_t)dn);
	if (*der_out == NULL) {
		OPENSSL_free(der);
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	memcpy(*der_out, der, (size_t)dn);
	*der_size = (size_t)dn;
	OPENSSL_free(der);
out:
	X509_CRL_free(crl);
	free(hex);
	return rc;
}

/* Split a signed JSON body (the split cached in `caches`, may be NULL) and read the value's nextUpdate. */
static vt_status json_item(struct vt_cache_set *caches, struct item *it, struct vt_err *err)
{
	const char *member = it->kind == K_TCB_INFO ? "tcbInfo" : "enclaveIdentity";
	json_t *v = NULL;
	const char *nu;
	vt_status rc;
	free(it->value);
	it->value = NULL;
	VT_GUARD(dcap_signed_json_split_cached(caches, (const char *)it->body, it->body_size, member, &it->value,
					       it->sig, err));
	VT_GUARD(vt_json_parse(it->value, strlen(it->value), BODY_MAX, &v, err));
	VT_GUARD(vt_json_get_string(v, "nextUpdate", &nu, err));
	VT_GUARD(vt_time_parse_rfc3339(nu, &it->next_update, err));
out:
	json_decref(v);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE) {
		err->step = VT_STEP_COLLATERAL;
		char d[sizeof(err->detail)];
		snprintf(d, sizeof(d), "%s", err->detail);
		snprintf(err->detail, sizeof(err->detail), "%s from %.200s: %.280s", it->what, it->url, d);
	}
	return rc;
}

/* Turn fresh or cached body bytes into the item's result fields. */
static vt_status item_accept(const struct vt_dcap_sources *src, struct item *it, uint8_t *body, size_t n,
			     struct vt_err *err)
{
	if (it->kind == K_PCK_CRL || it->kind == K_ROOT_CRL) {
		uint8_t *der = NULL;
		size_t dn = 0;
		vt_status rc = crl_normalise(it, body, n, &der, &dn, &it->next_update, err);
		free(body);
		if (rc != VT_OK)
			return rc;
		free(it->body);
		it->body = der;
		it->body_size = dn;
		return VT_OK;
	}
	free(it->body);
	it->body = body;
	it->body_size = n;
	return json_item(src->caches, it, err);
}

/* ------------------------------------------------------------ HTTP */

/* Percent-decoding ('+' is kept: it is a base64 character in PEM). */
static char *url_decode(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n + 1), *w = o;
	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int a = i + 2 < n ? vt_hex_digit(s[i + 1]) : -1, b = i + 2 < n ? vt_hex_digit(s[i + 2]) : -1;
			if (a < 0 || b < 0) {
				free(o);
				return NULL;
			}
			char c = (char)(a * 16 + b);
			if (c == '\0') {
				free(o);
				return NULL;
			}
			*w++ = c;
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return o;
}

/* GET it->url through the gate; on success the body (NUL-terminated) and
 * the decoded issuer chain. */
static vt_status http_get(struct vt_fetch_ticket *t, const struct item *it, uint8_t **body, size_t *body_size,
			  char **chain, struct vt_err *err)
{
	struct vt_fetch_req req = {.url = it->url,
				   .what = it->what,
				   .max_body = BODY_MAX,
				   .attempt_timeout_ms = HTTP_TIMEOUT_MS,
				   .headers = {it->chain_header, it->chain_header_alt}};
	struct vt_fetch_resp resp;
	vt_status rc = vt_fetch_get(t, &req, &resp, err);
	if (rc != VT_OK)
		return rc;
	const char *enc = resp.headers[0] != NULL ? resp.headers[0] : resp.headers[1];
	if (it->chain_header != NULL) {
		struct vt_err bad = {0};
		if (enc == NULL) {
			vt_fail(&bad, VT_E_IO, VT_STEP_COLLATERAL, it->what, "GET %s: no %s header", it->url,
				it->chain_header);
		} else {
			*chain = url_decode(enc);
			if (*chain == NULL || strstr(*chain, "-----BEGIN CERTIFICATE-----") == NULL) {
				free(*chain);
				*chain = NULL;
				vt_fail(&bad, VT_E_PARSE, VT_STEP_COLLATERAL, it->what,
					"GET %s: the %s header is not URL-encoded PEM", it->url, it->chain_header);
			}
		}
		if (bad.code != VT_OK) {
			vt_fetch_gate_note_failure(t->gate, it->url, &bad);
			vt_fetch_resp_free(&resp);
			return vt_fail(err, bad.code, bad.step, bad.field, "%s", bad.detail);
		}
	}
	*body = resp.body;
	*body_size = resp.body_size;
	resp.body = NULL;
	vt_fetch_resp_free(&resp);
	return VT_OK;
}

/* ------------------------------------------------------------ cache */

static vt_status cache_path(const struct vt_dcap_sources *src, const struct item *it, bool make, char *out,
			    size_t size, struct vt_err *err)
{
	int n = snprintf(out, size, "%s/dcap", src->cache_dir);
	if (n < 0 || (size_t)n >= size)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "cache", "cache path too long");
	if (make) {
		(void)!mkdir(src->cache_dir, 0700);
		if (mkdir(out, 0700) != 0 && errno != EEXIST)
			return vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "cache", "cannot create %s: %s", out,
				       strerror(errno));
	}
	n = snprintf(out, size, "%s/dcap/%s", src->cache_dir, it->cache_name);
	if (n < 0 || (size_t)n >= size)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "cache", "cache path too long");
	return VT_OK;
}

/* Cached item: {"url", "issuer_chain": PEM|null, "body": std base64}.  A
 * missing or unusable file is simply "not cached" (returns false). */
static bool cache_load(const struct vt_dcap_sources *src, struct item *it)
{
	char path[PATH_MAX];
	uint8_t *text = NULL, *body = NULL;
	size_t n = 0, bn = 0;
	json_t *doc = NULL;
	bool ok = false;
	if (src->cache_dir == NULL || cache_path(src, it, false, path, sizeof(path), NULL) != VT_OK)
		return false;
	if (vt_file_read(path, CACHE_FILE_MAX, &text, &n, NULL) != VT_OK)
		return false;
	if (vt_json_parse((const char *)text, n, CACHE_FILE_MAX, &doc, NULL) != VT_OK)
		goto out;
	const char *b64 = json_string_value(json_object_get(doc, "body"));
	json_t *chain = json_object_get(doc, "issuer_chain");
	if (b64 == NULL || vt_b64_decode(b64, strlen(b64), &body, &bn, NULL) != VT_OK)
		goto out;
	if (it->chain_header != NULL && !json_is_string(chain))
		goto out;
	/* NUL-terminate for the JSON splitter */
	uint8_t *b2 = realloc(body, bn + 1);
	if (b2 == NULL)
		goto out;
	body = b2;
	body[bn] = 0;
	free(it->chain);
	it->chain = it->chain_header ? strdup(json_string_value(chain)) : NULL;
	if (it->chain_header && it->chain == NULL)
		goto out;
	ok = item_accept(src, it, body, bn, NULL) == VT_OK;
	body = NULL;
out:
	if (!ok)
		item_clear(it);
	free(body);
	free(text);
	json_decref(doc);
	return ok;
}

static void cache_store(const struct vt_dcap_sources *src, const struct item *it, int64_t now)
{
	char path[PATH_MAX];
	if (src->cache_dir == NULL || cache_path(src, it, true, path, sizeof(path), NULL) != VT_OK)
		return;
	char *b64 = vt_b64_encode(it->body, it->body_size);
	json_t *doc = b64 ? json_pack("{s:s, s:o, s:s, s:I}", "url", it->url, "issuer_chain",
				      it->chain ? json_string(it->chain) : json_null(), "body", b64, "stored_at",
				      (json_int_t)now)
			  : NULL;
	char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	if (text != NULL)
		(void)!vt_file_write(path, text, strlen(text), 0644, NULL);
	free(text);
	json_decref(doc);
	free(b64);
}

/* ------------------------------------------------------------ one item */

static bool within(int64_t now, int64_t next_update, int64_t grace)
{
	if (grace < 0)
		grace = 0;
	return now < next_update || (next_update <= INT64_MAX - grace && now <= next_update + grace);
}

static vt_status get_item(const struct vt_dcap_sources *src, struct vt_fetch_ticket *t, struct item *it, int64_t now,
			  struct vt_err *err)
{
	bool cached = cache_load(src, it);
	if (cached && now < it->next_update)
		return VT_OK;
	char when[32] = "";
	if (cached)
		vt_time_format_rfc3339(it->next_update, when, sizeof(when));
	if (src->offline) {
		if (cached && within(now, it->next_update, src->grace_seconds))
			return VT_OK; /* past nextUpdate but within the grace: the verifier flags it */
		if (cached) {
			item_clear(it);
			return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, it->what,
				       "offline: the cached %s (%s) expired at %s (nextUpdate) and the grace is %lld s",
				       it->what, it->url, when, (long long)src->grace_seconds);
		}
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_COLLATERAL, it->what,
			       "offline and no cached %s for %s%s", it->what, it->url,
			       src->cache_dir ? "" : " (no cache directory)");
	}

	uint8_t *body = NULL;
	size_t n = 0;
	char *chain = NULL;
	struct vt_err ferr;
	vt_err_clear(&ferr);
	vt_status rc = http_get(t, it, &body, &n, &chain, &ferr);
	if (rc == VT_OK) {
		struct item fresh = *it;
		fresh.body = NULL;
		fresh.value = NULL;
		fresh.chain = chain;
		rc = item_accept(src, &fresh, body, n, &ferr);
		if (rc == VT_OK) {
			item_clear(it);
			*it = fresh;
			cache_store(src, it, now);
			return VT_OK;
		}
		item_clear(&fresh);
		if (rc != VT_E_NOMEM)
			vt_fetch_gate_note_failure(t->gate, it->url, &ferr); /* an unusable body */
	}
	if (cached && within(now, it->next_update, src->grace_seconds))
		return VT_OK; /* the server failed; the cached copy is still within the grace */
	item_clear(it);
	if (err != NULL && err->code == VT_OK)
		*err = ferr;
	return rc;
}

/* ------------------------------------------------------------ entry */

static vt_status set_url(struct item *it, const char *fmt, ...) VT_PRINTF(2, 3);
static vt_status set_url(struct item *it, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(it->url, sizeof(it->url), fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= sizeof(it->url)) ? VT_E_USAGE : VT_OK;
}

/* The four items of one quote's collateral: URLs, cache names, headers. */
static vt_status items_init(const struct vt_dcap_sources *src, bool tdx, const uint8_t fmspc[6], const char *ca,
			    struct item items[4], struct vt_err *err)
{
	memset(items, 0, 4 * sizeof(items[0]));
	if (strcmp(ca, "platform") != 0 && strcmp(ca, "processor") != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "ca", "PCK CA \"%.16s\" is not platform or processor",
			       ca);
	const char *base = src->pccs_url && src->pccs_url[0] ? src->pccs_url : VT_DCAP_PCS_DEFAULT_URL;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (bl > 800)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pccs_url", "PCCS URL too long");
	const char *tee = tdx ? "tdx" : "sgx";
	char fm[13];
	snprintf(fm, sizeof(fm), "%02X%02X%02X%02X%02X%02X", fmspc[0], fmspc[1], fmspc[2], fmspc[3], fmspc[4],
		 fmspc[5]);

	items[0] = (struct item){.kind = K_PCK_CRL, .what = "PCK CRL", .chain_header = "SGX-PCK-CRL-Issuer-Chain"};
	items[1] = (struct item){.kind = K_ROOT_CRL, .what = "Root CA CRL"};
	items[2] = (struct item){.kind = K_TCB_INFO,
				 .what = "TCB Info",
				 .chain_header = "TCB-Info-Issuer-Chain",
				 .chain_header_alt = "SGX-TCB-Info-Issuer-Chain"};
	items[3] = (struct item){.kind = K_QE_ID, .what = "QE Identity", .chain_header = "SGX-Enclave-Identity-Issuer-Chain"};
	int bad = 0;
	bad |= set_url(&items[0], "%.*s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", (int)bl, base, ca);
	if (src->pccs_url && src->pccs_url[0])
		bad |= set_url(&items[1], "%.*s/sgx/certification/v4/rootcacrl", (int)bl, base);
	else
		bad |= set_url(&items[1], "%s", VT_DCAP_ROOT_CA_CRL_URL);
	bad |= set_url(&items[2], "%.*s/%s/certification/v4/tcb?fmspc=%s", (int)bl, base, tee, fm);
	bad |= set_url(&items[3], "%.*s/%s/certification/v4/qe/identity", (int)bl, base, tee);
	if (bad)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pccs_url", "PCCS URL too long");
	snprintf(items[0].cache_name, sizeof(items[0].cache_name), "pckcrl-%s.json", ca);
	snprintf(items[1].cache_name, sizeof(items[1].cache_name), "rootcacrl.json");
	snprintf(items[2].cache_name, sizeof(items[2].cache_name), "tcbinfo-%s-%s.json", tee, fm);
	snprintf(items[3].cache_name, sizeof(items[3].cache_name), "qeidentity-%s.json", tee);
	return VT_OK;
}

vt_status vt_dcap_fetch_collateral(const struct vt_dcap_sources *src, const char *client, bool tdx,
				   const uint8_t fmspc[6], const char *ca, int64_t now, struct vt_dcap_collateral *out,
				   struct vt_err *err)
{
	if (src == NULL || fmspc == NULL || ca == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	struct item items[4];
	vt_status rc0 = items_init(src, tdx, fmspc, ca, items, err);
	if (rc0 != VT_OK)
		return rc0;

	struct vt_fetch_ticket ticket = {.gate = src->gate, .client = client, .http_get = src->http_get};
	vt_status rc = VT_OK;
	for (int i = 0; i < 4 && rc == VT_OK; i++)
		rc = get_item(src, &ticket, &items[i], now, err);
	if (rc != VT_OK)
		goto out;

	out->pck_crl_issuer_chain = items[0].chain;
	out->pck_crl = items[0].body;
	out->pck_crl_size = items[0].body_size;
	items[0].chain = NULL;
	items[0].body = NULL;
	out->root_ca_crl = items[1].body;
	out->root_ca_crl_size = items[1].body_size;
	items[1].body = NULL;
	out->tcb_info_issuer_chain = items[2].chain;
	out->tcb_info = items[2].value;
	memcpy(out->tcb_info_signature, items[2].sig, 64);
	items[2].chain = NULL;
	items[2].value = NULL;
	out->qe_identity_issuer_chain = items[3].chain;
	out->qe_identity = items[3].value;
	memcpy(out->qe_identity_signature, items[3].sig, 64);
	items[3].chain = NULL;
	items[3].value = NULL;
out:
	for (int i = 0; i < 4; i++)
		item_clear(&items[i]);
	return rc;
}

vt_status vt_dcap_fetch_each(const struct vt_dcap_sources *src, bool tdx, const uint8_t fmspc[6], const char *ca,
			     int64_t now, vt_dcap_fetch_progress progress, void *ctx, struct vt_err *err)
{
	if (src == NULL || fmspc == NULL || ca == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct item items[4];
	vt_status rc = items_init(src, tdx, fmspc, ca, items, err);
	if (rc != VT_OK)
		return rc;
	struct vt_fetch_ticket ticket = {.gate = src->gate, .http_get = src->http_get};
	for (int i = 0; i < 4; i++) {
		struct vt_err e = {0};
		if (progress)
			progress(ctx, i, 4, items[i].what, items[i].url, NULL, NULL);
		vt_status r = get_item(src, &ticket, &items[i], now, &e);
		if (progress)
			progress(ctx, i, 4, items[i].what, items[i].url, &r, &e);
		if (r != VT_OK && rc == VT_OK)
			rc = vt_fail(err, e.code, e.step, e.field, "%s", e.detail);
		item_clear(&items[i]);
	}
	return rc;
}
