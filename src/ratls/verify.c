/*
 * Verification of an RA-TLS certificate, one named step after the other
 * (veritee/ratls.h): parse, self_signature, validity, key_binding,
 * freshness, evidence, policy.  Every step writes "ok" or its reason into
 * the report, so `veritee verify ratls --json` and a refused handshake say
 * exactly where a certificate failed.
 *
 * Report data, public keys and nonces are public values: memcmp is fine.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/cache.h"
#include "ratls/ratls_internal.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define EVIDENCE_JSON_MAX ((size_t)1 << 20)

/*
 * A verifier remembers the certificates whose evidence it verified, for at
 * most RESULT_TTL seconds from that verification (and never past the
 * certificate's notAfter): a server presents the same certificate to every
 * client, and its evidence is then checked once a minute, not at every
 * handshake.  The key is the SHA-256 of the certificate's DER (and whether
 * legacy formats were allowed); the nonce and the policy are checked at
 * every use.  Only successes are remembered.
 */
#define RESULT_TTL 60

struct result {
	atomic_int refs;
	json_t *report; /* immutable: the report up to and with the claims */
};

static void result_ref(void *o)
{
	atomic_fetch_add(&((struct result *)o)->refs, 1);
}

static void result_release(void *o)
{
	struct result *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	json_decref(e->report);
	free(e);
}

static const struct vt_cache_class result_class = {
	.name = "ratls.result", .capacity = 256, .ref = result_ref, .release = result_release};

struct run {
	const struct vt_ratls_verify_opts *o;
	X509 *cert;
	json_t *rep;
	int64_t at;
	struct vt_ratls_evidence ev;
	uint8_t *spki;
	size_t spki_size;
	uint8_t rd[32];	 /* the report data the evidence must carry (zero-padded by the TEE verifier) */
	bool rd_checked; /* compared already (DCAP quotes); else by the TEE's verifier */
	json_t *claims;
	struct vt_cache *cache; /* the verifier's result cache, or NULL */
	uint8_t cache_key[32];
};

static vt_status nomem(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static void set_hex(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	set_str(o, k, h);
	free(h);
}

/* Record the failing step: its member gets the reason, "failed_step" its name. */
static vt_status failed(struct run *r, const char *step, vt_status rc, struct vt_err *err)
{
	char why[700];
	if (err != NULL && err->detail[0] != '\0')
		snprintf(why, sizeof(why), "%s%s%s", err->field[0] ? err->field : "", err->field[0] ? ": " : "",
			 err->detail);
	else
		snprintf(why, sizeof(why), "%s", vt_status_name(rc));
	set_str(r->rep, "failed_step", step);
	set_str(r->rep, "error", why);
	if (strcmp(step, "policy") != 0)
		set_str(r->rep, step, why);
	return rc;
}

/* ----------------------------------------------------------------- steps */

static const char *key_kind(EVP_PKEY *k, char *buf, size_t n)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_EC: snprintf(buf, n, "EC P-%d", EVP_PKEY_get_bits(k)); break;
	case EVP_PKEY_RSA: snprintf(buf, n, "RSA %d", EVP_PKEY_get_bits(k)); break;
	case EVP_PKEY_ED25519: snprintf(buf, n, "Ed25519"); break;
	case EVP_PKEY_ED448: snprintf(buf, n, "Ed448"); break;
	default: snprintf(buf, n, "other (%d bits)", EVP_PKEY_get_bits(k)); break;
	}
	return buf;
}

static void describe_cert(struct run *r)
{
	json_t *c = json_object();
	char buf[256], t[40];
	X509_NAME_oneline(X509_get_subject_name(r->cert), buf, (int)sizeof(buf));
	set_str(c, "subject", buf);
	int64_t nb = 0, na = 0;
	if (vt_x509_window(r->cert, &nb, &na)) {
		vt_time_format_rfc3339(nb, t, sizeof(t));
		set_str(c, "not_before", t);
		vt_time_format_rfc3339(na, t, sizeof(t));
		set_str(c, "not_after", t);
	}
	EVP_PKEY *k = X509_get0_pubkey(r->cert);
	if (k != NULL)
		set_str(c, "key", key_kind(k, buf, sizeof(buf)));
	uint8_t fp[32];
	if (vt_x509_fingerprint_sha256(r->cert, fp, NULL) == VT_OK)
		set_hex(c, "sha256", fp, sizeof(fp));
	if (r->spki != NULL && vt_sha256(r->spki, r->spki_size, fp, NULL) == VT_OK)
		set_hex(c, "spki_sha256", fp, sizeof(fp));
	json_object_set_new(r->rep, "certificate", c);
}

