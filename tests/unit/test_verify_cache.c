/*
 * The verifier caches (struct vt_cache_set in src/crypto/cache.c, one per
 * verifier, and their users in src/evidence/snp and src/evidence/dcap): a
 * hit only inside the validity window; a changed byte (certificate, CRL,
 * TCB Info text, signature) is a miss and fails as it does cold; failures
 * are never remembered; flipped evidence is rejected with every cache warm;
 * two verifiers share nothing.  "Cold" is a fresh verifier: nothing is
 * process-global, so nothing is ever cleared.  Vectors from $VERITEE_VECTORS
 * (skip when absent), assembled in temporary directories at run time.
 */
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include <jansson.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/snp.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define NEED_VECTORS()                                                  \
	const char *vdir = vt_test_vectors_dir();                       \
	if (vdir == NULL) {                                             \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n");   \
		skip();                                                 \
	}

#define T_SNP "2025-12-08T00:00:00Z"
#define T_SGX "2025-07-01T00:00:00Z"

static int64_t at(const char *s)
{
	int64_t t = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_time_parse_rfc3339(s, &t, &e), VT_OK);
	return t;
}

static uint8_t *vec(const char *vdir, const char *name, size_t *n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	uint8_t *p = NULL;
	struct vt_err e = {0};
	if (vt_file_read(path, 1u << 24, &p, n, &e) != VT_OK)
		fail_msg("cannot read %s: %s", path, e.detail);
	return p;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct vt_err e = {0};
	assert_int_equal(vt_file_write(path, p, n, 0644, &e), VT_OK);
}

static void rm_rf(const char *d)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* A fresh verifier (its own, empty caches) with `tees` ({"snp": {...}};
 * NULL: no TEE, only the caches), the file cache's settling time shortened. */
