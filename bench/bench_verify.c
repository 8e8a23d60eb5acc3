/*
 * bench_verify — evidence verified per second on one thread through the
 * registry entries (vt_tee_snp / vt_tee_tdx / vt_tee_sgx / vt_tee_nitro /
 * vt_tee_cca .verify), offline, at the vectors' pinned times, next to
 * OpenSSL's raw signature rates measured in the same run.
 *
 * usage: bench_verify VECTORS_DIR [seconds]
 *
 * Inputs (from ../shared/vectors, assembled in a temporary directory at run
 * time, never copied into the repository):
 *   snp  snp/teekit_gcp_milan_v5_report.bin (report v5, Milan) with its VCEK
 *        and ASK/ARK chain in a certificate directory, at 2025-12-08T00:00:00Z;
 *   tdx  tdx/trustee_v4_quote_50806f000000.dat with a PCS-layout collateral
 *        directory (TCB Info, QE Identity, their signing chain, PCK CRL and its
 *        issuer chain, root CA CRL), at 2023-07-01T00:00:00Z;
 *   sgx  sgx/phala_sgx_v3_quote_00a067110000.dat with its dcap-qvl collateral
 *        bundle, at 2025-07-01T00:00:00Z;
 *   nitro  nitro/evervault_nitro_prod_2022-10-13.cose (the AWS root is
 *        pinned and shipped), at its timestamp 2022-10-13T08:58:02Z;
 *   cca  cca/trustee_cca_token_fvp_testkeys.cbor with the CPAK
 *        cca/trustee_cca_cpak_pub.json (tees {"cca": {"cpak": ...}}).
 * All five go through one verifier (vt_verifier_new with their options:
 * its caches are what "warm" means; nothing is cached without one).
 * Each input is verified once (warm-up, which must succeed), then in a loop
 * for `seconds` (default 5), interleaved in 0.25 s slices with the loop of
 * its bound so both see the same clock and load.  The bounds (one thread):
 *   raw P-384: EVP_DigestVerifyInit + EVP_DigestVerify, SHA-384, over a
 *              672-byte message (the signed part of an SNP report), on
 *              precomputed signatures: a warm report costs one of these;
 *   raw P-256: the same with SHA-256 over 632 bytes (a v4 quote's signed
 *              region): a warm quote costs two of these (QE report and quote
 *              signatures), so the DCAP bound is raw P-256 / 2;
 *   nitro:     the one ECDSA verification a warm document needs (its chain
 *              is cached): the COSE signature's curve and hash over a
 *              message of the document's Sig_structure size;
 *   cca:       the two a token needs: the platform token's (CPAK) and the
 *              realm token's (RAK), each with its COSE alg's curve and hash
 *              over a message of its Sig_structure's size, back to back.
 * The curves, hashes and sizes are read from the vectors (and printed).
 * Targets: SNP >= 0.90 x raw P-384; TDX/SGX >= 0.80 x raw P-256 / 2;
 * Nitro/CCA >= 0.80 x their bound.
 *
 * BENCH_VERIFY_ONLY=snp|tdx|sgx|nitro|cca runs only that loop (profiling).
 * With BENCH_VERIFY_EXPORT=DIR set, the TDX quote and a dcap-qvl JSON bundle
 * of the same collateral are also written to DIR (tdx_quote.dat,
 * tdx_collateral.json) for bench/bench_dcap_qvl.js.
 */
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "veritee/cca.h"
#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/nitro.h"
#include "veritee/snp.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct vt_err *e)
{
	fprintf(stderr, "bench_verify: %s%s%s\n", what, e ? ": " : "", e ? e->detail : "");
	exit(2);
}

static int64_t at(const char *s)
{
	int64_t t = 0;
	struct vt_err e = {0};
	if (vt_time_parse_rfc3339(s, &t, &e) != VT_OK)
		die("time", &e);
	return t;
}

static uint8_t *vec(const char *vdir, const char *name, size_t *n)
{
	char path[PATH_MAX];
	uint8_t *p = NULL;
	struct vt_err e = {0};
	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	if (vt_file_read(path, 1u << 24, &p, n, &e) != VT_OK)
		die(path, &e);
	return p;
}

