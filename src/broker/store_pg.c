/*
 * The PostgreSQL driver (libpq): a pool of connections shared by the
 * broker's worker threads, statements prepared once per connection, and a
 * separate connection that LISTENs for other brokers' kv changes.
 *
 * Outages.  A connection that fails is closed; the next request opens a
 * new one.  When that fails too, the database is marked down with the
 * reason and a back-off (100 ms doubling to 2 s): until it passes, every
 * request that needs a new connection fails at once with VT_E_UNAVAILABLE
 * (HTTP 503), so a dead database costs a request microseconds, not a
 * connect timeout, and the broker process stays up.  An idle connection is
 * checked without a round trip before use (PQconsumeInput sees the close a
 * restarting server sends), so a restart costs almost no failed request.
 * Waiting for a free connection is bounded in time and in the number of
 * waiters (the request queue in front of the database).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "broker/store_internal.h"
#include "veritee/util.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
#define MAX_PARAMS 8
#define MAX_KW 40

struct pg_conn {
	PGconn *c;
	struct pg_conn *next;
	bool prepared[SQL_COUNT];
	unsigned char *scratch[4]; /* unescaped bytea of the current row */
	size_t nscratch;
};

struct pg {
	const char *kw[MAX_KW + 1];
	const char *val[MAX_KW + 1];
	char *owned[MAX_KW];    /* strings kw/val point into */
	size_t nowned;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct pg_conn *idle;
	size_t open, max, waiting, max_waiting;
	int64_t wait_ms, statement_timeout_ms;
	bool down;
	int64_t retry_at_ms, backoff_ms;
	char why[300];
	PGconn *listen;
	int64_t listen_retry_ms;
};

static struct pg *pg_of(struct vt_store *s)
{
	return s->impl;
}

/* libpq's message, first line only. */
static void first_line(char *dst, size_t n, const char *msg)
{
	snprintf(dst, n, "%s", msg && msg[0] ? msg : "unknown error");
	dst[strcspn(dst, "\n")] = '\0';
}

/* SQLSTATE classes that mean "not now": connection exceptions (08),
 * insufficient resources such as a full disk (53), operator intervention
 * such as a shutdown or a statement timeout (57), system errors (58), a
 * read-only transaction (25006), serialization failures and deadlocks
 * (40001, 40P01) and lock timeouts (55P03). */
static bool sqlstate_unavailable(const char *st)
{
	if (st == NULL || strlen(st) != 5)
		return false;
	return strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	       strncmp(st, "58", 2) == 0 || strcmp(st, "25006") == 0 || strcmp(st, "40001") == 0 ||
	       strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0;
}

static vt_status pg_fail(struct vt_store *s, PGconn *c, PGresult *r, const char *what, struct vt_err *err)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char msg[256];
	first_line(msg, sizeof(msg), primary ? primary : PQerrorMessage(c));
	bool unavailable = PQstatus(c) != CONNECTION_OK || sqlstate_unavailable(st);
	return vt_fail(err, unavailable ? VT_E_UNAVAILABLE : VT_E_IO, VT_STEP_STORAGE, "database",
		       "database %s (%s): %s%s%s%s", s->name, what, msg, st ? " (SQLSTATE " : "", st ? st : "",
		       st ? ")" : "");
}

/* ------------------------------------------------------------------ pool */

