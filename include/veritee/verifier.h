/*
 * veritee/verifier.h — a verifier context (in the spirit of s2n's config):
 * the TEEs it accepts, each with the state its descriptor built from its
 * options (trust anchors, collateral sources, caches).  Nothing here is
 * process-global: two verifiers never share state, and a test builds a
 * fresh one instead of clearing globals.  The broker holds one; the CLI
 * builds one per `veritee verify`.
 */
#ifndef VERITEE_VERIFIER_H
#define VERITEE_VERIFIER_H

#include <jansson.h>

#include "veritee/evidence.h"
#include "veritee/fetch.h"

struct vt_verifier;

/* Build only the TEEs named in `tees` (and those they use), cli_only ones
 * included: `veritee verify`.  Without it: every registered TEE that is not
 * cli_only, insecure ones only when named (the broker). */
#define VT_VERIFIER_ONLY_NAMED 0x1u

struct vt_fetch_gate;

struct vt_verifier_settings {
	/* {"<tee>": {option: value}} (NULL = {}); unknown TEE names and options
	 * a TEE does not declare are errors naming them. */
	const json_t *tees;
	/* Options offered to every TEE that declares them (e.g. "cache",
	 * "offline"); a TEE's own block wins.  NULL = none. */
	const json_t *common;
	unsigned flags;
	/* Bounds every outbound collateral fetch of every TEE (borrowed, must
	 * outlive the verifier); NULL = unbounded except by timeouts (CLI). */
	struct vt_fetch_gate *fetch_gate;
	/* The HTTP transport of those fetches (veritee/fetch.h), e.g.
	 * vt_curl_http_get from libveritee-attester (veritee/net.h).  NULL = no
	 * network in this program: a TEE that needs to fetch a certificate or
	 * collateral fails closed (VT_E_USAGE, field fetch.http_get); give the
	 * collateral as files, a cache, or with the evidence. */
	vt_http_get_fn http_get;
};

/*
 * A TEE whose state_new says VT_E_NOTFOUND (not configured, e.g. sim
 * without a root) is left out and refused later; any other failure fails
 * the whole verifier, the TEE's name prefixed to the error.
 */
VT_API VT_MUST_USE vt_status vt_verifier_new(const struct vt_verifier_settings *s, struct vt_verifier **out,
					     struct vt_err *err);
VT_API void vt_verifier_free(struct vt_verifier *v);

/* Whether this verifier accepts evidence of `tee`. */
VT_API bool vt_verifier_accepts(const struct vt_verifier *v, const struct vt_tee *tee);
/* Comma-separated names of the accepted TEEs (malloc'd). */
VT_API char *vt_verifier_names(const struct vt_verifier *v);
/* The fetch gate given in the settings (for state_new), or NULL. */
VT_API struct vt_fetch_gate *vt_verifier_fetch_gate(const struct vt_verifier *v);
/* The HTTP transport given in the settings (for state_new), or NULL. */
VT_API vt_http_get_fn vt_verifier_http_get(const struct vt_verifier *v);
/*
 * The verifier's caches (veritee/crypto.h: opaque), created with it and
 * freed by vt_verifier_free: every cache of every TEE of this verifier
 * (certificates, chains, CRLs, collateral, operator files) lives there, and
 * nowhere else.  Thread-safe.  NULL for a NULL verifier (no caching).
 * For state_new (e.g. vt_snp_sources.caches) and verify (ctx->verifier).
 */
struct vt_cache_set;
VT_API struct vt_cache_set *vt_verifier_caches(const struct vt_verifier *v);

/* For state_new: an option's string value (NULL when absent), a flag
 * (true when given as true), an integer given as a number or a digit
 * string (VT_E_USAGE naming the option otherwise; *out unchanged when
 * absent). */
VT_API const char *vt_tee_opt_str(const json_t *options, const char *name);
VT_API bool vt_tee_opt_flag(const json_t *options, const char *name);
/* A malloc'd copy of an option's string value (NULL when absent). */
VT_API char *vt_tee_opt_dup(const json_t *options, const char *name);
VT_API VT_MUST_USE vt_status vt_tee_opt_int(const json_t *options, const char *name, int64_t lo, int64_t hi,
					    int64_t *out, struct vt_err *err);

/* Verify evidence of `tee` at `now` for `client` (per-client budgets; may be NULL). */
VT_API VT_MUST_USE vt_status vt_verifier_verify(const struct vt_verifier *v, const struct vt_tee *tee,
						const json_t *evidence, const struct vt_binding *binding, int64_t now,
						const char *client, json_t **claims_out, struct vt_err *err);

#endif
