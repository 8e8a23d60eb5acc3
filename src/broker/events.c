/*
 * Observations of the broker: request-duration and verification metrics
 * (lock-free counters), and the attestation event record behind
 * GET /kbs/v0/admin/attestations and /kbs/v0/admin/stats (under a mutex).
 * The label sets are fixed: endpoints from a short list, TEEs from the
 * descriptor table, steps from vt_step; nothing a client chooses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker/events.h"
#include "veritee/evidence.h"

/* Upper bounds of the request-duration buckets, seconds (the last is +Inf). */
static const double http_le[VT_OBS_HTTP_BUCKETS - 1] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5};
static const char *const http_le_text[VT_OBS_HTTP_BUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
							      "0.1",   "0.25",	 "0.5",	  "1",	  "2.5",   "5",
							      "+Inf"};
/* Upper bounds of the attestation-latency buckets, ms (the last is +Inf). */
static const int lat_le[VT_OBS_LAT_BUCKETS - 1] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
static const char *const endpoint_names[VT_EP_COUNT] = {"auth", "attest", "resource", "admin",
							"tpm",	"metrics", "health", "other"};

void vt_obs_copy_ascii(char *dst, size_t n, const char *src)
{
	size_t o = 0;
	if (n == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)(src ? src : ""); *p; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == '\\') {
			if (o + 4 >= n)
				break;
			snprintf(dst + o, n - o, "\\x%02x", *p);
			o += 4;
		} else {
			if (o + 1 >= n)
				break;
			dst[o++] = (char)*p;
		}
	}
	dst[o] = '\0';
}

void vt_obs_init(struct vt_obs *o)
{
	pthread_mutex_init(&o->lock, NULL);
}

void vt_obs_destroy(struct vt_obs *o)
{
	pthread_mutex_destroy(&o->lock);
}

enum vt_endpoint vt_obs_endpoint(const char *path)
{
	static const struct {
		const char *prefix;
		enum vt_endpoint ep;
	} map[] = {
		{"/kbs/v0/auth", VT_EP_AUTH},
		{"/kbs/v0/attest", VT_EP_ATTEST},
		{"/kbs/v0/resource/", VT_EP_RESOURCE}, /* GET: release; POST/DELETE: admin, still "resource" */
		{"/kbs/v0/tpm/", VT_EP_TPM},
		{"/kbs/v0/admin/", VT_EP_ADMIN},
		{"/kbs/v0/attestation-policy", VT_EP_ADMIN},
		{"/kbs/v0/resource-policy", VT_EP_ADMIN},
		{"/kbs/v0/reference-value", VT_EP_ADMIN},
		{"/metrics", VT_EP_METRICS},
		{"/healthz", VT_EP_HEALTH},
		{"/readyz", VT_EP_HEALTH},
	};
	if (path == NULL)
		return VT_EP_OTHER;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].prefix);
		if (strncmp(path, map[i].prefix, n) != 0)
			continue;
		/* exact, or a prefix ending in '/', or followed by '/' */
		if (path[n] == '\0' || map[i].prefix[n - 1] == '/' || path[n] == '/')
			return map[i].ep;
	}
	return VT_EP_OTHER;
}

void vt_obs_request(struct vt_obs *o, enum vt_endpoint ep, double seconds)
{
	if ((unsigned)ep >= VT_EP_COUNT)
		ep = VT_EP_OTHER;
	if (!(seconds >= 0)) /* NaN or a clock step */
		seconds = 0;
	size_t i = 0;
	while (i < VT_OBS_HTTP_BUCKETS - 1 && seconds > http_le[i])
		i++;
	atomic_fetch_add(&o->http_bucket[ep][i], 1);
	atomic_fetch_add(&o->http_count[ep], 1);
	double us = seconds * 1e6;
	atomic_fetch_add(&o->http_sum_us[ep], us < 1e15 ? (unsigned long)us : 0ul);
}

/* The descriptor-table index of a TEE name, VT_OBS_TEES when unknown. */
static size_t tee_index(const char *name)
{
	for (size_t i = 0; name != NULL && i < VT_OBS_TEES && vt_tee_at(i) != NULL; i++)
		if (strcmp(vt_tee_at(i)->name, name) == 0)
			return i;
	return VT_OBS_TEES;
}

