/*
 * veritee ratls cert | connect | serve, and veritee verify ratls: attested
 * TLS from the command line (docs/ratls.md).
 *
 * Exit codes: 0 verified, 1 refused (the failing step is printed), 2 usage
 * or setup error (a file, a network failure before any certificate).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "cli/cli.h"
#include "veritee/attester.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/net.h"
#include "veritee/policy.h"
#include "veritee/ratls.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

/* Registered in main.c, which declares them too. */
int cmd_ratls(int argc, char **argv);
int cmd_verify_ratls(int argc, char **argv);

#define IO_TIMEOUT_S	      30
#define SERVE_MAX_CONNECTIONS 64

/* ------------------------------------------------------------ verifier side */

/* What a verifying command was given (options of the TEEs' verifiers, the
 * policy, ...) and what it built from them. */
struct vside {
	json_t *given; /* TEE options as given, flat {name: value} */
	const char *policy_path, *refvals_path, *sim_root, *at;
	bool no_legacy;
	struct vt_verifier *v;
	struct vt_policy *policy;
	json_t *refvals;
	struct vt_ratls_verify_opts o;
};

static json_t *refval_lookup(void *ctx, const char *name)
{
	json_t *v = json_object_get(ctx, name);
	return v ? json_incref(v) : NULL;
}

/* Is `name` an option of some TEE's verifier / of some attester? */
static bool verifier_option(const char *name)
{
	for (size_t i = 0; vt_tee_at(i); i++)
		if (cli_opt_declared(vt_tee_at(i)->options, name))
			return true;
	return false;
}

static bool attester_option(const char *name)
{
	for (size_t i = 0; vt_attester_at(i); i++)
		if (cli_opt_declared(vt_attester_at(i)->options, name))
			return true;
	return false;
}

/*
 * Build the verifier: every TEE gets the given options it declares.  With
 * `tee_hint` (verify ratls: the certificate's TEE) only that TEE, its
 * local defaults applied, and for sgx/tdx without collateral the TCB is not
 * evaluated (said on stderr).  Without it (connect, serve): every TEE that
 * is not insecure, and sim only with --insecure-sim-root.
 */
static int vside_setup(struct vside *s, const char *cmd, const char *tee_hint)
{
	struct vt_err e = {0};
	json_t *tees = json_object();
	int ret = CLI_ERROR;
	if (s->given == NULL)
		s->given = json_object();
	if (s->sim_root)
		json_object_set_new(s->given, "root", json_string(s->sim_root));
	/* tee_hint "": a certificate without usable evidence, refused at parse: no TEE at all */
	const struct vt_tee *hint = tee_hint ? vt_tee_find(tee_hint) : NULL;
	if (hint != NULL && hint->cli_defaults)
		hint->cli_defaults(s->given);
	if (hint != NULL && (strcmp(hint->name, "sgx") == 0 || strcmp(hint->name, "tdx") == 0) &&
	    json_object_get(s->given, "collateral") == NULL && json_object_get(s->given, "pccs_url") == NULL &&
	    json_object_get(s->given, "tcb_unevaluated_insecure") == NULL) {
		json_object_set_new(s->given, "tcb_unevaluated_insecure", json_true());
		fprintf(stderr,
			"veritee %s: note: no --collateral: the TCB status is NOT evaluated (quote, QE report "
			"and PCK chain are checked; revocation and TCB level are not)\n",
			cmd);
	}
	for (size_t i = 0; vt_tee_at(i); i++) {
		const struct vt_tee *t = vt_tee_at(i);
		if (hint != NULL && t != hint)
			continue;
		json_t *b = json_object();
		const char *k;
		json_t *val;
		json_object_foreach (s->given, k, val) {
			if (cli_opt_declared(t->options, k))
				json_object_set(b, k, val);
		}
		if (json_object_size(b) > 0 || t == hint)
			json_object_set(tees, t->name, b);
		json_decref(b);
	}
	if (hint != NULL && hint->flags & VT_TEE_INSECURE)
		fprintf(stderr, "veritee %s: note: %s evidence is INSECURE (simulated TEE)\n", cmd, hint->name);
	struct vt_verifier_settings vs = {
		.tees = tees, .flags = tee_hint ? VT_VERIFIER_ONLY_NAMED : 0, .http_get = vt_curl_http_get};
	if (vt_verifier_new(&vs, &s->v, &e) != VT_OK) {
		cli_err(cmd, &e);
		goto out;
	}
	if (s->policy_path) {
		uint8_t *text = NULL;
		size_t n = 0;
		vt_status rc = vt_file_read(s->policy_path, VT_POLICY_MAX_TEXT, &text, &n, &e);
		if (rc == VT_OK)
			rc = vt_policy_parse((const char *)text, n, &s->policy, &e);
		free(text);
		if (rc != VT_OK) {
			fprintf(stderr, "veritee %s: --policy %s: ", cmd, s->policy_path);
			cli_err(cmd, &e);
			goto out;
		}
	}
	if (s->refvals_path) {
		uint8_t *text = NULL;
		size_t n = 0;
		vt_status rc = vt_file_read(s->refvals_path, 16u << 20, &text, &n, &e);
		if (rc == VT_OK)
			rc = vt_json_parse((const char *)text, n, 16u << 20, &s->refvals, &e);
		free(text);
		if (rc == VT_OK && !json_is_object(s->refvals))
			rc = vt_fail(&e, VT_E_USAGE, VT_STEP_CONFIG, "reference-values",
				     "not a JSON object {name: value}");
		if (rc != VT_OK) {
			cli_err(cmd, &e);
			goto out;
		}
	}
	s->o.verifier = s->v;
	s->o.policy = s->policy;
	s->o.refvals = s->refvals ? refval_lookup : NULL;
	s->o.refctx = s->refvals;
	s->o.allow_legacy = !s->no_legacy;
	if (s->at && vt_time_parse_rfc3339(s->at, &s->o.at, &e) != VT_OK) {
		cli_err(cmd, &e);
		goto out;
	}
	if (s->policy == NULL)
		fprintf(stderr, "veritee %s: note: no --policy: any genuine workload of an accepted TEE passes\n", cmd);
	ret = CLI_OK;
out:
	json_decref(tees);
	return ret;
}

