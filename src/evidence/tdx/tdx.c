/*
 * The `tdx` TEE: Intel TDX quotes (v4, v5) verified with DCAP collateral
 * (src/evidence/dcap/verify.c), claims named as Trustee's tdx verifier names
 * them (policy-and-reference-values.md §3.3) plus veritee's extras
 * (qe_tcb_status, latest_tcb_date, debug).
 *
 * Evidence (Trustee's form): {"quote": "<std base64>", "cc_eventlog": "<std base64>" | null,
 * "aa_eventlog": ... (accepted, not evaluated)}.  When cc_eventlog is present
 * it is replayed and must reproduce RTMR0..2 (and RTMR3 if it extends it).
 */
#include <stdlib.h>
#include <string.h>

#include "evidence/tdx/eventlog.h"
#include "evidence/dcap/state.h"
#include "veritee/dcap.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define EVENTLOG_MAX_B64 ((size_t)64 << 20)

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

static vt_status check_members(const json_t *evidence, struct vt_err *err)
{
	if (!json_is_object(evidence))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "tdx evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)evidence, key, value) {
		if (strcmp(key, "quote") == 0)
			continue;
		if (strcmp(key, "cc_eventlog") == 0 || strcmp(key, "aa_eventlog") == 0) {
			if (!json_is_null(value) && !json_is_string(value))
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "\"%s\" is not a string or null", key);
			continue;
		}
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	return VT_OK;
}

#define HEX(obj, key, p, n) VT_GUARD(vt_dcap_claim_hex((obj), (key), (p), (n), err))

static vt_status set_bool(json_t *o, const char *k, bool v, struct vt_err *err)
{
	return json_object_set_new(o, k, json_boolean(v)) == 0 ? VT_OK : oom(err);
}

static vt_status make_claims(const struct vt_dcap_quote *q, const struct vt_dcap_result *res, json_t *events,
			     json_t **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	const struct vt_tdx_report_body *b = &q->tdx;
	const uint8_t *h = q->signed_region; /* the 48-byte header as received */
	json_t *c = json_object(), *quote = json_object(), *hdr = json_object(), *body = json_object(),
	       *attrs = json_object();
	if (c == NULL || quote == NULL || hdr == NULL || body == NULL || attrs == NULL) {
		rc = oom(err);
		goto out;
	}
	HEX(hdr, "version", h + 0, 2);
	HEX(hdr, "att_key_type", h + 2, 2);
	HEX(hdr, "tee_type", h + 4, 4);
	HEX(hdr, "reserved", h + 8, 4);
	HEX(hdr, "vendor_id", h + 12, 16);
	HEX(hdr, "user_data", h + 28, 20);

	uint8_t ta[8], xf[8];
	vt_put_le(ta, b->td_attributes, 8);
	vt_put_le(xf, b->xfam, 8);
	HEX(body, "tcb_svn", b->tee_tcb_svn, 16);
	HEX(body, "mr_seam", b->mr_seam, 48);
	HEX(body, "mrsigner_seam", b->mrsigner_seam, 48);
	HEX(body, "seam_attributes", b->seam_attributes, 8);
	HEX(body, "td_attributes", ta, 8);
	HEX(body, "xfam", xf, 8);
	HEX(body, "mr_td", b->mr_td, 48);
	HEX(body, "mr_config_id", b->mr_config_id, 48);
	HEX(body, "mr_owner", b->mr_owner, 48);
	HEX(body, "mr_owner_config", b->mr_owner_config, 48);
	HEX(body, "rtmr_0", b->rtmr[0], 48);
	HEX(body, "rtmr_1", b->rtmr[1], 48);
	HEX(body, "rtmr_2", b->rtmr[2], 48);
	HEX(body, "rtmr_3", b->rtmr[3], 48);
	HEX(body, "report_data", b->report_data, 64);
	if (b->has_v15) {
		HEX(body, "tee_tcb_svn2", b->tee_tcb_svn2, 16);
		HEX(body, "mr_servicetd", b->mr_servicetd, 48);
	}
	if (json_object_set(quote, "header", hdr) != 0 || json_object_set(quote, "body", body) != 0) {
		rc = oom(err);
		goto out;
	}
	if (q->version == 5) {
		uint8_t ty[2] = {(uint8_t)(q->body_type & 0xff), (uint8_t)(q->body_type >> 8)};
		uint32_t bs = b->has_v15 ? 648u : 584u;
		uint8_t sz[4] = {(uint8_t)bs, (uint8_t)(bs >> 8), 0, 0};
		HEX(quote, "type", ty, 2);
		HEX(quote, "size", sz, 4);
	}

	bool debug = (b->td_attributes & 1u) != 0;
	VT_GUARD(set_bool(attrs, "debug", debug, err));
	VT_GUARD(set_bool(attrs, "septve_disable", (b->td_attributes >> 28) & 1u, err));
	VT_GUARD(set_bool(attrs, "protection_keys", (b->td_attributes >> 30) & 1u, err));
	VT_GUARD(set_bool(attrs, "key_locker", (b->td_attributes >> 31) & 1u, err));
	VT_GUARD(set_bool(attrs, "perfmon", (b->td_attributes >> 63) & 1u, err));

	if (json_object_set(c, "quote", quote) != 0 || json_object_set(c, "td_attributes", attrs) != 0) {
		rc = oom(err);
		goto out;
	}
	VT_GUARD(vt_dcap_result_claims(res, c, err));
	VT_GUARD(set_bool(c, "debug", debug, err));
	if (events != NULL && json_object_set(c, "uefi_event_logs", events) != 0) {
		rc = oom(err);
		goto out;
	}
	HEX(c, "report_data", b->report_data, 64);
	HEX(c, "init_data", b->mr_config_id, 48);
	*out = c;
	c = NULL;
out:
	json_decref(c);
	json_decref(quote);
	json_decref(hdr);
	json_decref(body);
	json_decref(attrs);
	return rc;
}