static void describe_evidence(struct run *r)
{
	const struct vt_ratls_evidence *e = &r->ev;
	set_str(r->rep, "format", vt_ratls_format_name(e->format));
	set_str(r->rep, "extension_oid", e->oid);
	json_object_set_new(r->rep, "extension_critical", json_boolean(e->critical));
	if (e->cbor_tag)
		json_object_set_new(r->rep, "cbor_tag", json_integer((json_int_t)e->cbor_tag));
	set_str(r->rep, "tee", e->tee);
	if (e->pubkey_hash_size > 0) {
		json_t *ph = json_object();
		set_str(ph, "alg", vtx_ratls_hash_name(e->pubkey_hash_alg));
		set_hex(ph, "value", e->pubkey_hash, e->pubkey_hash_size);
		json_object_set_new(r->rep, "pubkey_hash", ph);
	}
	if (e->nonce != NULL)
		set_hex(r->rep, "nonce", e->nonce, e->nonce_size);
	else
		json_object_set_new(r->rep, "nonce", json_null());
	if (e->others[0] != '\0')
		set_str(r->rep, "other_extensions", e->others);
}

static vt_status step_self_signature(struct run *r, struct vt_err *err)
{
	EVP_PKEY *k = X509_get0_pubkey(r->cert);
	if (k == NULL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "certificate", "unusable public key");
	if (X509_verify(r->cert, k) != 1)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "certificate",
			       "not signed by its own key (CA-signed RA-TLS certificates are not supported)");
	return VT_OK;
}

static vt_status step_validity(struct run *r, struct vt_err *err)
{
	int64_t nb = 0, na = 0;
	char a[40], b[40], t[40];
	if (!vt_x509_window(r->cert, &nb, &na))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "certificate.validity", "unreadable validity dates");
	vt_time_format_rfc3339(r->at, t, sizeof(t));
	if (r->at < nb) {
		vt_time_format_rfc3339(nb, a, sizeof(a));
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate.validity",
			       "not yet valid at %s (notBefore %s)", t, a);
	}
	if (r->at > na) {
		vt_time_format_rfc3339(na, b, sizeof(b));
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate.validity", "expired at %s (notAfter %s)",
			       t, b);
	}
	return VT_OK;
}

/* The 64 report data bytes of a DCAP quote. */
static vt_status quote_report_data(const struct vt_ratls_evidence *e, uint8_t rd[64], struct vt_err *err)
{
	struct vt_dcap_quote q;
	vt_status rc = vt_dcap_quote_parse(e->evidence, e->evidence_size, &q, err);
	if (rc != VT_OK)
		return rc;
	memcpy(rd, q.tee_type == VT_DCAP_TEE_TDX ? q.tdx.report_data : q.sgx.report_data, 64);
	return VT_OK;
}

/* report data = want (32 bytes) || 32 zero bytes */
static bool rd_matches(const uint8_t rd[64], const uint8_t want[32])
{
	static const uint8_t zero[32];
	return memcmp(rd, want, 32) == 0 && memcmp(rd + 32, zero, 32) == 0;
}

