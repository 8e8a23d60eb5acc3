/*
 * Arm CCA token, private: the parsed token (veritee/cca.h has the layout).
 * Every view points into a libcbor item owned by struct cca_token and is
 * valid until cca_token_free.  Text views are not NUL-terminated; they are
 * well-formed UTF-8 without NUL.
 */
#ifndef VT_EVIDENCE_CCA_TOKEN_H
#define VT_EVIDENCE_CCA_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "veritee/cca.h"
#include "veritee/cose.h"

/* Claim keys (RMM 1.0 §A.7.2.3; draft-ffm-rats-cca-token). */
#define CCA_TAG_COLLECTION 399
#define CCA_KEY_PLATFORM_TOKEN 44234
#define CCA_KEY_REALM_TOKEN 44241

#define CCA_CHALLENGE 10
#define CCA_PROFILE 265

#define CCA_REALM_PERSO 44235
#define CCA_REALM_HASH_ALGO 44236
#define CCA_REALM_RAK 44237
#define CCA_REALM_RIM 44238
#define CCA_REALM_REM 44239
#define CCA_REALM_RAK_HASH_ALGO 44240

#define CCA_PLAT_INSTANCE_ID 256
#define CCA_PLAT_LIFECYCLE 2395
#define CCA_PLAT_IMPL_ID 2396
#define CCA_PLAT_SW_COMPONENTS 2399
#define CCA_PLAT_VSI 2400
#define CCA_PLAT_CONFIG 2401
#define CCA_PLAT_HASH_ALGO 2402

#define CCA_SW_TYPE 1
#define CCA_SW_VALUE 2
#define CCA_SW_VERSION 4
#define CCA_SW_SIGNER_ID 5
#define CCA_SW_HASH_ALGO 6

#define CCA_REALM_PROFILE "tag:arm.com,2023:realm#1.0.0"
#define CCA_PLATFORM_PROFILE_LEGACY "http://arm.com/CCA-SSD/1.0.0"
#define CCA_PLATFORM_PROFILE_FFM "tag:arm.com,2023:cca_platform#1.0.0"

#define CCA_REM_COUNT 4
#define CCA_RAW_RAK_SIZE 97 /* 0x04 || x || y on P-384 */

struct cca_bytes {
	const uint8_t *p;
	size_t n;
};

struct cca_text {
	const char *p;
	size_t n;
	bool present;
};

struct cca_sw_component {
	struct cca_text type, version, hash_algo; /* optional */
	struct cca_bytes value, signer_id;
};

struct cca_platform {
	struct cca_text profile, vsi, hash_algo; /* vsi optional */
	struct cca_bytes challenge, impl_id, inst_id, config;
	uint16_t lifecycle;
	size_t sw_count;
	struct cca_sw_component sw[VT_CCA_MAX_SW_COMPONENTS];
};

struct cca_realm {
	struct cca_text profile, hash_algo, rak_hash_algo; /* profile optional */
	struct cca_bytes challenge, perso, rim, rak;
	struct cca_bytes rem[CCA_REM_COUNT];
};

struct cca_token {
	cbor_item_t *collection;
	struct vt_cose_sign1 platform_cose, realm_cose;
	cbor_item_t *platform_item, *realm_item; /* the decoded claim sets */
	struct cca_platform platform;
	struct cca_realm realm;
	EVP_PKEY *rak; /* from claim 44237 */
};

/* Parse everything, check nothing signed.  *t is zeroed first; on failure
 * it holds nothing to free (cca_token_free is still safe). */
vt_status cca_token_parse(const uint8_t *tok, size_t n, struct cca_token *t, struct vt_err *err);
void cca_token_free(struct cca_token *t);

/* The claims JSON of a parsed token (veritee/cca.h). */
vt_status cca_token_claims(const struct cca_token *t, json_t **out, struct vt_err *err);

/* "sha-256" -> EVP_sha256() etc.; NULL for another name. */
const EVP_MD *cca_hash_by_name(const struct cca_text *name);

#endif
