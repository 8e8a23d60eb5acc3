/*
 * The `nvidia` TEE: evidence JSON (Trustee's NvDeviceReportAndCert), the
 * verification steps, the KBS additional-evidence split (devices), files
 * for `veritee verify nvidia`, the state (certs, RIMs) and the descriptor.
 * Format, trust, binding and claims: veritee/nvidia.h and docs/nvidia.md.
 *
 * Steps, in order: parse (evidence JSON, report, chain) -> signature (the
 * report, with the leaf key: one P-384 verification) -> chain (pinned
 * root, X509_verify_cert at `now`, cached per verifier; arch; FWID) ->
 * binding -> claims -> RIMs (collateral).  The signature comes before the
 * chain because a warm chain makes it the only expensive step and a forged
 * report is then refused at its cheapest; both must pass.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/cache.h"
#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define REPORT_B64_MAX (4 * ((VT_NVIDIA_MAX_REPORT + 2) / 3))
#define REPORT_HEX_MAX (2 * VT_NVIDIA_MAX_REPORT)
#define CHAIN_B64_MAX (4 * ((VT_NVIDIA_MAX_CHAIN + 2) / 3))
#define FILE_JSON_MAX ((size_t)4 << 20)
#define VERSION_MAX 128

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* ------------------------------------------------------------ arch */

enum nvx_arch nvx_arch_parse(const char *s)
{
	if (s == NULL)
		return NVX_ARCH_NONE;
	if (strcasecmp(s, "hopper") == 0)
		return NVX_ARCH_HOPPER;
	if (strcasecmp(s, "blackwell") == 0)
		return NVX_ARCH_BLACKWELL;
	if (strcasecmp(s, "ls10") == 0)
		return NVX_ARCH_LS10;
	return NVX_ARCH_NONE;
}

const char *nvx_arch_name(enum nvx_arch a)
{
	return a == NVX_ARCH_HOPPER ? "Hopper" : a == NVX_ARCH_BLACKWELL ? "Blackwell" : a == NVX_ARCH_LS10 ? "LS10" : "?";
}

const char *nvx_arch_class(enum nvx_arch a)
{
	return a == NVX_ARCH_LS10 ? "switch" : "gpu";
}

/* ------------------------------------------------------------ state */

struct nv_state {
	uint8_t *chain; /* the "certs" option's bytes, or NULL */
	size_t chain_size;
	size_t rim_count;
	struct vt_nvidia_rim **rims;
};

static void state_free(void *p)
{
	struct nv_state *s = p;
	if (s == NULL)
		return;
	free(s->chain);
	for (size_t i = 0; i < s->rim_count; i++)
		vt_nvidia_rim_free(s->rims[i]);
	free(s->rims);
	free(s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static vt_status add_rim(struct nv_state *s, const char *path, struct vt_err *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	struct vt_nvidia_rim *rim = NULL;
	vt_status rc = vt_file_read(path, VT_NVIDIA_RIM_MAX_FILE, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	const char *base = strrchr(path, '/');
	rc = vt_nvidia_rim_load(b, n, base ? base + 1 : path, &rim, err);
	free(b);
	if (rc != VT_OK)
		return rc;
	if (s->rim_count == VT_NVIDIA_RIM_MAX_FILES) {
		vt_nvidia_rim_free(rim);
		return vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, "rim", "more than %d RIMs", VT_NVIDIA_RIM_MAX_FILES);
	}
	s->rims[s->rim_count++] = rim;
	return VT_OK;
}

/* A file, or every regular file of a directory (names not starting with '.'), in name order. */
static vt_status load_rims(struct nv_state *s, const char *path, struct vt_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "rim", "cannot read %.200s", path);
	s->rims = calloc(VT_NVIDIA_RIM_MAX_FILES, sizeof(*s->rims));
	if (s->rims == NULL)
		return oom(err);
	if (!S_ISDIR(st.st_mode))
		return add_rim(s, path, err);
	DIR *d = opendir(path);
	if (d == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "rim", "cannot list %.200s", path);
	char *names[VT_NVIDIA_RIM_MAX_FILES];
	size_t count = 0;
	vt_status rc = VT_OK;
	struct dirent *e;
	while (rc == VT_OK && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *full = NULL;
		if (asprintf(&full, "%s/%s", path, e->d_name) < 0) {
			rc = oom(err);
			break;
		}
		if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		if (count == VT_NVIDIA_RIM_MAX_FILES) {
			free(full);
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, "rim", "more than %d files in %.200s",
				     VT_NVIDIA_RIM_MAX_FILES, path);
			break;
		}
		names[count++] = full;
	}
	closedir(d);
	if (rc == VT_OK && count == 0)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "rim", "no file in %.200s", path);
	qsort(names, count, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < count; i++) {
		if (rc == VT_OK)
			rc = add_rim(s, names[i], err);
		free(names[i]);
	}
	return rc;
}

