/*
 * Unit tests for the AWS Nitro Enclaves verifier and attester
 * (src/evidence/nitro/, src/attester/nitro/).
 *
 * Real documents come from $VERITEE_VECTORS/nitro (skipped when absent);
 * the ground truth is ../shared/vectors/README-more.md: every AWS-signed
 * document verifies at its own timestamp with the PCRs and fields listed
 * there, and fails 1 s outside the window where its whole chain is valid.
 * Synthetic documents are signed by a test CA (root -> intermediate ->
 * leaf) through vt_nitro_doc_build, also behind a fake NSM device.
 */
#include "testutil.h"

#include <cbor.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/attester.h"
#include "veritee/nitro.h"
#include "veritee/policy.h"

#define NEED_VECTORS()                                                \
	const char *vdir = vt_test_vectors_dir();                     \
	if (vdir == NULL) {                                           \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n"); \
		skip();                                               \
	}

static int64_t at(const char *s)
{
	int64_t t = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_time_parse_rfc3339(s, &t, &e), VT_OK);
	return t;
}

static uint8_t *read_file(const char *vdir, const char *name, size_t *n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", vdir, name);
	uint8_t *b = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_file_read(p, 1 << 20, &b, n, &err), VT_OK);
	return b;
}

static void print_err(const struct vt_err *err)
{
	char m[800];
	vt_err_format(err, m, sizeof(m));
	print_message("# %s\n", m);
}

/* ------------------------------------------------------------- test CA */

static EVP_PKEY *g_root_key, *g_int_key, *g_leaf_key, *g_p256;
static X509 *g_root, *g_int, *g_leaf;
static uint8_t *g_root_der, *g_int_der, *g_leaf_der;
static size_t g_root_der_len, g_int_der_len, g_leaf_der_len;
static int64_t g_t0; /* leaf notBefore; documents are made at g_t0 + 60 s */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca, const char *ku,
		       int64_t nb, int64_t na, long serial)
{
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	add_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (ku != NULL)
		add_ext(x, issuer, NID_key_usage, ku);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha384()) > 0);
	return x;
}

static uint8_t *der_of(X509 *x, size_t *n)
{
	unsigned char *d = NULL;
	int l = i2d_X509(x, &d);
	assert_true(l > 0);
	*n = (size_t)l;
	return d;
}

static int group_setup(void **state)
{
	(void)state;
	struct vt_err err = {0};
	if (vt_key_generate(VT_KEY_P384, &g_root_key, &err) != VT_OK ||
	    vt_key_generate(VT_KEY_P384, &g_int_key, &err) != VT_OK ||
	    vt_key_generate(VT_KEY_P384, &g_leaf_key, &err) != VT_OK || vt_key_generate(VT_KEY_P256, &g_p256, &err) != VT_OK)
		return -1;
	g_t0 = 1704067200; /* 2024-01-01T00:00:00Z */
	g_root = make_cert("test.nitro-enclaves", g_root_key, NULL, NULL, true, "critical,keyCertSign,cRLSign",
			   g_t0 - 86400 * 365, g_t0 + 86400 * 365 * 10, 1);
	g_int = make_cert("intermediate.test.nitro-enclaves", g_int_key, g_root, g_root_key, true,
			  "critical,keyCertSign,cRLSign", g_t0 - 86400, g_t0 + 86400 * 10, 2);
	g_leaf = make_cert("i-0123.test.aws", g_leaf_key, g_int, g_int_key, false, "critical,digitalSignature", g_t0,
			   g_t0 + 3 * 3600, 3);
	g_root_der = der_of(g_root, &g_root_der_len);
	g_int_der = der_of(g_int, &g_int_der_len);
	g_leaf_der = der_of(g_leaf, &g_leaf_der_len);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(g_root);
	X509_free(g_int);
	X509_free(g_leaf);
	OPENSSL_free(g_root_der);
	OPENSSL_free(g_int_der);
	OPENSSL_free(g_leaf_der);
	EVP_PKEY_free(g_root_key);
	EVP_PKEY_free(g_int_key);
	EVP_PKEY_free(g_leaf_key);
	EVP_PKEY_free(g_p256);
	return 0;
}

/* A valid synthetic document description (edit a copy for one defect). */
static uint8_t g_pcr_vals[VT_NITRO_MAX_PCRS + 1][64];
static struct vt_nitro_pcr g_pcrs[VT_NITRO_MAX_PCRS + 1];
static struct vt_nitro_bytes g_bundle[VT_NITRO_MAX_CABUNDLE + 1];
static const uint8_t NONCE48[48] = {0xa1, 0xa2, 0xa3, 0xa4, [47] = 0x5a};

static struct vt_nitro_doc_spec base_spec(void)
{
	for (size_t i = 0; i <= VT_NITRO_MAX_PCRS; i++) {
		memset(g_pcr_vals[i], 0, sizeof(g_pcr_vals[i]));
		if (i >= 3) /* PCR0-2 zero: a debug enclave */
			g_pcr_vals[i][0] = (uint8_t)i;
		g_pcrs[i].index = (uint32_t)i;
		g_pcrs[i].value = g_pcr_vals[i];
	}
	g_bundle[0] = (struct vt_nitro_bytes){g_root_der, g_root_der_len, true};
	g_bundle[1] = (struct vt_nitro_bytes){g_int_der, g_int_der_len, true};
	struct vt_nitro_doc_spec s = {
		.module_id = "i-0123-enc0456",
		.timestamp_ms = (uint64_t)(g_t0 + 60) * 1000 + 123,
		.pcr_count = 16,
		.pcrs = g_pcrs,
		.certificate = {g_leaf_der, g_leaf_der_len, true},
		.cabundle_count = 2,
		.cabundle = g_bundle,
		.nonce = {NONCE48, sizeof(NONCE48), true},
	};
	return s;
}

static uint8_t *build(const struct vt_nitro_doc_spec *s, EVP_PKEY *key, size_t *n)
{
	uint8_t *doc = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_nitro_doc_build(s, key ? key : g_leaf_key, &doc, n, &err), VT_OK);
	return doc;
}

static vt_status verify_doc(const uint8_t *doc, size_t n, int64_t now, X509 *root, const uint8_t *bind,
			    size_t bind_len, json_t **claims, struct vt_err *err)
{
	struct vt_binding b = {.report_data = bind, .report_data_size = bind_len};
	json_t *c = NULL;
	vt_err_clear(err);
	vt_status rc = vt_nitro_verify_doc(doc, n, now, root, bind ? &b : NULL, &c, err);
	if (rc != VT_OK) {
		assert_null(c); /* failures leave no claims and record their own code */
		assert_int_equal(err->code, rc);
		assert_int_not_equal(err->step, VT_STEP_NONE);
	} else {
		assert_non_null(c);
		assert_non_null(json_object_get(c, "report_data"));
	}
	if (claims != NULL)
		*claims = c;
	else
		json_decref(c);
	return rc;
}

/* Verify a synthetic spec at g_t0 + 60 against the test root. */
static vt_status verify_spec(const struct vt_nitro_doc_spec *s, EVP_PKEY *key, struct vt_err *err)
{
	size_t n;
	uint8_t *doc = build(s, key, &n);
	vt_status rc = verify_doc(doc, n, g_t0 + 60, g_root, NULL, 0, NULL, err);
	free(doc);
	return rc;
}

/* ----------------------------------------------------------- real vectors */

struct vector {
	const char *file;
	uint64_t ts_ms;
	const char *win_start, *win_end;
	const char *module_id;
	size_t pcr_count;
	unsigned nonzero; /* bit i: PCRi non-zero */
	unsigned check_pcr;
	const char *check_pcr_hex;
	const char *leaf_sha256;
	int pk_len, ud_len, nonce_len; /* -1: null */
	bool debug;
};

