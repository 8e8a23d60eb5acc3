/* Chunk crypto of sealed files (docs/sealed-format.md, "Chunks"):
 * AES-256-GCM per chunk, nonce = nonce_prefix || u64be(index), associated
 * data = the whole header || u64be(index) || final flag.  A record is the
 * ciphertext then the 16-byte tag; every record but the last holds exactly
 * chunk_size plaintext bytes, the last (final flag 1) fewer, maybe none. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "veritee/seal.h"

struct chunk_crypto {
	EVP_CIPHER_CTX *ctx;
	uint8_t *header; /* copy: associated data of every chunk */
	size_t header_size;
	uint8_t prefix[VT_SEAL_NONCE_PREFIX_SIZE];
	uint32_t chunk_size;
	uint64_t index; /* of the next chunk */
	uint8_t *buf;   /* one record: chunk_size + tag */
};

struct vt_seal_enc {
	struct chunk_crypto c;
	int fd;
	size_t fill; /* plaintext bytes waiting in c.buf */
	bool finished;
};

struct vt_seal_dec {
	struct chunk_crypto c;
	int fd;
	uint64_t bytes_read;
	bool done;
};

vt_status vt_seal_write_all(int fd, const void *p, size_t n, const char *what, struct vt_err *err)
{
	const uint8_t *q = p;
	while (n > 0) {
		ssize_t w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return vt_fail(err, VT_E_IO, VT_STEP_IO, what, "write failed: %s",
				       w < 0 ? strerror(errno) : "no progress");
		q += w;
		n -= (size_t)w;
	}
	return VT_OK;
}

vt_status vt_seal_read_full(int fd, void *p, size_t n, size_t *got, const char *what, struct vt_err *err)
{
	uint8_t *q = p;
	size_t have = 0;
	while (have < n) {
		ssize_t r = read(fd, q + have, n - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vt_fail(err, VT_E_IO, VT_STEP_IO, what, "read failed: %s", strerror(errno));
		if (r == 0)
			break;
		have += (size_t)r;
	}
	*got = have;
	return VT_OK;
}

static vt_status crypto_init(struct chunk_crypto *c, const struct vt_secret *key, const struct vt_seal_header *h,
			     const uint8_t *header, size_t header_size, bool enc, struct vt_err *err)
{
	memset(c, 0, sizeof(*c));
	if (key == NULL || key->len != VT_SEAL_KEY_SIZE || h->chunk_size < VT_SEAL_MIN_CHUNK ||
	    h->chunk_size > VT_SEAL_MAX_CHUNK || header_size == 0 || header_size > VT_SEAL_MAX_HEADER)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "seal", "bad key, chunk size or header");
	c->chunk_size = h->chunk_size;
	memcpy(c->prefix, h->nonce_prefix, sizeof(c->prefix));
	c->header_size = header_size;
	c->header = malloc(header_size);
	c->buf = malloc((size_t)h->chunk_size + VT_SEAL_TAG_SIZE);
	c->ctx = EVP_CIPHER_CTX_new();
	if (c->header == NULL || c->buf == NULL || c->ctx == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "seal", "out of memory");
	memcpy(c->header, header, header_size);
	/* The key is set once; each chunk sets only its nonce (12 bytes, the GCM default). */
	if (EVP_CipherInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, key->data, NULL, enc ? 1 : 0) != 1)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "seal", "AES-256-GCM init failed");
	return VT_OK;
}

static void crypto_free(struct chunk_crypto *c)
{
	EVP_CIPHER_CTX_free(c->ctx); /* clears the key schedule */
	if (c->buf)
		vt_wipe(c->buf, (size_t)c->chunk_size + VT_SEAL_TAG_SIZE);
	free(c->buf);
	free(c->header);
}

/* Nonce and associated data of chunk c->index; then the data. */
static bool chunk_begin(struct chunk_crypto *c, bool final)
{
	uint8_t iv[12], trailer[9];
	int len;
	memcpy(iv, c->prefix, 4);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = trailer[i] = (uint8_t)(c->index >> (56 - 8 * i));
	trailer[8] = final ? 1 : 0;
	return EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, iv, -1) == 1 &&
	       EVP_CipherUpdate(c->ctx, NULL, &len, c->header, (int)c->header_size) == 1 &&
	       EVP_CipherUpdate(c->ctx, NULL, &len, trailer, sizeof(trailer)) == 1;
}

/* ------------------------------------------------------------ encrypt */

vt_status vt_seal_enc_new(const struct vt_secret *key, const struct vt_seal_header *h, const uint8_t *header,
			  size_t header_size, int out_fd, struct vt_seal_enc **out, struct vt_err *err)
{
	struct vt_seal_enc *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "seal", "out of memory");
	e->fd = out_fd;
	vt_status rc = crypto_init(&e->c, key, h, header, header_size, true, err);
	if (rc == VT_OK)
		rc = vt_seal_write_all(out_fd, header, header_size, "output", err);
	if (rc != VT_OK) {
		vt_seal_enc_free(e);
		return rc;
	}
	*out = e;
	return VT_OK;
}

