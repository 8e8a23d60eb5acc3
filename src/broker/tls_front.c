/*
 * OpenSSL in front of libmicrohttpd (tls_front.h).
 *
 * Each loop thread has its own epoll set holding the shared listening
 * socket (EPOLLEXCLUSIVE: one thread wakes per connection), an eventfd to
 * stop, and the connections it accepted.  A connection is a TCP socket
 * with a non-blocking SSL and the near end of a socketpair whose far end
 * libmicrohttpd owns.  Bytes move in both directions through two small
 * buffers; a full buffer stops reading on its side (back-pressure), so a
 * connection never holds more than 2 x FRONT_BUF bytes here.
 *
 * Deadlines and limits stay libmicrohttpd's and the connection guard's: the
 * connection is added to libmicrohttpd at accept, before the handshake, so
 * a client that never finishes its handshake is reaped at header_timeout
 * like one that never sends its headers (the reaper shuts libmicrohttpd's
 * end down; we see end-of-file on ours and close).  One deadline is ours:
 * response bytes buffered here that a client does not take within
 * FRONT_STALL_MS close the connection, since libmicrohttpd may have given
 * up on it and closed its end, after which its limits no longer count it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "broker/tls_front.h"
#include "veritee/util.h"

#define FRONT_BUF	  8192
#define FRONT_MAX_THREADS 16
#define ACCEPT_BURST	  32
#define FRONT_STALL_MS	  10000

enum tag { T_LISTEN, T_STOP, T_TCP, T_APP };

struct front_conn;
struct ep_tag {
	enum tag tag;
	struct front_conn *c;
};

struct front_conn {
	struct front_conn *prev, *next;
	struct ep_tag tcp_tag, app_tag;
	int tcp, app;
	SSL *ssl;
	bool handshaking, net_eof, app_eof, dead;
	int64_t stall_until; /* bytes to send that the client has not taken: close at this vt_mono_ms() */
	uint32_t tcp_events, app_events; /* registered interest */
	size_t in_len, in_off;		 /* net -> app */
	size_t out_len, out_off;	 /* app -> net */
	uint8_t in[FRONT_BUF], out[FRONT_BUF];
};

struct front_loop {
	struct vt_tls_front *f;
	pthread_t thread;
	bool started;
	int ep, stop_fd;
	struct ep_tag listen_tag, stop_tag;
	struct front_conn *head;
	struct front_conn *dead; /* closed during the current batch */
	unsigned stalled;        /* connections with stall_until set */
};

struct vt_tls_front {
	int listen_fd;
	pthread_mutex_t ctx_lock; /* guards ctx: vt_tls_front_reload swaps it */
	SSL_CTX *ctx;
	struct MHD_Daemon *d;
	unsigned n;
	struct front_loop loops[FRONT_MAX_THREADS];
};

/* --------------------------------------------------------------- context */

static vt_status ssl_fail(struct vt_err *err, const char *field, const char *what)
{
	char buf[256] = "";
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* HTTP/1.1 only: libmicrohttpd speaks nothing else. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11), in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

vt_status vt_tls_front_ctx(const char *cert_file, const char *key_file, SSL_CTX **out, struct vt_err *err)
{
	*out = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "tls_cert", "cannot make a TLS context");
	vt_status rc = VT_OK;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		rc = ssl_fail(err, "tls_cert", "cannot require TLS 1.2");
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		rc = ssl_fail(err, "tls_cert", "cannot use tls_cert");
	else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		rc = ssl_fail(err, "tls_key", "cannot use tls_key");
	else if (SSL_CTX_check_private_key(ctx) != 1)
		rc = ssl_fail(err, "tls_key", "tls_key is not the key of tls_cert");
	if (rc != VT_OK) {
		SSL_CTX_free(ctx);
		return rc;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	*out = ctx;
	return VT_OK;
}

/* ------------------------------------------------------------ connections */

/* Close now; free after the current batch of events, which may still name it. */
static void conn_close(struct front_loop *l, struct front_conn *c)
{
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->tcp, NULL);
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->app, NULL);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->stall_until != 0)
		l->stalled--;
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->tcp);
	close(c->app); /* libmicrohttpd sees end-of-file and closes its end */
	c->dead = true;
	c->prev = NULL;
	c->next = l->dead;
	l->dead = c;
}

static void free_dead(struct front_loop *l)
{
	while (l->dead) {
		struct front_conn *c = l->dead;
		l->dead = c->next;
		free(c);
	}
}

static void set_interest(struct front_loop *l, int fd, struct ep_tag *tag, uint32_t *cur, uint32_t want)
{
	if (*cur == want)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = tag};
	epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev);
	*cur = want;
}

/* What an SSL call that returned r <= 0 waits for, added to *tcp_in / *tcp_out;
 * false when the connection is over. */
static bool ssl_wait(SSL *ssl, int r, bool *tcp_in, bool *tcp_out)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ: *tcp_in = true; return true;
	case SSL_ERROR_WANT_WRITE: *tcp_out = true; return true;
	default: ERR_clear_error(); return false;
	}
}

