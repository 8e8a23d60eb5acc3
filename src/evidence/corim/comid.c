/*
 * CoMID reference values (draft-ietf-rats-corim §5) and the names they get.
 *
 *   concise-mid-tag = {? 0: language, 1: tag-identity, ? 2: entities,
 *                      ? 3: linked-tags, 4: triples-map}
 *   triples-map     = {? 0: [+ reference-triple-record], ? 1: endorsed, ...}
 *   reference-triple-record = [environment-map, [+ measurement-map]]
 *   environment-map = {? 0: class-map, ? 1: instance, ? 2: group}
 *   class-map       = {? 0: class-id (#6.111 oid / #6.37 uuid / #6.560 bytes /
 *                      #6.600 impl-id), ? 1: vendor, ? 2: model, ? 3: layer, ? 4: index}
 *   measurement-map = {? 0: mkey (uint / text / #6.111 oid / #6.37 uuid),
 *                      1: measurement-values-map, ? 2: authorized-by}
 *   measurement-values-map = {? 0: version, ? 1: svn, ? 2: digests, ? 3: flags,
 *                      ? 4: raw-value, ? 5: raw-value-mask, ..., ? 11: name, ...}
 *   digests         = [+ [alg: int / text, value: bstr]]
 *
 * The names, per profile, are the table in docs/corim.md.  A reference
 * value here is "the claim equals one of these values" (the policy's
 * in_reference); what cannot be said that way (masks, numeric and set
 * expressions, a min-svn wider than a byte) is noted and not imported.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evidence/corim/corim_internal.h"
#include "veritee/snp.h"
#include "veritee/util.h"

/* ---------------------------------------------------------------- parsed parts */
/* Error fields are cut to 64 characters by vt_fail; the buffers are larger
 * so that formatting them never truncates silently in between. */
#define MEAS_PATH 96
#define SUB_FIELD 160


struct env {
	uint64_t cid_tag; /* 0: no class-id */
	const uint8_t *cid;
	size_t cid_len;
	char cid_oid[CORIM_OID_MAX]; /* class-id #6.111 as dotted text */
	bool has_vendor, has_model;
	char vendor[VT_CORIM_MAX_TEXT + 1], model[VT_CORIM_MAX_TEXT + 1];
	bool has_instance, has_group;
	uint64_t inst_tag; /* 0: untagged or absent */
	const uint8_t *inst;
	size_t inst_len;
};

enum mkey_kind { MK_NONE, MK_UINT, MK_TEXT, MK_OID, MK_UUID };

struct mkey {
	enum mkey_kind kind;
	uint64_t u;
	char text[VT_CORIM_MAX_TEXT + 1]; /* the text, dotted OID or UUID */
};

struct digest {
	int64_t alg;        /* IANA Named Information id; 0 when a text name we do not know */
	const char *name;   /* "sha-384", or NULL */
	char suffix[24];    /* for generic names: "sha384", "alg13" */
	const uint8_t *p;
	size_t n;
};

struct meas {
	size_t idx;
	struct mkey key;
	const cbor_item_t *mval;
	struct digest d[VT_CORIM_MAX_DIGESTS];
	size_t nd;
	bool has_raw, raw_masked, raw_other;
	const uint8_t *raw;
	size_t raw_len;
	bool has_svn, svn_min;
	uint64_t svn;
	bool has_name;
	char name[VT_CORIM_MAX_TEXT + 1];
	char path[MEAS_PATH]; /* error field: "comid[0].ref[1].m[2]" */
	char where[160];           /* notes and sources: "comid[0] ref[1] mkey 641" */
};

enum enc { ENC_HEX, ENC_B64 };

/* IANA "Named Information Hash Algorithm Registry". */
static const struct {
	int64_t id;
	const char *name, *suffix;
	size_t len;
} ALGS[] = {
	{1, "sha-256", "sha256", 32},        {2, "sha-256-128", "sha256_128", 16}, {3, "sha-256-120", "sha256_120", 15},
	{4, "sha-256-96", "sha256_96", 12},  {5, "sha-256-64", "sha256_64", 8},    {6, "sha-256-32", "sha256_32", 4},
	{7, "sha-384", "sha384", 48},        {8, "sha-512", "sha512", 64},         {9, "sha3-224", "sha3_224", 28},
	{10, "sha3-256", "sha3_256", 32},    {11, "sha3-384", "sha3_384", 48},     {12, "sha3-512", "sha3_512", 64},
};
#define ALG_SHA256 1
#define ALG_SHA384 7
#define ALG_SHA512 8

static vt_status perr(struct corim_ctx *x, const char *field, const char *fmt, ...) VT_PRINTF(3, 4);
static vt_status perr(struct corim_ctx *x, const char *field, const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return vt_fail(x->err, VT_E_PARSE, VT_STEP_PARSE, field, "%s", buf);
}

static vt_status oom(struct corim_ctx *x)
{
	return vt_fail(x->err, VT_E_NOMEM, VT_STEP_NONE, "corim", "out of memory");
}

/* ------------------------------------------------------------------ parsing */

