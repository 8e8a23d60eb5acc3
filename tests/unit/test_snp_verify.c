/* SEV-SNP verification against the real reports in ../shared/vectors (never
 * copied into the repo: certificates are linked into a temporary directory
 * at run time).  Fixed time 2025-12-08T00:00:00Z, inside every SNP
 * certificate's validity (vectors/README.md). */
#include "testutil.h"

#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "evidence/snp/sources.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/snp.h"
#include "veritee/util.h"

#define AT "2025-12-08T00:00:00Z"

#define NEED_VECTORS()                                                                                      \
	const char *vdir = vt_test_vectors_dir();                                                           \
	if (vdir == NULL) {                                                                                 \
		printf("# SKIP: ../shared/vectors not present (a fresh clone); set VERITEE_VECTORS\n");   \
		skip();                                                                                     \
	}

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
	uint8_t *p = NULL;
	struct vt_err e = {0};
	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	if (vt_file_read(path, 1u << 20, &p, n, &e) != VT_OK)
		fail_msg("cannot read %s: %s", path, e.detail);
	return p;
}

/* A temporary directory holding symlinks to the named vector files (NULL-terminated). */
static char *certs_dir(const char *vdir, const char *const *names)
{
	char *d = vt_test_tmpdir();
	assert_non_null(d);
	for (size_t i = 0; names[i] != NULL; i++) {
		char src[PATH_MAX], dst[PATH_MAX];
		snprintf(src, sizeof(src), "%s/%s", vdir, names[i]);
		char *base = strrchr(names[i], '/');
		snprintf(dst, sizeof(dst), "%s/%s", d, base ? base + 1 : names[i]);
		if (symlink(src, dst) != 0)
			fail_msg("symlink %s", dst);
	}
	return d;
}

static void rm_rf(const char *d)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* load_file + verify, offline, certificates from `certs` (may be NULL). */
static vt_status verify_bytes(const uint8_t *p, size_t n, const char *certs, const char *cache, int64_t now,
			      const struct vt_binding *bind, json_t **claims, struct vt_err *e)
{
	json_t *ev = NULL;
	vt_err_clear(e);
	*claims = NULL;
	vt_status rc = vt_tee_snp.load_file(p, n, &ev, e);
	if (rc != VT_OK)
		return rc;
	struct vt_snp_sources src = {.certs_path = certs, .cache_dir = cache, .offline = true};
	struct vt_verify_ctx ctx = {.now = now, .snp = &src};
	rc = vt_tee_snp.verify(&ctx, ev, bind, claims, e);
	json_decref(ev);
	return rc;
}

static const char *cstr(json_t *c, const char *k)
{
	json_t *v = json_object_get(c, k);
	if (!json_is_string(v))
		fail_msg("claim %s missing", k);
	return json_string_value(v);
}

static json_int_t cint(json_t *c, const char *k)
{
	json_t *v = json_object_get(c, k);
	if (!json_is_integer(v))
		fail_msg("claim %s missing", k);
	return json_integer_value(v);
}

static bool cbool(json_t *c, const char *k)
{
	json_t *v = json_object_get(c, k);
	if (!json_is_boolean(v))
		fail_msg("claim %s missing", k);
	return json_is_true(v);
}

/* ------------------------------------------------------------ positive vectors */

struct vcase {
	const char *report;
	size_t offset; /* of the report in the file (HCL: 0x20); load_file handles it anyway */
	const char *certs[4];
	unsigned version, vmpl, bl, tee, snp, ucode;
	const char *measurement, *chip_id_prefix, *signing_key;
	bool smt_allowed;
	int abi_minor;
};

static const struct vcase CASES[] = {
	{"snp/virtee-sev_milan_v2_report.hex", 0,
	 {"snp/virtee-sev_milan_v2_vcek.der", "snp/virtee-sev_milan_ask_ark_chain.pem"}, 2, 0, 3, 0, 8, 115,
	 "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
	 "d49554ec717f4e5b", "vcek", true, 0},
	{"snp/trustee_milan_v2_report.bin", 0,
	 {"snp/trustee_milan_v2_vcek.der", "roots/amd/ark_milan.pem", "roots/amd/ask_milan.pem"}, 2, 0, 3, 0, 8, 115,
	 "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
	 "c38427a30d4c7af9", "vcek", true, 31},
	{"snp/trustee_aws_milan_vlek_v3_report.bin", 0,
	 {"snp/trustee_aws_milan_vlek.der", "roots/amd/asvk_ark_milan_vlek_bundle.pem"}, 3, 1, 4, 0, 24, 217,
	 "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
	 "0000000000000000", "vlek", true, 0},
	{"snp/teekit_gcp_milan_v5_report.bin", 0,
	 {"snp/teekit_gcp_milan_vcek.pem", "snp/teekit_gcp_milan_ask_ark_chain.pem"}, 5, 0, 4, 0, 27, 222,
	 "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3",
	 "980cf7b61876cb37", "vcek", true, 0},
	{"snp/teekit_gcp_milan_v5_vmpl1_report.bin", 0,
	 {"snp/teekit_gcp_milan_vcek.pem", "roots/amd/ark_milan.pem", "roots/amd/ask_milan.pem"}, 5, 1, 4, 0, 27, 222,
	 "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3",
	 "980cf7b61876cb37", "vcek", true, 0},
	{"snp/constellation_azure_milan_v2_report_plus_trailer.bin", 0,
	 {"snp/constellation_azure_milan_vcek.der", "roots/amd/ark_milan.pem", "roots/amd/ask_milan.pem"}, 2, 0, 2, 0,
	 6, 93, "5677f1de87289e7ad2c7e99c805d0468b1a9ccd83f0d245afa5242d405da4d5725852f8c6550564870e5f3206dfb1841",
	 "9e44aaef02cfca6f", "vcek", true, 31},
	{"snp/azure_cvm_milan_hcl_report.bin", 0x20, {"snp/azure_cvm_milan_vcek_ask_ark.pem"}, 2, 0, 3, 0, 8, 115,
	 "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
	 "19752a447db501a3", "vcek", true, 31},
};

