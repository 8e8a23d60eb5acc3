/* The state of a DCAP TEE (tdx, sgx) in a verifier: its collateral sources,
 * built from the TEE's options.  Shared by both descriptors. */
#include <stdlib.h>
#include <string.h>

#include "evidence/dcap/state.h"
#include "veritee/verifier.h"

struct dcap_state {
	struct vt_dcap_sources src;
	char *collateral, *pccs, *cache;
};

const struct vt_tee_option vt_dcap_options[] = {
	{"collateral", "FILE|DIR", true,
	 "DCAP collateral: a dcap-qvl JSON bundle or a directory of PCS responses (tcbinfo.json, qeidentity.json, "
	 "*_issuer_chain.pem, pckcrl.der, rootcrl.der)"},
	{"pccs_url", "URL", false, "without collateral, fetch from this PCS/PCCS (default Intel PCS)"},
	{"cache", "DIR", true, "keep what was fetched here; with offline, use only it"},
	{"offline", NULL, false, "never contact PCS/PCCS"},
	{"grace", "SECONDS", false, "accept collateral this long past its nextUpdate (default 0)"},
	{"tcb_unevaluated_insecure", NULL, false,
	 "without collateral or pccs_url: never fetch; check the quote, QE report and PCK chain only, TCB status "
	 "\"NotEvaluated\" "
	 "(no revocation, QE identity or TCB level check)"},
	{NULL, NULL, false, NULL},
};

void vt_dcap_state_free(void *state)
{
	struct dcap_state *st = state;
	if (st == NULL)
		return;
	free(st->collateral);
	free(st->pccs);
	free(st->cache);
	free(st);
}

vt_status vt_dcap_state_new(const struct vt_verifier *v, const json_t *o, void **state, struct vt_err *err)
{
	struct dcap_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	st->collateral = vt_tee_opt_dup(o, "collateral");
	st->pccs = vt_tee_opt_dup(o, "pccs_url");
	st->cache = vt_tee_opt_dup(o, "cache");
	vt_status rc = vt_tee_opt_int(o, "grace", 0, 365 * 86400, &st->src.grace_seconds, err);
	if (rc == VT_OK && st->pccs && strncmp(st->pccs, "http", 4) != 0)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pccs_url", "pccs_url must be an http(s) URL");
	if (rc != VT_OK) {
		vt_dcap_state_free(st);
		return rc;
	}
	st->src.collateral_path = st->collateral;
	st->src.pccs_url = st->pccs;
	st->src.cache_dir = st->cache;
	st->src.offline = vt_tee_opt_flag(o, "offline");
	st->src.tcb_unevaluated_insecure = vt_tee_opt_flag(o, "tcb_unevaluated_insecure");
	st->src.gate = vt_verifier_fetch_gate(v);
	st->src.http_get = vt_verifier_http_get(v);
	st->src.caches = vt_verifier_caches(v);
	*state = st;
	return VT_OK;
}

struct vt_verify_ctx vt_dcap_ctx(const struct vt_verify_ctx *ctx, const struct vt_tee *tee)
{
	struct vt_verify_ctx c = *ctx;
	const struct dcap_state *st = vt_verify_state(ctx, tee);
	if (st != NULL)
		c.dcap = &st->src;
	return c;
}