static vt_status parse_env(struct corim_ctx *x, const cbor_item_t *e, const char *field, struct env *out)
{
	memset(out, 0, sizeof(*out));
	if (!cbor_isa_map(e))
		return perr(x, field, "environment-map is not a map");
	const cbor_item_t *cls = vt_cbor_map_get_int(e, 0), *inst = vt_cbor_map_get_int(e, 1);
	out->has_group = vt_cbor_map_get_int(e, 2) != NULL;
	if (cls != NULL) {
		if (!cbor_isa_map(cls))
			return perr(x, field, "class-map is not a map");
		const cbor_item_t *cid = vt_cbor_map_get_int(cls, 0), *vendor = vt_cbor_map_get_int(cls, 1),
				  *model = vt_cbor_map_get_int(cls, 2);
		if (cid != NULL) {
			const cbor_item_t *in;
			if (!cbor_isa_tag(cid) || (in = corim_untag(cid, cbor_tag_value(cid))) == NULL ||
			    !corim_bytes(in, &out->cid, &out->cid_len))
				return perr(x, field, "class-id is not a tagged byte string (#6.111 oid, #6.37 uuid, "
						      "#6.560 bytes, #6.600 impl-id)");
			out->cid_tag = cbor_tag_value(cid);
			switch (out->cid_tag) {
			case CORIM_TAG_OID:
				if (!corim_oid_text(out->cid, out->cid_len, out->cid_oid, sizeof(out->cid_oid)))
					return perr(x, field, "class-id: malformed OID");
				break;
			case CORIM_TAG_UUID:
				if (out->cid_len != 16)
					return perr(x, field, "class-id: a UUID is 16 bytes, not %zu", out->cid_len);
				break;
			case CORIM_TAG_BYTES:
			case CORIM_TAG_IMPL_ID:
				if (out->cid_len == 0 || out->cid_len > VT_CORIM_MAX_BYTES)
					return perr(x, field, "class-id of %zu bytes", out->cid_len);
				break;
			default:
				return perr(x, field, "class-id has tag %llu (want 111, 37, 560 or 600)",
					    (unsigned long long)out->cid_tag);
			}
		}
		if (vendor != NULL && !(out->has_vendor = corim_text(vendor, out->vendor, sizeof(out->vendor))))
			return perr(x, field, "class vendor is not text of at most %d bytes", VT_CORIM_MAX_TEXT);
		if (model != NULL && !(out->has_model = corim_text(model, out->model, sizeof(out->model))))
			return perr(x, field, "class model is not text of at most %d bytes", VT_CORIM_MAX_TEXT);
	}
	if (inst != NULL) {
		out->has_instance = true;
		const cbor_item_t *in = inst;
		if (cbor_isa_tag(inst)) {
			out->inst_tag = cbor_tag_value(inst);
			in = corim_untag(inst, out->inst_tag);
		}
		if (!corim_bytes(in, &out->inst, &out->inst_len))
			out->inst = NULL; /* a non-byte instance (e.g. a UEID text): kept as present only */
	}
	return VT_OK;
}

static vt_status parse_mkey(struct corim_ctx *x, const cbor_item_t *k, const char *field, struct mkey *out)
{
	const uint8_t *p;
	size_t n;
	memset(out, 0, sizeof(*out));
	if (k == NULL)
		return VT_OK;
	if (cbor_isa_uint(k)) {
		out->kind = MK_UINT;
		out->u = cbor_get_int(k);
		snprintf(out->text, sizeof(out->text), "%llu", (unsigned long long)out->u);
		return VT_OK;
	}
	if (cbor_isa_string(k)) {
		if (!corim_text(k, out->text, sizeof(out->text)))
			return perr(x, field, "mkey text longer than %d bytes", VT_CORIM_MAX_TEXT);
		out->kind = MK_TEXT;
		return VT_OK;
	}
	const cbor_item_t *in = corim_untag(k, CORIM_TAG_OID);
	if (in != NULL && corim_bytes(in, &p, &n) && corim_oid_text(p, n, out->text, CORIM_OID_MAX)) {
		out->kind = MK_OID;
		return VT_OK;
	}
	in = corim_untag(k, CORIM_TAG_UUID);
	if (in != NULL && corim_bytes(in, &p, &n) && n == 16) {
		corim_uuid_text(p, out->text);
		out->kind = MK_UUID;
		return VT_OK;
	}
	return perr(x, field, "mkey is not a uint, text, #6.111 OID or #6.37 UUID");
}

static void mkey_label(const struct mkey *k, char *buf, size_t n)
{
	switch (k->kind) {
	case MK_NONE: snprintf(buf, n, "no mkey"); break;
	case MK_UINT: snprintf(buf, n, "mkey %s", k->text); break;
	case MK_TEXT: snprintf(buf, n, "mkey \"%s\"", k->text); break;
	case MK_OID: snprintf(buf, n, "mkey oid %s", k->text); break;
	case MK_UUID: snprintf(buf, n, "mkey uuid %s", k->text); break;
	}
}

static const char *mkey_kind_name(enum mkey_kind k)
{
	switch (k) {
	case MK_NONE: return "absent";
	case MK_UINT: return "a uint";
	case MK_TEXT: return "text";
	case MK_OID: return "an OID";
	case MK_UUID: return "a UUID";
	}
	return "?";
}

static vt_status parse_digests(struct corim_ctx *x, const cbor_item_t *ds, struct meas *m)
{
	char field[SUB_FIELD];
	snprintf(field, sizeof(field), "%s.digests", m->path);
	if (!cbor_isa_array(ds) || cbor_array_size(ds) == 0)
		return perr(x, field, "digests is not a non-empty array");
	if (cbor_array_size(ds) > VT_CORIM_MAX_DIGESTS)
		return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, field, "%zu digests, at most %d accepted",
			       cbor_array_size(ds), VT_CORIM_MAX_DIGESTS);
	cbor_item_t **el = cbor_array_handle(ds);
	for (size_t i = 0; i < cbor_array_size(ds); i++) {
		struct digest *d = &m->d[m->nd];
		memset(d, 0, sizeof(*d));
		snprintf(field, sizeof(field), "%s.digests[%zu]", m->path, i);
		if (!cbor_isa_array(el[i]) || cbor_array_size(el[i]) != 2)
			return perr(x, field, "a digest is not [alg, value]");
		cbor_item_t **dv = cbor_array_handle(el[i]);
		char an[32];
		if (vt_cbor_int64(dv[0], &d->alg)) {
			for (size_t a = 0; a < sizeof(ALGS) / sizeof(ALGS[0]); a++)
				if (ALGS[a].id == d->alg)
					d->name = ALGS[a].name;
			if (d->name == NULL)
				snprintf(d->suffix, sizeof(d->suffix), "alg%lld", (long long)d->alg);
		} else if (corim_text(dv[0], an, sizeof(an))) {
			d->alg = 0;
			for (size_t a = 0; a < sizeof(ALGS) / sizeof(ALGS[0]); a++)
				if (strcasecmp(ALGS[a].name, an) == 0) {
					d->alg = ALGS[a].id;
					d->name = ALGS[a].name;
				}
		} else {
			return perr(x, field, "digest algorithm is neither an integer nor a short text");
		}
		for (size_t a = 0; a < sizeof(ALGS) / sizeof(ALGS[0]); a++)
			if (ALGS[a].id == d->alg && d->name != NULL)
				snprintf(d->suffix, sizeof(d->suffix), "%s", ALGS[a].suffix);
		if (!corim_bytes(dv[1], &d->p, &d->n) || d->n == 0)
			return perr(x, field, "digest value is not a non-empty byte string");
		if (d->n > VT_CORIM_MAX_BYTES)
			return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, field, "digest of %zu bytes", d->n);
		for (size_t a = 0; a < sizeof(ALGS) / sizeof(ALGS[0]); a++)
			if (d->name != NULL && ALGS[a].id == d->alg && ALGS[a].len != d->n)
				return perr(x, field, "%s digest of %zu bytes (a %s digest is %zu bytes)", ALGS[a].name,
					    d->n, ALGS[a].name, ALGS[a].len);
		m->nd++;
	}
	return VT_OK;
}

