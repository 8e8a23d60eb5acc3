/* Arm CCA attester, private: the evidence JSON the attester registry returns. */
#ifndef VT_CCA_ATTESTER_H
#define VT_CCA_ATTESTER_H

#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"

struct vt_cca_attest_paths {
	const char *configfs_root; /* NULL: /sys/kernel/config/tsm/report */
};

/*
 * A CCA attestation token whose realm challenge is `report_data`, through
 * configfs-tsm (provider arm_cca_guest, Linux >= 6.7 in a realm), as
 * Trustee's `cca` primary evidence (guest-components' CCA attester):
 *   {"token": [217, 1, 143, ...]}
 * The token is parsed (veritee/cca.h) and must carry `report_data` as its
 * realm challenge: VT_E_REJECTED step binding, field "realm.challenge",
 * otherwise.  No configfs-tsm root: VT_E_USAGE "no Arm CCA realm interface ...".
 */
vt_status vt_cca_attest_evidence(const struct vt_cca_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err);

#endif
