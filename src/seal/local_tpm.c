/*
 * local:tpm sealed files (docs/sealed-format.md, "local:tpm"): a fresh
 * 32-byte data key is the sensitive data of a TPM 2.0 KEYEDHASH sealed-data
 * object whose authPolicy is TPM2_PolicyPCR over SHA-256 PCRs chosen at
 * sealing.  The object is a child of the owner hierarchy's ECC P-256 storage
 * root key (the TCG SRK template, recreated by TPM2_CreatePrimary: the same
 * TPM and owner seed give the same key), fixedTPM and fixedParent, and
 * without userWithAuth: only a policy session that passed PolicyPCR with
 * the same PCR values can TPM2_Unseal it, and only on this TPM.
 *
 * The key crosses the TPM interface encrypted: Create and Unseal run with
 * sessions salted by the SRK and AES-128-CFB parameter encryption, so a
 * TCTI (a socket to a simulator, an interposer on the bus) never carries it
 * in clear.
 *
 * Every handle (SRK, object, sessions) is flushed and the ESAPI and TCTI
 * contexts finalized on every path.  The key is held only in vt_secret and
 * in wiped stack copies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "seal/local.h"
#include "veritee/crypto.h"
#include "attester/tpm/esys.h"
#include "veritee/seal.h"

#define NUM_PCRS 24
#define PCR_SIZE 32              /* SHA-256 bank */
#define PCR_SELECT_SIZE 3        /* sizeofSelect: 24 PCRs */
#define PCR_READ_ATTEMPTS 3      /* again when a PCR moved between two reads */
#define SEALED_ATTRS_REQUIRED (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT)
#define SEALED_ATTRS_FORBIDDEN                                                                     \
	(TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_RESTRICTED | \
	 TPMA_OBJECT_SENSITIVEDATAORIGIN)

struct tpm {
	const char *conf;
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR srk, obj, session;
};

/* The local key blob, parsed. */
struct tpm_blob {
	uint32_t pcrs;                          /* bit i = PCR i, SHA-256 bank */
	uint8_t values[NUM_PCRS][PCR_SIZE];     /* their values at sealing, by PCR number */
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/* ------------------------------------------------------------ open / close */

static vt_status tpm_open(struct tpm *t, const char *conf, struct vt_err *err)
{
	t->conf = conf;
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
		flush(t, &t->obj);
		flush(t, &t->srk);
	}
	vt_tpm_esys_close(&t->tcti, &t->esys);
}

/* ------------------------------------------------------------ SRK */

/* The TCG storage root key template, ECC NIST P-256 (TCG TPM v2.0
 * Provisioning Guidance, SRK template; unique = two 32-byte zero strings). */
static void srk_template(TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	TPMT_PUBLIC *a = &p->publicArea;
	a->type = TPM2_ALG_ECC;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	a->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	a->parameters.eccDetail.symmetric.keyBits.aes = 128;
	a->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	a->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	a->unique.ecc.x.size = 32;
	a->unique.ecc.y.size = 32;
}

static vt_status create_srk(struct tpm *t, struct vt_err *err)
{
	TPM2B_PUBLIC tmpl;
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION none = {0};
	srk_template(&tmpl);
	TSS2_RC r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
				       &tmpl, &outside, &none, &t->srk, NULL, NULL, NULL, NULL);
	if (r == TSS2_RC_SUCCESS)
		return VT_OK;
	t->srk = ESYS_TR_NONE;
	TSS2_RC c = vt_tpm_rc_code(r);
	if (c == TPM2_RC_BAD_AUTH || c == TPM2_RC_AUTH_FAIL || c == TPM2_RC_LOCKOUT)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tpm",
			       "creating the storage root key needs the owner hierarchy's empty authorization, which "
			       "this TPM refused: %s (0x%x)",
			       Tss2_RC_Decode(r), (unsigned)r);
	return vt_tpm_tss_fail(t->conf, err, "creating the storage root key (TPM2_CreatePrimary, owner hierarchy)", r);
}

/* A session salted by the SRK, with AES-128-CFB parameter encryption. */
static vt_status start_session(struct tpm *t, TPM2_SE type, struct vt_err *err)
{
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
	TSS2_RC r = Esys_StartAuthSession(t->esys, t->srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
					  type, &sym, TPM2_ALG_SHA256, &t->session);
	if (r != TSS2_RC_SUCCESS) {
		t->session = ESYS_TR_NONE;
		return vt_tpm_tss_fail(t->conf, err, "starting a session (TPM2_StartAuthSession)", r);
	}
	return VT_OK;
}

