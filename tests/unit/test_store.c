/* The store (src/broker/store.h) against both backends: every case runs on
 * SQLite (a file in a temporary directory) and on PostgreSQL (a throwaway
 * server started here by tests/pg-server.sh: initdb in a temporary
 * directory, loopback, a free port, stopped at the end).  PostgreSQL alone:
 * unreachable at start, an outage (fail fast, then recover without
 * reopening), a database that refuses writes.
 *
 * VERITEE_PG_URL=postgresql://... uses an existing database instead (the
 * outage cases are then skipped); without the PostgreSQL binaries the
 * PostgreSQL group is skipped, saying so. */
#include <pthread.h>
#include <time.h>

#include "testutil.h"

#include "broker/session.h"
#include "broker/store.h"
#include "veritee/crypto.h"
#include "veritee/json.h"

static char pg_dir[256], pg_url[256];
static bool pg_ok, pg_own;
static char pg_skip_why[200];

struct fx {
	bool pg;
	char *dir;
	char db[512];
	struct vt_secret *mk;
	struct vt_store *s;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int pg_script(const char *args)
{
	char cmd[1024];
	const char *script = getenv("VERITEE_PG_SCRIPT") ? getenv("VERITEE_PG_SCRIPT") : "tests/pg-server.sh";
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", script, args);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int pg_psql(const char *sql)
{
	char args[900];
	snprintf(args, sizeof(args), "psql %s \"%s\"", pg_dir, sql);
	return pg_script(args);
}

static int group_setup_pg(void **state)
{
	(void)state;
	const char *env = getenv("VERITEE_PG_URL");
	if (env) {
		snprintf(pg_url, sizeof(pg_url), "%s", env);
		pg_ok = true;
		return 0;
	}
	const char *script = getenv("VERITEE_PG_SCRIPT") ? getenv("VERITEE_PG_SCRIPT") : "tests/pg-server.sh";
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "%s start 2>/tmp/veritee-test-store-pg.err", script);
	FILE *p = popen(cmd, "r");
	if (p == NULL) {
		snprintf(pg_skip_why, sizeof(pg_skip_why), "cannot run %s", script);
		return 0;
	}
	bool got = fgets(pg_dir, sizeof(pg_dir), p) != NULL && fgets(pg_url, sizeof(pg_url), p) != NULL;
	int rc = pclose(p);
	pg_dir[strcspn(pg_dir, "\n")] = '\0';
	pg_url[strcspn(pg_url, "\n")] = '\0';
	if (!got || rc != 0) {
		snprintf(pg_skip_why, sizeof(pg_skip_why), "%s",
			 WIFEXITED(rc) && WEXITSTATUS(rc) == 77
				 ? "PostgreSQL server binaries not installed (scripts/install-deps.sh test installs postgresql-15)"
				 : "tests/pg-server.sh start failed (see /tmp/veritee-test-store-pg.err)");
		return 0;
	}
	pg_ok = pg_own = true;
	return 0;
}

static int group_teardown_pg(void **state)
{
	(void)state;
	if (pg_own) {
		char args[300];
		snprintf(args, sizeof(args), "stop %s", pg_dir);
		pg_script(args);
	}
	return 0;
}

static struct vt_store *open_store(struct fx *f, const struct vt_secret *mk)
{
	struct vt_store *s = NULL;
	struct vt_err e = {0};
	if (vt_store_open(f->db, mk, NULL, &s, &e) != VT_OK)
		fail_msg("open %s: %s", f->db, e.detail);
	return s;
}

static int setup_common(void **state, bool pg)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->pg = pg;
	f->dir = vt_test_tmpdir();
	f->mk = vt_secret_random(32);
	if (pg) {
		/* Each case starts from an empty database. */
		if (pg_psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;") != 0)
			fail_msg("cannot reset the PostgreSQL schema");
		snprintf(f->db, sizeof(f->db), "%s", pg_url);
	} else {
		snprintf(f->db, sizeof(f->db), "%s/kbs.db", f->dir);
	}
	f->s = open_store(f, f->mk);
	*state = f;
	return 0;
}

static int setup_sqlite(void **state)
{
	return setup_common(state, false);
}

static int setup_pg(void **state)
{
	if (!pg_ok) {
		*state = NULL;
		return 0;
	}
	return setup_common(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f == NULL)
		return 0;
	vt_store_close(f->s);
	vt_secret_free(f->mk);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f->dir);
	free(f);
	return 0;
}

static struct fx *fx_or_skip(void **state)
{
	struct fx *f = *state;
	if (f == NULL) {
		print_message("# SKIP PostgreSQL: %s\n", pg_skip_why[0] ? pg_skip_why : "not available");
		skip();
	}
	return f;
}

/* ------------------------------------------------------------- cases */

static void test_open_migrate_keys(void **state)
{
	struct fx *f = fx_or_skip(state);
	assert_string_equal(vt_store_backend(f->s), f->pg ? "postgresql" : "sqlite");
	assert_int_equal(vt_store_shared(f->s), f->pg);
	assert_int_equal(vt_store_ping(f->s, NULL), VT_OK);
	/* A second broker on the same database: migrations already applied. */
	struct vt_store *again = open_store(f, f->mk);
	vt_store_close(again);
	/* Another master key: refused at open, naming the setting. */
	struct vt_secret *other = vt_secret_random(32);
	struct vt_store *s2 = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_store_open(f->db, other, NULL, &s2, &e), VT_E_USAGE);
	assert_string_equal(e.field, "master_key");
	assert_non_null(strstr(e.detail, "same master_key"));
	vt_secret_free(other);
	/* The token key's thumbprint binds the same way. */
	assert_int_equal(vt_store_meta_bind(f->s, "token_signing_key", "kid-A", NULL), VT_OK);
	assert_int_equal(vt_store_meta_bind(f->s, "token_signing_key", "kid-A", NULL), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_store_meta_bind(f->s, "token_signing_key", "kid-B", &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "kid-A"));
}

