/*
 * The broker's TLS, on OpenSSL (docs/decisions.md, "The broker's TLS"):
 * libmicrohttpd keeps doing HTTP, limits and deadlines, but no longer sees
 * TLS.  We accept, hand libmicrohttpd one end of a socketpair at once
 * (MHD_add_connection, with the client's address, so its connection and
 * per-client limits and the broker's connection guard apply from accept
 * on, the TLS handshake included), and run non-blocking OpenSSL between
 * the TCP socket and the other end in a few epoll loops.
 */
#ifndef VT_BROKER_TLS_FRONT_H
#define VT_BROKER_TLS_FRONT_H

#include <openssl/ssl.h>

#include "veritee/err.h"

struct MHD_Daemon;
struct vt_tls_front;

/* A server context for a PEM certificate chain file and its key file
 * (TLS 1.2+, ALPN http/1.1).  *out: SSL_CTX_free. */
vt_status vt_tls_front_ctx(const char *cert_file, const char *key_file, SSL_CTX **out, struct vt_err *err);

/*
 * Serve TLS for `d` (started with MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC)
 * on `listen_fd` (a listening TCP socket; taken: closed by the front even
 * on failure) with `ctx` (a reference is taken), in `threads` loops.
 */
vt_status vt_tls_front_start(int listen_fd, SSL_CTX *ctx, struct MHD_Daemon *d, unsigned threads,
			     struct vt_tls_front **out, struct vt_err *err);

/* Re-read the certificate chain and key files into a new context and swap
 * it in for connections accepted from now on (those open keep theirs).  On
 * failure (unreadable, key not the certificate's) the old context stays. */
vt_status vt_tls_front_reload(struct vt_tls_front *f, const char *cert_file, const char *key_file,
			      struct vt_err *err);

/* Stop accepting, close every TLS connection (and so its libmicrohttpd
 * side), free.  NULL ok.  Call before MHD_stop_daemon. */
void vt_tls_front_stop(struct vt_tls_front *f);

/* File descriptors one TLS connection adds in this process (the TCP socket
 * and our end of the socketpair; libmicrohttpd's end is its connection
 * socket), for sizing the open-files limit. */
#define VT_TLS_FRONT_FDS_PER_CONNECTION 2

#endif
