/* veritee get-resource: the guest side of the KBS flow. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "veritee/client.h"
#include "veritee/kbs.h"
#include "veritee/util.h"

/* Attested TLS to the broker (ratls.c). */
struct vt_ratls_verify_opts;
int cli_ratls_opts(const char *cmd, const char *policy_path, const char *sim_root, const struct vt_ratls_verify_opts **out);
void cli_ratls_opts_free(const struct vt_ratls_verify_opts *o);

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee get-resource URL kbs:///REPO/TYPE/TAG --tee TEE [options]\n"
		   "\n"
		   "Attest to the broker at URL (auth -> attest -> resource) and print the released\n"
		   "secret on stdout, or write it to --out (mode 0600).  On refusal, the broker's\n"
		   "explanation is printed on stderr and the exit code is 1.\n"
		   "\n"
		   "  --tee TEE            the TEE to attest as (its attester's options below)\n"
		   "  --out FILE           write the secret here (0600) instead of stdout\n"
		   "  --token-out FILE     also save the attestation token (EAR JWT)\n"
		   "  --cacert PEM         CA bundle that signs the broker's HTTPS certificate\n"
		   "  --rsa                use an RSA-3072 TEE key (RSA-OAEP-256) instead of P-256\n"
		   "  --init-data FILE     send this init-data TOML (its digest must be the TEE's init-data\n"
		   "                       field; the sim attester is launched with it)\n"
		   "  --device TEE[:OPT=V,...]  also send device evidence from that attester (composite\n"
		   "                       evidence; repeatable), e.g. --device sim-gpu:count=2\n"
		   "  --gpu                the same as --device nvidia (NVIDIA GPUs through NVML)\n"
		   "  --policy-selector ID ask for the broker's attestation policy set ID\n"
		   "  --ratls-policy P     attested TLS: the broker's HTTPS certificate must be an RA-TLS\n"
		   "                       certificate whose evidence verifies and policy P allows (the\n"
		   "                       broker runs in a TEE); refused otherwise, exit 1\n"
		   "  --ratls-insecure-sim-root PEM   with --ratls-policy: accept a broker in the INSECURE sim TEE\n");
	cli_attesters_help(f);
}

/* --device TEE[:OPT=VALUE,...]: a device attester and its options. */
static int add_device(json_t *devices, const char *arg)
{
	const char *colon = strchr(arg, ':');
	char *name = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
	json_t *opts = json_object();
	int bad = name == NULL || opts == NULL;
	if (!bad && json_object_get(devices, name) != NULL) {
		fprintf(stderr, "veritee get-resource: --device %s given twice (use count= for several devices)\n", name);
		bad = 1;
	}
	for (const char *p = colon ? colon + 1 : NULL; !bad && p && *p;) {
		const char *end = strchr(p, ','), *eq = strchr(p, '=');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *kv = strndup(p, len);
		char *e = kv ? strchr(kv, '=') : NULL;
		if (e == NULL || eq == NULL || e == kv) {
			fprintf(stderr, "veritee get-resource: --device %s: options are OPT=VALUE, comma-separated\n", arg);
			bad = 1;
		} else {
			*e = '\0';
			json_object_set_new(opts, kv, json_string(e + 1));
		}
		free(kv);
		p = end ? end + 1 : NULL;
	}
	if (!bad && cli_attester_check("get-resource", name, opts) != 0)
		bad = 1;
	if (!bad)
		json_object_set_new(devices, name, opts);
	else
		json_decref(opts);
	free(name);
	return bad;
}

