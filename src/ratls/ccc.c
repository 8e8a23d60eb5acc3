/*
 * The CCC interoperable RA-TLS evidence (CCC-Attestation/interoperable-ra-tls,
 * docs/Interoperable-RA-TLS-*.md), as Gramine, rats-tls and the Intel SGX
 * SDK write it:
 *
 *   extension 2.23.133.5.4.9 (tcg-dice-conceptual-message-wrapper), value =
 *     60000([ quote: bstr, claims-buffer: bstr ])     definite lengths
 *   claims-buffer = { "pubkey-hash": bstr .cbor [ alg: uint, hash: bstr ],
 *                     ? "nonce": bstr, * tstr => any }
 *   alg (IANA Named Information): 1 sha-256, 7 sha-384, 8 sha-512, over the
 *   certificate's SubjectPublicKeyInfo DER; quote report data[0:32] =
 *   SHA-256(claims-buffer), the rest zero.
 *
 * Tags 60001 (TDX report / SGX report type 2) and 60002 (EREPORT) carry
 * local reports, MAC'd for one machine: well-formed but never verifiable
 * by a remote party, so refused.  All CBOR goes through libcbor, and every
 * untrusted item through vt_cbor_decode (bounded, duplicate keys refused).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ratls/ratls_internal.h"
#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

/* ------------------------------------------------------------------ helpers */

const EVP_MD *vtx_ratls_hash_md(int alg, size_t *size_out)
{
	switch (alg) {
	case VT_RATLS_HASH_SHA256: *size_out = 32; return EVP_sha256();
	case VT_RATLS_HASH_SHA384: *size_out = 48; return EVP_sha384();
	case VT_RATLS_HASH_SHA512: *size_out = 64; return EVP_sha512();
	default: *size_out = 0; return NULL;
	}
}

const char *vtx_ratls_hash_name(int alg)
{
	switch (alg) {
	case VT_RATLS_HASH_SHA256: return "sha-256";
	case VT_RATLS_HASH_SHA384: return "sha-384";
	case VT_RATLS_HASH_SHA512: return "sha-512";
	default: return "?";
	}
}

uint8_t *vtx_ratls_dup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (d != NULL && n > 0)
		memcpy(d, p, n);
	return d;
}

vt_status vtx_ratls_keep(struct vt_ratls_evidence *out, const uint8_t *ev, size_t ev_size, const uint8_t *claims,
			 size_t claims_size, struct vt_err *err)
{
	out->evidence = vtx_ratls_dup(ev, ev_size);
	out->evidence_size = ev_size;
	out->claims_buffer = vtx_ratls_dup(claims, claims_size);
	out->claims_buffer_size = claims_size;
	if (out->evidence == NULL || out->claims_buffer == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	return VT_OK;
}

bool vtx_cbor_bytes(const cbor_item_t *item, const uint8_t **p, size_t *n)
{
	if (item == NULL || !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item))
		return false;
	*p = cbor_bytestring_handle(item);
	*n = cbor_bytestring_length(item);
	return true;
}

bool vtx_cbor_text_is(const cbor_item_t *item, const char *s)
{
	size_t n = strlen(s);
	return item != NULL && cbor_isa_string(item) && cbor_string_is_definite(item) &&
	       cbor_string_length(item) == n && (n == 0 || memcmp(cbor_string_handle(item), s, n) == 0);
}

