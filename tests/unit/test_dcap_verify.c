/*
 * DCAP verification (src/evidence/dcap/verify.c, tdx.c, sgx.c): every row of
 * the vectors README "Suggested fixed times" table for tdx/ and sgx/ at its
 * pinned time, negatives for each step, exhaustive byte flips of a real v4
 * quote, and the CLI.  Vectors are read from $VERITEE_VECTORS (skip when
 * absent); directory collateral is assembled in a temp dir at run time.
 */
#include <limits.h>
#include <libgen.h>
#include <sys/wait.h>

#include "testutil.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/evidence.h"
#include "veritee/json.h"

#define NEED_VECTORS()                                                  \
	const char *vdir = vt_test_vectors_dir();                       \
	if (vdir == NULL) {                                             \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n");   \
		skip();                                                 \
	}

#define T2023 "2023-07-01T00:00:00Z"
#define T2025 "2025-11-01T00:00:00Z"
#define T2026 "2026-03-01T00:00:00Z"
#define TSGX "2025-07-01T00:00:00Z"

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

/* The PCK CA + root of a quote's type-5 chain, as PEM (what PCS sends as SGX-PCK-CRL-Issuer-Chain). */
static void write_pck_crl_issuer_chain(const char *vdir, const char *quote_name, const char *dir)
{
	size_t n = 0;
	uint8_t *buf = vec(vdir, quote_name, &n);
	struct vt_dcap_quote q;
	struct vt_err e = {0};
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
	BIO *in = BIO_new_mem_buf(q.cert_data, (int)q.cert_data_size);
	BIO *out = BIO_new(BIO_s_mem());
	assert_non_null(in);
	assert_non_null(out);
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

struct dir_spec {
	const char *quote;      /* for the PCK CRL issuer chain */
	const char *tcbinfo;    /* PCS body file */
	const char *qeidentity; /* PCS body file, or NULL: taken from bundle */
	const char *bundle;     /* dcap-qvl JSON for qe_identity when qeidentity == NULL */
	const char *signing_chain;
	const char *pckcrl;
	const char *rootcrl;
};

/* A directory of PCS responses as vt_dcap_collateral_load reads it. */
static char *make_dir(const char *vdir, const struct dir_spec *s)
{
	char *d = vt_test_tmpdir();
	assert_non_null(d);
	copy_vec(vdir, s->tcbinfo, d, "tcbinfo.json");
	copy_vec(vdir, s->signing_chain, d, "tcbinfo_issuer_chain.pem");
	copy_vec(vdir, s->signing_chain, d, "qeidentity_issuer_chain.pem");
	if (s->qeidentity != NULL) {
		copy_vec(vdir, s->qeidentity, d, "qeidentity.json");
	} else {
		/* rebuild the PCS body {"enclaveIdentity": <exact text>, "signature": hex} from the bundle */
		size_t n = 0;
		uint8_t *b = vec(vdir, s->bundle, &n);
		json_t *doc = NULL;
		struct vt_err e = {0};
		assert_int_equal(vt_json_parse((const char *)b, n, 1u << 20, &doc, &e), VT_OK);
		const char *qe = json_string_value(json_object_get(doc, "qe_identity"));
		const char *sig = json_string_value(json_object_get(doc, "qe_identity_signature"));
		assert_non_null(qe);
		assert_non_null(sig);
		char *body = NULL;
		assert_true(asprintf(&body, "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}", qe, sig) > 0);
		write_file(d, "qeidentity.json", body, strlen(body));
		free(body);
		json_decref(doc);
		free(b);
	}
	copy_vec(vdir, s->pckcrl, d, "pckcrl.der");
	copy_vec(vdir, s->rootcrl, d, "rootcrl.der");
	write_pck_crl_issuer_chain(vdir, s->quote, d);
	return d;
}

static const struct dir_spec DIR_2023 = {
	.quote = "tdx/trustee_v4_quote_50806f000000.dat",
	.tcbinfo = "tdx/go-tdx-guest_tcbinfo_tdx_50806f000000_2023-06-18.json",
	.qeidentity = "tdx/go-tdx-guest_qeidentity_td_qe_2023-06-08.json",
	.signing_chain = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2018-05-21_to_2025-05-21.pem",
	.pckcrl = "roots/intel/intel_pck_platform_ca_crl_2023-06-08.der",
	.rootcrl = "roots/intel/intel_sgx_root_ca_crl_2023-04-03.der",
};

static const struct dir_spec DIR_AUTOMATA_2025 = {
	.quote = "tdx/azure_cvm_tdx_v4_quote.dat",
	.tcbinfo = "tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json",
	.qeidentity = "tdx/automata_qeidentity_td_qe_2025-10-13.json",
	.signing_chain = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem",
	.pckcrl = "roots/intel/intel_pck_platform_ca_crl_2025-10-13.der",
	.rootcrl = "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der",
};

static const struct dir_spec DIR_TRUSTEE_2025 = {
	.quote = "tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat",
	.tcbinfo = "tdx/trustee_tcbinfo_tdx_00a06d080000_2025-10-27.json",
	.qeidentity = "tdx/trustee_qeidentity_td_qe_2025-10-28.json",
	.signing_chain = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem",
	.pckcrl = "roots/intel/intel_pck_platform_ca_crl_2025-10-13.der",
	.rootcrl = "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der",
};

static const struct dir_spec DIR_V5_2026 = {
	.quote = "tdx/go-tdx-guest_v5_td15_quote.dat",
	.tcbinfo = "tdx/go-tdx-guest_tcbinfo_tdx_90c06f000000_2026-02-01.json",
	.qeidentity = NULL,
	.bundle = "tdx/phala_v5_quote_no_matching_tcb_level_collateral.json",
	.signing_chain = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem",
	.pckcrl = "roots/intel/DERIVED_intel_pck_platform_ca_crl_2026-02-18.der",
	.rootcrl = "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der",
};

/* ------------------------------------------------------- direct verifier */

static vt_status verify_with(const char *vdir, const char *quote_name, const struct vt_dcap_collateral *c,
			     int64_t now, int64_t grace, struct vt_dcap_result *res, struct vt_err *e)
{
	size_t n = 0;
	uint8_t *buf = vec(vdir, quote_name, &n);
	struct vt_dcap_quote q;
	vt_status rc = vt_dcap_quote_parse(buf, n, &q, e);
	if (rc == VT_OK)
		rc = vt_dcap_verify(&q, c, now, grace, res, e);
	free(buf);
	return rc;
}

static vt_status verify_path(const char *vdir, const char *quote_name, const char *coll_path, int64_t now,
			     int64_t grace, struct vt_dcap_result *res, struct vt_err *e)
{
	struct vt_dcap_collateral c;
	memset(&c, 0, sizeof(c));
	vt_status rc = vt_dcap_collateral_load(coll_path, &c, e);
	if (rc == VT_OK)
		rc = verify_with(vdir, quote_name, &c, now, grace, res, e);
	vt_dcap_collateral_free(&c);
	return rc;
}

static void expect_ok(const char *vdir, const char *quote, const char *coll, const char *t, vt_tcb_status want,
		      const char *advisories)
{
	struct vt_dcap_result res;
	struct vt_err e = {0};
	vt_status rc = verify_path(vdir, quote, coll, at(t), 0, &res, &e);
	if (rc != VT_OK)
		fail_msg("%s: %s/%s %s: %s", quote, vt_status_name(e.code), vt_step_name(e.step), e.field, e.detail);
	assert_string_equal(vt_tcb_status_name(res.status), vt_tcb_status_name(want));
	assert_string_equal(res.advisory_ids, advisories);
	assert_false(res.collateral_expired);
	assert_true(res.tcb_date[0] != '\0');
	assert_true(res.latest_tcb_date[0] != '\0');
	printf("# %s @ %s: %s [%s] tcb_date %s latest %s qe %s\n", quote, t, vt_tcb_status_name(res.status),
	       res.advisory_ids, res.tcb_date, res.latest_tcb_date, vt_tcb_status_name(res.qe_status));
}

static void expect_not_supported(const char *vdir, const char *quote, const char *coll, const char *t)
{
	struct vt_dcap_result res;
	struct vt_err e = {0};
	assert_int_equal(verify_path(vdir, quote, coll, at(t), 0, &res, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);
	assert_non_null(strstr(e.detail, "TCB level not supported"));
}

static void test_row_2023(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_2023);
	expect_ok(vdir, "tdx/trustee_v4_quote_50806f000000.dat", d, T2023, VT_TCB_UP_TO_DATE, "");
	expect_not_supported(vdir, "tdx/go-tdx-guest_spr_v4_quote_with_39_trailing_bytes.dat", d, T2023);
	rm_rf(d);
	free(d);
}

static void test_row_automata_2025(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_AUTOMATA_2025);
	expect_ok(vdir, "tdx/go-tdx-guest_gcp_cos113_v4_quote_8000B_zero_padded.dat", d, T2025, VT_TCB_UP_TO_DATE, "");
	expect_ok(vdir, "tdx/azure_cvm_tdx_v4_quote.dat", d, T2025, VT_TCB_OUT_OF_DATE,
		  "INTEL-SA-00960,INTEL-SA-00982,INTEL-SA-00986");
	rm_rf(d);
	free(d);
}

static void test_row_trustee_2025(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_TRUSTEE_2025);
	expect_ok(vdir, "tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat", d, T2025, VT_TCB_OUT_OF_DATE, "");
	rm_rf(d);
	free(d);
}

