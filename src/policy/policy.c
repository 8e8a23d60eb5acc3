/* Declarative appraisal and resource policies: see include/veritee/policy.h
 * and docs/policy.md. */
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/json.h"
#include "veritee/policy.h"
#include "veritee/util.h"

const char *const vt_trust_claim_names[VT_TRUST_CLAIMS] = {
	"instance-identity", "configuration", "executables",    "file-system",
	"hardware",          "runtime-opaque", "storage-opaque", "sourced-data",
};

enum op {
	OP_NONE = 0,
	OP_EQUALS,
	OP_NOT_EQUALS,
	OP_ONE_OF,
	OP_IN_REFERENCE,
	OP_AT_LEAST,
	OP_AT_MOST,
	OP_EXISTS,
};

static const char *const op_names[] = {
	[OP_NONE] = "",          [OP_EQUALS] = "equals",     [OP_NOT_EQUALS] = "not_equals",
	[OP_ONE_OF] = "one_of",  [OP_IN_REFERENCE] = "in_reference", [OP_AT_LEAST] = "at_least",
	[OP_AT_MOST] = "at_most", [OP_EXISTS] = "exists",
};

struct trust_set {
	int8_t val[VT_TRUST_CLAIMS];
	bool set[VT_TRUST_CLAIMS];
};

struct vt_rule {
	char *name;
	char *claim;
	enum op op;
	json_t *operand; /* literal operand (all operators but in_reference) */
	char *refname;   /* in_reference */
	struct trust_set on_pass, on_fail;
	char **resources; /* NULL = applies to every request that is not filtered */
	size_t nresources;
};

struct vt_policy {
	char *id;
	struct trust_set defaults;
	struct vt_rule *rules;
	size_t nrules;
};

/* ------------------------------------------------------------------ parse */

static void rule_free(struct vt_rule *r)
{
	free(r->name);
	free(r->claim);
	json_decref(r->operand);
	free(r->refname);
	for (size_t i = 0; i < r->nresources; i++)
		free(r->resources[i]);
	free(r->resources);
	memset(r, 0, sizeof(*r));
}

void vt_policy_free(struct vt_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p->id);
	free(p);
}

const char *vt_policy_id(const struct vt_policy *p)
{
	return (p && p->id) ? p->id : "";
}

/* All parse failures are VT_E_PARSE/VT_STEP_PARSE naming a field path; the
 * detail is prefixed with the rule label when inside a rule. */
#define PFAIL(err, field, ...) vt_fail((err), VT_E_PARSE, VT_STEP_PARSE, (field), __VA_ARGS__)

static int trust_index(const char *name)
{
	for (int i = 0; i < VT_TRUST_CLAIMS; i++)
		if (strcmp(name, vt_trust_claim_names[i]) == 0)
			return i;
	return -1;
}

/* `label` is "" (top level) or e.g. "rule \"x\": ". */
static vt_status parse_trust(const json_t *obj, const char *path, const char *label, struct trust_set *out,
			     struct vt_err *err)
{
	char field[320];
	if (!json_is_object(obj))
		return PFAIL(err, path, "%s\"%s\" must be an object of trust claims", label, path);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		snprintf(field, sizeof(field), "%s.%s", path, key);
		int idx = trust_index(key);
		if (idx < 0)
			return PFAIL(err, field,
				     "%sunknown trust claim \"%s\" (want instance-identity, configuration, "
				     "executables, file-system, hardware, runtime-opaque, storage-opaque, sourced-data)",
				     label, key);
		if (!json_is_integer(v))
			return PFAIL(err, field, "%strust claim \"%s\" must be an integer", label, key);
		json_int_t x = json_integer_value(v);
		if (x < -128 || x > 127)
			return PFAIL(err, field, "%strust claim \"%s\" = %lld outside -128..127", label, key, (long long)x);
		out->val[idx] = (int8_t)x;
		out->set[idx] = true;
	}
	return VT_OK;
}

/* RFC 6901: "" or "/"-prefixed; "~" only as "~0" or "~1". */
static bool pointer_valid(const char *s)
{
	if (*s != '\0' && *s != '/')
		return false;
	for (; *s; s++)
		if (*s == '~' && s[1] != '0' && s[1] != '1')
			return false;
	return true;
}

#define VT_POLICY_MAX_GLOB 1024

