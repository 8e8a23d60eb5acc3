/* The admin API: signed single-use admin tokens, resources, policies,
 * reference values; setting, listing, reading and deleting them. */
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

/* What the console reads: lists, a policy's or a reference value's text,
 * resource names and sizes, the attestation log and its statistics. */
static bool console_readable(const struct vt_http_request *req)
{
	static const char *const exact[] = {"/attestation-policy", "/reference-value", "/admin/resources",
					    "/admin/attestations", "/admin/stats", NULL};
	static const char *const under[] = {"/attestation-policy/", "/reference-value/", NULL};
	size_t plen = strlen(VT_KBS_PREFIX);
	const char *p = req->path ? req->path : "";
	if (req->method == NULL || strcmp(req->method, "GET") != 0 || strncmp(p, VT_KBS_PREFIX, plen) != 0)
		return false;
	p += plen;
	for (size_t i = 0; exact[i]; i++)
		if (strcmp(p, exact[i]) == 0)
			return true;
	for (size_t i = 0; under[i]; i++)
		if (strncmp(p, under[i], strlen(under[i])) == 0 && p[strlen(under[i])] != '\0')
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
	/* A console token (`veritee admin console-url`, docs/broker.md,
	 * "Console"): the page polls, so it is reused until exp; it is good
	 * only for the console's read-only GETs, which show no secret. */
	const char *scope = json_string_value(json_object_get(claims, "scope"));
	if (scope != NULL && strcmp(scope, "console") == 0) {
		if (!console_readable(req))
			return vt_fail(err, VT_E_AUTH, VT_STEP_TOKEN, "scope",
				       "a console token is good only for the console's read-only GETs");
		return VT_OK;
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

/* Attestation policy ids: "<set>_<suffix>", the set "default" or one that
 * attestation_policy_selectors names. */
static bool attestation_policy_id_ok(const struct vt_broker *b, const char *id)
{
	if (!vt_broker_selector_valid(id))
		return false;
	if (strncmp(id, "default_", 8) == 0 && id[8] != '\0')
		return true;
	const char *sel;
	json_t *set;
	json_object_foreach(b->cfg.policy_selectors, sel, set) {
		size_t n = strlen(json_string_value(set));
		if (strncmp(id, json_string_value(set), n) == 0 && id[n] == '_' && id[n + 1] != '\0')
			return true;
	}
	return false;
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
	if (vt_req_json_body(req, &body, &e) != VT_OK)
		goto bad;
	if (attestation && vt_json_get_string(body, "policy_id", &id, &e) != VT_OK)
		goto bad;
	if (attestation && !attestation_policy_id_ok(b, id)) {
		vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "policy_id",
			"policy_id must be <set>_<tee or class> (e.g. default_sim, default_cpu, default_gpu), where <set> is "
			"\"default\" or a policy set named in attestation_policy_selectors; at most 48 characters");
		goto bad;
	}
	if (decode_policy_field(body, &text, &len, &e) != VT_OK)
		goto bad;
	if (vt_policy_parse(text, len, &p, &e) != VT_OK) {
		vt_broker_log_err(b, "set policy", &e);
		vt_resp_err(r, "ParsePolicyError", "Policy parse error", &e);
		goto out;
	}
	/* Store first: a policy that could not be stored never goes live (and
	 * one that could not go live is not stored). */
	if (!vt_broker_policy_has_room(b, id)) {
		vt_fail(&e, VT_E_LIMIT, VT_STEP_POLICY, "policy_id", "too many policies (max %d)", VT_MAX_POLICIES);
		goto bad;
	}
	if (vt_store_kv_put(b->store, "policy", id, text, &e) != VT_OK) {
		vt_broker_log_err(b, "set policy", &e);
		vt_resp_err(r, "PluginInternalError", "Storage error", &e);
		goto out;
	}
	vt_status irc = vt_broker_policy_install(b, id, p, &e);
	p = NULL;
	if (irc != VT_OK) {
		vt_broker_log_err(b, "set policy", &e);
		vt_resp_err(r, "PluginInternalError", "Policy install error", &e);
		goto out;
	}
	vt_broker_log(b, "INFO", "admin: policy %s updated", id);
	vt_resp_empty(r);
	goto out;
bad:
	vt_resp_err(r, "SerdeError", "Bad request body", &e);
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
	if (vt_req_json_body(req, &body, &e) != VT_OK || vt_json_get_string(body, "type", &type, &e) != VT_OK ||
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
		vt_broker_log_err(b, "set reference values", &e);
		vt_resp_err(r, "RvpsError", "Reference value store error", &e);
		goto out;
	}
	pthread_rwlock_wrlock(&b->lock);
	json_object_update(b->refvals, values);
	pthread_rwlock_unlock(&b->lock);
	vt_broker_log(b, "INFO", "admin: %zu reference value(s) registered", json_object_size(values));
	vt_resp_empty(r);
	goto out;
bad:
	vt_resp_err(r, "RvpsError", "Bad reference value message", &e);
out:
	free(payload);
	json_decref(values);
	json_decref(body);
}

/* ------------------------------------------------- list / get / delete
 * What an operator needs to see and undo (docs/broker.md, "Admin API"):
 *   GET    admin/resources[/R/T/G]      names and sizes, never values
 *   GET    attestation-policy[/ID]      the live ids / one policy's text
 *   DELETE attestation-policy/ID        an uploaded one: the built-in default
 *                                       (if any) is in force again
 *   GET    resource-policy              the resource policy's text
 *   DELETE resource-policy              the built-in default again
 *   GET    reference-value              names and value counts
 *   DELETE reference-value/ID
 * Not found is HTTP 404 with the KBS error of the area. */

static void not_found(struct vt_http_response *r, const char *variant, const char *fmt, ...) VT_PRINTF(3, 4);
static void not_found(struct vt_http_response *r, const char *variant, const char *fmt, ...)
{
	char d[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d, sizeof(d), fmt, ap);
	va_end(ap);
	vt_resp_error(r, variant, d);
	r->status = 404;
}

struct res_list {
	json_t *arr;
	const char *only; /* one path, or NULL for all */
};

static void res_item(void *ctx, const char *path, size_t size)
{
	struct res_list *l = ctx;
	if (l->only == NULL || strcmp(l->only, path) == 0)
		json_array_append_new(l->arr, json_pack("{s:s, s:I}", "path", path, "size", (json_int_t)size));
}

static void handle_resource_list(struct vt_broker *b, const char *rest, struct vt_http_response *r)
{
	struct vt_err e = {0};
	const char *one = strncmp(rest, "resources/", 10) == 0 ? rest + 10 : NULL;
	if (one != NULL && !vt_kbs_resource_path_valid(one)) {
		vt_resp_error(r, "InvalidRequestPath", "invalid resource path: want repo/type/tag of [A-Za-z0-9_.-]");
		return;
	}
	struct res_list l = {.arr = json_array(), .only = one};
	if (vt_store_resource_list(b->store, res_item, &l, &e) != VT_OK) {
		json_decref(l.arr);
		vt_broker_log_err(b, "admin list resources", &e);
		vt_resp_err(r, "PluginInternalError", "Storage error", &e);
		return;
	}
	if (one == NULL) {
		vt_resp_json(r, 200, json_pack("{s:o}", "resources", l.arr));
	} else if (json_array_size(l.arr) == 0) {
		json_decref(l.arr);
		not_found(r, "PluginInternalError", "no resource %.200s", one);
	} else {
		vt_resp_json(r, 200, json_incref(json_array_get(l.arr, 0)));
		json_decref(l.arr);
	}
}

/* The text of policy `id`: the uploaded one, else the built-in default
 * (malloc'd; *stored says which).  NULL when there is none. */
static char *policy_text(struct vt_broker *b, const char *id, bool *stored, struct vt_err *err)
{
	char *text = NULL;
	*stored = false;
	vt_status rc = vt_store_kv_get(b->store, "policy", id, &text, err);
	if (rc == VT_OK) {
		*stored = true;
		return text;
	}
	if (rc != VT_E_NOTFOUND)
		return NULL;
	vt_err_clear(err);
	const char *builtin = vt_broker_builtin_policy(id);
	return builtin ? strdup(builtin) : NULL;
}

static void policy_get(struct vt_broker *b, const char *id, struct vt_http_response *r)
{
	struct vt_err e = {0};
	bool stored = false;
	char *text = policy_text(b, id, &stored, &e);
	json_t *j = NULL;
	if (text == NULL && e.code != VT_OK) {
		vt_broker_log_err(b, "admin get policy", &e);
		vt_resp_err(r, "PluginInternalError", "Storage error", &e);
	} else if (text == NULL) {
		not_found(r, "PolicyEngine", "no policy %.64s", id);
	} else if (vt_json_parse(text, strlen(text), 1u << 20, &j, &e) != VT_OK) {
		vt_resp_err(r, "PolicyEngine", "Stored policy is not JSON", &e);
	} else {
		vt_resp_json(r, 200, j);
	}
	free(text);
}

static void policy_delete(struct vt_broker *b, const char *id, struct vt_http_response *r)
{
	struct vt_err e = {0};
	bool deleted = false;
	if (vt_store_kv_delete(b->store, "policy", id, &deleted, &e) != VT_OK) {
		vt_broker_log_err(b, "admin delete policy", &e);
		vt_resp_err(r, "PluginInternalError", "Storage error", &e);
		return;
	}
	const char *builtin = vt_broker_builtin_policy(id);
	if (!deleted) {
		if (builtin != NULL)
			not_found(r, "PolicyEngine", "policy %.64s is the built-in default: nothing uploaded to delete", id);
		else
			not_found(r, "PolicyEngine", "no policy %.64s", id);
		return;
	}
	/* The built-in default is in force again; without one the id is gone. */
	struct vt_policy *p = NULL;
	vt_status rc = builtin ? vt_policy_parse(builtin, strlen(builtin), &p, &e) : VT_OK;
	if (rc == VT_OK)
		rc = p ? vt_broker_policy_install(b, id, p, &e) : (vt_broker_policy_remove(b, id), VT_OK);
	if (rc != VT_OK) {
		vt_broker_log_err(b, "admin delete policy", &e);
		vt_resp_err(r, "PluginInternalError", "Policy install error", &e);
		return;
	}
	vt_broker_log(b, "INFO", "admin: policy %s deleted%s", id, builtin ? " (the built-in default is in force)" : "");
	vt_resp_json(r, 200, json_pack("{s:s, s:s}", "deleted", id, "in_force", builtin ? "built-in default" : "none"));
}

static void policy_list(struct vt_broker *b, struct vt_http_response *r)
{
	json_t *arr = json_array();
	pthread_rwlock_rdlock(&b->lock);
	for (size_t i = 0; i < VT_MAX_POLICIES; i++)
		if (b->policies[i].policy != NULL && strcmp(b->policies[i].id, "resource-policy") != 0)
			json_array_append_new(arr, json_string(b->policies[i].id));
	pthread_rwlock_unlock(&b->lock);
	json_t *out = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const char *id = json_string_value(v);
		char *text = NULL;
		struct vt_err e = {0};
		bool stored = vt_store_kv_get(b->store, "policy", id, &text, &e) == VT_OK;
		free(text);
		json_array_append_new(out, json_pack("{s:s, s:s, s:b}", "id", id, "source", stored ? "uploaded" : "built-in",
						     "has_built_in", vt_broker_builtin_policy(id) != NULL));
	}
	json_decref(arr);
	vt_resp_json(r, 200, json_pack("{s:o}", "policies", out));
}

