/*
 * TDX attester: ask for a TD quote binding 64 bytes of report data, from
 * inside the guest, through configfs-tsm (Linux >= 6.7): a fresh entry under
 * /sys/kernel/config/tsm/report, provider "tdx_guest", inblob in, outblob
 * (the quote) out, the generation counter checked against concurrent
 * writers, the entry removed on every path.  The CC event log (ACPI CCEL
 * data) goes along when the firmware published one.
 *
 * The legacy /dev/tdx_guest ioctl only returns the local TDREPORT (turning
 * it into a quote needs the host's quote service), so it is not used.
 * Everything the kernel hands back is untrusted and read through the
 * bounded reader.  Quotes are public: nothing here is wiped.
 * Layouts: shared/docs/formats/tdx-sgx-dcap.md §1, §2, §7, §8.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attester/tdx/tdx_attester.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define DEFAULT_CONFIGFS_ROOT "/sys/kernel/config/tsm/report"
#define DEFAULT_CCEL_PATH "/sys/firmware/acpi/tables/data/CCEL"

#define QUOTE_MAX ((size_t)16 * 1024 * 1024)
#define CCEL_MAX ((size_t)16 * 1024 * 1024)
#define ATTR_TEXT_MAX ((size_t)64)
#define TEE_TYPE_TDX 0x81u
#define TD_REPORT_DATA_OFFSET 520u /* inside the TD report body */

static const char NO_INTERFACE[] = "no TDX guest interface (configfs-tsm with provider tdx_guest) on this machine";

/* ------------------------------------------------------------ files */

static vt_status join(const char *dir, const char *name, char out[PATH_MAX], struct vt_err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "configfs_root", "configfs-tsm path is too long");
	return VT_OK;
}

/* Whole file, at most `max` bytes.  `absent` (may be NULL): ENOENT is not
 * an error, *absent is set instead. */
static vt_status read_all(const char *path, size_t max, bool *absent, struct vt_buf *out, struct vt_err *err)
{
	vt_buf_init(out, max);
	if (absent)
		*absent = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && absent) {
			*absent = true;
			return VT_OK;
		}
		return vt_fail(err, VT_E_IO, VT_STEP_IO, path, "cannot open %s: %s", path, strerror(errno));
	}
	vt_status rc = VT_OK;
	uint8_t chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "cannot read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > out->max - out->len) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_IO, path, "%s is larger than %zu bytes", path, out->max);
			break;
		}
		rc = vt_buf_append(out, chunk, (size_t)n, err);
		if (rc != VT_OK)
			break;
	}
	close(fd);
	if (rc != VT_OK)
		vt_buf_free(out);
	return rc;
}

/* One write; configfs commits a binary attribute when the file is closed,
 * so close() reports its errors. */
static vt_status write_all(const char *path, const void *p, size_t n, struct vt_err *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, path, "cannot open %s: %s", path, strerror(errno));
	const uint8_t *b = p;
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, b + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return vt_fail(err, VT_E_IO, VT_STEP_IO, path, "cannot write %s: %s", path, strerror(e));
		}
		done += (size_t)w;
	}
	if (close(fd) != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, path, "writing %s failed: %s", path, strerror(errno));
	return VT_OK;
}

/* A short text attribute without its newline; printable ASCII only. */
static vt_status read_text(const char *path, char *out, size_t out_size, struct vt_err *err)
{
	struct vt_buf b;
	vt_status rc = read_all(path, ATTR_TEXT_MAX, NULL, &b, err);
	if (rc != VT_OK)
		return rc;
	size_t len = b.len;
	if (len > 0 && b.data[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len && rc == VT_OK; i++)
		if (b.data[i] < 0x20 || b.data[i] > 0x7e)
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, path, "%s holds non-printable bytes", path);
	if (rc == VT_OK && len >= out_size)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, path, "%s is too long (%zu bytes)", path, len);
	if (rc == VT_OK) {
		if (len > 0)
			memcpy(out, b.data, len);
		out[len] = '\0';
	}
	vt_buf_free(&b);
	return rc;
}

static vt_status read_counter(const char *path, uint64_t *out, struct vt_err *err)
{
	char text[32];
	vt_status rc = read_text(path, text, sizeof(text), err);
	if (rc != VT_OK)
		return rc;
	uint64_t v = 0;
	size_t i = 0;
	for (; text[i] >= '0' && text[i] <= '9'; i++) {
		unsigned d = (unsigned)(text[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			break;
		v = v * 10 + d;
	}
	if (i == 0 || text[i] != '\0')
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, path, "%s is not a decimal counter: \"%s\"", path, text);
	*out = v;
	return VT_OK;
}

/* ------------------------------------------------------------ the quote */

/* Enough of the quote to know it is a TD quote carrying our report data
 * (a stale or foreign quote must not go out under our name).  The verifier
 * parses it fully. */
static vt_status check_quote(const uint8_t *q, size_t size, const uint8_t report_data[64], struct vt_err *err)
{
	struct vt_reader r;
	uint16_t version, att_key_type;
	uint32_t tee_type;
	const uint8_t *rd;
	vt_status rc;
	vt_reader_init(&r, q, size);
	VT_GUARD(vt_reader_u16le(&r, &version, "outblob.version", err));
	VT_GUARD(vt_reader_u16le(&r, &att_key_type, "outblob.att_key_type", err));
	VT_GUARD(vt_reader_u32le(&r, &tee_type, "outblob.tee_type", err));
	if (tee_type != TEE_TYPE_TDX)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.tee_type",
			       "the quote has TEE type 0x%x, not TDX (0x81)", tee_type);
	VT_GUARD(vt_reader_skip(&r, 48 - 8, "outblob.header", err));
	if (version == 5) {
		uint16_t body_type;
		uint32_t body_size;
		VT_GUARD(vt_reader_u16le(&r, &body_type, "outblob.body_type", err));
		VT_GUARD(vt_reader_u32le(&r, &body_size, "outblob.body_size", err));
		if (body_type != 2 && body_type != 3)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.body_type",
				       "quote v5 with body type %u, not a TD report", body_type);
		if (body_size < TD_REPORT_DATA_OFFSET + 64)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.body_size",
				       "TD report body of %u bytes", body_size);
	} else if (version != 4) {
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.version",
			       "quote version %u (4 or 5 expected)", version);
	}
	VT_GUARD(vt_reader_skip(&r, TD_REPORT_DATA_OFFSET, "outblob.body", err));
	VT_GUARD(vt_reader_view(&r, &rd, 64, "outblob.report_data", err));
	if (memcmp(rd, report_data, 64) != 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "quote.report_data",
			       "the quote from configfs-tsm does not carry the requested report data");
	rc = VT_OK;
