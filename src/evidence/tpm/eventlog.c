/*
 * TCG PC Client crypto-agile event log: replay of one PCR bank, comparison
 * with quoted PCRs, events as claims with digest self-checks.  The log is
 * untrusted: every byte goes through the bounded reader, counts and sizes
 * are capped, and only events the replay binds to a PCR are reported.
 * Format and rules: shared/docs/formats/tpm-quote.md §6.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "veritee/crypto.h"
#include "evidence/tcg/events.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

#define EV_NO_ACTION 0x3u
#define EV_SEPARATOR 0x4u
#define EV_S_CRTM_VERSION 0x8u
#define EV_IPL 0xDu
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_GPT_EVENT 0x80000006u
#define EV_EFI_HCRTM_EVENT 0x80000010u

/* ------------------------------------------------------------ event JSON */

static bool digest_is(const EVP_MD *md, const uint8_t *want, const uint8_t *p, size_t n)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	size_t dl = 0;
	if (vt_digest(md, p, n, d, &dl, NULL) != VT_OK)
		return false;
	return memcmp(d, want, dl) == 0;
}

/* §6.5: 1 = match, 0 = mismatch, -1 = not recomputable from the log. */
static int self_check(const EVP_MD *md, uint32_t pcr, uint32_t type, const uint8_t *digest, const uint8_t *data,
		      size_t size)
{
	switch (type) {
	case EV_S_CRTM_VERSION:
	case EV_SEPARATOR:
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_GPT_EVENT:
		return digest_is(md, digest, data, size);
	case EV_IPL:
		if (pcr == 12)
			return digest_is(md, digest, data, size);
		if (pcr == 8) {
			const uint8_t *sp = memchr(data, ' ', size);
			if (sp == NULL)
				return digest_is(md, digest, data, size);
			size_t rest = size - (size_t)(sp + 1 - data);
			if (digest_is(md, digest, sp + 1, rest))
				return 1;
			return rest > 0 && sp[rest] == 0 && digest_is(md, digest, sp + 1, rest - 1);
		}
		return -1;
	default: return -1;
	}
}