static struct vt_verifier *verifier_with(json_t *tees)
{
	json_t *none = tees ? NULL : json_object();
	struct vt_verifier_settings s = {.tees = tees ? tees : none, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *v = NULL;
	struct vt_err e = {0};
	if (vt_verifier_new(&s, &v, &e) != VT_OK)
		fail_msg("verifier: %s: %s", e.field, e.detail);
	json_decref(tees);
	json_decref(none);
	/* instead of VT_FILE_CACHE_SETTLE_S, to keep the tests short (see settle()) */
	vt_cache_set_file_settle_ms(vt_verifier_caches(v), 200);
	return v;
}

static struct vt_verifier *fresh_verifier(void)
{
	return verifier_with(NULL);
}

/* Hits of the cache `name` ("file", "dir" for the file caches) of `v`; 0 before its first use. */
static uint64_t hits(const struct vt_verifier *v, const char *name)
{
	uint64_t h = 0, m = 0;
	if (!vt_cache_set_stats(vt_verifier_caches(v), name, &h, &m))
		return 0;
	return h;
}

static uint64_t misses(const struct vt_verifier *v, const char *name)
{
	uint64_t h = 0, m = 0;
	if (!vt_cache_set_stats(vt_verifier_caches(v), name, &h, &m))
		return 0;
	return m;
}

/* Verify through the verifier's own state (its TEE options), at `now`. */
static vt_status verifier_verify(const struct vt_verifier *v, const struct vt_tee *tee, json_t *ev, int64_t now,
				 json_t **claims, struct vt_err *e)
{
	vt_err_clear(e);
	*claims = NULL;
	return vt_verifier_verify(v, tee, ev, NULL, now, NULL, claims, e);
}

/* Same outcome, including the error record. */
static void assert_same(vt_status a, const struct vt_err *ea, vt_status b, const struct vt_err *eb)
{
	assert_int_equal(a, b);
	if (a != VT_OK) {
		assert_int_equal(ea->code, eb->code);
		assert_int_equal(ea->step, eb->step);
		assert_string_equal(ea->field, eb->field);
		assert_string_equal(ea->detail, eb->detail);
	}
}

static void settle(void);

/* ------------------------------------------------------------ generic cache */

static int live_objects;

static void obj_ref(void *o)
{
	(*(int *)o)++;
	live_objects++;
}

static void obj_release(void *o)
{
	(*(int *)o)--;
	live_objects--;
}

static const struct vt_cache_class test_class = {
	.name = "test.generic", .capacity = 4, .ref = obj_ref, .release = obj_release};

static void key_of(const char *s, uint8_t key[32])
{
	const void *parts[1] = {s};
	size_t sizes[1] = {strlen(s)};
	struct vt_err e = {0};
	assert_int_equal(vt_cache_key(key, "test", 1, parts, sizes, &e), VT_OK);
}

static void test_generic_window_and_bounds(void **state)
{
	(void)state;
	uint8_t k1[32], k2[32], k3[32];
	key_of("one", k1);
	key_of("two", k2);
	/* length-prefixed parts: ("ab","c") and ("a","bc") differ */
	const void *pa[2] = {"ab", "c"}, *pb[2] = {"a", "bc"};
	size_t sa[2] = {2, 1}, sb[2] = {1, 2};
	struct vt_err e = {0};
	assert_int_equal(vt_cache_key(k3, "test", 2, pa, sa, &e), VT_OK);
	uint8_t k4[32];
	assert_int_equal(vt_cache_key(k4, "test", 2, pb, sb, &e), VT_OK);
	assert_memory_not_equal(k3, k4, 32);

	struct vt_cache_set *set = vt_cache_set_new();
	assert_non_null(set);
	uint64_t h = 0, m = 0;
	assert_false(vt_cache_set_stats(set, "test.generic", &h, &m)); /* not created before its first use */
	struct vt_cache *test_cache = vt_cache_of(set, &test_class);
	assert_non_null(test_cache);
	assert_ptr_equal(vt_cache_of(set, &test_class), test_cache); /* one cache per class */
	int obj = 0;
	void *out = NULL;
	assert_false(vt_cache_get(test_cache, k1, 100, &out));
	vt_cache_put(test_cache, k1, 100, 200, &obj);
	assert_int_equal(obj, 1); /* the cache's own reference */
	assert_false(vt_cache_get(test_cache, k1, 99, &out));   /* before the window */
	assert_null(out);
	assert_false(vt_cache_get(test_cache, k1, 201, &out));  /* after it */
	assert_true(vt_cache_get(test_cache, k1, 100, &out));   /* edges count */
	assert_ptr_equal(out, &obj);
	obj_release(out);
	assert_true(vt_cache_get(test_cache, k1, 200, NULL));
	assert_false(vt_cache_get(test_cache, k2, 150, NULL));  /* another key */
	/* the same key again replaces the entry (one slot, old reference dropped) */
	int obj2 = 0;
	vt_cache_put(test_cache, k1, 300, 400, &obj2);
	assert_int_equal(obj, 0);
	assert_int_equal(obj2, 1);
	assert_false(vt_cache_get(test_cache, k1, 150, NULL));
	assert_true(vt_cache_get(test_cache, k1, 350, NULL));
	/* an empty window is not stored */
	vt_cache_put(test_cache, k2, 10, 5, NULL);
	assert_false(vt_cache_get(test_cache, k2, 7, NULL));
	/* bounded: a fifth key evicts the oldest */
	char name[16];
	for (int i = 0; i < 4; i++) {
		uint8_t k[32];
		snprintf(name, sizeof(name), "k%d", i);
		key_of(name, k);
		vt_cache_put(test_cache, k, 0, 10, NULL);
	}
	assert_false(vt_cache_get(test_cache, k1, 350, NULL));
	assert_int_equal(obj2, 0);
	assert_true(vt_cache_set_stats(set, "test.generic", &h, &m));
	assert_true(h >= 3 && m >= 4);

	/* another set (another verifier) has its own cache of the class: it does not see these entries */
	int obj3 = 0;
	vt_cache_put(test_cache, k1, 0, 10, &obj3);
	struct vt_cache_set *other = vt_cache_set_new();
	assert_non_null(other);
	struct vt_cache *other_cache = vt_cache_of(other, &test_class);
	assert_non_null(other_cache);
	assert_ptr_not_equal(other_cache, test_cache);
	assert_false(vt_cache_get(other_cache, k1, 5, NULL));
	assert_true(vt_cache_get(test_cache, k1, 5, NULL));
	vt_cache_set_free(other);
	assert_int_equal(obj3, 1);

	/* no set (no verifier): no cache; a get misses, a put takes nothing */
	assert_null(vt_cache_of(NULL, &test_class));
	vt_cache_put(NULL, k1, 0, 10, &obj3);
	assert_int_equal(obj3, 1);
	assert_false(vt_cache_get(NULL, k1, 5, &out));
	assert_null(out);
	assert_false(vt_cache_set_stats(NULL, "test.generic", &h, &m));

	/* freeing the set drops every reference it held */
	vt_cache_set_free(set);
	assert_int_equal(obj3, 0);
	assert_int_equal(live_objects, 0);
}

/* ------------------------------------------------------------ SNP */

static char *snp_certs(const char *vdir, bool flip_vcek)
{
	char *d = vt_test_tmpdir();
	assert_non_null(d);
	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/virtee-sev_milan_v2_vcek.der", &n);
	if (flip_vcek)
		p[n - 10] ^= 0x01; /* inside the signature value */
	write_file(d, "vcek.der", p, n);
	free(p);
	p = vec(vdir, "snp/virtee-sev_milan_ask_ark_chain.pem", &n);
	write_file(d, "chain.pem", p, n);
	free(p);
	return d;
}

/*
 * Verify with `certs` as certs_path, caching in `v`'s caches (the sources'
 * caches member: one verifier's caches seen with several certificate
 * sets, as the broker sees certificates carried by evidence).
 */
static vt_status snp_verify_at(const struct vt_verifier *v, const uint8_t *report, size_t n, const char *certs,
			       int64_t now, struct vt_err *e)
{
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(e);
	assert_int_equal(vt_tee_snp.load_file(report, n, &ev, e), VT_OK);
	struct vt_snp_sources src = {.certs_path = certs, .offline = true, .caches = vt_verifier_caches(v)};
	struct vt_verify_ctx ctx = {.now = now, .snp = &src};
	vt_status rc = vt_tee_snp.verify(&ctx, ev, NULL, &claims, e);
	json_decref(claims);
	json_decref(ev);
	return rc;
}

/* Verify a report (raw or hex) through the verifier's own SNP state. */
static vt_status snp_verify_report(const struct vt_verifier *v, const uint8_t *report, size_t n, int64_t now,
				   struct vt_err *e)
{
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(e);
	assert_int_equal(vt_tee_snp.load_file(report, n, &ev, e), VT_OK);
	vt_status rc = verifier_verify(v, &vt_tee_snp, ev, now, &claims, e);
	json_decref(claims);
	json_decref(ev);
	return rc;
}

static void test_snp_cache(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_verifier *v = fresh_verifier();
	size_t n = 0;
	uint8_t *rep = vec(vdir, "snp/virtee-sev_milan_v2_report.hex", &n);
	char *good = snp_certs(vdir, false), *bad = snp_certs(vdir, true);
	struct vt_err e = {0}, cold = {0};
	int64_t now = at(T_SNP);

	/* a bad VCEK first: fails, and fails again (nothing remembered) */
	vt_status rc_bad = snp_verify_at(v, rep, n, bad, now, &cold);
	assert_int_equal(rc_bad, VT_E_REJECTED);
	assert_err(&cold, VT_E_REJECTED, VT_STEP_CHAIN);
	struct vt_err bad_cold = cold;
	assert_same(snp_verify_at(v, rep, n, bad, now, &e), &e, rc_bad, &cold);
	assert_int_equal(hits(v, "snp.chain"), 0);

	/* a good input after a bad one passes; the second time from the cache */
	assert_int_equal(snp_verify_at(v, rep, n, good, now, &e), VT_OK);
	uint64_t h0 = hits(v, "snp.chain");
	assert_int_equal(snp_verify_at(v, rep, n, good, now, &e), VT_OK);
	assert_true(hits(v, "snp.chain") > h0);
	assert_true(hits(v, "snp.parsed") > 0);

	/* warm, the changed VCEK byte still fails exactly as cold */
	assert_same(snp_verify_at(v, rep, n, bad, now, &e), &e, rc_bad, &cold);

	/* outside the certificates' windows a warm cache does not help: same error as cold (a fresh verifier) */
	static const char *const times[] = {"2010-01-01T00:00:00Z", "2060-01-01T00:00:00Z"};
	for (size_t i = 0; i < 2; i++) {
		struct vt_err warm = {0};
		assert_int_equal(snp_verify_at(v, rep, n, good, now, &e), VT_OK); /* warm */
		h0 = hits(v, "snp.chain");
		vt_status rw = snp_verify_at(v, rep, n, good, at(times[i]), &warm);
		assert_int_equal(hits(v, "snp.chain"), h0); /* no hit outside the window */
		struct vt_verifier *cv = fresh_verifier();
		vt_status rcold = snp_verify_at(cv, rep, n, good, at(times[i]), &cold);
		vt_verifier_free(cv);
		assert_int_equal(rw, VT_E_REJECTED);
		assert_same(rw, &warm, rcold, &cold);
	}

	/* no verifier (no caches in the sources, none in the ctx): the same results, nothing remembered */
	h0 = hits(v, "snp.chain");
	assert_int_equal(snp_verify_at(NULL, rep, n, good, now, &e), VT_OK);
	assert_same(snp_verify_at(NULL, rep, n, bad, now, &e), &e, rc_bad, &bad_cold);
	assert_int_equal(hits(v, "snp.chain"), h0);
	vt_verifier_free(v);
	rm_rf(good);
	rm_rf(bad);
	free(good);
	free(bad);
	free(rep);
}

/* Every byte of a report flipped, with the chain, parse and CRL caches warm
 * from a successful verification of the same report and certificates. */
static void test_snp_flips_warm(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0, hn = 0;
	uint8_t *hex = vec(vdir, "snp/virtee-sev_milan_v2_report.hex", &hn);
	json_t *ev = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_tee_snp.load_file(hex, hn, &ev, &e), VT_OK);
	uint8_t *rep = NULL;
	const char *b64 = json_string_value(json_object_get(ev, "report"));
	assert_non_null(b64);
	assert_int_equal(vt_b64_decode(b64, strlen(b64), &rep, &n, &e), VT_OK);
	assert_int_equal(n, VT_SNP_REPORT_SIZE);
	json_decref(ev);
	char *good = snp_certs(vdir, false);
	int64_t now = at(T_SNP);
	/* the verifier's own SNP state: its certs option */
	struct vt_verifier *v = verifier_with(json_pack("{s:{s:s,s:b}}", "snp", "certs", good, "offline", 1));
	settle(); /* so that the certificate files come from the file cache too */
	assert_int_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);
	uint64_t h0 = hits(v, "snp.chain"), f0 = hits(v, "file");
	for (size_t off = 0; off < VT_SNP_REPORT_SIZE; off++) {
		rep[off] ^= 0xFF;
		if (snp_verify_report(v, rep, n, now, &e) == VT_OK)
			fail_msg("flipping byte 0x%03zx was accepted with a warm cache", off);
		rep[off] ^= 0xFF;
	}
	assert_true(hits(v, "snp.chain") > h0); /* the flips did run against the warm cache */
	assert_true(hits(v, "file") > f0 + VT_SNP_REPORT_SIZE / 2); /* and the warm file cache */
	assert_int_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);
	vt_verifier_free(v);
	rm_rf(good);
	free(good);
	free(rep);
	free(hex);
}

