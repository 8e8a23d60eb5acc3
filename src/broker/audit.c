/* The release log: entries, signed heads, the JWKS, export and verification
 * (see audit.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/audit.h"
#include "broker/broker_internal.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

static const char genesis[65] = "0000000000000000000000000000000000000000000000000000000000000000";

static bool is_hash_hex(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

/* ------------------------------------------------------------ the key */

/* RFC 7638: base64url(SHA-256(JCS of crv, kty, x, y)); ear.c puts the same
 * value in the EAR header's "kid". */
json_t *vt_audit_jwk(EVP_PKEY *key)
{
	json_t *jwk = vt_key_to_jwk(key, "ES256", false);
	char *kid = jwk && vt_ec_coord_size(key) == 32 ? vt_jwk_thumbprint(jwk) : NULL;
	if (kid == NULL || json_object_set_new(jwk, "kid", json_string(kid)) != 0 ||
	    json_object_set_new(jwk, "use", json_string("sig")) != 0) {
		free(kid);
		json_decref(jwk);
		return NULL;
	}
	free(kid);
	return jwk;
}

void vt_broker_jwks(struct vt_broker *b, struct vt_http_response *r)
{
	r->status = 200;
	r->content_type = "application/json";
	if ((r->body = strdup(b->jwks)) == NULL) {
		vt_resp_error(r, "InternalError", "out of memory");
		return;
	}
	r->body_size = strlen(r->body);
}

/* ------------------------------------------------------------ appending */

struct append_ctx {
	struct vt_broker *b;
	json_t *entry; /* every member but seq and prev */
	int64_t now;
};

/* A link of the chain {hash, seq, time}, in canonical JSON, signed as a
 * compact JWS of type `typ` with the token-signing key: the head after each
 * append, the checkpoint of a prune. */
static vt_status sign_link(struct vt_broker *b, const char *typ, const struct vt_audit_link *link, int64_t now,
			   char **jws, struct vt_err *err)
{
	json_t *payload = json_pack("{s:s, s:I, s:I}", "hash", link->hash, "seq", (json_int_t)link->seq, "time",
				    (json_int_t)now);
	json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", typ, "kid", b->token_kid);
	char *ptext = payload ? vt_json_canonical(payload) : NULL;
	vt_status rc = header && ptext ? vt_jws_sign(b->token_key, header, (const uint8_t *)ptext, strlen(ptext), jws, err)
				       : vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "audit",
						 "cannot build the release log's signed %s", typ);
	free(ptext);
	json_decref(payload);
	json_decref(header);
	return rc;
}

/* The next entry on top of `prev`, and the head that signs it. */
static vt_status make_entry(void *ctx, const struct vt_audit_link *prev, char **entry, char hash[65], char **head,
			    struct vt_err *err)
{
	struct append_ctx *a = ctx;
	char *text = NULL;
	vt_status rc = VT_OK;
	if (json_object_set_new(a->entry, "seq", json_integer(prev->seq + 1)) != 0 ||
	    json_object_set_new(a->entry, "prev", json_string(prev->hash)) != 0 ||
	    (text = vt_json_canonical(a->entry)) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "audit", "cannot serialize the release log entry");
		goto out;
	}
	VT_GUARD(vt_sha256_hex(text, strlen(text), hash, err));
	struct vt_audit_link next = {.seq = prev->seq + 1};
	memcpy(next.hash, hash, 65);
	VT_GUARD(sign_link(a->b, VT_AUDIT_HEAD_TYP, &next, a->now, head, err));
	*entry = text;
	text = NULL;
out:
	free(text);
	return rc;
}

/* The checkpoint of a prune: entry `at`, the last one deleted. */
static vt_status make_checkpoint(void *ctx, const struct vt_audit_link *at, char **jws, struct vt_err *err)
{
	struct vt_broker *b = ctx;
	return sign_link(b, VT_AUDIT_CHECKPOINT_TYP, at, vt_broker_now(b), jws, err);
}

/* The TEE the verified token speaks for: the annotated evidence's one
 * member that is not a runtime or init-data claim (rcar.c shapes it). */
static const char *claims_tee(const json_t *claims)
{
	json_t *ae = vt_json_pointer(claims, "/submods/cpu0/ear.veraison.annotated-evidence");
	const char *k;
	json_t *v;
	json_object_foreach(ae, k, v) {
		if (strcmp(k, "report_data") != 0 && strcmp(k, "runtime_data_claims") != 0 && strcmp(k, "init_data") != 0 &&
		    strcmp(k, "init_data_claims") != 0 && strcmp(k, "agent_policy_claims") != 0)
			return k;
	}
	return NULL;
}

