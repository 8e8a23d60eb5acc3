/*
 * bench_jwe — the JWE of a KBS release (ECDH-ES+A256KW, A256GCM, P-256),
 * next to its bound in the same run: the raw ECDH of the two sides (a fresh
 * ephemeral key and one derivation for encrypt, one derivation for decrypt,
 * through EVP with no key check).  What is left between the two is the
 * JOSE work: the peer key's validation, Concat KDF, AES key wrap, GCM, the
 * JSON and base64 of the compact form.
 *
 *   bench_jwe [SECONDS]        (default 3 per measurement)
 *
 * One thread; prints microseconds per operation and the ratio bound/JWE.
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
	fprintf(stderr, "bench_jwe: %s: %s\n", what, e ? e->detail : "");
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
		fprintf(stderr, "usage: bench_jwe [SECONDS]\n");
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

	printf("JWE ECDH-ES+A256KW/A256GCM, P-256, %.0f s per measurement, one thread\n", secs);
	printf("  encrypt   %7.1f us   bound (keygen + ECDH)  %7.1f us   bound/JWE %.2f\n", enc_us, raw_enc_us,
	       raw_enc_us / enc_us);
	printf("  decrypt   %7.1f us   bound (ECDH)           %7.1f us   bound/JWE %.2f\n", dec_us, raw_dec_us,
	       raw_dec_us / dec_us);
	json_decref(jwe);
	EVP_PKEY_free(eph);
	EVP_PKEY_free(tee);
	return 0;
}
