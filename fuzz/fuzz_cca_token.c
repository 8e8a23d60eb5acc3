/*
 * libFuzzer target for Arm CCA attestation tokens (src/evidence/cca/).
 * Each input is used four ways:
 *   1. a raw token -> vt_cca_verify_token with a fixed CPAK, without and
 *      with a binding (the input's first 64 bytes);
 *   2. the same -> vt_cca_token_realm_challenge (the attester's parse);
 *   3. a `veritee verify` file -> vt_tee_cca.load_file, then the
 *      descriptor's verify on the evidence JSON it gives;
 *   4. a CPAK file -> vt_cca_cpak_from_bytes.
 * The seeds (fuzz/corpus/fuzz_cca_token/) are synthetic tokens whose
 * platform token is signed by the private half of FUZZ_CPAK (made for this
 * corpus and discarded), so mutations reach the realm signature, both
 * bindings and the claims, not only the platform signature check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/cca.h"
#include "veritee/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FUZZ_CPAK[] = "-----BEGIN PUBLIC KEY-----\n"
				"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEGKDcmorWiXpcN+wjSVyMUH8vrkEIESJp\n"
				"s5gS3aSP45WXiUuKyB5edWwzVzcYlFXJXKeBUyF/m2XKTpA90ZRufROPNRXBGC46\n"
				"cc6TsWdcF9rs0jG5RElHRJQqPs8Gj6xt\n"
				"-----END PUBLIC KEY-----\n";

static EVP_PKEY *g_cpak;

static void cleanup(void)
{
	EVP_PKEY_free(g_cpak);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_err err;
	json_t *claims = NULL;
	if (g_cpak == NULL) {
		vt_err_clear(&err);
		if (vt_key_from_pem(FUZZ_CPAK, sizeof(FUZZ_CPAK) - 1, false, &g_cpak, &err) != VT_OK)
			abort();
		atexit(cleanup);
	}

	/* 1. the token */
	vt_err_clear(&err);
	if (vt_cca_verify_token(data, size, g_cpak, NULL, &claims, &err) == VT_OK) {
		char *s = json_dumps(claims, JSON_COMPACT);
		free(s);
		json_decref(claims);
		claims = NULL;
	}
	if (size >= 64) {
		struct vt_binding b = {.report_data = data, .report_data_size = 64};
		vt_err_clear(&err);
		if (vt_cca_verify_token(data, size, g_cpak, &b, &claims, &err) == VT_OK)
			json_decref(claims);
		claims = NULL;
	}

	/* 2. the attester's parse */
	uint8_t challenge[VT_CCA_CHALLENGE_SIZE];
	vt_err_clear(&err);
	(void)!vt_cca_token_realm_challenge(data, size, challenge, &err);

	/* 3. a file for `veritee verify cca`, then the descriptor (which refuses without a CPAK) */
	json_t *ev = NULL;
	vt_err_clear(&err);
	if (vt_tee_cca.load_file(data, size, &ev, &err) == VT_OK) {
		struct vt_verify_ctx ctx = {.now = 0};
		vt_err_clear(&err);
		if (vt_tee_cca.verify(&ctx, ev, NULL, &claims, &err) == VT_OK)
			abort(); /* no CPAK reaches the descriptor: it must fail closed */
		json_decref(ev);
	}

	/* 4. a CPAK file */
	EVP_PKEY *k = NULL;
	vt_err_clear(&err);
	if (vt_cca_cpak_from_bytes(data, size, &k, &err) == VT_OK)
		EVP_PKEY_free(k);
	return 0;
}
