/*
 * The `se` TEE: IBM Secure Execution (IBM Z / LinuxONE, s390x).
 *
 * This folder:
 *   parse.c   ARCB v1, SE header v1 ("IBMSecEx"), pvattest exchange format v1
 *   crypto.c  AES-256-GCM unwrap of the ARCB with its ARPK; the attestation
 *             measurement (HMAC-SHA512); builders for tests and fuzzing
 *   verify.c  the verifier's trust and the verification of the evidence
 *   tee.c     (this file) the descriptor: options, state, load_file, policy
 * Formats, steps and claims: include/veritee/se.h.  Attester: src/attester/se/.
 * User documentation: docs/se.md.
 *
 * What is verified.  The evidence is Trustee's SeAttestationResponse
 * (deps/verifier/src/se/ibmse.rs) plus the ARCB the guest gave the
 * Ultravisor ("request_blob").  The verifier holds the ARPK of that ARCB
 * (made with `pvattest create --arpk`), so AES-256-GCM authenticates the
 * ARCB and yields the 64-byte measurement key and the 16-byte nonce; only
 * the ARPK's holder and an Ultravisor holding one of the ARCB's host keys
 * know them.  The measurement (HMAC-SHA512) is then recomputed over the
 * tags (PLD, ALD, TLD, header tag) of an SE header the operator trusts —
 * never over tags the evidence only names — with the CUID, user data, the
 * nonce and additional data, and compared in constant time.  Then: the
 * request asked for a nonce; the attestation host-key hash is one of the
 * ARCB's key slots; the image host-key hash is one of the header's key
 * slots; the first 64 bytes of the user data are the KBS binding.
 *
 * What could not be checked against real hardware (say it plainly):
 *   - No response from a real Ultravisor: no public SE attestation
 *     measurement exists.  The shared vectors (../shared/vectors/se) are
 *     s390-tools' synthetic test assets: an ARCB made with fixed test keys
 *     (checked: it authenticates under ARPK 32 x 0x17), a test SE header,
 *     and an exchange file of filler bytes.  The measurement layout is
 *     checked against s390-tools' own known answers (rust/pv
 *     uvattest/attest.rs tests) and a measurement computed independently in
 *     the tests; the ioctl is exercised against a fake device only.
 *   - The host-key chain.  Whoever makes an ARCB must encrypt it only to
 *     genuine IBM host keys: host-key documents chained to IBM's Z
 *     host-key signing key (DigiCert roots) with their CRLs.  Those are
 *     not available offline here, so veritee does not make ARCBs: the
 *     operator makes them with `pvattest create` (which checks that chain)
 *     and gives the verifier the ARPK.  Without an ARPK (or the INSECURE
 *     Trustee RSA key) SE evidence is refused with an error saying so.
 *   - The two host-key-hash consistency checks follow s390-tools'
 *     definitions (both are SHA-256 of the host key's coordinates) and have
 *     not been seen on a real machine.
 *
 * Trustee mapping.  Trustee's KBS answers /auth for "se" with a nonce that
 * is an SeAttestationRequest JSON (a fresh ARCB, the measurement key and
 * nonce RSA-encrypted to the verifier's own key, the image header tags) and
 * extra-params {"selected-hash-algorithm": "sha512"}; the guest puts
 * SHA-512(JCS{nonce, tee-pubkey}) in the user data.  Trustee's verifier
 * decrypts the key and nonce with its RSA private key, compares
 * user_data[..64] with the expected report data padded to 64, recomputes
 * the HMAC over the tags the evidence echoes, and reports
 * {cuid, report_data, version, image_phkh, attestation_phkh, tag}.
 * veritee takes the same JSON and names the same claims.  Differences:
 *   - keys come from the ARCB and an ARPK (authenticated), not from RSA
 *     ciphertexts: anyone holding Trustee's RSA *public* key can choose a
 *     measurement key and forge evidence.  The RSA path exists for
 *     evidence made against a Trustee KBS and says INSECURE in its option;
 *   - tags must be those of a configured header (Trustee leaves it to the
 *     policy's view of the "tag" claim);
 *   - the broker selects SHA-512 for the binding (challenge extra-params
 *     {"selected-hash-algorithm": "sha512"}, as Trustee), so the 64-byte user
 *     data holds the whole digest.  Its nonce is random: guest-components' SE
 *     client, which expects the /auth nonce to be an SeAttestationRequest,
 *     still needs a challenge hook serving ARCBs (docs/broker.md).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/se.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define SE_EVIDENCE_JSON_MAX ((size_t)256 * 1024)
#define SE_KEY_FILE_MAX ((size_t)64 * 1024)

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* ------------------------------------------------------------ evidence helpers */

static vt_status put_b64(json_t *o, const char *k, const uint8_t *p, size_t n, struct vt_err *err)
{
	char *s = vt_b64_encode(p, n);
	json_t *v = s ? json_string(s) : NULL;
	free(s);
	if (v == NULL || json_object_set_new(o, k, v) != 0)
		return oom(err);
	return VT_OK;
}

