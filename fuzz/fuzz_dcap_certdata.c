/*
 * libFuzzer target: DCAP certification data.  The first byte chooses:
 *   even: the rest is a PEM chain (type-5 certification data); every
 *         certificate in it goes through vt_pck_ext_parse;
 *   odd:  the rest is the DER value of the PCK SGX extension
 *         (vt_pck_ext_parse_der).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "veritee/dcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	struct vt_pck_ext e;
	struct vt_err err = {0};
	if (mode & 1) {
		uint8_t *buf = malloc(size ? size : 1);
		if (buf == NULL)
			return 0;
		if (size)
			memcpy(buf, data, size);
		if (vt_pck_ext_parse_der(buf, size, &e, &err) == VT_OK && e.sgx_type > 2)
			abort();
		free(buf);
		return 0;
	}
	if (size > 65536)
		return 0;
	BIO *b = BIO_new_mem_buf(data, (int)size);
	if (b == NULL)
		return 0;
	X509 *x;
	int n = 0;
	while (n < 8 && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		vt_err_clear(&err);
		(void)vt_pck_ext_parse(x, &e, &err);
		X509_free(x);
		n++;
	}
	BIO_free(b);
	ERR_clear_error();
	return 0;
}
