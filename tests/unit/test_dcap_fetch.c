/*
 * Unit tests for the PCS/PCCS collateral fetcher (src/evidence/dcap/fetch.c)
 * against a fake PCCS on 127.0.0.1 (a thread serving HTTP/1.0 from the
 * shared vectors): PCS v4 paths, URL-encoded issuer-chain headers, one 429,
 * the cache and nextUpdate, offline mode and the grace.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "evidence/dcap/fetch.h"
#include "veritee/dcap.h"
#include "veritee/fetch.h"
#include "veritee/net.h"

struct blob {
	uint8_t *p;
	size_t n;
};

static struct blob g_tcb, g_qe, g_pckcrl, g_rootcrl, g_chain;
static char *g_chain_enc;
static char *g_tmp;
static int g_listen = -1;
static int g_port;
static pthread_t g_thread;
static atomic_int g_requests, g_tcb_requests, g_429_left;
static atomic_bool g_always_429, g_tcb_404, g_no_chain, g_hex_crl;
static bool g_have_vectors;

static bool load(const char *rel, struct blob *b)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", vt_test_vectors_dir(), rel);
	return vt_file_read(path, 1 << 20, &b->p, &b->n, NULL) == VT_OK;
}

static char *url_encode(const uint8_t *p, size_t n)
{
	char *o = malloc(3 * n + 1), *w = o;
	assert_non_null(o);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			*w++ = (char)c;
		else
			w += sprintf(w, "%%%02X", c);
	}
	*w = '\0';
	return o;
}

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

static void respond(int fd, int code, const char *extra_headers, const void *body, size_t n)
{
	char head[16384];
	int hl = snprintf(head, sizeof(head), "HTTP/1.0 %d X\r\nContent-Length: %zu\r\n%s\r\n", code, n,
			  extra_headers ? extra_headers : "");
	send_all(fd, head, (size_t)hl);
	if (n)
		send_all(fd, body, n);
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
	sscanf(req, "GET %2047s", path);
	atomic_fetch_add(&g_requests, 1);
	char hdr[8192];
	const char *chain_name = NULL;
	const struct blob *b = NULL;
	if (strcmp(path, "/sgx/certification/v4/pckcrl?ca=platform&encoding=der") == 0) {
		chain_name = "SGX-PCK-CRL-Issuer-Chain";
		b = &g_pckcrl;
	} else if (strcmp(path, "/sgx/certification/v4/rootcacrl") == 0) {
		b = &g_rootcrl;
	} else if (strcmp(path, "/tdx/certification/v4/tcb?fmspc=00A06D080000") == 0) {
		atomic_fetch_add(&g_tcb_requests, 1);
		if (atomic_load(&g_always_429)) {
			respond(fd, 429, "Retry-After: 0\r\n", "", 0);
			return;
		}
		if (atomic_load(&g_429_left) > 0) {
			atomic_fetch_sub(&g_429_left, 1);
			respond(fd, 429, "Retry-After: 1\r\n", "", 0);
			return;
		}
		if (atomic_load(&g_tcb_404)) {
			respond(fd, 404, NULL, "", 0);
			return;
		}
		chain_name = "TCB-Info-Issuer-Chain";
		b = &g_tcb;
	} else if (strcmp(path, "/tdx/certification/v4/qe/identity") == 0) {
		chain_name = "SGX-Enclave-Identity-Issuer-Chain";
		b = &g_qe;
	} else {
		respond(fd, 404, NULL, "", 0);
		return;
	}
	hdr[0] = '\0';
	if (chain_name && !atomic_load(&g_no_chain))
		snprintf(hdr, sizeof(hdr), "%s: %s\r\n", chain_name, g_chain_enc);
	if ((b == &g_pckcrl || b == &g_rootcrl) && atomic_load(&g_hex_crl)) {
		char *h = vt_hex_encode(b->p, b->n);
		respond(fd, 200, hdr, h, strlen(h));
		free(h);
		return;
	}
	respond(fd, 200, hdr, b->p, b->n);
}

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(g_listen, NULL, NULL);
		if (fd < 0)
			return NULL;
		serve_one(fd);
		close(fd);
	}
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	g_have_vectors = vt_test_vectors_dir() != NULL &&
			 load("tdx/trustee_tcbinfo_tdx_00a06d080000_2025-10-27.json", &g_tcb) &&
			 load("tdx/trustee_qeidentity_td_qe_2025-10-28.json", &g_qe) &&
			 load("roots/intel/intel_pck_platform_ca_crl_2025-10-13.der", &g_pckcrl) &&
			 load("roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der", &g_rootcrl) &&
			 load("roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem", &g_chain);
	if (!g_have_vectors)
		return 0;
	g_chain_enc = url_encode(g_chain.p, g_chain.n);
	g_tmp = vt_test_tmpdir();
	g_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (g_listen < 0 || bind(g_listen, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(g_listen, 16) != 0 ||
	    getsockname(g_listen, (struct sockaddr *)&a, &al) != 0)
		return -1;
	g_port = ntohs(a.sin_port);
	return pthread_create(&g_thread, NULL, server, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_listen >= 0) {
		shutdown(g_listen, SHUT_RDWR);
		close(g_listen);
		pthread_join(g_thread, NULL);
	}
	if (g_tmp) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
		(void)!system(cmd);
	}
	free(g_tmp);
	free(g_chain_enc);
	struct blob *all[] = {&g_tcb, &g_qe, &g_pckcrl, &g_rootcrl, &g_chain};
	for (size_t i = 0; i < 5; i++)
		free(all[i]->p);
	return 0;
}

#define NEED_VECTORS()                                                                   \
	do {                                                                             \
		if (!g_have_vectors) {                                                   \
			print_message("# shared vectors not found: skipped\n");          \
			skip();                                                          \
		}                                                                        \
	} while (0)

static const uint8_t FMSPC[6] = {0x00, 0xa0, 0x6d, 0x08, 0x00, 0x00};

static int64_t at(const char *s)
{
	int64_t t = 0;
	assert_int_equal(vt_time_parse_rfc3339(s, &t, NULL), VT_OK);
	return t;
}

static void url_of(char *out, size_t n)
{
	snprintf(out, n, "http://127.0.0.1:%d/", g_port);
}

static void expect_complete(const struct vt_dcap_collateral *c)
{
	assert_non_null(c->tcb_info);
	assert_true(strncmp(c->tcb_info, "{\"id\":\"TDX\"", 11) == 0);
	/* exact bytes: the value is a substring of the body */
	assert_non_null(memmem(g_tcb.p, g_tcb.n, c->tcb_info, strlen(c->tcb_info)));
	assert_non_null(memmem(g_qe.p, g_qe.n, c->qe_identity, strlen(c->qe_identity)));
	assert_int_equal(c->pck_crl_size, g_pckcrl.n);
	assert_memory_equal(c->pck_crl, g_pckcrl.p, g_pckcrl.n);
	assert_int_equal(c->root_ca_crl_size, g_rootcrl.n);
	assert_memory_equal(c->root_ca_crl, g_rootcrl.p, g_rootcrl.n);
	assert_int_equal(strlen(c->tcb_info_issuer_chain), g_chain.n);
	assert_memory_equal(c->tcb_info_issuer_chain, g_chain.p, g_chain.n);
	assert_string_equal(c->qe_identity_issuer_chain, c->tcb_info_issuer_chain);
	assert_string_equal(c->pck_crl_issuer_chain, c->tcb_info_issuer_chain);
	/* the signature: the last 128 hex characters before the closing brace */
	const char *sig = strstr((const char *)g_tcb.p, "\"signature\":\"");
	assert_non_null(sig);
	uint8_t want[64];
	char hex[129];
	memcpy(hex, sig + 13, 128);
	hex[128] = '\0';
	assert_int_equal(vt_hex_decode_fixed(hex, want, 64, NULL), VT_OK);
	assert_memory_equal(c->tcb_info_signature, want, 64);
}

