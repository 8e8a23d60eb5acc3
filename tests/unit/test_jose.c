/* Unit tests for veritee/jose.h: JWK, JWS compact, JWE flattened JSON. */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/evp.h>

#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"

/* ------------------------------------------------------------ fixtures */

enum { K_P256, K_P384, K_P521, K_ED25519, K_RSA, K_COUNT };
static EVP_PKEY *keys[K_COUNT];

static int group_setup(void **state)
{
	(void)state;
	static const vt_key_type types[K_COUNT] = {VT_KEY_P256, VT_KEY_P384, VT_KEY_P521, VT_KEY_ED25519,
						   VT_KEY_RSA2048};
	for (int i = 0; i < K_COUNT; i++)
		if (vt_key_generate(types[i], &keys[i], NULL) != VT_OK)
			return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < K_COUNT; i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static json_t *parse(const char *s)
{
	json_t *v = NULL;
	if (vt_json_parse(s, strlen(s), 1 << 20, &v, NULL) != VT_OK)
		fail_msg("bad JSON in test: %s", s);
	return v;
}

static char *b64url_str(const char *s)
{
	char *r = vt_b64url_encode((const uint8_t *)s, strlen(s));
	assert_non_null(r);
	return r;
}

/* Decode a base64url string member into a malloc'd buffer. */
static uint8_t *member_bytes(const json_t *o, const char *key, size_t *n)
{
	const char *s = json_string_value(json_object_get(o, key));
	assert_non_null(s);
	uint8_t *b = NULL;
	assert_int_equal(vt_b64url_decode(s, strlen(s), &b, n, NULL), VT_OK);
	return b;
}

static void set_member_bytes(json_t *o, const char *key, const uint8_t *b, size_t n)
{
	char *s = vt_b64url_encode(b, n);
	assert_non_null(s);
	assert_int_equal(json_object_set_new(o, key, json_string(s)), 0);
	free(s);
}

/* Decrypt expecting the uniform rejection. */
static void expect_jwe_reject(EVP_PKEY *key, const json_t *jwe)
{
	struct vt_err err = {0};
	struct vt_secret *pt = NULL;
	assert_int_equal(vt_jwe_decrypt(key, jwe, &pt, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CRYPTO);
	assert_string_equal(err.detail, "JWE decryption failed");
	assert_null(pt);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + 7);
	return p;
}

/* ------------------------------------------------------------ 1. known answer */

static void test_kat_section11(void **state)
{
	(void)state;
	/* TEE key from kbs-protocol.md §11: d in hex, x/y from the tee-pubkey. */
	uint8_t d[32];
	assert_int_equal(
		vt_hex_decode_fixed("2e8e92350555f54cd9d06c322db9beea3f1e366a31318025c5ed832e45c31eea", d, 32, NULL),
		VT_OK);
	char *d64 = vt_b64url_encode(d, 32);
	json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x",
				"N8poHHHCG9pHI3AGPW4mB5jEXIk5juROKcjKnk_8Fxo", "y",
				"YV6eppti_K38I4bsJEahkD9S8_boh5WZMuIOS5-cKbE", "d", d64);
	free(d64);
	EVP_PKEY *key = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_jwk_to_key(jwk, true, &key, &err), VT_OK);

	json_t *jwe = parse(
		"{\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsiY3J2IjoiUC0yNTYiLCJrdHkiOiJF"
		"QyIsIngiOiJ5U0ZYc19ybl9MSkhjbVNWbWhfNV93VUlCTDlsX3JGVTA0R1FlZTdkU1VZIiwieSI6ImNmeWI1bldmci1jZDg5WDZXZnB6TTAtTnFC"
		"U1NkdldXdkVOWHN1WlpEbGcifX0\","
		"\"encrypted_key\":\"RjbyaLXRMt5iXt7GyKu70nZcpiA0vTR3bYFdKEMx9240zL1EMzsmhg\","
		"\"iv\":\"IrEf-gHg9WNgWAdM\",\"ciphertext\":\"-tluSJwoH4ZCBSYdIvb0XRr5loEDS52D_T4-7w\","
		"\"tag\":\"-s4BZxdglkn2S2hGPL0qwQ\"}");
	struct vt_secret *pt = NULL;
	if (vt_jwe_decrypt(key, jwe, &pt, &err) != VT_OK)
		fail_msg("decrypt: %s: %s", err.field, err.detail);
	static const char want[] = "my-very-secret-key-material\n";
	assert_int_equal(pt->len, sizeof(want) - 1);
	assert_memory_equal(pt->data, want, sizeof(want) - 1);
	vt_secret_free(pt);

	/* The same key exported again gives the published public JWK members. */
	json_t *pub = vt_key_to_jwk(key, "ECDH-ES+A256KW", false);
	char *s = vt_json_compact(pub);
	assert_string_equal(s, "{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\",\"kty\":\"EC\","
			       "\"x\":\"N8poHHHCG9pHI3AGPW4mB5jEXIk5juROKcjKnk_8Fxo\","
			       "\"y\":\"YV6eppti_K38I4bsJEahkD9S8_boh5WZMuIOS5-cKbE\"}");
	free(s);
	json_decref(pub);

	/* Any other P-256 key is rejected with the uniform error. */
	expect_jwe_reject(keys[K_P256], jwe);
	vt_wipe(d, sizeof(d));
	json_decref(jwk);
	json_decref(jwe);
	EVP_PKEY_free(key);
}

/* ------------------------------------------------------------ 2. round trips */

static void check_protected_shape(const json_t *jwe, EVP_PKEY *key)
{
	size_t n = 0;
	uint8_t *h = member_bytes(jwe, "protected", &n);
	char *hs = strndup((const char *)h, n);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		assert_string_equal(hs, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}");
	} else {
		size_t cs = vt_ec_coord_size(key);
		const char *crv = cs == 32 ? "P-256" : cs == 48 ? "P-384" : "P-521";
		char prefix[128];
		snprintf(prefix, sizeof(prefix),
			 "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"",
			 crv);
		assert_int_equal(strncmp(hs, prefix, strlen(prefix)), 0);
		/* Re-serializing the parsed header in member order gives the same bytes. */
		json_t *hj = parse(hs);
		char *again = vt_json_compact(hj);
		assert_string_equal(again, hs);
		json_t *epk = json_object_get(hj, "epk");
		const char *order[] = {"crv", "kty", "x", "y"};
		size_t i = 0;
		const char *k;
		json_t *v;
		json_object_foreach(epk, k, v)
		{
			assert_true(i < 4);
			assert_string_equal(k, order[i]);
			i++;
		}
		assert_int_equal(i, 4);
		size_t xl = 0, yl = 0;
		uint8_t *x = member_bytes(epk, "x", &xl), *y = member_bytes(epk, "y", &yl);
		assert_int_equal(xl, cs);
		assert_int_equal(yl, cs);
		free(x);
		free(y);
		free(again);
		json_decref(hj);
	}
	/* top-level members in order, no aad */
	const char *top[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)jwe, k, v)
	{
		assert_true(i < 5);
		assert_string_equal(k, top[i]);
		i++;
	}
	assert_int_equal(i, 5);
	size_t ekl = 0, ivl = 0, tagl = 0;
	free(member_bytes(jwe, "encrypted_key", &ekl));
	free(member_bytes(jwe, "iv", &ivl));
	free(member_bytes(jwe, "tag", &tagl));
	assert_int_equal(ekl, EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? 256 : 40);
	assert_int_equal(ivl, 12);
	assert_int_equal(tagl, 16);
	free(hs);
	free(h);
}