static void put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	struct vt_err e = {0};
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (vt_file_write(path, p, n, 0644, &e) != VT_OK)
		die(path, &e);
}

static void copy_vec(const char *vdir, const char *from, const char *dir, const char *to)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, from, &n);
	put(dir, to, p, n);
	free(p);
}

/* ------------------------------------------------------------ inputs */

#define TDX_QUOTE "tdx/trustee_v4_quote_50806f000000.dat"
#define TDX_TCB "tdx/go-tdx-guest_tcbinfo_tdx_50806f000000_2023-06-18.json"
#define TDX_QE "tdx/go-tdx-guest_qeidentity_td_qe_2023-06-08.json"
#define TDX_CHAIN "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2018-05-21_to_2025-05-21.pem"
#define TDX_PCKCRL "roots/intel/intel_pck_platform_ca_crl_2023-06-08.der"
#define TDX_ROOTCRL "roots/intel/intel_sgx_root_ca_crl_2023-04-03.der"
#define SGX_QUOTE "sgx/phala_sgx_v3_quote_00a067110000.dat"
#define SGX_BUNDLE "sgx/phala_sgx_v3_quote_00a067110000_collateral.json"
#define NITRO_DOC "nitro/evervault_nitro_prod_2022-10-13.cose"
#define CCA_TOKEN "cca/trustee_cca_token_fvp_testkeys.cbor"
#define CCA_CPAK "cca/trustee_cca_cpak_pub.json"

/* The PCK CA + root of a quote's PCK chain, as PEM (PCS's PCK CRL issuer chain). */
static char *pck_crl_issuer_chain(const uint8_t *quote, size_t n)
{
	struct vt_dcap_quote q;
	struct vt_err e = {0};
	if (vt_dcap_quote_parse(quote, n, &q, &e) != VT_OK)
		die("tdx quote", &e);
	BIO *in = BIO_new_mem_buf(q.cert_data, (int)q.cert_data_size), *out = BIO_new(BIO_s_mem());
	for (int i = 0; in && out; i++) {
		X509 *x = PEM_read_bio_X509(in, NULL, NULL, NULL);
		if (x == NULL)
			break;
		if (i > 0)
			PEM_write_bio_X509(out, x);
		X509_free(x);
	}
	char *data = NULL;
	long len = out ? BIO_get_mem_data(out, &data) : 0;
	char *s = len > 0 ? strndup(data, (size_t)len) : NULL;
	BIO_free(in);
	BIO_free(out);
	if (s == NULL)
		die("PCK CRL issuer chain", NULL);
	return s;
}

/* The TDX collateral as a PCS directory in `dir`; also a dcap-qvl bundle when `export_dir`. */
static void tdx_collateral(const char *vdir, const char *dir, const char *export_dir)
{
	size_t qn = 0;
	uint8_t *quote = vec(vdir, TDX_QUOTE, &qn);
	char *pcc = pck_crl_issuer_chain(quote, qn);
	copy_vec(vdir, TDX_TCB, dir, "tcbinfo.json");
	copy_vec(vdir, TDX_QE, dir, "qeidentity.json");
	copy_vec(vdir, TDX_CHAIN, dir, "tcbinfo_issuer_chain.pem");
	copy_vec(vdir, TDX_CHAIN, dir, "qeidentity_issuer_chain.pem");
	copy_vec(vdir, TDX_PCKCRL, dir, "pckcrl.der");
	copy_vec(vdir, TDX_ROOTCRL, dir, "rootcrl.der");
	put(dir, "pckcrl_issuer_chain.pem", pcc, strlen(pcc));
	if (export_dir != NULL) {
		struct vt_dcap_collateral c;
		struct vt_err e = {0};
		if (vt_dcap_collateral_load(dir, &c, &e) != VT_OK)
			die("tdx collateral", &e);
		char *ts = vt_hex_encode(c.tcb_info_signature, 64), *qs = vt_hex_encode(c.qe_identity_signature, 64);
		char *rc = vt_hex_encode(c.root_ca_crl, c.root_ca_crl_size), *pc = vt_hex_encode(c.pck_crl, c.pck_crl_size);
		json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "pck_crl_issuer_chain", c.pck_crl_issuer_chain,
				      "root_ca_crl", rc, "pck_crl", pc, "tcb_info_issuer_chain", c.tcb_info_issuer_chain,
				      "tcb_info", c.tcb_info, "tcb_info_signature", ts, "qe_identity_issuer_chain",
				      c.qe_identity_issuer_chain, "qe_identity", c.qe_identity, "qe_identity_signature", qs);
		char *txt = b ? json_dumps(b, JSON_COMPACT) : NULL;
		if (txt == NULL)
			die("bundle", NULL);
		put(export_dir, "tdx_collateral.json", txt, strlen(txt));
		put(export_dir, "tdx_quote.dat", quote, qn);
		free(txt);
		json_decref(b);
		free(ts);
		free(qs);
		free(rc);
		free(pc);
		vt_dcap_collateral_free(&c);
	}
	free(pcc);
	free(quote);
}

