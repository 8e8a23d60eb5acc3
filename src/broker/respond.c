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

/* ERROR 0, WARN 1, INFO 2, DEBUG 3 (as enum vt_log_level); unknown: INFO. */
static enum vt_log_level level_of(const char *level)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(level, names[i]) == 0)
			return (enum vt_log_level)i;
	return VT_LOG_INFO;
}

static void emit(struct vt_broker *b, const char *line)
{
	FILE *f = b->log_stream ? b->log_stream : stderr;
	pthread_mutex_lock(&b->log_lock);
	fprintf(f, "%s%s\n", b->log_prefix ? b->log_prefix : "", line);
	fflush(f);
	pthread_mutex_unlock(&b->log_lock);
}

/* A JSON log line: {"ts","level",...} with the members of `fields`
 * (consumed); NULL when out of memory. */
static void emit_json(struct vt_broker *b, const char *ts, enum vt_log_level lv, json_t *fields)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	json_t *o = json_pack("{s:s, s:s}", "ts", ts, "level", names[lv]);
	if (o != NULL && fields != NULL)
		json_object_update(o, fields);
	json_decref(fields);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9)) : NULL;
	json_decref(o);
	if (text != NULL)
		emit(b, text);
	free(text);
}

void vt_broker_log(struct vt_broker *b, const char *level, const char *fmt, ...)
{
	enum vt_log_level lv = level_of(level);
	if (b->log_quiet || lv > b->cfg.log_level)
		return;
	char ts[32];
	vt_time_format_rfc3339(vt_now(), ts, sizeof(ts));
	char raw[1024], line[4 * sizeof(raw)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (b->cfg.log_format == VT_LOG_JSON) {
		vt_obs_copy_ascii(line, sizeof(line), raw);
		emit_json(b, ts, lv, json_pack("{s:s}", "msg", line));
		return;
	}
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
	char full[sizeof(line) + 64];
	snprintf(full, sizeof(full), "%s %s %s", ts, level, line);
	emit(b, full);
}

/*
 * The request line: never the body, the query, cookies, the Authorization
 * header or a token.  Failed attestations and 5xx answers are WARN, the
 * rest INFO.  The detail is logged only when it is the broker's own text
 * (a refusal, a storage error); an error record's detail may quote
 * evidence values and goes only to the admin event record.
 */
void vt_broker_log_request(struct vt_broker *b, const struct vt_request_log *l)
{
	const struct vt_request_note *n = l->note;
	bool attest_failed = n->attest && !n->ok;
	enum vt_log_level lv = attest_failed || l->status >= 500 ? VT_LOG_WARN : VT_LOG_INFO;
	if (b->log_quiet || lv > b->cfg.log_level)
		return;
	char client[64], method[40], path[1024], field[sizeof(n->field) * 4], detail[600];
	vt_obs_copy_ascii(client, sizeof(client), l->client ? l->client : "-");
	vt_obs_copy_ascii(method, sizeof(method), l->method ? l->method : "-");
	char raw_path[256];
	const char *p = l->path ? l->path : "";
	size_t pl = strcspn(p, "?"); /* never the query */
	snprintf(raw_path, sizeof(raw_path), "%.*s", (int)(pl < 255 ? pl : 255), p);
	vt_obs_copy_ascii(path, sizeof(path), raw_path);
	/* The note's field and detail were escaped when they were recorded
	 * (vt_obs_copy_ascii); escaping them again would double every '\'. */
	snprintf(field, sizeof(field), "%s", n->field);
	detail[0] = '\0';
	if (n->failed) {
		if (n->detail_loggable && n->detail[0])
			snprintf(detail, sizeof(detail), "%s: %.500s", n->variant[0] ? n->variant : "error", n->detail);
		else
			snprintf(detail, sizeof(detail), "%s", n->variant);
	}
	const char *outcome = n->outcome ? n->outcome : n->attest ? (n->ok ? n->status : "failed") : NULL;
	if (outcome != NULL && outcome[0] == '\0')
		outcome = NULL;
	const char *step = n->failed ? vt_step_name(n->step) : NULL;
	char ts[32];
	vt_time_format_rfc3339(vt_now(), ts, sizeof(ts));
	if (b->cfg.log_format == VT_LOG_JSON) {
		json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:f}", "msg", "request",
				      "request_id", l->request_id, "client", client, "method", method, "path", path,
				      "status", l->status, "tee", n->tee ? json_string(n->tee) : json_null(), "outcome",
				      outcome ? json_string(outcome) : json_null(), "step",
				      step ? json_string(step) : json_null(), "field",
				      n->failed && field[0] ? json_string(field) : json_null(), "detail",
				      detail[0] ? json_string(detail) : json_null(), "ms",
				      (double)(int64_t)(l->ms * 1000 + 0.5) / 1000);
		emit_json(b, ts, lv, f);
		return;
	}
	char line[2600];
	int o = snprintf(line, sizeof(line), "%s %s request id=%s client=%s method=%s path=%s status=%d", ts,
			 lv == VT_LOG_WARN ? "WARN" : "INFO", l->request_id, client, method, path, l->status);
	if (n->tee && o > 0 && (size_t)o < sizeof(line))
		o += snprintf(line + o, sizeof(line) - (size_t)o, " tee=%s", n->tee);
	if (outcome && o > 0 && (size_t)o < sizeof(line))
		o += snprintf(line + o, sizeof(line) - (size_t)o, " outcome=%s", outcome);
	if (step && o > 0 && (size_t)o < sizeof(line))
		o += snprintf(line + o, sizeof(line) - (size_t)o, " step=%s field=%s", step, field[0] ? field : "-");
	if (detail[0] && o > 0 && (size_t)o < sizeof(line))
		o += snprintf(line + o, sizeof(line) - (size_t)o, " detail=\"%s\"", detail);
	if (o > 0 && (size_t)o < sizeof(line))
		snprintf(line + o, sizeof(line) - (size_t)o, " ms=%.3f", l->ms);
	emit(b, line);
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
	struct vt_request_note *n = vt_note(r);
	if (n != NULL) { /* the broker's own refusal text: loggable (client bytes are escaped) */
		n->failed = true;
		n->step = VT_STEP_NONE;
		n->field[0] = '\0';
		snprintf(n->variant, sizeof(n->variant), "%s", variant);
		vt_obs_copy_ascii(n->detail, sizeof(n->detail), detail);
		n->detail_loggable = true;
	}
}

void vt_resp_err(struct vt_http_response *r, const char *variant, const char *prefix, const struct vt_err *e)
{
	char buf[900];
	snprintf(buf, sizeof(buf), "%s: %s (step %s%s%s)", prefix, e->detail[0] ? e->detail : vt_status_name(e->code),
		 vt_step_name(e->step), e->field[0] ? ", field " : "", e->field);
	vt_resp_error(r, variant, buf);
	struct vt_request_note *n = vt_note(r);
	if (n != NULL) { /* the error record's detail may quote evidence values: not for the log */
		n->step = e->step;
		vt_obs_copy_ascii(n->field, sizeof(n->field), e->field);
		vt_obs_copy_ascii(n->detail, sizeof(n->detail), e->detail[0] ? e->detail : vt_status_name(e->code));
		n->detail_loggable = e->step == VT_STEP_STORAGE;
	}
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