static vt_status state_new(const struct vt_verifier *v, const json_t *o, void **out, struct vt_err *err)
{
	(void)v;
	struct nv_state *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return oom(err);
	vt_status rc = VT_OK;
	const char *certs = vt_tee_opt_str(o, "certs"), *rim = vt_tee_opt_str(o, "rim");
	if (certs != NULL) {
		struct nvx_chain c;
		rc = vt_file_read(certs, VT_NVIDIA_MAX_CHAIN, &s->chain, &s->chain_size, err);
		if (rc == VT_OK && (rc = nvx_chain_parse(NULL, s->chain, s->chain_size, "certs", &c, err)) == VT_OK)
			nvx_chain_free(&c);
	}
	if (rc == VT_OK && rim != NULL)
		rc = load_rims(s, rim, err);
	if (rc != VT_OK) {
		state_free(s);
		return rc;
	}
	*out = s;
	return VT_OK;
}

static const struct vt_tee_option nvidia_options[] = {
	{"certs", "FILE", true, "the device certificate chain (PEM or DER, leaf first) for evidence without one"},
	{"rim", "FILE|DIR", true,
	 "NVIDIA RIMs (signed SWID tags): a file or a directory; applicable ones are compared with the blocks"},
	{NULL, NULL, false, NULL},
};

/* ------------------------------------------------------------ evidence JSON */

struct ev {
	enum nvx_arch arch; /* NONE: not given */
	const char *uuid;   /* NULL: not given */
	uint8_t *report;
	size_t report_size;
	uint8_t *chain;     /* NULL: not given */
	size_t chain_size;
};

static void ev_free(struct ev *e)
{
	free(e->report);
	free(e->chain);
	memset(e, 0, sizeof(*e));
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (vt_hex_digit(s[i]) < 0)
			return false;
	return n > 0 && n % 2 == 0;
}

