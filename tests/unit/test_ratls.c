/*
 * Unit tests for attested TLS (veritee/ratls.h): the real RA-TLS
 * certificates of ../shared/vectors/ratls against their README's ground
 * truth, byte flips over their signed parts, sim certificates made here
 * (every key type and hash, nonce, negatives named by step), the CBOR /
 * DER parsers' negatives, and OpenSSL handshakes over a BIO pair (server
 * RA-TLS, fresh nonce, mutual).
 */
#include "testutil.h"

#include <dirent.h>

#include <cbor.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/attester.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/policy.h"
#include "veritee/ratls.h"
#include "veritee/sim.h"
#include "veritee/verifier.h"

#define NEED_VECTORS()                                                                                                 \
	const char *vdir = vt_test_vectors_dir();                                                                      \
	if (vdir == NULL) {                                                                                            \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n");                                                  \
		skip();                                                                                                \
	}

/* The README's fixed "now" for the three certificates. */
#define T2025 "2025-01-01T00:00:00Z"

static char *g_dir, *g_dir2;	       /* two sim key directories (two roots) */
static struct vt_verifier *g_v;	       /* sim (root of g_dir) + sgx without collateral */
static struct vt_verifier *g_v_nosim;  /* sgx only */
static struct vt_verifier *g_v_strict; /* sim + sgx needing collateral */
static json_t *g_attest;	       /* {"sim_dir": g_dir} */
static json_t *g_attest2;	       /* {"sim_dir": g_dir2} */
static EVP_PKEY *g_key;		       /* P-256 */
static ASN1_OBJECT *g_cmw_oid;	       /* 1.3.6.1.5.5.7.1.35 */
static X509 *g_cert;		       /* sim RA-TLS certificate for g_key */

/* ------------------------------------------------------------------ helpers */

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		char p[4096];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static struct vt_verifier *verifier(const char *sim_root_dir, bool tcb_unevaluated)
{
	json_t *tees = json_object();
	if (sim_root_dir) {
		char root[4096];
		snprintf(root, sizeof(root), "%s/" VT_SIM_ROOT_CERT_FILE, sim_root_dir);
		json_object_set_new(tees, "sim", json_pack("{s:s}", "root", root));
	}
	json_object_set_new(tees, "sgx",
			    tcb_unevaluated ? json_pack("{s:b}", "tcb_unevaluated_insecure", 1)
					    : json_pack("{s:b}", "offline", 1));
	json_object_set_new(tees, "tdx",
			    tcb_unevaluated ? json_pack("{s:b}", "tcb_unevaluated_insecure", 1)
					    : json_pack("{s:b}", "offline", 1));
	struct vt_verifier_settings s = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *v = NULL;
	struct vt_err e = {0};
	vt_status rc = vt_verifier_new(&s, &v, &e);
	if (rc != VT_OK)
		printf("# verifier: %s\n", e.detail);
	assert_int_equal(rc, VT_OK);
	json_decref(tees);
	return v;
}

static int group_setup(void **state)
{
	(void)state;
	g_dir = vt_test_tmpdir();
	g_dir2 = vt_test_tmpdir();
	assert_non_null(g_dir);
	assert_non_null(g_dir2);
	struct vt_err e = {0};
	assert_int_equal(vt_sim_ensure_keys(g_dir, &e), VT_OK);
	assert_int_equal(vt_sim_ensure_keys(g_dir2, &e), VT_OK);
	g_v = verifier(g_dir, true);
	g_v_nosim = verifier(NULL, true);
	g_v_strict = verifier(g_dir, false);
	g_attest = json_pack("{s:s}", "sim_dir", g_dir);
	g_cmw_oid = OBJ_txt2obj(VT_RATLS_OID_CMW, 1);
	g_attest2 = json_pack("{s:s}", "sim_dir", g_dir2);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &g_key, &e), VT_OK);
	struct vt_ratls_cert_opts o = {.tee = "sim"};
	assert_int_equal(vt_ratls_cert_new(g_key, &o, g_attest, &g_cert, &e), VT_OK);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(g_cert);
	EVP_PKEY_free(g_key);
	ASN1_OBJECT_free(g_cmw_oid);
	json_decref(g_attest);
	json_decref(g_attest2);
	vt_verifier_free(g_v);
	vt_verifier_free(g_v_nosim);
	vt_verifier_free(g_v_strict);
	rm_tree(g_dir);
	rm_tree(g_dir2);
	free(g_dir);
	free(g_dir2);
	return 0;
}

static int64_t t_of(const char *s)
{
	int64_t t = 0;
	assert_int_equal(vt_time_parse_rfc3339(s, &t, NULL), VT_OK);
	return t;
}

static uint8_t *read_vec(const char *vdir, const char *name, size_t *n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/ratls/%s", vdir, name);
	uint8_t *b = NULL;
	assert_int_equal(vt_file_read(p, VT_RATLS_MAX_CERT, &b, n, NULL), VT_OK);
	return b;
}

static const char *rstr(const json_t *rep, const char *k)
{
	const char *s = json_string_value(json_object_get(rep, k));
	return s ? s : "";
}

/* Verify and expect the step it stops at ("" = verified). */
static json_t *expect(const struct vt_ratls_verify_opts *o, X509 *cert, const char *step)
{
	json_t *rep = NULL;
	struct vt_err e = {0};
	vt_status rc = vt_ratls_verify_cert(o, cert, &rep, &e);
	assert_non_null(rep);
	if (strcmp(vt_ratls_report_step(rep), step) != 0 || (rc == VT_OK) != (step[0] == '\0')) {
		char *s = json_dumps(rep, JSON_INDENT(1));
		printf("# want step \"%s\", report: %s\n", step, s);
		free(s);
	}
	assert_string_equal(vt_ratls_report_step(rep), step);
	assert_int_equal(rc == VT_OK, step[0] == '\0');
	assert_int_equal(json_is_true(json_object_get(rep, "verified")), step[0] == '\0');
	return rep;
}

static struct vt_ratls_verify_opts opts(struct vt_verifier *v)
{
	return (struct vt_ratls_verify_opts){.verifier = v, .allow_legacy = true};
}

/* --------------------------------------------------------- real certificates */

