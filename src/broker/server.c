/* libmicrohttpd transport for the broker, with the limits that keep it up
 * under an unauthenticated attacker (docs/security.md):
 *
 *  - connections: a global cap and a per-client-address cap (libmicrohttpd
 *    refuses at accept), the open-files limit raised to fit;
 *  - absolute deadlines per connection, not reset by each byte: the request
 *    line and headers within header_timeout of the connection (or
 *    idle_timeout of the previous response), the whole request within
 *    request_timeout.  A reaper thread shuts down the socket of a
 *    connection past its deadline (through a dup of its descriptor, so a
 *    reused descriptor number is never hit);
 *  - bodies: a per-endpoint cap (small endpoints 64 KiB, attest and admin
 *    max_body), a global budget of buffered body bytes and a per-client
 *    share of it; a declared oversized body is answered at once and the
 *    connection closed; buffers are wiped (admin bodies hold secrets);
 *  - framing: duplicate Content-Length, any Transfer-Encoding but
 *    "chunked", or Transfer-Encoding with Content-Length: 400 and close
 *    (request smuggling behind a proxy); a NUL or control byte in the
 *    decoded path: 400.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "broker/broker_internal.h"
#include "broker/tls_front.h"
#include "veritee/kbs.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

/* Per-connection header memory.  Request bodies are buffered separately
 * (capped per endpoint), so this only needs to hold the request line and
 * headers, including a bearer token of a few KiB.  libmicrohttpd mmaps pools
 * larger than 32 KiB afresh for every connection, which costs page faults on
 * every request; 32 KiB stays on the malloc heap. */
#define CONN_MEMORY_LIMIT (32 * 1024)
#define SMALL_BODY_MAX (64 * 1024)
#define CLIENT_BUCKETS 256

/* One TCP connection (libmicrohttpd's socket context). */
struct slot {
	struct slot *prev, *next;
	int fd;              /* our dup of the connection's socket, -1 if none */
	int64_t deadline_ms; /* absolute, monotonic */
	bool reaped;
	bool bad_url;        /* the unescaped path held a NUL or control byte */
	char client[INET6_ADDRSTRLEN];
};

struct client_bytes {
	struct client_bytes *next;
	char addr[INET6_ADDRSTRLEN];
	size_t bytes;
};

struct vt_conn_guard {
	pthread_mutex_t lock;
	struct slot *head;
	struct client_bytes *clients[CLIENT_BUCKETS];
	size_t body_bytes;
	pthread_t reaper;
	bool reaper_running, stop;
	pthread_cond_t wake;
	const struct vt_broker_config *cfg;
	struct vt_broker *b;
	struct vt_tls_front *tls; /* OpenSSL in front of libmicrohttpd (tls_front.c); NULL for plain HTTP */
};

/* One request on a connection. */
struct request {
	struct slot *slot;
	struct vt_buf body;
	size_t reserved; /* body bytes counted against the budgets */
	size_t cap;      /* this endpoint's body cap */
	int early;       /* status answered before the body (0 = none) */
	char early_detail[160];
	bool answered;   /* the early answer is queued */
};

/* ------------------------------------------------------ body budgets */

