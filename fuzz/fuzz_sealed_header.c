/*
 * libFuzzer target for the sealed-file header (src/seal/format.c):
 * vt_seal_header_size and vt_seal_header_parse, then a re-encode of what
 * parsed, which must give back exactly the bytes the parser consumed.
 * Seeds (fuzz/corpus/fuzz_sealed_header/): headers made from
 * docs/sealed-format.md by an independent Python encoder (one broker;
 * 2-of-3; a directory header followed by a chunk).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t again[VT_SEAL_MAX_HEADER];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_err err;
	struct vt_seal_header h;
	size_t hs = 0, declared = 0, n = 0;
	vt_err_clear(&err);
	(void)!vt_seal_header_size(data, size, &declared, &err);
	vt_err_clear(&err);
	if (vt_seal_header_parse(data, size, &h, &hs, &err) != VT_OK)
		return 0;
	if (hs > size || hs != declared)
		abort(); /* the parser must stay inside its input and its declared size */
	if (vt_seal_header_encode(&h, again, sizeof(again), &n, &err) != VT_OK || n != hs || memcmp(again, data, n) != 0)
		abort(); /* one encoding per header: what parses re-encodes to the same bytes */
	return 0;
}
