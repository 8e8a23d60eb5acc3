/* Broker configuration: JSON file over safe defaults. */
#include <libgen.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker_internal.h"
#include "broker/pkcs11.h"
#include "broker/store.h"
#include "veritee/broker.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/util.h"

bool vt_log_format_parse(const char *s, enum vt_log_format *out)
{
	if (s != NULL && strcmp(s, "text") == 0)
		*out = VT_LOG_TEXT;
	else if (s != NULL && strcmp(s, "json") == 0)
		*out = VT_LOG_JSON;
	else
		return false;
	return true;
}

bool vt_log_level_parse(const char *s, enum vt_log_level *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; s != NULL && i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum vt_log_level)i;
			return true;
		}
	}
	return false;
}

void vt_broker_config_init(struct vt_broker_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen_host = strdup("127.0.0.1");
	c->port = 8080;
	c->session_timeout = 300;
	c->token_lifetime = 300;
	c->max_body = 2u << 20;
	c->max_sessions = 100000;
	c->explain_denials = true;
	c->log_format = VT_LOG_TEXT;
	c->log_level = VT_LOG_INFO;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	c->threads = (unsigned)(n > 0 ? 2 * n : 4);
	c->max_body = 1u << 20;
	c->max_sessions_per_client = 1000;
	c->max_connections = 4000;
	c->max_connections_per_client = 64;
	c->header_timeout = 10;
	c->request_timeout = 30;
	c->idle_timeout = 15;
	c->body_memory = 64u << 20;
	c->body_memory_per_client = 8u << 20;
	c->max_concurrent_fetches = 4;
	c->fetch_timeout = 5;
	c->fetches_per_client_per_minute = 10;
	c->negative_cache_seconds = 300;
	c->admin_token_max_lifetime = 900;
	c->max_devices = 16;
	c->db_pool_size = 8;
	c->db_pool_wait_ms = 1000;
	c->db_connect_timeout = 2;
	c->db_statement_timeout_ms = 5000;
	c->rate_burst = 20;
}

void vt_broker_config_free(struct vt_broker_config *c)
{
	free(c->listen_host);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->db_path);
	free(c->master_key_path);
	free(c->master_key_wrapping_key);
	free(c->pkcs11_module);
	free(c->token_key_path);
	json_decref(c->tees);
	json_decref(c->policy_selectors);
	free(c->insecure_sim_root);
	free(c->amd_certs);
	free(c->collateral_cache);
	free(c->amd_kds_url);
	free(c->dcap_collateral);
	free(c->pccs_url);
	free(c->tpm_ek_roots);
	for (size_t i = 0; i < c->admin_key_count; i++)
		free(c->admin_keys[i]);
	free(c->admin_keys);
	for (size_t i = 0; i < c->admin_audience_count; i++)
		free(c->admin_audience[i]);
	free(c->admin_audience);
	for (size_t i = 0; i < c->trusted_proxy_count; i++)
		free(c->trusted_proxies[i]);
	free(c->trusted_proxies);
	memset(c, 0, sizeof(*c));
}

bool vt_broker_selector_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 48)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* Resolve a path from the config relative to the config file's directory. */
static char *resolve(const char *dir, const char *p)
{
	if (p[0] == '/' || dir == NULL)
		return strdup(p);
	size_t n = strlen(dir) + strlen(p) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", dir, p);
	return s;
}

static vt_status set_path(char **slot, const char *dir, json_t *v, const char *key, struct vt_err *err)
{
	if (!json_is_string(v))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"%s\" must be a string (a file path)", key);
	free(*slot);
	*slot = resolve(dir, json_string_value(v));
	return *slot ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, key, "out of memory");
}

/* A string taken as it is (a URI: no path resolution). */
static vt_status set_verbatim(char **slot, json_t *v, const char *key, struct vt_err *err)
{
	if (!json_is_string(v))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"%s\" must be a string", key);
	free(*slot);
	*slot = strdup(json_string_value(v));
	return *slot ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, key, "out of memory");
}

static vt_status set_int(int64_t *slot, json_t *v, const char *key, int64_t lo, int64_t hi, struct vt_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"%s\" must be an integer in %lld..%lld", key,
			       (long long)lo, (long long)hi);
	*slot = json_integer_value(v);
	return VT_OK;
}

