/* Shared helpers for cmocka unit tests.  Each tests/unit/test_*.c is its own
 * program with a main() that runs a cmocka group. */
#ifndef VT_TESTUTIL_H
#define VT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "veritee/err.h"
#include "veritee/util.h"

/* The shared real-evidence folder, or NULL (tests then skip with a message). */
static inline const char *vt_test_vectors_dir(void)
{
	const char *env = getenv("VERITEE_VECTORS");
	const char *dir = env ? env : "../shared/vectors";
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return dir;
}

/* A fresh temporary directory (mkdtemp), malloc'd path. */
static inline char *vt_test_tmpdir(void)
{
	char tmpl[] = "/tmp/veritee-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}


/* Assert an error record holds this code and step. */
#define assert_err(errp, want_code, want_step)                                                      \
	do {                                                                                         \
		if ((errp)->code != (want_code) || (errp)->step != (want_step))                      \
			fail_msg("error is %s/%s (%s: %s), want %s/%s", vt_status_name((errp)->code),  \
				 vt_step_name((errp)->step), (errp)->field, (errp)->detail,            \
				 vt_status_name(want_code), vt_step_name(want_step));                 \
	} while (0)

#endif
