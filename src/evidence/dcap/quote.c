/*
 * Intel DCAP quote parser: SGX v3, TDX v4 and v5 (body types 1/2/3).
 * Layouts: ../shared/docs/formats/tdx-sgx-dcap.md §1–§3.  Everything is read
 * through the bounded reader; no packed structs, no pointer arithmetic on
 * untrusted lengths.  The QE vendor id is not checked here (the verifier does).
 */
#include <string.h>

#include "veritee/dcap.h"
#include "veritee/util.h"

#define SGX_REPORT_BODY_SIZE 384u
#define TDX10_BODY_SIZE 584u
#define TDX15_BODY_SIZE 648u
#define CERT_TYPE_QE_REPORT 6u

static vt_status bad(struct vt_err *err, const char *field, const char *what, unsigned long v)
{
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%s (got %lu)", what, v);
}

/* 384-byte SGX REPORTBODY (§2.1). */
static vt_status read_sgx_report(struct vt_reader *r, struct vt_sgx_report_body *b, const char *field,
				 struct vt_err *err)
{
	const uint8_t *p;
	vt_status rc = vt_reader_view(r, &p, SGX_REPORT_BODY_SIZE, field, err);
	if (rc != VT_OK)
		return rc;
	memset(b, 0, sizeof(*b));
	memcpy(b->raw, p, SGX_REPORT_BODY_SIZE);

	struct vt_reader br;
	vt_reader_init(&br, p, SGX_REPORT_BODY_SIZE);
	/* The sub-reader cannot run short: the offsets below sum to 384. */
	if (vt_reader_copy(&br, b->cpu_svn, 16, field, err) != VT_OK ||
	    vt_reader_u32le(&br, &b->misc_select, field, err) != VT_OK ||
	    vt_reader_skip(&br, 12, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->isv_ext_prod_id, 16, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->attributes, 16, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_enclave, 32, field, err) != VT_OK ||
	    vt_reader_skip(&br, 32, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_signer, 32, field, err) != VT_OK ||
	    vt_reader_skip(&br, 32, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->config_id, 64, field, err) != VT_OK ||
	    vt_reader_u16le(&br, &b->isv_prod_id, field, err) != VT_OK ||
	    vt_reader_u16le(&br, &b->isv_svn, field, err) != VT_OK ||
	    vt_reader_u16le(&br, &b->config_svn, field, err) != VT_OK ||
	    vt_reader_skip(&br, 42, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->isv_family_id, 16, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->report_data, 64, field, err) != VT_OK ||
	    vt_reader_expect_end(&br, field, err) != VT_OK)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_PARSE, field, "report body layout");
	return VT_OK;
}

/* TD report body: 584 bytes (TDX 1.0), or 648 bytes with the 1.5 additions (§2.2, §2.3). */
static vt_status read_tdx_report(struct vt_reader *r, struct vt_tdx_report_body *b, bool v15, struct vt_err *err)
{
	const char *field = "quote.body";
	size_t n = v15 ? TDX15_BODY_SIZE : TDX10_BODY_SIZE;
	const uint8_t *p;
	vt_status rc = vt_reader_view(r, &p, n, field, err);
	if (rc != VT_OK)
		return rc;
	memset(b, 0, sizeof(*b));

	struct vt_reader br;
	vt_reader_init(&br, p, n);
	if (vt_reader_copy(&br, b->tee_tcb_svn, 16, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_seam, 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mrsigner_seam, 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->seam_attributes, 8, field, err) != VT_OK ||
	    vt_reader_u64le(&br, &b->td_attributes, field, err) != VT_OK ||
	    vt_reader_u64le(&br, &b->xfam, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_td, 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_config_id, 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_owner, 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->mr_owner_config, 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->rtmr[0], 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->rtmr[1], 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->rtmr[2], 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->rtmr[3], 48, field, err) != VT_OK ||
	    vt_reader_copy(&br, b->report_data, 64, field, err) != VT_OK)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_PARSE, field, "TD report layout");
	if (v15) {
		b->has_v15 = true;
		if (vt_reader_copy(&br, b->tee_tcb_svn2, 16, field, err) != VT_OK ||
		    vt_reader_copy(&br, b->mr_servicetd, 48, field, err) != VT_OK)
			return vt_fail(err, VT_E_INTERNAL, VT_STEP_PARSE, field, "TD report 1.5 layout");
	}
	if (vt_reader_expect_end(&br, field, err) != VT_OK)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_PARSE, field, "TD report layout");
	return VT_OK;
}

