/*
 * Nitro attestation document parsing: the COSE_Sign1 profile and the
 * payload map (aws-nitro-enclaves-nsm-api docs/attestation_process.md
 * §2.2 "Attestation Document Specification" and §3.2.2 "Syntactical
 * validation").  Nothing here is verified; see verify.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "veritee/cose.h"
#include "veritee/nitro.h"

/* Payload nesting: map -> pcrs map / cabundle array -> bstr. */
#define PAYLOAD_MAX_DEPTH 3
/* Nine keys, a cabundle of at most VT_NITRO_MAX_CABUNDLE, 32 PCRs. */
#define PAYLOAD_MAX_ITEMS 64

struct doc_state {
	cbor_item_t *payload;
	char *module_id;
};

void vt_nitro_doc_free(struct vt_nitro_doc *d)
{
	if (d == NULL)
		return;
	struct doc_state *st = d->priv_;
	if (st != NULL) {
		if (st->payload != NULL)
			cbor_decref(&st->payload);
		free(st->module_id);
		free(st);
	}
	vt_cose_sign1_free(&d->cose);
	memset(d, 0, sizeof(*d));
}

static bool is_bstr(const cbor_item_t *it)
{
	return cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

static void bstr_get(const cbor_item_t *it, struct vt_nitro_bytes *out)
{
	out->len = cbor_bytestring_length(it);
	out->data = out->len > 0 ? cbor_bytestring_handle(it) : (const uint8_t *)"";
	out->present = true;
}

/* A definite text string equal to `s`. */
static bool text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);
	return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
	       memcmp(cbor_string_handle(it), s, n) == 0;
}

/* bstr of min..max bytes, or (when `nullable`) null = absent. */
static vt_status get_bytes(const cbor_item_t *v, const char *field, size_t min, size_t max, bool nullable,
			   struct vt_nitro_bytes *out, struct vt_err *err)
{
	if (nullable && vt_cbor_is_null(v)) {
		memset(out, 0, sizeof(*out));
		return VT_OK;
	}
	if (!is_bstr(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a byte string%s", nullable ? " or null" : "");
	size_t n = cbor_bytestring_length(v);
	if (n < min || n > max)
		return vt_fail(err, n > max ? VT_E_LIMIT : VT_E_PARSE, VT_STEP_PARSE, field,
			       "%zu bytes, %zu..%zu accepted", n, min, max);
	bstr_get(v, out);
	return VT_OK;
}

static int pcr_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct vt_nitro_pcr *)a)->index, y = ((const struct vt_nitro_pcr *)b)->index;
	return x < y ? -1 : x > y;
}

static vt_status get_pcrs(const cbor_item_t *v, struct vt_nitro_doc *d, struct vt_err *err)
{
	if (!cbor_isa_map(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload.pcrs", "not a map");
	size_t n = cbor_map_size(v);
	if (n < 1 || n > VT_NITRO_MAX_PCRS)
		return vt_fail(err, n > VT_NITRO_MAX_PCRS ? VT_E_LIMIT : VT_E_PARSE, VT_STEP_PARSE, "payload.pcrs",
			       "%zu PCRs, 1..%d accepted", n, VT_NITRO_MAX_PCRS);
	struct cbor_pair *p = cbor_map_handle(v);
	for (size_t i = 0; i < n; i++) {
		char field[40];
		snprintf(field, sizeof(field), "payload.pcrs{%zu}", i);
		if (!cbor_isa_uint(p[i].key) || cbor_get_int(p[i].key) >= VT_NITRO_MAX_PCRS)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "PCR index is not an integer in 0..%d",
				       VT_NITRO_MAX_PCRS - 1);
		uint32_t idx = (uint32_t)cbor_get_int(p[i].key);
		snprintf(field, sizeof(field), "payload.pcrs[%u]", idx);
		/* digest is "SHA384": every register is 48 bytes (the spec's 32/64 go with other digests). */
		if (!is_bstr(p[i].value) || cbor_bytestring_length(p[i].value) != VT_NITRO_PCR_SIZE)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "PCR is not a %d-byte string",
				       VT_NITRO_PCR_SIZE);
		d->pcrs[i].index = idx;
		d->pcrs[i].value = cbor_bytestring_handle(p[i].value);
	}
	d->pcr_count = n;
	/* Keys are unique (vt_cbor_decode_ex), so the order is total. */
	qsort(d->pcrs, n, sizeof(d->pcrs[0]), pcr_cmp);
	return VT_OK;
}

