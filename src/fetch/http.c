/*
 * The one HTTP GET of the collateral fetchers (fetch_internal.h): the gate
 * admits the fetch, the program's transport (vt_http_get_fn) makes each
 * attempt, and this file retries HTTP 429 under a deadline that covers every
 * attempt and every wait, then has the gate remember failures.  No HTTP
 * client is linked here (libveritee-attester has the libcurl transport).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/fetch_internal.h"
#include "veritee/util.h"

#define RETRY_WAIT_MAX_S 5L

/* The slot of Retry-After among the captured headers (after req->headers). */
#define RETRY_AFTER 2

static void resp_clear(struct vt_http_get_resp *r, size_t max_body)
{
	vt_buf_free(&r->body);
	for (int i = 0; i < VT_HTTP_CAPTURE_MAX; i++) {
		free(r->values[i]);
		r->values[i] = NULL;
	}
	r->status = 0;
	vt_buf_init(&r->body, max_body);
}

/* Retry-After as delta-seconds; an HTTP date is not parsed (-1: the
 * default backoff applies). */
static long retry_after(const char *v)
{
	if (v == NULL)
		return -1;
	long secs = 0;
	size_t i = 0;
	for (; v[i] >= '0' && v[i] <= '9' && secs < 1000000; i++)
		secs = secs * 10 + (v[i] - '0');
	return i > 0 && v[i] == '\0' ? secs : -1;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The network part: every failure goes to `ferr` (step collateral). */
static vt_status get(vt_http_get_fn http_get, const struct vt_fetch_req *req, int64_t deadline, long total_ms,
		     struct vt_http_get_resp *resp, struct vt_err *ferr)
{
	const char *url = req->url, *what = req->what;
	struct vt_http_get_req hreq = {.url = url,
				       .max_body = req->max_body,
				       .capture = {req->headers[0], req->headers[1], "Retry-After"}};
	vt_status rc = VT_OK;
	for (int n = 0;; n++) {
		int64_t left = deadline - vt_mono_ms();
		if (left <= 0) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, VT_FETCH_FIELD_TIMEOUT,
				     "GET %s (%s): no answer within the %ld ms fetch deadline", url, what, total_ms);
			break;
		}
		long per = (long)left;
		if (req->attempt_timeout_ms > 0 && req->attempt_timeout_ms < left)
			per = req->attempt_timeout_ms;
		hreq.timeout_ms = per;
		resp_clear(resp, req->max_body);
		struct vt_err terr;
		vt_err_clear(&terr);
		vt_status tr = http_get(&hreq, resp, &terr);
		long code = resp->status;
		if (tr == VT_E_NOMEM) {
			rc = vt_fail(ferr, VT_E_NOMEM, VT_STEP_COLLATERAL, what, "out of memory");
		} else if (tr == VT_E_LIMIT) {
			rc = vt_fail(ferr, VT_E_LIMIT, VT_STEP_COLLATERAL, what, "GET %s: %s", url,
				     terr.detail[0] ? terr.detail : "response over a limit");
		} else if (tr == VT_E_IO && strcmp(terr.field, VT_FETCH_FIELD_TIMEOUT) == 0) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, VT_FETCH_FIELD_TIMEOUT,
				     "GET %s (%s): no complete answer within %ld ms (%s)", url, what, per,
				     per == left ? "the fetch deadline" : "the per-request timeout");
		} else if (tr != VT_OK) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, what, "GET %s: %s", url,
				     terr.detail[0] ? terr.detail : "the request failed");
		} else if (code == 429 && n < VT_FETCH_RETRIES_429) {
			long ra = retry_after(resp->values[RETRY_AFTER]);
			long wait = ra >= 0 ? ra : 1L << n;
			if (wait > RETRY_WAIT_MAX_S)
				wait = RETRY_WAIT_MAX_S;
			if (wait * 1000 >= deadline - vt_mono_ms()) {
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
		} else if (resp->body.len == 0) {
			rc = vt_fail(ferr, VT_E_IO, VT_STEP_COLLATERAL, what, "GET %s: empty response", url);
		} else {
			rc = vt_buf_nul_terminate(&resp->body, ferr);
		}
		break;
	}
	return rc;
}

vt_status vt_fetch_get(struct vt_fetch_ticket *t, const struct vt_fetch_req *req, struct vt_fetch_resp *out,
		       struct vt_err *err)
{
	if (req == NULL || req->url == NULL || req->what == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	/* Fail closed before the gate: a program without a transport is not a
	 * failing server, so nothing is charged or remembered. */
	if (t == NULL || t->http_get == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, VT_FETCH_FIELD_TRANSPORT,
			       "no HTTP client in this program (GET %.200s, %s); give the certificates or "
			       "collateral as files, a cache or with the evidence, or use the veritee CLI",
			       req->url, req->what);
	long total_ms = vt_fetch_gate_timeout_ms(t->gate);
	int64_t deadline = vt_mono_ms() + total_ms;
	vt_status rc = vt_fetch_gate_admit(t, req->url, req->what, err);
	if (rc != VT_OK)
		return rc;

	struct vt_http_get_resp resp;
	struct vt_err ferr;
	memset(&resp, 0, sizeof(resp));
	vt_buf_init(&resp.body, req->max_body);
	vt_err_clear(&ferr);
	rc = get(t->http_get, req, deadline, total_ms, &resp, &ferr);
	vt_fetch_gate_release(t);
	free(resp.values[RETRY_AFTER]);
	if (rc != VT_OK) {
		if (rc != VT_E_NOMEM)
			vt_fetch_gate_note_failure(t->gate, req->url, &ferr);
		vt_buf_free(&resp.body);
		for (int i = 0; i < 2; i++)
			free(resp.values[i]);
		return vt_fail(err, ferr.code, ferr.step, ferr.field, "%s", ferr.detail);
	}
	out->body = resp.body.data;
	out->body_size = resp.body.len;
	out->headers[0] = resp.values[0];
	out->headers[1] = resp.values[1];
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
