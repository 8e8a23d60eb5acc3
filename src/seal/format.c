/* Sealed-file header: encode and parse (docs/sealed-format.md, "Header"). */
#include <assert.h>
#include <string.h>

#include "veritee/kbs.h"
#include "veritee/seal.h"

static_assert(VT_SEAL_MAX_HEADER <= UINT32_MAX, "header_size is a u32 on the wire");
static_assert(VT_SEAL_MAX_URL <= UINT16_MAX && VT_SEAL_MAX_RESOURCE <= UINT16_MAX, "lengths are u16 on the wire");
static_assert(VT_SEAL_MAX_BROKERS <= 255, "broker count is a u8 on the wire");

/* A URL as the header may carry it: http(s)://, printable ASCII, no spaces. */
static bool url_ok(const char *u, size_t n)
{
	if (n == 0 || n > VT_SEAL_MAX_URL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (u[i] < 0x21 || u[i] > 0x7e)
			return false;
	return (n > 7 && strncmp(u, "http://", 7) == 0) || (n > 8 && strncmp(u, "https://", 8) == 0);
}

/* Every check both directions share; `field` names the first bad field. */
static vt_status check(const struct vt_seal_header *h, vt_status code, struct vt_err *err)
{
	const vt_step st = code == VT_E_PARSE ? VT_STEP_PARSE : VT_STEP_NONE;
	if (h->version != VT_SEAL_VERSION)
		return vt_fail(err, code, st, "header.version", "format version %u is not supported (this is %u)",
			       h->version, VT_SEAL_VERSION);
	if (h->cipher != VT_SEAL_CIPHER_AES256GCM)
		return vt_fail(err, code, st, "header.cipher", "cipher %u is not supported (1 = AES-256-GCM)", h->cipher);
	if (h->payload != VT_SEAL_PAYLOAD_FILE && h->payload != VT_SEAL_PAYLOAD_TAR)
		return vt_fail(err, code, st, "header.payload", "payload type %u is unknown (1 file, 2 tar)", h->payload);
	if (h->chunk_size < VT_SEAL_MIN_CHUNK || h->chunk_size > VT_SEAL_MAX_CHUNK)
		return vt_fail(err, code, st, "header.chunk_size", "chunk size %u is outside %u..%u", h->chunk_size,
			       VT_SEAL_MIN_CHUNK, VT_SEAL_MAX_CHUNK);
	if (h->count < 1 || h->count > VT_SEAL_MAX_BROKERS || h->threshold < 1 || h->threshold > h->count)
		return vt_fail(err, code, st, "header.threshold", "K=%u of N=%u brokers: need 1 <= K <= N <= %u",
			       h->threshold, h->count, VT_SEAL_MAX_BROKERS);
	if (!vt_kbs_resource_path_valid(h->resource))
		return vt_fail(err, code, st, "header.resource", "not a REPO/TYPE/TAG resource path");
	for (unsigned i = 0; i < h->count; i++) {
		const struct vt_seal_broker *b = &h->brokers[i];
		if (!url_ok(b->url, strnlen(b->url, sizeof(b->url))))
			return vt_fail(err, code, st, "header.brokers.url", "broker %u: not an http(s) URL of printable ASCII",
				       i + 1);
		/* K = 1: every broker keeps the whole key (index 0).  K >= 2:
		 * Shamir x coordinates, distinct and non-zero (x = 0 is the secret). */
		if ((h->threshold == 1) != (b->index == 0))
			return vt_fail(err, code, st, "header.brokers.index", "broker %u: share index %u with K=%u", i + 1,
				       b->index, h->threshold);
		for (unsigned j = 0; j < i && h->threshold > 1; j++)
			if (h->brokers[j].index == b->index)
				return vt_fail(err, code, st, "header.brokers.index", "brokers %u and %u share index %u",
					       j + 1, i + 1, b->index);
	}
	return VT_OK;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

vt_status vt_seal_header_encode(const struct vt_seal_header *h, uint8_t *out, size_t cap, size_t *out_size,
				struct vt_err *err)
{
	vt_status rc = check(h, VT_E_USAGE, err);
	if (rc != VT_OK)
		return rc;
	size_t rl = strlen(h->resource), need = VT_SEAL_PREFIX_SIZE + 1 + 1 + 2 + 4 + VT_SEAL_FILE_ID_SIZE +
						   VT_SEAL_NONCE_PREFIX_SIZE + 1 + 1 + 2 + rl;
	for (unsigned i = 0; i < h->count; i++)
		need += 1 + 2 + strlen(h->brokers[i].url) + VT_SEAL_COMMIT_SIZE;
	if (need > VT_SEAL_MAX_HEADER || need > cap)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "header", "header of %zu bytes does not fit (%zu)", need,
			       cap < VT_SEAL_MAX_HEADER ? cap : (size_t)VT_SEAL_MAX_HEADER);
	uint8_t *p = out;
	memcpy(p, VT_SEAL_MAGIC, 8), p += 8;
	put16(p, h->version), p += 2;
	put32(p, (uint32_t)need), p += 4;
	*p++ = h->cipher;
	*p++ = h->payload;
	put16(p, 0), p += 2; /* flags: none defined */
	put32(p, h->chunk_size), p += 4;
	memcpy(p, h->file_id, VT_SEAL_FILE_ID_SIZE), p += VT_SEAL_FILE_ID_SIZE;
	memcpy(p, h->nonce_prefix, VT_SEAL_NONCE_PREFIX_SIZE), p += VT_SEAL_NONCE_PREFIX_SIZE;
	*p++ = h->threshold;
	*p++ = h->count;
	put16(p, (uint16_t)rl), p += 2;
	memcpy(p, h->resource, rl), p += rl;
	for (unsigned i = 0; i < h->count; i++) {
		const struct vt_seal_broker *b = &h->brokers[i];
		size_t ul = strlen(b->url);
		*p++ = b->index;
		put16(p, (uint16_t)ul), p += 2;
		memcpy(p, b->url, ul), p += ul;
		memcpy(p, b->commitment, VT_SEAL_COMMIT_SIZE), p += VT_SEAL_COMMIT_SIZE;
	}
	*out_size = (size_t)(p - out);
	return VT_OK;
}

vt_status vt_seal_header_size(const uint8_t *buf, size_t size, size_t *header_size, struct vt_err *err)
{
	struct vt_reader r;
	const uint8_t *magic;
	uint16_t version;
	uint32_t hs;
	vt_status rc;
	vt_reader_init(&r, buf, size);
	VT_GUARD(vt_reader_view(&r, &magic, 8, "header.magic", err));
	/* The magic is public: memcmp is fine. */
	if (memcmp(magic, VT_SEAL_MAGIC, 8) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.magic", "not a veritee sealed file (magic)");
	VT_GUARD(vt_reader_u16le(&r, &version, "header.version", err));
	if (version != VT_SEAL_VERSION)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.version",
			       "format version %u is not supported (this is %u)", version, VT_SEAL_VERSION);
	VT_GUARD(vt_reader_u32le(&r, &hs, "header.header_size", err));
	if (hs < VT_SEAL_PREFIX_SIZE || hs > VT_SEAL_MAX_HEADER)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.header_size", "header size %u is outside %u..%u",
			       hs, VT_SEAL_PREFIX_SIZE, VT_SEAL_MAX_HEADER);
	*header_size = hs;
out:
	return rc;
}

