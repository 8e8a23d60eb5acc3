/*
 * Unit tests for the TDX attester (src/attester/tdx/attest.c) through
 * vt_attest("tdx", ...).
 *
 * configfs-tsm is emulated in a temporary directory.  A child process runs
 * the attester; the parent plays the kernel: it watches the fake root for
 * the new entry directory, creates provider / generation / inblob and an
 * `outblob` FIFO in it, waits until inblob holds the report data, advances
 * generation and writes the quote into the FIFO.  Two things a real
 * configfs does inside the system calls are emulated in the child by this
 * program's own mkdir() / rmdir() (the library is linked statically, so its
 * calls land here): mkdir returns only once the "kernel" has populated the
 * entry, and rmdir removes the attribute files before the real rmdir.  The
 * library's configfs code is the production code, unchanged.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "veritee/attester.h"
#include "veritee/json.h"

/* ------------------------------------------------ child-side interposers */

static char g_root[PATH_MAX]; /* fake root; "" = interposers inactive */
static int g_ready_fd = -1;   /* child: the parent writes a byte once an entry is populated */

static bool is_fake_entry(const char *path)
{
	size_t n = strlen(g_root);
	return n > 0 && strncmp(path, g_root, n) == 0 && path[n] == '/' && path[n + 1] != '\0' &&
	       strchr(path + n + 1, '/') == NULL;
}

int mkdir(const char *path, mode_t mode)
{
	int r = (int)syscall(SYS_mkdirat, AT_FDCWD, path, mode);
	if (r == 0 && is_fake_entry(path) && g_ready_fd >= 0) {
		struct pollfd p = {.fd = g_ready_fd, .events = POLLIN};
		char c;
		if (poll(&p, 1, 10000) == 1)
			(void)!read(g_ready_fd, &c, 1);
	}
	return r;
}

int rmdir(const char *path)
{
	if (is_fake_entry(path)) {
		static const char *const names[] = {"provider", "generation", "inblob", "outblob"};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			char p[PATH_MAX];
			if (snprintf(p, sizeof(p), "%s/%s", path, names[i]) < (int)sizeof(p))
				unlink(p);
		}
	}
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR);
}

