/*
 * veritee fetch snp|tdx|sgx EVIDENCE --out DIR: prepare, on a machine with
 * network, the certificates and collateral that verifying EVIDENCE needs,
 * in the cache layout `veritee verify ... --cache DIR --offline` reads
 * (docs/cli.md).  The same fetchers as verification (src/evidence/snp/kds.c,
 * src/evidence/dcap/fetch.c) do the requests and write the files; here every
 * item is tried, each one gets a progress line, and everything missing is
 * listed at the end.  Nothing fetched is trusted here: `verify` checks it.
 *
 *   snp   the VCEK of the report's chip and reported TCB, and the CRL (AMD's
 *         ARK/ASK/ASVK are built into veritee).  A VLEK cannot be fetched:
 *         AMD KDS gives VLEKs to cloud providers only.
 *   tdx,  TCB Info and QE Identity for the FMSPC of the PCK certificate the
 *   sgx   quote carries, the PCK CRL of its CA, the Root CA CRL.  The PCK
 *         chain itself comes with the quote.
 *
 * Exit 0 everything fetched; 1 the evidence does not parse; 2 usage, or an
 * item could not be fetched (all of them listed).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "evidence/dcap/fetch.h"
#include "evidence/snp/sources.h"
#include "veritee/dcap.h"
#include "veritee/fetch.h"
#include "veritee/json.h"
#include "veritee/net.h"
#include "veritee/snp.h"
#include "veritee/util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee fetch snp|tdx|sgx EVIDENCE --out DIR [--timeout SECONDS] [--json] [options]\n"
		   "\n"
		   "Fetch what verifying EVIDENCE needs (AMD KDS, Intel PCS or a PCCS) into DIR, in the cache\n"
		   "layout `veritee verify TEE EVIDENCE --cache DIR --offline` reads, e.g. on a machine with\n"
		   "network for a verifier without.  Every item is tried; what is missing is listed at the end.\n"
		   "\n"
		   "  --out DIR          the cache directory (created; what it already holds and is still\n"
		   "                     current is kept)\n"
		   "  --timeout SECONDS  give up on a request after this long, retries included (default 30)\n"
		   "  --json             print {\"tee\", \"out\", \"items\": [{\"what\", \"url\", \"ok\", \"error\"}], \"verify\"}\n"
		   "\n"
		   "snp: the VCEK for the report's chip and reported TCB, and AMD's CRL (AMD's ARK/ASK/ASVK are\n"
		   "built into veritee; a VLEK cannot be fetched: AMD gives VLEKs to cloud providers only)\n"
		   "  --kds-url URL      AMD KDS base URL (default https://kdsintf.amd.com)\n"
		   "  --product NAME     Milan, Genoa or Turin, for a version 2 report (which does not name it)\n"
		   "\n"
		   "tdx, sgx: TCB Info and QE Identity for the FMSPC of the quote's PCK certificate, the PCK CRL\n"
		   "and Intel's Root CA CRL (the PCK certificate chain comes with the quote)\n"
		   "  --pccs-url URL     Intel PCS or a PCCS (default Intel PCS)\n"
		   "\n"
		   "Exit 0 everything fetched, 1 the evidence does not parse, 2 usage error or something could not\n"
		   "be fetched.\n");
}

struct fetch_run {
	bool json;
	const char *tee, *path, *out;
	json_t *items; /* [{what, url, ok, error}] */
	size_t missing, total;
	const uint8_t *text; /* the evidence file */
	size_t len;
};

/* The evidence is not what the TEE named takes: say what it looks like.
 * Returns the exit code (2 when it is evidence of another TEE, else 1). */
static int not_evidence(const struct fetch_run *r, const char *detail)
{
	char what[512];
	bool not_ev = false;
	const char *guess = cli_sniff(r->text, r->len, what, sizeof(what), &not_ev);
	fprintf(stderr, "veritee fetch: %s: %s\n", r->path, detail);
	if (guess != NULL && strcmp(guess, r->tee) != 0) {
		fprintf(stderr, "veritee fetch: hint: this looks like %s; try `veritee verify %s %s`\n", what, guess,
			r->path);
		return CLI_ERROR;
	}
	if (not_ev) {
		fprintf(stderr, "veritee fetch: hint: this looks like %s\n", what);
		return CLI_ERROR;
	}
	return CLI_REJECTED;
}

