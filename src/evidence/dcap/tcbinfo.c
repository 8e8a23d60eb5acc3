/*
 * TCB Info v3 and QE / enclave identity v2 JSON (the signed values), parsed
 * strictly into the structs of dcap_internal.h.  ../shared/docs/formats/
 * tdx-sgx-dcap.md §5.1–§5.2.  Unknown members are ignored; known members
 * must have the right type, hex lengths are exact, statuses are Intel's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/dcap/dcap_internal.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define JSON_MAX (1u << 20)

struct ctx {
	struct vt_err *err;
	char path[128];
};

static vt_status failf(struct ctx *c, vt_status code, const char *key, const char *msg)
{
	char field[256];
	snprintf(field, sizeof(field), "%.120s%s%.120s", c->path, key[0] ? "." : "", key);
	return vt_fail(c->err, code, VT_STEP_COLLATERAL, field, "%s", msg);
}

static vt_status member(struct ctx *c, const json_t *obj, const char *key, json_type t, json_t **out)
{
	json_t *m = json_object_get(obj, key);
	if (m == NULL)
		return failf(c, VT_E_PARSE, key, "missing member");
	if (json_typeof(m) != t)
		return failf(c, VT_E_PARSE, key, "member has the wrong type");
	*out = m;
	return VT_OK;
}

static vt_status get_str(struct ctx *c, const json_t *obj, const char *key, const char **out)
{
	json_t *m = NULL;
	vt_status rc = member(c, obj, key, JSON_STRING, &m);
	if (rc == VT_OK)
		*out = json_string_value(m);
	return rc;
}

static vt_status get_int(struct ctx *c, const json_t *obj, const char *key, json_int_t min, json_int_t max,
			 json_int_t *out)
{
	json_t *m = NULL;
	vt_status rc = member(c, obj, key, JSON_INTEGER, &m);
	if (rc != VT_OK)
		return rc;
	json_int_t v = json_integer_value(m);
	if (v < min || v > max)
		return failf(c, VT_E_PARSE, key, "integer out of range");
	*out = v;
	return VT_OK;
}

static vt_status get_hex(struct ctx *c, const json_t *obj, const char *key, uint8_t *out, size_t n)
{
	const char *s = NULL;
	vt_status rc = get_str(c, obj, key, &s);
	if (rc != VT_OK)
		return rc;
	if (strlen(s) != 2 * n)
		return failf(c, VT_E_PARSE, key, "hex string has the wrong length");
	if (vt_hex_decode_fixed(s, out, n, NULL) != VT_OK)
		return failf(c, VT_E_PARSE, key, "invalid hex");
	return VT_OK;
}

static vt_status get_date(struct ctx *c, const json_t *obj, const char *key, int64_t *out, char *str, size_t str_size)
{
	const char *s = NULL;
	vt_status rc = get_str(c, obj, key, &s);
	if (rc != VT_OK)
		return rc;
	if (strlen(s) >= 32 || vt_time_parse_rfc3339(s, out, NULL) != VT_OK)
		return failf(c, VT_E_PARSE, key, "not an RFC 3339 date");
	if (str != NULL)
		snprintf(str, str_size, "%s", s);
	return VT_OK;
}

static vt_status get_status(struct ctx *c, const json_t *obj, vt_tcb_status *out)
{
	const char *s = NULL;
	vt_status rc = get_str(c, obj, "tcbStatus", &s);
	if (rc != VT_OK)
		return rc;
	if (vt_tcb_status_parse(s, out, NULL) != VT_OK)
		return failf(c, VT_E_PARSE, "tcbStatus", "unrecognized status");
	return VT_OK;
}

/* Optional advisoryIDs: array of non-empty strings without commas, joined. */
static vt_status get_advisories(struct ctx *c, const json_t *obj, char *out, size_t out_size)
{
	out[0] = '\0';
	json_t *a = json_object_get(obj, "advisoryIDs");
	if (a == NULL)
		return VT_OK;
	if (!json_is_array(a))
		return failf(c, VT_E_PARSE, "advisoryIDs", "must be an array");
	size_t used = 0;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);
		if (!json_is_string(e) || json_string_length(e) == 0 || strchr(json_string_value(e), ',') != NULL)
			return failf(c, VT_E_PARSE, "advisoryIDs", "entries must be non-empty strings");
		size_t l = json_string_length(e);
		size_t need = l + (used ? 1 : 0);
		if (need >= out_size - used)
			return failf(c, VT_E_LIMIT, "advisoryIDs", "advisory list too long");
		if (used)
			out[used++] = ',';
		memcpy(out + used, json_string_value(e), l);
		used += l;
		out[used] = '\0';
	}
	return VT_OK;
}

