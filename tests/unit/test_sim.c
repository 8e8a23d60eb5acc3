/* Unit tests for the simulated TEE "sim": keys, attester, parser, verifier, registry. */
#include "testutil.h"

#include <dirent.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/sim.h"

/* Shared by all tests: one key directory, created once. */
static char *g_dir;
static X509 *g_root;          /* sim root certificate */
static X509 *g_plat;          /* platform certificate */
static EVP_PKEY *g_plat_key;  /* platform private key (to forge reports) */
static char *g_cert_b64;      /* platform certificate DER, base64 */
static uint8_t g_report[VT_SIM_REPORT_SIZE];
static uint8_t g_rd[64];      /* report data of g_report */
static int64_t g_now;         /* platform notBefore + 1 day */
static struct vt_sim_attest_opts g_opts;

/* ------------------------------------------------------------------ helpers */

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
	int r = snprintf(out, n, "%s/%s", dir, name);
	assert_true(r > 0 && (size_t)r < n);
}

static void rm_flat_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		char p[4096];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			path_in(p, sizeof(p), dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int64_t asn1_to_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

static X509 *load_cert(const char *dir, const char *name)
{
	char p[4096];
	X509 *c = NULL;
	struct vt_err err = {0};
	path_in(p, sizeof(p), dir, name);
	assert_int_equal(vt_x509_load(p, &c, &err), VT_OK);
	return c;
}

/* Evidence JSON from raw report bytes (any size) and a base64 certificate. */
static json_t *make_evidence(const uint8_t *report, size_t size, const char *cert_b64)
{
	char *rb = vt_b64_encode(report, size);
	assert_non_null(rb);
	json_t *ev = json_pack("{s:s, s:s}", "report", rb, "platform_cert", cert_b64);
	free(rb);
	assert_non_null(ev);
	return ev;
}

static vt_status verify_ev(const json_t *ev, X509 *root, int64_t now, const uint8_t *bind, size_t bind_size,
			   json_t **claims, struct vt_err *err)
{
	struct vt_verify_ctx ctx = {.now = now, .sim_root_insecure = root};
	struct vt_binding b = {.report_data = bind, .report_data_size = bind_size};
	vt_err_clear(err);
	*claims = NULL;
	vt_status rc = vt_tee_sim.verify(&ctx, ev, &b, claims, err);
	if (rc != VT_OK)
		assert_null(*claims);
	return rc;
}

/* Verify raw report bytes with the shared certificate; expect a failure. */
static void expect_report_fails(const uint8_t *report, size_t size, vt_status code, vt_step step, const char *field)
{
	json_t *ev = make_evidence(report, size, g_cert_b64);
	json_t *claims = NULL;
	struct vt_err err;
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, sizeof(g_rd), &claims, &err), code);
	assert_err(&err, code, step);
	if (field != NULL)
		assert_string_equal(err.field, field);
	json_decref(ev);
}

/* Re-sign bytes 0..159 of `buf` with the platform key. */
static void resign(uint8_t buf[VT_SIM_REPORT_SIZE])
{
	struct vt_err err = {0};
	size_t n = 96;
	assert_int_equal(vt_ecdsa_sign_raw(g_plat_key, EVP_sha384(), buf, VT_SIM_SIGNED_SIZE, buf + VT_SIM_SIGNED_SIZE,
					   &n, &err),
			 VT_OK);
	assert_int_equal(n, 96);
}

static char *hex(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	assert_non_null(h);
	return h;
}

/* ------------------------------------------------------------------ setup */

