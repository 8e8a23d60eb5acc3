/*
 * COSE_Sign1 (RFC 9052 §4.2, §4.4) on libcbor, and bounded CBOR decoding.
 *
 * Untrusted bytes are never handed to cbor_load directly: libcbor allocates
 * for a declared array/map size before it has seen the elements, and frees
 * nested items recursively.  So every input is first walked with
 * cbor_stream_decode (libcbor's allocation-free decoder, one item head per
 * call) while we keep a stack of open containers: a declared size must fit
 * in the bytes left and under the item cap, nesting under the depth cap,
 * indefinite lengths only where the caller allows them.  Only then does
 * cbor_load build the tree, which is checked for unique map keys.
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "veritee/cose.h"
#include "veritee/crypto.h"

static_assert(VT_COSE_MAX_DEPTH <= 64, "the pre-scan stack is a fixed array");

/* ------------------------------------------------------------------ pre-scan */

enum scan_kind { K_ARRAY, K_MAP, K_INDEF_ARRAY, K_INDEF_MAP, K_TAG };

struct scan_level {
	enum scan_kind kind;
	uint64_t n; /* definite: elements still expected; indefinite: elements seen */
};

struct scan {
	struct scan_level stack[VT_COSE_MAX_DEPTH];
	size_t depth, max_depth, max_items;
	bool allow_indefinite;
	bool done;       /* the top-level item is complete */
	size_t avail;    /* bytes left from the current item head to the end */
	vt_status rc;
	const char *why; /* static text for the error */
};

static void scan_bad(struct scan *s, vt_status rc, const char *why)
{
	if (s->rc == VT_OK) {
		s->rc = rc;
		s->why = why;
	}
}

/* One complete item (scalar, string, or a container that just closed). */
static void scan_item_done(struct scan *s)
{
	if (s->rc != VT_OK)
		return;
	while (s->depth > 0) {
		struct scan_level *top = &s->stack[s->depth - 1];
		if (top->kind == K_INDEF_ARRAY || top->kind == K_INDEF_MAP) {
			uint64_t cap = top->kind == K_INDEF_MAP ? 2 * (uint64_t)s->max_items : s->max_items;
			if (++top->n > cap)
				scan_bad(s, VT_E_LIMIT, "too many elements in an indefinite-length container");
			return;
		}
		if (--top->n > 0)
			return;
		s->depth--; /* the container is complete: it is one item of its parent */
	}
	s->done = true;
}

static void scan_push(struct scan *s, enum scan_kind kind, uint64_t n)
{
	if (s->rc != VT_OK)
		return;
	if (s->done) {
		scan_bad(s, VT_E_PARSE, "bytes after the item");
		return;
	}
	if (s->depth >= s->max_depth) {
		scan_bad(s, VT_E_LIMIT, "nesting too deep");
		return;
	}
	s->stack[s->depth].kind = kind;
	s->stack[s->depth].n = n;
	s->depth++;
}

static void cb_scalar(struct scan *s)
{
	if (s->rc == VT_OK && s->done)
		scan_bad(s, VT_E_PARSE, "bytes after the item");
	scan_item_done(s);
}

static void cb_u8(void *c, uint8_t v) { (void)v; cb_scalar(c); }
static void cb_u16(void *c, uint16_t v) { (void)v; cb_scalar(c); }
static void cb_u32(void *c, uint32_t v) { (void)v; cb_scalar(c); }
static void cb_u64(void *c, uint64_t v) { (void)v; cb_scalar(c); }
static void cb_str(void *c, cbor_data d, size_t n) { (void)d; (void)n; cb_scalar(c); }
static void cb_f(void *c, float v) { (void)v; cb_scalar(c); }
static void cb_d(void *c, double v) { (void)v; cb_scalar(c); }
static void cb_b(void *c, bool v) { (void)v; cb_scalar(c); }
static void cb_simple(void *c) { cb_scalar(c); }

static void cb_indef_string(void *c)
{
	scan_bad(c, VT_E_PARSE, "indefinite-length string");
}

