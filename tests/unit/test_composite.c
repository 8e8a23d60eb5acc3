/* The 2026 KBS protocol additions (kbs-protocol.md §14) in the broker, driven
 * directly (no sockets) at a pinned time: composite evidence (a CPU plus
 * sim-gpu devices, each its own EAR submod), init-data (TOML, digest bound
 * to the TEE's field, init_data_claims), hash negotiation, the attestation
 * policy selector, EC P-521 TEE keys, and the "*" claim pointer that lets
 * a resource policy require every submod.  Plus the TOML subset reader. */
#include <openssl/evp.h>

#include "broker_testutil.h"

#include "veritee/attester.h"
#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/policy.h"
#include "veritee/sim.h"
#include "veritee/util.h"

static int64_t fake_now = 1800000000;
static int64_t clock_fn(void *ctx)
{
	(void)ctx;
	return fake_now;
}

#define GOOD_GPU_FW "veritee sim gpu firmware"
#define DEFAULT_WORKLOAD "veritee sim default workload"

struct fx {
	char *dir;
	char simdir[512];
	struct vt_broker *b;
	EVP_PKEY *admin;
};


static char *sha384_hex(const char *s)
{
	uint8_t d[48];
	size_t n = 0;
	assert_int_equal(vt_digest(EVP_sha384(), s, strlen(s), d, &n, NULL), VT_OK);
	return vt_hex_encode(d, n);
}

static struct vt_broker *make_broker(struct fx *f, const char *db, bool verbose_token, size_t max_devices)
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
	c.verbose_token = verbose_token;
	if (max_devices)
		c.max_devices = max_devices;
	c.policy_selectors = json_pack("{s:s}", "alice", "alice");
	struct vt_err e = {0};
	struct vt_broker *b = NULL;
	if (vt_broker_new(&c, &b, &e) != VT_OK)
		fail_msg("broker: %s", e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(b, true, NULL, NULL);
	vt_broker_set_clock(b, clock_fn, NULL);
	return b;
}



static void admin_post(struct fx *f, const char *path, const char *body)
{
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	json_t *j = NULL;
	int st = vt_test_broker_call(f->b, "POST", path, NULL, bearer, body, &j, NULL);
	if (st != 200)
		fail_msg("admin %s: %d %s", path, st, json_string_value(json_object_get(j, "detail")));
	json_decref(j);
	free(bearer);
}

static void set_refval(struct fx *f, const char *name, const char *value)
{
	char payload[256], body[600];
	snprintf(payload, sizeof(payload), "{\"%s\":[\"%s\"]}", name, value);
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64);
	admin_post(f, "/kbs/v0/reference-value", body);
	free(b64);
}

static void set_policy(struct fx *f, const char *id, const char *text)
{
	char *b64 = vt_b64url_encode((const uint8_t *)text, strlen(text));
	char *body = NULL;
	assert_true(asprintf(&body, "{\"policy_id\":\"%s\",\"policy\":\"%s\",\"type\":\"veritee\"}", id, b64) > 0);
	admin_post(f, "/kbs/v0/attestation-policy", body);
	free(body);
	free(b64);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = vt_test_tmpdir();
	snprintf(f->simdir, sizeof(f->simdir), "%s/sim", f->dir);
	assert_int_equal(vt_sim_ensure_keys(f->simdir, NULL), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &f->admin, NULL), VT_OK);
	char *pub = vt_test_path_in(f->dir, "admin.pub");
	assert_int_equal(vt_key_save_pem(pub, f->admin, false, 0644, NULL), VT_OK);
	free(pub);
	f->b = make_broker(f, "kbs.db", false, 0);
	char *m = sha384_hex(DEFAULT_WORKLOAD), *g = sha384_hex(GOOD_GPU_FW);
	set_refval(f, "sim_measurement", m);
	set_refval(f, "sim_gpu_measurement", g);
	free(m);
	free(g);
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/resource/default/key/model", NULL, bearer, "weights-key", NULL, NULL),
			 200);
	free(bearer);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vt_broker_free(f->b);
	EVP_PKEY_free(f->admin);
	vt_test_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ a round */

/* How a test bends one round. */
struct round {
	const char *auth_xp;        /* extra-params JSON text, NULL = "" */
	int gpus;                   /* sim-gpu devices (0 = no additional evidence) */
	const char *bad_gpu_fw;     /* firmware text for the last GPU, NULL = good */
	bool gpu_other_nonce;       /* devices bind another nonce */
	bool cpu_ignores_devices;   /* primary binds additional-evidence "" */
	const char *additional;     /* send this additional_evidence text instead */
	const char *init_toml;      /* init-data body */
	const char *launch_toml;    /* the sim "launched" with this init-data (default: init_toml) */
	int key;                    /* VT_KEY_P256 (0) or another */
};

struct outcome {
	int auth_status, attest_status, resource_status;
	json_t *auth, *attest, *resource; /* bodies */
	char *cookie;
	EVP_PKEY *tee_key;
	const EVP_MD *md;
};

