/*
 * libFuzzer target for the NVIDIA verifier (src/evidence/nvidia/).  Each
 * input is used as:
 *   1. an SPDM request || response -> vt_nvidia_report_parse; when it
 *      parses, the claims of its blocks and opaque fields are built for
 *      each arch (nvx_report_claims) and a RIM of golden values is compared
 *      with it (vt_nvidia_rim_compare), so the opaque-field readers run on
 *      arbitrary bytes without a valid signature;
 *   2. a file -> vt_nvidia_load_file (raw, hex, base64, JSON), then the
 *      registry entry's verify on the evidence it yields, with and without
 *      a binding (no chain given: the chain-less path, or the evidence's
 *      own "certificate");
 *   3. a certificate chain (PEM or DER) -> nvx_chain_parse, the FWID of its
 *      first certificate and the device chain rule at a fixed time;
 *   4. additional evidence JSON -> vt_nvidia_devices;
 *   5. a RIM (XML) -> vt_nvidia_rim_load (libxml2, xmlsec1), inputs up to
 *      64 KiB.
 * Time is fixed; the wall clock is never read.  Failures leave no output
 * and record their own code; verified evidence always has report_data.
 */
#include <stdlib.h>
#include <string.h>

#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/json.h"
#include "veritee/nvidia.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1748736000 /* 2025-06-01T00:00:00Z */

static void check(vt_status rc, json_t *out, const struct vt_err *err)
{
	if (rc == VT_OK) {
		if (out == NULL)
			abort();
	} else if (out != NULL || err->code != rc || err->step == VT_STEP_NONE) {
		abort();
	}
}

static void fuzz_report(const uint8_t *data, size_t size)
{
	static struct vt_nvidia_report r;
	struct vt_err err = {0};
	vt_status rc = vt_nvidia_report_parse(data, size, &r, &err);
	if (rc != VT_OK) {
		if (r.signature != NULL || err.code != rc)
			abort();
		return;
	}
	if (r.block_count == 0 || r.signed_size + VT_NVIDIA_SIG_SIZE != size || r.signed_data != data)
		abort();
	static const enum nvx_arch archs[] = {NVX_ARCH_HOPPER, NVX_ARCH_BLACKWELL, NVX_ARCH_LS10};
	for (size_t a = 0; a < 3; a++) {
		json_t *claims = json_object();
		vt_err_clear(&err);
		if (nvx_report_claims(&r, archs[a], claims, &err) == VT_OK && json_object_get(claims, "measurements") == NULL)
			abort();
		json_decref(claims);
		char d[128], v[128];
		vt_err_clear(&err);
		(void)nvx_versions(&r, archs[a], d, sizeof(d), v, sizeof(v), &err);
	}
	static struct vt_nvidia_golden g[3];
	g[0] = (struct vt_nvidia_golden){.index = 0, .active = true, .size = 48, .alt_count = 1};
	g[1] = (struct vt_nvidia_golden){.index = 1, .active = true, .size = 32, .alt_count = 2};
	g[2] = (struct vt_nvidia_golden){.index = 200, .active = true, .size = 48, .alt_count = 1};
	struct vt_nvidia_rim rim = {.golden = g, .golden_count = 3};
	json_t *cmp = NULL;
	vt_err_clear(&err);
	check(vt_nvidia_rim_compare(&rim, &r, &cmp, &err), cmp, &err);
	json_decref(cmp);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
	json_t *ev = NULL;
	struct vt_err err = {0};
	if (vt_nvidia_load_file(data, size, &ev, &err) != VT_OK) {
		if (ev != NULL)
			abort();
		return;
	}
	struct vt_verify_ctx ctx = {.now = FUZZ_NOW};
	static const uint8_t bind[48] = {1};
	struct vt_binding b = {.report_data = bind, .report_data_size = sizeof(bind)};
	for (int k = 0; k < 2; k++) {
		json_t *claims = NULL;
		vt_err_clear(&err);
		vt_status rc = vt_tee_nvidia.verify(&ctx, ev, k ? &b : NULL, &claims, &err);
		check(rc, claims, &err);
		if (rc == VT_OK && !json_is_string(json_object_get(claims, "report_data")))
			abort();
		json_decref(claims);
	}
	json_decref(ev);
}

static void fuzz_chain(const uint8_t *data, size_t size)
{
	struct nvx_chain c;
	struct vt_err err = {0};
	if (nvx_chain_parse(NULL, data, size, "certificate", &c, &err) != VT_OK) {
		if (c.count != 0)
			abort();
		return;
	}
	uint8_t fwid[VT_NVIDIA_FWID_SIZE];
	vt_err_clear(&err);
	(void)vt_nvidia_leaf_fwid(c.x[0], fwid, &err);
	vt_err_clear(&err);
	(void)nvx_device_chain_check(NULL, &c, FUZZ_NOW, &err);
	nvx_chain_free(&c);
}

static void fuzz_devices(const uint8_t *data, size_t size)
{
	json_t *j = NULL, *dev = NULL;
	if (vt_json_parse((const char *)data, size, 1 << 20, &j, NULL) != VT_OK)
		return;
	struct vt_err err = {0};
	check(vt_nvidia_devices(j, 16, &dev, &err), dev, &err);
	json_decref(dev);
	json_decref(j);
}

static void fuzz_rim(const uint8_t *data, size_t size)
{
	struct vt_nvidia_rim *rim = NULL;
	struct vt_err err = {0};
	vt_status rc = vt_nvidia_rim_load(data, size, "fuzz", &rim, &err);
	if (rc == VT_OK) {
		if (!rim->signature_verified || rim->golden_count == 0)
			abort();
		vt_err_clear(&err);
		(void)vt_nvidia_rim_check_chain(rim, FUZZ_NOW, &err);
	} else if (rim != NULL) {
		abort();
	}
	vt_nvidia_rim_free(rim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_report(data, size);
	fuzz_file(data, size);
	fuzz_chain(data, size);
	fuzz_devices(data, size);
	if (size <= 65536)
		fuzz_rim(data, size);
	return 0;
}