static const struct vector VECTORS[] = {
	{"nitro/evervault_nitro_prod_2022-10-13.cose", 1665651482136ull, "2022-10-13T08:57:59Z", "2022-10-13T11:58:02Z",
	 "i-020b6af9246d90e92-enc0183d09086c24190", 16, 0x11f, 8,
	 "8790eb3cce6c83d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418bdc60746ea7b7afbff03a1c6210201cb",
	 "8b5fa8c19fa66cf389b46988a7d2a561a81d3c750722cb57696714fcb90856f4", -1, -1, 256, false},
	{"nitro/evervault_nitro_debug_2022-10-12.cose", 1665582606081ull, "2022-10-12T13:49:51Z", "2022-10-12T16:49:54Z",
	 "i-03ad7cdb817437eeb-enc0183cc7569b3f6e1", 16, 0x18, 4,
	 "615fa5b1a8838d392d8e54aacc3d9ac0db87d63cb826516c4cc94307c986fe465b29f3f54a55a2f121265528ae0aa6a7",
	 "68a68483ab8191f7d36f984afc5a22efe5e9b99b933fc33c928d674b9cb9418d", 19, 13, -1, true},
	{"nitro/evervault_nitro_debug_2023-09-18.b64", 1695049410860ull, "2023-09-18T14:37:09Z", "2023-09-18T17:37:12Z",
	 "i-0918f6c55e3b61d89-enc018aa8b8e2285d13", 16, 0x18, 4,
	 "d0531b1400dd43288c82c226c16bf647c637dd5e4d9b4f7a8aaadc6d6760b854a06c7008cca0d15ca80094dd33a65065",
	 "f1fbb123b2c37631982c363c45f98c87217eeb9748f81306635741a87e6aa3e3", -1, 91, 256, true},
	{"nitro/fortanix_nitro_debug_2021-09-09.cose", 1631182760215ull, "2021-09-09T10:19:20Z", "2021-09-09T13:19:20Z",
	 "i-02e3a660059b27d87-enc017bca11991e5083", 16, 0x10, 4,
	 "e6faff4108a29675a01d6df042a8c0466b1c55a871dfea822b03e1b13f172b65865496eda124fb2d7d8274b27d99336f",
	 "e41300bbaf0ef0158ef3d8ce055f535e2de739f86b7ba7447f795c817aec2ff0", -1, 64, 16, true},
	{"nitro/marlin_nitro_prod_2024-08-07.cose", 1723012689640ull, "2024-08-07T06:38:06Z", "2024-08-07T09:38:09Z",
	 "i-084e1dd2f1b2c529b-enc0190fecc5b166251", 16, 0x17, 0,
	 "5fec1b73727425848d725d68f4a062c634061a035067bd0b9a6dc73e25ed5013dfe7ccbf8a7e9857eceb0841c4cb6ae6",
	 "52688031d19cbcbe9f6b6c41c048fa2f32c476ea891c36d52cdc8e75c14caa2e", 64, -1, -1, false},
	{"nitro/marlin_nitro_prod_pcr16_2025-04-29.cose", 1745922759691ull, "2025-04-29T10:31:39Z", "2025-04-29T13:31:42Z",
	 "i-07859a25773d39fcc-enc01968119042c6454", 17, 0x10017, 16,
	 "30e84b2d7eeffe6d90a475797b35e59a11b0da473eee4b3b8edfe73daf0279801bb18730c39db7f27f2f77b7b458cb9e",
	 "7d5cdf9223f3dc20e61f53e2993585bbfe9ac7883ce7c500a362ffb436211ffc", 32, 0, -1, false},
	{"nitro/dstack_nitro_prod_2025-12-25_framed.bin", 1766668537578ull, "2025-12-25T13:15:34Z", "2025-12-25T16:15:37Z",
	 "i-0827e799ec9232d44-enc019b55a68bd2ed4b", 16, 0x17, 2,
	 "743ea12db9aba9440a8197f7ac9aeda43cfbb1587473ff7577415ac5be116bc026dfa836db6713930474d1aa0d06b049",
	 "6382ba392dcb385dbb40e1ad390db81a7bbbd545a5f4a4168a5856e0cf9afb24", -1, 64, -1, false},
};

static json_t *load_evidence(const char *vdir, const char *file)
{
	size_t n;
	uint8_t *b = read_file(vdir, file, &n);
	json_t *ev = NULL;
	struct vt_err err = {0};
	vt_status rc = vt_nitro_load_file(b, n, &ev, &err);
	if (rc != VT_OK)
		print_err(&err);
	assert_int_equal(rc, VT_OK);
	free(b);
	return ev;
}

static uint8_t *evidence_doc(const json_t *ev, size_t *n)
{
	const char *s = json_string_value(json_object_get(ev, "attestation_document"));
	assert_non_null(s);
	uint8_t *doc = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_b64_decode(s, strlen(s), &doc, n, &err), VT_OK);
	return doc;
}

static vt_status tee_verify(const json_t *ev, int64_t now, const struct vt_binding *b, json_t **claims,
			    struct vt_err *err)
{
	struct vt_verify_ctx ctx = {.now = now};
	json_t *c = NULL;
	vt_err_clear(err);
	vt_status rc = vt_tee_nitro.verify(&ctx, ev, b, &c, err);
	if (rc != VT_OK)
		assert_null(c);
	if (claims)
		*claims = c;
	else
		json_decref(c);
	return rc;
}

static void check_opt(const json_t *claims, const char *key, int len)
{
	const json_t *v = json_object_get(claims, key);
	if (len < 0) {
		assert_true(json_is_null(v));
	} else {
		assert_true(json_is_string(v));
		assert_int_equal(json_string_length(v), 2 * (size_t)len);
	}
}