static json_t *load_evidence(const struct vt_tee *tee, const uint8_t *p, size_t n)
{
	json_t *ev = NULL;
	struct vt_err e = {0};
	if (tee->load_file(p, n, &ev, &e) != VT_OK)
		die(tee->name, &e);
	return ev;
}

/* ------------------------------------------------------------ loops */

struct job {
	const char *name;
	const struct vt_tee *tee;
	json_t *evidence;
	struct vt_verify_ctx ctx;
};

static void verify_once(const struct job *j)
{
	json_t *claims = NULL;
	struct vt_err e = {0};
	if (j->tee->verify(&j->ctx, j->evidence, NULL, &claims, &e) != VT_OK) {
		fprintf(stderr, "bench_verify: %s: %s/%s %s: %s\n", j->name, vt_status_name(e.code),
			vt_step_name(e.step), e.field, e.detail);
		exit(2);
	}
	json_decref(claims);
}

/*
 * Rates are measured interleaved: slices of SLICE seconds of each loop in
 * turn until each has run `secs` in total, so that CPU clock changes and the
 * load of a shared machine hit the evidence loops and their bounds alike.
 */
#define SLICE 0.25

/* One ECDSA verification of a bound: a fresh key on `curve`, a message of
 * msg_size bytes and its precomputed DER signature. */
struct raw_op {
	EVP_PKEY *key;
	const EVP_MD *md;
	uint8_t *msg, sig[160];
	size_t msg_size, sig_len;
};

/* A bound: the ECDSA verifications one evidence needs at minimum, back to back. */
#define RAW_MAX_OPS 2
struct raw {
	struct raw_op op[RAW_MAX_OPS];
	size_t count;
	EVP_MD_CTX *ctx;
};

static void raw_add(struct raw *r, const char *curve, const EVP_MD *md, size_t msg_size)
{
	if (r->ctx == NULL && (r->ctx = EVP_MD_CTX_new()) == NULL)
		die("raw signature setup", NULL);
	if (r->count == RAW_MAX_OPS)
		die("raw signature setup: too many operations", NULL);
	struct raw_op *o = &r->op[r->count++];
	o->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	o->md = md;
	o->msg_size = msg_size;
	o->msg = malloc(msg_size ? msg_size : 1);
	o->sig_len = sizeof(o->sig);
	if (o->msg == NULL)
		die("raw signature setup", NULL);
	for (size_t i = 0; i < msg_size; i++)
		o->msg[i] = (uint8_t)(i * 31 + 7);
	if (o->key == NULL || EVP_DigestSignInit(r->ctx, NULL, md, NULL, o->key) != 1 ||
	    EVP_DigestSign(r->ctx, o->sig, &o->sig_len, o->msg, msg_size) != 1)
		die("raw signature setup", NULL);
}

static void raw_init(struct raw *r, const char *curve, const EVP_MD *md, size_t msg_size)
{
	memset(r, 0, sizeof(*r));
	raw_add(r, curve, md, msg_size);
}