/* ------------------------------------------------------------ helpers */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void path_in(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Atomically (temp file + rename), as the kernel's attributes never show
 * half-written values. */
static void put_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	path_in(path, dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_true(n == 0 || write(fd, p, n) == (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static size_t file_size(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	path_in(path, dir, name);
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static size_t dir_entries(const char *dir, char *first, size_t first_size)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == 0 && first)
			snprintf(first, first_size, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* ------------------------------------------------------------ fixtures */

static char *g_tmp;
static uint8_t *g_v4, *g_v5; /* quotes to serve (vectors, or synthetic) */
static size_t g_v4_size, g_v5_size;
static bool g_from_vectors;
static uint8_t g_ccel[3000];

static uint8_t *read_vector(const char *rel, size_t *n)
{
	const char *dir = vt_test_vectors_dir();
	if (dir == NULL)
		return NULL;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	uint8_t *p = NULL;
	if (vt_file_read(path, 1 << 20, &p, n, NULL) != VT_OK)
		return NULL;
	return p;
}

/* Header (version, key type 2, TEE 0x81) + body (+ v5 descriptor) + filler. */
static uint8_t *synthetic_quote(int version, size_t *n)
{
	size_t size = 48 + (version == 5 ? 6 + 648 : 584) + 64;
	uint8_t *q = calloc(1, size);
	assert_non_null(q);
	q[0] = (uint8_t)version;
	q[2] = 2;
	q[4] = 0x81;
	if (version == 5) {
		q[48] = 3;
		q[50] = (uint8_t)(648 & 0xff);
		q[51] = (uint8_t)(648 >> 8);
	}
	for (size_t i = version == 5 ? 54 : 48; i < size; i++)
		q[i] ^= (uint8_t)(i * 7);
	*n = size;
	return q;
}

static int group_setup(void **state)
{
	(void)state;
	g_tmp = vt_test_tmpdir();
	if (g_tmp == NULL)
		return -1;
	g_v4 = read_vector("tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat", &g_v4_size);
	g_v5 = read_vector("tdx/go-tdx-guest_v5_td15_quote.dat", &g_v5_size);
	g_from_vectors = g_v4 != NULL && g_v5 != NULL;
	if (!g_from_vectors) {
		free(g_v4);
		free(g_v5);
		g_v4 = synthetic_quote(4, &g_v4_size);
		g_v5 = synthetic_quote(5, &g_v5_size);
	}
	for (size_t i = 0; i < sizeof(g_ccel); i++)
		g_ccel[i] = i < 2000 ? (uint8_t)(i * 13 + 1) : 0xFF;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	if (g_tmp) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
		(void)!system(cmd);
	}
	free(g_tmp);
	free(g_v4);
	free(g_v5);
	return 0;
}

/* ------------------------------------------------------------ the kernel */

struct scenario {
	const char *provider;       /* provider text */
	unsigned gen_bump;          /* how far generation moves after inblob (1 = just our write) */
	const uint8_t *quote;
	size_t quote_size;
	size_t rd_offset;           /* where the report data goes; 0 = do not fill it in */
	const char *ccel_path;      /* passed as tdx_ccel_path */
};

struct outcome {
	vt_status rc;
	char field[64];
	char detail[512];
	json_t *evidence;
	uint8_t inblob[128];
	size_t inblob_size;
	bool entry_seen;
	size_t left_in_root;
};

static void run(const struct scenario *sc, const uint8_t report_data[64], struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	char root[PATH_MAX], result[PATH_MAX];
	static unsigned seq;
	snprintf(root, sizeof(root), "%s/report%u", g_tmp, seq);
	snprintf(result, sizeof(result), "%s/result%u.json", g_tmp, seq++);
	assert_int_equal(mkdir(root, 0700), 0);

	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[1]);
		snprintf(g_root, sizeof(g_root), "%s", root);
		g_ready_fd = ready[0];
		struct vt_attest_opts opts = {.tdx_configfs_root = root, .tdx_ccel_path = sc->ccel_path};
		struct vt_err e;
		vt_err_clear(&e);
		json_t *ev = NULL;
		vt_status rc = vt_attest("tdx", &opts, report_data, &ev, &e);
		json_t *res = json_pack("{s:i, s:s, s:s, s:o}", "rc", (int)rc, "field", e.field, "detail", e.detail,
					"evidence", ev ? ev : json_null());
		int ok = res && json_dump_file(res, result, JSON_COMPACT) == 0;
		json_decref(res);
		_exit(ok ? 0 : 3);
	}
	close(ready[0]);

	/* Watch for the entry, then populate it as configfs would. */
	char name[NAME_MAX + 1] = "", entry[PATH_MAX];
	int status = 0;
	bool exited = false;
	for (int t = 0; t < 10000 && dir_entries(root, name, sizeof(name)) == 0; t++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			break;
		}
		sleep_ms(1);
	}
	if (!exited && name[0] != '\0') {
		o->entry_seen = true;
		path_in(entry, root, name);
		put_file(entry, "provider", sc->provider, strlen(sc->provider));
		put_file(entry, "generation", "7\n", 2);
		put_file(entry, "inblob", "", 0);
		char fifo[PATH_MAX];
		path_in(fifo, entry, "outblob");
		assert_int_equal(mkfifo(fifo, 0600), 0);
		assert_int_equal(write(ready[1], "x", 1), 1);

		/* Wait for the report data (or for the attester to give up). */
		for (int t = 0; t < 10000 && file_size(entry, "inblob") < 64; t++) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				exited = true;
				break;
			}
			sleep_ms(1);
		}
		if (!exited) {
			char path[PATH_MAX];
			path_in(path, entry, "inblob");
			FILE *f = fopen(path, "rb");
			assert_non_null(f);
			o->inblob_size = fread(o->inblob, 1, sizeof(o->inblob), f);
			fclose(f);
			char g[32];
			int gl = snprintf(g, sizeof(g), "%u\n", 7 + sc->gen_bump);
			put_file(entry, "generation", g, (size_t)gl);

			int fd = -1;
			for (int t = 0; t < 10000; t++) {
				fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
				if (fd >= 0 || errno != ENXIO)
					break;
				sleep_ms(1);
			}
			assert_true(fd >= 0);
			assert_int_not_equal(fcntl(fd, F_SETFL, 0), -1);
			uint8_t *q = malloc(sc->quote_size);
			assert_non_null(q);
			memcpy(q, sc->quote, sc->quote_size);
			if (sc->rd_offset && o->inblob_size == 64 && sc->rd_offset + 64 <= sc->quote_size)
				memcpy(q + sc->rd_offset, o->inblob, 64);
			size_t done = 0;
			while (done < sc->quote_size) {
				ssize_t w = write(fd, q + done, sc->quote_size - done);
				if (w <= 0)
					break;
				done += (size_t)w;
			}
			free(q);
			close(fd);
		}
	}
	close(ready[1]);
	if (!exited)
		assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	json_error_t je;
	json_t *res = json_load_file(result, 0, &je);
	assert_non_null(res);
	o->rc = (vt_status)json_integer_value(json_object_get(res, "rc"));
	snprintf(o->field, sizeof(o->field), "%s", json_string_value(json_object_get(res, "field")));
	snprintf(o->detail, sizeof(o->detail), "%s", json_string_value(json_object_get(res, "detail")));
	json_t *ev = json_object_get(res, "evidence");
	o->evidence = json_is_null(ev) ? NULL : json_incref(ev);
	json_decref(res);
	o->left_in_root = dir_entries(root, NULL, 0);
	unlink(result);
}

