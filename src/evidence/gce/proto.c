/*
 * Strict protobuf reading on the bounded reader, and the parse of
 * go-tpm-tools' attest.Attestation (proto.h; field numbers from the public
 * proto/attest.proto and proto/tpm.proto of google/go-tpm-tools).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "evidence/gce/proto.h"

/* ------------------------------------------------------------ wire format */

vt_status vt_pb_varint(struct vt_reader *r, uint64_t *out, const char *field, struct vt_err *err)
{
	size_t start = r->off;
	uint64_t v = 0;
	for (unsigned i = 0; i < 10; i++) {
		uint8_t c;
		if (vt_reader_u8(r, &c, field, NULL) != VT_OK) {
			r->off = start;
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "truncated varint at offset %zu", start);
		}
		/* the 10th byte holds bit 63 only: anything above overflows 64 bits */
		if (i == 9 && c > 1) {
			r->off = start;
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "varint at offset %zu is longer than 10 bytes or above 2^64-1", start);
		}
		v |= (uint64_t)(c & 0x7Fu) << (7u * i);
		if (!(c & 0x80u)) {
			*out = v;
			return VT_OK;
		}
	}
	r->off = start; /* not reached: the 10th byte either ends or fails above */
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "varint at offset %zu is too long", start);
}

vt_status vt_pb_next(struct vt_reader *r, struct vt_pb_field *out, const char *field, struct vt_err *err)
{
	size_t start = r->off;
	uint64_t key = 0, len = 0;
	vt_status rc = vt_pb_varint(r, &key, field, err);
	if (rc != VT_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFFu) {
		r->off = start;
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "invalid field number %llu at offset %zu",
			       (unsigned long long)(key >> 3), start);
	}
	out->number = (uint32_t)(key >> 3);
	switch (key & 7u) {
	case VT_PB_VARINT:
		out->wire = VT_PB_VARINT;
		rc = vt_pb_varint(r, &out->varint, field, err);
		break;
	case VT_PB_FIXED64:
		out->wire = VT_PB_FIXED64;
		rc = vt_reader_skip(r, 8, field, err);
		break;
	case VT_PB_FIXED32:
		out->wire = VT_PB_FIXED32;
		rc = vt_reader_skip(r, 4, field, err);
		break;
	case VT_PB_LEN:
		out->wire = VT_PB_LEN;
		rc = vt_pb_varint(r, &len, field, err);
		if (rc == VT_OK && len > vt_reader_remaining(r))
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				     "field %u at offset %zu: length %llu past the end (%zu bytes left)", out->number,
				     start, (unsigned long long)len, vt_reader_remaining(r));
		if (rc == VT_OK) {
			out->size = (size_t)len;
			rc = vt_reader_view(r, &out->data, out->size, field, err);
		}
		break;
	default:
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "field %u at offset %zu: wire type %u not accepted",
			     out->number, start, (unsigned)(key & 7u));
		break;
	}
	if (rc != VT_OK)
		r->off = start;
	return rc;
}

/* ------------------------------------------------------------ helpers */

static vt_status want_wire(const struct vt_pb_field *f, enum vt_pb_wire w, const char *field, struct vt_err *err)
{
	if (f->wire == w)
		return VT_OK;
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "field %u has wire type %u, expected %u", f->number,
		       (unsigned)f->wire, (unsigned)w);
}

static vt_status once(bool *seen, const char *field, struct vt_err *err)
{
	if (*seen)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%s is given more than once", field);
	*seen = true;
	return VT_OK;
}

static vt_status count_field(size_t *n, const char *field, struct vt_err *err)
{
	if (++*n > VT_GCE_PB_MAX_FIELDS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, field, "more than %u fields in one message",
			       VT_GCE_PB_MAX_FIELDS);
	return VT_OK;
}

/* ------------------------------------------------------------ tpm.PCRs */

/* One map<uint32, bytes> entry: {1: key, 2: value}. */
static vt_status parse_map_entry(const uint8_t *data, size_t size, uint64_t *key, const uint8_t **value,
				 size_t *value_size, const char *field, struct vt_err *err)
{
	struct vt_reader r;
	struct vt_pb_field f;
	bool seen_k = false, seen_v = false;
	size_t n = 0;
	vt_status rc = VT_OK;
	vt_reader_init(&r, data, size);
	*key = 0; /* proto3 defaults */
	*value = data;
	*value_size = 0;
	while (rc == VT_OK && vt_reader_remaining(&r) > 0) {
		if ((rc = count_field(&n, field, err)) != VT_OK || (rc = vt_pb_next(&r, &f, field, err)) != VT_OK)
			break;
		if (f.number == 1) {
			if ((rc = want_wire(&f, VT_PB_VARINT, field, err)) == VT_OK &&
			    (rc = once(&seen_k, field, err)) == VT_OK)
				*key = f.varint;
		} else if (f.number == 2) {
			if ((rc = want_wire(&f, VT_PB_LEN, field, err)) == VT_OK &&
			    (rc = once(&seen_v, field, err)) == VT_OK) {
				*value = f.data;
				*value_size = f.size;
			}
		}
	}
	return rc;
}

