/*
 * DCAP collateral: the exact signed JSON text of tcbInfo / enclaveIdentity,
 * and loading a collateral bundle (dcap-qvl JSON file or a PCS directory).
 *
 * The signatures cover the value's bytes as they appear in the response body,
 * so vt_dcap_signed_json_split never re-serialises: a bounded scanner locates
 * the top-level member and returns its raw bytes.  jansson additionally
 * validates the whole body (syntax, duplicate keys), and the extracted text is
 * re-parsed and compared with jansson's view of the member as a cross-check.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "crypto/cache.h"
#include "evidence/dcap/dcap_internal.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define BODY_MAX (1u << 20)      /* a PCS response body */
#define FILE_MAX (4u << 20)      /* a dcap-qvl collateral bundle */
#define PEM_MAX (64u << 10)
#define CRL_MAX (1u << 20)
#define MAX_NESTING 64

#define RET_IF(expr)                      \
	do {                              \
		vt_status rc_ = (expr);   \
		if (rc_ != VT_OK)         \
			return rc_;       \
	} while (0)

static vt_status coll_fail(struct vt_err *err, vt_status code, const char *field, const char *msg)
{
	return vt_fail(err, code, VT_STEP_COLLATERAL, field, "%s", msg);
}

/* ------------------------------------------------------------ scanner */

struct scan {
	const char *s;
	size_t n;
	size_t i;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct scan *sc)
{
	while (sc->i < sc->n && is_ws(sc->s[sc->i]))
		sc->i++;
}

/* At '"': advance past the closing quote.  Escapes are skipped pairwise
 * (full validation is jansson's job).  Raw content is s[*start, *end). */
static bool scan_string(struct scan *sc, size_t *start, size_t *end)
{
	if (sc->i >= sc->n || sc->s[sc->i] != '"')
		return false;
	sc->i++;
	*start = sc->i;
	while (sc->i < sc->n) {
		char c = sc->s[sc->i];
		if (c == '"') {
			*end = sc->i;
			sc->i++;
			return true;
		}
		if (c == '\\') {
			if (sc->n - sc->i < 2)
				return false;
			sc->i += 2;
			continue;
		}
		if ((unsigned char)c < 0x20)
			return false;
		sc->i++;
	}
	return false;
}

/* Skip one JSON value (object, array, string or scalar), iteratively with a
 * bounded nesting stack. */
static bool scan_value(struct scan *sc)
{
	char stack[MAX_NESTING];
	size_t depth = 0;
	size_t a, b;
	skip_ws(sc);
	do {
		if (sc->i >= sc->n)
			return false;
		char c = sc->s[sc->i];
		if (c == '"') {
			if (!scan_string(sc, &a, &b))
				return false;
		} else if (c == '{' || c == '[') {
			if (depth == MAX_NESTING)
				return false;
			stack[depth++] = c == '{' ? '}' : ']';
			sc->i++;
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != c)
				return false;
			depth--;
			sc->i++;
		} else if (c == ',' || c == ':' || is_ws(c)) {
			if (depth == 0)
				return false;
			sc->i++;
		} else {
			/* scalar: literal or number; runs until a delimiter */
			size_t st = sc->i;
			while (sc->i < sc->n && !is_ws(sc->s[sc->i]) && sc->s[sc->i] != ',' && sc->s[sc->i] != '}' &&
			       sc->s[sc->i] != ']' && sc->s[sc->i] != ':' && sc->s[sc->i] != '"' &&
			       sc->s[sc->i] != '{' && sc->s[sc->i] != '[')
				sc->i++;
			if (sc->i == st)
				return false;
		}
	} while (depth > 0);
	return true;
}

static bool raw_key_is(const struct scan *sc, size_t a, size_t b, const char *key)
{
	size_t kl = strlen(key);
	return b - a == kl && memcmp(sc->s + a, key, kl) == 0;
}

/*
 * Split PCS bodies, keyed by the SHA-256 of the member name and the exact
 * body bytes (a pure function of them): the signed value's text and the
 * signature.  Failures are not cached.
 */
struct split_entry {
	atomic_int refs;
	char *value;
	size_t value_len;
	uint8_t sig[64];
};

