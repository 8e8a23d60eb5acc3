/* The store's logic, written once for both backends (store.h): sealing,
 * migrations, transactions and every operation, on top of the driver
 * interface in store_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "broker/store_internal.h"
#include "veritee/crypto.h"
#include "veritee/json.h"

#define SEAL_IV 12
#define SEAL_TAG 16
#define MAX_RESOURCE (16u << 20)
#define KEY_CHECK_TEXT "veritee master key check v1"

void vt_store_settings_default(struct vt_store_settings *s)
{
	s->pool_size = 8;
	s->pool_wait_ms = 1000;
	s->connect_timeout = 2;
	s->statement_timeout_ms = 5000;
}

bool vt_store_is_url(const char *database)
{
	return database != NULL &&
	       (strncmp(database, "postgresql://", 13) == 0 || strncmp(database, "postgres://", 11) == 0);
}

const char *vt_store_backend(const struct vt_store *s)
{
	return s->drv->backend == VT_DB_PG ? "postgresql" : "sqlite";
}

bool vt_store_shared(const struct vt_store *s)
{
	return s->drv->shared;
}

const char *vt_store_name(const struct vt_store *s)
{
	return s->name;
}

/* ------------------------------------------------------------- sealing */

/* AES-256-GCM: out = iv || ciphertext || tag, AAD = aad. */
static vt_status seal(const struct vt_secret *key, const char *aad, const uint8_t *pt, size_t n, uint8_t **out,
		      size_t *out_len, struct vt_err *err)
{
	vt_status rc = VT_OK;
	int len = 0;
	uint8_t *o = malloc(SEAL_IV + n + SEAL_TAG);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (o == NULL || c == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
		goto out;
	}
	if (RAND_bytes(o, SEAL_IV) != 1 || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->data, o) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, (const uint8_t *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(c, o + SEAL_IV, &len, pt, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, o + SEAL_IV + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, o + SEAL_IV + n) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_STORAGE, "", "sealing failed");
		goto out;
	}
	*out = o;
	*out_len = SEAL_IV + n + SEAL_TAG;
	o = NULL;
out:
	free(o);
	EVP_CIPHER_CTX_free(c);
	return rc;
}

static vt_status unseal(const struct vt_secret *key, const char *aad, const uint8_t *in, size_t n,
			struct vt_secret **out, struct vt_err *err)
{
	if (n < SEAL_IV + SEAL_TAG)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_STORAGE, aad, "sealed value is corrupt");
	size_t ct = n - SEAL_IV - SEAL_TAG;
	vt_status rc = VT_OK;
	int len = 0;
	struct vt_secret *pt = vt_secret_new(ct);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (pt == NULL || c == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
		goto out;
	}
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->data, in) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &len, (const uint8_t *)aad, (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(c, pt->data, &len, in + SEAL_IV, (int)ct) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, (void *)(in + SEAL_IV + ct)) != 1 ||
	    EVP_DecryptFinal_ex(c, pt->data + len, &len) != 1) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_STORAGE, aad,
			     "sealed value does not open (wrong master key or tampered database)");
		goto out;
	}
	*out = pt;
	pt = NULL;
out:
	vt_secret_free(pt);
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* A key for one purpose: HMAC-SHA-256(master key, label).  The master key
 * is 32 uniformly random bytes, so this is HKDF-Expand's first block with
 * the label as info: keys for different labels are independent. */
vt_status vt_store_derive_key(const struct vt_store *s, const char *label, struct vt_secret **out, struct vt_err *err)
{
	struct vt_secret *k = vt_secret_new(32);
	size_t len = 0;
	if (k == NULL || EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, s->key->data, s->key->len, (const uint8_t *)label,
				   strlen(label), k->data, 32, &len) == NULL || len != 32) {
		vt_secret_free(k);
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_STORAGE, "master_key", "cannot derive a key");
	}
	*out = k;
	return VT_OK;
}

/* ------------------------------------------------- connections, retries */

/* One operation on one connection.  *retry_ok: the failure happened before
 * anything could have taken effect, so the operation may run again. */
typedef vt_status (*op_fn)(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err);

/*
 * Run `fn` on a pooled connection.  When the connection turns out broken
 * (the database restarted, the network dropped it) and the operation is
 * idempotent (`retry`) or failed before it could take effect, it runs once
 * more on a fresh connection: a restart of PostgreSQL costs no request that
 * a new connection can serve.
 */
static vt_status with_conn(struct vt_store *s, bool retry, op_fn fn, void *ctx, struct vt_err *err)
{
	for (int attempt = 0;; attempt++) {
		void *c = NULL;
		struct vt_err e = {0};
		vt_status rc = s->drv->acquire(s, &c, &e);
		if (rc == VT_OK) {
			bool retry_ok = false;
			rc = fn(s, c, ctx, &retry_ok, &e);
			bool broken = rc != VT_OK && s->drv->conn_broken(c);
			s->drv->release(s, c, broken);
			if (rc != VT_OK && broken && (retry || retry_ok) && attempt == 0)
				continue;
		}
		if (rc != VT_OK && err != NULL)
			*err = e;
		return rc;
	}
}

static vt_status run(struct vt_store *s, void *c, enum vt_sql q, const struct vt_db_arg *args, size_t nargs,
		     vt_db_row_fn fn, void *ctx, int64_t *changes, struct vt_err *err)
{
	return s->drv->run(s, c, q, args, nargs, fn, ctx, changes, err);
}

/*
 * Durability.  SQLite commits with synchronous=NORMAL in WAL mode: a commit
 * is written to the file at once (it survives a crash of the broker) and
 * synced at checkpoints.  PostgreSQL connections default to
 * synchronous_commit = off, which is right for what a crash may lose
 * anyway (sessions, which SQLite keeps in memory only; TPM challenges);
 * everything an admin or a release depends on is durable before it is
 * acknowledged: kv, resources and admin token ids commit synchronously
 * (`durable` transactions), and the release log waits for the WAL flush
 * after its serialised append (vt_sql_audit_close), so the flushes of
 * concurrent releases are grouped instead of each holding the chain's lock.
 */

/* BEGIN: a write transaction takes its locks at once (SQLite BEGIN
 * IMMEDIATE); a read transaction is one snapshot; a durable one commits
 * synchronously (PostgreSQL). */
