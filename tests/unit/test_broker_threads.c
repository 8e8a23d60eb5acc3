/* The broker under concurrent use, driven directly (no sockets, fixed
 * injected clock), as tests/unit/test_broker.c does one request at a time.
 * `make test` also builds this file with ThreadSanitizer (build-tsan/), so a
 * data race in the broker fails the run even when every assertion holds.
 *
 * cmocka's assertions are not thread-safe: worker threads record failures
 * with failf() and the main thread asserts once they are joined. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "broker_testutil.h"

#include "broker/audit.h"
#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/sim.h"

#define FAKE_NOW ((int64_t)1800000000)

/* ------------------------------------------------------------ the clock
 *
 * The racing-attest gate: a thread that arms it (gate_armed) waits, in its
 * first clock read, until its rival arrives there too.  /attest reads the
 * clock before it looks the session up, so both requests then look the
 * session up before either has finished attesting: the interleaving in
 * which a losing /attest could remove the winner's session.  If the rival
 * never comes (a broker that reads the clock elsewhere), the wait times
 * out and the gate stays open from then on: the test still races the two
 * requests from a start barrier, only less sharply. */
static _Thread_local bool gate_armed;
static atomic_uint gate_arrived;
static atomic_bool gate_broken;

/* Both racers spin (a sleeping waiter would wake up too late to race):
 * the two of them and nothing else run while they wait. */
static void gate_wait(void)
{
	if (atomic_load(&gate_broken))
		return;
	atomic_fetch_add(&gate_arrived, 1);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long spins = 1; atomic_load(&gate_arrived) < 2 && !atomic_load(&gate_broken); spins++) {
		if (spins % 4096 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= 2)
				atomic_store(&gate_broken, true);
			sched_yield();
		}
	}
}

static int64_t clock_fn(void *ctx)
{
	(void)ctx;
	if (gate_armed) {
		gate_armed = false;
		gate_wait();
	}
	return FAKE_NOW;
}

/* ------------------------------------------------------------ failures */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int failures;
static char first_failure[1024];

static void failf(const char *fmt, ...) VT_PRINTF(1, 2);
static void failf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int n = atomic_fetch_add(&failures, 1);
	pthread_mutex_lock(&fail_lock);
	if (n == 0)
		snprintf(first_failure, sizeof(first_failure), "%s", msg);
	if (n < 5)
		printf("# %s\n", msg);
	pthread_mutex_unlock(&fail_lock);
}

static void reset_failures(void)
{
	atomic_store(&failures, 0);
	first_failure[0] = '\0';
}

static void assert_no_failures(const char *what)
{
	int n = atomic_load(&failures);
	if (n != 0)
		fail_msg("%s: %d failure(s); first: %s", what, n, first_failure);
}

/* ------------------------------------------------------------ fixture */

struct fixture {
	char *dir;
	struct vt_broker *b;
	EVP_PKEY *admin;
	char simdir[512];
	char measurement_hex[97];
};

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* One request, safe to call from any thread.  Returns the status; the JSON
 * body and the session cookie on request (NULL when absent). */
