/* Sealed files: header format, chunk crypto and every tamper case, share
 * commitments, K-of-N with libgfshare, parallel share fetch with lying
 * brokers, bounded memory, safe tar names. */
#include "testutil.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>

#include "veritee/seal.h"

static const char *const URLS[] = {"http://127.0.0.1:1", "http://127.0.0.1:2", "https://kbs.example:8443"};

struct sealed {
	struct vt_seal_header h;
	uint8_t hdr[VT_SEAL_MAX_HEADER];
	size_t hdr_size;
	struct vt_secret *key;
	struct vt_secret *shares[VT_SEAL_MAX_BROKERS];
	uint8_t *file; /* header + chunks */
	size_t file_size;
};

static void sealed_free(struct sealed *s)
{
	vt_secret_free(s->key);
	for (int i = 0; i < VT_SEAL_MAX_BROKERS; i++)
		vt_secret_free(s->shares[i]);
	free(s->file);
	free(s);
}

static uint8_t *slurp(int fd, size_t *n)
{
	off_t end = lseek(fd, 0, SEEK_END);
	assert_true(end >= 0);
	uint8_t *p = malloc((size_t)end + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)end, 0), end);
	*n = (size_t)end;
	return p;
}

static int memfd(const void *p, size_t n)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	int fd = dup(fileno(f));
	fclose(f);
	if (n)
		assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Seal pt[n] for `count` brokers, threshold k, chunk size cs. */
static struct sealed *seal_buf(const uint8_t *pt, size_t n, uint8_t k, size_t count, uint32_t cs)
{
	struct sealed *s = calloc(1, sizeof(*s));
	struct vt_err e = {0};
	assert_non_null(s);
	assert_int_equal(vt_seal_header_new(VT_SEAL_PAYLOAD_FILE, cs, "seal/file/t", URLS, count, k, &s->h, &s->key,
					    s->shares, &e),
			 VT_OK);
	assert_int_equal(vt_seal_header_encode(&s->h, s->hdr, sizeof(s->hdr), &s->hdr_size, &e), VT_OK);
	int fd = memfd(NULL, 0);
	struct vt_seal_enc *enc = NULL;
	assert_int_equal(vt_seal_enc_new(s->key, &s->h, s->hdr, s->hdr_size, fd, &enc, &e), VT_OK);
	/* odd-sized writes exercise the buffering */
	for (size_t off = 0; off < n;) {
		size_t step = (off * 7 + 13) % 1000 + 1;
		if (step > n - off)
			step = n - off;
		assert_int_equal(vt_seal_enc_write(enc, pt + off, step, &e), VT_OK);
		off += step;
	}
	assert_int_equal(vt_seal_enc_finish(enc, &e), VT_OK);
	vt_seal_enc_free(enc);
	s->file = slurp(fd, &s->file_size);
	close(fd);
	return s;
}

/* Parse and decrypt a sealed buffer with `key`; plaintext to *out. */
static vt_status open_buf(const uint8_t *file, size_t size, const struct vt_secret *key, uint8_t **out, size_t *out_size,
			  struct vt_err *e)
{
	struct vt_seal_header h;
	size_t hs = 0;
	vt_status rc = vt_seal_header_parse(file, size, &h, &hs, e);
	if (rc != VT_OK)
		return rc;
	int fd = memfd(file + hs, size - hs);
	struct vt_seal_dec *d = NULL;
	assert_int_equal(vt_seal_dec_new(key, &h, file, hs, fd, &d, e), VT_OK);
	*out = NULL;
	*out_size = 0;
	bool done = false;
	while (!done && rc == VT_OK) {
		const uint8_t *pt;
		size_t n;
		rc = vt_seal_dec_next(d, &pt, &n, &done, e);
		if (rc == VT_OK && n) {
			*out = realloc(*out, *out_size + n);
			memcpy(*out + *out_size, pt, n);
			*out_size += n;
		}
	}
	vt_seal_dec_free(d);
	close(fd);
	if (rc != VT_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static uint8_t *random_buf(size_t n)
{
	uint8_t *p = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 8) * 17 + 7);
	return p;
}

/* ------------------------------------------------------------ format */

