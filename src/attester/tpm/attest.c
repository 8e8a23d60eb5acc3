/*
 * TPM 2.0 attester on tpm2-tss ESAPI: a quote over the 24 SHA-256 PCRs,
 * bound to the first 32 bytes of the report data, signed by an attestation
 * key (AK), in the `tpm` evidence shape Trustee's verifier takes
 * (shared/docs/kbs-protocol.md §5.2-5.3; structures: formats/tpm-quote.md).
 *
 * Key hierarchy.  The AK is created under the endorsement key (EK), i.e. in
 * the endorsement hierarchy, and not under an owner-hierarchy primary:
 *  - TCG's AK enrollment (TPM2_MakeCredential by a verifier that trusts the
 *    EK certificate, TPM2_ActivateCredential here) proves that an AK with a
 *    given Name lives in the same TPM as a certified EK, and is defined for
 *    keys whose parent is that EK (this is also what tpm2_createak does);
 *  - quotes by endorsement-hierarchy keys carry resetCount, restartCount and
 *    firmwareVersion in clear (keys outside the endorsement and platform
 *    hierarchies get them obfuscated, tpm-quote.md §2).
 * The EK is the TCG default low-range RSA-2048 template (tpm-quote.md §5.1),
 * used from its conventional persistent handle 0x81010001 when a
 * provisioning step put it there, else recreated (CreatePrimary is
 * deterministic for a template) as a transient object and flushed again.
 * Using the EK as a parent needs PolicySecret(TPM_RH_ENDORSEMENT).
 *
 * The AK is made persistent (EvictControl, owner authorization with the
 * empty auth) at a configurable handle, default 0x81010002, like Trustee's
 * attester: the verifier side can then enroll it once.  An object already at
 * that handle is used only if it is a restricted signing key of the
 * requested algorithm; anything else (an ECC EK, a storage key) is refused.
 *
 * Every transient handle (EK, AK before eviction, policy session) is flushed
 * and the ESAPI and TCTI contexts finalized on every path.  Nothing here is
 * secret: quotes, public keys, PCRs and event logs are public.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "attester/tpm/esys.h"
#include "attester/tpm/tpm_attester.h"
#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/crypto.h"
#include "veritee/util.h"
#include "veritee/tpm.h"

#define EK_RSA_PERSISTENT 0x81010001u
#define EK_CERT_NV_RSA 0x01C00002u
#define PERSISTENT_OWNER_FIRST 0x81000000u
#define PERSISTENT_OWNER_LAST 0x817FFFFFu

#define NUM_PCRS 24
#define PCR_SIZE 32          /* SHA-256 */
#define QUALIFYING_SIZE 32   /* Trustee: report data truncated to 32 bytes */
#define QUOTE_ATTEMPTS 3     /* quote + PCR read, again if a PCR moved in between */
#define NV_CHUNK 512         /* below every TPM's MAX_NV_BUFFER_SIZE */
#define EK_CERT_MAX ((size_t)16 * 1024)
#define EVENT_LOG_MAX ((size_t)16 * 1024 * 1024)

/* SHA-256(SHA-256(0^32 || TPM_CC_PolicySecret || TPM_RH_ENDORSEMENT)): the
 * default EK's authPolicy (tpm-quote.md §5.1). */
static const uint8_t EK_POLICY[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

#define AK_REQUIRED_ATTRS                                                                                  \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED | \
	 TPMA_OBJECT_SIGN_ENCRYPT)

struct tpm {
	const char *tcti_conf;
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR ek;          /* EK, transient (flush) or persistent (close) */
	bool ek_transient;
	ESYS_TR session;     /* policy session, flushed after use */
	ESYS_TR ak_transient;/* AK between Load and EvictControl */
	ESYS_TR ak;          /* persistent AK */
};

/* ------------------------------------------------------------ open / close */

static vt_status tpm_open(struct tpm *t, const char *conf, struct vt_err *err)
{
	t->tcti_conf = conf;
	return vt_tpm_esys_open(conf, &t->tcti, &t->esys, err);
}

static void flush(struct tpm *t, ESYS_TR *h)
{
	vt_tpm_flush(t->esys, h);
}

static void tpm_close(struct tpm *t)
{
	if (t->esys) {
		flush(t, &t->session);
		flush(t, &t->ak_transient);
		if (t->ek_transient)
			flush(t, &t->ek);
		else if (t->ek != ESYS_TR_NONE)
			(void)Esys_TR_Close(t->esys, &t->ek);
		if (t->ak != ESYS_TR_NONE)
			(void)Esys_TR_Close(t->esys, &t->ak);
	}
	vt_tpm_esys_close(&t->tcti, &t->esys);
}

/* Is there an object or NV index at `handle`?  Asked with
 * TPM2_GetCapability so that an absent handle is not an error (and
 * tpm2-tss logs nothing). */
