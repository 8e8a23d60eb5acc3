/*
 * TDX CC event log replay.  The log is untrusted: every byte is read through
 * the bounded reader, counts and sizes are capped, and only events whose
 * digests the replay binds to an RTMR are reported.
 * Format: shared/docs/formats/tdx-sgx-dcap.md §8, tpm-quote.md §6.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "evidence/tdx/eventlog.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define EV_NO_ACTION 0x3u
#define ALG_SHA384 0x000Cu
#define SHA384_SIZE 48u
#define SPEC_ID_MAX_ALGS 16u
#define ALL_ONES 0xFFFFFFFFu

struct alg_size {
	uint16_t alg;
	uint16_t size;
};

struct spec_id {
	struct alg_size algs[SPEC_ID_MAX_ALGS];
	uint32_t count;
};

static const struct {
	uint32_t type;
	const char *name;
} EVENT_NAMES[] = {
	{0x0, "EV_PREBOOT_CERT"},
	{0x1, "EV_POST_CODE"},
	{0x2, "EV_UNUSED"},
	{0x3, "EV_NO_ACTION"},
	{0x4, "EV_SEPARATOR"},
	{0x5, "EV_ACTION"},
	{0x6, "EV_EVENT_TAG"},
	{0x7, "EV_S_CRTM_CONTENTS"},
	{0x8, "EV_S_CRTM_VERSION"},
	{0x9, "EV_CPU_MICROCODE"},
	{0xA, "EV_PLATFORM_CONFIG_FLAGS"},
	{0xB, "EV_TABLE_OF_DEVICES"},
	{0xC, "EV_COMPACT_HASH"},
	{0xD, "EV_IPL"},
	{0xE, "EV_IPL_PARTITION_DATA"},
	{0xF, "EV_NONHOST_CODE"},
	{0x10, "EV_NONHOST_CONFIG"},
	{0x11, "EV_NONHOST_INFO"},
	{0x12, "EV_OMIT_BOOT_DEVICE_EVENTS"},
	{0x80000001u, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
	{0x80000002u, "EV_EFI_VARIABLE_BOOT"},
	{0x80000003u, "EV_EFI_BOOT_SERVICES_APPLICATION"},
	{0x80000004u, "EV_EFI_BOOT_SERVICES_DRIVER"},
	{0x80000005u, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
	{0x80000006u, "EV_EFI_GPT_EVENT"},
	{0x80000007u, "EV_EFI_ACTION"},
	{0x80000008u, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
	{0x80000009u, "EV_EFI_HANDOFF_TABLES"},
	{0x8000000Au, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
	{0x8000000Bu, "EV_EFI_HANDOFF_TABLES2"},
	{0x8000000Cu, "EV_EFI_VARIABLE_BOOT2"},
	{0x80000010u, "EV_EFI_HCRTM_EVENT"},
	{0x800000E0u, "EV_EFI_VARIABLE_AUTHORITY"},
	{0x800000E1u, "EV_EFI_SPDM_FIRMWARE_BLOB"},
	{0x800000E2u, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
};

static const char *event_name(uint32_t type)
{
	for (size_t i = 0; i < sizeof(EVENT_NAMES) / sizeof(EVENT_NAMES[0]); i++)
		if (EVENT_NAMES[i].type == type)
			return EVENT_NAMES[i].name;
	return NULL;
}

static bool is_efi_variable(uint32_t type)
{
	return type == 0x80000001u || type == 0x80000002u || type == 0x8000000Cu || type == 0x800000E0u;
}

static bool is_text_event(uint32_t type)
{
	return type == 0xDu /* EV_IPL */ || type == 0x5u /* EV_ACTION */ || type == 0x80000007u /* EV_EFI_ACTION */ ||
	       type == 0x8u /* EV_S_CRTM_VERSION */ || type == 0x80000008u || type == 0x8000000Au;
}

/* ------------------------------------------------------------ Spec ID */

