/*
 * The key broker: KBS protocol 0.4.0 request handling, independent of the
 * HTTP transport (server.c puts it behind libmicrohttpd): dispatch,
 * metrics and lifecycle here; the handlers in rcar.c and admin.c, policies
 * in policies.c, responses and logs in respond.c.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "broker/audit.h"
#include "broker/broker_internal.h"
#include "broker/pkcs11.h"
#include "broker/ratelimit.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/fetch.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/net.h"
#include "veritee/token.h"
#include "veritee/verifier.h"

#ifndef VT_VERSION
#define VT_VERSION "0.1.0" /* as `veritee version` says */
#endif

/* ------------------------------------------------------------ defaults */

/* Each TEE's default policy lives in its folder (vt_tee.default_policy). */
static const char default_cpu_policy[] =
	"{\"version\":1,\"id\":\"default_cpu\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},\"rules\":[]}";

static const char default_resource_policy[] =
	"{\"version\":1,\"id\":\"resource-policy\",\"rules\":["
	"{\"name\":\"attestation-affirming\",\"claim\":\"/submods/*/ear.status\",\"equals\":\"affirming\","
	"\"description\":\"the CPU and every device (gpu0, ...) appraised affirming\"}"
	"]}";

const char *vt_broker_builtin_policy(const char *id)
{
	if (strcmp(id, "default_cpu") == 0)
		return default_cpu_policy;
	if (strcmp(id, "resource-policy") == 0)
		return default_resource_policy;
	const struct vt_tee *t = strncmp(id, "default_", 8) == 0 ? vt_tee_find(id + 8) : NULL;
	return t != NULL && !(t->flags & VT_TEE_CLI_ONLY) ? t->default_policy : NULL;
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
			 "# TYPE veritee_sessions_live gauge\nveritee_sessions_live %zu\n"
			 "# HELP veritee_rate_limited_total Requests refused with 429 by the per-client rate limits.\n"
			 "# TYPE veritee_rate_limited_total counter\nveritee_rate_limited_total %lu\n"
			 "# HELP veritee_unavailable_total Requests answered 503 (database unavailable or busy, fetch capacity, "
			 "sessions full).\n"
			 "# TYPE veritee_unavailable_total counter\nveritee_unavailable_total %lu\n"
			 "# HELP veritee_reloads_total Policy reloads after another broker changed the store.\n"
			 "# TYPE veritee_reloads_total counter\nveritee_reloads_total %lu\n",
			 (unsigned long)atomic_load(&b->m.auth_ok), (unsigned long)atomic_load(&b->m.attest_ok),
			 (unsigned long)atomic_load(&b->m.attest_fail), (unsigned long)atomic_load(&b->m.resource_released),
			 (unsigned long)atomic_load(&b->m.resource_denied), (unsigned long)atomic_load(&b->m.admin_denied),
			 (unsigned long)atomic_load(&b->m.requests), vt_sessions_count(b->sessions),
			 (unsigned long)atomic_load(&b->m.rate_limited), (unsigned long)atomic_load(&b->m.unavailable),
			 (unsigned long)atomic_load(&b->m.reloads));
	/* The request-duration histogram, verification counts and build info */
	struct vt_buf more;
	struct vt_err e = {0};
	vt_buf_init(&more, 1u << 20);
	char build[256];
	snprintf(build, sizeof(build),
		 "# HELP veritee_build_info The broker's version and the OpenSSL it runs with.\n"
		 "# TYPE veritee_build_info gauge\nveritee_build_info{version=\"%s\",openssl=\"%s\"} 1\n",
		 VT_VERSION, OpenSSL_version(OPENSSL_VERSION_STRING));
	if (n < 0 || vt_buf_append(&more, s, (size_t)n, &e) != VT_OK || vt_obs_metrics(&b->obs, &more, &e) != VT_OK ||
	    vt_buf_append_str(&more, build, &e) != VT_OK) {
		free(s);
		vt_buf_free(&more);
		vt_resp_error(r, "PluginInternalError", "metrics unavailable");
		r->status = 500;
		return;
	}
	free(s);
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4";
	r->body = (char *)more.data; /* vt_buf data is malloc'd: the response frees it */
	r->body_size = more.len;
}

