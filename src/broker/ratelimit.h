/* Per-client-address rate limits (token buckets) for the broker's
 * unauthenticated, costly endpoints: /auth and /attest (docs/security.md). */
#ifndef VT_BROKER_RATELIMIT_H
#define VT_BROKER_RATELIMIT_H

#include <stdint.h>

struct vt_ratelimit;

/* `per_second` tokens a second, at most `burst` saved.  NULL when
 * per_second is 0 (no limit) or out of memory; every function takes NULL. */
struct vt_ratelimit *vt_ratelimit_new(unsigned per_second, unsigned burst);
void vt_ratelimit_free(struct vt_ratelimit *rl);

/* Take one token for `client` at monotonic `now_ms`: 0 when allowed, else
 * the whole seconds after which one will be there (for Retry-After). */
unsigned vt_ratelimit_take(struct vt_ratelimit *rl, const char *client, int64_t now_ms);

#endif
