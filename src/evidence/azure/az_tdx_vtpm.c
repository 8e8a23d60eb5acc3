/*
 * The `az-tdx-vtpm` TEE: an Azure TDX confidential VM with the HCL
 * paravisor's vTPM (kbs-protocol.md §5.3; claims: policy-and-reference-
 * values.md §3.4).
 *
 * Evidence: {"version": 1|2, "tpm_quote": {"signature": hex, "message": hex,
 * "pcrs": [hex x 24]}, "hcl_report": base64url, "td_quote": base64url};
 * also Trustee's legacy v0 with byte arrays.
 *
 * The HCL report holds a TDREPORT, which is MAC-protected and cannot be
 * checked off the CPU; the TD quote (DCAP-verified with ctx->dcap
 * collateral, failing closed without it) is what is trusted, and its
 * report_data must equal the TDREPORT's and start with hash(variable data).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/azure/hcl.h"
#include "veritee/azure.h"
#include "veritee/dcap.h"
#include "veritee/util.h"

#define TDREPORT_REPORT_DATA 128u /* REPORTMACSTRUCT.report_data */
#define TDREPORT_MRTD (512u + 16u) /* TDINFO: attributes, xfam, MRTD */

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

static vt_status claim_bytes(const json_t *claims, const char *key, uint8_t *out, size_t n, struct vt_err *err)
{
	const json_t *body = json_object_get(json_object_get(claims, "quote"), "body");
	const char *h = json_string_value(json_object_get(body, key));
	if (h == NULL || vt_hex_decode_fixed(h, out, n, NULL) != VT_OK)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, key, "tdx claims lack quote.body.%s", key);
	return VT_OK;
}

static vt_status mismatch(struct vt_err *err, const char *field, const char *what, const uint8_t *a, const uint8_t *b,
			  size_t n)
{
	char *ha = vt_hex_encode(a, n), *hb = vt_hex_encode(b, n);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, field,
			       "the TD quote's %s differs from the HCL TDREPORT's: quote %s, TDREPORT %s", what,
			       ha ? ha : "?", hb ? hb : "?");
	free(ha);
	free(hb);
	return rc;
}

static vt_status az_tdx_verify(const struct vt_verify_ctx *ctx, const json_t *evidence,
			       const struct vt_binding *binding, json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	struct vt_az_evidence e;
	struct vt_hcl_runtime rt;
	struct vt_tpm_quote q;
	json_t *tdx_ev = NULL, *c = NULL;
	char *b64 = NULL;
	EVP_PKEY *ak = NULL;
	uint8_t rd[64], mrtd[48];
	memset(&e, 0, sizeof(e));
	memset(&rt, 0, sizeof(rt));
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");

	/* 1. parse */
	VT_GUARD(vt_az_evidence_parse(evidence, "td_quote", VT_HCL_REPORT_TYPE_TDX, &e, err));
	VT_GUARD(vt_hcl_runtime_parse(&e.report, &rt, err));

	/* 2. hardware: the TD quote through the DCAP verifier (fails closed without collateral) */
	b64 = vt_b64_encode(e.hw_extra, e.hw_extra_size);
	tdx_ev = b64 ? json_pack("{s:s}", "quote", b64) : NULL;
	if (tdx_ev == NULL) {
		rc = oom(err);
		goto out;
	}
	rc = vt_tee_tdx.verify(ctx, tdx_ev, NULL, &c, err);
	if (rc != VT_OK) {
		vt_err_context(err, "td_quote: tdx");
		goto out;
	}
	/* ... and it must be the TD the HCL report speaks for */
	VT_GUARD(claim_bytes(c, "report_data", rd, sizeof(rd), err));
	VT_GUARD(claim_bytes(c, "mr_td", mrtd, sizeof(mrtd), err));
	if (memcmp(rd, e.report.hw_report + TDREPORT_REPORT_DATA, 64) != 0) {
		rc = mismatch(err, "td_quote.report_data", "report_data", rd, e.report.hw_report + TDREPORT_REPORT_DATA,
			      64);
		goto out;
	}
	if (memcmp(mrtd, e.report.hw_report + TDREPORT_MRTD, 48) != 0) {
		rc = mismatch(err, "td_quote.mr_td", "MRTD", mrtd, e.report.hw_report + TDREPORT_MRTD, 48);
		goto out;
	}

	/* 3. binding of the runtime data */
	VT_GUARD(vt_hcl_check_var_data(&e.report, rd, err));

	/* 4. the vTPM AK, 5. the quote, 6. the nonce */
	VT_GUARD(vt_hcl_runtime_ak(&rt, &ak, err));
	VT_GUARD(vt_az_tpm_verify(&e, &rt, ak, binding, &q, err));

	/* 7. claims: the tdx layout + DCAP supplemental, report_data / init_data from the vTPM */
	VT_GUARD(vt_az_common_claims(&e, &rt, &q, c, err));
	*claims_out = c;
	c = NULL;
	rc = VT_OK;
out:
	json_decref(c);
	json_decref(tdx_ev);
	free(b64);
	EVP_PKEY_free(ak);
	vt_hcl_runtime_free(&rt);
	vt_az_evidence_free(&e);
	return rc;
}

static const char az_tdx_policy[] =
	"{\"version\":1,\"id\":\"default_az-tdx-vtpm\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"tdx-quote-verified\",\"claim\":\"/az-tdx-vtpm/quote/header/tee_type\",\"equals\":\"81000000\","
	"\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"tcb-up-to-date\",\"claim\":\"/az-tdx-vtpm/tcb_status\",\"equals\":\"UpToDate\","
	"\"on_fail\":{\"hardware\":32}},"
	"{\"name\":\"mr-td\",\"claim\":\"/az-tdx-vtpm/quote/body/mr_td\",\"in_reference\":\"mr_td\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"pcr11\",\"claim\":\"/az-tdx-vtpm/tpm/pcr11\",\"in_reference\":\"tdx_pcr11\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"xfam\",\"claim\":\"/az-tdx-vtpm/quote/body/xfam\",\"in_reference\":\"xfam\","
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":36}}"
	"]}";

static const struct vt_tee *const az_tdx_uses[] = {&vt_tee_tdx, NULL};

const struct vt_tee vt_tee_az_tdx_vtpm = {
	.name = "az-tdx-vtpm",
	.summary = "Azure TDX confidential VM: HCL report + TD quote + vTPM quote (Trustee's JSON); uses tdx's options",
	.default_policy = az_tdx_policy,
	.uses = az_tdx_uses,
	.verify = az_tdx_verify,
	.load_file = vt_az_load_file,
	.init_data = VT_INIT_DATA_PCR_EXTEND,
};
