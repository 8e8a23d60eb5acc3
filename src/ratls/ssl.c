/*
 * OpenSSL glue: an SSL_CTX certificate-verify callback that replaces the CA
 * chain check with vt_ratls_verify_cert, the per-connection report, the
 * client's freshness nonce (a ClientHello extension), and installing an
 * RA-TLS identity.
 *
 * Per-connection state lives in the SSL's ex_data (one index for the
 * process, made once), so one SSL_CTX serves any number of connections
 * from any number of threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "ratls/ratls_internal.h"
#include "veritee/util.h"

struct conn_state {
	json_t *report;			    /* the last verification's report */
	uint8_t nonce[VT_RATLS_NONCE_SIZE]; /* the nonce this client sent */
	bool nonce_sent;
};

static int g_conn_idx = -1;
static pthread_once_t g_conn_once = PTHREAD_ONCE_INIT;

static void conn_state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	struct conn_state *st = ptr;
	if (st == NULL)
		return;
	json_decref(st->report);
	free(st);
}

static void conn_idx_init(void)
{
	g_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_state_free);
}

static struct conn_state *conn_state(const SSL *ssl, bool create)
{
	pthread_once(&g_conn_once, conn_idx_init);
	if (g_conn_idx < 0 || ssl == NULL)
		return NULL;
	struct conn_state *st = SSL_get_ex_data(ssl, g_conn_idx);
	if (st == NULL && create) {
		st = calloc(1, sizeof(*st));
		if (st != NULL && SSL_set_ex_data((SSL *)ssl, g_conn_idx, st) != 1) {
			free(st);
			st = NULL;
		}
	}
	return st;
}

/* SSL_CTX_set_cert_verify_callback: the whole chain check, replaced. */
static int verify_cb(X509_STORE_CTX *sctx, void *arg)
{
	const struct vt_ratls_verify_opts *o = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	X509 *cert = X509_STORE_CTX_get0_cert(sctx);
	struct conn_state *st = conn_state(ssl, true);
	struct vt_ratls_verify_opts local = *o;
	if (st != NULL && st->nonce_sent) {
		local.nonce = st->nonce;
		local.nonce_size = sizeof(st->nonce);
	}
	json_t *rep = NULL;
	struct vt_err e = {0};
	vt_status rc = cert != NULL ? vt_ratls_verify_cert(&local, cert, &rep, &e)
				    : vt_fail(&e, VT_E_PARSE, VT_STEP_PARSE, "certificate", "the peer sent none");
	if (o->on_report != NULL && rep != NULL)
		o->on_report(o->report_ctx, rep);
	if (st != NULL) {
		json_decref(st->report);
		st->report = rep;
	} else {
		json_decref(rep);
	}
	X509_STORE_CTX_set_error(sctx, rc == VT_OK ? X509_V_OK : X509_V_ERR_APPLICATION_VERIFICATION);
	return rc == VT_OK ? 1 : 0;
}

/* Client: a fresh nonce in the ClientHello (the same one again after a HelloRetryRequest). */
static int nonce_add_cb(SSL *ssl, unsigned int ext_type, unsigned int context, const unsigned char **out,
			size_t *outlen, X509 *x, size_t chainidx, int *al, void *add_arg)
{
	(void)ext_type;
	(void)x;
	(void)chainidx;
	(void)add_arg;
	if (context != SSL_EXT_CLIENT_HELLO)
		return 0; /* nothing to add elsewhere */
	struct conn_state *st = conn_state(ssl, true);
	if (st == NULL || (!st->nonce_sent && RAND_bytes(st->nonce, (int)sizeof(st->nonce)) != 1)) {
		*al = SSL_AD_INTERNAL_ERROR;
		return -1;
	}
	st->nonce_sent = true;
	*out = st->nonce;
	*outlen = sizeof(st->nonce);
	return 1;
}

vt_status vt_ratls_ssl_ctx_verify(SSL_CTX *ctx, const struct vt_ratls_verify_opts *o, unsigned flags,
				  struct vt_err *err)
{
	if (ctx == NULL || o == NULL || o->verifier == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "", "missing argument (context, options, verifier)");
	pthread_once(&g_conn_once, conn_idx_init);
	if (g_conn_idx < 0)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ssl", "no SSL ex_data index");
	SSL_CTX_set_verify(
		ctx, SSL_VERIFY_PEER | ((flags & VT_RATLS_SSL_REQUIRE_PEER) ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_cb, (void *)o);
	if ((flags & VT_RATLS_SSL_REQUEST_NONCE) &&
	    SSL_CTX_add_custom_ext(ctx, VT_RATLS_NONCE_EXT_TYPE, SSL_EXT_CLIENT_HELLO, nonce_add_cb, NULL, NULL, NULL,
				   NULL) != 1) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "ssl",
			       "cannot add the nonce extension (added twice?)");
	}
	return VT_OK;
}

const json_t *vt_ratls_ssl_report(const SSL *ssl)
{
	struct conn_state *st = conn_state(ssl, false);
	return st ? st->report : NULL;
}

vt_status vt_ratls_ssl_ctx_use(SSL_CTX *ctx, EVP_PKEY *key, X509 *cert, struct vt_err *err)
{
	if (ctx == NULL || key == NULL || cert == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "", "missing argument");
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		unsigned long e = ERR_get_error();
		char buf[160];
		ERR_error_string_n(e, buf, sizeof(buf));
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "certificate",
			       "cannot use this certificate and key: %s", buf);
	}
	return VT_OK;
}