static void cb_array(void *c, size_t size)
{
	struct scan *s = c;
	if (s->rc == VT_OK && (size > s->max_items || size > s->avail)) {
		scan_bad(s, size > s->avail ? VT_E_PARSE : VT_E_LIMIT, "array longer than its bytes or the cap");
		return;
	}
	if (size == 0) {
		cb_scalar(s);
		return;
	}
	scan_push(s, K_ARRAY, size);
}

static void cb_map(void *c, size_t size)
{
	struct scan *s = c;
	/* Each pair takes at least two bytes; compare without multiplying. */
	if (s->rc == VT_OK && (size > s->max_items || size > s->avail / 2)) {
		scan_bad(s, size > s->avail / 2 ? VT_E_PARSE : VT_E_LIMIT, "map longer than its bytes or the cap");
		return;
	}
	if (size == 0) {
		cb_scalar(s);
		return;
	}
	scan_push(s, K_MAP, 2 * (uint64_t)size);
}

static void cb_indef_array(void *c)
{
	struct scan *s = c;
	if (!s->allow_indefinite) {
		scan_bad(s, VT_E_PARSE, "indefinite-length array");
		return;
	}
	scan_push(s, K_INDEF_ARRAY, 0);
}

static void cb_indef_map(void *c)
{
	struct scan *s = c;
	if (!s->allow_indefinite) {
		scan_bad(s, VT_E_PARSE, "indefinite-length map");
		return;
	}
	scan_push(s, K_INDEF_MAP, 0);
}

static void cb_break(void *c)
{
	struct scan *s = c;
	if (s->rc != VT_OK)
		return;
	if (s->depth == 0 || (s->stack[s->depth - 1].kind != K_INDEF_ARRAY &&
			      s->stack[s->depth - 1].kind != K_INDEF_MAP)) {
		scan_bad(s, VT_E_PARSE, "break outside an indefinite-length container");
		return;
	}
	struct scan_level *top = &s->stack[s->depth - 1];
	if (top->kind == K_INDEF_MAP && top->n % 2 != 0) {
		scan_bad(s, VT_E_PARSE, "map key without a value");
		return;
	}
	s->depth--;
	scan_item_done(s);
}

static void cb_tag(void *c, uint64_t v)
{
	(void)v;
	scan_push(c, K_TAG, 1);
}

static const struct cbor_callbacks scan_callbacks = {
	.uint8 = cb_u8,
	.uint16 = cb_u16,
	.uint32 = cb_u32,
	.uint64 = cb_u64,
	.negint8 = cb_u8,
	.negint16 = cb_u16,
	.negint32 = cb_u32,
	.negint64 = cb_u64,
	.byte_string_start = cb_indef_string,
	.byte_string = cb_str,
	.string = cb_str,
	.string_start = cb_indef_string,
	.indef_array_start = cb_indef_array,
	.array_start = cb_array,
	.indef_map_start = cb_indef_map,
	.map_start = cb_map,
	.tag = cb_tag,
	.float2 = cb_f,
	.float4 = cb_f,
	.float8 = cb_d,
	.undefined = cb_simple,
	.null = cb_simple,
	.boolean = cb_b,
	.indef_break = cb_break,
};

static vt_status prescan(const uint8_t *data, size_t n, const struct vt_cbor_limits *lim, const char *field,
			 struct vt_err *err)
{
	struct scan s = {
		.max_depth = lim->max_depth,
		.max_items = lim->max_items,
		.allow_indefinite = lim->allow_indefinite,
		.rc = VT_OK,
	};
	size_t off = 0;
	while (!s.done) {
		if (off == n)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "CBOR truncated at byte %zu", off);
		s.avail = n - off;
		struct cbor_decoder_result r = cbor_stream_decode(data + off, n - off, &scan_callbacks, &s);
		if (r.status == CBOR_DECODER_NEDATA)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "CBOR truncated at byte %zu (%zu bytes left, %zu needed)", off, n - off, r.required);
		if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > n - off)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "malformed CBOR at byte %zu", off);
		if (s.rc != VT_OK)
			return vt_fail(err, s.rc, VT_STEP_PARSE, field, "CBOR at byte %zu: %s", off, s.why);
		off += r.read;
	}
	if (off != n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu bytes after the CBOR item", n - off);
	return VT_OK;
}

