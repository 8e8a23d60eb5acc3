/*
 * Azure confidential VMs with the HCL vTPM: az-snp-vtpm and az-tdx-vtpm
 * (src/evidence/azure/).  The real evidence in $VERITEE_VECTORS is assembled
 * at run time into the KBS JSON form (never copied into the repo) and
 * verified at the README's fixed times; negatives for each step; exhaustive
 * byte flips over the HCL and IGVM headers; synthetic HCL parser cases.
 */
#include <limits.h>

#include "testutil.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/azure/hcl.h"
#include "veritee/azure.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/snp.h"

#define NEED_VECTORS()                                                  \
	const char *vdir = vt_test_vectors_dir();                       \
	if (vdir == NULL) {                                             \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n");   \
		skip();                                                 \
	}

#define T_SNP "2025-12-08T00:00:00Z"
#define T_TDX "2025-11-01T00:00:00Z"
#define CHALLENGE "challenge"

static int64_t at(const char *s)
{
	int64_t t = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_time_parse_rfc3339(s, &t, &e), VT_OK);
	return t;
}

static uint8_t *vec(const char *vdir, const char *name, size_t *n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	uint8_t *p = NULL;
	struct vt_err e = {0};
	if (vt_file_read(path, 1u << 24, &p, n, &e) != VT_OK)
		fail_msg("cannot read %s: %s", path, e.detail);
	return p;
}

static json_t *vec_json(const char *vdir, const char *name)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, name, &n);
	json_t *j = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_json_parse((const char *)p, n, 1u << 22, &j, &e), VT_OK);
	free(p);
	return j;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct vt_err e = {0};
	assert_int_equal(vt_file_write(path, p, n, 0644, &e), VT_OK);
}

static void copy_vec(const char *vdir, const char *from, const char *dir, const char *to)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, from, &n);
	write_file(dir, to, p, n);
	free(p);
}

static void rm_rf(const char *d)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static void set_str(json_t *o, const char *k, const char *v)
{
	assert_int_equal(json_object_set_new(o, k, json_string(v)), 0);
}

static void set_b64url(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	char *s = vt_b64url_encode(p, n);
	assert_non_null(s);
	set_str(o, k, s);
	free(s);
}

/* First certificate of a PEM file as DER. */
static uint8_t *first_cert_der(const char *vdir, const char *name, size_t *n)
{
	size_t pn = 0;
	uint8_t *pem = vec(vdir, name, &pn);
	BIO *b = BIO_new_mem_buf(pem, (int)pn);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	assert_true(len > 0);
	uint8_t *out = malloc((size_t)len);
	memcpy(out, der, (size_t)len);
	*n = (size_t)len;
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	free(pem);
	return out;
}

/* ------------------------------------------------------------ evidence assembly */

struct az_parts {
	uint8_t *hcl;
	size_t hcl_size;
	json_t *tpm_quote; /* {"signature": hex, "message": hex, "pcrs": [hex]} */
	uint8_t *hw;       /* vcek DER or td quote */
	size_t hw_size;
	const char *hw_key;
	int version;
};

static json_t *assemble(const struct az_parts *p)
{
	json_t *ev = json_object();
	assert_int_equal(json_object_set_new(ev, "version", json_integer(p->version)), 0);
	assert_int_equal(json_object_set_new(ev, "tpm_quote", json_deep_copy(p->tpm_quote)), 0);
	set_b64url(ev, "hcl_report", p->hcl, p->hcl_size);
	if (p->hw != NULL)
		set_b64url(ev, p->hw_key, p->hw, p->hw_size);
	return ev;
}

static void parts_free(struct az_parts *p)
{
	free(p->hcl);
	free(p->hw);
	json_decref(p->tpm_quote);
	memset(p, 0, sizeof(*p));
}

static void milan_parts(const char *vdir, struct az_parts *p)
{
	memset(p, 0, sizeof(*p));
	p->hcl = vec(vdir, "snp/azure_cvm_milan_hcl_report.bin", &p->hcl_size);
	p->tpm_quote = vec_json(vdir, "tpm/azure_cvm_snp_milan_tpm_quote_v1.json");
	p->hw = first_cert_der(vdir, "snp/azure_cvm_milan_vcek_ask_ark.pem", &p->hw_size);
	p->hw_key = "vcek";
	p->version = 1;
}

static void tdx_parts(const char *vdir, struct az_parts *p)
{
	memset(p, 0, sizeof(*p));
	p->hcl = vec(vdir, "tdx/azure_cvm_tdx_hcl_report.bin", &p->hcl_size);
	p->tpm_quote = vec_json(vdir, "tpm/azure_cvm_tdx_tpm_quote_v1.json");
	p->hw = vec(vdir, "tdx/azure_cvm_tdx_v4_quote.dat", &p->hw_size);
	p->hw_key = "td_quote";
	p->version = 1;
}

