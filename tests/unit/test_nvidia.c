/*
 * Unit tests for the NVIDIA GPU / NVSwitch verifier (src/evidence/nvidia/).
 *
 * Real evidence comes from $VERITEE_VECTORS/nvidia (skipped when absent);
 * the ground truth is ../shared/vectors/README.md, "nvidia/" table: every
 * report there verifies (signature, 5-certificate chain to the NVIDIA
 * Device Identity CA) with the opaque fields, FWIDs, nonces and leaf
 * serials it lists.  The nonce of nvtrust_h100_attestation_report.hex.txt
 * is not given next to it: it is the 32 bytes at offset 4 of the report
 * (the SPDM GET_MEASUREMENTS request "11 e0 01 ff" || nonce || slot), which
 * the README lists as "requester nonce=931d8d...dfcb" and Trustee's test
 * (deps/verifier/src/nvidia/mod.rs, test_build_claims_for_one_hopper_device)
 * uses as its expected nonce.
 *
 * Times: the device certificates are valid 2020-10-17 .. 9999-12-31 (the
 * provisioner ICA from 2022-03-01), so device tests run at T_DEVICE; the
 * RIM sample's signer is valid 2023-09-06 .. 2025-09-05, so RIM chain
 * tests run at T_RIM and fail at T_LATE.
 */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/nvidia.h"
#include "veritee/verifier.h"

#define NEED_VECTORS()                                                \
	const char *vdir = vt_test_vectors_dir();                     \
	if (vdir == NULL) {                                           \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n"); \
		skip();                                               \
	}

#define H100_HEX "nvidia/nvtrust_h100_attestation_report.hex.txt"
#define H100_PEM "nvidia/nvtrust_h100_cert_chain.pem"
#define H100_NEG "nvidia/NEGATIVE_trustee_h100_cert_chain_missing_provisioner_ica.pem"
#define PPCIE_8X "nvidia/nvtrust_ppcie_8x_h100_gpu_evidence.json"
#define LS10_4X "nvidia/nvtrust_ppcie_4x_nvswitch_ls10_evidence.json"
#define GB100 "nvidia/veraison_blackwell_gb100_evidence.json"
#define RIM_SAMPLE "nvidia/nvtrust_rim_vbios_1010_0200_882_96.00.74.00.1A.swidtag"
#define H100_NONCE "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
#define PPCIE_NONCE "4760e30534a0621357d458b1a7936551b5dc4cd1e69718adf7ed9fb0252a537e"
#define GB100_NONCE "cb86922a772181d54971ccc584bbc96b717c32b7087fff9aaf52832dd3f697a1"

static int64_t at(const char *s)
{
	int64_t t = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_time_parse_rfc3339(s, &t, &e), VT_OK);
	return t;
}

#define T_DEVICE at("2025-06-01T00:00:00Z")
#define T_RIM at("2024-06-01T00:00:00Z")
#define T_LATE at("2026-01-01T00:00:00Z")

static uint8_t *read_vec(const char *vdir, const char *name, size_t *n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", vdir, name);
	uint8_t *b = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_file_read(p, 1 << 20, &b, n, &err), VT_OK);
	return b;
}

static void print_err(const struct vt_err *err)
{
	char m[800];
	vt_err_format(err, m, sizeof(m));
	print_message("# %s\n", m);
}

/* Each call below starts from a clear error record (vt_fail keeps the
 * first failure's step and field). */
#define vt_nvidia_load_file(b, n, o, e) (vt_err_clear(e), (vt_nvidia_load_file)(b, n, o, e))
#define vt_nvidia_rim_load(b, n, f, o, e) (vt_err_clear(e), (vt_nvidia_rim_load)(b, n, f, o, e))
#define vt_nvidia_rim_check_chain(r, t, e) (vt_err_clear(e), (vt_nvidia_rim_check_chain)(r, t, e))
#define vt_nvidia_report_parse(b, n, o, e) (vt_err_clear(e), (vt_nvidia_report_parse)(b, n, o, e))
#define vt_nvidia_leaf_fwid(x, o, e) (vt_err_clear(e), (vt_nvidia_leaf_fwid)(x, o, e))
#define vt_nvidia_devices(v, m, o, e) (vt_err_clear(e), (vt_nvidia_devices)(v, m, o, e))
#define vt_verifier_new(s, o, e) (vt_err_clear(e), (vt_verifier_new)(s, o, e))
#define tee_devices(v, m, o, e) (vt_err_clear(e), vt_tee_nvidia.devices(v, m, o, e))

#define assert_field(errp, want) assert_string_equal((errp)->field, (want))

static const char *sget(const json_t *claims, const char *ptr)
{
	const char *s = json_string_value(vt_json_pointer(claims, ptr));
	if (s == NULL)
		fail_msg("claim %s missing or not a string", ptr);
	return s;
}

/* The H100 hex sample as evidence JSON, with its PEM chain as "certificate". */
static json_t *h100_evidence(const char *vdir)
{
	size_t n, pn;
	uint8_t *hex = read_vec(vdir, H100_HEX, &n);
	uint8_t *pem = read_vec(vdir, H100_PEM, &pn);
	json_t *ev = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_nvidia_load_file(hex, n, &ev, &err), VT_OK);
	char *b64 = vt_b64_encode(pem, pn);
	json_object_set_new(ev, "certificate", json_string(b64));
	free(b64);
	free(hex);
	free(pem);
	return ev;
}

/* The raw report bytes of the H100 hex sample. */
static uint8_t *h100_report(const char *vdir, size_t *n)
{
	size_t hn;
	uint8_t *hex = read_vec(vdir, H100_HEX, &hn);
	char *s = malloc(hn + 1);
	memcpy(s, hex, hn);
	s[hn] = '\0';
	uint8_t *raw = NULL;
	assert_int_equal(vt_hex_decode(s, &raw, n, NULL), VT_OK);
	free(s);
	free(hex);
	return raw;
}

static json_t *vec_json(const char *vdir, const char *name)
{
	size_t n;
	uint8_t *b = read_vec(vdir, name, &n);
	json_t *j = NULL;
	assert_int_equal(vt_json_parse((const char *)b, n, 1 << 20, &j, NULL), VT_OK);
	free(b);
	return j;
}