static vt_status tx_begin_durable(struct vt_store *s, void *c, bool write, bool durable, bool *retry_ok,
				  struct vt_err *err)
{
	const char *sql = s->drv->backend == VT_DB_SQLITE ? (write ? "BEGIN IMMEDIATE" : "BEGIN")
			  : !write ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
			  : durable ? "BEGIN; SET LOCAL synchronous_commit = on"
				    : "BEGIN";
	vt_status rc = s->drv->exec(s, c, sql, err);
	if (rc != VT_OK)
		*retry_ok = true; /* nothing ran */
	return rc;
}

static vt_status tx_begin(struct vt_store *s, void *c, bool write, bool *retry_ok, struct vt_err *err)
{
	return tx_begin_durable(s, c, write, write, retry_ok, err);
}

/* `commit` when rc is VT_OK, else (or when that fails) ROLLBACK. */
static vt_status tx_finish(struct vt_store *s, void *c, vt_status rc, const char *commit, struct vt_err *err)
{
	if (rc == VT_OK)
		rc = s->drv->exec(s, c, commit, err);
	if (rc != VT_OK && !s->drv->conn_broken(c))
		(void)s->drv->exec(s, c, "ROLLBACK", NULL);
	return rc;
}

static vt_status tx_end(struct vt_store *s, void *c, vt_status rc, struct vt_err *err)
{
	return tx_finish(s, c, rc, "COMMIT", err);
}

/* Row callbacks. */
static vt_status row_num(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	(void)err;
	*(int64_t *)ctx = vt_db_num(r, 0);
	return VT_OK;
}

static vt_status row_strdup(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	char **out = ctx;
	const char *t = vt_db_text(r, 0);
	free(*out);
	*out = strdup(t ? t : "");
	return *out ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
}

/* ---------------------------------------------------------- open, close */

struct migrate_ctx {
	size_t from, to;
};

static vt_status migrate_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct migrate_ctx *m = ctx;
	enum vt_db_backend be = s->drv->backend;
	vt_status rc = tx_begin(s, c, true, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	const char *lock = vt_sql_migrate_lock(be);
	if (lock)
		VT_GUARD(s->drv->exec(s, c, lock, err));
	VT_GUARD(s->drv->exec(s, c, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)", err));
	char sql[160];
	int64_t cur = -1;
	/* schema_version has one row; an older database has none (version 0). */
	VT_GUARD(s->drv->exec(s, c,
			      "INSERT INTO schema_version(version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)",
			      err));
	VT_GUARD(run(s, c, SQL_SCHEMA_VERSION, NULL, 0, row_num, &cur, NULL, err));
	if (cur < 0 || (size_t)cur > vt_schema_version_latest()) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_STORAGE, "schema_version",
			     "the database's schema version %lld is newer than this broker knows (%zu): upgrade the broker",
			     (long long)cur, vt_schema_version_latest());
		goto out;
	}
	m->from = (size_t)cur;
	for (size_t v = (size_t)cur + 1; v <= vt_schema_version_latest(); v++) {
		const char *step = vt_schema_migration(v, be);
		rc = step ? s->drv->exec(s, c, step, err) : VT_OK;
		if (rc != VT_OK) {
			vt_err_context(err, "schema migration");
			goto out;
		}
	}
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %zu", vt_schema_version_latest());
	VT_GUARD(s->drv->exec(s, c, sql, err));
	m->to = vt_schema_version_latest();
out:
	return tx_end(s, c, rc, err);
}

/* The master key must be the one the database was first sealed with: a
 * replica started with another key would fail every release. */
struct keycheck_ctx {
	const char *hex;
	char *stored;
};

static vt_status keycheck_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct keycheck_ctx *k = ctx;
	vt_status rc = VT_OK;
	struct vt_db_arg a[] = {DB_T("master_key_check"), DB_T(k->hex)};
	VT_GUARD(run(s, c, SQL_META_INSERT, a, 2, NULL, NULL, NULL, err));
	VT_GUARD(run(s, c, SQL_META_GET, a, 1, row_strdup, &k->stored, NULL, err));
out:
	return rc;
}

static vt_status check_master_key(struct vt_store *s, struct vt_err *err)
{
	uint8_t *sealed = NULL, *raw = NULL;
	size_t n = 0, rn = 0;
	char *hex = NULL;
	struct vt_secret *pt = NULL;
	struct keycheck_ctx k = {0};
	vt_status rc = seal(s->key, "meta/master_key_check", (const uint8_t *)KEY_CHECK_TEXT, strlen(KEY_CHECK_TEXT),
			    &sealed, &n, err);
	if (rc != VT_OK)
		return rc;
	hex = vt_hex_encode(sealed, n);
	if (hex == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
		goto out;
	}
	k.hex = hex;
	VT_GUARD(with_conn(s, true, keycheck_op, &k, err));
	if (k.stored == NULL || vt_hex_decode(k.stored, &raw, &rn, NULL) != VT_OK ||
	    unseal(s->key, "meta/master_key_check", raw, rn, &pt, NULL) != VT_OK || pt->len != strlen(KEY_CHECK_TEXT) ||
	    memcmp(pt->data, KEY_CHECK_TEXT, pt->len) != 0) /* a public constant */
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key",
			     "master_key is not the key this database was first used with: every broker sharing a "
			     "database needs the same master_key file (docs/broker.md, \"Several replicas\")");
out:
	vt_secret_free(pt);
	free(raw);
	free(sealed);
	free(hex);
	free(k.stored);
	return rc;
}

vt_status vt_store_open(const char *database, const struct vt_secret *master_key,
			const struct vt_store_settings *settings, struct vt_store **out, struct vt_err *err)
{
	if (master_key == NULL || master_key->len != 32)
		return vt_fail(err, VT_E_USAGE, VT_STEP_STORAGE, "master_key", "master key must be 32 bytes");
	if (database == NULL || database[0] == '\0')
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "database", "no database configured");
	struct vt_store_settings def;
	if (settings == NULL) {
		vt_store_settings_default(&def);
		settings = &def;
	}
	struct vt_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	vt_status rc = VT_OK;
	s->key = vt_secret_from(master_key->data, master_key->len);
	if (s->key == NULL) {
		free(s);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	}
	if (vt_store_is_url(database))
		rc = vt_store_pg_attach(s, database, settings, err);
	else
		rc = vt_store_sqlite_attach(s, database, err);
	if (rc != VT_OK) {
		if (s->drv)
			s->drv->close(s);
		vt_secret_free(s->key);
		free(s);
		return rc;
	}
	struct migrate_ctx m = {0};
	VT_GUARD(with_conn(s, true, migrate_op, &m, err));
	VT_GUARD(check_master_key(s, err));
