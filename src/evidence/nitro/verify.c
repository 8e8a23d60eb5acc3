/*
 * AWS Nitro Enclaves verifier (tee "nitro").  Format, trust and binding are
 * described in include/veritee/nitro.h; this folder holds:
 *   root.c    the AWS Nitro Enclaves Root-G1 PEM and its fingerprint pin
 *   parse.c   COSE_Sign1 profile and payload rules (no crypto)
 *   verify.c  signature, chain, binding, claims; evidence JSON; load_file
 *   build.c   a document builder/signer for tests, fuzzing and benchmarks
 *
 * Steps, in order: parse -> signature (COSE ES384 with the leaf key) ->
 * chain (cabundle[0] is the pinned root; leaf via cabundle[1..] to it with
 * X509_verify_cert at `now`) -> binding -> claims.  The signature is checked
 * before the chain because it is one ECDSA verification against four, so a
 * forged payload costs the least; both must pass, the order only decides
 * which step a forgery is reported at.  With a verifier, a chain verified
 * once is not verified again while all its certificates are valid, and the
 * claims about its certificates are built once (see check_chain and
 * cert_claims_cached): a warm document costs its one COSE signature.
 *
 * Binding choice.  Trustee and guest-components have no Nitro support
 * (checked at trustee 78962cd4, guest-components 8246e5e0: no verifier under
 * deps/verifier/src, no attester under attestation-agent/attester/src, no
 * "nitro"/"nsm" anywhere), so there is no KBS convention to follow.  The NSM
 * API describes `nonce` as the attestation consumer's challenge (docs/
 * attestation_process.md §2.2.2), which is what the KBS runtime-data digest
 * is, so our attester puts it there and the verifier looks there first.
 * dstack, the one public stack that binds Nitro documents to a protocol,
 * puts its 64-byte report_data in `user_data` (dstack docs/attestation-
 * nitro-enclave.md, "Request NSM attestation with user_data = report_data"),
 * so `user_data` is accepted too.  Either field may hold the digest itself
 * or the digest zero-padded to 64 bytes (the report-data shape of SNP/TDX
 * guests).  public_key is never used for the binding: the NSM API reserves
 * it for a key to encrypt to, and the KBS binds its key through the digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/nitro.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define EVIDENCE_KEY "attestation_document"
#define DOC_MAX_B64 (4 * ((VT_NITRO_MAX_DOC + 2) / 3))
#define REPORT_DATA_PADDED 64

/* ------------------------------------------------------------------ chain */

struct certs {
	X509 *leaf;
	X509 *bundle[VT_NITRO_MAX_CABUNDLE];
	size_t count;
};

static void certs_free(struct certs *c)
{
	X509_free(c->leaf);
	for (size_t i = 0; i < c->count; i++)
		X509_free(c->bundle[i]);
	memset(c, 0, sizeof(*c));
}

/* Strict DER for every certificate (a part of the parse step); parsed
 * certificates are remembered in `caches` (NULL = none): the cabundle
 * repeats from one document to the next. */
static vt_status parse_certs(struct vt_cache_set *caches, const struct vt_nitro_doc *d, struct certs *c,
			     struct vt_err *err)
{
	vt_status rc = vt_x509_from_der_cached(caches, d->certificate.data, d->certificate.len, "payload.certificate",
					       &c->leaf, err);
	for (size_t i = 0; rc == VT_OK && i < d->cabundle_count; i++) {
		char field[40];
		snprintf(field, sizeof(field), "payload.cabundle[%zu]", i);
		rc = vt_x509_from_der_cached(caches, d->cabundle[i].data, d->cabundle[i].len, field, &c->bundle[i], err);
		if (rc == VT_OK)
			c->count = i + 1;
	}
	if (rc != VT_OK)
		ERR_clear_error();
	return rc;
}

/* Which document field a certificate of the built chain came from. */
static void cert_field(const struct certs *c, X509 *x, char *out, size_t n)
{
	if (x == NULL || x == c->leaf || X509_cmp(x, c->leaf) == 0) {
		snprintf(out, n, "payload.certificate");
		return;
	}
	for (size_t i = 0; i < c->count; i++)
		if (X509_cmp(x, c->bundle[i]) == 0) {
			snprintf(out, n, "payload.cabundle[%zu]", i);
			return;
		}
	snprintf(out, n, "payload.cabundle");
}

