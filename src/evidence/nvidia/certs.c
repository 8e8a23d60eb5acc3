/*
 * Certificate chains as NVIDIA sends them, their verification to a pinned
 * root (the nvtrust rule: the last certificate sent is replaced by the
 * pinned root, formats/nvidia-gpu.md §3.1), the device-chain cache and the
 * leaf's FWID (TCG DICE extension, §3.2).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/cache.h"
#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

/* --------------------------------------------------------------- parsing */

void nvx_chain_free(struct nvx_chain *c)
{
	for (size_t i = 0; i < c->count; i++) {
		OPENSSL_free(c->der[i]);
		X509_free(c->x[i]);
	}
	memset(c, 0, sizeof(*c));
}

static vt_status add_der(struct vt_cache_set *caches, struct nvx_chain *c, const uint8_t *der, size_t n,
			 const char *field, struct vt_err *err)
{
	char f[64];
	if (c->count == VT_NVIDIA_MAX_CERTS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, field, "more than %d certificates", VT_NVIDIA_MAX_CERTS);
	snprintf(f, sizeof(f), "%s[%zu]", field, c->count);
	uint8_t *copy = OPENSSL_malloc(n ? n : 1);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
	memcpy(copy, der, n);
	X509 *x = NULL;
	vt_status rc = vt_x509_from_der_cached(caches, copy, n, f, &x, err);
	if (rc != VT_OK) {
		OPENSSL_free(copy);
		ERR_clear_error();
		return rc;
	}
	c->der[c->count] = copy;
	c->der_size[c->count] = n;
	c->x[c->count++] = x;
	return VT_OK;
}

/* Concatenated DER certificates, split by their outer TLV headers. */
static vt_status parse_der(struct vt_cache_set *caches, const uint8_t *p, size_t n, const char *field,
			   struct nvx_chain *c, struct vt_err *err)
{
	vt_status rc = VT_OK;
	while (n > 0 && rc == VT_OK) {
		const unsigned char *q = p;
		long len = 0;
		int tag = 0, cls = 0;
		int ret = ASN1_get_object(&q, &len, &tag, &cls, (long)n);
		size_t hdr = (size_t)(q - p);
		if ((ret & 0x80) || (ret & 1) || tag != V_ASN1_SEQUENCE || len < 0 || (size_t)len > n - hdr) {
			ERR_clear_error();
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "certificate %zu is not a DER SEQUENCE within the %zu bytes left", c->count, n);
		}
		size_t total = hdr + (size_t)len;
		rc = add_der(caches, c, p, total, field, err);
		p += total;
		n -= total;
	}
	return rc;
}

static vt_status parse_pem(struct vt_cache_set *caches, const uint8_t *p, size_t n, const char *field,
			   struct nvx_chain *c, struct vt_err *err)
{
	vt_status rc = VT_OK;
	BIO *bio = BIO_new_mem_buf(p, (int)n);
	if (bio == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
	for (;;) {
		unsigned char *der = NULL;
		char *name = NULL;
		long len = 0;
		ERR_clear_error();
		if (PEM_bytes_read_bio(&der, &len, &name, PEM_STRING_X509, bio, NULL, NULL) != 1) {
			unsigned long e = ERR_peek_last_error();
			bool end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
			if (!end)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
					     "PEM block after certificate %zu is malformed", c->count);
			else if (c->count == 0)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
					     "no PEM CERTIFICATE block and not DER");
			break;
		}
		OPENSSL_free(name);
		rc = len > 0 ? add_der(caches, c, der, (size_t)len, field, err)
			     : vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "empty PEM block");
		OPENSSL_free(der);
		if (rc != VT_OK)
			break;
	}
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}

vt_status nvx_chain_parse(struct vt_cache_set *caches, const uint8_t *p, size_t n, const char *field,
			  struct nvx_chain *out, struct vt_err *err)
{
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "empty certificate chain");
	if (n > VT_NVIDIA_MAX_CHAIN)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, field, "certificate chain of %zu bytes, at most %zu",
			       n, VT_NVIDIA_MAX_CHAIN);
	vt_status rc = p[0] == 0x30 ? parse_der(caches, p, n, field, out, err) : parse_pem(caches, p, n, field, out, err);
	if (rc != VT_OK)
		nvx_chain_free(out);
	return rc;
}

