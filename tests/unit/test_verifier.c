/* The verifier context: which TEEs it accepts, option checking, states
 * per verifier (no globals), and layered error context. */
#include "testutil.h"

#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/sim.h"
#include "veritee/verifier.h"

static json_t *J(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_unknown_tee_and_option(void **state)
{
	(void)state;
	struct vt_err e = {0};
	struct vt_verifier *v = NULL;
	json_t *t = J("{\"nebula\": {}}");
	struct vt_verifier_settings s = {.tees = t};
	assert_int_equal(vt_verifier_new(&s, &v, &e), VT_E_USAGE);
	assert_string_equal(e.field, "nebula");
	assert_non_null(strstr(e.detail, "unknown tee"));
	json_decref(t);

	memset(&e, 0, sizeof(e));
	t = J("{\"snp\": {\"certz\": \"/x\"}}");
	s.tees = t;
	assert_int_equal(vt_verifier_new(&s, &v, &e), VT_E_USAGE);
	assert_string_equal(e.field, "certz");
	assert_non_null(strstr(e.detail, "tee snp has no option \"certz\""));
	assert_non_null(strstr(e.detail, "kds_url")); /* lists the options it has */
	json_decref(t);
}

static void test_insecure_needs_its_block(void **state)
{
	(void)state;
	struct vt_err e = {0};
	struct vt_verifier *v = NULL;
	struct vt_verifier_settings s = {0};
	/* nothing named: hardware TEEs yes, sim no, cli_only no */
	assert_int_equal(vt_verifier_new(&s, &v, &e), VT_OK);
	assert_true(vt_verifier_accepts(v, vt_tee_find("snp")));
	assert_true(vt_verifier_accepts(v, vt_tee_find("az-snp-vtpm")));
	assert_false(vt_verifier_accepts(v, &vt_tee_sim));
	assert_false(vt_verifier_accepts(v, vt_tee_find("gce-vtpm")));
	json_t *ev = J("{}");
	assert_int_equal(vt_verifier_verify(v, &vt_tee_sim, ev, NULL, 0, NULL, NULL, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "tee sim is not enabled"));
	json_decref(ev);
	vt_verifier_free(v);

	/* named without a root: still refused (not configured), no error */
	json_t *t = J("{\"sim\": {}}");
	s.tees = t;
	assert_int_equal(vt_verifier_new(&s, &v, &e), VT_OK);
	assert_false(vt_verifier_accepts(v, &vt_tee_sim));
	vt_verifier_free(v);
	json_decref(t);

	/* a cli_only TEE cannot be configured for the broker */
	memset(&e, 0, sizeof(e));
	t = J("{\"gce-vtpm\": {\"gce_roots\": \"/nonexistent\"}}");
	s.tees = t;
	assert_int_equal(vt_verifier_new(&s, &v, &e), VT_E_USAGE);
	if (strstr(e.detail, "for `veritee verify` only") == NULL)
		fail_msg("detail: %s", e.detail);
	/* but `veritee verify` can */
	s.flags = VT_VERIFIER_ONLY_NAMED;
	assert_int_equal(vt_verifier_new(&s, &v, &e), VT_OK);
	assert_true(vt_verifier_accepts(v, vt_tee_find("gce-vtpm")));
	assert_false(vt_verifier_accepts(v, vt_tee_find("snp")));
	vt_verifier_free(v);
	json_decref(t);
}

/* Two verifiers never share state: each has its own sim root. */
static void test_states_per_verifier(void **state)
{
	(void)state;
	char *dir = vt_test_tmpdir(), a[600], b[600], rootb[700];
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	assert_int_equal(vt_sim_ensure_keys(a, NULL), VT_OK);
	assert_int_equal(vt_sim_ensure_keys(b, NULL), VT_OK);
	snprintf(rootb, sizeof(rootb), "%s/sim-root.pem", b);
	uint8_t rd[64] = {1};
	json_t *ev = NULL;
	assert_int_equal(vt_sim_attest(a, NULL, rd, &ev, NULL), VT_OK);

	char cfg[800];
	snprintf(cfg, sizeof(cfg), "{\"sim\": {\"root\": \"%s/sim-root.pem\"}}", a);
	json_t *ta = J(cfg), *tb = json_pack("{s:{s:s}}", "sim", "root", rootb);
	struct vt_verifier *va = NULL, *vb = NULL;
	struct vt_verifier_settings sa = {.tees = ta}, sb = {.tees = tb};
	assert_int_equal(vt_verifier_new(&sa, &va, NULL), VT_OK);
	assert_int_equal(vt_verifier_new(&sb, &vb, NULL), VT_OK);
	json_t *claims = NULL;
	struct vt_binding bind = {.report_data = rd, .report_data_size = 64};
	assert_int_equal(vt_verifier_verify(va, &vt_tee_sim, ev, &bind, vt_now(), NULL, &claims, NULL), VT_OK);
	json_decref(claims);
	struct vt_err e = {0};
	assert_int_equal(vt_verifier_verify(vb, &vt_tee_sim, ev, &bind, vt_now(), NULL, &claims, &e), VT_E_REJECTED);
	assert_int_equal(e.step, VT_STEP_CHAIN);
	assert_true(strncmp(e.detail, "sim: ", 5) == 0); /* the verifier adds the TEE's name */
	vt_verifier_free(va);
	vt_verifier_free(vb);
	json_decref(ta);
	json_decref(tb);
	json_decref(ev);
	snprintf(cfg, sizeof(cfg), "rm -rf '%s'", dir);
	assert_int_equal(system(cfg), 0);
	free(dir);
}

static void test_err_context_layers(void **state)
{
	(void)state;
	struct vt_err e = {0};
	vt_fail(&e, VT_E_REJECTED, VT_STEP_SIGNATURE, "report.signature", "ECDSA signature does not verify");
	assert_int_equal(vt_err_context(&e, "snp"), VT_E_REJECTED);
	assert_int_equal(vt_err_context(&e, "az-snp-vtpm: hcl.report"), VT_E_REJECTED);
	assert_string_equal(e.detail, "az-snp-vtpm: hcl.report: snp: ECDSA signature does not verify");
	assert_string_equal(e.field, "report.signature");
	assert_int_equal(e.step, VT_STEP_SIGNATURE);
	/* never overflows */
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(vt_err_context(&e, big), VT_E_REJECTED);
	assert_true(strlen(e.detail) < sizeof(e.detail));
	assert_int_equal(vt_err_context(NULL, "x"), VT_E_INTERNAL);
}

/* Every registered TEE's default policy parses, and its options are unique. */
static void test_descriptors_well_formed(void **state)
{
	(void)state;
	for (size_t i = 0; vt_tee_at(i); i++) {
		const struct vt_tee *t = vt_tee_at(i);
		assert_non_null(t->verify);
		assert_non_null(t->summary);
		assert_true((t->insecure != 0) == ((t->flags & VT_TEE_INSECURE) != 0));
		if (t->default_policy) {
			json_t *p = json_loads(t->default_policy, 0, NULL);
			if (p == NULL)
				fail_msg("%s: default policy is not JSON", t->name);
			char id[64];
			snprintf(id, sizeof(id), "default_%s", t->name);
			assert_string_equal(json_string_value(json_object_get(p, "id")), id);
			json_decref(p);
		}
		for (const struct vt_tee_option *o = t->options; o && o->name; o++)
			for (const struct vt_tee_option *q = o + 1; q->name; q++)
				assert_string_not_equal(o->name, q->name);
	}
}

/* A TEE added as one folder (cca) is configured and verified through the
 * verifier like the others: its CPAK is its state. */
static void test_cca_through_verifier(void **state)
{
	(void)state;
	const char *vec = vt_test_vectors_dir();
	if (vec == NULL) {
		print_message("# skipped: no shared vectors (cca/)\n");
		skip();
	}
	char tok[512], cpak[512];
	snprintf(tok, sizeof(tok), "%s/cca/trustee_cca_token_fvp_testkeys.cbor", vec);
	snprintf(cpak, sizeof(cpak), "%s/cca/trustee_cca_cpak_pub.json", vec);
	const struct vt_tee *cca = vt_tee_find("cca");
	assert_non_null(cca);
	uint8_t *bytes = NULL;
	size_t n = 0;
	json_t *ev = NULL, *claims = NULL;
	assert_int_equal(vt_file_read(tok, 1u << 20, &bytes, &n, NULL), VT_OK);
	assert_int_equal(cca->load_file(bytes, n, &ev, NULL), VT_OK);
	free(bytes);
	struct vt_verifier *v = NULL;
	struct vt_verifier_settings s = {0};
	assert_int_equal(vt_verifier_new(&s, &v, NULL), VT_OK);
	assert_false(vt_verifier_accepts(v, cca)); /* no CPAK, no CCA */
	vt_verifier_free(v);
	json_t *t = json_pack("{s:{s:s}}", "cca", "cpak", cpak);
	s.tees = t;
	assert_int_equal(vt_verifier_new(&s, &v, NULL), VT_OK);
	assert_true(vt_verifier_accepts(v, cca));
	assert_int_equal(vt_verifier_verify(v, cca, ev, NULL, 0, NULL, &claims, NULL), VT_OK);
	assert_string_equal(json_string_value(vt_json_pointer(claims, "/platform/cca-platform-lifecycle-state")),
			    "secured");
	json_decref(claims);
	vt_verifier_free(v);
	json_decref(t);
	json_decref(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_tee_and_option),
		cmocka_unit_test(test_insecure_needs_its_block),
		cmocka_unit_test(test_states_per_verifier),
		cmocka_unit_test(test_err_context_layers),
		cmocka_unit_test(test_descriptors_well_formed),
		cmocka_unit_test(test_cca_through_verifier),
	};
	return cmocka_run_group_tests_name("verifier", tests, NULL, NULL);
}
