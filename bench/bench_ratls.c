/*
 * bench_ratls — TLS handshakes per second with RA-TLS verification of the
 * server's certificate against plain TLS handshakes with the same key type,
 * in the same run.
 *
 * usage: bench_ratls [seconds]
 *
 * One thread runs both ends of each handshake over an OpenSSL BIO pair (no
 * kernel sockets: the numbers are the CPU cost of a handshake, client and
 * server together), TLS 1.3 with OpenSSL's defaults (X25519), a fresh SSL
 * per handshake, no session resumption (no cache, no tickets):
 *   plain   the server presents a self-signed P-256 certificate the client
 *           trusts as its anchor (SSL_VERIFY_PEER, an X509_STORE with it);
 *   ratls   the server presents a P-256 RA-TLS certificate with sim
 *           evidence (veritee ratls cert --tee sim); the client verifies it
 *           with vt_ratls_ssl_ctx_verify and a policy on the measurement.
 *           "warm": one verifier for the whole run, its caches filled by
 *           the first handshake (the sim platform certificate, its chain,
 *           and the verified certificate, remembered 60 s: the server
 *           presents the same certificate to every client);
 *   every   as ratls with no_result_cache: the sim evidence (its P-384
 *           report signature) verified at every handshake;
 *   fresh   as ratls with VT_RATLS_SSL_REQUEST_NONCE: the server makes and
 *           signs a new certificate with fresh sim evidence for each
 *           handshake (vt_ratls_ssl_ctx_serve_fresh); the cost of freshness;
 *   verify  vt_ratls_verify_cert alone on the RA-TLS certificate (no TLS),
 *           its evidence verified every time.
 * The loops run interleaved in 0.25 s slices for `seconds` each (default 5)
 * so they see the same clock and load.  Target: ratls >= 0.5 x plain.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "veritee/crypto.h"
#include "veritee/policy.h"
#include "veritee/ratls.h"
#include "veritee/sim.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_ratls: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* One step of one end's handshake: false when it failed. */
static bool handshake_step(SSL *ssl, int *done)
{
	if (*done)
		return true;
	int r = SSL_do_handshake(ssl);
	if (r == 1)
		*done = 1;
	int e = SSL_get_error(ssl, r);
	return r == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* One handshake over a fresh BIO pair; 1 when both ends completed. */
static int handshake(SSL_CTX *cctx, SSL_CTX *sctx)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *bc = NULL, *bs = NULL;
	if (c == NULL || s == NULL || BIO_new_bio_pair(&bc, 0, &bs, 0) != 1)
		die("SSL_new / BIO pair");
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	int cd = 0, sd = 0;
	for (int i = 0; i < 64 && !(cd && sd); i++)
		if (!handshake_step(c, &cd) || !handshake_step(s, &sd))
			break;
	SSL_free(c);
	SSL_free(s);
	return cd && sd;
}

static void no_resumption(SSL_CTX *ctx)
{
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
}

static X509 *plain_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"plain", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 || X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL || X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) <= 0)
		die("plain certificate");
	return x;
}

struct loop {
	const char *name;
	SSL_CTX *cctx, *sctx; /* handshake loops */
	const struct vt_ratls_verify_opts *vo;
	X509 *cert; /* the verify loop */
	double secs;
	unsigned long n;
};