/* ------------------------------------------------------------ PCRs */

static void select_pcrs(TPML_PCR_SELECTION *sel, uint32_t mask)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = PCR_SELECT_SIZE;
	for (unsigned i = 0; i < PCR_SELECT_SIZE; i++)
		sel->pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
}

/* One pass: the PCRs of `mask` (a TPM returns at most 8 digests per
 * TPM2_PCR_Read, maybe fewer: ask again for the rest).  *moved when the
 * PCR update counter changed between two calls. */
static vt_status read_pcrs_once(struct tpm *t, uint32_t mask, uint8_t values[NUM_PCRS][PCR_SIZE], bool *moved,
				struct vt_err *err)
{
	uint32_t left = mask, first_counter = 0;
	bool first = true;
	*moved = false;
	while (left) {
		TPML_PCR_SELECTION want, *got = NULL;
		TPML_DIGEST *vals = NULL;
		UINT32 counter = 0;
		select_pcrs(&want, left);
		TSS2_RC r = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want, &counter, &got, &vals);
		if (r != TSS2_RC_SUCCESS)
			return vt_tpm_tss_fail(t->conf, err, "reading PCRs (TPM2_PCR_Read)", r);
		uint32_t bits = 0;
		if (got->count == 1 && got->pcrSelections[0].hash == TPM2_ALG_SHA256)
			for (unsigned i = 0; i < PCR_SELECT_SIZE && i < got->pcrSelections[0].sizeofSelect; i++)
				bits |= (uint32_t)got->pcrSelections[0].pcrSelect[i] << (8 * i);
		vt_status rc = VT_OK;
		if ((bits & left) == 0 || (bits & ~left) != 0)
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pcrs",
				     "the TPM returned no SHA-256 values for the PCRs asked (is its SHA-256 bank active?)");
		unsigned k = 0;
		for (unsigned i = 0; i < NUM_PCRS && rc == VT_OK; i++) {
			if (!(bits & (1u << i)))
				continue;
			if (k >= vals->count || vals->digests[k].size != PCR_SIZE)
				rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "pcrs", "TPM2_PCR_Read returned a short answer");
			else
				memcpy(values[i], vals->digests[k].buffer, PCR_SIZE);
			k++;
		}
		Esys_Free(got);
		Esys_Free(vals);
		if (rc != VT_OK)
			return rc;
		if (!first && counter != first_counter)
			*moved = true;
		first_counter = counter;
		first = false;
		left &= ~bits;
	}
	return VT_OK;
}

static vt_status read_pcrs(struct tpm *t, uint32_t mask, uint8_t values[NUM_PCRS][PCR_SIZE], struct vt_err *err)
{
	for (int i = 0; i < PCR_READ_ATTEMPTS; i++) {
		bool moved;
		vt_status rc = read_pcrs_once(t, mask, values, &moved, err);
		if (rc != VT_OK || !moved)
			return rc;
	}
	return vt_fail(err, VT_E_IO, VT_STEP_IO, "pcrs", "the PCRs kept changing while they were read");
}

/* The PCR digest PolicyPCR takes (SHA-256 of the values, ascending). */
static vt_status pcr_digest(uint32_t mask, const uint8_t values[NUM_PCRS][PCR_SIZE], TPM2B_DIGEST *out,
			    struct vt_err *err)
{
	uint8_t cat[NUM_PCRS * PCR_SIZE];
	size_t n = 0;
	for (unsigned i = 0; i < NUM_PCRS; i++)
		if (mask & (1u << i))
			memcpy(cat + n, values[i], PCR_SIZE), n += PCR_SIZE;
	out->size = 32;
	return vt_sha256(cat, n, out->buffer, err);
}

/*
 * What TPM2_PolicyPCR makes of a fresh session for these PCRs and their
 * pcr_digest (TPM 2.0 Part 3, 23.7):  SHA-256(0^32 || TPM_CC_PolicyPCR ||
 * TPML_PCR_SELECTION || pcr_digest).  Lets unseal tell a changed PCR from
 * a modified blob, and seal check the TPM's own answer.
 */
