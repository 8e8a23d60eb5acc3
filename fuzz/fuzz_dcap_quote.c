/*
 * libFuzzer target: Intel DCAP quote parser (v3 / v4 / v5).  On success every
 * view the parser returned is read end to end so ASan checks its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/dcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t g_sink;

static void touch(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc ^= p[i];
	g_sink ^= acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy so reads past the end are caught */
	uint8_t *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	if (size)
		memcpy(buf, data, size);
	struct vt_dcap_quote q;
	struct vt_err err = {0};
	if (vt_dcap_quote_parse(buf, size, &q, &err) == VT_OK) {
		if (q.quote_size > size || q.signed_size > q.quote_size)
			abort();
		if (q.version < 3 || q.version > 5 || q.att_key_type != 2 || q.cert_data_type < 1 ||
		    q.cert_data_type > 5)
			abort();
		touch(q.signed_region, q.signed_size);
		touch(q.qe_auth_data, q.qe_auth_data_size);
		touch(q.cert_data, q.cert_data_size);
	} else if (err.code == VT_OK) {
		abort(); /* a failure must say why */
	}
	free(buf);
	return 0;
}
