/*
 * The `sgx` TEE: Intel SGX ECDSA quotes (v3) verified with DCAP collateral
 * (src/evidence/dcap/verify.c), claims named as Trustee's sgx verifier names
 * them (policy-and-reference-values.md §3.5: header.*, body.* with the
 * literal keys "attributes.flags" / "attributes.xfrm") plus veritee's extras
 * (tcb_status, advisory_ids, tcb_date, latest_tcb_date, qe_tcb_status, debug).
 *
 * Evidence (Trustee's form): {"quote": "<std base64>"}.
 */
#include <stdlib.h>
#include <string.h>

#include "evidence/dcap/state.h"
#include "veritee/dcap.h"
#include "veritee/json.h"
#include "veritee/util.h"

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

static vt_status check_members(const json_t *evidence, struct vt_err *err)
{
	if (!json_is_object(evidence))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "sgx evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)evidence, key, value) {
		(void)value;
		if (strcmp(key, "quote") != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	return VT_OK;
}

#define HEX(obj, key, off, n) VT_GUARD(vt_dcap_claim_hex((obj), (key), (off), (n), err))

static vt_status make_claims(const struct vt_dcap_quote *q, const struct vt_dcap_result *res, json_t **out,
			     struct vt_err *err)
{
	vt_status rc = VT_OK;
	const uint8_t *h = q->signed_region; /* header as received */
	const uint8_t *r = q->sgx.raw;       /* REPORTBODY as received (§2.1 offsets) */
	json_t *c = json_object(), *hdr = json_object(), *body = json_object();
	if (c == NULL || hdr == NULL || body == NULL) {
		rc = oom(err);
		goto out;
	}
	HEX(hdr, "version", h + 0, 2);
	HEX(hdr, "att_key_type", h + 2, 2);
	HEX(hdr, "att_key_data_0", h + 4, 4);
	HEX(hdr, "qe_svn", h + 8, 2);
	HEX(hdr, "pce_svn", h + 10, 2);
	HEX(hdr, "vendor_id", h + 12, 16);
	HEX(hdr, "user_data", h + 28, 20);

	HEX(body, "cpu_svn", r + 0, 16);
	HEX(body, "misc_select", r + 16, 4);
	HEX(body, "reserved1", r + 20, 12);
	HEX(body, "isv_ext_prod_id", r + 32, 16);
	HEX(body, "attributes.flags", r + 48, 8);
	HEX(body, "attributes.xfrm", r + 56, 8);
	HEX(body, "mr_enclave", r + 64, 32);
	HEX(body, "reserved2", r + 96, 32);
	HEX(body, "mr_signer", r + 128, 32);
	HEX(body, "reserved3", r + 160, 32);
	HEX(body, "config_id", r + 192, 64);
	HEX(body, "isv_prod_id", r + 256, 2);
	HEX(body, "isv_svn", r + 258, 2);
	HEX(body, "config_svn", r + 260, 2);
	HEX(body, "reserved4", r + 262, 42);
	HEX(body, "isv_family_id", r + 304, 16);
	HEX(body, "report_data", r + 320, 64);
	if (json_object_set(c, "header", hdr) != 0 || json_object_set(c, "body", body) != 0) {
		rc = oom(err);
		goto out;
	}
	VT_GUARD(vt_dcap_result_claims(res, c, err));
	bool debug = (r[48] & 0x02) != 0; /* attributes.flags bit 1 = DEBUG */
	if (json_object_set_new(c, "debug", json_boolean(debug)) != 0) {
		rc = oom(err);
		goto out;
	}
	HEX(c, "report_data", q->sgx.report_data, 64);
	HEX(c, "init_data", q->sgx.config_id, 64);
	*out = c;
	c = NULL;
out:
	json_decref(c);
	json_decref(hdr);
	json_decref(body);
	return rc;
}

static vt_status sgx_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	uint8_t *quote = NULL;
	struct vt_dcap_quote q;
	struct vt_dcap_result res;
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	VT_GUARD(check_members(evidence, err));
	struct vt_verify_ctx dctx = vt_dcap_ctx(ctx, &vt_tee_sgx);
	VT_GUARD(vt_dcap_verify_evidence(&dctx, evidence, VT_DCAP_TEE_SGX, binding, &quote, &q, &res, err));
	VT_GUARD(make_claims(&q, &res, claims_out, err));
out:
	free(quote);
	return rc;
}

/* SGX enclaves: the TDX shape on mr_enclave / mr_signer. */
static const char sgx_policy[] =
	"{\"version\":1,\"id\":\"default_sgx\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"sgx-quote-verified\",\"claim\":\"/sgx/body/mr_enclave\",\"exists\":true,\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"tcb-up-to-date\",\"claim\":\"/sgx/tcb_status\",\"equals\":\"UpToDate\",\"on_fail\":{\"hardware\":32}},"
	"{\"name\":\"collateral-fresh\",\"claim\":\"/sgx/collateral_expiration_status\",\"equals\":\"0\","
	"\"on_fail\":{\"hardware\":32}},"
	"{\"name\":\"mr-enclave\",\"claim\":\"/sgx/body/mr_enclave\",\"in_reference\":\"sgx_mr_enclave\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"mr-signer\",\"claim\":\"/sgx/body/mr_signer\",\"in_reference\":\"sgx_mr_signer\","
	"\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"debug-disabled\",\"claim\":\"/sgx/debug\",\"equals\":false,"
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}}"
	"]}";

const struct vt_tee vt_tee_sgx = {
	.name = "sgx",
	.summary = "Intel SGX quote (v3): Trustee's JSON, the raw quote or hex text",
	.default_policy = sgx_policy,
	.options = vt_dcap_options,
	.state_new = vt_dcap_state_new,
	.state_free = vt_dcap_state_free,
	.verify = sgx_verify,
	.load_file = vt_dcap_load_file,
	.init_data = VT_INIT_DATA_PAD,
};
