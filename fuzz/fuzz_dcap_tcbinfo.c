/*
 * libFuzzer target: DCAP collateral JSON.  The first byte chooses:
 *   0 mod 4: TCB Info value       -> vt_tcb_info_parse
 *   1 mod 4: QE identity value    -> vt_qe_identity_parse
 *   2 mod 4: PCS body {"tcbInfo":…,"signature":…} -> split, then parse
 *   3 mod 4: PCS body {"enclaveIdentity":…}        -> split, then parse
 * A successful split must return bytes that occur verbatim in the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/dcap/dcap_internal.h"
#include "veritee/dcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_tcb(const char *s, size_t n)
{
	struct vt_tcb_info ti;
	struct vt_err err = {0};
	if (vt_tcb_info_parse(s, n, &ti, &err) == VT_OK) {
		if (ti.level_count == 0 || ti.level_count > VT_DCAP_MAX_LEVELS)
			abort();
		for (size_t i = 0; i < ti.module_id_count; i++)
			if (ti.module_ids[i].level_count == 0)
				abort();
	}
	vt_tcb_info_free(&ti);
}

static void parse_qe(const char *s, size_t n)
{
	struct vt_qe_identity qi;
	struct vt_err err = {0};
	if (vt_qe_identity_parse(s, n, &qi, &err) == VT_OK && qi.level_count == 0)
		abort();
	vt_qe_identity_free(&qi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] & 3u;
	char *s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	size_t n = size - 1;
	if (mode == 0) {
		parse_tcb(s, n);
	} else if (mode == 1) {
		parse_qe(s, n);
	} else {
		const char *member = mode == 2 ? "tcbInfo" : "enclaveIdentity";
		char *val = NULL;
		uint8_t sig[64];
		struct vt_err err = {0};
		if (vt_dcap_signed_json_split(s, n, member, &val, sig, &err) == VT_OK) {
			size_t vl = strlen(val);
			if (vl == 0 || memmem(s, n, val, vl) == NULL || val[0] != '{' || val[vl - 1] != '}')
				abort();
			if (mode == 2)
				parse_tcb(val, vl);
			else
				parse_qe(val, vl);
			free(val);
		} else if (val != NULL) {
			abort();
		}
	}
	free(s);
	return 0;
}
