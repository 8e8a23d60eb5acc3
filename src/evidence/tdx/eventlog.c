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


static json_t *event_json(uint32_t mr, uint32_t type, const uint8_t digest[48], const uint8_t *data, size_t size)
{
	const char *name = vt_tcg_event_name(type);
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
