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

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "broker/session.h"
#include "broker/store.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define SWEEP_SECONDS 30
#define SWEEP_GRACE 600 /* a row outlives its session this long: replicas' clocks may differ */
#define COUNT_REFRESH_MS 10000
#define COOKIE_VERSION 1
#define SID_SIZE 16
#define MAC_SIZE 32
/* version, id, expiry, then four strings of at most 255 bytes (in practice
 * a 44-byte nonce and names of at most 63). */
#define PAYLOAD_MAX (1 + SID_SIZE + 8 + 4 * 64)

struct vt_session_db {
	struct vt_store *store;
	EVP_MAC_CTX *mac; /* keyed once; each use works on a copy */
	pthread_mutex_t lock;
	int64_t count, counted_at; /* attested sessions, when last counted (monotonic ms) */
	int64_t last_sweep;        /* wall seconds */
};

/* What the cookie says. */
struct cookie {
	uint8_t sid[SID_SIZE];
	int64_t expires;
	char nonce[45];
	struct vt_session_params params;
};

struct vt_session_db *vt_session_db_new(struct vt_store *store, size_t max, size_t max_per_client)
{
	(void)max, (void)max_per_client; /* unattested sessions are not held: see above */
	struct vt_session_db *d = calloc(1, sizeof(*d));
	struct vt_secret *key = NULL;
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (d == NULL || m == NULL || vt_store_derive_key(store, "veritee kbs session cookie v1", &key, NULL) != VT_OK)
		goto fail;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_END};
	d->mac = EVP_MAC_CTX_new(m);
	if (d->mac == NULL || EVP_MAC_init(d->mac, key->data, key->len, params) != 1)
		goto fail;
	EVP_MAC_free(m);
	vt_secret_free(key);
	d->store = store;
	pthread_mutex_init(&d->lock, NULL);
	return d;
fail:
	EVP_MAC_free(m);
	vt_secret_free(key);
	if (d)
		EVP_MAC_CTX_free(d->mac);
	free(d);
	return NULL;
}

void vt_session_db_free(struct vt_session_db *d)
{
	if (d == NULL)
		return;
	EVP_MAC_CTX_free(d->mac);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ------------------------------------------------------------- cookies */

static vt_status mac(struct vt_session_db *d, const uint8_t *p, size_t n, uint8_t out[MAC_SIZE], struct vt_err *err)
{
	size_t len = 0;
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(d->mac);
	bool ok = c != NULL && EVP_MAC_update(c, p, n) == 1 && EVP_MAC_final(c, out, &len, MAC_SIZE) == 1 &&
		  len == MAC_SIZE;
	EVP_MAC_CTX_free(c);
	return ok ? VT_OK : vt_fail(err, VT_E_CRYPTO, VT_STEP_SESSION, "kbs-session-id", "HMAC-SHA-256 failed");
}

static bool put_str(uint8_t *p, size_t *n, const char *s)
{
	size_t len = strlen(s);
	if (len > 255 || *n + 1 + len > PAYLOAD_MAX)
		return false;
	p[(*n)++] = (uint8_t)len;
	memcpy(p + *n, s, len);
	*n += len;
	return true;
}

static vt_status get_str(struct vt_reader *r, char *out, size_t size, const char *field, struct vt_err *err)
{
	uint8_t len = 0;
	vt_status rc = vt_reader_u8(r, &len, field, err);
	if (rc == VT_OK && (size_t)len >= size)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_SESSION, field, "too long");
	if (rc == VT_OK)
		rc = vt_reader_copy(r, out, len, field, err);
	if (rc == VT_OK)
		out[len] = '\0';
	return rc;
}

/* base64url(payload || HMAC(payload)). */
static vt_status cookie_make(struct vt_session_db *d, const struct cookie *k, char out[VT_SESSION_ID_MAX],
			     struct vt_err *err)
{
	uint8_t p[PAYLOAD_MAX + MAC_SIZE];
	size_t n = 0;
	p[n++] = COOKIE_VERSION;
	memcpy(p + n, k->sid, SID_SIZE);
	n += SID_SIZE;
	vt_put_le(p + n, (uint64_t)k->expires, 8); /* as vt_reader_u64le reads it */
	n += 8;
	if (!put_str(p, &n, k->nonce) || !put_str(p, &n, k->params.tee) || !put_str(p, &n, k->params.hash) ||
	    !put_str(p, &n, k->params.policy))
		return vt_fail(err, VT_E_USAGE, VT_STEP_SESSION, "kbs-session-id", "session parameters too long");
	vt_status rc = mac(d, p, n, p + n, err);
	if (rc != VT_OK)
		return rc;
	char *b = vt_b64url_encode(p, n + MAC_SIZE);
	if (b == NULL || strlen(b) >= VT_SESSION_ID_MAX) {
		free(b);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "kbs-session-id", "cannot make the session cookie");
	}
	memcpy(out, b, strlen(b) + 1);
	free(b);
	return VT_OK;
}

