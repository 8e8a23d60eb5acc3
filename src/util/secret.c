/* The secret type: wiped on free, compared in constant time. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "veritee/util.h"

void vt_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

bool vt_ct_eq(const void *a, const void *b, size_t n)
{
	return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}

struct vt_secret *vt_secret_new(size_t len)
{
	struct vt_secret *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	/* One spare zero byte so text secrets can be used as C strings. */
	s->data = calloc(1, len + 1);
	if (s->data == NULL) {
		free(s);
		return NULL;
	}
	s->len = len;
	return s;
}

struct vt_secret *vt_secret_from(const void *p, size_t len)
{
	struct vt_secret *s = vt_secret_new(len);
	if (s != NULL && len > 0)
		memcpy(s->data, p, len);
	return s;
}

struct vt_secret *vt_secret_random(size_t len)
{
	struct vt_secret *s = vt_secret_new(len);
	if (s != NULL && len > 0 && RAND_bytes(s->data, (int)len) != 1) {
		vt_secret_free(s);
		return NULL;
	}
	return s;
}

void vt_secret_free(struct vt_secret *s)
{
	if (s == NULL)
		return;
	vt_wipe(s->data, s->len + 1);
	free(s->data);
	free(s);
}

bool vt_secret_eq(const struct vt_secret *a, const struct vt_secret *b)
{
	if (a == NULL || b == NULL || a->len != b->len)
		return false;
	return vt_ct_eq(a->data, b->data, a->len);
}