static void test_resources(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_secret *got = NULL;
	struct vt_err e = {0};
	static const uint8_t secret[] = {0, 1, 2, 'x', 0xff, 0}; /* binary, with NULs */
	assert_int_equal(vt_store_resource_get(f->s, "a/b/c", &got, &e), VT_E_NOTFOUND);
	assert_int_equal(vt_store_resource_put(f->s, "a/b/c", secret, sizeof(secret), NULL), VT_OK);
	assert_int_equal(vt_store_resource_get(f->s, "a/b/c", &got, NULL), VT_OK);
	assert_int_equal(got->len, sizeof(secret));
	assert_memory_equal(got->data, secret, sizeof(secret));
	vt_secret_free(got);
	/* Replace, then delete; a second delete finds nothing. */
	assert_int_equal(vt_store_resource_put(f->s, "a/b/c", (const uint8_t *)"v2", 2, NULL), VT_OK);
	assert_int_equal(vt_store_resource_get(f->s, "a/b/c", &got, NULL), VT_OK);
	assert_memory_equal(got->data, "v2", 2);
	vt_secret_free(got);
	assert_int_equal(vt_store_resource_delete(f->s, "a/b/c", NULL), VT_OK);
	assert_int_equal(vt_store_resource_delete(f->s, "a/b/c", NULL), VT_E_NOTFOUND);
	/* An empty resource is a resource. */
	assert_int_equal(vt_store_resource_put(f->s, "a/b/empty", (const uint8_t *)"", 0, NULL), VT_OK);
	assert_int_equal(vt_store_resource_get(f->s, "a/b/empty", &got, NULL), VT_OK);
	assert_int_equal(got->len, 0);
	vt_secret_free(got);
}

struct order {
	char keys[3][16];
	int n;
};

static void collect_order(void *ctx, const char *k, const char *v)
{
	(void)v;
	struct order *o = ctx;
	if (o->n < 3)
		snprintf(o->keys[o->n++], 16, "%s", k);
}

static void test_kv_generation(void **state)
{
	struct fx *f = fx_or_skip(state);
	int64_t g0 = -1, g = -1;
	char *text = NULL;
	assert_int_equal(vt_store_generation(f->s, &g0, NULL), VT_OK);
	assert_int_equal(vt_store_kv_put(f->s, "policy", "p1", "{\"a\":1}", NULL), VT_OK);
	assert_int_equal(vt_store_generation(f->s, &g, NULL), VT_OK);
	assert_int_equal(g, g0 + 1);
	json_t *vals = json_pack("{s:s, s:i, s:[s]}", "zeta", "z", "alpha", 1, "Beta", "b");
	assert_int_equal(vt_store_kv_put_many(f->s, "refval", vals, NULL), VT_OK);
	json_decref(vals);
	assert_int_equal(vt_store_generation(f->s, &g, NULL), VT_OK);
	assert_int_equal(g, g0 + 2); /* one transaction, one step */
	assert_int_equal(vt_store_kv_get(f->s, "refval", "alpha", &text, NULL), VT_OK);
	assert_string_equal(text, "1");
	free(text);
	assert_int_equal(vt_store_kv_get(f->s, "refval", "nope", &text, NULL), VT_E_NOTFOUND);
	/* Bytewise key order in both backends. */
	struct order o = {.n = 0};
	assert_int_equal(vt_store_kv_each(f->s, "refval", collect_order, &o, NULL), VT_OK);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.keys[0], "Beta");
	assert_string_equal(o.keys[1], "alpha");
	assert_string_equal(o.keys[2], "zeta");
}

/* The admin listing and deletion (issue 16): paths and value sizes only,
 * in path order; a kv delete is a write (the generation moves). */
struct res_seen {
	char path[4][32];
	size_t size[4];
	int n;
};

static void collect_res(void *ctx, const char *path, size_t size)
{
	struct res_seen *r = ctx;
	if (r->n < 4) {
		snprintf(r->path[r->n], sizeof(r->path[0]), "%s", path);
		r->size[r->n++] = size;
	}
}

static void test_admin_list_delete(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct res_seen r = {.n = 0};
	assert_int_equal(vt_store_resource_list(f->s, collect_res, &r, NULL), VT_OK);
	assert_int_equal(r.n, 0);
	assert_int_equal(vt_store_resource_put(f->s, "z/b/c", (const uint8_t *)"12345", 5, NULL), VT_OK);
	assert_int_equal(vt_store_resource_put(f->s, "a/b/c", (const uint8_t *)"", 0, NULL), VT_OK);
	assert_int_equal(vt_store_resource_list(f->s, collect_res, &r, NULL), VT_OK);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.path[0], "a/b/c");
	assert_int_equal(r.size[0], 0);
	assert_string_equal(r.path[1], "z/b/c");
	assert_int_equal(r.size[1], 5);

	int64_t g0 = -1, g = -1;
	bool deleted = true;
	char *text = NULL;
	assert_int_equal(vt_store_kv_put(f->s, "refval", "x", "[\"01\"]", NULL), VT_OK);
	assert_int_equal(vt_store_generation(f->s, &g0, NULL), VT_OK);
	assert_int_equal(vt_store_kv_delete(f->s, "refval", "x", &deleted, NULL), VT_OK);
	assert_true(deleted);
	assert_int_equal(vt_store_generation(f->s, &g, NULL), VT_OK);
	assert_int_equal(g, g0 + 1);
	assert_int_equal(vt_store_kv_get(f->s, "refval", "x", &text, NULL), VT_E_NOTFOUND);
	assert_int_equal(vt_store_kv_delete(f->s, "refval", "x", &deleted, NULL), VT_OK);
	assert_false(deleted);
	/* another namespace's key of the same name is untouched */
	assert_int_equal(vt_store_kv_put(f->s, "policy", "x", "{}", NULL), VT_OK);
	assert_int_equal(vt_store_kv_delete(f->s, "refval", "x", &deleted, NULL), VT_OK);
	assert_int_equal(vt_store_kv_get(f->s, "policy", "x", &text, NULL), VT_OK);
	free(text);
}