/* ---------------------------------------------------------- duplicate keys */

static int key_class(const cbor_item_t *k)
{
	switch (cbor_typeof(k)) {
	case CBOR_TYPE_UINT: return 0;
	case CBOR_TYPE_NEGINT: return 1;
	case CBOR_TYPE_BYTESTRING: return 2;
	case CBOR_TYPE_STRING: return 3;
	default: return -1;
	}
}

static int key_cmp(const void *pa, const void *pb)
{
	const cbor_item_t *a = *(const cbor_item_t *const *)pa, *b = *(const cbor_item_t *const *)pb;
	int ca = key_class(a), cb = key_class(b);
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (ca <= 1) {
		uint64_t va = cbor_get_int(a), vb = cbor_get_int(b);
		return va < vb ? -1 : va > vb;
	}
	size_t la = ca == 2 ? cbor_bytestring_length(a) : cbor_string_length(a);
	size_t lb = ca == 2 ? cbor_bytestring_length(b) : cbor_string_length(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	if (la == 0)
		return 0;
	const unsigned char *da = ca == 2 ? cbor_bytestring_handle(a) : cbor_string_handle(a);
	const unsigned char *db = ca == 2 ? cbor_bytestring_handle(b) : cbor_string_handle(b);
	return memcmp(da, db, la);
}

/* Depth is bounded by the pre-scan, so this recursion is too. */
static vt_status check_tree(const cbor_item_t *it, const char *field, struct vt_err *err)
{
	switch (cbor_typeof(it)) {
	case CBOR_TYPE_ARRAY: {
		cbor_item_t **h = cbor_array_handle(it);
		size_t n = cbor_array_size(it);
		for (size_t i = 0; i < n; i++) {
			vt_status rc = check_tree(h[i], field, err);
			if (rc != VT_OK)
				return rc;
		}
		return VT_OK;
	}
	case CBOR_TYPE_TAG: {
		cbor_item_t *inner = cbor_tag_item(it);
		vt_status rc = check_tree(inner, field, err);
		cbor_decref(&inner);
		return rc;
	}
	case CBOR_TYPE_MAP: {
		struct cbor_pair *p = cbor_map_handle(it);
		size_t n = cbor_map_size(it);
		if (n == 0)
			return VT_OK;
		const cbor_item_t **keys = calloc(n, sizeof(*keys));
		if (keys == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
		vt_status rc = VT_OK;
		for (size_t i = 0; i < n && rc == VT_OK; i++) {
			if (key_class(p[i].key) < 0)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
					     "map key is not an integer or a byte/text string");
			keys[i] = p[i].key;
		}
		if (rc == VT_OK) {
			qsort(keys, n, sizeof(*keys), key_cmp);
			for (size_t i = 1; i < n && rc == VT_OK; i++)
				if (key_cmp(&keys[i - 1], &keys[i]) == 0)
					rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "duplicate map key");
		}
		free(keys);
		for (size_t i = 0; i < n && rc == VT_OK; i++)
			rc = check_tree(p[i].value, field, err);
		return rc;
	}
	default:
		return VT_OK;
	}
}