static vt_status handle_exists(struct tpm *t, TPM2_HANDLE handle, bool *exists, struct vt_err *err)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = TPM2_NO;
	*exists = false;
	TSS2_RC r = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, handle, 1,
				       &more, &cap);
	if (r != TSS2_RC_SUCCESS)
		return vt_tpm_tss_fail(t->tcti_conf, err, "listing TPM handles (TPM2_GetCapability)", r);
	*exists = cap->capability == TPM2_CAP_HANDLES && cap->data.handles.count >= 1 &&
		  cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return VT_OK;
}

/* ------------------------------------------------------------ EK */

static void ek_template(TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	TPMT_PUBLIC *a = &p->publicArea;
	a->type = TPM2_ALG_RSA;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	a->authPolicy.size = sizeof(EK_POLICY);
	memcpy(a->authPolicy.buffer, EK_POLICY, sizeof(EK_POLICY));
	a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
	a->parameters.rsaDetail.symmetric.keyBits.aes = 128;
	a->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	a->parameters.rsaDetail.keyBits = 2048;
	a->parameters.rsaDetail.exponent = 0;
	a->unique.rsa.size = 256; /* zeros */
}

/* A persisted EK is used only if it is what the default template makes. */
static bool is_default_ek(const TPMT_PUBLIC *a)
{
	TPM2B_PUBLIC want;
	ek_template(&want);
	const TPMT_PUBLIC *w = &want.publicArea;
	return a->type == w->type && a->nameAlg == w->nameAlg && a->objectAttributes == w->objectAttributes &&
	       a->authPolicy.size == w->authPolicy.size &&
	       memcmp(a->authPolicy.buffer, w->authPolicy.buffer, w->authPolicy.size) == 0 &&
	       a->parameters.rsaDetail.keyBits == 2048 && a->parameters.rsaDetail.symmetric.algorithm == TPM2_ALG_AES;
}

static vt_status load_ek(struct tpm *t, struct vt_err *err)
{
	ESYS_TR h = ESYS_TR_NONE;
	bool exists;
	vt_status rc = handle_exists(t, EK_RSA_PERSISTENT, &exists, err);
	if (rc != VT_OK)
		return rc;
	TSS2_RC r = exists ? Esys_TR_FromTPMPublic(t->esys, EK_RSA_PERSISTENT, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						   &h) :
			     TPM2_RC_HANDLE;
	if (r == TSS2_RC_SUCCESS) {
		TPM2B_PUBLIC *pub = NULL;
		r = Esys_ReadPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
		bool ok = r == TSS2_RC_SUCCESS && is_default_ek(&pub->publicArea);
		Esys_Free(pub);
		if (ok) {
			t->ek = h;
			t->ek_transient = false;
			return VT_OK;
		}
		(void)Esys_TR_Close(t->esys, &h);
	} else if (vt_tpm_rc_is_tcti(r)) {
		return vt_tpm_tss_fail(t->tcti_conf, err, "reading the persistent EK handle", r);
	}

	TPM2B_PUBLIC tmpl;
	ek_template(&tmpl);
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION no_pcrs = {0};
	r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
			       &tmpl, &outside, &no_pcrs, &t->ek, NULL, NULL, NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		t->ek = ESYS_TR_NONE;
		return vt_tpm_tss_fail(t->tcti_conf, err, "creating the endorsement key (TPM2_CreatePrimary, endorsement hierarchy)", r);
	}
	t->ek_transient = true;
	return VT_OK;
}

/* The RSA EK certificate from its NV index, if there is one (*present). */
static vt_status read_ek_cert(struct tpm *t, struct vt_buf *out, bool *present, struct vt_err *err)
{
	*present = false;
	ESYS_TR nv = ESYS_TR_NONE;
	TPM2B_NV_PUBLIC *pub = NULL;
	bool exists;
	vt_status rc = handle_exists(t, EK_CERT_NV_RSA, &exists, err);
	if (rc != VT_OK || !exists)
		return rc;
	TSS2_RC r = Esys_TR_FromTPMPublic(t->esys, EK_CERT_NV_RSA, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (r != TSS2_RC_SUCCESS)
		return vt_tpm_rc_is_tcti(r) ? vt_tpm_tss_fail(t->tcti_conf, err, "looking for the EK certificate", r) : VT_OK;
	r = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t->tcti_conf, err, "reading the EK certificate NV index (TPM2_NV_ReadPublic)", r);
		goto out;
	}
	size_t size = pub->nvPublic.dataSize;
	if (size == 0 || size > EK_CERT_MAX) {
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_IO, "ek_cert", "EK certificate NV index holds %zu bytes", size);
		goto out;
	}
	ESYS_TR auth = (pub->nvPublic.attributes & TPMA_NV_AUTHREAD) ? nv : ESYS_TR_RH_OWNER;
	for (size_t off = 0; off < size;) {
		UINT16 n = (UINT16)(size - off < NV_CHUNK ? size - off : NV_CHUNK);
		TPM2B_MAX_NV_BUFFER *data = NULL;
		r = Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, (UINT16)off, &data);
		if (r != TSS2_RC_SUCCESS) {
			rc = vt_tpm_tss_fail(t->tcti_conf, err, "reading the EK certificate (TPM2_NV_Read)", r);
			goto out;
		}
		if (data->size != n) {
			Esys_Free(data);
			rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "ek_cert", "TPM2_NV_Read returned %u bytes, asked %u",
				     (unsigned)data->size, (unsigned)n);
			goto out;
		}
		rc = vt_buf_append(out, data->buffer, n, err);
		Esys_Free(data);
		if (rc != VT_OK)
			goto out;
		off += n;
	}
	*present = true;
