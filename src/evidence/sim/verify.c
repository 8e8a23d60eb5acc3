/*
 * sim evidence verification (INSECURE TEE, see sim.h).  Steps in order:
 * parse -> chain -> signature -> binding (platform_id, then report_data).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/sim.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

/* A DER certificate is a few hundred bytes; anything past this is not ours. */
#define SIM_MAX_CERT_B64 16384

vt_status vt_sim_platform_id(X509 *cert, uint8_t out[32], struct vt_err *err)
{
	EVP_PKEY *pub = cert ? X509_get0_pubkey(cert) : NULL;
	if (pub == NULL)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "platform_cert", "certificate has no usable public key");
	/* The SubjectPublicKeyInfo exactly as the certificate encodes it:
	 * i2d_X509_PUBKEY re-emits the parsed ASN.1, where i2d_PUBKEY would set
	 * up OpenSSL 3's key encoder (a measurable cost per report). */
	unsigned char *der = NULL;
	int der_size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (der_size <= 0)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "platform_cert", "cannot encode SubjectPublicKeyInfo");
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t md_size = 0;
	vt_status rc = vt_digest(EVP_sha256(), der, (size_t)der_size, md, &md_size, err);
	OPENSSL_free(der);
	if (rc != VT_OK)
		return rc;
	if (md_size != 32)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "platform_cert", "SHA-256 gave %zu bytes", md_size);
	memcpy(out, md, 32);
	return VT_OK;
}

/* The evidence object must hold exactly "report" and "platform_cert", both strings. */
static vt_status check_members(const json_t *evidence, struct vt_err *err)
{
	if (!json_is_object(evidence))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "sim evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)evidence, key, value) {
		if (strcmp(key, "report") != 0 && strcmp(key, "platform_cert") != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
		if (!json_is_string(value))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "member \"%s\" is not a string", key);
	}
	return VT_OK;
}

static vt_status b64_member(const json_t *evidence, const char *key, size_t max_chars, uint8_t **out,
			    size_t *out_size, struct vt_err *err)
{
	const char *s;
	vt_status rc = vt_json_get_string(evidence, key, &s, err);
	if (rc != VT_OK)
		return rc;
	size_t slen = json_string_length(json_object_get(evidence, key));
	if (slen > max_chars)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "%zu base64 characters, at most %zu accepted",
			       slen, max_chars);
	rc = vt_b64_decode(s, slen, out, out_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "%s", key); /* name the member, not just "base64" */
	return rc;
}

/* Strict DER: the whole buffer is one certificate, nothing after it. */
static vt_status parse_cert(struct vt_cache_set *caches, const uint8_t *der, size_t der_size, X509 **out,
			    struct vt_err *err)
{
	if (der_size == 0 || der_size > (size_t)SIM_MAX_CERT_B64)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "platform_cert", "certificate is %zu bytes", der_size);
	return vt_x509_from_der_cached(caches, der, der_size, "platform_cert", out, err);
}

static vt_status check_binding(const struct vt_sim_report *rep, const struct vt_binding *binding,
			       struct vt_err *err)
{
	if (binding == NULL || binding->report_data == NULL)
		return VT_OK;
	if (binding->report_data_size > sizeof(rep->report_data))
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "report.report_data",
			       "expected report data is %zu bytes, at most %zu fit", binding->report_data_size,
			       sizeof(rep->report_data));
	uint8_t want[sizeof(rep->report_data)];
	memset(want, 0, sizeof(want));
	if (binding->report_data_size > 0)
		memcpy(want, binding->report_data, binding->report_data_size);
	/* Report data and the expected nonce digest are public: memcmp is fine. */
	if (memcmp(want, rep->report_data, sizeof(want)) == 0)
		return VT_OK;
	char *hw = vt_hex_encode(want, sizeof(want));
	char *hs = vt_hex_encode(rep->report_data, sizeof(rep->report_data));
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "report.report_data",
			       "report data does not match the expected binding: expected %s, seen %s",
			       hw ? hw : "?", hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

static vt_status set_hex(json_t *obj, const char *key, const uint8_t *p, size_t n, struct vt_err *err)
{
	char *h = vt_hex_encode(p, n);
	if (h == NULL || json_object_set_new(obj, key, json_string(h)) != 0) {
		free(h);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, key, "out of memory");
	}
	free(h);
	return VT_OK;
}

static vt_status make_claims(const struct vt_sim_report *rep, const uint8_t cert_fp[32], json_t **out,
			     struct vt_err *err)
{
	vt_status rc;
	json_t *c = json_object();
	if (c == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	if (json_object_set_new(c, "version", json_integer(rep->version)) != 0 ||
	    json_object_set_new(c, "svn", json_integer((json_int_t)rep->svn)) != 0 ||
	    json_object_set_new(c, "debug", json_boolean((rep->flags & VT_SIM_FLAG_DEBUG) != 0)) != 0) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	VT_GUARD(set_hex(c, "measurement", rep->measurement, sizeof(rep->measurement), err));
	VT_GUARD(set_hex(c, "report_data", rep->report_data, sizeof(rep->report_data), err));
	VT_GUARD(set_hex(c, "platform_id", rep->platform_id, sizeof(rep->platform_id), err));
	VT_GUARD(set_hex(c, "init_data", rep->init_data, sizeof(rep->init_data), err));
	VT_GUARD(set_hex(c, "platform_cert_sha256", cert_fp, 32, err));
	if (json_object_set_new(c, "insecure", json_true()) != 0) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	*out = c;
	c = NULL;
out:
	json_decref(c);
	return rc;
}

static vt_status sim_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	uint8_t *report = NULL, *der = NULL;
	size_t report_size = 0, der_size = 0;
	X509 *cert = NULL;
	EVP_PKEY *pub; /* borrowed from cert */
	struct vt_sim_report rep;
	uint8_t pid[32], fp[32];

	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");