static int group_setup(void **state)
{
	(void)state;
	struct vt_err err = {0};
	g_dir = vt_test_tmpdir();
	if (g_dir == NULL)
		return -1;
	if (vt_sim_ensure_keys(g_dir, &err) != VT_OK)
		return -1;
	char p[4096];
	path_in(p, sizeof(p), g_dir, VT_SIM_PLATFORM_KEY_FILE);
	if (vt_key_load_pem(p, true, &g_plat_key, &err) != VT_OK)
		return -1;
	g_root = load_cert(g_dir, VT_SIM_ROOT_CERT_FILE);
	g_plat = load_cert(g_dir, VT_SIM_PLATFORM_CERT_FILE);
	g_now = asn1_to_epoch(X509_get0_notBefore(g_plat)) + 86400;

	for (size_t i = 0; i < sizeof(g_rd); i++)
		g_rd[i] = (uint8_t)(0xa0 + i);
	vt_sim_attest_opts_default(&g_opts);
	g_opts.svn = 7;
	g_opts.debug = false;
	json_t *ev = NULL;
	if (vt_sim_attest(g_dir, &g_opts, g_rd, &ev, &err) != VT_OK)
		return -1;
	const char *rb = json_string_value(json_object_get(ev, "report"));
	const char *cb = json_string_value(json_object_get(ev, "platform_cert"));
	uint8_t *raw = NULL;
	size_t raw_size = 0;
	if (rb == NULL || cb == NULL || vt_b64_decode(rb, strlen(rb), &raw, &raw_size, &err) != VT_OK ||
	    raw_size != VT_SIM_REPORT_SIZE) {
		free(raw);
		json_decref(ev);
		return -1;
	}
	memcpy(g_report, raw, sizeof(g_report));
	free(raw);
	g_cert_b64 = strdup(cb);
	json_decref(ev);
	return g_cert_b64 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(g_root);
	X509_free(g_plat);
	EVP_PKEY_free(g_plat_key);
	free(g_cert_b64);
	if (g_dir != NULL)
		rm_flat_dir(g_dir);
	free(g_dir);
	return 0;
}

/* ------------------------------------------------------------------ keys */

static void test_keys_files(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		unsigned mode;
	} files[] = {
		{VT_SIM_ROOT_KEY_FILE, 0600},
		{VT_SIM_ROOT_CERT_FILE, 0644},
		{VT_SIM_PLATFORM_KEY_FILE, 0600},
		{VT_SIM_PLATFORM_CERT_FILE, 0644},
	};
	struct stat st;
	assert_int_equal(stat(g_dir, &st), 0);
	/* vt_test_tmpdir uses mkdtemp, which already makes 0700 */
	assert_int_equal(st.st_mode & 0777, 0700);
	uint8_t *before[4] = {0};
	size_t before_size[4] = {0};
	struct vt_err err = {0};
	for (size_t i = 0; i < 4; i++) {
		char p[4096];
		path_in(p, sizeof(p), g_dir, files[i].name);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, files[i].mode);
		assert_int_equal(vt_file_read(p, 1 << 20, &before[i], &before_size[i], &err), VT_OK);
	}
	/* A second call changes nothing. */
	assert_int_equal(vt_sim_ensure_keys(g_dir, &err), VT_OK);
	for (size_t i = 0; i < 4; i++) {
		char p[4096];
		uint8_t *after = NULL;
		size_t after_size = 0;
		path_in(p, sizeof(p), g_dir, files[i].name);
		assert_int_equal(vt_file_read(p, 1 << 20, &after, &after_size, &err), VT_OK);
		assert_int_equal(after_size, before_size[i]);
		assert_memory_equal(after, before[i], after_size);
		vt_wipe(after, after_size);
		vt_wipe(before[i], before_size[i]);
		free(after);
		free(before[i]);
	}
}

static void test_keys_certs(void **state)
{
	(void)state;
	char cn[128];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(g_root), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "veritee sim root (INSECURE)");
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(g_plat), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "veritee sim platform (INSECURE)");
	assert_int_equal(X509_check_ca(g_root), 1);
	assert_int_equal(X509_check_ca(g_plat), 0);
	assert_true((X509_get_extension_flags(g_root) & EXFLAG_SS) != 0);
	assert_true((X509_get_key_usage(g_root) & KU_KEY_CERT_SIGN) != 0);
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(g_root, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	/* 10-year validity (3652 days) for both */
	int64_t nb = asn1_to_epoch(X509_get0_notBefore(g_root)), na = asn1_to_epoch(X509_get0_notAfter(g_root));
	assert_int_equal(na - nb, (int64_t)3652 * 86400);
	assert_true(asn1_to_epoch(X509_get0_notAfter(g_plat)) <= na);
	/* 128-bit serials */
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(g_root), NULL);
	assert_non_null(bn);
	assert_int_equal(BN_num_bytes(bn), 16);
	BN_free(bn);
	assert_int_equal(vt_ec_coord_size(X509_get0_pubkey(g_root)), 48);
	assert_int_equal(vt_ec_coord_size(X509_get0_pubkey(g_plat)), 48);
	struct vt_err err = {0};
	assert_int_equal(vt_x509_verify_chain(g_plat, NULL, g_root, g_now, &err), VT_OK);
}

