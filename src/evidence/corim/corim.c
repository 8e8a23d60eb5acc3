/*
 * Signed CoRIM (draft-ietf-rats-corim §4, §5): the COSE_Sign1 envelope,
 * corim-meta and validity, the corim-map, and the results (JSON, the RVPS
 * message).  The CoMIDs inside are read by comid.c.
 *
 * Every CBOR item comes from vt_cbor_decode / vt_cose_sign1_parse (bounded,
 * definite lengths, unique map keys); the nested byte strings (the COSE
 * payload, corim-meta, each CoMID) are decoded the same way on their own.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/corim/corim_internal.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

/* COSE header labels of a signed CoRIM (draft-ietf-rats-corim §4.2). */
#define HDR_CORIM_META 8
#define HDR_CWT_CLAIMS 15 /* RFC 9597 */
#define SIGNER_FILE_MAX ((size_t)64 * 1024)

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "corim", "out of memory");
}

/* ------------------------------------------------------------------ helpers */

const cbor_item_t *corim_untag(const cbor_item_t *t, uint64_t want)
{
	if (t == NULL || !cbor_isa_tag(t) || cbor_tag_value(t) != want)
		return NULL;
	cbor_item_t *inner = cbor_tag_item(t); /* new reference; the tag keeps one */
	const cbor_item_t *r = inner;
	cbor_decref(&inner);
	return r;
}

bool corim_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n)
{
	if (it == NULL || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return false;
	*n = cbor_bytestring_length(it);
	*p = *n > 0 ? cbor_bytestring_handle(it) : (const uint8_t *)"";
	return true;
}

bool corim_text(const cbor_item_t *it, char *buf, size_t buf_size)
{
	if (it == NULL || !cbor_isa_string(it) || !cbor_string_is_definite(it))
		return false;
	size_t n = cbor_string_length(it);
	if (n >= buf_size || n > VT_CORIM_MAX_TEXT)
		return false;
	const unsigned char *s = cbor_string_handle(it);
	for (size_t i = 0; i < n; i++)
		buf[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
	buf[n] = '\0';
	return true;
}

bool corim_oid_text(const uint8_t *p, size_t n, char *buf, size_t buf_size)
{
	/* X.690 §8.19: base-128 subidentifiers, minimal (no leading 0x80); the
	 * first one packs the first two arcs. */
	size_t off = 0, used = 0;
	bool first = true;
	if (n == 0 || buf_size == 0)
		return false;
	while (off < n) {
		uint64_t v = 0;
		if (p[off] == 0x80)
			return false;
		for (;;) {
			if (off >= n || v > (UINT64_MAX >> 7))
				return false;
			uint8_t b = p[off++];
			v = (v << 7) | (b & 0x7f);
			if (!(b & 0x80))
				break;
		}
		int w;
		if (first) {
			unsigned a = v < 40 ? 0 : v < 80 ? 1 : 2;
			w = snprintf(buf + used, buf_size - used, "%u.%llu", a, (unsigned long long)(v - 40u * a));
			first = false;
		} else {
			w = snprintf(buf + used, buf_size - used, ".%llu", (unsigned long long)v);
		}
		if (w < 0 || (size_t)w >= buf_size - used)
			return false;
		used += (size_t)w;
	}
	return true;
}

void corim_uuid_text(const uint8_t *p, char *buf)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		buf[o++] = hx[p[i] >> 4];
		buf[o++] = hx[p[i] & 15];
	}
	buf[o] = '\0';
}

void corim_note(struct corim_ctx *x, const char *fmt, ...)
{
	if (json_array_size(x->c->notes) >= VT_CORIM_MAX_NOTES) {
		x->c->notes_dropped++;
		return;
	}
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(x->c->notes, json_string(buf));
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
			return false;
	return true;
}

