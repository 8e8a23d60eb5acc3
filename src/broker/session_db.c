/*
 * RCAR sessions for replicas on a shared store (PostgreSQL), so that any
 * replica serves any step of a round: /auth on one, /attest on another,
 * /resource on a third.  Same contract as the in-memory table (session.h),
 * with one statement per round instead of a row per session:
 *
 *  - /auth writes nothing: the session (its id, nonce, TEE, hash algorithm,
 *    policy and expiry) travels in its cookie, authenticated with
 *    HMAC-SHA-256 under a key derived from `master_key`, which every replica
 *    shares.  A cookie cannot be forged or altered without that key, and it
 *    carries nothing secret (the nonce is sent in the clear by /auth);
 *  - the nonce is single use across replicas: the /attest that uses it
 *    inserts the session's row (the token, or nothing when the attestation
 *    failed) with INSERT … ON CONFLICT DO NOTHING, which exactly one of any
 *    number of concurrent attempts wins; the others are refused;
 *  - /resource reads that row's token;
 *  - the row's key is SHA-256 of the session id inside the cookie, so
 *    someone who reads the database cannot make a cookie, and two spellings
 *    of one cookie are one session.
 *
 * What this gives up, and why it is right (docs/decisions.md): unattested
 * sessions are no longer counted, so `max_sessions` and
 * `max_sessions_per_client` do not apply to them — they cost the broker
 * nothing to hold, which is what those caps protected, and a flood of /auth
 * now costs the database nothing either.  Rows of expired sessions are
 * deleted by a sweep every 30 s (any replica).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker/session.h"
#include "broker/store.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define SWEEP_SECONDS 30
#define SWEEP_GRACE 600 /* a row outlives its session this long: replicas' clocks may differ */
#define COUNT_REFRESH_MS 10000

struct vt_session_db {
	struct vt_store *store;
	struct vt_cookie_key *key; /* session_cookie.c */
	pthread_mutex_t lock;
	int64_t count, counted_at; /* attested sessions, when last counted (monotonic ms) */
	int64_t last_sweep;        /* wall seconds */
};