static void test_keys_repair(void **state)
{
	(void)state;
	struct vt_err err = {0};
	char *dir = vt_test_tmpdir();
	assert_non_null(dir);
	char sub[4096], p[4096];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	assert_int_equal(vt_sim_ensure_keys(sub, &err), VT_OK); /* creates missing directories */
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* A lost platform certificate is recreated under the same root. */
	X509 *root1 = load_cert(sub, VT_SIM_ROOT_CERT_FILE);
	path_in(p, sizeof(p), sub, VT_SIM_PLATFORM_CERT_FILE);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(vt_sim_ensure_keys(sub, &err), VT_OK);
	X509 *plat = load_cert(sub, VT_SIM_PLATFORM_CERT_FILE);
	X509 *root2 = load_cert(sub, VT_SIM_ROOT_CERT_FILE);
	assert_int_equal(X509_cmp(root1, root2), 0);
	int64_t now = asn1_to_epoch(X509_get0_notBefore(plat)) + 60;
	assert_int_equal(vt_x509_verify_chain(plat, NULL, root1, now, &err), VT_OK);
	json_t *ev = NULL, *claims = NULL;
	assert_int_equal(vt_sim_attest(sub, NULL, g_rd, &ev, &err), VT_OK);
	assert_int_equal(verify_ev(ev, root1, now, g_rd, 64, &claims, &err), VT_OK);
	json_decref(claims);
	json_decref(ev);
	/* A platform key that does not match platform.pem is refused. */
	char rk[4096];
	uint8_t *kb = NULL;
	size_t kn = 0;
	path_in(rk, sizeof(rk), sub, VT_SIM_ROOT_KEY_FILE);
	assert_int_equal(vt_file_read(rk, 1 << 16, &kb, &kn, &err), VT_OK);
	path_in(p, sizeof(p), sub, VT_SIM_PLATFORM_KEY_FILE);
	assert_int_equal(vt_file_write(p, kb, kn, 0600, &err), VT_OK);
	vt_wipe(kb, kn);
	free(kb);
	ev = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_sim_attest(sub, NULL, g_rd, &ev, &err), VT_E_USAGE);
	assert_err(&err, VT_E_USAGE, VT_STEP_CONFIG);
	assert_null(ev);
	X509_free(plat);
	X509_free(root1);
	X509_free(root2);
	rm_flat_dir(sub);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	rmdir(sub);
	rmdir(dir);
	free(dir);
}