static vt_status parse_resources(const json_t *v, const char *path, const char *label, struct vt_rule *r,
				 struct vt_err *err)
{
	char field[384];
	if (!json_is_array(v) || json_array_size(v) == 0)
		return PFAIL(err, path, "%s\"resources\" must be a non-empty array of glob strings", label);
	size_t n = json_array_size(v);
	r->resources = calloc(n, sizeof(*r->resources));
	if (r->resources == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, path, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *g = json_array_get(v, i);
		snprintf(field, sizeof(field), "%s[%zu]", path, i);
		if (!json_is_string(g) || json_string_length(g) == 0)
			return PFAIL(err, field, "%sresource pattern must be a non-empty string", label);
		if (json_string_length(g) > VT_POLICY_MAX_GLOB)
			return PFAIL(err, field, "%sresource pattern longer than %d bytes", label, VT_POLICY_MAX_GLOB);
		r->resources[i] = strdup(json_string_value(g));
		if (r->resources[i] == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, path, "out of memory");
		r->nresources = i + 1;
	}
	return VT_OK;
}

/* An operator member: check the operand's type and record it. */
static vt_status parse_operator(enum op op, const json_t *v, const char *field, const char *label,
				struct vt_rule *r, struct vt_err *err)
{
	if (r->op != OP_NONE)
		return PFAIL(err, field, "%stwo operators (\"%s\" and \"%s\"); a rule has exactly one", label,
			     op_names[r->op], op_names[op]);
	switch (op) {
	case OP_ONE_OF:
		if (!json_is_array(v))
			return PFAIL(err, field, "%s\"one_of\" must be an array", label);
		break;
	case OP_IN_REFERENCE:
		if (!json_is_string(v) || json_string_length(v) == 0)
			return PFAIL(err, field, "%s\"in_reference\" must be a non-empty reference value name", label);
		r->refname = strdup(json_string_value(v));
		if (r->refname == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
		r->op = op;
		return VT_OK;
	case OP_AT_LEAST:
	case OP_AT_MOST:
		if (!json_is_integer(v))
			return PFAIL(err, field, "%s\"%s\" must be an integer", label, op_names[op]);
		break;
	case OP_EXISTS:
		if (!json_is_boolean(v))
			return PFAIL(err, field, "%s\"exists\" must be true or false", label);
		break;
	default:
		break; /* equals / not_equals: any JSON value */
	}
	r->operand = json_incref((json_t *)v);
	r->op = op;
	return VT_OK;
}

static enum op op_from_name(const char *key)
{
	for (int i = OP_EQUALS; i <= OP_EXISTS; i++)
		if (strcmp(key, op_names[i]) == 0)
			return (enum op)i;
	return OP_NONE;
}

static vt_status parse_rule(const json_t *obj, size_t idx, const struct vt_rule *prev, struct vt_rule *r,
			    struct vt_err *err)
{
	char path[32], field[320], label[320];
	snprintf(path, sizeof(path), "rules[%zu]", idx);
	if (!json_is_object(obj))
		return PFAIL(err, path, "rule #%zu must be an object", idx);

