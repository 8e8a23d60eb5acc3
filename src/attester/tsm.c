/* configfs-tsm report requests, shared by the SEV-SNP and TDX attesters
 * (see tsm.h).  Attribute values are untrusted kernel output: sizes are
 * capped and text attributes must be short printable ASCII. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attester/tsm.h"
#include "veritee/crypto.h"

#define ATTR_TEXT_MAX ((size_t)64) /* provider, generation */

vt_status vt_tsm_join(const char *dir, const char *name, char out[], size_t out_size, struct vt_err *err)
{
	int n = snprintf(out, out_size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= out_size)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "configfs_root", "configfs-tsm path is too long");
	return VT_OK;
}

/*
 * Read a whole attribute, at most `max` bytes.  `absent` (may be NULL):
 * ENOENT is not an error, the attribute is simply not there.
 */
vt_status vt_tsm_read_file(const char *path, size_t max, bool *absent, struct vt_buf *out, struct vt_err *err)
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
	uint8_t chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = vt_fail(err, errno == EFBIG ? VT_E_LIMIT : VT_E_IO, VT_STEP_IO, path, "cannot read %s: %s",
				     path, strerror(errno));
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

/* Write an attribute in one go.  configfs commits binary attributes
 * (inblob) when the file is released, so close() reports their errors. */
static vt_status write_attr(const char *path, const void *p, size_t n, struct vt_err *err)
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

/* Text attribute without its trailing newline, printable ASCII only. */
static vt_status read_text_attr(const char *path, char *out, size_t out_size, struct vt_err *err)
{
	struct vt_buf b;
	vt_status rc = vt_tsm_read_file(path, ATTR_TEXT_MAX, NULL, &b, err);
	if (rc != VT_OK)
		return rc;
	size_t len = b.len;
	if (len > 0 && b.data[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len; i++) {
		if (b.data[i] < 0x20 || b.data[i] > 0x7e) {
			vt_buf_free(&b);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, path, "%s holds non-printable bytes", path);
		}
	}
	if (len >= out_size) {
		vt_buf_free(&b);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, path, "%s is too long (%zu bytes)", path, len);
	}
	if (len > 0)
		memcpy(out, b.data, len);
	out[len] = '\0';
	vt_buf_free(&b);
	return VT_OK;
}

static vt_status read_generation(const char *path, uint64_t *out, struct vt_err *err)
{
	char text[32];
	vt_status rc = read_text_attr(path, text, sizeof(text), err);
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

/* A name no other requester uses: pid, a per-process counter and 64 random bits. */

/* A name no other requester uses: pid, a per-process counter, 64 random bits. */
static vt_status entry_name(char *out, size_t size, struct vt_err *err)
{
	static atomic_uint counter;
	uint64_t rnd;
	vt_status rc = vt_random(&rnd, sizeof(rnd), err);
	if (rc != VT_OK)
		return rc;
	unsigned c = atomic_fetch_add(&counter, 1u);
	int n = snprintf(out, size, "veritee-%ld-%u-%016llx", (long)getpid(), c, (unsigned long long)rnd);
	if (n < 0 || (size_t)n >= size)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, "configfs", "entry name does not fit");
	return VT_OK;
}

vt_status vt_tsm_report(const struct vt_tsm_request *req, struct vt_buf *outblob, struct vt_buf *auxblob,
			struct vt_err *err)
{
	vt_status rc;
	char name[80], dir[PATH_MAX], path[PATH_MAX], gen_path[PATH_MAX], provider[ATTR_TEXT_MAX];
	bool made = false, aux_absent = false;
	uint64_t gen0 = 0, gen1 = 0, writes = 0;

	vt_buf_init(outblob, req->outblob_max);
	if (auxblob)
		vt_buf_init(auxblob, req->auxblob_max);
	VT_GUARD(entry_name(name, sizeof(name), err));
	VT_GUARD(vt_tsm_join(req->root, name, dir, sizeof(dir), err));
	if (mkdir(dir, 0700) != 0) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs", "cannot create configfs-tsm entry %s: %s", dir,
			     strerror(errno));
		goto out;
	}
	made = true;

	VT_GUARD(vt_tsm_join(dir, "provider", path, sizeof(path), err));
	VT_GUARD(read_text_attr(path, provider, sizeof(provider), err));
	if (strcmp(provider, req->provider) != 0) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "provider",
			     "configfs-tsm provider is \"%s\", not \"%s\": this is not %s", provider, req->provider,
			     req->what);
		goto out;
	}
	VT_GUARD(vt_tsm_join(dir, "generation", gen_path, sizeof(gen_path), err));
	VT_GUARD(read_generation(gen_path, &gen0, err));

	if (req->privlevel != 0) {
		char lvl[16];
		int n = snprintf(lvl, sizeof(lvl), "%u\n", req->privlevel);
		VT_GUARD(vt_tsm_join(dir, "privlevel", path, sizeof(path), err));
		VT_GUARD(write_attr(path, lvl, (size_t)n, err));
		writes++;
	}
	VT_GUARD(vt_tsm_join(dir, "inblob", path, sizeof(path), err));
	VT_GUARD(write_attr(path, req->inblob, req->inblob_size, err));
	writes++;

	VT_GUARD(vt_tsm_join(dir, "outblob", path, sizeof(path), err));
	VT_GUARD(vt_tsm_read_file(path, req->outblob_max, NULL, outblob, err));
	if (auxblob && req->auxblob_max > 0) {
		VT_GUARD(vt_tsm_join(dir, "auxblob", path, sizeof(path), err));
		VT_GUARD(vt_tsm_read_file(path, req->auxblob_max, &aux_absent, auxblob, err));
	}

	/* Every write of ours advanced the counter by one; anything more means
	 * another process wrote to this entry and the blobs may be its. */
	VT_GUARD(read_generation(gen_path, &gen1, err));
	if (gen1 < gen0 || gen1 - gen0 != writes) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, gen_path,
			     "generation went from %llu to %llu around %llu write(s) of ours: a concurrent writer "
			     "changed %s; retry",
			     (unsigned long long)gen0, (unsigned long long)gen1, (unsigned long long)writes, dir);
		goto out;
	}
	rc = VT_OK;
out:
	if (made && rmdir(dir) != 0 && rc == VT_OK)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs", "cannot remove configfs-tsm entry %s: %s", dir,
			     strerror(errno));
	if (rc != VT_OK) {
		vt_buf_free(outblob);
		if (auxblob)
			vt_buf_free(auxblob);
	}
	return rc;
}

vt_status vt_tsm_check_root(const char *root, const char *no_interface, struct vt_err *err)
{
	struct stat st;
	if (stat(root, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tee", "%s (%s is missing)", no_interface, root);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs_root", "cannot stat %s: %s", root, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "configfs_root", "%s is not a directory", root);
	return VT_OK;
}
