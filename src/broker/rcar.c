/*
 * The RCAR handlers: POST /auth, POST /attest, GET /resource.
 *
 * /auth -> session + nonce; /attest -> verify evidence bound to the nonce
 * and TEE key, appraise against the attestation policy, issue an EAR;
 * /resource -> verify the EAR, evaluate the resource policy (default deny),
 * answer a JWE addressed to the TEE key.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "broker/broker_internal.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/token.h"
#include "veritee/verifier.h"

/* ---------------------------------------------------------------- auth */

void vt_broker_auth(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL;
	const char *version, *tee;
	if (vt_req_json_body(req, &body, &e) != VT_OK || vt_json_get_string(body, "version", &version, &e) != VT_OK ||
	    vt_json_get_string(body, "tee", &tee, &e) != VT_OK) {
		vt_broker_log_err(b, "auth", &e);
		vt_resp_err(r, "AttestationError", "Attestation error: RCAR handshake Auth failed", &e);
		goto out;
	}
	if (json_object_get(body, "extra-params") == NULL) {
		vt_resp_error(r, "AttestationError",
			      "Attestation error: RCAR handshake Auth failed: missing member \"extra-params\"");
		goto out;
	}
	if (strcmp(version, VT_KBS_VERSION) != 0) {
		char d[300];
		snprintf(d, sizeof(d),
			 "Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: "
			 "expect =%s while the request is %.64s",
			 VT_KBS_VERSION, version);
		vt_broker_log(b, "WARN", "auth: protocol version mismatch");
		vt_resp_error(r, "AttestationError", d);
		goto out;
	}
	const struct vt_tee *t = vt_tee_find(tee);
	if (t == NULL || !vt_verifier_accepts(b->verifier, t)) {
		char d[300];
		snprintf(d, sizeof(d), "Attestation error: RCAR handshake Auth failed: tee \"%.32s\" is not accepted here%s",
			 tee, t && (t->flags & VT_TEE_INSECURE) ? " (an INSECURE tee must be enabled in \"tees\")"
			      : t ? " (not configured in \"tees\")" : "");
		vt_broker_log(b, "WARN", "auth: tee not accepted");
		vt_resp_error(r, "AttestationError", d);
		goto out;
	}
	int64_t now = vt_broker_now(b);
	int64_t expires = now + b->cfg.session_timeout;
	char id[33], nonce[45];
	if (vt_session_create(b->sessions, t->name, req->client, now, expires, id, nonce, &e) != VT_OK) {
		vt_broker_log_err(b, "auth", &e);
		vt_resp_err(r, "AttestationError", "Attestation error: RCAR handshake Auth failed", &e);
		if (e.code == VT_E_LIMIT) /* every session is attested and live: come back later */
			r->status = 503;
		goto out;
	}
	char date[64];
	time_t tt = (time_t)expires;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (asprintf(&r->set_cookie, "%s=%s; Expires=%s", VT_KBS_COOKIE, id, date) < 0)
		r->set_cookie = NULL;
	vt_resp_json(r, 200, json_pack("{s:s, s:s}", "nonce", nonce, "extra-params", ""));
	atomic_fetch_add(&b->m.auth_ok, 1);
out:
	json_decref(body);
}

/* ------------------------------------------------------------- attest */

