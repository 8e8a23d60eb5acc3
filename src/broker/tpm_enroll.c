/*
 * TPM attestation-key enrollment (credential activation, tpm-quote.md §5.3).
 *
 *   POST /kbs/v0/tpm/enroll   {"ek_cert": b64 DER, "ek_public"?: b64 TPMT_PUBLIC,
 *                              "ak_public": b64 TPMT_PUBLIC}
 *     -> the EK certificate must chain to `tpm_ek_roots`; the AK must be a
 *        restricted signing key fixed to its TPM; a random 32-byte secret is
 *        wrapped with TPM2_MakeCredential for (EK key, AK Name) and the
 *        challenge {id, AK digest, secret, expiry} kept in the store (the
 *        secret sealed like a resource), so any broker sharing the store
 *        may take the activation.
 *     <- {"id", "credential_blob", "encrypted_secret", "expires_in"}
 *   POST /kbs/v0/tpm/activate {"id", "secret": b64}
 *     -> the challenge is taken out of the store (usable once, also on
 *        failure, by exactly one broker), the
 *        secret compared in constant time; on a match the AK digest (hex
 *        SHA-256 of the AK's DER SPKI, the tpm verifier's `ak_digest`
 *        claim) joins reference value `trusted_aks`, stored like
 *        POST /reference-value does.
 *     <- {"ak_digest"}
 *
 * Only a TPM that holds both the certified EK and the AK can recover the
 * secret (TPM2_ActivateCredential checks the AK's Name and needs the EK's
 * private key), so these endpoints need no admin token.  Without
 * `tpm_ek_roots` enrollment is refused: there is no "trust any EK" mode.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "broker/broker_internal.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/tpm.h"

#define CHALLENGE_LIFETIME 300     /* seconds */
#define CHALLENGE_MAX 4096         /* pending challenges kept at once */
#define SECRET_SIZE 32
#define ID_BYTES 16
#define BODY_MAX ((size_t)1 << 20)
#define FIELD_MAX ((size_t)64 << 10) /* base64 characters of one member */
#define TRUSTED_AKS "trusted_aks"

/* A challenge being made (enroll) or checked (activate). */
struct challenge {
	char id[2 * ID_BYTES + 1];
	char ak_digest[65];
	struct vt_secret *secret;
	int64_t expires;
};

static void challenge_free(struct challenge *c)
{
	if (c == NULL)
		return;
	vt_secret_free(c->secret);
	free(c);
}

/* ------------------------------------------------------------ responses */

static void respond_json(struct vt_http_response *r, int status, json_t *body)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = body ? vt_json_compact(body) : NULL;
	r->body_size = r->body ? strlen(r->body) : 0;
	json_decref(body);
}

/* KBS ErrorInformation, 401 (the status Trustee uses for refusals). */
static void respond_refusal(struct vt_http_response *r, const char *variant, const char *prefix,
			    const struct vt_err *e)
{
	char type[160], detail[900];
	snprintf(type, sizeof(type), "%s%s", VT_KBS_ERROR_BASE, variant);
	snprintf(detail, sizeof(detail), "%s: %s (step %s%s%s)", prefix, e->detail[0] ? e->detail : vt_status_name(e->code),
		 vt_step_name(e->step), e->field[0] ? ", field " : "", e->field);
	/* The store down or busy is not a refusal: 503, retry. */
	respond_json(r, e->code == VT_E_UNAVAILABLE ? 503 : 401, json_pack("{s:s, s:s}", "type", type, "detail", detail));
}

static vt_status parse_body(const struct vt_http_request *req, json_t **out, struct vt_err *err)
{
	vt_status rc = vt_json_parse((const char *)req->body, req->body_size, BODY_MAX, out, err);
	if (rc == VT_OK && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "body", "request body must be a JSON object");
	}
	return rc;
}

