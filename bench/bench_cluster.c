/*
 * bench_cluster — the load generator of the replica harness
 * (bench/cluster.py, tests/integration/test_cluster.py): KBS rounds against
 * any URL (HAProxy in front of replicas, or one broker), each worker with
 * its own keep-alive connection, split into steps so that sessions can be
 * held open between /auth and /attest.
 *
 *   bench_cluster load URL SIMDIR RESOURCE SECRET_HEX CONCURRENCY SECONDS [RETRIES]
 *       closed-loop rounds (auth -> attest -> resource, secret decrypted and
 *       compared with SECRET_HEX); a failed round is retried up to RETRIES
 *       times from /auth (default 0).  One JSON line: rounds, rounds_per_s,
 *       p50_ms, p99_ms (of rounds that succeeded, retries included),
 *       retried, errors (rounds that failed even after their retries),
 *       mismatch (secrets that differ), cpu_s (this process), statuses seen
 *       on failed attempts.
 *   bench_cluster sessions URL SIMDIR RESOURCE SECRET_HEX N CONCURRENCY
 *       opens N sessions (/auth only), prints {"phase":"held",...} and waits
 *       for a line on stdin, then completes every one (attest + resource)
 *       and prints {"phase":"completed",...}.
 *   bench_cluster crypto SIMDIR SECONDS [THREADS]
 *       the crypto of one round on both sides (the bound of bench_kbs.c), in
 *       THREADS threads at once (default 1): rounds per CPU-second of the
 *       threads (= rounds/s of a core that is ours alone), and per thread of
 *       wall time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "veritee/attester.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/util.h"

static const char *url, *simdir, *resource;
static uint8_t *want_secret;
static size_t want_size;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------ one client */

struct conn {
	CURL *curl;
	struct vt_buf body;
	char cookie[VT_KBS_COOKIE_MAX];
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct conn *c = ctx;
	return vt_buf_append(&c->body, p, size * n, NULL) == VT_OK ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct conn *c = ctx;
	size_t len = size * n;
	static const char name[] = "set-cookie: kbs-session-id=";
	if (len > sizeof(name) && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		const char *v = p + sizeof(name) - 1;
		size_t k = 0;
		while (k < len - (sizeof(name) - 1) && v[k] != ';' && v[k] != '\r')
			k++;
		if (k >= sizeof(c->cookie))
			k = 0; /* too long: no session (counted as an error), never cut */
		memcpy(c->cookie, v, k);
		c->cookie[k] = '\0';
	}
	return len;
}

static void conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->curl = curl_easy_init();
	vt_buf_init(&c->body, 1 << 20);
}

static void conn_free(struct conn *c)
{
	curl_easy_cleanup(c->curl);
	vt_buf_free(&c->body);
}

/* One request; the session cookie `cookie` (may be NULL) is sent. */
static int req(struct conn *c, const char *method, const char *path, const char *cookie, const char *body)
{
	char u[512], ck[VT_KBS_COOKIE_MAX + 32];
	snprintf(u, sizeof(u), "%s%s", url, path);
	c->body.len = 0;
	CURL *h = c->curl;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, u);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (cookie) {
		snprintf(ck, sizeof(ck), "kbs-session-id=%s", cookie);
		curl_easy_setopt(h, CURLOPT_COOKIE, ck);
	} else {
		curl_easy_setopt(h, CURLOPT_COOKIE, NULL);
	}
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	CURLcode cr = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	long code = 0;
	if (cr == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (vt_buf_nul_terminate(&c->body, NULL) != VT_OK)
		return -1;
	return cr == CURLE_OK ? (int)code : -(int)cr; /* negative: transport error */
}

struct session {
	char cookie[VT_KBS_COOKIE_MAX];
	char nonce[64];
};

