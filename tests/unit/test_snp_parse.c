/*
 * Unit tests for SEV-SNP parsing: the attestation report (binary and
 * Trustee's JSON form), product/TCB decoding, the extended-report
 * certificate table and the VCEK/VLEK X.509 extensions.  Real evidence is
 * read from the shared vectors directory (skipped when absent); negative
 * cases use synthetic reports built here.
 */
#include "testutil.h"

#include <ctype.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/snp.h"

#define NEED_VECTORS(dir)                                                                                  \
	const char *dir = vt_test_vectors_dir();                                                           \
	if (dir == NULL) {                                                                                 \
		printf("# SKIP: ../shared/vectors not present (a fresh clone); set VERITEE_VECTORS\n");   \
		skip();                                                                                    \
	}

/* ------------------------------------------------------------------ helpers */

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A valid synthetic report of the given version (Milan CPUID for v3+). */
static void synth_report(uint8_t r[VT_SNP_REPORT_SIZE], uint32_t version)
{
	memset(r, 0, VT_SNP_REPORT_SIZE);
	put_le(r + 0x000, version, 4);
	put_le(r + 0x004, 7, 4);                            /* guest_svn */
	put_le(r + 0x008, 0x3001f, 8);                      /* policy (bit 17 set) */
	memset(r + 0x010, 0x01, 16);                        /* family_id */
	memset(r + 0x020, 0x02, 16);                        /* image_id */
	put_le(r + 0x034, 1, 4);                            /* signature_algo */
	put_le(r + 0x038, UINT64_C(0xce08000000000003), 8); /* current_tcb */
	put_le(r + 0x040, 0x25, 8);                         /* platform_info */
	for (size_t i = 0; i < 64; i++)
		r[0x050 + i] = (uint8_t)i;                  /* report_data */
	memset(r + 0x090, 0x5A, 48);                        /* measurement */
	memset(r + 0x0C0, 0x0C, 32);                        /* host_data */
	memset(r + 0x140, 0x40, 32);                        /* report_id */
	memset(r + 0x160, 0xFF, 32);                        /* report_id_ma */
	put_le(r + 0x180, UINT64_C(0x7308000000000003), 8); /* reported_tcb */
	if (version >= 3) {
		r[0x188] = 0x19;
		r[0x189] = 0x01;
		r[0x18A] = 0x01;
	}
	memset(r + 0x1A0, 0xC1, 64);                        /* chip_id */
	put_le(r + 0x1E0, UINT64_C(0x7308000000000003), 8); /* committed_tcb */
	r[0x1E8] = 4, r[0x1E9] = 52, r[0x1EA] = 1;
	r[0x1EC] = 4, r[0x1ED] = 52, r[0x1EE] = 1;
	put_le(r + 0x1F0, UINT64_C(0x7308000000000003), 8); /* launch_tcb */
	if (version >= 5) {
		put_le(r + 0x1F8, 0xb, 8);
		put_le(r + 0x200, 0x3, 8);
	}
	memset(r + 0x2A0, 0x22, 48); /* r: 48 significant bytes, 24 zero */
	memset(r + 0x2E8, 0x33, 48);
}

static void expect_fail(const uint8_t *buf, size_t size, bool allow_trailing, vt_status code, const char *field,
			const char *detail_has)
{
	struct vt_snp_report r;
	struct vt_err err = {0};
	vt_status rc = vt_snp_report_parse(buf, size, allow_trailing, &r, &err);
	if (rc != code)
		fail_msg("parse returned %s (%s: %s), want %s", vt_status_name(rc), err.field, err.detail,
			 vt_status_name(code));
	assert_err(&err, code, VT_STEP_PARSE);
	if (field != NULL)
		assert_string_equal(err.field, field);
	if (detail_has != NULL && strstr(err.detail, detail_has) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail_has);
}

static void expect_ok(const uint8_t *buf, size_t size, bool allow_trailing, struct vt_snp_report *r)
{
	struct vt_err err = {0};
	vt_status rc = vt_snp_report_parse(buf, size, allow_trailing, r, &err);
	if (rc != VT_OK)
		fail_msg("parse failed: %s: %s", err.field, err.detail);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
	if (want == NULL) { /* all zero */
		for (size_t i = 0; i < n; i++)
			if (p[i] != 0)
				fail_msg("byte %zu is 0x%02x, want all-zero", i, p[i]);
		return;
	}
	char *h = vt_hex_encode(p, n);
	assert_non_null(h);
	assert_string_equal(h, want);
	free(h);
}

