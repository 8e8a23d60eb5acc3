/*
 * Observations of the broker (events.c): what each request's handler did
 * (the request note, for the request log line), the request-duration and
 * verification metrics, and the attestation event record the admin API
 * shows (the last 500 attestations, per-minute counts of the last hour, an
 * attestation-latency histogram).  The state lives in the broker struct.
 */
#ifndef VT_BROKER_EVENTS_H
#define VT_BROKER_EVENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"
#include "veritee/util.h"

#define VT_EVENTS_MAX 500       /* attestations kept (GET admin/attestations: limit 1..500) */
#define VT_EVENTS_MINUTES 60    /* per-minute counts kept */
#define VT_OBS_HTTP_BUCKETS 13  /* request-duration buckets, the last +Inf */
#define VT_OBS_LAT_BUCKETS 11   /* attestation-latency buckets (ms), the last +Inf */
#define VT_OBS_TEES 32          /* TEE descriptors counted by name; others are "unknown" */
#define VT_OBS_STEPS 14         /* vt_step values (VT_STEP_NONE .. VT_STEP_IO) */

/* The endpoint label of a request: a fixed set, never the raw path. */
enum vt_endpoint {
	VT_EP_AUTH, VT_EP_ATTEST, VT_EP_RESOURCE, VT_EP_ADMIN, VT_EP_TPM, VT_EP_METRICS, VT_EP_HEALTH, VT_EP_OTHER,
	VT_EP_COUNT
};

/* What a handler did with one request (vt_http_response.note), filled by
 * the handlers and respond.c, read by vt_broker_handle. */
struct vt_request_note {
	bool attest;            /* the /attest handler ran: an attestation to record */
	bool ok;                /* it issued a token */
	const char *tee;        /* a descriptor's name (static), or NULL */
	const char *outcome;    /* static: "released", "denied", ... (NULL: the EAR status or "failed") */
	char status[24];        /* EAR status of an attestation that issued a token */
	bool failed;            /* a refusal or an error record was answered */
	vt_step step;
	char field[64];
	char variant[48];       /* the KBS error type answered */
	char detail[512];       /* the refusal's text: for the admin event record */
	bool detail_loggable;   /* true when detail is the broker's own text (no evidence values) */
	char rule[128];         /* the first policy rule that failed, when a policy decided */
	char explanation[512];  /* its explanation */
};

struct vt_attest_event {
	int64_t time;
	char request_id[17];
	char client[48];
	const char *tee;        /* static or NULL */
	bool ok;
	char status[24];
	bool has_step;
	vt_step step;
	char field[64];
	char detail[512];
	char rule[128];
	char explanation[512];
	double duration_ms;
};

struct vt_obs_minute {
	int64_t minute;         /* unix seconds of the minute's start; 0 = unused */
	uint64_t ok, failed;
};

struct vt_obs {
	/* Request metrics: lock-free counters */
	atomic_ulong http_bucket[VT_EP_COUNT][VT_OBS_HTTP_BUCKETS]; /* not cumulative */
	atomic_ulong http_count[VT_EP_COUNT];
	atomic_ulong http_sum_us[VT_EP_COUNT];
	atomic_ulong verif_ok[VT_OBS_TEES + 1];                     /* [VT_OBS_TEES] = "unknown" */
	atomic_ulong verif_failed[VT_OBS_TEES + 1][VT_OBS_STEPS];

	/* The attestation event record: under the lock */
	pthread_mutex_t lock;
	struct vt_attest_event ring[VT_EVENTS_MAX];
	size_t next, count;     /* the slot written next; entries held */
	struct vt_obs_minute minutes[VT_EVENTS_MINUTES];
	uint64_t latency[VT_OBS_LAT_BUCKETS]; /* not cumulative */
	uint64_t total_ok, total_failed;
};

void vt_obs_init(struct vt_obs *o);
void vt_obs_destroy(struct vt_obs *o);

/* The endpoint label of a path. */
enum vt_endpoint vt_obs_endpoint(const char *path);
/* One request handled in `seconds`. */
void vt_obs_request(struct vt_obs *o, enum vt_endpoint ep, double seconds);
/* One attestation (counted in the metrics and recorded); ev->time is the
 * broker's clock. */
void vt_obs_attestation(struct vt_obs *o, const struct vt_attest_event *ev);

/* Copy `src` into dst[n] as printable ASCII: control bytes, '\\' and bytes
 * over 0x7e become \xNN, so client bytes can neither forge log lines nor
 * make invalid JSON strings; truncated to fit. */
void vt_obs_copy_ascii(char *dst, size_t n, const char *src);

/* Append the Prometheus text of the request and verification metrics. */
vt_status vt_obs_metrics(struct vt_obs *o, struct vt_buf *out, struct vt_err *err);
/* {"attestations":[...]} of the newest `limit`, newest first (new reference, NULL: no memory). */
json_t *vt_obs_attestations_json(struct vt_obs *o, size_t limit);
/* {"now","per_minute","latency_ms","totals"} at `now` (new reference, NULL: no memory). */
json_t *vt_obs_stats_json(struct vt_obs *o, int64_t now);

#endif
