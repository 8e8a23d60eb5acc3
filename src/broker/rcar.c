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

#include "broker/audit.h"
#include "broker/broker_internal.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/token.h"
#include "veritee/verifier.h"

/* ---------------------------------------------------------------- auth */

/*
 * extra-params of /auth (kbs-protocol.md §2, §14): the client's
 * supported-hash-algorithms and attestation-policy-selector.  Any other
 * member, and a non-object value (older clients send ""), is ignored.
 * Fills the session's hash and policy set; *challenge_xp is the challenge's
 * extra-params: "" unless the TEE needs a hash other than SHA-384.
 */
static vt_status auth_extra_params(struct vt_broker *b, const struct vt_tee *t, const json_t *xp,
				   struct vt_session_params *sp, json_t **challenge_xp, struct vt_err *err)
{
	const char *want = t->binding_hash ? t->binding_hash : "sha384";
	snprintf(sp->hash, sizeof(sp->hash), "%s", want);
	snprintf(sp->policy, sizeof(sp->policy), "default");
	if (json_is_object(xp)) {
		json_t *algs = json_object_get(xp, "supported-hash-algorithms");
		if (algs != NULL) {
			if (!json_is_array(algs) || json_array_size(algs) == 0 || json_array_size(algs) > 16)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "extra-params.supported-hash-algorithms",
					       "must be a list of 1 to 16 hash algorithm names");
			bool listed = false;
			size_t i;
			json_t *a;
			json_array_foreach(algs, i, a) {
				const char *name = json_string_value(a);
				if (!vt_kbs_hash_known(name))
					return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "extra-params.supported-hash-algorithms",
						       "unknown hash algorithm \"%.32s\" (known: sha256, sha384, sha512, sm3)",
						       name ? name : "(not a string)");
				listed = listed || strcmp(name, want) == 0;
			}
			if (!listed)
				return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "extra-params.supported-hash-algorithms",
					       "tee %s binds its runtime data with %s, which the client does not list", t->name,
					       want);
		}
		json_t *sel = json_object_get(xp, "attestation-policy-selector");
		if (sel != NULL) {
			const char *id = json_string_value(sel);
			const char *set = id ? json_string_value(json_object_get(b->cfg.policy_selectors, id)) : NULL;
			if (set == NULL)
				return vt_fail(err, VT_E_REJECTED, VT_STEP_POLICY, "extra-params.attestation-policy-selector",
					       "unknown attestation-policy-selector \"%.48s\" (not in the broker's "
					       "attestation_policy_selectors)",
					       id ? id : "(not a string)");
			snprintf(sp->policy, sizeof(sp->policy), "%s", set);
		}
	}
	*challenge_xp = strcmp(want, "sha384") == 0 ? json_string("") : json_pack("{s:s}", "selected-hash-algorithm", want);
	return *challenge_xp ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