static void header_round_trip(void **state)
{
	(void)state;
	struct sealed *s = seal_buf((const uint8_t *)"x", 1, 2, 3, 256);
	struct vt_seal_header h;
	size_t hs = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_seal_header_parse(s->hdr, s->hdr_size, &h, &hs, &e), VT_OK);
	assert_int_equal(hs, s->hdr_size);
	assert_memory_equal(&h, &s->h, sizeof(h));
	assert_int_equal(h.threshold, 2);
	assert_int_equal(h.count, 3);
	assert_string_equal(h.brokers[2].url, URLS[2]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(h.brokers[i].index, i + 1);
	/* the parser takes the header from the front of a longer buffer */
	assert_int_equal(vt_seal_header_parse(s->file, s->file_size, &h, &hs, &e), VT_OK);
	assert_int_equal(hs, s->hdr_size);
	/* every proper prefix is truncated, never a crash or a half result */
	for (size_t n = 0; n < s->hdr_size; n++) {
		vt_err_clear(&e);
		assert_int_equal(vt_seal_header_parse(s->hdr, n, &h, &hs, &e), VT_E_PARSE);
		assert_int_equal(e.step, VT_STEP_PARSE);
	}
	sealed_free(s);
}

/* Change one header byte and expect a parse failure naming `field`. */
static void bad_field(const struct sealed *s, size_t at, uint8_t value, const char *field)
{
	uint8_t buf[VT_SEAL_MAX_HEADER];
	struct vt_seal_header h;
	size_t hs;
	struct vt_err e = {0};
	memcpy(buf, s->hdr, s->hdr_size);
	buf[at] = value;
	assert_int_equal(vt_seal_header_parse(buf, s->hdr_size, &h, &hs, &e), VT_E_PARSE);
	if (strcmp(e.field, field) != 0)
		fail_msg("byte %zu = %u: field %s, want %s (%s)", at, value, e.field, field, e.detail);
}

static void header_bad_fields(void **state)
{
	(void)state;
	struct sealed *s = seal_buf((const uint8_t *)"x", 1, 2, 3, 256);
	bad_field(s, 0, 'X', "header.magic");
	bad_field(s, 8, 2, "header.version");
	bad_field(s, 12, 1, "header.header_size"); /* 65536 + ...: too large */
	bad_field(s, 14, 2, "header.cipher");
	bad_field(s, 15, 3, "header.payload");
	bad_field(s, 16, 1, "header.flags");
	bad_field(s, 21, 0x10, "header.chunk_size"); /* > 16 MiB */
	bad_field(s, 42, 4, "header.threshold");     /* K > N */
	bad_field(s, 43, 0, "header.count");
	bad_field(s, 43, 17, "header.count");
	bad_field(s, 46, '/', "header.resource");
	size_t e1 = 46 + strlen(s->h.resource);
	bad_field(s, e1, 0, "header.brokers.index");  /* K=2 needs x != 0 */
	bad_field(s, e1, 2, "header.brokers.index");  /* same as broker 2 */
	bad_field(s, e1 + 3, 'f', "header.brokers.url"); /* "fttp://" */
	bad_field(s, e1 + 4, ' ', "header.brokers.url");
	/* a header_size one larger than the fields: a byte left over */
	uint8_t buf[VT_SEAL_MAX_HEADER + 1];
	memcpy(buf, s->hdr, s->hdr_size);
	buf[s->hdr_size] = 0;
	uint32_t hs32 = (uint32_t)s->hdr_size + 1;
	memcpy(buf + 10, &hs32, 4);
	struct vt_seal_header h;
	size_t hs;
	struct vt_err e = {0};
	assert_int_equal(vt_seal_header_parse(buf, s->hdr_size + 1, &h, &hs, &e), VT_E_PARSE);
	assert_string_equal(e.field, "header");
	sealed_free(s);
}

/* ------------------------------------------------------------ stream */

static void stream_round_trips(void **state)
{
	(void)state;
	/* empty, shorter than a chunk, exactly one chunk (then an empty final
	 * chunk), several chunks with a short final one */
	const size_t sizes[] = {0, 1, 255, 256, 512, 1000, 4096 + 17};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *pt = random_buf(sizes[i]), *out = NULL;
		size_t n = 0;
		struct vt_err e = {0};
		struct sealed *s = seal_buf(pt, sizes[i], 1, 1, 256);
		size_t chunks = sizes[i] / 256 + 1;
		assert_int_equal(s->file_size, s->hdr_size + sizes[i] + chunks * VT_SEAL_TAG_SIZE);
		assert_int_equal(open_buf(s->file, s->file_size, s->key, &out, &n, &e), VT_OK);
		assert_int_equal(n, sizes[i]);
		if (n)
			assert_memory_equal(out, pt, n);
		free(out);
		free(pt);
		sealed_free(s);
	}
}

