/* The verifier state of a DCAP TEE (tdx, sgx): see state.c. */
#ifndef VT_EVIDENCE_DCAP_STATE_H
#define VT_EVIDENCE_DCAP_STATE_H

#include "veritee/dcap.h"
#include "veritee/evidence.h"

extern const struct vt_tee_option vt_dcap_options[];
vt_status vt_dcap_state_new(const struct vt_verifier *v, const json_t *options, void **state, struct vt_err *err);
void vt_dcap_state_free(void *state);
/* ctx with .dcap set to `tee`'s state in ctx->verifier (unchanged without one). */
struct vt_verify_ctx vt_dcap_ctx(const struct vt_verify_ctx *ctx, const struct vt_tee *tee);

#endif
