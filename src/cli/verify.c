/* veritee verify: check evidence and say what it shows.  The TEEs, their
 * input formats and their options come from the registry's descriptors.
 * The output and exit-code contract is docs/cli.md: plain text names the
 * TEE, the key claims and the verdict in a sentence; --json prints exactly
 * one object, on success and on failure; exit 0 verified, 1 evidence
 * rejected, 2 usage or setup error. */
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
		   "Verify evidence (a file; '-' = stdin) and say what it shows: the TEE, its key claims\n"
		   "(measurement, TCB, debug and policy flags, signing key) and the verdict.\n"
		   "Exit 0 verified, 1 evidence rejected (the failing step is named), 2 usage or setup\n"
		   "error (missing file, no collateral or certificates, network).  See docs/cli.md.\n"
		   "\n"
		   "  --nonce HEX       expected report data (up to 64 bytes; hardware reports compare it zero-\n"
		   "                    padded to 64, vTPM quotes exactly); without it the binding is NOT\n"
		   "                    checked and a warning says so\n"
		   "  --at TIME         verify as of this time (RFC 3339), default now\n"
		   "  --json            print one JSON object on stdout, on success and on failure:\n"
		   "                    {\"verified\", \"tee\", \"at\", \"claims\" | \"error\": {\"step\", \"field\", \"detail\"}}\n"
		   "  --accept-tcb-status LIST   Intel TEEs: accept only these TCB statuses (comma-separated,\n"
		   "                    e.g. UpToDate,SWHardeningNeeded); another status is a rejection\n"
		   "  --min-tcb SPEC    snp: the lowest reported TCB accepted, e.g. bootloader=4,tee=0,snp=22,\n"
		   "                    microcode=213; Intel: the oldest TCB level date accepted, YYYY-MM-DD\n");
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

/* ------------------------------------------------------------ output */

struct run {
	bool json;
	const char *tee;      /* as named on the command line (NULL before) */
	const char *path;     /* the evidence file */
	char at[32];          /* RFC 3339 */
	json_t *warnings;     /* [string] */
};

static void warn(struct run *r, const char *msg)
{
	json_array_append_new(r->warnings, json_string(msg));
	if (!r->json)
		fprintf(stderr, "veritee verify: warning: %s\n", msg);
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", s ? s : "{}");
	free(s);
}

/* kind: "rejected" (exit 1), "setup" or "usage" (exit 2); label: the
 * verdict's first words in text (NULL: REJECTED / CANNOT VERIFY). */
static int fail_as(struct run *r, const char *kind, const char *label, const char *step, const char *field,
		   const char *detail, const char *hint, json_t *claims, json_t *tcb)
{
	int code = strcmp(kind, "rejected") == 0 ? CLI_REJECTED : CLI_ERROR;
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "tee", r->tee ? json_string(r->tee) : json_null());
		json_object_set_new(o, "at", r->at[0] ? json_string(r->at) : json_null());
		json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "step", step, "field", field ? field : "", "detail",
				      detail ? detail : "", "kind", kind);
		if (hint)
			json_object_set_new(e, "hint", json_string(hint));
		json_object_set_new(o, "error", e);
		if (tcb)
			json_object_set(o, "tcb", tcb);
		if (claims)
			json_object_set(o, "claims", claims);
		json_object_set(o, "warnings", r->warnings);
		json_object_set_new(o, "exit_code", json_integer(code));
		print_json(o);
		json_decref(o);
		return code;
	}
	if (claims && r->tee) {
		printf("veritee verify: %s evidence\n", r->tee);
		cli_explain_claims(stdout, r->tee, claims);
		cli_tcb_print(stdout, tcb);
	}
	if (strcmp(step, "usage") == 0) {
		fprintf(stderr, "veritee verify: %s\n", detail ? detail : "usage error");
		if (hint)
			fprintf(stderr, "veritee verify: hint: %s\n", hint);
		return code;
	}
	fprintf(stderr, "veritee verify: %s%s%s%s at step %s%s%s: %s\n",
		label ? label : code == CLI_REJECTED ? "REJECTED" : "CANNOT VERIFY", r->tee ? " (" : "",
		r->tee ? r->tee : "", r->tee ? ")" : "", step, field && field[0] ? ", field " : "", field ? field : "",
		detail ? detail : "");
	if (hint)
		fprintf(stderr, "veritee verify: hint: %s\n", hint);
	return code;
}

