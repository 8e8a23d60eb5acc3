/*
 * A bounded TOML 1.0 subset reader for KBS init-data (kbs-protocol.md 5.4).
 *
 * Debian 12 has no C TOML library (only C++ ones: toml11, toml++, cpptoml),
 * and init-data documents use a small part of TOML: key/value pairs and
 * tables whose values are strings (often multi-line strings holding the
 * guest's aa.toml and cdh.toml, which use dotted tables and arrays).  This
 * reader takes that part and refuses everything else by name, so nothing
 * is silently misread (docs/decisions.md, "Init-data TOML"):
 *
 *   supported    comments, bare and quoted keys, dotted keys, [table] and
 *                [dotted.table] headers, basic and literal strings, their
 *                multi-line forms, decimal integers, booleans, arrays of
 *                those (nested, multi-line)
 *   refused      [[arrays of tables]], inline tables, floats, dates,
 *                duplicate keys or tables
 *
 * Limits: VT_TOML_MAX bytes of input, 256-byte keys, 8 key levels, 1024
 * keys and 4096 array elements in all, arrays nested 8 deep.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/kbs.h"
#include "veritee/util.h"

#define MAX_KEY 256
#define MAX_KEYS 1024
#define MAX_LEVELS 8
#define MAX_ELEMS 4096
#define MAX_DEPTH 8

struct toml {
	struct vt_reader r;
	size_t line;
	size_t keys;
	size_t elems;
	struct vt_err *err;
};

typedef char seg_t[MAX_KEY + 1];

static int peek(const struct toml *t, size_t k)
{
	if (vt_reader_remaining(&t->r) <= k)
		return -1;
	return t->r.data[t->r.off + k];
}

static vt_status fail(struct toml *t, const char *what)
{
	char field[48];
	snprintf(field, sizeof(field), "init-data.body:%zu", t->line);
	return vt_fail(t->err, VT_E_PARSE, VT_STEP_PARSE, field, "TOML: %s (line %zu)", what, t->line);
}

static vt_status take(struct toml *t, uint8_t *c)
{
	vt_status rc = vt_reader_u8(&t->r, c, "init-data.body", t->err);
	if (rc == VT_OK && *c == '\n')
		t->line++;
	return rc;
}

static void skip_ws(struct toml *t)
{
	uint8_t c;
	while ((peek(t, 0) == ' ' || peek(t, 0) == '\t') && take(t, &c) == VT_OK)
		;
}

/* Whitespace, then an optional comment, then a newline or the end. */
static vt_status end_of_line(struct toml *t)
{
	uint8_t c;
	skip_ws(t);
	if (peek(t, 0) == '#') {
		while (peek(t, 0) != -1 && peek(t, 0) != '\n') {
			if (take(t, &c) != VT_OK)
				return VT_E_PARSE;
			if (c < 0x20 && c != '\t' && c != '\r')
				return fail(t, "control character in a comment");
		}
	}
	if (peek(t, 0) == '\r' && peek(t, 1) == '\n' && take(t, &c) != VT_OK)
		return VT_E_PARSE;
	if (peek(t, 0) == -1)
		return VT_OK;
	if (peek(t, 0) != '\n')
		return fail(t, "expected the end of the line");
	return take(t, &c);
}

static vt_status put_utf8(struct toml *t, struct vt_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return fail(t, "escape is not a Unicode scalar value");
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | (cp >> 6));
		u[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | (cp >> 12));
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | (cp >> 18));
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return vt_buf_append(b, u, n, t->err);
}

static vt_status escape(struct toml *t, struct vt_buf *b)
{
	uint8_t c;
	if (take(t, &c) != VT_OK)
		return fail(t, "unterminated escape");
	const char *from = "btnfr\"\\", *to = "\b\t\n\f\r\"\\";
	const char *hit = c ? strchr(from, c) : NULL;
	if (hit)
		return vt_buf_append(b, &to[hit - from], 1, t->err);
	if (c != 'u' && c != 'U')
		return fail(t, "unknown escape");
	int n = c == 'u' ? 4 : 8;
	uint32_t cp = 0;
	for (int i = 0; i < n; i++) {
		if (take(t, &c) != VT_OK || vt_hex_digit((char)c) < 0)
			return fail(t, "bad \\u escape");
		cp = cp * 16 + (uint32_t)vt_hex_digit((char)c);
	}
	return put_utf8(t, b, cp);
}