static int call(struct vt_broker *b, const char *method, const char *path, const char *cookie, const char *auth,
		const char *body, json_t **json_out, char **cookie_out)
{
	struct vt_http_request r = {.method = method,
				    .path = path,
				    .session_cookie = cookie,
				    .authorization = auth,
				    .client = "127.0.0.1",
				    .body = (const uint8_t *)(body ? body : ""),
				    .body_size = body ? strlen(body) : 0};
	struct vt_http_response resp;
	vt_broker_handle(b, &r, &resp);
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

static const char *err_type(const json_t *j)
{
	const char *t = json_string_value(json_object_get(j, "type"));
	const char *slash = t ? strrchr(t, '/') : NULL;
	return slash ? slash + 1 : "";
}

static const char *err_detail(const json_t *j)
{
	const char *d = json_string_value(json_object_get(j, "detail"));
	return d ? d : "";
}

/* A fresh admin token per request: admin tokens are single use ("jti"). */
static char *admin_bearer(struct fixture *f)
{
	uint8_t raw[16];
	if (vt_random(raw, sizeof(raw), NULL) != VT_OK)
		return NULL;
	char *jti = vt_hex_encode(raw, sizeof(raw)), *jws = NULL, *out = NULL;
	char payload[160];
	snprintf(payload, sizeof(payload), "{\"exp\":%lld,\"iat\":%lld,\"jti\":\"%s\"}", (long long)FAKE_NOW + 60,
		 (long long)FAKE_NOW, jti ? jti : "");
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	if (jti && vt_jws_sign(f->admin, h, (const uint8_t *)payload, strlen(payload), &jws, NULL) == VT_OK &&
	    asprintf(&out, "Bearer %s", jws) < 0)
		out = NULL;
	free(jws);
	free(jti);
	json_decref(h);
	return out;
}

/* An admin request; true on 200.  Failures go to failf. */
static bool admin_call(struct fixture *f, const char *method, const char *path, const char *body)
{
	char *bearer = admin_bearer(f);
	json_t *j = NULL;
	int st = bearer ? call(f->b, method, path, NULL, bearer, body, &j, NULL) : -1;
	if (st != 200)
		failf("admin %s %s: status %d %s: %s", method, path, st, err_type(j), err_detail(j));
	json_decref(j);
	free(bearer);
	return st == 200;
}

static bool set_refval(struct fixture *f, bool good)
{
	char payload[200], body[400];
	snprintf(payload, sizeof(payload), "{\"sim_measurement\":[\"%s\"]}",
		 good ? f->measurement_hex
		      : "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000");
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64 ? b64 : "");
	free(b64);
	return admin_call(f, "POST", "/kbs/v0/reference-value", body);
}

/* Resource policies.  Both need an affirming attestation and never release
 * default/key/x; the closed one also refuses default/key/b. */
#define RULE_AFFIRMING                                                                                             \
	"{\"name\":\"cpu-affirming\",\"claim\":\"/submods/cpu0/ear.status\",\"equals\":\"affirming\"},"             \
	"{\"name\":\"x-never\",\"claim\":\"/submods/cpu0/ear.status\",\"equals\":\"never\",\"resources\":[\"default/key/x\"]}"
static const char policy_open[] = "{\"version\":1,\"id\":\"rp-open\",\"rules\":[" RULE_AFFIRMING "]}";
static const char policy_closed_b[] =
	"{\"version\":1,\"id\":\"rp-closed-b\",\"rules\":[" RULE_AFFIRMING
	",{\"name\":\"b-closed\",\"claim\":\"/submods/cpu0/ear.status\",\"equals\":\"never\",\"resources\":[\"default/key/b\"]}"
	"]}";

static bool set_resource_policy(struct fixture *f, bool open)
{
	const char *p = open ? policy_open : policy_closed_b;
	char *b64 = vt_b64url_encode((const uint8_t *)p, strlen(p)), *body = NULL;
	bool ok = b64 && asprintf(&body, "{\"policy\":\"%s\"}", b64) > 0 &&
		  admin_call(f, "POST", "/kbs/v0/resource-policy", body);
	free(b64);
	free(body);
	return ok;
}

static const char *const resource_paths[] = {"default/key/a", "default/key/b", "default/key/x"};
static const char *const resource_values[] = {"secret-a", "secret-b", "secret-x"};