static void test_jwe_roundtrip(void **state)
{
	(void)state;
	static const int kidx[] = {K_P256, K_P384, K_P521, K_RSA};
	static const size_t sizes[] = {0, 1, 1000, 100000};
	for (size_t ki = 0; ki < 4; ki++) {
		EVP_PKEY *key = keys[kidx[ki]];
		const char *alg = kidx[ki] == K_RSA ? "RSA-OAEP-256" : "ECDH-ES+A256KW";
		for (size_t si = 0; si < 4; si++) {
			uint8_t *p = pattern(sizes[si]);
			json_t *jwe = NULL;
			struct vt_err err = {0};
			assert_int_equal(vt_jwe_encrypt(key, alg, p, sizes[si], &jwe, &err), VT_OK);
			check_protected_shape(jwe, key);
			size_t ctl = 0;
			free(member_bytes(jwe, "ciphertext", &ctl));
			assert_int_equal(ctl, sizes[si]);
			struct vt_secret *pt = NULL;
			assert_int_equal(vt_jwe_decrypt(key, jwe, &pt, &err), VT_OK);
			assert_int_equal(pt->len, sizes[si]);
			if (sizes[si])
				assert_memory_equal(pt->data, p, sizes[si]);
			vt_secret_free(pt);
			json_decref(jwe);
			free(p);
		}
	}
}

static void test_jwe_encrypt_usage(void **state)
{
	(void)state;
	json_t *jwe = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_jwe_encrypt(keys[K_RSA], "ECDH-ES+A256KW", (const uint8_t *)"x", 1, &jwe, &err),
			 VT_E_USAGE);
	vt_err_clear(&err);
	assert_int_equal(vt_jwe_encrypt(keys[K_P256], "RSA-OAEP-256", (const uint8_t *)"x", 1, &jwe, &err),
			 VT_E_USAGE);
	vt_err_clear(&err);
	assert_int_equal(vt_jwe_encrypt(keys[K_P256], "ECDH-ES", (const uint8_t *)"x", 1, &jwe, &err), VT_E_USAGE);
	vt_err_clear(&err);
	assert_int_equal(vt_jwe_encrypt(keys[K_ED25519], "ECDH-ES+A256KW", (const uint8_t *)"x", 1, &jwe, &err),
			 VT_E_USAGE);
	assert_null(jwe);
}

/* ------------------------------------------------------------ 3. JWE negatives */

static json_t *make_jwe(EVP_PKEY *key, const char *msg)
{
	json_t *jwe = NULL;
	const char *alg = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "RSA-OAEP-256" : "ECDH-ES+A256KW";
	assert_int_equal(vt_jwe_encrypt(key, alg, (const uint8_t *)msg, strlen(msg), &jwe, NULL), VT_OK);
	return jwe;
}

static void test_jwe_tamper(void **state)
{
	(void)state;
	static const char *members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
	static const int kidx[] = {K_P256, K_P521, K_RSA};
	for (size_t ki = 0; ki < 3; ki++) {
		EVP_PKEY *key = keys[kidx[ki]];
		for (size_t m = 0; m < 5; m++) {
			json_t *base = make_jwe(key, "attack at dawn");
			size_t n = 0;
			uint8_t *b = member_bytes(base, members[m], &n);
			assert_true(n > 0);
			/* first, middle and last byte */
			size_t pos[3] = {0, n / 2, n - 1};
			for (size_t pi = 0; pi < 3; pi++) {
				json_t *jwe = json_deep_copy(base);
				b[pos[pi]] ^= 0x01;
				set_member_bytes(jwe, members[m], b, n);
				b[pos[pi]] ^= 0x01;
				expect_jwe_reject(key, jwe);
				json_decref(jwe);
			}
			free(b);
			json_decref(base);
		}
	}
}

static void test_jwe_wrong_key(void **state)
{
	(void)state;
	EVP_PKEY *other = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &other, NULL), VT_OK);
	json_t *jwe = make_jwe(keys[K_P256], "secret");
	expect_jwe_reject(other, jwe);    /* same curve, other key */
	expect_jwe_reject(keys[K_P384], jwe); /* other curve */
	expect_jwe_reject(keys[K_RSA], jwe);  /* other type */
	json_decref(jwe);
	EVP_PKEY_free(other);

	assert_int_equal(vt_key_generate(VT_KEY_RSA2048, &other, NULL), VT_OK);
	jwe = make_jwe(keys[K_RSA], "secret");
	expect_jwe_reject(other, jwe);
	expect_jwe_reject(keys[K_P256], jwe);
	json_decref(jwe);
	EVP_PKEY_free(other);
}

static void test_jwe_missing_member(void **state)
{
	(void)state;
	static const char *members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
	for (size_t m = 0; m < 5; m++) {
		json_t *jwe = make_jwe(keys[K_P256], "secret");
		assert_int_equal(json_object_del(jwe, members[m]), 0);
		expect_jwe_reject(keys[K_P256], jwe);
		json_decref(jwe);
		/* wrong type */
		jwe = make_jwe(keys[K_P256], "secret");
		json_object_set_new(jwe, members[m], json_integer(1));
		expect_jwe_reject(keys[K_P256], jwe);
		json_decref(jwe);
	}
	/* not an object; aad member present; general (recipients) form */
	json_t *arr = json_array();
	expect_jwe_reject(keys[K_P256], arr);
	json_decref(arr);
	json_t *jwe = make_jwe(keys[K_P256], "secret");
	json_object_set_new(jwe, "aad", json_string("AA"));
	expect_jwe_reject(keys[K_P256], jwe);
	json_decref(jwe);
	/* epk missing from the protected header */
	jwe = make_jwe(keys[K_P256], "secret");
	size_t n = 0;
	uint8_t *h = member_bytes(jwe, "protected", &n);
	json_t *hj = NULL;
	assert_int_equal(vt_json_parse((const char *)h, n, 4096, &hj, NULL), VT_OK);
	json_object_del(hj, "epk");
	char *hs = vt_json_compact(hj);
	set_member_bytes(jwe, "protected", (const uint8_t *)hs, strlen(hs));
	expect_jwe_reject(keys[K_P256], jwe);
	free(hs);
	json_decref(hj);
	free(h);
	json_decref(jwe);
}

/* Replace the protected header with `hdr` (re-encoding it; the tag then fails
 * too, but the header must be refused first — either way it is rejected). */
static void reject_with_header(EVP_PKEY *key, const char *hdr)
{
	json_t *jwe = make_jwe(key, "secret");
	set_member_bytes(jwe, "protected", (const uint8_t *)hdr, strlen(hdr));
	expect_jwe_reject(key, jwe);
	json_decref(jwe);
}

