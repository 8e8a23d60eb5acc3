/* TCG PC Client crypto-agile event logs: the Spec ID event, event types,
 * event-data decoding and event JSON, shared by the TPM event log and TDX's
 * CC event log.  Every byte of a log is read through the bounded reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "evidence/tcg/events.h"
#include "veritee/crypto.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

#define EV_NO_ACTION 0x3u

/* ------------------------------------------------------------ Spec ID */

struct spec_id_fields {
	const char *index, *event_type, *digest, *event_size, *event, *signature, *platform_class, *version,
		*number_of_algorithms, *digest_sizes, *vendor_info_size, *vendor_info;
};

/* The error fields of one log: "<log>.spec_id.<name>". */
#define SPEC_ID_FIELDS(log, index_name)                                      \
	{                                                                    \
		.index = log ".spec_id." index_name,                         \
		.event_type = log ".spec_id.event_type",                     \
		.digest = log ".spec_id.digest",                             \
		.event_size = log ".spec_id.event_size",                     \
		.event = log ".spec_id.event",                               \
		.signature = log ".spec_id.signature",                       \
		.platform_class = log ".spec_id.platform_class",             \
		.version = log ".spec_id.version",                           \
		.number_of_algorithms = log ".spec_id.number_of_algorithms", \
		.digest_sizes = log ".spec_id.digest_sizes",                 \
		.vendor_info_size = log ".spec_id.vendor_info_size",         \
		.vendor_info = log ".spec_id.vendor_info",                   \
	}

static const struct spec_id_fields SPEC_ID_FIELDS_OF[] = {
	[VT_TCG_LOG_TPM] = SPEC_ID_FIELDS("event_log", "pcr_index"),
	[VT_TCG_LOG_CCEL] = SPEC_ID_FIELDS("ccel", "mr_index"),
};

vt_status vt_tcg_spec_id_parse(struct vt_reader *r, enum vt_tcg_log log, size_t max_event_size,
			       struct vt_tcg_spec_id *out, struct vt_err *err)
{
	uint32_t index, type, size, platform_class, nalgs;
	const uint8_t *data, *sig;
	uint8_t ver[4], vendor_size;
	struct vt_reader e;
	vt_status rc;

	if ((unsigned)log >= sizeof(SPEC_ID_FIELDS_OF) / sizeof(SPEC_ID_FIELDS_OF[0]) || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "bad argument");
	const struct spec_id_fields *f = &SPEC_ID_FIELDS_OF[log];
	memset(out, 0, sizeof(*out));

	/* The legacy (SHA-1 format) event header. */
	VT_GUARD(vt_reader_u32le(r, &index, f->index, err));
	VT_GUARD(vt_reader_u32le(r, &type, f->event_type, err));
	VT_GUARD(vt_reader_skip(r, 20, f->digest, err));
	VT_GUARD(vt_reader_u32le(r, &size, f->event_size, err));
	if (type != EV_NO_ACTION)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->event_type,
			       "first event has type 0x%x, not EV_NO_ACTION: not a crypto-agile log", type);
	/* CCELs put it in MR index 0 (TCG) or 1 (some firmware): not checked there. */
	if (log == VT_TCG_LOG_TPM && index != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->index, "Spec ID event has PCR index %u, not 0", index);
	if (size > max_event_size)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, f->event_size, "Spec ID event of %u bytes", size);
	VT_GUARD(vt_reader_view(r, &data, size, f->event, err));

	/* TCG_EfiSpecIDEvent, inside the event's data. */
	vt_reader_init(&e, data, size);
	VT_GUARD(vt_reader_view(&e, &sig, 16, f->signature, err));
	if (memcmp(sig, "Spec ID Event03\0", 16) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->signature,
			       "first event is not a \"Spec ID Event03\" event (legacy SHA-1-only logs are not supported)");
	VT_GUARD(vt_reader_u32le(&e, &platform_class, f->platform_class, err));
	VT_GUARD(vt_reader_copy(&e, ver, sizeof(ver), f->version, err));
	VT_GUARD(vt_reader_u32le(&e, &nalgs, f->number_of_algorithms, err));
	if (nalgs == 0 || nalgs > VT_TCG_SPEC_ID_MAX_ALGS)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->number_of_algorithms, "%u algorithms (1..%u expected)",
			       nalgs, VT_TCG_SPEC_ID_MAX_ALGS);
	for (uint32_t i = 0; i < nalgs; i++) {
		uint16_t alg, dsize;
		VT_GUARD(vt_reader_u16le(&e, &alg, f->digest_sizes, err));
		VT_GUARD(vt_reader_u16le(&e, &dsize, f->digest_sizes, err));
		if (dsize == 0 || dsize > EVP_MAX_MD_SIZE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->digest_sizes,
				       "algorithm 0x%04x has digest size %u", alg, dsize);
		const EVP_MD *md = vt_tpm_alg_md(alg);
		if (md != NULL && (size_t)EVP_MD_get_size(md) != dsize)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->digest_sizes,
				       "algorithm 0x%04x (%s) listed with digest size %u", alg, vt_tpm_alg_name(alg),
				       dsize);
		if (vt_tcg_spec_id_find(out, alg) != NULL)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f->digest_sizes, "algorithm 0x%04x is listed twice",
				       alg);
		out->algs[i].alg = alg;
		out->algs[i].size = dsize;
		out->count = i + 1;
	}
	VT_GUARD(vt_reader_u8(&e, &vendor_size, f->vendor_info_size, err));
	VT_GUARD(vt_reader_skip(&e, vendor_size, f->vendor_info, err));
	rc = VT_OK;