/* ------------------------------------------------------------ DCAP */

#define SGX_QUOTE "sgx/phala_sgx_v3_quote_00a067110000.dat"
#define SGX_BUNDLE "sgx/phala_sgx_v3_quote_00a067110000_collateral.json"

static json_t *bundle(const char *vdir)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, SGX_BUNDLE, &n);
	json_t *doc = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_json_parse((const char *)p, n, 1u << 24, &doc, &e), VT_OK);
	free(p);
	return doc;
}

static char *write_bundle(const char *dir, const char *name, json_t *doc)
{
	char *txt = json_dumps(doc, JSON_COMPACT);
	assert_non_null(txt);
	write_file(dir, name, txt, strlen(txt));
	free(txt);
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	return path;
}

/* Flip one character of a string member (hex digit or JSON text) at `pos` (negative: from the end). */
static void flip_member(json_t *doc, const char *key, long pos)
{
	const char *s = json_string_value(json_object_get(doc, key));
	assert_non_null(s);
	char *c = strdup(s);
	size_t len = strlen(c), i = pos >= 0 ? (size_t)pos : len - (size_t)(-pos);
	assert_true(i < len);
	c[i] = c[i] == '0' ? '1' : c[i] == '1' ? '2' : c[i] == 'a' ? 'b' : c[i] == '3' ? '4' : '0';
	json_object_set_new(doc, key, json_string(c));
	free(c);
}

