/*
 * Unit tests for COSE_Sign1 and bounded CBOR decoding (src/crypto/cose.c).
 * Known answers: the real AWS Nitro documents in $VERITEE_VECTORS/nitro
 * (untagged COSE_Sign1, ES384; skipped when absent).  Negatives are built
 * here, one defect each.
 */
#include "testutil.h"

#include <cbor.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "veritee/cose.h"
#include "veritee/crypto.h"

#define NEED_VECTORS()                                                \
	const char *vdir = vt_test_vectors_dir();                     \
	if (vdir == NULL) {                                           \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n"); \
		skip();                                               \
	}

static const uint8_t PROT_ES256[] = {0xa1, 0x01, 0x26};
static const uint8_t PROT_ES384[] = {0xa1, 0x01, 0x38, 0x22};
static const uint8_t PROT_ES512[] = {0xa1, 0x01, 0x38, 0x23};

static EVP_PKEY *g_p256, *g_p384, *g_p521, *g_ed;

/* ------------------------------------------------------------------ helpers */

static uint8_t *read_vector(const char *vdir, const char *name, size_t *n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/nitro/%s", vdir, name);
	uint8_t *b = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_file_read(p, 1 << 20, &b, n, &err), VT_OK);
	return b;
}

/* Serialize a libcbor item (caller frees). */
static uint8_t *ser(cbor_item_t *it, size_t *n)
{
	unsigned char *buf = NULL;
	size_t cap = 0;
	*n = cbor_serialize_alloc(it, &buf, &cap);
	assert_true(*n > 0);
	return buf;
}

static cbor_item_t *bstr(const uint8_t *p, size_t n)
{
	return n == 0 ? cbor_new_definite_bytestring() : cbor_build_bytestring(p, n);
}

/*
 * A COSE_Sign1 over `payload` (NULL = detached, nil) signed with `key` and
 * `md` (NULL key: `sig`/`sig_len` as given), protected bytes as given, an
 * empty unprotected map unless `unprot` (taken over), tagged when asked.
 */
static uint8_t *sign1(EVP_PKEY *key, const EVP_MD *md, const uint8_t *prot, size_t prot_len, cbor_item_t *unprot,
		      const uint8_t *payload, size_t plen, const uint8_t *aad, size_t aad_len, bool tag, size_t *n)
{
	uint8_t sig[132];
	size_t sig_len = sizeof(sig);
	struct vt_err err = {0};
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	assert_int_equal(vt_cose_sig_structure(prot, prot_len, aad, aad_len, payload ? payload : (const uint8_t *)"",
					       payload ? plen : 0, &tbs, &tbs_len, &err),
			 VT_OK);
	assert_int_equal(vt_ecdsa_sign_raw(key, md, tbs, tbs_len, sig, &sig_len, &err), VT_OK);
	free(tbs);
	cbor_item_t *arr = cbor_new_definite_array(4);
	cbor_item_t *parts[4] = {bstr(prot, prot_len), unprot ? unprot : cbor_new_definite_map(0),
				 payload ? bstr(payload, plen) : cbor_new_null(), bstr(sig, sig_len)};
	for (int i = 0; i < 4; i++) {
		assert_true(cbor_array_push(arr, parts[i]));
		cbor_decref(&parts[i]);
	}
	cbor_item_t *top = arr;
	if (tag) {
		top = cbor_build_tag(18, arr);
		cbor_decref(&arr);
	}
	uint8_t *out = ser(top, n);
	cbor_decref(&top);
	return out;
}

static uint8_t *sign1_simple(EVP_PKEY *key, const EVP_MD *md, const uint8_t *prot, size_t prot_len, size_t *n)
{
	static const uint8_t payload[] = "hello, cose";
	return sign1(key, md, prot, prot_len, NULL, payload, sizeof(payload) - 1, NULL, 0, false, n);
}

static vt_status parse_bytes(const uint8_t *b, size_t n, struct vt_err *err)
{
	struct vt_cose_sign1 s;
	vt_err_clear(err);
	vt_status rc = vt_cose_sign1_parse(b, n, &s, err);
	if (rc != VT_OK) {
		assert_null(s.priv_); /* nothing half-filled */
		assert_int_equal(err->code, rc);
	}
	vt_cose_sign1_free(&s);
	return rc;
}