vt_status corim_add(struct corim_ctx *x, const char *name, json_t *value, const char *source)
{
	if (value == NULL)
		return oom(x->err);
	if (!name_ok(name)) {
		json_decref(value);
		return vt_fail(x->err, VT_E_INTERNAL, VT_STEP_NONE, "corim", "reference value name \"%s\" not valid",
			       name);
	}
	json_t *list = json_object_get(x->c->values, name);
	if (list == NULL) {
		if (json_object_size(x->c->values) >= VT_CORIM_MAX_NAMES) {
			json_decref(value);
			return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, "corim",
				       "more than %d reference value names", VT_CORIM_MAX_NAMES);
		}
		list = json_array();
		if (list == NULL || json_object_set_new(x->c->values, name, list) != 0) {
			json_decref(value);
			return oom(x->err);
		}
	}
	for (size_t i = 0; i < json_array_size(list); i++)
		if (json_equal(json_array_get(list, i), value)) {
			json_decref(value);
			value = NULL;
			break;
		}
	if (value != NULL) {
		if (x->nvalues >= VT_CORIM_MAX_VALUES) {
			json_decref(value);
			return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, "corim", "more than %d reference values",
				       VT_CORIM_MAX_VALUES);
		}
		if (json_array_append_new(list, value) != 0)
			return oom(x->err);
		x->nvalues++;
	}
	/* Where the name's values came from: a few distinct lines are enough. */
	json_t *src = json_object_get(x->c->sources, name);
	if (src == NULL) {
		src = json_array();
		if (src == NULL || json_object_set_new(x->c->sources, name, src) != 0)
			return oom(x->err);
	}
	for (size_t i = 0; i < json_array_size(src); i++)
		if (strcmp(json_string_value(json_array_get(src, i)), source) == 0)
			return VT_OK;
	if (json_array_size(src) < 8 && json_array_append_new(src, json_string(source)) != 0)
		return oom(x->err);
	return VT_OK;
}

/* ----------------------------------------------------------------- validity */

/* time = #6.1(int) (draft-ietf-rats-corim §7.3; RFC 8949 §3.4.2). */
static vt_status parse_time(const cbor_item_t *it, const char *field, int64_t *out, struct vt_err *err)
{
	const cbor_item_t *v = corim_untag(it, CORIM_TAG_TIME);
	if (v == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "time is not tag 1 (epoch-based date/time)");
	if (!vt_cbor_int64(v, out))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
			       "time is not an integer number of seconds (fractional times are not accepted)");
	return VT_OK;
}

/* validity-map = {? 0: time (not-before), 1: time (not-after)} */
static vt_status parse_validity(const cbor_item_t *m, const char *field, struct vt_corim_validity *v,
				struct vt_err *err)
{
	vt_status rc;
	if (!cbor_isa_map(m))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "validity is not a map");
	struct cbor_pair *p = cbor_map_handle(m);
	for (size_t i = 0; i < cbor_map_size(m); i++) {
		int64_t k;
		if (!vt_cbor_int64(p[i].key, &k) || (k != 0 && k != 1))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "validity has a key other than 0 (not-before) and 1 (not-after)");
	}
	const cbor_item_t *nb = vt_cbor_map_get_int(m, 0), *na = vt_cbor_map_get_int(m, 1);
	if (na == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "validity lacks not-after (key 1)");
	if (nb != NULL) {
		rc = parse_time(nb, field, &v->not_before, err);
		if (rc != VT_OK)
			return rc;
		v->has_not_before = true;
	}
	rc = parse_time(na, field, &v->not_after, err);
	if (rc != VT_OK)
		return rc;
	v->has_not_after = true;
	if (v->has_not_before && v->not_before > v->not_after)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "validity: not-before is after not-after");
	return VT_OK;
}

static vt_status check_validity(const struct vt_corim_validity *v, int64_t now, vt_step step, const char *field,
				const char *what, struct vt_err *err)
{
	char a[40], b[40];
	vt_time_format_rfc3339(now, b, sizeof(b));
	if (v->has_not_before && now < v->not_before) {
		vt_time_format_rfc3339(v->not_before, a, sizeof(a));
		return vt_fail(err, VT_E_REJECTED, step, field, "%s is not valid before %s (checked at %s)", what, a, b);
	}
	if (v->has_not_after && now > v->not_after) {
		vt_time_format_rfc3339(v->not_after, a, sizeof(a));
		return vt_fail(err, VT_E_REJECTED, step, field, "%s expired at %s (checked at %s)", what, a, b);
	}
	return VT_OK;
}