static vt_status step_key_binding(struct run *r, struct vt_err *err)
{
	const struct vt_ratls_evidence *e = &r->ev;
	uint8_t qrd[64];
	char *a = NULL, *b = NULL;
	vt_status rc = VT_OK;
	if (e->format == VT_RATLS_FORMAT_SGXSDK_LEGACY)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "extensions",
			       "only the SGX SDK legacy extension (" VT_RATLS_OID_SGXSDK_QUOTE
			       "): its quote binds a TCG claims-buffer, not the certificate key");
	if (e->format == VT_RATLS_FORMAT_LEGACY_QUOTE) {
		if (!r->o->allow_legacy)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "extensions",
				       "a legacy quote extension and legacy formats are not allowed");
		/* Gramine: SHA-256(SPKI DER); rats-tls / Enclave-TLS: SHA-256(subjectPublicKey
		 * bits: the EC point or the PKCS#1 RSAPublicKey).  Both hash this key. */
		const unsigned char *pk = NULL;
		int pk_len = 0;
		uint8_t h_spki[32], h_pk[32];
		if (X509_PUBKEY_get0_param(NULL, &pk, &pk_len, NULL, X509_get_X509_PUBKEY(r->cert)) != 1 || pk_len <= 0)
			return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "spki", "cannot read the subjectPublicKey");
		VT_GUARD(vt_sha256(r->spki, r->spki_size, h_spki, err));
		VT_GUARD(vt_sha256(pk, (size_t)pk_len, h_pk, err));
		VT_GUARD(quote_report_data(e, qrd, err));
		if (rd_matches(qrd, h_spki)) {
			memcpy(r->rd, h_spki, 32);
			set_str(r->rep, "key_binding_rule",
				"report_data = sha-256(SubjectPublicKeyInfo DER) (Gramine)");
		} else if (rd_matches(qrd, h_pk)) {
			memcpy(r->rd, h_pk, 32);
			set_str(r->rep, "key_binding_rule",
				"report_data = sha-256(subjectPublicKey: EC point or PKCS#1 RSAPublicKey) (rats-tls)");
		} else {
			a = vt_hex_encode(qrd, 64);
			b = vt_hex_encode(h_spki, 32);
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "quote.report_data",
				     "report data %s is neither sha-256 of the SubjectPublicKeyInfo (%s) nor of the "
				     "subjectPublicKey",
				     a ? a : "?", b ? b : "?");
			goto out;
		}
		r->rd_checked = true;
		goto out;
	}
	/* TCG DICE and CMW: pubkey-hash = H(SPKI), report data = SHA-256(claims-buffer) */
	size_t hs = 0;
	const EVP_MD *md = vtx_ratls_hash_md(e->pubkey_hash_alg, &hs);
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t hl = 0;
	if (md == NULL)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_BINDING, "claims.pubkey-hash", "no hash algorithm");
	VT_GUARD(vt_digest(md, r->spki, r->spki_size, h, &hl, err));
	if (hl != e->pubkey_hash_size || memcmp(h, e->pubkey_hash, hl) != 0) {
		a = vt_hex_encode(e->pubkey_hash, e->pubkey_hash_size);
		b = vt_hex_encode(h, hl);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "claims.pubkey-hash",
			     "pubkey-hash %s (%s) is not the hash of this certificate's SubjectPublicKeyInfo (%s)",
			     a ? a : "?", vtx_ratls_hash_name(e->pubkey_hash_alg), b ? b : "?");
		goto out;
	}
	VT_GUARD(vt_sha256(e->claims_buffer, e->claims_buffer_size, r->rd, err));
	if (e->format == VT_RATLS_FORMAT_TCG_DICE) {
		VT_GUARD(quote_report_data(e, qrd, err));
		if (!rd_matches(qrd, r->rd)) {
			a = vt_hex_encode(qrd, 64);
			b = vt_hex_encode(r->rd, 32);
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "quote.report_data",
				     "report data %s is not sha-256(claims-buffer) %s followed by zeros", a ? a : "?",
				     b ? b : "?");
			goto out;
		}
		r->rd_checked = true;
	}
	set_str(r->rep, "key_binding_rule",
		"pubkey-hash = hash(SubjectPublicKeyInfo DER); report_data = sha-256(claims-buffer)");
out:
	free(a);
	free(b);
	return rc;
}

/* The nonce claim against o->nonce, from the report: describe_evidence wrote
 * it there, and a remembered certificate's report holds it too. */
static vt_status step_freshness(struct run *r, struct vt_err *err)
{
	if (r->o->nonce == NULL)
		return VT_OK;
	const char *h = json_string_value(json_object_get(r->rep, "nonce"));
	if (h == NULL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "claims.nonce",
			       "no nonce claim: the peer did not make this certificate for our nonce");
	char *want = vt_hex_encode(r->o->nonce, r->o->nonce_size);
	bool same = want != NULL && strcmp(h, want) == 0;
	free(want);
	if (!same)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "claims.nonce",
			       "the nonce claim is not the nonce we sent (a replayed certificate?)");
	return VT_OK;
}