struct vt_session_db *vt_session_db_new(struct vt_store *store, size_t max, size_t max_per_client)
{
	(void)max, (void)max_per_client; /* unattested sessions are not held: see above */
	struct vt_session_db *d = calloc(1, sizeof(*d));
	struct vt_secret *key = NULL;
	if (d == NULL || vt_store_derive_key(store, "veritee kbs session cookie v1", &key, NULL) != VT_OK ||
	    (d->key = vt_cookie_key_new(key->data, key->len)) == NULL) {
		vt_secret_free(key);
		free(d);
		return NULL;
	}
	vt_secret_free(key);
	d->store = store;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void vt_session_db_free(struct vt_session_db *d)
{
	if (d == NULL)
		return;
	vt_cookie_key_free(d->key);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* The cookie's session if it is authentic and has not expired: else
 * VT_E_NOTFOUND, as for an unknown session (no oracle on why). */
static vt_status cookie_open(struct vt_session_db *d, const char *id, int64_t now, struct vt_session_cookie *k,
			     struct vt_err *err)
{
	vt_status rc = vt_session_cookie_decode(d->key, id, k, err);
	if (rc == VT_OK && k->expires <= now)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
	return rc;
}

/* hex SHA-256 of the session id: the row's key. */
static vt_status row_key(const struct vt_session_cookie *k, char out[65], struct vt_err *err)
{
	return vt_sha256_hex(k->sid, VT_SESSION_SID_SIZE, out, err);
}

static void sweep(struct vt_session_db *d, int64_t now)
{
	pthread_mutex_lock(&d->lock);
	bool due = now - d->last_sweep >= SWEEP_SECONDS;
	if (due)
		d->last_sweep = now;
	pthread_mutex_unlock(&d->lock);
	if (due)
		(void)vt_store_attested_sweep(d->store, now - SWEEP_GRACE, NULL); /* best effort */
}

/* -------------------------------------------------------------- the API */

vt_status vt_session_db_create(struct vt_session_db *d, const struct vt_session_params *params, const char *client,
			       int64_t now, int64_t expires, const char nonce[45], char id[VT_SESSION_ID_MAX],
			       struct vt_err *err)
{
	(void)client; /* nothing is held per client */
	struct vt_session_cookie k = {.expires = expires, .params = *params};
	memcpy(k.nonce, nonce, 45);
	/* Nothing is written, but a session the database cannot attest is no
	 * use to the guest: fail fast, like every other request. */
	vt_status rc = vt_store_available(d->store, err);
	if (rc == VT_OK)
		rc = vt_random(k.sid, VT_SESSION_SID_SIZE, err);
	if (rc != VT_OK)
		return rc;
	sweep(d, now);
	return vt_session_cookie_encode(d->key, &k, id, err);
}

vt_status vt_session_db_claim(struct vt_session_db *d, const char *id, int64_t now, struct vt_session_params *params,
			      char nonce[45], struct vt_err *err)
{
	/* Nothing is written here: the nonce's use is recorded by
	 * vt_session_db_attested (or _fail), and whichever comes first wins. */
	struct vt_session_cookie k;
	vt_status rc = cookie_open(d, id, now, &k, err);
	if (rc != VT_OK)
		return rc;
	*params = k.params;
	memcpy(nonce, k.nonce, 45);
	return VT_OK;
}

/* Record the nonce's use; VT_E_REJECTED when another use came first. */
static vt_status record_use(struct vt_session_db *d, const char *id, const char *token, struct vt_err *err)
{
	struct vt_session_cookie k;
	char h[65];
	bool won = false;
	/* The cookie opened at the claim; an expiry since then does not undo
	 * the attestation (its row expires with the session). */
	vt_status rc = cookie_open(d, id, INT64_MIN, &k, err);
	if (rc == VT_OK)
		rc = row_key(&k, h, err);
	if (rc == VT_OK)
		rc = vt_store_attested_put(d->store, h, token, k.expires, &won, err);
	if (rc == VT_OK && !won)
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "kbs-session-id",
			     "nonce already used: a session attests once");
	return rc;
}

vt_status vt_session_db_attested(struct vt_session_db *d, const char *id, const char *token, struct vt_err *err)
{
	if (token == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_SESSION, "token", "no token");
	return record_use(d, id, token, err);
}

void vt_session_db_fail(struct vt_session_db *d, const char *id)
{
	(void)record_use(d, id, NULL, NULL); /* burnt; best effort: it expires anyway */
}

vt_status vt_session_db_token(struct vt_session_db *d, const char *id, int64_t now, char **token, struct vt_err *err)
{
	struct vt_session_cookie k;
	char h[65];
	if (cookie_open(d, id, now, &k, NULL) != VT_OK)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	vt_status rc = row_key(&k, h, err);
	return rc == VT_OK ? vt_store_attested_token(d->store, h, now, token, err) : rc;
}

vt_status vt_session_db_token_resource(struct vt_session_db *d, const char *id, int64_t now, const char *path,
				       char **token, struct vt_store_sealed *resource, struct vt_err *err)
{
	struct vt_session_cookie k;
	char h[65];
	if (cookie_open(d, id, now, &k, NULL) != VT_OK)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	vt_status rc = row_key(&k, h, err);
	return rc == VT_OK ? vt_store_attested_token_resource(d->store, h, now, path, token, resource, err) : rc;
}

size_t vt_session_db_count(struct vt_session_db *d)
{
	/* Attested sessions, counted at most every 10 s (a scan). */
	pthread_mutex_lock(&d->lock);
	bool stale = d->counted_at == 0 || vt_mono_ms() - d->counted_at >= COUNT_REFRESH_MS;
	int64_t n = d->count;
	pthread_mutex_unlock(&d->lock);
	if (stale && vt_store_attested_count(d->store, vt_now(), &n, NULL) == VT_OK) {
		pthread_mutex_lock(&d->lock);
		d->count = n;
		d->counted_at = vt_mono_ms();
		pthread_mutex_unlock(&d->lock);
	}
	return n > 0 ? (size_t)n : 0;
}
