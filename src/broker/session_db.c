/*
 * RCAR sessions in the shared store (PostgreSQL), so that any replica
 * serves any step of a round: /auth on one, /attest on another, /resource
 * on a third.  Same contract as the in-memory table (session.h):
 *
 *  - the nonce is single use across replicas: /attest claims the session
 *    with one conditional UPDATE (authed -> attesting), which exactly one
 *    of any number of concurrent claims wins;
 *  - per-client quota: at `max_per_client` unattested sessions the
 *    client's own oldest is evicted (counted exactly, on an index);
 *  - table cap: the live count is read once a second (every 10 s while it
 *    is below half the cap) and kept up to date with this replica's own
 *    creations, so the cap can be passed by what the other replicas admit
 *    within that second (docs/broker.md);
 *    when it is reached the oldest unattested session anywhere is evicted,
 *    and /auth is refused only when none is left to evict;
 *  - the database holds SHA-256 of the cookie, never the cookie.
 *
 * Expired sessions are deleted by a sweep every 30 s (any replica).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/session.h"
#include "broker/store.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define COUNT_REFRESH_MS 1000      /* at half the cap or more */
#define COUNT_REFRESH_FAR_MS 10000 /* below half the cap */
#define SWEEP_SECONDS 30
#define ATTESTING_GRACE 600 /* an attesting session outlives its expiry this long (its broker may be slow) */

struct vt_session_db {
	struct vt_store *store;
	size_t max, max_per_client;
	pthread_mutex_t lock;
	int64_t count;        /* live sessions when last counted ... */
	int64_t counted_at;   /* ... at this monotonic ms (0: never) */
	int64_t created;      /* sessions this replica created since */
	int64_t last_sweep;   /* wall seconds */
};

struct vt_session_db *vt_session_db_new(struct vt_store *store, size_t max, size_t max_per_client)
{
	struct vt_session_db *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->store = store;
	d->max = max ? max : 1;
	d->max_per_client = max_per_client ? max_per_client : d->max;
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void vt_session_db_free(struct vt_session_db *d)
{
	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* hex SHA-256 of the cookie: the row's key. */
static vt_status id_hash(const char *id, char out[65], struct vt_err *err)
{
	return vt_sha256_hex(id, strlen(id), out, err);
}

/* The live count as this replica believes it: recounted once a second. */
static vt_status estimate(struct vt_session_db *d, int64_t now, int64_t *out, struct vt_err *err)
{
	pthread_mutex_lock(&d->lock);
	int64_t est = d->count + d->created;
	/* Counting is a scan of the live sessions: often near the cap, rarely
	 * far below it. */
	int64_t every = est * 2 < (int64_t)d->max ? COUNT_REFRESH_FAR_MS : COUNT_REFRESH_MS;
	bool stale = d->counted_at == 0 || vt_mono_ms() - d->counted_at >= every;
	pthread_mutex_unlock(&d->lock);
	if (stale) {
		int64_t n = 0;
		vt_status rc = vt_store_session_count(d->store, now, &n, err);
		if (rc != VT_OK)
			return rc;
		pthread_mutex_lock(&d->lock);
		d->count = n;
		d->created = 0;
		d->counted_at = vt_mono_ms();
		est = n;
		pthread_mutex_unlock(&d->lock);
	}
	*out = est;
	return VT_OK;
}

static void sweep(struct vt_session_db *d, int64_t now)
{
	pthread_mutex_lock(&d->lock);
	bool due = now - d->last_sweep >= SWEEP_SECONDS;
	if (due)
		d->last_sweep = now;
	pthread_mutex_unlock(&d->lock);
	if (due)
		(void)vt_store_session_sweep(d->store, now, ATTESTING_GRACE, NULL); /* best effort */
}

vt_status vt_session_db_create(struct vt_session_db *d, const struct vt_session_params *params, const char *client,
			       int64_t now, int64_t expires, const char id[33], const char nonce[45],
			       struct vt_err *err)
{
	char h[65];
	vt_status rc = VT_OK;
	VT_GUARD(id_hash(id, h, err));
	const char *addr = client ? client : "-";
	sweep(d, now);
	/* The table first: when it is full, the oldest unattested session
	 * anywhere goes. */
	int64_t live = 0;
	bool evicted = false;
	VT_GUARD(estimate(d, now, &live, err));
	if (live >= (int64_t)d->max) {
		VT_GUARD(vt_store_session_evict(d->store, NULL, &evicted, err));
		if (!evicted) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_SESSION, "max_sessions",
				     "too many live attested sessions (max_sessions); retry later");
			goto out;
		}
		pthread_mutex_lock(&d->lock);
		d->created--;
		pthread_mutex_unlock(&d->lock);
	}
	/* Then the client's quota, counted by the insert itself: past it, the
	 * client's own oldest goes (never the one just made: it is the newest). */
	struct vt_store_session v = {0};
	snprintf(v.tee, sizeof(v.tee), "%s", params->tee);
	snprintf(v.hash, sizeof(v.hash), "%s", params->hash);
	snprintf(v.policy, sizeof(v.policy), "%s", params->policy);
	memcpy(v.nonce, nonce, 45);
	int64_t mine = 0;
	VT_GUARD(vt_store_session_insert(d->store, h, addr, &v, expires, now, &mine, err));
	if (mine > (int64_t)d->max_per_client)
		VT_GUARD(vt_store_session_evict(d->store, addr, &evicted, err));
	pthread_mutex_lock(&d->lock);
	d->created++;
	pthread_mutex_unlock(&d->lock);
out:
	return rc;
}