static void vside_free(struct vside *s)
{
	vt_verifier_free(s->v);
	vt_policy_free(s->policy);
	json_decref(s->refvals);
	json_decref(s->given);
}

static const char *const STEPS[] = {"self_signature", "validity", "key_binding", "freshness", "evidence", NULL};

/* The report for people (stderr) or as JSON (stdout); the exit code. */
static int report_out(const char *cmd, vt_status rc, const json_t *rep, bool json_out)
{
	if (json_out) {
		char *s = rep ? json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		printf("%s\n", s ? s : "{}");
		free(s);
	} else if (rep != NULL) {
		const char *fmt = json_string_value(json_object_get(rep, "format"));
		if (fmt)
			fprintf(stderr, "  %-15s %s (%s)\n", "format", fmt,
				json_string_value(json_object_get(rep, "extension_oid")));
		const char *tee = json_string_value(json_object_get(rep, "tee"));
		if (tee)
			fprintf(stderr, "  %-15s %s\n", "tee", tee);
		for (size_t i = 0; STEPS[i]; i++) {
			const char *v = json_string_value(json_object_get(rep, STEPS[i]));
			if (v)
				fprintf(stderr, "  %-15s %s\n", STEPS[i], v);
		}
		const char *tcb = json_string_value(json_object_get(rep, "tcb_status"));
		if (tcb)
			fprintf(stderr, "  %-15s %s\n", "tcb_status", tcb);
		const json_t *pol = json_object_get(rep, "policy");
		if (json_is_object(pol))
			fprintf(stderr, "  %-15s %s (%s)\n", "policy",
				json_is_true(json_object_get(pol, "allowed")) ? "allowed" : "denied",
				json_string_value(json_object_get(pol, "id")));
		const json_t *claims = json_object_get(rep, "claims");
		if (claims) {
			char *s = json_dumps(claims, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("%s\n", s ? s : "{}");
			free(s);
		}
	}
	if (rc == VT_OK) {
		fprintf(stderr, "veritee %s: verified (%s)\n", cmd,
			rep ? json_string_value(json_object_get(rep, "tee")) : "?");
		return CLI_OK;
	}
	fprintf(stderr, "veritee %s: REFUSED at step %s: %s\n", cmd, rep ? vt_ratls_report_step(rep) : "?",
		rep ? json_string_value(json_object_get(rep, "error")) : "?");
	return rc == VT_E_USAGE || rc == VT_E_IO || rc == VT_E_NOMEM || rc == VT_E_INTERNAL ? CLI_ERROR : CLI_REJECTED;
}

/* Options of the ratls commands (values of `val`: below CLI_TEEOPT_BASE, so
 * cli_getopt refuses one given twice). */
enum {
	O_POLICY = 128,
	O_REFVALS,
	O_SIM_ROOT,
	O_AT,
	O_JSON,
	O_NO_LEGACY,
	O_HELP,
	O_TEE,
	O_KEY,
	O_CERT,
	O_OUT,
	O_DAYS,
	O_HASH,
	O_NONCE,
	O_CN,
	O_KEY_TYPE,
	O_FRESH,
	O_SEND,
	O_LISTEN,
	O_FORWARD,
	O_REQUIRE_CLIENT,
	O_PRINT_PORT,
};

/* clang-format off */
#define VERIFY_FIXED                                                                                   \
	{"policy", required_argument, 0, O_POLICY}, {"reference-values", required_argument, 0, O_REFVALS}, \
	{"insecure-sim-root", required_argument, 0, O_SIM_ROOT}, {"at", required_argument, 0, O_AT},       \
	{"json", no_argument, 0, O_JSON}, {"no-legacy", no_argument, 0, O_NO_LEGACY},                      \
	{"help", no_argument, 0, O_HELP}
/* clang-format on */

/* A verifying option of vside, or 0 when `c` is not one. */
static int vside_take(struct vside *s, int c, bool *json_out)
{
	switch (c) {
	case O_POLICY: s->policy_path = optarg; return 1;
	case O_REFVALS: s->refvals_path = optarg; return 1;
	case O_SIM_ROOT: s->sim_root = optarg; return 1;
	case O_AT: s->at = optarg; return 1;
	case O_JSON: *json_out = true; return 1;
	case O_NO_LEGACY: s->no_legacy = true; return 1;
	default: return 0;
	}
}

/* The option table of a verifying command: every TEE verifier's options,
 * with `attesters` every attester's too, then `fixed`. */
static void verify_opts_table(struct cli_teeopts *to, const struct option *fixed, bool attesters)
{
	to->n = 0;
	for (size_t i = 0; vt_tee_at(i); i++)
		cli_teeopts_add(to, vt_tee_at(i)->options);
	for (size_t i = 0; attesters && vt_attester_at(i); i++)
		cli_teeopts_add(to, vt_attester_at(i)->options);
	cli_teeopts_finish(to, fixed);
}

/* The next option of a verifying command that is its own: TEE options and
 * vside's are taken here.  -1 at the end; CLI_OPT_REPEATED for an option
 * given twice (said). */
static int verify_getopt(int argc, char **argv, struct cli_teeopts *to, struct cli_seen *seen, struct vside *s,
			 bool *json_out, const char *cmd)
{
	int c;
	while ((c = cli_getopt(argc, argv, "h", to->opts, cmd, seen, NULL)) != -1) {
		if (c >= CLI_TEEOPT_BASE && c != CLI_OPT_REPEATED) {
			if (cli_teeopts_take(to, c, s->given, cmd) != 0)
				return CLI_OPT_REPEATED;
		} else if (!vside_take(s, c, json_out)) {
			return c;
		}
	}
	return -1;
}

static void verify_opts_help(FILE *f)
{
	fprintf(f, "  --policy FILE            appraise the claims with this policy (docs/policy.md); input\n"
		   "                           {\"<tee>\": claims, \"ratls\": {format, tee, nonce, ...}}\n"
		   "  --reference-values FILE  JSON {name: value} for the policy's in_reference rules\n"
		   "  --insecure-sim-root PEM  accept sim evidence under this root (INSECURE: simulated TEE)\n"
		   "  --at TIME                verify as of this time (RFC 3339), default now\n"
		   "  --json                   print the verification report as JSON on stdout\n"
		   "  --no-legacy              refuse the legacy Gramine / rats-tls quote extensions\n"
		   "  TEE verifier options     as for `veritee verify` (e.g. --collateral F, --pccs-url U,\n"
		   "                           --tcb-unevaluated-insecure; see veritee verify --help)\n");
}

/* ------------------------------------------------------------ verify ratls */

static void verify_usage(FILE *f)
{
	fprintf(f, "usage: veritee verify ratls CERT [--collateral F] [--at T] [--policy P] [--json] [options]\n"
		   "\n"
		   "Verify an RA-TLS certificate (PEM or DER; '-' = stdin): self-signature, validity at --at,\n"
		   "key binding, the embedded evidence with its TEE's verifier, then --policy.\n"
		   "Exit 0 verified, 1 refused (the failing step is printed), 2 usage or setup error.\n"
		   "Without --collateral, SGX/TDX quotes are checked up to the Intel root but their TCB status\n"
		   "is not evaluated (reported as such).\n\n");
	verify_opts_help(f);
}

int cmd_verify_ratls(int argc, char **argv)
{
	static const struct option fixed[] = {VERIFY_FIXED, {0, 0, 0, 0}};
	static struct cli_teeopts to;
	verify_opts_table(&to, fixed, false);
	struct vside s = {.given = json_object()};
	struct cli_seen seen = {0};
	bool json_out = false;
	int c, ret = CLI_ERROR;
	uint8_t *bytes = NULL;
	size_t n = 0;
	json_t *rep = NULL;
	optind = 1;
	c = verify_getopt(argc, argv, &to, &seen, &s, &json_out, "verify ratls"); /* it has no options of its own */
	if (c == O_HELP || c == 'h') {
		verify_usage(stdout);
		ret = CLI_OK;
		goto out;
	}
	if (c != -1) {
		if (c != CLI_OPT_REPEATED)
			verify_usage(stderr);
		goto out;
	}
	if (argc - optind != 1) {
		verify_usage(stderr);
		goto out;
	}
	const char *path = argv[optind];
	struct vt_err e = {0};
	if (vt_file_read(strcmp(path, "-") == 0 ? "/dev/stdin" : path, VT_RATLS_MAX_CERT, &bytes, &n, &e) != VT_OK) {
		cli_err("verify ratls", &e);
		goto out;
	}
	/* The certificate's TEE names the verifier to build (a failure here is
	 * reported by the verification below, at its step). */
	char hint[VT_RATLS_MAX_TEE_NAME + 1] = "";
	X509 *cert = NULL;
	if (vt_ratls_cert_parse(bytes, n, &cert, NULL) == VT_OK) {
		struct vt_ratls_evidence ev;
		if (vt_ratls_evidence_from_cert(cert, &ev, NULL) == VT_OK)
			snprintf(hint, sizeof(hint), "%s", ev.tee);
		vt_ratls_evidence_free(&ev);
	}
	X509_free(cert);
	if (vside_setup(&s, "verify ratls", hint) != CLI_OK)
		goto out;
	vt_status rc = vt_ratls_verify_bytes(&s.o, bytes, n, &rep, &e);
	ret = report_out("verify ratls", rc, rep, json_out);
out:
	json_decref(rep);
	free(bytes);
	vside_free(&s);
	return ret;
}

/* ------------------------------------------------------------ ratls cert */

static vt_status load_or_make_key(const char *path, const char *type, EVP_PKEY **key, bool *made, struct vt_err *err)
{
	struct stat st;
	*made = false;
	if (stat(path, &st) == 0)
		return vt_key_load_pem(path, true, key, err);
	vt_key_type kt = VT_KEY_P256;
	if (type == NULL || strcmp(type, "p256") == 0)
		kt = VT_KEY_P256;
	else if (strcmp(type, "p384") == 0)
		kt = VT_KEY_P384;
	else if (strcmp(type, "ed25519") == 0)
		kt = VT_KEY_ED25519;
	else if (strcmp(type, "rsa3072") == 0)
		kt = VT_KEY_RSA3072;
	else
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "key-type",
			       "--key-type is p256, p384, ed25519 or rsa3072");
	vt_status rc = vt_key_generate(kt, key, err);
	if (rc == VT_OK)
		rc = vt_key_save_pem(path, *key, true, 0600, err);
	*made = rc == VT_OK;
	return rc;
}

