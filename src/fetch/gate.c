/*
 * The fetch gate (veritee/fetch.h): slots for fetches in flight, a token
 * bucket per client and a negative cache of failed URLs, behind one mutex.
 * The tables are fixed arrays searched linearly: they are consulted only
 * before a network fetch, which costs far more than scanning them.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/fetch_internal.h"
#include "veritee/crypto.h"

/* One token is TOKEN units; a client earns per_client_per_minute units a
 * second, so a full bucket (per_client_per_minute tokens) refills in 60 s. */
#define TOKEN 60

struct client_entry {
	uint8_t key[32];   /* SHA-256 of the client string */
	int64_t last;      /* when `units` was computed */
	int64_t units;
	bool used;
};

struct negative_entry {
	uint8_t key[32];   /* SHA-256 of the URL */
	int64_t at, until;
	vt_status code;
	char detail[240];
	bool used;
};

struct vt_fetch_gate {
	struct vt_fetch_gate_settings s;
	pthread_mutex_t lock;
	struct vt_fetch_gate_stats st;
	struct client_entry *clients;     /* VT_FETCH_GATE_CLIENTS */
	struct negative_entry *negative;  /* VT_FETCH_GATE_NEGATIVE */
};

static int64_t gate_now(const struct vt_fetch_gate *g)
{
	return g->s.clock != NULL ? g->s.clock(g->s.clock_arg) : vt_mono_ms() / 1000;
}

void vt_fetch_gate_defaults(struct vt_fetch_gate_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->max_concurrent = VT_FETCH_GATE_DEFAULT_MAX_CONCURRENT;
	s->timeout_ms = VT_FETCH_GATE_DEFAULT_TIMEOUT_MS;
	s->per_client_per_minute = VT_FETCH_GATE_DEFAULT_PER_CLIENT_PER_MINUTE;
	s->negative_ttl = VT_FETCH_GATE_DEFAULT_NEGATIVE_TTL;
}

vt_status vt_fetch_gate_new(const struct vt_fetch_gate_settings *s, struct vt_fetch_gate **out, struct vt_err *err)
{
	if (s == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "", "missing argument");
	*out = NULL;
	if (s->max_concurrent < 1 || s->max_concurrent > 1024)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "max_concurrent",
			       "max_concurrent must be 1..1024, got %u", s->max_concurrent);
	if (s->timeout_ms < 1 || s->timeout_ms > 3600L * 1000)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "timeout_ms", "timeout must be 1 ms..1 h, got %ld ms",
			       s->timeout_ms);
	if (s->per_client_per_minute > 1000000)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "per_client_per_minute",
			       "per_client_per_minute must be 0..1000000, got %u", s->per_client_per_minute);
	if (s->negative_ttl < 0 || s->negative_ttl > 7 * 86400)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "negative_ttl",
			       "negative_ttl must be 0..604800 s, got %lld", (long long)s->negative_ttl);
	struct vt_fetch_gate *g = calloc(1, sizeof(*g));
	if (g != NULL) {
		g->clients = calloc(VT_FETCH_GATE_CLIENTS, sizeof(*g->clients));
		g->negative = calloc(VT_FETCH_GATE_NEGATIVE, sizeof(*g->negative));
	}
	if (g == NULL || g->clients == NULL || g->negative == NULL || pthread_mutex_init(&g->lock, NULL) != 0) {
		if (g != NULL) {
			free(g->clients);
			free(g->negative);
		}
		free(g);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	}
	g->s = *s;
	*out = g;
	return VT_OK;
}

void vt_fetch_gate_free(struct vt_fetch_gate *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g->clients);
	free(g->negative);
	free(g);
}

void vt_fetch_gate_stats(struct vt_fetch_gate *g, struct vt_fetch_gate_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	*out = g->st;
	pthread_mutex_unlock(&g->lock);
}

long vt_fetch_gate_timeout_ms(const struct vt_fetch_gate *g)
{
	return g != NULL ? g->s.timeout_ms : VT_FETCH_TIMEOUT_DEFAULT_MS;
}

/* ------------------------------------------------------------ tables (locked) */

static struct negative_entry *negative_find(struct vt_fetch_gate *g, const uint8_t key[32], int64_t now)
{
	for (size_t i = 0; i < VT_FETCH_GATE_NEGATIVE; i++) {
		struct negative_entry *e = &g->negative[i];
		if (!e->used || memcmp(e->key, key, 32) != 0)
			continue;
		if (now < e->until && now >= e->at)
			return e;
		e->used = false; /* expired (or the clock went back) */
		return NULL;
	}
	return NULL;
}

/* The entry for `key`, else a free one, else the oldest (evicted). */
static struct negative_entry *negative_slot(struct vt_fetch_gate *g, const uint8_t key[32])
{
	struct negative_entry *free_e = NULL, *oldest = &g->negative[0];
	for (size_t i = 0; i < VT_FETCH_GATE_NEGATIVE; i++) {
		struct negative_entry *e = &g->negative[i];
		if (e->used && memcmp(e->key, key, 32) == 0)
			return e;
		if (!e->used && free_e == NULL)
			free_e = e;
		if (e->used && oldest->used && e->at < oldest->at)
			oldest = e;
	}
	return free_e != NULL ? free_e : oldest;
}

