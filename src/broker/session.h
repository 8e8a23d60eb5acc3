/* RCAR sessions: keyed by a random 128-bit id, expiring; in memory
 * (vt_sessions_new: one broker) or, for replicas on a shared store
 * (vt_sessions_new_shared, session_db.c), carried in an authenticated
 * cookie with only the nonce's use written to the store.
 *
 * In memory:
 * Admission is O(1) and cannot be monopolised by one client: each client
 * address may hold at most `max_per_client` unattested sessions (at the
 * quota its own oldest unattested session is evicted), and when the table
 * is full the globally oldest unattested session is evicted.  Attested
 * sessions are never evicted (they cost the client valid evidence).
 *
 * A session moves AUTHED -> ATTESTING (claimed by exactly one /attest) ->
 * ATTESTED, or is removed by the claimer when its attestation fails; a
 * second, racing /attest on the same session is refused and removes
 * nothing. */
#ifndef VT_BROKER_SESSION_H
#define VT_BROKER_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "veritee/err.h"

struct vt_session_table;

/* What /auth decided and /attest needs: the primary TEE, the hash algorithm
 * of the runtime-data binding and the attestation policy selected. */
struct vt_session_params {
	char tee[32];
	char hash[8];     /* "sha384" (default) or "sha512" */
	char policy[64];  /* attestation-policy-selector, "default" when absent */
};

/* A session id (the cookie's value) fits in this, NUL included: 32 hex
 * digits in memory, an authenticated cookie of at most ~280 characters with
 * a shared store. */
#define VT_SESSION_ID_MAX 320

struct vt_session_table *vt_sessions_new(size_t max, size_t max_per_client);
/* Sessions that every broker on a shared store (PostgreSQL) serves
 * (session_db.c; the store must outlive the table).  max and
 * max_per_client bound nothing there: unattested sessions are not held. */
struct vt_store;
struct vt_session_table *vt_sessions_new_shared(struct vt_store *store, size_t max, size_t max_per_client);
void vt_sessions_free(struct vt_session_table *t);

/* Create a session for `client` (its address; NULL = one anonymous
 * client): fills id and nonce (45 chars incl. NUL).
 * VT_E_LIMIT only when the table is full of attested sessions. */
vt_status vt_session_create(struct vt_session_table *t, const struct vt_session_params *params, const char *client,
			    int64_t now, int64_t expires, char id[VT_SESSION_ID_MAX], char nonce[45], struct vt_err *err);

/* Claim an AUTHED session for attestation (AUTHED -> ATTESTING) and copy
 * out its parameters and nonce.  VT_E_NOTFOUND when unknown, expired or evicted;
 * VT_E_REJECTED when already claimed or attested (one attestation per
 * nonce). */
vt_status vt_session_claim(struct vt_session_table *t, const char *id, int64_t now, struct vt_session_params *params,
			   char nonce[45], struct vt_err *err);

/* ATTESTING -> ATTESTED with a token (copied). */
vt_status vt_session_attested(struct vt_session_table *t, const char *id, int64_t now, const char *token,
			      struct vt_err *err);

/* The claimer's attestation failed: remove the session if (and only if) it
 * is still ATTESTING, so the nonce is burnt. */
void vt_session_fail(struct vt_session_table *t, const char *id);

/* The token of an ATTESTED, unexpired session (malloc'd), or VT_E_NOTFOUND. */
vt_status vt_session_token(struct vt_session_table *t, const char *id, int64_t now, char **token, struct vt_err *err);

/* vt_session_token; with a shared store, also the resource at `path`,
 * sealed, read in the same round trip (*prefetched then true, and only on
 * success; its data NULL when there is no such resource). */
struct vt_store_sealed;
vt_status vt_session_token_resource(struct vt_session_table *t, const char *id, int64_t now, const char *path,
				    char **token, struct vt_store_sealed *resource, bool *prefetched, struct vt_err *err);

size_t vt_sessions_count(struct vt_session_table *t);

/* Whether `id` has the form of an in-memory session id (32 hex digits). */
bool vt_session_id_ok(const char *id);

/* session_db.c: the shared-store implementation behind the functions above
 * (session.c checks `params` and makes the nonce; session_db.c the id). */
struct vt_session_db;
struct vt_session_db *vt_session_db_new(struct vt_store *store, size_t max, size_t max_per_client);
void vt_session_db_free(struct vt_session_db *d);
vt_status vt_session_db_create(struct vt_session_db *d, const struct vt_session_params *params, const char *client,
			       int64_t now, int64_t expires, const char nonce[45], char id[VT_SESSION_ID_MAX],
			       struct vt_err *err);
vt_status vt_session_db_claim(struct vt_session_db *d, const char *id, int64_t now, struct vt_session_params *params,
			      char nonce[45], struct vt_err *err);
vt_status vt_session_db_attested(struct vt_session_db *d, const char *id, const char *token, struct vt_err *err);
void vt_session_db_fail(struct vt_session_db *d, const char *id);
vt_status vt_session_db_token(struct vt_session_db *d, const char *id, int64_t now, char **token, struct vt_err *err);
vt_status vt_session_db_token_resource(struct vt_session_db *d, const char *id, int64_t now, const char *path,
				       char **token, struct vt_store_sealed *resource, struct vt_err *err);
size_t vt_session_db_count(struct vt_session_db *d);

/* session_cookie.c: the authenticated cookie that is a session on a shared
 * store (the format is at the top of that file). */
#define VT_SESSION_SID_SIZE 16
struct vt_session_cookie {
	uint8_t sid[VT_SESSION_SID_SIZE]; /* random: the database row's key is its SHA-256 */
	int64_t expires;
	char nonce[45];
	struct vt_session_params params;
};
struct vt_cookie_key;
/* HMAC-SHA-256 under `key` (session_db.c derives it from master_key). */
struct vt_cookie_key *vt_cookie_key_new(const uint8_t *key, size_t key_len);
void vt_cookie_key_free(struct vt_cookie_key *k);
vt_status vt_session_cookie_encode(const struct vt_cookie_key *k, const struct vt_session_cookie *c,
				   char out[VT_SESSION_ID_MAX], struct vt_err *err);
/* VT_E_NOTFOUND for anything this key did not make (no oracle on why);
 * the expiry is the caller's to check. */
vt_status vt_session_cookie_decode(const struct vt_cookie_key *k, const char *id, struct vt_session_cookie *c,
				   struct vt_err *err);

#endif
