/* sim report: parse and serialize the layouts described in sim.h. */
#include <string.h>

#include "veritee/sim.h"
#include "veritee/util.h"

static const uint8_t SIM_MAGIC[4] = {'V', 'T', 'S', 'M'};

_Static_assert(VT_SIM_SIGNED_SIZE + sizeof(((struct vt_sim_report *)0)->signature) == VT_SIM_REPORT_SIZE,
	       "signature ends the report");

vt_status vt_sim_report_parse(const uint8_t *buf, size_t size, struct vt_sim_report *out, struct vt_err *err)
{
	if (out == NULL || (buf == NULL && size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "report", "missing argument");
	if (size != VT_SIM_REPORT_SIZE && size != VT_SIM_REPORT_V2_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report", "report is %zu bytes, want %d (version 1) or %d (version 2)",
			       size, VT_SIM_REPORT_SIZE, VT_SIM_REPORT_V2_SIZE);

	/* Fill a local copy; *out is written only when everything is valid. */
	struct vt_sim_report r;
	struct vt_reader rd;
	const uint8_t *magic;
	uint32_t reserved;
	vt_status rc;
	memset(&r, 0, sizeof(r));
	vt_reader_init(&rd, buf, size);

	VT_GUARD(vt_reader_view(&rd, &magic, sizeof(SIM_MAGIC), "report.magic", err));
	if (memcmp(magic, SIM_MAGIC, sizeof(SIM_MAGIC)) != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.magic",
			     "bad magic %02x%02x%02x%02x, want \"VTSM\"", magic[0], magic[1], magic[2], magic[3]);
		goto out;
	}
	VT_GUARD(vt_reader_u16le(&rd, &r.version, "report.version", err));
	if (vt_sim_report_size(r.version) != size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.version",
			     "version %u in a report of %zu bytes (version 1 is %d bytes, version 2 %d)",
			     (unsigned)r.version, size, VT_SIM_REPORT_SIZE, VT_SIM_REPORT_V2_SIZE);
		goto out;
	}
	VT_GUARD(vt_reader_u16le(&rd, &r.flags, "report.flags", err));
	if ((r.flags & ~VT_SIM_FLAG_DEBUG) != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.flags", "unknown flag bits 0x%04x",
			     (unsigned)(r.flags & ~VT_SIM_FLAG_DEBUG));
		goto out;
	}
	VT_GUARD(vt_reader_u32le(&rd, &r.svn, "report.svn", err));
	VT_GUARD(vt_reader_u32le(&rd, &reserved, "report.reserved", err));
	if (reserved != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.reserved", "reserved word is 0x%08x, want 0",
			     (unsigned)reserved);
		goto out;
	}
	VT_GUARD(vt_reader_copy(&rd, r.measurement, sizeof(r.measurement), "report.measurement", err));
	VT_GUARD(vt_reader_copy(&rd, r.report_data, sizeof(r.report_data), "report.report_data", err));
	VT_GUARD(vt_reader_copy(&rd, r.platform_id, sizeof(r.platform_id), "report.platform_id", err));
	if (r.version == VT_SIM_VERSION_2)
		VT_GUARD(vt_reader_copy(&rd, r.init_data, sizeof(r.init_data), "report.init_data", err));
	VT_GUARD(vt_reader_copy(&rd, r.signature, sizeof(r.signature), "report.signature", err));
	VT_GUARD(vt_reader_expect_end(&rd, "report", err));
	*out = r;
out:
	return rc;
}

static uint8_t *put_le(uint8_t *p, uint32_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + n;
}

size_t vt_sim_report_size(uint16_t version)
{
	return version == VT_SIM_VERSION ? VT_SIM_REPORT_SIZE : version == VT_SIM_VERSION_2 ? VT_SIM_REPORT_V2_SIZE : 0;
}

size_t vt_sim_signed_size(uint16_t version)
{
	return version == VT_SIM_VERSION ? VT_SIM_SIGNED_SIZE : version == VT_SIM_VERSION_2 ? VT_SIM_V2_SIGNED_SIZE : 0;
}

void vt_sim_report_serialize(const struct vt_sim_report *r, uint8_t *out)
{
	uint8_t *p = out;
	memcpy(p, SIM_MAGIC, sizeof(SIM_MAGIC));
	p += sizeof(SIM_MAGIC);
	p = put_le(p, r->version, 2);
	p = put_le(p, r->flags, 2);
	p = put_le(p, r->svn, 4);
	p = put_le(p, 0, 4); /* reserved */
	memcpy(p, r->measurement, sizeof(r->measurement));
	p += sizeof(r->measurement);
	memcpy(p, r->report_data, sizeof(r->report_data));
	p += sizeof(r->report_data);
	memcpy(p, r->platform_id, sizeof(r->platform_id));
	p += sizeof(r->platform_id);
	if (r->version == VT_SIM_VERSION_2) {
		memcpy(p, r->init_data, sizeof(r->init_data));
		p += sizeof(r->init_data);
	}
	memcpy(p, r->signature, sizeof(r->signature));
}
