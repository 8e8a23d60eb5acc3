/*
 * veritee/attester.h — evidence producers, one per TEE, behind one call.
 */
#ifndef VERITEE_ATTESTER_H
#define VERITEE_ATTESTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"
#include "veritee/sim.h" /* vt_sim_default_dir */

struct vt_attest_opts {
	const char *sim_dir;           /* sim keys directory (NULL: default) */
	const uint8_t *sim_measurement;/* 48 bytes, NULL: default workload */
	uint32_t sim_svn;              /* 0: default (1) */
	bool sim_debug;
	const char *snp_configfs_root; /* SNP configfs-tsm report root (NULL: default; for tests) */
	const char *tdx_configfs_root; /* TDX configfs-tsm report root (NULL: /sys/kernel/config/tsm/report) */
	const char *tdx_ccel_path;     /* CC event log data (NULL: /sys/firmware/acpi/tables/data/CCEL) */
	const char *tpm_tcti;          /* tpm2-tss TCTI config (NULL: $VERITEE_TPM_TCTI, else device:/dev/tpmrm0) */
	const char *tpm_event_log;     /* TPM event log file (NULL: kernel's, device TCTI only; "none": omit) */
};

/* vt_sim_default_dir: see veritee/sim.h. */

/*
 * An attester: produces one TEE's evidence inside that TEE.  Parallel to
 * struct vt_tee (veritee/evidence.h): one descriptor in the TEE's folder
 * under src/attester/, one line in src/attester/attesters.def.
 */
struct vt_tee_option;
struct vt_attester {
	const char *name;                      /* the TEE's wire name */
	bool insecure;                         /* evidence proves nothing about hardware (sim) */
	const char *summary;                   /* one line for `veritee attest --help` */
	const struct vt_tee_option *options;   /* NULL-name terminated, or NULL */
	/* Evidence (the KBS primary_evidence JSON, new reference) binding 64
	 * bytes of report data; `options` is {name: string | true}. */
	vt_status (*attest)(const json_t *options, const uint8_t report_data[64], json_t **evidence_out,
			    struct vt_err *err);
};

VT_API const struct vt_attester *vt_attester_find(const char *name);
VT_API const struct vt_attester *vt_attester_at(size_t i);

/* Evidence from the attester of `tee` with its options (JSON, may be NULL).
 * Unknown TEE or an option it does not take: VT_E_USAGE. */
VT_API VT_MUST_USE vt_status vt_attest_with(const char *tee, const json_t *options, const uint8_t report_data[64],
					    json_t **evidence_out, struct vt_err *err);

/* The typed options above as `tee`'s attester option JSON (new reference;
 * only the options that attester takes), or NULL when out of memory. */
VT_API json_t *vt_attest_opts_json(const char *tee, const struct vt_attest_opts *opts);

/* The same with the typed options above (older callers). */
VT_API VT_MUST_USE vt_status vt_attest(const char *tee, const struct vt_attest_opts *opts, const uint8_t report_data[64],
				       json_t **evidence_out, struct vt_err *err);

#endif
