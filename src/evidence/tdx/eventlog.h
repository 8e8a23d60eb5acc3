/*
 * TDX CC event log (CCEL), private to the DCAP verifier: replay of the TCG
 * crypto-agile log the firmware keeps for RTMR0..3, and the comparison with
 * the RTMRs of a verified quote.
 * Format: shared/docs/formats/tdx-sgx-dcap.md §8, tpm-quote.md §6.
 */
#ifndef VT_TDX_EVENTLOG_H
#define VT_TDX_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"

#define VT_TDX_EVENTLOG_MAX_EVENTS 100000u            /* events after the Spec ID event */
#define VT_TDX_EVENTLOG_MAX_EVENT_SIZE ((size_t)4 << 20) /* event data bytes of one event */
#define VT_TDX_EVENTLOG_DATA_HEX_MAX 1024u             /* event data bytes shown in events_out */

/*
 * Replay a CC event log: the first record is the legacy-format Spec ID event
 * ("Spec ID Event03", must list SHA-384 with 48-byte digests), then
 * TCG_PCR_EVENT2 records.  Reading stops at the end of the buffer, at 0xFF
 * padding, or at a digest whose algorithm the Spec ID event does not list.
 * EV_NO_ACTION events are skipped; MR index 1..4 extends RTMR[index-1] with
 * the event's SHA-384 digest; MR index 0 (MRTD) is not replayed; any other
 * index is a parse error.
 *
 * rtmr_out: the four replayed RTMRs (start: 48 zero bytes).
 * events_out (may be NULL): new reference to a JSON array of the replayed
 * events only (nothing unbound by the replay is reported), each
 *   {"mr_index": n, "type": "EV_..." | number, "digest": hex SHA-384,
 *    "data": hex (first 1 KiB), "data_size": n,
 *    optional "string" (EV_IPL / EV_*ACTION / EV_EVENT_TAG text when printable),
 *    optional "variable_name" (GUID) and "unicode_name" (EV_EFI_VARIABLE_*)}.
 * Errors: VT_E_PARSE step parse (malformed), VT_E_LIMIT (caps above).
 */
vt_status vt_tdx_eventlog_replay(const uint8_t *log, size_t size, uint8_t rtmr_out[4][48], json_t **events_out,
				 struct vt_err *err);

/*
 * Replay and compare with the quote's RTMRs: RTMR0..2 always, RTMR3 only
 * when the log holds MR index 4 events.  A mismatch is VT_E_REJECTED, step
 * binding, field "rtmr_N", with both values in hex.  events_out as above
 * (set only on success).
 */
vt_status vt_tdx_eventlog_check(const uint8_t *log, size_t size, const uint8_t rtmr_quote[4][48],
				json_t **events_out, struct vt_err *err);

#endif
