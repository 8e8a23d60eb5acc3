/* RCAR session table: open hashing keyed by the random session id, with
 * O(1) admission (see session.h).
 *
 * Every session is in the id hash.  Unattested (AUTHED) sessions are also
 * in the global `pending` FIFO and in their client's FIFO, both in creation
 * order, which is expiry order (one timeout for all): eviction takes the
 * head, expiry trims from the head.  Claimed and attested sessions are in
 * the `done` list; expired ones there go lazily on lookup and in a sweep
 * once a minute. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker/session.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

enum state { AUTHED, ATTESTING, ATTESTED };

struct client;

struct session {
	struct session *hnext;        /* id hash chain */
	struct session *prev, *next;  /* pending FIFO or done list */
	struct session *cprev, *cnext; /* client FIFO (AUTHED only) */
	struct client *client;        /* AUTHED only */
	char id[33];
	struct vt_session_params params;
	char nonce[45];
	int64_t expires;
	enum state state;
	char *token;
};

struct list {
	struct session *head, *tail;
};

struct client {
	struct client *hnext;
	char addr[64];
	size_t count; /* AUTHED sessions */
	struct session *head, *tail;
};

#define NBUCKETS 4096
#define NCLIENT_BUCKETS 1024

struct vt_session_table {
	struct vt_session_db *db; /* shared store; then nothing below is used */
	pthread_mutex_t lock;
	struct session *buckets[NBUCKETS];
	struct client *clients[NCLIENT_BUCKETS];
	struct list pending, done;
	size_t count;
	size_t max, max_per_client;
	int64_t last_sweep;
	uint64_t client_hash_key; /* random: clients cannot aim at one bucket */
};

struct vt_session_table *vt_sessions_new(size_t max, size_t max_per_client)
{
	struct vt_session_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	if (vt_random((uint8_t *)&t->client_hash_key, sizeof(t->client_hash_key), NULL) != VT_OK) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->max = max ? max : 1;
	t->max_per_client = max_per_client ? max_per_client : t->max;
	return t;
}

struct vt_session_table *vt_sessions_new_shared(struct vt_store *store, size_t max, size_t max_per_client)
{
	struct vt_session_table *t = vt_sessions_new(max, max_per_client);
	if (t == NULL)
		return NULL;
	t->db = vt_session_db_new(store, max, max_per_client);
	if (t->db == NULL) {
		vt_sessions_free(t);
		return NULL;
	}
	return t;
}

static void session_free(struct session *s)
{
	if (s->token) {
		vt_wipe(s->token, strlen(s->token));
		free(s->token);
	}
	free(s);
}

