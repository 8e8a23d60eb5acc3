/* Unit tests for the declarative policy engine (include/veritee/policy.h). */
#include "testutil.h"

#include <jansson.h>

#include "veritee/policy.h"

/* ------------------------------------------------------------- helpers */

static struct vt_policy *must_parse(const char *text)
{
	struct vt_policy *p = NULL;
	struct vt_err err;
	vt_err_clear(&err);
	vt_status rc = vt_policy_parse(text, strlen(text), &p, &err);
	if (rc != VT_OK)
		fail_msg("policy did not parse: %s: %s\n%s", err.field, err.detail, text);
	assert_non_null(p);
	return p;
}

static void parse_fails(const char *text, size_t len, vt_status code, const char *field, const char *detail_part)
{
	struct vt_policy *p = (struct vt_policy *)0x1;
	struct vt_err err;
	vt_err_clear(&err);
	vt_status rc = vt_policy_parse(text, len, &p, &err);
	if (rc != code)
		fail_msg("got %s (%s: %s), want %s", vt_status_name(rc), err.field, err.detail, vt_status_name(code));
	assert_null(p);
	assert_int_equal(err.code, code);
	if (field != NULL && strcmp(err.field, field) != 0)
		fail_msg("field \"%s\", want \"%s\" (detail: %s)", err.field, field, err.detail);
	if (detail_part != NULL && strstr(err.detail, detail_part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail_part);
}

#define PARSE_FAILS(text, code, field, part) parse_fails((text), strlen(text), (code), (field), (part))

/* Reference values: ctx is a JSON object name -> value. */
static json_t *refs_from_object(void *ctx, const char *name)
{
	return json_incref(json_object_get((json_t *)ctx, name));
}

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	return v;
}

/* Evaluate policy text on input text with optional refs (JSON object text). */
static void eval_text(const char *policy, const char *input, const char *resource, const char *refs,
		      struct vt_appraisal *a)
{
	struct vt_policy *p = must_parse(policy);
	json_t *in = load(input);
	json_t *rv = refs ? load(refs) : NULL;
	struct vt_err err;
	vt_err_clear(&err);
	vt_status rc = vt_policy_evaluate(p, in, resource, rv ? refs_from_object : NULL, rv, a, &err);
	if (rc != VT_OK)
		fail_msg("evaluate failed: %s: %s", err.field, err.detail);
	json_decref(rv);
	json_decref(in);
	vt_policy_free(p);
}

static void assert_explain(const struct vt_appraisal *a, const char *want)
{
	char *e = vt_appraisal_explain(a);
	assert_non_null(e);
	if (strcmp(e, want) != 0)
		fail_msg("explain:\n  got  [%s]\n  want [%s]", e, want);
	free(e);
}

/* One rule `"name":"r","claim":CLAIM,OPS` over INPUT; check pass/why/explain. */
static void one_rule(const char *claim, const char *ops, const char *input, const char *refs, bool want_pass,
		     const char *want_why, const char *want_explain)
{
	char policy[2048];
	snprintf(policy, sizeof(policy), "{\"version\":1,\"rules\":[{\"name\":\"r\",\"claim\":\"%s\",%s}]}", claim,
		 ops);
	struct vt_appraisal a;
	eval_text(policy, input, NULL, refs, &a);
	assert_int_equal(a.count, 1);
	assert_string_equal(a.results[0].name, "r");
	assert_string_equal(a.results[0].claim, claim);
	if (a.results[0].passed != want_pass)
		fail_msg("rule %s on %s: passed=%d, want %d (why %s)", ops, input, a.results[0].passed, want_pass,
			 a.results[0].why ? a.results[0].why : "-");
	assert_int_equal(a.all_passed, want_pass);
	if (want_why == NULL)
		assert_null(a.results[0].why);
	else {
		assert_non_null(a.results[0].why);
		assert_string_equal(a.results[0].why, want_why);
	}
	assert_explain(&a, want_explain ? want_explain : "");
	vt_appraisal_free(&a);
}

/* ----------------------------------------------------------- operators */

static void test_equals(void **state)
{
	(void)state;
	const char *in = "{\"a\":{\"b\":\"x\",\"n\":7,\"o\":{\"k\":[1,2]}}}";
	one_rule("/a/b", "\"equals\":\"x\"", in, NULL, true, NULL, NULL);
	one_rule("/a/o", "\"equals\":{\"k\":[1,2]}", in, NULL, true, NULL, NULL);
	one_rule("/a/b", "\"equals\":\"y\"", in, NULL, false, "not equal", "rule \"r\": claim /a/b = \"x\", want \"y\"");
	/* no type coercion: 7 is not "7" */
	one_rule("/a/n", "\"equals\":\"7\"", in, NULL, false, "not equal", "rule \"r\": claim /a/n = 7, want \"7\"");
	one_rule("/a/zz", "\"equals\":\"x\"", in, NULL, false, "claim absent", "rule \"r\": claim /a/zz absent");
}

static void test_not_equals(void **state)
{
	(void)state;
	const char *in = "{\"a\":{\"b\":\"x\"}}";
	one_rule("/a/b", "\"not_equals\":\"y\"", in, NULL, true, NULL, NULL);
	one_rule("/a/b", "\"not_equals\":\"x\"", in, NULL, false, "equal to excluded value",
		 "rule \"r\": claim /a/b = \"x\", want anything but \"x\"");
	one_rule("/a/c", "\"not_equals\":\"x\"", in, NULL, false, "claim absent", "rule \"r\": claim /a/c absent");
}

