/*
 * libFuzzer target for the sealed-file header (src/seal/format.c):
 * vt_seal_header_size and vt_seal_header_parse, then a re-encode of what
 * parsed, which must give back exactly the bytes the parser consumed.  A
 * local header's blob goes on through its own parser, without a TPM or
 * SEV-SNP firmware: the local:snp request (vt_seal_snp_blob_parse) and the
 * local:tpm blob (PCR selection and values, then TPM2B_PUBLIC and
 * TPM2B_PRIVATE through tss2-mu, then the object and policy checks).
 * Seeds (fuzz/corpus/fuzz_sealed_header/): headers made from
 * docs/sealed-format.md by an independent Python encoder (one broker;
 * 2-of-3; a directory header followed by a chunk; local:sim, local:snp, and
 * local:tpm with the blob of a real swtpm seal).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal/local.h"
#include "veritee/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t again[VT_SEAL_MAX_HEADER];
static struct vt_seal_header h;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_err err;
	struct vt_seal_snp_key_req q;
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
	switch (vt_seal_header_local(&h)) {
	case VT_SEAL_LOCAL_SNP:
		if (vt_seal_snp_blob_parse(h.local_blob, h.local_blob_size, &q, &err) == VT_OK) {
			uint8_t b[VT_SEAL_SNP_BLOB_SIZE];
			vt_seal_snp_blob_encode(&q, b);
			if (memcmp(b, h.local_blob, sizeof(b)) != 0)
				abort(); /* the request re-encodes to the blob */
		}
		break;
	case VT_SEAL_LOCAL_TPM: (void)!vt_seal_tpm_blob_check(h.local_blob, h.local_blob_size, &err); break;
	default:
		if ((h.flags & VT_SEAL_FLAG_LOCAL) && vt_seal_header_local(&h) == VT_SEAL_LOCAL_NONE)
			abort(); /* a parsed local header names a kind */
		break;
	}
	return 0;
}