/* The evidence JSON the TEE's verifier takes. */
static vt_status evidence_json(const struct vt_ratls_evidence *e, json_t **out, struct vt_err *err)
{
	if (e->format == VT_RATLS_FORMAT_CMW)
		return vt_json_parse((const char *)e->evidence, e->evidence_size, EVIDENCE_JSON_MAX, out, err);
	char *b64 = vt_b64_encode(e->evidence, e->evidence_size);
	*out = b64 ? json_pack("{s:s}", "quote", b64) : NULL;
	free(b64);
	return *out ? VT_OK : nomem(err);
}

/* *binding_failed: the TEE's verifier refused the report data (reported as key_binding). */
static vt_status step_evidence(struct run *r, bool *binding_failed, struct vt_err *err)
{
	*binding_failed = false;
	const struct vt_tee *tee = vt_tee_find(r->ev.tee);
	if (tee == NULL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_PARSE, "tee", "unknown TEE \"%s\"", r->ev.tee);
	if (!vt_verifier_accepts(r->o->verifier, tee))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CONFIG, "tee",
			       "this verifier does not accept %s evidence (no trust anchor or collateral configured)",
			       tee->name);
	json_t *evj = NULL;
	vt_status rc = evidence_json(&r->ev, &evj, err);
	if (rc != VT_OK)
		return rc;
	struct vt_binding bind = {.report_data = r->rd, .report_data_size = sizeof(r->rd)};
	struct vt_err e = {0};
	rc = vt_verifier_verify(r->o->verifier, tee, evj, &bind, r->at, NULL, &r->claims, &e);
	json_decref(evj);
	if (rc != VT_OK) {
		/* the fields where TEE verifiers compare the caller's report data */
		static const char *const bound[] = {"report_data",
						    "report.report_data",
						    "extra_data",
						    "attestation.quotes.extra_data",
						    "payload.nonce",
						    "realm.challenge",
						    "user_data",
						    "hcl.runtime.user-data",
						    "report.request.nonce",
						    NULL};
		for (size_t i = 0; bound[i] && e.step == VT_STEP_BINDING && !*binding_failed; i++)
			*binding_failed = strcmp(e.field, bound[i]) == 0;
		if (err != NULL)
			*err = e;
		return rc;
	}
	return VT_OK;
}

static vt_status step_policy(struct run *r, struct vt_err *err)
{
	if (r->o->policy == NULL) {
		json_object_set_new(r->rep, "policy", json_null());
		return VT_OK;
	}
	vt_status rc;
	struct vt_appraisal ap = {0};
	json_t *ratls = json_object(), *input = json_object();
	if (ratls == NULL || input == NULL) {
		rc = nomem(err);
		goto out;
	}
	/* from the report: the same whether the evidence was verified now or remembered */
	static const char *const copy[] = {"format", "tee", "nonce", NULL};
	for (size_t i = 0; copy[i]; i++)
		json_object_set(ratls, copy[i], json_object_get(r->rep, copy[i]));
	json_object_set(ratls, "pubkey_hash_alg", json_object_get(json_object_get(r->rep, "pubkey_hash"), "alg"));
	int64_t nb = 0, na = 0;
	if (vt_x509_window(r->cert, &nb, &na))
		json_object_set_new(ratls, "lifetime_seconds", json_integer((json_int_t)(na - nb)));
	json_object_set(input, r->ev.tee, r->claims);
	json_object_set(input, "ratls", ratls);
	VT_GUARD(vt_policy_evaluate(r->o->policy, input, NULL, r->o->refvals, r->o->refctx, &ap, err));
	bool allowed = vt_appraisal_allows(&ap);
	char *explain = vt_appraisal_explain(&ap);
	json_t *pj = json_pack("{s:s, s:b, s:s, s:o}", "id", vt_policy_id(r->o->policy), "allowed", allowed, "status",
			       vt_appraisal_status(&ap), "rules", vt_appraisal_rules_json(&ap));
	if (pj != NULL && explain != NULL && explain[0] != '\0')
		set_str(pj, "explain", explain);
	json_object_set_new(r->rep, "policy", pj ? pj : json_null());
	if (!allowed)
		rc = vt_fail(err, VT_E_POLICY, VT_STEP_POLICY, "policy", "policy \"%s\" denies: %.400s",
			     vt_policy_id(r->o->policy), explain && explain[0] ? explain : "no rule applies");
	free(explain);
out:
	vt_appraisal_free(&ap);
	json_decref(ratls);
	json_decref(input);
	return rc;
}

