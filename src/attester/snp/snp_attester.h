/* SEV-SNP attester, private: the evidence JSON the registry returns. */
#ifndef VT_SNP_ATTESTER_H
#define VT_SNP_ATTESTER_H

#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"
#include "veritee/snp.h"

/*
 * Report for `report_data` at VMPL 0 through vt_snp_attest_raw, as the
 * `snp` primary evidence Trustee's verifier takes:
 *   {"attestation_report": {...serde...},
 *    "cert_chain": [{"cert_type": "ARK"|"ASK"|"VCEK"|"VLEK"|"CRL", "data": [bytes]}] | null}
 * cert_chain is null when the host supplied no certificate table or none of
 * its entries is of a known kind (unknown GUIDs are skipped).
 */
vt_status vt_snp_attest_evidence(const struct vt_snp_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err);

#endif