static void report_data_for(uint8_t rd[64], uint8_t seed)
{
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(seed + i * 3);
}

static uint8_t *b64_member(json_t *ev, const char *key, size_t *n)
{
	const char *s = json_string_value(json_object_get(ev, key));
	assert_non_null(s);
	uint8_t *p = NULL;
	assert_int_equal(vt_b64_decode(s, strlen(s), &p, n, NULL), VT_OK);
	return p;
}

static char *write_ccel(void)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/CCEL", g_tmp) > 0);
	assert_int_equal(vt_file_write(p, g_ccel, sizeof(g_ccel), 0600, NULL), VT_OK);
	return p;
}

/* ------------------------------------------------------------ tests */

static void check_success(const uint8_t *quote, size_t quote_size, size_t rd_offset, bool with_ccel)
{
	uint8_t rd[64];
	report_data_for(rd, (uint8_t)rd_offset);
	char *ccel = with_ccel ? write_ccel() : NULL;
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no-such-CCEL", g_tmp);
	struct scenario sc = {.provider = "tdx_guest\n", .gen_bump = 1, .quote = quote, .quote_size = quote_size,
			      .rd_offset = rd_offset, .ccel_path = with_ccel ? ccel : missing};
	struct outcome o;
	run(&sc, rd, &o);
	if (o.rc != VT_OK)
		fail_msg("attest failed: %s: %s", o.field, o.detail);
	assert_true(o.entry_seen);
	assert_int_equal(o.inblob_size, 64);
	assert_memory_equal(o.inblob, rd, 64);
	assert_non_null(o.evidence);
	assert_int_equal(json_object_size(o.evidence), 2);

	size_t n = 0;
	uint8_t *q = b64_member(o.evidence, "quote", &n);
	assert_int_equal(n, quote_size);
	assert_memory_equal(q + rd_offset, rd, 64);
	assert_memory_equal(q, quote, rd_offset);
	assert_memory_equal(q + rd_offset + 64, quote + rd_offset + 64, quote_size - rd_offset - 64);
	free(q);
	if (with_ccel) {
		uint8_t *l = b64_member(o.evidence, "cc_eventlog", &n);
		assert_int_equal(n, sizeof(g_ccel));
		assert_memory_equal(l, g_ccel, sizeof(g_ccel));
		free(l);
		unlink(ccel);
	} else {
		assert_true(json_is_null(json_object_get(o.evidence, "cc_eventlog")));
	}
	assert_int_equal(o.left_in_root, 0); /* the entry is gone */
	json_decref(o.evidence);
	free(ccel);
}

static void test_quote_v4_with_ccel(void **state)
{
	(void)state;
	if (!g_from_vectors)
		print_message("# vectors not found: serving a synthetic quote\n");
	check_success(g_v4, g_v4_size, 48 + 520, true);
}

