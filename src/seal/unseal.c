/* Unseal: attest to the brokers named in the header, keep the shares that
 * match their commitments, combine K of them.
 *
 * K brokers are asked at once; another is asked as soon as one of them
 * fails (refused, unreachable, a wrong share), and all the rest when K valid
 * shares have not arrived within the hedge delay.  Asking all N at once
 * would give the same latency only when the brokers and the client have
 * CPUs to spare; with hedging, a healthy K costs K rounds, not N, and a
 * slow or dead broker costs one hedge delay at most. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "veritee/seal.h"

static atomic_uint pending;

unsigned vt_unseal_pending(void)
{
	return atomic_load(&pending);
}

struct slot {
	enum vt_seal_outcome outcome;
	vt_status status;
	char message[4608];
	struct vt_secret *share; /* a verified share */
};

/* Everything the workers touch: theirs and the caller's until the last
 * one leaves (refs), so a caller that stops waiting frees nothing a
 * worker still reads. */
struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned refs, answered, valid;
	struct vt_seal_header h;
	vt_seal_fetch_fn fetch;
	void *fetch_ctx;
	struct vt_client_opts client; /* its strings below are owned copies */
	char *tee, *cacert, *sim_dir, *snp_root, *tdx_root, *tdx_ccel, *tpm_tcti, *tpm_log;
	uint8_t sim_measurement[48];
	struct slot slots[VT_SEAL_MAX_BROKERS];
	bool asked[VT_SEAL_MAX_BROKERS];
};

struct job {
	struct shared *s;
	unsigned i;
	json_t *options; /* this worker's own copy of the attester options */
};

static vt_status default_fetch(void *ctx, const struct vt_client_opts *client, const char *url, const char *resource,
			       struct vt_secret **share_out, struct vt_client_refusal *refusal, struct vt_err *err)
{
	(void)ctx;
	(void)url; /* already client->url */
	return vt_client_get_resource(client, resource, share_out, NULL, refusal, err);
}

static void shared_free(struct shared *s)
{
	for (unsigned i = 0; i < VT_SEAL_MAX_BROKERS; i++)
		vt_secret_free(s->slots[i].share);
	free(s->tee);
	free(s->cacert);
	free(s->sim_dir);
	free(s->snp_root);
	free(s->tdx_root);
	free(s->tdx_ccel);
	free(s->tpm_tcti);
	free(s->tpm_log);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* Drop one reference (with s->mu held); frees on the last. */
static void shared_put_locked(struct shared *s)
{
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last)
		shared_free(s);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct shared *s = j->s;
	const struct vt_seal_broker *b = &s->h.brokers[j->i];
	struct vt_client_opts co = s->client;
	co.url = b->url;
	co.attest_options = j->options;
	struct vt_secret *share = NULL;
	struct vt_client_refusal ref;
	struct vt_err e;
	memset(&ref, 0, sizeof(ref));
	vt_err_clear(&e);
	vt_status rc = s->fetch(s->fetch_ctx, &co, b->url, s->h.resource, &share, &ref, &e);
	struct slot r = {.status = rc};
	if (rc == VT_OK && vt_seal_share_matches(&s->h, b, share)) {
		r.outcome = VT_SEAL_SHARE_OK;
		r.share = share;
		snprintf(r.message, sizeof(r.message), "released a share that matches its commitment");
	} else if (rc == VT_OK) {
		bool sized = share && share->len == VT_SEAL_SHARE_SIZE;
		vt_secret_free(share);
		r.outcome = VT_SEAL_WRONG_SHARE;
		r.status = VT_E_REJECTED;
		snprintf(r.message, sizeof(r.message),
			 "released %s that does not match its commitment in the header: skipped",
			 sized ? "a share" : "a value of the wrong size");
	} else if (ref.http_status != 0) {
		vt_secret_free(share);
		r.outcome = VT_SEAL_REFUSED;
		snprintf(r.message, sizeof(r.message), "refused at %s: HTTP %d %s: %s", ref.stage[0] ? ref.stage : "?", ref.http_status,
			 ref.type, ref.detail);
	} else {
		vt_secret_free(share);
		r.outcome = VT_SEAL_FAILED;
		char why[1024];
		vt_err_format(&e, why, sizeof(why));
		snprintf(r.message, sizeof(r.message), "failed: %s", why);
	}
	json_decref(j->options);
	pthread_mutex_lock(&s->mu);
	s->slots[j->i] = r;
	s->answered++;
	if (r.outcome == VT_SEAL_SHARE_OK)
		s->valid++;
	pthread_cond_broadcast(&s->cv);
	shared_put_locked(s);
	free(j);
	/* Free this thread's OpenSSL state now, not in a thread-exit
	 * destructor that may run after the process has decided to leave
	 * (pending == 0) and so be reported as a leak. */
	OPENSSL_thread_stop();
	atomic_fetch_sub(&pending, 1);
	return NULL;
}