/* --------------------------------------------------------------- dispatch */

static void dispatch(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 16 hex digits: this request's number `seq` mixed with the broker's
 * random key by SplitMix64's finaliser, a bijection, so ids are unique
 * within a broker and, by the key, unlikely to repeat across replicas.  An
 * id, not a secret: the CSPRNG per request cost 2% of a replica's CPU. */
static void new_request_id(uint64_t key, uint64_t seq, char id[17])
{
	uint64_t z = seq + key;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	uint8_t raw[8];
	for (size_t i = 0; i < 8; i++)
		raw[i] = (uint8_t)(z >> (8 * (7 - i)));
	vt_hex_encode_to(raw, sizeof(raw), id);
}

/* Every request: a request id, the handler, one log line, the request
 * metrics and, for /attest, the attestation record. */
void vt_broker_handle(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	double t0 = mono_seconds();
	struct vt_request_note note = {0};
	memset(r, 0, sizeof(*r));
	new_request_id(b->request_id_key, atomic_fetch_add(&b->m.requests, 1), r->request_id);
	r->note = &note;
	/* Behind a trusted load balancer, the client is the one it names: for
	 * the handlers (quotas, rate limits), the log line and the record. */
	struct vt_http_request fwd;
	char fwd_client[INET6_ADDRSTRLEN];
	if (vt_broker_forwarded_client(b, req, fwd_client, sizeof(fwd_client))) {
		fwd = *req;
		fwd.client = fwd_client;
		req = &fwd;
	}
	const char *client = req->client;
	dispatch(b, req, r);
	r->note = NULL;
	if (r->status == 503)
		atomic_fetch_add(&b->m.unavailable, 1);
	double secs = mono_seconds() - t0;
	vt_obs_request(&b->obs, vt_obs_endpoint(req->path), secs);

	if (note.attest) {
		struct vt_attest_event ev = {
			.time = vt_broker_now(b), .tee = note.tee, .ok = note.ok, .has_step = !note.ok, .step = note.step,
			.duration_ms = secs * 1000};
		memcpy(ev.request_id, r->request_id, sizeof(ev.request_id));
		vt_obs_copy_ascii(ev.client, sizeof(ev.client), client ? client : "");
		if (note.ok)
			snprintf(ev.status, sizeof(ev.status), "%s", note.status);
		else {
			snprintf(ev.field, sizeof(ev.field), "%s", note.field);
			snprintf(ev.detail, sizeof(ev.detail), "%s", note.detail);
		}
		snprintf(ev.rule, sizeof(ev.rule), "%s", note.rule);
		snprintf(ev.explanation, sizeof(ev.explanation), "%s", note.explanation);
		vt_obs_attestation(&b->obs, &ev);
	}
	struct vt_request_log l = {.request_id = r->request_id, .client = client, .method = req->method,
				   .path = req->path, .status = r->status, .ms = secs * 1000, .note = &note};
	vt_broker_log_request(b, &l);
}

static void dispatch(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	const char *m = req->method ? req->method : "";
	const char *path = req->path ? req->path : "";

	if (strcmp(path, "/healthz") == 0) {
		vt_resp_empty(r);
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		vt_broker_readyz(b, r);
		return;
	}
	if (strcmp(path, "/.well-known/jwks.json") == 0) { /* the token-signing key, as Trustee's AS publishes it */
		if (strcmp(m, "GET") == 0)
			vt_broker_jwks(b, r);
		else
			vt_resp_json(r, 405, NULL);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (strcmp(m, "GET") == 0)
			handle_metrics(b, r);
		else
			vt_resp_json(r, 405, NULL);
		return;
	}
	if (vt_broker_console_path(path)) { /* static files; the data comes from the admin API */
		vt_broker_console(req, r);
		return;
	}
	size_t plen = strlen(VT_KBS_PREFIX);
	if (strncmp(path, VT_KBS_PREFIX, plen) != 0 || path[plen] != '/') {
		vt_resp_error(r, "InvalidRequestPath", "Invalid request path: not under /kbs/v0/");
		return;
	}
	const char *sub = path + plen + 1;
	char first[64];
	const char *slash = strchr(sub, '/');
	size_t flen = slash ? (size_t)(slash - sub) : strlen(sub);
	if (flen == 0 || flen >= sizeof(first)) {
		vt_resp_error(r, "InvalidRequestPath", "Invalid request path");
		return;
	}
	memcpy(first, sub, flen);
	first[flen] = '\0';
	const char *rest = slash ? slash + 1 : "";
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;

	if (strcmp(first, "auth") == 0 && post && !slash) {
		if (!vt_broker_rate_limited(b, b->rl_auth, req, r))
			vt_broker_auth(b, req, r);
	} else if (strcmp(first, "attest") == 0 && post && !slash) {
		if (!vt_broker_rate_limited(b, b->rl_attest, req, r))
			vt_broker_attest(b, req, r);
	} else if (strcmp(first, "resource") == 0 && get) {
		if (!vt_kbs_resource_path_valid(rest)) {
			vt_resp_error(r, "InvalidRequestPath", "invalid resource path: want repo/type/tag of [A-Za-z0-9_.-]");
			return;
		}
		vt_broker_resource_get(b, req, rest, r);
	} else if (strcmp(first, "tpm") == 0 && post && strcmp(rest, "enroll") == 0) {
		vt_broker_tpm_enroll(b, req, r);
	} else if (strcmp(first, "tpm") == 0 && post && strcmp(rest, "activate") == 0) {
		vt_broker_tpm_activate(b, req, r);
	} else if ((strcmp(first, "resource") == 0 && (post || del)) ||
		   (strcmp(first, "attestation-policy") == 0 && post && !slash) ||
		   (strcmp(first, "attestation-policy") == 0 && ((get && (!slash || rest[0])) || (del && slash && rest[0]))) ||
		   (strcmp(first, "resource-policy") == 0 && (post || get || del) && !slash) ||
		   (strcmp(first, "reference-value") == 0 && post && !slash) ||
		   (strcmp(first, "reference-value") == 0 && ((get && (!slash || rest[0])) || (del && slash && rest[0]))) ||
		   (strcmp(first, "admin") == 0 && del && strcmp(rest, "audit") == 0) ||
		   (strcmp(first, "admin") == 0 && get &&
		    (strcmp(rest, "audit") == 0 || strcmp(rest, "resources") == 0 || strncmp(rest, "resources/", 10) == 0 ||
		     strcmp(rest, "attestations") == 0 || strcmp(rest, "stats") == 0))) {
		vt_broker_admin(b, req, first, rest, r);
	} else {
		vt_resp_error(r, "PluginNotFound", "Plugin not found");
	}
}

/* ------------------------------------------------------------ lifecycle */

/* A set of policies and reference values being loaded, which replaces the
 * live one at once (vt_broker_reload). */
struct policy_set {
	struct vt_policy_slot slots[VT_MAX_POLICIES];
	json_t *refvals;
	vt_status rc;
	struct vt_err *err;
};

/* Parse policy `text` into the set under `id`, replacing an earlier one
 * (stored policies override the shipped defaults). */
static void set_policy(struct policy_set *s, const char *id, const char *text)
{
	struct vt_policy *p = NULL;
	if (s->rc != VT_OK || (s->rc = vt_policy_parse(text, strlen(text), &p, s->err)) != VT_OK)
		return;
	struct vt_policy_slot *slot = NULL;
	for (size_t i = 0; i < VT_MAX_POLICIES; i++) {
		if (s->slots[i].policy && strcmp(s->slots[i].id, id) == 0) {
			slot = &s->slots[i];
			break;
		}
		if (slot == NULL && s->slots[i].policy == NULL)
			slot = &s->slots[i];
	}
	if (slot == NULL || strlen(id) >= sizeof(slot->id)) {
		s->rc = vt_fail(s->err, VT_E_LIMIT, VT_STEP_POLICY, "policy_id", "too many policies (max %d)", VT_MAX_POLICIES);
		vt_policy_free(p);
		return;
	}
	vt_policy_free(slot->policy);
	snprintf(slot->id, sizeof(slot->id), "%s", id);
	slot->policy = p;
}

static void load_policy(void *ctx, const char *key, const char *text)
{
	set_policy(ctx, key, text);
}

static void load_kv(void *ctx, const char *key, const char *text)
{
	struct policy_set *s = ctx;
	json_t *v = NULL;
	if (vt_json_parse(text, strlen(text), 1u << 20, &v, NULL) == VT_OK)
		json_object_set_new(s->refvals, key, v);
}

/* Build the set and swap it in; *npol and *nref count what is live. */
static vt_status load_policies(struct vt_broker *b, size_t *npol, size_t *nref, struct vt_err *err)
{
	struct policy_set s = {.refvals = json_object(), .rc = VT_OK, .err = err};
	if (s.refvals == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, "", "out of memory");
	/* Shipped defaults first; stored (uploaded) policies override them. */
	for (size_t i = 0; vt_tee_at(i) != NULL; i++) {
		const struct vt_tee *t = vt_tee_at(i);
		char id[64];
		snprintf(id, sizeof(id), "default_%s", t->name);
		if (t->default_policy != NULL && !(t->flags & VT_TEE_CLI_ONLY))
			set_policy(&s, id, t->default_policy);
	}
	set_policy(&s, "default_cpu", default_cpu_policy);
	set_policy(&s, "resource-policy", default_resource_policy);
	/* The store is read under the write lock: an admin update stores first
	 * and then takes the lock to install, so one this read misses is
	 * installed after the swap, never lost. */
	pthread_rwlock_wrlock(&b->lock);
	vt_status rc = s.rc;
	if (rc == VT_OK)
		rc = vt_store_kv_each(b->store, "policy", load_policy, &s, err);
	if (rc == VT_OK)
		rc = s.rc;
	if (rc == VT_OK)
		rc = vt_store_kv_each(b->store, "refval", load_kv, &s, err);
	if (rc == VT_OK) { /* swap: requests see the old set or the new one */
		for (size_t i = 0; i < VT_MAX_POLICIES; i++) {
			struct vt_policy_slot old = b->policies[i];
			b->policies[i] = s.slots[i];
			s.slots[i] = old;
			*npol += b->policies[i].policy != NULL;
		}
		json_t *old_refvals = b->refvals;
		b->refvals = s.refvals;
		s.refvals = old_refvals;
		*nref = json_object_size(b->refvals);
	}
	pthread_rwlock_unlock(&b->lock);
	for (size_t i = 0; i < VT_MAX_POLICIES; i++)
		vt_policy_free(s.slots[i].policy);
	json_decref(s.refvals);
	return rc;
}

vt_status vt_broker_reload(struct vt_broker *b, struct vt_err *err)
{
	struct vt_err e = {0};
	size_t npol = 0, nref = 0;
	vt_status rc = load_policies(b, &npol, &nref, &e);
	if (rc == VT_OK) {
		vt_broker_log(b, "INFO", "reloaded %zu policies and %zu reference values from the store", npol, nref);
	} else {
		vt_broker_log_err(b, "reload (the previous policies stay in force)", &e);
		if (err)
			*err = e;
	}
	return rc;
}

static vt_status load_or_create_token_key(struct vt_broker *b, struct vt_err *err)
{
	const char *path = b->cfg.token_key_path;
	if (path == NULL) /* ephemeral key: tokens die with the process */
		return vt_key_generate(VT_KEY_P256, &b->token_key, err);
	if (vt_pkcs11_is_uri(path)) { /* in an HSM: opened, never created */
		vt_status rc = vt_pkcs11_load_key(b->cfg.pkcs11_module, path, "token_signing_key", &b->token_key, err);
		if (rc != VT_OK)
			return rc;
		if (EVP_PKEY_get_base_id(b->token_key) != EVP_PKEY_EC || vt_ec_coord_size(b->token_key) != 32)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "token_signing_key",
				       "%s: the token-signing key must be EC P-256", path);
		return VT_OK;
	}
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
	if (vt_random(&b->request_id_key, sizeof(b->request_id_key), err) != VT_OK) {
		free(b);
		return VT_E_CRYPTO;
	}
	pthread_rwlock_init(&b->lock, NULL);
	pthread_mutex_init(&b->log_lock, NULL);
	vt_obs_init(&b->obs);
	b->cfg = *c;
	b->cfg.tees = json_incref(c->tees); /* the broker's reference (vt_broker_config_free drops it) */
	b->cfg.policy_selectors = json_incref(c->policy_selectors);
	b->cfg.listen_host = dup_or_null(c->listen_host);
	b->cfg.tls_cert = dup_or_null(c->tls_cert);
	b->cfg.tls_key = dup_or_null(c->tls_key);
	b->cfg.db_path = dup_or_null(c->db_path);
	b->cfg.master_key_path = dup_or_null(c->master_key_path);
	b->cfg.token_key_path = dup_or_null(c->token_key_path);
	b->cfg.master_key_wrapping_key = dup_or_null(c->master_key_wrapping_key);
	b->cfg.pkcs11_module = dup_or_null(c->pkcs11_module);
	b->cfg.insecure_sim_root = dup_or_null(c->insecure_sim_root);
	b->cfg.amd_certs = dup_or_null(c->amd_certs);
	b->cfg.collateral_cache = dup_or_null(c->collateral_cache);
	b->cfg.amd_kds_url = dup_or_null(c->amd_kds_url);
	b->cfg.dcap_collateral = dup_or_null(c->dcap_collateral);
	b->cfg.pccs_url = dup_or_null(c->pccs_url);
	b->cfg.tpm_ek_roots = dup_or_null(c->tpm_ek_roots);
	b->cfg.trusted_proxies = NULL; /* copied by vt_broker_limits_init */
	b->cfg.trusted_proxy_count = 0;
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
	VT_GUARD(vt_broker_limits_init(b, c, err));
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
	struct vt_verifier_settings vs = {
		.tees = tees, .common = common, .fetch_gate = b->fetch_gate, .http_get = vt_curl_http_get};
	VT_GUARD(vt_verifier_new(&vs, &b->verifier, err));
	/* The token key first: one in an HSM that does not open stops the start
	 * before anything (the database) is created. */
	VT_GUARD(load_or_create_token_key(b, err));
	if (c->master_key_wrapping_key) /* wrapped to a key in an HSM (pkcs11.c) */
		VT_GUARD(vt_pkcs11_master_key_unwrap(c->pkcs11_module, c->master_key_wrapping_key, c->master_key_path,
						     &mk, err));
	else
		VT_GUARD(vt_master_key_load(c->master_key_path, &mk, err));
	VT_GUARD(vt_broker_store_open(b, mk, err));
	/* Every token, release-log head and JWKS names the key: derive that once. */
	json_t *jwks = NULL;
	if ((b->token_jwk = vt_key_to_jwk(b->token_key, "ES256", false)) == NULL ||
	    (b->token_kid = vt_jwk_thumbprint(b->token_jwk)) == NULL ||
	    (jwks = json_pack("{s:[o*]}", "keys", vt_audit_jwk(b->token_key))) == NULL ||
	    json_array_size(json_object_get(jwks, "keys")) != 1 || (b->jwks = vt_json_compact(jwks)) == NULL) {
		json_decref(jwks);
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "token_signing_key", "cannot export the token-signing key");
		goto out;
	}
	json_decref(jwks);
	VT_GUARD(vt_broker_replicas_init(b, err));

	size_t npol = 0, nref = 0;
	VT_GUARD(load_policies(b, &npol, &nref, err));
	if (vt_store_shared(b->store))
		VT_GUARD(vt_broker_sync_start(b, err));
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
	vt_broker_sync_stop(b);
	for (size_t i = 0; i < VT_MAX_POLICIES; i++)
		vt_policy_free(b->policies[i].policy);
	json_decref(b->refvals);
	vt_broker_limits_free(b);
	vt_sessions_free(b->sessions);
	vt_fetch_gate_free(b->fetch_gate);
	vt_store_close(b->store);
	EVP_PKEY_free(b->token_key);
	json_decref(b->token_jwk);
	free(b->token_kid);
	free(b->jwks);
	for (size_t i = 0; i < b->admin_key_count; i++)
		EVP_PKEY_free(b->admin_keys[i]);
	free(b->admin_keys);
	vt_verifier_free(b->verifier);
	vt_broker_config_free(&b->cfg); /* the broker owns its copies (admin_keys stay NULL) */
	pthread_rwlock_destroy(&b->lock);
	pthread_mutex_destroy(&b->log_lock);
	vt_obs_destroy(&b->obs);
	free(b);
}