/* A JSON array of byte numbers -> hex string. */
static char *bytes_hex(const json_t *arr)
{
	size_t n = json_array_size(arr);
	uint8_t *b = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)json_integer_value(json_array_get(arr, i));
	char *h = vt_hex_encode(b, n);
	free(b);
	return h;
}

static uint8_t *bytes_of(const json_t *arr, size_t *n)
{
	*n = json_array_size(arr);
	uint8_t *b = malloc(*n ? *n : 1);
	for (size_t i = 0; i < *n; i++)
		b[i] = (uint8_t)json_integer_value(json_array_get(arr, i));
	return b;
}

/* Trustee's evidence-genoa.json (v0, byte arrays) -> KBS JSON parts (v1). */
static void genoa_parts(const char *vdir, struct az_parts *p, json_t **v0_out)
{
	memset(p, 0, sizeof(*p));
	json_t *v0 = vec_json(vdir, "snp/azure_cvm_genoa_evidence.json");
	json_t *q = json_object_get(v0, "quote");
	p->hcl = bytes_of(json_object_get(v0, "report"), &p->hcl_size);
	p->tpm_quote = json_object();
	char *h = bytes_hex(json_object_get(q, "signature"));
	set_str(p->tpm_quote, "signature", h);
	free(h);
	h = bytes_hex(json_object_get(q, "message"));
	set_str(p->tpm_quote, "message", h);
	free(h);
	json_t *pcrs = json_array();
	size_t i;
	json_t *pc;
	json_array_foreach (json_object_get(q, "pcrs"), i, pc) {
		h = bytes_hex(pc);
		json_array_append_new(pcrs, json_string(h));
		free(h);
	}
	json_object_set_new(p->tpm_quote, "pcrs", pcrs);
	const char *pem = json_string_value(json_object_get(v0, "vcek"));
	X509 *x = NULL;
	assert_int_equal(vt_x509_from_bytes((const uint8_t *)pem, strlen(pem), &x, NULL), VT_OK);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	p->hw = malloc((size_t)len);
	memcpy(p->hw, der, (size_t)len);
	p->hw_size = (size_t)len;
	OPENSSL_free(der);
	X509_free(x);
	p->hw_key = "vcek";
	p->version = 1;
	*v0_out = v0;
}

/* ------------------------------------------------------------ contexts */

struct env {
	const char *vdir;
	char amd[PATH_MAX];
	char bundle[PATH_MAX];
	char *coll_dir;
	struct vt_snp_sources snp;
	struct vt_dcap_sources dcap;
	struct vt_verify_ctx ctx;
};

static void snp_env(struct env *v, const char *vdir, bool certs)
{
	memset(v, 0, sizeof(*v));
	v->vdir = vdir;
	snprintf(v->amd, sizeof(v->amd), "%s/roots/amd", vdir);
	v->snp.offline = true;
	v->snp.certs_path = certs ? v->amd : NULL;
	v->ctx.now = at(T_SNP);
	v->ctx.snp = &v->snp;
}

/* The PCK CA + root of the quote's chain, as PEM (SGX-PCK-CRL-Issuer-Chain). */
static void write_pck_crl_issuer_chain(const char *vdir, const char *quote_name, const char *dir)
{
	size_t n = 0;
	uint8_t *buf = vec(vdir, quote_name, &n);
	struct vt_dcap_quote q;
	struct vt_err e = {0};
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
	BIO *in = BIO_new_mem_buf(q.cert_data, (int)q.cert_data_size);
	BIO *out = BIO_new(BIO_s_mem());
	for (int i = 0;; i++) {
		X509 *x = PEM_read_bio_X509(in, NULL, NULL, NULL);
		if (x == NULL)
			break;
		if (i > 0)
			assert_int_equal(PEM_write_bio_X509(out, x), 1);
		X509_free(x);
	}
	char *data = NULL;
	long len = BIO_get_mem_data(out, &data);
	write_file(dir, "pckcrl_issuer_chain.pem", data, (size_t)len);
	BIO_free(in);
	BIO_free(out);
	free(buf);
}

