/* veritee audit verify: check an exported release log (docs/broker.md,
 * "Release log") against the broker's published token-signing key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/audit.h"
#include "cli/cli.h"
#include "veritee/client.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define MAX_LOG_FILE (1u << 30)
#define MAX_JWKS (1u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: veritee audit verify LOG --url URL [--cacert PEM]\n"
		"       veritee audit verify LOG --jwks FILE\n"
		"\n"
		"Checks a release log written by `veritee admin ... audit --out LOG`: every entry's hash,\n"
		"the chain of \"prev\" hashes, and that the last entry is the head the broker signed with\n"
		"its token-signing key.  The key comes from URL/.well-known/jwks.json, or from FILE (a JWKS\n"
		"saved earlier: offline, and independent of what the broker publishes now).\n"
		"Names the first bad entry.  Exit codes: 0 intact, 1 tampered, 2 usage or setup error.\n");
}

static json_t *load_json(const char *what, const char *path, size_t max)
{
	uint8_t *p = NULL;
	size_t n = 0;
	json_t *j = NULL;
	struct vt_err e = {0};
	if (vt_file_read(path, max, &p, &n, &e) != VT_OK || vt_json_parse((const char *)p, n, max, &j, &e) != VT_OK) {
		char buf[1024];
		vt_err_format(&e, buf, sizeof(buf));
		fprintf(stderr, "veritee audit: %s %s: %s\n", what, path, buf);
		j = NULL;
	}
	free(p);
	return j;
}

static json_t *fetch_jwks(const char *url, const char *cacert)
{
	struct vt_err e = {0};
	char *resp = NULL;
	int status = 0;
	json_t *j = NULL;
	if (vt_client_request(url, cacert, "GET", "/.well-known/jwks.json", NULL, NULL, 0, NULL, &status, &resp, &e) !=
	    VT_OK) {
		cli_err("audit", &e);
	} else if (status != 200) {
		fprintf(stderr, "veritee audit: GET %s/.well-known/jwks.json: HTTP %d\n", url, status);
	} else if (vt_json_parse(resp, strlen(resp), MAX_JWKS, &j, &e) != VT_OK) {
		cli_err("audit", &e);
		j = NULL;
	}
	free(resp);
	return j;
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "%lld", (long long)t);
}

static int verify(int argc, char **argv)
{
	static const struct option opts[] = {{"url", required_argument, 0, 'u'},
					     {"jwks", required_argument, 0, 'j'},
					     {"cacert", required_argument, 0, 'c'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *url = NULL, *jwks_path = NULL, *cacert = NULL;
	int c;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "audit verify", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'u': url = optarg; break;
		case 'j': jwks_path = optarg; break;
		case 'c': cacert = optarg; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (argc - optind != 1 || (url == NULL && jwks_path == NULL)) {
		usage(stderr);
		return CLI_ERROR;
	}
	const char *log_path = argv[optind];
	int ret = CLI_ERROR;
	json_t *log = load_json("log", log_path, MAX_LOG_FILE), *jwks = NULL;
	if (log == NULL)
		goto out;
	/* An offline JWKS wins: it is what the user chose to trust. */
	jwks = jwks_path ? load_json("JWKS", jwks_path, MAX_JWKS) : fetch_jwks(url, cacert);
	if (jwks == NULL)
		goto out;
	struct vt_audit_result res;
	struct vt_err e = {0};
	vt_status rc = vt_audit_verify(log, jwks, &res, &e);
	if (rc == VT_E_REJECTED) {
		if (res.bad_index >= 0)
			printf("TAMPERED: %s: first bad entry: index %ld, seq %lld: %s\n", log_path, res.bad_index,
			       (long long)res.bad_seq, res.why);
		else
			printf("TAMPERED: %s: signed head: %s\n", log_path, res.why);
		ret = CLI_REJECTED;
		goto out;
	}
	if (rc != VT_OK) {
		cli_err("audit", &e);
		goto out;
	}
	if (res.entries == 0 && res.head_seq == 0) {
		printf("OK: %s is an empty log with no signed head: it proves nothing\n", log_path);
	} else {
		char when[64];
		fmt_time(res.head_time, when, sizeof(when));
		if (res.entries == 0)
			printf("OK: %s holds no entries; the signed head is at seq %lld (%s, key %s)\n", log_path,
			       (long long)res.head_seq, when, res.head_kid);
		else
			printf("OK: %s: %zu entries, seq %lld..%lld, chained to the head signed at %s (seq %lld, key %s)\n",
			       log_path, res.entries, (long long)res.first_seq, (long long)res.last_seq, when,
			       (long long)res.head_seq, res.head_kid);
		if (res.checkpoint_seq > 0) {
			char pruned[64];
			fmt_time(res.checkpoint_time, pruned, sizeof(pruned));
			printf("note: the log starts after the broker's signed checkpoint at seq %lld (entries up to it were "
			       "pruned at %s); the first entry links to it\n",
			       (long long)res.checkpoint_seq, pruned);
		}
		if (res.prev_unchecked)
			printf("note: the log starts at seq %lld: what came before it is not checked (export with "
			       "--since 0 to check the whole chain)\n",
			       (long long)res.first_seq);
		printf("note: compare the head (seq %lld, %s) with a copy kept outside the broker: a log cut back to an "
		       "older signed head verifies too\n",
		       (long long)res.head_seq, when);
	}
	ret = CLI_OK;
out:
	json_decref(log);
	json_decref(jwks);
	return ret;
}

int cmd_audit(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return verify(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return CLI_OK;
	}
	usage(stderr);
	return CLI_ERROR;
}
