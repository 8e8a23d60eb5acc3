/*
 * Unit tests for the fetch gate and the shared GET (src/fetch/) against a
 * loopback HTTP server (a thread per connection, as in test_dcap_fetch.c):
 * the concurrency limit fails fast, the total deadline holds across 429
 * retries, the negative cache answers without the network, the per-client
 * budget, bounded tables, and the gate on the SEV-SNP KDS path
 * (vt_verify_ctx.client; cache hits are free).  The gate's clock is pinned.
 * The transport: none fails closed before the gate; a scripted one shows
 * what the retry loop asks of it and how its answers are mapped; the
 * verifier settings carry it to the SNP state.
 */
#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <jansson.h>

#include "fetch/fetch_internal.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/fetch.h"
#include "veritee/net.h"
#include "veritee/snp.h"
#include "veritee/verifier.h"

/* ------------------------------------------------------------ the server */

static int g_listen = -1;
static int g_port;
static pthread_t g_accept_thread;
static atomic_int g_active;                       /* connections being served */
static atomic_int g_hanging;                      /* connections held without an answer */
static atomic_int g_ok, g_404, g_hang, g_429, g_kds;  /* requests per kind */

/* SEV-SNP vectors for the KDS test (NULL when the shared vectors are absent). */
static uint8_t *g_report, *g_vcek, *g_chain;
static size_t g_report_n, g_vcek_n, g_chain_n;
static char g_chip_hex[129];

#define SNP_AT "2025-12-08T00:00:00Z"
#define CHIP_ID_OFFSET 0x1A0 /* SEV-SNP report: CHIP_ID, 64 bytes */

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

static void respond(int fd, int code, const char *extra, const void *body, size_t n)
{
	char head[512];
	int hl = snprintf(head, sizeof(head), "HTTP/1.0 %d X\r\nContent-Length: %zu\r\n%s\r\n", code, n,
			  extra ? extra : "");
	send_all(fd, head, (size_t)hl);
	if (n)
		send_all(fd, body, n);
}

/* Hold the connection, answering nothing, until the client gives up. */
static void hang(int fd)
{
	char b[256];
	atomic_fetch_add(&g_hanging, 1);
	while (recv(fd, b, sizeof(b), 0) > 0)
		;
	atomic_fetch_sub(&g_hanging, 1);
}

static void serve_kds(int fd, const char *path)
{
	static const char vcek[] = "/vcek/v1/Milan/";
	atomic_fetch_add(&g_kds, 1);
	const char *rest = path + strlen(vcek);
	if (strcmp(rest, "cert_chain") == 0 && g_chain != NULL)
		respond(fd, 200, NULL, g_chain, g_chain_n);
	else if (g_vcek != NULL && strncmp(rest, g_chip_hex, 128) == 0 && rest[128] == '?')
		respond(fd, 200, NULL, g_vcek, g_vcek_n);
	else
		respond(fd, 404, NULL, "", 0); /* the CRL, and every other chip */
}

static void serve_one(int fd)
{
	char req[4096];
	size_t got = 0;
	while (got < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = '\0';
	char path[2048] = "";
	if (sscanf(req, "GET %2047s", path) != 1)
		return;
	if (strncmp(path, "/ok", 3) == 0) {
		atomic_fetch_add(&g_ok, 1);
		respond(fd, 200, NULL, "hello", 5);
	} else if (strncmp(path, "/404", 4) == 0) {
		atomic_fetch_add(&g_404, 1);
		respond(fd, 404, NULL, "", 0);
	} else if (strncmp(path, "/hang", 5) == 0) {
		atomic_fetch_add(&g_hang, 1);
		hang(fd);
	} else if (strncmp(path, "/429", 4) == 0) {
		/* /429?after=N: Retry-After N; /429: none */
		char extra[64] = "";
		const char *a = strstr(path, "after=");
		if (a != NULL)
			snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", strtol(a + 6, NULL, 10));
		atomic_fetch_add(&g_429, 1);
		respond(fd, 429, extra, "", 0);
	} else if (strncmp(path, "/vcek/v1/Milan/", 15) == 0) {
		serve_kds(fd, path);
	} else {
		respond(fd, 404, NULL, "", 0);
	}
}

static void *conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	serve_one(fd);
	close(fd);
	atomic_fetch_sub(&g_active, 1);
	return NULL;
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(g_listen, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_t t;
		atomic_fetch_add(&g_active, 1);
		if (pthread_create(&t, NULL, conn_thread, (void *)(intptr_t)fd) != 0) {
			close(fd);
			atomic_fetch_sub(&g_active, 1);
			continue;
		}
		pthread_detach(t);
	}
}

