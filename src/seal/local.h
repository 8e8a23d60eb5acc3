/* Sealed files, local key sources: what local.c, local_tpm.c and
 * local_snp.c share (private to src/seal and its tests). */
#ifndef VT_SEAL_LOCAL_H
#define VT_SEAL_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "veritee/seal.h"

/*
 * HKDF-SHA-256 (RFC 5869, OpenSSL's EVP_KDF "HKDF", extract and expand)
 * of `ikm` with `salt` and `info` into a new VT_SEAL_KEY_SIZE secret
 * (*out, vt_secret_free).  VT_E_CRYPTO when OpenSSL fails.
 */
VT_MUST_USE vt_status vt_seal_hkdf(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt, size_t salt_size,
				   const uint8_t *info, size_t info_size, struct vt_secret **out, struct vt_err *err);

/*
 * One kind each.  seal: `h` is complete but for the entry's commitment and
 * the blob; fill h->local_blob / h->local_blob_size and *key_out.  unseal:
 * recover the key the header's blob names (the commitment is checked by the
 * caller, which then calls *_mismatch for the kind's message).
 */
VT_MUST_USE vt_status vt_seal_tpm_seal(const struct vt_seal_local_opts *o, struct vt_seal_header *h,
				       struct vt_secret **key_out, struct vt_err *err);
VT_MUST_USE vt_status vt_seal_tpm_unseal(const struct vt_seal_header *h, const struct vt_seal_local_opts *o,
					 struct vt_secret **key_out, struct vt_err *err);
VT_MUST_USE vt_status vt_seal_snp_seal(const struct vt_seal_local_opts *o, struct vt_seal_header *h,
				       struct vt_secret **key_out, struct vt_err *err);
VT_MUST_USE vt_status vt_seal_snp_unseal(const struct vt_seal_header *h, const struct vt_seal_local_opts *o,
					 struct vt_secret **key_out, struct vt_err *err);
/* Parse a local:tpm blob and check its object (a sealed-data object whose
 * policy is PolicyPCR over the values it records) without a TPM: what
 * unseal does before it talks to one.  Exposed for the fuzz target. */
VT_MUST_USE vt_status vt_seal_tpm_blob_check(const uint8_t *blob, size_t size, struct vt_err *err);
/* The refusal when the key a TEE gave does not match the commitment. */
vt_status vt_seal_snp_mismatch(const struct vt_seal_header *h, struct vt_err *err);

#endif
