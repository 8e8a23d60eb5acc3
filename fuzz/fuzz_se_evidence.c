/*
 * libFuzzer target for SE evidence as `veritee verify se FILE` and the
 * broker take it (src/evidence/se/tee.c, verify.c): vt_tee_se.load_file
 * (Trustee's SeAttestationResponse JSON plus request_blob, or a pvattest
 * exchange response), then vt_se_verify with a fixed trust (a synthetic SE
 * header, vt_se_hdr_build seed 0x40 with key-slot hash 32 x 0x11, and ARPK
 * 32 x 0x17), without a binding and with the first 64 input bytes as one;
 * then the descriptor's verify with no state, which must fail closed.
 * Seeds (fuzz/corpus/fuzz_se_evidence/) verify against that trust.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "veritee/se.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vt_se_trust *g_trust;

static void cleanup(void)
{
	vt_se_trust_free(g_trust);
}

static void setup(void)
{
	uint8_t phkh[VT_SE_PHKH_SIZE], arpk[VT_SE_ARPK_SIZE], *hdr = NULL;
	size_t n = 0;
	memset(phkh, 0x11, sizeof(phkh));
	memset(arpk, 0x17, sizeof(arpk));
	if (vt_se_trust_new(&g_trust, NULL) != VT_OK || vt_se_hdr_build(0x40, 1, phkh, &hdr, &n, NULL) != VT_OK ||
	    vt_se_trust_add_header(g_trust, hdr, n, NULL) != VT_OK || vt_se_trust_add_arpk(g_trust, arpk, NULL) != VT_OK)
		abort();
	free(hdr);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g_trust == NULL)
		setup();
	struct vt_err err;
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(&err);
	if (vt_tee_se.load_file(data, size, &ev, &err) != VT_OK)
		return 0;
	vt_err_clear(&err);
	if (vt_se_verify(g_trust, ev, NULL, &claims, &err) == VT_OK) {
		char *s = json_dumps(claims, JSON_COMPACT);
		free(s);
		json_decref(claims);
		claims = NULL;
	}
	if (size >= VT_SE_REPORT_DATA_SIZE) {
		struct vt_binding b = {.report_data = data, .report_data_size = VT_SE_REPORT_DATA_SIZE};
		vt_err_clear(&err);
		if (vt_se_verify(g_trust, ev, &b, &claims, &err) == VT_OK)
			json_decref(claims);
		claims = NULL;
	}
	struct vt_verify_ctx ctx = {.now = 0};
	vt_err_clear(&err);
	if (vt_tee_se.verify(&ctx, ev, NULL, &claims, &err) == VT_OK)
		abort(); /* no trust reaches the descriptor: it must fail closed */
	json_decref(ev);
	return 0;
}