static vt_status parse_spec_id(struct vt_reader *r, struct spec_id *sid, struct vt_err *err)
{
	uint32_t mr, type, size, platform_class, nalgs;
	const uint8_t *data, *sig;
	uint8_t ver[4], vendor_size;
	vt_status rc;

	VT_GUARD(vt_reader_u32le(r, &mr, "ccel.spec_id.mr_index", err));
	VT_GUARD(vt_reader_u32le(r, &type, "ccel.spec_id.event_type", err));
	VT_GUARD(vt_reader_skip(r, 20, "ccel.spec_id.digest", err));
	VT_GUARD(vt_reader_u32le(r, &size, "ccel.spec_id.event_size", err));
	if (type != EV_NO_ACTION)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.event_type",
			       "first event has type 0x%x, not EV_NO_ACTION: not a crypto-agile log", type);
	if (size > VT_TDX_EVENTLOG_MAX_EVENT_SIZE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "ccel.spec_id.event_size", "Spec ID event of %u bytes",
			       size);
	VT_GUARD(vt_reader_view(r, &data, size, "ccel.spec_id.event", err));
	(void)mr; /* 0 per TCG, 1 in some CCELs: not checked */

	struct vt_reader e;
	vt_reader_init(&e, data, size);
	VT_GUARD(vt_reader_view(&e, &sig, 16, "ccel.spec_id.signature", err));
	if (memcmp(sig, "Spec ID Event03\0", 16) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.signature",
			       "first event is not a \"Spec ID Event03\" event (legacy SHA-1 logs are not supported)");
	VT_GUARD(vt_reader_u32le(&e, &platform_class, "ccel.spec_id.platform_class", err));
	VT_GUARD(vt_reader_copy(&e, ver, sizeof(ver), "ccel.spec_id.version", err));
	VT_GUARD(vt_reader_u32le(&e, &nalgs, "ccel.spec_id.number_of_algorithms", err));
	if (nalgs == 0 || nalgs > SPEC_ID_MAX_ALGS)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.number_of_algorithms",
			       "%u algorithms (1..%u expected)", nalgs, SPEC_ID_MAX_ALGS);
	bool have_sha384 = false;
	for (uint32_t i = 0; i < nalgs; i++) {
		uint16_t alg, dsize;
		VT_GUARD(vt_reader_u16le(&e, &alg, "ccel.spec_id.digest_sizes", err));
		VT_GUARD(vt_reader_u16le(&e, &dsize, "ccel.spec_id.digest_sizes", err));
		if (dsize == 0 || dsize > EVP_MAX_MD_SIZE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.digest_sizes",
				       "algorithm 0x%04x has digest size %u", alg, dsize);
		for (uint32_t j = 0; j < i; j++)
			if (sid->algs[j].alg == alg)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.digest_sizes",
					       "algorithm 0x%04x is listed twice", alg);
		if (alg == ALG_SHA384) {
			if (dsize != SHA384_SIZE)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.digest_sizes",
					       "SHA-384 listed with digest size %u", dsize);
			have_sha384 = true;
		}
		sid->algs[i].alg = alg;
		sid->algs[i].size = dsize;
	}
	sid->count = nalgs;
	VT_GUARD(vt_reader_u8(&e, &vendor_size, "ccel.spec_id.vendor_info_size", err));
	VT_GUARD(vt_reader_skip(&e, vendor_size, "ccel.spec_id.vendor_info", err));
	if (!have_sha384)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.digest_sizes",
			       "the log has no SHA-384 bank: RTMRs cannot be replayed");
	rc = VT_OK;
out:
	return rc;
}

static const struct alg_size *find_alg(const struct spec_id *sid, uint16_t alg)
{
	for (uint32_t i = 0; i < sid->count; i++)
		if (sid->algs[i].alg == alg)
			return &sid->algs[i];
	return NULL;
}

/* ------------------------------------------------------------ event JSON */

static bool printable(uint32_t c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r';
}

/* ASCII text with optional trailing NULs, or UTF-16LE text of printable
 * ASCII with optional trailing NUL characters.  malloc'd or NULL. */
static char *decode_text(const uint8_t *p, size_t n)
{
	size_t len = n;
	while (len > 0 && p[len - 1] == 0)
		len--;
	if (len == 0)
		return NULL;
	bool ascii = true;
	for (size_t i = 0; i < len && ascii; i++)
		ascii = printable(p[i]);
	if (ascii)
		return strndup((const char *)p, len);
	if (n % 2 != 0)
		return NULL;
	size_t chars = n / 2;
	while (chars > 0 && p[2 * chars - 2] == 0 && p[2 * chars - 1] == 0)
		chars--;
	if (chars == 0)
		return NULL;
	char *s = malloc(chars + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < chars; i++) {
		uint32_t c = (uint32_t)p[2 * i] | ((uint32_t)p[2 * i + 1] << 8);
		if (!printable(c)) {
			free(s);
			return NULL;
		}
		s[i] = (char)c;
	}
	s[chars] = '\0';
	return s;
}