/* Leaf certificate key of a Nitro document (payload["certificate"]). */
static EVP_PKEY *nitro_leaf_key(const struct vt_cose_sign1 *s)
{
	struct vt_err err = {0};
	cbor_item_t *pl = NULL;
	struct vt_cbor_limits lim = {.allow_indefinite = true};
	assert_int_equal(vt_cbor_decode_ex(s->payload, s->payload_len, &lim, "payload", &pl, &err), VT_OK);
	const cbor_item_t *c = vt_cbor_map_get_str(pl, "certificate");
	assert_non_null(c);
	X509 *x = NULL;
	assert_int_equal(vt_x509_from_bytes(cbor_bytestring_handle(c), cbor_bytestring_length(c), &x, &err), VT_OK);
	EVP_PKEY *k = X509_get_pubkey(x);
	assert_non_null(k);
	X509_free(x);
	cbor_decref(&pl);
	return k;
}

static int group_setup(void **state)
{
	(void)state;
	struct vt_err err = {0};
	if (vt_key_generate(VT_KEY_P256, &g_p256, &err) != VT_OK || vt_key_generate(VT_KEY_P384, &g_p384, &err) != VT_OK ||
	    vt_key_generate(VT_KEY_P521, &g_p521, &err) != VT_OK || vt_key_generate(VT_KEY_ED25519, &g_ed, &err) != VT_OK)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(g_p256);
	EVP_PKEY_free(g_p384);
	EVP_PKEY_free(g_p521);
	EVP_PKEY_free(g_ed);
	return 0;
}

/* ------------------------------------------------------------ known answers */

static const char *const NITRO_DOCS[] = {
	"evervault_nitro_prod_2022-10-13.cose", "evervault_nitro_debug_2022-10-12.cose",
	"fortanix_nitro_debug_2021-09-09.cose", "marlin_nitro_prod_2024-08-07.cose",
	"marlin_nitro_prod_pcr16_2025-04-29.cose", "NEGATIVE_marlin_nitro_mock_custom_root.cose",
};

