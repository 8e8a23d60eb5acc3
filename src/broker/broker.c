/*
 * The key broker: KBS protocol 0.4.0 request handling, independent of the
 * HTTP transport (server.c puts it behind libmicrohttpd).
 *
 * Flow: POST /auth -> session + nonce; POST /attest -> verify evidence bound
 * to the nonce and TEE key, appraise against the attestation policy, issue an
 * EAR; GET /resource/... -> verify the EAR, evaluate the resource policy,
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
#include "veritee/fetch.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/token.h"
#include "veritee/verifier.h"

/* ------------------------------------------------------------ defaults */

/* Each TEE's default policy lives in its folder (vt_tee.default_policy). */
static const char default_cpu_policy[] =
	"{\"version\":1,\"id\":\"default_cpu\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},\"rules\":[]}";

static const char default_resource_policy[] =
	"{\"version\":1,\"id\":\"resource-policy\",\"rules\":["
	"{\"name\":\"attestation-affirming\",\"claim\":\"/submods/cpu0/ear.status\",\"equals\":\"affirming\"}"
	"]}";

/* ------------------------------------------------------------- logging */

void vt_broker_log(struct vt_broker *b, const char *level, const char *fmt, ...)
{
	if (b->log_quiet)
		return;
	char ts[32];
	vt_time_format_rfc3339(vt_now(), ts, sizeof(ts));
	char raw[1024], line[4 * sizeof(raw)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* One event, one line: fields may carry client bytes (a decoded URL),
	 * so control bytes are escaped and cannot forge log lines. */
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			o += (size_t)snprintf(line + o, sizeof(line) - o, "\\x%02x", *p);
		else
			line[o++] = (char)*p;
	}
	line[o] = '\0';
	FILE *f = b->log_stream ? b->log_stream : stderr;
	pthread_mutex_lock(&b->log_lock);
	fprintf(f, "%s%s %s %s\n", b->log_prefix ? b->log_prefix : "", ts, level, line);
	fflush(f);
	pthread_mutex_unlock(&b->log_lock);
}

/* The error record as a log line: status, step and field only.  The detail
 * may quote evidence values, which do not belong in logs. */
static void log_err(struct vt_broker *b, const char *what, const struct vt_err *e)
{
	vt_broker_log(b, "WARN", "%s: %s step=%s field=%s", what, vt_status_name(e->code), vt_step_name(e->step),
		      e->field[0] ? e->field : "-");
}

/* ------------------------------------------------------------- helpers */

int64_t vt_broker_now(struct vt_broker *b)
{
	return b->clock ? b->clock(b->clock_ctx) : vt_now();
}

void vt_broker_set_clock(struct vt_broker *b, int64_t (*now)(void *), void *ctx)
{
	b->clock = now;
	b->clock_ctx = ctx;
}

void vt_broker_set_log(struct vt_broker *b, bool quiet, const char *prefix, FILE *stream)
{
	b->log_quiet = quiet;
	b->log_prefix = prefix;
	b->log_stream = stream;
}

size_t vt_broker_session_count(struct vt_broker *b)
{
	return vt_sessions_count(b->sessions);
}

static void respond_json(struct vt_http_response *r, int status, json_t *body)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = body ? vt_json_compact(body) : NULL;
	r->body_size = r->body ? strlen(r->body) : 0;
	json_decref(body);
}

static void respond_empty(struct vt_http_response *r)
{
	r->status = 200;
	r->content_type = "text/plain";
	r->body = NULL;
	r->body_size = 0;
}

/* KBS ErrorInformation; 404 for path errors, 401 for everything else (as
 * Trustee), 413 for oversized bodies. */
static void respond_error(struct vt_http_response *r, const char *variant, const char *detail)
{
	int status = 401;
	if (strcmp(variant, "InvalidRequestPath") == 0 || strcmp(variant, "PluginNotFound") == 0)
		status = 404;
	else if (strcmp(variant, "PayloadTooLarge") == 0)
		status = 413;
	char type[160];
	snprintf(type, sizeof(type), "%s%s", VT_KBS_ERROR_BASE, variant);
	respond_json(r, status, json_pack("{s:s, s:s}", "type", type, "detail", detail));
}

static void respond_err(struct vt_http_response *r, const char *variant, const char *prefix, const struct vt_err *e)
{
	char buf[900];
	snprintf(buf, sizeof(buf), "%s: %s (step %s%s%s)", prefix, e->detail[0] ? e->detail : vt_status_name(e->code),
		 vt_step_name(e->step), e->field[0] ? ", field " : "", e->field);
	respond_error(r, variant, buf);
}

void vt_http_response_free(struct vt_http_response *r)
{
	free(r->body);
	free(r->set_cookie);
	memset(r, 0, sizeof(*r));
}

static vt_status parse_body(const struct vt_http_request *req, json_t **out, struct vt_err *err)
{
	vt_status rc = vt_json_parse((const char *)req->body, req->body_size, 1u << 26, out, err);
	if (rc == VT_OK && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "body", "request body must be a JSON object");
	}
	return rc;
}