static void test_vectors_verify(void **state)
{
	(void)state;
	NEED_VECTORS();
	for (size_t i = 0; i < sizeof(VECTORS) / sizeof(VECTORS[0]); i++) {
		const struct vector *v = &VECTORS[i];
		json_t *ev = load_evidence(vdir, v->file), *claims = NULL;
		struct vt_err err;
		int64_t now = (int64_t)(v->ts_ms / 1000);
		vt_status rc = tee_verify(ev, now, NULL, &claims, &err);
		if (rc != VT_OK)
			print_err(&err);
		assert_int_equal(rc, VT_OK);
		assert_string_equal(json_string_value(json_object_get(claims, "module_id")), v->module_id);
		assert_string_equal(json_string_value(json_object_get(claims, "digest")), "SHA384");
		assert_true((uint64_t)json_integer_value(json_object_get(claims, "timestamp")) == v->ts_ms);
		const json_t *pcrs = json_object_get(claims, "pcrs");
		assert_int_equal(json_object_size(pcrs), v->pcr_count);
		for (unsigned p = 0; p < v->pcr_count; p++) {
			char key[8], zero[97];
			snprintf(key, sizeof(key), "%u", p);
			memset(zero, '0', 96);
			zero[96] = '\0';
			const char *h = json_string_value(json_object_get(pcrs, key));
			assert_non_null(h);
			assert_int_equal(strcmp(h, zero) != 0, (v->nonzero >> p) & 1u);
		}
		char key[8];
		snprintf(key, sizeof(key), "%u", v->check_pcr);
		assert_string_equal(json_string_value(json_object_get(pcrs, key)), v->check_pcr_hex);
		const json_t *cert = json_object_get(claims, "certificate");
		assert_string_equal(json_string_value(json_object_get(cert, "sha256")), v->leaf_sha256);
		assert_string_equal(json_string_value(json_object_get(claims, "root_sha256")), VT_NITRO_ROOT_SHA256);
		assert_int_equal(json_array_size(json_object_get(claims, "cabundle")), 4);
		check_opt(claims, "public_key", v->pk_len);
		check_opt(claims, "user_data", v->ud_len);
		check_opt(claims, "nonce", v->nonce_len);
		assert_int_equal(json_is_true(json_object_get(claims, "debug")), v->debug);
		/* report_data: the nonce, else user_data, else "" */
		const char *rd = json_string_value(json_object_get(claims, "report_data"));
		const char *want = v->nonce_len >= 0 ? json_string_value(json_object_get(claims, "nonce"))
				   : v->ud_len >= 0  ? json_string_value(json_object_get(claims, "user_data"))
						     : "";
		assert_string_equal(rd, want);
		/* timestamp_rfc3339 keeps the milliseconds */
		char ms[8];
		snprintf(ms, sizeof(ms), ".%03uZ", (unsigned)(v->ts_ms % 1000));
		assert_non_null(strstr(json_string_value(json_object_get(claims, "timestamp_rfc3339")), ms));
		json_decref(claims);

		/* the window edges, and one second outside them.  OpenSSL counts a
		 * certificate as expired from its notAfter second on (X509_cmp_time
		 * "earlier than, or equal to"), so the last good second is we - 1. */
		int64_t ws = at(v->win_start), we = at(v->win_end);
		assert_int_equal(tee_verify(ev, ws, NULL, NULL, &err), VT_OK);
		assert_int_equal(tee_verify(ev, we - 1, NULL, NULL, &err), VT_OK);
		assert_int_equal(tee_verify(ev, we + 1, NULL, NULL, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
		assert_int_equal(tee_verify(ev, ws - 1, NULL, NULL, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
		json_decref(ev);
	}
}

static void test_vectors_binding(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err err;
	/* fortanix: nonce 8013cf2d252821a740e526102b9cd3d0; user_data = 32 bytes + 32 zeros */
	json_t *ev = load_evidence(vdir, "nitro/fortanix_nitro_debug_2021-09-09.cose"), *claims = NULL;
	int64_t now = at("2021-09-09T10:19:20Z");
	uint8_t nonce[16], ud[32];
	assert_int_equal(vt_hex_decode_fixed("8013cf2d252821a740e526102b9cd3d0", nonce, sizeof(nonce), &err), VT_OK);
	assert_int_equal(vt_hex_decode_fixed("9e2fa4bf23f2379c237925b152e4ba592b45f95a2d913d8a8b889bd9ac81bd3a", ud,
					     sizeof(ud), &err),
			 VT_OK);
	struct vt_binding b = {.report_data = nonce, .report_data_size = sizeof(nonce)};
	assert_int_equal(tee_verify(ev, now, &b, &claims, &err), VT_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "report_data")), "8013cf2d252821a740e526102b9cd3d0");
	json_decref(claims);
	b = (struct vt_binding){.report_data = ud, .report_data_size = sizeof(ud)}; /* zero-padded to 64 */
	assert_int_equal(tee_verify(ev, now, &b, NULL, &err), VT_OK);
	nonce[15] ^= 1;
	b = (struct vt_binding){.report_data = nonce, .report_data_size = sizeof(nonce)};
	assert_int_equal(tee_verify(ev, now, &b, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "payload.nonce");
	/* a prefix of the nonce is not the nonce */
	b.report_data_size = 8;
	nonce[15] ^= 1;
	assert_int_equal(tee_verify(ev, now, &b, NULL, &err), VT_E_REJECTED);
	b.report_data_size = 0;
	assert_int_equal(tee_verify(ev, now, &b, NULL, &err), VT_E_USAGE);
	json_decref(ev);

	/* dstack: user_data = 64 zero bytes; the KBS digest shape (48 zero bytes) matches it padded */
	ev = load_evidence(vdir, "nitro/dstack_nitro_prod_2025-12-25_framed.bin");
	uint8_t zero48[48] = {0};
	b = (struct vt_binding){.report_data = zero48, .report_data_size = sizeof(zero48)};
	assert_int_equal(tee_verify(ev, at("2025-12-25T13:15:37Z"), &b, NULL, &err), VT_OK);
	zero48[47] = 1;
	assert_int_equal(tee_verify(ev, at("2025-12-25T13:15:37Z"), &b, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	json_decref(ev);

	/* marlin 2024: neither nonce nor user_data, so nothing can bind */
	ev = load_evidence(vdir, "nitro/marlin_nitro_prod_2024-08-07.cose");
	assert_int_equal(tee_verify(ev, at("2024-08-07T06:38:09Z"), &b, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	json_decref(ev);
}

static void test_vectors_negatives(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err err;
	json_t *ev = load_evidence(vdir, "nitro/NEGATIVE_fortanix_nitro_tampered_signature.cose");
	assert_int_equal(tee_verify(ev, at("2021-09-09T10:19:20Z"), NULL, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_string_equal(err.field, "cose.signature");
	json_decref(ev);

	ev = load_evidence(vdir, "nitro/NEGATIVE_fortanix_nitro_tampered_certificate.cose");
	assert_int_equal(tee_verify(ev, at("2021-09-09T10:19:20Z"), NULL, NULL, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_string_equal(err.field, "payload.certificate");
	json_decref(ev);

	/* a Nitro-shaped document under a self-made root: COSE fine, pin refuses */
	ev = load_evidence(vdir, "nitro/NEGATIVE_marlin_nitro_mock_custom_root.cose");
	assert_int_equal(tee_verify(ev, at("2024-12-13T09:05:45Z"), NULL, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_string_equal(err.field, "payload.cabundle[0]");
	assert_non_null(strstr(err.detail, VT_NITRO_ROOT_SHA256));
	/* ...and only the pin: anchored at its own root, the same document verifies */
	size_t n;
	uint8_t *doc = evidence_doc(ev, &n);
	struct vt_nitro_doc d;
	assert_int_equal(vt_nitro_doc_parse(doc, n, &d, &err), VT_OK);
	X509 *mock_root = NULL;
	assert_int_equal(vt_x509_from_bytes(d.cabundle[0].data, d.cabundle[0].len, &mock_root, &err), VT_OK);
	vt_nitro_doc_free(&d);
	assert_int_equal(verify_doc(doc, n, at("2024-12-13T09:05:45Z"), mock_root, NULL, 0, NULL, &err), VT_OK);
	/* the mock root is not accepted as the Nitro anchor */
	unsigned char *mder = NULL;
	int ml = i2d_X509(mock_root, &mder);
	X509 *refused = NULL;
	assert_int_equal(vt_nitro_root_from_bytes(mder, (size_t)ml, &refused, &err), VT_E_REJECTED);
	assert_null(refused);
	OPENSSL_free(mder);
	X509_free(mock_root);
	free(doc);
	json_decref(ev);

	/* trust anchors: the real root PEM is the pin, the tampered one is refused */
	uint8_t *pem = read_file(vdir, "roots/aws/aws_nitro_enclaves_root_g1.pem", &n);
	X509 *r = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_root_from_bytes(pem, n, &r, &err), VT_OK);
	X509 *shipped = NULL;
	assert_int_equal(vt_nitro_aws_root(&shipped, &err), VT_OK);
	assert_int_equal(X509_cmp(r, shipped), 0);
	X509_free(r);
	X509_free(shipped);
	free(pem);
	pem = read_file(vdir, "nitro/NEGATIVE_fortanix_tampered_root_cert.pem", &n);
	r = NULL;
	assert_int_equal(vt_nitro_root_from_bytes(pem, n, &r, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_null(r);
	free(pem);
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_root_from_bytes(g_root_der, g_root_der_len, &r, &err), VT_E_REJECTED);
}

/*
 * One-byte changes of one real document, none may verify, none may crash:
 * every byte XOR 0x01 (the COSE array head, the protected header, the
 * payload with its byte-string head, the signature), and every one of the
 * 255 other values of the first 10 bytes (array head, protected header
 * a1 01 38 22, unprotected map, payload length).  ~7,000 verifications.
 */
static void test_vectors_exhaustive_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_file(vdir, "nitro/fortanix_nitro_debug_2021-09-09.cose", &n);
	int64_t now = at("2021-09-09T10:19:20Z");
	struct vt_err err;
	assert_int_equal(verify_doc(b, n, now, NULL, NULL, 0, NULL, &err), VT_OK);
	assert_int_equal(b[10], 0xa9); /* the payload map starts at byte 10 */
	size_t counts[VT_STEP_IO + 1] = {0}, total = 0;
	uint8_t *m = malloc(n);
	for (size_t i = 0; i < n; i++) {
		for (unsigned x = 1; x < 256; x++) {
			if (i >= 10 && x != 0x01)
				continue;
			memcpy(m, b, n);
			m[i] ^= (uint8_t)x;
			vt_status rc = verify_doc(m, n, now, NULL, NULL, 0, NULL, &err);
			if (rc == VT_OK)
				fail_msg("byte %zu ^ 0x%02x verified", i, x);
			counts[err.step]++;
			total++;
		}
	}
	free(m);
	print_message("# %zu one-byte changes: parse %zu, signature %zu, chain %zu, other %zu\n", total,
		      counts[VT_STEP_PARSE], counts[VT_STEP_SIGNATURE], counts[VT_STEP_CHAIN],
		      total - counts[VT_STEP_PARSE] - counts[VT_STEP_SIGNATURE] - counts[VT_STEP_CHAIN]);
	assert_true(counts[VT_STEP_PARSE] > 0 && counts[VT_STEP_SIGNATURE] > 0);
	free(b);
}

static void test_vectors_truncated(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_file(vdir, "nitro/marlin_nitro_prod_2024-08-07.cose", &n);
	struct vt_err err;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = malloc(i ? i : 1);
		memcpy(p, b, i);
		struct vt_nitro_doc d;
		vt_err_clear(&err);
		assert_int_equal(vt_nitro_doc_parse(p, i, &d, &err), VT_E_PARSE);
		assert_null(d.priv_);
		free(p);
	}
	free(b);
}

/* --------------------------------------------------------------- load_file */

static void test_load_file(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err err;
	json_t *ev = NULL;
	size_t n;
	uint8_t *raw = read_file(vdir, "nitro/fortanix_nitro_debug_2021-09-09.cose", &n);
	/* raw -> evidence; evidence JSON text -> the same evidence */
	json_t *e1 = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_tee_nitro.load_file(raw, n, &e1, &err), VT_OK);
	char *text = json_dumps(e1, JSON_COMPACT);
	assert_int_equal(vt_nitro_load_file((const uint8_t *)text, strlen(text), &ev, &err), VT_OK);
	assert_true(json_equal(e1, ev));
	json_decref(ev);
	/* base64 text with a newline and spaces */
	char *b64 = vt_b64_encode(raw, n);
	size_t bl = strlen(b64);
	char *padded = malloc(bl + 4);
	snprintf(padded, bl + 4, " %s\r\n", b64);
	assert_int_equal(vt_nitro_load_file((const uint8_t *)padded, strlen(padded), &ev, &err), VT_OK);
	assert_true(json_equal(e1, ev));
	json_decref(ev);
	free(padded);
	free(b64);
	/* dstack framing, every SCALE compact width */
	for (int mode = 0; mode < 3; mode++) {
		size_t hl = mode == 0 ? 1 : mode == 1 ? 2 : 4;
		uint8_t *f = malloc(2 + hl + n + 5);
		f[0] = 0x00;
		f[1] = 0x02;
		uint32_t enc = ((uint32_t)n << 2) | (uint32_t)mode;
		for (size_t j = 0; j < hl; j++)
			f[2 + j] = (uint8_t)(enc >> (8 * j));
		memcpy(f + 2 + hl, raw, n);
		memset(f + 2 + hl + n, 0, 5); /* trailer, ignored */
		vt_err_clear(&err);
		vt_status rc = vt_nitro_load_file(f, 2 + hl + n + 5, &ev, &err);
		if (mode == 0) {
			/* one-byte mode only holds 0..63: the length is wrong, the document cut */
			if (rc == VT_OK) {
				size_t dn;
				uint8_t *doc = evidence_doc(ev, &dn);
				assert_int_equal(verify_doc(doc, dn, at("2021-09-09T10:19:20Z"), NULL, NULL, 0, NULL,
							    &err),
						 VT_E_PARSE);
				free(doc);
				json_decref(ev);
			}
		} else {
			assert_int_equal(rc, VT_OK);
			assert_true(json_equal(e1, ev));
			json_decref(ev);
		}
		/* declared longer than the file */
		vt_err_clear(&err);
		assert_int_equal(vt_nitro_load_file(f, 2 + hl + n / 2, &ev, &err), mode == 0 ? VT_OK : VT_E_PARSE);
		if (mode == 0)
			json_decref(ev);
		free(f);
	}
	static const uint8_t bigmode[] = {0x00, 0x02, 0x03, 0x01, 0x02, 0x03, 0x04, 0x05};
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_load_file(bigmode, sizeof(bigmode), &ev, &err), VT_E_PARSE);
	static const uint8_t toolong[] = {0x00, 0x02, 0xfe, 0xff, 0xff, 0x3f}; /* 4-byte mode, 2^28 */
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_load_file(toolong, sizeof(toolong), &ev, &err), VT_E_LIMIT);
	/* junk */
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_load_file((const uint8_t *)"not a document!", 15, &ev, &err), VT_E_PARSE);
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_load_file((const uint8_t *)"", 0, &ev, &err), VT_E_PARSE);
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_load_file((const uint8_t *)"{\"x\": 1}", 8, &ev, &err), VT_E_PARSE);
	/* raw with a trailing byte loads but does not verify */
	uint8_t *t = malloc(n + 1);
	memcpy(t, raw, n);
	t[n] = 0;
	assert_int_equal(vt_nitro_load_file(t, n + 1, &ev, &err), VT_OK);
	assert_int_equal(tee_verify(ev, at("2021-09-09T10:19:20Z"), NULL, NULL, &err), VT_E_PARSE);
	json_decref(ev);
	free(t);
	free(text);
	json_decref(e1);
	free(raw);
}

static void test_evidence_json(void **state)
{
	(void)state;
	struct vt_err err;
	const char *bad[] = {
		"[]",
		"{}",
		"{\"attestation_document\": 1}",
		"{\"attestation_document\": \"hEShATgioFkSIKlp\", \"extra\": 1}",
		"{\"attestation_document\": \"!!!!\"}",
		"{\"attestation_document\": \"\"}",
		"{\"attestation_document\": \"AAAA\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *ev = json_loads(bad[i], 0, NULL);
		assert_non_null(ev);
		assert_int_equal(tee_verify(ev, 0, NULL, NULL, &err), VT_E_PARSE);
		assert_int_equal(err.step, VT_STEP_PARSE);
		json_decref(ev);
	}
	/* over the size cap */
	size_t big = 4 * ((VT_NITRO_MAX_DOC + 2) / 3) + 4;
	char *s = malloc(big + 1);
	memset(s, 'A', big);
	s[big] = '\0';
	json_t *ev = json_pack("{s:s}", "attestation_document", s);
	assert_int_equal(tee_verify(ev, 0, NULL, NULL, &err), VT_E_LIMIT);
	json_decref(ev);
	free(s);
	struct vt_verify_ctx ctx = {0};
	json_t *c = NULL;
	assert_int_equal(vt_tee_nitro.verify(&ctx, NULL, NULL, &c, &err), VT_E_USAGE);
	assert_string_equal(vt_tee_nitro.name, "nitro");
	assert_false(vt_tee_nitro.insecure);
}

/* --------------------------------------------------------------- synthetic */

static void test_synthetic_round_trip(void **state)
{
	(void)state;
	struct vt_err err;
	for (int indef = 0; indef < 2; indef++) {
		struct vt_nitro_doc_spec s = base_spec();
		s.indefinite = indef;
		size_t n;
		uint8_t *doc = build(&s, NULL, &n);
		json_t *claims = NULL;
		assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, NONCE48, sizeof(NONCE48), &claims, &err), VT_OK);
		assert_string_equal(json_string_value(json_object_get(claims, "module_id")), "i-0123-enc0456");
		assert_true(json_is_true(json_object_get(claims, "debug")));
		assert_string_equal(json_string_value(json_object_get(claims, "timestamp_rfc3339")),
				    "2024-01-01T00:01:00.123Z");
		char *h = vt_hex_encode(NONCE48, sizeof(NONCE48));
		assert_string_equal(json_string_value(json_object_get(claims, "report_data")), h);
		free(h);
		assert_int_equal(json_array_size(json_object_get(claims, "cabundle")), 2);
		const json_t *cert = json_object_get(claims, "certificate");
		assert_string_equal(json_string_value(json_object_get(cert, "subject")), "CN=i-0123.test.aws");
		assert_string_equal(json_string_value(json_object_get(cert, "not_after")), "2024-01-01T03:00:00Z");
		assert_string_equal(json_string_value(json_object_get(cert, "serial")), "03");
		json_decref(claims);
		/* the shipped pin refuses the test root */
		assert_int_equal(verify_doc(doc, n, g_t0 + 60, NULL, NULL, 0, NULL, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
		assert_string_equal(err.field, "payload.cabundle[0]");
		/* time: before the leaf, after it */
		assert_int_equal(verify_doc(doc, n, g_t0 - 1, g_root, NULL, 0, NULL, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
		assert_string_equal(err.field, "payload.certificate");
		assert_int_equal(verify_doc(doc, n, g_t0 + 3 * 3600 + 1, g_root, NULL, 0, NULL, &err), VT_E_REJECTED);
		free(doc);
	}
	/* non-debug: PCR0 set */
	struct vt_nitro_doc_spec s = base_spec();
	g_pcr_vals[0][5] = 1;
	size_t n;
	uint8_t *doc = build(&s, NULL, &n);
	json_t *claims = NULL;
	assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, NULL, 0, &claims, &err), VT_OK);
	assert_true(json_is_false(json_object_get(claims, "debug")));
	json_decref(claims);
	free(doc);
}

static void test_synthetic_binding(void **state)
{
	(void)state;
	struct vt_err err;
	uint8_t padded[64] = {0};
	memcpy(padded, NONCE48, sizeof(NONCE48));
	struct {
		bool nonce, ud;
		const uint8_t *field;
		size_t field_len;
		vt_status want;
	} cases[] = {
		{true, false, NONCE48, 48, VT_OK},   /* nonce = digest */
		{true, false, padded, 64, VT_OK},    /* nonce = digest || 0^16 */
		{false, true, NONCE48, 48, VT_OK},   /* user_data = digest */
		{false, true, padded, 64, VT_OK},    /* user_data padded */
		{true, false, padded, 63, VT_E_REJECTED},
		{true, false, NONCE48, 47, VT_E_REJECTED},
		{false, false, NULL, 0, VT_E_REJECTED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vt_nitro_doc_spec s = base_spec();
		s.nonce = (struct vt_nitro_bytes){cases[i].field, cases[i].field_len, cases[i].nonce};
		s.user_data = (struct vt_nitro_bytes){cases[i].field, cases[i].field_len, cases[i].ud};
		size_t n;
		uint8_t *doc = build(&s, NULL, &n);
		assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, NONCE48, sizeof(NONCE48), NULL, &err), cases[i].want);
		if (cases[i].want != VT_OK)
			assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
		free(doc);
	}
	/* padding must be zeros */
	struct vt_nitro_doc_spec s = base_spec();
	padded[63] = 1;
	s.nonce = (struct vt_nitro_bytes){padded, 64, true};
	size_t n;
	uint8_t *doc = build(&s, NULL, &n);
	assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, NONCE48, sizeof(NONCE48), NULL, &err), VT_E_REJECTED);
	/* a nonce that does not match does not hide a user_data that does */
	s.user_data = (struct vt_nitro_bytes){NONCE48, 48, true};
	free(doc);
	doc = build(&s, NULL, &n);
	assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, NONCE48, sizeof(NONCE48), NULL, &err), VT_OK);
	uint8_t huge[VT_NITRO_MAX_USER_DATA + 1] = {0};
	assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, huge, sizeof(huge), NULL, &err), VT_E_USAGE);
	free(doc);
}

