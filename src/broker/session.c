/* RCAR session table: open hashing keyed by the random session id. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker/session.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

struct session {
	struct session *next;
	char id[33];
	char tee[32];
	char nonce[45];
	int64_t expires;
	enum vt_session_state state;
	char *token;
};

#define NBUCKETS 4096

struct vt_session_table {
	pthread_mutex_t lock;
	struct session *buckets[NBUCKETS];
	size_t count;
	size_t max;
	int64_t last_sweep;
};

struct vt_session_table *vt_sessions_new(size_t max)
{
	struct vt_session_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->max = max;
	return t;
}

static void session_free(struct session *s)
{
	free(s->token);
	free(s);
}

void vt_sessions_free(struct vt_session_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct session *s = t->buckets[i];
		while (s) {
			struct session *n = s->next;
			session_free(s);
			s = n;
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* The id is random hex, so its first characters are a fine hash. */
static size_t bucket_of(const char *id)
{
	size_t h = 0;
	for (int i = 0; i < 4 && id[i]; i++)
		h = h * 16 + (size_t)(id[i] <= '9' ? id[i] - '0' : (id[i] | 0x20) - 'a' + 10);
	return h % NBUCKETS;
}

/* Remove expired sessions; caller holds the lock. */
static void sweep_locked(struct vt_session_table *t, int64_t now)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct session **pp = &t->buckets[i];
		while (*pp) {
			if ((*pp)->expires <= now) {
				struct session *dead = *pp;
				*pp = dead->next;
				session_free(dead);
				t->count--;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	t->last_sweep = now;
}

/* Find a live session; expired ones are unlinked.  Caller holds the lock. */
static struct session *find_locked(struct vt_session_table *t, const char *id, int64_t now)
{
	if (id == NULL || strlen(id) != 32)
		return NULL;
	struct session **pp = &t->buckets[bucket_of(id)];
	while (*pp) {
		struct session *s = *pp;
		if (strcmp(s->id, id) == 0) {
			if (s->expires <= now) {
				*pp = s->next;
				session_free(s);
				t->count--;
				return NULL;
			}
			return s;
		}
		pp = &s->next;
	}
	return NULL;
}

vt_status vt_session_create(struct vt_session_table *t, const char *tee, int64_t now, int64_t expires, char id[33],
			    char nonce[45], struct vt_err *err)
{
	uint8_t raw_id[16], raw_nonce[32];
	vt_status rc = vt_random(raw_id, sizeof(raw_id), err);
	if (rc == VT_OK)
		rc = vt_random(raw_nonce, sizeof(raw_nonce), err);
	if (rc != VT_OK)
		return rc;
	char *hid = vt_hex_encode(raw_id, sizeof(raw_id));
	char *b64 = vt_b64_encode(raw_nonce, sizeof(raw_nonce));
	struct session *s = calloc(1, sizeof(*s));
	if (hid == NULL || b64 == NULL || s == NULL || strlen(tee) >= sizeof(s->tee)) {
		free(hid);
		free(b64);
		free(s);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "cannot create session");
	}
	memcpy(s->id, hid, 33);
	memcpy(s->nonce, b64, 45);
	snprintf(s->tee, sizeof(s->tee), "%s", tee);
	s->expires = expires;
	s->state = VT_SESSION_AUTHED;
	free(hid);
	free(b64);

	pthread_mutex_lock(&t->lock);
	if (t->count >= t->max || now - t->last_sweep >= 60)
		sweep_locked(t, now);
	if (t->count >= t->max) {
		pthread_mutex_unlock(&t->lock);
		free(s);
		return vt_fail(err, VT_E_LIMIT, VT_STEP_SESSION, "", "too many live sessions (max_sessions)");
	}
	size_t b = bucket_of(s->id);
	s->next = t->buckets[b];
	t->buckets[b] = s;
	t->count++;
	memcpy(id, s->id, 33);
	memcpy(nonce, s->nonce, 45);
	pthread_mutex_unlock(&t->lock);
	return VT_OK;
}

vt_status vt_session_lookup(struct vt_session_table *t, const char *id, int64_t now, enum vt_session_state *state,
			    char tee[32], char nonce[45], int64_t *expires, struct vt_err *err)
{
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, now);
	if (s != NULL) {
		*state = s->state;
		memcpy(tee, s->tee, 32);
		memcpy(nonce, s->nonce, 45);
		*expires = s->expires;
	}
	pthread_mutex_unlock(&t->lock);
	return s ? VT_OK : vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
}

vt_status vt_session_attested(struct vt_session_table *t, const char *id, int64_t now, const char *token,
			      struct vt_err *err)
{
	char *copy = strdup(token);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "out of memory");
	vt_status rc = VT_OK;
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, now);
	if (s == NULL) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
	} else if (s->state != VT_SESSION_AUTHED) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "runtime-data.nonce",
			     "nonce already used: a session attests once");
	} else {
		s->state = VT_SESSION_ATTESTED;
		s->token = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(copy);
	return rc;
}

vt_status vt_session_token(struct vt_session_table *t, const char *id, int64_t now, char **token, struct vt_err *err)
{
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, now);
	char *copy = (s && s->state == VT_SESSION_ATTESTED) ? strdup(s->token) : NULL;
	pthread_mutex_unlock(&t->lock);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	*token = copy;
	return VT_OK;
}

void vt_session_remove(struct vt_session_table *t, const char *id)
{
	pthread_mutex_lock(&t->lock);
	if (id && strlen(id) == 32) {
		struct session **pp = &t->buckets[bucket_of(id)];
		while (*pp) {
			if (strcmp((*pp)->id, id) == 0) {
				struct session *dead = *pp;
				*pp = dead->next;
				session_free(dead);
				t->count--;
				break;
			}
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

size_t vt_sessions_count(struct vt_session_table *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
