/* Shared by the files of src/ratls/ (private). */
#ifndef VT_RATLS_INTERNAL_H
#define VT_RATLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "veritee/ratls.h"

/* The EVP digest and size of a pubkey-hash algorithm id; NULL when unknown. */
const EVP_MD *vtx_ratls_hash_md(int alg, size_t *size_out);
/* "sha-256", "sha-384", "sha-512" (IANA names), "?" when unknown. */
const char *vtx_ratls_hash_name(int alg);

/* malloc'd copy of n bytes (n may be 0: one byte is allocated); NULL when out of memory. */
uint8_t *vtx_ratls_dup(const void *p, size_t n);
/* Copies of the evidence and the claims-buffer into out->evidence and
 * out->claims_buffer (freed by vt_ratls_evidence_free, also on failure). */
vt_status vtx_ratls_keep(struct vt_ratls_evidence *out, const uint8_t *ev, size_t ev_size, const uint8_t *claims,
			 size_t claims_size, struct vt_err *err);

/*
 * Which Intel TEE a DCAP quote is, from its header (version, attestation
 * key type, TEE type): "sgx" or "tdx".  EPID quotes are VT_E_REJECTED
 * (retired), anything else VT_E_PARSE, both at step parse naming `field`.
 */
vt_status vtx_ratls_quote_tee(const uint8_t *quote, size_t size, const char *field, const char **tee_out,
			      struct vt_err *err);

/* A definite byte string's bytes, or false. */
bool vtx_cbor_bytes(const cbor_item_t *item, const uint8_t **p, size_t *n);
/* A definite text string equal to `s`. */
bool vtx_cbor_text_is(const cbor_item_t *item, const char *s);

/* libcbor serialization of `item` (consumed: its reference is dropped) into
 * a malloc'd buffer; NULL item = out of memory. */
vt_status vtx_cbor_serialize(cbor_item_t *item, uint8_t **out, size_t *out_size, struct vt_err *err);

#endif