/* Several processes doing first use at once end with one consistent set. */
static void test_keys_concurrent(void **state)
{
	(void)state;
	char *dir = vt_test_tmpdir();
	assert_non_null(dir);
	enum { N = 4 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct vt_err err = {0};
			json_t *ev = NULL;
			vt_status rc = vt_sim_attest(dir, NULL, g_rd, &ev, &err);
			json_decref(ev);
			_exit(rc == VT_OK ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st = 0;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	X509 *root = load_cert(dir, VT_SIM_ROOT_CERT_FILE);
	X509 *plat = load_cert(dir, VT_SIM_PLATFORM_CERT_FILE);
	int64_t now = asn1_to_epoch(X509_get0_notBefore(plat)) + 60;
	struct vt_err err = {0};
	json_t *ev = NULL, *claims = NULL;
	assert_int_equal(vt_sim_attest(dir, NULL, g_rd, &ev, &err), VT_OK);
	assert_int_equal(verify_ev(ev, root, now, g_rd, 64, &claims, &err), VT_OK);
	json_decref(claims);
	json_decref(ev);
	X509_free(root);
	X509_free(plat);
	rm_flat_dir(dir);
	free(dir);
}

/* ------------------------------------------------------------------ round trip */

static void test_round_trip(void **state)
{
	(void)state;
	json_t *ev = make_evidence(g_report, sizeof(g_report), g_cert_b64);
	json_t *claims = NULL;
	struct vt_err err;
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, sizeof(g_rd), &claims, &err), VT_OK);
	assert_non_null(claims);

	uint8_t pid[32], fp[32];
	assert_int_equal(vt_sim_platform_id(g_plat, pid, &err), VT_OK);
	assert_int_equal(vt_x509_fingerprint_sha256(g_plat, fp, &err), VT_OK);
	char *mh = hex(g_opts.measurement, 48), *rh = hex(g_rd, 64), *ph = hex(pid, 32), *fh = hex(fp, 32);

	assert_int_equal(json_object_size(claims), 9);
	assert_int_equal(json_integer_value(json_object_get(claims, "version")), 1);
	/* a version 1 report has no init-data field: it reads as zeros */
	assert_string_equal(json_string_value(json_object_get(claims, "init_data")),
			    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(json_integer_value(json_object_get(claims, "svn")), 7);
	assert_true(json_is_false(json_object_get(claims, "debug")));
	assert_true(json_is_true(json_object_get(claims, "insecure")));
	assert_string_equal(json_string_value(json_object_get(claims, "measurement")), mh);
	assert_string_equal(json_string_value(json_object_get(claims, "report_data")), rh);
	assert_string_equal(json_string_value(json_object_get(claims, "platform_id")), ph);
	assert_string_equal(json_string_value(json_object_get(claims, "platform_cert_sha256")), fh);
	free(mh);
	free(rh);
	free(ph);
	free(fh);
	json_decref(claims);

	/* No binding given: verified, nothing checked about report data. */
	claims = NULL;
	struct vt_verify_ctx ctx = {.now = g_now, .sim_root_insecure = g_root};
	vt_err_clear(&err);
	assert_int_equal(vt_tee_sim.verify(&ctx, ev, NULL, &claims, &err), VT_OK);
	json_decref(claims);
	json_decref(ev);

	/* registry flags */
	assert_string_equal(vt_tee_sim.name, "sim");
	assert_true(vt_tee_sim.insecure);
}

static void test_default_opts(void **state)
{
	(void)state;
	struct vt_sim_attest_opts o;
	uint8_t want[EVP_MAX_MD_SIZE];
	size_t n = 0;
	struct vt_err err = {0};
	static const char s[] = "veritee sim default workload";
	assert_int_equal(vt_digest(EVP_sha384(), s, strlen(s), want, &n, &err), VT_OK);
	assert_int_equal(n, 48);
	vt_sim_attest_opts_default(&o);
	assert_memory_equal(o.measurement, want, 48);
	assert_int_equal(o.svn, 1);
	assert_false(o.debug);
}

static void test_debug_and_parse_fields(void **state)
{
	(void)state;
	struct vt_sim_attest_opts o = g_opts;
	o.debug = true;
	o.svn = 0xfffffffeu;
	json_t *ev = NULL, *claims = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_sim_attest(g_dir, &o, g_rd, &ev, &err), VT_OK);
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, 64, &claims, &err), VT_OK);
	assert_true(json_is_true(json_object_get(claims, "debug")));
	assert_int_equal(json_integer_value(json_object_get(claims, "svn")), 0xfffffffeLL);
	json_decref(claims);

	/* The parsed struct matches what was put in, and serializes back. */
	const char *rb = json_string_value(json_object_get(ev, "report"));
	uint8_t *raw = NULL;
	size_t raw_size = 0;
	assert_int_equal(vt_b64_decode(rb, strlen(rb), &raw, &raw_size, &err), VT_OK);
	struct vt_sim_report r;
	assert_int_equal(vt_sim_report_parse(raw, raw_size, &r, &err), VT_OK);
	assert_int_equal(r.version, 1);
	assert_int_equal(r.flags, VT_SIM_FLAG_DEBUG);
	assert_int_equal(r.svn, 0xfffffffeu);
	assert_memory_equal(r.measurement, o.measurement, 48);
	assert_memory_equal(r.report_data, g_rd, 64);
	assert_memory_equal(raw, "VTSM", 4);
	uint8_t again[VT_SIM_REPORT_SIZE];
	vt_sim_report_serialize(&r, again);
	assert_memory_equal(again, raw, VT_SIM_REPORT_SIZE);
	free(raw);
	json_decref(ev);
}

/* ------------------------------------------------------------------ exhaustive flips */

