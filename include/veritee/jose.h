/*
 * veritee/jose.h — JWK, JWS (compact) and JWE (flattened JSON) composed on
 * OpenSSL primitives.  Only the algorithms the KBS protocol and EAR need:
 *   JWS: ES256, ES384, EdDSA (Ed25519), RS256, PS256 — never "none" or HS*.
 *   JWE: ECDH-ES+A256KW (P-256, P-384, P-521), RSA-OAEP-256, with A256GCM.
 */
#ifndef VERITEE_JOSE_H
#define VERITEE_JOSE_H

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"
#include "veritee/util.h"

/*
 * JWK -> key.  Accepts kty EC (P-256/P-384/P-521; x, y fixed-length
 * base64url; optional d), RSA (n, e; optional private members are ignored
 * unless `priv`), OKP Ed25519 (x; optional d).  Validates the point is on the
 * curve.  `priv` requires private material.  *out to EVP_PKEY_free.
 */
VT_API VT_MUST_USE vt_status vt_jwk_to_key(const json_t *jwk, bool priv, EVP_PKEY **out, struct vt_err *err);

/*
 * key -> JWK (public members only unless `priv`).  Members are emitted in
 * lexicographic order (EC: alg?, crv, kty, x, y; RSA: alg?, e, kty, n;
 * OKP: alg?, crv, kty, x).  `alg` may be NULL (then omitted).
 * Returns a new reference or NULL.
 */
VT_API json_t *vt_key_to_jwk(EVP_PKEY *key, const char *alg, bool priv);
/* RFC 7638 thumbprint of an EC public JWK: base64url(SHA-256(JCS of crv,
 * kty, x, y)), malloc'd; NULL when a member is missing or out of memory.
 * EAR headers and the broker's JWKS name the token key by it ("kid"). */
VT_API char *vt_jwk_thumbprint(const json_t *jwk);

/*
 * JWS compact.  The header object is serialized compactly in its member
 * order; it must contain "alg" matching the key.  Returns malloc'd string.
 */
VT_API VT_MUST_USE vt_status vt_jws_sign(EVP_PKEY *key, const json_t *header, const uint8_t *payload, size_t payload_size,
					 char **out, struct vt_err *err);

/*
 * Verify a compact JWS with `key`.  `allowed_algs` is a NULL-terminated list
 * (e.g. {"ES256", NULL}); the header's alg must be in it and fit the key type.
 * Rejects "none", HS*, wrong part counts, non-canonical base64url, trailing
 * data, and (for ECDSA) signatures whose length is not 2 * coord size.
 * Outputs are optional (NULL to skip); *header_out new reference, *payload_out
 * malloc'd NUL-terminated.  Bad signature: VT_E_REJECTED, step signature.
 */
VT_API VT_MUST_USE vt_status vt_jws_verify(const char *jws, EVP_PKEY *key, const char *const *allowed_algs,
					   json_t **header_out, uint8_t **payload_out, size_t *payload_size,
					   struct vt_err *err);

/* Decode the header of a compact JWS without verifying it (to pick a key). */
VT_API VT_MUST_USE vt_status vt_jws_peek_header(const char *jws, json_t **header_out, struct vt_err *err);

/*
 * JWE encrypt to a recipient public key, flattened JSON serialization
 * {"protected","encrypted_key","iv","ciphertext","tag"} (no "aad").
 * `alg`: "ECDH-ES+A256KW" (EC key) or "RSA-OAEP-256" (RSA key).
 * Protected header is compact JSON with members in the exact order
 * alg, enc[, epk{crv,kty,x,y}] — the KBS client re-serializes it for the AAD.
 * *out new reference.
 */
VT_API VT_MUST_USE vt_status vt_jwe_encrypt(EVP_PKEY *recipient, const char *alg, const uint8_t *plaintext,
					    size_t plaintext_size, json_t **out, struct vt_err *err);

/* Decrypt a flattened JWE with the recipient's private key.  The GCM AAD is
 * the received "protected" string.  Any failure: VT_E_REJECTED (step crypto)
 * with no detail that would act as an oracle.  *out to vt_secret_free. */
VT_API VT_MUST_USE vt_status vt_jwe_decrypt(EVP_PKEY *recipient, const json_t *jwe, struct vt_secret **out,
					    struct vt_err *err);

#endif