static void test_one_of(void **state)
{
	(void)state;
	const char *in = "{\"a\":{\"b\":\"x\"}}";
	one_rule("/a/b", "\"one_of\":[\"y\",\"x\"]", in, NULL, true, NULL, NULL);
	one_rule("/a/b", "\"one_of\":[\"y\",\"z\"]", in, NULL, false, "not one of the allowed values",
		 "rule \"r\": claim /a/b = \"x\" not one of [\"y\",\"z\"]");
	one_rule("/a/b", "\"one_of\":[]", in, NULL, false, "not one of the allowed values",
		 "rule \"r\": claim /a/b = \"x\" not one of []");
	one_rule("/q", "\"one_of\":[\"x\"]", in, NULL, false, "claim absent", "rule \"r\": claim /q absent");
}

static void test_in_reference(void **state)
{
	(void)state;
	const char *in = "{\"sim\":{\"measurement\":\"ab12\",\"svn\":3}}";
	const char *refs = "{\"m_list\":[\"cd34\",\"ab12\"],\"m_bad\":[\"cd34\"],\"svn\":3,\"svn_bad\":4}";
	/* list: one of */
	one_rule("/sim/measurement", "\"in_reference\":\"m_list\"", in, refs, true, NULL, NULL);
	one_rule("/sim/measurement", "\"in_reference\":\"m_bad\"", in, refs, false, "not in reference value \"m_bad\"",
		 "rule \"r\": claim /sim/measurement = \"ab12\" not in reference value \"m_bad\" [\"cd34\"]");
	/* scalar: equals */
	one_rule("/sim/svn", "\"in_reference\":\"svn\"", in, refs, true, NULL, NULL);
	one_rule("/sim/svn", "\"in_reference\":\"svn_bad\"", in, refs, false,
		 "not equal to reference value \"svn_bad\"",
		 "rule \"r\": claim /sim/svn = 3 not equal to reference value \"svn_bad\" 4");
	/* not registered (and no callback at all) */
	one_rule("/sim/svn", "\"in_reference\":\"nope\"", in, refs, false, "reference value \"nope\" not registered",
		 "rule \"r\": claim /sim/svn = 3: reference value \"nope\" not registered");
	one_rule("/sim/svn", "\"in_reference\":\"svn\"", in, NULL, false, "reference value \"svn\" not registered",
		 "rule \"r\": claim /sim/svn = 3: reference value \"svn\" not registered");
	/* absent claim, registered reference */
	one_rule("/sim/x", "\"in_reference\":\"svn\"", in, refs, false, "claim absent",
		 "rule \"r\": claim /sim/x absent");

	/* the resolved value is recorded as `allowed` */
	struct vt_appraisal a;
	eval_text("{\"version\":1,\"rules\":[{\"name\":\"m\",\"claim\":\"/sim/measurement\",\"in_reference\":\"m_bad\"}]}",
		  in, NULL, refs, &a);
	assert_non_null(a.results[0].allowed);
	json_t *want = load("[\"cd34\"]");
	assert_true(json_equal(a.results[0].allowed, want));
	json_decref(want);
	assert_string_equal(a.results[0].op, "in_reference");
	assert_string_equal(json_string_value(a.results[0].seen), "ab12");
	vt_appraisal_free(&a);
}

static void test_at_least_at_most(void **state)
{
	(void)state;
	const char *in = "{\"n\":5,\"s\":\"5\",\"z\":\"007\",\"h\":\"0x10\",\"b\":true,\"f\":5.0,\"neg\":-3,"
			 "\"big\":\"99999999999999999999999\",\"e\":\"\",\"sp\":\" 5\",\"m\":\"-5\"}";
	one_rule("/n", "\"at_least\":5", in, NULL, true, NULL, NULL);
	one_rule("/n", "\"at_least\":6", in, NULL, false, "below minimum", "rule \"r\": claim /n = 5, want at least 6");
	one_rule("/n", "\"at_most\":5", in, NULL, true, NULL, NULL);
	one_rule("/n", "\"at_most\":4", in, NULL, false, "above maximum", "rule \"r\": claim /n = 5, want at most 4");
	/* decimal strings */
	one_rule("/s", "\"at_least\":5", in, NULL, true, NULL, NULL);
	one_rule("/s", "\"at_least\":6", in, NULL, false, "below minimum",
		 "rule \"r\": claim /s = \"5\", want at least 6");
	one_rule("/z", "\"at_most\":7", in, NULL, true, NULL, NULL);
	one_rule("/z", "\"at_most\":6", in, NULL, false, "above maximum", "rule \"r\": claim /z = \"007\", want at most 6");
	/* beyond int64: larger than any bound */
	one_rule("/big", "\"at_least\":9223372036854775807", in, NULL, true, NULL, NULL);
	one_rule("/big", "\"at_most\":9223372036854775807", in, NULL, false, "above maximum",
		 "rule \"r\": claim /big = \"99999999999999999999999\", want at most 9223372036854775807");
	/* negatives */
	one_rule("/neg", "\"at_least\":-3", in, NULL, true, NULL, NULL);
	one_rule("/neg", "\"at_least\":-2", in, NULL, false, "below minimum",
		 "rule \"r\": claim /neg = -3, want at least -2");
	/* not integers */
	one_rule("/h", "\"at_least\":1", in, NULL, false, "not an integer", "rule \"r\": claim /h = \"0x10\" is not an integer");
	one_rule("/b", "\"at_least\":1", in, NULL, false, "not an integer", "rule \"r\": claim /b = true is not an integer");
	one_rule("/f", "\"at_most\":9", in, NULL, false, "not an integer", "rule \"r\": claim /f = 5.0 is not an integer");
	one_rule("/e", "\"at_most\":9", in, NULL, false, "not an integer", "rule \"r\": claim /e = \"\" is not an integer");
	one_rule("/sp", "\"at_most\":9", in, NULL, false, "not an integer",
		 "rule \"r\": claim /sp = \" 5\" is not an integer");
	one_rule("/m", "\"at_most\":9", in, NULL, false, "not an integer", "rule \"r\": claim /m = \"-5\" is not an integer");
	one_rule("/x", "\"at_most\":9", in, NULL, false, "claim absent", "rule \"r\": claim /x absent");
}

