/*
 * Unit tests for the SEV-SNP attester (src/attester/snp/attest.c).
 *
 * configfs-tsm is emulated in a temporary directory.  A real configfs
 * creates an entry's attribute files inside mkdir(2), produces outblob when
 * it is read and removes the attributes inside rmdir(2).  This program
 * defines mkdir() and rmdir() itself (the library is linked statically, so
 * its calls land here): they perform the real system call and, for an entry
 * directly under the fake root, create provider / generation / inblob /
 * privlevel / auxblob and an `outblob` FIFO, or delete them again.  A
 * thread serves the FIFO: once the attester opens outblob (after it wrote
 * inblob), the thread reads inblob, advances `generation` as the kernel
 * would, and writes the report with the 64 bytes in REPORT_DATA.  The
 * library's configfs code is the production code, unchanged.
 *
 * The /dev/sev-guest ioctl path needs real SEV-SNP hardware; only its
 * "no device" and "not an sev-guest device" (/dev/null) errors run here.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "veritee/attester.h"
#include "veritee/snp.h"

/* ------------------------------------------------------- configfs fake */

struct fake {
	bool enabled;
	char root[PATH_MAX];
	/* what the next entry looks like */
	const char *provider;          /* NULL: no provider file */
	const char *gen_start;         /* initial generation text */
	const uint8_t *outblob;
	size_t outblob_size;
	bool fill_report_data;         /* firmware copies inblob into REPORT_DATA */
	const uint8_t *auxblob;        /* NULL: no auxblob file */
	size_t auxblob_size;
	unsigned extra_writes;         /* writes by a simulated concurrent process */
	/* what happened */
	int mkdirs, rmdirs;
	char entry[PATH_MAX];
	uint8_t inblob[256];
	size_t inblob_size;
	char privlevel[32];
	bool served;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
};
static struct fake F;

static void path_in(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX)
		abort();
}

static bool put_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	path_in(path, dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	bool ok = n == 0 || write(fd, p, n) == (ssize_t)n;
	return close(fd) == 0 && ok;
}

static size_t get_file(const char *dir, const char *name, void *out, size_t max)
{
	char path[PATH_MAX];
	path_in(path, dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, out, max);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Serves outblob once the attester opens it for reading. */
static void *serve_outblob(void *arg)
{
	(void)arg;
	char fifo[PATH_MAX];
	path_in(fifo, F.entry, "outblob");
	int fd = -1;
	for (int waited = 0; waited < 10000 && !atomic_load(&F.stop); waited++) {
		fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 || errno != ENXIO)
			break;
		sleep_ms(1);
	}
	if (fd < 0)
		return NULL;
	(void)!fcntl(fd, F_SETFL, 0);

	/* The attester wrote (and closed) inblob and privlevel before it
	 * opened outblob; the kernel counts each write. */
	uint8_t in[256];
	char lvl[32];
	size_t in_n = get_file(F.entry, "inblob", in, sizeof(in));
	size_t lvl_n = get_file(F.entry, "privlevel", lvl, sizeof(lvl));
	unsigned long long gen = strtoull(F.gen_start, NULL, 10) + (in_n > 0) + (lvl_n > 0) + F.extra_writes;
	char gtext[32];
	int gl = snprintf(gtext, sizeof(gtext), "%llu\n", gen);
	(void)put_file(F.entry, "generation", gtext, (size_t)gl);

	uint8_t *out = malloc(F.outblob_size ? F.outblob_size : 1);
	if (out != NULL) {
		memcpy(out, F.outblob, F.outblob_size);
		if (F.fill_report_data && in_n == 64 && F.outblob_size >= 0x90)
			memcpy(out + 0x50, in, 64);
		size_t done = 0;
		while (done < F.outblob_size) {
			ssize_t w = write(fd, out + done, F.outblob_size - done);
			if (w <= 0)
				break; /* the reader gave up (EPIPE; SIGPIPE is ignored) */
			done += (size_t)w;
		}
		free(out);
	}
	close(fd);
	F.served = true;
	return NULL;
}