static void test_fetch_cache_offline(void **state)
{
	(void)state;
	NEED_VECTORS();
	char url[64], cache[PATH_MAX];
	url_of(url, sizeof(url));
	snprintf(cache, sizeof(cache), "%s/cache1", g_tmp);
	struct vt_dcap_sources src = {.pccs_url = url, .cache_dir = cache, .http_get = vt_curl_http_get};
	struct vt_dcap_collateral c;
	struct vt_err e;
	int64_t now = at("2025-11-01T00:00:00Z");

	atomic_store(&g_429_left, 1);
	atomic_store(&g_requests, 0);
	atomic_store(&g_tcb_requests, 0);
	vt_err_clear(&e);
	if (vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, &e) != VT_OK)
		fail_msg("fetch: %s: %s", e.field, e.detail);
	expect_complete(&c);
	vt_dcap_collateral_free(&c);
	assert_int_equal(atomic_load(&g_tcb_requests), 2); /* 429, then 200 */
	assert_int_equal(atomic_load(&g_requests), 5);
	const char *names[] = {"pckcrl-platform.json", "rootcacrl.json", "tcbinfo-tdx-00A06D080000.json",
			       "qeidentity-tdx.json"};
	for (int i = 0; i < 4; i++) {
		char p[PATH_MAX + 64];
		struct stat st;
		snprintf(p, sizeof(p), "%s/dcap/%s", cache, names[i]);
		assert_int_equal(stat(p, &st), 0);
	}

	/* Within nextUpdate: from the cache, no request. */
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, NULL), VT_OK);
	expect_complete(&c);
	vt_dcap_collateral_free(&c);
	assert_int_equal(atomic_load(&g_requests), 5);

	/* Offline, fresh cache. */
	src.offline = true;
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, NULL), VT_OK);
	vt_dcap_collateral_free(&c);

	/* Offline past the TCB Info nextUpdate (2025-11-26T13:07:17Z). */
	int64_t later = at("2025-12-01T00:00:00Z");
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", later, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "expired"));
	assert_null(c.tcb_info);
	/* ... accepted within the grace. */
	src.grace_seconds = 30 * 86400;
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", later, &c, NULL), VT_OK);
	vt_dcap_collateral_free(&c);
	assert_int_equal(atomic_load(&g_requests), 5);

	/* Online past nextUpdate: fetched again (TCB Info and QE identity). */
	src.offline = false;
	src.grace_seconds = 0;
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", later, &c, NULL), VT_OK);
	vt_dcap_collateral_free(&c);
	assert_true(atomic_load(&g_requests) >= 7);

	/* Offline with no cache at all. */
	struct vt_dcap_sources none = {.pccs_url = url, .offline = true};
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&none, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_NOTFOUND);
	assert_err(&e, VT_E_NOTFOUND, VT_STEP_COLLATERAL);

	/* Online without a transport (a verifier-only program): fails closed, PCS not asked. */
	struct vt_dcap_sources no_http = {.pccs_url = url};
	int before = atomic_load(&g_requests);
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&no_http, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_COLLATERAL);
	assert_string_equal(e.field, VT_FETCH_FIELD_TRANSPORT);
	assert_int_equal(atomic_load(&g_requests), before);
}