static void test_exists(void **state)
{
	(void)state;
	const char *in = "{\"a\":{\"b\":null}}";
	one_rule("/a/b", "\"exists\":true", in, NULL, true, NULL, NULL);
	one_rule("/a/c", "\"exists\":true", in, NULL, false, "claim absent", "rule \"r\": claim /a/c absent");
	one_rule("/a/c", "\"exists\":false", in, NULL, true, NULL, NULL);
	one_rule("/a/b", "\"exists\":false", in, NULL, false, "claim present",
		 "rule \"r\": claim /a/b = null, want absent");
	/* "" is the whole document; ~1 and ~0 escapes */
	one_rule("", "\"exists\":true", in, NULL, true, NULL, NULL);
	one_rule("", "\"equals\":1", in, NULL, false, "not equal", "rule \"r\": claim \"\" = {\"a\":{\"b\":null}}, want 1");
	one_rule("/a~1b~0c", "\"equals\":1", "{\"a/b~c\":1}", NULL, true, NULL, NULL);
	/* array index */
	one_rule("/l/1", "\"equals\":\"y\"", "{\"l\":[\"x\",\"y\"]}", NULL, true, NULL, NULL);
}

/* -------------------------------------------------------------- trust */

static void test_trust_tiers(void **state)
{
	(void)state;
	static const struct {
		int v, tier;
	} cases[] = {{0, 0},   {1, 0},   {-1, 0},  {2, 1},   {31, 1},   {32, 2},    {95, 2},  {96, 3},
		     {97, 3},  {-2, 1},  {-32, 1}, {-33, 2}, {-96, 2},  {-97, 3},   {127, 3}, {-128, 3},
		     {99, 3},  {3, 1},   {33, 2},  {36, 2}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (vt_trust_tier(cases[i].v) != cases[i].tier)
			fail_msg("tier(%d) = %d, want %d", cases[i].v, vt_trust_tier(cases[i].v), cases[i].tier);
	}

	static const char *const status[] = {"none", "affirming", "warning", "contraindicated"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* the worst tier wins: combine with an affirming 2 */
		char pol[256];
		snprintf(pol, sizeof(pol), "{\"version\":1,\"trust_defaults\":{\"hardware\":%d,\"executables\":2}}",
			 cases[i].v);
		struct vt_appraisal a;
		eval_text(pol, "{}", NULL, NULL, &a);
		int want = cases[i].tier > 1 ? cases[i].tier : 1;
		assert_string_equal(vt_appraisal_status(&a), status[want]);
		assert_true(a.trust_set[4]);
		assert_int_equal(a.trust[4], cases[i].v);
		vt_appraisal_free(&a);

		snprintf(pol, sizeof(pol), "{\"version\":1,\"trust_defaults\":{\"sourced-data\":%d}}", cases[i].v);
		eval_text(pol, "{}", NULL, NULL, &a);
		assert_string_equal(vt_appraisal_status(&a), status[cases[i].tier]);
		vt_appraisal_free(&a);
	}

	/* nothing set: none, and an empty trust object */
	struct vt_appraisal a;
	eval_text("{\"version\":1,\"rules\":[]}", "{}", NULL, NULL, &a);
	assert_string_equal(vt_appraisal_status(&a), "none");
	assert_true(a.all_passed);
	assert_int_equal(a.count, 0);
	json_t *t = vt_appraisal_trust_json(&a);
	assert_int_equal(json_object_size(t), 0);
	json_decref(t);
	char *e = vt_appraisal_explain(&a);
	assert_string_equal(e, "");
	free(e);
	vt_appraisal_free(&a);

	/* unset claims do not count even though their value is 0 */
	eval_text("{\"version\":1,\"trust_defaults\":{\"hardware\":0}}", "{}", NULL, NULL, &a);
	assert_string_equal(vt_appraisal_status(&a), "none");
	t = vt_appraisal_trust_json(&a);
	assert_int_equal(json_object_size(t), 1);
	assert_int_equal(json_integer_value(json_object_get(t, "hardware")), 0);
	json_decref(t);
	vt_appraisal_free(&a);

	assert_string_equal(vt_trust_claim_names[0], "instance-identity");
	assert_string_equal(vt_trust_claim_names[4], "hardware");
	assert_string_equal(vt_trust_claim_names[7], "sourced-data");
}