static void refval_list(struct vt_broker *b, struct vt_http_response *r)
{
	json_t *out = json_array();
	pthread_rwlock_rdlock(&b->lock);
	const char *k;
	json_t *v;
	json_object_foreach(b->refvals, k, v) {
		json_array_append_new(out, json_pack("{s:s, s:I}", "name", k,
						     "count", (json_int_t)(json_is_array(v) ? json_array_size(v) : 1)));
	}
	pthread_rwlock_unlock(&b->lock);
	vt_resp_json(r, 200, json_pack("{s:o}", "reference_values", out));
}

static void refval_delete(struct vt_broker *b, const char *id, struct vt_http_response *r)
{
	struct vt_err e = {0};
	bool deleted = false;
	if (vt_store_kv_delete(b->store, "refval", id, &deleted, &e) != VT_OK) {
		vt_broker_log_err(b, "admin delete reference value", &e);
		vt_resp_err(r, "RvpsError", "Reference value store error", &e);
		return;
	}
	pthread_rwlock_wrlock(&b->lock);
	deleted = json_object_del(b->refvals, id) == 0 || deleted;
	pthread_rwlock_unlock(&b->lock);
	if (!deleted) {
		not_found(r, "RvpsError", "reference value %.200s not found", id);
		return;
	}
	vt_broker_log(b, "INFO", "admin: reference value %s deleted", id);
	vt_resp_json(r, 200, json_pack("{s:s}", "deleted", id));
}