/* The README's 2025-11-01 row for tdx/azure_cvm_tdx_v4_quote.dat, as a PCS directory. */
static void tdx_env(struct env *v, const char *vdir, bool collateral)
{
	memset(v, 0, sizeof(*v));
	v->vdir = vdir;
	v->ctx.now = at(T_TDX);
	if (!collateral)
		return;
	char *d = vt_test_tmpdir();
	assert_non_null(d);
	const char *chain = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem";
	copy_vec(vdir, "tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json", d, "tcbinfo.json");
	copy_vec(vdir, "tdx/automata_qeidentity_td_qe_2025-10-13.json", d, "qeidentity.json");
	copy_vec(vdir, chain, d, "tcbinfo_issuer_chain.pem");
	copy_vec(vdir, chain, d, "qeidentity_issuer_chain.pem");
	copy_vec(vdir, "roots/intel/intel_pck_platform_ca_crl_2025-10-13.der", d, "pckcrl.der");
	copy_vec(vdir, "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der", d, "rootcrl.der");
	write_pck_crl_issuer_chain(vdir, "tdx/azure_cvm_tdx_v4_quote.dat", d);
	v->coll_dir = d;
	v->dcap.collateral_path = d;
	v->dcap.offline = true;
	v->ctx.dcap = &v->dcap;
}

static void env_free(struct env *v)
{
	if (v->coll_dir != NULL) {
		rm_rf(v->coll_dir);
		free(v->coll_dir);
	}
}

static vt_status run(const struct vt_tee *tee, const struct env *v, const json_t *ev, const void *nonce,
		     size_t nonce_size, json_t **claims, struct vt_err *e)
{
	struct vt_binding b = {.report_data = nonce, .report_data_size = nonce_size};
	vt_err_clear(e);
	*claims = NULL;
	return tee->verify(&v->ctx, ev, nonce ? &b : NULL, claims, e);
}

static void expect_ok(const struct vt_tee *tee, const struct env *v, const json_t *ev, const void *nonce,
		      size_t nonce_size, json_t **claims)
{
	struct vt_err e;
	vt_status rc = run(tee, v, ev, nonce, nonce_size, claims, &e);
	if (rc != VT_OK)
		fail_msg("%s: %s/%s %s: %s", tee->name, vt_status_name(e.code), vt_step_name(e.step), e.field, e.detail);
}

static void expect_fail(const struct vt_tee *tee, const struct env *v, const json_t *ev, const void *nonce,
			size_t nonce_size, vt_status code, vt_step step, const char *field)
{
	struct vt_err e;
	json_t *c = NULL;
	vt_status rc = run(tee, v, ev, nonce, nonce_size, &c, &e);
	json_decref(c);
	if (rc == VT_OK)
		fail_msg("%s: accepted, want %s/%s", tee->name, vt_status_name(code), vt_step_name(step));
	assert_int_equal(rc, e.code);
	assert_err(&e, code, step);
	if (field != NULL && strcmp(e.field, field) != 0)
		fail_msg("field %s (%s), want %s", e.field, e.detail, field);
}

static const char *cs(const json_t *c, const char *ptr)
{
	const char *s = json_string_value(vt_json_pointer(c, ptr));
	if (s == NULL)
		fail_msg("claim %s missing or not a string", ptr);
	return s;
}

/* ------------------------------------------------------------ az-snp-vtpm */

static void test_snp_milan(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct env v;
	struct az_parts p;
	json_t *claims = NULL;
	snp_env(&v, vdir, true);
	milan_parts(vdir, &p);
	/* the VCEK/ASK/ARK bundle as --certs instead (ASK and ARK taken from it) */
	snprintf(v.bundle, sizeof(v.bundle), "%s/snp/azure_cvm_milan_vcek_ask_ark.pem", vdir);
	v.snp.certs_path = v.bundle;
	json_t *ev = assemble(&p);
	expect_ok(&vt_tee_az_snp_vtpm, &v, ev, CHALLENGE, 9, &claims);
	/* README facts */
	char *m = NULL;
	uint8_t meas[48];
	assert_int_equal(vt_hex_decode_fixed("9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef"
					     "1a12e0c22944eb386d17c315",
					     meas, 48, NULL),
			 VT_OK);
	m = vt_b64_encode(meas, 48);
	assert_string_equal(cs(claims, "/measurement"), m);
	free(m);
	assert_string_equal(cs(claims, "/reported_tcb_bootloader"), "3");
	assert_string_equal(cs(claims, "/reported_tcb_tee"), "0");
	assert_string_equal(cs(claims, "/reported_tcb_snp"), "8");
	assert_string_equal(cs(claims, "/reported_tcb_microcode"), "115");
	assert_string_equal(cs(claims, "/policy_abi_major"), "0");
	assert_string_equal(cs(claims, "/policy_abi_minor"), "31");
	assert_string_equal(cs(claims, "/policy_smt_allowed"), "true");
	assert_string_equal(cs(claims, "/policy_debug_allowed"), "false");
	assert_string_equal(cs(claims, "/platform_smt_enabled"), "true");
	assert_string_equal(cs(claims, "/platform_tsme_enabled"), "false");
	assert_null(json_object_get(claims, "chip_id"));
	assert_string_equal(cs(claims, "/report_data"), "6368616c6c656e6765");
	const json_t *pcrs = json_object_get(p.tpm_quote, "pcrs");
	assert_string_equal(cs(claims, "/tpm/pcr00"), json_string_value(json_array_get(pcrs, 0)));
	assert_string_equal(cs(claims, "/tpm/pcr23"), json_string_value(json_array_get(pcrs, 23)));
	assert_string_equal(cs(claims, "/init_data"), json_string_value(json_array_get(pcrs, 8)));
	assert_int_equal(json_object_size(json_object_get(claims, "tpm")), 24);
	assert_true(json_is_true(vt_json_pointer(claims, "/hcl/vm_configuration/secure-boot")));
	assert_string_equal(cs(claims, "/hcl/vm_configuration/vmUniqueId"), "911B0EF8-9DBA-48B0-B275-4E4DF2D39252");
	assert_string_equal(cs(claims, "/snp/chip_id"),
			    "19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09"
			    "da6b324ac58acedaf679f24ba7db5f838c6cca");
	assert_int_equal(json_integer_value(vt_json_pointer(claims, "/tpm_quote/clock")), 2167057);
	json_decref(claims);

	/* no nonce: verified without the binding (CLI use) */
	expect_ok(&vt_tee_az_snp_vtpm, &v, ev, NULL, 0, &claims);
	json_decref(claims);
	/* the certificates from roots/amd also do (VCEK from the evidence) */
	v.snp.certs_path = v.amd;
	expect_ok(&vt_tee_az_snp_vtpm, &v, ev, CHALLENGE, 9, &claims);
	json_decref(claims);
	json_decref(ev);
	parts_free(&p);
}