static vt_status policy_digest(uint32_t mask, const TPM2B_DIGEST *pcrs, uint8_t out[32], struct vt_err *err)
{
	uint8_t buf[32 + 4 + 4 + 2 + 1 + PCR_SELECT_SIZE + 32], *p = buf;
	memset(p, 0, 32), p += 32;
	*p++ = (uint8_t)(TPM2_CC_PolicyPCR >> 24), *p++ = (uint8_t)(TPM2_CC_PolicyPCR >> 16);
	*p++ = (uint8_t)(TPM2_CC_PolicyPCR >> 8), *p++ = (uint8_t)TPM2_CC_PolicyPCR;
	*p++ = 0, *p++ = 0, *p++ = 0, *p++ = 1;                       /* count */
	*p++ = (uint8_t)(TPM2_ALG_SHA256 >> 8), *p++ = (uint8_t)TPM2_ALG_SHA256; /* hash */
	*p++ = PCR_SELECT_SIZE;
	for (unsigned i = 0; i < PCR_SELECT_SIZE; i++)
		*p++ = (uint8_t)(mask >> (8 * i));
	memcpy(p, pcrs->buffer, 32);
	return vt_sha256(buf, sizeof(buf), out, err);
}

/* ------------------------------------------------------------ blob */

/* hash(be16) sizeofSelect(1) pcrSelect(3) || values || TPM2B_PUBLIC || TPM2B_PRIVATE */
static vt_status blob_encode(const struct tpm_blob *b, uint8_t *out, size_t cap, size_t *out_size,
			     struct vt_err *err)
{
	size_t off = 0;
	if (cap < 6 + NUM_PCRS * PCR_SIZE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "local_blob", "no room for the TPM blob");
	vt_put_be(out, TPM2_ALG_SHA256, 2);
	out[2] = PCR_SELECT_SIZE;
	vt_put_le(out + 3, b->pcrs, PCR_SELECT_SIZE);
	off = 6;
	for (unsigned i = 0; i < NUM_PCRS; i++)
		if (b->pcrs & (1u << i))
			memcpy(out + off, b->values[i], PCR_SIZE), off += PCR_SIZE;
	TSS2_RC r = Tss2_MU_TPM2B_PUBLIC_Marshal(&b->pub, out, cap, &off);
	if (r == TSS2_RC_SUCCESS)
		r = Tss2_MU_TPM2B_PRIVATE_Marshal(&b->priv, out, cap, &off);
	if (r != TSS2_RC_SUCCESS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "local_blob", "the sealed object does not fit %zu bytes: %s",
			       cap, Tss2_RC_Decode(r));
	*out_size = off;
	return VT_OK;
}

/* A TPM2B of the blob through tss2-mu, which checks every size against
 * the bytes left and the destination (it reads from a local offset and
 * reports how much it used). */
static vt_status take_tpm2b(struct vt_reader *r, bool is_public, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv,
			    const char *field, struct vt_err *err)
{
	struct vt_reader peek = *r;
	uint16_t declared;
	size_t off = 0;
	vt_status rc = vt_reader_u16be(&peek, &declared, field, err);
	if (rc != VT_OK)
		return rc;
	const uint8_t *p = r->data + r->off;
	const size_t left = vt_reader_remaining(r);
	TSS2_RC t = is_public ? Tss2_MU_TPM2B_PUBLIC_Unmarshal(p, left, &off, pub)
			      : Tss2_MU_TPM2B_PRIVATE_Unmarshal(p, left, &off, priv);
	if (t != TSS2_RC_SUCCESS || off != 2 + (size_t)declared)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a well-formed %s (%u bytes declared, %zu left)",
			       is_public ? "TPM2B_PUBLIC" : "TPM2B_PRIVATE", declared, left);
	return vt_reader_skip(r, off, field, err);
}

