/*
 * Build and sign a Nitro-shaped attestation document: for tests (a fake
 * NSM), fuzzing and benchmarks.  The verifier never calls this.  Encoding
 * follows the documents the NSM emits: untagged COSE_Sign1, protected
 * header bstr a1 01 38 22 ({1: -35}), empty unprotected map, payload keys
 * in the NSM's order.
 */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/nitro.h"

/* Take ownership of `v` into map[k]; false on failure (v is released). */
static bool put(cbor_item_t *map, const char *k, cbor_item_t *v)
{
	cbor_item_t *key = cbor_build_string(k);
	bool ok = key != NULL && v != NULL && cbor_map_add(map, (struct cbor_pair){.key = key, .value = v});
	if (key != NULL)
		cbor_decref(&key);
	if (v != NULL)
		cbor_decref(&v);
	return ok;
}

static cbor_item_t *bytes_item(const uint8_t *p, size_t n)
{
	return n == 0 ? cbor_new_definite_bytestring() : cbor_build_bytestring(p, n);
}

static cbor_item_t *opt_item(const struct vt_nitro_bytes *b)
{
	return b->present ? bytes_item(b->data, b->len) : cbor_new_null();
}

/* Integers in their shortest form, as the NSM writes them (a1 01 38 22). */
static cbor_item_t *int_item(int64_t v)
{
	uint64_t u = v < 0 ? (uint64_t)(-1 - v) : (uint64_t)v;
	cbor_item_t *it = u <= UINT8_MAX ? cbor_build_uint8((uint8_t)u)
			  : u <= UINT16_MAX ? cbor_build_uint16((uint16_t)u)
			  : u <= UINT32_MAX ? cbor_build_uint32((uint32_t)u) : cbor_build_uint64(u);
	if (it != NULL && v < 0)
		cbor_mark_negint(it);
	return it;
}

static vt_status serialize(const cbor_item_t *it, uint8_t **out, size_t *out_len, struct vt_err *err)
{
	unsigned char *buf = NULL;
	size_t cap = 0, len = cbor_serialize_alloc(it, &buf, &cap);
	if (len == 0) {
		free(buf);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "nitro.build", "out of memory");
	}
	*out = buf;
	*out_len = len;
	return VT_OK;
}

static cbor_item_t *payload_map(const struct vt_nitro_doc_spec *s)
{
	cbor_item_t *m = s->indefinite ? cbor_new_indefinite_map() : cbor_new_definite_map(9);
	cbor_item_t *pcrs = cbor_new_definite_map(s->pcr_count);
	cbor_item_t *bundle = cbor_new_definite_array(s->cabundle_count);
	size_t pl = s->pcr_len ? s->pcr_len : VT_NITRO_PCR_SIZE;
	bool ok = m != NULL && pcrs != NULL && bundle != NULL;
	for (size_t i = 0; ok && i < s->pcr_count; i++) {
		cbor_item_t *k = cbor_build_uint8((uint8_t)s->pcrs[i].index);
		cbor_item_t *v = bytes_item(s->pcrs[i].value, pl);
		ok = k != NULL && v != NULL && cbor_map_add(pcrs, (struct cbor_pair){.key = k, .value = v});
		if (k != NULL)
			cbor_decref(&k);
		if (v != NULL)
			cbor_decref(&v);
	}
	for (size_t i = 0; ok && i < s->cabundle_count; i++) {
		cbor_item_t *c = bytes_item(s->cabundle[i].data, s->cabundle[i].len);
		ok = c != NULL && cbor_array_push(bundle, c);
		if (c != NULL)
			cbor_decref(&c);
	}
	if (ok) {
		cbor_item_t *ts = cbor_build_uint64(s->timestamp_ms);
		ok = put(m, "module_id", cbor_build_string(s->module_id ? s->module_id : "")) &&
		     put(m, "digest", cbor_build_string(s->digest ? s->digest : "SHA384")) && put(m, "timestamp", ts) &&
		     put(m, "pcrs", pcrs) &&
		     put(m, "certificate", bytes_item(s->certificate.data, s->certificate.len)) &&
		     put(m, "cabundle", bundle) && put(m, "public_key", opt_item(&s->public_key)) &&
		     put(m, "user_data", opt_item(&s->user_data)) && put(m, "nonce", opt_item(&s->nonce));
		pcrs = bundle = NULL; /* put() released them */
	}
	if (pcrs != NULL)
		cbor_decref(&pcrs);
	if (bundle != NULL)
		cbor_decref(&bundle);
	if (!ok && m != NULL)
		cbor_decref(&m);
	return ok ? m : NULL;
}

