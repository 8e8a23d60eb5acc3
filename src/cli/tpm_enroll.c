/* veritee tpm-enroll: enroll this TPM's attestation key with a broker
 * (credential activation): start -> POST /tpm/enroll -> TPM2_ActivateCredential
 * -> POST /tpm/activate. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "cli/cli.h"
#include "veritee/client.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

#define CMD "tpm-enroll"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee tpm-enroll URL [--tpm-tcti TCTI] [--cacert PEM]\n"
		   "\n"
		   "Enroll this TPM's attestation key (AK, ECC P-256 at 0x81010002 under the RSA EK, created\n"
		   "on first use: the key `get-resource --tee tpm` quotes with) with the broker at URL.\n"
		   "The broker checks the EK certificate (NV 0x01C00002) against its tpm_ek_roots and sends\n"
		   "a credential only this TPM can activate; on success it trusts the AK (reference value\n"
		   "trusted_aks).  Prints the AK digest (hex SHA-256 of its DER SubjectPublicKeyInfo).\n"
		   "\n"
		   "  --tpm-tcti TCTI      e.g. swtpm:host=127.0.0.1,port=2321 (default $VERITEE_TPM_TCTI,\n"
		   "                       else device:/dev/tpmrm0)\n"
		   "  --cacert PEM         CA bundle that signs the broker's HTTPS certificate\n");
}

/* POST a JSON body; a non-200 answer is a refusal printed from the KBS
 * ErrorInformation.  *answer: the parsed 200 body. */
static int post(const char *url, const char *cacert, const char *path, const json_t *body, const char *step,
		json_t **answer)
{
	struct vt_err e = {0};
	char *text = vt_json_compact(body), *resp = NULL;
	int status = 0;
	*answer = NULL;
	vt_status rc = text ? vt_client_request(url, cacert, "POST", path, NULL, text, strlen(text), "application/json",
						&status, &resp, &e)
			    : vt_fail(&e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	if (text) {
		vt_wipe(text, strlen(text));
		free(text);
	}
	if (rc != VT_OK) {
		cli_err(CMD, &e);
		return CLI_ERROR;
	}
	json_t *j = NULL;
	(void)!vt_json_parse(resp, strlen(resp), 1u << 20, &j, NULL);
	free(resp);
	if (status != 200) {
		const char *type = json_string_value(json_object_get(j, "type"));
		const char *detail = json_string_value(json_object_get(j, "detail"));
		const char *slash = type ? strrchr(type, '/') : NULL;
		fprintf(stderr, "veritee %s: refused at %s: HTTP %d %s: %s\n", CMD, step, status,
			slash ? slash + 1 : type ? type : "", detail ? detail : "(no detail)");
		json_decref(j);
		return CLI_REJECTED;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "veritee %s: the broker's %s answer is not a JSON object\n", CMD, step);
		json_decref(j);
		return CLI_ERROR;
	}
	*answer = j;
	return CLI_OK;
}

static vt_status member_b64(const json_t *o, const char *key, uint8_t **out, size_t *n, struct vt_err *e)
{
	const char *s;
	vt_status rc = vt_json_get_string(o, key, &s, e);
	return rc == VT_OK ? vt_b64_decode(s, strlen(s), out, n, e) : rc;
}