static vt_status blob_parse(const uint8_t *blob, size_t size, struct tpm_blob *b, struct vt_err *err)
{
	struct vt_reader r;
	uint16_t hash;
	uint8_t sel_size;
	const uint8_t *sel;
	vt_status rc;
	memset(b, 0, sizeof(*b));
	vt_reader_init(&r, blob, size);
	VT_GUARD(vt_reader_u16be(&r, &hash, "local_blob.pcr_selection.hash", err));
	VT_GUARD(vt_reader_u8(&r, &sel_size, "local_blob.pcr_selection.size", err));
	if (hash != TPM2_ALG_SHA256 || sel_size != PCR_SELECT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.pcr_selection",
			       "PCR bank 0x%04x with %u select bytes: want SHA-256 (0x000b) and 3", hash, sel_size);
	VT_GUARD(vt_reader_view(&r, &sel, PCR_SELECT_SIZE, "local_blob.pcr_selection.select", err));
	b->pcrs = (uint32_t)sel[0] | (uint32_t)sel[1] << 8 | (uint32_t)sel[2] << 16;
	if (b->pcrs == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.pcr_selection.select", "no PCR selected");
	for (unsigned i = 0; i < NUM_PCRS; i++)
		if (b->pcrs & (1u << i))
			VT_GUARD(vt_reader_copy(&r, b->values[i], PCR_SIZE, "local_blob.pcr_values", err));
	VT_GUARD(take_tpm2b(&r, true, &b->pub, NULL, "local_blob.public", err));
	VT_GUARD(take_tpm2b(&r, false, NULL, &b->priv, "local_blob.private", err));
	VT_GUARD(vt_reader_expect_end(&r, "local_blob", err));
out:
	return rc;
}

/* The sealed-data object this design makes, and nothing else: a blob with
 * userWithAuth would unseal without the PCR policy. */
static void sealed_template(TPM2B_PUBLIC *p, const uint8_t policy[32])
{
	memset(p, 0, sizeof(*p));
	TPMT_PUBLIC *a = &p->publicArea;
	a->type = TPM2_ALG_KEYEDHASH;
	a->nameAlg = TPM2_ALG_SHA256;
	/* Neither userWithAuth nor an authValue ever used: the user role needs
	 * the PCR policy; adminWithPolicy puts the admin role under it too. */
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_ADMINWITHPOLICY |
			      TPMA_OBJECT_NODA;
	a->authPolicy.size = 32;
	memcpy(a->authPolicy.buffer, policy, 32);
	a->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}

static vt_status check_object(const struct tpm_blob *b, struct vt_err *err)
{
	const TPMT_PUBLIC *a = &b->pub.publicArea;
	uint8_t want[32];
	TPM2B_DIGEST pcrs = {0};
	vt_status rc = pcr_digest(b->pcrs, b->values, &pcrs, err);
	if (rc == VT_OK)
		rc = policy_digest(b->pcrs, &pcrs, want, err);
	if (rc != VT_OK)
		return rc;
	if (a->type != TPM2_ALG_KEYEDHASH || a->nameAlg != TPM2_ALG_SHA256 ||
	    (a->objectAttributes & SEALED_ATTRS_REQUIRED) != SEALED_ATTRS_REQUIRED ||
	    (a->objectAttributes & SEALED_ATTRS_FORBIDDEN) != 0 ||
	    a->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "local_blob.public",
			       "not a sealed-data object under a PCR policy (type 0x%04x, attributes 0x%08x)", a->type,
			       (unsigned)a->objectAttributes);
	/* The policy is public (it is in the object's public area). */
	if (a->authPolicy.size != 32 || memcmp(a->authPolicy.buffer, want, 32) != 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "local_blob.pcr_values",
			       "the PCR values the file records do not give the sealed object's policy: the local key "
			       "blob was modified");
	return VT_OK;
}

vt_status vt_seal_tpm_blob_check(const uint8_t *blob, size_t size, struct vt_err *err)
{
	struct tpm_blob *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "local.tpm", "out of memory");
	vt_status rc = blob_parse(blob, size, b, err);
	if (rc == VT_OK)
		rc = check_object(b, err);
	free(b);
	return rc;
}

/* ------------------------------------------------------------ seal */

