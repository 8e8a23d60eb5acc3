/*
 * DCAP quote verification (SGX v3, TDX v4/v5) against collateral, following
 * ../shared/docs/formats/tdx-sgx-dcap.md §4 in order.  Each failure names
 * its step:
 *
 *   chain       PCK chain to the pinned Intel SGX Root CA; root CA CRL and
 *               PCK CRL signatures and revocation
 *   signature   QE report signature (PCK key)
 *   binding     attestation key bound into the QE report data
 *   collateral  TCB Info / QE Identity signatures (TCB signing chain to the
 *               pinned root, not revoked), freshness of everything, FMSPC /
 *               PCE-ID / id / version agreement
 *   tcb         QE identity, QE vendor, TDX module identity, TCB level
 *   signature   quote signature (attestation key)
 *
 * Time is an input (`now`); collateral past nextUpdate is accepted only
 * within `grace_seconds`, and then res->collateral_expired is set.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/cache.h"
#include "evidence/dcap/dcap_internal.h"
#include "evidence/dcap/fetch.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/dcap.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

/* VT_DCAP_INTEL_ROOT_SHA256 as bytes, decoded once (all zero, which no
 * certificate hashes to, if the constant were ever malformed). */
static uint8_t intel_root_pin_bytes[32];
static pthread_once_t intel_root_pin_once = PTHREAD_ONCE_INIT;

static void intel_root_pin_decode(void)
{
	if (vt_hex_decode_fixed(VT_DCAP_INTEL_ROOT_SHA256, intel_root_pin_bytes, sizeof(intel_root_pin_bytes), NULL) !=
	    VT_OK)
		memset(intel_root_pin_bytes, 0, sizeof(intel_root_pin_bytes));
}

static const uint8_t *intel_root_pin(void)
{
	pthread_once(&intel_root_pin_once, intel_root_pin_decode);
	return intel_root_pin_bytes;
}

static const uint8_t INTEL_QE_VENDOR_ID[16] = {
	0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07,
};

#define MAX_CHAIN_CERTS 4

/* ------------------------------------------------------------------ helpers */

static vt_status nomem(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

static bool asn1_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	*out = (int64_t)timegm(&tm);
	return true;
}

/*
 * All certificates of a PEM text (certification data type 5; at most
 * MAX_CHAIN_CERTS), in order.  Each BEGIN..END block is read on its own,
 * because some quote generators
 * (rats-tls' Enclave-TLS samples) put no newline between "-----END
 * CERTIFICATE-----" and the next "-----BEGIN", which OpenSSL's PEM reader
 * refuses as a bad end line.  Intel's QVL splits the chain the same way.
 */
static vt_status pem_chain(const char *pem, size_t len, vt_step step, const char *field, STACK_OF(X509) **out,
			   struct vt_err *err)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
	*out = NULL;
	if (pem == NULL || len == 0 || len > (size_t)1 << 20)
		return vt_fail(err, VT_E_REJECTED, step, field, "no PEM certificate chain");
	STACK_OF(X509) *sk = sk_X509_new_null();
	char *one = malloc(len + 2);
	if (sk == NULL || one == NULL) {
		sk_X509_free(sk);
		free(one);
		return nomem(err);
	}
	vt_status rc = VT_OK;
	const char *p = pem, *stop = pem + len;
	for (;;) {
		const char *b = memmem(p, (size_t)(stop - p), begin, sizeof(begin) - 1);
		const char *e = b ? memmem(b, (size_t)(stop - b), end, sizeof(end) - 1) : NULL;
		if (e == NULL)
			break;
		size_t n = (size_t)(e - b) + sizeof(end) - 1;
		memcpy(one, b, n);
		one[n] = '\n';
		p = e + sizeof(end) - 1;
		BIO *bio = BIO_new_mem_buf(one, (int)n + 1);
		X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		if (x == NULL) {
			rc = vt_fail(err, VT_E_REJECTED, step, field, "certificate %d of the PEM chain does not parse",
				     sk_X509_num(sk) + 1);
			break;
		}
		if (sk_X509_num(sk) >= MAX_CHAIN_CERTS || sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			rc = vt_fail(err, VT_E_REJECTED, step, field, "more than %d certificates", MAX_CHAIN_CERTS);
			break;
		}
	}
	ERR_clear_error();
	free(one);
	if (rc == VT_OK && sk_X509_num(sk) == 0)
		rc = vt_fail(err, VT_E_REJECTED, step, field, "no certificate in the PEM chain");
	if (rc != VT_OK) {
		sk_X509_pop_free(sk, X509_free);
		return rc;
	}
	*out = sk;
	return VT_OK;
}

static vt_status is_pinned_root(X509 *cert, vt_step step, const char *field, struct vt_err *err)
{
	uint8_t fp[32];
	vt_status rc = vt_x509_fingerprint_sha256(cert, fp, err);
	if (rc != VT_OK)
		return rc;
	if (memcmp(fp, intel_root_pin(), sizeof(fp)) != 0) {
		char *h = vt_hex_encode(fp, sizeof(fp));
		rc = vt_fail(err, VT_E_REJECTED, step, field,
			     "root certificate is not the pinned Intel SGX Root CA (SHA-256 %s)", h ? h : "?");
		free(h);
		return rc;
	}
	return VT_OK;
}

/* issue <= now <= next (+ grace). */
static vt_status check_window(const char *what, int64_t issue, int64_t next, int64_t now, int64_t grace,
			      bool *expired, struct vt_err *err)
{
	char a[32], b[32];
	if (now < issue) {
		vt_time_format_rfc3339(issue, a, sizeof(a));
		return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, what, "%s not yet valid: issued %s", what, a);
	}
	if (now > next) {
		vt_time_format_rfc3339(next, a, sizeof(a));
		if (grace > 0 && now - next <= grace) {
			if (expired)
				*expired = true;
			return VT_OK;
		}
		vt_time_format_rfc3339(now, b, sizeof(b));
		return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, what, "%s expired: nextUpdate %s, now %s", what,
			       a, b);
	}
	return VT_OK;
}

/* ------------------------------------------------------------------- CRLs */

/*
 * CRLs parsed, issued by and signature-checked against an issuer: keyed by
 * the SHA-256 of the CRL's DER and of the issuer's DER, valid while `now` is
 * inside the issuer's validity.  thisUpdate/nextUpdate (with the grace) and
 * the revocation lookup are checked on every use, cached or not.
 */
struct crl_entry {
	atomic_int refs;
	X509_CRL *crl;
	int64_t this_up, next_up;
};

static void crl_entry_ref(void *o)
{
	atomic_fetch_add(&((struct crl_entry *)o)->refs, 1);
}

static void crl_entry_release(void *o)
{
	struct crl_entry *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	X509_CRL_free(e->crl);
	free(e);
}

static const struct vt_cache_class crl_class = {
	.name = "dcap.crl", .capacity = 32, .ref = crl_entry_ref, .release = crl_entry_release};