/* -------------------------------------------------------------- policy */

struct refctx {
	struct vt_broker *b;
};

static json_t *refval_lookup(void *ctx, const char *name)
{
	struct vt_broker *b = ((struct refctx *)ctx)->b;
	pthread_rwlock_rdlock(&b->lock);
	json_t *v = json_incref(json_object_get(b->refvals, name));
	pthread_rwlock_unlock(&b->lock);
	return v;
}

/* Find a policy; the caller holds b->lock. */
static struct vt_policy_slot *policy_slot(struct vt_broker *b, const char *id)
{
	for (size_t i = 0; i < VT_MAX_POLICIES; i++)
		if (b->policies[i].policy && strcmp(b->policies[i].id, id) == 0)
			return &b->policies[i];
	return NULL;
}

/* Take the read lock and return the policy `id` (or NULL).  The caller must
 * call policy_release whatever the result, after it is done with it. */
static struct vt_policy *policy_acquire(struct vt_broker *b, const char *id)
{
	pthread_rwlock_rdlock(&b->lock);
	struct vt_policy_slot *s = policy_slot(b, id);
	return s ? s->policy : NULL;
}

static void policy_release(struct vt_broker *b)
{
	pthread_rwlock_unlock(&b->lock);
}

/* Whether `id` can be installed (it exists, or a slot is free). */
static bool policy_has_room(struct vt_broker *b, const char *id)
{
	pthread_rwlock_rdlock(&b->lock);
	bool ok = policy_slot(b, id) != NULL;
	for (size_t i = 0; !ok && i < VT_MAX_POLICIES; i++)
		ok = b->policies[i].policy == NULL;
	pthread_rwlock_unlock(&b->lock);
	return ok;
}

/* Install a parsed policy under `id`, replacing (and freeing) an older one.
 * Takes ownership of p. */
static vt_status policy_install(struct vt_broker *b, const char *id, struct vt_policy *p, struct vt_err *err)
{
	vt_status rc = VT_OK;
	pthread_rwlock_wrlock(&b->lock);
	struct vt_policy_slot *s = policy_slot(b, id);
	for (size_t i = 0; s == NULL && i < VT_MAX_POLICIES; i++)
		if (b->policies[i].policy == NULL)
			s = &b->policies[i];
	if (s == NULL || strlen(id) >= sizeof(s->id)) {
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_POLICY, "policy_id", "too many policies (max %d)", VT_MAX_POLICIES);
		vt_policy_free(p);
	} else {
		vt_policy_free(s->policy);
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->policy = p;
	}
	pthread_rwlock_unlock(&b->lock);
	return rc;
}

/* ---------------------------------------------------------------- auth */