/* UEFI_VARIABLE_DATA: GUID (mixed-endian), u64 name length (UTF-16 chars),
 * u64 data length, name, data.  Adds variable_name / unicode_name when the
 * data parses and the name is printable; otherwise adds nothing. */
static int add_variable_details(json_t *ev, const uint8_t *data, size_t size)
{
	struct vt_reader r;
	uint8_t g[16];
	uint64_t name_len, data_len;
	const uint8_t *name;
	vt_reader_init(&r, data, size);
	if (vt_reader_copy(&r, g, sizeof(g), "guid", NULL) != VT_OK ||
	    vt_reader_u64le(&r, &name_len, "name_length", NULL) != VT_OK ||
	    vt_reader_u64le(&r, &data_len, "data_length", NULL) != VT_OK || name_len > 4096 ||
	    vt_reader_view(&r, &name, (size_t)name_len * 2, "name", NULL) != VT_OK)
		return 0;
	char guid[40];
	snprintf(guid, sizeof(guid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[3],
		 g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
	if (json_object_set_new(ev, "variable_name", json_string(guid)) != 0)
		return -1;
	char *s = name_len > 0 ? decode_text(name, (size_t)name_len * 2) : NULL;
	if (s != NULL) {
		/* decode_text may have read the name as ASCII: accept only UTF-16. */
		bool utf16 = name_len < 2 || name[1] == 0;
		int rc = utf16 ? json_object_set_new(ev, "unicode_name", json_string(s)) : 0;
		free(s);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static json_t *event_json(uint32_t mr, uint32_t type, const uint8_t digest[48], const uint8_t *data, size_t size)
{
	const char *name = event_name(type);
	size_t shown = size < VT_TDX_EVENTLOG_DATA_HEX_MAX ? size : VT_TDX_EVENTLOG_DATA_HEX_MAX;
	char *dhex = vt_hex_encode(digest, 48);
	char *xhex = vt_hex_encode(data, shown);
	json_t *ev = NULL;
	if (dhex == NULL || xhex == NULL)
		goto out;
	ev = json_pack("{s:I, s:o, s:s, s:s, s:I}", "mr_index", (json_int_t)mr, "type",
		       name ? json_string(name) : json_integer((json_int_t)type), "digest", dhex, "data", xhex,
		       "data_size", (json_int_t)size);
	if (ev == NULL)
		goto out;
	if (shown < size && json_object_set_new(ev, "data_truncated", json_true()) != 0)
		goto fail;
	if (is_text_event(type) || type == 0x6u /* EV_EVENT_TAG */) {
		char *s = decode_text(data, size);
		int rc = s ? json_object_set_new(ev, "string", json_string(s)) : 0;
		free(s);
		if (rc != 0)
			goto fail;
	}
	if (is_efi_variable(type) && add_variable_details(ev, data, size) != 0)
		goto fail;
	goto out;
fail:
	json_decref(ev);
	ev = NULL;
out:
	free(dhex);
	free(xhex);
	return ev;
}

/* ------------------------------------------------------------ replay */

/* True when the next 4 bytes (or what is left of them) are all 0xFF. */
static bool at_padding(const struct vt_reader *r)
{
	struct vt_reader p = *r;
	size_t n = vt_reader_remaining(&p) < 4 ? vt_reader_remaining(&p) : 4;
	const uint8_t *b;
	if (vt_reader_view(&p, &b, n, "peek", NULL) != VT_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0xFF)
			return false;
	return true;
}

static vt_status replay(const uint8_t *log, size_t size, uint8_t rtmr[4][48], json_t **events_out, bool *has_mr4,
			struct vt_err *err)
{
	struct vt_reader r;
	struct spec_id sid;
	json_t *events = NULL;
	vt_status rc;
	uint32_t count = 0;

	memset(rtmr, 0, 4 * 48);
	*has_mr4 = false;
	if (log == NULL || size == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel", "empty event log");
	if (events_out != NULL) {
		events = json_array();
		if (events == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	vt_reader_init(&r, log, size);
	memset(&sid, 0, sizeof(sid));
	VT_GUARD(parse_spec_id(&r, &sid, err));

	while (vt_reader_remaining(&r) > 0 && !at_padding(&r)) {
		uint32_t mr, type, ndig, esize;
		const uint8_t *sha384 = NULL, *data;
		bool unknown_alg = false;
		size_t start = r.off;

		if (count >= VT_TDX_EVENTLOG_MAX_EVENTS) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "ccel", "more than %u events",
				     VT_TDX_EVENTLOG_MAX_EVENTS);
			goto out;
		}
		VT_GUARD(vt_reader_u32le(&r, &mr, "ccel.event.mr_index", err));
		VT_GUARD(vt_reader_u32le(&r, &type, "ccel.event.event_type", err));
		VT_GUARD(vt_reader_u32le(&r, &ndig, "ccel.event.digest_count", err));
		if (ndig > sid.count) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.event.digest_count",
				     "event %u at offset %zu has %u digests, the log has %u banks", count + 1, start,
				     ndig, sid.count);
			goto out;
		}
		for (uint32_t i = 0; i < ndig; i++) {
			uint16_t alg;
			const uint8_t *d;
			VT_GUARD(vt_reader_u16le(&r, &alg, "ccel.event.digest.alg", err));
			const struct alg_size *as = find_alg(&sid, alg);
			if (as == NULL) {
				unknown_alg = true; /* end of the log (garbage after it) */
				break;
			}
			VT_GUARD(vt_reader_view(&r, &d, as->size, "ccel.event.digest", err));
			if (alg == ALG_SHA384) {
				if (sha384 != NULL) {
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.event.digest",
						     "event %u at offset %zu has two SHA-384 digests", count + 1,
						     start);
					goto out;
				}
				sha384 = d;
			}
		}
		if (unknown_alg)
			break;
		VT_GUARD(vt_reader_u32le(&r, &esize, "ccel.event.event_size", err));
		if (esize > VT_TDX_EVENTLOG_MAX_EVENT_SIZE) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "ccel.event.event_size",
				     "event %u at offset %zu has %u bytes of data (at most %zu)", count + 1, start,
				     esize, VT_TDX_EVENTLOG_MAX_EVENT_SIZE);
			goto out;
		}
		VT_GUARD(vt_reader_view(&r, &data, esize, "ccel.event.event", err));
		count++;

		if (type == EV_NO_ACTION)
			continue;
		if (mr > 4) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.event.mr_index",
				     "event %u at offset %zu has MR index %u (0..4 expected)", count, start, mr);
			goto out;
		}
		if (mr == 0)
			continue; /* MRTD: built by the TDX module, not replayed */
		if (sha384 == NULL) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.event.digest",
				     "event %u at offset %zu has no SHA-384 digest", count, start);
			goto out;
		}
		uint8_t buf[96];
		size_t out_size = 0;
		uint8_t md[EVP_MAX_MD_SIZE];
		memcpy(buf, rtmr[mr - 1], 48);
		memcpy(buf + 48, sha384, 48);
		VT_GUARD(vt_digest(EVP_sha384(), buf, sizeof(buf), md, &out_size, err));
		memcpy(rtmr[mr - 1], md, 48);
		if (mr == 4)
			*has_mr4 = true;
		if (events != NULL) {
			json_t *ev = event_json(mr, type, sha384, data, esize);
			if (ev == NULL || json_array_append_new(events, ev) != 0) {
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
				goto out;
			}
		}
	}
	if (events_out != NULL) {
		*events_out = events;
		events = NULL;
	}
	rc = VT_OK;
