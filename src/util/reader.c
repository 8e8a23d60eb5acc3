/* Bounded reader: the only way untrusted binary input is read. */
#include <string.h>

#include "veritee/util.h"

void vt_reader_init(struct vt_reader *r, const uint8_t *data, size_t size)
{
	r->data = data;
	r->size = data ? size : 0;
	r->off = 0;
}

size_t vt_reader_remaining(const struct vt_reader *r)
{
	return r->size - r->off; /* off <= size is an invariant */
}

static vt_status need(const struct vt_reader *r, size_t n, const char *field, struct vt_err *err)
{
	if (n > r->size - r->off)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
			       "truncated: need %zu bytes at offset %zu, %zu left", n, r->off, r->size - r->off);
	return VT_OK;
}

vt_status vt_reader_view(struct vt_reader *r, const uint8_t **out, size_t n, const char *field, struct vt_err *err)
{
	vt_status rc = need(r, n, field, err);
	if (rc != VT_OK)
		return rc;
	*out = r->data + r->off;
	r->off += n;
	return VT_OK;
}

vt_status vt_reader_copy(struct vt_reader *r, void *out, size_t n, const char *field, struct vt_err *err)
{
	const uint8_t *p;
	vt_status rc = vt_reader_view(r, &p, n, field, err);
	if (rc == VT_OK && n > 0)
		memcpy(out, p, n);
	return rc;
}

vt_status vt_reader_skip(struct vt_reader *r, size_t n, const char *field, struct vt_err *err)
{
	const uint8_t *p;
	return vt_reader_view(r, &p, n, field, err);
}

vt_status vt_reader_u8(struct vt_reader *r, uint8_t *out, const char *field, struct vt_err *err)
{
	return vt_reader_copy(r, out, 1, field, err);
}

#define READ_INT(name, type, n, expr)                                                              \
	vt_status name(struct vt_reader *r, type *out, const char *field, struct vt_err *err)      \
	{                                                                                          \
		const uint8_t *p;                                                                  \
		vt_status rc = vt_reader_view(r, &p, n, field, err);                               \
		if (rc != VT_OK)                                                                   \
			return rc;                                                                 \
		type v = 0;                                                                        \
		for (size_t i = 0; i < (n); i++)                                                   \
			v |= (type)((type)p[i] << (8 * (expr)));                                   \
		*out = v;                                                                          \
		return VT_OK;                                                                      \
	}

READ_INT(vt_reader_u16le, uint16_t, 2, i)
READ_INT(vt_reader_u32le, uint32_t, 4, i)
READ_INT(vt_reader_u64le, uint64_t, 8, i)
READ_INT(vt_reader_u16be, uint16_t, 2, (1 - i))
READ_INT(vt_reader_u32be, uint32_t, 4, (3 - i))

vt_status vt_reader_expect_end(const struct vt_reader *r, const char *what, struct vt_err *err)
{
	if (r->off != r->size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, what, "%zu unexpected trailing bytes", r->size - r->off);
	return VT_OK;
}

void vt_put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n && i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void vt_put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n && i < 8; i++)
		p[n - 1 - i] = (uint8_t)(v >> (8 * i));
}
