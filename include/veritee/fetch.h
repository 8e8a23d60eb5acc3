/*
 * veritee/fetch.h — outbound fetches of verification collateral (AMD KDS,
 * Intel PCS/PCCS): the fetch gate that bounds them.
 *
 * A verifier that lacks a certificate or collateral fetches it over the
 * network, inside the caller's thread.  Evidence is attacker input, so in a
 * server every fetch must be bounded.  A gate, shared by every verification
 * of a process (put the same gate in vt_snp_sources.gate and
 * vt_dcap_sources.gate), enforces:
 *
 *   max_concurrent         fetches in flight at once; one more FAILS FAST
 *                          (it does not wait for a slot);
 *   timeout_ms             wall time of one fetch, every retry and
 *                          Retry-After wait included;
 *   per_client_per_minute  fetch-triggering verifications per client
 *                          (vt_verify_ctx.client, e.g. the peer's IP
 *                          address) per minute, as a token bucket;
 *   negative_ttl           seconds during which a URL whose fetch failed
 *                          (HTTP 404 or other status, network error,
 *                          timeout, unusable body) is refused again without
 *                          contacting the server.
 *
 * Only real network fetches pass through the gate.  Certificates and
 * collateral found in the evidence, the configured files or the on-disk
 * cache take no slot and cost no budget.  A verification is charged to its
 * client once, at its first network fetch, however many objects it fetches.
 *
 * Refusals are errors with step VT_STEP_COLLATERAL and one of the
 * VT_FETCH_FIELD_* fields:
 *   VT_FETCH_FIELD_BUSY       VT_E_LIMIT  all slots busy: retry later;
 *   VT_FETCH_FIELD_CLIENT     VT_E_LIMIT  this client's budget is spent:
 *                                         the detail says in how many seconds
 *                                         a fetch is allowed again;
 *   VT_FETCH_FIELD_NEGATIVE   the code of the remembered failure
 *                             (VT_E_NOTFOUND for a KDS 404, else mostly
 *                             VT_E_IO), so "not found" keeps its meaning;
 *   VT_FETCH_FIELD_TIMEOUT    VT_E_IO     the fetch ran out of time (with or
 *                                         without a gate).
 * Without a gate (the CLI), fetches still stop after
 * VT_FETCH_TIMEOUT_DEFAULT_MS in total.
 *
 * The tables are bounded (VT_FETCH_GATE_CLIENTS clients,
 * VT_FETCH_GATE_NEGATIVE URLs; the least recently used entry is evicted),
 * keyed by the SHA-256 of the client string or URL.  Thread-safe.
 *
 * The network itself is not part of libveritee-verifier: each request goes
 * through a transport (vt_http_get_fn, below) that the program supplies in
 * vt_verifier_settings.http_get (or vt_snp_sources / vt_dcap_sources
 * .http_get).  libveritee-attester has one over libcurl, vt_curl_http_get
 * (veritee/net.h).  Without a transport no request leaves: a fetch fails
 * with VT_E_USAGE step collateral field VT_FETCH_FIELD_TRANSPORT, before the
 * gate (no slot, no budget, nothing remembered).  The gate, the deadline and
 * the 429 retries stay in the verifier library, whatever the transport.
 */
#ifndef VERITEE_FETCH_H
#define VERITEE_FETCH_H

#include <stdint.h>

#include "veritee/err.h"
#include "veritee/util.h" /* struct vt_buf */

#define VT_FETCH_FIELD_BUSY "fetch.max_concurrent"
#define VT_FETCH_FIELD_CLIENT "fetch.per_client_per_minute"
#define VT_FETCH_FIELD_NEGATIVE "fetch.negative_cache"
#define VT_FETCH_FIELD_TIMEOUT "fetch.timeout"
#define VT_FETCH_FIELD_TRANSPORT "fetch.http_get"

/* Total time of one fetch when no gate is configured (the CLI). */
#define VT_FETCH_TIMEOUT_DEFAULT_MS 60000L

/* Recommended gate settings (vt_fetch_gate_defaults). */
#define VT_FETCH_GATE_DEFAULT_MAX_CONCURRENT 4u
#define VT_FETCH_GATE_DEFAULT_TIMEOUT_MS 5000L
#define VT_FETCH_GATE_DEFAULT_PER_CLIENT_PER_MINUTE 10u
#define VT_FETCH_GATE_DEFAULT_NEGATIVE_TTL 300

/* Table sizes. */
#define VT_FETCH_GATE_CLIENTS 1024u
#define VT_FETCH_GATE_NEGATIVE 1024u

