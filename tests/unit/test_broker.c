/* The broker driven directly (no sockets) with an injected clock: session
 * and token lifetimes are checked at pinned times, not by sleeping. */
#include "testutil.h"

#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/sim.h"
#include "veritee/snp.h"

static int64_t fake_now = 1800000000;
static int64_t clock_fn(void *ctx)
{
	(void)ctx;
	return fake_now;
}

struct fixture {
	char *dir;
	struct vt_broker *b;
	EVP_PKEY *admin;
	char simdir[512];
};

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = vt_test_tmpdir();
	snprintf(f->simdir, sizeof(f->simdir), "%s/sim", f->dir);
	assert_int_equal(vt_sim_ensure_keys(f->simdir, NULL), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &f->admin, NULL), VT_OK);
	char *pub = path_in(f->dir, "admin.pub");
	assert_int_equal(vt_key_save_pem(pub, f->admin, false, 0644, NULL), VT_OK);
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = path_in(f->dir, "kbs.db");
	c.master_key_path = path_in(f->dir, "master.key");
	c.insecure_sim_root = path_in(f->dir, "sim/sim-root.pem");
	c.admin_keys = calloc(1, sizeof(char *));
	c.admin_keys[0] = pub;
	c.admin_key_count = 1;
	c.session_timeout = 60;
	c.token_lifetime = 120;
	struct vt_err e = {0};
	if (vt_broker_new(&c, &f->b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(f->b, true, NULL, NULL);
	vt_broker_set_clock(f->b, clock_fn, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	vt_broker_free(f->b);
	EVP_PKEY_free(f->admin);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->dir);
	free(f);
	return 0;
}

/* One request; returns the status and (optionally) the parsed JSON body. */
static int call(struct fixture *f, const char *method, const char *path, const char *cookie, const char *auth,
		const char *body, json_t **json_out, char **cookie_out)
{
	struct vt_http_request r = {.method = method, .path = path, .session_cookie = cookie, .authorization = auth,
				    .body = (const uint8_t *)(body ? body : ""), .body_size = body ? strlen(body) : 0};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	int status = resp.status;
	if (json_out)
		*json_out = resp.body ? json_loadb(resp.body, resp.body_size, 0, NULL) : NULL;
	if (cookie_out) {
		*cookie_out = NULL;
		if (resp.set_cookie && strncmp(resp.set_cookie, "kbs-session-id=", 15) == 0)
			*cookie_out = strndup(resp.set_cookie + 15, 32);
	}
	vt_http_response_free(&resp);
	return status;
}

static const char *err_type(json_t *j)
{
	const char *t = json_string_value(json_object_get(j, "type"));
	const char *slash = t ? strrchr(t, '/') : NULL;
	return slash ? slash + 1 : "";
}

static char *admin_bearer(struct fixture *f)
{
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	char payload[64], *jws = NULL, *out = NULL;
	snprintf(payload, sizeof(payload), "{\"exp\":%lld}", (long long)fake_now + 60);
	assert_int_equal(vt_jws_sign(f->admin, h, (const uint8_t *)payload, strlen(payload), &jws, NULL), VT_OK);
	assert_true(asprintf(&out, "Bearer %s", jws) > 0);
	free(jws);
	json_decref(h);
	return out;
}

/* auth + attest with correct sim evidence; returns the cookie, fills the token. */
static char *attest(struct fixture *f, EVP_PKEY **tee_key, char **token)
{
	json_t *j = NULL;
	char *cookie = NULL;
	assert_int_equal(call(f, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}", &j, &cookie),
			 200);
	const char *nonce = json_string_value(json_object_get(j, "nonce"));
	assert_int_equal(vt_key_generate(VT_KEY_P256, tee_key, NULL), VT_OK);
	json_t *jwk = vt_key_to_jwk(*tee_key, "ECDH-ES+A256KW", false);
	uint8_t d[48], rd[64] = {0};
	assert_int_equal(vt_kbs_runtime_digest(jwk, nonce, "", NULL, d, NULL), VT_OK);
	memcpy(rd, d, sizeof(d));
	json_t *ev = NULL;
	assert_int_equal(vt_sim_attest(f->simdir, NULL, rd, &ev, NULL), VT_OK);
	json_t *att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
				"tee-evidence", "primary_evidence", ev, "additional_evidence", "");
	char *body = vt_json_compact(att);
	json_t *resp = NULL;
	assert_int_equal(call(f, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 200);
	*token = strdup(json_string_value(json_object_get(resp, "token")));
	free(body);
	json_decref(resp);
	json_decref(att);
	json_decref(ev);
	json_decref(jwk);
	json_decref(j);
	return cookie;
}

static void test_session_expiry_pinned(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	char *cookie = NULL;
	fake_now = 1800000000;
	assert_int_equal(call(f, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}", &j, &cookie),
			 200);
	json_decref(j);
	assert_int_equal(vt_broker_session_count(f->b), 1);
	/* 60 s timeout: at +60 the session is gone; /attest says so before parsing evidence. */
	fake_now += 60;
	assert_int_equal(call(f, "POST", "/kbs/v0/attest", cookie, NULL, "{}", &j, NULL), 401);
	assert_string_equal(err_type(j), "AttestationError");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "unknown or expired session"));
	json_decref(j);
	assert_int_equal(vt_broker_session_count(f->b), 0);
	free(cookie);
}