static void check_case(const char *vdir, const struct vcase *c, bool whole_file)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, c->report, &n);
	char *d = certs_dir(vdir, c->certs);
	json_t *claims = NULL;
	struct vt_err e = {0};
	const uint8_t *rp = whole_file ? p : p + c->offset;
	size_t rn = whole_file ? n : (strstr(c->report, ".hex") ? n : VT_SNP_REPORT_SIZE);
	vt_status rc = verify_bytes(rp, rn, d, NULL, at(AT), NULL, &claims, &e);
	if (rc != VT_OK)
		fail_msg("%s: %s/%s %s: %s", c->report, vt_status_name(rc), vt_step_name(e.step), e.field, e.detail);
	assert_string_equal(cstr(claims, "measurement"), c->measurement);
	assert_memory_equal(cstr(claims, "chip_id"), c->chip_id_prefix, 16);
	assert_int_equal(cint(claims, "version"), c->version);
	assert_int_equal(cint(claims, "vmpl"), c->vmpl);
	assert_int_equal(cint(claims, "reported_tcb_bootloader"), c->bl);
	assert_int_equal(cint(claims, "reported_tcb_tee"), c->tee);
	assert_int_equal(cint(claims, "reported_tcb_snp"), c->snp);
	assert_int_equal(cint(claims, "reported_tcb_microcode"), c->ucode);
	assert_int_equal(cbool(claims, "policy_smt_allowed"), c->smt_allowed);
	assert_false(cbool(claims, "policy_debug_allowed"));
	assert_false(cbool(claims, "policy_migrate_ma"));
	assert_int_equal(cint(claims, "policy_abi_major"), 0);
	assert_int_equal(cint(claims, "policy_abi_minor"), c->abi_minor);
	assert_string_equal(cstr(claims, "signing_key"), c->signing_key);
	assert_string_equal(cstr(claims, "product"), "Milan");
	assert_int_equal(strlen(cstr(claims, "report_data")), 128);
	assert_int_equal(strlen(cstr(claims, "init_data")), 64);
	if (c->version >= 5) {
		assert_non_null(json_object_get(claims, "launch_mit_vector"));
		assert_non_null(json_object_get(claims, "current_mit_vector"));
	}
	json_decref(claims);
	rm_rf(d);
	free(d);
	free(p);
}

static void test_vectors_verify(void **state)
{
	(void)state;
	NEED_VECTORS();
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		check_case(vdir, &CASES[i], false);
		check_case(vdir, &CASES[i], true); /* as the file is: hex, trailer, HCL wrapper */
	}
}

/* Genoa: the HCL report inside azure_cvm_genoa_evidence.json, its VCEK PEM. */
static void test_genoa_azure(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/azure_cvm_genoa_evidence.json", &n);
	json_t *doc = NULL, *claims = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_json_parse((const char *)p, n, n, &doc, &e), VT_OK);
	json_t *arr = json_object_get(doc, "report");
	assert_true(json_array_size(arr) >= 0x20 + VT_SNP_REPORT_SIZE);
	uint8_t rep[VT_SNP_REPORT_SIZE];
	for (size_t i = 0; i < VT_SNP_REPORT_SIZE; i++)
		rep[i] = (uint8_t)json_integer_value(json_array_get(arr, 0x20 + i));
	const char *pem = json_string_value(json_object_get(doc, "vcek"));
	assert_non_null(pem);
	static const char *const roots[] = {"roots/amd/ark_genoa.pem", "roots/amd/ask_genoa.pem", NULL};
	char *d = certs_dir(vdir, roots);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/vcek.pem", d);
	assert_int_equal(vt_file_write(path, pem, strlen(pem), 0644, &e), VT_OK);

	assert_int_equal(verify_bytes(rep, sizeof(rep), d, NULL, at(AT), NULL, &claims, &e), VT_OK);
	assert_string_equal(cstr(claims, "product"), "Genoa");
	assert_string_equal(cstr(claims, "measurement"),
			    "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae");
	assert_memory_equal(cstr(claims, "chip_id"), "0506ffba875e939c", 16);
	assert_int_equal(cint(claims, "reported_tcb_bootloader"), 10);
	assert_int_equal(cint(claims, "reported_tcb_snp"), 23);
	assert_int_equal(cint(claims, "reported_tcb_microcode"), 84);
	assert_int_equal(cint(claims, "guest_svn"), 65547);
	assert_int_equal(cint(claims, "vmpl"), 0);
	json_decref(claims);

	/* The Genoa report with the Milan ARK/ASK only: no pinned ARK-Genoa -> chain. */
	rm_rf(d);
	free(d);
	static const char *const milan[] = {"roots/amd/ark_milan.pem", "roots/amd/ask_milan.pem",
					    "snp/azure_cvm_genoa_vcek.pem", NULL};
	d = certs_dir(vdir, milan);
	assert_int_not_equal(verify_bytes(rep, sizeof(rep), d, NULL, at(AT), NULL, &claims, &e), VT_OK);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	rm_rf(d);
	free(d);
	json_decref(doc);
	free(p);
}