out:
	if (rc != VT_OK) {
		vt_store_close(s);
		return rc;
	}
	*out = s;
	return VT_OK;
}

vt_status vt_store_open_sqlite(const char *path, const struct vt_secret *master_key, struct vt_store **out,
			       struct vt_err *err)
{
	if (vt_store_is_url(path))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "database", "not an SQLite path");
	return vt_store_open(path, master_key, NULL, out, err);
}

void vt_store_close(struct vt_store *s)
{
	if (s == NULL)
		return;
	if (s->drv)
		s->drv->close(s);
	vt_secret_free(s->key);
	free(s);
}

void vt_store_wait_change(struct vt_store *s, int timeout_ms)
{
	s->drv->wait_change(s, timeout_ms);
}

/* -------------------------------------------------------------- simple */

static vt_status ping_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)ctx;
	(void)retry_ok;
	int64_t one = 0;
	return run(s, c, SQL_PING, NULL, 0, row_num, &one, NULL, err);
}

vt_status vt_store_ping(struct vt_store *s, struct vt_err *err)
{
	return with_conn(s, true, ping_op, NULL, err);
}

struct meta_ctx {
	const char *key, *value;
	char *stored;
};

static vt_status meta_bind_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct meta_ctx *m = ctx;
	vt_status rc = VT_OK;
	struct vt_db_arg a[] = {DB_T(m->key), DB_T(m->value)};
	VT_GUARD(run(s, c, SQL_META_INSERT, a, 2, NULL, NULL, NULL, err));
	VT_GUARD(run(s, c, SQL_META_GET, a, 1, row_strdup, &m->stored, NULL, err));
out:
	return rc;
}

vt_status vt_store_meta_bind(struct vt_store *s, const char *key, const char *value, struct vt_err *err)
{
	struct meta_ctx m = {key, value, NULL};
	vt_status rc = with_conn(s, true, meta_bind_op, &m, err);
	if (rc == VT_OK && (m.stored == NULL || strcmp(m.stored, value) != 0))
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key,
			     "this database was first used with another %s (%.80s, this broker has %.80s): every broker "
			     "sharing a database needs the same key files",
			     key, m.stored ? m.stored : "?", value);
	free(m.stored);
	return rc;
}

/* ------------------------------------------------------------ resources */

struct res_ctx {
	const char *path;
	const uint8_t *sealed;
	size_t sealed_len;
	struct vt_secret *out;
	const struct vt_secret *key;
	bool found;
	int64_t changes;
};

static vt_status res_put_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct res_ctx *r = ctx;
	vt_status rc = tx_begin(s, c, true, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	struct vt_db_arg a[] = {DB_T(r->path), DB_B(r->sealed, r->sealed_len)};
	rc = run(s, c, SQL_RESOURCE_PUT, a, 2, NULL, NULL, NULL, err);
	return tx_end(s, c, rc, err);
}

vt_status vt_store_resource_put(struct vt_store *s, const char *path, const uint8_t *data, size_t n, struct vt_err *err)
{
	if (n > MAX_RESOURCE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_STORAGE, path, "resource larger than %u bytes", MAX_RESOURCE);
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	vt_status rc = seal(s->key, path, data, n, &sealed, &sealed_len, err);
	if (rc != VT_OK)
		return rc;
	struct res_ctx r = {.path = path, .sealed = sealed, .sealed_len = sealed_len};
	rc = with_conn(s, true, res_put_op, &r, err); /* an upsert: runs twice harmlessly */
	free(sealed);
	return rc;
}

static vt_status res_row(void *ctx, const struct vt_db_row *row, struct vt_err *err)
{
	struct res_ctx *r = ctx;
	size_t n = 0;
	const uint8_t *p = vt_db_bytes(row, 0, &n);
	r->found = true;
	vt_secret_free(r->out);
	r->out = NULL;
	if (p == NULL)
		return vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "resources", "sealed resource unreadable");
	return unseal(r->key, r->path, p, n, &r->out, err);
}

static vt_status res_get_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct res_ctx *r = ctx;
	r->found = false;
	struct vt_db_arg a[] = {DB_T(r->path)};
	return run(s, c, SQL_RESOURCE_GET, a, 1, res_row, r, NULL, err);
}

void vt_store_sealed_free(struct vt_store_sealed *sealed)
{
	if (sealed == NULL)
		return;
	free(sealed->data);
	sealed->data = NULL;
	sealed->len = 0;
}

vt_status vt_store_resource_open(struct vt_store *s, const char *path, const struct vt_store_sealed *sealed,
				 struct vt_secret **out, struct vt_err *err)
{
	if (sealed->data == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, "resource", "resource not found");
	return unseal(s->key, path, sealed->data, sealed->len, out, err);
}

vt_status vt_store_resource_get(struct vt_store *s, const char *path, struct vt_secret **out, struct vt_err *err)
{
	struct res_ctx r = {.path = path, .key = s->key};
	vt_status rc = with_conn(s, true, res_get_op, &r, err);
	if (rc == VT_OK && !r.found)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, "resource", "resource not found");
	if (rc != VT_OK) {
		vt_secret_free(r.out);
		return rc;
	}
	*out = r.out;
	return VT_OK;
}

static vt_status res_delete_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct res_ctx *r = ctx;
	vt_status rc = tx_begin(s, c, true, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	struct vt_db_arg a[] = {DB_T(r->path)};
	rc = run(s, c, SQL_RESOURCE_DELETE, a, 1, NULL, NULL, &r->changes, err);
	return tx_end(s, c, rc, err);
}

vt_status vt_store_resource_delete(struct vt_store *s, const char *path, struct vt_err *err)
{
	struct res_ctx r = {.path = path};
	vt_status rc = with_conn(s, false, res_delete_op, &r, err);
	if (rc == VT_OK && r.changes == 0)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, "resource", "resource not found");
	return rc;
}

struct res_list_ctx {
	void (*fn)(void *, const char *, size_t);
	void *ctx;
};