static void test_kv_list_add(void **state)
{
	struct fx *f = fx_or_skip(state);
	json_t *list = NULL;
	char *text = NULL;
	/* A single string registered earlier becomes a list. */
	assert_int_equal(vt_store_kv_put(f->s, "refval", "trusted_aks", "\"aa\"", NULL), VT_OK);
	assert_int_equal(vt_store_kv_list_add(f->s, "refval", "trusted_aks", "bb", &list, NULL), VT_OK);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	/* Adding again changes nothing. */
	assert_int_equal(vt_store_kv_list_add(f->s, "refval", "trusted_aks", "bb", &list, NULL), VT_OK);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_int_equal(vt_store_kv_list_add(f->s, "refval", "new_list", "cc", NULL, NULL), VT_OK);
	assert_int_equal(vt_store_kv_get(f->s, "refval", "new_list", &text, NULL), VT_OK);
	assert_string_equal(text, "[\"cc\"]");
	free(text);
}

static void test_jti(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_err e = {0};
	assert_int_equal(vt_store_jti_use(f->s, "jti-0123456789abcdef", 2000, 1000, NULL), VT_OK);
	assert_int_equal(vt_store_jti_use(f->s, "jti-0123456789abcdef", 2000, 1500, &e), VT_E_AUTH);
	assert_string_equal(e.field, "jti");
	/* After its expiry the id is forgotten (it can no longer be replayed). */
	assert_int_equal(vt_store_jti_use(f->s, "jti-0123456789abcdef", 4000, 2500, NULL), VT_OK);
}

/* ------------------------------------------------------------- release log */

static vt_status make_entry(void *ctx, const struct vt_audit_link *prev, char **entry, char hash[65], char **head,
			    struct vt_err *err)
{
	(void)ctx;
	char text[200];
	snprintf(text, sizeof(text), "{\"prev\":\"%s\",\"seq\":%lld}", prev->hash, (long long)(prev->seq + 1));
	uint8_t d[32];
	vt_status rc = vt_sha256(text, strlen(text), d, err);
	if (rc != VT_OK)
		return rc;
	char *hex = vt_hex_encode(d, 32);
	memcpy(hash, hex, 65);
	free(hex);
	*entry = strdup(text);
	*head = strdup("head.jws.sig");
	return VT_OK;
}

struct appender {
	struct vt_store *s;
	int n, failed;
};

static void *append_main(void *arg)
{
	struct appender *a = arg;
	for (int i = 0; i < a->n; i++)
		if (vt_store_audit_append(a->s, make_entry, NULL, NULL) != VT_OK)
			a->failed++;
	return NULL;
}

static void test_audit_concurrent_brokers(void **state)
{
	struct fx *f = fx_or_skip(state);
	/* Two store handles: two brokers on one database, two threads each. */
	struct vt_store *other = open_store(f, f->mk);
	struct appender a[4] = {{f->s, 25, 0}, {f->s, 25, 0}, {other, 25, 0}, {other, 25, 0}};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, append_main, &a[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failed, 0);
	}
	struct vt_audit_page pg;
	assert_int_equal(vt_store_audit_read(other, 0, 500, &pg, NULL), VT_OK);
	assert_int_equal(pg.head_seq, 100);
	assert_int_equal(json_array_size(pg.entries), 100);
	assert_null(pg.checkpoint);
	assert_int_equal(pg.checkpoint_seq, 0);
	json_t *entries = pg.entries;
	/* Every entry names the previous one's hash: one chain, no fork. */
	char prev[65];
	memset(prev, '0', 64);
	prev[64] = '\0';
	for (size_t i = 0; i < 100; i++) {
		const char *e = json_string_value(json_object_get(json_array_get(entries, i), "entry"));
		char want[200];
		snprintf(want, sizeof(want), "{\"prev\":\"%s\",\"seq\":%zu}", prev, i + 1);
		assert_string_equal(e, want);
		snprintf(prev, sizeof(prev), "%s", json_string_value(json_object_get(json_array_get(entries, i), "hash")));
	}
	vt_audit_page_free(&pg);
	/* A page. */
	assert_int_equal(vt_store_audit_read(f->s, 90, 5, &pg, NULL), VT_OK);
	assert_int_equal(json_array_size(pg.entries), 5);
	vt_audit_page_free(&pg);
	vt_store_close(other);
}

static vt_status make_fails(void *ctx, const struct vt_audit_link *prev, char **entry, char hash[65], char **head,
			    struct vt_err *err)
{
	(void)ctx, (void)prev, (void)entry, (void)hash, (void)head;
	return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "head", "cannot sign (test)");
}

static void assert_chain(struct vt_store *s, int64_t want)
{
	struct vt_audit_page pg;
	assert_int_equal(vt_store_audit_read(s, 0, 100, &pg, NULL), VT_OK);
	assert_int_equal(pg.head_seq, want);
	json_t *entries = pg.entries;
	assert_int_equal(json_array_size(entries), (size_t)want);
	char prev[65];
	memset(prev, '0', 64);
	prev[64] = '\0';
	for (size_t i = 0; i < (size_t)want; i++) {
		char expect[200];
		snprintf(expect, sizeof(expect), "{\"prev\":\"%s\",\"seq\":%zu}", prev, i + 1);
		assert_string_equal(json_string_value(json_object_get(json_array_get(entries, i), "entry")), expect);
		snprintf(prev, sizeof(prev), "%s", json_string_value(json_object_get(json_array_get(entries, i), "hash")));
	}
	vt_audit_page_free(&pg);
}