/*
 * Verified chains, remembered in the verifier's caches: a document repeats
 * its cabundle and, for the life of its instance, its leaf, so a warm
 * document costs no certificate signature.  The key is the anchor's
 * fingerprint with the DER of the leaf and of every cabundle entry after
 * the root, in order (the inputs of X509_verify_cert); an entry holds the
 * window in which every one of those certificates is valid and counts only
 * when `now` lies in it.  Only successes are cached.
 */
static const struct vt_cache_class chain_class = {.name = "nitro.chain", .capacity = 64};

static vt_status chain_key(const struct vt_nitro_doc *d, const uint8_t root_fp[32], uint8_t key[32],
			   struct vt_err *err)
{
	const void *parts[1 + 1 + VT_NITRO_MAX_CABUNDLE];
	size_t sizes[1 + 1 + VT_NITRO_MAX_CABUNDLE], np = 0;
	parts[np] = root_fp;
	sizes[np++] = 32;
	parts[np] = d->certificate.data;
	sizes[np++] = d->certificate.len;
	for (size_t i = 1; i < d->cabundle_count; i++) {
		parts[np] = d->cabundle[i].data;
		sizes[np++] = d->cabundle[i].len;
	}
	return vt_cache_key(key, "nitro-chain", np, parts, sizes, err);
}

/* The window in which the leaf, the cabundle after the root and the root are all valid. */
static bool chain_window(const struct certs *c, X509 *root, int64_t *nb, int64_t *na)
{
	*nb = VT_CACHE_ALWAYS_FROM;
	*na = VT_CACHE_ALWAYS_TO;
	bool ok = vt_x509_window_narrow(c->leaf, nb, na) && vt_x509_window_narrow(root, nb, na);
	for (size_t i = 1; ok && i < c->count; i++)
		ok = vt_x509_window_narrow(c->bundle[i], nb, na);
	return ok;
}

static vt_status verify_cert_chain(const struct certs *c, X509 *root, int64_t now, struct vt_err *err)
{
	vt_status rc = VT_OK;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	if (store == NULL || ctx == NULL || untrusted == NULL || X509_STORE_add_cert(store, root) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "payload.cabundle", "X.509 store setup failed");
		goto out;
	}
	for (size_t i = 1; i < c->count; i++)
		if (!sk_X509_push(untrusted, c->bundle[i])) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "payload.cabundle", "out of memory");
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, store, c->leaf, untrusted) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "payload.cabundle", "X.509 context setup failed");
		goto out;
	}
	/* Only the anchor is trusted (no default paths; partial chains are not
	 * accepted).  Not X509_V_FLAG_X509_STRICT: AWS's leaf certificates carry
	 * no Authority Key Identifier, which strict mode requires. */
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		char field[40];
		cert_field(c, X509_STORE_CTX_get_current_cert(ctx), field, sizeof(field));
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field, "certificate chain: %s (depth %d)",
			     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
	}
out:
	ERR_clear_error();
	sk_X509_free(untrusted); /* the certificates stay owned by `c` */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* *keyed: `key` holds the chain's cache key (only with caches). */
static vt_status check_chain(struct vt_cache_set *caches, const struct vt_nitro_doc *d, const struct certs *c,
			     X509 *root, int64_t now, uint8_t key[32], bool *keyed, struct vt_err *err)
{
	vt_status rc;
	uint8_t want[32], got[32];
	*keyed = false;
	memset(key, 0, 32);

	/* cabundle[0] must be the anchor itself, byte for byte (its SHA-256 is
	 * the pin).  Fingerprints are public: memcmp is fine. */
	VT_GUARD(vt_x509_fingerprint_sha256(root, want, err));
	VT_GUARD(vt_sha256(d->cabundle[0].data, d->cabundle[0].len, got, err));
	if (memcmp(want, got, sizeof(want)) != 0) {
		char *hw = vt_hex_encode(want, sizeof(want)), *hg = vt_hex_encode(got, sizeof(got));
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "payload.cabundle[0]",
			     "cabundle[0] is not the pinned Nitro root: expected SHA-256 %s, seen %s", hw ? hw : "?",
			     hg ? hg : "?");
		free(hw);
		free(hg);
		goto out;
	}

	struct vt_cache *cache = vt_cache_of(caches, &chain_class);
	if (cache != NULL) {
		VT_GUARD(chain_key(d, want, key, err));
		*keyed = true;
	}
	if (!vt_cache_get(cache, key, now, NULL)) {
		VT_GUARD(verify_cert_chain(c, root, now, err));
		int64_t nb, na;
		/* an unreadable window: verified, just not cacheable */
		if (cache != NULL && chain_window(c, root, &nb, &na) && now >= nb && now <= na)
			vt_cache_put(cache, key, nb, na, NULL);
	}

	/* Only an end-entity signing key may speak for the enclave. */
	if (X509_check_ca(c->leaf) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "payload.certificate", "the signing certificate is a CA");
		goto out;
	}
	if ((X509_get_extension_flags(c->leaf) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(c->leaf) & KU_DIGITAL_SIGNATURE)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "payload.certificate",
			     "the signing certificate's key usage excludes digitalSignature");
		goto out;
	}
	rc = VT_OK;