/* Parse, issuer and signature (cached in `caches`); *out is a new reference. */
static vt_status crl_load(struct vt_cache_set *caches, const uint8_t *der, size_t der_size, const uint8_t *der_sha,
			  X509 *issuer, const uint8_t *issuer_fp, int64_t now, const char *field, struct crl_entry **out,
			  struct vt_err *err)
{
	*out = NULL;
	uint8_t fp[32], key[32], dh[32];
	struct vt_err scratch = {0};
	uint64_t len = der_size;
	struct vt_cache *cache = vt_cache_of(caches, &crl_class);
	bool keyed = cache != NULL &&
		     (issuer_fp != NULL || vt_x509_fingerprint_sha256(issuer, fp, &scratch) == VT_OK) &&
		     (der_sha != NULL || vt_sha256(der, der_size, dh, &scratch) == VT_OK);
	if (keyed) {
		/* the CRL by the SHA-256 of its exact DER (and length), the issuer by its fingerprint */
		const void *parts[3] = {der_sha != NULL ? der_sha : dh, &len, issuer_fp != NULL ? issuer_fp : fp};
		size_t sizes[3] = {32, sizeof(len), 32};
		keyed = vt_cache_key(key, "dcap-crl", 3, parts, sizes, &scratch) == VT_OK;
	}
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, now, &hit)) {
		*out = hit;
		return VT_OK;
	}
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)der_size);
	vt_status rc = VT_OK;
	struct crl_entry *e = NULL;
	if (crl == NULL || p != der + der_size) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_COLLATERAL, field, "CRL is not one DER X.509 CRL");
		goto out;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field, "CRL issuer is not the certificate's issuer");
		goto out;
	}
	EVP_PKEY *pub = X509_get0_pubkey(issuer);
	if (pub == NULL || X509_CRL_verify(crl, pub) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field, "CRL signature does not verify with its issuer");
		goto out;
	}
	int64_t this_up, next_up;
	if (!asn1_epoch(X509_CRL_get0_lastUpdate(crl), &this_up) ||
	    !asn1_epoch(X509_CRL_get0_nextUpdate(crl), &next_up)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, field, "CRL without thisUpdate/nextUpdate");
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		rc = nomem(err);
		goto out;
	}
	atomic_init(&e->refs, 1);
	e->crl = crl;
	crl = NULL;
	e->this_up = this_up;
	e->next_up = next_up;
	int64_t nb, na;
	if (keyed && vt_x509_window(issuer, &nb, &na) && now >= nb && now <= na)
		vt_cache_put(cache, key, nb, na, e);
	*out = e;
out:
	X509_CRL_free(crl);
	return rc;
}

static vt_status crl_check(struct vt_cache_set *caches, const uint8_t *der, size_t der_size, const uint8_t *der_sha,
			   X509 *issuer, const uint8_t *issuer_fp, X509 *subject, int64_t now, int64_t grace_seconds,
			   bool *expired, const char *field, struct vt_err *err)
{
	if (der == NULL || der_size == 0 || der_size > (size_t)16 << 20)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, field, "CRL missing");
	struct crl_entry *e = NULL;
	vt_status rc;
	VT_GUARD(crl_load(caches, der, der_size, der_sha, issuer, issuer_fp, now, field, &e, err));
	VT_GUARD(check_window(field, e->this_up, e->next_up, now, grace_seconds, expired, err));
	X509_REVOKED *rev = NULL;
	if (X509_CRL_get0_by_serial(e->crl, &rev, X509_get0_serialNumber(subject)) == 1) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(subject), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field, "certificate serial %s is revoked",
			     hex ? hex : "?");
		OPENSSL_free(hex);
		BN_free(bn);
		goto out;
	}
out:
	crl_entry_release(e);
	return rc;
}

vt_status vt_dcap_crl_check(const uint8_t *der, size_t der_size, X509 *issuer, X509 *subject, int64_t now,
			    int64_t grace_seconds, bool *expired, const char *field, struct vt_err *err)
{
	return crl_check(NULL, der, der_size, NULL, issuer, NULL, subject, now, grace_seconds, expired, field, err);
}

/* --------------------------------------------------------------- signatures */

/* Attestation keys imported and checked, by their 64 bytes (a pure function of them). */
static void pkey_ref(void *o)
{
	EVP_PKEY_up_ref(o);
}

static void pkey_release(void *o)
{
	EVP_PKEY_free(o);
}

static const struct vt_cache_class ak_class = {
	.name = "dcap.attestation_key", .capacity = 64, .ref = pkey_ref, .release = pkey_release};

static vt_status ak_key_uncached(const uint8_t ak[64], EVP_PKEY **out, struct vt_err *err);

static vt_status ak_key(struct vt_cache_set *caches, const uint8_t ak[64], EVP_PKEY **out, struct vt_err *err)
{
	uint8_t key[32];
	const void *parts[1] = {ak};
	size_t sizes[1] = {64};
	struct vt_err scratch = {0};
	struct vt_cache *cache = vt_cache_of(caches, &ak_class);
	bool keyed = cache != NULL && vt_cache_key(key, "dcap-attestation-key", 1, parts, sizes, &scratch) == VT_OK;
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, 0, &hit)) {
		*out = hit;
		return VT_OK;
	}
	vt_status rc = ak_key_uncached(ak, out, err);
	if (rc == VT_OK && keyed)
		vt_cache_put(cache, key, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, *out);
	return rc;
}

static vt_status ak_key_uncached(const uint8_t ak[64], EVP_PKEY **out, struct vt_err *err)
{
	uint8_t pt[65];
	pt[0] = 0x04;
	memcpy(pt + 1, ak, 64);
	vt_status rc = VT_OK;
	EVP_PKEY *key = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY_CTX *chk = NULL;
	if (bld == NULL || ctx == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		rc = nomem(err);
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL || EVP_PKEY_public_check(chk) != 1) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "quote.attestation_key",
			     "attestation key is not a P-256 point");
		goto out;
	}
	*out = key;
	key = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_free(key);
	return rc;
}

static vt_status verify_p256(EVP_PKEY *key, const void *msg, size_t n, const uint8_t sig[64], vt_step step,
			     const char *field, const char *what, struct vt_err *err)
{
	if (key == NULL || vt_ec_coord_size(key) != 32)
		return vt_fail(err, VT_E_REJECTED, step, field, "%s: key is not P-256", what);
	struct vt_err e2 = {0};
	vt_status rc = vt_ecdsa_verify_raw(key, vt_md_sha256(), msg, n, sig, 64, &e2);
	if (rc == VT_OK)
		return VT_OK;
	if (rc == VT_E_REJECTED)
		return vt_fail(err, VT_E_REJECTED, step, field, "%s does not verify", what);
	return vt_fail(err, rc, e2.step, field, "%s: %s", what, e2.detail);
}

/*
 * A signed collateral item: its issuer chain is [signing cert, root]; the
 * root must be the pinned one, the signing cert must chain to it at `now`
 * and not be revoked by the root CA CRL; then the signature over the exact
 * text must verify.
 */
/*
 * Signed collateral items that verified: keyed by the SHA-256 of the item
 * name, the issuer chain PEM, the exact text and the signature; valid while
 * `now` is inside the signing certificate's and the root's validity.  The
 * root CA CRL check runs on every use.
 */
struct signed_entry {
	atomic_int refs;
	X509 *signer, *root;
};

static void signed_entry_ref(void *o)
{
	atomic_fetch_add(&((struct signed_entry *)o)->refs, 1);
}

static void signed_entry_release(void *o)
{
	struct signed_entry *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	X509_free(e->signer);
	X509_free(e->root);
	free(e);
}