/* A u16-length-prefixed string of at most `max` bytes into out[max + 1]. */
static vt_status read_str(struct vt_reader *r, char *out, size_t max, const char *field, struct vt_err *err)
{
	uint16_t n;
	vt_status rc = vt_reader_u16le(r, &n, field, err);
	if (rc != VT_OK)
		return rc;
	if (n > max)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%u bytes, at most %zu", n, max);
	const uint8_t *p;
	if ((rc = vt_reader_view(r, &p, n, field, err)) != VT_OK)
		return rc;
	if (memchr(p, 0, n) != NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "contains a NUL byte");
	memcpy(out, p, n);
	out[n] = 0;
	return VT_OK;
}

vt_status vt_seal_header_parse(const uint8_t *buf, size_t size, struct vt_seal_header *out, size_t *header_size,
			       struct vt_err *err)
{
	struct vt_seal_header h;
	memset(&h, 0, sizeof(h));
	struct vt_reader r;
	size_t hs = 0;
	uint16_t flags;
	vt_status rc;
	VT_GUARD(vt_seal_header_size(buf, size, &hs, err));
	if (hs > size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header", "truncated: header of %zu bytes, %zu present", hs,
			       size);
	vt_reader_init(&r, buf, hs); /* the header alone: it must be used up exactly */
	VT_GUARD(vt_reader_skip(&r, 8, "header.magic", err));
	VT_GUARD(vt_reader_u16le(&r, &h.version, "header.version", err));
	VT_GUARD(vt_reader_skip(&r, 4, "header.header_size", err));
	VT_GUARD(vt_reader_u8(&r, &h.cipher, "header.cipher", err));
	VT_GUARD(vt_reader_u8(&r, &h.payload, "header.payload", err));
	VT_GUARD(vt_reader_u16le(&r, &flags, "header.flags", err));
	if (flags != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.flags", "unknown flags 0x%04x", flags);
	VT_GUARD(vt_reader_u32le(&r, &h.chunk_size, "header.chunk_size", err));
	VT_GUARD(vt_reader_copy(&r, h.file_id, sizeof(h.file_id), "header.file_id", err));
	VT_GUARD(vt_reader_copy(&r, h.nonce_prefix, sizeof(h.nonce_prefix), "header.nonce_prefix", err));
	VT_GUARD(vt_reader_u8(&r, &h.threshold, "header.threshold", err));
	VT_GUARD(vt_reader_u8(&r, &h.count, "header.count", err));
	if (h.count < 1 || h.count > VT_SEAL_MAX_BROKERS)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.count", "%u brokers, need 1..%u", h.count,
			       VT_SEAL_MAX_BROKERS);
	VT_GUARD(read_str(&r, h.resource, VT_SEAL_MAX_RESOURCE, "header.resource", err));
	for (unsigned i = 0; i < h.count; i++) {
		struct vt_seal_broker *b = &h.brokers[i];
		VT_GUARD(vt_reader_u8(&r, &b->index, "header.brokers.index", err));
		VT_GUARD(read_str(&r, b->url, VT_SEAL_MAX_URL, "header.brokers.url", err));
		VT_GUARD(vt_reader_copy(&r, b->commitment, VT_SEAL_COMMIT_SIZE, "header.brokers.commitment", err));
	}
	VT_GUARD(vt_reader_expect_end(&r, "header", err));
	VT_GUARD(check(&h, VT_E_PARSE, err));
	*out = h;
	*header_size = hs;
out:
	return rc;
}
