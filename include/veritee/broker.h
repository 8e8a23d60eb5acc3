/*
 * veritee/broker.h — the Key Broker Service (KBS protocol 0.4.0, RCAR).
 *
 * Request handling is transport-independent (vt_broker_handle), so tests
 * and the fuzzer drive it directly; vt_broker_start puts it behind
 * libmicrohttpd.  See docs/broker.md for the configuration file.
 */
#ifndef VERITEE_BROKER_H
#define VERITEE_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "veritee/err.h"

/* Log line formats and levels (config "log_format", "log_level"). */
enum vt_log_format { VT_LOG_TEXT = 0, VT_LOG_JSON };
enum vt_log_level { VT_LOG_ERROR = 0, VT_LOG_WARN, VT_LOG_INFO, VT_LOG_DEBUG };
/* "text"/"json" and "error"/"warn"/"info"/"debug"; false for anything else. */
VT_API bool vt_log_format_parse(const char *s, enum vt_log_format *out);
VT_API bool vt_log_level_parse(const char *s, enum vt_log_level *out);

struct vt_broker_config {
	char *listen_host;          /* default "127.0.0.1" */
	uint16_t port;              /* default 8080; 0 = pick a free port */
	char *tls_cert;             /* PEM file; with tls_key => HTTPS */
	char *tls_key;
	bool insecure_http;         /* allow plain HTTP on a non-loopback address */
	char *db_path;              /* SQLite file (created), or a PostgreSQL URI "postgresql://USER@HOST:PORT/DB" */
	char *master_key_path;      /* 32-byte key, 0600, created on first start */
	char *token_key_path;       /* EAR signing key (P-256 PEM), created on first start; or a "pkcs11:"
	                               URI naming a P-256 key in an HSM (never created) */
	char *master_key_wrapping_key; /* "pkcs11:" URI of an RSA key in an HSM: master_key holds the key
	                                  wrapped to it (RSA-OAEP SHA-256); NULL = master_key is plain */
	char *pkcs11_module;        /* the HSM's PKCS#11 module (.so), needed by any "pkcs11:" key */
	char **admin_keys;          /* admin public key PEM files */
	size_t admin_key_count;
	/* The TEEs' options: {"<tee>": {option: value}} (veritee/verifier.h);
	 * owned, NULL = none.  The members below marked "alias" are the older
	 * spellings of some of them, still read. */
	struct json_t *tees;
	char *insecure_sim_root;    /* alias of tees.sim.root: accept INSECURE sim evidence */
	int64_t session_timeout;    /* seconds, default 300 */
	int64_t token_lifetime;     /* seconds, default 300 */
	size_t max_body;            /* bytes, default 2 MiB */
	size_t max_sessions;        /* default 100000 */
	bool explain_denials;       /* put the policy explanation in error details (default true) */
	char *amd_certs;            /* alias of tees.snp.certs */
	char *collateral_cache;     /* every TEE's "cache" option (fetched vendor collateral) */
	char *amd_kds_url;          /* alias of tees.snp.kds_url */
	bool offline;               /* every TEE's "offline" option: never fetch collateral */
	char *dcap_collateral;      /* alias of tees.tdx.collateral and tees.sgx.collateral */
	char *pccs_url;             /* alias of tees.tdx.pccs_url and tees.sgx.pccs_url */
	int64_t collateral_grace;   /* alias of tees.tdx.grace and tees.sgx.grace */
	unsigned threads;           /* HTTP worker threads, default 2 * cores */
	char *tpm_ek_roots;         /* TPM AK enrollment: file or directory of EK CA certificates (PEM/DER);
	                               NULL = /tpm/enroll refused */

	/* Limits against unauthenticated clients (docs/security.md).  A
	 * "client" is the peer IP address. */
	size_t max_sessions_per_client;   /* unattested sessions per client, default 1000 */
	unsigned max_connections;         /* default 4000 (the open-files limit is raised to fit) */
	unsigned max_connections_per_client; /* default 64 */
	int64_t header_timeout;           /* seconds to receive request line + headers, absolute, default 10 */
	int64_t request_timeout;          /* seconds to receive a whole request, absolute, default 30 */
	int64_t idle_timeout;             /* seconds a keep-alive connection may idle, default 15 */
	size_t body_memory;               /* bytes of request bodies buffered at once, default 64 MiB */
	size_t body_memory_per_client;    /* of which one client may hold, default 8 MiB */
	unsigned max_concurrent_fetches;  /* outbound collateral fetches at once, default 4 */
	int64_t fetch_timeout;            /* seconds for one fetch with its retries, default 5 */
	unsigned fetches_per_client_per_minute; /* fetch-triggering attestations, default 10 */
	int64_t negative_cache_seconds;   /* a failed fetch is not retried for this long, default 300 */

	/* Composite evidence and the 2026 protocol additions (kbs-protocol.md §14) */
	size_t max_devices;               /* devices in one additional_evidence, default 16 */
	bool verbose_token;               /* raw additional evidence in tokens (Trustee's default true); default
	                                     false: its SHA-384 only, so tokens of 8 GPUs fit a Bearer header */
	struct json_t *policy_selectors;  /* {"<attestation-policy-selector id>": "<policy set name>"}; owned */

	/* Admin tokens */
	int64_t admin_token_max_lifetime; /* seconds (exp - iat), default 900 */
	char **admin_audience;            /* accepted "aud" values; none = the broker's own origin */
	size_t admin_audience_count;

	/* PostgreSQL (db_path a URI; docs/broker.md, "Several replicas") */
	unsigned db_pool_size;            /* connections per broker, default 8 */
	int64_t db_pool_wait_ms;          /* longest wait for a free connection (then 503), default 1000 */
	int64_t db_connect_timeout;       /* seconds, default 2 */
	int64_t db_statement_timeout_ms;  /* default 5000 */