static uint8_t *vec(const char *name, size_t *n)
{
	const char *dir = vt_test_vectors_dir();
	char path[PATH_MAX];
	uint8_t *p = NULL;
	if (dir == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return vt_file_read(path, 1u << 20, &p, n, NULL) == VT_OK ? p : NULL;
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	g_report = vec("snp/teekit_gcp_milan_v5_report.bin", &g_report_n);
	g_vcek = vec("snp/teekit_gcp_milan_vcek.pem", &g_vcek_n);
	g_chain = vec("snp/teekit_gcp_milan_ask_ark_chain.pem", &g_chain_n);
	if (g_report != NULL && g_report_n >= VT_SNP_REPORT_SIZE) {
		char *h = vt_hex_encode(g_report + CHIP_ID_OFFSET, 64);
		if (h == NULL)
			return -1;
		snprintf(g_chip_hex, sizeof(g_chip_hex), "%s", h);
		free(h);
	}
	g_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (g_listen < 0 || bind(g_listen, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(g_listen, 64) != 0 ||
	    getsockname(g_listen, (struct sockaddr *)&a, &al) != 0)
		return -1;
	g_port = ntohs(a.sin_port);
	return pthread_create(&g_accept_thread, NULL, accept_loop, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_listen >= 0) {
		shutdown(g_listen, SHUT_RDWR);
		close(g_listen);
		pthread_join(g_accept_thread, NULL);
	}
	for (int i = 0; i < 500 && atomic_load(&g_active) > 0; i++)
		usleep(10000);
	free(g_report);
	free(g_vcek);
	free(g_chain);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static int64_t g_clock = 1000000;

static int64_t pinned_clock(void *arg)
{
	(void)arg;
	return g_clock;
}

static struct vt_fetch_gate *gate(unsigned max_concurrent, long timeout_ms, unsigned per_client, int64_t negative_ttl)
{
	struct vt_fetch_gate_settings s;
	struct vt_fetch_gate *g = NULL;
	struct vt_err e = {0};
	vt_fetch_gate_defaults(&s);
	s.max_concurrent = max_concurrent;
	s.timeout_ms = timeout_ms;
	s.per_client_per_minute = per_client;
	s.negative_ttl = negative_ttl;
	s.clock = pinned_clock;
	if (vt_fetch_gate_new(&s, &g, &e) != VT_OK)
		fail_msg("gate: %s", e.detail);
	return g;
}

static void url_of(char *out, size_t n, const char *path)
{
	snprintf(out, n, "http://127.0.0.1:%d%s", g_port, path);
}

/* One GET through `g` for `client`, as its own verification (ticket). */
static vt_status get(struct vt_fetch_gate *g, const char *client, const char *path, struct vt_err *e)
{
	char url[128];
	url_of(url, sizeof(url), path);
	struct vt_fetch_ticket t = {.gate = g, .client = client, .http_get = vt_curl_http_get};
	struct vt_fetch_req req = {.url = url, .what = "test object", .max_body = 1024, .not_found_is_notfound = true};
	struct vt_fetch_resp resp;
	vt_err_clear(e);
	vt_status rc = vt_fetch_get(&t, &req, &resp, e);
	if (rc == VT_OK) {
		assert_int_equal(resp.body_size, 5);
		assert_memory_equal(resp.body, "hello", 5);
		vt_fetch_resp_free(&resp);
	}
	return rc;
}

static void assert_field(const struct vt_err *e, const char *field)
{
	if (strcmp(e->field, field) != 0)
		fail_msg("error field is \"%s\" (%s), want \"%s\"", e->field, e->detail, field);
}

static struct vt_fetch_gate_stats stats(struct vt_fetch_gate *g)
{
	struct vt_fetch_gate_stats s;
	vt_fetch_gate_stats(g, &s);
	return s;
}

/* ------------------------------------------------------------ settings */

static void test_settings(void **state)
{
	(void)state;
	struct vt_fetch_gate_settings s;
	struct vt_fetch_gate *g = NULL;
	struct vt_err e;
	vt_fetch_gate_defaults(&s);
	assert_int_equal(s.max_concurrent, 4);
	assert_int_equal(s.timeout_ms, 5000);
	assert_int_equal(s.per_client_per_minute, 10);
	assert_int_equal(s.negative_ttl, 300);

	s.max_concurrent = 0;
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_gate_new(&s, &g, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	assert_field(&e, "max_concurrent");
	assert_null(g);
	vt_fetch_gate_defaults(&s);
	s.timeout_ms = 0;
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_gate_new(&s, &g, &e), VT_E_USAGE);
	assert_field(&e, "timeout_ms");
	vt_fetch_gate_defaults(&s);
	s.negative_ttl = -1;
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_gate_new(&s, &g, &e), VT_E_USAGE);
	assert_field(&e, "negative_ttl");

	vt_fetch_gate_defaults(&s);
	assert_int_equal(vt_fetch_gate_new(&s, &g, NULL), VT_OK);
	vt_fetch_gate_free(g);
	vt_fetch_gate_free(NULL);
}

/* ------------------------------------------------------------ concurrency */

struct hang_arg {
	struct vt_fetch_gate *g;
	vt_status rc;
	struct vt_err e;
};

static void *hang_fetch(void *p)
{
	struct hang_arg *a = p;
	char url[128];
	url_of(url, sizeof(url), "/hang");
	struct vt_fetch_ticket t = {.gate = a->g, .http_get = vt_curl_http_get};
	struct vt_fetch_req req = {.url = url, .what = "slow object", .max_body = 1024};
	struct vt_fetch_resp resp;
	a->rc = vt_fetch_get(&t, &req, &resp, &a->e);
	if (a->rc == VT_OK)
		vt_fetch_resp_free(&resp);
	return NULL;
}

static void test_concurrency_fails_fast(void **state)
{
	(void)state;
	enum { N = 3 };
	struct vt_fetch_gate *g = gate(N, 1500, 0, 0);
	struct hang_arg args[N];
	pthread_t th[N];
	memset(args, 0, sizeof(args));
	int hanging0 = atomic_load(&g_hanging);
	for (int i = 0; i < N; i++) {
		args[i].g = g;
		assert_int_equal(pthread_create(&th[i], NULL, hang_fetch, &args[i]), 0);
	}
	for (int i = 0; i < 200 && atomic_load(&g_hanging) - hanging0 < N; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&g_hanging) - hanging0, N);
	assert_int_equal(stats(g).in_flight, N);

	/* Every slot is taken: refused at once, the server never asked. */
	int ok0 = atomic_load(&g_ok);
	struct vt_err e;
	int64_t t0 = vt_mono_ms();
	assert_int_equal(get(g, NULL, "/ok", &e), VT_E_LIMIT);
	assert_true(vt_mono_ms() - t0 < 250);
	assert_err(&e, VT_E_LIMIT, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_BUSY);
	assert_non_null(strstr(e.detail, "busy"));
	assert_int_equal(atomic_load(&g_ok), ok0);
	assert_int_equal(stats(g).refused_busy, 1);

	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, VT_E_IO);
		assert_err(&args[i].e, VT_E_IO, VT_STEP_COLLATERAL);
		assert_field(&args[i].e, VT_FETCH_FIELD_TIMEOUT);
	}
	/* The slots are back. */
	assert_int_equal(stats(g).in_flight, 0);
	assert_int_equal(get(g, NULL, "/ok", &e), VT_OK);
	assert_int_equal(atomic_load(&g_ok), ok0 + 1);
	vt_fetch_gate_free(g);
}

