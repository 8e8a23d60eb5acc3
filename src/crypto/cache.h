/*
 * crypto/cache.h — the caches of one verifier (private to the library).
 *
 * A struct vt_cache_set belongs to one verifier (vt_verifier_new creates it,
 * vt_verifier_free frees it; vt_verifier_caches hands it out).  It holds:
 *
 *  - content-keyed caches, one per class (struct vt_cache_class: a static
 *    descriptor with a name, a capacity and how to share the cached
 *    object), created on first use under the set's lock and then found by
 *    the class pointer without a lock;
 *  - the stat-keyed caches of operator configuration files and directory
 *    listings (vt_file_read_cached, vt_dir_list_cached; src/crypto/filecache.c).
 *
 * Nothing here is process-global: two verifiers never share an entry, and
 * a test builds a fresh verifier instead of clearing anything.  A NULL set
 * (no verifier: lower-level callers, tests building a vt_verify_ctx by
 * hand) means no caching at all: vt_cache_of gives NULL, vt_cache_get on a
 * NULL cache is a miss, vt_cache_put a no-op, and the file functions read
 * every time.
 *
 * Thread-safety: the set's lock only guards the creation of a class's
 * cache; each cache has its own lock for get/put (the broker verifies from
 * several threads with one verifier).
 */
#ifndef VT_CRYPTO_CACHE_H
#define VT_CRYPTO_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veritee/err.h"

struct vt_cache_set;
struct vt_cache;

/*
 * A kind of cached result; define one `static const` per use site.  `obj`
 * in an entry is an optional shared object: `ref` returns a new reference
 * to it for a caller (e.g. X509_up_ref), `release` drops one (both NULL
 * for flag entries: "this check passed").
 */
struct vt_cache_class {
	const char *name;  /* unique, e.g. "snp.chain": vt_cache_set_stats reads it */
	size_t capacity;   /* slots (round-robin eviction), at least 1 */
	void (*ref)(void *obj);
	void (*release)(void *obj);
};

#define VT_CACHE_ALWAYS_FROM INT64_MIN
#define VT_CACHE_ALWAYS_TO INT64_MAX

/* A new, empty set; NULL when out of memory. */
struct vt_cache_set *vt_cache_set_new(void);
/* Release every entry and the set (NULL ok).  No other thread may use it. */
void vt_cache_set_free(struct vt_cache_set *set);

/*
 * The cache of class `cls` in `set`, created empty on first use; NULL when
 * set is NULL (no caching), out of memory, or the set already holds its
 * maximum number of classes.  Lookups compare class pointers, lock-free.
 */
struct vt_cache *vt_cache_of(struct vt_cache_set *set, const struct vt_cache_class *cls);

/*
 * Keys and entries: a key is the SHA-256 of a domain string and every
 * input that decides the cached result (vt_cache_key); an entry counts only
 * while `now` lies in its [not_before, not_after] window (VT_CACHE_ALWAYS_*
 * for results that do not depend on time, such as a parse).  Callers put
 * only successes.
 */
/* SHA-256 over `domain` (with its NUL) and each part as (64-bit length, bytes). */
VT_MUST_USE vt_status vt_cache_key(uint8_t out[32], const char *domain, size_t nparts, const void *const *parts,
				   const size_t *sizes, struct vt_err *err);
/* true on a hit valid at `now`; *obj_out (may be NULL) gets a new reference.  c == NULL: a miss. */
bool vt_cache_get(struct vt_cache *c, const uint8_t key[32], int64_t now, void **obj_out);
/* Remember a success valid in [not_before, not_after] (replaces an entry with
 * the same key); the cache takes its own reference to `obj`.  c == NULL: nothing. */
void vt_cache_put(struct vt_cache *c, const uint8_t key[32], int64_t not_before, int64_t not_after, void *obj);

/*
 * For tests and benchmarks: the hits and misses of the cache named `name`
 * in `set` (false when that class has not been used in it yet).  The
 * stat-keyed caches answer as "file" and "dir".
 */
bool vt_cache_set_stats(struct vt_cache_set *set, const char *name, uint64_t *hits, uint64_t *misses);

/*
 * Operator configuration files (certs_path, collateral_path) read through
 * the set's stat-keyed cache (src/crypto/filecache.c): a hit needs the same
 * path and an unchanged (st_dev, st_ino, st_size, st_mtim, st_ctim), and
 * entries are only stored for files whose timestamps had settled
 * (VT_FILE_CACHE_SETTLE_S old) before the read, so a rewrite, a rename over
 * the file or a new directory entry is always read again.  Not for evidence
 * or other attacker input.  set == NULL: read every time (same results).
 *
 * vt_file_read_cached: the bytes (NUL-terminated, at most `max`, else
 * vt_file_read's errors) and their SHA-256, valid until
 * vt_file_cache_release(*handle).  Files that are not regular (pipes,
 * devices) are read without caching; with VT_FILE_REGULAR_ONLY they give
 * VT_E_NOTFOUND instead (also when the path cannot be stat'ed).
 * vt_dir_list_cached: the sorted "path/name" of every entry not starting with
 * '.', keyed by the directory's own stat; VT_E_LIMIT above max_entries;
 * release with vt_dir_list_release.  Both thread-safe and bounded.
 */
#define VT_FILE_CACHE_SETTLE_S 2
#define VT_FILE_REGULAR_ONLY 1u
VT_MUST_USE vt_status vt_file_read_cached(struct vt_cache_set *set, const char *path, size_t max, unsigned flags,
					  const uint8_t **bytes, size_t *size, uint8_t sha256[32], void **handle,
					  struct vt_err *err);
void vt_file_cache_release(void *handle);
VT_MUST_USE vt_status vt_dir_list_cached(struct vt_cache_set *set, const char *path, size_t max_entries,
					 const char *const **names, size_t *count, void **handle, struct vt_err *err);
void vt_dir_list_release(void *handle);
/* For tests: the settling time of `set`'s file cache in ms (default
 * VT_FILE_CACHE_SETTLE_S s; at least 50 ms). */
void vt_cache_set_file_settle_ms(struct vt_cache_set *set, unsigned ms);

/* ---- between cache.c and filecache.c only */
struct vt_file_cache;
struct vt_file_cache *vt_file_cache_new(void);
void vt_file_cache_free(struct vt_file_cache *fc);
struct vt_file_cache *vt_cache_set_files(struct vt_cache_set *set);
bool vt_file_cache_stats(struct vt_file_cache *fc, const char *name, uint64_t *hits, uint64_t *misses);

#endif
