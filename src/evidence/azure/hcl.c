/*
 * Azure HCL report parsing and the vTPM half of the az-snp-vtpm /
 * az-tdx-vtpm evidence (layout in hcl.h; formats: kbs-protocol.md §5.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/azure/hcl.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define AZ_HCL_B64_MAX (4u * ((VT_HCL_MAX_SIZE + 2u) / 3u))
#define AZ_HW_B64_MAX (4u * ((64u * 1024u + 2u) / 3u)) /* vcek or td_quote: 64 KiB */
#define AZ_EVIDENCE_JSON_MAX ((size_t)1 << 20)

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* ------------------------------------------------------------ HCL report */

const EVP_MD *vt_hcl_hash_md(uint32_t hash_type)
{
	switch (hash_type) {
	case 1: return EVP_sha256();
	case 2: return EVP_sha384();
	case 3: return EVP_sha512();
	default: return NULL;
	}
}

const char *vt_hcl_hash_name(uint32_t hash_type)
{
	switch (hash_type) {
	case 1: return "sha256";
	case 2: return "sha384";
	case 3: return "sha512";
	default: return NULL;
	}
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

vt_status vt_hcl_parse(const uint8_t *buf, size_t size, struct vt_hcl_report *out, struct vt_err *err)
{
	struct vt_reader r;
	struct vt_hcl_report h;
	uint8_t magic[4];
	uint32_t status, reserved[3];
	vt_status rc;

	memset(&h, 0, sizeof(h));
	if (buf == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "hcl", "missing argument");
	if (size > VT_HCL_MAX_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl", "%zu bytes, at most %u accepted", size,
			       VT_HCL_MAX_SIZE);
	vt_reader_init(&r, buf, size);
	VT_GUARD(vt_reader_copy(&r, magic, 4, "hcl.magic", err));
	if (memcmp(magic, "HCLA", 4) != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.magic", "not an HCL report (no \"HCLA\" magic)");
		goto out;
	}
	VT_GUARD(vt_reader_u32le(&r, &h.version, "hcl.version", err));
	VT_GUARD(vt_reader_u32le(&r, &h.report_size, "hcl.report_size", err));
	VT_GUARD(vt_reader_u32le(&r, &h.request_type, "hcl.request_type", err));
	VT_GUARD(vt_reader_u32le(&r, &status, "hcl.status", err));
	for (size_t i = 0; i < 3; i++)
		VT_GUARD(vt_reader_u32le(&r, &reserved[i], "hcl.reserved", err));
	if (h.version < 1 || h.version > 2) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.version", "HCL version %u (1 or 2 accepted)",
			     h.version);
		goto out;
	}
	if (h.request_type != VT_HCL_REQUEST_TYPE) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.request_type", "request type %u (%u accepted)",
			     h.request_type, VT_HCL_REQUEST_TYPE);
		goto out;
	}
	if (status != 0 || reserved[0] != 0 || reserved[1] != 0 || reserved[2] != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.status", "status or reserved header words not zero");
		goto out;
	}
	VT_GUARD(vt_reader_view(&r, &h.hw_report, VT_HCL_HW_SIZE, "hcl.hw_report", err));
	VT_GUARD(vt_reader_u32le(&r, &h.data_size, "hcl.igvm.data_size", err));
	VT_GUARD(vt_reader_u32le(&r, &h.igvm_version, "hcl.igvm.version", err));
	VT_GUARD(vt_reader_u32le(&r, &h.report_type, "hcl.igvm.report_type", err));
	VT_GUARD(vt_reader_u32le(&r, &h.hash_type, "hcl.igvm.hash_type", err));
	VT_GUARD(vt_reader_u32le(&r, &h.var_data_size, "hcl.igvm.variable_data_size", err));
	if (h.igvm_version != 1) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.version", "IGVM request data version %u (1 accepted)",
			     h.igvm_version);
		goto out;
	}
	if (h.report_type != VT_HCL_REPORT_TYPE_SNP && h.report_type != VT_HCL_REPORT_TYPE_TDX) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.report_type",
			     "report type %u (2 = SNP, 4 = TDX accepted)", h.report_type);
		goto out;
	}
	if (vt_hcl_hash_md(h.hash_type) == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.hash_type",
			     "hash type %u (1 SHA-256, 2 SHA-384, 3 SHA-512 accepted)", h.hash_type);
		goto out;
	}
	if (h.var_data_size == 0 || h.var_data_size > VT_HCL_VAR_DATA_MAX) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.variable_data_size",
			     "%u bytes of variable data (1..%u accepted)", h.var_data_size, VT_HCL_VAR_DATA_MAX);
		goto out;
	}
	/* data_size = header + variable data; report_size = 0x4C0 + data_size (no wrap: both capped) */
	if (h.data_size != VT_HCL_IGVM_HEADER_SIZE + h.var_data_size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.data_size",
			     "data size %u is not 20 + variable data size %u", h.data_size, h.var_data_size);
		goto out;
	}
	if (h.report_size != VT_HCL_IGVM_OFFSET + h.data_size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.report_size",
			     "report size %u is not 0x4C0 + data size %u", h.report_size, h.data_size);
		goto out;
	}
	VT_GUARD(vt_reader_view(&r, &h.var_data, h.var_data_size, "hcl.variable_data", err));
	if (!all_zero(r.data + r.off, vt_reader_remaining(&r))) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.padding", "non-zero bytes after the report size (%u)",
			     h.report_size);
		goto out;
	}
	if (h.report_type == VT_HCL_REPORT_TYPE_TDX) {
		if (h.hw_report[0] != 0x81) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.hw_report.type",
				     "TDREPORT type 0x%02x (0x81 = TDX expected)", h.hw_report[0]);
			goto out;
		}
		if (!all_zero(h.hw_report + VT_HCL_TDREPORT_SIZE, VT_HCL_HW_SIZE - VT_HCL_TDREPORT_SIZE)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.hw_report",
				     "non-zero bytes after the 1024-byte TDREPORT");
			goto out;
		}
	}
	*out = h;
	rc = VT_OK;
