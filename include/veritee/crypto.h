/*
 * veritee/crypto.h — thin wrappers over OpenSSL 3.  No primitive is
 * implemented here; these only convert formats and report errors.
 *
 * Keys are OpenSSL EVP_PKEY objects; functions returning one hand the caller
 * a reference to free with EVP_PKEY_free.
 */
#ifndef VERITEE_CRYPTO_H
#define VERITEE_CRYPTO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "veritee/err.h"

/* Key types for vt_key_generate. */
typedef enum vt_key_type {
	VT_KEY_P256,
	VT_KEY_P384,
	VT_KEY_P521,
	VT_KEY_ED25519,
	VT_KEY_RSA2048,
	VT_KEY_RSA3072,
} vt_key_type;

VT_API VT_MUST_USE vt_status vt_key_generate(vt_key_type type, EVP_PKEY **out, struct vt_err *err);

/* PEM in memory or in a file; `priv` selects private (PKCS#8 or traditional)
 * versus public (SubjectPublicKeyInfo) keys. */
VT_API VT_MUST_USE vt_status vt_key_from_pem(const char *pem, size_t len, bool priv, EVP_PKEY **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_key_load_pem(const char *path, bool priv, EVP_PKEY **out, struct vt_err *err);
/* Write PEM atomically with `mode` (use 0600 for private keys). */
VT_API VT_MUST_USE vt_status vt_key_save_pem(const char *path, EVP_PKEY *key, bool priv, unsigned mode, struct vt_err *err);
/* Public key as PEM (SPKI), malloc'd NUL-terminated string. */
VT_API char *vt_key_public_pem(EVP_PKEY *key);

/* Curve size in bytes of one coordinate (32, 48, 66) or 0 if not an EC key. */
VT_API size_t vt_ec_coord_size(const EVP_PKEY *key);

/*
 * ECDSA with raw signatures: r || s, each big-endian, left-padded to the
 * curve's coordinate size (the JOSE and most hardware layout).  `md` is e.g.
 * EVP_sha256() / EVP_sha384().  sign: *sig_size in = capacity, out = length.
 * verify: VT_E_REJECTED (step signature) when the signature is wrong.
 * Signatures made here are low-S (s <= n/2), so they are not malleable;
 * verify accepts both forms, as ECDSA does (use vt_ecdsa_raw_low_s to be
 * strict about signatures this library made).
 */
VT_API VT_MUST_USE vt_status vt_ecdsa_sign_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_size,
					       uint8_t *sig, size_t *sig_size, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t msg_size,
						 const uint8_t *sig, size_t sig_size, struct vt_err *err);

/* Whether a raw r || s signature for `key`'s curve has s <= n/2. */
VT_API bool vt_ecdsa_raw_low_s(const EVP_PKEY *key, const uint8_t *sig, size_t sig_size);

/* Digest into out (at least EVP_MAX_MD_SIZE); *out_size = digest length. */
VT_API VT_MUST_USE vt_status vt_digest(const EVP_MD *md, const void *msg, size_t msg_size, uint8_t *out,
				       size_t *out_size, struct vt_err *err);

/* Random bytes from the OS CSPRNG (RAND_bytes). */
VT_API VT_MUST_USE vt_status vt_random(void *out, size_t n, struct vt_err *err);