static vt_status ev_parse(const json_t *j, struct ev *e, struct vt_err *err)
{
	vt_status rc = VT_OK;
	memset(e, 0, sizeof(*e));
	if (!json_is_object(j))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "nvidia evidence is not a JSON object");
	json_t *arch = json_object_get(j, "arch"), *uuid = json_object_get(j, "uuid");
	json_t *rep = json_object_get(j, "evidence"), *cert = json_object_get(j, "certificate");
	if (arch != NULL) {
		if (!json_is_string(arch) || (e->arch = nvx_arch_parse(json_string_value(arch))) == NVX_ARCH_NONE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arch",
				       "\"arch\" is not one of HOPPER, BLACKWELL, LS10 (%.32s)",
				       json_is_string(arch) ? json_string_value(arch) : "not a string");
	}
	if (uuid != NULL) {
		if (!json_is_string(uuid) || json_string_length(uuid) > VT_NVIDIA_MAX_UUID)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "uuid", "\"uuid\" is not a string of at most %d",
				       VT_NVIDIA_MAX_UUID);
		e->uuid = json_string_value(uuid);
	}
	if (!json_is_string(rep))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "\"evidence\" is missing or not a string");
	const char *s = json_string_value(rep);
	size_t n = json_string_length(rep);
	/* hex first, as Trustee does (older attesters sent hex); else base64 */
	if (all_hex(s, n)) {
		if (n > REPORT_HEX_MAX)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "evidence", "%zu hex digits, at most %zu", n,
				       (size_t)REPORT_HEX_MAX);
		rc = vt_hex_decode(s, &e->report, &e->report_size, err);
	} else {
		if (n > REPORT_B64_MAX)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "evidence", "%zu base64 characters, at most %zu", n,
				       (size_t)REPORT_B64_MAX);
		rc = vt_b64_decode(s, n, &e->report, &e->report_size, err);
	}
	if (rc != VT_OK) {
		vt_err_clear(err);
		rc = vt_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE, VT_STEP_PARSE, "evidence",
			     "\"evidence\" is neither hex nor standard base64");
		goto bad;
	}
	if (cert != NULL) {
		if (!json_is_string(cert)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "certificate", "\"certificate\" is not a string");
			goto bad;
		}
		n = json_string_length(cert);
		if (n > CHAIN_B64_MAX) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "certificate", "%zu base64 characters, at most %zu",
				     n, (size_t)CHAIN_B64_MAX);
			goto bad;
		}
		rc = vt_b64_decode(json_string_value(cert), n, &e->chain, &e->chain_size, err);
		if (rc != VT_OK) {
			vt_err_clear(err);
			rc = vt_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE, VT_STEP_PARSE, "certificate",
				     "\"certificate\" is not standard base64");
			goto bad;
		}
	}
	return VT_OK;
bad:
	if (err != NULL && err->step == VT_STEP_PARSE && err->field[0] == '\0')
		snprintf(err->field, sizeof(err->field), "evidence");
	ev_free(e);
	return rc;
}

/* ------------------------------------------------------------ checks */

static vt_status check_binding(const struct vt_nvidia_report *r, const struct vt_binding *b, struct vt_err *err)
{
	if (b == NULL || b->report_data == NULL)
		return VT_OK;
	if (b->report_data_size < VT_NVIDIA_NONCE_SIZE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "report.request.nonce",
			       "expected report data is %zu bytes; the SPDM nonce takes its first %d", b->report_data_size,
			       VT_NVIDIA_NONCE_SIZE);
	/* Trustee's rule for NVIDIA: report data truncated to the 32-byte nonce.
	 * Nonces are public: memcmp is fine. */
	if (memcmp(r->nonce, b->report_data, VT_NVIDIA_NONCE_SIZE) == 0)
		return VT_OK;
	char *hs = vt_hex_encode(r->nonce, VT_NVIDIA_NONCE_SIZE);
	char *hw = vt_hex_encode(b->report_data, VT_NVIDIA_NONCE_SIZE);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "report.request.nonce",
			       "the SPDM request nonce %s is not the expected %s", hs ? hs : "?", hw ? hw : "?");
	free(hs);
	free(hw);
	return rc;
}

static vt_status check_fwid(const struct vt_nvidia_report *r, X509 *leaf, enum nvx_arch arch, struct vt_err *err)
{
	const struct vt_nvidia_opaque *f = vt_nvidia_report_opaque(r, VT_NVIDIA_OPAQUE_FWID);
	if (f == NULL) {
		if (arch == NVX_ARCH_LS10)
			return VT_OK; /* NVSwitches do not report one */
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "report.opaque[20]",
			       "a GPU report without FWID: its binding to the leaf certificate cannot be checked");
	}
	uint8_t fwid[VT_NVIDIA_FWID_SIZE];
	vt_status rc = vt_nvidia_leaf_fwid(leaf, fwid, err);
	if (rc != VT_OK)
		return rc;
	if (f->size == VT_NVIDIA_FWID_SIZE && memcmp(f->data, fwid, sizeof(fwid)) == 0) /* public values */
		return VT_OK;
	char *hc = vt_hex_encode(fwid, sizeof(fwid));
	char *hr = vt_hex_encode(f->data, f->size);
	rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate[0].fwid",
		     "the leaf certificate's FWID %s differs from the report's %.200s", hc ? hc : "?", hr ? hr : "?");
	free(hc);
	free(hr);
	return rc;
}

