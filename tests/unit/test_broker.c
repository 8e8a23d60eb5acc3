/* The broker driven directly (no sockets) with an injected clock: session
 * and token lifetimes are checked at pinned times, not by sleeping. */
#include <sys/stat.h>

#include <openssl/bn.h>
#include <sqlite3.h>

#include "broker_testutil.h"

#include "broker/broker_internal.h" /* vt_broker_log */
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


/* A broker on the fixture's keys; db names its own database. */
static struct vt_broker *make_broker(struct fixture *f, const char *db, bool explain)
{
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = vt_test_path_in(f->dir, db);
	c.master_key_path = vt_test_path_in(f->dir, "master.key");
	c.insecure_sim_root = vt_test_path_in(f->dir, "sim/sim-root.pem");
	c.admin_keys = calloc(1, sizeof(char *));
	c.admin_keys[0] = vt_test_path_in(f->dir, "admin.pub");
	c.admin_key_count = 1;
	c.session_timeout = 60;
	c.token_lifetime = 120;
	c.max_sessions = 8;
	c.max_sessions_per_client = 3;
	c.explain_denials = explain;
	struct vt_err e = {0};
	struct vt_broker *b = NULL;
	if (vt_broker_new(&c, &b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(b, true, NULL, NULL);
	vt_broker_set_clock(b, clock_fn, NULL);
	return b;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = vt_test_tmpdir();
	vt_test_broker_keys(f->dir, f->simdir, sizeof(f->simdir), &f->admin);
	f->b = make_broker(f, "kbs.db", true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	vt_broker_free(f->b);
	EVP_PKEY_free(f->admin);
	vt_test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}


static const char *err_type(json_t *j)
{
	const char *t = json_string_value(json_object_get(j, "type"));
	const char *slash = t ? strrchr(t, '/') : NULL;
	return slash ? slash + 1 : "";
}


/* auth + attest with correct sim evidence; returns the cookie, fills the token. */
static char *attest(struct fixture *f, EVP_PKEY **tee_key, char **token)
{
	json_t *j = NULL;
	char *cookie = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
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
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 200);
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
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}", &j, &cookie),
			 200);
	json_decref(j);
	assert_int_equal(vt_broker_session_count(f->b), 1);
	/* 60 s timeout: at +60 the session is gone; /attest says so before parsing evidence. */
	fake_now += 60;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, "{}", &j, NULL), 401);
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
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource/default/key/t", NULL, bearer, "s3cret", NULL, NULL), 200);
	/* the sim reference value, so the default policy affirms */
	struct vt_sim_attest_opts o;
	vt_sim_attest_opts_default(&o);
	char *mhex = vt_hex_encode(o.measurement, 48), payload[200], body[400];
	snprintf(payload, sizeof(payload), "{\"sim_measurement\":[\"%s\"]}", mhex);
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64);
	/* an admin token is good for one request: the second use is a replay */
	json_t *rj = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/reference-value", NULL, bearer, body, &rj, NULL), 401);
	assert_non_null(strstr(json_string_value(json_object_get(rj, "detail")), "field jti"));
	json_decref(rj);
	free(bearer);
	bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/reference-value", NULL, bearer, body, NULL, NULL), 200);
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
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/t", NULL, auth, NULL, &j, NULL), 200);
	struct vt_secret *s = NULL;
	assert_int_equal(vt_jwe_decrypt(tee, j, &s, NULL), VT_OK);
	assert_int_equal(s->len, 6);
	assert_memory_equal(s->data, "s3cret", 6);
	vt_secret_free(s);
	json_decref(j);
	/* ... at 120 s the token has expired (the session too, at 60 s). */
	fake_now += 1;
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/t", NULL, auth, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "TokenVerifierError");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "expired"));
	json_decref(j);
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/t", cookie, NULL, NULL, &j, NULL), 401);
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
	char *bearer = vt_test_admin_bearer(f->admin, fake_now); /* exp = now + 60 */
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource-policy", NULL, bearer, NULL, &j, NULL), 200);
	/* the policy in force, as Trustee answers (issue 16: admin get) */
	assert_string_equal(json_string_value(json_object_get(j, "id")), "resource-policy");
	json_decref(j);
	fake_now += 60;
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource-policy", NULL, bearer, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "AdminAuthAccess");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "expired"));
	json_decref(j);
	free(bearer);
}