static vt_status verify(const struct vt_verify_ctx *ctx, const json_t *ev, const char *nonce_hex, json_t **claims,
			struct vt_err *err)
{
	uint8_t rd[64];
	struct vt_binding b = {rd, 0};
	if (nonce_hex != NULL) {
		size_t len = strlen(nonce_hex) / 2;
		assert_int_equal(vt_hex_decode_fixed(nonce_hex, rd, len, NULL), VT_OK);
		b.report_data_size = len;
	}
	vt_err_clear(err);
	*claims = NULL;
	vt_status rc = vt_tee_nvidia.verify(ctx, ev, nonce_hex ? &b : NULL, claims, err);
	if (rc != VT_OK)
		assert_null(*claims);
	return rc;
}

static struct vt_verifier *new_verifier(const char *certs, const char *rim)
{
	json_t *o = json_object();
	if (certs)
		json_object_set_new(o, "certs", json_string(certs));
	if (rim)
		json_object_set_new(o, "rim", json_string(rim));
	json_t *tees = json_pack("{s:o}", "nvidia", o);
	struct vt_verifier_settings s = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *v = NULL;
	struct vt_err err = {0};
	vt_status rc = vt_verifier_new(&s, &v, &err);
	if (rc != VT_OK)
		print_err(&err);
	assert_int_equal(rc, VT_OK);
	json_decref(tees);
	return v;
}

/* ------------------------------------------------------------ roots, FWID */