static vt_status res_list_row(void *ctx, const struct vt_db_row *row, struct vt_err *err)
{
	(void)err;
	struct res_list_ctx *l = ctx;
	const char *path = vt_db_text(row, 0);
	int64_t sealed = vt_db_num(row, 1);
	if (path != NULL)
		l->fn(l->ctx, path, sealed >= SEAL_IV + SEAL_TAG ? (size_t)(sealed - SEAL_IV - SEAL_TAG) : 0);
	return VT_OK;
}

static vt_status res_list_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	return run(s, c, SQL_RESOURCE_LIST, NULL, 0, res_list_row, ctx, NULL, err);
}

vt_status vt_store_resource_list(struct vt_store *s, void (*fn)(void *ctx, const char *path, size_t size), void *ctx,
				 struct vt_err *err)
{
	struct res_list_ctx l = {.fn = fn, .ctx = ctx};
	return with_conn(s, true, res_list_op, &l, err);
}

/* ------------------------------------------------------------------- kv */

struct kv_ctx {
	const char *ns, *key, *text, *item;
	const json_t *values;
	char *out;
	json_t *list;
	void (*each)(void *, const char *, const char *);
	void *each_ctx;
	int64_t gen;
};

/* Inside a write transaction: bump the generation first (its row lock
 * orders kv writers across brokers), then write, then announce. */
static vt_status kv_write_begin(struct vt_store *s, void *c, bool *retry_ok, struct vt_err *err)
{
	vt_status rc = tx_begin(s, c, true, retry_ok, err);
	if (rc == VT_OK && (rc = run(s, c, SQL_GEN_BUMP, NULL, 0, NULL, NULL, NULL, err)) != VT_OK)
		(void)tx_end(s, c, rc, NULL);
	return rc;
}

static vt_status kv_write_end(struct vt_store *s, void *c, vt_status rc, struct vt_err *err)
{
	if (rc == VT_OK)
		rc = run(s, c, SQL_NOTIFY, NULL, 0, NULL, NULL, NULL, err);
	return tx_end(s, c, rc, err);
}

static vt_status kv_put_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct kv_ctx *k = ctx;
	vt_status rc = kv_write_begin(s, c, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	struct vt_db_arg a[] = {DB_T(k->ns), DB_T(k->key), DB_T(k->text)};
	rc = run(s, c, SQL_KV_PUT, a, 3, NULL, NULL, NULL, err);
	return kv_write_end(s, c, rc, err);
}

vt_status vt_store_kv_put(struct vt_store *s, const char *ns, const char *key, const char *text, struct vt_err *err)
{
	struct kv_ctx k = {.ns = ns, .key = key, .text = text};
	return with_conn(s, true, kv_put_op, &k, err);
}

static vt_status kv_put_many_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct kv_ctx *k = ctx;
	vt_status rc = kv_write_begin(s, c, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)k->values, key, v) {
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		struct vt_db_arg a[] = {DB_T(k->ns), DB_T(key), DB_T(t)};
		rc = t ? run(s, c, SQL_KV_PUT, a, 3, NULL, NULL, NULL, err)
		       : vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
		free(t);
		if (rc != VT_OK)
			break;
	}
	return kv_write_end(s, c, rc, err);
}

vt_status vt_store_kv_put_many(struct vt_store *s, const char *ns, const json_t *values, struct vt_err *err)
{
	struct kv_ctx k = {.ns = ns, .values = values};
	return with_conn(s, true, kv_put_many_op, &k, err);
}

static vt_status kv_list_add_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct kv_ctx *k = ctx;
	char *cur = NULL, *text = NULL;
	json_t *old = NULL;
	json_decref(k->list);
	k->list = NULL;
	vt_status rc = kv_write_begin(s, c, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	struct vt_db_arg a[] = {DB_T(k->ns), DB_T(k->key), DB_T(NULL)};
	VT_GUARD(run(s, c, SQL_KV_GET, a, 2, row_strdup, &cur, NULL, err));
	if (cur != NULL && vt_json_parse(cur, strlen(cur), 1u << 20, &old, NULL) != VT_OK)
		old = NULL; /* unreadable: start a new list */
	k->list = json_is_array(old) ? json_copy(old) : json_array();
	if (k->list == NULL || (old != NULL && !json_is_array(old) && json_array_append(k->list, old) != 0)) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, k->key, "out of memory");
		goto out;
	}
	size_t i;
	json_t *v;
	json_array_foreach(k->list, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), k->item) == 0)
			goto out; /* already there: nothing to write */
	}
	if (json_array_append_new(k->list, json_string(k->item)) != 0 || (text = vt_json_compact(k->list)) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, k->key, "out of memory");
		goto out;
	}
	a[2] = DB_T(text);
	rc = run(s, c, SQL_KV_PUT, a, 3, NULL, NULL, NULL, err);
out:
	free(cur);
	free(text);
	json_decref(old);
	return kv_write_end(s, c, rc, err);
}

vt_status vt_store_kv_list_add(struct vt_store *s, const char *ns, const char *key, const char *item, json_t **list_out,
			       struct vt_err *err)
{
	struct kv_ctx k = {.ns = ns, .key = key, .item = item};
	vt_status rc = with_conn(s, true, kv_list_add_op, &k, err);
	if (rc == VT_OK && list_out)
		*list_out = k.list;
	else
		json_decref(k.list);
	return rc;
}

static vt_status kv_get_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct kv_ctx *k = ctx;
	struct vt_db_arg a[] = {DB_T(k->ns), DB_T(k->key)};
	return run(s, c, SQL_KV_GET, a, 2, row_strdup, &k->out, NULL, err);
}

vt_status vt_store_kv_get(struct vt_store *s, const char *ns, const char *key, char **out, struct vt_err *err)
{
	struct kv_ctx k = {.ns = ns, .key = key};
	vt_status rc = with_conn(s, true, kv_get_op, &k, err);
	if (rc == VT_OK && k.out == NULL)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, key, "\"%.64s\" not found", key);
	if (rc != VT_OK) {
		free(k.out);
		return rc;
	}
	*out = k.out;
	return VT_OK;
}

static vt_status kv_delete_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct kv_ctx *k = ctx;
	vt_status rc = kv_write_begin(s, c, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	struct vt_db_arg a[] = {DB_T(k->ns), DB_T(k->key)};
	k->gen = 0;
	rc = run(s, c, SQL_KV_DELETE, a, 2, NULL, NULL, &k->gen, err);
	return kv_write_end(s, c, rc, err);
}