void vt_obs_attestation(struct vt_obs *o, const struct vt_attest_event *ev)
{
	size_t t = tee_index(ev->tee);
	unsigned step = ev->has_step && (unsigned)ev->step < VT_OBS_STEPS ? (unsigned)ev->step : 0;
	if (ev->ok)
		atomic_fetch_add(&o->verif_ok[t], 1);
	else
		atomic_fetch_add(&o->verif_failed[t][step], 1);

	size_t li = 0;
	while (li < VT_OBS_LAT_BUCKETS - 1 && ev->duration_ms > lat_le[li])
		li++;
	int64_t minute = ev->time - ((ev->time % 60) + 60) % 60;
	size_t mi = (size_t)(((minute / 60) % VT_EVENTS_MINUTES + VT_EVENTS_MINUTES) % VT_EVENTS_MINUTES);

	pthread_mutex_lock(&o->lock);
	o->ring[o->next] = *ev;
	o->next = (o->next + 1) % VT_EVENTS_MAX;
	if (o->count < VT_EVENTS_MAX)
		o->count++;
	struct vt_obs_minute *m = &o->minutes[mi];
	if (m->minute != minute) {
		if (m->minute > minute) { /* older than what the slot holds (clock stepped back): count it nowhere */
			m = NULL;
		} else {
			m->minute = minute;
			m->ok = m->failed = 0;
		}
	}
	if (m != NULL) {
		if (ev->ok)
			m->ok++;
		else
			m->failed++;
	}
	o->latency[li]++;
	if (ev->ok)
		o->total_ok++;
	else
		o->total_failed++;
	pthread_mutex_unlock(&o->lock);
}

/* ------------------------------------------------------------- metrics */

static vt_status put(struct vt_buf *out, struct vt_err *err, const char *fmt, ...) VT_PRINTF(3, 4);
static vt_status put(struct vt_buf *out, struct vt_err *err, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, "metrics", "metric line too long");
	return vt_buf_append(out, line, (size_t)n, err);
}

vt_status vt_obs_metrics(struct vt_obs *o, struct vt_buf *out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	VT_GUARD(put(out, err, "# HELP veritee_http_request_duration_seconds Time to handle a request, by endpoint.\n"
			       "# TYPE veritee_http_request_duration_seconds histogram\n"));
	for (size_t ep = 0; ep < VT_EP_COUNT; ep++) {
		unsigned long cum = 0;
		for (size_t i = 0; i < VT_OBS_HTTP_BUCKETS; i++) {
			cum += atomic_load(&o->http_bucket[ep][i]);
			VT_GUARD(put(out, err, "veritee_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%s\"} %lu\n",
				     endpoint_names[ep], http_le_text[i], cum));
		}
		/* _count is the +Inf bucket: read apart from the buckets, a request
		 * finishing meanwhile could make them disagree by one. */
		unsigned long us = atomic_load(&o->http_sum_us[ep]);
		VT_GUARD(put(out, err, "veritee_http_request_duration_seconds_sum{endpoint=\"%s\"} %lu.%06lu\n",
			     endpoint_names[ep], us / 1000000ul, us % 1000000ul));
		VT_GUARD(put(out, err, "veritee_http_request_duration_seconds_count{endpoint=\"%s\"} %lu\n",
			     endpoint_names[ep], cum));
	}
	VT_GUARD(put(out, err, "# HELP veritee_verifications_total Attestations verified, by TEE, outcome and failing step.\n"
			       "# TYPE veritee_verifications_total counter\n"));
	for (size_t t = 0; t <= VT_OBS_TEES; t++) {
		const char *name = t < VT_OBS_TEES && vt_tee_at(t) != NULL ? vt_tee_at(t)->name : "unknown";
		if (t < VT_OBS_TEES && vt_tee_at(t) == NULL)
			continue;
		unsigned long n = atomic_load(&o->verif_ok[t]);
		if (n > 0)
			VT_GUARD(put(out, err, "veritee_verifications_total{tee=\"%s\",outcome=\"ok\",step=\"none\"} %lu\n",
				     name, n));
		for (unsigned s = 0; s < VT_OBS_STEPS; s++) {
			n = atomic_load(&o->verif_failed[t][s]);
			if (n > 0)
				VT_GUARD(put(out, err,
					     "veritee_verifications_total{tee=\"%s\",outcome=\"failed\",step=\"%s\"} %lu\n",
					     name, vt_step_name((vt_step)s), n));
		}
	}
out:
	return rc;
}