vt_status vt_se_evidence_from_exchange(const uint8_t *p, size_t n, json_t **out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct vt_se_exchange x;
	vt_status rc = vt_se_exchange_parse(p, n, &x, err);
	if (rc != VT_OK)
		return rc;
	if (!x.measurement.present || x.measurement.data == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.measurement",
			       "a pvattest request, not a response: it holds no measurement");
	if (!x.cuid.present || x.cuid.data == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.cuid", "the response holds no configuration UID");
	if ((x.additional.present && x.additional.data == NULL) || (x.user_data.present && x.user_data.data == NULL))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.additional",
			       "a response entry gives a size but no data");
	json_t *o = json_object();
	if (o == NULL)
		return oom(err);
	static const uint8_t none[1] = {0};
	VT_GUARD(put_b64(o, "measurement", x.measurement.data, x.measurement.size, err));
	VT_GUARD(put_b64(o, "additional_data", x.additional.data ? x.additional.data : none, x.additional.size, err));
	VT_GUARD(put_b64(o, "user_data", x.user_data.data ? x.user_data.data : none, x.user_data.size, err));
	VT_GUARD(put_b64(o, "cuid", x.cuid.data, x.cuid.size, err));
	VT_GUARD(put_b64(o, "request_blob", x.arcb.data, x.arcb.size, err));
	*out = o;
	o = NULL;
out:
	json_decref(o);
	return rc;
}

/* The evidence JSON, or a pvattest exchange response ("pvattest" magic). */
static vt_status se_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	if (size >= 8 && memcmp(bytes, "pvattest", 8) == 0)
		return vt_se_evidence_from_exchange(bytes, size, evidence_out, err);
	size_t i = 0;
	while (i < size && isspace(bytes[i]))
		i++;
	if (i < size && bytes[i] == '{')
		return vt_json_parse((const char *)bytes, size, SE_EVIDENCE_JSON_MAX, evidence_out, err);
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
		       "neither se evidence JSON nor a pvattest exchange response");
}

static vt_status se_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			   json_t **claims_out, struct vt_err *err)
{
	if (ctx == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	return vt_se_verify(vt_verify_state(ctx, &vt_tee_se), evidence, binding, claims_out, err);
}

/* ------------------------------------------------------------ state */

/* Each regular file of `path` (itself, or its directory's entries in name
 * order, dot files skipped), at most `max` of them. */
typedef vt_status (*file_fn)(struct vt_se_trust *t, const char *path, struct vt_err *err);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static vt_status each_file(struct vt_se_trust *t, const char *path, const char *option, size_t max, file_fn fn,
			   struct vt_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, option, "%s: cannot stat %.200s", option, path);
	if (!S_ISDIR(st.st_mode))
		return fn(t, path, err);
	DIR *d = opendir(path);
	if (d == NULL)
		return vt_fail(err, VT_E_IO, VT_STEP_CONFIG, option, "%s: cannot open directory %.200s", option, path);
	char *names[VT_SE_MAX_HEADERS > VT_SE_MAX_ARPKS ? VT_SE_MAX_HEADERS : VT_SE_MAX_ARPKS];
	size_t count = 0;
	vt_status rc = VT_OK;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (count >= max || count >= sizeof(names) / sizeof(names[0])) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, option, "%s: more than %zu files in %.200s", option,
				     max, path);
			break;
		}
		size_t l = strlen(path) + strlen(de->d_name) + 2;
		names[count] = malloc(l);
		if (names[count] == NULL) {
			rc = oom(err);
			break;
		}
		snprintf(names[count], l, "%s/%s", path, de->d_name);
		count++;
	}
	closedir(d);
	qsort(names, count, sizeof(names[0]), cmp_names);
	size_t used = 0;
	for (size_t i = 0; i < count && rc == VT_OK; i++) {
		if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		rc = fn(t, names[i], err);
		used++;
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	if (rc == VT_OK && used == 0)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, option, "%s: no file in %.200s", option, path);
	return rc;
}

static vt_status add_header_file(struct vt_se_trust *t, const char *path, struct vt_err *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	vt_status rc = vt_file_read(path, VT_SE_HDR_MAX + 1, &b, &n, err);
	if (rc == VT_OK)
		rc = vt_se_trust_add_header(t, b, n, err);
	free(b);
	if (rc != VT_OK && err != NULL && rc != VT_E_NOMEM) {
		char d[sizeof(err->detail)];
		if (snprintf(d, sizeof(d), "se_headers: %.200s: %s", path, err->detail) >= 0)
			memcpy(err->detail, d, sizeof(d));
		err->step = VT_STEP_CONFIG;
	}
	return rc;
}