vt_status vt_cbor_decode_ex(const uint8_t *data, size_t n, const struct vt_cbor_limits *lim, const char *field,
			    cbor_item_t **out, struct vt_err *err)
{
	if (out == NULL || (data == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, field, "missing argument");
	*out = NULL;
	struct vt_cbor_limits l = {0};
	if (lim != NULL)
		l = *lim;
	if (l.max_depth == 0 || l.max_depth > VT_COSE_MAX_DEPTH)
		l.max_depth = VT_COSE_MAX_DEPTH;
	if (l.max_items == 0 || l.max_items > VT_COSE_MAX_ITEMS)
		l.max_items = VT_COSE_MAX_ITEMS;
	if (n > VT_COSE_MAX_MESSAGE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, field, "CBOR item of %zu bytes, at most %zu accepted", n,
			       VT_COSE_MAX_MESSAGE);
	vt_status rc = prescan(data, n, &l, field, err);
	if (rc != VT_OK)
		return rc;
	struct cbor_load_result res;
	cbor_item_t *item = cbor_load(data, n, &res);
	if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != n) {
		if (item != NULL)
			cbor_decref(&item);
		if (res.error.code == CBOR_ERR_MEMERROR)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory decoding CBOR");
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "malformed CBOR (libcbor error %d at byte %zu)",
			       (int)res.error.code, res.error.position);
	}
	rc = check_tree(item, field, err);
	if (rc != VT_OK) {
		cbor_decref(&item);
		return rc;
	}
	*out = item;
	return VT_OK;
}

vt_status vt_cbor_decode(const uint8_t *data, size_t n, size_t max_depth, const char *field, cbor_item_t **out,
			 struct vt_err *err)
{
	struct vt_cbor_limits l = {.max_depth = max_depth};
	return vt_cbor_decode_ex(data, n, &l, field, out, err);
}

/* ----------------------------------------------------------------- accessors */

bool vt_cbor_int64(const cbor_item_t *item, int64_t *out)
{
	if (item == NULL)
		return false;
	if (cbor_isa_uint(item)) {
		uint64_t v = cbor_get_int(item);
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
		return true;
	}
	if (cbor_isa_negint(item)) {
		uint64_t v = cbor_get_int(item); /* the value is -1 - v */
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = -1 - (int64_t)v;
		return true;
	}
	return false;
}

bool vt_cbor_is_null(const cbor_item_t *item)
{
	return item != NULL && cbor_isa_float_ctrl(item) && cbor_float_get_width(item) == CBOR_FLOAT_0 &&
	       cbor_ctrl_value(item) == CBOR_CTRL_NULL;
}

const cbor_item_t *vt_cbor_map_get_int(const cbor_item_t *map, int64_t key)
{
	if (map == NULL || !cbor_isa_map(map))
		return NULL;
	struct cbor_pair *p = cbor_map_handle(map);
	size_t n = cbor_map_size(map);
	for (size_t i = 0; i < n; i++) {
		int64_t k;
		if (vt_cbor_int64(p[i].key, &k) && k == key)
			return p[i].value;
	}
	return NULL;
}

const cbor_item_t *vt_cbor_map_get_str(const cbor_item_t *map, const char *key)
{
	if (map == NULL || key == NULL || !cbor_isa_map(map))
		return NULL;
	size_t kl = strlen(key);
	struct cbor_pair *p = cbor_map_handle(map);
	size_t n = cbor_map_size(map);
	for (size_t i = 0; i < n; i++) {
		const cbor_item_t *k = p[i].key;
		if (cbor_isa_string(k) && cbor_string_is_definite(k) && cbor_string_length(k) == kl &&
		    (kl == 0 || memcmp(cbor_string_handle(k), key, kl) == 0))
			return p[i].value;
	}
	return NULL;
}

/* --------------------------------------------------------------- COSE_Sign1 */

struct cose_state {
	cbor_item_t *root;        /* the whole message (owns every view) */
	cbor_item_t *protected_h; /* decoded protected header map; NULL when empty */
	cbor_item_t *unprotected; /* borrowed from root */
};

/* Header maps are small and flat enough: a COSE_Key or a CoRIM meta map nests a little. */
#define HEADER_MAX_DEPTH 8
#define SIGN1_MAX_DEPTH 10

void vt_cose_sign1_free(struct vt_cose_sign1 *s)
{
	if (s == NULL)
		return;
	struct cose_state *st = s->priv_;
	if (st != NULL) {
		if (st->protected_h != NULL)
			cbor_decref(&st->protected_h);
		if (st->root != NULL)
			cbor_decref(&st->root);
		free(st);
	}
	memset(s, 0, sizeof(*s));
}