/* Server notices (NOTICE ..., the FATAL a shutting-down server sends) are
 * not printed to stderr: failures reach the broker's log as errors. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void conn_free(struct pg_conn *pc)
{
	if (pc == NULL)
		return;
	for (size_t i = 0; i < pc->nscratch; i++)
		PQfreemem(pc->scratch[i]);
	PQfinish(pc->c);
	free(pc);
}

/* Open one connection and set its per-session limits. */
static struct pg_conn *conn_open(struct vt_store *s, char *why, size_t why_size)
{
	struct pg *p = pg_of(s);
	struct pg_conn *pc = calloc(1, sizeof(*pc));
	if (pc == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	pc->c = PQconnectdbParams(p->kw, p->val, 0);
	if (pc->c != NULL)
		PQsetNoticeProcessor(pc->c, quiet_notice, NULL);
	if (pc->c == NULL || PQstatus(pc->c) != CONNECTION_OK) {
		char m[256];
		first_line(m, sizeof(m), pc->c ? PQerrorMessage(pc->c) : "out of memory");
		snprintf(why, why_size, "cannot connect to %.90s: %.180s", s->name, m);
		conn_free(pc);
		return NULL;
	}
	/* Statements and lock waits end within the limit: a stuck statement
	 * is an error the client may retry, not a stuck worker thread. */
	char set[160];
	/* synchronous_commit off by default: durable writes ask for it (store.c). */
	snprintf(set, sizeof(set),
		 "SET statement_timeout = %" PRId64 "; SET lock_timeout = %" PRId64 "; SET synchronous_commit = off",
		 p->statement_timeout_ms, p->statement_timeout_ms);
	PGresult *r = PQexec(pc->c, set);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok) {
		char m[256];
		first_line(m, sizeof(m), PQerrorMessage(pc->c));
		snprintf(why, why_size, "%.100s: %.180s", s->name, m);
	}
	PQclear(r);
	if (!ok) {
		conn_free(pc);
		return NULL;
	}
	return pc;
}

/* Whether an idle connection still works, without a round trip: a server
 * that restarted has closed the socket (and said why), which
 * PQconsumeInput reads without blocking. */
static bool conn_alive(struct pg_conn *pc)
{
	return PQconsumeInput(pc->c) == 1 && PQstatus(pc->c) == CONNECTION_OK &&
	       PQtransactionStatus(pc->c) == PQTRANS_IDLE;
}

static vt_status pg_acquire(struct vt_store *s, void **conn, struct vt_err *err)
{
	struct pg *p = pg_of(s);
	struct pg_conn *dead = NULL;
	int64_t deadline = vt_mono_ms() + p->wait_ms;
	vt_status rc = VT_OK;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->idle != NULL) {
			struct pg_conn *pc = p->idle;
			p->idle = pc->next;
			if (conn_alive(pc)) {
				pthread_mutex_unlock(&p->lock);
				conn_free(dead);
				*conn = pc;
				return VT_OK;
			}
			p->open--;
			conn_free(dead); /* keep at most one to free outside the lock */
			dead = pc;
		}
		if (p->open < p->max) {
			if (p->down && vt_mono_ms() < p->retry_at_ms) {
				rc = vt_fail(err, VT_E_UNAVAILABLE, VT_STEP_STORAGE, "database",
					     "database unavailable: %s (retrying in the background)", p->why);
				break;
			}
			p->open++;
			pthread_mutex_unlock(&p->lock);
			conn_free(dead);
			dead = NULL;
			char why[sizeof(p->why)];
			struct pg_conn *pc = conn_open(s, why, sizeof(why));
			pthread_mutex_lock(&p->lock);
			if (pc == NULL) {
				p->open--;
				p->down = true;
				p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_FIRST_MS;
				if (p->backoff_ms > BACKOFF_MAX_MS)
					p->backoff_ms = BACKOFF_MAX_MS;
				p->retry_at_ms = vt_mono_ms() + p->backoff_ms;
				memcpy(p->why, why, sizeof(p->why));
				pthread_cond_broadcast(&p->cv);
				rc = vt_fail(err, VT_E_UNAVAILABLE, VT_STEP_STORAGE, "database", "database unavailable: %s", why);
				break;
			}
			p->down = false;
			p->backoff_ms = 0;
			pthread_mutex_unlock(&p->lock);
			*conn = pc;
			return VT_OK;
		}
		/* Every connection is busy: wait, a bounded time, in a bounded queue. */
		int64_t now = vt_mono_ms();
		if (p->waiting >= p->max_waiting || now >= deadline) {
			rc = vt_fail(err, VT_E_UNAVAILABLE, VT_STEP_STORAGE, "database",
				     "all %zu database connections busy (%zu requests waiting, at most %lld ms): overloaded",
				     p->max, p->waiting, (long long)p->wait_ms);
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t left = deadline - now;
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (long)(left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		p->waiting++;
		pthread_cond_timedwait(&p->cv, &p->lock, &ts);
		p->waiting--;
	}
	pthread_mutex_unlock(&p->lock);
	conn_free(dead);
	return rc;
}