static void check_vector(const char *vdir, const char *name, const char *format, const char *mr_enclave,
			 const char *pubkey_hash)
{
	size_t n = 0;
	uint8_t *b = read_vec(vdir, name, &n);
	struct vt_ratls_verify_opts o = opts(g_v);
	o.at = t_of(T2025);
	json_t *rep = NULL;
	struct vt_err e = {0};
	vt_status rc = vt_ratls_verify_bytes(&o, b, n, &rep, &e);
	if (rc != VT_OK)
		printf("# %s: %s %s\n", name, vt_ratls_report_step(rep), rstr(rep, "error"));
	assert_int_equal(rc, VT_OK);
	assert_string_equal(rstr(rep, "format"), format);
	assert_string_equal(rstr(rep, "tee"), "sgx");
	assert_string_equal(rstr(rep, "self_signature"), "ok");
	assert_string_equal(rstr(rep, "validity"), "ok");
	assert_string_equal(rstr(rep, "key_binding"), "ok");
	assert_string_equal(rstr(rep, "evidence"), "ok");
	assert_string_equal(rstr(rep, "tcb_status"), "not evaluated (no collateral)");
	const json_t *claims = json_object_get(rep, "claims");
	assert_string_equal(json_string_value(json_object_get(json_object_get(claims, "body"), "mr_enclave")),
			    mr_enclave);
	assert_string_equal(json_string_value(json_object_get(claims, "tcb_status")), "NotEvaluated");
	if (pubkey_hash) {
		const json_t *ph = json_object_get(rep, "pubkey_hash");
		assert_string_equal(json_string_value(json_object_get(ph, "alg")), "sha-256");
		assert_string_equal(json_string_value(json_object_get(ph, "value")), pubkey_hash);
		/* README: pubkey-hash == SHA-256(SPKI DER of this cert) */
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(rep, "certificate"), "spki_sha256")),
			pubkey_hash);
	}
	printf("# %s: %s, mr_enclave %.16s..., %s\n", name, format, mr_enclave, rstr(rep, "key_binding_rule"));
	json_decref(rep);
	free(b);
}

static void test_vectors_verify(void **state)
{
	(void)state;
	NEED_VECTORS();
	check_vector(vdir, "ccc_gramine_ratls_cert.pem", "tcg-dice",
		     "0866e7ca11b9f4efe4bf39b2607f4e1299f111920d96d95719080f01b62b7585",
		     "5a5a5b2d177433048e9d62409d1acc4ec526c06e294d09e69a36cff9369e4851");
	check_vector(vdir, "ccc_intel_sgxsdk_ratls_cert.pem", "tcg-dice",
		     "09e218a4be9dadbf7cdc82c45497d6d4f676d3b75445fc37a376f0b65b47de6a",
		     "f306ed602985371e3b485102db1fcdd4f4738329ce58b2f8d1c5d2cc79752026");
	check_vector(vdir, "rats-tls_legacy_enclave_tls_cert.pem", "legacy-quote",
		     "144e81488fc3d59ddbe69b03bd939a3b938d85b6a7c9897e2b09808ade956574", NULL);
}

/* The README's other facts: the legacy extension of the Gramine cert, the
 * rats-tls binding rule, and what fails when. */
static void test_vectors_details(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0;
	uint8_t *b = read_vec(vdir, "ccc_gramine_ratls_cert.pem", &n);
	X509 *g = NULL;
	assert_int_equal(vt_x509_from_bytes(b, n, &g, NULL), VT_OK);
	free(b);
	struct vt_ratls_evidence ev;
	assert_int_equal(vt_ratls_evidence_from_cert(g, &ev, NULL), VT_OK);
	assert_int_equal(ev.format, VT_RATLS_FORMAT_TCG_DICE);
	assert_int_equal(ev.cbor_tag, 60000);
	assert_false(ev.critical);
	assert_int_equal(ev.evidence_size, 4734);
	assert_int_equal(ev.claims_buffer_size, 51);
	assert_null(ev.nonce);
	assert_non_null(strstr(ev.others, "legacy-quote"));
	vt_ratls_evidence_free(&ev);

	struct vt_ratls_verify_opts o = opts(g_v);
	o.at = t_of("2031-01-01T00:00:00Z"); /* past notAfter 2030-12-31 */
	json_decref(expect(&o, g, "validity"));
	o.at = t_of("2000-06-01T00:00:00Z"); /* before notBefore 2001-01-01 */
	json_decref(expect(&o, g, "validity"));
	o.at = t_of("2030-06-01T00:00:00Z"); /* the certificate is valid, the PCK chain (to 2029-11-26) is not */
	json_t *rep = expect(&o, g, "evidence");
	assert_non_null(strstr(rstr(rep, "error"), "certificate chain: certificate has expired"));
	json_decref(rep);
	/* without collateral and without tcb_unevaluated_insecure: fail closed */
	o = opts(g_v_strict);
	o.at = t_of(T2025);
	rep = expect(&o, g, "evidence");
	assert_non_null(strstr(rstr(rep, "error"), "collateral"));
	json_decref(rep);
	/* a verifier without sgx: refused at evidence */
	struct vt_verifier *simonly = NULL;
	struct vt_verifier_settings vs = {.tees = json_object(), .flags = VT_VERIFIER_ONLY_NAMED};
	assert_int_equal(vt_verifier_new(&vs, &simonly, NULL), VT_OK);
	o = opts(simonly);
	o.at = t_of(T2025);
	json_decref(expect(&o, g, "evidence"));
	vt_verifier_free(simonly);
	json_decref((json_t *)vs.tees);
	X509_free(g);

	/* rats-tls: SHA-256 of the PKCS#1 RSAPublicKey; refused when legacy formats are off */
	b = read_vec(vdir, "rats-tls_legacy_enclave_tls_cert.pem", &n);
	X509 *r = NULL;
	assert_int_equal(vt_x509_from_bytes(b, n, &r, NULL), VT_OK);
	free(b);
	o = opts(g_v);
	o.at = t_of(T2025);
	rep = expect(&o, r, "");
	assert_non_null(strstr(rstr(rep, "key_binding_rule"), "rats-tls"));
	assert_string_equal(rstr(rep, "extension_oid"), VT_RATLS_OID_LEGACY_QUOTE);
	json_decref(rep);
	o.allow_legacy = false;
	json_decref(expect(&o, r, "key_binding"));
	X509_free(r);
}

/* The SGX SDK certificate's legacy extension alone, in a certificate of
 * our own key (so the self-signature holds): its quote binds the TCG
 * claims-buffer, not a key, so it is refused at key_binding. */
static void test_sgxsdk_legacy_alone(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0;
	uint8_t *b = read_vec(vdir, "ccc_intel_sgxsdk_ratls_cert.pem", &n);
	X509 *x = NULL;
	assert_int_equal(vt_x509_from_bytes(b, n, &x, NULL), VT_OK);
	free(b);
	ASN1_OBJECT *sdk = OBJ_txt2obj(VT_RATLS_OID_SGXSDK_QUOTE, 1);
	int i = X509_get_ext_by_OBJ(x, sdk, -1);
	assert_true(i >= 0);
	X509 *y = X509_new();
	X509_set_version(y, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(y), 9);
	X509_set_subject_name(y, X509_get_subject_name(x));
	X509_set_issuer_name(y, X509_get_subject_name(x));
	X509_set1_notBefore(y, X509_get0_notBefore(x));
	X509_set1_notAfter(y, X509_get0_notAfter(x));
	X509_set_pubkey(y, g_key);
	assert_int_equal(X509_add_ext(y, X509_get_ext(x, i), -1), 1);
	assert_true(X509_sign(y, g_key, EVP_sha256()) > 0);
	struct vt_ratls_evidence ev;
	assert_int_equal(vt_ratls_evidence_from_cert(y, &ev, NULL), VT_OK);
	assert_int_equal(ev.format, VT_RATLS_FORMAT_SGXSDK_LEGACY);
	assert_string_equal(ev.tee, "sgx");
	vt_ratls_evidence_free(&ev);
	struct vt_ratls_verify_opts o = opts(g_v);
	o.at = t_of(T2025);
	json_t *rep = expect(&o, y, "key_binding");
	assert_non_null(strstr(rstr(rep, "key_binding"), "not the certificate key"));
	json_decref(rep);
	ASN1_OBJECT_free(sdk);
	X509_free(y);
	X509_free(x);
}