static void test_jwe_bad_header(void **state)
{
	(void)state;
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA1_5\",\"enc\":\"A256GCM\"}");
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}");
	reject_with_header(keys[K_RSA], "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}");
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A128GCM\"}");
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256CBC-HS512\"}");
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA-OAEP-256\"}");
	reject_with_header(keys[K_RSA], "{\"enc\":\"A256GCM\"}");
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"zip\":\"DEF\"}");
	reject_with_header(keys[K_RSA], "[\"alg\"]");
	reject_with_header(keys[K_RSA], "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"} x");
	reject_with_header(keys[K_P256], "{\"alg\":\"ECDH-ES\",\"enc\":\"A256GCM\"}");
	reject_with_header(keys[K_P256], "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}");

	/* ECDH with an epk whose alg/enc is right but enc is wrong, keeping epk */
	json_t *jwe = make_jwe(keys[K_P256], "secret");
	size_t n = 0;
	uint8_t *h = member_bytes(jwe, "protected", &n);
	json_t *hj = NULL;
	assert_int_equal(vt_json_parse((const char *)h, n, 4096, &hj, NULL), VT_OK);
	json_object_set_new(hj, "enc", json_string("A192GCM"));
	char *hs = vt_json_compact(hj);
	set_member_bytes(jwe, "protected", (const uint8_t *)hs, strlen(hs));
	expect_jwe_reject(keys[K_P256], jwe);
	free(hs);
	/* epk not on the curve */
	json_t *epk = json_object_get(hj, "epk");
	json_object_set_new(hj, "enc", json_string("A256GCM"));
	json_object_set_new(epk, "y", json_string(json_string_value(json_object_get(epk, "x"))));
	hs = vt_json_compact(hj);
	set_member_bytes(jwe, "protected", (const uint8_t *)hs, strlen(hs));
	expect_jwe_reject(keys[K_P256], jwe);
	free(hs);
	/* epk on another curve */
	json_t *other = vt_key_to_jwk(keys[K_P384], NULL, false);
	json_object_set_new(hj, "epk", other);
	hs = vt_json_compact(hj);
	set_member_bytes(jwe, "protected", (const uint8_t *)hs, strlen(hs));
	expect_jwe_reject(keys[K_P256], jwe);
	free(hs);
	json_decref(hj);
	free(h);
	json_decref(jwe);
}

/* Known answers produced by python3-jwcrypto 1.1 (an independent JOSE
 * implementation), which puts the epk in the per-recipient "header". */
static const char jwc_p256_jwk[] =
	"{\"crv\":\"P-256\",\"d\":\"DG6n_O3cE2iInFbOS6x4q5cWT36JrYsPmMJ2mSTYGao\",\"kty\":\"EC\","
	"\"x\":\"_sj1XXgxutffQ3XoKJnFoaRdBUEBTo-_b5uVN4f4B9M\",\"y\":\"PJ3-ThfN6Iw3krJeZP_Nj1oQdcFviAVH-fS4rl_wM68\"}";
static const char jwc_p256_jwe[] =
	"{\"ciphertext\":\"5Oa9HsLEOaVboTgJug3kZw\",\"encrypted_key\":\"3w1rqDNSqpC6nmk2ZYITTAX3jgCibZaURjQBOKGoxVt3vMLFcWWEIw\","
	"\"header\":{\"epk\":{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"f2VE5zgM1QMTwMn53me2whLhpohU8IlRSrz6umjPNOI\","
	"\"y\":\"owUigNyfvh9BubxZrrzLbTUXgaqBCnrd4U9qf9WBZ-U\"}},\"iv\":\"V7Mg5OXl4VDZpbx9\","
	"\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00ifQ\",\"tag\":\"VzL7mxt_xr7-Ou1HppAynQ\"}";
static const char jwc_p521_jwk[] =
	"{\"crv\":\"P-521\",\"d\":\"AECNyHjSOoo3yIUOS9fXs-z8IJDf0jd7DY6GcNoMuWCOrd-mWzU4rD-JG8bZMBYxRzSKil8ZD3bBCwIGX1wiFvm4\","
	"\"kty\":\"EC\",\"x\":\"AeMJ98tGZmH6raLnEu1wR7yiNwbJDJa5d5zspBWdi9ZjXq4qtNhDAweEG8jc49pa3Ocrl6Zto8okfviuOG7EuIKr\","
	"\"y\":\"AQTez9nzBXQ6ci-Sls9iVOan2d2vBuJioJrV8raCHYFXjbKFX9WSyjSzMkWQBNgKE-D0CfCDv1v4tLI-8hdqUHJz\"}";
static const char jwc_p521_jwe[] =
	"{\"ciphertext\":\"0Xc6magsvT6tOwPTnw6AOg\",\"encrypted_key\":\"GwtJ4Qw12kwBoAjDYvVkl98EynvbQuYt8Pt0V2bZ71NCUroyff5qiA\","
	"\"header\":{\"epk\":{\"crv\":\"P-521\",\"kty\":\"EC\",\"x\":\"AIX_o1bkKquTr3pD-tBkYgBsmfnaCVp94WGck_SWP1F9C_YoppF7uy"
	"6orsTs3H5myIvtMd2I7d4lfNl-_ipMNA9B\",\"y\":\"ARcot1BCUSGTBvVWyDix0wyhOzAJlFHAaBOrsS5bNyVMPMDwI_NHxjD0VCa2aox_VTpXZiUjmGhe"
	"f8op1iXa-E81\"}},\"iv\":\"13Vo84HbxiLH45Yu\",\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00ifQ\","
	"\"tag\":\"UiqrtCHHoxYGkqt_cd1wxg\"}";

static void decrypt_known(const char *jwk_text, const char *jwe_text, const char *want)
{
	json_t *jwk = parse(jwk_text), *jwe = parse(jwe_text);
	EVP_PKEY *key = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_jwk_to_key(jwk, true, &key, &err), VT_OK);
	struct vt_secret *pt = NULL;
	if (vt_jwe_decrypt(key, jwe, &pt, &err) != VT_OK)
		fail_msg("decrypt: %s: %s", err.field, err.detail);
	assert_int_equal(pt->len, strlen(want));
	assert_memory_equal(pt->data, want, strlen(want));
	vt_secret_free(pt);
	/* the same epk also in "unprotected" (names must be disjoint) */
	json_t *j2 = json_deep_copy(jwe);
	json_object_set(j2, "unprotected", json_object_get(jwe, "header"));
	expect_jwe_reject(key, j2);
	json_decref(j2);
	/* the epk moved to "unprotected" works the same */
	j2 = json_deep_copy(jwe);
	json_object_set(j2, "unprotected", json_object_get(jwe, "header"));
	json_object_del(j2, "header");
	assert_int_equal(vt_jwe_decrypt(key, j2, &pt, &err), VT_OK);
	vt_secret_free(pt);
	/* a tampered unprotected epk (another valid point) fails the key unwrap */
	json_object_set_new(json_object_get(j2, "unprotected"), "epk", vt_key_to_jwk(key, NULL, false));
	expect_jwe_reject(key, j2);
	json_decref(j2);
	/* no epk anywhere */
	j2 = json_deep_copy(jwe);
	json_object_del(j2, "header");
	expect_jwe_reject(key, j2);
	json_decref(j2);
	EVP_PKEY_free(key);
	json_decref(jwk);
	json_decref(jwe);
}