static void test_roots(void **state)
{
	(void)state;
	X509 *d = NULL, *r = NULL;
	uint8_t fp[32];
	char *h;
	assert_int_equal(vt_nvidia_device_root(&d, NULL), VT_OK);
	assert_int_equal(vt_x509_fingerprint_sha256(d, fp, NULL), VT_OK);
	h = vt_hex_encode(fp, 32);
	assert_string_equal(h, VT_NVIDIA_DEVICE_ROOT_SHA256);
	free(h);
	assert_int_equal(vt_nvidia_rim_root(&r, NULL), VT_OK);
	assert_int_equal(vt_x509_fingerprint_sha256(r, fp, NULL), VT_OK);
	h = vt_hex_encode(fp, 32);
	assert_string_equal(h, VT_NVIDIA_RIM_ROOT_SHA256);
	free(h);
	/* the root carries no DICE extension */
	uint8_t fwid[48];
	struct vt_err err = {0};
	assert_int_equal(vt_nvidia_leaf_fwid(d, fwid, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_field(&err, "certificate[0].fwid");
	X509_free(d);
	X509_free(r);
}

static void check_leaf_fwid(const uint8_t *pem, size_t n, const char *want)
{
	X509 *x = NULL;
	uint8_t fwid[48];
	assert_int_equal(vt_x509_from_bytes(pem, n, &x, NULL), VT_OK); /* the first PEM block: the leaf */
	assert_int_equal(vt_nvidia_leaf_fwid(x, fwid, NULL), VT_OK);
	char *h = vt_hex_encode(fwid, sizeof(fwid));
	assert_string_equal(h, want);
	free(h);
	X509_free(x);
}

static void test_leaf_fwid(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *pem = read_vec(vdir, H100_PEM, &n);
	/* Hopper form: SEQUENCE {INTEGER, SPKI, FWID} */
	check_leaf_fwid(pem, n, "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d");
	free(pem);
	/* Blackwell form: DiceTcbInfo fwids[0] (OID 2.23.133.5.4.1.1) */
	json_t *gb = vec_json(vdir, GB100);
	const char *c = json_string_value(json_object_get(json_array_get(gb, 0), "certificate"));
	uint8_t *chain = NULL;
	assert_int_equal(vt_b64_decode(c, strlen(c), &chain, &n, NULL), VT_OK);
	check_leaf_fwid(chain, n, "4a1cd56f973225188080b343bb7914ec29d528b85457e8ce7a2c763eb8e0758406803f931b97b6c21f9a847989146022");
	free(chain);
	json_decref(gb);
}

/* ------------------------------------------------------------ vectors */

static void test_h100_hex(void **state)
{
	(void)state;
	NEED_VECTORS();
	json_t *ev = h100_evidence(vdir), *claims = NULL;
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	struct vt_err err = {0};
	vt_status rc = verify(&ctx, ev, H100_NONCE, &claims, &err);
	if (rc != VT_OK)
		print_err(&err);
	assert_int_equal(rc, VT_OK);
	assert_string_equal(sget(claims, "/arch"), "Hopper");
	assert_string_equal(sget(claims, "/class"), "gpu");
	assert_string_equal(sget(claims, "/uuid"), "unknown");
	assert_string_equal(sget(claims, "/hwmodel"), "GH100 A01 GSP BROM");
	/* leaf serial 0x53c22ba15e5d68088282da074ed9fb37aa585771 in decimal */
	assert_string_equal(sget(claims, "/ueid"), "478176379286082186618948445787393647364802107249");
	assert_string_equal(sget(claims, "/spdm_version"), "1.1");
	assert_int_equal(json_integer_value(json_object_get(claims, "number_of_blocks")), 64);
	assert_string_equal(sget(claims, "/nonce"), H100_NONCE);
	assert_string_equal(sget(claims, "/report_data"), H100_NONCE);
	assert_string_equal(sget(claims, "/config/driver_version"), "550.90.07");
	assert_string_equal(sget(claims, "/config/vbios_version"), "96.00.9f.00.01");
	assert_string_equal(sget(claims, "/config/project"), "1010");
	assert_string_equal(sget(claims, "/config/project_sku"), "0200");
	assert_string_equal(sget(claims, "/config/chip_sku"), "882");
	assert_string_equal(sget(claims, "/config/fwid"),
			    "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d");
	assert_string_equal(sget(claims, "/config/nvdec0_status"), "disabled");
	assert_string_equal(sget(claims, "/config/protected_pcie_status"), "disabled");
	/* the same values as Trustee's test_data/nvidia/hopperAttestationReport-claims.txt */
	assert_string_equal(sget(claims, "/config/board_id"), "b1030000");
	assert_string_equal(sget(claims, "/config/chip_sku_mod"), "0");
	assert_string_equal(sget(claims, "/config/cpr_info"), "00c00100");
	assert_string_equal(sget(claims, "/config/gpu_info"), "8001000000000000");
	assert_string_equal(sget(claims, "/config/project_sku_mod"), "0000");
	assert_int_equal(json_integer_value(vt_json_pointer(claims, "/config/measurement_count/12")), 130);
	assert_int_equal(json_object_size(json_object_get(claims, "measurements")), 64);
	assert_string_equal(sget(claims, "/measurements/1"), "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000");
	assert_string_equal(sget(claims, "/measurements/2"), "8048dfd18fe229bf16eb9d30cca0f11a24dafe6eb731de1462984645a0b189b77c4e4e17de727a5e19e3d07de51da338");
	assert_string_equal(sget(claims, "/measurements/3"), "164f445c3e282ca8e4ab07c2179b8e02c8e3a2ceb83f9fae8dddaee70aa57207d87792d1481b46c02f9dba6e1fe1e77e");
	assert_string_equal(sget(claims, "/measurements/4"), "73bbf35822549e28ba8fb2671fb7b58f46424a0069205b3ecf1d0fa762adef90b538cc9d692eb5c050147f2f1e8214ab");
	assert_null(json_object_get(claims, "rim"));
	json_decref(claims);

	/* the binding: 48 bytes whose first 32 are the nonce bind; NULL is not checked */
	assert_int_equal(verify(&ctx, ev, H100_NONCE "00112233445566778899aabbccddeeff", &claims, &err), VT_OK);
	json_decref(claims);
	assert_int_equal(verify(&ctx, ev, NULL, &claims, &err), VT_OK);
	json_decref(claims);
	json_decref(ev);
}

/* The hex file through load_file, the chain through the "certs" option of a verifier. */
static void test_h100_certs_option(void **state)
{
	(void)state;
	NEED_VECTORS();
	char certs[4096];
	snprintf(certs, sizeof(certs), "%s/%s", vdir, H100_PEM);
	struct vt_verifier *v = new_verifier(certs, NULL);
	size_t n;
	uint8_t *hex = read_vec(vdir, H100_HEX, &n);
	json_t *ev = NULL, *claims = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_tee_nvidia.load_file(hex, n, &ev, &err), VT_OK);
	assert_null(json_object_get(ev, "certificate"));
	uint8_t nonce[32];
	assert_int_equal(vt_hex_decode_fixed(H100_NONCE, nonce, 32, NULL), VT_OK);
	struct vt_binding b = {nonce, 32};
	for (int i = 0; i < 3; i++) {
		vt_status rc = vt_verifier_verify(v, &vt_tee_nvidia, ev, &b, T_DEVICE, NULL, &claims, &err);
		if (rc != VT_OK)
			print_err(&err);
		assert_int_equal(rc, VT_OK);
		assert_string_equal(sget(claims, "/config/driver_version"), "550.90.07");
		json_decref(claims);
	}
	/* warm: the chain was verified once, then found in the verifier's cache */
	uint64_t hits = 0, misses = 0;
	assert_true(vt_cache_set_stats(vt_verifier_caches(v), "nvidia.chain", &hits, &misses));
	assert_int_equal(misses, 1);
	assert_int_equal(hits, 2);
	/* without a chain anywhere: parse error naming the certificate */
	struct vt_verify_ctx bare = {.now = T_DEVICE};
	assert_int_equal(verify(&bare, ev, NULL, &claims, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_field(&err, "certificate");
	json_decref(ev);
	free(hex);
	vt_verifier_free(v);
}

static void test_ppcie_8x_h100(void **state)
{
	(void)state;
	NEED_VECTORS();
	/* leaf serials from the README (hex there), as decimal ueids */
	static const char *const ueid[8] = {
		"655333107904478077882826344426270545524203067314", "729021024941865510702082019550403894617170069653",
		"522873818359063613972122709944121513760891589695", "462819874314720887924195175206697753480402871124",
		"506338746900295561561926459361913061201783443419", "403427253750358462440132022969133710217707183397",
		"618983330924126676401521472365604059490426982447", "462496802410983848477057609082198727668509984363",
	};
	json_t *all = vec_json(vdir, PPCIE_8X), *claims = NULL;
	assert_int_equal(json_array_size(all), 8);
	struct vt_verifier *v = new_verifier(NULL, NULL);
	struct vt_verify_ctx ctx = {.now = T_DEVICE, .verifier = v};
	struct vt_err err = {0};
	for (size_t i = 0; i < 8; i++) {
		json_t *e = json_array_get(all, i);
		const char *nonce = json_string_value(json_object_get(e, "nonce"));
		assert_string_equal(nonce, PPCIE_NONCE);
		vt_status rc = verify(&ctx, e, nonce, &claims, &err);
		if (rc != VT_OK)
			print_err(&err);
		assert_int_equal(rc, VT_OK);
		assert_string_equal(sget(claims, "/arch"), "Hopper");
		assert_string_equal(sget(claims, "/ueid"), ueid[i]);
		assert_string_equal(sget(claims, "/config/driver_version"), "590.12");
		assert_string_equal(sget(claims, "/config/vbios_version"), "96.00.a5.00.01");
		assert_string_equal(sget(claims, "/config/project"), "G520");
		assert_string_equal(sget(claims, "/config/project_sku"), "0200");
		assert_string_equal(sget(claims, "/config/chip_sku"), "885");
		assert_string_equal(sget(claims, "/config/fwid"),
				    "956ecf09ee4191f115224d1cb09e76b897b77591c3ea7c2a22e1c50546aeba7961cd67edbb4a274e294fe1402036211d");
		assert_string_equal(sget(claims, "/config/protected_pcie_status"), "enabled");
		assert_string_equal(sget(claims, "/config/feature_flag"), "PPCIE");
		assert_int_equal(json_integer_value(vt_json_pointer(claims, "/config/opaque_data_version")), 1);
		assert_int_equal(json_array_size(vt_json_pointer(claims, "/config/switch_pdi")), 18);
		assert_string_equal(sget(claims, "/report_data"), PPCIE_NONCE);
		json_decref(claims);
	}
	/* the devices hook on the whole list: eight GPUs */
	json_t *dev = NULL, *list = json_pack("{s:O}", "device_evidence_list", all);
	assert_int_equal(tee_devices(list, 16, &dev, &err), VT_OK);
	assert_int_equal(json_array_size(dev), 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(dev, i), "class")), "gpu");
	json_decref(dev);
	json_decref(list);
	json_decref(all);
	vt_verifier_free(v);
}

static void test_ls10_4x(void **state)
{
	(void)state;
	NEED_VECTORS();
	json_t *all = vec_json(vdir, LS10_4X), *claims = NULL;
	static const char *const ueid[4] = {
		"617692334405101366118229538244038537876844266823", "630154638689044867611729422026113605803034292681",
		"517415576735715538160758723920257891832948525753", "400492641691348238603362102797364417080204479592",
	};
	assert_int_equal(json_array_size(all), 4);
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	struct vt_err err = {0};
	for (size_t i = 0; i < 4; i++) {
		json_t *e = json_array_get(all, i);
		vt_status rc = verify(&ctx, e, PPCIE_NONCE, &claims, &err);
		if (rc != VT_OK)
			print_err(&err);
		assert_int_equal(rc, VT_OK);
		assert_string_equal(sget(claims, "/arch"), "LS10");
		assert_string_equal(sget(claims, "/class"), "switch");
		assert_string_equal(sget(claims, "/hwmodel"), "LS_10 A01 FSP BROM");
		assert_string_equal(sget(claims, "/ueid"), ueid[i]);
		assert_int_equal(json_integer_value(json_object_get(claims, "number_of_blocks")), 31);
		/* VBIOS as ASCII; no driver version, no FWID on a switch */
		assert_string_equal(sget(claims, "/config/vbios_version"), "96.10.73.00.01");
		assert_null(vt_json_pointer(claims, "/config/driver_version"));
		assert_null(vt_json_pointer(claims, "/config/fwid"));
		assert_int_equal(json_array_size(vt_json_pointer(claims, "/config/switch_pdi")), 1);
		assert_non_null(vt_json_pointer(claims, "/config/opaque_26")); /* unknown type, kept as hex */
		json_decref(claims);
	}
	json_t *dev = NULL, *list = json_pack("{s:O}", "device_evidence_list", all);
	assert_int_equal(vt_nvidia_devices(list, 4, &dev, &err), VT_OK);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(dev, i), "class")), "switch");
	json_decref(dev);
	json_decref(list);
	json_decref(all);
}