static void handle_auth(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL;
	const char *version, *tee;
	if (parse_body(req, &body, &e) != VT_OK || vt_json_get_string(body, "version", &version, &e) != VT_OK ||
	    vt_json_get_string(body, "tee", &tee, &e) != VT_OK) {
		log_err(b, "auth", &e);
		respond_err(r, "AttestationError", "Attestation error: RCAR handshake Auth failed", &e);
		goto out;
	}
	if (json_object_get(body, "extra-params") == NULL) {
		respond_error(r, "AttestationError",
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
		respond_error(r, "AttestationError", d);
		goto out;
	}
	const struct vt_tee *t = vt_tee_find(tee);
	if (t == NULL || !vt_verifier_accepts(b->verifier, t)) {
		char d[300];
		snprintf(d, sizeof(d), "Attestation error: RCAR handshake Auth failed: tee \"%.32s\" is not accepted here%s",
			 tee, t && (t->flags & VT_TEE_INSECURE) ? " (an INSECURE tee must be enabled in \"tees\")"
			      : t ? " (not configured in \"tees\")" : "");
		vt_broker_log(b, "WARN", "auth: tee not accepted");
		respond_error(r, "AttestationError", d);
		goto out;
	}
	int64_t now = vt_broker_now(b);
	int64_t expires = now + b->cfg.session_timeout;
	char id[33], nonce[45];
	if (vt_session_create(b->sessions, t->name, req->client, now, expires, id, nonce, &e) != VT_OK) {
		log_err(b, "auth", &e);
		respond_err(r, "AttestationError", "Attestation error: RCAR handshake Auth failed", &e);
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
	respond_json(r, 200, json_pack("{s:s, s:s}", "nonce", nonce, "extra-params", ""));
	atomic_fetch_add(&b->m.auth_ok, 1);
out:
	json_decref(body);
}

/* ------------------------------------------------------------- attest */

static void handle_attest(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
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
		respond_error(r, "AttestationError", "Attestation error: RCAR handshake Attest failed: no kbs-session-id cookie (call /auth first)");
		goto out;
	}
	if (parse_body(req, &body, &e) != VT_OK) {
		log_err(b, "attest", &e);
		respond_err(r, "AttestationError", prefix, &e);
		goto out;
	}
	/* Claim the session: exactly one /attest may use its nonce.  A racing
	 * second /attest is refused here and removes nothing. */
	if (vt_session_claim(b->sessions, sid, now, tee_name, nonce, &e) != VT_OK) {
		log_err(b, "attest", &e);
		respond_err(r, "AttestationError", prefix, &e);
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
	struct vt_policy *pol = policy_acquire(b, pid);
	if (pol == NULL) {
		policy_release(b);
		snprintf(pid, sizeof(pid), "default_cpu");
		pol = policy_acquire(b, pid);
	}
	struct refctx rc_ctx = {b};
	vt_status prc = pol ? vt_policy_evaluate(pol, annotated, NULL, refval_lookup, &rc_ctx, &ap, &e)
			    : vt_fail(&e, VT_E_INTERNAL, VT_STEP_POLICY, "policy", "no attestation policy");
	policy_release(b);
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
	respond_json(r, 200, json_pack("{s:s}", "token", token));
	goto out;
fail:
	vt_session_fail(b->sessions, sid);
	atomic_fetch_add(&b->m.attest_fail, 1);
	log_err(b, "attest", &e);
	respond_err(r, "AttestationError", prefix, &e);
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

/* ------------------------------------------------------------ admin auth */

/* Admin requests carry "Authorization: Bearer <JWT>" signed by one of the
 * configured admin keys.  There is no allow-all mode.  A token is one
 * request's authorisation, not a session: "exp" and "jti" are required, the
 * jti is single-use (kept in the store until exp), the lifetime is capped,
 * nbf/iat/aud are checked when present, and the request (method, path, body
 * digest) when the token names it. */
#define ADMIN_CLOCK_SKEW 60

static bool aud_accepted(struct vt_broker *b, const char *aud)
{
	for (size_t i = 0; i < b->cfg.admin_audience_count; i++)
		if (strcmp(b->cfg.admin_audience[i], aud) == 0)
			return true;
	if (b->cfg.admin_audience_count == 0)
		for (size_t i = 0; i < b->origin_count; i++)
			if (strcmp(b->origin[i], aud) == 0)
				return true;
	return false;
}

static vt_status admin_claims_check(struct vt_broker *b, const struct vt_http_request *req, const json_t *claims,
				    int64_t now, struct vt_err *err)
{
	json_t *exp = json_object_get(claims, "exp"), *iat = json_object_get(claims, "iat");
	json_t *nbf = json_object_get(claims, "nbf"), *aud = json_object_get(claims, "aud");
	const char *jti = json_string_value(json_object_get(claims, "jti"));
	if (!json_is_integer(exp) || json_integer_value(exp) <= now)
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "exp", "admin token has no \"exp\" or has expired");
	if (jti == NULL || strlen(jti) < 16 || strlen(jti) > 128)
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "jti",
			       "admin token needs a unique \"jti\" of 16..128 characters (one token per request)");
	for (const char *c = jti; *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "jti", "\"jti\" must be printable ASCII");
	if (iat != NULL && (!json_is_integer(iat) || json_integer_value(iat) > now + ADMIN_CLOCK_SKEW))
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "iat", "admin token issued in the future");
	if (nbf != NULL && (!json_is_integer(nbf) || json_integer_value(nbf) > now + ADMIN_CLOCK_SKEW))
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "nbf", "admin token not valid yet (nbf)");
	/* Lifetime: from iat when given, else from now.  Subtraction only on
	 * values already known to be ordered. */
	int64_t from = iat ? json_integer_value(iat) : now;
	if (json_integer_value(exp) - from > b->cfg.admin_token_max_lifetime)
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "exp",
			       "admin token lives longer than admin_token_max_lifetime_seconds (%lld s)",
			       (long long)b->cfg.admin_token_max_lifetime);
	if (aud != NULL) {
		bool ok = false;
		if (json_is_string(aud)) {
			ok = aud_accepted(b, json_string_value(aud));
		} else if (json_is_array(aud)) {
			size_t i;
			json_t *a;
			json_array_foreach(aud, i, a) ok = ok || (json_is_string(a) && aud_accepted(b, json_string_value(a)));
		}
		if (!ok)
			return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "aud", "admin token is for another audience (aud)");
	}
	json_t *htm = json_object_get(claims, "htm"), *htu = json_object_get(claims, "htu");
	json_t *bd = json_object_get(claims, "body_sha256");
	if (htm != NULL && (!json_is_string(htm) || strcmp(json_string_value(htm), req->method ? req->method : "") != 0))
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "htm", "admin token is bound to another HTTP method");
	if (htu != NULL && (!json_is_string(htu) || strcmp(json_string_value(htu), req->path ? req->path : "") != 0))
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "htu", "admin token is bound to another request path");
	if (bd != NULL) {
		uint8_t d[32];
		size_t dl = 0;
		char *hex = NULL;
		bool ok = json_is_string(bd) && vt_digest(EVP_sha256(), req->body, req->body_size, d, &dl, NULL) == VT_OK &&
			  (hex = vt_hex_encode(d, dl)) != NULL && strcasecmp(hex, json_string_value(bd)) == 0;
		free(hex);
		if (!ok)
			return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "body_sha256",
				       "admin token is bound to another request body");
	}
	/* Last, once everything else holds: burn the jti (in the store, so it
	 * holds across restarts and replicas). */
	return vt_store_jti_use(b->store, jti, json_integer_value(exp), now, err);
}