/* ------------------------------------------------------------ verifying */

static void cert_field(const struct nvx_chain *c, X509 *x, const char *field, char *out, size_t n)
{
	for (size_t i = 0; x != NULL && i < c->count; i++)
		if (X509_cmp(x, c->x[i]) == 0) {
			snprintf(out, n, "%s[%zu]", field, i);
			return;
		}
	snprintf(out, n, "%s", field);
}

vt_status nvx_chain_verify(const struct nvx_chain *c, X509 *root, const char *root_pin, int64_t now,
			   const char *field, struct vt_err *err)
{
	vt_status rc = VT_OK;
	char f[64];
	uint8_t fp[32];
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	if (c->count < 2)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field,
			       "%zu certificate(s): at least a signer and the root are needed", c->count);
	/* The last certificate sent is the root, replaced by the pinned copy:
	 * it must be that very certificate (SHA-256 of its DER). */
	VT_GUARD(vt_x509_fingerprint_sha256(c->x[c->count - 1], fp, err));
	if (!nvx_fingerprint_is(fp, root_pin)) {
		char *h = vt_hex_encode(fp, sizeof(fp));
		snprintf(f, sizeof(f), "%s[%zu]", field, c->count - 1);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, f,
			     "the last certificate is not the pinned root: SHA-256 %s, expected %s", h ? h : "?",
			     root_pin);
		free(h);
		goto out;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_new_null();
	if (store == NULL || ctx == NULL || untrusted == NULL || X509_STORE_add_cert(store, root) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, field, "X.509 store setup failed");
		goto out;
	}
	for (size_t i = 1; i + 1 < c->count; i++)
		if (!sk_X509_push(untrusted, c->x[i])) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, field, "out of memory");
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, store, c->x[0], untrusted) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, field, "X.509 context setup failed");
		goto out;
	}
	/* Only the pinned root is trusted (no default paths, no partial chains). */
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		cert_field(c, X509_STORE_CTX_get_current_cert(ctx), field, f, sizeof(f));
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, f, "certificate chain: %s (depth %d)",
			     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	/* The signer is an end entity allowed to sign. */
	snprintf(f, sizeof(f), "%s[0]", field);
	if (X509_check_ca(c->x[0]) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, f, "the signing certificate is a CA");
		goto out;
	}
	if ((X509_get_extension_flags(c->x[0]) & EXFLAG_KUSAGE) && !(X509_get_key_usage(c->x[0]) & KU_DIGITAL_SIGNATURE)) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, f, "the signing certificate's key usage excludes digitalSignature");
		goto out;
	}
out:
	ERR_clear_error();
	sk_X509_free(untrusted); /* the certificates stay owned by `c` */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/*
 * Verified device chains, remembered in the verifier's caches: a device
 * sends the same chain with every report.  Key: the pinned root's
 * fingerprint and the DER of every certificate sent before the root, in
 * order; an entry holds the window in which all of them and the root are
 * valid.  Only successes are cached.
 */
static const struct vt_cache_class device_chain_class = {.name = "nvidia.chain", .capacity = 64};