/* A string starting at the quote.  Multi-line forms when the quote is tripled. */
static vt_status string(struct toml *t, struct vt_buf *b, bool allow_multi)
{
	uint8_t q, c;
	if (take(t, &q) != VT_OK)
		return VT_E_PARSE;
	bool multi = allow_multi && peek(t, 0) == q && peek(t, 1) == q;
	if (multi) {
		if (take(t, &c) != VT_OK || take(t, &c) != VT_OK)
			return VT_E_PARSE;
		/* A newline right after the opening delimiter is trimmed. */
		if (peek(t, 0) == '\r' && peek(t, 1) == '\n' && take(t, &c) != VT_OK)
			return VT_E_PARSE;
		if (peek(t, 0) == '\n' && take(t, &c) != VT_OK)
			return VT_E_PARSE;
	}
	for (;;) {
		int p = peek(t, 0);
		if (p == -1)
			return fail(t, "unterminated string");
		if (p == q) {
			if (!multi)
				return take(t, &c);
			if (peek(t, 1) == q && peek(t, 2) == q) {
				/* Up to two quotes may end the content ("""a"""""). */
				size_t extra = 0;
				while (extra < 2 && peek(t, 3 + extra) == q)
					extra++;
				for (size_t i = 0; i < extra; i++)
					if (take(t, &c) != VT_OK || vt_buf_append(b, &c, 1, t->err) != VT_OK)
						return VT_E_PARSE;
				for (int i = 0; i < 3; i++)
					if (take(t, &c) != VT_OK)
						return VT_E_PARSE;
				return VT_OK;
			}
		}
		if (take(t, &c) != VT_OK)
			return VT_E_PARSE;
		if (c == '\n' && !multi)
			return fail(t, "newline in a single-line string");
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return fail(t, "control character in a string");
		if (c == 0x7F)
			return fail(t, "DEL in a string");
		if (c == '\\' && q == '"') {
			/* Line-ending backslash: trim the newline and following whitespace. */
			size_t k = 0;
			while (multi && (peek(t, k) == ' ' || peek(t, k) == '\t'))
				k++;
			if (multi && (peek(t, k) == '\n' || (peek(t, k) == '\r' && peek(t, k + 1) == '\n'))) {
				while (peek(t, 0) == ' ' || peek(t, 0) == '\t' || peek(t, 0) == '\n' || peek(t, 0) == '\r')
					if (take(t, &c) != VT_OK)
						return VT_E_PARSE;
				continue;
			}
			if (escape(t, b) != VT_OK)
				return VT_E_PARSE;
			continue;
		}
		if (vt_buf_append(b, &c, 1, t->err) != VT_OK)
			return VT_E_PARSE;
	}
}

static bool bare_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One key segment: bare or quoted (not multi-line). */
static vt_status key_segment(struct toml *t, char out[MAX_KEY + 1])
{
	struct vt_buf b;
	uint8_t c;
	vt_buf_init(&b, MAX_KEY);
	vt_status rc = VT_OK;
	int p = peek(t, 0);
	if (p == '"' || p == '\'') {
		if (string(t, &b, false) != VT_OK) {
			rc = t->err && t->err->code == VT_E_LIMIT ? fail(t, "key longer than 256 bytes") : VT_E_PARSE;
			goto out;
		}
	} else if (bare_char(p)) {
		while (bare_char(peek(t, 0))) {
			if (take(t, &c) != VT_OK || vt_buf_append(&b, &c, 1, t->err) != VT_OK) {
				rc = fail(t, "key longer than 256 bytes");
				goto out;
			}
		}
	} else {
		rc = fail(t, "expected a key");
		goto out;
	}
	if (b.len > 0 && memchr(b.data, 0, b.len) != NULL) {
		rc = fail(t, "NUL in a key");
		goto out;
	}
	if (b.len > 0)
		memcpy(out, b.data, b.len);
	out[b.len] = '\0';
out:
	vt_buf_free(&b);
	return rc;
}

/* A dotted key a.b."c": up to MAX_LEVELS segments. */
static vt_status key_path(struct toml *t, seg_t segs[MAX_LEVELS], size_t *n)
{
	uint8_t c;
	*n = 0;
	for (;;) {
		if (*n == MAX_LEVELS)
			return fail(t, "more than 8 key levels");
		if (key_segment(t, segs[*n]) != VT_OK)
			return VT_E_PARSE;
		(*n)++;
		skip_ws(t);
		if (peek(t, 0) != '.')
			return VT_OK;
		if (take(t, &c) != VT_OK)
			return VT_E_PARSE;
		skip_ws(t);
	}
}