static vt_status admin_check(struct vt_broker *b, const struct vt_http_request *req, struct vt_err *err)
{
	static const char *const algs[] = {"ES256", "ES384", "EdDSA", "RS256", "PS256", NULL};
	const char *h = req->authorization;
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "Authorization", "admin endpoint needs Authorization: Bearer <admin JWT>");
	if (b->admin_key_count == 0)
		return vt_fail(err, VT_E_AUTH, VT_STEP_CONFIG, "admin_public_keys", "no admin keys configured: admin API disabled");
	int64_t now = vt_broker_now(b);
	for (size_t i = 0; i < b->admin_key_count; i++) {
		uint8_t *payload = NULL;
		size_t n = 0;
		struct vt_err e2 = {0};
		if (vt_jws_verify(h + 7, b->admin_keys[i], algs, NULL, &payload, &n, &e2) != VT_OK)
			continue;
		json_t *claims = NULL;
		vt_status rc = vt_json_parse((const char *)payload, n, 1u << 16, &claims, err);
		free(payload);
		if (rc != VT_OK || !json_is_object(claims)) {
			json_decref(claims);
			return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "admin token", "admin token payload is not a JSON object");
		}
		rc = admin_claims_check(b, req, claims, now, err);
		json_decref(claims);
		return rc;
	}
	return vt_fail(err, VT_E_AUTH, VT_STEP_SIGNATURE, "Authorization", "admin token is not signed by a configured admin key");
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

static void handle_resource_get(struct vt_broker *b, const struct vt_http_request *req, const char *path,
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
		respond_error(r, "TokenNotFound", "Attestation Token not found");
		goto out;
	}
	if (vt_ear_verify(token, b->token_key, now, 0, VT_EAR_REQUIRE_EXP | VT_EAR_REQUIRE_LOW_S, &claims, &e) != VT_OK) {
		log_err(b, "resource", &e);
		respond_err(r, "TokenVerifierError", "Token verification failed", &e);
		goto out;
	}
	struct vt_policy *pol = policy_acquire(b, "resource-policy");
	vt_status prc = pol ? vt_policy_evaluate(pol, claims, path, NULL, NULL, &ap, &e)
			    : vt_fail(&e, VT_E_INTERNAL, VT_STEP_POLICY, "policy", "no resource policy");
	policy_release(b);
	if (prc != VT_OK) {
		log_err(b, "resource", &e);
		respond_err(r, "PolicyEngineError", "Policy engine error", &e);
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
		respond_error(r, "PolicyDeny", detail.data ? (const char *)detail.data : "Access denied by policy");
		goto out;
	}
	if (vt_store_resource_get(b->store, path, &secret, &e) != VT_OK) {
		log_err(b, "resource", &e);
		respond_err(r, "PluginInternalError", "Plugin internal error", &e);
		goto out;
	}
	json_t *jwk;
	if (vt_ear_tee_pubkey(claims, &jwk, &e) != VT_OK || vt_jwk_to_key(jwk, false, &tee_key, &e) != VT_OK ||
	    vt_jwe_encrypt(tee_key, json_string_value(json_object_get(jwk, "alg")), secret->data, secret->len, &jwe,
			   &e) != VT_OK) {
		log_err(b, "resource", &e);
		respond_err(r, "JweError", "JWE error", &e);
		goto out;
	}
	atomic_fetch_add(&b->m.resource_released, 1);
	vt_broker_log(b, "INFO", "resource %s: released", path);
	respond_json(r, 200, jwe);
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

/* --------------------------------------------------------- admin handlers */

static vt_status decode_policy_field(const json_t *body, char **text, size_t *len, struct vt_err *err)
{
	const char *b64;
	vt_status rc = vt_json_get_string(body, "policy", &b64, err);
	if (rc != VT_OK)
		return rc;
	uint8_t *p;
	rc = vt_b64url_decode(b64, strlen(b64), &p, len, err);
	if (rc != VT_OK)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "policy", "\"policy\" must be base64url without padding");
	*text = (char *)p;
	return VT_OK;
}