static void outcome_free(struct outcome *o)
{
	json_decref(o->auth);
	json_decref(o->attest);
	json_decref(o->resource);
	free(o->cookie);
	EVP_PKEY_free(o->tee_key);
	memset(o, 0, sizeof(*o));
}

static json_t *gpu_evidence(struct fx *f, int count, const char *fw, const uint8_t rd[64])
{
	json_t *opts = json_pack("{s:s, s:s}", "sim_dir", f->simdir, "count", "1");
	char n[8];
	snprintf(n, sizeof(n), "%d", count);
	json_object_set_new(opts, "count", json_string(n));
	if (fw) {
		char *m = sha384_hex(fw);
		json_object_set_new(opts, "measurement", json_string(m));
		free(m);
	}
	json_t *ev = NULL;
	struct vt_err e = {0};
	if (vt_attest_with("sim-gpu", opts, rd, &ev, &e) != VT_OK)
		fail_msg("sim-gpu attester: %s", e.detail);
	json_decref(opts);
	return ev;
}

static void toml_digest(const char *toml, uint8_t out[48])
{
	json_t *init = json_pack("{s:s, s:s}", "format", "toml", "body", toml);
	struct vt_kbs_init_data d;
	struct vt_err e = {0};
	if (vt_kbs_init_data_parse(init, &d, &e) != VT_OK)
		fail_msg("init-data: %s", e.detail);
	memset(out, 0, 48);
	memcpy(out, d.digest, d.digest_size < 48 ? d.digest_size : 48);
	vt_kbs_init_data_free(&d);
	json_decref(init);
}

static void do_round(struct fx *f, const struct round *r, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	char auth[512];
	snprintf(auth, sizeof(auth), "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":%s}",
		 r->auth_xp ? r->auth_xp : "\"\"");
	o->auth_status = vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL, auth, &o->auth, &o->cookie);
	if (o->auth_status != 200)
		return;
	const char *nonce = json_string_value(json_object_get(o->auth, "nonce"));
	const char *sel = json_string_value(json_object_get(json_object_get(o->auth, "extra-params"), "selected-hash-algorithm"));
	o->md = vt_kbs_hash_md(sel ? sel : "sha384");
	assert_non_null(o->md);
	assert_int_equal(vt_key_generate(r->key ? (enum vt_key_type)r->key : VT_KEY_P256, &o->tee_key, NULL), VT_OK);
	json_t *jwk = vt_key_to_jwk(o->tee_key, "ECDH-ES+A256KW", false);
	assert_non_null(jwk);

	/* devices: bind {"nonce", "tee-pubkey"} */
	char *additional = strdup(r->additional ? r->additional : "");
	if (r->gpus > 0 && r->additional == NULL) {
		uint8_t dd[64], rd[64] = {0};
		size_t dn = 0;
		assert_int_equal(vt_kbs_runtime_digest_md(o->md, jwk, r->gpu_other_nonce ? "another-nonce" : nonce, NULL,
							  NULL, dd, &dn, NULL),
				 VT_OK);
		memcpy(rd, dd, dn);
		json_t *ev = gpu_evidence(f, r->gpus, NULL, rd);
		if (r->bad_gpu_fw) { /* the last GPU runs other firmware, same uuid */
			json_t *bad = gpu_evidence(f, 1, r->bad_gpu_fw, rd);
			json_t *list = json_object_get(ev, "device_evidence_list");
			json_t *last = json_array_get(list, json_array_size(list) - 1);
			json_t *b0 = json_array_get(json_object_get(bad, "device_evidence_list"), 0);
			json_object_set(last, "evidence", json_object_get(b0, "evidence"));
			json_decref(bad);
		}
		json_t *map = json_pack("{s:o}", "sim-gpu", ev);
		free(additional);
		additional = vt_json_compact(map);
		json_decref(map);
	}
	/* the CPU binds {"additional-evidence", "nonce", "tee-pubkey"} */
	uint8_t d[64], rd[64] = {0};
	size_t dn = 0;
	assert_int_equal(vt_kbs_runtime_digest_md(o->md, jwk, nonce, r->cpu_ignores_devices ? "" : additional, NULL, d,
						  &dn, NULL),
			 VT_OK);
	memcpy(rd, d, dn);
	struct vt_sim_attest_opts so;
	vt_sim_attest_opts_default(&so);
	const char *launch = r->launch_toml ? r->launch_toml : r->init_toml;
	if (launch) {
		toml_digest(launch, so.init_data);
		so.has_init_data = true;
	}
	json_t *ev = NULL;
	assert_int_equal(vt_sim_attest(f->simdir, &so, rd, &ev, NULL), VT_OK);
	json_t *att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
				"tee-evidence", "primary_evidence", ev, "additional_evidence", additional);
	if (r->init_toml)
		json_object_set_new(att, "init-data", json_pack("{s:s, s:s}", "format", "toml", "body", r->init_toml));
	char *body = vt_json_compact(att);
	o->attest_status = vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", o->cookie, NULL, body, &o->attest, NULL);
	free(body);
	json_decref(att);
	json_decref(ev);
	json_decref(jwk);
	free(additional);
	if (o->attest_status != 200)
		return;
	o->resource_status = vt_test_broker_call(f->b, "GET", "/kbs/v0/resource/default/key/model", o->cookie, NULL, NULL, &o->resource, NULL);
}