static int hash_arg(const char *s)
{
	if (s == NULL || strcmp(s, "sha256") == 0)
		return VT_RATLS_HASH_SHA256;
	if (strcmp(s, "sha384") == 0)
		return VT_RATLS_HASH_SHA384;
	if (strcmp(s, "sha512") == 0)
		return VT_RATLS_HASH_SHA512;
	return -1;
}

static vt_status write_cert(const char *path, X509 *cert, struct vt_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n = 0;
	vt_status rc = VT_OK;
	if (b == NULL || PEM_write_bio_X509(b, cert) != 1 || (n = BIO_get_mem_data(b, &p)) <= 0)
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "certificate", "cannot encode PEM");
	else
		rc = vt_file_write(path, p, (size_t)n, 0644, err);
	BIO_free(b);
	return rc;
}

static void cert_usage(FILE *f)
{
	fprintf(f, "usage: veritee ratls cert --tee TEE [TEE options] --key KEY.pem --out CERT.pem [options]\n"
		   "\n"
		   "Make a self-signed RA-TLS certificate for KEY (made, 0600, when the file does not exist):\n"
		   "its extension carries the TEE's evidence binding a hash of the certificate's public key.\n"
		   "sgx/tdx: the CCC interoperable TCG DICE extension (2.23.133.5.4.9); other TEEs: the IETF\n"
		   "CMW extension (1.3.6.1.5.5.7.1.35).  See docs/ratls.md.\n"
		   "\n"
		   "  --days N              validity from now - 60 s (default 1)\n"
		   "  --hash sha256|sha384|sha512   the pubkey-hash algorithm (default sha256)\n"
		   "  --nonce HEX           add a nonce claim (up to 256 bytes)\n"
		   "  --cn NAME             subject common name (default \"veritee RA-TLS\")\n"
		   "  --key-type p256|p384|ed25519|rsa3072   for a new key (default p256)\n");
	cli_attesters_help(f);
}