/* ------------------------------------------------------------ failures */

static vt_status verify_case(const char *vdir, const char *report, const char *const *certs, int64_t now,
			     struct vt_err *e)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, report, &n);
	char *d = certs ? certs_dir(vdir, certs) : NULL;
	json_t *claims = NULL;
	vt_status rc = verify_bytes(p, n, d, NULL, now, NULL, &claims, e);
	json_decref(claims);
	if (d) {
		rm_rf(d);
		free(d);
	}
	free(p);
	return rc;
}

static void test_vlek_expired(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const certs[] = {"snp/trustee_aws_milan_vlek.der", "roots/amd/asvk_ark_milan_vlek_bundle.pem",
					    NULL};
	struct vt_err e = {0};
	assert_int_equal(verify_case(vdir, "snp/trustee_aws_milan_vlek_v3_report.bin", certs, at("2026-11-22T00:00:00Z"),
				     &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "expired"));
	/* one second after its notAfter, too */
	assert_int_equal(verify_case(vdir, "snp/trustee_aws_milan_vlek_v3_report.bin", certs, at("2025-12-10T22:14:22Z"),
				     &e),
			 VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "expired"));
}

static void test_not_yet_valid(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const certs[] = {"snp/teekit_gcp_milan_vcek.pem", "snp/teekit_gcp_milan_ask_ark_chain.pem",
					    NULL};
	struct vt_err e = {0};
	/* VCEK notBefore = 2025-12-05T06:04:27Z */
	assert_int_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", certs, at("2025-12-05T06:04:26Z"), &e),
			 VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "not yet valid"));
	assert_int_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", certs, at("2025-12-05T06:04:28Z"), &e),
			 VT_OK);
}

static void test_not_amd_signed(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const names[] = {"snp/NEGATIVE_trustee_vcek_not_amd_signed_legacy_hwid.der",
					    "snp/NEGATIVE_trustee_vcek_not_amd_signed_octetstring_hwid.der"};
	for (size_t i = 0; i < 2; i++) {
		const char *certs[] = {names[i], "roots/amd/ark_milan.pem", "roots/amd/ask_milan.pem", NULL};
		struct vt_err e = {0};
		assert_int_equal(verify_case(vdir, "snp/trustee_milan_v2_report.bin", certs, at(AT), &e), VT_E_REJECTED);
		assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
		assert_non_null(strstr(e.detail, "signature"));
	}
}

static void test_wrong_product(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const certs[] = {"snp/trustee_milan_v2_vcek.der", "roots/amd/ark_genoa.pem",
					    "roots/amd/ask_genoa.pem", NULL};
	struct vt_err e = {0};
	assert_int_equal(verify_case(vdir, "snp/trustee_milan_v2_report.bin", certs, at(AT), &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "ARK-Milan"));
	/* v3 Milan report (CPUID) with a Genoa VCEK and every root: chain (issuer SEV-Genoa). */
	static const char *const certs2[] = {"snp/azure_cvm_genoa_vcek.pem", "roots/amd/ark_genoa.pem",
					     "roots/amd/ask_genoa.pem", "roots/amd/ark_milan.pem",
					     "roots/amd/ask_milan.pem", NULL};
	assert_int_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", certs2, at(AT), &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "SEV-Genoa"));
}

static void test_other_chip(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const certs[] = {"snp/virtee-sev_milan_v2_vcek.der", "roots/amd/ark_milan.pem",
					    "roots/amd/ask_milan.pem", NULL};
	struct vt_err e = {0};
	assert_int_equal(verify_case(vdir, "snp/trustee_milan_v2_report.bin", certs, at(AT), &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);
	assert_string_equal(e.field, "chip_id"); /* the hwID check comes before the SPLs */
	/* A VLEK where the report names a VCEK: tcb, signing_key */
	static const char *const certs2[] = {"snp/trustee_aws_milan_vlek.der", "roots/amd/asvk_ark_milan_vlek_bundle.pem",
					     NULL};
	assert_int_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", certs2, at(AT), &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);
	assert_string_equal(e.field, "signing_key");
}

/* Changing a signed byte: REPORTED_TCB is caught by the tcb step (the VCEK
 * is for the original TCB), any other signed byte by the signature step. */
static void test_changed_bytes(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const names[] = {"snp/trustee_milan_v2_vcek.der", "roots/amd/ark_milan.pem",
					    "roots/amd/ask_milan.pem", NULL};
	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/trustee_milan_v2_report.bin", &n);
	char *d = certs_dir(vdir, names);
	json_t *claims = NULL;
	struct vt_err e = {0};
	p[0x187] ^= 0x01; /* reported_tcb microcode */
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);
	assert_string_equal(e.field, "reported_tcb.microcode");
	p[0x187] ^= 0x01;
	p[0x03F] ^= 0x01; /* current_tcb microcode: only the signature covers it */
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	p[0x03F] ^= 0x01;
	memset(p + 0x2A0, 0, 144); /* zero signature */
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	rm_rf(d);
	free(d);
	free(p);
}

