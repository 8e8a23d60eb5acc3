/* Core utilities: bounded reader, encodings, JCS, JSON pointer, time,
 * secrets, capped buffers, and the KBS runtime-data binding. */
#include "testutil.h"

#include <openssl/evp.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/kbs.h"

/* The writers read back by the reader, and their exact bytes. */
static void test_put(void **state)
{
	(void)state;
	uint8_t b[16] = {0};
	vt_put_le(b, 0x0102030405060708ULL, 8);
	vt_put_be(b + 8, 0x0102030405060708ULL, 8);
	const uint8_t want[16] = {8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8};
	assert_memory_equal(b, want, 16);
	uint8_t s[4] = {0xee, 0xee, 0xee, 0xee};
	vt_put_be(s + 1, 0xabcd, 2); /* the low n bytes only, nothing past them */
	vt_put_le(s + 3, 0x1234, 1);
	const uint8_t want_s[4] = {0xee, 0xab, 0xcd, 0x34};
	assert_memory_equal(s, want_s, 4);
	struct vt_reader r;
	uint64_t v = 0;
	vt_reader_init(&r, b, 8);
	assert_int_equal(vt_reader_u64le(&r, &v, "x", NULL), VT_OK);
	assert_true(v == 0x0102030405060708ULL);
}

static void test_reader(void **state)
{
	(void)state;
	const uint8_t d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
	struct vt_reader r;
	struct vt_err e = {0};
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	vt_reader_init(&r, d, sizeof(d));
	assert_int_equal(vt_reader_u8(&r, &u8, "a", &e), VT_OK);
	assert_int_equal(u8, 1);
	assert_int_equal(vt_reader_u16le(&r, &u16, "b", &e), VT_OK);
	assert_int_equal(u16, 0x0302);
	assert_int_equal(vt_reader_u16be(&r, &u16, "c", &e), VT_OK);
	assert_int_equal(u16, 0x0405);
	assert_int_equal(vt_reader_u32le(&r, &u32, "d", &e), VT_OK);
	assert_int_equal(u32, 0x09080706u);
	assert_int_equal(vt_reader_remaining(&r), 0);
	/* Truncation names the field and leaves the offset alone. */
	assert_int_equal(vt_reader_u64le(&r, &u64, "report.tail", &e), VT_E_PARSE);
	assert_err(&e, VT_E_PARSE, VT_STEP_PARSE);
	assert_string_equal(e.field, "report.tail");
	assert_int_equal(r.off, 9);
	assert_int_equal(vt_reader_expect_end(&r, "report", &e), VT_OK);
	/* A huge skip cannot wrap around. */
	vt_reader_init(&r, d, sizeof(d));
	assert_int_equal(vt_reader_skip(&r, 2, "x", NULL), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_reader_skip(&r, SIZE_MAX, "big", &e), VT_E_PARSE);
	assert_int_equal(r.off, 2);
	vt_err_clear(&e);
	assert_int_equal(vt_reader_expect_end(&r, "report", &e), VT_E_PARSE);
	assert_non_null(strstr(e.detail, "7 unexpected trailing bytes"));
	/* u32be / u64le values */
	const uint8_t be[] = {0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0, 0, 0, 0, 0x80};
	vt_reader_init(&r, be, sizeof(be));
	assert_int_equal(vt_reader_u32be(&r, &u32, "x", NULL), VT_OK);
	assert_int_equal(u32, 0xdeadbeefu);
	assert_int_equal(vt_reader_u64le(&r, &u64, "y", NULL), VT_OK);
	assert_true(u64 == 0x8000000000000001ull);
	/* NULL data is an empty input. */
	vt_reader_init(&r, NULL, 100);
	assert_int_equal(vt_reader_remaining(&r), 0);
}