static void test_routing_and_metrics(void **state)
{
	struct fixture *f = *state;
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/healthz", NULL, NULL, NULL, NULL, NULL), 200);
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/auth", NULL, NULL, NULL, &j, NULL), 404);
	assert_string_equal(err_type(j), "PluginNotFound");
	json_decref(j);
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v1/auth", NULL, NULL, NULL, &j, NULL), 404);
	assert_string_equal(err_type(j), "InvalidRequestPath");
	json_decref(j);
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/a/../b", NULL, NULL, NULL, &j, NULL), 404);
	assert_string_equal(err_type(j), "InvalidRequestPath");
	json_decref(j);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/metrics", NULL, NULL, NULL, NULL, NULL), 405);
	/* A verifier without a KBS wire name (gce-vtpm) is not accepted at /auth. */
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
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
	char *certs = vt_test_path_in(f->dir, "amd"), cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && cp '%s/snp/trustee_milan_v2_vcek.der' '%s/roots/amd/ark_milan.pem' "
		 "'%s/roots/amd/ask_milan.pem' '%s/'",
		 certs, vec, vec, vec, certs);
	assert_int_equal(system(cmd), 0);
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = vt_test_path_in(f->dir, "kbs2.db");
	c.master_key_path = vt_test_path_in(f->dir, "master2.key");
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
		assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
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
		assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 401);
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
	c.db_path = vt_test_path_in(f->dir, "kbs3.db");
	c.master_key_path = vt_test_path_in(f->dir, "master3.key");
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
		assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
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
		assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 401);
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


/* ------------------------------------------------------ hardening (issue 10) */

static char *admin_bearer_claims(struct fixture *f, const char *claims_json)
{
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	char *jws = NULL, *out = NULL;
	assert_int_equal(vt_jws_sign(f->admin, h, (const uint8_t *)claims_json, strlen(claims_json), &jws, NULL), VT_OK);
	assert_true(asprintf(&out, "Bearer %s", jws) > 0);
	free(jws);
	json_decref(h);
	return out;
}

/* One admin request with a token of the given claims; returns the status
 * and the error detail (or ""). */
static int admin_with(struct fixture *f, const char *claims, const char *body, char detail[512])
{
	char *bearer = admin_bearer_claims(f, claims);
	json_t *j = NULL;
	int st = vt_test_broker_call(f->b, "POST", "/kbs/v0/resource/default/key/a", NULL, bearer, body, &j, NULL);
	snprintf(detail, 512, "%s", json_string_value(json_object_get(j, "detail")) ? json_string_value(json_object_get(j, "detail")) : "");
	json_decref(j);
	free(bearer);
	return st;
}

static void test_admin_token_rules(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char c[400], d[512];
#define CLAIMS(...) snprintf(c, sizeof(c), __VA_ARGS__)
	CLAIMS("{\"exp\":%lld}", (long long)fake_now + 60);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field jti"));
	CLAIMS("{\"exp\":%lld,\"jti\":\"short\"}", (long long)fake_now + 60);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field jti"));
	/* exp = 2^63-1: no maximum lifetime before; 900 s now */
	CLAIMS("{\"exp\":9223372036854775807,\"jti\":\"jti-huge-exp-0000001\"}");
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field exp"));
	CLAIMS("{\"iat\":%lld,\"exp\":%lld,\"jti\":\"jti-long-life-000001\"}", (long long)fake_now,
	       (long long)fake_now + 86400);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field exp"));
	CLAIMS("{\"nbf\":%lld,\"exp\":%lld,\"jti\":\"jti-not-before-00001\"}", (long long)fake_now + 300,
	       (long long)fake_now + 600);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field nbf"));
	CLAIMS("{\"iat\":%lld,\"exp\":%lld,\"jti\":\"jti-future-iat-0001\"}", (long long)fake_now + 300,
	       (long long)fake_now + 600);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field iat"));
	/* not started: no origin, no admin_audience: any aud is foreign */
	CLAIMS("{\"exp\":%lld,\"jti\":\"jti-audience-000001\",\"aud\":\"https://other.example\"}",
	       (long long)fake_now + 60);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field aud"));
	CLAIMS("{\"exp\":%lld,\"jti\":\"jti-method-00000001\",\"htm\":\"DELETE\"}", (long long)fake_now + 60);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field htm"));
	CLAIMS("{\"exp\":%lld,\"jti\":\"jti-path-0000000001\",\"htu\":\"/kbs/v0/resource/default/key/b\"}",
	       (long long)fake_now + 60);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field htu"));
	/* SHA-256("x") */
	const char *sha_x = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
	CLAIMS("{\"exp\":%lld,\"jti\":\"jti-body-0000000001\",\"body_sha256\":\"%s\"}", (long long)fake_now + 60, sha_x);
	assert_int_equal(admin_with(f, c, "y", d), 401);
	assert_non_null(strstr(d, "field body_sha256"));
	/* bound to this very request: accepted once, then a replay */
	CLAIMS("{\"iat\":%lld,\"exp\":%lld,\"jti\":\"jti-good-0000000001\",\"htm\":\"POST\","
	       "\"htu\":\"/kbs/v0/resource/default/key/a\",\"body_sha256\":\"%s\"}",
	       (long long)fake_now, (long long)fake_now + 120, sha_x);
	assert_int_equal(admin_with(f, c, "x", d), 200);
	assert_int_equal(admin_with(f, c, "x", d), 401);
	assert_non_null(strstr(d, "field jti"));
	assert_non_null(strstr(d, "replay"));
#undef CLAIMS
}