static int ratls_cert(int argc, char **argv)
{
	static const struct option fixed[] = {
		{"tee", required_argument, 0, O_TEE},	{"key", required_argument, 0, O_KEY},
		{"out", required_argument, 0, O_OUT},	{"days", required_argument, 0, O_DAYS},
		{"hash", required_argument, 0, O_HASH}, {"nonce", required_argument, 0, O_NONCE},
		{"cn", required_argument, 0, O_CN},	{"key-type", required_argument, 0, O_KEY_TYPE},
		{"help", no_argument, 0, O_HELP},	{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	cli_attesters_opts(&to, fixed);
	const char *tee = NULL, *keyp = NULL, *outp = NULL, *days = NULL, *hash = NULL, *nonce = NULL, *cn = NULL,
		   *ktype = NULL;
	json_t *given = json_object();
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint8_t *nb = NULL;
	size_t nn = 0;
	int c, ret = CLI_ERROR;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", to.opts, "ratls cert", &seen, NULL)) != -1) {
		if (c == CLI_OPT_REPEATED)
			goto out;
		if (c >= CLI_TEEOPT_BASE) {
			if (cli_teeopts_take(&to, c, given, "ratls cert") != 0)
				goto out;
			continue;
		}
		switch (c) {
		case O_TEE: tee = optarg; break;
		case O_KEY: keyp = optarg; break;
		case O_OUT: outp = optarg; break;
		case O_DAYS: days = optarg; break;
		case O_HASH: hash = optarg; break;
		case O_NONCE: nonce = optarg; break;
		case O_CN: cn = optarg; break;
		case O_KEY_TYPE: ktype = optarg; break;
		case 'h':
		case O_HELP:
			cert_usage(stdout);
			ret = CLI_OK;
			goto out;
		default: cert_usage(stderr); goto out;
		}
	}
	if (tee == NULL || keyp == NULL || outp == NULL || optind != argc) {
		cert_usage(stderr);
		goto out;
	}
	if (cli_attester_check("ratls cert", tee, given) != 0)
		goto out;
	struct vt_ratls_cert_opts o = {.tee = tee, .pubkey_hash_alg = hash_arg(hash), .common_name = cn};
	if (o.pubkey_hash_alg < 0) {
		fprintf(stderr, "veritee ratls cert: --hash is sha256, sha384 or sha512\n");
		goto out;
	}
	long nd = 1;
	if (days) {
		char *end = NULL;
		nd = strtol(days, &end, 10);
		if (end == days || *end != '\0' || nd < 1 || nd > 3650) {
			fprintf(stderr, "veritee ratls cert: --days is 1..3650\n");
			goto out;
		}
	}
	o.not_before = vt_now() - 60;
	o.not_after = o.not_before + 60 + (int64_t)nd * 86400;
	struct vt_err e = {0};
	if (nonce) {
		if (vt_hex_decode(nonce, &nb, &nn, &e) != VT_OK || nn == 0 || nn > VT_RATLS_MAX_NONCE) {
			fprintf(stderr, "veritee ratls cert: --nonce is 1..%zu bytes of hex\n", VT_RATLS_MAX_NONCE);
			goto out;
		}
		o.nonce = nb;
		o.nonce_size = nn;
	}
	bool made = false;
	if (load_or_make_key(keyp, ktype, &key, &made, &e) != VT_OK ||
	    vt_ratls_cert_new(key, &o, given, &cert, &e) != VT_OK || write_cert(outp, cert, &e) != VT_OK) {
		cli_err("ratls cert", &e);
		goto out;
	}
	char until[40];
	vt_time_format_rfc3339(o.not_after, until, sizeof(until));
	fprintf(stderr, "veritee ratls cert: %s: %s evidence in the %s extension, %s pubkey-hash, valid until %s%s%s\n",
		outp, tee, strcmp(tee, "sgx") == 0 || strcmp(tee, "tdx") == 0 ? "TCG DICE" : "CMW",
		hash ? hash : "sha256", until, made ? "; new key " : "", made ? keyp : "");
	if (vt_attester_find(tee)->insecure)
		fprintf(stderr, "veritee ratls cert: note: %s evidence is INSECURE (signed by a local key)\n", tee);
	ret = CLI_OK;
out:
	free(nb);
	X509_free(cert);
	EVP_PKEY_free(key);
	json_decref(given);
	return ret;
}

/* ------------------------------------------------------------ sockets */

static int split_hostport(const char *s, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon[1] == '\0')
		return -1;
	const char *h = s;
	size_t hl = (size_t)(colon - s);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hn || strlen(colon + 1) >= pn)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, pn, "%s", colon + 1);
	return 0;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A connected TCP socket to HOST:PORT, or -1 (said on stderr). */
