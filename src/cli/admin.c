/* veritee admin: manage a broker over its authenticated admin API. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/pkcs11.h"
#include "cli/cli.h"
#include "veritee/client.h"
#include "veritee/corim.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: veritee admin keygen [--force] KEYFILE\n"
		"       veritee admin wrap-master-key --module SO --wrapping-key URI [--in FILE] --out FILE\n"
		"       veritee admin --url URL --key KEYFILE [--cacert PEM] [--json] COMMAND ...\n"
		"\n"
		"keygen writes a new P-256 admin private key to KEYFILE (0600) and its public key to\n"
		"KEYFILE.pub; list KEYFILE.pub under \"admin_public_keys\" in the broker config.  It\n"
		"refuses to overwrite an existing key unless --force is given.\n"
		"wrap-master-key writes a broker master key encrypted (RSA-OAEP SHA-256) to the RSA key\n"
		"URI names in an HSM (PKCS#11 module SO; the PIN from pin-source=file:PATH in the URI\n"
		"or $VERITEE_PKCS11_PIN) to FILE (0600, never overwritten): a fresh random key, or the\n"
		"plain 32-byte key file --in FILE.  Use it as \"master_key\" with\n"
		"\"master_key_wrapping_key\": URI (docs/broker.md, \"Keys in an HSM\").  No broker needed.\n"
		"Every other command sends a short-lived JWT signed with KEYFILE.  Answers are printed as\n"
		"text (--json: the broker's JSON); a refusal is explained on stderr and exits 1, a broker\n"
		"that cannot be reached exits 2.\n"
		"\n"
		"commands:\n"
		"resources (values are write-only: they are released only to attested TEEs)\n"
		"  set-resource REPO/TYPE/TAG FILE       store a secret (FILE '-' = stdin)\n"
		"  list-resources                        paths and sizes of the stored secrets\n"
		"  get-resource REPO/TYPE/TAG            one secret's path and size (never its value)\n"
		"  delete-resource REPO/TYPE/TAG\n"
		"policies (docs/policy.md)\n"
		"  set-resource-policy FILE              JSON policy\n"
		"  get-resource-policy                   the resource policy in force\n"
		"  delete-resource-policy                back to the built-in default\n"
		"  set-attestation-policy FILE           for --id ID (before the command): default_<tee>\n"
		"                                        (default default_sim) or default_cpu\n"
		"  list-attestation-policies             the policies in force: uploaded or built in\n"
		"  get-attestation-policy ID             one policy's text\n"
		"  delete-attestation-policy ID          an uploaded one (its built-in default, if any,\n"
		"                                        is in force again)\n"
		"reference values\n"
		"  add-reference-value NAME VALUE...     add VALUEs to reference value NAME (keeps the others)\n"
		"  remove-reference-value NAME VALUE...  remove VALUEs from NAME (keeps the others)\n"
		"  set-reference-values NAME VALUE...    replace NAME's values with exactly these\n"
		"  list-reference-values                 names and how many values each holds\n"
		"  get-reference-value NAME\n"
		"  delete-reference-value NAME\n"
		"  import-corim CORIM --signer KEY [--at RFC3339]\n"
		"                                        verify a signed CoRIM with its signer's public key\n"
		"                                        (PEM, certificate or JWK) and store its reference\n"
		"                                        values in one transaction (docs/corim.md); unsigned,\n"
		"                                        badly signed or expired CoRIMs are refused\n"
		"web console (docs/broker.md, \"Console\")\n"
		"  console-url [--lifetime SECONDS]      print URL/console/#token=<JWT> to open in a browser: a\n"
		"                                        read-only view of attestations, policies, reference\n"
		"                                        values and resource names (never values).  Whoever\n"
		"                                        holds the link can read that until the token expires:\n"
		"                                        default 900 s; the broker refuses tokens that live\n"
		"                                        longer than its admin_token_max_lifetime_seconds (900\n"
		"                                        by default)\n"
		"attestations\n"
		"  attestations [--limit N]              the broker's last N attestations (default 100, at\n"
		"                                        most 500; newest first): time, request id, client,\n"
		"                                        TEE, EAR status or \"failed\", duration, and why\n"
		"                                        (failing step and field, the failing policy rule)\n"
		"release log\n"
		"  audit --out LOG [--since N] [--page-size N]\n"
		"                                        export the release log (entries after seq N, default\n"
		"                                        0 = all) with its signed head to LOG; check it with\n"
		"                                        `veritee audit verify LOG --url URL`\n"
		"  audit-prune --through N               delete the entries up to seq N (below the head); the\n"
		"                                        broker keeps a signed checkpoint of entry N, so later\n"
		"                                        exports start after it and still verify. Export and\n"
		"                                        keep the log first: what is pruned is gone\n");
}

static int wrap_master_key(int argc, char **argv)
{
	static const struct option opts[] = {
		{"module", required_argument, 0, 'm'}, {"wrapping-key", required_argument, 0, 'w'},
		{"in", required_argument, 0, 'i'},     {"out", required_argument, 0, 'o'},
		{"help", no_argument, 0, 'h'},	       {0, 0, 0, 0},
	};
	const char *module = NULL, *uri = NULL, *in = NULL, *outp = NULL;
	struct cli_seen seen = {0};
	int c;
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "admin wrap-master-key", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'm': module = optarg; break;
		case 'w': uri = optarg; break;
		case 'i': in = optarg; break;
		case 'o': outp = optarg; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (optind != argc || module == NULL || uri == NULL || outp == NULL) {
		fprintf(stderr, "veritee admin wrap-master-key: --module, --wrapping-key and --out are required\n");
		return CLI_ERROR;
	}
	struct vt_err e = {0};
	struct vt_secret *mk = NULL;
	vt_status rc = VT_OK;
	if (in == NULL) {
		if ((mk = vt_secret_random(32)) == NULL)
			rc = vt_fail(&e, VT_E_CRYPTO, VT_STEP_CONFIG, "", "cannot generate a master key");
	} else {
		uint8_t *p = NULL;
		size_t n = 0;
		rc = vt_file_check_private(in, &e);
		if (rc == VT_OK)
			rc = vt_file_read(in, 64, &p, &n, &e);
		if (rc == VT_OK && n != 32)
			rc = vt_fail(&e, VT_E_USAGE, VT_STEP_CONFIG, "in", "%s must hold exactly 32 bytes (a plain master "
					 "key), has %zu", in, n);
		if (rc == VT_OK && (mk = vt_secret_from(p, n)) == NULL)
			rc = vt_fail(&e, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
		if (p)
			vt_wipe(p, n);
		free(p);
	}
	if (rc == VT_OK)
		rc = vt_pkcs11_master_key_wrap(module, uri, mk, outp, &e);
	vt_secret_free(mk);
	if (rc != VT_OK) {
		cli_err("admin wrap-master-key", &e);
		return CLI_ERROR;
	}
	printf("veritee admin wrap-master-key: wrote %s (wrapped to %s)\n", outp, uri);
	return CLI_OK;
}

static int keygen(const char *path, bool force)
{
	EVP_PKEY *k = NULL;
	struct vt_err e = {0};
	char *pub = NULL;
	int ret = CLI_ERROR;
	if (asprintf(&pub, "%s.pub", path) < 0) {
		pub = NULL;
		goto out;
	}
	/* An admin key that is overwritten locks its owner out of every broker
	 * that trusts it: only on purpose. */
	if (!force && (access(path, F_OK) == 0 || access(pub, F_OK) == 0)) {
		fprintf(stderr, "veritee admin keygen: %s already exists; refusing to overwrite it (use --force)\n",
			access(path, F_OK) == 0 ? path : pub);
		goto out;
	}
	if (vt_key_generate(VT_KEY_P256, &k, &e) != VT_OK || vt_key_save_pem(path, k, true, 0600, &e) != VT_OK ||
	    vt_key_save_pem(pub, k, false, 0644, &e) != VT_OK) {
		cli_err("admin keygen", &e);
		goto out;
	}
	printf("wrote %s (private, 0600) and %s (public)\n", path, pub);
	ret = CLI_OK;
