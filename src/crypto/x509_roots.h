/*
 * crypto/x509_roots.h — a roots file or directory as chain building wants
 * it (private to the library).
 *
 * Operators give one path (ek_roots, tpm_ek_roots, gce_roots) holding CA
 * certificates: the self-signed ones are the trust anchors, the others are
 * intermediates a chain may go through but not end at.  Loaded once
 * (vt_x509_roots_load), verified against many times (vt_x509_roots_verify,
 * which only reads the set, so several threads may share one).
 */
#ifndef VT_CRYPTO_X509_ROOTS_H
#define VT_CRYPTO_X509_ROOTS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "veritee/err.h"

struct vt_x509_roots;

/* Every certificate under `path` (vt_x509_load_all: its errors name
 * `field`), split into anchors and intermediates.  A set without an anchor
 * is returned: the caller says what that means for it (a configuration
 * error, or evidence that cannot be trusted). */
VT_MUST_USE vt_status vt_x509_roots_load(const char *path, const char *field, struct vt_x509_roots **out,
					 struct vt_err *err);
void vt_x509_roots_free(struct vt_x509_roots *r);
size_t vt_x509_roots_anchors(const struct vt_x509_roots *r);

/* `leaf` chains to an anchor of `r` at `now`, in at most `depth`
 * certificates above it, through r's intermediates and `extra` (untrusted,
 * e.g. the evidence's own; may be NULL).  `cb` is an OpenSSL verify
 * callback or NULL.  A refusal is VT_E_REJECTED at step chain naming
 * `field`: "<what> does not chain to <to>: <OpenSSL's reason> (depth N)". */
VT_MUST_USE vt_status vt_x509_roots_verify(const struct vt_x509_roots *r, X509 *leaf, STACK_OF(X509) *extra,
					   int64_t now, int depth, X509_STORE_CTX_verify_cb cb, const char *field,
					   const char *what, const char *to, struct vt_err *err);

#endif