out:
	return rc;
}

vt_status vt_hcl_check_var_data(const struct vt_hcl_report *h, const uint8_t report_data[64], struct vt_err *err)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t md_size = 0;
	const EVP_MD *alg = vt_hcl_hash_md(h->hash_type);
	if (alg == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.hash_type", "hash type %u", h->hash_type);
	vt_status rc = vt_digest(alg, h->var_data, h->var_data_size, md, &md_size, err);
	if (rc != VT_OK)
		return rc;
	if (md_size <= 64 && memcmp(md, report_data, md_size) == 0) /* public values */
		return VT_OK;
	char *hw = vt_hex_encode(md, md_size), *hs = vt_hex_encode(report_data, md_size <= 64 ? md_size : 64);
	rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "hcl.variable_data",
		     "the hardware report_data does not start with %s(HCL variable data): expected %s, seen %s",
		     vt_hcl_hash_name(h->hash_type), hw ? hw : "?", hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

/* ------------------------------------------------------------ runtime JSON */

void vt_hcl_runtime_free(struct vt_hcl_runtime *rt)
{
	if (rt == NULL)
		return;
	json_decref(rt->doc);
	free(rt->user_data);
	memset(rt, 0, sizeof(*rt));
}

vt_status vt_hcl_runtime_parse(const struct vt_hcl_report *h, struct vt_hcl_runtime *out, struct vt_err *err)
{
	struct vt_hcl_runtime rt;
	vt_status rc;
	memset(&rt, 0, sizeof(rt));
	memset(out, 0, sizeof(*out));
	rc = vt_json_parse((const char *)h->var_data, h->var_data_size, VT_HCL_VAR_DATA_MAX, &rt.doc, err);
	if (rc != VT_OK) {
		if (err != NULL)
			snprintf(err->field, sizeof(err->field), "hcl.runtime");
		return rc;
	}
	if (!json_is_object(rt.doc)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime", "the runtime data is not a JSON object");
		goto out;
	}
	json_t *keys = json_object_get(rt.doc, "keys");
	if (!json_is_array(keys) || json_array_size(keys) > 16) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.keys", "\"keys\" is missing, not an array or too long");
		goto out;
	}
	size_t i;
	json_t *k;
	json_array_foreach (keys, i, k) {
		const char *kid = json_string_value(json_object_get(k, "kid"));
		if (!json_is_object(k) || kid == NULL) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.keys", "keys[%zu] is not a JWK with a kid", i);
			goto out;
		}
		if (strcmp(kid, "HCLAkPub") != 0)
			continue;
		if (rt.ak_jwk != NULL) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.keys", "two \"HCLAkPub\" keys");
			goto out;
		}
		rt.ak_jwk = k;
	}
	if (rt.ak_jwk == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.keys", "no \"HCLAkPub\" key");
		goto out;
	}
	const char *kty = json_string_value(json_object_get(rt.ak_jwk, "kty"));
	if (kty == NULL || strcmp(kty, "RSA") != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.keys", "HCLAkPub is not an RSA JWK");
		goto out;
	}
	json_t *vmc = json_object_get(rt.doc, "vm-configuration");
	if (vmc != NULL && !json_is_object(vmc)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.vm-configuration", "not a JSON object");
		goto out;
	}
	rt.vm_configuration = vmc;
	json_t *ud = json_object_get(rt.doc, "user-data");
	if (ud != NULL) {
		if (!json_is_string(ud) ||
		    vt_hex_decode(json_string_value(ud), &rt.user_data, &rt.user_data_size, NULL) != VT_OK) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.runtime.user-data", "\"user-data\" is not hex");
			goto out;
		}
	}
	*out = rt;
	return VT_OK;