/* X.509: PEM or DER certificate from memory/file.  *out to free with X509_free. */
VT_API VT_MUST_USE vt_status vt_x509_from_bytes(const uint8_t *p, size_t n, X509 **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_x509_load(const char *path, X509 **out, struct vt_err *err);
/*
 * Every certificate under `path`: a file (a PEM bundle or one DER
 * certificate) or a directory, whose regular files are read the same way
 * (dot files and files that hold no certificate are skipped).  Caps: 4 MiB
 * per file, 1,000 files, 1,000 certificates.  Appended to `out` (the caller
 * owns it).  Errors are VT_E_USAGE, step config, naming `field` — also when
 * nothing was found.
 */
VT_API VT_MUST_USE vt_status vt_x509_load_all(const char *path, const char *field, STACK_OF(X509) *out,
					      struct vt_err *err);
/* SHA-256 of the DER encoding. */
VT_API VT_MUST_USE vt_status vt_x509_fingerprint_sha256(X509 *cert, uint8_t out[32], struct vt_err *err);
/*
 * Verify `leaf` (with optional untrusted intermediates) up to exactly the
 * given trusted root, at time `now` (seconds since the epoch).  Failures are
 * VT_E_REJECTED, step chain, with OpenSSL's reason in the detail.
 */
VT_API VT_MUST_USE vt_status vt_x509_verify_chain(X509 *leaf, STACK_OF(X509) *intermediates, X509 *root, int64_t now,
						  struct vt_err *err);

/*
 * Strict DER certificate (no trailing bytes) with a process-wide cache of
 * parsed certificates keyed by the SHA-256 of the DER: a TEE sends the same
 * platform certificate with every report, and OpenSSL 3 spends more time
 * setting up its key decoder than hashing the bytes.  *out is a new
 * reference (X509_free).  Errors are VT_E_PARSE naming `field`.  Thread-safe.
 */
VT_API VT_MUST_USE vt_status vt_x509_from_der_cached(const uint8_t *der, size_t der_size, const char *field, X509 **out,
						     struct vt_err *err);

/*
 * Like vt_x509_verify_chain without intermediates, with a process-wide
 * cache of successful verifications: a (leaf, root) pair seen before costs
 * no signature check.  Entries are keyed by the SHA-256 of both DER
 * encodings and hold the window in which both certificates are valid; a hit
 * counts only when `now` is inside that window (otherwise the chain is
 * verified again).  Failures are never cached.  Thread-safe.
 */
VT_API VT_MUST_USE vt_status vt_x509_verify_chain_cached(X509 *leaf, X509 *root, int64_t now, struct vt_err *err);

/*
 * Content-keyed caches for verifiers: process-wide, bounded (round-robin
 * eviction), thread-safe (one mutex per cache).  A key is the SHA-256 of a
 * domain string and every input that decides the cached result
 * (vt_cache_key); an entry counts only while `now` lies in its
 * [not_before, not_after] window (use VT_CACHE_ALWAYS for results that do
 * not depend on time, such as a parse).  Callers put only successes.
 *
 * `obj` is an optional shared object: `ref` returns a new reference to it
 * for a caller (e.g. X509_up_ref), `release` drops one; entries without an
 * object are flags ("this check passed").  vt_cache_get hands the caller a
 * new reference (*obj_out) on a hit; vt_cache_put takes its own reference
 * (the caller keeps theirs).  Define an instance with VT_CACHE_DEFINE.
 */
struct vt_cache_slot {
	uint8_t key[32];
	int64_t not_before, not_after;
	void *obj;
	bool used;
};

struct vt_cache {
	const char *name;
	pthread_mutex_t lock;
	size_t capacity, next;
	struct vt_cache_slot *slots;
	void (*ref)(void *obj);
	void (*release)(void *obj);
	uint64_t hits, misses;
	struct vt_cache *registered_next;
	atomic_bool registered;
};

#define VT_CACHE_ALWAYS_FROM INT64_MIN
#define VT_CACHE_ALWAYS_TO INT64_MAX

#define VT_CACHE_DEFINE(var, label, n, ref_fn, release_fn)                                                   \
	static struct vt_cache_slot var##_slots[n];                                                            \
	static struct vt_cache var = {.name = (label),                                                         \
				      .lock = PTHREAD_MUTEX_INITIALIZER,                                       \
				      .capacity = (n),                                                         \
				      .slots = var##_slots,                                                    \
				      .ref = (ref_fn),                                                         \
				      .release = (release_fn)}

/* SHA-256 fetched once (OpenSSL 3 looks EVP_sha256() up again on every use). */
VT_API const EVP_MD *vt_md_sha256(void);

/* SHA-256 over `domain` (with its NUL) and each part as (64-bit length, bytes). */
VT_API VT_MUST_USE vt_status vt_cache_key(uint8_t out[32], const char *domain, size_t nparts,
					  const void *const *parts, const size_t *sizes, struct vt_err *err);
/* true on a hit valid at `now`; *obj_out (may be NULL) gets a new reference. */
VT_API bool vt_cache_get(struct vt_cache *c, const uint8_t key[32], int64_t now, void **obj_out);
/* Remember a success valid in [not_before, not_after] (replaces an entry with the same key). */
VT_API void vt_cache_put(struct vt_cache *c, const uint8_t key[32], int64_t not_before, int64_t not_after,
			 void *obj);
/* The notBefore/notAfter window of a certificate as seconds; false when unreadable. */
VT_API bool vt_x509_window(X509 *cert, int64_t *not_before, int64_t *not_after);
/* Intersect [*nb, *na] with the certificate's window; false when unreadable. */
VT_API bool vt_x509_window_narrow(X509 *cert, int64_t *nb, int64_t *na);

/* SHA-256 of n bytes. */
VT_API VT_MUST_USE vt_status vt_sha256(const void *p, size_t n, uint8_t out[32], struct vt_err *err);

/*
 * Operator configuration files (certs_path, collateral_path) read through a
 * stat-keyed cache (src/crypto/filecache.c): a hit needs the same path and an
 * unchanged (st_dev, st_ino, st_size, st_mtim, st_ctim), and entries are only
 * stored for files whose timestamps had settled (VT_FILE_CACHE_SETTLE_S old)
 * before the read, so a rewrite, a rename over the file or a new directory
 * entry is always read again.  Not for evidence or other attacker input.
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
VT_API VT_MUST_USE vt_status vt_file_read_cached(const char *path, size_t max, unsigned flags, const uint8_t **bytes,
						 size_t *size, uint8_t sha256[32], void **handle, struct vt_err *err);
VT_API void vt_file_cache_release(void *handle);
VT_API VT_MUST_USE vt_status vt_dir_list_cached(const char *path, size_t max_entries, const char *const **names,
						size_t *count, void **handle, struct vt_err *err);
VT_API void vt_dir_list_release(void *handle);
VT_API void vt_file_cache_stats(uint64_t *hits, uint64_t *misses, uint64_t *dir_hits, uint64_t *dir_misses);
/* For tests: the settling time in ms (default VT_FILE_CACHE_SETTLE_S s; at least 50 ms). */
VT_API void vt_file_cache_set_settle_ms(unsigned ms);
/* Forget every cached file and listing (also done by vt_caches_clear). */
VT_API void vt_file_cache_clear(void);

/* For tests and diagnostics: hits/misses of the cache named `name` (false when
 * it has not been used yet), and emptying every cache. */
VT_API bool vt_cache_stats(const char *name, uint64_t *hits, uint64_t *misses);
VT_API void vt_caches_clear(void);

#endif