static void test_synthetic_payload_rules(void **state)
{
	(void)state;
	struct vt_err err;
	static uint8_t big[VT_NITRO_MAX_USER_DATA + 2];
	struct vt_nitro_doc_spec s;
#define EXPECT(code, fld)                                                                             \
	do {                                                                                          \
		vt_status rc_ = verify_spec(&s, NULL, &err);                                          \
		if (rc_ != (code) || strcmp(err.field, (fld)) != 0)                                   \
			fail_msg("line %d: got %s field %s (%s)", __LINE__, vt_status_name(rc_), err.field, \
				 err.detail);                                                         \
	} while (0)

	s = base_spec();
	s.module_id = "";
	EXPECT(VT_E_PARSE, "payload.module_id");
	s = base_spec();
	char mid[VT_NITRO_MAX_MODULE_ID + 2];
	memset(mid, 'm', sizeof(mid) - 1);
	mid[sizeof(mid) - 1] = '\0';
	s.module_id = mid;
	EXPECT(VT_E_LIMIT, "payload.module_id");
	s = base_spec();
	s.digest = "SHA256";
	EXPECT(VT_E_PARSE, "payload.digest");
	s = base_spec();
	s.timestamp_ms = 0;
	EXPECT(VT_E_PARSE, "payload.timestamp");
	s = base_spec();
	s.timestamp_ms = (uint64_t)INT64_MAX + 1;
	EXPECT(VT_E_PARSE, "payload.timestamp");
	s = base_spec();
	s.pcr_count = 0;
	EXPECT(VT_E_PARSE, "payload.pcrs");
	s = base_spec();
	s.pcr_count = VT_NITRO_MAX_PCRS + 1;
	EXPECT(VT_E_LIMIT, "payload.pcrs");
	s = base_spec();
	s.pcr_count = VT_NITRO_MAX_PCRS; /* 32 PCRs, 0..31: fine */
	EXPECT(VT_OK, "");
	s = base_spec();
	g_pcrs[3].index = 32;
	EXPECT(VT_E_PARSE, "payload.pcrs{3}");
	s = base_spec();
	s.pcr_len = 32;
	EXPECT(VT_E_PARSE, "payload.pcrs[0]");
	s = base_spec();
	s.pcr_len = 64;
	EXPECT(VT_E_PARSE, "payload.pcrs[0]");
	s = base_spec();
	g_pcrs[3].index = 2; /* duplicate PCR index */
	EXPECT(VT_E_PARSE, "payload");
	s = base_spec();
	s.certificate.len = 0;
	EXPECT(VT_E_PARSE, "payload.certificate");
	s = base_spec();
	s.certificate = (struct vt_nitro_bytes){big, VT_NITRO_MAX_CERT + 1, true};
	EXPECT(VT_E_LIMIT, "payload.certificate");
	s = base_spec();
	s.certificate = (struct vt_nitro_bytes){g_leaf_der, g_leaf_der_len - 1, true};
	EXPECT(VT_E_PARSE, "payload.certificate");
	s = base_spec();
	s.cabundle_count = 0;
	EXPECT(VT_E_PARSE, "payload.cabundle");
	s = base_spec();
	for (size_t i = 2; i <= VT_NITRO_MAX_CABUNDLE; i++)
		g_bundle[i] = g_bundle[1];
	s.cabundle_count = VT_NITRO_MAX_CABUNDLE + 1;
	EXPECT(VT_E_LIMIT, "payload.cabundle");
	s = base_spec();
	g_bundle[1] = (struct vt_nitro_bytes){big, VT_NITRO_MAX_CERT + 1, true};
	EXPECT(VT_E_LIMIT, "payload.cabundle[1]");
	s = base_spec();
	g_bundle[1] = (struct vt_nitro_bytes){big, 0, true};
	EXPECT(VT_E_PARSE, "payload.cabundle[1]");
	s = base_spec();
	g_bundle[1] = (struct vt_nitro_bytes){g_int_der, g_int_der_len - 3, true};
	EXPECT(VT_E_PARSE, "payload.cabundle[1]");
	s = base_spec();
	s.user_data = (struct vt_nitro_bytes){big, VT_NITRO_MAX_USER_DATA + 1, true};
	EXPECT(VT_E_LIMIT, "payload.user_data");
	s = base_spec();
	s.nonce = (struct vt_nitro_bytes){big, VT_NITRO_MAX_USER_DATA + 1, true};
	EXPECT(VT_E_LIMIT, "payload.nonce");
	s = base_spec();
	s.public_key = (struct vt_nitro_bytes){big, VT_NITRO_MAX_USER_DATA + 1, true};
	EXPECT(VT_E_LIMIT, "payload.public_key");
	s = base_spec();
	s.public_key = (struct vt_nitro_bytes){big, VT_NITRO_MAX_USER_DATA, true};
	s.user_data = (struct vt_nitro_bytes){big, 0, true};
	EXPECT(VT_OK, "");
	/* ES256 in the protected header is not a Nitro document */
	s = base_spec();
	s.alg = VT_COSE_ALG_ES256;
	EXPECT(VT_E_PARSE, "cose.protected");
#undef EXPECT
}

