/* Observability of the broker (issue 16): the request log line in both
 * formats and its level filter, the request and verification metrics, the
 * attestation event record and its admin endpoints, with a pinned clock. */
#include <stdio.h>

#include "broker_testutil.h"

#include "broker/broker_internal.h"
#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/policy.h"
#include "veritee/sim.h"

static int64_t fake_now = 1800000000; /* a multiple of 60 */
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
	char *log;     /* the memstream's buffer */
	size_t log_size;
	FILE *logf;
};

static struct vt_broker *make_broker(struct fixture *f, enum vt_log_format fmt, enum vt_log_level lvl)
{
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = vt_test_path_in(f->dir, "kbs.db");
	c.master_key_path = vt_test_path_in(f->dir, "master.key");
	c.insecure_sim_root = vt_test_path_in(f->dir, "sim/sim-root.pem");
	c.admin_keys = calloc(1, sizeof(char *));
	c.admin_keys[0] = vt_test_path_in(f->dir, "admin.pub");
	c.admin_key_count = 1;
	c.log_format = fmt;
	c.log_level = lvl;
	struct vt_err e = {0};
	struct vt_broker *b = NULL;
	if (vt_broker_new(&c, &b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_clock(b, clock_fn, NULL);
	return b;
}

/* (Re)start the fixture's broker with a fresh log stream. */
static void restart(struct fixture *f, enum vt_log_format fmt, enum vt_log_level lvl)
{
	vt_broker_free(f->b);
	if (f->logf)
		fclose(f->logf);
	free(f->log);
	f->log = NULL;
	f->log_size = 0;
	f->logf = open_memstream(&f->log, &f->log_size);
	assert_non_null(f->logf);
	f->b = make_broker(f, fmt, lvl);
	vt_broker_set_log(f->b, false, NULL, f->logf);
}

static const char *logtext(struct fixture *f)
{
	fflush(f->logf);
	return f->log ? f->log : "";
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = vt_test_tmpdir();
	vt_test_broker_keys(f->dir, f->simdir, sizeof(f->simdir), &f->admin);
	fake_now = 1800000000;
	restart(f, VT_LOG_TEXT, VT_LOG_INFO);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	vt_broker_free(f->b);
	fclose(f->logf);
	free(f->log);
	EVP_PKEY_free(f->admin);
	vt_test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* One request from `client`; returns the status, the request id and the body. */
static int call(struct fixture *f, const char *method, const char *path, const char *query, const char *cookie,
		const char *auth, const char *body, const char *client, char rid[17], json_t **json_out, char **cookie_out)
{
	struct vt_http_request r = {.method = method, .path = path, .query = query, .session_cookie = cookie,
				    .authorization = auth, .client = client,
				    .body = (const uint8_t *)(body ? body : ""), .body_size = body ? strlen(body) : 0};
	return vt_test_broker_request(f->b, &r, rid, json_out, cookie_out);
}

/* auth + attest from `client`; good: with the right nonce, else a wrong
 * one.  Returns the /attest status; rid gets its request id. */
static int attest_ex(struct fixture *f, bool good, const char *client, char rid[17], char **token_out)
{
	json_t *j = NULL;
	char *cookie = NULL;
	EVP_PKEY *tee_key = NULL;
	assert_int_equal(call(f, "POST", "/kbs/v0/auth", NULL, NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}", client, NULL, &j, &cookie),
			 200);
	const char *nonce = json_string_value(json_object_get(j, "nonce"));
	assert_int_equal(vt_key_generate(VT_KEY_P256, &tee_key, NULL), VT_OK);
	json_t *jwk = vt_key_to_jwk(tee_key, "ECDH-ES+A256KW", false);
	uint8_t d[48], rd[64] = {0};
	assert_int_equal(vt_kbs_runtime_digest(jwk, nonce, "", NULL, d, NULL), VT_OK);
	memcpy(rd, d, sizeof(d));
	json_t *ev = NULL;
	assert_int_equal(vt_sim_attest(f->simdir, NULL, rd, &ev, NULL), VT_OK);
	json_t *att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", good ? nonce : "not-the-nonce",
				"tee-pubkey", jwk, "tee-evidence", "primary_evidence", ev, "additional_evidence", "");
	char *body = vt_json_compact(att);
	json_t *resp = NULL;
	int st = call(f, "POST", "/kbs/v0/attest", NULL, cookie, NULL, body, client, rid, &resp, NULL);
	if (token_out)
		*token_out = st == 200 ? strdup(json_string_value(json_object_get(resp, "token"))) : NULL;
	json_decref(resp);
	free(body);
	free(cookie);
	json_decref(att);
	json_decref(ev);
	json_decref(jwk);
	json_decref(j);
	EVP_PKEY_free(tee_key);
	return st;
}

static int attest(struct fixture *f, bool good, const char *client, char rid[17])
{
	return attest_ex(f, good, client, rid, NULL);
}

/* The log line holding `needle`, copied (NULL when none). */
static char *line_with(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	if (p == NULL)
		return NULL;
	const char *start = p;
	while (start > text && start[-1] != '\n')
		start--;
	const char *end = strchr(p, '\n');
	return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

static void test_log_text(void **state)
{
	struct fixture *f = *state;
	char good[17], bad[17];
	assert_int_equal(attest(f, true, "192.0.2.7", good), 200);
	assert_int_equal(attest(f, false, "192.0.2.8", bad), 401);
	const char *text = logtext(f);
	char needle[40];
	snprintf(needle, sizeof(needle), "request id=%s ", good);
	char *l = line_with(text, needle);
	assert_non_null(l);
	assert_non_null(strstr(l, " INFO request id="));
	assert_non_null(strstr(l, " client=192.0.2.7 method=POST path=/kbs/v0/attest status=200 tee=sim outcome="));
	assert_non_null(strstr(l, " ms="));
	assert_null(strstr(l, "step="));
	free(l);
	snprintf(needle, sizeof(needle), "request id=%s ", bad);
	l = line_with(text, needle);
	assert_non_null(l);
	assert_non_null(strstr(l, " WARN request id="));
	assert_non_null(strstr(l, " client=192.0.2.8 method=POST path=/kbs/v0/attest status=401 tee=sim outcome=failed "
				  "step=binding field=runtime-data.nonce detail=\"AttestationError\" ms="));
	free(l);
	/* /auth: info, no tee or outcome */
	l = line_with(text, "path=/kbs/v0/auth status=200");
	assert_non_null(l);
	assert_null(strstr(l, "outcome="));
	free(l);
}

/* A refusal whose text holds a non-ASCII byte (the policy explanation's
 * dash) and quotes: escaped once in the log line, never twice. */
static void test_log_escaped_once(void **state)
{
	struct fixture *f = *state;
	char *token = NULL, auth[4096], rid[17];
	assert_int_equal(attest_ex(f, true, "192.0.2.9", NULL, &token), 200); /* unregistered measurement: warning */
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	assert_int_equal(call(f, "GET", "/kbs/v0/resource/default/key/x", NULL, NULL, auth, NULL, "192.0.2.9", rid, NULL,
			      NULL),
			 401);
	char needle[40];
	snprintf(needle, sizeof(needle), "request id=%s ", rid);
	char *l = line_with(logtext(f), needle);
	assert_non_null(l);
	assert_non_null(strstr(l, "outcome=denied"));
	assert_non_null(strstr(l, "detail=\"PolicyDeny: "));
	assert_non_null(strstr(l, "\\xe2\\x80\\x94")); /* the dash, escaped once */
	assert_null(strstr(l, "\\x5c"));                 /* no escaped backslash: nothing escaped twice */
	free(l);
	free(token);
}

static void test_log_json(void **state)
{
	struct fixture *f = *state;
	restart(f, VT_LOG_JSON, VT_LOG_INFO);
	char good[17], bad[17], rid[17];
	assert_int_equal(attest(f, true, "192.0.2.7", good), 200);
	assert_int_equal(attest(f, false, "2001:db8::1", bad), 401);
	/* the query is not logged, and neither a bearer token nor a cookie */
	assert_int_equal(call(f, "GET", "/kbs/v0/resource/a/b/c", "q=QUERYVALUE", "COOKIEVALUE0123456789abcdef012345",
			      "Bearer AUTHZVALUE.eyJ.sig", NULL, "192.0.2.9", rid, NULL, NULL),
			 401);
	const char *text = logtext(f);
	assert_null(strstr(text, "QUERYVALUE"));
	assert_null(strstr(text, "COOKIEVALUE"));
	assert_null(strstr(text, "AUTHZVALUE"));
	size_t requests = 0, others = 0;
	bool saw_good = false, saw_bad = false, saw_res = false;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		json_error_t je;
		json_t *j = json_loadb(p, (size_t)(nl - p), 0, &je);
		if (j == NULL)
			fail_msg("not JSON: %.*s (%s)", (int)(nl - p), p, je.text);
		assert_true(json_is_string(json_object_get(j, "ts")));
		assert_true(json_is_string(json_object_get(j, "level")));
		assert_true(json_is_string(json_object_get(j, "msg")));
		if (strcmp(json_string_value(json_object_get(j, "msg")), "request") != 0) {
			others++;
			json_decref(j);
			p = nl + 1;
			continue;
		}
		requests++;
		static const char *const keys[] = {"ts",	"level", "msg",	  "request_id", "client", "method", "path",
						   "status", "tee",   "outcome", "step",	"field",  "detail", "ms"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_object_get(j, keys[i]) == NULL)
				fail_msg("no %s in a request line", keys[i]);
		assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
		assert_true(json_is_number(json_object_get(j, "ms")));
		const char *id = json_string_value(json_object_get(j, "request_id"));
		if (strcmp(id, good) == 0) {
			saw_good = true;
			assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
			assert_string_equal(json_string_value(json_object_get(j, "client")), "192.0.2.7");
			assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
			assert_string_equal(json_string_value(json_object_get(j, "path")), "/kbs/v0/attest");
			assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
			assert_string_equal(json_string_value(json_object_get(j, "tee")), "sim");
			assert_true(json_is_string(json_object_get(j, "outcome")));
			assert_string_not_equal(json_string_value(json_object_get(j, "outcome")), "failed");
			assert_true(json_is_null(json_object_get(j, "step")));
			assert_true(json_is_null(json_object_get(j, "field")));
			assert_true(json_is_null(json_object_get(j, "detail")));
		} else if (strcmp(id, bad) == 0) {
			saw_bad = true;
			assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
			assert_string_equal(json_string_value(json_object_get(j, "client")), "2001:db8::1");
			assert_int_equal(json_integer_value(json_object_get(j, "status")), 401);
			assert_string_equal(json_string_value(json_object_get(j, "outcome")), "failed");
			assert_string_equal(json_string_value(json_object_get(j, "step")), "binding");
			assert_string_equal(json_string_value(json_object_get(j, "field")), "runtime-data.nonce");
			assert_string_equal(json_string_value(json_object_get(j, "detail")), "AttestationError");
		} else if (strcmp(id, rid) == 0) {
			saw_res = true;
			assert_string_equal(json_string_value(json_object_get(j, "path")), "/kbs/v0/resource/a/b/c");
			assert_string_equal(json_string_value(json_object_get(j, "outcome")), "denied");
			assert_true(json_is_null(json_object_get(j, "tee")));
		}
		json_decref(j);
		p = nl + 1;
	}
	assert_true(saw_good && saw_bad && saw_res);
	assert_int_equal(requests, 5); /* 2 x (auth + attest) + resource */
	assert_true(others >= 1);      /* the handlers' own lines: JSON too */
}

static void test_log_level(void **state)
{
	struct fixture *f = *state;
	restart(f, VT_LOG_TEXT, VT_LOG_WARN);
	char good[17], bad[17];
	assert_int_equal(attest(f, true, "192.0.2.7", good), 200);
	assert_int_equal(attest(f, false, "192.0.2.7", bad), 401);
	const char *text = logtext(f);
	assert_null(strstr(text, good));
	assert_null(strstr(text, " INFO "));
	assert_non_null(strstr(text, bad));
	restart(f, VT_LOG_JSON, VT_LOG_ERROR);
	assert_int_equal(attest(f, false, "192.0.2.7", bad), 401);
	assert_string_equal(logtext(f), "");
	restart(f, VT_LOG_JSON, VT_LOG_DEBUG);
	assert_int_equal(call(f, "GET", "/healthz", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), 200);
	assert_non_null(strstr(logtext(f), "\"path\":\"/healthz\""));

	enum vt_log_level lv;
	enum vt_log_format fm;
	assert_true(vt_log_level_parse("debug", &lv) && lv == VT_LOG_DEBUG);
	assert_false(vt_log_level_parse("verbose", &lv));
	assert_false(vt_log_level_parse(NULL, &lv));
	assert_true(vt_log_format_parse("json", &fm) && fm == VT_LOG_JSON);
	assert_false(vt_log_format_parse("JSON", &fm));
}

static char *metrics(struct fixture *f)
{
	struct vt_http_request r = {.method = "GET", .path = "/metrics"};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	assert_int_equal(resp.status, 200);
	char *s = strndup(resp.body, resp.body_size);
	vt_http_response_free(&resp);
	return s;
}

static void test_metrics(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(attest(f, true, NULL, NULL), 200);
	assert_int_equal(attest(f, true, NULL, NULL), 200);
	assert_int_equal(attest(f, false, NULL, NULL), 401);
	/* no cookie: no session, no TEE known */
	assert_int_equal(call(f, "POST", "/kbs/v0/attest", NULL, NULL, NULL, "{}", NULL, NULL, NULL, NULL), 401);
	/* an attacker's path counts as "other" */
	assert_int_equal(call(f, "GET", "/zz/attacker-chosen", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), 404);
	char *m = metrics(f);
	static const char *const want[] = {
		"# TYPE veritee_http_request_duration_seconds histogram\n",
		"veritee_http_request_duration_seconds_bucket{endpoint=\"attest\",le=\"+Inf\"} 4\n",
		"veritee_http_request_duration_seconds_count{endpoint=\"attest\"} 4\n",
		"veritee_http_request_duration_seconds_sum{endpoint=\"attest\"} ",
		"veritee_http_request_duration_seconds_bucket{endpoint=\"attest\",le=\"0.001\"} ",
		"veritee_http_request_duration_seconds_bucket{endpoint=\"attest\",le=\"0.0025\"} ",
		"veritee_http_request_duration_seconds_bucket{endpoint=\"attest\",le=\"5\"} ",
		"veritee_http_request_duration_seconds_count{endpoint=\"auth\"} 3\n",
		"veritee_http_request_duration_seconds_count{endpoint=\"other\"} 1\n",
		"veritee_http_request_duration_seconds_count{endpoint=\"metrics\"} 0\n", /* this one is not done yet */
		"# TYPE veritee_verifications_total counter\n",
		"veritee_verifications_total{tee=\"sim\",outcome=\"ok\",step=\"none\"} 2\n",
		"veritee_verifications_total{tee=\"sim\",outcome=\"failed\",step=\"binding\"} 1\n",
		"veritee_verifications_total{tee=\"unknown\",outcome=\"failed\",step=\"none\"} 1\n",
		"veritee_build_info{version=\"0.1.0\",openssl=\"",
		/* the older metrics stay */
		"veritee_attestations_total{result=\"ok\"} 2\n",
		"veritee_attestations_total{result=\"failed\"} 1\n",
		"veritee_http_requests_total 9\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(m, want[i]) == NULL)
			fail_msg("metrics lack %s\n%s", want[i], m);
	assert_null(strstr(m, "attacker-chosen"));
	/* buckets are cumulative: le="0.001" <= le="5" <= +Inf */
	unsigned long a = 0, b = 0;
	assert_non_null(strstr(m, "{endpoint=\"attest\",le=\"0.001\"} "));
	sscanf(strstr(m, "{endpoint=\"attest\",le=\"0.001\"} ") + 31, "%lu", &a);
	sscanf(strstr(m, "{endpoint=\"attest\",le=\"5\"} ") + 27, "%lu", &b);
	assert_true(a <= b && b <= 4);
	free(m);
}

static json_t *admin_get(struct fixture *f, const char *path, const char *query, int want)
{
	char *bearer = vt_test_admin_bearer(f->admin, vt_broker_now(f->b));
	json_t *j = NULL;
	assert_int_equal(call(f, "GET", path, query, NULL, bearer, NULL, NULL, NULL, &j, NULL), want);
	free(bearer);
	return j;
}

static void record(struct fixture *f, int64_t t, bool ok, const char *rid, double ms)
{
	struct vt_attest_event ev = {.time = t, .tee = "sim", .ok = ok, .has_step = !ok, .step = VT_STEP_TCB,
				     .duration_ms = ms};
	snprintf(ev.request_id, sizeof(ev.request_id), "%s", rid);
	vt_obs_attestation(&f->b->obs, &ev);
}

static void test_events_ring(void **state)
{
	struct fixture *f = *state;
	char rid[17];
	for (int i = 0; i < 510; i++) {
		snprintf(rid, sizeof(rid), "%016d", i);
		record(f, fake_now, i % 3 != 0, rid, 1.5);
	}
	json_t *j = admin_get(f, "/kbs/v0/admin/attestations", "limit=500", 200);
	json_t *list = json_object_get(j, "attestations");
	assert_int_equal(json_array_size(list), 500);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "request_id")), "0000000000000509");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 499), "request_id")),
			    "0000000000000010");
	json_t *e0 = json_array_get(list, 0); /* 509: 509 % 3 != 0: ok */
	assert_true(json_is_true(json_object_get(e0, "ok")));
	assert_true(json_is_null(json_object_get(e0, "step")));
	json_t *e2 = json_array_get(list, 2); /* 507: failed at tcb */
	assert_true(json_is_false(json_object_get(e2, "ok")));
	assert_string_equal(json_string_value(json_object_get(e2, "step")), "tcb");
	assert_int_equal(json_integer_value(json_object_get(e2, "time")), fake_now);
	assert_true(json_real_value(json_object_get(e2, "duration_ms")) == 1.5);
	json_decref(j);
	/* default 100; limit 1; bad limits refused */
	j = admin_get(f, "/kbs/v0/admin/attestations", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "attestations")), 100);
	json_decref(j);
	j = admin_get(f, "/kbs/v0/admin/attestations", "limit=1", 200);
	assert_int_equal(json_array_size(json_object_get(j, "attestations")), 1);
	json_decref(j);
	j = admin_get(f, "/kbs/v0/admin/attestations", "other=7&limit=2", 200); /* other parameters ignored */
	assert_int_equal(json_array_size(json_object_get(j, "attestations")), 2);
	json_decref(j);
	static const char *const bad[] = {"limit=501", "limit=0", "limit=x", "limit=", "limit=1&limit=2",
					  "limit=2x", "limit=1234567890123456789"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = admin_get(f, "/kbs/v0/admin/attestations", bad[i], 401);
		const char *type = json_string_value(json_object_get(j, "type"));
		if (type == NULL || strstr(type, "SerdeError") == NULL)
			fail_msg("query %s: %s", bad[i], type ? type : "(no type)");
		json_decref(j);
	}
}