static void split_ref(void *o)
{
	atomic_fetch_add(&((struct split_entry *)o)->refs, 1);
}

static void split_release(void *o)
{
	struct split_entry *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	free(e->value);
	free(e);
}

static const struct vt_cache_class split_class = {
	.name = "dcap.signed_json", .capacity = 32, .ref = split_ref, .release = split_release};

static vt_status split_uncached(const char *body, size_t size, const char *member, char **value_out,
				uint8_t sig_out[64], struct vt_err *err);

/* The split with the body's SHA-256 known (NULL: computed), cached in `caches` (may be NULL). */
static vt_status split_hashed(struct vt_cache_set *caches, const char *body, size_t size, const uint8_t *body_sha,
			      const char *member, char **value_out, uint8_t sig_out[64], struct vt_err *err)
{
	if (body == NULL || member == NULL || value_out == NULL || sig_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "collateral", "NULL argument");
	*value_out = NULL;
	uint8_t key[32], bh[32];
	struct vt_err scratch = {0};
	uint64_t len = size;
	struct vt_cache *cache = vt_cache_of(caches, &split_class);
	bool keyed = cache != NULL && size <= BODY_MAX &&
		     (body_sha != NULL || vt_sha256(body, size, bh, &scratch) == VT_OK);
	if (keyed) {
		const void *parts[3] = {member, body_sha != NULL ? body_sha : bh, &len};
		size_t sizes[3] = {strlen(member), 32, sizeof(len)};
		keyed = vt_cache_key(key, "dcap-signed-json", 3, parts, sizes, &scratch) == VT_OK;
	}
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, 0, &hit)) {
		struct split_entry *e = hit;
		char *v = malloc(e->value_len + 1);
		if (v != NULL) {
			memcpy(v, e->value, e->value_len + 1);
			memcpy(sig_out, e->sig, 64);
			*value_out = v;
		}
		split_release(e);
		if (v != NULL)
			return VT_OK;
		return vt_fail(err, VT_E_NOMEM, VT_STEP_COLLATERAL, member, "out of memory");
	}
	vt_status rc = split_uncached(body, size, member, value_out, sig_out, err);
	struct split_entry *e = NULL;
	if (rc == VT_OK && keyed && (e = calloc(1, sizeof(*e))) != NULL && (e->value = strdup(*value_out)) != NULL) {
		atomic_init(&e->refs, 1);
		e->value_len = strlen(e->value);
		memcpy(e->sig, sig_out, 64);
		vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, e);
		split_release(e);
	} else if (e != NULL) {
		free(e);
	}
	return rc;
}

vt_status vt_dcap_signed_json_split(const char *body, size_t size, const char *member, char **value_out,
				    uint8_t sig_out[64], struct vt_err *err)
{
	return split_hashed(NULL, body, size, NULL, member, value_out, sig_out, err);
}

vt_status dcap_signed_json_split_cached(struct vt_cache_set *caches, const char *body, size_t size,
					const char *member, char **value_out, uint8_t sig_out[64], struct vt_err *err)
{
	return split_hashed(caches, body, size, NULL, member, value_out, sig_out, err);
}