static bool all_ones(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/* raw-value (4): #6.560(bytes) / bytes / #6.563([value, mask]); mask (5, deprecated). */
static vt_status parse_raw(struct corim_ctx *x, const cbor_item_t *r, const cbor_item_t *mask, struct meas *m)
{
	char field[SUB_FIELD];
	snprintf(field, sizeof(field), "%s.raw-value", m->path);
	const cbor_item_t *in;
	const uint8_t *mp = NULL;
	size_t mn = 0;
	if ((in = corim_untag(r, CORIM_TAG_BYTES)) != NULL || cbor_isa_bytestring(r)) {
		if (!corim_bytes(in ? in : r, &m->raw, &m->raw_len))
			return perr(x, field, "raw-value: tag 560 around something other than a byte string");
	} else if ((in = corim_untag(r, CORIM_TAG_MASKED_RAW)) != NULL) {
		if (!cbor_isa_array(in) || cbor_array_size(in) != 2 ||
		    !corim_bytes(cbor_array_handle(in)[0], &m->raw, &m->raw_len) ||
		    !corim_bytes(cbor_array_handle(in)[1], &mp, &mn))
			return perr(x, field, "masked raw-value (tag 563) is not [value, mask] byte strings");
		m->raw_masked = !(mn == m->raw_len && all_ones(mp, mn));
	} else {
		m->raw_other = true; /* e.g. the SNP draft's uint VMPL: not a byte value */
		return VT_OK;
	}
	if (m->raw_len > VT_CORIM_MAX_BYTES)
		return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, field, "raw-value of %zu bytes", m->raw_len);
	if (mask != NULL) {
		if (!corim_bytes(mask, &mp, &mn))
			return perr(x, field, "raw-value-mask (key 5) is not a byte string");
		if (!(mn == m->raw_len && all_ones(mp, mn)))
			m->raw_masked = true;
	}
	m->has_raw = true;
	return VT_OK;
}

/* svn (1): uint / #6.552(uint) exact / #6.553(uint) minimum. */
static vt_status parse_svn(struct corim_ctx *x, const cbor_item_t *s, struct meas *m)
{
	char field[SUB_FIELD];
	snprintf(field, sizeof(field), "%s.svn", m->path);
	const cbor_item_t *v = s;
	if (cbor_isa_tag(s)) {
		if (cbor_tag_value(s) == CORIM_TAG_MIN_SVN)
			m->svn_min = true;
		else if (cbor_tag_value(s) != CORIM_TAG_SVN)
			return perr(x, field, "svn has tag %llu (want 552 svn or 553 min-svn)",
				    (unsigned long long)cbor_tag_value(s));
		v = corim_untag(s, cbor_tag_value(s));
	}
	if (!cbor_isa_uint(v))
		return perr(x, field, "svn is not an unsigned integer");
	m->svn = cbor_get_int(v);
	m->has_svn = true;
	return VT_OK;
}

static vt_status parse_meas(struct corim_ctx *x, const cbor_item_t *mm, struct meas *m)
{
	vt_status rc;
	char field[SUB_FIELD], label[VT_CORIM_MAX_TEXT + 32];
	if (!cbor_isa_map(mm))
		return perr(x, m->path, "measurement-map is not a map");
	snprintf(field, sizeof(field), "%s.mkey", m->path);
	if ((rc = parse_mkey(x, vt_cbor_map_get_int(mm, 0), field, &m->key)) != VT_OK)
		return rc;
	mkey_label(&m->key, label, sizeof(label));
	size_t w = strlen(m->where);
	snprintf(m->where + w, sizeof(m->where) - w, " %s", label);
	m->mval = vt_cbor_map_get_int(mm, 1);
	snprintf(field, sizeof(field), "%s.mval", m->path);
	if (m->mval == NULL || !cbor_isa_map(m->mval) || cbor_map_size(m->mval) == 0)
		return perr(x, field, "measurement-values-map (key 1) is missing, not a map, or empty");
	const cbor_item_t *ds = vt_cbor_map_get_int(m->mval, 2), *raw = vt_cbor_map_get_int(m->mval, 4),
			  *mask = vt_cbor_map_get_int(m->mval, 5), *svn = vt_cbor_map_get_int(m->mval, 1),
			  *name = vt_cbor_map_get_int(m->mval, 11);
	if (ds != NULL && (rc = parse_digests(x, ds, m)) != VT_OK)
		return rc;
	if (raw != NULL && (rc = parse_raw(x, raw, mask, m)) != VT_OK)
		return rc;
	if (raw == NULL && mask != NULL)
		return perr(x, field, "raw-value-mask (key 5) without a raw-value (key 4)");
	if (svn != NULL && (rc = parse_svn(x, svn, m)) != VT_OK)
		return rc;
	if (name != NULL && !(m->has_name = corim_text(name, m->name, sizeof(m->name))))
		return perr(x, field, "name (key 11) is not text of at most %d bytes", VT_CORIM_MAX_TEXT);
	return VT_OK;
}

/* ------------------------------------------------------------------- adding */