static void test_snp_genoa(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct env v;
	struct az_parts p;
	json_t *claims = NULL, *v0 = NULL;
	uint8_t nonce[48];
	assert_int_equal(vt_hex_decode_fixed("0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b4"
					     "6094de6b64270ea35d950f",
					     nonce, 48, NULL),
			 VT_OK);
	snp_env(&v, vdir, true);
	genoa_parts(vdir, &p, &v0);
	json_t *ev = assemble(&p);
	expect_ok(&vt_tee_az_snp_vtpm, &v, ev, nonce, sizeof(nonce), &claims);
	assert_string_equal(cs(claims, "/reported_tcb_bootloader"), "10");
	assert_string_equal(cs(claims, "/reported_tcb_snp"), "23");
	assert_string_equal(cs(claims, "/reported_tcb_microcode"), "84");
	assert_string_equal(cs(claims, "/snp/product"), "Genoa");
	assert_int_equal(json_integer_value(vt_json_pointer(claims, "/hcl/version")), 2);
	char *hn = vt_hex_encode(nonce, 48);
	assert_string_equal(cs(claims, "/report_data"), hn);
	free(hn);
	json_decref(claims);
	/* the nonce is compared exactly: zero-padded to 64 it no longer matches */
	uint8_t padded[64] = {0};
	memcpy(padded, nonce, 48);
	expect_fail(&vt_tee_az_snp_vtpm, &v, ev, padded, 64, VT_E_REJECTED, VT_STEP_BINDING, "tpm_quote.extra_data");
	/* the same evidence in Trustee's legacy v0 form */
	expect_ok(&vt_tee_az_snp_vtpm, &v, v0, nonce, sizeof(nonce), &claims);
	assert_int_equal(json_integer_value(vt_json_pointer(claims, "/hcl/evidence_version")), 0);
	json_decref(claims);
	/* version 2 of the same evidence: its user-data (zeros) does not start with the nonce */
	json_object_set_new(ev, "version", json_integer(2));
	expect_fail(&vt_tee_az_snp_vtpm, &v, ev, nonce, sizeof(nonce), VT_E_REJECTED, VT_STEP_BINDING,
		    "hcl.runtime.user-data");
	json_decref(ev);
	json_decref(v0);
	parts_free(&p);
}

/* Trustee's evidence-v0/v1 files of another Milan CVM, as they are. */
static void test_snp_trustee_files(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct env v;
	json_t *claims = NULL;
	snp_env(&v, vdir, true);
	static const char *const files[] = {"tpm/azure_cvm_snp_milan_evidence_v0.json",
					    "tpm/azure_cvm_snp_milan_evidence_v1.json"};
	for (size_t i = 0; i < 2; i++) {
		size_t n = 0;
		uint8_t *b = vec(vdir, files[i], &n);
		json_t *ev = NULL;
		struct vt_err e = {0};
		assert_int_equal(vt_tee_az_snp_vtpm.load_file(b, n, &ev, &e), VT_OK);
		expect_ok(&vt_tee_az_snp_vtpm, &v, ev, CHALLENGE, 9, &claims);
		assert_string_equal(cs(claims, "/tpm/pcr00"),
				    "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced");
		json_decref(claims);
		json_decref(ev);
		free(b);
	}
}

