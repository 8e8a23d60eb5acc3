/*
 * libFuzzer target for IBM SE image headers ("IBMSecEx", src/evidence/se/
 * parse.c): vt_se_hdr_parse, its tags, and vt_se_trust_add_header (what
 * the verifier does with an operator's header file).  Seeds
 * (fuzz/corpus/fuzz_se_hdr/): s390-tools' test header (shared vector) and
 * synthetic headers (vt_se_hdr_build) with one and several key slots.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "veritee/se.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_err err;
	struct vt_se_hdr h;
	vt_err_clear(&err);
	if (vt_se_hdr_parse(data, size, &h, &err) == VT_OK) {
		uint8_t tags[VT_SE_TAGS_SIZE];
		vt_se_hdr_tags(&h, tags);
		if (h.size != size || h.nks == 0 || h.tag != data + size - VT_SE_GCM_TAG_SIZE)
			abort(); /* the parser's layout must cover the input exactly */
	}
	struct vt_se_trust *t = NULL;
	if (vt_se_trust_new(&t, NULL) != VT_OK)
		abort();
	vt_err_clear(&err);
	(void)!vt_se_trust_add_header(t, data, size, &err);
	vt_se_trust_free(t);
	return 0;
}