/* --------------------------------------------------------- event record */

static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] ? json_string(s) : json_null();
}

static json_t *event_json(const struct vt_attest_event *ev)
{
	json_t *j = json_object();
	if (j == NULL)
		return NULL;
	/* Every string is either ours or a TEE name: the client address,
	 * request id and error texts are ASCII (a detail quoting evidence
	 * bytes is escaped by vt_fail's callers); json_string refuses invalid
	 * UTF-8, which then reads null. */
	json_object_set_new(j, "time", json_integer(ev->time));
	json_object_set_new(j, "request_id", json_string(ev->request_id));
	json_object_set_new(j, "client", str_or_null(ev->client));
	json_object_set_new(j, "tee", json_string(ev->tee ? ev->tee : "unknown"));
	json_object_set_new(j, "ok", json_boolean(ev->ok));
	json_object_set_new(j, "status", str_or_null(ev->status));
	json_object_set_new(j, "step", ev->has_step ? json_string(vt_step_name(ev->step)) : json_null());
	json_object_set_new(j, "field", str_or_null(ev->field));
	json_object_set_new(j, "detail", str_or_null(ev->detail));
	json_object_set_new(j, "rule", str_or_null(ev->rule));
	json_object_set_new(j, "explanation", str_or_null(ev->explanation));
	json_object_set_new(j, "duration_ms", json_real((double)(int64_t)(ev->duration_ms * 1000 + 0.5) / 1000));
	return j;
}

json_t *vt_obs_attestations_json(struct vt_obs *o, size_t limit)
{
	json_t *list = json_array(), *root = NULL;
	if (list == NULL)
		return NULL;
	pthread_mutex_lock(&o->lock);
	size_t n = limit < o->count ? limit : o->count;
	for (size_t i = 0; i < n; i++) {
		size_t slot = (o->next + VT_EVENTS_MAX - 1 - i) % VT_EVENTS_MAX;
		json_t *j = event_json(&o->ring[slot]);
		if (j == NULL || json_array_append_new(list, j) != 0) {
			pthread_mutex_unlock(&o->lock);
			json_decref(list);
			return NULL;
		}
	}
	pthread_mutex_unlock(&o->lock);
	root = json_pack("{s:o}", "attestations", list);
	return root;
}

json_t *vt_obs_stats_json(struct vt_obs *o, int64_t now)
{
	json_t *per = json_array(), *le = json_array(), *counts = json_array();
	if (per == NULL || le == NULL || counts == NULL)
		goto fail;
	int64_t cur = now - ((now % 60) + 60) % 60;
	pthread_mutex_lock(&o->lock);
	for (int i = VT_EVENTS_MINUTES - 1; i >= 0; i--) {
		int64_t minute = cur - (int64_t)i * 60;
		size_t mi = (size_t)(((minute / 60) % VT_EVENTS_MINUTES + VT_EVENTS_MINUTES) % VT_EVENTS_MINUTES);
		const struct vt_obs_minute *m = &o->minutes[mi];
		bool held = m->minute == minute;
		json_array_append_new(per, json_pack("{s:I, s:I, s:I}", "minute", (json_int_t)minute, "ok",
						     (json_int_t)(held ? m->ok : 0), "failed",
						     (json_int_t)(held ? m->failed : 0)));
	}
	for (size_t i = 0; i < VT_OBS_LAT_BUCKETS; i++) {
		json_array_append_new(le, i < VT_OBS_LAT_BUCKETS - 1 ? json_integer(lat_le[i]) : json_null());
		json_array_append_new(counts, json_integer((json_int_t)o->latency[i]));
	}
	json_int_t ok = (json_int_t)o->total_ok, failed = (json_int_t)o->total_failed;
	pthread_mutex_unlock(&o->lock);
	if (json_array_size(per) != VT_EVENTS_MINUTES || json_array_size(counts) != VT_OBS_LAT_BUCKETS)
		goto fail;
	return json_pack("{s:I, s:o, s:{s:o, s:o}, s:{s:I, s:I}}", "now", (json_int_t)now, "per_minute", per,
			 "latency_ms", "le", le, "counts", counts, "totals", "ok", ok, "failed", failed);
fail:
	json_decref(per);
	json_decref(le);
	json_decref(counts);
	return NULL;
}
