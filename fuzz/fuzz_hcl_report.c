/* libFuzzer: the Azure HCL report parser (src/evidence/azure/hcl.c): header,
 * IGVM request data, the runtime JSON and its HCLAkPub JWK, and the
 * variable-data hash check against the embedded hardware report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "evidence/azure/hcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_hcl_report h;
	struct vt_err err = {0};
	if (vt_hcl_parse(data, size, &h, &err) != VT_OK)
		return 0;
	/* views must lie inside the input */
	if (h.hw_report < data || h.hw_report + VT_HCL_HW_SIZE > data + size || h.var_data < data ||
	    (size_t)(h.var_data - data) + h.var_data_size > size)
		abort();
	const uint8_t *rd = h.hw_report + (h.report_type == VT_HCL_REPORT_TYPE_SNP ? 0x50 : 128);
	(void)vt_hcl_check_var_data(&h, rd, &err);
	struct vt_hcl_runtime rt;
	if (vt_hcl_runtime_parse(&h, &rt, &err) != VT_OK)
		return 0;
	EVP_PKEY *ak = NULL;
	if (vt_hcl_runtime_ak(&rt, &ak, &err) == VT_OK)
		EVP_PKEY_free(ak);
	vt_hcl_runtime_free(&rt);
	return 0;
}
