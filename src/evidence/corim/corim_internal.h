/* Shared pieces of the CoRIM reader (corim.c: envelope, corim-map, output;
 * comid.c: CoMID triples and the name mapping).  Not installed. */
#ifndef VT_CORIM_INTERNAL_H
#define VT_CORIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "veritee/corim.h"

/* The profiles whose rules we apply (corim-map key 3). */
enum corim_profile {
	CORIM_PROFILE_NONE = 0, /* no profile: veritee's text keys, then generic names */
	CORIM_PROFILE_UNKNOWN,  /* a profile we do not know: as NONE, with a note */
	CORIM_PROFILE_SNP,      /* tag:amd.com,2024:snp-corim-profile (Veraison) */
	CORIM_PROFILE_CCA_PLATFORM, /* tag:arm.com,2025:cca_platform#1.0.0 */
	CORIM_PROFILE_CCA_REALM,    /* tag:arm.com,2025:cca_realm#1.0.0 */
	CORIM_PROFILE_TPM,      /* tag:github.com/parallaxsecond,2023-03-03:tpm */
	CORIM_PROFILE_INTEL,    /* OID 2.16.840.1.113741.1.16.1 */
};

#define CORIM_PROFILE_SNP_URI "tag:amd.com,2024:snp-corim-profile"
#define CORIM_PROFILE_CCA_PLATFORM_URI "tag:arm.com,2025:cca_platform#1.0.0"
#define CORIM_PROFILE_CCA_REALM_URI "tag:arm.com,2025:cca_realm#1.0.0"
#define CORIM_PROFILE_TPM_URI "tag:github.com/parallaxsecond,2023-03-03:tpm"
#define CORIM_PROFILE_INTEL_OID "2.16.840.1.113741.1.16.1"

/* CBOR tags inside CoMIDs (draft-ietf-rats-corim §7; Intel profile). */
#define CORIM_TAG_TIME 1
#define CORIM_TAG_URI 32
#define CORIM_TAG_UUID 37
#define CORIM_TAG_OID 111
#define CORIM_TAG_SVN 552
#define CORIM_TAG_MIN_SVN 553
#define CORIM_TAG_BYTES 560
#define CORIM_TAG_MASKED_RAW 563
#define CORIM_TAG_IMPL_ID 600
#define CORIM_TAG_INTEL_NUMERIC 60010
#define CORIM_TAG_INTEL_DIGESTS 60020
#define CORIM_TAG_INTEL_STRINGS 60021

/* Longest dotted OID / error path we build. */
#define CORIM_OID_MAX 128
#define CORIM_PATH_MAX 64

struct corim_ctx {
	struct vt_corim *c;
	enum corim_profile profile;
	size_t nvalues; /* over all names, against VT_CORIM_MAX_VALUES */
	struct vt_err *err;
};

/* The item a tag wraps (borrowed: the tag keeps it alive), or NULL. */
const cbor_item_t *corim_untag(const cbor_item_t *t, uint64_t want);
/* A definite byte string's bytes (n may be 0). */
bool corim_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n);
/* A definite text string copied into buf (NUL-terminated; control bytes
 * become '?'); false when not text or longer than max / buf. */
bool corim_text(const cbor_item_t *it, char *buf, size_t buf_size);
/* A BER OID body (the bytes of #6.111) as dotted text. */
bool corim_oid_text(const uint8_t *p, size_t n, char *buf, size_t buf_size);
/* 16 bytes as a UUID 8-4-4-4-12 (buf >= 37). */
void corim_uuid_text(const uint8_t *p, char *buf);

/* Record a note (printf-style); past VT_CORIM_MAX_NOTES only counted. */
void corim_note(struct corim_ctx *x, const char *fmt, ...) VT_PRINTF(2, 3);

/* Add `value` (stolen, also on failure) to the list `name`, remembering
 * `source`.  Duplicates are dropped.  VT_E_LIMIT past the caps. */
vt_status corim_add(struct corim_ctx *x, const char *name, json_t *value, const char *source);

/* One CoMID (a decoded concise-mid-tag map); `idx` names it in errors. */
vt_status corim_comid(struct corim_ctx *x, const cbor_item_t *comid, size_t idx);

#endif
