/*
 * libFuzzer target for COSE_Sign1 and the bounded CBOR decoder
 * (src/crypto/cose.c).  Each input is used as:
 *   1. a COSE_Sign1 message -> vt_cose_sign1_parse, then header lookups and
 *      vt_cose_sign1_verify with fixed P-256, P-384 and P-521 keys (each
 *      must refuse: the fuzzer does not know their private halves);
 *   2. any CBOR item -> vt_cbor_decode_ex, definite-only and with
 *      indefinite lengths allowed, with small and default caps.
 * Invariants: failures leave nothing allocated and record their own code;
 * a parsed message's views stay inside what the struct owns (ASan checks).
 */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "veritee/cose.h"
#include "veritee/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *g_keys[3];
static bool g_ready;

static void cleanup(void)
{
	for (size_t i = 0; i < 3; i++)
		EVP_PKEY_free(g_keys[i]);
}

static void setup(void)
{
	static const vt_key_type types[3] = {VT_KEY_P256, VT_KEY_P384, VT_KEY_P521};
	for (size_t i = 0; i < 3; i++)
		if (vt_key_generate(types[i], &g_keys[i], NULL) != VT_OK)
			abort();
	atexit(cleanup);
	g_ready = true;
}

static void touch(const uint8_t *p, size_t n)
{
	volatile uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	(void)x;
}

static void fuzz_sign1(const uint8_t *data, size_t size)
{
	struct vt_cose_sign1 s;
	struct vt_err err = {0};
	vt_status rc = vt_cose_sign1_parse(data, size, &s, &err);
	if (rc != VT_OK) {
		if (s.priv_ != NULL || err.code != rc || err.step == VT_STEP_NONE)
			abort();
		return;
	}
	touch(s.protected_bstr, s.protected_len);
	if (s.payload != NULL)
		touch(s.payload, s.payload_len);
	touch(s.signature, s.signature_len);
	if (s.signature_len == 0 || vt_cose_sign1_unprotected(&s) == NULL)
		abort();
	for (int64_t label = -2; label <= 8; label++) {
		(void)vt_cose_sign1_protected_get(&s, label);
		(void)vt_cose_sign1_unprotected_get(&s, label);
	}
	for (size_t i = 0; i < 3; i++) {
		vt_err_clear(&err);
		rc = s.payload ? vt_cose_sign1_verify(&s, g_keys[i], data, size > 16 ? 16 : size, &err)
			       : vt_cose_sign1_verify_detached(&s, g_keys[i], data, size, NULL, 0, &err);
		if (rc == VT_OK)
			abort(); /* a forgery against a key made in this process */
	}
	vt_cose_sign1_free(&s);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	struct vt_cbor_limits lims[3] = {
		{0},
		{.allow_indefinite = true},
		{.max_depth = 3, .max_items = 8, .allow_indefinite = true},
	};
	for (size_t i = 0; i < 3; i++) {
		cbor_item_t *it = NULL;
		struct vt_err err = {0};
		vt_status rc = vt_cbor_decode_ex(data, size, &lims[i], "fuzz", &it, &err);
		if (rc != VT_OK) {
			if (it != NULL || err.code != rc)
				abort();
			continue;
		}
		int64_t v;
		(void)vt_cbor_int64(it, &v);
		(void)vt_cbor_map_get_int(it, 1);
		(void)vt_cbor_map_get_str(it, "module_id");
		cbor_decref(&it);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_ready)
		setup();
	fuzz_sign1(data, size);
	fuzz_decode(data, size);
	return 0;
}
