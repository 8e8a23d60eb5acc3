/*
 * veritee/cose.h — COSE_Sign1 (RFC 9052 §4.2, §4.4) parsing and ECDSA
 * verification, on libcbor.  Shared by the Nitro verifier (attestation
 * documents), Arm CCA (platform and realm tokens) and signed CoRIM.
 *
 *   COSE_Sign1 = [ protected: bstr .cbor header_map / bstr .size 0,
 *                  unprotected: header_map,
 *                  payload: bstr / nil,
 *                  signature: bstr ]               optionally tagged 18
 *
 * Everything here reads untrusted bytes.  Limits (checked before use):
 *   - the whole message is at most VT_COSE_MAX_MESSAGE bytes;
 *   - only definite-length arrays, maps, byte and text strings (RFC 9052
 *     §3 asks for deterministic encoding; indefinite lengths are refused);
 *   - at most VT_COSE_MAX_DEPTH levels of nesting, VT_COSE_MAX_ITEMS items
 *     per array/map, in every CBOR item decoded (vt_cbor_decode);
 *   - no duplicate keys in any map; the protected header, when not
 *     empty, is a map; alg (label 1) is an integer and only in the
 *     protected header; no label in both headers; "crit" (label 2) is
 *     refused (no extension header is processed here);
 *   - no bytes after the top-level item.
 * Parse failures are VT_E_PARSE (VT_E_LIMIT for a cap), step parse, with a
 * field such as "cose.protected" or "cose.signature".
 */
#ifndef VERITEE_COSE_H
#define VERITEE_COSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "veritee/err.h"

#define VT_COSE_MAX_MESSAGE ((size_t)1024 * 1024) /* 1 MiB; a Nitro document is ~4.5 KiB */
#define VT_COSE_MAX_DEPTH 16
#define VT_COSE_MAX_ITEMS 4096
#define VT_COSE_TAG_SIGN1 18

/* COSE algorithm identifiers (IANA "COSE Algorithms"). */
#define VT_COSE_ALG_ES256 (-7)
#define VT_COSE_ALG_ES384 (-35)
#define VT_COSE_ALG_ES512 (-36)

/* Common header labels (RFC 9052 §3.1). */
#define VT_COSE_HDR_ALG 1
#define VT_COSE_HDR_CRIT 2
#define VT_COSE_HDR_CONTENT_TYPE 3
#define VT_COSE_HDR_KID 4

struct vt_cose_sign1 {
	/* Views into memory the struct owns (a decoded copy of the input; the
	 * bytes are exactly those of the message), valid until vt_cose_sign1_free. */
	const uint8_t *protected_bstr; /* serialized protected header (bstr contents); may be 0 bytes */
	size_t protected_len;
	const uint8_t *payload;        /* NULL when detached (nil) */
	size_t payload_len;
	const uint8_t *signature;
	size_t signature_len;
	int64_t alg;                   /* protected header label 1 (-7 ES256, -35 ES384, -36 ES512); 0 when absent */
	bool tagged;                   /* CBOR tag 18 was present */
	void *priv_;                   /* implementation state (the decoded message, headers) */
};

/*
 * Parse a COSE_Sign1 message (tagged with 18 or untagged) of n bytes.  The
 * input is not borrowed: on success *out owns a copy; release it with
 * vt_cose_sign1_free (also safe on a zeroed or failed struct: on failure
 * *out is left zeroed).  The signature is not checked here.
 */
VT_API VT_MUST_USE vt_status vt_cose_sign1_parse(const uint8_t *data, size_t n, struct vt_cose_sign1 *out,
						 struct vt_err *err);
VT_API void vt_cose_sign1_free(struct vt_cose_sign1 *s);

/*
 * Verify the signature with `key` (an EC public key).  ES256/ES384/ES512
 * with raw r || s signatures; the alg must fit the key's curve (ES256 with
 * P-256, ES384 with P-384, ES512 with P-521), otherwise VT_E_REJECTED.
 * external_aad may be NULL/0.  The signed bytes are the Sig_structure
 * ["Signature1", protected, external_aad, payload] encoded with libcbor's streaming encoders.
 * A detached payload (nil) cannot be verified here: VT_E_USAGE.
 * Failures: VT_E_REJECTED step signature (wrong signature, alg/key mismatch,
 * unsupported alg), VT_E_CRYPTO/VT_E_NOMEM.
 */
VT_API VT_MUST_USE vt_status vt_cose_sign1_verify(const struct vt_cose_sign1 *s, EVP_PKEY *key,
						  const uint8_t *external_aad, size_t aad_len, struct vt_err *err);