/* A failed append leaves nothing behind, and the next one continues the
 * chain on the same connection (PostgreSQL: after a pipeline whose
 * transaction was open when it failed). */
static void test_audit_failed_append(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_err e = {0};
	assert_int_equal(vt_store_audit_append(f->s, make_entry, NULL, NULL), VT_OK);
	/* Failing between the two round trips: after BEGIN and the lock. */
	assert_int_equal(vt_store_audit_append(f->s, make_fails, NULL, &e), VT_E_CRYPTO);
	assert_string_equal(e.field, "head");
	assert_chain(f->s, 1);
	if (f->pg) {
		/* Failing inside the second round trip: the entry's insert
		 * collides, so COMMIT and the flush are skipped by the server. */
		assert_int_equal(pg_psql("INSERT INTO audit(seq, entry, hash) VALUES(2, 'planted', 'x')"), 0);
		memset(&e, 0, sizeof(e));
		assert_int_not_equal(vt_store_audit_append(f->s, make_entry, NULL, &e), VT_OK);
		assert_non_null(strstr(e.detail, "23505")); /* unique_violation, reported with its code */
		assert_int_equal(pg_psql("DELETE FROM audit WHERE seq = 2"), 0);
	}
	assert_int_equal(vt_store_audit_append(f->s, make_entry, NULL, NULL), VT_OK);
	assert_int_equal(vt_store_audit_append(f->s, make_entry, NULL, NULL), VT_OK);
	assert_chain(f->s, 3);
}

static vt_status sign_checkpoint(void *ctx, const struct vt_audit_link *at, char **jws, struct vt_err *err)
{
	(void)err;
	int *calls = ctx;
	(*calls)++;
	char text[120];
	snprintf(text, sizeof(text), "ckpt.%lld.%.8s", (long long)at->seq, at->hash);
	*jws = strdup(text);
	return VT_OK;
}

static vt_status sign_fails(void *ctx, const struct vt_audit_link *at, char **jws, struct vt_err *err)
{
	(void)ctx, (void)at, (void)jws;
	return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "checkpoint", "cannot sign (test)");
}

/* Pruning: the oldest entries go, the checkpoint signs the last one
 * deleted, reads start after it, appends go on; what may not be pruned is
 * refused with nothing changed. */
static void test_audit_prune(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_err e = {0};
	int calls = 0;
	int64_t deleted = -1;
	for (int i = 0; i < 10; i++)
		assert_int_equal(vt_store_audit_append(f->s, make_entry, NULL, NULL), VT_OK);
	struct vt_audit_page pg;
	assert_int_equal(vt_store_audit_read(f->s, 0, 100, &pg, NULL), VT_OK);
	char hash4[65];
	snprintf(hash4, sizeof(hash4), "%s", json_string_value(json_object_get(json_array_get(pg.entries, 3), "hash")));
	vt_audit_page_free(&pg);

	/* refused: at or above the head, below 1, or a signing failure */
	assert_int_equal(vt_store_audit_prune(f->s, 10, sign_checkpoint, &calls, &deleted, &e), VT_E_USAGE);
	assert_string_equal(e.field, "through");
	assert_non_null(strstr(e.detail, "below the head (seq 10)"));
	assert_int_equal(vt_store_audit_prune(f->s, 11, sign_checkpoint, &calls, &deleted, &e), VT_E_USAGE);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_store_audit_prune(f->s, 4, sign_fails, NULL, &deleted, &e), VT_E_CRYPTO);
	assert_string_equal(e.field, "checkpoint");
	assert_int_equal(calls, 0);
	assert_chain(f->s, 10); /* nothing changed */

	assert_int_equal(vt_store_audit_prune(f->s, 4, sign_checkpoint, &calls, &deleted, NULL), VT_OK);
	assert_int_equal(deleted, 4);
	assert_int_equal(calls, 1);
	assert_int_equal(vt_store_audit_read(f->s, 0, 100, &pg, NULL), VT_OK);
	assert_int_equal(pg.checkpoint_seq, 4);
	char want[120];
	snprintf(want, sizeof(want), "ckpt.4.%.8s", hash4);
	assert_string_equal(pg.checkpoint, want);
	assert_int_equal(json_array_size(pg.entries), 6); /* seq 5..10: reads start after the checkpoint */
	char prev5[200];
	snprintf(prev5, sizeof(prev5), "{\"prev\":\"%s\",\"seq\":5}", hash4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(pg.entries, 0), "entry")), prev5);
	vt_audit_page_free(&pg);
	assert_int_equal(vt_store_audit_read(f->s, 7, 100, &pg, NULL), VT_OK); /* since beyond it: as before */
	assert_int_equal(json_array_size(pg.entries), 3);
	vt_audit_page_free(&pg);

	/* not again at or below the checkpoint */
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_store_audit_prune(f->s, 4, sign_checkpoint, &calls, &deleted, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "already pruned through seq 4"));
	assert_int_equal(vt_store_audit_prune(f->s, 2, sign_checkpoint, &calls, &deleted, &e), VT_E_USAGE);

	/* appends go on, and a second prune moves the checkpoint */
	assert_int_equal(vt_store_audit_append(f->s, make_entry, NULL, NULL), VT_OK);
	assert_int_equal(vt_store_audit_prune(f->s, 9, sign_checkpoint, &calls, &deleted, NULL), VT_OK);
	assert_int_equal(deleted, 5);
	assert_int_equal(vt_store_audit_read(f->s, 0, 100, &pg, NULL), VT_OK);
	assert_int_equal(pg.checkpoint_seq, 9);
	assert_int_equal(pg.head_seq, 11);
	assert_int_equal(json_array_size(pg.entries), 2);
	vt_audit_page_free(&pg);
}

