/* libFuzzer: the broker's request handling (vt_broker_handle), the entry
 * point every untrusted HTTP request reaches.
 *
 * Input layout: byte 0 picks the endpoint, byte 1 picks credentials (none,
 * a fresh valid session cookie, a valid admin token, garbage), the rest is
 * the body (or, for the "raw path" endpoint, "path\nbody"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/broker.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vt_broker *broker;
static char *admin_token;
static EVP_PKEY *admin_key;

/* A valid single-use admin token (fresh jti, two minutes). */
static int mint_admin(void)
{
	static unsigned long n;
	char payload[160];
	snprintf(payload, sizeof(payload), "{\"exp\":%lld,\"jti\":\"fuzz-admin-token-%016lu\"}",
		 (long long)vt_now() + 120, ++n);
	json_t *h = json_pack("{s:s}", "alg", "ES256");
	free(admin_token);
	admin_token = NULL;
	vt_status rc = vt_jws_sign(admin_key, h, (const uint8_t *)payload, strlen(payload), &admin_token, NULL);
	json_decref(h);
	return rc == VT_OK ? 0 : -1;
}

static int init(void)
{
	char tmpl[] = "/tmp/veritee-fuzz-broker-XXXXXX";
	char *dir = mkdtemp(tmpl);
	if (dir == NULL)
		return -1;
	char simdir[300], pub[300], db[300], mk[300], root[300];
	snprintf(simdir, sizeof(simdir), "%s/sim", dir);
	snprintf(pub, sizeof(pub), "%s/admin.pub", dir);
	snprintf(db, sizeof(db), "%s/kbs.db", dir);
	snprintf(mk, sizeof(mk), "%s/master.key", dir);
	snprintf(root, sizeof(root), "%s/sim/sim-root.pem", dir);
	EVP_PKEY *admin = NULL;
	if (vt_sim_ensure_keys(simdir, NULL) != VT_OK || vt_key_generate(VT_KEY_P256, &admin, NULL) != VT_OK ||
	    vt_key_save_pem(pub, admin, false, 0644, NULL) != VT_OK)
		return -1;
	char *keys[] = {pub};
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	c.db_path = db;
	c.master_key_path = mk;
	c.insecure_sim_root = root;
	c.admin_keys = keys;
	c.admin_key_count = 1;
	c.max_sessions = 2000;
	if (vt_broker_new(&c, &broker, NULL) != VT_OK)
		return -1;
	free(c.listen_host);
	vt_broker_set_log(broker, true, NULL, NULL);
	admin_key = admin;
	if (mint_admin() != 0)
		return -1;
	/* A stored resource so GETs can reach the JWE path. */
	struct vt_http_request r = {.method = "POST", .path = "/kbs/v0/resource/default/key/x",
				    .body = (const uint8_t *)"secret", .body_size = 6};
	char auth[2048];
	snprintf(auth, sizeof(auth), "Bearer %s", admin_token);
	r.authorization = auth;
	struct vt_http_response resp;
	vt_broker_handle(broker, &r, &resp);
	vt_http_response_free(&resp);
	return 0;
}

/* A fresh session id from /auth (parsed out of Set-Cookie). */
static void new_session(char out[40])
{
	const char body[] = "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":\"\"}";
	struct vt_http_request r = {.method = "POST", .path = "/kbs/v0/auth", .body = (const uint8_t *)body,
				    .body_size = sizeof(body) - 1};
	struct vt_http_response resp;
	vt_broker_handle(broker, &r, &resp);
	out[0] = 0;
	if (resp.set_cookie && strncmp(resp.set_cookie, "kbs-session-id=", 15) == 0)
		snprintf(out, 40, "%.32s", resp.set_cookie + 15);
	vt_http_response_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		if (init() != 0)
			abort();
		ready = 1;
	}
	if (size < 2)
		return 0;
	static const struct {
		const char *method, *path;
	} ep[] = {
		{"POST", "/kbs/v0/auth"},
		{"POST", "/kbs/v0/attest"},
		{"GET", "/kbs/v0/resource/default/key/x"},
		{"POST", "/kbs/v0/resource/default/key/y"},
		{"POST", "/kbs/v0/resource-policy"},
		{"POST", "/kbs/v0/attestation-policy"},
		{"POST", "/kbs/v0/reference-value"},
		{"GET", "/kbs/v0/reference-value/sim_measurement"},
		{"GET", "/metrics"},
		{"DELETE", "/kbs/v0/resource/default/key/y"},
		{"POST", "/kbs/v0/tpm/enroll"},
		{"POST", "/kbs/v0/tpm/activate"},
		{"GET", NULL}, /* raw path from the input */
	};
	size_t which = data[0] % (sizeof(ep) / sizeof(ep[0]));
	uint8_t cred = data[1];
	const uint8_t *body = data + 2;
	size_t body_size = size - 2;
	char path[512], cookie[40] = "", auth[2048] = "";
	const char *p = ep[which].path;
	if (p == NULL) {
		const uint8_t *nl = memchr(body, '\n', body_size);
		size_t pl = nl ? (size_t)(nl - body) : body_size;
		if (pl >= sizeof(path))
			pl = sizeof(path) - 1;
		memcpy(path, body, pl);
		path[pl] = 0;
		if (strlen(path) != pl)
			return 0; /* an HTTP path cannot hold NUL */
		p = path;
		body = nl ? nl + 1 : body + body_size;
		body_size = (size_t)(data + size - body);
	}
	struct vt_http_request r = {.method = ep[which].method, .path = p, .body = body, .body_size = body_size};
	switch (cred % 4) {
	case 1:
		new_session(cookie);
		r.session_cookie = cookie;
		break;
	case 2:
		/* admin tokens are single-use: a fresh one per request */
		if (mint_admin() != 0)
			return 0;
		snprintf(auth, sizeof(auth), "Bearer %s", admin_token);
		r.authorization = auth;
		break;
	case 3:
		r.session_cookie = "0123456789abcdef0123456789abcdef";
		r.authorization = "Bearer a.b.c";
		break;
	}
	struct vt_http_response resp;
	vt_broker_handle(broker, &r, &resp);
	if (resp.status != 200 && resp.status != 401 && resp.status != 404 && resp.status != 405 && resp.status != 413)
		abort(); /* the protocol knows no other status */
	vt_http_response_free(&resp);
	return 0;
}