vt_status vt_seal_tpm_seal(const struct vt_seal_local_opts *o, struct vt_seal_header *h, struct vt_secret **key_out,
			   struct vt_err *err)
{
	vt_status rc;
	struct tpm t = {.srk = ESYS_TR_NONE, .obj = ESYS_TR_NONE, .session = ESYS_TR_NONE};
	struct tpm_blob *b = calloc(1, sizeof(*b));
	struct vt_secret *key = vt_secret_new(VT_SEAL_KEY_SIZE);
	TPM2B_SENSITIVE_CREATE *sens = calloc(1, sizeof(*sens));
	TPM2B_DIGEST *trial = NULL, pcrs_digest = {0};
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL, tmpl;
	TPML_PCR_SELECTION sel, none = {0};
	TPM2B_DATA outside = {0};
	uint8_t policy[32];
	TSS2_RC r;
	if (b == NULL || key == NULL || sens == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "local.tpm", "out of memory");
		goto out;
	}
	if (o->tpm_pcrs == 0 || (o->tpm_pcrs >> NUM_PCRS) != 0) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pcrs", "seal to at least one PCR of 0..23");
		goto out;
	}
	if (RAND_priv_bytes(key->data, VT_SEAL_KEY_SIZE) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "key", "RAND_priv_bytes failed");
		goto out;
	}
	b->pcrs = o->tpm_pcrs;
	VT_GUARD(tpm_open(&t, vt_tpm_tcti_or_default(o->tpm_tcti), err));
	VT_GUARD(create_srk(&t, err));

	/* The policy for the PCR values now: computed here, and by the TPM in
	 * a trial session as a check of both. */
	VT_GUARD(read_pcrs(&t, b->pcrs, b->values, err));
	VT_GUARD(pcr_digest(b->pcrs, b->values, &pcrs_digest, err));
	VT_GUARD(policy_digest(b->pcrs, &pcrs_digest, policy, err));
	select_pcrs(&sel, b->pcrs);
	TPMT_SYM_DEF no_sym = {.algorithm = TPM2_ALG_NULL};
	r = Esys_StartAuthSession(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
				  TPM2_SE_TRIAL, &no_sym, TPM2_ALG_SHA256, &t.session);
	if (r != TSS2_RC_SUCCESS) {
		t.session = ESYS_TR_NONE;
		rc = vt_tpm_tss_fail(t.conf, err, "starting a trial policy session (TPM2_StartAuthSession)", r);
		goto out;
	}
	r = Esys_PolicyPCR(t.esys, t.session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pcrs_digest, &sel);
	if (r == TSS2_RC_SUCCESS)
		r = Esys_PolicyGetDigest(t.esys, t.session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &trial);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t.conf, err, "computing the PCR policy (TPM2_PolicyPCR, trial session)", r);
		goto out;
	}
	flush(&t, &t.session);
	if (trial->size != 32 || memcmp(trial->buffer, policy, 32) != 0) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "local.tpm",
			     "the TPM computed another PolicyPCR digest than TPM 2.0 Part 3 gives");
		goto out;
	}

	/* Create the sealed object; its data goes to the TPM encrypted. */
	VT_GUARD(start_session(&t, TPM2_SE_HMAC, err));
	r = Esys_TRSess_SetAttributes(t.esys, t.session, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, 0xFF);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t.conf, err, "setting session attributes", r);
		goto out;
	}
	sealed_template(&tmpl, policy);
	sens->sensitive.data.size = VT_SEAL_KEY_SIZE;
	memcpy(sens->sensitive.data.buffer, key->data, VT_SEAL_KEY_SIZE);
	r = Esys_Create(t.esys, t.srk, t.session, ESYS_TR_NONE, ESYS_TR_NONE, sens, &tmpl, &outside, &none, &priv, &pub,
			NULL, NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t.conf, err, "creating the sealed object (TPM2_Create)", r);
		goto out;
	}
	b->pub = *pub;
	b->priv = *priv;
	size_t n = 0;
	VT_GUARD(blob_encode(b, h->local_blob, sizeof(h->local_blob), &n, err));
	h->local_blob_size = (uint16_t)n;
	*key_out = key;
	key = NULL;
out:
	if (sens) {
		vt_wipe(sens, sizeof(*sens));
		free(sens);
	}
	Esys_Free(trial);
	Esys_Free(priv);
	Esys_Free(pub);
	tpm_close(&t);
	free(b);
	vt_secret_free(key);
	return rc;
}

/* ------------------------------------------------------------ unseal */

static vt_status load_fail(const struct tpm *t, TSS2_RC r, struct vt_err *err)
{
	if (!vt_tpm_rc_is_tpm(r))
		return vt_tpm_tss_fail(t->conf, err, "loading the sealed object (TPM2_Load)", r);
	if (vt_tpm_rc_code(r) == TPM2_RC_INTEGRITY)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm",
			       "this TPM refused the sealed object (TPM2_Load: integrity check failed): it was sealed by "
			       "a different TPM, this TPM's owner hierarchy was cleared since, or the local key blob "
			       "was modified");
	return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm",
		       "this TPM refused the sealed object (TPM2_Load): %s (0x%x): a different TPM or a modified blob",
		       Tss2_RC_Decode(r), (unsigned)r);
}