static int tcp_connect(const char *cmd, const char *hostport)
{
	char host[256], port[16];
	if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr, "veritee %s: %s: want HOST:PORT\n", cmd, hostport);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "veritee %s: %s: %s\n", cmd, hostport, gai_strerror(gai));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		set_timeouts(fd, IO_TIMEOUT_S);
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "veritee %s: cannot connect to %s: %s\n", cmd, hostport, strerror(errno));
	return fd;
}

static int tcp_listen(const char *cmd, const char *hostport, uint16_t *port_out)
{
	char host[256], port[16];
	if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr, "veritee %s: --listen %s: want HOST:PORT\n", cmd, hostport);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
			*res = NULL;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
		fprintf(stderr, "veritee %s: --listen %s: cannot resolve\n", cmd, hostport);
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
			bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "veritee %s: cannot listen on %s: %s\n", cmd, hostport, strerror(errno));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	*port_out = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static void ssl_errors(const char *cmd, const char *what)
{
	unsigned long e;
	char buf[256];
	fprintf(stderr, "veritee %s: %s", cmd, what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, ": %s", buf);
	}
	fprintf(stderr, "\n");
}

/* An RA-TLS identity: --cert/--key files, or a new key and a certificate
 * from --tee's attester. */
static int identity(const char *cmd, const char *tee, const json_t *attest_opts, const char *certp, const char *keyp,
		    EVP_PKEY **key, X509 **cert)
{
	struct vt_err e = {0};
	if (certp != NULL || keyp != NULL) {
		if (certp == NULL || keyp == NULL) {
			fprintf(stderr, "veritee %s: give both --cert and --key\n", cmd);
			return CLI_ERROR;
		}
		if (vt_x509_load(certp, cert, &e) != VT_OK || vt_key_load_pem(keyp, true, key, &e) != VT_OK) {
			cli_err(cmd, &e);
			return CLI_ERROR;
		}
		return CLI_OK;
	}
	if (tee == NULL)
		return CLI_OK; /* no identity */
	struct vt_ratls_cert_opts o = {.tee = tee};
	if (vt_key_generate(VT_KEY_P256, key, &e) != VT_OK ||
	    vt_ratls_cert_new(*key, &o, attest_opts, cert, &e) != VT_OK) {
		cli_err(cmd, &e);
		return CLI_ERROR;
	}
	return CLI_OK;
}

/* Split the flat options given into the attester's (of `tee`) and the verifiers'. */
static int split_given(const char *cmd, const char *tee, json_t *given, json_t *attest_opts)
{
	const struct vt_attester *a = tee ? vt_attester_find(tee) : NULL;
	if (tee != NULL && a == NULL)
		return cli_attester_check(cmd, tee, attest_opts);
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe (given, tmp, k, v) {
		bool att = a != NULL && cli_opt_declared(a->options, k), ver = verifier_option(k);
		if (!att && !ver) {
			char flag[64];
			cli_flag_name(k, flag, sizeof(flag));
			fprintf(stderr, "veritee %s: --%s is %s\n", cmd, flag,
				attester_option(k) ? "an option of another TEE's attester (see --tee)"
						   : "not an option here");
			return -1;
		}
		if (att)
			json_object_set(attest_opts, k, v);
		if (!ver)
			json_object_del(given, k);
	}
	return 0;
}

/* ------------------------------------------------------------ ratls connect */

static void connect_usage(FILE *f)
{
	fprintf(f, "usage: veritee ratls connect HOST:PORT [--policy P] [--insecure-sim-root PEM] [--json] [options]\n"
		   "\n"
		   "Like openssl s_client: a TLS handshake whose server certificate must be a valid RA-TLS\n"
		   "certificate; prints its claims.  Exit 0 verified, 1 refused, 2 setup or network error.\n"
		   "\n"
		   "  --fresh               send a nonce in the ClientHello (extension 0xff5a) and require the\n"
		   "                        server's certificate to carry it (veritee ratls serve --fresh)\n"
		   "  --send TEXT           after the handshake, send TEXT and print what comes back\n"
		   "  --cert C --key K      mutual RA-TLS: present this RA-TLS certificate\n"
		   "  --tee TEE [options]   mutual RA-TLS: make one now with TEE's attester\n");
	verify_opts_help(f);
}

/*
 * Mutual RA-TLS over TLS 1.3: the client's handshake is complete before the
 * server has checked the client's certificate; a refusal arrives as an
 * alert, an acceptance as the server's session tickets.  Wait (at most
 * 5 s) for either.  No word from the server counts as acceptance.
 */
static bool server_accepted_us(SSL *ssl, int fd)
{
	if (SSL_version(ssl) < TLS1_3_VERSION)
		return true; /* TLS 1.2: the server's Finished came after its check */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (SSL_pending(ssl) == 0 && poll(&p, 1, 5000) <= 0)
		return true;
	char byte;
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK); /* read what is there, no more */
	int n = SSL_peek(ssl, &byte, 1);
	int e = SSL_get_error(ssl, n);
	fcntl(fd, F_SETFL, fl);
	if (n > 0)
		return true;		 /* application data: accepted */
	return e == SSL_ERROR_WANT_READ; /* only tickets so far */
}

