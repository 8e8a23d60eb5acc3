/*
 * SPDM 1.1 GET_MEASUREMENTS request || MEASUREMENTS response (DMTF DSP0274
 * 1.1, §10.11; NVIDIA's use: formats/nvidia-gpu.md §2).  Parsing only, all
 * through the bounded reader; the layout and every rule are in
 * veritee/nvidia.h.
 */
#include <stdio.h>
#include <string.h>

#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/nvidia.h"
#include "veritee/util.h"

#define SPDM_VERSION_11 0x11
#define SPDM_GET_MEASUREMENTS 0xE0
#define SPDM_MEASUREMENTS 0x60
#define SPDM_MEAS_SPEC_DMTF 0x01
#define SPDM_ALL_BLOCKS 0xFF
#define BLOCK_HEADER 4 /* Index, MeasurementSpecification, u16 MeasurementSize */
#define DMTF_HEADER 3  /* value type, u16 value size */

_Static_assert(VT_NVIDIA_MAX_REPORT <= SIZE_MAX / 2, "report sizes do not wrap");
_Static_assert(VT_NVIDIA_MAX_BLOCKS == 255, "NumberOfBlocks is a u8");

static vt_status u24le(struct vt_reader *r, uint32_t *out, const char *field, struct vt_err *err)
{
	uint8_t b[3];
	vt_status rc = vt_reader_copy(r, b, sizeof(b), field, err);
	if (rc == VT_OK)
		*out = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16);
	return rc;
}

static vt_status bad(struct vt_err *err, const char *field, const char *what, unsigned seen, unsigned want)
{
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%s is 0x%02x, expected 0x%02x", what, seen, want);
}

static vt_status parse_request(struct vt_reader *r, struct vt_nvidia_report *out, struct vt_err *err)
{
	uint8_t version, code, slot;
	vt_status rc = VT_OK;
	VT_GUARD(vt_reader_u8(r, &version, "report.request.version", err));
	if (version != SPDM_VERSION_11)
		return bad(err, "report.request.version", "SPDM version", version, SPDM_VERSION_11);
	VT_GUARD(vt_reader_u8(r, &code, "report.request.code", err));
	if (code != SPDM_GET_MEASUREMENTS)
		return bad(err, "report.request.code", "request code", code, SPDM_GET_MEASUREMENTS);
	VT_GUARD(vt_reader_u8(r, &out->request_param1, "report.request.param1", err));
	if ((out->request_param1 & 1u) == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.request.param1",
			       "the request did not ask for a signature (param1 0x%02x)", out->request_param1);
	VT_GUARD(vt_reader_u8(r, &out->request_param2, "report.request.param2", err));
	if (out->request_param2 != SPDM_ALL_BLOCKS)
		return bad(err, "report.request.param2", "requested measurement operation", out->request_param2,
			   SPDM_ALL_BLOCKS);
	VT_GUARD(vt_reader_view(r, &out->nonce, VT_NVIDIA_NONCE_SIZE, "report.request.nonce", err));
	VT_GUARD(vt_reader_u8(r, &slot, "report.request.slot", err));
	if (slot != 0)
		return bad(err, "report.request.slot", "certificate slot", slot, 0);
out:
	return rc;
}

static vt_status parse_blocks(struct vt_reader *rec, size_t want, struct vt_nvidia_report *out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	for (size_t i = 0; i < want; i++) {
		char field[48];
		uint8_t index, spec;
		uint16_t size, vsize;
		struct vt_nvidia_block *b = &out->blocks[i];
		snprintf(field, sizeof(field), "report.blocks[%zu]", i);
		VT_GUARD(vt_reader_u8(rec, &index, field, err));
		if (index != i + 1)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "block %zu has Index %u, expected %zu", i,
				       index, i + 1);
		VT_GUARD(vt_reader_u8(rec, &spec, field, err));
		if (spec != SPDM_MEAS_SPEC_DMTF)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "MeasurementSpecification 0x%02x (only DMTF 0x01 is defined)", spec);
		VT_GUARD(vt_reader_u16le(rec, &size, field, err));
		if (size < DMTF_HEADER)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "MeasurementSize %u < %d", size,
				       DMTF_HEADER);
		const uint8_t *m;
		VT_GUARD(vt_reader_view(rec, &m, size, field, err));
		struct vt_reader mr;
		vt_reader_init(&mr, m, size);
		VT_GUARD(vt_reader_u8(&mr, &b->value_type, field, err));
		VT_GUARD(vt_reader_u16le(&mr, &vsize, field, err));
		if (vsize != size - DMTF_HEADER)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "DMTF value size %u does not fill MeasurementSize %u", vsize, size);
		VT_GUARD(vt_reader_view(&mr, &b->value, vsize, field, err));
		b->index = index;
		b->value_size = vsize;
		out->block_count = i + 1;
	}
	rc = vt_reader_expect_end(rec, "report.response.record", err);