static vt_status tdx_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	uint8_t *quote = NULL, *log = NULL;
	size_t log_size = 0;
	json_t *events = NULL;
	struct vt_dcap_quote q;
	struct vt_dcap_result res;
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	VT_GUARD(check_members(evidence, err));
	struct vt_verify_ctx dctx = vt_dcap_ctx(ctx, &vt_tee_tdx);
	VT_GUARD(vt_dcap_verify_evidence(&dctx, evidence, VT_DCAP_TEE_TDX, binding, &quote, &q, &res, err));

	json_t *el = json_object_get(evidence, "cc_eventlog");
	if (json_is_string(el)) {
		VT_GUARD(vt_dcap_evidence_b64(evidence, "cc_eventlog", EVENTLOG_MAX_B64, &log, &log_size, err));
		VT_GUARD(vt_tdx_eventlog_check(log, log_size, (const uint8_t(*)[48])q.tdx.rtmr, &events, err));
	}
	VT_GUARD(make_claims(&q, &res, events, claims_out, err));
out:
	json_decref(events);
	free(log);
	free(quote);
	return rc;
}

/* Trustee's default_cpu branch for tdx, declaratively.  hardware: 2 when
 * the quote verified, 32 (genuine, known vulnerabilities) when the TCB is
 * not UpToDate or the collateral was used past nextUpdate, 97 when mr_td is
 * not a reference value.  executables 3 when rtmr_1 and rtmr_2 are
 * reference values.  configuration 2 without debug and with a known xfam. */
static const char tdx_policy[] =
	"{\"version\":1,\"id\":\"default_tdx\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"tdx-quote-verified\",\"claim\":\"/tdx/quote/header/tee_type\",\"equals\":\"81000000\","
	"\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"tcb-up-to-date\",\"claim\":\"/tdx/tcb_status\",\"equals\":\"UpToDate\",\"on_fail\":{\"hardware\":32}},"
	"{\"name\":\"collateral-fresh\",\"claim\":\"/tdx/collateral_expiration_status\",\"equals\":\"0\","
	"\"on_fail\":{\"hardware\":32}},"
	"{\"name\":\"mr-td\",\"claim\":\"/tdx/quote/body/mr_td\",\"in_reference\":\"mr_td\",\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"rtmr-1\",\"claim\":\"/tdx/quote/body/rtmr_1\",\"in_reference\":\"rtmr_1\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"rtmr-2\",\"claim\":\"/tdx/quote/body/rtmr_2\",\"in_reference\":\"rtmr_2\","
	"\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"debug-disabled\",\"claim\":\"/tdx/td_attributes/debug\",\"equals\":false,"
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}},"
	"{\"name\":\"xfam\",\"claim\":\"/tdx/quote/body/xfam\",\"in_reference\":\"xfam\","
	"\"on_fail\":{\"configuration\":36}}"
	"]}";

const struct vt_tee vt_tee_tdx = {
	.name = "tdx",
	.summary = "Intel TDX quote (v4/v5): Trustee's JSON, the raw quote or hex text; CC event log replayed when sent",
	.default_policy = tdx_policy,
	.options = vt_dcap_options,
	.state_new = vt_dcap_state_new,
	.state_free = vt_dcap_state_free,
	.verify = tdx_verify,
	.load_file = vt_dcap_load_file,
	.init_data = VT_INIT_DATA_PAD,
};
