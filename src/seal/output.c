/* Unseal output: nothing under the final name until it is complete. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "veritee/crypto.h"
#include "veritee/seal.h"

/* The directory part of `path` into out (".", for a bare name). */
static void dir_of(const char *path, char *out, size_t n)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(out, n, "%s", dirname(tmp));
}

vt_status vt_seal_out_open(struct vt_seal_out *o, const char *path, bool dir, struct vt_err *err)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->dir = dir;
	if (strlen(path) == 0 || strlen(path) >= 3800)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "output", "bad output path");
	snprintf(o->path, sizeof(o->path), "%s", path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		/* A file is replaced (as rename does); a directory only when empty
		 * (rename(2) refuses a non-empty one); anything else never. */
		if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "output", "%s exists and is not a %s", path,
				       dir ? "directory" : "regular file");
	}
	char d[4096], base[4096], tmp[4096];
	dir_of(path, d, sizeof(d));
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(base, sizeof(base), "%s", basename(tmp));
	for (int attempt = 0; attempt < 16; attempt++) {
		uint8_t r[6];
		vt_status rc = vt_random(r, sizeof(r), err);
		if (rc != VT_OK)
			return rc;
		/* path is shorter than 4056 bytes, so is its directory: nothing is cut. */
		snprintf(o->temp, sizeof(o->temp), "%.3800s/.%.200s.unseal-%02x%02x%02x%02x%02x%02x", d, base, r[0], r[1],
			 r[2], r[3], r[4], r[5]);
		if (dir) {
			if (mkdir(o->temp, 0700) == 0)
				return VT_OK;
		} else {
			o->fd = open(o->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (o->fd >= 0)
				return VT_OK;
		}
		if (errno != EEXIST) {
			int e = errno;
			o->temp[0] = 0;
			return vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "cannot create a temporary %s in %s: %s",
				       dir ? "directory" : "file", d, strerror(e));
		}
	}
	o->temp[0] = 0;
	return vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "cannot create a temporary name in %s", d);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void fsync_dir(const char *path)
{
	char d[4096];
	dir_of(path, d, sizeof(d));
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

vt_status vt_seal_out_commit(struct vt_seal_out *o, struct vt_err *err)
{
	if (o->temp[0] == 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "output", "nothing to commit");
	if (!o->dir) {
		int fd = o->fd;
		o->fd = -1;
		if (fsync(fd) != 0) {
			int e = errno;
			close(fd);
			return vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "fsync failed: %s", strerror(e));
		}
		if (close(fd) != 0)
			return vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "close failed: %s", strerror(errno));
	} else {
		/* Files were closed by the extractor; make them and the tree durable. */
		int fd = open(o->temp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			(void)syncfs(fd);
			close(fd);
		}
	}
	if (rename(o->temp, o->path) != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "cannot rename into %s: %s", o->path, strerror(errno));
	o->temp[0] = 0;
	fsync_dir(o->path);
	return VT_OK;
}

void vt_seal_out_abort(struct vt_seal_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->temp[0] == 0)
		return;
	if (o->dir)
		nftw(o->temp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		unlink(o->temp);
	o->temp[0] = 0;
}
