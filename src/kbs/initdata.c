/*
 * KBS init-data (kbs-protocol.md §5.4): {"format": "toml", "body": "<TOML>"}.
 *
 * The digest is over the exact body bytes, with the algorithm the TOML
 * names; the TEE's verifier compares it with its launch-time field (the
 * broker does that, by the descriptor's init_data rule).  The parsed [data]
 * map becomes init_data_claims, as Trustee's attestation service builds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/crypto.h"
#include "veritee/kbs.h"
#include "veritee/util.h"

static vt_status bad(struct vt_err *err, vt_status code, const char *field, const char *detail)
{
	return vt_fail(err, code, VT_STEP_PARSE, field, "init-data: %s", detail);
}

/* The JSON object after "policy_data := " in a Kata agent policy (Rego). */
static vt_status agent_policy(const char *rego, json_t **out, struct vt_err *err)
{
	static const char marker[] = "policy_data := ";
	const char *p = strstr(rego, marker);
	*out = NULL;
	if (p == NULL)
		return VT_OK; /* a policy without data: nothing to claim */
	p += sizeof(marker) - 1;
	json_error_t je;
	json_t *v = json_loadb(p, strlen(p), JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(v)) {
		json_decref(v);
		return bad(err, VT_E_PARSE, "init-data.body.data.policy.rego",
			   "policy_data in policy.rego is not a JSON object");
	}
	*out = v;
	return VT_OK;
}

static vt_status data_claims(const json_t *data, struct vt_kbs_init_data *out, struct vt_err *err)
{
	const char *k;
	json_t *v;
	json_t *claims = json_object();
	if (claims == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "init-data", "out of memory");
	json_object_foreach((json_t *)data, k, v) {
		char field[64];
		snprintf(field, sizeof(field), "init-data.body.data.%.40s", k);
		if (!json_is_string(v)) {
			json_decref(claims);
			return bad(err, VT_E_PARSE, field, "every [data] value must be a string");
		}
		json_t *c = NULL;
		if (strcmp(k, "aa.toml") == 0 || strcmp(k, "cdh.toml") == 0) {
			if (vt_toml_parse(json_string_value(v), json_string_length(v), &c, err) != VT_OK) {
				json_decref(claims);
				return vt_err_context(err, field);
			}
		} else if (strcmp(k, "policy.rego") == 0) {
			json_t *ap = NULL;
			if (agent_policy(json_string_value(v), &ap, err) != VT_OK) {
				json_decref(claims);
				return VT_E_PARSE;
			}
			json_decref(out->agent_policy);
			out->agent_policy = ap;
			continue; /* the Rego text itself stays out of tokens */
		} else {
			c = json_incref(v);
		}
		if (json_object_set_new(claims, k, c) != 0) {
			json_decref(claims);
			return vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "init-data", "out of memory");
		}
	}
	out->claims = claims;
	return VT_OK;
}

vt_status vt_kbs_init_data_parse(const json_t *init, struct vt_kbs_init_data *out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	json_t *doc = NULL;
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "init-data", "missing argument");
	memset(out, 0, sizeof(*out));
	if (!json_is_object(init))
		return bad(err, VT_E_PARSE, "init-data", "must be an object {\"format\", \"body\"}");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)init, k, v) {
		if (strcmp(k, "format") != 0 && strcmp(k, "body") != 0)
			return bad(err, VT_E_PARSE, "init-data", "unknown member (want only \"format\" and \"body\")");
	}
	const char *format = json_string_value(json_object_get(init, "format"));
	json_t *body = json_object_get(init, "body");
	if (format == NULL)
		return bad(err, VT_E_PARSE, "init-data.format", "format must be a string");
	if (strcmp(format, "toml") != 0)
		return bad(err, VT_E_REJECTED, "init-data.format", "only format \"toml\" is supported (as Trustee)");
	if (!json_is_string(body))
		return bad(err, VT_E_PARSE, "init-data.body", "body must be a string");
	const char *text = json_string_value(body);
	size_t len = json_string_length(body);
	VT_GUARD(vt_toml_parse(text, len, &doc, err));

	const char *version = json_string_value(json_object_get(doc, "version"));
	const char *alg = json_string_value(json_object_get(doc, "algorithm"));
	json_t *data = json_object_get(doc, "data");
	if (version == NULL) {
		rc = bad(err, VT_E_PARSE, "init-data.body.version", "version must be a string");
		goto out;
	}
	if (alg == NULL) {
		rc = bad(err, VT_E_PARSE, "init-data.body.algorithm", "algorithm must be a string");
		goto out;
	}
	const EVP_MD *md = vt_kbs_hash_md(alg);
	if (md == NULL) {
		char d[128];
		snprintf(d, sizeof(d), "%s hash algorithm \"%.16s\" (want sha256, sha384 or sha512)",
			 vt_kbs_hash_known(alg) ? "unsupported" : "unknown", alg);
		rc = bad(err, VT_E_REJECTED, "init-data.body.algorithm", d);
		goto out;
	}
	if (data != NULL && !json_is_object(data)) {
		rc = bad(err, VT_E_PARSE, "init-data.body.data", "data must be a table");
		goto out;
	}
	snprintf(out->algorithm, sizeof(out->algorithm), "%s", alg);
	VT_GUARD(vt_digest(md, text, len, out->digest, &out->digest_size, err));
	if (data != NULL)
		VT_GUARD(data_claims(data, out, err));
	else if ((out->claims = json_object()) == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "init-data", "out of memory");
out:
	json_decref(doc);
	if (rc != VT_OK)
		vt_kbs_init_data_free(out);
	return rc;
}

void vt_kbs_init_data_free(struct vt_kbs_init_data *d)
{
	if (d == NULL)
		return;
	json_decref(d->claims);
	json_decref(d->agent_policy);
	d->claims = NULL;
	d->agent_policy = NULL;
}