bool vt_broker_query_int(const char *query, const char *name, int64_t *out)
{
	size_t klen = strlen(name);
	bool seen = false;
	for (const char *q = query; q != NULL && *q;) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		if (n > klen && strncmp(q, name, klen) == 0 && q[klen] == '=') {
			size_t digits = n - klen - 1;
			if (seen || digits == 0 || digits > 18)
				return false;
			int64_t v = 0;
			for (size_t i = klen + 1; i < n; i++) {
				if (q[i] < '0' || q[i] > '9')
					return false;
				v = v * 10 + (q[i] - '0');
			}
			*out = v;
			seen = true;
		}
		q = amp ? amp + 1 : NULL;
	}
	return true;
}

/* GET admin/attestations?limit=N (1..500, default 100): the newest first. */
static void attestations_list(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	int64_t limit = 100;
	if (!vt_broker_query_int(req->query, "limit", &limit) || limit < 1 || limit > VT_EVENTS_MAX) {
		vt_resp_error(r, "SerdeError", "Bad query: limit=1..500");
		return;
	}
	json_t *j = vt_obs_attestations_json(&b->obs, (size_t)limit);
	if (j == NULL) {
		vt_resp_error(r, "PluginInternalError", "out of memory");
		return;
	}
	vt_resp_json(r, 200, j);
}