	/* Backpressure: per-client rate limits (token buckets), 0 = none */
	unsigned auth_rate;               /* POST /auth per client address per second */
	unsigned attest_rate;             /* POST /attest per client address per second */
	unsigned rate_burst;              /* bucket size, default 20 */
	/* Peers whose X-Forwarded-For names the client (a load balancer):
	 * exact IP addresses.  Owned. */
	char **trusted_proxies;
	size_t trusted_proxy_count;

	/* Logs: one line per request and the broker's events (docs/broker.md, "Logs") */
	enum vt_log_format log_format;    /* default VT_LOG_TEXT */
	enum vt_log_level log_level;      /* lines above it are dropped; default VT_LOG_INFO */
};

/* Defaults for every member (strings NULL except listen_host). */
VT_API void vt_broker_config_init(struct vt_broker_config *c);
/* Load a JSON config file over the defaults; relative paths are resolved
 * against the file's directory.  Unknown members are errors. */
VT_API VT_MUST_USE vt_status vt_broker_config_load(const char *path, struct vt_broker_config *c, struct vt_err *err);
VT_API void vt_broker_config_free(struct vt_broker_config *c);

struct vt_broker;

/* Open storage, load or create keys, load policies.  The config is copied. */
VT_API VT_MUST_USE vt_status vt_broker_new(const struct vt_broker_config *c, struct vt_broker **out, struct vt_err *err);
VT_API void vt_broker_free(struct vt_broker *b);

/* Injectable clock for tests (seconds since the epoch); NULL = wall clock. */
VT_API void vt_broker_set_clock(struct vt_broker *b, int64_t (*now)(void *), void *ctx);

struct vt_http_request {
	const char *method;         /* "GET", "POST", ... */
	const char *path;           /* "/kbs/v0/auth" (no query) */
	const char *query;          /* raw query string without '?', or NULL */
	const char *session_cookie; /* value of the kbs-session-id cookie, or NULL */
	const char *authorization;  /* Authorization header, or NULL */
	const char *client;         /* the peer's IP address (quotas are per client), or NULL */
	const uint8_t *body;
	size_t body_size;
	const char *forwarded_for;  /* X-Forwarded-For header, or NULL (used only from trusted_proxies) */
};

struct vt_http_response {
	int status;
	const char *content_type;   /* static string */
	char *body;                 /* malloc'd (may be NULL) */
	size_t body_size;
	char *set_cookie;           /* malloc'd Set-Cookie value, or NULL */
	unsigned retry_after;       /* seconds for Retry-After (429, 503); 0 = the transport's default */
	const char *const *headers; /* more headers: static {name, value, ..., NULL}, or NULL */
	char request_id[17];        /* set by vt_broker_handle: 16 hex digits, sent as X-Request-Id */
	struct vt_request_note *note; /* internal: what the handler did, for the request log (NULL outside
	                                 vt_broker_handle) */
};

/* Handle one request.  Never fails: errors become KBS error responses. */
VT_API void vt_broker_handle(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *resp);
VT_API void vt_http_response_free(struct vt_http_response *resp);

/* Start serving in background threads; *port_out gets the bound port. */
VT_API VT_MUST_USE vt_status vt_broker_start(struct vt_broker *b, uint16_t *port_out, struct vt_err *err);
VT_API void vt_broker_stop(struct vt_broker *b);

/* Read the policies and reference values from the store again (the
 * shipped defaults, then the stored ones over them) and put them in force
 * at once: a request sees the old set or the new one.  On failure the old
 * set stays.  For `veritee serve` on SIGHUP, e.g. after another broker on
 * the same store changed them. */
VT_API VT_MUST_USE vt_status vt_broker_reload(struct vt_broker *b, struct vt_err *err);

/* Re-read tls_cert and tls_key (a started HTTPS broker; otherwise a no-op)
 * and serve new connections with them; open connections keep theirs.  On
 * failure the old certificate stays and the error is logged.  For `veritee
 * serve` on SIGHUP (certificate renewal). */
VT_API VT_MUST_USE vt_status vt_broker_reload_tls(struct vt_broker *b, struct vt_err *err);

/* Check a loaded config as vt_broker_new and vt_broker_start would, with
 * no side effect (nothing created, nothing listened on): the listen
 * address, TLS certificate and key, admin keys, every TEE's options, and
 * the key and database files (those that do not exist yet must be
 * creatable).  Calls warn (may be NULL) for what is not an error yet, e.g.
 * a state directory a service manager will make.  `veritee serve
 * --check-config`. */
VT_API VT_MUST_USE vt_status vt_broker_config_check(const struct vt_broker_config *c,
						    void (*warn)(void *ctx, const char *text), void *ctx,
						    struct vt_err *err);
/* Risks of a config that works: no admin key (the admin API refuses
 * everything), INSECURE sim evidence accepted on a non-loopback address.
 * Calls warn once for each; returns how many. */
VT_API size_t vt_broker_config_warnings(const struct vt_broker_config *c, void (*warn)(void *ctx, const char *text),
					void *ctx);

/* Logging: lines go to `stream` (NULL = stderr), each prefixed with
 * `prefix` (may be NULL); `quiet` silences them.  Logs never carry secrets,
 * evidence bytes or tokens. */
VT_API void vt_broker_set_log(struct vt_broker *b, bool quiet, const char *prefix, FILE *stream);

/* Live session count (for metrics and benchmarks). */
VT_API size_t vt_broker_session_count(struct vt_broker *b);

#endif