static vt_status parse_pcrs(const uint8_t *data, size_t size, struct vt_tpm_pcrs *out, const char *field,
			    struct vt_err *err)
{
	struct vt_reader r;
	struct vt_pb_field f;
	bool seen_hash = false;
	uint64_t hash = 0;
	const uint8_t *val[VT_TPM_NUM_PCRS] = {0};
	size_t val_size[VT_TPM_NUM_PCRS] = {0};
	uint32_t present = 0;
	size_t n = 0;
	vt_status rc = VT_OK;
	vt_reader_init(&r, data, size);
	while (rc == VT_OK && vt_reader_remaining(&r) > 0) {
		if ((rc = count_field(&n, field, err)) != VT_OK || (rc = vt_pb_next(&r, &f, field, err)) != VT_OK)
			break;
		if (f.number == 1) {
			if ((rc = want_wire(&f, VT_PB_VARINT, field, err)) == VT_OK &&
			    (rc = once(&seen_hash, field, err)) == VT_OK)
				hash = f.varint;
		} else if (f.number == 2) {
			uint64_t idx;
			const uint8_t *v;
			size_t vs;
			if ((rc = want_wire(&f, VT_PB_LEN, field, err)) != VT_OK ||
			    (rc = parse_map_entry(f.data, f.size, &idx, &v, &vs, field, err)) != VT_OK)
				break;
			if (idx >= VT_TPM_NUM_PCRS)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "PCR index %llu (0..23 accepted)",
					     (unsigned long long)idx);
			else if (present & (1u << idx))
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "PCR %llu is given more than once",
					     (unsigned long long)idx);
			else {
				present |= 1u << idx;
				val[idx] = v;
				val_size[idx] = vs;
			}
		}
	}
	if (rc != VT_OK)
		return rc;
	const EVP_MD *md = hash <= 0xFFFFu ? vt_tpm_alg_md((uint16_t)hash) : NULL;
	if (md == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "PCR bank hash %llu is missing or not supported",
			       (unsigned long long)hash);
	if (present == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "no PCR values");
	memset(out, 0, sizeof(*out));
	out->hash_alg = (uint16_t)hash;
	out->digest_size = (size_t)EVP_MD_get_size(md);
	for (unsigned i = 0; i < VT_TPM_NUM_PCRS; i++) {
		if (!(present & (1u << i)))
			continue;
		if (val_size[i] != out->digest_size)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "PCR %u value is %zu bytes, %s needs %zu", i,
				       val_size[i], vt_tpm_alg_name(out->hash_alg), out->digest_size);
		memcpy(out->value[i], val[i], out->digest_size);
	}
	out->present = present;
	return VT_OK;
}

/* ------------------------------------------------------------ tpm.Quote */

static vt_status parse_quote(const uint8_t *data, size_t size, struct vt_gce_quote *q, const char *field,
			     struct vt_err *err)
{
	struct vt_reader r;
	struct vt_pb_field f;
	bool seen_q = false, seen_s = false, seen_p = false;
	size_t n = 0;
	vt_status rc = VT_OK;
	vt_reader_init(&r, data, size);
	while (rc == VT_OK && vt_reader_remaining(&r) > 0) {
		if ((rc = count_field(&n, field, err)) != VT_OK || (rc = vt_pb_next(&r, &f, field, err)) != VT_OK)
			break;
		if (f.number < 1 || f.number > 3)
			continue;
		if ((rc = want_wire(&f, VT_PB_LEN, field, err)) != VT_OK)
			break;
		if (f.number == 1) {
			if ((rc = once(&seen_q, field, err)) != VT_OK)
				break;
			if (f.size == 0 || f.size > VT_TPM_ATTEST_MAX)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "quote is %zu bytes (1..%u accepted)",
					     f.size, VT_TPM_ATTEST_MAX);
			q->quote = f.data;
			q->quote_size = f.size;
		} else if (f.number == 2) {
			if ((rc = once(&seen_s, field, err)) != VT_OK)
				break;
			if (f.size == 0 || f.size > VT_TPM_SIGNATURE_MAX)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "raw_sig is %zu bytes (1..%u accepted)",
					     f.size, VT_TPM_SIGNATURE_MAX);
			q->raw_sig = f.data;
			q->raw_sig_size = f.size;
		} else {
			if ((rc = once(&seen_p, field, err)) == VT_OK)
				rc = parse_pcrs(f.data, f.size, &q->pcrs, field, err);
		}
	}
	if (rc == VT_OK && (!seen_q || !seen_s || !seen_p))
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "quote, raw_sig and pcrs are required (missing %s)",
			     !seen_q ? "quote" : !seen_s ? "raw_sig" : "pcrs");
	return rc;
}

/* ------------------------------------------------------------ Attestation */