static void test_row_v5_2026(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_V5_2026);
	expect_ok(vdir, "tdx/go-tdx-guest_v5_td15_quote.dat", d, T2026, VT_TCB_UP_TO_DATE, "");
	/* not in the table, but the README evaluates it with the same collateral: no level matches */
	expect_not_supported(vdir, "tdx/trustee_v5_quote_90c06f000000.dat", d, T2026);
	rm_rf(d);
	free(d);
}

static void test_row_phala_bundles(void **state)
{
	(void)state;
	NEED_VECTORS();
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/tdx/phala_v5_quote_no_matching_tcb_level_collateral.json", vdir);
	expect_not_supported(vdir, "tdx/phala_v5_quote_no_matching_tcb_level.dat", path, T2026);
	snprintf(path, sizeof(path), "%s/sgx/phala_sgx_v3_quote_00a067110000_collateral.json", vdir);
	expect_ok(vdir, "sgx/phala_sgx_v3_quote_00a067110000.dat", path, TSGX,
		  VT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED, "INTEL-SA-00289,INTEL-SA-00615");
}

/* ------------------------------------------------------------ negatives */

static void test_expired_and_grace(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_2023);
	struct vt_dcap_result res;
	struct vt_err e = {0};
	/* 2023-08-01: the PCK CRL (nextUpdate 2023-07-08), TCB Info and QE identity have expired */
	int64_t late = at("2023-08-01T00:00:00Z");
	assert_int_equal(verify_path(vdir, "tdx/trustee_v4_quote_50806f000000.dat", d, late, 0, &res, &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "expired"));
	/* within a 30-day grace: accepted, flagged */
	vt_err_clear(&e);
	assert_int_equal(verify_path(vdir, "tdx/trustee_v4_quote_50806f000000.dat", d, late, 30 * 86400, &res, &e),
			 VT_OK);
	assert_true(res.collateral_expired);
	assert_int_equal(res.status, VT_TCB_UP_TO_DATE);
	/* a grace too short still fails */
	vt_err_clear(&e);
	assert_int_equal(verify_path(vdir, "tdx/trustee_v4_quote_50806f000000.dat", d, late, 86400, &res, &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	/* before the TCB Info was issued: not yet valid */
	vt_err_clear(&e);
	assert_int_equal(verify_path(vdir, "tdx/trustee_v4_quote_50806f000000.dat", d, at("2023-06-10T00:00:00Z"), 0,
				     &res, &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	rm_rf(d);
	free(d);
}

static void test_wrong_fmspc(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct dir_spec s = DIR_TRUSTEE_2025;
	s.tcbinfo = "tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json"; /* another FMSPC, valid then */
	char *d = make_dir(vdir, &s);
	struct vt_dcap_result res;
	struct vt_err e = {0};
	assert_int_equal(verify_path(vdir, "tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat", d, at(T2025), 0,
				     &res, &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "FMSPC"));
	rm_rf(d);
	free(d);
}

static void load_bundle(const char *vdir, const char *name, struct vt_dcap_collateral *c)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	struct vt_err e = {0};
	memset(c, 0, sizeof(*c));
	if (vt_dcap_collateral_load(path, c, &e) != VT_OK)
		fail_msg("%s: %s", name, e.detail);
}

static void test_tampered_collateral(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_dcap_collateral c;
	struct vt_dcap_result res;
	struct vt_err e = {0};
	const char *quote = "sgx/phala_sgx_v3_quote_00a067110000.dat";
	load_bundle(vdir, "sgx/phala_sgx_v3_quote_00a067110000_collateral.json", &c);
	assert_int_equal(verify_with(vdir, quote, &c, at(TSGX), 0, &res, &e), VT_OK);

	/* one byte of the tcbInfo text changed: its signature fails */
	char *p = strstr(c.tcb_info, "\"tcbEvaluationDataNumber\":");
	assert_non_null(p);
	p += strlen("\"tcbEvaluationDataNumber\":");
	*p = *p == '1' ? '2' : '1';
	assert_int_equal(verify_with(vdir, quote, &c, at(TSGX), 0, &res, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.field, "tcb_info"));
	*p = *p == '1' ? '2' : '1';

	/* one byte of the QE identity signature */
	vt_err_clear(&e);
	c.qe_identity_signature[10] ^= 0x01;
	assert_int_equal(verify_with(vdir, quote, &c, at(TSGX), 0, &res, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	c.qe_identity_signature[10] ^= 0x01;

	/* the pretty-printed NEGATIVE tcbinfo: the parsed content is Intel's, the bytes are not */
	size_t n = 0;
	uint8_t *body = vec(vdir, "sgx/NEGATIVE_teekit_tcbinfo_sgx_90c06f000000_prettyprinted.json", &n);
	char *value = NULL;
	uint8_t sig[64];
	assert_int_equal(vt_dcap_signed_json_split((const char *)body, n, "tcbInfo", &value, sig, &e), VT_OK);
	free(body);
	free(c.tcb_info);
	c.tcb_info = value;
	memcpy(c.tcb_info_signature, sig, 64);
	vt_err_clear(&e);
	/* at TSGX everything else is fresh; the signature is checked before any date of the TCB Info */
	assert_int_equal(verify_with(vdir, quote, &c, at(TSGX), 0, &res, &e), VT_E_REJECTED);
	if (e.step != VT_STEP_COLLATERAL || strstr(e.detail, "signature") == NULL)
		fail_msg("pretty-printed tcbinfo: %s/%s %s", vt_step_name(e.step), e.field, e.detail);
	vt_dcap_collateral_free(&c);
}

/* ---- synthetic PKI (OpenSSL) */

static X509 *mk_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca, long serial)
{
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 365);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 5);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static uint8_t *mk_crl(X509 *issuer, EVP_PKEY *key, const long *revoked, size_t nrev, long this_off, long next_off,
		       size_t *der_size)
{
	X509_CRL *crl = X509_CRL_new();
	assert_non_null(crl);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	ASN1_TIME *t = X509_gmtime_adj(NULL, this_off);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next_off);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	for (size_t i = 0; i < nrev; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();
		ASN1_INTEGER_set(s, revoked[i]);
		X509_REVOKED_set_serialNumber(r, s);
		ASN1_INTEGER_free(s);
		t = X509_gmtime_adj(NULL, -3600);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_TIME_free(t);
		X509_CRL_add0_revoked(crl, r);
	}
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	unsigned char *der = NULL;
	int len = i2d_X509_CRL(crl, &der);
	assert_true(len > 0);
	uint8_t *out = malloc((size_t)len);
	memcpy(out, der, (size_t)len);
	OPENSSL_free(der);
	X509_CRL_free(crl);
	*der_size = (size_t)len;
	return out;
}

static void test_crl_check_synthetic(void **state)
{
	(void)state;
	struct vt_err e = {0};
	EVP_PKEY *ca_key = NULL, *leaf_key = NULL, *other_key = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &ca_key, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &leaf_key, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &other_key, &e), VT_OK);
	X509 *ca = mk_cert(ca_key, "Test PCK CA", NULL, NULL, true, 1);
	X509 *other = mk_cert(other_key, "Test PCK CA", NULL, NULL, true, 1); /* same name, other key */
	X509 *leaf = mk_cert(leaf_key, "Test PCK", ca, ca_key, false, 0x1234);
	X509 *leaf2 = mk_cert(leaf_key, "Test PCK 2", ca, ca_key, false, 0x99);
	int64_t now = vt_now();
	bool expired = false;
	long revoked[] = {7, 0x1234, 42};
	size_t n = 0;
	uint8_t *crl = mk_crl(ca, ca_key, revoked, 3, -86400, 86400 * 30, &n);

	assert_int_equal(vt_dcap_crl_check(crl, n, ca, leaf, now, 0, &expired, "pck_crl", &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "revoked"));
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_crl_check(crl, n, ca, leaf2, now, 0, &expired, "pck_crl", &e), VT_OK);
	assert_false(expired);
	/* signed by another key under the same name */
	assert_int_equal(vt_dcap_crl_check(crl, n, other, leaf2, now, 0, &expired, "pck_crl", &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	/* issuer name differs */
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_crl_check(crl, n, leaf, leaf2, now, 0, &expired, "pck_crl", &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	/* expired (nextUpdate 40 days after now-60d), then within grace */
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_crl_check(crl, n, ca, leaf2, now + 40 * 86400, 0, &expired, "pck_crl", &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "expired"));
	assert_int_equal(vt_dcap_crl_check(crl, n, ca, leaf2, now + 40 * 86400, 20 * 86400, &expired, "pck_crl", &e),
			 VT_OK);
	assert_true(expired);
	/* garbage and trailing bytes */
	vt_err_clear(&e);
	uint8_t *longer = malloc(n + 1);
	memcpy(longer, crl, n);
	longer[n] = 0;
	assert_int_not_equal(vt_dcap_crl_check(longer, n + 1, ca, leaf2, now, 0, &expired, "pck_crl", &e), VT_OK);
	assert_int_not_equal(vt_dcap_crl_check(crl, n - 1, ca, leaf2, now, 0, &expired, "pck_crl", &e), VT_OK);
	free(longer);
	free(crl);
	X509_free(ca);
	X509_free(other);
	X509_free(leaf);
	X509_free(leaf2);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
}

static void test_unpinned_root(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err e = {0};
	EVP_PKEY *rk = NULL, *ik = NULL, *lk = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &rk, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &ik, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &lk, &e), VT_OK);
	X509 *root = mk_cert(rk, "Intel SGX Root CA", NULL, NULL, true, 1);
	X509 *inter = mk_cert(ik, "Intel SGX PCK Platform CA", root, rk, true, 2);
	X509 *leaf = mk_cert(lk, "Intel SGX PCK Certificate", inter, ik, false, 3);
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(b, leaf), 1);
	assert_int_equal(PEM_write_bio_X509(b, inter), 1);
	assert_int_equal(PEM_write_bio_X509(b, root), 1);
	char *pem = NULL;
	long pem_len = BIO_get_mem_data(b, &pem);

	size_t n = 0;
	uint8_t *buf = vec(vdir, "sgx/phala_sgx_v3_quote_00a067110000.dat", &n);
	struct vt_dcap_quote q;
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
	q.cert_data = (const uint8_t *)pem;
	q.cert_data_size = (size_t)pem_len;
	struct vt_dcap_collateral c;
	load_bundle(vdir, "sgx/phala_sgx_v3_quote_00a067110000_collateral.json", &c);
	struct vt_dcap_result res;
	assert_int_equal(vt_dcap_verify(&q, &c, at(TSGX), 0, &res, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "pinned"));

	/* only two certificates (no root): chain */
	BIO *b2 = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(b2, leaf), 1);
	assert_int_equal(PEM_write_bio_X509(b2, inter), 1);
	long l2 = BIO_get_mem_data(b2, &pem);
	q.cert_data = (const uint8_t *)pem;
	q.cert_data_size = (size_t)l2;
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_verify(&q, &c, at(TSGX), 0, &res, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);

	vt_dcap_collateral_free(&c);
	BIO_free(b);
	BIO_free(b2);
	free(buf);
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
}

