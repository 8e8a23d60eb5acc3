/* Broker storage: one interface, two backends.
 *
 *   SQLite      a file path ("database": "kbs.db"): the embedded default, one
 *               process (several processes may share the file, serialised).
 *   PostgreSQL  a libpq URI ("database": "postgresql://USER@HOST:PORT/DB"):
 *               any number of brokers ("replicas") share it and act as one.
 *
 * Both backends have the same schema (store_schema.c: migrations recorded in
 * table schema_version), the same statements (one SQL text per statement,
 * prepared once per connection) and the same behaviour; the unit tests
 * (tests/unit/test_store.c) run every case against both.
 *
 * Resources and TPM enrollment secrets are sealed with AES-256-GCM under the
 * master key before they reach the backend; the AAD names the row, so a
 * ciphertext cannot be moved to another path.
 *
 * Errors: VT_E_IO for a statement the database refused (constraint, syntax),
 * VT_E_UNAVAILABLE when the database cannot be reached, refuses writes
 * (read-only, disk full), or every pooled connection stays busy past the
 * wait limit.  The broker answers VT_E_UNAVAILABLE with HTTP 503 and
 * Retry-After.  Details never carry secret bytes, evidence or passwords.
 */
#ifndef VT_BROKER_STORE_H
#define VT_BROKER_STORE_H

#include <stdbool.h>

#include <jansson.h>

#include "veritee/err.h"
#include "veritee/util.h"

struct vt_store;

/* PostgreSQL connection handling; SQLite ignores these. */
struct vt_store_settings {
	size_t pool_size;             /* connections per broker, default 8 */
	int64_t pool_wait_ms;         /* longest wait for a free connection, default 1000 */
	int64_t connect_timeout;      /* seconds, default 2 */
	int64_t statement_timeout_ms; /* per statement, default 5000 */
};

void vt_store_settings_default(struct vt_store_settings *s);

/* Whether `database` names a PostgreSQL database (a "postgresql://" or
 * "postgres://" URI) rather than an SQLite file. */
bool vt_store_is_url(const char *database);

/* Open (SQLite: create) the database, apply pending schema migrations and
 * check that `master_key` is the one the database was first used with
 * (VT_E_USAGE, field "master_key", when not).  PostgreSQL: the database must
 * be reachable now (VT_E_UNAVAILABLE naming the server, never the
 * password); later outages are retried with back-off.  `settings` may be
 * NULL (defaults).  *out to vt_store_close. */
vt_status vt_store_open(const char *database, const struct vt_secret *master_key,
			const struct vt_store_settings *settings, struct vt_store **out, struct vt_err *err);
vt_status vt_store_open_sqlite(const char *path, const struct vt_secret *master_key, struct vt_store **out,
			       struct vt_err *err);
void vt_store_close(struct vt_store *s);

/* "sqlite" or "postgresql". */
const char *vt_store_backend(const struct vt_store *s);
/* Whether several brokers act as one through this store (PostgreSQL): then
 * sessions, TPM challenges and change notifications live in it too. */
bool vt_store_shared(const struct vt_store *s);
/* The database as a log-safe string (no password). */
const char *vt_store_name(const struct vt_store *s);

/* One cheap statement: VT_OK when the database answers. */
vt_status vt_store_ping(struct vt_store *s, struct vt_err *err);

/* Record `value` under meta `key` the first time; afterwards every broker
 * must present the same value (VT_E_USAGE when it differs).  Used for the
 * token-signing key's thumbprint: replicas must share the key. */
vt_status vt_store_meta_bind(struct vt_store *s, const char *key, const char *value, struct vt_err *err);

vt_status vt_store_resource_put(struct vt_store *s, const char *path, const uint8_t *data, size_t n, struct vt_err *err);
/* VT_E_NOTFOUND when absent; *out to vt_secret_free. */
vt_status vt_store_resource_get(struct vt_store *s, const char *path, struct vt_secret **out, struct vt_err *err);
vt_status vt_store_resource_delete(struct vt_store *s, const char *path, struct vt_err *err);
/* Every stored resource's path and the size of its value in bytes, in path
 * order: for the admin API's listing, never the values (not unsealed). */
vt_status vt_store_resource_list(struct vt_store *s, void (*fn)(void *ctx, const char *path, size_t size), void *ctx,
				 struct vt_err *err);