out:
	ERR_clear_error();
	return rc;
}

/* ---------------------------------------------------------------- binding */

static bool field_binds(const struct vt_nitro_bytes *f, const uint8_t *want, size_t want_len)
{
	if (!f->present)
		return false;
	/* Report data is public: memcmp is fine. */
	if (f->len == want_len)
		return want_len == 0 || memcmp(f->data, want, want_len) == 0;
	if (f->len != REPORT_DATA_PADDED || want_len > REPORT_DATA_PADDED || memcmp(f->data, want, want_len) != 0)
		return false;
	for (size_t i = want_len; i < REPORT_DATA_PADDED; i++)
		if (f->data[i] != 0)
			return false;
	return true;
}

static vt_status check_binding(const struct vt_nitro_doc *d, const struct vt_binding *b, struct vt_err *err)
{
	if (b == NULL || b->report_data == NULL)
		return VT_OK;
	if (b->report_data_size == 0 || b->report_data_size > VT_NITRO_MAX_USER_DATA)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "payload.nonce",
			       "expected report data is %zu bytes, 1..%d accepted", b->report_data_size,
			       VT_NITRO_MAX_USER_DATA);
	if (field_binds(&d->nonce, b->report_data, b->report_data_size) ||
	    field_binds(&d->user_data, b->report_data, b->report_data_size))
		return VT_OK;
	char *hw = vt_hex_encode(b->report_data, b->report_data_size);
	char *hn = d->nonce.present ? vt_hex_encode(d->nonce.data, d->nonce.len) : NULL;
	char *hu = d->user_data.present ? vt_hex_encode(d->user_data.data, d->user_data.len) : NULL;
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "payload.nonce",
			       "neither nonce nor user_data carries the expected binding: expected %.200s, "
			       "nonce %.120s, user_data %.120s",
			       hw ? hw : "?", d->nonce.present ? (hn ? hn : "?") : "null",
			       d->user_data.present ? (hu ? hu : "?") : "null");
	free(hw);
	free(hn);
	free(hu);
	return rc;
}

/* ----------------------------------------------------------------- claims */

static json_t *hex_or_null(const struct vt_nitro_bytes *b)
{
	if (!b->present)
		return json_null();
	char *h = vt_hex_encode(b->data, b->len);
	json_t *s = h ? json_string(h) : NULL;
	free(h);
	return s;
}

static json_t *name_json(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	json_t *out = NULL;
	if (bio != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		char *p = NULL;
		long n = BIO_get_mem_data(bio, &p);
		if (n >= 0)
			out = json_stringn(p ? p : "", (size_t)n);
	}
	BIO_free(bio);
	return out;
}

static json_t *time_json(const ASN1_TIME *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return json_null();
	char buf[40];
	vt_time_format_rfc3339((int64_t)timegm(&tm), buf, sizeof(buf));
	return json_string(buf);
}

static json_t *fp_json(X509 *x)
{
	uint8_t fp[32];
	if (vt_x509_fingerprint_sha256(x, fp, NULL) != VT_OK)
		return NULL;
	char *h = vt_hex_encode(fp, sizeof(fp));
	json_t *s = h ? json_string(h) : NULL;
	free(h);
	return s;
}

