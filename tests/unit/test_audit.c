/* The broker's release log (src/broker/audit.c): entries appended to the
 * hash chain in the store, the signed head, the admin export with paging,
 * the JWKS, and vt_audit_verify naming the first bad entry of a tampered
 * export.  The broker is driven directly with an injected clock. */
#include <sqlite3.h>

#include "broker_testutil.h"

#include "broker/audit.h"
#include "broker/broker_internal.h" /* the token key, for the EAR kid */
#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/token.h"

#define FAKE_NOW ((int64_t)1800000000)
static int64_t fake_now = FAKE_NOW;
static int64_t clock_fn(void *ctx)
{
	(void)ctx;
	return fake_now;
}

struct fixture {
	char *dir, *db;
	struct vt_broker *b;
	EVP_PKEY *admin;
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
	f->db = path_in(f->dir, "kbs.db");
	fake_now = FAKE_NOW;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &f->admin, NULL), VT_OK);
	char *pub = path_in(f->dir, "admin.pub");
	assert_int_equal(vt_key_save_pem(pub, f->admin, false, 0644, NULL), VT_OK);
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = strdup(f->db);
	c.master_key_path = path_in(f->dir, "master.key");
	c.admin_keys = calloc(1, sizeof(char *));
	c.admin_keys[0] = pub;
	c.admin_key_count = 1;
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
	vt_test_rm_rf(f->dir);
	free(f->db);
	free(f->dir);
	free(f);
	return 0;
}

/* One request; the status and the JSON body (NULL when none). */
static int call(struct vt_broker *b, const char *method, const char *path, const char *query, const char *auth,
		json_t **out)
{
	struct vt_http_request r = {.method = method, .path = path, .query = query, .authorization = auth,
				    .client = "127.0.0.1", .body = (const uint8_t *)"", .body_size = 0};
	struct vt_http_response resp;
	vt_broker_handle(b, &r, &resp);
	*out = resp.body ? json_loadb(resp.body, resp.body_size, 0, NULL) : NULL;
	int st = resp.status;
	vt_http_response_free(&resp);
	return st;
}

static char *admin_bearer(struct fixture *f)
{
	uint8_t raw[16];
	assert_int_equal(vt_random(raw, sizeof(raw), NULL), VT_OK);
	char *jti = vt_hex_encode(raw, sizeof(raw)), *jws = NULL, *out = NULL;
	char payload[200];
	snprintf(payload, sizeof(payload), "{\"exp\":%lld,\"iat\":%lld,\"jti\":\"%s\",\"htu\":\"/kbs/v0/admin/audit\"}",
		 (long long)fake_now + 60, (long long)fake_now, jti);
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	assert_int_equal(vt_jws_sign(f->admin, h, (const uint8_t *)payload, strlen(payload), &jws, NULL), VT_OK);
	assert_true(asprintf(&out, "Bearer %s", jws) > 0);
	free(jws);
	free(jti);
	json_decref(h);
	return out;
}

/* GET /kbs/v0/admin/audit?query: the status and body. */
static int export_page(struct fixture *f, const char *query, json_t **out)
{
	char *bearer = admin_bearer(f);
	int st = call(f->b, "GET", "/kbs/v0/admin/audit", query, bearer, out);
	free(bearer);
	return st;
}

/* The whole log as `veritee admin audit` writes it: {"since", "entries", "head"}. */
static json_t *export_all(struct fixture *f, int64_t since)
{
	char q[64];
	snprintf(q, sizeof(q), "since=%lld", (long long)since);
	json_t *page = NULL;
	assert_int_equal(export_page(f, q, &page), 200);
	assert_false(json_is_true(json_object_get(page, "more")));
	json_t *log = json_pack("{s:I, s:O, s:O}", "since", (json_int_t)since, "entries", json_object_get(page, "entries"),
				"head", json_object_get(page, "head"));
	json_decref(page);
	assert_non_null(log);
	return log;
}