static void handle_set_policy(struct vt_broker *b, const struct vt_http_request *req, bool attestation,
			      struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL;
	char *text = NULL;
	size_t len = 0;
	struct vt_policy *p = NULL;
	const char *id = "resource-policy";
	if (parse_body(req, &body, &e) != VT_OK)
		goto bad;
	if (attestation && vt_json_get_string(body, "policy_id", &id, &e) != VT_OK)
		goto bad;
	if (attestation && (strncmp(id, "default_", 8) != 0 || strlen(id) > 48)) {
		vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "policy_id",
			"policy_id must be default_<tee> (e.g. default_sim) or default_cpu");
		goto bad;
	}
	if (decode_policy_field(body, &text, &len, &e) != VT_OK)
		goto bad;
	if (vt_policy_parse(text, len, &p, &e) != VT_OK) {
		log_err(b, "set policy", &e);
		respond_err(r, "ParsePolicyError", "Policy parse error", &e);
		goto out;
	}
	/* Store first: a policy that could not be stored never goes live (and
	 * one that could not go live is not stored). */
	if (!policy_has_room(b, id)) {
		vt_fail(&e, VT_E_LIMIT, VT_STEP_POLICY, "policy_id", "too many policies (max %d)", VT_MAX_POLICIES);
		goto bad;
	}
	if (vt_store_kv_put(b->store, "policy", id, text, &e) != VT_OK) {
		log_err(b, "set policy", &e);
		respond_err(r, "PluginInternalError", "Storage error", &e);
		goto out;
	}
	vt_status irc = policy_install(b, id, p, &e);
	p = NULL;
	if (irc != VT_OK) {
		log_err(b, "set policy", &e);
		respond_err(r, "PluginInternalError", "Policy install error", &e);
		goto out;
	}
	vt_broker_log(b, "INFO", "admin: policy %s updated", id);
	respond_empty(r);
	goto out;
bad:
	respond_err(r, "SerdeError", "Bad request body", &e);
out:
	vt_policy_free(p);
	free(text);
	json_decref(body);
}

/* RVPS registration message {"version":"0.1.0","type":"sample","payload": b64(JSON object)}. */
static void handle_set_refval(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	json_t *body = NULL, *values = NULL;
	uint8_t *payload = NULL;
	size_t n = 0;
	const char *type, *b64;
	if (parse_body(req, &body, &e) != VT_OK || vt_json_get_string(body, "type", &type, &e) != VT_OK ||
	    vt_json_get_string(body, "payload", &b64, &e) != VT_OK)
		goto bad;
	json_t *ver = json_object_get(body, "version");
	if (ver && (!json_is_string(ver) || strcmp(json_string_value(ver), "0.1.0") != 0)) {
		vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "version", "reference value message version must be 0.1.0");
		goto bad;
	}
	if (strcmp(type, "sample") != 0) {
		vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "type", "only \"sample\" reference value messages are supported");
		goto bad;
	}
	if (vt_b64_decode(b64, strlen(b64), &payload, &n, &e) != VT_OK ||
	    vt_json_parse((const char *)payload, n, 1u << 20, &values, &e) != VT_OK)
		goto bad;
	if (!json_is_object(values)) {
		vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "payload", "payload must be a JSON object {id: value}");
		goto bad;
	}
	/* All or nothing in the store, then in memory. */
	if (vt_store_kv_put_many(b->store, "refval", values, &e) != VT_OK) {
		log_err(b, "set reference values", &e);
		respond_err(r, "RvpsError", "Reference value store error", &e);
		goto out;
	}
	pthread_rwlock_wrlock(&b->lock);
	json_object_update(b->refvals, values);
	pthread_rwlock_unlock(&b->lock);
	vt_broker_log(b, "INFO", "admin: %zu reference value(s) registered", json_object_size(values));
	respond_empty(r);
	goto out;
bad:
	respond_err(r, "RvpsError", "Bad reference value message", &e);
out:
	free(payload);
	json_decref(values);
	json_decref(body);
}

static void handle_admin(struct vt_broker *b, const struct vt_http_request *req, const char *first, const char *rest,
			 struct vt_http_response *r)
{
	struct vt_err e = {0};
	bool is_resource = strcmp(first, "resource") == 0;
	if (admin_check(b, req, &e) != VT_OK) {
		atomic_fetch_add(&b->m.admin_denied, 1);
		log_err(b, "admin", &e);
		/* Trustee reports plugin admin failures as AdminAuthInitialization. */
		respond_err(r, is_resource ? "AdminAuthInitialization" : "AdminAuthAccess", "Admin auth error", &e);
		return;
	}
	const char *m = req->method;
	if (is_resource) {
		if (!vt_kbs_resource_path_valid(rest)) {
			respond_error(r, "InvalidRequestPath", "invalid resource path: want repo/type/tag of [A-Za-z0-9_.-]");
			return;
		}
		vt_status rc = strcmp(m, "POST") == 0 ? vt_store_resource_put(b->store, rest, req->body, req->body_size, &e)
						      : vt_store_resource_delete(b->store, rest, &e);
		if (rc != VT_OK) {
			log_err(b, "admin resource", &e);
			respond_err(r, "PluginInternalError", "Plugin internal error", &e);
			return;
		}
		vt_broker_log(b, "INFO", "admin: resource %s %s", rest, strcmp(m, "POST") == 0 ? "stored" : "deleted");
		respond_empty(r);
	} else if (strcmp(first, "attestation-policy") == 0) {
		handle_set_policy(b, req, true, r);
	} else if (strcmp(first, "resource-policy") == 0 && strcmp(m, "POST") == 0) {
		handle_set_policy(b, req, false, r);
	} else if (strcmp(first, "resource-policy") == 0) {
		respond_json(r, 200, json_pack("[s]", "resource-policy"));
	} else if (strcmp(first, "reference-value") == 0 && strcmp(m, "POST") == 0) {
		handle_set_refval(b, req, r);
	} else { /* GET reference-value/<id> */
		pthread_rwlock_rdlock(&b->lock);
		json_t *v = json_incref(json_object_get(b->refvals, rest));
		pthread_rwlock_unlock(&b->lock);
		if (v == NULL)
			respond_error(r, "RvpsError", "reference value not found");
		else
			respond_json(r, 200, v);
	}
}

