/* Directories as sealed payloads: a POSIX (pax) tar stream written and read
 * by libarchive, never held whole; extraction that cannot leave its
 * directory. */
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "veritee/seal.h"

/* ------------------------------------------------------------ archive */

struct wctx {
	struct vt_seal_enc *e;
	struct vt_err *err;
	bool failed;
};

static la_ssize_t push(struct archive *a, void *ctx, const void *buf, size_t n)
{
	(void)a;
	struct wctx *w = ctx;
	if (vt_seal_enc_write(w->e, buf, n, w->err) != VT_OK) {
		w->failed = true;
		return -1;
	}
	return (la_ssize_t)n;
}

static vt_status la_fail(struct archive *a, struct vt_err *err, const char *field, const char *what)
{
	const char *m = archive_error_string(a);
	return vt_fail(err, VT_E_IO, VT_STEP_IO, field, "%s: %s", what, m ? m : "libarchive error");
}

vt_status vt_seal_archive_dir(const char *dir, struct vt_seal_enc *e, struct vt_err *err)
{
	char root[PATH_MAX];
	size_t rl = strlen(dir);
	if (rl == 0 || rl >= sizeof(root))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "input", "bad directory name");
	memcpy(root, dir, rl + 1);
	while (rl > 1 && root[rl - 1] == '/')
		root[--rl] = 0;
	struct wctx w = {.e = e, .err = err};
	struct archive *out = archive_write_new(), *disk = archive_read_disk_new();
	struct archive_entry *ent = archive_entry_new();
	vt_status rc = VT_OK;
	if (out == NULL || disk == NULL || ent == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "input", "out of memory");
		goto out;
	}
	archive_write_set_format_pax_restricted(out);
	archive_write_set_bytes_in_last_block(out, 1);
	if (archive_write_open(out, &w, NULL, push, NULL) != ARCHIVE_OK) {
		rc = la_fail(out, err, "input", "tar writer");
		goto out;
	}
	archive_read_disk_set_symlink_physical(disk); /* store links, never follow them */
	archive_read_disk_set_standard_lookup(disk);
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
						     ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
	if (archive_read_disk_open(disk, root) != ARCHIVE_OK) {
		rc = la_fail(disk, err, "input", root);
		goto out;
	}
	for (;;) {
		archive_entry_clear(ent);
		int r = archive_read_next_header2(disk, ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = la_fail(disk, err, "input", "reading the directory");
			goto out;
		}
		const char *p = archive_entry_pathname(ent);
		bool is_root = strcmp(p, root) == 0;
		if (archive_read_disk_can_descend(disk))
			archive_read_disk_descend(disk);
		if (is_root)
			continue;
		if (strncmp(p, root, rl) != 0 || (p[rl] != '/' && strcmp(root, "/") != 0)) {
			rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_IO, "input", "unexpected path under %s", root);
			goto out;
		}
		const char *rel = p + rl + (strcmp(root, "/") != 0);
		mode_t t = archive_entry_filetype(ent);
		if (t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK) {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_IO, "input",
				     "%s is a device, FIFO or socket: only files, directories and symbolic links are sealed", p);
			goto out;
		}
		archive_entry_set_pathname(ent, rel);
		if (archive_write_header(out, ent) != ARCHIVE_OK) {
			rc = w.failed ? (err ? err->code : VT_E_IO) : la_fail(out, err, "input", "tar header");
			goto out;
		}
		if (t == AE_IFREG) {
			const void *buf;
			size_t n;
			la_int64_t off;
			while ((r = archive_read_data_block(disk, &buf, &n, &off)) == ARCHIVE_OK) {
				if (n > 0 && archive_write_data(out, buf, n) != (la_ssize_t)n) {
					rc = w.failed ? (err ? err->code : VT_E_IO) : la_fail(out, err, "input", "tar data");
					goto out;
				}
			}
			if (r != ARCHIVE_EOF) {
				rc = la_fail(disk, err, "input", p);
				goto out;
			}
		}
	}
	if (archive_write_close(out) != ARCHIVE_OK)
		rc = w.failed ? (err ? err->code : VT_E_IO) : la_fail(out, err, "input", "tar end");
