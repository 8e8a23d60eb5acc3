/*
 * libFuzzer target for pvattest exchange files (src/evidence/se/parse.c,
 * tee.c): vt_se_exchange_parse, vt_se_evidence_from_exchange, and the
 * evidence it gives through vt_se_verify with a fixed trust: a synthetic
 * SE header (vt_se_hdr_build seed 0x40, key-slot hash 32 x 0x11) and ARPK
 * 32 x 0x17.  The seeds (fuzz/corpus/fuzz_se_exchange/) are responses made
 * against that trust, so mutations reach the ARCB, the measurement and the
 * binding checks; s390-tools' filler exchange file is one of them.
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
	struct vt_se_exchange x;
	vt_err_clear(&err);
	if (vt_se_exchange_parse(data, size, &x, &err) == VT_OK && (x.arcb.data == NULL || x.arcb.size == 0))
		abort(); /* a parsed file always carries its ARCB */
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(&err);
	if (vt_se_evidence_from_exchange(data, size, &ev, &err) != VT_OK)
		return 0;
	vt_err_clear(&err);
	if (vt_se_verify(g_trust, ev, NULL, &claims, &err) == VT_OK) {
		char *s = json_dumps(claims, JSON_COMPACT);
		free(s);
		json_decref(claims);
	}
	json_decref(ev);
	return 0;
}