/* ------------------------------------------------------------------ entry */

static vt_status verify_cert(const struct vt_ratls_verify_opts *o, X509 *cert, json_t **report_out, struct vt_err *err);

vt_status vt_ratls_verify_cert(const struct vt_ratls_verify_opts *o, X509 *cert, json_t **report_out,
			       struct vt_err *err)
{
	struct vt_err local = {0}; /* the report names the reason even when the caller wants no record */
	vt_status rc = verify_cert(o, cert, report_out, &local);
	if (err != NULL && rc != VT_OK)
		*err = local;
	return rc;
}

static vt_status verify_cert(const struct vt_ratls_verify_opts *o, X509 *cert, json_t **report_out, struct vt_err *err)
{
	if (report_out)
		*report_out = NULL;
	if (o == NULL || o->verifier == NULL || cert == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument (options, verifier, certificate)");
	struct run r = {.o = o, .cert = cert, .at = o->at ? o->at : vt_now()};
	vt_status rc = VT_OK;
	r.rep = json_object();
	if (r.rep == NULL)
		return nomem(err);
	json_object_set_new(r.rep, "verified", json_false());
	char t[40];
	vt_time_format_rfc3339(r.at, t, sizeof(t));
	set_str(r.rep, "at", t);
	if (vt_ratls_spki_der(cert, &r.spki, &r.spki_size, err) != VT_OK) {
		rc = failed(&r, "parse", VT_E_PARSE, err);
		goto out;
	}
	describe_cert(&r);

	/* a certificate verified a moment ago: only the nonce and the policy again */
	r.cache = o->no_result_cache ? NULL : vt_cache_of(vt_verifier_caches(o->verifier), &result_class);
	const char *fp = json_string_value(json_object_get(json_object_get(r.rep, "certificate"), "sha256"));
	uint8_t legacy = o->allow_legacy ? 1 : 0;
	const void *parts[2] = {fp ? fp : "", &legacy};
	size_t sizes[2] = {fp ? strlen(fp) : 0, 1};
	void *hit = NULL;
	if (r.cache != NULL && fp != NULL &&
	    vt_cache_key(r.cache_key, "ratls.result", 2, parts, sizes, NULL) == VT_OK &&
	    vt_cache_get(r.cache, r.cache_key, r.at, &hit)) {
		struct result *res = hit;
		json_t *copy = json_deep_copy(res->report);
		result_release(res);
		if (copy == NULL) {
			rc = nomem(err);
			goto out;
		}
		json_decref(r.rep);
		r.rep = copy;
		set_str(r.rep, "at", t);
		r.claims = json_incref(json_object_get(r.rep, "claims"));
		r.ev.format = VT_RATLS_FORMAT_NONE;
		snprintf(r.ev.tee, sizeof(r.ev.tee), "%s", json_string_value(json_object_get(r.rep, "tee")));
		goto remembered;
	}

	if ((rc = vt_ratls_evidence_from_cert(cert, &r.ev, err)) != VT_OK) {
		failed(&r, "parse", rc, err);
		goto out;
	}
	describe_evidence(&r);
	if ((rc = step_self_signature(&r, err)) != VT_OK) {
		failed(&r, "self_signature", rc, err);
		goto out;
	}
	set_str(r.rep, "self_signature", "ok");
	if ((rc = step_validity(&r, err)) != VT_OK) {
		failed(&r, "validity", rc, err);
		goto out;
	}
	set_str(r.rep, "validity", "ok");
	if ((rc = step_key_binding(&r, err)) != VT_OK) {
		failed(&r, "key_binding", rc, err);
		goto out;
	}
	/* CMW: the TEE's verifier compares the report data (below) */
	set_str(r.rep, "key_binding", r.rd_checked ? "ok" : "pending: checked with the evidence");
	if ((rc = step_freshness(&r, err)) != VT_OK) {
		failed(&r, "freshness", rc, err);
		goto out;
	}
	set_str(r.rep, "freshness", o->nonce ? "ok" : "not requested (certificate lifetime only)");
	bool binding_failed = false;
	if ((rc = step_evidence(&r, &binding_failed, err)) != VT_OK) {
		failed(&r, binding_failed ? "key_binding" : "evidence", rc, err);
		goto out;
	}
	set_str(r.rep, "key_binding", "ok");
	set_str(r.rep, "evidence", "ok");
	const char *tcb = json_string_value(json_object_get(r.claims, "tcb_status"));
	if (tcb != NULL)
		set_str(r.rep, "tcb_status", strcmp(tcb, "NotEvaluated") == 0 ? "not evaluated (no collateral)" : tcb);
	json_object_set(r.rep, "claims", r.claims);
	set_str(r.rep, "evidence_verified_at", t);
	int64_t nb = 0, na = 0;
	if (r.cache != NULL && vt_x509_window(cert, &nb, &na)) {
		struct result *res = calloc(1, sizeof(*res));
		if (res != NULL) {
			atomic_init(&res->refs, 1);
			res->report = json_deep_copy(r.rep);
			if (res->report != NULL)
				vt_cache_put(r.cache, r.cache_key, r.at,
					     na < r.at + RESULT_TTL ? na : r.at + RESULT_TTL, res);
			result_release(res);
		}
	}
remembered:
	if (r.ev.format == VT_RATLS_FORMAT_NONE) {
		if ((rc = step_freshness(&r, err)) != VT_OK) {
			failed(&r, "freshness", rc, err);
			goto out;
		}
		set_str(r.rep, "freshness", o->nonce ? "ok" : "not requested (certificate lifetime only)");
	}
	if ((rc = step_policy(&r, err)) != VT_OK) {
		failed(&r, "policy", rc, err);
		goto out;
	}
	json_object_set_new(r.rep, "verified", json_true());
out:
	if (report_out)
		*report_out = r.rep;
	else
		json_decref(r.rep);
	json_decref(r.claims);
	free(r.spki);
	vt_ratls_evidence_free(&r.ev);
	return rc;
}

/* DER first: an RA-TLS certificate's DER holds PEM text (the PCK chain in
 * a DCAP quote), so looking for a PEM marker first would find the PCK
 * certificate instead. */
vt_status vt_ratls_cert_parse(const uint8_t *bytes, size_t size, X509 **out, struct vt_err *err)
{
	*out = NULL;
	if (bytes == NULL || size == 0 || size > VT_RATLS_MAX_CERT)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "certificate", "certificate of %zu bytes (1..%zu)", size,
			       VT_RATLS_MAX_CERT);
	const unsigned char *q = bytes;
	X509 *x = d2i_X509(NULL, &q, (long)size);
	if (x != NULL && q != bytes + size) { /* trailing bytes after the DER */
		X509_free(x);
		x = NULL;
	}
	if (x == NULL && bytes[0] != 0x30) {
		BIO *bio = BIO_new_mem_buf(bytes, (int)size);
		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	}
	ERR_clear_error();
	if (x == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "certificate", "not a DER or PEM X.509 certificate");
	*out = x;
	return VT_OK;
}

vt_status vt_ratls_verify_bytes(const struct vt_ratls_verify_opts *o, const uint8_t *bytes, size_t size,
				json_t **report_out, struct vt_err *err)
{
	if (report_out)
		*report_out = NULL;
	X509 *cert = NULL;
	vt_status rc = vt_ratls_cert_parse(bytes, size, &cert, err);
	if (rc != VT_OK) {
		if (report_out) {
			*report_out = json_pack("{s:b, s:s, s:s}", "verified", 0, "failed_step", "parse", "error",
						err ? err->detail : "not a certificate");
			if (*report_out)
				set_str(*report_out, "parse", err ? err->detail : "not a certificate");
		}
		return rc;
	}
	rc = vt_ratls_verify_cert(o, cert, report_out, err);
	X509_free(cert);
	return rc;
}

const char *vt_ratls_report_step(const json_t *report)
{
	const char *s = json_string_value(json_object_get(report, "failed_step"));
	return s ? s : "";
}