/* QE report, its signature, QE auth data and the inner certification data
 * (types 1..5).  Used directly for v3 and inside the type-6 data for v4/v5.
 * The reader must be exactly the region holding these parts. */
static vt_status read_qe_part(struct vt_reader *r, struct vt_dcap_quote *q, struct vt_err *err)
{
	vt_status rc;
	uint16_t auth_size = 0, type = 0;
	uint32_t size = 0;
	const uint8_t *p = NULL;

	VT_GUARD(read_sgx_report(r, &q->qe_report, "quote.sig_data.qe_report", err));
	VT_GUARD(vt_reader_copy(r, q->qe_report_signature, 64, "quote.sig_data.qe_report_signature", err));
	VT_GUARD(vt_reader_u16le(r, &auth_size, "quote.sig_data.qe_auth_data_size", err));
	VT_GUARD(vt_reader_view(r, &q->qe_auth_data, auth_size, "quote.sig_data.qe_auth_data", err));
	q->qe_auth_data_size = auth_size;
	VT_GUARD(vt_reader_u16le(r, &type, "quote.sig_data.cert_data_type", err));
	if (type < 1 || type > 5) {
		rc = bad(err, "quote.sig_data.cert_data_type", "certification data type must be 1..5", type);
		goto out;
	}
	VT_GUARD(vt_reader_u32le(r, &size, "quote.sig_data.cert_data_size", err));
	VT_GUARD(vt_reader_view(r, &p, size, "quote.sig_data.cert_data", err));
	/* Parsed size must equal the declared size. */
	VT_GUARD(vt_reader_expect_end(r, "quote.sig_data.cert_data", err));
	q->cert_data_type = type;
	q->cert_data = p;
	q->cert_data_size = size;
	if (type == 5) {
		while (q->cert_data_size > 0 && p[q->cert_data_size - 1] == 0)
			q->cert_data_size--;
		if (q->cert_data_size == 0) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "quote.sig_data.cert_data",
				     "empty PCK certificate chain");
			goto out;
		}
	}
out:
	return rc;
}