/* POST /auth: a session and its nonce.  Returns the HTTP status. */
static int do_auth(struct conn *c, struct session *s)
{
	c->cookie[0] = '\0';
	int st = req(c, "POST", "/kbs/v0/auth", NULL, "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"extra-params\":{}}");
	if (st != 200)
		return st;
	json_t *j = json_loads((const char *)c->body.data, 0, NULL);
	const char *n = json_string_value(json_object_get(j, "nonce"));
	if (n == NULL || c->cookie[0] == '\0') {
		json_decref(j);
		return -100;
	}
	snprintf(s->nonce, sizeof(s->nonce), "%s", n);
	snprintf(s->cookie, sizeof(s->cookie), "%s", c->cookie);
	json_decref(j);
	return 200;
}

/* attest + resource on a session; the secret is compared.  Returns 200,
 * an HTTP status, or a negative error; *mismatch when the secret differs. */
static int do_complete(struct conn *c, const struct session *s, bool *mismatch)
{
	int st = -200;
	EVP_PKEY *key = NULL;
	json_t *jwk = NULL, *ev = NULL, *att = NULL, *jwe = NULL;
	char *text = NULL;
	struct vt_secret *secret = NULL;
	uint8_t digest[64], rd[64] = {0};
	size_t dn = 0;
	struct vt_attest_opts ao = {.sim_dir = simdir};
	if (vt_key_generate(VT_KEY_P256, &key, NULL) != VT_OK ||
	    (jwk = vt_key_to_jwk(key, "ECDH-ES+A256KW", false)) == NULL ||
	    vt_kbs_runtime_digest_md(EVP_sha384(), jwk, s->nonce, "", NULL, digest, &dn, NULL) != VT_OK)
		goto out;
	memcpy(rd, digest, dn);
	if (vt_attest("sim", &ao, rd, &ev, NULL) != VT_OK)
		goto out;
	att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", s->nonce, "tee-pubkey", jwk,
			"tee-evidence", "primary_evidence", ev, "additional_evidence", "");
	text = att ? vt_json_compact(att) : NULL;
	if (text == NULL)
		goto out;
	if ((st = req(c, "POST", "/kbs/v0/attest", s->cookie, text)) != 200)
		goto out;
	char path[256];
	snprintf(path, sizeof(path), "/kbs/v0/resource/%s", resource);
	if ((st = req(c, "GET", path, s->cookie, NULL)) != 200)
		goto out;
	jwe = json_loads((const char *)c->body.data, 0, NULL);
	if (jwe == NULL || vt_jwe_decrypt(key, jwe, &secret, NULL) != VT_OK) {
		st = -300;
		goto out;
	}
	*mismatch = secret->len != want_size || memcmp(secret->data, want_secret, want_size) != 0;
out:
	vt_secret_free(secret);
	free(text);
	json_decref(jwe);
	json_decref(att);
	json_decref(ev);
	json_decref(jwk);
	EVP_PKEY_free(key);
	return st;
}

/* ------------------------------------------------------------------ load */

#define MAX_STATUS 8

struct worker {
	pthread_t t;
	double stop_at;
	int retries;
	double *lat;
	size_t n, cap;
	long errors, retried, mismatch, attempts_failed;
	int statuses[MAX_STATUS];
	size_t nstatus;
	/* sessions mode */
	struct session *sess;
	size_t first, count;
};

static void note_status(struct worker *w, int st)
{
	for (size_t i = 0; i < w->nstatus; i++)
		if (w->statuses[i] == st)
			return;
	if (w->nstatus < MAX_STATUS)
		w->statuses[w->nstatus++] = st;
}

static void add_lat(struct worker *w, double v)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 1024;
		w->lat = realloc(w->lat, w->cap * sizeof(double));
	}
	w->lat[w->n++] = v;
}