out:
	Esys_Free(pub);
	(void)Esys_TR_Close(t->esys, &nv);
	return rc;
}

/* ------------------------------------------------------------ AK */

static void ak_template(TPM2B_PUBLIC *p, bool rsa)
{
	memset(p, 0, sizeof(*p));
	TPMT_PUBLIC *a = &p->publicArea;
	a->nameAlg = TPM2_ALG_SHA256;
	/* userWithAuth with the empty auth: any local process may quote, as with
	 * tpm2_createak; the quote's value comes from `restricted`. */
	a->objectAttributes = AK_REQUIRED_ATTRS | TPMA_OBJECT_USERWITHAUTH;
	if (rsa) {
		a->type = TPM2_ALG_RSA;
		a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		a->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		a->parameters.rsaDetail.keyBits = 2048;
		a->parameters.rsaDetail.exponent = 0;
	} else {
		a->type = TPM2_ALG_ECC;
		a->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		a->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

static const char *describe_key(const TPMT_PUBLIC *a, char *buf, size_t n)
{
	const char *type = a->type == TPM2_ALG_RSA ? "an RSA" : a->type == TPM2_ALG_ECC ? "an ECC" : "a non-RSA/ECC";
	const char *use = (a->objectAttributes & TPMA_OBJECT_DECRYPT) ? "decryption" :
			  (a->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ? "signing" : "";
	snprintf(buf, n, "%s %s%s key (attributes 0x%08x)", type, (a->objectAttributes & TPMA_OBJECT_RESTRICTED) ?
		 "restricted " : "", use, (unsigned)a->objectAttributes);
	return buf;
}

/* What an existing persistent object must be to serve as our AK (tpm-quote.md §5.2). */
static vt_status check_ak(const TPMT_PUBLIC *a, bool rsa, uint32_t handle, struct vt_err *err)
{
	char what[128];
	bool ok = (a->objectAttributes & AK_REQUIRED_ATTRS) == AK_REQUIRED_ATTRS &&
		  !(a->objectAttributes & TPMA_OBJECT_DECRYPT);
	if (ok && rsa)
		ok = a->type == TPM2_ALG_RSA && a->parameters.rsaDetail.keyBits == 2048 &&
		     a->parameters.rsaDetail.scheme.scheme == TPM2_ALG_RSASSA &&
		     a->parameters.rsaDetail.scheme.details.rsassa.hashAlg == TPM2_ALG_SHA256;
	else if (ok)
		ok = a->type == TPM2_ALG_ECC && a->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 &&
		     a->parameters.eccDetail.scheme.scheme == TPM2_ALG_ECDSA &&
		     a->parameters.eccDetail.scheme.details.ecdsa.hashAlg == TPM2_ALG_SHA256;
	if (!ok)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ak_handle",
			       "persistent handle 0x%08x holds %s, not %s attestation key (restricted signing, %s); "
			       "choose another AK handle or evict that object",
			       (unsigned)handle, describe_key(a, what, sizeof(what)),
			       rsa ? "an RSA-2048" : "an ECC P-256", rsa ? "RSASSA-SHA256" : "ECDSA-SHA256");
	return VT_OK;
}

/* Open a policy session satisfying the EK's PolicySecret(TPM_RH_ENDORSEMENT). */
static vt_status ek_policy(struct tpm *t, struct vt_err *err)
{
	TSS2_RC r;
	if (t->session == ESYS_TR_NONE) {
		TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
		r = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &t->session);
		if (r != TSS2_RC_SUCCESS) {
			t->session = ESYS_TR_NONE;
			return vt_tpm_tss_fail(t->tcti_conf, err, "starting a policy session (TPM2_StartAuthSession)", r);
		}
	}
	r = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, t->session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			      ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
	if (r != TSS2_RC_SUCCESS)
		return vt_tpm_tss_fail(t->tcti_conf, err, "authorizing the EK (TPM2_PolicySecret, endorsement hierarchy)", r);
	return VT_OK;
}

static vt_status open_persistent_ak(struct tpm *t, uint32_t handle, bool rsa, bool *absent, TPM2B_PUBLIC **pub,
				    struct vt_err *err)
{
	*absent = false;
	bool exists;
	vt_status rc = handle_exists(t, handle, &exists, err);
	if (rc != VT_OK)
		return rc;
	if (!exists) {
		*absent = true;
		return VT_OK;
	}
	TSS2_RC r = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->ak);
	if (r != TSS2_RC_SUCCESS) {
		t->ak = ESYS_TR_NONE;
		if (vt_tpm_rc_code(r) == TPM2_RC_HANDLE) {
			*absent = true;
			return VT_OK;
		}
		return vt_tpm_tss_fail(t->tcti_conf, err, "reading the persistent AK handle", r);
	}
	r = Esys_ReadPublic(t->esys, t->ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, pub, NULL, NULL);
	if (r != TSS2_RC_SUCCESS)
		return vt_tpm_tss_fail(t->tcti_conf, err, "reading the AK public area (TPM2_ReadPublic)", r);
	return check_ak(&(*pub)->publicArea, rsa, handle, err);
}