static vt_status unseal_fail(const struct tpm *t, TSS2_RC r, uint32_t changed, struct vt_err *err)
{
	char list[96];
	if (!vt_tpm_rc_is_tpm(r))
		return vt_tpm_tss_fail(t->conf, err, "unsealing (TPM2_Unseal)", r);
	if (vt_tpm_rc_code(r) != TPM2_RC_POLICY_FAIL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_POLICY, "local.tpm", "this TPM refused to unseal: %s (0x%x)",
			       Tss2_RC_Decode(r), (unsigned)r);
	if (changed == 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_POLICY, "local.tpm",
			       "the PCR policy check failed (TPM2_Unseal: TPM_RC_POLICY_FAIL)");
	vt_seal_pcrs_format(changed, list, sizeof(list));
	return vt_fail(err, VT_E_REJECTED, VT_STEP_POLICY, "local.tpm", "PCR%s %s changed since sealing (policy check failed)",
		       (changed & (changed - 1)) ? "s" : "", list);
}

vt_status vt_seal_tpm_unseal(const struct vt_seal_header *h, const struct vt_seal_local_opts *o,
			     struct vt_secret **key_out, struct vt_err *err)
{
	vt_status rc;
	struct tpm t = {.srk = ESYS_TR_NONE, .obj = ESYS_TR_NONE, .session = ESYS_TR_NONE};
	struct tpm_blob *b = calloc(1, sizeof(*b));
	uint8_t (*now)[PCR_SIZE] = calloc(NUM_PCRS, PCR_SIZE);
	TPM2B_SENSITIVE_DATA *data = NULL;
	TPM2B_DIGEST current = {0}; /* empty: PolicyPCR takes the PCRs as they are */
	TPML_PCR_SELECTION sel;
	uint32_t changed = 0;
	TSS2_RC r;
	if (b == NULL || now == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "local.tpm", "out of memory");
		goto out;
	}
	VT_GUARD(blob_parse(h->local_blob, h->local_blob_size, b, err));
	VT_GUARD(check_object(b, err));
	VT_GUARD(tpm_open(&t, vt_tpm_tcti_or_default(o->tpm_tcti), err));
	VT_GUARD(create_srk(&t, err));
	r = Esys_Load(t.esys, t.srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &b->priv, &b->pub, &t.obj);
	if (r != TSS2_RC_SUCCESS) {
		t.obj = ESYS_TR_NONE;
		rc = load_fail(&t, r, err);
		goto out;
	}
	/* Which PCRs moved, for the message only: the TPM decides. */
	VT_GUARD(read_pcrs(&t, b->pcrs, now, err));
	for (unsigned i = 0; i < NUM_PCRS; i++)
		if ((b->pcrs & (1u << i)) && memcmp(now[i], b->values[i], PCR_SIZE) != 0) /* public values */
			changed |= 1u << i;
	VT_GUARD(start_session(&t, TPM2_SE_POLICY, err));
	select_pcrs(&sel, b->pcrs);
	r = Esys_PolicyPCR(t.esys, t.session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t.conf, err, "TPM2_PolicyPCR", r);
		goto out;
	}
	/* The key comes back encrypted under the session key. */
	r = Esys_TRSess_SetAttributes(t.esys, t.session, TPMA_SESSION_ENCRYPT, TPMA_SESSION_ENCRYPT);
	if (r != TSS2_RC_SUCCESS) {
		rc = vt_tpm_tss_fail(t.conf, err, "setting session attributes", r);
		goto out;
	}
	r = Esys_Unseal(t.esys, t.obj, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (r != TSS2_RC_SUCCESS) {
		data = NULL;
		rc = unseal_fail(&t, r, changed, err);
		goto out;
	}
	if (data->size != VT_SEAL_KEY_SIZE) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm",
			     "the sealed object holds %u bytes, not a %u-byte key", (unsigned)data->size, VT_SEAL_KEY_SIZE);
		goto out;
	}
	if ((*key_out = vt_secret_from(data->buffer, VT_SEAL_KEY_SIZE)) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "local.tpm", "out of memory");
		goto out;
	}
	rc = VT_OK;
out:
	if (data) {
		vt_wipe(data, sizeof(*data));
		Esys_Free(data);
	}
	tpm_close(&t);
	free(b);
	free(now);
	return rc;
}