static void scratch_clear(struct pg_conn *pc)
{
	for (size_t i = 0; i < pc->nscratch; i++)
		PQfreemem(pc->scratch[i]);
	pc->nscratch = 0;
}

static void pg_release(struct vt_store *s, void *conn, bool broken)
{
	struct pg *p = pg_of(s);
	struct pg_conn *pc = conn;
	scratch_clear(pc);
	if (!broken && PQstatus(pc->c) != CONNECTION_OK)
		broken = true;
	pthread_mutex_lock(&p->lock);
	if (broken) {
		p->open--;
	} else {
		pc->next = p->idle;
		p->idle = pc;
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
	if (broken)
		conn_free(pc);
}

static bool pg_conn_broken(void *conn)
{
	return PQstatus(((struct pg_conn *)conn)->c) != CONNECTION_OK;
}

/* Known down: refused at once until the back-off ends; then one connection
 * attempt (acquire) says whether it is back.  Up: no round trip, and no
 * wait for a busy pool. */
static vt_status pg_available(struct vt_store *s, struct vt_err *err)
{
	struct pg *p = pg_of(s);
	char why[sizeof(p->why)];
	pthread_mutex_lock(&p->lock);
	bool down = p->down, due = down && vt_mono_ms() >= p->retry_at_ms;
	memcpy(why, p->why, sizeof(why));
	pthread_mutex_unlock(&p->lock);
	if (!down)
		return VT_OK;
	if (!due)
		return vt_fail(err, VT_E_UNAVAILABLE, VT_STEP_STORAGE, "database",
			       "database unavailable: %s (retrying in the background)", why);
	void *c = NULL;
	vt_status rc = pg_acquire(s, &c, err);
	if (rc == VT_OK)
		pg_release(s, c, false);
	return rc;
}

/* ------------------------------------------------------------- statements */

struct pg_row {
	PGresult *r;
	struct pg_conn *pc;
};

static const char *pg_text(const struct vt_db_row *row, int col)
{
	const struct pg_row *pr = row->impl;
	if (PQgetisnull(pr->r, row->row, col))
		return NULL;
	return PQgetvalue(pr->r, row->row, col);
}

static int64_t pg_num(const struct vt_db_row *row, int col)
{
	const char *t = pg_text(row, col);
	return t ? strtoll(t, NULL, 10) : 0;
}

static const uint8_t *pg_bytes(const struct vt_db_row *row, int col, size_t *size)
{
	const struct pg_row *pr = row->impl;
	*size = 0;
	const char *t = pg_text(row, col);
	if (t == NULL || pr->pc->nscratch == sizeof(pr->pc->scratch) / sizeof(pr->pc->scratch[0]))
		return NULL;
	unsigned char *b = PQunescapeBytea((const unsigned char *)t, size);
	if (b == NULL)
		return NULL;
	pr->pc->scratch[pr->pc->nscratch++] = b;
	return b;
}

static const struct vt_db_driver pg_driver;

/* Prepares statement q on the connection the first time it is used there. */
static vt_status prepare_once(struct vt_store *s, struct pg_conn *pc, enum vt_sql q, size_t nargs, const char *name,
			      struct vt_err *err)
{
	if (pc->prepared[q])
		return VT_OK;
	PGresult *r = PQprepare(pc->c, name, vt_sql_text(q, VT_DB_PG), (int)nargs, NULL);
	vt_status rc = PQresultStatus(r) == PGRES_COMMAND_OK ? VT_OK : pg_fail(s, pc->c, r, "prepare", err);
	PQclear(r);
	pc->prepared[q] = rc == VT_OK;
	return rc;
}

/* libpq's parameter arrays for args (nums holds the integers' text). */
struct pg_params {
	const char *values[MAX_PARAMS];
	int lengths[MAX_PARAMS], formats[MAX_PARAMS];
	char nums[MAX_PARAMS][24];
};

static void bind_params(struct pg_params *p, const struct vt_db_arg *args, size_t nargs)
{
	for (size_t i = 0; i < nargs; i++) {
		const struct vt_db_arg *a = &args[i];
		p->lengths[i] = 0;
		p->formats[i] = 0;
		if (a->kind == 'i') {
			snprintf(p->nums[i], sizeof(p->nums[i]), "%" PRId64, a->num);
			p->values[i] = p->nums[i];
		} else if (a->kind == 'b') {
			p->values[i] = a->bytes;
			p->lengths[i] = (int)a->size;
			p->formats[i] = 1; /* binary: bytea as is */
		} else {
			p->values[i] = a->text;
		}
	}
}

/* A statement's result: its rows to fn, its row count to *changes. */
static vt_status take_result(struct vt_store *s, struct pg_conn *pc, PGresult *r, vt_db_row_fn fn, void *ctx,
			     int64_t *changes, struct vt_err *err)
{
	vt_status rc = VT_OK;
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK) {
		struct pg_row pr = {r, pc};
		struct vt_db_row row = {.drv = &pg_driver, .impl = &pr, .row = 0};
		int n = PQntuples(r);
		for (row.row = 0; fn && row.row < n; row.row++) {
			rc = fn(ctx, &row, err);
			scratch_clear(pc);
			if (rc != VT_OK)
				break;
		}
	} else if (st != PGRES_COMMAND_OK) {
		rc = pg_fail(s, pc->c, r, "statement", err);
	}
	if (rc == VT_OK && changes) {
		const char *t = PQcmdTuples(r);
		*changes = t && t[0] ? strtoll(t, NULL, 10) : 0;
	}
	return rc;
}