static json_t *quote_evidence(const uint8_t *q, size_t n)
{
	char *b = vt_b64_encode(q, n);
	json_t *ev = json_pack("{s:s}", "quote", b);
	free(b);
	return ev;
}

/* The SGX quote against `coll` with `grace`, caching in `v`'s caches (the sources' caches member). */
static vt_status sgx_verify_at(const struct vt_verifier *v, json_t *ev, const char *coll, int64_t now, int64_t grace,
			       struct vt_err *e, const char **expired)
{
	struct vt_dcap_sources src = {
		.collateral_path = coll, .offline = true, .grace_seconds = grace, .caches = vt_verifier_caches(v)};
	struct vt_verify_ctx ctx = {.now = now, .dcap = &src};
	json_t *claims = NULL;
	vt_err_clear(e);
	vt_status rc = vt_tee_sgx.verify(&ctx, ev, NULL, &claims, e);
	static char status[4];
	if (expired != NULL) {
		snprintf(status, sizeof(status), "%s",
			 claims ? json_string_value(json_object_get(claims, "collateral_expiration_status")) : "-");
		*expired = status;
	}
	json_decref(claims);
	return rc;
}

/* The SGX quote through the verifier's own state (its collateral option). */
static vt_status sgx_verify_own(const struct vt_verifier *v, json_t *ev, int64_t now, struct vt_err *e)
{
	json_t *claims = NULL;
	vt_status rc = verifier_verify(v, &vt_tee_sgx, ev, now, &claims, e);
	json_decref(claims);
	return rc;
}

static struct vt_verifier *sgx_verifier(const char *coll)
{
	return verifier_with(json_pack("{s:{s:s,s:b}}", "sgx", "collateral", coll, "offline", 1));
}