/* ------------------------------------------------------------------ envelope */

static char *dup_text(const cbor_item_t *it)
{
	char buf[VT_CORIM_MAX_TEXT + 1];
	return corim_text(it, buf, sizeof(buf)) ? strdup(buf) : NULL;
}

/* corim-meta-map = {0: corim-signer-map, ? 1: validity-map}
 * corim-signer-map = {0: signer-name (text), ? 1: signer-uri (#6.32 text)} */
static vt_status parse_meta(struct corim_ctx *x, const cbor_item_t *h)
{
	struct vt_err *err = x->err;
	const uint8_t *p;
	size_t n;
	cbor_item_t *m = NULL;
	vt_status rc;
	if (!corim_bytes(h, &p, &n))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim-meta", "corim-meta (header 8) is not a byte string");
	VT_GUARD(vt_cbor_decode(p, n, 8, "corim-meta", &m, err));
	if (!cbor_isa_map(m)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim-meta", "corim-meta is not a map");
		goto out;
	}
	const cbor_item_t *signer = vt_cbor_map_get_int(m, 0), *val = vt_cbor_map_get_int(m, 1);
	if (signer == NULL || !cbor_isa_map(signer)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim-meta.signer", "corim-meta lacks the signer map (key 0)");
		goto out;
	}
	const cbor_item_t *name = vt_cbor_map_get_int(signer, 0), *uri = vt_cbor_map_get_int(signer, 1);
	if (name == NULL || (x->c->signer_name = dup_text(name)) == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim-meta.signer.name",
			     "signer-name is missing or not text of at most %d bytes", VT_CORIM_MAX_TEXT);
		goto out;
	}
	if (uri != NULL && (x->c->signer_uri = dup_text(corim_untag(uri, CORIM_TAG_URI))) == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim-meta.signer.uri", "signer-uri is not a tag-32 URI");
		goto out;
	}
	if (val != NULL)
		VT_GUARD(parse_validity(val, "corim-meta.validity", &x->c->signature_validity, err));
	rc = VT_OK;
out:
	if (m != NULL)
		cbor_decref(&m);
	return rc;
}

/* CWT claims header (RFC 9597): iss (1) names the signer, nbf (5) and exp (4)
 * bound the signature when corim-meta does not. */