void vt_broker_auth(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL, *cxp = NULL;
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
	if (t == NULL || !vt_verifier_accepts(b->verifier, t) || (t->flags & VT_TEE_DEVICE)) {
		char d[300];
		snprintf(d, sizeof(d), "Attestation error: RCAR handshake Auth failed: tee \"%.32s\" is not accepted here%s",
			 tee,
			 t && (t->flags & VT_TEE_DEVICE) ? " (a device: send its evidence as additional_evidence next to a "
							   "CPU TEE's)"
			 : t && (t->flags & VT_TEE_INSECURE) ? " (an INSECURE tee must be enabled in \"tees\")"
			 : t				      ? " (not configured in \"tees\")"
							      : "");
		vt_broker_log(b, "WARN", "auth: tee not accepted");
		vt_resp_error(r, "AttestationError", d);
		goto out;
	}
	struct vt_session_params sp = {0};
	snprintf(sp.tee, sizeof(sp.tee), "%s", t->name);
	if (auth_extra_params(b, t, json_object_get(body, "extra-params"), &sp, &cxp, &e) != VT_OK) {
		vt_broker_log_err(b, "auth", &e);
		vt_resp_err(r, "AttestationError", "Attestation error: RCAR handshake Auth failed", &e);
		goto out;
	}
	int64_t now = vt_broker_now(b);
	int64_t expires = now + b->cfg.session_timeout;
	char id[VT_SESSION_ID_MAX], nonce[45];
	if (vt_session_create(b->sessions, &sp, req->client, now, expires, id, nonce, &e) != VT_OK) {
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
	vt_resp_json(r, 200, json_pack("{s:s, s:O}", "nonce", nonce, "extra-params", cxp));
	atomic_fetch_add(&b->m.auth_ok, 1);
out:
	json_decref(cxp);
	json_decref(body);
}

/* ------------------------------------------------------------- attest */

/*
 * Appraise one submodule's annotated evidence with the first policy that
 * exists of `ids` (policy set first, then the defaults).  Builds the EAR
 * submod object {ear.status, ear.trustworthiness-vector,
 * ear.appraisal-policy-id, ear.veraison.annotated-evidence, veritee.*}.
 */
static vt_status appraise(struct vt_broker *b, const char *const *ids, size_t nids, json_t *annotated, bool insecure,
			  json_t **submod_out, char status_out[24], struct vt_request_note *note, struct vt_err *err)
{
	struct vt_appraisal ap = {0};
	struct vt_policy *pol = NULL;
	const char *used = NULL;
	for (size_t i = 0; i < nids && pol == NULL; i++) {
		if (ids[i] == NULL)
			continue;
		pol = vt_broker_policy_acquire(b, ids[i]);
		if (pol == NULL)
			vt_broker_policy_release(b);
		else
			used = ids[i];
	}
	vt_status rc = pol ? vt_policy_evaluate(pol, annotated, NULL, vt_broker_refval, b, &ap, err)
			   : vt_fail(err, VT_E_INTERNAL, VT_STEP_POLICY, "policy", "no attestation policy (tried %s)",
				     ids[0] ? ids[0] : "?");
	char used_id[64];
	snprintf(used_id, sizeof(used_id), "%s", used ? used : "");
	if (pol)
		vt_broker_policy_release(b);
	if (rc != VT_OK)
		return rc;
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
	const char *status = vt_appraisal_status(&ap);
	snprintf(status_out, 24, "%s", status);
	for (size_t i = 0; note != NULL && i < ap.count; i++) { /* the first rule that failed, for the admin record */
		if (ap.results[i].passed)
			continue;
		vt_obs_copy_ascii(note->rule, sizeof(note->rule), ap.results[i].name);
		char *ex = vt_appraisal_explain(&ap);
		if (ex != NULL)
			ex[strcspn(ex, "\n")] = '\0';
		vt_obs_copy_ascii(note->explanation, sizeof(note->explanation), ex);
		free(ex);
		break;
	}
	json_t *sm = json_pack("{s:s, s:o, s:s, s:O, s:o}", "ear.status", status, "ear.trustworthiness-vector",
			       vt_appraisal_trust_json(&ap), "ear.appraisal-policy-id", used_id,
			       "ear.veraison.annotated-evidence", annotated, "veritee.appraisal", rules);
	vt_appraisal_free(&ap);
	if (sm == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_TOKEN, "", "out of memory");
	if (insecure)
		json_object_set_new(sm, "veritee.insecure", json_true());
	*submod_out = sm;
	return VT_OK;
}

/*
 * Verify the additional (device) evidence: a JSON text mapping device TEE
 * names to their evidence.  Each device is verified against the device
 * runtime data (digest `dd`) and appraised as its own submod (gpu0, gpu1,
 * switch0, ...), added to `submods`.  The failing device is named.
 */
static vt_status verify_devices(struct vt_broker *b, const struct vt_session_params *sp, const char *additional,
				const uint8_t *dd, size_t dd_size, const json_t *device_runtime, int64_t now,
				const char *client, json_t *submods, struct vt_err *err)
{
	vt_status rc = VT_OK;
	json_t *map = NULL, *list = NULL;
	VT_GUARD(vt_json_parse(additional, strlen(additional), strlen(additional) + 1, &map, err));
	if (!json_is_object(map) || json_object_size(map) == 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tee-evidence.additional_evidence",
			     "additional_evidence must be \"\" or the JSON text of an object {\"<device tee>\": evidence}");
		goto out;
	}
	size_t total = 0;
	const char *name;
	json_t *value;
	json_object_foreach(map, name, value) {
		const struct vt_tee *dt = vt_tee_find(name);
		if (dt == NULL || !(dt->flags & VT_TEE_DEVICE) || dt->devices == NULL ||
		    !vt_verifier_accepts(b->verifier, dt)) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tee-evidence.additional_evidence",
				     "\"%.32s\" is not a device TEE accepted here%s", name,
				     dt && (dt->flags & VT_TEE_DEVICE) && (dt->flags & VT_TEE_INSECURE)
					     ? " (an INSECURE device is accepted with the TEE it uses)"
					     : "");
			goto out;
		}
		json_decref(list);
		list = NULL;
		size_t room = b->cfg.max_devices - total;
		if (room == 0) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "tee-evidence.additional_evidence",
				     "more than %zu devices (max_devices)", b->cfg.max_devices);
			goto out;
		}
		if ((rc = dt->devices(value, room, &list, err)) != VT_OK) {
			char ctx[64];
			snprintf(ctx, sizeof(ctx), "additional_evidence %.32s", name);
			vt_err_context(err, ctx);
			goto out;
		}
		size_t i;
		json_t *item;
		json_array_foreach(list, i, item) {
			const char *cls = json_string_value(json_object_get(item, "class"));
			char sub[40], ctx[160];
			/* gpu0, gpu1, switch0 ...: numbered per class over all device TEEs */
			size_t k = 0;
			do
				snprintf(sub, sizeof(sub), "%.24s%zu", cls ? cls : "device", k++);
			while (json_object_get(submods, sub) != NULL && k < 4096);
			snprintf(ctx, sizeof(ctx), "%.32s device %zu (%s)", name, i, sub);
			json_t *claims = NULL, *annotated = NULL, *sm = NULL;
			struct vt_binding bind = {.report_data = dd, .report_data_size = dd_size};
			rc = vt_verifier_verify(b->verifier, dt, json_object_get(item, "evidence"), &bind, now, client, &claims,
						err);
			if (rc != VT_OK) {
				vt_err_context(err, ctx);
				goto out;
			}
			json_object_del(claims, "report_data");
			annotated = json_pack("{s:o, s:O}", dt->name, claims, "runtime_data_claims", device_runtime);
			char set_class[128], set_tee[128], def_class[64], def_tee[64];
			snprintf(set_class, sizeof(set_class), "%s_%.24s", sp->policy, cls ? cls : "device");
			snprintf(set_tee, sizeof(set_tee), "%s_%s", sp->policy, dt->name);
			snprintf(def_class, sizeof(def_class), "default_%.24s", cls ? cls : "device");
			snprintf(def_tee, sizeof(def_tee), "default_%s", dt->name);
			const char *ids[] = {set_class, set_tee, def_class, def_tee};
			rc = annotated ? appraise(b, ids, 4, annotated, (dt->flags & VT_TEE_INSECURE) != 0, &sm,
						  (char[24]){0}, NULL, err)
				       : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
			json_decref(annotated);
			if (rc != VT_OK) {
				vt_err_context(err, ctx);
				goto out;
			}
			json_object_set_new(sm, "veritee.device", json_pack("{s:s, s:i}", "tee", dt->name, "index", (int)i));
			json_object_set_new(submods, sub, sm);
			total++;
		}
	}
