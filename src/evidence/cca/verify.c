/*
 * Arm CCA token verification: parse -> signature (platform with the CPAK,
 * realm with the RAK) -> binding (platform challenge = hash(RAK claim),
 * realm challenge = the caller's binding) -> claims.  See veritee/cca.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evidence/cca/cca_token.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* A signature failure names the token; the COSE layer's reason stays in the detail. */
static vt_status signature_failed(struct vt_err *err, vt_status rc, const char *which)
{
	if (err == NULL || err->step != VT_STEP_SIGNATURE)
		return rc;
	char d[sizeof(err->detail)];
	if (snprintf(d, sizeof(d), "%s token: %s", which, err->detail) >= 0) /* cut short when long */
		memcpy(err->detail, d, sizeof(d));
	snprintf(err->field, sizeof(err->field), "%s", which);
	return rc;
}

static vt_status mismatch(struct vt_err *err, const char *field, const char *what, const uint8_t *want,
			  size_t want_n, const uint8_t *seen, size_t seen_n)
{
	char *hw = vt_hex_encode(want, want_n), *hs = vt_hex_encode(seen, seen_n);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, field, "%s: expected %s, seen %s", what,
			       hw ? hw : "?", hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

/* The platform vouches for the RAK: its challenge is the hash of claim
 * 44237's bytes exactly as the realm token encodes them. */
static vt_status check_rak_binding(const struct cca_token *t, struct vt_err *err)
{
	const EVP_MD *md = cca_hash_by_name(&t->realm.rak_hash_algo);
	uint8_t d[EVP_MAX_MD_SIZE];
	size_t dn = 0;
	if (md == NULL)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_BINDING, "realm.public_key_hash_algo", "no hash");
	vt_status rc = vt_digest(md, t->realm.rak.p, t->realm.rak.n, d, &dn, err);
	if (rc != VT_OK)
		return rc;
	/* Public values: a plain comparison is fine. */
	if (dn == t->platform.challenge.n && memcmp(d, t->platform.challenge.p, dn) == 0)
		return VT_OK;
	char what[128];
	snprintf(what, sizeof(what), "platform challenge is not the %.*s of the realm's RAK (claim 44237)",
		 (int)t->realm.rak_hash_algo.n, t->realm.rak_hash_algo.p);
	return mismatch(err, "platform.challenge", what, d, dn, t->platform.challenge.p, t->platform.challenge.n);
}

/* Trustee's CCA verifier: the expected report data zero-padded to 64 bytes
 * equals the realm challenge.  (Trustee truncates a longer value; a binding
 * that does not fit is a caller error here.) */
static vt_status check_kbs_binding(const struct cca_token *t, const struct vt_binding *binding, struct vt_err *err)
{
	if (binding == NULL || binding->report_data == NULL)
		return VT_OK;
	if (binding->report_data_size > VT_CCA_CHALLENGE_SIZE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "realm.challenge",
			       "expected report data is %zu bytes, at most %d fit", binding->report_data_size,
			       VT_CCA_CHALLENGE_SIZE);
	uint8_t want[VT_CCA_CHALLENGE_SIZE] = {0};
	memcpy(want, binding->report_data, binding->report_data_size);
	if (memcmp(want, t->realm.challenge.p, sizeof(want)) == 0) /* public values */
		return VT_OK;
	return mismatch(err, "realm.challenge", "realm challenge does not match the expected binding", want,
			sizeof(want), t->realm.challenge.p, t->realm.challenge.n);
}