static const struct vt_cache_class signed_class = {
	.name = "dcap.signed_item", .capacity = 32, .ref = signed_entry_ref, .release = signed_entry_release};

static vt_status signed_item_crl(struct vt_cache_set *caches, const char *what, const char *field, X509 *root,
				 X509 *signer, const struct vt_dcap_collateral *c, const struct dcap_hashes *h,
				 int64_t now, int64_t grace, bool *expired, struct vt_err *err)
{
	struct vt_err e2 = {0};
	if (crl_check(caches, c->root_ca_crl, c->root_ca_crl_size, h->root_ca_crl, root, intel_root_pin(), signer,
		      now, grace, expired, "root_ca_crl", &e2) != VT_OK)
		return vt_fail(err, e2.code, e2.step == VT_STEP_CHAIN ? VT_STEP_COLLATERAL : e2.step, field,
			       "%s signing certificate: %s", what, e2.detail);
	return VT_OK;
}

/*
 * A signed collateral item: its issuer chain is [signing cert, root]; the
 * root must be the pinned one, the signing cert must chain to it at `now`
 * and not be revoked by the root CA CRL; then the signature over the exact
 * text must verify.  `text_hash` is the SHA-256 cache key of the text.
 */
static vt_status check_signed_item(struct vt_cache_set *caches, const char *what, const char *chain_pem,
				   const uint8_t chain_hash[32], const char *text, const uint8_t text_hash[32],
				   const uint8_t sig[64], const struct vt_dcap_collateral *c, const struct dcap_hashes *h,
				   int64_t now, int64_t grace, bool *expired, struct vt_err *err)
{
	char field[64];
	snprintf(field, sizeof(field), "%s_issuer_chain", what);
	uint8_t key[32];
	struct vt_err scratch = {0};
	bool keyed = false;
	struct vt_cache *cache = vt_cache_of(caches, &signed_class);
	if (cache != NULL && chain_pem != NULL && text != NULL) {
		/* the chain PEM and the text by the SHA-256 of their exact bytes */
		const void *parts[4] = {what, chain_hash, text_hash, sig};
		size_t sizes[4] = {strlen(what), 32, 32, 64};
		keyed = vt_cache_key(key, "dcap-signed-item", 4, parts, sizes, &scratch) == VT_OK;
	}
	void *hit = NULL;
	if (keyed && vt_cache_get(cache, key, now, &hit)) {
		struct signed_entry *e = hit;
		vt_status rc = signed_item_crl(caches, what, field, e->root, e->signer, c, h, now, grace, expired, err);
		signed_entry_release(e);
		return rc;
	}
	STACK_OF(X509) *sk = NULL;
	vt_status rc = pem_chain(chain_pem, chain_pem ? strlen(chain_pem) : 0, VT_STEP_COLLATERAL, field, &sk, err);
	if (rc != VT_OK)
		return rc;
	int n = sk_X509_num(sk);
	if (n < 2) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, field, "expected signing certificate and root");
		goto out;
	}
	X509 *signer = sk_X509_value(sk, 0), *root = sk_X509_value(sk, n - 1);
	{
		struct vt_err e2 = {0};
		if (is_pinned_root(root, VT_STEP_COLLATERAL, field, &e2) != VT_OK ||
		    vt_x509_verify_chain_cached(caches, signer, root, now, &e2) != VT_OK) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, field, "%s signing certificate: %s", what,
				     e2.detail);
			goto out;
		}
	}
	VT_GUARD(signed_item_crl(caches, what, field, root, signer, c, h, now, grace, expired, err));
	if (text == NULL) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, what, "%s missing", what);
		goto out;
	}
	rc = verify_p256(X509_get0_pubkey(signer), text, strlen(text), sig, VT_STEP_COLLATERAL, what,
			 "signature over the exact signed JSON", err);
	int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO;
	struct signed_entry *e = NULL;
	if (rc == VT_OK && keyed && vt_x509_window_narrow(signer, &nb, &na) && vt_x509_window_narrow(root, &nb, &na) &&
	    now >= nb && now <= na && (e = calloc(1, sizeof(*e))) != NULL) {
		atomic_init(&e->refs, 1);
		X509_up_ref(signer);
		X509_up_ref(root);
		e->signer = signer;
		e->root = root;
		vt_cache_put(cache, key, nb, na, e);
		signed_entry_release(e);
	}
out:
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/*
 * Parsed TCB Info and QE Identity, keyed by the SHA-256 of the exact signed
 * text (parsing does not depend on time; their issueDate/nextUpdate are
 * checked on every use).  Shared read-only.
 */
struct tcb_entry {
	atomic_int refs;
	struct vt_tcb_info ti;
};

struct qe_entry {
	atomic_int refs;
	struct vt_qe_identity qi;
};

static void tcb_entry_ref(void *o)
{
	atomic_fetch_add(&((struct tcb_entry *)o)->refs, 1);
}

static void tcb_entry_release(void *o)
{
	struct tcb_entry *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	vt_tcb_info_free(&e->ti);
	free(e);
}

static void qe_entry_ref(void *o)
{
	atomic_fetch_add(&((struct qe_entry *)o)->refs, 1);
}

static void qe_entry_release(void *o)
{
	struct qe_entry *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	vt_qe_identity_free(&e->qi);
	free(e);
}

static const struct vt_cache_class tcb_class = {
	.name = "dcap.tcb_info", .capacity = 32, .ref = tcb_entry_ref, .release = tcb_entry_release};
static const struct vt_cache_class qe_class = {
	.name = "dcap.qe_identity", .capacity = 32, .ref = qe_entry_ref, .release = qe_entry_release};

static vt_status tcb_info_get(struct vt_cache_set *caches, const char *text, const uint8_t text_hash[32],
			      struct tcb_entry **out, struct vt_err *err)
{
	void *hit = NULL;
	struct vt_cache *cache = vt_cache_of(caches, &tcb_class);
	if (vt_cache_get(cache, text_hash, 0, &hit)) {
		*out = hit;
		return VT_OK;
	}
	struct tcb_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return nomem(err);
	atomic_init(&e->refs, 1);
	vt_status rc = vt_tcb_info_parse(text, strlen(text), &e->ti, err);
	if (rc != VT_OK) {
		tcb_entry_release(e);
		return rc;
	}
	vt_cache_put(cache, text_hash, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, e);
	*out = e;
	return VT_OK;
}

static vt_status qe_identity_get(struct vt_cache_set *caches, const char *text, const uint8_t text_hash[32],
				 struct qe_entry **out, struct vt_err *err)
{
	void *hit = NULL;
	struct vt_cache *cache = vt_cache_of(caches, &qe_class);
	if (vt_cache_get(cache, text_hash, 0, &hit)) {
		*out = hit;
		return VT_OK;
	}
	struct qe_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return nomem(err);
	atomic_init(&e->refs, 1);
	vt_status rc = vt_qe_identity_parse(text, strlen(text), &e->qi, err);
	if (rc != VT_OK) {
		qe_entry_release(e);
		return rc;
	}
	vt_cache_put(cache, text_hash, VT_CACHE_ALWAYS_FROM, VT_CACHE_ALWAYS_TO, e);
	*out = e;
	return VT_OK;
}

/*
 * PCK chains (the quote's certification data, type 5) that verified to the
 * pinned root, keyed by the SHA-256 of the exact PEM bytes; valid while
 * `now` is inside all three certificates' validity windows.  The CRL checks
 * run on every use.  The PCK extension is parsed once with them.
 */
