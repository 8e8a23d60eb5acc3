/*
 * AK enrollment, verifier side (tpm-quote.md §5): the EK certificate chain
 * to configured roots, the AK's public area (attributes, Name, key), and
 * TPM2_MakeCredential computed in software with OpenSSL 3:
 *
 *   seed          RSA EK: random, RSA-OAEP(SHA-256, label "IDENTITY\0");
 *                 ECC EK: ephemeral ECDH on the EK curve, seed = KDFe (SSKDF)
 *   symKey        KDFa(SHA-256, seed, "STORAGE", AK Name)   (KBKDF counter/HMAC)
 *   encIdentity   AES-128-CFB, IV 0, over the credential as a TPM2B_DIGEST
 *   hmacKey       KDFa(SHA-256, seed, "INTEGRITY")
 *   outerHMAC     HMAC-SHA256(hmacKey, encIdentity || AK Name)
 *
 * Every TPM structure is (un)marshalled with libtss2-mu.  OpenSSL's KBKDF in
 * counter mode with the defaults (32-bit big-endian counter, 0x00 separator
 * after the label, 32-bit big-endian L in bits after the context) is exactly
 * the TPM's KDFa; its SSKDF with a digest is the TPM's KDFe.  Both are
 * checked end to end against a software TPM (tests/unit/test_tpm_enroll.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tpm2_types.h>

#include "crypto/x509_roots.h"
#include "veritee/crypto.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

#define DIGEST_SIZE 32 /* SHA-256, the nameAlg of the default EK templates */
#define AES_KEY_SIZE 16

/* ------------------------------------------------------------ EK certificate */

/* Critical extensions of the TCG EK Credential Profile that OpenSSL 3.0 does
 * not process itself.  subjectDirectoryAttributes (2.5.29.9) carries the TPM
 * specification version / security assertions; some manufacturers mark it
 * critical.  subjectAltName (2.5.29.17, a directoryName with the TPM
 * manufacturer, model and version) is critical whenever the subject is
 * empty; OpenSSL handles it, it is listed for readers of this table.  Any
 * other unhandled critical extension still fails the chain. */
static const char *const ek_critical_ok[] = {"2.5.29.9", "2.5.29.17"};

static bool ek_extension_allowed(const ASN1_OBJECT *obj)
{
	char oid[80];
	if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0)
		return false;
	for (size_t i = 0; i < sizeof(ek_critical_ok) / sizeof(ek_critical_ok[0]); i++)
		if (strcmp(oid, ek_critical_ok[i]) == 0)
			return true;
	return false;
}

/* Verify callback: accept X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION on the EK
 * certificate (depth 0) only when each unhandled critical extension is one
 * of the EK profile's.  Every other verdict is OpenSSL's. */
static int ek_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (ok || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION ||
	    X509_STORE_CTX_get_error_depth(ctx) != 0)
		return ok;
	X509 *c = X509_STORE_CTX_get_current_cert(ctx);
	if (c == NULL)
		return 0;
	for (int i = 0; i < X509_get_ext_count(c); i++) {
		X509_EXTENSION *ext = X509_get_ext(c, i);
		if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext))
			continue;
		if (!ek_extension_allowed(X509_EXTENSION_get_object(ext)))
			return 0;
	}
	X509_STORE_CTX_set_error(ctx, X509_V_OK);
	return 1;
}

vt_status vt_tpm_ek_verify(const uint8_t *ek_cert_der, size_t size, const char *roots_path, int64_t now,
			   EVP_PKEY **ek_pub_out, struct vt_err *err)
{
	vt_status rc;
	X509 *leaf = NULL;
	struct vt_x509_roots *roots = NULL;
	if (ek_pub_out)
		*ek_pub_out = NULL;
	if (roots_path == NULL || *roots_path == '\0')
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tpm_ek_roots",
			       "no EK root certificates configured: EK certificates cannot be checked");
	if (ek_cert_der == NULL || size == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ek_cert", "no EK certificate");
	const unsigned char *p = ek_cert_der;
	leaf = d2i_X509(NULL, &p, (long)size);
	if (leaf == NULL || p != ek_cert_der + size) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ek_cert", "the EK certificate is not one DER X.509 certificate");
		goto out;
	}
	VT_GUARD(vt_x509_roots_load(roots_path, "tpm_ek_roots", &roots, err));
	if (vt_x509_roots_anchors(roots) == 0) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tpm_ek_roots",
			     "EK roots %.300s hold no self-signed (root) CA certificate", roots_path);
		goto out;
	}
	VT_GUARD(vt_x509_roots_verify(roots, leaf, NULL, now, 8, ek_verify_cb, "ek_cert", "the EK certificate",
				      "the configured EK roots", err));
	if (X509_check_ca(leaf) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "ek_cert", "the EK certificate is a CA certificate");
		goto out;
	}
	EVP_PKEY *k = X509_get_pubkey(leaf);
	if (k == NULL) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ek_cert", "the EK certificate's public key is unreadable");
		goto out;
	}
	if (ek_pub_out)
		*ek_pub_out = k;
	else
		EVP_PKEY_free(k);
	rc = VT_OK;