/* Each tamper case and the step/field that catches it. */
static void expect_tamper(const uint8_t *file, size_t size, const struct vt_secret *key, vt_status code,
			  const char *field, const char *detail)
{
	uint8_t *out = NULL;
	size_t n = 0;
	struct vt_err e = {0};
	vt_status rc = open_buf(file, size, key, &out, &n, &e);
	if (rc != code || strcmp(e.field, field) != 0 || (detail && strstr(e.detail, detail) == NULL))
		fail_msg("got %d field %s (%s), want %d field %s", rc, e.field, e.detail, code, field);
	assert_null(out);
}

static void stream_tamper_cases(void **state)
{
	(void)state;
	const size_t n = 256 * 5 + 100, rec = 256 + VT_SEAL_TAG_SIZE;
	uint8_t *pt = random_buf(n);
	struct sealed *s = seal_buf(pt, n, 1, 1, 256);
	const size_t hs = s->hdr_size, size = s->file_size;
	uint8_t *t = malloc(size + rec);
	struct vt_err e = {0};

	/* a bit flipped in chunk 2's ciphertext, in its tag */
	memcpy(t, s->file, size);
	t[hs + 2 * rec + 5] ^= 1;
	expect_tamper(t, size, s->key, VT_E_REJECTED, "chunk[2]", "does not authenticate");
	memcpy(t, s->file, size);
	t[hs + 3 * rec - 1] ^= 0x80;
	expect_tamper(t, size, s->key, VT_E_REJECTED, "chunk[2]", NULL);
	/* a header byte (AAD of every chunk): the nonce prefix, the URL */
	memcpy(t, s->file, size);
	t[38] ^= 1;
	expect_tamper(t, size, s->key, VT_E_REJECTED, "chunk[0]", NULL);
	memcpy(t, s->file, size);
	t[hs - 40] ^= 1; /* inside the URL of the broker, a valid character still */
	expect_tamper(t, size, s->key, VT_E_REJECTED, "chunk[0]", NULL);
	/* chunks 1 and 2 swapped */
	memcpy(t, s->file, size);
	memcpy(t + hs + rec, s->file + hs + 2 * rec, rec);
	memcpy(t + hs + 2 * rec, s->file + hs + rec, rec);
	expect_tamper(t, size, s->key, VT_E_REJECTED, "chunk[1]", NULL);
	/* truncated: at a chunk boundary, mid-chunk, inside the final tag */
	expect_tamper(s->file, hs + 5 * rec, s->key, VT_E_REJECTED, "chunks", "before its final chunk");
	expect_tamper(s->file, hs + 3 * rec + 100, s->key, VT_E_REJECTED, "chunk[3]", "final");
	expect_tamper(s->file, hs + 5 * rec + 10, s->key, VT_E_REJECTED, "chunks", "less than its");
	/* extended: one byte, a whole copied record */
	memcpy(t, s->file, size);
	t[size] = 0;
	expect_tamper(t, size + 1, s->key, VT_E_REJECTED, "chunk[5]", NULL);
	memcpy(t + size, s->file + hs, rec);
	expect_tamper(t, size + rec, s->key, VT_E_REJECTED, "chunk[5]", NULL);
	/* a wrong key */
	struct vt_secret *other = vt_secret_random(VT_SEAL_KEY_SIZE);
	expect_tamper(s->file, size, other, VT_E_REJECTED, "chunk[0]", NULL);
	vt_secret_free(other);
	/* and the untouched file still opens */
	uint8_t *out = NULL;
	size_t got = 0;
	assert_int_equal(open_buf(s->file, size, s->key, &out, &got, &e), VT_OK);
	assert_int_equal(got, n);
	free(out);
	free(t);
	free(pt);
	sealed_free(s);
}

static void stream_write_error(void **state)
{
	(void)state;
	struct sealed *s = seal_buf((const uint8_t *)"x", 1, 1, 1, 256);
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		skip();
	struct vt_seal_enc *enc = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_seal_enc_new(s->key, &s->h, s->hdr, s->hdr_size, fd, &enc, &e), VT_E_IO);
	assert_null(enc);
	assert_non_null(strstr(e.detail, "No space left"));
	close(fd);
	sealed_free(s);
}