static char *path_of(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void read_vector(const char *dir, const char *name, uint8_t **out, size_t *len)
{
	char *p = path_of(dir, name);
	struct vt_err err = {0};
	if (vt_file_read(p, 1u << 20, out, len, &err) != VT_OK)
		fail_msg("read %s: %s", p, err.detail);
	free(p);
}

/* JSON array of byte numbers to a malloc'd buffer. */
static uint8_t *json_bytes(const json_t *a, size_t *len)
{
	assert_true(json_is_array(a));
	*len = json_array_size(a);
	uint8_t *b = malloc(*len ? *len : 1);
	assert_non_null(b);
	for (size_t i = 0; i < *len; i++) {
		json_t *e = json_array_get(a, i);
		assert_true(json_is_integer(e));
		assert_in_range(json_integer_value(e), 0, 255);
		b[i] = (uint8_t)json_integer_value(e);
	}
	return b;
}

/*
 * The bytes of a real report file and where the report starts in them:
 * hex text, raw binary, an Azure HCL report (report at 0x20), or Azure's
 * evidence JSON whose "report" member is the HCL report as a byte array.
 */
static uint8_t *load_report_file(const char *dir, const char *name, size_t *len, size_t *off)
{
	uint8_t *raw;
	size_t n;
	read_vector(dir, name, &raw, &n);
	*off = 0;
	if (strstr(name, ".hex") != NULL) {
		while (n > 0 && isspace(raw[n - 1]))
			raw[--n] = '\0';
		uint8_t *bin;
		struct vt_err err = {0};
		if (vt_hex_decode((const char *)raw, &bin, len, &err) != VT_OK)
			fail_msg("hex decode %s: %s", name, err.detail);
		free(raw);
		return bin;
	}
	if (strstr(name, ".json") != NULL) {
		json_t *doc;
		struct vt_err err = {0};
		if (vt_json_parse((const char *)raw, n, 1u << 20, &doc, &err) != VT_OK)
			fail_msg("json %s: %s", name, err.detail);
		free(raw);
		uint8_t *hcl = json_bytes(json_object_get(doc, "report"), len);
		json_decref(doc);
		*off = 0x20;
		return hcl;
	}
	if (strstr(name, "hcl_report") != NULL)
		*off = 0x20;
	*len = n;
	return raw;
}

/* ------------------------------------------------------- real reports */

struct tcb_fact {
	uint64_t raw;
	uint8_t bl, tee, snp, ucode;
};

struct report_fact {
	const char *file;
	uint32_t version, guest_svn;
	uint64_t policy;
	uint32_t vmpl, key_info;
	uint64_t platform_info;
	struct tcb_fact tcb[4]; /* current, reported, committed, launch */
	const char *measurement, *report_data, *chip_id, *family_id, *image_id, *id_key_digest, *report_id;
	uint8_t fam, mod, step;
	uint8_t cur[3], com[3]; /* build, minor, major */
	uint64_t launch_mit, current_mit;
	const char *sig_r; /* big-endian hex */
	vt_snp_product product;
};

/* Ground truth transcribed from ../shared/vectors/README.md (snp/ rows). */
static const struct report_fact FACTS[] = {
	{"snp/virtee-sev_milan_v2_report.hex",
	 2, 0, 0x30000, 0, 0x0, 0x1,
	 {{0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115}},
	 "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
	 "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd",
	 "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
	 NULL, NULL,
	 NULL,
	 "92b3b47d59f0a2a10a74c5678868a80238cf593c01a82f3cffb878e904c28d5b",
	 0, 0, 0, {4, 52, 1}, {4, 52, 1}, 0, 0,
	 "72827fd0029b56ee2b7dec81480554cb05c0379cc2cb70e13da66ea9b7ee4044d54a2af43d235f62971966aa114fab61",
	 VT_SNP_PRODUCT_UNKNOWN},
	{"snp/trustee_milan_v2_report.bin",
	 2, 4, 0x3001f, 0, 0x0, 0x1,
	 {{0xce08000000000003, 3, 0, 8, 206},
	  {0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115}},
	 "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
	 "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e20000000000000000000000000000000000000000000000000000000000000000",
	 "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
	 "01000000000000000000000000000000", "02000000000000000000000000000000",
	 "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3",
	 "385eba81216de4776548fcb86f8ead03c1ebc92b6207f3210d9ccebb89c99005",
	 0, 0, 0, {4, 52, 1}, {4, 52, 1}, 0, 0,
	 "5008396832f141d9dcfba4dcaa0162e1595f1bb35e16162228519e6617abd4542decd1f2b915fe62cc43414e4fdceb06",
	 VT_SNP_PRODUCT_UNKNOWN},
	{"snp/trustee_aws_milan_vlek_v3_report.bin",
	 3, 0, 0x30000, 1, 0x4, 0x27,
	 {{0xdc18000000000004, 4, 0, 24, 220},
	  {0xd918000000000004, 4, 0, 24, 217},
	  {0xdb18000000000004, 4, 0, 24, 219},
	  {0xdb18000000000004, 4, 0, 24, 219}},
	 "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
	 "819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca",
	 NULL,
	 NULL, NULL,
	 NULL,
	 "62e04fba700afd93b3a0cc0649b633ee36587fa8a8c2eb5d9b7cd7bc5f4bb057",
	 0x19, 0x01, 0x01, {29, 55, 1}, {29, 55, 1}, 0, 0,
	 "5f44947cee229cdf0f6f4184e5f03b2190ae142fbe2bfa074e01b45e4cc91de39fcfea5c5525f9fef63d2d3bf18856bc",
	 VT_SNP_PRODUCT_MILAN},
	{"snp/teekit_gcp_milan_v5_report.bin",
	 5, 0, 0x30000, 0, 0x0, 0x25,
	 {{0xde1b000000000004, 4, 0, 27, 222},
	  {0xde1b000000000004, 4, 0, 27, 222},
	  {0xde1b000000000004, 4, 0, 27, 222},
	  {0xde1b000000000004, 4, 0, 27, 222}},
	 "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3",
	 "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	 "980cf7b61876cb37fd517cd44ce11c72d43c5408e66ab39138370ec59bc195e063254cb501d87d82f0b8b8dc774bcfe28019447711598f007390e4accc405361",
	 NULL, NULL,
	 NULL,
	 "9a0603343e711e1ec9b6b046023da5378e7c4cac6182e35d4f3ebeb46aef6c80",
	 0x19, 0x01, 0x01, {35, 55, 1}, {35, 55, 1}, 0xb, 0xb,
	 "1f05bc6fcfc316e40cdb7113be3ad79c5ab2186f3a341197cb58b3ce1fce3e8a166d7b246fee8319d0d2220276606d8f",
	 VT_SNP_PRODUCT_MILAN},
	{"snp/teekit_gcp_milan_v5_vmpl1_report.bin",
	 5, 0, 0x30000, 1, 0x0, 0x25,
	 {{0xde1b000000000004, 4, 0, 27, 222},
	  {0xde1b000000000004, 4, 0, 27, 222},
	  {0xde1b000000000004, 4, 0, 27, 222},
	  {0xde1b000000000004, 4, 0, 27, 222}},
	 "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3",
	 "32fc4f6c1971cbf91566231f8d6153eeb9d093aa94306cb48d39bcc4861a3d395f149876a37bc91332fe493f46294fd135d5b95d363ae96352b8c45f906079f5",
	 "980cf7b61876cb37fd517cd44ce11c72d43c5408e66ab39138370ec59bc195e063254cb501d87d82f0b8b8dc774bcfe28019447711598f007390e4accc405361",
	 NULL, NULL,
	 NULL,
	 "9a0603343e711e1ec9b6b046023da5378e7c4cac6182e35d4f3ebeb46aef6c80",
	 0x19, 0x01, 0x01, {35, 55, 1}, {35, 55, 1}, 0xb, 0xb,
	 "3ccef6279ce6a3388133faebbaa3e0ff39d0e26cdbcb1031d9bd52a59cd48b6f75c4b3a88a6a8982788eca2fa5c92413",
	 VT_SNP_PRODUCT_MILAN},
	{"snp/constellation_azure_milan_v2_report_plus_trailer.bin",
	 2, 2, 0x3001f, 0, 0x0, 0x1,
	 {{0x5d06000000000002, 2, 0, 6, 93},
	  {0x5d06000000000002, 2, 0, 6, 93},
	  {0x5d06000000000002, 2, 0, 6, 93},
	  {0x5d06000000000002, 2, 0, 6, 93}},
	 "5677f1de87289e7ad2c7e99c805d0468b1a9ccd83f0d245afa5242d405da4d5725852f8c6550564870e5f3206dfb1841",
	 "0ccc0895ef2f2c3b8c8568f5a2bb65ff5bf9387a09359742ad41e686cacfd38b0000000000000000000000000000000000000000000000000000000000000000",
	 "9e44aaef02cfca6fddbaca669c6cfd29e1ab8d97ebc939857128acbb13b8740df31436d34e86e5f8ae0cdfeb3a0e185db46decac176cc77d761c22a1b9dcf25b",
	 "01000000000000000000000000000000", "02000000000000000000000000000000",
	 "57e229e0ffe5fa92d0faddff6cae0e61c926fc9ef9afd20a8b8cfcf7129db9338cbe5bf3f6987733a2bf65d06dc38fc1",
	 "05f7240b24a1babe2ece844c4f792bcd9844bf6907d14aeea00156310b9538da",
	 0, 0, 0, {1, 51, 1}, {1, 51, 1}, 0, 0,
	 "2b422e9252103919360e8d780cf720a35610156570658e58915c115ef0fc7effe6a8db9ab374e7024888ffab15dcb7bc",
	 VT_SNP_PRODUCT_UNKNOWN},
	{"snp/azure_cvm_milan_hcl_report.bin",
	 2, 5, 0x3001f, 0, 0x0, 0x1,
	 {{0xd208000000000003, 3, 0, 8, 210},
	  {0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115},
	  {0x7308000000000003, 3, 0, 8, 115}},
	 "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
	 "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac0000000000000000000000000000000000000000000000000000000000000000",
	 "19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca",
	 "01000000000000000000000000000000", "02000000000000000000000000000000",
	 "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3",
	 "0d4188526468615ddf11dac0e0ef1b2a712631b2b9ec02d0e863a8f6d69ed0b0",
	 0, 0, 0, {4, 52, 1}, {4, 52, 1}, 0, 0,
	 "81c1bf7739f750be753bf7fe3bf3baf604fb2cf7c46c9ad7670da87bf626e086e08f66dc27d1f46fcd29004b2b0e5c18",
	 VT_SNP_PRODUCT_UNKNOWN},
	{"snp/azure_cvm_genoa_evidence.json",
	 3, 65547, 0x3001f, 0, 0x0, 0x24,
	 {{0x541700000000000a, 10, 0, 23, 84},
	  {0x541700000000000a, 10, 0, 23, 84},
	  {0x541700000000000a, 10, 0, 23, 84},
	  {0x541700000000000a, 10, 0, 23, 84}},
	 "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae",
	 "b581f12e29a2d7d64e5e0b738d563879a78b51c644d0fa0cce02b48699f6bf5f0000000000000000000000000000000000000000000000000000000000000000",
	 "0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1",
	 "01232000000000000000000000000000", "02000000000000000000000000000000",
	 "942fd93ebde6ea7a96efadeafc60f1c6b3d10e703b1dafd7555b92f7f3d32d0e006767648cba5b102af3d65756af4177",
	 "8c678f0cba548b25bc8ed1f723231570447886c74b1fa1f7eb23699755cb4801",
	 0x19, 0x11, 0x01, {40, 55, 1}, {40, 55, 1}, 0, 0,
	 "b775bc3097f1fd61a6070368fad320ec5f6f4c45481152cd34d7da06913947a7eae049f2e4db8fecdcf91dcf31bc59e8",
	 VT_SNP_PRODUCT_GENOA},
};

#define NFACTS (sizeof(FACTS) / sizeof(FACTS[0]))

static void check_tcb(uint64_t raw, vt_snp_product product, const struct tcb_fact *f)
{
	struct vt_snp_tcb t;
	assert_int_equal(raw, f->raw);
	vt_snp_tcb_decode(raw, product, &t);
	assert_int_equal(t.raw, f->raw);
	assert_int_equal(t.bootloader, f->bl);
	assert_int_equal(t.tee, f->tee);
	assert_int_equal(t.snp, f->snp);
	assert_int_equal(t.microcode, f->ucode);
	assert_int_equal(t.fmc, 0);
}

/* Signature R as stored (72 bytes little-endian) versus the big-endian hex. */
static void check_sig_r(const uint8_t r[72], const char *be_hex)
{
	uint8_t be[48];
	for (size_t i = 0; i < 48; i++)
		be[i] = r[47 - i];
	for (size_t i = 48; i < 72; i++)
		assert_int_equal(r[i], 0);
	char *h = vt_hex_encode(be, sizeof(be));
	assert_non_null(h);
	const char *a = h, *b = be_hex;
	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	assert_string_equal(a, b);
	free(h);
}

static void check_fact(const struct report_fact *f, const struct vt_snp_report *r)
{
	assert_int_equal(r->version, f->version);
	assert_int_equal(r->guest_svn, f->guest_svn);
	assert_int_equal(r->policy, f->policy);
	assert_int_equal(r->vmpl, f->vmpl);
	assert_int_equal(r->signature_algo, 1);
	assert_int_equal(r->key_info, f->key_info);
	assert_int_equal(r->platform_info, f->platform_info);
	assert_int_equal(r->product, f->product);
	check_tcb(r->current_tcb, r->product, &f->tcb[0]);
	check_tcb(r->reported_tcb, r->product, &f->tcb[1]);
	check_tcb(r->committed_tcb, r->product, &f->tcb[2]);
	check_tcb(r->launch_tcb, r->product, &f->tcb[3]);
	assert_hex(r->measurement, sizeof(r->measurement), f->measurement);
	assert_hex(r->report_data, sizeof(r->report_data), f->report_data);
	assert_hex(r->chip_id, sizeof(r->chip_id), f->chip_id);
	assert_hex(r->family_id, sizeof(r->family_id), f->family_id);
	assert_hex(r->image_id, sizeof(r->image_id), f->image_id);
	assert_hex(r->id_key_digest, sizeof(r->id_key_digest), f->id_key_digest);
	assert_hex(r->report_id, sizeof(r->report_id), f->report_id);
	assert_hex(r->host_data, sizeof(r->host_data), NULL);
	assert_hex(r->author_key_digest, sizeof(r->author_key_digest), NULL);
	assert_hex(r->report_id_ma, sizeof(r->report_id_ma),
		   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	assert_int_equal(r->cpuid_fam_id, f->fam);
	assert_int_equal(r->cpuid_mod_id, f->mod);
	assert_int_equal(r->cpuid_step, f->step);
	assert_int_equal(r->current_build, f->cur[0]);
	assert_int_equal(r->current_minor, f->cur[1]);
	assert_int_equal(r->current_major, f->cur[2]);
	assert_int_equal(r->committed_build, f->com[0]);
	assert_int_equal(r->committed_minor, f->com[1]);
	assert_int_equal(r->committed_major, f->com[2]);
	assert_int_equal(r->launch_mit_vector, f->launch_mit);
	assert_int_equal(r->current_mit_vector, f->current_mit);
	check_sig_r(r->sig_r, f->sig_r);
	for (size_t i = 48; i < 72; i++)
		assert_int_equal(r->sig_s[i], 0);
}

static void test_real_reports(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	for (size_t i = 0; i < NFACTS; i++) {
		const struct report_fact *f = &FACTS[i];
		size_t len, off;
		uint8_t *buf = load_report_file(dir, f->file, &len, &off);
		assert_true(len >= off && len - off >= VT_SNP_REPORT_SIZE);
		struct vt_snp_report r;
		bool trailing = len - off > VT_SNP_REPORT_SIZE;
		expect_ok(buf + off, len - off, trailing, &r);
		check_fact(f, &r);
		if (trailing) {
			/* Strict mode refuses the trailer; the first 1184 bytes alone parse. */
			expect_fail(buf + off, len - off, false, VT_E_PARSE, "report", "trailing");
			struct vt_snp_report r2;
			expect_ok(buf + off, VT_SNP_REPORT_SIZE, false, &r2);
			assert_memory_equal(&r, &r2, sizeof(r));
		}
		free(buf);
	}
}

static void test_real_specifics(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	struct vt_snp_report r;
	size_t len, off;
	uint8_t *buf;

	/* The VLEK-signed AWS report. */
	buf = load_report_file(dir, "snp/trustee_aws_milan_vlek_v3_report.bin", &len, &off);
	assert_int_equal(len, VT_SNP_REPORT_SIZE);
	expect_ok(buf, len, false, &r);
	assert_int_equal((r.key_info >> 2) & 7, VT_SNP_SIGNING_KEY_VLEK);
	assert_int_equal(r.key_info & 3, 0);
	free(buf);

	/* Constellation: 1204 bytes, report + 20-byte HCL trailer. */
	buf = load_report_file(dir, "snp/constellation_azure_milan_v2_report_plus_trailer.bin", &len, &off);
	assert_int_equal(len, 1204);
	expect_ok(buf, len, true, &r);
	expect_fail(buf, len, false, VT_E_PARSE, "report", "20 unexpected trailing bytes");
	free(buf);

	/* Azure HCL: "HCLA" header, then the report at 0x20. */
	buf = load_report_file(dir, "snp/azure_cvm_milan_hcl_report.bin", &len, &off);
	assert_int_equal(len, 2600);
	assert_memory_equal(buf, "HCLA", 4);
	expect_ok(buf + 0x20, len - 0x20, true, &r);
	expect_fail(buf, len, true, VT_E_PARSE, NULL, NULL); /* the header is not a report */
	free(buf);

	/* Azure Genoa evidence JSON: v3, Genoa, platform_info 0x24. */
	buf = load_report_file(dir, "snp/azure_cvm_genoa_evidence.json", &len, &off);
	assert_int_equal(len, 2600);
	expect_ok(buf + off, len - off, true, &r);
	assert_int_equal(r.product, VT_SNP_PRODUCT_GENOA);
	assert_string_equal(vt_snp_product_name(r.product), "Genoa");
	free(buf);
}

/* to_json(b) -> from_json -> b, and to_json(from_json(j)) == j. */
static void test_real_json_roundtrip(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	for (size_t i = 0; i < NFACTS; i++) {
		size_t len, off;
		uint8_t *buf = load_report_file(dir, FACTS[i].file, &len, &off);
		struct vt_err err = {0};
		json_t *j = NULL;
		if (vt_snp_report_to_json(buf + off, &j, &err) != VT_OK)
			fail_msg("%s: to_json: %s: %s", FACTS[i].file, err.field, err.detail);
		uint8_t back[VT_SNP_REPORT_SIZE];
		if (vt_snp_report_from_json(j, back, &err) != VT_OK)
			fail_msg("%s: from_json: %s: %s", FACTS[i].file, err.field, err.detail);
		assert_memory_equal(back, buf + off, VT_SNP_REPORT_SIZE);

		/* Through text, as it travels. */
		char *text = json_dumps(j, JSON_COMPACT);
		assert_non_null(text);
		json_t *j2 = NULL;
		assert_int_equal(vt_json_parse(text, strlen(text), 1u << 20, &j2, &err), VT_OK);
		assert_int_equal(vt_snp_report_from_json(j2, back, &err), VT_OK);
		json_t *j3 = NULL;
		assert_int_equal(vt_snp_report_to_json(back, &j3, &err), VT_OK);
		assert_true(json_equal(j, j3));

		/* The shape Trustee uses. */
		json_t *tcb = json_object_get(j, "current_tcb");
		assert_true(json_is_object(tcb));
		assert_true(json_is_null(json_object_get(tcb, "fmc")));
		assert_int_equal(json_integer_value(json_object_get(tcb, "bootloader")), FACTS[i].tcb[0].bl);
		assert_int_equal(json_integer_value(json_object_get(tcb, "microcode")), FACTS[i].tcb[0].ucode);
		assert_int_equal(json_integer_value(json_object_get(j, "policy")), (json_int_t)FACTS[i].policy);
		assert_int_equal(json_integer_value(json_object_get(j, "plat_info")),
				 (json_int_t)FACTS[i].platform_info);
		assert_int_equal(json_array_size(json_object_get(j, "measurement")), 48);
		assert_int_equal(json_array_size(json_object_get(json_object_get(j, "signature"), "r")), 72);
		assert_int_equal(json_object_size(json_object_get(j, "signature")), 2);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "current"), "minor")),
				 FACTS[i].cur[1]);
		if (FACTS[i].version == 2)
			assert_true(json_is_null(json_object_get(j, "cpuid_fam_id")));
		else
			assert_int_equal(json_integer_value(json_object_get(j, "cpuid_mod_id")), FACTS[i].mod);
		bool v5 = FACTS[i].version >= 5;
		assert_int_equal(json_object_get(j, "launch_mit_vector") != NULL, v5);
		assert_int_equal(json_object_size(j), v5 ? 29 : 27);
		if (v5)
			assert_int_equal(json_integer_value(json_object_get(j, "current_mit_vector")),
					 (json_int_t)FACTS[i].current_mit);

		json_decref(j);
		json_decref(j2);
		json_decref(j3);
		free(text);
		free(buf);
	}
}