/* Policies (text) and reference values (JSON text) by id.  Every write bumps
 * the change generation in the same transaction (and, on PostgreSQL,
 * notifies the other brokers), so every broker sees it. */
vt_status vt_store_kv_put(struct vt_store *s, const char *ns, const char *key, const char *text, struct vt_err *err);
/* Every member of `values` (key -> JSON value, stored compact) in one
 * transaction: all of them or none. */
vt_status vt_store_kv_put_many(struct vt_store *s, const char *ns, const json_t *values, struct vt_err *err);
/* Add the string `item` to the JSON list stored under (ns, key) unless it is
 * there (a single string stored there becomes a list), atomically for every
 * broker sharing the store.  *list_out (may be NULL): the stored list, a new
 * reference. */
vt_status vt_store_kv_list_add(struct vt_store *s, const char *ns, const char *key, const char *item, json_t **list_out,
			       struct vt_err *err);
/* *out malloc'd; VT_E_NOTFOUND when absent. */
vt_status vt_store_kv_get(struct vt_store *s, const char *ns, const char *key, char **out, struct vt_err *err);
/* Delete (ns, key) like a write (the generation moves, other brokers
 * reload); *deleted (may be NULL): whether it was there. */
vt_status vt_store_kv_delete(struct vt_store *s, const char *ns, const char *key, bool *deleted, struct vt_err *err);
/* Call fn for every (key, text) in a namespace, in key order (bytewise). */
vt_status vt_store_kv_each(struct vt_store *s, const char *ns, void (*fn)(void *, const char *, const char *),
			   void *ctx, struct vt_err *err);
/* The change generation of kv: it grows with every kv write. */
vt_status vt_store_generation(struct vt_store *s, int64_t *out, struct vt_err *err);
/* Wait up to timeout_ms for another broker's kv change (PostgreSQL LISTEN);
 * returns early when one is announced.  SQLite just sleeps.  Called by one
 * thread at a time. */
void vt_store_wait_change(struct vt_store *s, int timeout_ms);

/* Record a single-use admin token id until `exp`.  VT_E_AUTH (field "jti")
 * when it was used before: the table is in the store, so this holds across
 * restarts and for every broker sharing the store. */
vt_status vt_store_jti_use(struct vt_store *s, const char *jti, int64_t exp, int64_t now, struct vt_err *err);

/* The release log (audit.c): a hash chain of entries with a signed head,
 * in tables audit(seq, entry, hash) and audit_head(seq, hash, jws).  The
 * store keeps the chain's shape; audit.c decides what an entry holds. */
struct vt_audit_link {
	int64_t seq;   /* 0 before the first entry */
	char hash[65]; /* lowercase hex SHA-256; 64 '0' before the first entry */
};
/* Builds the next entry on top of `prev`: the entry's canonical text and
 * hash (malloc'd *entry, hash[65]) and the signed head that names it
 * (malloc'd *head). */
typedef vt_status (*vt_store_audit_make)(void *ctx, const struct vt_audit_link *prev, char **entry, char hash[65],
					 char **head, struct vt_err *err);
/* Append one entry and replace the head in one transaction, serialised
 * among every thread and every broker sharing the database (SQLite: BEGIN
 * IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock): an entry never
 * exists without the head that covers it.  `make` runs inside the
 * transaction. */
vt_status vt_store_audit_append(struct vt_store *s, vt_store_audit_make make, void *ctx, struct vt_err *err);
/* One page of the release log, read in one snapshot (vt_audit_page_free). */
struct vt_audit_page {
	json_t *entries;        /* [{"entry": stored text, "hash": hex}], in seq order */
	char *head;             /* the signed head; NULL when the log is empty */
	int64_t head_seq;
	char *checkpoint;       /* the signed checkpoint of the last prune; NULL when never pruned */
	int64_t checkpoint_seq; /* entries up to it were pruned; 0 when never */
};
/* Entries with max(since, checkpoint_seq) < seq <= head, at most `limit`. */
vt_status vt_store_audit_read(struct vt_store *s, int64_t since, size_t limit, struct vt_audit_page *page,
			      struct vt_err *err);
void vt_audit_page_free(struct vt_audit_page *page);

/* Signs the checkpoint of a prune: the link of the last entry deleted
 * (malloc'd *jws). */
