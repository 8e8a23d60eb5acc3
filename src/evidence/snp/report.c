/*
 * SEV-SNP attestation report: parse the 1184-byte layout (sev-snp.md §1),
 * product identification from CPUID (§1.4) and TCB_VERSION decoding.
 * Everything is read through the bounded reader; multi-byte fields are
 * little-endian.
 */
#include <stdio.h>
#include <string.h>

#include "veritee/snp.h"
#include "veritee/util.h"

_Static_assert(VT_SNP_REPORT_SIZE == 1184, "report size");
_Static_assert(VT_SNP_SIGNED_SIZE == 0x2A0, "signed size");

const char *vt_snp_product_name(vt_snp_product p)
{
	switch (p) {
	case VT_SNP_PRODUCT_MILAN: return "Milan";
	case VT_SNP_PRODUCT_GENOA: return "Genoa";
	case VT_SNP_PRODUCT_TURIN: return "Turin";
	case VT_SNP_PRODUCT_UNKNOWN: break;
	}
	return "unknown";
}

vt_snp_product vt_snp_product_from_cpuid(uint8_t family, uint8_t model)
{
	if (family == 0x19) {
		if (model <= 0x0F)
			return VT_SNP_PRODUCT_MILAN;
		if ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF))
			return VT_SNP_PRODUCT_GENOA;
	} else if (family == 0x1A) {
		if (model <= 0x11)
			return VT_SNP_PRODUCT_TURIN;
	}
	return VT_SNP_PRODUCT_UNKNOWN;
}

void vt_snp_tcb_decode(uint64_t raw, vt_snp_product product, struct vt_snp_tcb *out)
{
	uint8_t b[8];
	vt_put_le(b, raw, sizeof(b));
	memset(out, 0, sizeof(*out));
	out->raw = raw;
	if (product == VT_SNP_PRODUCT_TURIN) {
		out->fmc = b[0];
		out->bootloader = b[1];
		out->tee = b[2];
		out->snp = b[3];
		out->microcode = b[7];
	} else {
		/* Milan, Genoa, and unknown products (the family-0x19 layout). */
		out->bootloader = b[0];
		out->tee = b[1];
		out->snp = b[6];
		out->microcode = b[7];
	}
}

/* Consume n bytes that must all be zero; the detail names the report
 * offset of the first non-zero byte and its value. */
static vt_status read_zero(struct vt_reader *rd, size_t n, const char *field, struct vt_err *err)
{
	const uint8_t *p;
	size_t base = rd->off;
	vt_status rc = vt_reader_view(rd, &p, n, field, err);
	if (rc != VT_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0) {
			rd->off = base; /* leave the reader where the range starts */
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "reserved byte at offset 0x%03zX is 0x%02X, must be zero", base + i,
				       (unsigned)p[i]);
		}
	}
	return VT_OK;
}

#define POLICY_RESERVED_ONE (UINT64_C(1) << 17)
#define PLATFORM_INFO_RESERVED_6 (UINT64_C(1) << 6)
#define KEY_INFO_MBZ UINT32_C(0xFFFFFFE0)

vt_status vt_snp_report_parse(const uint8_t *buf, size_t size, bool allow_trailing, struct vt_snp_report *out,
			      struct vt_err *err)
{
	if (out == NULL || (buf == NULL && size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "report", "missing argument");
	if (size < VT_SNP_REPORT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report", "report is %zu bytes, need %u", size,
			       VT_SNP_REPORT_SIZE);
	if (size != VT_SNP_REPORT_SIZE && !allow_trailing)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report",
			       "report is %zu bytes: %zu unexpected trailing bytes after %u", size,
			       size - VT_SNP_REPORT_SIZE, VT_SNP_REPORT_SIZE);

	/* Fill a local copy; *out is written only when everything is valid. */
	struct vt_snp_report r;
	struct vt_reader rd;
	uint32_t reserved32;
	vt_status rc;
	memset(&r, 0, sizeof(r));
	vt_reader_init(&rd, buf, VT_SNP_REPORT_SIZE); /* trailing bytes are never read */