static vt_status get_levels_array(struct ctx *c, const json_t *obj, json_t **out)
{
	vt_status rc = member(c, obj, "tcbLevels", JSON_ARRAY, out);
	if (rc != VT_OK)
		return rc;
	size_t n = json_array_size(*out);
	if (n == 0)
		return failf(c, VT_E_PARSE, "tcbLevels", "no TCB levels");
	if (n > VT_DCAP_MAX_LEVELS)
		return failf(c, VT_E_LIMIT, "tcbLevels", "too many TCB levels");
	return VT_OK;
}

static vt_status get_components(struct ctx *c, const json_t *tcb, const char *key, uint8_t svn[16])
{
	json_t *a = NULL;
	vt_status rc = member(c, tcb, key, JSON_ARRAY, &a);
	if (rc != VT_OK)
		return rc;
	if (json_array_size(a) != 16)
		return failf(c, VT_E_PARSE, key, "must have 16 components");
	for (size_t i = 0; i < 16; i++) {
		json_t *e = json_array_get(a, i);
		json_int_t v = 0;
		if (!json_is_object(e))
			return failf(c, VT_E_PARSE, key, "component must be an object");
		if ((rc = get_int(c, e, "svn", 0, 255, &v)) != VT_OK)
			return rc;
		svn[i] = (uint8_t)v;
	}
	return VT_OK;
}

static void set_path(struct ctx *c, const char *prefix, size_t i)
{
	snprintf(c->path, sizeof(c->path), "%.60s[%u]", prefix, (unsigned)(i & 0xffffu));
}

static vt_status parse_tcb_level(struct ctx *c, const json_t *lv, bool tdx, struct vt_tcb_level *out)
{
	vt_status rc;
	json_t *tcb = NULL;
	json_int_t v = 0;
	if (!json_is_object(lv))
		return failf(c, VT_E_PARSE, "", "TCB level must be an object");
	VT_GUARD(member(c, lv, "tcb", JSON_OBJECT, &tcb));
	VT_GUARD(get_components(c, tcb, "sgxtcbcomponents", out->sgx_svn));
	VT_GUARD(get_int(c, tcb, "pcesvn", 0, 65535, &v));
	out->pcesvn = (uint16_t)v;
	if (json_object_get(tcb, "tdxtcbcomponents") != NULL || tdx) {
		VT_GUARD(get_components(c, tcb, "tdxtcbcomponents", out->tdx_svn));
		out->has_tdx = true;
	}
	VT_GUARD(get_date(c, lv, "tcbDate", &out->tcb_date, out->tcb_date_str, sizeof(out->tcb_date_str)));
	VT_GUARD(get_status(c, lv, &out->status));
	VT_GUARD(get_advisories(c, lv, out->advisory_ids, sizeof(out->advisory_ids)));
out:
	return rc;
}