/* Flip bytes over each real certificate (its TBS and its signature): every
 * flip is refused, and we count at which step. */
static void test_vectors_byte_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const names[] = {"ccc_gramine_ratls_cert.pem", "ccc_intel_sgxsdk_ratls_cert.pem",
					    "rats-tls_legacy_enclave_tls_cert.pem"};
	struct vt_ratls_verify_opts o = opts(g_v);
	o.at = t_of(T2025);
	for (size_t k = 0; k < 3; k++) {
		size_t n = 0;
		uint8_t *b = read_vec(vdir, names[k], &n);
		X509 *x = NULL;
		assert_int_equal(vt_ratls_cert_parse(b, n, &x, NULL), VT_OK);
		free(b);
		unsigned char *der = NULL;
		int dn = i2d_X509(x, &der);
		assert_true(dn > 0);
		X509_free(x);
		assert_int_equal(vt_ratls_verify_bytes(&o, der, (size_t)dn, NULL, NULL), VT_OK); /* DER as is: fine */
		size_t flips = 0, at_parse = 0, at_sig = 0, other = 0;
		/* every 5th byte (a cert is ~10 KB), and every byte of the first 64 and last 128 */
		for (size_t i = 0; i < (size_t)dn; i++) {
			if (i % 5 != 0 && i >= 64 && i + 128 < (size_t)dn)
				continue;
			der[i] ^= 0x01;
			json_t *rep = NULL;
			vt_status rc = vt_ratls_verify_bytes(&o, der, (size_t)dn, &rep, NULL);
			der[i] ^= 0x01;
			if (rc == VT_OK)
				printf("# %s: flip at %zu verified!\n", names[k], i);
			assert_int_not_equal(rc, VT_OK);
			const char *step = vt_ratls_report_step(rep);
			flips++;
			if (strcmp(step, "parse") == 0)
				at_parse++;
			else if (strcmp(step, "self_signature") == 0)
				at_sig++;
			else
				other++;
			json_decref(rep);
		}
		printf("# %s: %zu flips refused (%zu at parse, %zu at self_signature, %zu later)\n", names[k], flips,
		       at_parse, at_sig, other);
		OPENSSL_free(der);
	}
}

/* A TDX certificate in the TCG DICE format, made here from a real v4 quote
 * whose report data we overwrite with SHA-256(claims-buffer): it parses,
 * binds the key (the quote's report data is checked before the evidence),
 * and fails at the quote signature (we changed signed bytes). */
struct tdx_quote {
	uint8_t *q;
	size_t n;
};

static vt_status fake_tdx_attest(void *ctx, const char *tee, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	(void)err;
	const struct tdx_quote *t = ctx;
	assert_string_equal(tee, "tdx");
	memcpy(t->q + 48 + 520, report_data, 64); /* TD report body: report_data at 520 (tdx-sgx-dcap.md) */
	char *b64 = vt_b64_encode(t->q, t->n);
	*evidence_out = json_pack("{s:s, s:n}", "quote", b64, "cc_eventlog");
	free(b64);
	return VT_OK;
}

static void test_tdx_tcg_dice(void **state)
{
	(void)state;
	NEED_VECTORS();
	char p[4096];
	snprintf(p, sizeof(p), "%s/tdx/trustee_v4_quote_50806f000000.dat", vdir);
	struct tdx_quote t = {0};
	assert_int_equal(vt_file_read(p, 1u << 20, &t.q, &t.n, NULL), VT_OK);
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &k, NULL), VT_OK);
	struct vt_ratls_cert_opts co = {.tee = "tdx",
					.pubkey_hash_alg = VT_RATLS_HASH_SHA384,
					.not_before = t_of("2023-06-30T00:00:00Z"),
					.not_after = t_of("2023-07-02T00:00:00Z")};
	X509 *x = NULL;
	assert_int_equal(vt_ratls_cert_build(k, &co, fake_tdx_attest, &t, &x, NULL), VT_OK);
	struct vt_ratls_evidence ev;
	assert_int_equal(vt_ratls_evidence_from_cert(x, &ev, NULL), VT_OK);
	assert_int_equal(ev.format, VT_RATLS_FORMAT_TCG_DICE);
	assert_string_equal(ev.tee, "tdx");
	assert_int_equal(ev.cbor_tag, VT_RATLS_TAG_INTEL_QUOTE);
	vt_ratls_evidence_free(&ev);
	struct vt_ratls_verify_opts o = opts(g_v);
	o.at = t_of("2023-07-01T00:00:00Z");
	json_t *rep = expect(&o, x, "evidence");
	assert_string_equal(rstr(rep, "key_binding"), "ok");
	assert_non_null(strstr(rstr(rep, "evidence"), "signature"));
	json_decref(rep);
	X509_free(x);
	EVP_PKEY_free(k);
	free(t.q);
}

/* ------------------------------------------------------------ sim certificates */

static X509 *sim_cert(EVP_PKEY *key, const struct vt_ratls_cert_opts *o, const json_t *attest)
{
	X509 *x = NULL;
	struct vt_err e = {0};
	vt_status rc = vt_ratls_cert_new(key, o, attest, &x, &e);
	if (rc != VT_OK)
		printf("# cert: %s %s\n", e.field, e.detail);
	assert_int_equal(rc, VT_OK);
	return x;
}

static void test_sim_round_trip(void **state)
{
	(void)state;
	static const vt_key_type kts[] = {VT_KEY_P256, VT_KEY_P384, VT_KEY_ED25519, VT_KEY_RSA3072};
	static const int algs[] = {VT_RATLS_HASH_SHA256, VT_RATLS_HASH_SHA384, VT_RATLS_HASH_SHA512};
	static const char *const alg_names[] = {"sha-256", "sha-384", "sha-512"};
	struct vt_ratls_verify_opts o = opts(g_v);
	for (size_t k = 0; k < sizeof(kts) / sizeof(kts[0]); k++) {
		EVP_PKEY *key = NULL;
		assert_int_equal(vt_key_generate(kts[k], &key, NULL), VT_OK);
		for (size_t a = 0; a < 3; a++) {
			struct vt_ratls_cert_opts co = {.tee = "sim", .pubkey_hash_alg = algs[a], .common_name = "t"};
			X509 *x = sim_cert(key, &co, g_attest);
			json_t *rep = expect(&o, x, "");
			assert_string_equal(rstr(rep, "format"), "cmw");
			assert_string_equal(rstr(rep, "extension_oid"), VT_RATLS_OID_CMW);
			assert_string_equal(rstr(rep, "tee"), "sim");
			assert_string_equal(
				json_string_value(json_object_get(json_object_get(rep, "pubkey_hash"), "alg")),
				alg_names[a]);
			assert_true(json_is_true(json_object_get(json_object_get(rep, "claims"), "insecure")));
			json_decref(rep);
			X509_free(x);
		}
		EVP_PKEY_free(key);
	}
}

