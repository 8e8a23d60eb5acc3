/* TDX attester, private: the evidence JSON the registry returns. */
#ifndef VT_TDX_ATTESTER_H
#define VT_TDX_ATTESTER_H

#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"

struct vt_tdx_attest_paths {
	const char *configfs_root; /* NULL: /sys/kernel/config/tsm/report */
	const char *ccel_path;     /* NULL: /sys/firmware/acpi/tables/data/CCEL */
};

/*
 * A TD quote binding `report_data`, through configfs-tsm (provider
 * tdx_guest), as Trustee's `tdx` primary evidence:
 *   {"quote": "<std base64>", "cc_eventlog": "<std base64>" | null}
 * cc_eventlog is null when the CCEL data file does not exist.
 * No configfs-tsm root: VT_E_USAGE "no TDX guest interface ...".
 */
vt_status vt_tdx_attest_evidence(const struct vt_tdx_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err);

#endif
