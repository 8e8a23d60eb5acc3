/* Private to the JOSE files (jwk.c, jws.c, jwe.c, jose_common.c). */
#ifndef VT_CRYPTO_JOSE_INTERNAL_H
#define VT_CRYPTO_JOSE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"


#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define JWE_ALG_ECDH "ECDH-ES+A256KW"
#define JWE_ALG_RSA "RSA-OAEP-256"
#define JWE_ENC "A256GCM"
#define CEK_LEN 32
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define KW_LEN (CEK_LEN + 8)
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define JOSE_HEADER_MAX (256 * 1024)
#define JWE_GENERIC "JWE decryption failed"

struct vt_jose_curve {
	const char *crv;   /* JOSE name */
	const char *group; /* OpenSSL group name */
	size_t size;       /* coordinate / scalar size in bytes */
};
extern const struct vt_jose_curve vt_jose_curves[3];
#define VT_JOSE_NCURVES 3

const struct vt_jose_curve *vt_jose_curve_by_crv(const char *crv);
const struct vt_jose_curve *vt_jose_curve_of_key(const EVP_PKEY *key);
vt_status vt_jose_nomem(struct vt_err *err);
vt_status vt_jose_forward_err(struct vt_err *err, const struct vt_err *inner);
const char *vt_jose_str_member(const json_t *obj, const char *key);
vt_status vt_jose_jwk_bytes(const json_t *jwk, const char *key, size_t want, uint8_t **out, size_t *out_len,
			    struct vt_err *err);
void vt_jose_free_wipe(uint8_t *p, size_t n);
/* obj[key] = b64url(bytes) (the encoded text wiped after); false on OOM. */
bool vt_jose_set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n);
vt_status vt_jose_key_fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection, EVP_PKEY **out,
			       const char *field, struct vt_err *err);

#endif