/* ------------------------------------------------------------ deadline */

static void test_deadline(void **state)
{
	(void)state;
	struct vt_fetch_gate *g = gate(4, 700, 0, 0);
	struct vt_err e;

	/* A server that never answers: back within the timeout plus a little. */
	int64_t t0 = vt_mono_ms();
	assert_int_equal(get(g, NULL, "/hang", &e), VT_E_IO);
	int64_t took = vt_mono_ms() - t0;
	assert_true(took >= 650);
	assert_true(took <= 700 + 400);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_TIMEOUT);
	assert_non_null(strstr(e.detail, "/hang"));
	vt_fetch_gate_free(g);

	/* 429 with Retry-After 1 for ever: the retries and waits stop at the deadline. */
	g = gate(4, 2500, 0, 0);
	int n0 = atomic_load(&g_429);
	t0 = vt_mono_ms();
	assert_int_equal(get(g, NULL, "/429?after=1", &e), VT_E_IO);
	took = vt_mono_ms() - t0;
	assert_true(took <= 2500);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_field(&e, "test object");
	assert_non_null(strstr(e.detail, "429"));
	assert_int_equal(atomic_load(&g_429) - n0, 3); /* at 0, ~1 and ~2 s; a third wait would pass 2.5 s */

	/* A Retry-After beyond the deadline is not waited for at all. */
	n0 = atomic_load(&g_429);
	t0 = vt_mono_ms();
	assert_int_equal(get(g, NULL, "/429?after=30", &e), VT_E_IO);
	assert_true(vt_mono_ms() - t0 < 1000);
	assert_int_equal(atomic_load(&g_429) - n0, 1);
	assert_non_null(strstr(e.detail, "deadline"));
	vt_fetch_gate_free(g);

	/* Without a gate the default deadline applies (here: nothing to wait for). */
	assert_int_equal(vt_fetch_gate_timeout_ms(NULL), VT_FETCH_TIMEOUT_DEFAULT_MS);
	assert_int_equal(get(NULL, NULL, "/ok", &e), VT_OK);
}

/* ------------------------------------------------------------ negative cache */

