/* Command-line options that come from descriptors (TEE verifiers and
 * attesters): `--name` for option "name" ('_' -> '-'), collected once. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/evidence.h"

void cli_flag_name(const char *opt, char *out, size_t n)
{
	snprintf(out, n, "%s", opt);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = '-';
}

void cli_teeopts_add(struct cli_teeopts *t, const struct vt_tee_option *list)
{
	for (const struct vt_tee_option *o = list; o && o->name; o++) {
		bool seen = false;
		for (size_t k = 0; k < t->n && !seen; k++)
			seen = strcmp(t->defs[k]->name, o->name) == 0;
		if (seen || t->n >= CLI_MAX_TEEOPTS)
			continue;
		t->defs[t->n] = o;
		cli_flag_name(o->name, t->names[t->n], sizeof(t->names[0]));
		t->opts[t->n] = (struct option){t->names[t->n], o->metavar ? required_argument : no_argument, 0,
						CLI_TEEOPT_BASE + (int)t->n};
		t->n++;
	}
}

void cli_teeopts_finish(struct cli_teeopts *t, const struct option *fixed)
{
	size_t n = t->n;
	for (const struct option *f = fixed; f && f->name && n < CLI_MAX_TEEOPTS + CLI_MAX_FIXED; f++)
		t->opts[n++] = *f;
	t->opts[n] = (struct option){0, 0, 0, 0};
}

int cli_teeopts_take(struct cli_teeopts *t, int c, json_t *given, const char *cmd)
{
	const struct vt_tee_option *o = t->defs[c - CLI_TEEOPT_BASE];
	if (json_object_get(given, o->name) != NULL) {
		if (cmd != NULL)
			fprintf(stderr, "veritee %s: --%s given twice\n", cmd, t->names[c - CLI_TEEOPT_BASE]);
		return -1;
	}
	json_object_set_new(given, o->name, o->metavar ? json_string(optarg) : json_true());
	return 0;
}

void cli_teeopts_help(FILE *f, const struct vt_tee_option *list)
{
	for (const struct vt_tee_option *o = list; o && o->name; o++) {
		char flag[64], left[96];
		cli_flag_name(o->name, flag, sizeof(flag));
		snprintf(left, sizeof(left), "--%s%s%s", flag, o->metavar ? " " : "", o->metavar ? o->metavar : "");
		fprintf(f, "  %-24s %s\n", left, o->help);
	}
}

bool cli_opt_declared(const struct vt_tee_option *list, const char *name)
{
	for (const struct vt_tee_option *o = list; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return true;
	return false;
}

int cli_once(const char *cmd, const char *flag, const char **slot, const char *value)
{
	if (*slot != NULL) {
		fprintf(stderr, "veritee %s: %s given twice\n", cmd, flag);
		return 1;
	}
	*slot = value;
	return 0;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts, const char *cmd,
	       struct cli_seen *seen, const int *repeatable)
{
	int li = -1;
	int c = getopt_long(argc, argv, shortopts, opts, &li);
	if (c == -1 || c == '?' || c == ':' || c >= CLI_TEEOPT_BASE)
		return c;
	if (li < 0) /* a short option: its long twin */
		for (int i = 0; opts[i].name && li < 0; i++)
			if (opts[i].flag == NULL && opts[i].val == c)
				li = i;
	if (li < 0 || (size_t)li >= sizeof(seen->count) || opts[li].has_arg == no_argument)
		return c;
	for (const int *r = repeatable; r && *r; r++)
		if (*r == c)
			return c;
	if (seen->count[li]++ == 0)
		return c;
	snprintf(seen->repeated, sizeof(seen->repeated), "--%s", opts[li].name);
	if (cmd != NULL)
		fprintf(stderr, "veritee %s: %s given twice\n", cmd, seen->repeated);
	return CLI_OPT_REPEATED;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}