/* Trustee's e2e evidence.json carries the same report as
 * trustee_milan_v2_report.bin; check the members it shows. */
static void test_real_json_trustee_shape(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	size_t len, off;
	uint8_t *buf = load_report_file(dir, "snp/trustee_milan_v2_report.bin", &len, &off);
	json_t *j = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_snp_report_to_json(buf, &j, &err), VT_OK);
	char *s = json_dumps(json_object_get(j, "current_tcb"), JSON_COMPACT);
	assert_string_equal(s, "{\"fmc\":null,\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":206}");
	free(s);
	s = json_dumps(json_object_get(j, "current"), JSON_COMPACT);
	assert_string_equal(s, "{\"major\":1,\"minor\":52,\"build\":4}");
	free(s);
	s = json_dumps(json_object_get(j, "family_id"), JSON_COMPACT);
	assert_string_equal(s, "[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]");
	free(s);
	assert_int_equal(json_integer_value(json_object_get(j, "policy")), 196639);
	assert_int_equal(json_integer_value(json_object_get(j, "guest_svn")), 4);
	json_t *r = json_object_get(json_object_get(j, "signature"), "r");
	assert_int_equal(json_integer_value(json_array_get(r, 0)), 6);
	assert_int_equal(json_integer_value(json_array_get(r, 1)), 235);
	assert_int_equal(json_integer_value(json_array_get(r, 47)), 80);
	assert_int_equal(json_integer_value(json_array_get(r, 48)), 0);
	/* First keys in Trustee's order. */
	const char *order[] = {"version", "guest_svn", "policy", "family_id", "image_id", "vmpl", "sig_algo",
			       "current_tcb", "plat_info", "key_info"};
	void *it = json_object_iter(j);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++, it = json_object_iter_next(j, it))
		assert_string_equal(json_object_iter_key(it), order[i]);
	json_decref(j);
	free(buf);
}