static vt_status pg_run(struct vt_store *s, void *conn, enum vt_sql q, const struct vt_db_arg *args, size_t nargs,
			vt_db_row_fn fn, void *ctx, int64_t *changes, struct vt_err *err)
{
	struct pg_conn *pc = conn;
	if (changes)
		*changes = 0;
	if (vt_sql_text(q, VT_DB_PG) == NULL)
		return VT_OK;
	if (nargs > MAX_PARAMS)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "database", "too many statement parameters");
	char name[16];
	snprintf(name, sizeof(name), "vt%d", (int)q);
	vt_status rc = prepare_once(s, pc, q, nargs, name, err);
	if (rc != VT_OK)
		return rc;
	struct pg_params p;
	bind_params(&p, args, nargs);
	PGresult *r = PQexecPrepared(pc->c, name, (int)nargs, p.values, p.lengths, p.formats, 0);
	rc = take_result(s, pc, r, fn, ctx, changes, err);
	PQclear(r);
	return rc;
}

static vt_status pg_exec(struct vt_store *s, void *conn, const char *sql, struct vt_err *err)
{
	struct pg_conn *pc = conn;
	PGresult *r = PQexec(pc->c, sql);
	ExecStatusType st = PQresultStatus(r);
	vt_status rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? VT_OK : pg_fail(s, pc->c, r, "exec", err);
	PQclear(r);
	return rc;
}

/* Every step sent in pipeline mode, then one sync: one round trip.  After
 * a failure the server skips the rest (PGRES_PIPELINE_ABORTED); every
 * result is still read up to the sync so the connection stays usable. */