/* Memory does not grow with the input: 48 MiB through 64 KiB chunks. */
static void stream_bounded_memory(void **state)
{
	(void)state;
	struct sealed *s = seal_buf((const uint8_t *)"x", 1, 1, 1, 256);
	s->h.chunk_size = 65536;
	assert_int_equal(vt_seal_header_encode(&s->h, s->hdr, sizeof(s->hdr), &s->hdr_size, NULL), VT_OK);
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	uint8_t *block = random_buf(1 << 20);
	size_t before = mallinfo2().uordblks, peak = 0;
	struct vt_seal_enc *enc = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_seal_enc_new(s->key, &s->h, s->hdr, s->hdr_size, fd, &enc, &e), VT_OK);
	for (int i = 0; i < 48; i++) {
		assert_int_equal(vt_seal_enc_write(enc, block, (size_t)(1 << 20) - (size_t)i, &e), VT_OK);
		size_t now = mallinfo2().uordblks;
		if (now > peak)
			peak = now;
	}
	assert_int_equal(vt_seal_enc_finish(enc, &e), VT_OK);
	vt_seal_enc_free(enc);
	/* one record buffer, a header copy and the cipher context */
	if (peak - before > 65536 + VT_SEAL_MAX_HEADER + 64 * 1024)
		fail_msg("encrypting 48 MiB used %zu bytes of heap", peak - before);
	close(fd);
	free(block);
	sealed_free(s);
}

/* ------------------------------------------------------------ shares */

static void shares_k_of_n(void **state)
{
	(void)state;
	struct vt_secret *key = vt_secret_random(VT_SEAL_KEY_SIZE), *shares[5] = {0}, *got = NULL;
	uint8_t idx[5];
	struct vt_err e = {0};
	assert_int_equal(vt_seal_split(key, 3, 5, idx, shares, &e), VT_OK);
	/* no share is the key */
	for (int i = 0; i < 5; i++)
		assert_false(vt_secret_eq(shares[i], key));
	/* every 3 of the 5 give the key */
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			for (int c = b + 1; c < 5; c++) {
				struct vt_secret *pick[3] = {shares[a], shares[b], shares[c]};
				uint8_t pi[3] = {idx[a], idx[b], idx[c]};
				assert_int_equal(vt_seal_combine(3, pi, pick, &got, &e), VT_OK);
				assert_true(vt_secret_eq(got, key));
				vt_secret_free(got);
			}
	/* 2 of them give something else */
	struct vt_secret *two[2] = {shares[0], shares[1]};
	assert_int_equal(vt_seal_combine(2, idx, two, &got, &e), VT_OK);
	assert_false(vt_secret_eq(got, key));
	vt_secret_free(got);
	/* a duplicated index is refused */
	uint8_t dup[3] = {1, 1, 2};
	struct vt_secret *three[3] = {shares[0], shares[0], shares[1]};
	assert_int_equal(vt_seal_combine(3, dup, three, &got, &e), VT_E_USAGE);
	/* K = 1: copies of the key with index 0 */
	struct vt_secret *ones[2] = {0};
	assert_int_equal(vt_seal_split(key, 1, 2, idx, ones, &e), VT_OK);
	assert_int_equal(idx[0], 0);
	assert_true(vt_secret_eq(ones[0], key) && vt_secret_eq(ones[1], key));
	for (int i = 0; i < 5; i++)
		vt_secret_free(shares[i]);
	vt_secret_free(ones[0]);
	vt_secret_free(ones[1]);
	vt_secret_free(key);
}

static void shares_commitments(void **state)
{
	(void)state;
	struct sealed *s = seal_buf((const uint8_t *)"x", 1, 2, 3, 256);
	for (int i = 0; i < 3; i++) {
		assert_true(vt_seal_share_matches(&s->h, &s->h.brokers[i], s->shares[i]));
		/* another broker's share, a flipped bit, the wrong size: no */
		assert_false(vt_seal_share_matches(&s->h, &s->h.brokers[i], s->shares[(i + 1) % 3]));
		s->shares[i]->data[7] ^= 1;
		assert_false(vt_seal_share_matches(&s->h, &s->h.brokers[i], s->shares[i]));
		s->shares[i]->data[7] ^= 1;
		struct vt_secret *longer = vt_secret_new(VT_SEAL_SHARE_SIZE + 1);
		memcpy(longer->data, s->shares[i]->data, VT_SEAL_SHARE_SIZE);
		assert_false(vt_seal_share_matches(&s->h, &s->h.brokers[i], longer));
		vt_secret_free(longer);
	}
	/* the commitment binds the file: another file id, another commitment */
	s->h.file_id[0] ^= 1;
	assert_false(vt_seal_share_matches(&s->h, &s->h.brokers[0], s->shares[0]));
	sealed_free(s);
}