/* Walk (creating) the tables named by segs[0..n) under `from`. */
static vt_status descend(struct toml *t, json_t *from, seg_t *segs, size_t n, json_t **out)
{
	json_t *cur = from;
	for (size_t i = 0; i < n; i++) {
		json_t *next = json_object_get(cur, segs[i]);
		if (next == NULL) {
			next = json_object();
			if (next == NULL || json_object_set_new(cur, segs[i], next) != 0)
				return vt_fail(t->err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
		} else if (!json_is_object(next)) {
			return fail(t, "a key is both a value and a table");
		}
		cur = next;
	}
	*out = cur;
	return VT_OK;
}

/* Whitespace, newlines and comments (inside arrays). */
static vt_status skip_ws_nl(struct toml *t)
{
	for (;;) {
		skip_ws(t);
		int p = peek(t, 0);
		if (p != '#' && p != '\n' && p != '\r')
			return VT_OK;
		if (end_of_line(t) != VT_OK)
			return VT_E_PARSE;
	}
}

static vt_status integer(struct toml *t, json_t **out)
{
	uint8_t c;
	bool neg = false;
	uint64_t v = 0;
	size_t digits = 0;
	if (peek(t, 0) == '+' || peek(t, 0) == '-') {
		neg = peek(t, 0) == '-';
		if (take(t, &c) != VT_OK)
			return VT_E_PARSE;
	}
	while ((peek(t, 0) >= '0' && peek(t, 0) <= '9') || peek(t, 0) == '_') {
		if (take(t, &c) != VT_OK)
			return VT_E_PARSE;
		if (c == '_') {
			if (!(peek(t, 0) >= '0' && peek(t, 0) <= '9') || digits == 0)
				return fail(t, "misplaced '_' in an integer");
			continue;
		}
		if (digits == 1 && v == 0)
			return fail(t, "leading zero in an integer");
		if (v > (uint64_t)INT64_MAX / 10)
			return fail(t, "integer out of range");
		v = v * 10 + (uint64_t)(c - '0');
		digits++;
	}
	if (digits == 0 || v > (uint64_t)INT64_MAX)
		return fail(t, "not an integer");
	if (peek(t, 0) == '.' || peek(t, 0) == 'e' || peek(t, 0) == 'E' || peek(t, 0) == '-' || peek(t, 0) == ':')
		return fail(t, "floats and dates are not supported in init-data");
	*out = json_integer(neg ? -(json_int_t)v : (json_int_t)v);
	return *out ? VT_OK : vt_fail(t->err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
}

static bool word(struct toml *t, const char *w)
{
	size_t n = strlen(w);
	for (size_t i = 0; i < n; i++)
		if (peek(t, i) != (unsigned char)w[i])
			return false;
	return !bare_char(peek(t, n));
}

static vt_status value(struct toml *t, json_t **out, int depth);

static vt_status array(struct toml *t, json_t **out, int depth)
{
	uint8_t c;
	if (depth >= MAX_DEPTH)
		return fail(t, "arrays nested more than 8 deep");
	if (take(t, &c) != VT_OK)
		return VT_E_PARSE;
	json_t *a = json_array();
	if (a == NULL)
		return vt_fail(t->err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
	vt_status rc = VT_OK;
	for (;;) {
		if ((rc = skip_ws_nl(t)) != VT_OK)
			break;
		if (peek(t, 0) == ']')
			break;
		if (++t->elems > MAX_ELEMS) {
			rc = vt_fail(t->err, VT_E_LIMIT, VT_STEP_PARSE, "init-data.body", "more than %d array elements",
				     MAX_ELEMS);
			break;
		}
		json_t *v = NULL;
		if ((rc = value(t, &v, depth + 1)) != VT_OK)
			break;
		if (json_array_append_new(a, v) != 0) {
			rc = vt_fail(t->err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
			break;
		}
		if ((rc = skip_ws_nl(t)) != VT_OK)
			break;
		if (peek(t, 0) == ',') {
			if ((rc = take(t, &c)) != VT_OK)
				break;
			continue;
		}
		if (peek(t, 0) != ']') {
			rc = fail(t, "expected ',' or ']' in an array");
			break;
		}
	}
	if (rc == VT_OK)
		rc = take(t, &c); /* ']' */
	if (rc != VT_OK) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return VT_OK;
}

static vt_status value(struct toml *t, json_t **out, int depth)
{
	int p = peek(t, 0);
	uint8_t c;
	if (p == '"' || p == '\'') {
		struct vt_buf b;
		vt_buf_init(&b, VT_TOML_MAX);
		vt_status rc = string(t, &b, true);
		if (rc == VT_OK) {
			*out = json_stringn(b.data ? (const char *)b.data : "", b.len);
			if (*out == NULL)
				rc = fail(t, "string is not valid UTF-8");
		}
		vt_buf_free(&b);
		return rc;
	}
	if (word(t, "true") || word(t, "false")) {
		bool v = p == 't';
		for (size_t i = 0; i < (v ? 4u : 5u); i++)
			if (take(t, &c) != VT_OK)
				return VT_E_PARSE;
		*out = json_boolean(v);
		return VT_OK;
	}
	if (p == '+' || p == '-' || (p >= '0' && p <= '9'))
		return integer(t, out);
	if (p == '[')
		return array(t, out, depth);
	if (p == '{')
		return fail(t, "inline tables are not supported in init-data");
	return fail(t, "expected a value");
}

vt_status vt_toml_parse(const char *text, size_t len, json_t **out, struct vt_err *err)
{
	if (text == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "init-data.body", "missing argument");
	if (len > VT_TOML_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "init-data.body", "TOML of %zu bytes, at most %d accepted",
			       len, VT_TOML_MAX);
	struct toml t = {.line = 1, .err = err};
	vt_reader_init(&t.r, (const uint8_t *)text, len);
	json_t *root = json_object(), *defined = json_object(), *table = root;
	seg_t *segs = calloc(MAX_LEVELS, sizeof(seg_t));
	vt_status rc = VT_OK;
	uint8_t c;
	if (root == NULL || defined == NULL || segs == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
		goto out;
	}
	while (peek(&t, 0) != -1) {
		skip_ws(&t);
		int p = peek(&t, 0);
		if (p == '#' || p == '\n' || p == '\r' || p == -1) {
			if ((rc = end_of_line(&t)) != VT_OK)
				goto out;
			continue;
		}
		if (++t.keys > MAX_KEYS) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "init-data.body", "more than %d keys", MAX_KEYS);
			goto out;
		}
		size_t n = 0;
		if (p == '[') {
			VT_GUARD(take(&t, &c));
			if (peek(&t, 0) == '[') {
				rc = fail(&t, "arrays of tables are not supported in init-data");
				goto out;
			}
			skip_ws(&t);
			VT_GUARD(key_path(&t, segs, &n));
			if (peek(&t, 0) != ']') {
				rc = fail(&t, "expected ']'");
				goto out;
			}
			VT_GUARD(take(&t, &c));
			/* A table is defined once; its path is joined with 0x1f. */
			char joined[(MAX_KEY + 1) * MAX_LEVELS + 1];
			size_t off = 0;
			for (size_t i = 0; i < n; i++) {
				size_t l = strlen(segs[i]);
				memcpy(joined + off, segs[i], l);
				off += l;
				joined[off++] = '\x1f';
			}
			joined[off] = '\0';
			if (json_object_get(defined, joined) != NULL) {
				rc = fail(&t, "table defined twice");
				goto out;
			}
			if (json_object_set_new(defined, joined, json_true()) != 0) {
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
				goto out;
			}
			VT_GUARD(descend(&t, root, segs, n, &table));
			VT_GUARD(end_of_line(&t));
			continue;
		}
		VT_GUARD(key_path(&t, segs, &n));
		if (peek(&t, 0) != '=') {
			rc = fail(&t, "expected '='");
			goto out;
		}
		VT_GUARD(take(&t, &c));
		skip_ws(&t);
		json_t *parent = NULL, *v = NULL;
		VT_GUARD(descend(&t, table, segs, n - 1, &parent));
		VT_GUARD(value(&t, &v, 0));
		if (json_object_get(parent, segs[n - 1]) != NULL) {
			json_decref(v);
			rc = fail(&t, "key defined twice");
			goto out;
		}
		if (json_object_set_new(parent, segs[n - 1], v) != 0) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "init-data.body", "out of memory");
			goto out;
		}
		VT_GUARD(end_of_line(&t));
	}
	*out = root;
	root = NULL;
out:
	if (rc != VT_OK && err && err->code == VT_OK)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "init-data.body", "TOML does not parse");
	free(segs);
	json_decref(defined);
	json_decref(root);
	return rc;
}