static void test_on_pass_on_fail(void **state)
{
	(void)state;
	const char *pol = "{\"version\":1,"
			  "\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
			  "\"rules\":["
			  "{\"name\":\"hw\",\"claim\":\"/ok\",\"equals\":true,"
			  " \"on_pass\":{\"hardware\":2},\"on_fail\":{\"hardware\":97}},"
			  "{\"name\":\"exe\",\"claim\":\"/m\",\"equals\":\"good\","
			  " \"on_pass\":{\"executables\":2,\"file-system\":2},\"on_fail\":{\"executables\":33}},"
			  "{\"name\":\"exe-known-bug\",\"claim\":\"/bug\",\"exists\":false,"
			  " \"on_fail\":{\"executables\":32}},"
			  "{\"name\":\"cfg\",\"claim\":\"/debug\",\"equals\":false,"
			  " \"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}}"
			  "]}";
	struct vt_appraisal a;
	/* all pass: affirming */
	eval_text(pol, "{\"ok\":true,\"m\":\"good\",\"debug\":false}", NULL, NULL, &a);
	assert_true(a.all_passed);
	assert_int_equal(a.count, 4);
	assert_int_equal(a.trust[4], 2);
	assert_int_equal(a.trust[2], 2);
	assert_int_equal(a.trust[3], 2);
	assert_true(a.trust_set[3]);
	assert_int_equal(a.trust[1], 2);
	assert_false(a.trust_set[0]);
	assert_string_equal(vt_appraisal_status(&a), "affirming");
	json_t *t = vt_appraisal_trust_json(&a);
	json_t *want = load("{\"configuration\":2,\"executables\":2,\"file-system\":2,\"hardware\":2}");
	assert_true(json_equal(t, want));
	json_decref(want);
	json_decref(t);
	vt_appraisal_free(&a);

	/* a later rule overrides an earlier one's value: executables 2 then 32 */
	eval_text(pol, "{\"ok\":true,\"m\":\"good\",\"bug\":1,\"debug\":false}", NULL, NULL, &a);
	assert_false(a.all_passed);
	assert_int_equal(a.trust[2], 32);
	assert_int_equal(a.trust[3], 2);
	assert_string_equal(vt_appraisal_status(&a), "warning");
	assert_explain(&a, "rule \"exe-known-bug\": claim /bug = 1, want absent");
	vt_appraisal_free(&a);

	/* everything fails: the defaults stay / are set again; contraindicated */
	eval_text(pol, "{\"ok\":false,\"debug\":true}", NULL, NULL, &a);
	assert_false(a.all_passed);
	assert_int_equal(a.trust[4], 97);
	assert_int_equal(a.trust[2], 33);
	assert_int_equal(a.trust[1], 96);
	assert_false(a.trust_set[3]);
	assert_string_equal(vt_appraisal_status(&a), "contraindicated");
	assert_explain(&a, "rule \"hw\": claim /ok = false, want true\n"
			   "rule \"exe\": claim /m absent\n"
			   "rule \"cfg\": claim /debug = true, want false");
	vt_appraisal_free(&a);
}

/* ----------------------------------------------------------- resources */

