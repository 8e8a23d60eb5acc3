/*
 * Unit tests for IBM Secure Execution: the parsers, the cryptography and
 * the verifier (src/evidence/se/), the `se` descriptor through a verifier,
 * and the attester (src/attester/se/) against a fake Ultravisor.
 *
 * Known answers:
 *   - $VERITEE_VECTORS/se/s390-tools_arcb_v1_test.bin authenticates under
 *     ARPK = 32 x 0x17 and holds the 64 x 0x77 measurement key and the
 *     16 x 0xab nonce (README-more.md, se/);
 *   - the four measurements of s390-tools' own tests (rust/pv
 *     src/uvattest/attest.rs: key 64 x 0x41, tags 1/2/3/4, CUID 5, user 7,
 *     nonce 8, additional 9);
 *   - SELF_KAT: a measurement computed outside veritee (Python's hmac and
 *     cryptography's AESGCM) over the shared header's tags and the shared
 *     ARCB's keys, CUID c0..cf, user data 00..3f, additional data = the
 *     header's key-slot hash || the ARCB's key-slot hash.
 * Synthetic headers and ARCBs (vt_se_hdr_build / vt_se_arcb_build) cover the
 * rest without the shared vectors; vector tests skip and say so without them.
 */
#include "testutil.h"

#include <fcntl.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "veritee/attester.h"
#include "veritee/broker.h"
#include "veritee/jose.h"
#include "veritee/kbs.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/policy.h"
#include "veritee/se.h"
#include "veritee/verifier.h"

static const char SELF_KAT[] = "7de74ab15a77b45ee3e7490a4b4bc79b125f94fad76117cbefd087d508b864ed"
			       "546d0148ed93dfc3613652da29a1a5b5259342e4ea01fe1edb2cd611e7799307";

static char *g_tmp;

/* ------------------------------------------------------------ helpers */

static bool read_vector(const char *name, uint8_t **out, size_t *n)
{
	const char *vec = vt_test_vectors_dir();
	if (vec == NULL)
		return false;
	char path[512];
	snprintf(path, sizeof(path), "%s/se/%s", vec, name);
	if (vt_file_read(path, 1u << 20, out, n, NULL) != VT_OK)
		return false;
	return true;
}

#define NEED_VECTOR(name, buf, n)                                                   \
	do {                                                                        \
		if (!read_vector(name, &(buf), &(n))) {                              \
			print_message("# skipped: no shared vectors (se/%s)\n", name); \
			skip();                                                     \
		}                                                                   \
	} while (0)

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(vt_hex_decode_fixed(h, out, n, NULL), VT_OK);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

