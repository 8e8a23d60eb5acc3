/*
 * PCK certificate SGX extension (OID 1.2.840.113741.1.13.1), per
 * ../shared/docs/formats/tdx-sgx-dcap.md §4.3.  A small strict DER walker on
 * the bounded reader: definite minimal lengths, single-byte tags, INTEGER /
 * ENUMERATED minimal and non-negative, OCTET STRING sizes exact, each known
 * member at most once, order not assumed.
 */
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "veritee/dcap.h"
#include "veritee/util.h"

#define TAG_BOOLEAN 0x01
#define TAG_INTEGER 0x02
#define TAG_OCTET_STRING 0x04
#define TAG_OID 0x06
#define TAG_ENUMERATED 0x0a
#define TAG_SEQUENCE 0x30

#define MAX_DEPTH_ENTRIES 64 /* members per SEQUENCE OF we are willing to walk */

/* DER content of OID 1.2.840.113741.1.13.1 */
static const uint8_t sgx_ext_arc[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

struct tlv {
	uint8_t tag;
	const uint8_t *val;
	size_t len;
};

static vt_status der_fail(struct vt_err *err, const char *field, const char *msg)
{
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%s", msg);
}

/* Read one TLV. */
static vt_status der_next(struct vt_reader *r, struct tlv *t, const char *field, struct vt_err *err)
{
	vt_status rc;
	uint8_t tag = 0, l0 = 0;
	size_t start = r->off;
	rc = vt_reader_u8(r, &tag, field, err);
	if (rc != VT_OK)
		return rc;
	if ((tag & 0x1f) == 0x1f) {
		r->off = start;
		return der_fail(err, field, "multi-byte DER tags are not supported");
	}
	rc = vt_reader_u8(r, &l0, field, err);
	if (rc != VT_OK) {
		r->off = start;
		return rc;
	}
	size_t len = 0;
	if (l0 < 0x80) {
		len = l0;
	} else {
		unsigned n = l0 & 0x7fu;
		if (n == 0 || n > 4) {
			r->off = start;
			return der_fail(err, field, "indefinite or oversized DER length");
		}
		for (unsigned i = 0; i < n; i++) {
			uint8_t b = 0;
			rc = vt_reader_u8(r, &b, field, err);
			if (rc != VT_OK) {
				r->off = start;
				return rc;
			}
			if (i == 0 && b == 0) {
				r->off = start;
				return der_fail(err, field, "non-minimal DER length");
			}
			len = (len << 8) | b;
		}
		if (len < 0x80) {
			r->off = start;
			return der_fail(err, field, "non-minimal DER length");
		}
	}
	rc = vt_reader_view(r, &t->val, len, field, err);
	if (rc != VT_OK) {
		r->off = start;
		return rc;
	}
	t->tag = tag;
	t->len = len;
	return VT_OK;
}

static vt_status der_expect(struct vt_reader *r, uint8_t tag, struct tlv *t, const char *field, struct vt_err *err)
{
	vt_status rc = der_next(r, t, field, err);
	if (rc != VT_OK)
		return rc;
	if (t->tag != tag)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "expected DER tag 0x%02x, got 0x%02x", tag, t->tag);
	return VT_OK;
}

/* Non-negative minimal INTEGER / ENUMERATED content, value <= max. */
static vt_status der_uint(const struct tlv *t, unsigned long max, unsigned long *out, const char *field,
			  struct vt_err *err)
{
	if (t->len == 0 || t->len > 4)
		return der_fail(err, field, "INTEGER of unsupported size");
	if (t->val[0] & 0x80)
		return der_fail(err, field, "negative INTEGER");
	if (t->len > 1 && t->val[0] == 0 && !(t->val[1] & 0x80))
		return der_fail(err, field, "non-minimal INTEGER");
	unsigned long v = 0;
	for (size_t i = 0; i < t->len; i++)
		v = (v << 8) | t->val[i];
	if (v > max)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "value %lu out of range 0..%lu", v, max);
	*out = v;
	return VT_OK;
}

static vt_status der_octets(const struct tlv *t, uint8_t *out, size_t n, const char *field, struct vt_err *err)
{
	if (t->tag != TAG_OCTET_STRING)
		return der_fail(err, field, "expected OCTET STRING");
	if (t->len != n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "OCTET STRING of %zu bytes, want %zu", t->len, n);
	memcpy(out, t->val, n);
	return VT_OK;
}

