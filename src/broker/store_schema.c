/* The store's schema (as migrations) and every statement it runs, for both
 * backends.  Where SQLite and PostgreSQL agree (most places: both have
 * ON CONFLICT ... DO UPDATE, RETURNING and partial indexes) there is one
 * text; `pg` is set only where PostgreSQL needs its own. */
#include <stddef.h>

#include "broker/store_internal.h"

struct sql_text {
	const char *both; /* or SQLite's alone when pg is set */
	const char *pg;
};

/* Lock ids for pg_advisory_xact_lock: "vtMG", "vtAU". */
#define LOCK_MIGRATE "1987659591"
#define LOCK_AUDIT "1987658069"

static const struct sql_text statements[SQL_COUNT] = {
	[SQL_PING] = {"SELECT 1", NULL},
	[SQL_SCHEMA_VERSION] = {"SELECT version FROM schema_version", NULL},
	[SQL_META_GET] = {"SELECT value FROM meta WHERE key = $1", NULL},
	[SQL_META_INSERT] = {"INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key) DO NOTHING", NULL},
	[SQL_RESOURCE_PUT] = {"INSERT INTO resources(path, sealed) VALUES($1, $2) "
			      "ON CONFLICT(path) DO UPDATE SET sealed = excluded.sealed",
			      NULL},
	[SQL_RESOURCE_GET] = {"SELECT sealed FROM resources WHERE path = $1", NULL},
	[SQL_RESOURCE_DELETE] = {"DELETE FROM resources WHERE path = $1", NULL},
	[SQL_RESOURCE_LIST] = {"SELECT path, length(sealed) FROM resources ORDER BY path",
			       "SELECT path, octet_length(sealed) FROM resources ORDER BY path COLLATE \"C\""},
	[SQL_KV_PUT] = {"INSERT INTO kv(ns, key, value) VALUES($1, $2, $3) "
			"ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value",
			NULL},
	[SQL_KV_GET] = {"SELECT value FROM kv WHERE ns = $1 AND key = $2", NULL},
	[SQL_KV_DELETE] = {"DELETE FROM kv WHERE ns = $1 AND key = $2", NULL},
	/* Bytewise order in both (PostgreSQL's default collation may differ). */
	[SQL_KV_EACH] = {"SELECT key, value FROM kv WHERE ns = $1 ORDER BY key",
			 "SELECT key, value FROM kv WHERE ns = $1 ORDER BY key COLLATE \"C\""},
	/* First statement of every kv write transaction: the row lock it takes
	 * serialises kv writers across brokers until COMMIT. */
	[SQL_GEN_BUMP] = {"UPDATE kv_generation SET n = n + 1 WHERE id = 1", NULL},
	[SQL_GEN_GET] = {"SELECT n FROM kv_generation WHERE id = 1", NULL},
	[SQL_NOTIFY] = {NULL, "SELECT pg_notify('veritee_kv', '')"},
	[SQL_JTI_PURGE] = {"DELETE FROM admin_jti WHERE exp < $1", NULL},
	[SQL_JTI_INSERT] = {"INSERT INTO admin_jti(jti, exp) VALUES($1, $2) ON CONFLICT(jti) DO NOTHING", NULL},
	[SQL_AUDIT_HEAD] = {"SELECT seq, hash, jws FROM audit_head WHERE id = 1", NULL},
	[SQL_AUDIT_INSERT] = {"INSERT INTO audit(seq, entry, hash) VALUES($1, $2, $3)", NULL},
	[SQL_AUDIT_HEAD_PUT] = {"INSERT INTO audit_head(id, seq, hash, jws) VALUES(1, $1, $2, $3) "
				"ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, jws = excluded.jws",
				NULL},
	[SQL_AUDIT_RANGE] = {"SELECT entry, hash FROM audit WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", NULL},
	[SQL_AUDIT_CHECKPOINT] = {"SELECT seq, hash, jws FROM audit_checkpoint WHERE id = 1", NULL},
	[SQL_AUDIT_CHECKPOINT_PUT] = {"INSERT INTO audit_checkpoint(id, seq, hash, jws) VALUES(1, $1, $2, $3) "
				      "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, jws = excluded.jws",
				      NULL},
	[SQL_AUDIT_HASH_AT] = {"SELECT seq, hash, '' FROM audit WHERE seq = $1", NULL},
	[SQL_AUDIT_PRUNE] = {"DELETE FROM audit WHERE seq <= $1", NULL},
	/* PostgreSQL: one round trip each where SQLite runs two statements. */
	[SQL_AUDIT_APPEND] = {NULL, "WITH e AS (INSERT INTO audit(seq, entry, hash) VALUES($1, $2, $3)) "
				    "INSERT INTO audit_head(id, seq, hash, jws) VALUES(1, $1, $3, $4) "
				    "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, jws = excluded.jws"},
	/* The nonce's single use: whichever /attest inserts first. */
	[SQL_ATTESTED_PUT] = {"INSERT INTO attested(id_hash, token, expires) VALUES($1, $2, $3) ON CONFLICT(id_hash) DO NOTHING",
			      NULL},
	[SQL_ATTESTED_TOKEN] = {"SELECT token FROM attested WHERE id_hash = $1 AND token IS NOT NULL AND expires > $2", NULL},
	[SQL_ATTESTED_TOKEN_RESOURCE] = {"SELECT a.token, r.sealed FROM attested a LEFT JOIN resources r ON r.path = $3 "
					 "WHERE a.id_hash = $1 AND a.token IS NOT NULL AND a.expires > $2",
					 NULL},
	[SQL_ATTESTED_COUNT] = {"SELECT count(*) FROM attested WHERE token IS NOT NULL AND expires > $1", NULL},
	[SQL_ATTESTED_SWEEP] = {"DELETE FROM attested WHERE expires < $1", NULL},
	[SQL_CHALLENGE_PURGE] = {"DELETE FROM tpm_challenges WHERE expires <= $1", NULL},
	[SQL_CHALLENGE_COUNT] = {"SELECT count(*) FROM tpm_challenges", NULL},
	[SQL_CHALLENGE_PUT] = {"INSERT INTO tpm_challenges(id, ak_digest, sealed, expires) VALUES($1, $2, $3, $4)", NULL},
	[SQL_CHALLENGE_TAKE] = {"DELETE FROM tpm_challenges WHERE id = $1 RETURNING ak_digest, sealed, expires", NULL},
};