	/* The name first, so every later error can name the rule. */
	const json_t *name = json_object_get(obj, "name");
	snprintf(field, sizeof(field), "%s.name", path);
	if (name == NULL)
		return PFAIL(err, field, "rule #%zu: missing \"name\"", idx);
	if (!json_is_string(name) || json_string_length(name) == 0)
		return PFAIL(err, field, "rule #%zu: \"name\" must be a non-empty string", idx);
	const char *nm = json_string_value(name);
	for (size_t i = 0; i < idx; i++)
		if (strcmp(prev[i].name, nm) == 0)
			return PFAIL(err, field, "rule \"%.200s\": duplicate rule name (also rules[%zu])", nm, i);
	snprintf(label, sizeof(label), "rule \"%.200s\": ", nm);
	r->name = strdup(nm);
	if (r->name == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");

	const char *key;
	json_t *v;
	vt_status rc;
	json_object_foreach((json_t *)obj, key, v)
	{
		snprintf(field, sizeof(field), "%s.%s", path, key);
		enum op op = op_from_name(key);
		if (op != OP_NONE) {
			rc = parse_operator(op, v, field, label, r, err);
		} else if (strcmp(key, "name") == 0) {
			rc = VT_OK;
		} else if (strcmp(key, "claim") == 0) {
			if (!json_is_string(v))
				return PFAIL(err, field, "%s\"claim\" must be a JSON pointer string", label);
			if (!pointer_valid(json_string_value(v)))
				return PFAIL(err, field,
					     "%s\"claim\" is not an RFC 6901 pointer: \"%.200s\" (must be \"\" or start "
					     "with \"/\"; \"~\" only as ~0 or ~1)",
					     label, json_string_value(v));
			r->claim = strdup(json_string_value(v));
			if (r->claim == NULL)
				return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
			rc = VT_OK;
		} else if (strcmp(key, "on_pass") == 0) {
			rc = parse_trust(v, field, label, &r->on_pass, err);
		} else if (strcmp(key, "on_fail") == 0) {
			rc = parse_trust(v, field, label, &r->on_fail, err);
		} else if (strcmp(key, "resources") == 0) {
			rc = parse_resources(v, field, label, r, err);
		} else if (strcmp(key, "description") == 0) {
			rc = json_is_string(v) ? VT_OK : PFAIL(err, field, "%s\"description\" must be a string", label);
		} else {
			rc = PFAIL(err, field, "%sunknown member \"%.100s\"", label, key);
		}
		if (rc != VT_OK)
			return rc;
	}
	if (r->claim == NULL)
		return PFAIL(err, path, "%smissing \"claim\" (an RFC 6901 pointer)", label);
	if (r->op == OP_NONE)
		return PFAIL(err, path,
			     "%sno operator (want one of equals, not_equals, one_of, in_reference, at_least, at_most, "
			     "exists)",
			     label);
	return VT_OK;
}

vt_status vt_policy_parse(const char *text, size_t len, struct vt_policy **out, struct vt_err *err)
{
	vt_status rc;
	json_t *root = NULL;
	struct vt_policy *p = NULL;

	if (out == NULL || (text == NULL && len != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_POLICY, "", "vt_policy_parse: bad arguments");
	*out = NULL;
	if (len > VT_POLICY_MAX_TEXT)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "policy", "policy text of %zu bytes exceeds %u bytes",
			       len, VT_POLICY_MAX_TEXT);
	VT_GUARD(vt_json_parse(text ? text : "", len, VT_POLICY_MAX_TEXT, &root, err));
	if (!json_is_object(root)) {
		rc = PFAIL(err, "policy", "policy must be a JSON object");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}

	const json_t *ver = json_object_get(root, "version");
	if (ver == NULL) {
		rc = PFAIL(err, "version", "missing \"version\" (must be 1)");
		goto out;
	}
	if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
		rc = PFAIL(err, "version", "unsupported policy version (must be the integer 1)");
		goto out;
	}

	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "version") == 0)
			continue;
		if (strcmp(key, "id") == 0) {
			if (!json_is_string(v)) {
				rc = PFAIL(err, "id", "\"id\" must be a string");
				goto out;
			}
			p->id = strdup(json_string_value(v));
			if (p->id == NULL) {
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "id", "out of memory");
				goto out;
			}
		} else if (strcmp(key, "trust_defaults") == 0) {
			VT_GUARD(parse_trust(v, "trust_defaults", "", &p->defaults, err));
		} else if (strcmp(key, "rules") == 0) {
			if (!json_is_array(v)) {
				rc = PFAIL(err, "rules", "\"rules\" must be an array");
				goto out;
			}
			size_t n = json_array_size(v);
			if (n > VT_POLICY_MAX_RULES) {
				rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "rules", "%zu rules exceed the limit of %d",
					     n, VT_POLICY_MAX_RULES);
				goto out;
			}
			if (n == 0)
				continue;
			p->rules = calloc(n, sizeof(*p->rules));
			if (p->rules == NULL) {
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rules", "out of memory");
				goto out;
			}
			for (size_t i = 0; i < n; i++) {
				/* Count the slot first so a partly parsed rule is freed. */
				p->nrules = i + 1;
				VT_GUARD(parse_rule(json_array_get(v, i), i, p->rules, &p->rules[i], err));
			}
		} else {
			rc = PFAIL(err, key, "unknown member \"%.100s\"", key);
			goto out;
		}
	}
	*out = p;
	p = NULL;
	rc = VT_OK;
out:
	vt_policy_free(p);
	json_decref(root);
	return rc;
}