static json_t *token_claims(const struct outcome *o)
{
	const char *tok = json_string_value(json_object_get(o->attest, "token"));
	assert_non_null(tok);
	const char *p1 = strchr(tok, '.'), *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
	assert_non_null(p2);
	uint8_t *raw = NULL;
	size_t n = 0;
	assert_int_equal(vt_b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), &raw, &n, NULL), VT_OK);
	json_t *c = json_loadb((const char *)raw, n, 0, NULL);
	free(raw);
	assert_non_null(c);
	return c;
}

static const char *detail(const json_t *j)
{
	const char *d = json_string_value(json_object_get(j, "detail"));
	return d ? d : "";
}

#define assert_contains(hay, needle)                                                                   \
	do {                                                                                           \
		if (strstr((hay), (needle)) == NULL)                                                   \
			fail_msg("\"%s\" not found in: %s", (needle), (hay));                          \
	} while (0)

/* ---------------------------------------------------------- composite */

static void test_composite_two_gpus_released(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.gpus = 2}, &o);
	if (o.attest_status != 200)
		fail_msg("attest %d: %s", o.attest_status, detail(o.attest));
	json_t *c = token_claims(&o);
	json_t *sm = json_object_get(c, "submods");
	assert_int_equal(json_object_size(sm), 3);
	const char *names[] = {"cpu0", "gpu0", "gpu1"};
	for (int i = 0; i < 3; i++) {
		json_t *s = json_object_get(sm, names[i]);
		assert_non_null(s);
		assert_string_equal(json_string_value(json_object_get(s, "ear.status")), "affirming");
	}
	assert_string_equal(json_string_value(json_object_get(json_object_get(sm, "gpu1"), "ear.appraisal-policy-id")),
			    "default_sim-gpu");
	assert_string_equal(json_string_value(vt_json_pointer(
				    c, "/submods/gpu1/ear.veraison.annotated-evidence/sim-gpu/uuid")),
			    "GPU-5e00000-0000-4000-8000-000000000001");
	/* the device runtime data has no additional-evidence member */
	assert_null(vt_json_pointer(c, "/submods/gpu0/ear.veraison.annotated-evidence/runtime_data_claims/additional-evidence"));
	/* verbose_token false: the raw device evidence is out of the token, its digest in */
	assert_null(vt_json_pointer(c, "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/additional-evidence"));
	const char *h = json_string_value(vt_json_pointer(
		c, "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/additional-evidence-sha384"));
	assert_non_null(h);
	assert_int_equal(strlen(h), 96);
	json_decref(c);
	/* released, addressed to the TEE key */
	assert_int_equal(o.resource_status, 200);
	struct vt_secret *sec = NULL;
	assert_int_equal(vt_jwe_decrypt(o.tee_key, o.resource, &sec, NULL), VT_OK);
	assert_int_equal(sec->len, strlen("weights-key"));
	assert_memory_equal(sec->data, "weights-key", sec->len);
	vt_secret_free(sec);
	outcome_free(&o);
}

static void test_composite_unapproved_gpu_denied_by_name(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.gpus = 2, .bad_gpu_fw = "some other firmware"}, &o);
	assert_int_equal(o.attest_status, 200); /* appraisal is not a decision: the token says warning */
	json_t *c = token_claims(&o);
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/gpu0/ear.status")), "affirming");
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/gpu1/ear.status")), "warning");
	json_decref(c);
	assert_int_equal(o.resource_status, 401);
	const char *d = detail(o.resource);
	assert_contains(d, "Access denied by policy");
	assert_contains(d, "claim /submods/gpu1/ear.status = \"warning\"");
	assert_contains(d, "gpu1 rule \"gpu-firmware-approved\"");
	assert_null(strstr(d, "gpu0 rule")); /* the good GPU is not blamed */
	outcome_free(&o);
}

static void test_composite_gpu_bound_to_other_nonce(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.gpus = 2, .gpu_other_nonce = true}, &o);
	assert_int_equal(o.attest_status, 401);
	const char *d = detail(o.attest);
	assert_contains(d, "sim-gpu device 0 (gpu0)");
	assert_contains(d, "step binding");
	assert_contains(d, "field report.report_data");
	/* the session is burnt: its nonce is good for one attempt */
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", o.cookie, NULL, "{}", &j, NULL), 401);
	assert_contains(detail(j), "unknown or expired session");
	json_decref(j);
	outcome_free(&o);
}

static void test_composite_cpu_must_bind_devices(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.gpus = 1, .cpu_ignores_devices = true}, &o);
	assert_int_equal(o.attest_status, 401);
	const char *d = detail(o.attest);
	assert_contains(d, "report data does not match the expected binding");
	assert_contains(d, "field report.report_data");
	assert_null(strstr(d, "device")); /* refused at the CPU, before any device */
	outcome_free(&o);
}

