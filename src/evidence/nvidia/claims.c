/*
 * Claims of a verified report: measurement blocks and the opaque fields,
 * named as Trustee's nvidia verifier names them (deps/verifier/src/nvidia/
 * spdm_response.rs, OpaqueDataType's Display), values as veritee/nvidia.h
 * says.  Trustee reads NVDEC0_STATUS / PROTECTED_PCIE_STATUS as text ("U"
 * for 0x55); here they read "enabled" (0xAA) / "disabled" (0x55).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/util.h"

enum kind { K_HEX, K_TEXT, K_VBIOS, K_STATUS, K_MSRSCNT, K_PDI, K_NUMBER, K_FEATURE, K_FWID };

static const struct {
	uint16_t type;
	const char *name;
	enum kind kind;
} FIELDS[] = {
	{1, "cert_issuer_name", K_HEX},
	{2, "cert_authority_key_identifier", K_HEX},
	{3, "driver_version", K_TEXT},
	{4, "gpu_info", K_HEX},
	{5, "id_sku", K_HEX},
	{6, "vbios_version", K_VBIOS},
	{7, "manufacturer_id", K_HEX},
	{8, "tamper_detection", K_HEX},
	{9, "smc", K_HEX},
	{10, "vpr", K_HEX},
	{11, "nvdec0_status", K_STATUS},
	{12, "measurement_count", K_MSRSCNT},
	{13, "cpr_info", K_HEX},
	{14, "board_id", K_HEX},
	{15, "chip_sku", K_TEXT},
	{16, "chip_sku_mod", K_TEXT},
	{17, "project", K_TEXT},
	{18, "project_sku", K_TEXT},
	{19, "project_sku_mod", K_HEX},
	{20, "fwid", K_FWID},
	{21, "protected_pcie_status", K_STATUS},
	{22, "switch_pdi", K_PDI},
	{23, "floorswept_ports", K_HEX},
	{24, "position_id", K_HEX},
	{25, "lock_switch_status", K_HEX},
	{32, "gpu_link_conn", K_HEX},
	{33, "sys_enable_status", K_HEX},
	{34, "opaque_data_version", K_NUMBER},
	{35, "chip_info", K_TEXT},
	{36, "feature_flag", K_FEATURE},
};

#define MAX_TEXT 256

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "claims", "out of memory");
}

/* ASCII with trailing NULs stripped, printable only, at most MAX_TEXT - 1. */
static vt_status text(const struct vt_nvidia_opaque *f, const char *name, bool lower, char *out, size_t n,
		      struct vt_err *err)
{
	size_t len = f->size;
	while (len > 0 && f->data[len - 1] == 0)
		len--;
	if (len >= n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque", "%s: %zu characters, at most %zu", name,
			       len, n - 1);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = f->data[i];
		if (c < 0x20 || c > 0x7e)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque",
				       "%s: byte %zu (0x%02x) is not printable ASCII", name, i, c);
		out[i] = lower ? (char)tolower(c) : (char)c;
	}
	out[len] = '\0';
	return VT_OK;
}

/* GPU: 8 bytes b0..b7 read "b3.b2.b1.b0.b4" in lowercase hex (nvtrust
 * format_vbios_version); NVSwitch (LS10): ASCII, lowercased. */
static vt_status vbios(const struct vt_nvidia_opaque *f, enum nvx_arch arch, char *out, size_t n, struct vt_err *err)
{
	if (arch == NVX_ARCH_LS10)
		return text(f, "vbios_version", true, out, n, err);
	if (f->size != 8)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque",
			       "vbios_version: %u bytes, a GPU sends 8", f->size);
	const uint8_t *b = f->data;
	snprintf(out, n, "%02x.%02x.%02x.%02x.%02x", b[3], b[2], b[1], b[0], b[4]);
	return VT_OK;
}

static vt_status le_number(const struct vt_nvidia_opaque *f, const char *name, uint64_t *out, struct vt_err *err)
{
	if (f->size == 0 || f->size > 8)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque", "%s: %u bytes, 1..8 expected", name,
			       f->size);
	uint64_t v = 0;
	for (size_t i = f->size; i-- > 0;)
		v = (v << 8) | f->data[i];
	*out = v;
	return VT_OK;
}

static json_t *hex(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	json_t *j = h ? json_string(h) : NULL;
	free(h);
	return j;
}