static bool put_resource(struct fixture *f, int i)
{
	char path[96];
	snprintf(path, sizeof(path), "/kbs/v0/resource/%s", resource_paths[i]);
	return admin_call(f, "POST", path, resource_values[i]);
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
	c.session_timeout = 300;
	c.token_lifetime = 300;
	struct vt_err e = {0};
	if (vt_broker_new(&c, &f->b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(f->b, true, NULL, NULL);
	vt_broker_set_clock(f->b, clock_fn, NULL);

	struct vt_sim_attest_opts o;
	vt_sim_attest_opts_default(&o);
	char *mhex = vt_hex_encode(o.measurement, sizeof(o.measurement));
	snprintf(f->measurement_hex, sizeof(f->measurement_hex), "%s", mhex);
	free(mhex);
	reset_failures();
	for (int i = 0; i < 3; i++)
		put_resource(f, i);
	set_refval(f, true);
	set_resource_policy(f, true);
	assert_no_failures("setup");
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

/* ------------------------------------------------------------ RCAR pieces */

/* POST /auth; the nonce (malloc'd) and the cookie, or false. */
static bool do_auth(struct fixture *f, char **nonce, char **cookie)
{
	json_t *j = NULL;
	*nonce = *cookie = NULL;
	int st = call(f->b, "POST", "/kbs/v0/auth", NULL, NULL, "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}",
		      &j, cookie);
	const char *n = json_string_value(json_object_get(j, "nonce"));
	if (st != 200 || n == NULL || *cookie == NULL) {
		failf("auth: status %d %s: %s", st, err_type(j), err_detail(j));
		json_decref(j);
		free(*cookie);
		*cookie = NULL;
		return false;
	}
	*nonce = strdup(n);
	json_decref(j);
	return true;
}

/* The /attest body for `nonce` with sim evidence bound to a fresh TEE key. */
static char *attest_body(struct fixture *f, const char *nonce, EVP_PKEY **tee_key)
{
	char *body = NULL;
	json_t *jwk = NULL, *ev = NULL, *att = NULL;
	uint8_t d[48], rd[64] = {0};
	if (vt_key_generate(VT_KEY_P256, tee_key, NULL) != VT_OK) {
		failf("TEE key generation failed");
		return NULL;
	}
	jwk = vt_key_to_jwk(*tee_key, "ECDH-ES+A256KW", false);
	if (jwk == NULL || vt_kbs_runtime_digest(jwk, nonce, "", NULL, d, NULL) != VT_OK) {
		failf("runtime digest failed");
		goto out;
	}
	memcpy(rd, d, sizeof(d));
	struct vt_err e = {0};
	if (vt_sim_attest(f->simdir, NULL, rd, &ev, &e) != VT_OK) {
		failf("sim attest: %s", e.detail);
		goto out;
	}
	att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
			"tee-evidence", "primary_evidence", ev, "additional_evidence", "");
	body = att ? vt_json_compact(att) : NULL;
out:
	json_decref(att);
	json_decref(ev);
	json_decref(jwk);
	return body;
}

enum outcome { OUT_ERROR, OUT_RELEASED, OUT_DENIED };

/* GET a resource with the session cookie.  A release must decrypt, with
 * the TEE key, to exactly that resource's secret; a refusal must be a
 * policy denial.  Anything else is OUT_ERROR, described in `detail` for the
 * caller to report; for a denial `detail` gets the broker's explanation. */
static enum outcome get_resource(struct fixture *f, const char *cookie, EVP_PKEY *tee_key, int res, char *detail,
				 size_t detail_size)
{
	char path[96];
	snprintf(path, sizeof(path), "/kbs/v0/resource/%s", resource_paths[res]);
	json_t *j = NULL;
	enum outcome out = OUT_ERROR;
	int st = call(f->b, "GET", path, cookie, NULL, NULL, &j, NULL);
	if (st == 200) {
		struct vt_secret *s = NULL;
		struct vt_err e = {0};
		if (vt_jwe_decrypt(tee_key, j, &s, &e) != VT_OK)
			snprintf(detail, detail_size, "GET %s: 200 but the JWE does not decrypt with the TEE key: %s",
				 path, e.detail);
		else if (s->len != strlen(resource_values[res]) || memcmp(s->data, resource_values[res], s->len) != 0)
			snprintf(detail, detail_size, "GET %s: released the WRONG secret (%zu bytes, want \"%s\")", path,
				 s->len, resource_values[res]);
		else
			out = OUT_RELEASED;
		vt_secret_free(s);
	} else if (st == 401 && strcmp(err_type(j), "PolicyDeny") == 0) {
		out = OUT_DENIED;
		snprintf(detail, detail_size, "%s", err_detail(j));
	} else {
		snprintf(detail, detail_size, "GET %s: status %d %s: %s", path, st, err_type(j), err_detail(j));
	}
	json_decref(j);
	return out;
}

/* ------------------------------------------------------------ concurrent RCAR rounds
 *
 * The admin thread walks the broker through four states, changing one
 * thing at a time:
 *   0: resource policy open,     reference value good
 *   1: resource policy closed-b, reference value good
 *   2: resource policy closed-b, reference value bad
 *   3: resource policy open,     reference value bad    (then 0 again)
 * A generation counter, odd while a change is in flight (seqlock style),
 * tells a round which states it may have seen: its /attest read the
 * reference values of some state i and its GET the resource policy of some
 * state j >= i, both between the generations read before and after the
 * round.  The outcome must be possible for one such (i, j). */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

#define WORKERS 4
#define ROUNDS 24

static bool state_rv_good(unsigned long s)
{
	return s % 4 == 0 || s % 4 == 1;
}

static bool state_rp_open(unsigned long s)
{
	return s % 4 == 0 || s % 4 == 3;
}

static bool allowed(unsigned long attest_state, unsigned long get_state, int res)
{
	if (res == 2)
		return false;
	return state_rv_good(attest_state) && (res == 0 || state_rp_open(get_state));
}

/* The rule a denial in (i, j) must name. */
static const char *denying_rule(unsigned long attest_state, unsigned long get_state, int res)
{
	if (!state_rv_good(attest_state))
		return "cpu-affirming";
	if (res == 2)
		return "x-never";
	return res == 1 && !state_rp_open(get_state) ? "b-closed" : NULL;
}

struct shared {
	struct fixture *f;
	atomic_ulong generation;
	atomic_int rounds_done[WORKERS];
	atomic_bool stop;
	atomic_ulong released, denied, exact_rounds, changes, reloads;
};

struct worker_arg {
	struct shared *sh;
	int id;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	struct shared *sh = w->sh;
	struct fixture *f = sh->f;
	for (int round = 0; round < ROUNDS; round++) {
		int res = (w->id + round) % 3;
		/* However the threads are scheduled, the last round comes after
		 * at least one admin change. */
		for (int waited = 0; round == ROUNDS - 1 && atomic_load(&sh->changes) == 0 && waited < 10000; waited++)
			sleep_ms(1);
		unsigned long g0 = atomic_load(&sh->generation);
		char *nonce = NULL, *cookie = NULL, *body = NULL, detail[1024] = "";
		EVP_PKEY *key = NULL;
		json_t *j = NULL;
		if (!do_auth(f, &nonce, &cookie))
			goto next;
		body = attest_body(f, nonce, &key);
		if (body == NULL)
			goto next;
		/* The token is issued whatever the appraisal says; the resource policy decides. */
		int st = call(f->b, "POST", "/kbs/v0/attest", cookie, NULL, body, &j, NULL);
		if (st != 200) {
			failf("worker %d round %d: attest status %d %s: %s", w->id, round, st, err_type(j), err_detail(j));
			goto next;
		}
		enum outcome o = get_resource(f, cookie, key, res, detail, sizeof(detail));
		unsigned long g1 = atomic_load(&sh->generation);
		if (o == OUT_ERROR) {
			failf("worker %d round %d: %s", w->id, round, detail);
			goto next;
		}
		atomic_fetch_add(o == OUT_RELEASED ? &sh->released : &sh->denied, 1);
		unsigned long lo = g0 / 2, hi = (g1 + 1) / 2;
		bool possible = false;
		for (unsigned long i = lo; i <= hi && !possible; i++)
			for (unsigned long k = i; k <= hi && !possible; k++)
				possible = allowed(i, k, res) == (o == OUT_RELEASED);
		if (!possible)
			failf("worker %d round %d: %s %s in states %lu..%lu (generations %lu..%lu): %s", w->id, round,
			      o == OUT_RELEASED ? "released" : "denied", resource_paths[res], lo, hi, g0, g1, detail);
		if (g0 == g1 && g0 % 2 == 0) {
			atomic_fetch_add(&sh->exact_rounds, 1);
			const char *rule = denying_rule(lo, lo, res);
			if (o == OUT_DENIED && rule && strstr(detail, rule) == NULL)
				failf("worker %d round %d: denial of %s in state %lu does not name rule %s: %s", w->id,
				      round, resource_paths[res], lo % 4, rule, detail);
		}
next:
		atomic_fetch_add(&sh->rounds_done[w->id], 1);
		json_decref(j);
		EVP_PKEY_free(key);
		free(body);
		free(cookie);
		free(nonce);
	}
	return NULL;
}

/* One counter from /metrics text, or -1. */
static long metric(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);
	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtol(p + n + 1, NULL, 10);
		p += n;
	}
	return -1;
}