/* The TCB comparison itself, with the real VCEK's extensions. */
static void test_tcb_check_direct(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0, cn = 0;
	uint8_t *p = vec(vdir, "snp/trustee_milan_v2_report.bin", &n);
	uint8_t *c = vec(vdir, "snp/trustee_milan_v2_vcek.der", &cn);
	struct vt_snp_report rep;
	struct vt_snp_vek_ext ext, bad;
	struct vt_err e = {0};
	X509 *x = NULL;
	assert_int_equal(vt_snp_report_parse(p, n, false, &rep, &e), VT_OK);
	assert_int_equal(vt_x509_from_bytes(c, cn, &x, &e), VT_OK);
	assert_int_equal(vt_snp_vek_ext_parse(x, &ext, &e), VT_OK);
	assert_int_equal(snp_check_tcb(&rep, VT_SNP_PRODUCT_MILAN, &ext, false, &e), VT_OK);

	static const struct {
		size_t off;
		const char *field;
	} comps[] = {{offsetof(struct vt_snp_vek_ext, bl), "reported_tcb.bootloader"},
		     {offsetof(struct vt_snp_vek_ext, tee), "reported_tcb.tee"},
		     {offsetof(struct vt_snp_vek_ext, snp), "reported_tcb.snp"},
		     {offsetof(struct vt_snp_vek_ext, ucode), "reported_tcb.microcode"}};
	for (size_t i = 0; i < 4; i++) {
		bad = ext;
		((uint8_t *)&bad)[comps[i].off] ^= 1;
		vt_err_clear(&e);
		assert_int_equal(snp_check_tcb(&rep, VT_SNP_PRODUCT_MILAN, &bad, false, &e), VT_E_REJECTED);
		assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);
		assert_string_equal(e.field, comps[i].field);
	}
	bad = ext;
	bad.has_ucode = false;
	vt_err_clear(&e);
	assert_int_equal(snp_check_tcb(&rep, VT_SNP_PRODUCT_MILAN, &bad, false, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "reported_tcb.microcode");
	bad = ext;
	bad.hwid[63] ^= 1;
	vt_err_clear(&e);
	assert_int_equal(snp_check_tcb(&rep, VT_SNP_PRODUCT_MILAN, &bad, false, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "chip_id");
	bad = ext;
	bad.has_csp_id = true; /* a VCEK with a cspId */
	vt_err_clear(&e);
	assert_int_equal(snp_check_tcb(&rep, VT_SNP_PRODUCT_MILAN, &bad, false, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "signing_key");
	/* The same bytes read with the Turin layout do not match the Milan VCEK. */
	vt_err_clear(&e);
	assert_int_equal(snp_check_tcb(&rep, VT_SNP_PRODUCT_TURIN, &ext, false, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_TCB);
	X509_free(x);
	free(c);
	free(p);
}

static void test_binding(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const names[] = {"snp/trustee_milan_v2_vcek.der", "roots/amd/ark_milan.pem",
					    "roots/amd/ask_milan.pem", NULL};
	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/trustee_milan_v2_report.bin", &n);
	char *d = certs_dir(vdir, names);
	json_t *claims = NULL;
	struct vt_err e = {0};
	uint8_t want[65];
	memcpy(want, p + 0x50, 32); /* the rest of REPORT_DATA is zero: 32 bytes padded must match */
	struct vt_binding b = {.report_data = want, .report_data_size = 32};
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), &b, &claims, &e), VT_OK);
	assert_string_equal(cstr(claims, "report_data"),
			    "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2"
			    "0000000000000000000000000000000000000000000000000000000000000000");
	json_decref(claims);
	want[0] ^= 1;
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), &b, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_non_null(strstr(e.detail, "ed6c52d7"));
	assert_non_null(strstr(e.detail, "ec6c52d7"));
	b.report_data_size = 65;
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), &b, &claims, &e), VT_E_USAGE);
	rm_rf(d);
	free(d);
	free(p);
}

static void test_no_certs_offline(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err e = {0};
	assert_int_not_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", NULL, at(AT), &e), VT_OK);
	assert_int_equal(e.step, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "no VCEK"));
	assert_non_null(strstr(e.detail, "offline"));
	/* VCEK only: the ARK is missing */
	static const char *const vcek[] = {"snp/teekit_gcp_milan_vcek.pem", NULL};
	assert_int_not_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", vcek, at(AT), &e), VT_OK);
	assert_int_equal(e.step, VT_STEP_COLLATERAL);
	assert_non_null(strstr(e.detail, "ARK-Milan"));
	/* v2 without a VCEK: the product cannot be known */
	assert_int_not_equal(verify_case(vdir, "snp/trustee_milan_v2_report.bin", NULL, at(AT), &e), VT_OK);
	assert_int_equal(e.step, VT_STEP_COLLATERAL);
	/* ctx->snp == NULL: evidence only */
	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/teekit_gcp_milan_v5_report.bin", &n);
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(&e);
	assert_int_equal(vt_tee_snp.load_file(p, n, &ev, &e), VT_OK);
	struct vt_verify_ctx ctx = {.now = at(AT)};
	assert_int_not_equal(vt_tee_snp.verify(&ctx, ev, NULL, &claims, &e), VT_OK);
	assert_int_equal(e.step, VT_STEP_COLLATERAL);
	json_decref(ev);
	free(p);
}