static json_t *jwks(struct fixture *f)
{
	json_t *j = NULL;
	assert_int_equal(call(f->b, "GET", "/.well-known/jwks.json", NULL, NULL, &j), 200);
	return j;
}

static const char cookie[] = "0123456789abcdef0123456789abcdef";
static const char bearer_token[] = "eyJhbGciOiJFUzI1NiJ9.eyJmYWtlIjp0cnVlfQ.c2ln";

/* Six entries: released / denied / error, by cookie, Bearer and nothing. */
static void append_six(struct fixture *f)
{
	json_t *claims = json_pack("{s:{s:{s:{s:{s:b}, s:s}}}}", "submods", "cpu0", "ear.veraison.annotated-evidence",
				   "sim", "debug", 0, "report_data", "00");
	struct vt_http_request by_cookie = {.method = "GET", .session_cookie = cookie};
	char auth[128];
	snprintf(auth, sizeof(auth), "Bearer %s", bearer_token);
	struct vt_http_request by_bearer = {.method = "GET", .authorization = auth};
	struct vt_http_request by_none = {.method = "GET"};
	struct vt_err e = {0};
	assert_int_equal(vt_broker_audit_release(f->b, &by_cookie, "tok", claims, "default/key/a", &e), VT_OK);
	fake_now++;
	vt_broker_audit_refusal(f->b, &by_none, NULL, NULL, "default/key/a", "denied", VT_STEP_TOKEN);
	fake_now++;
	vt_broker_audit_refusal(f->b, &by_bearer, bearer_token, NULL, "default/key/b", "denied", VT_STEP_SIGNATURE);
	fake_now++;
	vt_broker_audit_refusal(f->b, &by_cookie, "tok", claims, "default/key/x", "denied", VT_STEP_POLICY);
	fake_now++;
	vt_broker_audit_refusal(f->b, &by_cookie, "tok", claims, "default/key/c", "error", VT_STEP_STORAGE);
	fake_now++;
	assert_int_equal(vt_broker_audit_release(f->b, &by_bearer, bearer_token, claims, "default/key/b", &e), VT_OK);
	json_decref(claims);
}

static void hex_sha256(const char *s, char out[65])
{
	uint8_t d[32];
	assert_int_equal(vt_sha256(s, strlen(s), d, NULL), VT_OK);
	char *h = vt_hex_encode(d, sizeof(d));
	snprintf(out, 65, "%s", h);
	free(h);
}

static const char *entry_str(const json_t *log, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(log, "entries"), i), key));
}

/* ------------------------------------------------------------ the chain */

static void test_chain_append_export_verify(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	json_t *log = export_all(f, 0), *keys = jwks(f);
	struct vt_audit_result res;
	struct vt_err e = {0};
	assert_int_equal(vt_audit_verify(log, keys, &res, &e), VT_OK);
	assert_int_equal(res.entries, 6);
	assert_int_equal(res.first_seq, 1);
	assert_int_equal(res.last_seq, 6);
	assert_int_equal(res.head_seq, 6);
	assert_int_equal(res.head_time, FAKE_NOW + 5);
	assert_false(res.prev_unchecked);

	json_t *entries = json_object_get(log, "entries");
	/* Entry 1: the genesis link, the cookie's hash, the claims' digest. */
	char want[65];
	assert_string_equal(entry_str(log, 0, "prev"),
			    "0000000000000000000000000000000000000000000000000000000000000000");
	hex_sha256(cookie, want);
	assert_string_equal(entry_str(log, 0, "session"), want);
	assert_string_equal(entry_str(log, 0, "credential"), "cookie");
	assert_string_equal(entry_str(log, 0, "tee"), "sim");
	assert_string_equal(entry_str(log, 0, "outcome"), "released");
	assert_true(json_is_null(json_object_get(json_array_get(entries, 0), "step")));
	assert_int_equal(strlen(entry_str(log, 0, "claims")), 64);
	/* Entry 2: no credential at all. */
	assert_string_equal(entry_str(log, 1, "credential"), "none");
	assert_true(json_is_null(json_object_get(json_array_get(entries, 1), "session")));
	assert_string_equal(entry_str(log, 1, "step"), "token");
	/* Entry 3: the Bearer token's hash, never the token. */
	hex_sha256(bearer_token, want);
	assert_string_equal(entry_str(log, 2, "session"), want);
	assert_string_equal(entry_str(log, 2, "credential"), "bearer");
	assert_true(json_is_null(json_object_get(json_array_get(entries, 2), "claims")));
	assert_string_equal(entry_str(log, 4, "outcome"), "error");
	assert_string_equal(entry_str(log, 4, "step"), "storage");
	/* Each entry chains to the one before. */
	for (size_t i = 1; i < 6; i++)
		assert_string_equal(entry_str(log, i, "prev"), entry_str(log, i - 1, "hash"));

	/* Neither the cookie nor the token is anywhere in the database. */
	uint8_t *db = NULL;
	size_t n = 0;
	assert_int_equal(vt_file_read(f->db, 64u << 20, &db, &n, NULL), VT_OK);
	assert_null(memmem(db, n, cookie, strlen(cookie)));
	assert_null(memmem(db, n, bearer_token, strlen(bearer_token)));
	free(db);
	json_decref(keys);
	json_decref(log);
}