static vt_status field_value(const struct vt_nvidia_opaque *f, enum kind kind, const char *name, enum nvx_arch arch,
			     json_t **out, struct vt_err *err)
{
	char buf[MAX_TEXT];
	vt_status rc = VT_OK;
	uint64_t v = 0;
	json_t *j = NULL;
	switch (kind) {
	case K_TEXT:
		rc = text(f, name, false, buf, sizeof(buf), err);
		j = rc == VT_OK ? json_string(buf) : NULL;
		break;
	case K_VBIOS:
		rc = vbios(f, arch, buf, sizeof(buf), err);
		j = rc == VT_OK ? json_string(buf) : NULL;
		break;
	case K_STATUS:
		if (f->size == 1 && f->data[0] == 0xAA)
			j = json_string("enabled");
		else if (f->size == 1 && f->data[0] == 0x55)
			j = json_string("disabled");
		else
			j = hex(f->data, f->size);
		break;
	case K_MSRSCNT:
		if (f->size % 4 != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque",
				       "measurement_count: %u bytes, not a multiple of 4", f->size);
		j = json_object();
		for (size_t i = 0; j != NULL && i < f->size / 4; i++) {
			const uint8_t *p = f->data + 4 * i;
			uint32_t c = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
			snprintf(buf, sizeof(buf), "%zu", i + 1);
			if (json_object_set_new(j, buf, json_integer(c)) != 0) {
				json_decref(j);
				j = NULL;
			}
		}
		break;
	case K_PDI:
		if (f->size % 8 != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque",
				       "switch_pdi: %u bytes, not a multiple of 8", f->size);
		j = json_array();
		for (size_t i = 0; j != NULL && i < f->size / 8; i++)
			if (json_array_append_new(j, hex(f->data + 8 * i, 8)) != 0) {
				json_decref(j);
				j = NULL;
			}
		break;
	case K_NUMBER:
		rc = le_number(f, name, &v, err);
		j = rc == VT_OK ? json_integer((json_int_t)(v & INT64_MAX)) : NULL;
		break;
	case K_FEATURE:
		rc = le_number(f, name, &v, err);
		j = rc == VT_OK ? json_string(v == 0 ? "SPT" : v == 1 ? "MPT" : v == 2 ? "PPCIE" : "unknown") : NULL;
		break;
	case K_FWID:
		if (f->size != VT_NVIDIA_FWID_SIZE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.opaque", "fwid: %u bytes, %d expected",
				       f->size, VT_NVIDIA_FWID_SIZE);
		j = hex(f->data, f->size);
		break;
	case K_HEX:
		j = hex(f->data, f->size);
		break;
	}
	if (rc != VT_OK)
		return rc;
	if (j == NULL)
		return oom(err);
	*out = j;
	return VT_OK;
}

static const char *field_name(uint16_t type, enum kind *kind)
{
	for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++)
		if (FIELDS[i].type == type) {
			*kind = FIELDS[i].kind;
			return FIELDS[i].name;
		}
	*kind = K_HEX;
	return NULL;
}

vt_status nvx_versions(const struct vt_nvidia_report *r, enum nvx_arch arch, char *driver, size_t dn, char *vbios_out,
		       size_t vn, struct vt_err *err)
{
	driver[0] = vbios_out[0] = '\0';
	const struct vt_nvidia_opaque *d = vt_nvidia_report_opaque(r, VT_NVIDIA_OPAQUE_DRIVER_VERSION);
	const struct vt_nvidia_opaque *v = vt_nvidia_report_opaque(r, VT_NVIDIA_OPAQUE_VBIOS_VERSION);
	vt_status rc = VT_OK;
	if (d != NULL)
		rc = text(d, "driver_version", true, driver, dn, err);
	if (rc == VT_OK && v != NULL)
		rc = vbios(v, arch, vbios_out, vn, err);
	return rc;
}

vt_status nvx_report_claims(const struct vt_nvidia_report *r, enum nvx_arch arch, json_t *claims, struct vt_err *err)
{
	json_t *config = json_object(), *meas = json_object();
	vt_status rc = VT_OK;
	if (config == NULL || meas == NULL) {
		rc = oom(err);
		goto out;
	}
	for (size_t i = 0; i < r->block_count; i++) {
		char k[8];
		snprintf(k, sizeof(k), "%u", r->blocks[i].index);
		if (json_object_set_new(meas, k, hex(r->blocks[i].value, r->blocks[i].value_size)) != 0) {
			rc = oom(err);
			goto out;
		}
	}
	for (size_t i = 0; i < r->opaque_count; i++) {
		const struct vt_nvidia_opaque *f = &r->opaque[i];
		enum kind kind;
		char unknown[24];
		const char *name = field_name(f->type, &kind);
		if (name == NULL) {
			snprintf(unknown, sizeof(unknown), "opaque_%u", f->type);
			name = unknown;
		}
		json_t *v = NULL;
		VT_GUARD(field_value(f, kind, name, arch, &v, err));
		if (json_object_set_new(config, name, v) != 0) {
			rc = oom(err);
			goto out;
		}
	}
	char h[8];
	snprintf(h, sizeof(h), "%u.%u", r->spdm_version >> 4, r->spdm_version & 0x0Fu);
	if (json_object_set_new(claims, "spdm_version", json_string(h)) != 0 ||
	    json_object_set_new(claims, "number_of_blocks", json_integer((json_int_t)r->block_count)) != 0 ||
	    json_object_set(claims, "measurements", meas) != 0 || json_object_set(claims, "config", config) != 0)
		rc = oom(err);
out:
	json_decref(config);
	json_decref(meas);
	return rc;
}