static void test_hex(void **state)
{
	(void)state;
	const uint8_t d[] = {0x00, 0xab, 0xff};
	char *s = vt_hex_encode(d, 3);
	assert_string_equal(s, "00abff");
	free(s);
	uint8_t *p;
	size_t n;
	struct vt_err e = {0};
	assert_int_equal(vt_hex_decode("00ABff", &p, &n, &e), VT_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(p, d, 3);
	free(p);
	assert_int_equal(vt_hex_decode("abc", &p, &n, &e), VT_E_PARSE);
	vt_err_clear(&e);
	assert_int_equal(vt_hex_decode("zz", &p, &n, &e), VT_E_PARSE);
	uint8_t f[2];
	vt_err_clear(&e);
	assert_int_equal(vt_hex_decode_fixed("0102", f, 2, &e), VT_OK);
	assert_int_equal(vt_hex_decode_fixed("010203", f, 2, &e), VT_E_PARSE);
}

static void test_base64(void **state)
{
	(void)state;
	struct {
		const char *raw, *std, *url;
	} v[] = {{"", "", ""}, {"f", "Zg==", "Zg"}, {"fo", "Zm8=", "Zm8"}, {"foo", "Zm9v", "Zm9v"},
		 {"foob", "Zm9vYg==", "Zm9vYg"}, {"\xfb\xff", "+/8=", "-_8"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t rl = strlen(v[i].raw);
		char *s = vt_b64_encode((const uint8_t *)v[i].raw, rl);
		assert_string_equal(s, v[i].std);
		free(s);
		s = vt_b64url_encode((const uint8_t *)v[i].raw, rl);
		assert_string_equal(s, v[i].url);
		free(s);
		uint8_t *p;
		size_t n;
		assert_int_equal(vt_b64_decode(v[i].std, strlen(v[i].std), &p, &n, NULL), VT_OK);
		assert_int_equal(n, rl);
		assert_memory_equal(p, v[i].raw, rl);
		free(p);
		assert_int_equal(vt_b64url_decode(v[i].url, strlen(v[i].url), &p, &n, NULL), VT_OK);
		assert_int_equal(n, rl);
		assert_memory_equal(p, v[i].raw, rl);
		free(p);
	}
	const char *bad_std[] = {"Zg=", "Zg", "Z===", "Zh==", "Zm9v!", "Zm9v\n", "-_8=", "Zg==Zg=="};
	for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
		uint8_t *p = NULL;
		size_t n;
		struct vt_err e = {0};
		if (vt_b64_decode(bad_std[i], strlen(bad_std[i]), &p, &n, &e) != VT_E_PARSE)
			fail_msg("standard base64 \"%s\" accepted", bad_std[i]);
		assert_err(&e, VT_E_PARSE, VT_STEP_PARSE);
	}
	const char *bad_url[] = {"Zg==", "Zh", "+/8", "Z", "Zm9v Zg"};
	for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++) {
		uint8_t *p = NULL;
		size_t n;
		if (vt_b64url_decode(bad_url[i], strlen(bad_url[i]), &p, &n, NULL) != VT_E_PARSE)
			fail_msg("base64url \"%s\" accepted", bad_url[i]);
	}
}

static void test_jcs(void **state)
{
	(void)state;
	json_t *v = NULL;
	/* The Trustee attestation-service unit vector (kbs-protocol.md §5.1). */
	const char *in = "{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}";
	assert_int_equal(vt_json_parse(in, strlen(in), 4096, &v, NULL), VT_OK);
	char *c = vt_json_canonical(v);
	assert_string_equal(c, "{\"a\":\"test\",\"b\":1,\"c\":{\"d\":\"e\"}}");
	free(c);
	json_decref(v);
	/* Escapes: only " \\ and control characters; '/' and non-ASCII as is;
	 * lowercase \\u00XX.  Keys sorted by UTF-16 code units: U+10000 (a
	 * surrogate pair, 0xD800...) sorts before U+FFFD. */
	v = json_pack("{s:s, s:s, s:i, s:b, s:n}", "\xef\xbf\xbd", "x", "\xf0\x90\x80\x80", "a/\"\\\x01\n\xc3\xa9",
		      "n", -5, "t", 1, "z");
	c = vt_json_canonical(v);
	assert_string_equal(c, "{\"n\":-5,\"t\":true,\"z\":null,\"\xf0\x90\x80\x80\":\"a/\\\"\\\\\\u0001\\n\xc3\xa9\","
			       "\"\xef\xbf\xbd\":\"x\"}");
	free(c);
	json_decref(v);
	/* Reals and out-of-range integers have no canonical form here. */
	v = json_pack("{s:f}", "r", 1.5);
	assert_null(vt_json_canonical(v));
	json_decref(v);
	v = json_pack("{s:I}", "big", (json_int_t)9007199254740992LL);
	assert_null(vt_json_canonical(v));
	json_decref(v);
}

