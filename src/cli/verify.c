/* veritee verify: check evidence, print claims. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/attester.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee verify TEE EVIDENCE [--nonce HEX] [--at RFC3339] [--json] [--sim-root PEM]\n"
		   "\n"
		   "Verify evidence (a file holding the JSON 'veritee attest' prints; '-' = stdin).\n"
		   "Exit 0 verified, 1 rejected (the failing step is printed), 2 usage or internal error.\n"
		   "\n"
		   "  --nonce HEX       expected report data (up to 64 bytes, zero-padded); without it the\n"
		   "                    binding is NOT checked and a warning says so\n"
		   "  --at TIME         verify as of this time (RFC 3339), default now\n"
		   "  --json            print the claims as JSON on stdout\n"
		   "  --sim-root PEM    sim: the trusted sim root (default: the local sim directory's)\n");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"nonce", required_argument, 0, 'n'},	{"at", required_argument, 0, 'a'},
		{"json", no_argument, 0, 'j'},		{"sim-root", required_argument, 0, 'r'},
		{"help", no_argument, 0, 'h'},		{0, 0, 0, 0},
	};
	const char *nonce = NULL, *at = NULL, *root_path = NULL;
	bool json_out = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': nonce = optarg; break;
		case 'a': at = optarg; break;
		case 'j': json_out = true; break;
		case 'r': root_path = optarg; break;
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
	struct vt_verify_ctx ctx = {.now = vt_now()};
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
		bind.report_data_size = sizeof(rd);
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
