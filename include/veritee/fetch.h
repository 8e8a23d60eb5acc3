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
 */
#ifndef VERITEE_FETCH_H
#define VERITEE_FETCH_H

#include <stdint.h>

#include "veritee/err.h"

#define VT_FETCH_FIELD_BUSY "fetch.max_concurrent"
#define VT_FETCH_FIELD_CLIENT "fetch.per_client_per_minute"
#define VT_FETCH_FIELD_NEGATIVE "fetch.negative_cache"
#define VT_FETCH_FIELD_TIMEOUT "fetch.timeout"

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

#endif