static json_t *serial_json(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;
	json_t *s = NULL;
	if (h != NULL) {
		for (char *q = h; *q; q++)
			if (*q >= 'A' && *q <= 'F')
				*q = (char)(*q - 'A' + 'a');
		s = json_string(h);
	}
	OPENSSL_free(h);
	BN_free(bn);
	return s;
}

static json_t *leaf_json(X509 *x)
{
	json_t *j = json_pack("{s:o*, s:o*, s:o*, s:o*, s:o*, s:o*}", "subject", name_json(X509_get_subject_name(x)),
			 "issuer", name_json(X509_get_issuer_name(x)), "serial", serial_json(x), "not_before",
			 time_json(X509_get0_notBefore(x)), "not_after", time_json(X509_get0_notAfter(x)), "sha256",
			 fp_json(x));
	if (j != NULL && json_object_size(j) != 6) { /* a member that failed to build */
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* "2022-10-13T08:58:02.136Z": the document's time with its milliseconds. */
static void format_ms(uint64_t ms, char *out, size_t n)
{
	char ts[48];
	vt_time_format_rfc3339((int64_t)(ms / 1000), ts, sizeof(ts));
	size_t tl = strlen(ts);
	if (tl > 0 && ts[tl - 1] == 'Z')
		ts[tl - 1] = '\0';
	snprintf(out, n, "%s.%03uZ", ts, (unsigned)(ms % 1000));
}

/* PCR0, PCR1 and PCR2 present and all zero: AWS zeroes them in debug mode. */
static bool debug_mode(const struct vt_nitro_doc *d)
{
	unsigned zero = 0;
	for (size_t i = 0; i < d->pcr_count; i++) {
		if (d->pcrs[i].index >= 3)
			continue;
		bool z = true;
		for (size_t j = 0; j < VT_NITRO_PCR_SIZE; j++)
			z = z && d->pcrs[i].value[j] == 0;
		if (z)
			zero |= 1u << d->pcrs[i].index;
	}
	return zero == 7u;
}

/* The claims about the certificates: {"certificate": {...}, "cabundle": [...]}; NULL when out of memory. */
static json_t *cert_claims(const struct certs *c)
{
	json_t *bundle = json_array();
	for (size_t i = 0; bundle != NULL && i < c->count; i++) {
		json_t *e = json_pack("{s:o*, s:o*, s:o*}", "subject", name_json(X509_get_subject_name(c->bundle[i])),
				      "not_after", time_json(X509_get0_notAfter(c->bundle[i])), "sha256",
				      fp_json(c->bundle[i]));
		if (e == NULL || json_object_size(e) != 3 || json_array_append_new(bundle, e) != 0) {
			json_decref(e);
			json_decref(bundle);
			return NULL;
		}
	}
	json_t *leaf = bundle ? leaf_json(c->leaf) : NULL;
	json_t *j = leaf ? json_pack("{s:o, s:o}", "certificate", leaf, "cabundle", bundle) : NULL; /* takes both */
	if (j == NULL && leaf == NULL)
		json_decref(bundle);
	return j;
}

/*
 * The certificate claims are a function of the certificates alone (names,
 * serial, validity, fingerprints), and printing names and re-encoding
 * certificates to hash them costs more than anything else a warm document
 * needs besides its signature.  So they are remembered in the verifier's
 * caches under the chain's key (which covers the leaf, every cabundle
 * entry after the root and the root, byte for byte), as one shared,
 * never-modified JSON object that every caller gets a deep copy of.
 */
static void json_ref(void *o)
{
	json_incref(o);
}

static void json_release(void *o)
{
	json_decref(o);
}

static const struct vt_cache_class cert_claims_class = {
	.name = "nitro.cert_claims", .capacity = 64, .ref = json_ref, .release = json_release};

/* New references to the "certificate" and "cabundle" claims; false when out of memory. */
static bool cert_claims_cached(struct vt_cache_set *caches, const uint8_t *key, const struct certs *c,
			       json_t **leaf, json_t **bundle)
{
	struct vt_cache *cache = key ? vt_cache_of(caches, &cert_claims_class) : NULL;
	void *hit = NULL;
	json_t *shared = NULL;
	if (vt_cache_get(cache, key, 0, &hit)) {
		shared = hit;
	} else {
		shared = cert_claims(c);
		if (shared != NULL)
			vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, shared);
	}
	/* The caller owns its claims and may change them: never hand out the shared object. */
	json_t *copy = shared ? (cache != NULL ? json_deep_copy(shared) : json_incref(shared)) : NULL;
	json_decref(shared);
	*leaf = json_incref(json_object_get(copy, "certificate"));
	*bundle = json_incref(json_object_get(copy, "cabundle"));
	json_decref(copy);
	if (*leaf == NULL || *bundle == NULL) {
		json_decref(*leaf);
		json_decref(*bundle);
		*leaf = *bundle = NULL;
		return false;
	}
	return true;
}

/* `cert_key`: the chain's cache key, or NULL (no caches). */
static vt_status make_claims(struct vt_cache_set *caches, const uint8_t *cert_key, const struct vt_nitro_doc *d,
			     const struct certs *c, json_t **out, struct vt_err *err)
{
	json_t *pcrs = json_object(), *bundle = NULL, *leaf = NULL, *claims = NULL;
	char tsm[64], *rdh = NULL, *root_fp = NULL;
	uint8_t rfp[32];
	if (pcrs == NULL || !cert_claims_cached(caches, cert_key, c, &leaf, &bundle))
		goto nomem;
	for (size_t i = 0; i < d->pcr_count; i++) {
		char key[12];
		snprintf(key, sizeof(key), "%u", d->pcrs[i].index);
		char *h = vt_hex_encode(d->pcrs[i].value, VT_NITRO_PCR_SIZE);
		int bad = h == NULL || json_object_set_new(pcrs, key, json_string(h)) != 0;
		free(h);
		if (bad)
			goto nomem;
	}
	format_ms(d->timestamp_ms, tsm, sizeof(tsm));
	/* report_data: the field that carries the binding (see the top of this file) */
	const struct vt_nitro_bytes *rd = d->nonce.present ? &d->nonce : d->user_data.present ? &d->user_data : NULL;
	rdh = rd ? vt_hex_encode(rd->data, rd->len) : strdup("");
	if (rdh == NULL || vt_sha256(d->cabundle[0].data, d->cabundle[0].len, rfp, NULL) != VT_OK ||
	    (root_fp = vt_hex_encode(rfp, sizeof(rfp))) == NULL)
		goto nomem;
	claims = json_pack("{s:s, s:s, s:I, s:s, s:O, s:b, s:o*, s:o*, s:o*, s:O, s:O, s:s, s:s}", "module_id",
			   d->module_id, "digest", "SHA384", "timestamp", (json_int_t)d->timestamp_ms, "timestamp_rfc3339",
			   tsm, "pcrs", pcrs, "debug", debug_mode(d), "public_key", hex_or_null(&d->public_key),
			   "user_data", hex_or_null(&d->user_data), "nonce", hex_or_null(&d->nonce), "certificate",
			   leaf, "cabundle", bundle, "root_sha256", root_fp, "report_data", rdh);
	/* json_pack's "o*" drops a NULL member silently: require every member. */
	if (claims == NULL || json_object_size(claims) != 13)
		goto nomem;
	free(rdh);
	free(root_fp);
	json_decref(pcrs);
	json_decref(leaf);
	json_decref(bundle);
	*out = claims;
	return VT_OK;
nomem:
	free(rdh);
	free(root_fp);
	json_decref(claims);
	json_decref(pcrs);
	json_decref(leaf);
	json_decref(bundle);
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "claims", "out of memory");
}