static vt_status create_ak(struct tpm *t, uint32_t handle, bool rsa, struct vt_err *err)
{
	vt_status rc;
	TSS2_RC r;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_PUBLIC tmpl;
	ak_template(&tmpl, rsa);
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION no_pcrs = {0};

	VT_GUARD(load_ek(t, err));
	VT_GUARD(ek_policy(t, err));
	r = Esys_Create(t->esys, t->ek, t->session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &no_pcrs, &priv,
			&pub, NULL, NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t->tcti_conf, err, "creating the attestation key under the EK (TPM2_Create)", r);
		goto out;
	}
	/* A policy session is reset after each use: satisfy it again. */
	VT_GUARD(ek_policy(t, err));
	r = Esys_Load(t->esys, t->ek, t->session, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &t->ak_transient);
	if (r != TSS2_RC_SUCCESS) {
		t->ak_transient = ESYS_TR_NONE;
		rc = vt_tpm_tss_fail(t->tcti_conf, err, "loading the attestation key (TPM2_Load)", r);
		goto out;
	}
	flush(t, &t->session);
	r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, t->ak_transient, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			      handle, &t->ak);
	if (r != TSS2_RC_SUCCESS) {
		t->ak = ESYS_TR_NONE;
		if (vt_tpm_rc_code(r) == TPM2_RC_NV_DEFINED) {
			rc = VT_E_NOTFOUND; /* someone else persisted one meanwhile: caller reopens */
			goto out;
		}
		rc = vt_tpm_tss_fail(t->tcti_conf, err, "persisting the attestation key (TPM2_EvictControl, owner hierarchy)", r);
		goto out;
	}
	rc = VT_OK;
out:
	flush(t, &t->ak_transient);
	flush(t, &t->session);
	Esys_Free(priv);
	Esys_Free(pub);
	return rc;
}

static vt_status get_ak(struct tpm *t, uint32_t handle, bool rsa, TPM2B_PUBLIC **pub, struct vt_err *err)
{
	bool absent;
	vt_status rc = open_persistent_ak(t, handle, rsa, &absent, pub, err);
	if (rc != VT_OK || !absent)
		return rc;
	rc = create_ak(t, handle, rsa, err);
	if (rc != VT_OK && rc != VT_E_NOTFOUND)
		return rc;
	if (t->ak != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &t->ak);
	rc = open_persistent_ak(t, handle, rsa, &absent, pub, err);
	if (rc == VT_OK && absent)
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_IO, "ak_handle", "attestation key vanished from 0x%08x",
			     (unsigned)handle);
	return rc;
}

/* ------------------------------------------------------------ AK public key */

/* DER SubjectPublicKeyInfo of the AK, built from its TPMT_PUBLIC by the
 * verifier library's conversion, so the verifier's `ak_digest` agrees. */
static vt_status ak_spki(const TPMT_PUBLIC *a, uint8_t **der_out, size_t *der_len, struct vt_err *err)
{
	EVP_PKEY *pkey = NULL;
	unsigned char *der = NULL;
	vt_status rc = vt_tpm_public_to_pkey(a, "ak_public", &pkey, err);
	if (rc != VT_OK)
		return rc;
	int len = i2d_PUBKEY(pkey, &der);
	EVP_PKEY_free(pkey);
	if (len <= 0) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ak_public", "cannot encode the AK public key");
	}
	*der_out = der;
	*der_len = (size_t)len;
	return VT_OK;
}

/* ------------------------------------------------------------ quote and PCRs */

static void select_pcrs(TPML_PCR_SELECTION *sel, unsigned first_byte, unsigned nbytes)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = NUM_PCRS / 8;
	for (unsigned i = first_byte; i < first_byte + nbytes; i++)
		sel->pcrSelections[0].pcrSelect[i] = 0xFF;
}

/* The 24 SHA-256 PCRs, eight per TPM2_PCR_Read (a TPM returns at most 8
 * digests per call); a TPM may return fewer than asked: ask again for the rest. */