static void test_negative_cache(void **state)
{
	(void)state;
	g_clock = 1000000;
	struct vt_fetch_gate *g = gate(4, 2000, 0, 300);
	struct vt_err e;
	int n0 = atomic_load(&g_404);

	assert_int_equal(get(g, NULL, "/404/a", &e), VT_E_NOTFOUND);
	assert_err(&e, VT_E_NOTFOUND, VT_STEP_COLLATERAL);
	assert_field(&e, "test object");
	assert_int_equal(atomic_load(&g_404), n0 + 1);

	/* Refused without the network, with the remembered code. */
	assert_int_equal(get(g, NULL, "/404/a", &e), VT_E_NOTFOUND);
	assert_err(&e, VT_E_NOTFOUND, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);
	assert_non_null(strstr(e.detail, "HTTP 404"));
	assert_non_null(strstr(e.detail, "300 s"));
	assert_int_equal(atomic_load(&g_404), n0 + 1);
	assert_int_equal(stats(g).refused_negative, 1);

	/* Keyed by URL. */
	assert_int_equal(get(g, NULL, "/404/b", &e), VT_E_NOTFOUND);
	assert_field(&e, "test object");
	assert_int_equal(atomic_load(&g_404), n0 + 2);

	/* Still refused at ttl - 1, asked again at ttl. */
	g_clock += 299;
	assert_int_equal(get(g, NULL, "/404/a", &e), VT_E_NOTFOUND);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);
	assert_int_equal(atomic_load(&g_404), n0 + 2);
	g_clock += 1;
	assert_int_equal(get(g, NULL, "/404/a", &e), VT_E_NOTFOUND);
	assert_field(&e, "test object");
	assert_int_equal(atomic_load(&g_404), n0 + 3);

	/* A network error is remembered too (VT_E_IO). */
	struct vt_fetch_ticket t = {.gate = g, .http_get = vt_curl_http_get};
	struct vt_fetch_req dead = {.url = "http://127.0.0.1:1/x", .what = "dead", .max_body = 16};
	struct vt_fetch_resp resp;
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_get(&t, &dead, &resp, &e), VT_E_IO);
	assert_field(&e, "dead");
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_get(&t, &dead, &resp, &e), VT_E_IO);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);

	/* So is a body the fetcher could not use (noted by the caller). */
	char url[128];
	url_of(url, sizeof(url), "/ok/unusable");
	struct vt_err bad = {0};
	vt_fail(&bad, VT_E_IO, VT_STEP_COLLATERAL, "kds", "GET %s: unusable response", url);
	vt_fetch_gate_note_failure(g, url, &bad);
	int ok0 = atomic_load(&g_ok);
	assert_int_equal(get(g, NULL, "/ok/unusable", &e), VT_E_IO);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);
	assert_non_null(strstr(e.detail, "unusable"));
	assert_int_equal(atomic_load(&g_ok), ok0);
	assert_int_equal(get(g, NULL, "/ok/other", &e), VT_OK);
	vt_fetch_gate_free(g);

	/* negative_ttl 0: failures are not remembered. */
	g = gate(4, 2000, 0, 0);
	n0 = atomic_load(&g_404);
	assert_int_equal(get(g, NULL, "/404/c", &e), VT_E_NOTFOUND);
	assert_int_equal(get(g, NULL, "/404/c", &e), VT_E_NOTFOUND);
	assert_field(&e, "test object");
	assert_int_equal(atomic_load(&g_404), n0 + 2);
	assert_int_equal(stats(g).failures, 2);
	vt_fetch_gate_free(g);
}

/* A full table evicts the oldest entry. */
static void test_negative_table_bounded(void **state)
{
	(void)state;
	g_clock = 2000000;
	struct vt_fetch_gate *g = gate(4, 2000, 0, 300);
	struct vt_err bad = {0};
	char url[64];
	vt_fail(&bad, VT_E_IO, VT_STEP_COLLATERAL, "x", "failed");
	vt_fetch_gate_note_failure(g, "http://example.invalid/first", &bad);
	g_clock++;
	for (unsigned i = 0; i < VT_FETCH_GATE_NEGATIVE; i++) {
		snprintf(url, sizeof(url), "http://example.invalid/%u", i);
		vt_fetch_gate_note_failure(g, url, &bad);
	}
	struct vt_fetch_ticket t = {.gate = g};
	struct vt_err e = {0};
	/* the first is gone (admitted: a slot is taken), the last is remembered */
	assert_int_equal(vt_fetch_gate_admit(&t, "http://example.invalid/first", "x", &e), VT_OK);
	vt_fetch_gate_release(&t);
	snprintf(url, sizeof(url), "http://example.invalid/%u", VT_FETCH_GATE_NEGATIVE - 1);
	assert_int_equal(vt_fetch_gate_admit(&t, url, "x", &e), VT_E_IO);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);
	assert_int_equal(stats(g).in_flight, 0);
	vt_fetch_gate_free(g);
}

/* ------------------------------------------------------------ per client */