out:
	vt_hcl_runtime_free(&rt);
	return rc;
}

vt_status vt_hcl_runtime_ak(const struct vt_hcl_runtime *rt, EVP_PKEY **out, struct vt_err *err)
{
	vt_status rc = vt_jwk_to_key(rt->ak_jwk, false, out, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "hcl.runtime.HCLAkPub");
	return rc;
}

/* ------------------------------------------------------------ evidence JSON */

void vt_az_evidence_free(struct vt_az_evidence *e)
{
	if (e == NULL)
		return;
	free(e->hcl);
	free(e->msg);
	free(e->sig);
	free(e->hw_extra);
	memset(e, 0, sizeof(*e));
}

static vt_status b64url_member(const json_t *obj, const char *key, size_t max_chars, uint8_t **out, size_t *out_size,
			       struct vt_err *err)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "\"%s\" is missing or not a string", key);
	size_t slen = json_string_length(v);
	if (slen > max_chars)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "%zu base64url characters, at most %zu accepted", slen,
			       max_chars);
	/* Trustee's serde_with Base64<UrlSafe> writes padding; accept it */
	const char *s = json_string_value(v);
	while (slen > 0 && s[slen - 1] == '=')
		slen--;
	vt_status rc = vt_b64url_decode(s, slen, out, out_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "%s", key);
	return rc;
}

static vt_status hex_member(const json_t *obj, const char *key, const char *field, size_t max_bytes, uint8_t **out,
			    size_t *out_size, struct vt_err *err)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "\"%s\" is missing or not a string", key);
	if (json_string_length(v) > 2 * max_bytes)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "more than %zu bytes", max_bytes);
	if (vt_hex_decode(json_string_value(v), out, out_size, NULL) != VT_OK || *out_size == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not hex");
	return VT_OK;
}

/* A JSON array of byte values (v0 evidence). */
static vt_status byte_array(const json_t *arr, const char *field, size_t max, uint8_t **out, size_t *out_size,
			    struct vt_err *err)
{
	if (!json_is_array(arr))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not an array of bytes");
	size_t n = json_array_size(arr);
	if (n == 0 || n > max)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu bytes (1..%zu accepted)", n, max);
	uint8_t *b = malloc(n);
	if (b == NULL)
		return oom(err);
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(arr, i);
		json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
		if (v < 0 || v > 255) {
			free(b);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "element %zu is not a byte", i);
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	*out_size = n;
	return VT_OK;
}

static vt_status check_members(const json_t *o, const char *const *allowed, size_t n, const char *what,
			       struct vt_err *err)
{
	if (!json_is_object(o))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, what, "%s is not a JSON object", what);
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)o, key, value) {
		bool ok = false;
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, what, "unknown member \"%.64s\"", key);
	}
	return VT_OK;
}

