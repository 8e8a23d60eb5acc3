/*
 * Stat-keyed caches of operator configuration files and directory listings
 * (certs_path, collateral_path): the bytes of a regular file and their
 * SHA-256, and the sorted entry names of a directory, remembered by path and
 * (st_dev, st_ino, st_size, st_mtim, st_ctim).  A lookup stats the path and
 * counts a hit only when every field is unchanged, so a rewrite (new size,
 * mtime or ctime), a replacement by rename (new inode) or an added/removed
 * directory entry (new directory mtime) is a miss and is read again.
 *
 * Racy timestamps: a file changed within the same timestamp tick as a read
 * can keep its stat fields, so an entry is stored only when the file's mtime
 * and ctime were already VT_FILE_CACHE_SETTLE_S seconds old when the read
 * began (the "racily clean" rule of git's index).  A recently changed file is
 * therefore read on every call until it has settled.  ctime cannot be set by
 * unprivileged users (utimensat updates it), so restoring an old mtime after
 * a rewrite is still a miss.
 *
 * Only re-reading is saved: callers still parse and verify the bytes, and
 * their content-keyed caches are keyed by the SHA-256 handed back here.
 * Each verifier has its own (struct vt_file_cache in its struct
 * vt_cache_set, crypto/cache.h); without one (set == NULL) every call reads.
 * Bounded (FILE_SLOTS / DIR_SLOTS, round-robin), one mutex each, entries
 * reference-counted so a replaced entry stays valid for its current users
 * (also past vt_file_cache_free).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define FILE_SLOTS 64
#define DIR_SLOTS 8

struct stat_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};

static void stat_id_of(const struct stat *st, struct stat_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static bool stat_id_eq(const struct stat_id *a, const struct stat_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	       a->mtim.tv_nsec == b->mtim.tv_nsec && a->ctim.tv_sec == b->ctim.tv_sec &&
	       a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return ts_ns(&t);
}

/* Both timestamps at least the settling time `s` before `read_at` (a later change cannot share them). */
static bool settled(const struct stat_id *id, int64_t read_at, int64_t s)
{
	return ts_ns(&id->mtim) + s <= read_at && ts_ns(&id->ctim) + s <= read_at;
}

/* The lookup key: `path` made absolute against the current directory (malloc'd). */
static char *abs_path(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[4096];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* ------------------------------------------------------------ the cache */

struct file_entry;
struct dir_entry;

struct vt_file_cache {
	_Atomic int64_t settle_ns;
	pthread_mutex_t file_lock;
	struct file_entry *file_slots[FILE_SLOTS];
	size_t file_next;
	uint64_t file_hits, file_misses;
	pthread_mutex_t dir_lock;
	struct dir_entry *dir_slots[DIR_SLOTS];
	size_t dir_next;
	uint64_t dir_hits, dir_misses;
};

struct vt_file_cache *vt_file_cache_new(void)
{
	struct vt_file_cache *fc = calloc(1, sizeof(*fc));
	if (fc == NULL)
		return NULL;
	atomic_init(&fc->settle_ns, (int64_t)VT_FILE_CACHE_SETTLE_S * 1000000000);
	if (pthread_mutex_init(&fc->file_lock, NULL) != 0) {
		free(fc);
		return NULL;
	}
	if (pthread_mutex_init(&fc->dir_lock, NULL) != 0) {
		pthread_mutex_destroy(&fc->file_lock);
		free(fc);
		return NULL;
	}
	return fc;
}

void vt_cache_set_file_settle_ms(struct vt_cache_set *set, unsigned ms)
{
	struct vt_file_cache *fc = vt_cache_set_files(set);
	if (fc != NULL)
		atomic_store(&fc->settle_ns, (int64_t)(ms < 50 ? 50 : ms) * 1000000);
}

/* ------------------------------------------------------------ files */

struct file_entry {
	atomic_int refs;
	char *key;
	struct stat_id id;
	uint8_t *bytes; /* NUL-terminated */
	size_t size;
	uint8_t sha256[32];
};

static void file_entry_release(struct file_entry *e)
{
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	free(e->key);
	free(e->bytes);
	free(e);
}

void vt_file_cache_release(void *handle)
{
	file_entry_release(handle);
}

vt_status vt_sha256(const void *p, size_t n, uint8_t out[32], struct vt_err *err)
{
	unsigned int len = 0;
	if (EVP_Digest(p, n, out, &len, vt_md_sha256(), NULL) != 1 || len != 32)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "", "SHA-256 failed");
	return VT_OK;
}

