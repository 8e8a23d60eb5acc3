/*
 * NVIDIA RIMs: signed SWID tags (formats/nvidia-gpu.md §5).  XML through
 * libxml2 with no network, no DTD and no entity expansion; the enveloped
 * XML signature through xmlsec1 (libxmlsec1-openssl) — no canonicalisation
 * or XML-DSig code of our own.  The signing key is the first KeyInfo
 * certificate's, set by us (xmlsec's key managers and KeyInfo processing
 * are not used: the chain is checked separately, at the caller's time).
 *
 * What xmlsec is allowed to do is narrowed to what NVIDIA's RIMs use:
 * one Reference, URI="" (the whole document minus the signature), the
 * transforms enveloped-signature and C14N (1.0, 1.1, exclusive), digest
 * SHA-384, signature ecdsa-sha384.  The Signature element must be the only
 * one in the document and a child of the root element.
 *
 * libxml2 and xmlsec1 are initialised once per process (nvx_xmlsec_ready);
 * xmlsec's default error output (stderr) is turned off then: a library
 * does not print.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <xmlsec/xmlsec.h> /* first: the other xmlsec headers need its types */
#include <xmlsec/errors.h>
#include <xmlsec/keys.h>
#include <xmlsec/list.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>

#include "crypto/cache.h"
#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define NS_SWID "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
#define NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define NS_SHA384 "http://www.w3.org/2001/04/xmlenc#sha384"
#define MAX_CERT_B64 16384
#define MAX_ATTR 256

/* ------------------------------------------------------------ init */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_ready;

static void xmlsec_init(void)
{
	xmlInitParser();
	if (xmlSecInit() < 0)
		return;
	if (xmlSecCheckVersion() != 1)
		return;
	xmlSecErrorsDefaultCallbackEnableOutput(0);
	if (xmlSecOpenSSLAppInit(NULL) < 0 || xmlSecOpenSSLInit() < 0)
		return;
	g_ready = true;
}

bool nvx_xmlsec_ready(struct vt_err *err)
{
	pthread_once(&g_once, xmlsec_init);
	if (!g_ready)
		vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "rim", "xmlsec1 (libxmlsec1-openssl) failed to initialise");
	ERR_clear_error();
	return g_ready;
}

/* ------------------------------------------------------------ XML helpers */

static bool is_elem(const xmlNode *n, const char *name, const char *ns)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0 &&
	       n->ns != NULL && n->ns->href != NULL && xmlStrcmp(n->ns->href, (const xmlChar *)ns) == 0;
}

/* The only child element `name` of `parent`; *count says how many there are. */
static xmlNode *child(const xmlNode *parent, const char *name, const char *ns, size_t *count)
{
	xmlNode *found = NULL;
	*count = 0;
	for (xmlNode *c = parent ? parent->children : NULL; c != NULL; c = c->next)
		if (is_elem(c, name, ns)) {
			if (found == NULL)
				found = c;
			(*count)++;
		}
	return found;
}

static size_t count_elems(const xmlNode *n, const char *name, const char *ns, size_t depth)
{
	size_t k = 0;
	if (depth > 64)
		return 2; /* deeper than any RIM: counted as "more than one" */
	for (const xmlNode *c = n; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_elem(c, name, ns))
			k++;
		k += count_elems(c->children, name, ns, depth + 1);
	}
	return k;
}

/* An attribute (no namespace, or `ns`) copied into buf; false when absent or too long. */
static bool attr(xmlNode *n, const char *name, const char *ns, char *buf, size_t size)
{
	xmlChar *v = ns ? xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns)
			: xmlGetNoNsProp(n, (const xmlChar *)name);
	if (v == NULL)
		return false;
	size_t len = strlen((const char *)v);
	bool ok = len < size;
	if (ok)
		memcpy(buf, v, len + 1);
	xmlFree(v);
	return ok;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
		return false;
	errno = 0;
	char *end = NULL;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ------------------------------------------------------------ RIM parts */

void vt_nvidia_rim_free(struct vt_nvidia_rim *rim)
{
	if (rim == NULL)
		return;
	for (size_t i = 0; i < rim->cert_count; i++)
		X509_free(rim->certs[i]);
	free(rim->file);
	free(rim->version);
	free(rim->product);
	free(rim->tag_id);
	free(rim->golden);
	free(rim);
}

