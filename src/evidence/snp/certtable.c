/*
 * Certificate table of an extended SEV-SNP report (sev-snp.md §5): 24-byte
 * entries {GUID[16] (RFC 4122 byte order), u32 offset, u32 length} ended by
 * an all-zero entry, then the data the entries point at.  Offsets are from
 * the start of the table.
 */
#include <stdio.h>
#include <string.h>

#include "veritee/snp.h"
#include "veritee/util.h"

#define ENTRY_SIZE 24u

static const struct {
	vt_snp_cert_kind kind;
	uint8_t guid[16];
} KNOWN_GUIDS[] = {
	/* c0b406a4-a803-4952-9743-3fb6014cd0ae */
	{VT_SNP_CERT_ARK,
	 {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}},
	/* 4ab7b379-bbac-4fe4-a02f-05aef327c782 */
	{VT_SNP_CERT_ASK,
	 {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82}},
	/* 63da758d-e664-4564-adc5-f4b93be8accd */
	{VT_SNP_CERT_VCEK,
	 {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}},
	/* a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
	{VT_SNP_CERT_VLEK,
	 {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1}},
	/* 92f81bc3-5811-4d3d-97ff-d19f88dc67ea */
	{VT_SNP_CERT_CRL,
	 {0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea}},
};

static vt_snp_cert_kind kind_of(const uint8_t guid[16])
{
	for (size_t i = 0; i < sizeof(KNOWN_GUIDS) / sizeof(KNOWN_GUIDS[0]); i++)
		if (memcmp(guid, KNOWN_GUIDS[i].guid, 16) == 0)
			return KNOWN_GUIDS[i].kind;
	return VT_SNP_CERT_OTHER;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

vt_status vt_snp_cert_table_parse(const uint8_t *table, size_t size,
				  struct vt_snp_cert_entry out[VT_SNP_CERT_TABLE_MAX], size_t *count,
				  struct vt_err *err)
{
	if (out == NULL || count == NULL || (table == NULL && size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "certtable", "missing argument");
	*count = 0;

	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	struct vt_reader rd;
	size_t n = 0;
	char f[64];
	vt_status rc = VT_OK;
	memset(e, 0, sizeof(e));
	vt_reader_init(&rd, table, size);

	/* Entries up to and including the all-zero terminator. */
	for (;;) {
		snprintf(f, sizeof(f), "certtable.entry[%zu]", n);
		if (vt_reader_remaining(&rd) < ENTRY_SIZE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
				       "table ends after %zu entries without the all-zero terminator "
				       "(%zu bytes left, an entry is %u)",
				       n, vt_reader_remaining(&rd), ENTRY_SIZE);
		uint8_t guid[16];
		uint32_t off, len;
		VT_GUARD(vt_reader_copy(&rd, guid, sizeof(guid), f, err));
		VT_GUARD(vt_reader_u32le(&rd, &off, f, err));
		VT_GUARD(vt_reader_u32le(&rd, &len, f, err));
		if (all_zero(guid, sizeof(guid))) {
			if (off != 0 || len != 0)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
					       "zero GUID with offset %u length %u: not a valid terminator",
					       (unsigned)off, (unsigned)len);
			break;
		}
		if (n == VT_SNP_CERT_TABLE_MAX)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "certtable",
				       "more than %u certificate entries", (unsigned)VT_SNP_CERT_TABLE_MAX);
		memcpy(e[n].guid, guid, sizeof(guid));
		e[n].kind = kind_of(guid);
		e[n].offset = off;
		e[n].length = len;
		n++;
	}

	/* Data must lie after the entry array (terminator included) and
	 * inside the buffer; checked by subtraction so nothing can wrap. */
	size_t header_end = rd.off;
	for (size_t i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "certtable.entry[%zu]", i);
		size_t off = e[i].offset, len = e[i].length;
		if (off < header_end)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
				       "offset %zu points inside the entry array (which ends at %zu)", off, header_end);
		if (off > size || len > size - off)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
				       "offset %zu + length %zu exceeds the table size %zu", off, len, size);
	}
	memcpy(out, e, n * sizeof(e[0]));
	*count = n;
out:
	return rc;
}