const char *vt_sql_text(enum vt_sql q, enum vt_db_backend b)
{
	if ((size_t)q >= SQL_COUNT)
		return NULL;
	if (b == VT_DB_PG && statements[q].pg != NULL)
		return statements[q].pg;
	if (b == VT_DB_SQLITE && statements[q].pg != NULL && statements[q].both == NULL)
		return NULL;
	return statements[q].both;
}

/* ------------------------------------------------------------ migrations */

/* Version 1: the tables of the single-process broker (an SQLite file made
 * before schema_version existed already has them: IF NOT EXISTS). */
static const struct sql_text migrations[] = {
	{"CREATE TABLE IF NOT EXISTS resources(path TEXT PRIMARY KEY, sealed BLOB NOT NULL);"
	 "CREATE TABLE IF NOT EXISTS kv(ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(ns, key));"
	 "CREATE TABLE IF NOT EXISTS admin_jti(jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);"
	 "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL);"
	 "CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER NOT NULL,"
	 " hash TEXT NOT NULL, jws TEXT NOT NULL);",
	 "CREATE TABLE IF NOT EXISTS resources(path TEXT PRIMARY KEY, sealed BYTEA NOT NULL);"
	 "CREATE TABLE IF NOT EXISTS kv(ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(ns, key));"
	 "CREATE TABLE IF NOT EXISTS admin_jti(jti TEXT PRIMARY KEY, exp BIGINT NOT NULL);"
	 "CREATE TABLE IF NOT EXISTS audit(seq BIGINT PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL);"
	 "CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK(id = 1), seq BIGINT NOT NULL,"
	 " hash TEXT NOT NULL, jws TEXT NOT NULL);"},
	/* Version 2: what replicas share (sessions, TPM challenges, the kv
	 * change generation) and the key checks (meta). */
	{"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	 "CREATE TABLE kv_generation(id INTEGER PRIMARY KEY CHECK(id = 1), n INTEGER NOT NULL);"
	 "INSERT INTO kv_generation(id, n) VALUES(1, 0);"
	 "CREATE TABLE sessions(seq INTEGER PRIMARY KEY AUTOINCREMENT, id_hash TEXT NOT NULL UNIQUE,"
	 " client TEXT NOT NULL, tee TEXT NOT NULL, hash TEXT NOT NULL, policy TEXT NOT NULL, nonce TEXT NOT NULL,"
	 " expires INTEGER NOT NULL, state INTEGER NOT NULL, token TEXT);"
	 "CREATE INDEX sessions_pending ON sessions(seq) WHERE state = 0;"
	 "CREATE INDEX sessions_client ON sessions(client, seq) WHERE state = 0;"
	 "CREATE INDEX sessions_expires ON sessions(expires);"
	 "CREATE TABLE tpm_challenges(id TEXT PRIMARY KEY, ak_digest TEXT NOT NULL, sealed BLOB NOT NULL,"
	 " expires INTEGER NOT NULL);",
	 "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	 "CREATE TABLE kv_generation(id INTEGER PRIMARY KEY CHECK(id = 1), n BIGINT NOT NULL);"
	 "INSERT INTO kv_generation(id, n) VALUES(1, 0);"
	 "CREATE TABLE sessions(seq BIGSERIAL PRIMARY KEY, id_hash TEXT NOT NULL UNIQUE,"
	 " client TEXT NOT NULL, tee TEXT NOT NULL, hash TEXT NOT NULL, policy TEXT NOT NULL, nonce TEXT NOT NULL,"
	 " expires BIGINT NOT NULL, state SMALLINT NOT NULL, token TEXT);"
	 "CREATE INDEX sessions_pending ON sessions(seq) WHERE state = 0;"
	 "CREATE INDEX sessions_client ON sessions(client, seq) WHERE state = 0;"
	 "CREATE INDEX sessions_expires ON sessions(expires);"
	 "CREATE TABLE tpm_challenges(id TEXT PRIMARY KEY, ak_digest TEXT NOT NULL, sealed BYTEA NOT NULL,"
	 " expires BIGINT NOT NULL);"},
	/* Version 3: a session travels in its sealed cookie (session_db.c);
	 * the database keeps only the use of its nonce, with the token of the
	 * attestation that used it.  PostgreSQL keeps such a row (its token,
	 * an EAR of ~2.6 KiB) in its heap page, uncompressed, instead of
	 * offering it to pglz (base64 does not compress) and moving it to the
	 * TOAST table and its index; larger tokens (many devices) are still
	 * TOASTed.  The old session rows are dropped: a round in flight
	 * during the upgrade starts again at /auth. */
	{"CREATE TABLE attested(id_hash TEXT PRIMARY KEY, token TEXT, expires INTEGER NOT NULL);"
	 "CREATE INDEX attested_expires ON attested(expires);"
	 "DROP TABLE IF EXISTS sessions;",
	 "CREATE TABLE attested(id_hash TEXT PRIMARY KEY, token TEXT, expires BIGINT NOT NULL)"
	 " WITH (toast_tuple_target = 8160);"
	 "CREATE INDEX attested_expires ON attested(expires);"
	 "DROP TABLE IF EXISTS sessions;"},
	/* Version 4: the release log's checkpoint, written when its oldest
	 * entries are pruned (vt_store_audit_prune): the signed hash of the
	 * last entry deleted, which the first entry kept links to. */
	{"CREATE TABLE audit_checkpoint(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER NOT NULL,"
	 " hash TEXT NOT NULL, jws TEXT NOT NULL);",
	 "CREATE TABLE audit_checkpoint(id INTEGER PRIMARY KEY CHECK(id = 1), seq BIGINT NOT NULL,"
	 " hash TEXT NOT NULL, jws TEXT NOT NULL);"},
};

