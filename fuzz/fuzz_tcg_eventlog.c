/*
 * libFuzzer target for the TCG PC Client event log: every input is a log;
 * it is replayed for SHA-256 (with the events JSON and its summary) and
 * SHA-1, and checked against quoted PCRs taken from the last 768 input bytes
 * (so both the match and the mismatch paths run).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "veritee/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pcrs[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST];
	json_t *events = NULL;
	struct vt_err err;

	if (vt_tcg_eventlog_replay(data, size, VT_TPM_ALG_SHA256, pcrs, &events, &err) == VT_OK) {
		json_t *sum = vt_tcg_eventlog_summary(events);
		char *s = json_dumps(sum, JSON_COMPACT);
		free(s);
		json_decref(sum);
		json_decref(events);
	}
	(void)!vt_tcg_eventlog_replay(data, size, VT_TPM_ALG_SHA1, pcrs, NULL, NULL);

	static uint8_t q[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST];
	memset(q, 0, sizeof(q));
	size_t want = VT_TPM_NUM_PCRS * 32;
	for (size_t i = 0; i < VT_TPM_NUM_PCRS && size >= want; i++)
		memcpy(q[i], data + size - want + 32 * i, 32);
	events = NULL;
	if (vt_tcg_eventlog_check(data, size, VT_TPM_ALG_SHA256, (const uint8_t(*)[VT_TPM_MAX_DIGEST])q, 0xFFFFFF,
				  &events, &err) == VT_OK)
		json_decref(events);
	return 0;
}