static struct client_bytes **client_slot(struct vt_conn_guard *g, const char *addr)
{
	size_t h = 5381;
	for (const char *p = addr; *p; p++)
		h = h * 33 + (unsigned char)*p;
	struct client_bytes **pp = &g->clients[h % CLIENT_BUCKETS];
	while (*pp && strcmp((*pp)->addr, addr) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Count n more body bytes for `addr`; false when a budget would overflow. */
static bool budget_take(struct vt_conn_guard *g, const char *addr, size_t n)
{
	bool ok = false;
	pthread_mutex_lock(&g->lock);
	struct client_bytes **pp = client_slot(g, addr);
	size_t mine = *pp ? (*pp)->bytes : 0;
	if (n <= g->cfg->body_memory - g->body_bytes && n <= g->cfg->body_memory_per_client - mine) {
		if (*pp == NULL && (*pp = calloc(1, sizeof(**pp))) != NULL)
			snprintf((*pp)->addr, sizeof((*pp)->addr), "%s", addr);
		if (*pp != NULL) {
			(*pp)->bytes += n;
			g->body_bytes += n;
			ok = true;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return ok;
}

static void budget_give(struct vt_conn_guard *g, const char *addr, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&g->lock);
	struct client_bytes **pp = client_slot(g, addr);
	if (*pp) {
		(*pp)->bytes -= n < (*pp)->bytes ? n : (*pp)->bytes;
		if ((*pp)->bytes == 0) {
			struct client_bytes *dead = *pp;
			*pp = dead->next;
			free(dead);
		}
	}
	g->body_bytes -= n < g->body_bytes ? n : g->body_bytes;
	pthread_mutex_unlock(&g->lock);
}

/* ------------------------------------------------ connections, deadlines */

static void set_deadline(struct vt_conn_guard *g, struct slot *s, int64_t seconds)
{
	pthread_mutex_lock(&g->lock);
	s->deadline_ms = vt_mono_ms() + seconds * 1000;
	pthread_mutex_unlock(&g->lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct vt_conn_guard *g = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct slot *s = calloc(1, sizeof(*s));
		if (s == NULL)
			return;
		s->fd = -1;
		const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (fi != NULL)
			s->fd = fcntl(fi->connect_fd, F_DUPFD_CLOEXEC, 0);
		const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const struct sockaddr *sa = ai ? ai->client_addr : NULL;
		if (sa && sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, s->client,
				  sizeof(s->client));
		else if (sa && sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, s->client,
				  sizeof(s->client));
		else
			snprintf(s->client, sizeof(s->client), "-");
		pthread_mutex_lock(&g->lock);
		s->deadline_ms = vt_mono_ms() + g->cfg->header_timeout * 1000;
		s->next = g->head;
		if (g->head)
			g->head->prev = s;
		g->head = s;
		pthread_mutex_unlock(&g->lock);
		*socket_context = s;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct slot *s = *socket_context;
		if (s == NULL)
			return;
		pthread_mutex_lock(&g->lock);
		if (s->prev)
			s->prev->next = s->next;
		else
			g->head = s->next;
		if (s->next)
			s->next->prev = s->prev;
		pthread_mutex_unlock(&g->lock);
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		*socket_context = NULL;
	}
}

/* Shut down every connection past its deadline, twice a second. */
static void *reaper(void *arg)
{
	struct vt_conn_guard *g = arg;
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
		int64_t now = vt_mono_ms();
		for (struct slot *s = g->head; s; s = s->next) {
			if (!s->reaped && s->fd >= 0 && s->deadline_ms <= now) {
				shutdown(s->fd, SHUT_RDWR);
				s->reaped = true;
			}
		}
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Our own percent-decoding of the path: a decoded NUL or control byte
 * marks the request bad instead of silently truncating the path. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	char *o = s;
	bool bad = false;
	for (const char *p = s; *p; p++) {
		int hi, lo;
		if (p[0] == '%' && (hi = vt_hex_digit(p[1])) >= 0 && (lo = vt_hex_digit(p[2])) >= 0) {
			unsigned char ch = (unsigned char)(hi * 16 + lo);
			if (ch < 0x20 || ch == 0x7f) {
				bad = true;
				ch = '?';
			}
			*o++ = (char)ch;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	if (bad) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		struct slot *sl = ci ? ci->socket_context : NULL;
		if (sl)
			sl->bad_url = true;
	}
	return (size_t)(o - s);
}

/* ------------------------------------------------------- requests */

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct vt_conn_guard *g = cls;
	(void)c;
	(void)toe;
	struct request *rq = *con_cls;
	if (rq == NULL)
		return;
	if (rq->slot) {
		budget_give(g, rq->slot->client, rq->reserved);
		/* Keep-alive: the next request must arrive within idle_timeout. */
		set_deadline(g, rq->slot, g->cfg->idle_timeout);
	}
	vt_buf_free(&rq->body); /* wiped: admin bodies carry plaintext secrets */
	free(rq);
	*con_cls = NULL;
}

static enum MHD_Result queue(struct MHD_Connection *c, struct vt_http_response *r, bool close_conn)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(r->body_size, r->body ? r->body : (char *)"", MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->set_cookie)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	if (r->status == 503 || r->status == 429) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", r->retry_after ? r->retry_after : 1);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	if (r->request_id[0])
		MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	if (close_conn)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A KBS-style error answered by the transport. */
static enum MHD_Result queue_error(struct MHD_Connection *c, int status, const char *variant, const char *detail)
{
	struct vt_http_response r = {.status = status, .content_type = "application/json"};
	json_t *j = json_pack("{s:s+, s:s}", "type", VT_KBS_ERROR_BASE, variant, "detail", detail);
	r.body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	r.body_size = r.body ? strlen(r.body) : 0;
	json_decref(j);
	enum MHD_Result ret = queue(c, &r, true);
	free(r.body);
	return ret;
}

struct framing {
	unsigned content_lengths, transfer_encodings;
	bool te_not_chunked, cl_bad;
	unsigned long long cl;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct framing *f = cls;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		f->content_lengths++;
		char *end = NULL;
		f->cl = value && value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
		f->cl_bad = end == NULL || *end != '\0' || strlen(value) > 19;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->transfer_encodings++;
		if (value == NULL || strcasecmp(value, "chunked") != 0)
			f->te_not_chunked = true;
	}
	return MHD_YES;
}

/* The body cap of an endpoint: evidence and admin uploads get max_body,
 * everything else (auth, TPM enrollment) a small fixed cap. */
static size_t body_cap(const struct vt_broker_config *cfg, const char *method, const char *url)
{
	static const char *const small[] = {"/kbs/v0/auth", "/kbs/v0/tpm/enroll", "/kbs/v0/tpm/activate", NULL};
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "DELETE") == 0)
		return 0;
	for (size_t i = 0; small[i]; i++)
		if (strcmp(url, small[i]) == 0)
			return SMALL_BODY_MAX < cfg->max_body ? SMALL_BODY_MAX : cfg->max_body;
	return cfg->max_body;
}

