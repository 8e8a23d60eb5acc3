/*
 * veritee/corim.h — signed CoRIM (IETF draft-ietf-rats-corim): verify the
 * COSE_Sign1 signature of a Concise Reference Integrity Manifest and turn
 * its CoMID reference values into named reference values that the default
 * policies use (snp_launch_measurement, mr_td, cca_rim, nitro_pcr0, ...).
 * docs/corim.md has the whole name mapping.
 *
 * Accepted input (all CBOR through libcbor with the bounded decoder of
 * veritee/cose.h, definite lengths only, no duplicate map keys):
 *
 *   signed-corim   = #6.18([ protected: bstr .cbor {1: alg, 3: "application/rim+cbor",
 *                                                   ? 4: kid, ? 8: bstr .cbor corim-meta,
 *                                                   ? 15: CWT claims},
 *                            unprotected: {}, payload: bstr .cbor #6.501(corim-map),
 *                            signature: bstr ])
 *   corim-meta     = {0: {0: signer-name, ? 1: #6.32(uri)}, ? 1: {? 0: #6.1(nbf), 1: #6.1(na)}}
 *   corim-map      = {0: id (text / 16-byte UUID), 1: [+ #6.506(bstr .cbor concise-mid-tag)],
 *                     ? 3: profile (#6.32 uri / #6.111 oid), ? 4: rim-validity, ...}
 *   concise-mid-tag = {? 0: language, 1: tag-identity, ? 2: entities, 4: triples-map}
 *
 * With `allow_unsigned` (inspection only: `veritee corim show --unsigned`)
 * an unsigned CoRIM (#6.501) or a bare CoMID (#6.506 or an untagged map)
 * is also accepted.  Without it they are refused (VT_E_REJECTED, step
 * signature): a reference value nobody signed is not imported.
 *
 * What is verified, in order:
 *   1. the envelope: tag 18 (an untagged COSE_Sign1 is refused), protected
 *      header with content type application/rim+cbor, corim-meta / CWT
 *      claims only in the protected header;
 *   2. the ES256/ES384/ES512 signature with the caller's key (the key is the
 *      trust decision: it is never taken from the document);
 *   3. the signature validity (corim-meta 1, or CWT nbf/exp) and the CoRIM's
 *      own rim-validity (corim-map 4) at `now`;
 *   4. the payload: tag 501, every CoMID, and the rules of the profiles we
 *      know (AMD SEV-SNP, Arm CCA platform and realm, Parsec TPM, Intel).
 * Only reference-triples (triples-map key 0) become reference values.
 * Endorsed, attest-key, identity and conditional triples are counted and
 * listed in `notes`; a measurement we cannot express as "claim equals one
 * of these values" (a masked raw value, a numeric expression) is listed
 * there too, with the reason.
 *
 * Errors: VT_E_PARSE step parse (VT_E_LIMIT for a cap) with a field such as
 * "corim.payload", "corim.tags[1]", "comid[0].ref[2].m[5].mkey"; profile
 * violations are VT_E_PARSE with the profile in the detail;
 * VT_E_REJECTED step signature for an unsigned document, a bad signature
 * (field "cose.signature") or a time outside corim-meta's validity (field
 * "corim-meta.validity"); VT_E_REJECTED step collateral for a time outside
 * the rim-validity ("corim.rim-validity"); VT_E_USAGE for a signed CoRIM
 * without a key.
 */
#ifndef VERITEE_CORIM_H
#define VERITEE_CORIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/cose.h"
#include "veritee/err.h"

/* Caps, checked before use (a CoRIM is at most VT_COSE_MAX_MESSAGE bytes). */
#define VT_CORIM_MAX_SIZE VT_COSE_MAX_MESSAGE
#define VT_CORIM_MAX_TAGS 64            /* entries of corim-map tags */
#define VT_CORIM_MAX_TRIPLES 256        /* triples of one kind in one CoMID */
#define VT_CORIM_MAX_MEASUREMENTS 1024  /* measurement-maps of one triple */
#define VT_CORIM_MAX_DIGESTS 16         /* digests of one measurement */
#define VT_CORIM_MAX_BYTES 1024         /* one digest or raw value */
#define VT_CORIM_MAX_TEXT 256           /* ids, names, profile, content type */
#define VT_CORIM_MAX_NAMES 256          /* distinct reference value names */
#define VT_CORIM_MAX_VALUES 4096        /* values over all names */
#define VT_CORIM_MAX_NOTES 64           /* further notes are counted, not kept */

