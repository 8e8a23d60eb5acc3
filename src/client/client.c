/* KBS client over libcurl: RCAR (auth -> attest -> resource). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "veritee/client.h"
#include "veritee/evidence.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/ratls.h"

#define MAX_RESPONSE (16u << 20)

struct http {
	CURL *curl;
	const char *url;
	const char *cacert;
	long timeout_ms;
	char cookie[VT_KBS_COOKIE_MAX]; /* session id from Set-Cookie */
	bool cookie_too_long;
	struct vt_buf body; /* last response body */
	bool ratls;                          /* verify the broker's RA-TLS certificate (ratls_opts) */
	struct vt_ratls_verify_opts ratls_opts;
	json_t *ratls_report;                /* the last RA-TLS verification's report */
};

/* Attested TLS: libcurl hands us its OpenSSL context before each handshake. */
static void keep_report(void *ctx, const json_t *report)
{
	struct http *h = ctx;
	json_decref(h->ratls_report);
	h->ratls_report = json_deep_copy(report);
}

static CURLcode ratls_ctx(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	struct http *h = arg;
	return vt_ratls_ssl_ctx_verify(ssl_ctx, &h->ratls_opts, 0, NULL) == VT_OK ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	struct vt_err e;
	if (vt_buf_append(&h->body, p, size * n, &e) != VT_OK)
		return 0; /* aborts the transfer */
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	size_t len = size * n;
	static const char name[] = "set-cookie:";
	if (len > sizeof(name) && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		const char *v = p + sizeof(name) - 1;
		const char *end = p + len;
		while (v < end && *v == ' ')
			v++;
		size_t cl = strlen(VT_KBS_COOKIE);
		if ((size_t)(end - v) > cl + 1 && strncmp(v, VT_KBS_COOKIE, cl) == 0 && v[cl] == '=') {
			v += cl + 1;
			size_t k = 0;
			while (v + k < end && v[k] != ';' && v[k] != '\r' && v[k] != '\n')
				k++;
			h->cookie_too_long = k >= sizeof(h->cookie);
			if (h->cookie_too_long)
				k = 0; /* refused below, never cut */
			memcpy(h->cookie, v, k);
			h->cookie[k] = '\0';
		}
	}
	return len;
}

static vt_status http_init(struct http *h, const char *url, const char *cacert, long timeout_ms, struct vt_err *err)
{
	memset(h, 0, sizeof(*h));
	h->url = url;
	h->cacert = cacert;
	h->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	vt_buf_init(&h->body, MAX_RESPONSE);
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "", "curl_easy_init failed");
	return VT_OK;
}

static void http_free(struct http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	vt_buf_free(&h->body);
	json_decref(h->ratls_report);
}

static vt_status http_do(struct http *h, const char *method, const char *path, const char *bearer, const void *body,
			 size_t body_size, const char *content_type, int *status, struct vt_err *err)
{
	CURL *c = h->curl;
	curl_easy_reset(c);
	h->body.len = 0;
	char url[2048];
	size_t ul = strlen(h->url);
	while (ul > 0 && h->url[ul - 1] == '/')
		ul--;
	if ((size_t)snprintf(url, sizeof(url), "%.*s%s", (int)ul, h->url, path) >= sizeof(url))
		return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "url", "URL too long");
	struct curl_slist *hdrs = NULL;
	char line[8192];
	if (content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (bearer) {
		if ((size_t)snprintf(line, sizeof(line), "Authorization: Bearer %s", bearer) >= sizeof(line))
			return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "token", "token too long for a header");
		hdrs = curl_slist_append(hdrs, line);
	}
	if (h->cookie[0]) {
		snprintf(line, sizeof(line), "%s=%s", VT_KBS_COOKIE, h->cookie);
		curl_easy_setopt(c, CURLOPT_COOKIE, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->ratls) {
		/* the certificate is checked by vt_ratls (its evidence), not by a CA or a host name */
		if (strncmp(url, "https://", 8) != 0)
			return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "url", "attested TLS needs an https:// URL");
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		if (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ratls_ctx) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, h) != CURLE_OK)
			return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "libcurl", "this libcurl has no OpenSSL context hook");
	} else if (h->cacert) {
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size);
	}
	CURLcode cr = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	if (cr != CURLE_OK && h->ratls && h->ratls_report != NULL &&
	    !json_is_true(json_object_get(h->ratls_report, "verified")))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "ratls",
			       "the broker's RA-TLS certificate was refused at step %s: %.400s",
			       vt_ratls_report_step(h->ratls_report),
			       json_string_value(json_object_get(h->ratls_report, "error")));
	if (cr != CURLE_OK)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "http", "%s %s: %s", method, path, curl_easy_strerror(cr));
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	*status = (int)code;
	struct vt_err e;
	if (vt_buf_nul_terminate(&h->body, &e) != VT_OK)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "", "out of memory");
	return VT_OK;
}