static void test_snp_negatives(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct env v;
	struct az_parts p;
	json_t *ev;
	snp_env(&v, vdir, true);
	milan_parts(vdir, &p);
	const struct vt_tee *t = &vt_tee_az_snp_vtpm;

	/* a flipped byte in the HCL variable data: the runtime-data hash */
	char *vm = memmem(p.hcl, p.hcl_size, "\"vmUniqueId\":\"9", 15);
	assert_non_null(vm);
	vm[14] = '8';
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_BINDING, "hcl.variable_data");
	json_decref(ev);
	vm[14] = '9';

	/* the AK JWK replaced by another RSA key: caught by the runtime-data hash first */
	char *n = memmem(p.hcl, p.hcl_size, "\"n\":\"qR7L", 9);
	assert_non_null(n);
	n[5] = 'Q';
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_BINDING, "hcl.variable_data");
	json_decref(ev);
	n[5] = 'q';

	/* a flipped SNP report byte (measurement): the AMD signature */
	p.hcl[0x20 + 0x90] ^= 1;
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_SIGNATURE, NULL);
	json_decref(ev);
	p.hcl[0x20 + 0x90] ^= 1;

	/* the TPM quote's signed data flipped: the AK signature */
	json_t *saved = json_deep_copy(p.tpm_quote);
	char *msg = strdup(json_string_value(json_object_get(p.tpm_quote, "message")));
	size_t ml = strlen(msg);
	msg[ml - 1] = msg[ml - 1] == '0' ? '1' : '0';
	set_str(p.tpm_quote, "message", msg);
	free(msg);
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_SIGNATURE, NULL);
	json_decref(ev);
	/* a PCR value changed: the quote's PCR digest */
	json_decref(p.tpm_quote);
	p.tpm_quote = json_deep_copy(saved);
	json_array_set_new(json_object_get(p.tpm_quote, "pcrs"), 3,
			   json_string("0000000000000000000000000000000000000000000000000000000000000001"));
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_BINDING, "pcr_digest");
	json_decref(ev);
	json_decref(p.tpm_quote);
	p.tpm_quote = saved;

	/* wrong nonce, and a nonce with padding */
	ev = assemble(&p);
	expect_fail(t, &v, ev, "challengf", 9, VT_E_REJECTED, VT_STEP_BINDING, "tpm_quote.extra_data");
	expect_fail(t, &v, ev, "challenge\0", 10, VT_E_REJECTED, VT_STEP_BINDING, "tpm_quote.extra_data");
	json_decref(ev);

	/* no vcek, offline, no certificates: collateral */
	struct env bare;
	snp_env(&bare, vdir, false);
	uint8_t *hw = p.hw;
	p.hw = NULL;
	ev = assemble(&p);
	expect_fail(t, &bare, ev, CHALLENGE, 9, VT_E_NOTFOUND, VT_STEP_COLLATERAL, NULL);
	/* ... while --certs holding the VCEK is enough */
	snprintf(bare.bundle, sizeof(bare.bundle), "%s/snp/azure_cvm_milan_vcek_ask_ark.pem", vdir);
	bare.snp.certs_path = bare.bundle;
	json_t *c = NULL;
	expect_ok(t, &bare, ev, CHALLENGE, 9, &c);
	json_decref(c);
	json_decref(ev);
	p.hw = hw;

	/* truncated HCL report: parse */
	size_t full = p.hcl_size;
	static const size_t cuts[] = {0, 4, 31, 32, 0x4C0, 0x4C0 + 19, 0x4D4 + 100, 2345};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		p.hcl_size = cuts[i];
		ev = assemble(&p);
		expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_PARSE, VT_STEP_PARSE, NULL);
		json_decref(ev);
	}
	p.hcl_size = full;

	/* an SNP evidence with a TDX HCL report, unknown members, bad version */
	ev = assemble(&p);
	json_object_set_new(ev, "version", json_integer(3));
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_PARSE, VT_STEP_PARSE, "version");
	json_object_set_new(ev, "version", json_integer(1));
	json_object_set_new(ev, "extra", json_true());
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_PARSE, VT_STEP_PARSE, "evidence");
	json_decref(ev);
	parts_free(&p);
}