static void test_quote_v5_without_ccel(void **state)
{
	(void)state;
	check_success(g_v5, g_v5_size, 48 + 6 + 520, false);
}

static void expect_failure(const struct scenario *sc, vt_status want, const char *field, const char *detail_part)
{
	uint8_t rd[64];
	report_data_for(rd, 9);
	struct outcome o;
	run(sc, rd, &o);
	if (o.rc != want)
		fail_msg("got %s (%s: %s), want %s", vt_status_name(o.rc), o.field, o.detail, vt_status_name(want));
	assert_true(o.entry_seen);
	if (field)
		assert_string_equal(o.field, field);
	if (detail_part && strstr(o.detail, detail_part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", o.detail, detail_part);
	assert_null(o.evidence);
	assert_int_equal(o.left_in_root, 0); /* removed on the error path too */
}

static void test_provider_sev_guest(void **state)
{
	(void)state;
	struct scenario sc = {.provider = "sev_guest\n", .gen_bump = 1, .quote = g_v4, .quote_size = g_v4_size,
			      .rd_offset = 568};
	expect_failure(&sc, VT_E_USAGE, "provider", "not a TDX guest");
}

static void test_generation_jump(void **state)
{
	(void)state;
	struct scenario sc = {.provider = "tdx_guest\n", .gen_bump = 2, .quote = g_v4, .quote_size = g_v4_size,
			      .rd_offset = 568};
	expect_failure(&sc, VT_E_IO, NULL, "concurrent writer");
}

static void test_report_data_not_bound(void **state)
{
	(void)state;
	struct scenario sc = {.provider = "tdx_guest\n", .gen_bump = 1, .quote = g_v4, .quote_size = g_v4_size,
			      .rd_offset = 0};
	expect_failure(&sc, VT_E_REJECTED, "quote.report_data", "requested report data");
}

static void test_not_a_td_quote(void **state)
{
	(void)state;
	uint8_t sgx[1200] = {3, 0, 2, 0, 0, 0, 0, 0}; /* a v3 SGX header */
	struct scenario sc = {.provider = "tdx_guest\n", .gen_bump = 1, .quote = sgx, .quote_size = sizeof(sgx),
			      .rd_offset = 0};
	expect_failure(&sc, VT_E_PARSE, "outblob.tee_type", NULL);
	struct scenario empty = {.provider = "tdx_guest\n", .gen_bump = 1, .quote = sgx, .quote_size = 0};
	expect_failure(&empty, VT_E_IO, "outblob", "empty quote");
	struct scenario shortq = {.provider = "tdx_guest\n", .gen_bump = 1, .quote = g_v4, .quote_size = 300};
	expect_failure(&shortq, VT_E_PARSE, "outblob.body", NULL);
}

static void test_missing_root(void **state)
{
	(void)state;
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/does-not-exist/report", g_tmp);
	struct vt_attest_opts opts = {.tdx_configfs_root = root};
	uint8_t rd[64] = {0};
	json_t *ev = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	assert_int_equal(vt_attest("tdx", &opts, rd, &ev, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	assert_non_null(strstr(e.detail, "no TDX guest interface"));
	assert_null(ev);

	/* A file where the root should be. */
	char file[PATH_MAX];
	snprintf(file, sizeof(file), "%s/plainfile", g_tmp);
	assert_int_equal(vt_file_write(file, "x", 1, 0600, NULL), VT_OK);
	opts.tdx_configfs_root = file;
	vt_err_clear(&e);
	assert_int_equal(vt_attest("tdx", &opts, rd, &ev, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "not a directory"));
	unlink(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_v4_with_ccel),   cmocka_unit_test(test_quote_v5_without_ccel),
		cmocka_unit_test(test_provider_sev_guest),   cmocka_unit_test(test_generation_jump),
		cmocka_unit_test(test_report_data_not_bound), cmocka_unit_test(test_not_a_td_quote),
		cmocka_unit_test(test_missing_root),
	};
	return cmocka_run_group_tests_name("tdx_attest", tests, group_setup, group_teardown);
}
