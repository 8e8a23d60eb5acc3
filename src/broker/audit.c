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

/* The next entry on top of `prev`, and the head that signs it. */
static vt_status make_entry(void *ctx, const struct vt_audit_link *prev, char **entry, char hash[65], char **head,
			    struct vt_err *err)
{
	struct append_ctx *a = ctx;
	json_t *payload = NULL, *header = NULL;
	char *text = NULL, *ptext = NULL;
	vt_status rc = VT_OK;
	if (json_object_set_new(a->entry, "seq", json_integer(prev->seq + 1)) != 0 ||
	    json_object_set_new(a->entry, "prev", json_string(prev->hash)) != 0 ||
	    (text = vt_json_canonical(a->entry)) == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "audit", "cannot serialize the release log entry");
		goto out;
	}
	VT_GUARD(vt_sha256_hex(text, strlen(text), hash, err));
	payload = json_pack("{s:s, s:I, s:I}", "hash", hash, "seq", (json_int_t)(prev->seq + 1), "time",
			    (json_int_t)a->now);
	header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", VT_AUDIT_HEAD_TYP, "kid", a->b->token_kid);
	ptext = payload ? vt_json_canonical(payload) : NULL;
	if (header == NULL || ptext == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_STORAGE, "audit", "cannot build the release log head");
		goto out;
	}
	VT_GUARD(vt_jws_sign(a->b->token_key, header, (const uint8_t *)ptext, strlen(ptext), head, err));
	*entry = text;
	text = NULL;
out:
	free(text);
	free(ptext);
	json_decref(payload);
	json_decref(header);
	return rc;
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
	int64_t since = 0, limit = VT_AUDIT_PAGE_MAX, head_seq = 0;
	json_t *rows = NULL, *entries = NULL;
	char *head = NULL;
	if (!vt_broker_query_int(req->query, "since", &since) || !vt_broker_query_int(req->query, "limit", &limit) ||
	    limit < 1 || limit > VT_AUDIT_PAGE_MAX) {
		vt_resp_error(r, "SerdeError", "Bad query: since=N (entries after seq N, N >= 0) and limit=1..500");
		return;
	}
	if (vt_store_audit_read(b->store, since, (size_t)limit, &rows, &head, &head_seq, &e) != VT_OK) {
		vt_broker_log_err(b, "audit export", &e);
		vt_resp_err(r, "PluginInternalError", "Release log error", &e);
		return;
	}
	entries = json_array();
	size_t i;
	json_t *row;
	int64_t last = since;
	json_array_foreach(rows, i, row) {
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
	json_t *body = entries ? json_pack("{s:O, s:o, s:b}", "entries", entries, "head",
					   head ? json_string(head) : json_null(), "more", last < head_seq)
			       : NULL;
	if (body == NULL)
		vt_resp_error(r, "PluginInternalError", "Release log error: out of memory");
	else
		vt_resp_json(r, 200, body);
out:
	json_decref(entries);
	json_decref(rows);
	free(head);
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

/* Verify the head with the JWKS key of its "kid"; its payload in *out. */
static vt_status verify_head(const char *head, const json_t *jwks, struct vt_audit_result *res, json_t **out,
			     struct vt_err *err)
{
	static const char *const algs[] = {"ES256", NULL};
	json_t *hdr = NULL, *keys = json_object_get(jwks, "keys");
	vt_status rc = VT_OK;
	if (!json_is_array(keys))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "keys", "the JWKS has no \"keys\" array");
	if (vt_jws_peek_header(head, &hdr, NULL) != VT_OK)
		return tampered(res, -1, 0, err, "the head is not a compact JWS");
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	const char *typ = json_string_value(json_object_get(hdr, "typ"));
	snprintf(res->head_kid, sizeof(res->head_kid), "%s", kid ? kid : "");
	if (kid == NULL || typ == NULL || strcmp(typ, VT_AUDIT_HEAD_TYP) != 0) {
		rc = tampered(res, -1, 0, err, "the head is not a release log head (typ %s, kid %s)", typ ? typ : "absent",
			      kid ? "present" : "absent");
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
			if (rc != VT_OK || !json_is_object(*out))
				rc = tampered(res, -1, 0, err, "the signed head's payload is not a JSON object");
			goto out;
		}
		EVP_PKEY_free(key);
	}
	rc = known ? tampered(res, -1, 0, err, "the head's signature does not verify with the published key %.64s", kid)
		   : tampered(res, -1, 0, err, "the head is signed by key %.64s, which the JWKS does not hold", kid);
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
	json_t *sincev = json_object_get(log, "since"), *hp = NULL;
	vt_status rc = VT_OK;
	if (!json_is_object(log) || !json_is_array(entries))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "entries", "not a release log: no \"entries\" array");
	if (head != NULL && !json_is_null(head) && !json_is_string(head))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "head", "\"head\" must be a compact JWS or null");
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
	VT_GUARD(verify_head(json_string_value(head), jwks, res, &hp, err));
	json_t *hs = json_object_get(hp, "seq"), *ht = json_object_get(hp, "time");
	const char *hh = json_string_value(json_object_get(hp, "hash"));
	if (!json_is_integer(hs) || json_integer_value(hs) < 1 || !json_is_integer(ht) || !is_hash_hex(hh)) {
		rc = tampered(res, -1, 0, err, "the signed head lacks seq, time or hash");
		goto out;
	}
	res->head_seq = json_integer_value(hs);
	res->head_time = json_integer_value(ht);
	const char *prev = since == 0 ? genesis : NULL;
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
out:
	json_decref(hp);
	return rc;
}