/* The numeric limits, by name; false when `key` is not one of them. */
static bool set_limit(struct vt_broker_config *c, const char *key, json_t *v, vt_status *rc, struct vt_err *err)
{
	static const struct {
		const char *name;
		int64_t lo, hi;
		size_t off;
		int kind; /* 0 int64_t, 1 size_t, 2 unsigned */
	} limits[] = {
		{"max_sessions_per_client", 1, 10000000, offsetof(struct vt_broker_config, max_sessions_per_client), 1},
		{"max_connections", 16, 1000000, offsetof(struct vt_broker_config, max_connections), 2},
		{"max_connections_per_client", 1, 1000000, offsetof(struct vt_broker_config, max_connections_per_client), 2},
		{"header_timeout_seconds", 1, 3600, offsetof(struct vt_broker_config, header_timeout), 0},
		{"request_timeout_seconds", 1, 3600, offsetof(struct vt_broker_config, request_timeout), 0},
		{"idle_timeout_seconds", 1, 3600, offsetof(struct vt_broker_config, idle_timeout), 0},
		{"body_memory_bytes", 1 << 20, (int64_t)1 << 34, offsetof(struct vt_broker_config, body_memory), 1},
		{"body_memory_bytes_per_client", 64 << 10, (int64_t)1 << 34,
		 offsetof(struct vt_broker_config, body_memory_per_client), 1},
		{"max_concurrent_fetches", 0, 1024, offsetof(struct vt_broker_config, max_concurrent_fetches), 2},
		{"fetch_timeout_seconds", 1, 300, offsetof(struct vt_broker_config, fetch_timeout), 0},
		{"fetches_per_client_per_minute", 0, 100000,
		 offsetof(struct vt_broker_config, fetches_per_client_per_minute), 2},
		{"negative_cache_seconds", 0, 86400, offsetof(struct vt_broker_config, negative_cache_seconds), 0},
		{"max_devices", 1, 1024, offsetof(struct vt_broker_config, max_devices), 1},
		{"admin_token_max_lifetime_seconds", 10, 86400,
		 offsetof(struct vt_broker_config, admin_token_max_lifetime), 0},
		{"database_pool_size", 1, 1024, offsetof(struct vt_broker_config, db_pool_size), 2},
		{"database_pool_wait_ms", 1, 60000, offsetof(struct vt_broker_config, db_pool_wait_ms), 0},
		{"database_connect_timeout_seconds", 1, 60, offsetof(struct vt_broker_config, db_connect_timeout), 0},
		{"database_statement_timeout_ms", 100, 600000, offsetof(struct vt_broker_config, db_statement_timeout_ms), 0},
		{"rate_limit_auth_per_second", 0, 1000000, offsetof(struct vt_broker_config, auth_rate), 2},
		{"rate_limit_attest_per_second", 0, 1000000, offsetof(struct vt_broker_config, attest_rate), 2},
		{"rate_limit_burst", 1, 1000000, offsetof(struct vt_broker_config, rate_burst), 2},
	};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		if (strcmp(key, limits[i].name) != 0)
			continue;
		int64_t x = 0;
		*rc = set_int(&x, v, key, limits[i].lo, limits[i].hi, err);
		if (*rc == VT_OK) {
			char *slot = (char *)c + limits[i].off;
			if (limits[i].kind == 0)
				*(int64_t *)(void *)slot = x;
			else if (limits[i].kind == 1)
				*(size_t *)(void *)slot = (size_t)x;
			else
				*(unsigned *)(void *)slot = (unsigned)x;
		}
		return true;
	}
	return false;
}

/* "tees": {"<tee>": {option: value}}; options a descriptor marks as paths
 * are resolved against the config's directory.  Names and options are
 * checked when the verifier is built (vt_verifier_new). */
