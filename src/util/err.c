/* Error records: see include/veritee/err.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "veritee/err.h"

vt_status vt_fail(struct vt_err *err, vt_status code, vt_step step, const char *field, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	/* The innermost cause is recorded first; outer layers only add to it. */
	if (err->code != VT_OK && err->step != VT_STEP_NONE)
		return code;
	err->code = code;
	err->step = step;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
		va_end(ap);
	} else {
		err->detail[0] = '\0';
	}
	return code;
}

void vt_err_clear(struct vt_err *err)
{
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}

const char *vt_step_name(vt_step step)
{
	switch (step) {
	case VT_STEP_NONE: return "none";
	case VT_STEP_PARSE: return "parse";
	case VT_STEP_SIGNATURE: return "signature";
	case VT_STEP_CHAIN: return "chain";
	case VT_STEP_COLLATERAL: return "collateral";
	case VT_STEP_TCB: return "tcb";
	case VT_STEP_BINDING: return "binding";
	case VT_STEP_POLICY: return "policy";
	case VT_STEP_TOKEN: return "token";
	case VT_STEP_SESSION: return "session";
	case VT_STEP_STORAGE: return "storage";
	case VT_STEP_CONFIG: return "config";
	case VT_STEP_CRYPTO: return "crypto";
	case VT_STEP_IO: return "io";
	}
	return "unknown";
}

const char *vt_status_name(vt_status code)
{
	switch (code) {
	case VT_OK: return "ok";
	case VT_E_PARSE: return "malformed input";
	case VT_E_REJECTED: return "rejected";
	case VT_E_POLICY: return "denied by policy";
	case VT_E_AUTH: return "not authorized";
	case VT_E_NOTFOUND: return "not found";
	case VT_E_LIMIT: return "too large";
	case VT_E_USAGE: return "usage error";
	case VT_E_IO: return "i/o error";
	case VT_E_CRYPTO: return "crypto library error";
	case VT_E_NOMEM: return "out of memory";
	case VT_E_INTERNAL: return "internal error";
	case VT_E_UNAVAILABLE: return "unavailable, retry later";
	}
	return "unknown";
}

void vt_err_format(const struct vt_err *err, char *buf, size_t buf_size)
{
	if (buf_size == 0)
		return;
	if (err == NULL || err->code == VT_OK) {
		snprintf(buf, buf_size, "ok");
		return;
	}
	snprintf(buf, buf_size, "%s (step=%s%s%s): %s", vt_status_name(err->code), vt_step_name(err->step),
		 err->field[0] ? " field=" : "", err->field, err->detail);
}

vt_status vt_err_context(struct vt_err *err, const char *prefix)
{
	if (err == NULL || err->code == VT_OK)
		return VT_E_INTERNAL;
	char d[sizeof(err->detail)];
	size_t p = strnlen(prefix, sizeof(d) - 3);
	memcpy(d, prefix, p);
	d[p] = ':';
	d[p + 1] = ' ';
	size_t room = sizeof(d) - p - 2; /* >= 1 */
	size_t n = strnlen(err->detail, sizeof(err->detail));
	if (n >= room)
		n = room - 1; /* truncated at the end, as snprintf would */
	memcpy(d + p + 2, err->detail, n);
	d[p + 2 + n] = '\0';
	memcpy(err->detail, d, sizeof(err->detail));
	return err->code;
}
