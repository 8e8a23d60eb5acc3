/*
 * libFuzzer target for the session cookie of replicas
 * (src/broker/session_cookie.c), both ways in:
 *  - the input as a cookie, as any client can send it: it must be refused
 *    as an unknown session unless it is authentic (it never is here);
 *  - the input as a payload, authenticated here with the target's key (as
 *    a broker would have), so that the reader behind the MAC is reached:
 *    what decodes must re-encode to exactly the same cookie.
 * Seeds (fuzz/corpus/fuzz_session_cookie/): payloads of real sessions.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "broker/session.h"
#include "veritee/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = "fuzz_session_cookie key 32 bytes";
static struct vt_cookie_key *k;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vt_err err;
	struct vt_session_cookie c;
	char text[VT_SESSION_ID_MAX], again[VT_SESSION_ID_MAX];
	if (k == NULL && (k = vt_cookie_key_new(key, sizeof(key))) == NULL)
		abort();
	/* As a cookie. */
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	vt_err_clear(&err);
	if (vt_session_cookie_decode(k, text, &c, &err) == VT_OK || err.code != VT_E_NOTFOUND)
		abort(); /* nothing unauthenticated opens, and every refusal looks the same */
	/* As an authenticated payload. */
	uint8_t p[512];
	size_t mlen = 0;
	if (size > sizeof(p) - 32)
		return 0;
	memcpy(p, data, size);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof(key), p, size, p + size, 32, &mlen) == NULL ||
	    mlen != 32)
		abort();
	char *b = vt_b64url_encode(p, size + 32);
	if (b == NULL)
		abort();
	vt_err_clear(&err);
	vt_status rc = vt_session_cookie_decode(k, b, &c, &err);
	if (rc == VT_OK && (vt_session_cookie_encode(k, &c, again, &err) != VT_OK || strcmp(again, b) != 0))
		abort(); /* one encoding per session */
	free(b);
	return 0;
}