static vt_status read_pcrs(struct tpm *t, uint8_t pcrs[NUM_PCRS][PCR_SIZE], struct vt_err *err)
{
	for (unsigned chunk = 0; chunk < NUM_PCRS / 8; chunk++) {
		TPML_PCR_SELECTION want;
		select_pcrs(&want, chunk, 1);
		while (want.pcrSelections[0].pcrSelect[chunk] != 0) {
			TPML_PCR_SELECTION *got = NULL;
			TPML_DIGEST *vals = NULL;
			TSS2_RC r = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want, NULL, &got,
						  &vals);
			if (r != TSS2_RC_SUCCESS)
				return vt_tpm_tss_fail(t->tcti_conf, err, "reading PCRs (TPM2_PCR_Read)", r);
			vt_status rc = VT_OK;
			uint8_t bits = 0;
			if (got->count == 1 && got->pcrSelections[0].hash == TPM2_ALG_SHA256 &&
			    got->pcrSelections[0].sizeofSelect > chunk)
				bits = got->pcrSelections[0].pcrSelect[chunk] & want.pcrSelections[0].pcrSelect[chunk];
			unsigned k = 0;
			for (unsigned b = 0; b < 8 && rc == VT_OK; b++) {
				if (!(bits & (1u << b)))
					continue;
				if (k >= vals->count || vals->digests[k].size != PCR_SIZE)
					rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "pcrs", "TPM2_PCR_Read returned a short answer");
				else
					memcpy(pcrs[chunk * 8 + b], vals->digests[k].buffer, PCR_SIZE);
				k++;
			}
			Esys_Free(got);
			Esys_Free(vals);
			if (rc != VT_OK)
				return rc;
			if (bits == 0)
				return vt_fail(err, VT_E_IO, VT_STEP_IO, "pcrs",
					       "the TPM has no SHA-256 PCR bank with PCRs %u-%u allocated", chunk * 8,
					       chunk * 8 + 7);
			want.pcrSelections[0].pcrSelect[chunk] &= (uint8_t)~bits;
		}
	}
	return VT_OK;
}

/* Does the quote cover exactly SHA-256 PCRs 0-23 with this qualifying data,
 * and are the values read afterwards the ones quoted?  *stale: a PCR was
 * extended between TPM2_Quote and TPM2_PCR_Read. */
static vt_status check_quote(const TPM2B_ATTEST *q, const uint8_t *qdata, const uint8_t pcrs[NUM_PCRS][PCR_SIZE],
			     bool *stale, struct vt_err *err)
{
	*stale = false;
	TPMS_ATTEST att;
	size_t off = 0;
	memset(&att, 0, sizeof(att));
	TSS2_RC r = Tss2_MU_TPMS_ATTEST_Unmarshal(q->attestationData, q->size, &off, &att);
	if (r != TSS2_RC_SUCCESS || off != q->size)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm_quote.message", "the TPM returned a malformed TPMS_ATTEST");
	const TPML_PCR_SELECTION *sel = &att.attested.quote.pcrSelect;
	TPML_PCR_SELECTION want;
	select_pcrs(&want, 0, NUM_PCRS / 8);
	if (att.magic != TPM2_GENERATED_VALUE || att.type != TPM2_ST_ATTEST_QUOTE || att.extraData.size != QUALIFYING_SIZE ||
	    memcmp(att.extraData.buffer, qdata, QUALIFYING_SIZE) != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm_quote.message",
			       "the TPM's quote does not carry the requested qualifying data");
	if (sel->count != 1 || sel->pcrSelections[0].hash != TPM2_ALG_SHA256 || sel->pcrSelections[0].sizeofSelect < 3 ||
	    memcmp(sel->pcrSelections[0].pcrSelect, want.pcrSelections[0].pcrSelect, 3) != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "tpm_quote.message",
			       "the TPM did not quote all 24 SHA-256 PCRs (no full SHA-256 bank?)");
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t dlen = 0;
	vt_status rc = vt_digest(EVP_sha256(), pcrs, (size_t)NUM_PCRS * PCR_SIZE, digest, &dlen, err);
	if (rc != VT_OK)
		return rc;
	const TPM2B_DIGEST *pd = &att.attested.quote.pcrDigest;
	*stale = pd->size != dlen || memcmp(pd->buffer, digest, dlen) != 0;
	return VT_OK;
}

/* ------------------------------------------------------------ event log */

static bool tcti_is_device(const char *conf)
{
	return strncmp(conf, "device", 6) == 0 && (conf[6] == '\0' || conf[6] == ':');
}

static vt_status add_b64(json_t *obj, const char *key, const uint8_t *p, size_t n, struct vt_err *err)
{
	char *s = vt_b64_encode(p, n);
	if (s == NULL || json_object_set_new(obj, key, json_string(s)) != 0) {
		free(s);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, key, "out of memory");
	}
	free(s);
	return VT_OK;
}

