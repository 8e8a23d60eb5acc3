/* veritee — attestation, appraisal, EAR tokens and a KBS-compatible broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

/* Sealed files (seal.c). */
int cmd_seal(int argc, char **argv);
int cmd_unseal(int argc, char **argv);
/* Attested TLS (ratls.c): veritee ratls cert|connect|serve, veritee verify ratls. */
int cmd_ratls(int argc, char **argv);
int cmd_verify_ratls(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: veritee <command> [options]\n"
		"\n"
		"commands:\n"
		"  demo                               run the whole trust path on this machine (INSECURE sim TEE)\n"
		"  serve --config FILE                run the key broker (KBS protocol 0.4.0)\n"
		"  get-resource URL kbs:///R/T/G --tee TEE   attest to a broker and fetch a secret\n"
		"  attest --tee TEE --report-data HEX  produce evidence (JSON) on stdout\n"
		"  verify TEE EVIDENCE [--nonce HEX] [--json]  verify evidence: its TEE, key claims and verdict\n"
		"  fetch snp|tdx|sgx EVIDENCE --out DIR   prepare an offline certificate/collateral cache\n"
		"  roots [--out DIR]                  the vendor roots veritee ships, with their fingerprints\n"
		"  verify ratls CERT [--policy P] [--json]  verify an RA-TLS certificate (attested TLS)\n"
		"  ratls cert|connect|serve           attested TLS: make, check and serve RA-TLS certificates\n"
		"  measure snp --ovmf FILE --vcpus N --vcpu-type NAME   expected SEV-SNP launch measurement\n"
		"  tpm-enroll URL [--tpm-tcti T] [--cacert PEM]   enroll this TPM's AK with a broker (EK cert +\n"
		"                                     credential activation)\n"
		"  admin ...                          manage a broker (keygen, resources, policies, reference values)\n"
		"  corim show CORIM --signer KEY      verify a signed CoRIM, print its reference values\n"
		"  seal --in F|DIR --out F.vts --resource R/T/G (--broker URL --admin-key KEY)... [--threshold K]\n"
		"                                     encrypt; the key is kept by one broker, or split K-of-N\n"
		"  unseal --in F.vts (--out F | --to-dir DIR) --tee TEE   attest to the brokers, decrypt\n"
		"  audit verify LOG --url URL         check an exported release log against the broker's key\n"
		"  help | version\n"
		"\n"
		"Run 'veritee <command> --help' for options.  Exit codes (docs/cli.md): 0 ok / verified,\n"
		"1 evidence rejected or request denied, 2 usage or setup error (missing file, no collateral,\n"
		"no certificates, network).\n"
		"TEEs: %s ('sim' is a simulated TEE for machines without one: INSECURE).\n",
		vt_tee_names());
}

void cli_err(const char *cmd, const struct vt_err *e)
{
	char buf[1024];
	vt_err_format(e, buf, sizeof(buf));
	fprintf(stderr, "veritee %s: %s\n", cmd, buf);
}

int cli_exit_code(vt_status rc)
{
	switch (rc) {
	case VT_OK: return CLI_OK;
	case VT_E_REJECTED:
	case VT_E_POLICY:
	case VT_E_AUTH:
	case VT_E_PARSE: return CLI_REJECTED;
	default: return CLI_ERROR;
	}
}

int cli_hex_arg(const char *cmd, const char *name, const char *hex, uint8_t *out, size_t max, size_t exact)
{
	uint8_t *p = NULL;
	size_t n = 0;
	struct vt_err e = {0};
	if (vt_hex_decode(hex, &p, &n, &e) != VT_OK || n > max || (exact && n != exact)) {
		if (cmd != NULL)
			fprintf(stderr, "veritee %s: %s must be %s%zu bytes of hex\n", cmd, name, exact ? "" : "at most ",
			exact ? exact : max);
		free(p);
		return -1;
	}
	memset(out, 0, max);
	memcpy(out, p, n);
	free(p);
	return 0;
}

/* The origin "scheme://host[:port]" of a URL (malloc'd), and whether the
 * URL has a path beyond "/" (then the broker may see another path). */
static char *url_origin(const char *url, bool *has_path)
{
	const char *sep = strstr(url, "://");
	const char *host = sep ? sep + 3 : url;
	const char *slash = strchr(host, '/');
	*has_path = slash != NULL && slash[1] != '\0';
	size_t n = slash ? (size_t)(slash - url) : strlen(url);
	return strndup(url, n);
}

/* An admin JWS: `claims` (taken; the request-specific members) plus iss,
 * role, iat, exp (now + lifetime), a random jti and aud (the URL's origin),
 * signed with `key`.  "htu" is dropped when the URL has a path of its own
 * (then the broker may see another path). */