struct pck_entry {
	atomic_int refs;
	X509 *leaf, *inter, *root;
	uint8_t inter_fp[32];
	bool ext_ok;
	struct vt_pck_ext ext;
};

static void pck_entry_ref(void *o)
{
	atomic_fetch_add(&((struct pck_entry *)o)->refs, 1);
}

static void pck_entry_release(void *o)
{
	struct pck_entry *e = o;
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	X509_free(e->leaf);
	X509_free(e->inter);
	X509_free(e->root);
	free(e);
}

static const struct vt_cache_class pck_class = {
	.name = "dcap.pck_chain", .capacity = 64, .ref = pck_entry_ref, .release = pck_entry_release};

/* --------------------------------------------------------------- TCB levels */

static bool is_config_flavour(vt_tcb_status s)
{
	return s == VT_TCB_CONFIGURATION_NEEDED || s == VT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
	       s == VT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED || s == VT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/* OutOfDate of a QE / module converges a platform status (§6.2, §6.5). */
static vt_tcb_status converge_out_of_date(vt_tcb_status s)
{
	switch (s) {
	case VT_TCB_UP_TO_DATE:
	case VT_TCB_SW_HARDENING_NEEDED:
		return VT_TCB_OUT_OF_DATE;
	case VT_TCB_CONFIGURATION_NEEDED:
	case VT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED:
		return VT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
	default:
		return s;
	}
}

/* QVL's ordering of TCB levels: SGX components, then PCESVN, then (TDX) TDX components; >0 when a is higher. */
static int level_cmp(const struct vt_tcb_level *a, const struct vt_tcb_level *b, bool tdx)
{
	int d = memcmp(a->sgx_svn, b->sgx_svn, 16);
	if (d != 0)
		return d;
	if (a->pcesvn != b->pcesvn)
		return a->pcesvn > b->pcesvn ? 1 : -1;
	if (tdx)
		return memcmp(a->tdx_svn, b->tdx_svn, 16);
	return 0;
}

/* Indices of ti->levels, highest first (stable insertion sort; at most VT_DCAP_MAX_LEVELS). */
static void sort_levels(const struct vt_tcb_info *ti, bool tdx, size_t *idx)
{
	for (size_t i = 0; i < ti->level_count; i++) {
		size_t j = i;
		while (j > 0 && level_cmp(&ti->levels[i], &ti->levels[idx[j - 1]], tdx) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
}

static const struct vt_tdx_module_identity *find_module(const struct vt_tcb_info *ti, uint8_t major)
{
	char want[16];
	snprintf(want, sizeof(want), "TDX_%02X", major);
	for (size_t i = 0; i < ti->module_id_count; i++)
		if (strcasecmp(ti->module_ids[i].id, want) == 0)
			return &ti->module_ids[i];
	return NULL;
}

/* The module level with the highest isvsvn <= svn; NULL if none. */
static const struct vt_tdx_module_level *module_level(const struct vt_tdx_module_identity *m, uint8_t svn)
{
	const struct vt_tdx_module_level *best = NULL;
	for (size_t i = 0; i < m->level_count; i++) {
		const struct vt_tdx_module_level *l = &m->levels[i];
		if (l->isvsvn <= svn && (best == NULL || l->isvsvn > best->isvsvn))
			best = l;
	}
	return best;
}

static const struct vt_tdx_module_level *module_newest(const struct vt_tdx_module_identity *m)
{
	const struct vt_tdx_module_level *best = NULL;
	for (size_t i = 0; i < m->level_count; i++)
		if (best == NULL || m->levels[i].isvsvn > best->isvsvn)
			best = &m->levels[i];
	return best;
}

static vt_status qe_identity_check(const struct vt_dcap_quote *q, const struct vt_qe_identity *qi,
				   vt_tcb_status *qe_status, struct vt_err *err)
{
	const struct vt_sgx_report_body *r = &q->qe_report;
	uint8_t ms[4];
	ms[0] = (uint8_t)(r->misc_select & 0xff);
	ms[1] = (uint8_t)((r->misc_select >> 8) & 0xff);
	ms[2] = (uint8_t)((r->misc_select >> 16) & 0xff);
	ms[3] = (uint8_t)((r->misc_select >> 24) & 0xff);
	for (size_t i = 0; i < 4; i++)
		if ((ms[i] & qi->miscselect_mask[i]) != qi->miscselect[i])
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "qe_report.misc_select",
				       "QE identity mismatch: miscselect");
	for (size_t i = 0; i < 16; i++)
		if ((r->attributes[i] & qi->attributes_mask[i]) != qi->attributes[i])
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "qe_report.attributes",
				       "QE identity mismatch: attributes");
	if (memcmp(r->mr_signer, qi->mrsigner, 32) != 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "qe_report.mr_signer", "QE identity mismatch: mrsigner");
	if (r->isv_prod_id != qi->isvprodid)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "qe_report.isv_prod_id",
			       "QE identity mismatch: isvprodid %u, expected %u", r->isv_prod_id, qi->isvprodid);
	const struct vt_qe_level *best = NULL;
	for (size_t i = 0; i < qi->level_count; i++) {
		const struct vt_qe_level *l = &qi->levels[i];
		if (l->isvsvn <= r->isv_svn && (best == NULL || l->isvsvn > best->isvsvn))
			best = l;
	}
	*qe_status = best ? best->status : VT_TCB_NOT_SUPPORTED;
	return VT_OK;
}

/* TDX module identity (§4.4.5): mrsigner_seam and seam_attributes. */
static vt_status tdx_module_check(const struct vt_dcap_quote *q, const struct vt_tcb_info *ti, struct vt_err *err)
{
	const struct vt_tdx_report_body *b = &q->tdx;
	const uint8_t *mrsigner, *attrs, *mask;
	if (b->tee_tcb_svn[1] > 0) {
		const struct vt_tdx_module_identity *m = find_module(ti, b->tee_tcb_svn[1]);
		if (m == NULL)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "quote.body.tee_tcb_svn",
				       "TDX module mismatch: no tdxModuleIdentities entry TDX_%02X", b->tee_tcb_svn[1]);
		mrsigner = m->mrsigner;
		attrs = m->attributes;
		mask = m->attributes_mask;
	} else {
		if (!ti->has_tdx_module)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "tcb_info.tdxModule",
				       "TDX TCB Info has no tdxModule");
		mrsigner = ti->tdx_mrsigner;
		attrs = ti->tdx_attributes;
		mask = ti->tdx_attributes_mask;
	}
	if (memcmp(b->mrsigner_seam, mrsigner, 48) != 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "quote.body.mrsigner_seam",
			       "TDX module mismatch: mrsigner_seam differs from the TCB Info");
	for (size_t i = 0; i < 8; i++)
		if (b->seam_attributes[i] != 0 || (b->seam_attributes[i] & mask[i]) != attrs[i])
			return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "quote.body.seam_attributes",
				       "TDX module mismatch: seam_attributes must be zero");
	return VT_OK;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/*
 * §6.1–6.5.  On success res->status is the converged status (which may be
 * Revoked or NotSupported: the caller decides); the matched level's
 * advisories and date are copied into res.
 */