static vt_status decide_arch(enum nvx_arch given, X509 *leaf, enum nvx_arch *out, struct vt_err *err)
{
	enum nvx_arch model = nvx_arch_of_cert(leaf);
	char cn[128];
	if (given != NVX_ARCH_NONE && model != NVX_ARCH_NONE && given != model) {
		nvx_cert_cn(leaf, cn, sizeof(cn));
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "arch",
			       "the evidence says arch %s but the device's leaf certificate is \"%.64s\" (%s)",
			       nvx_arch_name(given), cn, nvx_arch_name(model));
	}
	*out = given != NVX_ARCH_NONE ? given : model;
	if (*out == NVX_ARCH_NONE) {
		nvx_cert_cn(leaf, cn, sizeof(cn));
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arch",
			       "no \"arch\" in the evidence, and the leaf certificate \"%.64s\" names no known model", cn);
	}
	return VT_OK;
}

/* ------------------------------------------------------------ claims */

static vt_status cert_claims(const struct nvx_chain *c, json_t *claims, char *model, size_t mn, struct vt_err *err)
{
	char cn[128];
	nvx_cert_cn(c->x[1], cn, sizeof(cn));
	snprintf(model, mn, "%.*s", (int)strcspn(cn, " "), cn);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(c->x[0]);
	BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	char *dec = bn ? BN_bn2dec(bn) : NULL;
	BN_free(bn);
	int bad = dec == NULL || json_object_set_new(claims, "hwmodel", json_string(cn)) != 0 ||
		  json_object_set_new(claims, "ueid", json_string(dec)) != 0;
	OPENSSL_free(dec);
	ERR_clear_error();
	return bad ? oom(err) : VT_OK;
}

/* The state's RIMs that apply to this device, checked and compared. */
static vt_status rim_claims(struct vt_cache_set *caches, const struct nv_state *s, const struct vt_nvidia_report *r,
			    const char *model, const char *driver, const char *vbios, int64_t now, json_t *claims,
			    struct vt_err *err)
{
	const struct vt_nvidia_rim *use[2] = {NULL, NULL}; /* driver, vbios */
	static const char *const kinds[2] = {"driver", "vbios"};
	const char *versions[2] = {driver, vbios};
	for (size_t i = 0; s != NULL && i < s->rim_count; i++) {
		const struct vt_nvidia_rim *rim = s->rims[i];
		if (strcmp(rim->product, model) != 0)
			continue;
		for (size_t k = 0; k < 2; k++) {
			if (versions[k][0] == '\0' || strcmp(rim->version, versions[k]) != 0)
				continue;
			if (use[k] != NULL)
				return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "rim",
					       "two %s RIMs for %s version %s (%.64s, %.64s): give one", kinds[k], model,
					       versions[k], use[k]->file ? use[k]->file : "?", rim->file ? rim->file : "?");
			use[k] = rim;
		}
	}
	if (use[0] == NULL && use[1] == NULL)
		return VT_OK;
	/* an index active in both RIMs is an error (nvtrust verifier.py) */
	for (size_t i = 0; use[0] != NULL && use[1] != NULL && i < use[0]->golden_count; i++)
		for (size_t j = 0; use[0]->golden[i].active && j < use[1]->golden_count; j++)
			if (use[1]->golden[j].active && use[1]->golden[j].index == use[0]->golden[i].index)
				return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "rim",
					       "measurement %u is active in both the driver and the VBIOS RIM",
					       use[0]->golden[i].index);
	json_t *rims = json_object();
	if (rims == NULL || json_object_set_new(claims, "rim", rims) != 0)
		return oom(err);
	bool all_ok = true;
	for (size_t k = 0; k < 2; k++) {
		if (use[k] == NULL)
			continue;
		struct vt_err inner = {0};
		if (nvx_rim_chain_cached(caches, use[k], now, &inner) != VT_OK)
			return vt_fail(err, inner.code == VT_E_REJECTED ? VT_E_REJECTED : inner.code, VT_STEP_COLLATERAL,
				       "rim", "%s RIM %.64s: %s: %s", kinds[k], use[k]->file ? use[k]->file : "?",
				       inner.field, inner.detail);
		json_t *cmp = NULL;
		vt_status rc = vt_nvidia_rim_compare(use[k], r, &cmp, err);
		if (rc != VT_OK)
			return rc;
		all_ok = all_ok && json_array_size(json_object_get(cmp, "mismatched")) == 0;
		if (json_object_set_new(cmp, "verified", json_true()) != 0 ||
		    json_object_set_new(cmp, "file", json_string(use[k]->file ? use[k]->file : "")) != 0 ||
		    json_object_set_new(cmp, "version", json_string(use[k]->version)) != 0 ||
		    json_object_set_new(cmp, "tag_id", json_string(use[k]->tag_id)) != 0 ||
		    json_object_set_new(rims, kinds[k], cmp) != 0)
			return oom(err);
	}
	if (json_object_set_new(claims, "measres", json_string(all_ok ? "success" : "fail")) != 0)
		return oom(err);
	return VT_OK;
}