/* --------------------------------------------------------------- evaluate */

static void result_free(struct vt_rule_result *r)
{
	free(r->name);
	free(r->claim);
	free(r->op);
	json_decref(r->seen);
	json_decref(r->allowed);
	free(r->why);
}

void vt_appraisal_free(struct vt_appraisal *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->count; i++)
		result_free(&a->results[i]);
	free(a->results);
	memset(a, 0, sizeof(*a));
}

static bool rule_applies(const struct vt_rule *r, const char *resource)
{
	if (r->resources == NULL)
		return true;
	if (resource == NULL)
		return false;
	for (size_t i = 0; i < r->nresources; i++)
		if (fnmatch(r->resources[i], resource, 0) == 0)
			return true;
	return false;
}

/* Integer value of a claim: a JSON integer or a string of decimal digits.
 * Returns 0 and *v, 1 when the digits exceed the int64 range (positive and
 * larger than any bound), -1 when the claim is not an integer. */
static int claim_integer(const json_t *c, long long *v)
{
	if (json_is_integer(c)) {
		*v = (long long)json_integer_value(c);
		return 0;
	}
	if (!json_is_string(c))
		return -1;
	const char *s = json_string_value(c);
	size_t n = json_string_length(c);
	if (n == 0)
		return -1;
	long long x = 0;
	bool huge = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		int d = s[i] - '0';
		if (!huge && x > (LLONG_MAX - d) / 10)
			huge = true;
		if (!huge)
			x = x * 10 + d;
	}
	*v = x;
	return huge ? 1 : 0;
}

/* A reference value name quoted for a message ("name"), escaped and capped. */
static char *quote_name(const char *s)
{
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return q;
}

/* `prefix`, the quoted reference value name, `suffix`. */
static char *why_ref(const char *prefix, const char *refname, const char *suffix)
{
	char *q = quote_name(refname);
	if (q == NULL)
		return NULL;
	size_t a = strlen(prefix), n = strlen(q), z = strlen(suffix);
	char *w = malloc(a + n + z + 1);
	if (w != NULL) {
		memcpy(w, prefix, a);
		memcpy(w + a, q, n);
		memcpy(w + a + n, suffix, z + 1);
	}
	free(q);
	return w;
}

static bool in_array(const json_t *arr, const json_t *v)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (json_equal(json_array_get(arr, i), v))
			return true;
	return false;
}

static vt_status eval_rule(const struct vt_rule *r, const json_t *input, vt_refval_fn refvals, void *refctx,
			   struct vt_rule_result *res, struct vt_err *err)
{
	const char *why = NULL; /* static reason, or */
	char *why_dyn = NULL;   /* an allocated one */
	bool passed = false;

	res->name = strdup(r->name);
	res->claim = strdup(r->claim);
	res->op = strdup(op_names[r->op]);
	if (res->name == NULL || res->claim == NULL || res->op == NULL)
		goto nomem;

	json_t *seen = vt_json_pointer(input, r->claim);
	res->seen = json_incref(seen);

	if (r->op == OP_IN_REFERENCE)
		res->allowed = refvals ? refvals(refctx, r->refname) : NULL;
	else
		res->allowed = json_incref(r->operand);
	const json_t *allowed = res->allowed;

	if (r->op == OP_EXISTS) {
		bool want = json_is_true(r->operand);
		passed = (seen != NULL) == want;
		if (!passed)
			why = seen ? "claim present" : "claim absent";
	} else if (r->op == OP_IN_REFERENCE && allowed == NULL) {
		why_dyn = why_ref("reference value ", r->refname, " not registered");
		if (why_dyn == NULL)
			goto nomem;
	} else if (seen == NULL) {
		why = "claim absent";
	} else {
		switch (r->op) {
		case OP_EQUALS:
			passed = json_equal(seen, allowed);
			why = "not equal";
			break;
		case OP_NOT_EQUALS:
			passed = !json_equal(seen, allowed);
			why = "equal to excluded value";
			break;
		case OP_ONE_OF:
			passed = in_array(allowed, seen);
			why = "not one of the allowed values";
			break;
		case OP_IN_REFERENCE:
			if (json_is_array(allowed)) {
				passed = in_array(allowed, seen);
				if (!passed)
					why_dyn = why_ref("not in reference value ", r->refname, "");
			} else {
				passed = json_equal(seen, allowed);
				if (!passed)
					why_dyn = why_ref("not equal to reference value ", r->refname, "");
			}
			if (!passed && why_dyn == NULL)
				goto nomem;
			break;
		case OP_AT_LEAST:
		case OP_AT_MOST: {
			long long x = 0, bound = (long long)json_integer_value(allowed);
			int k = claim_integer(seen, &x);
			if (k < 0) {
				why = "not an integer";
			} else if (r->op == OP_AT_LEAST) {
				passed = k > 0 || x >= bound;
				why = "below minimum";
			} else {
				passed = k == 0 && x <= bound;
				why = "above maximum";
			}
			break;
		}
		default:
			why = "unknown operator";
			break;
		}
	}
	res->passed = passed;
	if (!passed) {
		res->why = why_dyn ? why_dyn : strdup(why ? why : "failed");
		why_dyn = NULL;
		if (res->why == NULL)
			goto nomem;
	}
	free(why_dyn);
	return VT_OK;
nomem:
	free(why_dyn);
	return vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, r->name, "out of memory");
}