/* Re-sign a document whose payload was edited by `edit` (on a decoded copy
 * without the key `drop`, when not NULL). */
static uint8_t *resign_edited(const uint8_t *doc, size_t n, void (*edit)(cbor_item_t *map), const char *drop,
			      size_t *out_len)
{
	struct vt_cose_sign1 c;
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sign1_parse(doc, n, &c, &err), VT_OK);
	cbor_item_t *pl = NULL;
	struct vt_cbor_limits lim = {.allow_indefinite = true};
	assert_int_equal(vt_cbor_decode_ex(c.payload, c.payload_len, &lim, "p", &pl, &err), VT_OK);
	/* copy into an indefinite map the editor can grow */
	cbor_item_t *m = cbor_new_indefinite_map();
	struct cbor_pair *p = cbor_map_handle(pl);
	for (size_t i = 0; i < cbor_map_size(pl); i++) {
		if (drop != NULL && cbor_isa_string(p[i].key) && cbor_string_length(p[i].key) == strlen(drop) &&
		    memcmp(cbor_string_handle(p[i].key), drop, strlen(drop)) == 0)
			continue;
		assert_true(cbor_map_add(m, p[i]));
	}
	edit(m);
	unsigned char *pb = NULL;
	size_t cap = 0, pn = cbor_serialize_alloc(m, &pb, &cap);
	assert_true(pn > 0);
	uint8_t *tbs = NULL, sig[96];
	size_t tbs_len = 0, sig_len = sizeof(sig);
	assert_int_equal(vt_cose_sig_structure(c.protected_bstr, c.protected_len, NULL, 0, pb, pn, &tbs, &tbs_len, &err),
			 VT_OK);
	assert_int_equal(vt_ecdsa_sign_raw(g_leaf_key, EVP_sha384(), tbs, tbs_len, sig, &sig_len, &err), VT_OK);
	cbor_item_t *arr = cbor_new_definite_array(4);
	cbor_item_t *parts[4] = {cbor_build_bytestring(c.protected_bstr, c.protected_len), cbor_new_definite_map(0),
				 cbor_build_bytestring(pb, pn), cbor_build_bytestring(sig, sig_len)};
	for (int i = 0; i < 4; i++) {
		assert_true(cbor_array_push(arr, parts[i]));
		cbor_decref(&parts[i]);
	}
	unsigned char *out = NULL;
	cap = 0;
	*out_len = cbor_serialize_alloc(arr, &out, &cap);
	assert_true(*out_len > 0);
	cbor_decref(&arr);
	cbor_decref(&m);
	cbor_decref(&pl);
	free(pb);
	free(tbs);
	vt_cose_sign1_free(&c);
	return out;
}