static void test_event_fields(void **state)
{
	struct fixture *f = *state;
	/* a policy decision: the token is issued, the record names the rule */
	struct vt_policy *p = NULL;
	const char *pol = "{\"version\":1,\"id\":\"default_sim\",\"rules\":[{\"name\":\"needs-svn\",\"claim\":\"/sim/"
			  "absent-claim\",\"exists\":true,\"on_fail\":{\"executables\":99},"
			  "\"description\":\"the guest must report an SVN\"}]}";
	struct vt_err e = {0};
	assert_int_equal(vt_policy_parse(pol, strlen(pol), &p, &e), VT_OK);
	assert_int_equal(vt_broker_policy_install(f->b, "default_sim", p, &e), VT_OK);
	char good[17], bad[17];
	assert_int_equal(attest(f, true, "192.0.2.7", good), 200);
	fake_now += 3;
	assert_int_equal(attest(f, false, "192.0.2.8", bad), 401);
	json_t *j = admin_get(f, "/kbs/v0/admin/attestations", NULL, 200);
	json_t *list = json_object_get(j, "attestations");
	assert_int_equal(json_array_size(list), 2);
	json_t *a = json_array_get(list, 1), *b = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(a, "request_id")), good);
	assert_string_equal(json_string_value(json_object_get(a, "client")), "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(a, "tee")), "sim");
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_string_equal(json_string_value(json_object_get(a, "status")), "contraindicated");
	assert_string_equal(json_string_value(json_object_get(a, "rule")), "needs-svn");
	assert_non_null(strstr(json_string_value(json_object_get(a, "explanation")), "/sim/absent-claim"));
	assert_true(json_is_null(json_object_get(a, "step")));
	assert_int_equal(json_integer_value(json_object_get(a, "time")), fake_now - 3);
	assert_true(json_is_real(json_object_get(a, "duration_ms")));

	assert_string_equal(json_string_value(json_object_get(b, "request_id")), bad);
	assert_true(json_is_false(json_object_get(b, "ok")));
	assert_true(json_is_null(json_object_get(b, "status")));
	assert_string_equal(json_string_value(json_object_get(b, "step")), "binding");
	assert_string_equal(json_string_value(json_object_get(b, "field")), "runtime-data.nonce");
	assert_non_null(strstr(json_string_value(json_object_get(b, "detail")), "nonce does not match"));
	assert_int_equal(json_integer_value(json_object_get(b, "time")), fake_now);
	static const char *const keys[] = {"time", "request_id", "client", "tee", "ok", "status", "step",
					   "field", "detail", "rule", "explanation", "duration_ms"};
	assert_int_equal(json_object_size(b), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(b, keys[i]));
	json_decref(j);
}

