/*
 * nvidia attester: NVIDIA GPUs in confidential-computing mode, through NVML
 * loaded at run time (dlopen), so veritee builds and runs without any
 * NVIDIA package; only a guest with GPUs needs libnvidia-ml.so.1.
 *
 * For every GPU NVML lists: an SPDM GET_MEASUREMENTS report over the first
 * 32 bytes of the report data (the device runtime data's digest, as Trustee
 * truncates it) and the device's attestation certificate chain.  Output:
 * the KBS additional-evidence value of "nvidia",
 *   {"device_evidence_list": [{"arch", "uuid", "evidence", "certificate"}]}
 * with the evidence and the PEM chain in standard base64, as guest-components
 * sends them.  NVSwitches (PPCIe systems) are reached through NSCQ, not NVML,
 * and are not gathered here.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/util.h"

/* NVML's ABI (nvml.h, r535 and later): only what this file calls. */
#define NVML_SUCCESS 0
#define NVML_DEVICE_ARCH_HOPPER 9
#define NVML_DEVICE_ARCH_BLACKWELL 10
#define NVML_UUID_SIZE 96
#define NVML_GPU_CERT_CHAIN_SIZE 0x1000
#define NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE 0x1400
#define NVML_CC_GPU_CEC_NONCE_SIZE 0x20
#define NVML_CC_GPU_ATTESTATION_REPORT_SIZE 0x2000
#define NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE 0x1000
#define MAX_GPUS 64

typedef int nvml_return;
typedef void *nvml_device;

struct nvml_cert {
	unsigned int cert_chain_size;
	unsigned int attestation_cert_chain_size;
	unsigned char cert_chain[NVML_GPU_CERT_CHAIN_SIZE];
	unsigned char attestation_cert_chain[NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE];
};

struct nvml_report {
	unsigned int is_cec_report_present;
	unsigned int report_size;
	unsigned int cec_report_size;
	unsigned char nonce[NVML_CC_GPU_CEC_NONCE_SIZE];
	unsigned char report[NVML_CC_GPU_ATTESTATION_REPORT_SIZE];
	unsigned char cec_report[NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE];
};

struct nvml {
	void *lib;
	nvml_return (*init)(void);
	nvml_return (*shutdown)(void);
	const char *(*error_string)(nvml_return);
	nvml_return (*count)(unsigned int *);
	nvml_return (*handle)(unsigned int, nvml_device *);
	nvml_return (*uuid)(nvml_device, char *, unsigned int);
	nvml_return (*arch)(nvml_device, unsigned int *);
	nvml_return (*report)(nvml_device, struct nvml_report *);
	nvml_return (*cert)(nvml_device, struct nvml_cert *);
};

static vt_status nvml_fail(const struct nvml *n, const char *call, nvml_return r, struct vt_err *err)
{
	const char *why = n->error_string ? n->error_string(r) : NULL;
	return vt_fail(err, VT_E_IO, VT_STEP_IO, "nvml", "%s failed: %s (NVML error %d)", call, why ? why : "?", r);
}

static vt_status nvml_open(const char *path, struct nvml *n, struct vt_err *err)
{
	memset(n, 0, sizeof(*n));
	n->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (n->lib == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_IO, "nvml",
			       "cannot load %s (no NVIDIA driver in this guest?): %s", path, dlerror());
	struct {
		const char *name;
		void **slot;
	} syms[] = {
		{"nvmlInit_v2", (void **)&n->init},
		{"nvmlShutdown", (void **)&n->shutdown},
		{"nvmlErrorString", (void **)&n->error_string},
		{"nvmlDeviceGetCount_v2", (void **)&n->count},
		{"nvmlDeviceGetHandleByIndex_v2", (void **)&n->handle},
		{"nvmlDeviceGetUUID", (void **)&n->uuid},
		{"nvmlDeviceGetArchitecture", (void **)&n->arch},
		{"nvmlDeviceGetConfComputeGpuAttestationReport", (void **)&n->report},
		{"nvmlDeviceGetConfComputeGpuCertificate", (void **)&n->cert},
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(n->lib, syms[i].name);
		if (*syms[i].slot == NULL) {
			dlclose(n->lib);
			n->lib = NULL;
			return vt_fail(err, VT_E_NOTFOUND, VT_STEP_IO, "nvml",
				       "%s has no %s (driver older than r535, without confidential computing?)", path,
				       syms[i].name);
		}
	}
	nvml_return r = n->init();
	if (r != NVML_SUCCESS) {
		vt_status rc = nvml_fail(n, "nvmlInit", r, err);
		dlclose(n->lib);
		n->lib = NULL;
		return rc;
	}
	return VT_OK;
}

static void nvml_close(struct nvml *n)
{
	if (n->lib) {
		n->shutdown();
		dlclose(n->lib);
	}
}