/* v4 layout: signature data at 636; QE report at 636 + 134; auth data size at +384+64. */
#define V4_SIG_DATA 636u
#define V4_QE_REPORT (V4_SIG_DATA + 134u)
#define V4_QE_AUTH_SIZE (V4_QE_REPORT + 384u + 64u)

static void test_ak_binding(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_2023);
	struct vt_dcap_collateral c;
	struct vt_err e = {0};
	memset(&c, 0, sizeof(c));
	assert_int_equal(vt_dcap_collateral_load(d, &c, &e), VT_OK);
	size_t n = 0;
	uint8_t *buf = vec(vdir, "tdx/trustee_v4_quote_50806f000000.dat", &n);
	uint16_t auth = (uint16_t)(buf[V4_QE_AUTH_SIZE] | buf[V4_QE_AUTH_SIZE + 1] << 8);
	assert_true(auth > 0);
	struct vt_dcap_quote q;
	struct vt_dcap_result res;
	for (size_t i = 0; i < auth; i++) {
		buf[V4_QE_AUTH_SIZE + 2 + i] ^= 0xFF;
		vt_err_clear(&e);
		assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
		assert_int_equal(vt_dcap_verify(&q, &c, at(T2023), 0, &res, &e), VT_E_REJECTED);
		assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
		buf[V4_QE_AUTH_SIZE + 2 + i] ^= 0xFF;
	}
	/* and a different attestation key under the same QE report: binding again */
	buf[V4_SIG_DATA + 64 + 5] ^= 0x01;
	vt_err_clear(&e);
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
	assert_int_equal(vt_dcap_verify(&q, &c, at(T2023), 0, &res, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	free(buf);
	vt_dcap_collateral_free(&c);
	rm_rf(d);
	free(d);
}

/* Every byte of the signed region and of the QE report, XOR 0xFF: rejected. */
static void test_exhaustive_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_2023);
	struct vt_dcap_collateral c;
	struct vt_err e = {0};
	memset(&c, 0, sizeof(c));
	assert_int_equal(vt_dcap_collateral_load(d, &c, &e), VT_OK);
	size_t n = 0;
	uint8_t *buf = vec(vdir, "tdx/trustee_v4_quote_50806f000000.dat", &n);
	int64_t now = at(T2023);
	struct vt_dcap_quote q;
	struct vt_dcap_result res;
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
	assert_int_equal(q.signed_size, 632);
	assert_int_equal(vt_dcap_verify(&q, &c, now, 0, &res, &e), VT_OK);

	size_t signed_rejected = 0, parse_rejected = 0, qe_rejected = 0, sig_step = 0, qe_sig_step = 0;
	for (size_t i = 0; i < 632; i++) {
		buf[i] ^= 0xFF;
		vt_err_clear(&e);
		vt_status rc = vt_dcap_quote_parse(buf, n, &q, &e);
		if (rc != VT_OK)
			parse_rejected++;
		else
			rc = vt_dcap_verify(&q, &c, now, 0, &res, &e);
		if (rc != VT_OK)
			signed_rejected++;
		else
			fail_msg("flip of signed byte %zu accepted", i);
		if (e.step == VT_STEP_SIGNATURE)
			sig_step++;
		buf[i] ^= 0xFF;
	}
	for (size_t i = 0; i < 384; i++) {
		buf[V4_QE_REPORT + i] ^= 0xFF;
		vt_err_clear(&e);
		vt_status rc = vt_dcap_quote_parse(buf, n, &q, &e);
		if (rc == VT_OK)
			rc = vt_dcap_verify(&q, &c, now, 0, &res, &e);
		if (rc != VT_OK)
			qe_rejected++;
		else
			fail_msg("flip of QE report byte %zu accepted", i);
		if (e.step == VT_STEP_SIGNATURE && strstr(e.field, "qe_report") != NULL)
			qe_sig_step++;
		buf[V4_QE_REPORT + i] ^= 0xFF;
	}
	printf("# flips: signed region %zu/632 rejected (%zu at parse, %zu at signature), QE report %zu/384 "
	       "rejected (%zu by the QE report signature)\n",
	       signed_rejected, parse_rejected, sig_step, qe_rejected, qe_sig_step);
	assert_int_equal(signed_rejected, 632);
	assert_int_equal(qe_rejected, 384);
	assert_int_equal(qe_sig_step, 384);
	/* untouched again */
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q, &e), VT_OK);
	assert_int_equal(vt_dcap_verify(&q, &c, now, 0, &res, &e), VT_OK);
	free(buf);
	vt_dcap_collateral_free(&c);
	rm_rf(d);
	free(d);
}