static void expect_additional_refused(struct fx *f, const char *additional, const char *want1, const char *want2)
{
	struct outcome o;
	do_round(f, &(struct round){.additional = additional}, &o);
	assert_int_equal(o.attest_status, 401);
	assert_contains(detail(o.attest), want1);
	if (want2)
		assert_contains(detail(o.attest), want2);
	outcome_free(&o);
}

static void test_composite_bad_device_lists(void **state)
{
	struct fx *f = *state;
	expect_additional_refused(f, "{\"sim-gpu\":{\"device_evidence_list\":[]}}", "sim-gpu device list is empty",
				  "step parse");
	expect_additional_refused(f, "{}", "additional_evidence must be", "step parse");
	expect_additional_refused(f, "[1]", "additional_evidence must be", NULL);
	expect_additional_refused(f, "not json", "step parse", NULL);
	expect_additional_refused(f, "{\"nvidia-xyz\":{}}", "\"nvidia-xyz\" is not a device TEE accepted here", NULL);
	expect_additional_refused(f, "{\"sim\":{}}", "\"sim\" is not a device TEE accepted here", NULL);
	expect_additional_refused(f, "{\"sim-gpu\":{\"device_evidence_list\":[{\"uuid\":\"A\"},{\"uuid\":\"A\"}]}}",
				  "duplicate device uuid \"A\"", "device_evidence_list[1]");
	expect_additional_refused(f, "{\"sim-gpu\":{\"device_evidence_list\":[7]}}", "must be a JSON object", NULL);

	/* 10,000 entries: refused by count before any is looked at */
	struct vt_buf b;
	vt_buf_init(&b, 1 << 20);
	assert_int_equal(vt_buf_append_str(&b, "{\"sim-gpu\":{\"device_evidence_list\":[", NULL), VT_OK);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(vt_buf_append_str(&b, i ? ",{}" : "{}", NULL), VT_OK);
	assert_int_equal(vt_buf_append_str(&b, "]}}", NULL), VT_OK);
	assert_int_equal(vt_buf_nul_terminate(&b, NULL), VT_OK);
	expect_additional_refused(f, (const char *)b.data, "10000 sim-gpu devices, at most 16 accepted", "step parse");
	vt_buf_free(&b);
}

static void test_composite_device_is_not_primary(void **state)
{
	struct fx *f = *state;
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/auth", NULL, NULL,
			      "{\"version\":\"0.4.0\",\"tee\":\"sim-gpu\",\"extra-params\":\"\"}", &j, NULL),
			 401);
	assert_contains(detail(j), "a device: send its evidence as additional_evidence");
	json_decref(j);
}

static void test_composite_max_devices(void **state)
{
	struct fx *f = *state;
	vt_broker_free(f->b);
	f->b = make_broker(f, "kbs.db", true, 3);
	struct outcome o;
	do_round(f, &(struct round){.gpus = 4}, &o);
	assert_int_equal(o.attest_status, 401);
	assert_contains(detail(o.attest), "4 sim-gpu devices, at most 3 accepted");
	outcome_free(&o);
	do_round(f, &(struct round){.gpus = 3}, &o);
	assert_int_equal(o.attest_status, 200);
	/* verbose_token: the raw additional evidence is in the token */
	json_t *c = token_claims(&o);
	const char *raw = json_string_value(
		vt_json_pointer(c, "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/additional-evidence"));
	assert_non_null(raw);
	assert_contains(raw, "device_evidence_list");
	json_decref(c);
	assert_int_equal(o.resource_status, 200);
	outcome_free(&o);
}

/* ---------------------------------------------------------- init-data */

static const char INIT_TOML[] = "version = \"0.1.0\"\n"
				"algorithm = \"sha384\"\n"
				"\n"
				"[data]\n"
				"\"aa.toml\" = '''\n"
				"[token_configs]\n"
				"[token_configs.kbs]\n"
				"url = \"http://127.0.0.1:8080\"\n"
				"'''\n"
				"\"cdh.toml\" = \"\"\"\n"
				"socket = 'unix:///run/cdh.sock'\n"
				"credentials = []\n"
				"[kbc]\n"
				"name = \"cc_kbc\"\n"
				"\"\"\"\n"
				"\"policy.rego\" = '''\n"
				"package agent_policy\n"
				"policy_data := {\"allow_exec\": false}\n"
				"default ExecProcessRequest := false\n"
				"'''\n"
				"\"other\" = \"kept as text\"\n";