static void *load_main(void *arg)
{
	struct worker *w = arg;
	struct conn c;
	conn_init(&c);
	while (now_s() < w->stop_at) {
		double t0 = now_s();
		bool ok = false, mism = false;
		for (int attempt = 0; attempt <= w->retries && !ok; attempt++) {
			struct session s;
			int st = do_auth(&c, &s);
			if (st == 200)
				st = do_complete(&c, &s, &mism);
			ok = st == 200;
			if (!ok) {
				w->attempts_failed++;
				note_status(w, st);
				if (attempt < w->retries)
					w->retried++;
			}
		}
		if (!ok) {
			w->errors++;
			continue;
		}
		if (mism)
			w->mismatch++;
		add_lat(w, now_s() - t0);
	}
	conn_free(&c);
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* p50, p99 of every worker's latencies (seconds). */
static void percentiles(struct worker *w, int n, double *p50, double *p99, size_t *total)
{
	*total = 0;
	for (int i = 0; i < n; i++)
		*total += w[i].n;
	double *all = malloc((*total ? *total : 1) * sizeof(double));
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
		k += w[i].n;
	}
	qsort(all, *total, sizeof(double), cmp_d);
	*p50 = *total ? all[*total / 2] : 0;
	*p99 = *total ? all[(size_t)((double)*total * 0.99)] : 0;
	free(all);
}

static void print_statuses(struct worker *w, int n)
{
	printf("\"statuses\":[");
	bool first = true;
	int seen[64];
	size_t ns = 0;
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < w[i].nstatus; j++) {
			bool dup = false;
			for (size_t k = 0; k < ns; k++)
				dup = dup || seen[k] == w[i].statuses[j];
			if (dup || ns == 64)
				continue;
			seen[ns++] = w[i].statuses[j];
			printf("%s%d", first ? "" : ",", w[i].statuses[j]);
			first = false;
		}
	printf("]");
}

static int cmd_load(int conc, double secs, int retries)
{
	struct worker *w = calloc((size_t)conc, sizeof(*w));
	double c0 = cpu_s(), t0 = now_s();
	for (int i = 0; i < conc; i++) {
		w[i].stop_at = t0 + secs;
		w[i].retries = retries;
		pthread_create(&w[i].t, NULL, load_main, &w[i]);
	}
	long errors = 0, retried = 0, mismatch = 0, failed = 0;
	for (int i = 0; i < conc; i++) {
		pthread_join(w[i].t, NULL);
		errors += w[i].errors;
		retried += w[i].retried;
		mismatch += w[i].mismatch;
		failed += w[i].attempts_failed;
	}
	double elapsed = now_s() - t0;
	double p50, p99;
	size_t total;
	percentiles(w, conc, &p50, &p99, &total);
	printf("{\"concurrency\":%d,\"seconds\":%.3f,\"rounds\":%zu,\"rounds_per_s\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
	       "\"retried\":%ld,\"failed_attempts\":%ld,\"errors\":%ld,\"mismatch\":%ld,\"cpu_s\":%.3f,",
	       conc, elapsed, total, (double)total / elapsed, p50 * 1e3, p99 * 1e3, retried, failed, errors, mismatch,
	       cpu_s() - c0);
	print_statuses(w, conc);
	printf("}\n");
	fflush(stdout);
	for (int i = 0; i < conc; i++)
		free(w[i].lat);
	free(w);
	return 0;
}

/* ------------------------------------------------------------- sessions */

static void *auth_main(void *arg)
{
	struct worker *w = arg;
	struct conn c;
	conn_init(&c);
	for (size_t i = w->first; i < w->first + w->count; i++) {
		double t0 = now_s();
		int st = do_auth(&c, &w->sess[i]);
		if (st != 200) {
			w->errors++;
			note_status(w, st);
			w->sess[i].cookie[0] = '\0';
			continue;
		}
		add_lat(w, now_s() - t0);
	}
	conn_free(&c);
	return NULL;
}

static void *complete_main(void *arg)
{
	struct worker *w = arg;
	struct conn c;
	conn_init(&c);
	for (size_t i = w->first; i < w->first + w->count; i++) {
		if (w->sess[i].cookie[0] == '\0')
			continue;
		double t0 = now_s();
		bool mism = false;
		int st = do_complete(&c, &w->sess[i], &mism);
		if (st != 200) {
			w->errors++;
			note_status(w, st);
			continue;
		}
		if (mism)
			w->mismatch++;
		add_lat(w, now_s() - t0);
	}
	conn_free(&c);
	return NULL;
}