struct vt_fetch_gate_settings {
	unsigned max_concurrent;         /* >= 1 */
	long timeout_ms;                 /* >= 1, at most one hour */
	unsigned per_client_per_minute;  /* 0 = no per-client limit */
	int64_t negative_ttl;            /* seconds, >= 0; 0 = failures are not remembered */
	/*
	 * Seconds on a monotonic clock, for the budgets and the negative cache
	 * (not for timeouts, which always use the real clock).  NULL =
	 * CLOCK_MONOTONIC.  Tests pin it.
	 */
	int64_t (*clock)(void *clock_arg);
	void *clock_arg;
};

/* The gate is opaque (it holds a mutex). */
struct vt_fetch_gate;

/* Fill *s with the VT_FETCH_GATE_DEFAULT_* values and the real clock. */
VT_API void vt_fetch_gate_defaults(struct vt_fetch_gate_settings *s);

/*
 * A new gate (free with vt_fetch_gate_free) with a copy of `s`.  Settings
 * out of range: VT_E_USAGE step config naming the setting.
 */
VT_API VT_MUST_USE vt_status vt_fetch_gate_new(const struct vt_fetch_gate_settings *s, struct vt_fetch_gate **out,
					       struct vt_err *err);

/* NULL ok.  Only once no verification uses the gate any more. */
VT_API void vt_fetch_gate_free(struct vt_fetch_gate *gate);

/* Counters since vt_fetch_gate_new, for logs and tests. */
struct vt_fetch_gate_stats {
	unsigned in_flight;          /* fetches running now */
	uint64_t fetches;            /* network fetches started */
	uint64_t failures;           /* ... that failed (and were remembered when negative_ttl > 0) */
	uint64_t refused_busy;
	uint64_t refused_client;
	uint64_t refused_negative;
};
VT_API void vt_fetch_gate_stats(struct vt_fetch_gate *gate, struct vt_fetch_gate_stats *out);

/* ---------------------------------------------------------------------------
 * The transport: one HTTP GET attempt.
 */

/* Response headers one attempt can capture (the fetchers' two issuer-chain
 * headers and Retry-After). */
#define VT_HTTP_CAPTURE_MAX 3

struct vt_http_get_req {
	const char *url;                          /* http:// or https:// */
	long timeout_ms;                          /* >= 1: wall time of the whole attempt, connect included */
	size_t max_body;                          /* the cap of resp->body (already set in it) */
	const char *capture[VT_HTTP_CAPTURE_MAX]; /* header names to capture; NULL = unused slot */
};

struct vt_http_get_resp {
	long status;                              /* HTTP status of the final response */
	struct vt_buf body;                       /* the response body */
	char *values[VT_HTTP_CAPTURE_MAX];        /* malloc'd values of req.capture[i], NULL if absent */
};

/*
 * One GET attempt, no retries: vt_fetch_get calls it once per attempt, with
 * the 429 retries, their waits and the overall deadline around it.
 *
 * On entry resp->status is 0, resp->body is empty with its cap set to
 * req->max_body (vt_buf_init) and resp->values[] are NULL.  Whatever the
 * result, the caller owns and frees resp->body and resp->values[] afterwards
 * (also after a failure; partial contents are discarded).
 *
 * The transport must: GET req->url with http or https only (any other
 * scheme is a failure); not follow redirects (a 3xx is returned as its
 * status); finish within req->timeout_ms of wall time; be callable from
 * several threads at once; raise no signal; leave no process-wide state
 * changed.  The body is appended with vt_buf_append, which refuses to grow
 * past the cap.
 *
 * Returns:
 *   VT_OK          a complete HTTP response arrived, whatever its status:
 *                  resp->status, the whole body in resp->body, and for each
 *                  req->capture[i] the value of the first header of that
 *                  name (case-insensitive) in the final response (not in an
 *                  interim 1xx), without surrounding blanks, in
 *                  resp->values[i] (malloc'd), NULL when absent;
 *   VT_E_IO with field VT_FETCH_FIELD_TIMEOUT
 *                  timeout_ms passed before the response was complete
 *                  (this is how a timeout must be reported: the caller
 *                  words the error and knows which limit ran out);
 *   VT_E_LIMIT     the body would exceed max_body, or the response headers
 *                  exceed the transport's own bound;
 *   VT_E_NOMEM     out of memory;
 *   VT_E_IO        (any other field) no complete response: name resolution,
 *                  connection, TLS, protocol error, unsupported scheme.
 * Any other code is taken as VT_E_IO.  err->detail says what happened
 * without repeating the URL (the caller prefixes "GET <url>: "); the step
 * and field other than VT_FETCH_FIELD_TIMEOUT are replaced by the caller's.
 */
typedef vt_status (*vt_http_get_fn)(const struct vt_http_get_req *req, struct vt_http_get_resp *resp,
				    struct vt_err *err);

#endif
