/* Attester registry: one branch per TEE that can produce evidence here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attester/snp/snp_attester.h"
#include "attester/tdx/tdx_attester.h"
#include "attester/tpm/tpm_attester.h"
#include "veritee/attester.h"
#include "veritee/sim.h"

/* mkdir -p for the parents of the sim dir (vt_sim_ensure_keys makes the last). */
static void make_parents(const char *dir)
{
	char *p = strdup(dir);
	if (p == NULL)
		return;
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			(void)!mkdir(p, 0700);
			*s = '/';
		}
	}
	free(p);
}

vt_status vt_attest(const char *tee, const struct vt_attest_opts *opts, const uint8_t report_data[64],
		    json_t **evidence_out, struct vt_err *err)
{
	if (strcmp(tee, "sim") == 0) {
		struct vt_sim_attest_opts so;
		vt_sim_attest_opts_default(&so);
		if (opts && opts->sim_measurement)
			memcpy(so.measurement, opts->sim_measurement, sizeof(so.measurement));
		if (opts && opts->sim_svn)
			so.svn = opts->sim_svn;
		if (opts)
			so.debug = opts->sim_debug;
		char *dir = (opts && opts->sim_dir) ? strdup(opts->sim_dir) : vt_sim_default_dir();
		if (dir == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		make_parents(dir);
		vt_status rc = vt_sim_attest(dir, &so, report_data, evidence_out, err);
		free(dir);
		return rc;
	}
	if (strcmp(tee, "snp") == 0) {
		struct vt_snp_attest_paths paths = {.configfs_root = opts ? opts->snp_configfs_root : NULL};
		return vt_snp_attest_evidence(&paths, report_data, evidence_out, err);
	}
	if (strcmp(tee, "tdx") == 0) {
		struct vt_tdx_attest_paths paths = {.configfs_root = opts ? opts->tdx_configfs_root : NULL,
						    .ccel_path = opts ? opts->tdx_ccel_path : NULL};
		return vt_tdx_attest_evidence(&paths, report_data, evidence_out, err);
	}
	if (strcmp(tee, "tpm") == 0) {
		struct vt_tpm_attest_opts to = {.tcti = opts ? opts->tpm_tcti : NULL,
						.event_log_path = opts ? opts->tpm_event_log : NULL};
		return vt_tpm_attest_evidence(&to, report_data, evidence_out, err);
	}
	return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "tee",
		       "no attester for tee \"%.32s\" (attesters: sim, snp, tdx, tpm)", tee);
}
