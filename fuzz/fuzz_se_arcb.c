/*
 * libFuzzer target for IBM SE attestation requests (src/evidence/se/parse.c,
 * crypto.c) and the attester's request reader (src/attester/se/).  Each
 * input is used two ways:
 *   1. an ARCB -> vt_se_arcb_parse, then vt_se_arcb_unwrap with ARPK
 *      32 x 0x17 (the ARPK of every seed, so the seeds authenticate and a
 *      mutation must be refused by the parser or by AES-256-GCM);
 *   2. a request for the attester (a raw ARCB, a pvattest exchange request
 *      or Trustee's SeAttestationRequest JSON) -> vt_se_attest_via with a
 *      fake Ultravisor that answers with the sizes the request asks for.
 * Seeds (fuzz/corpus/fuzz_se_arcb/): s390-tools' test ARCB (shared vector),
 * synthetic ARCBs (vt_se_arcb_build), an exchange request, a Trustee request.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "veritee/se.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vt_status fake_uv(void *ctx, struct vt_se_uv_attest *io, struct vt_err *err)
{
	(void)ctx;
	(void)err;
	memset(io->measurement, 0x42, io->measurement_size);
	if (io->additional_size > 0)
		memset(io->additional, 0x43, io->additional_size);
	memset(io->cuid, 0x44, sizeof(io->cuid));
	io->uv_rc = 1;
	return VT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_err err;
	uint8_t arpk[VT_SE_ARPK_SIZE];
	memset(arpk, 0x17, sizeof(arpk));

	/* 1. the ARCB */
	struct vt_se_arcb a;
	vt_err_clear(&err);
	if (vt_se_arcb_parse(data, size, &a, &err) == VT_OK) {
		if (a.aad_size + a.sea + VT_SE_GCM_TAG_SIZE != size || a.nks == 0)
			abort(); /* the parser's layout must cover the input exactly */
		(void)vt_se_additional_size(a.flags);
		struct vt_se_arcb_secrets s;
		vt_err_clear(&err);
		(void)!vt_se_arcb_unwrap(&a, arpk, &s, &err);
		vt_wipe(&s, sizeof(s));
	}

	/* 2. the attester's request */
	uint8_t rd[VT_SE_REPORT_DATA_SIZE] = {0};
	json_t *ev = NULL;
	vt_err_clear(&err);
	if (vt_se_attest_via(fake_uv, NULL, data, size, rd, &ev, &err) == VT_OK)
		json_decref(ev);
	return 0;
}