static vt_status parse_cwt(struct corim_ctx *x, const cbor_item_t *m)
{
	struct vt_err *err = x->err;
	if (!cbor_isa_map(m))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected.cwt", "CWT claims (header 15) are not a map");
	const cbor_item_t *iss = vt_cbor_map_get_int(m, 1), *exp = vt_cbor_map_get_int(m, 4),
			  *nbf = vt_cbor_map_get_int(m, 5);
	if (iss != NULL && x->c->signer_name == NULL && (x->c->signer_name = dup_text(iss)) == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected.cwt.iss", "iss is not text");
	struct vt_corim_validity *v = &x->c->signature_validity;
	if (v->has_not_after || v->has_not_before)
		return VT_OK;
	if (exp != NULL) {
		if (!vt_cbor_int64(exp, &v->not_after))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected.cwt.exp", "exp is not an integer");
		v->has_not_after = true;
	}
	if (nbf != NULL) {
		if (!vt_cbor_int64(nbf, &v->not_before))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected.cwt.nbf", "nbf is not an integer");
		v->has_not_before = true;
	}
	return VT_OK;
}

/* "application/rim+cbor", optionally with parameters ("; profile=..."). */
static bool rim_content_type(const char *ct)
{
	static const char want[] = "application/rim+cbor";
	size_t n = sizeof(want) - 1;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	const char *rest = ct + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	return *rest == '\0' || *rest == ';';
}

static vt_status process_corim_map(struct corim_ctx *x, const cbor_item_t *m, int64_t now);

static vt_status decode_payload(struct corim_ctx *x, const uint8_t *p, size_t n, int64_t now)
{
	cbor_item_t *item = NULL;
	vt_status rc;
	VT_GUARD(vt_cbor_decode(p, n, 0, "corim.payload", &item, x->err));
	const cbor_item_t *m = corim_untag(item, VT_CORIM_TAG_UNSIGNED);
	if (m == NULL) {
		rc = cbor_isa_tag(item) ? vt_fail(x->err, VT_E_PARSE, VT_STEP_PARSE, "corim.payload",
						  "CBOR tag %llu where an unsigned CoRIM (tag 501) belongs",
						  (unsigned long long)cbor_tag_value(item))
					: vt_fail(x->err, VT_E_PARSE, VT_STEP_PARSE, "corim.payload",
						  "the signed payload is not an unsigned CoRIM (tag 501)");
		goto out;
	}
	rc = process_corim_map(x, m, now);
out:
	if (item != NULL)
		cbor_decref(&item);
	return rc;
}

static vt_status load_signed(struct corim_ctx *x, const uint8_t *data, size_t n, const struct vt_corim_opts *o)
{
	struct vt_err *err = x->err;
	struct vt_cose_sign1 s = {0};
	vt_status rc;
	x->c->form = "signed-corim";
	if (o->signer == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "signer",
			       "a signed CoRIM is verified with its signer's public key; none was given");
	VT_GUARD(vt_cose_sign1_parse(data, n, &s, err));
	if (!s.tagged) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose", "a signed CoRIM is a COSE_Sign1 tagged 18");
		goto out;
	}
	if (s.payload == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.payload", "detached payload: a signed CoRIM carries its CoRIM");
		goto out;
	}
	/* Everything we act on must be covered by the signature. */
	if (vt_cose_sign1_unprotected_get(&s, HDR_CORIM_META) != NULL ||
	    vt_cose_sign1_unprotected_get(&s, HDR_CWT_CLAIMS) != NULL ||
	    vt_cose_sign1_unprotected_get(&s, VT_COSE_HDR_CONTENT_TYPE) != NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.unprotected",
			     "corim-meta, CWT claims and the content type belong in the protected header");
		goto out;
	}
	const cbor_item_t *ct = vt_cose_sign1_protected_get(&s, VT_COSE_HDR_CONTENT_TYPE);
	x->c->content_type = ct ? dup_text(ct) : NULL;
	if (ct == NULL || x->c->content_type == NULL || !rim_content_type(x->c->content_type)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected.content-type",
			     "content type (header 3) must be the text \"application/rim+cbor\"");
		goto out;
	}
	const cbor_item_t *kid = vt_cose_sign1_protected_get(&s, VT_COSE_HDR_KID);
	if (kid == NULL)
		kid = vt_cose_sign1_unprotected_get(&s, VT_COSE_HDR_KID);
	const uint8_t *kp;
	size_t kn;
	if (kid != NULL && corim_bytes(kid, &kp, &kn) && kn <= 64 && (x->c->kid = vt_hex_encode(kp, kn)) == NULL) {
		rc = oom(err);
		goto out;
	}

	/* The key is the trust decision: check the signature before reading
	 * anything else the signer said. */
	VT_GUARD(vt_cose_sign1_verify(&s, o->signer, NULL, 0, err));
	x->c->verified = true;
	x->c->alg = s.alg;

	const cbor_item_t *meta = vt_cose_sign1_protected_get(&s, HDR_CORIM_META);
	const cbor_item_t *cwt = vt_cose_sign1_protected_get(&s, HDR_CWT_CLAIMS);
	if (meta != NULL)
		VT_GUARD(parse_meta(x, meta));
	if (cwt != NULL)
		VT_GUARD(parse_cwt(x, cwt));
	if (meta == NULL && cwt == NULL)
		corim_note(x, "no corim-meta (header 8) or CWT claims (header 15): signer unnamed, no signature validity");
	VT_GUARD(check_validity(&x->c->signature_validity, o->now, VT_STEP_SIGNATURE, "corim-meta.validity",
				"the CoRIM signature", err));
	rc = decode_payload(x, s.payload, s.payload_len, o->now);