static void test_token_lifetime_pinned(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char *bearer = admin_bearer(f);
	assert_int_equal(call(f, "POST", "/kbs/v0/resource/default/key/t", NULL, bearer, "s3cret", NULL, NULL), 200);
	/* the sim reference value, so the default policy affirms */
	struct vt_sim_attest_opts o;
	vt_sim_attest_opts_default(&o);
	char *mhex = vt_hex_encode(o.measurement, 48), payload[200], body[400];
	snprintf(payload, sizeof(payload), "{\"sim_measurement\":[\"%s\"]}", mhex);
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64);
	assert_int_equal(call(f, "POST", "/kbs/v0/reference-value", NULL, bearer, body, NULL, NULL), 200);
	free(b64);
	free(mhex);

	EVP_PKEY *tee = NULL;
	char *token = NULL;
	char *cookie = attest(f, &tee, &token);
	char auth[4096];
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	json_t *j = NULL;
	/* within the token lifetime (120 s) the Bearer path releases ... */
	fake_now += 119;
	assert_int_equal(call(f, "GET", "/kbs/v0/resource/default/key/t", NULL, auth, NULL, &j, NULL), 200);
	struct vt_secret *s = NULL;
	assert_int_equal(vt_jwe_decrypt(tee, j, &s, NULL), VT_OK);
	assert_int_equal(s->len, 6);
	assert_memory_equal(s->data, "s3cret", 6);
	vt_secret_free(s);
	json_decref(j);
	/* ... at 120 s the token has expired (the session too, at 60 s). */
	fake_now += 1;
	assert_int_equal(call(f, "GET", "/kbs/v0/resource/default/key/t", NULL, auth, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "TokenVerifierError");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "expired"));
	json_decref(j);
	assert_int_equal(call(f, "GET", "/kbs/v0/resource/default/key/t", cookie, NULL, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "TokenNotFound");
	json_decref(j);
	free(cookie);
	free(token);
	free(bearer);
	EVP_PKEY_free(tee);
}

static void test_admin_token_expiry_pinned(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char *bearer = admin_bearer(f); /* exp = now + 60 */
	json_t *j = NULL;
	assert_int_equal(call(f, "GET", "/kbs/v0/resource-policy", NULL, bearer, NULL, &j, NULL), 200);
	assert_string_equal(json_string_value(json_array_get(j, 0)), "resource-policy");
	json_decref(j);
	fake_now += 60;
	assert_int_equal(call(f, "GET", "/kbs/v0/resource-policy", NULL, bearer, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "AdminAuthAccess");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "expired"));
	json_decref(j);
	free(bearer);
}

