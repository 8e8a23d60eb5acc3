/*
 * IBM Secure Execution: the verifier's trust (trusted SE headers, ARPKs,
 * optionally Trustee's RSA key) and the verification of SE evidence.
 * veritee/se.h lists the steps and claims; this file follows that order:
 * parse -> keys (ARCB unwrap or RSA) -> measurement (HMAC over a trusted
 * header's tags) -> binding (nonce requested, host-key hashes, user data)
 * -> claims.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "veritee/se.h"
#include "veritee/util.h"

struct se_header {
	uint8_t tags[VT_SE_TAGS_SIZE];
	uint64_t pcf;
	size_t nks;
	uint8_t *phkh; /* nks * 32 */
};

struct vt_se_trust {
	size_t header_count;
	struct se_header headers[VT_SE_MAX_HEADERS];
	size_t arpk_count;
	struct vt_secret *arpks[VT_SE_MAX_ARPKS];
	EVP_PKEY *rsa_insecure;
};

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* ------------------------------------------------------------ trust */

vt_status vt_se_trust_new(struct vt_se_trust **out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*out = calloc(1, sizeof(**out));
	return *out ? VT_OK : oom(err);
}

void vt_se_trust_free(struct vt_se_trust *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->header_count; i++)
		free(t->headers[i].phkh);
	for (size_t i = 0; i < t->arpk_count; i++)
		vt_secret_free(t->arpks[i]);
	EVP_PKEY_free(t->rsa_insecure);
	free(t);
}

