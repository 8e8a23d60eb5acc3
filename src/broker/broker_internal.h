/* Broker internals shared by broker.c and server.c. */
#ifndef VT_BROKER_INTERNAL_H
#define VT_BROKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "broker/events.h"
#include "broker/session.h"
#include "broker/store.h"
#include "veritee/broker.h"
#include "veritee/policy.h"

#define VT_MAX_POLICIES 64

struct vt_policy_slot {
	char id[64];
	struct vt_policy *policy;
};

struct vt_broker_metrics {
	atomic_ulong requests, auth_ok, attest_ok, attest_fail, resource_released, resource_denied, admin_denied;
	atomic_ulong rate_limited, unavailable, reloads;
};

struct vt_broker {
	struct vt_broker_config cfg;   /* owned copies of the strings (admin_keys unused) */
	struct vt_store *store;
	struct vt_session_table *sessions;
	EVP_PKEY *token_key;           /* EAR signing key (P-256) */
	json_t *token_jwk;             /* its public JWK (as EAR headers carry it) */
	char *token_kid;               /* its RFC 7638 thumbprint: "kid" in EARs, release-log heads, the JWKS */
	char *jwks;                    /* GET /.well-known/jwks.json, made once (audit.c) */
	EVP_PKEY **admin_keys;
	size_t admin_key_count;
	struct vt_verifier *verifier;  /* the accepted TEEs with their trust anchors and caches */
	struct vt_fetch_gate *fetch_gate; /* bounds every outbound collateral fetch of the verifier */

	pthread_rwlock_t lock;         /* guards policies and refvals */
	struct vt_policy_slot policies[VT_MAX_POLICIES];
	json_t *refvals;               /* id -> JSON value (values never mutated) */

	int64_t (*clock)(void *);
	void *clock_ctx;
	struct vt_broker_metrics m;
	uint64_t request_id_key;       /* random at start: request ids differ between brokers */
	struct vt_obs obs;             /* request and verification metrics, the attestation record (events.c) */

	void *daemon;                  /* struct MHD_Daemon * */
	struct vt_conn_guard *guard;   /* connection limits and deadlines (server.c) */
	char *origin[2];               /* "http(s)://host:port" as started: the default admin audience */
	size_t origin_count;
	char *tls_cert_pem, *tls_key_pem;
	bool log_quiet;
	const char *log_prefix;
	FILE *log_stream;
	pthread_mutex_t log_lock;

	/* Replicas (sync.c): a thread that reloads policies and reference
	 * values when another broker on the shared store changed them. */
	pthread_t sync_thread;
	bool sync_running;
	atomic_bool sync_stop;
	int64_t sync_generation;       /* the kv generation the loaded policies reflect */

	/* Backpressure (ratelimit.c): NULL = no limit */
	struct vt_ratelimit *rl_auth, *rl_attest;
};

int64_t vt_broker_now(struct vt_broker *b);
/* The verifier settings of a config (config.c): its "tees" block, with the
 * older top-level settings (insecure_sim_root, amd_certs, ...) as aliases,
 * and the options common to every TEE (cache, offline). */
vt_status vt_broker_config_tees(const struct vt_broker_config *c, json_t **tees, json_t **common, struct vt_err *err);
/* A log line at `level` ("ERROR", "WARN", "INFO", "DEBUG"), in the
 * configured format, dropped above the configured level. */
void vt_broker_log(struct vt_broker *b, const char *level, const char *fmt, ...) VT_PRINTF(3, 4);
/* The request line vt_broker_handle writes after each request (respond.c). */
struct vt_request_log {
	const char *request_id, *client, *method, *path;
	int status;
	double ms;
	const struct vt_request_note *note;
};
void vt_broker_log_request(struct vt_broker *b, const struct vt_request_log *l);
/* The request note of a response (NULL outside vt_broker_handle). */
static inline struct vt_request_note *vt_note(struct vt_http_response *r)
{
	return r->note;
}
/* The value of `name`=N (decimal, 1..18 digits) in a raw query string
 * into *out, left as it is when absent; false when it is repeated, empty
 * or not digits.  Other parameters are ignored (admin.c). */