/* ------------------------------------------------ product and TCB decode */

static void test_product(void **state)
{
	(void)state;
	struct { uint8_t fam, mod; vt_snp_product p; } cases[] = {
		{0x19, 0x00, VT_SNP_PRODUCT_MILAN}, {0x19, 0x01, VT_SNP_PRODUCT_MILAN},
		{0x19, 0x0F, VT_SNP_PRODUCT_MILAN}, {0x19, 0x10, VT_SNP_PRODUCT_GENOA},
		{0x19, 0x11, VT_SNP_PRODUCT_GENOA}, {0x19, 0x1F, VT_SNP_PRODUCT_GENOA},
		{0x19, 0x20, VT_SNP_PRODUCT_UNKNOWN}, {0x19, 0x9F, VT_SNP_PRODUCT_UNKNOWN},
		{0x19, 0xA0, VT_SNP_PRODUCT_GENOA}, {0x19, 0xAF, VT_SNP_PRODUCT_GENOA},
		{0x19, 0xB0, VT_SNP_PRODUCT_UNKNOWN}, {0x1A, 0x00, VT_SNP_PRODUCT_TURIN},
		{0x1A, 0x11, VT_SNP_PRODUCT_TURIN}, {0x1A, 0x12, VT_SNP_PRODUCT_UNKNOWN},
		{0x1A, 0x50, VT_SNP_PRODUCT_UNKNOWN}, {0x18, 0x01, VT_SNP_PRODUCT_UNKNOWN},
		{0x00, 0x00, VT_SNP_PRODUCT_UNKNOWN}, {0x1B, 0x00, VT_SNP_PRODUCT_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(vt_snp_product_from_cpuid(cases[i].fam, cases[i].mod), cases[i].p);
	assert_string_equal(vt_snp_product_name(VT_SNP_PRODUCT_MILAN), "Milan");
	assert_string_equal(vt_snp_product_name(VT_SNP_PRODUCT_GENOA), "Genoa");
	assert_string_equal(vt_snp_product_name(VT_SNP_PRODUCT_TURIN), "Turin");
	assert_string_equal(vt_snp_product_name(VT_SNP_PRODUCT_UNKNOWN), "unknown");
	assert_string_equal(vt_snp_product_name((vt_snp_product)42), "unknown");
}

static void test_tcb_decode(void **state)
{
	(void)state;
	struct vt_snp_tcb t;
	uint64_t raw = UINT64_C(0x8877665544332211);
	vt_snp_tcb_decode(raw, VT_SNP_PRODUCT_MILAN, &t);
	assert_int_equal(t.bootloader, 0x11);
	assert_int_equal(t.tee, 0x22);
	assert_int_equal(t.snp, 0x77);
	assert_int_equal(t.microcode, 0x88);
	assert_int_equal(t.fmc, 0);
	assert_int_equal(t.raw, raw);
	struct vt_snp_tcb g;
	vt_snp_tcb_decode(raw, VT_SNP_PRODUCT_GENOA, &g);
	assert_memory_equal(&t, &g, sizeof(t));
	vt_snp_tcb_decode(raw, VT_SNP_PRODUCT_UNKNOWN, &g);
	assert_memory_equal(&t, &g, sizeof(t));
	vt_snp_tcb_decode(raw, VT_SNP_PRODUCT_TURIN, &t);
	assert_int_equal(t.fmc, 0x11);
	assert_int_equal(t.bootloader, 0x22);
	assert_int_equal(t.tee, 0x33);
	assert_int_equal(t.snp, 0x44);
	assert_int_equal(t.microcode, 0x88);
	assert_int_equal(t.raw, raw);
	/* The doc's formula for Milan/Genoa: ucode<<56 | snp<<48 | tee<<8 | bl. */
	vt_snp_tcb_decode(UINT64_C(0xd918000000000004), VT_SNP_PRODUCT_MILAN, &t);
	assert_int_equal(t.bootloader, 4);
	assert_int_equal(t.tee, 0);
	assert_int_equal(t.snp, 24);
	assert_int_equal(t.microcode, 217);
}

/* ------------------------------------------------------- synthetic reports */

static void test_synth_ok(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE + 1];
	struct vt_snp_report r;
	for (uint32_t v = 2; v <= 5; v++) {
		synth_report(b, v);
		expect_ok(b, VT_SNP_REPORT_SIZE, false, &r);
		assert_int_equal(r.version, v);
		assert_int_equal(r.guest_svn, 7);
		assert_int_equal(r.policy, 0x3001f);
		assert_int_equal(r.platform_info, 0x25);
		assert_int_equal(r.report_data[63], 63);
		assert_int_equal(r.product, v >= 3 ? VT_SNP_PRODUCT_MILAN : VT_SNP_PRODUCT_UNKNOWN);
		assert_int_equal(r.cpuid_fam_id, v >= 3 ? 0x19 : 0);
		assert_int_equal(r.launch_mit_vector, v >= 5 ? 0xb : 0);
		assert_int_equal(r.current_mit_vector, v >= 5 ? 0x3 : 0);
		assert_int_equal(r.sig_r[0], 0x22);
		assert_int_equal(r.sig_s[47], 0x33);
		assert_int_equal(r.sig_s[48], 0);
	}
	/* VLEK signing key, author key and mask-chip-key bits are accepted. */
	synth_report(b, 3);
	put_le(b + 0x48, 0x7, 4);
	expect_ok(b, VT_SNP_REPORT_SIZE, false, &r);
	assert_int_equal(r.key_info, 7);
	/* Trailing byte: only with allow_trailing. */
	b[VT_SNP_REPORT_SIZE] = 0xEE;
	expect_ok(b, sizeof(b), true, &r);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report", "1 unexpected trailing bytes");
	/* Bad arguments. */
	struct vt_err err = {0};
	assert_int_equal(vt_snp_report_parse(NULL, 10, false, &r, &err), VT_E_USAGE);
	assert_int_equal(vt_snp_report_parse(b, sizeof(b), false, NULL, NULL), VT_E_USAGE);
}

static void test_truncations(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE];
	synth_report(b, 5);
	for (size_t n = 0; n < VT_SNP_REPORT_SIZE; n++) {
		/* A copy of exactly n bytes so ASan sees any over-read. */
		uint8_t *c = malloc(n ? n : 1);
		assert_non_null(c);
		memcpy(c, b, n);
		expect_fail(n ? c : NULL, n, true, VT_E_PARSE, "report", "need 1184");
		expect_fail(n ? c : NULL, n, false, VT_E_PARSE, "report", NULL);
		free(c);
	}
}

static void test_version(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE];
	uint32_t bad[] = {0, 1, 6, 7, 0x100, 0xFFFFFFFFu};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[32];
		synth_report(b, 3);
		put_le(b, bad[i], 4);
		snprintf(want, sizeof(want), "version %u", (unsigned)bad[i]);
		expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.version", want);
	}
	/* Version 4 reads as 3 (CPUID present). */
	synth_report(b, 4);
	struct vt_snp_report r;
	expect_ok(b, sizeof(b), false, &r);
	assert_int_equal(r.version, 4);
	assert_int_equal(r.product, VT_SNP_PRODUCT_MILAN);
}

static void test_signature_algo(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE];
	uint32_t bad[] = {0, 2, 0x101};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		synth_report(b, 3);
		put_le(b + 0x34, bad[i], 4);
		char want[48];
		snprintf(want, sizeof(want), "signature algorithm %u", (unsigned)bad[i]);
		expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.signature_algo", want);
	}
}

/* Every byte of [start, start+len) set non-zero on its own must fail with
 * `field`, naming the offset in the detail. */
static void check_reserved(uint32_t version, size_t start, size_t len, const char *field)
{
	uint8_t b[VT_SNP_REPORT_SIZE];
	struct vt_snp_report r;
	synth_report(b, version);
	expect_ok(b, sizeof(b), false, &r);
	for (size_t i = start; i < start + len; i++) {
		synth_report(b, version);
		b[i] = (uint8_t)(0x80 | i);
		char want[16];
		snprintf(want, sizeof(want), "0x%03zX", len == 4 && start == 0x4C ? start : i);
		expect_fail(b, sizeof(b), false, VT_E_PARSE, field, want);
	}
}

static void test_reserved_0x4c(void **state)
{
	(void)state;
	check_reserved(3, 0x4C, 4, "report.reserved@0x4C");
	check_reserved(2, 0x4C, 4, "report.reserved@0x4C");
}

static void test_reserved_0x188_v2(void **state)
{
	(void)state;
	check_reserved(2, 0x188, 24, "report.reserved@0x188"); /* CPUID bytes included */
}

static void test_reserved_0x18b_v3(void **state)
{
	(void)state;
	check_reserved(3, 0x18B, 21, "report.reserved@0x18B");
	check_reserved(4, 0x18B, 21, "report.reserved@0x18B");
	check_reserved(5, 0x18B, 21, "report.reserved@0x18B");
}

static void test_reserved_0x1eb(void **state)
{
	(void)state;
	check_reserved(3, 0x1EB, 1, "report.reserved@0x1EB");
}