/* ------------------------------------------------------------ verify */

static vt_status nvidia_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			       json_t **claims_out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct ev e;
	struct nvx_chain c;
	struct vt_nvidia_report *r = NULL;
	json_t *claims = NULL;
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*claims_out = NULL;
	const struct nv_state *s = vt_verify_state(ctx, &vt_tee_nvidia);
	struct vt_cache_set *caches = vt_verifier_caches(ctx->verifier);

	/* parse */
	VT_GUARD(ev_parse(evidence, &e, err));
	r = malloc(sizeof(*r));
	if (r == NULL) {
		rc = oom(err);
		goto out;
	}
	VT_GUARD(vt_nvidia_report_parse(e.report, e.report_size, r, err));
	const uint8_t *chain = e.chain ? e.chain : s ? s->chain : NULL;
	size_t chain_size = e.chain ? e.chain_size : s ? s->chain_size : 0;
	if (chain == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "certificate",
			     "no \"certificate\" in the evidence and no certs option: the device chain is missing");
		goto out;
	}
	VT_GUARD(nvx_chain_parse(caches, chain, chain_size, "certificate", &c, err));

	/* signature: ECDSA P-384 / SHA-384 with the leaf key over request || response-without-signature */
	EVP_PKEY *leaf_key = X509_get0_pubkey(c.x[0]); /* borrowed */
	if (leaf_key == NULL || vt_ec_coord_size(leaf_key) != 48) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "certificate[0]",
			     "the leaf certificate's key is not ECDSA P-384");
		goto out;
	}
	rc = vt_ecdsa_verify_raw(leaf_key, EVP_sha384(), r->signed_data, r->signed_size, r->signature,
				 VT_NVIDIA_SIG_SIZE, err);
	if (rc != VT_OK) {
		if (err != NULL && err->step == VT_STEP_SIGNATURE)
			snprintf(err->field, sizeof(err->field), "report.signature");
		goto out;
	}

	/* chain, device model, FWID */
	VT_GUARD(nvx_device_chain_check(caches, &c, ctx->now, err));
	enum nvx_arch arch;
	VT_GUARD(decide_arch(e.arch, c.x[0], &arch, err));
	VT_GUARD(check_fwid(r, c.x[0], arch, err));

	/* binding */
	VT_GUARD(check_binding(r, binding, err));

	/* claims */
	char driver[VERSION_MAX], vbios[VERSION_MAX], model[64];
	VT_GUARD(nvx_versions(r, arch, driver, sizeof(driver), vbios, sizeof(vbios), err));
	if (vbios[0] == '\0' || (arch != NVX_ARCH_LS10 && driver[0] == '\0')) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, vbios[0] ? "report.opaque[3]" : "report.opaque[6]",
			     "the report lacks its %s version", vbios[0] ? "driver" : "VBIOS");
		goto out;
	}
	char *nonce = vt_hex_encode(r->nonce, VT_NVIDIA_NONCE_SIZE);
	claims = nonce ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "arch", nvx_arch_name(arch), "class", nvx_arch_class(arch),
				   "uuid", e.uuid ? e.uuid : "unknown", "nonce", nonce, "report_data", nonce)
		       : NULL;
	free(nonce);
	if (claims == NULL) {
		rc = oom(err);
		goto out;
	}
	VT_GUARD(cert_claims(&c, claims, model, sizeof(model), err));
	VT_GUARD(nvx_report_claims(r, arch, claims, err));

	/* reference values (RIMs) */
	VT_GUARD(rim_claims(caches, s, r, model, driver, vbios, ctx->now, claims, err));
	*claims_out = claims;
	claims = NULL;