out:
	vt_cose_sign1_free(&s);
	return rc;
}

/* ---------------------------------------------------------------- corim-map */

static enum corim_profile profile_of(const char *p)
{
	if (strcmp(p, CORIM_PROFILE_SNP_URI) == 0)
		return CORIM_PROFILE_SNP;
	if (strcmp(p, CORIM_PROFILE_CCA_PLATFORM_URI) == 0)
		return CORIM_PROFILE_CCA_PLATFORM;
	if (strcmp(p, CORIM_PROFILE_CCA_REALM_URI) == 0)
		return CORIM_PROFILE_CCA_REALM;
	if (strcmp(p, CORIM_PROFILE_TPM_URI) == 0)
		return CORIM_PROFILE_TPM;
	if (strcmp(p, CORIM_PROFILE_INTEL_OID) == 0)
		return CORIM_PROFILE_INTEL;
	return CORIM_PROFILE_UNKNOWN;
}

/* $profile-type-choice = #6.32(uri) / #6.111(oid) */
static vt_status parse_profile(struct corim_ctx *x, const cbor_item_t *it)
{
	char buf[VT_CORIM_MAX_TEXT + 1];
	const cbor_item_t *v;
	const uint8_t *p;
	size_t n;
	if ((v = corim_untag(it, CORIM_TAG_URI)) != NULL && corim_text(v, buf, sizeof(buf))) {
		/* a URI */
	} else if ((v = corim_untag(it, CORIM_TAG_OID)) != NULL && corim_bytes(v, &p, &n) &&
		   corim_oid_text(p, n, buf, CORIM_OID_MAX)) {
		/* an OID */
	} else {
		return vt_fail(x->err, VT_E_PARSE, VT_STEP_PARSE, "corim.profile",
			       "profile (key 3) is neither a tag-32 URI nor a tag-111 OID");
	}
	if ((x->c->profile = strdup(buf)) == NULL)
		return oom(x->err);
	x->profile = profile_of(buf);
	if (x->profile == CORIM_PROFILE_UNKNOWN)
		corim_note(x, "profile \"%s\" is not one veritee knows: only veritee's text keys and generic names apply",
			   buf);
	return VT_OK;
}

/* A tag of the tags list or a bare CoMID: #6.506(bstr .cbor concise-mid-tag)
 * (an untagged map or #6.506(map) for a bare one). */
static vt_status comid_from(struct corim_ctx *x, const cbor_item_t *it, size_t idx, const char *field)
{
	const uint8_t *p;
	size_t n;
	cbor_item_t *m = NULL;
	vt_status rc;
	if (corim_bytes(it, &p, &n)) {
		VT_GUARD(vt_cbor_decode(p, n, 0, field, &m, x->err));
		rc = corim_comid(x, m, idx);
	} else {
		rc = corim_comid(x, it, idx);
	}
	if (rc == VT_OK)
		x->c->comids++;
out:
	if (m != NULL)
		cbor_decref(&m);
	return rc;
}

/* corim-map = {0: id, 1: [+ tag], ? 2: dependent-rims, ? 3: profile,
 *              ? 4: rim-validity, ? 5: entities, * extensions} */