vt_status nvx_device_chain_check(struct vt_cache_set *caches, const struct nvx_chain *c, int64_t now,
				 struct vt_err *err)
{
	vt_status rc = VT_OK;
	X509 *root = NULL;
	uint8_t key[32], root_fp[32];
	if (c->count != VT_NVIDIA_CHAIN_LEN)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "certificate",
			       "the device sent %zu certificates; %d expected (FMC leaf, BROM, provisioner ICA, "
			       "identity, NVIDIA Device Identity CA)",
			       c->count, VT_NVIDIA_CHAIN_LEN);
	VT_GUARD(vt_nvidia_device_root(&root, err));
	struct vt_cache *cache = vt_cache_of(caches, &device_chain_class);
	if (cache != NULL) {
		const void *parts[VT_NVIDIA_MAX_CERTS + 1];
		size_t sizes[VT_NVIDIA_MAX_CERTS + 1], np = 0;
		VT_GUARD(vt_x509_fingerprint_sha256(root, root_fp, err));
		parts[np] = root_fp;
		sizes[np++] = sizeof(root_fp);
		for (size_t i = 0; i < c->count; i++) {
			parts[np] = c->der[i];
			sizes[np++] = c->der_size[i];
		}
		VT_GUARD(vt_cache_key(key, "nvidia-device-chain", np, parts, sizes, err));
		if (vt_cache_get(cache, key, now, NULL))
			goto out;
	}
	VT_GUARD(nvx_chain_verify(c, root, VT_NVIDIA_DEVICE_ROOT_SHA256, now, "certificate", err));
	if (cache != NULL) {
		int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO;
		bool ok = vt_x509_window_narrow(root, &nb, &na);
		for (size_t i = 0; ok && i + 1 < c->count; i++)
			ok = vt_x509_window_narrow(c->x[i], &nb, &na);
		if (ok && now >= nb && now <= na) /* an unreadable window: verified, just not cached */
			vt_cache_put(cache, key, nb, na, NULL);
	}
out:
	X509_free(root);
	return rc;
}

/* ------------------------------------------------------------ model */

void nvx_cert_cn(X509 *cert, char *buf, size_t n)
{
	buf[0] = '\0';
	X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
	int len = name ? X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)n) : -1;
	if (len < 0)
		buf[0] = '\0';
	ERR_clear_error();
}

enum nvx_arch nvx_arch_of_cert(X509 *cert)
{
	char cn[128];
	nvx_cert_cn(cert, cn, sizeof(cn));
	if (strncmp(cn, "GH", 2) == 0)
		return NVX_ARCH_HOPPER;
	if (strncmp(cn, "GB", 2) == 0)
		return NVX_ARCH_BLACKWELL;
	if (strncmp(cn, "LS_10", 5) == 0 || strncmp(cn, "LS10", 4) == 0)
		return NVX_ARCH_LS10;
	return NVX_ARCH_NONE;
}

/* ------------------------------------------------------------ FWID */

/* DER contents of the OIDs 2.23.133.5.4.1 (tcg-dice-TcbInfo) and
 * 2.23.133.5.4.1.1 (what Blackwell leaves carry), and of sha384. */
static const uint8_t OID_TCBINFO[] = {0x67, 0x81, 0x05, 0x05, 0x04, 0x01};
static const uint8_t OID_TCBINFO_1[] = {0x67, 0x81, 0x05, 0x05, 0x04, 0x01, 0x01};
static const uint8_t OID_SHA384[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};

/* A bounded walk over DER TLVs (OpenSSL's ASN1_get_object decodes each header). */
struct der {
	const uint8_t *p;
	size_t n;
};

struct tlv {
	int tag, cls;
	bool cons;
	const uint8_t *v;
	size_t len;
};

static bool der_next(struct der *d, struct tlv *t)
{
	if (d->n == 0 || d->n > LONG_MAX)
		return false;
	const unsigned char *q = d->p;
	long len = 0;
	int ret = ASN1_get_object(&q, &len, &t->tag, &t->cls, (long)d->n);
	size_t hdr = (size_t)(q - d->p);
	if ((ret & 0x80) || (ret & 1) || len < 0 || hdr > d->n || (size_t)len > d->n - hdr) {
		ERR_clear_error();
		return false;
	}
	t->cons = (ret & V_ASN1_CONSTRUCTED) != 0;
	t->v = q;
	t->len = (size_t)len;
	d->p = q + len;
	d->n -= hdr + (size_t)len;
	return true;
}

static bool is_universal(const struct tlv *t, int tag, bool cons)
{
	return t->cls == V_ASN1_UNIVERSAL && t->tag == tag && t->cons == cons;
}

/* FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER (sha384), digest OCTET STRING (48) } */
static bool fwid_digest(const struct tlv *seq, const uint8_t **digest)
{
	struct der d = {seq->v, seq->len};
	struct tlv oid, dig;
	if (!is_universal(seq, V_ASN1_SEQUENCE, true) || !der_next(&d, &oid) || !der_next(&d, &dig) || d.n != 0)
		return false;
	if (!is_universal(&oid, V_ASN1_OBJECT, false) || oid.len != sizeof(OID_SHA384) ||
	    memcmp(oid.v, OID_SHA384, sizeof(OID_SHA384)) != 0)
		return false;
	if (!is_universal(&dig, V_ASN1_OCTET_STRING, false) || dig.len != VT_NVIDIA_FWID_SIZE)
		return false;
	*digest = dig.v;
	return true;
}

