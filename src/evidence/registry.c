/* The TEE registry: one line per evidence format. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "veritee/azure.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/gce.h"
#include "veritee/sim.h"
#include "veritee/snp.h"
#include "veritee/tpm.h"

static const struct vt_tee *const TEES[] = {
	&vt_tee_sim,
	&vt_tee_snp,
	&vt_tee_tdx,
	&vt_tee_sgx,
	&vt_tee_tpm,
	&vt_tee_az_snp_vtpm,
	&vt_tee_az_tdx_vtpm,
	&vt_tee_gce_vtpm, /* CLI only: no KBS tee string, the broker has no Google roots */
};

#define TEE_COUNT (sizeof(TEES) / sizeof(TEES[0]))

const struct vt_tee *vt_tee_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < TEE_COUNT; i++)
		if (strcmp(TEES[i]->name, name) == 0)
			return TEES[i];
	return NULL;
}

static char names_buf[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
	size_t off = 0;
	for (size_t i = 0; i < TEE_COUNT; i++) {
		int n = snprintf(names_buf + off, sizeof(names_buf) - off, "%s%s", i ? "," : "", TEES[i]->name);
		if (n < 0 || (size_t)n >= sizeof(names_buf) - off)
			break; /* cannot happen with a handful of short names; keeps what fit */
		off += (size_t)n;
	}
}

const char *vt_tee_names(void)
{
	pthread_once(&names_once, build_names);
	return names_buf;
}
