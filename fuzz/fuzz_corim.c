/*
 * libFuzzer target for signed CoRIM (src/evidence/corim/, vt_corim_load).
 * Each input is used three ways:
 *   1. as a document with allow_unsigned (unsigned CoRIM, bare CoMID, or a
 *      signed CoRIM checked against a fixed P-256 key the fuzzer cannot
 *      sign with): the whole corim-map / CoMID / profile path;
 *   2. as a document without allow_unsigned: unsigned input must be
 *      refused at step signature, and nothing may pass that (1) refused;
 *   3. as the payload of a signed CoRIM the harness signs with that key
 *      (protected header {1: -7, 3: "application/rim+cbor", 8: corim-meta}):
 *      the signed path, which must agree with (1) on a tag-501 input.
 * Invariants: a failure returns no struct and records its own code and a
 * step; a success holds only valid names, lists of at most the caps, and
 * serializes (vt_corim_to_json, vt_corim_rvps_message).
 */
#include <stdlib.h>
#include <string.h>

#include "veritee/corim.h"
#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *g_key;

static void cleanup(void)
{
	EVP_PKEY_free(g_key);
}

static void setup(void)
{
	if (vt_key_generate(VT_KEY_P256, &g_key, NULL) != VT_OK)
		abort();
	atexit(cleanup);
}

/* 2025-06-01T00:00:00Z */
#define NOW 1748736000

static void check_result(vt_status rc, struct vt_corim *c, const struct vt_err *err)
{
	if (rc != VT_OK) {
		if (c != NULL || err->code != rc || (err->step == VT_STEP_NONE && rc != VT_E_NOMEM && rc != VT_E_USAGE))
			abort();
		return;
	}
	if (c == NULL || !json_is_object(c->values))
		abort();
	size_t total = 0;
	const char *name;
	json_t *list;
	json_object_foreach(c->values, name, list)
	{
		if (!json_is_array(list) || json_array_size(list) == 0 || strlen(name) == 0 || strlen(name) > 128)
			abort();
		for (const char *p = name; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			      *p == '_' || *p == '.' || *p == '-'))
				abort();
		total += json_array_size(list);
	}
	if (json_object_size(c->values) > VT_CORIM_MAX_NAMES || total > VT_CORIM_MAX_VALUES)
		abort();
	json_t *j = vt_corim_to_json(c);
	char *m = vt_corim_rvps_message(c);
	if (j == NULL || m == NULL)
		abort();
	json_decref(j);
	free(m);
}

static size_t head(uint8_t *p, uint8_t major, uint64_t n)
{
	if (n < 24) {
		p[0] = (uint8_t)(major << 5 | n);
		return 1;
	}
	if (n <= 0xff) {
		p[0] = (uint8_t)(major << 5 | 24);
		p[1] = (uint8_t)n;
		return 2;
	}
	if (n <= 0xffff) {
		p[0] = (uint8_t)(major << 5 | 25);
		p[1] = (uint8_t)(n >> 8);
		p[2] = (uint8_t)n;
		return 3;
	}
	p[0] = (uint8_t)(major << 5 | 26);
	for (int i = 0; i < 4; i++)
		p[1 + i] = (uint8_t)(n >> (24 - 8 * i));
	return 5;
}

/* #6.18([prot, {}, payload, sig]) signed with g_key. */
static uint8_t *sign(const uint8_t *payload, size_t n, size_t *out_n)
{
	static const uint8_t prot[] = {
		0xa3, 0x01, 0x26, 0x03, 0x74, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'r',
		'i', 'm', '+', 'c', 'b', 'o', 'r', 0x08, 0x49, 0xa1, 0x00, 0xa1, 0x00, 0x64, 'f', 'u', 'z', 'z',
	};
	uint8_t *tbs = NULL, sig[64];
	size_t tbs_n = 0, sig_n = sizeof(sig);
	if (vt_cose_sig_structure(prot, sizeof(prot), NULL, 0, payload, n, &tbs, &tbs_n, NULL) != VT_OK)
		return NULL;
	vt_status rc = vt_ecdsa_sign_raw(g_key, EVP_sha256(), tbs, tbs_n, sig, &sig_n, NULL);
	free(tbs);
	if (rc != VT_OK || sig_n != 64)
		return NULL;
	uint8_t *out = malloc(n + sizeof(prot) + 96);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	out[o++] = 0xd2;
	out[o++] = 0x84;
	o += head(out + o, 2, sizeof(prot));
	memcpy(out + o, prot, sizeof(prot));
	o += sizeof(prot);
	out[o++] = 0xa0;
	o += head(out + o, 2, n);
	if (n)
		memcpy(out + o, payload, n);
	o += n;
	o += head(out + o, 2, sig_n);
	memcpy(out + o, sig, sig_n);
	o += sig_n;
	*out_n = o;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g_key == NULL)
		setup();
	if (size > VT_CORIM_MAX_SIZE)
		return 0;

	struct vt_corim *c1 = NULL, *c2 = NULL, *c3 = NULL;
	struct vt_err e1 = {0}, e2 = {0}, e3 = {0};
	struct vt_corim_opts inspect = {.signer = g_key, .now = NOW, .allow_unsigned = true};
	struct vt_corim_opts strict = {.signer = g_key, .now = NOW, .allow_unsigned = false};

	vt_status r1 = vt_corim_load(data, size, &inspect, &c1, &e1);
	check_result(r1, c1, &e1);
	vt_status r2 = vt_corim_load(data, size, &strict, &c2, &e2);
	check_result(r2, c2, &e2);
	if (r2 == VT_OK && (r1 != VT_OK || !c2->verified))
		abort(); /* strict accepted what inspection refused, or something unsigned */
	if (r1 == VT_OK && !c1->verified && r2 != VT_E_REJECTED)
		abort(); /* an unsigned document must be refused as such */

	size_t sn = 0;
	uint8_t *signed_doc = sign(data, size, &sn);
	if (signed_doc != NULL && sn <= VT_CORIM_MAX_SIZE) {
		vt_status r3 = vt_corim_load(signed_doc, sn, &strict, &c3, &e3);
		check_result(r3, c3, &e3);
		/* The same corim-map read unsigned and signed gives the same values. */
		bool tag501 = size >= 3 && data[0] == 0xd9 && data[1] == 0x01 && data[2] == 0xf5;
		if (tag501 && r1 == VT_OK && r3 == VT_OK && !json_equal(c1->values, c3->values))
			abort();
		if (tag501 && r1 == VT_OK && r3 != VT_OK)
			abort();
	}
	free(signed_doc);
	vt_corim_free(c1);
	vt_corim_free(c2);
	vt_corim_free(c3);
	return 0;
}
