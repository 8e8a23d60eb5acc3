/* The store's two backends behind one small driver interface (store.c has
 * the logic, store_sqlite.c and store_pg.c the drivers, store_schema.c the
 * SQL).  Internal to the broker library. */
#ifndef VT_BROKER_STORE_INTERNAL_H
#define VT_BROKER_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/store.h"

/* Every statement the store runs, prepared once per connection.  The SQL is
 * in store_schema.c: one text for both backends where they agree, with
 * parameters written $1, $2, ... (PostgreSQL reads them as positional,
 * SQLite as names, which its driver binds by name). */
enum vt_sql {
	SQL_PING,
	SQL_SCHEMA_VERSION,
	SQL_META_GET,
	SQL_META_INSERT,
	SQL_RESOURCE_PUT,
	SQL_RESOURCE_GET,
	SQL_RESOURCE_DELETE,
	SQL_KV_PUT,
	SQL_KV_GET,
	SQL_KV_EACH,
	SQL_GEN_BUMP,
	SQL_GEN_GET,
	SQL_NOTIFY,     /* PostgreSQL: pg_notify after a kv change; SQLite: none */
	SQL_JTI_PURGE,
	SQL_JTI_INSERT,
	SQL_AUDIT_HEAD,
	SQL_AUDIT_INSERT,
	SQL_AUDIT_HEAD_PUT,
	SQL_AUDIT_RANGE,
	SQL_AUDIT_CHECKPOINT,     /* the signed link the chain starts after, once pruned */
	SQL_AUDIT_CHECKPOINT_PUT,
	SQL_AUDIT_HASH_AT,
	SQL_AUDIT_PRUNE,
	SQL_ATTESTED_PUT,
	SQL_ATTESTED_TOKEN,
	SQL_ATTESTED_TOKEN_RESOURCE,
	SQL_ATTESTED_COUNT,
	SQL_ATTESTED_SWEEP,
	SQL_CHALLENGE_PURGE,
	SQL_CHALLENGE_COUNT,
	SQL_CHALLENGE_PUT,
	SQL_CHALLENGE_TAKE,
	SQL_RESOURCE_LIST, /* admin: paths and sealed sizes, never values */
	SQL_KV_DELETE,
	SQL_AUDIT_APPEND,       /* PostgreSQL: entry and head in one statement; SQLite: none */
	SQL_COUNT
};

enum vt_db_backend { VT_DB_SQLITE, VT_DB_PG };

/* The statement's text for a backend; NULL = nothing to run (success). */
const char *vt_sql_text(enum vt_sql q, enum vt_db_backend b);

/* Schema migrations: migration i (1-based) brings the schema from version
 * i-1 to i.  Each is one multi-statement SQL text, or NULL when a backend
 * has nothing to change. */
size_t vt_schema_version_latest(void);
const char *vt_schema_migration(size_t version, enum vt_db_backend b);
/* Taken first in the migration transaction (PostgreSQL: an advisory lock,
 * so replicas starting together migrate once); NULL for SQLite. */
const char *vt_sql_migrate_lock(enum vt_db_backend b);
/* The release log's append (store.c), one statement per string,
 * NULL-terminated, each list run as one batch: what opens it, serialised
 * among every thread and broker (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN
 * and the chain's advisory lock), and what closes it, durable before the
 * caller releases (PostgreSQL: COMMIT, then a WAL flush outside the lock). */
const char *const *vt_sql_audit_open(enum vt_db_backend b);
const char *const *vt_sql_audit_close(enum vt_db_backend b);
const char *const *vt_sql_audit_prune_close(enum vt_db_backend b);

/* One statement argument. */
struct vt_db_arg {
	char kind; /* 't' text, 'i' int64, 'b' bytes */
	const char *text;
	int64_t num;
	const void *bytes;
	size_t size;
};
#define DB_T(s) ((struct vt_db_arg){.kind = 't', .text = (s)}) /* NULL: SQL NULL */
#define DB_I(n) ((struct vt_db_arg){.kind = 'i', .num = (n)})
#define DB_B(p, n) ((struct vt_db_arg){.kind = 'b', .bytes = (p), .size = (n)})