static void test_per_client(void **state)
{
	(void)state;
	g_clock = 3000000;
	struct vt_fetch_gate *g = gate(4, 2000, 3, 0);
	struct vt_err e;
	int ok0 = atomic_load(&g_ok);
	for (int i = 0; i < 3; i++)
		assert_int_equal(get(g, "198.51.100.1", "/ok", &e), VT_OK);

	/* The fourth fetching verification in the minute is refused, unsent. */
	assert_int_equal(get(g, "198.51.100.1", "/ok", &e), VT_E_LIMIT);
	assert_err(&e, VT_E_LIMIT, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_CLIENT);
	assert_non_null(strstr(e.detail, "198.51.100.1"));
	assert_non_null(strstr(e.detail, "retry in 20 s")); /* 3 a minute: one every 20 s */
	assert_int_equal(atomic_load(&g_ok), ok0 + 3);
	assert_int_equal(stats(g).refused_client, 1);

	/* Another client, and no client at all, are not affected. */
	assert_int_equal(get(g, "198.51.100.2", "/ok", &e), VT_OK);
	assert_int_equal(get(g, NULL, "/ok", &e), VT_OK);

	/* The bucket refills: one more after 20 s. */
	g_clock += 20;
	assert_int_equal(get(g, "198.51.100.1", "/ok", &e), VT_OK);
	assert_int_equal(get(g, "198.51.100.1", "/ok", &e), VT_E_LIMIT);
	assert_field(&e, VT_FETCH_FIELD_CLIENT);

	/* A verification is charged once however many objects it fetches. */
	char url[128];
	url_of(url, sizeof(url), "/ok");
	struct vt_fetch_ticket t = {.gate = g, .client = "198.51.100.3", .http_get = vt_curl_http_get};
	struct vt_fetch_req req = {.url = url, .what = "test object", .max_body = 1024};
	struct vt_fetch_resp resp;
	for (int i = 0; i < 5; i++) {
		vt_err_clear(&e);
		assert_int_equal(vt_fetch_get(&t, &req, &resp, &e), VT_OK);
		vt_fetch_resp_free(&resp);
	}
	assert_int_equal(get(g, "198.51.100.3", "/ok", &e), VT_OK);
	assert_int_equal(get(g, "198.51.100.3", "/ok", &e), VT_OK);
	assert_int_equal(get(g, "198.51.100.3", "/ok", &e), VT_E_LIMIT);
	assert_field(&e, VT_FETCH_FIELD_CLIENT);

	vt_fetch_gate_free(g);

	/* A refusal for being busy costs the client nothing. */
	g = gate(1, 2000, 1, 0);
	struct vt_fetch_ticket hold = {.gate = g};
	assert_int_equal(vt_fetch_gate_admit(&hold, "http://example.invalid/", "x", NULL), VT_OK);
	assert_int_equal(get(g, "198.51.100.4", "/ok", &e), VT_E_LIMIT);
	assert_field(&e, VT_FETCH_FIELD_BUSY);
	vt_fetch_gate_release(&hold);
	assert_int_equal(get(g, "198.51.100.4", "/ok", &e), VT_OK);
	assert_int_equal(get(g, "198.51.100.4", "/ok", &e), VT_E_LIMIT);
	assert_field(&e, VT_FETCH_FIELD_CLIENT);
	vt_fetch_gate_free(g);
}

/* A full client table evicts the least recently seen client. */
static void test_client_table_bounded(void **state)
{
	(void)state;
	g_clock = 4000000;
	struct vt_fetch_gate *g = gate(4, 2000, 1, 0);
	struct vt_err e = {0};
	struct vt_fetch_ticket t = {.gate = g, .client = "first"};
	assert_int_equal(vt_fetch_gate_admit(&t, "http://example.invalid/", "x", &e), VT_OK);
	vt_fetch_gate_release(&t);
	t = (struct vt_fetch_ticket){.gate = g, .client = "first"};
	assert_int_equal(vt_fetch_gate_admit(&t, "http://example.invalid/", "x", &e), VT_E_LIMIT);
	assert_field(&e, VT_FETCH_FIELD_CLIENT);
	char name[32];
	for (unsigned i = 0; i < VT_FETCH_GATE_CLIENTS; i++) {
		g_clock++; /* a strict order of "least recently seen" */
		snprintf(name, sizeof(name), "client-%u", i);
		t = (struct vt_fetch_ticket){.gate = g, .client = name};
		assert_int_equal(vt_fetch_gate_admit(&t, "http://example.invalid/", "x", NULL), VT_OK);
		vt_fetch_gate_release(&t);
	}
	/* "first" was evicted (a fresh bucket; its return evicts client-0); the
	 * newest is still tracked. */
	t = (struct vt_fetch_ticket){.gate = g, .client = "first"};
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_gate_admit(&t, "http://example.invalid/", "x", &e), VT_OK);
	vt_fetch_gate_release(&t);
	snprintf(name, sizeof(name), "client-%u", VT_FETCH_GATE_CLIENTS - 1);
	t = (struct vt_fetch_ticket){.gate = g, .client = name};
	assert_int_equal(vt_fetch_gate_admit(&t, "http://example.invalid/", "x", &e), VT_E_LIMIT);
	vt_fetch_gate_free(g);
}