	/* 0x000 */
	VT_GUARD(vt_reader_u32le(&rd, &r.version, "report.version", err));
	if (r.version < 2 || r.version > 5) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.version",
			     "unsupported report version %u (supported: 2, 3, 4, 5)", (unsigned)r.version);
		goto out;
	}
	VT_GUARD(vt_reader_u32le(&rd, &r.guest_svn, "report.guest_svn", err));
	VT_GUARD(vt_reader_u64le(&rd, &r.policy, "report.policy", err));
	if ((r.policy & POLICY_RESERVED_ONE) == 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.policy",
			     "policy 0x%llx has reserved bit 17 clear (must be one)", (unsigned long long)r.policy);
		goto out;
	}
	/* 0x010 */
	VT_GUARD(vt_reader_copy(&rd, r.family_id, sizeof(r.family_id), "report.family_id", err));
	VT_GUARD(vt_reader_copy(&rd, r.image_id, sizeof(r.image_id), "report.image_id", err));
	/* 0x030 */
	VT_GUARD(vt_reader_u32le(&rd, &r.vmpl, "report.vmpl", err));
	VT_GUARD(vt_reader_u32le(&rd, &r.signature_algo, "report.signature_algo", err));
	if (r.signature_algo != 1) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.signature_algo",
			     "signature algorithm %u, want 1 (ECDSA P-384 with SHA-384)", (unsigned)r.signature_algo);
		goto out;
	}
	/* 0x038 */
	VT_GUARD(vt_reader_u64le(&rd, &r.current_tcb, "report.current_tcb", err));
	VT_GUARD(vt_reader_u64le(&rd, &r.platform_info, "report.platform_info", err));
	if ((r.platform_info & PLATFORM_INFO_RESERVED_6) != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.platform_info",
			     "platform_info 0x%llx has reserved bit 6 set", (unsigned long long)r.platform_info);
		goto out;
	}
	/* 0x048 */
	VT_GUARD(vt_reader_u32le(&rd, &r.key_info, "report.key_info", err));
	if ((r.key_info & KEY_INFO_MBZ) != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.key_info",
			     "key_info 0x%08x has reserved bits 31:5 set", (unsigned)r.key_info);
		goto out;
	}
	unsigned signing_key = (unsigned)((r.key_info >> 2) & 7u);
	if (signing_key != VT_SNP_SIGNING_KEY_VCEK && signing_key != VT_SNP_SIGNING_KEY_VLEK) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.key_info",
			     "signing_key %u in key_info 0x%08x is neither VCEK (0) nor VLEK (1)", signing_key,
			     (unsigned)r.key_info);
		goto out;
	}
	VT_GUARD(vt_reader_u32le(&rd, &reserved32, "report.reserved@0x4C", err));
	if (reserved32 != 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.reserved@0x4C",
			     "reserved word at offset 0x04C is 0x%08x, must be zero", (unsigned)reserved32);
		goto out;
	}
	/* 0x050 */
	VT_GUARD(vt_reader_copy(&rd, r.report_data, sizeof(r.report_data), "report.report_data", err));
	VT_GUARD(vt_reader_copy(&rd, r.measurement, sizeof(r.measurement), "report.measurement", err));
	VT_GUARD(vt_reader_copy(&rd, r.host_data, sizeof(r.host_data), "report.host_data", err));
	VT_GUARD(vt_reader_copy(&rd, r.id_key_digest, sizeof(r.id_key_digest), "report.id_key_digest", err));
	VT_GUARD(vt_reader_copy(&rd, r.author_key_digest, sizeof(r.author_key_digest), "report.author_key_digest",
				err));
	VT_GUARD(vt_reader_copy(&rd, r.report_id, sizeof(r.report_id), "report.report_id", err));
	VT_GUARD(vt_reader_copy(&rd, r.report_id_ma, sizeof(r.report_id_ma), "report.report_id_ma", err));
	/* 0x180 */
	VT_GUARD(vt_reader_u64le(&rd, &r.reported_tcb, "report.reported_tcb", err));
	/* 0x188: CPUID bytes from version 3 on; reserved in version 2. */
	if (r.version >= 3) {
		VT_GUARD(vt_reader_u8(&rd, &r.cpuid_fam_id, "report.cpuid_fam_id", err));
		VT_GUARD(vt_reader_u8(&rd, &r.cpuid_mod_id, "report.cpuid_mod_id", err));
		VT_GUARD(vt_reader_u8(&rd, &r.cpuid_step, "report.cpuid_step", err));
		VT_GUARD(read_zero(&rd, 21, "report.reserved@0x18B", err));
	} else {
		VT_GUARD(read_zero(&rd, 24, "report.reserved@0x188", err));
	}
	/* 0x1A0 */
	VT_GUARD(vt_reader_copy(&rd, r.chip_id, sizeof(r.chip_id), "report.chip_id", err));
	/* 0x1E0 */
	VT_GUARD(vt_reader_u64le(&rd, &r.committed_tcb, "report.committed_tcb", err));
	VT_GUARD(vt_reader_u8(&rd, &r.current_build, "report.current_build", err));
	VT_GUARD(vt_reader_u8(&rd, &r.current_minor, "report.current_minor", err));
	VT_GUARD(vt_reader_u8(&rd, &r.current_major, "report.current_major", err));
	VT_GUARD(read_zero(&rd, 1, "report.reserved@0x1EB", err));
	VT_GUARD(vt_reader_u8(&rd, &r.committed_build, "report.committed_build", err));
	VT_GUARD(vt_reader_u8(&rd, &r.committed_minor, "report.committed_minor", err));
	VT_GUARD(vt_reader_u8(&rd, &r.committed_major, "report.committed_major", err));
	VT_GUARD(read_zero(&rd, 1, "report.reserved@0x1EF", err));
	/* 0x1F0 */
	VT_GUARD(vt_reader_u64le(&rd, &r.launch_tcb, "report.launch_tcb", err));
	/* 0x1F8: mitigation vectors from version 5 on; reserved before. */
	if (r.version >= 5) {
		VT_GUARD(vt_reader_u64le(&rd, &r.launch_mit_vector, "report.launch_mit_vector", err));
		VT_GUARD(vt_reader_u64le(&rd, &r.current_mit_vector, "report.current_mit_vector", err));
		VT_GUARD(read_zero(&rd, 0x2A0 - 0x208, "report.reserved@0x208", err));
	} else {
		VT_GUARD(read_zero(&rd, 0x2A0 - 0x1F8, "report.reserved@0x1F8", err));
	}
	/* 0x2A0: signature r, s (little-endian, 72 bytes each), then reserved. */
	VT_GUARD(vt_reader_copy(&rd, r.sig_r, sizeof(r.sig_r), "report.signature.r", err));
	VT_GUARD(vt_reader_copy(&rd, r.sig_s, sizeof(r.sig_s), "report.signature.s", err));
	VT_GUARD(read_zero(&rd, VT_SNP_REPORT_SIZE - 0x330, "report.signature.reserved", err));
	VT_GUARD(vt_reader_expect_end(&rd, "report", err));

	r.product = r.version >= 3 ? vt_snp_product_from_cpuid(r.cpuid_fam_id, r.cpuid_mod_id)
				   : VT_SNP_PRODUCT_UNKNOWN;
	*out = r;
out:
	return rc;
}