vt_status vt_sha256_hex(const void *p, size_t n, char out[65], struct vt_err *err)
{
	uint8_t d[32];
	vt_status rc = vt_sha256(p, n, d, err);
	if (rc == VT_OK)
		vt_hex_encode_to(d, sizeof(d), out);
	return rc;
}

static struct file_entry *entry_new(char *key, uint8_t *bytes, size_t size, struct vt_err *err)
{
	struct file_entry *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		free(key);
		free(bytes);
		(void)vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		return NULL;
	}
	atomic_init(&e->refs, 1);
	e->key = key;
	e->bytes = bytes;
	e->size = size;
	if (vt_sha256(bytes, size, e->sha256, err) != VT_OK) {
		file_entry_release(e);
		return NULL;
	}
	return e;
}

/* Not cacheable (not a regular file, too large, stat failed): an ordinary
 * read, with vt_file_read's errors, in a private entry. */
static vt_status read_uncached(const char *path, size_t max, struct file_entry **out, struct vt_err *err)
{
	uint8_t *data = NULL;
	size_t n = 0;
	vt_status rc = vt_file_read(path, max, &data, &n, err);
	if (rc != VT_OK)
		return rc;
	*out = entry_new(NULL, data, n, err);
	return *out != NULL ? VT_OK : VT_E_NOMEM;
}

/* Read a regular file whose stat was `before`; stored when it settled and did not change. */
static vt_status read_and_store(struct vt_file_cache *fc, const char *path, char *key, size_t max,
				struct file_entry **out, struct vt_err *err)
{
	int64_t read_at = now_ns();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st1, st2;
	if (fd < 0 || fstat(fd, &st1) != 0 || !S_ISREG(st1.st_mode) || (uint64_t)st1.st_size > max) {
		if (fd >= 0)
			close(fd);
		free(key);
		return read_uncached(path, max, out, err); /* the exact error of an ordinary read */
	}
	size_t cap = (size_t)st1.st_size;
	uint8_t *buf = malloc(cap + 1);
	size_t n = 0;
	bool grew = false;
	while (buf != NULL) {
		if (n == cap) {
			/* at the expected end: one more byte means the file grew meanwhile */
			uint8_t extra;
			ssize_t r = read(fd, &extra, 1);
			if (r < 0 && errno == EINTR)
				continue;
			grew = r != 0;
			break;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			grew = r < 0; /* an error: not trusted either */
			break;
		}
		n += (size_t)r;
	}
	bool same = fstat(fd, &st2) == 0;
	close(fd);
	if (buf == NULL || grew || n != cap) {
		/* changed while reading (or no memory): fall back to an ordinary read */
		free(buf);
		free(key);
		return read_uncached(path, max, out, err);
	}
	buf[n] = 0;
	struct stat_id id1, id2;
	stat_id_of(&st1, &id1);
	stat_id_of(&st2, &id2);
	same = same && stat_id_eq(&id1, &id2);
	struct file_entry *e = entry_new(key, buf, n, err);
	if (e == NULL)
		return VT_E_NOMEM;
	e->id = id1;
	if (same && key != NULL && settled(&id1, read_at, atomic_load(&fc->settle_ns))) {
		struct file_entry *old = NULL;
		atomic_fetch_add(&e->refs, 1);
		pthread_mutex_lock(&fc->file_lock);
		size_t slot = FILE_SLOTS;
		for (size_t i = 0; i < FILE_SLOTS && slot == FILE_SLOTS; i++)
			if (fc->file_slots[i] != NULL && strcmp(fc->file_slots[i]->key, key) == 0)
				slot = i;
		if (slot == FILE_SLOTS) {
			slot = fc->file_next;
			fc->file_next = (fc->file_next + 1) % FILE_SLOTS;
		}
		old = fc->file_slots[slot];
		fc->file_slots[slot] = e;
		pthread_mutex_unlock(&fc->file_lock);
		file_entry_release(old);
	}
	*out = e;
	return VT_OK;
}