static vt_status get_cabundle(const cbor_item_t *v, struct vt_nitro_doc *d, struct vt_err *err)
{
	if (!cbor_isa_array(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload.cabundle", "not an array");
	size_t n = cbor_array_size(v);
	if (n < 1 || n > VT_NITRO_MAX_CABUNDLE)
		return vt_fail(err, n > VT_NITRO_MAX_CABUNDLE ? VT_E_LIMIT : VT_E_PARSE, VT_STEP_PARSE,
			       "payload.cabundle", "%zu certificates, 1..%d accepted", n, VT_NITRO_MAX_CABUNDLE);
	cbor_item_t **el = cbor_array_handle(v);
	for (size_t i = 0; i < n; i++) {
		char field[40];
		snprintf(field, sizeof(field), "payload.cabundle[%zu]", i);
		vt_status rc = get_bytes(el[i], field, 1, VT_NITRO_MAX_CERT, false, &d->cabundle[i], err);
		if (rc != VT_OK)
			return rc;
	}
	d->cabundle_count = n;
	return VT_OK;
}

enum {
	F_MODULE_ID = 1u << 0,
	F_DIGEST = 1u << 1,
	F_TIMESTAMP = 1u << 2,
	F_PCRS = 1u << 3,
	F_CERTIFICATE = 1u << 4,
	F_CABUNDLE = 1u << 5,
	F_PUBLIC_KEY = 1u << 6,
	F_USER_DATA = 1u << 7,
	F_NONCE = 1u << 8,
	F_MANDATORY = F_MODULE_ID | F_DIGEST | F_TIMESTAMP | F_PCRS | F_CERTIFICATE | F_CABUNDLE,
};

static const char *const FIELD_NAMES[] = {"module_id", "digest",   "timestamp", "pcrs", "certificate",
					  "cabundle",  "public_key", "user_data", "nonce"};

static vt_status get_module_id(const cbor_item_t *v, struct doc_state *st, struct vt_nitro_doc *d,
			       struct vt_err *err)
{
	if (!cbor_isa_string(v) || !cbor_string_is_definite(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload.module_id", "not a text string");
	size_t n = cbor_string_length(v);
	if (n < 1 || n > VT_NITRO_MAX_MODULE_ID)
		return vt_fail(err, n > VT_NITRO_MAX_MODULE_ID ? VT_E_LIMIT : VT_E_PARSE, VT_STEP_PARSE,
			       "payload.module_id", "%zu bytes, 1..%d accepted", n, VT_NITRO_MAX_MODULE_ID);
	const unsigned char *s = cbor_string_handle(v);
	if (memchr(s, '\0', n) != NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload.module_id", "contains a NUL byte");
	st->module_id = malloc(n + 1);
	if (st->module_id == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "payload.module_id", "out of memory");
	memcpy(st->module_id, s, n);
	st->module_id[n] = '\0';
	d->module_id = st->module_id;
	return VT_OK;
}

static vt_status parse_payload(const cbor_item_t *map, struct doc_state *st, struct vt_nitro_doc *d,
			       struct vt_err *err)
{
	if (!cbor_isa_map(map))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload", "payload is not a map");
	unsigned seen = 0;
	struct cbor_pair *p = cbor_map_handle(map);
	size_t n = cbor_map_size(map);
	for (size_t i = 0; i < n; i++) {
		const cbor_item_t *k = p[i].key, *v = p[i].value;
		unsigned f = 0;
		for (size_t j = 0; j < sizeof(FIELD_NAMES) / sizeof(FIELD_NAMES[0]); j++)
			if (text_is(k, FIELD_NAMES[j]))
				f = 1u << j;
		if (f == 0) {
			char name[33] = "(not a text string)";
			if (cbor_isa_string(k) && cbor_string_is_definite(k)) {
				size_t kl = cbor_string_length(k) < 32 ? cbor_string_length(k) : 32;
				const unsigned char *ks = cbor_string_handle(k);
				for (size_t j = 0; j < kl; j++)
					name[j] = ks[j] >= 0x20 && ks[j] < 0x7f && ks[j] != '"' ? (char)ks[j] : '?';
				name[kl] = '\0';
			}
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload",
				       "unknown key \"%s\" (AWS's document has no other keys)", name);
		}
		seen |= f; /* keys are unique (vt_cbor_decode_ex) */
		vt_status rc = VT_OK;
		switch (f) {
		case F_MODULE_ID:
			rc = get_module_id(v, st, d, err);
			break;
		case F_DIGEST:
			if (!text_is(v, "SHA384"))
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload.digest", "digest is not \"SHA384\"");
			break;
		case F_TIMESTAMP:
			if (!cbor_isa_uint(v) || cbor_get_int(v) == 0 || cbor_get_int(v) > (uint64_t)INT64_MAX)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload.timestamp",
					     "not an integer in 1..2^63-1");
			else
				d->timestamp_ms = cbor_get_int(v);
			break;
		case F_PCRS:
			rc = get_pcrs(v, d, err);
			break;
		case F_CERTIFICATE:
			rc = get_bytes(v, "payload.certificate", 1, VT_NITRO_MAX_CERT, false, &d->certificate, err);
			break;
		case F_CABUNDLE:
			rc = get_cabundle(v, d, err);
			break;
		case F_PUBLIC_KEY:
			rc = get_bytes(v, "payload.public_key", 0, VT_NITRO_MAX_USER_DATA, true, &d->public_key, err);
			break;
		case F_USER_DATA:
			rc = get_bytes(v, "payload.user_data", 0, VT_NITRO_MAX_USER_DATA, true, &d->user_data, err);
			break;
		case F_NONCE:
			rc = get_bytes(v, "payload.nonce", 0, VT_NITRO_MAX_USER_DATA, true, &d->nonce, err);
			break;
		default:
			break;
		}
		if (rc != VT_OK)
			return rc;
	}
	if ((seen & F_MANDATORY) != F_MANDATORY) {
		for (size_t j = 0; j < 6; j++)
			if (!(seen & (1u << j)))
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "payload", "mandatory key \"%s\" missing",
					       FIELD_NAMES[j]);
	}
	return VT_OK;
}

vt_status vt_nitro_doc_parse(const uint8_t *doc, size_t n, struct vt_nitro_doc *out, struct vt_err *err)
{
	vt_status rc;
	if (out == NULL || (doc == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "attestation_document", "missing argument");
	memset(out, 0, sizeof(*out));
	if (n > VT_NITRO_MAX_DOC)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "attestation_document",
			       "%zu bytes, a Nitro attestation document is at most %zu", n, VT_NITRO_MAX_DOC);
	struct doc_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "attestation_document", "out of memory");
	struct vt_nitro_doc d = {.priv_ = st};

	VT_GUARD(vt_cose_sign1_parse(doc, n, &d.cose, err));
	/* The NSM signs with ES384 only; the alg is what the signature covers. */
	if (d.cose.alg != VT_COSE_ALG_ES384) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected", "alg %lld, Nitro documents are ES384 (-35)",
			     (long long)d.cose.alg);
		goto out;
	}
	if (d.cose.payload == NULL || d.cose.payload_len == 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.payload", "no payload");
		goto out;
	}
	struct vt_cbor_limits lim = {
		.max_depth = PAYLOAD_MAX_DEPTH, .max_items = PAYLOAD_MAX_ITEMS, .allow_indefinite = true};
	VT_GUARD(vt_cbor_decode_ex(d.cose.payload, d.cose.payload_len, &lim, "payload", &st->payload, err));
	VT_GUARD(parse_payload(st->payload, st, &d, err));
	*out = d;
	return VT_OK;
out:
	vt_nitro_doc_free(&d);
	return rc;
}