static void test_stats_per_minute(void **state)
{
	struct fixture *f = *state;
	int64_t m0 = fake_now; /* a minute start */
	record(f, m0 + 5, true, "a", 0.5);
	record(f, m0 + 59, true, "b", 3);
	record(f, m0 + 60, false, "c", 700);
	record(f, m0 - 59 * 60, false, "d", 2000); /* 59 minutes before m0: dropped out of the window below */
	fake_now = m0 + 125;                        /* minute m0+120 */
	json_t *j = admin_get(f, "/kbs/v0/admin/stats", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "now")), m0 + 125);
	json_t *per = json_object_get(j, "per_minute");
	assert_int_equal(json_array_size(per), 60);
	json_t *last = json_array_get(per, 59), *prev = json_array_get(per, 58), *prev2 = json_array_get(per, 57);
	assert_int_equal(json_integer_value(json_object_get(last, "minute")), m0 + 120);
	assert_int_equal(json_integer_value(json_object_get(last, "ok")), 0);
	assert_int_equal(json_integer_value(json_object_get(prev, "minute")), m0 + 60);
	assert_int_equal(json_integer_value(json_object_get(prev, "failed")), 1);
	assert_int_equal(json_integer_value(json_object_get(prev2, "minute")), m0);
	assert_int_equal(json_integer_value(json_object_get(prev2, "ok")), 2);
	assert_int_equal(json_integer_value(json_object_get(prev2, "failed")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(per, 0), "minute")), m0 + 120 - 59 * 60);
	uint64_t sum = 0;
	for (size_t i = 0; i < 60; i++)
		sum += (uint64_t)json_integer_value(json_object_get(json_array_get(per, i), "ok")) +
		       (uint64_t)json_integer_value(json_object_get(json_array_get(per, i), "failed"));
	assert_int_equal(sum, 3);
	json_t *lat = json_object_get(j, "latency_ms");
	json_t *le = json_object_get(lat, "le"), *counts = json_object_get(lat, "counts");
	assert_int_equal(json_array_size(le), 11);
	assert_int_equal(json_array_size(counts), 11);
	assert_int_equal(json_integer_value(json_array_get(le, 0)), 1);
	assert_int_equal(json_integer_value(json_array_get(le, 9)), 1000);
	assert_true(json_is_null(json_array_get(le, 10)));
	assert_int_equal(json_integer_value(json_array_get(counts, 0)), 1);  /* 0.5 ms */
	assert_int_equal(json_integer_value(json_array_get(counts, 2)), 1);  /* 3 ms: (2, 5] */
	assert_int_equal(json_integer_value(json_array_get(counts, 9)), 1);  /* 700 ms: (500, 1000] */
	assert_int_equal(json_integer_value(json_array_get(counts, 10)), 1); /* 2000 ms: +Inf */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "ok")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "failed")), 2);
	json_decref(j);
	/* an hour later every minute is empty again */
	fake_now = m0 + 3600 + 120;
	j = admin_get(f, "/kbs/v0/admin/stats", NULL, 200);
	per = json_object_get(j, "per_minute");
	for (size_t i = 0; i < 60; i++) {
		assert_int_equal(json_integer_value(json_object_get(json_array_get(per, i), "ok")), 0);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(per, i), "failed")), 0);
	}
	json_decref(j);
}

