/*
 * veritee/kbs.h — pieces of the KBS protocol (version 0.4.0) shared by the
 * broker and the client.  See ../shared/docs/kbs-protocol.md.
 */
#ifndef VERITEE_KBS_H
#define VERITEE_KBS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"

#define VT_KBS_VERSION "0.4.0"
#define VT_KBS_PREFIX "/kbs/v0"
#define VT_KBS_COOKIE "kbs-session-id"
#define VT_KBS_ERROR_BASE "https://github.com/confidential-containers/kbs/errors/"

/*
 * The runtime-data binding (§5.1): SHA-384 of the JCS form of
 *   {"additional-evidence": <additional>, "nonce": <nonce>, "tee-pubkey": <jwk>}
 * *runtime_out (optional) receives the object (new reference); `out` gets
 * the 48-byte digest.
 */
VT_API VT_MUST_USE vt_status vt_kbs_runtime_digest(const json_t *tee_pubkey, const char *nonce, const char *additional,
						   json_t **runtime_out, uint8_t out[48], struct vt_err *err);

/*
 * Structural check of a TEE's public key (runtime-data.tee-pubkey) before
 * anything costly is done with it: at most VT_KBS_MAX_TEE_PUBKEY bytes as
 * compact JSON, only the JWK members of a public key, and either
 *   kty EC, alg ECDH-ES+A256KW, crv P-256/P-384/P-521, x/y of the curve's size, or
 *   kty RSA, alg RSA-OAEP-256, n of 2048..4096 bits, e of at most 4 bytes
 * (Trustee's guests use RSA <= 4096 and EC P-256/P-384).  No key is
 * imported: the caller imports it only after the evidence verified.
 */
#define VT_KBS_MAX_TEE_PUBKEY 2048
VT_API VT_MUST_USE vt_status vt_kbs_check_tee_pubkey(const json_t *jwk, struct vt_err *err);

/* A resource path "repo/type/tag": exactly three segments, each matching
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* and at most 128 bytes.  Rejects "..", empty
 * segments, and any other byte. */
VT_API bool vt_kbs_resource_path_valid(const char *path);

#endif
