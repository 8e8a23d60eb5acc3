/*
 * IBM Secure Execution: the three binary formats (veritee/se.h has their
 * layouts): ARCB v1, the SE header v1 and pvattest's exchange format v1.
 * Everything goes through the bounded reader; every size field is checked
 * against the bytes present by subtraction, and against a named cap.
 */
#include <assert.h>
#include <string.h>

#include "veritee/se.h"
#include "veritee/util.h"

static_assert(VT_SE_ARCB_MAX <= UINT32_MAX, "the ARCB size is a u32 on the wire");
static_assert(VT_SE_HDR_MAX <= UINT32_MAX, "the SE header size is a u32 on the wire");
static_assert(VT_SE_TAGS_SIZE == 208, "BootHdrTags is 0xd0 bytes");
static_assert(VT_SE_ARCB_MIN_AAD == 0xe0, "the ARCB key slots start at 0xe0");

static const uint8_t HDR_MAGIC[8] = {'I', 'B', 'M', 'S', 'e', 'c', 'E', 'x'};
static const uint8_t EXCHANGE_MAGIC[8] = {'p', 'v', 'a', 't', 't', 'e', 's', 't'};

static vt_status u64be(struct vt_reader *r, uint64_t *out, const char *field, struct vt_err *err)
{
	uint32_t hi, lo;
	vt_status rc = vt_reader_u32be(r, &hi, field, err);
	if (rc == VT_OK)
		rc = vt_reader_u32be(r, &lo, field, err);
	if (rc == VT_OK)
		*out = (uint64_t)hi << 32 | lo;
	return rc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static vt_status reserved(struct vt_reader *r, size_t n, const char *field, struct vt_err *err)
{
	const uint8_t *p;
	vt_status rc = vt_reader_view(r, &p, n, field, err);
	if (rc == VT_OK && !all_zero(p, n))
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "reserved bytes at offset %zu are not zero",
			     r->off - n);
	return rc;
}

uint32_t vt_se_additional_size(uint64_t flags)
{
	/* rust/pv AttestationFlags::FLAG_TO_ADD_SIZE */
	return ((flags & VT_SE_FLAG_IMAGE_PHKH) ? VT_SE_PHKH_SIZE : 0) +
	       ((flags & VT_SE_FLAG_ATTEST_PHKH) ? VT_SE_PHKH_SIZE : 0) +
	       ((flags & VT_SE_FLAG_SECRET_STORE_HASH) ? 64u : 0) + ((flags & VT_SE_FLAG_FIRMWARE_STATE) ? 320u : 0);
}

/* ------------------------------------------------------------ ARCB v1 */

vt_status vt_se_arcb_parse(const uint8_t *p, size_t n, struct vt_se_arcb *out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct vt_se_arcb a;
	memset(&a, 0, sizeof(a));
	struct vt_reader r;
	vt_reader_init(&r, p, n);
	const uint8_t *magic;
	vt_status rc;
	if ((rc = vt_reader_view(&r, &magic, 8, "arcb.magic", err)) != VT_OK)
		return rc;
	if (!all_zero(magic, 8))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.magic",
			       "not an attestation request (ARCB v1 starts with 8 zero bytes)");
	if ((rc = vt_reader_u32be(&r, &a.version, "arcb.version", err)) != VT_OK)
		return rc;
	if (a.version != VT_SE_VERSION_1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.version", "unsupported ARCB version 0x%x (want 0x100)",
			       a.version);
	if ((rc = vt_reader_u32be(&r, &a.size, "arcb.size", err)) != VT_OK)
		return rc;
	if (a.size > VT_SE_ARCB_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "arcb.size", "ARCB of %u bytes, at most %u accepted", a.size,
			       (unsigned)VT_SE_ARCB_MAX);
	if (a.size != n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.size", "ARCB says %u bytes, %zu present", a.size, n);
	if ((rc = vt_reader_view(&r, &a.iv, VT_SE_IV_SIZE, "arcb.iv", err)) != VT_OK ||
	    (rc = reserved(&r, 4 + 7, "arcb.reserved", err)) != VT_OK ||
	    (rc = vt_reader_u8(&r, &a.nks, "arcb.nks", err)) != VT_OK ||
	    (rc = reserved(&r, 4, "arcb.reserved", err)) != VT_OK ||
	    (rc = vt_reader_u32be(&r, &a.sea, "arcb.sea", err)) != VT_OK)
		return rc;
	if (a.nks == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.nks", "no key slot");
	/* size = aad + sea + tag; aad = header + flags/mai + customer key + key slots */
	size_t aad = VT_SE_ARCB_MIN_AAD + (size_t)a.nks * VT_SE_KEYSLOT_SIZE;
	if (n < aad || n - aad < VT_SE_GCM_TAG_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.nks", "%u key slots do not fit in %zu bytes", a.nks, n);
	if (a.sea != n - aad - VT_SE_GCM_TAG_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.sea",
			       "encrypted area of %u bytes, but %zu bytes follow the %u key slots", a.sea,
			       n - aad - VT_SE_GCM_TAG_SIZE, a.nks);
	if ((rc = u64be(&r, &a.flags, "arcb.flags", err)) != VT_OK ||
	    (rc = vt_reader_u32be(&r, &a.mai, "arcb.mai", err)) != VT_OK ||
	    (rc = reserved(&r, 4, "arcb.reserved", err)) != VT_OK)
		return rc;
	if (a.flags & ~VT_SE_FLAGS_KNOWN)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.flags", "unknown attestation flags 0x%016llx",
			       (unsigned long long)(a.flags & ~VT_SE_FLAGS_KNOWN));
	if (a.mai != VT_SE_MAI_HMAC_SHA512)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.mai",
			       "unsupported measurement algorithm %u (1 = HMAC-SHA512)", a.mai);
	uint32_t want_sea = VT_SE_MEAS_KEY_SIZE + ((a.flags & VT_SE_FLAG_NONCE) ? VT_SE_NONCE_SIZE : 0);
	if (a.sea != want_sea)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "arcb.sea",
			       "encrypted area of %u bytes; the flags ask for %u (key%s)", a.sea, want_sea,
			       (a.flags & VT_SE_FLAG_NONCE) ? " and nonce" : "");
	if ((rc = vt_reader_view(&r, &a.cust_key, VT_SE_CUST_KEY_SIZE, "arcb.customer_key", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &a.keyslots, (size_t)a.nks * VT_SE_KEYSLOT_SIZE, "arcb.keyslots", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &a.encrypted, a.sea, "arcb.encrypted", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &a.tag, VT_SE_GCM_TAG_SIZE, "arcb.tag", err)) != VT_OK ||
	    (rc = vt_reader_expect_end(&r, "arcb", err)) != VT_OK)
		return rc;
	a.aad = p;
	a.aad_size = aad;
	*out = a;
	return VT_OK;
}

