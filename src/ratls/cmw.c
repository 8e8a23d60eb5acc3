/*
 * RA-TLS evidence of every TEE without a CCC format (snp, tpm, sim, nitro,
 * cca, az-*, se, ...), in the IETF RATS conceptual message wrapper
 * (draft-ietf-rats-msg-wrap) X.509 extension:
 *
 *   extension id-pe-cmw (1.3.6.1.5.5.7.1.35), value = DER of
 *     CMW ::= CHOICE { json UTF8String, cbor OCTET STRING }
 *   veritee writes the cbor choice, a CMW record (a CBOR array):
 *     [ type: "application/vnd.veritee.ratls+cbor",
 *       value: bstr .cbor [ tee: tstr,             the KBS TEE name ("sim", "snp", ...)
 *                           evidence: bstr,        the TEE's evidence JSON text
 *                           claims-buffer: bstr ], the CCC claims map, unchanged
 *       ind: 4 ]                                   (evidence)
 *
 * The evidence binds SHA-256(claims-buffer) in its report data (zero-padded
 * to the TEE's report data), exactly as the CCC format does for SGX/TDX, so
 * one rule covers both.  docs/ratls.md shows the bytes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>

#include "ratls/ratls_internal.h"
#include "veritee/cose.h"
#include "veritee/util.h"

static bool tee_name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > VT_RATLS_MAX_TEE_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower(p[i]) || isdigit(p[i]) || p[i] == '-' || p[i] == '_'))
			return false;
	return true;
}

/* The inner value: [tee, evidence, claims-buffer]. */
static vt_status record_value_parse(const uint8_t *v, size_t vn, struct vt_ratls_evidence *out, struct vt_err *err)
{
	cbor_item_t *arr = NULL;
	vt_status rc = vt_cbor_decode(v, vn, 2, "cmw.value", &arr, err);
	if (rc != VT_OK)
		return rc;
	const uint8_t *ev = NULL, *claims = NULL;
	size_t ev_size = 0, claims_size = 0;
	cbor_item_t **el = cbor_isa_array(arr) && cbor_array_is_definite(arr) && cbor_array_size(arr) == 3
				   ? cbor_array_handle(arr)
				   : NULL;
	if (el == NULL || !cbor_isa_string(el[0]) || !cbor_string_is_definite(el[0]) ||
	    !vtx_cbor_bytes(el[1], &ev, &ev_size) || !vtx_cbor_bytes(el[2], &claims, &claims_size)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw.value",
			     "the record value must be [tee: tstr, evidence: bstr, claims-buffer: bstr]");
		goto out;
	}
	if (!tee_name_ok(cbor_string_handle(el[0]), cbor_string_length(el[0]))) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw.value.tee", "TEE name must be 1..%d of [a-z0-9_-]",
			     VT_RATLS_MAX_TEE_NAME);
		goto out;
	}
	if (ev_size == 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw.value.evidence", "empty evidence");
		goto out;
	}
	VT_GUARD(vt_ratls_claims_parse(claims, claims_size, out, err));
	memcpy(out->tee, cbor_string_handle(el[0]), cbor_string_length(el[0]));
	out->tee[cbor_string_length(el[0])] = '\0';
	rc = vtx_ratls_keep(out, ev, ev_size, claims, claims_size, err);
out:
	cbor_decref(&arr);
	return rc;
}