/* Fill `refusal` from a KBS ErrorInformation body. */
static vt_status refused(struct http *h, int status, const char *stage, struct vt_client_refusal *refusal,
			 struct vt_err *err)
{
	json_t *j = NULL;
	const char *type = "", *detail = (const char *)h->body.data;
	if (vt_json_parse((const char *)h->body.data, h->body.len, MAX_RESPONSE, &j, NULL) == VT_OK) {
		const char *t = json_string_value(json_object_get(j, "type"));
		const char *d = json_string_value(json_object_get(j, "detail"));
		if (t) {
			const char *slash = strrchr(t, '/');
			type = slash ? slash + 1 : t;
		}
		if (d)
			detail = d;
	}
	if (refusal) {
		refusal->http_status = status;
		snprintf(refusal->type, sizeof(refusal->type), "%s", type);
		snprintf(refusal->detail, sizeof(refusal->detail), "%s", detail ? detail : "");
		snprintf(refusal->stage, sizeof(refusal->stage), "%s", stage);
	}
	vt_status code = strcmp(type, "PolicyDeny") == 0 ? VT_E_POLICY : VT_E_REJECTED;
	vt_status rc = vt_fail(err, code, strcmp(type, "PolicyDeny") == 0 ? VT_STEP_POLICY : VT_STEP_NONE, stage,
			       "broker refused %s (HTTP %d %s): %.400s", stage, status, type, detail ? detail : "");
	json_decref(j);
	return rc;
}

/*
 * Device evidence for a composite round: each device attester binds the
 * device runtime data {"nonce", "tee-pubkey"}; the map's JSON text is the
 * additional_evidence ("" without devices), which the primary evidence
 * binds in turn.
 */
