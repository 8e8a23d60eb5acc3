/* EAR issue and verify (see include/veritee/token.h). */
#include <stdlib.h>
#include <string.h>

#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/token.h"
#include "veritee/util.h"

vt_status vt_ear_issue(EVP_PKEY *key, const struct vt_ear_params *p, char **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	json_t *header = NULL, *payload = NULL, *submod = NULL, *jwk = NULL;
	char *text = NULL, *kid = NULL;

	jwk = p->signer_jwk ? json_incref((json_t *)p->signer_jwk) : vt_key_to_jwk(key, "ES256", false);
	if (jwk == NULL || vt_ec_coord_size(key) != 32) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_TOKEN, "signing key", "EAR signing key must be EC P-256");
		goto out;
	}
	/* "jwk" as Trustee's AS puts it; "kid" names the key in a JWKS. */
	kid = p->signer_kid ? strdup(p->signer_kid) : vt_jwk_thumbprint(jwk);
	header = kid ? json_pack("{s:s, s:s, s:s, s:O}", "typ", "JWT", "alg", "ES256", "kid", kid, "jwk", jwk) : NULL;
	submod = json_pack("{s:s, s:O, s:s, s:O}", "ear.status", p->status, "ear.trustworthiness-vector",
			   p->trust_vector, "ear.appraisal-policy-id", p->policy_id ? p->policy_id : "default",
			   "ear.veraison.annotated-evidence", p->annotated);
	if (header == NULL || submod == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_TOKEN, "", "cannot build token");
		goto out;
	}
	if (p->extensions != NULL && json_object_update(submod, (json_t *)p->extensions) != 0) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_TOKEN, "", "cannot build token");
		goto out;
	}
	payload = json_pack("{s:s, s:I, s:{s:s, s:s}, s:{s:O}, s:I, s:s}", "eat_profile", VT_EAR_PROFILE, "iat",
			    (json_int_t)p->iat, "ear.verifier-id", "developer", "https://veritee.invalid/",
			    "build", "veritee 0.1.0", "submods", p->submod ? p->submod : "cpu0", submod, "exp",
			    (json_int_t)(p->iat + p->lifetime), "iss", p->issuer ? p->issuer : VT_EAR_ISSUER);
	/* Device submods (gpu0, ...) next to the primary one; never replacing it. */
	if (payload && p->more_submods) {
		json_t *sm = json_object_get(payload, "submods");
		const char *name;
		json_t *v;
		json_object_foreach((json_t *)p->more_submods, name, v) {
			if (json_object_get(sm, name) != NULL || json_object_set(sm, name, v) != 0) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_TOKEN, "submods", "duplicate or bad submod \"%.32s\"",
					     name);
				goto out;
			}
		}
	}
	text = payload ? vt_json_compact(payload) : NULL;
	if (text == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_TOKEN, "", "cannot serialize token");
		goto out;
	}
	VT_GUARD(vt_jws_sign(key, header, (const uint8_t *)text, strlen(text), out, err));
out:
	free(text);
	free(kid);
	json_decref(payload);
	json_decref(submod);
	json_decref(header);
	json_decref(jwk);
	return rc;
}

static const char *const ear_statuses[] = {"none", "affirming", "warning", "contraindicated", NULL};

vt_status vt_ear_verify(const char *jwt, EVP_PKEY *key, int64_t now, int64_t leeway, unsigned flags,
			json_t **claims_out, struct vt_err *err)
{
	static const char *const algs[] = {"ES256", NULL};
	vt_status rc = VT_OK;
	uint8_t *payload = NULL;
	size_t payload_size = 0;
	json_t *claims = NULL;

	VT_GUARD(vt_jws_verify(jwt, key, algs, NULL, &payload, &payload_size, err));
	if (flags & VT_EAR_REQUIRE_LOW_S) {
		const char *dot = strrchr(jwt, '.');
		uint8_t *sig = NULL;
		size_t sl = 0;
		bool low = dot && vt_b64url_decode(dot + 1, strlen(dot + 1), &sig, &sl, NULL) == VT_OK &&
			   vt_ecdsa_raw_low_s(key, sig, sl);
		free(sig);
		if (!low) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "signature",
				     "high-S ECDSA signature: not the encoding this issuer makes");
			goto out;
		}
	}
	VT_GUARD(vt_json_parse((const char *)payload, payload_size, 1u << 20, &claims, err));
	if (!json_is_object(claims)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_TOKEN, "payload", "token payload is not a JSON object");
		goto out;
	}
	json_t *exp = json_object_get(claims, "exp"), *iat = json_object_get(claims, "iat");
	if (exp == NULL && !(flags & VT_EAR_REQUIRE_EXP)) {
		/* no expiry claimed: nothing to check */
	} else if (!json_is_integer(exp)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, "exp", "token has no integer \"exp\" claim");
		goto out;
	} else if (json_integer_value(exp) <= now - leeway) { /* no addition on untrusted values */
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, "exp", "token expired at %lld (now %lld)",
			     (long long)json_integer_value(exp), (long long)now);
		goto out;
	}
	if (iat != NULL && (!json_is_integer(iat) || json_integer_value(iat) > now + leeway)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, "iat", "token issued in the future");
		goto out;
	}
	if (!json_is_string(json_object_get(claims, "eat_profile"))) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, "eat_profile", "not an EAR: no eat_profile");
		goto out;
	}
	json_t *submods = json_object_get(claims, "submods");
	if (!json_is_object(submods) || json_object_size(submods) == 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, "submods", "not an EAR: no submods");
		goto out;
	}
	const char *name;
	json_t *sm;
	json_object_foreach(submods, name, sm) {
		const char *st = json_string_value(json_object_get(sm, "ear.status"));
		bool ok = false;
		for (size_t i = 0; st && ear_statuses[i]; i++)
			ok = ok || strcmp(st, ear_statuses[i]) == 0;
		if (!ok) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, "ear.status", "submod \"%.32s\" has no valid ear.status",
				     name);
			goto out;
		}
	}
	*claims_out = claims;
	claims = NULL;
out:
	json_decref(claims);
	free(payload);
	return rc;
}

vt_status vt_ear_tee_pubkey(const json_t *claims, json_t **jwk_out, struct vt_err *err)
{
	static const char ptr[] = "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey";
	json_t *jwk = vt_json_pointer(claims, ptr);
	if (!json_is_object(jwk))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TOKEN, ptr, "token carries no TEE public key");
	*jwk_out = jwk;
	return VT_OK;
}