static vt_status process_corim_map(struct corim_ctx *x, const cbor_item_t *m, int64_t now)
{
	struct vt_err *err = x->err;
	vt_status rc = VT_OK;
	char buf[VT_CORIM_MAX_TEXT + 1], field[CORIM_PATH_MAX];
	const uint8_t *p;
	size_t n;
	if (!cbor_isa_map(m))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim", "corim-map is not a map");
	const cbor_item_t *id = vt_cbor_map_get_int(m, 0), *tags = vt_cbor_map_get_int(m, 1),
			  *deps = vt_cbor_map_get_int(m, 2), *prof = vt_cbor_map_get_int(m, 3),
			  *val = vt_cbor_map_get_int(m, 4);
	if (id != NULL && corim_text(id, buf, sizeof(buf))) {
		x->c->id = strdup(buf);
	} else if (id != NULL && corim_bytes(id, &p, &n) && n == 16) {
		corim_uuid_text(p, buf);
		x->c->id = strdup(buf);
	} else {
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim.id",
			       "corim-id (key 0) is missing, or neither text nor a 16-byte UUID");
	}
	if (x->c->id == NULL)
		return oom(err);
	if (prof != NULL && (rc = parse_profile(x, prof)) != VT_OK)
		return rc;
	if (val != NULL) {
		rc = parse_validity(val, "corim.rim-validity", &x->c->rim_validity, err);
		if (rc == VT_OK)
			rc = check_validity(&x->c->rim_validity, now, VT_STEP_COLLATERAL, "corim.rim-validity",
					    "the CoRIM (rim-validity)", err);
		if (rc != VT_OK)
			return rc;
	}
	if (deps != NULL)
		corim_note(x, "dependent-rims (key 2) are not fetched: import each CoRIM on its own");
	if (tags == NULL || !cbor_isa_array(tags) || cbor_array_size(tags) == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim.tags", "tags (key 1) is missing or an empty array");
	if (cbor_array_size(tags) > VT_CORIM_MAX_TAGS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "corim.tags", "%zu tags, at most %d accepted",
			       cbor_array_size(tags), VT_CORIM_MAX_TAGS);
	cbor_item_t **t = cbor_array_handle(tags);
	for (size_t i = 0; i < cbor_array_size(tags) && rc == VT_OK; i++) {
		snprintf(field, sizeof(field), "corim.tags[%zu]", i);
		if (!cbor_isa_tag(t[i]))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "a tags entry is not a CBOR tag");
		uint64_t tv = cbor_tag_value(t[i]);
		if (tv == VT_CORIM_TAG_COMID) {
			const cbor_item_t *in = corim_untag(t[i], VT_CORIM_TAG_COMID);
			if (!cbor_isa_bytestring(in))
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
					       "a CoMID in a CoRIM is a byte string (tag 506 around bstr .cbor)");
			rc = comid_from(x, in, i, field);
		} else if (tv == VT_CORIM_TAG_COSWID) {
			corim_note(x, "%s: CoSWID (tag 505) ignored: software identities are not reference values", field);
		} else {
			corim_note(x, "%s: tag %llu ignored (not a CoMID)", field, (unsigned long long)tv);
		}
	}
	return rc;
}

/* -------------------------------------------------------------------- entry */

void vt_corim_free(struct vt_corim *c)
{
	if (c == NULL)
		return;
	free(c->kid);
	free(c->content_type);
	free(c->id);
	free(c->profile);
	free(c->signer_name);
	free(c->signer_uri);
	json_decref(c->values);
	json_decref(c->sources);
	json_decref(c->notes);
	free(c);
}