static void test_http_errors(void **state)
{
	(void)state;
	NEED_VECTORS();
	char url[64];
	url_of(url, sizeof(url));
	struct vt_dcap_sources src = {.pccs_url = url, .http_get = vt_curl_http_get}; /* no cache */
	struct vt_dcap_collateral c;
	struct vt_err e;
	int64_t now = at("2025-11-01T00:00:00Z");

	/* Rate-limited for good: 1 + 3 retries, then an error naming the URL. */
	atomic_store(&g_always_429, true);
	atomic_store(&g_tcb_requests, 0);
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_IO);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "/tdx/certification/v4/tcb?fmspc=00A06D080000"));
	assert_non_null(strstr(e.detail, "429"));
	assert_int_equal(atomic_load(&g_tcb_requests), 4);
	atomic_store(&g_always_429, false);

	/* 404 */
	atomic_store(&g_tcb_404, true);
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_IO);
	assert_non_null(strstr(e.detail, "HTTP 404"));
	atomic_store(&g_tcb_404, false);

	/* No issuer-chain header. */
	atomic_store(&g_no_chain, true);
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_IO);
	assert_non_null(strstr(e.detail, "SGX-PCK-CRL-Issuer-Chain"));
	atomic_store(&g_no_chain, false);

	/* Nobody listening. */
	struct vt_dcap_sources dead = {.pccs_url = "http://127.0.0.1:1", .http_get = vt_curl_http_get};
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&dead, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_IO);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "http://127.0.0.1:1/sgx/certification/v4/pckcrl"));

	/* Bad arguments. */
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "other", now, &c, NULL), VT_E_USAGE);
}