out:
	return rc;
}

/* A name no other requester uses: pid, a per-process counter, 64 random bits. */
static vt_status entry_name(char *out, size_t size, struct vt_err *err)
{
	static atomic_uint counter;
	uint64_t rnd;
	vt_status rc = vt_random(&rnd, sizeof(rnd), err);
	if (rc != VT_OK)
		return rc;
	unsigned c = atomic_fetch_add(&counter, 1u);
	int n = snprintf(out, size, "veritee-tdx-%ld-%u-%016llx", (long)getpid(), c, (unsigned long long)rnd);
	if (n < 0 || (size_t)n >= size)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, "configfs", "entry name does not fit");
	return VT_OK;
}

static vt_status configfs_quote(const char *root, const uint8_t report_data[64], struct vt_buf *quote,
				struct vt_err *err)
{
	vt_status rc;
	char name[96], dir[PATH_MAX], path[PATH_MAX], gen_path[PATH_MAX], provider[ATTR_TEXT_MAX];
	bool made = false;
	uint64_t gen0 = 0, gen1 = 0;

	vt_buf_init(quote, QUOTE_MAX);
	VT_GUARD(entry_name(name, sizeof(name), err));
	VT_GUARD(join(root, name, dir, err));
	if (mkdir(dir, 0700) != 0) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs", "cannot create configfs-tsm entry %s: %s", dir,
			     strerror(errno));
		goto out;
	}
	made = true;

	VT_GUARD(join(dir, "provider", path, err));
	VT_GUARD(read_text(path, provider, sizeof(provider), err));
	if (strcmp(provider, "tdx_guest") != 0) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "provider",
			     "configfs-tsm provider is \"%s\", not \"tdx_guest\": this is not a TDX guest", provider);
		goto out;
	}
	VT_GUARD(join(dir, "generation", gen_path, err));
	VT_GUARD(read_counter(gen_path, &gen0, err));
	VT_GUARD(join(dir, "inblob", path, err));
	VT_GUARD(write_all(path, report_data, 64, err));
	VT_GUARD(join(dir, "outblob", path, err));
	VT_GUARD(read_all(path, QUOTE_MAX, NULL, quote, err));

	/* Our one write advanced the counter by one; more means another
	 * process wrote to the entry and the quote may be for its data. */
	VT_GUARD(read_counter(gen_path, &gen1, err));
	if (gen1 < gen0 || gen1 - gen0 != 1) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, gen_path,
			     "generation went from %llu to %llu around our one write: a concurrent writer changed %s; "
			     "retry",
			     (unsigned long long)gen0, (unsigned long long)gen1, dir);
		goto out;
	}
	if (quote->len == 0) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "outblob", "configfs-tsm returned an empty quote");
		goto out;
	}
	VT_GUARD(check_quote(quote->data, quote->len, report_data, err));
	rc = VT_OK;
out:
	if (made && rmdir(dir) != 0 && rc == VT_OK)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs", "cannot remove configfs-tsm entry %s: %s", dir,
			     strerror(errno));
	if (rc != VT_OK)
		vt_buf_free(quote);
	return rc;
}

/* ------------------------------------------------------------ evidence */

vt_status vt_tdx_attest_evidence(const struct vt_tdx_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err)
{
	if (report_data == NULL || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	const char *root = paths && paths->configfs_root ? paths->configfs_root : DEFAULT_CONFIGFS_ROOT;
	const char *ccel = paths && paths->ccel_path ? paths->ccel_path : DEFAULT_CCEL_PATH;

	struct stat st;
	if (stat(root, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tee", "%s (%s is missing)", NO_INTERFACE, root);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs_root", "cannot stat %s: %s", root, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "configfs_root", "%s is not a directory", root);

	struct vt_buf quote, log;
	bool no_log = false;
	char *q64 = NULL, *l64 = NULL;
	vt_status rc = configfs_quote(root, report_data, &quote, err);
	if (rc != VT_OK)
		return rc;
	rc = read_all(ccel, CCEL_MAX, &no_log, &log, err);
	if (rc != VT_OK) {
		vt_buf_free(&quote);
		return rc;
	}
	q64 = vt_b64_encode(quote.data, quote.len);
	if (!no_log && log.len > 0)
		l64 = vt_b64_encode(log.data, log.len);
	json_t *ev = NULL;
	if (q64 != NULL && (no_log || log.len == 0 || l64 != NULL))
		ev = json_pack("{s:s, s:o}", "quote", q64, "cc_eventlog", l64 ? json_string(l64) : json_null());
	if (ev == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	else
		*evidence_out = ev;
	free(q64);
	free(l64);
	vt_buf_free(&quote);
	vt_buf_free(&log);
	return rc;
}