vt_status vt_se_trust_add_header(struct vt_se_trust *t, const uint8_t *p, size_t n, struct vt_err *err)
{
	if (t == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (t->header_count >= VT_SE_MAX_HEADERS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, "se_headers", "more than %d trusted SE headers",
			       VT_SE_MAX_HEADERS);
	struct vt_se_hdr h;
	vt_status rc = vt_se_hdr_parse(p, n, &h, err);
	if (rc != VT_OK)
		return rc;
	struct se_header *s = &t->headers[t->header_count];
	s->phkh = malloc((size_t)h.nks * VT_SE_PHKH_SIZE);
	if (s->phkh == NULL)
		return oom(err);
	for (size_t i = 0; i < h.nks; i++)
		memcpy(s->phkh + i * VT_SE_PHKH_SIZE, h.keyslots + i * VT_SE_KEYSLOT_SIZE, VT_SE_PHKH_SIZE);
	s->nks = (size_t)h.nks;
	s->pcf = h.pcf;
	vt_se_hdr_tags(&h, s->tags);
	t->header_count++;
	return VT_OK;
}

vt_status vt_se_trust_add_arpk(struct vt_se_trust *t, const uint8_t arpk[VT_SE_ARPK_SIZE], struct vt_err *err)
{
	if (t == NULL || arpk == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (t->arpk_count >= VT_SE_MAX_ARPKS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, "arpk", "more than %d ARPKs", VT_SE_MAX_ARPKS);
	struct vt_secret *s = vt_secret_from(arpk, VT_SE_ARPK_SIZE);
	if (s == NULL)
		return oom(err);
	t->arpks[t->arpk_count++] = s;
	return VT_OK;
}

vt_status vt_se_trust_set_rsa_key_insecure(struct vt_se_trust *t, EVP_PKEY *key, struct vt_err *err)
{
	if (t == NULL || key == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "measurement_rsa_key_insecure", "not an RSA private key");
	if (!EVP_PKEY_up_ref(key))
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "measurement_rsa_key_insecure", "OpenSSL: up_ref failed");
	EVP_PKEY_free(t->rsa_insecure);
	t->rsa_insecure = key;
	return VT_OK;
}

/* ------------------------------------------------------------ evidence */

struct se_blob {
	uint8_t *p;
	size_t n;
	bool present;
};

struct se_evidence {
	struct se_blob measurement, additional, user_data, cuid, encr_key, encr_nonce, tags, arcb;
};

static void evidence_free(struct se_evidence *e)
{
	struct se_blob *b[] = {&e->measurement, &e->additional, &e->user_data, &e->cuid,
			       &e->encr_key,    &e->encr_nonce, &e->tags,      &e->arcb};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		free(b[i]->p);
	memset(e, 0, sizeof(*e));
}

struct member {
	const char *name;
	size_t offset; /* of its se_blob in struct se_evidence */
	bool required;
	size_t min, max; /* decoded size */
};

static const struct member MEMBERS[] = {
	{"measurement", offsetof(struct se_evidence, measurement), true, VT_SE_MEASUREMENT_SIZE, VT_SE_MEASUREMENT_SIZE},
	{"additional_data", offsetof(struct se_evidence, additional), true, 0, VT_SE_ADDITIONAL_MAX},
	{"user_data", offsetof(struct se_evidence, user_data), true, 0, VT_SE_USER_DATA_MAX},
	{"cuid", offsetof(struct se_evidence, cuid), true, VT_SE_CUID_SIZE, VT_SE_CUID_SIZE},
	{"encr_measurement_key", offsetof(struct se_evidence, encr_key), false, 0, 1024},
	{"encr_request_nonce", offsetof(struct se_evidence, encr_nonce), false, 0, 1024},
	{"image_hdr_tags", offsetof(struct se_evidence, tags), false, VT_SE_TAGS_SIZE, VT_SE_TAGS_SIZE},
	{"request_blob", offsetof(struct se_evidence, arcb), false, 0, VT_SE_ARCB_MAX},
};

static vt_status evidence_parse(const json_t *ev, struct se_evidence *e, struct vt_err *err)
{
	memset(e, 0, sizeof(*e));
	if (!json_is_object(ev))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "se evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)ev, key, value) {
		bool known = false;
		for (size_t i = 0; i < sizeof(MEMBERS) / sizeof(MEMBERS[0]) && !known; i++)
			known = strcmp(key, MEMBERS[i].name) == 0;
		if (!known)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	for (size_t i = 0; i < sizeof(MEMBERS) / sizeof(MEMBERS[0]); i++) {
		const struct member *m = &MEMBERS[i];
		struct se_blob *b = (struct se_blob *)((char *)e + m->offset);
		json_t *v = json_object_get(ev, m->name);
		if (v == NULL) {
			if (m->required)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, m->name, "member \"%s\" is missing", m->name);
			continue;
		}
		if (!json_is_string(v))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, m->name, "\"%s\" is not a base64 string", m->name);
		size_t slen = json_string_length(v);
		if (slen > 4 * ((m->max + 2) / 3))
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, m->name, "\"%s\": %zu base64 characters, at most %zu bytes",
				       m->name, slen, m->max);
		vt_status rc = vt_b64_decode(json_string_value(v), slen, &b->p, &b->n, err);
		if (rc != VT_OK) {
			if (err != NULL && err->step == VT_STEP_PARSE)
				snprintf(err->field, sizeof(err->field), "%s", m->name);
			return rc;
		}
		b->present = true;
		if (b->n < m->min || b->n > m->max)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, m->name, "\"%s\" is %zu bytes (%zu..%zu accepted)",
				       m->name, b->n, m->min, m->max);
	}
	return VT_OK;
}

/* ------------------------------------------------------------ keys */

struct se_keys {
	struct vt_se_arcb_secrets s;
	bool from_arcb;
	uint64_t flags; /* of the ARCB, or Trustee's fixed flags for the RSA path */
	struct vt_se_arcb arcb;
};

static vt_status keys_from_arcb(const struct vt_se_trust *t, const struct se_evidence *e, struct se_keys *k,
				struct vt_err *err)
{
	vt_status rc = vt_se_arcb_parse(e->arcb.p, e->arcb.n, &k->arcb, err);
	if (rc != VT_OK)
		return rc;
	k->flags = k->arcb.flags;
	k->from_arcb = true;
	uint32_t want = vt_se_additional_size(k->flags);
	if (e->additional.n != want)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "additional_data",
			       "%zu bytes of additional data; the request's flags ask for %u", e->additional.n, want);
	/* GCM authenticates under at most one of them: try each. */
	for (size_t i = 0; i < t->arpk_count; i++) {
		struct vt_err inner;
		vt_err_clear(&inner);
		rc = vt_se_arcb_unwrap(&k->arcb, t->arpks[i]->data, &k->s, &inner);
		if (rc == VT_OK)
			return VT_OK;
		if (rc != VT_E_REJECTED) {
			if (err != NULL)
				*err = inner;
			return rc;
		}
	}
	return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "arcb.tag",
		       "the attestation request (request_blob) does not authenticate under any of the %zu configured "
		       "ARPK(s): it is not one this verifier made",
		       t->arpk_count);
}