static bool is_fake_entry(const char *path)
{
	size_t n = strlen(F.root);
	return F.enabled && strncmp(path, F.root, n) == 0 && path[n] == '/' && path[n + 1] != '\0' &&
	       strchr(path + n + 1, '/') == NULL;
}

static void populate(const char *dir)
{
	snprintf(F.entry, sizeof(F.entry), "%s", dir);
	F.mkdirs++;
	if (F.provider)
		(void)put_file(dir, "provider", F.provider, strlen(F.provider));
	(void)put_file(dir, "generation", F.gen_start, strlen(F.gen_start));
	(void)put_file(dir, "inblob", "", 0);
	(void)put_file(dir, "privlevel", "", 0);
	if (F.auxblob)
		(void)put_file(dir, "auxblob", F.auxblob, F.auxblob_size);
	char fifo[PATH_MAX];
	path_in(fifo, dir, "outblob");
	if (mkfifo(fifo, 0600) != 0)
		return;
	atomic_store(&F.stop, false);
	F.thread_started = pthread_create(&F.thread, NULL, serve_outblob, NULL) == 0;
}

static void stop_thread(void)
{
	if (F.thread_started) {
		atomic_store(&F.stop, true);
		pthread_join(F.thread, NULL);
		F.thread_started = false;
	}
}

static void depopulate(const char *dir)
{
	F.rmdirs++;
	stop_thread();
	F.inblob_size = get_file(dir, "inblob", F.inblob, sizeof(F.inblob));
	memset(F.privlevel, 0, sizeof(F.privlevel));
	(void)get_file(dir, "privlevel", F.privlevel, sizeof(F.privlevel) - 1);
	static const char *const names[] = {"provider", "generation", "inblob", "privlevel", "outblob", "auxblob"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[PATH_MAX];
		path_in(p, dir, names[i]);
		unlink(p);
	}
}

/* The interposed system calls (declared in <sys/stat.h> / <unistd.h>). */
int mkdir(const char *path, mode_t mode)
{
	int r = (int)syscall(SYS_mkdirat, AT_FDCWD, path, mode);
	if (r == 0 && is_fake_entry(path))
		populate(path);
	return r;
}

int rmdir(const char *path)
{
	if (is_fake_entry(path) && strcmp(path, F.entry) == 0)
		depopulate(path);
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR);
}

/* ------------------------------------------------------------ fixtures */

static char *g_tmp;
static uint8_t *g_template;      /* a report to serve as outblob */
static size_t g_template_size;
static bool g_template_is_vector;
static uint8_t *g_vcek_der, *g_ask_der;
static int g_vcek_len, g_ask_len;
static uint8_t *g_table;         /* certificate table: VCEK, ASK, one unknown GUID */
static size_t g_table_size;

static const uint8_t GUID_VCEK[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
				      0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t GUID_ASK[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
				     0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
static const uint8_t GUID_OTHER[16] = {0xec, 0xae, 0x0c, 0x0f, 0x95, 0x02, 0x43, 0xb1,
				       0xaf, 0xa2, 0x0a, 0xe2, 0xe0, 0xd5, 0x65, 0xb6};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A self-signed P-384 certificate, DER. */
static int make_cert_der(const char *cn, uint8_t **der)
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	X509 *c = X509_new();
	assert_non_null(key);
	assert_non_null(c);
	assert_int_equal(X509_set_version(c, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(c), 7), 1);
	X509_NAME *name = X509_get_subject_name(c);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(c, name), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(c), 86400));
	assert_int_equal(X509_set_pubkey(c, key), 1);
	assert_true(X509_sign(c, key, EVP_sha384()) > 0);
	*der = NULL;
	int n = i2d_X509(c, der);
	assert_true(n > 0);
	X509_free(c);
	EVP_PKEY_free(key);
	return n;
}

