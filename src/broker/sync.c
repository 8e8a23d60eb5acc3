/*
 * Replicas see each other's policy and reference-value changes within a
 * second, without a restart.  Every kv write bumps a generation counter in
 * the same transaction and, on PostgreSQL, sends NOTIFY veritee_kv.  One
 * thread per broker waits for the notice (at most 500 ms, so a lost notice
 * or a LISTEN connection being re-established costs at most that), reads
 * the generation, and when it moved reloads the whole set with
 * vt_broker_reload (the old set stays in force if that fails; the next
 * round tries again).  The generation is read before the reload, so a
 * change committed during a reload causes one more.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "broker/broker_internal.h"

#define WAIT_MS 500

static void *sync_main(void *arg)
{
	struct vt_broker *b = arg;
	while (!atomic_load(&b->sync_stop)) {
		vt_store_wait_change(b->store, WAIT_MS);
		if (atomic_load(&b->sync_stop))
			break;
		int64_t gen = 0;
		if (vt_store_generation(b->store, &gen, NULL) != VT_OK || gen == b->sync_generation)
			continue;
		if (vt_broker_reload(b, NULL) == VT_OK) {
			b->sync_generation = gen;
			atomic_fetch_add(&b->m.reloads, 1);
		}
	}
	return NULL;
}

/* b->sync_generation must hold the generation read before the policies in
 * force were loaded. */
vt_status vt_broker_sync_start(struct vt_broker *b, struct vt_err *err)
{
	atomic_store(&b->sync_stop, false);
	if (pthread_create(&b->sync_thread, NULL, sync_main, b) != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_STORAGE, "", "cannot start the change-notification thread");
	b->sync_running = true;
	return VT_OK;
}

void vt_broker_sync_stop(struct vt_broker *b)
{
	if (!b->sync_running)
		return;
	atomic_store(&b->sync_stop, true);
	pthread_join(b->sync_thread, NULL);
	b->sync_running = false;
}