static vt_status append(struct vt_broker *b, const struct vt_http_request *req, const char *token,
			const json_t *claims, const char *resource, const char *outcome, const char *step,
			struct vt_err *err)
{
	const char *bearer = req->authorization && strncmp(req->authorization, "Bearer ", 7) == 0
				     ? req->authorization + 7
				     : NULL;
	char session[65], digest[65];
	const char *credential = "none";
	bool have_session = false, have_claims = false;
	vt_status rc = VT_OK;
	/* Which credential the request stood on, as a hash: the Bearer token
	 * when that is the token in use (by its "jti" when it has one), else
	 * the session cookie. */
	if (token != NULL && bearer != NULL && strcmp(token, bearer) == 0) {
		const char *jti = json_string_value(json_object_get(claims, "jti"));
		credential = "bearer";
		rc = jti ? vt_sha256_hex(jti, strlen(jti), session, err) : vt_sha256_hex(token, strlen(token), session, err);
		have_session = true;
	} else if (req->session_cookie != NULL) {
		credential = "cookie";
		rc = vt_sha256_hex(req->session_cookie, strlen(req->session_cookie), session, err);
		have_session = true;
	} else if (bearer != NULL) {
		credential = "bearer";
		rc = vt_sha256_hex(bearer, strlen(bearer), session, err);
		have_session = true;
	}
	if (rc != VT_OK)
		return rc;
	if (claims != NULL) {
		/* JCS has no real numbers; a token holding one is digested in
		 * jansson's sorted compact form, as deterministic for this use. */
		char *text = vt_json_canonical(claims);
		if (text == NULL)
			text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		if (text == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "audit", "out of memory");
		rc = vt_sha256_hex(text, strlen(text), digest, err);
		free(text);
		if (rc != VT_OK)
			return rc;
		have_claims = true;
	}
	const char *tee = claims ? claims_tee(claims) : NULL;
	struct append_ctx a = {.b = b, .now = vt_broker_now(b)};
	a.entry = json_pack("{s:I, s:s?, s:s, s:s?, s:s?, s:s, s:s, s:s?}", "time", (json_int_t)a.now, "session",
			    have_session ? session : NULL, "credential", credential, "tee", tee, "claims",
			    have_claims ? digest : NULL, "resource", resource, "outcome", outcome, "step", step);
	if (a.entry == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "audit", "out of memory");
	/* s:s? omits a NULL member; the log writes it as null. */
	static const char *const nullable[] = {"session", "tee", "claims", "step", NULL};
	for (size_t i = 0; nullable[i]; i++)
		if (json_object_get(a.entry, nullable[i]) == NULL)
			json_object_set_new(a.entry, nullable[i], json_null());
	rc = vt_store_audit_append(b->store, make_entry, &a, err);
	json_decref(a.entry);
	return rc;
}

vt_status vt_broker_audit_release(struct vt_broker *b, const struct vt_http_request *req, const char *token,
				  const json_t *claims, const char *resource, struct vt_err *err)
{
	vt_status rc = append(b, req, token, claims, resource, "released", NULL, err);
	if (rc != VT_OK)
		vt_err_context(err, "release log");
	return rc;
}

void vt_broker_audit_refusal(struct vt_broker *b, const struct vt_http_request *req, const char *token,
			     const json_t *claims, const char *resource, const char *outcome, vt_step step)
{
	struct vt_err e = {0};
	if (append(b, req, token, claims, resource, outcome, vt_step_name(step), &e) != VT_OK) {
		vt_err_context(&e, "release log: refusal not recorded");
		vt_broker_log_err(b, "audit", &e);
	}
}

/* ------------------------------------------------------------ export */