static vt_status parse_module_identity(struct ctx *c, const json_t *m, struct vt_tdx_module_identity *out)
{
	vt_status rc;
	const char *id = NULL;
	json_t *levels = NULL;
	char base[128];
	if (!json_is_object(m))
		return failf(c, VT_E_PARSE, "", "module identity must be an object");
	VT_GUARD(get_str(c, m, "id", &id));
	if (strlen(id) == 0 || strlen(id) >= sizeof(out->id)) {
		rc = failf(c, VT_E_PARSE, "id", "bad module identity id");
		goto out;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	VT_GUARD(get_hex(c, m, "mrsigner", out->mrsigner, 48));
	VT_GUARD(get_hex(c, m, "attributes", out->attributes, 8));
	VT_GUARD(get_hex(c, m, "attributesMask", out->attributes_mask, 8));
	VT_GUARD(get_levels_array(c, m, &levels));
	out->levels = calloc(json_array_size(levels), sizeof(*out->levels));
	if (out->levels == NULL) {
		rc = failf(c, VT_E_NOMEM, "tcbLevels", "out of memory");
		goto out;
	}
	out->level_count = json_array_size(levels);
	snprintf(base, sizeof(base), "%s", c->path);
	for (size_t i = 0; i < out->level_count; i++) {
		const json_t *lv = json_array_get(levels, i);
		struct vt_tdx_module_level *l = &out->levels[i];
		json_t *tcb = NULL;
		json_int_t v = 0;
		snprintf(c->path, sizeof(c->path), "%.80s.tcbLevels[%u]", base, (unsigned)(i & 0xffffu));
		if (!json_is_object(lv)) {
			rc = failf(c, VT_E_PARSE, "", "TCB level must be an object");
			goto out;
		}
		VT_GUARD(member(c, lv, "tcb", JSON_OBJECT, &tcb));
		VT_GUARD(get_int(c, tcb, "isvsvn", 0, 255, &v));
		l->isvsvn = (uint8_t)v;
		VT_GUARD(get_date(c, lv, "tcbDate", &l->tcb_date, l->tcb_date_str, sizeof(l->tcb_date_str)));
		VT_GUARD(get_status(c, lv, &l->status));
		VT_GUARD(get_advisories(c, lv, l->advisory_ids, sizeof(l->advisory_ids)));
	}
	rc = VT_OK;
out:
	return rc;
}

void vt_tcb_info_free(struct vt_tcb_info *ti)
{
	if (ti == NULL)
		return;
	for (size_t i = 0; i < ti->module_id_count; i++)
		free(ti->module_ids[i].levels);
	free(ti->module_ids);
	free(ti->levels);
	memset(ti, 0, sizeof(*ti));
}

vt_status vt_tcb_info_parse(const char *json, size_t len, struct vt_tcb_info *out, struct vt_err *err)
{
	vt_status rc;
	json_t *doc = NULL, *levels = NULL;
	struct ctx c = {err, "tcbInfo"};
	const char *id = NULL;
	json_int_t v = 0;

	if (json == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "tcbInfo", "NULL argument");
	memset(out, 0, sizeof(*out));
	if (len > JSON_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, "tcbInfo", "TCB info too large");
	if (vt_json_parse(json, len, JSON_MAX, &doc, err) != VT_OK)
		return vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, "tcbInfo", "invalid JSON");
	if (!json_is_object(doc)) {
		rc = failf(&c, VT_E_PARSE, "", "TCB info must be an object");
		goto out;
	}
	VT_GUARD(get_str(&c, doc, "id", &id));
	if (strcmp(id, "SGX") != 0 && strcmp(id, "TDX") != 0) {
		rc = failf(&c, VT_E_PARSE, "id", "id must be \"SGX\" or \"TDX\"");
		goto out;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	bool tdx = strcmp(id, "TDX") == 0;
	VT_GUARD(get_int(&c, doc, "version", 3, 3, &v));
	out->version = (int)v;
	VT_GUARD(get_date(&c, doc, "issueDate", &out->issue_date, NULL, 0));
	VT_GUARD(get_date(&c, doc, "nextUpdate", &out->next_update, NULL, 0));
	VT_GUARD(get_hex(&c, doc, "fmspc", out->fmspc, 6));
	VT_GUARD(get_hex(&c, doc, "pceId", out->pceid, 2));
	VT_GUARD(get_int(&c, doc, "tcbType", 0, INT_MAX, &v));
	out->tcb_type = (int)v;
	VT_GUARD(get_int(&c, doc, "tcbEvaluationDataNumber", 0, INT_MAX, &v));
	out->evaluation_number = (int)v;

	json_t *mod = json_object_get(doc, "tdxModule");
	if (mod != NULL || tdx) {
		VT_GUARD(member(&c, doc, "tdxModule", JSON_OBJECT, &mod));
		snprintf(c.path, sizeof(c.path), "tcbInfo.tdxModule");
		VT_GUARD(get_hex(&c, mod, "mrsigner", out->tdx_mrsigner, 48));
		VT_GUARD(get_hex(&c, mod, "attributes", out->tdx_attributes, 8));
		VT_GUARD(get_hex(&c, mod, "attributesMask", out->tdx_attributes_mask, 8));
		out->has_tdx_module = true;
		snprintf(c.path, sizeof(c.path), "tcbInfo");
	}

	json_t *ids = json_object_get(doc, "tdxModuleIdentities");
	if (ids != NULL) {
		if (!json_is_array(ids)) {
			rc = failf(&c, VT_E_PARSE, "tdxModuleIdentities", "must be an array");
			goto out;
		}
		size_t n = json_array_size(ids);
		if (n > VT_DCAP_MAX_MODULE_IDS) {
			rc = failf(&c, VT_E_LIMIT, "tdxModuleIdentities", "too many module identities");
			goto out;
		}
		if (n > 0) {
			out->module_ids = calloc(n, sizeof(*out->module_ids));
			if (out->module_ids == NULL) {
				rc = failf(&c, VT_E_NOMEM, "tdxModuleIdentities", "out of memory");
				goto out;
			}
			out->module_id_count = n;
		}
		for (size_t i = 0; i < n; i++) {
			set_path(&c, "tcbInfo.tdxModuleIdentities", i);
			VT_GUARD(parse_module_identity(&c, json_array_get(ids, i), &out->module_ids[i]));
		}
		snprintf(c.path, sizeof(c.path), "tcbInfo");
	}

	VT_GUARD(get_levels_array(&c, doc, &levels));
	out->levels = calloc(json_array_size(levels), sizeof(*out->levels));
	if (out->levels == NULL) {
		rc = failf(&c, VT_E_NOMEM, "tcbLevels", "out of memory");
		goto out;
	}
	out->level_count = json_array_size(levels);
	for (size_t i = 0; i < out->level_count; i++) {
		set_path(&c, "tcbInfo.tcbLevels", i);
		VT_GUARD(parse_tcb_level(&c, json_array_get(levels, i), tdx, &out->levels[i]));
	}
	rc = VT_OK;
out:
	json_decref(doc);
	if (rc != VT_OK)
		vt_tcb_info_free(out);
	return rc;
}

void vt_qe_identity_free(struct vt_qe_identity *qi)
{
	if (qi == NULL)
		return;
	free(qi->levels);
	memset(qi, 0, sizeof(*qi));
}

vt_status vt_qe_identity_parse(const char *json, size_t len, struct vt_qe_identity *out, struct vt_err *err)
{
	vt_status rc;
	json_t *doc = NULL, *levels = NULL;
	struct ctx c = {err, "enclaveIdentity"};
	const char *id = NULL;
	json_int_t v = 0;

	if (json == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_COLLATERAL, "enclaveIdentity", "NULL argument");
	memset(out, 0, sizeof(*out));
	if (len > JSON_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_COLLATERAL, "enclaveIdentity", "QE identity too large");
	if (vt_json_parse(json, len, JSON_MAX, &doc, err) != VT_OK)
		return vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, "enclaveIdentity", "invalid JSON");
	if (!json_is_object(doc)) {
		rc = failf(&c, VT_E_PARSE, "", "QE identity must be an object");
		goto out;
	}
	VT_GUARD(get_str(&c, doc, "id", &id));
	if (strcmp(id, "QE") != 0 && strcmp(id, "TD_QE") != 0 && strcmp(id, "QVE") != 0) {
		rc = failf(&c, VT_E_PARSE, "id", "id must be \"QE\", \"TD_QE\" or \"QVE\"");
		goto out;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	VT_GUARD(get_int(&c, doc, "version", 2, 2, &v));
	out->version = (int)v;
	VT_GUARD(get_date(&c, doc, "issueDate", &out->issue_date, NULL, 0));
	VT_GUARD(get_date(&c, doc, "nextUpdate", &out->next_update, NULL, 0));
	VT_GUARD(get_int(&c, doc, "tcbEvaluationDataNumber", 0, INT_MAX, &v));
	out->evaluation_number = (int)v;
	VT_GUARD(get_hex(&c, doc, "miscselect", out->miscselect, 4));
	VT_GUARD(get_hex(&c, doc, "miscselectMask", out->miscselect_mask, 4));
	VT_GUARD(get_hex(&c, doc, "attributes", out->attributes, 16));
	VT_GUARD(get_hex(&c, doc, "attributesMask", out->attributes_mask, 16));
	VT_GUARD(get_hex(&c, doc, "mrsigner", out->mrsigner, 32));
	VT_GUARD(get_int(&c, doc, "isvprodid", 0, 65535, &v));
	out->isvprodid = (uint16_t)v;

	VT_GUARD(get_levels_array(&c, doc, &levels));
	out->levels = calloc(json_array_size(levels), sizeof(*out->levels));
	if (out->levels == NULL) {
		rc = failf(&c, VT_E_NOMEM, "tcbLevels", "out of memory");
		goto out;
	}
	out->level_count = json_array_size(levels);
	for (size_t i = 0; i < out->level_count; i++) {
		const json_t *lv = json_array_get(levels, i);
		struct vt_qe_level *l = &out->levels[i];
		json_t *tcb = NULL;
		set_path(&c, "enclaveIdentity.tcbLevels", i);
		if (!json_is_object(lv)) {
			rc = failf(&c, VT_E_PARSE, "", "TCB level must be an object");
			goto out;
		}
		VT_GUARD(member(&c, lv, "tcb", JSON_OBJECT, &tcb));
		VT_GUARD(get_int(&c, tcb, "isvsvn", 0, 65535, &v));
		l->isvsvn = (uint16_t)v;
		VT_GUARD(get_date(&c, lv, "tcbDate", &l->tcb_date, l->tcb_date_str, sizeof(l->tcb_date_str)));
		VT_GUARD(get_status(&c, lv, &l->status));
		VT_GUARD(get_advisories(&c, lv, l->advisory_ids, sizeof(l->advisory_ids)));
	}
	rc = VT_OK;
out:
	json_decref(doc);
	if (rc != VT_OK)
		vt_qe_identity_free(out);
	return rc;
}
