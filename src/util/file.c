/* Whole-file reads with a cap, atomic writes with a mode. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "veritee/util.h"

vt_status vt_file_read(const char *path, size_t max, uint8_t **out, size_t *out_len, struct vt_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vt_fail(err, errno == ENOENT ? VT_E_NOTFOUND : VT_E_IO, VT_STEP_IO, path, "cannot open: %s",
			       strerror(errno));
	struct vt_buf b;
	vt_buf_init(&b, max);
	vt_status rc = VT_OK;
	uint8_t chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "read failed: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = vt_buf_append(&b, chunk, (size_t)n, err);
		if (rc != VT_OK) {
			if (rc == VT_E_LIMIT && err)
				snprintf(err->field, sizeof(err->field), "%s", path);
			break;
		}
	}
	close(fd);
	if (rc == VT_OK)
		rc = vt_buf_nul_terminate(&b, err);
	if (rc != VT_OK) {
		vt_buf_free(&b);
		return rc;
	}
	*out = b.data;
	*out_len = b.len;
	return VT_OK;
}

vt_status vt_file_write(const char *path, const void *p, size_t n, unsigned mode, struct vt_err *err)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	if (tmp == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		vt_status rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "cannot create: %s", strerror(errno));
		free(tmp);
		return rc;
	}
	vt_status rc = VT_OK;
	if (fchmod(fd, (mode_t)mode) != 0)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "chmod failed: %s", strerror(errno));
	const uint8_t *q = p;
	size_t left = n;
	while (rc == VT_OK && left > 0) {
		ssize_t w = write(fd, q, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "write failed: %s", strerror(errno));
			break;
		}
		q += w;
		left -= (size_t)w;
	}
	if (rc == VT_OK && fsync(fd) != 0)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "fsync failed: %s", strerror(errno));
	if (close(fd) != 0 && rc == VT_OK)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "close failed: %s", strerror(errno));
	if (rc == VT_OK && rename(tmp, path) != 0)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "rename failed: %s", strerror(errno));
	if (rc != VT_OK)
		unlink(tmp);
	free(tmp);
	return rc;
}

vt_status vt_file_check_private(const char *path, struct vt_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return vt_fail(err, VT_E_NOTFOUND, VT_STEP_CONFIG, path, "no such file");
		return vt_fail(err, VT_E_IO, VT_STEP_CONFIG, path, "cannot stat: %s", strerror(errno));
	}
	if (st.st_mode & 077)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, path,
			       "private key file %.200s is accessible by group or others (mode %03o); chmod 600 it",
			       path, (unsigned)(st.st_mode & 0777));
	return VT_OK;
}