/* The raw RSASSA signature Azure sends, as a TPMT_SIGNATURE (RSASSA, SHA-256). */
static vt_status wrap_signature(struct vt_az_evidence *e, uint8_t *raw, size_t raw_size, struct vt_err *err)
{
	if (raw_size == 0 || raw_size > 512) {
		free(raw);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.signature",
			       "%zu signature bytes (an RSA signature of at most 4096 bits expected)", raw_size);
	}
	e->sig = malloc(6 + raw_size);
	if (e->sig == NULL) {
		free(raw);
		return oom(err);
	}
	e->sig[0] = 0x00, e->sig[1] = 0x14; /* TPM_ALG_RSASSA */
	e->sig[2] = 0x00, e->sig[3] = 0x0B; /* TPM_ALG_SHA256 */
	e->sig[4] = (uint8_t)(raw_size >> 8), e->sig[5] = (uint8_t)raw_size;
	memcpy(e->sig + 6, raw, raw_size);
	e->sig_size = 6 + raw_size;
	free(raw);
	return VT_OK;
}

static vt_status parse_quote(const json_t *tq, bool legacy, struct vt_az_evidence *e, struct vt_err *err)
{
	static const char *const QUOTE[] = {"signature", "message", "pcrs"};
	vt_status rc = check_members(tq, QUOTE, 3, "tpm_quote", err);
	uint8_t *raw = NULL;
	size_t raw_size = 0;
	if (rc != VT_OK)
		return rc;
	if (legacy) {
		rc = byte_array(json_object_get(tq, "message"), "tpm_quote.message", VT_TPM_ATTEST_MAX, &e->msg,
				&e->msg_size, err);
		if (rc == VT_OK)
			rc = byte_array(json_object_get(tq, "signature"), "tpm_quote.signature", 512, &raw, &raw_size, err);
	} else {
		rc = hex_member(tq, "message", "tpm_quote.message", VT_TPM_ATTEST_MAX, &e->msg, &e->msg_size, err);
		if (rc == VT_OK)
			rc = hex_member(tq, "signature", "tpm_quote.signature", 512, &raw, &raw_size, err);
	}
	if (rc != VT_OK) {
		free(raw);
		return rc;
	}
	rc = wrap_signature(e, raw, raw_size, err);
	if (rc != VT_OK)
		return rc;
	json_t *pcrs = json_object_get(tq, "pcrs");
	if (!json_is_array(pcrs) || json_array_size(pcrs) != VT_TPM_NUM_PCRS)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.pcrs", "pcrs is not an array of 24 values");
	memset(&e->pcrs, 0, sizeof(e->pcrs));
	e->pcrs.hash_alg = VT_TPM_ALG_SHA256;
	e->pcrs.digest_size = 32;
	for (unsigned i = 0; i < VT_TPM_NUM_PCRS; i++) {
		json_t *p = json_array_get(pcrs, i);
		bool ok;
		if (legacy) {
			uint8_t *b = NULL;
			size_t n = 0;
			ok = byte_array(p, "tpm_quote.pcrs", 32, &b, &n, NULL) == VT_OK && n == 32;
			if (ok)
				memcpy(e->pcrs.value[i], b, 32);
			free(b);
		} else {
			ok = json_is_string(p) && vt_hex_decode_fixed(json_string_value(p), e->pcrs.value[i], 32, NULL) == VT_OK;
		}
		if (!ok)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.pcrs", "pcrs[%u] is not a SHA-256 value", i);
		e->pcrs.present |= 1u << i;
	}
	return VT_OK;
}

/* v0 "vcek": a PEM certificate -> DER. */
static vt_status pem_to_der(const char *pem, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	X509 *x = NULL;
	vt_status rc = vt_x509_from_bytes((const uint8_t *)pem, strlen(pem), &x, err);
	if (rc != VT_OK) {
		if (err != NULL)
			snprintf(err->field, sizeof(err->field), "vcek");
		return rc;
	}
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	X509_free(x);
	if (n <= 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "vcek", "cannot encode the VCEK");
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_free(der);
		return oom(err);
	}
	memcpy(*out, der, (size_t)n);
	*out_size = (size_t)n;
	OPENSSL_free(der);
	return VT_OK;
}