static void test_nitro_known_answers(void **state)
{
	(void)state;
	NEED_VECTORS();
	for (size_t i = 0; i < sizeof(NITRO_DOCS) / sizeof(NITRO_DOCS[0]); i++) {
		size_t n;
		uint8_t *b = read_vector(vdir, NITRO_DOCS[i], &n);
		struct vt_cose_sign1 s;
		struct vt_err err = {0};
		assert_int_equal(vt_cose_sign1_parse(b, n, &s, &err), VT_OK);
		assert_false(s.tagged); /* Nitro documents are untagged */
		assert_int_equal(s.alg, VT_COSE_ALG_ES384);
		assert_int_equal(s.protected_len, 4);
		assert_memory_equal(s.protected_bstr, PROT_ES384, 4);
		assert_int_equal(s.signature_len, 96);
		assert_non_null(s.payload);
		/* payload bstr header 59 LL LL at offset 7 */
		assert_int_equal(s.payload_len, ((size_t)b[8] << 8) | b[9]);
		assert_memory_equal(s.payload, b + 10, s.payload_len);
		assert_memory_equal(s.signature, b + n - 96, 96);
		assert_int_equal(cbor_map_size(vt_cose_sign1_unprotected(&s)), 0);
		assert_null(vt_cose_sign1_protected_get(&s, VT_COSE_HDR_CONTENT_TYPE));
		int64_t alg = 0;
		assert_true(vt_cbor_int64(vt_cose_sign1_protected_get(&s, VT_COSE_HDR_ALG), &alg));
		assert_int_equal(alg, -35);

		EVP_PKEY *k = nitro_leaf_key(&s);
		assert_int_equal(vt_cose_sign1_verify(&s, k, NULL, 0, &err), VT_OK);
		/* any external AAD changes the Sig_structure */
		vt_err_clear(&err);
		assert_int_equal(vt_cose_sign1_verify(&s, k, (const uint8_t *)"x", 1, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
		assert_string_equal(err.field, "cose.signature");
		/* the right alg with a key of another curve */
		vt_err_clear(&err);
		assert_int_equal(vt_cose_sign1_verify(&s, g_p256, NULL, 0, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
		assert_string_equal(err.field, "cose.protected");
		/* a P-384 key that did not sign */
		vt_err_clear(&err);
		assert_int_equal(vt_cose_sign1_verify(&s, g_p384, NULL, 0, &err), VT_E_REJECTED);
		EVP_PKEY_free(k);
		vt_cose_sign1_free(&s);
		vt_cose_sign1_free(&s); /* idempotent */

		/* the same message with tag 18 verifies too (the tag is not signed) */
		uint8_t *t = malloc(n + 1);
		t[0] = 0xd2;
		memcpy(t + 1, b, n);
		assert_int_equal(vt_cose_sign1_parse(t, n + 1, &s, &err), VT_OK);
		assert_true(s.tagged);
		k = nitro_leaf_key(&s);
		assert_int_equal(vt_cose_sign1_verify(&s, k, NULL, 0, &err), VT_OK);
		EVP_PKEY_free(k);
		vt_cose_sign1_free(&s);
		/* another tag is not COSE_Sign1 */
		t[0] = 0xc1;
		assert_int_equal(parse_bytes(t, n + 1, &err), VT_E_PARSE);
		/* the two-byte form of tag 18 (d8 12) */
		uint8_t *t2 = malloc(n + 2);
		t2[0] = 0xd8;
		t2[1] = 0x12;
		memcpy(t2 + 2, b, n);
		assert_int_equal(vt_cose_sign1_parse(t2, n + 2, &s, &err), VT_OK);
		assert_true(s.tagged);
		vt_cose_sign1_free(&s);
		/* tag 18 twice */
		t2[0] = 0xd2;
		t2[1] = 0xd2;
		assert_int_equal(parse_bytes(t2, n + 2, &err), VT_E_PARSE);
		free(t2);
		free(t);
		free(b);
	}
}

static void test_nitro_dstack_indefinite_payload(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vector(vdir, "dstack_nitro_prod_2025-12-25_framed.bin", &n);
	/* 00 02 + SCALE compact length 4527 (2-byte mode), then the document */
	assert_true(n > 4 + 4527);
	struct vt_cose_sign1 s;
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sign1_parse(b + 4, 4527, &s, &err), VT_OK);
	assert_int_equal(s.payload[0], 0xbf); /* the NSM now emits an indefinite-length map */
	EVP_PKEY *k = nitro_leaf_key(&s);
	assert_int_equal(vt_cose_sign1_verify(&s, k, NULL, 0, &err), VT_OK);
	/* the default decoder refuses indefinite lengths */
	cbor_item_t *pl = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode(s.payload, s.payload_len, 0, "payload", &pl, &err), VT_E_PARSE);
	assert_null(pl);
	EVP_PKEY_free(k);
	vt_cose_sign1_free(&s);
	/* with the trailer the message is not one CBOR item */
	vt_err_clear(&err);
	assert_int_equal(parse_bytes(b + 4, n - 4, &err), VT_E_PARSE);
	assert_non_null(strstr(err.detail, "after"));
	free(b);
}

static void test_nitro_tampered_signature(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vector(vdir, "NEGATIVE_fortanix_nitro_tampered_signature.cose", &n);
	struct vt_cose_sign1 s;
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sign1_parse(b, n, &s, &err), VT_OK);
	EVP_PKEY *k = nitro_leaf_key(&s);
	assert_int_equal(vt_cose_sign1_verify(&s, k, NULL, 0, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	EVP_PKEY_free(k);
	vt_cose_sign1_free(&s);
	free(b);
}

/* Every strict prefix is truncated CBOR; no crash, nothing leaks. */
static void test_truncated(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vector(vdir, "fortanix_nitro_debug_2021-09-09.cose", &n);
	struct vt_err err;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = malloc(i ? i : 1); /* exact-size copies so ASan sees overreads */
		memcpy(p, b, i);
		assert_int_equal(parse_bytes(p, i, &err), VT_E_PARSE);
		assert_int_equal(err.step, VT_STEP_PARSE);
		free(p);
	}
	/* trailing bytes */
	uint8_t *t = malloc(n + 1);
	memcpy(t, b, n);
	t[n] = 0x00;
	assert_int_equal(parse_bytes(t, n + 1, &err), VT_E_PARSE);
	assert_string_equal(err.field, "cose");
	free(t);
	free(b);
}

/* ------------------------------------------------------------- round trips */

static void test_es_round_trips(void **state)
{
	(void)state;
	struct {
		EVP_PKEY *key;
		const EVP_MD *md;
		const uint8_t *prot;
		size_t prot_len;
		int64_t alg;
	} cases[] = {
		{g_p256, EVP_sha256(), PROT_ES256, sizeof(PROT_ES256), -7},
		{g_p384, EVP_sha384(), PROT_ES384, sizeof(PROT_ES384), -35},
		{g_p521, EVP_sha512(), PROT_ES512, sizeof(PROT_ES512), -36},
	};
	EVP_PKEY *keys[] = {g_p256, g_p384, g_p521, g_ed};
	for (size_t i = 0; i < 3; i++) {
		for (int tag = 0; tag < 2; tag++) {
			size_t n;
			static const uint8_t payload[] = {1, 2, 3};
			static const uint8_t aad[] = {9, 9};
			uint8_t *m = sign1(cases[i].key, cases[i].md, cases[i].prot, cases[i].prot_len, NULL, payload,
					   sizeof(payload), aad, sizeof(aad), tag, &n);
			struct vt_cose_sign1 s;
			struct vt_err err = {0};
			assert_int_equal(vt_cose_sign1_parse(m, n, &s, &err), VT_OK);
			assert_int_equal(s.alg, cases[i].alg);
			assert_int_equal(s.tagged, tag);
			assert_int_equal(vt_cose_sign1_verify(&s, cases[i].key, aad, sizeof(aad), &err), VT_OK);
			vt_err_clear(&err);
			assert_int_equal(vt_cose_sign1_verify(&s, cases[i].key, NULL, 0, &err), VT_E_REJECTED);
			/* wrong alg for the key: every other curve, and a non-EC key */
			for (size_t j = 0; j < 4; j++) {
				if (keys[j] == cases[i].key)
					continue;
				vt_err_clear(&err);
				assert_int_equal(vt_cose_sign1_verify(&s, keys[j], aad, sizeof(aad), &err),
						 VT_E_REJECTED);
				assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
				assert_string_equal(err.field, "cose.protected");
			}
			vt_cose_sign1_free(&s);
			free(m);
		}
	}
	/* a message that claims ES256 but was signed with SHA-384 by a P-384 key */
	size_t n;
	uint8_t *m = sign1_simple(g_p384, EVP_sha384(), PROT_ES256, sizeof(PROT_ES256), &n);
	struct vt_cose_sign1 s;
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sign1_parse(m, n, &s, &err), VT_OK);
	assert_int_equal(vt_cose_sign1_verify(&s, g_p384, NULL, 0, &err), VT_E_REJECTED);
	assert_string_equal(err.field, "cose.protected");
	vt_cose_sign1_free(&s);
	free(m);
}

static void test_unsupported_alg(void **state)
{
	(void)state;
	static const uint8_t prot_ps256[] = {0xa1, 0x01, 0x38, 0x24}; /* -37 PS256 */
	static const uint8_t prot_none[] = {0xa0};                    /* {} */
	const uint8_t *prots[] = {prot_ps256, prot_none, (const uint8_t *)""};
	size_t lens[] = {sizeof(prot_ps256), sizeof(prot_none), 0};
	for (size_t i = 0; i < 3; i++) {
		size_t n;
		uint8_t *m = sign1_simple(g_p384, EVP_sha384(), prots[i], lens[i], &n);
		struct vt_cose_sign1 s;
		struct vt_err err = {0};
		assert_int_equal(vt_cose_sign1_parse(m, n, &s, &err), VT_OK);
		assert_int_equal(s.alg, i == 0 ? -37 : 0);
		assert_int_equal(vt_cose_sign1_verify(&s, g_p384, NULL, 0, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
		vt_cose_sign1_free(&s);
		free(m);
	}
}

static void test_detached(void **state)
{
	(void)state;
	static const uint8_t payload[] = "detached content";
	size_t n;
	uint8_t *m = sign1(g_p256, EVP_sha256(), PROT_ES256, sizeof(PROT_ES256), NULL, NULL, 0, NULL, 0, false, &n);
	/* sign1(NULL payload) signed an empty payload; sign the real one instead */
	free(m);
	uint8_t *tbs = NULL, sig[64];
	size_t tbs_len = 0, sig_len = sizeof(sig);
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sig_structure(PROT_ES256, sizeof(PROT_ES256), NULL, 0, payload, sizeof(payload) - 1,
					       &tbs, &tbs_len, &err),
			 VT_OK);
	assert_int_equal(vt_ecdsa_sign_raw(g_p256, EVP_sha256(), tbs, tbs_len, sig, &sig_len, &err), VT_OK);
	free(tbs);
	cbor_item_t *arr = cbor_new_definite_array(4);
	cbor_item_t *parts[4] = {bstr(PROT_ES256, sizeof(PROT_ES256)), cbor_new_definite_map(0), cbor_new_null(),
				 bstr(sig, sig_len)};
	for (int i = 0; i < 4; i++) {
		assert_true(cbor_array_push(arr, parts[i]));
		cbor_decref(&parts[i]);
	}
	m = ser(arr, &n);
	cbor_decref(&arr);
	struct vt_cose_sign1 s;
	assert_int_equal(vt_cose_sign1_parse(m, n, &s, &err), VT_OK);
	assert_null(s.payload);
	assert_int_equal(vt_cose_sign1_verify(&s, g_p256, NULL, 0, &err), VT_E_USAGE);
	vt_err_clear(&err);
	assert_int_equal(vt_cose_sign1_verify_detached(&s, g_p256, payload, sizeof(payload) - 1, NULL, 0, &err), VT_OK);
	assert_int_equal(vt_cose_sign1_verify_detached(&s, g_p256, payload, sizeof(payload) - 2, NULL, 0, &err),
			 VT_E_REJECTED);
	vt_cose_sign1_free(&s);
	free(m);
}

/* ---------------------------------------------------------------- negatives */

static void test_structure_negatives(void **state)
{
	(void)state;
	struct vt_err err;
	/* [h'a10126', {}, h'', h'00'] variants, one defect each */
	static const uint8_t ok[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(ok, sizeof(ok), &err), VT_OK);
	static const uint8_t three[] = {0x83, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40};
	assert_int_equal(parse_bytes(three, sizeof(three), &err), VT_E_PARSE);
	static const uint8_t indef_array[] = {0x9f, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x41, 0x00, 0xff};
	assert_int_equal(parse_bytes(indef_array, sizeof(indef_array), &err), VT_E_PARSE);
	assert_non_null(strstr(err.detail, "indefinite"));
	static const uint8_t indef_payload[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x5f, 0x41, 0x01, 0xff, 0x41, 0x00};
	assert_int_equal(parse_bytes(indef_payload, sizeof(indef_payload), &err), VT_E_PARSE);
	static const uint8_t indef_unprot[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xbf, 0xff, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(indef_unprot, sizeof(indef_unprot), &err), VT_E_PARSE);
	static const uint8_t prot_not_map[] = {0x84, 0x41, 0x01, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(prot_not_map, sizeof(prot_not_map), &err), VT_E_PARSE);
	assert_string_equal(err.field, "cose.protected");
	static const uint8_t prot_array[] = {0x84, 0x43, 0x82, 0x01, 0x26, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(prot_array, sizeof(prot_array), &err), VT_E_PARSE);
	assert_string_equal(err.field, "cose.protected");
	static const uint8_t prot_garbage[] = {0x84, 0x42, 0xa1, 0x01, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(prot_garbage, sizeof(prot_garbage), &err), VT_E_PARSE);
	assert_string_equal(err.field, "cose.protected");
	static const uint8_t prot_trailing[] = {0x84, 0x44, 0xa1, 0x01, 0x26, 0x00, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(prot_trailing, sizeof(prot_trailing), &err), VT_E_PARSE);
	static const uint8_t prot_is_text[] = {0x84, 0x63, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(prot_is_text, sizeof(prot_is_text), &err), VT_E_PARSE);
	static const uint8_t alg_text[] = {0x84, 0x45, 0xa1, 0x01, 0x62, 0x45, 0x53, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(alg_text, sizeof(alg_text), &err), VT_E_PARSE);
	static const uint8_t alg_unprot[] = {0x84, 0x40, 0xa1, 0x01, 0x26, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(alg_unprot, sizeof(alg_unprot), &err), VT_E_PARSE);
	static const uint8_t crit[] = {0x84, 0x46, 0xa2, 0x01, 0x26, 0x02, 0x81, 0x03, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(crit, sizeof(crit), &err), VT_E_PARSE);
	/* label 3 in both buckets */
	static const uint8_t both[] = {0x84, 0x45, 0xa2, 0x01, 0x26, 0x03, 0x00, 0xa1, 0x03, 0x00, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(both, sizeof(both), &err), VT_E_PARSE);
	static const uint8_t unprot_array[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0x80, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(unprot_array, sizeof(unprot_array), &err), VT_E_PARSE);
	static const uint8_t payload_int[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x01, 0x41, 0x00};
	assert_int_equal(parse_bytes(payload_int, sizeof(payload_int), &err), VT_E_PARSE);
	/* floats and other simple values where nil may stand (libcbor's own
	 * cbor_is_null asserts on a float: found by fuzz_cose_sign1) */
	static const uint8_t payload_half[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf9, 0x3c, 0x00, 0x41, 0x00};
	assert_int_equal(parse_bytes(payload_half, sizeof(payload_half), &err), VT_E_PARSE);
	static const uint8_t payload_double[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xfb, 0xff, 0xff, 0xff,
						 0x01, 0x26, 0xa0, 0x48, 0x41, 0x41, 0x00};
	assert_int_equal(parse_bytes(payload_double, sizeof(payload_double), &err), VT_E_PARSE);
	static const uint8_t payload_undef[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf7, 0x41, 0x00};
	assert_int_equal(parse_bytes(payload_undef, sizeof(payload_undef), &err), VT_E_PARSE);
	static const uint8_t payload_true[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf5, 0x41, 0x00};
	assert_int_equal(parse_bytes(payload_true, sizeof(payload_true), &err), VT_E_PARSE);
	static const uint8_t sig_empty[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x40};
	assert_int_equal(parse_bytes(sig_empty, sizeof(sig_empty), &err), VT_E_PARSE);
	static const uint8_t sig_text[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x40, 0x61, 0x00};
	assert_int_equal(parse_bytes(sig_text, sizeof(sig_text), &err), VT_E_PARSE);
	static const uint8_t not_array[] = {0xa0};
	assert_int_equal(parse_bytes(not_array, sizeof(not_array), &err), VT_E_PARSE);
	assert_int_equal(parse_bytes((const uint8_t *)"", 0, &err), VT_E_PARSE);
	static const uint8_t stray_break[] = {0xff};
	assert_int_equal(parse_bytes(stray_break, sizeof(stray_break), &err), VT_E_PARSE);
	static const uint8_t reserved_ai[] = {0x1c};
	assert_int_equal(parse_bytes(reserved_ai, sizeof(reserved_ai), &err), VT_E_PARSE);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	struct vt_err err;
	/* protected {1: -7, 1: -7} */
	static const uint8_t dup_prot[] = {0x84, 0x45, 0xa2, 0x01, 0x26, 0x01, 0x26, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(dup_prot, sizeof(dup_prot), &err), VT_E_PARSE);
	assert_non_null(strstr(err.detail, "duplicate"));
	/* the same key in two encodings (1 and 0x18 0x01) */
	static const uint8_t dup_enc[] = {0x84, 0x46, 0xa2, 0x01, 0x26, 0x18, 0x01, 0x26, 0xa0, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(dup_enc, sizeof(dup_enc), &err), VT_E_PARSE);
	/* unprotected {4: h'', 4: h''} */
	static const uint8_t dup_unprot[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa2, 0x04, 0x40, 0x04, 0x40, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(dup_unprot, sizeof(dup_unprot), &err), VT_E_PARSE);
	/* text keys "a" twice, and a negative key twice */
	static const uint8_t dup_text[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa2, 0x61, 0x61, 0x00, 0x61, 0x61, 0x01, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(dup_text, sizeof(dup_text), &err), VT_E_PARSE);
	static const uint8_t dup_neg[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa2, 0x20, 0x00, 0x20, 0x01, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(dup_neg, sizeof(dup_neg), &err), VT_E_PARSE);
	/* different types with the same value are different keys: 5 and -6, h'61' and "a" */
	static const uint8_t distinct[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa4, 0x05, 0x00, 0x25, 0x00, 0x41, 0x61, 0x00,
					   0x61, 0x61, 0x00, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(distinct, sizeof(distinct), &err), VT_OK);
	/* a float key is refused */
	static const uint8_t float_key[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa1, 0xf9, 0x3c, 0x00, 0x00, 0x40, 0x41, 0x00};
	assert_int_equal(parse_bytes(float_key, sizeof(float_key), &err), VT_E_PARSE);
	/* duplicates inside a nested map of the generic decoder */
	static const uint8_t nested[] = {0x81, 0xa2, 0x01, 0x00, 0x01, 0x00};
	cbor_item_t *it = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode(nested, sizeof(nested), 0, "x", &it, &err), VT_E_PARSE);
	assert_null(it);
}

static void test_huge_lengths(void **state)
{
	(void)state;
	struct vt_err err;
	/* declared sizes far beyond the bytes present must not allocate */
	static const uint8_t arr64[] = {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	assert_int_equal(parse_bytes(arr64, sizeof(arr64), &err), VT_E_PARSE);
	static const uint8_t arr32[] = {0x9a, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00};
	assert_int_equal(parse_bytes(arr32, sizeof(arr32), &err), VT_E_PARSE);
	static const uint8_t map64[] = {0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00};
	assert_int_equal(parse_bytes(map64, sizeof(map64), &err), VT_E_PARSE);
	static const uint8_t bstr64[] = {0x84, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa0};
	assert_int_equal(parse_bytes(bstr64, sizeof(bstr64), &err), VT_E_PARSE);
	static const uint8_t tstr32[] = {0x84, 0x7a, 0x7f, 0xff, 0xff, 0xff, 0x00};
	assert_int_equal(parse_bytes(tstr32, sizeof(tstr32), &err), VT_E_PARSE);
	/* the payload claims 0x1000 bytes but 1 follows */
	static const uint8_t short_payload[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x59, 0x10, 0x00, 0x00};
	assert_int_equal(parse_bytes(short_payload, sizeof(short_payload), &err), VT_E_PARSE);
	/* over the item cap although the bytes are there */
	size_t n = 3 + 5000;
	uint8_t *many = calloc(1, n);
	many[0] = 0x99;
	many[1] = 0x13;
	many[2] = 0x88; /* array(5000) of zeros */
	cbor_item_t *it = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode(many, n, 0, "x", &it, &err), VT_E_LIMIT);
	free(many);
	/* over the message cap */
	uint8_t *big = calloc(1, VT_COSE_MAX_MESSAGE + 1);
	assert_int_equal(parse_bytes(big, VT_COSE_MAX_MESSAGE + 1, &err), VT_E_LIMIT);
	free(big);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	struct vt_err err;
	/* 100000 nested one-element arrays, and as many tags: refused, no recursion blow-up */
	size_t n = 100001;
	uint8_t *deep = malloc(n);
	memset(deep, 0x81, n - 1);
	deep[n - 1] = 0x00;
	assert_int_equal(parse_bytes(deep, n, &err), VT_E_LIMIT);
	memset(deep, 0xc1, n - 1); /* tag 1 (0xd2, tag 18, is refused by libcbor 0.8 itself) */
	assert_int_equal(parse_bytes(deep, n, &err), VT_E_LIMIT);
	deep[0] = 0xd2; /* one COSE tag, then too many others */
	assert_int_equal(parse_bytes(deep, n, &err), VT_E_LIMIT);
	memset(deep, 0x9f, n - 1); /* indefinite, allowed by the caller */
	cbor_item_t *it = NULL;
	struct vt_cbor_limits lim = {.allow_indefinite = true};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(deep, n, &lim, "x", &it, &err), VT_E_LIMIT);
	free(deep);
	/* exactly at the depth cap is fine */
	uint8_t ok[VT_COSE_MAX_DEPTH + 1];
	memset(ok, 0x81, VT_COSE_MAX_DEPTH);
	ok[VT_COSE_MAX_DEPTH] = 0x00;
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode(ok, sizeof(ok), VT_COSE_MAX_DEPTH, "x", &it, &err), VT_OK);
	cbor_decref(&it);
	assert_int_equal(vt_cbor_decode(ok, sizeof(ok), VT_COSE_MAX_DEPTH - 1, "x", &it, &err), VT_E_LIMIT);
}