static bool dup_opt(const char *in, char **out)
{
	*out = in ? strdup(in) : NULL;
	return in == NULL || *out != NULL;
}

/* A copy of the caller's client options that lives as long as the workers. */
static bool copy_client(struct shared *s, const struct vt_client_opts *c)
{
	s->client = *c;
	s->client.url = NULL;
	s->client.attest_options = NULL;
	if (!dup_opt(c->tee, &s->tee) || !dup_opt(c->cacert, &s->cacert) || !dup_opt(c->attest.sim_dir, &s->sim_dir) ||
	    !dup_opt(c->attest.snp_configfs_root, &s->snp_root) || !dup_opt(c->attest.tdx_configfs_root, &s->tdx_root) ||
	    !dup_opt(c->attest.tdx_ccel_path, &s->tdx_ccel) || !dup_opt(c->attest.tpm_tcti, &s->tpm_tcti) ||
	    !dup_opt(c->attest.tpm_event_log, &s->tpm_log))
		return false;
	s->client.tee = s->tee;
	s->client.cacert = s->cacert;
	s->client.attest.sim_dir = s->sim_dir;
	s->client.attest.snp_configfs_root = s->snp_root;
	s->client.attest.tdx_configfs_root = s->tdx_root;
	s->client.attest.tdx_ccel_path = s->tdx_ccel;
	s->client.attest.tpm_tcti = s->tpm_tcti;
	s->client.attest.tpm_event_log = s->tpm_log;
	if (c->attest.sim_measurement) {
		memcpy(s->sim_measurement, c->attest.sim_measurement, sizeof(s->sim_measurement));
		s->client.attest.sim_measurement = s->sim_measurement;
	}
	return true;
}