vt_status vtx_cbor_serialize(cbor_item_t *item, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	*out = NULL;
	*out_size = 0;
	if (item == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	unsigned char *buf = NULL;
	size_t cap = 0, len = cbor_serialize_alloc(item, &buf, &cap);
	cbor_decref(&item);
	if (len == 0) {
		free(buf);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	*out = buf;
	*out_size = len;
	return VT_OK;
}

/* DCAP quote header (tdx-sgx-dcap.md §2): version u16, att_key_type u16, tee_type u32, little-endian. */
vt_status vtx_ratls_quote_tee(const uint8_t *quote, size_t size, const char *field, const char **tee_out,
			      struct vt_err *err)
{
	struct vt_reader r;
	uint16_t version = 0, akt = 0;
	uint32_t tee_type = 0;
	vt_reader_init(&r, quote, size);
	vt_status rc = vt_reader_u16le(&r, &version, field, err);
	if (rc == VT_OK)
		rc = vt_reader_u16le(&r, &akt, field, err);
	if (rc == VT_OK)
		rc = vt_reader_u32le(&r, &tee_type, field, err);
	if (rc != VT_OK)
		return rc;
	if (version == 2 || (version == 3 && (akt == 0 || akt == 1)))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field,
			       "an EPID quote (version %u, key type %u): Intel has retired EPID attestation", version,
			       akt);
	if (version == 3 && (akt == 2 || akt == 3)) {
		*tee_out = "sgx";
		return VT_OK;
	}
	if ((version == 4 || version == 5) && tee_type == 0) {
		*tee_out = "sgx";
		return VT_OK;
	}
	if ((version == 4 || version == 5) && tee_type == 0x81) {
		*tee_out = "tdx";
		return VT_OK;
	}
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
		       "not an Intel quote header (version %u, key type %u, TEE type 0x%x)", version, akt, tee_type);
}

/* ----------------------------------------------------------- claims-buffer */

/* pubkey-hash value: bstr .cbor [alg: uint, hash: bstr] (a CoSWID hash-entry). */
static vt_status pubkey_hash_parse(const uint8_t *p, size_t n, struct vt_ratls_evidence *out, struct vt_err *err)
{
	cbor_item_t *he = NULL;
	vt_status rc = vt_cbor_decode(p, n, 2, "claims.pubkey-hash", &he, err);
	if (rc != VT_OK)
		return rc;
	const uint8_t *h = NULL;
	size_t hn = 0, want = 0;
	cbor_item_t **el = cbor_isa_array(he) && cbor_array_size(he) == 2 ? cbor_array_handle(he) : NULL;
	if (el == NULL || !cbor_isa_uint(el[0]) || !vtx_cbor_bytes(el[1], &h, &hn)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims.pubkey-hash",
			     "pubkey-hash is not a hash-entry [alg: uint, hash: bstr]");
		goto out;
	}
	uint64_t alg = cbor_get_int(el[0]);
	if (alg > 255 || vtx_ratls_hash_md((int)alg, &want) == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims.pubkey-hash",
			     "hash algorithm %llu: only 1 (sha-256), 7 (sha-384) and 8 (sha-512) are defined",
			     (unsigned long long)alg);
		goto out;
	}
	if (hn != want) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims.pubkey-hash", "%s hash of %zu bytes, expected %zu",
			     vtx_ratls_hash_name((int)alg), hn, want);
		goto out;
	}
	out->pubkey_hash_alg = (int)alg;
	memcpy(out->pubkey_hash, h, hn);
	out->pubkey_hash_size = hn;
out:
	cbor_decref(&he);
	return rc;
}