static vt_status certs_of(xmlNode *sig, struct vt_nvidia_rim *rim, struct vt_err *err)
{
	size_t k;
	xmlNode *ki = child(sig, "KeyInfo", NS_DSIG, &k);
	xmlNode *xd = k == 1 ? child(ki, "X509Data", NS_DSIG, &k) : NULL;
	if (xd == NULL || k != 1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.KeyInfo",
			       "Signature/KeyInfo/X509Data is missing or repeated");
	for (xmlNode *c = xd->children; c != NULL; c = c->next) {
		if (!is_elem(c, "X509Certificate", NS_DSIG))
			continue;
		if (rim->cert_count == VT_NVIDIA_MAX_CERTS)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "rim.KeyInfo", "more than %d certificates",
				       VT_NVIDIA_MAX_CERTS);
		xmlChar *text = xmlNodeGetContent(c);
		if (text == NULL)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.KeyInfo", "empty X509Certificate");
		char *b64 = malloc(MAX_CERT_B64 + 1);
		size_t n = 0;
		bool too_long = false;
		for (const xmlChar *p = text; b64 != NULL && *p; p++) {
			if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
				continue;
			if (n == MAX_CERT_B64) {
				too_long = true;
				break;
			}
			b64[n++] = (char)*p;
		}
		xmlFree(text);
		if (b64 == NULL)
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rim", "out of memory");
		if (too_long) {
			free(b64);
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "rim.KeyInfo", "X509Certificate above %d characters",
				       MAX_CERT_B64);
		}
		uint8_t *der = NULL;
		size_t der_n = 0;
		char f[48];
		snprintf(f, sizeof(f), "rim.KeyInfo.X509Certificate[%zu]", rim->cert_count);
		vt_status rc = vt_b64_decode(b64, n, &der, &der_n, err);
		free(b64);
		if (rc == VT_OK)
			rc = vt_x509_from_der_cached(NULL, der, der_n, f, &rim->certs[rim->cert_count], err);
		free(der);
		if (rc != VT_OK) {
			ERR_clear_error();
			if (err != NULL)
				snprintf(err->field, sizeof(err->field), "%s", f);
			return rc;
		}
		rim->cert_count++;
	}
	if (rim->cert_count < 2)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.KeyInfo",
			       "%zu X509Certificate element(s); the signer and the root at least are expected",
			       rim->cert_count);
	return VT_OK;
}

/* The enveloped signature with the first certificate's key, through xmlsec1. */
static vt_status check_signature(xmlNode *sig, const struct vt_nvidia_rim *rim, struct vt_err *err)
{
	vt_status rc = VT_OK;
	EVP_PKEY *pk = X509_get0_pubkey(rim->certs[0]);
	if (pk == NULL || vt_ec_coord_size(pk) != 48) {
		ERR_clear_error();
		return vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "rim.KeyInfo.X509Certificate[0]",
			       "the RIM signer's key is not ECDSA P-384");
	}
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	xmlSecKeyPtr key = xmlSecKeyCreate();
	xmlSecKeyDataPtr data = NULL;
	if (ctx == NULL || key == NULL || EVP_PKEY_up_ref(pk) != 1) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rim", "out of memory");
		goto out;
	}
	data = xmlSecOpenSSLEvpKeyAdopt(pk); /* takes the reference */
	if (data == NULL) {
		EVP_PKEY_free(pk);
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "rim", "xmlsec cannot use the signer's key");
		goto out;
	}
	if (xmlSecKeySetValue(key, data) < 0) {
		xmlSecKeyDataDestroy(data);
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "rim", "xmlsec cannot use the signer's key");
		goto out;
	}
	ctx->signKey = key; /* owned by ctx from here */
	key = NULL;
	ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
	if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14N11Id) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecOpenSSLTransformSha384Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformInclC14N11Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformInclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformExclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecOpenSSLTransformEcdsaSha384Id) < 0) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "rim", "xmlsec transform setup failed");
		goto out;
	}
	if (xmlSecDSigCtxVerify(ctx, sig) < 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "rim.Signature",
			     "the XML signature could not be processed (a transform, algorithm or reference other "
			     "than the enveloped URI=\"\" with C14N, SHA-384 and ecdsa-sha384, or malformed)");
		goto out;
	}
	if (ctx->status != xmlSecDSigStatusSucceeded) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "rim.Signature",
			     "the XML signature does not verify with the signer certificate's key");
		goto out;
	}
	xmlSecSize refs = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
	xmlSecDSigReferenceCtxPtr ref = refs == 1 ? xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0) : NULL;
	if (ref == NULL || ref->uri == NULL || ref->uri[0] != '\0' || ref->status != xmlSecDSigStatusSucceeded) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_SIGNATURE, "rim.Signature",
			     "the signature must have exactly one reference, URI=\"\" (it has %u)", (unsigned)refs);
		goto out;
	}
