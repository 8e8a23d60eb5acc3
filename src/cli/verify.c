/* veritee verify: check evidence, print claims.  The TEEs, their input
 * formats and their options come from the registry's descriptors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/net.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee verify TEE EVIDENCE [--nonce HEX] [--at RFC3339] [--json] [TEE options]\n"
		   "\n"
		   "Verify evidence (a file; '-' = stdin) and print its claims.\n"
		   "Exit 0 verified, 1 rejected (the failing step is printed), 2 usage or internal error.\n"
		   "\n"
		   "  --nonce HEX       expected report data (up to 64 bytes; hardware reports compare it zero-\n"
		   "                    padded to 64, vTPM quotes exactly); without it the binding is NOT\n"
		   "                    checked and a warning says so\n"
		   "  --at TIME         verify as of this time (RFC 3339), default now\n"
		   "  --json            print the claims as JSON on stdout\n");
	for (size_t i = 0; vt_tee_at(i); i++) {
		const struct vt_tee *t = vt_tee_at(i);
		fprintf(f, "\n%s%s: %s\n", t->name, (t->flags & VT_TEE_INSECURE) ? " (INSECURE)" : "",
			t->summary ? t->summary : "");
		for (const struct vt_tee *const *u = t->uses; u && *u; u++)
			fprintf(f, "  (takes the options of %s)\n", (*u)->name);
		cli_teeopts_help(f, t->options);
	}
}

/* {tee: {its options}, used: {its options}...} from the flat options given. */
static json_t *tee_blocks(const struct vt_tee *t, const json_t *given, const char **stray)
{
	json_t *tees = json_object();
	const struct vt_tee *list[9] = {t};
	size_t nl = 1;
	for (const struct vt_tee *const *u = t->uses; u && *u && nl < 9; u++)
		list[nl++] = *u;
	for (size_t i = 0; tees && i < nl; i++) {
		json_t *b = json_object();
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)given, k, v) {
			if (cli_opt_declared(list[i]->options, k))
				json_object_set(b, k, v);
		}
		json_object_set_new(tees, list[i]->name, b);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)given, k, v) {
		bool used = false;
		for (size_t i = 0; i < nl; i++)
			used = used || cli_opt_declared(list[i]->options, k);
		if (!used)
			*stray = k;
	}
	return tees;
}

static void print_tcb(const json_t *claims)
{
	const char *tcb = json_string_value(json_object_get(claims, "tcb_status"));
	if (tcb == NULL) /* tdx / sgx: say how current the platform is */
		return;
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

int cmd_verify(int argc, char **argv)
{
	static const struct option fixed[] = {
		{"nonce", required_argument, 0, 'n'}, {"at", required_argument, 0, 'a'},
		{"json", no_argument, 0, 'j'},	      {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	to.n = 0;
	for (size_t i = 0; vt_tee_at(i); i++)
		cli_teeopts_add(&to, vt_tee_at(i)->options);
	cli_teeopts_finish(&to, fixed);

	const char *nonce = NULL, *at = NULL;
	bool json_out = false;
	json_t *given = json_object();
	int c, ret = CLI_ERROR;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", to.opts, NULL)) != -1) {
		if (c >= CLI_TEEOPT_BASE) {
			if (cli_teeopts_take(&to, c, given, "verify") != 0)
				goto out_given;
			continue;
		}
		switch (c) {
		case 'n': nonce = optarg; break;
		case 'a': at = optarg; break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout); ret = CLI_OK; goto out_given;
		default: usage(stderr); goto out_given;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		goto out_given;
	}
	const char *tee_name = argv[optind], *path = argv[optind + 1];
	const struct vt_tee *tee = vt_tee_find(tee_name);
	if (tee == NULL) {
		fprintf(stderr, "veritee verify: unknown tee \"%s\" (known: %s)\n", tee_name, vt_tee_names());
		goto out_given;
	}
	if (tee->cli_defaults)
		tee->cli_defaults(given);
	const char *stray = NULL;
	json_t *tees = tee_blocks(tee, given, &stray);
	if (stray != NULL) {
		char flag[64];
		cli_flag_name(stray, flag, sizeof(flag));
		fprintf(stderr, "veritee verify: --%s is not an option of tee %s (see veritee verify --help)\n", flag,
			tee->name);
		json_decref(tees);
		goto out_given;
	}

	struct vt_err e = {0};
	int64_t now = vt_now();
	uint8_t rd[64];
	struct vt_binding bind = {0};
	struct vt_verifier *v = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	json_t *ev = NULL, *claims = NULL;
	if (at && vt_time_parse_rfc3339(at, &now, &e) != VT_OK) {
		cli_err("verify", &e);
		goto out;
	}
	if (nonce) {
		if (cli_hex_arg("verify", "--nonce", nonce, rd, sizeof(rd), 0) != 0)
			goto out;
		bind.report_data = rd;
		bind.report_data_size = strlen(nonce) / 2; /* exact: az-*-vtpm compare without padding */
	} else {
		fprintf(stderr, "veritee verify: warning: no --nonce: the report data binding is not checked\n");
	}
	if (tee->flags & VT_TEE_INSECURE)
		fprintf(stderr, "veritee verify: note: %s evidence is INSECURE (simulated TEE)\n", tee->name);
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED, .http_get = vt_curl_http_get};
	if (vt_verifier_new(&vs, &v, &e) != VT_OK) {
		cli_err("verify", &e);
		goto out;
	}
	vt_status rc = strcmp(path, "-") == 0 ? vt_file_read("/dev/stdin", 16u << 20, &text, &len, &e)
					      : vt_file_read(path, 16u << 20, &text, &len, &e);
	if (rc != VT_OK) {
		cli_err("verify", &e);
		goto out;
	}
	if (tee->load_file != NULL)
		rc = tee->load_file(text, len, &ev, &e);
	else
		rc = vt_json_parse((const char *)text, len, 16u << 20, &ev, &e);
	if (rc == VT_OK)
		rc = vt_verifier_verify(v, tee, ev, &bind, now, NULL, &claims, &e);
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
	print_tcb(claims);
	const char *untrusted = tee->cli_untrusted ? tee->cli_untrusted(given) : NULL;
	if (untrusted != NULL) {
		fprintf(stderr, "veritee verify: NOT TRUSTED (%s): %s\n", tee->name, untrusted);
		ret = CLI_REJECTED;
		goto out;
	}
	fprintf(stderr, "veritee verify: verified (%s)\n", tee->name);
	ret = CLI_OK;
out:
	vt_verifier_free(v);
	free(text);
	json_decref(ev);
	json_decref(claims);
	json_decref(tees);
out_given:
	json_decref(given);
	return ret;
}