void vt_sessions_free(struct vt_session_table *t)
{
	if (t == NULL)
		return;
	vt_session_db_free(t->db);
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct session *s = t->buckets[i];
		while (s) {
			struct session *n = s->hnext;
			session_free(s);
			s = n;
		}
	}
	for (size_t i = 0; i < NCLIENT_BUCKETS; i++) {
		struct client *c = t->clients[i];
		while (c) {
			struct client *n = c->hnext;
			free(c);
			c = n;
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ------------------------------------------------------------ lists */

static void list_push(struct list *l, struct session *s)
{
	s->next = NULL;
	s->prev = l->tail;
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
}

static void list_unlink(struct list *l, struct session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->tail = s->prev;
	s->prev = s->next = NULL;
}

/* ---------------------------------------------------------- clients */

static size_t client_bucket(const struct vt_session_table *t, const char *addr)
{
	uint64_t h = t->client_hash_key ^ 0xcbf29ce484222325ull; /* keyed FNV-1a */
	for (const char *p = addr; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return (size_t)(h % NCLIENT_BUCKETS);
}

static struct client *client_get(struct vt_session_table *t, const char *addr, bool create)
{
	size_t b = client_bucket(t, addr);
	for (struct client *c = t->clients[b]; c; c = c->hnext)
		if (strcmp(c->addr, addr) == 0)
			return c;
	if (!create)
		return NULL;
	struct client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->hnext = t->clients[b];
	t->clients[b] = c;
	return c;
}

static void client_drop_if_empty(struct vt_session_table *t, struct client *c)
{
	if (c->count != 0)
		return;
	struct client **pp = &t->clients[client_bucket(t, c->addr)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	free(c);
}

/* Take an AUTHED session out of its client's FIFO. */
static void client_unlink(struct vt_session_table *t, struct session *s)
{
	struct client *c = s->client;
	if (c == NULL)
		return;
	if (s->cprev)
		s->cprev->cnext = s->cnext;
	else
		c->head = s->cnext;
	if (s->cnext)
		s->cnext->cprev = s->cprev;
	else
		c->tail = s->cprev;
	s->cprev = s->cnext = NULL;
	s->client = NULL;
	c->count--;
	client_drop_if_empty(t, c);
}

/* ---------------------------------------------------------- sessions */

/* The id is random hex, so its first characters are a fine hash. */
static size_t bucket_of(const char *id)
{
	size_t h = 0;
	for (int i = 0; i < 4 && id[i]; i++)
		h = h * 16 + (size_t)vt_hex_digit(id[i]);
	return h % NBUCKETS;
}

bool vt_session_id_ok(const char *id)
{
	if (id == NULL || strnlen(id, 33) != 32)
		return false;
	for (int i = 0; i < 32; i++)
		if (vt_hex_digit(id[i]) < 0)
			return false;
	return true;
}

/* Unlink from everything and free; caller holds the lock. */
static void session_remove_locked(struct vt_session_table *t, struct session *s)
{
	struct session **pp = &t->buckets[bucket_of(s->id)];
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (s->state == AUTHED) {
		list_unlink(&t->pending, s);
		client_unlink(t, s);
	} else {
		list_unlink(&t->done, s);
	}
	t->count--;
	session_free(s);
}

/* Expired unattested sessions sit at the head of `pending`. */
static void trim_pending_locked(struct vt_session_table *t, int64_t now)
{
	while (t->pending.head && t->pending.head->expires <= now)
		session_remove_locked(t, t->pending.head);
}

static void sweep_done_locked(struct vt_session_table *t, int64_t now)
{
	struct session *s = t->done.head;
	while (s) {
		struct session *n = s->next;
		if (s->expires <= now && s->state != ATTESTING)
			session_remove_locked(t, s);
		s = n;
	}
	t->last_sweep = now;
}

/* Find a live session (constant-time id comparison); expired ones are
 * removed.  Caller holds the lock. */
static struct session *find_locked(struct vt_session_table *t, const char *id, int64_t now)
{
	if (!vt_session_id_ok(id))
		return NULL;
	for (struct session *s = t->buckets[bucket_of(id)]; s; s = s->hnext) {
		if (!vt_ct_eq(s->id, id, 32))
			continue;
		if (s->expires <= now && s->state != ATTESTING) {
			session_remove_locked(t, s);
			return NULL;
		}
		return s;
	}
	return NULL;
}

/* A fresh session id (32 hex digits: 128 random bits) and nonce (base64 of
 * 32 random bytes), for either table. */
static vt_status new_id_nonce(char id[33], char nonce[45], struct vt_err *err)
{
	uint8_t raw_id[16], raw_nonce[32];
	vt_status rc = vt_random(raw_id, sizeof(raw_id), err);
	if (rc == VT_OK)
		rc = vt_random(raw_nonce, sizeof(raw_nonce), err);
	if (rc != VT_OK)
		return rc;
	char *hid = vt_hex_encode(raw_id, sizeof(raw_id));
	char *b64 = vt_b64_encode(raw_nonce, sizeof(raw_nonce));
	bool ok = hid != NULL && b64 != NULL;
	if (ok) {
		memcpy(id, hid, 33);
		memcpy(nonce, b64, 45);
	}
	free(hid);
	free(b64);
	return ok ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "cannot create session");
}

vt_status vt_session_create(struct vt_session_table *t, const struct vt_session_params *params, const char *client,
			    int64_t now, int64_t expires, char id[VT_SESSION_ID_MAX], char nonce[45], struct vt_err *err)
{
	if (params == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "cannot create session");
	char new_id[33], new_nonce[45];
	vt_status rc = new_id_nonce(new_id, new_nonce, err);
	if (rc != VT_OK)
		return rc;
	if (t->db) {
		rc = vt_session_db_create(t->db, params, client, now, expires, new_nonce, id, err);
		if (rc == VT_OK)
			memcpy(nonce, new_nonce, 45);
		return rc;
	}
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "cannot create session");
	memcpy(s->id, new_id, 33);
	memcpy(s->nonce, new_nonce, 45);
	s->params = *params;
	s->expires = expires;
	s->state = AUTHED;

	pthread_mutex_lock(&t->lock);
	trim_pending_locked(t, now);
	if (now - t->last_sweep >= 60)
		sweep_done_locked(t, now);
	/* The client's own quota first: it evicts only itself.  Then the table:
	 * the oldest unattested session anywhere.  (An eviction may free the
	 * client record, so it is looked up again for the insert.) */
	const char *addr = client ? client : "-";
	struct client *c = client_get(t, addr, false);
	if (c != NULL && c->count >= t->max_per_client)
		session_remove_locked(t, c->head);
	if (t->count >= t->max && t->pending.head != NULL)
		session_remove_locked(t, t->pending.head);
	if (t->count >= t->max) {
		pthread_mutex_unlock(&t->lock);
		free(s);
		return vt_fail(err, VT_E_LIMIT, VT_STEP_SESSION, "max_sessions",
			       "too many live attested sessions (max_sessions); retry later");
	}
	c = client_get(t, addr, true);
	if (c == NULL) {
		pthread_mutex_unlock(&t->lock);
		free(s);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "cannot create session");
	}
	size_t b = bucket_of(s->id);
	s->hnext = t->buckets[b];
	t->buckets[b] = s;
	list_push(&t->pending, s);
	s->client = c;
	s->cprev = c->tail;
	if (c->tail)
		c->tail->cnext = s;
	else
		c->head = s;
	c->tail = s;
	c->count++;
	t->count++;
	memcpy(id, s->id, 33);
	memcpy(nonce, s->nonce, 45);
	pthread_mutex_unlock(&t->lock);
	return VT_OK;
}

vt_status vt_session_claim(struct vt_session_table *t, const char *id, int64_t now, struct vt_session_params *params,
			   char nonce[45], struct vt_err *err)
{
	if (t->db)
		return vt_session_db_claim(t->db, id, now, params, nonce, err);
	vt_status rc = VT_OK;
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, now);
	if (s == NULL) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
	} else if (s->state != AUTHED) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "runtime-data.nonce",
			     "nonce already used: a session attests once");
	} else {
		list_unlink(&t->pending, s);
		client_unlink(t, s);
		s->state = ATTESTING;
		list_push(&t->done, s);
		*params = s->params;
		memcpy(nonce, s->nonce, 45);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

vt_status vt_session_attested(struct vt_session_table *t, const char *id, int64_t now, const char *token,
			      struct vt_err *err)
{
	(void)now; /* a claimed session does not expire under its claimer */
	if (t->db)
		return vt_session_db_attested(t->db, id, token, err);
	char *copy = strdup(token);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "", "out of memory");
	vt_status rc = VT_OK;
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, INT64_MIN);
	if (s == NULL || s->state != ATTESTING) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SESSION, "kbs-session-id", "session is not being attested");
	} else {
		s->state = ATTESTED;
		s->token = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(copy);
	return rc;
}

