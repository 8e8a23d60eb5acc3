/*
 * veritee/policy.h — declarative appraisal and resource policies.
 *
 * A policy is JSON (no language, no loops): a list of rules, each checking
 * one claim (an RFC 6901 pointer into the input) with one operator.  Every
 * evaluation records every rule's outcome, so a "no" names the rule, the
 * claim, the value seen and the values allowed.  Full format: docs/policy.md.
 *
 *   {"version": 1,
 *    "trust_defaults": {"hardware": 97, "executables": 33, "configuration": 36},
 *    "rules": [
 *      {"name": "measurement-approved", "claim": "/sim/measurement",
 *       "in_reference": "sim_measurement",
 *       "on_pass": {"executables": 2}, "on_fail": {"executables": 33},
 *       "resources": ["default/key/prod-*"]}
 *    ]}
 *
 * Operators (exactly one per rule): equals, not_equals, one_of (array),
 * in_reference (name of a reference value: a list means "one of", a scalar
 * means "equals"), at_least, at_most (integers, or decimal strings), exists
 * (true/false).
 * `on_pass` / `on_fail`: AR4SI trust claims set by the outcome (appraisal).
 * `resources`: glob patterns over "repo/type/tag"; the rule applies only to
 * matching resources (resource policy; absent = all).
 */
#ifndef VERITEE_POLICY_H
#define VERITEE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "veritee/err.h"

#define VT_TRUST_CLAIMS 8
/* Limits: policy text size, rules per policy, and the bytes of one value
 * (or rule name / pointer) printed by vt_appraisal_explain before "…". */
#define VT_POLICY_MAX_TEXT (1u << 20)
#define VT_POLICY_MAX_RULES 256
#define VT_POLICY_EXPLAIN_CAP 200
/* Index order of the AR4SI trust vector. */
extern const char *const vt_trust_claim_names[VT_TRUST_CLAIMS];
/* "instance-identity","configuration","executables","file-system","hardware",
 * "runtime-opaque","storage-opaque","sourced-data" */

struct vt_policy;

/* Parse and validate (unknown members, unknown operators, bad pointers,
 * unknown trust claim names, values outside -128..127 are errors naming the
 * rule).  Text at most 1 MiB. */
VT_API VT_MUST_USE vt_status vt_policy_parse(const char *text, size_t len, struct vt_policy **out, struct vt_err *err);
VT_API void vt_policy_free(struct vt_policy *p);
VT_API const char *vt_policy_id(const struct vt_policy *p); /* "id" member or "" */

/* Reference value lookup: return a NEW reference, or NULL when absent. */
typedef json_t *(*vt_refval_fn)(void *ctx, const char *name);

struct vt_rule_result {
	char *name;
	char *claim;       /* the pointer */
	char *op;          /* operator name */
	json_t *seen;      /* value found (NULL if absent) */
	json_t *allowed;   /* literal operand or resolved reference value (NULL if none) */
	bool passed;
	char *why;         /* short reason when not passed, e.g. "claim absent" */
};

struct vt_appraisal {
	struct vt_rule_result *results; /* one per applicable rule, in policy order */
	size_t count;
	int8_t trust[VT_TRUST_CLAIMS];
	bool trust_set[VT_TRUST_CLAIMS];
	bool all_passed;
};

/*
 * Evaluate against `input`.  `resource` ("repo/type/tag") filters rules with
 * a `resources` list; NULL means "not a resource request" (rules with a
 * `resources` list are skipped).  `refvals` may be NULL.
 */
VT_API VT_MUST_USE vt_status vt_policy_evaluate(const struct vt_policy *p, const json_t *input, const char *resource,
						vt_refval_fn refvals, void *refctx, struct vt_appraisal *out,
						struct vt_err *err);
VT_API void vt_appraisal_free(struct vt_appraisal *a);

/* A release decision, default deny: at least one rule applied and every
 * applicable rule passed.  A policy none of whose rules applies to the
 * request allows nothing. */
VT_API bool vt_appraisal_allows(const struct vt_appraisal *a);

/* EAR status of the trust vector: "none", "affirming", "warning", "contraindicated". */
VT_API const char *vt_appraisal_status(const struct vt_appraisal *a);
/* Trust vector as JSON object with only the set claims (new reference). */
VT_API json_t *vt_appraisal_trust_json(const struct vt_appraisal *a);
/* Every rule outcome as a JSON array (new reference):
 *   [{"rule","claim","op","passed","seen","allowed","why"?}, ...] */
VT_API json_t *vt_appraisal_rules_json(const struct vt_appraisal *a);
/* One line per failed rule, e.g.
 *   rule "measurement-approved": claim /sim/measurement = "ab.." not in reference "sim_measurement" ["cd.."]
 * malloc'd; "" when everything passed. */
VT_API char *vt_appraisal_explain(const struct vt_appraisal *a);

/* Tier of one trust value, as rust-ear: |v|<=1 none; 2..31/-2..-32 affirming;
 * 32..95/-33..-96 warning; else contraindicated.  Returns 0..3. */
VT_API int vt_trust_tier(int v);

#endif
