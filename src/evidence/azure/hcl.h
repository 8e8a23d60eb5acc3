/*
 * Azure confidential VM (HCL / paravisor) attestation pieces shared by the
 * az-snp-vtpm and az-tdx-vtpm TEEs.  Private to the library.
 *
 * HCL report layout (little-endian, as the vTPM NV index 0x01400001 holds it):
 *   0x000  "HCLA" magic, u32 version (1 or 2), u32 report_size, u32 request_type (2),
 *          u32 status (0), 3 x u32 reserved (0)
 *   0x020  hardware report slot, 1184 bytes: an SEV-SNP report, or a 1024-byte
 *          TDREPORT followed by 160 zero bytes
 *   0x4C0  IGVM request data: u32 data_size (= 20 + variable_data_size),
 *          u32 version (1), u32 report_type (2 SNP, 4 TDX), u32 hash_type
 *          (1 SHA-256, 2 SHA-384, 3 SHA-512), u32 variable_data_size
 *   0x4D4  variable data: the runtime JSON {"keys": [JWK "HCLAkPub", JWK
 *          "HCLEkPub"], "vm-configuration": {...}, "user-data": hex}
 * report_size = 0x4C0 + data_size; bytes after report_size must be zero.
 * The hardware report's report_data starts with hash_type(variable data).
 */
#ifndef VT_EVIDENCE_AZURE_HCL_H
#define VT_EVIDENCE_AZURE_HCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"
#include "veritee/evidence.h"
#include "veritee/tpm.h"

#define VT_HCL_HEADER_SIZE 0x20u
#define VT_HCL_HW_OFFSET 0x20u
#define VT_HCL_HW_SIZE 1184u
#define VT_HCL_IGVM_OFFSET 0x4C0u
#define VT_HCL_IGVM_HEADER_SIZE 20u
#define VT_HCL_VAR_OFFSET (VT_HCL_IGVM_OFFSET + VT_HCL_IGVM_HEADER_SIZE)
#define VT_HCL_MAX_SIZE (64u * 1024u)     /* whole HCL report buffer */
#define VT_HCL_VAR_DATA_MAX (32u * 1024u) /* runtime JSON */
#define VT_HCL_TDREPORT_SIZE 1024u

#define VT_HCL_REPORT_TYPE_SNP 2u
#define VT_HCL_REPORT_TYPE_TDX 4u
#define VT_HCL_REQUEST_TYPE 2u

struct vt_hcl_report {
	uint32_t version;
	uint32_t report_size;
	uint32_t request_type;
	const uint8_t *hw_report;       /* view, VT_HCL_HW_SIZE bytes */
	uint32_t data_size;
	uint32_t igvm_version;
	uint32_t report_type;           /* VT_HCL_REPORT_TYPE_* */
	uint32_t hash_type;             /* 1..3 */
	const uint8_t *var_data;        /* view, var_data_size bytes */
	uint32_t var_data_size;
};

/*
 * Parse an HCL report (borrowed; views point into `buf`).  Strict: every
 * header field is checked (magic, version 1..2, request type 2, status and
 * reserved zero, sizes consistent, IGVM version 1, report type 2 or 4,
 * hash type 1..3, var data <= VT_HCL_VAR_DATA_MAX, zero padding after
 * report_size, TDX slot padding zero).  VT_E_PARSE naming "hcl.*".
 */
VT_MUST_USE vt_status vt_hcl_parse(const uint8_t *buf, size_t size, struct vt_hcl_report *out, struct vt_err *err);

/* "sha256"/"sha384"/"sha512" digest of the hash type, or NULL. */
const EVP_MD *vt_hcl_hash_md(uint32_t hash_type);
const char *vt_hcl_hash_name(uint32_t hash_type);

/*
 * The hardware report_data must start with hash_type(variable data).
 * VT_E_REJECTED step binding, field "hcl.variable_data", otherwise.
 */
VT_MUST_USE vt_status vt_hcl_check_var_data(const struct vt_hcl_report *h, const uint8_t report_data[64],
					    struct vt_err *err);

/* The runtime JSON (variable data), parsed. */
struct vt_hcl_runtime {
	json_t *doc;                    /* owned */
	const json_t *ak_jwk;           /* borrowed from doc: keys[kid == "HCLAkPub"] */
	const json_t *vm_configuration; /* borrowed, NULL when absent */
	uint8_t *user_data;             /* decoded "user-data" (malloc'd), NULL when absent */
	size_t user_data_size;
};

/* Parse the variable data as JSON (no duplicate keys); exactly one "HCLAkPub"
 * RSA key.  VT_E_PARSE naming "hcl.runtime.*". */
VT_MUST_USE vt_status vt_hcl_runtime_parse(const struct vt_hcl_report *h, struct vt_hcl_runtime *out,
					   struct vt_err *err);
void vt_hcl_runtime_free(struct vt_hcl_runtime *rt);
/* The AK (RSA) from the runtime JSON, *out to EVP_PKEY_free. */
VT_MUST_USE vt_status vt_hcl_runtime_ak(const struct vt_hcl_runtime *rt, EVP_PKEY **out, struct vt_err *err);

/* ------------------------------------------------------------ composite evidence */

/* The parts every Azure vTPM evidence carries. */
struct vt_az_evidence {
	int version;                    /* 0 (legacy, converted), 1 or 2 */
	uint8_t *hcl;                   /* decoded hcl_report */
	size_t hcl_size;
	struct vt_hcl_report report;    /* views into hcl */
	uint8_t *msg;                   /* TPMS_ATTEST */
	size_t msg_size;
	uint8_t *sig;                   /* TPMT_SIGNATURE (raw RSA signature wrapped as RSASSA/SHA-256) */
	size_t sig_size;
	struct vt_tpm_pcrs pcrs;        /* the 24 SHA-256 PCRs */
	uint8_t *hw_extra;              /* vcek (DER) or td_quote, NULL when absent */
	size_t hw_extra_size;
};

/*
 * Parse Trustee's evidence JSON (versions 1 and 2; version 0 with byte
 * arrays too).  `hw_key` is "vcek" (optional member, base64url DER; v0:
 * PEM) or "td_quote" (required, base64url; v0: byte array).
 * `report_type` the HCL report type required.
 */
VT_MUST_USE vt_status vt_az_evidence_parse(const json_t *ev, const char *hw_key, uint32_t report_type,
					   struct vt_az_evidence *out, struct vt_err *err);
void vt_az_evidence_free(struct vt_az_evidence *e);

/*
 * The vTPM part, after the hardware report is verified and bound to the
 * variable data: the quote (signature by `ak`, PCR digest over the 24 PCRs),
 * then the nonce (extraData == binding exactly; v2: "user-data" starts with
 * it).  binding NULL = nonce not checked.  quote_out (may be NULL).
 */
VT_MUST_USE vt_status vt_az_tpm_verify(const struct vt_az_evidence *e, const struct vt_hcl_runtime *rt, EVP_PKEY *ak,
				       const struct vt_binding *binding, struct vt_tpm_quote *quote_out,
				       struct vt_err *err);

/* Claims shared by both TEEs: "tpm" {pcr00..pcr23}, "report_data" (hex
 * extraData), "init_data" (hex PCR8), and the veritee extras under "hcl". */
VT_MUST_USE vt_status vt_az_common_claims(const struct vt_az_evidence *e, const struct vt_hcl_runtime *rt,
					  const struct vt_tpm_quote *q, json_t *claims, struct vt_err *err);

/* load_file hook: the evidence JSON (any version). */
VT_MUST_USE vt_status vt_az_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err);

#endif