vt_status vt_ratls_claims_parse(const uint8_t *buf, size_t size, struct vt_ratls_evidence *out, struct vt_err *err)
{
	if (buf == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (size > VT_RATLS_MAX_CLAIMS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "claims", "claims-buffer of %zu bytes, at most %zu",
			       size, VT_RATLS_MAX_CLAIMS);
	cbor_item_t *m = NULL;
	vt_status rc = vt_cbor_decode(buf, size, 4, "claims", &m, err);
	if (rc != VT_OK)
		return rc;
	if (!cbor_isa_map(m) || !cbor_map_is_definite(m)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims", "claims-buffer is not a CBOR map");
		goto out;
	}
	/* Other claims are ignored (CCC; rats-tls adds its own, e.g. "key_0"); vt_cbor_decode refused duplicates. */
	const cbor_item_t *ph = vt_cbor_map_get_str(m, "pubkey-hash"), *nv = vt_cbor_map_get_str(m, "nonce");
	const uint8_t *p = NULL, *nonce = NULL;
	size_t n = 0, nonce_size = 0;
	if (ph == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims.pubkey-hash",
			     "the required pubkey-hash claim is missing");
		goto out;
	}
	if (!vtx_cbor_bytes(ph, &p, &n)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims.pubkey-hash", "not a byte string");
		goto out;
	}
	if (nv != NULL && !vtx_cbor_bytes(nv, &nonce, &nonce_size)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "claims.nonce", "not a byte string");
		goto out;
	}
	if (nonce_size > VT_RATLS_MAX_NONCE) {
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "claims.nonce", "nonce of %zu bytes, at most %zu",
			     nonce_size, VT_RATLS_MAX_NONCE);
		goto out;
	}
	VT_GUARD(pubkey_hash_parse(p, n, out, err));
	if (nv != NULL && (out->nonce = vtx_ratls_dup(nonce, nonce_size)) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	out->nonce_size = nonce_size;
out:
	cbor_decref(&m);
	return rc;
}

vt_status vt_ratls_claims_build(const uint8_t *spki_der, size_t spki_size, int alg, const uint8_t *nonce,
				size_t nonce_size, uint8_t **out, size_t *out_size, struct vt_err *err)
{
	*out = NULL;
	*out_size = 0;
	if (alg == 0)
		alg = VT_RATLS_HASH_SHA256;
	size_t hs = 0;
	const EVP_MD *md = vtx_ratls_hash_md(alg, &hs);
	if (md == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "pubkey_hash_alg", "hash algorithm %d: use 1, 7 or 8",
			       alg);
	if (nonce_size > VT_RATLS_MAX_NONCE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "nonce", "nonce of %zu bytes, at most %zu", nonce_size,
			       VT_RATLS_MAX_NONCE);
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t hl = 0;
	vt_status rc = vt_digest(md, spki_der, spki_size, h, &hl, err);
	if (rc != VT_OK)
		return rc;
	uint8_t *entry = NULL;
	size_t entry_size = 0;
	cbor_item_t *he = cbor_new_definite_array(2);
	if (he != NULL && (!cbor_array_push(he, cbor_move(cbor_build_uint8((uint8_t)alg))) ||
			   !cbor_array_push(he, cbor_move(cbor_build_bytestring(h, hl))))) {
		cbor_decref(&he);
	}
	rc = vtx_cbor_serialize(he, &entry, &entry_size, err);
	if (rc != VT_OK)
		return rc;
	cbor_item_t *m = cbor_new_definite_map(nonce ? 2 : 1);
	bool ok = m != NULL &&
		  cbor_map_add(m, (struct cbor_pair){.key = cbor_move(cbor_build_string("pubkey-hash")),
						     .value = cbor_move(cbor_build_bytestring(entry, entry_size))});
	if (ok && nonce != NULL)
		ok = cbor_map_add(m, (struct cbor_pair){.key = cbor_move(cbor_build_string("nonce")),
							.value = cbor_move(cbor_build_bytestring(nonce, nonce_size))});
	free(entry);
	if (!ok && m != NULL)
		cbor_decref(&m);
	return vtx_cbor_serialize(m, out, out_size, err);
}

/* ---------------------------------------------------------------- TCG DICE */

