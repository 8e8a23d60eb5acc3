/*
 * libFuzzer target for the sim TEE: the raw report parser and the evidence
 * verifier.  Each input is used three ways:
 *   1. raw bytes -> vt_sim_report_parse;
 *   2. JSON evidence text -> vt_tee_sim.verify against a sim root made once
 *      per process (a platform_cert of "FUZZ" is replaced by this process's
 *      platform certificate so mutated reports get past the chain step);
 *   3. inputs of exactly VT_SIM_REPORT_SIZE (version 1) or
 *      VT_SIM_REPORT_V2_SIZE (version 2) bytes are re-signed with this
 *      process's platform key (the signature bytes are free for the fuzzer:
 *      the last byte even = patch in the right platform_id, the one before
 *      even = expect the report's own report_data), so the binding and
 *      claims code is reached.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/sim.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[] = "/tmp/veritee-fuzz-sim-XXXXXX";
static bool g_ready;
static X509 *g_root;
static X509 *g_plat;
static EVP_PKEY *g_key;
static char *g_cert_b64;
static uint8_t g_pid[32];
static int64_t g_now;

static void cleanup(void)
{
	DIR *d = opendir(g_dir);
	if (d != NULL) {
		struct dirent *e;
		char p[sizeof(g_dir) + 300];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if (snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name) < (int)sizeof(p))
				unlink(p);
		}
		closedir(d);
	}
	rmdir(g_dir);
	X509_free(g_root);
	X509_free(g_plat);
	EVP_PKEY_free(g_key);
	free(g_cert_b64);
}

static void die(const char *what, const struct vt_err *err)
{
	char msg[700];
	vt_err_format(err, msg, sizeof(msg));
	fprintf(stderr, "fuzz_sim_evidence setup: %s: %s\n", what, msg);
	abort();
}

static void setup(void)
{
	struct vt_err err = {0};
	char p[sizeof(g_dir) + 32];
	if (mkdtemp(g_dir) == NULL)
		die("mkdtemp", &err);
	atexit(cleanup);
	if (vt_sim_ensure_keys(g_dir, &err) != VT_OK)
		die("keys", &err);
	snprintf(p, sizeof(p), "%s/%s", g_dir, VT_SIM_ROOT_CERT_FILE);
	if (vt_x509_load(p, &g_root, &err) != VT_OK)
		die("root", &err);
	snprintf(p, sizeof(p), "%s/%s", g_dir, VT_SIM_PLATFORM_CERT_FILE);
	if (vt_x509_load(p, &g_plat, &err) != VT_OK)
		die("platform cert", &err);
	snprintf(p, sizeof(p), "%s/%s", g_dir, VT_SIM_PLATFORM_KEY_FILE);
	if (vt_key_load_pem(p, true, &g_key, &err) != VT_OK)
		die("platform key", &err);
	if (vt_sim_platform_id(g_plat, g_pid, &err) != VT_OK)
		die("platform id", &err);
	unsigned char *der = NULL;
	int der_size = i2d_X509(g_plat, &der);
	if (der_size <= 0)
		die("cert DER", &err);
	g_cert_b64 = vt_b64_encode(der, (size_t)der_size);
	OPENSSL_free(der);
	if (g_cert_b64 == NULL)
		die("base64", &err);
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notBefore(g_plat), &tm) != 1)
		die("notBefore", &err);
	g_now = (int64_t)timegm(&tm) + 86400;
	g_ready = true;
}

static void verify(const json_t *ev, const uint8_t *bind, size_t bind_size)
{
	struct vt_verify_ctx ctx = {.now = g_now, .sim_root_insecure = g_root};
	struct vt_binding b = {.report_data = bind, .report_data_size = bind_size};
	struct vt_err err = {0};
	json_t *claims = NULL;
	vt_status rc = vt_tee_sim.verify(&ctx, ev, &b, &claims, &err);
	if (rc == VT_OK) {
		if (claims == NULL || !json_is_true(json_object_get(claims, "insecure")))
			abort(); /* verified sim evidence must say it is insecure */
		char *s = json_dumps(claims, JSON_COMPACT);
		free(s);
	} else if (claims != NULL || err.code != rc) {
		abort(); /* failures leave no claims and record their own code */
	}
	json_decref(claims);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
	json_t *ev = NULL;
	if (vt_json_parse((const char *)data, size, 65536, &ev, NULL) != VT_OK)
		return;
	json_t *pc = json_is_object(ev) ? json_object_get(ev, "platform_cert") : NULL;
	if (json_is_string(pc) && strcmp(json_string_value(pc), "FUZZ") == 0)
		json_object_set_new(ev, "platform_cert", json_string(g_cert_b64));
	verify(ev, NULL, 0);
	static const uint8_t zeros[64];
	verify(ev, zeros, sizeof(zeros));
	json_decref(ev);
}

/* Version 1 (256 bytes) or 2 (304 bytes, with init_data): re-signed. */
static void fuzz_resigned(const uint8_t *data, size_t size)
{
	uint8_t buf[VT_SIM_REPORT_V2_SIZE];
	const size_t signed_size = size == VT_SIM_REPORT_SIZE ? VT_SIM_SIGNED_SIZE : VT_SIM_V2_SIGNED_SIZE;
	memcpy(buf, data, size);
	bool fix_pid = (buf[size - 1] & 1) == 0, own_rd = (buf[size - 2] & 1) == 0;
	if (fix_pid)
		memcpy(buf + 128, g_pid, sizeof(g_pid));
	size_t sig_size = size - signed_size;
	if (vt_ecdsa_sign_raw(g_key, EVP_sha384(), buf, signed_size, buf + signed_size, &sig_size, NULL) != VT_OK ||
	    sig_size != size - signed_size)
		abort();
	char *rb = vt_b64_encode(buf, size);
	json_t *ev = rb ? json_pack("{s:s, s:s}", "report", rb, "platform_cert", g_cert_b64) : NULL;
	free(rb);
	if (ev == NULL)
		abort();
	uint8_t bind[64];
	memcpy(bind, own_rd ? buf + 64 : data + 160, sizeof(bind));
	verify(ev, bind, sizeof(bind));
	json_decref(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_ready)
		setup();

	struct vt_sim_report r;
	struct vt_err err = {0};
	if (vt_sim_report_parse(data, size, &r, &err) == VT_OK) {
		uint8_t again[VT_SIM_REPORT_V2_SIZE];
		if (vt_sim_report_size(r.version) != size)
			abort();
		vt_sim_report_serialize(&r, again);
		if (memcmp(again, data, size) != 0)
			abort(); /* parse and serialize must round-trip */
	} else if (err.code != VT_E_PARSE || err.step != VT_STEP_PARSE) {
		abort();
	}

	fuzz_json(data, size);
	if (size == VT_SIM_REPORT_SIZE || size == VT_SIM_REPORT_V2_SIZE)
		fuzz_resigned(data, size);
	return 0;
}