/* ------------------------------------------------------------ transport */

/* No transport: refused before the gate, nothing charged or remembered. */
static void test_no_transport(void **state)
{
	(void)state;
	g_clock = 6000000;
	struct vt_fetch_gate *g = gate(4, 2000, 1, 300);
	char url[128];
	url_of(url, sizeof(url), "/ok");
	int ok0 = atomic_load(&g_ok);
	struct vt_fetch_ticket t = {.gate = g, .client = "203.0.113.7"};
	struct vt_fetch_req req = {.url = url, .what = "test object", .max_body = 1024};
	struct vt_fetch_resp resp;
	struct vt_err e;
	for (int i = 0; i < 2; i++) {
		vt_err_clear(&e);
		assert_int_equal(vt_fetch_get(&t, &req, &resp, &e), VT_E_USAGE);
		assert_err(&e, VT_E_USAGE, VT_STEP_COLLATERAL);
		assert_field(&e, VT_FETCH_FIELD_TRANSPORT);
		assert_non_null(strstr(e.detail, "no HTTP client in this program"));
		assert_null(resp.body);
	}
	vt_err_clear(&e);
	assert_int_equal(vt_fetch_get(NULL, &req, &resp, &e), VT_E_USAGE);
	assert_field(&e, VT_FETCH_FIELD_TRANSPORT);
	assert_int_equal(atomic_load(&g_ok), ok0);
	struct vt_fetch_gate_stats st = stats(g);
	assert_int_equal(st.fetches, 0);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.in_flight, 0);
	/* The client's one fetch of the minute is still there, the URL not remembered. */
	assert_int_equal(get(g, "203.0.113.7", "/ok", &e), VT_OK);
	assert_int_equal(atomic_load(&g_ok), ok0 + 1);
	vt_fetch_gate_free(g);
}

/* A scripted transport: each call takes the next answer and records what it was asked. */
struct fake_answer {
	vt_status rc;
	const char *field;     /* of the failure */
	long status;
	const char *body;
	const char *values[VT_HTTP_CAPTURE_MAX];
};
static const struct fake_answer *g_fake;
static int g_fake_calls;
static struct vt_http_get_req g_fake_seen;

static vt_status fake_get(const struct vt_http_get_req *req, struct vt_http_get_resp *resp, struct vt_err *err)
{
	const struct fake_answer *a = &g_fake[g_fake_calls++];
	g_fake_seen = *req;
	assert_int_equal(resp->status, 0);
	assert_int_equal(resp->body.len, 0);
	assert_int_equal(resp->body.max, req->max_body);
	for (int i = 0; i < VT_HTTP_CAPTURE_MAX; i++) {
		assert_null(resp->values[i]);
		if (a->values[i] != NULL)
			resp->values[i] = strdup(a->values[i]);
	}
	if (a->body != NULL && vt_buf_append(&resp->body, a->body, strlen(a->body), NULL) != VT_OK)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "", "response larger than %zu bytes", req->max_body);
	if (a->rc != VT_OK)
		return vt_fail(err, a->rc, VT_STEP_NONE, a->field ? a->field : "", "scripted failure %d", g_fake_calls);
	resp->status = a->status;
	return VT_OK;
}

static vt_status fake_fetch(struct vt_fetch_gate *g, const struct fake_answer *script, const char *path,
			    struct vt_fetch_resp *resp, struct vt_err *e)
{
	static char url[128];
	url_of(url, sizeof(url), path);
	g_fake = script;
	g_fake_calls = 0;
	struct vt_fetch_ticket t = {.gate = g, .http_get = fake_get};
	struct vt_fetch_req req = {.url = url,
				   .what = "scripted",
				   .max_body = 64,
				   .attempt_timeout_ms = 700,
				   .headers = {"X-Chain", "X-Chain-Alt"}};
	vt_err_clear(e);
	return vt_fetch_get(&t, &req, resp, e);
}