static void test_reserved_0x1ef(void **state)
{
	(void)state;
	check_reserved(3, 0x1EF, 1, "report.reserved@0x1EF");
}

static void test_reserved_0x1f8_v2_v4(void **state)
{
	(void)state;
	check_reserved(2, 0x1F8, 168, "report.reserved@0x1F8"); /* mitigation vectors are v5 only */
	check_reserved(3, 0x1F8, 168, "report.reserved@0x1F8");
	check_reserved(4, 0x1F8, 168, "report.reserved@0x1F8");
}

static void test_reserved_0x208_v5(void **state)
{
	(void)state;
	check_reserved(5, 0x208, 152, "report.reserved@0x208");
}

static void test_reserved_signature(void **state)
{
	(void)state;
	check_reserved(3, 0x330, VT_SNP_REPORT_SIZE - 0x330, "report.signature.reserved");
	/* Bit flips anywhere in r/s (bytes 48..71 included) are not a parse matter. */
	uint8_t b[VT_SNP_REPORT_SIZE];
	struct vt_snp_report r;
	synth_report(b, 3);
	b[0x2A0 + 71] = 1;
	b[0x2E8 + 50] = 0x80;
	expect_ok(b, sizeof(b), false, &r);
}

static void test_policy_bit17(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE];
	synth_report(b, 3);
	put_le(b + 8, 0x1001f, 8);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.policy", "bit 17");
	put_le(b + 8, 0, 8);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.policy", "0x0");
	/* Other policy bits (debug, migrate, ...) are for the appraisal policy. */
	put_le(b + 8, 0x3f0000 | 0x20000, 8);
	struct vt_snp_report r;
	expect_ok(b, sizeof(b), false, &r);
	assert_int_equal(r.policy, 0x3f0000);
}

static void test_platform_info_bit6(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE];
	synth_report(b, 3);
	put_le(b + 0x40, 0x40, 8);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.platform_info", "0x40");
	put_le(b + 0x40, 0xff, 8);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.platform_info", "bit 6");
	put_le(b + 0x40, 0xbf, 8);
	struct vt_snp_report r;
	expect_ok(b, sizeof(b), false, &r);
}

static void test_signing_key(void **state)
{
	(void)state;
	uint8_t b[VT_SNP_REPORT_SIZE];
	for (uint32_t k = 2; k <= 7; k++) {
		synth_report(b, 3);
		put_le(b + 0x48, k << 2, 4);
		char want[32];
		snprintf(want, sizeof(want), "signing_key %u", (unsigned)k);
		expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.key_info", want);
	}
	/* Bits 31:5 are MBZ. */
	synth_report(b, 3);
	put_le(b + 0x48, 0x20, 4);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.key_info", "reserved bits");
	put_le(b + 0x48, 0x80000000u, 4);
	expect_fail(b, sizeof(b), false, VT_E_PARSE, "report.key_info", "0x80000000");
}

/* ------------------------------------------------------------ JSON form */

static json_t *synth_json(uint32_t version)
{
	uint8_t b[VT_SNP_REPORT_SIZE];
	synth_report(b, version);
	json_t *j = NULL;
	struct vt_err err = {0};
	if (vt_snp_report_to_json(b, &j, &err) != VT_OK)
		fail_msg("to_json: %s: %s", err.field, err.detail);
	uint8_t back[VT_SNP_REPORT_SIZE];
	assert_int_equal(vt_snp_report_from_json(j, back, &err), VT_OK);
	assert_memory_equal(back, b, sizeof(b));
	return j;
}

static void json_expect_fail(const json_t *j, const char *field, const char *detail_has)
{
	uint8_t out[VT_SNP_REPORT_SIZE];
	struct vt_err err = {0};
	vt_status rc = vt_snp_report_from_json(j, out, &err);
	if (rc != VT_E_PARSE)
		fail_msg("from_json returned %s (%s: %s), want parse error at %s", vt_status_name(rc), err.field,
			 err.detail, field);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	assert_string_equal(err.field, field);
	if (detail_has != NULL && strstr(err.detail, detail_has) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, detail_has);
}

static void test_json_synth_roundtrip(void **state)
{
	(void)state;
	for (uint32_t v = 2; v <= 5; v++)
		json_decref(synth_json(v));

	/* Turin: fmc is a number and the TCB bytes follow the Turin layout. */
	uint8_t b[VT_SNP_REPORT_SIZE], back[VT_SNP_REPORT_SIZE];
	synth_report(b, 3);
	b[0x188] = 0x1A, b[0x189] = 0x02, b[0x18A] = 0x00;
	put_le(b + 0x038, UINT64_C(0x2300000004030201), 8);
	put_le(b + 0x180, UINT64_C(0x0900000000000000), 8);
	put_le(b + 0x1E0, UINT64_C(0x0900000000000000), 8);
	put_le(b + 0x1F0, UINT64_C(0x0900000001000000), 8);
	json_t *j = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_snp_report_to_json(b, &j, &err), VT_OK);
	char *s = json_dumps(json_object_get(j, "current_tcb"), JSON_COMPACT);
	assert_string_equal(s, "{\"fmc\":1,\"bootloader\":2,\"tee\":3,\"snp\":4,\"microcode\":35}");
	free(s);
	assert_int_equal(vt_snp_report_from_json(j, back, &err), VT_OK);
	assert_memory_equal(back, b, sizeof(b));
	/* fmc null on a Turin report is refused. */
	json_object_set_new(json_object_get(j, "launch_tcb"), "fmc", json_null());
	json_expect_fail(j, "attestation_report.launch_tcb", "fmc");
	json_decref(j);

	/* A Milan TCB with a non-zero reserved byte cannot be written as JSON. */
	synth_report(b, 3);
	b[0x038 + 3] = 1;
	struct vt_snp_report r;
	expect_ok(b, sizeof(b), false, &r);
	vt_err_clear(&err);
	assert_int_equal(vt_snp_report_to_json(b, &j, &err), VT_E_PARSE);
	assert_string_equal(err.field, "attestation_report.current_tcb");
	assert_null(j);

	/* to_json validates the report first. */
	synth_report(b, 3);
	b[0x400] = 1;
	vt_err_clear(&err);
	assert_int_equal(vt_snp_report_to_json(b, &j, &err), VT_E_PARSE);
	assert_string_equal(err.field, "report.signature.reserved");

	/* A JSON "fmc" member may be absent (older sev crate) for non-Turin. */
	j = synth_json(3);
	json_object_del(json_object_get(j, "reported_tcb"), "fmc");
	synth_report(b, 3);
	assert_int_equal(vt_snp_report_from_json(j, back, &err), VT_OK);
	assert_memory_equal(back, b, sizeof(b));
	json_decref(j);
}

static void test_json_wrong_length(void **state)
{
	(void)state;
	json_t *j = synth_json(3);
	json_array_remove(json_object_get(j, "measurement"), 0);
	json_expect_fail(j, "attestation_report.measurement", "47 elements, want 48");
	json_decref(j);

	j = synth_json(3);
	json_array_append_new(json_object_get(j, "report_data"), json_integer(0));
	json_expect_fail(j, "attestation_report.report_data", "65 elements, want 64");
	json_decref(j);

	j = synth_json(3);
	json_array_clear(json_object_get(j, "chip_id"));
	json_expect_fail(j, "attestation_report.chip_id", "0 elements");
	json_decref(j);

	j = synth_json(3);
	json_array_remove(json_object_get(json_object_get(j, "signature"), "s"), 71);
	json_expect_fail(j, "attestation_report.signature.s", "71 elements, want 72");
	json_decref(j);
}

static void test_json_byte_range(void **state)
{
	(void)state;
	json_t *j = synth_json(3);
	json_array_set_new(json_object_get(j, "host_data"), 5, json_integer(256));
	json_expect_fail(j, "attestation_report.host_data", "[5] is 256");
	json_decref(j);

	j = synth_json(3);
	json_array_set_new(json_object_get(j, "family_id"), 0, json_integer(-1));
	json_expect_fail(j, "attestation_report.family_id", "[0] is -1");
	json_decref(j);

	j = synth_json(3);
	json_array_set_new(json_object_get(json_object_get(j, "signature"), "r"), 3, json_string("7"));
	json_expect_fail(j, "attestation_report.signature.r", "[3] is a string");
	json_decref(j);

	j = synth_json(3);
	json_array_set_new(json_object_get(j, "image_id"), 1, json_real(1.0));
	json_expect_fail(j, "attestation_report.image_id", "real number");
	json_decref(j);

	/* Integers out of range. */
	j = synth_json(3);
	json_object_set_new(json_object_get(j, "current_tcb"), "microcode", json_integer(256));
	json_expect_fail(j, "attestation_report.current_tcb.microcode", "256");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "vmpl", json_integer((json_int_t)UINT32_MAX + 1));
	json_expect_fail(j, "attestation_report.vmpl", "out of range");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "guest_svn", json_integer(-5));
	json_expect_fail(j, "attestation_report.guest_svn", "-5");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(json_object_get(j, "committed"), "build", json_integer(1000));
	json_expect_fail(j, "attestation_report.committed.build", "1000");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "cpuid_step", json_integer(256));
	json_expect_fail(j, "attestation_report.cpuid_step", "256");
	json_decref(j);
}

