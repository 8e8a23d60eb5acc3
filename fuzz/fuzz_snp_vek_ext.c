/*
 * libFuzzer target for one AMD VCEK/VLEK extension value: the first byte
 * selects the OID suffix (1.3.6.1.4.1.3704.1.<suffix>), the rest is the
 * DER extnValue content.
 */
#include <stdlib.h>
#include <string.h>

#include "veritee/snp.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SUFFIXES[] = {"1", "2", "3.1", "3.2", "3.3", "3.4", "3.5",
				       "3.6", "3.7", "3.8", "3.9", "4", "5"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *suffix = SUFFIXES[data[0] % (sizeof(SUFFIXES) / sizeof(SUFFIXES[0]))];
	struct vt_snp_vek_ext ext;
	struct vt_err err = {0};
	memset(&ext, 0, sizeof(ext));
	vt_status rc = vt_snp_vek_ext_value(suffix, size > 1 ? data + 1 : NULL, size - 1, &ext, &err);
	if (rc != VT_OK) {
		if (rc != VT_E_PARSE || err.code != VT_E_PARSE || err.step != VT_STEP_PARSE)
			abort();
		return 0;
	}
	/* Invariants of a successful parse. */
	if (memchr(ext.product_name, '\0', sizeof(ext.product_name)) == NULL ||
	    memchr(ext.csp_id, '\0', sizeof(ext.csp_id)) == NULL)
		abort();
	if (ext.has_hwid && ext.hwid_size != 64 && ext.hwid_size != 8)
		abort();
	if (ext.has_struct_version && ext.struct_version < 0)
		abort();
	/* A second value for the same extension is refused. */
	struct vt_snp_vek_ext again = ext;
	vt_status rc2 = vt_snp_vek_ext_value(suffix, size > 1 ? data + 1 : NULL, size - 1, &again, NULL);
	bool reserved_spl = strncmp(suffix, "3.", 2) == 0 && suffix[2] >= '4' && suffix[2] <= '7';
	if (!reserved_spl && rc2 != VT_E_PARSE)
		abort();
	return 0;
}