vt_status vt_ratls_cmw_parse(const uint8_t *value, size_t size, struct vt_ratls_evidence *out, struct vt_err *err)
{
	if (value == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (size > VT_RATLS_MAX_EXTENSION || size > (size_t)INT32_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "cmw", "extension of %zu bytes, at most %zu", size,
			       VT_RATLS_MAX_EXTENSION);
	vt_status rc = VT_OK;
	cbor_item_t *rec = NULL;
	const unsigned char *p = value;
	ASN1_TYPE *choice = d2i_ASN1_TYPE(NULL, &p, (long)size);
	if (choice == NULL || p != value + size || i2d_ASN1_TYPE(choice, NULL) != (int)size) { /* one DER TLV */
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw",
			     "not one DER value (CMW ::= CHOICE { UTF8String, OCTET STRING })");
		goto out;
	}
	if (ASN1_TYPE_get(choice) == V_ASN1_UTF8STRING) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "cmw", "a JSON CMW: only the CBOR choice is supported");
		goto out;
	}
	if (ASN1_TYPE_get(choice) != V_ASN1_OCTET_STRING) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw", "CMW is neither a UTF8String nor an OCTET STRING");
		goto out;
	}
	const ASN1_OCTET_STRING *os = choice->value.octet_string;
	VT_GUARD(vt_cbor_decode(ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os), 2, "cmw", &rec, err));
	if (cbor_isa_map(rec) || cbor_isa_tag(rec)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "cmw", "a CMW %s: only a record is supported",
			     cbor_isa_map(rec) ? "collection" : "tag");
		goto out;
	}
	cbor_item_t **el = cbor_isa_array(rec) && cbor_array_is_definite(rec) &&
					   (cbor_array_size(rec) == 2 || cbor_array_size(rec) == 3)
				   ? cbor_array_handle(rec)
				   : NULL;
	const uint8_t *v = NULL;
	size_t vn = 0;
	if (el == NULL || !vtx_cbor_bytes(el[1], &v, &vn)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw", "a CMW record is [type, value: bstr, ? ind: uint]");
		goto out;
	}
	if (!vtx_cbor_text_is(el[0], VT_RATLS_CMW_TYPE)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "cmw.type", "CMW type is not \"%s\"",
			     VT_RATLS_CMW_TYPE);
		goto out;
	}
	if (cbor_array_size(rec) == 3 &&
	    (!cbor_isa_uint(el[2]) || (cbor_get_int(el[2]) & VT_RATLS_CMW_IND_EVIDENCE) == 0)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cmw.ind", "the CMW indicator does not say evidence (4)");
		goto out;
	}
	VT_GUARD(record_value_parse(v, vn, out, err));
	out->format = VT_RATLS_FORMAT_CMW;
	out->oid = VT_RATLS_OID_CMW;
out:
	ASN1_TYPE_free(choice);
	if (rec != NULL)
		cbor_decref(&rec);
	if (rc != VT_OK)
		vt_ratls_evidence_free(out);
	return rc;
}

vt_status vt_ratls_cmw_build(const char *tee, const char *evidence_json, const uint8_t *claims, size_t claims_size,
			     uint8_t **out, size_t *out_size, struct vt_err *err)
{
	*out = NULL;
	*out_size = 0;
	if (tee == NULL || evidence_json == NULL || !tee_name_ok((const uint8_t *)tee, strlen(tee)))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "tee", "bad TEE name or no evidence");
	uint8_t *inner = NULL, *rec = NULL;
	size_t inner_size = 0, rec_size = 0;
	cbor_item_t *a = cbor_new_definite_array(3);
	if (a != NULL && (!cbor_array_push(a, cbor_move(cbor_build_string(tee))) ||
			  !cbor_array_push(a, cbor_move(cbor_build_bytestring((const uint8_t *)evidence_json,
									      strlen(evidence_json)))) ||
			  !cbor_array_push(a, cbor_move(cbor_build_bytestring(claims, claims_size)))))
		cbor_decref(&a);
	vt_status rc = vtx_cbor_serialize(a, &inner, &inner_size, err);
	if (rc != VT_OK)
		return rc;
	cbor_item_t *r = cbor_new_definite_array(3);
	if (r != NULL && (!cbor_array_push(r, cbor_move(cbor_build_string(VT_RATLS_CMW_TYPE))) ||
			  !cbor_array_push(r, cbor_move(cbor_build_bytestring(inner, inner_size))) ||
			  !cbor_array_push(r, cbor_move(cbor_build_uint8(VT_RATLS_CMW_IND_EVIDENCE)))))
		cbor_decref(&r);
	free(inner);
	rc = vtx_cbor_serialize(r, &rec, &rec_size, err);
	if (rc != VT_OK)
		return rc;
	/* the cbor choice: an OCTET STRING */
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	unsigned char *der = NULL;
	int der_size = -1;
	if (os != NULL && rec_size <= (size_t)INT32_MAX && ASN1_OCTET_STRING_set(os, rec, (int)rec_size) == 1)
		der_size = i2d_ASN1_OCTET_STRING(os, &der);
	ASN1_OCTET_STRING_free(os);
	free(rec);
	if (der_size <= 0)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cmw", "cannot encode the CMW OCTET STRING");
	*out = vtx_ratls_dup(der, (size_t)der_size);
	*out_size = (size_t)der_size;
	OPENSSL_free(der);
	return *out ? VT_OK : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}