static void test_indefinite_decoder(void **state)
{
	(void)state;
	struct vt_err err;
	struct vt_cbor_limits lim = {.allow_indefinite = true};
	cbor_item_t *it = NULL;
	/* {_ "a": [_ 1, 2], "b": h'00'} */
	static const uint8_t ok[] = {0xbf, 0x61, 0x61, 0x9f, 0x01, 0x02, 0xff, 0x61, 0x62, 0x41, 0x00, 0xff};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(ok, sizeof(ok), &lim, "x", &it, &err), VT_OK);
	assert_int_equal(cbor_map_size(it), 2);
	assert_non_null(vt_cbor_map_get_str(it, "b"));
	assert_null(vt_cbor_map_get_str(it, "c"));
	cbor_decref(&it);
	/* odd number of items before the break */
	static const uint8_t odd[] = {0xbf, 0x61, 0x61, 0xff};
	assert_int_equal(vt_cbor_decode_ex(odd, sizeof(odd), &lim, "x", &it, &err), VT_E_PARSE);
	/* indefinite strings are never accepted */
	static const uint8_t istr[] = {0x7f, 0x61, 0x61, 0xff};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(istr, sizeof(istr), &lim, "x", &it, &err), VT_E_PARSE);
	/* unterminated */
	static const uint8_t open[] = {0x9f, 0x01};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(open, sizeof(open), &lim, "x", &it, &err), VT_E_PARSE);
	/* a break inside a definite array */
	static const uint8_t brk[] = {0x9f, 0x81, 0xff, 0xff};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(brk, sizeof(brk), &lim, "x", &it, &err), VT_E_PARSE);
	/* duplicate keys in an indefinite map */
	static const uint8_t dup[] = {0xbf, 0x01, 0x00, 0x01, 0x00, 0xff};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(dup, sizeof(dup), &lim, "x", &it, &err), VT_E_PARSE);
	/* too many elements in an indefinite array */
	struct vt_cbor_limits small = {.allow_indefinite = true, .max_items = 3};
	static const uint8_t four[] = {0x9f, 0x01, 0x02, 0x03, 0x04, 0xff};
	vt_err_clear(&err);
	assert_int_equal(vt_cbor_decode_ex(four, sizeof(four), &small, "x", &it, &err), VT_E_LIMIT);
	assert_null(it);
}