static vt_status add_arpk_file(struct vt_se_trust *t, const char *path, struct vt_err *err)
{
	vt_status rc = vt_file_check_private(path, err);
	if (rc != VT_OK)
		return rc;
	uint8_t *b = NULL;
	size_t n = 0;
	rc = vt_file_read(path, VT_SE_ARPK_SIZE + 1, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	if (n != VT_SE_ARPK_SIZE)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "arpk",
			     "arpk: %.200s holds %zu bytes; an ARPK file (pvattest create --arpk) holds exactly %d", path, n,
			     VT_SE_ARPK_SIZE);
	else
		rc = vt_se_trust_add_arpk(t, b, err);
	vt_wipe(b, n);
	free(b);
	return rc;
}

static vt_status se_state_new(const struct vt_verifier *v, const json_t *o, void **state, struct vt_err *err)
{
	(void)v;
	const char *headers = vt_tee_opt_str(o, "se_headers");
	const char *arpk = vt_tee_opt_str(o, "arpk");
	const char *rsa = vt_tee_opt_str(o, "measurement_rsa_key_insecure");
	if (headers == NULL && arpk == NULL && rsa == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_CONFIG, "se_headers",
			       "no SE header configured: se evidence is refused");
	if (headers == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "se_headers",
			       "give the SE image header(s) the verifier trusts (se_headers, as pvextract-hdr writes "
			       "them): the measurement is recomputed over their tags");
	if (arpk == NULL && rsa == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "arpk",
			       "no way to recover measurement keys: give the ARPK of the attestation request "
			       "(arpk, from `pvattest create --arpk`).  veritee does not make attestation requests "
			       "itself: their host-key documents must chain to IBM's Z host-key signing key and "
			       "CRLs, which cannot be checked here");
	struct vt_se_trust *t = NULL;
	vt_status rc = vt_se_trust_new(&t, err);
	if (rc != VT_OK)
		return rc;
	VT_GUARD(each_file(t, headers, "se_headers", VT_SE_MAX_HEADERS, add_header_file, err));
	if (arpk != NULL)
		VT_GUARD(each_file(t, arpk, "arpk", VT_SE_MAX_ARPKS, add_arpk_file, err));
	if (rsa != NULL) {
		EVP_PKEY *k = NULL;
		VT_GUARD(vt_file_check_private(rsa, err));
		VT_GUARD(vt_key_load_pem(rsa, true, &k, err));
		rc = vt_se_trust_set_rsa_key_insecure(t, k, err);
		EVP_PKEY_free(k);
		if (rc != VT_OK)
			goto out;
	}
	*state = t;
	t = NULL;
out:
	vt_se_trust_free(t);
	return rc;
}

static void se_state_free(void *state)
{
	vt_se_trust_free(state);
}

static const struct vt_tee_option se_options[] = {
	{"se_headers", "FILE|DIR", true,
	 "the SE image header(s) the verifier trusts (IBMSecEx, as pvextract-hdr writes them; at most 64)"},
	{"arpk", "FILE|DIR", true,
	 "attestation request protection key(s): 32-byte files from `pvattest create --arpk` (mode 0600)"},
	{"measurement_rsa_key_insecure", "KEY", true,
	 "Trustee's SE RSA private key (SE_MEASUREMENT_ENCR_KEY_PRIVATE); INSECURE: its public key forges evidence"},
	{NULL, NULL, false, NULL},
};

/* hardware 2 when the measurement verified (an Ultravisor holding one of the
 * ARCB's host keys computed it over a trusted header); executables 3: the
 * image is one of the trusted headers (the verifier refuses any other);
 * configuration 2 when the host that ran the attestation is an enrolled
 * machine (reference value se_host_key_hash: hex host-key hashes), 36
 * otherwise; hardware 96 for Trustee's RSA path (no authenticity). */
static const char se_policy[] =
	"{\"version\":1,\"id\":\"default_se\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"se-measurement-verified\",\"claim\":\"/se/version\",\"equals\":256,"
	"\"on_pass\":{\"hardware\":2},\"on_fail\":{\"hardware\":97}},"
	"{\"name\":\"trusted-image\",\"claim\":\"/se/tag\",\"exists\":true,"
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"host-key\",\"claim\":\"/se/attestation_phkh\",\"in_reference\":\"se_host_key_hash\","
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":36}},"
	"{\"name\":\"authenticated-request\",\"claim\":\"/se/key_source\",\"equals\":\"arcb\","
	"\"on_fail\":{\"hardware\":96}}"
	"]}";

const struct vt_tee vt_tee_se = {
	.name = "se",
	.summary = "IBM Secure Execution attestation (Trustee's SeAttestationResponse JSON + the ARCB, or a pvattest "
		   "exchange response): HMAC-SHA512 over a trusted SE header, keys from the ARCB with its ARPK",
	.default_policy = se_policy,
	.options = se_options,
	.state_new = se_state_new,
	.state_free = se_state_free,
	.verify = se_verify,
	.load_file = se_load_file,
	.binding_hash = "sha512",
};