/* Trustee's path: RSA PKCS#1 v1.5 (deps/verifier/src/se/ibmse.rs decrypt).
 * Every failure reads the same, so that the error is no padding oracle. */
static vt_status rsa_decrypt(EVP_PKEY *key, const struct se_blob *in, uint8_t *out, size_t want, struct vt_err *err)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
	size_t cap = (size_t)EVP_PKEY_get_size(key);
	uint8_t *buf = cap ? malloc(cap) : NULL;
	size_t len = cap;
	bool ok = c != NULL && buf != NULL && in->n > 0 && EVP_PKEY_decrypt_init(c) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
		  EVP_PKEY_decrypt(c, buf, &len, in->p, in->n) == 1 && len == want;
	if (ok)
		memcpy(out, buf, want);
	if (buf != NULL)
		OPENSSL_clear_free(buf, cap);
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "encr_measurement_key",
			       "the RSA key does not recover a 64-byte measurement key and a 16-byte nonce");
	return VT_OK;
}

static vt_status keys_from_rsa(const struct vt_se_trust *t, const struct se_evidence *e, struct se_keys *k,
			       struct vt_err *err)
{
	/* Trustee's challenge always asks for both host-key hashes and a nonce. */
	k->flags = VT_SE_FLAG_NONCE | VT_SE_FLAG_IMAGE_PHKH | VT_SE_FLAG_ATTEST_PHKH;
	uint32_t want = vt_se_additional_size(k->flags);
	if (e->additional.n != want)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "additional_data",
			       "%zu bytes of additional data; Trustee's request asks for %u", e->additional.n, want);
	vt_status rc = rsa_decrypt(t->rsa_insecure, &e->encr_key, k->s.meas_key, VT_SE_MEAS_KEY_SIZE, err);
	if (rc == VT_OK)
		rc = rsa_decrypt(t->rsa_insecure, &e->encr_nonce, k->s.nonce, VT_SE_NONCE_SIZE, err);
	k->s.has_nonce = rc == VT_OK;
	return rc;
}

static vt_status get_keys(const struct vt_se_trust *t, const struct se_evidence *e, struct se_keys *k,
			  struct vt_err *err)
{
	if (e->arcb.present && t->arpk_count > 0)
		return keys_from_arcb(t, e, k, err);
	if (e->encr_key.present && e->encr_nonce.present && t->rsa_insecure != NULL)
		return keys_from_rsa(t, e, k, err);
	const char *why = e->arcb.present
				  ? "its attestation request (request_blob) needs an ARPK, and none is configured (arpk)"
			  : t->rsa_insecure != NULL
				  ? "it carries neither an attestation request (request_blob) nor Trustee's encrypted key and nonce"
				  : "it carries no attestation request (request_blob)";
	return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "request_blob",
		       "no measurement key for this evidence: %s", why);
}

/* ------------------------------------------------------------ checks */

static const struct se_header *check_measurement(const struct vt_se_trust *t, const struct se_evidence *e,
						 const struct se_keys *k, vt_status *rc, struct vt_err *err)
{
	struct vt_se_measurement_input in = {
		.cuid = e->cuid.p,
		.user_data = e->user_data.p,
		.user_data_size = e->user_data.n,
		.nonce = k->s.has_nonce ? k->s.nonce : NULL,
		.additional = e->additional.p,
		.additional_size = e->additional.n,
	};
	size_t tried = 0;
	for (size_t i = 0; i < t->header_count; i++) {
		const struct se_header *h = &t->headers[i];
		/* Tags named by the evidence only pick the header; they are public. */
		if (e->tags.present && memcmp(e->tags.p, h->tags, VT_SE_TAGS_SIZE) != 0)
			continue;
		uint8_t m[VT_SE_MEASUREMENT_SIZE];
		in.tags = h->tags;
		tried++;
		*rc = vt_se_measurement(k->s.meas_key, VT_SE_MEAS_KEY_SIZE, &in, m, err);
		if (*rc != VT_OK)
			return NULL;
		bool same = CRYPTO_memcmp(m, e->measurement.p, VT_SE_MEASUREMENT_SIZE) == 0;
		vt_wipe(m, sizeof(m));
		if (same)
			return h;
	}
	if (tried == 0)
		*rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "image_hdr_tags",
			      "the evidence names the tags of an SE image whose header the verifier does not trust");
	else
		*rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "measurement",
			      "the attestation measurement does not verify (HMAC-SHA512 over %s)",
			      e->tags.present ? "the named trusted header" : "each trusted header");
	return NULL;
}

