/*
 * The broker's release log (issue 13): every resource release and refusal
 * as one entry of a SHA-256 hash chain in the store, with a head {seq,
 * hash, time} signed (compact JWS, ES256) by the token-signing key after
 * each append.  docs/broker.md ("Release log") has the entry format;
 * docs/security.md says what the log proves and what it does not.
 *
 * Entries hold hashes and names only: SHA-256 of the session cookie or
 * of the Bearer token (never the cookie or token), the TEE name, SHA-256
 * of the verified claims' canonical JSON, the resource path, the outcome
 * and the failing step.  No secret, evidence or token.
 *
 * The broker appends (rcar.c) and exports (GET /kbs/v0/admin/audit); the
 * CLI's `veritee audit verify` and the tests check an export with
 * vt_audit_verify.  Internal to veritee: not installed.
 */
#ifndef VT_BROKER_AUDIT_H
#define VT_BROKER_AUDIT_H

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/broker.h"
#include "veritee/err.h"

struct vt_broker;

/* Entries per page of GET /kbs/v0/admin/audit (and the largest "limit"). */
#define VT_AUDIT_PAGE_MAX 500
/* The JOSE "typ" of a signed head: explicit typing keeps a head from being
 * taken for an EAR (RFC 8725 §3.11); it also lacks every EAR claim. */
#define VT_AUDIT_HEAD_TYP "veritee-audit-head+jwt"
/* The JOSE "typ" of a prune's checkpoint: {hash, seq, time} of the last
 * entry deleted, signed like a head. */
#define VT_AUDIT_CHECKPOINT_TYP "veritee-audit-checkpoint+jwt"

/* Append the release of `resource` to the log.  `token` is the attestation
 * token the request presented, `claims` its verified claims.  Fail closed:
 * when this fails the caller must not release (it answers an error). */
VT_MUST_USE vt_status vt_broker_audit_release(struct vt_broker *b, const struct vt_http_request *req,
					      const char *token, const json_t *claims, const char *resource,
					      struct vt_err *err);
/* Append a refusal: `outcome` "denied" (no or bad token, policy) or
 * "error" (policy engine, storage, JWE), `step` where it happened.
 * `token` (NULL if none) and `claims` (NULL unless verified) as above.  A
 * failure to append is logged; the refusal stands either way. */
void vt_broker_audit_refusal(struct vt_broker *b, const struct vt_http_request *req, const char *token,
			     const json_t *claims, const char *resource, const char *outcome, vt_step step);

/* GET /.well-known/jwks.json: {"keys":[the token-signing key's public JWK
 * with "kid" (RFC 7638 thumbprint), "alg":"ES256", "use":"sig"]}. */
void vt_broker_jwks(struct vt_broker *b, struct vt_http_response *r);
/* GET /kbs/v0/admin/audit?since=N&limit=M (admin-authenticated by the
 * caller): {"entries":[...], "head": JWS | null, "more": bool,
 * "checkpoint": JWS | null, "pruned_through": C}, the entries after
 * max(N, C), at most M (default and cap VT_AUDIT_PAGE_MAX), none beyond the
 * head returned with them. */
void vt_broker_audit_export(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);
/* DELETE /kbs/v0/admin/audit?through=N (admin-authenticated by the
 * caller): delete the entries up to seq N, leaving a signed checkpoint of
 * entry N (vt_store_audit_prune): {"pruned_through": N, "deleted": K}. */
void vt_broker_audit_prune(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);

/* The public JWK of `key` with "kid", "alg" "ES256" and "use" "sig" (new
 * reference), or NULL. */
json_t *vt_audit_jwk(EVP_PKEY *key);

/* What vt_audit_verify found. */
struct vt_audit_result {
	size_t entries;         /* entries in the log */
	int64_t first_seq, last_seq;
	int64_t head_seq, head_time;
	char head_kid[96];
	bool prev_unchecked;    /* the log starts after seq 0: its first "prev" is taken on trust */
	int64_t checkpoint_seq; /* the log starts after a signed checkpoint (a prune) at this seq; 0: none */
	int64_t checkpoint_time;
	long bad_index;         /* index in "entries" of the first bad entry; -1 when none or the head */
	int64_t bad_seq;        /* seq of the first bad (or first missing) entry; 0 when none or the head */
	char why[320];
};

/*
 * Check an exported log {"since": N, "entries": [...], "head": JWS} against
 * a JWKS {"keys": [...]}: the head is signed by a key of the JWKS (by
 * "kid"); entry i has seq N+1+i, its "hash" is SHA-256 of the canonical
 * JSON of the entry without "hash", its "prev" is the previous entry's
 * hash (64 '0' before seq 1); the last entry is the signed head.  With a
 * "checkpoint" (a prune's signed link, by a key of the JWKS) at seq N, the
 * first entry's "prev" must be its hash; a checkpoint at another seq than
 * N is tampering (beyond N: entries deleted after the export; before N:
 * the database's record of the prune was changed).
 *   VT_OK           intact (an empty log with no head is intact: it proves nothing)
 *   VT_E_REJECTED   tampered: res->bad_index / bad_seq / why name the first bad entry
 *                   (or the head), also in err
 *   VT_E_PARSE, VT_E_USAGE   the log or the JWKS is not of that shape at all
 */
VT_MUST_USE vt_status vt_audit_verify(const json_t *log, const json_t *jwks, struct vt_audit_result *res,
				      struct vt_err *err);

#endif