vt_status vt_gce_attestation_parse(const uint8_t *data, size_t size, struct vt_gce_attestation *out,
				   struct vt_err *err)
{
	if (data == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (size > VT_GCE_PB_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation", "%zu bytes, at most %zu accepted", size,
			       VT_GCE_PB_MAX);
	struct vt_reader r;
	struct vt_pb_field f;
	bool seen_ak = false, seen_log = false, seen_cert = false, seen_cel = false, seen_ii = false;
	size_t n = 0;
	char qfield[48];
	vt_status rc = VT_OK;
	vt_reader_init(&r, data, size);
	while (rc == VT_OK && vt_reader_remaining(&r) > 0) {
		if ((rc = count_field(&n, "attestation", err)) != VT_OK ||
		    (rc = vt_pb_next(&r, &f, "attestation", err)) != VT_OK)
			break;
		switch (f.number) {
		case 1:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.ak_pub", err)) != VT_OK ||
			    (rc = once(&seen_ak, "attestation.ak_pub", err)) != VT_OK)
				break;
			if (f.size == 0 || f.size > VT_GCE_AK_PUB_MAX)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "attestation.ak_pub",
					     "ak_pub is %zu bytes (1..%u accepted)", f.size, VT_GCE_AK_PUB_MAX);
			out->ak_pub = f.data;
			out->ak_pub_size = f.size;
			break;
		case 2:
			snprintf(qfield, sizeof(qfield), "attestation.quotes[%zu]", out->quote_count);
			if ((rc = want_wire(&f, VT_PB_LEN, qfield, err)) != VT_OK)
				break;
			if (out->quote_count >= VT_GCE_MAX_QUOTES) {
				rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation.quotes",
					     "more than %u quotes", VT_GCE_MAX_QUOTES);
				break;
			}
			struct vt_gce_quote *q = &out->quotes[out->quote_count];
			if ((rc = parse_quote(f.data, f.size, q, qfield, err)) != VT_OK)
				break;
			for (size_t i = 0; i < out->quote_count; i++)
				if (out->quotes[i].pcrs.hash_alg == q->pcrs.hash_alg)
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, qfield,
						     "a second quote of the %s bank", vt_tpm_alg_name(q->pcrs.hash_alg));
			out->quote_count++;
			break;
		case 3:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.event_log", err)) != VT_OK ||
			    (rc = once(&seen_log, "attestation.event_log", err)) != VT_OK)
				break;
			if (f.size > 0) { /* proto3: empty bytes = absent */
				out->event_log = f.data;
				out->event_log_size = f.size;
			}
			break;
		case 4:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.instance_info", err)) == VT_OK &&
			    (rc = once(&seen_ii, "attestation.instance_info", err)) == VT_OK)
				out->has_instance_info = true;
			break;
		case 5:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.canonical_event_log", err)) == VT_OK &&
			    (rc = once(&seen_cel, "attestation.canonical_event_log", err)) == VT_OK)
				out->has_canonical_event_log = f.size > 0;
			break;
		case 6:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.ak_cert", err)) != VT_OK ||
			    (rc = once(&seen_cert, "attestation.ak_cert", err)) != VT_OK)
				break;
			if (f.size > VT_GCE_CERT_MAX)
				rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation.ak_cert",
					     "ak_cert is %zu bytes, at most %zu accepted", f.size, VT_GCE_CERT_MAX);
			if (f.size > 0) {
				out->ak_cert = f.data;
				out->ak_cert_size = f.size;
			}
			break;
		case 7:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.intermediate_certs", err)) != VT_OK)
				break;
			if (out->intermediate_count >= VT_GCE_MAX_INTERMEDIATES)
				rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation.intermediate_certs",
					     "more than %u intermediate certificates", VT_GCE_MAX_INTERMEDIATES);
			else if (f.size == 0 || f.size > VT_GCE_CERT_MAX)
				rc = vt_fail(err, f.size ? VT_E_LIMIT : VT_E_PARSE, VT_STEP_PARSE,
					     "attestation.intermediate_certs",
					     "an intermediate certificate is %zu bytes (1..%zu accepted)", f.size,
					     VT_GCE_CERT_MAX);
			else {
				out->intermediates[out->intermediate_count] = f.data;
				out->intermediate_sizes[out->intermediate_count++] = f.size;
			}
			break;
		case 8:
		case 9:
			if ((rc = want_wire(&f, VT_PB_LEN, "attestation.tee_attestation", err)) == VT_OK) {
				if (out->has_tee_attestation)
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "attestation.tee_attestation",
						     "more than one TEE attestation (a oneof)");
				out->has_tee_attestation = true;
			}
			break;
		default: break; /* unknown field: skipped */
		}
	}
	if (rc == VT_OK && !seen_ak)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "attestation.ak_pub", "no ak_pub (field 1)");
	if (rc == VT_OK && out->quote_count == 0)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "attestation.quotes", "no quotes (field 2)");
	if (rc != VT_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}
