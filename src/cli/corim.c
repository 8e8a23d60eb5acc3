/* veritee corim: inspect a (signed) CoRIM and the reference values it yields
 * (docs/corim.md).  `veritee admin ... import-corim` stores them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/corim.h"
#include "veritee/json.h"
#include "veritee/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: veritee corim show CORIM --signer KEY [--at RFC3339] [--json]\n"
		"       veritee corim show CORIM --unsigned [--at RFC3339] [--json]\n"
		"\n"
		"Verifies a signed CoRIM (COSE_Sign1, tag 18, around an unsigned CoRIM, tag 501) with the\n"
		"signer's public key, checks its validity, and prints the reference values it yields under\n"
		"the names the default policies use (docs/corim.md).  Exit 0 verified, 1 rejected, 2 error.\n"
		"\n"
		"  --signer KEY     the CoRIM signer's public key: PEM public key or certificate, or a JWK\n"
		"  --at TIME        check validity at this time (RFC 3339), default now\n"
		"  --unsigned       also show an unsigned CoRIM (tag 501) or a bare CoMID; such documents\n"
		"                   are never imported (`veritee admin ... import-corim` refuses them)\n"
		"  --json           print JSON\n");
}

int cli_corim_load(const char *cmd, const char *path, const char *signer, const char *at, bool allow_unsigned,
		   struct vt_corim **out)
{
	struct vt_err e = {0};
	uint8_t *data = NULL;
	size_t n = 0;
	EVP_PKEY *key = NULL;
	int64_t now = vt_now();
	int ret = CLI_ERROR;
	*out = NULL;
	if (at != NULL && vt_time_parse_rfc3339(at, &now, &e) != VT_OK) {
		fprintf(stderr, "veritee %s: --at: not an RFC 3339 time: %s\n", cmd, at);
		return CLI_ERROR;
	}
	if (signer != NULL && vt_corim_signer_load(signer, &key, &e) != VT_OK) {
		cli_err(cmd, &e);
		return CLI_ERROR;
	}
	if (vt_file_read(path, VT_CORIM_MAX_SIZE, &data, &n, &e) != VT_OK) {
		cli_err(cmd, &e);
		goto out;
	}
	struct vt_corim_opts o = {.signer = key, .now = now, .allow_unsigned = allow_unsigned};
	vt_status rc = vt_corim_load(data, n, &o, out, &e);
	if (rc != VT_OK) {
		char buf[1024];
		vt_err_format(&e, buf, sizeof(buf));
		fprintf(stderr, "veritee %s: CoRIM %s REJECTED: %s\n", cmd, path, buf);
		ret = rc == VT_E_USAGE ? CLI_ERROR : cli_exit_code(rc);
		goto out;
	}
	ret = CLI_OK;
out:
	free(data);
	EVP_PKEY_free(key);
	return ret;
}

static const char *alg_name(int64_t alg)
{
	return alg == -7 ? "ES256" : alg == -35 ? "ES384" : alg == -36 ? "ES512" : "?";
}

static void print_validity(const char *what, const struct vt_corim_validity *v)
{
	char a[40] = "-", b[40] = "-";
	if (!v->has_not_before && !v->has_not_after)
		return;
	if (v->has_not_before)
		vt_time_format_rfc3339(v->not_before, a, sizeof(a));
	if (v->has_not_after)
		vt_time_format_rfc3339(v->not_after, b, sizeof(b));
	printf("%-11s%s .. %s\n", what, a, b);
}

static void print_text(const struct vt_corim *c, int64_t now)
{
	char t[40];
	printf("CoRIM      %s%s%s (%s)\n", c->id ? "\"" : "", c->id ? c->id : "(bare CoMID)", c->id ? "\"" : "", c->form);
	printf("profile    %s\n", c->profile ? c->profile : "(none)");
	if (c->verified)
		printf("signature  %s, verified with the given key%s%s%s\n", alg_name(c->alg), c->kid ? " (kid " : "",
		       c->kid ? c->kid : "", c->kid ? ")" : "");
	else
		printf("signature  NONE: unsigned, shown with --unsigned only; never imported\n");
	if (c->signer_name || c->signer_uri)
		printf("signer     %s%s%s%s\n", c->signer_name ? c->signer_name : "", c->signer_uri ? " <" : "",
		       c->signer_uri ? c->signer_uri : "", c->signer_uri ? ">" : "");
	print_validity("valid", &c->signature_validity);
	print_validity("rim valid", &c->rim_validity);
	vt_time_format_rfc3339(now, t, sizeof(t));
	printf("checked at %s\n", t);
	printf("CoMIDs     %zu\n", c->comids);
	size_t nv = 0;
	const char *name;
	json_t *list;
	json_object_foreach(c->values, name, list) nv += json_array_size(list);
	printf("\nreference values: %zu name%s, %zu value%s\n", json_object_size(c->values),
	       json_object_size(c->values) == 1 ? "" : "s", nv, nv == 1 ? "" : "s");
	/* Sorted by name, so that the output is stable. */
	const char **names = calloc(json_object_size(c->values) + 1, sizeof(*names));
	size_t k = 0;
	json_object_foreach(c->values, name, list) if (names) names[k++] = name;
	for (size_t i = 1; names && i < k; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *tmp = names[j];
			names[j] = names[j - 1];
			names[j - 1] = tmp;
		}
	for (size_t i = 0; names && i < k; i++) {
		list = json_object_get(c->values, names[i]);
		json_t *src = json_object_get(c->sources, names[i]);
		printf("  %s\n", names[i]);
		for (size_t j = 0; j < json_array_size(src); j++)
			printf("      from %s\n", json_string_value(json_array_get(src, j)));
		for (size_t j = 0; j < json_array_size(list); j++) {
			json_t *v = json_array_get(list, j);
			if (json_is_string(v))
				printf("    %s\n", json_string_value(v));
			else
				printf("    %lld\n", (long long)json_integer_value(v));
		}
	}
	free(names);
	if (json_array_size(c->notes) > 0) {
		printf("\nnot imported / notes:\n");
		for (size_t i = 0; i < json_array_size(c->notes); i++)
			printf("  - %s\n", json_string_value(json_array_get(c->notes, i)));
		if (c->notes_dropped)
			printf("  - ... and %zu more\n", c->notes_dropped);
	}
}

