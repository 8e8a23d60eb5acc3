/* EAR tokens: issue/verify round trips, negatives, and tokens made by other
 * implementations (Veraison, rust-ear, Trustee) from ../shared/vectors/ear. */
#include "testutil.h"

#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/token.h"

static char *issue(EVP_PKEY *k, int64_t iat, int64_t lifetime)
{
	json_t *tv = json_pack("{s:i, s:i}", "executables", 2, "hardware", 2);
	json_t *ann = json_pack("{s:{s:s}, s:{s:{s:s, s:s}}}", "sim", "measurement", "aa", "runtime_data_claims",
				"tee-pubkey", "kty", "EC", "alg", "ECDH-ES+A256KW");
	json_t *ext = json_pack("{s:b}", "veritee.insecure", 1);
	struct vt_ear_params p = {.iat = iat, .lifetime = lifetime, .status = "affirming", .trust_vector = tv,
				  .annotated = ann, .extensions = ext};
	char *jwt = NULL;
	assert_int_equal(vt_ear_issue(k, &p, &jwt, NULL), VT_OK);
	json_decref(tv);
	json_decref(ann);
	json_decref(ext);
	return jwt;
}

static void test_round_trip(void **state)
{
	(void)state;
	EVP_PKEY *k = NULL, *other = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &k, NULL), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &other, NULL), VT_OK);
	char *jwt = issue(k, 1000, 300);
	json_t *c = NULL;
	assert_int_equal(vt_ear_verify(jwt, k, 1100, 0, VT_EAR_REQUIRE_EXP, &c, NULL), VT_OK);
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/cpu0/ear.status")), "affirming");
	assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1300);
	assert_string_equal(json_string_value(json_object_get(c, "eat_profile")), VT_EAR_PROFILE);
	assert_true(json_is_true(vt_json_pointer(c, "/submods/cpu0/veritee.insecure")));
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/cpu0/ear.appraisal-policy-id")), "default");
	json_t *jwk = NULL;
	assert_int_equal(vt_ear_tee_pubkey(c, &jwk, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "ECDH-ES+A256KW");
	json_decref(c);

	/* header carries the signing key as jwk, like Trustee's */
	json_t *h = NULL;
	assert_int_equal(vt_jws_peek_header(jwt, &h, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
	assert_string_equal(json_string_value(vt_json_pointer(h, "/jwk/crv")), "P-256");
	json_decref(h);

	struct vt_err e = {0};
	assert_int_equal(vt_ear_verify(jwt, k, 1300, 0, 0, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_TOKEN);
	assert_string_equal(e.field, "exp");
	vt_err_clear(&e);
	assert_int_equal(vt_ear_verify(jwt, k, 1359, 60, 0, &c, &e), VT_OK); /* within leeway */
	json_decref(c);
	vt_err_clear(&e);
	assert_int_equal(vt_ear_verify(jwt, k, 900, 0, 0, &c, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "iat");
	vt_err_clear(&e);
	assert_int_equal(vt_ear_verify(jwt, other, 1100, 0, 0, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);

	/* Any flipped character of the token is rejected. */
	size_t n = strlen(jwt);
	for (size_t i = 0; i < n; i++) {
		if (jwt[i] == '.')
			continue;
		char saved = jwt[i];
		jwt[i] = saved == 'A' ? 'B' : 'A';
		if (vt_ear_verify(jwt, k, 1100, 0, 0, &c, NULL) == VT_OK)
			fail_msg("token with character %zu changed verified", i);
		jwt[i] = saved;
	}
	free(jwt);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void test_issue_needs_p256(void **state)
{
	(void)state;
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &k, NULL), VT_OK);
	json_t *tv = json_object(), *ann = json_object();
	struct vt_ear_params p = {.iat = 1, .lifetime = 1, .status = "none", .trust_vector = tv, .annotated = ann};
	char *jwt = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_ear_issue(k, &p, &jwt, &e), VT_E_USAGE);
	assert_null(jwt);
	json_decref(tv);
	json_decref(ann);
	EVP_PKEY_free(k);
}

/* ------------------------------------------------ shared vectors */

static char *slurp(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/ear/%s", dir, name);
	uint8_t *p = NULL;
	size_t n;
	if (vt_file_read(path, 1u << 20, &p, &n, NULL) != VT_OK)
		fail_msg("cannot read %s", path);
	return (char *)p;
}

static EVP_PKEY *jwk_file(const char *dir, const char *name)
{
	char *t = slurp(dir, name);
	json_t *j = NULL;
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_json_parse(t, strlen(t), 4096, &j, NULL), VT_OK);
	assert_int_equal(vt_jwk_to_key(j, false, &k, NULL), VT_OK);
	json_decref(j);
	free(t);
	return k;
}

#define NEED_VECTORS(dir)                                                                                  \
	const char *dir = vt_test_vectors_dir();                                                           \
	if (dir == NULL) {                                                                                 \
		printf("# SKIP: ../shared/vectors not present (a fresh clone); set VERITEE_VECTORS\n");   \
		skip();                                                                                    \
	}

static void test_vectors_other_issuers(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	EVP_PKEY *veraison = jwk_file(dir, "veraison_ear_pkey.json");
	EVP_PKEY *rust = jwk_file(dir, "rust-ear_ec_key_pub.jwk");
	struct {
		const char *file;
		EVP_PKEY *key;
		const char *submod_status; /* JSON pointer, expected status */
		const char *want;
	} ok[] = {
		{"DERIVED_veraison_ear_arc_test.jwt", veraison, "/submods/test/ear.status", "affirming"},
		{"DERIVED_veraison_ear_arc_test_jwk_header.jwt", veraison, "/submods/test/ear.status", "affirming"},
		{"DERIVED_veraison_ear_annotated_key_attestation.jwt", veraison, "/submods/test/ear.status", "affirming"},
		{"DERIVED_veraison_services_psa_ear.jwt", veraison, "/submods/PSA_IOT/ear.status", "affirming"},
		{"DERIVED_rust-ear_parsec_tpm_ear.jwt", veraison, "/submods/PARSEC_TPM/ear.status", "affirming"},
		{"DERIVED_rust-ear_readme_ear.jwt", rust, "/submods/test/ear.status", "none"},
	};
	int64_t now = 1767225600; /* 2026-01-01: none of these carries exp */
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *t = slurp(dir, ok[i].file);
		json_t *c = NULL;
		struct vt_err e = {0};
		if (vt_ear_verify(t, ok[i].key, now, 0, 0, &c, &e) != VT_OK)
			fail_msg("%s: %s (%s)", ok[i].file, e.detail, e.field);
		assert_string_equal(json_string_value(vt_json_pointer(c, ok[i].submod_status)), ok[i].want);
		/* ... but the broker's mode, which demands exp, refuses them. */
		vt_err_clear(&e);
		assert_int_equal(vt_ear_verify(t, ok[i].key, now, 0, VT_EAR_REQUIRE_EXP, &c, &e), VT_E_REJECTED);
		assert_string_equal(e.field, "exp");
		json_decref(c);
		free(t);
	}
	/* Signed by the Veraison key, so the rust-ear key must not verify them. */
	char *t = slurp(dir, "DERIVED_veraison_ear_arc_test.jwt");
	json_t *c = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_ear_verify(t, rust, now, 0, 0, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	EVP_PKEY_free(veraison);
	EVP_PKEY_free(rust);
}

static void test_vector_trustee_expired(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	char *t = slurp(dir, "DERIVED_trustee_cca_ear_expired.jwt");
	/* Only the self-asserted header key exists for this token: use it to
	 * check the signature, as a test; the broker never trusts header keys. */
	json_t *h = NULL, *c = NULL;
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_jws_peek_header(t, &h, NULL), VT_OK);
	assert_int_equal(vt_jwk_to_key(json_object_get(h, "jwk"), false, &k, NULL), VT_OK);
	int64_t before_exp, after_exp;
	assert_int_equal(vt_time_parse_rfc3339("2025-07-09T11:06:00Z", &before_exp, NULL), VT_OK);
	assert_int_equal(vt_time_parse_rfc3339("2025-07-09T11:10:39Z", &after_exp, NULL), VT_OK);
	assert_int_equal(vt_ear_verify(t, k, before_exp, 0, VT_EAR_REQUIRE_EXP, &c, NULL), VT_OK);
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/cpu0/ear.status")), "affirming");
	json_t *jwk = NULL;
	assert_int_equal(vt_ear_tee_pubkey(c, &jwk, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
	json_decref(c);
	struct vt_err e = {0};
	assert_int_equal(vt_ear_verify(t, k, after_exp, 0, VT_EAR_REQUIRE_EXP, &c, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "exp");
	json_decref(h);
	EVP_PKEY_free(k);
	free(t);
}

static void test_vector_negatives(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	EVP_PKEY *k = jwk_file(dir, "veraison_ear_pkey.json");
	struct {
		const char *file;
		vt_status code;
		vt_step step;
	} bad[] = {
		{"NEGATIVE_DERIVED_veraison_ear_alg_none.jwt", VT_E_REJECTED, VT_STEP_SIGNATURE},
		{"NEGATIVE_DERIVED_veraison_ear_hs256.jwt", VT_E_REJECTED, VT_STEP_SIGNATURE},
		{"NEGATIVE_DERIVED_veraison_ear_leading_dot.jwt", VT_E_PARSE, VT_STEP_PARSE},
		{"NEGATIVE_DERIVED_veraison_ear_trailing_rubbish.jwt", VT_E_PARSE, VT_STEP_PARSE},
		{"NEGATIVE_DERIVED_veraison_ear_empty_claims.jwt", VT_E_REJECTED, VT_STEP_TOKEN},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *t = slurp(dir, bad[i].file);
		json_t *c = NULL;
		struct vt_err e = {0};
		vt_status rc = vt_ear_verify(t, k, 1767225600, 0, 0, &c, &e);
		if (rc != bad[i].code || e.step != bad[i].step)
			fail_msg("%s: got %s/%s (%s), want %s/%s", bad[i].file, vt_status_name(rc), vt_step_name(e.step),
				 e.detail, vt_status_name(bad[i].code), vt_step_name(bad[i].step));
		free(t);
	}
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_issue_needs_p256),
		cmocka_unit_test(test_vectors_other_issuers),
		cmocka_unit_test(test_vector_trustee_expired),
		cmocka_unit_test(test_vector_negatives),
	};
	return cmocka_run_group_tests_name("ear", tests, NULL, NULL);
}