out:
	if (key != NULL)
		xmlSecKeyDestroy(key);
	if (ctx != NULL)
		xmlSecDSigCtxDestroy(ctx);
	ERR_clear_error();
	return rc;
}

static int golden_cmp(const void *a, const void *b)
{
	const struct vt_nvidia_golden *x = a, *y = b;
	return x->index < y->index ? -1 : x->index > y->index;
}

static vt_status resource(xmlNode *n, size_t pos, struct vt_nvidia_golden *g, struct vt_err *err)
{
	char f[40], buf[MAX_ATTR];
	unsigned long v;
	snprintf(f, sizeof(f), "rim.Payload.Resource[%zu]", pos);
	memset(g, 0, sizeof(*g));
	if (!attr(n, "type", NULL, buf, sizeof(buf)) || strcmp(buf, "Measurement") != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "type is not \"Measurement\"");
	if (!attr(n, "index", NULL, buf, sizeof(buf)) || !parse_uint(buf, 254, &v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "index missing or not 0..254");
	g->index = (uint32_t)v;
	if (!attr(n, "active", NULL, buf, sizeof(buf)) || (strcmp(buf, "True") != 0 && strcmp(buf, "False") != 0))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "active is neither True nor False");
	g->active = strcmp(buf, "True") == 0;
	if (!attr(n, "alternatives", NULL, buf, sizeof(buf)) ||
	    !parse_uint(buf, VT_NVIDIA_RIM_MAX_ALTERNATIVES, &v) || v == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "alternatives missing or not 1..%d",
			       VT_NVIDIA_RIM_MAX_ALTERNATIVES);
	g->alt_count = v;
	if (!attr(n, "size", NULL, buf, sizeof(buf)) || !parse_uint(buf, VT_NVIDIA_RIM_MAX_VALUE, &v) || v == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "size missing or not 1..%d", VT_NVIDIA_RIM_MAX_VALUE);
	g->size = v;
	if (!attr(n, "name", NULL, g->name, sizeof(g->name)))
		g->name[0] = '\0';
	for (size_t a = 0; a < g->alt_count; a++) {
		char an[32];
		snprintf(an, sizeof(an), "Hash%zu", a);
		if (!attr(n, an, NS_SHA384, buf, sizeof(buf)) || strlen(buf) != 2 * g->size ||
		    vt_hex_decode_fixed(buf, g->alt[a], g->size, NULL) != VT_OK)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "%s missing or not %zu bytes of hex", an,
				       g->size);
	}
	return VT_OK;
}

