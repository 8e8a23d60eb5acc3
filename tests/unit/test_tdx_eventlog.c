/* TDX CC event log replay: synthetic crypto-agile logs (the shared vectors
 * hold no CCEL), expected RTMRs computed independently with Python hashlib. */
#include "testutil.h"

#include <openssl/evp.h>

#include "evidence/tdx/eventlog.h"
#include "veritee/json.h"

/*
 * Expected values, from:
 *   H = lambda b: hashlib.sha384(b).digest(); z = bytes(48)
 *   r0 = H(H(z + H(b"A")) + H(b"A2")); r1 = H(z + H(b"B"))
 *   r2 = H(z + H(b"C"));               r3 = H(z + H(b"D"))
 */
static const char R0[] = "7367d3600f1be8d0b5d48000d2b48b4ce1da66bc844352cb83d7fc680b3aa559378fbb663b96522275c5c23b9da7ca35";
static const char R1[] = "7d5f8394b2cf127fbacdad77439e9fd2781bba9fc8251866fffc35a3daa144e28a96a1ad5431f697224ec8d48e893bf3";
static const char R2[] = "aa2e128e4ab1acfcaf41e5fa8c9afa02f9506263a20208d5540ecbe09d8bdc27ef83afab5486a4eb2211fe388144d7f3";
static const char R3[] = "40d481a3ef1887aced93947d9b6a62a2e5d6619b1ee5623134e5b3f567bf08c6357b3dbd18bb182405b61a580e27e7c6";

struct lb {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct lb *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void u16(struct lb *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(b, x, 2);
}

static void u32(struct lb *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(b, x, 4);
}

static void u64(struct lb *b, uint64_t v)
{
	u32(b, (uint32_t)v);
	u32(b, (uint32_t)(v >> 32));
}

static void sha384(const char *s, uint8_t out[48])
{
	unsigned n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), out, &n, EVP_sha384(), NULL), 1);
	assert_int_equal(n, 48);
}

/* Spec ID event listing SHA-1 and SHA-384; MR index 1 as in the GCE CCEL. */
static void spec_id(struct lb *b, bool with_sha384)
{
	struct lb e = {0};
	put(&e, "Spec ID Event03", 16);
	u32(&e, 0);
	uint8_t ver[4] = {0, 2, 0, 2};
	put(&e, ver, 4);
	u32(&e, 2);
	u16(&e, 0x0004);
	u16(&e, 20);
	u16(&e, with_sha384 ? 0x000C : 0x000B);
	u16(&e, with_sha384 ? 48 : 32);
	uint8_t vendor = 0;
	put(&e, &vendor, 1);

	u32(b, 1);
	u32(b, 3);
	uint8_t z[20] = {0};
	put(b, z, 20);
	u32(b, (uint32_t)e.n);
	put(b, e.p, e.n);
	free(e.p);
}

/* TCG_PCR_EVENT2 with a SHA-1 filler digest and SHA-384(tag). */
static void event(struct lb *b, uint32_t mr, uint32_t type, const char *tag, const void *data, size_t n)
{
	uint8_t d[48], s1[20];
	sha384(tag, d);
	memset(s1, 0x11, sizeof(s1));
	u32(b, mr);
	u32(b, type);
	u32(b, 2);
	u16(b, 0x0004);
	put(b, s1, 20);
	u16(b, 0x000C);
	put(b, d, 48);
	u32(b, (uint32_t)n);
	put(b, data, n);
}

static void ff_pad(struct lb *b, size_t n)
{
	uint8_t ff[64];
	memset(ff, 0xFF, sizeof(ff));
	while (n > 0) {
		size_t k = n < sizeof(ff) ? n : sizeof(ff);
		put(b, ff, k);
		n -= k;
	}
}

/* The base log: RTMR0 <- A, A2; RTMR1 <- B; RTMR2 <- C; skipped: an
 * EV_NO_ACTION event and an MR index 0 event. */