static bool read_metrics(struct fixture *f, long *released, long *denied, long *attested)
{
	struct vt_http_request r = {.method = "GET", .path = "/metrics", .client = "127.0.0.1"};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	bool ok = resp.status == 200 && resp.body != NULL;
	if (ok) {
		*released = metric(resp.body, "veritee_resource_requests_total{result=\"released\"}");
		*denied = metric(resp.body, "veritee_resource_requests_total{result=\"denied\"}");
		*attested = metric(resp.body, "veritee_attestations_total{result=\"ok\"}");
		ok = *released >= 0 && *denied >= 0 && *attested >= 0;
	}
	if (!ok)
		failf("GET /metrics: status %d, or a counter is missing", resp.status);
	vt_http_response_free(&resp);
	return ok;
}

static void *admin_thread(void *p)
{
	struct shared *sh = p;
	struct fixture *f = sh->f;
	/* Let every worker finish two rounds in state 0 first, so releases
	 * are sure to happen. */
	for (bool ready = false; !ready && !atomic_load(&sh->stop);) {
		ready = true;
		for (int i = 0; i < WORKERS; i++)
			ready = ready && atomic_load(&sh->rounds_done[i]) >= 2;
		if (!ready)
			sleep_ms(1);
	}
	long last_released = 0, last_denied = 0, last_attested = 0;
	while (!atomic_load(&sh->stop)) {
		unsigned long g = atomic_fetch_add(&sh->generation, 1); /* odd: changing */
		unsigned long next = g / 2 + 1;
		bool ok = (next % 2 == 1) ? set_resource_policy(f, state_rp_open(next)) : set_refval(f, state_rv_good(next));
		atomic_fetch_add(&sh->generation, 1); /* even: state `next` in force */
		if (!ok)
			break;
		atomic_fetch_add(&sh->changes, 1);
		/* Counters only grow. */
		long rel, den, att;
		if (read_metrics(f, &rel, &den, &att)) {
			if (rel < last_released || den < last_denied || att < last_attested)
				failf("/metrics went backwards: released %ld->%ld denied %ld->%ld attested %ld->%ld",
				      last_released, rel, last_denied, den, last_attested, att);
			last_released = rel, last_denied = den, last_attested = att;
		}
		/* Rewrite a secret with its own value while rounds read it. */
		put_resource(f, (int)(next % 2));
		sleep_ms(3);
	}
	return NULL;
}