/* The client's entry brought up to `now` (created with a full bucket; the
 * least recently seen client is evicted when the table is full). */
static struct client_entry *client_entry(struct vt_fetch_gate *g, const uint8_t key[32], int64_t now)
{
	int64_t rate = g->s.per_client_per_minute, full = rate * TOKEN;
	struct client_entry *free_e = NULL, *oldest = &g->clients[0];
	for (size_t i = 0; i < VT_FETCH_GATE_CLIENTS; i++) {
		struct client_entry *e = &g->clients[i];
		if (e->used && memcmp(e->key, key, 32) == 0) {
			int64_t elapsed = now > e->last ? now - e->last : 0;
			if (elapsed > TOKEN)
				elapsed = TOKEN; /* a full refill; avoids overflow */
			e->units = e->units + elapsed * rate < full ? e->units + elapsed * rate : full;
			if (now > e->last)
				e->last = now;
			return e;
		}
		if (!e->used && free_e == NULL)
			free_e = e;
		if (e->used && oldest->used && e->last < oldest->last)
			oldest = e;
	}
	struct client_entry *e = free_e != NULL ? free_e : oldest;
	memcpy(e->key, key, 32);
	e->last = now;
	e->units = full;
	e->used = true;
	return e;
}

/* ------------------------------------------------------------ admission */

vt_status vt_fetch_gate_admit(struct vt_fetch_ticket *t, const char *url, const char *what, struct vt_err *err)
{
	if (t == NULL || t->gate == NULL)
		return VT_OK;
	struct vt_fetch_gate *g = t->gate;
	uint8_t ukey[32], ckey[32];
	bool charge = t->client != NULL && !t->charged && g->s.per_client_per_minute > 0;
	if (vt_sha256(url, strlen(url), ukey, NULL) != VT_OK ||
	    (charge && vt_sha256(t->client, strlen(t->client), ckey, NULL) != VT_OK))
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_COLLATERAL, what, "cannot hash the fetch key");

	pthread_mutex_lock(&g->lock);
	int64_t now = gate_now(g);
	const struct negative_entry *ne = g->s.negative_ttl > 0 ? negative_find(g, ukey, now) : NULL;
	if (ne != NULL) {
		struct negative_entry copy = *ne;
		g->st.refused_negative++;
		pthread_mutex_unlock(&g->lock);
		return vt_fail(err, copy.code, VT_STEP_COLLATERAL, VT_FETCH_FIELD_NEGATIVE,
			       "%s not fetched: the same request failed %lld s ago and is not retried for another "
			       "%lld s (%s)",
			       what, (long long)(now - copy.at), (long long)(copy.until - now), copy.detail);
	}
	if (g->st.in_flight >= g->s.max_concurrent) {
		unsigned max = g->s.max_concurrent;
		g->st.refused_busy++;
		pthread_mutex_unlock(&g->lock);
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, VT_FETCH_FIELD_BUSY,
			       "%s not fetched: all %u collateral fetch slots are busy; retry later (GET %.200s)", what,
			       max, url);
	}
	if (charge) {
		struct client_entry *ce = client_entry(g, ckey, now);
		if (ce->units < TOKEN) {
			int64_t rate = g->s.per_client_per_minute;
			long long wait = (long long)((TOKEN - ce->units + rate - 1) / rate);
			g->st.refused_client++;
			pthread_mutex_unlock(&g->lock);
			return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, VT_FETCH_FIELD_CLIENT,
				       "%s not fetched: client %.64s is over its budget of %lld fetching verifications "
				       "a minute; retry in %lld s",
				       what, t->client, (long long)rate, wait);
		}
		ce->units -= TOKEN;
		t->charged = true;
	}
	g->st.in_flight++;
	g->st.fetches++;
	pthread_mutex_unlock(&g->lock);
	return VT_OK;
}

void vt_fetch_gate_release(struct vt_fetch_ticket *t)
{
	if (t == NULL || t->gate == NULL)
		return;
	pthread_mutex_lock(&t->gate->lock);
	if (t->gate->st.in_flight > 0)
		t->gate->st.in_flight--;
	pthread_mutex_unlock(&t->gate->lock);
}

void vt_fetch_gate_note_failure(struct vt_fetch_gate *g, const char *url, const struct vt_err *failure)
{
	uint8_t key[32];
	if (g == NULL || url == NULL || failure == NULL || failure->code == VT_OK)
		return;
	bool remember = g->s.negative_ttl > 0 && vt_sha256(url, strlen(url), key, NULL) == VT_OK;
	pthread_mutex_lock(&g->lock);
	g->st.failures++;
	if (remember) {
		int64_t now = gate_now(g);
		struct negative_entry *e = negative_slot(g, key);
		memcpy(e->key, key, 32);
		e->at = now;
		e->until = now + g->s.negative_ttl;
		e->code = failure->code;
		snprintf(e->detail, sizeof(e->detail), "%.239s", failure->detail);
		e->used = true;
	}
	pthread_mutex_unlock(&g->lock);
}