/*
 * Hopper / LS10:  SEQUENCE { INTEGER, SubjectPublicKeyInfo, FWID }  (the
 *                 digest is the last 48 bytes, as nvtrust reads it)
 * Blackwell:      DiceTcbInfo ::= SEQUENCE { [0] vendor OPTIONAL, ...,
 *                 [6] fwids SEQUENCE OF FWID OPTIONAL, ..., [9] type OPTIONAL }
 *                 (implicit tags, ascending): fwids[0].digest.
 */
static bool ext_fwid(const uint8_t *p, size_t n, const uint8_t **digest)
{
	struct der top = {p, n};
	struct tlv seq, t;
	if (!der_next(&top, &seq) || top.n != 0 || !is_universal(&seq, V_ASN1_SEQUENCE, true))
		return false;
	struct der d = {seq.v, seq.len};
	if (!der_next(&d, &t))
		return false;
	if (is_universal(&t, V_ASN1_INTEGER, false)) {
		struct tlv spki, fwid;
		if (!der_next(&d, &spki) || !is_universal(&spki, V_ASN1_SEQUENCE, true) || !der_next(&d, &fwid) ||
		    d.n != 0)
			return false;
		return fwid_digest(&fwid, digest);
	}
	int last = -1;
	for (;;) {
		if (t.cls != V_ASN1_CONTEXT_SPECIFIC || t.tag <= last || t.tag > 9)
			return false;
		last = t.tag;
		if (t.tag == 6) {
			struct der f = {t.v, t.len};
			struct tlv first;
			if (!t.cons || !der_next(&f, &first) || !fwid_digest(&first, digest))
				return false;
			/* the other FWIDs must at least be well-formed */
			while (f.n > 0) {
				const uint8_t *ignored;
				if (!der_next(&f, &first) || !fwid_digest(&first, &ignored))
					return false;
			}
			return true; /* later fields are not needed */
		}
		if (d.n == 0 || !der_next(&d, &t))
			return false; /* no fwids */
	}
}

vt_status vt_nvidia_leaf_fwid(X509 *leaf, uint8_t out[VT_NVIDIA_FWID_SIZE], struct vt_err *err)
{
	const char *field = "certificate[0].fwid";
	if (leaf == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, field, "missing argument");
	const ASN1_OCTET_STRING *value = NULL;
	int count = X509_get_ext_count(leaf);
	for (int i = 0; i < count; i++) {
		X509_EXTENSION *ext = X509_get_ext(leaf, i);
		const ASN1_OBJECT *obj = ext ? X509_EXTENSION_get_object(ext) : NULL;
		const unsigned char *od = obj ? OBJ_get0_data(obj) : NULL;
		size_t ol = obj ? OBJ_length(obj) : 0;
		bool dice = od != NULL && ((ol == sizeof(OID_TCBINFO) && memcmp(od, OID_TCBINFO, ol) == 0) ||
					   (ol == sizeof(OID_TCBINFO_1) && memcmp(od, OID_TCBINFO_1, ol) == 0));
		if (!dice)
			continue;
		if (value != NULL)
			return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field,
				       "the leaf certificate has more than one TCG DICE TcbInfo extension");
		value = X509_EXTENSION_get_data(ext);
	}
	if (value == NULL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field,
			       "the leaf certificate has no TCG DICE TcbInfo extension (2.23.133.5.4.1)");
	const uint8_t *digest = NULL;
	if (!ext_fwid(ASN1_STRING_get0_data(value), (size_t)ASN1_STRING_length(value), &digest))
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field,
			       "the leaf certificate's TCG DICE extension holds no SHA-384 FWID in a known form");
	memcpy(out, digest, VT_NVIDIA_FWID_SIZE);
	return VT_OK;
}
