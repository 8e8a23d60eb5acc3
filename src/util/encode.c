/* Hex and base64 (standard and url-safe), strict decoders. */
#include <stdlib.h>
#include <string.h>

#include "veritee/util.h"

void vt_hex_encode_to(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

char *vt_hex_encode(const uint8_t *p, size_t n)
{
	if (n > (SIZE_MAX - 1) / 2)
		return NULL;
	char *s = malloc(2 * n + 1);
	if (s != NULL)
		vt_hex_encode_to(p, n, s);
	return s;
}

int vt_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static vt_status hex_into(const char *s, size_t slen, uint8_t *out, struct vt_err *err)
{
	for (size_t i = 0; i < slen / 2; i++) {
		int hi = vt_hex_digit(s[2 * i]), lo = vt_hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hex", "invalid hex character at %zu", 2 * i);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return VT_OK;
}

vt_status vt_hex_decode(const char *s, uint8_t **out, size_t *out_len, struct vt_err *err)
{
	size_t slen = strlen(s);
	if (slen % 2)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hex", "odd number of hex digits");
	uint8_t *p = malloc(slen / 2 + 1);
	if (p == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_status rc = hex_into(s, slen, p, err);
	if (rc != VT_OK) {
		free(p);
		return rc;
	}
	*out = p;
	*out_len = slen / 2;
	return VT_OK;
}

vt_status vt_hex_decode_fixed(const char *s, uint8_t *out, size_t n, struct vt_err *err)
{
	size_t slen = strlen(s);
	if (slen != 2 * n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "hex", "expected %zu hex digits, got %zu", 2 * n, slen);
	return hex_into(s, slen, out, err);
}

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(const uint8_t *p, size_t n, const char *alpha, int pad)
{
	if (n > (SIZE_MAX / 4) * 3 - 3)
		return NULL;
	size_t olen = 4 * ((n + 2) / 3) + 1;
	char *s = malloc(olen), *o = s;
	if (s == NULL)
		return NULL;
	size_t i = 0;
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = alpha[v >> 18 & 63];
		*o++ = alpha[v >> 12 & 63];
		*o++ = alpha[v >> 6 & 63];
		*o++ = alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = alpha[v >> 18 & 63];
		*o++ = alpha[v >> 12 & 63];
		if (pad) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = alpha[v >> 18 & 63];
		*o++ = alpha[v >> 12 & 63];
		*o++ = alpha[v >> 6 & 63];
		if (pad)
			*o++ = '=';
	}
	*o = '\0';
	return s;
}

char *vt_b64_encode(const uint8_t *p, size_t n) { return b64_encode(p, n, B64_STD, 1); }
char *vt_b64url_encode(const uint8_t *p, size_t n) { return b64_encode(p, n, B64_URL, 0); }

/* padmode: 1 = padding required (standard), 0 = padding forbidden (url). */
/* Decoding tables (value of each byte, -1 when not in the alphabet). */
static const int8_t B64_STD_MAP[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
static const int8_t B64_URL_MAP[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static vt_status b64_decode(const char *s, size_t slen, const int8_t *map, int padmode, uint8_t **out,
			    size_t *out_len, struct vt_err *err)
{
	const char *field = padmode ? "base64" : "base64url";
	size_t npad = 0;
	if (padmode) {
		if (slen % 4)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "length %zu is not a multiple of 4", slen);
		while (npad < 2 && slen - npad > 0 && s[slen - npad - 1] == '=')
			npad++;
	}
	size_t dlen = slen - npad; /* data characters */
	if (dlen % 4 == 1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "invalid length");
	size_t olen = dlen / 4 * 3 + (dlen % 4 ? dlen % 4 - 1 : 0);
	uint8_t *o = malloc(olen + 1);
	if (o == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0, k = 0;
	/* whole groups of 4 characters -> 3 bytes */
	for (; i + 4 <= dlen; i += 4) {
		int32_t a = map[u[i]], b = map[u[i + 1]], c = map[u[i + 2]], d = map[u[i + 3]];
		if ((a | b | c | d) < 0)
			break; /* the tail loop below finds the invalid character */
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		o[k++] = (uint8_t)(v >> 16);
		o[k++] = (uint8_t)(v >> 8);
		o[k++] = (uint8_t)v;
	}
	uint32_t acc = 0;
	size_t bits = 0;
	for (; i < dlen; i++) {
		int8_t v = map[u[i]];
		if (v < 0) {
			free(o);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "invalid character at %zu", i);
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) { /* non-zero trailing bits: not canonical */
		free(o);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "non-canonical trailing bits");
	}
	o[k] = 0;
	*out = o;
	*out_len = k;
	return VT_OK;
}

vt_status vt_b64_decode(const char *s, size_t slen, uint8_t **out, size_t *out_len, struct vt_err *err)
{
	return b64_decode(s, slen, B64_STD_MAP, 1, out, out_len, err);
}

vt_status vt_b64url_decode(const char *s, size_t slen, uint8_t **out, size_t *out_len, struct vt_err *err)
{
	return b64_decode(s, slen, B64_URL_MAP, 0, out, out_len, err);
}