vt_status vt_nitro_doc_build(const struct vt_nitro_doc_spec *spec, EVP_PKEY *leaf_key, uint8_t **out,
			     size_t *out_len, struct vt_err *err)
{
	if (spec == NULL || leaf_key == NULL || out == NULL || out_len == NULL ||
	    (spec->pcr_count > 0 && spec->pcrs == NULL) || (spec->cabundle_count > 0 && spec->cabundle == NULL))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "nitro.build", "missing argument");
	vt_status rc = VT_OK;
	uint8_t prot[8], *payload = NULL, *tbs = NULL, *msg = NULL;
	size_t prot_len = 0, payload_len = 0, tbs_len = 0, msg_len = 0;
	uint8_t sig[2 * 66];
	size_t sig_len = sizeof(sig);
	cbor_item_t *pm = NULL, *arr = NULL, *ph = NULL, *alg = NULL;

	/* protected header {1: alg} */
	int64_t a = spec->alg ? spec->alg : VT_COSE_ALG_ES384;
	ph = cbor_new_definite_map(1);
	cbor_item_t *one = cbor_build_uint8(1);
	alg = int_item(a);
	bool ok = ph != NULL && one != NULL && alg != NULL && cbor_map_add(ph, (struct cbor_pair){.key = one, .value = alg});
	if (one != NULL)
		cbor_decref(&one);
	if (!ok || (prot_len = cbor_serialize(ph, prot, sizeof(prot))) == 0) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "nitro.build", "out of memory");
		goto out;
	}

	pm = payload_map(spec);
	if (pm == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "nitro.build", "out of memory");
		goto out;
	}
	VT_GUARD(serialize(pm, &payload, &payload_len, err));
	VT_GUARD(vt_cose_sig_structure(prot, prot_len, NULL, 0, payload, payload_len, &tbs, &tbs_len, err));
	const EVP_MD *md = vt_ec_coord_size(leaf_key) == 32 ? EVP_sha256()
			   : vt_ec_coord_size(leaf_key) == 66 ? EVP_sha512() : EVP_sha384();
	VT_GUARD(vt_ecdsa_sign_raw(leaf_key, md, tbs, tbs_len, sig, &sig_len, err));

	arr = cbor_new_definite_array(4);
	cbor_item_t *parts[4] = {bytes_item(prot, prot_len), cbor_new_definite_map(0), bytes_item(payload, payload_len),
				 bytes_item(sig, sig_len)};
	ok = arr != NULL;
	for (size_t i = 0; i < 4; i++) {
		ok = ok && parts[i] != NULL && cbor_array_push(arr, parts[i]);
		if (parts[i] != NULL)
			cbor_decref(&parts[i]);
	}
	if (!ok) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "nitro.build", "out of memory");
		goto out;
	}
	VT_GUARD(serialize(arr, &msg, &msg_len, err));
	*out = msg;
	*out_len = msg_len;
	msg = NULL;
out:
	if (ph != NULL)
		cbor_decref(&ph);
	if (alg != NULL)
		cbor_decref(&alg);
	if (pm != NULL)
		cbor_decref(&pm);
	if (arr != NULL)
		cbor_decref(&arr);
	free(payload);
	free(tbs);
	free(msg);
	return rc;
}
