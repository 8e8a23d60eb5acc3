/*
 * bench_jose — the JOSE crypto of a KBS release, each next to its bound in
 * the same run:
 *  - the JWE of the secret (ECDH-ES+A256KW, A256GCM, P-256) against the raw
 *    ECDH of the two sides (a fresh ephemeral key and one derivation for
 *    encrypt, one derivation for decrypt, through EVP with no key check);
 *    what is left is the JOSE work: the peer key's validation, Concat KDF,
 *    AES key wrap, GCM, the JSON and base64 of the compact form;
 *  - an ES256 signature and its check as JWS and tokens make them
 *    (vt_ecdsa_sign_raw / vt_ecdsa_verify_raw: raw r||s, low S) against
 *    bare EVP_DigestSign / EVP_DigestVerify of the same bytes (DER).
 *
 *   bench_jose [SECONDS]        (default 3 per measurement)
 *
 * One thread; prints microseconds per operation and the ratio bound/op.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>

#include "veritee/crypto.h"
#include "veritee/jose.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct vt_err *e)
{
	fprintf(stderr, "bench_jose: %s: %s\n", what, e ? e->detail : "");
	exit(2);
}

/* One ECDH derivation between priv and peer, with no key check. */
static void raw_derive(EVP_PKEY *priv, EVP_PKEY *peer)
{
	unsigned char z[66];
	size_t zl = sizeof(z);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (c == NULL || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer_ex(c, peer, 0) != 1 ||
	    EVP_PKEY_derive(c, z, &zl) != 1)
		die("raw ECDH", NULL);
	EVP_PKEY_CTX_free(c);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	if (argc > 2 || secs <= 0) {
		fprintf(stderr, "usage: bench_jose [SECONDS]\n");
		return 2;
	}
	struct vt_err e = {0};
	EVP_PKEY *tee = NULL, *eph = NULL;
	if (vt_key_generate(VT_KEY_P256, &tee, &e) != VT_OK)
		die("keygen", &e);
	static const uint8_t secret[] = "bench-secret-0123456789";
	json_t *jwe = NULL;
	if (vt_jwe_encrypt(tee, "ECDH-ES+A256KW", secret, sizeof(secret), &jwe, &e) != VT_OK)
		die("encrypt", &e);
	double t0, enc_us, dec_us, raw_enc_us, raw_dec_us;
	long n;

	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++) {
		json_t *j = NULL;
		if (vt_jwe_encrypt(tee, "ECDH-ES+A256KW", secret, sizeof(secret), &j, &e) != VT_OK)
			die("encrypt", &e);
		json_decref(j);
	}
	enc_us = (now_s() - t0) / (double)n * 1e6;
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++) {
		struct vt_secret *pt = NULL;
		if (vt_jwe_decrypt(tee, jwe, &pt, &e) != VT_OK)
			die("decrypt", &e);
		vt_secret_free(pt);
	}
	dec_us = (now_s() - t0) / (double)n * 1e6;
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++) {
		if (vt_key_generate(VT_KEY_P256, &eph, &e) != VT_OK)
			die("keygen", &e);
		raw_derive(eph, tee);
		EVP_PKEY_free(eph);
	}
	raw_enc_us = (now_s() - t0) / (double)n * 1e6;
	if (vt_key_generate(VT_KEY_P256, &eph, &e) != VT_OK)
		die("keygen", &e);
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++)
		raw_derive(tee, eph);
	raw_dec_us = (now_s() - t0) / (double)n * 1e6;

	/* ES256: the wrapper against bare EVP over the same 200 bytes */
	uint8_t msg[200] = {1}, sig[64], der[80];
	size_t sl = sizeof(sig), dl = sizeof(der);
	double sign_us, bare_sign_us, verify_us, bare_verify_us;
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++) {
		sl = sizeof(sig);
		if (vt_ecdsa_sign_raw(tee, EVP_sha256(), msg, sizeof(msg), sig, &sl, &e) != VT_OK)
			die("sign", &e);
	}
	sign_us = (now_s() - t0) / (double)n * 1e6;
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		dl = sizeof(der);
		if (c == NULL || EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, tee) != 1 ||
		    EVP_DigestSign(c, der, &dl, msg, sizeof(msg)) != 1)
			die("bare sign", NULL);
		EVP_MD_CTX_free(c);
	}
	bare_sign_us = (now_s() - t0) / (double)n * 1e6;
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++)
		if (vt_ecdsa_verify_raw(tee, EVP_sha256(), msg, sizeof(msg), sig, sl, &e) != VT_OK)
			die("verify", &e);
	verify_us = (now_s() - t0) / (double)n * 1e6;
	for (n = 0, t0 = now_s(); now_s() - t0 < secs; n++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		if (c == NULL || EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, tee) != 1 ||
		    EVP_DigestVerify(c, der, dl, msg, sizeof(msg)) != 1)
			die("bare verify", NULL);
		EVP_MD_CTX_free(c);
	}
	bare_verify_us = (now_s() - t0) / (double)n * 1e6;

	printf("ES256 (P-256, 200 bytes), %.0f s per measurement, one thread\n", secs);
	printf("  sign      %7.1f us   bound (EVP_DigestSign)  %7.1f us   bound/op %.2f\n", sign_us, bare_sign_us,
	       bare_sign_us / sign_us);
	printf("  verify    %7.1f us   bound (EVP_DigestVerify) %6.1f us   bound/op %.2f\n", verify_us,
	       bare_verify_us, bare_verify_us / verify_us);
	printf("JWE ECDH-ES+A256KW/A256GCM, P-256, %.0f s per measurement, one thread\n", secs);
	printf("  encrypt   %7.1f us   bound (keygen + ECDH)  %7.1f us   bound/op %.2f\n", enc_us, raw_enc_us,
	       raw_enc_us / enc_us);
	printf("  decrypt   %7.1f us   bound (ECDH)           %7.1f us   bound/op %.2f\n", dec_us, raw_dec_us,
	       raw_dec_us / dec_us);
	json_decref(jwe);
	EVP_PKEY_free(eph);
	EVP_PKEY_free(tee);
	return 0;
}