static void test_hex_crls(void **state)
{
	(void)state;
	NEED_VECTORS();
	char url[64];
	url_of(url, sizeof(url));
	struct vt_dcap_sources src = {.pccs_url = url, .http_get = vt_curl_http_get};
	struct vt_dcap_collateral c;
	atomic_store(&g_hex_crl, true);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", at("2025-11-01T00:00:00Z"), &c, NULL),
			 VT_OK);
	atomic_store(&g_hex_crl, false);
	expect_complete(&c);
	vt_dcap_collateral_free(&c);
}

static int64_t g_gate_clock = 1000;

static int64_t gate_clock(void *arg)
{
	(void)arg;
	return g_gate_clock;
}

/* With a fetch gate: one charge per call, cache hits free, refusals name the limit. */
static void test_gate(void **state)
{
	(void)state;
	NEED_VECTORS();
	char url[64], cache[PATH_MAX], cache2[PATH_MAX];
	url_of(url, sizeof(url));
	snprintf(cache, sizeof(cache), "%s/cache-gate", g_tmp);
	snprintf(cache2, sizeof(cache2), "%s/cache-gate2", g_tmp);
	struct vt_fetch_gate_settings gs;
	struct vt_fetch_gate *g = NULL;
	vt_fetch_gate_defaults(&gs);
	gs.per_client_per_minute = 1;
	gs.clock = gate_clock;
	assert_int_equal(vt_fetch_gate_new(&gs, &g, NULL), VT_OK);
	struct vt_dcap_sources src = {.pccs_url = url, .cache_dir = cache, .gate = g, .http_get = vt_curl_http_get};
	struct vt_dcap_collateral c;
	struct vt_fetch_gate_stats st;
	struct vt_err e;
	int64_t now = at("2025-11-01T00:00:00Z");

	/* Four items fetched: the client is charged once. */
	atomic_store(&g_requests, 0);
	vt_err_clear(&e);
	if (vt_dcap_fetch_collateral(&src, "192.0.2.7", true, FMSPC, "platform", now, &c, &e) != VT_OK)
		fail_msg("fetch: %s: %s", e.field, e.detail);
	vt_dcap_collateral_free(&c);
	assert_int_equal(atomic_load(&g_requests), 4);
	vt_fetch_gate_stats(g, &st);
	assert_int_equal(st.fetches, 4);
	assert_int_equal(st.in_flight, 0);

	/* From the cache: no slot, no budget (the client's one is spent). */
	assert_int_equal(vt_dcap_fetch_collateral(&src, "192.0.2.7", true, FMSPC, "platform", now, &c, NULL), VT_OK);
	vt_dcap_collateral_free(&c);
	assert_int_equal(atomic_load(&g_requests), 4);

	/* Nothing cached: a fetch, refused for this client, unsent ... */
	src.cache_dir = cache2;
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, "192.0.2.7", true, FMSPC, "platform", now, &c, &e), VT_E_LIMIT);
	assert_err(&e, VT_E_LIMIT, VT_STEP_COLLATERAL);
	assert_string_equal(e.field, VT_FETCH_FIELD_CLIENT);
	assert_null(c.tcb_info);
	assert_int_equal(atomic_load(&g_requests), 4);
	/* ... allowed for another client. */
	assert_int_equal(vt_dcap_fetch_collateral(&src, "192.0.2.8", true, FMSPC, "platform", now, &c, NULL), VT_OK);
	vt_dcap_collateral_free(&c);
	assert_int_equal(atomic_load(&g_requests), 8);

	/* A 404 is remembered: the next call fails without asking (VT_E_IO as before). */
	src.cache_dir = NULL;
	atomic_store(&g_tcb_404, true);
	atomic_store(&g_tcb_requests, 0);
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_IO);
	assert_string_equal(e.field, "TCB Info");
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_fetch_collateral(&src, NULL, true, FMSPC, "platform", now, &c, &e), VT_E_IO);
	assert_err(&e, VT_E_IO, VT_STEP_COLLATERAL);
	assert_string_equal(e.field, VT_FETCH_FIELD_NEGATIVE);
	assert_non_null(strstr(e.detail, "HTTP 404"));
	assert_int_equal(atomic_load(&g_tcb_requests), 1);
	atomic_store(&g_tcb_404, false);
	vt_fetch_gate_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_cache_offline),
		cmocka_unit_test(test_http_errors),
		cmocka_unit_test(test_hex_crls),
		cmocka_unit_test(test_gate),
	};
	return cmocka_run_group_tests_name("dcap_fetch", tests, group_setup, group_teardown);
}
