/*
 * What lets several brokers act as one, and keeps each of them standing
 * under load (docs/broker.md, "Several replicas"; docs/decisions.md):
 *
 *  - the store named by "database": an SQLite file (one broker, sessions in
 *    memory) or a PostgreSQL URI (any number of replicas: sessions in their
 *    authenticated cookies with the nonces' uses, TPM challenges, policies
 *    and reference values in the database, policy changes followed by
 *    sync.c);
 *  - on a shared store every replica must sign tokens with the same key
 *    and seal with the same master key: both are bound to the database at
 *    first start and checked by every replica after;
 *  - /readyz for load balancers: 200 when the database answers;
 *  - per-client-address rate limits on /auth and /attest (429 with
 *    Retry-After), the client being the one a trusted proxy names.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker_internal.h"
#include "broker/ratelimit.h"
#include "veritee/util.h"

vt_status vt_broker_store_open(struct vt_broker *b, const struct vt_secret *master_key, struct vt_err *err)
{
	const struct vt_broker_config *c = &b->cfg;
	struct vt_store_settings st;
	vt_store_settings_default(&st);
	if (c->db_pool_size)
		st.pool_size = c->db_pool_size;
	if (c->db_pool_wait_ms > 0)
		st.pool_wait_ms = c->db_pool_wait_ms;
	if (c->db_connect_timeout > 0)
		st.connect_timeout = c->db_connect_timeout;
	if (c->db_statement_timeout_ms > 0)
		st.statement_timeout_ms = c->db_statement_timeout_ms;
	if (vt_store_is_url(c->db_path) && c->token_key_path == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "token_signing_key",
			       "brokers on a PostgreSQL database act as one and must sign tokens with one shared key: "
			       "set \"token_signing_key\" to a file every replica has (docs/broker.md)");
	vt_status rc = vt_store_open(c->db_path, master_key, &st, &b->store, err);
	if (rc == VT_OK && vt_store_shared(b->store))
		vt_broker_log(b, "INFO", "store: %s (pool of %zu connections, sessions in cookies)",
			      vt_store_name(b->store), st.pool_size);
	return rc;
}

vt_status vt_broker_replicas_init(struct vt_broker *b, struct vt_err *err)
{
	if (!vt_store_shared(b->store))
		return VT_OK;
	vt_status rc = VT_OK;
	/* max_sessions bounds nothing here: unattested sessions are not held. */
	struct vt_session_table *t = vt_sessions_new_shared(b->store, 0, 0);
	if (t == NULL)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "master_key", "cannot key the session cookies");
	vt_sessions_free(b->sessions);
	b->sessions = t;
	/* A replica with another token key would issue tokens the others
	 * refuse: bind the key's thumbprint (b->token_kid) to the database. */
	VT_GUARD(vt_store_meta_bind(b->store, "token_signing_key", b->token_kid, err));
	/* The generation the policies about to be loaded reflect (sync.c). */
	VT_GUARD(vt_store_generation(b->store, &b->sync_generation, err));
out:
	return rc;
}

static bool ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

vt_status vt_broker_limits_init(struct vt_broker *b, const struct vt_broker_config *c, struct vt_err *err)
{
	if (c->auth_rate && (b->rl_auth = vt_ratelimit_new(c->auth_rate, c->rate_burst)) == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	if (c->attest_rate && (b->rl_attest = vt_ratelimit_new(c->attest_rate, c->rate_burst)) == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	if (c->trusted_proxy_count == 0)
		return VT_OK;
	b->cfg.trusted_proxies = calloc(c->trusted_proxy_count, sizeof(char *));
	if (b->cfg.trusted_proxies == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	for (size_t i = 0; i < c->trusted_proxy_count; i++) {
		if (!ip_literal(c->trusted_proxies[i]))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "trusted_proxies",
				       "\"%.64s\" is not an IP address (trusted_proxies lists the load balancers' addresses)",
				       c->trusted_proxies[i]);
		if ((b->cfg.trusted_proxies[i] = strdup(c->trusted_proxies[i])) == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
		b->cfg.trusted_proxy_count++;
	}
	return VT_OK;
}

void vt_broker_limits_free(struct vt_broker *b)
{
	vt_ratelimit_free(b->rl_auth);
	vt_ratelimit_free(b->rl_attest);
	b->rl_auth = b->rl_attest = NULL;
}

bool vt_broker_forwarded_client(struct vt_broker *b, const struct vt_http_request *req, char *buf, size_t n)
{
	if (b->cfg.trusted_proxy_count == 0 || req->client == NULL || req->forwarded_for == NULL)
		return false;
	bool trusted = false;
	for (size_t i = 0; i < b->cfg.trusted_proxy_count && !trusted; i++)
		trusted = strcmp(b->cfg.trusted_proxies[i], req->client) == 0;
	if (!trusted)
		return false;
	/* The last entry is the one the proxy itself appended; earlier ones
	 * are whatever the client claimed. */
	const char *last = strrchr(req->forwarded_for, ',');
	last = last ? last + 1 : req->forwarded_for;
	while (*last == ' ' || *last == '\t')
		last++;
	size_t len = strcspn(last, " \t");
	if (len == 0 || len >= n)
		return false;
	memcpy(buf, last, len);
	buf[len] = '\0';
	return ip_literal(buf);
}

bool vt_broker_rate_limited(struct vt_broker *b, struct vt_ratelimit *rl, const struct vt_http_request *req,
			    struct vt_http_response *r)
{
	unsigned wait = vt_ratelimit_take(rl, req->client, vt_mono_ms());
	if (wait == 0)
		return false;
	atomic_fetch_add(&b->m.rate_limited, 1);
	char d[160];
	snprintf(d, sizeof(d), "too many requests from this client address (rate_limit_*_per_second); retry after %u s",
		 wait);
	vt_resp_error(r, "TooManyRequests", d);
	r->status = 429;
	r->retry_after = wait;
	return true;
}

void vt_broker_readyz(struct vt_broker *b, struct vt_http_response *r)
{
	struct vt_err e = {0};
	if (vt_store_ping(b->store, &e) == VT_OK) {
		vt_resp_json(r, 200,
			     json_pack("{s:b, s:s, s:s}", "ready", 1, "database", vt_store_backend(b->store), "sessions",
				       vt_store_shared(b->store) ? "cookie" : "memory"));
		return;
	}
	char why[600];
	snprintf(why, sizeof(why), "database: %s", e.detail[0] ? e.detail : vt_status_name(e.code));
	vt_broker_log(b, "WARN", "readyz: not ready: %s", why);
	vt_resp_json(r, 503, json_pack("{s:b, s:s}", "ready", 0, "reason", why));
	r->retry_after = 1;
}