static vt_status payload(xmlNode *root, struct vt_nvidia_rim *rim, struct vt_err *err)
{
	size_t k, count = 0;
	xmlNode *p = child(root, "Payload", NS_SWID, &k);
	if (p == NULL || k != 1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Payload", "Payload missing or repeated");
	for (xmlNode *c = p->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE) {
			if (!is_elem(c, "Resource", NS_SWID))
				return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Payload", "an element other than Resource");
			count++;
		}
	if (count == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Payload", "no measurement");
	if (count > VT_NVIDIA_RIM_MAX_MEASUREMENTS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "rim.Payload", "%zu measurements, at most %d", count,
			       VT_NVIDIA_RIM_MAX_MEASUREMENTS);
	rim->golden = calloc(count, sizeof(*rim->golden));
	if (rim->golden == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rim", "out of memory");
	for (xmlNode *c = p->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		vt_status rc = resource(c, rim->golden_count, &rim->golden[rim->golden_count], err);
		if (rc != VT_OK)
			return rc;
		rim->golden_count++;
	}
	qsort(rim->golden, rim->golden_count, sizeof(*rim->golden), golden_cmp);
	for (size_t i = 1; i < rim->golden_count; i++)
		if (rim->golden[i].index == rim->golden[i - 1].index)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Payload", "index %u appears twice",
				       rim->golden[i].index);
	return VT_OK;
}

static vt_status meta(xmlNode *root, struct vt_nvidia_rim *rim, struct vt_err *err)
{
	size_t k;
	char buf[MAX_ATTR];
	xmlNode *m = child(root, "Meta", NS_SWID, &k);
	if (m == NULL || k != 1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Meta", "Meta missing or repeated");
	if (!attr(m, "colloquialVersion", NULL, buf, sizeof(buf)) || buf[0] == '\0')
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Meta", "colloquialVersion missing or empty");
	lower(buf);
	rim->version = strdup(buf);
	rim->product = attr(m, "product", NULL, buf, sizeof(buf)) ? strdup(buf) : strdup("");
	rim->tag_id = attr(root, "tagId", NULL, buf, sizeof(buf)) ? strdup(buf) : strdup("");
	if (rim->version == NULL || rim->product == NULL || rim->tag_id == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rim", "out of memory");
	return VT_OK;
}

vt_status vt_nvidia_rim_load(const uint8_t *xml, size_t n, const char *file, struct vt_nvidia_rim **out,
			     struct vt_err *err)
{
	vt_status rc = VT_OK;
	xmlDocPtr doc = NULL;
	struct vt_nvidia_rim *rim = NULL;
	if (out == NULL || (xml == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "rim", "missing argument");
	*out = NULL;
	if (n == 0 || n > VT_NVIDIA_RIM_MAX_FILE)
		return vt_fail(err, n == 0 ? VT_E_PARSE : VT_E_LIMIT, VT_STEP_PARSE, "rim", "%zu bytes, 1..%zu accepted",
			       n, VT_NVIDIA_RIM_MAX_FILE);
	if (!nvx_xmlsec_ready(err))
		return VT_E_INTERNAL;
	rim = calloc(1, sizeof(*rim));
	if (rim == NULL || (file != NULL && (rim->file = strdup(file)) == NULL)) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rim", "out of memory");
		goto out;
	}
	VT_GUARD(vt_sha256(xml, n, rim->sha256, err));
	/* No network, no DTD loading, no entity substitution (no XML_PARSE_NOENT
	 * or XML_PARSE_DTDLOAD); whitespace kept (it is signed). */
	doc = xmlReadMemory((const char *)xml, (int)n, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim", "not well-formed XML");
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim", "a DOCTYPE is not accepted in a RIM");
		goto out;
	}
	xmlNode *root = xmlDocGetRootElement(doc);
	if (!is_elem(root, "SoftwareIdentity", NS_SWID)) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim", "the root element is not a SWID SoftwareIdentity");
		goto out;
	}
	size_t k;
	xmlNode *sig = child(root, "Signature", NS_DSIG, &k);
	if (sig == NULL || k != 1 || count_elems(root, "Signature", NS_DSIG, 0) != 1) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "rim.Signature",
			     "exactly one Signature, a child of SoftwareIdentity, is expected");
		goto out;
	}
	VT_GUARD(certs_of(sig, rim, err));
	VT_GUARD(check_signature(sig, rim, err));
	rim->signature_verified = true;
	/* Read only what the signature covered: the root's Meta and Payload. */
	VT_GUARD(meta(root, rim, err));
	VT_GUARD(payload(root, rim, err));
	*out = rim;
	rim = NULL;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	vt_nvidia_rim_free(rim);
	ERR_clear_error();
	if (rc != VT_OK && err != NULL && file != NULL) {
		char prefix[160];
		snprintf(prefix, sizeof(prefix), "RIM %.140s", file);
		vt_err_context(err, prefix);
	}
	return rc;
}

/* ------------------------------------------------------------ chain */

vt_status vt_nvidia_rim_check_chain(const struct vt_nvidia_rim *rim, int64_t now, struct vt_err *err)
{
	return nvx_rim_chain_cached(NULL, rim, now, err);
}

static const struct vt_cache_class rim_chain_class = {.name = "nvidia.rim_chain", .capacity = 64};

vt_status nvx_rim_chain_cached(struct vt_cache_set *caches, const struct vt_nvidia_rim *rim, int64_t now,
			       struct vt_err *err)
{
	vt_status rc = VT_OK;
	X509 *root = NULL;
	uint8_t key[32];
	if (rim == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "rim", "missing argument");
	struct nvx_chain c = {.count = rim->cert_count};
	for (size_t i = 0; i < rim->cert_count; i++)
		c.x[i] = rim->certs[i]; /* borrowed */
	VT_GUARD(vt_nvidia_rim_root(&root, err));
	struct vt_cache *cache = vt_cache_of(caches, &rim_chain_class);
	if (cache != NULL) {
		const void *parts[1] = {rim->sha256};
		size_t sizes[1] = {sizeof(rim->sha256)};
		VT_GUARD(vt_cache_key(key, "nvidia-rim-chain", 1, parts, sizes, err));
		if (vt_cache_get(cache, key, now, NULL))
			goto out;
	}
	VT_GUARD(nvx_chain_verify(&c, root, VT_NVIDIA_RIM_ROOT_SHA256, now, "rim.KeyInfo.X509Certificate", err));
	if (cache != NULL) {
		int64_t nb = VT_CACHE_ALWAYS_FROM, na = VT_CACHE_ALWAYS_TO;
		bool ok = vt_x509_window_narrow(root, &nb, &na);
		for (size_t i = 0; ok && i + 1 < c.count; i++)
			ok = vt_x509_window_narrow(c.x[i], &nb, &na);
		if (ok && now >= nb && now <= na)
			vt_cache_put(cache, key, nb, na, NULL);
	}
out:
	X509_free(root);
	return rc;
}

/* ------------------------------------------------------------ comparison */

static json_t *hexj(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	json_t *j = h ? json_string(h) : NULL;
	free(h);
	return j;
}

vt_status vt_nvidia_rim_compare(const struct vt_nvidia_rim *rim, const struct vt_nvidia_report *report, json_t **out,
				struct vt_err *err)
{
	if (rim == NULL || report == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "rim", "missing argument");
	json_t *matched = json_array(), *mismatched = json_array();
	json_t *res = matched && mismatched ? json_pack("{s:O,s:O}", "matched", matched, "mismatched", mismatched) : NULL;
	bool ok = res != NULL;
	for (size_t i = 0; ok && i < rim->golden_count; i++) {
		const struct vt_nvidia_golden *g = &rim->golden[i];
		if (!g->active)
			continue;
		/* golden index i is SPDM block Index i + 1 (the parser checked blocks[k].index == k + 1) */
		const struct vt_nvidia_block *b = g->index < report->block_count ? &report->blocks[g->index] : NULL;
		bool match = false;
		for (size_t a = 0; b != NULL && !match && a < g->alt_count; a++)
			match = b->value_size == g->size && memcmp(b->value, g->alt[a], g->size) == 0; /* public values */
		if (match) {
			ok = json_array_append_new(matched, json_integer(g->index)) == 0;
			continue;
		}
		json_t *allowed = json_array();
		for (size_t a = 0; allowed != NULL && a < g->alt_count; a++)
			if (json_array_append_new(allowed, hexj(g->alt[a], g->size)) != 0) {
				json_decref(allowed);
				allowed = NULL;
			}
		json_t *m = allowed ? json_pack("{s:I,s:o,s:o}", "index", (json_int_t)g->index, "seen",
						 b ? hexj(b->value, b->value_size) : json_null(), "allowed", allowed)
				    : NULL;
		ok = m != NULL && json_array_append_new(mismatched, m) == 0;
	}
	json_decref(matched);
	json_decref(mismatched);
	if (!ok) {
		json_decref(res);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "rim", "out of memory");
	}
	*out = res;
	return VT_OK;
}