static void test_dcap_cache(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_verifier *v = fresh_verifier(); /* warm for the whole test */
	char *d = vt_test_tmpdir();
	size_t qn = 0;
	uint8_t *quote = vec(vdir, SGX_QUOTE, &qn);
	json_t *ev = quote_evidence(quote, qn);
	json_t *doc = bundle(vdir);
	char *good = write_bundle(d, "good.json", doc);
	int64_t now = at(T_SGX);
	struct vt_err e = {0}, cold = {0};

	/* each changed byte: fails cold, fails again, and fails the same way warm */
	static const struct {
		const char *key;
		long pos;
		vt_step step;
	} changes[] = {
		{"tcb_info", 40, VT_STEP_COLLATERAL},            /* inside the issueDate digits */
		{"tcb_info_signature", 5, VT_STEP_COLLATERAL},
		{"qe_identity", 40, VT_STEP_COLLATERAL},
		{"qe_identity_signature", -3, VT_STEP_COLLATERAL},
		{"root_ca_crl", -6, VT_STEP_CHAIN},              /* the CRL's signature */
		{"pck_crl", -6, VT_STEP_CHAIN},
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		json_t *bad_doc = json_deep_copy(doc);
		flip_member(bad_doc, changes[i].key, changes[i].pos);
		char *bad = write_bundle(d, "bad.json", bad_doc);
		struct vt_verifier *cv = fresh_verifier(); /* cold */
		vt_status rc = sgx_verify_at(cv, ev, bad, now, 0, &cold, NULL);
		if (rc == VT_OK)
			fail_msg("changed %s accepted", changes[i].key);
		if (cold.step != changes[i].step)
			fail_msg("changed %s: %s/%s %s", changes[i].key, vt_step_name(cold.step), cold.field, cold.detail);
		assert_same(sgx_verify_at(cv, ev, bad, now, 0, &e, NULL), &e, rc, &cold); /* not remembered */
		assert_int_equal(sgx_verify_at(cv, ev, good, now, 0, &e, NULL), VT_OK);    /* good after bad */
		assert_int_equal(sgx_verify_at(cv, ev, good, now, 0, &e, NULL), VT_OK);    /* warm */
		assert_same(sgx_verify_at(cv, ev, bad, now, 0, &e, NULL), &e, rc, &cold);  /* bad, warm */
		/* and in the verifier warm for the whole test */
		assert_int_equal(sgx_verify_at(v, ev, good, now, 0, &e, NULL), VT_OK);
		assert_same(sgx_verify_at(v, ev, bad, now, 0, &e, NULL), &e, rc, &cold);
		vt_verifier_free(cv);
		free(bad);
		json_decref(bad_doc);
	}

	/* warm hits happen */
	uint64_t h_pck = hits(v, "dcap.pck_chain"), h_item = hits(v, "dcap.signed_item"), h_crl = hits(v, "dcap.crl"),
		 h_tcb = hits(v, "dcap.tcb_info"), h_json = hits(v, "dcap.collateral_json");
	assert_int_equal(sgx_verify_at(v, ev, good, now, 0, &e, NULL), VT_OK);
	assert_true(hits(v, "dcap.pck_chain") > h_pck);
	assert_true(hits(v, "dcap.signed_item") >= h_item + 2);
	assert_true(hits(v, "dcap.crl") >= h_crl + 2);
	assert_true(hits(v, "dcap.tcb_info") > h_tcb);
	assert_true(hits(v, "dcap.collateral_json") > h_json);

	/* another verifier does not see those entries: its first verification misses everywhere */
	{
		struct vt_verifier *v2 = fresh_verifier();
		assert_int_equal(sgx_verify_at(v2, ev, good, now, 0, &e, NULL), VT_OK);
		static const char *const names[] = {"dcap.pck_chain", "dcap.signed_item", "dcap.tcb_info",
						    "dcap.qe_identity", "dcap.collateral_json", "dcap.attestation_key"};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (hits(v2, names[i]) != 0 || misses(v2, names[i]) == 0)
				fail_msg("%s: %llu hits, %llu misses in a new verifier", names[i],
					 (unsigned long long)hits(v2, names[i]), (unsigned long long)misses(v2, names[i]));
		}
		/* the CRLs: each of the two (root CA, PCK) misses once; the root CA CRL is
		 * checked again for the two signing certificates within this verification */
		assert_int_equal(misses(v2, "dcap.crl"), 2);
		/* ... and freeing it leaves the first one warm */
		vt_verifier_free(v2);
		h_pck = hits(v, "dcap.pck_chain");
		assert_int_equal(sgx_verify_at(v, ev, good, now, 0, &e, NULL), VT_OK);
		assert_true(hits(v, "dcap.pck_chain") > h_pck);
	}

	/* a changed certificate byte in the quote's PCK chain: a miss, and rejected */
	{
		struct vt_dcap_quote q;
		assert_int_equal(vt_dcap_quote_parse(quote, qn, &q, &e), VT_OK);
		size_t off = (size_t)(q.cert_data - quote) + 200; /* base64 inside the PCK certificate */
		uint8_t *q2 = malloc(qn);
		memcpy(q2, quote, qn);
		q2[off] = q2[off] == 'A' ? 'B' : 'A';
		json_t *ev2 = quote_evidence(q2, qn);
		vt_status rc = sgx_verify_at(v, ev2, good, now, 0, &e, NULL);
		assert_int_not_equal(rc, VT_OK);
		assert_int_equal(e.step, VT_STEP_CHAIN);
		struct vt_verifier *cv = fresh_verifier();
		assert_same(sgx_verify_at(cv, ev2, good, now, 0, &cold, NULL), &cold, rc, &e);
		vt_verifier_free(cv);
		json_decref(ev2);
		free(q2);
	}

	/* time: past nextUpdate of the TCB Info / QE Identity (2025-07-19), warm and cold agree,
	 * and the grace is honoured exactly (1 s short of it fails, the full grace passes) */
	static const struct {
		const char *t;
		int64_t grace;
		vt_status want;
		const char *expired;
	} times[] = {
		{"2025-07-19T10:01:18Z", 0, VT_OK, "0"},   /* the QE Identity's nextUpdate itself */
		{"2025-07-19T10:01:19Z", 0, VT_E_REJECTED, NULL},
		{"2025-07-20T10:01:18Z", 86400, VT_OK, "1"},
		{"2025-07-20T10:01:18Z", 86399, VT_E_REJECTED, NULL},
		{"2025-06-01T00:00:00Z", 0, VT_E_REJECTED, NULL}, /* before issueDate */
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		const char *x_warm = NULL, *x_cold = NULL;
		struct vt_err warm = {0};
		assert_int_equal(sgx_verify_at(v, ev, good, now, 0, &e, NULL), VT_OK); /* warm at T_SGX */
		vt_status rw = sgx_verify_at(v, ev, good, at(times[i].t), times[i].grace, &warm, &x_warm);
		char xw[4];
		snprintf(xw, sizeof(xw), "%s", x_warm);
		struct vt_verifier *cv = fresh_verifier();
		vt_status rc = sgx_verify_at(cv, ev, good, at(times[i].t), times[i].grace, &cold, &x_cold);
		vt_verifier_free(cv);
		if (rw != times[i].want)
			fail_msg("%s grace %lld: %s/%s %s", times[i].t, (long long)times[i].grace, vt_step_name(warm.step),
				 warm.field, warm.detail);
		assert_same(rw, &warm, rc, &cold);
		if (rw == VT_OK) {
			assert_string_equal(xw, times[i].expired);
			assert_string_equal(x_cold, times[i].expired);
		} else {
			assert_int_equal(warm.step, VT_STEP_COLLATERAL);
		}
	}
	vt_verifier_free(v);
	json_decref(doc);
	json_decref(ev);
	free(good);
	free(quote);
	rm_rf(d);
	free(d);
}