static void test_init_data_bound_and_claimed(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.init_toml = INIT_TOML}, &o);
	if (o.attest_status != 200)
		fail_msg("attest %d: %s", o.attest_status, detail(o.attest));
	json_t *c = token_claims(&o);
	json_t *a = vt_json_pointer(c, "/submods/cpu0/ear.veraison.annotated-evidence");
	uint8_t d[48];
	size_t n = 0;
	assert_int_equal(vt_digest(EVP_sha384(), INIT_TOML, strlen(INIT_TOML), d, &n, NULL), VT_OK);
	char *hex = vt_hex_encode(d, n);
	assert_string_equal(json_string_value(json_object_get(a, "init_data")), hex);
	/* the sim report carried the digest as its init-data field */
	assert_string_equal(json_string_value(vt_json_pointer(a, "/sim/init_data")), hex);
	free(hex);
	assert_string_equal(json_string_value(vt_json_pointer(a, "/init_data_claims/aa.toml/token_configs/kbs/url")),
			    "http://127.0.0.1:8080");
	assert_string_equal(json_string_value(vt_json_pointer(a, "/init_data_claims/cdh.toml/kbc/name")), "cc_kbc");
	assert_true(json_is_array(vt_json_pointer(a, "/init_data_claims/cdh.toml/credentials")));
	assert_string_equal(json_string_value(vt_json_pointer(a, "/init_data_claims/other")), "kept as text");
	assert_null(vt_json_pointer(a, "/init_data_claims/policy.rego"));
	assert_true(json_is_false(vt_json_pointer(a, "/agent_policy_claims/allow_exec")));
	json_decref(c);
	assert_int_equal(o.resource_status, 200);
	outcome_free(&o);
}