static void slice(struct loop *l, double dur)
{
	double t0 = now_s(), t;
	do {
		if (l->cctx != NULL) {
			if (!handshake(l->cctx, l->sctx))
				die(l->name);
		} else if (vt_ratls_verify_cert(l->vo, l->cert, NULL, NULL) != VT_OK) {
			die("verify");
		}
		l->n++;
	} while ((t = now_s()) - t0 < dur);
	l->secs += t - t0;
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	if (seconds <= 0)
		seconds = 5.0;
	char dir[] = "/tmp/veritee-bench-ratls-XXXXXX";
	if (mkdtemp(dir) == NULL || vt_sim_ensure_keys(dir, NULL) != VT_OK)
		die("sim keys");
	char root[512];
	snprintf(root, sizeof(root), "%s/" VT_SIM_ROOT_CERT_FILE, dir);
	json_t *tees = json_pack("{s:{s:s}}", "sim", "root", root), *attest = json_pack("{s:s}", "sim_dir", dir);
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *v = NULL;
	if (vt_verifier_new(&vs, &v, NULL) != VT_OK)
		die("verifier");
	struct vt_sim_attest_opts so;
	vt_sim_attest_opts_default(&so);
	char *meas = vt_hex_encode(so.measurement, sizeof(so.measurement)), text[512];
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"rules\":[{\"name\":\"m\",\"claim\":\"/sim/measurement\",\"equals\":\"%s\"}]}", meas);
	struct vt_policy *pol = NULL;
	if (vt_policy_parse(text, strlen(text), &pol, NULL) != VT_OK)
		die("policy");
	struct vt_ratls_verify_opts vo = {.verifier = v, .policy = pol};
	struct vt_ratls_verify_opts vo_cold = {.verifier = v, .policy = pol, .no_result_cache = true};

	EVP_PKEY *key = NULL;
	X509 *ratls = NULL, *plain = NULL;
	struct vt_ratls_cert_opts co = {.tee = "sim"};
	if (vt_key_generate(VT_KEY_P256, &key, NULL) != VT_OK ||
	    vt_ratls_cert_new(key, &co, attest, &ratls, NULL) != VT_OK)
		die("RA-TLS certificate");
	plain = plain_cert(key);

	SSL_CTX *s_plain = SSL_CTX_new(TLS_server_method()), *c_plain = SSL_CTX_new(TLS_client_method());
	SSL_CTX *s_ratls = SSL_CTX_new(TLS_server_method()), *c_ratls = SSL_CTX_new(TLS_client_method());
	SSL_CTX *s_fresh = SSL_CTX_new(TLS_server_method()), *c_fresh = SSL_CTX_new(TLS_client_method());
	SSL_CTX *c_cold = SSL_CTX_new(TLS_client_method());
	SSL_CTX *all[] = {s_plain, c_plain, s_ratls, c_ratls, s_fresh, c_fresh, c_cold};
	size_t nctx = sizeof(all) / sizeof(all[0]);
	for (size_t i = 0; i < nctx; i++) {
		if (all[i] == NULL)
			die("SSL_CTX_new");
		no_resumption(all[i]);
	}
	if (SSL_CTX_use_certificate(s_plain, plain) != 1 || SSL_CTX_use_PrivateKey(s_plain, key) != 1 ||
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(c_plain), plain) != 1)
		die("plain contexts");
	SSL_CTX_set_verify(c_plain, SSL_VERIFY_PEER, NULL);
	if (vt_ratls_ssl_ctx_use(s_ratls, key, ratls, NULL) != VT_OK ||
	    vt_ratls_ssl_ctx_verify(c_ratls, &vo, 0, NULL) != VT_OK ||
	    vt_ratls_ssl_ctx_use(s_fresh, key, ratls, NULL) != VT_OK ||
	    vt_ratls_ssl_ctx_serve_fresh(s_fresh, key, &co, attest, NULL) != VT_OK ||
	    vt_ratls_ssl_ctx_verify(c_fresh, &vo, VT_RATLS_SSL_REQUEST_NONCE, NULL) != VT_OK ||
	    vt_ratls_ssl_ctx_verify(c_cold, &vo_cold, 0, NULL) != VT_OK)
		die("RA-TLS contexts");

	struct loop loops[] = {
		{.name = "plain TLS", .cctx = c_plain, .sctx = s_plain},
		{.name = "RA-TLS (sim, warm)", .cctx = c_ratls, .sctx = s_ratls},
		{.name = "RA-TLS every time", .cctx = c_cold, .sctx = s_ratls},
		{.name = "RA-TLS fresh nonce", .cctx = c_fresh, .sctx = s_fresh},
		{.name = "verify only", .vo = &vo_cold, .cert = ratls},
	};
	size_t nl = sizeof(loops) / sizeof(loops[0]);
	for (size_t i = 0; i < nl; i++) { /* warm-up: each must work */
		struct loop w = loops[i];
		slice(&w, 0.0);
	}
	for (double done = 0; done < seconds; done += 0.25)
		for (size_t i = 0; i < nl; i++)
			slice(&loops[i], 0.25);

	printf("bench_ratls: %s, TLS 1.3 (%s), P-256 server key, one thread for both ends (BIO pair), no resumption, "
	       "%.0f s per loop\n",
	       OpenSSL_version(OPENSSL_VERSION), "X25519", seconds);
	double rate[5];
	for (size_t i = 0; i < nl; i++) {
		rate[i] = (double)loops[i].n / loops[i].secs;
		printf("  %-20s %9.1f %s/s  (%.3f ms each)\n", loops[i].name, rate[i], i == 4 ? "certs" : "handshakes",
		       1000.0 / rate[i]);
	}
	double ratio = rate[1] / rate[0];
	printf("  RA-TLS / plain       %9.2f  (target >= 0.50: %s)\n", ratio, ratio >= 0.5 ? "met" : "NOT met");
	printf("  every time / plain   %9.2f  (the evidence verified at every handshake: no result cache)\n",
	       rate[2] / rate[0]);
	printf("  fresh / plain        %9.2f  (one attestation and certificate per handshake)\n", rate[3] / rate[0]);

	for (size_t i = 0; i < nctx; i++)
		SSL_CTX_free(all[i]);
	X509_free(ratls);
	X509_free(plain);
	EVP_PKEY_free(key);
	vt_policy_free(pol);
	vt_verifier_free(v);
	json_decref(tees);
	json_decref(attest);
	free(meas);
	rm_tree(dir);
	return ratio >= 0.5 ? 0 : 1;
}