static vt_status gather_devices(const struct vt_client_opts *o, const EVP_MD *md, const json_t *jwk, const char *nonce,
				char **additional_out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	json_t *map = NULL;
	if (o->devices == NULL || json_object_size(o->devices) == 0) {
		*additional_out = strdup("");
		return *additional_out ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	uint8_t dd[64], rd[64] = {0};
	size_t dd_size = 0;
	VT_GUARD(vt_kbs_runtime_digest_md(md, jwk, nonce, NULL, NULL, dd, &dd_size, err));
	memcpy(rd, dd, dd_size);
	map = json_object();
	const char *name;
	json_t *opts;
	json_object_foreach((json_t *)o->devices, name, opts) {
		json_t *ev = NULL;
		rc = vt_attest_with(name, opts, rd, &ev, err);
		if (rc != VT_OK) {
			char ctx[64];
			snprintf(ctx, sizeof(ctx), "device %.32s", name);
			vt_err_context(err, ctx);
			goto out;
		}
		json_object_set_new(map, name, ev);
	}
	*additional_out = vt_json_compact(map);
	if (*additional_out == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
out:
	json_decref(map);
	return rc;
}

/* Does the attester of `tee` take option `name`? */
static bool attester_takes(const char *tee, const char *name)
{
	const struct vt_attester *a = vt_attester_find(tee);
	for (const struct vt_tee_option *op = a ? a->options : NULL; op && op->name; op++)
		if (strcmp(op->name, name) == 0)
			return true;
	return false;
}

/* The primary evidence; with init-data, an attester that simulates the
 * launch (an "init_data_digest" option) is told its digest. */
static vt_status attest_primary(const struct vt_client_opts *o, const uint8_t rd[64], struct vt_kbs_init_data *idata,
				json_t **evidence, struct vt_err *err)
{
	if (o->init_data == NULL || !attester_takes(o->tee, "init_data_digest"))
		return o->attest_options ? vt_attest_with(o->tee, o->attest_options, rd, evidence, err)
					 : vt_attest(o->tee, &o->attest, rd, evidence, err);
	json_t *init = json_pack("{s:s, s:s}", "format", "toml", "body", o->init_data);
	vt_status rc = init ? vt_kbs_init_data_parse(init, idata, err)
			    : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	json_decref(init);
	if (rc != VT_OK)
		return vt_err_context(err, "init-data");
	json_t *opts = o->attest_options ? json_deep_copy(o->attest_options) : vt_attest_opts_json(o->tee, &o->attest);
	size_t n = idata->digest_size < 48 ? idata->digest_size : 48;
	char *hex = vt_hex_encode(idata->digest, n);
	if (opts == NULL || hex == NULL) {
		free(hex);
		json_decref(opts);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	json_object_set_new(opts, "init_data_digest", json_string(hex));
	free(hex);
	rc = vt_attest_with(o->tee, opts, rd, evidence, err);
	json_decref(opts);
	return rc;
}

vt_status vt_client_get_resource(const struct vt_client_opts *o, const char *resource_path, struct vt_secret **secret_out,
				 char **token_out, struct vt_client_refusal *refusal, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct http h;
	json_t *req = NULL, *resp = NULL, *jwk = NULL, *evidence = NULL, *att = NULL, *jwe = NULL;
	EVP_PKEY *key = NULL;
	char *text = NULL, *token = NULL, *additional = NULL;
	struct vt_kbs_init_data idata = {0};
	int status = 0;
	if (refusal)
		memset(refusal, 0, sizeof(*refusal));
	if (!vt_kbs_resource_path_valid(resource_path))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "resource", "resource path must be repo/type/tag");
	VT_GUARD(http_init(&h, o->url, o->cacert, o->timeout_ms, err));
	if (o->ratls != NULL) {
		h.ratls = true;
		h.ratls_opts = *o->ratls;
		h.ratls_opts.on_report = keep_report;
		h.ratls_opts.report_ctx = &h;
	}

	/* 1. Request -> Challenge */
	req = json_pack("{s:s, s:s, s:{s:[ssss]}}", "version", VT_KBS_VERSION, "tee", o->tee, "extra-params",
			"supported-hash-algorithms", "sha256", "sha384", "sha512", "sm3");
	if (req && o->policy_selector)
		json_object_set_new(json_object_get(req, "extra-params"), "attestation-policy-selector",
				    json_string(o->policy_selector));
	text = vt_json_compact(req);
	VT_GUARD(http_do(&h, "POST", VT_KBS_PREFIX "/auth", NULL, text, strlen(text), "application/json", &status, err));
	if (status != 200) {
		rc = refused(&h, status, "auth", refusal, err);
		goto out;
	}
	const char *nonce;
	VT_GUARD(vt_json_parse((const char *)h.body.data, h.body.len, MAX_RESPONSE, &resp, err));
	VT_GUARD(vt_json_get_string(resp, "nonce", &nonce, err));
	if (h.cookie_too_long) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "Set-Cookie",
			     "broker's kbs-session-id cookie is longer than %d bytes", VT_KBS_COOKIE_MAX - 1);
		goto out;
	}
	if (h.cookie[0] == '\0') {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "Set-Cookie", "broker sent no kbs-session-id cookie");
		goto out;
	}

	/* 2. Ephemeral TEE key, bound with the nonce into the evidence. */
	VT_GUARD(vt_key_generate(o->rsa ? VT_KEY_RSA3072 : VT_KEY_P256, &key, err));
	jwk = vt_key_to_jwk(key, o->rsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW", false);
	if (jwk == NULL) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "tee-pubkey", "cannot export TEE key");
		goto out;
	}
	/* The challenge names the hash when it is not SHA-384 (IBM SE: sha512). */
	const char *alg = json_string_value(json_object_get(json_object_get(resp, "extra-params"), "selected-hash-algorithm"));
	const EVP_MD *md = vt_kbs_hash_md(alg ? alg : "sha384");
	if (md == NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "extra-params.selected-hash-algorithm",
			     "broker selected hash \"%.16s\", which this client does not implement", alg);
		goto out;
	}
	uint8_t digest[64], rd[64] = {0};
	size_t digest_size = 0;
	VT_GUARD(gather_devices(o, md, jwk, nonce, &additional, err));
	VT_GUARD(vt_kbs_runtime_digest_md(md, jwk, nonce, additional, NULL, digest, &digest_size, err));
	memcpy(rd, digest, digest_size);
	VT_GUARD(attest_primary(o, rd, &idata, &evidence, err));

	/* 3. Attestation -> token */
	att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
			"tee-evidence", "primary_evidence", evidence, "additional_evidence", additional);
	if (att && o->init_data)
		json_object_set_new(att, "init-data", json_pack("{s:s, s:s}", "format", "toml", "body", o->init_data));
	free(text);
	text = vt_json_compact(att);
	VT_GUARD(http_do(&h, "POST", VT_KBS_PREFIX "/attest", NULL, text, strlen(text), "application/json", &status, err));
	if (status != 200) {
		rc = refused(&h, status, "attest", refusal, err);
		goto out;
	}
	json_decref(resp);
	resp = NULL;
	const char *tok;
	VT_GUARD(vt_json_parse((const char *)h.body.data, h.body.len, MAX_RESPONSE, &resp, err));
	VT_GUARD(vt_json_get_string(resp, "token", &tok, err));
	token = strdup(tok);

	/* 4. Resource, with the session cookie; JWE addressed to our key. */
	char path[256];
	snprintf(path, sizeof(path), "%s/resource/%s", VT_KBS_PREFIX, resource_path);
	VT_GUARD(http_do(&h, "GET", path, NULL, NULL, 0, NULL, &status, err));
	if (status != 200) {
		rc = refused(&h, status, "resource", refusal, err);
		goto out;
	}
	VT_GUARD(vt_json_parse((const char *)h.body.data, h.body.len, MAX_RESPONSE, &jwe, err));
	VT_GUARD(vt_jwe_decrypt(key, jwe, secret_out, err));
	if (token_out) {
		*token_out = token;
		token = NULL;
	}
out:
	if (h.body.data)
		vt_wipe(h.body.data, h.body.len);
	http_free(&h);
	free(text);
	free(token);
	json_decref(req);
	json_decref(resp);
	json_decref(jwk);
	json_decref(evidence);
	json_decref(att);
	json_decref(jwe);
	EVP_PKEY_free(key);
	free(additional);
	vt_kbs_init_data_free(&idata);
	return rc;
}

vt_status vt_client_request(const char *url, const char *cacert, const char *method, const char *path,
			    const char *bearer, const void *body, size_t body_size, const char *content_type,
			    int *status_out, char **body_out, struct vt_err *err)
{
	struct http h;
	vt_status rc = http_init(&h, url, cacert, 0, err);
	if (rc == VT_OK)
		rc = http_do(&h, method, path, bearer, body, body_size, content_type, status_out, err);
	if (rc == VT_OK) {
		*body_out = strdup(h.body.data ? (const char *)h.body.data : "");
		if (*body_out == NULL)
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "", "out of memory");
	}
	http_free(&h);
	return rc;
}