static const uint8_t *bstr_view(const cbor_item_t *it, size_t *len)
{
	*len = cbor_bytestring_length(it);
	return *len > 0 ? cbor_bytestring_handle(it) : (const uint8_t *)"";
}

/* RFC 9052 §3: a label may appear in only one of the two buckets. */
static vt_status check_disjoint(const cbor_item_t *prot, const cbor_item_t *unprot, struct vt_err *err)
{
	if (prot == NULL)
		return VT_OK;
	struct cbor_pair *p = cbor_map_handle(unprot);
	size_t n = cbor_map_size(unprot);
	struct cbor_pair *q = cbor_map_handle(prot);
	size_t m = cbor_map_size(prot);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m; j++) {
			const cbor_item_t *a = p[i].key, *b = q[j].key;
			if (key_cmp(&a, &b) == 0)
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.unprotected",
					       "header label in both the protected and unprotected headers");
		}
	return VT_OK;
}

vt_status vt_cose_sign1_parse(const uint8_t *data, size_t n, struct vt_cose_sign1 *out, struct vt_err *err)
{
	vt_status rc;
	if (out == NULL || (data == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cose", "missing argument");
	memset(out, 0, sizeof(*out));
	struct cose_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cose", "out of memory");
	struct vt_cose_sign1 s = {.priv_ = st};

	/* libcbor 0.8's decoders refuse the one-byte tags 6..20 ("unassigned"
	 * in RFC 7049), 0xd2 = tag 18 among them: take that one byte off here.
	 * The two-byte form 0xd8 0x12 reaches libcbor and is handled below. */
	if (n > 0 && data[0] == (0xc0 | VT_COSE_TAG_SIGN1)) {
		s.tagged = true;
		data++;
		n--;
	}
	struct vt_cbor_limits lim = {.max_depth = SIGN1_MAX_DEPTH};
	VT_GUARD(vt_cbor_decode_ex(data, n, &lim, "cose", &st->root, err));
	const cbor_item_t *arr = st->root;
	cbor_item_t *inner = NULL;
	if (cbor_isa_tag(arr)) {
		if (cbor_tag_value(arr) != VT_COSE_TAG_SIGN1 || s.tagged) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose", "CBOR tag %llu where a COSE_Sign1 (one tag 18) belongs",
				     (unsigned long long)cbor_tag_value(arr));
			goto out;
		}
		inner = cbor_tag_item(arr); /* new reference; the root keeps it alive */
		arr = inner;
		cbor_decref(&inner);
		s.tagged = true;
	}
	if (!cbor_isa_array(arr) || cbor_array_size(arr) != 4) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose", "COSE_Sign1 is not an array of 4");
		goto out;
	}
	cbor_item_t **el = cbor_array_handle(arr);

	/* protected: bstr, empty or a serialized map */
	if (!cbor_isa_bytestring(el[0]) || !cbor_bytestring_is_definite(el[0])) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected", "protected header is not a byte string");
		goto out;
	}
	s.protected_bstr = bstr_view(el[0], &s.protected_len);
	if (s.protected_len > 0) {
		VT_GUARD(vt_cbor_decode(s.protected_bstr, s.protected_len, HEADER_MAX_DEPTH, "cose.protected",
					&st->protected_h, err));
		if (!cbor_isa_map(st->protected_h)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected", "protected header is not a map");
			goto out;
		}
	}

	/* unprotected: a map (already checked for unique keys with the message) */
	if (!cbor_isa_map(el[1])) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.unprotected", "unprotected header is not a map");
		goto out;
	}
	st->unprotected = el[1];
	VT_GUARD(check_disjoint(st->protected_h, st->unprotected, err));

	/* alg must be protected when present (it is what the signature commits to) */
	if (vt_cbor_map_get_int(st->unprotected, VT_COSE_HDR_ALG) != NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.unprotected", "alg is in the unprotected header");
		goto out;
	}
	const cbor_item_t *alg = vt_cbor_map_get_int(st->protected_h, VT_COSE_HDR_ALG);
	if (alg != NULL && !vt_cbor_int64(alg, &s.alg)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected", "alg (label 1) is not an integer");
		goto out;
	}
	/* We process no extension header: any "crit" list names one we do not understand. */
	if (vt_cbor_map_get_int(st->protected_h, VT_COSE_HDR_CRIT) != NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.protected", "critical headers (label 2) are not supported");
		goto out;
	}

	/* payload: bstr or nil (detached) */
	if (cbor_isa_bytestring(el[2]) && cbor_bytestring_is_definite(el[2])) {
		s.payload = bstr_view(el[2], &s.payload_len);
	} else if (!vt_cbor_is_null(el[2])) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.payload", "payload is neither a byte string nor nil");
		goto out;
	}

	if (!cbor_isa_bytestring(el[3]) || !cbor_bytestring_is_definite(el[3]) || cbor_bytestring_length(el[3]) == 0) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "cose.signature", "signature is not a non-empty byte string");
		goto out;
	}
	s.signature = bstr_view(el[3], &s.signature_len);

	*out = s;
	return VT_OK;
