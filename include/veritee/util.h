/*
 * veritee/util.h — bounded reader for untrusted bytes, capped buffers,
 * secrets, hex/base64 encodings, time.
 */
#ifndef VERITEE_UTIL_H
#define VERITEE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "veritee/err.h"

/* ---------------------------------------------------------------------------
 * Bounded reader.  All parsing of untrusted binary data goes through it.
 * The reader borrows `data`; nothing is allocated.  Every read checks the
 * remaining length by subtraction (`size - off`) so no addition can wrap.
 * On failure the offset is left unchanged and `field` is named in `err`.
 */
struct vt_reader {
	const uint8_t *data;
	size_t size;
	size_t off;
};

VT_API void vt_reader_init(struct vt_reader *r, const uint8_t *data, size_t size);
VT_API size_t vt_reader_remaining(const struct vt_reader *r);
VT_API VT_MUST_USE vt_status vt_reader_u8(struct vt_reader *r, uint8_t *out, const char *field, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_reader_u16le(struct vt_reader *r, uint16_t *out, const char *field, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_reader_u32le(struct vt_reader *r, uint32_t *out, const char *field, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_reader_u64le(struct vt_reader *r, uint64_t *out, const char *field, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_reader_u16be(struct vt_reader *r, uint16_t *out, const char *field, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_reader_u32be(struct vt_reader *r, uint32_t *out, const char *field, struct vt_err *err);
/* Copy exactly n bytes into out. */
VT_API VT_MUST_USE vt_status vt_reader_copy(struct vt_reader *r, void *out, size_t n, const char *field, struct vt_err *err);
/* Borrow a view of n bytes (valid as long as the input is). */
VT_API VT_MUST_USE vt_status vt_reader_view(struct vt_reader *r, const uint8_t **out, size_t n, const char *field, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_reader_skip(struct vt_reader *r, size_t n, const char *field, struct vt_err *err);
/* Fail unless every byte has been consumed. */
VT_API VT_MUST_USE vt_status vt_reader_expect_end(const struct vt_reader *r, const char *what, struct vt_err *err);

/* The writer's side: the low n bytes of v (n <= 8) at p, little- or
 * big-endian. */
VT_API void vt_put_le(uint8_t *p, uint64_t v, size_t n);
VT_API void vt_put_be(uint8_t *p, uint64_t v, size_t n);

/* ---------------------------------------------------------------------------
 * Capped growable buffer.  `max` bounds the total size (VT_E_LIMIT past it).
 * The buffer owns `data`; vt_buf_free releases it (and wipes it when `wipe`).
 */
struct vt_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	bool wipe; /* wipe contents on growth and free */
};

VT_API void vt_buf_init(struct vt_buf *b, size_t max);
VT_API VT_MUST_USE vt_status vt_buf_append(struct vt_buf *b, const void *p, size_t n, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_buf_append_str(struct vt_buf *b, const char *s, struct vt_err *err);
/* Ensure data[len] == 0 (not counted in len) so the buffer can be used as C string. */
VT_API VT_MUST_USE vt_status vt_buf_nul_terminate(struct vt_buf *b, struct vt_err *err);
VT_API void vt_buf_free(struct vt_buf *b);

/* ---------------------------------------------------------------------------
 * Secrets.  The one type for key material and released resources.
 * Allocated by vt_secret_new*; wiped (OPENSSL_cleanse) and freed by
 * vt_secret_free.  Never print or log `data`.
 */
struct vt_secret {
	uint8_t *data;
	size_t len;
};

VT_API struct vt_secret *vt_secret_new(size_t len);                     /* zero-filled */
VT_API struct vt_secret *vt_secret_from(const void *p, size_t len);     /* copy */
VT_API struct vt_secret *vt_secret_random(size_t len);                  /* CSPRNG */
VT_API void vt_secret_free(struct vt_secret *s);                        /* NULL ok */
/* Constant-time equality (lengths are not secret). */
VT_API bool vt_secret_eq(const struct vt_secret *a, const struct vt_secret *b);
VT_API bool vt_ct_eq(const void *a, const void *b, size_t n);
/* Wipe arbitrary memory (OPENSSL_cleanse). */
VT_API void vt_wipe(void *p, size_t n);

/* ---------------------------------------------------------------------------
 * Encodings.  Encoders return malloc'd NUL-terminated strings (NULL on OOM).
 * Decoders allocate *out (caller frees; use vt_wipe first if secret) and are
 * strict: invalid characters, bad padding or non-canonical trailing bits fail.
 */
VT_API char *vt_hex_encode(const uint8_t *p, size_t n);
/* Lowercase hex of n bytes into out[2n + 1] (NUL-terminated), no allocation. */
VT_API void vt_hex_encode_to(const uint8_t *p, size_t n, char *out);
/* Value of one hex digit (either case), or -1. */
VT_API int vt_hex_digit(char c);
VT_API VT_MUST_USE vt_status vt_hex_decode(const char *s, uint8_t **out, size_t *out_len, struct vt_err *err);
/* Decode into a fixed-size buffer; the string must be exactly 2*n hex chars. */
VT_API VT_MUST_USE vt_status vt_hex_decode_fixed(const char *s, uint8_t *out, size_t n, struct vt_err *err);

VT_API char *vt_b64_encode(const uint8_t *p, size_t n);    /* standard, padded */
VT_API char *vt_b64url_encode(const uint8_t *p, size_t n); /* url-safe, no padding */
VT_API VT_MUST_USE vt_status vt_b64_decode(const char *s, size_t slen, uint8_t **out, size_t *out_len, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_b64url_decode(const char *s, size_t slen, uint8_t **out, size_t *out_len, struct vt_err *err);

/* ---------------------------------------------------------------------------
 * Files.
 */
/* Read a whole file (at most max bytes) into a malloc'd buffer, NUL-terminated. */
VT_API VT_MUST_USE vt_status vt_file_read(const char *path, size_t max, uint8_t **out, size_t *out_len, struct vt_err *err);
/* A file holding a private key or secret: VT_OK when it exists and no one
 * but its owner can read or write it (mode & 077 == 0, after symlinks);
 * VT_E_USAGE naming the file and "chmod 600" otherwise; VT_E_NOTFOUND when
 * absent. */
VT_API VT_MUST_USE vt_status vt_file_check_private(const char *path, struct vt_err *err);
/* Write atomically (temp file + rename) with the given mode. */
VT_API VT_MUST_USE vt_status vt_file_write(const char *path, const void *p, size_t n, unsigned mode, struct vt_err *err);

/* ---------------------------------------------------------------------------
 * Time.  Verification takes `now` as an input; these help callers produce it.
 */
VT_API int64_t vt_now(void); /* wall clock, seconds since the epoch */
/* Milliseconds on CLOCK_MONOTONIC: deadlines and intervals, never dates. */
VT_API int64_t vt_mono_ms(void);
/* Parse "2025-12-08T00:00:00Z" (also "+00:00" / fractional seconds). */
VT_API VT_MUST_USE vt_status vt_time_parse_rfc3339(const char *s, int64_t *out, struct vt_err *err);
/* Format as RFC 3339 UTC into buf (at least 21 bytes). */
VT_API void vt_time_format_rfc3339(int64_t t, char *buf, size_t buf_size);

#endif