static void test_json_missing_key(void **state)
{
	(void)state;
	const char *keys[] = {"version", "policy", "measurement", "chip_id", "current_tcb", "signature",
			      "cpuid_fam_id", "committed", "key_info"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *j = synth_json(3);
		json_object_del(j, keys[i]);
		char f[64];
		snprintf(f, sizeof(f), "attestation_report.%s", keys[i]);
		json_expect_fail(j, f, "missing");
		json_decref(j);
	}
	json_t *j = synth_json(3);
	json_object_del(json_object_get(j, "launch_tcb"), "snp");
	json_expect_fail(j, "attestation_report.launch_tcb.snp", "missing");
	json_decref(j);
	j = synth_json(3);
	json_object_del(json_object_get(j, "signature"), "r");
	json_expect_fail(j, "attestation_report.signature.r", "missing");
	json_decref(j);
	j = synth_json(3);
	json_object_del(json_object_get(j, "current"), "major");
	json_expect_fail(j, "attestation_report.current.major", "missing");
	json_decref(j);
}

static void test_json_extra_key(void **state)
{
	(void)state;
	json_t *j = synth_json(3);
	json_object_set_new(j, "bogus", json_integer(1));
	json_expect_fail(j, "attestation_report.bogus", "unknown member \"bogus\"");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(json_object_get(j, "reported_tcb"), "reserved", json_integer(0));
	json_expect_fail(j, "attestation_report.reported_tcb.reserved", "unknown member");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(json_object_get(j, "signature"), "reserved", json_array());
	json_expect_fail(j, "attestation_report.signature.reserved", "unknown member");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(json_object_get(j, "current"), "patch", json_integer(0));
	json_expect_fail(j, "attestation_report.current.patch", "unknown member");
	json_decref(j);
}

static void test_json_wrong_type(void **state)
{
	(void)state;
	json_t *j = synth_json(3);
	json_object_set_new(j, "version", json_string("3"));
	json_expect_fail(j, "attestation_report.version", "is a string");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "measurement", json_string("5a5a"));
	json_expect_fail(j, "attestation_report.measurement", "is a string");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "current_tcb", json_integer(3));
	json_expect_fail(j, "attestation_report.current_tcb", "want an object");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "signature", json_array());
	json_expect_fail(j, "attestation_report.signature", "is a array");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "plat_info", json_real(37.0));
	json_expect_fail(j, "attestation_report.plat_info", "real number");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "policy", json_true());
	json_expect_fail(j, "attestation_report.policy", "is a true");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "guest_svn", json_null());
	json_expect_fail(j, "attestation_report.guest_svn", "null");
	json_decref(j);

	/* CPUID: null for v2 only, numbers for v3+. */
	j = synth_json(3);
	json_object_set_new(j, "cpuid_fam_id", json_null());
	json_expect_fail(j, "attestation_report.cpuid_fam_id", "must be a number");
	json_decref(j);
	j = synth_json(2);
	json_object_set_new(j, "cpuid_mod_id", json_integer(1));
	json_expect_fail(j, "attestation_report.cpuid_mod_id", "must be null");
	json_decref(j);

	/* fmc as a number on a Milan report. */
	j = synth_json(3);
	json_object_set_new(json_object_get(j, "current_tcb"), "fmc", json_integer(0));
	json_expect_fail(j, "attestation_report.current_tcb", "fmc");
	json_decref(j);

	/* Not an object at all. */
	json_t *a = json_array();
	json_expect_fail(a, "attestation_report", "want an object");
	json_decref(a);
}

static void test_json_semantic(void **state)
{
	(void)state;
	/* The JSON decodes to bytes that must still be a valid report. */
	json_t *j = synth_json(3);
	json_object_set_new(j, "version", json_integer(6));
	json_expect_fail(j, "report.version", "6");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "sig_algo", json_integer(2));
	json_expect_fail(j, "report.signature_algo", "2");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "policy", json_integer(0x1001f));
	json_expect_fail(j, "report.policy", "bit 17");
	json_decref(j);

	j = synth_json(3);
	json_object_set_new(j, "launch_mit_vector", json_integer(1));
	json_expect_fail(j, "report.reserved@0x1F8", NULL);
	json_decref(j);

	/* v5 members are optional and null means 0. */
	j = synth_json(5);
	json_object_set_new(j, "current_mit_vector", json_null());
	uint8_t out[VT_SNP_REPORT_SIZE];
	struct vt_err err = {0};
	assert_int_equal(vt_snp_report_from_json(j, out, &err), VT_OK);
	assert_int_equal(out[0x200], 0);
	assert_int_equal(out[0x1F8], 0xb);
	json_decref(j);
}

/* ------------------------------------------------------ certificate table */

static void guid_from_str(const char *s, uint8_t g[16])
{
	char hex[33];
	size_t n = 0;
	for (; *s && n < 32; s++)
		if (*s != '-')
			hex[n++] = *s;
	hex[n] = '\0';
	struct vt_err err = {0};
	assert_int_equal(vt_hex_decode_fixed(hex, g, 16, &err), VT_OK);
}

static void put_entry(uint8_t *t, size_t i, const char *guid, uint32_t off, uint32_t len)
{
	if (guid != NULL)
		guid_from_str(guid, t + 24 * i);
	else
		memset(t + 24 * i, 0, 16);
	put_le(t + 24 * i + 16, off, 4);
	put_le(t + 24 * i + 20, len, 4);
}

#define G_ARK "c0b406a4-a803-4952-9743-3fb6014cd0ae"
#define G_ASK "4ab7b379-bbac-4fe4-a02f-05aef327c782"
#define G_VCEK "63da758d-e664-4564-adc5-f4b93be8accd"
#define G_VLEK "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
#define G_CRL "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"
#define G_OTHER "ecae0c0f-9502-43b1-afa2-0ae2e0d565b6"