/* A base64 member; `optional` members may be absent or null (*out NULL). */
static vt_status get_b64(const json_t *body, const char *key, bool optional, uint8_t **out, size_t *n,
			 struct vt_err *err)
{
	*out = NULL;
	*n = 0;
	json_t *v = json_object_get(body, key);
	if (optional && (v == NULL || json_is_null(v)))
		return VT_OK;
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "\"%s\" must be a standard base64 string", key);
	if (json_string_length(v) > FIELD_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, key, "\"%s\" is longer than %zu characters", key, FIELD_MAX);
	vt_status rc = vt_b64_decode(json_string_value(v), json_string_length(v), out, n, err);
	if (rc != VT_OK && err)
		snprintf(err->field, sizeof(err->field), "%s", key);
	return rc;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char *s = vt_b64_encode(p, n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

/* ------------------------------------------------------------ enroll */

void vt_broker_tpm_enroll(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL;
	uint8_t *ek_cert = NULL, *ek_public = NULL, *ak_public = NULL, *blob = NULL, *enc = NULL;
	size_t ek_cert_len, ek_public_len, ak_public_len, blob_len = 0, enc_len = 0;
	EVP_PKEY *ek = NULL, *ak = NULL;
	uint8_t name[VT_TPM_NAME_MAX], id[ID_BYTES];
	size_t name_len = 0;
	unsigned char *spki = NULL;
	struct challenge *c = NULL;
	const char *why = "TPM enrollment refused";

	if (b->cfg.tpm_ek_roots == NULL) {
		vt_fail(&e, VT_E_USAGE, VT_STEP_CONFIG, "tpm_ek_roots",
			"this broker has no EK root certificates configured (\"tpm_ek_roots\"), so it cannot check EK "
			"certificates and does not enroll TPM attestation keys");
		goto refuse;
	}
	if (parse_body(req, &body, &e) != VT_OK) {
		why = "Bad TPM enrollment request";
		goto refuse;
	}
	json_t *cert = json_object_get(body, "ek_cert");
	if (cert == NULL || json_is_null(cert)) {
		vt_fail(&e, VT_E_REJECTED, VT_STEP_CHAIN, "ek_cert",
			"the TPM sent no EK certificate; without one its EK, and so its AK, cannot be trusted");
		goto refuse;
	}
	if (get_b64(body, "ek_cert", false, &ek_cert, &ek_cert_len, &e) != VT_OK ||
	    get_b64(body, "ek_public", true, &ek_public, &ek_public_len, &e) != VT_OK ||
	    get_b64(body, "ak_public", false, &ak_public, &ak_public_len, &e) != VT_OK) {
		why = "Bad TPM enrollment request";
		goto refuse;
	}
	int64_t now = vt_broker_now(b);
	if (vt_tpm_ek_verify(ek_cert, ek_cert_len, b->cfg.tpm_ek_roots, now, &ek, &e) != VT_OK) {
		why = "EK certificate not trusted";
		goto refuse;
	}
	if (ek_public && vt_tpm_ek_public_match(ek_public, ek_public_len, ek, &e) != VT_OK)
		goto refuse;
	if (vt_tpm_ak_check(ak_public, ak_public_len, name, &name_len, &ak, &e) != VT_OK) {
		why = "Attestation key refused";
		goto refuse;
	}
	if (name_len != 2 + SECRET_SIZE) {
		vt_fail(&e, VT_E_REJECTED, VT_STEP_BINDING, "ak_public", "the AK's nameAlg must be SHA-256");
		goto refuse;
	}
	int spki_len = i2d_PUBKEY(ak, &spki);
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t md_len = 0;
	c = calloc(1, sizeof(*c));
	if (spki_len <= 0 || c == NULL) {
		vt_fail(&e, VT_E_NOMEM, VT_STEP_CRYPTO, "ak_public", "cannot encode the AK");
		goto internal;
	}
	if (vt_digest(EVP_sha256(), spki, (size_t)spki_len, md, &md_len, &e) != VT_OK ||
	    vt_random(id, sizeof(id), &e) != VT_OK)
		goto internal;
	char *hex = vt_hex_encode(md, md_len), *idhex = vt_hex_encode(id, sizeof(id));
	if (hex && idhex) {
		snprintf(c->ak_digest, sizeof(c->ak_digest), "%s", hex);
		snprintf(c->id, sizeof(c->id), "%s", idhex);
	}
	free(hex);
	free(idhex);
	c->secret = vt_secret_random(SECRET_SIZE);
	if (c->secret == NULL || c->id[0] == '\0') {
		vt_fail(&e, VT_E_NOMEM, VT_STEP_CRYPTO, "", "out of memory");
		goto internal;
	}
	c->expires = now + CHALLENGE_LIFETIME;
	if (vt_tpm_make_credential(ek, name, name_len, c->secret->data, c->secret->len, &blob, &blob_len, &enc, &enc_len,
				   &e) != VT_OK) {
		if (e.code == VT_E_REJECTED)
			goto refuse; /* an EK key type we cannot make credentials for */
		goto internal;
	}
	json_t *answer = json_pack("{s:s, s:o, s:o, s:I}", "id", c->id, "credential_blob", b64_json(blob, blob_len),
				   "encrypted_secret", b64_json(enc, enc_len), "expires_in",
				   (json_int_t)CHALLENGE_LIFETIME);
	if (answer == NULL) {
		vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto internal;
	}
	if (vt_store_challenge_put(b->store, c->id, c->ak_digest, c->secret, c->expires, now, CHALLENGE_MAX, &e) !=
	    VT_OK) {
		json_decref(answer);
		if (e.code == VT_E_LIMIT)
			goto refuse;
		goto internal;
	}
	vt_broker_log(b, "INFO", "tpm enroll: challenge %.8s... for AK %s (EK certificate verified)", c->id,
		      c->ak_digest);
	respond_json(r, 200, answer);
	goto out;
internal:
	vt_broker_log(b, "ERROR", "tpm enroll: %s", e.detail);
	why = "TPM enrollment failed";
refuse:
	if (e.code != VT_E_NOMEM && e.code != VT_E_INTERNAL && e.code != VT_E_CRYPTO)
		vt_broker_log(b, "WARN", "tpm enroll refused: %s", e.detail);
	respond_refusal(r, "TpmEnrollmentError", why, &e);
out:
	challenge_free(c);
	OPENSSL_free(spki);
	EVP_PKEY_free(ek);
	EVP_PKEY_free(ak);
	free(ek_cert);
	free(ek_public);
	free(ak_public);
	free(blob);
	free(enc);
	json_decref(body);
}

/* ------------------------------------------------------------ activate */

/* Add `digest` to reference value trusted_aks (a list; a single registered
 * string becomes a list): in the store, atomically for every broker
 * sharing it, then in memory. */
static vt_status trust_ak(struct vt_broker *b, const char *digest, struct vt_err *err)
{
	json_t *list = NULL;
	vt_status rc = vt_store_kv_list_add(b->store, "refval", TRUSTED_AKS, digest, &list, err);
	if (rc != VT_OK)
		return rc;
	pthread_rwlock_wrlock(&b->lock);
	if (json_object_set_new(b->refvals, TRUSTED_AKS, list) != 0)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, TRUSTED_AKS, "out of memory");
	pthread_rwlock_unlock(&b->lock);
	return rc;
}