static json_t *enc_bytes(enum enc e, const uint8_t *p, size_t n)
{
	char *s = e == ENC_HEX ? vt_hex_encode(p, n) : vt_b64_encode(p, n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

static vt_status add_bytes(struct corim_ctx *x, const char *name, enum enc e, const uint8_t *p, size_t n,
			   const struct meas *m, const char *what)
{
	char src[200];
	snprintf(src, sizeof(src), "%s: %s", m->where, what);
	return corim_add(x, name, enc_bytes(e, p, n), src);
}

static vt_status add_int(struct corim_ctx *x, const char *name, uint64_t v, const struct meas *m, const char *what)
{
	char src[200];
	snprintf(src, sizeof(src), "%s: %s", m->where, what);
	return corim_add(x, name, json_integer((json_int_t)v), src);
}

/*
 * A register-like value: m's digests with algorithm `alg` (0: any listed
 * algorithm whose length is one of `lens`) and, when raw_ok, its unmasked
 * raw value of such a length.  Everything else of m is noted.  *added
 * counts what went in.
 */
static vt_status add_register(struct corim_ctx *x, const struct meas *m, const char *name, int64_t alg,
			      const size_t *lens, size_t nlens, enum enc e, bool raw_ok, size_t *added)
{
	vt_status rc;
	*added = 0;
	for (size_t i = 0; i < m->nd; i++) {
		const struct digest *d = &m->d[i];
		bool len_ok = false;
		for (size_t l = 0; l < nlens; l++)
			len_ok = len_ok || d->n == lens[l];
		if ((alg != 0 && d->alg != alg) || (alg == 0 && d->name == NULL) || !len_ok) {
			corim_note(x, "%s: %s digest (%zu bytes) not imported: %s holds %s values", m->where,
				   d->name ? d->name : d->suffix[0] ? d->suffix : "unknown-algorithm", d->n, name,
				   alg == ALG_SHA384   ? "SHA-384 (48-byte) digest"
				   : alg == ALG_SHA256 ? "SHA-256 (32-byte) digest"
				   : alg < 0	       ? "raw"
							 : "digest-sized");
			continue;
		}
		char what[48];
		snprintf(what, sizeof(what), "digests %s", d->name);
		if ((rc = add_bytes(x, name, e, d->p, d->n, m, what)) != VT_OK)
			return rc;
		(*added)++;
	}
	if (m->has_raw) {
		bool len_ok = false;
		for (size_t l = 0; l < nlens; l++)
			len_ok = len_ok || m->raw_len == lens[l];
		if (!raw_ok || m->raw_masked || !len_ok) {
			corim_note(x, "%s: raw-value not imported under %s (%s)", m->where, name,
				   !raw_ok ? "this name takes digests" : m->raw_masked ? "masked: not an equality value"
											: "wrong length");
		} else {
			if ((rc = add_bytes(x, name, e, m->raw, m->raw_len, m, "raw-value")) != VT_OK)
				return rc;
			(*added)++;
		}
	}
	return VT_OK;
}

/* SEV-SNP TCB_VERSION as an SVN (the little-endian u64 of the report
 * field): one reference value per component, as the report's claims hold
 * them (snp_bootloader, ...).  A min-svn becomes every value from the
 * component's minimum up to 255 (each component is one byte). */
static vt_status add_snp_tcb(struct corim_ctx *x, const struct meas *m, vt_snp_product product)
{
	vt_status rc;
	if (!m->has_svn)
		return perr(x, m->path, "SEV-SNP REPORTED_TCB (%s) needs an svn (the TCB_VERSION)", m->where);
	struct vt_snp_tcb t;
	vt_snp_tcb_decode(m->svn, product, &t);
	const struct {
		const char *name;
		uint8_t v;
	} comp[] = {{"snp_bootloader", t.bootloader}, {"snp_tee_svn", t.tee}, {"snp_snp_svn", t.snp},
		    {"snp_microcode", t.microcode},   {"snp_fmc", t.fmc}};
	size_t ncomp = product == VT_SNP_PRODUCT_TURIN ? 5 : 4;
	for (size_t i = 0; i < ncomp; i++) {
		unsigned hi = m->svn_min ? 255u : comp[i].v;
		for (unsigned v = comp[i].v; v <= hi; v++)
			if ((rc = add_int(x, comp[i].name, v, m, m->svn_min ? "min-svn (TCB)" : "svn (TCB)")) != VT_OK)
				return rc;
	}
	return VT_OK;
}

/* ------------------------------------------------------- veritee text keys */

/*
 * Text mkeys for TEEs without a published CoRIM profile (and for profile-
 * less CoRIMs generally): "<tee>.<register>" names the claim directly.
 */
static const struct text_key {
	const char *mkey, *name;
	int64_t alg; /* digest algorithm the claim holds */
	size_t len;  /* its length (raw values of this length are accepted too) */
} TEXT_KEYS[] = {
	{"snp.measurement", "snp_launch_measurement", ALG_SHA384, 48},
	{"tdx.mr_td", "mr_td", ALG_SHA384, 48},
	{"tdx.rtmr_0", "rtmr_0", ALG_SHA384, 48},
	{"tdx.rtmr_1", "rtmr_1", ALG_SHA384, 48},
	{"tdx.rtmr_2", "rtmr_2", ALG_SHA384, 48},
	{"tdx.rtmr_3", "rtmr_3", ALG_SHA384, 48},
	{"tdx.mr_seam", "mr_seam", ALG_SHA384, 48},
	{"tdx.mrsigner_seam", "mrsigner_seam", ALG_SHA384, 48},
	{"tdx.mr_config_id", "mr_config_id", ALG_SHA384, 48},
	{"tdx.mr_owner", "mr_owner", ALG_SHA384, 48},
	{"tdx.mr_owner_config", "mr_owner_config", ALG_SHA384, 48},
	{"tdx.xfam", "xfam", -1, 8}, /* raw value only */
	{"sgx.mr_enclave", "sgx_mr_enclave", ALG_SHA256, 32},
	{"sgx.mr_signer", "sgx_mr_signer", ALG_SHA256, 32},
	{"sim.measurement", "sim_measurement", ALG_SHA384, 48},
};

static const char *const TEXT_KEY_PREFIXES[] = {"snp.", "tdx.", "sgx.", "sim.", "nitro.", "tpm.", "cca."};

/* "nitro.pcrN" (0..31) / "tpm.pcrN" (0..23): N, or -1. */
static int pcr_index(const char *s, const char *prefix, int max)
{
	size_t pl = strlen(prefix);
	if (strncmp(s, prefix, pl) != 0)
		return -1;
	const char *d = s + pl;
	if (d[0] < '0' || d[0] > '9' || (d[0] == '0' && d[1] != '\0'))
		return -1;
	int v = 0;
	for (; *d; d++) {
		if (*d < '0' || *d > '9' || v > 100)
			return -1;
		v = v * 10 + (*d - '0');
	}
	return v <= max ? v : -1;
}

static vt_status map_cca_realm_meas(struct corim_ctx *x, const struct meas *m, bool strict, bool *is_rim);

/* Returns true in *handled when m's key is one of veritee's text keys. */
static vt_status map_text_key(struct corim_ctx *x, const struct meas *m, bool *handled)
{
	vt_status rc;
	size_t added = 0;
	char name[40];
	*handled = false;
	if (m->key.kind != MK_TEXT)
		return VT_OK;
	const char *k = m->key.text;
	for (size_t i = 0; i < sizeof(TEXT_KEYS) / sizeof(TEXT_KEYS[0]); i++) {
		const struct text_key *t = &TEXT_KEYS[i];
		if (strcmp(k, t->mkey) != 0)
			continue;
		*handled = true;
		if ((rc = add_register(x, m, t->name, t->alg, &t->len, 1, ENC_HEX, true, &added)) != VT_OK)
			return rc;
		if (added == 0)
			corim_note(x, "%s: nothing imported for %s", m->where, t->name);
		return VT_OK;
	}
	if (strcmp(k, "snp.reported_tcb") == 0) {
		*handled = true;
		return add_snp_tcb(x, m, VT_SNP_PRODUCT_GENOA);
	}
	int pcr;
	static const size_t sha384_len = 48;
	if ((pcr = pcr_index(k, "nitro.pcr", 31)) >= 0) {
		*handled = true;
		snprintf(name, sizeof(name), "nitro_pcr%d", pcr);
		return add_register(x, m, name, ALG_SHA384, &sha384_len, 1, ENC_HEX, true, &added);
	}
	if ((pcr = pcr_index(k, "tpm.pcr", 23)) >= 0) {
		*handled = true;
		static const size_t lens[] = {20, 32, 48, 64};
		/* every bank: the claim holds the quoted bank's value */
		snprintf(name, sizeof(name), "tpm_pcr%02d", pcr);
		return add_register(x, m, name, 0, lens, 4, ENC_HEX, true, &added);
	}
	if (strncmp(k, "cca.", 4) == 0 && strcmp(k, "cca.software-component") != 0 &&
	    strcmp(k, "cca.platform-config") != 0) {
		bool is_rim;
		*handled = true;
		return map_cca_realm_meas(x, m, false, &is_rim);
	}
	for (size_t i = 0; i < sizeof(TEXT_KEY_PREFIXES) / sizeof(TEXT_KEY_PREFIXES[0]); i++)
		if (strncmp(k, TEXT_KEY_PREFIXES[i], strlen(TEXT_KEY_PREFIXES[i])) == 0) {
			*handled = true;
			corim_note(x, "%s: unknown veritee measurement key (not imported; see docs/corim.md)", m->where);
			return VT_OK;
		}
	return VT_OK;
}

/* -------------------------------------------------------------- generic names */

/* corim_<mkey>_<sha256|sha384|...|raw|svn>: for reference values no profile
 * names.  The mkey part is the uint, the text (when it is a plain
 * identifier), the dotted OID or the UUID; no mkey: corim_<suffix>. */
static vt_status map_generic(struct corim_ctx *x, const struct meas *m)
{
	vt_status rc;
	char base[VT_CORIM_MAX_TEXT + 16], name[VT_CORIM_MAX_TEXT + 40];
	if (m->key.kind == MK_NONE) {
		snprintf(base, sizeof(base), "corim");
	} else {
		size_t n = strlen(m->key.text);
		bool ok = n > 0 && n <= 64;
		for (size_t i = 0; i < n && ok; i++) {
			char c = m->key.text[i];
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			     c == '.' || c == '-';
		}
		if (!ok) {
			corim_note(x, "%s: the mkey cannot be part of a reference value name (not imported)", m->where);
			return VT_OK;
		}
		snprintf(base, sizeof(base), "corim_%s", m->key.text);
	}
	bool any = false;
	for (size_t i = 0; i < m->nd; i++) {
		const struct digest *d = &m->d[i];
		if (d->suffix[0] == '\0') {
			corim_note(x, "%s: digest with an unknown algorithm name not imported", m->where);
			continue;
		}
		snprintf(name, sizeof(name), "%s_%s", base, d->suffix);
		char what[48];
		snprintf(what, sizeof(what), "digests %s", d->name ? d->name : d->suffix);
		if ((rc = add_bytes(x, name, ENC_HEX, d->p, d->n, m, what)) != VT_OK)
			return rc;
		any = true;
	}
	if (m->has_raw && !m->raw_masked) {
		snprintf(name, sizeof(name), "%s_raw", base);
		if ((rc = add_bytes(x, name, ENC_HEX, m->raw, m->raw_len, m, "raw-value")) != VT_OK)
			return rc;
		any = true;
	} else if (m->has_raw) {
		corim_note(x, "%s: masked raw-value not imported (not an equality value)", m->where);
	}
	if (m->has_svn && !m->svn_min) {
		snprintf(name, sizeof(name), "%s_svn", base);
		if ((rc = add_int(x, name, m->svn, m, "svn")) != VT_OK)
			return rc;
		any = true;
	} else if (m->has_svn) {
		corim_note(x, "%s: min-svn not imported (a lower bound is a policy rule: at_least)", m->where);
	}
	if (!any && !m->has_raw && !m->has_svn && m->nd == 0)
		corim_note(x, "%s: no digests, raw-value or svn (nothing imported)", m->where);
	return VT_OK;
}

/* --------------------------------------------------------------- profiles */

/* AMD SEV-SNP (Veraison, tag:amd.com,2024:snp-corim-profile): mkeys are
 * uints naming report fields; 641 MEASUREMENT, 647 REPORTED_TCB. */
#define SNP_MKEY_MEASUREMENT 641
#define SNP_MKEY_REPORTED_TCB 647

static vt_status map_snp(struct corim_ctx *x, const struct env *env, struct meas *ms, size_t n, const char *field)
{
	vt_status rc;
	if (env->cid_tag != CORIM_TAG_OID)
		return perr(x, field, "AMD SEV-SNP profile: the reference environment's class-id must be an OID");
	if (!env->has_instance || env->inst == NULL || env->inst_tag != CORIM_TAG_BYTES)
		return perr(x, field, "AMD SEV-SNP profile: the reference environment needs a #6.560 bytes instance");
	for (size_t i = 0; i < n; i++)
		if (ms[i].key.kind != MK_UINT) {
			char f[SUB_FIELD];
			snprintf(f, sizeof(f), "%s.mkey", ms[i].path);
			return perr(x, f, "AMD SEV-SNP profile: measurement key must be a uint (a report field), got %s",
				    mkey_kind_name(ms[i].key.kind));
		}
	vt_snp_product product = env->has_model && strcasestr(env->model, "turin") ? VT_SNP_PRODUCT_TURIN
										   : VT_SNP_PRODUCT_GENOA;
	char skipped[200] = "";
	size_t sl = 0;
	for (size_t i = 0; i < n; i++) {
		const struct meas *m = &ms[i];
		size_t added;
		static const size_t len48 = 48;
		if (m->key.u == SNP_MKEY_MEASUREMENT) {
			if ((rc = add_register(x, m, "snp_launch_measurement", ALG_SHA384, &len48, 1, ENC_HEX, false,
					       &added)) != VT_OK)
				return rc;
		} else if (m->key.u == SNP_MKEY_REPORTED_TCB) {
			if ((rc = add_snp_tcb(x, m, product)) != VT_OK)
				return rc;
		} else if (sl + 12 < sizeof(skipped)) {
			int w = snprintf(skipped + sl, sizeof(skipped) - sl, "%s%s", sl ? ", " : "", m->key.text);
			sl += w > 0 ? (size_t)w : 0;
		}
	}
	if (sl > 0)
		corim_note(x, "%s: AMD SEV-SNP mkeys %s not imported (no default-policy reference value; "
			      "641 and 647 are)", field, skipped);
	return VT_OK;
}

/* Parsec TPM (tag:github.com/parallaxsecond,2023-03-03:tpm): class-id a
 * UUID, no instance; mkey = PCR index; digests = the PCR's value per bank. */
static vt_status map_tpm(struct corim_ctx *x, const struct env *env, struct meas *ms, size_t n, const char *field)
{
	vt_status rc;
	if (env->cid_tag != CORIM_TAG_UUID)
		return perr(x, field, "Parsec TPM profile: the reference environment's class-id must be a UUID");
	if (env->has_instance || env->has_group)
		return perr(x, field, "Parsec TPM profile: a reference environment has no instance or group");
	for (size_t i = 0; i < n; i++) {
		const struct meas *m = &ms[i];
		char f[SUB_FIELD], name[32];
		snprintf(f, sizeof(f), "%s.mkey", m->path);
		if (m->key.kind != MK_UINT)
			return perr(x, f, "Parsec TPM profile: measurement key must be a uint PCR index, got %s",
				    mkey_kind_name(m->key.kind));
		if (m->key.u > 23)
			return perr(x, f, "Parsec TPM profile: PCR index %llu (0..23)", (unsigned long long)m->key.u);
		if (m->nd == 0)
			return perr(x, m->path, "Parsec TPM profile: a PCR reference value needs digests");
		static const size_t lens[] = {20, 32, 48, 64};
		size_t added;
		snprintf(name, sizeof(name), "tpm_pcr%02u", (unsigned)m->key.u);
		if ((rc = add_register(x, m, name, 0, lens, 4, ENC_HEX, false, &added)) != VT_OK)
			return rc;
	}
	return VT_OK;
}

static bool cca_digest_size(size_t n)
{
	return n == 32 || n == 48 || n == 64;
}

/* One measurement of the CCA realm profile: cca.rim, cca.rem0..3 (digests),
 * cca.rpv (raw value); values in standard base64 as the CCA claims. */
static vt_status map_cca_realm_meas(struct corim_ctx *x, const struct meas *m, bool strict, bool *is_rim)
{
	static const size_t lens[] = {32, 48, 64};
	char f[SUB_FIELD];
	size_t added;
	*is_rim = false;
	snprintf(f, sizeof(f), "%s.mkey", m->path);
	const char *k = m->key.text;
	const char *name = NULL;
	if (strcmp(k, "cca.rim") == 0)
		name = "cca_rim";
	else if (strcmp(k, "cca.rem0") == 0)
		name = "cca_rem0";
	else if (strcmp(k, "cca.rem1") == 0)
		name = "cca_rem1";
	else if (strcmp(k, "cca.rem2") == 0)
		name = "cca_rem2";
	else if (strcmp(k, "cca.rem3") == 0)
		name = "cca_rem3";
	if (name != NULL) {
		if (m->nd == 0)
			return perr(x, m->path, "Arm CCA realm profile: %s needs digests", k);
		for (size_t i = 0; i < m->nd; i++)
			if (!cca_digest_size(m->d[i].n))
				return perr(x, m->path, "Arm CCA realm profile: %s digest of %zu bytes (32, 48 or 64)", k,
					    m->d[i].n);
		*is_rim = strcmp(name, "cca_rim") == 0;
		return add_register(x, m, name, 0, lens, 3, ENC_B64, false, &added);
	}
	if (strcmp(k, "cca.rpv") == 0) {
		if (!m->has_raw || m->raw_masked || m->raw_len == 0 || m->raw_len > 64)
			return perr(x, m->path, "Arm CCA realm profile: cca.rpv needs an unmasked raw-value of 1..64 bytes");
		return add_bytes(x, "cca_rpv", ENC_B64, m->raw, m->raw_len, m, "raw-value");
	}
	if (strict)
		return perr(x, f, "Arm CCA realm profile: measurement key \"%s\" (want cca.rim, cca.rem0..3 or cca.rpv)",
			    k);
	corim_note(x, "%s: unknown CCA measurement key (not imported)", m->where);
	return VT_OK;
}

/* Arm CCA realm (tag:arm.com,2025:cca_realm#1.0.0): class-id #6.560 RIM;
 * text mkeys; cca.rim mandatory. */
static vt_status map_cca_realm(struct corim_ctx *x, const struct env *env, struct meas *ms, size_t n,
			       const char *field)
{
	vt_status rc;
	bool rim = false;
	if (env->cid_tag != CORIM_TAG_BYTES || !cca_digest_size(env->cid_len))
		return perr(x, field, "Arm CCA realm profile: class-id must be the RIM as #6.560 bytes of 32, 48 or 64");
	for (size_t i = 0; i < n; i++) {
		bool is_rim;
		char f[SUB_FIELD];
		snprintf(f, sizeof(f), "%s.mkey", ms[i].path);
		if (ms[i].key.kind != MK_TEXT)
			return perr(x, f, "Arm CCA realm profile: measurement key must be text, got %s",
				    mkey_kind_name(ms[i].key.kind));
		if ((rc = map_cca_realm_meas(x, &ms[i], true, &is_rim)) != VT_OK)
			return rc;
		rim = rim || is_rim;
	}
	if (!rim)
		return perr(x, field, "Arm CCA realm profile: the RIM (cca.rim) is mandatory in realm reference values");
	return VT_OK;
}

/* Arm CCA platform (tag:arm.com,2025:cca_platform#1.0.0): class-id the
 * implementation id; cca.software-component (digests, name) and at most one
 * cca.platform-config (raw value). */
static vt_status map_cca_platform(struct corim_ctx *x, const struct env *env, struct meas *ms, size_t n,
				  const char *field)
{
	static const size_t lens[] = {32, 48, 64};
	vt_status rc;
	size_t sw = 0, cfg = 0, added;
	if ((env->cid_tag != CORIM_TAG_BYTES && env->cid_tag != CORIM_TAG_IMPL_ID) || env->cid_len != 32)
		return perr(x, field,
			    "Arm CCA platform profile: class-id must be the 32-byte implementation id (#6.560 or #6.600)");
	for (size_t i = 0; i < n; i++) {
		const struct meas *m = &ms[i];
		char f[SUB_FIELD], name[VT_CORIM_MAX_TEXT + 32];
		snprintf(f, sizeof(f), "%s.mkey", m->path);
		if (m->key.kind != MK_TEXT)
			return perr(x, f, "Arm CCA platform profile: measurement key must be text, got %s",
				    mkey_kind_name(m->key.kind));
		if (strcmp(m->key.text, "cca.software-component") == 0) {
			if (m->nd == 0)
				return perr(x, m->path, "Arm CCA platform profile: a software component needs digests");
			for (size_t d = 0; d < m->nd; d++)
				if (!cca_digest_size(m->d[d].n))
					return perr(x, m->path, "Arm CCA platform profile: component digest of %zu bytes",
						    m->d[d].n);
			bool plain = m->has_name && m->name[0] != '\0';
			for (const char *c = m->name; plain && *c; c++)
				plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
					*c == '_' || *c == '-' || *c == '.';
			if (plain && strlen(m->name) <= 64)
				snprintf(name, sizeof(name), "cca_platform_sw_%s", m->name);
			else
				snprintf(name, sizeof(name), "cca_platform_sw");
			if ((rc = add_register(x, m, name, 0, lens, 3, ENC_B64, false, &added)) != VT_OK)
				return rc;
			sw++;
		} else if (strcmp(m->key.text, "cca.platform-config") == 0) {
			if (++cfg > 1)
				return perr(x, f, "Arm CCA platform profile: more than one cca.platform-config");
			if (!m->has_raw)
				return perr(x, m->path, "Arm CCA platform profile: cca.platform-config needs a raw-value");
			if (m->raw_masked)
				corim_note(x, "%s: masked platform config not imported (a mask is not an equality value)",
					   m->where);
			else if ((rc = add_bytes(x, "cca_platform_config", ENC_B64, m->raw, m->raw_len, m,
						 "raw-value")) != VT_OK)
				return rc;
		} else {
			return perr(x, f,
				    "Arm CCA platform profile: measurement key \"%s\" (want cca.software-component or "
				    "cca.platform-config)",
				    m->key.text);
		}
	}
	if (sw == 0)
		return perr(x, field, "Arm CCA platform profile: at least one cca.software-component is required");
	char src[200];
	snprintf(src, sizeof(src), "%s: class-id (implementation id)", field);
	return corim_add(x, "cca_platform_implementation_id", enc_bytes(ENC_B64, env->cid, env->cid_len), src);
}

/* Intel profile: the TDX module (SEAM) environment's tee.mrtee (-83) and
 * tee.mrsigner (-84), as digests or #6.60020([member, digests]). */
#define INTEL_MRTEE (-83)
#define INTEL_MRSIGNER (-84)
#define INTEL_OP_MEMBER 6
#define INTEL_SEAM_CLASS "2.16.840.1.113741.1.2.3.4.3"
#define INTEL_ARC "2.16.840.1.113741."

static bool intel_env(const struct env *e)
{
	return e->cid_tag == CORIM_TAG_OID && strncmp(e->cid_oid, INTEL_ARC, strlen(INTEL_ARC)) == 0;
}

static vt_status intel_digest(struct corim_ctx *x, struct meas *m, int64_t key, const char *name)
{
	const cbor_item_t *v = vt_cbor_map_get_int(m->mval, key), *ds = v;
	char f[SUB_FIELD];
	size_t added;
	static const size_t len48 = 48;
	if (v == NULL)
		return VT_OK;
	snprintf(f, sizeof(f), "%s.%lld", m->path, (long long)key);
	const cbor_item_t *e = corim_untag(v, CORIM_TAG_INTEL_DIGESTS);
	if (e != NULL) {
		int64_t op;
		if (!cbor_isa_array(e) || cbor_array_size(e) != 2 || !vt_cbor_int64(cbor_array_handle(e)[0], &op))
			return perr(x, f, "Intel profile: a digest expression is not [operator, digests]");
		if (op != INTEL_OP_MEMBER) {
			corim_note(x, "%s: Intel key %lld with set operator %lld not imported (only \"member\" is an "
				      "equality list)", m->where, (long long)key, (long long)op);
			return VT_OK;
		}
		ds = cbor_array_handle(e)[1];
	}
	/* The digests of this key, in the measurement's own digest slots. */
	struct meas k = *m;
	k.nd = 0;
	snprintf(k.path, sizeof(k.path), "%.80s.%lld", m->path, (long long)key);
	vt_status rc = parse_digests(x, ds, &k);
	if (rc != VT_OK)
		return rc;
	k.has_raw = false;
	return add_register(x, &k, name, ALG_SHA384, &len48, 1, ENC_HEX, false, &added);
}

static vt_status map_intel(struct corim_ctx *x, const struct env *env, struct meas *ms, size_t n, const char *field)
{
	vt_status rc;
	bool seam = (env->cid_tag == CORIM_TAG_OID && strcmp(env->cid_oid, INTEL_SEAM_CLASS) == 0) ||
		    (env->has_model && strcmp(env->model, "TDX SEAM") == 0);
	for (size_t i = 0; i < n; i++) {
		bool handled;
		if ((rc = map_text_key(x, &ms[i], &handled)) != VT_OK)
			return rc;
		if (handled)
			continue;
		if (seam) {
			if ((rc = intel_digest(x, &ms[i], INTEL_MRTEE, "mr_seam")) != VT_OK ||
			    (rc = intel_digest(x, &ms[i], INTEL_MRSIGNER, "mrsigner_seam")) != VT_OK)
				return rc;
		}
	}
	corim_note(x, "%s: Intel %s%s%s: TCB levels, SVNs, advisories and QE/PCE identities come from Intel's "
		      "collateral, not from reference values (only TDX module MRSEAM/MRSIGNER digests are imported)",
		   field, env->has_model ? "\"" : "", env->has_model ? env->model : "environment",
		   env->has_model ? "\"" : "");
	return VT_OK;
}

/* ------------------------------------------------------------------ triples */

static vt_status reference_triple(struct corim_ctx *x, const cbor_item_t *t, size_t ci, size_t ti)
{
	char field[CORIM_PATH_MAX];
	vt_status rc;
	struct env env;
	snprintf(field, sizeof(field), "comid[%zu].ref[%zu]", ci, ti);
	if (!cbor_isa_array(t) || cbor_array_size(t) != 2)
		return perr(x, field, "reference triple is not [environment, measurements]");
	cbor_item_t **el = cbor_array_handle(t);
	char ef[SUB_FIELD];
	snprintf(ef, sizeof(ef), "%s.env", field);
	if ((rc = parse_env(x, el[0], ef, &env)) != VT_OK)
		return rc;
	const cbor_item_t *list = el[1];
	if (!cbor_isa_array(list) || cbor_array_size(list) == 0)
		return perr(x, field, "the measurements of a reference triple are not a non-empty array");
	size_t n = cbor_array_size(list);
	if (n > VT_CORIM_MAX_MEASUREMENTS)
		return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, field, "%zu measurements, at most %d accepted", n,
			       VT_CORIM_MAX_MEASUREMENTS);
	struct meas *ms = calloc(n, sizeof(*ms));
	if (ms == NULL)
		return oom(x);
	cbor_item_t **mm = cbor_array_handle(list);
	for (size_t i = 0; i < n; i++) {
		ms[i].idx = i;
		snprintf(ms[i].path, sizeof(ms[i].path), "%s.m[%zu]", field, i);
		snprintf(ms[i].where, sizeof(ms[i].where), "comid[%zu] ref[%zu]", ci, ti);
		if ((rc = parse_meas(x, mm[i], &ms[i])) != VT_OK)
			goto out;
	}
	switch (x->profile) {
	case CORIM_PROFILE_SNP: rc = map_snp(x, &env, ms, n, field); break;
	case CORIM_PROFILE_TPM: rc = map_tpm(x, &env, ms, n, field); break;
	case CORIM_PROFILE_CCA_REALM: rc = map_cca_realm(x, &env, ms, n, field); break;
	case CORIM_PROFILE_CCA_PLATFORM: rc = map_cca_platform(x, &env, ms, n, field); break;
	case CORIM_PROFILE_INTEL: rc = map_intel(x, &env, ms, n, field); break;
	case CORIM_PROFILE_NONE:
	case CORIM_PROFILE_UNKNOWN:
		if (intel_env(&env)) {
			rc = map_intel(x, &env, ms, n, field);
			break;
		}
		rc = VT_OK;
		for (size_t i = 0; i < n && rc == VT_OK; i++) {
			bool handled;
			rc = map_text_key(x, &ms[i], &handled);
			if (rc == VT_OK && !handled)
				rc = map_generic(x, &ms[i]);
		}
		break;
	}
out:
	free(ms);
	return rc;
}

static const char *triples_name(int64_t k)
{
	switch (k) {
	case 1: return "endorsed-triples (endorsements, not reference values)";
	case 2: return "identity-triples (key identities, not reference values)";
	case 3: return "attest-key-triples (trust anchors, not reference values)";
	case 4: return "dependency-triples";
	case 5: return "membership-triples";
	case 6: return "coswid-triples";
	case 8: return "conditional-endorsement-series-triples (endorsements)";
	case 10: return "conditional-endorsement-triples (endorsements)";
	default: return NULL;
	}
}

vt_status corim_comid(struct corim_ctx *x, const cbor_item_t *comid, size_t ci)
{
	char field[CORIM_PATH_MAX];
	vt_status rc;
	snprintf(field, sizeof(field), "comid[%zu]", ci);
	if (comid == NULL || !cbor_isa_map(comid))
		return perr(x, field, "concise-mid-tag is not a map");
	const cbor_item_t *ident = vt_cbor_map_get_int(comid, 1), *triples = vt_cbor_map_get_int(comid, 4);
	const uint8_t *p;
	size_t n;
	char buf[VT_CORIM_MAX_TEXT + 1];
	const cbor_item_t *tid = ident && cbor_isa_map(ident) ? vt_cbor_map_get_int(ident, 0) : NULL;
	if (tid == NULL || !(corim_text(tid, buf, sizeof(buf)) || (corim_bytes(tid, &p, &n) && n == 16)))
		return perr(x, field, "tag-identity (key 1) lacks a tag-id (text or 16-byte UUID)");
	snprintf(field, sizeof(field), "comid[%zu].triples", ci);
	if (triples == NULL || !cbor_isa_map(triples) || cbor_map_size(triples) == 0)
		return perr(x, field, "triples (key 4) is missing, not a map, or empty");
	struct cbor_pair *tp = cbor_map_handle(triples);
	for (size_t i = 0; i < cbor_map_size(triples); i++) {
		int64_t k;
		if (!vt_cbor_int64(tp[i].key, &k))
			return perr(x, field, "a triples-map key is not an integer");
		if (!cbor_isa_array(tp[i].value))
			return perr(x, field, "triples-map entry %lld is not an array", (long long)k);
		size_t cnt = cbor_array_size(tp[i].value);
		if (cnt > VT_CORIM_MAX_TRIPLES)
			return vt_fail(x->err, VT_E_LIMIT, VT_STEP_PARSE, field, "%zu triples of kind %lld, at most %d",
				       cnt, (long long)k, VT_CORIM_MAX_TRIPLES);
		if (k == 0) {
			cbor_item_t **t = cbor_array_handle(tp[i].value);
			for (size_t j = 0; j < cnt; j++)
				if ((rc = reference_triple(x, t[j], ci, j)) != VT_OK)
					return rc;
		} else {
			const char *what = triples_name(k);
			if (what)
				corim_note(x, "comid[%zu]: %zu %s not imported", ci, cnt, what);
			else
				corim_note(x, "comid[%zu]: %zu triples of kind %lld not imported", ci, cnt, (long long)k);
		}
	}
	return VT_OK;
}
