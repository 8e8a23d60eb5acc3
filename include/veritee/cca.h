/*
 * veritee/cca.h — Arm CCA attestation tokens (RMM specification 1.0 §A.7,
 * draft-ffm-rats-cca-token): verification, CPAK loading, and the `cca` TEE.
 *
 * Token layout (everything is CBOR, read with libcbor under the limits of
 * veritee/cose.h: definite lengths only, bounded depth and item counts, no
 * duplicate map keys, no trailing bytes):
 *
 *   399({ 44234: bstr .cbor COSE_Sign1_Tagged   ; platform token, signed by the CPAK
 *         44241: bstr .cbor COSE_Sign1_Tagged }) ; realm token, signed by the RAK
 *
 *   realm claims (payload of the realm token), all mandatory but the profile:
 *     10     challenge                bstr .size 64   (carries the KBS binding)
 *     265    profile                  "tag:arm.com,2023:realm#1.0.0" (draft FFM) or absent (legacy)
 *     44235  personalization value    bstr .size 64
 *     44236  measurement hash algo    "sha-256" / "sha-384" / "sha-512"
 *     44237  RAK public key           bstr: legacy = the 97-byte uncompressed P-384 point,
 *                                     profile present = a COSE_Key (EC2, P-256/384/521)
 *     44238  initial measurement      bstr .size (32 / 48 / 64)
 *     44239  extensible measurements  [4 * bstr .size (32 / 48 / 64)]
 *     44240  RAK hash algo            "sha-256" / "sha-384" / "sha-512"
 *
 *   platform claims (payload of the platform token), all mandatory but 2400:
 *     265    profile                  "http://arm.com/CCA-SSD/1.0.0" (legacy) or
 *                                     "tag:arm.com,2023:cca_platform#1.0.0" (draft FFM;
 *                                     then the realm token must carry its profile too)
 *     10     challenge                bstr .size (32 / 48 / 64) = hash(RAK claim bytes)
 *     2396   implementation id        bstr .size 32
 *     256    instance id              bstr .size 33, first byte 0x01 (UEID RAND)
 *     2401   config                   bstr (at most VT_CCA_MAX_CONFIG bytes)
 *     2395   security lifecycle       uint in 0x0000-0x00ff, 0x1000-0x10ff, ..., 0x6000-0x60ff
 *     2399   software components      [* {? 1: text type, 2: bstr .size (32/48/64) value,
 *                                          ? 4: text version, 5: bstr signer id,
 *                                          ? 6: text hash algo}]  (no other keys)
 *     2400   verification service     text
 *     2402   hash algo                "sha-256" / "sha-384" / "sha-512"
 *   Unknown claims (integer or text keys) are ignored in both claim sets.
 *
 * Verification steps, in order (the first failure is reported):
 *   parse      the whole token: collection, both COSE_Sign1 (tag 18
 *              required), both claim sets, the RAK (on its curve);
 *              field e.g. "platform.sw_components[3].measurement_value"
 *   signature  field "platform": the platform token with the CPAK;
 *              field "realm": the realm token with the RAK of claim 44237
 *   binding    field "platform.challenge": the platform challenge must be
 *              hash(RAK claim bytes exactly as encoded) with the algorithm
 *              of claim 44240 (the RAK is attested by the platform);
 *              field "realm.challenge": the realm challenge must be the
 *              caller's binding zero-padded to 64 bytes (Trustee's CCA
 *              verifier: regularize_data(report_data, 64), then compare
 *              with the realm challenge)
 *
 * Claims (new reference), named and encoded as Trustee's CCA verifier
 * (deps/verifier/src/cca) names them: byte values as standard base64,
 * report_data and init_data as hex.  veritee adds the remaining claims with
 * the names Veraison's ccatoken gives them, and the lifecycle state name:
 *   {"realm": {"cca-realm-challenge", "cca-realm-personalization-value",
 *              "cca-realm-initial-measurement", "cca-realm-extensible-measurements": [4],
 *              "cca-realm-hash-algo-id", "cca-realm-public-key",
 *              "cca-realm-public-key-hash-algo-id", "cca-realm-profile"?},
 *    "platform": {"cca-platform-profile", "cca-platform-challenge",
 *              "cca-platform-implementation-id", "cca-platform-instance-id",
 *              "cca-platform-config", "cca-platform-lifecycle": int,
 *              "cca-platform-lifecycle-state": "secured" | "unknown" | "assembly-and-test" |
 *                  "cca-platform-rot-provisioning" | "non-cca-platform-rot-debug" |
 *                  "recoverable-cca-platform-rot-debug" | "decommissioned",
 *              "cca-platform-sw-components": [{"measurement-type"?, "measurement-value",
 *                  "version"?, "signer-id", "hash-algo-id"?}],
 *              "cca-platform-service-indicator"?, "cca-platform-hash-algo-id"},
 *    "report_data": hex(realm challenge), "init_data": hex(personalization value)}
 *
 * Evidence JSON (the KBS primary_evidence for tee "cca", as guest-components'
 * CCA attester sends it and Trustee reads it — serde's Vec<u8>):
 *   {"token": [217, 1, 143, ...]}      (the token bytes as integers 0..255)
 * veritee also accepts {"token": "<standard base64>"}.
 */