/* Signed region, quote signature, attestation key, QE report and its
 * signature of the SGX quote flipped byte by byte through the registry
 * entry, every cache warm from a good verification of the same quote. */
static void test_dcap_flips_warm(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t qn = 0;
	uint8_t *quote = vec(vdir, SGX_QUOTE, &qn);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", vdir, SGX_BUNDLE);
	int64_t now = at(T_SGX);
	struct vt_err e = {0};
	struct vt_verifier *v = sgx_verifier(path); /* the verifier's own SGX state */
	json_t *ev = quote_evidence(quote, qn);
	assert_int_equal(sgx_verify_own(v, ev, now, &e), VT_OK);
	json_decref(ev);
	/* header + body (432), signature data length (4), signature (64), AK (64), QE report (384), QE signature (64) */
	size_t end = 48 + 384 + 4 + 64 + 64 + 384 + 64, rejected = 0;
	uint64_t h0 = hits(v, "dcap.pck_chain"), f0 = hits(v, "file");
	for (size_t i = 0; i < end; i++) {
		quote[i] ^= 0xFF;
		ev = quote_evidence(quote, qn);
		if (sgx_verify_own(v, ev, now, &e) == VT_OK)
			fail_msg("flip of quote byte %zu accepted with a warm cache", i);
		rejected++;
		json_decref(ev);
		quote[i] ^= 0xFF;
	}
	assert_int_equal(rejected, end);
	assert_true(hits(v, "dcap.pck_chain") > h0);
	assert_true(hits(v, "file") > f0 + end / 2); /* the bundle came from the warm file cache */
	ev = quote_evidence(quote, qn);
	assert_int_equal(sgx_verify_own(v, ev, now, &e), VT_OK);
	json_decref(ev);
	vt_verifier_free(v);
	free(quote);
}


/* ------------------------------------------------------------ stat-keyed file cache */

/* Past the settling time of the file cache (shortened for these tests in
 * main): the stat fields alone must then tell a change. */
