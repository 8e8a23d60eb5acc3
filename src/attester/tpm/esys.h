/* One ESAPI connection through a TCTI, and the TSS2 error helpers: shared
 * by the TPM attester (attest.c) and local TPM sealing (src/seal). */
#ifndef VT_TPM_ESYS_H
#define VT_TPM_ESYS_H

#include <stdbool.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "veritee/err.h"

#define VT_TPM_TCTI_CONF_MAX 1024

/* `conf` when set, else $VERITEE_TPM_TCTI, else VT_TPM_DEFAULT_TCTI. */
const char *vt_tpm_tcti_or_default(const char *conf);

/* Load the TCTI, initialize ESAPI and send TPM2_Startup (a started TPM's
 * TPM_RC_INITIALIZE and a resource manager's refusal are fine).  On
 * failure nothing is left open.  VT_E_USAGE for a TCTI that cannot be
 * loaded or configured, VT_E_IO for a TPM that cannot be reached. */
vt_status vt_tpm_esys_open(const char *conf, TSS2_TCTI_CONTEXT **tcti, ESYS_CONTEXT **esys, struct vt_err *err);
/* Finalize both (the caller flushes its handles first); NULLs are fine. */
void vt_tpm_esys_close(TSS2_TCTI_CONTEXT **tcti, ESYS_CONTEXT **esys);
/* Flush a transient handle (an object or session) unless ESYS_TR_NONE,
 * and set it to ESYS_TR_NONE. */
void vt_tpm_flush(ESYS_CONTEXT *esys, ESYS_TR *h);

/* The response code without its layer and parameter/handle/session number. */
TSS2_RC vt_tpm_rc_code(TSS2_RC r);
bool vt_tpm_rc_is_tcti(TSS2_RC r);
bool vt_tpm_rc_is_tpm(TSS2_RC r);
/* "WHAT failed: <decoded> (0x..)", or "WHAT: lost the TPM (TCTI ...)". */
vt_status vt_tpm_tss_fail(const char *conf, struct vt_err *err, const char *what, TSS2_RC r);

#endif
