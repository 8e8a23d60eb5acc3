/*
 * The `az-snp-vtpm` TEE: an Azure SEV-SNP confidential VM with the HCL
 * paravisor's vTPM (kbs-protocol.md §5.3; claims: policy-and-reference-
 * values.md §3.2).
 *
 * Evidence: {"version": 1|2, "tpm_quote": {"signature": hex, "message": hex,
 * "pcrs": [hex x 24]}, "hcl_report": base64url, "vcek": base64url DER
 * (optional: else --certs / cache / KDS)}; also Trustee's legacy v0
 * {"quote": {byte arrays}, "report": [bytes], "vcek": PEM}.
 *
 * Steps: parse -> hardware (the SNP report in the HCL report, through the
 * snp verifier: VCEK/ASK/ARK chain, TCB, signature; VMPL 0) -> binding of
 * the runtime data (report_data starts with hash(variable data)) -> AK
 * (HCLAkPub) -> TPM quote (signature, PCR digest) -> nonce binding
 * (extraData == binding exactly; v2: user-data starts with it) -> claims.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/azure/hcl.h"
#include "veritee/azure.h"
#include "veritee/snp.h"
#include "veritee/util.h"

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* 63da758d-e664-4564-adc5-f4b93be8accd (RFC 4122 byte order) */
static const uint8_t VCEK_GUID[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
				      0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};

/* The snp verifier's evidence: {"report": b64(report || cert table holding the VCEK)}. */
static vt_status snp_evidence(const struct vt_az_evidence *e, json_t **out, struct vt_err *err)
{
	size_t table = e->hw_extra != NULL ? 2u * 24u + e->hw_extra_size : 0;
	size_t n = VT_HCL_HW_SIZE + table;
	uint8_t *buf = calloc(1, n);
	if (buf == NULL)
		return oom(err);
	memcpy(buf, e->report.hw_report, VT_HCL_HW_SIZE);
	if (e->hw_extra != NULL) {
		uint8_t *t = buf + VT_HCL_HW_SIZE;
		uint32_t off = 48, len = (uint32_t)e->hw_extra_size;
		memcpy(t, VCEK_GUID, 16);
		for (size_t i = 0; i < 4; i++) {
			t[16 + i] = (uint8_t)(off >> (8 * i));
			t[20 + i] = (uint8_t)(len >> (8 * i));
		}
		memcpy(t + 48, e->hw_extra, e->hw_extra_size);
	}
	char *b = vt_b64_encode(buf, n);
	free(buf);
	json_t *o = b ? json_pack("{s:s}", "report", b) : NULL;
	free(b);
	if (o == NULL)
		return oom(err);
	*out = o;
	return VT_OK;
}

static bool put_str(json_t *c, const char *k, const char *v)
{
	return json_object_set_new(c, k, json_string(v)) == 0;
}

/* Trustee's az-snp-vtpm layout: the snp names, every value a string,
 * measurement in standard base64, no chip_id. */
static vt_status trustee_claims(const json_t *snp, const struct vt_snp_report *rep, json_t *c, struct vt_err *err)
{
	static const char *const NAMES[] = {
		"policy_abi_major",   "policy_abi_minor",      "policy_smt_allowed",   "policy_migrate_ma",
		"policy_debug_allowed", "policy_single_socket", "reported_tcb_bootloader", "reported_tcb_tee",
		"reported_tcb_snp",   "reported_tcb_microcode", "reported_tcb_fmc",   "platform_tsme_enabled",
		"platform_smt_enabled",
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]) && ok; i++) {
		json_t *v = json_object_get(snp, NAMES[i]);
		char buf[32];
		if (v == NULL)
			continue; /* reported_tcb_fmc: Turin only */
		if (json_is_boolean(v))
			snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
		else if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		else
			return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, NAMES[i], "unexpected snp claim type");
		ok = put_str(c, NAMES[i], buf);
	}
	char *m = vt_b64_encode(rep->measurement, sizeof(rep->measurement));
	ok = ok && m != NULL && put_str(c, "measurement", m);
	free(m);
	return ok ? VT_OK : oom(err);
}