/* First call for a request (headers complete): framing, path, caps,
 * budgets.  Sets rq->early to answer without reading the body. */
static void admit(struct vt_conn_guard *g, struct MHD_Connection *c, const char *method, const char *url,
		  struct request *rq)
{
	const struct vt_broker_config *cfg = g->cfg;
	struct framing f = {0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &f);
	if (f.content_lengths > 1 || f.cl_bad || f.transfer_encodings > 1 || f.te_not_chunked ||
	    (f.transfer_encodings && f.content_lengths)) {
		rq->early = 400;
		snprintf(rq->early_detail, sizeof(rq->early_detail),
			 "ambiguous message framing: one Content-Length, or Transfer-Encoding: chunked alone");
		return;
	}
	if (rq->slot && rq->slot->bad_url) {
		rq->early = 400;
		snprintf(rq->early_detail, sizeof(rq->early_detail), "request path holds a NUL or control byte");
		return;
	}
	rq->cap = body_cap(cfg, method, url);
	vt_buf_init(&rq->body, rq->cap);
	rq->body.wipe = true;
	if (f.content_lengths && f.cl > rq->cap) {
		rq->early = 413;
		snprintf(rq->early_detail, sizeof(rq->early_detail), "request body exceeds %zu bytes", rq->cap);
		return;
	}
	/* Count the declared body against the budgets now, so a slow sender
	 * cannot hold memory it was never granted. */
	if (f.content_lengths && f.cl > 0) {
		if (!budget_take(g, rq->slot ? rq->slot->client : "-", (size_t)f.cl)) {
			rq->early = 503;
			snprintf(rq->early_detail, sizeof(rq->early_detail),
				 "too many request bodies in flight; retry later");
			return;
		}
		rq->reserved = (size_t)f.cl;
	}
	if (rq->slot)
		set_deadline(g, rq->slot, cfg->request_timeout);
}