/*
 * A "*" segment in a claim pointer means "every member": the rule passes
 * when it passes for each member of that object or array (and there is at
 * least one).  A failure reports the first failing member's concrete path,
 * e.g. /submods/gpu1/ear.status.  At most MAX_EXPANSIONS concrete claims.
 */
#define MAX_EXPANSIONS 256

static char *pointer_escape(const char *key)
{
	size_t n = 0;
	for (const char *k = key; *k; k++)
		n += (*k == '~' || *k == '/') ? 2 : 1;
	char *out = malloc(n + 1), *o = out;
	if (out == NULL)
		return NULL;
	for (const char *k = key; *k; k++) {
		if (*k == '~' || *k == '/') {
			*o++ = '~';
			*o++ = *k == '~' ? '0' : '1';
		} else {
			*o++ = *k;
		}
	}
	*o = '\0';
	return out;
}

static vt_status eval_any(const struct vt_rule *r, const char *claim, const json_t *input, vt_refval_fn refvals,
			  void *refctx, struct vt_rule_result *res, size_t *budget, struct vt_err *err)
{
	const char *star = strstr(claim, "/*");
	while (star && star[2] != '\0' && star[2] != '/')
		star = strstr(star + 2, "/*");
	struct vt_rule one = *r;
	if (star == NULL) {
		one.claim = (char *)claim;
		return eval_rule(&one, input, refvals, refctx, res, err);
	}
	size_t plen = (size_t)(star - claim);
	char *prefix = strndup(claim, plen);
	if (prefix == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, r->name, "out of memory");
	const json_t *container = vt_json_pointer(input, prefix);
	size_t members = json_is_object(container) ? json_object_size(container)
			 : json_is_array(container) ? json_array_size(container) : 0;
	vt_status rc = VT_OK;
	if (members == 0) {
		/* Nothing to check: evaluate the pattern itself, which is absent. */
		one.claim = (char *)claim;
		free(prefix);
		rc = eval_rule(&one, input, refvals, refctx, res, err);
		if (rc == VT_OK && r->op != OP_EXISTS) {
			res->passed = false; /* "every member" of nothing proves nothing */
			free(res->why);
			res->why = strdup("no member matches \"*\"");
			if (res->why == NULL)
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, r->name, "out of memory");
		}
		return rc;
	}
	void *it = json_is_object(container) ? json_object_iter((json_t *)container) : NULL;
	for (size_t i = 0; i < members; i++) {
		char idx[24];
		const char *key = idx;
		if (it) {
			key = json_object_iter_key(it);
			it = json_object_iter_next((json_t *)container, it);
		} else {
			snprintf(idx, sizeof(idx), "%zu", i);
		}
		if (*budget == 0) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_POLICY, r->name, "rule \"%s\": \"*\" expands to more than %d claims",
				     r->name, MAX_EXPANSIONS);
			break;
		}
		(*budget)--;
		char *esc = pointer_escape(key), *full = NULL;
		if (esc == NULL || asprintf(&full, "%s/%s%s", prefix, esc, star + 2) < 0) {
			free(esc);
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, r->name, "out of memory");
			break;
		}
		free(esc);
		struct vt_rule_result sub = {0};
		rc = eval_any(r, full, input, refvals, refctx, &sub, budget, err);
		free(full);
		if (rc != VT_OK) {
			result_free(&sub);
			break;
		}
		bool last = i + 1 == members;
		if (!sub.passed || last) {
			*res = sub; /* the first failing member, or the last one when all passed */
			if (sub.passed) {
				/* all passed: report the pattern */
				char *pat = strdup(r->claim);
				if (pat) {
					free(res->claim);
					res->claim = pat;
				}
			}
			break;
		}
		result_free(&sub);
	}
	free(prefix);
	return rc;
}