/* If the OID is arc.<a> (sub == 0) or arc.<a>.<sub>, return a / sub; a and
 * sub are single DER bytes (< 128).  Returns false for anything else. */
static bool oid_under_arc(const struct tlv *oid, unsigned *a, unsigned *sub)
{
	size_t n = sizeof(sgx_ext_arc);
	if (oid->len < n + 1 || oid->len > n + 2 || memcmp(oid->val, sgx_ext_arc, n) != 0)
		return false;
	if (oid->val[n] & 0x80 || oid->val[n] == 0)
		return false;
	*a = oid->val[n];
	*sub = 0;
	if (oid->len == n + 2) {
		if (oid->val[n + 1] & 0x80 || oid->val[n + 1] == 0)
			return false;
		*sub = oid->val[n + 1];
	}
	return true;
}

/* Read SEQUENCE { OID, value } from r; the pair must hold nothing else. */
static vt_status read_pair(struct vt_reader *r, struct tlv *oid, struct tlv *val, const char *field,
			   struct vt_err *err)
{
	struct tlv seq;
	vt_status rc = der_expect(r, TAG_SEQUENCE, &seq, field, err);
	if (rc != VT_OK)
		return rc;
	struct vt_reader pr;
	vt_reader_init(&pr, seq.val, seq.len);
	if ((rc = der_expect(&pr, TAG_OID, oid, field, err)) != VT_OK ||
	    (rc = der_next(&pr, val, field, err)) != VT_OK ||
	    (rc = vt_reader_expect_end(&pr, field, err)) != VT_OK)
		return rc;
	return VT_OK;
}

static vt_status parse_tcb(const struct tlv *v, struct vt_pck_ext *out, struct vt_err *err)
{
	const char *field = "pck_ext.tcb";
	if (v->tag != TAG_SEQUENCE)
		return der_fail(err, field, "TCB must be a SEQUENCE");
	uint32_t seen = 0; /* bit i-1 for component i (1..18) */
	unsigned count = 0;
	struct vt_reader r;
	vt_reader_init(&r, v->val, v->len);
	while (vt_reader_remaining(&r) > 0) {
		struct tlv oid, val;
		unsigned a, sub;
		vt_status rc = read_pair(&r, &oid, &val, field, err);
		if (rc != VT_OK)
			return rc;
		if (++count > 18)
			return der_fail(err, field, "TCB has more than 18 entries");
		if (!oid_under_arc(&oid, &a, &sub) || a != 2 || sub < 1 || sub > 18)
			return der_fail(err, field, "unexpected OID in TCB");
		if (seen & (1u << (sub - 1)))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "duplicate TCB entry %u", sub);
		seen |= 1u << (sub - 1);
		unsigned long x = 0;
		if (sub <= 16) {
			if (val.tag != TAG_INTEGER)
				return der_fail(err, "pck_ext.tcb.comp_svn", "expected INTEGER");
			if ((rc = der_uint(&val, 255, &x, "pck_ext.tcb.comp_svn", err)) != VT_OK)
				return rc;
			out->comp_svn[sub - 1] = (uint8_t)x;
		} else if (sub == 17) {
			if (val.tag != TAG_INTEGER)
				return der_fail(err, "pck_ext.tcb.pcesvn", "expected INTEGER");
			if ((rc = der_uint(&val, 65535, &x, "pck_ext.tcb.pcesvn", err)) != VT_OK)
				return rc;
			out->pcesvn = (uint16_t)x;
		} else {
			if ((rc = der_octets(&val, out->cpusvn, 16, "pck_ext.tcb.cpusvn", err)) != VT_OK)
				return rc;
		}
	}
	if (seen != (1u << 18) - 1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "TCB has %u of 18 entries", count);
	return VT_OK;
}

enum {
	M_PPID = 1u << 1,
	M_TCB = 1u << 2,
	M_PCEID = 1u << 3,
	M_FMSPC = 1u << 4,
	M_TYPE = 1u << 5,
	M_PIID = 1u << 6,
	M_CONF = 1u << 7,
};