out:
	json_decref(list);
	json_decref(map);
	return rc;
}

void vt_broker_attest(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL, *claims = NULL, *runtime = NULL, *dev_runtime = NULL, *annotated = NULL, *cpu = NULL,
	       *devices = NULL;
	struct vt_kbs_init_data idata = {0};
	char *token = NULL;
	const char *prefix = "Attestation error: RCAR handshake Attest failed";
	const char *sid = req->session_cookie;
	struct vt_session_params sp;
	char nonce[45];
	int64_t now = vt_broker_now(b);
	struct vt_request_note *note = vt_note(r);
	if (note != NULL)
		note->attest = true;

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
	if (vt_session_claim(b->sessions, sid, now, &sp, nonce, &e) != VT_OK) {
		vt_broker_log_err(b, "attest", &e);
		vt_resp_err(r, "AttestationError", prefix, &e);
		goto out;
	}
	if (note != NULL && vt_tee_find(sp.tee) != NULL)
		note->tee = vt_tee_find(sp.tee)->name; /* the descriptor's name: a bounded label */
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
	if (strcmp(rt_nonce, nonce) != 0) {
		vt_fail(&e, VT_E_REJECTED, VT_STEP_BINDING, "runtime-data.nonce", "nonce does not match this session's challenge");
		goto fail;
	}
	const struct vt_tee *t = vt_tee_find(sp.tee);
	if (t == NULL) {
		vt_fail(&e, VT_E_INTERNAL, VT_STEP_NONE, "tee", "tee vanished");
		goto fail;
	}

	/* init-data: parsed before any costly step; its digest is checked
	 * against the TEE's field once the evidence verified. */
	json_t *init = json_object_get(body, "init-data");
	bool have_init = init != NULL && !json_is_null(init);
	if (have_init) {
		if (t->init_data == VT_INIT_DATA_NONE) {
			vt_fail(&e, VT_E_REJECTED, VT_STEP_BINDING, "init-data", "tee %s has no init-data field: send no init-data",
				t->name);
			goto fail;
		}
		if (vt_kbs_init_data_parse(init, &idata, &e) != VT_OK)
			goto fail;
	}
	/* Cheap structural checks on the attacker-chosen key now; the key is
	 * imported only after the evidence has verified. */
	if (vt_kbs_check_tee_pubkey(pk, &e) != VT_OK)
		goto fail;
	const EVP_MD *md = vt_kbs_hash_md(sp.hash);
	uint8_t digest[64], dd[64];
	size_t digest_size = 0, dd_size = 0;
	if (vt_kbs_runtime_digest_md(md, pk, rt_nonce, additional, &runtime, digest, &digest_size, &e) != VT_OK)
		goto fail;

	/* The primary evidence binds the runtime data, which holds the whole
	 * additional evidence text: verified first, it vouches for the devices'. */
	struct vt_binding bind = {.report_data = digest, .report_data_size = digest_size};
	if (vt_verifier_verify(b->verifier, t, primary, &bind, now, req->client, &claims, &e) != VT_OK)
		goto fail;
	if (have_init && vt_init_data_check(t, claims, idata.digest, idata.digest_size, &e) != VT_OK)
		goto fail;

	devices = json_object();
	if (devices == NULL) {
		vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto fail;
	}
	if (additional[0] != '\0') {
		if (vt_kbs_runtime_digest_md(md, pk, rt_nonce, NULL, &dev_runtime, dd, &dd_size, &e) != VT_OK ||
		    verify_devices(b, &sp, additional, dd, dd_size, dev_runtime, now, req->client, devices, &e) != VT_OK)
			goto fail;
	}
	EVP_PKEY *tee_key = NULL;
	vt_status krc = vt_jwk_to_key(pk, false, &tee_key, &e);
	EVP_PKEY_free(tee_key);
	if (krc != VT_OK)
		goto fail;

	/* Annotated evidence as Trustee shapes it: {<tee>: claims, report_data,
	 * runtime_data_claims, init_data, init_data_claims}. */
	json_t *rd = json_incref(json_object_get(claims, "report_data"));
	json_object_del(claims, "report_data");
	annotated = json_pack("{s:O}", sp.tee, claims);
	if (annotated == NULL) {
		json_decref(rd);
		vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto fail;
	}
	if (rd)
		json_object_set_new(annotated, "report_data", rd);
	if (!b->cfg.verbose_token && additional[0] != '\0') {
		/* The raw device evidence stays out of the token (8 GPUs would not
		 * fit a Bearer header); its digest stays in. */
		uint8_t h[48];
		size_t hn = 0;
		char *hex = NULL;
		if (vt_digest(EVP_sha384(), additional, strlen(additional), h, &hn, &e) != VT_OK ||
		    (hex = vt_hex_encode(h, hn)) == NULL)
			goto fail;
		json_object_del(runtime, "additional-evidence");
		json_object_set_new(runtime, "additional-evidence-sha384", json_string(hex));
		free(hex);
	}
	json_object_set(annotated, "runtime_data_claims", runtime);
	if (have_init) {
		char *hex = vt_hex_encode(idata.digest, idata.digest_size);
		json_object_set_new(annotated, "init_data", json_string(hex ? hex : ""));
		free(hex);
		json_object_set(annotated, "init_data_claims", idata.claims);
		if (idata.agent_policy)
			json_object_set(annotated, "agent_policy_claims", idata.agent_policy);
	}

	/* Appraisal: the selected policy set's <set>_<tee>, <set>_cpu, then
	 * default_<tee>, default_cpu. */
	char set_tee[128], set_cpu[128], def_tee[64];
	snprintf(set_tee, sizeof(set_tee), "%s_%s", sp.policy, sp.tee);
	snprintf(set_cpu, sizeof(set_cpu), "%s_cpu", sp.policy);
	snprintf(def_tee, sizeof(def_tee), "default_%s", sp.tee);
	const char *ids[] = {set_tee, set_cpu, def_tee, "default_cpu"};
	char status[24];
	if (appraise(b, ids, 4, annotated, (t->flags & VT_TEE_INSECURE) != 0, &cpu, status, note, &e) != VT_OK)
		goto fail;
	struct vt_ear_params ep = {
		.policy_id = json_string_value(json_object_get(cpu, "ear.appraisal-policy-id")),
		.iat = now,
		.lifetime = b->cfg.token_lifetime,
		.status = status,
		.trust_vector = json_object_get(cpu, "ear.trustworthiness-vector"),
		.annotated = annotated,
		.more_submods = json_object_size(devices) ? devices : NULL,
		.signer_jwk = b->token_jwk,
		.signer_kid = b->token_kid,
	};
	json_t *ext = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(cpu, k, v) {
		if (strncmp(k, "veritee.", 8) == 0)
			json_object_set(ext, k, v);
	}
	ep.extensions = ext;
	vt_status irc = vt_ear_issue(b->token_key, &ep, &token, &e);
	json_decref(ext);
	if (irc != VT_OK)
		goto fail;
	if (vt_session_attested(b->sessions, sid, now, token, &e) != VT_OK)
		goto fail;
	vt_broker_log(b, "INFO", "attest: tee=%s status=%s devices=%zu", sp.tee, ep.status, json_object_size(devices));
	atomic_fetch_add(&b->m.attest_ok, 1);
	if (note != NULL) {
		note->ok = true;
		snprintf(note->status, sizeof(note->status), "%s", ep.status);
	}
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
	vt_kbs_init_data_free(&idata);
	free(token);
	json_decref(cpu);
	json_decref(devices);
	json_decref(annotated);
	json_decref(runtime);
	json_decref(dev_runtime);
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

/* Pull the appraisal rules that failed out of the token, for explanations:
 * every submod (cpu0, gpu0, ...), each failure named with its submod. */
static void append_appraisal_failures(const json_t *claims, struct vt_buf *out)
{
	json_t *submods = json_object_get(claims, "submods");
	const char *sub;
	json_t *sm;
	bool first = true;
	json_object_foreach(submods, sub, sm) {
		json_t *rules = json_object_get(sm, "veritee.appraisal");
		size_t i;
		json_t *rule;
		json_array_foreach(rules, i, rule) {
			if (json_is_true(json_object_get(rule, "passed")))
				continue;
			char *seen = vt_json_compact(json_object_get(rule, "seen"));
			char *allowed = vt_json_compact(json_object_get(rule, "allowed"));
			char line[760];
			snprintf(line, sizeof(line), "%s %.32s rule \"%s\": claim %s = %.200s; allowed: %.200s%s%s",
				 first ? "; attestation appraisal:" : ";", sub,
				 json_string_value(json_object_get(rule, "rule")),
				 json_string_value(json_object_get(rule, "claim")), seen ? seen : "(absent)",
				 allowed ? allowed : "-", json_object_get(rule, "why") ? " — " : "",
				 json_object_get(rule, "why") ? json_string_value(json_object_get(rule, "why")) : "");
			free(seen);
			free(allowed);
			add_text(out, line);
			first = false;
		}
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
	bool have_ap = false, prefetched = false;
	struct vt_store_sealed sealed = {0};
	int64_t now = vt_broker_now(b);
	struct vt_buf detail;
	vt_buf_init(&detail, 8192);

	/* With replicas, the token and the (still sealed) resource come in one
	 * round trip; the resource is opened only if the policy allows. */
	if (req->session_cookie && vt_session_token_resource(b->sessions, req->session_cookie, now, path, &token, &sealed,
							     &prefetched, &e) == VT_OK) {
		/* cookie path */
	} else if (e.code == VT_E_UNAVAILABLE) { /* the session store is down: 503, not "no token" */
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "PluginInternalError", "Session store unavailable", &e);
		goto out;
	} else if (req->authorization && strncmp(req->authorization, "Bearer ", 7) == 0) {
		token = strdup(req->authorization + 7);
	}
	vt_err_clear(&e);
	/* Refusals of requests without a token that verifies are not in the
	 * release log (docs/broker.md, "Release log"): anyone can send them,
	 * and each entry costs a durable write and a signature.  They are
	 * counted in veritee_resource_requests_total{result="denied"}. */
	if (token == NULL) {
		atomic_fetch_add(&b->m.resource_denied, 1);
		vt_resp_error(r, "TokenNotFound", "Attestation Token not found");
		goto out;
	}
	if (vt_ear_verify(token, b->token_key, now, 0, VT_EAR_REQUIRE_EXP | VT_EAR_REQUIRE_LOW_S, &claims, &e) != VT_OK) {
		atomic_fetch_add(&b->m.resource_denied, 1);
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "TokenVerifierError", "Token verification failed", &e);
		goto out;
	}
	struct vt_policy *pol = vt_broker_policy_acquire(b, "resource-policy");
	vt_status prc = pol ? vt_policy_evaluate(pol, claims, path, NULL, NULL, &ap, &e)
			    : vt_fail(&e, VT_E_INTERNAL, VT_STEP_POLICY, "policy", "no resource policy");
	vt_broker_policy_release(b);
	if (prc != VT_OK) {
		vt_broker_audit_refusal(b, req, token, claims, path, "error", VT_STEP_POLICY);
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "PolicyEngineError", "Policy engine error", &e);
		goto out;
	}
	have_ap = true;
	if (!vt_appraisal_allows(&ap)) {
		vt_broker_audit_refusal(b, req, token, claims, path, "denied", VT_STEP_POLICY);
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
	if ((prefetched ? vt_store_resource_open(b->store, path, &sealed, &secret, &e)
			: vt_store_resource_get(b->store, path, &secret, &e)) != VT_OK) {
		vt_broker_audit_refusal(b, req, token, claims, path, "error", e.step);
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "PluginInternalError", "Plugin internal error", &e);
		goto out;
	}
	json_t *jwk;
	if (vt_ear_tee_pubkey(claims, &jwk, &e) != VT_OK || vt_jwk_to_key(jwk, false, &tee_key, &e) != VT_OK ||
	    vt_jwe_encrypt(tee_key, json_string_value(json_object_get(jwk, "alg")), secret->data, secret->len, &jwe,
			   &e) != VT_OK) {
		vt_broker_audit_refusal(b, req, token, claims, path, "error", e.step);
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "JweError", "JWE error", &e);
		goto out;
	}
	/* Fail closed: no release without its log entry. */
	if (vt_broker_audit_release(b, req, token, claims, path, &e) != VT_OK) {
		vt_broker_log_err(b, "resource", &e);
		vt_resp_err(r, "PluginInternalError", "Release log error: the resource is not released", &e);
		goto out;
	}
	atomic_fetch_add(&b->m.resource_released, 1);
	vt_broker_log(b, "INFO", "resource %s: released", path);
	vt_resp_json(r, 200, jwe);
	jwe = NULL;
out:
	if (vt_note(r) != NULL) {
		struct vt_request_note *note = vt_note(r);
		note->outcome = r->status == 200 ? "released" : "denied";
		for (size_t i = 0; have_ap && i < ap.count; i++) {
			if (!ap.results[i].passed) {
				vt_obs_copy_ascii(note->rule, sizeof(note->rule), ap.results[i].name);
				break;
			}
		}
	}
	if (have_ap)
		vt_appraisal_free(&ap);
	vt_store_sealed_free(&sealed);
	vt_buf_free(&detail);
	free(explain);
	free(token);
	json_decref(claims);
	json_decref(jwe);
	vt_secret_free(secret);
	EVP_PKEY_free(tee_key);
}