/* One GPU's entry; bounded copies of what NVML returns. */
static vt_status one_gpu(const struct nvml *n, unsigned int i, const uint8_t nonce[32], json_t **entry_out,
			 struct vt_err *err)
{
	nvml_device dev = NULL;
	nvml_return r = n->handle(i, &dev);
	if (r != NVML_SUCCESS)
		return nvml_fail(n, "nvmlDeviceGetHandleByIndex", r, err);
	char uuid[NVML_UUID_SIZE + 1] = {0};
	if ((r = n->uuid(dev, uuid, NVML_UUID_SIZE)) != NVML_SUCCESS)
		return nvml_fail(n, "nvmlDeviceGetUUID", r, err);
	unsigned int arch = 0;
	if ((r = n->arch(dev, &arch)) != NVML_SUCCESS)
		return nvml_fail(n, "nvmlDeviceGetArchitecture", r, err);
	const char *arch_name = arch == NVML_DEVICE_ARCH_HOPPER ? "HOPPER" : arch == NVML_DEVICE_ARCH_BLACKWELL ? "BLACKWELL" : NULL;
	if (arch_name == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "nvml", "GPU %u (%s) is not a Hopper or Blackwell GPU (NVML arch %u)",
			       i, uuid, arch);
	struct nvml_report *rep = calloc(1, sizeof(*rep));
	struct nvml_cert *cert = calloc(1, sizeof(*cert));
	char *ev = NULL, *chain = NULL;
	vt_status rc = VT_OK;
	if (rep == NULL || cert == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "nvml", "out of memory");
		goto out;
	}
	memcpy(rep->nonce, nonce, 32);
	if ((r = n->report(dev, rep)) != NVML_SUCCESS) {
		rc = nvml_fail(n, "nvmlDeviceGetConfComputeGpuAttestationReport", r, err);
		goto out;
	}
	if ((r = n->cert(dev, cert)) != NVML_SUCCESS) {
		rc = nvml_fail(n, "nvmlDeviceGetConfComputeGpuCertificate", r, err);
		goto out;
	}
	/* Sizes come from the driver: never past the arrays they describe. */
	if (rep->report_size == 0 || rep->report_size > sizeof(rep->report) || cert->attestation_cert_chain_size == 0 ||
	    cert->attestation_cert_chain_size > sizeof(cert->attestation_cert_chain)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_IO, "nvml", "GPU %u: NVML returned sizes %u / %u out of range", i,
			     rep->report_size, cert->attestation_cert_chain_size);
		goto out;
	}
	ev = vt_b64_encode(rep->report, rep->report_size);
	chain = vt_b64_encode(cert->attestation_cert_chain, cert->attestation_cert_chain_size);
	*entry_out = ev && chain ? json_pack("{s:s, s:s, s:s, s:s}", "arch", arch_name, "uuid", uuid, "evidence", ev,
					     "certificate", chain)
				 : NULL;
	if (*entry_out == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "nvml", "out of memory");
out:
	free(ev);
	free(chain);
	free(rep);
	free(cert);
	return rc;
}

static vt_status nvidia_attest(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
			       struct vt_err *err)
{
	const char *path = json_string_value(json_object_get(o, "nvml"));
	struct nvml n;
	vt_status rc = nvml_open(path ? path : "libnvidia-ml.so.1", &n, err);
	if (rc != VT_OK)
		return rc;
	json_t *list = json_array();
	unsigned int count = 0;
	nvml_return r = n.count(&count);
	if (list == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "nvml", "out of memory");
	else if (r != NVML_SUCCESS)
		rc = nvml_fail(&n, "nvmlDeviceGetCount", r, err);
	else if (count == 0 || count > MAX_GPUS)
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_IO, "nvml", "NVML lists %u GPUs (want 1..%d)", count, MAX_GPUS);
	for (unsigned int i = 0; rc == VT_OK && i < count; i++) {
		json_t *entry = NULL;
		rc = one_gpu(&n, i, report_data, &entry, err);
		if (rc == VT_OK && json_array_append_new(list, entry) != 0)
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "nvml", "out of memory");
	}
	nvml_close(&n);
	if (rc == VT_OK && (*evidence_out = json_pack("{s:O}", "device_evidence_list", list)) == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "nvml", "out of memory");
	json_decref(list);
	return rc;
}

static const struct vt_tee_option nvidia_attest_options[] = {
	{"nvml", "LIB", true, "the NVML library to load (default libnvidia-ml.so.1)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_nvidia = {
	.name = "nvidia",
	.summary = "NVIDIA GPUs (Hopper, Blackwell) in CC mode through NVML: device evidence (--gpu / --device nvidia)",
	.options = nvidia_attest_options,
	.attest = nvidia_attest,
};
