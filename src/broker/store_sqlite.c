/* The SQLite driver: one connection (WAL journal), used under one lock, its
 * statements prepared once and kept. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "broker/store_internal.h"

struct sq {
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *stmts[SQL_COUNT];
};

static struct sq *sq_of(struct vt_store *s)
{
	return s->impl;
}

/* SQLite's answers that mean "not now" rather than "never": the file is
 * locked by another process past the busy timeout, read-only, or the disk
 * is full.  The broker answers them with 503. */
static vt_status sq_fail(sqlite3 *db, int code, const char *what, struct vt_err *err)
{
	int base = code & 0xff;
	bool unavailable = base == SQLITE_BUSY || base == SQLITE_LOCKED || base == SQLITE_READONLY ||
			   base == SQLITE_FULL || base == SQLITE_IOERR || base == SQLITE_CANTOPEN;
	return vt_fail(err, unavailable ? VT_E_UNAVAILABLE : VT_E_IO, VT_STEP_STORAGE, "database", "database (%s): %s",
		       what, db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
}

static vt_status sq_acquire(struct vt_store *s, void **conn, struct vt_err *err)
{
	(void)err;
	pthread_mutex_lock(&sq_of(s)->lock);
	*conn = sq_of(s);
	return VT_OK;
}

static void sq_release(struct vt_store *s, void *conn, bool broken)
{
	(void)conn;
	(void)broken;
	pthread_mutex_unlock(&sq_of(s)->lock);
}

static bool sq_conn_broken(void *conn)
{
	(void)conn;
	return false; /* a file does not go away between calls */
}

static const char *sq_text(const struct vt_db_row *r, int col)
{
	return (const char *)sqlite3_column_text(r->impl, col);
}

static int64_t sq_num(const struct vt_db_row *r, int col)
{
	return sqlite3_column_int64(r->impl, col);
}

static const uint8_t *sq_bytes(const struct vt_db_row *r, int col, size_t *size)
{
	*size = 0;
	if (sqlite3_column_type(r->impl, col) == SQLITE_NULL)
		return NULL; /* as PostgreSQL's driver: NULL is SQL NULL, "" an empty blob */
	const uint8_t *p = sqlite3_column_blob(r->impl, col);
	*size = (size_t)sqlite3_column_bytes(r->impl, col);
	return p ? p : (const uint8_t *)"";
}

static const struct vt_db_driver sqlite_driver;

static vt_status sq_run(struct vt_store *s, void *conn, enum vt_sql q, const struct vt_db_arg *args, size_t nargs,
			vt_db_row_fn fn, void *ctx, int64_t *changes, struct vt_err *err)
{
	struct sq *d = conn;
	(void)s;
	const char *sql = vt_sql_text(q, VT_DB_SQLITE);
	if (changes)
		*changes = 0;
	if (sql == NULL)
		return VT_OK;
	sqlite3_stmt *st = d->stmts[q];
	int r;
	if (st == NULL) {
		r = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
		if (r != SQLITE_OK)
			return sq_fail(d->db, r, "prepare", err);
		d->stmts[q] = st;
	}
	vt_status rc = VT_OK;
	for (size_t i = 0; i < nargs; i++) {
		const struct vt_db_arg *a = &args[i];
		/* By name: SQLite numbers "$N" parameters by first appearance. */
		char pname[24];
		snprintf(pname, sizeof(pname), "$%zu", i + 1);
		int k = sqlite3_bind_parameter_index(st, pname);
		if (k == 0)
			continue; /* not used by this statement */
		if (a->kind == 'i')
			r = sqlite3_bind_int64(st, k, a->num);
		else if (a->kind == 'b')
			r = sqlite3_bind_blob(st, k, a->bytes, (int)a->size, SQLITE_STATIC);
		else if (a->text == NULL)
			r = sqlite3_bind_null(st, k);
		else
			r = sqlite3_bind_text(st, k, a->text, -1, SQLITE_STATIC);
		if (r != SQLITE_OK) {
			rc = sq_fail(d->db, r, "bind", err);
			goto out;
		}
	}
	struct vt_db_row row = {.drv = &sqlite_driver, .impl = st, .row = 0};
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (fn && (rc = fn(ctx, &row, err)) != VT_OK)
			goto out;
		row.row++;
	}
	if (r != SQLITE_DONE) {
		rc = sq_fail(d->db, r, "statement", err);
		goto out;
	}
	if (changes)
		*changes = sqlite3_changes(d->db);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static vt_status sq_exec(struct vt_store *s, void *conn, const char *sql, struct vt_err *err)
{
	(void)s;
	struct sq *d = conn;
	int r = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
	return r == SQLITE_OK ? VT_OK : sq_fail(d->db, r, "exec", err);
}

static void sq_wait_change(struct vt_store *s, int timeout_ms)
{
	(void)s;
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void sq_close(struct vt_store *s)
{
	struct sq *d = sq_of(s);
	if (d == NULL)
		return;
	for (size_t i = 0; i < SQL_COUNT; i++)
		sqlite3_finalize(d->stmts[i]);
	sqlite3_close(d->db);
	pthread_mutex_destroy(&d->lock);
	free(d);
	s->impl = NULL;
}

static const struct vt_db_driver sqlite_driver = {
	.name = "sqlite",
	.backend = VT_DB_SQLITE,
	.shared = false,
	.acquire = sq_acquire,
	.release = sq_release,
	.conn_broken = sq_conn_broken,
	.run = sq_run,
	.exec = sq_exec,
	.text = sq_text,
	.num = sq_num,
	.bytes = sq_bytes,
	.wait_change = sq_wait_change,
	.close = sq_close,
};

vt_status vt_store_sqlite_attach(struct vt_store *s, const char *path, struct vt_err *err)
{
	struct sq *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	s->drv = &sqlite_driver;
	s->impl = d;
	snprintf(s->name, sizeof(s->name), "%s", path);
	int r = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (r != SQLITE_OK) {
		vt_status rc = vt_fail(err, VT_E_IO, VT_STEP_STORAGE, path, "cannot open database: %s",
				       d->db ? sqlite3_errmsg(d->db) : "out of memory");
		sq_close(s);
		s->drv = NULL;
		return rc;
	}
	chmod(path, 0600);
	sqlite3_busy_timeout(d->db, 5000);
	/* Outside any transaction (the journal mode cannot change inside one). */
	r = sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
	if (r != SQLITE_OK) {
		vt_status rc = sq_fail(d->db, r, "journal", err);
		sq_close(s);
		s->drv = NULL;
		return rc;
	}
	return VT_OK;
}
