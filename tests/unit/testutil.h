/* Shared helpers for cmocka unit tests.  Each tests/unit/test_*.c is its own
 * program with a main() that runs a cmocka group. */
#ifndef VT_TESTUTIL_H
#define VT_TESTUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
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


/* ---------------------------------------------------------------- loopback ports
 * For tests that start their own servers (swtpm) on 127.0.0.1. */

/* Nothing listens on `port` on loopback (a bind succeeds). */
static inline bool vt_test_port_free(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* Something accepts connections on `port` on loopback. */
static inline bool vt_test_port_accepts(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* A port P with P and P+1 free on loopback (swtpm's server and control), or -1. */
static inline int vt_test_free_port_pair(void)
{
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int i = 0; i < 200; i++) {
		int p = 20000 + (int)(rand_r(&seed) % 40000u);
		if (vt_test_port_free(p) && vt_test_port_free(p + 1))
			return p;
	}
	return -1;
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
