/*
 * TCG PC Client crypto-agile event logs, the parts shared by the TPM event
 * log (src/evidence/tpm/eventlog.c) and TDX's CC event log
 * (src/evidence/tdx/eventlog.c): the Spec ID event that opens both, the
 * event type table, event-data decoding and the JSON of one event (events.c).
 * Format: shared/docs/formats/tpm-quote.md §6, tdx-sgx-dcap.md §8.
 */
#ifndef VT_EVIDENCE_TCG_EVENTS_H
#define VT_EVIDENCE_TCG_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"
#include "veritee/util.h"

#define VT_TCG_SPEC_ID_MAX_ALGS 16u /* digest algorithms one Spec ID event may list */

/* Which log a Spec ID event opens.  It names the error fields and sets the
 * rule for the event's index. */
enum vt_tcg_log {
	VT_TCG_LOG_TPM,  /* TPM event log: fields "event_log.spec_id.*"; the event is in PCR 0 */
	VT_TCG_LOG_CCEL, /* CC event log: fields "ccel.spec_id.*"; MR index 0 (TCG) or 1 (some CCELs) */
};

struct vt_tcg_alg_size {
	uint16_t alg;  /* TPM_ALG_ID */
	uint16_t size; /* digest bytes, 1..EVP_MAX_MD_SIZE */
};

/* The digest algorithms of a log, in the order of its Spec ID event. */
struct vt_tcg_spec_id {
	struct vt_tcg_alg_size algs[VT_TCG_SPEC_ID_MAX_ALGS];
	uint32_t count; /* 1..VT_TCG_SPEC_ID_MAX_ALGS */
};

/*
 * Read the Spec ID event at r's position (TCG PC Client Platform Firmware
 * Profile §10.4.5.1): a legacy TCG_PCClientPCREvent (index u32, type u32 =
 * EV_NO_ACTION, 20-byte SHA-1 digest, size u32, at most max_event_size)
 * whose data is a TCG_EfiSpecIDEvent: "Spec ID Event03\0", platform class
 * u32, spec version minor/major/errata and uintn size (1 byte each), number
 * of algorithms u32 (1..VT_TCG_SPEC_ID_MAX_ALGS), {alg u16, digest size u16}
 * each, vendor info (u8 size, bytes).  All little-endian.  An algorithm may
 * be listed once; a digest size is 1..EVP_MAX_MD_SIZE, and exactly the
 * digest's size for SHA-1/256/384/512.  Bytes after the vendor info, inside
 * the event, are ignored.
 *
 * On success r is past the event and *out is filled; on failure r is
 * somewhere inside the event and *out is partly written.  The caller checks
 * that the log has the bank it replays.
 * Errors: VT_E_PARSE step parse (malformed or truncated), VT_E_LIMIT (event
 * size), field "<log>.spec_id.<name>" as in enum vt_tcg_log.
 */
VT_MUST_USE vt_status vt_tcg_spec_id_parse(struct vt_reader *r, enum vt_tcg_log log, size_t max_event_size,
					   struct vt_tcg_spec_id *out, struct vt_err *err);

/* The entry of `alg` in sid, or NULL when the Spec ID event does not list it.
 * Points into sid. */
const struct vt_tcg_alg_size *vt_tcg_spec_id_find(const struct vt_tcg_spec_id *sid, uint16_t alg);

/* Extend a PCR or RTMR: reg = md(reg || digest), both `size` bytes, the
 * digest size of md.  Errors: VT_E_USAGE (size), VT_E_CRYPTO. */
VT_MUST_USE vt_status vt_tcg_extend(const EVP_MD *md, uint8_t *reg, const uint8_t *digest, size_t size,
				    struct vt_err *err);

/* True when the next 4 bytes (or what is left of them) are all 0xFF: the
 * padding after the last event.  Does not move r. */
bool vt_tcg_at_padding(const struct vt_reader *r);

/*
 * New JSON object for one replayed event:
 *   {index_key: index, "type": "EV_..." | number, "digest": hex,
 *    "data": hex of the first data_hex_max bytes, "data_size": n,
 *    optional "data_truncated": true, "string" (text events, when printable),
 *    "variable_name" / "unicode_name" / "variable_data" (EV_EFI_VARIABLE_*)}.
 * NULL when out of memory.
 */
json_t *vt_tcg_event_json(const char *index_key, uint32_t index, uint32_t type, const uint8_t *digest,
			  size_t digest_size, const uint8_t *data, size_t size, size_t data_hex_max);

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
