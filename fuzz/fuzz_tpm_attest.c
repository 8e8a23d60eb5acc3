/*
 * libFuzzer target for TPM quotes: the input is `u16 BE n` || n bytes of
 * TPMS_ATTEST || TPMT_SIGNATURE.  The attest is parsed on its own and the
 * whole quote is verified with fixed P-256 and RSA-2048 AKs (made once) and
 * PCR values taken from the input, so the unmarshalling, signature and
 * PCR-digest paths all run.  The whole input is also parsed as an attest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/crypto.h"
#include "veritee/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ec_key, *rsa_key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_tpm_quote q;
	struct vt_err err;

	if (ec_key == NULL) {
		setenv("TSS2_LOG", "all+none", 0);
		if (vt_key_generate(VT_KEY_P256, &ec_key, NULL) != VT_OK ||
		    vt_key_generate(VT_KEY_RSA2048, &rsa_key, NULL) != VT_OK)
			abort();
	}
	(void)!vt_tpm_attest_parse(data, size, &q, &err);
	if (size < 2)
		return 0;
	size_t n = ((size_t)data[0] << 8) | data[1];
	if (n > size - 2)
		n = size - 2;
	const uint8_t *attest = data + 2, *sig = data + 2 + n;
	size_t sig_size = size - 2 - n;

	(void)!vt_tpm_attest_parse(attest, n, &q, &err);
	uint16_t hash;
	(void)!vt_tpm_signature_verify(ec_key, attest, n, sig, sig_size, &hash, &err);
	(void)!vt_tpm_signature_verify(rsa_key, attest, n, sig, sig_size, NULL, NULL);

	static struct vt_tpm_pcrs pcrs;
	memset(&pcrs, 0, sizeof(pcrs));
	pcrs.hash_alg = VT_TPM_ALG_SHA256;
	pcrs.digest_size = 32;
	pcrs.present = 0xFFFFFF;
	for (size_t i = 0; i < size && i < sizeof(pcrs.value); i++)
		((uint8_t *)pcrs.value)[i] = data[size - 1 - i];
	(void)!vt_tpm_quote_verify(ec_key, attest, n, sig, sig_size, &pcrs, attest, n < 32 ? n : 32, &q, &err);
	(void)!vt_tpm_quote_verify(rsa_key, attest, n, sig, sig_size, &pcrs, NULL, 0, NULL, NULL);
	return 0;
}
