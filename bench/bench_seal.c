/*
 * bench_seal — sealed files: throughput against raw AES-256-GCM, and the
 * latency of getting the key from three brokers against one KBS round.
 *
 * usage: bench_seal VERITEE_BIN [MiB] [rounds]
 *
 * 1. The bound, as `openssl enc` would do it if it took GCM: one raw
 *    AES-256-GCM pass through OpenSSL EVP over the same file, read in 1 MiB
 *    chunks, each encrypted with its own nonce and tag and written out, to
 *    a file on the same file system with an fsync at the end (the
 *    "streaming" bound) and to /dev/null (the "page cache" bound); its
 *    decryption the same way.  Also the in-memory rate, for scale.
 * 2. `veritee seal` and `veritee unseal` of a MiB MiB file in /tmp (made
 *    here, deleted after), 2-of-3 over three `veritee serve` on loopback,
 *    timed end to end (process start, KBS rounds, read, crypto, write,
 *    fsync, rename): MB/s and the ratio to the streaming bound; the
 *    library's seal and open from page cache to /dev/null against the
 *    page-cache bound.
 * 3. Key latency, in process, `rounds` times each, median and p90: one
 *    vt_client_get_resource round to one broker, and vt_unseal_key for the
 *    2-of-3 file (three rounds in parallel, done at the second valid share).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "veritee/client.h"
#include "veritee/seal.h"
#include "veritee/sim.h"

#define NB 3
static char dir[64], simdir[128], urls[NB][64];
static pid_t pids[NB];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stop_all(void)
{
	for (int i = 0; i < NB; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
}

static void die(const char *what)
{
	fprintf(stderr, "bench_seal: %s\n", what);
	stop_all();
	exit(2);
}

static void run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_seal: failed: %s\n", cmd);
		stop_all();
		exit(2);
	}
}

static void start_brokers(const char *bin)
{
	char cmd[4096], cfg[160];
	snprintf(dir, sizeof(dir), "/tmp/veritee-bench-seal-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(simdir, sizeof(simdir), "%s/sim", dir);
	snprintf(cmd, sizeof(cmd), "'%s' attest --tee sim --sim-dir %s --report-data 00 >/dev/null 2>&1", bin, simdir);
	run(cmd);
	struct vt_sim_attest_opts o;
	vt_sim_attest_opts_default(&o);
	char *mhex = vt_hex_encode(o.measurement, sizeof(o.measurement));
	for (int i = 0; i < NB; i++) {
		snprintf(cmd, sizeof(cmd), "'%s' admin keygen %s/admin%d.key >/dev/null", bin, dir, i);
		run(cmd);
		snprintf(cfg, sizeof(cfg), "%s/kbs%d.json", dir, i);
		FILE *f = fopen(cfg, "w");
		if (f == NULL)
			die("config");
		fprintf(f, "{\"listen\":\"127.0.0.1:0\",\"database\":\"kbs%d.db\",\"master_key\":\"master%d.key\","
			   "\"token_signing_key\":\"token%d.key\",\"admin_public_keys\":[\"admin%d.key.pub\"],"
			   "\"insecure_sim_root\":\"sim/sim-root.pem\"}\n",
			i, i, i, i);
		fclose(f);
		int out[2];
		if (pipe(out) != 0)
			die("pipe");
		pids[i] = fork();
		if (pids[i] == 0) {
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
		close(out[0]);
		if (n <= 0)
			die("broker did not start");
		portbuf[n] = 0;
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d", atoi(portbuf));
		snprintf(cmd, sizeof(cmd),
			 "printf 'bench-secret-0123456789' > %s/secret && "
			 "'%s' admin --url %s --key %s/admin%d.key set-resource default/key/bench %s/secret >/dev/null && "
			 "'%s' admin --url %s --key %s/admin%d.key add-reference-value sim_measurement %s >/dev/null 2>&1",
			 dir, bin, urls[i], dir, i, dir, bin, urls[i], dir, i, mhex);
		run(cmd);
	}
	free(mhex);
}

/* Raw AES-256-GCM over `mib` MiB: 1 MiB chunks, a nonce each, as sealing does. */
static double raw_gcm_mbps(unsigned mib)
{
	const size_t cs = 1u << 20;
	uint8_t *in = malloc(cs), *out = malloc(cs), key[32] = {1}, iv[12] = {0}, tag[16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (in == NULL || out == NULL || c == NULL)
		die("oom");
	memset(in, 0x5a, cs);
	EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL);
	double t0 = now_s();
	for (unsigned i = 0; i < mib; i++) {
		int len = 0;
		memcpy(iv + 4, &i, sizeof(i));
		if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(c, out, &len, in, (int)cs) != 1 ||
		    EVP_EncryptFinal_ex(c, out + len, &len) != 1 || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
			die("EVP");
	}
	double dt = now_s() - t0;
	EVP_CIPHER_CTX_free(c);
	free(in);
	free(out);
	return (double)mib * 1.048576 / dt;
}