static void test_routing_and_metrics(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	assert_int_equal(call(f, "GET", "/healthz", NULL, NULL, NULL, NULL, NULL), 200);
	assert_int_equal(call(f, "GET", "/kbs/v0/auth", NULL, NULL, NULL, &j, NULL), 404);
	assert_string_equal(err_type(j), "PluginNotFound");
	json_decref(j);
	assert_int_equal(call(f, "GET", "/kbs/v1/auth", NULL, NULL, NULL, &j, NULL), 404);
	assert_string_equal(err_type(j), "InvalidRequestPath");
	json_decref(j);
	assert_int_equal(call(f, "GET", "/kbs/v0/resource/a/../b", NULL, NULL, NULL, &j, NULL), 404);
	assert_string_equal(err_type(j), "InvalidRequestPath");
	json_decref(j);
	assert_int_equal(call(f, "POST", "/metrics", NULL, NULL, NULL, NULL, NULL), 405);
	/* A verifier without a KBS wire name (gce-vtpm) is not accepted at /auth. */
	assert_int_equal(call(f, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"gce-vtpm\",\"extra-params\":\"\"}", &j, NULL),
			 401);
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "is not accepted here"));
	json_decref(j);
	struct vt_http_request r = {.method = "GET", .path = "/metrics"};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, "\nveritee_sessions_live "));
	assert_non_null(strstr(resp.body, "# TYPE veritee_attestations_total counter"));
	vt_http_response_free(&resp);
}

/* Real SEV-SNP evidence through /attest: the AMD chain (from the configured
 * amd_certs directory, offline) and the report signature pass; the binding
 * fails, because a recorded report cannot carry this session's nonce.  A
 * flipped byte fails earlier.  Needs ../shared/vectors. */
static void test_snp_evidence_reaches_binding(void **state)
{
	struct fixture *f = *state;
	const char *vec = vt_test_vectors_dir();
	if (vec == NULL) {
		printf("# SKIP: ../shared/vectors not present\n");
		skip();
	}
	/* a second broker with AMD certificates, offline */
	char *certs = path_in(f->dir, "amd"), cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && cp '%s/snp/trustee_milan_v2_vcek.der' '%s/roots/amd/ark_milan.pem' "
		 "'%s/roots/amd/ask_milan.pem' '%s/'",
		 certs, vec, vec, vec, certs);
	assert_int_equal(system(cmd), 0);
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = path_in(f->dir, "kbs2.db");
	c.master_key_path = path_in(f->dir, "master2.key");
	c.amd_certs = certs;
	c.offline = true;
	struct vt_broker *saved = f->b, *b = NULL;
	assert_int_equal(vt_broker_new(&c, &b, NULL), VT_OK);
	vt_broker_config_free(&c);
	vt_broker_set_log(b, true, NULL, NULL);
	vt_broker_set_clock(b, clock_fn, NULL);
	f->b = b;
	assert_int_equal(vt_time_parse_rfc3339("2025-12-08T00:00:00Z", &fake_now, NULL), VT_OK);

	char path[600];
	snprintf(path, sizeof(path), "%s/snp/trustee_milan_v2_report.bin", vec);
	uint8_t *rep = NULL;
	size_t rep_size = 0;
	assert_int_equal(vt_file_read(path, 1u << 20, &rep, &rep_size, NULL), VT_OK);
	assert_int_equal(rep_size, VT_SNP_REPORT_SIZE);
	for (int flip = 0; flip < 2; flip++) {
		json_t *j = NULL;
		char *cookie = NULL;
		assert_int_equal(call(f, "POST", "/kbs/v0/auth", NULL, NULL,
				      "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":\"\"}", &j, &cookie),
				 200);
		const char *nonce = json_string_value(json_object_get(j, "nonce"));
		EVP_PKEY *k = NULL;
		assert_int_equal(vt_key_generate(VT_KEY_P256, &k, NULL), VT_OK);
		json_t *jwk = vt_key_to_jwk(k, "ECDH-ES+A256KW", false), *serde = NULL;
		if (flip)
			rep[0x90] ^= 0xff; /* a measurement byte, inside the signed region */
		assert_int_equal(vt_snp_report_to_json(rep, &serde, NULL), VT_OK);
		json_t *att = json_pack("{s:{s:s, s:O}, s:{s:{s:o, s:n}, s:s}}", "runtime-data", "nonce", nonce,
					"tee-pubkey", jwk, "tee-evidence", "primary_evidence", "attestation_report",
					serde, "cert_chain", "additional_evidence", "");
		char *body = vt_json_compact(att);
		json_t *resp = NULL;
		assert_int_equal(call(f, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 401);
		const char *detail = json_string_value(json_object_get(resp, "detail"));
		if (strstr(detail, flip ? "step signature" : "step binding") == NULL)
			fail_msg("flip=%d: %s", flip, detail);
		free(body);
		json_decref(resp);
		json_decref(att);
		json_decref(jwk);
		json_decref(j);
		EVP_PKEY_free(k);
		free(cookie);
	}
	free(rep);
	f->b = saved;
	vt_broker_free(b);
}