static vt_status split_uncached(const char *body, size_t size, const char *member, char **value_out,
				uint8_t sig_out[64], struct vt_err *err)
{
	vt_status rc;
	json_t *doc = NULL, *check = NULL;
	char *val = NULL;

	if (body == NULL || member == NULL || value_out == NULL || sig_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "collateral", "NULL argument");
	*value_out = NULL;
	if (size > BODY_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, member, "body of %zu bytes exceeds %u", size,
			       BODY_MAX);
	if (memchr(body, '\0', size) != NULL)
		return coll_fail(err, VT_E_PARSE, member, "NUL byte in JSON body");

	/* 1. jansson: valid JSON, no duplicate keys, the expected member types. */
	VT_GUARD(vt_json_parse(body, size, BODY_MAX, &doc, err));
	json_t *jm = NULL;
	const char *sig_hex = NULL;
	if (!json_is_object(doc)) {
		rc = coll_fail(err, VT_E_PARSE, member, "body is not a JSON object");
		goto out;
	}
	VT_GUARD(vt_json_get_object(doc, member, &jm, err));
	VT_GUARD(vt_json_get_string(doc, "signature", &sig_hex, err));
	if (strlen(sig_hex) != 128) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, "signature", "signature must be 128 hex chars, got %zu",
			     strlen(sig_hex));
		goto out;
	}
	VT_GUARD(vt_hex_decode_fixed(sig_hex, sig_out, 64, err));

	/* 2. scanner: the raw bytes of the top-level member's value. */
	struct scan sc = {body, size, 0};
	size_t vstart = 0, vend = 0;
	bool found = false;
	skip_ws(&sc);
	if (sc.i >= sc.n || sc.s[sc.i] != '{')
		goto bad;
	sc.i++;
	skip_ws(&sc);
	if (sc.i < sc.n && sc.s[sc.i] == '}') {
		sc.i++;
	} else {
		for (;;) {
			size_t ka, kb;
			skip_ws(&sc);
			if (!scan_string(&sc, &ka, &kb))
				goto bad;
			skip_ws(&sc);
			if (sc.i >= sc.n || sc.s[sc.i] != ':')
				goto bad;
			sc.i++;
			skip_ws(&sc);
			size_t st = sc.i;
			if (!scan_value(&sc))
				goto bad;
			if (raw_key_is(&sc, ka, kb, member)) {
				if (found)
					goto bad; /* duplicate (also rejected by jansson) */
				found = true;
				vstart = st;
				vend = sc.i;
			}
			skip_ws(&sc);
			if (sc.i >= sc.n)
				goto bad;
			if (sc.s[sc.i] == ',') {
				sc.i++;
				continue;
			}
			if (sc.s[sc.i] == '}') {
				sc.i++;
				break;
			}
			goto bad;
		}
	}
	skip_ws(&sc);
	if (sc.i != sc.n || !found || vend <= vstart || body[vstart] != '{' || body[vend - 1] != '}')
		goto bad;

	/* 3. cross-check: the raw text means what jansson saw. */
	VT_GUARD(vt_json_parse(body + vstart, vend - vstart, BODY_MAX, &check, err));
	if (!json_equal(check, jm))
		goto bad;

	val = malloc(vend - vstart + 1);
	if (val == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_COLLATERAL, member, "out of memory");
		goto out;
	}
	memcpy(val, body + vstart, vend - vstart);
	val[vend - vstart] = '\0';
	*value_out = val;
	val = NULL;
	rc = VT_OK;
	goto out;
bad:
	rc = vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, member, "cannot locate the raw \"%s\" value", member);
out:
	if (rc != VT_OK)
		vt_wipe(sig_out, 64);
	free(val);
	json_decref(check);
	json_decref(doc);
	return rc;
}

/* ------------------------------------------------------------ loading */

static vt_status dup_string(const char *s, char **out, const char *field, struct vt_err *err)
{
	*out = strdup(s);
	if (*out == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_COLLATERAL, field, "out of memory");
	return VT_OK;
}

static vt_status json_str(json_t *doc, const char *key, char **out, struct vt_err *err)
{
	const char *s = NULL;
	vt_status rc = vt_json_get_string(doc, key, &s, err);
	if (rc != VT_OK)
		return vt_fail(err, rc, VT_STEP_COLLATERAL, key, "bad member");
	return dup_string(s, out, key, err);
}

static vt_status json_hex(json_t *doc, const char *key, uint8_t **out, size_t *out_len, struct vt_err *err)
{
	const char *s = NULL;
	vt_status rc = vt_json_get_string(doc, key, &s, err);
	if (rc == VT_OK)
		rc = vt_hex_decode(s, out, out_len, err);
	if (rc == VT_OK && *out_len == 0) {
		free(*out);
		*out = NULL;
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, key, "empty value");
	}
	if (rc != VT_OK)
		return vt_fail(err, rc, VT_STEP_COLLATERAL, key, "bad hex member");
	return VT_OK;
}