out:
	vt_cose_sign1_free(&s);
	return rc;
}

const cbor_item_t *vt_cose_sign1_protected_get(const struct vt_cose_sign1 *s, int64_t label)
{
	const struct cose_state *st = s ? s->priv_ : NULL;
	return st ? vt_cbor_map_get_int(st->protected_h, label) : NULL;
}

const cbor_item_t *vt_cose_sign1_unprotected_get(const struct vt_cose_sign1 *s, int64_t label)
{
	const struct cose_state *st = s ? s->priv_ : NULL;
	return st ? vt_cbor_map_get_int(st->unprotected, label) : NULL;
}

const cbor_item_t *vt_cose_sign1_unprotected(const struct vt_cose_sign1 *s)
{
	const struct cose_state *st = s ? s->priv_ : NULL;
	return st ? st->unprotected : NULL;
}

/* Heads of definite items come from libcbor's streaming encoders
 * (shortest form, RFC 8949 §4.2.1); the payload bytes are copied once. */
static size_t bstr_head(uint64_t n, uint8_t *p, size_t room)
{
	return cbor_encode_bytestring_start(n, p, room);
}

/* *total += a definite byte string of n bytes; false on overflow. */
static bool add_bstr_size(size_t *total, size_t n)
{
	uint8_t h[9];
	size_t hl = bstr_head(n, h, sizeof(h));
	if (hl == 0 || n > SIZE_MAX - hl || *total > SIZE_MAX - (hl + n))
		return false;
	*total += hl + n;
	return true;
}

/*
 * Encoded with libcbor's streaming encoders rather than built as a libcbor
 * tree and serialized: the payload (a whole Nitro document's) is copied
 * once instead of twice, with one allocation.  Same bytes: definite
 * lengths, shortest heads.
 */
