/* Capped buffers. */
#include <stdlib.h>
#include <string.h>

#include "veritee/util.h"

void vt_buf_init(struct vt_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static vt_status reserve(struct vt_buf *b, size_t extra, struct vt_err *err)
{
	if (extra > b->max - b->len) /* len <= max is an invariant */
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "", "input exceeds limit of %zu bytes", b->max);
	if (b->cap - b->len > extra)
		return VT_OK;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap - b->len <= extra) {
		if (ncap > SIZE_MAX / 2)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "buffer too large");
		ncap *= 2;
	}
	uint8_t *p = malloc(ncap);
	if (p == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data && b->wipe)
		vt_wipe(b->data, b->cap);
	free(b->data);
	b->data = p;
	b->cap = ncap;
	return VT_OK;
}

vt_status vt_buf_append(struct vt_buf *b, const void *p, size_t n, struct vt_err *err)
{
	vt_status rc = reserve(b, n, err);
	if (rc != VT_OK)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0; /* reserve keeps one spare byte */
	return VT_OK;
}

vt_status vt_buf_append_str(struct vt_buf *b, const char *s, struct vt_err *err)
{
	return vt_buf_append(b, s, strlen(s), err);
}

vt_status vt_buf_nul_terminate(struct vt_buf *b, struct vt_err *err)
{
	if (b->data == NULL)
		return vt_buf_append(b, "", 0, err);
	return VT_OK;
}

void vt_buf_free(struct vt_buf *b)
{
	if (b->data && b->wipe)
		vt_wipe(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