/* ------------------------------------------------------------ SE header v1 */

vt_status vt_se_hdr_parse(const uint8_t *p, size_t n, struct vt_se_hdr *out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct vt_se_hdr h;
	memset(&h, 0, sizeof(h));
	struct vt_reader r;
	vt_reader_init(&r, p, n);
	const uint8_t *magic;
	vt_status rc;
	if ((rc = vt_reader_view(&r, &magic, 8, "se_header.magic", err)) != VT_OK)
		return rc;
	if (memcmp(magic, HDR_MAGIC, 8) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "se_header.magic",
			       "not an SE header (no \"IBMSecEx\" at offset 0; pvextract-hdr extracts it from an image)");
	if ((rc = vt_reader_u32be(&r, &h.version, "se_header.version", err)) != VT_OK)
		return rc;
	if (h.version != VT_SE_VERSION_1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "se_header.version",
			       "unsupported SE header version 0x%x (want 0x100)", h.version);
	if ((rc = vt_reader_u32be(&r, &h.size, "se_header.size", err)) != VT_OK)
		return rc;
	if (h.size > VT_SE_HDR_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "se_header.size", "SE header of %u bytes, at most %d",
			       h.size, VT_SE_HDR_MAX);
	if (h.size != n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "se_header.size", "SE header says %u bytes, %zu present",
			       h.size, n);
	if ((rc = vt_reader_view(&r, &h.iv, VT_SE_IV_SIZE, "se_header.iv", err)) != VT_OK ||
	    (rc = reserved(&r, 4, "se_header.reserved", err)) != VT_OK ||
	    (rc = u64be(&r, &h.nks, "se_header.nks", err)) != VT_OK ||
	    (rc = u64be(&r, &h.sea, "se_header.sea", err)) != VT_OK ||
	    (rc = u64be(&r, &h.nep, "se_header.nep", err)) != VT_OK ||
	    (rc = u64be(&r, &h.pcf, "se_header.pcf", err)) != VT_OK)
		return rc;
	if (n < VT_SE_HDR_FIXED_SIZE + VT_SE_GCM_TAG_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "se_header.size", "SE header of %zu bytes is too short", n);
	size_t rest = n - VT_SE_HDR_FIXED_SIZE - VT_SE_GCM_TAG_SIZE; /* key slots + encrypted area */
	if (h.nks == 0 || h.nks > rest / VT_SE_KEYSLOT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "se_header.nks", "%llu key slots in a %zu-byte header",
			       (unsigned long long)h.nks, n);
	if (h.sea != rest - (size_t)h.nks * VT_SE_KEYSLOT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "se_header.sea",
			       "encrypted area of %llu bytes, but %zu bytes follow the %llu key slots",
			       (unsigned long long)h.sea, rest - (size_t)h.nks * VT_SE_KEYSLOT_SIZE,
			       (unsigned long long)h.nks);
	if ((rc = vt_reader_view(&r, &h.cust_key, VT_SE_CUST_KEY_SIZE, "se_header.customer_key", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &h.pld, VT_SE_DIGEST_SIZE, "se_header.pld", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &h.ald, VT_SE_DIGEST_SIZE, "se_header.ald", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &h.tld, VT_SE_DIGEST_SIZE, "se_header.tld", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &h.keyslots, (size_t)h.nks * VT_SE_KEYSLOT_SIZE, "se_header.keyslots", err)) !=
		    VT_OK ||
	    (rc = vt_reader_skip(&r, (size_t)h.sea, "se_header.encrypted", err)) != VT_OK ||
	    (rc = vt_reader_view(&r, &h.tag, VT_SE_GCM_TAG_SIZE, "se_header.tag", err)) != VT_OK ||
	    (rc = vt_reader_expect_end(&r, "se_header", err)) != VT_OK)
		return rc;
	*out = h;
	return VT_OK;
}