static int ratls_connect(int argc, char **argv)
{
	static const struct option fixed[] = {
		VERIFY_FIXED,
		{"fresh", no_argument, 0, O_FRESH},
		{"send", required_argument, 0, O_SEND},
		{"cert", required_argument, 0, O_CERT},
		{"key", required_argument, 0, O_KEY},
		{"tee", required_argument, 0, O_TEE},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	verify_opts_table(&to, fixed, true);
	struct vside s = {.given = json_object()};
	struct cli_seen seen = {0};
	json_t *attest_opts = json_object();
	bool json_out = false, fresh = false;
	const char *send = NULL, *certp = NULL, *keyp = NULL, *tee = NULL;
	int c, ret = CLI_ERROR, fd = -1;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	json_t *rep = NULL;
	struct vt_buf got;
	vt_buf_init(&got, 1u << 20);
	optind = 1;
	while ((c = verify_getopt(argc, argv, &to, &seen, &s, &json_out, "ratls connect")) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: goto out;
		case O_FRESH: fresh = true; break;
		case O_SEND: send = optarg; break;
		case O_CERT: certp = optarg; break;
		case O_KEY: keyp = optarg; break;
		case O_TEE: tee = optarg; break;
		case 'h':
		case O_HELP:
			connect_usage(stdout);
			ret = CLI_OK;
			goto out;
		default: connect_usage(stderr); goto out;
		}
	}
	if (argc - optind != 1) {
		connect_usage(stderr);
		goto out;
	}
	if (split_given("ratls connect", tee, s.given, attest_opts) != 0 ||
	    identity("ratls connect", tee, attest_opts, certp, keyp, &key, &cert) != CLI_OK ||
	    vside_setup(&s, "ratls connect", NULL) != CLI_OK)
		goto out;
	struct vt_err e = {0};
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		ssl_errors("ratls connect", "cannot make a TLS context");
		goto out;
	}
	if (vt_ratls_ssl_ctx_verify(ctx, &s.o, fresh ? VT_RATLS_SSL_REQUEST_NONCE : 0, &e) != VT_OK ||
	    (cert != NULL && vt_ratls_ssl_ctx_use(ctx, key, cert, &e) != VT_OK)) {
		cli_err("ratls connect", &e);
		goto out;
	}
	if ((fd = tcp_connect("ratls connect", argv[optind])) < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		ssl_errors("ratls connect", "cannot make a TLS connection");
		goto out;
	}
	int hs = SSL_connect(ssl);
	const json_t *r = vt_ratls_ssl_report(ssl);
	rep = r ? json_deep_copy(r) : NULL;
	if (rep == NULL) {
		ssl_errors("ratls connect", "TLS handshake failed before any certificate was verified");
		goto out;
	}
	vt_status rc = json_is_true(json_object_get(rep, "verified")) ? VT_OK : VT_E_REJECTED;
	if (rc == VT_OK && hs == 1 && !server_accepted_us(ssl, fd))
		hs = 0;
	if (rc == VT_OK && hs != 1) {
		/* our side accepted the server; the server refused us (mutual RA-TLS) */
		ssl_errors("ratls connect", "the server ended the handshake");
		json_object_set_new(rep, "verified", json_false());
		json_object_set_new(rep, "failed_step", json_string("handshake"));
		json_object_set_new(rep, "error",
				    json_string(cert ? "the server refused our certificate"
						     : "the server refused us (does it require client evidence?)"));
		rc = VT_E_REJECTED;
	}
	if (rc == VT_OK && send != NULL) {
		/* the data exchange after the handshake (e.g. through `ratls serve` to a service) */
		size_t len = strlen(send);
		int k = SSL_write(ssl, send, (int)len);
		if (k == (int)len) {
			char buf[4096];
			while ((k = SSL_read(ssl, buf, sizeof(buf))) > 0 &&
			       vt_buf_append(&got, buf, (size_t)k, NULL) == VT_OK)
				if (got.len >= len) /* an echo of what we sent is complete */
					break;
		}
		if (k <= 0 && SSL_get_error(ssl, k) != SSL_ERROR_ZERO_RETURN) {
			ssl_errors("ratls connect", "the connection ended");
			json_object_set_new(rep, "verified", json_false());
			json_object_set_new(rep, "failed_step", json_string("handshake"));
			json_object_set_new(rep, "error", json_string("the server ended the connection"));
			rc = VT_E_REJECTED;
		}
		if (json_out)
			json_object_set_new(rep, "received",
					    json_stringn(got.data ? (const char *)got.data : "", got.len));
	}
	if (hs == 1)
		SSL_shutdown(ssl);
	ret = report_out("ratls connect", rc, rep, json_out);
	if (!json_out && got.len > 0) /* after the claims */
		fwrite(got.data, 1, got.len, stdout);
out:
	vt_buf_free(&got);
	json_decref(rep);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	X509_free(cert);
	EVP_PKEY_free(key);
	json_decref(attest_opts);
	vside_free(&s);
	return ret;
}

/* ------------------------------------------------------------ ratls serve */

struct serve {
	SSL_CTX *ctx;
	const char *forward;
	bool verify_clients;
	atomic_int active;
};

struct conn {
	struct serve *sv;
	int fd;
	char peer[64];
};

/* Copy both ways between the TLS connection and the plain socket until both end. */
static void pump(SSL *ssl, int tls_fd, int plain)
{
	char buf[16384];
	bool tls_open = true, plain_open = true;
	while (tls_open || plain_open) {
		if (tls_open && SSL_pending(ssl) == 0) {
			struct pollfd p[2] = {{.fd = tls_fd, .events = POLLIN},
					      {.fd = plain, .events = plain_open ? POLLIN : 0}};
			if (poll(p, 2, IO_TIMEOUT_S * 1000 * 10) <= 0)
				return;
			if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t n = read(plain, buf, sizeof(buf));
				if (n <= 0) {
					plain_open = false;
					SSL_shutdown(ssl);
					return; /* the service is done: so is the client's connection */
				}
				if (SSL_write(ssl, buf, (int)n) != (int)n)
					return;
			}
			if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		} else if (!tls_open) {
			ssize_t n = read(plain, buf, sizeof(buf));
			if (n <= 0)
				return;
			continue;
		}
		int n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0) {
			tls_open = false;
			shutdown(plain, SHUT_WR);
			continue;
		}
		for (int off = 0; off < n;) {
			ssize_t w = write(plain, buf + off, (size_t)(n - off));
			if (w <= 0)
				return;
			off += (int)w;
		}
	}
}