/* The head is an ES256 JWS by the token key, kid = the JWKS kid = the
 * kid in the EAR header; the JWKS key is public only. */
static void test_jwks_and_kids(void **state)
{
	struct fixture *f = *state;
	json_t *keys = jwks(f);
	json_t *k = json_array_get(json_object_get(keys, "keys"), 0);
	assert_int_equal(json_array_size(json_object_get(keys, "keys")), 1);
	assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
	assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
	assert_null(json_object_get(k, "d"));
	const char *kid = json_string_value(json_object_get(k, "kid"));
	assert_non_null(kid);
	assert_int_equal(strlen(kid), 43); /* base64url of 32 bytes */

	/* An EAR from the broker's key names the same kid. */
	json_t *trust = json_object(), *ann = json_object();
	struct vt_ear_params ep = {.iat = FAKE_NOW, .lifetime = 60, .status = "affirming", .trust_vector = trust,
				   .annotated = ann};
	char *ear = NULL;
	assert_int_equal(vt_ear_issue(f->b->token_key, &ep, &ear, NULL), VT_OK);
	json_t *h = NULL;
	assert_int_equal(vt_jws_peek_header(ear, &h, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
	assert_non_null(json_object_get(h, "jwk"));
	json_decref(h);

	append_six(f);
	json_t *page = NULL;
	assert_int_equal(export_page(f, NULL, &page), 200);
	const char *head = json_string_value(json_object_get(page, "head"));
	static const char *const es256[] = {"ES256", NULL};
	EVP_PKEY *pub = NULL;
	uint8_t *payload = NULL;
	size_t n = 0;
	assert_int_equal(vt_jwk_to_key(k, false, &pub, NULL), VT_OK);
	assert_int_equal(vt_jws_verify(head, pub, es256, &h, &payload, &n, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
	assert_string_equal(json_string_value(json_object_get(h, "typ")), VT_AUDIT_HEAD_TYP);
	json_t *hp = json_loadb((const char *)payload, n, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(hp, "seq")), 6);
	assert_string_equal(json_string_value(json_object_get(hp, "hash")), entry_str(page, 5, "hash"));
	/* The head is not an EAR: the broker would not take it as a token. */
	json_t *claims = NULL;
	assert_int_not_equal(vt_ear_verify(head, f->b->token_key, FAKE_NOW, 0, 0, &claims, NULL), VT_OK);
	json_decref(hp);
	json_decref(h);
	free(payload);
	EVP_PKEY_free(pub);
	json_decref(page);
	free(ear);
	json_decref(trust);
	json_decref(ann);
	json_decref(keys);
}

/* ------------------------------------------------------------ tampering */

static void expect_tampered(const json_t *log, const json_t *keys, long index, int64_t seq, const char *why)
{
	struct vt_audit_result res;
	struct vt_err e = {0};
	assert_int_equal(vt_audit_verify(log, keys, &res, &e), VT_E_REJECTED);
	if (res.bad_index != index || res.bad_seq != seq || strstr(res.why, why) == NULL)
		fail_msg("want index %ld seq %lld \"%s\"; got index %ld seq %lld: %s", index, (long long)seq, why,
			 res.bad_index, (long long)res.bad_seq, res.why);
}

static void test_tamper_detected(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	json_t *log = export_all(f, 0), *keys = jwks(f), *t, *es;

	/* A modified field: that entry is named. */
	t = json_deep_copy(log);
	json_object_set_new(json_array_get(json_object_get(t, "entries"), 2), "outcome", json_string("released"));
	expect_tampered(t, keys, 2, 3, "was modified");
	json_decref(t);

	/* Modified and re-hashed: the next entry no longer chains to it. */
	t = json_deep_copy(log);
	es = json_object_get(t, "entries");
	json_t *e2 = json_array_get(es, 2);
	json_object_set_new(e2, "resource", json_string("default/key/zzz"));
	json_object_del(e2, "hash");
	char *text = vt_json_canonical(e2), h[65];
	hex_sha256(text, h);
	free(text);
	json_object_set_new(e2, "hash", json_string(h));
	expect_tampered(t, keys, 3, 4, "does not chain to entry seq 3");
	json_decref(t);

	/* A deleted entry. */
	t = json_deep_copy(log);
	json_array_remove(json_object_get(t, "entries"), 3);
	expect_tampered(t, keys, 3, 4, "seq 4 is missing");
	json_decref(t);

	/* Reordered. */
	t = json_deep_copy(log);
	es = json_object_get(t, "entries");
	json_t *a = json_incref(json_array_get(es, 1));
	json_array_remove(es, 1);
	json_array_insert_new(es, 2, a);
	expect_tampered(t, keys, 1, 2, "seq 2 is missing");
	json_decref(t);

	/* Truncated tail: the signed head is further on. */
	t = json_deep_copy(log);
	json_array_remove(json_object_get(t, "entries"), 5);
	expect_tampered(t, keys, 5, 6, "truncated");
	json_decref(t);

	/* Last entry rewritten and re-hashed: it is not what the head signs. */
	t = json_deep_copy(log);
	json_t *e5 = json_array_get(json_object_get(t, "entries"), 5);
	json_object_set_new(e5, "outcome", json_string("denied"));
	json_object_del(e5, "hash");
	text = vt_json_canonical(e5);
	hex_sha256(text, h);
	free(text);
	json_object_set_new(e5, "hash", json_string(h));
	expect_tampered(t, keys, 5, 6, "not the one the head signs");
	json_decref(t);

	/* An entry appended past the head. */
	t = json_deep_copy(log);
	es = json_object_get(t, "entries");
	json_array_append_new(es, json_deep_copy(json_array_get(es, 5)));
	expect_tampered(t, keys, 6, 7, "after the signed head");
	json_decref(t);

	/* No head at all. */
	t = json_deep_copy(log);
	json_object_set_new(t, "head", json_null());
	expect_tampered(t, keys, -1, 0, "no signed head");
	json_decref(t);

	/* The first entry's prev is not the genesis hash. */
	t = json_deep_copy(log);
	json_array_remove(json_object_get(t, "entries"), 0);
	expect_tampered(t, keys, 0, 1, "seq 1 is missing");
	json_decref(t);

	json_decref(keys);
	json_decref(log);
}

/* The head verified with another key: one with the same kid (a forged
 * JWKS or another broker) and one with its own kid. */
static void test_wrong_key(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	json_t *log = export_all(f, 0), *keys = jwks(f);
	EVP_PKEY *other = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &other, NULL), VT_OK);
	json_t *ojwk = vt_audit_jwk(other);
	json_t *okeys = json_pack("{s:[O]}", "keys", ojwk);
	expect_tampered(log, okeys, -1, 0, "does not hold");
	json_object_set(ojwk, "kid", json_object_get(json_array_get(json_object_get(keys, "keys"), 0), "kid"));
	expect_tampered(log, okeys, -1, 0, "does not verify");
	/* A head re-signed by the other key with the broker's kid. */
	json_decref(okeys);
	json_decref(ojwk);
	EVP_PKEY_free(other);
	json_decref(keys);
	json_decref(log);
}

/* ------------------------------------------------------------ paging */

static void test_paging(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	json_t *page = NULL, *keys = jwks(f);
	assert_int_equal(export_page(f, "since=2&limit=2", &page), 200);
	json_t *es = json_object_get(page, "entries");
	assert_int_equal(json_array_size(es), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(es, 0), "seq")), 3);
	assert_true(json_is_true(json_object_get(page, "more")));
	json_decref(page);
	assert_int_equal(export_page(f, "since=6", &page), 200);
	assert_int_equal(json_array_size(json_object_get(page, "entries")), 0);
	assert_false(json_is_true(json_object_get(page, "more")));
	json_decref(page);

	/* A log from seq 3 on verifies, its first prev taken on trust. */
	json_t *log = export_all(f, 2);
	struct vt_audit_result res;
	assert_int_equal(vt_audit_verify(log, keys, &res, NULL), VT_OK);
	assert_int_equal(res.first_seq, 3);
	assert_true(res.prev_unchecked);
	json_decref(log);

	/* Bad queries. */
	static const char *const bad[] = {"since=-1", "since=x", "since=", "limit=0", "limit=501", "since=1&since=2",
					  "since=99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(export_page(f, bad[i], &page), 401);
		assert_non_null(strstr(json_string_value(json_object_get(page, "detail")), "since"));
		json_decref(page);
	}
	/* Without an admin token: refused. */
	assert_int_equal(call(f->b, "GET", "/kbs/v0/admin/audit", NULL, NULL, &page), 401);
	assert_non_null(strstr(json_string_value(json_object_get(page, "type")), "AdminAuth"));
	json_decref(page);
	json_decref(keys);
}