static vt_status tcb_evaluate(const struct vt_dcap_quote *q, const struct vt_pck_ext *pck,
			      const struct vt_tcb_info *ti, vt_tcb_status qe_status, struct vt_dcap_result *res,
			      struct vt_err *err)
{
	bool tdx = q->tee_type == VT_DCAP_TEE_TDX;
	size_t *idx = calloc(ti->level_count ? ti->level_count : 1, sizeof(*idx));
	if (idx == NULL)
		return nomem(err);
	sort_levels(ti, tdx, idx);

	/* newest level's date (how far behind the platform is) */
	if (ti->level_count > 0)
		copy_str(res->latest_tcb_date, sizeof(res->latest_tcb_date), ti->levels[idx[0]].tcb_date_str);

	const struct vt_tcb_level *sgx_level = NULL, *tdx_level = NULL;
	size_t start = tdx && q->tdx.tee_tcb_svn[1] > 0 ? 2 : 0;
	for (size_t k = 0; k < ti->level_count; k++) {
		const struct vt_tcb_level *l = &ti->levels[idx[k]];
		bool ok = pck->pcesvn >= l->pcesvn;
		for (size_t i = 0; ok && i < 16; i++)
			ok = pck->comp_svn[i] >= l->sgx_svn[i];
		if (!ok)
			continue;
		if (sgx_level == NULL)
			sgx_level = l;
		if (!tdx)
			break;
		if (!l->has_tdx)
			continue;
		bool tok = true;
		for (size_t j = start; tok && j < 16; j++)
			tok = q->tdx.tee_tcb_svn[j] >= l->tdx_svn[j];
		if (tok) {
			tdx_level = l;
			break;
		}
	}
	const struct vt_tcb_level *matched = tdx ? tdx_level : sgx_level;
	vt_status rc = VT_OK;
	if (matched == NULL) {
		res->status = VT_TCB_NOT_SUPPORTED;
		goto out;
	}
	copy_str(res->tcb_date, sizeof(res->tcb_date), matched->tcb_date_str);
	copy_str(res->advisory_ids, sizeof(res->advisory_ids), matched->advisory_ids);

	vt_tcb_status st = matched->status;
	if (tdx) {
		/* §6.2 module status */
		bool module_evaluated = !(q->version > 3 && q->tdx.tee_tcb_svn[1] == 0);
		vt_tcb_status module_status = VT_TCB_UP_TO_DATE;
		if (module_evaluated) {
			const struct vt_tdx_module_identity *m = find_module(ti, q->tdx.tee_tcb_svn[1]);
			if (m == NULL) {
				rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "quote.body.tee_tcb_svn",
					     "TDX module mismatch: no tdxModuleIdentities entry TDX_%02X",
					     q->tdx.tee_tcb_svn[1]);
				goto out;
			}
			const struct vt_tdx_module_level *ml = module_level(m, q->tdx.tee_tcb_svn[0]);
			if (ml == NULL) {
				res->status = VT_TCB_NOT_SUPPORTED;
				goto out;
			}
			module_status = ml->status;
			if (module_status == VT_TCB_OUT_OF_DATE)
				st = converge_out_of_date(st);
			else if (module_status == VT_TCB_REVOKED)
				st = VT_TCB_REVOKED;
		}
		/* §6.3 relaunch advice (v5, TDX 1.5 body) */
		if (q->version == 5 && q->tdx.has_v15 && module_evaluated && module_status == VT_TCB_OUT_OF_DATE &&
		    qe_status != VT_TCB_OUT_OF_DATE && qe_status != VT_TCB_REVOKED && qe_status != VT_TCB_NOT_SUPPORTED &&
		    (sgx_level->status == VT_TCB_UP_TO_DATE || sgx_level->status == VT_TCB_SW_HARDENING_NEEDED ||
		     sgx_level->status == VT_TCB_CONFIGURATION_NEEDED ||
		     sgx_level->status == VT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED) &&
		    (st == VT_TCB_OUT_OF_DATE || st == VT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)) {
			const uint8_t *s2 = q->tdx.tee_tcb_svn2;
			const struct vt_tcb_level *newest = &ti->levels[idx[0]];
			bool advised = false;
			if (s2[1] == 0) {
				advised = s2[0] >= newest->tdx_svn[0] && s2[2] >= newest->tdx_svn[2];
			} else {
				const struct vt_tdx_module_identity *m2 = find_module(ti, s2[1]);
				const struct vt_tdx_module_level *nl = m2 ? module_newest(m2) : NULL;
				advised = nl != NULL && s2[0] >= nl->isvsvn && s2[2] >= newest->tdx_svn[2];
			}
			if (advised)
				st = is_config_flavour(sgx_level->status) || is_config_flavour(matched->status)
					     ? VT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
					     : VT_TCB_TD_RELAUNCH_ADVISED;
		}
	}
	/* §6.5 convergence with the QE */
	if (qe_status == VT_TCB_OUT_OF_DATE)
		st = converge_out_of_date(st);
	else if (qe_status == VT_TCB_REVOKED)
		st = VT_TCB_REVOKED;
	else if (qe_status == VT_TCB_NOT_SUPPORTED)
		st = VT_TCB_NOT_SUPPORTED;
	res->status = st;
out:
	free(idx);
	return rc;
}

/* -------------------------------------------------------------- the verifier */

static const char *tee_id(const struct vt_dcap_quote *q)
{
	return q->tee_type == VT_DCAP_TEE_TDX ? "TDX" : "SGX";
}

/*
 * The PCK chain of a quote (certification data type 5) verified up to the
 * pinned Intel root at `now`, without CRLs (the caller checks those): from
 * `caches` when this exact chain verified before.  *pe_out is a reference
 * (pck_entry_release).
 */