out:
	free(pub);
	EVP_PKEY_free(k);
	return ret;
}

/* A refusal, as text: the broker's KBS error {"type", "detail"} read, not
 * dumped; a denied token gets a hint. */
static void print_refusal(const char *method, const char *path, int status, const char *resp)
{
	json_t *j = resp ? json_loads(resp, 0, NULL) : NULL;
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *detail = json_string_value(json_object_get(j, "detail"));
	const char *variant = type ? (strrchr(type, '/') ? strrchr(type, '/') + 1 : type) : NULL;
	if (variant && (strcmp(variant, "AdminAuthAccess") == 0 || strcmp(variant, "AdminAuthInitialization") == 0)) {
		fprintf(stderr, "veritee admin: denied (HTTP %d): %s\n", status, detail ? detail : "admin token refused");
		fprintf(stderr, "veritee admin: hint: the broker checks the token against the keys under "
				"\"admin_public_keys\" in its config: is this key's .pub listed there, and do the two "
				"clocks agree?\n");
	} else if (detail) {
		fprintf(stderr, "veritee admin: %s %s: refused (HTTP %d%s%s): %s\n", method, path, status,
			variant ? ", " : "", variant ? variant : "", detail);
	} else {
		size_t n = resp ? strlen(resp) : 0;
		fprintf(stderr, "veritee admin: %s %s: HTTP %d%s%.*s%s\n", method, path, status, n ? ": " : "",
			(int)(n > 300 ? 300 : n), resp ? resp : "", n > 300 ? "..." : "");
	}
	json_decref(j);
}

struct admin {
	const char *url, *cacert;
	EVP_PKEY *key;
	bool json;
};

/* One admin request.  HTTP 200: CLI_OK and the body in *out (may be NULL;
 * malloc'd).  Otherwise the refusal is printed: CLI_REJECTED; transport
 * errors CLI_ERROR. */
static int call(const struct admin *ad, const char *method, const char *path, const void *body, size_t n,
		const char *ctype, char **out)
{
	struct vt_err e = {0};
	char *token = NULL, *resp = NULL;
	int status = 0;
	if (out)
		*out = NULL;
	if (cli_admin_token(ad->key, ad->url, method, path, body, n, &token, &e) != VT_OK ||
	    vt_client_request(ad->url, ad->cacert, method, path, token, body, n, ctype, &status, &resp, &e) != VT_OK) {
		cli_err("admin", &e);
		free(token);
		return CLI_ERROR;
	}
	free(token);
	if (status != 200) {
		print_refusal(method, path, status, resp);
		free(resp);
		return CLI_REJECTED;
	}
	if (out)
		*out = resp;
	else
		free(resp);
	return CLI_OK;
}

