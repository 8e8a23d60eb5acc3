/* SQLite storage backend with AES-256-GCM sealing of resources. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "broker/store.h"
#include "veritee/crypto.h"

#define SEAL_IV 12
#define SEAL_TAG 16
#define MAX_RESOURCE (16u << 20)

struct vt_store {
	sqlite3 *db;
	struct vt_secret *key;
	pthread_mutex_t lock;
};

static vt_status db_fail(struct vt_store *s, const char *what, struct vt_err *err)
{
	return vt_fail(err, VT_E_IO, VT_STEP_STORAGE, what, "database: %s", sqlite3_errmsg(s->db));
}

vt_status vt_store_open_sqlite(const char *path, const struct vt_secret *master_key, struct vt_store **out,
			       struct vt_err *err)
{
	if (master_key == NULL || master_key->len != 32)
		return vt_fail(err, VT_E_USAGE, VT_STEP_STORAGE, "master_key", "master key must be 32 bytes");
	struct vt_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	vt_status rc = VT_OK;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_STORAGE, path, "cannot open database: %s",
			     s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out;
	}
	chmod(path, 0600);
	sqlite3_busy_timeout(s->db, 5000);
	static const char schema[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=NORMAL;"
		"CREATE TABLE IF NOT EXISTS resources(path TEXT PRIMARY KEY, sealed BLOB NOT NULL);"
		"CREATE TABLE IF NOT EXISTS kv(ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
		" PRIMARY KEY(ns, key));"
		"CREATE TABLE IF NOT EXISTS admin_jti(jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);"
		"CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL);"
		"CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER NOT NULL,"
		" hash TEXT NOT NULL, jws TEXT NOT NULL);";
	if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(s, "schema", err);
		goto out;
	}
	s->key = vt_secret_from(master_key->data, master_key->len);
	if (s->key == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
out:
	if (rc != VT_OK) {
		vt_store_close(s);
		return rc;
	}
	*out = s;
	return VT_OK;
}

void vt_store_close(struct vt_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	vt_secret_free(s->key);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* AES-256-GCM: out = iv || ciphertext || tag, AAD = path. */
static vt_status seal(const struct vt_secret *key, const char *path, const uint8_t *pt, size_t n, uint8_t **out,
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
	    EVP_EncryptUpdate(c, NULL, &len, (const uint8_t *)path, (int)strlen(path)) != 1 ||
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

static vt_status unseal(const struct vt_secret *key, const char *path, const uint8_t *in, size_t n,
			struct vt_secret **out, struct vt_err *err)
{
	if (n < SEAL_IV + SEAL_TAG)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_STORAGE, path, "sealed resource is corrupt");
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
	    EVP_DecryptUpdate(c, NULL, &len, (const uint8_t *)path, (int)strlen(path)) != 1 ||
	    EVP_DecryptUpdate(c, pt->data, &len, in + SEAL_IV, (int)ct) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, (void *)(in + SEAL_IV + ct)) != 1 ||
	    EVP_DecryptFinal_ex(c, pt->data + len, &len) != 1) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_STORAGE, path,
			     "sealed resource does not open (wrong master key or tampered database)");
		goto out;
	}
	*out = pt;
	pt = NULL;
out:
	vt_secret_free(pt);
	EVP_CIPHER_CTX_free(c);
	return rc;
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
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&s->lock); /* writes never interleave with a transaction (vt_store_kv_put_many) */
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO resources(path, sealed) VALUES(?1, ?2)", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 2, sealed, (int)sealed_len, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(s, "resources", err);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	free(sealed);
	return rc;
}

vt_status vt_store_resource_get(struct vt_store *s, const char *path, struct vt_secret **out, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	if (sqlite3_prepare_v2(s->db, "SELECT sealed FROM resources WHERE path = ?1", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		rc = db_fail(s, "resources", err);
		goto out;
	}
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, "resource", "resource not found");
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = db_fail(s, "resources", err);
		goto out;
	}
	rc = unseal(s->key, path, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out, err);
out:
	sqlite3_finalize(st);
	return rc;
}

vt_status vt_store_resource_delete(struct vt_store *s, const char *path, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db, "DELETE FROM resources WHERE path = ?1", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(s, "resources", err);
	else if (sqlite3_changes(s->db) == 0)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, "resource", "resource not found");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* One INSERT OR REPLACE; the caller holds s->lock. */
static vt_status kv_put_locked(struct vt_store *s, const char *ns, const char *key, const char *text,
			       struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv(ns, key, value) VALUES(?1, ?2, ?3)", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 1, ns, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(s, ns, err);
	sqlite3_finalize(st);
	return rc;
}

