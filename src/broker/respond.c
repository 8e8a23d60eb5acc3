/* Broker plumbing shared by the handlers: log lines and KBS responses. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "broker/broker_internal.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/kbs.h"
#include "veritee/token.h"
#include "veritee/verifier.h"

/* ------------------------------------------------------------- logging */

void vt_broker_log(struct vt_broker *b, const char *level, const char *fmt, ...)
{
	if (b->log_quiet)
		return;
	char ts[32];
	vt_time_format_rfc3339(vt_now(), ts, sizeof(ts));
	char raw[1024], line[4 * sizeof(raw)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* One event, one line: fields may carry client bytes (a decoded URL),
	 * so control bytes are escaped and cannot forge log lines. */
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			o += (size_t)snprintf(line + o, sizeof(line) - o, "\\x%02x", *p);
		else
			line[o++] = (char)*p;
	}
	line[o] = '\0';
	FILE *f = b->log_stream ? b->log_stream : stderr;
	pthread_mutex_lock(&b->log_lock);
	fprintf(f, "%s%s %s %s\n", b->log_prefix ? b->log_prefix : "", ts, level, line);
	fflush(f);
	pthread_mutex_unlock(&b->log_lock);
}

/* The error record as a log line: status, step and field only.  The detail
 * may quote evidence values, which do not belong in logs. */
void vt_broker_log_err(struct vt_broker *b, const char *what, const struct vt_err *e)
{
	/* A storage detail is ours (the database's message, the server's name
	 * without password): the operator needs it to see why. */
	if (e->step == VT_STEP_STORAGE && e->detail[0])
		vt_broker_log(b, "WARN", "%s: %s step=%s field=%s: %s", what, vt_status_name(e->code), vt_step_name(e->step),
			      e->field[0] ? e->field : "-", e->detail);
	else
		vt_broker_log(b, "WARN", "%s: %s step=%s field=%s", what, vt_status_name(e->code), vt_step_name(e->step),
			      e->field[0] ? e->field : "-");
}

void vt_resp_json(struct vt_http_response *r, int status, json_t *body)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = body ? vt_json_compact(body) : NULL;
	r->body_size = r->body ? strlen(r->body) : 0;
	json_decref(body);
}

void vt_resp_empty(struct vt_http_response *r)
{
	r->status = 200;
	r->content_type = "text/plain";
	r->body = NULL;
	r->body_size = 0;
}

/* KBS ErrorInformation; 404 for path errors, 401 for everything else (as
 * Trustee), 413 for oversized bodies. */
void vt_resp_error(struct vt_http_response *r, const char *variant, const char *detail)
{
	int status = 401;
	if (strcmp(variant, "InvalidRequestPath") == 0 || strcmp(variant, "PluginNotFound") == 0)
		status = 404;
	else if (strcmp(variant, "PayloadTooLarge") == 0)
		status = 413;
	char type[160];
	snprintf(type, sizeof(type), "%s%s", VT_KBS_ERROR_BASE, variant);
	vt_resp_json(r, status, json_pack("{s:s, s:s}", "type", type, "detail", detail));
}

void vt_resp_err(struct vt_http_response *r, const char *variant, const char *prefix, const struct vt_err *e)
{
	char buf[900];
	snprintf(buf, sizeof(buf), "%s: %s (step %s%s%s)", prefix, e->detail[0] ? e->detail : vt_status_name(e->code),
		 vt_step_name(e->step), e->field[0] ? ", field " : "", e->field);
	vt_resp_error(r, variant, buf);
	if (e->code == VT_E_UNAVAILABLE) /* the database is down or busy: not a verdict, retry */
		r->status = 503;
}

void vt_http_response_free(struct vt_http_response *r)
{
	free(r->body);
	free(r->set_cookie);
	memset(r, 0, sizeof(*r));
}

vt_status vt_req_json_body(const struct vt_http_request *req, json_t **out, struct vt_err *err)
{
	vt_status rc = vt_json_parse((const char *)req->body, req->body_size, 1u << 26, out, err);
	if (rc == VT_OK && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "body", "request body must be a JSON object");
	}
	return rc;
}