static void add_unknown(cbor_item_t *m)
{
	cbor_item_t *k = cbor_build_string("extra"), *v = cbor_new_null();
	assert_true(cbor_map_add(m, (struct cbor_pair){.key = k, .value = v}));
	cbor_decref(&k);
	cbor_decref(&v);
}

static void add_duplicate(cbor_item_t *m)
{
	cbor_item_t *k = cbor_build_string("nonce"), *v = cbor_new_null();
	assert_true(cbor_map_add(m, (struct cbor_pair){.key = k, .value = v}));
	cbor_decref(&k);
	cbor_decref(&v);
}

static void int_key(cbor_item_t *m)
{
	cbor_item_t *k = cbor_build_uint8(0), *v = cbor_new_null();
	assert_true(cbor_map_add(m, (struct cbor_pair){.key = k, .value = v}));
	cbor_decref(&k);
	cbor_decref(&v);
}

static void no_edit(cbor_item_t *m)
{
	(void)m;
}

static void null_module_id(cbor_item_t *m)
{
	struct cbor_pair *p = cbor_map_handle(m);
	for (size_t i = 0; i < cbor_map_size(m); i++)
		if (cbor_isa_string(p[i].key) && cbor_string_length(p[i].key) == 9 &&
		    memcmp(cbor_string_handle(p[i].key), "module_id", 9) == 0) {
			cbor_decref(&p[i].value);
			p[i].value = cbor_new_null();
		}
}

static void float_nonce(cbor_item_t *m)
{
	struct cbor_pair *p = cbor_map_handle(m);
	for (size_t i = 0; i < cbor_map_size(m); i++)
		if (cbor_isa_string(p[i].key) && cbor_string_length(p[i].key) == 5 &&
		    memcmp(cbor_string_handle(p[i].key), "nonce", 5) == 0) {
			cbor_decref(&p[i].value);
			p[i].value = cbor_build_float2(1.0f);
		}
}