void vt_broker_admin(struct vt_broker *b, const struct vt_http_request *req, const char *first, const char *rest,
			 struct vt_http_response *r)
{
	struct vt_err e = {0};
	bool is_resource = strcmp(first, "resource") == 0;
	if (admin_check(b, req, &e) != VT_OK) {
		atomic_fetch_add(&b->m.admin_denied, 1);
		vt_broker_log_err(b, "admin", &e);
		/* Trustee reports plugin admin failures as AdminAuthInitialization. */
		vt_resp_err(r, is_resource ? "AdminAuthInitialization" : "AdminAuthAccess", "Admin auth error", &e);
		return;
	}
	const char *m = req->method;
	if (is_resource) {
		if (!vt_kbs_resource_path_valid(rest)) {
			vt_resp_error(r, "InvalidRequestPath", "invalid resource path: want repo/type/tag of [A-Za-z0-9_.-]");
			return;
		}
		vt_status rc = strcmp(m, "POST") == 0 ? vt_store_resource_put(b->store, rest, req->body, req->body_size, &e)
						      : vt_store_resource_delete(b->store, rest, &e);
		if (rc == VT_E_NOTFOUND) {
			not_found(r, "PluginInternalError", "no resource %.200s", rest);
			return;
		}
		if (rc != VT_OK) {
			vt_broker_log_err(b, "admin resource", &e);
			vt_resp_err(r, "PluginInternalError", "Plugin internal error", &e);
			return;
		}
		vt_broker_log(b, "INFO", "admin: resource %s %s", rest, strcmp(m, "POST") == 0 ? "stored" : "deleted");
		vt_resp_empty(r);
	} else if (strcmp(first, "attestation-policy") == 0 && strcmp(m, "POST") == 0) {
		handle_set_policy(b, req, true, r);
	} else if (strcmp(first, "attestation-policy") == 0 && strcmp(m, "DELETE") == 0) {
		policy_delete(b, rest, r);
	} else if (strcmp(first, "attestation-policy") == 0) {
		if (rest[0] == '\0')
			policy_list(b, r);
		else
			policy_get(b, rest, r);
	} else if (strcmp(first, "resource-policy") == 0 && strcmp(m, "POST") == 0) {
		handle_set_policy(b, req, false, r);
	} else if (strcmp(first, "resource-policy") == 0 && strcmp(m, "DELETE") == 0) {
		policy_delete(b, "resource-policy", r);
	} else if (strcmp(first, "resource-policy") == 0) { /* GET: its text, as Trustee answers */
		policy_get(b, "resource-policy", r);
	} else if (strcmp(first, "reference-value") == 0 && strcmp(m, "POST") == 0) {
		handle_set_refval(b, req, r);
	} else if (strcmp(first, "reference-value") == 0 && strcmp(m, "DELETE") == 0) {
		refval_delete(b, rest, r);
	} else if (strcmp(first, "reference-value") == 0 && rest[0] == '\0') {
		refval_list(b, r);
	} else if (strcmp(first, "admin") == 0 && strcmp(rest, "attestations") == 0) {
		attestations_list(b, req, r);
	} else if (strcmp(first, "admin") == 0 && strcmp(rest, "stats") == 0) {
		vt_resp_json(r, 200, vt_obs_stats_json(&b->obs, vt_broker_now(b)));
		if (r->body == NULL)
			vt_resp_error(r, "PluginInternalError", "out of memory");
	} else if (strcmp(first, "admin") == 0 && strcmp(rest, "audit") == 0 && strcmp(m, "DELETE") == 0) {
		vt_broker_audit_prune(b, req, r); /* the release log's oldest entries */
	} else if (strcmp(first, "admin") == 0 && strcmp(rest, "audit") != 0) { /* GET admin/resources[/R/T/G] */
		handle_resource_list(b, rest, r);
	} else if (strcmp(first, "admin") == 0) { /* GET admin/audit: the release log */
		vt_broker_audit_export(b, req, r);
	} else { /* GET reference-value/<id> */
		pthread_rwlock_rdlock(&b->lock);
		json_t *v = json_incref(json_object_get(b->refvals, rest));
		pthread_rwlock_unlock(&b->lock);
		if (v == NULL)
			vt_resp_error(r, "RvpsError", "reference value not found");
		else
			vt_resp_json(r, 200, v);
	}
}

