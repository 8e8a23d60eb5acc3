/* veritee verify: check evidence, print claims. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/attester.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/snp.h"
#include "veritee/util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee verify TEE EVIDENCE [--nonce HEX] [--at RFC3339] [--json] [--sim-root PEM]\n"
		   "                      [--certs FILE|DIR] [--cache DIR] [--kds-url URL] [--offline]\n"
		   "                      [--collateral FILE|DIR] [--pccs-url URL] [--grace SECONDS]\n"
		   "                      [--gce-roots FILE|DIR]\n"
		   "\n"
		   "Verify evidence (a file holding the JSON 'veritee attest' prints; '-' = stdin).\n"
		   "snp also takes the raw 1184-byte report (optionally followed by its certificate\n"
		   "table), the report as hex text, or an Azure HCL report.\n"
		   "Exit 0 verified, 1 rejected (the failing step is printed), 2 usage or internal error.\n"
		   "\n"
		   "  --nonce HEX       expected report data (up to 64 bytes; hardware reports compare it zero-\n"
		   "                    padded to 64, vTPM quotes exactly); without it the\n"
		   "                    binding is NOT checked and a warning says so\n"
		   "  --at TIME         verify as of this time (RFC 3339), default now\n"
		   "  --json            print the claims as JSON on stdout\n"
		   "  --sim-root PEM    sim: the trusted sim root (default: the local sim directory's)\n"
		   "  --certs PATH      snp: a file or directory of PEM/DER certificates (VCEK/VLEK,\n"
		   "                    ASK/ASVK, ARK, CRL); only an ARK with a pinned fingerprint is trusted\n"
		   "  --cache DIR       snp: certificates fetched before (<DIR>/amd/<Product>/...); what is\n"
		   "                    fetched from AMD KDS is written there\n"
		   "  --kds-url URL     snp: AMD KDS base URL (default https://kdsintf.amd.com)\n"
		   "  --offline         snp: never contact AMD KDS\n"
		   "  --collateral PATH tdx/sgx: DCAP collateral, a dcap-qvl JSON bundle or a directory of\n"
		   "                    PCS responses (tcbinfo.json, qeidentity.json, *_issuer_chain.pem,\n"
		   "                    pckcrl.der, rootcrl.der)\n"
		   "  --pccs-url URL    tdx/sgx: without --collateral, fetch from this PCS/PCCS (default\n"
		   "                    Intel PCS); --cache keeps what was fetched, --offline uses only it\n"
		   "  --grace SECONDS   tdx/sgx: accept collateral this long past its nextUpdate (default 0)\n"
		   "  --gce-roots PATH  gce-vtpm: a file or directory of trusted Google vTPM root CA\n"
		   "                    certificates (PEM/DER; non-self-signed ones serve as intermediates);\n"
		   "                    gce-vtpm also takes the raw attestation protobuf (.pb)\n");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"nonce", required_argument, 0, 'n'},	{"at", required_argument, 0, 'a'},
		{"json", no_argument, 0, 'j'},		{"sim-root", required_argument, 0, 'r'},
		{"certs", required_argument, 0, 'C'},	{"cache", required_argument, 0, 'K'},
		{"kds-url", required_argument, 0, 'U'},	{"offline", no_argument, 0, 'O'},
		{"collateral", required_argument, 0, 'L'}, {"pccs-url", required_argument, 0, 'P'},
		{"grace", required_argument, 0, 'G'},	{"gce-roots", required_argument, 0, 'R'},
		{"help", no_argument, 0, 'h'},		{0, 0, 0, 0},
	};
	const char *nonce = NULL, *at = NULL, *root_path = NULL, *gce_roots = NULL;
	bool json_out = false;
	struct vt_snp_sources snp_src = {0};
	struct vt_dcap_sources dcap_src = {0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': nonce = optarg; break;
		case 'a': at = optarg; break;
		case 'j': json_out = true; break;
		case 'r': root_path = optarg; break;
		case 'C': snp_src.certs_path = optarg; break;
		case 'K': snp_src.cache_dir = optarg; break;
		case 'U': snp_src.kds_url = optarg; break;
		case 'O': snp_src.offline = true; break;
		case 'L': dcap_src.collateral_path = optarg; break;
		case 'P': dcap_src.pccs_url = optarg; break;
		case 'R': gce_roots = optarg; break;
		case 'G': {
			char *end = NULL;
			long long g = strtoll(optarg, &end, 10);
			if (end == optarg || *end != '\0' || g < 0) {
				fprintf(stderr, "veritee verify: --grace takes a number of seconds >= 0\n");
				return CLI_ERROR;
			}
			dcap_src.grace_seconds = (int64_t)g;
			break;
		}
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return CLI_ERROR;
	}
	const char *tee_name = argv[optind], *path = argv[optind + 1];
	const struct vt_tee *tee = vt_tee_find(tee_name);
	if (tee == NULL) {
		fprintf(stderr, "veritee verify: unknown tee \"%s\" (known: %s)\n", tee_name, vt_tee_names());
		return CLI_ERROR;
	}
	struct vt_err e = {0};
	dcap_src.cache_dir = snp_src.cache_dir; /* --cache and --offline are shared with snp */
	dcap_src.offline = snp_src.offline;
	struct vt_verify_ctx ctx = {.now = vt_now(), .snp = &snp_src, .dcap = &dcap_src, .gce_roots = gce_roots};
	if (at && vt_time_parse_rfc3339(at, &ctx.now, &e) != VT_OK) {
		cli_err("verify", &e);
		return CLI_ERROR;
	}
	uint8_t rd[64];
	struct vt_binding bind = {0};
	if (nonce) {
		if (cli_hex_arg("verify", "--nonce", nonce, rd, sizeof(rd), 0) != 0)
			return CLI_ERROR;
		bind.report_data = rd;
		bind.report_data_size = strlen(nonce) / 2; /* exact: az-*-vtpm compare without padding */
	} else {
		fprintf(stderr, "veritee verify: warning: no --nonce: the report data binding is not checked\n");
	}
	int ret = CLI_ERROR;
	X509 *root = NULL;
	uint8_t *text = NULL;
	size_t n = 0;
	json_t *ev = NULL, *claims = NULL;
	char *defroot = NULL;
	if (tee->insecure) {
		if (root_path == NULL) {
			char *dir = vt_sim_default_dir();
			if (dir && asprintf(&defroot, "%s/sim-root.pem", dir) < 0)
				defroot = NULL;
			free(dir);
			root_path = defroot;
		}
		fprintf(stderr, "veritee verify: note: %s evidence is INSECURE (simulated TEE)\n", tee->name);
		if (root_path == NULL || vt_x509_load(root_path, &root, &e) != VT_OK) {
			cli_err("verify", &e);
			goto out;
		}
		ctx.sim_root_insecure = root;
	}
	vt_status rc = strcmp(path, "-") == 0 ? vt_file_read("/dev/stdin", 16u << 20, &text, &n, &e)
					      : vt_file_read(path, 16u << 20, &text, &n, &e);
	if (rc != VT_OK) {
		cli_err("verify", &e);
		goto out;
	}
	if (tee->load_file != NULL)
		rc = tee->load_file(text, n, &ev, &e);
	else
		rc = vt_json_parse((const char *)text, n, 16u << 20, &ev, &e);
	if (rc == VT_OK)
		rc = tee->verify(&ctx, ev, &bind, &claims, &e);
	if (rc != VT_OK) {
		fprintf(stderr, "veritee verify: REJECTED at step %s%s%s: %s\n", vt_step_name(e.step),
			e.field[0] ? ", field " : "", e.field, e.detail);
		ret = cli_exit_code(rc);
		goto out;
	}
	if (json_out) {
		char *s = json_dumps(claims, JSON_INDENT(2));
		printf("%s\n", s ? s : "{}");
		free(s);
	}
	const char *tcb = json_string_value(json_object_get(claims, "tcb_status"));
	if (tcb != NULL) { /* tdx / sgx: say how current the platform is */
		fprintf(stderr, "veritee verify: TCB status %s", tcb);
		json_t *ids = json_object_get(claims, "advisory_ids"), *id;
		size_t i;
		json_array_foreach (ids, i, id)
			fprintf(stderr, "%s%s", i == 0 ? ", advisories " : ",", json_string_value(id));
		const char *exp = json_string_value(json_object_get(claims, "collateral_expiration_status"));
		if (exp != NULL && strcmp(exp, "1") == 0)
			fprintf(stderr, " (collateral past nextUpdate, accepted within --grace)");
		fprintf(stderr, "\n");
	}
	fprintf(stderr, "veritee verify: verified (%s)\n", tee->name);
	ret = CLI_OK;
out:
	free(defroot);
	free(text);
	json_decref(ev);
	json_decref(claims);
	X509_free(root);
	return ret;
}