out:
	json_decref(claims);
	nvx_chain_free(&c);
	free(r);
	ev_free(&e);
	ERR_clear_error();
	return rc;
}

/* ------------------------------------------------------------ devices */

static const char *entry_class(const json_t *entry)
{
	return nvx_arch_class(nvx_arch_parse(json_string_value(json_object_get(entry, "arch"))));
}

/* The shared split (evidence.h: shape, count, objects, duplicate uuids),
 * then every entry must name a known arch: its class depends on it. */
vt_status vt_nvidia_devices(const json_t *evidence, size_t max, json_t **devices_out, struct vt_err *err)
{
	if (devices_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*devices_out = NULL;
	json_t *out = NULL;
	vt_status rc = vt_device_list_split(evidence, "nvidia", max ? max : VT_NVIDIA_MAX_DEVICES, entry_class, &out, err);
	if (rc != VT_OK)
		return rc;
	for (size_t i = 0; i < json_array_size(out); i++) {
		json_t *e = json_object_get(json_array_get(out, i), "evidence");
		if (nvx_arch_parse(json_string_value(json_object_get(e, "arch"))) == NVX_ARCH_NONE) {
			char f[48];
			snprintf(f, sizeof(f), "device_evidence_list[%zu]", i);
			json_decref(out);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"arch\" missing or not HOPPER, BLACKWELL, LS10");
		}
	}
	*devices_out = out;
	return VT_OK;
}

static vt_status nvidia_devices(const json_t *evidence, size_t max, json_t **devices_out, struct vt_err *err)
{
	return vt_nvidia_devices(evidence, max ? max : VT_NVIDIA_MAX_DEVICES, devices_out, err);
}

/* ------------------------------------------------------------ files */

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static vt_status wrap_report(const uint8_t *p, size_t n, json_t **out, struct vt_err *err)
{
	if (n == 0 || n > VT_NVIDIA_MAX_REPORT)
		return vt_fail(err, n ? VT_E_LIMIT : VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "%zu bytes, an NVIDIA report is 1..%zu", n, VT_NVIDIA_MAX_REPORT);
	char *b64 = vt_b64_encode(p, n);
	json_t *ev = b64 ? json_pack("{s:s}", "evidence", b64) : NULL;
	free(b64);
	if (ev == NULL)
		return oom(err);
	*out = ev;
	return VT_OK;
}

/* One device's entry out of what a file holds (see veritee/nvidia.h). */
static vt_status one_entry(json_t *j, json_t **out, struct vt_err *err)
{
	json_t *list = json_is_object(j) ? json_object_get(j, "device_evidence_list") : NULL;
	json_t *arr = list ? list : json_is_array(j) ? j : NULL;
	json_t *e = j;
	if (arr != NULL) {
		if (!json_is_array(arr) || json_array_size(arr) != 1)
			return vt_fail(err, VT_E_USAGE, VT_STEP_PARSE, "evidence",
				       "the file holds %zu device entries; `veritee verify nvidia` takes one "
				       "(e.g. jq '.[0]' FILE)",
				       json_is_array(arr) ? json_array_size(arr) : 0);
		e = json_array_get(arr, 0);
	}
	if (!json_is_object(e) || !json_is_string(json_object_get(e, "evidence")))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "not an nvidia evidence object (with an \"evidence\" string)");
	*out = json_incref(e);
	return VT_OK;
}