vt_status vt_file_read_cached(struct vt_cache_set *set, const char *path, size_t max, unsigned flags,
			      const uint8_t **bytes, size_t *size, uint8_t sha256[32], void **handle, struct vt_err *err)
{
	struct vt_file_cache *fc = vt_cache_set_files(set);
	*bytes = NULL;
	*size = 0;
	*handle = NULL;
	struct stat st;
	struct file_entry *e = NULL;
	vt_status rc;
	bool ok = stat(path, &st) == 0;
	if ((flags & VT_FILE_REGULAR_ONLY) && (!ok || !S_ISREG(st.st_mode)))
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_IO, path, "not a regular file");
	if (fc == NULL || !ok || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		rc = read_uncached(path, max, &e, err);
	} else {
		/* an absolute path is its own key (no copy on a hit) */
		char *rel_key = path[0] == '/' ? NULL : abs_path(path);
		const char *key = path[0] == '/' ? path : rel_key;
		struct stat_id id;
		stat_id_of(&st, &id);
		if (key != NULL) {
			pthread_mutex_lock(&fc->file_lock);
			for (size_t i = 0; i < FILE_SLOTS && e == NULL; i++) {
				struct file_entry *s = fc->file_slots[i];
				if (s != NULL && stat_id_eq(&s->id, &id) && strcmp(s->key, key) == 0) {
					atomic_fetch_add(&s->refs, 1);
					e = s;
				}
			}
			if (e != NULL)
				fc->file_hits++;
			else
				fc->file_misses++;
			pthread_mutex_unlock(&fc->file_lock);
		}
		if (e != NULL) {
			free(rel_key);
			rc = VT_OK;
		} else {
			char *owned = rel_key != NULL ? rel_key : (key != NULL ? strdup(key) : NULL);
			rc = read_and_store(fc, path, owned, max, &e, err);
		}
	}
	if (rc != VT_OK)
		return rc;
	*bytes = e->bytes;
	*size = e->size;
	if (sha256 != NULL)
		memcpy(sha256, e->sha256, 32);
	*handle = e;
	return VT_OK;
}

/* ------------------------------------------------------------ directories */

struct dir_entry {
	atomic_int refs;
	char *key;
	struct stat_id id;
	char **names;
	size_t n;
};

static void dir_entry_release(struct dir_entry *e)
{
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->names[i]);
	free(e->names);
	free(e->key);
	free(e);
}

void vt_dir_list_release(void *handle)
{
	dir_entry_release(handle);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static vt_status list_dir(const char *path, size_t max_entries, struct dir_entry *e, struct vt_err *err)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, path, "%s", strerror(errno));
	vt_status rc = VT_OK;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (e->n >= max_entries) {
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_IO, path, "more than %zu entries", max_entries);
			break;
		}
		if (e->n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			char **nn = realloc(e->names, nc * sizeof(*nn));
			if (nn == NULL) {
				rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, path, "out of memory");
				break;
			}
			e->names = nn;
			cap = nc;
		}
		if (asprintf(&e->names[e->n], "%s/%s", path, de->d_name) < 0) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, path, "out of memory");
			break;
		}
		e->n++;
	}
	closedir(d);
	if (rc == VT_OK && e->n > 1)
		qsort(e->names, e->n, sizeof(e->names[0]), cmp_names);
	return rc;
}