/* ------------------------------------------------------------ unseal (fake brokers) */

struct fake {
	struct sealed *s;
	int lie[3];    /* 1: a wrong share; 2: refuse; 3: fail; 4: answer after 1.5 s */
	atomic_int calls;
	atomic_int asked[3];
};
static struct fake g_fake;

static vt_status fake_fetch(void *ctx, const struct vt_client_opts *client, const char *url, const char *resource,
			    struct vt_secret **share_out, struct vt_client_refusal *refusal, struct vt_err *err)
{
	struct fake *f = ctx;
	(void)client;
	assert_string_equal(resource, "seal/file/t");
	int i = -1;
	for (int k = 0; k < 3; k++)
		if (strcmp(url, URLS[k]) == 0)
			i = k;
	assert_true(i >= 0);
	atomic_fetch_add(&f->calls, 1);
	atomic_fetch_add(&f->asked[i], 1);
	if (f->lie[i] == 4)
		usleep(1500 * 1000);
	if (f->lie[i] == 2) {
		refusal->http_status = 401;
		snprintf(refusal->type, sizeof(refusal->type), "PolicyDeny");
		snprintf(refusal->stage, sizeof(refusal->stage), "resource");
		snprintf(refusal->detail, sizeof(refusal->detail), "rule measurement-approved");
		return vt_fail(err, VT_E_POLICY, VT_STEP_POLICY, "", "denied");
	}
	if (f->lie[i] == 3)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "http", "connection refused");
	*share_out = f->lie[i] == 1 ? vt_secret_random(VT_SEAL_SHARE_SIZE)
				    : vt_secret_from(f->s->shares[i]->data, f->s->shares[i]->len);
	return VT_OK;
}

static double g_unseal_s; /* how long the last vt_unseal_key took */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static vt_status unseal_hedged(int l0, int l1, int l2, int hedge_ms, struct vt_secret **key,
			       struct vt_seal_broker_result *res, struct vt_err *e)
{
	g_fake.lie[0] = l0, g_fake.lie[1] = l1, g_fake.lie[2] = l2;
	for (int i = 0; i < 3; i++)
		atomic_store(&g_fake.asked[i], 0);
	struct vt_unseal_opts o = {.fetch = fake_fetch, .fetch_ctx = &g_fake, .hedge_ms = hedge_ms};
	double t0 = mono();
	vt_status rc = vt_unseal_key(&g_fake.s->h, &o, key, res, e);
	g_unseal_s = mono() - t0;
	while (vt_unseal_pending() > 0) /* the fake ctx is shared by the next case */
		usleep(1000);
	return rc;
}

static vt_status unseal_with(int l0, int l1, int l2, struct vt_secret **key, struct vt_seal_broker_result *res,
			     struct vt_err *e)
{
	return unseal_hedged(l0, l1, l2, 0, key, res, e);
}

/* K brokers first; another when one fails; all the rest when K are late. */
static void unseal_hedging(void **state)
{
	(void)state;
	g_fake.s = seal_buf((const uint8_t *)"x", 1, 2, 3, 256);
	struct vt_seal_broker_result res[VT_SEAL_MAX_BROKERS];
	struct vt_secret *key = NULL;
	struct vt_err e = {0};
	/* healthy: the third broker is never asked */
	assert_int_equal(unseal_with(0, 0, 0, &key, res, &e), VT_OK);
	assert_int_equal(atomic_load(&g_fake.asked[2]), 0);
	assert_int_equal(res[2].outcome, VT_SEAL_PENDING);
	assert_string_equal(res[2].message, "not asked: enough valid shares came first");
	vt_secret_free(key);
	key = NULL;
	/* one refuses: the third is asked at once, and once */
	assert_int_equal(unseal_with(0, 2, 0, &key, res, &e), VT_OK);
	assert_int_equal(atomic_load(&g_fake.asked[2]), 1);
	vt_secret_free(key);
	key = NULL;
	/* one is slow (1.5 s): after the hedge delay (200 ms) the third is asked; done well before 1.5 s */
	assert_int_equal(unseal_hedged(4, 0, 0, 200, &key, res, &e), VT_OK);
	if (g_unseal_s < 0.19 || g_unseal_s > 1.2)
		fail_msg("the key took %.3f s; want the 0.2 s hedge delay, not the slow broker's 1.5 s", g_unseal_s);
	assert_int_equal(res[0].outcome, VT_SEAL_PENDING);
	assert_string_equal(res[0].message, "no answer yet: not waited for");
	assert_true(vt_secret_eq(key, g_fake.s->key));
	vt_secret_free(key);
	key = NULL;
	/* negative: everyone at once */
	assert_int_equal(unseal_hedged(0, 0, 0, -1, &key, res, &e), VT_OK);
	assert_int_equal(atomic_load(&g_fake.asked[2]), 1);
	vt_secret_free(key);
	sealed_free(g_fake.s);
}

