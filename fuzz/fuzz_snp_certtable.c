/*
 * libFuzzer target for the SEV-SNP extended-report certificate table.
 * On success every entry must point inside the buffer, past the entry
 * array, and carry a kind that matches its GUID class.
 */
#include <stdlib.h>
#include <string.h>

#include "veritee/snp.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	size_t n = 0;
	struct vt_err err = {0};
	vt_status rc = vt_snp_cert_table_parse(data, size, e, &n, &err);
	if (rc != VT_OK) {
		if ((rc != VT_E_PARSE && rc != VT_E_LIMIT) || err.code != rc || n != 0)
			abort();
		return 0;
	}
	if (n > VT_SNP_CERT_TABLE_MAX)
		abort();
	size_t header_end = (n + 1) * 24;
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i].offset < header_end || e[i].offset > size || e[i].length > size - e[i].offset)
			abort();
		if (e[i].kind > VT_SNP_CERT_CRL)
			abort();
		/* Touch the data so ASan checks the bounds. */
		for (size_t k = 0; k < e[i].length; k++)
			sum ^= data[e[i].offset + k];
	}
	(void)sum;
	return 0;
}