static void run_phase(struct worker *w, int conc, void *(*fn)(void *), const char *phase, size_t n)
{
	double t0 = now_s();
	for (int i = 0; i < conc; i++) {
		w[i].n = 0;
		w[i].errors = w[i].mismatch = 0;
		w[i].nstatus = 0;
		pthread_create(&w[i].t, NULL, fn, &w[i]);
	}
	long errors = 0, mismatch = 0;
	for (int i = 0; i < conc; i++) {
		pthread_join(w[i].t, NULL);
		errors += w[i].errors;
		mismatch += w[i].mismatch;
	}
	double elapsed = now_s() - t0, p50, p99;
	size_t total;
	percentiles(w, conc, &p50, &p99, &total);
	printf("{\"phase\":\"%s\",\"sessions\":%zu,\"ok\":%zu,\"seconds\":%.3f,\"per_s\":%.1f,\"p50_ms\":%.2f,"
	       "\"p99_ms\":%.2f,\"errors\":%ld,\"mismatch\":%ld,",
	       phase, n, total, elapsed, (double)total / elapsed, p50 * 1e3, p99 * 1e3, errors, mismatch);
	print_statuses(w, conc);
	printf("}\n");
	fflush(stdout);
}

static int cmd_sessions(size_t n, int conc)
{
	struct session *sess = calloc(n, sizeof(*sess));
	struct worker *w = calloc((size_t)conc, sizeof(*w));
	for (int i = 0; i < conc; i++) {
		w[i].sess = sess;
		w[i].first = n * (size_t)i / (size_t)conc;
		w[i].count = n * (size_t)(i + 1) / (size_t)conc - w[i].first;
	}
	run_phase(w, conc, auth_main, "held", n);
	char line[16];
	if (fgets(line, sizeof(line), stdin) == NULL) {
		/* no one to wait for: complete at once */
	}
	run_phase(w, conc, complete_main, "completed", n);
	for (int i = 0; i < conc; i++)
		free(w[i].lat);
	free(w);
	free(sess);
	return 0;
}

/* ------------------------------------------------------------ crypto bound */

/* As bench_kbs.c: one round's crypto on both sides, in each of `threads`
 * threads at once (so that, like the load, it runs with every core busy:
 * on a machine whose cores share execution units a lone thread runs faster
 * than each of two); prints the rate per thread, i.e. per core. */
