/*
 * veritee/crypto.h — thin wrappers over OpenSSL 3.  No primitive is
 * implemented here; these only convert formats and report errors.
 *
 * Keys are OpenSSL EVP_PKEY objects; functions returning one hand the caller
 * a reference to free with EVP_PKEY_free.
 */
#ifndef VERITEE_CRYPTO_H
#define VERITEE_CRYPTO_H

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

/*
 * The public half of `key` as a new provider key (EVP_PKEY_free), or NULL.
 * For keys whose parameters cannot be queried: a private key in an HSM,
 * opened through an OpenSSL engine (the broker's PKCS#11 keys), answers
 * signing but no EVP_PKEY_get_*_param; the helpers here fall back to this.
 */
VT_API EVP_PKEY *vt_key_public_copy(const EVP_PKEY *key);

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
 * The caches of a verifier (vt_verifier_caches in veritee/verifier.h):
 * opaque here.  Functions taking one cache their successes in it; NULL
 * means no caching (the same results, computed every time).
 */
struct vt_cache_set;

/*
 * Strict DER certificate (no trailing bytes), with parsed certificates
 * remembered in `caches` by the SHA-256 of the DER: a TEE sends the same
 * platform certificate with every report, and OpenSSL 3 spends more time
 * setting up its key decoder than hashing the bytes.  *out is a new
 * reference (X509_free).  Errors are VT_E_PARSE naming `field`.  Thread-safe.
 */
VT_API VT_MUST_USE vt_status vt_x509_from_der_cached(struct vt_cache_set *caches, const uint8_t *der, size_t der_size,
						     const char *field, X509 **out, struct vt_err *err);

/*
 * Like vt_x509_verify_chain without intermediates, with successful
 * verifications remembered in `caches`: a (leaf, root) pair seen before
 * costs no signature check.  Entries are keyed by the SHA-256 of both DER
 * encodings and hold the window in which both certificates are valid; a hit
 * counts only when `now` is inside that window (otherwise the chain is
 * verified again).  Failures are never cached.  Thread-safe.
 */
VT_API VT_MUST_USE vt_status vt_x509_verify_chain_cached(struct vt_cache_set *caches, X509 *leaf, X509 *root,
							 int64_t now, struct vt_err *err);

/* SHA-256 fetched once (OpenSSL 3 looks EVP_sha256() up again on every use). */
VT_API const EVP_MD *vt_md_sha256(void);

/* The notBefore/notAfter window of a certificate as seconds; false when unreadable. */
VT_API bool vt_x509_window(X509 *cert, int64_t *not_before, int64_t *not_after);
/* Intersect [*nb, *na] with the certificate's window; false when unreadable. */
VT_API bool vt_x509_window_narrow(X509 *cert, int64_t *nb, int64_t *na);

/* SHA-256 of n bytes. */
VT_API VT_MUST_USE vt_status vt_sha256(const void *p, size_t n, uint8_t out[32], struct vt_err *err);
/* The same as lowercase hex in out[65]. */
VT_API VT_MUST_USE vt_status vt_sha256_hex(const void *p, size_t n, char out[65], struct vt_err *err);

#endif