static vt_status add_event_log(json_t *ev, const char *tcti_conf, const char *path, struct vt_err *err)
{
	bool required = path != NULL && *path != '\0';
	if (required && strcmp(path, "none") == 0)
		return VT_OK;
	if (!required) {
		if (!tcti_is_device(tcti_conf))
			return VT_OK; /* a simulator's PCRs are not the host firmware's */
		path = VT_TPM_DEFAULT_EVENT_LOG;
		if (access(path, R_OK) != 0)
			return VT_OK;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	vt_status rc = vt_file_read(path, EVENT_LOG_MAX, &data, &len, err);
	if (rc != VT_OK) {
		if (err && rc != VT_E_LIMIT)
			snprintf(err->detail, sizeof(err->detail), "cannot read the TPM event log %.300s: %s", path,
				 rc == VT_E_NOTFOUND ? "no such file" : strerror(errno));
		return rc;
	}
	if (len == 0) {
		free(data);
		return required ? vt_fail(err, VT_E_IO, VT_STEP_IO, "event_log", "TPM event log %.300s is empty", path) :
				  VT_OK;
	}
	rc = add_b64(ev, "event_log", data, len, err);
	free(data);
	return rc;
}

/* ------------------------------------------------------------ the evidence */

vt_status vt_tpm_attest_evidence(const struct vt_tpm_attest_opts *o, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err)
{
	static const struct vt_tpm_attest_opts defaults = {0};
	if (o == NULL)
		o = &defaults;
	*evidence_out = NULL;

	const char *conf = vt_tpm_tcti_or_default(o->tcti);
	uint32_t handle = o->ak_handle ? o->ak_handle : VT_TPM_DEFAULT_AK_HANDLE;
	if (handle < PERSISTENT_OWNER_FIRST || handle > PERSISTENT_OWNER_LAST)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ak_handle",
			       "AK handle 0x%08x is not an owner persistent handle (0x81000000-0x817fffff)",
			       (unsigned)handle);
	bool rsa;
	if (o->ak_alg == NULL || strcmp(o->ak_alg, "ecc") == 0)
		rsa = false;
	else if (strcmp(o->ak_alg, "rsa") == 0)
		rsa = true;
	else
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ak_alg", "AK algorithm \"%.32s\": want \"ecc\" or \"rsa\"",
			       o->ak_alg);

	vt_status rc;
	struct tpm t = {.ek = ESYS_TR_NONE, .session = ESYS_TR_NONE, .ak_transient = ESYS_TR_NONE, .ak = ESYS_TR_NONE};
	TPM2B_PUBLIC *akpub = NULL;
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	uint8_t *spki = NULL;
	size_t spki_len = 0;
	uint8_t pcrs[NUM_PCRS][PCR_SIZE];
	json_t *ev = NULL, *pcr_arr = NULL, *quote = NULL;
	struct vt_buf ekcert;
	vt_buf_init(&ekcert, EK_CERT_MAX);

	VT_GUARD(tpm_open(&t, conf, err));
	VT_GUARD(get_ak(&t, handle, rsa, &akpub, err));
	VT_GUARD(ak_spki(&akpub->publicArea, &spki, &spki_len, err));

	TPM2B_DATA qdata = {.size = QUALIFYING_SIZE};
	memcpy(qdata.buffer, report_data, QUALIFYING_SIZE);
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL}; /* the AK's own scheme */
	TPML_PCR_SELECTION sel;
	select_pcrs(&sel, 0, NUM_PCRS / 8);
	for (int attempt = 1;; attempt++) {
		Esys_Free(quoted);
		Esys_Free(sig);
		quoted = NULL;
		sig = NULL;
		TSS2_RC r = Esys_Quote(t.esys, t.ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qdata, &scheme, &sel,
				       &quoted, &sig);
		if (r != TSS2_RC_SUCCESS) {
			rc = vt_tpm_tss_fail(t.tcti_conf, err, "quoting PCRs (TPM2_Quote)", r);
			goto out;
		}
		VT_GUARD(read_pcrs(&t, pcrs, err));
		bool stale;
		VT_GUARD(check_quote(quoted, report_data, (const uint8_t(*)[PCR_SIZE])pcrs, &stale, err));
		if (!stale)
			break;
		if (attempt == QUOTE_ATTEMPTS) {
			rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "pcrs",
				     "PCRs kept changing between TPM2_Quote and TPM2_PCR_Read (%d attempts)", attempt);
			goto out;
		}
	}

	bool have_cert = false;
	if (o->include_ek_cert)
		VT_GUARD(read_ek_cert(&t, &ekcert, &have_cert, err));

	/* The message is the TPMS_ATTEST exactly as the TPM produced and signed
	 * it (ESAPI hands over TPM2B_ATTEST's bytes untouched); the signature
	 * is marshalled back to its TPM wire form with libtss2-mu. */
	uint8_t sigbuf[sizeof(TPMT_SIGNATURE)];
	size_t siglen = 0;
	TSS2_RC r = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sigbuf, sizeof(sigbuf), &siglen);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_IO, "tpm_quote.signature", "cannot marshal TPMT_SIGNATURE: %s",
			     Tss2_RC_Decode(r));
		goto out;
	}

	ev = json_object();
	quote = json_object();
	pcr_arr = json_array();
	if (ev == NULL || quote == NULL || pcr_arr == NULL)
		goto nomem;
	for (size_t i = 0; i < NUM_PCRS; i++) {
		char *hex = vt_hex_encode(pcrs[i], PCR_SIZE);
		if (hex == NULL || json_array_append_new(pcr_arr, json_string(hex)) != 0) {
			free(hex);
			goto nomem;
		}
		free(hex);
	}
	VT_GUARD(add_b64(ev, "ak_public", spki, spki_len, err));
	VT_GUARD(add_b64(quote, "signature", sigbuf, siglen, err));
	VT_GUARD(add_b64(quote, "message", quoted->attestationData, quoted->size, err));
	if (json_object_set(quote, "pcrs", pcr_arr) != 0 || json_object_set(ev, "tpm_quote", quote) != 0)
		goto nomem;
	VT_GUARD(add_event_log(ev, conf, o->event_log_path, err));
	if (have_cert)
		VT_GUARD(add_b64(ev, "ek_cert", ekcert.data, ekcert.len, err));
	*evidence_out = ev;
	ev = NULL;
	rc = VT_OK;
	goto out;