/*
 * Field checks past the signatures, reached by editing the PARSED quote
 * (the signed bytes stay as they are, so every signature still verifies):
 * QE identity, QE vendor, TDX module identity, module TCB levels and the
 * TDX 1.5 relaunch advice (§6.2, §6.3) with the v5 quote's own collateral.
 */
static void test_parsed_field_checks(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *d = make_dir(vdir, &DIR_V5_2026);
	struct vt_dcap_collateral c;
	struct vt_err e = {0};
	memset(&c, 0, sizeof(c));
	assert_int_equal(vt_dcap_collateral_load(d, &c, &e), VT_OK);
	size_t n = 0;
	uint8_t *buf = vec(vdir, "tdx/go-tdx-guest_v5_td15_quote.dat", &n);
	int64_t now = at(T2026);
	struct vt_dcap_quote q0, q;
	struct vt_dcap_result res;
	assert_int_equal(vt_dcap_quote_parse(buf, n, &q0, &e), VT_OK);
	assert_true(q0.tdx.has_v15);
	assert_int_equal(q0.tdx.tee_tcb_svn[1], 1);

#define EXPECT_TCB_REJECT(mutation)                                                           \
	do {                                                                                  \
		q = q0;                                                                       \
		mutation;                                                                     \
		vt_err_clear(&e);                                                             \
		assert_int_equal(vt_dcap_verify(&q, &c, now, 0, &res, &e), VT_E_REJECTED);    \
		assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);                                   \
	} while (0)

	EXPECT_TCB_REJECT(q.qe_report.mr_signer[0] ^= 1);
	EXPECT_TCB_REJECT(q.qe_report.isv_prod_id ^= 1);
	EXPECT_TCB_REJECT(q.qe_report.misc_select ^= 1);
	EXPECT_TCB_REJECT(q.qe_report.isv_svn = 0); /* below every QE level */
	assert_non_null(strstr(e.detail, "QE TCB level not supported"));
	EXPECT_TCB_REJECT(q.qe_vendor_id[0] ^= 1);
	EXPECT_TCB_REJECT(q.tdx.mrsigner_seam[0] ^= 1);
	EXPECT_TCB_REJECT(q.tdx.seam_attributes[7] = 1);
	EXPECT_TCB_REJECT(q.tdx.tee_tcb_svn[1] = 0x7f); /* no TDX_7F identity */
	assert_non_null(strstr(e.detail, "TDX_7F"));
	EXPECT_TCB_REJECT(q.tdx.tee_tcb_svn[0] = 1); /* below every TDX_01 level */
	assert_non_null(strstr(e.detail, "not supported"));
	EXPECT_TCB_REJECT(q.tdx.tee_tcb_svn[2] = 1); /* late microcode below every TDX level */

	/* module TDX_01 at isvsvn 4 is OutOfDate: the UpToDate level converges to OutOfDate ... */
	q = q0;
	q.tdx.tee_tcb_svn[0] = 4;
	q.tdx.tee_tcb_svn2[0] = 4;
	assert_int_equal(vt_dcap_verify(&q, &c, now, 0, &res, &e), VT_OK);
	assert_int_equal(res.status, VT_TCB_OUT_OF_DATE);
	/* ... unless the module loaded since (tee_tcb_svn2) is the newest: relaunch advised */
	q.tdx.tee_tcb_svn2[0] = 13;
	assert_int_equal(vt_dcap_verify(&q, &c, now, 0, &res, &e), VT_OK);
	assert_int_equal(res.status, VT_TCB_TD_RELAUNCH_ADVISED);
	/* a v4-style body (no tee_tcb_svn2) gets no relaunch advice */
	q.tdx.has_v15 = false;
	assert_int_equal(vt_dcap_verify(&q, &c, now, 0, &res, &e), VT_OK);
	assert_int_equal(res.status, VT_TCB_OUT_OF_DATE);

	free(buf);
	vt_dcap_collateral_free(&c);
	rm_rf(d);
	free(d);
}

