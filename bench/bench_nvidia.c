/*
 * bench_nvidia — NVIDIA reports verified per second on one thread through
 * the registry entry (vt_tee_nvidia.verify) with a warm chain, next to the
 * raw ECDSA bound measured in the same run.
 *
 * usage: bench_nvidia VECTORS_DIR [seconds]
 *
 * Input (read in place from ../shared/vectors, never copied):
 *   nvidia/nvtrust_h100_attestation_report.hex.txt with its chain
 *   nvidia/nvtrust_h100_cert_chain.pem as the evidence's "certificate",
 *   bound to its request nonce, at 2025-06-01T00:00:00Z, through one
 *   verifier (its caches are what "warm" means: the 5-certificate chain is
 *   verified once, then each report costs its parse, the chain's cache
 *   lookup, FWID and claims, and one P-384 signature).
 * Bound: the one ECDSA verification a warm report needs, P-384 with
 * SHA-384 over a message of the report's signed size (request || response
 * up to the signature, 4021 bytes), EVP_DigestVerifyInit + EVP_DigestVerify
 * on a precomputed signature.  Both loops run interleaved in 0.25 s slices
 * so clock changes and machine load hit them alike.  Target: >= 0.80 x the
 * bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "veritee/evidence.h"
#include "veritee/nvidia.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define SLICE 0.25
#define NONCE "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct vt_err *e)
{
	fprintf(stderr, "bench_nvidia: %s%s%s\n", what, e ? ": " : "", e ? e->detail : "");
	exit(2);
}

static uint8_t *vec(const char *vdir, const char *name, size_t *n)
{
	char p[4096];
	uint8_t *b = NULL;
	struct vt_err e = {0};
	snprintf(p, sizeof(p), "%s/%s", vdir, name);
	if (vt_file_read(p, 1 << 20, &b, n, &e) != VT_OK)
		die(p, &e);
	return b;
}

struct job {
	json_t *evidence;
	struct vt_verify_ctx ctx;
	struct vt_binding binding;
};

static void verify_once(const struct job *j)
{
	json_t *claims = NULL;
	struct vt_err e = {0};
	if (vt_tee_nvidia.verify(&j->ctx, j->evidence, &j->binding, &claims, &e) != VT_OK) {
		fprintf(stderr, "bench_nvidia: %s/%s %s: %s\n", vt_status_name(e.code), vt_step_name(e.step), e.field,
			e.detail);
		exit(2);
	}
	json_decref(claims);
}

struct raw {
	EVP_PKEY *key;
	EVP_MD_CTX *ctx;
	uint8_t *msg, sig[160];
	size_t msg_size, sig_len;
};

static void raw_once(const struct raw *r)
{
	if (EVP_DigestVerifyInit(r->ctx, NULL, EVP_sha384(), NULL, r->key) != 1 ||
	    EVP_DigestVerify(r->ctx, r->sig, r->sig_len, r->msg, r->msg_size) != 1)
		die("raw verification failed", NULL);
}

struct loop {
	const struct job *job; /* or */
	const struct raw *raw;
	long n;
	double t;
};

static void run_slice(struct loop *l)
{
	double t0 = now_s(), t;
	do {
		for (int k = 0; k < 8; k++) {
			if (l->job != NULL)
				verify_once(l->job);
			else
				raw_once(l->raw);
		}
		l->n += 8;
		t = now_s();
	} while (t - t0 < SLICE);
	l->t += t - t0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_nvidia VECTORS_DIR [seconds]\n");
		return 2;
	}
	const char *vdir = argv[1];
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	if (secs <= 0)
		secs = 5.0;

	size_t hn, pn;
	uint8_t *hex = vec(vdir, "nvidia/nvtrust_h100_attestation_report.hex.txt", &hn);
	uint8_t *pem = vec(vdir, "nvidia/nvtrust_h100_cert_chain.pem", &pn);
	struct vt_err e = {0};
	json_t *ev = NULL;
	if (vt_nvidia_load_file(hex, hn, &ev, &e) != VT_OK)
		die("load_file", &e);
	char *b64 = vt_b64_encode(pem, pn);
	json_object_set_new(ev, "certificate", json_string(b64));
	free(b64);
	free(pem);

	json_t *tees = json_pack("{s:{}}", "nvidia");
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *verifier = NULL;
	if (vt_verifier_new(&vs, &verifier, &e) != VT_OK)
		die("verifier", &e);
	json_decref(tees);

	static uint8_t nonce[32];
	if (vt_hex_decode_fixed(NONCE, nonce, sizeof(nonce), &e) != VT_OK)
		die("nonce", &e);
	int64_t t = 0;
	if (vt_time_parse_rfc3339("2025-06-01T00:00:00Z", &t, &e) != VT_OK)
		die("time", &e);
	struct job job = {ev, {.now = t, .verifier = verifier}, {nonce, sizeof(nonce)}};

	/* the bound: one P-384/SHA-384 verification over the report's signed size */
	const char *b = json_string_value(json_object_get(ev, "evidence"));
	uint8_t *rep = NULL;
	size_t rn = 0;
	if (vt_b64_decode(b, strlen(b), &rep, &rn, &e) != VT_OK)
		die("report", &e);
	struct raw raw = {.msg_size = rn - VT_NVIDIA_SIG_SIZE, .sig_len = sizeof(raw.sig)};
	raw.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	raw.ctx = EVP_MD_CTX_new();
	raw.msg = rep;
	if (raw.key == NULL || raw.ctx == NULL || EVP_DigestSignInit(raw.ctx, NULL, EVP_sha384(), NULL, raw.key) != 1 ||
	    EVP_DigestSign(raw.ctx, raw.sig, &raw.sig_len, raw.msg, raw.msg_size) != 1)
		die("raw signature setup", NULL);

	struct loop loops[2] = {{.job = &job}, {.raw = &raw}};
	verify_once(&job); /* warm-up: fills the caches, and must succeed */
	for (double done = 0; done < secs; done += SLICE)
		for (size_t i = 0; i < 2; i++)
			run_slice(&loops[i]);
	double r = (double)loops[0].n / loops[0].t, bound = (double)loops[1].n / loops[1].t;
	printf("%-34s %10s %10s %8s %8s\n", "", "ops/s", "bound", "ratio", "target");
	printf("%-34s %10.1f\n", "raw P-384/SHA-384 verify (4021 B)", bound);
	printf("%-34s %10.1f %10.1f %8.2f %8.2f  %s\n", "nvidia reports verified (warm)", r, bound, r / bound, 0.80,
	       r / bound >= 0.80 ? "met" : "NOT met");

	free(rep);
	free(hex);
	EVP_MD_CTX_free(raw.ctx);
	EVP_PKEY_free(raw.key);
	json_decref(ev);
	vt_verifier_free(verifier);
	return 0;
}
