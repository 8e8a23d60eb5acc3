/*
 * veritee/token.h — EAR attestation result tokens (draft-ietf-rats-ear),
 * as compact ES256 JWTs shaped like Trustee's (kbs-protocol.md §6):
 *
 *   header  {"typ":"JWT","alg":"ES256","jwk":{…signing key…}}
 *   payload {"eat_profile", "iat", "ear.verifier-id", "submods": {"cpu0": {
 *              "ear.status", "ear.trustworthiness-vector",
 *              "ear.appraisal-policy-id", "ear.veraison.annotated-evidence",
 *              …extensions}}, "exp", "iss"}
 */
#ifndef VERITEE_TOKEN_H
#define VERITEE_TOKEN_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"

#define VT_EAR_PROFILE "tag:github.com,2024:confidential-containers/Trustee"
#define VT_EAR_ISSUER "veritee"

struct vt_ear_params {
	const char *issuer;            /* NULL: VT_EAR_ISSUER */
	const char *policy_id;         /* NULL: "default" */
	int64_t iat;                   /* issue time */
	int64_t lifetime;              /* seconds; exp = iat + lifetime */
	const char *submod;            /* NULL: "cpu0" */
	const char *status;            /* none / affirming / warning / contraindicated */
	const json_t *trust_vector;    /* borrowed object */
	const json_t *annotated;       /* borrowed: ear.veraison.annotated-evidence */
	const json_t *extensions;      /* borrowed object merged into the submod, or NULL */
	const json_t *more_submods;    /* borrowed {"gpu0": {...}, ...}: more submods (devices), or NULL */
	/* The signing key's public JWK and its RFC 7638 thumbprint, when the
	 * caller keeps them (a broker issues many tokens with one key); NULL:
	 * derived from the key for this token. */
	const json_t *signer_jwk;
	const char *signer_kid;
};

/* Sign an EAR with a P-256 key.  *out malloc'd compact JWT. */
VT_API VT_MUST_USE vt_status vt_ear_issue(EVP_PKEY *key, const struct vt_ear_params *p, char **out,
					  struct vt_err *err);

/* vt_ear_verify flags */
#define VT_EAR_REQUIRE_EXP 0x1u /* reject tokens without "exp" (the broker's tokens always have one) */
#define VT_EAR_REQUIRE_LOW_S 0x2u /* reject a high-S signature (the twin of a valid one): for tokens this
				     library signed, which are always low-S; others' signers may not be */

/*
 * Verify an EAR JWT with `key` (the issuer's public key; the header's `jwk`
 * is NOT trusted).  Checks ES256, exp (when present, or always with
 * VT_EAR_REQUIRE_EXP; `leeway` seconds), iat not in the future, and the EAR
 * shape (eat_profile, submods with a valid ear.status).
 * *claims_out: new reference to the payload.
 * Failures: VT_E_PARSE / VT_E_REJECTED with step token or signature.
 */
VT_API VT_MUST_USE vt_status vt_ear_verify(const char *jwt, EVP_PKEY *key, int64_t now, int64_t leeway, unsigned flags,
					   json_t **claims_out, struct vt_err *err);

/* The TEE public key JWK in verified claims (borrowed), at
 * /submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey */
VT_API VT_MUST_USE vt_status vt_ear_tee_pubkey(const json_t *claims, json_t **jwk_out, struct vt_err *err);

#endif