vt_status vt_store_kv_delete(struct vt_store *s, const char *ns, const char *key, bool *deleted, struct vt_err *err)
{
	struct kv_ctx k = {.ns = ns, .key = key};
	vt_status rc = with_conn(s, true, kv_delete_op, &k, err);
	if (deleted)
		*deleted = rc == VT_OK && k.gen > 0; /* rows changed */
	return rc;
}

static vt_status kv_each_row(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	(void)err;
	struct kv_ctx *k = ctx;
	const char *key = vt_db_text(r, 0), *val = vt_db_text(r, 1);
	if (key && val)
		k->each(k->each_ctx, key, val);
	return VT_OK;
}

static vt_status kv_each_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct kv_ctx *k = ctx;
	struct vt_db_arg a[] = {DB_T(k->ns)};
	return run(s, c, SQL_KV_EACH, a, 1, kv_each_row, k, NULL, err);
}

vt_status vt_store_kv_each(struct vt_store *s, const char *ns, void (*fn)(void *, const char *, const char *),
			   void *ctx, struct vt_err *err)
{
	/* A retry may call fn again for rows it saw: callers install by key. */
	struct kv_ctx k = {.ns = ns, .each = fn, .each_ctx = ctx};
	return with_conn(s, true, kv_each_op, &k, err);
}

static vt_status gen_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	return run(s, c, SQL_GEN_GET, NULL, 0, row_num, ctx, NULL, err);
}

vt_status vt_store_generation(struct vt_store *s, int64_t *out, struct vt_err *err)
{
	*out = -1;
	return with_conn(s, true, gen_op, out, err);
}

/* ------------------------------------------------------------ admin jti */

struct jti_ctx {
	const char *jti;
	int64_t exp, now, changes;
};

static vt_status jti_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct jti_ctx *j = ctx;
	vt_status rc = tx_begin(s, c, true, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	/* Forget ids whose tokens have expired: they can no longer be replayed. */
	struct vt_db_arg p[] = {DB_I(j->now)};
	VT_GUARD(run(s, c, SQL_JTI_PURGE, p, 1, NULL, NULL, NULL, err));
	struct vt_db_arg a[] = {DB_T(j->jti), DB_I(j->exp)};
	VT_GUARD(run(s, c, SQL_JTI_INSERT, a, 2, NULL, NULL, &j->changes, err));
out:
	return tx_end(s, c, rc, err);
}

vt_status vt_store_jti_use(struct vt_store *s, const char *jti, int64_t exp, int64_t now, struct vt_err *err)
{
	struct jti_ctx j = {jti, exp, now, 0};
	vt_status rc = with_conn(s, false, jti_op, &j, err);
	if (rc == VT_OK && j.changes == 0)
		rc = vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "jti", "admin token already used (replay): mint one per request");
	return rc;
}

/* ------------------------------------------------------------ release log */

struct head_row {
	struct vt_audit_link *link;
	char **jws;
	bool corrupt;
};

static vt_status head_row_fn(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	struct head_row *h = ctx;
	const char *hash = vt_db_text(r, 1), *jws = vt_db_text(r, 2);
	if (hash == NULL || strlen(hash) != 64 || jws == NULL) {
		h->corrupt = true;
		return VT_OK;
	}
	h->link->seq = vt_db_num(r, 0);
	memcpy(h->link->hash, hash, 65);
	if (h->jws) {
		free(*h->jws);
		if ((*h->jws = strdup(jws)) == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	}
	return VT_OK;
}

/* A signed link of the chain (the head, or the checkpoint of a prune):
 * its (seq, hash) and JWS; seq 0 and the genesis hash when there is none. */
static vt_status audit_link(struct vt_store *s, void *c, enum vt_sql q, const char *table, struct vt_audit_link *out,
			    char **jws, struct vt_err *err)
{
	out->seq = 0;
	memset(out->hash, '0', 64);
	out->hash[64] = '\0';
	if (jws)
		*jws = NULL;
	struct head_row h = {out, jws, false};
	vt_status rc = run(s, c, q, NULL, 0, head_row_fn, &h, NULL, err);
	if (rc == VT_OK && h.corrupt)
		rc = vt_fail(err, VT_E_IO, VT_STEP_STORAGE, table, "release log %s is corrupt", table);
	return rc;
}

/* The current head's (seq, hash); the genesis link when the log is empty. */
static vt_status audit_head(struct vt_store *s, void *c, struct vt_audit_link *out, char **jws, struct vt_err *err)
{
	return audit_link(s, c, SQL_AUDIT_HEAD, "audit_head", out, jws, err);
}

struct append_ctx {
	vt_store_audit_make make;
	void *ctx;
};

/* Appends text statements (NULL-terminated) to a batch; false when they
 * do not fit. */
static bool add_texts(struct vt_db_step *steps, size_t *n, const char *const *texts)
{
	for (; *texts; texts++) {
		if (*n == VT_DB_STEPS_MAX)
			return false;
		steps[(*n)++] = (struct vt_db_step){.sql = *texts};
	}
	return true;
}

/* The steps in order, stopping at the first failure; one round trip where
 * the driver can (PostgreSQL), else one statement at a time. */
static vt_status run_batch(struct vt_store *s, void *c, const struct vt_db_step *steps, size_t n, size_t *done,
			   struct vt_err *err)
{
	*done = 0;
	if (s->drv->batch)
		return s->drv->batch(s, c, steps, n, done, err);
	for (; *done < n; (*done)++) {
		const struct vt_db_step *st = &steps[*done];
		vt_status rc = st->sql ? s->drv->exec(s, c, st->sql, err)
				       : run(s, c, st->q, st->args, st->nargs, st->fn, st->ctx, NULL, err);
		if (rc != VT_OK)
			return rc;
	}
	return VT_OK;
}

static vt_status audit_append_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct append_ctx *a = ctx;
	char *entry = NULL, *head = NULL, hash[65] = "";
	struct vt_audit_link prev = {.seq = 0};
	memset(prev.hash, '0', 64);
	prev.hash[64] = '\0';
	struct head_row h = {&prev, NULL, false};
	const enum vt_db_backend be = s->drv->backend;
	struct vt_db_step st[VT_DB_STEPS_MAX];
	size_t n = 0, done = 0;
	/* Two round trips on PostgreSQL: BEGIN, the chain's lock and the head;
	 * then the entry, COMMIT and the flush.  Serialised, but not holding
	 * the lock through a disk flush: the flush comes after, outside the
	 * lock, grouped with others'. */
	if (!add_texts(st, &n, vt_sql_audit_open(be)))
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "audit", "release log batch too long");
	st[n++] = (struct vt_db_step){.q = SQL_AUDIT_HEAD, .fn = head_row_fn, .ctx = &h};
	vt_status rc = run_batch(s, c, st, n, &done, err);
	if (rc != VT_OK && done == 0) {
		*retry_ok = true; /* nothing ran */
		return rc;
	}
	if (rc == VT_OK && h.corrupt)
		rc = vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "audit_head", "release log head is corrupt");
	if (rc != VT_OK)
		goto out;
	VT_GUARD(a->make(a->ctx, &prev, &entry, hash, &head, err));
	struct vt_db_arg both[] = {DB_I(prev.seq + 1), DB_T(entry), DB_T(hash), DB_T(head)};
	struct vt_db_arg hp[] = {DB_I(prev.seq + 1), DB_T(hash), DB_T(head)};
	n = 0;
	if (be == VT_DB_PG) { /* the entry and the head in one statement */
		st[n++] = (struct vt_db_step){.q = SQL_AUDIT_APPEND, .args = both, .nargs = 4};
	} else {
		st[n++] = (struct vt_db_step){.q = SQL_AUDIT_INSERT, .args = both, .nargs = 3};
		st[n++] = (struct vt_db_step){.q = SQL_AUDIT_HEAD_PUT, .args = hp, .nargs = 3};
	}
	if (!add_texts(st, &n, vt_sql_audit_close(be))) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "audit", "release log batch too long");
		goto out;
	}
	/* Durable before the caller releases (fail closed). */
	rc = run_batch(s, c, st, n, &done, err);