static void test_blackwell(void **state)
{
	(void)state;
	NEED_VECTORS();
	json_t *all = vec_json(vdir, GB100), *claims = NULL;
	json_t *e = json_array_get(all, 0);
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	struct vt_err err = {0};
	vt_status rc = verify(&ctx, e, GB100_NONCE, &claims, &err);
	if (rc != VT_OK)
		print_err(&err);
	assert_int_equal(rc, VT_OK);
	assert_string_equal(sget(claims, "/arch"), "Blackwell");
	assert_string_equal(sget(claims, "/hwmodel"), "GB100 A01 GSP BROM");
	/* leaf serial 0x4ddf190f8bbb6ec594570744b65fe8a9ff3b44cb */
	assert_string_equal(sget(claims, "/ueid"), "444567538629827667792320389731288283796880442571");
	assert_string_equal(sget(claims, "/config/driver_version"), "590.48.01");
	assert_string_equal(sget(claims, "/config/vbios_version"), "97.00.e4.00.11");
	assert_string_equal(sget(claims, "/config/project"), "G525");
	assert_string_equal(sget(claims, "/config/project_sku"), "0220");
	assert_string_equal(sget(claims, "/config/chip_sku"), "886");
	assert_string_equal(sget(claims, "/config/chip_info"), "GB100");
	assert_string_equal(sget(claims, "/config/fwid"),
			    "4a1cd56f973225188080b343bb7914ec29d528b85457e8ce7a2c763eb8e0758406803f931b97b6c21f9a847989146022");
	json_decref(claims);
	/* arch left out: the leaf's model (GB100) decides */
	json_t *noarch = json_deep_copy(e);
	json_object_del(noarch, "arch");
	assert_int_equal(verify(&ctx, noarch, GB100_NONCE, &claims, &err), VT_OK);
	assert_string_equal(sget(claims, "/arch"), "Blackwell");
	json_decref(claims);
	json_decref(noarch);
	json_decref(all);
}

/* ------------------------------------------------------------ negatives */