int cmd_corim(int argc, char **argv)
{
	static const struct option opts[] = {
		{"signer", required_argument, 0, 's'}, {"at", required_argument, 0, 'a'},
		{"unsigned", no_argument, 0, 'u'},     {"json", no_argument, 0, 'j'},
		{"help", no_argument, 0, 'h'},	       {0, 0, 0, 0},
	};
	const char *signer = NULL, *at = NULL;
	bool json_out = false, allow_unsigned = false;
	int c;
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "show") != 0) {
		usage(stderr);
		return CLI_ERROR;
	}
	argc--;
	argv++;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "corim show", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 's': signer = optarg; break;
		case 'a': at = optarg; break;
		case 'u': allow_unsigned = true; break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return CLI_ERROR;
	}
	if (signer == NULL && !allow_unsigned) {
		fprintf(stderr, "veritee corim show: --signer KEY is required (or --unsigned to inspect an unsigned CoRIM)\n");
		return CLI_ERROR;
	}
	int64_t now = vt_now();
	struct vt_err e = {0};
	if (at != NULL && vt_time_parse_rfc3339(at, &now, &e) != VT_OK) {
		fprintf(stderr, "veritee corim show: --at: not an RFC 3339 time: %s\n", at);
		return CLI_ERROR;
	}
	struct vt_corim *cr = NULL;
	int ret = cli_corim_load("corim show", argv[optind], signer, at, allow_unsigned, &cr);
	if (ret != CLI_OK)
		return ret;
	if (json_out) {
		json_t *j = vt_corim_to_json(cr);
		char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		if (s == NULL) {
			fprintf(stderr, "veritee corim show: out of memory\n");
			ret = CLI_ERROR;
		} else {
			printf("%s\n", s);
		}
		free(s);
		json_decref(j);
	} else {
		print_text(cr, now);
	}
	vt_corim_free(cr);
	return ret;
}