static vt_status json_sig(json_t *doc, const char *key, uint8_t sig[64], struct vt_err *err)
{
	const char *s = NULL;
	vt_status rc = vt_json_get_string(doc, key, &s, err);
	if (rc == VT_OK)
		rc = vt_hex_decode_fixed(s, sig, 64, err);
	if (rc != VT_OK)
		return vt_fail(err, rc, VT_STEP_COLLATERAL, key, "signature must be 128 hex chars");
	return VT_OK;
}

/*
 * Loaded collateral with the SHA-256 of each field, shared read-only:
 * dcap-qvl bundles keyed by the SHA-256 of the file's exact bytes, PCS
 * directories by the SHA-256 of each of their files' bytes.  The bytes come
 * from the stat-keyed file cache (collateral_path is operator
 * configuration); a different byte in any file is a different key.
 */
struct coll_set {
	atomic_int refs;
	struct vt_dcap_collateral c;
	struct dcap_hashes h;
};

static void set_ref(void *o)
{
	atomic_fetch_add(&((struct coll_set *)o)->refs, 1);
}

static void set_release(void *o)
{
	struct coll_set *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	vt_dcap_collateral_free(&e->c);
	free(e);
}

static const struct vt_cache_class bundle_class = {
	.name = "dcap.collateral_json", .capacity = 16, .ref = set_ref, .release = set_release};
static const struct vt_cache_class dir_class = {
	.name = "dcap.collateral_dir", .capacity = 16, .ref = set_ref, .release = set_release};

static vt_status hash_field(const void *p, size_t n, uint8_t out[32], struct vt_err *err)
{
	return vt_sha256(p != NULL ? p : "", p != NULL ? n : 0, out, err);
}

vt_status dcap_collateral_hashes(const struct vt_dcap_collateral *c, struct dcap_hashes *h, struct vt_err *err)
{
#define STRLEN(s) ((s) != NULL ? strlen(s) : 0)
	RET_IF(hash_field(c->pck_crl_issuer_chain, STRLEN(c->pck_crl_issuer_chain), h->pck_crl_issuer_chain, err));
	RET_IF(hash_field(c->root_ca_crl, c->root_ca_crl_size, h->root_ca_crl, err));
	RET_IF(hash_field(c->pck_crl, c->pck_crl_size, h->pck_crl, err));
	RET_IF(hash_field(c->tcb_info_issuer_chain, STRLEN(c->tcb_info_issuer_chain), h->tcb_info_issuer_chain, err));
	RET_IF(hash_field(c->tcb_info, STRLEN(c->tcb_info), h->tcb_info, err));
	RET_IF(hash_field(c->qe_identity_issuer_chain, STRLEN(c->qe_identity_issuer_chain),
				h->qe_identity_issuer_chain, err));
	RET_IF(hash_field(c->qe_identity, STRLEN(c->qe_identity), h->qe_identity, err));
#undef STRLEN
	return VT_OK;
}

/* A new set owning *c (zeroed on return) with its hashes; NULL when out of memory or hashing fails. */
static struct coll_set *set_new(struct vt_dcap_collateral *c)
{
	struct coll_set *e = calloc(1, sizeof(*e));
	struct vt_err scratch = {0};
	if (e == NULL)
		return NULL;
	atomic_init(&e->refs, 1);
	e->c = *c;
	memset(c, 0, sizeof(*c));
	if (dcap_collateral_hashes(&e->c, &e->h, &scratch) != VT_OK) {
		*c = e->c;
		free(e);
		return NULL;
	}
	return e;
}

static bool dup_mem(const void *p, size_t n, uint8_t **out)
{
	*out = NULL;
	if (p == NULL)
		return true;
	*out = malloc(n ? n : 1);
	if (*out != NULL && n > 0)
		memcpy(*out, p, n);
	return *out != NULL;
}

static bool dup_str(const char *s, char **out)
{
	*out = s ? strdup(s) : NULL;
	return s == NULL || *out != NULL;
}