vt_status vt_az_evidence_parse(const json_t *ev, const char *hw_key, uint32_t report_type, struct vt_az_evidence *out,
			       struct vt_err *err)
{
	vt_status rc;
	struct vt_az_evidence e;
	bool snp = strcmp(hw_key, "vcek") == 0;
	memset(&e, 0, sizeof(e));
	memset(out, 0, sizeof(*out));
	if (!json_is_object(ev))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "evidence is not a JSON object");
	json_t *ver = json_object_get(ev, "version");
	const char *hcl_key = "hcl_report", *quote_key = "tpm_quote";
	if (ver == NULL) {
		/* v0 (legacy): byte arrays; SNP names them quote/report, TDX tpm_quote/hcl_report */
		e.version = 0;
		if (snp) {
			hcl_key = "report";
			quote_key = "quote";
		}
		const char *const allowed[] = {quote_key, hcl_key, hw_key};
		VT_GUARD(check_members(ev, allowed, 3, "evidence", err));
		VT_GUARD(byte_array(json_object_get(ev, hcl_key), hcl_key, VT_HCL_MAX_SIZE, &e.hcl, &e.hcl_size, err));
		json_t *hw = json_object_get(ev, hw_key);
		if (snp && hw != NULL) {
			if (!json_is_string(hw) || json_string_length(hw) > 16384) {
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "vcek", "\"vcek\" is not a PEM string");
				goto out;
			}
			VT_GUARD(pem_to_der(json_string_value(hw), &e.hw_extra, &e.hw_extra_size, err));
		} else if (!snp) {
			VT_GUARD(byte_array(hw, hw_key, 64u * 1024u, &e.hw_extra, &e.hw_extra_size, err));
		}
		VT_GUARD(parse_quote(json_object_get(ev, quote_key), true, &e, err));
	} else {
		json_int_t v = json_is_integer(ver) ? json_integer_value(ver) : -1;
		if (v != 1 && v != 2) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "version", "evidence version %s (1 or 2 accepted)",
				     json_is_integer(ver) ? "out of range" : "not an integer");
			goto out;
		}
		e.version = (int)v;
		const char *const allowed[] = {"version", quote_key, hcl_key, hw_key};
		VT_GUARD(check_members(ev, allowed, 4, "evidence", err));
		VT_GUARD(b64url_member(ev, hcl_key, AZ_HCL_B64_MAX, &e.hcl, &e.hcl_size, err));
		if (!snp || json_object_get(ev, hw_key) != NULL)
			VT_GUARD(b64url_member(ev, hw_key, AZ_HW_B64_MAX, &e.hw_extra, &e.hw_extra_size, err));
		VT_GUARD(parse_quote(json_object_get(ev, quote_key), false, &e, err));
	}
	VT_GUARD(vt_hcl_parse(e.hcl, e.hcl_size, &e.report, err));
	if (e.report.report_type != report_type) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.report_type", "report type %u, %u (%s) expected",
			     e.report.report_type, report_type, report_type == VT_HCL_REPORT_TYPE_SNP ? "SNP" : "TDX");
		goto out;
	}
	*out = e;
	return VT_OK;
out:
	vt_az_evidence_free(&e);
	return rc;
}

/* ------------------------------------------------------------ vTPM */

vt_status vt_az_tpm_verify(const struct vt_az_evidence *e, const struct vt_hcl_runtime *rt, EVP_PKEY *ak,
			   const struct vt_binding *binding, struct vt_tpm_quote *quote_out, struct vt_err *err)
{
	struct vt_tpm_quote q;
	vt_status rc = vt_tpm_attest_parse(e->msg, e->msg_size, &q, err);
	if (rc != VT_OK) {
		if (err != NULL && err->step == VT_STEP_PARSE)
			snprintf(err->field, sizeof(err->field), "tpm_quote.message");
		return rc;
	}
	/* the quote must cover the 24 SHA-256 PCRs that were sent */
	for (uint32_t i = 0; i < q.bank_count; i++) {
		if (q.banks[i].mask != 0 && q.banks[i].hash_alg != VT_TPM_ALG_SHA256)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tpm_quote.message.pcr_select",
				       "the quote selects PCRs of bank 0x%04x (SHA-256 expected)",
				       (unsigned)q.banks[i].hash_alg);
	}
	/* signature, then qualifying data (exact), then the PCR digest */
	const uint8_t *want = binding != NULL ? binding->report_data : NULL;
	size_t want_size = want != NULL ? binding->report_data_size : 0;
	rc = vt_tpm_quote_verify(ak, e->msg, e->msg_size, e->sig, e->sig_size, &e->pcrs, want, want_size, &q, err);
	if (rc != VT_OK) {
		if (err != NULL && strcmp(err->field, "extra_data") == 0)
			snprintf(err->field, sizeof(err->field), "tpm_quote.extra_data");
		return rc;
	}
	if (want != NULL && e->version >= 2) {
		if (rt->user_data == NULL || rt->user_data_size < want_size ||
		    (want_size > 0 && memcmp(rt->user_data, want, want_size) != 0)) {
			char *hw = vt_hex_encode(want, want_size);
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "hcl.runtime.user-data",
				     "evidence version 2: the HCL user-data does not start with the expected binding %s",
				     hw ? hw : "?");
			free(hw);
			return rc;
		}
	}
	if (quote_out != NULL)
		*quote_out = q;
	return VT_OK;
}