static void cert_expect_fail(const uint8_t *t, size_t size, vt_status code, const char *field, const char *has)
{
	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	size_t n = 99;
	struct vt_err err = {0};
	uint8_t *copy = malloc(size ? size : 1); /* exact-size copy for ASan */
	assert_non_null(copy);
	memcpy(copy, t, size);
	vt_status rc = vt_snp_cert_table_parse(size ? copy : NULL, size, e, &n, &err);
	free(copy);
	if (rc != code)
		fail_msg("cert table: %s (%s: %s), want %s", vt_status_name(rc), err.field, err.detail,
			 vt_status_name(code));
	assert_err(&err, code, VT_STEP_PARSE);
	assert_int_equal(n, 0);
	if (field != NULL)
		assert_string_equal(err.field, field);
	if (has != NULL && strstr(err.detail, has) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", err.detail, has);
}

static void test_certtable_valid(void **state)
{
	(void)state;
	uint8_t t[200];
	memset(t, 0xAB, sizeof(t));
	/* 5 entries + terminator = 144 bytes of header. */
	put_entry(t, 0, G_ARK, 144, 10);
	put_entry(t, 1, G_ASK, 154, 20);
	put_entry(t, 2, G_VCEK, 174, 26);
	put_entry(t, 3, G_OTHER, 144, 0);
	put_entry(t, 4, G_VLEK, 190, 10);
	put_entry(t, 5, NULL, 0, 0);
	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	size_t n = 0;
	struct vt_err err = {0};
	assert_int_equal(vt_snp_cert_table_parse(t, sizeof(t), e, &n, &err), VT_OK);
	assert_int_equal(n, 5);
	assert_int_equal(e[0].kind, VT_SNP_CERT_ARK);
	assert_int_equal(e[0].offset, 144);
	assert_int_equal(e[0].length, 10);
	assert_int_equal(e[1].kind, VT_SNP_CERT_ASK);
	assert_int_equal(e[1].offset, 154);
	assert_int_equal(e[1].length, 20);
	assert_int_equal(e[2].kind, VT_SNP_CERT_VCEK);
	assert_int_equal(e[2].offset, 174);
	assert_int_equal(e[2].length, 26);
	assert_int_equal(e[3].kind, VT_SNP_CERT_OTHER);
	assert_int_equal(e[4].kind, VT_SNP_CERT_VLEK);
	/* RFC 4122 byte order: the bytes read like the string. */
	static const uint8_t ark[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
					0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};
	assert_memory_equal(e[0].guid, ark, 16);

	/* CRL, and an entry ending exactly at the end of the buffer. */
	uint8_t t2[24 * 2 + 4];
	put_entry(t2, 0, G_CRL, 48, 4);
	put_entry(t2, 1, NULL, 0, 0);
	memset(t2 + 48, 1, 4);
	assert_int_equal(vt_snp_cert_table_parse(t2, sizeof(t2), e, &n, &err), VT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].kind, VT_SNP_CERT_CRL);

	/* Empty table: just the terminator. */
	uint8_t t3[24] = {0};
	assert_int_equal(vt_snp_cert_table_parse(t3, sizeof(t3), e, &n, &err), VT_OK);
	assert_int_equal(n, 0);

	/* 16 entries is the maximum. */
	uint8_t t4[24 * 17];
	for (size_t i = 0; i < 16; i++)
		put_entry(t4, i, G_OTHER, 24 * 17, 0);
	put_entry(t4, 16, NULL, 0, 0);
	assert_int_equal(vt_snp_cert_table_parse(t4, sizeof(t4), e, &n, &err), VT_OK);
	assert_int_equal(n, 16);

	/* Mixed-endian (Microsoft-style) GUID is not the VCEK. */
	uint8_t t5[48] = {0};
	static const uint8_t vcek_swapped[16] = {0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45,
						 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
	memcpy(t5, vcek_swapped, 16);
	put_le(t5 + 16, 48, 4);
	assert_int_equal(vt_snp_cert_table_parse(t5, sizeof(t5), e, &n, &err), VT_OK);
	assert_int_equal(e[0].kind, VT_SNP_CERT_OTHER);
}

static void test_certtable_truncated(void **state)
{
	(void)state;
	uint8_t t[24 * 3 + 8];
	put_entry(t, 0, G_ARK, 72, 4);
	put_entry(t, 1, G_VCEK, 76, 4);
	put_entry(t, 2, NULL, 0, 0);
	memset(t + 72, 0, 8);
	for (size_t n = 0; n < 72; n++)
		cert_expect_fail(t, n, VT_E_PARSE, NULL, NULL);
	/* Header complete but data cut. */
	cert_expect_fail(t, 77, VT_E_PARSE, "certtable.entry[1]", "exceeds");
}

static void test_certtable_no_terminator(void **state)
{
	(void)state;
	uint8_t t[48];
	put_entry(t, 0, G_ARK, 48, 0);
	put_entry(t, 1, G_ASK, 48, 0);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[2]", "terminator");
	/* A zero GUID with a non-zero offset or length is not a terminator. */
	uint8_t t2[72];
	put_entry(t2, 0, G_ARK, 72, 0);
	put_entry(t2, 1, NULL, 72, 0);
	put_entry(t2, 2, NULL, 0, 0);
	cert_expect_fail(t2, sizeof(t2), VT_E_PARSE, "certtable.entry[1]", "terminator");
	put_entry(t2, 1, NULL, 0, 1);
	cert_expect_fail(t2, sizeof(t2), VT_E_PARSE, "certtable.entry[1]", "terminator");
}

static void test_certtable_offset_inside_header(void **state)
{
	(void)state;
	uint8_t t[24 * 3 + 16];
	memset(t, 0, sizeof(t));
	put_entry(t, 0, G_ARK, 72, 8);
	put_entry(t, 1, G_ASK, 48, 8); /* inside the terminator */
	put_entry(t, 2, NULL, 0, 0);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[1]", "inside the entry array");
	put_entry(t, 1, G_ASK, 0, 8);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[1]", "inside the entry array");
	put_entry(t, 1, G_ASK, 71, 8);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[1]", "inside the entry array");
	put_entry(t, 1, G_ASK, 80, 8); /* fine */
	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	size_t n;
	assert_int_equal(vt_snp_cert_table_parse(t, sizeof(t), e, &n, NULL), VT_OK);
	assert_int_equal(n, 2);
}

static void test_certtable_past_end(void **state)
{
	(void)state;
	uint8_t t[24 * 2 + 16];
	memset(t, 0, sizeof(t));
	put_entry(t, 0, G_VCEK, 48, 17);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[0]", "exceeds the table size 64");
	put_entry(t, 0, G_VCEK, 65, 0);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[0]", "exceeds");
	/* Huge values: no overflow. */
	put_entry(t, 0, G_VCEK, 48, 0xFFFFFFFFu);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[0]", "4294967295");
	put_entry(t, 0, G_VCEK, 0xFFFFFFFFu, 0xFFFFFFFFu);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[0]", "exceeds");
	put_entry(t, 0, G_VCEK, 0xFFFFFFF0u, 0x20);
	cert_expect_fail(t, sizeof(t), VT_E_PARSE, "certtable.entry[0]", "exceeds");
	put_entry(t, 0, G_VCEK, 48, 16); /* exactly to the end */
	size_t n;
	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	assert_int_equal(vt_snp_cert_table_parse(t, sizeof(t), e, &n, NULL), VT_OK);
	assert_int_equal(n, 1);
}

static void test_certtable_limit(void **state)
{
	(void)state;
	uint8_t t[24 * 18];
	for (size_t i = 0; i < 17; i++)
		put_entry(t, i, G_OTHER, sizeof(t), 0);
	put_entry(t, 17, NULL, 0, 0);
	cert_expect_fail(t, sizeof(t), VT_E_LIMIT, "certtable", "more than 16");
	struct vt_snp_cert_entry e[VT_SNP_CERT_TABLE_MAX];
	size_t n;
	struct vt_err err = {0};
	assert_int_equal(vt_snp_cert_table_parse(NULL, 0, e, NULL, &err), VT_E_USAGE);
	(void)n;
}

/* --------------------------------------------------- VCEK/VLEK extensions */

struct vek_fact {
	const char *file;
	int64_t struct_version;
	const char *product;
	int fmc; /* -1 = absent */
	uint8_t bl, tee, snp, ucode;
	const char *hwid; /* NULL = absent */
	const char *csp;  /* NULL = absent */
};

#define HWID_FAKE                                                                                            \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031" \
	"32333435363738393a3b3c3d3e3f"

/* From ../shared/vectors/README.md. */
static const struct vek_fact VEKS[] = {
	{"snp/virtee-sev_milan_v2_vcek.der", 0, "Milan-B0", -1, 3, 0, 8, 115,
	 "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
	 NULL},
	{"snp/trustee_milan_v2_vcek.der", 0, "Milan-B0", -1, 3, 0, 8, 115,
	 "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
	 NULL},
	{"snp/constellation_azure_milan_vcek.der", 0, "Milan-B0", -1, 2, 0, 6, 93,
	 "9e44aaef02cfca6fddbaca669c6cfd29e1ab8d97ebc939857128acbb13b8740df31436d34e86e5f8ae0cdfeb3a0e185db46decac176cc77d761c22a1b9dcf25b",
	 NULL},
	{"snp/azure_cvm_milan_vcek_ask_ark.pem", 0, "Milan-B0", -1, 3, 0, 8, 115,
	 "19752a447db501a32ade46428a46e92639bd3515dbb45e2e67bbcb0934ffcf1f3e3c004ccb4a99c9fa7e4ffb09da6b324ac58acedaf679f24ba7db5f838c6cca",
	 NULL},
	{"snp/azure_cvm_genoa_vcek.pem", 0, "Genoa", -1, 10, 0, 23, 84,
	 "0506ffba875e939c2729d20c74eb72b4c5ba6bf7ea1faaa640141f12c6d64782fb487f68ce69dcd021e914cc0d9244327bc121f0242d6470903ad1d4aaea4ad1",
	 NULL},
	{"snp/teekit_gcp_milan_vcek.pem", 0, "Milan-B0", -1, 4, 0, 27, 222,
	 "980cf7b61876cb37fd517cd44ce11c72d43c5408e66ab39138370ec59bc195e063254cb501d87d82f0b8b8dc774bcfe28019447711598f007390e4accc405361",
	 NULL},
	{"snp/trustee_aws_milan_vlek.der", 0, "Milan", -1, 4, 0, 24, 217, NULL, "CN=cc-us-east-2.amazonaws.com"},
	{"snp/virtee-sev_turin_vcek_no_report.der", 1, "Turin", 0, 0, 0, 0, 9, "1e550a8ee5cf9f4d", NULL},
	{"snp/NEGATIVE_trustee_vcek_not_amd_signed_legacy_hwid.der", 0, "Milan-B0", -1, 3, 0, 10, 169, HWID_FAKE,
	 NULL},
	{"snp/NEGATIVE_trustee_vcek_not_amd_signed_octetstring_hwid.der", 0, "Milan-B0", -1, 0, 0, 0, 30,
	 HWID_FAKE, NULL},
};

static void test_vek_real(void **state)
{
	(void)state;
	NEED_VECTORS(dir);
	for (size_t i = 0; i < sizeof(VEKS) / sizeof(VEKS[0]); i++) {
		const struct vek_fact *f = &VEKS[i];
		char *p = path_of(dir, f->file);
		X509 *c = NULL;
		struct vt_err err = {0};
		if (vt_x509_load(p, &c, &err) != VT_OK)
			fail_msg("load %s: %s", p, err.detail);
		free(p);
		struct vt_snp_vek_ext e;
		if (vt_snp_vek_ext_parse(c, &e, &err) != VT_OK)
			fail_msg("%s: %s: %s", f->file, err.field, err.detail);
		X509_free(c);
		assert_true(e.has_struct_version);
		assert_int_equal(e.struct_version, f->struct_version);
		assert_string_equal(e.product_name, f->product);
		assert_true(e.has_bl && e.has_tee && e.has_snp && e.has_ucode);
		assert_int_equal(e.bl, f->bl);
		assert_int_equal(e.tee, f->tee);
		assert_int_equal(e.snp, f->snp);
		assert_int_equal(e.ucode, f->ucode);
		assert_int_equal(e.has_fmc, f->fmc >= 0);
		if (f->fmc >= 0)
			assert_int_equal(e.fmc, f->fmc);
		assert_int_equal(e.has_hwid, f->hwid != NULL);
		if (f->hwid != NULL) {
			assert_int_equal(e.hwid_size, strlen(f->hwid) / 2);
			assert_hex(e.hwid, e.hwid_size, f->hwid);
		}
		assert_int_equal(e.has_csp_id, f->csp != NULL);
		if (f->csp != NULL)
			assert_string_equal(e.csp_id, f->csp);
	}
}

static void ext_expect(const char *suffix, const uint8_t *der, size_t n, vt_status code, const char *field)
{
	struct vt_snp_vek_ext e;
	struct vt_err err = {0};
	memset(&e, 0, sizeof(e));
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, der, n);
	vt_status rc = vt_snp_vek_ext_value(suffix, n ? copy : NULL, n, &e, &err);
	free(copy);
	if (rc != code)
		fail_msg("ext %s: %s (%s: %s), want %s", suffix, vt_status_name(rc), err.field, err.detail,
			 vt_status_name(code));
	if (code != VT_OK && field != NULL)
		assert_string_equal(err.field, field);
}