/* Deep copy; false (dst freed and zeroed) when out of memory. */
static bool collateral_copy(const struct vt_dcap_collateral *src, struct vt_dcap_collateral *dst)
{
	memset(dst, 0, sizeof(*dst));
	bool ok = dup_str(src->pck_crl_issuer_chain, &dst->pck_crl_issuer_chain) &&
		  dup_mem(src->root_ca_crl, src->root_ca_crl_size, &dst->root_ca_crl) &&
		  dup_mem(src->pck_crl, src->pck_crl_size, &dst->pck_crl) &&
		  dup_str(src->tcb_info_issuer_chain, &dst->tcb_info_issuer_chain) && dup_str(src->tcb_info, &dst->tcb_info) &&
		  dup_str(src->qe_identity_issuer_chain, &dst->qe_identity_issuer_chain) &&
		  dup_str(src->qe_identity, &dst->qe_identity);
	dst->root_ca_crl_size = src->root_ca_crl_size;
	dst->pck_crl_size = src->pck_crl_size;
	memcpy(dst->tcb_info_signature, src->tcb_info_signature, 64);
	memcpy(dst->qe_identity_signature, src->qe_identity_signature, 64);
	if (!ok)
		vt_dcap_collateral_free(dst);
	return ok;
}

static vt_status load_qvl_text(const uint8_t *text, size_t len, struct vt_dcap_collateral *c, struct vt_err *err);

static vt_status acquire_qvl_json(struct vt_cache_set *caches, const char *path, struct coll_set **out,
				  struct vt_err *err)
{
	const uint8_t *text = NULL;
	size_t len = 0;
	uint8_t sha[32], key[32];
	void *fh = NULL;
	struct vt_err scratch = {0};
	RET_IF(vt_file_read_cached(caches, path, FILE_MAX, 0, &text, &len, sha, &fh, err));
	uint64_t n64 = len;
	const void *parts[2] = {sha, &n64};
	size_t sizes[2] = {32, sizeof(n64)};
	struct vt_cache *cache = vt_cache_of(caches, &bundle_class);
	bool keyed = cache != NULL && vt_cache_key(key, "dcap-qvl-json", 2, parts, sizes, &scratch) == VT_OK;
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, 0, &hit)) {
		vt_file_cache_release(fh);
		*out = hit;
		return VT_OK;
	}
	struct vt_dcap_collateral c;
	memset(&c, 0, sizeof(c));
	vt_status rc = load_qvl_text(text, len, &c, err);
	vt_file_cache_release(fh);
	if (rc != VT_OK) {
		vt_dcap_collateral_free(&c);
		return rc;
	}
	struct coll_set *e = set_new(&c);
	vt_dcap_collateral_free(&c);
	if (e == NULL)
		return coll_fail(err, VT_E_NOMEM, "collateral", "out of memory");
	if (keyed)
		vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, e);
	*out = e;
	return VT_OK;
}

static vt_status load_qvl_text(const uint8_t *text, size_t len, struct vt_dcap_collateral *c, struct vt_err *err)
{
	vt_status rc;
	json_t *doc = NULL;

	VT_GUARD(vt_json_parse((const char *)text, len, FILE_MAX, &doc, err));
	if (!json_is_object(doc)) {
		rc = coll_fail(err, VT_E_PARSE, "collateral", "collateral JSON is not an object");
		goto out;
	}
	VT_GUARD(json_str(doc, "pck_crl_issuer_chain", &c->pck_crl_issuer_chain, err));
	VT_GUARD(json_hex(doc, "root_ca_crl", &c->root_ca_crl, &c->root_ca_crl_size, err));
	VT_GUARD(json_hex(doc, "pck_crl", &c->pck_crl, &c->pck_crl_size, err));
	VT_GUARD(json_str(doc, "tcb_info_issuer_chain", &c->tcb_info_issuer_chain, err));
	VT_GUARD(json_str(doc, "tcb_info", &c->tcb_info, err));
	VT_GUARD(json_sig(doc, "tcb_info_signature", c->tcb_info_signature, err));
	VT_GUARD(json_str(doc, "qe_identity_issuer_chain", &c->qe_identity_issuer_chain, err));
	VT_GUARD(json_str(doc, "qe_identity", &c->qe_identity, err));
	VT_GUARD(json_sig(doc, "qe_identity_signature", c->qe_identity_signature, err));
	rc = VT_OK;
out:
	json_decref(doc);
	return rc;
}

