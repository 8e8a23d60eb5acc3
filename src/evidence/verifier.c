/* The verifier context: the accepted TEEs and their states (verifier.h). */
#include <stdlib.h>
#include <string.h>

#include "crypto/cache.h"
#include "veritee/verifier.h"

struct slot {
	const struct vt_tee *tee;
	void *state;
	bool built;   /* state_new ran (state may still be NULL: stateless) */
	bool accepts; /* evidence of this TEE is verified */
};

struct vt_verifier {
	struct slot *slots;
	size_t count;
	struct vt_fetch_gate *gate;
	vt_http_get_fn http_get;
	struct vt_cache_set *caches; /* every cache of this verifier (crypto/cache.h) */
};

static struct slot *slot_of(const struct vt_verifier *v, const struct vt_tee *tee)
{
	for (size_t i = 0; v && i < v->count; i++)
		if (v->slots[i].tee == tee)
			return &v->slots[i];
	return NULL;
}

static bool declares(const struct vt_tee *t, const char *opt)
{
	for (const struct vt_tee_option *o = t->options; o && o->name; o++)
		if (strcmp(o->name, opt) == 0)
			return true;
	return false;
}

/* The TEE's options: the common ones it declares, then its own block. */
static vt_status options_for(const struct vt_tee *t, const json_t *block, const json_t *common, json_t **out,
			     struct vt_err *err)
{
	json_t *o = json_object();
	if (o == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, t->name, "out of memory");
	const char *k;
	json_t *val;
	json_object_foreach((json_t *)common, k, val) {
		if (declares(t, k))
			json_object_set(o, k, val);
	}
	json_object_foreach((json_t *)block, k, val) {
		if (!declares(t, k)) {
			char known[400] = "";
			size_t n = 0;
			for (const struct vt_tee_option *p = t->options; p && p->name && n < sizeof(known); p++)
				n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", p->name);
			json_decref(o);
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, k, "tee %s has no option \"%.64s\" (options: %s)",
				       t->name, k, known[0] ? known : "none");
		}
		json_object_set(o, k, val);
	}
	*out = o;
	return VT_OK;
}

/* Build the state of `t` (and first of what it uses). */
static vt_status build(struct vt_verifier *v, const struct vt_tee *t, const struct vt_verifier_settings *s,
		       bool accept, struct vt_err *err)
{
	struct slot *sl = slot_of(v, t);
	if (sl == NULL)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_CONFIG, t->name, "tee not registered");
	for (const struct vt_tee *const *u = t->uses; u && *u; u++) {
		vt_status rc = build(v, *u, s, false, err);
		if (rc == VT_E_NOTFOUND)
			vt_err_clear(err); /* the user may still have what it needs */
		else if (rc != VT_OK)
			return rc;
	}
	if (!sl->built) {
		json_t *opts = NULL;
		vt_status rc = options_for(t, json_object_get(s->tees, t->name), s->common, &opts, err);
		if (rc == VT_OK && t->state_new)
			rc = t->state_new(v, opts, &sl->state, err);
		json_decref(opts);
		if (rc == VT_E_NOTFOUND)
			return rc; /* not configured: left out */
		if (rc != VT_OK)
			return vt_err_context(err, t->name);
		sl->built = true;
	}
	if (accept)
		sl->accepts = true;
	return VT_OK;
}

vt_status vt_verifier_new(const struct vt_verifier_settings *s, struct vt_verifier **out, struct vt_err *err)
{
	struct vt_verifier *v = calloc(1, sizeof(*v));
	size_t n = 0;
	while (vt_tee_at(n))
		n++;
	if (v == NULL || (v->slots = calloc(n ? n : 1, sizeof(*v->slots))) == NULL ||
	    (v->caches = vt_cache_set_new()) == NULL) {
		if (v != NULL)
			free(v->slots);
		free(v);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
	}
	v->count = n;
	v->gate = s->fetch_gate;
	v->http_get = s->http_get;
	for (size_t i = 0; i < n; i++)
		v->slots[i].tee = vt_tee_at(i);
	vt_status rc = VT_OK;
	const char *k;
	json_t *val;
	json_object_foreach((json_t *)s->tees, k, val) {
		const struct vt_tee *t = vt_tee_find(k);
		if (t == NULL) {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, k, "unknown tee \"%.64s\" (known: %s)", k, vt_tee_names());
			goto out;
		}
		if (!json_is_object(val)) {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, k, "the options of tee %s must be a JSON object", t->name);
			goto out;
		}
		if ((t->flags & VT_TEE_CLI_ONLY) && !(s->flags & VT_VERIFIER_ONLY_NAMED)) {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, k, "tee %s is for `veritee verify` only", t->name);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct vt_tee *t = v->slots[i].tee;
		bool named = json_object_get(s->tees, t->name) != NULL;
		if (s->flags & VT_VERIFIER_ONLY_NAMED ? !named
						      : ((t->flags & VT_TEE_CLI_ONLY) || ((t->flags & VT_TEE_INSECURE) && !named)))
			continue;
		rc = build(v, t, s, true, err);
		if (rc == VT_E_NOTFOUND && !((s->flags & VT_VERIFIER_ONLY_NAMED) && named)) {
			rc = VT_OK; /* not configured here: refused at verification */
			vt_err_clear(err);
			continue;
		}
		if (rc != VT_OK)
			goto out;
	}
	/* An insecure device TEE not named (sim-gpu) follows what it uses: it is
	 * accepted exactly when all of those are, i.e. by the same opt-in. */
	for (size_t i = 0; i < n && !(s->flags & VT_VERIFIER_ONLY_NAMED); i++) {
		const struct vt_tee *t = v->slots[i].tee;
		if (!(t->flags & VT_TEE_DEVICE) || !(t->flags & VT_TEE_INSECURE) || v->slots[i].accepts ||
		    json_object_get(s->tees, t->name) != NULL || t->uses == NULL)
			continue;
		bool all = true;
		for (const struct vt_tee *const *u = t->uses; *u; u++)
			all = all && vt_verifier_accepts(v, *u);
		if (all && (rc = build(v, t, s, true, err)) != VT_OK)
			goto out;
	}