/* The same for a real TDX quote with its collateral (dcap-qvl JSON bundle)
 * at the README's pinned time: chain, collateral, signatures and TCB pass,
 * the binding cannot. */
static void test_tdx_evidence_reaches_binding(void **state)
{
	struct fixture *f = *state;
	const char *vec = vt_test_vectors_dir();
	if (vec == NULL) {
		printf("# SKIP: ../shared/vectors not present\n");
		skip();
	}
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = path_in(f->dir, "kbs3.db");
	c.master_key_path = path_in(f->dir, "master3.key");
	char coll[600], quote_path[600];
	snprintf(coll, sizeof(coll), "%s/tdx/phala_v5_quote_no_matching_tcb_level_collateral.json", vec);
	snprintf(quote_path, sizeof(quote_path), "%s/tdx/go-tdx-guest_v5_td15_quote.dat", vec);
	c.dcap_collateral = strdup(coll);
	c.offline = true;
	struct vt_broker *saved = f->b, *b = NULL;
	struct vt_err e = {0};
	if (vt_broker_new(&c, &b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(b, true, NULL, NULL);
	vt_broker_set_clock(b, clock_fn, NULL);
	f->b = b;
	assert_int_equal(vt_time_parse_rfc3339("2026-03-01T00:00:00Z", &fake_now, NULL), VT_OK);
	uint8_t *q = NULL;
	size_t qn = 0;
	assert_int_equal(vt_file_read(quote_path, 1u << 20, &q, &qn, NULL), VT_OK);
	for (int flip = 0; flip < 2; flip++) {
		json_t *j = NULL;
		char *cookie = NULL;
		assert_int_equal(call(f, "POST", "/kbs/v0/auth", NULL, NULL,
				      "{\"version\":\"0.4.0\",\"tee\":\"tdx\",\"extra-params\":\"\"}", &j, &cookie),
				 200);
		const char *nonce = json_string_value(json_object_get(j, "nonce"));
		EVP_PKEY *k = NULL;
		assert_int_equal(vt_key_generate(VT_KEY_P256, &k, NULL), VT_OK);
		json_t *jwk = vt_key_to_jwk(k, "ECDH-ES+A256KW", false);
		if (flip)
			q[184 + 6] ^= 0xff; /* mr_td (v5: +6), inside the signed region */
		char *b64 = vt_b64_encode(q, qn);
		json_t *att = json_pack("{s:{s:s, s:O}, s:{s:{s:s, s:n}, s:s}}", "runtime-data", "nonce", nonce,
					"tee-pubkey", jwk, "tee-evidence", "primary_evidence", "quote", b64, "cc_eventlog",
					"additional_evidence", "");
		char *body = vt_json_compact(att);
		json_t *resp = NULL;
		assert_int_equal(call(f, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 401);
		const char *detail = json_string_value(json_object_get(resp, "detail"));
		if (strstr(detail, flip ? "step signature" : "step binding") == NULL)
			fail_msg("flip=%d: %s", flip, detail);
		free(b64);
		free(body);
		json_decref(resp);
		json_decref(att);
		json_decref(jwk);
		json_decref(j);
		EVP_PKEY_free(k);
		free(cookie);
	}
	free(q);
	f->b = saved;
	vt_broker_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_expiry_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_lifetime_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_token_expiry_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing_and_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snp_evidence_reaches_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tdx_evidence_reaches_binding, setup, teardown),
	};
	return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