vt_status vt_session_db_claim(struct vt_session_db *d, const char *id, int64_t now, struct vt_session_params *params,
			      char nonce[45], struct vt_err *err)
{
	char h[65];
	if (!vt_session_id_ok(id))
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
	vt_status rc = id_hash(id, h, err);
	if (rc != VT_OK)
		return rc;
	struct vt_store_session v;
	rc = vt_store_session_claim(d->store, h, now, &v, err);
	if (rc != VT_OK)
		return rc;
	memset(params, 0, sizeof(*params));
	snprintf(params->tee, sizeof(params->tee), "%s", v.tee);
	snprintf(params->hash, sizeof(params->hash), "%s", v.hash);
	snprintf(params->policy, sizeof(params->policy), "%s", v.policy);
	memcpy(nonce, v.nonce, 45);
	return VT_OK;
}

vt_status vt_session_db_attested(struct vt_session_db *d, const char *id, const char *token, struct vt_err *err)
{
	char h[65];
	if (!vt_session_id_ok(id))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "kbs-session-id", "session is not being attested");
	vt_status rc = id_hash(id, h, err);
	return rc == VT_OK ? vt_store_session_attested(d->store, h, token, err) : rc;
}

void vt_session_db_fail(struct vt_session_db *d, const char *id)
{
	char h[65];
	if (vt_session_id_ok(id) && id_hash(id, h, NULL) == VT_OK)
		(void)vt_store_session_fail(d->store, h, NULL); /* best effort: it expires anyway */
}

vt_status vt_session_db_token(struct vt_session_db *d, const char *id, int64_t now, char **token, struct vt_err *err)
{
	char h[65];
	if (!vt_session_id_ok(id))
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	vt_status rc = id_hash(id, h, err);
	return rc == VT_OK ? vt_store_session_token(d->store, h, now, token, err) : rc;
}

size_t vt_session_db_count(struct vt_session_db *d)
{
	int64_t n = 0;
	if (estimate(d, vt_now(), &n, NULL) != VT_OK) {
		pthread_mutex_lock(&d->lock);
		n = d->count + d->created;
		pthread_mutex_unlock(&d->lock);
	}
	return n > 0 ? (size_t)n : 0;
}