size_t vt_schema_version_latest(void)
{
	return sizeof(migrations) / sizeof(migrations[0]);
}

const char *vt_schema_migration(size_t version, enum vt_db_backend b)
{
	if (version == 0 || version > vt_schema_version_latest())
		return NULL;
	const struct sql_text *m = &migrations[version - 1];
	return b == VT_DB_PG ? m->pg : m->both; /* NULL: nothing to run */
}

const char *vt_sql_migrate_lock(enum vt_db_backend b)
{
	return b == VT_DB_PG ? "SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ")" : NULL;
}

const char *const *vt_sql_audit_open(enum vt_db_backend b)
{
	static const char *const pg[] = {"BEGIN", "SELECT pg_advisory_xact_lock(" LOCK_AUDIT ")", NULL};
	static const char *const sq[] = {"BEGIN IMMEDIATE", NULL};
	return b == VT_DB_PG ? pg : sq;
}

/* The end of a prune: synchronous on PostgreSQL (an admin's rare write:
 * the chain's lock may be held through the flush). */
const char *const *vt_sql_audit_prune_close(enum vt_db_backend b)
{
	static const char *const pg[] = {"SET LOCAL synchronous_commit = on", "COMMIT", NULL};
	static const char *const sq[] = {"COMMIT", NULL};
	return b == VT_DB_PG ? pg : sq;
}

/* A synchronous commit of a transaction with an id waits for the WAL up to
 * its commit record, so up to every earlier one: the append's own COMMIT
 * stays asynchronous (the lock is not held through a flush), and the
 * second transaction waits for the flush. */
const char *const *vt_sql_audit_close(enum vt_db_backend b)
{
	static const char *const pg[] = {"COMMIT", "BEGIN", "SET LOCAL synchronous_commit = on", "SELECT txid_current()",
					 "COMMIT", NULL};
	static const char *const sq[] = {"COMMIT", NULL};
	return b == VT_DB_PG ? pg : sq;
}