/* Encrypt n bytes (from `in`, which may be c->buf) as the next chunk and write the record. */
static vt_status enc_chunk(struct vt_seal_enc *e, const uint8_t *in, size_t n, bool final, struct vt_err *err)
{
	struct chunk_crypto *c = &e->c;
	int len = 0, fl = 0;
	if (!chunk_begin(c, final) || EVP_CipherUpdate(c->ctx, c->buf, &len, in, (int)n) != 1 ||
	    EVP_CipherFinal_ex(c->ctx, c->buf + len, &fl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG, VT_SEAL_TAG_SIZE, c->buf + n) != 1)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "chunk", "AES-256-GCM encryption failed");
	c->index++;
	return vt_seal_write_all(e->fd, c->buf, n + VT_SEAL_TAG_SIZE, "output", err);
}

vt_status vt_seal_enc_write(struct vt_seal_enc *e, const void *p, size_t n, struct vt_err *err)
{
	const uint8_t *q = p;
	const size_t cs = e->c.chunk_size;
	if (e->finished)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "seal", "write after finish");
	while (n > 0) {
		vt_status rc;
		if (e->fill == 0 && n >= cs) { /* a whole chunk straight from the caller */
			if ((rc = enc_chunk(e, q, cs, false, err)) != VT_OK)
				return rc;
			q += cs;
			n -= cs;
			continue;
		}
		size_t take = cs - e->fill < n ? cs - e->fill : n;
		memcpy(e->c.buf + e->fill, q, take);
		e->fill += take;
		q += take;
		n -= take;
		/* A full chunk is never the final one: the final chunk is short. */
		if (e->fill == cs) {
			e->fill = 0;
			if ((rc = enc_chunk(e, e->c.buf, cs, false, err)) != VT_OK)
				return rc;
		}
	}
	return VT_OK;
}

vt_status vt_seal_enc_finish(struct vt_seal_enc *e, struct vt_err *err)
{
	if (e->finished)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "seal", "finished twice");
	e->finished = true;
	size_t n = e->fill;
	e->fill = 0;
	return enc_chunk(e, e->c.buf, n, true, err);
}

void vt_seal_enc_free(struct vt_seal_enc *e)
{
	if (e == NULL)
		return;
	crypto_free(&e->c);
	free(e);
}

/* ------------------------------------------------------------ decrypt */

vt_status vt_seal_dec_new(const struct vt_secret *key, const struct vt_seal_header *h, const uint8_t *header,
			  size_t header_size, int in_fd, struct vt_seal_dec **out, struct vt_err *err)
{
	struct vt_seal_dec *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unseal", "out of memory");
	d->fd = in_fd;
	d->bytes_read = header_size;
	vt_status rc = crypto_init(&d->c, key, h, header, header_size, false, err);
	if (rc != VT_OK) {
		vt_seal_dec_free(d);
		return rc;
	}
	*out = d;
	return VT_OK;
}

vt_status vt_seal_dec_next(struct vt_seal_dec *d, const uint8_t **pt, size_t *pt_size, bool *done, struct vt_err *err)
{
	struct chunk_crypto *c = &d->c;
	const size_t rec = (size_t)c->chunk_size + VT_SEAL_TAG_SIZE;
	size_t got = 0;
	*pt = c->buf;
	*pt_size = 0;
	*done = d->done;
	if (d->done)
		return VT_OK;
	vt_status rc = vt_seal_read_full(d->fd, c->buf, rec, &got, "input", err);
	if (rc != VT_OK)
		return rc;
	uint64_t at = d->bytes_read;
	d->bytes_read += got;
	if (got == 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "chunks",
			       "truncated: the file ends after chunk %llu, before its final chunk",
			       (unsigned long long)c->index);
	if (got < VT_SEAL_TAG_SIZE)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "chunks",
			       "truncated: chunk %llu has %zu bytes, less than its %u-byte tag",
			       (unsigned long long)c->index, got, VT_SEAL_TAG_SIZE);
	/* Only the last record of the file is shorter than a full one. */
	bool final = got < rec;
	size_t n = got - VT_SEAL_TAG_SIZE;
	int len = 0, fl = 0;
	if (!chunk_begin(c, final) || EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, VT_SEAL_TAG_SIZE, c->buf + n) != 1 ||
	    EVP_CipherUpdate(c->ctx, c->buf, &len, c->buf, (int)n) != 1)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "chunk", "AES-256-GCM decryption failed");
	if (EVP_CipherFinal_ex(c->ctx, c->buf + len, &fl) != 1) {
		char field[32];
		snprintf(field, sizeof(field), "chunk[%llu]", (unsigned long long)c->index);
		vt_wipe(c->buf, n); /* never hand out unauthenticated plaintext */
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, field,
			       "chunk %llu (%s, at byte %llu) does not authenticate: the file was modified, reordered, "
			       "truncated or extended, or the key is wrong",
			       (unsigned long long)c->index, final ? "final" : "not final", (unsigned long long)at);
	}
	c->index++;
	d->done = final;
	*pt_size = n;
	*done = final;
	return VT_OK;
}

uint64_t vt_seal_dec_bytes_read(const struct vt_seal_dec *d)
{
	return d->bytes_read;
}

void vt_seal_dec_free(struct vt_seal_dec *d)
{
	if (d == NULL)
		return;
	crypto_free(&d->c);
	free(d);
}