/* Move bytes until nothing moves; then register what each side waits for.
 * Returns false when the connection was closed. */
static bool pump(struct front_loop *l, struct front_conn *c)
{
	bool tcp_in = false, tcp_out = false, app_out = false;
	for (bool progress = true; progress;) {
		progress = false;
		tcp_in = tcp_out = app_out = false;
		if (c->handshaking) {
			int r = SSL_accept(c->ssl);
			if (r == 1) {
				c->handshaking = false;
				progress = true;
				continue;
			}
			if (!ssl_wait(c->ssl, r, &tcp_in, &tcp_out))
				goto close; /* a failed handshake: libmicrohttpd's end gets end-of-file */
			/* the guard's deadline (header_timeout) covers the handshake: the
			 * reaper shuts libmicrohttpd's end down, we see end-of-file here */
			char b;
			ssize_t n = recv(c->app, &b, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
				goto close;
			break;
		}
		/* network -> libmicrohttpd */
		if (!c->net_eof && c->in_len == 0) {
			int r = SSL_read(c->ssl, c->in, sizeof(c->in));
			if (r > 0) {
				c->in_len = (size_t)r;
				c->in_off = 0;
				progress = true;
			} else if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN) {
				c->net_eof = true; /* close_notify: no more requests */
				shutdown(c->app, SHUT_WR);
				progress = true;
			} else if (!ssl_wait(c->ssl, r, &tcp_in, &tcp_out)) {
				goto close;
			}
		}
		if (c->in_off < c->in_len) {
			ssize_t n = send(c->app, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);
			if (n > 0) {
				c->in_off += (size_t)n;
				if (c->in_off == c->in_len)
					c->in_len = c->in_off = 0;
				progress = true;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				app_out = true;
			} else {
				goto close;
			}
		}
		/* libmicrohttpd -> network */
		if (!c->app_eof && c->out_len == 0) {
			ssize_t n = recv(c->app, c->out, sizeof(c->out), 0);
			if (n > 0) {
				c->out_len = (size_t)n;
				c->out_off = 0;
				progress = true;
			} else if (n == 0) {
				c->app_eof = true; /* libmicrohttpd closed (or was reaped) */
				progress = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				goto close;
			}
		}
		if (c->out_off < c->out_len) {
			int r = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
			if (r > 0) {
				c->out_off += (size_t)r;
				if (c->out_off == c->out_len)
					c->out_len = c->out_off = 0;
				progress = true;
			} else if (!ssl_wait(c->ssl, r, &tcp_in, &tcp_out)) {
				goto close;
			}
		}
		if (c->app_eof && c->out_len == 0) {
			SSL_shutdown(c->ssl); /* best effort close_notify */
			goto close;
		}
	}
	if (tcp_out && c->stall_until == 0) { /* a response waits for the client to read */
		c->stall_until = vt_mono_ms() + FRONT_STALL_MS;
		l->stalled++;
	} else if (c->out_len == 0 && c->stall_until != 0) { /* it took everything */
		c->stall_until = 0;
		l->stalled--;
	}
	set_interest(l, c->tcp, &c->tcp_tag, &c->tcp_events, (tcp_in ? EPOLLIN : 0u) | (tcp_out ? EPOLLOUT : 0u));
	/* readable only when there is room to read into (level-triggered: no spinning on a full
	 * buffer); during the handshake this is how the guard's shutdown is seen */
	set_interest(l, c->app, &c->app_tag, &c->app_events,
		     (!c->app_eof && c->out_len == 0 ? EPOLLIN : 0u) | (app_out ? EPOLLOUT : 0u));
	return true;
close:
	conn_close(l, c);
	return false;
}

/* One accepted TCP connection: its libmicrohttpd side first (limits apply
 * here), then the TLS side. */
static void conn_new(struct front_loop *l, int tcp, const struct sockaddr *sa, socklen_t sl)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
		close(tcp);
		return;
	}
	if (MHD_add_connection(l->f->d, sp[1], sa, sl) != MHD_YES) {
		close(sp[0]); /* sp[1] is libmicrohttpd's to close, in any case */
		close(tcp);   /* over the connection or per-client limit */
		return;
	}
	struct front_conn *c = calloc(1, sizeof(*c));
	SSL *ssl = NULL;
	if (c) { /* SSL_new takes its own reference: a reload does not touch this connection */
		pthread_mutex_lock(&l->f->ctx_lock);
		ssl = SSL_new(l->f->ctx);
		pthread_mutex_unlock(&l->f->ctx_lock);
	}
	if (ssl == NULL || SSL_set_fd(ssl, tcp) != 1)
		goto fail;
	int one = 1;
	setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->tcp = tcp;
	c->app = sp[0];
	c->handshaking = true;
	c->tcp_tag = (struct ep_tag){T_TCP, c};
	c->app_tag = (struct ep_tag){T_APP, c};
	struct epoll_event et = {.events = EPOLLIN, .data.ptr = &c->tcp_tag};
	struct epoll_event ea = {.events = EPOLLIN, .data.ptr = &c->app_tag};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, tcp, &et) != 0)
		goto fail;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, sp[0], &ea) != 0) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, tcp, NULL);
		goto fail;
	}
	c->tcp_events = c->app_events = EPOLLIN;
	c->next = l->head;
	if (l->head)
		l->head->prev = c;
	l->head = c;
	pump(l, c);
	return;