/* vt_broker_reload (SIGHUP) over and over while rounds and admin changes
 * run: a request sees the old set or the new one, and a reload never puts
 * back a state older than what an admin change installed (the workers'
 * checks above would see it). */
static void *reloader(void *p)
{
	struct shared *sh = p;
	while (!atomic_load(&sh->stop)) {
		struct vt_err e = {0};
		if (vt_broker_reload(sh->f->b, &e) != VT_OK) {
			failf("vt_broker_reload: %s (field %s)", e.detail, e.field);
			break;
		}
		atomic_fetch_add(&sh->reloads, 1);
		sleep_ms(2);
	}
	return NULL;
}

/* The release log after concurrent rounds: one entry per resource request,
 * appended from several threads into one valid chain under a signed head. */
static void check_release_log(struct fixture *f, long released, long denied)
{
	char *bearer = admin_bearer(f);
	struct vt_http_request r = {.method = "GET", .path = "/kbs/v0/admin/audit", .query = "since=0",
				    .authorization = bearer, .client = "127.0.0.1"};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	free(bearer);
	json_t *page = resp.status == 200 ? json_loadb(resp.body, resp.body_size, 0, NULL) : NULL;
	vt_http_response_free(&resp);
	json_t *keys = NULL;
	assert_int_equal(call(f->b, "GET", "/.well-known/jwks.json", NULL, NULL, NULL, &keys, NULL), 200);
	assert_non_null(page);
	assert_false(json_is_true(json_object_get(page, "more")));
	struct vt_audit_result res;
	struct vt_err e = {0};
	if (vt_audit_verify(page, keys, &res, &e) != VT_OK)
		fail_msg("release log after concurrent rounds: index %ld seq %lld: %s", res.bad_index,
			 (long long)res.bad_seq, res.why);
	long rel = 0, den = 0;
	size_t i;
	json_t *entry;
	json_array_foreach(json_object_get(page, "entries"), i, entry) {
		const char *o = json_string_value(json_object_get(entry, "outcome"));
		rel += strcmp(o, "released") == 0;
		den += strcmp(o, "denied") == 0;
	}
	assert_int_equal(res.entries, released + denied);
	assert_int_equal(rel, released);
	assert_int_equal(den, denied);
	json_decref(keys);
	json_decref(page);
}

