/*
 * libFuzzer target for the SEV-SNP report parser and its JSON form.
 * Each input is parsed with and without allow_trailing; a report that
 * parses is turned into Trustee's JSON and back, which must give the same
 * 1184 bytes (and the same JSON again).  Inputs that are JSON text are also
 * fed to vt_snp_report_from_json.
 */
#include <stdlib.h>
#include <string.h>

#include "veritee/json.h"
#include "veritee/snp.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(vt_status rc, const struct vt_err *err)
{
	if (rc != err->code || (rc == VT_E_PARSE && err->step != VT_STEP_PARSE))
		abort(); /* failures record their own code and step */
}

static void roundtrip(const uint8_t *report)
{
	json_t *j = NULL;
	struct vt_err err = {0};
	vt_status rc = vt_snp_report_to_json(report, &j, &err);
	if (rc != VT_OK) {
		/* Only non-representable values (u64 > INT64_MAX, TCB bytes
		 * outside the product's layout) or OOM may fail here. */
		if ((rc != VT_E_PARSE && rc != VT_E_NOMEM) || j != NULL)
			abort();
		return;
	}
	uint8_t back[VT_SNP_REPORT_SIZE];
	vt_err_clear(&err);
	if (vt_snp_report_from_json(j, back, &err) != VT_OK || memcmp(back, report, sizeof(back)) != 0)
		abort();
	char *text = json_dumps(j, JSON_COMPACT);
	if (text != NULL) {
		json_t *j2 = NULL;
		if (vt_json_parse(text, strlen(text), 1u << 20, &j2, NULL) != VT_OK)
			abort();
		json_t *j3 = NULL;
		if (vt_snp_report_from_json(j2, back, NULL) != VT_OK || vt_snp_report_to_json(back, &j3, NULL) != VT_OK ||
		    !json_equal(j, j3))
			abort();
		json_decref(j2);
		json_decref(j3);
		free(text);
	}
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_snp_report r1, r2;
	struct vt_err e1 = {0}, e2 = {0};
	vt_status rc1 = vt_snp_report_parse(data, size, false, &r1, &e1);
	vt_status rc2 = vt_snp_report_parse(data, size, true, &r2, &e2);
	check_err(rc1, &e1);
	check_err(rc2, &e2);
	if (rc1 == VT_OK && (rc2 != VT_OK || size != VT_SNP_REPORT_SIZE || memcmp(&r1, &r2, sizeof(r1)) != 0))
		abort(); /* strict success implies lenient success with the same fields */
	if (rc2 == VT_OK) {
		if (r2.version < 2 || r2.version > 5 || r2.signature_algo != 1 || ((r2.key_info >> 2) & 7) > 1)
			abort();
		roundtrip(data);
	}

	/* The same bytes as JSON text: an attestation_report object. */
	json_t *j = NULL;
	if (size > 0 && data[0] == '{' && vt_json_parse((const char *)data, size, 1u << 20, &j, NULL) == VT_OK) {
		uint8_t out[VT_SNP_REPORT_SIZE];
		struct vt_err err = {0};
		vt_status rc = vt_snp_report_from_json(j, out, &err);
		check_err(rc, &err);
		if (rc == VT_OK) {
			struct vt_snp_report r;
			if (vt_snp_report_parse(out, sizeof(out), false, &r, NULL) != VT_OK)
				abort(); /* from_json only yields valid reports */
			roundtrip(out);
		}
		json_decref(j);
	}
	return 0;
}