static void settle(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static ino_t inode_of(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* Rewrite a file in place (same inode: open with O_TRUNC, write, close). */
static void rewrite_in_place(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ino_t before = inode_of(dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_true(inode_of(dir, name) == before);
}

/* Replace a file by rename (a new inode; vt_file_write writes a temporary and renames it). */
static void replace_by_rename(const char *dir, const char *name, const void *p, size_t n)
{
	ino_t before = inode_of(dir, name);
	write_file(dir, name, p, n);
	assert_true(inode_of(dir, name) != before);
}

/* A PCS body {"<member>":<text>,"signature":"<hex>"} (malloc'd, *n its length). */
static char *pcs_body(const char *member, const char *text, const char *sig, size_t *n)
{
	char *b = NULL;
	int r = asprintf(&b, "{\"%s\":%s,\"signature\":\"%s\"}", member, text, sig);
	assert_true(r > 0);
	*n = (size_t)r;
	return b;
}

/* The SGX bundle's collateral as a PCS directory. */
static void pcs_dir_from_bundle(json_t *doc, const char *d)
{
	static const struct {
		const char *key, *file;
	} pem[] = {{"tcb_info_issuer_chain", "tcbinfo_issuer_chain.pem"},
		   {"qe_identity_issuer_chain", "qeidentity_issuer_chain.pem"},
		   {"pck_crl_issuer_chain", "pckcrl_issuer_chain.pem"}},
	  der[] = {{"pck_crl", "pckcrl.der"}, {"root_ca_crl", "rootcrl.der"}};
	for (size_t i = 0; i < 3; i++) {
		const char *s = json_string_value(json_object_get(doc, pem[i].key));
		write_file(d, pem[i].file, s, strlen(s));
	}
	for (size_t i = 0; i < 2; i++) {
		uint8_t *b = NULL;
		size_t n = 0;
		struct vt_err e = {0};
		assert_int_equal(vt_hex_decode(json_string_value(json_object_get(doc, der[i].key)), &b, &n, &e), VT_OK);
		write_file(d, der[i].file, b, n);
		free(b);
	}
	size_t n = 0;
	char *b = pcs_body("tcbInfo", json_string_value(json_object_get(doc, "tcb_info")),
			   json_string_value(json_object_get(doc, "tcb_info_signature")), &n);
	write_file(d, "tcbinfo.json", b, n);
	free(b);
	b = pcs_body("enclaveIdentity", json_string_value(json_object_get(doc, "qe_identity")),
		     json_string_value(json_object_get(doc, "qe_identity_signature")), &n);
	write_file(d, "qeidentity.json", b, n);
	free(b);
}

static void flip_char(char *c)
{
	*c = *c == '0' ? '1' : *c == '1' ? '2' : *c == 'a' ? 'b' : *c == '3' ? '4' : '0';
}

/*
 * collateral_path as a PCS directory and as a dcap-qvl file: once the file
 * cache is warm, a file rewritten in place (same size, then another size)
 * or replaced by rename is read again, and the result follows the new
 * content (a corrupted TCB Info fails at the collateral step, the good text
 * passes again).  Each change is left to settle first, so the stat fields
 * alone have to reveal it.
 */
static void test_file_cache_dcap_rewrites(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = vt_test_tmpdir(), *f = vt_test_tmpdir();
	size_t qn = 0;
	uint8_t *quote = vec(vdir, SGX_QUOTE, &qn);
	json_t *ev = quote_evidence(quote, qn), *doc = bundle(vdir);
	pcs_dir_from_bundle(doc, d);
	char *file = write_bundle(f, "coll.json", doc);
	int64_t now = at(T_SGX);
	struct vt_err e = {0};

	size_t gn = 0;
	char *good = pcs_body("tcbInfo", json_string_value(json_object_get(doc, "tcb_info")),
			      json_string_value(json_object_get(doc, "tcb_info_signature")), &gn);
	char *bad = strdup(good);
	flip_char(&bad[strlen("{\"tcbInfo\":") + 40]); /* inside the issueDate digits */
	char *bad_longer = NULL;
	assert_true(asprintf(&bad_longer, "%s ", bad) > 0); /* trailing whitespace: still valid JSON */
	size_t bn = strlen(bad);
	assert_int_equal(bn, gn);

	/* one verifier per collateral path, with it as its option */
	struct vt_verifier *vd = sgx_verifier(d), *vf = sgx_verifier(file);
	settle();
	assert_int_equal(sgx_verify_own(vd, ev, now, &e), VT_OK);
	uint64_t h0 = hits(vd, "file"), c0 = hits(vd, "dcap.collateral_dir");
	assert_int_equal(sgx_verify_own(vd, ev, now, &e), VT_OK);
	assert_true(hits(vd, "file") >= h0 + 7); /* every file from the cache */
	assert_true(hits(vd, "dcap.collateral_dir") > c0);

	static const char *const how[] = {"in place, same size", "in place, another size", "by rename"};
	for (size_t i = 0; i < 3; i++) {
		const char *b = i == 1 ? bad_longer : bad;
		if (i < 2)
			rewrite_in_place(d, "tcbinfo.json", b, strlen(b));
		else
			replace_by_rename(d, "tcbinfo.json", b, strlen(b));
		settle();
		vt_status rc = sgx_verify_own(vd, ev, now, &e);
		if (rc == VT_OK || e.step != VT_STEP_COLLATERAL)
			fail_msg("TCB Info corrupted %s: %s/%s %s", how[i], vt_step_name(e.step), e.field, e.detail);
		assert_int_equal(sgx_verify_own(vd, ev, now, &e), rc); /* and again, warm */
		/* back to the good text, the same way */
		if (i < 2)
			rewrite_in_place(d, "tcbinfo.json", good, gn);
		else
			replace_by_rename(d, "tcbinfo.json", good, gn);
		settle();
		if (sgx_verify_own(vd, ev, now, &e) != VT_OK)
			fail_msg("good TCB Info back %s: %s", how[i], e.detail);
	}

	/* the dcap-qvl file: the same three changes of its tcb_info */
	json_t *bad_doc = json_deep_copy(doc);
	flip_member(bad_doc, "tcb_info", 40);
	char *gtxt = json_dumps(doc, JSON_COMPACT), *btxt = json_dumps(bad_doc, JSON_COMPACT),
	     *btxt2 = json_dumps(bad_doc, JSON_INDENT(1));
	assert_int_equal(strlen(gtxt), strlen(btxt));
	assert_int_equal(sgx_verify_own(vf, ev, now, &e), VT_OK);
	h0 = hits(vf, "file");
	assert_int_equal(sgx_verify_own(vf, ev, now, &e), VT_OK);
	assert_true(hits(vf, "file") > h0);
	assert_int_equal(hits(vd, "dcap.collateral_json"), 0); /* the two verifiers share nothing */
	assert_int_equal(hits(vf, "dcap.collateral_dir"), 0);
	for (size_t i = 0; i < 3; i++) {
		const char *b = i == 1 ? btxt2 : btxt;
		if (i < 2)
			rewrite_in_place(f, "coll.json", b, strlen(b));
		else
			replace_by_rename(f, "coll.json", b, strlen(b));
		settle();
		vt_status rc = sgx_verify_own(vf, ev, now, &e);
		if (rc == VT_OK || e.step != VT_STEP_COLLATERAL)
			fail_msg("bundle corrupted %s: %s/%s %s", how[i], vt_step_name(e.step), e.field, e.detail);
		if (i < 2)
			rewrite_in_place(f, "coll.json", gtxt, strlen(gtxt));
		else
			replace_by_rename(f, "coll.json", gtxt, strlen(gtxt));
		settle();
		assert_int_equal(sgx_verify_own(vf, ev, now, &e), VT_OK);
	}
	vt_verifier_free(vd);
	vt_verifier_free(vf);
	free(gtxt);
	free(btxt);
	free(btxt2);
	json_decref(bad_doc);
	free(good);
	free(bad);
	free(bad_longer);
	free(file);
	json_decref(doc);
	json_decref(ev);
	free(quote);
	rm_rf(d);
	rm_rf(f);
	free(d);
	free(f);
}

/*
 * certs_path as a directory: a VCEK rewritten in place (same size) or
 * replaced by rename is read again (a corrupted one fails at the chain step),
 * and a file added to the directory is seen (the listing is keyed by the
 * directory's stat).
 */
static void test_file_cache_snp_rewrites(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0, vn = 0;
	uint8_t *rep = vec(vdir, "snp/virtee-sev_milan_v2_report.hex", &n);
	uint8_t *vcek = vec(vdir, "snp/virtee-sev_milan_v2_vcek.der", &vn);
	uint8_t *bad = malloc(vn);
	memcpy(bad, vcek, vn);
	bad[vn - 10] ^= 0x01; /* inside the signature value */
	char *d = snp_certs(vdir, false);
	int64_t now = at(T_SNP);
	struct vt_err e = {0};

	struct vt_verifier *v = verifier_with(json_pack("{s:{s:s,s:b}}", "snp", "certs", d, "offline", 1));
	settle();
	assert_int_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);
	uint64_t h0 = hits(v, "file"), d0 = hits(v, "dir");
	assert_int_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);
	assert_true(hits(v, "file") >= h0 + 2);
	assert_true(hits(v, "dir") > d0);

	for (size_t i = 0; i < 2; i++) {
		if (i == 0)
			rewrite_in_place(d, "vcek.der", bad, vn);
		else
			replace_by_rename(d, "vcek.der", bad, vn);
		settle();
		vt_status rc = snp_verify_report(v, rep, n, now, &e);
		if (rc == VT_OK || e.step != VT_STEP_CHAIN)
			fail_msg("corrupted VCEK (%s): %s/%s %s", i == 0 ? "in place" : "by rename", vt_step_name(e.step),
				 e.field, e.detail);
		if (i == 0)
			rewrite_in_place(d, "vcek.der", vcek, vn);
		else
			replace_by_rename(d, "vcek.der", vcek, vn);
		settle();
		assert_int_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);
	}

	/* the VCEK removed, then a new file holding it added: the listing follows */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/vcek.der", d);
	assert_int_equal(unlink(path), 0);
	settle();
	assert_int_not_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);
	write_file(d, "zz-vcek.der", vcek, vn);
	settle();
	assert_int_equal(snp_verify_report(v, rep, n, now, &e), VT_OK);

	vt_verifier_free(v);
	rm_rf(d);
	free(d);
	free(bad);
	free(vcek);
	free(rep);
}

