/*
 * SEV-SNP: TCB and identity consistency between a report and the AMD
 * extensions of its VEK certificate (VCEK or VLEK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/snp/sources.h"
#include "veritee/util.h"

static vt_status spl_cmp(const char *name, bool has, uint8_t cert_value, uint8_t report_value, struct vt_err *err)
{
	char field[48];
	snprintf(field, sizeof(field), "reported_tcb.%s", name);
	if (!has)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, field, "the VEK certificate has no %s SPL extension",
			       name);
	if (cert_value != report_value)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, field,
			       "VEK certificate %s SPL %u != REPORTED_TCB %s %u (the certificate is for another TCB)",
			       name, cert_value, name, report_value);
	return VT_OK;
}

vt_status snp_check_tcb(const struct vt_snp_report *rep, vt_snp_product product, const struct vt_snp_vek_ext *ext,
			bool vek_is_vlek, struct vt_err *err)
{
	unsigned signing = (rep->key_info >> 2) & 7u;
	if (signing == VT_SNP_SIGNING_KEY_VCEK) {
		if (vek_is_vlek || !ext->has_hwid || ext->has_csp_id)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "signing_key",
				       "report is signed with a VCEK (signing_key 0) but the certificate is not a VCEK "
				       "(%s, hwID %s, cspId %s)", vek_is_vlek ? "SEV-VLEK" : "SEV-VCEK",
				       ext->has_hwid ? "present" : "absent", ext->has_csp_id ? "present" : "absent");
	} else if (signing == VT_SNP_SIGNING_KEY_VLEK) {
		if (!vek_is_vlek || !ext->has_csp_id || ext->has_hwid)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "signing_key",
				       "report is signed with a VLEK (signing_key 1) but the certificate is not a VLEK "
				       "(%s, hwID %s, cspId %s)", vek_is_vlek ? "SEV-VLEK" : "SEV-VCEK",
				       ext->has_hwid ? "present" : "absent", ext->has_csp_id ? "present" : "absent");
	} else {
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "signing_key", "signing_key %u is not VCEK or VLEK",
			       signing);
	}
	if (signing == VT_SNP_SIGNING_KEY_VCEK) {
		size_t want = product == VT_SNP_PRODUCT_TURIN ? 8 : 64;
		if (ext->hwid_size != want || memcmp(ext->hwid, rep->chip_id, want) != 0) {
			char *hc = vt_hex_encode(ext->hwid, ext->hwid_size <= sizeof(ext->hwid) ? ext->hwid_size : 0);
			char *hr = vt_hex_encode(rep->chip_id, want);
			vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "chip_id",
					       "VCEK hwID %s != report CHIP_ID %s (a VCEK of another chip)",
					       hc ? hc : "?", hr ? hr : "?");
			free(hc);
			free(hr);
			return rc;
		}
	}
	struct vt_snp_tcb t;
	vt_snp_tcb_decode(rep->reported_tcb, product, &t);
	vt_status rc = VT_OK;
	if (product == VT_SNP_PRODUCT_TURIN)
		rc = spl_cmp("fmc", ext->has_fmc, ext->fmc, t.fmc, err);
	if (rc == VT_OK)
		rc = spl_cmp("bootloader", ext->has_bl, ext->bl, t.bootloader, err);
	if (rc == VT_OK)
		rc = spl_cmp("tee", ext->has_tee, ext->tee, t.tee, err);
	if (rc == VT_OK)
		rc = spl_cmp("snp", ext->has_snp, ext->snp, t.snp, err);
	if (rc == VT_OK)
		rc = spl_cmp("microcode", ext->has_ucode, ext->ucode, t.microcode, err);
	return rc;
}
