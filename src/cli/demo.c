/* veritee demo: the whole trust path on one machine, with the INSECURE sim TEE. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "veritee/broker.h"
#include "veritee/client.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/sim.h"
#include "veritee/util.h"

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* One admin call as `veritee admin` makes it. */
static int admin_call(const char *url, EVP_PKEY *key, const char *method, const char *path, const char *body,
		      size_t n, const char *ctype)
{
	struct vt_err e = {0};
	char *token = NULL, *resp = NULL;
	int status = 0;
	if (cli_admin_token(key, &token, &e) != VT_OK ||
	    vt_client_request(url, NULL, method, path, token, body, n, ctype, &status, &resp, &e) != VT_OK) {
		cli_err("demo", &e);
		free(token);
		return -1;
	}
	free(token);
	if (status != 200)
		fprintf(stderr, "demo: admin %s %s failed: HTTP %d %s\n", method, path, status, resp);
	free(resp);
	return status == 200 ? 0 : -1;
}

static char *tmp_path(const char *dir, const char *name)
{
	char *p = NULL;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Status and measurement from a token we just received (display only). */
static void show_token(const char *token)
{
	json_t *hdr = NULL;
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	uint8_t *p = NULL;
	size_t n = 0;
	if (dot2 && vt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &p, &n, NULL) == VT_OK &&
	    vt_json_parse((const char *)p, n, 1u << 20, &hdr, NULL) == VT_OK) {
		const char *st = json_string_value(vt_json_pointer(hdr, "/submods/cpu0/ear.status"));
		json_t *tv = vt_json_pointer(hdr, "/submods/cpu0/ear.trustworthiness-vector");
		char *tvs = tv ? vt_json_compact(tv) : NULL;
		printf("      token: EAR (ES256), ear.status=%s, trust vector %s, %zu bytes\n", st ? st : "?",
		       tvs ? tvs : "{}", strlen(token));
		free(tvs);
	}
	json_decref(hdr);
	free(p);
}