/* Ask broker i (s->mu held): one detached thread, which holds a reference. */
static void ask_locked(struct shared *s, unsigned i, const struct vt_unseal_opts *o)
{
	struct job *j = calloc(1, sizeof(*j));
	int e = ENOMEM;
	s->asked[i] = true;
	if (j != NULL) {
		j->s = s;
		j->i = i;
		j->options = o->client && o->client->attest_options ? json_deep_copy(o->client->attest_options) : NULL;
		s->refs++;
		atomic_fetch_add(&pending, 1);
		/* Workers take no signals: SIGINT/SIGTERM go to the caller's thread. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		e = pthread_create(&t, &attr, worker, j);
		pthread_attr_destroy(&attr);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e != 0) {
			s->refs--;
			atomic_fetch_sub(&pending, 1);
			json_decref(j->options);
			free(j);
		}
	}
	if (e != 0) {
		s->slots[i].outcome = VT_SEAL_FAILED;
		s->slots[i].status = VT_E_INTERNAL;
		snprintf(s->slots[i].message, sizeof(s->slots[i].message), "cannot start a thread: %s", strerror(e));
		s->answered++;
	}
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

vt_status vt_unseal_key(const struct vt_seal_header *h, const struct vt_unseal_opts *o, struct vt_secret **key_out,
			struct vt_seal_broker_result results[VT_SEAL_MAX_BROKERS], struct vt_err *err)
{
	static const struct vt_client_opts no_client;
	if (h->flags & VT_SEAL_FLAG_LOCAL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "unseal",
			       "the file's key is sealed to a local TEE, not to brokers (vt_unseal_local_key)");
	struct shared *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unseal", "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->h = *h;
	s->fetch = o->fetch ? o->fetch : default_fetch;
	s->fetch_ctx = o->fetch_ctx;
	if (!copy_client(s, o->client ? o->client : &no_client)) {
		shared_free(s);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unseal", "out of memory");
	}
	const unsigned n = h->count, k = h->threshold;
	const double hedge = o->hedge_ms < 0 ? 0 : (o->hedge_ms == 0 ? VT_UNSEAL_HEDGE_MS : o->hedge_ms) / 1000.0;
	s->refs = 1; /* the caller's; each asked broker's thread adds one */
	unsigned next = 0;
	bool cancelled = false, nomem = false;
	pthread_mutex_lock(&s->mu);
	const double hedge_at = mono_s() + hedge;
	for (;;) {
		/* Ask more while the brokers still out cannot make up K, or (after
		 * the hedge delay) all the others. */
		unsigned out = 0;
		for (unsigned i = 0; i < next; i++)
			out += s->asked[i] && s->slots[i].outcome == VT_SEAL_PENDING;
		bool late = o->hedge_ms < 0 || mono_s() >= hedge_at;
		while (next < n && (late || s->valid + out < k)) {
			ask_locked(s, next++, o);
			out++;
		}
		if (s->valid >= k || s->answered >= n || (cancelled = o->cancel && *o->cancel))
			break;
		double wake = mono_s() + 0.1; /* look at `cancel` ten times a second */
		if (!late && hedge_at < wake)
			wake = hedge_at;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double dt = wake - mono_s();
		long ns = dt > 0 ? (long)(dt * 1e9) : 0;
		ts.tv_sec += ns / 1000000000L;
		ts.tv_nsec += ns % 1000000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	unsigned valid = s->valid, answered = s->answered;
	struct vt_secret *picked[VT_SEAL_MAX_BROKERS] = {0};
	uint8_t idx[VT_SEAL_MAX_BROKERS];
	unsigned got = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct slot *sl = &s->slots[i];
		if (results) {
			results[i].outcome = sl->outcome;
			results[i].status = sl->status;
			snprintf(results[i].message, sizeof(results[i].message), "%s",
				 !s->asked[i]			   ? "not asked: enough valid shares came first"
				 : sl->outcome == VT_SEAL_PENDING ? "no answer yet: not waited for"
								  : sl->message);
		}
		if (valid >= k && !cancelled && sl->outcome == VT_SEAL_SHARE_OK && got < k) {
			idx[got] = h->brokers[i].index;
			if ((picked[got] = vt_secret_from(sl->share->data, sl->share->len)) == NULL)
				nomem = true;
			got++;
		}
	}
	vt_status worst = VT_E_IO;
	for (unsigned i = 0; i < n; i++) {
		const struct slot *sl = &s->slots[i];
		if (sl->outcome == VT_SEAL_REFUSED && sl->status == VT_E_POLICY)
			worst = VT_E_POLICY;
		else if ((sl->outcome == VT_SEAL_REFUSED || sl->outcome == VT_SEAL_WRONG_SHARE) && worst != VT_E_POLICY)
			worst = VT_E_REJECTED;
	}
	shared_put_locked(s);

	vt_status rc;
	if (cancelled)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "unseal", "cancelled");
	else if (valid < k)
		rc = vt_fail(err, worst, worst == VT_E_IO ? VT_STEP_IO : VT_STEP_POLICY, "brokers",
			     "%u of %u brokers released a valid share (%u answered); %u needed", valid, n, answered, k);
	else if (nomem)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unseal", "out of memory");
	else
		rc = vt_seal_combine((uint8_t)k, idx, picked, key_out, err);
	for (unsigned i = 0; i < got; i++)
		vt_secret_free(picked[i]);
	return rc;
}
