/*
 * The cookie of a session on a shared store (session_db.c): the session
 * itself, authenticated, so that replicas hold nothing until /attest.
 *
 *   cookie  = base64url(payload || HMAC-SHA-256(key, payload))   (no padding)
 *   payload = 0x01 (version) || sid (16) || expires (int64, little-endian)
 *             || nonce || tee || hash || policy   (each: a length byte, then bytes)
 *
 * One encoding per session: what decodes re-encodes to the same bytes
 * (fuzz/fuzz_session_cookie.c checks it).  Not encrypted: nothing in it is
 * secret (docs/decisions.md).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "broker/session.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define COOKIE_VERSION 1
#define MAC_SIZE 32
/* version, id, expiry, then four strings (a 44-byte nonce and names of at
 * most 63 bytes: 1 + 16 + 8 + 45 + 32 + 8 + 64 = 174). */
#define PAYLOAD_MAX 192

struct vt_cookie_key {
	EVP_MAC_CTX *mac; /* keyed once; each use works on a copy */
};

struct vt_cookie_key *vt_cookie_key_new(const uint8_t *key, size_t key_len)
{
	struct vt_cookie_key *k = calloc(1, sizeof(*k));
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_END};
	if (k != NULL && m != NULL && (k->mac = EVP_MAC_CTX_new(m)) != NULL &&
	    EVP_MAC_init(k->mac, key, key_len, params) == 1) {
		EVP_MAC_free(m);
		return k;
	}
	EVP_MAC_free(m);
	vt_cookie_key_free(k);
	return NULL;
}

void vt_cookie_key_free(struct vt_cookie_key *k)
{
	if (k == NULL)
		return;
	EVP_MAC_CTX_free(k->mac);
	free(k);
}

static bool mac(const struct vt_cookie_key *k, const uint8_t *p, size_t n, uint8_t out[MAC_SIZE])
{
	size_t len = 0;
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->mac);
	bool ok = c != NULL && EVP_MAC_update(c, p, n) == 1 && EVP_MAC_final(c, out, &len, MAC_SIZE) == 1 &&
		  len == MAC_SIZE;
	EVP_MAC_CTX_free(c);
	return ok;
}

static bool put_str(uint8_t *p, size_t *n, const char *s)
{
	size_t len = strlen(s);
	if (len > 255 || len + 1 > PAYLOAD_MAX - *n)
		return false;
	p[(*n)++] = (uint8_t)len;
	memcpy(p + *n, s, len);
	*n += len;
	return true;
}

static vt_status get_str(struct vt_reader *r, char *out, size_t size, const char *field, struct vt_err *err)
{
	uint8_t len = 0;
	vt_status rc = vt_reader_u8(r, &len, field, err);
	if (rc == VT_OK && (size_t)len >= size)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_SESSION, field, "too long");
	if (rc == VT_OK)
		rc = vt_reader_copy(r, out, len, field, err);
	if (rc == VT_OK && memchr(out, '\0', len) != NULL) /* text: what was written had none */
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_SESSION, field, "NUL byte in a string");
	if (rc == VT_OK)
		out[len] = '\0';
	return rc;
}

vt_status vt_session_cookie_encode(const struct vt_cookie_key *k, const struct vt_session_cookie *c,
				   char out[VT_SESSION_ID_MAX], struct vt_err *err)
{
	uint8_t p[PAYLOAD_MAX + MAC_SIZE];
	size_t n = 0;
	p[n++] = COOKIE_VERSION;
	memcpy(p + n, c->sid, VT_SESSION_SID_SIZE);
	n += VT_SESSION_SID_SIZE;
	vt_put_le(p + n, (uint64_t)c->expires, 8); /* as vt_reader_u64le reads it */
	n += 8;
	if (!put_str(p, &n, c->nonce) || !put_str(p, &n, c->params.tee) || !put_str(p, &n, c->params.hash) ||
	    !put_str(p, &n, c->params.policy))
		return vt_fail(err, VT_E_USAGE, VT_STEP_SESSION, "kbs-session-id", "session parameters too long");
	if (!mac(k, p, n, p + n))
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_SESSION, "kbs-session-id", "HMAC-SHA-256 failed");
	char *b = vt_b64url_encode(p, n + MAC_SIZE);
	size_t blen = b ? strlen(b) : 0;
	if (b == NULL || blen >= VT_SESSION_ID_MAX) {
		free(b);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_SESSION, "kbs-session-id", "cannot make the session cookie");
	}
	memcpy(out, b, blen + 1);
	free(b);
	return VT_OK;
}

vt_status vt_session_cookie_decode(const struct vt_cookie_key *k, const char *id, struct vt_session_cookie *c,
				   struct vt_err *err)
{
	uint8_t *raw = NULL, want[MAC_SIZE];
	size_t n = 0, idlen = id ? strnlen(id, VT_SESSION_ID_MAX) : 0;
	vt_status rc = VT_OK;
	memset(c, 0, sizeof(*c));
	if (idlen == 0 || idlen >= VT_SESSION_ID_MAX || vt_b64url_decode(id, idlen, &raw, &n, NULL) != VT_OK ||
	    n < 1 + MAC_SIZE || n - MAC_SIZE > PAYLOAD_MAX || !mac(k, raw, n - MAC_SIZE, want) ||
	    CRYPTO_memcmp(want, raw + n - MAC_SIZE, MAC_SIZE) != 0 || raw[0] != COOKIE_VERSION) {
		rc = vt_fail(err, VT_E_NOTFOUND, VT_STEP_SESSION, "kbs-session-id", "unknown or expired session");
		goto out;
	}
	/* Authentic: a broker with the key wrote these bytes.  Read them as
	 * carefully as any others all the same. */
	struct vt_reader r;
	uint64_t exp = 0;
	vt_reader_init(&r, raw + 1, n - 1 - MAC_SIZE);
	VT_GUARD(vt_reader_copy(&r, c->sid, VT_SESSION_SID_SIZE, "kbs-session-id.sid", err));
	VT_GUARD(vt_reader_u64le(&r, &exp, "kbs-session-id.expires", err));
	VT_GUARD(get_str(&r, c->nonce, sizeof(c->nonce), "kbs-session-id.nonce", err));
	VT_GUARD(get_str(&r, c->params.tee, sizeof(c->params.tee), "kbs-session-id.tee", err));
	VT_GUARD(get_str(&r, c->params.hash, sizeof(c->params.hash), "kbs-session-id.hash", err));
	VT_GUARD(get_str(&r, c->params.policy, sizeof(c->params.policy), "kbs-session-id.policy", err));
	VT_GUARD(vt_reader_expect_end(&r, "kbs-session-id", err));
	c->expires = (int64_t)exp;
out:
	if (raw)
		vt_wipe(raw, n);
	free(raw);
	return rc;
}