void vt_broker_audit_export(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	int64_t since = 0, limit = VT_AUDIT_PAGE_MAX;
	struct vt_audit_page pg = {0};
	json_t *entries = NULL;
	if (!vt_broker_query_int(req->query, "since", &since) || !vt_broker_query_int(req->query, "limit", &limit) ||
	    limit < 1 || limit > VT_AUDIT_PAGE_MAX) {
		vt_resp_error(r, "SerdeError", "Bad query: since=N (entries after seq N, N >= 0) and limit=1..500");
		return;
	}
	if (vt_store_audit_read(b->store, since, (size_t)limit, &pg, &e) != VT_OK) {
		vt_broker_log_err(b, "audit export", &e);
		vt_resp_err(r, "PluginInternalError", "Release log error", &e);
		return;
	}
	entries = json_array();
	size_t i;
	json_t *row;
	/* Entries through the checkpoint were pruned: the page starts after it. */
	int64_t last = since > pg.checkpoint_seq ? since : pg.checkpoint_seq;
	json_array_foreach(pg.entries, i, row) {
		const char *text = json_string_value(json_object_get(row, "entry"));
		json_t *entry = NULL;
		if (vt_json_parse(text, strlen(text), 1u << 16, &entry, &e) != VT_OK || !json_is_object(entry)) {
			json_decref(entry);
			vt_fail(&e, VT_E_IO, VT_STEP_STORAGE, "audit", "stored release log entry is not JSON");
			vt_broker_log_err(b, "audit export", &e);
			vt_resp_err(r, "PluginInternalError", "Release log error", &e);
			goto out;
		}
		last = json_integer_value(json_object_get(entry, "seq"));
		json_object_set(entry, "hash", json_object_get(row, "hash"));
		json_array_append_new(entries, entry);
	}
	json_t *body = entries ? json_pack("{s:O, s:o, s:b, s:o, s:I}", "entries", entries, "head",
					   pg.head ? json_string(pg.head) : json_null(), "more", last < pg.head_seq,
					   "checkpoint", pg.checkpoint ? json_string(pg.checkpoint) : json_null(),
					   "pruned_through", (json_int_t)pg.checkpoint_seq)
			       : NULL;
	if (body == NULL)
		vt_resp_error(r, "PluginInternalError", "Release log error: out of memory");
	else
		vt_resp_json(r, 200, body);
out:
	json_decref(entries);
	vt_audit_page_free(&pg);
}

void vt_broker_audit_prune(struct vt_broker *b, const struct vt_http_request *req, struct vt_http_response *r)
{
	struct vt_err e = {0};
	int64_t through = -1, deleted = 0;
	if (!vt_broker_query_int(req->query, "through", &through) || through < 1) {
		vt_resp_error(r, "SerdeError", "Bad query: through=N (delete the entries up to seq N, N >= 1)");
		return;
	}
	vt_status rc = vt_store_audit_prune(b->store, through, make_checkpoint, b, &deleted, &e);
	if (rc == VT_E_USAGE) {
		vt_resp_err(r, "SerdeError", "Release log not pruned", &e);
		return;
	}
	if (rc != VT_OK) {
		vt_broker_log_err(b, "audit prune", &e);
		vt_resp_err(r, "PluginInternalError", "Release log error: nothing was pruned", &e);
		return;
	}
	vt_broker_log(b, "INFO", "admin: release log pruned through seq %lld (%lld entries deleted)", (long long)through,
		      (long long)deleted);
	json_t *body = json_pack("{s:I, s:I}", "pruned_through", (json_int_t)through, "deleted", (json_int_t)deleted);
	if (body == NULL)
		vt_resp_error(r, "PluginInternalError", "out of memory");
	else
		vt_resp_json(r, 200, body);
}

/* ------------------------------------------------------------ verification */

static vt_status tampered(struct vt_audit_result *res, long index, int64_t seq, struct vt_err *err, const char *fmt,
			  ...) VT_PRINTF(5, 6);
static vt_status tampered(struct vt_audit_result *res, long index, int64_t seq, struct vt_err *err, const char *fmt,
			  ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	res->bad_index = index;
	res->bad_seq = seq;
	char field[32];
	if (index >= 0)
		snprintf(field, sizeof(field), "entries[%ld]", index);
	else
		snprintf(field, sizeof(field), "head");
	return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, field, "%s", res->why);
}

/* Verify a signed link (the head, or the checkpoint: `what`, of JOSE type
 * `typ`) with the JWKS key of its "kid" (copied to kid_out when given); its
 * payload in *out, which must hold seq, time and hash. */