nomem:
	rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
out:
	json_decref(ev);
	json_decref(quote);
	json_decref(pcr_arr);
	vt_buf_free(&ekcert);
	OPENSSL_free(spki);
	Esys_Free(akpub);
	Esys_Free(quoted);
	Esys_Free(sig);
	tpm_close(&t);
	return rc;
}

/* ------------------------------------------------------------ PCR extend */

vt_status vt_tpm_pcr_extend(const char *tcti, unsigned pcr, const uint8_t sha256_digest[32], struct vt_err *err)
{
	if (pcr >= NUM_PCRS || sha256_digest == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pcr", "PCR %u: want 0..%d and a SHA-256 digest", pcr,
			       NUM_PCRS - 1);
	vt_status rc;
	struct tpm t = {.ek = ESYS_TR_NONE, .session = ESYS_TR_NONE, .ak_transient = ESYS_TR_NONE, .ak = ESYS_TR_NONE};
	VT_GUARD(tpm_open(&t, vt_tpm_tcti_or_default(tcti), err));
	TPML_DIGEST_VALUES d = {.count = 1};
	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(d.digests[0].digest.sha256, sha256_digest, PCR_SIZE);
	/* PCRs 0-15 have the empty auth; a PCR handle is its own ESYS_TR. */
	TSS2_RC r = Esys_PCR_Extend(t.esys, (ESYS_TR)(ESYS_TR_PCR0 + pcr), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				    &d);
	rc = r == TSS2_RC_SUCCESS ? VT_OK : vt_tpm_tss_fail(t.tcti_conf, err, "extending a PCR (TPM2_PCR_Extend)", r);
out:
	tpm_close(&t);
	return rc;
}

/* ------------------------------------------------------------ AK enrollment */

/* The public area as its libtss2-mu marshalling, std base64, into obj[key]. */
static vt_status add_public(json_t *obj, const char *key, const TPMT_PUBLIC *a, struct vt_err *err)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t len = 0;
	TSS2_RC r = Tss2_MU_TPMT_PUBLIC_Marshal(a, buf, sizeof(buf), &len);
	if (r != TSS2_RC_SUCCESS)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_IO, key, "cannot marshal TPMT_PUBLIC: %s", Tss2_RC_Decode(r));
	return add_b64(obj, key, buf, len, err);
}