/* CBOR tags (draft-ietf-rats-corim §7, RFC 8949). */
#define VT_CORIM_TAG_UNSIGNED 501
#define VT_CORIM_TAG_COSWID 505
#define VT_CORIM_TAG_COMID 506

struct vt_corim_opts {
	/* The key the CoRIM must be signed with (EC P-256, P-384 or P-521; the
	 * alg must fit its curve).  Borrowed.  Required for a signed CoRIM. */
	EVP_PKEY *signer;
	/* Validity (corim-meta, CWT claims, rim-validity) is checked at this time. */
	int64_t now;
	/* Accept an unsigned CoRIM or a bare CoMID (inspection only). */
	bool allow_unsigned;
};

struct vt_corim_validity {
	bool has_not_before, has_not_after;
	int64_t not_before, not_after; /* seconds since the epoch */
};

/* A loaded CoRIM.  Every member is owned by the struct (vt_corim_free). */
struct vt_corim {
	const char *form;     /* "signed-corim", "unsigned-corim" or "comid" (static) */
	bool verified;        /* the COSE_Sign1 signature was checked with opts.signer */
	int64_t alg;          /* COSE alg of a signed CoRIM (-7, -35, -36), else 0 */
	char *kid;            /* protected kid as hex, or NULL */
	char *content_type;   /* protected content type, or NULL */
	char *id;             /* corim-id (text, or a UUID 8-4-4-4-12), NULL for a bare CoMID */
	char *profile;        /* profile URI or dotted OID, or NULL */
	char *signer_name;    /* corim-meta signer-name (or CWT iss), or NULL */
	char *signer_uri;     /* corim-meta signer-uri, or NULL */
	struct vt_corim_validity signature_validity; /* corim-meta 1 or CWT nbf/exp */
	struct vt_corim_validity rim_validity;       /* corim-map 4 */
	size_t comids;        /* CoMIDs read */
	/* {name: [value, ...]}: strings (lowercase hex, or standard base64 for
	 * CCA names, as the claims hold them) or integers (SNP TCB SVNs).  Each
	 * list holds distinct values in document order. */
	json_t *values;
	/* {name: ["comid[0] ref[0] mkey 641: digests sha-384", ...]}: where each
	 * name's values came from. */
	json_t *sources;
	/* ["comid[0]: endorsed-triples: 1 (endorsements, not reference values)", ...] */
	json_t *notes;
	size_t notes_dropped; /* notes past VT_CORIM_MAX_NOTES */
};

/*
 * Parse and verify a CoRIM of n bytes (n <= VT_CORIM_MAX_SIZE) under `opts`
 * (see the top of this file for the steps).  On success *out is a new
 * struct (vt_corim_free); on failure *out is NULL.  The input is not
 * borrowed.  A CoRIM that yields no reference value is not an error here
 * (its notes say why); the caller decides.
 */
VT_API VT_MUST_USE vt_status vt_corim_load(const uint8_t *data, size_t n, const struct vt_corim_opts *opts,
					   struct vt_corim **out, struct vt_err *err);
VT_API void vt_corim_free(struct vt_corim *c);

/*
 * The CoRIM as JSON (new reference): {"form", "verified", "alg", "kid",
 * "content_type", "id", "profile", "signer": {"name", "uri"},
 * "signature_validity": {"not_before", "not_after"} (RFC 3339),
 * "rim_validity": {...}, "comids", "reference_values", "sources", "notes"}.
 * Absent members are omitted.  NULL on out of memory.
 */
VT_API json_t *vt_corim_to_json(const struct vt_corim *c);

/*
 * The RVPS registration message for POST /kbs/v0/reference-value that
 * stores c->values in one transaction:
 *   {"version":"0.1.0","type":"sample","payload": base64(JSON {name: [values]})}
 * malloc'd, NUL-terminated; NULL on out of memory.
 */
VT_API char *vt_corim_rvps_message(const struct vt_corim *c);

/*
 * A CoRIM signer's public key from bytes: a PEM public key, a PEM X.509
 * certificate (its key; the certificate is not validated), a JWK object
 * (private members ignored) or a JWK set holding exactly one key.  Must be
 * an EC key.  *out to EVP_PKEY_free.  VT_E_PARSE step config, field
 * "signer".  vt_corim_signer_load reads a file (at most 64 KiB).
 */
VT_API VT_MUST_USE vt_status vt_corim_signer_from_bytes(const uint8_t *p, size_t n, EVP_PKEY **out,
							struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_corim_signer_load(const char *path, EVP_PKEY **out, struct vt_err *err);

#endif