/* A version-3 report with every reserved field zero (no valid signature). */
static uint8_t *synthetic_report(void)
{
	uint8_t *r = calloc(1, VT_SNP_REPORT_SIZE);
	assert_non_null(r);
	put_le32(r + 0x00, 3);          /* version */
	put_le32(r + 0x08, 1u << 17);   /* policy: reserved bit 17 set */
	put_le32(r + 0x34, 1);          /* signature_algo ECDSA P-384 */
	r[0x188] = 0x19;                /* Milan */
	r[0x189] = 0x01;
	r[0x18A] = 0x01;
	for (int i = 0; i < 0x30; i++)  /* a "signature" */
		r[0x2A0 + i] = (uint8_t)(i + 1);
	return r;
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	g_tmp = vt_test_tmpdir();
	assert_non_null(g_tmp);
	path_in(F.root, g_tmp, "report");
	assert_int_equal(mkdir(F.root, 0700), 0);

	const char *vec = vt_test_vectors_dir();
	if (vec != NULL) {
		char p[PATH_MAX];
		path_in(p, vec, "snp/trustee_milan_v2_report.bin");
		struct vt_err err;
		if (vt_file_read(p, 1 << 20, &g_template, &g_template_size, &err) == VT_OK &&
		    g_template_size == VT_SNP_REPORT_SIZE) {
			g_template_is_vector = true;
		} else {
			free(g_template);
			g_template = NULL;
		}
	}
	if (g_template == NULL) {
		g_template = synthetic_report();
		g_template_size = VT_SNP_REPORT_SIZE;
	}

	g_vcek_len = make_cert_der("test VCEK", &g_vcek_der);
	g_ask_len = make_cert_der("test ASK", &g_ask_der);
	/* 3 entries + terminator, then VCEK, ASK, 8 bytes of "extra platform info". */
	size_t hdr = 4 * 24;
	g_table_size = hdr + (size_t)g_vcek_len + (size_t)g_ask_len + 8;
	g_table = calloc(1, g_table_size);
	assert_non_null(g_table);
	uint32_t off = (uint32_t)hdr;
	memcpy(g_table + 0, GUID_VCEK, 16);
	put_le32(g_table + 16, off);
	put_le32(g_table + 20, (uint32_t)g_vcek_len);
	memcpy(g_table + off, g_vcek_der, (size_t)g_vcek_len);
	off += (uint32_t)g_vcek_len;
	memcpy(g_table + 24, GUID_ASK, 16);
	put_le32(g_table + 40, off);
	put_le32(g_table + 44, (uint32_t)g_ask_len);
	memcpy(g_table + off, g_ask_der, (size_t)g_ask_len);
	off += (uint32_t)g_ask_len;
	memcpy(g_table + 48, GUID_OTHER, 16);
	put_le32(g_table + 64, off);
	put_le32(g_table + 68, 8);
	put_le32(g_table + off, 8);
	put_le32(g_table + off + 4, 0x00a00f11);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rmdir(F.root);
	rmdir(g_tmp);
	free(g_tmp);
	free(g_template);
	free(g_table);
	OPENSSL_free(g_vcek_der);
	OPENSSL_free(g_ask_der);
	return 0;
}

/* Each test starts from a well-behaved sev_guest entry. */
static int test_setup(void **state)
{
	(void)state;
	stop_thread();
	char root[PATH_MAX];
	memcpy(root, F.root, sizeof(root));
	memset(&F, 0, sizeof(F));
	memcpy(F.root, root, sizeof(root));
	F.enabled = true;
	F.provider = "sev_guest\n";
	F.gen_start = "0\n";
	F.outblob = g_template;
	F.outblob_size = g_template_size;
	F.fill_report_data = true;
	F.auxblob = g_table;
	F.auxblob_size = g_table_size;
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	stop_thread();
	F.enabled = false;
	return 0;
}