static void base_log(struct lb *b)
{
	spec_id(b, true);
	struct lb var = {0};
	static const uint8_t guid[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
					 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
	put(&var, guid, 16);
	u64(&var, 10);
	u64(&var, 1);
	const char *name = "SecureBoot";
	for (size_t i = 0; i < 10; i++)
		u16(&var, (uint16_t)name[i]);
	uint8_t one = 1;
	put(&var, &one, 1);
	event(b, 1, 0x80000001u, "A", var.p, var.n);
	free(var.p);
	event(b, 2, 3, "skip", "StartupLocality", 16);
	static const char act[] = "Calling EFI Application from Boot Option";
	event(b, 1, 0x80000007u, "A2", act, sizeof(act) - 1);
	static const char ipl[] = "grub_cmd: linux /vmlinuz";
	event(b, 2, 0xD, "B", ipl, sizeof(ipl)); /* with its NUL */
	static const uint8_t sep[4] = {0};
	event(b, 3, 4, "C", sep, 4);
	event(b, 0, 1, "mrtd", "x", 1);
}

static void expect_rtmrs(uint8_t rtmr[4][48], bool with_r3)
{
	char *h[4];
	for (int i = 0; i < 4; i++)
		h[i] = vt_hex_encode(rtmr[i], 48);
	assert_string_equal(h[0], R0);
	assert_string_equal(h[1], R1);
	assert_string_equal(h[2], R2);
	if (with_r3) {
		assert_string_equal(h[3], R3);
	} else {
		uint8_t z[48] = {0};
		assert_memory_equal(rtmr[3], z, 48);
	}
	for (int i = 0; i < 4; i++)
		free(h[i]);
}

static void quote_rtmrs(uint8_t q[4][48])
{
	assert_int_equal(vt_hex_decode_fixed(R0, q[0], 48, NULL), VT_OK);
	assert_int_equal(vt_hex_decode_fixed(R1, q[1], 48, NULL), VT_OK);
	assert_int_equal(vt_hex_decode_fixed(R2, q[2], 48, NULL), VT_OK);
	assert_int_equal(vt_hex_decode_fixed(R3, q[3], 48, NULL), VT_OK);
}

static void test_replay(void **state)
{
	(void)state;
	struct lb b = {0};
	base_log(&b);
	ff_pad(&b, 200);
	uint8_t rtmr[4][48];
	json_t *events = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(b.p, b.n, rtmr, &events, &e), VT_OK);
	expect_rtmrs(rtmr, false);

	/* Only the replayed events: A, A2, B, C (no EV_NO_ACTION, no MR 0). */
	assert_int_equal(json_array_size(events), 4);
	json_t *a = json_array_get(events, 0);
	assert_int_equal(json_integer_value(json_object_get(a, "mr_index")), 1);
	assert_string_equal(json_string_value(json_object_get(a, "type")), "EV_EFI_VARIABLE_DRIVER_CONFIG");
	assert_string_equal(json_string_value(json_object_get(a, "unicode_name")), "SecureBoot");
	assert_string_equal(json_string_value(json_object_get(a, "variable_name")),
			    "8be4df61-93ca-11d2-aa0d-00e098032b8c");
	uint8_t d[48];
	sha384("A", d);
	char *dh = vt_hex_encode(d, 48);
	assert_string_equal(json_string_value(json_object_get(a, "digest")), dh);
	free(dh);
	assert_int_equal(json_integer_value(json_object_get(a, "data_size")), 16 + 16 + 20 + 1);
	json_t *a2 = json_array_get(events, 1);
	assert_string_equal(json_string_value(json_object_get(a2, "type")), "EV_EFI_ACTION");
	assert_string_equal(json_string_value(json_object_get(a2, "string")),
			    "Calling EFI Application from Boot Option");
	json_t *ipl = json_array_get(events, 2);
	assert_int_equal(json_integer_value(json_object_get(ipl, "mr_index")), 2);
	assert_string_equal(json_string_value(json_object_get(ipl, "type")), "EV_IPL");
	assert_string_equal(json_string_value(json_object_get(ipl, "string")), "grub_cmd: linux /vmlinuz");
	json_t *sep = json_array_get(events, 3);
	assert_string_equal(json_string_value(json_object_get(sep, "type")), "EV_SEPARATOR");
	assert_string_equal(json_string_value(json_object_get(sep, "data")), "00000000");
	json_decref(events);

	/* No padding at all: the log ends with the buffer.  No events wanted. */
	struct lb c = {0};
	base_log(&c);
	assert_int_equal(vt_tdx_eventlog_replay(c.p, c.n, rtmr, NULL, &e), VT_OK);
	expect_rtmrs(rtmr, false);
	free(c.p);
	free(b.p);
}