/* Every byte of the HCL header and of the IGVM request-data header, flipped. */
static void test_header_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct env v;
	struct az_parts p;
	snp_env(&v, vdir, true);
	milan_parts(vdir, &p);
	size_t offs[VT_HCL_HEADER_SIZE + VT_HCL_IGVM_HEADER_SIZE];
	size_t k = 0;
	for (size_t i = 0; i < VT_HCL_HEADER_SIZE; i++)
		offs[k++] = i;
	for (size_t i = 0; i < VT_HCL_IGVM_HEADER_SIZE; i++)
		offs[k++] = VT_HCL_IGVM_OFFSET + i;
	static const uint8_t masks[] = {0x01, 0x80, 0xFF};
	size_t rejected = 0;
	for (size_t i = 0; i < k; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			p.hcl[offs[i]] ^= masks[m];
			json_t *ev = assemble(&p), *c = NULL;
			struct vt_err e;
			vt_status rc = run(&vt_tee_az_snp_vtpm, &v, ev, CHALLENGE, 9, &c, &e);
			if (rc == VT_OK)
				fail_msg("flip 0x%02x at HCL offset 0x%zx accepted", masks[m], offs[i]);
			json_decref(c);
			json_decref(ev);
			p.hcl[offs[i]] ^= masks[m];
			rejected++;
		}
	}
	printf("# %zu header flips rejected\n", rejected);
	parts_free(&p);
}

/* The vTPM step on its own: another RSA key as the AK is a signature failure,
 * and evidence v2 requires the user-data to start with the nonce. */
static void test_tpm_step(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct az_parts p;
	milan_parts(vdir, &p);
	json_t *ev = assemble(&p);
	struct vt_az_evidence e;
	struct vt_hcl_runtime rt;
	struct vt_err err = {0};
	assert_int_equal(vt_az_evidence_parse(ev, "vcek", VT_HCL_REPORT_TYPE_SNP, &e, &err), VT_OK);
	assert_int_equal(vt_hcl_runtime_parse(&e.report, &rt, &err), VT_OK);
	EVP_PKEY *ak = NULL, *other = NULL;
	assert_int_equal(vt_hcl_runtime_ak(&rt, &ak, &err), VT_OK);
	struct vt_binding b = {.report_data = (const uint8_t *)CHALLENGE, .report_data_size = 9};
	struct vt_tpm_quote q;
	assert_int_equal(vt_az_tpm_verify(&e, &rt, ak, &b, &q, &err), VT_OK);
	assert_int_equal(q.extra_data_size, 9);

	assert_int_equal(vt_key_generate(VT_KEY_RSA2048, &other, &err), VT_OK);
	vt_err_clear(&err);
	assert_int_equal(vt_az_tpm_verify(&e, &rt, other, &b, &q, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);

	e.version = 2;
	vt_err_clear(&err);
	assert_int_equal(vt_az_tpm_verify(&e, &rt, ak, &b, &q, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "hcl.runtime.user-data");
	/* a user-data that does start with the nonce passes */
	free(rt.user_data);
	rt.user_data = (uint8_t *)strdup(CHALLENGE "tail");
	rt.user_data_size = 13;
	vt_err_clear(&err);
	assert_int_equal(vt_az_tpm_verify(&e, &rt, ak, &b, &q, &err), VT_OK);

	EVP_PKEY_free(ak);
	EVP_PKEY_free(other);
	vt_hcl_runtime_free(&rt);
	vt_az_evidence_free(&e);
	json_decref(ev);
	parts_free(&p);
}

/* ------------------------------------------------------------ az-tdx-vtpm */

static void test_tdx(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct env v;
	struct az_parts p;
	json_t *claims = NULL;
	tdx_env(&v, vdir, true);
	tdx_parts(vdir, &p);
	json_t *ev = assemble(&p);
	expect_ok(&vt_tee_az_tdx_vtpm, &v, ev, CHALLENGE, 9, &claims);
	assert_string_equal(cs(claims, "/tcb_status"), "OutOfDate");
	const char *adv = json_dumps(json_object_get(claims, "advisory_ids"), JSON_COMPACT);
	assert_non_null(strstr(adv, "INTEL-SA-00960"));
	assert_non_null(strstr(adv, "INTEL-SA-00982"));
	assert_non_null(strstr(adv, "INTEL-SA-00986"));
	free((void *)adv);
	assert_string_equal(cs(claims, "/quote/body/mr_td"),
			    "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7"
			    "ab7b");
	assert_string_equal(cs(claims, "/quote/header/tee_type"), "81000000");
	assert_string_equal(cs(claims, "/report_data"), "6368616c6c656e6765");
	const json_t *pcrs = json_object_get(p.tpm_quote, "pcrs");
	assert_string_equal(cs(claims, "/init_data"), json_string_value(json_array_get(pcrs, 8)));
	assert_string_equal(cs(claims, "/tpm/pcr00"),
			    "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273");
	assert_string_equal(cs(claims, "/tpm/pcr07"),
			    "4d98d960d39753d97c718812eb4baa6c4bae9eca0365d6100393bf227d91f894");
	assert_string_equal(cs(claims, "/hcl/report_type"), "tdx");
	assert_non_null(vt_json_pointer(claims, "/hcl/vm_configuration"));
	json_decref(claims);

	/* Trustee's v0 and v1 files of the same CVM */
	static const char *const files[] = {"tpm/azure_cvm_tdx_evidence_v0.json", "tpm/azure_cvm_tdx_evidence_v1.json"};
	for (size_t i = 0; i < 2; i++) {
		json_t *f = vec_json(vdir, files[i]);
		expect_ok(&vt_tee_az_tdx_vtpm, &v, f, CHALLENGE, 9, &claims);
		json_decref(claims);
		json_decref(f);
	}

	const struct vt_tee *t = &vt_tee_az_tdx_vtpm;
	/* wrong nonce */
	expect_fail(t, &v, ev, "challengf", 9, VT_E_REJECTED, VT_STEP_BINDING, "tpm_quote.extra_data");
	json_decref(ev);
	/* the TDREPORT's report_data differs from the quote's */
	p.hcl[0x20 + 128 + 40] ^= 1;
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_BINDING, "td_quote.report_data");
	json_decref(ev);
	p.hcl[0x20 + 128 + 40] ^= 1;
	/* variable data changed: the runtime-data hash */
	char *vm = memmem(p.hcl, p.hcl_size, "\"vmUniqueId\":\"", 14);
	assert_non_null(vm);
	vm[14] ^= 1;
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_BINDING, "hcl.variable_data");
	json_decref(ev);
	vm[14] ^= 1;
	/* a flipped byte in the TD quote body: the quote signature */
	p.hw[48 + 200] ^= 1;
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_SIGNATURE, NULL);
	json_decref(ev);
	p.hw[48 + 200] ^= 1;
	/* an SNP HCL report in TDX evidence: parse */
	struct az_parts s;
	milan_parts(vdir, &s);
	uint8_t *keep = p.hcl;
	size_t keep_n = p.hcl_size;
	p.hcl = s.hcl;
	p.hcl_size = s.hcl_size;
	ev = assemble(&p);
	expect_fail(t, &v, ev, CHALLENGE, 9, VT_E_PARSE, VT_STEP_PARSE, "hcl.igvm.report_type");
	json_decref(ev);
	p.hcl = keep;
	p.hcl_size = keep_n;
	parts_free(&s);
	env_free(&v);

	/* no collateral: fail closed */
	struct env bare;
	tdx_env(&bare, vdir, false);
	ev = assemble(&p);
	expect_fail(t, &bare, ev, CHALLENGE, 9, VT_E_REJECTED, VT_STEP_COLLATERAL, NULL);
	/* no td_quote: parse */
	json_object_del(ev, "td_quote");
	expect_fail(t, &bare, ev, CHALLENGE, 9, VT_E_PARSE, VT_STEP_PARSE, "td_quote");
	json_decref(ev);
	parts_free(&p);
}

