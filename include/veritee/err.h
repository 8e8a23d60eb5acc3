/*
 * veritee/err.h — one status type, and an error record that says which step
 * failed and where.
 *
 * Every fallible function returns `vt_status` (marked VT_MUST_USE) and, when it
 * fails, fills a caller-supplied `struct vt_err` (which may be NULL).  The
 * record never holds secret bytes: `detail` is written by our code from public
 * values only (lengths, field names, expected/seen public values).
 */
#ifndef VERITEE_ERR_H
#define VERITEE_ERR_H

#include <stddef.h>
#include <stdint.h>

#define VT_MUST_USE __attribute__((warn_unused_result))
#define VT_API __attribute__((visibility("default")))
#define VT_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* What went wrong, grouped by kind (malformed input, rejection, internal). */
typedef enum vt_status {
	VT_OK = 0,
	VT_E_PARSE,      /* malformed or truncated input */
	VT_E_REJECTED,   /* well-formed but fails verification or appraisal */
	VT_E_POLICY,     /* policy denied */
	VT_E_AUTH,       /* missing or bad credentials */
	VT_E_NOTFOUND,   /* named object does not exist */
	VT_E_LIMIT,      /* input exceeds a configured cap */
	VT_E_USAGE,      /* caller misuse / bad argument / bad config */
	VT_E_IO,         /* file, socket or database failure */
	VT_E_CRYPTO,     /* the crypto library failed (not a verification "no") */
	VT_E_NOMEM,
	VT_E_INTERNAL,
	VT_E_UNAVAILABLE, /* a service this depends on (the database) is down or overloaded: retry later */
} vt_status;

/* Which verification step the failure belongs to. */
typedef enum vt_step {
	VT_STEP_NONE = 0,
	VT_STEP_PARSE,
	VT_STEP_SIGNATURE,
	VT_STEP_CHAIN,
	VT_STEP_COLLATERAL,
	VT_STEP_TCB,
	VT_STEP_BINDING,
	VT_STEP_POLICY,
	VT_STEP_TOKEN,
	VT_STEP_SESSION,
	VT_STEP_STORAGE,
	VT_STEP_CONFIG,
	VT_STEP_CRYPTO,
	VT_STEP_IO,
} vt_step;

struct vt_err {
	vt_status code;
	vt_step step;
	char field[64];   /* field path, e.g. "report.signature" or "/sim/svn" */
	char detail[512]; /* human-readable, public values only */
};

/*
 * Record a failure and return `code`, so callers can write
 *     return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report.version", "got %u", v);
 * `err` may be NULL.  A second failure does not overwrite the first one's
 * step and field unless the first was VT_STEP_NONE (the innermost cause wins).
 */
VT_API vt_status vt_fail(struct vt_err *err, vt_status code, vt_step step,
			 const char *field, const char *fmt, ...) VT_PRINTF(5, 6);

/* Reset a record to "no error". */
VT_API void vt_err_clear(struct vt_err *err);

/*
 * Add the context of an outer layer to a failure an inner layer recorded:
 * "prefix: " goes in front of the detail (code, step and field stay the
 * innermost, most specific ones).  Returns err->code (VT_E_INTERNAL when
 * err is NULL or empty), so a caller can write
 *   return vt_err_context(err, "az-snp-vtpm: hcl.report");
 * and a failure inside composite evidence reads
 *   "az-snp-vtpm: hcl.report: snp: report signature does not verify".
 */
VT_API vt_status vt_err_context(struct vt_err *err, const char *prefix);

/* Static, lowercase names: "parse", "signature", ...; "rejected", "parse error", ... */
VT_API const char *vt_step_name(vt_step step);
VT_API const char *vt_status_name(vt_status code);

/* "step=signature field=report.signature: ECDSA verification failed" into buf. */
VT_API void vt_err_format(const struct vt_err *err, char *buf, size_t buf_size);

/* Guard: evaluate an expression returning vt_status; on failure jump to `out`
 * with `rc` set.  Functions using it declare `vt_status rc` and label `out:`. */
#define VT_GUARD(expr)                 \
	do {                           \
		rc = (expr);           \
		if (rc != VT_OK)       \
			goto out;      \
	} while (0)

#endif