fail:
	SSL_free(ssl);
	free(c);
	close(sp[0]);
	close(tcp);
}

static void accept_some(struct front_loop *l)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->f->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* EAGAIN: another loop took it, or none left.  Out of descriptors:
			 * the connection waits in the backlog; do not spin on it. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				usleep(10000);
			return;
		}
		conn_new(l, fd, (struct sockaddr *)&ss, sl);
	}
}

/* Close the connections whose client has not read in time. */
static void close_stalled(struct front_loop *l)
{
	int64_t now = vt_mono_ms();
	for (struct front_conn *c = l->head, *next; c != NULL && l->stalled > 0; c = next) {
		next = c->next;
		if (c->stall_until != 0 && c->stall_until <= now)
			conn_close(l, c);
	}
}

static void *loop_main(void *arg)
{
	struct front_loop *l = arg;
	struct epoll_event evs[64];
	for (;;) {
		/* wake once a second while a connection is stalled */
		int n = epoll_wait(l->ep, evs, 64, l->stalled > 0 ? 1000 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		bool stop = false;
		for (int i = 0; i < n; i++) {
			struct ep_tag *t = evs[i].data.ptr;
			if (t->tag == T_STOP)
				stop = true;
			else if (t->tag == T_LISTEN)
				accept_some(l);
		}
		if (stop)
			break;
		for (int i = 0; i < n; i++) {
			struct ep_tag *t = evs[i].data.ptr;
			if ((t->tag == T_TCP || t->tag == T_APP) && !t->c->dead)
				pump(l, t->c);
		}
		if (l->stalled > 0)
			close_stalled(l);
		free_dead(l);
	}
	while (l->head)
		conn_close(l, l->head);
	free_dead(l);
	return NULL;
}

/* ------------------------------------------------------------------ life */

void vt_tls_front_stop(struct vt_tls_front *f)
{
	if (f == NULL)
		return;
	for (unsigned i = 0; i < f->n; i++) {
		struct front_loop *l = &f->loops[i];
		if (l->started) {
			uint64_t one = 1;
			ssize_t w = write(l->stop_fd, &one, sizeof(one));
			(void)w;
			pthread_join(l->thread, NULL);
		}
		if (l->ep >= 0)
			close(l->ep);
		if (l->stop_fd >= 0)
			close(l->stop_fd);
	}
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	SSL_CTX_free(f->ctx);
	pthread_mutex_destroy(&f->ctx_lock);
	free(f);
}

vt_status vt_tls_front_reload(struct vt_tls_front *f, const char *cert_file, const char *key_file,
			      struct vt_err *err)
{
	SSL_CTX *ctx = NULL;
	vt_status rc = vt_tls_front_ctx(cert_file, key_file, &ctx, err);
	if (rc != VT_OK)
		return rc;
	pthread_mutex_lock(&f->ctx_lock);
	SSL_CTX *old = f->ctx;
	f->ctx = ctx;
	pthread_mutex_unlock(&f->ctx_lock);
	SSL_CTX_free(old); /* connections made with it hold their own references */
	return VT_OK;
}

vt_status vt_tls_front_start(int listen_fd, SSL_CTX *ctx, struct MHD_Daemon *d, unsigned threads,
			     struct vt_tls_front **out, struct vt_err *err)
{
	*out = NULL;
	struct vt_tls_front *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		close(listen_fd);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "", "out of memory");
	}
	f->listen_fd = listen_fd;
	pthread_mutex_init(&f->ctx_lock, NULL);
	SSL_CTX_up_ref(ctx);
	f->ctx = ctx;
	f->d = d;
	f->n = threads == 0 ? 1 : threads > FRONT_MAX_THREADS ? FRONT_MAX_THREADS : threads;
	for (unsigned i = 0; i < f->n; i++)
		f->loops[i].ep = f->loops[i].stop_fd = -1;
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		vt_tls_front_stop(f);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "listen", "cannot make the listening socket non-blocking");
	}
	for (unsigned i = 0; i < f->n; i++) {
		struct front_loop *l = &f->loops[i];
		l->f = f;
		l->listen_tag = (struct ep_tag){T_LISTEN, NULL};
		l->stop_tag = (struct ep_tag){T_STOP, NULL};
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event el = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &l->listen_tag};
		struct epoll_event es = {.events = EPOLLIN, .data.ptr = &l->stop_tag};
		if (l->ep < 0 || l->stop_fd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, listen_fd, &el) != 0 ||
		    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->stop_fd, &es) != 0 ||
		    pthread_create(&l->thread, NULL, loop_main, l) != 0) {
			vt_tls_front_stop(f);
			return vt_fail(err, VT_E_IO, VT_STEP_IO, "listen", "cannot start the TLS loops");
		}
		l->started = true;
	}
	*out = f;
	return VT_OK;
}
