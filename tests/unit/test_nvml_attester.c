/* The nvidia attester through NVML, with a stand-in libnvidia-ml
 * (tests/fakes/fake_nvml.c, built as build/tools/libfake_nvml.so) serving the
 * real H100 report and chain from the shared vectors: the library is found
 * at run time, the requested nonce reaches the driver, the sizes it returns
 * are bounded, and the evidence it produces is what the nvidia verifier takes. */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>

#include "testutil.h"

#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

static char g_lib[PATH_MAX];
static char *g_tmp;

#define NEED_VECTORS()                                                                   \
	const char *vdir = vt_test_vectors_dir();                                         \
	if (vdir == NULL) {                                                               \
		print_message("skipped: shared vectors not found (set VERITEE_VECTORS)\n"); \
		skip();                                                                   \
	}

/* The H100 sample as raw bytes in a temp file (the vector is hex text). */
static char *raw_report(const char *vdir, uint8_t **bytes, size_t *n)
{
	char path[PATH_MAX], *out = NULL;
	snprintf(path, sizeof(path), "%s/nvidia/nvtrust_h100_attestation_report.hex.txt", vdir);
	uint8_t *hex = NULL;
	size_t hn = 0;
	assert_int_equal(vt_file_read(path, 1 << 20, &hex, &hn, NULL), VT_OK);
	char *text = strndup((const char *)hex, hn);
	for (char *p = text + strlen(text); p > text && (p[-1] == '\n' || p[-1] == '\r' || p[-1] == ' ');)
		*--p = '\0';
	assert_int_equal(vt_hex_decode(text, bytes, n, NULL), VT_OK);
	free(text);
	free(hex);
	assert_true(asprintf(&out, "%s/report.bin", g_tmp) > 0);
	assert_int_equal(vt_file_write(out, *bytes, *n, 0600, NULL), VT_OK);
	return out;
}

static json_t *nvml_opts(void)
{
	return json_pack("{s:s}", "nvml", g_lib);
}

static void test_gathers_and_verifies(void **state)
{
	(void)state;
	NEED_VECTORS();
	uint8_t *report = NULL;
	size_t n = 0;
	char *rpath = raw_report(vdir, &report, &n), chain[PATH_MAX];
	snprintf(chain, sizeof(chain), "%s/nvidia/nvtrust_h100_cert_chain.pem", vdir);
	setenv("FAKE_NVML_REPORT", rpath, 1);
	setenv("FAKE_NVML_CHAIN", chain, 1);
	setenv("FAKE_NVML_COUNT", "2", 1);
	/* the report data whose first 32 bytes are the sample's own requester nonce (request bytes 4..36) */
	uint8_t rd[64];
	memset(rd, 0xee, sizeof(rd));
	memcpy(rd, report + 4, 32);
	/* held open here, so the attester's dlopen/dlclose share this instance */
	void *h = dlopen(g_lib, RTLD_NOW);
	assert_non_null(h);
	json_t *o = nvml_opts(), *ev = NULL;
	struct vt_err e = {0};
	if (vt_attest_with("nvidia", o, rd, &ev, &e) != VT_OK)
		fail_msg("attest: %s", e.detail);
	/* the driver was asked for exactly the first 32 bytes */
	const unsigned char *(*last)(void) = (const unsigned char *(*)(void))dlsym(h, "fake_nvml_last_nonce");
	assert_non_null(last);
	assert_memory_equal(last(), rd, 32);
	dlclose(h);
	json_t *list = json_object_get(ev, "device_evidence_list");
	assert_int_equal(json_array_size(list), 2);
	json_t *d0 = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(d0, "arch")), "HOPPER");
	assert_string_equal(json_string_value(json_object_get(d0, "uuid")), "GPU-fa4e0000-0000-0000-0000-000000000001");
	uint8_t *back = NULL;
	size_t bn = 0;
	const char *b64 = json_string_value(json_object_get(d0, "evidence"));
	assert_int_equal(vt_b64_decode(b64, strlen(b64), &back, &bn, NULL), VT_OK);
	assert_int_equal(bn, n);
	assert_memory_equal(back, report, n);
	free(back);
	/* what the broker does with it: split, then verify each device against the binding */
	const struct vt_tee *t = vt_tee_find("nvidia");
	assert_non_null(t);
	json_t *devs = NULL;
	assert_int_equal(t->devices(ev, 16, &devs, NULL), VT_OK);
	assert_int_equal(json_array_size(devs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(devs, 0), "class")), "gpu");
	json_t *tees = json_pack("{s:{}}", "nvidia");
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *v = NULL;
	assert_int_equal(vt_verifier_new(&vs, &v, NULL), VT_OK);
	struct vt_binding bind = {.report_data = rd, .report_data_size = 48};
	json_t *claims = NULL;
	int64_t at = 1748736000; /* 2025-06-01 */
	if (vt_verifier_verify(v, t, json_object_get(json_array_get(devs, 1), "evidence"), &bind, at, NULL, &claims, &e) !=
	    VT_OK)
		fail_msg("verify: %s (%s)", e.detail, e.field);
	assert_string_equal(json_string_value(json_object_get(claims, "uuid")), "GPU-fa4e0000-0000-0000-0000-000000000002");
	json_decref(claims);
	/* another binding: refused at the nonce */
	rd[0] ^= 1;
	claims = NULL;
	vt_err_clear(&e);
	assert_int_equal(vt_verifier_verify(v, t, json_object_get(json_array_get(devs, 1), "evidence"), &bind, at, NULL,
					    &claims, &e),
			 VT_E_REJECTED);
	assert_int_equal(e.step, VT_STEP_BINDING);
	vt_verifier_free(v);
	json_decref(tees);
	json_decref(devs);
	json_decref(ev);
	json_decref(o);
	free(report);
	free(rpath);
	unsetenv("FAKE_NVML_COUNT");
}