static void test_transport_contract(void **state)
{
	(void)state;
	g_clock = 7000000;
	struct vt_fetch_gate *g = gate(4, 3000, 0, 300);
	struct vt_fetch_resp resp;
	struct vt_err e;

	/* 429 with Retry-After 0, then 200: two calls, the captured headers come back. */
	static const struct fake_answer retry[] = {
		{.status = 429, .values = {NULL, NULL, "0"}},
		{.status = 200, .body = "collateral", .values = {"chain-pem", NULL, NULL}},
	};
	assert_int_equal(fake_fetch(g, retry, "/fake/retry", &resp, &e), VT_OK);
	assert_int_equal(g_fake_calls, 2);
	assert_string_equal(g_fake_seen.capture[0], "X-Chain");
	assert_string_equal(g_fake_seen.capture[1], "X-Chain-Alt");
	assert_string_equal(g_fake_seen.capture[2], "Retry-After");
	assert_int_equal(g_fake_seen.max_body, 64);
	assert_true(g_fake_seen.timeout_ms >= 1 && g_fake_seen.timeout_ms <= 700);
	assert_int_equal(resp.body_size, 10);
	assert_string_equal((const char *)resp.body, "collateral");
	assert_string_equal(resp.headers[0], "chain-pem");
	assert_null(resp.headers[1]);
	vt_fetch_resp_free(&resp);

	/* A transport timeout is the fetch.timeout failure, and remembered. */
	static const struct fake_answer slow[] = {{.rc = VT_E_IO, .field = VT_FETCH_FIELD_TIMEOUT}};
	assert_int_equal(fake_fetch(g, slow, "/fake/slow", &resp, &e), VT_E_IO);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_TIMEOUT);
	assert_non_null(strstr(e.detail, "the per-request timeout"));
	assert_int_equal(fake_fetch(g, slow, "/fake/slow", &resp, &e), VT_E_IO);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);
	assert_int_equal(g_fake_calls, 0);

	/* Any other transport failure: VT_E_IO naming the object, the transport's words after the URL. */
	static const struct fake_answer down[] = {{.rc = VT_E_IO, .field = "somewhere"}};
	assert_int_equal(fake_fetch(g, down, "/fake/down", &resp, &e), VT_E_IO);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_field(&e, "scripted");
	assert_non_null(strstr(e.detail, "/fake/down: scripted failure 1"));
	static const struct fake_answer odd[] = {{.rc = VT_E_CRYPTO}};
	assert_int_equal(fake_fetch(g, odd, "/fake/odd", &resp, &e), VT_E_IO);

	/* Over the body cap: VT_E_LIMIT. */
	static const struct fake_answer big[] = {
		{.status = 200, .body = "0123456789012345678901234567890123456789012345678901234567890123456789"}};
	assert_int_equal(fake_fetch(g, big, "/fake/big", &resp, &e), VT_E_LIMIT);
	assert_err(&e, VT_E_LIMIT, VT_STEP_COLLATERAL);
	assert_field(&e, "scripted");

	/* Statuses: 404 -> VT_E_IO here (not asked for NOTFOUND), 200 with nothing -> VT_E_IO. */
	static const struct fake_answer nf[] = {{.status = 404}};
	assert_int_equal(fake_fetch(g, nf, "/fake/nf", &resp, &e), VT_E_IO);
	assert_non_null(strstr(e.detail, "HTTP 404"));
	static const struct fake_answer empty[] = {{.status = 200}};
	assert_int_equal(fake_fetch(g, empty, "/fake/empty", &resp, &e), VT_E_IO);
	assert_non_null(strstr(e.detail, "empty response"));
	assert_int_equal(stats(g).in_flight, 0);
	vt_fetch_gate_free(g);
}

/* ------------------------------------------------------------ SEV-SNP via KDS */

static vt_status snp_verify(const uint8_t *report, size_t n, struct vt_snp_sources *src, const char *client,
			    struct vt_err *e)
{
	json_t *ev = NULL, *claims = NULL;
	int64_t now = 0;
	vt_err_clear(e);
	assert_int_equal(vt_time_parse_rfc3339(SNP_AT, &now, NULL), VT_OK);
	assert_int_equal(vt_tee_snp.load_file(report, n, &ev, e), VT_OK);
	struct vt_verify_ctx ctx = {.now = now, .snp = src, .client = client};
	vt_status rc = vt_tee_snp.verify(&ctx, ev, NULL, &claims, e);
	json_decref(ev);
	json_decref(claims);
	return rc;
}