/* The raw streaming pass: `in` read in 1 MiB chunks, each encrypted (or
 * decrypted: the "ciphertext" is then the input, and the tag is checked
 * against the one computed when it was written, here just computed again)
 * with a nonce per chunk and written to `out`; fsync when asked. */
static double raw_stream_mbps(const char *in_path, const char *out_path, bool enc, bool sync)
{
	const size_t cs = 1u << 20;
	uint8_t *in = malloc(cs), *out = malloc(cs + 16), key[32] = {1}, iv[12] = {0};
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int fi = open(in_path, O_RDONLY), fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in == NULL || out == NULL || c == NULL || fi < 0 || fo < 0)
		die("raw stream setup");
	if ((enc ? EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL)
		 : EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL)) != 1)
		die("EVP");
	double t0 = now_s();
	size_t total = 0;
	for (uint64_t i = 0;; i++) {
		ssize_t r = read(fi, in, cs);
		if (r < 0)
			die("read");
		if (r == 0)
			break;
		int len = 0, fl = 0;
		memcpy(iv + 4, &i, sizeof(i));
		if (enc) {
			if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1 ||
			    EVP_EncryptUpdate(c, out, &len, in, (int)r) != 1 || EVP_EncryptFinal_ex(c, out + len, &fl) != 1 ||
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + len + fl) != 1)
				die("EVP enc");
		} else {
			uint8_t tag[16] = {0};
			if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv) != 1 ||
			    EVP_DecryptUpdate(c, out, &len, in, (int)r) != 1 ||
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
				die("EVP dec");
			(void)EVP_DecryptFinal_ex(c, out + len, &fl); /* a made-up tag: the cost, not the verdict */
			fl = 0;
		}
		size_t w = (size_t)len + (size_t)fl + (enc ? 16u : 0u);
		if (write(fo, out, w) != (ssize_t)w)
			die("write");
		total += (size_t)r;
	}
	if (sync && fsync(fo) != 0)
		die("fsync");
	double dt = now_s() - t0;
	close(fi);
	close(fo);
	EVP_CIPHER_CTX_free(c);
	free(in);
	free(out);
	return (double)total / 1e6 / dt;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define REPS 3
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return v[n / 2];
}