static void apply_trust(struct vt_appraisal *a, const struct trust_set *t)
{
	for (int i = 0; i < VT_TRUST_CLAIMS; i++) {
		if (t->set[i]) {
			a->trust[i] = t->val[i];
			a->trust_set[i] = true;
		}
	}
}

vt_status vt_policy_evaluate(const struct vt_policy *p, const json_t *input, const char *resource,
			     vt_refval_fn refvals, void *refctx, struct vt_appraisal *out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_POLICY, "", "vt_policy_evaluate: no output");
	memset(out, 0, sizeof(*out));
	if (p == NULL || input == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_POLICY, "", "vt_policy_evaluate: no policy or input");
	if (p->nrules) {
		out->results = calloc(p->nrules, sizeof(*out->results));
		if (out->results == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, "", "out of memory");
	}
	apply_trust(out, &p->defaults);
	out->all_passed = true;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct vt_rule *r = &p->rules[i];
		if (!rule_applies(r, resource))
			continue;
		struct vt_rule_result *res = &out->results[out->count++];
		size_t budget = MAX_EXPANSIONS;
		vt_status rc = eval_any(r, r->claim, input, refvals, refctx, res, &budget, err);
		if (rc != VT_OK) {
			vt_appraisal_free(out);
			return rc;
		}
		if (!res->passed)
			out->all_passed = false;
		apply_trust(out, res->passed ? &r->on_pass : &r->on_fail);
	}
	return VT_OK;
}

bool vt_appraisal_allows(const struct vt_appraisal *a)
{
	return a != NULL && a->count > 0 && a->all_passed;
}

/* ----------------------------------------------------------------- output */

int vt_trust_tier(int v)
{
	if (v >= -1 && v <= 1)
		return 0;
	if ((v >= 2 && v <= 31) || (v >= -32 && v <= -2))
		return 1;
	if ((v >= 32 && v <= 95) || (v >= -96 && v <= -33))
		return 2;
	return 3;
}

const char *vt_appraisal_status(const struct vt_appraisal *a)
{
	static const char *const names[] = {"none", "affirming", "warning", "contraindicated"};
	int worst = 0;
	for (int i = 0; a && i < VT_TRUST_CLAIMS; i++) {
		if (!a->trust_set[i])
			continue;
		int t = vt_trust_tier(a->trust[i]);
		if (t > worst)
			worst = t;
	}
	return names[worst];
}

