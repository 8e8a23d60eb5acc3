/* veritee demo: the whole trust path on one machine, with the INSECURE sim
 * TEE, or (--tee tpm) with a software TPM 2.0 (swtpm) the demo starts itself. */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attester/tpm/tpm_attester.h"
#include "cli/cli.h"
#include "veritee/broker.h"
#include "veritee/client.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/seal.h"
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
	if (cli_admin_token(key, url, method, path, body, n, &token, &e) != VT_OK ||
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

/*
 * A broker on loopback for the demos: a fresh admin key whose public half is
 * the only admin key, a SQLite store and keys under `dir`, log lines on
 * stdout.  `sim_root` (may be NULL) is the INSECURE sim root to accept.
 * On success *b, *admin and *url (malloc'd) are set; `cfg` is filled here
 * and freed by the caller.
 */
static int demo_broker(const char *dir, const char *sim_root, const char *step, struct vt_broker_config *cfg,
		       struct vt_broker **b, EVP_PKEY **admin, char **url)
{
	struct vt_err e = {0};
	char *adminpub = tmp_path(dir, "admin.pub");
	int ret = -1;
	if (adminpub == NULL || vt_key_generate(VT_KEY_P256, admin, &e) != VT_OK ||
	    vt_key_save_pem(adminpub, *admin, false, 0644, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	cfg->port = 0;
	cfg->db_path = tmp_path(dir, "kbs.db");
	cfg->master_key_path = tmp_path(dir, "master.key");
	cfg->token_key_path = tmp_path(dir, "token.key");
	cfg->insecure_sim_root = sim_root ? strdup(sim_root) : NULL;
	cfg->admin_keys = calloc(1, sizeof(char *));
	if (cfg->admin_keys)
		cfg->admin_keys[cfg->admin_key_count++] = strdup(adminpub);
	cfg->threads = 2;
	uint16_t port = 0;
	if (vt_broker_new(cfg, b, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	vt_broker_set_log(*b, false, "      broker| ", stdout);
	printf("%s broker: starting on loopback, SQLite store and keys in %s\n", step, dir);
	fflush(stdout);
	if (vt_broker_start(*b, &port, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	if (asprintf(url, "http://127.0.0.1:%u", (unsigned)port) < 0) {
		*url = NULL;
		goto out;
	}
	ret = 0;
out:
	free(adminpub);
	return ret;
}

static void sleep_ms(long ms);

/* Register the default sim workload as approved at a broker. */
static int approve_default(const char *url, EVP_PKEY *admin)
{
	struct vt_sim_attest_opts good;
	vt_sim_attest_opts_default(&good);
	char *mhex = vt_hex_encode(good.measurement, sizeof(good.measurement));
	char payload[256], body[512];
	snprintf(payload, sizeof(payload), "{\"sim_measurement\":[\"%s\"]}", mhex ? mhex : "");
	free(mhex);
	char *b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64 ? b64 : "");
	free(b64);
	return admin_call(url, admin, "POST", VT_KBS_PREFIX "/reference-value", body, strlen(body), "application/json");
}

/* Step 5: a model key released to a CPU with two (simulated) GPUs, each its
 * own EAR submod, with init-data; refused when the GPUs run unapproved
 * firmware, the refusal naming the GPU and the rule. */
static bool demo_composite(const char *url, EVP_PKEY *admin, const struct vt_client_opts *cpu)
{
	static const char gpu_fw[] = "veritee sim gpu firmware", other_fw[] = "veritee sim gpu patched firmware";
	static const char init_toml[] = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n"
					"\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"http://127.0.0.1\"\n'''\n";
	uint8_t fw[48], bad[48];
	size_t n = 0;
	bool ok = false;
	struct vt_err e = {0};
	char *fhex = NULL, *bhex = NULL, *b64 = NULL, *token = NULL;
	struct vt_secret *got = NULL;
	json_t *devices = NULL;
	if (vt_digest(EVP_sha384(), gpu_fw, strlen(gpu_fw), fw, &n, &e) != VT_OK ||
	    vt_digest(EVP_sha384(), other_fw, strlen(other_fw), bad, &n, &e) != VT_OK ||
	    (fhex = vt_hex_encode(fw, 48)) == NULL || (bhex = vt_hex_encode(bad, 48)) == NULL)
		goto out;
	printf("\n[5/7] confidential AI: a CPU with two GPUs (sim + sim-gpu, INSECURE) and init-data\n"
	       "      admin: register sim_gpu_measurement = [%.16s…]; store default/model/weights-key\n",
	       fhex);
	fflush(stdout);
	char payload[256], body[512];
	snprintf(payload, sizeof(payload), "{\"sim_gpu_measurement\":[\"%s\"]}", fhex);
	b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload));
	snprintf(body, sizeof(body), "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64 ? b64 : "");
	static const char model_key[] = "model-weights-key-0123456789abcdef";
	if (admin_call(url, admin, "POST", VT_KBS_PREFIX "/reference-value", body, strlen(body), "application/json") != 0 ||
	    admin_call(url, admin, "POST", VT_KBS_PREFIX "/resource/default/model/weights-key", model_key,
		       strlen(model_key), "application/octet-stream") != 0)
		goto out;
	struct vt_client_opts o = *cpu;
	devices = json_pack("{s:{s:s, s:s}}", "sim-gpu", "sim_dir", cpu->attest.sim_dir, "count", "2");
	o.devices = devices;
	o.init_data = init_toml;
	struct vt_client_refusal refusal;
	printf("      guest: auth -> attest (the CPU evidence binds the GPUs' evidence; each GPU binds nonce + key)\n");
	fflush(stdout);
	vt_status rc = vt_client_get_resource(&o, "default/model/weights-key", &got, &token, &refusal, &e);
	bool released = rc == VT_OK && got->len == strlen(model_key) && memcmp(got->data, model_key, got->len) == 0;
	if (rc == VT_OK)
		printf("      token submods cpu0, gpu0, gpu1, each appraised by its own policy; init_data_claims in cpu0\n"
		       "      released the model key to the CPU + 2 GPUs\n");
	else
		printf("      UNEXPECTED refusal: %s\n", refusal.http_status ? refusal.detail : e.detail);
	vt_secret_free(got);
	got = NULL;
	json_object_set_new(json_object_get(devices, "sim-gpu"), "measurement", json_string(bhex));
	printf("      the same guest with its GPUs on unapproved firmware:\n");
	fflush(stdout);
	vt_err_clear(&e);
	rc = vt_client_get_resource(&o, "default/model/weights-key", &got, NULL, &refusal, &e);
	bool denied = rc == VT_E_POLICY && strstr(refusal.detail, "/submods/gpu0/ear.status") != NULL &&
		      strstr(refusal.detail, "gpu-firmware-approved") != NULL;
	if (rc == VT_OK)
		printf("      UNEXPECTED: released with unapproved GPUs\n");
	else
		printf("      refused at %s: HTTP %d %s\n      why: %.300s…\n", refusal.stage, refusal.http_status,
		       refusal.type, refusal.detail);
	ok = released && denied;
out:
	if (e.code != VT_OK && !ok)
		cli_err("demo", &e);
	vt_secret_free(got);
	json_decref(devices);
	free(token);
	free(fhex);
	free(bhex);
	free(b64);
	return ok;
}

/* Unseal `path` as workload `o`: the plaintext (malloc'd) or NULL with the
 * reason printed. */
static char *demo_unseal(const char *path, const struct vt_client_opts *o, size_t *n)
{
	struct vt_seal_header h;
	struct vt_seal_broker_result *res = calloc(VT_SEAL_MAX_BROKERS, sizeof(*res));
	uint8_t *hdr = NULL, *text = NULL;
	size_t size = 0, hs = 0, len = 0;
	struct vt_secret *key = NULL;
	struct vt_seal_dec *d = NULL;
	struct vt_err e = {0};
	int fd = -1;
	char *out = NULL;
	if (res == NULL || vt_file_read(path, 1u << 20, &hdr, &size, &e) != VT_OK ||
	    vt_seal_header_parse(hdr, size, &h, &hs, &e) != VT_OK)
		goto out;
	struct vt_unseal_opts uo = {.client = o};
	vt_status rc = vt_unseal_key(&h, &uo, &key, res, &e);
	for (unsigned i = 0; i < h.count; i++)
		if (res[i].outcome != VT_SEAL_SHARE_OK)
			printf("      broker %u: %.200s…\n", i + 1, res[i].message);
	if (rc != VT_OK) {
		printf("      not opened: %s\n", e.detail);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || lseek(fd, (off_t)hs, SEEK_SET) < 0 ||
	    vt_seal_dec_new(key, &h, hdr, hs, fd, &d, &e) != VT_OK)
		goto out;
	for (bool done = false; !done;) {
		const uint8_t *pt;
		size_t k;
		if (vt_seal_dec_next(d, &pt, &k, &done, &e) != VT_OK) {
			printf("      UNEXPECTED: %s\n", e.detail);
			goto out;
		}
		uint8_t *grown = realloc(text, len + k + 1);
		if (grown == NULL)
			goto out;
		text = grown;
		memcpy(text + len, pt, k);
		len += k;
	}
	out = (char *)text;
	text = NULL;
	*n = len;
out:
	if (text)
		vt_wipe(text, len);
	free(text);
	vt_seal_dec_free(d);
	vt_secret_free(key);
	if (fd >= 0)
		close(fd);
	free(hdr);
	free(res);
	return out;
}

/*
 * A file sealed 2-of-3: two more brokers beside the first, the key split
 * into three shares (libgfshare), one per broker; the approved workload
 * opens it, the modified one does not.  True when both happened.
 */
static bool demo_seal(const char *dir, const char *simroot, const char *url1, EVP_PKEY *admin1,
		      const struct vt_client_opts *good, const struct vt_client_opts *bad)
{
	struct vt_broker_config cfg[2];
	struct vt_broker *b[2] = {0};
	EVP_PKEY *admin[3] = {admin1, NULL, NULL};
	char *urls[3] = {(char *)url1, NULL, NULL}, *sub[2] = {tmp_path(dir, "b2"), tmp_path(dir, "b3")};
	char *vts = tmp_path(dir, "notes.vts"), *plain = NULL;
	struct vt_secret *key = NULL, *shares[3] = {0};
	struct vt_seal_header h;
	uint8_t *hdr = malloc(VT_SEAL_MAX_HEADER);
	size_t hs = 0, n = 0;
	struct vt_seal_enc *enc = NULL;
	struct vt_err e = {0};
	bool ok = false, opened = false, refused = false;
	static const char text[] = "launch codes: 0000 (sealed 2-of-3)";
	for (int i = 0; i < 2; i++)
		vt_broker_config_init(&cfg[i]);
	printf("\n[6/7] a file sealed 2-of-3: two more brokers, the key split into three shares (Shamir, libgfshare)\n");
	fflush(stdout);
	for (int i = 0; i < 2; i++) {
		const char *step = i == 0 ? "      [2/3]" : "      [3/3]";
		if (sub[i] == NULL || mkdir(sub[i], 0700) != 0 ||
		    demo_broker(sub[i], simroot, step, &cfg[i], &b[i], &admin[i + 1], &urls[i + 1]) != 0 ||
		    approve_default(urls[i + 1], admin[i + 1]) != 0)
			goto out;
	}
	int fdo = -1;
	if (hdr == NULL ||
	    vt_seal_header_new(VT_SEAL_PAYLOAD_FILE, VT_SEAL_DEFAULT_CHUNK, "default/seal/notes", (const char *const *)urls,
			       3, 2, &h, &key, shares, &e) != VT_OK ||
	    vt_seal_header_encode(&h, hdr, VT_SEAL_MAX_HEADER, &hs, &e) != VT_OK ||
	    (fdo = open(vts, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    vt_seal_enc_new(key, &h, hdr, hs, fdo, &enc, &e) != VT_OK ||
	    vt_seal_enc_write(enc, text, strlen(text), &e) != VT_OK || vt_seal_enc_finish(enc, &e) != VT_OK) {
		cli_err("demo", &e);
		if (fdo >= 0)
			close(fdo);
		goto out;
	}
	close(fdo);
	char path[128];
	snprintf(path, sizeof(path), "%s/resource/default/seal/notes", VT_KBS_PREFIX);
	for (int i = 0; i < 3; i++)
		if (admin_call(urls[i], admin[i], "POST", path, (const char *)shares[i]->data, shares[i]->len,
			       "application/octet-stream") != 0)
			goto out;
	printf("      sealed %zu bytes (AES-256-GCM chunks) -> notes.vts; broker i keeps share i as default/seal/notes,\n"
	       "      so no broker holds the key; the header commits to each share\n",
	       strlen(text));
	printf("      TEE A, approved workload: attests to the three brokers at once, combines the first 2 shares\n");
	fflush(stdout);
	plain = demo_unseal(vts, good, &n);
	opened = plain != NULL && n == strlen(text) && memcmp(plain, text, n) == 0;
	if (opened)
		printf("      opened: \"%.*s\"\n", (int)n, plain);
	printf("      TEE B, modified workload:\n");
	fflush(stdout);
	char *nope = demo_unseal(vts, bad, &n);
	refused = nope == NULL;
	free(nope);
	ok = opened && refused;
out:
	/* demo_unseal may leave late brokers' requests running; wait for them
	 * before the brokers go away. */
	for (int i = 0; i < 200 && vt_unseal_pending() > 0; i++)
		sleep_ms(10);
	vt_seal_enc_free(enc);
	vt_secret_free(key);
	for (int i = 0; i < 3; i++)
		vt_secret_free(shares[i]);
	for (int i = 0; i < 2; i++) {
		vt_broker_free(b[i]);
		vt_broker_config_free(&cfg[i]);
		EVP_PKEY_free(admin[i + 1]);
		free(urls[i + 1]);
		free(sub[i]);
	}
	if (plain)
		vt_wipe(plain, n);
	free(plain);
	free(hdr);
	free(vts);
	return ok;
}

static int demo_sim(void)
{
	int ret = CLI_ERROR;
	struct vt_err e = {0};
	char tmpl[] = "/tmp/veritee-demo-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *simdir = NULL, *url = NULL, *secret_text = NULL;
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
	char *simroot = tmp_path(dir, "sim/sim-root.pem");
	if (simdir == NULL || simroot == NULL || vt_sim_ensure_keys(simdir, &e) != VT_OK) {
		cli_err("demo", &e);
		free(simroot);
		goto out;
	}
	int brc = demo_broker(dir, simroot, "[1/7]", &cfg, &b, &admin, &url);
	free(simroot);
	if (brc != 0)
		goto out;

	/* 2. Admin: reference value, secret, resource policy. */
	struct vt_sim_attest_opts good;
	vt_sim_attest_opts_default(&good);
	char *mhex = vt_hex_encode(good.measurement, sizeof(good.measurement));
	printf("\n[2/7] admin (signed admin JWT): register reference value sim_measurement = [%.16s…]\n", mhex);
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
				     "\"claim\":\"/submods/*/ear.status\",\"equals\":\"affirming\"}]}";
	char *pb64 = vt_b64url_encode((const uint8_t *)policy, strlen(policy));
	snprintf(body, sizeof(body), "{\"policy\":\"%s\"}", pb64 ? pb64 : "");
	free(pb64);
	printf("      admin: store secret default/key/disk (%zu bytes) and a resource policy:\n"
	       "             release only when every /submods/*/ear.status (the CPU's, each GPU's) is \"affirming\"\n",
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
	printf("\n[3/7] TEE A, approved workload: auth -> attest (sim evidence bound to nonce + TEE key) -> resource\n");
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
	printf("\n[4/7] TEE B, modified workload (different measurement): auth -> attest -> resource\n");
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

	/* 5. Confidential AI: the CPU and two GPUs. */
	o.attest.sim_measurement = NULL;
	bool composite_ok = demo_composite(url, admin, &o);

	/* 5. A file sealed 2-of-3. */
	o.attest.sim_measurement = NULL;
	struct vt_client_opts ob = o;
	ob.attest.sim_measurement = bad;
	char *simroot2 = tmp_path(dir, "sim/sim-root.pem");
	bool sealed_ok = simroot2 != NULL && demo_seal(dir, simroot2, url, admin, &o, &ob);
	free(simroot2);

	printf("\n[7/7] brokers: stopping; removing %s\n", dir);
	fflush(stdout);
	vt_broker_free(b);
	b = NULL;
	if (released && denied && composite_ok && sealed_ok) {
		printf("demo: ok — released the secret to the approved TEE; refused the modified one (rule "
		       "measurement-approved); released the model key to the CPU + 2 GPUs and refused it with unapproved "
		       "GPUs (rule gpu-firmware-approved); the 2-of-3 sealed file opened for the approved workload only\n");
		ret = CLI_OK;
	} else {
		printf("demo: FAILED — released=%s denied=%s composite=%s sealed=%s\n", released ? "yes" : "no",
		       denied ? "yes" : "no", composite_ok ? "yes" : "no", sealed_ok ? "yes" : "no");
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
	free(url);
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}

/* ------------------------------------------------------------ --tee tpm */

struct swtpm {
	pid_t pid;
	int port;
	char tcti[64];
};

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	bool found = false;
	for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char *f = NULL;
		if (asprintf(&f, "%s/%s", d, prog) >= 0) {
			found = access(f, X_OK) == 0;
			free(f);
		}
	}
	free(copy);
	return found;
}

static int loopback_socket(int port, bool do_connect)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = do_connect ? connect(s, (struct sockaddr *)&a, sizeof(a)) : bind(s, (struct sockaddr *)&a, sizeof(a));
	close(s);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* SIGTERM, up to 5 s to exit, then SIGKILL; always reaped. */
static void swtpm_stop(struct swtpm *t)
{
	if (t->pid <= 0)
		return;
	kill(t->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = -1;
			return;
		}
		sleep_ms(50);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
	t->pid = -1;
}

/* swtpm socket --tpm2 on 127.0.0.1 ports P (TPM) and P+1 (control), state in
 * `state`, output to `log`; tries other ports when it loses a port race. */
static int swtpm_start(struct swtpm *t, const char *state, const char *log)
{
	pid_t parent = getpid();
	for (int attempt = 0; attempt < 10; attempt++) {
		uint16_t r = 0;
		if (vt_random(&r, sizeof(r), NULL) != VT_OK)
			return -1;
		int p = 20000 + r % 40000;
		if (loopback_socket(p, false) != 0 || loopback_socket(p + 1, false) != 0)
			continue;
		char server[80], ctrl[80], st[300];
		snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", p);
		snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", p + 1);
		snprintf(st, sizeof(st), "dir=%s", state);
		fflush(NULL);
		t->pid = fork();
		if (t->pid < 0) {
			perror("demo: fork");
			return -1;
		}
		if (t->pid == 0) {
			/* Dies with the demo even if the demo is killed. */
			(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(127);
			int in = open("/dev/null", O_RDONLY), out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
				_exit(127);
			execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--tpmstate", st,
			       "--flags", "not-need-init,startup-clear", (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 200; i++) {
			if (loopback_socket(p, true) == 0) {
				t->port = p;
				snprintf(t->tcti, sizeof(t->tcti), "swtpm:host=127.0.0.1,port=%d", p);
				return 0;
			}
			if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
				t->pid = -1;
				break; /* exited: port taken meanwhile, or swtpm broken */
			}
			sleep_ms(50);
		}
		swtpm_stop(t);
	}
	/* The log goes with the temporary directory: show its end now. */
	fprintf(stderr, "demo: swtpm did not start listening on 127.0.0.1; its output:\n");
	FILE *f = fopen(log, "r");
	if (f != NULL) {
		char buf[2048];
		if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf) - 1)
			(void)fseek(f, -(long)(sizeof(buf) - 1), SEEK_END);
		else
			rewind(f);
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fprintf(stderr, "%s%s", buf, n && buf[n - 1] != '\n' ? "\n" : "");
		fclose(f);
	}
	return -1;
}

/* Does this veritee binary have a `tpm-enroll` command? (Asked, not assumed.) */
static bool have_tpm_enroll(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/proc/self/exe", "veritee", "tpm-enroll", "--help", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static char *short_hex(const char *hex)
{
	char *s = NULL;
	return asprintf(&s, "%.16s…", hex) < 0 ? NULL : s;
}

static int demo_tpm(void)
{
	if (!in_path("swtpm")) {
		fprintf(stderr, "veritee demo: swtpm (a software TPM 2.0) is not installed: install swtpm, or run the demo "
				"without --tee tpm\n"
				"  (Debian: apt-get install swtpm swtpm-tools, or `make demo-tpm`)\n");
		return CLI_ERROR;
	}
	int ret = CLI_ERROR;
	struct vt_err e = {0};
	char tmpl[] = "/tmp/veritee-demo-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *tpmdir = NULL, *tpmlog = NULL, *url = NULL, *secret_text = NULL, *body = NULL;
	char *payload = NULL, *b64 = NULL, *akd_hex = NULL, *akd_short = NULL, *pcr_short = NULL, *new_short = NULL;
	EVP_PKEY *admin = NULL;
	struct vt_broker *b = NULL;
	struct vt_broker_config cfg;
	struct vt_secret *got = NULL, *got_b = NULL;
	char *token = NULL;
	json_t *ev = NULL;
	struct swtpm tpm = {.pid = -1};
	vt_broker_config_init(&cfg);
	if (dir == NULL) {
		perror("demo: mkdtemp");
		goto out;
	}
	printf("veritee demo --tee tpm: the whole trust path on this machine, with a software TPM 2.0.\n"
	       "swtpm emulates a TPM in a process: its keys are not in hardware, so this proves nothing about this\n"
	       "machine.  The quote, its verification, the policy and the KBS protocol are the real ones.\n\n");

	/* 1. swtpm */
	tpmdir = tmp_path(dir, "tpm");
	tpmlog = tmp_path(dir, "swtpm.log");
	if (tpmdir == NULL || tpmlog == NULL || mkdir(tpmdir, 0700) != 0) {
		perror("demo: state directory");
		goto out;
	}
	if (swtpm_start(&tpm, tpmdir, tpmlog) != 0)
		goto out;
	printf("[1/7] swtpm: pid %d, TPM 2.0 on 127.0.0.1:%d (control channel %d), state in %s\n"
	       "      TCTI %s\n",
	       (int)tpm.pid, tpm.port, tpm.port + 1, tpmdir, tpm.tcti);

	/* 2. Broker (tpm evidence needs no sim root) */
	printf("\n");
	if (demo_broker(dir, NULL, "[2/7]", &cfg, &b, &admin, &url) != 0)
		goto out;

	/* 3. Admin: enroll the AK, register PCR 11, store the secret. */
	printf("\n[3/7] admin: enroll this TPM\n");
	uint8_t zero_rd[64] = {0};
	struct vt_attest_opts ao = {.tpm_tcti = tpm.tcti, .tpm_event_log = "none"};
	if (vt_attest("tpm", &ao, zero_rd, &ev, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	const char *ak_b64 = json_string_value(json_object_get(ev, "ak_public"));
	const char *pcr11 = json_string_value(json_array_get(vt_json_pointer(ev, "/tpm_quote/pcrs"), 11));
	uint8_t *ak_der = NULL, akd[32];
	size_t ak_der_size = 0, akd_size = 0;
	if (ak_b64 == NULL || pcr11 == NULL || vt_b64_decode(ak_b64, strlen(ak_b64), &ak_der, &ak_der_size, &e) != VT_OK ||
	    vt_digest(EVP_sha256(), ak_der, ak_der_size, akd, &akd_size, &e) != VT_OK) {
		free(ak_der);
		fprintf(stderr, "demo: unexpected evidence from the TPM attester\n");
		goto out;
	}
	free(ak_der);
	akd_hex = vt_hex_encode(akd, akd_size);
	akd_short = akd_hex ? short_hex(akd_hex) : NULL;
	pcr_short = short_hex(pcr11);
	if (akd_short == NULL || pcr_short == NULL)
		goto out;
	printf("      attester (run once): created the attestation key (AK: ECC P-256, restricted signing key under\n"
	       "      the EK, persistent handle 0x%08x) and quoted SHA-256 PCRs 0-23\n",
	       VT_TPM_DEFAULT_AK_HANDLE);
	printf("      admin (signed admin JWT): register reference value trusted_aks = [%s]\n"
	       "             (SHA-256 of the AK's DER SubjectPublicKeyInfo, claim /tpm/ak_digest)\n",
	       akd_short);
	printf("      note: here the admin trusts the AK it has just seen.  A real deployment enrolls AKs through\n"
	       "            the TPM's EK certificate and credential activation (TPM2_MakeCredential/ActivateCredential)");
	if (have_tpm_enroll())
		printf(",\n            which veritee offers as `veritee tpm-enroll`.\n");
	else
		printf(".\n");
	printf("      admin: register reference value tpm_pcr11 = [%s] (PCR 11 now: the approved workload)\n",
	       pcr_short);
	if (asprintf(&payload, "{\"trusted_aks\":[\"%s\"],\"tpm_pcr11\":[\"%s\"]}", akd_hex, pcr11) < 0 ||
	    (b64 = vt_b64_encode((const uint8_t *)payload, strlen(payload))) == NULL ||
	    asprintf(&body, "{\"version\":\"0.1.0\",\"type\":\"sample\",\"payload\":\"%s\"}", b64) < 0) {
		body = NULL;
		goto out;
	}
	fflush(stdout);
	if (admin_call(url, admin, "POST", VT_KBS_PREFIX "/reference-value", body, strlen(body), "application/json") != 0)
		goto out;
	free(body);
	body = NULL;
	uint8_t rnd[8];
	if (vt_random(rnd, sizeof(rnd), &e) != VT_OK)
		goto out;
	char *rh = vt_hex_encode(rnd, sizeof(rnd));
	if (rh == NULL || asprintf(&secret_text, "disk-key-%s", rh) < 0) {
		free(rh);
		secret_text = NULL;
		goto out;
	}
	free(rh);
	static const char policy[] = "{\"version\":1,\"rules\":[{\"name\":\"attestation-affirming\","
				     "\"claim\":\"/submods/*/ear.status\",\"equals\":\"affirming\"}]}";
	char *pb64 = vt_b64url_encode((const uint8_t *)policy, strlen(policy));
	if (pb64 == NULL || asprintf(&body, "{\"policy\":\"%s\"}", pb64) < 0) {
		free(pb64);
		body = NULL;
		goto out;
	}
	free(pb64);
	printf("      admin: store secret default/key/disk (%zu bytes) and a resource policy:\n"
	       "             release only when /submods/cpu0/ear.status == \"affirming\"\n"
	       "      attestation policy: the broker's default_tpm (rules tpm-quote-verified; pcr11: /tpm/pcr11 in\n"
	       "             tpm_pcr11; trusted-ak: /tpm/ak_digest in trusted_aks)\n",
	       strlen(secret_text));
	fflush(stdout);
	if (admin_call(url, admin, "POST", VT_KBS_PREFIX "/resource/default/key/disk", secret_text, strlen(secret_text),
		       "application/octet-stream") != 0 ||
	    admin_call(url, admin, "POST", VT_KBS_PREFIX "/resource-policy", body, strlen(body), "application/json") != 0)
		goto out;

	/* 4. The approved workload. */
	struct vt_client_opts o = {.url = url, .tee = "tpm"};
	o.attest.tpm_tcti = tpm.tcti;
	o.attest.tpm_event_log = "none";
	struct vt_client_refusal refusal;
	printf("\n[4/7] TEE A, approved workload: auth -> attest (TPM2_Quote, qualifying data = hash of nonce + TEE key)"
	       " -> resource\n");
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

	/* 5. The workload changes: something new is measured into PCR 11. */
	static const char change[] = "veritee demo: modified workload";
	uint8_t d[32], oldv[32], cat[64], newv[32];
	size_t dn = 0;
	if (vt_digest(EVP_sha256(), change, strlen(change), d, &dn, &e) != VT_OK ||
	    vt_hex_decode_fixed(pcr11, oldv, sizeof(oldv), &e) != VT_OK)
		goto out;
	memcpy(cat, oldv, 32);
	memcpy(cat + 32, d, 32);
	if (vt_digest(EVP_sha256(), cat, sizeof(cat), newv, &dn, &e) != VT_OK)
		goto out;
	char *nh = vt_hex_encode(newv, sizeof(newv));
	new_short = nh ? short_hex(nh) : NULL;
	free(nh);
	printf("\n[5/7] the workload changes: extend PCR 11 with SHA-256(\"%s\") (TPM2_PCR_Extend)\n", change);
	fflush(stdout);
	if (vt_tpm_pcr_extend(tpm.tcti, 11, d, &e) != VT_OK) {
		cli_err("demo", &e);
		goto out;
	}
	printf("      PCR 11: %s -> %s\n", pcr_short, new_short ? new_short : "?");

	/* 6. Same TPM, changed workload. */
	printf("\n[6/7] TEE B, same TPM with the changed workload: auth -> attest -> resource\n");
	fflush(stdout);
	vt_err_clear(&e);
	rc = vt_client_get_resource(&o, "default/key/disk", &got_b, NULL, &refusal, &e);
	bool denied = rc == VT_E_POLICY && strcmp(refusal.type, "PolicyDeny") == 0 && strstr(refusal.detail, "pcr11") != NULL;
	if (rc == VT_OK) {
		printf("      UNEXPECTED: the changed workload got the secret\n");
	} else if (refusal.http_status) {
		printf("      refused at %s: HTTP %d %s\n", refusal.stage, refusal.http_status, refusal.type);
		printf("      why: %s\n", refusal.detail);
	} else {
		printf("      UNEXPECTED error: %s\n", e.detail);
	}

	printf("\n[7/7] broker and swtpm: stopping; removing %s\n", dir);
	fflush(stdout);
	vt_broker_free(b);
	b = NULL;
	swtpm_stop(&tpm);
	if (released && denied) {
		printf("demo: ok — released the secret to the approved TPM workload; refused it after PCR 11 changed "
		       "(rule pcr11)\n");
		ret = CLI_OK;
	} else {
		printf("demo: FAILED — released=%s denied=%s\n", released ? "yes" : "no", denied ? "yes" : "no");
		ret = CLI_REJECTED;
	}
out:
	vt_broker_free(b);
	swtpm_stop(&tpm);
	vt_broker_config_free(&cfg);
	vt_secret_free(got);
	vt_secret_free(got_b);
	free(token);
	if (secret_text) {
		vt_wipe(secret_text, strlen(secret_text));
		free(secret_text);
	}
	json_decref(ev);
	EVP_PKEY_free(admin);
	free(tpmdir);
	free(tpmlog);
	free(url);
	free(body);
	free(payload);
	free(b64);
	free(akd_hex);
	free(akd_short);
	free(pcr_short);
	free(new_short);
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}

int cmd_demo(int argc, char **argv)
{
	const char *tee = "sim", *given = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: veritee demo [--tee sim|tpm]\n\n"
			       "Starts a broker on loopback with a temporary SQLite store, registers reference values,\n"
			       "a policy and a secret as an admin would, then runs two TEEs through the KBS protocol:\n"
			       "one with the approved workload (gets the secret), one with a changed workload (is\n"
			       "refused, with the reason naming the policy rule).  Prints 'demo: ok' and exits 0 only\n"
			       "when both outcomes happened.\n\n"
			       "  --tee sim   (default) the INSECURE simulated TEE: reports signed by a local key;\n"
			       "              refused by rule measurement-approved.\n"
			       "  --tee tpm   a software TPM 2.0: starts swtpm on 127.0.0.1 (needs swtpm installed:\n"
			       "              apt-get install swtpm, or `make demo-tpm`), enrolls its attestation key\n"
			       "              (trusted_aks) and PCR 11 (tpm_pcr11), then extends PCR 11; refused by rule\n"
			       "              pcr11.  swtpm is stopped at the end.\n");
			return CLI_OK;
		}
		const char *v = strcmp(argv[i], "--tee") == 0 && i + 1 < argc ? argv[++i]
				: strncmp(argv[i], "--tee=", 6) == 0	    ? argv[i] + 6
									    : NULL;
		if (v != NULL) {
			if (cli_once("demo", "--tee", &given, v) != 0)
				return CLI_ERROR;
			tee = v;
		} else {
			fprintf(stderr, "veritee demo: unknown argument \"%s\" (usage: veritee demo [--tee sim|tpm])\n",
				argv[i]);
			return CLI_ERROR;
		}
	}
	if (strcmp(tee, "sim") == 0)
		return demo_sim();
	if (strcmp(tee, "tpm") == 0)
		return demo_tpm();
	fprintf(stderr, "veritee demo: --tee %s: the demo runs with sim or tpm\n", tee);
	return CLI_ERROR;
}