static vt_status pck_chain_get(struct vt_cache_set *caches, const struct vt_dcap_quote *q, int64_t now,
			       struct pck_entry **pe_out, struct vt_err *err)
{
	vt_status rc = VT_OK;
	STACK_OF(X509) *chain = NULL, *inter_sk = NULL;
	struct pck_entry *pe = NULL;
	/* ---- chain: PCK leaf -> intermediate -> pinned root */
	if (q->cert_data_type != 5) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "quote.sig_data.cert_data_type",
			     "certification data type %u: only 5 (PCK chain) is supported", q->cert_data_type);
		goto out;
	}
	uint8_t pck_key[32];
	struct vt_err scratch = {0};
	struct vt_cache *pck_cache = vt_cache_of(caches, &pck_class);
	bool pck_keyed = pck_cache != NULL && q->cert_data != NULL && q->cert_data_size > 0;
	if (pck_keyed) {
		const void *parts[1] = {q->cert_data};
		size_t sizes[1] = {q->cert_data_size};
		pck_keyed = vt_cache_key(pck_key, "dcap-pck-chain", 1, parts, sizes, &scratch) == VT_OK;
	}
	void *hit = NULL;
	if (pck_keyed && vt_cache_get(pck_cache, pck_key, now, &hit)) {
		pe = hit;
	} else {
		VT_GUARD(pem_chain((const char *)q->cert_data, q->cert_data_size, VT_STEP_CHAIN, "quote.pck_chain",
				   &chain, err));
		if (sk_X509_num(chain) != 3) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "quote.pck_chain",
				     "expected 3 certificates (PCK, PCK CA, root), got %d", sk_X509_num(chain));
			goto out;
		}
		X509 *leaf = sk_X509_value(chain, 0), *inter = sk_X509_value(chain, 1), *root = sk_X509_value(chain, 2);
		VT_GUARD(is_pinned_root(root, VT_STEP_CHAIN, "quote.pck_chain", err));
		inter_sk = sk_X509_new_null();
		if (inter_sk == NULL || sk_X509_push(inter_sk, inter) <= 0) {
			rc = nomem(err);
			goto out;
		}
		VT_GUARD(vt_x509_verify_chain(leaf, inter_sk, root, now, err));
		if (X509_check_ca(leaf) != 0) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "quote.pck_chain", "PCK certificate is a CA");
			goto out;
		}
		if (X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(inter)) != 0) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "quote.pck_chain", "PCK issuer is not the PCK CA");
			goto out;
		}
		pe = calloc(1, sizeof(*pe));
		if (pe == NULL || vt_x509_fingerprint_sha256(inter, pe->inter_fp, err) != VT_OK) {
			rc = pe == NULL ? nomem(err) : VT_E_CRYPTO;
			free(pe);
			pe = NULL;
			goto out;
		}
		atomic_init(&pe->refs, 1);
		X509_up_ref(leaf);
		X509_up_ref(inter);
		X509_up_ref(root);
		pe->leaf = leaf;
		pe->inter = inter;
		pe->root = root;
		pe->ext_ok = vt_pck_ext_parse(leaf, &pe->ext, &scratch) == VT_OK;
		int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO;
		if (pck_keyed && vt_x509_window_narrow(leaf, &nb, &na) && vt_x509_window_narrow(inter, &nb, &na) &&
		    vt_x509_window_narrow(root, &nb, &na) && now >= nb && now <= na)
			vt_cache_put(pck_cache, pck_key, nb, na, pe);
	}
	*pe_out = pe;
	pe = NULL;
out:
	sk_X509_free(inter_sk); /* borrowed entries */
	sk_X509_pop_free(chain, X509_free);
	pck_entry_release(pe);
	return rc;
}

/* The QE report signed by the PCK key, and the attestation key bound into it. */
static vt_status qe_report_check(const struct vt_dcap_quote *q, X509 *leaf, struct vt_err *err)
{
	vt_status rc = VT_OK;
	/* ---- signature: QE report by the PCK key */
	VT_GUARD(verify_p256(X509_get0_pubkey(leaf), q->qe_report.raw, sizeof(q->qe_report.raw),
			     q->qe_report_signature, VT_STEP_SIGNATURE, "quote.qe_report_signature",
			     "QE report signature (PCK key)", err));

	/* ---- binding: SHA-256(AK || QE auth data) in the QE report data, upper half zero */
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		uint8_t bh[32];
		unsigned int hl = 0;
		int ok = md != NULL && EVP_DigestInit_ex(md, vt_md_sha256(), NULL) == 1 &&
			 EVP_DigestUpdate(md, q->attestation_key, 64) == 1 &&
			 (q->qe_auth_data_size == 0 || EVP_DigestUpdate(md, q->qe_auth_data, q->qe_auth_data_size) == 1) &&
			 EVP_DigestFinal_ex(md, bh, &hl) == 1 && hl == 32;
		EVP_MD_CTX_free(md);
		if (!ok) {
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "", "SHA-256 failed");
			goto out;
		}
		static const uint8_t zero[32];
		if (memcmp(bh, q->qe_report.report_data, 32) != 0 || memcmp(q->qe_report.report_data + 32, zero, 32) != 0) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "qe_report.report_data",
				     "attestation key is not bound to the QE report "
				     "(SHA-256(attestation key || QE auth data) differs or upper half not zero)");
			goto out;
		}
	}
out:
	return rc;
}

/* The quote signed by its attestation key, and its QE Intel's. */
static vt_status quote_signature_check(struct vt_cache_set *caches, const struct vt_dcap_quote *q, struct vt_err *err)
{
	EVP_PKEY *ak = NULL;
	vt_status rc = ak_key(caches, q->attestation_key, &ak, err);
	if (rc == VT_OK)
		rc = verify_p256(ak, q->signed_region, q->signed_size, q->signature, VT_STEP_SIGNATURE, "quote.signature",
				 "quote signature (attestation key)", err);
	EVP_PKEY_free(ak);
	if (rc == VT_OK && memcmp(q->qe_vendor_id, INTEL_QE_VENDOR_ID, 16) != 0)
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "quote.header.qe_vendor_id", "QE vendor is not Intel");
	return rc;
}

vt_status vt_dcap_verify(const struct vt_dcap_quote *q, const struct vt_dcap_collateral *c, int64_t now,
			 int64_t grace_seconds, struct vt_dcap_result *res, struct vt_err *err)
{
	return dcap_verify_hashed(NULL, q, c, NULL, now, grace_seconds, res, err); /* no verifier: no caching */
}