/* AMD's shipped ARK/ASK/ASVK (builtin_roots, as a verifier's snp state
 * sets it): a VCEK or VLEK is all a report needs; the shipped copies are
 * the pinned ones; --product names the product of a version 2 report. */
static vt_status verify_builtin(const char *vdir, const char *report, const char *certs_rel, vt_snp_product product,
				int64_t now, struct vt_err *e)
{
	size_t n = 0;
	uint8_t *p = vec(vdir, report, &n);
	char certs[1024];
	if (certs_rel)
		snprintf(certs, sizeof(certs), "%s/%s", vdir, certs_rel);
	json_t *ev = NULL, *claims = NULL;
	vt_err_clear(e);
	vt_status rc = vt_tee_snp.load_file(p, n, &ev, e);
	struct vt_snp_sources src = {.certs_path = certs_rel ? certs : NULL, .offline = true, .builtin_roots = true,
				     .product = product};
	struct vt_verify_ctx ctx = {.now = now, .snp = &src};
	if (rc == VT_OK)
		rc = vt_tee_snp.verify(&ctx, ev, NULL, &claims, e);
	json_decref(ev);
	json_decref(claims);
	free(p);
	return rc;
}

static void test_builtin_roots(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err e = {0};
	/* the shipped certificates are byte for byte the pinned ones */
	size_t count = 0;
	for (size_t i = 0; vt_snp_builtin_cert_at(i); i++, count++) {
		const struct vt_snp_builtin_cert *c = vt_snp_builtin_cert_at(i);
		assert_non_null(strstr(c->pem, "-----BEGIN CERTIFICATE-----"));
		assert_true(strcmp(c->role, "ARK") == 0 || strcmp(c->role, "ASK") == 0 || strcmp(c->role, "ASVK") == 0);
	}
	assert_int_equal(count, 9);
	/* a VCEK alone: the chain comes from the shipped ARK/ASK */
	assert_int_equal(verify_builtin(vdir, "snp/teekit_gcp_milan_v5_report.bin", "snp/teekit_gcp_milan_vcek.pem",
					VT_SNP_PRODUCT_UNKNOWN, at(AT), &e),
			 VT_OK);
	/* a VLEK alone: the shipped ASVK */
	assert_int_equal(verify_builtin(vdir, "snp/trustee_aws_milan_vlek_v3_report.bin", "snp/trustee_aws_milan_vlek.der",
					VT_SNP_PRODUCT_UNKNOWN, at(AT), &e),
			 VT_OK);
	/* without builtin_roots the same VCEK is not enough (as before) */
	static const char *const vcek[] = {"snp/teekit_gcp_milan_vcek.pem", NULL};
	assert_int_not_equal(verify_case(vdir, "snp/teekit_gcp_milan_v5_report.bin", vcek, at(AT), &e), VT_OK);
	assert_non_null(strstr(e.detail, "ARK-Milan"));
	/* a forged VCEK still fails at the chain, shipped roots or not */
	assert_int_equal(verify_builtin(vdir, "snp/trustee_milan_v2_report.bin",
					"snp/NEGATIVE_trustee_vcek_not_amd_signed_legacy_hwid.der", VT_SNP_PRODUCT_UNKNOWN,
					at(AT), &e),
			 VT_E_REJECTED);
	assert_int_equal(e.step, VT_STEP_CHAIN);
	/* v2 report, no VCEK: the product is unknown, unless --product says it */
	assert_int_not_equal(verify_builtin(vdir, "snp/trustee_milan_v2_report.bin", NULL, VT_SNP_PRODUCT_UNKNOWN, at(AT),
					    &e),
			     VT_OK);
	assert_string_equal(e.field, "product");
	assert_non_null(strstr(e.detail, "--product"));
	assert_int_not_equal(verify_builtin(vdir, "snp/trustee_milan_v2_report.bin", NULL, VT_SNP_PRODUCT_MILAN, at(AT), &e),
			     VT_OK);
	assert_string_equal(e.field, "vek"); /* now only the VCEK is missing */
	/* v2 with its VCEK and the right --product: verifies; the wrong one: the VCEK is refused */
	assert_int_equal(verify_builtin(vdir, "snp/trustee_milan_v2_report.bin", "snp/trustee_milan_v2_vcek.der",
					VT_SNP_PRODUCT_MILAN, at(AT), &e),
			 VT_OK);
	assert_int_equal(verify_builtin(vdir, "snp/trustee_milan_v2_report.bin", "snp/trustee_milan_v2_vcek.der",
					VT_SNP_PRODUCT_GENOA, at(AT), &e),
			 VT_E_REJECTED);
	assert_int_equal(e.step, VT_STEP_CHAIN);
	/* a v5 report names its product: a different --product is a usage error */
	assert_int_equal(verify_builtin(vdir, "snp/teekit_gcp_milan_v5_report.bin", "snp/teekit_gcp_milan_vcek.pem",
					VT_SNP_PRODUCT_TURIN, at(AT), &e),
			 VT_E_USAGE);
	assert_string_equal(e.field, "product");
}