static void test_json_parse_limits(void **state)
{
	(void)state;
	json_t *v = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_json_parse("{\"a\":1,\"a\":2}", 13, 100, &v, &e), VT_E_PARSE);
	vt_err_clear(&e);
	assert_int_equal(vt_json_parse("{\"a\":1}", 7, 6, &v, &e), VT_E_LIMIT);
	vt_err_clear(&e);
	assert_int_equal(vt_json_parse("{\"a\":", 5, 100, &v, &e), VT_E_PARSE);
	assert_non_null(strstr(e.detail, "invalid JSON"));
	vt_err_clear(&e);
	assert_int_equal(vt_json_parse("{\"a\":\"\\u0000\"}", 14, 100, &v, &e), VT_E_PARSE);
	const char *s;
	assert_int_equal(vt_json_parse("{\"a\":1}", 7, 100, &v, &e), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_json_get_string(v, "a", &s, &e), VT_E_PARSE);
	assert_string_equal(e.field, "a");
	assert_non_null(strstr(e.detail, "must be a string"));
	vt_err_clear(&e);
	assert_int_equal(vt_json_get_string(v, "b", &s, &e), VT_E_PARSE);
	assert_non_null(strstr(e.detail, "missing member"));
	json_decref(v);
}

static void test_pointer(void **state)
{
	(void)state;
	json_t *doc = json_pack("{s:{s:i}, s:[i,i], s:i, s:i, s:i}", "a", "b", 1, "arr", 10, 20, "x/y", 2, "m~n", 3, "", 4);
	assert_ptr_equal(vt_json_pointer(doc, ""), doc);
	assert_int_equal(json_integer_value(vt_json_pointer(doc, "/a/b")), 1);
	assert_int_equal(json_integer_value(vt_json_pointer(doc, "/arr/1")), 20);
	assert_int_equal(json_integer_value(vt_json_pointer(doc, "/x~1y")), 2);
	assert_int_equal(json_integer_value(vt_json_pointer(doc, "/m~0n")), 3);
	assert_int_equal(json_integer_value(vt_json_pointer(doc, "/")), 4);
	assert_null(vt_json_pointer(doc, "/arr/01"));
	assert_null(vt_json_pointer(doc, "/arr/2"));
	assert_null(vt_json_pointer(doc, "/arr/-1"));
	assert_null(vt_json_pointer(doc, "a/b"));
	assert_null(vt_json_pointer(doc, "/a~2"));
	assert_null(vt_json_pointer(doc, "/a/b/c"));
	json_decref(doc);
}

static void test_time(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(vt_time_parse_rfc3339("1970-01-01T00:00:00Z", &t, NULL), VT_OK);
	assert_int_equal(t, 0);
	assert_int_equal(vt_time_parse_rfc3339("2025-12-08T00:00:00Z", &t, NULL), VT_OK);
	assert_int_equal(t, 1765152000);
	assert_int_equal(vt_time_parse_rfc3339("2025-12-08T01:30:00+01:30", &t, NULL), VT_OK);
	assert_int_equal(t, 1765152000);
	assert_int_equal(vt_time_parse_rfc3339("2024-02-29T12:00:00.123Z", &t, NULL), VT_OK);
	assert_int_equal(t, 1709208000);
	char buf[32];
	vt_time_format_rfc3339(1765152000, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-08T00:00:00Z");
	const char *bad[] = {"2025-12-08", "2025-13-01T00:00:00Z", "2025-12-08T00:00:00", "2025-12-08T00:00:00Zjunk",
			     "2025-12-08 00:00:00Z", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vt_err e = {0};
		if (vt_time_parse_rfc3339(bad[i], &t, &e) != VT_E_PARSE)
			fail_msg("accepted bad time \"%s\"", bad[i]);
	}
}

static void test_secret_and_buf(void **state)
{
	(void)state;
	struct vt_secret *a = vt_secret_from("abc", 3), *b = vt_secret_from("abc", 3), *c = vt_secret_from("abd", 3),
			 *d = vt_secret_from("ab", 2);
	assert_true(vt_secret_eq(a, b));
	assert_false(vt_secret_eq(a, c));
	assert_false(vt_secret_eq(a, d));
	assert_false(vt_secret_eq(a, NULL));
	assert_int_equal(a->data[3], 0); /* usable as a C string */
	vt_secret_free(a);
	vt_secret_free(b);
	vt_secret_free(c);
	vt_secret_free(d);
	vt_secret_free(NULL);
	struct vt_secret *r1 = vt_secret_random(32), *r2 = vt_secret_random(32);
	assert_false(vt_secret_eq(r1, r2));
	vt_secret_free(r1);
	vt_secret_free(r2);

	struct vt_buf buf;
	struct vt_err e = {0};
	vt_buf_init(&buf, 10);
	assert_int_equal(vt_buf_append(&buf, "0123456789", 10, &e), VT_OK);
	assert_int_equal(vt_buf_append(&buf, "x", 1, &e), VT_E_LIMIT);
	assert_int_equal(buf.len, 10);
	assert_string_equal((char *)buf.data, "0123456789");
	vt_buf_free(&buf);
}

/* The binding of kbs-protocol.md §11(c): JCS of the runtime data and its
 * SHA-384, computed independently for that document. */
static void test_kbs_runtime_digest(void **state)
{
	(void)state;
	json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "alg", "ECDH-ES+A256KW", "x",
				"N8poHHHCG9pHI3AGPW4mB5jEXIk5juROKcjKnk_8Fxo", "y",
				"YV6eppti_K38I4bsJEahkD9S8_boh5WZMuIOS5-cKbE");
	uint8_t d[48];
	json_t *rt = NULL;
	assert_int_equal(vt_kbs_runtime_digest(jwk, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "", &rt, d, NULL),
			 VT_OK);
	char *canon = vt_json_canonical(rt);
	assert_string_equal(canon,
			    "{\"additional-evidence\":\"\",\"nonce\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
			    "\"tee-pubkey\":{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\",\"kty\":\"EC\","
			    "\"x\":\"N8poHHHCG9pHI3AGPW4mB5jEXIk5juROKcjKnk_8Fxo\","
			    "\"y\":\"YV6eppti_K38I4bsJEahkD9S8_boh5WZMuIOS5-cKbE\"}}");
	char *hex = vt_hex_encode(d, sizeof(d));
	assert_string_equal(hex, "a0de80db3ff711de651342e25549a72c030dbbfc5d4c25ddefceb9d0cddf6cd2"
				 "95f3f1a00b3631cff6f10e3f453aa229");
	free(hex);
	free(canon);
	json_decref(rt);
	json_decref(jwk);
}

