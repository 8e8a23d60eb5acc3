/* The read-only web console (docs/broker.md, "Console"): three static
 * files embedded at build time (console/assets.S), served at /console/.
 * They hold no data: the page reads the admin API with the console token
 * it finds in its URL's fragment (`veritee admin console-url`), which the
 * browser never sends here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"

#define VT_HIDDEN __attribute__((visibility("hidden")))
extern VT_HIDDEN const char vt_console_index_html[], vt_console_js[], vt_console_css[];
extern VT_HIDDEN const uint64_t vt_console_index_html_size, vt_console_js_size, vt_console_css_size;

/* On every console answer, errors too: nothing but our own script and
 * style, no framing, no referrer, no caching, no sniffing. */
#define CONSOLE_HEADERS                                                                                  \
	"Content-Security-Policy",                                                                       \
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "        \
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",       \
		"X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer", "Cache-Control", \
		"no-store", "X-Frame-Options", "DENY"
static const char *const console_headers[] = {CONSOLE_HEADERS, NULL};
static const char *const console_redirect[] = {CONSOLE_HEADERS, "Location", "/console/", NULL};

static void answer(struct vt_http_response *r, int status, const char *ctype, const char *data, size_t n)
{
	r->status = status;
	r->content_type = ctype;
	r->headers = console_headers;
	r->body = malloc(n ? n : 1);
	r->body_size = r->body ? n : 0;
	if (r->body && n)
		memcpy(r->body, data, n);
	if (r->body == NULL) /* out of memory: nothing rather than a partial page */
		r->status = 500;
}

bool vt_broker_console_path(const char *path)
{
	return strcmp(path, "/console") == 0 || strncmp(path, "/console/", 9) == 0;
}

void vt_broker_console(const struct vt_http_request *req, struct vt_http_response *r)
{
	static const char not_found[] = "not found\n";
	const char *m = req->method ? req->method : "";
	const char *path = req->path ? req->path : "";
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		answer(r, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);
		return;
	}
	if (strcmp(path, "/console") == 0) {
		answer(r, 301, "text/plain; charset=utf-8", "/console/\n", 10);
		r->headers = console_redirect;
		return;
	}
	/* Exactly these names: no file system, no "..", nothing else. */
	const char *f = path + 9;
	if (strcmp(f, "") == 0 || strcmp(f, "index.html") == 0)
		answer(r, 200, "text/html; charset=utf-8", vt_console_index_html, (size_t)vt_console_index_html_size);
	else if (strcmp(f, "console.js") == 0)
		answer(r, 200, "text/javascript; charset=utf-8", vt_console_js, (size_t)vt_console_js_size);
	else if (strcmp(f, "console.css") == 0)
		answer(r, 200, "text/css; charset=utf-8", vt_console_css, (size_t)vt_console_css_size);
	else
		answer(r, 404, "text/plain; charset=utf-8", not_found, sizeof(not_found) - 1);
}
