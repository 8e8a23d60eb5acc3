/* libFuzzer target: parse a policy; when it parses, evaluate it against a
 * fixed input (with and without a resource) and render every output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "veritee/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char input_text[] =
	"{\"sim\":{\"measurement\":\"aa11\",\"svn\":\"3\",\"debug\":false,\"list\":[1,\"x\",null,{\"k\":2.5}]},"
	" \"submods\":{\"cpu0\":{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{\"hardware\":2}}},"
	" \"a/b\":{\"~\":7},\"\":\"empty key\",\"big\":\"99999999999999999999\"}";

static json_t *refvals(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "scalar") == 0)
		return json_integer(3);
	if (strcmp(name, "missing") == 0)
		return NULL;
	return json_pack("[s,s,i,b]", "aa11", "bb22", 3, 0);
}

static void eval_and_render(const struct vt_policy *p, const json_t *in, const char *resource)
{
	struct vt_appraisal a;
	struct vt_err err;
	vt_err_clear(&err);
	if (vt_policy_evaluate(p, in, resource, refvals, NULL, &a, &err) != VT_OK)
		return;
	(void)vt_appraisal_status(&a);
	char *e = vt_appraisal_explain(&a);
	free(e);
	json_t *r = vt_appraisal_rules_json(&a);
	char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
	free(s);
	json_decref(r);
	json_t *t = vt_appraisal_trust_json(&a);
	json_decref(t);
	vt_appraisal_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *in;
	if (in == NULL) {
		in = json_loads(input_text, 0, NULL);
		if (in == NULL)
			abort();
	}
	struct vt_policy *p = NULL;
	struct vt_err err;
	vt_err_clear(&err);
	if (vt_policy_parse((const char *)data, size, &p, &err) != VT_OK) {
		if (p != NULL || err.code == VT_OK)
			abort(); /* a failure must leave no policy and say why */
		return 0;
	}
	(void)vt_policy_id(p);
	eval_and_render(p, in, NULL);
	eval_and_render(p, in, "default/key/prod-1");
	vt_policy_free(p);
	return 0;
}