static vt_status verify_link(const char *head, const char *typ_want, const char *what, const json_t *jwks,
			     char kid_out[96], struct vt_audit_result *res, json_t **out, struct vt_err *err)
{
	static const char *const algs[] = {"ES256", NULL};
	json_t *hdr = NULL, *keys = json_object_get(jwks, "keys");
	vt_status rc = VT_OK;
	if (!json_is_array(keys))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "keys", "the JWKS has no \"keys\" array");
	if (vt_jws_peek_header(head, &hdr, NULL) != VT_OK)
		return tampered(res, -1, 0, err, "the %s is not a compact JWS", what);
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	const char *typ = json_string_value(json_object_get(hdr, "typ"));
	if (kid_out != NULL)
		snprintf(kid_out, 96, "%s", kid ? kid : "");
	if (kid == NULL || typ == NULL || strcmp(typ, typ_want) != 0) {
		rc = tampered(res, -1, 0, err, "the %s is not a release log %s (typ %s, kid %s)", what, what,
			      typ ? typ : "absent", kid ? "present" : "absent");
		goto out;
	}
	bool known = false;
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) {
		const char *kk = json_string_value(json_object_get(k, "kid"));
		if (kk == NULL || strcmp(kk, kid) != 0)
			continue;
		known = true;
		EVP_PKEY *key = NULL;
		uint8_t *payload = NULL;
		size_t n = 0;
		if (vt_jwk_to_key(k, false, &key, NULL) == VT_OK &&
		    vt_jws_verify(head, key, algs, NULL, &payload, &n, NULL) == VT_OK) {
			EVP_PKEY_free(key);
			rc = vt_json_parse((const char *)payload, n, 1u << 12, out, NULL);
			free(payload);
			json_t *sq = json_object_get(*out, "seq"), *tm = json_object_get(*out, "time");
			if (rc != VT_OK || !json_is_object(*out))
				rc = tampered(res, -1, 0, err, "the signed %s's payload is not a JSON object", what);
			else if (!json_is_integer(sq) || json_integer_value(sq) < 1 || !json_is_integer(tm) ||
				 !is_hash_hex(json_string_value(json_object_get(*out, "hash"))))
				rc = tampered(res, -1, 0, err, "the signed %s lacks seq, time or hash", what);
			goto out;
		}
		EVP_PKEY_free(key);
	}
	rc = known ? tampered(res, -1, 0, err, "the %s's signature does not verify with the published key %.64s", what,
			      kid)
		   : tampered(res, -1, 0, err, "the %s is signed by key %.64s, which the JWKS does not hold", what, kid);
out:
	json_decref(hdr);
	return rc;
}

/* Entry i: shape, seq, content hash, link to the previous entry. */
static vt_status verify_entry(const json_t *entry, long i, int64_t expect_seq, const char *prev_hash,
			      struct vt_audit_result *res, struct vt_err *err)
{
	if (!json_is_object(entry))
		return tampered(res, i, expect_seq, err, "entry %ld is not a JSON object", i);
	json_t *seqv = json_object_get(entry, "seq");
	const char *hash = json_string_value(json_object_get(entry, "hash"));
	const char *prev = json_string_value(json_object_get(entry, "prev"));
	if (!json_is_integer(seqv))
		return tampered(res, i, expect_seq, err, "entry %ld has no integer \"seq\"", i);
	int64_t seq = json_integer_value(seqv);
	if (seq > expect_seq)
		return tampered(res, i, expect_seq, err,
				"seq %lld is missing: entry %ld has seq %lld (entries deleted, or reordered)",
				(long long)expect_seq, i, (long long)seq);
	if (seq < expect_seq)
		return tampered(res, i, seq, err, "entry %ld has seq %lld where %lld belongs (reordered or duplicated)", i,
				(long long)seq, (long long)expect_seq);
	if (!is_hash_hex(hash) || !is_hash_hex(prev))
		return tampered(res, i, seq, err, "entry seq %lld: \"hash\" or \"prev\" is not 64 lowercase hex digits",
				(long long)seq);
	json_t *body = json_deep_copy(entry);
	char *text = NULL, calc[65];
	bool ok = body && json_object_del(body, "hash") == 0 && (text = vt_json_canonical(body)) != NULL &&
		  vt_sha256_hex(text, strlen(text), calc, NULL) == VT_OK;
	free(text);
	json_decref(body);
	if (!ok)
		return tampered(res, i, seq, err, "entry seq %lld cannot be put in canonical JSON (a real number?)",
				(long long)seq);
	if (strcmp(calc, hash) != 0)
		return tampered(res, i, seq, err, "entry seq %lld was modified: its contents do not hash to its \"hash\"",
				(long long)seq);
	if (prev_hash != NULL && strcmp(prev, prev_hash) != 0)
		return tampered(res, i, seq, err,
				seq == 1 ? "entry seq 1 does not start the chain (its prev is not the genesis hash)"
					 : "entry seq %lld does not chain to entry seq %lld: its \"prev\" is another hash "
					   "(seq %lld was rewritten, or entries were removed or inserted between them)",
				(long long)seq, (long long)seq - 1, (long long)seq - 1);
	return VT_OK;
}