void vt_broker_attest(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL, *claims = NULL, *runtime = NULL, *annotated = NULL, *ext = NULL, *trust = NULL;
	struct vt_appraisal ap = {0};
	bool have_ap = false;
	char *token = NULL;
	const char *prefix = "Attestation error: RCAR handshake Attest failed";
	const char *sid = req->session_cookie;
	char tee_name[32], nonce[45];
	int64_t now = vt_broker_now(b);

	if (sid == NULL) {
		vt_resp_error(r, "AttestationError", "Attestation error: RCAR handshake Attest failed: no kbs-session-id cookie (call /auth first)");
		goto out;
	}
	if (vt_req_json_body(req, &body, &e) != VT_OK) {
		vt_broker_log_err(b, "attest", &e);
		vt_resp_err(r, "AttestationError", prefix, &e);
		goto out;
	}
	/* Claim the session: exactly one /attest may use its nonce.  A racing
	 * second /attest is refused here and removes nothing. */
	if (vt_session_claim(b->sessions, sid, now, tee_name, nonce, &e) != VT_OK) {
		vt_broker_log_err(b, "attest", &e);
		vt_resp_err(r, "AttestationError", prefix, &e);
		goto out;
	}
	/* From here on, any failure burns the session: a nonce is good for one
	 * attestation attempt only. */
	json_t *rt, *ev, *pk, *primary;
	const char *rt_nonce, *additional;
	if (vt_json_get_object(body, "runtime-data", &rt, &e) != VT_OK ||
	    vt_json_get_object(body, "tee-evidence", &ev, &e) != VT_OK ||
	    vt_json_get_string(rt, "nonce", &rt_nonce, &e) != VT_OK ||
	    vt_json_get_object(rt, "tee-pubkey", &pk, &e) != VT_OK ||
	    vt_json_get_string(ev, "additional_evidence", &additional, &e) != VT_OK)
		goto fail;
	primary = json_object_get(ev, "primary_evidence");
	if (primary == NULL) {
		vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "tee-evidence.primary_evidence", "missing primary_evidence");
		goto fail;
	}
	json_t *init = json_object_get(body, "init-data");
	if (init != NULL && !json_is_null(init)) {
		vt_fail(&e, VT_E_REJECTED, VT_STEP_BINDING, "init-data", "init-data binding is not supported for tee %s yet",
			tee_name);
		goto fail;
	}
	if (strcmp(rt_nonce, nonce) != 0) {
		vt_fail(&e, VT_E_REJECTED, VT_STEP_BINDING, "runtime-data.nonce", "nonce does not match this session's challenge");
		goto fail;
	}
	if (additional[0] != '\0') {
		vt_fail(&e, VT_E_REJECTED, VT_STEP_PARSE, "tee-evidence.additional_evidence",
			"device evidence is not supported yet; send \"\"");
		goto fail;
	}
	/* Cheap structural checks on the attacker-chosen key now; the key is
	 * imported only after the evidence has verified. */
	if (vt_kbs_check_tee_pubkey(pk, &e) != VT_OK)
		goto fail;
	uint8_t digest[48];
	if (vt_kbs_runtime_digest(pk, rt_nonce, additional, &runtime, digest, &e) != VT_OK)
		goto fail;

	const struct vt_tee *t = vt_tee_find(tee_name);
	struct vt_binding bind = {.report_data = digest, .report_data_size = sizeof(digest)};
	if (t == NULL || vt_verifier_verify(b->verifier, t, primary, &bind, now, req->client, &claims, &e) != VT_OK) {
		if (t == NULL)
			vt_fail(&e, VT_E_INTERNAL, VT_STEP_NONE, "tee", "tee vanished");
		goto fail;
	}
	EVP_PKEY *tee_key = NULL;
	vt_status krc = vt_jwk_to_key(pk, false, &tee_key, &e);
	EVP_PKEY_free(tee_key);
	if (krc != VT_OK)
		goto fail;

	/* Annotated evidence as Trustee shapes it: {<tee>: claims, report_data, runtime_data_claims}. */
	json_t *rd = json_incref(json_object_get(claims, "report_data"));
	json_object_del(claims, "report_data");
	annotated = json_pack("{s:O}", tee_name, claims);
	if (annotated == NULL) {
		json_decref(rd);
		vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto fail;
	}
	if (rd)
		json_object_set_new(annotated, "report_data", rd);
	json_object_set(annotated, "runtime_data_claims", runtime);

	/* Appraisal: policy default_<tee>, else default_cpu. */
	char pid[64];
	snprintf(pid, sizeof(pid), "default_%s", tee_name);
	struct vt_policy *pol = vt_broker_policy_acquire(b, pid);
	if (pol == NULL) {
		vt_broker_policy_release(b);
		snprintf(pid, sizeof(pid), "default_cpu");
		pol = vt_broker_policy_acquire(b, pid);
	}
	vt_status prc = pol ? vt_policy_evaluate(pol, annotated, NULL, vt_broker_refval, b, &ap, &e)
			    : vt_fail(&e, VT_E_INTERNAL, VT_STEP_POLICY, "policy", "no attestation policy");
	vt_broker_policy_release(b);
	if (prc != VT_OK)
		goto fail;
	have_ap = true;
	trust = vt_appraisal_trust_json(&ap);
	json_t *rules = vt_appraisal_rules_json(&ap);
	if (!b->cfg.explain_denials) {
		/* The token goes back to the client: without explain_denials it
		 * names rules and outcomes, never the reference values allowed. */
		size_t ri;
		json_t *rule;
		json_array_foreach(rules, ri, rule) {
			json_object_del(rule, "allowed");
			json_object_del(rule, "why");
		}
	}
	ext = json_pack("{s:o}", "veritee.appraisal", rules);
	if (t->flags & VT_TEE_INSECURE)
		json_object_set_new(ext, "veritee.insecure", json_true());
	struct vt_ear_params ep = {
		.policy_id = "default",
		.iat = now,
		.lifetime = b->cfg.token_lifetime,
		.status = vt_appraisal_status(&ap),
		.trust_vector = trust,
		.annotated = annotated,
		.extensions = ext,
	};
	if (vt_ear_issue(b->token_key, &ep, &token, &e) != VT_OK)
		goto fail;
	if (vt_session_attested(b->sessions, sid, now, token, &e) != VT_OK)
		goto fail;
	vt_broker_log(b, "INFO", "attest: tee=%s status=%s", tee_name, ep.status);
	atomic_fetch_add(&b->m.attest_ok, 1);
	if (asprintf(&r->set_cookie, "%s=%s", VT_KBS_COOKIE, sid) < 0)
		r->set_cookie = NULL;
	vt_resp_json(r, 200, json_pack("{s:s}", "token", token));
	goto out;