static bool phkh_in(const uint8_t *hash, const uint8_t *list, size_t count, size_t stride)
{
	for (size_t i = 0; i < count; i++)
		if (memcmp(hash, list + i * stride, VT_SE_PHKH_SIZE) == 0) /* public hashes */
			return true;
	return false;
}

/* Views into the additional data, in flag order. */
struct se_additional {
	const uint8_t *image_phkh, *attest_phkh, *secret_store_hash, *firmware_state;
};

static void split_additional(const struct se_evidence *e, uint64_t flags, struct se_additional *a)
{
	const uint8_t *p = e->additional.p;
	memset(a, 0, sizeof(*a));
	if (flags & VT_SE_FLAG_IMAGE_PHKH) {
		a->image_phkh = p;
		p += VT_SE_PHKH_SIZE;
	}
	if (flags & VT_SE_FLAG_ATTEST_PHKH) {
		a->attest_phkh = p;
		p += VT_SE_PHKH_SIZE;
	}
	if (flags & VT_SE_FLAG_SECRET_STORE_HASH) {
		a->secret_store_hash = p;
		p += 64;
	}
	if (flags & VT_SE_FLAG_FIRMWARE_STATE)
		a->firmware_state = p;
}

static vt_status hex_mismatch(struct vt_err *err, const char *field, const char *what, const uint8_t *want,
			      size_t want_n, const uint8_t *seen, size_t seen_n)
{
	char *hw = vt_hex_encode(want, want_n), *hs = vt_hex_encode(seen, seen_n);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, field, "%s: expected %s, seen %s", what,
			       hw ? hw : "?", hs ? hs : "?");
	free(hw);
	free(hs);
	return rc;
}

static vt_status check_binding(const struct se_evidence *e, const struct se_keys *k, const struct se_header *h,
			       const struct se_additional *a, const struct vt_binding *binding, struct vt_err *err)
{
	if (!k->s.has_nonce)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "arcb.flags",
			       "the attestation request asks for no nonce (flag bit 1); veritee requires one, as "
			       "pvattest and Trustee do");
	if (a->attest_phkh != NULL && k->from_arcb &&
	    !phkh_in(a->attest_phkh, k->arcb.keyslots, k->arcb.nks, VT_SE_KEYSLOT_SIZE))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "additional_data.attestation_phkh",
			       "the host key that unpacked the request is not one of its key slots");
	if (a->image_phkh != NULL && !phkh_in(a->image_phkh, h->phkh, h->nks, VT_SE_PHKH_SIZE))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "additional_data.image_phkh",
			       "the host key that unpacked the image is not one of the SE header's key slots");
	if (binding == NULL || binding->report_data == NULL)
		return VT_OK;
	if (binding->report_data_size > VT_SE_REPORT_DATA_SIZE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "user_data",
			       "expected report data is %zu bytes, at most %d fit", binding->report_data_size,
			       VT_SE_REPORT_DATA_SIZE);
	uint8_t want[VT_SE_REPORT_DATA_SIZE] = {0};
	memcpy(want, binding->report_data, binding->report_data_size);
	/* Trustee: regularize_data(expected, 64), then user_data[..64]; public values. */
	if (e->user_data.n >= sizeof(want) && memcmp(want, e->user_data.p, sizeof(want)) == 0)
		return VT_OK;
	return hex_mismatch(err, "user_data", "the user data does not carry the expected binding", want, sizeof(want),
			    e->user_data.p, e->user_data.n < sizeof(want) ? e->user_data.n : sizeof(want));
}