#ifndef VERITEE_CCA_H
#define VERITEE_CCA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"
#include "veritee/evidence.h"

#define VT_CCA_TOKEN_MAX ((size_t)64 * 1024) /* real tokens are 1-3 KiB */
#define VT_CCA_CHALLENGE_SIZE 64             /* realm challenge */
#define VT_CCA_MAX_SW_COMPONENTS 128
#define VT_CCA_MAX_CLAIMS 64                 /* entries in a claim set or COSE_Key map */
#define VT_CCA_MAX_CONFIG 4096               /* platform config claim, bytes */
#define VT_CCA_MAX_TEXT 1024                 /* any text claim, bytes */

/*
 * Verify a CCA attestation token of n bytes (the CBOR above) with the
 * platform's CPAK (an EC public key: P-256 for ES256 or P-384 for ES384
 * tokens).  `binding` NULL (or its report_data NULL) = the realm challenge
 * is not checked; a binding longer than 64 bytes is VT_E_USAGE.
 * `cpak` NULL: the token is parsed, then refused (VT_E_REJECTED, step
 * signature, field "platform", "no CPAK configured") — never unchecked.
 * On success *claims_out is a new reference (see above); on failure it is
 * left untouched and `err` names the step and field.  Codes: VT_E_PARSE /
 * VT_E_LIMIT (parse), VT_E_REJECTED (signature, binding), VT_E_USAGE,
 * VT_E_NOMEM, VT_E_CRYPTO.
 */
VT_API VT_MUST_USE vt_status vt_cca_verify_token(const uint8_t *tok, size_t n, EVP_PKEY *cpak,
						 const struct vt_binding *binding, json_t **claims_out,
						 struct vt_err *err);

/*
 * Parse a token (every parse check above, no signature or binding check)
 * and copy its realm challenge.  For the attester, which checks that the
 * token the kernel returned carries the challenge it asked for.
 */
VT_API VT_MUST_USE vt_status vt_cca_token_realm_challenge(const uint8_t *tok, size_t n,
							  uint8_t out[VT_CCA_CHALLENGE_SIZE], struct vt_err *err);

/* The evidence JSON {"token": [...]} for token bytes (1 to
 * VT_CCA_TOKEN_MAX; not parsed here).  *out is a new reference. */
VT_API VT_MUST_USE vt_status vt_cca_evidence_from_token(const uint8_t *tok, size_t n, json_t **out,
							struct vt_err *err);

/*
 * A CPAK from the bytes of an operator's file (`--cpak KEY`): a PEM
 * SubjectPublicKeyInfo, a JWK (EC P-256/P-384; private members ignored), or
 * a trust-anchor store as Veraison's rust-ccatoken and Trustee's local CCA
 * verifier keep it — a JSON array of {"pkey": JWK, "implementation-id",
 * "instance-id"} — holding exactly one entry.  *out to EVP_PKEY_free.
 * Errors: VT_E_PARSE (step config, field "cpak"), VT_E_USAGE for a store
 * with several entries.  vt_cca_cpak_load reads the file (at most 1 MiB).
 */
VT_API VT_MUST_USE vt_status vt_cca_cpak_from_bytes(const uint8_t *p, size_t n, EVP_PKEY **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_cca_cpak_load(const char *path, EVP_PKEY **out, struct vt_err *err);

/*
 * The registry entry (tee "cca").  verify: the evidence JSON above, then
 * vt_cca_verify_token.  The current verifier context carries no CPAK, so
 * every token is refused after parsing ("no CPAK configured") until the
 * verifier's per-TEE options pass one.  load_file: a raw token file (CBOR)
 * or the evidence JSON itself.
 */
VT_API extern const struct vt_tee vt_tee_cca;

#endif