/* --------------------------------------------------------------- metrics */

static void handle_metrics(struct vt_broker *b, struct vt_http_response *r)
{
	char *s = NULL;
	int n = asprintf(&s,
			 "# HELP veritee_auth_total RCAR /auth requests that opened a session.\n"
			 "# TYPE veritee_auth_total counter\nveritee_auth_total %lu\n"
			 "# HELP veritee_attestations_total Attestations by result.\n"
			 "# TYPE veritee_attestations_total counter\n"
			 "veritee_attestations_total{result=\"ok\"} %lu\nveritee_attestations_total{result=\"failed\"} %lu\n"
			 "# HELP veritee_resource_requests_total Resource requests by outcome.\n"
			 "# TYPE veritee_resource_requests_total counter\n"
			 "veritee_resource_requests_total{result=\"released\"} %lu\n"
			 "veritee_resource_requests_total{result=\"denied\"} %lu\n"
			 "# HELP veritee_admin_denied_total Admin requests refused for authentication.\n"
			 "# TYPE veritee_admin_denied_total counter\nveritee_admin_denied_total %lu\n"
			 "# HELP veritee_http_requests_total HTTP requests handled.\n"
			 "# TYPE veritee_http_requests_total counter\nveritee_http_requests_total %lu\n"
			 "# HELP veritee_sessions_live Live RCAR sessions.\n"
			 "# TYPE veritee_sessions_live gauge\nveritee_sessions_live %zu\n",
			 (unsigned long)atomic_load(&b->m.auth_ok), (unsigned long)atomic_load(&b->m.attest_ok),
			 (unsigned long)atomic_load(&b->m.attest_fail), (unsigned long)atomic_load(&b->m.resource_released),
			 (unsigned long)atomic_load(&b->m.resource_denied), (unsigned long)atomic_load(&b->m.admin_denied),
			 (unsigned long)atomic_load(&b->m.requests), vt_sessions_count(b->sessions));
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4";
	r->body = n >= 0 ? s : NULL;
	r->body_size = n >= 0 ? (size_t)n : 0;
}

/* --------------------------------------------------------------- dispatch */

void vt_broker_handle(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	memset(r, 0, sizeof(*r));
	atomic_fetch_add(&b->m.requests, 1);
	const char *m = req->method ? req->method : "";
	const char *path = req->path ? req->path : "";

	if (strcmp(path, "/healthz") == 0) {
		respond_empty(r);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (strcmp(m, "GET") == 0)
			handle_metrics(b, r);
		else
			respond_json(r, 405, NULL);
		return;
	}
	size_t plen = strlen(VT_KBS_PREFIX);
	if (strncmp(path, VT_KBS_PREFIX, plen) != 0 || path[plen] != '/') {
		respond_error(r, "InvalidRequestPath", "Invalid request path: not under /kbs/v0/");
		return;
	}
	const char *sub = path + plen + 1;
	char first[64];
	const char *slash = strchr(sub, '/');
	size_t flen = slash ? (size_t)(slash - sub) : strlen(sub);
	if (flen == 0 || flen >= sizeof(first)) {
		respond_error(r, "InvalidRequestPath", "Invalid request path");
		return;
	}
	memcpy(first, sub, flen);
	first[flen] = '\0';
	const char *rest = slash ? slash + 1 : "";
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;

	if (strcmp(first, "auth") == 0 && post && !slash) {
		handle_auth(b, req, r);
	} else if (strcmp(first, "attest") == 0 && post && !slash) {
		handle_attest(b, req, r);
	} else if (strcmp(first, "resource") == 0 && get) {
		if (!vt_kbs_resource_path_valid(rest)) {
			respond_error(r, "InvalidRequestPath", "invalid resource path: want repo/type/tag of [A-Za-z0-9_.-]");
			return;
		}
		handle_resource_get(b, req, rest, r);
	} else if (strcmp(first, "tpm") == 0 && post && strcmp(rest, "enroll") == 0) {
		vt_broker_tpm_enroll(b, req, r);
	} else if (strcmp(first, "tpm") == 0 && post && strcmp(rest, "activate") == 0) {
		vt_broker_tpm_activate(b, req, r);
	} else if ((strcmp(first, "resource") == 0 && (post || del)) ||
		   (strcmp(first, "attestation-policy") == 0 && post && !slash) ||
		   (strcmp(first, "resource-policy") == 0 && (post || get) && !slash) ||
		   (strcmp(first, "reference-value") == 0 && post && !slash) ||
		   (strcmp(first, "reference-value") == 0 && get && slash && rest[0])) {
		handle_admin(b, req, first, rest, r);
	} else {
		respond_error(r, "PluginNotFound", "Plugin not found");
	}
}