static bool set_hex(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	bool ok = h != NULL && json_object_set_new(o, k, json_string(h)) == 0;
	free(h);
	return ok;
}

vt_status vt_az_common_claims(const struct vt_az_evidence *e, const struct vt_hcl_runtime *rt,
			      const struct vt_tpm_quote *q, json_t *claims, struct vt_err *err)
{
	json_t *tpm = json_object(), *hcl = json_object();
	bool ok = tpm != NULL && hcl != NULL;
	for (unsigned i = 0; i < VT_TPM_NUM_PCRS && ok; i++) {
		char key[8];
		snprintf(key, sizeof(key), "pcr%02u", i);
		ok = set_hex(tpm, key, e->pcrs.value[i], 32);
	}
	ok = ok && json_object_set(claims, "tpm", tpm) == 0;
	ok = ok && set_hex(claims, "report_data", q->extra_data, q->extra_data_size);
	ok = ok && set_hex(claims, "init_data", e->pcrs.value[8], 32);
	/* veritee extras */
	ok = ok && json_object_set_new(hcl, "evidence_version", json_integer(e->version)) == 0;
	ok = ok && json_object_set_new(hcl, "version", json_integer(e->report.version)) == 0;
	ok = ok && json_object_set_new(hcl, "report_type",
				       json_string(e->report.report_type == VT_HCL_REPORT_TYPE_SNP ? "snp" : "tdx")) == 0;
	ok = ok && json_object_set_new(hcl, "hash_type", json_string(vt_hcl_hash_name(e->report.hash_type))) == 0;
	if (rt->vm_configuration != NULL)
		ok = ok && json_object_set_new(hcl, "vm_configuration", json_deep_copy(rt->vm_configuration)) == 0;
	if (rt->user_data != NULL)
		ok = ok && set_hex(hcl, "user_data", rt->user_data, rt->user_data_size);
	ok = ok && json_object_set(claims, "hcl", hcl) == 0;
	if (ok) {
		char fw[24];
		snprintf(fw, sizeof(fw), "%016llx", (unsigned long long)q->firmware_version);
		json_t *qi = json_pack("{s:I, s:I, s:I, s:b, s:s}", "clock", (json_int_t)(q->clock & 0x7FFFFFFFFFFFFFFFull),
				       "reset_count", (json_int_t)q->reset_count, "restart_count",
				       (json_int_t)q->restart_count, "safe", q->safe, "firmware_version", fw);
		ok = qi != NULL && set_hex(qi, "pcr_digest", q->pcr_digest, q->pcr_digest_size) &&
		     json_object_set(claims, "tpm_quote", qi) == 0;
		json_decref(qi);
	}
	json_decref(tpm);
	json_decref(hcl);
	return ok ? VT_OK : oom(err);
}

vt_status vt_az_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	json_t *ev = NULL;
	vt_status rc = vt_json_parse((const char *)bytes, size, AZ_EVIDENCE_JSON_MAX, &ev, err);
	if (rc != VT_OK)
		return rc;
	if (!json_is_object(ev)) {
		json_decref(ev);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "not Azure vTPM evidence JSON ({\"version\", \"tpm_quote\", \"hcl_report\", ...})");
	}
	*evidence_out = ev;
	return VT_OK;
}