/* Send one admin request; print a JSON answer as it came (--json and the
 * commands whose answer is the object itself). */
static int send(const struct admin *ad, const char *method, const char *path, const void *body, size_t n,
		const char *ctype)
{
	char *resp = NULL;
	int ret = call(ad, method, path, body, n, ctype, &resp);
	if (ret == CLI_OK && resp && resp[0]) {
		json_t *j = json_loads(resp, 0, NULL);
		char *pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		printf("%s\n", pretty ? pretty : resp);
		free(pretty);
		json_decref(j);
	}
	free(resp);
	return ret;
}

/* GET path and parse the JSON answer (NULL after saying why). */
static json_t *get_json(const struct admin *ad, const char *path, int *ret)
{
	char *resp = NULL;
	*ret = call(ad, "GET", path, NULL, 0, NULL, &resp);
	if (*ret != CLI_OK)
		return NULL;
	json_t *j = resp ? json_loads(resp, 0, NULL) : NULL;
	free(resp);
	if (j == NULL) {
		fprintf(stderr, "veritee admin: GET %s: the answer is not JSON\n", path);
		*ret = CLI_ERROR;
	}
	return j;
}

/* The stored values of reference value `name` (a new array; [] when it is
 * not registered), or NULL after saying why. */
static json_t *refval_get(const struct admin *ad, const char *name)
{
	const char *url = ad->url, *cacert = ad->cacert;
	EVP_PKEY *key = ad->key;
	char path[512];
	snprintf(path, sizeof(path), "%s/reference-value/%s", VT_KBS_PREFIX, name);
	struct vt_err e = {0};
	char *token = NULL, *resp = NULL;
	int status = 0;
	json_t *out = NULL;
	if (cli_admin_token(key, url, "GET", path, NULL, 0, &token, &e) != VT_OK ||
	    vt_client_request(url, cacert, "GET", path, token, NULL, 0, NULL, &status, &resp, &e) != VT_OK) {
		cli_err("admin", &e);
	} else if (status == 200) {
		out = json_loads(resp, 0, NULL);
		if (out != NULL && !json_is_array(out)) {
			json_t *one = json_pack("[O]", out);
			json_decref(out);
			out = one;
		}
		if (out == NULL)
			fprintf(stderr, "veritee admin: reference value %s is not JSON\n", name);
	} else if (resp && strstr(resp, "not found") != NULL) {
		out = json_array();
	} else {
		print_refusal("GET", path, status, resp);
	}
	free(token);
	free(resp);
	return out;
}

/* add: the stored values plus these; remove: the stored values less these;
 * set: exactly these.  (The RVPS message replaces a name's list, so "add"
 * reads it first: approving a new image must not revoke the old one.) */
static int refvals_edit(const struct admin *ad, const char *cmd, const char *name, int n, char **values)
{
	bool add = strcmp(cmd, "add-reference-value") == 0, remove = strcmp(cmd, "remove-reference-value") == 0;
	json_t *vals = add || remove ? refval_get(ad, name) : json_array();
	if (vals == NULL)
		return CLI_ERROR;
	for (int i = 0; i < n; i++) {
		size_t k;
		json_t *v;
		bool found = false;
		json_array_foreach(vals, k, v) {
			if (json_is_string(v) && strcmp(json_string_value(v), values[i]) == 0) {
				found = true;
				if (remove) {
					json_array_remove(vals, k);
					break;
				}
			}
		}
		if (remove && !found)
			fprintf(stderr, "veritee admin: note: %s was not a value of %s\n", values[i], name);
		if (!remove && !found)
			json_array_append_new(vals, json_string(values[i]));
	}
	char *shown = vt_json_compact(vals);
	json_t *obj = json_pack("{s:o}", name, vals);
	char *payload = obj ? vt_json_compact(obj) : NULL;
	char *b64 = payload ? vt_b64_encode((const uint8_t *)payload, strlen(payload)) : NULL;
	json_t *msg = json_pack("{s:s, s:s, s:s}", "version", "0.1.0", "type", "sample", "payload", b64 ? b64 : "");
	char *body = msg ? vt_json_compact(msg) : NULL;
	int ret = CLI_ERROR;
	if (body)
		ret = call(ad, "POST", VT_KBS_PREFIX "/reference-value", body, strlen(body), "application/json", NULL);
	if (ret == CLI_OK)
		fprintf(stderr, "veritee admin: %s = %s\n", name, shown ? shown : "?");
	free(shown);
	free(body);
	free(b64);
	free(payload);
	json_decref(msg);
	json_decref(obj);
	return ret;
}

/* import-corim CORIM --signer KEY [--at T]: the admin key is --key of
 * `veritee admin`, so the CoRIM's signer is --signer. */