/* ------------------------------------------------------------ lifecycle */

static void load_kv(void *ctx, const char *key, const char *text)
{
	json_t *v = NULL;
	if (vt_json_parse(text, strlen(text), 1u << 20, &v, NULL) == VT_OK)
		json_object_set_new((json_t *)ctx, key, v);
}

struct policy_load_ctx {
	struct vt_broker *b;
	vt_status rc;
	struct vt_err *err;
};

static void load_policy(void *ctx, const char *key, const char *text)
{
	struct policy_load_ctx *c = ctx;
	struct vt_policy *p = NULL;
	if (c->rc != VT_OK)
		return;
	c->rc = vt_policy_parse(text, strlen(text), &p, c->err);
	if (c->rc == VT_OK)
		c->rc = policy_install(c->b, key, p, c->err);
}

static vt_status install_default(struct vt_broker *b, const char *id, const char *text, struct vt_err *err)
{
	struct vt_policy *p = NULL;
	vt_status rc = vt_policy_parse(text, strlen(text), &p, err);
	if (rc == VT_OK)
		rc = policy_install(b, id, p, err);
	return rc;
}

static vt_status load_or_create_token_key(struct vt_broker *b, struct vt_err *err)
{
	const char *path = b->cfg.token_key_path;
	if (path == NULL) /* ephemeral key: tokens die with the process */
		return vt_key_generate(VT_KEY_P256, &b->token_key, err);
	struct vt_err e2 = {0};
	/* Whoever reads this file can mint tokens that release every secret. */
	vt_status rc = vt_file_check_private(path, &e2);
	if (rc == VT_OK)
		rc = vt_key_load_pem(path, true, &b->token_key, &e2);
	if (rc == VT_E_NOTFOUND) {
		rc = vt_key_generate(VT_KEY_P256, &b->token_key, err);
		if (rc == VT_OK)
			rc = vt_key_save_pem(path, b->token_key, true, 0600, err);
		return rc;
	}
	if (rc != VT_OK) {
		if (err)
			*err = e2;
		return rc;
	}
	if (vt_ec_coord_size(b->token_key) != 32)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, path, "token signing key must be EC P-256");
	return VT_OK;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