static vt_status az_snp_verify(const struct vt_verify_ctx *ctx, const json_t *evidence,
			       const struct vt_binding *binding, json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	struct vt_az_evidence e;
	struct vt_hcl_runtime rt;
	struct vt_snp_report rep;
	struct vt_tpm_quote q;
	json_t *snp_ev = NULL, *snp_claims = NULL, *c = NULL;
	EVP_PKEY *ak = NULL;
	memset(&e, 0, sizeof(e));
	memset(&rt, 0, sizeof(rt));
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");

	/* 1. parse */
	VT_GUARD(vt_az_evidence_parse(evidence, "vcek", VT_HCL_REPORT_TYPE_SNP, &e, err));
	VT_GUARD(vt_snp_report_parse(e.report.hw_report, VT_HCL_HW_SIZE, false, &rep, err));
	VT_GUARD(vt_hcl_runtime_parse(&e.report, &rt, err));

	/* 2. hardware: the SNP report with the given VCEK (and ASK/ARK from ctx->snp) */
	VT_GUARD(snp_evidence(&e, &snp_ev, err));
	rc = vt_tee_snp.verify(ctx, snp_ev, NULL, &snp_claims, err);
	if (rc != VT_OK) {
		vt_err_context(err, "hcl.report: snp");
		goto out;
	}
	if (rep.vmpl != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "report.vmpl",
			     "the HCL's SNP report is from VMPL %u (0 expected)", rep.vmpl);
		goto out;
	}

	/* 3. binding of the runtime data */
	VT_GUARD(vt_hcl_check_var_data(&e.report, rep.report_data, err));

	/* 4. the vTPM AK, 5. the quote, 6. the nonce */
	VT_GUARD(vt_hcl_runtime_ak(&rt, &ak, err));
	VT_GUARD(vt_az_tpm_verify(&e, &rt, ak, binding, &q, err));

	/* 7. claims */
	c = json_object();
	if (c == NULL) {
		rc = oom(err);
		goto out;
	}
	VT_GUARD(trustee_claims(snp_claims, &rep, c, err));
	VT_GUARD(vt_az_common_claims(&e, &rt, &q, c, err));
	/* veritee extra: the full snp verifier claims (chip_id, host_data, ...) */
	json_object_del(snp_claims, "report_data");
	json_object_del(snp_claims, "init_data");
	if (json_object_set(c, "snp", snp_claims) != 0) {
		rc = oom(err);
		goto out;
	}
	*claims_out = c;
	c = NULL;
	rc = VT_OK;
out:
	json_decref(c);
	json_decref(snp_ev);
	json_decref(snp_claims);
	EVP_PKEY_free(ak);
	vt_hcl_runtime_free(&rt);
	vt_az_evidence_free(&e);
	return rc;
}

/* Azure CVMs, as Trustee's default_cpu branches: the hardware report and
 * the vTPM quote were verified and linked by the verifier; reference value
 * names are Trustee's.  Claim values are strings, as Trustee emits them. */
static const char az_snp_policy[] =
	"{\"version\":1,\"id\":\"default_az-snp-vtpm\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"snp-report-verified\",\"claim\":\"/az-snp-vtpm/measurement\",\"exists\":true,"
	"\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"tcb-bootloader\",\"claim\":\"/az-snp-vtpm/reported_tcb_bootloader\",\"in_reference\":\"tcb_bootloader\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"tcb-tee\",\"claim\":\"/az-snp-vtpm/reported_tcb_tee\",\"in_reference\":\"tcb_tee\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"tcb-snp\",\"claim\":\"/az-snp-vtpm/reported_tcb_snp\",\"in_reference\":\"tcb_snp\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"tcb-microcode\",\"claim\":\"/az-snp-vtpm/reported_tcb_microcode\",\"in_reference\":\"tcb_microcode\","
	"\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"measurement\",\"claim\":\"/az-snp-vtpm/measurement\",\"in_reference\":\"measurement\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"pcr11\",\"claim\":\"/az-snp-vtpm/tpm/pcr11\",\"in_reference\":\"snp_pcr11\","
	"\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"debug-disabled\",\"claim\":\"/az-snp-vtpm/policy_debug_allowed\",\"equals\":\"false\","
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}},"
	"{\"name\":\"no-migration-agent\",\"claim\":\"/az-snp-vtpm/policy_migrate_ma\",\"equals\":\"false\","
	"\"on_fail\":{\"configuration\":96}}"
	"]}";

static const struct vt_tee *const az_snp_uses[] = {&vt_tee_snp, NULL};

const struct vt_tee vt_tee_az_snp_vtpm = {
	.name = "az-snp-vtpm",
	.summary = "Azure SEV-SNP confidential VM: HCL report + vTPM quote (Trustee's JSON); uses snp's options",
	.default_policy = az_snp_policy,
	.uses = az_snp_uses,
	.verify = az_snp_verify,
	.load_file = vt_az_load_file,
	.init_data = VT_INIT_DATA_PCR_EXTEND,
};