static int import_corim(const struct admin *ad, int nargs, char **a)
{
	static const struct option opts[] = {
		{"signer", required_argument, 0, 's'}, {"at", required_argument, 0, 'a'}, {0, 0, 0, 0}};
	const char *signer = NULL, *at = NULL;
	char **av = a - 1; /* getopt skips av[0] (the command name) */
	int c;
	struct cli_seen seen = {0};
	optind = 0; /* 0, not 1: glibc's getopt then forgets the outer scan's state */
	while ((c = cli_getopt(nargs + 1, av, "", opts, "admin import-corim", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 's': signer = optarg; break;
		case 'a': at = optarg; break;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (nargs + 1 - optind != 1 || signer == NULL) {
		fprintf(stderr, "veritee admin: import-corim CORIM --signer KEY [--at RFC3339]\n");
		return CLI_ERROR;
	}
	const char *path = av[optind];
	struct vt_corim *cr = NULL;
	int ret = cli_corim_load("admin import-corim", path, signer, at, false, &cr);
	if (ret != CLI_OK)
		return ret;
	size_t names = json_object_size(cr->values), values = 0;
	const char *name;
	json_t *list;
	json_object_foreach(cr->values, name, list) values += json_array_size(list);
	if (names == 0) {
		fprintf(stderr, "veritee admin: CoRIM %s verified but holds no reference value veritee imports:\n", path);
		for (size_t i = 0; i < json_array_size(cr->notes); i++)
			fprintf(stderr, "  - %s\n", json_string_value(json_array_get(cr->notes, i)));
		vt_corim_free(cr);
		return CLI_REJECTED;
	}
	char *body = vt_corim_rvps_message(cr);
	ret = body ? call(ad, "POST", VT_KBS_PREFIX "/reference-value", body, strlen(body), "application/json", NULL)
		   : CLI_ERROR;
	if (ret == CLI_OK) {
		printf("imported %zu reference value%s under %zu name%s from CoRIM \"%s\"%s%s%s:", values,
		       values == 1 ? "" : "s", names, names == 1 ? "" : "s", cr->id ? cr->id : "", cr->signer_name ? " (signer \"" : "",
		       cr->signer_name ? cr->signer_name : "", cr->signer_name ? "\")" : "");
		json_object_foreach(cr->values, name, list) printf(" %s", name);
		printf("\n");
	}
	free(body);
	vt_corim_free(cr);
	return ret;
}

/* One page of GET /kbs/v0/admin/audit, parsed; NULL after saying why. */
static json_t *audit_page(const struct admin *ad, long long since, long page)
{
	const char *url = ad->url, *cacert = ad->cacert;
	EVP_PKEY *key = ad->key;
	char path[128];
	snprintf(path, sizeof(path), "%s/admin/audit?since=%lld&limit=%ld", VT_KBS_PREFIX, since, page);
	struct vt_err e = {0};
	char *token = NULL, *resp = NULL;
	int status = 0;
	json_t *j = NULL;
	/* The token binds the path; the query is not part of it. */
	if (cli_admin_token(key, url, "GET", VT_KBS_PREFIX "/admin/audit", NULL, 0, &token, &e) != VT_OK ||
	    vt_client_request(url, cacert, "GET", path, token, NULL, 0, NULL, &status, &resp, &e) != VT_OK) {
		cli_err("admin", &e);
	} else if (status != 200) {
		print_refusal("GET", path, status, resp);
	} else if (vt_json_parse(resp, strlen(resp), 64u << 20, &j, &e) != VT_OK || !json_is_object(j) ||
		   !json_is_array(json_object_get(j, "entries")) || !json_is_boolean(json_object_get(j, "more"))) {
		fprintf(stderr, "veritee admin: GET %s: not a release log page\n", path);
		json_decref(j);
		j = NULL;
	}
	free(token);
	free(resp);
	return j;
}

/* audit --out LOG [--since N] [--page-size N]: every page up to the head
 * current when the last page was read, into one file. */
static int audit_export(const struct admin *ad, int nargs, char **a)
{
	static const struct option opts[] = {{"out", required_argument, 0, 'o'},
					     {"since", required_argument, 0, 's'},
					     {"page-size", required_argument, 0, 'p'},
					     {0, 0, 0, 0}};
	const char *out = NULL;
	long long since = 0;
	long page = 500;
	char **av = a - 1, *end = NULL;
	int c;
	struct cli_seen seen = {0};
	optind = 0;
	while ((c = cli_getopt(nargs + 1, av, "", opts, "admin audit", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'o': out = optarg; break;
		case 's':
			since = strtoll(optarg, &end, 10);
			if (end == optarg || *end != '\0' || since < 0) {
				fprintf(stderr, "veritee admin: --since wants a seq number >= 0\n");
				return CLI_ERROR;
			}
			break;
		case 'p':
			page = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || page < 1 || page > 500) {
				fprintf(stderr, "veritee admin: --page-size wants 1..500\n");
				return CLI_ERROR;
			}
			break;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (out == NULL || optind != nargs + 1) {
		fprintf(stderr, "veritee admin: audit --out LOG [--since N] [--page-size N]\n");
		return CLI_ERROR;
	}
	int ret = CLI_ERROR;
	json_t *all = json_array(), *head = json_null(), *pg = NULL, *ckpt = NULL;
	long long cursor = since;
	for (;;) {
		json_decref(pg);
		if ((pg = audit_page(ad, cursor, page)) == NULL)
			goto done;
		/* Entries through `pruned_through` were deleted by a prune: the log
		 * starts after them, and its signed checkpoint goes with it. */
		json_t *pt = json_object_get(pg, "pruned_through");
		if (json_is_integer(pt) && json_integer_value(pt) > cursor) {
			if (json_array_size(all) > 0) {
				fprintf(stderr, "veritee admin: the release log was pruned during the export; run it again\n");
				goto done;
			}
			cursor = since = json_integer_value(pt);
			json_decref(ckpt);
			ckpt = json_incref(json_object_get(pg, "checkpoint"));
			fprintf(stderr, "veritee admin: entries through seq %lld were pruned; the export starts after "
					"the broker's signed checkpoint\n",
				since);
		}
		json_t *entries = json_object_get(pg, "entries"), *e;
		size_t i;
		json_array_foreach(entries, i, e) {
			json_t *seq = json_object_get(e, "seq");
			if (!json_is_integer(seq) || json_integer_value(seq) <= cursor) {
				fprintf(stderr, "veritee admin: the broker sent an entry out of order after seq %lld\n", cursor);
				goto done;
			}
			cursor = json_integer_value(seq);
			json_array_append(all, e);
		}
		json_decref(head);
		head = json_incref(json_object_get(pg, "head"));
		if (!json_is_true(json_object_get(pg, "more")))
			break;
		if (json_array_size(entries) == 0) {
			fprintf(stderr, "veritee admin: the broker says there is more but sent nothing\n");
			goto done;
		}
	}
	json_t *doc = json_pack("{s:I, s:O, s:O}", "since", (json_int_t)since, "entries", all, "head",
				head ? head : json_null());
	if (doc != NULL && ckpt != NULL && json_is_string(ckpt))
		json_object_set(doc, "checkpoint", ckpt);
	char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	struct vt_err err = {0};
	if (text == NULL || vt_file_write(out, text, strlen(text), 0644, &err) != VT_OK) {
		cli_err("admin", &err);
	} else {
		size_t n = json_array_size(all);
		if (n)
			printf("wrote %s: %zu entries, seq %lld..%lld\n", out, n, since + 1, cursor);
		else
			printf("wrote %s: no entries after seq %lld\n", out, since);
		ret = CLI_OK;
	}
	free(text);
	json_decref(doc);
done:
	json_decref(pg);
	json_decref(head);
	json_decref(ckpt);
	json_decref(all);
	return ret;
}

/* audit-prune --through N: delete the release log's entries up to seq N at
 * the broker, which keeps a signed checkpoint of entry N. */
static int audit_prune(const struct admin *ad, int nargs, char **a)
{
	static const struct option opts[] = {{"through", required_argument, 0, 't'}, {0, 0, 0, 0}};
	long long through = 0;
	char **av = a - 1, *end = NULL;
	int c;
	struct cli_seen seen = {0};
	optind = 0;
	while ((c = cli_getopt(nargs + 1, av, "", opts, "admin audit-prune", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 't':
			through = strtoll(optarg, &end, 10);
			if (end == optarg || *end != '\0' || through < 1) {
				fprintf(stderr, "veritee admin: --through wants a seq number >= 1\n");
				return CLI_ERROR;
			}
			break;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (through < 1 || optind != nargs + 1) {
		fprintf(stderr, "veritee admin: audit-prune --through N\n");
		return CLI_ERROR;
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/admin/audit?through=%lld", VT_KBS_PREFIX, through);
	struct vt_err e = {0};
	char *token = NULL, *resp = NULL;
	int status = 0, ret = CLI_ERROR;
	json_t *j = NULL;
	/* The token binds the path; the query is not part of it. */
	if (cli_admin_token(ad->key, ad->url, "DELETE", VT_KBS_PREFIX "/admin/audit", NULL, 0, &token, &e) != VT_OK ||
	    vt_client_request(ad->url, ad->cacert, "DELETE", path, token, NULL, 0, NULL, &status, &resp, &e) != VT_OK) {
		cli_err("admin", &e);
	} else if (status != 200) {
		print_refusal("DELETE", path, status, resp);
	} else if (vt_json_parse(resp, strlen(resp), 4096, &j, &e) != VT_OK ||
		   !json_is_integer(json_object_get(j, "deleted"))) {
		fprintf(stderr, "veritee admin: DELETE %s: not a prune result\n", path);
	} else {
		printf("pruned the release log through seq %lld: %lld entries deleted; it now starts after a signed "
		       "checkpoint\n",
		       through, (long long)json_integer_value(json_object_get(j, "deleted")));
		ret = CLI_OK;
	}
	json_decref(j);
	free(token);
	free(resp);
	return ret;
}

/* console-url [--lifetime SECONDS]: the console's address with a console
 * token in its fragment, which the browser never sends to the broker. */
static int console_url(const struct admin *ad, int nargs, char **a)
{
	static const struct option opts[] = {{"lifetime", required_argument, 0, 'l'}, {0, 0, 0, 0}};
	long long lifetime = 900;
	char **av = a - 1, *end = NULL;
	int c;
	struct cli_seen seen = {0};
	optind = 0;
	while ((c = cli_getopt(nargs + 1, av, "", opts, "admin console-url", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'l':
			lifetime = strtoll(optarg, &end, 10);
			if (end == optarg || *end != '\0' || lifetime < 10 || lifetime > 86400) {
				fprintf(stderr, "veritee admin: --lifetime wants 10..86400 seconds (the broker refuses more "
						"than its admin_token_max_lifetime_seconds, 900 by default)\n");
				return CLI_ERROR;
			}
			break;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (optind != nargs + 1) {
		fprintf(stderr, "veritee admin: console-url [--lifetime SECONDS]\n");
		return CLI_ERROR;
	}
	struct vt_err e = {0};
	char *token = NULL;
	if (cli_admin_console_token(ad->key, ad->url, lifetime, &token, &e) != VT_OK) {
		cli_err("admin console-url", &e);
		return CLI_ERROR;
	}
	size_t n = strlen(ad->url);
	while (n > 0 && ad->url[n - 1] == '/')
		n--;
	printf("%.*s/console/#token=%s\n", (int)n, ad->url, token);
	fprintf(stderr, "veritee admin: this link reads the broker's console for %lld s: share it like a password\n",
		lifetime);
	vt_wipe(token, strlen(token));
	free(token);
	return CLI_OK;
}

static int read_arg_file(const char *path, uint8_t **p, size_t *n)
{
	struct vt_err e = {0};
	if (vt_file_read(strcmp(path, "-") == 0 ? "/dev/stdin" : path, 16u << 20, p, n, &e) != VT_OK) {
		cli_err("admin", &e);
		return -1;
	}
	return 0;
}

static int policy_body(const char *path, const char *id, char **out)
{
	uint8_t *p;
	size_t n;
	if (read_arg_file(path, &p, &n) != 0)
		return -1;
	char *b64 = vt_b64url_encode(p, n);
	free(p);
	json_t *j = id ? json_pack("{s:s, s:s}", "policy_id", id, "policy", b64)
		       : json_pack("{s:s}", "policy", b64);
	free(b64);
	*out = vt_json_compact(j);
	json_decref(j);
	return *out ? 0 : -1;
}

/* ------------------------------------------------------------ listings */

/* --json: the broker's answer, indented, as it came. */
static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", s ? s : "{}");
	free(s);
}

static int list_resources(const struct admin *ad, const char *one)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/admin/resources%s%s", VT_KBS_PREFIX, one ? "/" : "", one ? one : "");
	int ret;
	json_t *j = get_json(ad, path, &ret);
	if (j == NULL)
		return ret;
	if (ad->json) {
		print_json(j);
	} else if (one) {
		printf("%s  %lld bytes  (the value is not shown: it is released only to attested TEEs)\n", one,
		       (long long)json_integer_value(json_object_get(j, "size")));
	} else {
		json_t *list = json_object_get(j, "resources"), *it;
		size_t i;
		if (json_array_size(list) == 0)
			printf("no resources stored\n");
		json_array_foreach(list, i, it) printf("%-48s %8lld bytes\n", json_string_value(json_object_get(it, "path")),
						       (long long)json_integer_value(json_object_get(it, "size")));
	}
	json_decref(j);
	return CLI_OK;
}

static int list_policies(const struct admin *ad)
{
	int ret;
	json_t *j = get_json(ad, VT_KBS_PREFIX "/attestation-policy", &ret);
	if (j == NULL)
		return ret;
	if (ad->json) {
		print_json(j);
	} else {
		json_t *it;
		size_t i;
		printf("%-40s %s\n", "ID", "SOURCE");
		json_array_foreach(json_object_get(j, "policies"), i, it) {
			const char *src = json_string_value(json_object_get(it, "source"));
			bool shadow = strcmp(src ? src : "", "uploaded") == 0 && json_is_true(json_object_get(it, "has_built_in"));
			printf("%-40s %s%s\n", json_string_value(json_object_get(it, "id")), src ? src : "?",
			       shadow ? " (replaces the built-in default)" : "");
		}
	}
	json_decref(j);
	return CLI_OK;
}

static int list_refvals(const struct admin *ad)
{
	int ret;
	json_t *j = get_json(ad, VT_KBS_PREFIX "/reference-value", &ret);
	if (j == NULL)
		return ret;
	if (ad->json) {
		print_json(j);
	} else {
		json_t *list = json_object_get(j, "reference_values"), *it;
		size_t i;
		if (json_array_size(list) == 0)
			printf("no reference values registered\n");
		json_array_foreach(list, i, it) {
			long long n = (long long)json_integer_value(json_object_get(it, "count"));
			printf("%-48s %lld value%s\n", json_string_value(json_object_get(it, "name")), n, n == 1 ? "" : "s");
		}
	}
	json_decref(j);
	return CLI_OK;
}

static const char *str_or_dash(const json_t *j)
{
	const char *s = json_string_value(j);
	return s ? s : "-";
}

/* attestations [--limit N]: GET admin/attestations, newest first. */
static int list_attestations(const struct admin *ad, int nargs, char **a)
{
	long limit = 100;
	if (nargs == 2 && strcmp(a[0], "--limit") == 0) {
		char *end = NULL;
		limit = strtol(a[1], &end, 10);
		if (end == a[1] || *end != '\0' || limit < 1 || limit > 500) {
			fprintf(stderr, "veritee admin: --limit wants 1..500\n");
			return CLI_ERROR;
		}
	} else if (nargs != 0) {
		fprintf(stderr, "veritee admin: attestations [--limit N] [--json]\n");
		return CLI_ERROR;
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/admin/attestations?limit=%ld", VT_KBS_PREFIX, limit);
	struct vt_err e = {0};
	char *token = NULL, *resp = NULL;
	int status = 0, ret = CLI_ERROR;
	json_t *j = NULL;
	/* The token binds the path; the query is not part of it. */
	if (cli_admin_token(ad->key, ad->url, "GET", VT_KBS_PREFIX "/admin/attestations", NULL, 0, &token, &e) != VT_OK ||
	    vt_client_request(ad->url, ad->cacert, "GET", path, token, NULL, 0, NULL, &status, &resp, &e) != VT_OK) {
		cli_err("admin", &e);
	} else if (status != 200) {
		print_refusal("GET", path, status, resp);
		ret = CLI_REJECTED;
	} else if (vt_json_parse(resp, strlen(resp), 64u << 20, &j, &e) != VT_OK ||
		   !json_is_array(json_object_get(j, "attestations"))) {
		fprintf(stderr, "veritee admin: GET %s: not a list of attestations\n", path);
	} else if (ad->json) {
		print_json(j);
		ret = CLI_OK;
	} else {
		json_t *list = json_object_get(j, "attestations"), *it;
		size_t i;
		if (json_array_size(list) == 0)
			printf("no attestations recorded since the broker started\n");
		else
			printf("%-20s %-16s %-15s %-8s %-16s %9s  %s\n", "TIME (UTC)", "REQUEST", "CLIENT", "TEE", "RESULT",
			       "MS", "WHY");
		json_array_foreach(list, i, it) {
			char ts[32] = "?";
			time_t t = (time_t)json_integer_value(json_object_get(it, "time"));
			struct tm tm;
			if (gmtime_r(&t, &tm))
				strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
			bool ok = json_is_true(json_object_get(it, "ok"));
			const char *st = json_string_value(json_object_get(it, "status"));
			const char *step = json_string_value(json_object_get(it, "step"));
			const char *field = json_string_value(json_object_get(it, "field"));
			const char *rule = json_string_value(json_object_get(it, "rule"));
			char why[200] = "";
			if (!ok)
				snprintf(why, sizeof(why), "step %s%s%s", step ? step : "?", field ? ", field " : "",
					 field ? field : "");
			if (rule)
				snprintf(why + strlen(why), sizeof(why) - strlen(why), "%srule %s", why[0] ? "; " : "", rule);
			printf("%-20s %-16s %-15s %-8s %-16s %9.1f  %s\n", ts,
			       str_or_dash(json_object_get(it, "request_id")), str_or_dash(json_object_get(it, "client")),
			       str_or_dash(json_object_get(it, "tee")), ok ? (st ? st : "ok") : "failed",
			       json_number_value(json_object_get(it, "duration_ms")), why);
		}
		ret = CLI_OK;
	}
	json_decref(j);
	free(token);
	free(resp);
	return ret;
}

/* DELETE and say what is in force now. */
static int delete_policy(const struct admin *ad, const char *id)
{
	char path[512];
	bool rp = id == NULL;
	snprintf(path, sizeof(path), "%s/%s%s%s", VT_KBS_PREFIX, rp ? "resource-policy" : "attestation-policy",
		 rp ? "" : "/", rp ? "" : id);
	char *resp = NULL;
	int ret = call(ad, "DELETE", path, NULL, 0, NULL, &resp);
	if (ret == CLI_OK) {
		json_t *j = resp ? json_loads(resp, 0, NULL) : NULL;
		const char *now = json_string_value(json_object_get(j, "in_force"));
		if (ad->json)
			printf("%s\n", resp ? resp : "{}");
		else if (rp)
			printf("resource policy deleted: the built-in default is in force\n");
		else
			printf("attestation policy %s deleted: %s\n", id,
			       now && strcmp(now, "none") == 0 ? "no policy of that id is in force any more"
								: "its built-in default is in force again");
		json_decref(j);
	}
	free(resp);
	return ret;
}

int cmd_admin(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0) {
		bool force = argc == 4 && strcmp(argv[2], "--force") == 0;
		if (argc != 3 + (force ? 1 : 0) || argv[argc - 1][0] == '-') {
			usage(stderr);
			return CLI_ERROR;
		}
		return keygen(argv[argc - 1], force);
	}
	if (argc >= 2 && strcmp(argv[1], "wrap-master-key") == 0)
		return wrap_master_key(argc - 1, argv + 1);
	static const struct option opts[] = {
		{"url", required_argument, 0, 'u'},    {"key", required_argument, 0, 'k'},
		{"cacert", required_argument, 0, 'c'}, {"id", required_argument, 0, 'i'},
		{"json", no_argument, 0, 'j'},	       {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *keyfile = NULL, *id = NULL;
	struct admin ad = {0};
	struct cli_seen seen = {0};
	int c;
	optind = 1;
	while ((c = cli_getopt(argc, argv, "+h", opts, "admin", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'u': ad.url = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'c': ad.cacert = optarg; break;
		case 'i': id = optarg; break;
		case 'j': ad.json = true; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (ad.url == NULL || keyfile == NULL || optind >= argc) {
		fprintf(stderr, "veritee admin: want --url URL --key KEYFILE COMMAND (see veritee admin --help)\n");
		return CLI_ERROR;
	}
	const char *cmd = argv[optind];
	/* --json after the command too: every command spells it the same way */
	int nargs = 0;
	char **a = argv + optind + 1;
	for (int i = optind + 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ad.json = true;
		else
			a[nargs++] = argv[i];
	}
	if (id != NULL && strcmp(cmd, "set-attestation-policy") != 0) {
		fprintf(stderr, "veritee admin: --id is for set-attestation-policy (the other policy commands take the "
				"id as their argument)\n");
		return CLI_ERROR;
	}
	struct vt_err e = {0};
	if (vt_key_load_pem(keyfile, true, &ad.key, &e) != VT_OK) {
		cli_err("admin", &e);
		return CLI_ERROR;
	}
	char path[512];
	int ret = CLI_ERROR;
	bool res_cmd = strcmp(cmd, "set-resource") == 0 || strcmp(cmd, "get-resource") == 0 ||
		       strcmp(cmd, "delete-resource") == 0;
	if (res_cmd && nargs >= 1 && !vt_kbs_resource_path_valid(a[0])) {
		fprintf(stderr, "veritee admin: resource path must be REPO/TYPE/TAG of [A-Za-z0-9_.-]\n");
	} else if (strcmp(cmd, "set-resource") == 0 && nargs == 2) {
		uint8_t *p;
		size_t n;
		if (read_arg_file(a[1], &p, &n) == 0) {
			snprintf(path, sizeof(path), "%s/resource/%s", VT_KBS_PREFIX, a[0]);
			ret = call(&ad, "POST", path, p, n, "application/octet-stream", NULL);
			if (ret == CLI_OK)
				printf("stored resource %s (%zu bytes)\n", a[0], n);
			vt_wipe(p, n);
			free(p);
		}
	} else if (strcmp(cmd, "list-resources") == 0 && nargs == 0) {
		ret = list_resources(&ad, NULL);
	} else if (strcmp(cmd, "get-resource") == 0 && nargs == 1) {
		ret = list_resources(&ad, a[0]);
	} else if (strcmp(cmd, "delete-resource") == 0 && nargs == 1) {
		snprintf(path, sizeof(path), "%s/resource/%s", VT_KBS_PREFIX, a[0]);
		ret = call(&ad, "DELETE", path, NULL, 0, NULL, NULL);
		if (ret == CLI_OK)
			printf("deleted resource %s\n", a[0]);
	} else if ((strcmp(cmd, "set-resource-policy") == 0 || strcmp(cmd, "set-attestation-policy") == 0) &&
		   nargs == 1) {
		bool att = strcmp(cmd, "set-attestation-policy") == 0;
		const char *pid = id ? id : "default_sim";
		char *body = NULL;
		if (policy_body(a[0], att ? pid : NULL, &body) == 0)
			ret = call(&ad, "POST", att ? VT_KBS_PREFIX "/attestation-policy" : VT_KBS_PREFIX "/resource-policy",
				   body, strlen(body), "application/json", NULL);
		if (ret == CLI_OK && att)
			printf("attestation policy %s updated\n", pid);
		else if (ret == CLI_OK)
			printf("resource policy updated\n");
		free(body);
	} else if (strcmp(cmd, "get-resource-policy") == 0 && nargs == 0) {
		ret = send(&ad, "GET", VT_KBS_PREFIX "/resource-policy", NULL, 0, NULL);
	} else if (strcmp(cmd, "delete-resource-policy") == 0 && nargs == 0) {
		ret = delete_policy(&ad, NULL);
	} else if (strcmp(cmd, "list-attestation-policies") == 0 && nargs == 0) {
		ret = list_policies(&ad);
	} else if (strcmp(cmd, "get-attestation-policy") == 0 && nargs == 1) {
		snprintf(path, sizeof(path), "%s/attestation-policy/%s", VT_KBS_PREFIX, a[0]);
		ret = send(&ad, "GET", path, NULL, 0, NULL);
	} else if (strcmp(cmd, "delete-attestation-policy") == 0 && nargs == 1) {
		ret = delete_policy(&ad, a[0]);
	} else if ((strcmp(cmd, "add-reference-value") == 0 || strcmp(cmd, "remove-reference-value") == 0 ||
		    strcmp(cmd, "set-reference-values") == 0) &&
		   nargs >= 2) {
		ret = refvals_edit(&ad, cmd, a[0], nargs - 1, a + 1);
	} else if (strcmp(cmd, "list-reference-values") == 0 && nargs == 0) {
		ret = list_refvals(&ad);
	} else if (strcmp(cmd, "get-reference-value") == 0 && nargs == 1) {
		snprintf(path, sizeof(path), "%s/reference-value/%s", VT_KBS_PREFIX, a[0]);
		ret = send(&ad, "GET", path, NULL, 0, NULL);
	} else if (strcmp(cmd, "delete-reference-value") == 0 && nargs == 1) {
		snprintf(path, sizeof(path), "%s/reference-value/%s", VT_KBS_PREFIX, a[0]);
		ret = call(&ad, "DELETE", path, NULL, 0, NULL, NULL);
		if (ret == CLI_OK)
			printf("deleted reference value %s\n", a[0]);
	} else if (strcmp(cmd, "import-corim") == 0 && nargs >= 1) {
		ret = import_corim(&ad, nargs, a);
	} else if (strcmp(cmd, "audit") == 0) {
		ret = audit_export(&ad, nargs, a);
	} else if (strcmp(cmd, "audit-prune") == 0) {
		ret = audit_prune(&ad, nargs, a);
	} else if (strcmp(cmd, "attestations") == 0) {
		ret = list_attestations(&ad, nargs, a);
	} else if (strcmp(cmd, "console-url") == 0) {
		ret = console_url(&ad, nargs, a);
	} else {
		fprintf(stderr, "veritee admin: unknown command or wrong number of arguments: %s (see veritee admin --help)\n",
			cmd);
	}
	EVP_PKEY_free(ad.key);
	return ret;
}
