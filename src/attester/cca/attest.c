/*
 * Arm CCA attester: inside a realm, ask the RMM for an attestation token
 * whose realm challenge is our 64 bytes of report data, through
 * configfs-tsm (Linux >= 6.7, provider "arm_cca_guest"; the same request as
 * guest-components' CCA attester): a fresh entry, inblob = the challenge,
 * outblob = the token, the generation counter checked, the entry removed
 * on every path (attester/tsm.c).  What the kernel hands back is untrusted:
 * the token is parsed with the verifier's parser and must carry our
 * challenge.  Tokens are public: nothing here is wiped.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "attester/cca/cca_attester.h"
#include "attester/tsm.h"
#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/cca.h"

static const char NO_INTERFACE[] = "no Arm CCA realm interface (configfs-tsm with provider arm_cca_guest) on this machine";

vt_status vt_cca_attest_evidence(const struct vt_cca_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err)
{
	if (report_data == NULL || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	const char *root = paths && paths->configfs_root ? paths->configfs_root : VT_TSM_DEFAULT_ROOT;
	vt_status rc0 = vt_tsm_check_root(root, NO_INTERFACE, err);
	if (rc0 != VT_OK)
		return rc0;

	struct vt_tsm_request req = {
		.root = root,
		.provider = "arm_cca_guest",
		.what = "an Arm CCA realm",
		.inblob = report_data,
		.inblob_size = VT_CCA_CHALLENGE_SIZE,
		.outblob_max = VT_CCA_TOKEN_MAX,
	};
	struct vt_buf tok;
	uint8_t challenge[VT_CCA_CHALLENGE_SIZE];
	vt_status rc = vt_tsm_report(&req, &tok, NULL, err);
	if (rc != VT_OK)
		return rc;
	if (tok.len == 0)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "outblob", "configfs-tsm returned an empty token");
	if (rc == VT_OK)
		rc = vt_cca_token_realm_challenge(tok.data, tok.len, challenge, err);
	if (rc == VT_OK && memcmp(challenge, report_data, sizeof(challenge)) != 0)
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "realm.challenge",
			     "the token from configfs-tsm does not carry the requested challenge");
	if (rc == VT_OK)
		rc = vt_cca_evidence_from_token(tok.data, tok.len, evidence_out, err);
	vt_buf_free(&tok);
	return rc;
}

static vt_status cca_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	struct vt_cca_attest_paths paths = {.configfs_root = json_string_value(json_object_get(o, "cca_configfs"))};
	return vt_cca_attest_evidence(&paths, report_data, evidence_out, err);
}

static const struct vt_tee_option cca_attest_options[] = {
	{"cca_configfs", "DIR", true, "configfs-tsm report root (default /sys/kernel/config/tsm/report)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_cca = {
	.name = "cca",
	.summary = "Arm CCA realm: configfs-tsm (provider arm_cca_guest)",
	.options = cca_attest_options,
	.attest = cca_attest_json,
};