/* ------------------------------------------------------------ synthetic HCL */

static void put32(uint8_t *p, uint32_t v)
{
	for (size_t i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A well-formed HCL report around `var` (hash_type 1), `pad` zero bytes after it. */
static uint8_t *synth(uint32_t report_type, const char *var, size_t pad, size_t *n)
{
	size_t vl = strlen(var);
	*n = VT_HCL_VAR_OFFSET + vl + pad;
	uint8_t *b = calloc(1, *n);
	memcpy(b, "HCLA", 4);
	put32(b + 4, 2);
	put32(b + 8, (uint32_t)(VT_HCL_IGVM_OFFSET + 20 + vl));
	put32(b + 12, 2);
	if (report_type == VT_HCL_REPORT_TYPE_TDX)
		b[0x20] = 0x81;
	put32(b + 0x4C0, (uint32_t)(20 + vl));
	put32(b + 0x4C4, 1);
	put32(b + 0x4C8, report_type);
	put32(b + 0x4CC, 1);
	put32(b + 0x4D0, (uint32_t)vl);
	memcpy(b + VT_HCL_VAR_OFFSET, var, vl);
	return b;
}

static void test_hcl_parser(void **state)
{
	(void)state;
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_RSA2048, &k, NULL), VT_OK);
	json_t *jwk = vt_key_to_jwk(k, NULL, false);
	assert_non_null(jwk);
	json_object_set_new(jwk, "kid", json_string("HCLAkPub"));
	json_t *rtj = json_pack("{s:[O], s:{s:b}, s:s}", "keys", jwk, "vm-configuration", "secure-boot", 1, "user-data",
				"00ff");
	char *var = json_dumps(rtj, JSON_COMPACT);
	size_t n = 0;
	struct vt_hcl_report h;
	struct vt_hcl_runtime rt;
	struct vt_err e = {0};

	uint8_t *b = synth(VT_HCL_REPORT_TYPE_SNP, var, 64, &n);
	assert_int_equal(vt_hcl_parse(b, n, &h, &e), VT_OK);
	assert_int_equal(h.report_type, VT_HCL_REPORT_TYPE_SNP);
	assert_int_equal(h.var_data_size, strlen(var));
	assert_ptr_equal(h.hw_report, b + 0x20);
	assert_int_equal(vt_hcl_runtime_parse(&h, &rt, &e), VT_OK);
	assert_int_equal(rt.user_data_size, 2);
	EVP_PKEY *ak = NULL;
	assert_int_equal(vt_hcl_runtime_ak(&rt, &ak, &e), VT_OK);
	assert_int_equal(EVP_PKEY_eq(ak, k), 1);
	EVP_PKEY_free(ak);
	vt_hcl_runtime_free(&rt);
	/* the hash check: report_data zero -> binding; the right hash -> ok */
	uint8_t rd[64] = {0};
	vt_err_clear(&e);
	assert_int_equal(vt_hcl_check_var_data(&h, rd, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	size_t ml = 0;
	assert_int_equal(vt_digest(EVP_sha256(), var, strlen(var), rd, &ml, NULL), VT_OK);
	assert_int_equal(vt_hcl_check_var_data(&h, rd, &e), VT_OK);
	/* every truncation fails cleanly */
	for (size_t cut = 0; cut < VT_HCL_VAR_OFFSET + strlen(var); cut += 7) {
		vt_err_clear(&e);
		assert_int_equal(vt_hcl_parse(b, cut, &h, &e), VT_E_PARSE);
	}
	/* non-zero padding */
	b[n - 1] = 1;
	vt_err_clear(&e);
	assert_int_equal(vt_hcl_parse(b, n, &h, &e), VT_E_PARSE);
	assert_string_equal(e.field, "hcl.padding");
	free(b);

	/* TDX: the slot after the 1024-byte TDREPORT must be zero */
	b = synth(VT_HCL_REPORT_TYPE_TDX, var, 0, &n);
	assert_int_equal(vt_hcl_parse(b, n, &h, &e), VT_OK);
	b[0x20 + 1100] = 1;
	vt_err_clear(&e);
	assert_int_equal(vt_hcl_parse(b, n, &h, &e), VT_E_PARSE);
	free(b);

	/* runtime JSON without HCLAkPub, with two, with an EC key, not JSON */
	static const char *const bad[] = {
		"{\"keys\":[]}",
		"{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\"},{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\"}]}",
		"{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"EC\"}]}",
		"{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\"}],\"user-data\":\"zz\"}",
		"{\"keys\":",
		"[1]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = synth(VT_HCL_REPORT_TYPE_SNP, bad[i], 0, &n);
		assert_int_equal(vt_hcl_parse(b, n, &h, &e), VT_OK);
		vt_err_clear(&e);
		assert_int_equal(vt_hcl_runtime_parse(&h, &rt, &e), VT_E_PARSE);
		assert_err(&e, VT_E_PARSE, VT_STEP_PARSE);
		free(b);
	}
	/* a JWK that is not a valid RSA key: parse at the AK step */
	b = synth(VT_HCL_REPORT_TYPE_SNP, "{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\",\"n\":\"AA\",\"e\":\"\"}]}", 0,
		  &n);
	assert_int_equal(vt_hcl_parse(b, n, &h, &e), VT_OK);
	assert_int_equal(vt_hcl_runtime_parse(&h, &rt, &e), VT_OK);
	vt_err_clear(&e);
	assert_int_not_equal(vt_hcl_runtime_ak(&rt, &ak, &e), VT_OK);
	vt_hcl_runtime_free(&rt);
	free(b);

	free(var);
	json_decref(rtj);
	json_decref(jwk);
	EVP_PKEY_free(k);
}

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(vt_tee_find("az-snp-vtpm"), &vt_tee_az_snp_vtpm);
	assert_ptr_equal(vt_tee_find("az-tdx-vtpm"), &vt_tee_az_tdx_vtpm);
	assert_non_null(strstr(vt_tee_names(), "az-snp-vtpm"));
	assert_false(vt_tee_az_snp_vtpm.insecure);
	json_t *ev = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_tee_az_snp_vtpm.load_file((const uint8_t *)"[1]", 3, &ev, &e), VT_E_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_hcl_parser),
		cmocka_unit_test(test_snp_milan),
		cmocka_unit_test(test_snp_genoa),
		cmocka_unit_test(test_snp_trustee_files),
		cmocka_unit_test(test_snp_negatives),
		cmocka_unit_test(test_header_flips),
		cmocka_unit_test(test_tpm_step),
		cmocka_unit_test(test_tdx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