out:
	archive_entry_free(ent);
	if (disk)
		archive_read_free(disk);
	if (out)
		archive_write_free(out);
	return rc;
}

/* ------------------------------------------------------------ extract */

bool vt_seal_name_safe(const char *name)
{
	if (name == NULL || name[0] == 0 || name[0] == '/')
		return false;
	for (const char *p = name; *p;) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

/* Where `target` leads, relative to the link's directory: each normal
 * component goes one down, ".." one up; never above the top. */
bool vt_seal_link_safe(const char *name, const char *target)
{
	if (!vt_seal_name_safe(name) || target == NULL || target[0] == 0 || target[0] == '/')
		return false;
	long depth = 0;
	for (const char *p = name; *p;) { /* directories above the link */
		const char *s = strchr(p, '/');
		if (s == NULL)
			break;
		size_t n = (size_t)(s - p);
		if (n > 0 && !(n == 1 && p[0] == '.'))
			depth++;
		p = s + 1;
	}
	for (const char *p = target; *p;) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

struct rctx {
	struct vt_seal_dec *d;
	struct vt_err *err;
	void (*progress)(void *, uint64_t);
	void *pctx;
	const volatile sig_atomic_t *cancel;
	bool failed, done;
};

static la_ssize_t pull(struct archive *a, void *ctx, const void **buf)
{
	(void)a;
	struct rctx *r = ctx;
	const uint8_t *pt;
	size_t n = 0;
	do { /* an empty non-final chunk cannot occur, an empty final one can */
		if (r->cancel && *r->cancel) {
			r->failed = true;
			vt_fail(r->err, VT_E_USAGE, VT_STEP_NONE, "unseal", "cancelled");
			return -1;
		}
		if (r->done)
			return 0;
		if (vt_seal_dec_next(r->d, &pt, &n, &r->done, r->err) != VT_OK) {
			r->failed = true;
			return -1;
		}
		if (r->progress)
			r->progress(r->pctx, vt_seal_dec_bytes_read(r->d));
	} while (n == 0 && !r->done);
	*buf = pt;
	return (la_ssize_t)n;
}

/* After extraction: every link that resolves must resolve inside the tree
 * (a lexical check alone is fooled by links through other links). */
static char check_root[PATH_MAX];
static size_t check_root_len;
static char check_bad[PATH_MAX];

static int check_link(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag != FTW_SL)
		return 0;
	char real[PATH_MAX];
	if (realpath(p, real) == NULL)
		return 0; /* dangling: the lexical check ran at extraction */
	if (strncmp(real, check_root, check_root_len) != 0 ||
	    (real[check_root_len] != '/' && real[check_root_len] != 0)) {
		snprintf(check_bad, sizeof(check_bad), "%s", p);
		return 1;
	}
	return 0;
}

static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;

static vt_status check_links(const char *into, struct vt_err *err)
{
	vt_status rc = VT_OK;
	pthread_mutex_lock(&check_lock);
	if (realpath(into, check_root) == NULL) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "cannot resolve %s", into);
	} else {
		check_root_len = strlen(check_root);
		if (nftw(into, check_link, 16, FTW_PHYS) != 0)
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tar.symlink",
				     "symbolic link %s leads outside the directory", check_bad + strlen(into));
	}
	pthread_mutex_unlock(&check_lock);
	return rc;
}