static vt_status admin_jws(EVP_PKEY *key, const char *url, int64_t lifetime, json_t *claims, char **out,
			   struct vt_err *err)
{
	const char *alg = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? "EdDSA"
			  : vt_ec_coord_size(key) == 48			  ? "ES384"
			  : vt_ec_coord_size(key) == 32			  ? "ES256"
									  : "PS256";
	int64_t now = vt_now();
	uint8_t rnd[16];
	bool has_path = false;
	char *jti = NULL, *aud = url_origin(url, &has_path), *payload = NULL;
	json_t *h = json_pack("{s:s, s:s}", "typ", "JWT", "alg", alg), *common = NULL;
	vt_status rc = vt_random(rnd, sizeof(rnd), err);
	if (rc != VT_OK)
		goto out;
	jti = vt_hex_encode(rnd, sizeof(rnd));
	if (claims != NULL && has_path)
		json_object_del(claims, "htu");
	common = json_pack("{s:s, s:s, s:I, s:I, s:s?, s:s?}", "iss", "veritee-admin", "role", "admin", "iat",
			   (json_int_t)now, "exp", (json_int_t)(now + lifetime), "jti", jti, "aud", aud);
	if (claims != NULL && common != NULL && jti != NULL && aud != NULL && json_object_update(claims, common) == 0)
		payload = vt_json_compact(claims);
	rc = payload && h ? vt_jws_sign(key, h, (const uint8_t *)payload, strlen(payload), out, err)
			  : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
out:
	free(payload);
	free(jti);
	free(aud);
	json_decref(h);
	json_decref(common);
	json_decref(claims);
	return rc;
}

vt_status cli_admin_token(EVP_PKEY *key, const char *url, const char *method, const char *path, const void *body,
			  size_t n, char **out, struct vt_err *err)
{
	uint8_t d[32];
	size_t dl = 0;
	vt_status rc = vt_digest(EVP_sha256(), body ? body : "", n, d, &dl, err);
	if (rc != VT_OK)
		return rc;
	char *digest = vt_hex_encode(d, dl);
	if (digest == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	/* One token per request: single-use id, two minutes, this broker, this
	 * method, path and body (docs/broker.md, admin tokens). */
	json_t *c = json_pack("{s:s, s:s?, s:s}", "htm", method, "htu", path, "body_sha256", digest);
	free(digest);
	return admin_jws(key, url, 120, c, out, err);
}

vt_status cli_admin_console_token(EVP_PKEY *key, const char *url, int64_t lifetime, char **out, struct vt_err *err)
{
	/* Reusable until exp, GET only, the console's read-only endpoints
	 * (scope "console": the broker checks the paths). */
	return admin_jws(key, url, lifetime, json_pack("{s:s, s:s}", "scope", "console", "htm", "GET"), out, err);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_ERROR;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("veritee 0.1.0 (KBS protocol 0.4.0)\n");
		return CLI_OK;
	}
	/* libtss2 logs every malformed TPM structure to stderr; untrusted
	 * evidence must not be able to fill the broker's log that way.  Our own
	 * errors say what failed.  An explicit TSS2_LOG wins. */
	setenv("TSS2_LOG", "all+none", 0);
	/* --help anywhere is the command's help, and nothing else: no key, file
	 * or network is touched (docs/cli.md). */
	static char help_flag[] = "--help";
	bool sub = strcmp(cmd, "verify") == 0 && argc > 2 && strcmp(argv[2], "ratls") == 0;
	char *help_argv[] = {argv[0], argv[1], sub ? argv[2] : help_flag, help_flag, NULL};
	if (cli_wants_help(argc - 1, argv + 1)) {
		argc = sub ? 4 : 3;
		argv = help_argv;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc;
	if (strcmp(cmd, "verify") == 0 && argc > 2 && strcmp(argv[2], "ratls") == 0)
		rc = cmd_verify_ratls(argc - 2, argv + 2);
	else if (strcmp(cmd, "ratls") == 0)
		rc = cmd_ratls(argc - 1, argv + 1);
	else if (strcmp(cmd, "attest") == 0)
		rc = cmd_attest(argc - 1, argv + 1);
	else if (strcmp(cmd, "verify") == 0)
		rc = cmd_verify(argc - 1, argv + 1);
	else if (strcmp(cmd, "serve") == 0)
		rc = cmd_serve(argc - 1, argv + 1);
	else if (strcmp(cmd, "get-resource") == 0)
		rc = cmd_get_resource(argc - 1, argv + 1);
	else if (strcmp(cmd, "admin") == 0)
		rc = cmd_admin(argc - 1, argv + 1);
	else if (strcmp(cmd, "tpm-enroll") == 0)
		rc = cmd_tpm_enroll(argc - 1, argv + 1);
	else if (strcmp(cmd, "measure") == 0)
		rc = cmd_measure(argc - 1, argv + 1);
	else if (strcmp(cmd, "demo") == 0)
		rc = cmd_demo(argc - 1, argv + 1);
	else if (strcmp(cmd, "corim") == 0)
		rc = cmd_corim(argc - 1, argv + 1);
	else if (strcmp(cmd, "seal") == 0)
		rc = cmd_seal(argc - 1, argv + 1);
	else if (strcmp(cmd, "unseal") == 0)
		rc = cmd_unseal(argc - 1, argv + 1);
	else if (strcmp(cmd, "audit") == 0)
		rc = cmd_audit(argc - 1, argv + 1);
	else if (strcmp(cmd, "fetch") == 0)
		rc = cmd_fetch(argc - 1, argv + 1);
	else if (strcmp(cmd, "roots") == 0)
		rc = cmd_roots(argc - 1, argv + 1);
	else {
		fprintf(stderr, "veritee: unknown command \"%s\"\n\n", cmd);
		usage(stderr);
		rc = CLI_ERROR;
	}
	curl_global_cleanup();
	return rc;
}