static void item(struct fetch_run *r, const char *what, const char *url, const char *error, const char *note)
{
	r->total++;
	if (error)
		r->missing++;
	json_array_append_new(r->items, json_pack("{s:s, s:s?, s:b, s:s?, s:s?}", "what", what, "url", url, "ok",
						  error == NULL, "error", error, "note", note));
	if (r->json)
		return;
	if (error)
		fprintf(stderr, "veritee fetch: %s: MISSING: %s\n", what, error);
	else if (note)
		fprintf(stderr, "veritee fetch: %s: ok (%s)\n", what, note);
	else
		fprintf(stderr, "veritee fetch: %s: ok\n", what);
}

static void progress_line(const struct fetch_run *r, int i, int n, const char *what, const char *url)
{
	if (!r->json)
		fprintf(stderr, "veritee fetch: [%d/%d] %s from %s ...\n", i, n, what, url);
}

/* ------------------------------------------------------------ snp */

static int report_of(const json_t *ev, uint8_t raw[VT_SNP_REPORT_SIZE], struct vt_snp_report *rep, struct vt_err *e)
{
	const json_t *ar = json_object_get(ev, "attestation_report");
	vt_status rc;
	if (json_is_object(ar)) {
		rc = vt_snp_report_from_json(ar, raw, e);
	} else {
		const char *b64 = json_string_value(json_object_get(ev, "report"));
		uint8_t *d = NULL;
		size_t n = 0;
		rc = b64 ? vt_b64_decode(b64, strlen(b64), &d, &n, e)
			 : vt_fail(e, VT_E_PARSE, VT_STEP_PARSE, "evidence", "no report in the evidence");
		if (rc == VT_OK && n < VT_SNP_REPORT_SIZE)
			rc = vt_fail(e, VT_E_PARSE, VT_STEP_PARSE, "report", "%zu bytes, a report is %u", n, VT_SNP_REPORT_SIZE);
		if (rc == VT_OK)
			memcpy(raw, d, VT_SNP_REPORT_SIZE);
		free(d);
	}
	if (rc == VT_OK)
		rc = vt_snp_report_parse(raw, VT_SNP_REPORT_SIZE, false, rep, e);
	return rc;
}

static int fetch_snp(struct fetch_run *r, const json_t *ev, const char *kds, const char *product_name,
		     struct vt_fetch_gate *gate)
{
	uint8_t raw[VT_SNP_REPORT_SIZE];
	struct vt_snp_report rep;
	struct vt_err e = {0};
	if (report_of(ev, raw, &rep, &e) != VT_OK)
		return not_evidence(r, e.detail);
	vt_snp_product product = rep.version >= 3 ? vt_snp_product_from_cpuid(rep.cpuid_fam_id, rep.cpuid_mod_id)
						  : VT_SNP_PRODUCT_UNKNOWN;
	if (product_name != NULL) {
		vt_snp_product p = snp_product_from_name(product_name, strlen(product_name));
		if (p == VT_SNP_PRODUCT_UNKNOWN) {
			fprintf(stderr, "veritee fetch: --product must be Milan, Genoa or Turin\n");
			return CLI_ERROR;
		}
		if (product != VT_SNP_PRODUCT_UNKNOWN && p != product) {
			fprintf(stderr, "veritee fetch: the report names its product (%s), not %s\n",
				vt_snp_product_name(product), product_name);
			return CLI_ERROR;
		}
		product = p;
	}
	bool vlek = ((rep.key_info >> 2) & 7u) == VT_SNP_SIGNING_KEY_VLEK;
	struct vt_snp_sources src = {.kds_url = kds, .cache_dir = r->out, .gate = gate, .http_get = vt_curl_http_get};
	char url[512];
	const char *base = kds ? kds : "https://kdsintf.amd.com";
	if (product == VT_SNP_PRODUCT_UNKNOWN) {
		item(r, vlek ? "VLEK" : "VCEK", NULL,
		     "the product is unknown: a version 2 report does not name it; give --product Milan|Genoa|Turin", NULL);
		item(r, "CRL", NULL, "the product is unknown (see above)", NULL);
		return CLI_ERROR;
	}
	const char *pname = vt_snp_product_name(product);
	struct snp_pool pool;
	memset(&pool, 0, sizeof(pool));
	/* the VEK */
	if (vlek) {
		item(r, "VLEK", NULL,
		     "AMD KDS gives VLEKs to cloud providers only: take it from the guest's extended report "
		     "(certificate table) or from your provider, and give it to verify with --certs",
		     NULL);
	} else {
		struct snp_needs needs = {.vcek = true};
		char *path = snp_cache_vcek_path(r->out, product, &rep);
		snprintf(url, sizeof(url), "%s/vcek/v1/%s/<chip id>", base, pname);
		progress_line(r, 1, 2, "VCEK", url);
		vt_err_clear(&e);
		vt_status rc = snp_kds_fetch(&pool, &src, NULL, product, &rep, false, &needs, &e);
		item(r, "VCEK", url, rc == VT_OK ? NULL : e.detail, rc == VT_OK ? path : NULL);
		free(path);
	}
	/* the CRL (AMD may not publish one: a 404 is not an error) */
	struct snp_needs needs = {.crl = true};
	snprintf(url, sizeof(url), "%s/%s/v1/%s/crl", base, vlek ? "vlek" : "vcek", pname);
	progress_line(r, 2, 2, "CRL", url);
	vt_err_clear(&e);
	vt_status rc = snp_kds_fetch(&pool, &src, NULL, product, &rep, vlek, &needs, &e);
	char *crl = snp_cache_product_file(r->out, product, vlek ? "vlek_crl.der" : "crl.der");
	struct stat st;
	bool have = crl != NULL && stat(crl, &st) == 0;
	item(r, "CRL", url, rc == VT_OK ? NULL : e.detail, rc != VT_OK ? NULL : have ? crl : "not published by KDS (404)");
	free(crl);
	snp_pool_free(&pool);
	return r->missing ? CLI_ERROR : CLI_OK;
}

