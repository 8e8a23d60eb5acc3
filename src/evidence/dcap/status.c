/* TCB status names, exactly as Intel spells them (PCS API v4, QVL TcbStatus). */
#include <string.h>

#include "veritee/dcap.h"

static const char *const status_names[] = {
	[VT_TCB_UP_TO_DATE] = "UpToDate",
	[VT_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
	[VT_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
	[VT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
	[VT_TCB_OUT_OF_DATE] = "OutOfDate",
	[VT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
	[VT_TCB_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
	[VT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
	[VT_TCB_REVOKED] = "Revoked",
	[VT_TCB_NOT_SUPPORTED] = "NotSupported",
	[VT_TCB_NOT_EVALUATED] = "NotEvaluated",
};

const char *vt_tcb_status_name(vt_tcb_status s)
{
	if ((unsigned)s < sizeof(status_names) / sizeof(status_names[0]) && status_names[s] != NULL)
		return status_names[s];
	return "Unknown";
}

/* Only the statuses Intel's collateral can carry; "NotSupported" is our
 * verdict for "no level matched" and never appears in collateral. */
vt_status vt_tcb_status_parse(const char *name, vt_tcb_status *out, struct vt_err *err)
{
	if (name != NULL) {
		for (unsigned i = VT_TCB_UP_TO_DATE; i <= VT_TCB_REVOKED; i++) {
			if (strcmp(name, status_names[i]) == 0) {
				*out = (vt_tcb_status)i;
				return VT_OK;
			}
		}
	}
	return vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, "tcbStatus", "unrecognized status \"%.40s\"",
		       name ? name : "(null)");
}