static void test_driver_faults(void **state)
{
	(void)state;
	NEED_VECTORS();
	uint8_t *report = NULL, rd[64] = {0};
	size_t n = 0;
	char *rpath = raw_report(vdir, &report, &n), chain[PATH_MAX];
	snprintf(chain, sizeof(chain), "%s/nvidia/nvtrust_h100_cert_chain.pem", vdir);
	setenv("FAKE_NVML_REPORT", rpath, 1);
	setenv("FAKE_NVML_CHAIN", chain, 1);
	json_t *o = nvml_opts(), *ev = NULL;
	struct vt_err e = {0};
	/* no library */
	json_t *missing = json_pack("{s:s}", "nvml", "/nonexistent/libnvidia-ml.so.1");
	assert_int_equal(vt_attest_with("nvidia", missing, rd, &ev, &e), VT_E_NOTFOUND);
	assert_non_null(strstr(e.detail, "cannot load /nonexistent/libnvidia-ml.so.1"));
	json_decref(missing);
	/* the driver does not start */
	setenv("FAKE_NVML_INIT_FAILS", "1", 1);
	vt_err_clear(&e);
	assert_int_equal(vt_attest_with("nvidia", o, rd, &ev, &e), VT_E_IO);
	assert_non_null(strstr(e.detail, "nvmlInit failed: Driver Not Loaded"));
	unsetenv("FAKE_NVML_INIT_FAILS");
	/* no GPU, or a GPU that is not Hopper/Blackwell */
	setenv("FAKE_NVML_COUNT", "0", 1);
	vt_err_clear(&e);
	assert_int_equal(vt_attest_with("nvidia", o, rd, &ev, &e), VT_E_NOTFOUND);
	assert_non_null(strstr(e.detail, "NVML lists 0 GPUs"));
	unsetenv("FAKE_NVML_COUNT");
	setenv("FAKE_NVML_ARCH", "7", 1);
	vt_err_clear(&e);
	assert_int_equal(vt_attest_with("nvidia", o, rd, &ev, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "not a Hopper or Blackwell GPU (NVML arch 7)"));
	unsetenv("FAKE_NVML_ARCH");
	/* a size past the driver's own array is not believed */
	setenv("FAKE_NVML_BAD_SIZE", "1", 1);
	vt_err_clear(&e);
	assert_int_equal(vt_attest_with("nvidia", o, rd, &ev, &e), VT_E_PARSE);
	assert_non_null(strstr(e.detail, "out of range"));
	unsetenv("FAKE_NVML_BAD_SIZE");
	assert_null(ev);
	json_decref(o);
	free(report);
	free(rpath);
}

int main(int argc, char **argv)
{
	(void)argc;
	char self[PATH_MAX];
	snprintf(self, sizeof(self), "%s", argv[0]);
	snprintf(g_lib, sizeof(g_lib), "%s/../tools/libfake_nvml.so", dirname(self));
	g_tmp = vt_test_tmpdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gathers_and_verifies),
		cmocka_unit_test(test_driver_faults),
	};
	int rc = cmocka_run_group_tests_name("nvml_attester", tests, NULL, NULL);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
	if (system(cmd) != 0)
		rc = 1;
	free(g_tmp);
	return rc;
}