vt_status vt_dcap_quote_parse(const uint8_t *buf, size_t size, struct vt_dcap_quote *out, struct vt_err *err)
{
	vt_status rc;
	struct vt_reader r;
	struct vt_dcap_quote q;
	uint32_t sig_len = 0;
	const uint8_t *sig = NULL;

	memset(&q, 0, sizeof(q));
	if (out == NULL || (buf == NULL && size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_PARSE, "quote", "NULL argument");
	memset(out, 0, sizeof(*out));
	vt_reader_init(&r, buf, size);

	/* Header (§1). */
	VT_GUARD(vt_reader_u16le(&r, &q.version, "quote.version", err));
	if (q.version != 3 && q.version != 4 && q.version != 5) {
		rc = bad(err, "quote.version", "unsupported quote version", q.version);
		goto out;
	}
	VT_GUARD(vt_reader_u16le(&r, &q.att_key_type, "quote.att_key_type", err));
	if (q.att_key_type != 2) {
		rc = bad(err, "quote.att_key_type", "attestation key type must be 2 (ECDSA-256-with-P-256)",
			 q.att_key_type);
		goto out;
	}
	VT_GUARD(vt_reader_u32le(&r, &q.tee_type, "quote.tee_type", err));
	if (q.tee_type != VT_DCAP_TEE_SGX && q.tee_type != VT_DCAP_TEE_TDX) {
		rc = bad(err, "quote.tee_type", "TEE type must be 0 (SGX) or 0x81 (TDX)", q.tee_type);
		goto out;
	}
	if (q.version == 3 && q.tee_type != VT_DCAP_TEE_SGX) {
		rc = bad(err, "quote.tee_type", "a version 3 quote must be SGX", q.tee_type);
		goto out;
	}
	VT_GUARD(vt_reader_skip(&r, 4, "quote.reserved", err)); /* qe_svn / pce_svn or reserved */
	VT_GUARD(vt_reader_copy(&r, q.qe_vendor_id, 16, "quote.qe_vendor_id", err));
	VT_GUARD(vt_reader_copy(&r, q.user_data, 20, "quote.user_data", err));

	/* Body (§2). */
	if (q.version == 5) {
		uint32_t body_size = 0;
		VT_GUARD(vt_reader_u16le(&r, &q.body_type, "quote.body_type", err));
		VT_GUARD(vt_reader_u32le(&r, &body_size, "quote.body_size", err));
		uint32_t want;
		switch (q.body_type) {
		case 1: want = SGX_REPORT_BODY_SIZE; break;
		case 2: want = TDX10_BODY_SIZE; break;
		case 3: want = TDX15_BODY_SIZE; break;
		default:
			rc = bad(err, "quote.body_type", "body type must be 1, 2 or 3", q.body_type);
			goto out;
		}
		if ((q.tee_type == VT_DCAP_TEE_SGX) != (q.body_type == 1)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "quote.body_type",
				     "body type %u does not match TEE type 0x%x", (unsigned)q.body_type,
				     (unsigned)q.tee_type);
			goto out;
		}
		if (body_size != want) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "quote.body_size",
				     "body type %u needs %u bytes, got %lu", (unsigned)q.body_type, (unsigned)want,
				     (unsigned long)body_size);
			goto out;
		}
	} else {
		q.body_type = q.tee_type == VT_DCAP_TEE_SGX ? 1 : 2;
	}
	if (q.body_type == 1)
		VT_GUARD(read_sgx_report(&r, &q.sgx, "quote.body", err));
	else
		VT_GUARD(read_tdx_report(&r, &q.tdx, q.body_type == 3, err));

	/* Signed region = every byte before signature_data_len (§2.4). */
	q.signed_region = buf;
	q.signed_size = r.off;

	VT_GUARD(vt_reader_u32le(&r, &sig_len, "quote.sig_data_len", err));
	VT_GUARD(vt_reader_view(&r, &sig, sig_len, "quote.sig_data", err));
	q.quote_size = r.off; /* bytes after this are padding and ignored */

	/* Signature data (§3). */
	struct vt_reader sr;
	vt_reader_init(&sr, sig, sig_len);
	VT_GUARD(vt_reader_copy(&sr, q.signature, 64, "quote.sig_data.signature", err));
	VT_GUARD(vt_reader_copy(&sr, q.attestation_key, 64, "quote.sig_data.attestation_key", err));
	if (q.version == 3) {
		VT_GUARD(read_qe_part(&sr, &q, err));
	} else {
		uint16_t outer_type = 0;
		uint32_t outer_size = 0;
		const uint8_t *outer = NULL;
		VT_GUARD(vt_reader_u16le(&sr, &outer_type, "quote.sig_data.outer_cert_data_type", err));
		if (outer_type != CERT_TYPE_QE_REPORT) {
			rc = bad(err, "quote.sig_data.outer_cert_data_type",
				 "certification data type must be 6 (QE report) for v4/v5", outer_type);
			goto out;
		}
		VT_GUARD(vt_reader_u32le(&sr, &outer_size, "quote.sig_data.outer_cert_data_size", err));
		VT_GUARD(vt_reader_view(&sr, &outer, outer_size, "quote.sig_data.outer_cert_data", err));
		VT_GUARD(vt_reader_expect_end(&sr, "quote.sig_data", err));
		struct vt_reader orr;
		vt_reader_init(&orr, outer, outer_size);
		VT_GUARD(read_qe_part(&orr, &q, err));
	}
	*out = q;
	rc = VT_OK;
out:
	return rc;
}