fail:
	vt_session_fail(b->sessions, sid);
	atomic_fetch_add(&b->m.attest_fail, 1);
	vt_broker_log_err(b, "attest", &e);
	vt_resp_err(r, "AttestationError", prefix, &e);
	/* Out of fetch capacity: not a verdict on the evidence, so say "retry". */
	if (e.code == VT_E_LIMIT && strncmp(e.field, "fetch.", 6) == 0)
		r->status = 503;
out:
	if (have_ap)
		vt_appraisal_free(&ap);
	free(token);
	json_decref(trust);
	json_decref(ext);
	json_decref(annotated);
	json_decref(runtime);
	json_decref(claims);
	json_decref(body);
}

/* ------------------------------------------------------------ resources */

/* Append to an explanation; a full buffer just truncates it. */
static void add_text(struct vt_buf *out, const char *s)
{
	struct vt_err e;
	if (vt_buf_append_str(out, s, &e) != VT_OK)
		return;
}

/* Pull the appraisal rules that failed out of the token, for explanations. */
static void append_appraisal_failures(const json_t *claims, struct vt_buf *out)
{
	json_t *rules = vt_json_pointer(claims, "/submods/cpu0/veritee.appraisal");
	size_t i;
	json_t *rule;
	bool first = true;
	json_array_foreach(rules, i, rule) {
		if (json_is_true(json_object_get(rule, "passed")))
			continue;
		char *seen = vt_json_compact(json_object_get(rule, "seen"));
		char *allowed = vt_json_compact(json_object_get(rule, "allowed"));
		char line[700];
		snprintf(line, sizeof(line), "%s rule \"%s\": claim %s = %.200s; allowed: %.200s%s%s",
			 first ? "; attestation appraisal:" : ";", json_string_value(json_object_get(rule, "rule")),
			 json_string_value(json_object_get(rule, "claim")), seen ? seen : "(absent)",
			 allowed ? allowed : "-", json_object_get(rule, "why") ? " — " : "",
			 json_object_get(rule, "why") ? json_string_value(json_object_get(rule, "why")) : "");
		free(seen);
		free(allowed);
		add_text(out, line);
		first = false;
	}
}