static void test_synthetic_structure(void **state)
{
	(void)state;
	struct vt_err err;
	struct vt_nitro_doc_spec s = base_spec();
	size_t n, m;
	uint8_t *doc = build(&s, NULL, &n), *ed;

	/* the re-signing itself keeps a document valid */
	ed = resign_edited(doc, n, no_edit, NULL, &m);
	assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_OK);
	free(ed);
	ed = resign_edited(doc, n, add_unknown, NULL, &m);
	assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "payload");
	free(ed);
	ed = resign_edited(doc, n, int_key, NULL, &m);
	assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	free(ed);
	ed = resign_edited(doc, n, add_duplicate, NULL, &m);
	assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	assert_non_null(strstr(err.detail, "duplicate"));
	free(ed);
	static const char *const mandatory[] = {"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"};
	for (size_t i = 0; i < 6; i++) {
		ed = resign_edited(doc, n, no_edit, mandatory[i], &m);
		assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
		assert_non_null(strstr(err.detail, mandatory[i]));
		free(ed);
	}
	static const char *const optional[] = {"public_key", "user_data", "nonce"};
	for (size_t i = 0; i < 3; i++) {
		ed = resign_edited(doc, n, no_edit, optional[i], &m);
		assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_OK);
		free(ed);
	}
	ed = resign_edited(doc, n, float_nonce, NULL, &m);
	assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "payload.nonce");
	free(ed);
	ed = resign_edited(doc, n, null_module_id, NULL, &m);
	assert_int_equal(verify_doc(ed, m, g_t0 + 60, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "payload.module_id");
	free(ed);

	/* the payload must be a map */
	struct vt_cose_sign1 c;
	assert_int_equal(vt_cose_sign1_parse(doc, n, &c, &err), VT_OK);
	vt_cose_sign1_free(&c);
	static const uint8_t not_map[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x41, 0x01, 0x41, 0x00};
	assert_int_equal(verify_doc(not_map, sizeof(not_map), g_t0, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	static const uint8_t detached[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0xf6, 0x41, 0x00};
	assert_int_equal(verify_doc(detached, sizeof(detached), g_t0, g_root, NULL, 0, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "cose.payload");
	/* oversized document */
	uint8_t *huge = calloc(1, VT_NITRO_MAX_DOC + 1);
	assert_int_equal(verify_doc(huge, VT_NITRO_MAX_DOC + 1, g_t0, g_root, NULL, 0, NULL, &err), VT_E_LIMIT);
	free(huge);
	free(doc);
}

static void test_synthetic_chain(void **state)
{
	(void)state;
	struct vt_err err;
	struct vt_nitro_doc_spec s;

	/* leaf key P-256 with ES384 */
	X509 *leaf256 = make_cert("p256.test.aws", g_p256, g_int, g_int_key, false, "critical,digitalSignature", g_t0,
				  g_t0 + 3600, 10);
	size_t l256;
	uint8_t *d256 = der_of(leaf256, &l256);
	s = base_spec();
	s.certificate = (struct vt_nitro_bytes){d256, l256, true};
	assert_int_equal(verify_spec(&s, g_p256, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	OPENSSL_free(d256);
	X509_free(leaf256);

	/* signed by another P-384 key than the certificate's */
	s = base_spec();
	assert_int_equal(verify_spec(&s, g_int_key, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);

	/* a CA as the signing certificate */
	X509 *leafca = make_cert("ca-leaf.test.aws", g_leaf_key, g_int, g_int_key, true, "critical,digitalSignature,keyCertSign",
				 g_t0, g_t0 + 3600, 11);
	size_t lca;
	uint8_t *dca = der_of(leafca, &lca);
	s = base_spec();
	s.certificate = (struct vt_nitro_bytes){dca, lca, true};
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_string_equal(err.field, "payload.certificate");
	OPENSSL_free(dca);
	X509_free(leafca);

	/* key usage without digitalSignature */
	X509 *leafku = make_cert("ku.test.aws", g_leaf_key, g_int, g_int_key, false, "critical,keyAgreement", g_t0,
				 g_t0 + 3600, 12);
	size_t lku;
	uint8_t *dku = der_of(leafku, &lku);
	s = base_spec();
	s.certificate = (struct vt_nitro_bytes){dku, lku, true};
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	OPENSSL_free(dku);
	X509_free(leafku);

	/* intermediate missing */
	s = base_spec();
	s.cabundle_count = 1;
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	/* order reversed: cabundle[0] is not the root */
	s = base_spec();
	g_bundle[0] = g_bundle[1];
	g_bundle[1] = (struct vt_nitro_bytes){g_root_der, g_root_der_len, true};
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_string_equal(err.field, "payload.cabundle[0]");
	/* the leaf itself offered as an intermediate does not help */
	s = base_spec();
	g_bundle[1] = (struct vt_nitro_bytes){g_leaf_der, g_leaf_der_len, true};
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);

	/* an expired intermediate is named */
	X509 *old_int = make_cert("intermediate.test.nitro-enclaves", g_int_key, g_root, g_root_key, true,
				  "critical,keyCertSign,cRLSign", g_t0 - 86400, g_t0 + 30, 20);
	size_t loi;
	uint8_t *doi = der_of(old_int, &loi);
	s = base_spec();
	g_bundle[1] = (struct vt_nitro_bytes){doi, loi, true};
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_string_equal(err.field, "payload.cabundle[1]");
	OPENSSL_free(doi);
	X509_free(old_int);

	/* a leaf from another CA with the same names */
	EVP_PKEY *other = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &other, &err), VT_OK);
	X509 *fake_int = make_cert("intermediate.test.nitro-enclaves", other, NULL, NULL, true,
				   "critical,keyCertSign,cRLSign", g_t0 - 86400, g_t0 + 86400, 21);
	X509 *fake_leaf = make_cert("i-0123.test.aws", g_leaf_key, fake_int, other, false, "critical,digitalSignature",
				    g_t0, g_t0 + 3600, 22);
	size_t lfl;
	uint8_t *dfl = der_of(fake_leaf, &lfl);
	s = base_spec();
	s.certificate = (struct vt_nitro_bytes){dfl, lfl, true};
	assert_int_equal(verify_spec(&s, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	OPENSSL_free(dfl);
	X509_free(fake_leaf);
	X509_free(fake_int);
	EVP_PKEY_free(other);
}

/* ---------------------------------------------------------------- attester */

enum fake_mode { FAKE_OK, FAKE_ERROR, FAKE_WRONG_NONCE, FAKE_GARBAGE, FAKE_BAD_LEN, FAKE_NO_DOC, FAKE_EMPTY };

struct fake_nsm {
	enum fake_mode mode;
	size_t calls;
};

static uint8_t *ser_item(cbor_item_t *it, size_t *n)
{
	unsigned char *b = NULL;
	size_t cap = 0;
	*n = cbor_serialize_alloc(it, &b, &cap);
	assert_true(*n > 0);
	return b;
}

/* A fake /dev/nsm: checks the request shape, answers with a test-CA document. */
static vt_status fake_exchange(void *ctx, const uint8_t *req, size_t req_size, uint8_t *resp, size_t *resp_size,
			       struct vt_err *err)
{
	struct fake_nsm *f = ctx;
	f->calls++;
	assert_true(req_size <= VT_NSM_REQUEST_MAX);
	assert_int_equal(*resp_size, VT_NSM_RESPONSE_MAX);
	cbor_item_t *r = NULL;
	assert_int_equal(vt_cbor_decode(req, req_size, 4, "req", &r, err), VT_OK);
	const cbor_item_t *a = vt_cbor_map_get_str(r, "Attestation");
	assert_non_null(a);
	assert_int_equal(cbor_map_size(r), 1);
	assert_int_equal(cbor_map_size(a), 3);
	assert_true(vt_cbor_is_null(vt_cbor_map_get_str(a, "user_data")));
	assert_true(vt_cbor_is_null(vt_cbor_map_get_str(a, "public_key")));
	const cbor_item_t *nonce = vt_cbor_map_get_str(a, "nonce");
	assert_true(cbor_isa_bytestring(nonce));

	cbor_item_t *out = NULL;
	uint8_t wrong[4] = {1, 2, 3, 4};
	if (f->mode == FAKE_ERROR) {
		out = cbor_new_definite_map(1);
		cbor_item_t *k = cbor_build_string("Error"), *v = cbor_build_string("InvalidArgument");
		assert_true(cbor_map_add(out, (struct cbor_pair){.key = k, .value = v}));
		cbor_decref(&k);
		cbor_decref(&v);
	} else if (f->mode == FAKE_GARBAGE) {
		memcpy(resp, "\xff\xff", 2);
		*resp_size = 2;
		cbor_decref(&r);
		return VT_OK;
	} else if (f->mode == FAKE_BAD_LEN) {
		*resp_size = VT_NSM_RESPONSE_MAX + 1;
		cbor_decref(&r);
		return VT_OK;
	} else {
		struct vt_nitro_doc_spec s = base_spec();
		if (f->mode == FAKE_WRONG_NONCE)
			s.nonce = (struct vt_nitro_bytes){wrong, sizeof(wrong), true};
		else
			s.nonce = (struct vt_nitro_bytes){cbor_bytestring_handle(nonce), cbor_bytestring_length(nonce), true};
		size_t dn;
		uint8_t *doc = build(&s, NULL, &dn);
		out = cbor_new_definite_map(1);
		cbor_item_t *inner = cbor_new_definite_map(1);
		cbor_item_t *k1 = cbor_build_string("Attestation"),
			    *k2 = cbor_build_string(f->mode == FAKE_NO_DOC ? "doc" : "document"),
			    *v = f->mode == FAKE_EMPTY ? cbor_new_definite_bytestring() : cbor_build_bytestring(doc, dn);
		assert_true(cbor_map_add(inner, (struct cbor_pair){.key = k2, .value = v}));
		assert_true(cbor_map_add(out, (struct cbor_pair){.key = k1, .value = inner}));
		cbor_decref(&k1);
		cbor_decref(&k2);
		cbor_decref(&v);
		cbor_decref(&inner);
		free(doc);
	}
	size_t n;
	uint8_t *b = ser_item(out, &n);
	assert_true(n <= *resp_size);
	memcpy(resp, b, n);
	*resp_size = n;
	free(b);
	cbor_decref(&out);
	cbor_decref(&r);
	return VT_OK;
}

static void test_attester_fake_nsm(void **state)
{
	(void)state;
	struct vt_err err = {0};
	uint8_t rd[64];
	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(0x40 + i);
	for (size_t len = 48; len <= 64; len += 16) {
		struct fake_nsm f = {.mode = FAKE_OK};
		json_t *ev = NULL;
		assert_int_equal(vt_nitro_attest_via(fake_exchange, &f, rd, len, &ev, &err), VT_OK);
		assert_int_equal(f.calls, 1);
		size_t n;
		uint8_t *doc = evidence_doc(ev, &n);
		assert_int_equal(json_object_size(ev), 1);
		/* the broker's view: verify with the expected report data */
		json_t *claims = NULL;
		assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, rd, len, &claims, &err), VT_OK);
		char *h = vt_hex_encode(rd, len);
		assert_string_equal(json_string_value(json_object_get(claims, "nonce")), h);
		free(h);
		json_decref(claims);
		rd[0] ^= 1;
		assert_int_equal(verify_doc(doc, n, g_t0 + 60, g_root, rd, len, NULL, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
		rd[0] ^= 1;
		free(doc);
		json_decref(ev);
	}
	struct {
		enum fake_mode mode;
		vt_status want;
	} bad[] = {
		{FAKE_ERROR, VT_E_REJECTED}, {FAKE_WRONG_NONCE, VT_E_REJECTED}, {FAKE_GARBAGE, VT_E_PARSE},
		{FAKE_BAD_LEN, VT_E_PARSE},  {FAKE_NO_DOC, VT_E_PARSE},          {FAKE_EMPTY, VT_E_PARSE},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake_nsm f = {.mode = bad[i].mode};
		json_t *ev = NULL;
		vt_err_clear(&err);
		assert_int_equal(vt_nitro_attest_via(fake_exchange, &f, rd, 48, &ev, &err), bad[i].want);
		assert_null(ev);
	}
	json_t *ev = NULL;
	struct fake_nsm f = {.mode = FAKE_OK};
	uint8_t big[VT_NITRO_MAX_USER_DATA + 1] = {0};
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_attest_via(fake_exchange, &f, big, sizeof(big), &ev, &err), VT_E_USAGE);
	assert_int_equal(vt_nitro_attest_via(fake_exchange, &f, rd, 0, &ev, &err), VT_E_USAGE);
	assert_int_equal(f.calls, 0);
	/* the largest report data still fits a request */
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_attest_via(fake_exchange, &f, big, VT_NITRO_MAX_USER_DATA, &ev, &err), VT_OK);
	json_decref(ev);
	/* no NSM here: a clear usage error */
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_attest("/nonexistent/nsm", rd, 48, &ev, &err), VT_E_USAGE);
	assert_non_null(strstr(err.detail, "not inside a Nitro enclave"));
	/* a device that is not the NSM: the ioctl fails */
	vt_err_clear(&err);
	assert_int_equal(vt_nitro_attest("/dev/null", rd, 48, &ev, &err), VT_E_IO);
	assert_null(ev);
}

/* ------------------------------------------------------------ descriptors */

static json_t *refvals(void *ctx, const char *name)
{
	return strcmp(name, "nitro_pcr0") == 0 ? json_incref((json_t *)ctx) : NULL;
}

static void test_default_policy(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err err = {0};
	struct vt_policy *pol = NULL;
	assert_ptr_equal(vt_tee_nitro.default_policy, vt_nitro_default_policy);
	assert_int_equal(vt_policy_parse(vt_nitro_default_policy, strlen(vt_nitro_default_policy), &pol, &err), VT_OK);
	assert_string_equal(vt_policy_id(pol), "default_nitro");
	static const struct {
		const char *file, *time;
		bool debug;
	} docs[] = {
		{"nitro/evervault_nitro_prod_2022-10-13.cose", "2022-10-13T08:58:02Z", false},
		{"nitro/fortanix_nitro_debug_2021-09-09.cose", "2021-09-09T10:19:20Z", true},
	};
	for (size_t i = 0; i < 2; i++) {
		json_t *ev = load_evidence(vdir, docs[i].file), *claims = NULL;
		assert_int_equal(tee_verify(ev, at(docs[i].time), NULL, &claims, &err), VT_OK);
		json_t *input = json_pack("{s:o}", "nitro", claims);
		json_t *ref = json_pack("[O]", json_object_get(json_object_get(claims, "pcrs"), "0"));
		struct vt_appraisal a;
		assert_int_equal(vt_policy_evaluate(pol, input, NULL, refvals, ref, &a, &err), VT_OK);
		json_t *trust = vt_appraisal_trust_json(&a);
		assert_int_equal(json_integer_value(json_object_get(trust, "hardware")), 2);
		assert_int_equal(json_integer_value(json_object_get(trust, "executables")), 3);
		assert_int_equal(json_integer_value(json_object_get(trust, "configuration")), docs[i].debug ? 96 : 2);
		json_decref(trust);
		vt_appraisal_free(&a);
		json_decref(ref);
		json_decref(input);
		json_decref(ev);
	}
	vt_policy_free(pol);
}

static void test_attester_descriptor(void **state)
{
	(void)state;
	assert_string_equal(vt_attester_nitro.name, "nitro");
	assert_false(vt_attester_nitro.insecure);
	assert_string_equal(vt_attester_nitro.options[0].name, "nsm_device");
	assert_null(vt_attester_nitro.options[1].name);
	json_t *o = json_pack("{s:s}", "nsm_device", "/nonexistent/nsm"), *ev = NULL;
	uint8_t rd[64] = {1};
	struct vt_err err = {0};
	assert_int_equal(vt_attester_nitro.attest(o, rd, &ev, &err), VT_E_USAGE);
	assert_null(ev);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_verify),
		cmocka_unit_test(test_vectors_binding),
		cmocka_unit_test(test_vectors_negatives),
		cmocka_unit_test(test_vectors_exhaustive_flips),
		cmocka_unit_test(test_vectors_truncated),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_evidence_json),
		cmocka_unit_test(test_synthetic_round_trip),
		cmocka_unit_test(test_synthetic_binding),
		cmocka_unit_test(test_synthetic_payload_rules),
		cmocka_unit_test(test_synthetic_structure),
		cmocka_unit_test(test_synthetic_chain),
		cmocka_unit_test(test_attester_fake_nsm),
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_attester_descriptor),
	};
	return cmocka_run_group_tests_name("nitro", tests, group_setup, group_teardown);
}
