/*
 * bench_kbs — full KBS rounds (auth -> attest -> resource) against a real
 * `veritee serve` on loopback, next to the bound set by the crypto alone.
 *
 * usage: bench_kbs VERITEE_BIN [seconds] [concurrency...]
 *
 * For each concurrency level it runs closed-loop clients for `seconds` and
 * prints rounds/s and p50/p99 round latency.  Then it measures, in one
 * thread, the crypto a round needs on both sides (TEE key generation, sim
 * report signature, report verification, EAR signature and verification,
 * JWE encryption and decryption, the release log's signed head; the
 * platform chain is verified once and cached by the broker, so it is not in
 * the loop) and prints
 * the bound (per-core rate x cores) and the ratio measured/bound.  Before the
 * load it opens 1,000 attested sessions and prints the broker's RSS.
 *
 * BENCH_GPUS=N makes every round composite: the CPU's sim evidence plus N
 * simulated GPUs (sim-gpu), each its own report signed by the client and
 * verified by the broker and appraised as its own submod; the bound then
 * counts N more P-384 signatures and verifications per round.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "veritee/client.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/sim.h"
#include "veritee/token.h"

static char dir[64], url[64], simdir[128];
static pid_t broker_pid;
static int gpus; /* BENCH_GPUS: simulated GPUs per round */
static json_t *devices;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct vt_err *e)
{
	fprintf(stderr, "bench: %s: %s\n", what, e ? e->detail : "");
	if (broker_pid > 0)
		kill(broker_pid, SIGTERM);
	exit(2);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: failed: %s\n", cmd);
		exit(2);
	}
}

/* Start `veritee serve` with a fresh store; admin-register the secret and
 * the sim reference value with `veritee admin`. */
