/*
 * libFuzzer target for the release log's verification (vt_audit_verify in
 * src/broker/audit.c), which `veritee audit verify` runs on an exported
 * log file, both ways in:
 *  - the input as the log, as a file on disk may hold anything: its
 *    signatures never verify here, so it is refused or parsed up to them;
 *  - the input's "entries" (and "since") with a head, and a checkpoint at
 *    "since", signed here with the target's key over what the entries
 *    claim, so that the entry checks behind the signatures are reached.
 * Either way the verdict is one of intact, tampered or malformed, and a
 * tampered verdict names where.
 * Seeds (fuzz/corpus/fuzz_audit_verify/): small logs of real shape.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/audit.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static json_t *jwks, *header_head, *header_ckpt;

static void check(const json_t *log)
{
	struct vt_audit_result res;
	struct vt_err err = {0};
	vt_status rc = vt_audit_verify(log, jwks, &res, &err);
	if (rc != VT_OK && rc != VT_E_REJECTED && rc != VT_E_PARSE)
		abort(); /* intact, tampered or malformed: nothing else */
	if (rc == VT_E_REJECTED && res.why[0] == '\0')
		abort(); /* a tampered log says where */
}

/* A {hash, seq, time} link signed with the target's key under `hdr`. */
static json_t *sign(const json_t *hdr, const char *hash, json_int_t seq)
{
	char payload[200];
	snprintf(payload, sizeof(payload), "{\"hash\":\"%.64s\",\"seq\":%lld,\"time\":1800000000}", hash,
		 (long long)seq);
	char *jws = NULL;
	if (vt_jws_sign(key, hdr, (const uint8_t *)payload, strlen(payload), &jws, NULL) != VT_OK)
		abort();
	json_t *s = json_string(jws);
	free(jws);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (key == NULL) {
		if (vt_key_generate(VT_KEY_P256, &key, NULL) != VT_OK)
			abort();
		json_t *jwk = vt_audit_jwk(key);
		jwks = json_pack("{s:[o]}", "keys", jwk);
		const char *kid = json_string_value(json_object_get(jwk, "kid"));
		header_head = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", VT_AUDIT_HEAD_TYP, "kid", kid);
		header_ckpt = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", VT_AUDIT_CHECKPOINT_TYP, "kid", kid);
		if (jwks == NULL || header_head == NULL || header_ckpt == NULL)
			abort();
	}
	json_t *log = NULL;
	if (vt_json_parse((const char *)data, size, 1u << 20, &log, NULL) != VT_OK)
		return 0;
	/* As the file. */
	check(log);
	/* Signed over what it claims. */
	json_t *entries = json_object_get(log, "entries"), *since = json_object_get(log, "since");
	if (json_is_array(entries) && (since == NULL || json_is_integer(since))) {
		json_int_t s = since ? json_integer_value(since) : 0, n = (json_int_t)json_array_size(entries);
		const char *last = json_string_value(json_object_get(json_array_get(entries, (size_t)n - 1), "hash"));
		const char *first = json_string_value(json_object_get(json_array_get(entries, 0), "prev"));
		json_t *signed_log = json_deep_copy(log);
		if (signed_log == NULL)
			abort();
		if (last != NULL && s >= 0 && s + n > s)
			json_object_set_new(signed_log, "head", sign(header_head, last, s + n));
		if (first != NULL && s > 0)
			json_object_set_new(signed_log, "checkpoint", sign(header_ckpt, first, s));
		check(signed_log);
		json_decref(signed_log);
	}
	json_decref(log);
	return 0;
}
