/*
 * libFuzzer target for the TDX CC event log (CCEL) replay: every input is a
 * log; it is replayed with and without the events JSON, and checked against
 * RTMRs taken from the last 192 input bytes (so both the match and the
 * mismatch paths run).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evidence/tdx/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t rtmr[4][48];
	json_t *events = NULL;
	struct vt_err err;

	if (vt_tdx_eventlog_replay(data, size, rtmr, &events, &err) == VT_OK) {
		char *s = json_dumps(events, JSON_COMPACT);
		free(s);
		json_decref(events);
	}
	(void)!vt_tdx_eventlog_replay(data, size, rtmr, NULL, NULL);

	uint8_t q[4][48];
	memset(q, 0, sizeof(q));
	if (size >= sizeof(q))
		memcpy(q, data + size - sizeof(q), sizeof(q));
	events = NULL;
	if (vt_tdx_eventlog_check(data, size, (const uint8_t(*)[48])q, &events, &err) == VT_OK)
		json_decref(events);
	return 0;
}