/* EVP_DigestVerifyInit + EVP_DigestVerify per operation on the precomputed signatures. */
static void raw_once(const struct raw *r)
{
	for (size_t i = 0; i < r->count; i++) {
		const struct raw_op *o = &r->op[i];
		if (EVP_DigestVerifyInit(r->ctx, NULL, o->md, NULL, o->key) != 1 ||
		    EVP_DigestVerify(r->ctx, o->sig, o->sig_len, o->msg, o->msg_size) != 1)
			die("raw verification failed", NULL);
	}
}

static void raw_free(struct raw *r)
{
	for (size_t i = 0; i < r->count; i++) {
		EVP_PKEY_free(r->op[i].key);
		free(r->op[i].msg);
	}
	EVP_MD_CTX_free(r->ctx);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ COSE bounds */

/* The curve and hash a COSE ECDSA alg stands for (RFC 9053 §2.1). */
static void cose_alg(int64_t alg, const char **curve, const EVP_MD **md, const char **name)
{
	switch (alg) {
	case VT_COSE_ALG_ES256: *curve = "P-256"; *md = EVP_sha256(); *name = "ES256"; return;
	case VT_COSE_ALG_ES384: *curve = "P-384"; *md = EVP_sha384(); *name = "ES384"; return;
	case VT_COSE_ALG_ES512: *curve = "P-521"; *md = EVP_sha512(); *name = "ES512"; return;
	default: die("COSE alg of a vector is not ES256/ES384/ES512", NULL);
	}
}

/* Add to `r` the verification of one COSE_Sign1 (its alg, its Sig_structure's
 * size); describe it in `desc`.  `data` may start with the one-byte tag 18. */
static void raw_add_cose(struct raw *r, const char *what, const uint8_t *data, size_t n, char *desc, size_t dn)
{
	struct vt_cose_sign1 s;
	struct vt_err e = {0};
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	if (vt_cose_sign1_parse(data, n, &s, &e) != VT_OK ||
	    vt_cose_sig_structure(s.protected_bstr, s.protected_len, NULL, 0, s.payload, s.payload_len, &tbs, &tbs_len,
				  &e) != VT_OK)
		die(what, &e);
	const char *curve, *name;
	const EVP_MD *md;
	cose_alg(s.alg, &curve, &md, &name);
	raw_add(r, curve, md, tbs_len);
	size_t used = strlen(desc);
	snprintf(desc + used, dn - used, "%s%s %s %s/%zu B", used ? " + " : "", what, name, curve, tbs_len);
	free(tbs);
	vt_cose_sign1_free(&s);
}

/* CCA: the platform and realm COSE_Sign1 bytes of a token 399({44234: bstr, 44241: bstr}). */
static void raw_init_cca(struct raw *r, const uint8_t *tok, size_t n, char *desc, size_t dn)
{
	cbor_item_t *c = NULL;
	struct vt_err e = {0};
	memset(r, 0, sizeof(*r));
	if (vt_cbor_decode(tok, n, 3, "token", &c, &e) != VT_OK || !cbor_isa_tag(c))
		die("cca token", &e);
	cbor_item_t *m = cbor_tag_item(c);
	const cbor_item_t *pl = vt_cbor_map_get_int(m, 44234), *rl = vt_cbor_map_get_int(m, 44241);
	if (pl == NULL || rl == NULL || !cbor_isa_bytestring(pl) || !cbor_isa_bytestring(rl))
		die("cca token: no platform or realm token", NULL);
	raw_add_cose(r, "platform", cbor_bytestring_handle(pl), cbor_bytestring_length(pl), desc, dn);
	raw_add_cose(r, "realm", cbor_bytestring_handle(rl), cbor_bytestring_length(rl), desc, dn);
	cbor_decref(&m);
	cbor_decref(&c);
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

static void run_interleaved(struct loop *loops, size_t count, double secs)
{
	for (size_t i = 0; i < count; i++)
		if (loops[i].job != NULL)
			verify_once(loops[i].job); /* warm-up: fills the caches, and must succeed */
	for (double done = 0; done < secs; done += SLICE)
		for (size_t i = 0; i < count; i++)
			run_slice(&loops[i]);
}

static double rate(const struct loop *l)
{
	return (double)l->n / l->t;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_verify VECTORS_DIR [seconds]\n");
		return 2;
	}
	const char *vdir = argv[1];
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	if (secs <= 0)
		secs = 5.0;
	char tmp[] = "/tmp/veritee-bench-verify-XXXXXX";
	if (mkdtemp(tmp) == NULL)
		die("mkdtemp", NULL);
	char certs[PATH_MAX], coll[PATH_MAX], sgx_bundle[PATH_MAX];
	snprintf(certs, sizeof(certs), "%s/snp-certs", tmp);
	snprintf(coll, sizeof(coll), "%s/tdx-collateral", tmp);
	snprintf(sgx_bundle, sizeof(sgx_bundle), "%s/%s", vdir, SGX_BUNDLE);
	if (mkdir(certs, 0755) != 0 || mkdir(coll, 0755) != 0)
		die("mkdir", NULL);
	copy_vec(vdir, "snp/teekit_gcp_milan_vcek.pem", certs, "vcek.pem");
	copy_vec(vdir, "snp/teekit_gcp_milan_ask_ark_chain.pem", certs, "ask_ark.pem");
	tdx_collateral(vdir, coll, getenv("BENCH_VERIFY_EXPORT"));

	/* One verifier for the five, as the broker holds one: the TEE states and caches come from it. */
	char cpak[PATH_MAX];
	snprintf(cpak, sizeof(cpak), "%s/%s", vdir, CCA_CPAK);
	json_t *tees = json_pack("{s:{s:s,s:b},s:{s:s,s:b},s:{s:s,s:b},s:{},s:{s:s}}", "snp", "certs", certs, "offline",
				 1, "tdx", "collateral", coll, "offline", 1, "sgx", "collateral", sgx_bundle, "offline",
				 1, "nitro", "cca", "cpak", cpak);
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *verifier = NULL;
	struct vt_err verr = {0};
	if (tees == NULL || vt_verifier_new(&vs, &verifier, &verr) != VT_OK)
		die("verifier", &verr);
	json_decref(tees);

	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/teekit_gcp_milan_v5_report.bin", &n);
	struct job snp = {"snp", &vt_tee_snp, load_evidence(&vt_tee_snp, p, n),
			  {.now = at("2025-12-08T00:00:00Z"), .verifier = verifier}};
	free(p);
	p = vec(vdir, TDX_QUOTE, &n);
	struct job tdx = {"tdx", &vt_tee_tdx, load_evidence(&vt_tee_tdx, p, n),
			  {.now = at("2023-07-01T00:00:00Z"), .verifier = verifier}};
	free(p);
	p = vec(vdir, SGX_QUOTE, &n);
	struct job sgx = {"sgx", &vt_tee_sgx, load_evidence(&vt_tee_sgx, p, n),
			  {.now = at("2025-07-01T00:00:00Z"), .verifier = verifier}};
	free(p);
	char nitro_desc[160] = "", cca_desc[160] = "";
	struct raw nitro_raw, cca_raw;
	uint8_t *nitro_doc = vec(vdir, NITRO_DOC, &n);
	struct job nitro = {"nitro", &vt_tee_nitro, load_evidence(&vt_tee_nitro, nitro_doc, n),
			    {.now = at("2022-10-13T08:58:02Z"), .verifier = verifier}};
	memset(&nitro_raw, 0, sizeof(nitro_raw));
	raw_add_cose(&nitro_raw, "document", nitro_doc, n, nitro_desc, sizeof(nitro_desc));
	free(nitro_doc);
	p = vec(vdir, CCA_TOKEN, &n);
	struct job cca = {"cca", &vt_tee_cca, load_evidence(&vt_tee_cca, p, n), {.verifier = verifier}};
	raw_init_cca(&cca_raw, p, n, cca_desc, sizeof(cca_desc));
	free(p);

	const char *only = getenv("BENCH_VERIFY_ONLY"); /* for profiling: "snp", "tdx", "sgx", "nitro" or "cca" */
	if (only != NULL) {
		struct job *jobs[] = {&snp, &tdx, &sgx, &nitro, &cca};
		struct loop l = {.job = &sgx};
		for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
			if (strcmp(only, jobs[i]->name) == 0)
				l.job = jobs[i];
		run_interleaved(&l, 1, secs);
		printf("%s: %.1f ops/s\n", l.job->name, rate(&l));
		goto cleanup;
	}
	struct raw p384, p256;
	raw_init(&p384, "P-384", EVP_sha384(), VT_SNP_SIGNED_SIZE);
	raw_init(&p256, "P-256", EVP_sha256(), 632);
	struct loop snp_loops[2] = {{.job = &snp}, {.raw = &p384}};
	struct loop dcap_loops[3] = {{.job = &tdx}, {.job = &sgx}, {.raw = &p256}};
	struct loop cose_loops[4] = {{.job = &nitro}, {.raw = &nitro_raw}, {.job = &cca}, {.raw = &cca_raw}};
	run_interleaved(snp_loops, 2, secs);
	run_interleaved(dcap_loops, 3, secs);
	run_interleaved(cose_loops, 4, secs);
	double r_snp = rate(&snp_loops[0]), r_p384 = rate(&snp_loops[1]);
	double r_tdx = rate(&dcap_loops[0]), r_sgx = rate(&dcap_loops[1]), r_p256 = rate(&dcap_loops[2]);
	double dcap_bound = r_p256 / 2;
	double r_nitro = rate(&cose_loops[0]), b_nitro = rate(&cose_loops[1]);
	double r_cca = rate(&cose_loops[2]), b_cca = rate(&cose_loops[3]);
	raw_free(&p384);
	raw_free(&p256);

	printf("one thread, %.1f s per loop (interleaved %.2f s slices), warm caches, offline\n", secs, SLICE);
	printf("%-34s %10s %10s %8s %8s\n", "", "ops/s", "bound", "ratio", "target");
	printf("%-34s %10.1f\n", "raw ECDSA P-384 verify (SHA-384)", r_p384);
	printf("%-34s %10.1f\n", "raw ECDSA P-256 verify (SHA-256)", r_p256);
	printf("%-34s %10.1f %10.1f %8.2f %8.2f  %s\n", "snp reports verified", r_snp, r_p384, r_snp / r_p384, 0.90,
	       r_snp / r_p384 >= 0.90 ? "met" : "NOT met");
	printf("%-34s %10.1f %10.1f %8.2f %8.2f  %s\n", "tdx v4 quotes verified", r_tdx, dcap_bound, r_tdx / dcap_bound,
	       0.80, r_tdx / dcap_bound >= 0.80 ? "met" : "NOT met");
	printf("%-34s %10.1f %10.1f %8.2f %8.2f  %s\n", "sgx v3 quotes verified", r_sgx, dcap_bound, r_sgx / dcap_bound,
	       0.80, r_sgx / dcap_bound >= 0.80 ? "met" : "NOT met");
	printf("%-34s %10.1f\n", "raw nitro bound (1 ECDSA verify)", b_nitro);
	printf("%-34s %10.1f\n", "raw cca bound (2 ECDSA verifies)", b_cca);
	printf("%-34s %10.1f %10.1f %8.2f %8.2f  %s\n", "nitro documents verified", r_nitro, b_nitro, r_nitro / b_nitro,
	       0.80, r_nitro / b_nitro >= 0.80 ? "met" : "NOT met");
	printf("%-34s %10.1f %10.1f %8.2f %8.2f  %s\n", "cca tokens verified", r_cca, b_cca, r_cca / b_cca, 0.80,
	       r_cca / b_cca >= 0.80 ? "met" : "NOT met");
	printf("nitro bound: %s\ncca bound: %s\n", nitro_desc, cca_desc);

cleanup:
	vt_verifier_free(verifier);
	json_decref(snp.evidence);
	json_decref(tdx.evidence);
	json_decref(sgx.evidence);
	json_decref(nitro.evidence);
	json_decref(cca.evidence);
	raw_free(&nitro_raw);
	raw_free(&cca_raw);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_verify: could not remove %s\n", tmp);
	return 0;
}
