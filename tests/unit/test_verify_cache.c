/*
 * The verifier caches (vt_cache_* in src/crypto/crypto.c and their users in
 * src/evidence/snp and src/evidence/dcap): a hit only inside the validity
 * window; a changed byte (certificate, CRL, TCB Info text, signature) is a
 * miss and fails as it does cold; failures are never remembered; flipped
 * evidence is rejected with every cache warm.  Vectors from $VERITEE_VECTORS
 * (skip when absent), assembled in temporary directories at run time.
 */
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include <jansson.h>

#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/snp.h"
#include "veritee/util.h"

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

static uint64_t hits(const char *name)
{
	uint64_t h = 0, m = 0;
	if (!vt_cache_stats(name, &h, &m))
		return 0;
	return h;
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
static uint64_t file_hits(void);

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

VT_CACHE_DEFINE(test_cache, "test.generic", 4, obj_ref, obj_release);

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

	int obj = 0;
	void *out = NULL;
	assert_false(vt_cache_get(&test_cache, k1, 100, &out));
	vt_cache_put(&test_cache, k1, 100, 200, &obj);
	assert_int_equal(obj, 1); /* the cache's own reference */
	assert_false(vt_cache_get(&test_cache, k1, 99, &out));   /* before the window */
	assert_null(out);
	assert_false(vt_cache_get(&test_cache, k1, 201, &out));  /* after it */
	assert_true(vt_cache_get(&test_cache, k1, 100, &out));   /* edges count */
	assert_ptr_equal(out, &obj);
	obj_release(out);
	assert_true(vt_cache_get(&test_cache, k1, 200, NULL));
	assert_false(vt_cache_get(&test_cache, k2, 150, NULL));  /* another key */
	/* the same key again replaces the entry (one slot, old reference dropped) */
	int obj2 = 0;
	vt_cache_put(&test_cache, k1, 300, 400, &obj2);
	assert_int_equal(obj, 0);
	assert_int_equal(obj2, 1);
	assert_false(vt_cache_get(&test_cache, k1, 150, NULL));
	assert_true(vt_cache_get(&test_cache, k1, 350, NULL));
	/* an empty window is not stored */
	vt_cache_put(&test_cache, k2, 10, 5, NULL);
	assert_false(vt_cache_get(&test_cache, k2, 7, NULL));
	/* bounded: a fifth key evicts the oldest */
	char name[16];
	for (int i = 0; i < 4; i++) {
		uint8_t k[32];
		snprintf(name, sizeof(name), "k%d", i);
		key_of(name, k);
		vt_cache_put(&test_cache, k, 0, 10, NULL);
	}
	assert_false(vt_cache_get(&test_cache, k1, 350, NULL));
	assert_int_equal(obj2, 0);
	uint64_t h = 0, m = 0;
	assert_true(vt_cache_stats("test.generic", &h, &m));
	assert_true(h >= 3 && m >= 4);
	vt_caches_clear();
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

static vt_status snp_verify_at(const char *vdir, const uint8_t *report, size_t n, const char *certs, int64_t now,
			       struct vt_err *e)
{
	(void)vdir;
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(e);
	assert_int_equal(vt_tee_snp.load_file(report, n, &ev, e), VT_OK);
	struct vt_snp_sources src = {.certs_path = certs, .offline = true};
	struct vt_verify_ctx ctx = {.now = now, .snp = &src};
	vt_status rc = vt_tee_snp.verify(&ctx, ev, NULL, &claims, e);
	json_decref(claims);
	json_decref(ev);
	return rc;
}

static void test_snp_cache(void **state)
{
	(void)state;
	NEED_VECTORS();
	vt_caches_clear();
	size_t n = 0;
	uint8_t *rep = vec(vdir, "snp/virtee-sev_milan_v2_report.hex", &n);
	char *good = snp_certs(vdir, false), *bad = snp_certs(vdir, true);
	struct vt_err e = {0}, cold = {0};
	int64_t now = at(T_SNP);

	/* a bad VCEK first: fails, and fails again (nothing remembered) */
	vt_status rc_bad = snp_verify_at(vdir, rep, n, bad, now, &cold);
	assert_int_equal(rc_bad, VT_E_REJECTED);
	assert_err(&cold, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_same(snp_verify_at(vdir, rep, n, bad, now, &e), &e, rc_bad, &cold);

	/* a good input after a bad one passes; the second time from the cache */
	assert_int_equal(snp_verify_at(vdir, rep, n, good, now, &e), VT_OK);
	uint64_t h0 = hits("snp.chain");
	assert_int_equal(snp_verify_at(vdir, rep, n, good, now, &e), VT_OK);
	assert_true(hits("snp.chain") > h0);
	assert_true(hits("snp.parsed") > 0);

	/* warm, the changed VCEK byte still fails exactly as cold */
	assert_same(snp_verify_at(vdir, rep, n, bad, now, &e), &e, rc_bad, &cold);

	/* outside the certificates' windows a warm cache does not help: same error as cold */
	static const char *const times[] = {"2010-01-01T00:00:00Z", "2060-01-01T00:00:00Z"};
	for (size_t i = 0; i < 2; i++) {
		struct vt_err warm = {0};
		assert_int_equal(snp_verify_at(vdir, rep, n, good, now, &e), VT_OK); /* warm */
		h0 = hits("snp.chain");
		vt_status rw = snp_verify_at(vdir, rep, n, good, at(times[i]), &warm);
		assert_int_equal(hits("snp.chain"), h0); /* no hit outside the window */
		vt_caches_clear();
		vt_status rcold = snp_verify_at(vdir, rep, n, good, at(times[i]), &cold);
		assert_int_equal(rw, VT_E_REJECTED);
		assert_same(rw, &warm, rcold, &cold);
	}
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
	settle(); /* so that the certificate files come from the file cache too */
	assert_int_equal(snp_verify_at(vdir, rep, n, good, now, &e), VT_OK);
	uint64_t h0 = hits("snp.chain"), f0 = file_hits();
	for (size_t off = 0; off < VT_SNP_REPORT_SIZE; off++) {
		rep[off] ^= 0xFF;
		if (snp_verify_at(vdir, rep, n, good, now, &e) == VT_OK)
			fail_msg("flipping byte 0x%03zx was accepted with a warm cache", off);
		rep[off] ^= 0xFF;
	}
	assert_true(hits("snp.chain") > h0); /* the flips did run against the warm cache */
	assert_true(file_hits() > f0 + VT_SNP_REPORT_SIZE / 2); /* and the warm file cache */
	assert_int_equal(snp_verify_at(vdir, rep, n, good, now, &e), VT_OK);
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

static vt_status sgx_verify_at(json_t *ev, const char *coll, int64_t now, int64_t grace, struct vt_err *e,
			       const char **expired)
{
	struct vt_dcap_sources src = {.collateral_path = coll, .offline = true, .grace_seconds = grace};
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

static void test_dcap_cache(void **state)
{
	(void)state;
	NEED_VECTORS();
	vt_caches_clear();
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
		vt_caches_clear();
		vt_status rc = sgx_verify_at(ev, bad, now, 0, &cold, NULL);
		if (rc == VT_OK)
			fail_msg("changed %s accepted", changes[i].key);
		if (cold.step != changes[i].step)
			fail_msg("changed %s: %s/%s %s", changes[i].key, vt_step_name(cold.step), cold.field, cold.detail);
		assert_same(sgx_verify_at(ev, bad, now, 0, &e, NULL), &e, rc, &cold); /* not remembered */
		assert_int_equal(sgx_verify_at(ev, good, now, 0, &e, NULL), VT_OK);    /* good after bad */
		assert_int_equal(sgx_verify_at(ev, good, now, 0, &e, NULL), VT_OK);    /* warm */
		assert_same(sgx_verify_at(ev, bad, now, 0, &e, NULL), &e, rc, &cold);  /* bad, warm */
		free(bad);
		json_decref(bad_doc);
	}

	/* warm hits happen */
	uint64_t h_pck = hits("dcap.pck_chain"), h_item = hits("dcap.signed_item"), h_crl = hits("dcap.crl"),
		 h_tcb = hits("dcap.tcb_info"), h_json = hits("dcap.collateral_json");
	assert_int_equal(sgx_verify_at(ev, good, now, 0, &e, NULL), VT_OK);
	assert_true(hits("dcap.pck_chain") > h_pck);
	assert_true(hits("dcap.signed_item") >= h_item + 2);
	assert_true(hits("dcap.crl") >= h_crl + 2);
	assert_true(hits("dcap.tcb_info") > h_tcb);
	assert_true(hits("dcap.collateral_json") > h_json);

	/* a changed certificate byte in the quote's PCK chain: a miss, and rejected */
	{
		struct vt_dcap_quote q;
		assert_int_equal(vt_dcap_quote_parse(quote, qn, &q, &e), VT_OK);
		size_t off = (size_t)(q.cert_data - quote) + 200; /* base64 inside the PCK certificate */
		uint8_t *q2 = malloc(qn);
		memcpy(q2, quote, qn);
		q2[off] = q2[off] == 'A' ? 'B' : 'A';
		json_t *ev2 = quote_evidence(q2, qn);
		vt_status rc = sgx_verify_at(ev2, good, now, 0, &e, NULL);
		assert_int_not_equal(rc, VT_OK);
		assert_int_equal(e.step, VT_STEP_CHAIN);
		vt_caches_clear();
		assert_same(sgx_verify_at(ev2, good, now, 0, &cold, NULL), &cold, rc, &e);
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
		assert_int_equal(sgx_verify_at(ev, good, now, 0, &e, NULL), VT_OK); /* warm at T_SGX */
		vt_status rw = sgx_verify_at(ev, good, at(times[i].t), times[i].grace, &warm, &x_warm);
		char xw[4];
		snprintf(xw, sizeof(xw), "%s", x_warm);
		vt_caches_clear();
		vt_status rc = sgx_verify_at(ev, good, at(times[i].t), times[i].grace, &cold, &x_cold);
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
	json_t *ev = quote_evidence(quote, qn);
	assert_int_equal(sgx_verify_at(ev, path, now, 0, &e, NULL), VT_OK);
	json_decref(ev);
	/* header + body (432), signature data length (4), signature (64), AK (64), QE report (384), QE signature (64) */
	size_t end = 48 + 384 + 4 + 64 + 64 + 384 + 64, rejected = 0;
	uint64_t h0 = hits("dcap.pck_chain"), f0 = file_hits();
	for (size_t i = 0; i < end; i++) {
		quote[i] ^= 0xFF;
		ev = quote_evidence(quote, qn);
		if (sgx_verify_at(ev, path, now, 0, &e, NULL) == VT_OK)
			fail_msg("flip of quote byte %zu accepted with a warm cache", i);
		rejected++;
		json_decref(ev);
		quote[i] ^= 0xFF;
	}
	assert_int_equal(rejected, end);
	assert_true(hits("dcap.pck_chain") > h0);
	assert_true(file_hits() > f0 + end / 2); /* the bundle came from the warm file cache */
	ev = quote_evidence(quote, qn);
	assert_int_equal(sgx_verify_at(ev, path, now, 0, &e, NULL), VT_OK);
	json_decref(ev);
	free(quote);
}


/* ------------------------------------------------------------ stat-keyed file cache */

static uint64_t file_hits(void)
{
	uint64_t h = 0, m = 0, dh = 0, dm = 0;
	vt_file_cache_stats(&h, &m, &dh, &dm);
	return h;
}

static uint64_t dir_hits(void)
{
	uint64_t h = 0, m = 0, dh = 0, dm = 0;
	vt_file_cache_stats(&h, &m, &dh, &dm);
	return dh;
}

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
	vt_caches_clear();
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

	settle();
	assert_int_equal(sgx_verify_at(ev, d, now, 0, &e, NULL), VT_OK);
	uint64_t h0 = file_hits(), c0 = hits("dcap.collateral_dir");
	assert_int_equal(sgx_verify_at(ev, d, now, 0, &e, NULL), VT_OK);
	assert_true(file_hits() >= h0 + 7); /* every file from the cache */
	assert_true(hits("dcap.collateral_dir") > c0);

	static const char *const how[] = {"in place, same size", "in place, another size", "by rename"};
	for (size_t i = 0; i < 3; i++) {
		const char *b = i == 1 ? bad_longer : bad;
		if (i < 2)
			rewrite_in_place(d, "tcbinfo.json", b, strlen(b));
		else
			replace_by_rename(d, "tcbinfo.json", b, strlen(b));
		settle();
		vt_status rc = sgx_verify_at(ev, d, now, 0, &e, NULL);
		if (rc == VT_OK || e.step != VT_STEP_COLLATERAL)
			fail_msg("TCB Info corrupted %s: %s/%s %s", how[i], vt_step_name(e.step), e.field, e.detail);
		assert_int_equal(sgx_verify_at(ev, d, now, 0, &e, NULL), rc); /* and again, warm */
		/* back to the good text, the same way */
		if (i < 2)
			rewrite_in_place(d, "tcbinfo.json", good, gn);
		else
			replace_by_rename(d, "tcbinfo.json", good, gn);
		settle();
		if (sgx_verify_at(ev, d, now, 0, &e, NULL) != VT_OK)
			fail_msg("good TCB Info back %s: %s", how[i], e.detail);
	}

	/* the dcap-qvl file: the same three changes of its tcb_info */
	json_t *bad_doc = json_deep_copy(doc);
	flip_member(bad_doc, "tcb_info", 40);
	char *gtxt = json_dumps(doc, JSON_COMPACT), *btxt = json_dumps(bad_doc, JSON_COMPACT),
	     *btxt2 = json_dumps(bad_doc, JSON_INDENT(1));
	assert_int_equal(strlen(gtxt), strlen(btxt));
	assert_int_equal(sgx_verify_at(ev, file, now, 0, &e, NULL), VT_OK);
	h0 = file_hits();
	assert_int_equal(sgx_verify_at(ev, file, now, 0, &e, NULL), VT_OK);
	assert_true(file_hits() > h0);
	for (size_t i = 0; i < 3; i++) {
		const char *b = i == 1 ? btxt2 : btxt;
		if (i < 2)
			rewrite_in_place(f, "coll.json", b, strlen(b));
		else
			replace_by_rename(f, "coll.json", b, strlen(b));
		settle();
		vt_status rc = sgx_verify_at(ev, file, now, 0, &e, NULL);
		if (rc == VT_OK || e.step != VT_STEP_COLLATERAL)
			fail_msg("bundle corrupted %s: %s/%s %s", how[i], vt_step_name(e.step), e.field, e.detail);
		if (i < 2)
			rewrite_in_place(f, "coll.json", gtxt, strlen(gtxt));
		else
			replace_by_rename(f, "coll.json", gtxt, strlen(gtxt));
		settle();
		assert_int_equal(sgx_verify_at(ev, file, now, 0, &e, NULL), VT_OK);
	}
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
	vt_caches_clear();
	size_t n = 0, vn = 0;
	uint8_t *rep = vec(vdir, "snp/virtee-sev_milan_v2_report.hex", &n);
	uint8_t *vcek = vec(vdir, "snp/virtee-sev_milan_v2_vcek.der", &vn);
	uint8_t *bad = malloc(vn);
	memcpy(bad, vcek, vn);
	bad[vn - 10] ^= 0x01; /* inside the signature value */
	char *d = snp_certs(vdir, false);
	int64_t now = at(T_SNP);
	struct vt_err e = {0};

	settle();
	assert_int_equal(snp_verify_at(vdir, rep, n, d, now, &e), VT_OK);
	uint64_t h0 = file_hits(), d0 = dir_hits();
	assert_int_equal(snp_verify_at(vdir, rep, n, d, now, &e), VT_OK);
	assert_true(file_hits() >= h0 + 2);
	assert_true(dir_hits() > d0);

	for (size_t i = 0; i < 2; i++) {
		if (i == 0)
			rewrite_in_place(d, "vcek.der", bad, vn);
		else
			replace_by_rename(d, "vcek.der", bad, vn);
		settle();
		vt_status rc = snp_verify_at(vdir, rep, n, d, now, &e);
		if (rc == VT_OK || e.step != VT_STEP_CHAIN)
			fail_msg("corrupted VCEK (%s): %s/%s %s", i == 0 ? "in place" : "by rename", vt_step_name(e.step),
				 e.field, e.detail);
		if (i == 0)
			rewrite_in_place(d, "vcek.der", vcek, vn);
		else
			replace_by_rename(d, "vcek.der", vcek, vn);
		settle();
		assert_int_equal(snp_verify_at(vdir, rep, n, d, now, &e), VT_OK);
	}

	/* the VCEK removed, then a new file holding it added: the listing follows */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/vcek.der", d);
	assert_int_equal(unlink(path), 0);
	settle();
	assert_int_not_equal(snp_verify_at(vdir, rep, n, d, now, &e), VT_OK);
	write_file(d, "zz-vcek.der", vcek, vn);
	settle();
	assert_int_equal(snp_verify_at(vdir, rep, n, d, now, &e), VT_OK);

	rm_rf(d);
	free(d);
	free(bad);
	free(vcek);
	free(rep);
}

int main(void)
{
	vt_file_cache_set_settle_ms(200); /* instead of VT_FILE_CACHE_SETTLE_S, to keep the tests short */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generic_window_and_bounds),
		cmocka_unit_test(test_snp_cache),
		cmocka_unit_test(test_snp_flips_warm),
		cmocka_unit_test(test_dcap_cache),
		cmocka_unit_test(test_dcap_flips_warm),
		cmocka_unit_test(test_file_cache_dcap_rewrites),
		cmocka_unit_test(test_file_cache_snp_rewrites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