/* A regular file in `dir`, read through the file cache (VT_E_NOTFOUND when not a regular file). */
static vt_status cached_in(struct vt_cache_set *caches, const char *dir, const char *name, size_t max,
			   unsigned flags, const uint8_t **bytes, size_t *len, uint8_t sha[32], void **fh,
			   struct vt_err *err)
{
	char buf[512];
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = dl + nl + 2 <= sizeof(buf) ? buf : malloc(dl + nl + 2);
	if (p == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_COLLATERAL, name, "out of memory");
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	vt_status rc = vt_file_read_cached(caches, p, max, flags, bytes, len, sha, fh, err);
	if (p != buf)
		free(p);
	return rc;
}

static bool file_exists(struct vt_cache_set *caches, const char *dir, const char *name)
{
	const uint8_t *b = NULL;
	size_t n = 0;
	uint8_t sha[32];
	void *fh = NULL;
	struct vt_err scratch = {0};
	/* within the size limit of what is read next; larger files give that read's error */
	bool ok = cached_in(caches, dir, name, CRL_MAX, VT_FILE_REGULAR_ONLY, &b, &n, sha, &fh, &scratch) !=
		  VT_E_NOTFOUND;
	vt_file_cache_release(fh);
	return ok;
}

static vt_status read_in(struct vt_cache_set *caches, const char *dir, const char *name, size_t max, uint8_t **out,
			 size_t *len, struct vt_err *err)
{
	const uint8_t *b = NULL;
	void *fh = NULL;
	uint8_t sha[32];
	vt_status rc = cached_in(caches, dir, name, max, 0, &b, len, sha, &fh, err);
	if (rc != VT_OK)
		return vt_fail(err, rc, VT_STEP_COLLATERAL, name, "cannot read collateral file");
	*out = malloc(*len + 1);
	if (*out != NULL)
		memcpy(*out, b, *len + 1); /* with the NUL terminator */
	vt_file_cache_release(fh);
	if (*out == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_COLLATERAL, name, "out of memory");
	return VT_OK;
}

static vt_status read_text(struct vt_cache_set *caches, const char *dir, const char *name, char **out,
			   struct vt_err *err)
{
	uint8_t *d = NULL;
	size_t n = 0;
	vt_status rc = read_in(caches, dir, name, PEM_MAX, &d, &n, err);
	if (rc != VT_OK)
		return rc;
	if (memchr(d, '\0', n) != NULL) {
		free(d);
		return coll_fail(err, VT_E_PARSE, name, "NUL byte in text file");
	}
	*out = (char *)d; /* NUL-terminated */
	return VT_OK;
}

/* A PEM "X509 CRL" block's DER bytes exactly as encoded (no re-serialisation). */
static vt_status pem_crl_to_der(const uint8_t *pem, size_t n, uint8_t **der, size_t *der_len, struct vt_err *err)
{
	vt_status rc = VT_OK;
	if (n > CRL_MAX || n > (size_t)INT32_MAX)
		return coll_fail(err, VT_E_LIMIT, "pckcrl.pem", "file too large");
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	if (bio == NULL)
		return coll_fail(err, VT_E_NOMEM, "pckcrl.pem", "out of memory");
	if (PEM_read_bio(bio, &name, &header, &data, &len) != 1 || strcmp(name, "X509 CRL") != 0 || len <= 0) {
		rc = coll_fail(err, VT_E_PARSE, "pckcrl.pem", "not a PEM X509 CRL");
		goto out;
	}
	*der = malloc((size_t)len);
	if (*der == NULL) {
		rc = coll_fail(err, VT_E_NOMEM, "pckcrl.pem", "out of memory");
		goto out;
	}
	memcpy(*der, data, (size_t)len);
	*der_len = (size_t)len;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return rc;
}

static vt_status load_signed(struct vt_cache_set *caches, const char *dir, const char *name, const char *member,
			     char **value, uint8_t sig[64], struct vt_err *err)
{
	const uint8_t *d = NULL;
	size_t n = 0;
	uint8_t sha[32];
	void *fh = NULL;
	vt_status rc = cached_in(caches, dir, name, BODY_MAX, 0, &d, &n, sha, &fh, err);
	if (rc != VT_OK)
		rc = vt_fail(err, rc, VT_STEP_COLLATERAL, name, "cannot read collateral file");
	else
		rc = split_hashed(caches, (const char *)d, n, sha, member, value, sig, err);
	vt_file_cache_release(fh);
	return rc;
}