struct crypto_arg {
	double secs, cpu;
	long rounds;
	int rc;
};

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *crypto_main(void *arg)
{
	struct crypto_arg *a = arg;
	struct vt_err e = {0};
	EVP_PKEY *platform = NULL, *token_key = NULL, *tee = NULL;
	X509 *pcert = NULL;
	char path[512];
	a->rc = 2;
	snprintf(path, sizeof(path), "%s/platform.key", simdir);
	if (vt_key_load_pem(path, true, &platform, &e) != VT_OK)
		return NULL;
	snprintf(path, sizeof(path), "%s/platform.pem", simdir);
	if (vt_x509_load(path, &pcert, &e) != VT_OK || vt_key_generate(VT_KEY_P256, &token_key, &e) != VT_OK)
		return NULL;
	uint8_t report[160] = {1}, sig[96];
	json_t *hdr = json_pack("{s:s, s:s}", "typ", "JWT", "alg", "ES256");
	static const char payload[2600] = "{\"x\":1}";
	static const char head[] = "{\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
				   "\"seq\":1,\"time\":1800000000}";
	const uint8_t secret[] = "bench-secret-0123456789";
	double t0 = now_s(), c0 = thread_cpu_s();
	while (now_s() - t0 < a->secs) {
		size_t sl = sizeof(sig);
		char *jwt = NULL;
		json_t *jwe = NULL;
		struct vt_secret *pt = NULL;
		if (vt_key_generate(VT_KEY_P256, &tee, &e) != VT_OK ||
		    vt_ecdsa_sign_raw(platform, EVP_sha384(), report, sizeof(report), sig, &sl, &e) != VT_OK ||
		    vt_ecdsa_verify_raw(X509_get0_pubkey(pcert), EVP_sha384(), report, sizeof(report), sig, sl, &e) != VT_OK ||
		    vt_jws_sign(token_key, hdr, (const uint8_t *)payload, sizeof(payload), &jwt, &e) != VT_OK ||
		    vt_jws_verify(jwt, token_key, (const char *const[]){"ES256", NULL}, NULL, NULL, NULL, &e) != VT_OK)
			return NULL;
		free(jwt);
		if (vt_jws_sign(token_key, hdr, (const uint8_t *)head, sizeof(head) - 1, &jwt, &e) != VT_OK ||
		    vt_jwe_encrypt(tee, "ECDH-ES+A256KW", secret, sizeof(secret), &jwe, &e) != VT_OK ||
		    vt_jwe_decrypt(tee, jwe, &pt, &e) != VT_OK)
			return NULL;
		free(jwt);
		json_decref(jwe);
		vt_secret_free(pt);
		EVP_PKEY_free(tee);
		a->rounds++;
	}
	a->secs = now_s() - t0;
	a->cpu = thread_cpu_s() - c0;
	a->rc = 0;
	json_decref(hdr);
	EVP_PKEY_free(platform);
	EVP_PKEY_free(token_key);
	X509_free(pcert);
	return NULL;
}

static int cmd_crypto(double secs, int threads)
{
	if (threads < 1 || threads > 64)
		threads = 1;
	pthread_t t[64];
	struct crypto_arg a[64];
	for (int i = 0; i < threads; i++) {
		a[i] = (struct crypto_arg){.secs = secs};
		pthread_create(&t[i], NULL, crypto_main, &a[i]);
	}
	double per_thread = 0, rounds = 0, cpu = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		if (a[i].rc != 0)
			return fprintf(stderr, "crypto: cannot run (sim keys in %s?)\n", simdir), 2;
		per_thread += (double)a[i].rounds / a[i].secs;
		rounds += (double)a[i].rounds;
		cpu += a[i].cpu;
	}
	/* Per CPU-second: what a core does when it is ours; the wall rate
	 * also depends on what else the machine runs. */
	printf("{\"crypto_rounds_per_s_per_core\":%.1f,\"crypto_rounds_per_s_per_thread_wall\":%.1f,\"threads\":%d}\n",
	       cpu > 0 ? rounds / cpu : 0, per_thread / threads, threads);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_cluster load URL SIMDIR RESOURCE SECRET_HEX CONCURRENCY SECONDS [RETRIES]\n"
			"       bench_cluster sessions URL SIMDIR RESOURCE SECRET_HEX N CONCURRENCY\n"
			"       bench_cluster crypto SIMDIR SECONDS [THREADS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc;
	if (strcmp(argv[1], "crypto") == 0 && (argc == 4 || argc == 5)) {
		simdir = argv[2];
		rc = cmd_crypto(atof(argv[3]), argc == 5 ? atoi(argv[4]) : 1);
	} else if ((strcmp(argv[1], "load") == 0 && (argc == 8 || argc == 9)) ||
		   (strcmp(argv[1], "sessions") == 0 && argc == 8)) {
		url = argv[2];
		simdir = argv[3];
		resource = argv[4];
		if (vt_hex_decode(argv[5], &want_secret, &want_size, NULL) != VT_OK)
			return usage();
		if (strcmp(argv[1], "load") == 0)
			rc = cmd_load(atoi(argv[6]), atof(argv[7]), argc == 9 ? atoi(argv[8]) : 0);
		else
			rc = cmd_sessions((size_t)strtoul(argv[6], NULL, 10), atoi(argv[7]));
		free(want_secret);
	} else {
		rc = usage();
	}
	curl_global_cleanup();
	return rc;
}
