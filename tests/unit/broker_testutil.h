/* Helpers for unit tests that drive the broker directly (no sockets):
 * one request, an admin bearer token, paths in a test directory. */
#ifndef VT_BROKER_TESTUTIL_H
#define VT_BROKER_TESTUTIL_H

#include "testutil.h"

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/sim.h"

/* "<dir>/<name>", malloc'd. */
static inline char *vt_test_path_in(const char *dir, const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* Hand `r` to the broker: returns the status, and optionally the request id
 * (16 hex digits, asserted), the parsed JSON body and the kbs-session-id
 * the response set (malloc'd). */
static inline int vt_test_broker_request(struct vt_broker *b, const struct vt_http_request *r, char rid[17],
					 json_t **json_out, char **cookie_out)
{
	struct vt_http_response resp;
	vt_broker_handle(b, r, &resp);
	assert_null(resp.note);
	assert_int_equal(strlen(resp.request_id), 16);
	assert_int_equal(strspn(resp.request_id, "0123456789abcdef"), 16);
	if (rid)
		memcpy(rid, resp.request_id, 17);
	int status = resp.status;
	if (json_out)
		*json_out = resp.body ? json_loadb(resp.body, resp.body_size, 0, NULL) : NULL;
	if (cookie_out) {
		*cookie_out = NULL;
		if (resp.set_cookie && strncmp(resp.set_cookie, "kbs-session-id=", 15) == 0)
			*cookie_out = strndup(resp.set_cookie + 15, 32);
	}
	vt_http_response_free(&resp);
	return status;
}

/* One request; returns the status, and optionally the parsed JSON body and
 * the kbs-session-id the response set (malloc'd). */
static inline int vt_test_broker_call(struct vt_broker *b, const char *method, const char *path, const char *cookie,
				      const char *auth, const char *body, json_t **json_out, char **cookie_out)
{
	struct vt_http_request r = {.method = method, .path = path, .session_cookie = cookie, .authorization = auth,
				    .body = (const uint8_t *)(body ? body : ""), .body_size = body ? strlen(body) : 0};
	return vt_test_broker_request(b, &r, NULL, json_out, cookie_out);
}

/* "Bearer <admin JWT>" signed by `admin`, valid 60 s from `now`, with a
 * fresh jti (admin tokens are single-use). */
static inline char *vt_test_admin_bearer(EVP_PKEY *admin, int64_t now)
{
	static unsigned counter;
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	char payload[128], *jws = NULL, *out = NULL;
	snprintf(payload, sizeof(payload), "{\"exp\":%lld,\"jti\":\"unit-test-token-%08u\"}", (long long)now + 60,
		 ++counter);
	assert_int_equal(vt_jws_sign(admin, h, (const uint8_t *)payload, strlen(payload), &jws, NULL), VT_OK);
	assert_true(asprintf(&out, "Bearer %s", jws) > 0);
	free(jws);
	json_decref(h);
	return out;
}

/* The keys a broker test needs in `dir`: the sim TEE's keys in <dir>/sim
 * (its path into simdir) and a fresh admin key, its public half saved as
 * <dir>/admin.pub. */
static inline void vt_test_broker_keys(const char *dir, char *simdir, size_t simdir_size, EVP_PKEY **admin)
{
	snprintf(simdir, simdir_size, "%s/sim", dir);
	assert_int_equal(vt_sim_ensure_keys(simdir, NULL), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, admin, NULL), VT_OK);
	char *pub = vt_test_path_in(dir, "admin.pub");
	assert_int_equal(vt_key_save_pem(pub, *admin, false, 0644, NULL), VT_OK);
	free(pub);
}

/* rm -rf a test directory (asserts it worked). */
static inline void vt_test_rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
