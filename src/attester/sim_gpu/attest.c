/*
 * sim-gpu attester: INSECURE simulated GPUs for composite evidence
 * (src/evidence/sim_gpu/verify.c).  Produces the whole additional-evidence
 * value of "sim-gpu": {"device_evidence_list": [one entry per device]},
 * each a sim report signed with the local sim platform key and binding the
 * device runtime data's digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/util.h"

#define DEFAULT_FIRMWARE "veritee sim gpu firmware"
#define MAX_SIM_GPUS 64

/* The measurement of the default simulated GPU firmware (48 bytes). */
static vt_status default_measurement(uint8_t out[48], struct vt_err *err)
{
	unsigned int n = 0;
	if (EVP_Digest(DEFAULT_FIRMWARE, strlen(DEFAULT_FIRMWARE), out, &n, EVP_sha384(), NULL) != 1 || n != 48)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "measurement", "SHA-384 failed");
	return VT_OK;
}

static vt_status sim_gpu_attest(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				struct vt_err *err)
{
	struct vt_sim_attest_opts so;
	vt_sim_attest_opts_default(&so);
	vt_status rc = default_measurement(so.measurement, err);
	if (rc != VT_OK)
		return rc;
	const char *m = json_string_value(json_object_get(o, "measurement"));
	if (m && vt_hex_decode_fixed(m, so.measurement, sizeof(so.measurement), err) != VT_OK)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "measurement", "measurement must be 48 bytes of hex");
	unsigned long count = 1;
	const char *c = json_string_value(json_object_get(o, "count"));
	if (c) {
		char *end = NULL;
		count = strtoul(c, &end, 10);
		if (end == c || *end != '\0' || count == 0 || count > MAX_SIM_GPUS)
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "count", "count must be 1..%d", MAX_SIM_GPUS);
	}
	const char *d = json_string_value(json_object_get(o, "sim_dir"));
	char *dir = d ? strdup(d) : vt_sim_default_dir();
	json_t *list = json_array();
	if (dir == NULL || list == NULL) {
		free(dir);
		json_decref(list);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	for (unsigned long i = 0; i < count && rc == VT_OK; i++) {
		json_t *ev = NULL;
		rc = vt_sim_attest(dir, &so, report_data, &ev, err);
		if (rc != VT_OK)
			break;
		char uuid[64];
		snprintf(uuid, sizeof(uuid), "GPU-5e00000-0000-4000-8000-%012lu", i);
		json_t *entry = json_pack("{s:s, s:s, s:O, s:O}", "arch", "SIM", "uuid", uuid, "evidence",
					  json_object_get(ev, "report"), "certificate", json_object_get(ev, "platform_cert"));
		json_decref(ev);
		if (entry == NULL || json_array_append_new(list, entry) != 0)
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	free(dir);
	if (rc == VT_OK) {
		*evidence_out = json_pack("{s:o}", "device_evidence_list", list);
		if (*evidence_out == NULL)
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	} else {
		json_decref(list);
	}
	return rc;
}

static const struct vt_tee_option sim_gpu_attest_options[] = {
	{"sim_dir", "DIR", true, "sim key directory (default $VERITEE_SIM_DIR or ~/.local/share/veritee/sim)"},
	{"count", "N", false, "number of simulated GPUs (default 1, at most 64)"},
	{"measurement", "HEX", false, "48-byte GPU firmware measurement (default: the demo firmware)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_sim_gpu = {
	.name = "sim-gpu",
	.insecure = true,
	.summary = "INSECURE simulated GPUs: device evidence for a composite round (with --device)",
	.options = sim_gpu_attest_options,
	.attest = sim_gpu_attest,
};