vt_status dcap_verify_hashed(struct vt_cache_set *caches, const struct vt_dcap_quote *q,
			     const struct vt_dcap_collateral *c, const struct dcap_hashes *h, int64_t now,
			     int64_t grace_seconds, struct vt_dcap_result *res, struct vt_err *err)
{
	if (q == NULL || c == NULL || res == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	struct dcap_hashes own;
	if (h == NULL) {
		/* the caller's collateral: hash its fields now */
		vt_status hrc = dcap_collateral_hashes(c, &own, err);
		if (hrc != VT_OK)
			return hrc;
		h = &own;
	}
	memset(res, 0, sizeof(*res));
	res->status = VT_TCB_NOT_SUPPORTED;
	res->qe_status = VT_TCB_NOT_SUPPORTED;
	if (grace_seconds < 0)
		grace_seconds = 0;

	vt_status rc = VT_OK;
	struct pck_entry *pe = NULL;
	struct tcb_entry *te = NULL;
	struct qe_entry *qe = NULL;
	struct vt_pck_ext pck;
	bool tdx = q->tee_type == VT_DCAP_TEE_TDX;
	bool expired = false;

	VT_GUARD(pck_chain_get(caches, q, now, &pe, err));
	X509 *leaf = pe->leaf, *inter = pe->inter, *root = pe->root;

	/* ---- chain: CRLs (root CA CRL for the PCK CA, PCK CRL for the PCK) */
	VT_GUARD(crl_check(caches, c->root_ca_crl, c->root_ca_crl_size, h->root_ca_crl, root, intel_root_pin(), inter,
			   now, grace_seconds, &expired, "root_ca_crl", err));
	VT_GUARD(crl_check(caches, c->pck_crl, c->pck_crl_size, h->pck_crl, inter, pe->inter_fp, leaf, now,
			   grace_seconds, &expired, "pck_crl", err));

	VT_GUARD(qe_report_check(q, leaf, err));

	/* ---- collateral: signatures of TCB Info and QE Identity */
	const uint8_t *tcb_hash = h->tcb_info, *qe_hash = h->qe_identity;
	VT_GUARD(check_signed_item(caches, "tcb_info", c->tcb_info_issuer_chain, h->tcb_info_issuer_chain, c->tcb_info,
				   tcb_hash, c->tcb_info_signature, c, h, now, grace_seconds, &expired, err));
	VT_GUARD(check_signed_item(caches, "qe_identity", c->qe_identity_issuer_chain, h->qe_identity_issuer_chain,
				   c->qe_identity, qe_hash, c->qe_identity_signature, c, h, now, grace_seconds, &expired,
				   err));
	VT_GUARD(tcb_info_get(caches, c->tcb_info, tcb_hash, &te, err));
	VT_GUARD(qe_identity_get(caches, c->qe_identity, qe_hash, &qe, err));
	const struct vt_tcb_info *ti = &te->ti;
	const struct vt_qe_identity *qi = &qe->qi;

	/* ---- collateral: freshness */
	VT_GUARD(check_window("tcb_info", ti->issue_date, ti->next_update, now, grace_seconds, &expired, err));
	VT_GUARD(check_window("qe_identity", qi->issue_date, qi->next_update, now, grace_seconds, &expired, err));

	/* ---- collateral: agreement with the PCK certificate and the quote */
	if (pe->ext_ok)
		pck = pe->ext;
	else
		VT_GUARD(vt_pck_ext_parse(leaf, &pck, err));
	if (memcmp(ti->fmspc, pck.fmspc, 6) != 0) {
		char *a = vt_hex_encode(ti->fmspc, 6), *b = vt_hex_encode(pck.fmspc, 6);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "tcb_info.fmspc",
			     "TCB Info is for FMSPC %s, the PCK certificate says %s", a ? a : "?", b ? b : "?");
		free(a);
		free(b);
		goto out;
	}
	if (memcmp(ti->pceid, pck.pceid, 2) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "tcb_info.pceId",
			     "TCB Info PCE-ID %02x%02x, the PCK certificate says %02x%02x", ti->pceid[0], ti->pceid[1],
			     pck.pceid[0], pck.pceid[1]);
		goto out;
	}
	if (strcmp(ti->id, tee_id(q)) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "tcb_info.id", "TCB Info id \"%s\" for a %s quote",
			     ti->id, tee_id(q));
		goto out;
	}
	if (tdx && ti->version != 3) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "tcb_info.version",
			     "TCB Info version %d: TDX needs version 3", ti->version);
		goto out;
	}
	{
		const char *want = tdx ? "TD_QE" : "QE";
		if (strcmp(qi->id, want) != 0 || qi->version != 2) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "qe_identity.id",
				     "QE identity is \"%s\" version %d, expected \"%s\" version 2", qi->id, qi->version,
				     want);
			goto out;
		}
	}

	/* ---- tcb: QE identity */
	VT_GUARD(qe_identity_check(q, qi, &res->qe_status, err));

	/* ---- signature: the quote by the attestation key; tcb: QE vendor, TDX module identity */
	VT_GUARD(quote_signature_check(caches, q, err));
	if (tdx)
		VT_GUARD(tdx_module_check(q, ti, err));

	/* ---- tcb: level matching and convergence */
	VT_GUARD(tcb_evaluate(q, &pck, ti, res->qe_status, res, err));
	res->collateral_expired = expired;
	if (res->qe_status == VT_TCB_NOT_SUPPORTED) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "qe_report.isv_svn", "QE TCB level not supported");
		goto out;
	}
	if (res->status == VT_TCB_NOT_SUPPORTED) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "tcb_info.tcbLevels", "TCB level not supported");
		goto out;
	}
	if (res->status == VT_TCB_REVOKED) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "tcb_info.tcbLevels", "TCB status Revoked%s%s",
			     res->advisory_ids[0] ? ", advisories " : "", res->advisory_ids);
		goto out;
	}
out:
	tcb_entry_release(te);
	qe_entry_release(qe);
	pck_entry_release(pe);
	return rc;
}

/*
 * Without collateral, on the operator's explicit request
 * (vt_dcap_sources.tcb_unevaluated_insecure): everything that needs no
 * collateral, in the order of dcap_verify_hashed: the PCK chain to the
 * pinned root (no CRLs), the QE report signature and the attestation-key
 * binding, the quote signature and the QE vendor.  Not checked: revocation,
 * the QE identity and the TCB level; res->status and res->qe_status say
 * VT_TCB_NOT_EVALUATED.
 */
static vt_status dcap_verify_quote_only(struct vt_cache_set *caches, const struct vt_dcap_quote *q, int64_t now,
					struct vt_dcap_result *res, struct vt_err *err)
{
	vt_status rc = VT_OK;
	struct pck_entry *pe = NULL;
	memset(res, 0, sizeof(*res));
	res->status = VT_TCB_NOT_EVALUATED;
	res->qe_status = VT_TCB_NOT_EVALUATED;
	VT_GUARD(pck_chain_get(caches, q, now, &pe, err));
	VT_GUARD(qe_report_check(q, pe->leaf, err));
	VT_GUARD(quote_signature_check(caches, q, err));
out:
	pck_entry_release(pe);
	return rc;
}

/* ------------------------------------------- shared by the tdx and sgx entries */

#define QUOTE_MAX_B64 (4u * ((64u << 10) + 2u) / 3u) /* quotes are ~5 KB; 64 KiB is plenty */

vt_status vt_dcap_evidence_b64(const json_t *evidence, const char *key, size_t max_chars, uint8_t **out,
			       size_t *out_size, struct vt_err *err)
{
	*out = NULL;
	*out_size = 0;
	json_t *v = json_object_get(evidence, key);
	if (!json_is_string(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "member \"%s\" missing or not a string", key);
	size_t slen = json_string_length(v);
	if (slen > max_chars)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, key, "%zu base64 characters, at most %zu accepted", slen,
			       max_chars);
	vt_status rc = vt_b64_decode(json_string_value(v), slen, out, out_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "%s", key);
	return rc;
}

/*
 * Which collateral to fetch: the FMSPC of the PCK certificate and its CA
 * ("platform" / "processor").  Read from the still unverified chain; it only
 * selects what to fetch, and vt_dcap_verify checks all of it afterwards.
 */
static vt_status collateral_selector(const struct vt_dcap_quote *q, uint8_t fmspc[6], const char **ca,
				     struct vt_err *err)
{
	if (q->cert_data_type != 5)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "quote.sig_data.cert_data_type",
			       "certification data type %u: only 5 (PCK chain) is supported", q->cert_data_type);
	STACK_OF(X509) *sk = NULL;
	vt_status rc = pem_chain((const char *)q->cert_data, q->cert_data_size, VT_STEP_CHAIN, "quote.pck_chain", &sk,
				 err);
	if (rc != VT_OK)
		return rc;
	X509 *leaf = sk_X509_value(sk, 0);
	struct vt_pck_ext pck;
	rc = vt_pck_ext_parse(leaf, &pck, err);
	if (rc == VT_OK) {
		memcpy(fmspc, pck.fmspc, 6);
		char cn[128] = "";
		X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, cn, (int)sizeof(cn));
		*ca = strstr(cn, "Processor") != NULL ? "processor" : "platform";
	}
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