out:
	free(entry);
	free(head);
	if (rc != VT_OK && !s->drv->conn_broken(c))
		(void)s->drv->exec(s, c, "ROLLBACK", NULL); /* nothing stays open */
	return rc;
}

vt_status vt_store_audit_append(struct vt_store *s, vt_store_audit_make make, void *ctx, struct vt_err *err)
{
	/* Not retried once statements ran: a COMMIT cut off by a lost
	 * connection may have happened, and a second entry would follow. */
	struct append_ctx a = {make, ctx};
	return with_conn(s, false, audit_append_op, &a, err);
}

struct read_ctx {
	int64_t since;
	size_t limit;
	json_t *list;
	char *jws, *ckpt_jws;
	struct vt_audit_link head, ckpt;
};

static vt_status audit_row(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	struct read_ctx *rd = ctx;
	const char *e = vt_db_text(r, 0), *h = vt_db_text(r, 1);
	json_t *row = json_pack("{s:s, s:s}", "entry", e ? e : "", "hash", h ? h : "");
	if (row == NULL || json_array_append_new(rd->list, row) != 0)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	return VT_OK;
}

static vt_status audit_read_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct read_ctx *rd = ctx;
	json_array_clear(rd->list);
	free(rd->jws);
	free(rd->ckpt_jws);
	rd->jws = rd->ckpt_jws = NULL;
	/* One snapshot: the entries, the head and the checkpoint come from the
	 * same state. */
	vt_status rc = tx_begin(s, c, false, retry_ok, err);
	if (rc != VT_OK)
		return rc;
	VT_GUARD(audit_head(s, c, &rd->head, &rd->jws, err));
	VT_GUARD(audit_link(s, c, SQL_AUDIT_CHECKPOINT, "audit_checkpoint", &rd->ckpt, &rd->ckpt_jws, err));
	/* Entries at or below the checkpoint were pruned: the page starts after it. */
	int64_t from = rd->since > rd->ckpt.seq ? rd->since : rd->ckpt.seq;
	struct vt_db_arg a[] = {DB_I(from), DB_I(rd->head.seq), DB_I((int64_t)rd->limit)};
	VT_GUARD(run(s, c, SQL_AUDIT_RANGE, a, 3, audit_row, rd, NULL, err));
out:
	return tx_end(s, c, rc, err);
}

vt_status vt_store_audit_read(struct vt_store *s, int64_t since, size_t limit, struct vt_audit_page *page,
			      struct vt_err *err)
{
	memset(page, 0, sizeof(*page));
	struct read_ctx rd = {.since = since, .limit = limit, .list = json_array()};
	if (rd.list == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	vt_status rc = with_conn(s, true, audit_read_op, &rd, err);
	if (rc != VT_OK) {
		json_decref(rd.list);
		free(rd.jws);
		free(rd.ckpt_jws);
		return rc;
	}
	page->entries = rd.list;
	page->head = rd.jws;
	page->head_seq = rd.head.seq;
	page->checkpoint = rd.ckpt_jws;
	page->checkpoint_seq = rd.ckpt.seq;
	return VT_OK;
}

void vt_audit_page_free(struct vt_audit_page *page)
{
	if (page == NULL)
		return;
	json_decref(page->entries);
	free(page->head);
	free(page->checkpoint);
	memset(page, 0, sizeof(*page));
}

struct prune_ctx {
	int64_t through, deleted;
	vt_store_audit_sign sign;
	void *ctx;
};

static vt_status prune_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct prune_ctx *p = ctx;
	const enum vt_db_backend be = s->drv->backend;
	struct vt_db_step st[VT_DB_STEPS_MAX];
	size_t n = 0, done = 0;
	struct vt_audit_link head, ckpt, at = {.seq = 0};
	char *jws = NULL;
	if (!add_texts(st, &n, vt_sql_audit_open(be)))
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "audit", "release log batch too long");
	vt_status rc = run_batch(s, c, st, n, &done, err);
	if (rc != VT_OK && done == 0) {
		*retry_ok = true; /* nothing ran */
		return rc;
	}
	if (rc != VT_OK)
		goto out;
	/* Under the chain's lock: no append moves the head meanwhile. */
	VT_GUARD(audit_head(s, c, &head, NULL, err));
	VT_GUARD(audit_link(s, c, SQL_AUDIT_CHECKPOINT, "audit_checkpoint", &ckpt, NULL, err));
	if (p->through <= ckpt.seq) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_STORAGE, "through",
			     "the release log is already pruned through seq %lld", (long long)ckpt.seq);
		goto out;
	}
	if (p->through >= head.seq) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_STORAGE, "through",
			     "through must be below the head (seq %lld): the entry the head signs stays",
			     (long long)head.seq);
		goto out;
	}
	struct vt_db_arg a[] = {DB_I(p->through)};
	struct head_row h = {&at, NULL, false};
	VT_GUARD(run(s, c, SQL_AUDIT_HASH_AT, a, 1, head_row_fn, &h, NULL, err));
	if (at.seq != p->through || h.corrupt) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "audit", "release log entry seq %lld is missing or corrupt",
			     (long long)p->through);
		goto out;
	}
	VT_GUARD(p->sign(p->ctx, &at, &jws, err));
	VT_GUARD(run(s, c, SQL_AUDIT_PRUNE, a, 1, NULL, NULL, &p->deleted, err));
	struct vt_db_arg cp[] = {DB_I(at.seq), DB_T(at.hash), DB_T(jws)};
	VT_GUARD(run(s, c, SQL_AUDIT_CHECKPOINT_PUT, cp, 3, NULL, NULL, NULL, err));
	n = 0;
	if (!add_texts(st, &n, vt_sql_audit_prune_close(be))) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_STORAGE, "audit", "release log batch too long");
		goto out;
	}
	rc = run_batch(s, c, st, n, &done, err);
