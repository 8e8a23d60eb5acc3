/*
 * veritee/azure.h — Azure confidential VMs with the HCL paravisor's vTPM:
 * the `az-snp-vtpm` and `az-tdx-vtpm` evidence of the KBS protocol
 * (../shared/docs/kbs-protocol.md §5.2-5.3; claims as Trustee names them,
 * policy-and-reference-values.md §3.2 / §3.4).
 *
 * Evidence JSON (Trustee's v1/v2; legacy v0 with byte arrays also accepted):
 *   az-snp-vtpm: {"version": 2, "tpm_quote": {"signature": hex (raw RSASSA),
 *                 "message": hex (TPMS_ATTEST), "pcrs": [24 x hex SHA-256]},
 *                 "hcl_report": base64url, "vcek": base64url DER (optional:
 *                 then ctx->snp sources)}
 *   az-tdx-vtpm: {"version": 2, "tpm_quote": {...}, "hcl_report": base64url,
 *                 "td_quote": base64url}
 *
 * Order of checks (each failure names its step): parse -> hardware (SNP
 * report via the snp verifier with ctx->snp; TD quote via DCAP with
 * ctx->dcap, no collateral = step collateral) -> binding of the HCL runtime
 * data (hardware report_data starts with hash(variable data)) -> AK
 * ("HCLAkPub" JWK) -> TPM quote (signature, PCR digest) -> nonce binding
 * (quote extraData == binding->report_data exactly, no padding; evidence v2:
 * the runtime "user-data" starts with it; binding NULL = not checked).
 *
 * Claims: Trustee's names (az-snp-vtpm: snp fields as strings, measurement
 * in base64; az-tdx-vtpm: the tdx layout + DCAP supplemental claims), plus
 * tpm.pcr00..pcr23, report_data (hex extraData), init_data (hex PCR8), and
 * veritee extras: hcl {evidence_version, version, report_type, hash_type,
 * vm_configuration, user_data}, tpm_quote {clock, ...}, snp {...}.
 */
#ifndef VERITEE_AZURE_H
#define VERITEE_AZURE_H

#include "veritee/evidence.h"

VT_API extern const struct vt_tee vt_tee_az_snp_vtpm;
VT_API extern const struct vt_tee vt_tee_az_tdx_vtpm;

#endif
