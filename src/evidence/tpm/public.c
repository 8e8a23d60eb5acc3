/*
 * The public key of a TPMT_PUBLIC (TPM 2.0 Part 2 §12.2.4) as an OpenSSL 3
 * key.  One conversion for every caller: AK enrollment (enroll.c), the GCE
 * vTPM verifier and the TPM attester, which encodes the result as the AK's
 * DER SubjectPublicKeyInfo.  The verifier hashes that DER for the
 * `ak_digest` claim, so both sides must build the key the same way.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <tss2/tss2_tpm2_types.h>

#include "veritee/tpm.h"

#define ECC_COORD_MAX 48u /* P-384 */

vt_status vt_tpm_public_to_pkey(const TPMT_PUBLIC *pub, const char *field, EVP_PKEY **out, struct vt_err *err)
{
	vt_status rc;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	const char *type;
	uint8_t point[1 + 2 * ECC_COORD_MAX];

	if (out != NULL)
		*out = NULL;
	if (out == NULL || pub == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (field == NULL)
		field = "public";
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		goto crypto;
	if (pub->type == TPM2_ALG_ECC) {
		size_t w;
		const char *group;
		switch (pub->parameters.eccDetail.curveID) {
		case TPM2_ECC_NIST_P256: w = 32, group = "P-256"; break;
		case TPM2_ECC_NIST_P384: w = 48, group = "P-384"; break;
		default:
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field, "ECC curve 0x%04x is not P-256 or P-384",
				     (unsigned)pub->parameters.eccDetail.curveID);
			goto out;
		}
		/* Uncompressed point 04 || x || y, each coordinate left-padded to
		 * the field size (a TPM drops leading zero bytes). */
		const TPM2B_ECC_PARAMETER *x = &pub->unique.ecc.x, *y = &pub->unique.ecc.y;
		if (x->size == 0 || y->size == 0 || x->size > w || y->size > w) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				     "ECC point coordinates of %u and %u bytes (1..%zu each)", (unsigned)x->size,
				     (unsigned)y->size, w);
			goto out;
		}
		memset(point, 0, sizeof(point));
		point[0] = 0x04;
		memcpy(point + 1 + (w - x->size), x->buffer, x->size);
		memcpy(point + 1 + w + (w - y->size), y->buffer, y->size);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * w) != 1)
			goto crypto;
		type = "EC";
	} else if (pub->type == TPM2_ALG_RSA) {
		unsigned bits = pub->parameters.rsaDetail.keyBits;
		if (bits < 2048 || bits > 4096 || bits % 8 != 0 || pub->unique.rsa.size != bits / 8) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field, "RSA key of %u bits with a %u-byte modulus",
				     bits, (unsigned)pub->unique.rsa.size);
			goto out;
		}
		/* exponent 0 means the default, 2^16 + 1 (Part 2 §12.2.3.5). */
		uint32_t exp = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537u;
		n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
		e = BN_new();
		if (n == NULL || e == NULL || BN_set_word(e, exp) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
			goto crypto;
		type = "RSA";
	} else {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field, "key type 0x%04x is not RSA or ECC",
			     (unsigned)pub->type);
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1)
		goto crypto;
	if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1 || *out == NULL) {
		ERR_clear_error();
		EVP_PKEY_free(*out);
		*out = NULL;
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field, "the public key is not a valid %s key", type);
		goto out;
	}
	rc = VT_OK;
	goto out;
crypto:
	ERR_clear_error();
	rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, field, "cannot build the public key with OpenSSL");
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}