static vt_status load_dir(struct vt_cache_set *caches, const char *dir, struct vt_dcap_collateral *c,
			  struct vt_err *err)
{
	vt_status rc;
	uint8_t *tmp = NULL;
	size_t tmp_len = 0;

	VT_GUARD(load_signed(caches, dir, "tcbinfo.json", "tcbInfo", &c->tcb_info, c->tcb_info_signature, err));
	VT_GUARD(read_text(caches, dir, "tcbinfo_issuer_chain.pem", &c->tcb_info_issuer_chain, err));
	VT_GUARD(load_signed(caches, dir, "qeidentity.json", "enclaveIdentity", &c->qe_identity,
			     c->qe_identity_signature, err));
	VT_GUARD(read_text(caches, dir, "qeidentity_issuer_chain.pem", &c->qe_identity_issuer_chain, err));
	VT_GUARD(read_text(caches, dir, "pckcrl_issuer_chain.pem", &c->pck_crl_issuer_chain, err));
	if (file_exists(caches, dir, "pckcrl.der")) {
		VT_GUARD(read_in(caches, dir, "pckcrl.der", CRL_MAX, &c->pck_crl, &c->pck_crl_size, err));
	} else {
		VT_GUARD(read_in(caches, dir, "pckcrl.pem", CRL_MAX, &tmp, &tmp_len, err));
		VT_GUARD(pem_crl_to_der(tmp, tmp_len, &c->pck_crl, &c->pck_crl_size, err));
	}
	VT_GUARD(read_in(caches, dir, "rootcrl.der", CRL_MAX, &c->root_ca_crl, &c->root_ca_crl_size, err));
	if (c->pck_crl_size == 0 || c->root_ca_crl_size == 0) {
		rc = coll_fail(err, VT_E_PARSE, "collateral", "empty CRL file");
		goto out;
	}
	rc = VT_OK;
out:
	free(tmp);
	return rc;
}

/*
 * A directory: when all of its files read, the SHA-256 of each (and which
 * PCK CRL form is present) keys a loaded set; otherwise, and on a miss, the
 * files are loaded in order as before (the same errors, in the same order).
 */
static const char *const DIR_FILES[] = {"tcbinfo.json",		 "tcbinfo_issuer_chain.pem", "qeidentity.json",
					"qeidentity_issuer_chain.pem", "pckcrl_issuer_chain.pem",  "pckcrl.der",
					"rootcrl.der"};
#define N_DIR_FILES (sizeof(DIR_FILES) / sizeof(DIR_FILES[0]))

static bool dir_key(struct vt_cache_set *caches, const char *dir, uint8_t key[32])
{
	static const size_t max[N_DIR_FILES] = {BODY_MAX, PEM_MAX, BODY_MAX, PEM_MAX, PEM_MAX, CRL_MAX, CRL_MAX};
	uint8_t sha[N_DIR_FILES][32];
	uint64_t lens[N_DIR_FILES];
	bool ok = true;
	uint8_t pem_crl = 0;
	for (size_t i = 0; i < N_DIR_FILES && ok; i++) {
		const uint8_t *b = NULL;
		size_t n = 0;
		void *fh = NULL;
		struct vt_err scratch = {0};
		const char *name = DIR_FILES[i];
		vt_status rc = cached_in(caches, dir, name, max[i], VT_FILE_REGULAR_ONLY, &b, &n, sha[i], &fh, &scratch);
		if (rc == VT_E_NOTFOUND && i == 5) {
			pem_crl = 1;
			name = "pckcrl.pem";
			rc = cached_in(caches, dir, name, CRL_MAX, VT_FILE_REGULAR_ONLY, &b, &n, sha[i], &fh, &scratch);
		}
		/* text files with a NUL byte fail the load: no key */
		ok = rc == VT_OK && (i == 5 || i == 6 || memchr(b, '\0', n) == NULL);
		lens[i] = n;
		vt_file_cache_release(fh);
	}
	if (!ok)
		return false;
	const void *parts[2 * N_DIR_FILES + 1];
	size_t sizes[2 * N_DIR_FILES + 1];
	for (size_t i = 0; i < N_DIR_FILES; i++) {
		parts[2 * i] = sha[i];
		sizes[2 * i] = 32;
		parts[2 * i + 1] = &lens[i];
		sizes[2 * i + 1] = sizeof(lens[i]);
	}
	parts[2 * N_DIR_FILES] = &pem_crl;
	sizes[2 * N_DIR_FILES] = 1;
	struct vt_err scratch = {0};
	return vt_cache_key(key, "dcap-collateral-dir", 2 * N_DIR_FILES + 1, parts, sizes, &scratch) == VT_OK;
}