/* Prunes while two brokers append: every prune sees a consistent chain
 * (under the same lock), and afterwards the first entry kept links to the
 * last checkpoint's hash and the rest is one chain up to the head. */
static void test_audit_prune_during_appends(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_store *other = open_store(f, f->mk);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vt_store_audit_append(f->s, make_entry, NULL, NULL), VT_OK);
	struct appender a[2] = {{f->s, 40, 0}, {other, 40, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, append_main, &a[i]);
	int calls = 0, pruned = 0;
	int64_t deleted = 0, total = 0;
	for (int64_t through = 3; through <= 60; through += 3) {
		struct vt_err e = {0};
		vt_status rc = vt_store_audit_prune(other, through, sign_checkpoint, &calls, &deleted, &e);
		if (rc == VT_OK) {
			pruned++;
			total += deleted;
		} else if (rc != VT_E_USAGE || strstr(e.detail, "below the head") == NULL) {
			fail_msg("prune through %lld: %s", (long long)through, e.detail);
		}
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failed, 0);
	}
	assert_true(pruned > 0);
	struct vt_audit_page pg;
	assert_int_equal(vt_store_audit_read(f->s, 0, 500, &pg, NULL), VT_OK);
	assert_int_equal(pg.head_seq, 85);
	assert_int_equal(total, pg.checkpoint_seq); /* every row up to it deleted once */
	assert_int_equal((int64_t)json_array_size(pg.entries), 85 - pg.checkpoint_seq);
	char want_prefix[40];
	snprintf(want_prefix, sizeof(want_prefix), "ckpt.%lld.", (long long)pg.checkpoint_seq);
	assert_memory_equal(pg.checkpoint, want_prefix, strlen(want_prefix));
	const char *ckhash8 = pg.checkpoint + strlen(want_prefix);
	for (size_t i = 0; i < json_array_size(pg.entries); i++) {
		json_t *row = json_array_get(pg.entries, i);
		json_t *entry = json_loads(json_string_value(json_object_get(row, "entry")), 0, NULL);
		assert_non_null(entry);
		assert_int_equal(json_integer_value(json_object_get(entry, "seq")), pg.checkpoint_seq + 1 + (int64_t)i);
		const char *prev = json_string_value(json_object_get(entry, "prev"));
		if (i == 0)
			assert_memory_equal(prev, ckhash8, 8); /* links to the checkpoint */
		else
			assert_string_equal(prev, json_string_value(json_object_get(json_array_get(pg.entries, i - 1), "hash")));
		json_decref(entry);
	}
	vt_audit_page_free(&pg);
	vt_store_close(other);
}

/* ---------------------------------------------------------------- sessions */

/* The store's part of a session: the nonce's use, once. */
static void test_attested(void **state)
{
	struct fx *f = fx_or_skip(state);
	char *token = NULL;
	int64_t n = -1;
	bool won = false;
	assert_int_equal(vt_store_attested_put(f->s, "h1", "tok.en.sig", 1100, &won, NULL), VT_OK);
	assert_true(won);
	/* A second use of the same nonce, with a token or burnt: lost. */
	assert_int_equal(vt_store_attested_put(f->s, "h1", "other.tok.en", 1100, &won, NULL), VT_OK);
	assert_false(won);
	assert_int_equal(vt_store_attested_put(f->s, "h1", NULL, 1100, &won, NULL), VT_OK);
	assert_false(won);
	assert_int_equal(vt_store_attested_token(f->s, "h1", 1000, &token, NULL), VT_OK);
	assert_string_equal(token, "tok.en.sig"); /* the first one's */
	free(token);
	token = NULL;
	/* Burnt: used, no token. */
	assert_int_equal(vt_store_attested_put(f->s, "h2", NULL, 1100, &won, NULL), VT_OK);
	assert_true(won);
	assert_int_equal(vt_store_attested_put(f->s, "h2", "late.tok.en", 1100, &won, NULL), VT_OK);
	assert_false(won);
	struct vt_err e = {0};
	assert_int_equal(vt_store_attested_token(f->s, "h2", 1000, &token, &e), VT_E_NOTFOUND);
	assert_string_equal(e.field, "kbs-session-id");
	assert_int_equal(vt_store_attested_token(f->s, "nope", 1000, &token, NULL), VT_E_NOTFOUND);
	/* Expired: no token. */
	assert_int_equal(vt_store_attested_token(f->s, "h1", 1100, &token, NULL), VT_E_NOTFOUND);
	assert_null(token);
	/* Counted: attested and live only. */
	assert_int_equal(vt_store_attested_put(f->s, "h3", "t3", 5000, &won, NULL), VT_OK);
	assert_int_equal(vt_store_attested_count(f->s, 1000, &n, NULL), VT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(vt_store_attested_count(f->s, 2000, &n, NULL), VT_OK);
	assert_int_equal(n, 1);
	/* Swept: rows of sessions that expired before the cut-off. */
	assert_int_equal(vt_store_attested_sweep(f->s, 1101, NULL), VT_OK);
	assert_int_equal(vt_store_attested_put(f->s, "h1", "again", 9000, &won, NULL), VT_OK);
	assert_true(won); /* the row was gone (the cookie itself has expired by then) */
	assert_int_equal(vt_store_attested_token(f->s, "h3", 1000, &token, NULL), VT_OK);
	assert_string_equal(token, "t3");
	free(token);
}

/* /resource on replicas: the token and the sealed resource in one read. */
static void test_attested_token_resource(void **state)
{
	struct fx *f = fx_or_skip(state);
	char *token = NULL;
	bool won = false;
	struct vt_store_sealed sealed = {0};
	struct vt_secret *secret = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_store_resource_put(f->s, "repo/key/one", (const uint8_t *)"s3cret", 6, NULL), VT_OK);
	/* No attested session: nothing, whatever the resource. */
	assert_int_equal(vt_store_attested_token_resource(f->s, "h1", 1000, "repo/key/one", &token, &sealed, &e),
			 VT_E_NOTFOUND);
	assert_string_equal(e.field, "kbs-session-id");
	assert_null(sealed.data);
	assert_int_equal(vt_store_attested_put(f->s, "h1", "tok.en.sig", 1100, &won, NULL), VT_OK);
	assert_int_equal(vt_store_attested_token_resource(f->s, "h1", 1000, "repo/key/one", &token, &sealed, NULL), VT_OK);
	assert_string_equal(token, "tok.en.sig");
	free(token);
	assert_non_null(sealed.data);
	assert_int_equal(sealed.len, 12 + 6 + 16); /* still sealed: IV, ciphertext, tag */
	/* Opened for its own path only (the path is the AAD). */
	vt_err_clear(&e);
	assert_int_equal(vt_store_resource_open(f->s, "repo/key/two", &sealed, &secret, &e), VT_E_REJECTED);
	assert_int_equal(vt_store_resource_open(f->s, "repo/key/one", &sealed, &secret, NULL), VT_OK);
	assert_int_equal(secret->len, 6);
	assert_memory_equal(secret->data, "s3cret", 6);
	vt_secret_free(secret);
	vt_store_sealed_free(&sealed);
	/* A missing resource: the token, and nothing to open. */
	assert_int_equal(vt_store_attested_token_resource(f->s, "h1", 1000, "repo/key/none", &token, &sealed, NULL), VT_OK);
	assert_string_equal(token, "tok.en.sig");
	free(token);
	assert_null(sealed.data);
	vt_err_clear(&e);
	assert_int_equal(vt_store_resource_open(f->s, "repo/key/none", &sealed, &secret, &e), VT_E_NOTFOUND);
	assert_string_equal(e.field, "resource");
	/* Burnt or expired: no token. */
	assert_int_equal(vt_store_attested_put(f->s, "h2", NULL, 1100, &won, NULL), VT_OK);
	assert_int_equal(vt_store_attested_token_resource(f->s, "h2", 1000, "repo/key/one", &token, &sealed, NULL),
			 VT_E_NOTFOUND);
	assert_int_equal(vt_store_attested_token_resource(f->s, "h1", 1100, "repo/key/one", &token, &sealed, NULL),
			 VT_E_NOTFOUND);
	assert_null(sealed.data);
}