vt_status vt_tpm_enroll_start(const struct vt_attest_opts *opts, json_t **out, struct vt_err *err)
{
	vt_status rc;
	struct tpm t = {.ek = ESYS_TR_NONE, .session = ESYS_TR_NONE, .ak_transient = ESYS_TR_NONE, .ak = ESYS_TR_NONE};
	TPM2B_PUBLIC *akpub = NULL, *ekpub = NULL;
	json_t *o = NULL;
	struct vt_buf ekcert;
	bool have_cert = false;
	vt_buf_init(&ekcert, EK_CERT_MAX);
	*out = NULL;

	VT_GUARD(tpm_open(&t, vt_tpm_tcti_or_default(opts ? opts->tpm_tcti : NULL), err));
	VT_GUARD(get_ak(&t, VT_TPM_DEFAULT_AK_HANDLE, false, &akpub, err));
	if (t.ek == ESYS_TR_NONE) /* creating the AK loaded it already */
		VT_GUARD(load_ek(&t, err));
	TSS2_RC r = Esys_ReadPublic(t.esys, t.ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ekpub, NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t.tcti_conf, err, "reading the EK public area (TPM2_ReadPublic)", r);
		goto out;
	}
	VT_GUARD(read_ek_cert(&t, &ekcert, &have_cert, err));
	o = json_object();
	if (o == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	if (have_cert)
		VT_GUARD(add_b64(o, "ek_cert", ekcert.data, ekcert.len, err));
	else if (json_object_set_new(o, "ek_cert", json_null()) != 0)
		VT_GUARD(vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory"));
	VT_GUARD(add_public(o, "ek_public", &ekpub->publicArea, err));
	VT_GUARD(add_public(o, "ak_public", &akpub->publicArea, err));
	*out = o;
	o = NULL;
	rc = VT_OK;
out:
	json_decref(o);
	vt_buf_free(&ekcert);
	Esys_Free(akpub);
	Esys_Free(ekpub);
	tpm_close(&t);
	return rc;
}

vt_status vt_tpm_activate(const struct vt_attest_opts *opts, const uint8_t *cred_blob, size_t cb_size,
			  const uint8_t *enc_secret, size_t es_size, struct vt_secret **secret_out, struct vt_err *err)
{
	vt_status rc;
	struct tpm t = {.ek = ESYS_TR_NONE, .session = ESYS_TR_NONE, .ak_transient = ESYS_TR_NONE, .ak = ESYS_TR_NONE};
	TPM2B_PUBLIC *akpub = NULL;
	TPM2B_DIGEST *cert_info = NULL;
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET es;
	size_t off = 0;
	*secret_out = NULL;
	memset(&id, 0, sizeof(id));
	memset(&es, 0, sizeof(es));
	if (cred_blob == NULL || Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(cred_blob, cb_size, &off, &id) != TSS2_RC_SUCCESS ||
	    off != cb_size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "credential_blob", "not one marshalled TPM2B_ID_OBJECT");
	off = 0;
	if (enc_secret == NULL ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_secret, es_size, &off, &es) != TSS2_RC_SUCCESS ||
	    off != es_size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "encrypted_secret",
			       "not one marshalled TPM2B_ENCRYPTED_SECRET");

	bool absent;
	VT_GUARD(tpm_open(&t, vt_tpm_tcti_or_default(opts ? opts->tpm_tcti : NULL), err));
	VT_GUARD(open_persistent_ak(&t, VT_TPM_DEFAULT_AK_HANDLE, false, &absent, &akpub, err));
	if (absent) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_IO, "ak_handle",
			     "no attestation key at 0x%08x: start the enrollment (or attest) first",
			     (unsigned)VT_TPM_DEFAULT_AK_HANDLE);
		goto out;
	}
	VT_GUARD(load_ek(&t, err));
	VT_GUARD(ek_policy(&t, err));
	/* AK: ADMIN role, empty auth (adminWithPolicy clear); EK: USER role
	 * through its policy. */
	TSS2_RC r = Esys_ActivateCredential(t.esys, t.ak, t.ek, ESYS_TR_PASSWORD, t.session, ESYS_TR_NONE, &id, &es,
					    &cert_info);
	if (r != TSS2_RC_SUCCESS) {
		cert_info = NULL;
		if (!vt_tpm_rc_is_tpm(r))
			rc = vt_tpm_tss_fail(t.tcti_conf, err, "activating the credential (TPM2_ActivateCredential)", r);
		else
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "credential_blob",
				     "the TPM refused to activate the credential (not made for this TPM's EK and AK, "
				     "or altered): %s (0x%x)",
				     Tss2_RC_Decode(r), (unsigned)r);
		goto out;
	}
	*secret_out = vt_secret_from(cert_info->buffer, cert_info->size);
	rc = *secret_out ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
out:
	if (cert_info) {
		vt_wipe(cert_info, sizeof(*cert_info));
		Esys_Free(cert_info);
	}
	vt_wipe(&id, sizeof(id));
	Esys_Free(akpub);
	tpm_close(&t);
	return rc;
}

static vt_status tpm_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	struct vt_tpm_attest_opts to = {.tcti = json_string_value(json_object_get(o, "tpm_tcti")),
					.event_log_path = json_string_value(json_object_get(o, "event_log"))};
	return vt_tpm_attest_evidence(&to, report_data, evidence_out, err);
}

static const struct vt_tee_option tpm_attest_options[] = {
	{"tpm_tcti", "TCTI", false, "e.g. swtpm:host=127.0.0.1,port=2321 or device:/dev/tpmrm0 (default $VERITEE_TPM_TCTI)"},
	{"event_log", "FILE", true, "TPM event log (default: the kernel's, device TCTI only; \"none\": omit)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_tpm = {
	.name = "tpm",
	.summary = "TPM 2.0 quote of PCRs 0-23 with its event log",
	.options = tpm_attest_options,
	.attest = tpm_attest_json,
};
