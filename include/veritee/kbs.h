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

/* A resource path "repo/type/tag": exactly three segments, each matching
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* and at most 128 bytes.  Rejects "..", empty
 * segments, and any other byte. */
VT_API bool vt_kbs_resource_path_valid(const char *path);

#endif