out:
	free(jws);
	if (rc != VT_OK && !s->drv->conn_broken(c))
		(void)s->drv->exec(s, c, "ROLLBACK", NULL); /* nothing stays open */
	return rc;
}

vt_status vt_store_audit_prune(struct vt_store *s, int64_t through, vt_store_audit_sign sign, void *ctx,
			       int64_t *deleted, struct vt_err *err)
{
	struct prune_ctx p = {.through = through, .sign = sign, .ctx = ctx};
	*deleted = 0;
	vt_status rc = with_conn(s, false, prune_op, &p, err);
	if (rc == VT_OK)
		*deleted = p.deleted;
	return rc;
}

vt_status vt_store_available(struct vt_store *s, struct vt_err *err)
{
	return s->drv->available ? s->drv->available(s, err) : VT_OK;
}

/* ------------------------------------------------------------- sessions */

struct att_ctx {
	const char *id_hash, *token;
	char *token_out;
	int64_t now, expires, count, changes;
};

static vt_status att_put_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct att_ctx *x = ctx;
	struct vt_db_arg a[] = {DB_T(x->id_hash), DB_T(x->token) /* NULL: SQL NULL */, DB_I(x->expires)};
	return run(s, c, SQL_ATTESTED_PUT, a, 3, NULL, NULL, &x->changes, err);
}

vt_status vt_store_attested_put(struct vt_store *s, const char *id_hash, const char *token, int64_t expires,
				bool *won, struct vt_err *err)
{
	/* Not retried once it ran: an insert cut off by a lost connection may
	 * have happened, and the retry would read as a lost race. */
	struct att_ctx x = {.id_hash = id_hash, .token = token, .expires = expires};
	vt_status rc = with_conn(s, false, att_put_op, &x, err);
	*won = rc == VT_OK && x.changes == 1;
	return rc;
}

static vt_status token_row(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	struct att_ctx *x = ctx;
	const char *t = vt_db_text(r, 0);
	free(x->token_out);
	x->token_out = t ? strdup(t) : NULL;
	if (t && x->token_out == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	return VT_OK;
}

static vt_status att_token_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct att_ctx *x = ctx;
	struct vt_db_arg a[] = {DB_T(x->id_hash), DB_I(x->now)};
	return run(s, c, SQL_ATTESTED_TOKEN, a, 2, token_row, x, NULL, err);
}

vt_status vt_store_attested_token(struct vt_store *s, const char *id_hash, int64_t now, char **token,
				  struct vt_err *err)
{
	struct att_ctx x = {.id_hash = id_hash, .now = now};
	vt_status rc = with_conn(s, true, att_token_op, &x, err);
	if (rc == VT_OK && x.token_out == NULL)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	if (rc != VT_OK) {
		free(x.token_out);
		return rc;
	}
	*token = x.token_out;
	return VT_OK;
}

struct token_resource_ctx {
	struct att_ctx att;
	const char *path;
	struct vt_store_sealed sealed;
};

static vt_status token_resource_row(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	struct token_resource_ctx *x = ctx;
	vt_status rc = token_row(&x->att, r, err);
	size_t n = 0;
	const uint8_t *p = rc == VT_OK ? vt_db_bytes(r, 1, &n) : NULL;
	vt_store_sealed_free(&x->sealed);
	if (p != NULL) {
		if ((x->sealed.data = malloc(n ? n : 1)) == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
		memcpy(x->sealed.data, p, n);
		x->sealed.len = n;
	}
	return rc;
}

static vt_status att_token_resource_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct token_resource_ctx *x = ctx;
	struct vt_db_arg a[] = {DB_T(x->att.id_hash), DB_I(x->att.now), DB_T(x->path)};
	return run(s, c, SQL_ATTESTED_TOKEN_RESOURCE, a, 3, token_resource_row, x, NULL, err);
}

vt_status vt_store_attested_token_resource(struct vt_store *s, const char *id_hash, int64_t now, const char *path,
					   char **token, struct vt_store_sealed *resource, struct vt_err *err)
{
	struct token_resource_ctx x = {.att = {.id_hash = id_hash, .now = now}, .path = path};
	vt_status rc = with_conn(s, true, att_token_resource_op, &x, err);
	if (rc == VT_OK && x.att.token_out == NULL)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "no attested session");
	if (rc != VT_OK) {
		free(x.att.token_out);
		vt_store_sealed_free(&x.sealed);
		return rc;
	}
	*token = x.att.token_out;
	*resource = x.sealed;
	return VT_OK;
}

static vt_status att_count_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct att_ctx *x = ctx;
	struct vt_db_arg a[] = {DB_I(x->now)};
	return run(s, c, SQL_ATTESTED_COUNT, a, 1, row_num, &x->count, NULL, err);
}

vt_status vt_store_attested_count(struct vt_store *s, int64_t now, int64_t *count, struct vt_err *err)
{
	struct att_ctx x = {.now = now};
	vt_status rc = with_conn(s, true, att_count_op, &x, err);
	*count = x.count;
	return rc;
}