static void test_admin_auth(void **state)
{
	struct fixture *f = *state;
	record(f, fake_now, true, "secret-ish", 1);
	static const char *const paths[] = {"/kbs/v0/admin/attestations", "/kbs/v0/admin/stats"};
	for (size_t i = 0; i < 2; i++) {
		json_t *j = NULL;
		assert_int_equal(call(f, "GET", paths[i], NULL, NULL, NULL, NULL, NULL, NULL, &j, NULL), 401);
		assert_non_null(strstr(json_string_value(json_object_get(j, "type")), "AdminAuthAccess"));
		json_decref(j);
		/* a token from another key */
		EVP_PKEY *other = NULL;
		assert_int_equal(vt_key_generate(VT_KEY_P256, &other, NULL), VT_OK);
		char *bearer = vt_test_admin_bearer(other, fake_now);
		assert_int_equal(call(f, "GET", paths[i], NULL, NULL, bearer, NULL, NULL, NULL, &j, NULL), 401);
		assert_null(json_object_get(j, "attestations"));
		json_decref(j);
		free(bearer);
		EVP_PKEY_free(other);
		/* POST is no route */
		bearer = vt_test_admin_bearer(f->admin, fake_now);
		assert_int_equal(call(f, "POST", paths[i], NULL, NULL, bearer, "{}", NULL, NULL, NULL, NULL), 404);
		free(bearer);
	}
	/* no Authorization value in the logs */
	assert_null(strstr(logtext(f), "Bearer"));
	json_decref(admin_get(f, "/kbs/v0/admin/stats", NULL, 200));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_escaped_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_per_minute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_auth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
