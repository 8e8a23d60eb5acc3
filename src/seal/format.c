/* Sealed-file header: encode and parse (docs/sealed-format.md, "Header"). */
#include <assert.h>
#include <string.h>

#include "veritee/kbs.h"
#include "veritee/seal.h"

static_assert(VT_SEAL_MAX_HEADER <= UINT32_MAX, "header_size is a u32 on the wire");
static_assert(VT_SEAL_MAX_URL <= UINT16_MAX && VT_SEAL_MAX_RESOURCE <= UINT16_MAX, "lengths are u16 on the wire");
static_assert(VT_SEAL_MAX_BROKERS <= 255, "broker count is a u8 on the wire");
static_assert(VT_SEAL_MAX_LOCAL_BLOB <= UINT16_MAX, "the local blob size is a u16 on the wire");
/* prefix, cipher..N (10), file_id, nonce_prefix, resource, N entries, blob */
static_assert(VT_SEAL_PREFIX_SIZE + 10 + VT_SEAL_FILE_ID_SIZE + VT_SEAL_NONCE_PREFIX_SIZE + 2 + VT_SEAL_MAX_RESOURCE +
			      VT_SEAL_MAX_BROKERS * (1 + 2 + VT_SEAL_MAX_URL + VT_SEAL_COMMIT_SIZE) + 2 +
			      VT_SEAL_MAX_LOCAL_BLOB <=
		      VT_SEAL_MAX_HEADER,
	      "the largest header fits VT_SEAL_MAX_HEADER");

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

/* The local key blob's size a kind allows (the TPM blob is parsed in
 * local_tpm.c; here only its bounds). */
static bool blob_size_ok(enum vt_seal_local kind, size_t n)
{
	switch (kind) {
	case VT_SEAL_LOCAL_TPM: return n >= 6 && n <= VT_SEAL_MAX_LOCAL_BLOB; /* at least a PCR selection */
	case VT_SEAL_LOCAL_SNP: return n == VT_SEAL_SNP_BLOB_SIZE;
	case VT_SEAL_LOCAL_SIM: return n == 0;
	default: return false;
	}
}