static void start_broker(const char *bin)
{
	char cmd[2048], cfg[128];
	snprintf(dir, sizeof(dir), "/tmp/veritee-bench-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", NULL);
	snprintf(simdir, sizeof(simdir), "%s/sim", dir);
	snprintf(cmd, sizeof(cmd), "'%s' admin keygen %s/admin.key >/dev/null && '%s' attest --tee sim --sim-dir %s "
		 "--report-data 00 >/dev/null 2>&1", bin, dir, bin, simdir);
	run(cmd);
	snprintf(cfg, sizeof(cfg), "%s/kbs.json", dir);
	FILE *f = fopen(cfg, "w");
	if (f == NULL)
		die("config", NULL);
	fprintf(f, "{\"listen\":\"127.0.0.1:0\",\"database\":\"kbs.db\",\"master_key\":\"master.key\","
		   "\"token_signing_key\":\"token.key\",\"admin_public_keys\":[\"admin.key.pub\"],"
		   "\"insecure_sim_root\":\"sim/sim-root.pem\",\"max_sessions\":200000}\n");
	fclose(f);
	int out[2];
	if (pipe(out) != 0)
		die("pipe", NULL);
	broker_pid = fork();
	if (broker_pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execl(bin, bin, "serve", "--config", cfg, "--print-port", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char portbuf[16] = "";
	ssize_t n = read(out[0], portbuf, sizeof(portbuf) - 1);
	if (n <= 0)
		die("broker did not start", NULL);
	portbuf[n] = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", atoi(portbuf));
	struct vt_sim_attest_opts o;
	vt_sim_attest_opts_default(&o);
	char *mhex = vt_hex_encode(o.measurement, sizeof(o.measurement));
	snprintf(cmd, sizeof(cmd), "printf 'bench-secret-0123456789' > %s/secret && "
		 "'%s' admin --url %s --key %s/admin.key set-resource default/key/bench %s/secret && "
		 "'%s' admin --url %s --key %s/admin.key add-reference-value sim_measurement %s >/dev/null",
		 dir, bin, url, dir, dir, bin, url, dir, mhex);
	free(mhex);
	run(cmd);
	if (gpus > 0) {
		uint8_t fw[48];
		size_t fn = 0;
		static const char firmware[] = "veritee sim gpu firmware"; /* the sim-gpu attester's default */
		if (vt_digest(EVP_sha384(), firmware, strlen(firmware), fw, &fn, NULL) != VT_OK)
			die("digest", NULL);
		char *fhex = vt_hex_encode(fw, fn);
		snprintf(cmd, sizeof(cmd), "'%s' admin --url %s --key %s/admin.key add-reference-value sim_gpu_measurement %s "
			 ">/dev/null", bin, url, dir, fhex);
		free(fhex);
		run(cmd);
		char count[16];
		snprintf(count, sizeof(count), "%d", gpus);
		devices = json_pack("{s:{s:s, s:s}}", "sim-gpu", "sim_dir", simdir, "count", count);
	}
}

/* ------------------------------------------------------------ load */

struct worker {
	pthread_t t;
	double stop_at;
	double *lat;
	size_t n, cap;
	long failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct vt_client_opts o = {.url = url, .tee = "sim", .devices = devices};
	o.attest.sim_dir = simdir;
	while (now_s() < w->stop_at) {
		double t0 = now_s();
		struct vt_secret *s = NULL;
		struct vt_client_refusal r;
		struct vt_err e = {0};
		if (vt_client_get_resource(&o, "default/key/bench", &s, NULL, &r, &e) != VT_OK) {
			w->failures++;
			continue;
		}
		vt_secret_free(s);
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 1024;
			w->lat = realloc(w->lat, w->cap * sizeof(double));
		}
		w->lat[w->n++] = now_s() - t0;
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double load(int conc, double secs, double *p50, double *p99, long *fail)
{
	struct worker *w = calloc((size_t)conc, sizeof(*w));
	double t0 = now_s();
	for (int i = 0; i < conc; i++) {
		w[i].stop_at = t0 + secs;
		pthread_create(&w[i].t, NULL, worker_main, &w[i]);
	}
	size_t total = 0;
	*fail = 0;
	for (int i = 0; i < conc; i++) {
		pthread_join(w[i].t, NULL);
		total += w[i].n;
		*fail += w[i].failures;
	}
	double elapsed = now_s() - t0;
	double *all = malloc((total ? total : 1) * sizeof(double));
	size_t k = 0;
	for (int i = 0; i < conc; i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
		k += w[i].n;
		free(w[i].lat);
	}
	qsort(all, total, sizeof(double), cmp_d);
	*p50 = total ? all[total / 2] : 0;
	*p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
	free(all);
	free(w);
	return (double)total / elapsed;
}

/* ------------------------------------------------------ crypto bound */

/* The crypto of one round, both sides, nothing else. */
static double crypto_rounds_per_sec(double secs)
{
	struct vt_err e = {0};
	EVP_PKEY *platform = NULL, *token_key = NULL, *tee = NULL;
	X509 *pcert = NULL;
	char path[256];
	snprintf(path, sizeof(path), "%s/platform.key", simdir);
	if (vt_key_load_pem(path, true, &platform, &e) != VT_OK)
		die("platform key", &e);
	snprintf(path, sizeof(path), "%s/platform.pem", simdir);
	if (vt_x509_load(path, &pcert, &e) != VT_OK)
		die("platform cert", &e);
	if (vt_key_generate(VT_KEY_P256, &token_key, &e) != VT_OK)
		die("keygen", &e);
	uint8_t report[160] = {1}, sig[96];
	json_t *hdr = json_pack("{s:s, s:s}", "typ", "JWT", "alg", "ES256");
	static const char payload[2600] = "{\"x\":1}";
	const uint8_t secret[] = "bench-secret-0123456789";
	long rounds = 0;
	double t0 = now_s();
	while (now_s() - t0 < secs) {
		/* client: TEE key; "hardware": report signature */
		if (vt_key_generate(VT_KEY_P256, &tee, &e) != VT_OK)
			die("keygen", &e);
		/* the CPU's report and each GPU's: signed by the "hardware", verified
		 * by the broker (the platform chain is verified once and cached, as
		 * the broker does) */
		for (int g = 0; g <= gpus; g++) {
			size_t sl = sizeof(sig);
			if (vt_ecdsa_sign_raw(platform, EVP_sha384(), report, sizeof(report), sig, &sl, &e) != VT_OK)
				die("sign", &e);
			if (vt_ecdsa_verify_raw(X509_get0_pubkey(pcert), EVP_sha384(), report, sizeof(report), sig, sl, &e) !=
			    VT_OK)
				die("verify", &e);
		}
		/* broker: EAR signature; client/broker: its verification */
		char *jwt = NULL;
		if (vt_jws_sign(token_key, hdr, (const uint8_t *)payload, sizeof(payload), &jwt, &e) != VT_OK ||
		    vt_jws_verify(jwt, token_key, (const char *const[]){"ES256", NULL}, NULL, NULL, NULL, &e) != VT_OK)
			die("jws", &e);
		free(jwt);
		/* broker: the release log's signed head (ES256 over {hash, seq, time}) */
		static const char head[] = "{\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
					   "\"seq\":1,\"time\":1800000000}";
		if (vt_jws_sign(token_key, hdr, (const uint8_t *)head, sizeof(head) - 1, &jwt, &e) != VT_OK)
			die("jws", &e);
		free(jwt);
		/* broker: JWE to the TEE key; client: decrypt */
		json_t *jwe = NULL;
		struct vt_secret *pt = NULL;
		if (vt_jwe_encrypt(tee, "ECDH-ES+A256KW", secret, sizeof(secret), &jwe, &e) != VT_OK ||
		    vt_jwe_decrypt(tee, jwe, &pt, &e) != VT_OK)
			die("jwe", &e);
		json_decref(jwe);
		vt_secret_free(pt);
		EVP_PKEY_free(tee);
		rounds++;
	}
	double rate = (double)rounds / (now_s() - t0);
	json_decref(hdr);
	EVP_PKEY_free(platform);
	EVP_PKEY_free(token_key);
	X509_free(pcert);
	return rate;
}

/* Open n attested sessions (kept live) with the raw protocol. */
static void open_sessions(int n)
{
	struct vt_client_opts o = {.url = url, .tee = "sim"};
	o.attest.sim_dir = simdir;
	for (int i = 0; i < n; i++) {
		/* get-resource leaves its session attested and live until it expires */
		struct vt_secret *s = NULL;
		struct vt_client_refusal r;
		if (vt_client_get_resource(&o, "default/key/bench", &s, NULL, &r, NULL) != VT_OK)
			die("session", NULL);
		vt_secret_free(s);
	}
}

static long metric(const char *name)
{
	char *body = NULL;
	int status = 0;
	if (vt_client_request(url, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &status, &body, NULL) != VT_OK)
		return -1;
	char line[128];
	snprintf(line, sizeof(line), "\n%s ", name); /* the sample line, not # HELP */
	const char *p = strstr(body, line);
	long v = -1;
	if (p)
		sscanf(p + strlen(line), "%ld", &v);
	free(body);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_kbs VERITEE_BIN [seconds] [concurrency...]\n");
		return 2;
	}
	double secs = argc > 2 ? atof(argv[2]) : 10;
	gpus = getenv("BENCH_GPUS") ? atoi(getenv("BENCH_GPUS")) : 0;
	if (gpus < 0 || gpus > 64) {
		fprintf(stderr, "bench: BENCH_GPUS must be 0..64\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_broker(argv[1]);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	char what[64] = "CPU (sim)";
	if (gpus)
		snprintf(what, sizeof(what), "CPU (sim) + %d GPUs (sim-gpu)", gpus);
	printf("veritee KBS benchmark: %ld cores, %.0f s per level, broker pid %d at %s; rounds: %s\n", cores, secs,
	       (int)broker_pid, url, what);
	/* RSS first, on a fresh broker: idle, then holding 1,000 attested sessions
	 * (each keeps its EAR until it expires). */
	long idle = rss_kib(broker_pid);
	open_sessions(1000);
	printf("broker RSS: %.1f MiB idle, %.1f MiB with %ld live attested sessions\n", (double)idle / 1024.0,
	       (double)rss_kib(broker_pid) / 1024.0, metric("veritee_sessions_live"));
	printf("%-12s %10s %10s %10s %8s\n", "concurrency", "rounds/s", "p50 ms", "p99 ms", "errors");
	double best = 0;
	int levels[8] = {1, 4, 32}, nlevels = 3;
	if (argc > 3) {
		nlevels = 0;
		for (int i = 3; i < argc && nlevels < 8; i++)
			levels[nlevels++] = atoi(argv[i]);
	}
	for (int i = 0; i < nlevels; i++) {
		double p50, p99;
		long fail;
		double r = load(levels[i], secs, &p50, &p99, &fail);
		printf("%-12d %10.1f %10.2f %10.2f %8ld\n", levels[i], r, p50 * 1e3, p99 * 1e3, fail);
		fflush(stdout);
		if (r > best)
			best = r;
	}
	double per_core = crypto_rounds_per_sec(secs / 2 > 3 ? secs / 2 : 3);
	double bound = per_core * (double)cores;
	printf("crypto-only bound: %.1f rounds/s per core x %ld cores = %.1f rounds/s\n", per_core, cores, bound);
	printf("ratio (best measured / bound): %.2f\n", best / bound);

	kill(broker_pid, SIGTERM);
	waitpid(broker_pid, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
	json_decref(devices);
	curl_global_cleanup();
	return 0;
}