static int fail(struct run *r, const char *kind, const char *step, const char *field, const char *detail,
		const char *hint, json_t *claims, json_t *tcb)
{
	return fail_as(r, kind, NULL, step, field, detail, hint, claims, tcb);
}

static int fail_err(struct run *r, const struct vt_err *e, vt_status rc, const char *hint)
{
	const char *kind = cli_exit_code(rc) == CLI_REJECTED ? "rejected" : "setup";
	/* Collateral (missing, stale, malformed, for another platform) and
	 * configuration are a setup problem, not a verdict on the evidence. */
	if (e->step == VT_STEP_COLLATERAL || (rc == VT_E_PARSE && e->step == VT_STEP_CONFIG))
		kind = "setup";
	if (rc == VT_E_LIMIT && e->step == VT_STEP_PARSE)
		kind = "rejected";
	return fail(r, kind, vt_step_name(e->step), e->field, e->detail, hint, NULL, NULL);
}

static int usage_fail(struct run *r, const char *fmt, ...) VT_PRINTF(2, 3);
static int usage_fail(struct run *r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fail(r, "usage", "usage", "", buf, "see veritee verify --help", NULL, NULL);
}

/* What to try next after a failure (NULL: nothing to add). */
static const char *hint_for(const struct run *r, const struct vt_err *e, char *buf, size_t n)
{
	if (e->step == VT_STEP_COLLATERAL && cli_tee_is_snp(r->tee)) {
		snprintf(buf, n,
			 "give the VCEK/VLEK with --certs FILE (AMD's ARK/ASK/ASVK are built in), let veritee ask AMD "
			 "KDS (without --offline), or prepare a cache elsewhere with `veritee fetch snp %s --out DIR` "
			 "and verify with --cache DIR --offline",
			 r->path);
		return buf;
	}
	if (e->step == VT_STEP_COLLATERAL && cli_tee_is_dcap(r->tee)) {
		snprintf(buf, n,
			 "give Intel's collateral with --collateral FILE|DIR, let veritee fetch it from Intel PCS or a "
			 "PCCS (--pccs-url URL, without --offline), or prepare it elsewhere with `veritee fetch %s %s "
			 "--out DIR` and verify with --cache DIR --offline",
			 strcmp(r->tee, "az-tdx-vtpm") == 0 ? "tdx" : r->tee, r->path);
		return buf;
	}
	if ((e->step == VT_STEP_CONFIG || e->step == VT_STEP_IO) && strcmp(r->tee, "sim") == 0) {
		snprintf(buf, n, "run `veritee attest --tee sim ...` once to create the sim keys, or give --root PEM");
		return buf;
	}
	if (e->step == VT_STEP_CONFIG && strcmp(r->tee, "gce-vtpm") == 0) {
		snprintf(buf, n, "give Google's vTPM EK/AK roots with --gce-roots FILE|DIR");
		return buf;
	}
	return NULL;
}

/* The evidence did not parse: say what the file looks like when we can. */
static int parse_fail(struct run *r, const uint8_t *text, size_t len, const struct vt_err *e, vt_status rc)
{
	char what[512], hint[1024];
	bool not_evidence = false;
	const char *guess = cli_sniff(text, len, what, sizeof(what), &not_evidence);
	if (guess != NULL && strcmp(guess, r->tee) != 0) {
		snprintf(hint, sizeof(hint), "this looks like %s; try `veritee verify %s %s`", what, guess, r->path);
		return fail(r, "usage", vt_step_name(e->step), e->field, e->detail, hint, NULL, NULL);
	}
	if (guess != NULL && (strncmp(what, "base64 text", 11) == 0 || strncmp(what, "hex text", 8) == 0)) {
		snprintf(hint, sizeof(hint), "this looks like %s; decode it first, e.g. `%s %s > evidence.bin` and "
					     "`veritee verify %s evidence.bin`",
			 what, what[0] == 'b' ? "base64 -d" : "xxd -r -p", r->path, guess);
		return fail(r, "usage", vt_step_name(e->step), e->field, e->detail, hint, NULL, NULL);
	}
	if (not_evidence) {
		snprintf(hint, sizeof(hint), "this looks like %s", what);
		return fail(r, "usage", vt_step_name(e->step), e->field, e->detail, hint, NULL, NULL);
	}
	return fail_err(r, e, rc, NULL);
}