/* The rules of a local header (flags bit 0): one entry, local:NAME, K = N = 1. */
static vt_status check_local(const struct vt_seal_header *h, vt_status code, vt_step st, struct vt_err *err)
{
	const struct vt_seal_broker *b = &h->brokers[0];
	if (h->count != 1 || h->threshold != 1)
		return vt_fail(err, code, st, "header.count",
			       "a local key source is the only key holder (K = N = 1), not K=%u of N=%u", h->threshold,
			       h->count);
	enum vt_seal_local kind = vt_seal_local_from_url(b->url, strnlen(b->url, sizeof(b->url)));
	if (kind == VT_SEAL_LOCAL_NONE)
		return vt_fail(err, code, st, "header.brokers.url",
			       "flag 0x0001 (local key) needs one local:tpm, local:snp or local:sim entry");
	if (h->resource[0] != 0)
		return vt_fail(err, code, st, "header.resource", "must be empty with a local key source");
	if (b->index != 0)
		return vt_fail(err, code, st, "header.brokers.index", "a local key source has index 0, not %u", b->index);
	if (!blob_size_ok(kind, h->local_blob_size))
		return vt_fail(err, code, st, "header.local_blob", "%u bytes is not a local:%s key blob (docs: %s)",
			       h->local_blob_size, vt_seal_local_name(kind),
			       kind == VT_SEAL_LOCAL_TPM ? "6..4096" : kind == VT_SEAL_LOCAL_SNP ? "32" : "0");
	return VT_OK;
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
	if ((h->flags & ~VT_SEAL_FLAG_LOCAL) != 0)
		return vt_fail(err, code, st, "header.flags", "unknown flags 0x%04x", h->flags);
	if (h->chunk_size < VT_SEAL_MIN_CHUNK || h->chunk_size > VT_SEAL_MAX_CHUNK)
		return vt_fail(err, code, st, "header.chunk_size", "chunk size %u is outside %u..%u", h->chunk_size,
			       VT_SEAL_MIN_CHUNK, VT_SEAL_MAX_CHUNK);
	if (h->count < 1 || h->count > VT_SEAL_MAX_BROKERS || h->threshold < 1 || h->threshold > h->count)
		return vt_fail(err, code, st, "header.threshold", "K=%u of N=%u brokers: need 1 <= K <= N <= %u",
			       h->threshold, h->count, VT_SEAL_MAX_BROKERS);
	if (h->flags & VT_SEAL_FLAG_LOCAL)
		return check_local(h, code, st, err);
	if (h->local_blob_size != 0)
		return vt_fail(err, code, st, "header.local_blob", "a local key blob without flag 0x0001");
	for (unsigned i = 0; i < h->count; i++)
		if (vt_seal_local_from_url(h->brokers[i].url, strnlen(h->brokers[i].url, sizeof(h->brokers[i].url))) !=
		    VT_SEAL_LOCAL_NONE)
			return vt_fail(err, code, st, "header.brokers.url",
				       "broker %u: a local key source without flag 0x0001", i + 1);
	if (!vt_kbs_resource_path_valid(h->resource))
		return vt_fail(err, code, st, "header.resource", "not a REPO/TYPE/TAG resource path");
	for (unsigned i = 0; i < h->count; i++) {
		const struct vt_seal_broker *b = &h->brokers[i];
		size_t ul = strnlen(b->url, sizeof(b->url));
		if (!url_ok(b->url, ul))
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
	if (h->flags & VT_SEAL_FLAG_LOCAL)
		need += 2 + (size_t)h->local_blob_size;
	if (need > VT_SEAL_MAX_HEADER || need > cap)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_NONE, "header", "header of %zu bytes does not fit (%zu)", need,
			       cap < VT_SEAL_MAX_HEADER ? cap : (size_t)VT_SEAL_MAX_HEADER);
	uint8_t *p = out;
	memcpy(p, VT_SEAL_MAGIC, 8), p += 8;
	vt_put_le(p, h->version, 2), p += 2;
	vt_put_le(p, (uint32_t)need, 4), p += 4;
	*p++ = h->cipher;
	*p++ = h->payload;
	vt_put_le(p, h->flags, 2), p += 2;
	vt_put_le(p, h->chunk_size, 4), p += 4;
	memcpy(p, h->file_id, VT_SEAL_FILE_ID_SIZE), p += VT_SEAL_FILE_ID_SIZE;
	memcpy(p, h->nonce_prefix, VT_SEAL_NONCE_PREFIX_SIZE), p += VT_SEAL_NONCE_PREFIX_SIZE;
	*p++ = h->threshold;
	*p++ = h->count;
	vt_put_le(p, (uint16_t)rl, 2), p += 2;
	memcpy(p, h->resource, rl), p += rl;
	for (unsigned i = 0; i < h->count; i++) {
		const struct vt_seal_broker *b = &h->brokers[i];
		size_t ul = strlen(b->url);
		*p++ = b->index;
		vt_put_le(p, (uint16_t)ul, 2), p += 2;
		memcpy(p, b->url, ul), p += ul;
		memcpy(p, b->commitment, VT_SEAL_COMMIT_SIZE), p += VT_SEAL_COMMIT_SIZE;
	}
	if (h->flags & VT_SEAL_FLAG_LOCAL) {
		vt_put_le(p, h->local_blob_size, 2), p += 2;
		memcpy(p, h->local_blob, h->local_blob_size), p += h->local_blob_size;
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
	VT_GUARD(vt_reader_u16le(&r, &h.flags, "header.flags", err));
	if ((h.flags & ~VT_SEAL_FLAG_LOCAL) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.flags", "unknown flags 0x%04x", h.flags);
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
	if (!(h.flags & VT_SEAL_FLAG_LOCAL) &&
	    vt_seal_local_from_url(h.brokers[0].url, strlen(h.brokers[0].url)) != VT_SEAL_LOCAL_NONE)
		/* Before the blob's bytes are taken for trailing garbage. */
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.brokers.url",
			       "a local key source without flag 0x0001 (local key)");
	if (h.flags & VT_SEAL_FLAG_LOCAL) {
		/* The blob belongs to a local entry: say so before reading a blob
		 * a broker header does not have. */
		if (vt_seal_local_from_url(h.brokers[0].url, strlen(h.brokers[0].url)) == VT_SEAL_LOCAL_NONE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.flags",
				       "flag 0x0001 (local key) on a header whose first entry is not local:tpm/snp/sim");
		VT_GUARD(vt_reader_u16le(&r, &h.local_blob_size, "header.local_blob_size", err));
		if (h.local_blob_size > VT_SEAL_MAX_LOCAL_BLOB)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "header.local_blob_size", "%u bytes, at most %u",
				       h.local_blob_size, VT_SEAL_MAX_LOCAL_BLOB);
		VT_GUARD(vt_reader_copy(&r, h.local_blob, h.local_blob_size, "header.local_blob", err));
	}
	VT_GUARD(vt_reader_expect_end(&r, "header", err));
	VT_GUARD(check(&h, VT_E_PARSE, err));
	*out = h;
	*header_size = hs;
out:
	return rc;
}