static vt_status acquire_dir(struct vt_cache_set *caches, const char *dir, struct coll_set **out,
			     struct vt_err *err)
{
	uint8_t key[32];
	struct vt_cache *cache = vt_cache_of(caches, &dir_class);
	bool keyed = cache != NULL && dir_key(caches, dir, key);
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, 0, &hit)) {
		*out = hit;
		return VT_OK;
	}
	struct vt_dcap_collateral c;
	memset(&c, 0, sizeof(c));
	vt_status rc = load_dir(caches, dir, &c, err);
	if (rc != VT_OK) {
		vt_dcap_collateral_free(&c);
		return rc;
	}
	struct coll_set *e = set_new(&c);
	vt_dcap_collateral_free(&c);
	if (e == NULL)
		return coll_fail(err, VT_E_NOMEM, "collateral", "out of memory");
	if (keyed)
		vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, e);
	*out = e;
	return VT_OK;
}

vt_status dcap_collateral_acquire(struct vt_cache_set *caches, const char *path, const struct vt_dcap_collateral **c,
				  const struct dcap_hashes **h, void **handle, struct vt_err *err)
{
	*c = NULL;
	*h = NULL;
	*handle = NULL;
	if (path == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "collateral", "NULL argument");
	struct coll_set *e = NULL;
	uint8_t key[32];
	void *hit = NULL;
	/* All seven files read as regular files: `path` is a directory (no stat of it needed). */
	struct vt_cache *dir_cache = vt_cache_of(caches, &dir_class);
	if (dir_cache != NULL && dir_key(caches, path, key) && vt_cache_get(dir_cache, key, 0, &hit)) {
		e = hit;
	} else {
		struct stat st;
		if (stat(path, &st) != 0)
			return vt_fail(err, errno == ENOENT ? VT_E_NOTFOUND : VT_E_IO, VT_STEP_COLLATERAL, "collateral",
				       "cannot stat collateral path");
		RET_IF(S_ISDIR(st.st_mode) ? acquire_dir(caches, path, &e, err)
					   : acquire_qvl_json(caches, path, &e, err));
	}
	*c = &e->c;
	*h = &e->h;
	*handle = e;
	return VT_OK;
}

void dcap_collateral_release(void *handle)
{
	set_release(handle);
}

vt_status vt_dcap_collateral_load(const char *path, struct vt_dcap_collateral *out, struct vt_err *err)
{
	if (path == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "collateral", "NULL argument");
	memset(out, 0, sizeof(*out));
	const struct vt_dcap_collateral *c = NULL;
	const struct dcap_hashes *h = NULL;
	void *handle = NULL;
	RET_IF(dcap_collateral_acquire(NULL, path, &c, &h, &handle, err)); /* no verifier: no caching */
	bool ok = collateral_copy(c, out);
	dcap_collateral_release(handle);
	return ok ? VT_OK : coll_fail(err, VT_E_NOMEM, "collateral", "out of memory");
}

void vt_dcap_collateral_free(struct vt_dcap_collateral *c)
{
	if (c == NULL)
		return;
	free(c->pck_crl_issuer_chain);
	free(c->root_ca_crl);
	free(c->pck_crl);
	free(c->tcb_info_issuer_chain);
	free(c->tcb_info);
	free(c->qe_identity_issuer_chain);
	free(c->qe_identity);
	memset(c, 0, sizeof(*c));
}