out:
	vt_x509_roots_free(roots);
	X509_free(leaf);
	return rc;
}

/* ------------------------------------------------------------ public areas */

static vt_status unmarshal_public(const uint8_t *buf, size_t size, const char *field, TPMT_PUBLIC *pub,
				  struct vt_err *err)
{
	size_t off = 0;
	memset(pub, 0, sizeof(*pub));
	if (buf == NULL || size == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "empty TPMT_PUBLIC");
	TSS2_RC r = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, size, &off, pub);
	if (r != TSS2_RC_SUCCESS)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a TPMT_PUBLIC: %s", Tss2_RC_Decode(r));
	if (off != size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu bytes after the TPMT_PUBLIC", size - off);
	return VT_OK;
}

/* Name = nameAlg (u16, big-endian) || H_nameAlg(marshalled TPMT_PUBLIC). */
static vt_status public_name(const TPMT_PUBLIC *a, const char *field, uint8_t *name, size_t cap, size_t *name_size,
			     struct vt_err *err)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t len = 0, off = 0;
	const EVP_MD *md = vt_tpm_alg_md(a->nameAlg);
	if (md == NULL || a->nameAlg == TPM2_ALG_SHA1)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field, "nameAlg 0x%04x is not SHA-256/384/512",
			       (unsigned)a->nameAlg);
	if ((size_t)EVP_MD_get_size(md) + 2 > cap)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, field, "name buffer of %zu bytes is too small", cap);
	TSS2_RC r = Tss2_MU_TPMT_PUBLIC_Marshal(a, buf, sizeof(buf), &len);
	if (r == TSS2_RC_SUCCESS)
		r = Tss2_MU_UINT16_Marshal(a->nameAlg, name, cap, &off);
	if (r != TSS2_RC_SUCCESS)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_PARSE, field, "cannot marshal: %s", Tss2_RC_Decode(r));
	size_t dlen = 0;
	uint8_t d[EVP_MAX_MD_SIZE];
	vt_status rc = vt_digest(md, buf, len, d, &dlen, err);
	if (rc != VT_OK)
		return rc;
	memcpy(name + off, d, dlen);
	*name_size = off + dlen;
	return VT_OK;
}

#define AK_REQUIRED                                                                                            \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED | \
	 TPMA_OBJECT_SIGN_ENCRYPT)

vt_status vt_tpm_ak_check(const uint8_t *ak_tpmt_public, size_t size, uint8_t name_out[VT_TPM_NAME_MAX],
			  size_t *name_size, EVP_PKEY **ak_out, struct vt_err *err)
{
	TPMT_PUBLIC a;
	if (ak_out)
		*ak_out = NULL;
	vt_status rc = unmarshal_public(ak_tpmt_public, size, "ak_public", &a, err);
	if (rc != VT_OK)
		return rc;
	TPMA_OBJECT attrs = a.objectAttributes;
	if ((attrs & AK_REQUIRED) != AK_REQUIRED || (attrs & TPMA_OBJECT_DECRYPT)) {
		static const struct {
			TPMA_OBJECT bit;
			const char *name;
		} need[] = {{TPMA_OBJECT_FIXEDTPM, "fixedTPM"},
			    {TPMA_OBJECT_FIXEDPARENT, "fixedParent"},
			    {TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin"},
			    {TPMA_OBJECT_RESTRICTED, "restricted"},
			    {TPMA_OBJECT_SIGN_ENCRYPT, "sign"}};
		char what[160] = "";
		size_t used = 0;
		for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
			if (!(attrs & need[i].bit) && used < sizeof(what))
				used += (size_t)snprintf(what + used, sizeof(what) - used, " without %s", need[i].name);
		if ((attrs & TPMA_OBJECT_DECRYPT) && used < sizeof(what))
			snprintf(what + used, sizeof(what) - used, " with decrypt");
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "ak_public",
			       "not an attestation key (attributes 0x%08x:%s); an AK must be fixedTPM, fixedParent, "
			       "sensitiveDataOrigin, restricted, sign and not decrypt",
			       (unsigned)attrs, what);
	}
	rc = public_name(&a, "ak_public", name_out, VT_TPM_NAME_MAX, name_size, err);
	if (rc != VT_OK)
		return rc;
	EVP_PKEY *k = NULL;
	rc = vt_tpm_public_to_pkey(&a, "ak_public", &k, err);
	if (rc != VT_OK)
		return rc;
	if (ak_out)
		*ak_out = k;
	else
		EVP_PKEY_free(k);
	return VT_OK;
}

