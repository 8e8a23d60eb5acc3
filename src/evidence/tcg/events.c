/* TCG PC Client event types and event-data decoding, shared by the TPM
 * event log and TDX's CC event log (both the crypto-agile TCG format). */
#include <stdlib.h>
#include <string.h>

#include "evidence/tcg/events.h"
#include "veritee/util.h"

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

/* ------------------------------------------------------------ Spec ID */

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

