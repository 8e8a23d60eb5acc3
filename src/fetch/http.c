/*
 * The one HTTP GET of the collateral fetchers (fetch_internal.h): libcurl,
 * capped body and header lines, HTTP 429 retries, and a deadline that
 * covers every attempt and every wait.  The gate admits the fetch first and
 * remembers its failures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "fetch/fetch_internal.h"
#include "veritee/util.h"

#define HEADER_LINE_MAX ((size_t)64 << 10)
#define CONNECT_TIMEOUT_MS 10000L
#define RETRY_WAIT_MAX_S 5L

struct state {
	const struct vt_fetch_req *req;
	struct vt_buf body;
	char *headers[2];
	long retry_after;    /* seconds, -1: none */
	bool too_big, header_too_big, oom;
};

static void state_reset(struct state *s)
{
	vt_buf_free(&s->body);
	vt_buf_init(&s->body, s->req->max_body);
	for (int i = 0; i < 2; i++) {
		free(s->headers[i]);
		s->headers[i] = NULL;
	}
	s->retry_after = -1;
	s->too_big = s->header_too_big = s->oom = false;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct state *s = ud;
	size_t n = size * nmemb;
	if (vt_buf_append(&s->body, p, n, NULL) != VT_OK) {
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
		for (int i = 0; i < 2; i++) {
			free(s->headers[i]);
			s->headers[i] = NULL;
		}
		s->retry_after = -1;
		return n;
	}
	for (int i = 0; i < 2; i++) {
		if (s->req->headers[i] != NULL && s->headers[i] == NULL && header_is(p, n, s->req->headers[i], &v, &vl)) {
			s->headers[i] = strndup(v, vl);
			if (s->headers[i] == NULL) {
				s->oom = true;
				return 0;
			}
			return n;
		}
	}
	if (header_is(p, n, "Retry-After", &v, &vl)) {
		/* delta-seconds; an HTTP date is not parsed (the default backoff applies) */
		long secs = 0;
		size_t i = 0;
		for (; i < vl && v[i] >= '0' && v[i] <= '9' && secs < 1000000; i++)
			secs = secs * 10 + (v[i] - '0');
		s->retry_after = i > 0 && i == vl ? secs : -1;
	}
	return n;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One attempt; the response code in *code (0 when there was none). */
static CURLcode attempt(CURL *c, struct state *s, long timeout_ms, long *code)
{
	state_reset(s);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, s->req->url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "veritee");
	CURLcode cr = curl_easy_perform(c);
	*code = 0;
	if (cr == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	return cr;
}

/* The network part: every failure goes to `ferr` (step collateral). */
static vt_status get(const struct vt_fetch_req *req, int64_t deadline, long total_ms, struct state *s,
		     struct vt_err *ferr)
{
	const char *url = req->url, *what = req->what;
	CURL *c = curl_easy_init();
	if (c == NULL)
		return vt_fail(ferr, VT_E_NOMEM, VT_STEP_COLLATERAL, what, "curl_easy_init failed");
	vt_status rc = VT_OK;
	for (int n = 0;; n++) {
		int64_t left = deadline - vt_fetch_mono_ms();
		if (left <= 0) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, VT_FETCH_FIELD_TIMEOUT,
				     "GET %s (%s): no answer within the %ld ms fetch deadline", url, what, total_ms);
			break;
		}
		long per = (long)left;
		if (req->attempt_timeout_ms > 0 && req->attempt_timeout_ms < left)
			per = req->attempt_timeout_ms;
		long code = 0;
		CURLcode cr = attempt(c, s, per, &code);
		if (s->oom) {
			rc = vt_fail(ferr, VT_E_NOMEM, VT_STEP_COLLATERAL, what, "out of memory");
		} else if (s->too_big) {
			rc = vt_fail(ferr, VT_E_LIMIT, VT_STEP_COLLATERAL, what, "GET %s: response larger than %zu bytes",
				     url, req->max_body);
		} else if (s->header_too_big) {
			rc = vt_fail(ferr, VT_E_LIMIT, VT_STEP_COLLATERAL, what,
				     "GET %s: a response header line is longer than %zu bytes", url, HEADER_LINE_MAX);
		} else if (cr == CURLE_OPERATION_TIMEDOUT) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, VT_FETCH_FIELD_TIMEOUT,
				     "GET %s (%s): no complete answer within %ld ms (%s)", url, what, per,
				     per == left ? "the fetch deadline" : "the per-request timeout");
		} else if (cr != CURLE_OK) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, what, "GET %s: %s", url, curl_easy_strerror(cr));
		} else if (code == 429 && n < VT_FETCH_RETRIES_429) {
			long wait = s->retry_after >= 0 ? s->retry_after : 1L << n;
			if (wait > RETRY_WAIT_MAX_S)
				wait = RETRY_WAIT_MAX_S;
			if (wait * 1000 >= deadline - vt_fetch_mono_ms()) {
				rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, what,
					     "GET %s: HTTP 429 (rate limited; waiting %ld s would pass the %ld ms fetch "
					     "deadline)", url, wait, total_ms);
				break;
			}
			sleep_ms(wait * 1000);
			continue;
		} else if (code == 404) {
			rc = vt_fail(ferr, req->not_found_is_notfound ? VT_E_NOTFOUND : VT_E_IO, VT_STEP_COLLATERAL, what,
				     "GET %s: HTTP 404 (not found)", url);
		} else if (code != 200) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, what, "GET %s: HTTP %ld%s", url, code,
				     code == 429 ? " (still rate-limited after 3 retries)" : "");
		} else if (s->body.len == 0) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, what, "GET %s: empty response", url);
		} else {
			rc = vt_buf_nul_terminate(&s->body, ferr);
		}
		break;
	}
	curl_easy_cleanup(c);
	return rc;
}

vt_status vt_fetch_get(struct vt_fetch_ticket *t, const struct vt_fetch_req *req, struct vt_fetch_resp *out,
		       struct vt_err *err)
{
	if (req == NULL || req->url == NULL || req->what == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	long total_ms = vt_fetch_gate_timeout_ms(t != NULL ? t->gate : NULL);
	int64_t deadline = vt_fetch_mono_ms() + total_ms;
	vt_status rc = vt_fetch_gate_admit(t, req->url, req->what, err);
	if (rc != VT_OK)
		return rc;

	struct state s;
	struct vt_err ferr;
	memset(&s, 0, sizeof(s));
	s.req = req;
	vt_buf_init(&s.body, req->max_body);
	vt_err_clear(&ferr);
	rc = get(req, deadline, total_ms, &s, &ferr);
	vt_fetch_gate_release(t);
	if (rc != VT_OK) {
		if (rc != VT_E_NOMEM)
			vt_fetch_gate_note_failure(t != NULL ? t->gate : NULL, req->url, &ferr);
		vt_buf_free(&s.body);
		for (int i = 0; i < 2; i++)
			free(s.headers[i]);
		return vt_fail(err, ferr.code, ferr.step, ferr.field, "%s", ferr.detail);
	}
	out->body = s.body.data;
	out->body_size = s.body.len;
	out->headers[0] = s.headers[0];
	out->headers[1] = s.headers[1];
	return VT_OK;
}

void vt_fetch_resp_free(struct vt_fetch_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->headers[0]);
	free(r->headers[1]);
	memset(r, 0, sizeof(*r));
}