static void test_vek_ext_values(void **state)
{
	(void)state;
	struct vt_snp_vek_ext e;
	struct vt_err err = {0};
	memset(&e, 0, sizeof(e));

	/* INTEGER values: 0xDB is encoded with a leading zero. */
	static const uint8_t ucode_db[] = {0x02, 0x02, 0x00, 0xDB};
	assert_int_equal(vt_snp_vek_ext_value("3.8", ucode_db, sizeof(ucode_db), &e, &err), VT_OK);
	assert_true(e.has_ucode);
	assert_int_equal(e.ucode, 0xDB);
	static const uint8_t five[] = {0x02, 0x01, 0x05};
	assert_int_equal(vt_snp_vek_ext_value("3.9", five, sizeof(five), &e, &err), VT_OK);
	assert_int_equal(e.fmc, 5);
	assert_int_equal(vt_snp_vek_ext_value("3.5", five, sizeof(five), &e, &err), VT_OK); /* reserved SPL */
	/* The same extension twice. */
	assert_int_equal(vt_snp_vek_ext_value("3.8", ucode_db, sizeof(ucode_db), &e, &err), VT_E_PARSE);
	assert_string_equal(err.field, "vcek.ext.ucodeSPL");

	static const uint8_t v256[] = {0x02, 0x02, 0x01, 0x00};
	ext_expect("3.1", v256, sizeof(v256), VT_E_PARSE, "vcek.ext.blSPL");
	static const uint8_t neg[] = {0x02, 0x01, 0xFF};
	ext_expect("3.2", neg, sizeof(neg), VT_E_PARSE, "vcek.ext.teeSPL");
	static const uint8_t trailing[] = {0x02, 0x01, 0x05, 0x00};
	ext_expect("3.3", trailing, sizeof(trailing), VT_E_PARSE, "vcek.ext.snpSPL");
	static const uint8_t octet[] = {0x04, 0x01, 0x05};
	ext_expect("3.8", octet, sizeof(octet), VT_E_PARSE, "vcek.ext.ucodeSPL");
	static const uint8_t shortint[] = {0x02, 0x02, 0x05};
	ext_expect("3.9", shortint, sizeof(shortint), VT_E_PARSE, "vcek.ext.fmcSPL");
	ext_expect("3.1", NULL, 0, VT_E_PARSE, "vcek.ext.blSPL");
	static const uint8_t big[] = {0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
	ext_expect("1", big, sizeof(big), VT_E_PARSE, "vcek.ext.structVersion");
	ext_expect("1", neg, sizeof(neg), VT_E_PARSE, "vcek.ext.structVersion");
	static const uint8_t sv1[] = {0x02, 0x01, 0x01};
	ext_expect("1", sv1, sizeof(sv1), VT_OK, NULL);

	/* productName: IA5String up to 31 characters. */
	uint8_t name[2 + 32];
	name[0] = 0x16;
	name[1] = 31;
	memset(name + 2, 'A', 32);
	ext_expect("2", name, 33, VT_OK, NULL);
	name[1] = 32;
	ext_expect("2", name, 34, VT_E_PARSE, "vcek.ext.productName");
	static const uint8_t utf8name[] = {0x0C, 0x05, 'M', 'i', 'l', 'a', 'n'};
	ext_expect("2", utf8name, sizeof(utf8name), VT_E_PARSE, "vcek.ext.productName");
	static const uint8_t ctrl[] = {0x16, 0x03, 'a', 0x00, 'b'};
	ext_expect("2", ctrl, sizeof(ctrl), VT_E_PARSE, "vcek.ext.productName");
	static const uint8_t empty[] = {0x16, 0x00};
	ext_expect("2", empty, sizeof(empty), VT_E_PARSE, "vcek.ext.productName");
	static const uint8_t csp[] = {0x16, 0x03, 'a', 'w', 's'};
	ext_expect("5", csp, sizeof(csp), VT_OK, NULL);
	ext_expect("5", utf8name, sizeof(utf8name), VT_E_PARSE, "vcek.ext.cspId");

	/* hwID raw (64 / 8) or wrapped in an OCTET STRING. */
	uint8_t hw[66];
	memset(hw, 0x42, sizeof(hw));
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_snp_vek_ext_value("4", hw, 64, &e, &err), VT_OK);
	assert_int_equal(e.hwid_size, 64);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_snp_vek_ext_value("4", hw, 8, &e, &err), VT_OK);
	assert_int_equal(e.hwid_size, 8);
	hw[0] = 0x04, hw[1] = 0x40;
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_snp_vek_ext_value("4", hw, 66, &e, &err), VT_OK);
	assert_int_equal(e.hwid_size, 64);
	assert_int_equal(e.hwid[0], 0x42);
	hw[1] = 0x08;
	memset(&e, 0, sizeof(e));
	assert_int_equal(vt_snp_vek_ext_value("4", hw, 10, &e, &err), VT_OK);
	assert_int_equal(e.hwid_size, 8);
	ext_expect("4", hw, 63, VT_E_PARSE, "vcek.ext.hwID");
	ext_expect("4", hw, 65, VT_E_PARSE, "vcek.ext.hwID");
	hw[1] = 0x41;
	ext_expect("4", hw, 66, VT_E_PARSE, "vcek.ext.hwID");
	ext_expect("4", hw, 0, VT_E_PARSE, "vcek.ext.hwID");

	/* Unknown suffix: caller error. */
	ext_expect("9", five, sizeof(five), VT_E_USAGE, NULL);
}

/* A certificate carrying the extension twice is refused. */
static void test_vek_ext_duplicate(void **state)
{
	(void)state;
	X509 *c = X509_new();
	assert_non_null(c);
	ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.3704.1.3.1", 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	static const uint8_t two[] = {0x02, 0x01, 0x02};
	assert_int_equal(ASN1_OCTET_STRING_set(os, two, sizeof(two)), 1);
	X509_EXTENSION *x = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	assert_non_null(x);
	assert_int_equal(X509_add_ext(c, x, -1), 1);
	struct vt_snp_vek_ext e;
	struct vt_err err = {0};
	assert_int_equal(vt_snp_vek_ext_parse(c, &e, &err), VT_OK);
	assert_true(e.has_bl);
	assert_int_equal(e.bl, 2);
	assert_false(e.has_hwid);
	assert_string_equal(e.product_name, "");
	assert_int_equal(X509_add_ext(c, x, -1), 1);
	assert_int_equal(vt_snp_vek_ext_parse(c, &e, &err), VT_E_PARSE);
	assert_string_equal(err.field, "vcek.ext.blSPL");
	assert_non_null(strstr(err.detail, "more than once"));
	X509_EXTENSION_free(x);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	X509_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_reports),
		cmocka_unit_test(test_real_specifics),
		cmocka_unit_test(test_real_json_roundtrip),
		cmocka_unit_test(test_real_json_trustee_shape),
		cmocka_unit_test(test_product),
		cmocka_unit_test(test_tcb_decode),
		cmocka_unit_test(test_synth_ok),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_signature_algo),
		cmocka_unit_test(test_reserved_0x4c),
		cmocka_unit_test(test_reserved_0x188_v2),
		cmocka_unit_test(test_reserved_0x18b_v3),
		cmocka_unit_test(test_reserved_0x1eb),
		cmocka_unit_test(test_reserved_0x1ef),
		cmocka_unit_test(test_reserved_0x1f8_v2_v4),
		cmocka_unit_test(test_reserved_0x208_v5),
		cmocka_unit_test(test_reserved_signature),
		cmocka_unit_test(test_policy_bit17),
		cmocka_unit_test(test_platform_info_bit6),
		cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_json_synth_roundtrip),
		cmocka_unit_test(test_json_wrong_length),
		cmocka_unit_test(test_json_byte_range),
		cmocka_unit_test(test_json_missing_key),
		cmocka_unit_test(test_json_extra_key),
		cmocka_unit_test(test_json_wrong_type),
		cmocka_unit_test(test_json_semantic),
		cmocka_unit_test(test_certtable_valid),
		cmocka_unit_test(test_certtable_truncated),
		cmocka_unit_test(test_certtable_no_terminator),
		cmocka_unit_test(test_certtable_offset_inside_header),
		cmocka_unit_test(test_certtable_past_end),
		cmocka_unit_test(test_certtable_limit),
		cmocka_unit_test(test_vek_real),
		cmocka_unit_test(test_vek_ext_values),
		cmocka_unit_test(test_vek_ext_duplicate),
	};
	return cmocka_run_group_tests_name("snp_parse", tests, NULL, NULL);
}