/*
 * Same with a detached payload supplied by the caller (used when s->payload
 * is NULL; when not NULL, `payload` must be NULL).
 */
VT_API VT_MUST_USE vt_status vt_cose_sign1_verify_detached(const struct vt_cose_sign1 *s, EVP_PKEY *key,
							   const uint8_t *payload, size_t payload_len,
							   const uint8_t *external_aad, size_t aad_len,
							   struct vt_err *err);

/*
 * Build the Sig_structure bytes (malloc'd into *out, caller frees) for a
 * Signature1 context.  Exposed for signers (tests, fake devices) and for
 * callers with their own signature schemes.
 */
VT_API VT_MUST_USE vt_status vt_cose_sig_structure(const uint8_t *protected_bstr, size_t protected_len,
						   const uint8_t *external_aad, size_t aad_len,
						   const uint8_t *payload, size_t payload_len, uint8_t **out,
						   size_t *out_len, struct vt_err *err);

/*
 * Integer-keyed members of the protected and unprotected header maps.
 * Returns a borrowed libcbor item (valid until vt_cose_sign1_free), or NULL
 * when the label is absent.  Text-keyed members are not reachable here.
 */
VT_API const cbor_item_t *vt_cose_sign1_protected_get(const struct vt_cose_sign1 *s, int64_t label);
VT_API const cbor_item_t *vt_cose_sign1_unprotected_get(const struct vt_cose_sign1 *s, int64_t label);
/* The decoded unprotected header map (borrowed, never NULL after a successful parse). */
VT_API const cbor_item_t *vt_cose_sign1_unprotected(const struct vt_cose_sign1 *s);

/*
 * Decoding limits for one CBOR item from untrusted bytes.  The bytes are
 * first walked with libcbor's streaming decoder (which allocates nothing),
 * so a declared length is checked against the bytes present before
 * cbor_load allocates for it; then the decoded tree is checked for unique
 * map keys.  Zero fields mean the defaults below.
 */
struct vt_cbor_limits {
	size_t max_depth;      /* nesting of arrays, maps and tags; 0 = VT_COSE_MAX_DEPTH */
	size_t max_items;      /* elements of one array / pairs of one map; 0 = VT_COSE_MAX_ITEMS */
	bool allow_indefinite; /* indefinite-length arrays and maps (never strings) */
};

/*
 * Decode exactly one CBOR item from n bytes (n <= VT_COSE_MAX_MESSAGE)
 * within `lim` (NULL = defaults, definite lengths only).  Always refused:
 * indefinite-length byte/text strings, a break outside an indefinite
 * container, map keys that are not integers or byte/text strings, duplicate
 * map keys (compared by value: 1 and 0x18 0x01 are the same key), and bytes
 * after the item.  libcbor 0.8 also refuses the one-byte encodings of
 * tags 6..20 (0xc6..0xd4, "unassigned" in RFC 7049): such a tag inside the
 * item fails to parse (vt_cose_sign1_parse handles a leading 0xd2 itself).
 * *out is a new libcbor reference (cbor_decref(&item)).
 * `field` names the bytes in errors (e.g. "payload").  VT_E_PARSE (VT_E_LIMIT
 * for a cap), step parse; VT_E_NOMEM.
 */
VT_API VT_MUST_USE vt_status vt_cbor_decode_ex(const uint8_t *data, size_t n, const struct vt_cbor_limits *lim,
					       const char *field, cbor_item_t **out, struct vt_err *err);

/* vt_cbor_decode_ex with definite lengths only, depth <= max_depth (0 =
 * default) and the default item cap.  Useful for a COSE payload (CCA
 * claims); the Nitro payload needs allow_indefinite (AWS emits an
 * indefinite-length map since 2025). */
VT_API VT_MUST_USE vt_status vt_cbor_decode(const uint8_t *data, size_t n, size_t max_depth, const char *field,
					    cbor_item_t **out, struct vt_err *err);

/*
 * Small typed accessors for libcbor values (untrusted input: they check the
 * type and never abort).  vt_cbor_int64: unsigned or negative integer that
 * fits int64_t.  vt_cbor_map_get_int / _str: the value for an integer /
 * text-string key in a definite map, or NULL.
 */
VT_API bool vt_cbor_int64(const cbor_item_t *item, int64_t *out);
/* The simple value null.  Use this, not libcbor's cbor_is_null, on
 * untrusted items: libcbor 0.8's asserts abort on a float there. */
VT_API bool vt_cbor_is_null(const cbor_item_t *item);
VT_API const cbor_item_t *vt_cbor_map_get_int(const cbor_item_t *map, int64_t key);
VT_API const cbor_item_t *vt_cbor_map_get_str(const cbor_item_t *map, const char *key);

#endif