out:
	json_decref(events);
	return rc;
}

vt_status vt_tdx_eventlog_replay(const uint8_t *log, size_t size, uint8_t rtmr_out[4][48], json_t **events_out,
				 struct vt_err *err)
{
	bool has_mr4;
	if (rtmr_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	return replay(log, size, rtmr_out, events_out, &has_mr4, err);
}

vt_status vt_tdx_eventlog_check(const uint8_t *log, size_t size, const uint8_t rtmr_quote[4][48],
				json_t **events_out, struct vt_err *err)
{
	uint8_t rtmr[4][48];
	bool has_mr4;
	json_t *events = NULL;
	if (rtmr_quote == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	vt_status rc = replay(log, size, rtmr, events_out ? &events : NULL, &has_mr4, err);
	if (rc != VT_OK)
		return rc;
	for (int i = 0; i < (has_mr4 ? 4 : 3); i++) {
		if (memcmp(rtmr[i], rtmr_quote[i], 48) != 0) {
			char *got = vt_hex_encode(rtmr[i], 48);
			char *want = vt_hex_encode(rtmr_quote[i], 48);
			char field[24]; /* "rtmr_" + any int */
			snprintf(field, sizeof(field), "rtmr_%d", i);
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, field,
				     "the CC event log replays RTMR%d to %s, the quote has %s", i, got ? got : "?",
				     want ? want : "?");
			free(got);
			free(want);
			json_decref(events);
			return rc;
		}
	}
	if (events_out != NULL)
		*events_out = events;
	return VT_OK;
}
