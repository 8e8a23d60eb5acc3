/*
 * sim-gpu: a simulated GPU (INSECURE device TEE), so composite evidence
 * (a CPU TEE plus devices, kbs-protocol.md §14) runs end to end on any
 * machine: in `make demo`, in tests, in the benchmarks.
 *
 * Its KBS additional evidence has NVIDIA's shape:
 *   {"device_evidence_list": [{"arch": "SIM", "uuid": "GPU-...",
 *     "evidence": "<std base64 sim report>", "certificate": "<std base64 DER>"}]}
 * Each device's evidence is a sim report (veritee/sim.h) signed by a sim
 * platform key under the sim root; its report data is the digest of the
 * device runtime data, zero-padded.  It is accepted exactly when the
 * verifier accepts sim (the same explicit insecure opt-in): it has no
 * state of its own and uses sim's root.
 */
#include <stdio.h>
#include <string.h>

#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/sim.h"

#define SIM_GPU_ARCH "SIM"

static vt_status sim_gpu_verify(const struct vt_verify_ctx *ctx, const json_t *entry, const struct vt_binding *binding,
				json_t **claims_out, struct vt_err *err)
{
	if (!json_is_object(entry))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "device", "a device entry must be a JSON object");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)entry, k, v) {
		if (strcmp(k, "arch") != 0 && strcmp(k, "uuid") != 0 && strcmp(k, "evidence") != 0 &&
		    strcmp(k, "certificate") != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "device", "unknown member \"%.32s\"", k);
		if (!json_is_string(v))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, k, "member \"%s\" must be a string", k);
	}
	const char *arch = json_string_value(json_object_get(entry, "arch"));
	if (arch == NULL || strcmp(arch, SIM_GPU_ARCH) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arch", "sim-gpu devices have arch \"%s\"", SIM_GPU_ARCH);
	json_t *sim_ev = json_pack("{s:O?, s:O?}", "report", json_object_get(entry, "evidence"), "platform_cert",
				   json_object_get(entry, "certificate"));
	if (sim_ev == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "device", "out of memory");
	json_t *claims = NULL;
	vt_status rc = vt_tee_sim.verify(ctx, sim_ev, binding, &claims, err);
	json_decref(sim_ev);
	if (rc != VT_OK)
		return rc;
	json_object_set_new(claims, "arch", json_string(arch));
	const char *uuid = json_string_value(json_object_get(entry, "uuid"));
	if (uuid)
		json_object_set_new(claims, "uuid", json_string(uuid));
	*claims_out = claims;
	return VT_OK;
}

static const char *gpu_class(const json_t *entry)
{
	(void)entry;
	return "gpu";
}

static vt_status sim_gpu_devices(const json_t *value, size_t max, json_t **devices_out, struct vt_err *err)
{
	return vt_device_list_split(value, "sim-gpu", max, gpu_class, devices_out, err);
}

/* hardware 2 when the sim verifier passed; executables 2 when the firmware
 * measurement is a reference value (sim_gpu_measurement). */
static const char sim_gpu_policy[] =
	"{\"version\":1,\"id\":\"default_sim-gpu\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33},"
	"\"rules\":["
	"{\"name\":\"sim-gpu-verified\",\"claim\":\"/sim-gpu/platform_id\",\"exists\":true,"
	"\"description\":\"the sim verifier checked the device chain and signature (INSECURE TEE)\","
	"\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"gpu-firmware-approved\",\"claim\":\"/sim-gpu/measurement\",\"in_reference\":\"sim_gpu_measurement\","
	"\"on_pass\":{\"executables\":2},\"on_fail\":{\"executables\":33}}"
	"]}";

static const struct vt_tee *const sim_gpu_uses[] = {&vt_tee_sim, NULL};

const struct vt_tee vt_tee_sim_gpu = {
	.name = "sim-gpu",
	.insecure = true,
	.flags = VT_TEE_INSECURE | VT_TEE_DEVICE,
	.summary = "simulated GPU (device evidence next to a CPU TEE's; accepted when sim is)",
	.default_policy = sim_gpu_policy,
	.uses = sim_gpu_uses,
	.verify = sim_gpu_verify,
	.devices = sim_gpu_devices,
};
