/*
 * libFuzzer target for the gce-vtpm protobuf: the input is an
 * attest.Attestation message.  It is walked field by field with the wire
 * reader, parsed into the attestation struct, and (when that succeeds) run
 * through the gce-vtpm verifier without Google roots, so the AK TPMT_PUBLIC,
 * TPMS_ATTEST and certificate parsing run before the chain step refuses it.
 * The seeds in fuzz/corpus/fuzz_gce_proto/ are synthetic messages (a made-up
 * RSA AK public area, TPMS_ATTEST, signature, PCR maps of one to three
 * banks, unknown and optional fields), not copies of real attestations.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "evidence/gce/proto.h"
#include "veritee/gce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vt_gce_attestation att;
	struct vt_err err;
	struct vt_reader r;
	struct vt_pb_field f;

	setenv("TSS2_LOG", "all+none", 0);
	vt_reader_init(&r, data, size);
	for (unsigned i = 0; i < 100000 && vt_reader_remaining(&r) > 0; i++)
		if (vt_pb_next(&r, &f, "fuzz", &err) != VT_OK)
			break;
	if (vt_gce_attestation_parse(data, size, &att, &err) != VT_OK)
		return 0;
	json_t *ev = NULL, *claims = NULL;
	if (vt_tee_gce_vtpm.load_file(data, size, &ev, &err) != VT_OK)
		return 0;
	struct vt_verify_ctx ctx = {.now = 1735689600};
	struct vt_binding b = {.report_data = data, .report_data_size = size < 2 ? size : 2};
	if (vt_tee_gce_vtpm.verify(&ctx, ev, &b, &claims, &err) == VT_OK)
		abort(); /* without roots nothing may verify */
	json_decref(claims);
	json_decref(ev);
	return 0;
}