static int success(struct run *r, const json_t *claims, json_t *tcb, bool nonce_checked)
{
	char sentence[512];
	cli_verdict_sentence(sentence, sizeof(sentence), r->tee, claims, nonce_checked);
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "verified", json_true());
		json_object_set_new(o, "tee", json_string(r->tee));
		json_object_set_new(o, "at", json_string(r->at));
		json_object_set_new(o, "nonce_checked", json_boolean(nonce_checked));
		json_object_set_new(o, "verdict", json_string(sentence));
		if (tcb)
			json_object_set(o, "tcb", tcb);
		json_object_set(o, "warnings", r->warnings);
		json_object_set(o, "claims", (json_t *)claims);
		print_json(o);
		json_decref(o);
		return CLI_OK;
	}
	printf("veritee verify: %s evidence\n", r->tee);
	cli_explain_claims(stdout, r->tee, claims);
	cli_tcb_print(stdout, tcb);
	printf("VERIFIED: %s\n", sentence);
	return CLI_OK;
}

/* ------------------------------------------------------------ command */

int cmd_verify(int argc, char **argv)
{
	static const struct option fixed[] = {
		{"nonce", required_argument, 0, 'n'},
		{"at", required_argument, 0, 'a'},
		{"json", no_argument, 0, 'j'},
		{"help", no_argument, 0, 'h'},
		{"accept-tcb-status", required_argument, 0, 'S'},
		{"min-tcb", required_argument, 0, 'M'},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	to.n = 0;
	for (size_t i = 0; vt_tee_at(i); i++)
		cli_teeopts_add(&to, vt_tee_at(i)->options);
	cli_teeopts_finish(&to, fixed);

	struct run r = {.warnings = json_array()};
	/* --json decides how even an argument error is reported. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		r.json = r.json || strcmp(argv[i], "--json") == 0;
	const char *nonce = NULL, *at = NULL, *accept = NULL, *min_tcb = NULL;
	json_t *given = json_object(), *tees = NULL, *ev = NULL, *claims = NULL, *tcb = NULL;
	struct vt_verifier *v = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	int c, ret = CLI_ERROR;
	struct cli_seen seen = {0};
	char msg[1024];
	optind = 1;
	opterr = r.json ? 0 : 1;
	while ((c = cli_getopt(argc, argv, "h", to.opts, NULL, &seen, NULL)) != -1) {
		if (c == CLI_OPT_REPEATED) {
			ret = usage_fail(&r, "%s given twice", seen.repeated);
			goto out;
		}
		if (c >= CLI_TEEOPT_BASE) {
			if (cli_teeopts_take(&to, c, given, NULL) != 0) {
				ret = usage_fail(&r, "--%s given twice", to.names[c - CLI_TEEOPT_BASE]);
				goto out;
			}
			continue;
		}
		switch (c) {
		case 'n': nonce = optarg; break;
		case 'a': at = optarg; break;
		case 'j': break;
		case 'S': accept = optarg; break;
		case 'M': min_tcb = optarg; break;
		case 'h': usage(stdout); ret = CLI_OK; goto out;
		default: /* getopt said which option (unless --json silenced it) */
			ret = usage_fail(&r, "unknown option or missing argument: %s",
					 optind > 0 && optind <= argc ? argv[optind - 1] : "?");
			goto out;
		}
	}
	if (argc - optind != 2) {
		ret = usage_fail(&r, "want TEE and EVIDENCE, %d argument%s given", argc - optind,
				 argc - optind == 1 ? "" : "s");
		goto out;
	}
	r.tee = argv[optind];
	r.path = argv[optind + 1];
	struct vt_err e = {0};
	int64_t now = vt_now();
	if (at && vt_time_parse_rfc3339(at, &now, &e) != VT_OK) {
		ret = usage_fail(&r, "--at %s: %s", at, e.detail);
		goto out;
	}
	vt_time_format_rfc3339(now, r.at, sizeof(r.at));
	const struct vt_tee *tee = vt_tee_find(r.tee);
	if (tee == NULL) {
		const char *name = r.tee;
		r.tee = NULL;
		ret = usage_fail(&r, "unknown tee \"%s\" (known: %s)", name, vt_tee_names());
		goto out;
	}
	if (cli_tcb_policy_check_args(tee->name, accept, min_tcb, &e) != VT_OK) {
		ret = usage_fail(&r, "%s", e.detail);
		goto out;
	}
	if (tee->cli_defaults)
		tee->cli_defaults(given);
	const char *stray = NULL;
	tees = tee_blocks(tee, given, &stray);
	if (stray != NULL) {
		char flag[64];
		cli_flag_name(stray, flag, sizeof(flag));
		ret = usage_fail(&r, "--%s is not an option of tee %s", flag, tee->name);
		goto out;
	}

	uint8_t rd[64];
	struct vt_binding bind = {0};
	if (nonce) {
		if (cli_hex_arg(NULL, "--nonce", nonce, rd, sizeof(rd), 0) != 0) { /* usage_fail says it */
			ret = usage_fail(&r, "--nonce must be at most 64 bytes of hex");
			goto out;
		}
		bind.report_data = rd;
		bind.report_data_size = strlen(nonce) / 2; /* exact: az-*-vtpm compare without padding */
	} else {
		warn(&r, "no --nonce: the report data binding is not checked");
	}
	if (tee->flags & VT_TEE_INSECURE)
		warn(&r, "simulated TEE: INSECURE, the evidence proves nothing about hardware");
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED, .http_get = vt_curl_http_get};
	if (vt_verifier_new(&vs, &v, &e) != VT_OK) {
		ret = fail(&r, "setup", vt_step_name(e.step), e.field, e.detail, hint_for(&r, &e, msg, sizeof(msg)), NULL,
			   NULL);
		goto out;
	}
	vt_status rc = vt_file_read(strcmp(r.path, "-") == 0 ? "/dev/stdin" : r.path, 16u << 20, &text, &len, &e);
	if (rc != VT_OK) {
		ret = fail(&r, "setup", "io", "EVIDENCE", e.detail, NULL, NULL, NULL);
		goto out;
	}
	if (tee->load_file != NULL)
		rc = tee->load_file(text, len, &ev, &e);
	else
		rc = vt_json_parse((const char *)text, len, 16u << 20, &ev, &e);
	if (rc != VT_OK) {
		ret = parse_fail(&r, text, len, &e, rc);
		goto out;
	}
	rc = vt_verifier_verify(v, tee, ev, &bind, now, NULL, &claims, &e);
	if (rc != VT_OK) {
		if (e.step == VT_STEP_PARSE)
			ret = parse_fail(&r, text, len, &e, rc);
		else
			ret = fail_err(&r, &e, rc, hint_for(&r, &e, msg, sizeof(msg)));
		goto out;
	}
	tcb = cli_tcb_explain(tee->name, claims);
	const char *untrusted = tee->cli_untrusted ? tee->cli_untrusted(given) : NULL;
	if (untrusted != NULL) {
		ret = fail_as(&r, "rejected", "NOT TRUSTED", "chain", "ak_public", untrusted, NULL, claims, tcb);
		goto out;
	}
	rc = cli_tcb_policy(tee->name, claims, accept, min_tcb, &e);
	if (rc != VT_OK) {
		ret = rc == VT_E_USAGE ? fail(&r, "usage", "usage", e.field, e.detail, NULL, NULL, NULL)
				       : fail(&r, "rejected", vt_step_name(e.step), e.field, e.detail, NULL, claims, tcb);
		goto out;
	}
	ret = success(&r, claims, tcb, nonce != NULL);
out:
	vt_verifier_free(v);
	free(text);
	json_decref(ev);
	json_decref(claims);
	json_decref(tcb);
	json_decref(tees);
	json_decref(given);
	json_decref(r.warnings);
	return ret;
}