/* Which step a one-byte change at `off` (XOR `mask`) must fail in. */
static vt_step flip_step(size_t off, uint8_t mask)
{
	if (off < 4) /* magic */
		return VT_STEP_PARSE;
	if (off < 6) /* version */
		return VT_STEP_PARSE;
	if (off == 6) /* flags low byte: bit 0 is debug (signed), others unknown */
		return (mask & 0xfe) ? VT_STEP_PARSE : VT_STEP_SIGNATURE;
	if (off == 7) /* flags high byte: all unknown */
		return VT_STEP_PARSE;
	if (off < 12) /* svn */
		return VT_STEP_SIGNATURE;
	if (off < 16) /* reserved */
		return VT_STEP_PARSE;
	return VT_STEP_SIGNATURE; /* signed body (incl. report_data, platform_id) and the signature */
}

static void test_exhaustive_flips(void **state)
{
	(void)state;
	size_t cases = 0, rejected = 0;
	uint8_t buf[VT_SIM_REPORT_SIZE];
	for (size_t off = 0; off < VT_SIM_REPORT_SIZE; off++) {
		for (int k = 0; k < 9; k++) {
			uint8_t mask = k == 8 ? 0xff : (uint8_t)(1u << k);
			memcpy(buf, g_report, sizeof(buf));
			buf[off] ^= mask;
			cases++;
			json_t *ev = make_evidence(buf, sizeof(buf), g_cert_b64);
			json_t *claims = NULL;
			struct vt_err err;
			vt_status rc = verify_ev(ev, g_root, g_now, g_rd, sizeof(g_rd), &claims, &err);
			json_decref(ev);
			if (rc == VT_OK) {
				json_decref(claims);
				fail_msg("flip at offset %zu mask 0x%02x accepted", off, mask);
			}
			vt_step want = flip_step(off, mask);
			vt_status want_code = want == VT_STEP_PARSE ? VT_E_PARSE : VT_E_REJECTED;
			if (err.code != want_code || err.step != want)
				fail_msg("flip at offset %zu mask 0x%02x: %s/%s (%s: %s), want %s/%s", off, mask,
					 vt_status_name(err.code), vt_step_name(err.step), err.field, err.detail,
					 vt_status_name(want_code), vt_step_name(want));
			rejected++;
		}
	}
	assert_int_equal(cases, 2304);
	assert_int_equal(rejected, cases);
}

/* ------------------------------------------------------------------ negatives: parse */

static void test_truncated(void **state)
{
	(void)state;
	for (size_t n = 0; n < VT_SIM_REPORT_SIZE; n++) {
		struct vt_sim_report r;
		struct vt_err err = {0};
		assert_int_equal(vt_sim_report_parse(g_report, n, &r, &err), VT_E_PARSE);
		assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
		expect_report_fails(g_report, n, VT_E_PARSE, VT_STEP_PARSE, "report");
	}
}