bool vt_broker_query_int(const char *query, const char *name, int64_t *out);
/* An attestation-policy-selector id or policy set name: 1..48 of [A-Za-z0-9_.-]. */
bool vt_broker_selector_valid(const char *s);

/* respond.c: KBS responses and log lines */
void vt_broker_log_err(struct vt_broker *b, const char *what, const struct vt_err *e);
void vt_resp_json(struct vt_http_response *r, int status, json_t *body);
void vt_resp_empty(struct vt_http_response *r);
void vt_resp_error(struct vt_http_response *r, const char *variant, const char *detail);
void vt_resp_err(struct vt_http_response *r, const char *variant, const char *prefix, const struct vt_err *e);
vt_status vt_req_json_body(const struct vt_http_request *req, json_t **out, struct vt_err *err);

/* policies.c: live policies (read lock held between acquire and release) */
json_t *vt_broker_refval(void *ctx, const char *name);
struct vt_policy *vt_broker_policy_acquire(struct vt_broker *b, const char *id);
void vt_broker_policy_release(struct vt_broker *b);
bool vt_broker_policy_has_room(struct vt_broker *b, const char *id);
vt_status vt_broker_policy_install(struct vt_broker *b, const char *id, struct vt_policy *p, struct vt_err *err);
/* Take a policy out of force (admin delete of an uploaded policy without a built-in default). */
void vt_broker_policy_remove(struct vt_broker *b, const char *id);
/* The built-in text of policy `id` (default_<tee>, default_cpu,
 * resource-policy), or NULL: what is in force when nothing is uploaded. */
const char *vt_broker_builtin_policy(const char *id);
/* replicas.c: the store, readiness, backpressure */
/* Open the store the config names (SQLite path or PostgreSQL URI). */
vt_status vt_broker_store_open(struct vt_broker *b, const struct vt_secret *master_key, struct vt_err *err);
/* On a shared store: sessions in the store, the token key bound to it,
 * the kv generation read (call before the policies are loaded). */
vt_status vt_broker_replicas_init(struct vt_broker *b, struct vt_err *err);
/* Rate limiters and trusted proxies from the config. */
vt_status vt_broker_limits_init(struct vt_broker *b, const struct vt_broker_config *c, struct vt_err *err);
void vt_broker_limits_free(struct vt_broker *b);
/* GET /readyz: 200 when the database answers, else 503 saying why. */
void vt_broker_readyz(struct vt_broker *b, struct vt_http_response *r);
/* The client a trusted proxy names in X-Forwarded-For (its last entry),
 * into buf; false when the peer is not a trusted proxy or names none. */
bool vt_broker_forwarded_client(struct vt_broker *b, const struct vt_http_request *req, char *buf, size_t n);
/* Take a token for the request's client; when there is none, answer 429
 * with Retry-After and return true.  rl NULL: never limited. */
bool vt_broker_rate_limited(struct vt_broker *b, struct vt_ratelimit *rl, const struct vt_http_request *req,
			    struct vt_http_response *r);

/* sync.c: follow other brokers' kv changes (shared store only): a thread
 * that calls vt_broker_reload when the store's kv generation moves. */
vt_status vt_broker_sync_start(struct vt_broker *b, struct vt_err *err);
void vt_broker_sync_stop(struct vt_broker *b);

/* rcar.c and admin.c: the handlers */
void vt_broker_auth(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);
void vt_broker_attest(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);
void vt_broker_resource_get(struct vt_broker *b, const struct vt_http_request *req, const char *path,
			    struct vt_http_response *r);
void vt_broker_admin(struct vt_broker *b, const struct vt_http_request *req, const char *first, const char *rest,
		     struct vt_http_response *r);

/* console.c: the read-only web console's static files at /console/ */
bool vt_broker_console_path(const char *path);
void vt_broker_console(const struct vt_http_request *req, struct vt_http_response *r);

/* TPM AK enrollment (tpm_enroll.c): POST /kbs/v0/tpm/enroll and
 * POST /kbs/v0/tpm/activate; challenges live in the store. */
void vt_broker_tpm_enroll(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);
void vt_broker_tpm_activate(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r);

#endif