static void test_accessors(void **state)
{
	(void)state;
	struct vt_err err = {0};
	cbor_item_t *it = NULL;
	/* {1: -35, -1: 0x7fffffffffffffff, 2: 0x8000000000000000, "k": -0x8000000000000000, 3: -2^64} */
	static const uint8_t m[] = {0xa5, 0x01, 0x38, 0x22, 0x20, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				    0x02, 0x1b, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0x6b, 0x3b, 0x7f,
				    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff,
				    0xff, 0xff, 0xff};
	assert_int_equal(vt_cbor_decode(m, sizeof(m), 0, "m", &it, &err), VT_OK);
	int64_t v = 0;
	assert_true(vt_cbor_int64(vt_cbor_map_get_int(it, 1), &v));
	assert_int_equal(v, -35);
	assert_true(vt_cbor_int64(vt_cbor_map_get_int(it, -1), &v));
	assert_true(v == INT64_MAX);
	assert_false(vt_cbor_int64(vt_cbor_map_get_int(it, 2), &v));
	assert_true(vt_cbor_int64(vt_cbor_map_get_str(it, "k"), &v));
	assert_true(v == INT64_MIN);
	assert_false(vt_cbor_int64(vt_cbor_map_get_int(it, 3), &v));
	assert_null(vt_cbor_map_get_int(it, 4));
	assert_null(vt_cbor_map_get_int(NULL, 1));
	assert_false(vt_cbor_int64(NULL, &v));
	cbor_decref(&it);
	static const uint8_t simple[] = {0x84, 0xf6, 0xf7, 0xf9, 0x3c, 0x00, 0xf4};
	assert_int_equal(vt_cbor_decode(simple, sizeof(simple), 0, "s", &it, &err), VT_OK);
	assert_true(vt_cbor_is_null(cbor_array_handle(it)[0]));
	for (size_t i = 1; i < 4; i++)
		assert_false(vt_cbor_is_null(cbor_array_handle(it)[i]));
	assert_false(vt_cbor_is_null(NULL));
	cbor_decref(&it);

	struct vt_cose_sign1 s;
	memset(&s, 0, sizeof(s));
	vt_cose_sign1_free(&s);
	vt_cose_sign1_free(NULL);
	assert_null(vt_cose_sign1_protected_get(&s, 1));
	assert_null(vt_cose_sign1_unprotected(&s));
	assert_int_equal(vt_cose_sign1_verify(&s, g_p256, NULL, 0, &err), VT_E_USAGE);
	assert_int_equal(vt_cose_sign1_parse(NULL, 1, &s, &err), VT_E_USAGE);
}