vt_status vt_ratls_tcg_parse(const uint8_t *value, size_t size, struct vt_ratls_evidence *out, struct vt_err *err)
{
	if (value == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	memset(out, 0, sizeof(*out));
	if (size > VT_RATLS_MAX_EXTENSION)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "tcg-dice", "extension of %zu bytes, at most %zu", size,
			       VT_RATLS_MAX_EXTENSION);
	cbor_item_t *root = NULL, *arr = NULL;
	vt_status rc = vt_cbor_decode(value, size, 4, "tcg-dice", &root, err);
	if (rc != VT_OK)
		return rc;
	if (!cbor_isa_tag(root)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tcg-dice", "evidence is not a tagged CBOR item");
		goto out;
	}
	uint64_t tag = cbor_tag_value(root);
	if (tag == VT_RATLS_TAG_INTEL_REPORT || tag == VT_RATLS_TAG_SGX_LEGACY_REPORT) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tcg-dice",
			     "CBOR tag %llu: a local %s report, MAC'd for one machine, cannot be verified remotely",
			     (unsigned long long)tag,
			     tag == VT_RATLS_TAG_INTEL_REPORT ? "TDX / SGX type 2" : "SGX EREPORT");
		goto out;
	}
	if (tag != VT_RATLS_TAG_INTEL_QUOTE) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tcg-dice",
			     "CBOR tag %llu: unknown evidence format (60000 = Intel TEE quote)",
			     (unsigned long long)tag);
		goto out;
	}
	arr = cbor_tag_item(root); /* a new reference */
	const uint8_t *quote = NULL, *claims = NULL;
	size_t quote_size = 0, claims_size = 0;
	cbor_item_t **el = cbor_isa_array(arr) && cbor_array_is_definite(arr) && cbor_array_size(arr) == 2
				   ? cbor_array_handle(arr)
				   : NULL;
	if (el == NULL || !vtx_cbor_bytes(el[0], &quote, &quote_size) ||
	    !vtx_cbor_bytes(el[1], &claims, &claims_size)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "tcg-dice",
			     "tag 60000 must hold [quote: bstr, claims-buffer: bstr]");
		goto out;
	}
	const char *tee = NULL;
	VT_GUARD(vtx_ratls_quote_tee(quote, quote_size, "tcg-dice.quote", &tee, err));
	VT_GUARD(vt_ratls_claims_parse(claims, claims_size, out, err));
	out->format = VT_RATLS_FORMAT_TCG_DICE;
	out->oid = VT_RATLS_OID_TCG_DICE;
	out->cbor_tag = tag;
	snprintf(out->tee, sizeof(out->tee), "%s", tee);
	rc = vtx_ratls_keep(out, quote, quote_size, claims, claims_size, err);
out:
	if (arr != NULL)
		cbor_decref(&arr);
	cbor_decref(&root);
	if (rc != VT_OK)
		vt_ratls_evidence_free(out);
	return rc;
}

vt_status vt_ratls_tcg_build(const uint8_t *quote, size_t quote_size, const uint8_t *claims, size_t claims_size,
			     uint8_t **out, size_t *out_size, struct vt_err *err)
{
	cbor_item_t *arr = cbor_new_definite_array(2), *tag = cbor_new_tag(VT_RATLS_TAG_INTEL_QUOTE);
	bool ok = arr != NULL && tag != NULL &&
		  cbor_array_push(arr, cbor_move(cbor_build_bytestring(quote, quote_size))) &&
		  cbor_array_push(arr, cbor_move(cbor_build_bytestring(claims, claims_size)));
	if (ok)
		cbor_tag_set_item(tag, arr); /* takes its own reference */
	if (arr != NULL)
		cbor_decref(&arr);
	if (!ok && tag != NULL)
		cbor_decref(&tag);
	return vtx_cbor_serialize(tag, out, out_size, err);
}

void vt_ratls_evidence_free(struct vt_ratls_evidence *e)
{
	if (e == NULL)
		return;
	free(e->evidence);
	free(e->claims_buffer);
	free(e->nonce);
	memset(e, 0, sizeof(*e));
}

const char *vt_ratls_format_name(enum vt_ratls_format f)
{
	switch (f) {
	case VT_RATLS_FORMAT_TCG_DICE: return "tcg-dice";
	case VT_RATLS_FORMAT_CMW: return "cmw";
	case VT_RATLS_FORMAT_LEGACY_QUOTE: return "legacy-quote";
	case VT_RATLS_FORMAT_SGXSDK_LEGACY: return "sgxsdk-legacy";
	default: return "none";
	}
}