static void unseal_k_of_n(void **state)
{
	(void)state;
	g_fake.s = seal_buf((const uint8_t *)"x", 1, 2, 3, 256);
	struct vt_seal_broker_result res[VT_SEAL_MAX_BROKERS];
	struct vt_secret *key = NULL;
	struct vt_err e = {0};
	/* all honest; one lying; one refusing and one down */
	const int ok_cases[][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {2, 0, 0}, {0, 3, 0}};
	for (size_t c = 0; c < sizeof(ok_cases) / sizeof(ok_cases[0]); c++) {
		vt_err_clear(&e);
		assert_int_equal(unseal_with(ok_cases[c][0], ok_cases[c][1], ok_cases[c][2], &key, res, &e), VT_OK);
		assert_true(vt_secret_eq(key, g_fake.s->key));
		vt_secret_free(key);
		key = NULL;
	}
	/* two lying: fails closed, never a wrong key */
	vt_err_clear(&e);
	assert_int_equal(unseal_with(1, 1, 0, &key, res, &e), VT_E_REJECTED);
	assert_null(key);
	assert_int_equal(res[0].outcome, VT_SEAL_WRONG_SHARE);
	assert_int_equal(res[2].outcome, VT_SEAL_SHARE_OK);
	assert_non_null(strstr(e.detail, "1 of 3 brokers released a valid share"));
	/* refused by policy and down */
	vt_err_clear(&e);
	assert_int_equal(unseal_with(2, 3, 0, &key, res, &e), VT_E_POLICY);
	assert_int_equal(res[0].outcome, VT_SEAL_REFUSED);
	assert_non_null(strstr(res[0].message, "measurement-approved"));
	assert_int_equal(res[1].outcome, VT_SEAL_FAILED);
	/* all down */
	vt_err_clear(&e);
	assert_int_equal(unseal_with(3, 3, 3, &key, res, &e), VT_E_IO);
	sealed_free(g_fake.s);
}

/* ------------------------------------------------------------ archive names */

static void tar_names(void **state)
{
	(void)state;
	assert_true(vt_seal_name_safe("a"));
	assert_true(vt_seal_name_safe("a/b/c.txt"));
	assert_true(vt_seal_name_safe("./a"));
	assert_true(vt_seal_name_safe("a..b/..c"));
	assert_false(vt_seal_name_safe(""));
	assert_false(vt_seal_name_safe("/etc/passwd"));
	assert_false(vt_seal_name_safe(".."));
	assert_false(vt_seal_name_safe("a/../../b"));
	assert_false(vt_seal_name_safe("a/.."));
	assert_true(vt_seal_link_safe("a/l", "b"));
	assert_true(vt_seal_link_safe("a/l", "../b"));
	assert_true(vt_seal_link_safe("a/b/l", "../../c/./d"));
	assert_false(vt_seal_link_safe("l", "../x"));
	assert_false(vt_seal_link_safe("a/l", "../../x"));
	assert_false(vt_seal_link_safe("a/l", "/etc/passwd"));
	assert_false(vt_seal_link_safe("a/l", "b/../../../x"));
	assert_false(vt_seal_link_safe("a/l", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trip),  cmocka_unit_test(header_bad_fields),
		cmocka_unit_test(stream_round_trips), cmocka_unit_test(stream_tamper_cases),
		cmocka_unit_test(stream_write_error), cmocka_unit_test(stream_bounded_memory),
		cmocka_unit_test(shares_k_of_n),      cmocka_unit_test(shares_commitments),
		cmocka_unit_test(unseal_k_of_n),
		cmocka_unit_test(unseal_hedging),      cmocka_unit_test(tar_names),
	};
	return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