vt_status vt_broker_new(const struct vt_broker_config *c, struct vt_broker **out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct vt_secret *mk = NULL;
	json_t *tees = NULL, *common = NULL;
	struct vt_broker *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	pthread_rwlock_init(&b->lock, NULL);
	pthread_mutex_init(&b->log_lock, NULL);
	b->cfg = *c;
	b->cfg.tees = json_incref(c->tees); /* the broker's reference (vt_broker_config_free drops it) */
	b->cfg.listen_host = dup_or_null(c->listen_host);
	b->cfg.tls_cert = dup_or_null(c->tls_cert);
	b->cfg.tls_key = dup_or_null(c->tls_key);
	b->cfg.db_path = dup_or_null(c->db_path);
	b->cfg.master_key_path = dup_or_null(c->master_key_path);
	b->cfg.token_key_path = dup_or_null(c->token_key_path);
	b->cfg.insecure_sim_root = dup_or_null(c->insecure_sim_root);
	b->cfg.amd_certs = dup_or_null(c->amd_certs);
	b->cfg.collateral_cache = dup_or_null(c->collateral_cache);
	b->cfg.amd_kds_url = dup_or_null(c->amd_kds_url);
	b->cfg.dcap_collateral = dup_or_null(c->dcap_collateral);
	b->cfg.pccs_url = dup_or_null(c->pccs_url);
	b->cfg.tpm_ek_roots = dup_or_null(c->tpm_ek_roots);
	b->cfg.admin_keys = NULL;
	b->cfg.admin_key_count = 0;
	b->cfg.admin_audience = NULL;
	b->cfg.admin_audience_count = 0;
	if (c->admin_audience_count > 0) {
		b->cfg.admin_audience = calloc(c->admin_audience_count, sizeof(char *));
		if (b->cfg.admin_audience == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
			goto out;
		}
		for (size_t i = 0; i < c->admin_audience_count; i++) {
			b->cfg.admin_audience[i] = strdup(c->admin_audience[i]);
			if (b->cfg.admin_audience[i] == NULL) {
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
				goto out;
			}
			b->cfg.admin_audience_count++;
		}
	}
	if (b->cfg.admin_token_max_lifetime <= 0)
		b->cfg.admin_token_max_lifetime = 900;
	b->refvals = json_object();
	b->sessions = vt_sessions_new(c->max_sessions ? c->max_sessions : 100000,
				      c->max_sessions_per_client ? c->max_sessions_per_client : 1000);
	if (b->refvals == NULL || b->sessions == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
		goto out;
	}
	VT_GUARD(vt_broker_tpm_enroll_init(b, err));
	if (c->db_path == NULL || c->master_key_path == NULL) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, c->db_path ? "master_key" : "database",
			     "the broker needs \"database\" and \"master_key\" paths");
		goto out;
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_cert", "set both tls_cert and tls_key, or neither");
		goto out;
	}
	if (c->tls_key)
		VT_GUARD(vt_file_check_private(c->tls_key, err));
	if (c->admin_key_count > 0) {
		b->admin_keys = calloc(c->admin_key_count, sizeof(*b->admin_keys));
		if (b->admin_keys == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
			goto out;
		}
		for (size_t i = 0; i < c->admin_key_count; i++) {
			VT_GUARD(vt_key_load_pem(c->admin_keys[i], false, &b->admin_keys[i], err));
			b->admin_key_count++;
		}
	}
	/* One gate for every outbound collateral fetch (SNP and DCAP). */
	struct vt_fetch_gate_settings gs;
	vt_fetch_gate_defaults(&gs);
	if (c->max_concurrent_fetches)
		gs.max_concurrent = c->max_concurrent_fetches;
	if (c->fetch_timeout > 0)
		gs.timeout_ms = (long)c->fetch_timeout * 1000;
	gs.per_client_per_minute = c->fetches_per_client_per_minute;
	gs.negative_ttl = c->negative_cache_seconds;
	VT_GUARD(vt_fetch_gate_new(&gs, &b->fetch_gate, err));
	/* The verifier: every TEE its descriptor can build from its block of
	 * "tees" (insecure ones only when named there). */
	VT_GUARD(vt_broker_config_tees(c, &tees, &common, err));
	struct vt_verifier_settings vs = {.tees = tees, .common = common, .fetch_gate = b->fetch_gate};
	VT_GUARD(vt_verifier_new(&vs, &b->verifier, err));
	VT_GUARD(vt_master_key_load(c->master_key_path, &mk, err));
	VT_GUARD(vt_store_open_sqlite(c->db_path, mk, &b->store, err));
	VT_GUARD(load_or_create_token_key(b, err));

	/* Shipped defaults first; stored (uploaded) policies override them. */
	for (size_t i = 0; vt_tee_at(i) != NULL; i++) {
		const struct vt_tee *t = vt_tee_at(i);
		char id[64];
		snprintf(id, sizeof(id), "default_%s", t->name);
		if (t->default_policy != NULL && !(t->flags & VT_TEE_CLI_ONLY))
			VT_GUARD(install_default(b, id, t->default_policy, err));
	}
	VT_GUARD(install_default(b, "default_cpu", default_cpu_policy, err));
	VT_GUARD(install_default(b, "resource-policy", default_resource_policy, err));
	struct policy_load_ctx plc = {b, VT_OK, err};
	VT_GUARD(vt_store_kv_each(b->store, "policy", load_policy, &plc, err));
	VT_GUARD(plc.rc);
	VT_GUARD(vt_store_kv_each(b->store, "refval", load_kv, b->refvals, err));
out:
	vt_secret_free(mk);
	json_decref(tees);
	json_decref(common);
	if (rc != VT_OK) {
		vt_broker_free(b);
		return rc;
	}
	*out = b;
	return VT_OK;
}

void vt_broker_free(struct vt_broker *b)
{
	if (b == NULL)
		return;
	vt_broker_stop(b);
	for (size_t i = 0; i < VT_MAX_POLICIES; i++)
		vt_policy_free(b->policies[i].policy);
	json_decref(b->refvals);
	vt_broker_tpm_enroll_free(b);
	vt_sessions_free(b->sessions);
	vt_fetch_gate_free(b->fetch_gate);
	vt_store_close(b->store);
	EVP_PKEY_free(b->token_key);
	for (size_t i = 0; i < b->admin_key_count; i++)
		EVP_PKEY_free(b->admin_keys[i]);
	free(b->admin_keys);
	vt_verifier_free(b->verifier);
	vt_broker_config_free(&b->cfg); /* the broker owns its copies (admin_keys stay NULL) */
	pthread_rwlock_destroy(&b->lock);
	pthread_mutex_destroy(&b->log_lock);
	free(b);
}