static void test_unknown_alg_and_numeric_type(void **state)
{
	(void)state;
	struct lb b = {0};
	base_log(&b);
	/* An event of an unknown type is reported by number. */
	event(&b, 3, 0x1234, "C2", "", 0);
	/* Garbage whose digest algorithm is not in the Spec ID: end of log. */
	u32(&b, 1);
	u32(&b, 4);
	u32(&b, 1);
	u16(&b, 0x0099);
	ff_pad(&b, 10);
	uint8_t rtmr[4][48];
	json_t *events = NULL;
	assert_int_equal(vt_tdx_eventlog_replay(b.p, b.n, rtmr, &events, NULL), VT_OK);
	assert_int_equal(json_array_size(events), 5);
	json_t *x = json_array_get(events, 4);
	assert_true(json_is_integer(json_object_get(x, "type")));
	assert_int_equal(json_integer_value(json_object_get(x, "type")), 0x1234);
	json_decref(events);
	free(b.p);
}

static void test_large_data_capped(void **state)
{
	(void)state;
	struct lb b = {0};
	spec_id(&b, true);
	size_t n = 5000;
	uint8_t *big = malloc(n);
	assert_non_null(big);
	memset(big, 'a', n);
	event(&b, 2, 0xD, "B", big, n);
	free(big);
	uint8_t rtmr[4][48];
	json_t *events = NULL;
	assert_int_equal(vt_tdx_eventlog_replay(b.p, b.n, rtmr, &events, NULL), VT_OK);
	json_t *ev = json_array_get(events, 0);
	assert_int_equal(strlen(json_string_value(json_object_get(ev, "data"))), 2 * VT_TDX_EVENTLOG_DATA_HEX_MAX);
	assert_true(json_is_true(json_object_get(ev, "data_truncated")));
	assert_int_equal(json_integer_value(json_object_get(ev, "data_size")), 5000);
	assert_int_equal(strlen(json_string_value(json_object_get(ev, "string"))), 5000);
	json_decref(events);
	free(b.p);
}