/* ------------------------------------------------------ registry entries */

static json_t *evidence_of(const char *vdir, const char *name)
{
	size_t n = 0;
	uint8_t *buf = vec(vdir, name, &n);
	json_t *ev = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_tee_tdx.load_file(buf, n, &ev, &e), VT_OK);
	free(buf);
	return ev;
}

static void test_tee_entries(void **state)
{
	(void)state;
	NEED_VECTORS();
	assert_ptr_equal(vt_tee_find("tdx"), &vt_tee_tdx);
	assert_ptr_equal(vt_tee_find("sgx"), &vt_tee_sgx);
	char *d = make_dir(vdir, &DIR_AUTOMATA_2025);
	struct vt_dcap_sources src = {.collateral_path = d};
	struct vt_verify_ctx ctx = {.now = at(T2025), .dcap = &src};
	json_t *ev = evidence_of(vdir, "tdx/azure_cvm_tdx_v4_quote.dat"), *claims = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_tee_tdx.verify(&ctx, ev, NULL, &claims, &e), VT_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "tcb_status")), "OutOfDate");
	json_t *ids = json_object_get(claims, "advisory_ids");
	assert_int_equal(json_array_size(ids), 3);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "INTEL-SA-00960");
	assert_string_equal(json_string_value(json_object_get(claims, "collateral_expiration_status")), "0");
	assert_string_equal(json_string_value(vt_json_pointer(claims, "/quote/header/version")), "0400");
	assert_string_equal(json_string_value(vt_json_pointer(claims, "/quote/header/tee_type")), "81000000");
	assert_non_null(vt_json_pointer(claims, "/quote/body/rtmr_3"));
	assert_non_null(vt_json_pointer(claims, "/quote/body/mr_td"));
	assert_true(json_is_boolean(vt_json_pointer(claims, "/td_attributes/debug")));
	assert_true(json_is_false(json_object_get(claims, "debug")));
	const char *rd = json_string_value(json_object_get(claims, "report_data"));
	assert_non_null(rd);
	assert_int_equal(strlen(rd), 128);

	/* binding: the quote's own report data passes, anything else fails at binding */
	uint8_t want[64];
	assert_int_equal(vt_hex_decode_fixed(rd, want, 64, &e), VT_OK);
	json_decref(claims);
	claims = NULL;
	struct vt_binding bind = {.report_data = want, .report_data_size = 64};
	assert_int_equal(vt_tee_tdx.verify(&ctx, ev, &bind, &claims, &e), VT_OK);
	json_decref(claims);
	claims = NULL;
	want[3] ^= 1;
	assert_int_equal(vt_tee_tdx.verify(&ctx, ev, &bind, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_null(claims);

	/* no collateral: fail closed */
	vt_err_clear(&e);
	struct vt_verify_ctx bare = {.now = at(T2025)};
	assert_int_equal(vt_tee_tdx.verify(&bare, ev, NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "no collateral"));
	vt_err_clear(&e);
	struct vt_dcap_sources offline = {.offline = true};
	bare.dcap = &offline;
	assert_int_equal(vt_tee_tdx.verify(&bare, ev, NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "no collateral"));
	/* a cc_eventlog that is not an event log */
	vt_err_clear(&e);
	json_object_set_new(ev, "cc_eventlog", json_string("AAECAwQFBgcICQ=="));
	assert_int_not_equal(vt_tee_tdx.verify(&ctx, ev, NULL, &claims, &e), VT_OK);
	assert_null(claims);
	json_object_set_new(ev, "cc_eventlog", json_null());
	vt_err_clear(&e);
	assert_int_equal(vt_tee_tdx.verify(&ctx, ev, NULL, &claims, &e), VT_OK);
	json_decref(claims);
	claims = NULL;
	/* a TDX quote offered as sgx */
	vt_err_clear(&e);
	assert_int_not_equal(vt_tee_sgx.verify(&ctx, ev, NULL, &claims, &e), VT_OK);
	/* unknown member */
	vt_err_clear(&e);
	json_object_set_new(ev, "bogus", json_true());
	assert_int_equal(vt_tee_tdx.verify(&ctx, ev, NULL, &claims, &e), VT_E_PARSE);
	json_decref(ev);
	rm_rf(d);
	free(d);

	/* sgx */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/sgx/phala_sgx_v3_quote_00a067110000_collateral.json", vdir);
	src.collateral_path = path;
	ctx.now = at(TSGX);
	ev = evidence_of(vdir, "sgx/phala_sgx_v3_quote_00a067110000.dat");
	vt_err_clear(&e);
	assert_int_equal(vt_tee_sgx.verify(&ctx, ev, NULL, &claims, &e), VT_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "tcb_status")),
			    "ConfigurationAndSWHardeningNeeded");
	assert_string_equal(json_string_value(vt_json_pointer(claims, "/body/mr_enclave")),
			    "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
	assert_string_equal(json_string_value(json_object_get(json_object_get(claims, "body"), "attributes.flags")),
			    "0500000000000000");
	assert_string_equal(json_string_value(vt_json_pointer(claims, "/header/version")), "0300");
	assert_true(json_is_false(json_object_get(claims, "debug")));
	json_decref(claims);
	json_decref(ev);

	/* load_file: hex text and JSON forms */
	size_t n = 0;
	uint8_t *raw = vec(vdir, "sgx/phala_sgx_v3_quote_00a067110000.dat", &n);
	char *hex = vt_hex_encode(raw, n);
	json_t *ev2 = NULL;
	assert_int_equal(vt_tee_sgx.load_file((const uint8_t *)hex, strlen(hex), &ev2, &e), VT_OK);
	assert_non_null(json_object_get(ev2, "quote"));
	char *txt = json_dumps(ev2, 0);
	json_t *ev3 = NULL;
	assert_int_equal(vt_tee_sgx.load_file((const uint8_t *)txt, strlen(txt), &ev3, &e), VT_OK);
	assert_true(json_equal(ev2, ev3));
	uint8_t junk[100] = {0};
	json_t *ev4 = NULL;
	assert_int_equal(vt_tee_sgx.load_file(junk, sizeof(junk), &ev4, &e), VT_E_PARSE);
	free(txt);
	free(hex);
	free(raw);
	json_decref(ev2);
	json_decref(ev3);
}