static vt_status set_tees(struct vt_broker_config *c, const char *dir, json_t *v, struct vt_err *err)
{
	if (!json_is_object(v))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tees", "\"tees\" must be an object {\"<tee>\": {options}}");
	json_t *copy = json_deep_copy(v);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "tees", "out of memory");
	const char *name;
	json_t *block;
	json_object_foreach(copy, name, block) {
		const struct vt_tee *t = vt_tee_find(name);
		for (const struct vt_tee_option *o = t ? t->options : NULL; o && o->name && json_is_object(block); o++) {
			json_t *val = json_object_get(block, o->name);
			if (!o->is_path || !json_is_string(val))
				continue;
			char *p = resolve(dir, json_string_value(val));
			if (p == NULL || json_object_set_new(block, o->name, json_string(p)) != 0) {
				free(p);
				json_decref(copy);
				return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "tees", "out of memory");
			}
			free(p);
		}
	}
	json_decref(c->tees);
	c->tees = copy;
	return VT_OK;
}

/* Set tees[tee][opt] unless the block already has it (aliases never win). */
static int alias(json_t *tees, const char *tee, const char *opt, json_t *val)
{
	if (val == NULL)
		return 0;
	json_t *block = json_object_get(tees, tee);
	if (block == NULL) {
		block = json_object();
		if (block == NULL || json_object_set_new(tees, tee, block) != 0) {
			json_decref(val);
			return -1;
		}
	}
	if (json_object_get(block, opt) != NULL) {
		json_decref(val);
		return 0;
	}
	return json_object_set_new(block, opt, val);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : NULL;
}

vt_status vt_broker_config_tees(const struct vt_broker_config *c, json_t **tees, json_t **common, struct vt_err *err)
{
	json_t *t = c->tees ? json_deep_copy(c->tees) : json_object();
	json_t *cm = json_object();
	int bad = t == NULL || cm == NULL;
	/* The older top-level settings, by the names their TEEs now use. */
	bad = bad || alias(t, "sim", "root", str_or_null(c->insecure_sim_root)) != 0;
	bad = bad || alias(t, "snp", "certs", str_or_null(c->amd_certs)) != 0;
	bad = bad || alias(t, "snp", "kds_url", str_or_null(c->amd_kds_url)) != 0;
	for (int i = 0; i < 2 && !bad; i++) {
		const char *dcap = i ? "sgx" : "tdx";
		bad = bad || alias(t, dcap, "collateral", str_or_null(c->dcap_collateral)) != 0;
		bad = bad || alias(t, dcap, "pccs_url", str_or_null(c->pccs_url)) != 0;
		if (c->collateral_grace > 0)
			bad = bad || alias(t, dcap, "grace", json_integer(c->collateral_grace)) != 0;
	}
	if (!bad && c->collateral_cache)
		bad = json_object_set_new(cm, "cache", json_string(c->collateral_cache)) != 0;
	if (!bad && c->offline)
		bad = json_object_set_new(cm, "offline", json_true()) != 0;
	if (bad) {
		json_decref(t);
		json_decref(cm);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "tees", "out of memory");
	}
	*tees = t;
	*common = cm;
	return VT_OK;
}

/* A string or a list of strings. */
static vt_status set_strings(char ***list, size_t *count, json_t *v, const char *key, struct vt_err *err)
{
	json_t *arr = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
	vt_status rc = VT_OK;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 64) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"%s\" must be a string or a list of 1..64 strings", key);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s)) {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"%s\" must hold strings", key);
			goto out;
		}
		char **grown = realloc(*list, (*count + 1) * sizeof(*grown));
		char *dup = grown ? strdup(json_string_value(s)) : NULL;
		if (grown)
			*list = grown;
		if (dup == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, key, "out of memory");
			goto out;
		}
		(*list)[(*count)++] = dup;
	}
out:
	json_decref(arr);
	return rc;
}