static vt_status att_sweep_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct att_ctx *x = ctx;
	struct vt_db_arg a[] = {DB_I(x->now)};
	return run(s, c, SQL_ATTESTED_SWEEP, a, 1, NULL, NULL, NULL, err);
}

vt_status vt_store_attested_sweep(struct vt_store *s, int64_t before, struct vt_err *err)
{
	struct att_ctx x = {.now = before};
	return with_conn(s, true, att_sweep_op, &x, err);
}

/* ----------------------------------------------------- TPM challenges */

struct chal_ctx {
	const char *id, *ak;
	const uint8_t *sealed;
	size_t sealed_len;
	int64_t expires, now, count, changes;
	size_t max;
	const struct vt_secret *key;
	char ak_out[65];
	struct vt_secret *secret;
	bool found, full;
};

static vt_status chal_put_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	struct chal_ctx *x = ctx;
	x->full = false;
	vt_status rc = tx_begin_durable(s, c, true, false, retry_ok, err); /* a 5-minute challenge */
	if (rc != VT_OK)
		return rc;
	struct vt_db_arg p[] = {DB_I(x->now)};
	VT_GUARD(run(s, c, SQL_CHALLENGE_PURGE, p, 1, NULL, NULL, NULL, err));
	VT_GUARD(run(s, c, SQL_CHALLENGE_COUNT, NULL, 0, row_num, &x->count, NULL, err));
	if (x->count >= (int64_t)x->max) {
		x->full = true;
		goto out; /* commit the purge */
	}
	struct vt_db_arg a[] = {DB_T(x->id), DB_T(x->ak), DB_B(x->sealed, x->sealed_len), DB_I(x->expires)};
	VT_GUARD(run(s, c, SQL_CHALLENGE_PUT, a, 4, NULL, NULL, NULL, err));
out:
	return tx_end(s, c, rc, err);
}

static void challenge_aad(char *aad, size_t n, const char *id)
{
	snprintf(aad, n, "tpm-challenge/%.64s", id);
}

vt_status vt_store_challenge_put(struct vt_store *s, const char *id, const char *ak_digest,
				 const struct vt_secret *secret, int64_t expires, int64_t now, size_t max,
				 struct vt_err *err)
{
	char aad[96];
	challenge_aad(aad, sizeof(aad), id);
	uint8_t *sealed = NULL;
	size_t n = 0;
	vt_status rc = seal(s->key, aad, secret->data, secret->len, &sealed, &n, err);
	if (rc != VT_OK)
		return rc;
	struct chal_ctx x = {.id = id, .ak = ak_digest, .sealed = sealed, .sealed_len = n, .expires = expires,
			     .now = now, .max = max};
	rc = with_conn(s, false, chal_put_op, &x, err);
	free(sealed);
	if (rc == VT_OK && x.full)
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_SESSION, "", "%zu TPM enrollments are pending; try again later", max);
	return rc;
}

static vt_status chal_row(void *ctx, const struct vt_db_row *r, struct vt_err *err)
{
	struct chal_ctx *x = ctx;
	const char *ak = vt_db_text(r, 0);
	size_t n = 0;
	const uint8_t *p = vt_db_bytes(r, 1, &n);
	char aad[96];
	challenge_aad(aad, sizeof(aad), x->id);
	snprintf(x->ak_out, sizeof(x->ak_out), "%s", ak ? ak : "");
	x->expires = vt_db_num(r, 2);
	x->found = true;
	vt_secret_free(x->secret);
	x->secret = NULL;
	if (p == NULL)
		return vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "tpm_challenges", "sealed challenge unreadable");
	return unseal(x->key, aad, p, n, &x->secret, err);
}

static vt_status chal_take_op(struct vt_store *s, void *c, void *ctx, bool *retry_ok, struct vt_err *err)
{
	(void)retry_ok;
	struct chal_ctx *x = ctx;
	struct vt_db_arg a[] = {DB_T(x->id)};
	return run(s, c, SQL_CHALLENGE_TAKE, a, 1, chal_row, x, NULL, err);
}

vt_status vt_store_challenge_take(struct vt_store *s, const char *id, char ak_digest[65], struct vt_secret **secret,
				  int64_t *expires, struct vt_err *err)
{
	struct chal_ctx x = {.id = id, .key = s->key};
	vt_status rc = with_conn(s, false, chal_take_op, &x, err);
	if (rc == VT_OK && !x.found)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "id", "unknown enrollment id");
	if (rc != VT_OK) {
		vt_secret_free(x.secret);
		return rc;
	}
	memcpy(ak_digest, x.ak_out, 65);
	*secret = x.secret;
	*expires = x.expires;
	return VT_OK;
}

/* ------------------------------------------------------------ master key */

vt_status vt_master_key_load(const char *path, struct vt_secret **out, struct vt_err *err)
{
	struct stat stt;
	if (stat(path, &stt) != 0) {
		if (errno != ENOENT)
			return vt_fail(err, VT_E_IO, VT_STEP_CONFIG, path, "cannot stat master key: %s", strerror(errno));
		struct vt_secret *k = vt_secret_random(32);
		if (k == NULL)
			return vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, path, "cannot generate master key");
		/* O_EXCL: two brokers starting at once must not both write one. */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			vt_secret_free(k);
			if (errno == EEXIST)
				return vt_master_key_load(path, out, err);
			return vt_fail(err, VT_E_IO, VT_STEP_CONFIG, path, "cannot create master key: %s",
				       strerror(errno));
		}
		ssize_t w = write(fd, k->data, 32);
		int sync_rc = fsync(fd);
		close(fd);
		if (w != 32 || sync_rc != 0) {
			unlink(path);
			vt_secret_free(k);
			return vt_fail(err, VT_E_IO, VT_STEP_CONFIG, path, "cannot write master key");
		}
		*out = k;
		return VT_OK;
	}
	if (stt.st_mode & 077)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, path,
			       "master key file is accessible by group or others (mode %03o); chmod 600 it",
			       (unsigned)(stt.st_mode & 0777));
	uint8_t *p;
	size_t n;
	vt_status rc = vt_file_read(path, 64, &p, &n, err);
	if (rc != VT_OK)
		return rc;
	if (n != 32) {
		vt_wipe(p, n);
		free(p);
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, path, "master key file must hold exactly 32 bytes, has %zu", n);
	}
	*out = vt_secret_from(p, n);
	vt_wipe(p, n);
	free(p);
	return *out ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
}