static size_t root_entries(void)
{
	DIR *d = opendir(F.root);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* One entry was made and removed again, whatever the outcome. */
static void assert_entry_removed(void)
{
	assert_int_equal(F.mkdirs, 1);
	assert_int_equal(F.rmdirs, 1);
	struct stat st;
	assert_int_not_equal(stat(F.entry, &st), 0);
	assert_int_equal(root_entries(), 0);
}

static void fill_rd(uint8_t rd[64], uint8_t seed)
{
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(seed + 3 * i);
}

static vt_status run_raw(const uint8_t rd[64], uint32_t vmpl, uint8_t **rep, size_t *rep_n, uint8_t **certs,
			 size_t *certs_n, struct vt_err *err)
{
	struct vt_snp_attest_paths paths = {.configfs_root = F.root, .sev_guest_dev = "/nonexistent/sev-guest"};
	vt_err_clear(err);
	return vt_snp_attest_raw(&paths, rd, vmpl, rep, rep_n, certs, certs_n, err);
}

static void expect_failure(uint32_t vmpl, vt_status code, vt_step step, const char *needle)
{
	uint8_t rd[64], *rep = (uint8_t *)1, *certs = (uint8_t *)1;
	size_t rep_n = 9, certs_n = 9;
	struct vt_err err;
	fill_rd(rd, 0x40);
	vt_status rc = run_raw(rd, vmpl, &rep, &rep_n, &certs, &certs_n, &err);
	assert_int_equal(rc, code);
	assert_err(&err, code, step);
	if (needle && strstr(err.detail, needle) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, needle);
	assert_null(rep);
	assert_null(certs);
	assert_int_equal(rep_n, 0);
	assert_int_equal(certs_n, 0);
}

/* --------------------------------------------------------------- tests */

static void test_configfs_report(void **state)
{
	(void)state;
	uint8_t rd[64], *rep = NULL, *certs = NULL;
	size_t rep_n = 0, certs_n = 0;
	struct vt_err err;
	fill_rd(rd, 0x11);
	vt_status rc = run_raw(rd, 0, &rep, &rep_n, &certs, &certs_n, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	if (!g_template_is_vector)
		print_message("# vectors absent: served a synthetic v3 report\n");

	/* inblob got exactly the 64 bytes; no privlevel write at VMPL 0 */
	assert_true(F.served);
	assert_int_equal(F.inblob_size, 64);
	assert_memory_equal(F.inblob, rd, 64);
	assert_string_equal(F.privlevel, "");

	/* the report as served (the template with our report data) */
	assert_int_equal(rep_n, g_template_size);
	assert_memory_equal(rep, g_template, 0x50);
	assert_memory_equal(rep + 0x50, rd, 64);
	assert_memory_equal(rep + 0x90, g_template + 0x90, g_template_size - 0x90);
	struct vt_snp_report parsed;
	rc = vt_snp_report_parse(rep, rep_n, false, &parsed, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_memory_equal(parsed.report_data, rd, 64);

	/* the certificate table byte for byte */
	assert_int_equal(certs_n, g_table_size);
	assert_memory_equal(certs, g_table, g_table_size);
	assert_entry_removed();
	free(rep);
	free(certs);
}

static void test_configfs_vmpl(void **state)
{
	(void)state;
	uint8_t rd[64], *rep = NULL, *certs = NULL;
	size_t rep_n = 0, certs_n = 0;
	struct vt_err err;
	fill_rd(rd, 0x22);
	F.gen_start = "41\n"; /* two own writes: privlevel and inblob -> 43 */
	vt_status rc = run_raw(rd, 2, &rep, &rep_n, &certs, &certs_n, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_string_equal(F.privlevel, "2\n");
	assert_int_equal(F.inblob_size, 64);
	assert_memory_equal(F.inblob, rd, 64);
	assert_int_equal(rep_n, g_template_size);
	assert_entry_removed();
	free(rep);
	free(certs);
}

static void test_configfs_no_auxblob(void **state)
{
	(void)state;
	uint8_t rd[64], *rep = NULL, *certs = (uint8_t *)1;
	size_t rep_n = 0, certs_n = 9;
	struct vt_err err;
	fill_rd(rd, 0x33);
	F.auxblob = NULL;
	assert_int_equal(run_raw(rd, 0, &rep, &rep_n, &certs, &certs_n, &err), VT_OK);
	assert_null(certs);
	assert_int_equal(certs_n, 0);
	assert_entry_removed();
	free(rep);

	/* an empty auxblob is the same as none */
	test_setup(NULL);
	F.auxblob_size = 0;
	assert_int_equal(run_raw(rd, 0, &rep, &rep_n, &certs, &certs_n, &err), VT_OK);
	assert_null(certs);
	assert_entry_removed();
	free(rep);
}

static json_t *attest_json(const uint8_t rd[64], struct vt_err *err, vt_status *rc)
{
	struct vt_attest_opts opts;
	memset(&opts, 0, sizeof(opts));
	opts.snp_configfs_root = F.root;
	json_t *ev = NULL;
	vt_err_clear(err);
	*rc = vt_attest("snp", &opts, rd, &ev, err);
	return ev;
}

static void check_cert(const json_t *entry, const char *type, const uint8_t *der, int der_len)
{
	assert_true(json_is_object(entry));
	assert_string_equal(json_string_value(json_object_get(entry, "cert_type")), type);
	const json_t *data = json_object_get(entry, "data");
	assert_true(json_is_array(data));
	assert_int_equal(json_array_size(data), (size_t)der_len);
	for (size_t i = 0; i < (size_t)der_len; i++) {
		const json_t *b = json_array_get(data, i);
		assert_true(json_is_integer(b));
		assert_int_equal(json_integer_value(b), der[i]);
	}
}

static void test_evidence_json(void **state)
{
	(void)state;
	uint8_t rd[64], back[VT_SNP_REPORT_SIZE];
	struct vt_err err;
	vt_status rc;
	fill_rd(rd, 0x44);
	json_t *ev = attest_json(rd, &err, &rc);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_int_equal(json_object_size(ev), 2);

	/* attestation_report converts back to the bytes served */
	const json_t *rep = json_object_get(ev, "attestation_report");
	assert_true(json_is_object(rep));
	rc = vt_snp_report_from_json(rep, back, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_memory_equal(back, g_template, 0x50);
	assert_memory_equal(back + 0x50, rd, 64);
	assert_memory_equal(back + 0x90, g_template + 0x90, VT_SNP_REPORT_SIZE - 0x90);

	/* cert_chain: VCEK and ASK in table order, the unknown GUID skipped */
	const json_t *chain = json_object_get(ev, "cert_chain");
	assert_true(json_is_array(chain));
	assert_int_equal(json_array_size(chain), 2);
	check_cert(json_array_get(chain, 0), "VCEK", g_vcek_der, g_vcek_len);
	check_cert(json_array_get(chain, 1), "ASK", g_ask_der, g_ask_len);
	assert_int_equal(F.inblob_size, 64);
	assert_memory_equal(F.inblob, rd, 64);
	assert_entry_removed();
	json_decref(ev);
}

static void test_evidence_no_certs(void **state)
{
	(void)state;
	uint8_t rd[64];
	struct vt_err err;
	vt_status rc;
	fill_rd(rd, 0x55);
	F.auxblob = NULL;
	json_t *ev = attest_json(rd, &err, &rc);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_true(json_is_object(json_object_get(ev, "attestation_report")));
	const json_t *chain = json_object_get(ev, "cert_chain");
	assert_non_null(chain);
	assert_true(json_is_null(chain));
	json_decref(ev);
	assert_entry_removed();

	/* a table holding only unknown GUIDs: null as well */
	test_setup(NULL);
	uint8_t table[2 * 24 + 8];
	memset(table, 0, sizeof(table));
	memcpy(table, GUID_OTHER, 16);
	put_le32(table + 16, 48);
	put_le32(table + 20, 8);
	F.auxblob = table;
	F.auxblob_size = sizeof(table);
	ev = attest_json(rd, &err, &rc);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_true(json_is_null(json_object_get(ev, "cert_chain")));
	json_decref(ev);
	assert_entry_removed();
}

static void test_evidence_bad_table(void **state)
{
	(void)state;
	uint8_t rd[64];
	struct vt_err err;
	vt_status rc;
	fill_rd(rd, 0x66);
	uint8_t table[24 + 8];
	memset(table, 0, sizeof(table));
	memcpy(table, GUID_VCEK, 16);
	put_le32(table + 16, 24);
	put_le32(table + 20, 4096); /* past the end */
	F.auxblob = table;
	F.auxblob_size = sizeof(table);
	json_t *ev = attest_json(rd, &err, &rc);
	assert_null(ev);
	assert_int_equal(rc, VT_E_PARSE);
	assert_entry_removed();
}

static void test_provider_tdx(void **state)
{
	(void)state;
	F.provider = "tdx_guest\n";
	expect_failure(0, VT_E_USAGE, VT_STEP_CONFIG, "\"tdx_guest\", not \"sev_guest\"");
	assert_int_equal(F.inblob_size, 0); /* nothing was asked of the wrong TEE */
	assert_false(F.served);
	assert_entry_removed();
}

static void test_provider_missing(void **state)
{
	(void)state;
	F.provider = NULL;
	expect_failure(0, VT_E_IO, VT_STEP_IO, "provider");
	assert_entry_removed();
}

static void test_short_outblob(void **state)
{
	(void)state;
	F.outblob_size = VT_SNP_REPORT_SIZE - 1;
	expect_failure(0, VT_E_PARSE, VT_STEP_PARSE, "1183 bytes");
	assert_true(F.served);
	assert_entry_removed();

	test_setup(NULL);
	F.outblob_size = 0;
	expect_failure(0, VT_E_PARSE, VT_STEP_PARSE, "0 bytes");
	assert_entry_removed();
}

static void test_large_outblob(void **state)
{
	(void)state;
	size_t big = 20000;
	uint8_t *blob = calloc(1, big);
	assert_non_null(blob);
	memcpy(blob, g_template, g_template_size);
	F.outblob = blob;
	F.outblob_size = big;
	expect_failure(0, VT_E_LIMIT, VT_STEP_IO, "outblob");
	assert_entry_removed();
	free(blob);
}

static void test_generation_jump(void **state)
{
	(void)state;
	F.extra_writes = 1; /* moves by 2 around our single write */
	expect_failure(0, VT_E_IO, VT_STEP_IO, "concurrent writer");
	assert_int_equal(F.inblob_size, 64);
	assert_entry_removed();

	/* with a privlevel write: 3 instead of 2 */
	test_setup(NULL);
	F.extra_writes = 1;
	expect_failure(1, VT_E_IO, VT_STEP_IO, "concurrent writer");
	assert_entry_removed();

	test_setup(NULL);
	F.gen_start = "seven\n";
	expect_failure(0, VT_E_PARSE, VT_STEP_PARSE, "generation");
	assert_entry_removed();
}

static void test_report_data_mismatch(void **state)
{
	(void)state;
	F.fill_report_data = false; /* a report made for someone else */
	expect_failure(0, VT_E_REJECTED, VT_STEP_BINDING, "requested report data");
	assert_entry_removed();
}

static void test_bad_arguments(void **state)
{
	(void)state;
	uint8_t rd[64] = {0}, *rep = NULL, *certs = NULL;
	size_t rep_n = 0, certs_n = 0;
	struct vt_err err;
	vt_err_clear(&err);
	assert_int_equal(vt_snp_attest_raw(NULL, NULL, 0, &rep, &rep_n, &certs, &certs_n, &err), VT_E_USAGE);
	assert_int_equal(vt_snp_attest_raw(NULL, rd, 0, NULL, &rep_n, &certs, &certs_n, &err), VT_E_USAGE);
	/* VMPL above 3: refused before any entry is made */
	expect_failure(4, VT_E_USAGE, VT_STEP_CONFIG, "VMPL 4");
	assert_int_equal(F.mkdirs, 0);

	/* the root exists but is a file */
	char file[PATH_MAX];
	path_in(file, g_tmp, "not-a-dir");
	assert_true(put_file(g_tmp, "not-a-dir", "x", 1));
	struct vt_snp_attest_paths paths = {.configfs_root = file, .sev_guest_dev = "/nonexistent"};
	assert_int_equal(vt_snp_attest_raw(&paths, rd, 0, &rep, &rep_n, &certs, &certs_n, &err), VT_E_USAGE);
	unlink(file);
}

static void test_no_interface(void **state)
{
	(void)state;
	uint8_t rd[64], *rep = NULL, *certs = NULL;
	size_t rep_n = 0, certs_n = 0;
	struct vt_err err;
	char missing[PATH_MAX];
	path_in(missing, g_tmp, "no-such-root");
	fill_rd(rd, 0x77);
	struct vt_snp_attest_paths paths = {.configfs_root = missing, .sev_guest_dev = "/nonexistent/sev-guest"};
	vt_err_clear(&err);
	assert_int_equal(vt_snp_attest_raw(&paths, rd, 0, &rep, &rep_n, &certs, &certs_n, &err), VT_E_USAGE);
	assert_string_equal(err.detail, "no SEV-SNP guest interface (configfs-tsm or /dev/sev-guest) on this machine");
	assert_null(rep);
	assert_null(certs);
	assert_int_equal(F.mkdirs, 0);

	/* the registry: same answer on a machine without /dev/sev-guest */
	struct stat st;
	if (stat("/dev/sev-guest", &st) == 0) {
		print_message("# /dev/sev-guest exists here: registry half not run\n");
		return;
	}
	struct vt_attest_opts opts;
	memset(&opts, 0, sizeof(opts));
	opts.snp_configfs_root = missing;
	json_t *ev = NULL;
	vt_err_clear(&err);
	assert_int_equal(vt_attest("snp", &opts, rd, &ev, &err), VT_E_USAGE);
	assert_null(ev);
	assert_string_equal(err.detail, "no SEV-SNP guest interface (configfs-tsm or /dev/sev-guest) on this machine");
}

/* A character device that is not sev-guest: both ioctls are refused
 * (ENOTTY), so the extended request falls back to the plain one. */
static void test_not_sev_guest_device(void **state)
{
	(void)state;
	uint8_t rd[64], *rep = NULL, *certs = NULL;
	size_t rep_n = 0, certs_n = 0;
	struct vt_err err;
	char missing[PATH_MAX];
	path_in(missing, g_tmp, "no-such-root");
	fill_rd(rd, 0x78);
	struct vt_snp_attest_paths paths = {.configfs_root = missing, .sev_guest_dev = "/dev/null"};
	vt_err_clear(&err);
	assert_int_equal(vt_snp_attest_raw(&paths, rd, 0, &rep, &rep_n, &certs, &certs_n, &err), VT_E_IO);
	assert_err(&err, VT_E_IO, VT_STEP_IO);
	if (strstr(err.detail, "SNP_GET_REPORT on /dev/null") == NULL)
		fail_msg("detail: %s", err.detail);
	assert_null(rep);
	assert_null(certs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_configfs_report, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_configfs_vmpl, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_configfs_no_auxblob, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_evidence_json, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_evidence_no_certs, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_evidence_bad_table, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_provider_tdx, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_provider_missing, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_short_outblob, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_large_outblob, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_generation_jump, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_report_data_mismatch, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_no_interface, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_not_sev_guest_device, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
