/* veritee attest: produce evidence on stdout.  The attesters and their
 * options come from the attester table (src/attester/attesters.def). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/attester.h"
#include "veritee/json.h"

/* The attesters' options and their help (shared with get-resource). */
void cli_attesters_help(FILE *f)
{
	for (size_t i = 0; vt_attester_at(i); i++) {
		const struct vt_attester *a = vt_attester_at(i);
		fprintf(f, "\n--tee %s: %s\n", a->name, a->summary ? a->summary : "");
		cli_teeopts_help(f, a->options);
	}
}

void cli_attesters_opts(struct cli_teeopts *to, const struct option *fixed)
{
	to->n = 0;
	for (size_t i = 0; vt_attester_at(i); i++)
		cli_teeopts_add(to, vt_attester_at(i)->options);
	cli_teeopts_finish(to, fixed);
}

/* Keep only the options of `tee`'s attester; say which one does not fit. */
int cli_attester_check(const char *cmd, const char *tee, const json_t *given)
{
	const struct vt_attester *a = vt_attester_find(tee);
	if (a == NULL) {
		fprintf(stderr, "veritee %s: no attester for tee \"%s\" (attesters:", cmd, tee);
		for (size_t i = 0; vt_attester_at(i); i++)
			fprintf(stderr, " %s", vt_attester_at(i)->name);
		fprintf(stderr, ")\n");
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)given, k, v) {
		if (!cli_opt_declared(a->options, k)) {
			char flag[64];
			cli_flag_name(k, flag, sizeof(flag));
			fprintf(stderr, "veritee %s: --%s is not an option of the %s attester\n", cmd, flag, tee);
			return -1;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee attest --tee TEE --report-data HEX [TEE options]\n"
		   "\n"
		   "Produce evidence binding REPORT-DATA (up to 64 bytes, hex) and print its JSON.\n");
	cli_attesters_help(f);
}

int cmd_attest(int argc, char **argv)
{
	static const struct option fixed[] = {
		{"tee", required_argument, 0, 't'},
		{"report-data", required_argument, 0, 'r'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	cli_attesters_opts(&to, fixed);
	const char *tee = NULL, *rdhex = NULL;
	uint8_t rd[64] = {0};
	json_t *given = json_object(), *ev = NULL;
	int c, ret = CLI_ERROR;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", to.opts, "attest", &seen, NULL)) != -1) {
		if (c == CLI_OPT_REPEATED)
			goto out;
		if (c >= CLI_TEEOPT_BASE) {
			if (cli_teeopts_take(&to, c, given, "attest") != 0)
				goto out;
			continue;
		}
		switch (c) {
		case 't': tee = optarg; break;
		case 'r': rdhex = optarg; break;
		case 'h': usage(stdout); ret = CLI_OK; goto out;
		default: usage(stderr); goto out;
		}
	}
	if (tee == NULL || rdhex == NULL || optind != argc) {
		usage(stderr);
		goto out;
	}
	if (cli_attester_check("attest", tee, given) != 0 ||
	    cli_hex_arg("attest", "--report-data", rdhex, rd, sizeof(rd), 0) != 0)
		goto out;
	struct vt_err e = {0};
	if (vt_attest_with(tee, given, rd, &ev, &e) != VT_OK) {
		cli_err("attest", &e);
		goto out;
	}
	char *s = json_dumps(ev, JSON_INDENT(2));
	printf("%s\n", s ? s : "");
	free(s);
	if (vt_attester_find(tee)->insecure)
		fprintf(stderr, "veritee attest: note: %s evidence is INSECURE (signed by a local key)\n", tee);
	ret = CLI_OK;
out:
	json_decref(ev);
	json_decref(given);
	return ret;
}
