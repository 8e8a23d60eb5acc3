/*
 * A minimal, strict protobuf reader (private) and the parse of go-tpm-tools'
 * `attest.Attestation` message (docs/gce-vtpm.md):
 *
 *   Attestation { 1 ak_pub bytes (TPMT_PUBLIC); 2 quotes repeated tpm.Quote;
 *                 3 event_log bytes; 6 ak_cert bytes (DER);
 *                 7 intermediate_certs repeated bytes (DER); others skipped }
 *   tpm.Quote   { 1 quote bytes (TPMS_ATTEST); 2 raw_sig bytes (TPMT_SIGNATURE);
 *                 3 pcrs tpm.PCRs }
 *   tpm.PCRs    { 1 hash enum (TPM_ALG_ID); 2 pcrs map<uint32, bytes> }
 *
 * Everything is read through the bounded reader; the output borrows views of
 * the input buffer.  Strictness beyond protobuf's: a known field with the
 * wrong wire type, a singular field given twice, a varint longer than 10
 * bytes or above 2^64-1, field number 0, groups (wire types 3/4) and wire
 * types 6/7 are VT_E_PARSE; fixed32/fixed64 and unknown fields are skipped.
 */
#ifndef VT_EVIDENCE_GCE_PROTO_H
#define VT_EVIDENCE_GCE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veritee/err.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

#define VT_GCE_PB_MAX ((size_t)8 << 20)    /* whole Attestation message */
#define VT_GCE_PB_MAX_FIELDS 100000u       /* fields in one message (unknown ones included) */
#define VT_GCE_MAX_QUOTES 8u               /* one per PCR bank */
#define VT_GCE_MAX_INTERMEDIATES 8u
#define VT_GCE_AK_PUB_MAX 1024u            /* TPMT_PUBLIC of an RSA-4096 key is < 700 bytes */
#define VT_GCE_CERT_MAX ((size_t)16 << 10) /* one DER certificate */

/* ------------------------------------------------------------ wire format */

enum vt_pb_wire {
	VT_PB_VARINT = 0,
	VT_PB_FIXED64 = 1,
	VT_PB_LEN = 2,
	VT_PB_FIXED32 = 5,
};

/* One field: number, wire type, and its value (varint, or a view of the
 * length-delimited bytes; fixed32/64 values are consumed, not kept). */
struct vt_pb_field {
	uint32_t number;
	enum vt_pb_wire wire;
	uint64_t varint;
	const uint8_t *data;
	size_t size;
};

/* A base-128 varint of at most 10 bytes whose value fits 64 bits. */
VT_MUST_USE vt_status vt_pb_varint(struct vt_reader *r, uint64_t *out, const char *field, struct vt_err *err);

/* The next field of a message (the reader must not be at its end).  `field`
 * names the message in errors. */
VT_MUST_USE vt_status vt_pb_next(struct vt_reader *r, struct vt_pb_field *out, const char *field, struct vt_err *err);

/* ------------------------------------------------------------ Attestation */

struct vt_gce_quote {
	const uint8_t *quote; /* TPMS_ATTEST */
	size_t quote_size;
	const uint8_t *raw_sig; /* TPMT_SIGNATURE */
	size_t raw_sig_size;
	struct vt_tpm_pcrs pcrs; /* hash_alg, digest size, and the map (index -> value) */
};

struct vt_gce_attestation {
	const uint8_t *ak_pub; /* TPMT_PUBLIC */
	size_t ak_pub_size;
	size_t quote_count;
	struct vt_gce_quote quotes[VT_GCE_MAX_QUOTES];
	const uint8_t *event_log; /* NULL when absent */
	size_t event_log_size;
	const uint8_t *ak_cert; /* DER; NULL when absent */
	size_t ak_cert_size;
	size_t intermediate_count;
	const uint8_t *intermediates[VT_GCE_MAX_INTERMEDIATES];
	size_t intermediate_sizes[VT_GCE_MAX_INTERMEDIATES];
	/* Present but not verified here (reported in the claims). */
	bool has_instance_info;       /* field 4 (unsigned copy of what the AK cert says) */
	bool has_canonical_event_log; /* field 5 */
	bool has_tee_attestation;     /* fields 8/9 (SEV-SNP / TDX) */
};

/*
 * Parse an Attestation.  Required: ak_pub (1..VT_GCE_AK_PUB_MAX bytes) and
 * 1..VT_GCE_MAX_QUOTES quotes, each with quote, raw_sig and pcrs; a PCR bank
 * (hash) known to vt_tpm_alg_md and not repeated across quotes; PCR indexes
 * < 24, each once, with values of the bank's digest size.  Caps: the message
 * size, fields per message, certificate sizes and counts above (VT_E_LIMIT
 * or VT_E_PARSE, step parse).  `out` borrows `data`.
 */
VT_MUST_USE vt_status vt_gce_attestation_parse(const uint8_t *data, size_t size, struct vt_gce_attestation *out,
					       struct vt_err *err);

#endif