void vt_broker_tpm_activate(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	struct vt_secret *got = NULL;
	struct challenge *c = NULL;
	const char *id;
	const char *why = "TPM activation refused";

	if (parse_body(req, &body, &e) != VT_OK || vt_json_get_string(body, "id", &id, &e) != VT_OK ||
	    get_b64(body, "secret", false, &raw, &raw_len, &e) != VT_OK) {
		why = "Bad TPM activation request";
		goto refuse;
	}
	got = vt_secret_from(raw, raw_len);
	vt_wipe(raw, raw_len);
	if (got == NULL) {
		vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto refuse;
	}
	/* Take the challenge out: it is used once, whatever the outcome, and
	 * by one broker only (a DELETE ... RETURNING). */
	int64_t now = vt_broker_now(b);
	if (strlen(id) != 2 * ID_BYTES) {
		vt_fail(&e, VT_E_AUTH, VT_STEP_SESSION, "id",
			"unknown enrollment id (never issued, already used, or expired)");
		goto refuse;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto refuse;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	if (vt_store_challenge_take(b->store, c->id, c->ak_digest, &c->secret, &c->expires, &e) != VT_OK) {
		if (e.code == VT_E_NOTFOUND) {
			vt_err_clear(&e);
			vt_fail(&e, VT_E_AUTH, VT_STEP_SESSION, "id",
				"unknown enrollment id (never issued, already used, or expired)");
		}
		goto refuse;
	}
	if (c->expires <= now) {
		vt_fail(&e, VT_E_AUTH, VT_STEP_SESSION, "id", "the enrollment challenge expired; enroll again");
		goto refuse;
	}
	if (!vt_secret_eq(got, c->secret)) {
		vt_fail(&e, VT_E_AUTH, VT_STEP_BINDING, "secret",
			"wrong secret: the credential was not activated by the TPM holding the certified EK and this AK; "
			"the challenge is spent, enroll again");
		goto refuse;
	}
	if (trust_ak(b, c->ak_digest, &e) != VT_OK) {
		vt_broker_log(b, "ERROR", "tpm activate: %s", e.detail);
		respond_refusal(r, "RvpsError", "Reference value store error", &e);
		goto out;
	}
	vt_broker_log(b, "INFO", "tpm activate: AK %s enrolled into reference value %s", c->ak_digest, TRUSTED_AKS);
	respond_json(r, 200, json_pack("{s:s}", "ak_digest", c->ak_digest));
	goto out;
refuse:
	vt_broker_log(b, "WARN", "tpm activate refused: %s", e.detail);
	respond_refusal(r, "TpmEnrollmentError", why, &e);
out:
	challenge_free(c);
	vt_secret_free(got);
	free(raw);
	json_decref(body);
}