#define expect_fail(call, want_code, want_step, want_field)                                                   \
	do {                                                                                                  \
		struct vt_err e_;                                                                             \
		vt_err_clear(&e_);                                                                            \
		vt_status rc_ = (call);                                                                       \
		if (rc_ == VT_OK)                                                                             \
			fail_msg("%s: succeeded, want %s at %s", #call, vt_status_name(want_code), want_field); \
		assert_err(&e_, want_code, want_step);                                                        \
		if (strcmp(e_.field, want_field) != 0)                                                        \
			fail_msg("%s: field \"%s\" (%s), want \"%s\"", #call, e_.field, e_.detail, want_field);  \
	} while (0)

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* ------------------------------------------------------------ synthetic scenario */

struct scen {
	uint8_t *hdr, *arcb;
	size_t hdr_n, arcb_n;
	uint8_t tags[VT_SE_TAGS_SIZE];
	struct vt_se_arcb_spec spec;
	uint8_t img_phkh[32], att_phkh[32];
	uint8_t cuid[16], user[64], additional[512];
	size_t add_n;
	uint8_t meas[64];
};

static void scen_make(struct scen *s, uint64_t flags)
{
	memset(s, 0, sizeof(*s));
	memset(s->img_phkh, 0x11, 32);
	memset(s->att_phkh, 0x22, 32);
	assert_int_equal(vt_se_hdr_build(0x40, 1, s->img_phkh, &s->hdr, &s->hdr_n, NULL), VT_OK);
	struct vt_se_hdr h;
	assert_int_equal(vt_se_hdr_parse(s->hdr, s->hdr_n, &h, NULL), VT_OK);
	vt_se_hdr_tags(&h, s->tags);
	s->spec.flags = flags;
	s->spec.phkh = s->att_phkh;
	memset(s->spec.iv, 0x55, sizeof(s->spec.iv));
	memset(s->spec.arpk, 0x17, sizeof(s->spec.arpk));
	memset(s->spec.meas_key, 0x77, sizeof(s->spec.meas_key));
	memset(s->spec.nonce, 0xab, sizeof(s->spec.nonce));
	assert_int_equal(vt_se_arcb_build(&s->spec, &s->arcb, &s->arcb_n, NULL), VT_OK);
	for (size_t i = 0; i < 16; i++)
		s->cuid[i] = (uint8_t)(0xc0 + i);
	for (size_t i = 0; i < 64; i++)
		s->user[i] = (uint8_t)i;
	uint8_t *p = s->additional;
	if (flags & VT_SE_FLAG_IMAGE_PHKH) {
		memcpy(p, s->img_phkh, 32);
		p += 32;
	}
	if (flags & VT_SE_FLAG_ATTEST_PHKH) {
		memcpy(p, s->att_phkh, 32);
		p += 32;
	}
	if (flags & VT_SE_FLAG_SECRET_STORE_HASH) {
		memset(p, 0x33, 64);
		p += 64;
	}
	if (flags & VT_SE_FLAG_FIRMWARE_STATE) {
		memset(p, 0x44, 320);
		p += 320;
	}
	s->add_n = (size_t)(p - s->additional);
	struct vt_se_measurement_input in = {
		.tags = s->tags,
		.cuid = s->cuid,
		.user_data = s->user,
		.user_data_size = sizeof(s->user),
		.nonce = (flags & VT_SE_FLAG_NONCE) ? s->spec.nonce : NULL,
		.additional = s->additional,
		.additional_size = s->add_n,
	};
	assert_int_equal(vt_se_measurement(s->spec.meas_key, 64, &in, s->meas, NULL), VT_OK);
}

static void scen_free(struct scen *s)
{
	free(s->hdr);
	free(s->arcb);
}

static void set_b64(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	static const uint8_t none[1] = {0};
	char *b = vt_b64_encode(p ? p : none, n);
	assert_non_null(b);
	assert_int_equal(json_object_set_new(o, k, json_string(b)), 0);
	free(b);
}

static json_t *scen_evidence(const struct scen *s, bool with_tags)
{
	json_t *o = json_object();
	set_b64(o, "measurement", s->meas, 64);
	set_b64(o, "additional_data", s->additional, s->add_n);
	set_b64(o, "user_data", s->user, sizeof(s->user));
	set_b64(o, "cuid", s->cuid, 16);
	set_b64(o, "request_blob", s->arcb, s->arcb_n);
	if (with_tags)
		set_b64(o, "image_hdr_tags", s->tags, sizeof(s->tags));
	return o;
}

static struct vt_se_trust *scen_trust(const struct scen *s)
{
	struct vt_se_trust *t = NULL;
	assert_int_equal(vt_se_trust_new(&t, NULL), VT_OK);
	assert_int_equal(vt_se_trust_add_header(t, s->hdr, s->hdr_n, NULL), VT_OK);
	assert_int_equal(vt_se_trust_add_arpk(t, s->spec.arpk, NULL), VT_OK);
	return t;
}

#define FLAGS_TRUSTEE (VT_SE_FLAG_NONCE | VT_SE_FLAG_IMAGE_PHKH | VT_SE_FLAG_ATTEST_PHKH)

/* ------------------------------------------------------------ known answers */

static void test_arcb_vector_known_answer(void **state)
{
	(void)state;
	uint8_t *b = NULL;
	size_t n = 0;
	NEED_VECTOR("s390-tools_arcb_v1_test.bin", b, n);
	struct vt_se_arcb a;
	assert_int_equal(vt_se_arcb_parse(b, n, &a, NULL), VT_OK);
	assert_int_equal(a.version, 0x100);
	assert_int_equal(a.size, 400);
	assert_int_equal(a.nks, 1);
	assert_int_equal(a.sea, 80);
	assert_true(a.flags == UINT64_C(0x7000000000000000));
	assert_int_equal(a.mai, 1);
	assert_int_equal(a.aad_size, 304);
	assert_int_equal(vt_se_additional_size(a.flags), 64);
	uint8_t arpk[32], key[64], nonce[16];
	memset(arpk, 0x17, sizeof(arpk));
	memset(key, 0x77, sizeof(key));
	memset(nonce, 0xab, sizeof(nonce));
	struct vt_se_arcb_secrets s;
	assert_int_equal(vt_se_arcb_unwrap(&a, arpk, &s, NULL), VT_OK);
	assert_memory_equal(s.meas_key, key, 64);
	assert_true(s.has_nonce);
	assert_memory_equal(s.nonce, nonce, 16);
	arpk[31] ^= 1;
	expect_fail(vt_se_arcb_unwrap(&a, arpk, &s, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "arcb.tag");
	free(b);
}

/* Every byte of the ARCB is authenticated (AAD 0..303, ciphertext, tag):
 * each of the 255 changes of each byte must fail to authenticate, whether
 * or not the changed header still parses. */
static void test_arcb_vector_flips(void **state)
{
	(void)state;
	uint8_t *b = NULL;
	size_t n = 0;
	NEED_VECTOR("s390-tools_arcb_v1_test.bin", b, n);
	struct vt_se_arcb a0;
	assert_int_equal(vt_se_arcb_parse(b, n, &a0, NULL), VT_OK);
	assert_int_equal(a0.aad_size + a0.sea + 16, n); /* AAD + ciphertext + tag = the whole request */
	uint8_t arpk[32];
	memset(arpk, 0x17, sizeof(arpk));
	uint8_t *c = malloc(n);
	assert_non_null(c);
	size_t parsed = 0;
	for (size_t i = 0; i < n; i++) {
		for (unsigned x = 1; x < 256; x++) {
			memcpy(c, b, n);
			c[i] ^= (uint8_t)x;
			/* The original layout over the changed bytes: GCM must refuse. */
			struct vt_se_arcb a = a0;
			a.aad = c;
			a.iv = c + 0x10;
			a.encrypted = c + a0.aad_size;
			a.tag = c + a0.aad_size + a0.sea;
			struct vt_se_arcb_secrets s;
			struct vt_err e;
			vt_err_clear(&e);
			if (vt_se_arcb_unwrap(&a, arpk, &s, &e) != VT_E_REJECTED || e.step != VT_STEP_SIGNATURE)
				fail_msg("byte %zu ^ 0x%02x authenticated (%s)", i, x, e.detail);
			/* Through the parser: it refuses the bytes, or GCM does. */
			struct vt_se_arcb p;
			if (vt_se_arcb_parse(c, n, &p, NULL) == VT_OK) {
				parsed++;
				if (vt_se_arcb_unwrap(&p, arpk, &s, NULL) == VT_OK)
					fail_msg("byte %zu ^ 0x%02x: parsed and authenticated", i, x);
			}
		}
	}
	assert_true(parsed > 0);
	free(c);
	free(b);
}

static void test_hdr_vector(void **state)
{
	(void)state;
	uint8_t *b = NULL;
	size_t n = 0;
	NEED_VECTOR("s390-tools_secure_guest_test.hdr", b, n);
	struct vt_se_hdr h;
	assert_int_equal(vt_se_hdr_parse(b, n, &h, NULL), VT_OK);
	assert_int_equal(h.version, 0x100);
	assert_int_equal(h.size, 640);
	assert_true(h.nks == 1 && h.sea == 128 && h.nep == 64549 && h.pcf == 0);
	uint8_t want[16];
	unhex("92309d4589b9a85b427f8753171d1520", want, 16); /* rust/pv brcb.rs EXP_HDR.tag */
	assert_memory_equal(h.tag, want, 16);
	unhex("be94b5eab3c1b118c757d7db7ea0f65d", want, 16); /* EXP_HDR.pld */
	assert_memory_equal(h.pld, want, 16);
	unhex("2858c3368b2a0af0c5ea0fde7905eb15", want, 16); /* EXP_HDR.ald */
	assert_memory_equal(h.ald, want, 16);
	unhex("4860ebcf7b9d24eb909a795356ad32c9", want, 16); /* EXP_HDR.tld */
	assert_memory_equal(h.tld, want, 16);
	free(b);
}

static void test_exchange_vector(void **state)
{
	(void)state;
	uint8_t *b = NULL;
	size_t n = 0;
	NEED_VECTOR("s390-tools_pvattest_exchange_test.bin", b, n);
	struct vt_se_exchange x;
	assert_int_equal(vt_se_exchange_parse(b, n, &x, NULL), VT_OK);
	assert_int_equal(x.size, 0x1c0);
	struct {
		const struct vt_se_exchange_entry *e;
		uint32_t size, off;
		uint8_t fill;
	} want[] = {{&x.arcb, 16, 0x40, 0x11},      {&x.measurement, 64, 0x50, 0x12}, {&x.additional, 32, 0x90, 0x13},
		    {&x.user_data, 256, 0xb0, 0x13}, {&x.cuid, 16, 0x1b0, 0x14}};
	for (size_t i = 0; i < 5; i++) {
		assert_true(want[i].e->present);
		assert_int_equal(want[i].e->size, want[i].size);
		assert_ptr_equal(want[i].e->data, b + want[i].off);
		for (size_t k = 0; k < want[i].size; k++)
			assert_int_equal(want[i].e->data[k], want[i].fill);
	}
	/* As `veritee verify se FILE`: evidence JSON, then refused at its
	 * 16 filler bytes of "ARCB" (format vector only). */
	json_t *ev = NULL, *claims = NULL;
	assert_int_equal(vt_tee_se.load_file(b, n, &ev, NULL), VT_OK);
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	struct vt_se_trust *t = scen_trust(&s);
	expect_fail(vt_se_verify(t, ev, NULL, &claims, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.magic");
	vt_se_trust_free(t);
	scen_free(&s);
	json_decref(ev);
	free(b);
}

static void test_measurement_upstream_kats(void **state)
{
	(void)state;
	uint8_t key[64], tags[208], cuid[16], user[256], nonce[16], add[128], m[64], want[64];
	memset(key, 0x41, 64);
	memset(tags, 1, 64);
	memset(tags + 64, 2, 64);
	memset(tags + 128, 3, 64);
	memset(tags + 192, 4, 16);
	memset(cuid, 5, 16);
	memset(user, 7, 256);
	memset(nonce, 8, 16);
	memset(add, 9, 128);
	struct {
		const char *name, *hex;
		bool user, nonce, add;
	} kats[] = {
		{"measurement_all",
		 "88794c62cce7bcf26216deb3f48f13fea6374b6d7e35bcc5c2ce68121db6f45dfc8c171856463549408bf8e7d1aca11efad0a878af97dc9e21a1fc2a32f3a675",
		 true, true, true},
		{"measurement_user_add",
		 "fbd4f738a390edd947cd4f11af3a2f3bab2fdf8bf89bf81beb495117f4382cf42f0730c8c7d9e3ca27fb25adfceb21224f57fdb398dcf41a83c146e6a23db760",
		 true, false, true},
		{"measurement_add",
		 "63671fbf295036eb1023ea71f7182e7d6343dc7b2da584e824d0a7d198ab9cded756c93b39050ffb764555b01f88cb82017a6a15c7e0bafc6005f1e4f78aa124",
		 false, false, true},
		{"measurement_minimal",
		 "c5c34c93835d1ec23f5c2d778dfa20129b11b305601742cb2f38e0ed9894dcdb73fc8695ab6a8dbad0744073ddc81a5eaafa52e4a15af8deb8d761091922847f",
		 false, false, false},
	};
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		struct vt_se_measurement_input in = {
			.tags = tags,
			.cuid = cuid,
			.user_data = kats[i].user ? user : NULL,
			.user_data_size = kats[i].user ? 256 : 0,
			.nonce = kats[i].nonce ? nonce : NULL,
			.additional = kats[i].add ? add : NULL,
			.additional_size = kats[i].add ? 128 : 0,
		};
		assert_int_equal(vt_se_measurement(key, 64, &in, m, NULL), VT_OK);
		unhex(kats[i].hex, want, 64);
		if (memcmp(m, want, 64) != 0)
			fail_msg("%s differs from s390-tools' known answer", kats[i].name);
	}
	struct vt_se_measurement_input big = {.tags = tags, .cuid = cuid, .user_data = user, .user_data_size = 257};
	expect_fail(vt_se_measurement(key, 64, &big, m, &e_), VT_E_USAGE, VT_STEP_NONE, "user_data");
}

/* The shared header's tags and the shared ARCB's keys, computed outside veritee. */
static void test_measurement_self_kat(void **state)
{
	(void)state;
	uint8_t *hb = NULL, *ab = NULL;
	size_t hn = 0, an = 0;
	NEED_VECTOR("s390-tools_secure_guest_test.hdr", hb, hn);
	NEED_VECTOR("s390-tools_arcb_v1_test.bin", ab, an);
	struct vt_se_hdr h;
	struct vt_se_arcb a;
	struct vt_se_arcb_secrets s;
	uint8_t arpk[32], tags[208], cuid[16], user[64], add[64], m[64], want[64];
	memset(arpk, 0x17, 32);
	assert_int_equal(vt_se_hdr_parse(hb, hn, &h, NULL), VT_OK);
	assert_int_equal(vt_se_arcb_parse(ab, an, &a, NULL), VT_OK);
	assert_int_equal(vt_se_arcb_unwrap(&a, arpk, &s, NULL), VT_OK);
	vt_se_hdr_tags(&h, tags);
	for (size_t i = 0; i < 16; i++)
		cuid[i] = (uint8_t)(0xc0 + i);
	for (size_t i = 0; i < 64; i++)
		user[i] = (uint8_t)i;
	memcpy(add, h.keyslots, 32);
	memcpy(add + 32, a.keyslots, 32);
	struct vt_se_measurement_input in = {.tags = tags, .cuid = cuid, .user_data = user, .user_data_size = 64,
					     .nonce = s.nonce, .additional = add, .additional_size = 64};
	assert_int_equal(vt_se_measurement(s.meas_key, 64, &in, m, NULL), VT_OK);
	unhex(SELF_KAT, want, 64);
	assert_memory_equal(m, want, 64);
	free(hb);
	free(ab);
}

/* ------------------------------------------------------------ parser negatives */

static uint8_t *dup_bytes(const uint8_t *p, size_t n, size_t extra)
{
	uint8_t *c = calloc(1, n + extra + 1);
	assert_non_null(c);
	memcpy(c, p, n);
	return c;
}

static void test_arcb_negatives(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	const uint8_t *b = s.arcb;
	size_t n = s.arcb_n;
	struct vt_se_arcb a;
	assert_int_equal(vt_se_arcb_parse(b, n, &a, NULL), VT_OK);

	/* truncated: every shorter prefix fails */
	for (size_t k = 0; k < n; k++)
		assert_int_not_equal(vt_se_arcb_parse(b, k, &a, NULL), VT_OK);
	expect_fail(vt_se_arcb_parse(b, 0, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.magic");
	expect_fail(vt_se_arcb_parse(b, 10, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.version");
	expect_fail(vt_se_arcb_parse(b, n - 1, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.size");

	uint8_t *c = dup_bytes(b, n, 1);
	/* wrong magic / version */
	c[0] = 17;
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.magic");
	c[0] = 0;
	put32(c + 8, 0x200);
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.version");
	put32(c + 8, 0x100);
	/* size fields inconsistent with the file */
	expect_fail(vt_se_arcb_parse(c, n + 1, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.size");
	put32(c + 12, (uint32_t)n + 1);
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.size");
	put32(c + 12, 0xffffffffu);
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_LIMIT, VT_STEP_PARSE, "arcb.size");
	put32(c + 12, (uint32_t)n);
	put32(c + 0x2c, 64);
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.sea");
	put32(c + 0x2c, 0xffffffffu);
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.sea");
	put32(c + 0x2c, 80);
	/* counts: none, huge, one too many */
	c[0x27] = 0;
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.nks");
	c[0x27] = 255;
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.nks");
	c[0x27] = 2; /* fits, but then the encrypted area does not */
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.sea");
	c[0x27] = 1;
	/* reserved, flags, algorithm */
	c[0x1c] = 1;
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.reserved");
	c[0x1c] = 0;
	c[0x3c] = 17; /* s390-tools' decrypt_bin_fail_aad byte */
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.reserved");
	c[0x3c] = 0;
	c[0x3b] = 17; /* s390-tools' decrypt_bin_fail_mai byte */
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.mai");
	c[0x3b] = 1;
	put64(c + 0x30, FLAGS_TRUSTEE | (UINT64_C(1) << 63));
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.flags");
	put64(c + 0x30, FLAGS_TRUSTEE & ~VT_SE_FLAG_NONCE); /* 80-byte area without a nonce */
	expect_fail(vt_se_arcb_parse(c, n, &a, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.sea");
	put64(c + 0x30, FLAGS_TRUSTEE);
	assert_int_equal(vt_se_arcb_parse(c, n, &a, NULL), VT_OK);
	free(c);
	scen_free(&s);
}

static void test_hdr_negatives(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	const uint8_t *b = s.hdr;
	size_t n = s.hdr_n;
	struct vt_se_hdr h;
	for (size_t k = 0; k < n; k++)
		assert_int_not_equal(vt_se_hdr_parse(b, k, &h, NULL), VT_OK);
	expect_fail(vt_se_hdr_parse(b, 4, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.magic");
	expect_fail(vt_se_hdr_parse(b, 14, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.size");
	expect_fail(vt_se_hdr_parse(b, n - 1, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.size");
	uint8_t *c = dup_bytes(b, n, 1);
	c[1] ^= 0xff;
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.magic");
	c[1] ^= 0xff;
	put32(c + 8, 0x200);
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.version");
	put32(c + 8, 0x100);
	expect_fail(vt_se_hdr_parse(c, n + 1, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.size");
	put32(c + 12, 0x10000);
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_LIMIT, VT_STEP_PARSE, "se_header.size");
	put32(c + 12, (uint32_t)n);
	c[0x1c] = 1;
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.reserved");
	c[0x1c] = 0;
	put64(c + 0x20, 0);
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.nks");
	put64(c + 0x20, UINT64_C(1) << 62); /* a huge count must not wrap the size arithmetic */
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.nks");
	put64(c + 0x20, 2);
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.sea");
	put64(c + 0x20, 1);
	put64(c + 0x28, UINT64_MAX);
	expect_fail(vt_se_hdr_parse(c, n, &h, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.sea");
	put64(c + 0x28, 128);
	assert_int_equal(vt_se_hdr_parse(c, n, &h, NULL), VT_OK);
	/* Trusting a bad header is a configuration error naming the field. */
	struct vt_se_trust *t = NULL;
	assert_int_equal(vt_se_trust_new(&t, NULL), VT_OK);
	expect_fail(vt_se_trust_add_header(t, c, n - 1, &e_), VT_E_PARSE, VT_STEP_PARSE, "se_header.size");
	vt_se_trust_free(t);
	free(c);
	scen_free(&s);
}

/* A response exchange file: header + ARCB + measurement + additional + user + CUID. */
static uint8_t *make_exchange(const struct scen *s, size_t *n_out)
{
	size_t n = 0x40 + s->arcb_n + 64 + s->add_n + 64 + 16;
	uint8_t *b = calloc(1, n + 1);
	assert_non_null(b);
	memcpy(b, "pvattest", 8);
	put32(b + 8, 0x100);
	put32(b + 12, (uint32_t)n);
	uint32_t off = 0x40;
	const uint8_t *data[5] = {s->arcb, s->meas, s->additional, s->user, s->cuid};
	size_t sizes[5] = {s->arcb_n, 64, s->add_n, 64, 16};
	for (size_t i = 0; i < 5; i++) {
		put32(b + 0x18 + 8 * i, (uint32_t)sizes[i]);
		put32(b + 0x1c + 8 * i, sizes[i] ? off : 0);
		memcpy(b + off, data[i], sizes[i]);
		off += (uint32_t)sizes[i];
	}
	*n_out = n;
	return b;
}

static void test_exchange_negatives(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	size_t n = 0;
	uint8_t *b = make_exchange(&s, &n);
	struct vt_se_exchange x;
	assert_int_equal(vt_se_exchange_parse(b, n, &x, NULL), VT_OK);
	for (size_t k = 0; k < n; k++)
		assert_int_not_equal(vt_se_exchange_parse(b, k, &x, NULL), VT_OK);
	expect_fail(vt_se_exchange_parse(b, 0x20, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.size");
	expect_fail(vt_se_exchange_parse(b, 7, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.magic");
	b[0] = 'P';
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.magic");
	b[0] = 'p';
	put32(b + 8, 0x101);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.version");
	put32(b + 8, 0x100);
	expect_fail(vt_se_exchange_parse(b, n + 1, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.size");
	put32(b + 12, 0xffffffffu);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_LIMIT, VT_STEP_PARSE, "exchange.size");
	put32(b + 12, (uint32_t)n);
	b[0x17] = 1;
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.reserved");
	b[0x17] = 0;
	/* ARCB entry: offset inside the header; huge size; absent */
	put32(b + 0x1c, 0x20);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.arcb");
	put32(b + 0x1c, 0x40);
	put32(b + 0x18, 0xffffffffu);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_LIMIT, VT_STEP_PARSE, "exchange.arcb");
	put32(b + 0x18, 0);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.arcb");
	put32(b + 0x18, (uint32_t)s.arcb_n);
	/* user data: past the end, then above its cap */
	uint32_t user_off = 0x40 + (uint32_t)(s.arcb_n + 64 + s.add_n);
	put32(b + 0x34, (uint32_t)n - 10);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.user_data");
	put32(b + 0x34, 0xfffffff0u);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.user_data");
	put32(b + 0x34, user_off);
	put32(b + 0x30, 257);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_LIMIT, VT_STEP_PARSE, "exchange.user_data");
	put32(b + 0x30, 64);
	put32(b + 0x38, 15);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.cuid");
	put32(b + 0x38, 16);
	put32(b + 0x28, 0x8001);
	expect_fail(vt_se_exchange_parse(b, n, &x, &e_), VT_E_LIMIT, VT_STEP_PARSE, "exchange.additional");
	put32(b + 0x28, (uint32_t)s.add_n);
	assert_int_equal(vt_se_exchange_parse(b, n, &x, NULL), VT_OK);
	/* A request (measurement: size only) is no evidence. */
	put32(b + 0x24, 0);
	json_t *ev = NULL;
	assert_int_equal(vt_se_exchange_parse(b, n, &x, NULL), VT_OK);
	assert_true(x.measurement.present && x.measurement.data == NULL);
	expect_fail(vt_se_evidence_from_exchange(b, n, &ev, &e_), VT_E_PARSE, VT_STEP_PARSE, "exchange.measurement");
	free(b);
	scen_free(&s);
}

/* ------------------------------------------------------------ verification */

static json_t *verify_ok(const struct vt_se_trust *t, const json_t *ev, const struct vt_binding *bind)
{
	json_t *claims = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	if (vt_se_verify(t, ev, bind, &claims, &e) != VT_OK)
		fail_msg("verify: %s/%s %s: %s", vt_status_name(e.code), vt_step_name(e.step), e.field, e.detail);
	return claims;
}

static void test_verify_synthetic(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	struct vt_se_trust *t = scen_trust(&s);
	uint8_t rd[48];
	memcpy(rd, s.user, 48);
	struct vt_binding b48 = {.report_data = rd, .report_data_size = 48};
	for (int with_tags = 0; with_tags < 2; with_tags++) {
		json_t *ev = scen_evidence(&s, with_tags);
		json_t *c = verify_ok(t, ev, NULL);
		json_decref(c);
		json_decref(ev);
	}
	vt_se_trust_free(t);
	scen_free(&s);
	/* A 48-byte binding (today's SHA-384) is the user data zero-padded to 64. */
	struct scen s2;
	scen_make(&s2, FLAGS_TRUSTEE);
	t = scen_trust(&s2);
	memset(s2.user + 48, 0, 16);
	struct vt_se_measurement_input in = {.tags = s2.tags, .cuid = s2.cuid, .user_data = s2.user, .user_data_size = 64,
					     .nonce = s2.spec.nonce, .additional = s2.additional, .additional_size = s2.add_n};
	assert_int_equal(vt_se_measurement(s2.spec.meas_key, 64, &in, s2.meas, NULL), VT_OK);
	json_t *ev = scen_evidence(&s2, true);
	json_t *c = verify_ok(t, ev, &b48);
	char *hex = vt_hex_encode(s2.user, 64);
	assert_string_equal(json_string_value(json_object_get(c, "report_data")), hex);
	free(hex);
	assert_int_equal(json_integer_value(json_object_get(c, "version")), 256);
	hex = vt_hex_encode(s2.img_phkh, 32);
	assert_string_equal(json_string_value(json_object_get(c, "image_phkh")), hex);
	free(hex);
	hex = vt_hex_encode(s2.att_phkh, 32);
	assert_string_equal(json_string_value(json_object_get(c, "attestation_phkh")), hex);
	free(hex);
	hex = vt_hex_encode(s2.tags + 192, 16);
	assert_string_equal(json_string_value(json_object_get(c, "tag")), hex);
	free(hex);
	hex = vt_hex_encode(s2.cuid, 16);
	assert_string_equal(json_string_value(json_object_get(c, "cuid")), hex);
	free(hex);
	assert_string_equal(json_string_value(json_object_get(c, "key_source")), "arcb");
	assert_string_equal(json_string_value(json_object_get(c, "attestation_flags")), "7000000000000000");
	assert_null(json_object_get(c, "secret_store_hash"));
	json_decref(c);

	/* binding: another value; too long */
	rd[0] ^= 1;
	expect_fail(vt_se_verify(t, ev, &b48, &c, &e_), VT_E_REJECTED, VT_STEP_BINDING, "user_data");
	uint8_t rd65[65] = {0};
	struct vt_binding b65 = {.report_data = rd65, .report_data_size = 65};
	expect_fail(vt_se_verify(t, ev, &b65, &c, &e_), VT_E_USAGE, VT_STEP_BINDING, "user_data");

	/* every byte of the measurement, user data, CUID and additional data is covered */
	const char *members[] = {"measurement", "user_data", "cuid"};
	const uint8_t *src[] = {s2.meas, s2.user, s2.cuid};
	size_t lens[] = {64, 64, 16};
	for (size_t m = 0; m < 3; m++) {
		for (size_t i = 0; i < lens[m]; i++) {
			uint8_t buf[64];
			memcpy(buf, src[m], lens[m]);
			buf[i] ^= 0x01;
			json_t *f = json_deep_copy(ev);
			set_b64(f, members[m], buf, lens[m]);
			expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "measurement");
			json_decref(f);
		}
	}
	for (size_t i = 0; i < s2.add_n; i++) {
		uint8_t buf[64];
		memcpy(buf, s2.additional, s2.add_n);
		buf[i] ^= 0x80;
		json_t *f = json_deep_copy(ev);
		set_b64(f, "additional_data", buf, s2.add_n);
		expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "measurement");
		json_decref(f);
	}
	/* every byte of the ARCB: refused by the parser or by GCM */
	for (size_t i = 0; i < s2.arcb_n; i++) {
		uint8_t *a = dup_bytes(s2.arcb, s2.arcb_n, 0);
		a[i] ^= 0x01;
		json_t *f = json_deep_copy(ev);
		set_b64(f, "request_blob", a, s2.arcb_n);
		struct vt_err e;
		vt_err_clear(&e);
		if (vt_se_verify(t, f, NULL, &c, &e) == VT_OK)
			fail_msg("ARCB byte %zu changed and verified", i);
		if (!(e.step == VT_STEP_PARSE || (e.step == VT_STEP_SIGNATURE && strcmp(e.field, "arcb.tag") == 0)))
			fail_msg("ARCB byte %zu: %s %s", i, vt_step_name(e.step), e.field);
		json_decref(f);
		free(a);
	}
	/* tags of an image the verifier does not trust */
	uint8_t other[208];
	memcpy(other, s2.tags, 208);
	other[100] ^= 1;
	json_t *f = json_deep_copy(ev);
	set_b64(f, "image_hdr_tags", other, 208);
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_BINDING, "image_hdr_tags");
	json_decref(f);
	json_decref(ev);
	vt_se_trust_free(t);
	scen_free(&s2);
}

static void test_verify_evidence_json_rules(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	struct vt_se_trust *t = scen_trust(&s);
	json_t *ev = scen_evidence(&s, true), *c = NULL, *f;

	json_t *arr = json_array();
	expect_fail(vt_se_verify(t, arr, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "evidence");
	json_decref(arr);
	const char *required[] = {"measurement", "additional_data", "user_data", "cuid"};
	for (size_t i = 0; i < 4; i++) {
		f = json_deep_copy(ev);
		json_object_del(f, required[i]);
		expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, required[i]);
		json_object_set_new(f, required[i], json_integer(1));
		expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, required[i]);
		json_object_set_new(f, required[i], json_string("***"));
		expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, required[i]);
		json_decref(f);
	}
	f = json_deep_copy(ev);
	json_object_set_new(f, "extra", json_string(""));
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "evidence");
	json_decref(f);
	/* sizes */
	uint8_t big[512] = {0};
	f = json_deep_copy(ev);
	set_b64(f, "cuid", big, 15);
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "cuid");
	set_b64(f, "cuid", s.cuid, 16);
	set_b64(f, "measurement", big, 63);
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "measurement");
	set_b64(f, "measurement", s.meas, 64);
	set_b64(f, "user_data", big, 257);
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "user_data");
	set_b64(f, "user_data", big, 400); /* beyond the base64 cap: refused before decoding */
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_LIMIT, VT_STEP_PARSE, "user_data");
	set_b64(f, "user_data", s.user, 64);
	set_b64(f, "image_hdr_tags", big, 207);
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "image_hdr_tags");
	set_b64(f, "image_hdr_tags", s.tags, 208);
	set_b64(f, "additional_data", s.additional, 32);
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_PARSE, VT_STEP_PARSE, "additional_data");
	json_decref(f);
	/* no key source */
	f = json_deep_copy(ev);
	json_object_del(f, "request_blob");
	expect_fail(vt_se_verify(t, f, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "request_blob");
	json_decref(f);
	/* no trust at all */
	expect_fail(vt_se_verify(NULL, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_CONFIG, "se_headers");
	/* an ARCB made under another ARPK */
	struct vt_se_trust *t2 = NULL;
	uint8_t arpk2[32];
	memset(arpk2, 0x18, 32);
	assert_int_equal(vt_se_trust_new(&t2, NULL), VT_OK);
	assert_int_equal(vt_se_trust_add_header(t2, s.hdr, s.hdr_n, NULL), VT_OK);
	assert_int_equal(vt_se_trust_add_arpk(t2, arpk2, NULL), VT_OK);
	expect_fail(vt_se_verify(t2, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "arcb.tag");
	/* ... and with the right one among several */
	assert_int_equal(vt_se_trust_add_arpk(t2, s.spec.arpk, NULL), VT_OK);
	c = verify_ok(t2, ev, NULL);
	json_decref(c);
	vt_se_trust_free(t2);
	json_decref(ev);
	vt_se_trust_free(t);
	scen_free(&s);
}

static void test_verify_binding_rules(void **state)
{
	(void)state;
	json_t *c = NULL;
	/* no nonce requested */
	struct scen s;
	scen_make(&s, VT_SE_FLAG_IMAGE_PHKH | VT_SE_FLAG_ATTEST_PHKH);
	struct vt_se_trust *t = scen_trust(&s);
	json_t *ev = scen_evidence(&s, false);
	expect_fail(vt_se_verify(t, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_BINDING, "arcb.flags");
	json_decref(ev);
	vt_se_trust_free(t);
	scen_free(&s);

	/* every additional item requested: all reported */
	scen_make(&s, VT_SE_FLAGS_KNOWN);
	t = scen_trust(&s);
	ev = scen_evidence(&s, false);
	c = verify_ok(t, ev, NULL);
	assert_non_null(json_object_get(c, "secret_store_hash"));
	assert_int_equal(strlen(json_string_value(json_object_get(c, "firmware_state"))), 640);
	json_decref(c);
	json_decref(ev);
	vt_se_trust_free(t);

	/* host-key hashes the UV could not have reported: the ARCB's slot, the header's slot */
	uint8_t saved[32];
	memcpy(saved, s.att_phkh, 32);
	memset(s.additional + 32, 0x99, 32);
	struct vt_se_measurement_input in = {.tags = s.tags, .cuid = s.cuid, .user_data = s.user, .user_data_size = 64,
					     .nonce = s.spec.nonce, .additional = s.additional, .additional_size = s.add_n};
	assert_int_equal(vt_se_measurement(s.spec.meas_key, 64, &in, s.meas, NULL), VT_OK);
	t = scen_trust(&s);
	ev = scen_evidence(&s, false);
	expect_fail(vt_se_verify(t, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_BINDING, "additional_data.attestation_phkh");
	json_decref(ev);
	memcpy(s.additional + 32, saved, 32);
	memset(s.additional, 0x98, 32);
	assert_int_equal(vt_se_measurement(s.spec.meas_key, 64, &in, s.meas, NULL), VT_OK);
	ev = scen_evidence(&s, false);
	expect_fail(vt_se_verify(t, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_BINDING, "additional_data.image_phkh");
	json_decref(ev);
	vt_se_trust_free(t);
	scen_free(&s);
}

/* Trustee's path: key and nonce RSA-encrypted to the verifier's key. */
static void test_verify_trustee_rsa(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	assert_non_null(rsa);
	uint8_t ek[256], en[256];
	size_t ekn = sizeof(ek), enn = sizeof(en);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(rsa, NULL);
	assert_int_equal(EVP_PKEY_encrypt_init(pc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_encrypt(pc, ek, &ekn, s.spec.meas_key, 64), 1);
	assert_int_equal(EVP_PKEY_encrypt(pc, en, &enn, s.spec.nonce, 16), 1);
	uint8_t wrong[64];
	memset(wrong, 0x78, 64);
	uint8_t ew[256];
	size_t ewn = sizeof(ew);
	assert_int_equal(EVP_PKEY_encrypt(pc, ew, &ewn, wrong, 63), 1);
	EVP_PKEY_CTX_free(pc);

	json_t *ev = scen_evidence(&s, true), *c = NULL;
	json_object_del(ev, "request_blob");
	set_b64(ev, "encr_measurement_key", ek, ekn);
	set_b64(ev, "encr_request_nonce", en, enn);
	struct vt_se_trust *t = NULL;
	assert_int_equal(vt_se_trust_new(&t, NULL), VT_OK);
	assert_int_equal(vt_se_trust_add_header(t, s.hdr, s.hdr_n, NULL), VT_OK);
	expect_fail(vt_se_verify(t, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "request_blob");
	assert_int_equal(vt_se_trust_set_rsa_key_insecure(t, rsa, NULL), VT_OK);
	c = verify_ok(t, ev, NULL);
	assert_string_equal(json_string_value(json_object_get(c, "key_source")), "trustee-rsa-insecure");
	assert_null(json_object_get(c, "attestation_flags"));
	json_decref(c);
	set_b64(ev, "encr_measurement_key", ew, ewn); /* a 63-byte key */
	expect_fail(vt_se_verify(t, ev, NULL, &c, &e_), VT_E_REJECTED, VT_STEP_SIGNATURE, "encr_measurement_key");
	/* A changed ciphertext: refused, whether the padding check (OpenSSL
	 * 3.0) or, with implicit rejection (3.2+), the length or the HMAC says so. */
	ek[10] ^= 1;
	set_b64(ev, "encr_measurement_key", ek, ekn);
	struct vt_err e;
	vt_err_clear(&e);
	assert_int_equal(vt_se_verify(t, ev, NULL, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_true(strcmp(e.field, "encr_measurement_key") == 0 || strcmp(e.field, "measurement") == 0);
	json_decref(ev);
	vt_se_trust_free(t);
	EVP_PKEY_free(rsa);
	scen_free(&s);
}

/* ------------------------------------------------------------ through the verifier */

static char *tmp_path(const char *name)
{
	size_t l = strlen(g_tmp) + strlen(name) + 2;
	char *p = malloc(l);
	assert_non_null(p);
	snprintf(p, l, "%s/%s", g_tmp, name);
	return p;
}

static void test_se_through_verifier(void **state)
{
	(void)state;
	const struct vt_tee *se = vt_tee_find("se");
	assert_non_null(se);
	assert_ptr_equal(se, &vt_tee_se);
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	char *hdr = tmp_path("hdr.bin"), *arpk = tmp_path("arpk.bin"), *hdrdir = tmp_path("hdrs");
	write_file(hdr, s.hdr, s.hdr_n, 0644);
	write_file(arpk, s.spec.arpk, 32, 0600);
	mkdir(hdrdir, 0755);
	size_t h2n = strlen(hdrdir) + 16;
	char *h2 = malloc(h2n);
	snprintf(h2, h2n, "%s/b.hdr", hdrdir);
	write_file(h2, s.hdr, s.hdr_n, 0644);

	struct vt_verifier *v = NULL;
	struct vt_verifier_settings st = {0};
	struct vt_err e;
	/* not configured: refused */
	assert_int_equal(vt_verifier_new(&st, &v, NULL), VT_OK);
	assert_false(vt_verifier_accepts(v, se));
	vt_verifier_free(v);
	/* headers without keys: a configuration error that says why */
	json_t *tees = json_pack("{s:{s:s}}", "se", "se_headers", hdr);
	st.tees = tees;
	vt_err_clear(&e);
	assert_int_equal(vt_verifier_new(&st, &v, &e), VT_E_USAGE);
	assert_string_equal(e.field, "arpk");
	assert_non_null(strstr(e.detail, "IBM"));
	json_decref(tees);
	/* an ARPK readable by others */
	char *loose = tmp_path("loose.bin");
	write_file(loose, s.spec.arpk, 32, 0644);
	tees = json_pack("{s:{s:s,s:s}}", "se", "se_headers", hdr, "arpk", loose);
	st.tees = tees;
	vt_err_clear(&e);
	assert_int_equal(vt_verifier_new(&st, &v, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "chmod 600"));
	json_decref(tees);
	/* configured: accepted, verified, and the broker's policy reads its claims */
	for (int dir = 0; dir < 2; dir++) {
		tees = json_pack("{s:{s:s,s:s}}", "se", "se_headers", dir ? hdrdir : hdr, "arpk", arpk);
		st.tees = tees;
		vt_err_clear(&e);
		if (vt_verifier_new(&st, &v, &e) != VT_OK)
			fail_msg("verifier: %s %s", e.field, e.detail);
		assert_true(vt_verifier_accepts(v, se));
		json_t *ev = scen_evidence(&s, true), *claims = NULL;
		uint8_t rd[64];
		memcpy(rd, s.user, 64);
		struct vt_binding b = {.report_data = rd, .report_data_size = 64};
		vt_err_clear(&e);
		if (vt_verifier_verify(v, se, ev, &b, 0, NULL, &claims, &e) != VT_OK)
			fail_msg("verify: %s %s", e.field, e.detail);
		rd[5] ^= 1;
		json_t *c2 = NULL;
		vt_err_clear(&e);
		assert_int_equal(vt_verifier_verify(v, se, ev, &b, 0, NULL, &c2, &e), VT_E_REJECTED);
		assert_string_equal(e.field, "user_data");
		assert_non_null(strstr(e.detail, "se: "));

		/* the default policy over {"se": claims} */
		struct vt_policy *p = NULL;
		assert_int_equal(vt_policy_parse(se->default_policy, strlen(se->default_policy), &p, NULL), VT_OK);
		json_t *input = json_pack("{s:O}", "se", claims);
		struct vt_appraisal ap;
		assert_int_equal(vt_policy_evaluate(p, input, NULL, NULL, NULL, &ap, NULL), VT_OK);
		assert_string_equal(vt_appraisal_status(&ap), "warning"); /* host key not enrolled */
		vt_appraisal_free(&ap);
		json_decref(input);
		vt_policy_free(p);

		/* the same evidence as a pvattest exchange response file */
		size_t xn = 0;
		uint8_t *x = make_exchange(&s, &xn);
		json_t *ev2 = NULL, *claims2 = NULL;
		assert_int_equal(se->load_file(x, xn, &ev2, NULL), VT_OK);
		assert_int_equal(vt_verifier_verify(v, se, ev2, NULL, 0, NULL, &claims2, NULL), VT_OK);
		assert_true(json_equal(json_object_get(claims, "tag"), json_object_get(claims2, "tag")));
		char *txt = json_dumps(ev, JSON_COMPACT);
		json_t *ev3 = NULL;
		assert_int_equal(se->load_file((const uint8_t *)txt, strlen(txt), &ev3, NULL), VT_OK);
		assert_true(json_equal(ev, ev3));
		expect_fail(se->load_file((const uint8_t *)"garbage", 7, &ev3, &e_), VT_E_PARSE, VT_STEP_PARSE, "evidence");
		free(txt);
		json_decref(ev3);
		json_decref(ev2);
		json_decref(claims2);
		free(x);
		json_decref(claims);
		json_decref(ev);
		vt_verifier_free(v);
		json_decref(tees);
	}
	unlink(h2);
	rmdir(hdrdir);
	unlink(hdr);
	unlink(arpk);
	unlink(loose);
	free(h2);
	free(hdr);
	free(arpk);
	free(hdrdir);
	free(loose);
	scen_free(&s);
}

/* ------------------------------------------------------------ attester */

enum fake_mode { FAKE_OK, FAKE_RC, FAKE_SHORT_ADD, FAKE_NO_DEVICE };

struct fake_uv {
	enum fake_mode mode;
	uint8_t arpk[32];
	uint8_t tags[VT_SE_TAGS_SIZE];
	uint8_t img_phkh[32];
	unsigned calls;
};

/* The Ultravisor's side: it holds the host key, so it can open the ARCB. */
static vt_status fake_uv(void *ctx, struct vt_se_uv_attest *io, struct vt_err *err)
{
	struct fake_uv *f = ctx;
	f->calls++;
	if (f->mode == FAKE_NO_DEVICE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "uv_device", "no Ultravisor device");
	struct vt_se_arcb a;
	struct vt_se_arcb_secrets s;
	if (vt_se_arcb_parse(io->arcb, io->arcb_size, &a, NULL) != VT_OK ||
	    vt_se_arcb_unwrap(&a, f->arpk, &s, NULL) != VT_OK || f->mode == FAKE_RC) {
		io->uv_rc = 0x010c;
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "uv_device", "the Ultravisor refused: rc 0x010c");
	}
	uint8_t add[448];
	uint8_t *p = add;
	if (a.flags & VT_SE_FLAG_IMAGE_PHKH) {
		memcpy(p, f->img_phkh, 32);
		p += 32;
	}
	if (a.flags & VT_SE_FLAG_ATTEST_PHKH) {
		memcpy(p, a.keyslots, 32);
		p += 32;
	}
	size_t add_n = (size_t)(p - add);
	assert_true(add_n <= io->additional_size);
	assert_int_equal(io->measurement_size, 64);
	for (size_t i = 0; i < 16; i++)
		io->cuid[i] = (uint8_t)(0xc0 + i);
	struct vt_se_measurement_input in = {.tags = f->tags, .cuid = io->cuid, .user_data = io->user_data,
					     .user_data_size = io->user_data_size, .nonce = s.has_nonce ? s.nonce : NULL,
					     .additional = add, .additional_size = add_n};
	vt_status rc = vt_se_measurement(s.meas_key, 64, &in, io->measurement, err);
	memcpy(io->additional, add, add_n);
	io->additional_size = (uint32_t)add_n - (f->mode == FAKE_SHORT_ADD ? 1 : 0);
	io->uv_rc = 1;
	vt_wipe(&s, sizeof(s));
	return rc;
}

/* The shared ARCB and header: the fake UV's measurement is SELF_KAT, and
 * the evidence verifies through a verifier configured with those files. */
static void test_attest_vectors(void **state)
{
	(void)state;
	uint8_t *hb = NULL, *ab = NULL;
	size_t hn = 0, an = 0;
	NEED_VECTOR("s390-tools_secure_guest_test.hdr", hb, hn);
	NEED_VECTOR("s390-tools_arcb_v1_test.bin", ab, an);
	struct fake_uv f = {.mode = FAKE_OK};
	memset(f.arpk, 0x17, 32);
	struct vt_se_hdr h;
	assert_int_equal(vt_se_hdr_parse(hb, hn, &h, NULL), VT_OK);
	vt_se_hdr_tags(&h, f.tags);
	memcpy(f.img_phkh, h.keyslots, 32);
	uint8_t rd[64];
	for (size_t i = 0; i < 64; i++)
		rd[i] = (uint8_t)i;

	json_t *ev = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	if (vt_se_attest_via(fake_uv, &f, ab, an, rd, &ev, &e) != VT_OK)
		fail_msg("attest: %s %s", e.field, e.detail);
	uint8_t *m = NULL;
	size_t mn = 0;
	const char *mb = json_string_value(json_object_get(ev, "measurement"));
	assert_int_equal(vt_b64_decode(mb, strlen(mb), &m, &mn, NULL), VT_OK);
	uint8_t want[64];
	unhex(SELF_KAT, want, 64);
	assert_int_equal(mn, 64);
	assert_memory_equal(m, want, 64);
	free(m);

	char *arpk = tmp_path("vec-arpk.bin"), hdr[512];
	snprintf(hdr, sizeof(hdr), "%s/se/s390-tools_secure_guest_test.hdr", vt_test_vectors_dir());
	write_file(arpk, f.arpk, 32, 0600);
	json_t *tees = json_pack("{s:{s:s,s:s}}", "se", "se_headers", hdr, "arpk", arpk);
	struct vt_verifier_settings st = {.tees = tees};
	struct vt_verifier *v = NULL;
	assert_int_equal(vt_verifier_new(&st, &v, NULL), VT_OK);
	json_t *claims = NULL;
	struct vt_binding b = {.report_data = rd, .report_data_size = 64};
	vt_err_clear(&e);
	if (vt_verifier_verify(v, &vt_tee_se, ev, &b, 0, NULL, &claims, &e) != VT_OK)
		fail_msg("verify: %s %s", e.field, e.detail);
	assert_string_equal(json_string_value(json_object_get(claims, "tag")), "92309d4589b9a85b427f8753171d1520");
	assert_string_equal(json_string_value(json_object_get(claims, "image_phkh")),
			    "782966a6298f6f5968780c3134ca4c55958d2dbca5292f59e9f5d2670befaf2f");
	assert_string_equal(json_string_value(json_object_get(claims, "attestation_phkh")),
			    "415c25a5d19c381e619733e1c1b7fbd88bdd1c31d882d5ade04b97043c5010f0");
	json_decref(claims);
	vt_verifier_free(v);
	json_decref(tees);
	json_decref(ev);
	unlink(arpk);
	free(arpk);
	free(hb);
	free(ab);
}

static void test_attest_fake_device(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	struct fake_uv f = {.mode = FAKE_OK};
	memcpy(f.arpk, s.spec.arpk, 32);
	memcpy(f.tags, s.tags, sizeof(f.tags));
	memcpy(f.img_phkh, s.img_phkh, 32);
	struct vt_se_trust *t = scen_trust(&s);
	uint8_t rd[64];
	memset(rd, 0x5e, 64);
	struct vt_binding b = {.report_data = rd, .report_data_size = 64};
	json_t *ev = NULL, *c = NULL;

	/* 1. a raw ARCB */
	assert_int_equal(vt_se_attest_via(fake_uv, &f, s.arcb, s.arcb_n, rd, &ev, NULL), VT_OK);
	c = verify_ok(t, ev, &b);
	json_decref(c);
	assert_null(json_object_get(ev, "encr_measurement_key"));
	json_decref(ev);

	/* 2. a pvattest exchange request (header + ARCB, expected sizes only) */
	size_t xn = 0x40 + s.arcb_n;
	uint8_t *x = calloc(1, xn);
	memcpy(x, "pvattest", 8);
	put32(x + 8, 0x100);
	put32(x + 12, (uint32_t)xn);
	put32(x + 0x18, (uint32_t)s.arcb_n);
	put32(x + 0x1c, 0x40);
	put32(x + 0x20, 64);
	put32(x + 0x28, 64);
	memcpy(x + 0x40, s.arcb, s.arcb_n);
	assert_int_equal(vt_se_attest_via(fake_uv, &f, x, xn, rd, &ev, NULL), VT_OK);
	c = verify_ok(t, ev, &b);
	json_decref(c);
	json_decref(ev);
	free(x);

	/* 3. Trustee's SeAttestationRequest: its verifier-side members come back */
	char *blob = vt_b64_encode(s.arcb, s.arcb_n), *tags = vt_b64_encode(s.tags, 208);
	json_t *req = json_pack("{s:s,s:i,s:i,s:s,s:s,s:s}", "request_blob", blob, "measurement_size", 64,
				"additional_size", 64, "encr_measurement_key", "AAAA", "encr_request_nonce", "AAAA",
				"image_hdr_tags", tags);
	char *txt = json_dumps(req, JSON_COMPACT);
	assert_int_equal(vt_se_attest_via(fake_uv, &f, (const uint8_t *)txt, strlen(txt), rd, &ev, NULL), VT_OK);
	assert_string_equal(json_string_value(json_object_get(ev, "encr_measurement_key")), "AAAA");
	assert_string_equal(json_string_value(json_object_get(ev, "image_hdr_tags")), tags);
	json_object_del(ev, "encr_measurement_key"); /* 3-byte "ciphertexts" are no Trustee keys */
	json_object_del(ev, "encr_request_nonce");
	c = verify_ok(t, ev, &b);
	json_decref(c);
	json_decref(ev);
	free(txt);
	free(blob);
	free(tags);
	json_decref(req);

	/* failures: the UV refuses, a short answer, no device, a bad request */
	f.mode = FAKE_RC;
	expect_fail(vt_se_attest_via(fake_uv, &f, s.arcb, s.arcb_n, rd, &ev, &e_), VT_E_IO, VT_STEP_IO, "uv_device");
	f.mode = FAKE_SHORT_ADD;
	expect_fail(vt_se_attest_via(fake_uv, &f, s.arcb, s.arcb_n, rd, &ev, &e_), VT_E_IO, VT_STEP_IO, "additional_data");
	f.mode = FAKE_NO_DEVICE;
	expect_fail(vt_se_attest_via(fake_uv, &f, s.arcb, s.arcb_n, rd, &ev, &e_), VT_E_USAGE, VT_STEP_IO, "uv_device");
	f.mode = FAKE_OK;
	unsigned calls = f.calls;
	expect_fail(vt_se_attest_via(fake_uv, &f, s.arcb, s.arcb_n - 1, rd, &ev, &e_), VT_E_PARSE, VT_STEP_PARSE, "arcb.size");
	expect_fail(vt_se_attest_via(fake_uv, &f, (const uint8_t *)"{\"x\":1}", 7, rd, &ev, &e_), VT_E_PARSE,
		    VT_STEP_PARSE, "request_blob");
	assert_int_equal(f.calls, calls); /* nothing reached the device */
	assert_null(ev);

	/* the real device path: no /dev/uv here, and no request given */
	char *rq = tmp_path("req.bin"), *nodev = tmp_path("no-such-uv");
	write_file(rq, s.arcb, s.arcb_n, 0644);
	expect_fail(vt_se_attest(nodev, rq, rd, &ev, &e_), VT_E_USAGE, VT_STEP_IO, "uv_device");
	expect_fail(vt_se_attest(nodev, NULL, rd, &ev, &e_), VT_E_USAGE, VT_STEP_CONFIG, "se_request");
	const struct vt_attester *at = vt_attester_find("se");
	assert_ptr_equal(at, &vt_attester_se);
	json_t *o = json_pack("{s:s,s:s}", "se_request", rq, "uv_device", nodev);
	expect_fail(at->attest(o, rd, &ev, &e_), VT_E_USAGE, VT_STEP_IO, "uv_device");
	json_decref(o);
	unlink(rq);
	free(rq);
	free(nodev);
	vt_se_trust_free(t);
	scen_free(&s);
}

/* ------------------------------------------------------------ through the broker */

static struct vt_broker *make_broker(const char *dir, const char *db, json_t *tees)
{
	struct vt_broker_config c;
	vt_broker_config_init(&c);
	size_t l = strlen(dir) + 32;
	c.db_path = malloc(l);
	c.master_key_path = malloc(l);
	snprintf(c.db_path, l, "%s/%s", dir, db);
	snprintf(c.master_key_path, l, "%s/master.key", dir);
	c.tees = tees; /* the config owns it */
	struct vt_err e;
	vt_err_clear(&e);
	struct vt_broker *b = NULL;
	if (vt_broker_new(&c, &b, &e) != VT_OK)
		fail_msg("broker: %s %s", e.field, e.detail);
	vt_broker_config_free(&c);
	vt_broker_set_log(b, true, NULL, NULL);
	return b;
}

static int call(struct vt_broker *b, const char *path, const char *cookie, const char *body, json_t **json_out,
		char **cookie_out)
{
	struct vt_http_request r = {.method = "POST", .path = path, .session_cookie = cookie,
				    .body = (const uint8_t *)body, .body_size = strlen(body)};
	struct vt_http_response resp;
	vt_broker_handle(b, &r, &resp);
	int status = resp.status;
	*json_out = resp.body ? json_loadb(resp.body, resp.body_size, 0, NULL) : NULL;
	if (cookie_out != NULL) {
		*cookie_out = NULL;
		if (resp.set_cookie && strncmp(resp.set_cookie, "kbs-session-id=", 15) == 0)
			*cookie_out = strndup(resp.set_cookie + 15, 32);
	}
	vt_http_response_free(&resp);
	return status;
}

/* The broker accepts `se` through its descriptor only when configured, and
 * a guest with veritee's attester and a pre-made ARCB attests end to end:
 * the SHA-384 runtime-data digest sits zero-padded in the user data. */
static void test_se_through_broker(void **state)
{
	(void)state;
	struct scen s;
	scen_make(&s, FLAGS_TRUSTEE);
	char *dir = tmp_path("broker");
	assert_int_equal(mkdir(dir, 0700), 0);
	size_t l = strlen(dir) + 32;
	char *hdr = malloc(l), *arpk = malloc(l);
	snprintf(hdr, l, "%s/hdr.bin", dir);
	snprintf(arpk, l, "%s/arpk.bin", dir);
	write_file(hdr, s.hdr, s.hdr_n, 0644);
	write_file(arpk, s.spec.arpk, 32, 0600);
	const char *auth = "{\"version\":\"0.4.0\",\"tee\":\"se\",\"extra-params\":\"\"}";
	json_t *j = NULL;

	/* not configured: refused at /auth */
	struct vt_broker *b = make_broker(dir, "a.db", NULL);
	assert_true(call(b, "/kbs/v0/auth", NULL, auth, &j, NULL) >= 400);
	json_decref(j);
	vt_broker_free(b);

	/* configured */
	b = make_broker(dir, "b.db", json_pack("{s:{s:s,s:s}}", "se", "se_headers", hdr, "arpk", arpk));
	char *cookie = NULL;
	assert_int_equal(call(b, "/kbs/v0/auth", NULL, auth, &j, &cookie), 200);
	assert_non_null(cookie);
	const char *nonce = json_string_value(json_object_get(j, "nonce"));
	/* SE binds with SHA-512 (64 bytes of user data), and the challenge says so, as Trustee's */
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "extra-params"), "selected-hash-algorithm")),
			    "sha512");
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &k, NULL), VT_OK);
	json_t *jwk = vt_key_to_jwk(k, "ECDH-ES+A256KW", false);
	uint8_t rd[64] = {0};
	size_t rd_size = 0;
	assert_int_equal(vt_kbs_runtime_digest_md(EVP_sha512(), jwk, nonce, "", NULL, rd, &rd_size, NULL), VT_OK);
	assert_int_equal(rd_size, 64);
	struct fake_uv f = {.mode = FAKE_OK};
	memcpy(f.arpk, s.spec.arpk, 32);
	memcpy(f.tags, s.tags, sizeof(f.tags));
	memcpy(f.img_phkh, s.img_phkh, 32);
	json_t *ev = NULL;
	assert_int_equal(vt_se_attest_via(fake_uv, &f, s.arcb, s.arcb_n, rd, &ev, NULL), VT_OK);
	json_t *att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
				"tee-evidence", "primary_evidence", ev, "additional_evidence", "");
	char *body = vt_json_compact(att);
	json_t *resp = NULL;
	int st = call(b, "/kbs/v0/attest", cookie, body, &resp, NULL);
	if (st != 200)
		fail_msg("attest: %d %s", st, json_string_value(json_object_get(resp, "detail")));
	assert_non_null(json_string_value(json_object_get(resp, "token")));
	json_decref(resp);
	free(body);
	json_decref(att);
	free(cookie);
	json_decref(j);

	/* evidence bound to another session's nonce is refused */
	assert_int_equal(call(b, "/kbs/v0/auth", NULL, auth, &j, &cookie), 200);
	att = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}", "runtime-data", "nonce",
			json_string_value(json_object_get(j, "nonce")), "tee-pubkey", jwk, "tee-evidence",
			"primary_evidence", ev, "additional_evidence", "");
	body = vt_json_compact(att);
	assert_true(call(b, "/kbs/v0/attest", cookie, body, &resp, NULL) >= 400);
	assert_non_null(strstr(json_string_value(json_object_get(resp, "detail")), "user data"));
	json_decref(resp);
	free(body);
	json_decref(att);
	free(cookie);
	json_decref(j);

	json_decref(ev);
	json_decref(jwk);
	EVP_PKEY_free(k);
	vt_broker_free(b);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(hdr);
	free(arpk);
	free(dir);
	scen_free(&s);
}

/* ------------------------------------------------------------ main */

static int group_setup(void **state)
{
	(void)state;
	g_tmp = vt_test_tmpdir();
	return g_tmp ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	rmdir(g_tmp);
	free(g_tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arcb_vector_known_answer),
		cmocka_unit_test(test_arcb_vector_flips),
		cmocka_unit_test(test_hdr_vector),
		cmocka_unit_test(test_exchange_vector),
		cmocka_unit_test(test_measurement_upstream_kats),
		cmocka_unit_test(test_measurement_self_kat),
		cmocka_unit_test(test_arcb_negatives),
		cmocka_unit_test(test_hdr_negatives),
		cmocka_unit_test(test_exchange_negatives),
		cmocka_unit_test(test_verify_synthetic),
		cmocka_unit_test(test_verify_evidence_json_rules),
		cmocka_unit_test(test_verify_binding_rules),
		cmocka_unit_test(test_verify_trustee_rsa),
		cmocka_unit_test(test_se_through_verifier),
		cmocka_unit_test(test_attest_vectors),
		cmocka_unit_test(test_attest_fake_device),
		cmocka_unit_test(test_se_through_broker),
	};
	return cmocka_run_group_tests_name("se", tests, group_setup, group_teardown);
}