out:
	return rc;
}

static vt_status parse_opaque(struct vt_reader *o, struct vt_nvidia_report *out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	while (vt_reader_remaining(o) > 0) {
		struct vt_nvidia_opaque f;
		VT_GUARD(vt_reader_u16le(o, &f.type, "report.opaque", err));
		VT_GUARD(vt_reader_u16le(o, &f.size, "report.opaque", err));
		char field[40];
		snprintf(field, sizeof(field), "report.opaque[%u]", f.type);
		VT_GUARD(vt_reader_view(o, &f.data, f.size, field, err));
		if (f.type == VT_NVIDIA_OPAQUE_INVALID)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "opaque type 255 (INVALID)");
		for (size_t k = 0; k < out->opaque_count; k++)
			if (out->opaque[k].type == f.type)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "opaque type %u appears twice",
					       f.type);
		if (out->opaque_count == VT_NVIDIA_MAX_OPAQUE)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "report.opaque", "more than %d opaque fields",
				       VT_NVIDIA_MAX_OPAQUE);
		out->opaque[out->opaque_count++] = f;
	}
out:
	return rc;
}

static vt_status parse(const uint8_t *p, size_t n, struct vt_nvidia_report *out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct vt_reader r, rec, opq;
	uint8_t version, code, nb;
	uint32_t l1;
	uint16_t l2;
	const uint8_t *v;

	if (n > VT_NVIDIA_MAX_REPORT)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "report", "%zu bytes, at most %zu accepted", n,
			       VT_NVIDIA_MAX_REPORT);
	vt_reader_init(&r, p, n);
	VT_GUARD(parse_request(&r, out, err));

	VT_GUARD(vt_reader_u8(&r, &version, "report.response.version", err));
	if (version != SPDM_VERSION_11)
		return bad(err, "report.response.version", "SPDM version", version, SPDM_VERSION_11);
	out->spdm_version = version;
	VT_GUARD(vt_reader_u8(&r, &code, "report.response.code", err));
	if (code != SPDM_MEASUREMENTS)
		return bad(err, "report.response.code", "response code", code, SPDM_MEASUREMENTS);
	VT_GUARD(vt_reader_u8(&r, &out->response_param1, "report.response.param1", err));
	VT_GUARD(vt_reader_u8(&r, &out->response_param2, "report.response.param2", err));
	if ((out->response_param2 & 0x0Fu) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.response.param2",
			       "response names certificate slot %u, the request slot 0", out->response_param2 & 0x0Fu);
	VT_GUARD(vt_reader_u8(&r, &nb, "report.response.blocks", err));
	if (nb == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.response.blocks",
			       "no measurement block, although all were requested");
	VT_GUARD(u24le(&r, &l1, "report.response.record_length", err));
	VT_GUARD(vt_reader_view(&r, &v, l1, "report.response.record", err));
	vt_reader_init(&rec, v, l1);
	VT_GUARD(parse_blocks(&rec, nb, out, err));
	VT_GUARD(vt_reader_view(&r, &out->responder_nonce, VT_NVIDIA_NONCE_SIZE, "report.response.nonce", err));
	VT_GUARD(vt_reader_u16le(&r, &l2, "report.response.opaque_length", err));
	VT_GUARD(vt_reader_view(&r, &v, l2, "report.response.opaque", err));
	vt_reader_init(&opq, v, l2);
	VT_GUARD(parse_opaque(&opq, out, err));

	/* The signature is the last 96 bytes, exactly: 42 + L1 + L2 + 96 ==
	 * the response's size.  Bytes after it are refused (none of the real
	 * reports has any). */
	out->signed_size = r.off;
	out->signed_data = p;
	VT_GUARD(vt_reader_view(&r, &out->signature, VT_NVIDIA_SIG_SIZE, "report.signature", err));
	if (vt_reader_remaining(&r) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.signature",
			       "%zu bytes after the signature (42 + L1 + L2 + 96 must be the response's size)",
			       vt_reader_remaining(&r));
out:
	return rc;
}

vt_status vt_nvidia_report_parse(const uint8_t *p, size_t n, struct vt_nvidia_report *out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "report", "missing argument");
	memset(out, 0, sizeof(*out));
	vt_status rc = parse(p, n, out, err);
	if (rc != VT_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

const struct vt_nvidia_opaque *vt_nvidia_report_opaque(const struct vt_nvidia_report *r, uint16_t type)
{
	for (size_t i = 0; r != NULL && i < r->opaque_count; i++)
		if (r->opaque[i].type == type)
			return &r->opaque[i];
	return NULL;
}