static void test_oversized(void **state)
{
	(void)state;
	uint8_t big[VT_SIM_REPORT_SIZE + 1];
	memcpy(big, g_report, VT_SIM_REPORT_SIZE);
	big[VT_SIM_REPORT_SIZE] = 0;
	struct vt_sim_report r;
	struct vt_err err = {0};
	assert_int_equal(vt_sim_report_parse(big, sizeof(big), &r, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	expect_report_fails(big, sizeof(big), VT_E_PARSE, VT_STEP_PARSE, "report");
}

static void test_bad_header_fields(void **state)
{
	(void)state;
	uint8_t buf[VT_SIM_REPORT_SIZE];
	struct vt_sim_report r;
	struct vt_err err;

	memcpy(buf, g_report, sizeof(buf));
	memcpy(buf, "VTSN", 4);
	resign(buf); /* correctly signed, still malformed */
	vt_err_clear(&err);
	assert_int_equal(vt_sim_report_parse(buf, sizeof(buf), &r, &err), VT_E_PARSE);
	assert_string_equal(err.field, "report.magic");
	expect_report_fails(buf, sizeof(buf), VT_E_PARSE, VT_STEP_PARSE, "report.magic");

	memcpy(buf, g_report, sizeof(buf));
	buf[4] = 2;
	resign(buf);
	vt_err_clear(&err);
	assert_int_equal(vt_sim_report_parse(buf, sizeof(buf), &r, &err), VT_E_PARSE);
	assert_string_equal(err.field, "report.version");
	assert_non_null(strstr(err.detail, "2"));
	expect_report_fails(buf, sizeof(buf), VT_E_PARSE, VT_STEP_PARSE, "report.version");

	for (int bit = 1; bit < 16; bit++) {
		memcpy(buf, g_report, sizeof(buf));
		buf[6 + bit / 8] |= (uint8_t)(1u << (bit % 8));
		resign(buf);
		expect_report_fails(buf, sizeof(buf), VT_E_PARSE, VT_STEP_PARSE, "report.flags");
	}

	memcpy(buf, g_report, sizeof(buf));
	buf[15] = 0x80;
	resign(buf);
	expect_report_fails(buf, sizeof(buf), VT_E_PARSE, VT_STEP_PARSE, "report.reserved");

	/* a failed parse leaves *out untouched */
	memset(&r, 0x5a, sizeof(r));
	struct vt_sim_report same;
	memset(&same, 0x5a, sizeof(same));
	assert_int_equal(vt_sim_report_parse(buf, sizeof(buf), &r, NULL), VT_E_PARSE);
	assert_memory_equal(&r, &same, sizeof(r));
}

static void expect_ev_parse_error(json_t *ev, const char *field)
{
	json_t *claims = NULL;
	struct vt_err err;
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, 64, &claims, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	if (field != NULL)
		assert_string_equal(err.field, field);
	json_decref(ev);
}

static void test_bad_json(void **state)
{
	(void)state;
	char *rb = vt_b64_encode(g_report, sizeof(g_report));
	assert_non_null(rb);
	size_t rl = strlen(rb);

	/* bad base64: invalid character, missing padding, non-canonical bits, whitespace */
	char *bad = strdup(rb);
	bad[10] = '*';
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", bad, "platform_cert", g_cert_b64), "report");
	strcpy(bad, rb);
	bad[rl - 1] = '\0'; /* drop the '=' */
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", bad, "platform_cert", g_cert_b64), "report");
	strcpy(bad, rb);
	bad[rl - 2] = bad[rl - 2] == 'B' ? 'C' : 'B'; /* last data char: low bits set */
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", bad, "platform_cert", g_cert_b64), NULL);
	strcpy(bad, rb);
	bad[0] = ' ';
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", bad, "platform_cert", g_cert_b64), "report");
	free(bad);
	char *cb = strdup(g_cert_b64);
	cb[5] = '-';
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", rb, "platform_cert", cb), "platform_cert");
	free(cb);
	/* url-safe alphabet / no padding is not the standard encoding */
	char *ub = vt_b64url_encode(g_report, sizeof(g_report));
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", ub, "platform_cert", g_cert_b64), "report");
	free(ub);

	/* members: extra, missing, wrong type, not an object */
	expect_ev_parse_error(json_pack("{s:s, s:s, s:i}", "report", rb, "platform_cert", g_cert_b64, "extra", 1),
			      "evidence");
	expect_ev_parse_error(json_pack("{s:s}", "report", rb), "platform_cert");
	expect_ev_parse_error(json_pack("{s:s}", "platform_cert", g_cert_b64), "report");
	expect_ev_parse_error(json_pack("{s:i, s:s}", "report", 5, "platform_cert", g_cert_b64), "report");
	expect_ev_parse_error(json_pack("{s:s, s:n}", "report", rb, "platform_cert"), "platform_cert");
	expect_ev_parse_error(json_pack("[s, s]", rb, g_cert_b64), "evidence");
	expect_ev_parse_error(json_pack("{}"), NULL);

	/* certificate: not DER, trailing bytes, PEM inside the base64 */
	uint8_t junk[40];
	memset(junk, 0x30, sizeof(junk));
	char *jb = vt_b64_encode(junk, sizeof(junk));
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", rb, "platform_cert", jb), "platform_cert");
	free(jb);
	uint8_t *der = NULL;
	int der_size = i2d_X509(g_plat, &der);
	assert_true(der_size > 0);
	uint8_t *der2 = malloc((size_t)der_size + 1);
	memcpy(der2, der, (size_t)der_size);
	der2[der_size] = 0;
	char *tb = vt_b64_encode(der2, (size_t)der_size + 1);
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", rb, "platform_cert", tb), "platform_cert");
	free(tb);
	free(der2);
	OPENSSL_free(der);
	char p[4096];
	uint8_t *pem = NULL;
	size_t pem_size = 0;
	struct vt_err err = {0};
	path_in(p, sizeof(p), g_dir, VT_SIM_PLATFORM_CERT_FILE);
	assert_int_equal(vt_file_read(p, 1 << 16, &pem, &pem_size, &err), VT_OK);
	char *pb = vt_b64_encode(pem, pem_size);
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", rb, "platform_cert", pb), "platform_cert");
	free(pb);
	free(pem);
	expect_ev_parse_error(json_pack("{s:s, s:s}", "report", rb, "platform_cert", ""), "platform_cert");
	free(rb);
}

/* ------------------------------------------------------------------ negatives: chain */

static void test_chain(void **state)
{
	(void)state;
	json_t *ev = make_evidence(g_report, sizeof(g_report), g_cert_b64);
	json_t *claims = NULL;
	struct vt_err err;

	/* no sim root configured */
	assert_int_equal(verify_ev(ev, NULL, g_now, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_string_equal(err.detail, "sim evidence refused: no sim root configured (tees.sim.root)");

	/* before notBefore, after notAfter */
	int64_t nb = asn1_to_epoch(X509_get0_notBefore(g_plat)), na = asn1_to_epoch(X509_get0_notAfter(g_plat));
	assert_int_equal(verify_ev(ev, g_root, nb - 86400, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_int_equal(verify_ev(ev, g_root, na + 86400, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_int_equal(verify_ev(ev, g_root, na - 86400, g_rd, 64, &claims, &err), VT_OK);
	json_decref(claims);

	/* the platform certificate as root: not its issuer */
	assert_int_equal(verify_ev(ev, g_plat, g_now, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	json_decref(ev);

	/* evidence from another sim root (same names, different keys) */
	char *other = vt_test_tmpdir();
	assert_non_null(other);
	json_t *ev2 = NULL;
	assert_int_equal(vt_sim_attest(other, NULL, g_rd, &ev2, &err), VT_OK);
	assert_int_equal(verify_ev(ev2, g_root, g_now, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	/* and with its own root it passes */
	X509 *oroot = load_cert(other, VT_SIM_ROOT_CERT_FILE);
	X509 *oplat = load_cert(other, VT_SIM_PLATFORM_CERT_FILE);
	int64_t onow = asn1_to_epoch(X509_get0_notBefore(oplat)) + 60;
	assert_int_equal(verify_ev(ev2, oroot, onow, g_rd, 64, &claims, &err), VT_OK);
	json_decref(claims);

	/* our report with the other platform's certificate: chain first */
	json_t *mixed = make_evidence(g_report, sizeof(g_report),
				      json_string_value(json_object_get(ev2, "platform_cert")));
	assert_int_equal(verify_ev(mixed, g_root, g_now, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	/* ... and under the other root: the signature does not match */
	assert_int_equal(verify_ev(mixed, oroot, onow, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	json_decref(mixed);

	/* the root certificate presented as the platform certificate */
	uint8_t *der = NULL;
	int der_size = i2d_X509(g_root, &der);
	assert_true(der_size > 0);
	char *rootb = vt_b64_encode(der, (size_t)der_size);
	OPENSSL_free(der);
	json_t *asroot = make_evidence(g_report, sizeof(g_report), rootb);
	assert_int_equal(verify_ev(asroot, g_root, g_now, g_rd, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	json_decref(asroot);
	free(rootb);

	X509_free(oroot);
	X509_free(oplat);
	json_decref(ev2);
	rm_flat_dir(other);
	free(other);
}

/* ------------------------------------------------------------------ negatives: binding */

static void test_binding(void **state)
{
	(void)state;
	json_t *ev = make_evidence(g_report, sizeof(g_report), g_cert_b64);
	json_t *claims = NULL;
	struct vt_err err;

	uint8_t other[64];
	memcpy(other, g_rd, 64);
	other[63] ^= 1;
	assert_int_equal(verify_ev(ev, g_root, g_now, other, 64, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "report.report_data");
	char *eh = hex(other, 64), *sh = hex(g_rd, 64);
	assert_non_null(strstr(err.detail, eh));
	assert_non_null(strstr(err.detail, sh));
	free(eh);
	free(sh);

	/* a prefix of the real report data is not enough: the rest must be zero */
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, 32, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	/* empty binding = 64 zero bytes expected */
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, 0, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);

	uint8_t big[65];
	memset(big, 0, sizeof(big));
	assert_int_equal(verify_ev(ev, g_root, g_now, big, 65, &claims, &err), VT_E_USAGE);
	assert_err(&err, VT_E_USAGE, VT_STEP_BINDING);
	json_decref(ev);

	/* 32-byte binding, zero padded by the attester caller */
	uint8_t rd[64];
	memset(rd, 0, sizeof(rd));
	for (size_t i = 0; i < 32; i++)
		rd[i] = (uint8_t)(i * 7 + 1);
	json_t *ev32 = NULL;
	assert_int_equal(vt_sim_attest(g_dir, &g_opts, rd, &ev32, &err), VT_OK);
	assert_int_equal(verify_ev(ev32, g_root, g_now, rd, 32, &claims, &err), VT_OK);
	char *rh = hex(rd, 64);
	assert_string_equal(json_string_value(json_object_get(claims, "report_data")), rh);
	free(rh);
	json_decref(claims);
	assert_int_equal(verify_ev(ev32, g_root, g_now, rd, 64, &claims, &err), VT_OK);
	json_decref(claims);
	assert_int_equal(verify_ev(ev32, g_root, g_now, rd, 33, &claims, &err), VT_OK); /* 33rd byte is zero */
	json_decref(claims);
	assert_int_equal(verify_ev(ev32, g_root, g_now, rd, 31, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	json_decref(ev32);
}

static void test_platform_id_forged(void **state)
{
	(void)state;
	struct vt_sim_report r;
	struct vt_err err = {0};
	assert_int_equal(vt_sim_report_parse(g_report, sizeof(g_report), &r, &err), VT_OK);
	r.platform_id[0] ^= 0x01;
	uint8_t buf[VT_SIM_REPORT_SIZE];
	vt_sim_report_serialize(&r, buf);
	resign(buf); /* the right key signs a report naming another platform */
	expect_report_fails(buf, sizeof(buf), VT_E_REJECTED, VT_STEP_BINDING, "report.platform_id");
	/* checked even when the caller gives no report-data binding */
	json_t *ev = make_evidence(buf, sizeof(buf), g_cert_b64), *claims = NULL;
	assert_int_equal(verify_ev(ev, g_root, g_now, NULL, 0, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	json_decref(ev);

	/* re-signed untouched body is accepted (the check above is the only defect) */
	vt_sim_report_serialize(&r, buf);
	memcpy(buf + 128, g_report + 128, 32);
	resign(buf);
	ev = make_evidence(buf, sizeof(buf), g_cert_b64);
	assert_int_equal(verify_ev(ev, g_root, g_now, g_rd, 64, &claims, &err), VT_OK);
	json_decref(claims);
	json_decref(ev);
}

static void test_attest_args(void **state)
{
	(void)state;
	json_t *ev = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_sim_attest(g_dir, NULL, NULL, &ev, &err), VT_E_USAGE);
	assert_null(ev);
	vt_err_clear(&err);
	assert_int_equal(vt_sim_ensure_keys(NULL, &err), VT_E_USAGE);
	vt_err_clear(&err);
	/* a directory path that is a regular file */
	char p[4096];
	path_in(p, sizeof(p), g_dir, VT_SIM_ROOT_CERT_FILE);
	assert_int_not_equal(vt_sim_ensure_keys(p, &err), VT_OK);
	struct vt_verify_ctx ctx = {.now = g_now, .sim_root_insecure = g_root};
	json_t *claims = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_tee_sim.verify(&ctx, NULL, NULL, &claims, &err), VT_E_USAGE);
}

/* ------------------------------------------------------------------ registry */

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(vt_tee_find("sim"), &vt_tee_sim);
	assert_null(vt_tee_find("SIM"));
	assert_null(vt_tee_find("snp-unknown"));
	assert_null(vt_tee_find(""));
	assert_null(vt_tee_find(NULL));
	assert_non_null(strstr(vt_tee_names(), "sim"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_files),
		cmocka_unit_test(test_keys_certs),
		cmocka_unit_test(test_keys_repair),
		cmocka_unit_test(test_keys_concurrent),
		cmocka_unit_test(test_default_opts),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_debug_and_parse_fields),
		cmocka_unit_test(test_exhaustive_flips),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_bad_header_fields),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_platform_id_forged),
		cmocka_unit_test(test_attest_args),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests_name("sim", tests, group_setup, group_teardown);
}