static void test_resources(void **state)
{
	(void)state;
	const char *pol = "{\"version\":1,\"id\":\"resource-policy\",\"rules\":["
			  "{\"name\":\"always\",\"claim\":\"/a\",\"equals\":1},"
			  "{\"name\":\"default-repo\",\"claim\":\"/a\",\"equals\":2,\"resources\":[\"default/*\"]},"
			  "{\"name\":\"keys\",\"claim\":\"/a\",\"equals\":1,\"resources\":[\"*/key/?\",\"x/[ab]/c\"]}"
			  "]}";
	struct vt_policy *p = must_parse(pol);
	assert_string_equal(vt_policy_id(p), "resource-policy");
	json_t *in = load("{\"a\":1}");
	struct vt_appraisal a;
	struct vt_err err;
	static const struct {
		const char *res;
		size_t count;
		bool all;
		const char *names;
	} cases[] = {
		{NULL, 1, true, "always"},
		{"default/key/a", 3, false, "always,default-repo,keys"},
		{"default/cert/long-name", 2, false, "always,default-repo"},
		{"other/key/b", 2, true, "always,keys"},
		{"other/key/bb", 1, true, "always"},
		{"x/b/c", 2, true, "always,keys"},
		{"x/c/c", 1, true, "always"},
		{"", 1, true, "always"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vt_err_clear(&err);
		assert_int_equal(vt_policy_evaluate(p, in, cases[i].res, NULL, NULL, &a, &err), VT_OK);
		char names[256] = "";
		for (size_t k = 0; k < a.count; k++) {
			if (k)
				strcat(names, ",");
			strcat(names, a.results[k].name);
		}
		if (a.count != cases[i].count || a.all_passed != cases[i].all || strcmp(names, cases[i].names) != 0)
			fail_msg("resource %s: rules %s (all_passed %d), want %s (%d)",
				 cases[i].res ? cases[i].res : "NULL", names, a.all_passed, cases[i].names, cases[i].all);
		vt_appraisal_free(&a);
	}
	json_decref(in);
	vt_policy_free(p);

	/* no id */
	p = must_parse("{\"version\":1,\"rules\":[]}");
	assert_string_equal(vt_policy_id(p), "");
	vt_policy_free(p);
	assert_string_equal(vt_policy_id(NULL), "");
}

/* --------------------------------------------------------- parse errors */

static void test_parse_errors(void **state)
{
	(void)state;
	const char *ok_rule = "{\"name\":\"r\",\"claim\":\"/a\",\"equals\":1}";
	char buf[1024];

	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"a\",\"claim\":\"/a\",\"exists\":true},"
		    "{\"name\":\"b\",\"claim\":\"/a\",\"exists\":true},"
		    "{\"name\":\"c\",\"claim\":\"/a\",\"equal\":1}]}",
		    VT_E_PARSE, "rules[2].equal", "rule \"c\": unknown member \"equal\"");
	PARSE_FAILS("{\"version\":1,\"rulez\":[]}", VT_E_PARSE, "rulez", "unknown member \"rulez\"");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"two\",\"claim\":\"/a\",\"equals\":1,\"one_of\":[1]}]}",
		    VT_E_PARSE, "rules[0].one_of", "rule \"two\": two operators");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"none\",\"claim\":\"/a\"}]}", VT_E_PARSE, "rules[0]",
		    "rule \"none\": no operator");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"p\",\"claim\":\"a/b\",\"equals\":1}]}", VT_E_PARSE,
		    "rules[0].claim", "rule \"p\": \"claim\" is not an RFC 6901 pointer: \"a/b\"");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"p\",\"claim\":\"/a~2\",\"equals\":1}]}", VT_E_PARSE,
		    "rules[0].claim", "\"/a~2\"");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"p\",\"claim\":\"/a~\",\"equals\":1}]}", VT_E_PARSE,
		    "rules[0].claim", "not an RFC 6901 pointer");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"p\",\"claim\":1,\"equals\":1}]}", VT_E_PARSE,
		    "rules[0].claim", "rule \"p\"");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"p\",\"equals\":1}]}", VT_E_PARSE, "rules[0]",
		    "rule \"p\": missing \"claim\"");
	snprintf(buf, sizeof(buf), "{\"version\":1,\"rules\":[%s,%s]}", ok_rule, ok_rule);
	PARSE_FAILS(buf, VT_E_PARSE, "rules[1].name", "rule \"r\": duplicate rule name (also rules[0])");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"claim\":\"/a\",\"equals\":1}]}", VT_E_PARSE, "rules[0].name",
		    "rule #0: missing \"name\"");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"\",\"claim\":\"/a\",\"equals\":1}]}", VT_E_PARSE,
		    "rules[0].name", "non-empty");
	PARSE_FAILS("{\"version\":1,\"rules\":[7]}", VT_E_PARSE, "rules[0]", "must be an object");
	PARSE_FAILS("{\"version\":1,\"rules\":{}}", VT_E_PARSE, "rules", "must be an array");
	PARSE_FAILS("{\"version\":1,\"trust_defaults\":{\"hardware\":200}}", VT_E_PARSE, "trust_defaults.hardware",
		    "trust claim \"hardware\" = 200 outside -128..127");
	PARSE_FAILS("{\"version\":1,\"trust_defaults\":{\"hardware\":-129}}", VT_E_PARSE, "trust_defaults.hardware",
		    "outside -128..127");
	PARSE_FAILS("{\"version\":1,\"trust_defaults\":{\"hardware\":\"2\"}}", VT_E_PARSE, "trust_defaults.hardware",
		    "must be an integer");
	PARSE_FAILS("{\"version\":1,\"trust_defaults\":{\"firmware\":2}}", VT_E_PARSE, "trust_defaults.firmware",
		    "unknown trust claim \"firmware\"");
	PARSE_FAILS("{\"version\":1,\"trust_defaults\":[]}", VT_E_PARSE, "trust_defaults", "must be an object");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"t\",\"claim\":\"/a\",\"equals\":1,"
		    "\"on_pass\":{\"executables\":2,\"exe\":3}}]}",
		    VT_E_PARSE, "rules[0].on_pass.exe", "rule \"t\": unknown trust claim \"exe\"");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"t\",\"claim\":\"/a\",\"equals\":1,"
		    "\"on_fail\":{\"hardware\":128}}]}",
		    VT_E_PARSE, "rules[0].on_fail.hardware", "rule \"t\": trust claim \"hardware\" = 128");
	PARSE_FAILS("{\"version\":2,\"rules\":[]}", VT_E_PARSE, "version", "must be the integer 1");
	PARSE_FAILS("{\"version\":\"1\",\"rules\":[]}", VT_E_PARSE, "version", "must be the integer 1");
	PARSE_FAILS("{\"rules\":[]}", VT_E_PARSE, "version", "missing \"version\"");
	PARSE_FAILS("{\"version\":1,\"id\":3}", VT_E_PARSE, "id", "must be a string");
	PARSE_FAILS("not json", VT_E_PARSE, NULL, NULL);
	PARSE_FAILS("", VT_E_PARSE, NULL, NULL);
	PARSE_FAILS("[1]", VT_E_PARSE, "policy", "must be a JSON object");
	PARSE_FAILS("{\"version\":1,\"version\":1}", VT_E_PARSE, NULL, NULL); /* duplicate key */
	/* operand types */
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"one_of\":1}]}", VT_E_PARSE,
		    "rules[0].one_of", "rule \"o\": \"one_of\" must be an array");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"at_least\":\"2\"}]}", VT_E_PARSE,
		    "rules[0].at_least", "must be an integer");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"at_most\":2.5}]}", VT_E_PARSE,
		    "rules[0].at_most", "must be an integer");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"exists\":1}]}", VT_E_PARSE,
		    "rules[0].exists", "true or false");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"in_reference\":\"\"}]}", VT_E_PARSE,
		    "rules[0].in_reference", "non-empty");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"exists\":true,\"resources\":[]}]}",
		    VT_E_PARSE, "rules[0].resources", "non-empty array");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"exists\":true,"
		    "\"resources\":[\"a/*\",5]}]}",
		    VT_E_PARSE, "rules[0].resources[1]", "rule \"o\": resource pattern");
	PARSE_FAILS("{\"version\":1,\"rules\":[{\"name\":\"o\",\"claim\":\"/a\",\"exists\":true,\"description\":5}]}",
		    VT_E_PARSE, "rules[0].description", "must be a string");
	/* an error after earlier allocations (resources, operands) frees them: ASan checks */
	PARSE_FAILS("{\"version\":1,\"id\":\"x\",\"trust_defaults\":{\"hardware\":2},\"rules\":["
		    "{\"name\":\"a\",\"claim\":\"/a\",\"one_of\":[1,2],\"resources\":[\"a\",\"b\"]},"
		    "{\"name\":\"b\",\"claim\":\"/a\",\"in_reference\":\"x\",\"resources\":[\"a\"],\"bogus\":1}]}",
		    VT_E_PARSE, "rules[1].bogus", "rule \"b\"");
	/* arguments */
	struct vt_err err;
	vt_err_clear(&err);
	assert_int_equal(vt_policy_parse("{}", 2, NULL, &err), VT_E_USAGE);
}