/* ----------------------------------------------------------------- verify */

static vt_status verify_doc(struct vt_cache_set *caches, const uint8_t *doc, size_t n, int64_t now, X509 *root,
			    const struct vt_binding *binding, json_t **claims_out, struct vt_err *err)
{
	vt_status rc;
	struct vt_nitro_doc d;
	struct certs c;
	X509 *anchor = NULL;
	uint8_t ckey[32];
	bool keyed = false;
	memset(&d, 0, sizeof(d));
	memset(&c, 0, sizeof(c));
	if ((doc == NULL && n > 0) || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*claims_out = NULL;

	/* parse */
	VT_GUARD(vt_nitro_doc_parse(doc, n, &d, err));
	VT_GUARD(parse_certs(caches, &d, &c, err));

	/* signature: ES384 with the P-384 key of the signing certificate */
	EVP_PKEY *leaf_key = X509_get0_pubkey(c.leaf); /* borrowed */
	if (leaf_key == NULL || vt_ec_coord_size(leaf_key) != 48) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "payload.certificate",
			     "the signing certificate's key is not ECDSA P-384");
		goto out;
	}
	VT_GUARD(vt_cose_sign1_verify(&d.cose, leaf_key, NULL, 0, err));

	/* chain */
	if (root != NULL) {
		X509_up_ref(root);
		anchor = root;
	} else {
		VT_GUARD(vt_nitro_aws_root(&anchor, err));
	}
	VT_GUARD(check_chain(caches, &d, &c, anchor, now, ckey, &keyed, err));

	/* binding */
	VT_GUARD(check_binding(&d, binding, err));

	VT_GUARD(make_claims(caches, keyed ? ckey : NULL, &d, &c, claims_out, err));
