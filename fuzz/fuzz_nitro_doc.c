/*
 * libFuzzer target for the AWS Nitro verifier (src/evidence/nitro/).
 * Each input is used as:
 *   1. an attestation document -> vt_nitro_doc_parse and vt_nitro_verify_doc
 *      against the pinned AWS root at a fixed time (2021-09-09T10:19:20Z),
 *      with and without a binding;
 *   2. a file -> vt_nitro_load_file (raw, base64, dstack framing, JSON),
 *      then the registry entry's verify on the evidence it yields;
 *   3. the fields of a document signed in-process by a local test CA
 *      (vt_nitro_doc_build): byte 0 picks the field (module_id, nonce,
 *      user_data, public_key, a PCR), the rest is its value; the document
 *      is verified against that CA with the value as the expected binding,
 *      so the chain, binding and claims code run on arbitrary bytes.
 * Time is fixed; the wall clock is never read.  Failures leave no claims and
 * record their own code; a verified document always has report_data.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/nitro.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1631182760 /* 2021-09-09T10:19:20Z */
#define LOCAL_T0 1704067200 /* 2024-01-01T00:00:00Z */

static bool g_ready;
static EVP_PKEY *g_root_key, *g_leaf_key;
static X509 *g_root, *g_leaf;
static unsigned char *g_root_der, *g_leaf_der;
static int g_root_der_len, g_leaf_der_len;

static void cleanup(void)
{
	X509_free(g_root);
	X509_free(g_leaf);
	OPENSSL_free(g_root_der);
	OPENSSL_free(g_leaf_der);
	EVP_PKEY_free(g_root_key);
	EVP_PKEY_free(g_leaf_key);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	if (x == NULL || name == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(LOCAL_T0 - 86400));
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(LOCAL_T0 + 86400));
	X509_set_pubkey(x, key);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		abort();
	X509_EXTENSION_free(ext);
	if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha384()) <= 0)
		abort();
	return x;
}

static void setup(void)
{
	if (vt_key_generate(VT_KEY_P384, &g_root_key, NULL) != VT_OK ||
	    vt_key_generate(VT_KEY_P384, &g_leaf_key, NULL) != VT_OK)
		abort();
	g_root = make_cert("fuzz.nitro-enclaves", g_root_key, NULL, NULL, true);
	g_leaf = make_cert("fuzz-leaf", g_leaf_key, g_root, g_root_key, false);
	g_root_der_len = i2d_X509(g_root, &g_root_der);
	g_leaf_der_len = i2d_X509(g_leaf, &g_leaf_der);
	if (g_root_der_len <= 0 || g_leaf_der_len <= 0)
		abort();
	atexit(cleanup);
	g_ready = true;
}

static void check(vt_status rc, json_t *claims, const struct vt_err *err)
{
	if (rc == VT_OK) {
		if (claims == NULL || !json_is_string(json_object_get(claims, "report_data")))
			abort();
		char *s = json_dumps(claims, JSON_COMPACT);
		free(s);
	} else if (claims != NULL || err->code != rc || err->step == VT_STEP_NONE) {
		abort();
	}
	json_decref(claims);
}

static void fuzz_doc(const uint8_t *data, size_t size)
{
	struct vt_nitro_doc d;
	struct vt_err err = {0};
	vt_status rc = vt_nitro_doc_parse(data, size, &d, &err);
	if (rc == VT_OK) {
		if (d.pcr_count == 0 || d.cabundle_count == 0 || d.module_id == NULL || d.module_id[0] == '\0')
			abort();
		vt_nitro_doc_free(&d);
	} else if (d.priv_ != NULL || err.code != rc) {
		abort();
	}
	json_t *claims = NULL;
	vt_err_clear(&err);
	check(vt_nitro_verify_doc(data, size, FUZZ_NOW, NULL, NULL, &claims, &err), claims, &err);
	static const uint8_t bind[48] = {1};
	struct vt_binding b = {.report_data = bind, .report_data_size = sizeof(bind)};
	claims = NULL;
	vt_err_clear(&err);
	check(vt_nitro_verify_doc(data, size, FUZZ_NOW, NULL, &b, &claims, &err), claims, &err);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
	json_t *ev = NULL;
	struct vt_err err = {0};
	if (vt_nitro_load_file(data, size, &ev, &err) != VT_OK) {
		if (ev != NULL)
			abort();
		return;
	}
	struct vt_verify_ctx ctx = {.now = FUZZ_NOW};
	json_t *claims = NULL;
	vt_err_clear(&err);
	check(vt_tee_nitro.verify(&ctx, ev, NULL, &claims, &err), claims, &err);
	json_decref(ev);
}

static void fuzz_fields(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	uint8_t sel = data[0];
	const uint8_t *v = data + 1;
	size_t vn = size - 1;
	static uint8_t pcr_vals[4][48];
	struct vt_nitro_pcr pcrs[4];
	for (uint32_t i = 0; i < 4; i++) {
		memset(pcr_vals[i], (int)i, sizeof(pcr_vals[i]));
		pcrs[i] = (struct vt_nitro_pcr){i, pcr_vals[i]};
	}
	struct vt_nitro_bytes bundle[1] = {{g_root_der, (size_t)g_root_der_len, true}};
	char *mid = NULL;
	struct vt_nitro_doc_spec s = {
		.module_id = "i-fuzz-enc",
		.timestamp_ms = (uint64_t)LOCAL_T0 * 1000 + 1,
		.pcr_count = 4,
		.pcrs = pcrs,
		.certificate = {g_leaf_der, (size_t)g_leaf_der_len, true},
		.cabundle_count = 1,
		.cabundle = bundle,
		.indefinite = (sel & 0x80) != 0,
	};
	switch (sel & 7u) {
	case 0:
		mid = malloc(vn + 1);
		if (mid == NULL)
			return;
		memcpy(mid, v, vn);
		mid[vn] = '\0';
		s.module_id = mid;
		break;
	case 1: s.nonce = (struct vt_nitro_bytes){v, vn, true}; break;
	case 2: s.user_data = (struct vt_nitro_bytes){v, vn, true}; break;
	case 3: s.public_key = (struct vt_nitro_bytes){v, vn, true}; break;
	case 4:
		if (vn > 48)
			vn = 48;
		memcpy(pcr_vals[(sel >> 3) & 3u], v, vn);
		pcrs[(sel >> 3) & 3u].index = (uint32_t)((sel >> 3) & 31u);
		break;
	default:
		s.timestamp_ms = 0;
		for (size_t i = 0; i < vn && i < 8; i++)
			s.timestamp_ms = (s.timestamp_ms << 8) | v[i];
		break;
	}
	uint8_t *doc = NULL;
	size_t n = 0;
	struct vt_err err = {0};
	if (vt_nitro_doc_build(&s, g_leaf_key, &doc, &n, &err) == VT_OK) {
		struct vt_binding b = {.report_data = v, .report_data_size = vn};
		json_t *claims = NULL;
		vt_err_clear(&err);
		check(vt_nitro_verify_doc(doc, n, LOCAL_T0, g_root, vn ? &b : NULL, &claims, &err), claims, &err);
		free(doc);
	}
	free(mid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_ready)
		setup();
	fuzz_doc(data, size);
	fuzz_file(data, size);
	if (size <= 2048)
		fuzz_fields(data, size);
	return 0;
}