vt_status vt_dcap_verify_evidence(const struct vt_verify_ctx *ctx, const json_t *evidence, uint32_t tee_type,
				  const struct vt_binding *binding, uint8_t **quote_buf, struct vt_dcap_quote *q,
				  struct vt_dcap_result *res, struct vt_err *err)
{
	*quote_buf = NULL;
	memset(res, 0, sizeof(*res));
	if (ctx == NULL || evidence == NULL || q == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (!json_is_object(evidence))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "evidence is not a JSON object");
	const char *want = tee_type == VT_DCAP_TEE_TDX ? "TDX" : "SGX";
	vt_status rc;
	size_t n = 0;
	struct vt_dcap_collateral col;
	void *col_handle = NULL;
	memset(&col, 0, sizeof(col));
	VT_GUARD(vt_dcap_evidence_b64(evidence, "quote", QUOTE_MAX_B64, quote_buf, &n, err));
	VT_GUARD(vt_dcap_quote_parse(*quote_buf, n, q, err));
	if (q->tee_type != tee_type) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "quote.header.tee_type", "not a %s quote (tee type 0x%x)",
			     want, q->tee_type);
		goto out;
	}

	const struct vt_dcap_sources *src = ctx->dcap;
	/* where this verification caches: the sources' set, else the verifier's, else nowhere */
	struct vt_cache_set *caches =
		src != NULL && src->caches != NULL ? src->caches : vt_verifier_caches(ctx->verifier);
	const struct vt_dcap_collateral *cp = &col;
	const struct dcap_hashes *hp = NULL;
	if (src != NULL && src->collateral_path != NULL && src->collateral_path[0] != '\0') {
		/* operator configuration: shared, with the hashes of its fields */
		VT_GUARD(dcap_collateral_acquire(caches, src->collateral_path, &cp, &hp, &col_handle, err));
	} else if (src != NULL && src->tcb_unevaluated_insecure && src->pccs_url == NULL) {
		cp = NULL; /* quote, QE report and PCK chain only: TCB not evaluated */
	} else if (src != NULL && (!src->offline || src->cache_dir != NULL)) {
		/* PCS / PCCS (or, offline, its cache) for this platform's FMSPC and PCK CA */
		uint8_t fmspc[6];
		const char *ca = NULL;
		VT_GUARD(collateral_selector(q, fmspc, &ca, err));
		VT_GUARD(vt_dcap_fetch_collateral(src, ctx->client, tee_type == VT_DCAP_TEE_TDX, fmspc, ca, ctx->now,
						  &col, err));
	} else {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_COLLATERAL, "collateral",
			     "no collateral: give --collateral or configure a PCCS");
		goto out;
	}
	if (cp == NULL)
		VT_GUARD(dcap_verify_quote_only(caches, q, ctx->now, res, err));
	else
		VT_GUARD(dcap_verify_hashed(caches, q, cp, hp, ctx->now, src->grace_seconds, res, err));

	/* binding: the caller's report data, zero-padded to 64 bytes */
	if (binding != NULL && binding->report_data != NULL) {
		const uint8_t *rd = tee_type == VT_DCAP_TEE_TDX ? q->tdx.report_data : q->sgx.report_data;
		if (binding->report_data_size > 64) {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "report_data",
				     "expected report data is %zu bytes, at most 64 fit", binding->report_data_size);
			goto out;
		}
		uint8_t exp[64];
		memset(exp, 0, sizeof(exp));
		memcpy(exp, binding->report_data, binding->report_data_size);
		if (memcmp(exp, rd, 64) != 0) {
			char *hw = vt_hex_encode(exp, 64), *hs = vt_hex_encode(rd, 64);
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "report_data",
				     "report data does not match the expected binding: expected %s, seen %s",
				     hw ? hw : "?", hs ? hs : "?");
			free(hw);
			free(hs);
			goto out;
		}
	}
out:
	dcap_collateral_release(col_handle);
	vt_dcap_collateral_free(&col);
	if (rc != VT_OK) {
		free(*quote_buf);
		*quote_buf = NULL;
	}
	return rc;
}

static vt_status set_new(json_t *o, const char *k, json_t *v, struct vt_err *err)
{
	if (v == NULL || json_object_set_new(o, k, v) != 0)
		return nomem(err);
	return VT_OK;
}

vt_status vt_dcap_result_claims(const struct vt_dcap_result *res, json_t *claims, struct vt_err *err)
{
	vt_status rc;
	json_t *ids = json_array();
	if (ids == NULL)
		return nomem(err);
	const char *p = res->advisory_ids;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len > 0 && json_array_append_new(ids, json_stringn(p, len)) != 0) {
			json_decref(ids);
			return nomem(err);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	VT_GUARD(set_new(claims, "tcb_status", json_string(vt_tcb_status_name(res->status)), err));
	VT_GUARD(set_new(claims, "qe_tcb_status", json_string(vt_tcb_status_name(res->qe_status)), err));
	VT_GUARD(set_new(claims, "advisory_ids", json_incref(ids), err));
	VT_GUARD(set_new(claims, "tcb_date", json_string(res->tcb_date), err));
	VT_GUARD(set_new(claims, "latest_tcb_date", json_string(res->latest_tcb_date), err));
	if (res->status != VT_TCB_NOT_EVALUATED) /* no collateral: nothing to be fresh or stale */
		VT_GUARD(set_new(claims, "collateral_expiration_status",
				 json_string(res->collateral_expired ? "1" : "0"), err));
out:
	json_decref(ids);
	return rc;
}

vt_status vt_dcap_claim_hex(json_t *o, const char *key, const void *p, size_t n, struct vt_err *err)
{
	char buf[2 * 64 + 1];
	if (n > 64) {
		char *h = vt_hex_encode(p, n);
		if (h == NULL)
			return nomem(err);
		json_t *s = json_string(h);
		free(h);
		return set_new(o, key, s, err);
	}
	/* the usual case: on the stack, and lowercase hex needs no UTF-8 check */
	vt_hex_encode_to(p, n, buf);
	return set_new(o, key, json_stringn_nocheck(buf, 2 * n), err);
}

static bool is_hex_char(uint8_t ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

vt_status vt_dcap_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	*evidence_out = NULL;
	size_t i = 0;
	while (i < size && (bytes[i] == ' ' || bytes[i] == '\n' || bytes[i] == '\r' || bytes[i] == '\t'))
		i++;
	if (i < size && bytes[i] == '{')
		return vt_json_parse((const char *)bytes, size, 16u << 20, evidence_out, err);
	/* hex text (whitespace-trimmed) or the raw quote */
	size_t end = size;
	while (end > i && (bytes[end - 1] == ' ' || bytes[end - 1] == '\n' || bytes[end - 1] == '\r' ||
			   bytes[end - 1] == '\t'))
		end--;
	bool hex = end > i && (end - i) % 2 == 0;
	for (size_t k = i; hex && k < end; k++)
		hex = is_hex_char(bytes[k]);
	uint8_t *raw = NULL;
	size_t raw_size = size;
	const uint8_t *quote = bytes;
	if (hex) {
		char *s = strndup((const char *)bytes + i, end - i);
		if (s == NULL)
			return nomem(err);
		vt_status rc = vt_hex_decode(s, &raw, &raw_size, err);
		free(s);
		if (rc != VT_OK)
			return rc;
		quote = raw;
	}
	if (raw_size < 48 || quote[1] != 0 || quote[0] < 3 || quote[0] > 5) {
		free(raw);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "neither evidence JSON nor a DCAP quote (raw or hex)");
	}
	char *b64 = vt_b64_encode(quote, raw_size);
	free(raw);
	json_t *ev = b64 ? json_pack("{s:s}", "quote", b64) : NULL;
	free(b64);
	if (ev == NULL)
		return nomem(err);
	*evidence_out = ev;
	return VT_OK;
}
