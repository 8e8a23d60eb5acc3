/*
 * RA-TLS certificates from a TEE's attester (libveritee-attester: it calls
 * vt_attest_with), and the server side of the freshness nonce: a
 * certificate made for the nonce a client sent in its ClientHello.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "veritee/attester.h"
#include "veritee/ratls.h"
#include "veritee/util.h"

static vt_status attest_with(void *ctx, const char *tee, const uint8_t report_data[64], json_t **evidence_out,
			     struct vt_err *err)
{
	return vt_attest_with(tee, ctx, report_data, evidence_out, err);
}

vt_status vt_ratls_cert_new(EVP_PKEY *key, const struct vt_ratls_cert_opts *o, const json_t *attest_options, X509 **out,
			    struct vt_err *err)
{
	return vt_ratls_cert_build(key, o, attest_with, (void *)attest_options, out, err);
}

/* ------------------------------------------------------ fresh certificates */

/* What the context needs to make a certificate per handshake (owned). */
struct fresh {
	EVP_PKEY *key;
	struct vt_ratls_cert_opts o;
	char *tee, *cn;
	json_t *attest_options;
};

/* Lifetime of a certificate made for one handshake's nonce. */
#define FRESH_LIFETIME 300

/* The nonce a client sent on one connection. */
struct sent_nonce {
	uint8_t nonce[VT_RATLS_NONCE_SIZE];
	bool got;
};

static int g_ctx_idx = -1, g_ssl_idx = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fresh_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	struct fresh *f = ptr;
	if (f == NULL)
		return;
	EVP_PKEY_free(f->key);
	free(f->tee);
	free(f->cn);
	json_decref(f->attest_options);
	free(f);
}

static void nonce_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void idx_init(void)
{
	g_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, fresh_free);
	g_ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, nonce_free);
}

static int nonce_parse_cb(SSL *ssl, unsigned int ext_type, unsigned int context, const unsigned char *in, size_t inlen,
			  X509 *x, size_t chainidx, int *al, void *parse_arg)
{
	(void)ext_type;
	(void)x;
	(void)chainidx;
	(void)parse_arg;
	if (context != SSL_EXT_CLIENT_HELLO)
		return 1;
	if (inlen != VT_RATLS_NONCE_SIZE) {
		*al = SSL_AD_DECODE_ERROR;
		return 0;
	}
	struct sent_nonce *sn = SSL_get_ex_data(ssl, g_ssl_idx);
	if (sn == NULL) {
		sn = calloc(1, sizeof(*sn));
		if (sn == NULL || SSL_set_ex_data(ssl, g_ssl_idx, sn) != 1) {
			free(sn);
			*al = SSL_AD_INTERNAL_ERROR;
			return 0;
		}
	}
	memcpy(sn->nonce, in, VT_RATLS_NONCE_SIZE);
	sn->got = true;
	return 1;
}

/* After the ClientHello: a certificate with the client's nonce, when it sent one. */
static int fresh_cert_cb(SSL *ssl, void *arg)
{
	const struct fresh *f = arg;
	const struct sent_nonce *sn = SSL_get_ex_data(ssl, g_ssl_idx);
	if (sn == NULL || !sn->got)
		return 1; /* the context's certificate */
	struct vt_ratls_cert_opts o = f->o;
	o.nonce = sn->nonce;
	o.nonce_size = sizeof(sn->nonce);
	o.not_before = vt_now() - 60; /* one handshake's certificate: a short life */
	o.not_after = o.not_before + 60 + FRESH_LIFETIME;
	X509 *cert = NULL;
	struct vt_err e = {0};
	if (vt_ratls_cert_new(f->key, &o, f->attest_options, &cert, &e) != VT_OK)
		return 0; /* the handshake fails with an internal error alert */
	int ok = SSL_use_certificate(ssl, cert) == 1 && SSL_use_PrivateKey(ssl, f->key) == 1;
	X509_free(cert);
	return ok;
}

vt_status vt_ratls_ssl_ctx_serve_fresh(SSL_CTX *ctx, EVP_PKEY *key, const struct vt_ratls_cert_opts *o,
				       const json_t *attest_options, struct vt_err *err)
{
	if (ctx == NULL || key == NULL || o == NULL || o->tee == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "", "missing argument");
	pthread_once(&g_once, idx_init);
	if (g_ctx_idx < 0 || g_ssl_idx < 0)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ssl", "no ex_data index");
	if (SSL_CTX_get_ex_data(ctx, g_ctx_idx) != NULL) /* a second call would replace (and leak) the first */
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "ssl", "this SSL_CTX already serves fresh certificates");
	struct fresh *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	f->o = *o;
	f->o.nonce = NULL;
	f->o.nonce_size = 0;
	f->tee = strdup(o->tee);
	f->cn = o->common_name ? strdup(o->common_name) : NULL;
	f->attest_options = attest_options ? json_deep_copy(attest_options) : NULL;
	EVP_PKEY_up_ref(key);
	f->key = key;
	f->o.tee = f->tee;
	f->o.common_name = f->cn;
	if (f->tee == NULL || (o->common_name && f->cn == NULL) || (attest_options && f->attest_options == NULL) ||
	    SSL_CTX_set_ex_data(ctx, g_ctx_idx, f) != 1) {
		fresh_free(NULL, f, NULL, 0, 0, NULL);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	}
	if (SSL_CTX_add_custom_ext(ctx, VT_RATLS_NONCE_EXT_TYPE, SSL_EXT_CLIENT_HELLO, NULL, NULL, NULL, nonce_parse_cb,
				   NULL) != 1) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ssl",
			       "cannot add the nonce extension (added twice?)");
	}
	SSL_CTX_set_cert_cb(ctx, fresh_cert_cb, f);
	return VT_OK;
}