vt_status vt_seal_extract(struct vt_seal_dec *d, const char *into, void (*progress)(void *ctx, uint64_t bytes),
			  void *progress_ctx, const volatile sig_atomic_t *cancel, struct vt_err *err)
{
	struct rctx rc_ = {.d = d, .err = err, .progress = progress, .pctx = progress_ctx, .cancel = cancel};
	struct archive *in = archive_read_new(), *disk = archive_write_disk_new();
	vt_status rc = VT_OK;
	char full[PATH_MAX];
	char top[PATH_MAX];
	if (in == NULL || disk == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "unseal", "out of memory");
		goto out;
	}
	/* Resolved, so that the link check of SECURE_SYMLINKS, which walks the
	 * whole path, never trips on a link above the directory. */
	if (realpath(into, top) == NULL) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "output", "cannot resolve %s", into);
		goto out;
	}
	archive_read_support_format_tar(in);
	/* No owners, no set-id bits; never through a link, never "..", never absolute. */
	/* (Names were checked to be relative; the path given to libarchive is
	 * `into`, resolved, plus the name, so NOABSOLUTEPATHS cannot be set.) */
	archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_NO_OVERWRITE);
	if (archive_read_open(in, &rc_, NULL, pull, NULL) != ARCHIVE_OK) {
		rc = rc_.failed ? (err ? err->code : VT_E_IO) : la_fail(in, err, "tar", "not a tar stream");
		goto out;
	}
	for (;;) {
		struct archive_entry *ent;
		int r = archive_read_next_header(in, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = rc_.failed ? (err ? err->code : VT_E_IO) : la_fail(in, err, "tar", "reading the tar stream");
			goto out;
		}
		const char *name = archive_entry_pathname(ent);
		mode_t t = archive_entry_filetype(ent);
		if (name && (strcmp(name, ".") == 0 || strcmp(name, "./") == 0) && t == AE_IFDIR)
			continue;
		if (!vt_seal_name_safe(name)) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tar.name",
				     "refusing entry \"%.200s\": absolute, empty or with a \"..\" component", name ? name : "");
			goto out;
		}
		if (archive_entry_hardlink(ent) != NULL || (t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK)) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tar.type",
				     "refusing entry \"%.200s\": hard links, devices, FIFOs and sockets are not extracted", name);
			goto out;
		}
		if (t == AE_IFLNK && !vt_seal_link_safe(name, archive_entry_symlink(ent))) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tar.symlink",
				     "refusing symbolic link \"%.200s\": its target leaves the directory", name);
			goto out;
		}
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", top, name) >= sizeof(full)) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tar.name", "entry name too long");
			goto out;
		}
		archive_entry_set_pathname(ent, full);
		archive_entry_set_perm(ent, archive_entry_perm(ent) & 0777);
		if (archive_write_header(disk, ent) != ARCHIVE_OK) {
			rc = la_fail(disk, err, "output", "cannot create an entry");
			goto out;
		}
		const void *buf;
		size_t n;
		la_int64_t off;
		while (t == AE_IFREG && (r = archive_read_data_block(in, &buf, &n, &off)) == ARCHIVE_OK) {
			if (archive_write_data_block(disk, buf, n, off) != ARCHIVE_OK) {
				rc = la_fail(disk, err, "output", "write failed");
				goto out;
			}
		}
		if (t == AE_IFREG && r != ARCHIVE_EOF) {
			rc = rc_.failed ? (err ? err->code : VT_E_IO) : la_fail(in, err, "tar", "reading file data");
			goto out;
		}
		if (archive_write_finish_entry(disk) != ARCHIVE_OK) {
			rc = la_fail(disk, err, "output", "write failed");
			goto out;
		}
	}
	/* The tar reader may stop before the last chunks (end-of-archive
	 * padding): authenticate them all before anything is kept. */
	while (!rc_.done) {
		const void *buf;
		if (pull(in, &rc_, &buf) < 0) {
			rc = (err ? err->code : VT_E_IO);
			goto out;
		}
	}
	if (archive_write_close(disk) != ARCHIVE_OK) {
		rc = la_fail(disk, err, "output", "finishing the directory");
		goto out;
	}
	rc = check_links(into, err);
out:
	if (in)
		archive_read_free(in);
	if (disk)
		archive_write_free(disk);
	return rc;
}