static void *serve_conn(void *arg)
{
	struct conn *cn = arg;
	struct serve *sv = cn->sv;
	SSL *ssl = SSL_new(sv->ctx);
	int plain = -1;
	if (ssl == NULL || SSL_set_fd(ssl, cn->fd) != 1)
		goto out;
	if (SSL_accept(ssl) != 1) {
		const json_t *rep = vt_ratls_ssl_report(ssl);
		if (rep != NULL && !json_is_true(json_object_get(rep, "verified")))
			fprintf(stderr, "veritee ratls serve: %s: client REFUSED at step %s: %s\n", cn->peer,
				vt_ratls_report_step(rep), json_string_value(json_object_get(rep, "error")));
		else
			ssl_errors("ratls serve", "handshake failed");
		goto out;
	}
	const json_t *rep = vt_ratls_ssl_report(ssl);
	if (sv->verify_clients)
		fprintf(stderr, "veritee ratls serve: %s: client verified (%s)\n", cn->peer,
			rep ? json_string_value(json_object_get(rep, "tee")) : "?");
	if ((plain = tcp_connect("ratls serve", sv->forward)) < 0)
		goto out;
	set_timeouts(plain, 0);
	set_timeouts(cn->fd, 0);
	pump(ssl, cn->fd, plain);
out:
	if (plain >= 0)
		close(plain);
	SSL_free(ssl);
	close(cn->fd);
	free(cn);
	OPENSSL_thread_stop(); /* before `active` lets the process leave */
	atomic_fetch_sub(&sv->active, 1);
	return NULL;
}

struct acceptor {
	struct serve *sv;
	int lfd;
};

static void *accept_loop(void *arg)
{
	struct acceptor *ac = arg;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(ac->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			return NULL; /* the listening socket was shut down */
		}
		if (atomic_fetch_add(&ac->sv->active, 1) >= SERVE_MAX_CONNECTIONS) {
			atomic_fetch_sub(&ac->sv->active, 1);
			close(fd);
			continue;
		}
		struct conn *cn = calloc(1, sizeof(*cn));
		pthread_t t;
		pthread_attr_t at;
		if (cn == NULL) {
			atomic_fetch_sub(&ac->sv->active, 1);
			close(fd);
			continue;
		}
		cn->sv = ac->sv;
		cn->fd = fd;
		char host[48] = "?", port[8] = "?";
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(cn->peer, sizeof(cn->peer), "%s:%s", host, port);
		set_timeouts(fd, IO_TIMEOUT_S); /* the handshake */
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, serve_conn, cn) != 0) {
			atomic_fetch_sub(&ac->sv->active, 1);
			close(fd);
			free(cn);
		}
		pthread_attr_destroy(&at);
	}
}

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: veritee ratls serve --listen HOST:PORT --forward HOST:PORT (--tee TEE [options] |\n"
		   "                           --cert C --key K) [--require-client-evidence] [options]\n"
		   "\n"
		   "A TLS terminator inside the TEE: presents an RA-TLS certificate (made now for a new key\n"
		   "with --tee, or --cert/--key) and forwards each connection's plaintext to HOST:PORT.\n"
		   "Stops on SIGINT or SIGTERM.\n"
		   "\n"
		   "  --require-client-evidence   mutual RA-TLS: clients must present an RA-TLS certificate\n"
		   "                              that verifies (with the options below)\n"
		   "  --fresh                     with --tee: answer a client's nonce (extension 0xff5a) with a\n"
		   "                              certificate made for it (one attestation per such handshake)\n"
		   "  --print-port                print the bound port on stdout once listening\n");
	verify_opts_help(f);
	cli_attesters_help(f);
}