static void test_resource_default_deny(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource/default/key/t", NULL, bearer, "s3cret", NULL, NULL), 200);
	free(bearer);
	/* every rule is scoped to other resources: nothing applies to default/key/t */
	const char *pol = "{\"version\":1,\"rules\":[{\"name\":\"others-only\",\"claim\":\"/submods/cpu0/ear.status\","
			  "\"equals\":\"contraindicated\",\"resources\":[\"other/*/*\"]}]}";
	char *b64 = vt_b64url_encode((const uint8_t *)pol, strlen(pol)), body[600];
	snprintf(body, sizeof(body), "{\"policy\":\"%s\"}", b64);
	free(b64);
	bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource-policy", NULL, bearer, body, NULL, NULL), 200);
	free(bearer);
	EVP_PKEY *tee = NULL;
	char *token = NULL, *cookie = attest(f, &tee, &token); /* contraindicated: no reference value */
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/t", cookie, NULL, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "PolicyDeny");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "no rule of the resource policy applies"));
	assert_null(json_object_get(j, "protected"));
	json_decref(j);
	EVP_PKEY_free(tee);
	free(token);
	free(cookie);
}

static char *auth_session(struct fixture *f, const char *client)
{
	struct vt_http_request r = {.method = "POST", .path = "/kbs/v0/auth", .client = client,
				    .body = (const uint8_t *)"{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}"};
	r.body_size = strlen((const char *)r.body);
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	assert_int_equal(resp.status, 200);
	char *cookie = strndup(resp.set_cookie + 15, 32);
	vt_http_response_free(&resp);
	return cookie;
}

static void test_session_quotas(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	/* the fixture: max_sessions 8, max_sessions_per_client 3 */
	char *legit = auth_session(f, "192.0.2.1");
	char *flood[20];
	for (int i = 0; i < 20; i++)
		flood[i] = auth_session(f, "198.51.100.7"); /* never refused */
	/* the flooder holds at most 3 sessions: its own oldest went first */
	assert_int_equal(vt_broker_session_count(f->b), 4);
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", flood[0], NULL, "{}", &j, NULL), 401);
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "unknown or expired session"));
	json_decref(j);
	/* the other client's session survived the flood */
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", legit, NULL, "{}", &j, NULL), 401);
	assert_null(strstr(json_string_value(json_object_get(j, "detail")), "unknown or expired session"));
	json_decref(j);
	/* many addresses: the table stays at max_sessions, the oldest unattested go */
	char addr[32];
	for (int i = 0; i < 30; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", i);
		free(auth_session(f, addr));
	}
	assert_int_equal(vt_broker_session_count(f->b), 8);
	free(legit);
	for (int i = 0; i < 20; i++)
		free(flood[i]);
}

static void test_tee_pubkey_caps(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	json_t *j = NULL;
	char *cookie = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}", &j, &cookie),
			 200);
	const char *nonce = json_string_value(json_object_get(j, "nonce"));
	/* a 16384-bit modulus (2048 bytes of 0xff): refused before any import */
	uint8_t big[2048];
	memset(big, 0xff, sizeof(big));
	char *n = vt_b64url_encode(big, sizeof(big));
	json_t *att = json_pack("{s:{s:s, s:{s:s, s:s, s:s, s:s}}, s:{s:{}, s:s}}", "runtime-data", "nonce", nonce,
				"tee-pubkey", "kty", "RSA", "alg", "RSA-OAEP-256", "n", n, "e", "AQAB", "tee-evidence",
				"primary_evidence", "additional_evidence", "");
	char *body = vt_json_compact(att);
	json_t *resp = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 401);
	const char *detail = json_string_value(json_object_get(resp, "detail"));
	assert_non_null(strstr(detail, "field runtime-data.tee-pubkey"));
	json_decref(resp);
	/* and the session is burnt */
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, body, &resp, NULL), 401);
	assert_non_null(strstr(json_string_value(json_object_get(resp, "detail")), "unknown or expired session"));
	json_decref(resp);
	free(body);
	json_decref(att);
	free(n);
	free(cookie);
	json_decref(j);

	/* a member a public JWK has no business carrying */
	struct vt_err e = {0};
	json_t *pk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "alg", "ECDH-ES+A256KW", "crv", "P-256",
			       "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y",
			       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "d", "AAAA");
	assert_int_equal(vt_kbs_check_tee_pubkey(pk, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "runtime-data.tee-pubkey");
	json_decref(pk);
}