json_t *vt_appraisal_trust_json(const struct vt_appraisal *a)
{
	json_t *o = json_object();
	if (o == NULL || a == NULL)
		return o;
	for (int i = 0; i < VT_TRUST_CLAIMS; i++) {
		if (a->trust_set[i] && json_object_set_new(o, vt_trust_claim_names[i], json_integer(a->trust[i])) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *vt_appraisal_rules_json(const struct vt_appraisal *a)
{
	json_t *arr = json_array();
	if (arr == NULL || a == NULL)
		return arr;
	for (size_t i = 0; i < a->count; i++) {
		const struct vt_rule_result *r = &a->results[i];
		json_t *o = json_object();
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto fail;
		if (json_object_set_new(o, "rule", json_string(r->name)) != 0 ||
		    json_object_set_new(o, "claim", json_string(r->claim)) != 0 ||
		    json_object_set_new(o, "op", json_string(r->op)) != 0 ||
		    json_object_set_new(o, "passed", json_boolean(r->passed)) != 0 ||
		    (r->seen && json_object_set(o, "seen", r->seen) != 0) ||
		    (r->allowed && json_object_set(o, "allowed", r->allowed) != 0) ||
		    (r->why && json_object_set_new(o, "why", json_string(r->why)) != 0))
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* Append at most VT_POLICY_EXPLAIN_CAP bytes of s (cut on a UTF-8 boundary,
 * then "…"). */
static vt_status put_capped(struct vt_buf *b, const char *s, struct vt_err *err)
{
	size_t n = strlen(s);
	if (n <= VT_POLICY_EXPLAIN_CAP)
		return vt_buf_append(b, s, n, err);
	n = VT_POLICY_EXPLAIN_CAP;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	vt_status rc = vt_buf_append(b, s, n, err);
	return rc != VT_OK ? rc : vt_buf_append_str(b, "\xe2\x80\xa6", err);
}

/* A JSON value, compact, capped. */
static vt_status put_json(struct vt_buf *b, const json_t *v, struct vt_err *err)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, "", "out of memory");
	vt_status rc = put_capped(b, s, err);
	free(s);
	return rc;
}

/* A string from the policy (rule name, pointer): quoted and escaped when
 * `quote`, when empty (the "" pointer) or when it holds control characters,
 * so one rule stays one line. */
static vt_status put_text(struct vt_buf *b, const char *s, bool quote, struct vt_err *err)
{
	bool ctl = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			ctl = true;
	if (!quote && !ctl && *s != '\0')
		return put_capped(b, s, err);
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (q == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_POLICY, "", "out of memory");
	vt_status rc = put_capped(b, q, err);
	free(q);
	return rc;
}

static vt_status explain_one(struct vt_buf *b, const struct vt_rule_result *r, struct vt_err *err)
{
	vt_status rc;
	VT_GUARD(vt_buf_append_str(b, "rule ", err));
	VT_GUARD(put_text(b, r->name, true, err));
	VT_GUARD(vt_buf_append_str(b, ": claim ", err));
	VT_GUARD(put_text(b, r->claim, false, err));
	if (r->seen == NULL) {
		/* in_reference with no registered value says so even if the claim is absent */
		if (strcmp(r->op, "in_reference") == 0 && r->allowed == NULL && r->why) {
			VT_GUARD(vt_buf_append_str(b, " absent; ", err));
			VT_GUARD(put_capped(b, r->why, err));
		} else {
			VT_GUARD(vt_buf_append_str(b, " absent", err));
		}
		goto out;
	}
	VT_GUARD(vt_buf_append_str(b, " = ", err));
	VT_GUARD(put_json(b, r->seen, err));
	const char *op = r->op;
	const char *why = r->why ? r->why : "";
	if (strcmp(why, "not an integer") == 0) {
		VT_GUARD(vt_buf_append_str(b, " is not an integer", err));
	} else if (strcmp(op, "exists") == 0) {
		VT_GUARD(vt_buf_append_str(b, ", want absent", err));
	} else if (strcmp(op, "in_reference") == 0) {
		VT_GUARD(vt_buf_append_str(b, r->allowed ? " " : ": ", err));
		VT_GUARD(put_capped(b, why, err));
		if (r->allowed) {
			VT_GUARD(vt_buf_append_str(b, " ", err));
			VT_GUARD(put_json(b, r->allowed, err));
		}
	} else {
		const char *lead = strcmp(op, "equals") == 0       ? ", want "
				   : strcmp(op, "not_equals") == 0 ? ", want anything but "
				   : strcmp(op, "one_of") == 0     ? " not one of "
				   : strcmp(op, "at_least") == 0   ? ", want at least "
				   : strcmp(op, "at_most") == 0    ? ", want at most "
								   : ", allowed ";
		VT_GUARD(vt_buf_append_str(b, lead, err));
		if (r->allowed)
			VT_GUARD(put_json(b, r->allowed, err));
		else
			VT_GUARD(vt_buf_append_str(b, "(nothing)", err));
	}
out:
	return rc;
}

char *vt_appraisal_explain(const struct vt_appraisal *a)
{
	struct vt_buf b;
	struct vt_err e;
	vt_buf_init(&b, (size_t)64 << 20);
	bool first = true;
	for (size_t i = 0; a && i < a->count; i++) {
		if (a->results[i].passed)
			continue;
		if ((!first && vt_buf_append_str(&b, "\n", &e) != VT_OK) || explain_one(&b, &a->results[i], &e) != VT_OK)
			goto fail;
		first = false;
	}
	if (vt_buf_nul_terminate(&b, &e) != VT_OK)
		goto fail;
	return (char *)b.data;
fail:
	vt_buf_free(&b);
	return NULL;
}