static void test_jwe_unprotected_header(void **state)
{
	(void)state;
	decrypt_known(jwc_p256_jwk, jwc_p256_jwe, "jwcrypto says hi");
	decrypt_known(jwc_p521_jwk, jwc_p521_jwe, "jwcrypto says hi");
	/* A JWE whose epk is in the protected header and (again) in an
	 * unprotected one: names must be disjoint -> rejected. */
	json_t *jwe = make_jwe(keys[K_P256], "secret");
	size_t n = 0;
	uint8_t *h = member_bytes(jwe, "protected", &n);
	json_t *hj = NULL;
	assert_int_equal(vt_json_parse((const char *)h, n, 4096, &hj, NULL), VT_OK);
	json_object_set_new(jwe, "header", json_pack("{s:O}", "epk", json_object_get(hj, "epk")));
	expect_jwe_reject(keys[K_P256], jwe);
	json_decref(hj);
	free(h);
	json_decref(jwe);
	/* Unknown unprotected members, or a non-object, are refused. */
	const char *bad[] = {"{\"alg\":\"RSA-OAEP-256\"}", "{\"enc\":\"A128GCM\"}", "{\"zip\":\"DEF\"}",
			     "{\"kid\":1}", "[]", "\"x\""};
	for (size_t i = 0; i < 6; i++) {
		for (int w = 0; w < 2; w++) {
			jwe = make_jwe(keys[K_P256], "secret");
			json_object_set_new(jwe, w ? "unprotected" : "header", parse(bad[i]));
			expect_jwe_reject(keys[K_P256], jwe);
			json_decref(jwe);
		}
	}
	/* An unprotected kid is fine and ignored; empty objects too. */
	jwe = make_jwe(keys[K_P256], "secret");
	json_object_set_new(jwe, "header", parse("{\"kid\":\"tee-key\"}"));
	json_object_set_new(jwe, "unprotected", json_object());
	struct vt_secret *pt = NULL;
	assert_int_equal(vt_jwe_decrypt(keys[K_P256], jwe, &pt, NULL), VT_OK);
	assert_int_equal(pt->len, 6);
	vt_secret_free(pt);
	json_decref(jwe);
	/* epk in an RSA-OAEP JWE is refused */
	jwe = make_jwe(keys[K_RSA], "secret");
	json_object_set_new(jwe, "header", json_pack("{s:o}", "epk", vt_key_to_jwk(keys[K_P256], NULL, false)));
	expect_jwe_reject(keys[K_RSA], jwe);
	json_decref(jwe);
}

static void test_jwe_noncanonical_b64(void **state)
{
	(void)state;
	static const char *members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
	for (size_t m = 0; m < 5; m++) {
		json_t *jwe = make_jwe(keys[K_P256], "secret!");
		const char *s = json_string_value(json_object_get(jwe, members[m]));
		size_t l = strlen(s);
		char *t = malloc(l + 3);
		/* 1. padding appended */
		memcpy(t, s, l);
		memcpy(t + l, "==", 3);
		json_t *j2 = json_deep_copy(jwe);
		json_object_set_new(j2, members[m], json_string(t));
		expect_jwe_reject(keys[K_P256], j2);
		json_decref(j2);
		/* 2. standard alphabet / invalid character */
		memcpy(t, s, l + 1);
		t[0] = '+';
		j2 = json_deep_copy(jwe);
		json_object_set_new(j2, members[m], json_string(t));
		expect_jwe_reject(keys[K_P256], j2);
		json_decref(j2);
		free(t);
		json_decref(jwe);
	}
	/* 3. non-zero trailing bits: tag is 16 bytes = 22 chars, 4 spare bits */
	json_t *jwe = make_jwe(keys[K_P256], "secret!");
	char *t = strdup(json_string_value(json_object_get(jwe, "tag")));
	assert_int_equal(strlen(t), 22);
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(alpha, t[21]) - alpha);
	t[21] = alpha[v | 1];
	json_object_set_new(jwe, "tag", json_string(t));
	expect_jwe_reject(keys[K_P256], jwe);
	free(t);
	json_decref(jwe);
}

/* ------------------------------------------------------------ 4. JWS */

static const char *alg_for(int k)
{
	switch (k) {
	case K_P256: return "ES256";
	case K_P384: return "ES384";
	case K_ED25519: return "EdDSA";
	case K_RSA: return "RS256";
	default: return NULL; /* P-521: no ES512 */
	}
}

static char *sign_with(EVP_PKEY *key, const char *alg, const char *payload)
{
	json_t *h = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
	char *jws = NULL;
	struct vt_err err = {0};
	if (vt_jws_sign(key, h, (const uint8_t *)payload, strlen(payload), &jws, &err) != VT_OK)
		fail_msg("sign %s: %s: %s", alg, err.field, err.detail);
	json_decref(h);
	return jws;
}

static void expect_verify(const char *jws, EVP_PKEY *key, const char *alg, vt_status code, vt_step step)
{
	const char *allowed[] = {alg, NULL};
	struct vt_err err = {0};
	json_t *h = NULL;
	uint8_t *p = NULL;
	size_t pl = 0;
	assert_int_equal(vt_jws_verify(jws, key, allowed, &h, &p, &pl, &err), code);
	if (code != VT_OK) {
		assert_err(&err, code, step);
		assert_null(h);
		assert_null(p);
	}
	json_decref(h);
	free(p);
}