vt_status vt_tpm_ek_public_match(const uint8_t *ek_tpmt_public, size_t size, EVP_PKEY *ek_cert_key,
				 struct vt_err *err)
{
	TPMT_PUBLIC a;
	EVP_PKEY *k = NULL;
	vt_status rc = unmarshal_public(ek_tpmt_public, size, "ek_public", &a, err);
	if (rc != VT_OK)
		return rc;
	const TPMA_OBJECT want = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
				 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	const TPMT_SYM_DEF_OBJECT *sym = a.type == TPM2_ALG_RSA ? &a.parameters.rsaDetail.symmetric :
				       a.type == TPM2_ALG_ECC ? &a.parameters.eccDetail.symmetric : NULL;
	if ((a.objectAttributes & want) != want || (a.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ||
	    a.nameAlg != TPM2_ALG_SHA256 || sym == NULL || sym->algorithm != TPM2_ALG_AES || sym->keyBits.aes != 128 ||
	    sym->mode.aes != TPM2_ALG_CFB)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "ek_public",
			       "not an EK of a TCG default low-range template (restricted decryption key, nameAlg "
			       "SHA-256, AES-128-CFB): type 0x%04x, nameAlg 0x%04x, attributes 0x%08x",
			       (unsigned)a.type, (unsigned)a.nameAlg, (unsigned)a.objectAttributes);
	rc = vt_tpm_public_to_pkey(&a, "ek_public", &k, err);
	if (rc != VT_OK)
		return rc;
	int eq = EVP_PKEY_eq(k, ek_cert_key);
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (eq != 1)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "ek_public",
			       "the EK public area is not the key of the EK certificate");
	return VT_OK;
}

/* ------------------------------------------------------------ MakeCredential */

/* KDFa (TPM 2.0 Part 1 §11.4.10.2) = SP 800-108 counter mode with
 * HMAC-SHA256, label = `label` followed by 0x00, context = ctx_u. */
static vt_status kdfa(const uint8_t *key, size_t key_len, const char *label, const uint8_t *ctx_u, size_t ctx_len,
		      uint8_t *out, size_t out_len, struct vt_err *err)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[7];
	size_t i = 0;
	p[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *)"COUNTER", 0);
	p[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *)"HMAC", 0);
	p[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	p[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label));
	if (ctx_len)
		p[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx_u, ctx_len);
	p[i] = OSSL_PARAM_construct_end();
	int ok = kctx != NULL && EVP_KDF_derive(kctx, out, out_len, p) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (!ok) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "kdfa", "KBKDF (KDFa, %s) failed", label);
	}
	return VT_OK;
}

/* KDFe (TPM 2.0 Part 1 §11.4.10.3) = SP 800-56C one-step KDF with SHA-256
 * over Z and FixedInfo = "IDENTITY\0" || PartyUInfo || PartyVInfo. */
static vt_status kdfe(const uint8_t *z, size_t z_len, const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
		      uint8_t *out, size_t out_len, struct vt_err *err)
{
	static const char use[] = "IDENTITY"; /* sizeof includes the NUL */
	uint8_t info[sizeof(use) + 2 * 66];
	if (u_len > 66 || v_len > 66)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "kdfe", "coordinate too large");
	memcpy(info, use, sizeof(use));
	memcpy(info + sizeof(use), u, u_len);
	memcpy(info + sizeof(use) + u_len, v, v_len);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[4];
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(use) + u_len + v_len);
	p[3] = OSSL_PARAM_construct_end();
	int ok = kctx != NULL && EVP_KDF_derive(kctx, out, out_len, p) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (!ok) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "kdfe", "SSKDF (KDFe) failed");
	}
	return VT_OK;
}