vt_status vt_pck_ext_parse_der(const uint8_t *der, size_t size, struct vt_pck_ext *out, struct vt_err *err)
{
	vt_status rc;
	struct vt_pck_ext e;
	memset(&e, 0, sizeof(e));
	if (out == NULL || (der == NULL && size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_PARSE, "pck_ext", "NULL argument");
	memset(out, 0, sizeof(*out));

	struct vt_reader top;
	struct tlv seq;
	vt_reader_init(&top, der, size);
	VT_GUARD(der_expect(&top, TAG_SEQUENCE, &seq, "pck_ext", err));
	VT_GUARD(vt_reader_expect_end(&top, "pck_ext", err));

	struct vt_reader r;
	vt_reader_init(&r, seq.val, seq.len);
	unsigned seen = 0, count = 0;
	while (vt_reader_remaining(&r) > 0) {
		struct tlv oid, val;
		unsigned a = 0, sub = 0;
		VT_GUARD(read_pair(&r, &oid, &val, "pck_ext", err));
		if (++count > MAX_DEPTH_ENTRIES) {
			rc = der_fail(err, "pck_ext", "too many entries");
			goto out;
		}
		if (!oid_under_arc(&oid, &a, &sub) || sub != 0 || a > 7) {
			continue; /* unknown member: tolerated (future additions), not interpreted */
		}
		if (seen & (1u << a)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "pck_ext", "duplicate member %u", a);
			goto out;
		}
		seen |= 1u << a;
		switch (a) {
		case 1:
			VT_GUARD(der_octets(&val, e.ppid, 16, "pck_ext.ppid", err));
			break;
		case 2:
			VT_GUARD(parse_tcb(&val, &e, err));
			break;
		case 3:
			VT_GUARD(der_octets(&val, e.pceid, 2, "pck_ext.pceid", err));
			break;
		case 4:
			VT_GUARD(der_octets(&val, e.fmspc, 6, "pck_ext.fmspc", err));
			break;
		case 5: {
			unsigned long x = 0;
			if (val.tag != TAG_ENUMERATED) {
				rc = der_fail(err, "pck_ext.sgx_type", "expected ENUMERATED");
				goto out;
			}
			VT_GUARD(der_uint(&val, 2, &x, "pck_ext.sgx_type", err));
			e.sgx_type = (int)x;
			break;
		}
		case 6:
			VT_GUARD(der_octets(&val, e.platform_instance_id, 16, "pck_ext.platform_instance_id", err));
			e.has_platform_instance_id = true;
			break;
		case 7: {
			/* Configuration: SEQUENCE OF SEQUENCE { OID, BOOLEAN }; checked for shape only. */
			if (val.tag != TAG_SEQUENCE) {
				rc = der_fail(err, "pck_ext.configuration", "expected SEQUENCE");
				goto out;
			}
			struct vt_reader cr;
			unsigned n = 0;
			vt_reader_init(&cr, val.val, val.len);
			while (vt_reader_remaining(&cr) > 0) {
				struct tlv coid, cval;
				VT_GUARD(read_pair(&cr, &coid, &cval, "pck_ext.configuration", err));
				if (++n > MAX_DEPTH_ENTRIES || cval.tag != TAG_BOOLEAN || cval.len != 1 ||
				    (cval.val[0] != 0 && cval.val[0] != 0xff)) {
					rc = der_fail(err, "pck_ext.configuration", "malformed configuration entry");
					goto out;
				}
			}
			break;
		}
		default:
			break;
		}
	}
	static const struct {
		unsigned bit;
		const char *name;
	} required[] = {
		{M_PPID, "pck_ext.ppid"}, {M_TCB, "pck_ext.tcb"},       {M_PCEID, "pck_ext.pceid"},
		{M_FMSPC, "pck_ext.fmspc"}, {M_TYPE, "pck_ext.sgx_type"},
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!(seen & required[i].bit)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, required[i].name, "required member missing");
			goto out;
		}
	}
	*out = e;
	rc = VT_OK;
out:
	return rc;
}

vt_status vt_pck_ext_parse(X509 *pck, struct vt_pck_ext *out, struct vt_err *err)
{
	if (pck == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_PARSE, "pck_ext", "NULL argument");
	memset(out, 0, sizeof(*out));
	ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
	if (obj == NULL)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_PARSE, "pck_ext", "cannot build OID");
	int idx = X509_get_ext_by_OBJ(pck, obj, -1);
	int again = idx >= 0 ? X509_get_ext_by_OBJ(pck, obj, idx) : -1;
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "pck_ext", "PCK certificate has no SGX extension");
	if (again >= 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "pck_ext", "SGX extension appears twice");
	X509_EXTENSION *ext = X509_get_ext(pck, idx);
	const ASN1_OCTET_STRING *data = ext ? X509_EXTENSION_get_data(ext) : NULL;
	if (data == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "pck_ext", "SGX extension has no value");
	return vt_pck_ext_parse_der(ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data), out, err);
}