out:
	X509_free(anchor);
	certs_free(&c);
	vt_nitro_doc_free(&d);
	return rc;
}

vt_status vt_nitro_verify_doc(const uint8_t *doc, size_t n, int64_t now, X509 *root, const struct vt_binding *binding,
			      json_t **claims_out, struct vt_err *err)
{
	return verify_doc(NULL, doc, n, now, root, binding, claims_out, err);
}

/* ------------------------------------------------------- evidence and files */

static vt_status evidence_doc(const json_t *evidence, uint8_t **doc, size_t *n, struct vt_err *err)
{
	if (!json_is_object(evidence))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "nitro evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)evidence, key, value) {
		if (strcmp(key, EVIDENCE_KEY) != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	json_t *s = json_object_get(evidence, EVIDENCE_KEY);
	if (!json_is_string(s))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, EVIDENCE_KEY, "\"%s\" is missing or not a string",
			       EVIDENCE_KEY);
	size_t slen = json_string_length(s);
	if (slen > DOC_MAX_B64)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, EVIDENCE_KEY, "%zu base64 characters, at most %zu accepted",
			       slen, (size_t)DOC_MAX_B64);
	vt_status rc = vt_b64_decode(json_string_value(s), slen, doc, n, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), EVIDENCE_KEY);
	return rc;
}

static vt_status nitro_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			      json_t **claims_out, struct vt_err *err)
{
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	uint8_t *doc = NULL;
	size_t n = 0;
	vt_status rc = evidence_doc(evidence, &doc, &n, err);
	if (rc == VT_OK)
		rc = verify_doc(vt_verifier_caches(ctx->verifier), doc, n, ctx->now, NULL, binding, claims_out, err);
	free(doc);
	return rc;
}

static vt_status wrap_doc(const uint8_t *doc, size_t n, json_t **out, struct vt_err *err)
{
	if (n == 0 || n > VT_NITRO_MAX_DOC)
		return vt_fail(err, n == 0 ? VT_E_PARSE : VT_E_LIMIT, VT_STEP_PARSE, EVIDENCE_KEY,
			       "%zu bytes, a Nitro attestation document is 1..%zu", n, VT_NITRO_MAX_DOC);
	char *b64 = vt_b64_encode(doc, n);
	json_t *ev = b64 ? json_pack("{s:s}", EVIDENCE_KEY, b64) : NULL;
	free(b64);
	if (ev == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "evidence", "out of memory");
	*out = ev;
	return VT_OK;
}

/* SCALE compact integer (parity-scale-codec): the low two bits of the first
 * byte pick 1, 2 or 4 little-endian bytes (value >> 2); big mode is refused. */
static vt_status scale_compact(struct vt_reader *r, uint32_t *out, struct vt_err *err)
{
	uint8_t b0;
	vt_status rc = vt_reader_u8(r, &b0, "dstack.quote.length", err);
	if (rc != VT_OK)
		return rc;
	switch (b0 & 3u) {
	case 0:
		*out = b0 >> 2;
		return VT_OK;
	case 1: {
		uint8_t b1;
		rc = vt_reader_u8(r, &b1, "dstack.quote.length", err);
		if (rc == VT_OK)
			*out = (uint32_t)(b0 | ((uint32_t)b1 << 8)) >> 2;
		return rc;
	}
	case 2: {
		uint8_t rest[3];
		rc = vt_reader_copy(r, rest, sizeof(rest), "dstack.quote.length", err);
		if (rc == VT_OK)
			*out = (b0 | ((uint32_t)rest[0] << 8) | ((uint32_t)rest[1] << 16) | ((uint32_t)rest[2] << 24)) >> 2;
		return rc;
	}
	default:
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "dstack.quote.length", "SCALE big-integer length refused");
	}
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