static void latency(const char *what, double *t, int n)
{
	qsort(t, (size_t)n, sizeof(double), cmp_d);
	printf("%-40s median %7.2f ms   p90 %7.2f ms   (%d rounds)\n", what, t[n / 2] * 1e3, t[n * 9 / 10] * 1e3, n);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_seal VERITEE_BIN [MiB] [rounds]\n");
		return 2;
	}
	const char *bin = argv[1];
	unsigned mib = argc > 2 ? (unsigned)atoi(argv[2]) : 1024;
	int rounds = argc > 3 ? atoi(argv[3]) : 50;
	if (mib < 1 || rounds < 1)
		die("bad arguments");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_brokers(bin);
	char plain[128], vts[128], out[128], small[160], cmd[4096];
	snprintf(plain, sizeof(plain), "%s/plain.bin", dir);
	snprintf(vts, sizeof(vts), "%s/plain.vts", dir);
	snprintf(out, sizeof(out), "%s/plain.out", dir);
	snprintf(small, sizeof(small), "%s/small.vts", dir);

	/* the input: a random MiB repeated */
	int fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint8_t *blk = malloc(1u << 20);
	FILE *ur = fopen("/dev/urandom", "rb");
	if (fd < 0 || blk == NULL || ur == NULL || fread(blk, 1, 1u << 20, ur) != 1u << 20)
		die("input");
	fclose(ur);
	for (unsigned i = 0; i < mib; i++)
		if (write(fd, blk, 1u << 20) != 1 << 20)
			die("write input");
	fsync(fd);
	close(fd);
	free(blk);

	double raw = raw_gcm_mbps(mib);
	char rawout[160];
	snprintf(rawout, sizeof(rawout), "%s/raw.out", dir);
	double raw_null = raw_stream_mbps(plain, "/dev/null", true, false);
	char brokers[1024];
	snprintf(brokers, sizeof(brokers),
		 "--broker %s --admin-key %s/admin0.key --broker %s --admin-key %s/admin1.key --broker %s --admin-key "
		 "%s/admin2.key --threshold 2",
		 urls[0], dir, urls[1], dir, urls[2], dir);
	snprintf(cmd, sizeof(cmd), "'%s' seal --in %s --out %s --resource default/seal/big %s 2>/dev/null", bin, plain, vts,
		 brokers);
	/* The disk decides both, and its speed drifts: the raw pass and the CLI
	 * alternate, REPS times each, and the medians are compared. */
	const double mb = (double)mib * 1.048576;
	double raw_enc[REPS], cli_seal[REPS], raw_dec[REPS], cli_unseal[REPS], t0;
	for (int r = 0; r < REPS; r++) {
		raw_enc[r] = raw_stream_mbps(plain, rawout, true, true);
		unlink(vts);
		t0 = now_s();
		run(cmd);
		cli_seal[r] = mb / (now_s() - t0);
	}
	/* the format's own cost: the same file, page-cached, sealed and opened
	 * in process to /dev/null (no broker, no disk write) */
	double lib_seal = 0, lib_open = 0;
	{
		const char *u[1] = {"http://127.0.0.1:1"};
		struct vt_seal_header lh;
		struct vt_secret *k = NULL, *sh[1] = {0};
		uint8_t lhdr[4096], *buf = malloc(1u << 20);
		size_t lhs = 0, got = 0;
		struct vt_err le = {0};
		struct vt_seal_enc *enc = NULL;
		char lvts[160];
		snprintf(lvts, sizeof(lvts), "%s/lib.vts", dir);
		int in = open(plain, O_RDONLY), nul = open("/dev/null", O_WRONLY), o = open(lvts, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (buf == NULL || in < 0 || nul < 0 || o < 0 ||
		    vt_seal_header_new(VT_SEAL_PAYLOAD_FILE, 1u << 20, "default/seal/lib", u, 1, 1, &lh, &k, sh, &le) != VT_OK ||
		    vt_seal_header_encode(&lh, lhdr, sizeof(lhdr), &lhs, &le) != VT_OK)
			die("library seal setup");
		t0 = now_s();
		if (vt_seal_enc_new(k, &lh, lhdr, lhs, nul, &enc, &le) != VT_OK)
			die("enc");
		do {
			if (vt_seal_read_full(in, buf, 1u << 20, &got, "in", &le) != VT_OK || vt_seal_enc_write(enc, buf, got, &le) != VT_OK)
				die("enc write");
		} while (got == 1u << 20);
		if (vt_seal_enc_finish(enc, &le) != VT_OK)
			die("enc finish");
		lib_seal = now_s() - t0;
		vt_seal_enc_free(enc);
		/* to time opening, seal once more into a file (the CLI's sealed
		 * file's key is at the brokers), then decrypt it to /dev/null */
		enc = NULL;
		lseek(in, 0, SEEK_SET);
		if (vt_seal_enc_new(k, &lh, lhdr, lhs, o, &enc, &le) != VT_OK)
			die("enc2");
		do {
			if (vt_seal_read_full(in, buf, 1u << 20, &got, "in", &le) != VT_OK || vt_seal_enc_write(enc, buf, got, &le) != VT_OK)
				die("enc2 write");
		} while (got == 1u << 20);
		if (vt_seal_enc_finish(enc, &le) != VT_OK)
			die("enc2 finish");
		vt_seal_enc_free(enc);
		lseek(o, (off_t)lhs, SEEK_SET);
		struct vt_seal_dec *d = NULL;
		t0 = now_s();
		if (vt_seal_dec_new(k, &lh, lhdr, lhs, o, &d, &le) != VT_OK)
			die("dec");
		for (bool done = false; !done;) {
			const uint8_t *pt;
			size_t n;
			if (vt_seal_dec_next(d, &pt, &n, &done, &le) != VT_OK || vt_seal_write_all(nul, pt, n, "null", &le) != VT_OK)
				die("dec next");
		}
		lib_open = now_s() - t0;
		vt_seal_dec_free(d);
		vt_secret_free(k);
		vt_secret_free(sh[0]);
		free(buf);
		close(in);
		close(nul);
		close(o);
		unlink(lvts);
	}
	unlink(plain);
	snprintf(cmd, sizeof(cmd), "'%s' unseal --in %s --out %s --tee sim --sim-dir %s", bin, vts, out, simdir);
	for (int r = 0; r < REPS; r++) {
		raw_dec[r] = raw_stream_mbps(rawout, out, false, true);
		unlink(out);
		t0 = now_s();
		run(cmd);
		cli_unseal[r] = mb / (now_s() - t0);
		unlink(out);
	}
	unlink(rawout);
	unlink(vts);
	double raw_file = median(raw_enc, REPS), raw_dec_file = median(raw_dec, REPS);
	double seal_mbps = median(cli_seal, REPS), unseal_mbps = median(cli_unseal, REPS);
	printf("file: %u MiB in %s (deleted after); chunk 1 MiB; 2-of-3 brokers on loopback\n", mib, dir);
	printf("raw AES-256-GCM, in memory (for scale)             %8.1f MB/s\n", raw);
	printf("raw AES-256-GCM stream, file -> file + fsync       %8.1f MB/s   (bound: seal)\n", raw_file);
	printf("raw AES-256-GCM stream, decrypt file -> file+fsync %8.1f MB/s   (bound: unseal)\n", raw_dec_file);
	printf("raw AES-256-GCM stream, page cache -> /dev/null    %8.1f MB/s   (bound: library)\n", raw_null);
	printf("veritee seal   (CLI, end to end, 2-of-3)           %8.1f MB/s   ratio %.2f\n", seal_mbps, seal_mbps / raw_file);
	printf("veritee unseal (CLI, end to end, 2-of-3)           %8.1f MB/s   ratio %.2f\n", unseal_mbps,
	       unseal_mbps / raw_dec_file);
	printf("(file rates: medians of %d alternating runs each)\n", REPS);
	printf("library seal   (page cache -> /dev/null)           %8.1f MB/s   ratio %.2f\n", mb / lib_seal, mb / lib_seal / raw_null);
	printf("library open   (page cache -> /dev/null)           %8.1f MB/s   ratio %.2f\n", mb / lib_open, mb / lib_open / raw_null);

	/* key latency */
	snprintf(cmd, sizeof(cmd), "printf 'small' > %s/small && '%s' seal --in %s/small --out %s --resource default/seal/small %s 2>/dev/null",
		 dir, bin, dir, small, brokers);
	run(cmd);
	uint8_t *hdr = NULL;
	size_t hs = 0, size = 0;
	struct vt_seal_header h;
	struct vt_err e = {0};
	if (vt_file_read(small, 1u << 20, &hdr, &size, &e) != VT_OK || vt_seal_header_parse(hdr, size, &h, &hs, &e) != VT_OK)
		die("small header");
	struct vt_client_opts co = {.url = urls[0], .tee = "sim"};
	co.attest.sim_dir = simdir;
	double *one = calloc((size_t)rounds, sizeof(double)), *three = calloc((size_t)rounds, sizeof(double));
	struct vt_seal_broker_result *res = calloc(VT_SEAL_MAX_BROKERS, sizeof(*res));
	for (int i = 0; i < rounds; i++) {
		struct vt_secret *s = NULL;
		struct vt_client_refusal r;
		t0 = now_s();
		if (vt_client_get_resource(&co, "default/key/bench", &s, NULL, &r, &e) != VT_OK)
			die("KBS round");
		one[i] = now_s() - t0;
		vt_secret_free(s);
		struct vt_unseal_opts uo = {.client = &co};
		t0 = now_s();
		if (vt_unseal_key(&h, &uo, &s, res, &e) != VT_OK)
			die(e.detail);
		three[i] = now_s() - t0;
		vt_secret_free(s);
		while (vt_unseal_pending() > 0) /* let the third round finish before the next sample */
			usleep(500);
	}
	latency("one KBS round (1 broker)", one, rounds);
	latency("unseal key, 2-of-3 brokers in parallel", three, rounds);
	printf("ratio (2-of-3 / one round, medians): %.2f\n", three[rounds / 2] / one[rounds / 2]);
	free(one);
	free(three);
	free(res);
	free(hdr);
	stop_all();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
	curl_global_cleanup();
	return 0;
}