static void test_concurrent_rounds_and_admin(void **state)
{
	struct fixture *f = *state;
	reset_failures();
	struct shared sh = {.f = f};
	pthread_t admin, reload, th[WORKERS];
	struct worker_arg args[WORKERS];
	assert_int_equal(pthread_create(&admin, NULL, admin_thread, &sh), 0);
	assert_int_equal(pthread_create(&reload, NULL, reloader, &sh), 0);
	for (int i = 0; i < WORKERS; i++) {
		args[i] = (struct worker_arg){&sh, i};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&sh.stop, true);
	pthread_join(admin, NULL);
	pthread_join(reload, NULL);
	printf("# %d rounds: %lu released, %lu denied; %lu admin changes, %lu reloads; %lu rounds saw one state "
	       "throughout\n",
	       WORKERS * ROUNDS, atomic_load(&sh.released), atomic_load(&sh.denied), atomic_load(&sh.changes),
	       atomic_load(&sh.reloads), atomic_load(&sh.exact_rounds));
	assert_no_failures("concurrent RCAR rounds");
	assert_int_equal(atomic_load(&sh.released) + atomic_load(&sh.denied), WORKERS * ROUNDS);
	assert_true(atomic_load(&sh.released) > 0);
	assert_true(atomic_load(&sh.denied) > 0);
	assert_true(atomic_load(&sh.changes) > 0);
	assert_true(atomic_load(&sh.reloads) > 0);
	/* No counter update was lost. */
	long rel, den, att;
	assert_true(read_metrics(f, &rel, &den, &att));
	assert_int_equal(rel, atomic_load(&sh.released));
	assert_int_equal(den, atomic_load(&sh.denied));
	assert_int_equal(att, WORKERS * ROUNDS);
	check_release_log(f, rel, den);
}

/* ------------------------------------------------------------ racing /attest
 *
 * Two /attest requests on the same session at once: one wins, the other is
 * refused, and the winner's session still works.  A loser that removes the
 * session (as a failed attestation does) would take the winner's token with
 * it. */

#define RACES 200

struct racer {
	struct vt_broker *b;
	pthread_barrier_t *start;
	const char *cookie, *body;
	int status;
	char detail[256];
};

static void *racer(void *p)
{
	struct racer *r = p;
	json_t *j = NULL;
	pthread_barrier_wait(r->start);
	gate_armed = true;
	r->status = call(r->b, "POST", "/kbs/v0/attest", r->cookie, NULL, r->body, &j, NULL);
	gate_armed = false;
	snprintf(r->detail, sizeof(r->detail), "%s", err_detail(j));
	json_decref(j);
	return NULL;
}

static void test_racing_attest_same_session(void **state)
{
	struct fixture *f = *state;
	reset_failures();
	int bad = 0;
	pthread_barrier_t start;
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int it = 0; it < RACES; it++) {
		char *nonce = NULL, *cookie = NULL, *body = NULL;
		EVP_PKEY *key = NULL;
		if (!do_auth(f, &nonce, &cookie) || (body = attest_body(f, nonce, &key)) == NULL) {
			free(nonce);
			free(cookie);
			EVP_PKEY_free(key);
			break;
		}
		struct racer r[2];
		pthread_t th[2];
		atomic_store(&gate_arrived, 0);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct racer){.b = f->b, .start = &start, .cookie = cookie, .body = body};
			assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		int wins = (r[0].status == 200) + (r[1].status == 200);
		int loser = r[0].status == 200 ? 1 : 0;
		char detail[1024];
		if (wins != 1) {
			bad++;
			failf("iteration %d: %d of 2 racing /attest succeeded (statuses %d, %d: %s)", it, wins,
			      r[0].status, r[1].status, r[0].status == 200 ? r[1].detail : r[0].detail);
		} else if (r[loser].status != 401) {
			bad++;
			failf("iteration %d: the losing /attest answered %d: %s", it, r[loser].status, r[loser].detail);
		} else if (get_resource(f, cookie, key, 0, detail, sizeof(detail)) != OUT_RELEASED) {
			bad++;
			failf("iteration %d: the winner's session does not release (loser was told: %s) -- %s", it,
			      r[loser].detail, detail);
		}
		EVP_PKEY_free(key);
		free(body);
		free(cookie);
		free(nonce);
	}
	pthread_barrier_destroy(&start);
	if (atomic_load(&gate_broken))
		printf("# note: the clock gate timed out (the broker reads its clock differently); raced from a barrier only\n");
	if (bad)
		printf("# racing /attest went wrong in %d of %d iterations\n", bad, RACES);
	assert_no_failures("racing /attest");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_rounds_and_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_racing_attest_same_session, setup, teardown),
	};
	return cmocka_run_group_tests_name("broker_threads", tests, NULL, NULL);
}