vt_status vt_cca_verify_token(const uint8_t *tok, size_t n, EVP_PKEY *cpak, const struct vt_binding *binding,
			      json_t **claims_out, struct vt_err *err)
{
	if (claims_out == NULL || (tok == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct cca_token *t = calloc(1, sizeof(*t)); /* ~10 KiB of views: not on the stack */
	if (t == NULL)
		return oom(err);
	vt_status rc;

	/* parse */
	VT_GUARD(cca_token_parse(tok, n, t, err));

	/* signature: the platform first (it is what the operator trusts), then the realm */
	if (cpak == NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform",
			     "cca token refused: no CPAK configured (the platform attestation key, --cpak)");
		goto out;
	}
	rc = vt_cose_sign1_verify(&t->platform_cose, cpak, NULL, 0, err);
	if (rc != VT_OK) {
		rc = signature_failed(err, rc, "platform");
		goto out;
	}
	rc = vt_cose_sign1_verify(&t->realm_cose, t->rak, NULL, 0, err);
	if (rc != VT_OK) {
		rc = signature_failed(err, rc, "realm");
		goto out;
	}

	/* binding: RAK to platform, then realm to the caller */
	VT_GUARD(check_rak_binding(t, err));
	VT_GUARD(check_kbs_binding(t, binding, err));

	VT_GUARD(cca_token_claims(t, claims_out, err));
out:
	cca_token_free(t);
	free(t);
	return rc;
}

vt_status vt_cca_token_realm_challenge(const uint8_t *tok, size_t n, uint8_t out[VT_CCA_CHALLENGE_SIZE],
				       struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct cca_token *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return oom(err);
	vt_status rc = cca_token_parse(tok, n, t, err);
	if (rc == VT_OK)
		memcpy(out, t->realm.challenge.p, VT_CCA_CHALLENGE_SIZE);
	cca_token_free(t);
	free(t);
	return rc;
}

/* ------------------------------------------------------------ claims */

/* Set o[key] = v, consuming v (jansson releases it on failure too). */
static vt_status put(json_t *o, const char *key, json_t *v, struct vt_err *err)
{
	return v != NULL && json_object_set_new(o, key, v) == 0 ? VT_OK : oom(err);
}

/* Standard base64, as Trustee encodes CCA byte claims. */
static json_t *b64(const struct cca_bytes *b)
{
	char *s = vt_b64_encode(b->p, b->n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

static json_t *text(const struct cca_text *t)
{
	return json_stringn(t->p, t->n); /* the parser checked UTF-8 */
}

static json_t *hex(const struct cca_bytes *b)
{
	char *s = vt_hex_encode(b->p, b->n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

/* Security lifecycle state names (Veraison ccatoken, draft-ffm-rats-cca-token). */
static const char *lifecycle_state(uint16_t lc)
{
	static const char *const names[] = {
		"unknown",
		"assembly-and-test",
		"cca-platform-rot-provisioning",
		"secured",
		"non-cca-platform-rot-debug",
		"recoverable-cca-platform-rot-debug",
		"decommissioned",
	};
	unsigned major = lc >> 12;
	return major < sizeof(names) / sizeof(names[0]) ? names[major] : "invalid";
}

static vt_status realm_claims(const struct cca_realm *r, json_t **out, struct vt_err *err)
{
	vt_status rc;
	json_t *o = json_object(), *rem = json_array();
	if (o == NULL || rem == NULL) {
		rc = oom(err);
		goto out;
	}
	for (size_t i = 0; i < CCA_REM_COUNT; i++) {
		if (json_array_append_new(rem, b64(&r->rem[i])) != 0) {
			rc = oom(err);
			goto out;
		}
	}
	if (r->profile.present)
		VT_GUARD(put(o, "cca-realm-profile", text(&r->profile), err));
	VT_GUARD(put(o, "cca-realm-challenge", b64(&r->challenge), err));
	VT_GUARD(put(o, "cca-realm-personalization-value", b64(&r->perso), err));
	VT_GUARD(put(o, "cca-realm-initial-measurement", b64(&r->rim), err));
	json_t *tmp = rem;
	rem = NULL; /* put consumes it, also on failure */
	VT_GUARD(put(o, "cca-realm-extensible-measurements", tmp, err));
	VT_GUARD(put(o, "cca-realm-hash-algo-id", text(&r->hash_algo), err));
	VT_GUARD(put(o, "cca-realm-public-key", b64(&r->rak), err));
	VT_GUARD(put(o, "cca-realm-public-key-hash-algo-id", text(&r->rak_hash_algo), err));
	*out = o;
	o = NULL;
out:
	json_decref(o);
	json_decref(rem);
	return rc;
}

static vt_status sw_claims(const struct cca_sw_component *c, json_t **out, struct vt_err *err)
{
	vt_status rc;
	json_t *o = json_object();
	if (o == NULL)
		return oom(err);
	if (c->type.present)
		VT_GUARD(put(o, "measurement-type", text(&c->type), err));
	VT_GUARD(put(o, "measurement-value", b64(&c->value), err));
	if (c->version.present)
		VT_GUARD(put(o, "version", text(&c->version), err));
	VT_GUARD(put(o, "signer-id", b64(&c->signer_id), err));
	if (c->hash_algo.present)
		VT_GUARD(put(o, "hash-algo-id", text(&c->hash_algo), err));
	*out = o;
	o = NULL;
out:
	json_decref(o);
	return rc;
}

static vt_status platform_claims(const struct cca_platform *p, json_t **out, struct vt_err *err)
{
	vt_status rc;
	json_t *o = json_object(), *sw = json_array();
	if (o == NULL || sw == NULL) {
		rc = oom(err);
		goto out;
	}
	for (size_t i = 0; i < p->sw_count; i++) {
		json_t *c = NULL;
		VT_GUARD(sw_claims(&p->sw[i], &c, err));
		if (json_array_append_new(sw, c) != 0) {
			rc = oom(err);
			goto out;
		}
	}
	VT_GUARD(put(o, "cca-platform-profile", text(&p->profile), err));
	VT_GUARD(put(o, "cca-platform-challenge", b64(&p->challenge), err));
	VT_GUARD(put(o, "cca-platform-implementation-id", b64(&p->impl_id), err));
	VT_GUARD(put(o, "cca-platform-instance-id", b64(&p->inst_id), err));
	VT_GUARD(put(o, "cca-platform-config", b64(&p->config), err));
	VT_GUARD(put(o, "cca-platform-lifecycle", json_integer(p->lifecycle), err));
	VT_GUARD(put(o, "cca-platform-lifecycle-state", json_string(lifecycle_state(p->lifecycle)), err));
	json_t *tmp = sw;
	sw = NULL; /* put consumes it, also on failure */
	VT_GUARD(put(o, "cca-platform-sw-components", tmp, err));
	if (p->vsi.present)
		VT_GUARD(put(o, "cca-platform-service-indicator", text(&p->vsi), err));
	VT_GUARD(put(o, "cca-platform-hash-algo-id", text(&p->hash_algo), err));
	*out = o;
	o = NULL;
out:
	json_decref(o);
	json_decref(sw);
	return rc;
}

vt_status cca_token_claims(const struct cca_token *t, json_t **out, struct vt_err *err)
{
	vt_status rc;
	json_t *c = json_object(), *r = NULL, *p = NULL;
	if (c == NULL)
		return oom(err);
	VT_GUARD(realm_claims(&t->realm, &r, err));
	VT_GUARD(platform_claims(&t->platform, &p, err));
	json_t *tmp = r;
	r = NULL; /* put consumes it, also on failure */
	VT_GUARD(put(c, "realm", tmp, err));
	tmp = p;
	p = NULL;
	VT_GUARD(put(c, "platform", tmp, err));
	/* As Trustee: report_data is the realm challenge, init_data the personalization value. */
	VT_GUARD(put(c, "report_data", hex(&t->realm.challenge), err));
	VT_GUARD(put(c, "init_data", hex(&t->realm.perso), err));
	*out = c;
	c = NULL;
out:
	json_decref(c);
	json_decref(r);
	json_decref(p);
	return rc;
}