out:
	if (rc != VT_OK) {
		vt_verifier_free(v);
		return rc;
	}
	*out = v;
	return VT_OK;
}

void vt_verifier_free(struct vt_verifier *v)
{
	if (v == NULL)
		return;
	for (size_t i = v->count; i-- > 0;) /* users before what they use */
		if (v->slots[i].built && v->slots[i].tee->state_free)
			v->slots[i].tee->state_free(v->slots[i].state);
	vt_cache_set_free(v->caches); /* after the states, which may point at it */
	free(v->slots);
	free(v);
}

bool vt_verifier_accepts(const struct vt_verifier *v, const struct vt_tee *tee)
{
	const struct slot *s = slot_of(v, tee);
	return s != NULL && s->accepts;
}

char *vt_verifier_names(const struct vt_verifier *v)
{
	size_t cap = 1;
	for (size_t i = 0; v && i < v->count; i++)
		cap += strlen(v->slots[i].tee->name) + 1;
	char *out = calloc(1, cap);
	for (size_t i = 0; out && v && i < v->count; i++) {
		if (!v->slots[i].accepts)
			continue;
		if (out[0])
			strcat(out, ",");
		strcat(out, v->slots[i].tee->name);
	}
	return out;
}

struct vt_fetch_gate *vt_verifier_fetch_gate(const struct vt_verifier *v)
{
	return v ? v->gate : NULL;
}

vt_http_get_fn vt_verifier_http_get(const struct vt_verifier *v)
{
	return v ? v->http_get : NULL;
}

struct vt_cache_set *vt_verifier_caches(const struct vt_verifier *v)
{
	return v ? v->caches : NULL;
}

void *vt_verify_state(const struct vt_verify_ctx *ctx, const struct vt_tee *tee)
{
	const struct slot *s = ctx ? slot_of(ctx->verifier, tee) : NULL;
	return s && s->built ? s->state : NULL;
}

vt_status vt_verifier_verify(const struct vt_verifier *v, const struct vt_tee *tee, const json_t *evidence,
			     const struct vt_binding *binding, int64_t now, const char *client, json_t **claims_out,
			     struct vt_err *err)
{
	if (!vt_verifier_accepts(v, tee))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tee", "tee %s is not enabled in this verifier",
			       tee ? tee->name : "(none)");
	struct vt_verify_ctx ctx = {.now = now, .client = client, .verifier = v};
	vt_status rc = tee->verify(&ctx, evidence, binding, claims_out, err);
	return rc == VT_OK ? VT_OK : vt_err_context(err, tee->name);
}

const char *vt_tee_opt_str(const json_t *options, const char *name)
{
	return json_string_value(json_object_get(options, name));
}

char *vt_tee_opt_dup(const json_t *options, const char *name)
{
	const char *s = vt_tee_opt_str(options, name);
	return s ? strdup(s) : NULL;
}

bool vt_tee_opt_flag(const json_t *options, const char *name)
{
	return json_is_true(json_object_get(options, name));
}

vt_status vt_tee_opt_int(const json_t *options, const char *name, int64_t lo, int64_t hi, int64_t *out,
			 struct vt_err *err)
{
	json_t *v = json_object_get(options, name);
	if (v == NULL)
		return VT_OK;
	long long x = 0;
	char *end = NULL;
	bool ok = false;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
		ok = true;
	} else if (json_is_string(v) && json_string_value(v)[0] != '\0') {
		x = strtoll(json_string_value(v), &end, 10);
		ok = *end == '\0';
	}
	if (!ok || x < lo || x > hi)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, name, "option %s must be an integer in %lld..%lld", name,
			       (long long)lo, (long long)hi);
	*out = x;
	return VT_OK;
}