static void test_init_data_refusals(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	/* launched with other init-data than it presents */
	do_round(f, &(struct round){.init_toml = INIT_TOML, .launch_toml = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n"},
		 &o);
	assert_int_equal(o.attest_status, 401);
	assert_contains(detail(o.attest), "init-data digest does not match the TEE's init-data field");
	assert_contains(detail(o.attest), "step binding, field init_data");
	outcome_free(&o);
	/* TOML that does not parse: refused at parse with its line, before the evidence */
	do_round(f,
		 &(struct round){.init_toml = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data\n",
				 .launch_toml = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n"},
		 &o);
	assert_int_equal(o.attest_status, 401);
	assert_contains(detail(o.attest), "TOML: expected ']' (line 3)");
	assert_contains(detail(o.attest), "step parse, field init-data.body:3");
	/* and the session is burnt */
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attest", o.cookie, NULL, "{}", &j, NULL), 401);
	assert_contains(detail(j), "unknown or expired session");
	json_decref(j);
	outcome_free(&o);
	/* an algorithm the protocol does not know */
	do_round(f,
		 &(struct round){.init_toml = "version = \"0.1.0\"\nalgorithm = \"md5\"\n",
				 .launch_toml = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n"},
		 &o);
	assert_int_equal(o.attest_status, 401);
	assert_contains(detail(o.attest), "unknown hash algorithm \"md5\"");
	outcome_free(&o);
}

/* ------------------------------------------------ auth: extra-params */

static void test_auth_hash_and_selector(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.auth_xp = "{\"supported-hash-algorithms\":[\"sha256\",\"sha384\",\"md4\"]}"}, &o);
	assert_int_equal(o.auth_status, 401);
	assert_contains(detail(o.auth), "unknown hash algorithm \"md4\"");
	outcome_free(&o);
	do_round(f, &(struct round){.auth_xp = "{\"supported-hash-algorithms\":[\"sha256\"]}"}, &o);
	assert_int_equal(o.auth_status, 401);
	assert_contains(detail(o.auth), "binds its runtime data with sha384, which the client does not list");
	outcome_free(&o);
	/* the real client's list; the challenge's extra-params stays "" for SHA-384 */
	do_round(f, &(struct round){.auth_xp = "{\"supported-hash-algorithms\":[\"sha256\",\"sha384\",\"sha512\",\"sm3\"]}"},
		 &o);
	assert_int_equal(o.auth_status, 200);
	assert_string_equal(json_string_value(json_object_get(o.auth, "extra-params")), "");
	assert_int_equal(o.resource_status, 200);
	outcome_free(&o);

	do_round(f, &(struct round){.auth_xp = "{\"attestation-policy-selector\":\"mallory\"}"}, &o);
	assert_int_equal(o.auth_status, 401);
	assert_contains(detail(o.auth), "unknown attestation-policy-selector \"mallory\"");
	outcome_free(&o);
	/* a known selector without its own policies falls back to the defaults */
	do_round(f, &(struct round){.auth_xp = "{\"attestation-policy-selector\":\"alice\"}"}, &o);
	assert_int_equal(o.attest_status, 200);
	json_t *c = token_claims(&o);
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/cpu0/ear.appraisal-policy-id")), "default_sim");
	json_decref(c);
	outcome_free(&o);
	/* ... and with one, it is used (an id outside any set is refused) */
	set_policy(f, "alice_sim", "{\"version\":1,\"id\":\"alice_sim\",\"trust_defaults\":{\"hardware\":97},\"rules\":[]}");
	char *bearer = vt_test_admin_bearer(f->admin, fake_now);
	json_t *j = NULL;
	assert_int_equal(vt_test_broker_call(f->b, "POST", "/kbs/v0/attestation-policy", NULL, bearer,
			      "{\"policy_id\":\"bob_sim\",\"policy\":\"e30\"}", &j, NULL),
			 401);
	assert_contains(detail(j), "policy_id must be <set>_<tee or class>");
	json_decref(j);
	free(bearer);
	do_round(f, &(struct round){.auth_xp = "{\"attestation-policy-selector\":\"alice\"}"}, &o);
	assert_int_equal(o.attest_status, 200);
	c = token_claims(&o);
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/cpu0/ear.appraisal-policy-id")), "alice_sim");
	assert_string_equal(json_string_value(vt_json_pointer(c, "/submods/cpu0/ear.status")), "contraindicated");
	json_decref(c);
	assert_int_equal(o.resource_status, 401); /* not affirming under alice's policy */
	outcome_free(&o);
}

static void test_p521_tee_key(void **state)
{
	struct fx *f = *state;
	struct outcome o;
	do_round(f, &(struct round){.key = VT_KEY_P521, .gpus = 1}, &o);
	assert_int_equal(o.attest_status, 200);
	assert_int_equal(o.resource_status, 200);
	json_t *hdr = NULL;
	const char *prot = json_string_value(json_object_get(o.resource, "protected"));
	uint8_t *raw = NULL;
	size_t n = 0;
	assert_int_equal(vt_b64url_decode(prot, strlen(prot), &raw, &n, NULL), VT_OK);
	hdr = json_loadb((const char *)raw, n, 0, NULL);
	assert_string_equal(json_string_value(vt_json_pointer(hdr, "/epk/crv")), "P-521");
	free(raw);
	json_decref(hdr);
	struct vt_secret *sec = NULL;
	assert_int_equal(vt_jwe_decrypt(o.tee_key, o.resource, &sec, NULL), VT_OK);
	assert_memory_equal(sec->data, "weights-key", sec->len);
	vt_secret_free(sec);
	outcome_free(&o);
}

/* ------------------------------------------------ TOML, init-data, rules */

static void test_toml_subset(void **state)
{
	(void)state;
	static const char doc[] = "# comment\n"
				  "a = 'lit\\eral'\n"
				  "b = \"tab\\there \\u00e9 \\\"q\\\"\"  # trailing\n"
				  "c = -42\n"
				  "d = true\n"
				  "e = [1, [\"x\", 'y'],\n  false, ] \n"
				  "f.g = \"dotted\"\n"
				  "\"quoted key\" = \"\"\"\nline1\\\n   line2\"\"\"\n"
				  "[t.u]\n"
				  "v = 1_000\n"
				  "[t]\n"
				  "w = '''two\nlines'''\r\n";
	json_t *j = NULL;
	struct vt_err e = {0};
	if (vt_toml_parse(doc, strlen(doc), &j, &e) != VT_OK)
		fail_msg("%s", e.detail);
	assert_string_equal(json_string_value(json_object_get(j, "a")), "lit\\eral");
	assert_string_equal(json_string_value(json_object_get(j, "b")), "tab\there \xc3\xa9 \"q\"");
	assert_int_equal(json_integer_value(json_object_get(j, "c")), -42);
	assert_true(json_is_true(json_object_get(j, "d")));
	assert_int_equal(json_array_size(json_object_get(j, "e")), 3);
	assert_string_equal(json_string_value(vt_json_pointer(j, "/e/1/1")), "y");
	assert_string_equal(json_string_value(vt_json_pointer(j, "/f/g")), "dotted");
	assert_string_equal(json_string_value(json_object_get(j, "quoted key")), "line1line2");
	assert_int_equal(json_integer_value(vt_json_pointer(j, "/t/u/v")), 1000);
	assert_string_equal(json_string_value(vt_json_pointer(j, "/t/w")), "two\nlines");
	json_decref(j);

	static const struct {
		const char *text, *detail;
	} bad[] = {
		{"[[a]]\n", "arrays of tables are not supported"},
		{"a = {b = 1}\n", "inline tables are not supported"},
		{"a = 1.5\n", "floats and dates are not supported"},
		{"a = 1979-05-27\n", "floats and dates are not supported"},
		{"a = 1\na = 2\n", "key defined twice (line 2)"},
		{"[a]\n[a]\n", "table defined twice (line 2)"},
		{"a = 1\n[a]\n", "a key is both a value and a table"},
		{"a = \"open\n", "newline in a single-line string"},
		{"a = '''never closed\n", "unterminated string"},
		{"a = \"\\q\"\n", "unknown escape"},
		{"a = \"\\ud800\"\n", "not a Unicode scalar value"},
		{"a = 1 b = 2\n", "expected the end of the line (line 1)"},
		{"= 1\n", "expected a key"},
		{"a = 007\n", "leading zero"},
		{"a = 99999999999999999999\n", "integer out of range"},
		{"a = \"x\x01\"\n", "control character in a string"},
		{"a = [1,2\n", "expected ',' or ']' in an array"},
		{"a.b.c.d.e.f.g.h.i = 1\n", "more than 8 key levels"},
		{"a = [[[[[[[[[1]]]]]]]]]\n", "arrays nested more than 8 deep"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = NULL;
		vt_err_clear(&e);
		vt_status rc = vt_toml_parse(bad[i].text, strlen(bad[i].text), &j, &e);
		if (rc == VT_OK || strstr(e.detail, bad[i].detail) == NULL)
			fail_msg("case %zu (%s): rc %d, detail \"%s\", want \"%s\"", i, bad[i].text, rc, e.detail, bad[i].detail);
		assert_int_equal(e.step, VT_STEP_PARSE);
		assert_null(j);
	}
	/* sizes an attacker chooses */
	char *big = malloc(VT_TOML_MAX + 2);
	memset(big, '#', VT_TOML_MAX + 1);
	big[VT_TOML_MAX + 1] = '\0';
	vt_err_clear(&e);
	assert_int_equal(vt_toml_parse(big, VT_TOML_MAX + 1, &j, &e), VT_E_LIMIT);
	free(big);
	struct vt_buf b;
	vt_buf_init(&b, 1 << 20);
	for (int i = 0; i < 1100; i++) {
		char line[32];
		snprintf(line, sizeof(line), "k%d = %d\n", i, i);
		assert_int_equal(vt_buf_append_str(&b, line, NULL), VT_OK);
	}
	vt_err_clear(&e);
	assert_int_equal(vt_toml_parse((const char *)b.data, b.len, &j, &e), VT_E_LIMIT);
	assert_contains(e.detail, "more than 1024 keys");
	vt_buf_free(&b);
}

static void test_init_data_parse_errors(void **state)
{
	(void)state;
	static const struct {
		const char *json, *field, *detail;
		vt_status code;
	} cases[] = {
		{"{\"format\":\"json\",\"body\":\"{}\"}", "init-data.format", "only format \"toml\"", VT_E_REJECTED},
		{"{\"format\":\"toml\"}", "init-data.body", "body must be a string", VT_E_PARSE},
		{"{\"format\":\"toml\",\"body\":\"x\",\"extra\":1}", "init-data", "unknown member", VT_E_PARSE},
		{"{\"format\":\"toml\",\"body\":\"algorithm = \\\"sha384\\\"\\n\"}", "init-data.body.version",
		 "version must be a string", VT_E_PARSE},
		{"{\"format\":\"toml\",\"body\":\"version = \\\"0.1.0\\\"\\nalgorithm = \\\"sm3\\\"\\n\"}",
		 "init-data.body.algorithm", "unsupported hash algorithm \"sm3\"", VT_E_REJECTED},
		{"{\"format\":\"toml\",\"body\":\"version = \\\"0.1.0\\\"\\nalgorithm = \\\"sha512\\\"\\n[data]\\nx = 1\\n\"}",
		 "init-data.body.data.x", "every [data] value must be a string", VT_E_PARSE},
		{"{\"format\":\"toml\",\"body\":\"version = \\\"0.1.0\\\"\\nalgorithm = \\\"sha256\\\"\\n[data]\\n\\\"aa.toml\\\" = \\\"[[x]]\\\"\\n\"}",
		 "init-data.body:1", "arrays of tables", VT_E_PARSE},
		{"{\"format\":\"toml\",\"body\":\"version = \\\"0.1.0\\\"\\nalgorithm = \\\"sha256\\\"\\n[data]\\n\\\"policy.rego\\\" = \\\"policy_data := [1]\\\"\\n\"}",
		 "init-data.body.data.policy.rego", "not a JSON object", VT_E_PARSE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *in = json_loads(cases[i].json, 0, NULL);
		assert_non_null(in);
		struct vt_kbs_init_data d;
		struct vt_err e = {0};
		vt_status rc = vt_kbs_init_data_parse(in, &d, &e);
		if (rc != cases[i].code || strcmp(e.field, cases[i].field) != 0 || strstr(e.detail, cases[i].detail) == NULL)
			fail_msg("case %zu: rc %d field \"%s\" detail \"%s\"", i, rc, e.field, e.detail);
		assert_null(d.claims);
		json_decref(in);
	}
	/* sha256 / sha512 digests of the exact bytes */
	const char *body = "version = \"0.1.0\"\nalgorithm = \"sha512\"\n";
	json_t *in = json_pack("{s:s, s:s}", "format", "toml", "body", body);
	struct vt_kbs_init_data d;
	assert_int_equal(vt_kbs_init_data_parse(in, &d, NULL), VT_OK);
	uint8_t want[64];
	size_t n = 0;
	assert_int_equal(vt_digest(EVP_sha512(), body, strlen(body), want, &n, NULL), VT_OK);
	assert_int_equal(d.digest_size, 64);
	assert_memory_equal(d.digest, want, 64);
	assert_string_equal(d.algorithm, "sha512");
	assert_int_equal(json_object_size(d.claims), 0);
	vt_kbs_init_data_free(&d);
	json_decref(in);
}

static void test_init_data_rules(void **state)
{
	(void)state;
	uint8_t d[48];
	for (int i = 0; i < 48; i++)
		d[i] = (uint8_t)(i + 1);
	char *h48 = vt_hex_encode(d, 48), *h32 = vt_hex_encode(d, 32);
	char padded[129];
	snprintf(padded, sizeof(padded), "%s%032d", h48, 0);
	struct vt_tee pad = {.name = "p", .init_data = VT_INIT_DATA_PAD}, exact = {.name = "x", .init_data = VT_INIT_DATA_EXACT},
		      pcr = {.name = "t", .init_data = VT_INIT_DATA_PCR_EXTEND}, none = {.name = "n"};
	struct vt_err e = {0};
	/* PAD: a 64-byte field holds the 48-byte digest and zeros; a 32-byte field its first 32 bytes */
	json_t *c = json_pack("{s:s}", "init_data", padded);
	assert_int_equal(vt_init_data_check(&pad, c, d, 48, &e), VT_OK);
	json_object_set_new(c, "init_data", json_string(h32));
	assert_int_equal(vt_init_data_check(&pad, c, d, 48, &e), VT_OK);
	d[0] ^= 1;
	assert_int_equal(vt_init_data_check(&pad, c, d, 48, &e), VT_E_REJECTED);
	assert_int_equal(e.step, VT_STEP_BINDING);
	assert_string_equal(e.field, "init_data");
	d[0] ^= 1;
	/* EXACT: same size only */
	json_object_set_new(c, "init_data", json_string(h48));
	assert_int_equal(vt_init_data_check(&exact, c, d, 48, NULL), VT_OK);
	assert_int_equal(vt_init_data_check(&exact, c, d, 32, NULL), VT_E_REJECTED);
	/* PCR_EXTEND: PCR 8 = SHA-256(zeros || digest), digest 32 bytes */
	uint8_t in[64] = {0}, pcr8[32];
	size_t n = 0;
	memcpy(in + 32, d, 32);
	assert_int_equal(vt_digest(EVP_sha256(), in, 64, pcr8, &n, NULL), VT_OK);
	char *hp = vt_hex_encode(pcr8, 32);
	json_object_set_new(c, "init_data", json_string(hp));
	assert_int_equal(vt_init_data_check(&pcr, c, d, 32, NULL), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_init_data_check(&pcr, c, d, 48, &e), VT_E_REJECTED);
	assert_contains(e.detail, "the TOML must name sha256");
	vt_err_clear(&e);
	assert_int_equal(vt_init_data_check(&none, c, d, 32, &e), VT_E_REJECTED);
	assert_contains(e.detail, "has no init-data field");
	free(hp);
	free(h48);
	free(h32);
	json_decref(c);
}

static void test_policy_star(void **state)
{
	(void)state;
	const char *text = "{\"version\":1,\"rules\":[{\"name\":\"all\",\"claim\":\"/submods/*/ear.status\","
			   "\"equals\":\"affirming\"}]}";
	struct vt_policy *p = NULL;
	assert_int_equal(vt_policy_parse(text, strlen(text), &p, NULL), VT_OK);
	struct vt_appraisal ap;
	json_t *in = json_pack("{s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "submods", "cpu0", "ear.status", "affirming", "gpu0",
			       "ear.status", "affirming", "gpu1", "ear.status", "affirming");
	assert_int_equal(vt_policy_evaluate(p, in, "a/b/c", NULL, NULL, &ap, NULL), VT_OK);
	assert_true(vt_appraisal_allows(&ap));
	assert_string_equal(ap.results[0].claim, "/submods/*/ear.status");
	vt_appraisal_free(&ap);
	json_object_set_new(json_object_get(json_object_get(in, "submods"), "gpu0"), "ear.status", json_string("warning"));
	assert_int_equal(vt_policy_evaluate(p, in, "a/b/c", NULL, NULL, &ap, NULL), VT_OK);
	assert_false(vt_appraisal_allows(&ap));
	assert_string_equal(ap.results[0].claim, "/submods/gpu0/ear.status");
	assert_string_equal(json_string_value(ap.results[0].seen), "warning");
	vt_appraisal_free(&ap);
	/* no member at all: fails closed */
	json_object_set_new(in, "submods", json_object());
	assert_int_equal(vt_policy_evaluate(p, in, "a/b/c", NULL, NULL, &ap, NULL), VT_OK);
	assert_false(vt_appraisal_allows(&ap));
	assert_string_equal(ap.results[0].why, "no member matches \"*\"");
	vt_appraisal_free(&ap);
	/* more than 256 expansions: an error, not a pass */
	json_t *many = json_object();
	for (int i = 0; i < 300; i++) {
		char k[16];
		snprintf(k, sizeof(k), "s%d", i);
		json_object_set_new(many, k, json_pack("{s:s}", "ear.status", "affirming"));
	}
	json_object_set_new(in, "submods", many);
	assert_int_equal(vt_policy_evaluate(p, in, "a/b/c", NULL, NULL, &ap, NULL), VT_E_LIMIT);
	json_decref(in);
	vt_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_composite_two_gpus_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_unapproved_gpu_denied_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_gpu_bound_to_other_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_cpu_must_bind_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_bad_device_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_device_is_not_primary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_max_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_data_bound_and_claimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_data_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_hash_and_selector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p521_tee_key, setup, teardown),
		cmocka_unit_test(test_toml_subset),
		cmocka_unit_test(test_init_data_parse_errors),
		cmocka_unit_test(test_init_data_rules),
		cmocka_unit_test(test_policy_star),
	};
	return cmocka_run_group_tests_name("composite", tests, NULL, NULL);
}