vt_status vt_cose_sig_structure(const uint8_t *protected_bstr, size_t protected_len, const uint8_t *external_aad,
				size_t aad_len, const uint8_t *payload, size_t payload_len, uint8_t **out,
				size_t *out_len, struct vt_err *err)
{
	static const char context[] = "Signature1";
	if (out == NULL || out_len == NULL || (protected_bstr == NULL && protected_len > 0) ||
	    (external_aad == NULL && aad_len > 0) || (payload == NULL && payload_len > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cose", "missing argument");
	*out = NULL;
	*out_len = 0;
	size_t total = 1 + 1 + (sizeof(context) - 1); /* array(4), text(10) "Signature1" */
	if (!add_bstr_size(&total, protected_len) || !add_bstr_size(&total, aad_len) ||
	    !add_bstr_size(&total, payload_len))
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cose", "out of memory building Sig_structure");
	uint8_t *buf = malloc(total), *p = buf;
	if (buf == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cose", "out of memory building Sig_structure");
	p += cbor_encode_array_start(4, p, (size_t)(buf + total - p));
	p += cbor_encode_string_start(sizeof(context) - 1, p, (size_t)(buf + total - p));
	memcpy(p, context, sizeof(context) - 1);
	p += sizeof(context) - 1;
	const uint8_t *parts[3] = {protected_bstr, external_aad, payload};
	const size_t sizes[3] = {protected_len, aad_len, payload_len};
	for (size_t i = 0; i < 3; i++) {
		p += bstr_head(sizes[i], p, (size_t)(buf + total - p));
		if (sizes[i] > 0)
			memcpy(p, parts[i], sizes[i]);
		p += sizes[i];
	}
	assert((size_t)(p - buf) == total);
	*out = buf;
	*out_len = total;
	return VT_OK;
}

/* The hash and curve an ECDSA COSE alg stands for (RFC 9053 §2.1). */
static bool es_alg(int64_t alg, const EVP_MD **md, size_t *coord, const char **name)
{
	switch (alg) {
	case VT_COSE_ALG_ES256: *md = EVP_sha256(); *coord = 32; *name = "ES256"; return true;
	case VT_COSE_ALG_ES384: *md = EVP_sha384(); *coord = 48; *name = "ES384"; return true;
	case VT_COSE_ALG_ES512: *md = EVP_sha512(); *coord = 66; *name = "ES512"; return true;
	default: return false;
	}
}

vt_status vt_cose_sign1_verify_detached(const struct vt_cose_sign1 *s, EVP_PKEY *key, const uint8_t *payload,
					size_t payload_len, const uint8_t *external_aad, size_t aad_len,
					struct vt_err *err)
{
	if (s == NULL || s->priv_ == NULL || key == NULL || (external_aad == NULL && aad_len > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cose", "missing argument");
	if (s->payload != NULL && payload != NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cose.payload", "payload is attached and also supplied");
	if (s->payload == NULL && payload == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cose.payload", "detached payload not supplied");
	const uint8_t *pl = s->payload ? s->payload : payload;
	size_t pl_len = s->payload ? s->payload_len : payload_len;

	const EVP_MD *md;
	size_t coord;
	const char *name;
	if (!es_alg(s->alg, &md, &coord, &name))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "cose.protected",
			       "COSE alg %lld is not ES256, ES384 or ES512", (long long)s->alg);
	size_t kc = vt_ec_coord_size(key);
	if (kc != coord)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "cose.protected",
			       "%s needs a %s key, this key is %s", name,
			       coord == 32 ? "P-256" : coord == 48 ? "P-384" : "P-521",
			       kc == 0 ? "not an EC key" : kc == 32 ? "P-256" : kc == 48 ? "P-384" : kc == 66 ? "P-521" : "another curve");
	if (s->signature_len != 2 * coord)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "cose.signature",
			       "%s signature must be %zu bytes, got %zu", name, 2 * coord, s->signature_len);

	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	vt_status rc = vt_cose_sig_structure(s->protected_bstr, s->protected_len, external_aad, aad_len, pl, pl_len,
					     &tbs, &tbs_len, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_ecdsa_verify_raw(key, md, tbs, tbs_len, s->signature, s->signature_len, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_SIGNATURE && strcmp(err->field, "signature") == 0)
		snprintf(err->field, sizeof(err->field), "cose.signature");
	free(tbs);
	return rc;
}

vt_status vt_cose_sign1_verify(const struct vt_cose_sign1 *s, EVP_PKEY *key, const uint8_t *external_aad,
			       size_t aad_len, struct vt_err *err)
{
	if (s != NULL && s->priv_ != NULL && s->payload == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cose.payload",
			       "detached payload: use vt_cose_sign1_verify_detached");
	return vt_cose_sign1_verify_detached(s, key, NULL, 0, external_aad, aad_len, err);
}