static void test_chain_negatives(void **state)
{
	(void)state;
	NEED_VECTORS();
	json_t *ev = h100_evidence(vdir), *claims = NULL;
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	struct vt_err err = {0};
	size_t n;

	/* the Trustee chain without its provisioner ICA: 4 certificates */
	uint8_t *neg = read_vec(vdir, H100_NEG, &n);
	char *b64 = vt_b64_encode(neg, n);
	json_t *bad = json_deep_copy(ev);
	json_object_set_new(bad, "certificate", json_string(b64));
	free(b64);
	assert_int_equal(verify(&ctx, bad, H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_field(&err, "certificate");
	json_decref(bad);
	free(neg);

	/* five certificates whose last is not the pinned root (the root replaced by a self-signed look-alike) */
	uint8_t *pem = read_vec(vdir, H100_PEM, &n);
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &k, NULL), VT_OK);
	X509 *fake = X509_new();
	X509_set_version(fake, 2);
	X509_NAME *nm = X509_NAME_new();
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"NVIDIA Device Identity CA", -1, -1, 0);
	X509_set_subject_name(fake, nm);
	X509_set_issuer_name(fake, nm);
	X509_NAME_free(nm);
	ASN1_TIME_set(X509_getm_notBefore(fake), 0);
	ASN1_TIME_set(X509_getm_notAfter(fake), (time_t)4102444800);
	X509_set_pubkey(fake, k);
	assert_true(X509_sign(fake, k, EVP_sha384()) > 0);
	BIO *bio = BIO_new(BIO_s_mem());
	const char *last = strstr((const char *)pem, "-----BEGIN CERTIFICATE-----");
	for (int i = 0; i < 4; i++)
		last = strstr(last + 1, "-----BEGIN CERTIFICATE-----");
	BIO_write(bio, pem, (int)(last - (const char *)pem));
	PEM_write_bio_X509(bio, fake);
	char *mem = NULL;
	long ml = BIO_get_mem_data(bio, &mem);
	b64 = vt_b64_encode((const uint8_t *)mem, (size_t)ml);
	bad = json_deep_copy(ev);
	json_object_set_new(bad, "certificate", json_string(b64));
	free(b64);
	assert_int_equal(verify(&ctx, bad, H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_field(&err, "certificate[4]");
	json_decref(bad);
	BIO_free(bio);
	X509_free(fake);
	EVP_PKEY_free(k);
	free(pem);

	/* before the provisioner ICA's notBefore (2022-03-01): the chain is not valid yet */
	struct vt_verify_ctx early = {.now = at("2022-02-01T00:00:00Z")}; /* root, identity valid; ICA not yet */
	assert_int_equal(verify(&early, ev, H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_field(&err, "certificate[2]");

	/* another device's chain (the Blackwell one): its leaf did not sign this report */
	json_t *gb = vec_json(vdir, GB100);
	bad = json_deep_copy(ev);
	json_object_set(bad, "certificate", json_object_get(json_array_get(gb, 0), "certificate"));
	assert_int_equal(verify(&ctx, bad, H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_field(&err, "report.signature");
	json_decref(bad);
	json_decref(gb);
	json_decref(ev);
}

static void test_binding(void **state)
{
	(void)state;
	NEED_VECTORS();
	json_t *ev = h100_evidence(vdir), *claims = NULL;
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	struct vt_err err = {0};
	assert_int_equal(verify(&ctx, ev, PPCIE_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_field(&err, "report.request.nonce");
	assert_non_null(strstr(err.detail, H100_NONCE));
	/* 16 bytes of expected report data cannot fill the 32-byte nonce */
	assert_int_equal(verify(&ctx, ev, "00112233445566778899aabbccddeeff", &claims, &err), VT_E_USAGE);
	assert_err(&err, VT_E_USAGE, VT_STEP_BINDING);
	/* the nonce in the last 32 of 64 bytes does not bind: only the first 32 count */
	assert_int_equal(verify(&ctx, ev, PPCIE_NONCE H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	json_decref(ev);
}

static void test_bad_arch(void **state)
{
	(void)state;
	NEED_VECTORS();
	json_t *ev = h100_evidence(vdir), *claims = NULL;
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	struct vt_err err = {0};
	json_object_set_new(ev, "arch", json_string("AMPERE"));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_field(&err, "arch");
	json_object_set_new(ev, "arch", json_integer(1));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_PARSE);
	assert_field(&err, "arch");
	/* a valid name that contradicts the leaf certificate (GH100) */
	json_object_set_new(ev, "arch", json_string("BLACKWELL"));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_field(&err, "arch");
	json_object_set_new(ev, "arch", json_string("LS10"));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_REJECTED);
	assert_field(&err, "arch");
	/* any case is accepted (guest-components sends "Hopper") */
	json_object_set_new(ev, "arch", json_string("hopper"));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_OK);
	json_decref(claims);
	/* other evidence members */
	json_object_set_new(ev, "uuid", json_integer(7));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_PARSE);
	assert_field(&err, "uuid");
	json_object_set_new(ev, "uuid", json_string("GPU-1234"));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_OK);
	assert_string_equal(sget(claims, "/uuid"), "GPU-1234");
	json_decref(claims);
	json_object_set_new(ev, "evidence", json_string("not base64!"));
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_field(&err, "evidence");
	json_decref(ev);
	json_t *arr = json_array();
	assert_int_equal(verify(&ctx, arr, NULL, &claims, &err), VT_E_PARSE);
	assert_field(&err, "evidence");
	json_decref(arr);
}

/* Every byte of request || response-without-signature, one bit flipped:
 * each must fail, at signature or (where the change breaks the structure)
 * at parse.  Then every byte of the signature. */
static void test_exhaustive_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n, pn;
	uint8_t *raw = h100_report(vdir, &n);
	uint8_t *pem = read_vec(vdir, H100_PEM, &pn);
	char *cert = vt_b64_encode(pem, pn);
	free(pem);
	struct vt_verifier *v = new_verifier(NULL, NULL); /* warm chain: each flip costs a parse and a signature */
	struct vt_verify_ctx ctx = {.now = T_DEVICE, .verifier = v};
	struct vt_err err = {0};
	json_t *claims = NULL;
	assert_int_equal(n, 4117);
	size_t signed_size = n - VT_NVIDIA_SIG_SIZE;
	size_t counts[VT_STEP_IO + 1] = {0}, total = 0;
	uint8_t *m = malloc(n);
	for (size_t i = 0; i < n; i++) {
		memcpy(m, raw, n);
		m[i] ^= 0x01;
		char *b64 = vt_b64_encode(m, n);
		json_t *ev = json_pack("{s:s,s:s}", "evidence", b64, "certificate", cert);
		free(b64);
		vt_status rc = verify(&ctx, ev, NULL, &claims, &err);
		json_decref(ev);
		if (rc == VT_OK)
			fail_msg("byte %zu ^ 0x01 verified", i);
		if (i >= signed_size) {
			if (err.step != VT_STEP_SIGNATURE)
				fail_msg("signature byte %zu: step %s", i, vt_step_name(err.step));
			counts[VT_STEP_NONE]++; /* signature flips counted apart */
			continue;
		}
		if (err.step != VT_STEP_SIGNATURE && err.step != VT_STEP_PARSE)
			fail_msg("byte %zu: step %s (%s)", i, vt_step_name(err.step), err.detail);
		counts[err.step]++;
		total++;
	}
	free(m);
	print_message("# %zu one-bit changes of the signed transcript: parse %zu, signature %zu; "
		      "%zu of the signature: all at signature\n",
		      total, counts[VT_STEP_PARSE], counts[VT_STEP_SIGNATURE], counts[VT_STEP_NONE]);
	assert_int_equal(total, signed_size);
	assert_int_equal(counts[VT_STEP_NONE], VT_NVIDIA_SIG_SIZE);
	assert_true(counts[VT_STEP_PARSE] > 0 && counts[VT_STEP_SIGNATURE] > 0);
	/* every other value of the header bytes with a fixed value (versions,
	 * codes, Param2 0xFF, slot 0, block count, record length) fails to parse */
	static const size_t fixed[] = {0, 1, 3, 36, 37, 38, 41, 42, 43, 44};
	struct vt_nvidia_report *r = malloc(sizeof(*r));
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		for (unsigned x = 1; x < 256; x++) {
			raw[fixed[k]] ^= (uint8_t)x;
			vt_status prc = vt_nvidia_report_parse(raw, n, r, &err);
			raw[fixed[k]] ^= (uint8_t)x;
			if (prc != VT_E_PARSE)
				fail_msg("header byte %zu ^ 0x%02x: not a parse error", fixed[k], x);
		}
	free(r);
	free(cert);
	free(raw);
	vt_verifier_free(v);
}

static void test_truncation_extension(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *raw = h100_report(vdir, &n);
	struct vt_nvidia_report *r = malloc(sizeof(*r));
	struct vt_err err = {0};
	assert_int_equal(vt_nvidia_report_parse(raw, n, r, &err), VT_OK);
	assert_int_equal(r->block_count, 64);
	assert_int_equal(r->opaque_count, 14);
	assert_int_equal(r->signed_size, n - 96);
	for (size_t i = 0; i < n; i++) {
		vt_err_clear(&err);
		if (vt_nvidia_report_parse(raw, i, r, &err) != VT_E_PARSE)
			fail_msg("truncated to %zu bytes: not a parse error", i);
		assert_int_equal(err.step, VT_STEP_PARSE);
		assert_null(r->signature);
	}
	uint8_t *ext = malloc(n + 1);
	memcpy(ext, raw, n);
	ext[n] = 0;
	assert_int_equal(vt_nvidia_report_parse(ext, n + 1, r, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_field(&err, "report.signature");
	/* through verify too */
	json_t *ev = h100_evidence(vdir), *claims = NULL;
	char *b64 = vt_b64_encode(ext, n + 1);
	json_object_set_new(ev, "evidence", json_string(b64));
	free(b64);
	struct vt_verify_ctx ctx = {.now = T_DEVICE};
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_PARSE);
	assert_field(&err, "report.signature");
	b64 = vt_b64_encode(raw, n - 1);
	json_object_set_new(ev, "evidence", json_string(b64));
	free(b64);
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	/* a report larger than the cap */
	uint8_t *big = calloc(1, VT_NVIDIA_MAX_REPORT + 1);
	assert_int_equal(vt_nvidia_report_parse(big, VT_NVIDIA_MAX_REPORT + 1, r, &err), VT_E_LIMIT);
	free(big);
	json_decref(ev);
	free(ext);
	free(r);
	free(raw);
}

/* ------------------------------------------------------------ devices hook */

static void test_devices(void **state)
{
	(void)state;
	struct vt_err err = {0};
	json_t *dev = NULL;
	json_t *v = json_pack("{s:[]}", "device_evidence_list");
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_null(dev);
	json_decref(v);

	/* 10000 entries: refused from the count alone */
	json_t *list = json_array();
	json_t *entry = json_pack("{s:s,s:s,s:s}", "arch", "HOPPER", "evidence", "AA==", "certificate", "AA==");
	for (int i = 0; i < 10000; i++)
		json_array_append(list, entry);
	v = json_pack("{s:o}", "device_evidence_list", list);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_E_LIMIT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_err(&err, VT_E_LIMIT, VT_STEP_PARSE);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("# 10000 devices refused in %.3f ms\n", ms);
	assert_true(ms < 50.0);
	json_decref(v);

	/* duplicate uuid */
	v = json_pack("{s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "device_evidence_list", "arch", "HOPPER", "uuid", "GPU-1",
		      "evidence", "AA==", "arch", "HOPPER", "uuid", "GPU-1", "evidence", "AA==");
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_PARSE);
	assert_field(&err, "device_evidence_list[1]");
	json_decref(v);

	/* classes, in order; uuids may be absent */
	v = json_pack("{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "device_evidence_list", "arch", "HOPPER", "evidence", "AA",
		      "arch", "LS10", "evidence", "AA", "arch", "Blackwell", "evidence", "AA");
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_OK);
	assert_int_equal(json_array_size(dev), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(dev, 0), "class")), "gpu");
	assert_string_equal(json_string_value(json_object_get(json_array_get(dev, 1), "class")), "switch");
	assert_string_equal(json_string_value(json_object_get(json_array_get(dev, 2), "class")), "gpu");
	assert_ptr_equal(json_object_get(json_array_get(dev, 1), "evidence"),
			 json_array_get(json_object_get(v, "device_evidence_list"), 1));
	json_decref(dev);
	json_decref(v);

	/* unknown arch, non-object entry, wrong shape */
	v = json_pack("{s:[{s:s,s:s}]}", "device_evidence_list", "arch", "AMPERE", "evidence", "AA");
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_E_PARSE);
	assert_field(&err, "device_evidence_list[0]");
	json_decref(v);
	v = json_pack("{s:[i]}", "device_evidence_list", 1);
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_E_PARSE);
	assert_field(&err, "device_evidence_list[0]");
	json_decref(v);
	v = json_pack("[]");
	assert_int_equal(tee_devices(v, 8, &dev, &err), VT_E_PARSE);
	assert_field(&err, "device_evidence_list");
	json_decref(v);
	json_decref(entry);
	assert_true((vt_tee_nvidia.flags & VT_TEE_DEVICE) != 0);
	assert_ptr_equal(vt_tee_find("nvidia"), &vt_tee_nvidia);
}