static vt_status pg_batch(struct vt_store *s, void *conn, const struct vt_db_step *steps, size_t n, size_t *done,
			  struct vt_err *err)
{
	struct pg_conn *pc = conn;
	char names[VT_DB_STEPS_MAX][16];
	*done = 0;
	if (n > VT_DB_STEPS_MAX)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "database", "too many statements in a batch");
	for (size_t i = 0; i < n; i++) {
		if (steps[i].sql != NULL)
			continue;
		if (steps[i].nargs > MAX_PARAMS || vt_sql_text(steps[i].q, VT_DB_PG) == NULL)
			return vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "database", "statement %d cannot be batched",
				       (int)steps[i].q);
		snprintf(names[i], sizeof(names[i]), "vt%d", (int)steps[i].q);
		vt_status prc = prepare_once(s, pc, steps[i].q, steps[i].nargs, names[i], err);
		if (prc != VT_OK)
			return prc;
	}
	if (PQenterPipelineMode(pc->c) != 1)
		return pg_fail(s, pc->c, NULL, "pipeline", err);
	bool sent = true;
	for (size_t i = 0; i < n && sent; i++) {
		if (steps[i].sql != NULL) {
			sent = PQsendQueryParams(pc->c, steps[i].sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
		} else {
			struct pg_params p;
			bind_params(&p, steps[i].args, steps[i].nargs);
			sent = PQsendQueryPrepared(pc->c, names[i], (int)steps[i].nargs, p.values, p.lengths, p.formats,
						   0) == 1;
		}
	}
	vt_status rc = VT_OK;
	if (!sent || PQpipelineSync(pc->c) != 1) {
		rc = pg_fail(s, pc->c, NULL, "pipeline", err);
		/* The connection is in an unknown state: drop it. */
		PQfinish(pc->c);
		pc->c = NULL;
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		PGresult *r = PQgetResult(pc->c);
		if (r == NULL) {
			rc = rc != VT_OK ? rc : pg_fail(s, pc->c, NULL, "pipeline", err);
			break;
		}
		if (rc == VT_OK) {
			rc = take_result(s, pc, r, steps[i].fn, steps[i].ctx, NULL, err);
			if (rc == VT_OK)
				(*done)++;
		}
		PQclear(r);
		while ((r = PQgetResult(pc->c)) != NULL) /* the NULL that ends each statement's results */
			PQclear(r);
	}
	/* Up to and including the sync. */
	for (PGresult *r; (r = PQgetResult(pc->c)) != NULL;) {
		bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
		PQclear(r);
		if (sync)
			break;
	}
	if (PQexitPipelineMode(pc->c) != 1) {
		if (rc == VT_OK)
			rc = pg_fail(s, pc->c, NULL, "pipeline", err);
		/* Results were left unread: the connection cannot serve another
		 * statement; drop it (the pool opens a new one). */
		PQfinish(pc->c);
		pc->c = NULL;
	}
	return rc;
}

/* ------------------------------------------------------ change notices */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void pg_wait_change(struct vt_store *s, int timeout_ms)
{
	struct pg *p = pg_of(s);
	if (p->listen != NULL && PQstatus(p->listen) != CONNECTION_OK) {
		PQfinish(p->listen);
		p->listen = NULL;
	}
	if (p->listen == NULL) {
		if (vt_mono_ms() < p->listen_retry_ms) {
			sleep_ms(timeout_ms);
			return;
		}
		p->listen = PQconnectdbParams(p->kw, p->val, 0);
		if (p->listen != NULL)
			PQsetNoticeProcessor(p->listen, quiet_notice, NULL);
		PGresult *r = p->listen && PQstatus(p->listen) == CONNECTION_OK ? PQexec(p->listen, "LISTEN veritee_kv") : NULL;
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			PQfinish(p->listen);
			p->listen = NULL;
			p->listen_retry_ms = vt_mono_ms() + 1000;
			sleep_ms(timeout_ms);
			return;
		}
	}
	struct pollfd pfd = {.fd = PQsocket(p->listen), .events = POLLIN};
	if (pfd.fd < 0 || poll(&pfd, 1, timeout_ms) <= 0)
		return;
	if (PQconsumeInput(p->listen) != 1)
		return; /* broken: reconnected on the next call */
	PGnotify *n;
	while ((n = PQnotifies(p->listen)) != NULL)
		PQfreemem(n);
}