/* The cache layout alone (offline) is enough. */
static void test_cache_layout(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0, vn = 0, an = 0, kn = 0;
	uint8_t *p = vec(vdir, "snp/trustee_milan_v2_report.bin", &n);
	uint8_t *v = vec(vdir, "snp/trustee_milan_v2_vcek.der", &vn);
	uint8_t *ask = vec(vdir, "roots/amd/ask_milan.pem", &an);
	uint8_t *ark = vec(vdir, "roots/amd/ark_milan.pem", &kn);
	char *cache = vt_test_tmpdir();
	struct vt_snp_report rep;
	struct vt_err e = {0};
	assert_int_equal(vt_snp_report_parse(p, n, false, &rep, &e), VT_OK);
	char *vp = snp_cache_vcek_path(cache, VT_SNP_PRODUCT_MILAN, &rep);
	char want[PATH_MAX];
	snprintf(want, sizeof(want),
		 "%s/amd/Milan/vcek/c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f"
		 "8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e/3-0-8-115.der",
		 cache);
	assert_string_equal(vp, want);
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", vp);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vt_file_write(vp, v, vn, 0644, &e), VT_OK);
	char chain[PATH_MAX];
	snprintf(chain, sizeof(chain), "%s/amd/Milan/cert_chain.pem", cache);
	uint8_t *both = malloc(an + kn);
	memcpy(both, ask, an);
	memcpy(both + an, ark, kn);
	assert_int_equal(vt_file_write(chain, both, an + kn, 0644, &e), VT_OK);
	json_t *claims = NULL;
	/* v2 report: the product comes from the cached VCEK's productName */
	assert_int_equal(verify_bytes(p, n, NULL, cache, at(AT), NULL, &claims, &e), VT_OK);
	assert_string_equal(cstr(claims, "product"), "Milan");
	json_decref(claims);
	rm_rf(cache);
	free(cache);
	free(vp);
	free(both);
	free(p);
	free(v);
	free(ask);
	free(ark);
}

/* A CRL named as issued by ARK-Milan but signed by another key: chain. */
static void test_forged_crl(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const char *const names[] = {"snp/trustee_milan_v2_vcek.der", "roots/amd/ark_milan.pem",
					    "roots/amd/ask_milan.pem", NULL};
	char *d = certs_dir(vdir, names);
	struct vt_err e = {0};
	X509 *ark = NULL;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/roots/amd/ark_milan.pem", vdir);
	assert_int_equal(vt_x509_load(path, &ark, &e), VT_OK);
	EVP_PKEY *key = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &key, &e), VT_OK);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)at("2025-12-01T00:00:00Z"));
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ark)), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha384()) > 0);
	unsigned char *der = NULL;
	int dn = i2d_X509_CRL(crl, &der);
	assert_true(dn > 0);
	snprintf(path, sizeof(path), "%s/crl.der", d);
	assert_int_equal(vt_file_write(path, der, (size_t)dn, 0644, &e), VT_OK);
	OPENSSL_free(der);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	X509_free(ark);

	size_t n = 0;
	uint8_t *p = vec(vdir, "snp/trustee_milan_v2_report.bin", &n);
	json_t *claims = NULL;
	assert_int_equal(verify_bytes(p, n, d, NULL, at(AT), NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_string_equal(e.field, "crl");
	rm_rf(d);
	free(d);
	free(p);
}

/* Pinned fingerprints agree with the vector roots. */
static void test_pins(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const struct {
		const char *file;
		vt_snp_product p;
	} arks[] = {{"roots/amd/ark_milan.pem", VT_SNP_PRODUCT_MILAN},
		    {"roots/amd/ark_genoa.pem", VT_SNP_PRODUCT_GENOA},
		    {"roots/amd/ark_turin.pem", VT_SNP_PRODUCT_TURIN}},
	  asks[] = {{"roots/amd/ask_milan.pem", VT_SNP_PRODUCT_MILAN},
		    {"roots/amd/ask_genoa.pem", VT_SNP_PRODUCT_GENOA},
		    {"roots/amd/ask_turin.pem", VT_SNP_PRODUCT_TURIN}};
	for (size_t i = 0; i < 3; i++) {
		char path[PATH_MAX];
		X509 *x = NULL;
		uint8_t fp[32];
		struct vt_err e = {0};
		snprintf(path, sizeof(path), "%s/%s", vdir, arks[i].file);
		assert_int_equal(vt_x509_load(path, &x, &e), VT_OK);
		assert_int_equal(vt_x509_fingerprint_sha256(x, fp, &e), VT_OK);
		assert_int_equal(snp_pinned_ark_product(fp), arks[i].p);
		X509_free(x);
		snprintf(path, sizeof(path), "%s/%s", vdir, asks[i].file);
		assert_int_equal(vt_x509_load(path, &x, &e), VT_OK);
		assert_int_equal(vt_x509_fingerprint_sha256(x, fp, &e), VT_OK);
		assert_memory_equal(snp_pinned_ask(asks[i].p), fp, 32);
		assert_int_equal(snp_pinned_ark_product(fp), VT_SNP_PRODUCT_UNKNOWN);
		X509_free(x);
	}
}

/* Trustee's evidence form: serde report JSON + cert_chain of byte arrays. */
static json_t *byte_array(const uint8_t *p, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(p[i]));
	return a;
}

static uint8_t *der_of(const char *vdir, const char *name, size_t *n);