static json_t *event_json(const EVP_MD *md, size_t dsize, uint32_t pcr, uint32_t type, const uint8_t *digest,
			  const uint8_t *data, size_t size)
{
	json_t *ev = vt_tcg_event_json("pcr", pcr, type, digest, dsize, data, size, VT_TCG_EVENTLOG_DATA_HEX_MAX);
	if (ev == NULL)
		return NULL;
	int chk = self_check(md, pcr, type, digest, data, size);
	if (chk >= 0 && json_object_set_new(ev, "digest_check", json_string(chk ? "match" : "mismatch")) != 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* ------------------------------------------------------------ replay */

static vt_status replay(const uint8_t *log, size_t size, uint16_t bank_alg,
			uint8_t pcr[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST], uint32_t *touched, json_t **events_out,
			struct vt_err *err)
{
	struct vt_reader r;
	struct vt_tcg_spec_id sid;
	json_t *events = NULL;
	vt_status rc;
	uint32_t count = 0, extended = 0;
	bool locality_seen = false, hcrtm_seen = false;

	memset(pcr, 0, (size_t)VT_TPM_NUM_PCRS * VT_TPM_MAX_DIGEST);
	*touched = 0;
	const EVP_MD *md = vt_tpm_alg_md(bank_alg);
	if (md == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "bank_alg", "unsupported bank 0x%04x", bank_alg);
	size_t dsize = (size_t)EVP_MD_get_size(md);
	if (log == NULL || size == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log", "empty event log");
	if (events_out != NULL) {
		events = json_array();
		if (events == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	vt_reader_init(&r, log, size);
	VT_GUARD(vt_tcg_spec_id_parse(&r, VT_TCG_LOG_TPM, VT_TCG_EVENTLOG_MAX_EVENT_SIZE, &sid, err));
	if (vt_tcg_spec_id_find(&sid, bank_alg) == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.spec_id.digest_sizes",
			     "the log has no %s bank", vt_tpm_alg_name(bank_alg));
		goto out;
	}

	while (vt_reader_remaining(&r) > 0 && !vt_tcg_at_padding(&r)) {
		uint32_t idx, type, ndig, esize;
		const uint8_t *bank_digest = NULL, *data;
		size_t start = r.off;

		if (count >= VT_TCG_EVENTLOG_MAX_EVENTS) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "event_log", "more than %u events",
				     VT_TCG_EVENTLOG_MAX_EVENTS);
			goto out;
		}
		VT_GUARD(vt_reader_u32le(&r, &idx, "event_log.event.pcr_index", err));
		VT_GUARD(vt_reader_u32le(&r, &type, "event_log.event.event_type", err));
		VT_GUARD(vt_reader_u32le(&r, &ndig, "event_log.event.digest_count", err));
		if (idx >= VT_TPM_NUM_PCRS) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.event.pcr_index",
				     "event %u at offset %zu has PCR index %u (0..23 expected)", count + 1, start, idx);
			goto out;
		}
		if (ndig > sid.count) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.event.digest_count",
				     "event %u at offset %zu has %u digests, the log has %u banks", count + 1, start,
				     ndig, sid.count);
			goto out;
		}
		uint16_t seen[VT_TCG_SPEC_ID_MAX_ALGS];
		for (uint32_t i = 0; i < ndig; i++) {
			uint16_t alg;
			const uint8_t *d;
			VT_GUARD(vt_reader_u16le(&r, &alg, "event_log.event.digest.alg", err));
			const struct vt_tcg_alg_size *as = vt_tcg_spec_id_find(&sid, alg);
			if (as == NULL) {
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.event.digest.alg",
					     "event %u at offset %zu has a digest of algorithm 0x%04x, not in the Spec ID event",
					     count + 1, start, alg);
				goto out;
			}
			for (uint32_t j = 0; j < i; j++) {
				if (seen[j] == alg) {
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.event.digest.alg",
						     "event %u at offset %zu lists algorithm 0x%04x twice", count + 1,
						     start, alg);
					goto out;
				}
			}
			seen[i] = alg;
			VT_GUARD(vt_reader_view(&r, &d, as->size, "event_log.event.digest", err));
			if (alg == bank_alg)
				bank_digest = d;
		}
		VT_GUARD(vt_reader_u32le(&r, &esize, "event_log.event.event_size", err));
		if (esize > VT_TCG_EVENTLOG_MAX_EVENT_SIZE) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "event_log.event.event_size",
				     "event %u at offset %zu has %u bytes of data (at most %zu)", count + 1, start,
				     esize, VT_TCG_EVENTLOG_MAX_EVENT_SIZE);
			goto out;
		}
		VT_GUARD(vt_reader_view(&r, &data, esize, "event_log.event.event", err));
		count++;

		if (type == EV_NO_ACTION) {
			if (idx == 0 && esize >= 17 && memcmp(data, "StartupLocality\0", 16) == 0) {
				if (locality_seen || hcrtm_seen || (extended & 1u)) {
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.event",
						     "event %u at offset %zu: StartupLocality after PCR 0 was set",
						     count, start);
					goto out;
				}
				memset(pcr[0], 0, VT_TPM_MAX_DIGEST);
				pcr[0][dsize - 1] = data[16];
				locality_seen = true;
				*touched |= 1u;
			}
			continue;
		}
		if (bank_digest == NULL) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "event_log.event.digest",
				     "event %u at offset %zu has no %s digest", count, start, vt_tpm_alg_name(bank_alg));
			goto out;
		}
		if (type == EV_EFI_HCRTM_EVENT && idx == 0 && !hcrtm_seen && !locality_seen && !(extended & 1u)) {
			memset(pcr[0], 0, VT_TPM_MAX_DIGEST);
			pcr[0][dsize - 1] = 0x04;
			hcrtm_seen = true;
		}
		VT_GUARD(vt_tcg_extend(md, pcr[idx], bank_digest, dsize, err));
		extended |= 1u << idx;
		*touched |= 1u << idx;
		if (events != NULL) {
			json_t *ev = event_json(md, dsize, idx, type, bank_digest, data, esize);
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

vt_status vt_tcg_eventlog_replay(const uint8_t *log, size_t size, uint16_t bank_alg,
				 uint8_t pcrs_out[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST], json_t **events_out,
				 struct vt_err *err)
{
	uint32_t touched;
	if (pcrs_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	return replay(log, size, bank_alg, pcrs_out, &touched, events_out, err);
}

vt_status vt_tcg_eventlog_check(const uint8_t *log, size_t size, uint16_t bank_alg,
				const uint8_t quoted_pcrs[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST], uint32_t selection,
				json_t **events_out, struct vt_err *err)
{
	uint8_t pcr[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST];
	uint32_t touched;
	json_t *events = NULL;
	if (quoted_pcrs == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	vt_status rc = replay(log, size, bank_alg, pcr, &touched, events_out ? &events : NULL, err);
	if (rc != VT_OK)
		return rc;
	size_t dsize = (size_t)EVP_MD_get_size(vt_tpm_alg_md(bank_alg));
	for (unsigned i = 0; i < VT_TPM_NUM_PCRS; i++) {
		if (!(selection & touched & (1u << i)))
			continue;
		if (memcmp(pcr[i], quoted_pcrs[i], dsize) == 0)
			continue;
		char *got = vt_hex_encode(pcr[i], dsize);
		char *want = vt_hex_encode(quoted_pcrs[i], dsize);
		char field[16];
		snprintf(field, sizeof(field), "pcr%u", i);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, field,
			     "the event log replays PCR%u to %s, the quote has %s", i, got ? got : "?",
			     want ? want : "?");
		free(got);
		free(want);
		json_decref(events);
		return rc;
	}
	if (events_out != NULL)
		*events_out = events;
	return VT_OK;
}

/* ------------------------------------------------------------ summary */

static int push_entry(json_t *arr, const json_t *ev, bool with_string)
{
	json_t *o = json_pack("{s:O, s:O}", "pcr", json_object_get(ev, "pcr"), "digest", json_object_get(ev, "digest"));
	if (o == NULL)
		return -1;
	json_t *s = json_object_get(ev, "string"), *c = json_object_get(ev, "digest_check");
	if ((with_string && s != NULL && json_object_set(o, "string", s) != 0) ||
	    (c != NULL && json_object_set(o, "digest_check", c) != 0) || json_array_append_new(arr, o) != 0) {
		json_decref(o);
		return -1;
	}
	return 0;
}

static const char *str_or_empty(const json_t *v)
{
	const char *s = json_string_value(v);
	return s ? s : "";
}

json_t *vt_tcg_eventlog_summary(const json_t *events)
{
	json_t *apps = json_array(), *ipl = json_array(), *ima = json_array(), *sum = json_object();
	json_int_t separators = 0;
	size_t i;
	const json_t *ev;
	if (apps == NULL || ipl == NULL || ima == NULL || sum == NULL)
		goto fail;
	json_array_foreach ((json_t *)events, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_int_t pcr = json_integer_value(json_object_get(ev, "pcr"));
		if (type == NULL)
			type = "";
		if (strcmp(type, "EV_SEPARATOR") == 0)
			separators++;
		if (strcmp(type, "EV_EFI_VARIABLE_DRIVER_CONFIG") == 0 &&
		    strcmp(str_or_empty(json_object_get(ev, "variable_name")),
			   "8be4df61-93ca-11d2-aa0d-00e098032b8c") == 0 &&
		    strcmp(str_or_empty(json_object_get(ev, "unicode_name")), "SecureBoot") == 0) {
			const char *v = json_string_value(json_object_get(ev, "variable_data"));
			bool on = v != NULL && strspn(v, "0") != strlen(v);
			json_t *c = json_object_get(ev, "digest_check");
			if (json_object_set_new(sum, "secure_boot", json_boolean(on)) != 0 ||
			    (c != NULL && json_object_set(sum, "secure_boot_digest_check", c) != 0))
				goto fail;
		}
		if (strcmp(type, "EV_EFI_BOOT_SERVICES_APPLICATION") == 0 && push_entry(apps, ev, false) != 0)
			goto fail;
		if (strcmp(type, "EV_IPL") == 0 && push_entry(ipl, ev, true) != 0)
			goto fail;
		if (pcr == 10 && push_entry(ima, ev, true) != 0)
			goto fail;
	}
	if (json_object_set_new(sum, "boot_applications", apps) != 0) {
		apps = NULL;
		goto fail;
	}
	apps = NULL;
	if (json_object_set_new(sum, "ipl", ipl) != 0) {
		ipl = NULL;
		goto fail;
	}
	ipl = NULL;
	if (json_array_size(ima) > 0) {
		if (json_object_set_new(sum, "ima", ima) != 0) {
			ima = NULL;
			goto fail;
		}
	} else {
		json_decref(ima);
	}
	ima = NULL;
	if (json_object_set_new(sum, "separators", json_integer(separators)) != 0 ||
	    json_object_set_new(sum, "event_count", json_integer((json_int_t)json_array_size(events))) != 0)
		goto fail;
	return sum;
fail:
	json_decref(apps);
	json_decref(ipl);
	json_decref(ima);
	json_decref(sum);
	return NULL;
}