static void test_resource_path(void **state)
{
	(void)state;
	const char *ok[] = {"default/key/demo", "a/b/c", "repo_1/type-2/tag.v1", "-/_/x..y"};
	const char *bad[] = {"default/key", "a/b/c/d", "../b/c", "a/../c", "a/b/..", "a/b/.hidden", "a//c", "/a/b/c",
			     "a/b/c/", "a/b/c d", "a/b/c%00", "a/b/\xc3\xa9", "", NULL};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!vt_kbs_resource_path_valid(ok[i]))
			fail_msg("rejected valid path %s", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vt_kbs_resource_path_valid(bad[i]))
			fail_msg("accepted bad path %s", bad[i] ? bad[i] : "(null)");
	char longp[200];
	memset(longp, 'a', sizeof(longp));
	longp[1] = '/';
	longp[3] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_false(vt_kbs_resource_path_valid(longp));
}

static void test_err_first_cause_wins(void **state)
{
	(void)state;
	struct vt_err e = {0};
	vt_fail(&e, VT_E_REJECTED, VT_STEP_SIGNATURE, "report.signature", "inner %d", 1);
	vt_fail(&e, VT_E_REJECTED, VT_STEP_BINDING, "outer", "outer");
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_string_equal(e.field, "report.signature");
	char buf[256];
	vt_err_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "rejected (step=signature field=report.signature): inner 1");
}

static void test_ecdsa_raw(void **state)
{
	(void)state;
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &k, NULL), VT_OK);
	uint8_t sig[96];
	size_t n = sizeof(sig);
	const uint8_t msg[] = "message";
	assert_int_equal(vt_ecdsa_sign_raw(k, EVP_sha384(), msg, sizeof(msg), sig, &n, NULL), VT_OK);
	assert_int_equal(n, 96);
	assert_int_equal(vt_ecdsa_verify_raw(k, EVP_sha384(), msg, sizeof(msg), sig, n, NULL), VT_OK);
	struct vt_err e = {0};
	sig[10] ^= 1;
	assert_int_equal(vt_ecdsa_verify_raw(k, EVP_sha384(), msg, sizeof(msg), sig, n, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	vt_err_clear(&e);
	assert_int_equal(vt_ecdsa_verify_raw(k, EVP_sha384(), msg, sizeof(msg), sig, 95, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "must be 96 bytes"));
	/* r = 0 and s = 0 are rejected, not crashed on. */
	memset(sig, 0, sizeof(sig));
	assert_int_equal(vt_ecdsa_verify_raw(k, EVP_sha384(), msg, sizeof(msg), sig, n, NULL), VT_E_REJECTED);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put), cmocka_unit_test(test_reader),	      cmocka_unit_test(test_hex),
		cmocka_unit_test(test_base64),	      cmocka_unit_test(test_jcs),
		cmocka_unit_test(test_json_parse_limits), cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_time),	      cmocka_unit_test(test_secret_and_buf),
		cmocka_unit_test(test_kbs_runtime_digest), cmocka_unit_test(test_resource_path),
		cmocka_unit_test(test_err_first_cause_wins), cmocka_unit_test(test_ecdsa_raw),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