vt_status vt_corim_load(const uint8_t *data, size_t n, const struct vt_corim_opts *opts, struct vt_corim **out,
			struct vt_err *err)
{
	if (out == NULL || opts == NULL || (data == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "corim", "missing argument");
	*out = NULL;
	if (n == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim", "empty input");
	if (n > VT_CORIM_MAX_SIZE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "corim", "CoRIM of %zu bytes, at most %zu accepted", n,
			       VT_CORIM_MAX_SIZE);
	struct vt_corim *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return oom(err);
	c->values = json_object();
	c->sources = json_object();
	c->notes = json_array();
	cbor_item_t *top = NULL;
	struct corim_ctx x = {.c = c, .err = err};
	vt_status rc;
	if (c->values == NULL || c->sources == NULL || c->notes == NULL) {
		rc = oom(err);
		goto out;
	}

	/* libcbor 0.8 does not decode the one-byte tag 18 (0xd2): the COSE
	 * parser takes that byte off itself. */
	if (data[0] == (0xc0 | VT_COSE_TAG_SIGN1)) {
		rc = load_signed(&x, data, n, opts);
		goto out;
	}
	VT_GUARD(vt_cbor_decode(data, n, 0, "corim", &top, err));
	if (cbor_isa_tag(top) && cbor_tag_value(top) == VT_COSE_TAG_SIGN1) {
		rc = load_signed(&x, data, n, opts);
		goto out;
	}
	if (cbor_isa_array(top)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose",
			     "an untagged array: a signed CoRIM is a COSE_Sign1 tagged 18");
		goto out;
	}
	bool is_corim = cbor_isa_tag(top) && cbor_tag_value(top) == VT_CORIM_TAG_UNSIGNED;
	bool is_comid = cbor_isa_map(top) || (cbor_isa_tag(top) && cbor_tag_value(top) == VT_CORIM_TAG_COMID);
	if (!is_corim && !is_comid) {
		rc = cbor_isa_tag(top) ? vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim",
						 "CBOR tag %llu: not a signed CoRIM (18), a CoRIM (501) or a CoMID (506)",
						 (unsigned long long)cbor_tag_value(top))
				       : vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "corim",
						 "not a signed CoRIM (tag 18), a CoRIM (tag 501) or a CoMID");
		goto out;
	}
	c->form = is_corim ? "unsigned-corim" : "comid";
	if (!opts->allow_unsigned) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "corim",
			     "%s is not signed: only a signed CoRIM (COSE_Sign1, tag 18) is imported "
			     "(inspect it with `veritee corim show --unsigned`)",
			     is_corim ? "this CoRIM (tag 501)" : "this CoMID");
		goto out;
	}
	if (is_corim)
		rc = process_corim_map(&x, corim_untag(top, VT_CORIM_TAG_UNSIGNED), opts->now);
	else
		rc = comid_from(&x, cbor_isa_tag(top) ? corim_untag(top, VT_CORIM_TAG_COMID) : top, 0, "comid");
out:
	if (top != NULL)
		cbor_decref(&top);
	if (rc != VT_OK) {
		vt_corim_free(c);
		return rc;
	}
	if (json_object_size(c->values) == 0 && c->comids > 0)
		json_array_append_new(c->notes, json_string("no reference value of this CoRIM maps to a veritee name"));
	*out = c;
	return VT_OK;
}

/* ------------------------------------------------------------------- output */

static json_t *validity_json(const struct vt_corim_validity *v)
{
	char a[40], b[40];
	if (!v->has_not_before && !v->has_not_after)
		return NULL;
	if (v->has_not_before)
		vt_time_format_rfc3339(v->not_before, a, sizeof(a));
	if (v->has_not_after)
		vt_time_format_rfc3339(v->not_after, b, sizeof(b));
	return json_pack("{s:s?, s:s?}", "not_before", v->has_not_before ? a : NULL, "not_after",
			 v->has_not_after ? b : NULL);
}

json_t *vt_corim_to_json(const struct vt_corim *c)
{
	if (c == NULL)
		return NULL;
	json_t *signer = NULL;
	if (c->signer_name != NULL || c->signer_uri != NULL)
		signer = json_pack("{s:s?, s:s?}", "name", c->signer_name, "uri", c->signer_uri);
	json_t *notes = json_deep_copy(c->notes);
	if (notes != NULL && c->notes_dropped > 0) {
		char buf[64];
		snprintf(buf, sizeof(buf), "... and %zu more notes", c->notes_dropped);
		json_array_append_new(notes, json_string(buf));
	}
	json_t *j = json_pack("{s:s, s:b, s:s?, s:s?, s:s?, s:s?, s:o?, s:o?, s:o?, s:I, s:O, s:O, s:o?}", "form",
			      c->form ? c->form : "", "verified", c->verified, "id", c->id, "profile", c->profile,
			      "kid", c->kid, "content_type", c->content_type, "signer", signer,
			      "signature_validity", validity_json(&c->signature_validity), "rim_validity",
			      validity_json(&c->rim_validity), "comids", (json_int_t)c->comids, "reference_values",
			      c->values, "sources", c->sources, "notes", notes);
	if (j != NULL && c->alg != 0)
		json_object_set_new(j, "alg", json_integer(c->alg));
	return j;
}

