/*
 * libFuzzer target for RA-TLS certificates (src/ratls).  Each input is used as:
 *   1. a certificate (DER, else PEM) -> vt_ratls_cert_parse,
 *      vt_ratls_evidence_from_cert and the whole vt_ratls_verify_cert
 *      (a sim verifier with this process's root, sgx without collateral);
 *   2. an extension value -> vt_ratls_tcg_parse, vt_ratls_cmw_parse, and
 *      as a claims-buffer -> vt_ratls_claims_parse;
 *   3. inside a certificate of this process's key, as the value of the
 *      TCG DICE or the CMW extension (the first byte chooses), signed, so
 *      the self-signature holds and verification reaches key_binding;
 *   4. when it parses as a CMW record, rebuilt with a claims-buffer that
 *      binds this process's key, so the TEE's verifier (sim, sgx, ...) gets
 *      the fuzzed evidence through the RA-TLS path.
 * Invariants: parsers leave nothing allocated on failure (LeakSanitizer);
 * every verification returns a report; nothing made in 3. and 4. verifies
 * (the fuzzer does not know this process's sim platform key, and the
 * rebuilt claims change the report data the evidence would have to bind),
 * so a verified certificate there is a bug: abort.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/crypto.h"
#include "veritee/ratls.h"
#include "veritee/sim.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[] = "/tmp/veritee-fuzz-ratls-XXXXXX";
static bool g_ready;
static struct vt_verifier *g_v;
static EVP_PKEY *g_key;

static void cleanup(void)
{
	vt_verifier_free(g_v);
	EVP_PKEY_free(g_key);
	DIR *d = opendir(g_dir);
	if (d != NULL) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.' &&
			    (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
				continue;
			snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(g_dir);
}

static void setup(void)
{
	if (mkdtemp(g_dir) == NULL || vt_sim_ensure_keys(g_dir, NULL) != VT_OK ||
	    vt_key_generate(VT_KEY_P256, &g_key, NULL) != VT_OK)
		abort();
	char root[512];
	snprintf(root, sizeof(root), "%s/" VT_SIM_ROOT_CERT_FILE, g_dir);
	json_t *tees = json_pack("{s:{s:s}, s:{s:b}, s:{s:b}}", "sim", "root", root, "sgx", "tcb_unevaluated_insecure",
				 1, "tdx", "tcb_unevaluated_insecure", 1);
	struct vt_verifier_settings s = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	if (tees == NULL || vt_verifier_new(&s, &g_v, NULL) != VT_OK)
		abort();
	json_decref(tees);
	atexit(cleanup);
	g_ready = true;
}

static void verify(X509 *x, bool may_verify)
{
	struct vt_ratls_verify_opts o = {.verifier = g_v, .allow_legacy = true};
	json_t *rep = NULL;
	vt_status rc = vt_ratls_verify_cert(&o, x, &rep, NULL);
	if (rep == NULL)
		abort(); /* a report, always */
	if (rc == VT_OK && !may_verify)
		abort();
	json_decref(rep);
}

/* A certificate of g_key carrying `v` as the value of extension `oid`. */
static X509 *wrap(const char *oid, const uint8_t *v, size_t n)
{
	X509 *x = X509_new();
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e = NULL;
	bool ok = x && obj && os && X509_set_version(x, X509_VERSION_3) == 1 &&
		  ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
		  X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
		  X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL && X509_set_pubkey(x, g_key) == 1 &&
		  ASN1_OCTET_STRING_set(os, v, (int)n) == 1 &&
		  (e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL && X509_add_ext(x, e, -1) == 1 &&
		  X509_sign(x, g_key, EVP_sha256()) > 0;
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_ready)
		setup();
	if (size == 0 || size > VT_RATLS_MAX_EXTENSION)
		return 0;

	/* 1. a certificate */
	X509 *x = NULL;
	if (vt_ratls_cert_parse(data, size, &x, NULL) == VT_OK) {
		struct vt_ratls_evidence ev;
		if (vt_ratls_evidence_from_cert(x, &ev, NULL) == VT_OK)
			vt_ratls_evidence_free(&ev);
		verify(x, true); /* the shared vectors verify: fine */
		X509_free(x);
	}

	/* 2. extension values, claims */
	struct vt_ratls_evidence ev;
	if (vt_ratls_tcg_parse(data, size, &ev, NULL) == VT_OK)
		vt_ratls_evidence_free(&ev);
	bool cmw = vt_ratls_cmw_parse(data, size, &ev, NULL) == VT_OK;
	struct vt_ratls_evidence cl;
	memset(&cl, 0, sizeof(cl));
	if (vt_ratls_claims_parse(data, size, &cl, NULL) == VT_OK)
		vt_ratls_evidence_free(&cl);
	vt_ratls_evidence_free(&cl);

	/* 3. inside a certificate of our key */
	x = wrap((data[0] & 1) ? VT_RATLS_OID_CMW : VT_RATLS_OID_TCG_DICE, data, size);
	if (x != NULL) {
		verify(x, false);
		X509_free(x);
	}

	/* 4. a CMW record rebuilt to bind our key: the TEE's verifier sees the evidence */
	if (cmw) {
		X509 *probe = wrap(VT_RATLS_OID_CMW, data, size);
		uint8_t *spki = NULL, *claims = NULL, *ext = NULL;
		size_t spki_size = 0, claims_size = 0, ext_size = 0;
		char *json = malloc(ev.evidence_size + 1);
		if (probe && json && vt_ratls_spki_der(probe, &spki, &spki_size, NULL) == VT_OK &&
		    vt_ratls_claims_build(spki, spki_size, ev.pubkey_hash_alg, ev.nonce, ev.nonce_size, &claims,
					  &claims_size, NULL) == VT_OK) {
			memcpy(json, ev.evidence, ev.evidence_size);
			json[ev.evidence_size] = '\0';
			if (strlen(json) == ev.evidence_size &&
			    vt_ratls_cmw_build(ev.tee, json, claims, claims_size, &ext, &ext_size, NULL) == VT_OK) {
				X509 *y = wrap(VT_RATLS_OID_CMW, ext, ext_size);
				if (y != NULL)
					verify(y, false); /* the fuzzer cannot sign sim reports with our platform key */
				X509_free(y);
			}
		}
		free(json);
		free(spki);
		free(claims);
		free(ext);
		X509_free(probe);
		vt_ratls_evidence_free(&ev);
	}
	return 0;
}