/* The cookie's session if its MAC is right and it has not expired: else
 * VT_E_NOTFOUND, as for an unknown session (no oracle on why). */
static vt_status cookie_open(struct vt_session_db *d, const char *id, int64_t now, struct cookie *k,
			     struct vt_err *err)
{
	uint8_t *raw = NULL, want[MAC_SIZE];
	size_t n = 0, idlen = id ? strlen(id) : 0;
	vt_status rc = VT_OK;
	memset(k, 0, sizeof(*k));
	if (idlen == 0 || idlen >= VT_SESSION_ID_MAX || vt_b64url_decode(id, idlen, &raw, &n, NULL) != VT_OK ||
	    n < 1 + MAC_SIZE || n > PAYLOAD_MAX + MAC_SIZE || mac(d, raw, n - MAC_SIZE, want, NULL) != VT_OK ||
	    CRYPTO_memcmp(want, raw + n - MAC_SIZE, MAC_SIZE) != 0 || raw[0] != COOKIE_VERSION) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
		goto out;
	}
	/* Authentic: the broker wrote these bytes.  Read them as carefully as
	 * any others all the same. */
	struct vt_reader r;
	uint64_t exp = 0;
	vt_reader_init(&r, raw + 1, n - 1 - MAC_SIZE);
	VT_GUARD(vt_reader_copy(&r, k->sid, SID_SIZE, "kbs-session-id.sid", err));
	VT_GUARD(vt_reader_u64le(&r, &exp, "kbs-session-id.expires", err));
	VT_GUARD(get_str(&r, k->nonce, sizeof(k->nonce), "kbs-session-id.nonce", err));
	VT_GUARD(get_str(&r, k->params.tee, sizeof(k->params.tee), "kbs-session-id.tee", err));
	VT_GUARD(get_str(&r, k->params.hash, sizeof(k->params.hash), "kbs-session-id.hash", err));
	VT_GUARD(get_str(&r, k->params.policy, sizeof(k->params.policy), "kbs-session-id.policy", err));
	VT_GUARD(vt_reader_expect_end(&r, "kbs-session-id", err));
	k->expires = (int64_t)exp;
	if (k->expires <= now)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
out:
	if (raw)
		vt_wipe(raw, n);
	free(raw);
	return rc;
}

/* hex SHA-256 of the session id: the row's key. */
static vt_status row_key(const struct cookie *k, char out[65], struct vt_err *err)
{
	return vt_sha256_hex(k->sid, SID_SIZE, out, err);
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
	struct cookie k = {.expires = expires, .params = *params};
	memcpy(k.nonce, nonce, 45);
	/* Nothing is written, but a session the database cannot attest is no
	 * use to the guest: fail fast, like every other request. */
	vt_status rc = vt_store_available(d->store, err);
	if (rc == VT_OK)
		rc = vt_random(k.sid, SID_SIZE, err);
	if (rc != VT_OK)
		return rc;
	sweep(d, now);
	return cookie_make(d, &k, id, err);
}

vt_status vt_session_db_claim(struct vt_session_db *d, const char *id, int64_t now, struct vt_session_params *params,
			      char nonce[45], struct vt_err *err)
{
	/* Nothing is written here: the nonce's use is recorded by
	 * vt_session_db_attested (or _fail), and whichever comes first wins. */
	struct cookie k;
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
	struct cookie k;
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
	struct cookie k;
	char h[65];
	if (cookie_open(d, id, now, &k, NULL) != VT_OK)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	vt_status rc = row_key(&k, h, err);
	return rc == VT_OK ? vt_store_attested_token(d->store, h, now, token, err) : rc;
}

vt_status vt_session_db_token_resource(struct vt_session_db *d, const char *id, int64_t now, const char *path,
				       char **token, struct vt_store_sealed *resource, struct vt_err *err)
{
	struct cookie k;
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
