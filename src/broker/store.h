/* Broker storage: one small interface (SQLite now; PostgreSQL later).
 * Resources are sealed with AES-256-GCM under the master key before they
 * reach the backend; the AAD is the resource path, so a ciphertext cannot be
 * moved to another path. */
#ifndef VT_BROKER_STORE_H
#define VT_BROKER_STORE_H

#include <jansson.h>

#include "veritee/err.h"
#include "veritee/util.h"

struct vt_store;

vt_status vt_store_open_sqlite(const char *path, const struct vt_secret *master_key, struct vt_store **out,
			       struct vt_err *err);
void vt_store_close(struct vt_store *s);

vt_status vt_store_resource_put(struct vt_store *s, const char *path, const uint8_t *data, size_t n, struct vt_err *err);
/* VT_E_NOTFOUND when absent; *out to vt_secret_free. */
vt_status vt_store_resource_get(struct vt_store *s, const char *path, struct vt_secret **out, struct vt_err *err);
vt_status vt_store_resource_delete(struct vt_store *s, const char *path, struct vt_err *err);

/* Policies (text) and reference values (JSON text) by id. *out malloc'd. */
vt_status vt_store_kv_put(struct vt_store *s, const char *ns, const char *key, const char *text, struct vt_err *err);
/* Every member of `values` (key -> JSON value, stored compact) in one
 * transaction: all of them or none. */
vt_status vt_store_kv_put_many(struct vt_store *s, const char *ns, const json_t *values, struct vt_err *err);
/* Record a single-use admin token id until `exp`.  VT_E_AUTH (field "jti")
 * when it was used before: the table is in the store, so this holds across
 * restarts and for every broker sharing the store. */
vt_status vt_store_jti_use(struct vt_store *s, const char *jti, int64_t exp, int64_t now, struct vt_err *err);
vt_status vt_store_kv_get(struct vt_store *s, const char *ns, const char *key, char **out, struct vt_err *err);
/* Call fn for every (key, text) in a namespace. */
vt_status vt_store_kv_each(struct vt_store *s, const char *ns, void (*fn)(void *, const char *, const char *),
			   void *ctx, struct vt_err *err);

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
/* Append one entry and replace the head in one transaction (BEGIN
 * IMMEDIATE under the store lock): appends are serialised, in this process
 * and among processes sharing the database, and an entry never exists
 * without the head that covers it.  `make` runs inside the transaction. */
vt_status vt_store_audit_append(struct vt_store *s, vt_store_audit_make make, void *ctx, struct vt_err *err);
/* One consistent snapshot: entries with since < seq <= head, at most
 * `limit`, in seq order, as stored text with their hashes ([{"entry":
 * text, "hash": hex}] in *entries, a new array); *head the signed head
 * (malloc'd, NULL when the log is empty) and *head_seq its seq. */
vt_status vt_store_audit_read(struct vt_store *s, int64_t since, size_t limit, json_t **entries, char **head,
			      int64_t *head_seq, struct vt_err *err);

/* Load the master key from a 0600 file, creating it (32 random bytes) if
 * absent.  Refuses a file readable by group or others. */
vt_status vt_master_key_load(const char *path, struct vt_secret **out, struct vt_err *err);

#endif