void vt_broker_resource_get(struct vt_broker *b, const struct vt_http_request *req, const char *path,
				struct vt_http_response *r)
{
	struct vt_err e = {0};
	char *token = NULL, *explain = NULL;
	json_t *claims = NULL, *jwe = NULL;
	struct vt_secret *secret = NULL;
	EVP_PKEY *tee_key = NULL;
	struct vt_appraisal ap = {0};
	bool have_ap = false;
	int64_t now = vt_broker_now(b);
	struct vt_buf detail;
	vt_buf_init(&detail, 8192);

	if (req->session_cookie && vt_session_token(b->sessions, req->session_cookie, now, &token, &e) == VT_OK) {
		/* cookie path */
	} else if (req->authorization && strncmp(req->authorization, "Bearer ", 7) == 0) {
		token = strdup(req->authorization + 7);
	}
	vt_err_clear(&e);
	if (token == NULL) {
		vt_resp_error(r, "TokenNotFound", "Attestation Token not found");
		goto out;
	}
	if (vt_ear_verify(token, b->token_key, now, 0, VT_EAR_REQUIRE_EXP | VT_EAR_REQUIRE_LOW_S, &claims, &e) != VT_OK) {
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "TokenVerifierError", "Token verification failed", &e);
		goto out;
	}
	struct vt_policy *pol = vt_broker_policy_acquire(b, "resource-policy");
	vt_status prc = pol ? vt_policy_evaluate(pol, claims, path, NULL, NULL, &ap, &e)
			    : vt_fail(&e, VT_E_INTERNAL, VT_STEP_POLICY, "policy", "no resource policy");
	vt_broker_policy_release(b);
	if (prc != VT_OK) {
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "PolicyEngineError", "Policy engine error", &e);
		goto out;
	}
	have_ap = true;
	if (!vt_appraisal_allows(&ap)) {
		atomic_fetch_add(&b->m.resource_denied, 1);
		vt_broker_log(b, "INFO", "resource %s: denied by policy%s", path, ap.count == 0 ? " (no rule applies)" : "");
		add_text(&detail, "Access denied by policy");
		if (ap.count == 0) {
			/* Default deny: say so even without explain_denials (it names
			 * no claim or reference value). */
			add_text(&detail, ": no rule of the resource policy applies to this resource (default deny)");
		} else if (b->cfg.explain_denials) {
			explain = vt_appraisal_explain(&ap);
			if (explain && explain[0]) {
				for (char *p = explain; *p; p++)
					if (*p == '\n')
						*p = ';';
				add_text(&detail, ": ");
				add_text(&detail, explain);
			}
			append_appraisal_failures(claims, &detail);
		}
		vt_resp_error(r, "PolicyDeny", detail.data ? (const char *)detail.data : "Access denied by policy");
		goto out;
	}
	if (vt_store_resource_get(b->store, path, &secret, &e) != VT_OK) {
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "PluginInternalError", "Plugin internal error", &e);
		goto out;
	}
	json_t *jwk;
	if (vt_ear_tee_pubkey(claims, &jwk, &e) != VT_OK || vt_jwk_to_key(jwk, false, &tee_key, &e) != VT_OK ||
	    vt_jwe_encrypt(tee_key, json_string_value(json_object_get(jwk, "alg")), secret->data, secret->len, &jwe,
			   &e) != VT_OK) {
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "JweError", "JWE error", &e);
		goto out;
	}
	atomic_fetch_add(&b->m.resource_released, 1);
	vt_broker_log(b, "INFO", "resource %s: released", path);
	vt_resp_json(r, 200, jwe);
	jwe = NULL;
out:
	if (have_ap)
		vt_appraisal_free(&ap);
	vt_buf_free(&detail);
	free(explain);
	free(token);
	json_decref(claims);
	json_decref(jwe);
	vt_secret_free(secret);
	EVP_PKEY_free(tee_key);
}