/* The request's query as "name=value&...", rebuilt from libmicrohttpd's
 * decoded arguments (it hands handlers the path alone).  Values are not
 * escaped again: handlers parse the names they know strictly (digits
 * only for admin/audit's since and limit).  A longer query is cut. */
struct query_buf {
	char s[256];
	size_t n;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct query_buf *q = cls;
	int w = snprintf(q->s + q->n, sizeof(q->s) - q->n, "%s%s=%s", q->n ? "&" : "", key, value ? value : "");
	if (w < 0 || (size_t)w >= sizeof(q->s) - q->n) {
		q->s[q->n] = '\0';
		return MHD_NO;
	}
	q->n += (size_t)w;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct vt_conn_guard *g = cls;
	struct vt_broker *b = g->b;
	struct request *rq = *con_cls;
	if (rq == NULL) {
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		rq->slot = ci ? ci->socket_context : NULL;
		*con_cls = rq;
		admit(g, c, method, url, rq);
		if (rq->early) {
			vt_broker_log(b, "WARN", "%s %s from %s: %d %s", method, url, rq->slot ? rq->slot->client : "-",
				      rq->early, rq->early_detail);
			const char *variant = rq->early == 413 ? "PayloadTooLarge"
					      : rq->early == 503 ? "ServiceUnavailable"
								 : "BadRequest";
			rq->answered = true;
			return queue_error(c, rq->early, variant, rq->early_detail);
		}
		return MHD_YES;
	}
	if (*upload_size != 0) {
		struct vt_err e;
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->early) /* over the cap: discard until the end (the deadline bounds it), then 413 */
			return MHD_YES;
		/* Chunked bodies have no declared size: count them as they grow. */
		if (rq->body.len + n > rq->reserved) {
			size_t more = rq->body.len + n - rq->reserved;
			if (!budget_take(g, rq->slot ? rq->slot->client : "-", more))
				return MHD_NO; /* close: the budgets are for everyone */
			rq->reserved += more;
		}
		if (vt_buf_append(&rq->body, upload_data, n, &e) != VT_OK) {
			rq->early = 413;
			snprintf(rq->early_detail, sizeof(rq->early_detail), "request body exceeds %zu bytes", rq->cap);
			vt_buf_free(&rq->body);
		}
		return MHD_YES;
	}
	if (rq->answered)
		return MHD_YES;
	if (rq->early) {
		vt_broker_log(b, "WARN", "%s %s from %s: %d %s", method, url, rq->slot ? rq->slot->client : "-",
			      rq->early, rq->early_detail);
		return queue_error(c, rq->early, "PayloadTooLarge", rq->early_detail);
	}
	struct vt_http_response r = {0};
	struct query_buf q = {.n = 0};
	q.s[0] = '\0';
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	struct vt_http_request req = {
		.method = method,
		.path = url,
		.query = q.n ? q.s : NULL,
		.session_cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "kbs-session-id"),
		.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.client = rq->slot ? rq->slot->client : NULL,
		.body = rq->body.data ? rq->body.data : (const uint8_t *)"",
		.body_size = rq->body.len,
		.forwarded_for = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"),
	};
	vt_broker_handle(b, &req, &r);
	if (rq->slot) /* the response too must leave within request_timeout */
		set_deadline(g, rq->slot, g->cfg->request_timeout);
	enum MHD_Result ret = queue(c, &r, false);
	vt_http_response_free(&r);
	return ret;
}

/* ------------------------------------------------------- lifecycle */