struct user {
	struct vt_store *s;
	struct vt_session_table *t;
	const char *id;
	vt_status rc;
	bool won;
	pthread_barrier_t *go;
};

static void *use_main(void *arg)
{
	struct user *u = arg;
	pthread_barrier_wait(u->go);
	if (u->t)
		u->rc = vt_session_attested(u->t, u->id, vt_now(), "tok.en.sig", NULL);
	else
		u->rc = vt_store_attested_put(u->s, u->id, "tok.en.sig", 2000, &u->won, NULL);
	return NULL;
}

/* Eight uses of one nonce at once, on two brokers: exactly one wins. */
static void race(struct vt_store *a, struct vt_store *b, struct vt_session_table *ta, struct vt_session_table *tb,
		 const char *id)
{
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 8);
	struct user u[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		u[i] = (struct user){i % 2 ? b : a, i % 2 ? tb : ta, id, VT_OK, false, &go};
		pthread_create(&t[i], NULL, use_main, &u[i]);
	}
	int won = 0, lost = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		if (ta) {
			won += u[i].rc == VT_OK;
			lost += u[i].rc == VT_E_REJECTED;
		} else {
			assert_int_equal(u[i].rc, VT_OK);
			won += u[i].won;
			lost += !u[i].won;
		}
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(won, 1);
	assert_int_equal(lost, 7);
}

static void test_attest_race_two_brokers(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_store *other = open_store(f, f->mk);
	char id[32];
	for (int round = 0; round < 5; round++) {
		snprintf(id, sizeof(id), "race-%d", round);
		race(f->s, other, NULL, NULL, id);
	}
	/* The same through the session tables, with a real cookie. */
	struct vt_session_table *ta = vt_sessions_new_shared(f->s, 10, 2), *tb = vt_sessions_new_shared(other, 10, 2);
	assert_non_null(ta);
	assert_non_null(tb);
	struct vt_session_params p = {.tee = "sim", .hash = "sha384", .policy = "default"};
	char cookie[VT_SESSION_ID_MAX], nonce[45];
	for (int round = 0; round < 3; round++) {
		assert_int_equal(vt_session_create(ta, &p, "c", vt_now(), vt_now() + 60, cookie, nonce, NULL), VT_OK);
		race(NULL, NULL, ta, tb, cookie);
	}
	vt_sessions_free(ta);
	vt_sessions_free(tb);
	vt_store_close(other);
}

/* The session table of replicas (session.h over session_db.c) on the
 * store: one round; the nonce's single use; what a cookie cannot do. */
