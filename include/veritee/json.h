/*
 * veritee/json.h — JSON helpers on jansson: bounded parsing, typed member
 * access with error records, RFC 8785 (JCS) canonical serialization, and
 * RFC 6901 JSON Pointer lookup.
 */
#ifndef VERITEE_JSON_H
#define VERITEE_JSON_H

#include <jansson.h>

#include "veritee/err.h"

/* Parse at most `max` bytes of JSON text (VT_E_LIMIT past it).  Rejects
 * duplicate keys and NUL bytes in strings.  *out is a new reference. */
VT_API VT_MUST_USE vt_status vt_json_parse(const char *text, size_t len, size_t max, json_t **out, struct vt_err *err);

/* Borrowed member of the given type, or a VT_E_PARSE error naming `key`. */
VT_API VT_MUST_USE vt_status vt_json_get_string(const json_t *obj, const char *key, const char **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_json_get_object(const json_t *obj, const char *key, json_t **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_json_get_array(const json_t *obj, const char *key, json_t **out, struct vt_err *err);

/* RFC 8785 canonical form (sorted keys, no whitespace, minimal escaping).
 * Only strings, integers, booleans, null, arrays and objects are accepted;
 * a real number yields NULL.  Returns a malloc'd string or NULL. */
VT_API char *vt_json_canonical(const json_t *v);

/* Compact serialization preserving member order (for output). malloc'd. */
VT_API char *vt_json_compact(const json_t *v);

/* RFC 6901 JSON Pointer ("" = whole document, "/a/b~1c/0").  Borrowed or NULL. */
VT_API json_t *vt_json_pointer(const json_t *doc, const char *pointer);

#endif