static bool is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* Raise the open-files limit for max_connections (two descriptors each:
 * the socket and the reaper's dup; with TLS also the TLS front's) and cap
 * the connections to what fits. */
static unsigned fit_connections(struct vt_broker *b, unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return want;
	unsigned per = 2 + (b->cfg.tls_cert ? VT_TLS_FRONT_FDS_PER_CONNECTION : 0);
	rlim_t need = (rlim_t)want * per + 256;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > 512 ? (unsigned)((rl.rlim_cur - 256) / per) : 128;
		vt_broker_log(b, "WARN", "open-files limit %llu: max_connections lowered from %u to %u",
			      (unsigned long long)rl.rlim_cur, want, fit);
		return fit;
	}
	return want;
}

static void guard_free(struct vt_conn_guard *g)
{
	if (g == NULL)
		return;
	if (g->reaper_running) {
		pthread_mutex_lock(&g->lock);
		g->stop = true;
		pthread_cond_signal(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->reaper, NULL);
	}
	for (size_t i = 0; i < CLIENT_BUCKETS; i++) {
		while (g->clients[i]) {
			struct client_bytes *n = g->clients[i]->next;
			free(g->clients[i]);
			g->clients[i] = n;
		}
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static void set_origins(struct vt_broker *b, bool tls, const char *host, unsigned port)
{
	const char *scheme = tls ? "https" : "http";
	bool v6 = strchr(host, ':') != NULL;
	if (asprintf(&b->origin[0], v6 ? "%s://[%s]:%u" : "%s://%s:%u", scheme, host, port) > 0)
		b->origin_count = 1;
	else
		b->origin[0] = NULL;
	if (b->origin_count == 1 && strcmp(host, "127.0.0.1") == 0 &&
	    asprintf(&b->origin[1], "%s://localhost:%u", scheme, port) > 0)
		b->origin_count = 2;
}

/* The listening socket of the TLS front (libmicrohttpd then listens on nothing). */
static int tls_listen(const struct sockaddr_storage *ss, unsigned *port_out)
{
	socklen_t sl = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0)
		return -1;
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &bl) != 0) {
		close(fd);
		return -1;
	}
	*port_out = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
}