static void test_check(void **state)
{
	(void)state;
	struct lb b = {0};
	base_log(&b);
	ff_pad(&b, 64);
	uint8_t q[4][48];
	quote_rtmrs(q);
	memset(q[3], 0x5a, 48); /* no MR 4 events: RTMR3 is not compared */
	json_t *events = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_check(b.p, b.n, (const uint8_t(*)[48])q, &events, &e), VT_OK);
	assert_int_equal(json_array_size(events), 4);
	json_decref(events);

	/* RTMR1 differs. */
	q[1][47] ^= 1;
	events = NULL;
	assert_int_equal(vt_tdx_eventlog_check(b.p, b.n, (const uint8_t(*)[48])q, &events, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(e.field, "rtmr_1");
	assert_non_null(strstr(e.detail, R1));
	char *qh = vt_hex_encode(q[1], 48);
	assert_non_null(strstr(e.detail, qh));
	free(qh);
	assert_null(events);
	free(b.p);

	/* With an MR index 4 event RTMR3 is compared too. */
	struct lb c = {0};
	base_log(&c);
	event(&c, 4, 0x80000007u, "D", "app", 3);
	quote_rtmrs(q);
	assert_int_equal(vt_tdx_eventlog_check(c.p, c.n, (const uint8_t(*)[48])q, NULL, NULL), VT_OK);
	q[3][0] ^= 0x80;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_check(c.p, c.n, (const uint8_t(*)[48])q, NULL, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "rtmr_3");
	free(c.p);
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t rtmr[4][48];
	struct vt_err e;

	/* Every truncation inside the events is a parse error or (at an event
	 * boundary) a shorter, valid log; nothing crashes. */
	struct lb b = {0};
	base_log(&b);
	for (size_t n = 0; n < b.n; n++) {
		vt_err_clear(&e);
		json_t *events = NULL;
		vt_status rc = vt_tdx_eventlog_replay(b.p, n, rtmr, &events, &e);
		if (rc == VT_OK)
			json_decref(events);
		else
			assert_err(&e, VT_E_PARSE, VT_STEP_PARSE);
	}
	/* The last byte of the separator event's data missing. */
	vt_err_clear(&e);
	size_t last = b.n - (4 + 4 + 4 + 2 + 20 + 2 + 48 + 4 + 1); /* the MR 0 event */
	assert_int_equal(vt_tdx_eventlog_replay(b.p, last - 1, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.event.event");
	free(b.p);

	/* Wrong Spec ID signature. */
	struct lb c = {0};
	spec_id(&c, true);
	c.p[32 + 14] = '0'; /* "Spec ID Event00" */
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(c.p, c.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.spec_id.signature");
	c.p[32 + 14] = '3';
	/* SHA-384 listed with 32-byte digests (its size at event data offset 34). */
	c.p[32 + 34] = 32;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(c.p, c.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.spec_id.digest_sizes");
	/* SHA-1 listed twice. */
	c.p[32 + 32] = 0x04;
	c.p[32 + 34] = 20;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(c.p, c.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.spec_id.digest_sizes");
	assert_non_null(strstr(e.detail, "twice"));
	c.p[32 + 32] = 0x0C;
	c.p[32 + 34] = 48;
	/* The Spec ID event in MR index 0 (TCG) as well as 1 (GCE). */
	c.p[0] = 0;
	assert_int_equal(vt_tdx_eventlog_replay(c.p, c.n, rtmr, NULL, NULL), VT_OK);
	/* Truncated inside the Spec ID event. */
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(c.p, 40, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.spec_id.event");
	free(c.p);

	/* No SHA-384 bank. */
	struct lb d = {0};
	spec_id(&d, false);
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(d.p, d.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_non_null(strstr(e.detail, "SHA-384"));
	free(d.p);

	/* First event not EV_NO_ACTION. */
	struct lb f = {0};
	spec_id(&f, true);
	f.p[4] = 4;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(f.p, f.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.spec_id.event_type");
	free(f.p);

	/* MR index out of range. */
	struct lb g = {0};
	spec_id(&g, true);
	event(&g, 7, 4, "x", "", 0);
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(g.p, g.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.event.mr_index");
	free(g.p);

	/* Event without a SHA-384 digest (only the SHA-1 one). */
	struct lb h = {0};
	spec_id(&h, true);
	u32(&h, 1);
	u32(&h, 4);
	u32(&h, 1);
	u16(&h, 0x0004);
	uint8_t s1[20] = {0};
	put(&h, s1, 20);
	u32(&h, 0);
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(h.p, h.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_non_null(strstr(e.detail, "no SHA-384"));
	free(h.p);

	/* Huge event size: a cap, not an allocation. */
	struct lb k = {0};
	spec_id(&k, true);
	u32(&k, 1);
	u32(&k, 4);
	u32(&k, 1);
	u16(&k, 0x000C);
	uint8_t d48[48] = {0};
	put(&k, d48, 48);
	u32(&k, 0x7fffffffu);
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(k.p, k.n, rtmr, NULL, &e), VT_E_LIMIT);
	free(k.p);

	/* More digests than banks. */
	struct lb m = {0};
	spec_id(&m, true);
	u32(&m, 1);
	u32(&m, 4);
	u32(&m, 3);
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(m.p, m.n, rtmr, NULL, &e), VT_E_PARSE);
	assert_string_equal(e.field, "ccel.event.digest_count");
	free(m.p);

	/* Empty input. */
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(NULL, 0, rtmr, NULL, &e), VT_E_PARSE);
}

static void test_event_count_cap(void **state)
{
	(void)state;
	struct lb b = {0};
	spec_id(&b, true);
	/* Cheap events (MR 0, not replayed) up to one past the cap. */
	struct lb one = {0};
	u32(&one, 0);
	u32(&one, 1);
	u32(&one, 1);
	u16(&one, 0x000C);
	uint8_t d48[48] = {0};
	put(&one, d48, 48);
	u32(&one, 0);
	for (unsigned i = 0; i <= VT_TDX_EVENTLOG_MAX_EVENTS; i++)
		put(&b, one.p, one.n);
	free(one.p);
	uint8_t rtmr[4][48];
	struct vt_err e;
	vt_err_clear(&e);
	assert_int_equal(vt_tdx_eventlog_replay(b.p, b.n, rtmr, NULL, &e), VT_E_LIMIT);
	/* Exactly at the cap is fine. */
	assert_int_equal(vt_tdx_eventlog_replay(b.p, b.n - (4 + 4 + 4 + 2 + 48 + 4), rtmr, NULL, NULL), VT_OK);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_unknown_alg_and_numeric_type),
		cmocka_unit_test(test_large_data_capped),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_event_count_cap),
	};
	return cmocka_run_group_tests_name("tdx_eventlog", tests, NULL, NULL);
}
