/*
 * Per-client token buckets for /auth and /attest (ratelimit.h).
 *
 * A fixed table: 16 shards of 1,024 buckets, each shard under its own lock,
 * keyed by a hash with a random key (a client cannot aim at one shard).  A
 * client probes 8 slots; when they are all taken, the one used longest ago
 * is reused.  A reused bucket starts full, so an attacker with more than
 * ~16,000 addresses can refill someone's bucket, which only makes the limit
 * looser, never blocks an honest client.
 */
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "broker/ratelimit.h"
#include "veritee/crypto.h"

#define SHARDS 16
#define SLOTS 1024
#define PROBES 8

struct bucket {
	char addr[48];
	double tokens;
	int64_t last_ms;
};

struct shard {
	pthread_mutex_t lock;
	struct bucket b[SLOTS];
};

struct vt_ratelimit {
	double rate, burst;
	uint64_t key;
	struct shard shards[SHARDS];
};

struct vt_ratelimit *vt_ratelimit_new(unsigned per_second, unsigned burst)
{
	if (per_second == 0)
		return NULL;
	struct vt_ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL || vt_random(&rl->key, sizeof(rl->key), NULL) != VT_OK) {
		free(rl);
		return NULL;
	}
	rl->rate = per_second;
	rl->burst = burst ? burst : 1;
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_init(&rl->shards[i].lock, NULL);
	return rl;
}

void vt_ratelimit_free(struct vt_ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&rl->shards[i].lock);
	free(rl);
}

static uint64_t hash(const struct vt_ratelimit *rl, const char *addr)
{
	uint64_t h = rl->key ^ 0xcbf29ce484222325ull; /* keyed FNV-1a */
	for (const char *p = addr; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return h;
}

unsigned vt_ratelimit_take(struct vt_ratelimit *rl, const char *client, int64_t now_ms)
{
	if (rl == NULL)
		return 0;
	const char *addr = client && client[0] ? client : "-";
	uint64_t h = hash(rl, addr);
	struct shard *sh = &rl->shards[h % SHARDS];
	size_t base = (size_t)((h / SHARDS) % SLOTS);
	unsigned wait = 0;
	pthread_mutex_lock(&sh->lock);
	/* The client's bucket, else an empty slot, else the one used longest ago. */
	struct bucket *hit = NULL, *victim = NULL;
	for (size_t i = 0; i < PROBES; i++) {
		struct bucket *b = &sh->b[(base + i) % SLOTS];
		if (b->addr[0] != '\0' && strcmp(b->addr, addr) == 0) {
			hit = b;
			break;
		}
		if (victim == NULL || (victim->addr[0] != '\0' && (b->addr[0] == '\0' || b->last_ms < victim->last_ms)))
			victim = b;
	}
	if (hit == NULL) {
		hit = victim;
		snprintf(hit->addr, sizeof(hit->addr), "%s", addr);
		hit->tokens = rl->burst;
		hit->last_ms = now_ms;
	}
	double elapsed = now_ms > hit->last_ms ? (double)(now_ms - hit->last_ms) / 1000.0 : 0.0;
	hit->tokens += elapsed * rl->rate;
	if (hit->tokens > rl->burst)
		hit->tokens = rl->burst;
	hit->last_ms = now_ms;
	if (hit->tokens >= 1.0) {
		hit->tokens -= 1.0;
	} else {
		double need = (1.0 - hit->tokens) / rl->rate;
		wait = (unsigned)need; /* whole seconds, rounded up, at least 1 */
		if (wait == 0 || (double)wait < need)
			wait++;
	}
	pthread_mutex_unlock(&sh->lock);
	return wait;
}