vt_status vt_audit_verify(const json_t *log, const json_t *jwks, struct vt_audit_result *res, struct vt_err *err)
{
	memset(res, 0, sizeof(*res));
	res->bad_index = -1;
	json_t *entries = json_object_get(log, "entries"), *head = json_object_get(log, "head");
	json_t *sincev = json_object_get(log, "since"), *hp = NULL, *cp = NULL;
	json_t *ckpt = json_object_get(log, "checkpoint");
	vt_status rc = VT_OK;
	if (!json_is_object(log) || !json_is_array(entries))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "entries", "not a release log: no \"entries\" array");
	if (head != NULL && !json_is_null(head) && !json_is_string(head))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "head", "\"head\" must be a compact JWS or null");
	if (ckpt != NULL && !json_is_null(ckpt) && !json_is_string(ckpt))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "checkpoint", "\"checkpoint\" must be a compact JWS or null");
	if (sincev != NULL && (!json_is_integer(sincev) || json_integer_value(sincev) < 0))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "since", "\"since\" must be a non-negative integer");
	if (!json_is_object(jwks))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "jwks", "the JWKS is not a JSON object");
	int64_t since = sincev ? json_integer_value(sincev) : 0;
	size_t n = json_array_size(entries);
	res->entries = n;
	res->prev_unchecked = since > 0 && n > 0;
	if (!json_is_string(head)) {
		if (n == 0 && since == 0)
			return VT_OK; /* nothing logged, nothing proven */
		return tampered(res, -1, 0, err, "the log has no signed head");
	}
	VT_GUARD(verify_link(json_string_value(head), VT_AUDIT_HEAD_TYP, "head", jwks, res->head_kid, res, &hp, err));
	const char *hh = json_string_value(json_object_get(hp, "hash"));
	res->head_seq = json_integer_value(json_object_get(hp, "seq"));
	res->head_time = json_integer_value(json_object_get(hp, "time"));
	const char *prev = since == 0 ? genesis : NULL;
	/* A log that starts where the broker pruned it: the checkpoint signs the
	 * hash the first entry kept must link to. */
	if (ckpt != NULL && json_is_string(ckpt)) {
		VT_GUARD(verify_link(json_string_value(ckpt), VT_AUDIT_CHECKPOINT_TYP, "checkpoint", jwks, NULL, res, &cp,
				     err));
		int64_t cseq = json_integer_value(json_object_get(cp, "seq"));
		if (cseq > since) {
			rc = tampered(res, -1, 0, err,
				      "the log starts after seq %lld, but the checkpoint says seq %lld was pruned: entries "
				      "of the log were deleted after its export, or the checkpoint is another log's",
				      (long long)since, (long long)cseq);
			goto out;
		}
		/* An export carries the checkpoint only when it starts at it. */
		if (cseq < since) {
			rc = tampered(res, -1, 0, err,
				      "the log starts after seq %lld, but its checkpoint signs seq %lld: the database's record "
				      "of the prune does not match the signed one",
				      (long long)since, (long long)cseq);
			goto out;
		}
		prev = json_string_value(json_object_get(cp, "hash"));
		res->checkpoint_seq = cseq;
		res->checkpoint_time = json_integer_value(json_object_get(cp, "time"));
		res->prev_unchecked = false;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(entries, i);
		int64_t expect = since + 1 + (int64_t)i;
		if (expect > res->head_seq) {
			rc = tampered(res, (long)i, expect,
				      err, "entry %zu (seq %lld) comes after the signed head (seq %lld): no signature covers it",
				      i, (long long)expect, (long long)res->head_seq);
			goto out;
		}
		VT_GUARD(verify_entry(e, (long)i, expect, prev, res, err));
		prev = json_string_value(json_object_get(e, "hash"));
		if (i == 0)
			res->first_seq = expect;
		res->last_seq = expect;
	}
	int64_t last = since + (int64_t)n;
	if (last < res->head_seq) {
		rc = tampered(res, (long)n, last + 1, err,
			      "the log ends at seq %lld but the signed head is at seq %lld: seq %lld..%lld are missing "
			      "(truncated)",
			      (long long)last, (long long)res->head_seq, (long long)last + 1, (long long)res->head_seq);
		goto out;
	}
	if (n > 0 && strcmp(prev, hh) != 0) {
		rc = tampered(res, (long)n - 1, last, err,
			      "the last entry (seq %lld) is not the one the head signs: it was rewritten", (long long)last);
		goto out;
	}
	/* A log with no entry after a checkpoint: the head must be that link. */
	if (n == 0 && prev != NULL && since > 0 && strcmp(prev, hh) != 0) {
		rc = tampered(res, -1, 0, err, "the head (seq %lld) does not sign the checkpoint's entry",
			      (long long)res->head_seq);
		goto out;
	}
out:
	json_decref(hp);
	json_decref(cp);
	return rc;
}