/* ------------------------------------------------------------ tdx, sgx */

static void dcap_progress(void *ctx, int i, int n, const char *what, const char *url, const vt_status *rc,
			  const struct vt_err *err)
{
	struct fetch_run *r = ctx;
	if (rc == NULL)
		progress_line(r, i + 1, n, what, url);
	else
		item(r, what, url, *rc == VT_OK ? NULL : err->detail, NULL);
}

static int fetch_dcap(struct fetch_run *r, const json_t *ev, bool tdx, const char *pccs, struct vt_fetch_gate *gate)
{
	struct vt_err e = {0};
	uint8_t *quote = NULL;
	size_t qn = 0;
	struct vt_dcap_quote q;
	int ret = CLI_REJECTED;
	const char *b64 = json_string_value(json_object_get(ev, "quote"));
	if (b64 == NULL || vt_b64_decode(b64, strlen(b64), &quote, &qn, &e) != VT_OK ||
	    vt_dcap_quote_parse(quote, qn, &q, &e) != VT_OK) {
		ret = not_evidence(r, e.detail[0] ? e.detail : "no quote");
		goto out;
	}
	if ((q.tee_type == VT_DCAP_TEE_TDX) != tdx) {
		fprintf(stderr, "veritee fetch: %s is an %s quote; try `veritee fetch %s %s --out %s`\n", r->path,
			tdx ? "SGX" : "TDX", tdx ? "sgx" : "tdx", r->path, r->out);
		ret = CLI_ERROR;
		goto out;
	}
	ret = CLI_ERROR;
	if (q.cert_data_type != 5) {
		item(r, "PCK certificate chain", NULL,
		     "the quote does not carry its PCK certificate chain (certification data type is not 5): "
		     "the FMSPC cannot be read",
		     NULL);
		goto out;
	}
	/* The PCK chain from the quote: its leaf names the FMSPC and the CA. */
	BIO *bio = BIO_new_mem_buf(q.cert_data, (int)q.cert_data_size);
	X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	struct vt_pck_ext pck;
	if (leaf == NULL || vt_pck_ext_parse(leaf, &pck, &e) != VT_OK) {
		item(r, "PCK certificate chain", NULL, "the quote's PCK certificate does not parse", NULL);
		X509_free(leaf);
		goto out;
	}
	char cn[128] = "";
	X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, cn, (int)sizeof(cn));
	X509_free(leaf);
	const char *ca = strstr(cn, "Processor") != NULL ? "processor" : "platform";
	char *fm = vt_hex_encode(pck.fmspc, 6);
	char note[160];
	snprintf(note, sizeof(note), "in the quote: FMSPC %s, PCK %s CA", fm ? fm : "?", ca);
	free(fm);
	item(r, "PCK certificate chain", NULL, NULL, note);
	struct vt_dcap_sources src = {.pccs_url = pccs, .cache_dir = r->out, .gate = gate, .http_get = vt_curl_http_get};
	(void)vt_dcap_fetch_each(&src, tdx, pck.fmspc, ca, vt_now(), dcap_progress, r, &e);
	ret = r->missing ? CLI_ERROR : CLI_OK;
out:
	free(quote);
	return ret;
}

/* ------------------------------------------------------------ command */

