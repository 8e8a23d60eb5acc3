/*
 * Private to the library: the one HTTP GET of the collateral fetchers (AMD
 * KDS in src/evidence/snp/kds.c, Intel PCS/PCCS in
 * src/evidence/dcap/fetch.c) and the fetch gate's admission calls it makes.
 * The attempts themselves go through the program's transport
 * (vt_http_get_fn, veritee/fetch.h); this library links no HTTP client.
 */
#ifndef VT_FETCH_INTERNAL_H
#define VT_FETCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veritee/err.h"
#include "veritee/fetch.h"

/*
 * One verification's use of the gate and the transport, on its stack: the
 * client is charged at the ticket's first admitted network fetch, not again.
 */
struct vt_fetch_ticket {
	struct vt_fetch_gate *gate;   /* NULL: no gate (the deadline still holds) */
	const char *client;           /* NULL: no per-client accounting */
	vt_http_get_fn http_get;      /* NULL: no transport, every fetch fails closed */
	bool charged;
};

/*
 * Before a network fetch of `url` (`what` names the object in errors):
 * refuse it when the URL failed less than negative_ttl ago, when this is the
 * ticket's first fetch and the client's budget is spent, or when every slot
 * is busy (errors: fetch.h).  On VT_OK a slot is held: give it back with
 * vt_fetch_gate_release.  No gate: VT_OK, nothing held.
 */
vt_status vt_fetch_gate_admit(struct vt_fetch_ticket *t, const char *url, const char *what, struct vt_err *err);
void vt_fetch_gate_release(struct vt_fetch_ticket *t);

/* Remember that fetching `url` failed with `failure` (its code and detail
 * are what a refusal repeats).  No gate or negative_ttl 0: nothing. */
void vt_fetch_gate_note_failure(struct vt_fetch_gate *gate, const char *url, const struct vt_err *failure);

/* The gate's timeout_ms, or VT_FETCH_TIMEOUT_DEFAULT_MS without a gate. */
long vt_fetch_gate_timeout_ms(const struct vt_fetch_gate *gate);

/*
 * GET request.  The whole call, 429 retries and their waits included, ends
 * by vt_fetch_gate_timeout_ms(ticket->gate) after it starts.
 */
struct vt_fetch_req {
	const char *url;
	const char *what;               /* the field of errors, e.g. "kds", "TCB Info" */
	size_t max_body;
	long attempt_timeout_ms;        /* cap on one attempt (0: the deadline only) */
	bool not_found_is_notfound;     /* HTTP 404 -> VT_E_NOTFOUND (else VT_E_IO like other statuses) */
	const char *headers[2];         /* response headers to capture (NULL: unused) */
};

struct vt_fetch_resp {
	uint8_t *body;                  /* malloc'd, NUL-terminated (not counted in body_size) */
	size_t body_size;
	char *headers[2];               /* values of req.headers (trimmed, first occurrence), NULL if absent */
};

/*
 * Refuse at once when the ticket has no transport (VT_E_USAGE field
 * VT_FETCH_FIELD_TRANSPORT: nothing is charged or remembered).  Else admit
 * through the gate, GET with t->http_get (one call per attempt), retry HTTP
 * 429 up to VT_FETCH_RETRIES_429 times (Retry-After seconds, else 1, 2, 4;
 * at most 5 s each and never past the deadline), release.  Only a 200 with a
 * non-empty body succeeds; then *out owns the body and headers
 * (vt_fetch_resp_free).  Failures are step collateral naming req->what and
 * the URL: VT_E_IO (network, HTTP status, empty body), VT_E_NOTFOUND (404
 * when asked), VT_E_LIMIT (body over max_body, headers over the transport's
 * bound), VT_E_IO field fetch.timeout when time ran out; every such failure
 * is remembered by the gate.  Gate refusals: see vt_fetch_gate_admit.
 */
#define VT_FETCH_RETRIES_429 3
vt_status vt_fetch_get(struct vt_fetch_ticket *t, const struct vt_fetch_req *req, struct vt_fetch_resp *out,
		       struct vt_err *err);
void vt_fetch_resp_free(struct vt_fetch_resp *r);

#endif