/* DELETE /kbs/v0/admin/audit?query: the status and body. */
static int prune(struct fixture *f, const char *query, json_t **out)
{
	char *bearer = admin_bearer(f);
	int st = call(f->b, "DELETE", "/kbs/v0/admin/audit", query, bearer, out);
	free(bearer);
	return st;
}

/* The export after a prune, as `veritee admin audit` writes it: from the
 * checkpoint, with it. */
static json_t *export_pruned(struct fixture *f)
{
	json_t *page = NULL;
	assert_int_equal(export_page(f, "since=0", &page), 200);
	int64_t c = json_integer_value(json_object_get(page, "pruned_through"));
	json_t *log = json_pack("{s:I, s:O, s:O, s:O}", "since", (json_int_t)c, "entries",
				json_object_get(page, "entries"), "head", json_object_get(page, "head"), "checkpoint",
				json_object_get(page, "checkpoint"));
	json_decref(page);
	assert_non_null(log);
	return log;
}

/* Pruning through the admin API: the oldest entries go, a signed
 * checkpoint stays, and the rest verifies against it; a checkpoint that
 * does not fit the log is named. */
static void test_prune(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	json_t *full = export_all(f, 0), *keys = jwks(f), *page = NULL;
	/* refused: no or bad query, the head's entry, no admin token */
	static const char *const bad[] = {NULL, "through=0", "through=-1", "through=x", "through=6", "through=7"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(prune(f, bad[i], &page), 401); /* the KBS protocol's status for every error */
		assert_non_null(strstr(json_string_value(json_object_get(page, "detail")), "through"));
		json_decref(page);
	}
	assert_int_equal(call(f->b, "DELETE", "/kbs/v0/admin/audit", "through=2", NULL, &page), 401);
	json_decref(page);

	assert_int_equal(prune(f, "through=2", &page), 200);
	assert_int_equal(json_integer_value(json_object_get(page, "deleted")), 2);
	assert_int_equal(json_integer_value(json_object_get(page, "pruned_through")), 2);
	json_decref(page);
	assert_int_equal(prune(f, "through=2", &page), 401); /* already */
	assert_non_null(strstr(json_string_value(json_object_get(page, "detail")), "already pruned through seq 2"));
	json_decref(page);

	json_t *log = export_pruned(f);
	assert_int_equal(json_integer_value(json_object_get(log, "since")), 2);
	assert_int_equal(json_array_size(json_object_get(log, "entries")), 4);
	struct vt_audit_result res;
	struct vt_err e = {0};
	if (vt_audit_verify(log, keys, &res, &e) != VT_OK)
		fail_msg("verify: %s", e.detail);
	assert_int_equal(res.first_seq, 3);
	assert_int_equal(res.checkpoint_seq, 2);
	assert_int_equal(res.checkpoint_time, FAKE_NOW + 5);
	assert_false(res.prev_unchecked);
	/* the checkpoint is a JWS of its own type over {hash, seq, time} of entry 2 */
	json_t *hdr = NULL;
	uint8_t *payload = NULL;
	size_t n = 0;
	const char *ck = json_string_value(json_object_get(log, "checkpoint"));
	assert_int_equal(vt_jws_peek_header(ck, &hdr, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")), VT_AUDIT_CHECKPOINT_TYP);
	json_decref(hdr);
	EVP_PKEY *tk = NULL;
	assert_int_equal(vt_jwk_to_key(json_array_get(json_object_get(keys, "keys"), 0), false, &tk, NULL), VT_OK);
	assert_int_equal(vt_jws_verify(ck, tk, (const char *const[]){"ES256", NULL}, NULL, &payload, &n, NULL), VT_OK);
	char want[200];
	snprintf(want, sizeof(want), "{\"hash\":\"%s\",\"seq\":2,\"time\":%lld}", entry_str(full, 1, "hash"),
		 (long long)FAKE_NOW + 5);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(payload, want, n);
	free(payload);
	EVP_PKEY_free(tk);

	/* the first entry kept no longer links to the checkpoint */
	json_t *t = json_deep_copy(log);
	json_t *e0 = json_array_get(json_object_get(t, "entries"), 0);
	json_object_set_new(e0, "prev", json_string(entry_str(full, 2, "hash")));
	json_t *copy = json_deep_copy(e0);
	json_object_del(copy, "hash");
	char *text = vt_json_canonical(copy), h[65];
	hex_sha256(text, h);
	json_object_set_new(e0, "hash", json_string(h));
	free(text);
	json_decref(copy);
	expect_tampered(t, keys, 0, 3, "does not chain to entry seq 2");
	json_decref(t);
	/* a head passed off as the checkpoint: wrong type */
	t = json_deep_copy(log);
	json_object_set(t, "checkpoint", json_object_get(full, "head"));
	expect_tampered(t, keys, -1, 0, "is not a release log checkpoint");
	json_decref(t);
	/* entries deleted after the export: a later checkpoint than the log's start */
	t = json_deep_copy(log);
	assert_int_equal(prune(f, "through=4", &page), 200);
	json_decref(page);
	json_t *later = export_pruned(f);
	json_object_set(t, "checkpoint", json_object_get(later, "checkpoint"));
	expect_tampered(t, keys, -1, 0, "the checkpoint says seq 4 was pruned");
	json_decref(t);
	if (vt_audit_verify(later, keys, &res, &e) != VT_OK)
		fail_msg("verify after the second prune: %s", e.detail);
	assert_int_equal(res.first_seq, 5);
	/* the database says the prune went further than the signed checkpoint:
	 * rows 5..6 deleted and the checkpoint row's seq moved, its JWS kept */
	t = json_deep_copy(later);
	json_object_set_new(t, "since", json_integer(6));
	json_array_remove(json_object_get(t, "entries"), 0);
	json_array_remove(json_object_get(t, "entries"), 0);
	expect_tampered(t, keys, -1, 0, "its checkpoint signs seq 4");
	json_decref(t);
	json_decref(later);
	/* a partial export beyond the checkpoint (without it): as before, prev on trust */
	t = export_all(f, 5);
	assert_int_equal(vt_audit_verify(t, keys, &res, NULL), VT_OK);
	assert_true(res.prev_unchecked);
	json_decref(t);
	json_decref(log);
	json_decref(full);
	json_decref(keys);
}

/* An empty log: no head; it verifies and proves nothing. */
static void test_empty(void **state)
{
	struct fixture *f = *state;
	json_t *log = export_all(f, 0), *keys = jwks(f);
	assert_true(json_is_null(json_object_get(log, "head")));
	struct vt_audit_result res;
	assert_int_equal(vt_audit_verify(log, keys, &res, NULL), VT_OK);
	assert_int_equal(res.entries, 0);
	json_decref(log);
	json_decref(keys);
}

/* ------------------------------------------------------------ fail closed */

static void exec_sql(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	char *msg = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql: %s", msg);
	sqlite3_close(h);
}

/* A log that cannot be written refuses the release, and the transaction
 * leaves neither a half entry nor a new head. */
static void test_release_fails_closed(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	exec_sql(f->db, "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'no'); END;");
	struct vt_http_request req = {.method = "GET", .session_cookie = cookie};
	struct vt_err e = {0};
	assert_int_equal(vt_broker_audit_release(f->b, &req, "tok", NULL, "default/key/a", &e), VT_E_IO);
	assert_non_null(strstr(e.detail, "release log"));
	vt_broker_audit_refusal(f->b, &req, "tok", NULL, "default/key/a", "denied", VT_STEP_POLICY); /* logged only */
	exec_sql(f->db, "DROP TRIGGER no_audit;");
	/* Head-table failures roll the entry back too. */
	exec_sql(f->db, "CREATE TRIGGER no_head BEFORE INSERT ON audit_head BEGIN SELECT RAISE(ABORT, 'no'); END;");
	assert_int_equal(vt_broker_audit_release(f->b, &req, "tok", NULL, "default/key/a", &e), VT_E_IO);
	exec_sql(f->db, "DROP TRIGGER no_head;");
	json_t *log = export_all(f, 0), *keys = jwks(f);
	struct vt_audit_result res;
	assert_int_equal(vt_audit_verify(log, keys, &res, NULL), VT_OK);
	assert_int_equal(res.entries, 6);
	/* And appending works again. */
	assert_int_equal(vt_broker_audit_release(f->b, &req, "tok", NULL, "default/key/a", &e), VT_OK);
	json_decref(log);
	log = export_all(f, 0);
	assert_int_equal(vt_audit_verify(log, keys, &res, NULL), VT_OK);
	assert_int_equal(res.entries, 7);
	json_decref(log);
	json_decref(keys);
}

/* The chain survives a restart: a new broker on the same store continues it. */
static void test_restart_continues(void **state)
{
	struct fixture *f = *state;
	append_six(f);
	vt_broker_free(f->b);
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = strdup(f->db);
	c.master_key_path = path_in(f->dir, "master.key");
	c.token_key_path = NULL; /* ephemeral: a new key signs from here on */
	c.admin_keys = calloc(1, sizeof(char *));
	c.admin_keys[0] = path_in(f->dir, "admin.pub");
	c.admin_key_count = 1;
	assert_int_equal(vt_broker_new(&c, &f->b, NULL), VT_OK);
	vt_broker_config_free(&c);
	vt_broker_set_log(f->b, true, NULL, NULL);
	vt_broker_set_clock(f->b, clock_fn, NULL);
	struct vt_http_request req = {.method = "GET"};
	vt_broker_audit_refusal(f->b, &req, NULL, NULL, "default/key/a", "denied", VT_STEP_TOKEN);
	json_t *log = export_all(f, 0), *keys = jwks(f);
	struct vt_audit_result res;
	assert_int_equal(vt_audit_verify(log, keys, &res, NULL), VT_OK);
	assert_int_equal(res.entries, 7);
	json_decref(log);
	json_decref(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_append_export_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwks_and_kids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_continues, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
