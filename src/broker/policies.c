/* The broker's live policies and reference values (guarded by b->lock). */
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

/* -------------------------------------------------------------- policy */


json_t *vt_broker_refval(void *ctx, const char *name)
{
	struct vt_broker *b = ctx; /* the broker */
	pthread_rwlock_rdlock(&b->lock);
	json_t *v = json_incref(json_object_get(b->refvals, name));
	pthread_rwlock_unlock(&b->lock);
	return v;
}

/* Find a policy; the caller holds b->lock. */
static struct vt_policy_slot *policy_slot(struct vt_broker *b, const char *id)
{
	for (size_t i = 0; i < VT_MAX_POLICIES; i++)
		if (b->policies[i].policy && strcmp(b->policies[i].id, id) == 0)
			return &b->policies[i];
	return NULL;
}

/* Take the read lock and return the policy `id` (or NULL).  The caller must
 * call vt_broker_policy_release whatever the result, after it is done with it. */
struct vt_policy *vt_broker_policy_acquire(struct vt_broker *b, const char *id)
{
	pthread_rwlock_rdlock(&b->lock);
	struct vt_policy_slot *s = policy_slot(b, id);
	return s ? s->policy : NULL;
}

void vt_broker_policy_release(struct vt_broker *b)
{
	pthread_rwlock_unlock(&b->lock);
}

/* Whether `id` can be installed (it exists, or a slot is free). */
bool vt_broker_policy_has_room(struct vt_broker *b, const char *id)
{
	pthread_rwlock_rdlock(&b->lock);
	bool ok = policy_slot(b, id) != NULL;
	for (size_t i = 0; !ok && i < VT_MAX_POLICIES; i++)
		ok = b->policies[i].policy == NULL;
	pthread_rwlock_unlock(&b->lock);
	return ok;
}

/* Install a parsed policy under `id`, replacing (and freeing) an older one.
 * Takes ownership of p. */
vt_status vt_broker_policy_install(struct vt_broker *b, const char *id, struct vt_policy *p, struct vt_err *err)
{
	vt_status rc = VT_OK;
	pthread_rwlock_wrlock(&b->lock);
	struct vt_policy_slot *s = policy_slot(b, id);
	for (size_t i = 0; s == NULL && i < VT_MAX_POLICIES; i++)
		if (b->policies[i].policy == NULL)
			s = &b->policies[i];
	if (s == NULL || strlen(id) >= sizeof(s->id)) {
		rc = vt_fail(err, VT_E_LIMIT, VT_STEP_POLICY, "policy_id", "too many policies (max %d)", VT_MAX_POLICIES);
		vt_policy_free(p);
	} else {
		vt_policy_free(s->policy);
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->policy = p;
	}
	pthread_rwlock_unlock(&b->lock);
	return rc;
}

/* Take policy `id` out of force (an uploaded policy without a built-in
 * default, deleted by an admin). */
void vt_broker_policy_remove(struct vt_broker *b, const char *id)
{
	pthread_rwlock_wrlock(&b->lock);
	struct vt_policy_slot *s = policy_slot(b, id);
	if (s != NULL) {
		vt_policy_free(s->policy);
		s->policy = NULL;
		s->id[0] = '\0';
	}
	pthread_rwlock_unlock(&b->lock);
}