static void pg_close(struct vt_store *s)
{
	struct pg *p = pg_of(s);
	if (p == NULL)
		return;
	while (p->idle) {
		struct pg_conn *pc = p->idle;
		p->idle = pc->next;
		conn_free(pc);
	}
	PQfinish(p->listen);
	for (size_t i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
	s->impl = NULL;
}

static const struct vt_db_driver pg_driver = {
	.name = "postgresql",
	.backend = VT_DB_PG,
	.shared = true,
	.acquire = pg_acquire,
	.release = pg_release,
	.conn_broken = pg_conn_broken,
	.run = pg_run,
	.exec = pg_exec,
	.batch = pg_batch,
	.available = pg_available,
	.text = pg_text,
	.num = pg_num,
	.bytes = pg_bytes,
	.wait_change = pg_wait_change,
	.close = pg_close,
};

/* ------------------------------------------------------------- attach */

static bool add_kw(struct pg *p, size_t *n, const char *k, const char *v)
{
	if (*n >= MAX_KW || p->nowned + 2 > MAX_KW)
		return false;
	char *kk = strdup(k), *vv = strdup(v);
	if (kk == NULL || vv == NULL) {
		free(kk);
		free(vv);
		return false;
	}
	p->owned[p->nowned++] = kk;
	p->owned[p->nowned++] = vv;
	p->kw[*n] = kk;
	p->val[*n] = vv;
	(*n)++;
	p->kw[*n] = NULL;
	p->val[*n] = NULL;
	return true;
}

vt_status vt_store_pg_attach(struct vt_store *s, const char *url, const struct vt_store_settings *settings,
			     struct vt_err *err)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &perr);
	if (opts == NULL) {
		char m[200];
		first_line(m, sizeof(m), perr ? perr : "out of memory");
		PQfreemem(perr);
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "database", "\"database\" is not a valid PostgreSQL URI: %s", m);
	}
	struct pg *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		PQconninfoFree(opts);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	s->drv = &pg_driver;
	s->impl = p;
	p->max = settings->pool_size ? settings->pool_size : 8;
	p->max_waiting = 4 * p->max;
	p->wait_ms = settings->pool_wait_ms > 0 ? settings->pool_wait_ms : 1000;
	p->statement_timeout_ms = settings->statement_timeout_ms > 0 ? settings->statement_timeout_ms : 5000;
	/* Every option the URI set, then our defaults for those it did not:
	 * a bounded connect, keepalives that notice a dead server, a name in
	 * pg_stat_activity. */
	size_t n = 0;
	bool ok = true, have_ct = false, have_app = false, have_ka = false, have_tut = false;
	const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
	for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
		if (o->val == NULL)
			continue;
		ok = add_kw(p, &n, o->keyword, o->val);
		have_ct |= strcmp(o->keyword, "connect_timeout") == 0;
		have_app |= strcmp(o->keyword, "application_name") == 0;
		have_ka |= strcmp(o->keyword, "keepalives_idle") == 0;
		have_tut |= strcmp(o->keyword, "tcp_user_timeout") == 0;
		if (strcmp(o->keyword, "user") == 0)
			user = p->val[n - 1];
		else if (strcmp(o->keyword, "host") == 0)
			host = p->val[n - 1];
		else if (strcmp(o->keyword, "port") == 0)
			port = p->val[n - 1];
		else if (strcmp(o->keyword, "dbname") == 0)
			db = p->val[n - 1];
	}
	PQconninfoFree(opts);
	char ct[24];
	snprintf(ct, sizeof(ct), "%lld", (long long)(settings->connect_timeout > 0 ? settings->connect_timeout : 2));
	ok = ok && (have_ct || add_kw(p, &n, "connect_timeout", ct));
	ok = ok && (have_app || add_kw(p, &n, "application_name", "veritee"));
	ok = ok && (have_ka || (add_kw(p, &n, "keepalives_idle", "10") && add_kw(p, &n, "keepalives_interval", "5") &&
				add_kw(p, &n, "keepalives_count", "3")));
	ok = ok && (have_tut || add_kw(p, &n, "tcp_user_timeout", "10000"));
	/* The log-safe name: never the password. */
	snprintf(s->name, sizeof(s->name), "postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "",
		 host ? host : "", port ? ":" : "", port ? port : "", db ? db : "");
	if (!ok)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	/* Reachable now, or a clear error at start. */
	char why[sizeof(p->why)];
	struct pg_conn *pc = conn_open(s, why, sizeof(why));
	if (pc == NULL) {
		pg_close(s);
		s->drv = NULL;
		return vt_fail(err, VT_E_UNAVAILABLE, VT_STEP_STORAGE, "database", "database unreachable at start: %s", why);
	}
	p->idle = pc;
	p->open = 1;
	return VT_OK;
}
