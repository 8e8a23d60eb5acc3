/*
 * veritee/kbs.h — pieces of the KBS protocol (version 0.4.0) shared by the
 * broker and the client.  See ../shared/docs/kbs-protocol.md.
 */
#ifndef VERITEE_KBS_H
#define VERITEE_KBS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"

#define VT_KBS_VERSION "0.4.0"
#define VT_KBS_PREFIX "/kbs/v0"
#define VT_KBS_COOKIE "kbs-session-id"
/* The longest session cookie value a client keeps (a veritee broker on SQLite
 * sends 32 hex digits, replicas ~190 characters, Trustee a UUID); a longer one is refused, not cut. */
#define VT_KBS_COOKIE_MAX 1024
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
 * Hash algorithms of the protocol (kbs-types HashAlgorithm, lowercase
 * names): "sha256", "sha384", "sha512" -> the digest; "sm3" and anything
 * else -> NULL (sm3 is a valid name veritee does not implement).
 */
VT_API const EVP_MD *vt_kbs_hash_md(const char *name);
/* A name the protocol defines ("sha256", "sha384", "sha512", "sm3"). */
VT_API bool vt_kbs_hash_known(const char *name);

/*
 * The same bindings with the session's hash algorithm (§5.1, §14): the
 * primary runtime data {"additional-evidence","nonce","tee-pubkey"} and the
 * device runtime data {"nonce","tee-pubkey"} (additional == NULL).  `out`
 * receives EVP_MD_get_size(md) bytes (at most 64), *out_size their number.
 */
VT_API VT_MUST_USE vt_status vt_kbs_runtime_digest_md(const EVP_MD *md, const json_t *tee_pubkey, const char *nonce,
						      const char *additional, json_t **runtime_out, uint8_t out[64],
						      size_t *out_size, struct vt_err *err);

/*
 * init-data (§5.4): {"format": "toml", "body": "<TOML>"}.  Checks the
 * format, parses the TOML (version, algorithm, [data] string map), hashes
 * the exact body bytes with the algorithm it names, and builds the
 * init_data_claims: the [data] map, with "aa.toml" and "cdh.toml" turned
 * into JSON and "policy.rego" giving agent_policy_claims (the JSON object
 * after `policy_data := `).  Errors at VT_STEP_PARSE name the member.
 */
#define VT_TOML_MAX (256 * 1024)
struct vt_kbs_init_data {
	uint8_t digest[64];
	size_t digest_size;
	char algorithm[8];
	json_t *claims;        /* init_data_claims (new reference) */
	json_t *agent_policy;  /* agent_policy_claims or NULL (new reference) */
};
VT_API VT_MUST_USE vt_status vt_kbs_init_data_parse(const json_t *init_data, struct vt_kbs_init_data *out,
						    struct vt_err *err);
VT_API void vt_kbs_init_data_free(struct vt_kbs_init_data *d);

/* The TOML subset init-data uses (src/kbs/toml.c lists what is refused). */
VT_API VT_MUST_USE vt_status vt_toml_parse(const char *text, size_t len, json_t **out, struct vt_err *err);

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
