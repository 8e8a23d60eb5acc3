/* Device lists in NVIDIA's additional-evidence shape (evidence.h). */
#include <stdio.h>
#include <string.h>

#include "veritee/evidence.h"

vt_status vt_device_list_split(const json_t *value, const char *tee, size_t max, const char *(*class_of)(const json_t *),
			       json_t **devices_out, struct vt_err *err)
{
	json_t *list = json_is_object(value) ? json_object_get(value, "device_evidence_list") : NULL;
	if (!json_is_array(list))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "device_evidence_list",
			       "%s evidence must be {\"device_evidence_list\": [...]}", tee);
	size_t n = json_array_size(list);
	if (n == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "device_evidence_list", "%s device list is empty", tee);
	if (n > max)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "device_evidence_list",
			       "%zu %s devices, at most %zu accepted", n, tee, max);
	json_t *out = json_array();
	if (out == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, "device_evidence_list", "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);
		char field[48];
		snprintf(field, sizeof(field), "device_evidence_list[%zu]", i);
		if (!json_is_object(e)) {
			json_decref(out);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "a device entry must be a JSON object");
		}
		const char *uuid = json_string_value(json_object_get(e, "uuid"));
		for (size_t j = 0; uuid && j < i; j++) {
			const char *other = json_string_value(json_object_get(json_array_get(list, j), "uuid"));
			if (other && strcmp(other, uuid) == 0) {
				json_decref(out);
				return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, field,
					       "duplicate device uuid \"%.64s\" (also device_evidence_list[%zu])", uuid, j);
			}
		}
		if (json_array_append_new(out, json_pack("{s:s, s:O}", "class", class_of(e), "evidence", e)) != 0) {
			json_decref(out);
			return vt_fail(err, VT_E_NOMEM, VT_STEP_PARSE, field, "out of memory");
		}
	}
	*devices_out = out;
	return VT_OK;
}