void vt_session_fail(struct vt_session_table *t, const char *id)
{
	if (t->db) {
		vt_session_db_fail(t->db, id);
		return;
	}
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, INT64_MIN);
	if (s != NULL && s->state == ATTESTING)
		session_remove_locked(t, s);
	pthread_mutex_unlock(&t->lock);
}

vt_status vt_session_token(struct vt_session_table *t, const char *id, int64_t now, char **token, struct vt_err *err)
{
	if (t->db)
		return vt_session_db_token(t->db, id, now, token, err);
	pthread_mutex_lock(&t->lock);
	struct session *s = find_locked(t, id, now);
	char *copy = (s && s->state == ATTESTED) ? strdup(s->token) : NULL;
	pthread_mutex_unlock(&t->lock);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	*token = copy;
	return VT_OK;
}

vt_status vt_session_token_resource(struct vt_session_table *t, const char *id, int64_t now, const char *path,
				    char **token, struct vt_store_sealed *resource, bool *prefetched, struct vt_err *err)
{
	*prefetched = false;
	if (t->db == NULL)
		return vt_session_token(t, id, now, token, err);
	vt_status rc = vt_session_db_token_resource(t->db, id, now, path, token, resource, err);
	*prefetched = rc == VT_OK; /* else the caller may go on with a Bearer token: no resource read yet */
	return rc;
}

size_t vt_sessions_count(struct vt_session_table *t)
{
	if (t->db)
		return vt_session_db_count(t->db);
	pthread_mutex_lock(&t->lock);
	size_t n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