char *vt_corim_rvps_message(const struct vt_corim *c)
{
	if (c == NULL)
		return NULL;
	char *payload = vt_json_compact(c->values);
	char *b64 = payload ? vt_b64_encode((const uint8_t *)payload, strlen(payload)) : NULL;
	json_t *msg = b64 ? json_pack("{s:s, s:s, s:s}", "version", "0.1.0", "type", "sample", "payload", b64) : NULL;
	char *body = msg ? vt_json_compact(msg) : NULL;
	json_decref(msg);
	free(b64);
	free(payload);
	return body;
}

/* ------------------------------------------------------------------- signer */

static vt_status signer_fail(struct vt_err *err, vt_status code, const char *what, const struct vt_err *inner)
{
	if (code == VT_E_NOMEM)
		return oom(err);
	return vt_fail(err, code, VT_STEP_CONFIG, "signer", "%s%s%s", what, inner && inner->detail[0] ? ": " : "",
		       inner ? inner->detail : "");
}

static vt_status signer_from_jwk(const json_t *jwk, EVP_PKEY **out, struct vt_err *err)
{
	struct vt_err inner = {0};
	if (!json_is_object(jwk))
		return signer_fail(err, VT_E_PARSE, "the signer JWK is not an object", NULL);
	vt_status rc = vt_jwk_to_key(jwk, false, out, &inner);
	return rc == VT_OK ? VT_OK : signer_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE, "bad signer JWK", &inner);
}

vt_status vt_corim_signer_from_bytes(const uint8_t *p, size_t n, EVP_PKEY **out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "signer", "missing argument");
	*out = NULL;
	if (n > SIGNER_FILE_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, "signer", "signer key file of %zu bytes", n);
	size_t i = 0;
	while (i < n && isspace(p[i]))
		i++;
	struct vt_err inner = {0};
	EVP_PKEY *k = NULL;
	vt_status rc;
	if (n - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0) {
		static const char cert[] = "-----BEGIN CERTIFICATE-----";
		if (n - i >= sizeof(cert) - 1 && memcmp(p + i, cert, sizeof(cert) - 1) == 0) {
			BIO *bio = n <= INT32_MAX ? BIO_new_mem_buf(p, (int)n) : NULL;
			X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
			k = x ? X509_get_pubkey(x) : NULL;
			X509_free(x);
			BIO_free(bio);
			if (k == NULL)
				return signer_fail(err, VT_E_PARSE, "bad signer certificate (PEM)", NULL);
		} else {
			rc = vt_key_from_pem((const char *)p, n, false, &k, &inner);
			if (rc != VT_OK)
				return signer_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE,
						   "bad signer PEM (want a public key or a certificate)", &inner);
		}
	} else {
		json_t *j = NULL;
		rc = vt_json_parse((const char *)p, n, SIGNER_FILE_MAX, &j, &inner);
		if (rc != VT_OK)
			return signer_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE,
					   "the signer key file is neither PEM nor JSON (a JWK or a JWK set)", &inner);
		const json_t *keys = json_object_get(j, "keys");
		if (json_is_array(keys)) {
			if (json_array_size(keys) != 1)
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "signer",
					     "the JWK set holds %zu keys; give the one key of this signer",
					     json_array_size(keys));
			else
				rc = signer_from_jwk(json_array_get(keys, 0), &k, err);
		} else {
			rc = signer_from_jwk(j, &k, err);
		}
		json_decref(j);
		if (rc != VT_OK)
			return rc;
	}
	if (vt_ec_coord_size(k) == 0) {
		EVP_PKEY_free(k);
		return signer_fail(err, VT_E_PARSE, "the signer key is not an EC key (ES256, ES384 or ES512)", NULL);
	}
	*out = k;
	return VT_OK;
}

vt_status vt_corim_signer_load(const char *path, EVP_PKEY **out, struct vt_err *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	if (path == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "signer", "missing signer key path");
	vt_status rc = vt_file_read(path, SIGNER_FILE_MAX, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_corim_signer_from_bytes(b, n, out, err);
	vt_wipe(b, n); /* a JWK may carry the private key too */
	free(b);
	return rc;
}