vt_status vt_broker_start(struct vt_broker *b, uint16_t *port_out, struct vt_err *err)
{
	const struct vt_broker_config *c = &b->cfg;
	const char *host = c->listen_host ? c->listen_host : "127.0.0.1";
	bool tls = c->tls_cert != NULL;
	if (!tls && !is_loopback(host) && !c->insecure_http)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "listen",
			       "refusing plain HTTP on non-loopback address %s: configure tls_cert/tls_key "
			       "(or set insecure_http, which exposes tokens and sessions to the network)",
			       host);

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(c->port);
	} else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(c->port);
		flags |= MHD_USE_IPv6;
	} else {
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "listen", "listen host must be an IP address, got \"%.64s\"",
			       host);
	}
	/* TLS is OpenSSL's (tls_front.c): libmicrohttpd gets plaintext connections from it. */
	SSL_CTX *tls_ctx = NULL;
	if (tls) {
		vt_status rc = vt_tls_front_ctx(c->tls_cert, c->tls_key, &tls_ctx, err);
		if (rc != VT_OK)
			return rc;
		flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	}
	struct vt_conn_guard *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		SSL_CTX_free(tls_ctx);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_IO, "", "out of memory");
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->wake, NULL);
	g->cfg = c;
	g->b = b;
	if (pthread_create(&g->reaper, NULL, reaper, g) != 0) {
		guard_free(g);
		SSL_CTX_free(tls_ctx);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "", "cannot start the connection reaper");
	}
	g->reaper_running = true;
	b->guard = g;
	unsigned max_conn = fit_connections(b, c->max_connections ? c->max_connections : 4000);
	unsigned tls_port = 0;
	int tls_fd = tls ? tls_listen(&ss, &tls_port) : -1;
	if (tls && tls_fd < 0) {
		b->guard = NULL;
		guard_free(g);
		SSL_CTX_free(tls_ctx);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "listen", "cannot listen on %s:%u (address in use?)", host,
			       (unsigned)c->port);
	}
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, c->port, NULL, NULL, on_request, g, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(c->threads ? c->threads : 4), MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, g, MHD_OPTION_NOTIFY_CONNECTION, on_connection, g, MHD_OPTION_UNESCAPE_CALLBACK,
		unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(c->idle_timeout > 0 ? c->idle_timeout : 15),
		MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(c->max_connections_per_client ? c->max_connections_per_client : 64),
		MHD_OPTION_STRICT_FOR_CLIENT, (int)0, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
		MHD_OPTION_END);
	if (d != NULL && tls) {
		vt_status rc = vt_tls_front_start(tls_fd, tls_ctx, d, c->threads ? c->threads : 4, &g->tls, err);
		if (rc != VT_OK) {
			MHD_stop_daemon(d);
			d = NULL;
		}
	} else if (tls_fd >= 0) {
		close(tls_fd);
	}
	SSL_CTX_free(tls_ctx); /* the front holds its own reference */
	if (d == NULL) {
		b->guard = NULL;
		guard_free(g);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "listen", "cannot listen on %s:%u (address in use?)", host,
			       (unsigned)c->port);
	}
	b->daemon = d;
	const union MHD_DaemonInfo *info = tls ? NULL : MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = tls ? tls_port : info ? info->port : c->port;
	if (port_out)
		*port_out = (uint16_t)port;
	set_origins(b, tls, h, port);
	char *names = vt_verifier_names(b->verifier);
	bool insecure = false;
	for (size_t i = 0; vt_tee_at(i); i++)
		insecure = insecure || ((vt_tee_at(i)->flags & VT_TEE_INSECURE) && vt_verifier_accepts(b->verifier, vt_tee_at(i)));
	vt_broker_log(b, "INFO", "listening on %s://%s:%u; tees: %s%s", tls ? "https" : "http", host, port,
		      names ? names : "?", insecure ? " (INSECURE simulated evidence accepted)" : "");
	free(names);
	return VT_OK;
}

vt_status vt_broker_reload_tls(struct vt_broker *b, struct vt_err *err)
{
	if (b->guard == NULL || b->guard->tls == NULL)
		return VT_OK;
	struct vt_err e = {0};
	vt_status rc = vt_tls_front_reload(b->guard->tls, b->cfg.tls_cert, b->cfg.tls_key, &e);
	if (rc == VT_OK) {
		vt_broker_log(b, "INFO", "reloaded the TLS certificate from %s", b->cfg.tls_cert);
	} else {
		/* The detail is ours (file names, OpenSSL's reason): the operator needs it. */
		vt_broker_log(b, "ERROR", "TLS reload failed (the previous certificate stays in use): field=%s: %s",
			      e.field[0] ? e.field : "-", e.detail);
		if (err)
			*err = e;
	}
	return rc;
}

void vt_broker_stop(struct vt_broker *b)
{
	if (b->guard && b->guard->tls) { /* TLS connections first: each ends its libmicrohttpd side */
		vt_tls_front_stop(b->guard->tls);
		b->guard->tls = NULL;
	}
	if (b->daemon) {
		MHD_stop_daemon(b->daemon);
		b->daemon = NULL;
	}
	guard_free(b->guard);
	b->guard = NULL;
	for (size_t i = 0; i < b->origin_count; i++)
		free(b->origin[i]);
	b->origin_count = 0;
	if (b->tls_key_pem) {
		vt_wipe(b->tls_key_pem, strlen(b->tls_key_pem));
		free(b->tls_key_pem);
		b->tls_key_pem = NULL;
	}
	free(b->tls_cert_pem);
	b->tls_cert_pem = NULL;
}