static void test_jws_roundtrip(void **state)
{
	(void)state;
	struct {
		int k;
		const char *alg;
	} cases[] = {{K_P256, "ES256"}, {K_P384, "ES384"}, {K_ED25519, "EdDSA"}, {K_RSA, "RS256"}, {K_RSA, "PS256"}};
	const char *payloads[] = {"", "{\"iss\":\"veritee\"}", "x"};
	for (size_t c = 0; c < 5; c++) {
		for (size_t pi = 0; pi < 3; pi++) {
			char *jws = sign_with(keys[cases[c].k], cases[c].alg, payloads[pi]);
			const char *allowed[] = {"ES256", "ES384", "EdDSA", "RS256", "PS256", NULL};
			json_t *h = NULL;
			uint8_t *p = NULL;
			size_t pl = 99;
			struct vt_err err = {0};
			assert_int_equal(vt_jws_verify(jws, keys[cases[c].k], allowed, &h, &p, &pl, &err), VT_OK);
			assert_string_equal(json_string_value(json_object_get(h, "alg")), cases[c].alg);
			assert_int_equal(pl, strlen(payloads[pi]));
			assert_string_equal((char *)p, payloads[pi]);
			/* header bytes are the compact member-order serialization */
			const char *dot = strchr(jws, '.');
			char *hexp = NULL;
			assert_true(asprintf(&hexp, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", cases[c].alg) > 0);
			char *h64 = b64url_str(hexp);
			assert_int_equal((size_t)(dot - jws), strlen(h64));
			assert_memory_equal(jws, h64, strlen(h64));
			/* NULL outputs are fine */
			assert_int_equal(vt_jws_verify(jws, keys[cases[c].k], allowed, NULL, NULL, NULL, NULL), VT_OK);
			/* signature length */
			size_t sl = 0;
			uint8_t *sig = NULL;
			const char *s = strrchr(jws, '.') + 1;
			assert_int_equal(vt_b64url_decode(s, strlen(s), &sig, &sl, NULL), VT_OK);
			size_t want = cases[c].k == K_P256 ? 64 : cases[c].k == K_P384 ? 96 : cases[c].k == K_ED25519 ? 64 : 256;
			assert_int_equal(sl, want);
			/* peek */
			json_t *ph = NULL;
			assert_int_equal(vt_jws_peek_header(jws, &ph, NULL), VT_OK);
			assert_true(json_equal(ph, h));
			json_decref(ph);
			free(sig);
			free(h64);
			free(hexp);
			free(p);
			json_decref(h);
			free(jws);
		}
	}
	/* P-521 ES512 is not offered; signing P-521 with ES256 is a usage error */
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	char *jws = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_jws_sign(keys[K_P521], h, (const uint8_t *)"x", 1, &jws, &err), VT_E_USAGE);
	vt_err_clear(&err);
	assert_int_equal(vt_jws_sign(keys[K_P384], h, (const uint8_t *)"x", 1, &jws, &err), VT_E_USAGE);
	json_decref(h);
	h = json_pack("{s:s}", "alg", "none");
	vt_err_clear(&err);
	assert_int_equal(vt_jws_sign(keys[K_P256], h, (const uint8_t *)"x", 1, &jws, &err), VT_E_USAGE);
	json_decref(h);
	h = json_pack("{s:s}", "typ", "JWT");
	vt_err_clear(&err);
	assert_int_equal(vt_jws_sign(keys[K_P256], h, (const uint8_t *)"x", 1, &jws, &err), VT_E_USAGE);
	json_decref(h);
	assert_null(jws);
}

/* Build "b64(header).b64(payload).sig64" by hand. */
static char *forge(const char *header, const char *payload, const char *sig64)
{
	char *h = b64url_str(header), *p = b64url_str(payload), *r = NULL;
	assert_true(asprintf(&r, "%s.%s.%s", h, p, sig64) > 0);
	free(h);
	free(p);
	return r;
}

static void test_jws_alg_policy(void **state)
{
	(void)state;
	char *t;
	/* alg none with an empty signature, even if the caller "allows" it */
	t = forge("{\"alg\":\"none\"}", "{}", "");
	expect_verify(t, keys[K_P256], "none", VT_E_REJECTED, VT_STEP_SIGNATURE);
	expect_verify(t, keys[K_P256], "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	/* HS256 keyed with the public key bytes (the classic confusion) */
	t = forge("{\"alg\":\"HS256\"}", "{}", "c2lnbmF0dXJl");
	expect_verify(t, keys[K_RSA], "HS256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	expect_verify(t, keys[K_RSA], "RS256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	/* alg not in the allowed list */
	t = sign_with(keys[K_RSA], "PS256", "{}");
	expect_verify(t, keys[K_RSA], "RS256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	expect_verify(t, keys[K_RSA], "PS256", VT_OK, VT_STEP_NONE);
	free(t);
	/* RS256 signature relabelled PS256 */
	t = sign_with(keys[K_RSA], "RS256", "{}");
	{
		const char *dot = strchr(t, '.');
		char *h = b64url_str("{\"alg\":\"PS256\",\"typ\":\"JWT\"}");
		char *r = NULL;
		assert_true(asprintf(&r, "%s%s", h, dot) > 0);
		expect_verify(r, keys[K_RSA], "PS256", VT_E_REJECTED, VT_STEP_SIGNATURE);
		free(r);
		free(h);
	}
	free(t);
	/* ES256 presented with a P-384 key; ES384 with a P-256 key */
	t = sign_with(keys[K_P256], "ES256", "{}");
	expect_verify(t, keys[K_P384], "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	expect_verify(t, keys[K_ED25519], "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	expect_verify(t, keys[K_RSA], "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	t = sign_with(keys[K_P384], "ES384", "{}");
	expect_verify(t, keys[K_P256], "ES384", VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	/* EdDSA token with an RSA key */
	t = sign_with(keys[K_ED25519], "EdDSA", "{}");
	expect_verify(t, keys[K_RSA], "EdDSA", VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	/* unknown alg / missing alg / crit */
	t = forge("{\"alg\":\"ES512\"}", "{}", "AAAA");
	expect_verify(t, keys[K_P521], "ES512", VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
	t = forge("{\"typ\":\"JWT\"}", "{}", "AAAA");
	expect_verify(t, keys[K_P256], "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(t);
	t = forge("{\"alg\":1}", "{}", "AAAA");
	expect_verify(t, keys[K_P256], "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(t);
	/* empty allowed list */
	t = sign_with(keys[K_P256], "ES256", "{}");
	const char *none[] = {NULL};
	struct vt_err err = {0};
	assert_int_equal(vt_jws_verify(t, keys[K_P256], none, NULL, NULL, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	free(t);
}

static void flip_char(char *s, size_t i)
{
	s[i] = s[i] == 'A' ? 'B' : 'A';
}

static void test_jws_tamper(void **state)
{
	(void)state;
	static const int ks[] = {K_P256, K_P384, K_ED25519, K_RSA};
	for (size_t ki = 0; ki < 4; ki++) {
		EVP_PKEY *key = keys[ks[ki]];
		const char *alg = alg_for(ks[ki]);
		char *t = sign_with(key, alg, "{\"sub\":\"alice\",\"admin\":false}");
		const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
		size_t hl = (size_t)(d1 - t), p0 = hl + 1, s0 = (size_t)(d2 - t) + 1;

		/* tampered payload: different but canonical payload */
		{
			char *p64 = b64url_str("{\"sub\":\"alice\",\"admin\":true}");
			char *r = NULL;
			assert_true(asprintf(&r, "%.*s.%s%s", (int)hl, t, p64, d2) > 0);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
			free(p64);
		}
		/* tampered header: extra member, same alg */
		{
			char *hh = NULL;
			assert_true(asprintf(&hh, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"x\"}", alg) > 0);
			char *h64 = b64url_str(hh);
			char *r = NULL;
			assert_true(asprintf(&r, "%s%s", h64, d1) > 0);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
			free(h64);
			free(hh);
		}
		/* tampered signature: first and a middle character */
		{
			char *r = strdup(t);
			flip_char(r, s0);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
			r = strdup(t);
			flip_char(r, s0 + 10);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
		}
		/* a payload character changed in place */
		{
			char *r = strdup(t);
			flip_char(r, p0 + 2);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
		}
		/* empty signature */
		{
			char *r = strndup(t, s0);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
		}
		/* signature truncated by 3 bytes (4 chars) / extended by 3 bytes */
		{
			size_t sl = 0;
			uint8_t *sig = NULL;
			assert_int_equal(vt_b64url_decode(t + s0, strlen(t + s0), &sig, &sl, NULL), VT_OK);
			char *s64 = vt_b64url_encode(sig, sl - 3);
			char *r = NULL;
			assert_true(asprintf(&r, "%.*s%s", (int)s0, t, s64) > 0);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
			free(s64);
			free(sig);
			assert_true(asprintf(&r, "%sAAAA", t) > 0);
			expect_verify(r, key, alg, VT_E_REJECTED, VT_STEP_SIGNATURE);
			free(r);
		}
		free(t);
	}
}

static void test_jws_malformed(void **state)
{
	(void)state;
	EVP_PKEY *key = keys[K_P256];
	char *t = sign_with(key, "ES256", "{\"a\":1}");
	char *r = NULL;
	const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');

	/* 2 parts */
	r = strndup(t, (size_t)(d2 - t));
	expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	/* 4 parts */
	assert_true(asprintf(&r, "%s.", t) > 0);
	expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	assert_true(asprintf(&r, "%s.AAAA", t) > 0);
	expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	/* 1 part, empty string, empty header */
	expect_verify("abc", key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	expect_verify("", key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	expect_verify("..", key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	assert_true(asprintf(&r, "%s", d1) > 0);
	expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	/* trailing garbage: newline, space, padding */
	assert_true(asprintf(&r, "%s\n", t) > 0);
	expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	assert_true(asprintf(&r, "%s==", t) > 0);
	expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	/* non-canonical base64url in the signature: 64 bytes -> 86 chars, 4 spare bits */
	{
		static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		r = strdup(t);
		size_t last = strlen(r) - 1;
		int v = (int)(strchr(alpha, r[last]) - alpha);
		r[last] = alpha[v | 1];
		struct vt_err err = {0};
		const char *allowed[] = {"ES256", NULL};
		assert_int_equal(vt_jws_verify(r, key, allowed, NULL, NULL, NULL, &err), VT_E_PARSE);
		assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
		assert_string_equal(err.field, "jws.signature");
		free(r);
	}
	/* standard-alphabet characters in the payload */
	{
		r = strdup(t);
		r[(size_t)(d1 - t) + 1] = '+';
		expect_verify(r, key, "ES256", VT_E_PARSE, VT_STEP_PARSE);
		free(r);
	}
	/* header is not JSON / not an object / JSON with trailing data / duplicate keys */
	const char *bad_headers[] = {"not json", "[\"alg\",\"ES256\"]", "\"ES256\"", "{\"alg\":\"ES256\"} {}",
				     "{\"alg\":\"ES256\",\"alg\":\"none\"}"};
	for (size_t i = 0; i < 5; i++) {
		char *h64 = b64url_str(bad_headers[i]);
		assert_true(asprintf(&r, "%s%s", h64, d1) > 0);
		struct vt_err err = {0};
		const char *allowed[] = {"ES256", NULL};
		assert_int_equal(vt_jws_verify(r, key, allowed, NULL, NULL, NULL, &err), VT_E_PARSE);
		assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
		assert_string_equal(err.field, "jws.header");
		json_t *ph = NULL;
		assert_int_equal(vt_jws_peek_header(r, &ph, NULL), VT_E_PARSE);
		assert_null(ph);
		free(r);
		free(h64);
	}
	/* ECDSA signature of wrong length: an ES384-sized signature on ES256 */
	{
		uint8_t sig[96] = {1};
		char *s64 = vt_b64url_encode(sig, sizeof(sig));
		assert_true(asprintf(&r, "%.*s.%s", (int)(d2 - t), t, s64) > 0);
		struct vt_err err = {0};
		const char *allowed[] = {"ES256", NULL};
		assert_int_equal(vt_jws_verify(r, key, allowed, NULL, NULL, NULL, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
		assert_string_equal(err.field, "jws.signature");
		free(r);
		free(s64);
	}
	/* all-zero r||s of the right length */
	{
		uint8_t sig[64] = {0};
		char *s64 = vt_b64url_encode(sig, sizeof(sig));
		assert_true(asprintf(&r, "%.*s.%s", (int)(d2 - t), t, s64) > 0);
		expect_verify(r, key, "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
		free(r);
		free(s64);
	}
	/* crit / b64=false headers are refused even if otherwise signed correctly */
	{
		char *tb = forge("{\"alg\":\"ES256\",\"b64\":false}", "{}", "AAAA");
		expect_verify(tb, key, "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
		free(tb);
		json_t *hb = json_pack("{s:s, s:b}", "alg", "ES256", "b64", 0);
		char *jb = NULL;
		assert_int_equal(vt_jws_sign(key, hb, (const uint8_t *)"x", 1, &jb, NULL), VT_E_USAGE);
		assert_null(jb);
		json_decref(hb);
		json_t *h = json_pack("{s:s, s:[s], s:b}", "alg", "ES256", "crit", "b64", "b64", 1);
		char *jws = NULL;
		assert_int_equal(vt_jws_sign(key, h, (const uint8_t *)"x", 1, &jws, NULL), VT_OK);
		expect_verify(jws, key, "ES256", VT_E_REJECTED, VT_STEP_SIGNATURE);
		free(jws);
		json_decref(h);
	}
	/* peek works on a valid token; rejects 2 parts */
	json_t *ph = NULL;
	assert_int_equal(vt_jws_peek_header(t, &ph, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(ph, "alg")), "ES256");
	json_decref(ph);
	r = strndup(t, (size_t)(d2 - t));
	struct vt_err err = {0};
	assert_int_equal(vt_jws_peek_header(r, &ph, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	free(r);
	free(t);
}

/* The EAR JWT of kbs-protocol.md §11 verifies with its embedded header key. */
static void test_jws_section11_token(void **state)
{
	(void)state;
	static const char token[] =
		"eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiIsImp3ayI6eyJhbGciOiJFUzI1NiIsImt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4Ijoib"
		"khXRzBxYTR4OTZPb2dBU0gzMnBJdWFJOW1rbGxBZlV1d2hHNlBrLVJXQSIsInkiOiJnV3ZWYTFjSmVPZE9zOUxJXzJRTUZIMHU4bk1MY1"
		"NiM25laXdxQzYwajY4In19.eyJlYXRfcHJvZmlsZSI6InRhZzpnaXRodWIuY29tLDIwMjQ6Y29uZmlkZW50aWFsLWNvbnRhaW5lcnMvVHJ"
		"1c3RlZSIsImlhdCI6MTc4NzI3MDQwMCwiZWFyLnZlcmlmaWVyLWlkIjp7ImRldmVsb3BlciI6Imh0dHBzOi8vY29uZmlkZW50aWFsY29u"
		"dGFpbmVycy5vcmciLCJidWlsZCI6ImF0dGVzdGF0aW9uLXNlcnZpY2UgMC4xLjAifSwic3VibW9kcyI6eyJjcHUwIjp7ImVhci5zdGF0dX"
		"MiOiJjb250cmFpbmRpY2F0ZWQiLCJlYXIudHJ1c3R3b3J0aGluZXNzLXZlY3RvciI6eyJpbnN0YW5jZS1pZGVudGl0eSI6MCwiY29uZmln"
		"dXJhdGlvbiI6MiwiZXhlY3V0YWJsZXMiOjMzLCJmaWxlLXN5c3RlbSI6MCwiaGFyZHdhcmUiOjk3LCJydW50aW1lLW9wYXF1ZSI6MCwic3"
		"RvcmFnZS1vcGFxdWUiOjAsInNvdXJjZWQtZGF0YSI6MH0sImVhci5hcHByYWlzYWwtcG9saWN5LWlkIjoiZGVmYXVsdCIsImVhci52ZXJh"
		"aXNvbi5hbm5vdGF0ZWQtZXZpZGVuY2UiOnsicmVwb3J0X2RhdGEiOiJvTjZBMnovM0VkNWxFMExpVlVtbkxBTU51L3hkVENYZDc4NjUwTT"
		"NmYk5LVjgvR2dDell4ei9ieERqOUZPcUlwIiwicnVudGltZV9kYXRhX2NsYWltcyI6eyJ0ZWUtcHVia2V5Ijp7Imt0eSI6IkVDIiwiY3J2"
		"IjoiUC0yNTYiLCJhbGciOiJFQ0RILUVTK0EyNTZLVyIsIngiOiJOOHBvSEhIQ0c5cEhJM0FHUFc0bUI1akVYSWs1anVST0tjaktua184Rn"
		"hvIiwieSI6IllWNmVwcHRpX0szOEk0YnNKRWFoa0Q5UzhfYm9oNVdaTXVJT1M1LWNLYkUifSwibm9uY2UiOiJBQUVDQXdRRkJnY0lDUW9M"
		"REEwT0R4QVJFaE1VRlJZWEdCa2FHeHdkSGg4PSIsImFkZGl0aW9uYWwtZXZpZGVuY2UiOiIifSwic2FtcGxlIjp7InN2biI6IjEiLCJsYX"
		"VuY2hfZGlnZXN0IjoiYWJjZGUiLCJwbGF0Zm9ybV92ZXJzaW9uIjp7Im1ham9yIjoxLCJtaW5vciI6NH0sImRlYnVnIjpmYWxzZX19LCJl"
		"YXIudHJ1c3RlZS5pZGVudGlmaWVycyI6eyJ2YWxpZGF0ZWQiOnt9fX19LCJleHAiOjE3ODcyNzA3MDAsImlzcyI6IkNvQ28tQXR0ZXN0YX"
		"Rpb24tU2VydmljZSJ9.zvcRvxe8qVBNPA8gbUPVXcxYneImrnxX8cUGKfuRNd3kufaQhdXgjnSUgh7VqHSy9U06IgDS8W0B49BRddJklw";
	json_t *h = NULL;
	assert_int_equal(vt_jws_peek_header(token, &h, NULL), VT_OK);
	EVP_PKEY *key = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_jwk_to_key(json_object_get(h, "jwk"), false, &key, &err), VT_OK);
	const char *allowed[] = {"ES256", NULL};
	uint8_t *p = NULL;
	size_t pl = 0;
	assert_int_equal(vt_jws_verify(token, key, allowed, NULL, &p, &pl, &err), VT_OK);
	assert_int_equal(strncmp((char *)p, "{\"eat_profile\":", 15), 0);
	free(p);
	/* the AS key from its d gives the same public key */
	uint8_t d[32];
	assert_int_equal(
		vt_hex_decode_fixed("4195a7a9c1250effc5a8f7c49a0a2cad3b144f360af5208155606f64ce9b9dce", d, 32, NULL),
		VT_OK);
	json_t *jwk = json_deep_copy(json_object_get(h, "jwk"));
	set_member_bytes(jwk, "d", d, 32);
	EVP_PKEY *priv = NULL;
	assert_int_equal(vt_jwk_to_key(jwk, true, &priv, &err), VT_OK);
	assert_int_equal(EVP_PKEY_eq(priv, key), 1);
	vt_wipe(d, sizeof(d));
	EVP_PKEY_free(priv);
	json_decref(jwk);
	EVP_PKEY_free(key);
	json_decref(h);
}

/* ------------------------------------------------------------ 5. JWK */

static void test_jwk_roundtrip(void **state)
{
	(void)state;
	struct {
		int k;
		const char *pub_order[6];
		const char *priv_order[11];
	} cases[] = {
		{K_P256, {"alg", "crv", "kty", "x", "y"}, {"alg", "crv", "d", "kty", "x", "y"}},
		{K_P384, {"alg", "crv", "kty", "x", "y"}, {"alg", "crv", "d", "kty", "x", "y"}},
		{K_P521, {"alg", "crv", "kty", "x", "y"}, {"alg", "crv", "d", "kty", "x", "y"}},
		{K_ED25519, {"alg", "crv", "kty", "x"}, {"alg", "crv", "d", "kty", "x"}},
		{K_RSA, {"alg", "e", "kty", "n"}, {"alg", "d", "dp", "dq", "e", "kty", "n", "p", "q", "qi"}},
	};
	for (size_t c = 0; c < 5; c++) {
		EVP_PKEY *key = keys[cases[c].k];
		for (int priv = 0; priv < 2; priv++) {
			json_t *jwk = vt_key_to_jwk(key, "X", priv);
			assert_non_null(jwk);
			const char *const *order = priv ? cases[c].priv_order : cases[c].pub_order;
			size_t i = 0;
			const char *k;
			json_t *v;
			json_object_foreach(jwk, k, v)
			{
				assert_non_null(order[i]);
				assert_string_equal(k, order[i]);
				assert_true(json_is_string(v));
				i++;
			}
			assert_null(order[i]);
			/* fixed-length coordinates */
			size_t cs = vt_ec_coord_size(key);
			if (cs) {
				size_t n = 0;
				free(member_bytes(jwk, "x", &n));
				assert_int_equal(n, cs);
				free(member_bytes(jwk, "y", &n));
				assert_int_equal(n, cs);
				if (priv) {
					free(member_bytes(jwk, "d", &n));
					assert_int_equal(n, cs);
				}
			}
			EVP_PKEY *back = NULL;
			struct vt_err err = {0};
			assert_int_equal(vt_jwk_to_key(jwk, priv, &back, &err), VT_OK);
			assert_int_equal(EVP_PKEY_eq(back, key), 1);
			if (priv && alg_for(cases[c].k) != NULL) {
				/* the imported private key signs something the original verifies */
				char *t = sign_with(back, alg_for(cases[c].k), "p");
				expect_verify(t, key, alg_for(cases[c].k), VT_OK, VT_STEP_NONE);
				free(t);
			} else if (priv) {
				/* P-521: the imported private key decrypts for the original */
				json_t *jwe = make_jwe(key, "p521");
				struct vt_secret *pt = NULL;
				assert_int_equal(vt_jwe_decrypt(back, jwe, &pt, &err), VT_OK);
				assert_int_equal(pt->len, 4);
				vt_secret_free(pt);
				json_decref(jwe);
			}
			if (priv) {
				/* and exports identically */
				json_t *again = vt_key_to_jwk(back, "X", true);
				assert_true(json_equal(again, jwk));
				json_decref(again);
			}
			/* a private JWK imported as public works and has no private part */
			EVP_PKEY_free(back);
			back = NULL;
			assert_int_equal(vt_jwk_to_key(jwk, false, &back, &err), VT_OK);
			json_t *pubonly = vt_key_to_jwk(back, NULL, false);
			assert_null(json_object_get(pubonly, "d"));
			assert_null(json_object_get(pubonly, "alg"));
			json_decref(pubonly);
			EVP_PKEY_free(back);
			json_decref(jwk);
		}
	}
}

static void expect_jwk_parse_error(const json_t *jwk, bool priv, const char *field)
{
	EVP_PKEY *k = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_jwk_to_key(jwk, priv, &k, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	if (field)
		assert_string_equal(err.field, field);
	assert_null(k);
}

static void test_jwk_invalid(void **state)
{
	(void)state;
	json_t *good = vt_key_to_jwk(keys[K_P256], NULL, true);
	json_t *j;

	/* point not on the curve: y + 1 */
	j = json_deep_copy(good);
	size_t n = 0;
	uint8_t *y = member_bytes(j, "y", &n);
	y[n - 1] ^= 1;
	set_member_bytes(j, "y", y, n);
	expect_jwk_parse_error(j, false, NULL);
	expect_jwk_parse_error(j, true, NULL);
	free(y);
	json_decref(j);
	/* all-zero point */
	j = json_deep_copy(good);
	uint8_t zero[66] = {0};
	set_member_bytes(j, "x", zero, 32);
	set_member_bytes(j, "y", zero, 32);
	expect_jwk_parse_error(j, false, NULL);
	json_decref(j);
	/* wrong coordinate length: 31 and 33 bytes; P-256 coordinates with crv P-384 */
	j = json_deep_copy(good);
	uint8_t *x = member_bytes(j, "x", &n);
	set_member_bytes(j, "x", x + 1, 31);
	expect_jwk_parse_error(j, false, "jwk.x");
	uint8_t x33[33] = {0};
	memcpy(x33 + 1, x, 32);
	set_member_bytes(j, "x", x33, 33);
	expect_jwk_parse_error(j, false, "jwk.x");
	free(x);
	json_decref(j);
	j = json_deep_copy(good);
	json_object_set_new(j, "crv", json_string("P-384"));
	expect_jwk_parse_error(j, false, "jwk.x");
	json_object_set_new(j, "crv", json_string("secp256k1"));
	expect_jwk_parse_error(j, false, "jwk.crv");
	json_decref(j);
	/* d of the wrong length; d not matching the public key */
	j = json_deep_copy(good);
	uint8_t *d = member_bytes(j, "d", &n);
	set_member_bytes(j, "d", d, 31);
	expect_jwk_parse_error(j, true, "jwk.d");
	d[5] ^= 0x40;
	set_member_bytes(j, "d", d, 32);
	expect_jwk_parse_error(j, true, "jwk");
	vt_wipe(d, n);
	free(d);
	json_decref(j);
	/* missing members */
	const char *ec_members[] = {"kty", "crv", "x", "y"};
	for (size_t i = 0; i < 4; i++) {
		j = json_deep_copy(good);
		json_object_del(j, ec_members[i]);
		char field[16];
		snprintf(field, sizeof(field), "jwk.%s", ec_members[i]);
		expect_jwk_parse_error(j, false, field);
		json_decref(j);
	}
	/* priv requested but no d */
	j = json_deep_copy(good);
	json_object_del(j, "d");
	expect_jwk_parse_error(j, true, "jwk.d");
	json_decref(j);
	/* members of the wrong type; bad base64url */
	j = json_deep_copy(good);
	json_object_set_new(j, "x", json_integer(5));
	expect_jwk_parse_error(j, false, "jwk.x");
	json_object_set_new(j, "x", json_string("AAAA=AAA"));
	expect_jwk_parse_error(j, false, "jwk.x");
	json_decref(j);
	/* unknown / unsupported kty */
	const char *ktys[] = {"oct", "ec", "AKP", ""};
	for (size_t i = 0; i < 4; i++) {
		j = json_deep_copy(good);
		json_object_set_new(j, "kty", json_string(ktys[i]));
		expect_jwk_parse_error(j, false, "jwk.kty");
		json_decref(j);
	}
	j = json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0");
	expect_jwk_parse_error(j, false, "jwk.kty");
	json_decref(j);
	/* not an object */
	j = json_string("EC");
	expect_jwk_parse_error(j, false, "jwk");
	json_decref(j);
	json_decref(good);

	/* RSA: missing n / e, small modulus, even exponent, missing CRT member */
	good = vt_key_to_jwk(keys[K_RSA], NULL, true);
	const char *rsa_members[] = {"n", "e"};
	for (size_t i = 0; i < 2; i++) {
		j = json_deep_copy(good);
		json_object_del(j, rsa_members[i]);
		char field[16];
		snprintf(field, sizeof(field), "jwk.%s", rsa_members[i]);
		expect_jwk_parse_error(j, false, field);
		json_decref(j);
	}
	const char *rsa_priv[] = {"d", "p", "q", "dp", "dq", "qi"};
	for (size_t i = 0; i < 6; i++) {
		j = json_deep_copy(good);
		json_object_del(j, rsa_priv[i]);
		expect_jwk_parse_error(j, true, NULL);
		EVP_PKEY *k = NULL; /* ignored when only the public key is wanted */
		assert_int_equal(vt_jwk_to_key(j, false, &k, NULL), VT_OK);
		EVP_PKEY_free(k);
		json_decref(j);
	}
	j = json_deep_copy(good);
	uint8_t *nb = member_bytes(j, "n", &n);
	set_member_bytes(j, "n", nb, 128); /* 1024-bit modulus */
	expect_jwk_parse_error(j, false, "jwk.n");
	free(nb);
	json_object_set_new(j, "n", json_string(json_string_value(json_object_get(good, "n"))));
	json_object_set_new(j, "e", json_string("AQAA")); /* 65536: even */
	expect_jwk_parse_error(j, false, "jwk.e");
	json_decref(j);
	json_decref(good);

	/* OKP: wrong length, unsupported curve, d not matching */
	good = vt_key_to_jwk(keys[K_ED25519], NULL, true);
	j = json_deep_copy(good);
	x = member_bytes(j, "x", &n);
	set_member_bytes(j, "x", x, 31);
	expect_jwk_parse_error(j, false, "jwk.x");
	free(x);
	json_decref(j);
	j = json_deep_copy(good);
	json_object_set_new(j, "crv", json_string("X25519"));
	expect_jwk_parse_error(j, false, "jwk.crv");
	json_object_set_new(j, "crv", json_string("Ed448"));
	expect_jwk_parse_error(j, false, "jwk.crv");
	json_decref(j);
	j = json_deep_copy(good);
	d = member_bytes(j, "d", &n);
	d[0] ^= 1;
	set_member_bytes(j, "d", d, n);
	expect_jwk_parse_error(j, true, "jwk");
	vt_wipe(d, n);
	free(d);
	json_decref(j);
	json_decref(good);
}

/* The low-S rule on P-256, P-384 and P-521, against the order OpenSSL
 * reports for the key: every signature made is low; its twin (r, n - s)
 * still verifies under plain ECDSA but is not low; n/2 is the boundary. */
static void test_ecdsa_low_s(void **state)
{
	(void)state;
	static const enum vt_key_type types[] = {VT_KEY_P256, VT_KEY_P384, VT_KEY_P521};
	static const char *const mds[] = {"SHA256", "SHA384", "SHA512"};
	for (size_t t = 0; t < 3; t++) {
		EVP_PKEY *key = NULL;
		assert_int_equal(vt_key_generate(types[t], &key, NULL), VT_OK);
		size_t cs = vt_ec_coord_size(key);
		BIGNUM *n = NULL, *half = BN_new(), *sv = BN_new();
		assert_int_equal(EVP_PKEY_get_bn_param(key, "order", &n), 1);
		assert_int_equal(BN_rshift1(half, n), 1);
		const EVP_MD *md = EVP_get_digestbyname(mds[t]);
		uint8_t sig[132], twin[132];
		for (int i = 0; i < 32; i++) {
			uint8_t msg[4] = {(uint8_t)i, (uint8_t)t, 7, 9};
			size_t sl = sizeof(sig);
			assert_int_equal(vt_ecdsa_sign_raw(key, md, msg, sizeof(msg), sig, &sl, NULL), VT_OK);
			assert_int_equal(sl, 2 * cs);
			assert_non_null(BN_bin2bn(sig + cs, (int)cs, sv));
			assert_true(BN_cmp(sv, half) <= 0);
			assert_true(vt_ecdsa_raw_low_s(key, sig, sl));
			memcpy(twin, sig, cs);
			assert_int_equal(BN_sub(sv, n, sv), 1);
			assert_int_equal(BN_bn2binpad(sv, twin + cs, (int)cs), (int)cs);
			assert_false(vt_ecdsa_raw_low_s(key, twin, sl));
			assert_int_equal(vt_ecdsa_verify_raw(key, md, msg, sizeof(msg), twin, sl, NULL), VT_OK);
		}
		/* s = n/2 is low, n/2 + 1 is not */
		memset(sig, 0x11, cs);
		assert_int_equal(BN_bn2binpad(half, sig + cs, (int)cs), (int)cs);
		assert_true(vt_ecdsa_raw_low_s(key, sig, 2 * cs));
		assert_int_equal(BN_add_word(half, 1), 1);
		assert_int_equal(BN_bn2binpad(half, sig + cs, (int)cs), (int)cs);
		assert_false(vt_ecdsa_raw_low_s(key, sig, 2 * cs));
		BN_free(n);
		BN_free(half);
		BN_free(sv);
		EVP_PKEY_free(key);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_section11),
		cmocka_unit_test(test_jwe_roundtrip),
		cmocka_unit_test(test_jwe_encrypt_usage),
		cmocka_unit_test(test_jwe_tamper),
		cmocka_unit_test(test_jwe_wrong_key),
		cmocka_unit_test(test_jwe_missing_member),
		cmocka_unit_test(test_jwe_bad_header),
		cmocka_unit_test(test_jwe_unprotected_header),
		cmocka_unit_test(test_jwe_noncanonical_b64),
		cmocka_unit_test(test_jws_roundtrip),
		cmocka_unit_test(test_jws_alg_policy),
		cmocka_unit_test(test_jws_tamper),
		cmocka_unit_test(test_jws_malformed),
		cmocka_unit_test(test_jws_section11_token),
		cmocka_unit_test(test_jwk_roundtrip),
		cmocka_unit_test(test_jwk_invalid),
		cmocka_unit_test(test_ecdsa_low_s),
	};
	return cmocka_run_group_tests_name("jose", tests, group_setup, group_teardown);
}