/* Sig_structure is exactly ["Signature1", h'a10126', h'', h'0102'] in CBOR. */
static void test_sig_structure_bytes(void **state)
{
	(void)state;
	static const uint8_t want[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1', 0x43, 0xa1,
				       0x01, 0x26, 0x40, 0x42, 0x01, 0x02};
	static const uint8_t payload[] = {1, 2};
	uint8_t *tbs = NULL;
	size_t n = 0;
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sig_structure(PROT_ES256, sizeof(PROT_ES256), NULL, 0, payload, sizeof(payload), &tbs,
					       &n, &err),
			 VT_OK);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(tbs, want, n);
	free(tbs);
	/* an empty protected header is h'' */
	assert_int_equal(vt_cose_sig_structure(NULL, 0, NULL, 0, NULL, 0, &tbs, &n, &err), VT_OK);
	static const uint8_t empty[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1', 0x40, 0x40, 0x40};
	assert_int_equal(n, sizeof(empty));
	assert_memory_equal(tbs, empty, n);
	free(tbs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nitro_known_answers),
		cmocka_unit_test(test_nitro_dstack_indefinite_payload),
		cmocka_unit_test(test_nitro_tampered_signature),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_es_round_trips),
		cmocka_unit_test(test_unsupported_alg),
		cmocka_unit_test(test_detached),
		cmocka_unit_test(test_structure_negatives),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_huge_lengths),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_indefinite_decoder),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_sig_structure_bytes),
	};
	return cmocka_run_group_tests_name("cose", tests, group_setup, group_teardown);
}