static void test_trustee_form(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0, vn = 0, sn = 0, kn = 0;
	uint8_t *p = vec(vdir, "snp/trustee_aws_milan_vlek_v3_report.bin", &n);
	uint8_t *v = der_of(vdir, "snp/trustee_aws_milan_vlek.der", &vn);
	uint8_t *k = der_of(vdir, "roots/amd/ark_milan.pem", &kn);
	/* the ASVK is the first certificate of the bundle */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/roots/amd/asvk_ark_milan_vlek_bundle.pem", vdir);
	X509 *asvk = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_x509_load(path, &asvk, &e), VT_OK);
	unsigned char *sd = NULL;
	int sdn = i2d_X509(asvk, &sd);
	assert_true(sdn > 0);
	sn = (size_t)sdn;
	json_t *rj = NULL;
	assert_int_equal(vt_snp_report_to_json(p, &rj, &e), VT_OK);
	json_t *ev = json_pack("{s:o,s:[{s:s,s:o},{s:s,s:o},{s:s,s:o}]}", "attestation_report", rj, "cert_chain",
			       "cert_type", "VLEK", "data", byte_array(v, vn), "cert_type", "ASVK", "data",
			       byte_array(sd, sn), "cert_type", "ARK", "data", byte_array(k, kn));
	assert_non_null(ev);
	json_t *claims = NULL;
	struct vt_verify_ctx ctx = {.now = at(AT)}; /* ctx->snp NULL: evidence only */
	vt_err_clear(&e);
	vt_status rc = vt_tee_snp.verify(&ctx, ev, NULL, &claims, &e);
	if (rc != VT_OK)
		fail_msg("%s/%s %s: %s", vt_status_name(rc), vt_step_name(e.step), e.field, e.detail);
	assert_string_equal(cstr(claims, "signing_key"), "vlek");
	assert_int_equal(cint(claims, "vmpl"), 1);
	json_decref(claims);
	/* The same at the real today: the VLEK has expired. */
	ctx.now = at("2026-11-22T00:00:00Z");
	vt_err_clear(&e);
	assert_int_equal(vt_tee_snp.verify(&ctx, ev, NULL, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "expired"));
	json_decref(ev);
	OPENSSL_free(sd);
	X509_free(asvk);
	free(p);
	free(v);
	free(k);
}

/* ------------------------------------------------------------ exhaustive flips */

static uint8_t *der_of(const char *vdir, const char *name, size_t *n)
{
	char path[PATH_MAX];
	X509 *x = NULL;
	struct vt_err e = {0};
	snprintf(path, sizeof(path), "%s/%s", vdir, name);
	assert_int_equal(vt_x509_load(path, &x, &e), VT_OK);
	unsigned char *der = NULL;
	int dn = i2d_X509(x, &der);
	assert_true(dn > 0);
	uint8_t *out = malloc((size_t)dn);
	memcpy(out, der, (size_t)dn);
	OPENSSL_free(der);
	X509_free(x);
	*n = (size_t)dn;
	return out;
}

static void put_entry(uint8_t *t, size_t i, const char *guid_hex, uint32_t off, uint32_t len)
{
	struct vt_err e = {0};
	assert_int_equal(vt_hex_decode_fixed(guid_hex, t + 24 * i, 16, &e), VT_OK);
	for (int b = 0; b < 4; b++) {
		t[24 * i + 16 + b] = (uint8_t)(off >> (8 * b));
		t[24 * i + 20 + b] = (uint8_t)(len >> (8 * b));
	}
}

/* Report + certificate table (VCEK, ASK, ARK) as one buffer. */
static uint8_t *report_with_table(const char *vdir, const char *report, const char *vcek, size_t *out_n)
{
	size_t rn = 0, vn = 0, sn = 0, kn = 0;
	uint8_t *r = vec(vdir, report, &rn);
	uint8_t *v = der_of(vdir, vcek, &vn);
	uint8_t *s = der_of(vdir, "roots/amd/ask_milan.pem", &sn);
	uint8_t *k = der_of(vdir, "roots/amd/ark_milan.pem", &kn);
	size_t hdr = 24 * 4, tn = hdr + vn + sn + kn;
	uint8_t *out = calloc(1, VT_SNP_REPORT_SIZE + tn);
	memcpy(out, r, VT_SNP_REPORT_SIZE);
	uint8_t *t = out + VT_SNP_REPORT_SIZE;
	put_entry(t, 0, "63da758de6644564adc5f4b93be8accd", (uint32_t)hdr, (uint32_t)vn);
	put_entry(t, 1, "4ab7b379bbac4fe4a02f05aef327c782", (uint32_t)(hdr + vn), (uint32_t)sn);
	put_entry(t, 2, "c0b406a4a80349529743" "3fb6014cd0ae", (uint32_t)(hdr + vn + sn), (uint32_t)kn);
	memcpy(t + hdr, v, vn);
	memcpy(t + hdr + vn, s, sn);
	memcpy(t + hdr + vn + sn, k, kn);
	*out_n = VT_SNP_REPORT_SIZE + tn;
	free(r);
	free(v);
	free(s);
	free(k);
	return out;
}

static vt_status verify_evidence_buf(const uint8_t *p, size_t n, int64_t now, struct vt_err *e)
{
	char *b = vt_b64_encode(p, n);
	json_t *ev = json_pack("{s:s}", "report", b);
	json_t *claims = NULL;
	struct vt_snp_sources src = {.offline = true};
	struct vt_verify_ctx ctx = {.now = now, .snp = &src};
	vt_err_clear(e);
	vt_status rc = vt_tee_snp.verify(&ctx, ev, NULL, &claims, e);
	json_decref(claims);
	json_decref(ev);
	free(b);
	return rc;
}

