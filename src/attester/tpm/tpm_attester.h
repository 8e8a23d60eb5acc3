/* TPM 2.0 attester, private: the `tpm` evidence JSON the registry returns. */
#ifndef VT_TPM_ATTESTER_H
#define VT_TPM_ATTESTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"

#define VT_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"
#define VT_TPM_DEFAULT_AK_HANDLE 0x81010002u
#define VT_TPM_DEFAULT_EVENT_LOG "/sys/kernel/security/tpm0/binary_bios_measurements"

struct vt_tpm_attest_opts {
	/* tpm2-tss TCTI configuration, e.g. "swtpm:host=127.0.0.1,port=2321" or
	 * "device:/dev/tpmrm0".  NULL: $VERITEE_TPM_TCTI, else VT_TPM_DEFAULT_TCTI. */
	const char *tcti;
	/* Persistent handle of the attestation key (owner persistent range
	 * 0x81000000..0x817FFFFF); created there on first use.  0: 0x81010002. */
	uint32_t ak_handle;
	/* "ecc" (P-256, ECDSA-SHA256; NULL means this) or "rsa" (RSA-2048,
	 * RSASSA-SHA256, what Trustee's own tpm verifier expects). */
	const char *ak_alg;
	/* Event log to send along as "event_log".  NULL: the kernel's
	 * binary_bios_measurements, only with a device TCTI and only when
	 * readable (a simulator's PCRs have nothing to do with the host's log).
	 * "none": never.  Any other path: must be readable. */
	const char *event_log_path;
	/* Also send the EK certificate (NV 0x01C00002) as "ek_cert" (std base64
	 * DER) when the TPM has one.  Off by default: Trustee's shape has no such member. */
	bool include_ek_cert;
};

/*
 * A TPM2_Quote over SHA-256 PCRs 0-23 with qualifying data = report_data[0..31],
 * signed by the (persistent) attestation key, as Trustee's `tpm` evidence:
 *   {"ak_public": "<std base64 DER SPKI>",
 *    "tpm_quote": {"signature": "<std base64 TPMT_SIGNATURE>",
 *                  "message": "<std base64 TPMS_ATTEST>",
 *                  "pcrs": ["<64 hex>" x 24]},
 *    "event_log": "<std base64>"   (only when an event log was read)
 *    "ek_cert": "<std base64 DER>" (only with include_ek_cert and a certificate)}
 * TCTI that cannot be loaded or parsed: VT_E_USAGE naming it; TPM not
 * reachable: VT_E_IO naming the TCTI.
 */
vt_status vt_tpm_attest_evidence(const struct vt_tpm_attest_opts *o, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err);

/*
 * TPM2_PCR_Extend of one SHA-256 PCR (0-23, empty auth) with `sha256_digest`
 * (only the SHA-256 bank is extended).  `tcti` NULL: $VERITEE_TPM_TCTI, else
 * VT_TPM_DEFAULT_TCTI.  Errors as vt_tpm_attest_evidence; PCR out of range:
 * VT_E_USAGE.  For demos, tests and benchmarks (a simulator's PCRs).
 */
vt_status vt_tpm_pcr_extend(const char *tcti, unsigned pcr, const uint8_t sha256_digest[32], struct vt_err *err);

#endif