int cmd_demo(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: veritee demo\n\nStarts a broker on loopback with a temporary SQLite store, registers a\n"
		       "reference value, a policy and a secret as an admin would, then runs two simulated\n"
		       "TEEs through the KBS protocol: one with the approved measurement (gets the secret),\n"
		       "one with a modified measurement (is refused, with the reason).  Prints 'demo: ok'\n"
		       "and exits 0 only when both outcomes happened.  Uses the INSECURE sim TEE.\n");
		return CLI_OK;
	}
	int ret = CLI_ERROR;
	struct vt_err e = {0};
	char tmpl[] = "/tmp/veritee-demo-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *simdir = NULL, *adminpub = NULL, *url = NULL, *secret_text = NULL;
	EVP_PKEY *admin = NULL;
	struct vt_broker *b = NULL;
	struct vt_broker_config cfg;
	struct vt_secret *got = NULL;
	char *token = NULL;
	vt_broker_config_init(&cfg);
	if (dir == NULL) {
		perror("demo: mkdtemp");
		goto out;
	}
	printf("veritee demo: the whole trust path on this machine.\n"
	       "The TEE is 'sim', a SIMULATED TEE signed by a local key: INSECURE, for demonstration only.\n\n");

	/* 1. Broker */
	simdir = tmp_path(dir, "sim");
	adminpub = tmp_path(dir, "admin.pub");
	if (vt_sim_ensure_keys(simdir, &e) != VT_OK || vt_key_generate(VT_KEY_P256, &admin, &e) != VT_OK ||
	    vt_key_save_pem(adminpub, admin, false, 0644, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	cfg.port = 0;
	cfg.db_path = tmp_path(dir, "kbs.db");
	cfg.master_key_path = tmp_path(dir, "master.key");
	cfg.token_key_path = tmp_path(dir, "token.key");
	cfg.insecure_sim_root = tmp_path(dir, "sim/sim-root.pem");
	cfg.admin_keys = calloc(1, sizeof(char *));
	if (cfg.admin_keys)
		cfg.admin_keys[cfg.admin_key_count++] = strdup(adminpub);
	cfg.threads = 2;
	uint16_t port = 0;
	if (vt_broker_new(&cfg, &b, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	vt_broker_set_log(b, false, "      broker| ", stdout);
	printf("[1/5] broker: starting on loopback, SQLite store and keys in %s\n", dir);
	fflush(stdout);
	if (vt_broker_start(b, &port, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	if (asprintf(&url, "http://127.0.0.1:%u", (unsigned)port) < 0)
		goto out;

	/* 2. Admin: reference value, secret, resource policy. */
	struct vt_sim_attest_opts good;
	vt_sim_attest_opts_default(&good);
	char *mhex = vt_hex_encode(good.measurement, sizeof(good.measurement));
	printf("\n[2/5] admin (signed admin JWT): register reference value sim_measurement = [%.16s…]\n", mhex);
	char payload[256];
	snprintf(payload, sizeof(payload), "{\"sim_measurement\":[\"%s\"]}", mhex);
	free(mhex);
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	char body[512];
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64 ? b64 : "");
	free(b64);
	fflush(stdout);
	if (admin_call(url, admin, "POST", VT_KBS_PREFIX "/reference-value", body, strlen(body), "application/json") != 0)
		goto out;
	uint8_t rnd[8];
	if (vt_random(rnd, sizeof(rnd), &e) != VT_OK)
		goto out;
	char *rh = vt_hex_encode(rnd, sizeof(rnd));
	if (rh == NULL || asprintf(&secret_text, "disk-key-%s", rh) < 0) {
		free(rh);
		goto out;
	}
	free(rh);
	static const char policy[] = "{\"version\":1,\"rules\":[{\"name\":\"attestation-affirming\","
				     "\"claim\":\"/submods/cpu0/ear.status\",\"equals\":\"affirming\"}]}";
	char *pb64 = vt_b64url_encode((const uint8_t *)policy, strlen(policy));
	snprintf(body, sizeof(body), "{\"policy\":\"%s\"}", pb64 ? pb64 : "");
	free(pb64);
	printf("      admin: store secret default/key/disk (%zu bytes) and a resource policy:\n"
	       "             release only when /submods/cpu0/ear.status == \"affirming\"\n",
	       strlen(secret_text));
	fflush(stdout);
	if (admin_call(url, admin, "POST", VT_KBS_PREFIX "/resource/default/key/disk", secret_text, strlen(secret_text),
		       "application/octet-stream") != 0 ||
	    admin_call(url, admin, "POST", VT_KBS_PREFIX "/resource-policy", body, strlen(body), "application/json") != 0)
		goto out;

	/* 3. The approved workload. */
	struct vt_client_opts o = {.url = url, .tee = "sim"};
	o.attest.sim_dir = simdir;
	struct vt_client_refusal refusal;
	printf("\n[3/5] TEE A, approved workload: auth -> attest (sim evidence bound to nonce + TEE key) -> resource\n");
	fflush(stdout);
	vt_status rc = vt_client_get_resource(&o, "default/key/disk", &got, &token, &refusal, &e);
	bool released = rc == VT_OK && got->len == strlen(secret_text) && memcmp(got->data, secret_text, got->len) == 0;
	if (rc == VT_OK) {
		show_token(token);
		printf("      released secret (JWE ECDH-ES+A256KW/A256GCM, decrypted by the TEE): \"%.*s\"\n",
		       (int)got->len, (const char *)got->data);
	} else {
		printf("      UNEXPECTED refusal: %s\n", refusal.http_status ? refusal.detail : e.detail);
	}

	/* 4. A modified workload. */
	uint8_t bad[48];
	size_t bn = 0;
	static const char modified[] = "veritee sim modified workload";
	if (vt_digest(EVP_sha384(), modified, strlen(modified), bad, &bn, &e) != VT_OK)
		goto out;
	o.attest.sim_measurement = bad;
	printf("\n[4/5] TEE B, modified workload (different measurement): auth -> attest -> resource\n");
	fflush(stdout);
	struct vt_secret *got_b = NULL;
	vt_err_clear(&e);
	rc = vt_client_get_resource(&o, "default/key/disk", &got_b, NULL, &refusal, &e);
	bool denied = rc == VT_E_POLICY && strcmp(refusal.type, "PolicyDeny") == 0 &&
		      strstr(refusal.detail, "measurement-approved") != NULL;
	if (rc == VT_OK) {
		printf("      UNEXPECTED: the modified workload got the secret\n");
		vt_secret_free(got_b);
	} else {
		printf("      refused at %s: HTTP %d %s\n", refusal.stage, refusal.http_status, refusal.type);
		printf("      why: %s\n", refusal.detail);
	}

	printf("\n[5/5] broker: stopping; removing %s\n", dir);
	fflush(stdout);
	vt_broker_free(b);
	b = NULL;
	if (released && denied) {
		printf("demo: ok — released the secret to the approved TEE; refused the modified one (rule "
		       "measurement-approved)\n");
		ret = CLI_OK;
	} else {
		printf("demo: FAILED — released=%s denied=%s\n", released ? "yes" : "no", denied ? "yes" : "no");
		ret = CLI_REJECTED;
	}
out:
	vt_broker_free(b);
	vt_broker_config_free(&cfg);
	vt_secret_free(got);
	free(token);
	if (secret_text) {
		vt_wipe(secret_text, strlen(secret_text));
		free(secret_text);
	}
	EVP_PKEY_free(admin);
	free(simdir);
	free(adminpub);
	free(url);
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