/* One result row, valid during the row callback only. */
struct vt_db_row {
	const struct vt_db_driver *drv;
	void *impl;
	int row;
};
typedef vt_status (*vt_db_row_fn)(void *ctx, const struct vt_db_row *row, struct vt_err *err);

/* One statement of a batch: SQL text without parameters (one statement)
 * when `sql` is set, else the prepared statement `q` with its arguments. */
struct vt_db_step {
	const char *sql;
	enum vt_sql q;
	const struct vt_db_arg *args;
	size_t nargs;
	vt_db_row_fn fn; /* may be NULL */
	void *ctx;
};
#define VT_DB_STEPS_MAX 8

struct vt_db_driver {
	const char *name;
	enum vt_db_backend backend;
	bool shared;
	/* A connection for one operation (SQLite: the one connection, under
	 * its lock).  VT_E_UNAVAILABLE when none can be had in time. */
	vt_status (*acquire)(struct vt_store *s, void **conn, struct vt_err *err);
	/* `broken`: the connection failed; close it (PostgreSQL). */
	void (*release)(struct vt_store *s, void *conn, bool broken);
	/* Whether the connection is no longer usable (a failed operation on it
	 * may be retried on another). */
	bool (*conn_broken)(void *conn);
	/* Run a prepared statement; fn (may be NULL) sees each row;
	 * *changes (may be NULL) the rows inserted, updated or deleted. */
	vt_status (*run)(struct vt_store *s, void *conn, enum vt_sql q, const struct vt_db_arg *args, size_t nargs,
			 vt_db_row_fn fn, void *ctx, int64_t *changes, struct vt_err *err);
	/* Run SQL text without parameters (BEGIN, COMMIT, migrations). */
	vt_status (*exec)(struct vt_store *s, void *conn, const char *sql, struct vt_err *err);
	/* Run up to VT_DB_STEPS_MAX steps in order, stopping at the first
	 * failure (*done: how many succeeded).  NULL: store.c runs them one by
	 * one.  PostgreSQL sends them in one round trip (pipeline mode): a
	 * statement costs the server and the broker a quarter as much CPU
	 * pipelined as alone (docs/benchmarks.md). */
	vt_status (*batch)(struct vt_store *s, void *conn, const struct vt_db_step *steps, size_t n, size_t *done,
			   struct vt_err *err);
	const char *(*text)(const struct vt_db_row *r, int col); /* NULL for SQL NULL */
	int64_t (*num)(const struct vt_db_row *r, int col);
	/* The bytes of a BLOB/BYTEA column, NULL for SQL NULL; valid during
	 * the callback. */
	const uint8_t *(*bytes)(const struct vt_db_row *r, int col, size_t *size);
	/* VT_E_UNAVAILABLE, without waiting, when the database is known to be
	 * down (NULL: always available). */
	vt_status (*available)(struct vt_store *s, struct vt_err *err);
	void (*wait_change)(struct vt_store *s, int timeout_ms);
	void (*close)(struct vt_store *s);
};

struct vt_store {
	const struct vt_db_driver *drv;
	struct vt_secret *key;
	void *impl;     /* the driver's */
	char name[192]; /* log-safe: SQLite path or postgresql://user@host:port/db */
};

static inline const char *vt_db_text(const struct vt_db_row *r, int col)
{
	return r->drv->text(r, col);
}
static inline int64_t vt_db_num(const struct vt_db_row *r, int col)
{
	return r->drv->num(r, col);
}
static inline const uint8_t *vt_db_bytes(const struct vt_db_row *r, int col, size_t *size)
{
	return r->drv->bytes(r, col, size);
}

/* Drivers: open the connection(s) and fill s->drv, s->impl, s->name. */
vt_status vt_store_sqlite_attach(struct vt_store *s, const char *path, struct vt_err *err);
vt_status vt_store_pg_attach(struct vt_store *s, const char *url, const struct vt_store_settings *settings,
			     struct vt_err *err);

#endif