static void test_exhaustive_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n = 0;
	uint8_t *p = report_with_table(vdir, "snp/trustee_milan_v2_report.bin", "snp/trustee_milan_v2_vcek.der", &n);
	struct vt_err e = {0};
	int64_t now = at(AT);
	/* The certificate table travels with the report (evidence only, offline). */
	assert_int_equal(verify_evidence_buf(p, n, now, &e), VT_OK);
	size_t signed_rejected = 0, sig_rejected = 0;
	for (size_t off = 0; off < VT_SNP_REPORT_SIZE; off++) {
		p[off] ^= 0xFF;
		vt_status rc = verify_evidence_buf(p, n, now, &e);
		p[off] ^= 0xFF;
		if (rc == VT_OK)
			fail_msg("flipping byte 0x%03zx was accepted", off);
		if (off < VT_SNP_SIGNED_SIZE)
			signed_rejected++;
		else
			sig_rejected++;
	}
	assert_int_equal(signed_rejected, 672);
	assert_int_equal(sig_rejected, 512);
	assert_int_equal(verify_evidence_buf(p, n, now, &e), VT_OK);
	free(p);
}

/* ------------------------------------------------------------ CLI */

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
	static const char *const names[] = {"snp/teekit_gcp_milan_vcek.pem", "snp/teekit_gcp_milan_ask_ark_chain.pem",
					    NULL};
	char *d = certs_dir(vdir, names);
	char *tmp = vt_test_tmpdir();
	char cmd[PATH_MAX * 4];
	snprintf(cmd, sizeof(cmd),
		 "'%s' verify snp '%s/snp/teekit_gcp_milan_v5_report.bin' --certs '%s' --offline --at " AT
		 " --json >'%s/out.json' 2>'%s/err.txt'",
		 bin, vdir, d, tmp, tmp);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	char path[PATH_MAX];
	size_t n = 0;
	uint8_t *out = NULL;
	struct vt_err e = {0};
	snprintf(path, sizeof(path), "%s/out.json", tmp);
	assert_int_equal(vt_file_read(path, 1u << 20, &out, &n, &e), VT_OK);
	assert_non_null(strstr((char *)out, "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d1"));
	free(out);

	/* A flipped byte in the measurement: exit 1, the step named. */
	size_t rn = 0;
	uint8_t *r = vec(vdir, "snp/teekit_gcp_milan_v5_report.bin", &rn);
	r[0x90] ^= 0x01;
	snprintf(path, sizeof(path), "%s/flipped.bin", tmp);
	assert_int_equal(vt_file_write(path, r, rn, 0644, &e), VT_OK);
	free(r);
	snprintf(cmd, sizeof(cmd), "'%s' verify snp '%s' --certs '%s' --offline --at " AT " >/dev/null 2>'%s/err.txt'",
		 bin, path, d, tmp);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	snprintf(path, sizeof(path), "%s/err.txt", tmp);
	assert_int_equal(vt_file_read(path, 1u << 20, &out, &n, &e), VT_OK);
	assert_non_null(strstr((char *)out, "REJECTED (snp) at step signature"));
	free(out);
	rm_rf(tmp);
	free(tmp);
	rm_rf(d);
	free(d);
	free(bin);
}

static void test_load_file_forms(void **state)
{
	(void)state;
	json_t *ev = NULL;
	struct vt_err e = {0};
	uint8_t small[100] = {0};
	assert_int_equal(vt_tee_snp.load_file(small, sizeof(small), &ev, &e), VT_E_PARSE);
	vt_err_clear(&e);
	const char *js = "{\"report\":\"AAAA\"}";
	assert_int_equal(vt_tee_snp.load_file((const uint8_t *)js, strlen(js), &ev, &e), VT_OK);
	assert_true(json_is_object(ev));
	json_decref(ev);
	/* Unknown members and a bad report are parse errors in verify. */
	struct vt_verify_ctx ctx = {0};
	json_t *claims = NULL;
	json_t *bad = json_pack("{s:s,s:i}", "report", "AAAA", "extra", 1);
	vt_err_clear(&e);
	assert_int_equal(vt_tee_snp.verify(&ctx, bad, NULL, &claims, &e), VT_E_PARSE);
	assert_int_equal(e.step, VT_STEP_PARSE);
	json_decref(bad);
	bad = json_pack("{s:s}", "report", "AAAA");
	vt_err_clear(&e);
	assert_int_equal(vt_tee_snp.verify(&ctx, bad, NULL, &claims, &e), VT_E_PARSE);
	json_decref(bad);
	assert_non_null(vt_tee_find("snp"));
	assert_false(vt_tee_find("snp")->insecure);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_file_forms),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_vectors_verify),
		cmocka_unit_test(test_genoa_azure),
		cmocka_unit_test(test_vlek_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_not_amd_signed),
		cmocka_unit_test(test_wrong_product),
		cmocka_unit_test(test_other_chip),
		cmocka_unit_test(test_changed_bytes),
		cmocka_unit_test(test_tcb_check_direct),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_no_certs_offline),
		cmocka_unit_test(test_builtin_roots),
		cmocka_unit_test(test_cache_layout),
		cmocka_unit_test(test_forged_crl),
		cmocka_unit_test(test_trustee_form),
		cmocka_unit_test(test_exhaustive_flips),
		cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
