/* Backpressure (issue 15): per-client token buckets, the 429 the broker
 * answers with Retry-After, the client a trusted proxy names, /readyz. */
#include "testutil.h"

#include "broker/ratelimit.h"
#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/sim.h"

static void test_buckets(void **state)
{
	(void)state;
	assert_null(vt_ratelimit_new(0, 5)); /* 0: no limit */
	assert_int_equal(vt_ratelimit_take(NULL, "10.0.0.1", 0), 0);
	struct vt_ratelimit *rl = vt_ratelimit_new(2, 3); /* 2/s, burst 3 */
	assert_non_null(rl);
	int64_t t = 1000000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(vt_ratelimit_take(rl, "10.0.0.1", t), 0);
	unsigned wait = vt_ratelimit_take(rl, "10.0.0.1", t);
	assert_true(wait >= 1 && wait <= 2);
	/* Another address has its own bucket. */
	assert_int_equal(vt_ratelimit_take(rl, "10.0.0.2", t), 0);
	/* Half a second later one token is back (2/s). */
	assert_int_equal(vt_ratelimit_take(rl, "10.0.0.1", t + 500), 0);
	assert_true(vt_ratelimit_take(rl, "10.0.0.1", t + 500) > 0);
	/* Retry-After is the wait rounded up to whole seconds, and no more:
	 * 1 s at 1/s with the bucket just emptied (exactly 1 s), 1 s at 2/s
	 * (0.5 s). */
	struct vt_ratelimit *slow = vt_ratelimit_new(1, 1);
	assert_int_equal(vt_ratelimit_take(slow, "10.0.0.3", t), 0);
	assert_int_equal(vt_ratelimit_take(slow, "10.0.0.3", t), 1);
	vt_ratelimit_free(slow);
	slow = vt_ratelimit_new(2, 1);
	assert_int_equal(vt_ratelimit_take(slow, "10.0.0.3", t), 0);
	assert_int_equal(vt_ratelimit_take(slow, "10.0.0.3", t), 1);
	vt_ratelimit_free(slow);
	/* Many addresses: the table reuses slots, never refuses a newcomer. */
	char addr[32];
	for (int i = 0; i < 40000; i++) {
		snprintf(addr, sizeof(addr), "172.%d.%d.%d", 16 + (i >> 16), (i >> 8) & 255, i & 255);
		assert_int_equal(vt_ratelimit_take(rl, addr, t + 600), 0);
	}
	vt_ratelimit_free(rl);
}

struct fx {
	char *dir;
	struct vt_broker *b;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = vt_test_tmpdir();
	char sim[512];
	snprintf(sim, sizeof(sim), "%s/sim", f->dir);
	assert_int_equal(vt_sim_ensure_keys(sim, NULL), VT_OK);
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	assert_true(asprintf(&c.db_path, "%s/kbs.db", f->dir) > 0);
	assert_true(asprintf(&c.master_key_path, "%s/master.key", f->dir) > 0);
	assert_true(asprintf(&c.insecure_sim_root, "%s/sim-root.pem", sim) > 0);
	c.auth_rate = 1;
	c.attest_rate = 1;
	c.rate_burst = 2;
	c.trusted_proxies = calloc(1, sizeof(char *));
	c.trusted_proxies[0] = strdup("127.0.0.9");
	c.trusted_proxy_count = 1;
	struct vt_err e = {0};
	if (vt_broker_new(&c, &f->b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(f->b, true, NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vt_broker_free(f->b);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->dir);
	free(f);
	return 0;
}

static int auth_from(struct fx *f, const char *client, const char *xff, unsigned *retry_after)
{
	static const char body[] = "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":{}}";
	struct vt_http_request r = {.method = "POST", .path = "/kbs/v0/auth", .client = client, .forwarded_for = xff,
				    .body = (const uint8_t *)body, .body_size = strlen(body)};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	int status = resp.status;
	if (retry_after)
		*retry_after = resp.retry_after;
	if (status == 429) {
		json_t *j = json_loadb(resp.body, resp.body_size, 0, NULL);
		assert_non_null(strstr(json_string_value(json_object_get(j, "type")), "TooManyRequests"));
		json_decref(j);
	}
	vt_http_response_free(&resp);
	return status;
}

static void test_broker_429(void **state)
{
	struct fx *f = *state;
	unsigned ra = 0;
	assert_int_equal(auth_from(f, "10.1.1.1", NULL, NULL), 200);
	assert_int_equal(auth_from(f, "10.1.1.1", NULL, NULL), 200);
	assert_int_equal(auth_from(f, "10.1.1.1", NULL, &ra), 429);
	assert_true(ra >= 1);
	/* /attest has its own bucket: refused on its merits (no cookie), not 429. */
	struct vt_http_request r = {.method = "POST", .path = "/kbs/v0/attest", .client = "10.1.1.1",
				    .body = (const uint8_t *)"{}", .body_size = 2};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	assert_int_equal(resp.status, 401);
	vt_http_response_free(&resp);
	/* Behind the trusted proxy, each guest its own bucket ... */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(auth_from(f, "127.0.0.9", "198.51.100.7, 203.0.113.5", NULL), 200);
		assert_int_equal(auth_from(f, "127.0.0.9", "203.0.113.6", NULL), 200);
	}
	assert_int_equal(auth_from(f, "127.0.0.9", "203.0.113.5", NULL), 429);
	/* ... the last entry counts (the one the proxy added), not what the client claimed first */
	assert_int_equal(auth_from(f, "127.0.0.9", "203.0.113.5, 203.0.113.99", NULL), 200);
	/* An untrusted peer's X-Forwarded-For is ignored: its own address is limited. */
	assert_int_equal(auth_from(f, "10.2.2.2", "203.0.113.50", NULL), 200);
	assert_int_equal(auth_from(f, "10.2.2.2", "203.0.113.51", NULL), 200);
	assert_int_equal(auth_from(f, "10.2.2.2", "203.0.113.52", NULL), 429);
	/* Garbage in the header: the proxy's own address counts (one bucket
	 * for every garbage value, its own). */
	assert_int_equal(auth_from(f, "127.0.0.9", "not-an-address", NULL), 200);
	assert_int_equal(auth_from(f, "127.0.0.9", "garbage-2", NULL), 200);
	assert_int_equal(auth_from(f, "127.0.0.9", "garbage-3", NULL), 429);
}

static void test_readyz(void **state)
{
	struct fx *f = *state;
	struct vt_http_request r = {.method = "GET", .path = "/readyz"};
	struct vt_http_response resp;
	vt_broker_handle(f->b, &r, &resp);
	assert_int_equal(resp.status, 200);
	json_t *j = json_loadb(resp.body, resp.body_size, 0, NULL);
	assert_true(json_is_true(json_object_get(j, "ready")));
	assert_string_equal(json_string_value(json_object_get(j, "database")), "sqlite");
	assert_string_equal(json_string_value(json_object_get(j, "sessions")), "memory");
	json_decref(j);
	vt_http_response_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test_setup_teardown(test_broker_429, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readyz, setup, teardown),
	};
	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