/* The AK digest as the tpm verifier computes it: hex SHA-256 of the DER SPKI. */
static vt_status ak_digest(const json_t *start, char **hex_out, struct vt_err *e)
{
	uint8_t *pub = NULL, name[VT_TPM_NAME_MAX], md[EVP_MAX_MD_SIZE];
	size_t n = 0, name_len = 0, md_len = 0;
	EVP_PKEY *ak = NULL;
	unsigned char *der = NULL;
	vt_status rc;
	VT_GUARD(member_b64(start, "ak_public", &pub, &n, e));
	VT_GUARD(vt_tpm_ak_check(pub, n, name, &name_len, &ak, e));
	int len = i2d_PUBKEY(ak, &der);
	if (len <= 0) {
		rc = vt_fail(e, VT_E_CRYPTO, VT_STEP_CRYPTO, "ak_public", "cannot encode the AK");
		goto out;
	}
	VT_GUARD(vt_digest(EVP_sha256(), der, (size_t)len, md, &md_len, e));
	*hex_out = vt_hex_encode(md, md_len);
	rc = *hex_out ? VT_OK : vt_fail(e, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
out:
	OPENSSL_free(der);
	EVP_PKEY_free(ak);
	free(pub);
	return rc;
}

int cmd_tpm_enroll(int argc, char **argv)
{
	static const struct option opts[] = {
		{"tpm-tcti", required_argument, 0, 'C'},
		{"cacert", required_argument, 0, 'c'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	struct vt_attest_opts ao = {0};
	const char *cacert = NULL;
	int c;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "tpm-enroll", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'C': ao.tpm_tcti = optarg; break;
		case 'c': cacert = optarg; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return CLI_ERROR;
	}
	const char *url = argv[optind];
	struct vt_err e = {0};
	json_t *start = NULL, *challenge = NULL, *act = NULL, *done = NULL;
	uint8_t *blob = NULL, *enc = NULL;
	size_t blob_len = 0, enc_len = 0;
	struct vt_secret *secret = NULL;
	char *digest = NULL, *secret_b64 = NULL;
	int ret = CLI_ERROR;

	if (vt_tpm_enroll_start(&ao, &start, &e) != VT_OK || ak_digest(start, &digest, &e) != VT_OK) {
		cli_err(CMD, &e);
		goto out;
	}
	if (json_is_null(json_object_get(start, "ek_cert")))
		fprintf(stderr, "veritee %s: note: this TPM has no EK certificate at NV 0x01c00002; the broker will "
				"refuse it\n",
			CMD);
	ret = post(url, cacert, VT_KBS_PREFIX "/tpm/enroll", start, "enroll", &challenge);
	if (ret != CLI_OK)
		goto out;
	const char *id;
	ret = CLI_ERROR;
	if (vt_json_get_string(challenge, "id", &id, &e) != VT_OK ||
	    member_b64(challenge, "credential_blob", &blob, &blob_len, &e) != VT_OK ||
	    member_b64(challenge, "encrypted_secret", &enc, &enc_len, &e) != VT_OK) {
		cli_err(CMD, &e);
		goto out;
	}
	vt_status rc = vt_tpm_activate(&ao, blob, blob_len, enc, enc_len, &secret, &e);
	if (rc != VT_OK) {
		cli_err(CMD, &e);
		ret = cli_exit_code(rc);
		goto out;
	}
	secret_b64 = vt_b64_encode(secret->data, secret->len);
	act = secret_b64 ? json_pack("{s:s, s:s}", "id", id, "secret", secret_b64) : NULL;
	if (act == NULL) {
		fprintf(stderr, "veritee %s: out of memory\n", CMD);
		goto out;
	}
	ret = post(url, cacert, VT_KBS_PREFIX "/tpm/activate", act, "activate", &done);
	if (ret != CLI_OK)
		goto out;
	const char *confirmed = json_string_value(json_object_get(done, "ak_digest"));
	if (confirmed && strcmp(confirmed, digest) != 0) {
		fprintf(stderr, "veritee %s: the broker enrolled AK %s, expected %s\n", CMD, confirmed, digest);
		ret = CLI_ERROR;
		goto out;
	}
	printf("%s\n", digest);
	ret = fflush(stdout) == 0 ? CLI_OK : CLI_ERROR;
out:
	if (secret_b64) {
		vt_wipe(secret_b64, strlen(secret_b64));
		free(secret_b64);
	}
	vt_secret_free(secret);
	json_decref(act); /* its copy of the secret string is freed with it */
	json_decref(done);
	json_decref(challenge);
	json_decref(start);
	free(blob);
	free(enc);
	free(digest);
	return ret;
}