/*
 * Two verifiers with the same options share no entry: the second one's
 * first verification misses in every cache the first one has warm, and
 * freeing the first leaves the second working (and warm).
 */
static void test_verifiers_share_nothing(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0;
	uint8_t *rep = vec(vdir, "snp/virtee-sev_milan_v2_report.hex", &n);
	char *d = snp_certs(vdir, false);
	int64_t now = at(T_SNP);
	struct vt_err e = {0};
	struct vt_verifier *v1 = verifier_with(json_pack("{s:{s:s,s:b}}", "snp", "certs", d, "offline", 1));
	struct vt_verifier *v2 = verifier_with(json_pack("{s:{s:s,s:b}}", "snp", "certs", d, "offline", 1));
	assert_ptr_not_equal(vt_verifier_caches(v1), vt_verifier_caches(v2));
	settle(); /* the certificate files may be cached */
	assert_int_equal(snp_verify_report(v1, rep, n, now, &e), VT_OK);
	assert_int_equal(snp_verify_report(v1, rep, n, now, &e), VT_OK);
	static const char *const names[] = {"snp.chain", "snp.parsed", "file", "dir"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (hits(v1, names[i]) == 0)
			fail_msg("%s: no hit in a warm verifier", names[i]);
	assert_int_equal(snp_verify_report(v2, rep, n, now, &e), VT_OK);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (hits(v2, names[i]) != 0 || misses(v2, names[i]) == 0)
			fail_msg("%s: %llu hits, %llu misses in a second verifier", names[i],
				 (unsigned long long)hits(v2, names[i]), (unsigned long long)misses(v2, names[i]));
	vt_verifier_free(v1);
	assert_int_equal(snp_verify_report(v2, rep, n, now, &e), VT_OK);
	assert_true(hits(v2, "snp.chain") > 0);
	vt_verifier_free(v2);
	rm_rf(d);
	free(d);
	free(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generic_window_and_bounds),
		cmocka_unit_test(test_snp_cache),
		cmocka_unit_test(test_snp_flips_warm),
		cmocka_unit_test(test_dcap_cache),
		cmocka_unit_test(test_dcap_flips_warm),
		cmocka_unit_test(test_file_cache_dcap_rewrites),
		cmocka_unit_test(test_file_cache_snp_rewrites),
		cmocka_unit_test(test_verifiers_share_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