static void test_sim_nonce(void **state)
{
	(void)state;
	uint8_t nonce[32], other[32];
	memset(nonce, 0xab, sizeof(nonce));
	memset(other, 0xcd, sizeof(other));
	struct vt_ratls_cert_opts co = {.tee = "sim", .nonce = nonce, .nonce_size = sizeof(nonce)};
	X509 *x = sim_cert(g_key, &co, g_attest);
	struct vt_ratls_verify_opts o = opts(g_v);
	json_t *rep = expect(&o, x, ""); /* no nonce asked for: fine */
	assert_string_equal(rstr(rep, "nonce"), "abababababababababababababababababababababababababababababababab");
	json_decref(rep);
	o.nonce = nonce;
	o.nonce_size = sizeof(nonce);
	json_decref(expect(&o, x, ""));
	o.nonce = other;
	json_decref(expect(&o, x, "freshness"));
	json_decref(expect(&o, g_cert, "freshness")); /* no nonce claim at all */
	X509_free(x);
}

/* A certificate from another sim root, a plain self-signed one, an SPKI that
 * is not the bound one, an expired one, one signed by another key: each
 * refused at its step. */
static void test_sim_negatives(void **state)
{
	(void)state;
	struct vt_ratls_verify_opts o = opts(g_v);
	struct vt_err e = {0};

	/* another sim root */
	struct vt_ratls_cert_opts co = {.tee = "sim"};
	X509 *x = sim_cert(g_key, &co, g_attest2);
	json_t *rep = expect(&o, x, "evidence");
	assert_non_null(strstr(rstr(rep, "error"), "chain"));
	json_decref(rep);
	X509_free(x);

	/* a verifier without the sim root */
	o = opts(g_v_nosim);
	json_decref(expect(&o, g_cert, "evidence"));
	o = opts(g_v);

	/* plain self-signed */
	x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"plain", -1, -1,
				   0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, g_key);
	assert_true(X509_sign(x, g_key, EVP_sha256()) > 0);
	rep = expect(&o, x, "parse");
	assert_non_null(strstr(rstr(rep, "error"), "no RA-TLS evidence extension"));
	json_decref(rep);

	/* SPKI != bound hash: the sim certificate's extension on the plain one (another key) */
	EVP_PKEY *k2 = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &k2, &e), VT_OK);
	X509_set_pubkey(x, k2);
	int i = X509_get_ext_by_OBJ(g_cert, g_cmw_oid, -1);
	assert_true(i >= 0);
	assert_int_equal(X509_add_ext(x, X509_get_ext(g_cert, i), -1), 1);
	assert_true(X509_sign(x, k2, EVP_sha256()) > 0);
	rep = expect(&o, x, "key_binding");
	assert_non_null(strstr(rstr(rep, "key_binding"), "is not the hash of this certificate's SubjectPublicKeyInfo"));
	json_decref(rep);

	/* signed by another key than its own (a "CA-signed" certificate) */
	X509 *y = X509_dup(g_cert);
	assert_true(X509_sign(y, k2, EVP_sha256()) > 0);
	json_decref(expect(&o, y, "self_signature"));
	X509_free(y);

	/* a duplicated evidence extension */
	y = X509_dup(g_cert);
	assert_int_equal(X509_add_ext(y, X509_get_ext(g_cert, i), -1), 1);
	assert_true(X509_sign(y, g_key, EVP_sha256()) > 0);
	rep = expect(&o, y, "parse");
	assert_non_null(strstr(rstr(rep, "error"), "twice"));
	json_decref(rep);
	X509_free(y);
	X509_free(x);
	EVP_PKEY_free(k2);

	/* expired, and not yet valid */
	int64_t now = vt_now();
	co = (struct vt_ratls_cert_opts){.tee = "sim", .not_before = now - 7200, .not_after = now - 3600};
	x = sim_cert(g_key, &co, g_attest);
	rep = expect(&o, x, "validity");
	assert_non_null(strstr(rstr(rep, "validity"), "expired"));
	json_decref(rep);
	X509_free(x);
	co = (struct vt_ratls_cert_opts){.tee = "sim", .not_before = now - 60, .not_after = now + 60};
	x = sim_cert(g_key, &co, g_attest);
	json_decref(expect(&o, x, ""));
	o.at = now + 3600; /* --at past notAfter (the sim platform certificate lives 10 years) */
	json_decref(expect(&o, x, "validity"));
	o.at = 0;
	X509_free(x);
	co = (struct vt_ratls_cert_opts){.tee = "sim", .not_before = now + 3600, .not_after = now + 7200};
	x = sim_cert(g_key, &co, g_attest);
	json_decref(expect(&o, x, "validity"));
	X509_free(x);
}

/* The evidence binds report data that is not SHA-256(claims-buffer): key_binding. */
static vt_status wrong_rd_attest(void *ctx, const char *tee, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	uint8_t rd[64];
	memcpy(rd, report_data, 64);
	rd[0] ^= 0xff;
	return vt_attest_with(tee, ctx, rd, evidence_out, err);
}

static void test_sim_report_data_unbound(void **state)
{
	(void)state;
	struct vt_ratls_cert_opts co = {.tee = "sim"};
	X509 *x = NULL;
	assert_int_equal(vt_ratls_cert_build(g_key, &co, wrong_rd_attest, g_attest, &x, NULL), VT_OK);
	struct vt_ratls_verify_opts o = opts(g_v);
	json_t *rep = expect(&o, x, "key_binding");
	assert_non_null(strstr(rstr(rep, "key_binding"), "report"));
	json_decref(rep);
	X509_free(x);
}

