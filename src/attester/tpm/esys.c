/* ESAPI connection and TSS2 errors (esys.h). */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>

#include "attester/tpm/esys.h"
#include "attester/tpm/tpm_attester.h"

const char *vt_tpm_tcti_or_default(const char *conf)
{
	if (conf != NULL && *conf != '\0')
		return conf;
	const char *env = getenv("VERITEE_TPM_TCTI");
	return (env && *env) ? env : VT_TPM_DEFAULT_TCTI;
}

TSS2_RC vt_tpm_rc_code(TSS2_RC r)
{
	TSS2_RC layer = r & TSS2_RC_LAYER_MASK;
	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return r;
	r &= 0xFFFFu;
	/* Format-one errors carry a parameter/handle/session number: drop it. */
	if (r & TPM2_RC_FMT1)
		return (r & 0x3Fu) | TPM2_RC_FMT1;
	return r;
}

bool vt_tpm_rc_is_tcti(TSS2_RC r)
{
	return (r & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER;
}

bool vt_tpm_rc_is_tpm(TSS2_RC r)
{
	TSS2_RC layer = r & TSS2_RC_LAYER_MASK;
	return layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER;
}

vt_status vt_tpm_tss_fail(const char *conf, struct vt_err *err, const char *what, TSS2_RC r)
{
	if (vt_tpm_rc_is_tcti(r))
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm", "%s: lost the TPM (TCTI \"%.200s\"): %s (0x%x)", what,
			       conf ? conf : "?", Tss2_RC_Decode(r), (unsigned)r);
	return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm", "%s failed: %s (0x%x)", what, Tss2_RC_Decode(r), (unsigned)r);
}

vt_status vt_tpm_esys_open(const char *conf, TSS2_TCTI_CONTEXT **tcti, ESYS_CONTEXT **esys, struct vt_err *err)
{
	*tcti = NULL;
	*esys = NULL;
	if (strlen(conf) > VT_TPM_TCTI_CONF_MAX)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tpm_tcti", "TCTI configuration is longer than %d bytes",
			       VT_TPM_TCTI_CONF_MAX);
	TSS2_RC r = Tss2_TctiLdr_Initialize(conf, tcti);
	if (r != TSS2_RC_SUCCESS) {
		*tcti = NULL;
		if (vt_tpm_rc_is_tcti(r) && (r & 0xFFFFu) == TSS2_BASE_RC_IO_ERROR)
			return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm_tcti",
				       "TPM not reachable through TCTI \"%.200s\": %s (0x%x)", conf, Tss2_RC_Decode(r),
				       (unsigned)r);
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tpm_tcti",
			       "cannot load or configure TCTI \"%.200s\" (expected e.g. \"device:/dev/tpmrm0\" or "
			       "\"swtpm:host=127.0.0.1,port=2321\"): %s (0x%x)",
			       conf, Tss2_RC_Decode(r), (unsigned)r);
	}
	r = Esys_Initialize(esys, *tcti, NULL);
	if (r != TSS2_RC_SUCCESS) {
		*esys = NULL;
		vt_tpm_esys_close(tcti, esys);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm_tcti", "cannot initialize ESAPI on TCTI \"%.200s\": %s (0x%x)",
			       conf, Tss2_RC_Decode(r), (unsigned)r);
	}
	/* A simulator may need TPM2_Startup; a started TPM answers
	 * TPM_RC_INITIALIZE and a kernel resource manager may refuse the
	 * command: both are fine.  Only a dead transport is an error here. */
	r = Esys_Startup(*esys, TPM2_SU_CLEAR);
	if (r != TSS2_RC_SUCCESS && vt_tpm_rc_is_tcti(r)) {
		vt_tpm_esys_close(tcti, esys);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm_tcti", "TPM not reachable through TCTI \"%.200s\": %s (0x%x)",
			       conf, Tss2_RC_Decode(r), (unsigned)r);
	}
	return VT_OK;
}

void vt_tpm_esys_close(TSS2_TCTI_CONTEXT **tcti, ESYS_CONTEXT **esys)
{
	if (*esys)
		Esys_Finalize(esys);
	*esys = NULL;
	if (*tcti)
		Tss2_TctiLdr_Finalize(tcti);
	*tcti = NULL;
}

void vt_tpm_flush(ESYS_CONTEXT *esys, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE)
		(void)Esys_FlushContext(esys, *h);
	*h = ESYS_TR_NONE;
}
