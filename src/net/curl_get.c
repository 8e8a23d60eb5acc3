/*
 * The libcurl transport of the collateral fetches (vt_http_get_fn,
 * veritee/fetch.h): one GET attempt with a capped body, capped header lines
 * and the captured response headers.  Retries, the deadline and the fetch
 * gate are the caller's (src/fetch/http.c, in libveritee-verifier).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "veritee/net.h"
#include "veritee/util.h"

#define HEADER_LINE_MAX ((size_t)64 << 10)
#define CONNECT_TIMEOUT_MS 10000L

struct state {
	const struct vt_http_get_req *req;
	struct vt_http_get_resp *resp;
	bool too_big, header_too_big, oom;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct state *s = ud;
	size_t n = size * nmemb;
	if (vt_buf_append(&s->resp->body, p, n, NULL) != VT_OK) {
		s->too_big = true;
		return 0;
	}
	return n;
}

/* "Name: value" (case-insensitive name) -> the trimmed value. */
static bool header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
	size_t k = strlen(name);
	if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
		return false;
	size_t b = k + 1, e = n;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	while (e > b && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	*val = line + b;
	*vlen = e - b;
	return true;
}

static void values_clear(struct vt_http_get_resp *r)
{
	for (int i = 0; i < VT_HTTP_CAPTURE_MAX; i++) {
		free(r->values[i]);
		r->values[i] = NULL;
	}
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct state *s = ud;
	size_t n = size * nmemb;
	const char *v;
	size_t vl;
	if (n > HEADER_LINE_MAX) {
		s->header_too_big = true;
		return 0;
	}
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (e.g. after 100 Continue) */
		values_clear(s->resp);
		return n;
	}
	for (int i = 0; i < VT_HTTP_CAPTURE_MAX; i++) {
		const char *name = s->req->capture[i];
		if (name != NULL && s->resp->values[i] == NULL && header_is(p, n, name, &v, &vl)) {
			s->resp->values[i] = strndup(v, vl);
			if (s->resp->values[i] == NULL) {
				s->oom = true;
				return 0;
			}
		}
	}
	return n;
}

vt_status vt_curl_http_get(const struct vt_http_get_req *req, struct vt_http_get_resp *resp, struct vt_err *err)
{
	if (req == NULL || req->url == NULL || resp == NULL || req->timeout_ms < 1)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	CURL *c = curl_easy_init();
	if (c == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "curl_easy_init failed");
	struct state s = {.req = req, .resp = resp};
	long timeout_ms = req->timeout_ms;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "veritee");
	CURLcode cr = curl_easy_perform(c);
	vt_status rc = VT_OK;
	if (s.oom)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	else if (s.too_big)
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "", "response larger than %zu bytes", req->max_body);
	else if (s.header_too_big)
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "", "a response header line is longer than %zu bytes",
			     HEADER_LINE_MAX);
	else if (cr == CURLE_OPERATION_TIMEDOUT)
		rc = vt_fail(err, VT_E_IO, VT_STEP_NONE, VT_FETCH_FIELD_TIMEOUT, "no complete answer within %ld ms",
			     timeout_ms);
	else if (cr != CURLE_OK)
		rc = vt_fail(err, VT_E_IO, VT_STEP_NONE, "", "%s", curl_easy_strerror(cr));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_cleanup(c);
	return rc;
}