static void test_sim_policy(void **state)
{
	(void)state;
	char *meas = NULL;
	struct vt_sim_attest_opts so;
	vt_sim_attest_opts_default(&so);
	meas = vt_hex_encode(so.measurement, sizeof(so.measurement));
	char text[1024];
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"id\":\"p\",\"rules\":[{\"name\":\"m\",\"claim\":\"/sim/"
		 "measurement\",\"equals\":\"%s\"},"
		 "{\"name\":\"f\",\"claim\":\"/ratls/format\",\"equals\":\"cmw\"}]}",
		 meas);
	struct vt_policy *allow = NULL, *deny = NULL;
	assert_int_equal(vt_policy_parse(text, strlen(text), &allow, NULL), VT_OK);
	const char *d =
		"{\"version\":1,\"id\":\"d\",\"rules\":[{\"name\":\"svn\",\"claim\":\"/sim/svn\",\"at_least\":5}]}";
	assert_int_equal(vt_policy_parse(d, strlen(d), &deny, NULL), VT_OK);
	struct vt_ratls_verify_opts o = opts(g_v);
	o.policy = allow;
	json_t *rep = expect(&o, g_cert, "");
	assert_true(json_is_true(json_object_get(json_object_get(rep, "policy"), "allowed")));
	json_decref(rep);
	o.policy = deny;
	json_t *rep2 = NULL;
	assert_int_equal(vt_ratls_verify_cert(&o, g_cert, &rep2, NULL), VT_E_POLICY);
	assert_string_equal(vt_ratls_report_step(rep2), "policy");
	if (strstr(rstr(rep2, "error"), "svn") == NULL)
		printf("# error: %s\n", rstr(rep2, "error"));
	assert_non_null(strstr(rstr(rep2, "error"), "svn"));
	json_decref(rep2);
	vt_policy_free(allow);
	vt_policy_free(deny);
	free(meas);
}

/* Flip each byte of a sim certificate's CMW extension and sign it again
 * with the certificate's key: nothing verifies. */
static void test_sim_extension_flips(void **state)
{
	(void)state;
	int i = X509_get_ext_by_OBJ(g_cert, g_cmw_oid, -1);
	assert_true(i >= 0);
	const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(X509_get_ext(g_cert, i));
	size_t n = (size_t)ASN1_STRING_length(val);
	uint8_t *v = malloc(n);
	memcpy(v, ASN1_STRING_get0_data(val), n);
	struct vt_ratls_verify_opts o = opts(g_v);
	size_t counts[8] = {0};
	static const char *const steps[] = {"parse", "key_binding", "evidence", "freshness", "policy", "", NULL};
	for (size_t k = 0; k < n; k += 2) {
		v[k] ^= 0x04;
		X509 *y = X509_dup(g_cert);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(os, v, (int)n);
		X509_EXTENSION *ne = X509_EXTENSION_create_by_OBJ(NULL, g_cmw_oid, 0, os);
		X509_EXTENSION_free(X509_delete_ext(y, X509_get_ext_by_OBJ(y, g_cmw_oid, -1)));
		X509_add_ext(y, ne, -1);
		assert_true(X509_sign(y, g_key, EVP_sha256()) > 0);
		json_t *rep = NULL;
		vt_status rc = vt_ratls_verify_cert(&o, y, &rep, NULL);
		if (rc == VT_OK)
			printf("# flip at %zu of the extension verified\n", k);
		/* a flip inside base64 padding or JSON whitespace may keep the same
		 * meaning; everything else must fail */
		const char *step = vt_ratls_report_step(rep);
		for (size_t s = 0; steps[s]; s++)
			if (strcmp(step, steps[s]) == 0)
				counts[s]++;
		assert_int_not_equal(rc, VT_OK);
		v[k] ^= 0x04;
		json_decref(rep);
		X509_EXTENSION_free(ne);
		ASN1_OCTET_STRING_free(os);
		X509_free(y);
	}
	printf("# CMW extension flips: %zu at parse, %zu at key_binding, %zu at evidence\n", counts[0], counts[1],
	       counts[2]);
	free(v);
}

/* A verified certificate is remembered 60 s: the nonce and the policy are
 * still checked at every use; later (or with no_result_cache) the evidence
 * is verified again. */
static void test_result_cache(void **state)
{
	(void)state;
	uint8_t nonce[32];
	memset(nonce, 0x5a, sizeof(nonce));
	struct vt_ratls_cert_opts co = {.tee = "sim", .nonce = nonce, .nonce_size = sizeof(nonce)};
	X509 *x = sim_cert(g_key, &co, g_attest);
	int64_t now = vt_now();
	struct vt_ratls_verify_opts o = opts(g_v);
	o.at = now;
	json_t *rep = expect(&o, x, "");
	char first[40];
	snprintf(first, sizeof(first), "%s", rstr(rep, "evidence_verified_at"));
	assert_string_equal(first, rstr(rep, "at"));
	json_decref(rep);
	o.at = now + 30; /* remembered */
	rep = expect(&o, x, "");
	assert_string_equal(rstr(rep, "evidence_verified_at"), first);
	json_decref(rep);
	uint8_t other[32];
	memset(other, 1, sizeof(other));
	o.nonce = other; /* the nonce is checked on a remembered certificate too */
	o.nonce_size = sizeof(other);
	json_decref(expect(&o, x, "freshness"));
	o.nonce = nonce;
	json_decref(expect(&o, x, ""));
	o.nonce = NULL;
	const char *d =
		"{\"version\":1,\"rules\":[{\"name\":\"f\",\"claim\":\"/ratls/format\",\"equals\":\"tcg-dice\"}]}";
	struct vt_policy *deny = NULL;
	assert_int_equal(vt_policy_parse(d, strlen(d), &deny, NULL), VT_OK);
	o.policy = deny; /* and the policy, with the same input ("ratls": the report's format) */
	json_decref(expect(&o, x, "policy"));
	o.policy = NULL;
	o.at = now + 61; /* past 60 s: verified again */
	rep = expect(&o, x, "");
	assert_string_not_equal(rstr(rep, "evidence_verified_at"), first);
	json_decref(rep);
	o.at = now + 62;
	o.no_result_cache = true;
	rep = expect(&o, x, "");
	assert_string_equal(rstr(rep, "evidence_verified_at"), rstr(rep, "at"));
	json_decref(rep);
	vt_policy_free(deny);
	X509_free(x);
}

/* ------------------------------------------------------------------ parsers */

static uint8_t *ser(cbor_item_t *it, size_t *n)
{
	unsigned char *b = NULL;
	size_t cap = 0;
	*n = cbor_serialize_alloc(it, &b, &cap);
	cbor_decref(&it);
	assert_true(*n > 0);
	return b;
}

static void claims_expect(cbor_item_t *it, vt_status want, const char *field)
{
	size_t n = 0;
	uint8_t *b = ser(it, &n);
	struct vt_ratls_evidence ev;
	memset(&ev, 0, sizeof(ev));
	struct vt_err e = {0};
	vt_status rc = vt_ratls_claims_parse(b, n, &ev, &e);
	if (rc != want)
		printf("# claims: got %d (%s %s), want %d\n", rc, e.field, e.detail, want);
	assert_int_equal(rc, want);
	if (field)
		assert_string_equal(e.field, field);
	vt_ratls_evidence_free(&ev);
	free(b);
}