int cmd_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, 0, 'o'},	 {"timeout", required_argument, 0, 't'},
		{"kds-url", required_argument, 0, 'k'},	 {"pccs-url", required_argument, 0, 'p'},
		{"product", required_argument, 0, 'P'}, {"json", no_argument, 0, 'j'},
		{"help", no_argument, 0, 'h'},		 {0, 0, 0, 0},
	};
	struct fetch_run r = {.items = json_array()};
	const char *kds = NULL, *pccs = NULL, *product = NULL, *timeout_s = NULL;
	struct cli_seen seen = {0};
	int c, ret = CLI_ERROR;
	json_t *ev = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	struct vt_fetch_gate *gate = NULL;
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "fetch", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: goto out;
		case 'o': r.out = optarg; break;
		case 't': timeout_s = optarg; break;
		case 'k': kds = optarg; break;
		case 'p': pccs = optarg; break;
		case 'P': product = optarg; break;
		case 'j': r.json = true; break;
		case 'h': usage(stdout); ret = CLI_OK; goto out;
		default: usage(stderr); goto out;
		}
	}
	if (argc - optind != 2 || r.out == NULL) {
		fprintf(stderr, "veritee fetch: want TEE EVIDENCE --out DIR (see veritee fetch --help)\n");
		goto out;
	}
	r.tee = argv[optind];
	r.path = argv[optind + 1];
	bool snp = strcmp(r.tee, "snp") == 0, tdx = strcmp(r.tee, "tdx") == 0, sgx = strcmp(r.tee, "sgx") == 0;
	if (!snp && !tdx && !sgx) {
		fprintf(stderr, "veritee fetch: fetching is for snp, tdx and sgx, not \"%s\" (the other TEEs need no "
				"collateral from a vendor service)\n",
			r.tee);
		goto out;
	}
	if ((snp && pccs) || (!snp && (kds || product))) {
		fprintf(stderr, "veritee fetch: %s is not an option of %s\n", snp ? "--pccs-url" : kds ? "--kds-url" : "--product",
			r.tee);
		goto out;
	}
	long timeout = 30;
	if (timeout_s) {
		char *end = NULL;
		timeout = strtol(timeout_s, &end, 10);
		if (end == timeout_s || *end != '\0' || timeout < 1 || timeout > 3600) {
			fprintf(stderr, "veritee fetch: --timeout wants 1..3600 seconds\n");
			goto out;
		}
	}
	if ((kds && strncmp(kds, "http", 4) != 0) || (pccs && strncmp(pccs, "http", 4) != 0)) {
		fprintf(stderr, "veritee fetch: the service URL must be http(s)\n");
		goto out;
	}
	struct vt_err e = {0};
	if (vt_file_read(strcmp(r.path, "-") == 0 ? "/dev/stdin" : r.path, 16u << 20, &text, &len, &e) != VT_OK) {
		cli_err("fetch", &e);
		goto out;
	}
	const struct vt_tee *tee = vt_tee_find(r.tee);
	r.text = text;
	r.len = len;
	if (tee->load_file(text, len, &ev, &e) != VT_OK) {
		ret = not_evidence(&r, e.detail);
		goto out;
	}
	if (mkdir(r.out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "veritee fetch: cannot create %s: %s\n", r.out, strerror(errno));
		goto out;
	}
	struct vt_fetch_gate_settings gs;
	vt_fetch_gate_defaults(&gs);
	gs.timeout_ms = timeout * 1000;
	gs.per_client_per_minute = 0;
	gs.negative_ttl = 0;
	if (vt_fetch_gate_new(&gs, &gate, &e) != VT_OK) {
		cli_err("fetch", &e);
		goto out;
	}
	ret = snp ? fetch_snp(&r, ev, kds, product, gate) : fetch_dcap(&r, ev, tdx, pccs, gate);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "veritee verify %s %s --cache %s --offline", r.tee, r.path, r.out);
	if (r.json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:I, s:s}", "tee", r.tee, "evidence", r.path, "out", r.out,
				      "items", r.items, "missing", (json_int_t)r.missing, "verify", cmd);
		char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	} else if (r.total > 0) {
		if (r.missing == 0) {
			printf("fetched everything %s needs into %s; verify offline with:\n  %s\n", r.path, r.out, cmd);
		} else {
			printf("%zu of %zu items missing:\n", r.missing, r.total);
			size_t i;
			json_t *it;
			json_array_foreach(r.items, i, it) {
				if (!json_is_true(json_object_get(it, "ok")))
					printf("  - %s: %s\n", json_string_value(json_object_get(it, "what")),
					       json_string_value(json_object_get(it, "error")));
			}
		}
	}
out:
	vt_fetch_gate_free(gate);
	json_decref(ev);
	free(text);
	json_decref(r.items);
	return ret;
}