/* RSA EK: a random seed, RSA-OAEP(SHA-256, MGF1-SHA-256, label "IDENTITY\0"). */
static vt_status seed_rsa(EVP_PKEY *ek, uint8_t seed[DIGEST_SIZE], TPM2B_ENCRYPTED_SECRET *es, struct vt_err *err)
{
	static const char label[] = "IDENTITY";
	vt_status rc = vt_random(seed, DIGEST_SIZE, err);
	if (rc != VT_OK)
		return rc;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	unsigned char *lab = OPENSSL_memdup(label, sizeof(label));
	size_t outlen = sizeof(es->secret);
	int ok = ctx != NULL && lab != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", NULL) == 1 &&
		 EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA256", NULL) == 1 &&
		 EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab, (int)sizeof(label)) == 1;
	if (ok)
		lab = NULL; /* owned by ctx now */
	ok = ok && EVP_PKEY_encrypt(ctx, es->secret, &outlen, seed, DIGEST_SIZE) == 1;
	OPENSSL_free(lab);
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ek_public", "RSA-OAEP encryption to the EK failed");
	}
	es->size = (UINT16)outlen;
	return VT_OK;
}

static vt_status ec_coords(EVP_PKEY *k, uint8_t x[32], uint8_t y[32], struct vt_err *err)
{
	BIGNUM *bx = NULL, *by = NULL;
	int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
		 EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 && BN_bn2binpad(bx, x, 32) == 32 &&
		 BN_bn2binpad(by, y, 32) == 32;
	BN_free(bx);
	BN_free(by);
	if (!ok) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ek_public", "cannot read EC public coordinates");
	}
	return VT_OK;
}

/* ECC EK (P-256): ephemeral ECDH; seed = KDFe(Z, "IDENTITY", eph.x, EK.x);
 * the encrypted secret is the ephemeral point as a TPMS_ECC_POINT. */
static vt_status seed_ecc(EVP_PKEY *ek, uint8_t seed[DIGEST_SIZE], TPM2B_ENCRYPTED_SECRET *es, struct vt_err *err)
{
	vt_status rc;
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY_CTX *dctx = NULL;
	uint8_t z[32], ekx[32], eky[32];
	size_t zlen = sizeof(z);
	TPMS_ECC_POINT pt;
	memset(&pt, 0, sizeof(pt));
	if (eph == NULL)
		goto crypto;
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	if (dctx == NULL || EVP_PKEY_derive_init(dctx) != 1 || EVP_PKEY_derive_set_peer(dctx, ek) != 1 ||
	    EVP_PKEY_derive(dctx, z, &zlen) != 1 || zlen != sizeof(z))
		goto crypto;
	VT_GUARD(ec_coords(ek, ekx, eky, err));
	VT_GUARD(ec_coords(eph, pt.x.buffer, pt.y.buffer, err));
	pt.x.size = pt.y.size = 32;
	VT_GUARD(kdfe(z, sizeof(z), pt.x.buffer, 32, ekx, 32, seed, DIGEST_SIZE, err));
	size_t off = 0;
	TSS2_RC r = Tss2_MU_TPMS_ECC_POINT_Marshal(&pt, es->secret, sizeof(es->secret), &off);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "encrypted_secret", "cannot marshal TPMS_ECC_POINT: %s",
			     Tss2_RC_Decode(r));
		goto out;
	}
	es->size = (UINT16)off;
	rc = VT_OK;
	goto out;
crypto:
	ERR_clear_error();
	rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ek_public", "ECDH with the EK failed");
out:
	vt_wipe(z, sizeof(z));
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(eph);
	return rc;
}

static vt_status aes128_cfb(const uint8_t key[AES_KEY_SIZE], const uint8_t *in, size_t n, uint8_t *out,
			    struct vt_err *err)
{
	static const uint8_t iv[16] = {0};
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-128-CFB", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	int ok = c != NULL && ctx != NULL && EVP_EncryptInit_ex2(ctx, c, key, iv, NULL) == 1 &&
		 EVP_EncryptUpdate(ctx, out, &l1, in, (int)n) == 1 && EVP_EncryptFinal_ex(ctx, out + l1, &l2) == 1 &&
		 (size_t)(l1 + l2) == n;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	if (!ok) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "credential_blob", "AES-128-CFB encryption failed");
	}
	return VT_OK;
}

static vt_status marshal_out(const void *obj, bool id_object, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	size_t cap = id_object ? sizeof(TPM2B_ID_OBJECT) : sizeof(TPM2B_ENCRYPTED_SECRET), off = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CRYPTO, "", "out of memory");
	TSS2_RC r = id_object ? Tss2_MU_TPM2B_ID_OBJECT_Marshal(obj, buf, cap, &off)
			      : Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(obj, buf, cap, &off);
	if (r != TSS2_RC_SUCCESS) {
		free(buf);
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, id_object ? "credential_blob" : "encrypted_secret",
			       "cannot marshal: %s", Tss2_RC_Decode(r));
	}
	*out = buf;
	*out_size = off;
	return VT_OK;
}