/* (r, n - s) also verifies under ECDSA: the broker takes only the low-S
 * encoding it makes. */
static void test_high_s_token_refused(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource/default/key/t", NULL, bearer, "s3cret", NULL, NULL), 200);
	free(bearer);
	EVP_PKEY *tee = NULL;
	char *token = NULL, *cookie = attest(f, &tee, &token);
	const char *dot = strrchr(token, '.');
	uint8_t *sig = NULL;
	size_t sl = 0;
	assert_int_equal(vt_b64url_decode(dot + 1, strlen(dot + 1), &sig, &sl, NULL), VT_OK);
	assert_int_equal(sl, 64);
	BIGNUM *order = BN_new(), *sv = BN_bin2bn(sig + 32, 32, NULL), *hs = BN_new();
	const unsigned char p256_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
					  0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
	BN_bin2bn(p256_n, 32, order);
	assert_int_equal(BN_sub(hs, order, sv), 1);
	assert_int_equal(BN_bn2binpad(hs, sig + 32, 32), 32);
	char *s64 = vt_b64url_encode(sig, 64), auth[4096];
	snprintf(auth, sizeof(auth), "Bearer %.*s%s", (int)(dot + 1 - token), token, s64);
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/t", NULL, auth, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "TokenVerifierError");
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "high-S"));
	json_decref(j);
	BN_free(order);
	BN_free(sv);
	BN_free(hs);
	free(s64);
	free(sig);
	EVP_PKEY_free(tee);
	free(token);
	free(cookie);
}

static void test_log_lines_escaped(void **state)
{
	struct fixture *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	vt_broker_set_log(f->b, false, NULL, mem);
	/* a "released" line forged through a path and a tee name */
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"x\\n2026-01-01T00:00:00Z INFO resource a/b/c: released\","
			      "\"extra-params\":\"\"}",
			      NULL, NULL),
			 401);
	vt_broker_log(f->b, "WARN", "path %s", "/kbs/v0/\n2026-01-01T00:00:00Z INFO resource a/b/c: released");
	vt_broker_set_log(f->b, true, NULL, NULL);
	fclose(mem);
	assert_non_null(strstr(buf, "\\x0a2026-01-01T00:00:00Z INFO resource a/b/c: released"));
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		assert_null(strstr(line, "2026-01-01T00:00:00Z INFO") == line ? line : NULL);
	free(buf);
}

static void test_token_key_mode_refused(void **state)
{
	struct fixture *f = *state;
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = vt_test_path_in(f->dir, "kbs2.db");
	c.master_key_path = vt_test_path_in(f->dir, "master2.key");
	c.token_key_path = vt_test_path_in(f->dir, "token2.key");
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &k, NULL), VT_OK);
	assert_int_equal(vt_key_save_pem(c.token_key_path, k, true, 0644, NULL), VT_OK);
	assert_int_equal(chmod(c.token_key_path, 0644), 0);
	EVP_PKEY_free(k);
	struct vt_broker *b = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_broker_new(&c, &b, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "token2.key"));
	assert_non_null(strstr(e.detail, "chmod 600"));
	/* a world-readable tls_key too */
	assert_int_equal(chmod(c.token_key_path, 0600), 0);
	c.tls_cert = vt_test_path_in(f->dir, "tls.crt");
	c.tls_key = vt_test_path_in(f->dir, "tls.key");
	assert_int_equal(vt_file_write(c.tls_key, "k", 1, 0640, NULL), VT_OK);
	assert_int_equal(chmod(c.tls_key, 0640), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_broker_new(&c, &b, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "tls.key"));
	vt_broker_config_free(&c);
}

