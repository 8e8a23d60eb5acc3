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

#include "evidence/tcg/events.h"
#include "evidence/tdx/eventlog.h"
#include "veritee/util.h"

#define EV_NO_ACTION 0x3u
#define ALG_SHA384 0x000Cu
#define SHA384_SIZE 48u

/* ------------------------------------------------------------ replay */

static vt_status replay(const uint8_t *log, size_t size, uint8_t rtmr[4][48], json_t **events_out, bool *has_mr4,
			struct vt_err *err)
{
	struct vt_reader r;
	struct vt_tcg_spec_id sid;
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
	VT_GUARD(vt_tcg_spec_id_parse(&r, VT_TCG_LOG_CCEL, VT_TDX_EVENTLOG_MAX_EVENT_SIZE, &sid, err));
	/* The Spec ID parser holds a listed SHA-384 to 48-byte digests. */
	if (vt_tcg_spec_id_find(&sid, ALG_SHA384) == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ccel.spec_id.digest_sizes",
			     "the log has no SHA-384 bank: RTMRs cannot be replayed");
		goto out;
	}

	while (vt_reader_remaining(&r) > 0 && !vt_tcg_at_padding(&r)) {
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
			const struct vt_tcg_alg_size *as = vt_tcg_spec_id_find(&sid, alg);
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
		VT_GUARD(vt_tcg_extend(EVP_sha384(), rtmr[mr - 1], sha384, SHA384_SIZE, err));
		if (mr == 4)
			*has_mr4 = true;
		if (events != NULL) {
			json_t *ev = vt_tcg_event_json("mr_index", mr, type, sha384, SHA384_SIZE, data, esize,
						       VT_TDX_EVENTLOG_DATA_HEX_MAX);
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