/* ------------------------------------------------------------ claims */

static vt_status put(json_t *o, const char *k, json_t *v, struct vt_err *err)
{
	if (v == NULL || json_object_set_new(o, k, v) != 0)
		return oom(err);
	return VT_OK;
}

static json_t *hexj(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	json_t *j = h ? json_string(h) : NULL;
	free(h);
	return j;
}

static vt_status make_claims(const struct se_evidence *e, const struct se_keys *k, const struct se_header *h,
			     const struct se_additional *a, json_t **out, struct vt_err *err)
{
	vt_status rc;
	json_t *c = json_object();
	char buf[17];
	if (c == NULL)
		return oom(err);
	/* Trustee's SeAttestationClaims */
	VT_GUARD(put(c, "cuid", hexj(e->cuid.p, e->cuid.n), err));
	VT_GUARD(put(c, "report_data",
		     hexj(e->user_data.p, e->user_data.n < VT_SE_REPORT_DATA_SIZE ? e->user_data.n : VT_SE_REPORT_DATA_SIZE),
		     err));
	VT_GUARD(put(c, "version", json_integer(VT_SE_VERSION_1), err));
	if (a->image_phkh)
		VT_GUARD(put(c, "image_phkh", hexj(a->image_phkh, VT_SE_PHKH_SIZE), err));
	if (a->attest_phkh)
		VT_GUARD(put(c, "attestation_phkh", hexj(a->attest_phkh, VT_SE_PHKH_SIZE), err));
	VT_GUARD(put(c, "tag", hexj(h->tags + 3 * VT_SE_DIGEST_SIZE, 16), err));
	/* veritee's */
	VT_GUARD(put(c, "user_data", hexj(e->user_data.p, e->user_data.n), err));
	VT_GUARD(put(c, "pld", hexj(h->tags, VT_SE_DIGEST_SIZE), err));
	VT_GUARD(put(c, "ald", hexj(h->tags + VT_SE_DIGEST_SIZE, VT_SE_DIGEST_SIZE), err));
	VT_GUARD(put(c, "tld", hexj(h->tags + 2 * VT_SE_DIGEST_SIZE, VT_SE_DIGEST_SIZE), err));
	snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)h->pcf);
	VT_GUARD(put(c, "pcf", json_string(buf), err));
	if (k->from_arcb) {
		snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)k->flags);
		VT_GUARD(put(c, "attestation_flags", json_string(buf), err));
	}
	if (a->secret_store_hash)
		VT_GUARD(put(c, "secret_store_hash", hexj(a->secret_store_hash, 64), err));
	if (a->firmware_state)
		VT_GUARD(put(c, "firmware_state", hexj(a->firmware_state, 320), err));
	VT_GUARD(put(c, "key_source", json_string(k->from_arcb ? "arcb" : "trustee-rsa-insecure"), err));
	*out = c;
	c = NULL;
out:
	json_decref(c);
	return rc;
}

/* ------------------------------------------------------------ verify */

vt_status vt_se_verify(const struct vt_se_trust *t, const json_t *evidence, const struct vt_binding *binding,
		       json_t **claims_out, struct vt_err *err)
{
	if (evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct se_evidence e;
	struct se_keys k;
	struct se_additional a;
	memset(&k, 0, sizeof(k));
	vt_status rc;

	/* parse */
	VT_GUARD(evidence_parse(evidence, &e, err));
	if (t == NULL || t->header_count == 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CONFIG, "se_headers",
			     "se evidence refused: no SE trust configured (se_headers and arpk)");
		goto out;
	}

	/* signature: the keys, then the measurement */
	VT_GUARD(get_keys(t, &e, &k, err));
	const struct se_header *h = check_measurement(t, &e, &k, &rc, err);
	if (h == NULL)
		goto out;

	/* binding */
	split_additional(&e, k.flags, &a);
	VT_GUARD(check_binding(&e, &k, h, &a, binding, err));

	VT_GUARD(make_claims(&e, &k, h, &a, claims_out, err));
out:
	vt_wipe(&k.s, sizeof(k.s));
	evidence_free(&e);
	return rc;
}