static cbor_item_t *hash_entry(uint64_t alg, size_t hlen)
{
	uint8_t h[80];
	memset(h, 0x11, sizeof(h));
	cbor_item_t *a = cbor_new_definite_array(2);
	cbor_array_push(a, cbor_move(cbor_build_uint64(alg)));
	cbor_array_push(a, cbor_move(cbor_build_bytestring(h, hlen)));
	size_t n = 0;
	uint8_t *b = ser(a, &n);
	cbor_item_t *bs = cbor_build_bytestring(b, n);
	free(b);
	return bs;
}

static cbor_item_t *claims_map(cbor_item_t *pubkey_hash, cbor_item_t *nonce, bool extra)
{
	cbor_item_t *m = cbor_new_definite_map(3);
	if (pubkey_hash)
		cbor_map_add(m,
			     (struct cbor_pair){cbor_move(cbor_build_string("pubkey-hash")), cbor_move(pubkey_hash)});
	if (nonce)
		cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("nonce")), cbor_move(nonce)});
	if (extra)
		cbor_map_add(m,
			     (struct cbor_pair){cbor_move(cbor_build_string("key_0")), cbor_move(cbor_build_uint8(1))});
	return m;
}

static void test_claims_parser(void **state)
{
	(void)state;
	uint8_t big[VT_RATLS_MAX_NONCE + 1];
	memset(big, 1, sizeof(big));
	claims_expect(claims_map(hash_entry(1, 32), NULL, false), VT_OK, NULL);
	claims_expect(claims_map(hash_entry(7, 48), cbor_build_bytestring(big, 16), true), VT_OK,
		      NULL); /* extra keys ok */
	claims_expect(claims_map(hash_entry(8, 64), NULL, false), VT_OK, NULL);
	claims_expect(claims_map(NULL, cbor_build_bytestring(big, 4), false), VT_E_PARSE, "claims.pubkey-hash");
	claims_expect(claims_map(hash_entry(2, 32), NULL, false), VT_E_PARSE, "claims.pubkey-hash");   /* unknown alg */
	claims_expect(claims_map(hash_entry(1, 31), NULL, false), VT_E_PARSE, "claims.pubkey-hash");   /* short hash */
	claims_expect(claims_map(hash_entry(7, 32), NULL, false), VT_E_PARSE, "claims.pubkey-hash");   /* wrong size */
	claims_expect(claims_map(cbor_build_uint8(3), NULL, false), VT_E_PARSE, "claims.pubkey-hash"); /* not bstr */
	claims_expect(claims_map(hash_entry(1, 32), cbor_build_string("n"), false), VT_E_PARSE, "claims.nonce");
	claims_expect(claims_map(hash_entry(1, 32), cbor_build_bytestring(big, sizeof(big)), false), VT_E_LIMIT,
		      "claims.nonce");
	claims_expect(cbor_build_uint8(1), VT_E_PARSE, "claims");
	/* pubkey-hash holding a non-array */
	claims_expect(claims_map(cbor_build_bytestring((const uint8_t *)"\x01", 1), NULL, false), VT_E_PARSE,
		      "claims.pubkey-hash");
	/* truncated, trailing bytes */
	size_t n = 0;
	uint8_t *b = ser(claims_map(hash_entry(1, 32), NULL, false), &n);
	struct vt_ratls_evidence ev;
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(vt_ratls_claims_parse(b, n - 1, &ev, NULL), VT_E_PARSE);
	uint8_t *b2 = malloc(n + 1);
	memcpy(b2, b, n);
	b2[n] = 0;
	assert_int_equal(vt_ratls_claims_parse(b2, n + 1, &ev, NULL), VT_E_PARSE);
	free(b2);
	free(b);
	/* the claims builder writes what the CCC format says */
	uint8_t spki[10] = {1, 2, 3};
	uint8_t *out = NULL;
	size_t on = 0;
	assert_int_equal(vt_ratls_claims_build(spki, sizeof(spki), 0, NULL, 0, &out, &on, NULL), VT_OK);
	assert_int_equal(on, 51); /* as Gramine's and the SGX SDK's: a1 6b "pubkey-hash" 58 24 82 01 58 20 ... */
	assert_memory_equal(out, "\xa1\x6bpubkey-hash\x58\x24\x82\x01\x58\x20", 19);
	free(out);
	assert_int_equal(vt_ratls_claims_build(spki, sizeof(spki), 5, NULL, 0, &out, &on, NULL), VT_E_USAGE);
}

static void tcg_expect(cbor_item_t *it, vt_status want)
{
	size_t n = 0;
	uint8_t *b = ser(it, &n);
	struct vt_ratls_evidence ev;
	struct vt_err e = {0};
	vt_status rc = vt_ratls_tcg_parse(b, n, &ev, &e);
	if (rc != want)
		printf("# tcg: got %d (%s %s), want %d\n", rc, e.field, e.detail, want);
	assert_int_equal(rc, want);
	vt_ratls_evidence_free(&ev);
	free(b);
}

static cbor_item_t *tcg(uint64_t tag, size_t count, const uint8_t *quote, size_t qn)
{
	size_t cn = 0;
	uint8_t *claims = ser(claims_map(hash_entry(1, 32), NULL, false), &cn);
	cbor_item_t *a = cbor_new_definite_array(count);
	if (count > 0)
		cbor_array_push(a, cbor_move(cbor_build_bytestring(quote, qn)));
	if (count > 1)
		cbor_array_push(a, cbor_move(cbor_build_bytestring(claims, cn)));
	if (count > 2)
		cbor_array_push(a, cbor_move(cbor_build_uint8(0)));
	free(claims);
	cbor_item_t *t = cbor_new_tag(tag);
	cbor_tag_set_item(t, a);
	cbor_decref(&a);
	return t;
}

static void test_tcg_parser(void **state)
{
	(void)state;
	uint8_t sgx3[48] = {3, 0, 2, 0}, tdx4[48] = {4, 0, 2, 0, 0x81, 0, 0, 0}, epid[48] = {2, 0, 0, 0},
		junk[48] = {9, 9, 9, 9};
	tcg_expect(tcg(60000, 2, sgx3, sizeof(sgx3)), VT_OK);
	tcg_expect(tcg(60000, 2, tdx4, sizeof(tdx4)), VT_OK);
	tcg_expect(tcg(60000, 2, epid, sizeof(epid)), VT_E_REJECTED);
	tcg_expect(tcg(60000, 2, junk, sizeof(junk)), VT_E_PARSE);
	tcg_expect(tcg(60000, 2, sgx3, 3), VT_E_PARSE); /* no room for a header */
	tcg_expect(tcg(60001, 2, sgx3, sizeof(sgx3)), VT_E_REJECTED);
	tcg_expect(tcg(60002, 2, sgx3, sizeof(sgx3)), VT_E_REJECTED);
	tcg_expect(tcg(12345, 2, sgx3, sizeof(sgx3)), VT_E_REJECTED);
	tcg_expect(tcg(60000, 3, sgx3, sizeof(sgx3)), VT_E_PARSE);
	tcg_expect(tcg(60000, 1, sgx3, sizeof(sgx3)), VT_E_PARSE);
	tcg_expect(cbor_build_bytestring(sgx3, sizeof(sgx3)), VT_E_PARSE); /* untagged */
	struct vt_ratls_evidence ev;
	struct vt_err e = {0};
	/* the TEE name comes from the quote header */
	size_t n = 0;
	uint8_t *b = ser(tcg(60000, 2, tdx4, sizeof(tdx4)), &n);
	assert_int_equal(vt_ratls_tcg_parse(b, n, &ev, &e), VT_OK);
	assert_string_equal(ev.tee, "tdx");
	vt_ratls_evidence_free(&ev);
	free(b);
}