static void test_parse_limits(void **state)
{
	(void)state;
	/* > 1 MiB of otherwise valid text */
	size_t big = VT_POLICY_MAX_TEXT + 1;
	char *text = malloc(big + 1);
	assert_non_null(text);
	memset(text, ' ', big);
	memcpy(text, "{\"version\":1}", 13);
	text[big] = 0;
	parse_fails(text, big, VT_E_LIMIT, NULL, "exceeds");
	/* exactly 1 MiB is fine */
	struct vt_policy *p = NULL;
	struct vt_err err;
	vt_err_clear(&err);
	assert_int_equal(vt_policy_parse(text, VT_POLICY_MAX_TEXT, &p, &err), VT_OK);
	vt_policy_free(p);
	free(text);

	/* 256 rules fine, 257 too many */
	for (int n = 256; n <= 257; n++) {
		size_t cap = 64 * 300;
		char *t = malloc(cap);
		assert_non_null(t);
		size_t off = (size_t)snprintf(t, cap, "{\"version\":1,\"rules\":[");
		for (int i = 0; i < n; i++)
			off += (size_t)snprintf(t + off, cap - off, "%s{\"name\":\"r%d\",\"claim\":\"/a\",\"exists\":true}",
						i ? "," : "", i);
		snprintf(t + off, cap - off, "]}");
		p = NULL;
		vt_err_clear(&err);
		vt_status rc = vt_policy_parse(t, strlen(t), &p, &err);
		if (n == 256) {
			assert_int_equal(rc, VT_OK);
			json_t *in = load("{\"a\":0}");
			struct vt_appraisal a;
			assert_int_equal(vt_policy_evaluate(p, in, NULL, NULL, NULL, &a, &err), VT_OK);
			assert_int_equal(a.count, 256);
			assert_true(a.all_passed);
			vt_appraisal_free(&a);
			json_decref(in);
			vt_policy_free(p);
		} else {
			assert_int_equal(rc, VT_E_LIMIT);
			assert_string_equal(err.field, "rules");
			assert_null(p);
		}
		free(t);
	}
}

/* ------------------------------------------------------------- output */

static void test_explain_truncation(void **state)
{
	(void)state;
	/* a 5000-character claim; also a multi-byte character straddling the cut */
	size_t n = 5000;
	char *val = malloc(n + 1);
	assert_non_null(val);
	memset(val, 'a', n);
	val[n] = 0;
	json_t *in = json_object();
	json_object_set_new(in, "big", json_string(val));
	char uni[400];
	memset(uni, 'b', 198);
	strcpy(uni + 198, "\xc3\xa9\xc3\xa9\xc3\xa9 and more text that goes on and on and on and on and on and on"
			  " and on and on and on and on and on and on and on and on and on and on");
	json_object_set_new(in, "uni", json_string(uni));
	free(val);

	struct vt_policy *p = must_parse("{\"version\":1,\"rules\":["
					 "{\"name\":\"big\",\"claim\":\"/big\",\"equals\":\"small\"},"
					 "{\"name\":\"uni\",\"claim\":\"/uni\",\"equals\":0}]}");
	struct vt_appraisal a;
	struct vt_err err;
	vt_err_clear(&err);
	assert_int_equal(vt_policy_evaluate(p, in, NULL, NULL, NULL, &a, &err), VT_OK);
	char *e = vt_appraisal_explain(&a);
	assert_non_null(e);
	char *nl = strchr(e, '\n');
	assert_non_null(nl);
	assert_null(strchr(nl + 1, '\n')); /* two lines, no trailing newline */
	*nl = 0;
	/* "\"" + 199 a's (200 bytes of serialization) + "…" */
	char want[512];
	int k = snprintf(want, sizeof(want), "rule \"big\": claim /big = \"");
	memset(want + k, 'a', 199);
	strcpy(want + k + 199, "\xe2\x80\xa6, want \"small\"");
	assert_string_equal(e, want);
	/* second line: "\"" + 198 b's is 199 bytes and the é occupies bytes
	 * 199..200, so the cut at 200 would split it: it backs up to 199. */
	k = snprintf(want, sizeof(want), "rule \"uni\": claim /uni = \"");
	memset(want + k, 'b', 198);
	strcpy(want + k + 198, "\xe2\x80\xa6, want 0");
	assert_string_equal(nl + 1, want);
	free(e);

	/* rules JSON carries the full value */
	json_t *rj = vt_appraisal_rules_json(&a);
	assert_int_equal(json_array_size(rj), 2);
	assert_int_equal(json_string_length(json_object_get(json_array_get(rj, 0), "seen")), 5000);
	json_decref(rj);
	vt_appraisal_free(&a);
	json_decref(in);
	vt_policy_free(p);
}