int cmd_get_resource(int argc, char **argv)
{
	static const struct option fixed[] = {
		{"tee", required_argument, 0, 't'},	  {"out", required_argument, 0, 'o'},
		{"token-out", required_argument, 0, 'T'}, {"cacert", required_argument, 0, 'c'},
		{"rsa", no_argument, 0, 'R'},		  {"help", no_argument, 0, 'h'},
		{"init-data", required_argument, 0, 'I'}, {"device", required_argument, 0, 'D'},
		{"gpu", no_argument, 0, 'G'},		  {"policy-selector", required_argument, 0, 'P'},
		{"ratls-policy", required_argument, 0, 'Q'}, {"ratls-insecure-sim-root", required_argument, 0, 'S'},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	cli_attesters_opts(&to, fixed);
	struct vt_client_opts o = {0};
	const char *out_path = NULL, *token_path = NULL, *ratls_policy = NULL, *ratls_root = NULL;
	json_t *given = json_object(), *devices = json_object();
	const char *init_path = NULL;
	int c, bad = 0;
	struct cli_seen seen = {0};
	static const int repeatable[] = {'D', 0}; /* --device: one per attester, checked by add_device */
	optind = 1;
	while ((c = cli_getopt(argc, argv, "ho:", to.opts, "get-resource", &seen, repeatable)) != -1) {
		if (c == CLI_OPT_REPEATED) {
			bad = 1;
			continue;
		}
		if (c >= CLI_TEEOPT_BASE) {
			if (cli_teeopts_take(&to, c, given, "get-resource") != 0) {
				json_decref(given);
				return CLI_ERROR;
			}
			continue;
		}
		switch (c) {
		case 't': o.tee = optarg; break;
		case 'o': out_path = optarg; break;
		case 'T': token_path = optarg; break;
		case 'c': o.cacert = optarg; break;
		case 'R': o.rsa = true; break;
		case 'Q': ratls_policy = optarg; break;
		case 'S': ratls_root = optarg; break;
		case 'I': init_path = optarg; break;
		case 'D': bad |= add_device(devices, optarg); break;
		case 'G': bad |= add_device(devices, "nvidia"); break;
		case 'P': o.policy_selector = optarg; break;
		case 'h': usage(stdout); json_decref(given); json_decref(devices); return CLI_OK;
		default: usage(stderr); json_decref(given); json_decref(devices); return CLI_ERROR;
		}
	}
	char *init_text = NULL;
	if (!bad && init_path) {
		uint8_t *bytes = NULL;
		size_t n = 0;
		struct vt_err ie = {0};
		if (vt_file_read(init_path, VT_TOML_MAX, &bytes, &n, &ie) != VT_OK) {
			cli_err("get-resource: --init-data", &ie);
			bad = 1;
		} else if ((init_text = strndup((const char *)bytes, n)) == NULL || strlen(init_text) != n) {
			fprintf(stderr, "veritee get-resource: --init-data %s: not a text file\n", init_path);
			bad = 1;
		}
		free(bytes);
	}
	if (bad) {
		free(init_text);
		json_decref(given);
		json_decref(devices);
		return CLI_ERROR;
	}
	o.init_data = init_text;
	o.devices = devices;
	o.attest_options = given;
	if ((o.tee != NULL && cli_attester_check("get-resource", o.tee, given) != 0) || argc - optind != 2 ||
	    o.tee == NULL) {
		if (argc - optind != 2 || o.tee == NULL)
			usage(stderr);
		json_decref(given);
		json_decref(devices);
		free(init_text);
		return CLI_ERROR;
	}
	o.url = argv[optind];
	const char *uri = argv[optind + 1];
	static const char scheme[] = "kbs:///";
	if (strncmp(uri, scheme, sizeof(scheme) - 1) != 0) {
		fprintf(stderr, "veritee get-resource: resource must be kbs:///REPO/TYPE/TAG\n");
		json_decref(given);
		json_decref(devices);
		free(init_text);
		return CLI_ERROR;
	}
	struct vt_secret *secret = NULL;
	struct vt_client_refusal refusal;
	struct vt_err e = {0};
	char *token = NULL;
	if ((ratls_policy || ratls_root) &&
	    (ratls_policy == NULL || cli_ratls_opts("get-resource", ratls_policy, ratls_root, &o.ratls) != CLI_OK)) {
		if (ratls_policy == NULL)
			fprintf(stderr, "veritee get-resource: --ratls-insecure-sim-root needs --ratls-policy\n");
		json_decref(given);
		json_decref(devices);
		free(init_text);
		return CLI_ERROR;
	}
	vt_status rc = vt_client_get_resource(&o, uri + sizeof(scheme) - 1, &secret, &token, &refusal, &e);
	cli_ratls_opts_free(o.ratls);
	if (rc != VT_OK && !refusal.http_status && e.field[0] && strcmp(e.field, "ratls") == 0) {
		cli_err("get-resource", &e); /* the broker's evidence was refused: exit 1 */
		json_decref(given);
		json_decref(devices);
		free(init_text);
		return CLI_REJECTED;
	}
	json_decref(given);
	json_decref(devices);
	free(init_text);
	if (rc != VT_OK) {
		if (refusal.http_status)
			fprintf(stderr, "veritee get-resource: refused at %s: HTTP %d %s: %s\n", refusal.stage,
				refusal.http_status, refusal.type, refusal.detail);
		else
			cli_err("get-resource", &e);
		return refusal.http_status ? CLI_REJECTED : CLI_ERROR;
	}
	int ret = CLI_OK;
	if (token_path && vt_file_write(token_path, token, strlen(token), 0600, &e) != VT_OK) {
		cli_err("get-resource", &e);
		ret = CLI_ERROR;
	}
	if (ret == CLI_OK && out_path) {
		if (vt_file_write(out_path, secret->data, secret->len, 0600, &e) != VT_OK) {
			cli_err("get-resource", &e);
			ret = CLI_ERROR;
		}
	} else if (ret == CLI_OK) {
		if (fwrite(secret->data, 1, secret->len, stdout) != secret->len || fflush(stdout) != 0)
			ret = CLI_ERROR;
	}
	vt_secret_free(secret);
	free(token);
	return ret;
}