vt_status vt_nvidia_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	if ((bytes == NULL && size > 0) || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*evidence_out = NULL;
	if (size >= 2 && bytes[0] == 0x11 && bytes[1] == 0xE0)
		return wrap_report(bytes, size, evidence_out, err);
	size_t a = 0, b = size;
	while (a < b && is_space(bytes[a]))
		a++;
	while (b > a && is_space(bytes[b - 1]))
		b--;
	if (a < b && (bytes[a] == '{' || bytes[a] == '[')) {
		json_t *j = NULL;
		vt_status rc = vt_json_parse((const char *)bytes + a, b - a, FILE_JSON_MAX, &j, err);
		if (rc == VT_OK)
			rc = one_entry(j, evidence_out, err);
		json_decref(j);
		return rc;
	}
	/* hex or base64 text, whitespace anywhere */
	if (b - a > REPORT_B64_MAX + REPORT_B64_MAX / 8 + 64 && b - a > REPORT_HEX_MAX + REPORT_HEX_MAX / 8 + 64)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "evidence", "%zu characters of text", b - a);
	char *t = malloc(b - a + 1);
	if (t == NULL)
		return oom(err);
	size_t n = 0;
	for (size_t i = a; i < b; i++)
		if (!is_space(bytes[i]))
			t[n++] = (char)bytes[i];
	t[n] = '\0';
	uint8_t *raw = NULL;
	size_t rn = 0;
	vt_status rc = all_hex(t, n) ? vt_hex_decode(t, &raw, &rn, err) : vt_b64_decode(t, n, &raw, &rn, err);
	free(t);
	if (rc != VT_OK) {
		vt_err_clear(err);
		return vt_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "not an NVIDIA report (raw, hex, base64) nor its evidence JSON");
	}
	rc = wrap_report(raw, rn, evidence_out, err);
	free(raw);
	return rc;
}

static vt_status nvidia_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	return vt_nvidia_load_file(bytes, size, evidence_out, err);
}

/* The default appraisal of a GPU or NVSwitch (policy "default_nvidia";
 * "default_gpu" / "default_switch", when an operator sets them, come
 * first): hardware 2 when the device chain and SPDM signature verified;
 * executables 2 only when every applicable signed RIM matched (measres),
 * else 33: without RIMs (tees.nvidia.rim) a device appraises "warning" and
 * the default resource policy, which wants every submod affirming, releases
 * nothing.  Reference values can take the RIMs' place in an operator's
 * policy (e.g. /nvidia/config/vbios_version in_reference). */
static const char nvidia_policy[] =
	"{\"version\":1,\"id\":\"default_nvidia\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33},"
	"\"rules\":["
	"{\"name\":\"device-identity-verified\",\"claim\":\"/nvidia/ueid\",\"exists\":true,"
	"\"description\":\"SPDM signature by the device key, chain to the pinned NVIDIA Device Identity CA\","
	"\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"measurements-match-rims\",\"claim\":\"/nvidia/measres\",\"equals\":\"success\","
	"\"description\":\"every applicable NVIDIA-signed RIM (driver, VBIOS) matched the measurements\","
	"\"on_pass\":{\"executables\":2},\"on_fail\":{\"executables\":33}}"
	"]}";

const struct vt_tee vt_tee_nvidia = {
	.name = "nvidia",
	.flags = VT_TEE_DEVICE,
	.default_policy = nvidia_policy,
	.summary = "NVIDIA GPU (Hopper, Blackwell) / NVSwitch SPDM measurements with the device chain to the pinned "
		   "NVIDIA root: raw, hex or Trustee's device JSON; --certs, --rim",
	.options = nvidia_options,
	.state_new = state_new,
	.state_free = state_free,
	.verify = nvidia_verify,
	.load_file = nvidia_load_file,
	.devices = nvidia_devices,
};