static void test_explain_escaping(void **state)
{
	(void)state;
	/* names are quoted JSON strings; a pointer with a control character is
	 * printed quoted so one failed rule stays one line */
	struct vt_appraisal a;
	eval_text("{\"version\":1,\"rules\":[{\"name\":\"r\",\"claim\":\"/a\\nb\",\"equals\":1}]}",
		  "{\"a\\nb\":2}", NULL, NULL, &a);
	assert_string_equal(a.results[0].claim, "/a\nb");
	assert_explain(&a, "rule \"r\": claim \"/a\\nb\" = 2, want 1");
	vt_appraisal_free(&a);
	eval_text("{\"version\":1,\"rules\":[{\"name\":\"q\\\"x\",\"claim\":\"/a\",\"exists\":true}]}", "{}", NULL, NULL,
		  &a);
	assert_explain(&a, "rule \"q\\\"x\": claim /a absent");
	vt_appraisal_free(&a);
}

static void test_rules_json(void **state)
{
	(void)state;
	struct vt_appraisal a;
	eval_text("{\"version\":1,\"rules\":["
		  "{\"name\":\"p\",\"claim\":\"/a\",\"equals\":1,\"description\":\"passes\"},"
		  "{\"name\":\"absent\",\"claim\":\"/b\",\"one_of\":[1,2]},"
		  "{\"name\":\"noref\",\"claim\":\"/c\",\"in_reference\":\"nothing\"}]}",
		  "{\"a\":1}", NULL, "{}", &a);
	json_t *rj = vt_appraisal_rules_json(&a);
	json_t *want = load("[{\"rule\":\"p\",\"claim\":\"/a\",\"op\":\"equals\",\"passed\":true,\"seen\":1,\"allowed\":1},"
			    "{\"rule\":\"absent\",\"claim\":\"/b\",\"op\":\"one_of\",\"passed\":false,"
			    " \"allowed\":[1,2],\"why\":\"claim absent\"},"
			    "{\"rule\":\"noref\",\"claim\":\"/c\",\"op\":\"in_reference\",\"passed\":false,"
			    " \"why\":\"reference value \\\"nothing\\\" not registered\"}]");
	if (!json_equal(rj, want)) {
		char *s = json_dumps(rj, JSON_COMPACT);
		fail_msg("rules json: %s", s);
	}
	json_decref(want);
	json_decref(rj);
	assert_explain(&a, "rule \"absent\": claim /b absent\n"
			   "rule \"noref\": claim /c absent; reference value \"nothing\" not registered");
	vt_appraisal_free(&a);

	/* free is idempotent on a zeroed record; NULL-safe outputs */
	vt_appraisal_free(&a);
	vt_appraisal_free(NULL);
	assert_string_equal(vt_appraisal_status(NULL), "none");
}

static void test_evaluate_usage(void **state)
{
	(void)state;
	struct vt_policy *p = must_parse("{\"version\":1}");
	struct vt_appraisal a;
	struct vt_err err;
	vt_err_clear(&err);
	assert_int_equal(vt_policy_evaluate(p, NULL, NULL, NULL, NULL, &a, &err), VT_E_USAGE);
	assert_int_equal(a.count, 0);
	assert_null(a.results);
	vt_err_clear(&err);
	assert_int_equal(vt_policy_evaluate(NULL, NULL, NULL, NULL, NULL, &a, &err), VT_E_USAGE);
	vt_err_clear(&err);
	assert_int_equal(vt_policy_evaluate(p, NULL, NULL, NULL, NULL, NULL, &err), VT_E_USAGE);
	vt_policy_free(p);
	vt_policy_free(NULL);
}

/* ------------------------------------------------------ worked examples */

static const char sim_policy[] =
	"{\"version\":1,\"id\":\"sim-appraisal\","
	" \"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	" \"rules\":["
	"  {\"name\":\"measurement-approved\",\"claim\":\"/sim/measurement\",\"in_reference\":\"sim_measurement\","
	"   \"on_pass\":{\"executables\":2},\"on_fail\":{\"executables\":33}},"
	"  {\"name\":\"svn-minimum\",\"claim\":\"/sim/svn\",\"at_least\":2,"
	"   \"on_pass\":{\"hardware\":2},\"on_fail\":{\"hardware\":32}},"
	"  {\"name\":\"no-debug\",\"claim\":\"/sim/debug\",\"equals\":false,"
	"   \"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}}"
	" ]}";

