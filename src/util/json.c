/* JSON helpers: bounded parse, typed access, RFC 8785 canonical form,
 * RFC 6901 pointers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/json.h"
#include "veritee/util.h"

vt_status vt_json_parse(const char *text, size_t len, size_t max, json_t **out, struct vt_err *err)
{
	if (len > max)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "json", "JSON text of %zu bytes exceeds limit %zu", len, max);
	json_error_t je;
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (v == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "json", "invalid JSON at line %d column %d: %s", je.line,
			       je.column, je.text);
	*out = v;
	return VT_OK;
}

static vt_status get_typed(const json_t *obj, const char *key, json_type t, json_t **out, struct vt_err *err)
{
	static const char *const names[] = {"object", "array", "string", "integer", "real", "true", "false", "null"};
	json_t *m = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (m == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "missing member \"%s\"", key);
	if (json_typeof(m) != t)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "member \"%s\" must be a %s", key, names[t]);
	*out = m;
	return VT_OK;
}

vt_status vt_json_get_string(const json_t *obj, const char *key, const char **out, struct vt_err *err)
{
	json_t *m = NULL;
	vt_status rc = get_typed(obj, key, JSON_STRING, &m, err);
	if (rc == VT_OK)
		*out = json_string_value(m);
	return rc;
}

vt_status vt_json_get_object(const json_t *obj, const char *key, json_t **out, struct vt_err *err)
{
	return get_typed(obj, key, JSON_OBJECT, out, err);
}

vt_status vt_json_get_array(const json_t *obj, const char *key, json_t **out, struct vt_err *err)
{
	return get_typed(obj, key, JSON_ARRAY, out, err);
}

/* ------------------------------------------------------------ canonical */

/* Next UTF-16 code unit of a UTF-8 string (jansson guarantees valid UTF-8).
 * *pending holds the low surrogate of a supplementary character. */
static unsigned next_u16(const unsigned char **p, unsigned *pending)
{
	if (*pending) {
		unsigned u = *pending;
		*pending = 0;
		return u;
	}
	const unsigned char *s = *p;
	unsigned cp;
	if (s[0] < 0x80) {
		cp = s[0];
		*p += 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		cp = (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu);
		*p += 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
		*p += 3;
	} else {
		cp = (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
		*p += 4;
	}
	if (cp >= 0x10000) {
		cp -= 0x10000;
		*pending = 0xdc00 + (cp & 0x3ff);
		return 0xd800 + (cp >> 10);
	}
	return cp;
}

/* RFC 8785 §3.2.3: keys sorted by UTF-16 code units. */
static int cmp_utf16(const void *a, const void *b)
{
	const unsigned char *p = *(const unsigned char *const *)a, *q = *(const unsigned char *const *)b;
	unsigned pa = 0, pb = 0;
	for (;;) {
		if (*p == 0 && !pa)
			return (*q == 0 && !pb) ? 0 : -1;
		if (*q == 0 && !pb)
			return 1;
		unsigned x = next_u16(&p, &pa), y = next_u16(&q, &pb);
		if (x != y)
			return x < y ? -1 : 1;
	}
}

static int put_string(struct vt_buf *b, const char *s, size_t n)
{
	struct vt_err e;
	if (vt_buf_append(b, "\"", 1, &e) != VT_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		const char *rep = NULL;
		switch (c) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				rep = esc;
			}
		}
		vt_status rc = rep ? vt_buf_append_str(b, rep, &e) : vt_buf_append(b, &s[i], 1, &e);
		if (rc != VT_OK)
			return -1;
	}
	return vt_buf_append(b, "\"", 1, &e) == VT_OK ? 0 : -1;
}

static int put_canonical(struct vt_buf *b, const json_t *v, int depth)
{
	struct vt_err e;
	char num[32];
	if (depth > 64)
		return -1;
	switch (json_typeof(v)) {
	case JSON_NULL: return vt_buf_append_str(b, "null", &e) == VT_OK ? 0 : -1;
	case JSON_TRUE: return vt_buf_append_str(b, "true", &e) == VT_OK ? 0 : -1;
	case JSON_FALSE: return vt_buf_append_str(b, "false", &e) == VT_OK ? 0 : -1;
	case JSON_REAL: return -1; /* ECMAScript number formatting not supported */
	case JSON_INTEGER: {
		json_int_t x = json_integer_value(v);
		if (x > 9007199254740991LL || x < -9007199254740991LL)
			return -1; /* not exactly representable as an IEEE double */
		snprintf(num, sizeof(num), "%lld", (long long)x);
		return vt_buf_append_str(b, num, &e) == VT_OK ? 0 : -1;
	}
	case JSON_STRING: return put_string(b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY: {
		if (vt_buf_append(b, "[", 1, &e) != VT_OK)
			return -1;
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i && vt_buf_append(b, ",", 1, &e) != VT_OK)
				return -1;
			if (put_canonical(b, json_array_get(v, i), depth + 1) != 0)
				return -1;
		}
		return vt_buf_append(b, "]", 1, &e) == VT_OK ? 0 : -1;
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), k = 0;
		const char **keys = calloc(n ? n : 1, sizeof(*keys));
		if (keys == NULL)
			return -1;
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)v, key, val) keys[k++] = key;
		qsort(keys, n, sizeof(*keys), cmp_utf16);
		int rc = vt_buf_append(b, "{", 1, &e) == VT_OK ? 0 : -1;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if ((i && vt_buf_append(b, ",", 1, &e) != VT_OK) || put_string(b, keys[i], strlen(keys[i])) != 0 ||
			    vt_buf_append(b, ":", 1, &e) != VT_OK ||
			    put_canonical(b, json_object_get(v, keys[i]), depth + 1) != 0)
				rc = -1;
		}
		free(keys);
		return rc == 0 && vt_buf_append(b, "}", 1, &e) == VT_OK ? 0 : -1;
	}
	}
	return -1;
}

char *vt_json_canonical(const json_t *v)
{
	struct vt_buf b;
	vt_buf_init(&b, 64u << 20);
	struct vt_err e;
	if (v == NULL || put_canonical(&b, v, 0) != 0 || vt_buf_nul_terminate(&b, &e) != VT_OK) {
		vt_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

char *vt_json_compact(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ------------------------------------------------------------- pointer */

json_t *vt_json_pointer(const json_t *doc, const char *pointer)
{
	if (doc == NULL || pointer == NULL)
		return NULL;
	if (*pointer == '\0')
		return (json_t *)doc;
	if (*pointer != '/')
		return NULL;
	const json_t *cur = doc;
	const char *p = pointer;
	char tok[256];
	while (*p == '/' && cur != NULL) {
		p++;
		size_t n = 0;
		while (*p && *p != '/') {
			char c = *p++;
			if (c == '~') {
				if (*p == '0')
					c = '~';
				else if (*p == '1')
					c = '/';
				else
					return NULL;
				p++;
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = c;
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			if (n == 0 || n > 9 || (tok[0] == '0' && n > 1))
				return NULL;
			size_t idx = 0;
			for (size_t i = 0; i < n; i++) {
				if (tok[i] < '0' || tok[i] > '9')
					return NULL;
				idx = idx * 10 + (size_t)(tok[i] - '0');
			}
			cur = json_array_get(cur, idx);
		} else {
			return NULL;
		}
	}
	return (json_t *)cur;
}