/* ------------------------------------------------------------ load_file */

static void test_load_file(void **state)
{
	(void)state;
	NEED_VECTORS();
	struct vt_err err = {0};
	json_t *ev = NULL;
	size_t n, rn;
	uint8_t *raw = h100_report(vdir, &rn);
	/* raw bytes */
	assert_int_equal(vt_nvidia_load_file(raw, rn, &ev, &err), VT_OK);
	const char *b64 = json_string_value(json_object_get(ev, "evidence"));
	uint8_t *back = NULL;
	assert_int_equal(vt_b64_decode(b64, strlen(b64), &back, &n, NULL), VT_OK);
	assert_int_equal(n, rn);
	assert_memory_equal(back, raw, rn);
	free(back);
	json_decref(ev);
	/* base64 text with line breaks */
	char *t = vt_b64_encode(raw, rn);
	size_t tl = strlen(t);
	char *wrapped = malloc(tl + tl / 64 + 2);
	size_t w = 0;
	for (size_t i = 0; i < tl; i++) {
		wrapped[w++] = t[i];
		if (i % 64 == 63)
			wrapped[w++] = '\n';
	}
	assert_int_equal(vt_nvidia_load_file((uint8_t *)wrapped, w, &ev, &err), VT_OK);
	assert_string_equal(json_string_value(json_object_get(ev, "evidence")), t);
	json_decref(ev);
	free(wrapped);
	free(t);
	/* the JSON forms */
	json_t *gb = vec_json(vdir, GB100);
	char *s = json_dumps(gb, 0); /* an array of one */
	assert_int_equal(vt_nvidia_load_file((uint8_t *)s, strlen(s), &ev, &err), VT_OK);
	assert_string_equal(json_string_value(json_object_get(ev, "arch")), "BLACKWELL");
	json_decref(ev);
	free(s);
	s = json_dumps(json_array_get(gb, 0), 0);
	assert_int_equal(vt_nvidia_load_file((uint8_t *)s, strlen(s), &ev, &err), VT_OK);
	json_decref(ev);
	free(s);
	json_decref(gb);
	uint8_t *b = read_vec(vdir, PPCIE_8X, &n);
	assert_int_equal(vt_nvidia_load_file(b, n, &ev, &err), VT_E_USAGE);
	assert_non_null(strstr(err.detail, "8 device entries"));
	free(b);
	/* garbage */
	assert_int_equal(vt_nvidia_load_file((const uint8_t *)"hello, world", 12, &ev, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_int_equal(vt_nvidia_load_file((const uint8_t *)"{\"arch\":\"HOPPER\"}", 17, &ev, &err), VT_E_PARSE);
	assert_field(&err, "evidence");
	free(raw);
}

/* ------------------------------------------------------------ RIMs */

static void test_rim_sample(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vec(vdir, RIM_SAMPLE, &n);
	struct vt_nvidia_rim *rim = NULL;
	struct vt_err err = {0};
	vt_status rc = vt_nvidia_rim_load(b, n, "sample.swidtag", &rim, &err);
	if (rc != VT_OK)
		print_err(&err);
	assert_int_equal(rc, VT_OK);
	assert_true(rim->signature_verified);
	assert_string_equal(rim->version, "96.00.74.00.1a");
	assert_string_equal(rim->product, "GH100");
	assert_int_equal(rim->cert_count, 4);
	assert_int_equal(rim->golden_count, 64);
	size_t active = 0;
	for (size_t i = 0; i < rim->golden_count; i++) {
		assert_int_equal(rim->golden[i].index, i);
		active += rim->golden[i].active;
	}
	assert_int_equal(active, 12); /* README: 64 Measurement resources, 12 active */
	assert_int_equal(rim->golden[1].size, 48);
	char *h = vt_hex_encode(rim->golden[1].alt[0], 48);
	assert_string_equal(h, "b558fdac9af53b91ff3bdb06ff589859d6fbc1050d875c88329347f24ff7b3d11ac53688ba56db03cf8751913107e0db");
	free(h);
	/* its chain: valid while the signer is (2023-09-06 .. 2025-09-05) */
	rc = vt_nvidia_rim_check_chain(rim, T_RIM, &err);
	if (rc != VT_OK)
		print_err(&err);
	assert_int_equal(rc, VT_OK);
	assert_int_equal(vt_nvidia_rim_check_chain(rim, T_LATE, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_field(&err, "rim.KeyInfo.X509Certificate[0]");
	vt_nvidia_rim_free(rim);

	/* one changed byte in a signed measurement: the signature fails */
	uint8_t *m = malloc(n);
	memcpy(m, b, n);
	char *p = strstr((char *)m, "b558fdac9af53b91");
	assert_non_null(p);
	p[15] = '2';
	assert_int_equal(vt_nvidia_rim_load(m, n, NULL, &rim, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_null(rim);
	/* in the SignatureValue */
	memcpy(m, b, n);
	p = strstr((char *)m, "<ds:SignatureValue>") + strlen("<ds:SignatureValue>") + 10;
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(vt_nvidia_rim_load(m, n, NULL, &rim, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	/* in the colloquialVersion */
	memcpy(m, b, n);
	p = strstr((char *)m, "96.00.74.00.1A");
	p[13] = 'B';
	assert_int_equal(vt_nvidia_rim_load(m, n, NULL, &rim, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);

	/* one bit of every 29th byte: each changed RIM fails to load or its chain fails */
	size_t counts[VT_STEP_IO + 1] = {0}, total = 0;
	for (size_t i = 0; i < n; i += 29) {
		memcpy(m, b, n);
		m[i] ^= 0x01;
		rim = NULL;
		vt_err_clear(&err);
		rc = vt_nvidia_rim_load(m, n, NULL, &rim, &err);
		if (rc == VT_OK) {
			rc = vt_nvidia_rim_check_chain(rim, T_RIM, &err);
			vt_nvidia_rim_free(rim);
		}
		if (rc == VT_OK)
			fail_msg("RIM byte %zu ^ 0x01 accepted", i);
		counts[err.step]++;
		total++;
	}
	print_message("# %zu one-bit changes of the RIM: parse %zu, signature %zu, chain %zu\n", total,
		      counts[VT_STEP_PARSE], counts[VT_STEP_SIGNATURE], counts[VT_STEP_CHAIN]);
	assert_int_equal(counts[VT_STEP_PARSE] + counts[VT_STEP_SIGNATURE] + counts[VT_STEP_CHAIN], total);

	/* a DOCTYPE (entities) is refused before anything else */
	const char *dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>";
	assert_int_equal(vt_nvidia_rim_load((const uint8_t *)dtd, strlen(dtd), NULL, &rim, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	/* an external entity is never fetched */
	const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"http://127.0.0.1:9/x\">]><x>&e;</x>";
	assert_int_equal(vt_nvidia_rim_load((const uint8_t *)xxe, strlen(xxe), NULL, &rim, &err), VT_E_PARSE);
	const char *notxml = "<SoftwareIdentity";
	assert_int_equal(vt_nvidia_rim_load((const uint8_t *)notxml, strlen(notxml), NULL, &rim, &err), VT_E_PARSE);
	free(m);
	free(b);
}

/* The RIM option of a verifier: loaded (signature checked) when the
 * verifier is built; not applied to a device with another VBIOS. */
static void test_rim_option(void **state)
{
	(void)state;
	NEED_VECTORS();
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", vdir, RIM_SAMPLE);
	struct vt_verifier *v = new_verifier(NULL, path);
	json_t *ev = h100_evidence(vdir), *claims = NULL;
	struct vt_verify_ctx ctx = {.now = T_DEVICE, .verifier = v};
	struct vt_err err = {0};
	assert_int_equal(verify(&ctx, ev, H100_NONCE, &claims, &err), VT_OK);
	assert_null(json_object_get(claims, "rim")); /* 96.00.9f.00.01 != 96.00.74.00.1a */
	assert_null(json_object_get(claims, "measres"));
	json_decref(claims);
	json_decref(ev);
	vt_verifier_free(v);

	/* a changed RIM fails the verifier's construction, naming the file */
	char *dir = vt_test_tmpdir();
	size_t n;
	uint8_t *b = read_vec(vdir, RIM_SAMPLE, &n);
	char *p = strstr((char *)b, "b558fdac9af53b91");
	p[15] = '2';
	snprintf(path, sizeof(path), "%s/bad.swidtag", dir);
	assert_int_equal(vt_file_write(path, b, n, 0644, NULL), VT_OK);
	json_t *tees = json_pack("{s:{s:s}}", "nvidia", "rim", dir);
	struct vt_verifier_settings s = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED};
	v = NULL;
	assert_int_equal(vt_verifier_new(&s, &v, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_non_null(strstr(err.detail, "bad.swidtag"));
	assert_null(v);
	json_decref(tees);
	unlink(path);
	rmdir(dir);
	free(dir);
	free(b);
}

/* The comparison on a RIM built here (unsigned: vt_nvidia_rim_compare
 * checks nothing but the values) against the H100 sample's blocks. */
static void test_rim_compare(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *raw = h100_report(vdir, &n);
	struct vt_nvidia_report *r = malloc(sizeof(*r));
	assert_int_equal(vt_nvidia_report_parse(raw, n, r, NULL), VT_OK);
	struct vt_nvidia_golden g[6];
	memset(g, 0, sizeof(g));
	/* 0: block 1, all zero, matches */
	g[0] = (struct vt_nvidia_golden){.index = 0, .active = true, .size = 48, .alt_count = 1};
	/* 1: block 2, wrong value */
	g[1] = (struct vt_nvidia_golden){.index = 1, .active = true, .size = 48, .alt_count = 1};
	memset(g[1].alt[0], 0xab, 48);
	/* 2: block 3, the second of two alternatives matches */
	g[2] = (struct vt_nvidia_golden){.index = 2, .active = true, .size = 48, .alt_count = 2};
	memset(g[2].alt[0], 0x01, 48);
	memcpy(g[2].alt[1], r->blocks[2].value, 48);
	/* 3: block 4, wrong but inactive: ignored */
	g[3] = (struct vt_nvidia_golden){.index = 3, .active = false, .size = 48, .alt_count = 1};
	/* 4: block 5, right bytes but a different size */
	g[4] = (struct vt_nvidia_golden){.index = 4, .active = true, .size = 32, .alt_count = 1};
	memcpy(g[4].alt[0], r->blocks[4].value, 32);
	/* 5: index 70: the report has no block 71 */
	g[5] = (struct vt_nvidia_golden){.index = 70, .active = true, .size = 48, .alt_count = 1};
	struct vt_nvidia_rim rim = {.golden = g, .golden_count = 6};
	json_t *out = NULL;
	assert_int_equal(vt_nvidia_rim_compare(&rim, r, &out, NULL), VT_OK);
	char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	print_message("# %s\n", s);
	free(s);
	json_t *matched = json_object_get(out, "matched"), *mism = json_object_get(out, "mismatched");
	assert_int_equal(json_array_size(matched), 2);
	assert_int_equal(json_integer_value(json_array_get(matched, 0)), 0);
	assert_int_equal(json_integer_value(json_array_get(matched, 1)), 2);
	assert_int_equal(json_array_size(mism), 3);
	json_t *m1 = json_array_get(mism, 0);
	assert_int_equal(json_integer_value(json_object_get(m1, "index")), 1);
	assert_string_equal(json_string_value(json_object_get(m1, "seen")),
			    "8048dfd18fe229bf16eb9d30cca0f11a24dafe6eb731de1462984645a0b189b77c4e4e17de727a5e19e3d07de51da338");
	char ab[97];
	for (int i = 0; i < 96; i++)
		ab[i] = i % 2 ? 'b' : 'a';
	ab[96] = '\0';
	assert_string_equal(json_string_value(json_array_get(json_object_get(m1, "allowed"), 0)), ab);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mism, 1), "index")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mism, 2), "index")), 70);
	assert_true(json_is_null(json_object_get(json_array_get(mism, 2), "seen")));
	json_decref(out);
	free(r);
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_leaf_fwid),
		cmocka_unit_test(test_h100_hex),
		cmocka_unit_test(test_h100_certs_option),
		cmocka_unit_test(test_ppcie_8x_h100),
		cmocka_unit_test(test_ls10_4x),
		cmocka_unit_test(test_blackwell),
		cmocka_unit_test(test_chain_negatives),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_bad_arch),
		cmocka_unit_test(test_exhaustive_flips),
		cmocka_unit_test(test_truncation_extension),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_rim_sample),
		cmocka_unit_test(test_rim_option),
		cmocka_unit_test(test_rim_compare),
	};
	return cmocka_run_group_tests_name("nvidia", tests, NULL, NULL);
}