void vt_se_hdr_tags(const struct vt_se_hdr *h, uint8_t out[VT_SE_TAGS_SIZE])
{
	memcpy(out, h->pld, VT_SE_DIGEST_SIZE);
	memcpy(out + VT_SE_DIGEST_SIZE, h->ald, VT_SE_DIGEST_SIZE);
	memcpy(out + 2 * VT_SE_DIGEST_SIZE, h->tld, VT_SE_DIGEST_SIZE);
	memcpy(out + 3 * VT_SE_DIGEST_SIZE, h->tag, VT_SE_GCM_TAG_SIZE);
}

/* ------------------------------------------------------------ exchange format v1 */

static vt_status entry(struct vt_reader *r, const uint8_t *p, size_t n, const char *field, uint32_t max, bool exact,
		       struct vt_se_exchange_entry *out, struct vt_err *err)
{
	uint32_t size, offset;
	vt_status rc = vt_reader_u32be(r, &size, field, err);
	if (rc == VT_OK)
		rc = vt_reader_u32be(r, &offset, field, err);
	if (rc != VT_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	if (size == 0)
		return VT_OK; /* absent; the offset is ignored (pvattest) */
	if (exact ? size != max : size > max)
		return vt_fail(err, exact ? VT_E_PARSE : VT_E_LIMIT, VT_STEP_PARSE, field, "%u bytes, %s %u", size,
			       exact ? "must be" : "at most", max);
	out->present = true;
	out->size = size;
	if (offset == 0)
		return VT_OK; /* a request: the size the answer will need */
	if (offset < VT_SE_EXCHANGE_HDR_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "offset 0x%x lies inside the header", offset);
	if (offset > n || size > n - offset)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%u bytes at offset 0x%x run past the %zu-byte file",
			       size, offset, n);
	out->data = p + offset;
	return VT_OK;
}

vt_status vt_se_exchange_parse(const uint8_t *p, size_t n, struct vt_se_exchange *out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct vt_se_exchange x;
	memset(&x, 0, sizeof(x));
	struct vt_reader r;
	vt_reader_init(&r, p, n);
	const uint8_t *magic;
	vt_status rc;
	if ((rc = vt_reader_view(&r, &magic, 8, "exchange.magic", err)) != VT_OK)
		return rc;
	if (memcmp(magic, EXCHANGE_MAGIC, 8) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.magic", "not a pvattest exchange file");
	if ((rc = vt_reader_u32be(&r, &x.version, "exchange.version", err)) != VT_OK)
		return rc;
	if (x.version != VT_SE_VERSION_1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.version",
			       "unsupported exchange format version 0x%x (want 0x100)", x.version);
	if ((rc = vt_reader_u32be(&r, &x.size, "exchange.size", err)) != VT_OK)
		return rc;
	if (x.size > VT_SE_EXCHANGE_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "exchange.size", "exchange file of %u bytes, at most %zu",
			       x.size, (size_t)VT_SE_EXCHANGE_MAX);
	if (x.size != n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.size", "the file says %u bytes, %zu present", x.size,
			       n);
	if ((rc = reserved(&r, 8, "exchange.reserved", err)) != VT_OK ||
	    (rc = entry(&r, p, n, "exchange.arcb", VT_SE_ARCB_MAX, false, &x.arcb, err)) != VT_OK ||
	    (rc = entry(&r, p, n, "exchange.measurement", 0x8000, false, &x.measurement, err)) != VT_OK ||
	    (rc = entry(&r, p, n, "exchange.additional", VT_SE_ADDITIONAL_MAX, false, &x.additional, err)) != VT_OK ||
	    (rc = entry(&r, p, n, "exchange.user_data", VT_SE_USER_DATA_MAX, false, &x.user_data, err)) != VT_OK ||
	    (rc = entry(&r, p, n, "exchange.cuid", VT_SE_CUID_SIZE, true, &x.cuid, err)) != VT_OK)
		return rc;
	/* The data follows the header; a request is the header plus its ARCB. */
	if (!x.arcb.present || x.arcb.data == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "exchange.arcb", "no attestation request in the file");
	*out = x;
	return VT_OK;
}