vt_status vt_dir_list_cached(struct vt_cache_set *set, const char *path, size_t max_entries,
			     const char *const **names, size_t *count, void **handle, struct vt_err *err)
{
	struct vt_file_cache *fc = vt_cache_set_files(set);
	*names = NULL;
	*count = 0;
	*handle = NULL;
	struct stat st;
	if (stat(path, &st) != 0)
		return vt_fail(err, errno == ENOENT ? VT_E_NOTFOUND : VT_E_IO, VT_STEP_IO, path, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return vt_fail(err, VT_E_IO, VT_STEP_IO, path, "%s", strerror(ENOTDIR));
	struct stat_id id;
	stat_id_of(&st, &id);
	char *key = fc != NULL ? abs_path(path) : NULL; /* no cache: nothing to key */
	struct dir_entry *e = NULL;
	if (key != NULL) {
		pthread_mutex_lock(&fc->dir_lock);
		for (size_t i = 0; i < DIR_SLOTS && e == NULL; i++) {
			struct dir_entry *s = fc->dir_slots[i];
			if (s != NULL && stat_id_eq(&s->id, &id) && strcmp(s->key, key) == 0) {
				atomic_fetch_add(&s->refs, 1);
				e = s;
			}
		}
		if (e != NULL)
			fc->dir_hits++;
		else
			fc->dir_misses++;
		pthread_mutex_unlock(&fc->dir_lock);
	}
	if (e != NULL) {
		free(key);
	} else {
		int64_t read_at = now_ns();
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			free(key);
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, path, "out of memory");
		}
		atomic_init(&e->refs, 1);
		e->key = key;
		e->id = id;
		vt_status rc = list_dir(path, max_entries, e, err);
		struct stat st2;
		struct stat_id id2;
		bool same = rc == VT_OK && stat(path, &st2) == 0;
		if (same) {
			stat_id_of(&st2, &id2);
			same = stat_id_eq(&id, &id2);
		}
		if (rc != VT_OK) {
			dir_entry_release(e);
			return rc;
		}
		if (same && key != NULL && settled(&id, read_at, atomic_load(&fc->settle_ns))) {
			atomic_fetch_add(&e->refs, 1);
			pthread_mutex_lock(&fc->dir_lock);
			size_t slot = DIR_SLOTS;
			for (size_t i = 0; i < DIR_SLOTS && slot == DIR_SLOTS; i++)
				if (fc->dir_slots[i] != NULL && strcmp(fc->dir_slots[i]->key, key) == 0)
					slot = i;
			if (slot == DIR_SLOTS) {
				slot = fc->dir_next;
				fc->dir_next = (fc->dir_next + 1) % DIR_SLOTS;
			}
			struct dir_entry *old = fc->dir_slots[slot];
			fc->dir_slots[slot] = e;
			pthread_mutex_unlock(&fc->dir_lock);
			dir_entry_release(old);
		}
	}
	*names = (const char *const *)e->names;
	*count = e->n;
	*handle = e;
	return VT_OK;
}

/* ------------------------------------------------------------ stats, free */

bool vt_file_cache_stats(struct vt_file_cache *fc, const char *name, uint64_t *hits, uint64_t *misses)
{
	if (fc == NULL)
		return false;
	bool files = strcmp(name, "file") == 0;
	if (!files && strcmp(name, "dir") != 0)
		return false;
	pthread_mutex_t *lock = files ? &fc->file_lock : &fc->dir_lock;
	pthread_mutex_lock(lock);
	*hits = files ? fc->file_hits : fc->dir_hits;
	*misses = files ? fc->file_misses : fc->dir_misses;
	pthread_mutex_unlock(lock);
	return true;
}

void vt_file_cache_free(struct vt_file_cache *fc)
{
	if (fc == NULL)
		return;
	for (size_t i = 0; i < FILE_SLOTS; i++)
		file_entry_release(fc->file_slots[i]);
	for (size_t i = 0; i < DIR_SLOTS; i++)
		dir_entry_release(fc->dir_slots[i]);
	pthread_mutex_destroy(&fc->file_lock);
	pthread_mutex_destroy(&fc->dir_lock);
	free(fc);
}