vt_status vt_tpm_make_credential(EVP_PKEY *ek_pub, const uint8_t *ak_name, size_t name_size, const uint8_t *secret,
				 size_t secret_size, uint8_t **cred_blob, size_t *cb_size, uint8_t **enc_secret,
				 size_t *es_size, struct vt_err *err)
{
	vt_status rc;
	uint8_t seed[DIGEST_SIZE], sym_key[AES_KEY_SIZE], hmac_key[DIGEST_SIZE];
	uint8_t plain[2 + DIGEST_SIZE], enc[2 + DIGEST_SIZE], mac_in[sizeof(enc) + VT_TPM_NAME_MAX];
	TPM2B_ENCRYPTED_SECRET es;
	TPM2B_ID_OBJECT id;
	TPM2B_DIGEST cred, outer;
	size_t plain_len = 0, mac_len = 0, off = 0;
	memset(&es, 0, sizeof(es));
	memset(&id, 0, sizeof(id));
	memset(&cred, 0, sizeof(cred));
	memset(&outer, 0, sizeof(outer));
	*cred_blob = *enc_secret = NULL;
	*cb_size = *es_size = 0;

	if (ek_pub == NULL || ak_name == NULL || secret == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (secret_size == 0 || secret_size > DIGEST_SIZE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "secret", "credential of %zu bytes: want 1..%d", secret_size,
			       DIGEST_SIZE);
	if (name_size != 2 + DIGEST_SIZE || ak_name[0] != 0x00 || ak_name[1] != (uint8_t)TPM2_ALG_SHA256)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "ak_name", "AK name must be a SHA-256 name (34 bytes)");

	int type = EVP_PKEY_get_base_id(ek_pub);
	if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(ek_pub) == 2048)
		VT_GUARD(seed_rsa(ek_pub, seed, &es, err));
	else if (type == EVP_PKEY_EC && vt_ec_coord_size(ek_pub) == 32)
		VT_GUARD(seed_ecc(ek_pub, seed, &es, err));
	else
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "ek_cert",
			       "EK key is %s of %d bits: credentials are made for RSA-2048 and ECC P-256 EKs",
			       type == EVP_PKEY_RSA ? "RSA" : type == EVP_PKEY_EC ? "EC" : "another type",
			       EVP_PKEY_get_bits(ek_pub));

	VT_GUARD(kdfa(seed, sizeof(seed), "STORAGE", ak_name, name_size, sym_key, sizeof(sym_key), err));
	VT_GUARD(kdfa(seed, sizeof(seed), "INTEGRITY", NULL, 0, hmac_key, sizeof(hmac_key), err));

	cred.size = (UINT16)secret_size;
	memcpy(cred.buffer, secret, secret_size);
	TSS2_RC r = Tss2_MU_TPM2B_DIGEST_Marshal(&cred, plain, sizeof(plain), &plain_len);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "credential", "cannot marshal: %s", Tss2_RC_Decode(r));
		goto out;
	}
	VT_GUARD(aes128_cfb(sym_key, plain, plain_len, enc, err));

	memcpy(mac_in, enc, plain_len);
	memcpy(mac_in + plain_len, ak_name, name_size);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, sizeof(hmac_key), mac_in, plain_len + name_size,
		      outer.buffer, sizeof(outer.buffer), &mac_len) == NULL ||
	    mac_len != DIGEST_SIZE) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "credential_blob", "HMAC-SHA256 failed");
		goto out;
	}
	outer.size = (UINT16)mac_len;

	/* TPM2B_ID_OBJECT.credential = TPM2B_DIGEST(outerHMAC) || encIdentity */
	r = Tss2_MU_TPM2B_DIGEST_Marshal(&outer, id.credential, sizeof(id.credential), &off);
	if (r != TSS2_RC_SUCCESS || sizeof(id.credential) - off < plain_len) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "credential_blob", "cannot marshal the outer HMAC");
		goto out;
	}
	memcpy(id.credential + off, enc, plain_len);
	id.size = (UINT16)(off + plain_len);

	VT_GUARD(marshal_out(&id, true, cred_blob, cb_size, err));
	rc = marshal_out(&es, false, enc_secret, es_size, err);
	if (rc != VT_OK) {
		free(*cred_blob);
		*cred_blob = NULL;
		*cb_size = 0;
	}
out:
	vt_wipe(seed, sizeof(seed));
	vt_wipe(sym_key, sizeof(sym_key));
	vt_wipe(hmac_key, sizeof(hmac_key));
	vt_wipe(plain, sizeof(plain));
	vt_wipe(&cred, sizeof(cred));
	return rc;
}