static void test_sim_example(void **state)
{
	(void)state;
	const char *good = "{\"sim\":{\"measurement\":\"aa11\",\"svn\":2,\"debug\":false}}";
	const char *bad = "{\"sim\":{\"measurement\":\"aa11\",\"svn\":1,\"debug\":false}}";
	const char *refs = "{\"sim_measurement\":[\"aa11\",\"bb22\"]}";
	struct vt_appraisal a;

	eval_text(sim_policy, good, NULL, refs, &a);
	assert_true(a.all_passed);
	assert_int_equal(a.count, 3);
	assert_string_equal(vt_appraisal_status(&a), "affirming");
	json_t *t = vt_appraisal_trust_json(&a);
	json_t *want = load("{\"configuration\":2,\"executables\":2,\"hardware\":2}");
	assert_true(json_equal(t, want));
	json_decref(want);
	json_decref(t);
	assert_explain(&a, "");
	vt_appraisal_free(&a);

	/* svn 1 < 2: warning (hardware 32) */
	eval_text(sim_policy, bad, NULL, refs, &a);
	assert_false(a.all_passed);
	assert_string_equal(vt_appraisal_status(&a), "warning");
	assert_int_equal(a.trust[4], 32);
	assert_explain(&a, "rule \"svn-minimum\": claim /sim/svn = 1, want at least 2");
	vt_appraisal_free(&a);

	/* measurement not approved */
	eval_text(sim_policy, good, NULL, "{\"sim_measurement\":[\"cd34\"]}", &a);
	assert_false(a.all_passed);
	assert_int_equal(a.trust[2], 33);
	assert_string_equal(vt_appraisal_status(&a), "warning");
	assert_explain(&a, "rule \"measurement-approved\": claim /sim/measurement = \"aa11\" not in reference value "
			   "\"sim_measurement\" [\"cd34\"]");
	vt_appraisal_free(&a);

	/* an empty reference store: the measurement rule fails, the rest pass */
	eval_text(sim_policy, good, NULL, "{}", &a);
	assert_false(a.all_passed);
	assert_explain(&a, "rule \"measurement-approved\": claim /sim/measurement = \"aa11\": reference value "
			   "\"sim_measurement\" not registered");
	vt_appraisal_free(&a);
}

static const char ear_resource_policy[] =
	"{\"version\":1,\"id\":\"resource-policy\","
	" \"rules\":["
	"  {\"name\":\"cpu-affirming\",\"claim\":\"/submods/cpu0/ear.status\",\"equals\":\"affirming\","
	"   \"resources\":[\"**\"]},"
	"  {\"name\":\"prod-keys-need-no-debug\","
	"   \"claim\":\"/submods/cpu0/ear.veraison.annotated-evidence/sim/debug\",\"equals\":false,"
	"   \"resources\":[\"default/key/prod-*\"]}"
	" ]}";

static void test_ear_resource_example(void **state)
{
	(void)state;
	const char *ok = "{\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\"}}}";
	const char *warn = "{\"submods\":{\"cpu0\":{\"ear.status\":\"warning\"}}}";
	struct vt_appraisal a;

	eval_text(ear_resource_policy, ok, "default/key/dev-1", NULL, &a);
	assert_true(a.all_passed);
	assert_int_equal(a.count, 1);
	assert_string_equal(vt_appraisal_status(&a), "none"); /* resource policies set no trust */
	vt_appraisal_free(&a);

	eval_text(ear_resource_policy, warn, "default/key/dev-1", NULL, &a);
	assert_false(a.all_passed);
	assert_explain(&a, "rule \"cpu-affirming\": claim /submods/cpu0/ear.status = \"warning\", want \"affirming\"");
	vt_appraisal_free(&a);

	/* a production key also needs the annotated evidence to say debug=false */
	eval_text(ear_resource_policy, ok, "default/key/prod-db", NULL, &a);
	assert_false(a.all_passed);
	assert_int_equal(a.count, 2);
	assert_explain(&a, "rule \"prod-keys-need-no-debug\": claim "
			   "/submods/cpu0/ear.veraison.annotated-evidence/sim/debug absent");
	vt_appraisal_free(&a);

	eval_text(ear_resource_policy,
		  "{\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\","
		  "\"ear.veraison.annotated-evidence\":{\"sim\":{\"debug\":false}}}}}",
		  "default/key/prod-db", NULL, &a);
	assert_true(a.all_passed);
	vt_appraisal_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equals),
		cmocka_unit_test(test_not_equals),
		cmocka_unit_test(test_one_of),
		cmocka_unit_test(test_in_reference),
		cmocka_unit_test(test_at_least_at_most),
		cmocka_unit_test(test_exists),
		cmocka_unit_test(test_trust_tiers),
		cmocka_unit_test(test_on_pass_on_fail),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_explain_truncation),
		cmocka_unit_test(test_explain_escaping),
		cmocka_unit_test(test_rules_json),
		cmocka_unit_test(test_evaluate_usage),
		cmocka_unit_test(test_sim_example),
		cmocka_unit_test(test_ear_resource_example),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