static void cmw_expect(const uint8_t *der, size_t n, vt_status want)
{
	struct vt_ratls_evidence ev;
	struct vt_err e = {0};
	vt_status rc = vt_ratls_cmw_parse(der, n, &ev, &e);
	if (rc != want)
		printf("# cmw: got %d (%s %s), want %d\n", rc, e.field, e.detail, want);
	assert_int_equal(rc, want);
	vt_ratls_evidence_free(&ev);
}

/* DER OCTET STRING around CBOR bytes */
static uint8_t *octets(const uint8_t *p, size_t n, size_t *out_n)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(os, p, (int)n);
	unsigned char *der = NULL;
	int dn = i2d_ASN1_OCTET_STRING(os, &der);
	ASN1_OCTET_STRING_free(os);
	assert_true(dn > 0);
	*out_n = (size_t)dn;
	return der;
}

static cbor_item_t *record(const char *type, const char *tee, size_t inner_count, int ind)
{
	size_t cn = 0, in = 0;
	uint8_t *claims = ser(claims_map(hash_entry(1, 32), NULL, false), &cn);
	cbor_item_t *a = cbor_new_definite_array(inner_count);
	if (inner_count > 0)
		cbor_array_push(a, cbor_move(cbor_build_string(tee)));
	if (inner_count > 1)
		cbor_array_push(a, cbor_move(cbor_build_bytestring((const uint8_t *)"{}", 2)));
	if (inner_count > 2)
		cbor_array_push(a, cbor_move(cbor_build_bytestring(claims, cn)));
	uint8_t *inner = ser(a, &in);
	cbor_item_t *r = cbor_new_definite_array(ind >= 0 ? 3 : 2);
	cbor_array_push(r, cbor_move(cbor_build_string(type)));
	cbor_array_push(r, cbor_move(cbor_build_bytestring(inner, in)));
	if (ind >= 0)
		cbor_array_push(r, cbor_move(cbor_build_uint8((uint8_t)ind)));
	free(inner);
	free(claims);
	return r;
}

static void cmw_record_expect(cbor_item_t *r, vt_status want)
{
	size_t n = 0, dn = 0;
	uint8_t *b = ser(r, &n);
	uint8_t *der = octets(b, n, &dn);
	cmw_expect(der, dn, want);
	OPENSSL_free(der);
	free(b);
}

static void test_cmw_parser(void **state)
{
	(void)state;
	cmw_record_expect(record(VT_RATLS_CMW_TYPE, "snp", 3, 4), VT_OK);
	cmw_record_expect(record(VT_RATLS_CMW_TYPE, "az-snp-vtpm", 3, -1), VT_OK); /* no indicator */
	cmw_record_expect(record(VT_RATLS_CMW_TYPE, "snp", 3, 2), VT_E_PARSE);	   /* endorsements, not evidence */
	cmw_record_expect(record("application/eat+cwt", "snp", 3, 4), VT_E_REJECTED);
	cmw_record_expect(record(VT_RATLS_CMW_TYPE, "SNP", 3, 4), VT_E_PARSE); /* TEE name */
	cmw_record_expect(record(VT_RATLS_CMW_TYPE, "", 3, 4), VT_E_PARSE);
	cmw_record_expect(record(VT_RATLS_CMW_TYPE, "snp", 2, 4), VT_E_PARSE); /* no claims-buffer */
	/* a CMW collection (a map) and a tag: refused */
	cbor_item_t *m = cbor_new_definite_map(1);
	cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("a")),
					   cbor_move(record(VT_RATLS_CMW_TYPE, "snp", 3, 4))});
	cmw_record_expect(m, VT_E_REJECTED);
	/* the JSON choice (UTF8String) */
	const uint8_t js[] = {0x0c, 0x02, '[', ']'};
	cmw_expect(js, sizeof(js), VT_E_REJECTED);
	/* neither choice; trailing bytes; bad length */
	const uint8_t i5[] = {0x02, 0x01, 0x05};
	cmw_expect(i5, sizeof(i5), VT_E_PARSE);
	size_t n = 0, dn = 0;
	uint8_t *b = ser(record(VT_RATLS_CMW_TYPE, "snp", 3, 4), &n);
	uint8_t *der = octets(b, n, &dn);
	uint8_t *longer = malloc(dn + 1);
	memcpy(longer, der, dn);
	longer[dn] = 0;
	cmw_expect(longer, dn + 1, VT_E_PARSE);
	cmw_expect(der, dn - 1, VT_E_PARSE);
	/* BER (not DER): a constructed OCTET STRING */
	uint8_t ber[] = {0x24, 0x80, 0x04, 0x01, 0x00, 0x00, 0x00};
	cmw_expect(ber, sizeof(ber), VT_E_PARSE);
	free(longer);
	OPENSSL_free(der);
	free(b);
	/* the builder's output parses back */
	uint8_t spki[4] = {1};
	uint8_t *claims = NULL, *ext = NULL;
	size_t cn = 0, en = 0;
	assert_int_equal(vt_ratls_claims_build(spki, sizeof(spki), VT_RATLS_HASH_SHA384, (const uint8_t *)"n", 1,
					       &claims, &cn, NULL),
			 VT_OK);
	assert_int_equal(vt_ratls_cmw_build("tpm", "{\"a\":1}", claims, cn, &ext, &en, NULL), VT_OK);
	struct vt_ratls_evidence ev;
	assert_int_equal(vt_ratls_cmw_parse(ext, en, &ev, NULL), VT_OK);
	assert_string_equal(ev.tee, "tpm");
	assert_int_equal(ev.pubkey_hash_alg, VT_RATLS_HASH_SHA384);
	assert_int_equal(ev.nonce_size, 1);
	assert_memory_equal(ev.evidence, "{\"a\":1}", 7);
	vt_ratls_evidence_free(&ev);
	free(claims);
	free(ext);
}

/* ------------------------------------------------------------------ OpenSSL */

/* Drive both ends of a BIO pair; 1 when both handshakes completed. */
static int handshake(SSL *c, SSL *s)
{
	BIO *bc = NULL, *bs = NULL;
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	bool cdone = false, sdone = false;
	for (int i = 0; i < 200 && !(cdone && sdone); i++) {
		if (!cdone) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				cdone = true;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
				return 0;
		}
		if (!sdone) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				sdone = true;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
				return 0;
		}
	}
	/* TLS 1.3: the server checks the client's certificate after the client is done */
	char byte;
	SSL_read(c, &byte, 0);
	ERR_clear_error();
	return cdone && sdone;
}