static void test_snp_kds_gate(void **state)
{
	(void)state;
	if (g_report == NULL || g_vcek == NULL || g_chain == NULL) {
		print_message("# shared vectors not found: skipped\n");
		skip();
	}
	g_clock = 5000000;
	/* the ctx has no verifier: nothing is cached in memory, every call reads the cache directory */
	char kds[64];
	url_of(kds, sizeof(kds), "");
	char *cache = vt_test_tmpdir();
	assert_non_null(cache);
	struct vt_fetch_gate *g = gate(4, 3000, 1, 300);
	struct vt_snp_sources src = {.kds_url = kds, .cache_dir = cache, .gate = g, .http_get = vt_curl_http_get};
	struct vt_err e;
	int k0 = atomic_load(&g_kds);

	/* VCEK, chain and CRL (404: none) from KDS; one charge for the client. */
	if (snp_verify(g_report, g_report_n, &src, "192.0.2.1", &e) != VT_OK)
		fail_msg("verify: %s: %s", e.field, e.detail);
	assert_int_equal(atomic_load(&g_kds) - k0, 3);
	assert_int_equal(stats(g).fetches, 3);

	/* Again: certificates from the cache, the CRL's 404 remembered: no
	 * network, no slot, no budget (the client's one is spent). */
	if (snp_verify(g_report, g_report_n, &src, "192.0.2.1", &e) != VT_OK)
		fail_msg("verify from the cache: %s: %s", e.field, e.detail);
	assert_int_equal(atomic_load(&g_kds) - k0, 3);
	assert_int_equal(stats(g).fetches, 3);
	assert_int_equal(stats(g).refused_client, 0);

	/* A bogus report with another chip id needs a VCEK: over this client's budget. */
	uint8_t *bogus = malloc(g_report_n);
	assert_non_null(bogus);
	memcpy(bogus, g_report, g_report_n);
	bogus[CHIP_ID_OFFSET] ^= 0xff;
	assert_int_equal(snp_verify(bogus, g_report_n, &src, "192.0.2.1", &e), VT_E_LIMIT);
	assert_err(&e, VT_E_LIMIT, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_CLIENT);
	assert_int_equal(atomic_load(&g_kds) - k0, 3);

	/* Another client gets KDS's answer (404) ... */
	assert_int_equal(snp_verify(bogus, g_report_n, &src, "192.0.2.2", &e), VT_E_NOTFOUND);
	assert_err(&e, VT_E_NOTFOUND, VT_STEP_COLLATERAL);
	assert_field(&e, "kds");
	assert_int_equal(atomic_load(&g_kds) - k0, 4);
	/* ... which a third one gets from the negative cache. */
	assert_int_equal(snp_verify(bogus, g_report_n, &src, "192.0.2.3", &e), VT_E_NOTFOUND);
	assert_err(&e, VT_E_NOTFOUND, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_NEGATIVE);
	assert_int_equal(atomic_load(&g_kds) - k0, 4);

	free(bogus);
	vt_fetch_gate_free(g);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache);
	assert_int_equal(system(cmd), 0);
	free(cache);
}

/* The verifier settings carry the transport to the SNP state: without one
 * KDS is not contacted and verification fails closed. */
static vt_status verifier_verify(vt_http_get_fn http_get, const char *kds, const char *client, struct vt_err *e)
{
	json_t *tees = json_pack("{s:{s:s}}", "snp", "kds_url", kds);
	assert_non_null(tees);
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED, .http_get = http_get};
	struct vt_verifier *v = NULL;
	vt_err_clear(e);
	if (vt_verifier_new(&vs, &v, e) != VT_OK)
		fail_msg("verifier: %s: %s", e->field, e->detail);
	assert_true(vt_verifier_http_get(v) == http_get);
	json_t *ev = NULL, *claims = NULL;
	int64_t now = 0;
	assert_int_equal(vt_time_parse_rfc3339(SNP_AT, &now, NULL), VT_OK);
	assert_int_equal(vt_tee_snp.load_file(g_report, g_report_n, &ev, e), VT_OK);
	vt_status rc = vt_verifier_verify(v, &vt_tee_snp, ev, NULL, now, client, &claims, e);
	json_decref(ev);
	json_decref(claims);
	vt_verifier_free(v);
	json_decref(tees);
	return rc;
}

static void test_snp_verifier_transport(void **state)
{
	(void)state;
	if (g_report == NULL || g_vcek == NULL || g_chain == NULL) {
		print_message("# shared vectors not found: skipped\n");
		skip();
	}
	char kds[64]; /* each call builds its own verifier: no cache shared with another test */
	url_of(kds, sizeof(kds), "");
	struct vt_err e;
	int k0 = atomic_load(&g_kds);
	assert_int_equal(verifier_verify(NULL, kds, "192.0.2.9", &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_COLLATERAL);
	assert_field(&e, VT_FETCH_FIELD_TRANSPORT);
	assert_int_equal(atomic_load(&g_kds), k0);
	if (verifier_verify(vt_curl_http_get, kds, "192.0.2.9", &e) != VT_OK)
		fail_msg("verify with the curl transport: %s: %s", e.field, e.detail);
	/* the VCEK and the CRL; the ARK/ASK chain is built in (snp/builtin.c), never fetched */
	assert_int_equal(atomic_load(&g_kds) - k0, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_concurrency_fails_fast),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_negative_cache),
		cmocka_unit_test(test_negative_table_bounded),
		cmocka_unit_test(test_per_client),
		cmocka_unit_test(test_client_table_bounded),
		cmocka_unit_test(test_snp_kds_gate),
		cmocka_unit_test(test_no_transport),
		cmocka_unit_test(test_transport_contract),
		cmocka_unit_test(test_snp_verifier_transport),
	};
	return cmocka_run_group_tests_name("fetch_gate", tests, group_setup, group_teardown);
}
