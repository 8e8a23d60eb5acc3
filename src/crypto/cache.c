/*
 * The caches of one verifier (crypto/cache.h): a set of content-keyed
 * caches, one per class, created on first use, plus the stat-keyed file
 * caches (filecache.c).
 *
 * Finding a class's cache is on every verification's path, so it takes no
 * lock: the set publishes each new cache in `caches[]` before it raises
 * `count` (release), and a reader scans the first `count` (acquire)
 * entries.  Only creating one takes the set's lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"

/* More classes than the library defines (15), with room for new TEEs; past it, no caching. */
#define SET_MAX_CLASSES 48
/* A class asking for more slots than this gets no cache. */
#define CACHE_MAX_SLOTS 4096

struct cache_slot {
	uint8_t key[32];
	int64_t not_before, not_after;
	void *obj;
	bool used;
};

struct vt_cache {
	const struct vt_cache_class *cls;
	pthread_mutex_t lock;
	size_t capacity, next;
	uint64_t hits, misses;
	struct cache_slot slots[];
};

struct vt_cache_set {
	pthread_mutex_t lock; /* creation of caches[] entries */
	atomic_size_t count;
	struct vt_cache *caches[SET_MAX_CLASSES];
	struct vt_file_cache *files;
};

struct vt_cache_set *vt_cache_set_new(void)
{
	struct vt_cache_set *set = calloc(1, sizeof(*set));
	if (set == NULL)
		return NULL;
	set->files = vt_file_cache_new();
	if (set->files == NULL || pthread_mutex_init(&set->lock, NULL) != 0) {
		vt_file_cache_free(set->files);
		free(set);
		return NULL;
	}
	atomic_init(&set->count, 0);
	return set;
}

static void cache_free(struct vt_cache *c)
{
	for (size_t i = 0; i < c->capacity; i++) {
		struct cache_slot *s = &c->slots[i];
		if (s->used && s->obj != NULL && c->cls->release != NULL)
			c->cls->release(s->obj);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void vt_cache_set_free(struct vt_cache_set *set)
{
	if (set == NULL)
		return;
	size_t n = atomic_load(&set->count);
	for (size_t i = 0; i < n; i++)
		cache_free(set->caches[i]);
	vt_file_cache_free(set->files);
	pthread_mutex_destroy(&set->lock);
	free(set);
}

struct vt_file_cache *vt_cache_set_files(struct vt_cache_set *set)
{
	return set != NULL ? set->files : NULL;
}

static struct vt_cache *find(struct vt_cache_set *set, size_t n, const struct vt_cache_class *cls)
{
	for (size_t i = 0; i < n; i++)
		if (set->caches[i]->cls == cls)
			return set->caches[i];
	return NULL;
}

struct vt_cache *vt_cache_of(struct vt_cache_set *set, const struct vt_cache_class *cls)
{
	if (set == NULL || cls == NULL || cls->capacity == 0)
		return NULL;
	struct vt_cache *c = find(set, atomic_load_explicit(&set->count, memory_order_acquire), cls);
	if (c != NULL)
		return c;
	pthread_mutex_lock(&set->lock);
	size_t n = atomic_load_explicit(&set->count, memory_order_relaxed);
	c = find(set, n, cls); /* another thread may have created it meanwhile */
	if (c == NULL && n < SET_MAX_CLASSES && cls->capacity <= CACHE_MAX_SLOTS &&
	    (c = calloc(1, sizeof(*c) + cls->capacity * sizeof(c->slots[0]))) != NULL) {
		if (pthread_mutex_init(&c->lock, NULL) != 0) {
			free(c);
			c = NULL;
		} else {
			c->cls = cls;
			c->capacity = cls->capacity;
			set->caches[n] = c;
			atomic_store_explicit(&set->count, n + 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&set->lock);
	return c;
}

vt_status vt_cache_key(uint8_t out[32], const char *domain, size_t nparts, const void *const *parts,
		       const size_t *sizes, struct vt_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = md != NULL && EVP_DigestInit_ex(md, vt_md_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(md, domain, strlen(domain) + 1) == 1;
	for (size_t i = 0; ok && i < nparts; i++) {
		uint8_t len[8];
		uint64_t v = sizes[i];
		for (size_t k = 0; k < 8; k++)
			len[k] = (uint8_t)(v >> (8 * k));
		ok = EVP_DigestUpdate(md, len, sizeof(len)) == 1 &&
		     (sizes[i] == 0 || EVP_DigestUpdate(md, parts[i], sizes[i]) == 1);
	}
	ok = ok && EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	if (!ok) {
		ERR_clear_error();
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "", "cache key digest failed");
	}
	return VT_OK;
}

bool vt_cache_get(struct vt_cache *c, const uint8_t key[32], int64_t now, void **obj_out)
{
	if (obj_out != NULL)
		*obj_out = NULL;
	if (c == NULL)
		return false;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->capacity; i++) {
		struct cache_slot *s = &c->slots[i];
		if (!s->used || memcmp(s->key, key, 32) != 0)
			continue;
		if (now < s->not_before || now > s->not_after)
			break; /* the same key is never in two slots */
		if (obj_out != NULL && s->obj != NULL) {
			if (c->cls->ref != NULL)
				c->cls->ref(s->obj);
			*obj_out = s->obj;
		}
		c->hits++;
		pthread_mutex_unlock(&c->lock);
		return true;
	}
	c->misses++;
	pthread_mutex_unlock(&c->lock);
	return false;
}

void vt_cache_put(struct vt_cache *c, const uint8_t key[32], int64_t not_before, int64_t not_after, void *obj)
{
	if (c == NULL || not_before > not_after)
		return;
	void *old = NULL;
	pthread_mutex_lock(&c->lock);
	struct cache_slot *s = NULL;
	for (size_t i = 0; i < c->capacity && s == NULL; i++)
		if (c->slots[i].used && memcmp(c->slots[i].key, key, 32) == 0)
			s = &c->slots[i];
	if (s == NULL) {
		s = &c->slots[c->next];
		c->next = (c->next + 1) % c->capacity;
	}
	if (s->used)
		old = s->obj;
	if (obj != NULL && c->cls->ref != NULL)
		c->cls->ref(obj);
	memcpy(s->key, key, 32);
	s->not_before = not_before;
	s->not_after = not_after;
	s->obj = obj;
	s->used = true;
	pthread_mutex_unlock(&c->lock);
	if (old != NULL && c->cls->release != NULL)
		c->cls->release(old);
}

bool vt_cache_set_stats(struct vt_cache_set *set, const char *name, uint64_t *hits, uint64_t *misses)
{
	if (set == NULL || name == NULL)
		return false;
	if (vt_file_cache_stats(set->files, name, hits, misses))
		return true;
	size_t n = atomic_load_explicit(&set->count, memory_order_acquire);
	for (size_t i = 0; i < n; i++) {
		struct vt_cache *c = set->caches[i];
		if (strcmp(c->cls->name, name) != 0)
			continue;
		pthread_mutex_lock(&c->lock);
		*hits = c->hits;
		*misses = c->misses;
		pthread_mutex_unlock(&c->lock);
		return true;
	}
	return false;
}