static void test_openssl(void **state)
{
	(void)state;
	struct vt_ratls_verify_opts o = opts(g_v);
	struct vt_err e = {0};
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(vt_ratls_ssl_ctx_use(sctx, g_key, g_cert, &e), VT_OK);
	assert_int_equal(vt_ratls_ssl_ctx_verify(cctx, &o, 0, &e), VT_OK);

	/* server RA-TLS, client verifies */
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	assert_int_equal(handshake(c, s), 1);
	const json_t *rep = vt_ratls_ssl_report(c);
	assert_non_null(rep);
	assert_true(json_is_true(json_object_get(rep, "verified")));
	assert_null(vt_ratls_ssl_report(s)); /* the server verified nothing */
	SSL_free(c);
	SSL_free(s);

	/* a server certificate from another root: the handshake fails, the report says where */
	SSL_CTX *bad = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *k2 = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &k2, &e), VT_OK);
	struct vt_ratls_cert_opts co = {.tee = "sim"};
	X509 *x2 = sim_cert(k2, &co, g_attest2);
	assert_int_equal(vt_ratls_ssl_ctx_use(bad, k2, x2, &e), VT_OK);
	c = SSL_new(cctx);
	s = SSL_new(bad);
	assert_int_equal(handshake(c, s), 0);
	assert_int_equal(SSL_get_verify_result(c), X509_V_ERR_APPLICATION_VERIFICATION);
	assert_string_equal(vt_ratls_report_step(vt_ratls_ssl_report(c)), "evidence");
	SSL_free(c);
	SSL_free(s);

	/* freshness: a nonce in the ClientHello, a certificate made for it */
	SSL_CTX *fresh_c = SSL_CTX_new(TLS_client_method()), *fresh_s = SSL_CTX_new(TLS_server_method());
	assert_int_equal(vt_ratls_ssl_ctx_verify(fresh_c, &o, VT_RATLS_SSL_REQUEST_NONCE, &e), VT_OK);
	assert_int_equal(vt_ratls_ssl_ctx_use(fresh_s, g_key, g_cert, &e), VT_OK);
	co = (struct vt_ratls_cert_opts){.tee = "sim"};
	assert_int_equal(vt_ratls_ssl_ctx_serve_fresh(fresh_s, g_key, &co, g_attest, &e), VT_OK);
	/* a second call is refused (it would have replaced and leaked the first) */
	assert_int_equal(vt_ratls_ssl_ctx_serve_fresh(fresh_s, g_key, &co, g_attest, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "already serves fresh certificates"));
	c = SSL_new(fresh_c);
	s = SSL_new(fresh_s);
	assert_int_equal(handshake(c, s), 1);
	rep = vt_ratls_ssl_report(c);
	assert_true(json_is_true(json_object_get(rep, "verified")));
	assert_int_equal(strlen(rstr(rep, "nonce")), 64);
	assert_string_equal(rstr(rep, "freshness"), "ok");
	SSL_free(c);
	SSL_free(s);
	/* ... and a server that ignores the nonce: refused at freshness */
	c = SSL_new(fresh_c);
	s = SSL_new(sctx);
	assert_int_equal(handshake(c, s), 0);
	assert_string_equal(vt_ratls_report_step(vt_ratls_ssl_report(c)), "freshness");
	SSL_free(c);
	SSL_free(s);

	/* mutual: the server requires and verifies the client's RA-TLS certificate */
	SSL_CTX *ms = SSL_CTX_new(TLS_server_method()), *mc = SSL_CTX_new(TLS_client_method());
	assert_int_equal(vt_ratls_ssl_ctx_use(ms, g_key, g_cert, &e), VT_OK);
	assert_int_equal(vt_ratls_ssl_ctx_verify(ms, &o, VT_RATLS_SSL_REQUIRE_PEER, &e), VT_OK);
	assert_int_equal(vt_ratls_ssl_ctx_verify(mc, &o, 0, &e), VT_OK);
	X509 *x3 = sim_cert(k2, &co, g_attest);
	assert_int_equal(vt_ratls_ssl_ctx_use(mc, k2, x3, &e), VT_OK);
	c = SSL_new(mc);
	s = SSL_new(ms);
	assert_int_equal(handshake(c, s), 1);
	assert_true(json_is_true(json_object_get(vt_ratls_ssl_report(s), "verified")));
	assert_true(json_is_true(json_object_get(vt_ratls_ssl_report(c), "verified")));
	SSL_free(c);
	SSL_free(s);
	/* a client without a certificate, and one from another root: refused by the server */
	c = SSL_new(cctx);
	s = SSL_new(ms);
	handshake(c, s);
	assert_false(SSL_is_init_finished(s) && vt_ratls_ssl_report(s) != NULL &&
		     json_is_true(json_object_get(vt_ratls_ssl_report(s), "verified")));
	SSL_free(c);
	SSL_free(s);
	SSL_CTX *mc2 = SSL_CTX_new(TLS_client_method());
	assert_int_equal(vt_ratls_ssl_ctx_verify(mc2, &o, 0, &e), VT_OK);
	assert_int_equal(vt_ratls_ssl_ctx_use(mc2, k2, x2, &e), VT_OK);
	c = SSL_new(mc2);
	s = SSL_new(ms);
	handshake(c, s);
	assert_string_equal(vt_ratls_report_step(vt_ratls_ssl_report(s)), "evidence");
	SSL_free(c);
	SSL_free(s);

	X509_free(x2);
	X509_free(x3);
	EVP_PKEY_free(k2);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(bad);
	SSL_CTX_free(fresh_c);
	SSL_CTX_free(fresh_s);
	SSL_CTX_free(ms);
	SSL_CTX_free(mc);
	SSL_CTX_free(mc2);
	ERR_clear_error();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_verify),
		cmocka_unit_test(test_vectors_details),
		cmocka_unit_test(test_sgxsdk_legacy_alone),
		cmocka_unit_test(test_vectors_byte_flips),
		cmocka_unit_test(test_tdx_tcg_dice),
		cmocka_unit_test(test_sim_round_trip),
		cmocka_unit_test(test_sim_nonce),
		cmocka_unit_test(test_sim_negatives),
		cmocka_unit_test(test_sim_report_data_unbound),
		cmocka_unit_test(test_sim_policy),
		cmocka_unit_test(test_sim_extension_flips),
		cmocka_unit_test(test_result_cache),
		cmocka_unit_test(test_claims_parser),
		cmocka_unit_test(test_tcg_parser),
		cmocka_unit_test(test_cmw_parser),
		cmocka_unit_test(test_openssl),
	};
	return cmocka_run_group_tests_name("ratls", tests, group_setup, group_teardown);
}
