/*
 * The session cookie of replicas (src/broker/session_cookie.c): its exact
 * layout, one encoding per session, and what it refuses.  Its use by the
 * session table on a store is in test_store.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "broker/session.h"
#include "veritee/util.h"

static const uint8_t key[32] = "test_session_cookie key 32 bytes";

/* base64url(payload || HMAC(key, payload)), as a broker with `key` makes it. */
static char *authentic(const uint8_t *p, size_t n)
{
	uint8_t buf[600];
	size_t mlen = 0;
	assert_true(n + 32 <= sizeof(buf));
	memcpy(buf, p, n);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof(key), buf, n, buf + n, 32, &mlen));
	return vt_b64url_encode(buf, n + 32);
}

static void test_layout_and_round_trip(void **state)
{
	(void)state;
	struct vt_cookie_key *k = vt_cookie_key_new(key, sizeof(key));
	assert_non_null(k);
	struct vt_session_cookie c = {.expires = 0x0102030405060708LL}, d;
	memset(c.sid, 0xab, sizeof(c.sid));
	snprintf(c.nonce, sizeof(c.nonce), "%s", "q2Nq0jv0aZ6b7Zp3aD3hQ8H1mI2WkJ0pXbqf8nYk1Ww=");
	snprintf(c.params.tee, sizeof(c.params.tee), "sim");
	snprintf(c.params.hash, sizeof(c.params.hash), "sha384");
	snprintf(c.params.policy, sizeof(c.params.policy), "default");
	char id[VT_SESSION_ID_MAX];
	assert_int_equal(vt_session_cookie_encode(k, &c, id, NULL), VT_OK);
	/* The layout of session_cookie.c, byte for byte, authenticated as
	 * documented: an independent encoder gives the same cookie. */
	uint8_t p[200];
	size_t n = 0;
	p[n++] = 1;
	memset(p + n, 0xab, 16), n += 16;
	const uint8_t exp[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	memcpy(p + n, exp, 8), n += 8;
	const char *strs[] = {c.nonce, "sim", "sha384", "default"};
	for (size_t i = 0; i < 4; i++) {
		p[n++] = (uint8_t)strlen(strs[i]);
		memcpy(p + n, strs[i], strlen(strs[i])), n += strlen(strs[i]);
	}
	char *want = authentic(p, n);
	assert_string_equal(id, want);
	free(want);
	assert_int_equal(vt_session_cookie_decode(k, id, &d, NULL), VT_OK);
	assert_memory_equal(d.sid, c.sid, sizeof(c.sid));
	assert_true(d.expires == c.expires);
	assert_string_equal(d.nonce, c.nonce);
	assert_string_equal(d.params.tee, "sim");
	assert_string_equal(d.params.hash, "sha384");
	assert_string_equal(d.params.policy, "default");
	/* Another key: an unknown session. */
	struct vt_cookie_key *other = vt_cookie_key_new((const uint8_t *)"another key, also thirty-two b..", 32);
	struct vt_err e = {0};
	assert_int_equal(vt_session_cookie_decode(other, id, &d, &e), VT_E_NOTFOUND);
	assert_string_equal(e.field, "kbs-session-id");
	vt_cookie_key_free(other);
	vt_cookie_key_free(k);
}

/* Authentic but not what a broker writes: refused at the named field. */
static void test_authentic_but_malformed(void **state)
{
	(void)state;
	struct vt_cookie_key *k = vt_cookie_key_new(key, sizeof(key));
	struct vt_session_cookie d;
	struct vt_err e = {0};
	uint8_t p[200] = {1};
	size_t n = 1 + 16 + 8;
	/* Strings missing: the reader runs out at the nonce. */
	char *id = authentic(p, n);
	assert_int_equal(vt_session_cookie_decode(k, id, &d, &e), VT_E_PARSE);
	assert_string_equal(e.field, "kbs-session-id.nonce");
	free(id);
	/* A NUL inside a string (found by fuzz_session_cookie). */
	const uint8_t strs[] = {3, 'a', 0, 'b', 3, 's', 'i', 'm', 6, 's', 'h', 'a', '3', '8', '4', 1, 'p'};
	memcpy(p + n, strs, sizeof(strs));
	vt_err_clear(&e);
	id = authentic(p, n + sizeof(strs));
	assert_int_equal(vt_session_cookie_decode(k, id, &d, &e), VT_E_PARSE);
	assert_string_equal(e.field, "kbs-session-id.nonce");
	free(id);
	/* A string longer than its field (tee holds 31). */
	p[n] = 1, p[n + 1] = 'n', p[n + 2] = 32;
	memset(p + n + 3, 't', 32);
	vt_err_clear(&e);
	id = authentic(p, n + 35);
	assert_int_equal(vt_session_cookie_decode(k, id, &d, &e), VT_E_PARSE);
	assert_string_equal(e.field, "kbs-session-id.tee");
	free(id);
	/* A byte after the last string. */
	const uint8_t ok[] = {1, 'n', 3, 's', 'i', 'm', 6, 's', 'h', 'a', '3', '8', '4', 1, 'p', 0};
	memcpy(p + n, ok, sizeof(ok));
	vt_err_clear(&e);
	id = authentic(p, n + sizeof(ok));
	assert_int_equal(vt_session_cookie_decode(k, id, &d, &e), VT_E_PARSE);
	assert_string_equal(e.field, "kbs-session-id");
	free(id);
	id = authentic(p, n + sizeof(ok) - 1);
	assert_int_equal(vt_session_cookie_decode(k, id, &d, NULL), VT_OK);
	free(id);
	/* Another version. */
	p[0] = 2;
	vt_err_clear(&e);
	id = authentic(p, n + sizeof(ok) - 1);
	assert_int_equal(vt_session_cookie_decode(k, id, &d, &e), VT_E_NOTFOUND);
	free(id);
	/* Too long to be a cookie, empty, not base64url. */
	char big[VT_SESSION_ID_MAX + 10];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(vt_session_cookie_decode(k, big, &d, NULL), VT_E_NOTFOUND);
	assert_int_equal(vt_session_cookie_decode(k, "", &d, NULL), VT_E_NOTFOUND);
	assert_int_equal(vt_session_cookie_decode(k, NULL, &d, NULL), VT_E_NOTFOUND);
	assert_int_equal(vt_session_cookie_decode(k, "not base64url!", &d, NULL), VT_E_NOTFOUND);
	vt_cookie_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_and_round_trip),
		cmocka_unit_test(test_authentic_but_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
