/* RCAR sessions: in memory, keyed by a random 128-bit id, expiring. */
#ifndef VT_BROKER_SESSION_H
#define VT_BROKER_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "veritee/err.h"

enum vt_session_state { VT_SESSION_AUTHED, VT_SESSION_ATTESTED };

struct vt_session_table;

struct vt_session_table *vt_sessions_new(size_t max);
void vt_sessions_free(struct vt_session_table *t);

/* Create a session: fills id (33 chars incl. NUL) and nonce (45 chars). */
vt_status vt_session_create(struct vt_session_table *t, const char *tee, int64_t now, int64_t expires, char id[33],
			    char nonce[45], struct vt_err *err);

/* Copy out what /attest needs: state, tee, nonce.  VT_E_NOTFOUND when the id
 * is unknown or expired (expired entries are removed). */
vt_status vt_session_lookup(struct vt_session_table *t, const char *id, int64_t now, enum vt_session_state *state,
			    char tee[32], char nonce[45], int64_t *expires, struct vt_err *err);

/* AUTHED -> ATTESTED with a token.  Fails if the session is gone or already
 * attested (a nonce is good for one attestation only). */
vt_status vt_session_attested(struct vt_session_table *t, const char *id, int64_t now, const char *token,
			      struct vt_err *err);

/* The token of an ATTESTED, unexpired session (malloc'd), or VT_E_NOTFOUND. */
vt_status vt_session_token(struct vt_session_table *t, const char *id, int64_t now, char **token, struct vt_err *err);

/* Forget a session (e.g. after a failed attestation burns its nonce). */
void vt_session_remove(struct vt_session_table *t, const char *id);

size_t vt_sessions_count(struct vt_session_table *t);

#endif