static void test_session_table_on_store(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_session_table *t = vt_sessions_new_shared(f->s, 10, 2);
	assert_non_null(t);
	struct vt_session_params p = {.tee = "sim", .hash = "sha512", .policy = "set-a"}, got;
	char id[VT_SESSION_ID_MAX], id2[VT_SESSION_ID_MAX], nonce[45], n2[45], *token = NULL;
	int64_t now = vt_now();
	struct vt_err e = {0};
	assert_int_equal(vt_session_create(t, &p, "10.0.0.1", now, now + 60, id, nonce, NULL), VT_OK);
	assert_true(strlen(id) > 32 && strlen(id) < VT_SESSION_ID_MAX);
	assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(id));
	assert_int_equal(strlen(nonce), 44);
	/* /auth wrote nothing. */
	int64_t rows = -1;
	assert_int_equal(vt_store_attested_count(f->s, 0, &rows, NULL), VT_OK);
	assert_int_equal(rows, 0);
	assert_int_equal(vt_session_claim(t, "not-an-id", now, &got, n2, &e), VT_E_NOTFOUND);
	assert_int_equal(vt_session_token(t, id, now, &token, NULL), VT_E_NOTFOUND);
	/* The cookie brings back what /auth decided. */
	assert_int_equal(vt_session_claim(t, id, now, &got, n2, NULL), VT_OK);
	assert_string_equal(n2, nonce);
	assert_string_equal(got.tee, "sim");
	assert_string_equal(got.hash, "sha512");
	assert_string_equal(got.policy, "set-a");
	/* Expired: refused as unknown. */
	vt_err_clear(&e);
	assert_int_equal(vt_session_claim(t, id, now + 60, &got, n2, &e), VT_E_NOTFOUND);
	assert_string_equal(e.field, "kbs-session-id");
	/* Any character changed (but the last, whose low bits base64 may not
	 * use), or one cut off: refused as unknown. */
	for (size_t i = 0; i + 1 < strlen(id); i += 3) {
		snprintf(id2, sizeof(id2), "%s", id);
		id2[i] = id2[i] == 'A' ? 'B' : 'A';
		assert_int_equal(vt_session_claim(t, id2, now, &got, n2, NULL), VT_E_NOTFOUND);
	}
	snprintf(id2, sizeof(id2), "%s", id);
	id2[strlen(id2) - 1] = '\0';
	assert_int_equal(vt_session_claim(t, id2, now, &got, n2, NULL), VT_E_NOTFOUND);
	/* One attestation per nonce. */
	assert_int_equal(vt_session_attested(t, id, now, "tok.en.sig", NULL), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_session_attested(t, id, now, "tok.en.sig", &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "nonce already used"));
	assert_int_equal(vt_session_token(t, id, now, &token, NULL), VT_OK);
	assert_string_equal(token, "tok.en.sig");
	free(token);
	token = NULL;
	assert_int_equal(vt_sessions_count(t), 1);
	/* Another broker on the store (same master key) serves the session. */
	struct vt_store *other = open_store(f, f->mk);
	struct vt_session_table *t2 = vt_sessions_new_shared(other, 10, 2);
	assert_int_equal(vt_session_token(t2, id, now, &token, NULL), VT_OK);
	assert_string_equal(token, "tok.en.sig");
	free(token);
	token = NULL;
	/* A failed attestation burns the nonce. */
	assert_int_equal(vt_session_create(t2, &p, "10.0.0.1", now, now + 60, id2, nonce, NULL), VT_OK);
	assert_int_equal(vt_session_claim(t, id2, now, &got, n2, NULL), VT_OK);
	vt_session_fail(t, id2);
	assert_int_equal(vt_session_attested(t2, id2, now, "tok.en.sig", NULL), VT_E_REJECTED);
	assert_int_equal(vt_session_token(t2, id2, now, &token, NULL), VT_E_NOTFOUND);
	vt_sessions_free(t2);
	vt_store_close(other);
	if (!f->pg) {
		/* A broker with another master key cannot read the cookie. */
		struct fx g = {.pg = false};
		snprintf(g.db, sizeof(g.db), "%s/other.db", f->dir);
		struct vt_secret *mk = vt_secret_random(32);
		struct vt_store *s3 = open_store(&g, mk);
		struct vt_session_table *t3 = vt_sessions_new_shared(s3, 10, 2);
		assert_int_equal(vt_session_claim(t3, id, now, &got, n2, NULL), VT_E_NOTFOUND);
		vt_sessions_free(t3);
		vt_store_close(s3);
		vt_secret_free(mk);
	}
	vt_sessions_free(t);
}

static void test_challenges(void **state)
{
	struct fx *f = fx_or_skip(state);
	struct vt_secret *sec = vt_secret_random(32), *got = NULL;
	char ak[65];
	int64_t exp = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_store_challenge_put(f->s, "id1", "aaaa", sec, 1300, 1000, 2, NULL), VT_OK);
	assert_int_equal(vt_store_challenge_put(f->s, "id2", "bbbb", sec, 1300, 1000, 2, NULL), VT_OK);
	assert_int_equal(vt_store_challenge_put(f->s, "id3", "cccc", sec, 1300, 1000, 2, &e), VT_E_LIMIT);
	assert_int_equal(vt_store_challenge_take(f->s, "id1", ak, &got, &exp, NULL), VT_OK);
	assert_string_equal(ak, "aaaa");
	assert_int_equal(exp, 1300);
	assert_true(vt_secret_eq(got, sec));
	vt_secret_free(got);
	got = NULL;
	/* Taken once. */
	assert_int_equal(vt_store_challenge_take(f->s, "id1", ak, &got, &exp, NULL), VT_E_NOTFOUND);
	/* Expired ones are purged to make room. */
	assert_int_equal(vt_store_challenge_put(f->s, "id4", "dddd", sec, 2000, 1400, 2, NULL), VT_OK);
	assert_int_equal(vt_store_challenge_take(f->s, "id2", ak, &got, &exp, NULL), VT_E_NOTFOUND);
	vt_secret_free(sec);
}

/* ------------------------------------------------------- PostgreSQL alone */

