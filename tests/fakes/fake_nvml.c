/*
 * A stand-in for libnvidia-ml.so.1 with only the calls the nvidia attester
 * makes, for tests on machines without NVIDIA GPUs.  It serves the attestation
 * report and certificate chain named by $FAKE_NVML_REPORT (raw bytes) and
 * $FAKE_NVML_CHAIN, as many GPUs as $FAKE_NVML_COUNT (default 1), and
 * remembers the nonce it was asked for (fake_nvml_last_nonce).  Layouts are
 * NVML's (nvml.h, r535+).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct report {
	unsigned int is_cec_report_present, report_size, cec_report_size;
	unsigned char nonce[32], report[0x2000], cec_report[0x1000];
};
struct cert {
	unsigned int cert_chain_size, attestation_cert_chain_size;
	unsigned char cert_chain[0x1000], attestation_cert_chain[0x1400];
};

static unsigned char last_nonce[32];
static int inited;

const unsigned char *fake_nvml_last_nonce(void);
int nvmlInit_v2(void);
int nvmlShutdown(void);
const char *nvmlErrorString(int r);
int nvmlDeviceGetCount_v2(unsigned int *n);
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev);
int nvmlDeviceGetUUID(void *dev, char *out, unsigned int size);
int nvmlDeviceGetArchitecture(void *dev, unsigned int *arch);
int nvmlDeviceGetConfComputeGpuAttestationReport(void *dev, struct report *r);
int nvmlDeviceGetConfComputeGpuCertificate(void *dev, struct cert *c);

const unsigned char *fake_nvml_last_nonce(void)
{
	return last_nonce;
}

static size_t slurp(const char *env, unsigned char *out, size_t max)
{
	const char *path = getenv(env);
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (f == NULL)
		return 0;
	size_t n = fread(out, 1, max, f);
	fclose(f);
	return n;
}

int nvmlInit_v2(void)
{
	inited = 1;
	return getenv("FAKE_NVML_INIT_FAILS") ? 9 /* NVML_ERROR_DRIVER_NOT_LOADED */ : 0;
}

int nvmlShutdown(void)
{
	inited = 0;
	return 0;
}

const char *nvmlErrorString(int r)
{
	return r == 9 ? "Driver Not Loaded" : "Unknown Error";
}

int nvmlDeviceGetCount_v2(unsigned int *n)
{
	const char *c = getenv("FAKE_NVML_COUNT");
	*n = c ? (unsigned int)atoi(c) : 1;
	return inited ? 0 : 1;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev)
{
	*dev = (void *)(unsigned long)(i + 1);
	return 0;
}

int nvmlDeviceGetUUID(void *dev, char *out, unsigned int size)
{
	snprintf(out, size, "GPU-fa4e0000-0000-0000-0000-%012lu", (unsigned long)dev);
	return 0;
}

int nvmlDeviceGetArchitecture(void *dev, unsigned int *arch)
{
	(void)dev;
	*arch = getenv("FAKE_NVML_ARCH") ? (unsigned int)atoi(getenv("FAKE_NVML_ARCH")) : 9; /* Hopper */
	return 0;
}

int nvmlDeviceGetConfComputeGpuAttestationReport(void *dev, struct report *r)
{
	(void)dev;
	memcpy(last_nonce, r->nonce, sizeof(last_nonce));
	r->report_size = (unsigned int)slurp("FAKE_NVML_REPORT", r->report, sizeof(r->report));
	if (getenv("FAKE_NVML_BAD_SIZE"))
		r->report_size = 0x3000; /* a driver bug: past the array */
	return 0;
}

int nvmlDeviceGetConfComputeGpuCertificate(void *dev, struct cert *c)
{
	(void)dev;
	c->attestation_cert_chain_size =
		(unsigned int)slurp("FAKE_NVML_CHAIN", c->attestation_cert_chain, sizeof(c->attestation_cert_chain));
	return 0;
}