/* ------------------------------------------------------------------ CLI */

static char *veritee_bin(void)
{
	char self[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(k > 0);
	self[k] = '\0';
	char *dir = dirname(self); /* <build>/tests */
	char *out = NULL;
	assert_true(asprintf(&out, "%s/../veritee", dir) > 0);
	return out;
}

static char *slurp(const char *dir, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	uint8_t *p = NULL;
	size_t n = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_file_read(path, 1u << 20, &p, &n, &e), VT_OK);
	return (char *)p;
}

static void test_cli(void **state)
{
	(void)state;
	NEED_VECTORS();
	char *bin = veritee_bin();
	if (access(bin, X_OK) != 0) {
		printf("# SKIP: %s not built\n", bin);
		free(bin);
		skip();
	}
	char *d = make_dir(vdir, &DIR_AUTOMATA_2025);
	char *tmp = vt_test_tmpdir();
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof(cmd),
		 "'%s' verify tdx '%s/tdx/azure_cvm_tdx_v4_quote.dat' --collateral '%s' --at " T2025
		 " --json >'%s/out.json' 2>'%s/err.txt'",
		 bin, vdir, d, tmp, tmp);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	char *out = slurp(tmp, "out.json");
	assert_non_null(strstr(out, "\"tcb_status\": \"OutOfDate\""));
	assert_non_null(strstr(out, "INTEL-SA-00982"));
	free(out);

	/* the dcap-qvl JSON bundle for sgx */
	snprintf(cmd, sizeof(cmd),
		 "'%s' verify sgx '%s/sgx/phala_sgx_v3_quote_00a067110000.dat' --collateral "
		 "'%s/sgx/phala_sgx_v3_quote_00a067110000_collateral.json' --at " TSGX " --json >'%s/out.json' 2>/dev/null",
		 bin, vdir, vdir, tmp);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	out = slurp(tmp, "out.json");
	assert_non_null(strstr(out, "ConfigurationAndSWHardeningNeeded"));
	free(out);

	/* a flipped byte in mr_td: exit 1, the step named */
	size_t n = 0;
	uint8_t *q = vec(vdir, "tdx/azure_cvm_tdx_v4_quote.dat", &n);
	q[48 + 136] ^= 0x01;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/flipped.dat", tmp);
	struct vt_err e = {0};
	assert_int_equal(vt_file_write(path, q, n, 0644, &e), VT_OK);
	free(q);
	snprintf(cmd, sizeof(cmd), "'%s' verify tdx '%s' --collateral '%s' --at " T2025 " >/dev/null 2>'%s/err.txt'",
		 bin, path, d, tmp);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	out = slurp(tmp, "err.txt");
	assert_non_null(strstr(out, "REJECTED (tdx) at step signature"));
	free(out);

	/* expired collateral, then the same with --grace */
	snprintf(cmd, sizeof(cmd),
		 "'%s' verify tdx '%s/tdx/azure_cvm_tdx_v4_quote.dat' --collateral '%s' --at 2025-12-01T00:00:00Z "
		 ">/dev/null 2>'%s/err.txt'",
		 bin, vdir, d, tmp);
	st = system(cmd);
	/* stale collateral is a setup problem, not a verdict on the quote (docs/cli.md): exit 2 */
	assert_int_equal(WEXITSTATUS(st), 2);
	out = slurp(tmp, "err.txt");
	assert_non_null(strstr(out, "CANNOT VERIFY (tdx) at step collateral"));
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "'%s' verify tdx '%s/tdx/azure_cvm_tdx_v4_quote.dat' --collateral '%s' --at 2025-12-01T00:00:00Z "
		 "--grace 2592000 --json >'%s/out.json' 2>/dev/null",
		 bin, vdir, d, tmp);
	st = system(cmd);
	assert_int_equal(WEXITSTATUS(st), 0);
	out = slurp(tmp, "out.json");
	assert_non_null(strstr(out, "\"collateral_expiration_status\": \"1\""));
	free(out);

	/* no collateral */
	snprintf(cmd, sizeof(cmd),
		 "'%s' verify tdx '%s/tdx/azure_cvm_tdx_v4_quote.dat' --offline >/dev/null 2>'%s/err.txt'", bin, vdir,
		 tmp);
	st = system(cmd);
	assert_int_equal(WEXITSTATUS(st), 2); /* no collateral: setup (docs/cli.md) */
	out = slurp(tmp, "err.txt");
	assert_non_null(strstr(out, "no collateral"));
	free(out);

	rm_rf(tmp);
	free(tmp);
	rm_rf(d);
	free(d);
	free(bin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_2023),
		cmocka_unit_test(test_row_automata_2025),
		cmocka_unit_test(test_row_trustee_2025),
		cmocka_unit_test(test_row_v5_2026),
		cmocka_unit_test(test_row_phala_bundles),
		cmocka_unit_test(test_expired_and_grace),
		cmocka_unit_test(test_wrong_fmspc),
		cmocka_unit_test(test_tampered_collateral),
		cmocka_unit_test(test_crl_check_synthetic),
		cmocka_unit_test(test_unpinned_root),
		cmocka_unit_test(test_ak_binding),
		cmocka_unit_test(test_exhaustive_flips),
		cmocka_unit_test(test_parsed_field_checks),
		cmocka_unit_test(test_tee_entries),
		cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests_name("dcap_verify", tests, NULL, NULL);
}