vt_status vt_store_kv_put(struct vt_store *s, const char *ns, const char *key, const char *text, struct vt_err *err)
{
	pthread_mutex_lock(&s->lock);
	vt_status rc = kv_put_locked(s, ns, key, text, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

vt_status vt_store_kv_put_many(struct vt_store *s, const char *ns, const json_t *values, struct vt_err *err)
{
	vt_status rc = VT_OK;
	pthread_mutex_lock(&s->lock);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(s, ns, err);
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)values, k, v) {
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		rc = t ? kv_put_locked(s, ns, k, t, err) : vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
		free(t);
		if (rc != VT_OK)
			break;
	}
	if (rc == VT_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(s, ns, err);
	if (rc != VT_OK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

vt_status vt_store_jti_use(struct vt_store *s, const char *jti, int64_t exp, int64_t now, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	pthread_mutex_lock(&s->lock);
	/* Forget ids whose tokens have expired: they can no longer be replayed. */
	if (sqlite3_prepare_v2(s->db, "DELETE FROM admin_jti WHERE exp < ?1", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(s, "admin_jti", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO admin_jti(jti, exp) VALUES(?1, ?2)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, jti, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, exp) != SQLITE_OK) {
		rc = db_fail(s, "admin_jti", err);
		goto out;
	}
	int r = sqlite3_step(st);
	if ((r & 0xff) == SQLITE_CONSTRAINT)
		rc = vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "jti", "admin token already used (replay): mint one per request");
	else if (r != SQLITE_DONE)
		rc = db_fail(s, "admin_jti", err);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

vt_status vt_store_kv_get(struct vt_store *s, const char *ns, const char *key, char **out, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM kv WHERE ns = ?1 AND key = ?2", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, ns, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		rc = db_fail(s, ns, err);
		goto out;
	}
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_STORAGE, key, "\"%.64s\" not found", key);
	} else if (r != SQLITE_ROW) {
		rc = db_fail(s, ns, err);
	} else {
		*out = strdup((const char *)sqlite3_column_text(st, 0));
		if (*out == NULL)
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

vt_status vt_store_kv_each(struct vt_store *s, const char *ns, void (*fn)(void *, const char *, const char *),
			   void *ctx, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	if (sqlite3_prepare_v2(s->db, "SELECT key, value FROM kv WHERE ns = ?1 ORDER BY key", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 1, ns, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		rc = db_fail(s, ns, err);
		goto out;
	}
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
	if (r != SQLITE_DONE)
		rc = db_fail(s, ns, err);
out:
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------ release log */

/* The current head's (seq, hash); the genesis link when the log is empty. */
static vt_status audit_head_locked(struct vt_store *s, struct vt_audit_link *out, char **jws, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	vt_status rc = VT_OK;
	out->seq = 0;
	memset(out->hash, '0', 64);
	out->hash[64] = '\0';
	if (jws)
		*jws = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT seq, hash, jws FROM audit_head WHERE id = 1", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(s, "audit_head", err);
		goto out;
	}
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		const char *j = (const char *)sqlite3_column_text(st, 2);
		if (h == NULL || strlen(h) != 64 || j == NULL) {
			rc = vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "audit_head", "release log head is corrupt");
			goto out;
		}
		out->seq = sqlite3_column_int64(st, 0);
		memcpy(out->hash, h, 65);
		if (jws && (*jws = strdup(j)) == NULL)
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	} else if (r != SQLITE_DONE) {
		rc = db_fail(s, "audit_head", err);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

vt_status vt_store_audit_append(struct vt_store *s, vt_store_audit_make make, void *ctx, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	char *entry = NULL, *head = NULL, hash[65] = "";
	struct vt_audit_link prev;
	vt_status rc = VT_OK;
	pthread_mutex_lock(&s->lock);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(s, "audit", err);
		goto unlock;
	}
	VT_GUARD(audit_head_locked(s, &prev, NULL, err));
	VT_GUARD(make(ctx, &prev, &entry, hash, &head, err));
	if (sqlite3_prepare_v2(s->db, "INSERT INTO audit(seq, entry, hash) VALUES(?1, ?2, ?3)", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, prev.seq + 1) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, entry, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(s, "audit", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO audit_head(id, seq, hash, jws) VALUES(1, ?1, ?2, ?3)", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, prev.seq + 1) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, head, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(s, "audit_head", err);
		goto out;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = db_fail(s, "audit", err);
out:
	sqlite3_finalize(st);
	if (rc != VT_OK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
unlock:
	pthread_mutex_unlock(&s->lock);
	free(entry);
	free(head);
	return rc;
}

vt_status vt_store_audit_read(struct vt_store *s, int64_t since, size_t limit, json_t **entries, char **head,
			      int64_t *head_seq, struct vt_err *err)
{
	sqlite3_stmt *st = NULL;
	struct vt_audit_link h;
	json_t *list = json_array();
	char *jws = NULL;
	vt_status rc = VT_OK;
	if (list == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
	/* Under the lock and in one transaction: the entries and the head come
	 * from the same state of the log. */
	pthread_mutex_lock(&s->lock);
	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(s, "audit", err);
		goto unlock;
	}
	VT_GUARD(audit_head_locked(s, &h, &jws, err));
	if (sqlite3_prepare_v2(s->db, "SELECT entry, hash FROM audit WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, since) != SQLITE_OK || sqlite3_bind_int64(st, 2, h.seq) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit) != SQLITE_OK) {
		rc = db_fail(s, "audit", err);
		goto out;
	}
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_pack("{s:s, s:s}", "entry", (const char *)sqlite3_column_text(st, 0), "hash",
					(const char *)sqlite3_column_text(st, 1));
		if (row == NULL || json_array_append_new(list, row) != 0) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "", "out of memory");
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		rc = db_fail(s, "audit", err);
out:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, rc == VT_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
unlock:
	pthread_mutex_unlock(&s->lock);
	if (rc != VT_OK) {
		json_decref(list);
		free(jws);
		return rc;
	}
	*entries = list;
	*head = jws;
	*head_seq = h.seq;
	return VT_OK;
}

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