static int ratls_serve(int argc, char **argv)
{
	static const struct option fixed[] = {
		VERIFY_FIXED,
		{"listen", required_argument, 0, O_LISTEN},
		{"forward", required_argument, 0, O_FORWARD},
		{"tee", required_argument, 0, O_TEE},
		{"cert", required_argument, 0, O_CERT},
		{"key", required_argument, 0, O_KEY},
		{"fresh", no_argument, 0, O_FRESH},
		{"require-client-evidence", no_argument, 0, O_REQUIRE_CLIENT},
		{"print-port", no_argument, 0, O_PRINT_PORT},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	verify_opts_table(&to, fixed, true);
	struct vside s = {.given = json_object()};
	struct cli_seen seen = {0};
	json_t *attest_opts = json_object();
	bool json_out = false, fresh = false, require_client = false, print_port = false;
	const char *listen_on = NULL, *forward = NULL, *tee = NULL, *certp = NULL, *keyp = NULL;
	int c, ret = CLI_ERROR, lfd = -1;
	struct serve sv = {0};
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	optind = 1;
	while ((c = verify_getopt(argc, argv, &to, &seen, &s, &json_out, "ratls serve")) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: goto out;
		case O_LISTEN: listen_on = optarg; break;
		case O_FORWARD: forward = optarg; break;
		case O_TEE: tee = optarg; break;
		case O_CERT: certp = optarg; break;
		case O_KEY: keyp = optarg; break;
		case O_FRESH: fresh = true; break;
		case O_REQUIRE_CLIENT: require_client = true; break;
		case O_PRINT_PORT: print_port = true; break;
		case 'h':
		case O_HELP:
			serve_usage(stdout);
			ret = CLI_OK;
			goto out;
		default: serve_usage(stderr); goto out;
		}
	}
	if (listen_on == NULL || forward == NULL || optind != argc || (tee == NULL && certp == NULL)) {
		serve_usage(stderr);
		goto out;
	}
	if (fresh && tee == NULL) {
		fprintf(stderr, "veritee ratls serve: --fresh needs --tee (a certificate is made per handshake)\n");
		goto out;
	}
	/* The verifier's options act on client evidence only: without
	 * --require-client-evidence they would be accepted and do nothing. */
	if (!require_client && (s.policy_path || s.refvals_path || s.at || s.sim_root || s.no_legacy)) {
		fprintf(stderr, "veritee ratls serve: --policy, --reference-values, --at, --insecure-sim-root and "
				"--no-legacy check client evidence: give --require-client-evidence too\n");
		goto out;
	}
	if (split_given("ratls serve", tee, s.given, attest_opts) != 0 ||
	    identity("ratls serve", certp ? NULL : tee, attest_opts, certp, keyp, &key, &cert) != CLI_OK)
		goto out;
	if (require_client && vside_setup(&s, "ratls serve", NULL) != CLI_OK)
		goto out;
	struct vt_err e = {0};
	sv.ctx = SSL_CTX_new(TLS_server_method());
	if (sv.ctx == NULL || SSL_CTX_set_min_proto_version(sv.ctx, TLS1_2_VERSION) != 1) {
		ssl_errors("ratls serve", "cannot make a TLS context");
		goto out;
	}
	if (vt_ratls_ssl_ctx_use(sv.ctx, key, cert, &e) != VT_OK ||
	    (fresh && vt_ratls_ssl_ctx_serve_fresh(sv.ctx, key, &(struct vt_ratls_cert_opts){.tee = tee}, attest_opts,
						   &e) != VT_OK) ||
	    (require_client && vt_ratls_ssl_ctx_verify(sv.ctx, &s.o, VT_RATLS_SSL_REQUIRE_PEER, &e) != VT_OK)) {
		cli_err("ratls serve", &e);
		goto out;
	}
	sv.forward = forward;
	sv.verify_clients = require_client;
	uint16_t port = 0;
	if ((lfd = tcp_listen("ratls serve", listen_on, &port)) < 0)
		goto out;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct acceptor ac = {.sv = &sv, .lfd = lfd};
	pthread_t at;
	if (pthread_create(&at, NULL, accept_loop, &ac) != 0) {
		fprintf(stderr, "veritee ratls serve: cannot start\n");
		goto out;
	}
	fprintf(stderr, "veritee ratls serve: listening on %s (port %u), forwarding to %s%s\n", listen_on, port,
		forward, require_client ? "; clients must present RA-TLS evidence" : "");
	if (print_port) {
		printf("%u\n", (unsigned)port);
		fflush(stdout);
	}
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "veritee ratls serve: signal %d, stopping\n", sig);
	shutdown(lfd, SHUT_RDWR);
	pthread_join(at, NULL);
	ret = CLI_OK; /* connections still open end with the process */
out:
	if (lfd >= 0)
		close(lfd);
	if (ret != CLI_OK || sv.active == 0)
		SSL_CTX_free(sv.ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	json_decref(attest_opts);
	if (ret != CLI_OK || sv.active == 0)
		vside_free(&s);
	return ret;
}

/* ------------------------------------------------------ get-resource --ratls-policy */

struct cli_ratls {
	struct vside s;
};

int cli_ratls_opts(const char *cmd, const char *policy_path, const char *sim_root,
		   const struct vt_ratls_verify_opts **out);
void cli_ratls_opts_free(const struct vt_ratls_verify_opts *o);

/* The verifying side of get-resource: every TEE that is not insecure, sim
 * under --ratls-insecure-sim-root, the policy. */
int cli_ratls_opts(const char *cmd, const char *policy_path, const char *sim_root,
		   const struct vt_ratls_verify_opts **out)
{
	struct cli_ratls *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (r == NULL)
		return CLI_ERROR;
	r->s.policy_path = policy_path;
	r->s.sim_root = sim_root;
	if (vside_setup(&r->s, cmd, NULL) != CLI_OK) {
		vside_free(&r->s);
		free(r);
		return CLI_ERROR;
	}
	*out = &r->s.o;
	return CLI_OK;
}

void cli_ratls_opts_free(const struct vt_ratls_verify_opts *o)
{
	if (o == NULL)
		return;
	struct cli_ratls *r = (struct cli_ratls *)(void *)((char *)(uintptr_t)o - offsetof(struct cli_ratls, s.o));
	vside_free(&r->s);
	free(r);
}

/* ------------------------------------------------------------ dispatch */

int cmd_ratls(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub != NULL && strcmp(sub, "cert") == 0)
		return ratls_cert(argc - 1, argv + 1);
	if (sub != NULL && strcmp(sub, "connect") == 0)
		return ratls_connect(argc - 1, argv + 1);
	if (sub != NULL && strcmp(sub, "serve") == 0)
		return ratls_serve(argc - 1, argv + 1);
	FILE *f = sub && (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) ? stdout
													    : stderr;
	fprintf(f, "usage: veritee ratls cert|connect|serve [options]   (attested TLS; docs/ratls.md)\n"
		   "  cert     make a self-signed RA-TLS certificate carrying a TEE's evidence\n"
		   "  connect  TLS client that verifies the server's RA-TLS certificate (like s_client)\n"
		   "  serve    TLS terminator presenting an RA-TLS certificate, forwarding plaintext\n"
		   "and: veritee verify ratls CERT   verify a certificate file\n");
	return f == stdout ? CLI_OK : CLI_ERROR;
}
