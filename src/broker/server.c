/* libmicrohttpd transport for the broker. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "broker/broker_internal.h"
#include "veritee/util.h"

/* Per-connection header memory.  Request bodies are buffered separately
 * (capped by max_body), so this only needs to hold the request line and
 * headers, including a bearer token of a few KiB.  libmicrohttpd mmaps pools
 * larger than 32 KiB afresh for every connection, which costs page faults on
 * every request; 32 KiB stays on the malloc heap. */
#define CONN_MEMORY_LIMIT (32 * 1024)

struct conn {
	struct vt_buf body;
	bool too_big;
};

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct conn *cc = *con_cls;
	if (cc != NULL) {
		vt_buf_free(&cc->body);
		free(cc);
		*con_cls = NULL;
	}
}

static enum MHD_Result queue(struct MHD_Connection *c, struct vt_http_response *r)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(r->body_size, r->body ? r->body : (char *)"", MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->set_cookie)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct vt_broker *b = cls;
	struct conn *cc = *con_cls;
	if (cc == NULL) {
		cc = calloc(1, sizeof(*cc));
		if (cc == NULL)
			return MHD_NO;
		vt_buf_init(&cc->body, b->cfg.max_body);
		*con_cls = cc;
		/* Refuse early on a declared oversized body. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > b->cfg.max_body)
			cc->too_big = true;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		struct vt_err e;
		if (!cc->too_big && vt_buf_append(&cc->body, upload_data, *upload_size, &e) != VT_OK)
			cc->too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	struct vt_http_response r = {0};
	if (cc->too_big) {
		vt_broker_log(b, "WARN", "%s %s: body larger than max_body_bytes (%zu)", method, url, b->cfg.max_body);
		char *body = NULL;
		int n = asprintf(&body, "{\"type\":\"%sPayloadTooLarge\",\"detail\":\"request body exceeds %zu bytes\"}",
				 "https://github.com/confidential-containers/kbs/errors/", b->cfg.max_body);
		r.status = 413;
		r.content_type = "application/json";
		r.body = n > 0 ? body : NULL;
		r.body_size = n > 0 ? (size_t)n : 0;
	} else {
		struct vt_http_request req = {
			.method = method,
			.path = url,
			.query = NULL,
			.session_cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "kbs-session-id"),
			.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
			.body = cc->body.data ? cc->body.data : (const uint8_t *)"",
			.body_size = cc->body.len,
		};
		vt_broker_handle(b, &req, &r);
	}
	enum MHD_Result ret = queue(c, &r);
	vt_http_response_free(&r);
	return ret;
}

static bool is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
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
	if (tls) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_cert", "this libmicrohttpd has no TLS support");
		uint8_t *p;
		size_t n;
		vt_status rc = vt_file_read(c->tls_cert, 1u << 20, &p, &n, err);
		if (rc != VT_OK)
			return rc;
		b->tls_cert_pem = (char *)p;
		rc = vt_file_read(c->tls_key, 1u << 20, &p, &n, err);
		if (rc != VT_OK)
			return rc;
		b->tls_key_pem = (char *)p;
		flags |= MHD_USE_TLS;
	}
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, b->tls_cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, b->tls_key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, c->port, NULL, NULL, on_request, b, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(c->threads ? c->threads : 4), MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, b, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)CONN_MEMORY_LIMIT, MHD_OPTION_ARRAY, tls ? tls_opts : &tls_opts[2], MHD_OPTION_END);
	if (d == NULL)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "listen", "cannot listen on %s:%u (address in use?)", host,
			       (unsigned)c->port);
	b->daemon = d;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (port_out)
		*port_out = info ? info->port : c->port;
	vt_broker_log(b, "INFO", "listening on %s://%s:%u%s", tls ? "https" : "http", host,
		      (unsigned)(info ? info->port : c->port),
		      b->sim_root ? " (INSECURE sim evidence accepted: insecure_sim_root is set)" : "");
	return VT_OK;
}

void vt_broker_stop(struct vt_broker *b)
{
	if (b->daemon) {
		MHD_stop_daemon(b->daemon);
		b->daemon = NULL;
	}
	if (b->tls_key_pem) {
		vt_wipe(b->tls_key_pem, strlen(b->tls_key_pem));
		free(b->tls_key_pem);
		b->tls_key_pem = NULL;
	}
	free(b->tls_cert_pem);
	b->tls_cert_pem = NULL;
}
