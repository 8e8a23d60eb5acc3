/* TCG PC Client event types and event-data decoding (events.c). */
#ifndef VT_EVIDENCE_TCG_EVENTS_H
#define VT_EVIDENCE_TCG_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* "EV_IPL", "EV_EFI_VARIABLE_BOOT", ... or NULL for an unknown type. */
const char *vt_tcg_event_name(uint32_t type);
/* EV_EFI_VARIABLE_DRIVER_CONFIG / _BOOT / _BOOT2 / _AUTHORITY. */
bool vt_tcg_is_efi_variable(uint32_t type);
/* Events whose data is text: EV_IPL, EV_ACTION, EV_EVENT_TAG, EV_EFI_ACTION, EV_S_CRTM_VERSION,
 * EV_EFI_PLATFORM_FIRMWARE_BLOB(2) descriptions. */
bool vt_tcg_is_text_event(uint32_t type);
/* Printable ASCII, or UTF-16LE (only UTF-16LE when utf16_only); trailing NULs dropped.
 * malloc'd, or NULL when the bytes are not printable text. */
char *vt_tcg_decode_text(const uint8_t *p, size_t n, bool utf16_only);
/* Add variable_name (GUID), unicode_name and, for small values, variable_data (hex) of a
 * UEFI_VARIABLE_DATA event to `ev`.  0 on success (also when the data does not parse), -1 on OOM. */
int vt_tcg_add_variable_details(json_t *ev, const uint8_t *data, size_t size);

#endif