vt_status vt_nitro_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	if ((bytes == NULL && size > 0) || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*evidence_out = NULL;
	size_t a = 0, b = size;
	if (size >= 2 && bytes[0] == 0x00 && bytes[1] == 0x02) {
		/* dstack: V0, AttestationQuote::DstackNitroEnclave, Vec<u8> nsm_quote, trailer */
		struct vt_reader r;
		uint32_t len = 0;
		const uint8_t *doc;
		vt_reader_init(&r, bytes, size);
		vt_status rc = vt_reader_skip(&r, 2, "dstack", err);
		if (rc == VT_OK)
			rc = scale_compact(&r, &len, err);
		if (rc == VT_OK && len > VT_NITRO_MAX_DOC)
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "dstack.quote.length",
				     "%u bytes, a Nitro attestation document is at most %zu", len, VT_NITRO_MAX_DOC);
		if (rc == VT_OK)
			rc = vt_reader_view(&r, &doc, len, "dstack.quote", err);
		return rc == VT_OK ? wrap_doc(doc, len, evidence_out, err) : rc;
	}
	if (size >= 1 && (bytes[0] == 0x84 || bytes[0] == 0xd2))
		return wrap_doc(bytes, size, evidence_out, err);
	while (a < b && is_space(bytes[a]))
		a++;
	while (b > a && is_space(bytes[b - 1]))
		b--;
	if (a < b && bytes[a] == '{') {
		json_t *ev = NULL;
		vt_status rc = vt_json_parse((const char *)bytes + a, b - a, DOC_MAX_B64 + 1024, &ev, err);
		if (rc != VT_OK)
			return rc;
		uint8_t *doc = NULL;
		size_t n = 0;
		rc = evidence_doc(ev, &doc, &n, err); /* the shape must be ours */
		free(doc);
		if (rc != VT_OK) {
			json_decref(ev);
			return rc;
		}
		*evidence_out = ev;
		return VT_OK;
	}
	if (b - a > DOC_MAX_B64)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "file", "%zu characters of base64, at most %zu accepted",
			       b - a, (size_t)DOC_MAX_B64);
	uint8_t *doc = NULL;
	size_t n = 0;
	vt_status rc = vt_b64_decode((const char *)bytes + a, b - a, &doc, &n, err);
	if (rc != VT_OK) {
		if (err != NULL && err->step == VT_STEP_PARSE)
			snprintf(err->detail, sizeof(err->detail),
				 "not a Nitro document (raw COSE_Sign1, base64, dstack framing or evidence JSON)");
		return rc;
	}
	rc = wrap_doc(doc, n, evidence_out, err);
	free(doc);
	return rc;
}

static vt_status nitro_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	return vt_nitro_load_file(bytes, size, evidence_out, err);
}

/* hardware 2 once the document verified to the pinned AWS root; executables
 * 3 when PCR0 (the enclave image file) is a reference value (nitro_pcr0);
 * configuration 2 unless the enclave runs in debug mode (PCR0-2 zero, the
 * console readable from the parent instance). */
static const char nitro_policy[] =
	"{\"version\":1,\"id\":\"default_nitro\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"nitro-document-verified\",\"claim\":\"/nitro/root_sha256\","
	"\"equals\":\"" VT_NITRO_ROOT_SHA256 "\",\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"pcr0\",\"claim\":\"/nitro/pcrs/0\",\"in_reference\":\"nitro_pcr0\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"no-debug\",\"claim\":\"/nitro/debug\",\"equals\":false,"
	"\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":96}}"
	"]}";

const char *const vt_nitro_default_policy = nitro_policy;

const struct vt_tee vt_tee_nitro = {
	.name = "nitro",
	.summary = "AWS Nitro Enclaves attestation document (COSE_Sign1 to the pinned AWS root): raw, base64, "
		   "dstack-framed or {\"attestation_document\": base64}",
	.default_policy = nitro_policy,
	.verify = nitro_verify,
	.load_file = nitro_load_file,
};