/* Without explain_denials the EAR names rules, never reference values. */
static void test_refvals_not_in_token(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	const char *payload = "{\"sim_measurement\":[\"00112233445566778899aabbccddeeff\"]}";
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload)), body[400];
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/reference-value", NULL, bearer, body, NULL, NULL), 200);
	free(b64);
	free(bearer);
	EVP_PKEY *tee = NULL;
	char *token = NULL, *cookie = attest(f, &tee, &token);
	uint8_t *p = NULL;
	size_t n = 0;
	const char *d1 = strchr(token, '.'), *d2 = strrchr(token, '.');
	assert_int_equal(vt_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p, &n, NULL), VT_OK);
	/* explain_denials is on in the fixture: the value is there */
	assert_non_null(memmem(p, n, "00112233445566778899aabbccddeeff", 32));
	free(p);
	free(token);
	free(cookie);
	EVP_PKEY_free(tee);
	/* a second broker on the same store, explain_denials off */
	struct vt_broker *quiet = make_broker(f, "kbs.db", false);
	struct vt_broker *loud = f->b;
	f->b = quiet;
	cookie = attest(f, &tee, &token);
	f->b = loud;
	vt_broker_free(quiet);
	d1 = strchr(token, '.');
	d2 = strrchr(token, '.');
	assert_int_equal(vt_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p, &n, NULL), VT_OK);
	assert_null(memmem(p, n, "00112233445566778899aabbccddeeff", 32));
	assert_non_null(memmem(p, n, "measurement-approved", 20));
	free(p);
	free(token);
	free(cookie);
	EVP_PKEY_free(tee);
}

/* A storage failure (injected with a trigger in the broker's own SQLite
 * file) leaves nothing half-done: no reference value of the message is
 * stored or live, and a policy that could not be stored is not in force. */
static void test_storage_failure_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	fake_now = 1800000000;
	char *db = vt_test_path_in(f->dir, "kbs.db");
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	assert_int_equal(sqlite3_exec(h,
				      "CREATE TRIGGER boom BEFORE INSERT ON kv WHEN NEW.key IN ('zz_fail', 'resource-policy') "
				      "BEGIN SELECT RAISE(ABORT, 'injected storage failure'); END;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	free(db);

	/* two values, the second fails: neither is stored nor live */
	const char *payload = "{\"aa_ok\":[\"01\"],\"zz_fail\":[\"02\"]}";
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload)), body[400];
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64);
	free(b64);
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/reference-value", NULL, bearer, body, &j, NULL), 401);
	assert_string_equal(err_type(j), "RvpsError");
	json_decref(j);
	free(bearer);
	bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/reference-value/aa_ok", NULL, bearer, NULL, &j, NULL), 401);
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "not found"));
	json_decref(j);
	free(bearer);
	/* nor in the store: a broker started on it does not see it either */
	struct vt_broker *again = make_broker(f, "kbs.db", true), *first = f->b;
	f->b = again;
	bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/reference-value/aa_ok", NULL, bearer, NULL, &j, NULL), 401);
	assert_non_null(strstr(json_string_value(json_object_get(j, "detail")), "not found"));
	json_decref(j);
	free(bearer);
	f->b = first;
	vt_broker_free(again);

	/* a resource policy the store refuses does not go live: the default
	 * policy (affirming only) still decides */
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource/default/key/t", NULL, (bearer = vt_test_admin_bearer(f->admin, fake_now)), "s3cret",
			      NULL, NULL),
			 200);
	free(bearer);
	const char *allow_all = "{\"version\":1,\"rules\":[{\"name\":\"any\",\"claim\":\"/submods\",\"exists\":true}]}";
	char *p64 = vt_b64url_encode((const uint8_t *)allow_all, strlen(allow_all)), pbody[400];
	snprintf(pbody, sizeof(pbody), "{\"policy\":\"%s\"}", p64);
	free(p64);
	bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource-policy", NULL, bearer, pbody, &j, NULL), 401);
	assert_string_equal(err_type(j), "PluginInternalError");
	json_decref(j);
	free(bearer);
	EVP_PKEY *tee = NULL;
	char *token = NULL, *cookie = attest(f, &tee, &token); /* contraindicated: no reference value */
	assert_int_equal(vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/t", cookie, NULL, NULL, &j, NULL), 401);
	assert_string_equal(err_type(j), "PolicyDeny");
	json_decref(j);
	EVP_PKEY_free(tee);
	free(token);
	free(cookie);
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
		cmocka_unit_test_setup_teardown(test_admin_token_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resource_default_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_quotas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tee_pubkey_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_s_token_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_lines_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_key_mode_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refvals_not_in_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_failure_all_or_nothing, setup, teardown),
	};
	return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