out:
	return rc;
}

const struct vt_tcg_alg_size *vt_tcg_spec_id_find(const struct vt_tcg_spec_id *sid, uint16_t alg)
{
	for (uint32_t i = 0; i < sid->count; i++)
		if (sid->algs[i].alg == alg)
			return &sid->algs[i];
	return NULL;
}

vt_status vt_tcg_extend(const EVP_MD *md, uint8_t *reg, const uint8_t *digest, size_t size, struct vt_err *err)
{
	uint8_t buf[2 * EVP_MAX_MD_SIZE], out[EVP_MAX_MD_SIZE];
	size_t out_size = 0;
	if (md == NULL || size == 0 || size > EVP_MAX_MD_SIZE || (size_t)EVP_MD_get_size(md) != size)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "digest size %zu does not fit the hash", size);
	memcpy(buf, reg, size);
	memcpy(buf + size, digest, size);
	vt_status rc = vt_digest(md, buf, 2 * size, out, &out_size, err);
	if (rc == VT_OK)
		memcpy(reg, out, size);
	return rc;
}

bool vt_tcg_at_padding(const struct vt_reader *r)
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

/* ------------------------------------------------------------ event types */

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

const char *vt_tcg_event_name(uint32_t type)
{
	for (size_t i = 0; i < sizeof(EVENT_NAMES) / sizeof(EVENT_NAMES[0]); i++)
		if (EVENT_NAMES[i].type == type)
			return EVENT_NAMES[i].name;
	return NULL;
}

bool vt_tcg_is_efi_variable(uint32_t type)
{
	return type == 0x80000001u || type == 0x80000002u || type == 0x8000000Cu || type == 0x800000E0u;
}

bool vt_tcg_is_text_event(uint32_t type)
{
	return type == 0xDu /* EV_IPL */ || type == 0x5u /* EV_ACTION */ || type == 0x6u /* EV_EVENT_TAG */ ||
	       type == 0x80000007u /* EV_EFI_ACTION */ || type == 0x8u /* EV_S_CRTM_VERSION */ || type == 0x80000008u ||
	       type == 0x8000000Au;
}

/* ------------------------------------------------------------ event data */

static bool printable(uint32_t c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r';
}

/* ASCII text (trailing NULs dropped), or UTF-16LE of printable ASCII. */
char *vt_tcg_decode_text(const uint8_t *p, size_t n, bool utf16_only)
{
	size_t len = n;
	while (len > 0 && p[len - 1] == 0)
		len--;
	if (len == 0)
		return NULL;
	bool ascii = !utf16_only;
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

/* UEFI_VARIABLE_DATA: GUID, u64 name length (UTF-16 chars), u64 data length,
 * name, data.  Adds variable_name / unicode_name / variable_data (hex, for
 * small values) when it parses; otherwise nothing.  -1 on OOM. */
int vt_tcg_add_variable_details(json_t *ev, const uint8_t *data, size_t size)
{
	struct vt_reader r;
	uint8_t g[16];
	uint64_t name_len, data_len;
	const uint8_t *name, *value;
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
	char *s = name_len > 0 ? vt_tcg_decode_text(name, (size_t)name_len * 2, true) : NULL;
	if (s != NULL) {
		int rc = json_object_set_new(ev, "unicode_name", json_string(s));
		free(s);
		if (rc != 0)
			return -1;
	}
	if (data_len <= 64 && vt_reader_view(&r, &value, (size_t)data_len, "data", NULL) == VT_OK) {
		char *h = vt_hex_encode(value, (size_t)data_len);
		if (h == NULL || json_object_set_new(ev, "variable_data", json_string(h)) != 0) {
			free(h);
			return -1;
		}
		free(h);
	}
	return 0;
}


json_t *vt_tcg_event_json(const char *index_key, uint32_t index, uint32_t type, const uint8_t *digest,
			  size_t digest_size, const uint8_t *data, size_t size, size_t data_hex_max)
{
	const char *name = vt_tcg_event_name(type);
	size_t shown = size < data_hex_max ? size : data_hex_max;
	char *dhex = vt_hex_encode(digest, digest_size);
	char *xhex = vt_hex_encode(data, shown);
	json_t *ev = NULL;
	if (dhex == NULL || xhex == NULL)
		goto out;
	ev = json_pack("{s:I, s:o, s:s, s:s, s:I}", index_key, (json_int_t)index, "type",
		       name ? json_string(name) : json_integer((json_int_t)type), "digest", dhex, "data", xhex,
		       "data_size", (json_int_t)size);
	if (ev == NULL)
		goto out;
	if (shown < size && json_object_set_new(ev, "data_truncated", json_true()) != 0)
		goto fail;
	if (vt_tcg_is_text_event(type)) {
		char *s = vt_tcg_decode_text(data, size, false);
		int rc = s ? json_object_set_new(ev, "string", json_string(s)) : 0;
		free(s);
		if (rc != 0)
			goto fail;
	}
	if (vt_tcg_is_efi_variable(type) && vt_tcg_add_variable_details(ev, data, size) != 0)
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