typedef vt_status (*vt_store_audit_sign)(void *ctx, const struct vt_audit_link *at, char **jws, struct vt_err *err);
/* Deletes the entries with seq <= through and stores `sign`'s checkpoint of
 * entry `through`, in one transaction under the chain's lock, committed
 * durably: the log stays checkable from through + 1, whose "prev" the
 * checkpoint signs.  VT_E_USAGE (field "through") when through is not above
 * the last checkpoint, or not below the head (the entry the head signs
 * stays).  *deleted: the rows removed. */
vt_status vt_store_audit_prune(struct vt_store *s, int64_t through, vt_store_audit_sign sign, void *ctx,
			       int64_t *deleted, struct vt_err *err);

/* A 32-byte key for one purpose (`label`), derived from the master key: the
 * same on every broker that shares it (vt_secret_free it). */
vt_status vt_store_derive_key(const struct vt_store *s, const char *label, struct vt_secret **out, struct vt_err *err);

/* VT_E_UNAVAILABLE, at once, when the database is known to be down (a
 * request that writes nothing can still fail fast, as the others do). */
vt_status vt_store_available(struct vt_store *s, struct vt_err *err);

/* ------------------------------------------------------------ sessions
 * What replicas share of an RCAR session (session_db.c): only the use of
 * its nonce.  The session itself travels in its sealed cookie; a row is
 * written once, by the /attest that uses the nonce, keyed by the hex
 * SHA-256 of the session's id (`id_hash`), never anything a client sends. */
/* Record the nonce's use: the token of a successful attestation, or NULL
 * (burnt: the attestation failed).  One INSERT … ON CONFLICT DO NOTHING,
 * so exactly one of any number of concurrent uses (on any broker) sets
 * *won; the others find the nonce used. */
vt_status vt_store_attested_put(struct vt_store *s, const char *id_hash, const char *token, int64_t expires,
				bool *won, struct vt_err *err);
/* The token of an attested, unexpired session (malloc'd), or VT_E_NOTFOUND. */
vt_status vt_store_attested_token(struct vt_store *s, const char *id_hash, int64_t now, char **token,
				  struct vt_err *err);
/* A resource as stored: sealed (data NULL: no such resource). */
struct vt_store_sealed {
	uint8_t *data;
	size_t len;
};
void vt_store_sealed_free(struct vt_store_sealed *sealed);
/* vt_store_attested_token and, in the same statement, the resource at
 * `path`, still sealed: /resource in one round trip.  The resource is
 * opened (vt_store_resource_open) only once the policy allows it. */
vt_status vt_store_attested_token_resource(struct vt_store *s, const char *id_hash, int64_t now, const char *path,
					   char **token, struct vt_store_sealed *resource, struct vt_err *err);
/* Open a sealed resource read for `path`: as vt_store_resource_get. */
vt_status vt_store_resource_open(struct vt_store *s, const char *path, const struct vt_store_sealed *sealed,
				 struct vt_secret **out, struct vt_err *err);
/* Attested, unexpired sessions (for the sessions gauge). */
vt_status vt_store_attested_count(struct vt_store *s, int64_t now, int64_t *count, struct vt_err *err);
/* Delete the rows of sessions that expired before `before`. */
vt_status vt_store_attested_sweep(struct vt_store *s, int64_t before, struct vt_err *err);

/* ------------------------------------------------- TPM enrollment challenges
 * Pending TPM credential-activation challenges (tpm_enroll.c): the secret
 * sealed like a resource, taken out exactly once by any broker. */
/* Purge expired ones, refuse (VT_E_LIMIT) when `max` are pending, insert. */
vt_status vt_store_challenge_put(struct vt_store *s, const char *id, const char *ak_digest,
				 const struct vt_secret *secret, int64_t expires, int64_t now, size_t max,
				 struct vt_err *err);
/* Delete and return it (VT_E_NOTFOUND when absent); ak_digest[65];
 * *secret to vt_secret_free. */
vt_status vt_store_challenge_take(struct vt_store *s, const char *id, char ak_digest[65], struct vt_secret **secret,
				  int64_t *expires, struct vt_err *err);

/* Load the master key from a 0600 file, creating it (32 random bytes) if
 * absent.  Refuses a file readable by group or others. */
vt_status vt_master_key_load(const char *path, struct vt_secret **out, struct vt_err *err);

#endif