	/* parse */
	VT_GUARD(check_members(evidence, err));
	VT_GUARD(b64_member(evidence, "report", 4 * ((VT_SIM_REPORT_V2_SIZE + 2) / 3), &report, &report_size, err));
	VT_GUARD(b64_member(evidence, "platform_cert", SIM_MAX_CERT_B64, &der, &der_size, err));
	VT_GUARD(parse_cert(vt_verifier_caches(ctx->verifier), der, der_size, &cert, err));
	VT_GUARD(vt_sim_report_parse(report, report_size, &rep, err));

	/* chain */
	X509 *root = vt_verify_state(ctx, &vt_tee_sim);
	if (root == NULL)
		root = ctx->sim_root_insecure;
	if (root == NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "platform_cert",
			     "sim evidence refused: no sim root configured (tees.sim.root)");
		goto out;
	}
	VT_GUARD(vt_x509_verify_chain_cached(vt_verifier_caches(ctx->verifier), cert, root, ctx->now, err));
	if (X509_check_ca(cert) != 0) { /* only a leaf may speak for the platform */
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "platform_cert", "platform certificate is a CA certificate");
		goto out;
	}

	/* signature */
	pub = X509_get0_pubkey(cert);
	if (pub == NULL || vt_ec_coord_size(pub) != 48) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform_cert", "platform key is not ECDSA P-384");
		goto out;
	}
	VT_GUARD(vt_ecdsa_verify_raw(pub, EVP_sha384(), report, vt_sim_signed_size(rep.version), rep.signature,
				     sizeof(rep.signature), err));

	/* binding: the report names the key that signed it, then the caller's nonce */
	VT_GUARD(vt_sim_platform_id(cert, pid, err));
	if (memcmp(pid, rep.platform_id, sizeof(pid)) != 0) { /* public values */
		char *hw = vt_hex_encode(pid, sizeof(pid));
		char *hs = vt_hex_encode(rep.platform_id, sizeof(rep.platform_id));
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "report.platform_id",
			     "platform_id does not match the platform certificate key: expected %s, seen %s",
			     hw ? hw : "?", hs ? hs : "?");
		free(hw);
		free(hs);
		goto out;
	}
	VT_GUARD(check_binding(&rep, binding, err));

	VT_GUARD(vt_x509_fingerprint_sha256(cert, fp, err));
	VT_GUARD(make_claims(&rep, fp, claims_out, err));
out:
	X509_free(cert);
	free(report);
	free(der);
	return rc;
}

/* The state: the trusted sim root.  Without one, sim is refused. */
static vt_status sim_state_new(const struct vt_verifier *v, const json_t *options, void **state, struct vt_err *err)
{
	(void)v;
	const char *path = json_string_value(json_object_get(options, "root"));
	if (path == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_CONFIG, "root", "no sim root: sim evidence is refused");
	X509 *root = NULL;
	vt_status rc = vt_x509_load(path, &root, err);
	if (rc == VT_OK)
		*state = root;
	return rc;
}

static void sim_state_free(void *state)
{
	X509_free(state);
}

/* `veritee verify sim`: the local sim directory's root by default. */
static void sim_cli_defaults(json_t *options)
{
	if (json_object_get(options, "root") != NULL)
		return;
	char *dir = vt_sim_default_dir(), *root = NULL;
	if (dir && asprintf(&root, "%s/sim-root.pem", dir) > 0)
		json_object_set_new(options, "root", json_string(root));
	free(root);
	free(dir);
}

static const struct vt_tee_option sim_options[] = {
	{"root", "PEM", true, "the trusted sim root (INSECURE: simulated evidence proves nothing about hardware)"},
	{NULL, NULL, false, NULL},
};

/* hardware 2 when the sim verifier passed; configuration 2 without debug
 * (96 with); executables 2 when the measurement is a reference value. */
static const char sim_policy[] =
	"{\"version\":1,\"id\":\"default_sim\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"sim-platform-verified\",\"claim\":\"/sim/platform_id\",\"exists\":true,"
	"\"description\":\"the sim verifier checked the platform chain and signature (INSECURE TEE)\","
	"\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"debug-disabled\",\"claim\":\"/sim/debug\",\"equals\":false,"
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}},"
	"{\"name\":\"measurement-approved\",\"claim\":\"/sim/measurement\",\"in_reference\":\"sim_measurement\","
	"\"on_pass\":{\"executables\":2},\"on_fail\":{\"executables\":33}}"
	"]}";

const struct vt_tee vt_tee_sim = {
	.name = "sim",
	.insecure = true,
	.flags = VT_TEE_INSECURE,
	.summary = "simulated TEE: the JSON `veritee attest --tee sim` prints",
	.default_policy = sim_policy,
	.options = sim_options,
	.state_new = sim_state_new,
	.state_free = sim_state_free,
	.verify = sim_verify,
	.cli_defaults = sim_cli_defaults,
	.init_data = VT_INIT_DATA_PAD,
};