static void test_pg_unreachable_at_start(void **state)
{
	struct fx *f = fx_or_skip(state);
	(void)f;
	int port = 0;
	for (int p = 40000; p < 40100 && port == 0; p++)
		if (vt_test_port_free(p))
			port = p;
	char url[200];
	snprintf(url, sizeof(url), "postgresql://veritee:s3cr3t-password@127.0.0.1:%d/veritee", port);
	struct vt_store *s = NULL;
	struct vt_err e = {0};
	double t0 = now_ms();
	assert_int_equal(vt_store_open(url, f->mk, NULL, &s, &e), VT_E_UNAVAILABLE);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(e.detail, "unreachable at start"));
	assert_non_null(strstr(e.detail, "127.0.0.1"));
	assert_null(strstr(e.detail, "s3cr3t")); /* never the password */
	/* Not a URI at all. */
	vt_err_clear(&e);
	assert_int_equal(vt_store_open("postgresql://[bad", f->mk, NULL, &s, &e), VT_E_USAGE);
}

static void test_pg_outage_fail_fast_recover(void **state)
{
	struct fx *f = fx_or_skip(state);
	if (!pg_own)
		skip();
	char args[300];
	struct vt_err e = {0};
	assert_int_equal(vt_store_kv_put(f->s, "policy", "before", "{}", NULL), VT_OK);
	snprintf(args, sizeof(args), "halt %s", pg_dir);
	assert_int_equal(pg_script(args), 0);
	/* Down: the first request finds out, the next ones fail at once. */
	assert_int_equal(vt_store_ping(f->s, &e), VT_E_UNAVAILABLE);
	assert_non_null(strstr(e.detail, "unavailable"));
	double worst = 0;
	for (int i = 0; i < 20; i++) {
		double t0 = now_ms();
		char *text = NULL;
		assert_int_equal(vt_store_kv_get(f->s, "policy", "before", &text, NULL), VT_E_UNAVAILABLE);
		double dt = now_ms() - t0;
		worst = dt > worst ? dt : worst;
	}
	print_message("# outage: 20 requests failed, the slowest in %.2f ms\n", worst);
	assert_true(worst < 100);
	snprintf(args, sizeof(args), "start-again %s", pg_dir);
	assert_int_equal(pg_script(args), 0);
	/* Back: within the back-off (at most 2 s), no reopen. */
	double t0 = now_ms();
	vt_status rc;
	while ((rc = vt_store_ping(f->s, NULL)) != VT_OK && now_ms() - t0 < 5000) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(rc, VT_OK);
	print_message("# recovered %.0f ms after the server was back\n", now_ms() - t0);
	char *text = NULL;
	assert_int_equal(vt_store_kv_get(f->s, "policy", "before", &text, NULL), VT_OK);
	free(text);
	/* A restart under an idle pool costs no request. */
	snprintf(args, sizeof(args), "restart %s", pg_dir);
	assert_int_equal(pg_script(args), 0);
	assert_int_equal(vt_store_kv_get(f->s, "policy", "before", &text, NULL), VT_OK);
	free(text);
}

static void test_pg_refuses_writes(void **state)
{
	struct fx *f = fx_or_skip(state);
	if (!pg_own)
		skip();
	int64_t g0 = 0, g = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_store_generation(f->s, &g0, NULL), VT_OK);
	assert_int_equal(pg_psql("ALTER SYSTEM SET default_transaction_read_only = on\" \"SELECT pg_reload_conf()"), 0);
	/* The reload reaches existing sessions asynchronously. */
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	json_t *vals = json_pack("{s:i, s:i}", "x", 1, "y", 2);
	vt_status rc = vt_store_kv_put_many(f->s, "refval", vals, &e);
	assert_int_equal(pg_psql("ALTER SYSTEM RESET default_transaction_read_only\" \"SELECT pg_reload_conf()"), 0);
	json_decref(vals);
	assert_int_equal(rc, VT_E_UNAVAILABLE);
	assert_non_null(strstr(e.detail, "25006"));
	nanosleep(&ts, NULL);
	/* Nothing half-written. */
	char *text = NULL;
	assert_int_equal(vt_store_kv_get(f->s, "refval", "x", &text, NULL), VT_E_NOTFOUND);
	assert_int_equal(vt_store_generation(f->s, &g, NULL), VT_OK);
	assert_int_equal(g, g0);
	assert_int_equal(vt_store_resource_put(f->s, "a/b/c", (const uint8_t *)"x", 1, NULL), VT_OK);
}

#define BOTH(fn)                                                         \
	cmocka_unit_test_setup_teardown(fn, setup_sqlite, teardown)
#define PG(fn) cmocka_unit_test_setup_teardown(fn, setup_pg, teardown)

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
		BOTH(test_open_migrate_keys),	   BOTH(test_resources),
		BOTH(test_kv_generation),	   BOTH(test_kv_list_add),
		BOTH(test_jti),			   BOTH(test_audit_concurrent_brokers),
		BOTH(test_attested),		   BOTH(test_attested_token_resource),
		BOTH(test_attest_race_two_brokers), BOTH(test_challenges),
		BOTH(test_admin_list_delete),	   BOTH(test_session_table_on_store),
		BOTH(test_audit_failed_append),	   BOTH(test_audit_prune),
		BOTH(test_audit_prune_during_appends),
	};
	const struct CMUnitTest pg_tests[] = {
		PG(test_open_migrate_keys),	    PG(test_resources),
		PG(test_kv_generation),		    PG(test_kv_list_add),
		PG(test_jti),			    PG(test_audit_concurrent_brokers),
		PG(test_attested),		    PG(test_attested_token_resource),
		PG(test_attest_race_two_brokers),   PG(test_challenges),
		PG(test_pg_unreachable_at_start),   PG(test_pg_outage_fail_fast_recover),
		PG(test_pg_refuses_writes),	    PG(test_admin_list_delete),
		PG(test_session_table_on_store),    PG(test_audit_failed_append),
		PG(test_audit_prune),		    PG(test_audit_prune_during_appends),
	};
	int failed = cmocka_run_group_tests_name("store_sqlite", sqlite_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("store_postgresql", pg_tests, group_setup_pg, group_teardown_pg);
	return failed;
}