vt_status vt_broker_config_load(const char *path, struct vt_broker_config *c, struct vt_err *err)
{
	uint8_t *text = NULL;
	size_t n = 0;
	json_t *root = NULL;
	char *dircopy = NULL;
	vt_status rc = VT_OK;
	VT_GUARD(vt_file_read(path, 1u << 20, &text, &n, err));
	VT_GUARD(vt_json_parse((const char *)text, n, 1u << 20, &root, err));
	if (!json_is_object(root)) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, path, "config must be a JSON object");
		goto out;
	}
	dircopy = strdup(path);
	const char *dir = dircopy ? dirname(dircopy) : ".";
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		int64_t x;
		if (strcmp(key, "listen") == 0) {
			/* "host:port" (IPv6 as "[::1]:port") */
			const char *s = json_string_value(v);
			const char *colon = s ? strrchr(s, ':') : NULL;
			if (colon == NULL || colon == s) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"listen\" must be \"host:port\"");
				goto out;
			}
			char *end;
			long port = strtol(colon + 1, &end, 10);
			if (*end || port < 0 || port > 65535) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "bad port in \"listen\"");
				goto out;
			}
			const char *h = s;
			size_t hl = (size_t)(colon - s);
			if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
				h++;
				hl -= 2;
			}
			free(c->listen_host);
			c->listen_host = strndup(h, hl);
			c->port = (uint16_t)port;
		} else if (strcmp(key, "tls_cert") == 0) {
			VT_GUARD(set_path(&c->tls_cert, dir, v, key, err));
		} else if (strcmp(key, "tls_key") == 0) {
			VT_GUARD(set_path(&c->tls_key, dir, v, key, err));
		} else if (strcmp(key, "database") == 0) {
			/* A PostgreSQL URI as it is; anything else is an SQLite path. */
			if (json_is_string(v) && vt_store_is_url(json_string_value(v))) {
				VT_GUARD(set_verbatim(&c->db_path, v, key, err));
			} else {
				VT_GUARD(set_path(&c->db_path, dir, v, key, err));
			}
		} else if (strcmp(key, "master_key") == 0) {
			VT_GUARD(set_path(&c->master_key_path, dir, v, key, err));
		} else if (strcmp(key, "token_signing_key") == 0) {
			if (json_is_string(v) && vt_pkcs11_is_uri(json_string_value(v))) { /* an HSM key, as it is */
				VT_GUARD(set_verbatim(&c->token_key_path, v, key, err));
			} else {
				VT_GUARD(set_path(&c->token_key_path, dir, v, key, err));
			}
		} else if (strcmp(key, "master_key_wrapping_key") == 0) {
			if (!vt_pkcs11_is_uri(json_string_value(v))) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key,
					     "\"master_key_wrapping_key\" must be a PKCS#11 URI (\"pkcs11:...\")");
				goto out;
			}
			VT_GUARD(set_verbatim(&c->master_key_wrapping_key, v, key, err));
		} else if (strcmp(key, "pkcs11_module") == 0) {
			VT_GUARD(set_path(&c->pkcs11_module, dir, v, key, err));
		} else if (strcmp(key, "insecure_sim_root") == 0) {
			VT_GUARD(set_path(&c->insecure_sim_root, dir, v, key, err));
		} else if (strcmp(key, "amd_certs") == 0) {
			VT_GUARD(set_path(&c->amd_certs, dir, v, key, err));
		} else if (strcmp(key, "collateral_cache") == 0) {
			VT_GUARD(set_path(&c->collateral_cache, dir, v, key, err));
		} else if (strcmp(key, "amd_kds_url") == 0) {
			if (!json_is_string(v) || strncmp(json_string_value(v), "http", 4) != 0) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"amd_kds_url\" must be an http(s) URL");
				goto out;
			}
			free(c->amd_kds_url);
			c->amd_kds_url = strdup(json_string_value(v));
		} else if (strcmp(key, "tpm_ek_roots") == 0) {
			VT_GUARD(set_path(&c->tpm_ek_roots, dir, v, key, err));
		} else if (strcmp(key, "dcap_collateral") == 0) {
			VT_GUARD(set_path(&c->dcap_collateral, dir, v, key, err));
		} else if (strcmp(key, "pccs_url") == 0) {
			if (!json_is_string(v) || strncmp(json_string_value(v), "http", 4) != 0) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"pccs_url\" must be an http(s) URL");
				goto out;
			}
			free(c->pccs_url);
			c->pccs_url = strdup(json_string_value(v));
		} else if (strcmp(key, "collateral_grace_seconds") == 0) {
			VT_GUARD(set_int(&c->collateral_grace, v, key, 0, 90 * 86400, err));
		} else if (strcmp(key, "offline") == 0) {
			if (!json_is_boolean(v)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"offline\" must be true or false");
				goto out;
			}
			c->offline = json_is_true(v);
		} else if (strcmp(key, "insecure_http") == 0) {
			if (!json_is_boolean(v)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"insecure_http\" must be true or false");
				goto out;
			}
			c->insecure_http = json_is_true(v);
		} else if (strcmp(key, "verbose_token") == 0) {
			if (!json_is_boolean(v)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"verbose_token\" must be true or false");
				goto out;
			}
			c->verbose_token = json_is_true(v);
		} else if (strcmp(key, "attestation_policy_selectors") == 0) {
			const char *id;
			json_t *set;
			if (!json_is_object(v)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key,
					     "\"attestation_policy_selectors\" must map selector ids to policy set names");
				goto out;
			}
			json_object_foreach(v, id, set) {
				if (!vt_broker_selector_valid(id) || !vt_broker_selector_valid(json_string_value(set))) {
					rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key,
						     "selector \"%.64s\": ids and policy set names are 1..48 of [A-Za-z0-9_.-]", id);
					goto out;
				}
			}
			json_decref(c->policy_selectors);
			c->policy_selectors = json_incref(v);
		} else if (strcmp(key, "log_format") == 0) {
			if (!vt_log_format_parse(json_string_value(v), &c->log_format)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"log_format\" must be \"text\" or \"json\"");
				goto out;
			}
		} else if (strcmp(key, "log_level") == 0) {
			if (!vt_log_level_parse(json_string_value(v), &c->log_level)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key,
					     "\"log_level\" must be \"error\", \"warn\", \"info\" or \"debug\"");
				goto out;
			}
		} else if (strcmp(key, "explain_denials") == 0) {
			if (!json_is_boolean(v)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"explain_denials\" must be true or false");
				goto out;
			}
			c->explain_denials = json_is_true(v);
		} else if (strcmp(key, "admin_public_keys") == 0) {
			if (!json_is_array(v)) {
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "\"admin_public_keys\" must be a list of PEM file paths");
				goto out;
			}
			for (size_t i = 0; i < json_array_size(v); i++) {
				char **grown = realloc(c->admin_keys, (c->admin_key_count + 1) * sizeof(*grown));
				if (grown == NULL) {
					rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, key, "out of memory");
					goto out;
				}
				c->admin_keys = grown;
				c->admin_keys[c->admin_key_count] = NULL;
				VT_GUARD(set_path(&c->admin_keys[c->admin_key_count], dir, json_array_get(v, i), key, err));
				c->admin_key_count++;
			}
		} else if (strcmp(key, "session_timeout_seconds") == 0) {
			VT_GUARD(set_int(&c->session_timeout, v, key, 1, 86400, err));
		} else if (strcmp(key, "token_lifetime_seconds") == 0) {
			VT_GUARD(set_int(&c->token_lifetime, v, key, 1, 86400, err));
		} else if (strcmp(key, "max_body_bytes") == 0) {
			VT_GUARD(set_int(&x, v, key, 1024, 64 << 20, err));
			c->max_body = (size_t)x;
		} else if (strcmp(key, "max_sessions") == 0) {
			VT_GUARD(set_int(&x, v, key, 1, 10000000, err));
			c->max_sessions = (size_t)x;
		} else if (strcmp(key, "threads") == 0) {
			VT_GUARD(set_int(&x, v, key, 1, 1024, err));
			c->threads = (unsigned)x;
		} else if (set_limit(c, key, v, &rc, err)) {
			if (rc != VT_OK)
				goto out;
		} else if (strcmp(key, "tees") == 0) {
			VT_GUARD(set_tees(c, dir, v, err));
		} else if (strcmp(key, "admin_audience") == 0) {
			VT_GUARD(set_strings(&c->admin_audience, &c->admin_audience_count, v, key, err));
		} else if (strcmp(key, "trusted_proxies") == 0) {
			VT_GUARD(set_strings(&c->trusted_proxies, &c->trusted_proxy_count, v, key, err));
		} else {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, key, "unknown setting \"%.64s\" (see docs/broker.md)", key);
			goto out;
		}
	}
out:
	free(dircopy);
	json_decref(root);
	free(text);
	return rc;
}
