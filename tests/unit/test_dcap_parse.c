/*
 * DCAP parsers: quotes (v3/v4/v5), PCK SGX extension, TCB status names,
 * signed-JSON splitting, collateral loading, TCB Info / QE identity parsing.
 * Real vectors come from VERITEE_VECTORS (skipped when absent); negatives use
 * synthetic quotes built here.
 */
#include "testutil.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/dcap/dcap_internal.h"
#include "veritee/dcap.h"

/* ------------------------------------------------------------ facts (vectors README) */

struct qfact {
	const char *file;
	size_t file_size;
	uint16_t version;
	uint32_t tee;
	uint16_t body_type;
	size_t quote_size;
	/* TDX */
	const char *tee_tcb_svn, *mr_seam, *td_attributes, *xfam, *mr_td, *mr_config_id, *rtmr[4], *report_data,
		*tee_tcb_svn2;
	/* SGX */
	const char *mr_enclave, *mr_signer, *attributes;
	unsigned isv_prod_id, isv_svn;
	/* QE report */
	const char *qe_mr_enclave, *qe_mr_signer;
	unsigned qe_isvprodid, qe_isvsvn;
	/* PCK extension of the leaf in the type-5 chain */
	const char *fmspc, *pceid;
	unsigned pcesvn;
	const char *cpusvn;
	uint8_t comp[16];
	int sgx_type;
	const char *ppid;
};

static const struct qfact qfacts[] = {
	{"tdx/go-tdx-guest_spr_v4_quote_with_39_trailing_bytes.dat", 4974, 4, 0x81, 2, 4935, "03000400000000000000000000000000", "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656", "0000004000000000", "e71a060000000000", "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f32a", "2c700b8ba9b85783f8be9fb9443647bdc0bb3c50747f06297cc6538c25a5f589c4b56d035c59107c6bc5800db2cacb61", "8652f0caaba7e215ea442dc36a4499d8fec3362f3a0b2ca151cbe4b3e6466fe59c7368b3c2287fc7c3bf5c924eb4424e", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113", NULL, NULL, NULL, NULL, 0, 0, "853e298f3b7cde28b06493d06fb2ad6f9566a97fea6d3de66236b2af1a35150f", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 4, "50806f000000", "0000", 11, "03030202020100020000000000000000", {3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "089ddfdb9c0359c82a3bc7719239574e"},
	{"tdx/go-tdx-guest_v5_td15_quote.dat", 5006, 5, 0x81, 3, 5006, "0b010400000000000000000000000000", "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9a9d", "0000001000000000", "e702060000000000", "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"5c8daf76063a71ac8fcef4067564661fc682ed7944c7a5d21dbbced02f61ceff4ba0678c6aef3bdae8cbc614cec24619", "463acaace1b6e97c76e92e41fe312aa66f3fd4dad60ec7acf169859db0343e3d1e591646795cdc80fbc0ca5f7041d253", "6369b9c9a3b791ebcbdc5a0bb9536cfb57f50df2b393b33c8b29616d3568baa61f4b59dc6092e31ea8764bcbdfc69f20", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486233e31c25c3a", "0d010400000000000000000000000000", NULL, NULL, NULL, 0, 0, "b7ae9ab69e76f7794a56b0db1915281d435d488c91d406ed33a7939caf8730f8", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 7, "90c06f000000", "0000", 13, "04040202040100050000000000000000", {4, 4, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "2734b654f553596897eaadfb5667a954"},
	{"tdx/go-tdx-guest_gcp_cos113_v4_quote_8000B_zero_padded.dat", 8000, 4, 0x81, 2, 4935, "04010700000000000000000000000000", "ffc97a88587660fb04e1f7c851300c96ae0b5a463ac46d035d16c2d9f36d0ed1d23775bcbd27deb219e3a3cc28023895", "0000001000000000", "e700060000000000", "dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f94a", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6", "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1", "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", NULL, NULL, NULL, NULL, 0, 0, "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6, "00806f050000", "0000", 11, "07070202030100030000000000000000", {7, 7, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "8ebf889447fd60ab1913348582eb509e"},
	{"tdx/trustee_v4_quote_50806f000000.dat", 4936, 4, 0x81, 2, 4936, "03000500000000000000000000000000", "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656", "0100001000000000", "e742060000000000", "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b288", "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429", NULL, NULL, NULL, NULL, 0, 0, "853e298f3b7cde28b06493d06fb2ad6f9566a97fea6d3de66236b2af1a35150f", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 4, "50806f000000", "0000", 11, "05050d02030100030000000000000000", {5, 5, 13, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "df4c32a9d8d86009aaf380ec43cfcefb"},
	{"tdx/trustee_v5_quote_90c06f000000.dat", 5006, 5, 0x81, 3, 5006, "05010200000000000000000000000000", "1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86de77b0870f558c570e7ffe55d6d47fa04", "0000001000000000", "e742060000000000", "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"9b529f3689e2e8ebb899e9abbbc3dab394d6545e8cdb28a2abb9cc2f377b83a65c01ba56b824cd3ee885df20051f5128", "ca5a979317ffe8a527a3b7aadab03976d7cb6eef1041fb9bd9d69e6fafa7252cdc10e4c2a55e7ecbd2ddb5cacc867430", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "6d6ab13b046cff606ac0074be13981b07b6325dba10b5facc96febf551c0c3be2b75f92fe1f88f4bb996969ad0174b4b7a70261b7b85c844f4b33a4674fd049f", "05010200000000000000000000000000", NULL, NULL, NULL, 0, 0, "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6, "90c06f000000", "0000", 13, "01010202030100030000000000000000", {1, 1, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "f06984c8d9343452b997c48b36d6e678"},
	{"tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat", 5006, 4, 0x81, 2, 4936, "05030200000000000000000000000000", "476a2997c62bccc78370913d0a80b956e3721b24272bc66c4d6307ced4be2865c40e26afac75f12df3425b03eb59ea7c", "0000001000000000", "e702060000000000", "21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88", "889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca93152bf847bd2440328e90adb18b150ed67", {"395aefe7bac15b24c40f1cd7ba6f8fa48732be5c56c61485ed3cd9c8b16cce8ece64c331b99ce36d96605135c753aaa2", "fc4b0f849d8d76fdf1da563a8c29d0d456b484a65e01797baf52ea1d8c002040527a1f0278925077219656dba039429f", "193edd321148e81fd4d6ce00ac8331e737febdb428f18ae66f697c1d2a7f2cd97c535c8df9f045f62b16a41facad84a1", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd00000000000000000000000000000000", NULL, NULL, NULL, NULL, 0, 0, "b7ae9ab69e76f7794a56b0db1915281d435d488c91d406ed33a7939caf8730f8", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 7, "00a06d080000", "0000", 11, "02020707040100020000000000000000", {2, 2, 7, 7, 4, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}, 2, "9c81e0b5c22e28a3f29d7b4db52c2049"},
	{"tdx/azure_cvm_tdx_v4_quote.dat", 5006, 4, 0x81, 2, 4936, "02010600000000000000000000000000", "360304d34a16aace0a18e09ad2d07d2b9fd3c174378e5bf108388079827f89ff62acc5f8c473dd40706324834e202946", "0000000000000000", "e718060000000000", "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e5938390000000000000000000000000000000000000000000000000000000000000000", NULL, NULL, NULL, NULL, 0, 0, "86fc4e0ec2c5ddcebac97062c0a0142a97c18a7a755147bcbc3fe17d6529781d", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 5, "00806f050000", "0000", 11, "06060202030100030000000000000000", {6, 6, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "a1b0718ffa8e6d55fdaf5eceb03f3c72"},
	{"tdx/phala_v5_quote_no_matching_tcb_level.dat", 5006, 5, 0x81, 3, 5006, "07010300000000000000000000000000", "49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08850fa20e3b1aa9a874d77a65380ee7e6", "0000001000000000", "e718060000000000", "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", {"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}, "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce477280000000000000000000000000000000000000000000000000000000000000000", "0d010300000000000000000000000000", NULL, NULL, NULL, 0, 0, "b7ae9ab69e76f7794a56b0db1915281d435d488c91d406ed33a7939caf8730f8", "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 7, "90c06f000000", "0000", 13, "03030202040100030000000000000000", {3, 3, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}, 1, "66498c9263c04ed2f0657c530ac2b0cb"},
	{"sgx/phala_sgx_v3_quote_00a067110000.dat", 4600, 3, 0x0, 1, 4600, NULL, NULL, NULL, NULL, NULL, NULL, {NULL, NULL, NULL, NULL}, "48656c6c6f2c20776f726c6421000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", NULL, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb", "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6", "0500000000000000e700000000000000", 0, 0, "96b347a64e5a045e27369c26e6dcda51fd7c850e9b3a3a79e718f43261dee1e4", "8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff", 1, 10, "00a067110000", "0000", 13, "0b0b0202ff0100000000000000000000", {11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, "d04ec06d4e6d92dc90d0ad3cf5ee2ddf"},
	{"sgx/teekit_tlsn_sgx_v3_quote_00906ed50000.dat", 4600, 3, 0x0, 1, 4600, NULL, NULL, NULL, NULL, NULL, NULL, {NULL, NULL, NULL, NULL}, "03351d6944f43d3041a075bddf540d2b91595979ef67fee8c9e6f1c3a5ff6e9e7300000000000000000000000000000000000000000000000000000000000000", NULL, "50a6a608c1972408f94379f83a7af2ea55b31095f131efe93af74f5968a44f29", "51bf043cb3b552d8399d651fe61d1b314b40be01533f42e2973477e1b809a0c9", "05000000000000000700000000000000", 7, 1, "78fe8cfd01095a0f108aff5c40624b93612d6c28b73e1a8d28179c9ddf0e0686", "8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff", 1, 11, "00906ed50000", "0000", 13, "1515020401800e000000000000000000", {21, 21, 2, 4, 1, 128, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, "f569ec44fcbb6cb5fa94b5536a5b4217"},
};

#define NQ (sizeof(qfacts) / sizeof(qfacts[0]))

/* ------------------------------------------------------------ helpers */

static bool load_vec(const char *rel, uint8_t **buf, size_t *len)
{
	const char *dir = vt_test_vectors_dir();
	if (dir == NULL)
		return false;
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	struct vt_err err = {0};
	if (vt_file_read(path, 1u << 22, buf, len, &err) != VT_OK)
		fail_msg("cannot read %s: %s", path, err.detail);
	return true;
}

#define SKIP_NO_VECTORS()                                                                          \
	do {                                                                                       \
		if (vt_test_vectors_dir() == NULL) {                                               \
			printf("# SKIP no vectors (set VERITEE_VECTORS)\n");                       \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void assert_hex(const uint8_t *p, size_t n, const char *want, const char *what)
{
	char *h = vt_hex_encode(p, n);
	assert_non_null(h);
	if (strcasecmp(h, want) != 0)
		fail_msg("%s: got %s want %s", what, h, want);
	free(h);
}

static void assert_u64le_hex(uint64_t v, const char *want, const char *what)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_hex(b, 8, want, what);
}

static size_t count_str(const uint8_t *p, size_t n, const char *s)
{
	size_t c = 0, l = strlen(s);
	const uint8_t *q = p;
	while ((q = memmem(q, n - (size_t)(q - p), s, l)) != NULL) {
		c++;
		q += l;
	}
	return c;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Parse a copy in an exactly-sized heap buffer (so ASan sees over-reads). */
static vt_status parse_copy(const uint8_t *p, size_t n, struct vt_dcap_quote *q, struct vt_err *err)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	vt_status rc = vt_dcap_quote_parse(c, n, q, err);
	free(c);
	return rc;
}

/* ------------------------------------------------------------ synthetic quotes */

static const char fake_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

/* Build a synthetic quote: version 3/4/5, tee, body type (v5).  Returns size.
 * Layout offsets of interesting fields are reported through *sig_off. */
static size_t build_quote(uint8_t *q, size_t cap, uint16_t version, uint32_t tee, uint16_t body_type, size_t *sig_off)
{
	size_t off = 0, body = tee == VT_DCAP_TEE_SGX ? 384 : (body_type == 3 ? 648 : 584);
	size_t pem_len = sizeof(fake_pem); /* includes the NUL: a trailing NUL is stripped */
	size_t qe_part = 384 + 64 + 2 + 32 + 2 + 4 + pem_len;
	size_t sig_len = 128 + (version == 3 ? qe_part : 6 + qe_part);
	assert_true(cap >= 58 + body + 4 + sig_len);
	memset(q, 0, cap);
	put16(q, version);
	put16(q + 2, 2);
	put32(q + 4, tee);
	memcpy(q + 12, "\x93\x9a\x72\x33\xf7\x9c\x4c\xa9\x94\x0a\x0d\xb3\x95\x7f\x06\x07", 16);
	off = 48;
	if (version == 5) {
		put16(q + off, body_type);
		put32(q + off + 2, (uint32_t)body);
		off += 6;
	}
	for (size_t i = 0; i < body; i++)
		q[off + i] = (uint8_t)(i * 7 + 1);
	off += body;
	put32(q + off, (uint32_t)sig_len);
	off += 4;
	*sig_off = off;
	memset(q + off, 0x11, 64);
	memset(q + off + 64, 0x22, 64);
	off += 128;
	if (version != 3) {
		put16(q + off, 6);
		put32(q + off + 2, (uint32_t)qe_part);
		off += 6;
	}
	for (size_t i = 0; i < 384; i++)
		q[off + i] = (uint8_t)(255 - i);
	off += 384;
	memset(q + off, 0x33, 64);
	off += 64;
	put16(q + off, 32);
	off += 2;
	for (int i = 0; i < 32; i++)
		q[off + (size_t)i] = (uint8_t)i;
	off += 32;
	put16(q + off, 5);
	put32(q + off + 2, (uint32_t)pem_len);
	off += 6;
	memcpy(q + off, fake_pem, pem_len);
	off += pem_len;
	return off;
}

/* Offset of the inner cert_data_type in a synthetic or real quote. */
static size_t inner_type_off(const uint8_t *q, size_t sig_off, uint16_t version)
{
	size_t qe = sig_off + 128 + (version == 3 ? 0 : 6);
	return qe + 448 + 2 + get16(q + qe + 448);
}

static void test_synthetic_ok(void **state)
{
	(void)state;
	static uint8_t q[8192];
	size_t so;
	struct vt_dcap_quote dq;
	struct vt_err err = {0};
	struct {
		uint16_t v;
		uint32_t tee;
		uint16_t bt;
		size_t signed_size;
	} cases[] = {
		{3, 0, 1, 432}, {4, 0x81, 2, 632}, {4, 0, 1, 432}, {5, 0x81, 2, 638}, {5, 0x81, 3, 702}, {5, 0, 1, 438},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = build_quote(q, sizeof(q), cases[i].v, cases[i].tee, cases[i].bt, &so);
		vt_err_clear(&err);
		if (parse_copy(q, n, &dq, &err) != VT_OK)
			fail_msg("case %zu: %s: %s", i, err.field, err.detail);
		assert_int_equal(dq.version, cases[i].v);
		assert_int_equal(dq.body_type, cases[i].bt);
		assert_int_equal(dq.signed_size, cases[i].signed_size);
		assert_int_equal(dq.quote_size, n);
		assert_int_equal(dq.cert_data_type, 5);
		assert_int_equal(dq.cert_data_size, strlen(fake_pem));
		assert_memory_equal(dq.cert_data, fake_pem, strlen(fake_pem));
		assert_int_equal(dq.qe_auth_data_size, 32);
		assert_int_equal(dq.qe_report.raw[0], 255);
		assert_int_equal(dq.tdx.has_v15, cases[i].bt == 3);
		uint8_t sig[64];
		memset(sig, 0x11, 64);
		assert_memory_equal(dq.signature, sig, 64);
		/* padding after the quote is ignored */
		memset(q + n, 0, 100);
		assert_int_equal(parse_copy(q, n + 100, &dq, &err), VT_OK);
		assert_int_equal(dq.quote_size, n);
		/* every truncation fails */
		for (size_t t = 0; t < n; t++) {
			vt_err_clear(&err);
			if (parse_copy(q, t, &dq, &err) == VT_OK)
				fail_msg("case %zu: truncation to %zu parsed", i, t);
			assert_int_equal(err.code, VT_E_PARSE);
		}
	}
}

static void expect_parse_fail(const uint8_t *q, size_t n, const char *field)
{
	struct vt_dcap_quote dq;
	struct vt_err err = {0};
	if (parse_copy(q, n, &dq, &err) == VT_OK)
		fail_msg("expected failure at %s", field);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	if (field != NULL && strcmp(err.field, field) != 0)
		fail_msg("failed at %s (%s), want %s", err.field, err.detail, field);
}

static void test_synthetic_negative(void **state)
{
	(void)state;
	static uint8_t base[8192], q[8192];
	size_t so, n = build_quote(base, sizeof(base), 4, 0x81, 2, &so);

#define RESET() memcpy(q, base, sizeof(q))
	RESET(); put16(q, 2); expect_parse_fail(q, n, "quote.version");
	RESET(); put16(q, 6); expect_parse_fail(q, n, "quote.version");
	RESET(); put16(q + 2, 3); expect_parse_fail(q, n, "quote.att_key_type");
	RESET(); put32(q + 4, 0x80); expect_parse_fail(q, n, "quote.tee_type");
	/* signature_data_len one past the end */
	RESET(); put32(q + 632, (uint32_t)(n - 636 + 1)); expect_parse_fail(q, n, "quote.sig_data");
	RESET(); put32(q + 632, 0xffffffffu); expect_parse_fail(q, n, "quote.sig_data");
	/* outer certification data type must be 6 */
	RESET(); put16(q + so + 128, 5); expect_parse_fail(q, n, "quote.sig_data.outer_cert_data_type");
	/* outer size larger than the signature data */
	RESET(); put32(q + so + 130, 0x7fffffffu); expect_parse_fail(q, n, "quote.sig_data.outer_cert_data");
	/* inner type 0 and 7 */
	size_t it = inner_type_off(base, so, 4);
	assert_int_equal(get16(base + it), 5);
	RESET(); put16(q + it, 0); expect_parse_fail(q, n, "quote.sig_data.cert_data_type");
	RESET(); put16(q + it, 7); expect_parse_fail(q, n, "quote.sig_data.cert_data_type");
	RESET(); put16(q + it, 6); expect_parse_fail(q, n, "quote.sig_data.cert_data_type");
	/* inner cert_data_size past the end, and short of it (parsed != declared) */
	RESET(); put32(q + it + 2, 0x10000); expect_parse_fail(q, n, "quote.sig_data.cert_data");
	RESET(); put32(q + it + 2, (uint32_t)sizeof(fake_pem) - 1); expect_parse_fail(q, n, "quote.sig_data.cert_data");
	/* QE auth data size past the end */
	RESET(); put16(q + so + 134 + 448, 0xffff); expect_parse_fail(q, n, "quote.sig_data.qe_auth_data");
	/* signature data longer than its parts (declared != parsed) */
	RESET(); put32(q + 632, (uint32_t)(n - 636 - 1)); expect_parse_fail(q, n - 1, NULL);
	/* type 5 holding only NULs */
	RESET(); memset(q + it + 6, 0, sizeof(fake_pem)); expect_parse_fail(q, n, "quote.sig_data.cert_data");

	/* v3 must be SGX */
	n = build_quote(base, sizeof(base), 3, 0, 1, &so);
	RESET(); put32(q + 4, 0x81); expect_parse_fail(q, n, "quote.tee_type");
	it = inner_type_off(base, so, 3);
	RESET(); put16(q + it, 0); expect_parse_fail(q, n, "quote.sig_data.cert_data_type");
	RESET(); put16(q + it, 6); expect_parse_fail(q, n, "quote.sig_data.cert_data_type");

	/* v5: body size must match the type; type must match the TEE */
	n = build_quote(base, sizeof(base), 5, 0x81, 3, &so);
	RESET(); put32(q + 50, 584); expect_parse_fail(q, n, "quote.body_size");
	RESET(); put32(q + 50, 649); expect_parse_fail(q, n, "quote.body_size");
	RESET(); put16(q + 48, 2); expect_parse_fail(q, n, "quote.body_size");
	RESET(); put16(q + 48, 1); expect_parse_fail(q, n, "quote.body_type");
	RESET(); put16(q + 48, 4); expect_parse_fail(q, n, "quote.body_type");
	RESET(); put16(q + 48, 0); expect_parse_fail(q, n, "quote.body_type");
	n = build_quote(base, sizeof(base), 5, 0, 1, &so);
	RESET(); put16(q + 48, 2); put32(q + 50, 584); expect_parse_fail(q, n, "quote.body_type");
#undef RESET
}

/* ------------------------------------------------------------ real quotes */

static X509 *first_cert(const uint8_t *pem, size_t n, int *count)
{
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	assert_non_null(b);
	X509 *first = NULL, *x;
	*count = 0;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (first == NULL)
			first = x;
		else
			X509_free(x);
		(*count)++;
	}
	BIO_free(b);
	return first;
}

static void check_quote(const struct qfact *f, const uint8_t *buf, size_t len)
{
	struct vt_dcap_quote q;
	struct vt_err err = {0};
	if (vt_dcap_quote_parse(buf, len, &q, &err) != VT_OK)
		fail_msg("%s: %s: %s", f->file, err.field, err.detail);
	assert_int_equal(len, f->file_size);
	assert_int_equal(q.version, f->version);
	assert_int_equal(q.att_key_type, 2);
	assert_int_equal(q.tee_type, f->tee);
	assert_int_equal(q.body_type, f->body_type);
	assert_int_equal(q.quote_size, f->quote_size);
	assert_hex(q.qe_vendor_id, 16, "939a7233f79c4ca9940a0db3957f0607", "qe_vendor_id");
	size_t want_signed = f->version == 3 ? 432 : f->version == 4 ? 632 : 54 + (f->body_type == 3 ? 648u : 584u);
	assert_int_equal(q.signed_size, want_signed);
	assert_ptr_equal(q.signed_region, buf);
	if (f->tee == VT_DCAP_TEE_TDX) {
		assert_hex(q.tdx.tee_tcb_svn, 16, f->tee_tcb_svn, "tee_tcb_svn");
		assert_hex(q.tdx.mr_seam, 48, f->mr_seam, "mr_seam");
		assert_u64le_hex(q.tdx.td_attributes, f->td_attributes, "td_attributes");
		assert_u64le_hex(q.tdx.xfam, f->xfam, "xfam");
		assert_hex(q.tdx.mr_td, 48, f->mr_td, "mr_td");
		assert_hex(q.tdx.mr_config_id, 48, f->mr_config_id, "mr_config_id");
		for (int i = 0; i < 4; i++)
			assert_hex(q.tdx.rtmr[i], 48, f->rtmr[i], "rtmr");
		assert_hex(q.tdx.report_data, 64, f->report_data, "report_data");
		assert_int_equal(q.tdx.has_v15, f->tee_tcb_svn2 != NULL);
		if (f->tee_tcb_svn2)
			assert_hex(q.tdx.tee_tcb_svn2, 16, f->tee_tcb_svn2, "tee_tcb_svn2");
	} else {
		assert_hex(q.sgx.mr_enclave, 32, f->mr_enclave, "mr_enclave");
		assert_hex(q.sgx.mr_signer, 32, f->mr_signer, "mr_signer");
		assert_hex(q.sgx.attributes, 16, f->attributes, "attributes");
		assert_hex(q.sgx.report_data, 64, f->report_data, "report_data");
		assert_int_equal(q.sgx.isv_prod_id, f->isv_prod_id);
		assert_int_equal(q.sgx.isv_svn, f->isv_svn);
		assert_memory_equal(q.sgx.raw, buf + 48, 384);
	}
	assert_hex(q.qe_report.mr_enclave, 32, f->qe_mr_enclave, "qe mr_enclave");
	assert_hex(q.qe_report.mr_signer, 32, f->qe_mr_signer, "qe mr_signer");
	assert_int_equal(q.qe_report.isv_prod_id, f->qe_isvprodid);
	assert_int_equal(q.qe_report.isv_svn, f->qe_isvsvn);
	assert_int_equal(q.qe_auth_data_size, 32);
	assert_int_equal(q.cert_data_type, 5);
	assert_true(q.cert_data_size > 0 && q.cert_data[q.cert_data_size - 1] != 0);
	assert_int_equal(count_str(q.cert_data, q.cert_data_size, "-----BEGIN CERTIFICATE-----"), 3);

	/* PCK extension of the leaf */
	int ncert = 0;
	X509 *leaf = first_cert(q.cert_data, q.cert_data_size, &ncert);
	assert_non_null(leaf);
	assert_int_equal(ncert, 3);
	struct vt_pck_ext e;
	if (vt_pck_ext_parse(leaf, &e, &err) != VT_OK)
		fail_msg("%s: pck ext: %s: %s", f->file, err.field, err.detail);
	X509_free(leaf);
	assert_hex(e.fmspc, 6, f->fmspc, "fmspc");
	assert_hex(e.pceid, 2, f->pceid, "pceid");
	assert_int_equal(e.pcesvn, f->pcesvn);
	assert_hex(e.cpusvn, 16, f->cpusvn, "cpusvn");
	assert_memory_equal(e.comp_svn, f->comp, 16);
	assert_int_equal(e.sgx_type, f->sgx_type);
	assert_hex(e.ppid, 16, f->ppid, "ppid");
	/* Platform CA leaves carry a PlatformInstanceID; Processor CA (sgx_type 0 here) don't. */
	assert_int_equal(e.has_platform_instance_id, f->sgx_type != 0);
}

static void test_real_quotes(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	for (size_t i = 0; i < NQ; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		assert_true(load_vec(qfacts[i].file, &buf, &len));
		check_quote(&qfacts[i], buf, len);
		free(buf);
	}
}

/* Every truncation of every real quote (up to its quote_size) fails. */
static void test_real_truncations(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	for (size_t i = 0; i < NQ; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		struct vt_dcap_quote q;
		struct vt_err err = {0};
		assert_true(load_vec(qfacts[i].file, &buf, &len));
		for (size_t t = 0; t < qfacts[i].quote_size; t++) {
			if (parse_copy(buf, t, &q, &err) == VT_OK)
				fail_msg("%s truncated to %zu parsed", qfacts[i].file, t);
		}
		assert_int_equal(parse_copy(buf, qfacts[i].quote_size, &q, &err), VT_OK);
		free(buf);
	}
}

static void test_real_negative(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	uint8_t *v4 = NULL, *v3 = NULL, *v5 = NULL;
	size_t n4, n3, n5;
	assert_true(load_vec("tdx/trustee_v4_quote_50806f000000.dat", &v4, &n4));
	assert_true(load_vec("sgx/phala_sgx_v3_quote_00a067110000.dat", &v3, &n3));
	assert_true(load_vec("tdx/go-tdx-guest_v5_td15_quote.dat", &v5, &n5));
	uint8_t *q = malloc(n4 + n3 + n5);
	assert_non_null(q);

	memcpy(q, v4, n4); put16(q, 2); expect_parse_fail(q, n4, "quote.version");
	memcpy(q, v4, n4); put16(q, 6); expect_parse_fail(q, n4, "quote.version");
	memcpy(q, v4, n4); put16(q + 2, 3); expect_parse_fail(q, n4, "quote.att_key_type");
	memcpy(q, v4, n4); put32(q + 4, 0x80); expect_parse_fail(q, n4, "quote.tee_type");
	memcpy(q, v4, n4); put32(q + 632, (uint32_t)(n4 - 636 + 1)); expect_parse_fail(q, n4, "quote.sig_data");
	memcpy(q, v4, n4); put16(q + 636 + 128, 5); expect_parse_fail(q, n4, "quote.sig_data.outer_cert_data_type");
	size_t it = inner_type_off(v4, 636, 4);
	assert_int_equal(get16(v4 + it), 5);
	memcpy(q, v4, n4); put16(q + it, 0); expect_parse_fail(q, n4, "quote.sig_data.cert_data_type");
	memcpy(q, v4, n4); put16(q + it, 7); expect_parse_fail(q, n4, "quote.sig_data.cert_data_type");
	memcpy(q, v4, n4); put32(q + it + 2, 0x100000); expect_parse_fail(q, n4, "quote.sig_data.cert_data");

	memcpy(q, v3, n3); put32(q + 4, 0x81); expect_parse_fail(q, n3, "quote.tee_type");

	memcpy(q, v5, n5); assert_int_equal(get16(q + 48), 3); put32(q + 50, 584); expect_parse_fail(q, n5, "quote.body_size");
	memcpy(q, v5, n5); put16(q + 48, 2); expect_parse_fail(q, n5, "quote.body_size");
	memcpy(q, v5, n5); put16(q + 48, 1); expect_parse_fail(q, n5, "quote.body_type");
	free(q);
	free(v3);
	free(v4);
	free(v5);
}

/* ------------------------------------------------------------ PCK extension (synthetic DER) */

struct der {
	uint8_t b[2048];
	size_t n;
};

static void der_tlv(struct der *d, uint8_t tag, const uint8_t *v, size_t n)
{
	assert_true(d->n + n + 4 <= sizeof(d->b));
	d->b[d->n++] = tag;
	if (n < 0x80) {
		d->b[d->n++] = (uint8_t)n;
	} else if (n < 0x100) {
		d->b[d->n++] = 0x81;
		d->b[d->n++] = (uint8_t)n;
	} else {
		d->b[d->n++] = 0x82;
		d->b[d->n++] = (uint8_t)(n >> 8);
		d->b[d->n++] = (uint8_t)n;
	}
	memcpy(d->b + d->n, v, n);
	d->n += n;
}

static const uint8_t arc[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

/* SEQUENCE { OID arc.a[.sub], <tag> value } appended to d */
static void der_pair(struct der *d, unsigned a, unsigned sub, uint8_t tag, const uint8_t *v, size_t n)
{
	struct der p = {.n = 0};
	uint8_t oid[16];
	size_t on = sizeof(arc);
	memcpy(oid, arc, on);
	oid[on++] = (uint8_t)a;
	if (sub)
		oid[on++] = (uint8_t)sub;
	der_tlv(&p, 0x06, oid, on);
	der_tlv(&p, tag, v, n);
	der_tlv(d, 0x30, p.b, p.n);
}

enum { OMIT_NONE = 0, OMIT_FMSPC, OMIT_TCB17, DUP_PPID, BAD_FMSPC_LEN, NEG_COMP, BIG_PCESVN, TCB_EXTRA, REORDER };

static void build_ext(struct der *out, int variant)
{
	struct der tcb = {.n = 0}, body = {.n = 0};
	uint8_t ppid[16], cpusvn[16], fmspc[7] = {0x50, 0x80, 0x6f, 0, 0, 0, 0}, pceid[2] = {0, 0};
	memset(ppid, 0xab, 16);
	for (int i = 0; i < 16; i++)
		cpusvn[i] = (uint8_t)i;
	for (unsigned i = 1; i <= 16; i++) {
		uint8_t v[2] = {(uint8_t)i, 0};
		if (variant == NEG_COMP && i == 3)
			v[0] = 0x85;
		if (i == 5) { /* 200 needs a leading zero */
			uint8_t w[2] = {0x00, 200};
			der_pair(&tcb, 2, i, 0x02, w, 2);
			continue;
		}
		der_pair(&tcb, 2, i, 0x02, v, 1);
	}
	if (variant != OMIT_TCB17) {
		uint8_t pce[3] = {0x00, 0x01, 0x0b};
		if (variant == BIG_PCESVN) {
			uint8_t big[3] = {0x01, 0x00, 0x00};
			der_pair(&tcb, 2, 17, 0x02, big, 3);
		} else {
			der_pair(&tcb, 2, 17, 0x02, pce + 1, 2); /* 0x010b = 267 */
		}
	}
	der_pair(&tcb, 2, 18, 0x04, cpusvn, 16);
	if (variant == TCB_EXTRA)
		der_pair(&tcb, 2, 18, 0x04, cpusvn, 16);
	uint8_t type = 1;
	if (variant == REORDER) {
		der_pair(&body, 5, 0, 0x0a, &type, 1);
		der_pair(&body, 4, 0, 0x04, fmspc, 6);
		der_pair(&body, 3, 0, 0x04, pceid, 2);
		der_pair(&body, 2, 0, 0x30, tcb.b, tcb.n);
		der_pair(&body, 1, 0, 0x04, ppid, 16);
	} else {
		der_pair(&body, 1, 0, 0x04, ppid, 16);
		if (variant == DUP_PPID)
			der_pair(&body, 1, 0, 0x04, ppid, 16);
		der_pair(&body, 2, 0, 0x30, tcb.b, tcb.n);
		der_pair(&body, 3, 0, 0x04, pceid, 2);
		if (variant != OMIT_FMSPC)
			der_pair(&body, 4, 0, 0x04, fmspc, variant == BAD_FMSPC_LEN ? 7 : 6);
		der_pair(&body, 5, 0, 0x0a, &type, 1);
	}
	uint8_t piid[16] = {1};
	der_pair(&body, 6, 0, 0x04, piid, 16);
	out->n = 0;
	der_tlv(out, 0x30, body.b, body.n);
}

static void test_pck_ext_synthetic(void **state)
{
	(void)state;
	struct der d;
	struct vt_pck_ext e;
	struct vt_err err = {0};
	for (int variant = OMIT_NONE; variant <= REORDER; variant++) {
		build_ext(&d, variant);
		vt_err_clear(&err);
		vt_status rc = vt_pck_ext_parse_der(d.b, d.n, &e, &err);
		if (variant == OMIT_NONE || variant == REORDER) {
			if (rc != VT_OK)
				fail_msg("variant %d: %s: %s", variant, err.field, err.detail);
			assert_int_equal(e.pcesvn, 267);
			assert_int_equal(e.comp_svn[0], 1);
			assert_int_equal(e.comp_svn[4], 200);
			assert_int_equal(e.comp_svn[15], 16);
			assert_hex(e.fmspc, 6, "50806f000000", "fmspc");
			assert_int_equal(e.sgx_type, 1);
			assert_true(e.has_platform_instance_id);
			/* every truncation fails */
			for (size_t t = 0; t < d.n; t++) {
				uint8_t *c = malloc(t ? t : 1);
				memcpy(c, d.b, t);
				assert_int_not_equal(vt_pck_ext_parse_der(c, t, &e, NULL), VT_OK);
				free(c);
			}
		} else {
			if (rc == VT_OK)
				fail_msg("variant %d parsed", variant);
			assert_int_equal(err.code, VT_E_PARSE);
		}
		if (variant == OMIT_FMSPC)
			assert_string_equal(err.field, "pck_ext.fmspc");
	}
	/* trailing garbage after the SEQUENCE */
	build_ext(&d, OMIT_NONE);
	d.b[d.n++] = 0;
	assert_int_equal(vt_pck_ext_parse_der(d.b, d.n, &e, &err), VT_E_PARSE);
	/* non-minimal length */
	uint8_t nm[] = {0x30, 0x81, 0x00};
	assert_int_equal(vt_pck_ext_parse_der(nm, sizeof(nm), &e, &err), VT_E_PARSE);
}

/* ------------------------------------------------------------ TCB status */

static void test_status_names(void **state)
{
	(void)state;
	const char *names[] = {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
			       "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded",
			       "TDRelaunchAdvised", "TDRelaunchAdvisedConfigurationNeeded", "Revoked"};
	for (unsigned i = 0; i < 9; i++) {
		vt_tcb_status s;
		assert_int_equal(vt_tcb_status_parse(names[i], &s, NULL), VT_OK);
		assert_int_equal(s, (vt_tcb_status)i);
		assert_string_equal(vt_tcb_status_name(s), names[i]);
	}
	struct vt_err err = {0};
	vt_tcb_status s;
	assert_int_equal(vt_tcb_status_parse("uptodate", &s, &err), VT_E_PARSE);
	assert_non_null(strstr(err.detail, "unrecognized status"));
	assert_int_equal(vt_tcb_status_parse("NotSupported", &s, NULL), VT_E_PARSE);
	assert_int_equal(vt_tcb_status_parse("", &s, NULL), VT_E_PARSE);
	assert_int_equal(vt_tcb_status_parse(NULL, &s, NULL), VT_E_PARSE);
}

/* ------------------------------------------------------------ signed JSON split */

/* Independent computation of the member's raw value bounds. */
static void expected_bounds(const char *body, size_t n, const char *member, size_t *start, size_t *end)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\"", member);
	const char *k = memmem(body, n, key, strlen(key));
	assert_non_null(k);
	const char *p = k + strlen(key);
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ':')
		p++;
	assert_int_equal(*p, '{');
	*start = (size_t)(p - body);
	/* the last "signature" key; the value ends at the last '}' before it */
	const char *sig = NULL, *s = body;
	while ((s = memmem(s, n - (size_t)(s - body), "\"signature\"", 11)) != NULL) {
		sig = s;
		s += 11;
	}
	assert_non_null(sig);
	const char *e = sig;
	while (e > body && e[-1] != '}')
		e--;
	*end = (size_t)(e - body);
}

static void check_split(const char *rel, const char *member, const char *prefix)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	assert_true(load_vec(rel, &buf, &len));
	char *val = NULL;
	uint8_t sig[64];
	struct vt_err err = {0};
	if (vt_dcap_signed_json_split((const char *)buf, len, member, &val, sig, &err) != VT_OK)
		fail_msg("%s: %s: %s", rel, err.field, err.detail);
	size_t a, b;
	expected_bounds((const char *)buf, len, member, &a, &b);
	assert_int_equal(strlen(val), b - a);
	assert_memory_equal(val, buf + a, b - a);
	assert_int_equal(strncmp(val, prefix, strlen(prefix)), 0);
	/* the signature hex */
	const char *sh = strstr((const char *)buf + b, "\"signature\"");
	assert_non_null(sh);
	sh = strchr(sh + 11, '"');
	assert_non_null(sh);
	char hex[129];
	memcpy(hex, sh + 1, 128);
	hex[128] = 0;
	assert_hex(sig, 64, hex, "signature");
	free(val);
	free(buf);
}

static const char sig128[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void split_str(const char *body, const char *member, const char *want)
{
	char *val = NULL;
	uint8_t sig[64];
	struct vt_err err = {0};
	vt_status rc = vt_dcap_signed_json_split(body, strlen(body), member, &val, sig, &err);
	if (want == NULL) {
		if (rc == VT_OK)
			fail_msg("split of %s succeeded", body);
		assert_null(val);
		return;
	}
	if (rc != VT_OK)
		fail_msg("split of %s: %s: %s", body, err.field, err.detail);
	assert_string_equal(val, want);
	free(val);
}

static void test_split_synthetic(void **state)
{
	(void)state;
	char b[1024];
#define B(fmt) snprintf(b, sizeof(b), fmt, sig128)
	B("{\"tcbInfo\":{\"a\":1},\"signature\":\"%s\"}");
	split_str(b, "tcbInfo", "{\"a\":1}");
	B("  {\"signature\":\"%s\" , \"tcbInfo\" :\n {\"a\" : [1, {\"b\":\"}\\\"{\"}], \"c\":null} }\n");
	split_str(b, "tcbInfo", "{\"a\" : [1, {\"b\":\"}\\\"{\"}], \"c\":null}");
	/* a nested "tcbInfo" is not the top-level member */
	B("{\"x\":{\"tcbInfo\":{\"z\":2}},\"tcbInfo\":{\"a\":1},\"signature\":\"%s\"}");
	split_str(b, "tcbInfo", "{\"a\":1}");
	B("{\"x\":\"\\\"tcbInfo\\\":{}\",\"tcbInfo\":{\"a\":1},\"signature\":\"%s\"}");
	split_str(b, "tcbInfo", "{\"a\":1}");
	B("{\"enclaveIdentity\":{\"a\":1},\"signature\":\"%s\"}");
	split_str(b, "tcbInfo", NULL);
	split_str(b, "enclaveIdentity", "{\"a\":1}");
	/* negatives */
	B("{\"tcbInfo\":{\"a\":1},\"tcbInfo\":{\"a\":1},\"signature\":\"%s\"}");
	split_str(b, "tcbInfo", NULL);
	B("{\"tcbInfo\":[1],\"signature\":\"%s\"}");
	split_str(b, "tcbInfo", NULL);
	B("{\"tcbInfo\":{\"a\":1},\"signature\":\"%s\"} x");
	split_str(b, "tcbInfo", NULL);
	B("{\"tcbInfo\":{\"a\":1},\"signature\":\"%s\"");
	split_str(b, "tcbInfo", NULL);
	B("{\"tcbInfo\":{\"a\":1},\"signature\":\"%s00\"}");
	split_str(b, "tcbInfo", NULL);
	B("{\"tcbInfo\":{\"a\":1},\"signature\":\"%.126s\"}");
	split_str(b, "tcbInfo", NULL);
	split_str("{\"tcbInfo\":{\"a\":1}}", "tcbInfo", NULL);
	split_str("{\"tcbInfo\":{\"a\":1},\"signature\":\"zz\"}", "tcbInfo", NULL);
	split_str("[]", "tcbInfo", NULL);
	split_str("", "tcbInfo", NULL);
#undef B
}

static void test_split_real(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	static const char *const tcb[] = {
		"tdx/automata_tcbinfo_tdx_00806f050000_2025-06-04.json",
		"tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json",
		"tdx/go-tdx-guest_tcbinfo_tdx_50806f000000_2023-06-18.json",
		"tdx/go-tdx-guest_tcbinfo_tdx_90c06f000000_2026-02-01.json",
		"tdx/trustee_tcbinfo_tdx_00a06d080000_2025-10-27.json",
	};
	for (size_t i = 0; i < sizeof(tcb) / sizeof(tcb[0]); i++)
		check_split(tcb[i], "tcbInfo", "{\"id\":\"TDX\"");
	check_split("sgx/teekit_tcbinfo_sgx_00906ed50000_2025-09-28.json", "tcbInfo", "{\"id\":\"SGX\"");
	static const char *const qe[] = {
		"tdx/automata_qeidentity_td_qe_2025-06-04.json",
		"tdx/automata_qeidentity_td_qe_2025-10-13.json",
		"tdx/go-tdx-guest_qeidentity_td_qe_2023-06-08.json",
		"tdx/trustee_qeidentity_td_qe_2025-10-28.json",
	};
	for (size_t i = 0; i < sizeof(qe) / sizeof(qe[0]); i++)
		check_split(qe[i], "enclaveIdentity", "{\"id\":\"TD_QE\"");
	check_split("sgx/automata_qeidentity_sgx_qe_2025-08-15.json", "enclaveIdentity", "{\"id\":\"QE\"");
	/* Pretty-printed: the split returns the indented bytes unchanged (so the
	 * verifier's signature check over them must FAIL: Intel signed the compact text). */
	check_split("sgx/NEGATIVE_teekit_tcbinfo_sgx_90c06f000000_prettyprinted.json", "tcbInfo",
		    "{\n    \"id\": \"SGX\"");
}

/* ------------------------------------------------------------ TCB Info / QE identity */

static char *split_file(const char *rel, const char *member, size_t *len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	assert_true(load_vec(rel, &buf, &n));
	char *val = NULL;
	uint8_t sig[64];
	struct vt_err err = {0};
	if (vt_dcap_signed_json_split((const char *)buf, n, member, &val, sig, &err) != VT_OK)
		fail_msg("%s: %s", rel, err.detail);
	free(buf);
	*len = strlen(val);
	return val;
}

static void test_tcbinfo_real(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	static const struct {
		const char *file, *id, *fmspc;
		size_t levels;
		vt_tcb_status first;
		int eval;
		size_t modules;
	} cases[] = {
		{"tdx/automata_tcbinfo_tdx_00806f050000_2025-06-04.json", "TDX", "00806f050000", 4, VT_TCB_UP_TO_DATE, 17, 2},
		{"tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json", "TDX", "00806f050000", 4, VT_TCB_UP_TO_DATE, 17, 2},
		{"tdx/go-tdx-guest_tcbinfo_tdx_50806f000000_2023-06-18.json", "TDX", "50806f000000", 2, VT_TCB_UP_TO_DATE, 15, 0},
		{"tdx/go-tdx-guest_tcbinfo_tdx_90c06f000000_2026-02-01.json", "TDX", "90c06f000000", 3, VT_TCB_UP_TO_DATE, 18, 2},
		{"tdx/trustee_tcbinfo_tdx_00a06d080000_2025-10-27.json", "TDX", "00a06d080000", 2, VT_TCB_UP_TO_DATE, 17, 2},
		{"sgx/teekit_tcbinfo_sgx_00906ed50000_2025-09-28.json", "SGX", "00906ed50000", 19, VT_TCB_SW_HARDENING_NEEDED, 17, 0},
		{"sgx/NEGATIVE_teekit_tcbinfo_sgx_90c06f000000_prettyprinted.json", "SGX", "90c06f000000", 2, VT_TCB_UP_TO_DATE, 17, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *val = split_file(cases[i].file, "tcbInfo", &len);
		struct vt_tcb_info ti;
		struct vt_err err = {0};
		if (vt_tcb_info_parse(val, len, &ti, &err) != VT_OK)
			fail_msg("%s: %s: %s", cases[i].file, err.field, err.detail);
		assert_string_equal(ti.id, cases[i].id);
		assert_int_equal(ti.version, 3);
		assert_hex(ti.fmspc, 6, cases[i].fmspc, "fmspc");
		assert_hex(ti.pceid, 2, "0000", "pceid");
		assert_int_equal(ti.level_count, cases[i].levels);
		assert_int_equal(ti.levels[0].status, cases[i].first);
		assert_int_equal(ti.evaluation_number, cases[i].eval);
		assert_int_equal(ti.module_id_count, cases[i].modules);
		bool tdx = strcmp(cases[i].id, "TDX") == 0;
		assert_int_equal(ti.has_tdx_module, tdx);
		assert_int_equal(ti.levels[0].has_tdx, tdx);
		assert_true(ti.next_update > ti.issue_date);
		assert_true(ti.levels[0].tcb_date > 0);
		free(val);
		vt_tcb_info_free(&ti);
	}

	/* Details of the 2026 TDX one. */
	size_t len;
	char *val = split_file("tdx/go-tdx-guest_tcbinfo_tdx_90c06f000000_2026-02-01.json", "tcbInfo", &len);
	struct vt_tcb_info ti;
	assert_int_equal(vt_tcb_info_parse(val, len, &ti, NULL), VT_OK);
	assert_int_equal(ti.issue_date, 1769957366); /* 2026-02-01T14:49:26Z */
	assert_hex(ti.tdx_attributes_mask, 8, "ffffffffffffffff", "attributesMask");
	assert_string_equal(ti.module_ids[0].id, "TDX_03");
	assert_int_equal(ti.module_ids[0].level_count, 1);
	assert_int_equal(ti.module_ids[0].levels[0].isvsvn, 3);
	assert_string_equal(ti.module_ids[1].id, "TDX_01");
	assert_int_equal(ti.module_ids[1].level_count, 3);
	assert_int_equal(ti.module_ids[1].levels[0].isvsvn, 6);
	assert_int_equal(ti.module_ids[1].levels[0].status, VT_TCB_UP_TO_DATE);
	assert_string_equal(ti.module_ids[1].levels[0].advisory_ids, "");
	assert_int_equal(ti.module_ids[1].levels[1].isvsvn, 4);
	assert_int_equal(ti.module_ids[1].levels[1].status, VT_TCB_OUT_OF_DATE);
	assert_string_equal(ti.module_ids[1].levels[1].advisory_ids, "INTEL-SA-01036,INTEL-SA-01099");
	assert_string_equal(ti.module_ids[1].levels[1].tcb_date_str, "2024-03-13T00:00:00Z");
	assert_int_equal(ti.levels[0].sgx_svn[0], 3);
	assert_string_equal(ti.levels[0].tcb_date_str, "2024-11-13T00:00:00Z");
	free(val);
	vt_tcb_info_free(&ti);
}

static void test_qeidentity_real(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	static const struct {
		const char *file, *id;
		unsigned prodid;
		size_t levels;
		unsigned first_svn;
		const char *mrsigner;
	} cases[] = {
		{"tdx/automata_qeidentity_td_qe_2025-06-04.json", "TD_QE", 2, 1, 4,
		 "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"},
		{"tdx/automata_qeidentity_td_qe_2025-10-13.json", "TD_QE", 2, 1, 4,
		 "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"},
		{"tdx/go-tdx-guest_qeidentity_td_qe_2023-06-08.json", "TD_QE", 2, 1, 4,
		 "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"},
		{"tdx/trustee_qeidentity_td_qe_2025-10-28.json", "TD_QE", 2, 1, 4,
		 "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5"},
		{"sgx/automata_qeidentity_sgx_qe_2025-08-15.json", "QE", 1, 6, 8,
		 "8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *val = split_file(cases[i].file, "enclaveIdentity", &len);
		struct vt_qe_identity qi;
		struct vt_err err = {0};
		if (vt_qe_identity_parse(val, len, &qi, &err) != VT_OK)
			fail_msg("%s: %s: %s", cases[i].file, err.field, err.detail);
		assert_string_equal(qi.id, cases[i].id);
		assert_int_equal(qi.version, 2);
		assert_int_equal(qi.isvprodid, cases[i].prodid);
		assert_int_equal(qi.level_count, cases[i].levels);
		assert_int_equal(qi.levels[0].isvsvn, cases[i].first_svn);
		assert_int_equal(qi.levels[0].status, VT_TCB_UP_TO_DATE);
		assert_hex(qi.mrsigner, 32, cases[i].mrsigner, "mrsigner");
		assert_hex(qi.miscselect_mask, 4, "ffffffff", "miscselectMask");
		if (qi.level_count > 1)
			assert_int_equal(qi.levels[1].status, VT_TCB_OUT_OF_DATE);
		if (strcmp(qi.id, "TD_QE") == 0) {
			assert_hex(qi.attributes, 16, "11000000000000000000000000000000", "attributes");
			assert_hex(qi.attributes_mask, 16, "fbffffffffffffff0000000000000000", "attributesMask");
		}
		free(val);
		vt_qe_identity_free(&qi);
	}
}

/* A synthetic compact SGX tcbInfo and a TD_QE identity for negative tests. */
static const char syn_tcb[] =
	"{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
	"\"fmspc\":\"00806F050000\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,"
	"\"tdxModule\":{\"mrsigner\":\"" "000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000" "\",\"attributes\":\"0000000000000000\","
	"\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
	"\"tcbLevels\":[{\"tcb\":{\"sgxtcbcomponents\":[{\"svn\":1},{\"svn\":2},{\"svn\":3},{\"svn\":4},{\"svn\":5},"
	"{\"svn\":6},{\"svn\":7},{\"svn\":8},{\"svn\":9},{\"svn\":10},{\"svn\":11},{\"svn\":12},{\"svn\":13},"
	"{\"svn\":14},{\"svn\":15},{\"svn\":255}],\"pcesvn\":13,\"tdxtcbcomponents\":[{\"svn\":1},{\"svn\":0},"
	"{\"svn\":2},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},"
	"{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0}]},\"tcbDate\":\"2024-03-13T00:00:00Z\","
	"\"tcbStatus\":\"SWHardeningNeeded\",\"advisoryIDs\":[\"INTEL-SA-00001\",\"INTEL-SA-00002\"]}]}";

static const char syn_qe[] =
	"{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
	"\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
	"\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\","
	"\"mrsigner\":\"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5\",\"isvprodid\":2,"
	"\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
	"{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2023-03-13T00:00:00Z\",\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-1\"]}]}";

/* Replace the first occurrence of `from` with `to` in src (malloc'd result). */
static char *replace(const char *src, const char *from, const char *to)
{
	const char *p = strstr(src, from);
	assert_non_null(p);
	size_t a = (size_t)(p - src), fl = strlen(from), tl = strlen(to), n = strlen(src);
	char *r = malloc(n - fl + tl + 1);
	assert_non_null(r);
	memcpy(r, src, a);
	memcpy(r + a, to, tl);
	memcpy(r + a + tl, p + fl, n - a - fl + 1);
	return r;
}

static void tcb_bad(const char *from, const char *to, vt_status want)
{
	char *s = replace(syn_tcb, from, to);
	struct vt_tcb_info ti;
	struct vt_err err = {0};
	vt_status rc = vt_tcb_info_parse(s, strlen(s), &ti, &err);
	if (rc != want)
		fail_msg("tcbInfo with %s -> %s: got %s (%s)", from, to, vt_status_name(rc), err.detail);
	assert_null(ti.levels);
	assert_int_equal(ti.level_count, 0);
	vt_tcb_info_free(&ti);
	free(s);
}

static void qe_bad(const char *from, const char *to)
{
	char *s = replace(syn_qe, from, to);
	struct vt_qe_identity qi;
	if (vt_qe_identity_parse(s, strlen(s), &qi, NULL) == VT_OK)
		fail_msg("QE identity with %s -> %s parsed", from, to);
	assert_null(qi.levels);
	free(s);
}

static void test_tcbinfo_synthetic(void **state)
{
	(void)state;
	struct vt_tcb_info ti;
	struct vt_err err = {0};
	if (vt_tcb_info_parse(syn_tcb, strlen(syn_tcb), &ti, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_int_equal(ti.level_count, 1);
	assert_int_equal(ti.levels[0].sgx_svn[15], 255);
	assert_int_equal(ti.levels[0].tdx_svn[2], 2);
	assert_int_equal(ti.levels[0].pcesvn, 13);
	assert_int_equal(ti.levels[0].status, VT_TCB_SW_HARDENING_NEEDED);
	assert_string_equal(ti.levels[0].advisory_ids, "INTEL-SA-00001,INTEL-SA-00002");
	assert_hex(ti.fmspc, 6, "00806f050000", "fmspc");
	vt_tcb_info_free(&ti);
	vt_tcb_info_free(&ti); /* idempotent */

	tcb_bad("\"SWHardeningNeeded\"", "\"SwHardeningNeeded\"", VT_E_PARSE);
	tcb_bad("\"SWHardeningNeeded\"", "\"NotSupported\"", VT_E_PARSE);
	tcb_bad("\"00806F050000\"", "\"00806F0500\"", VT_E_PARSE);
	tcb_bad("\"00806F050000\"", "\"00806F05000000\"", VT_E_PARSE);
	tcb_bad("\"00806F050000\"", "\"00806F05000G\"", VT_E_PARSE);
	tcb_bad("\"pceId\":\"0000\"", "\"pceId\":\"000\"", VT_E_PARSE);
	tcb_bad("\"attributesMask\":\"FFFFFFFFFFFFFFFF\"", "\"attributesMask\":\"FFFFFFFFFFFFFF\"", VT_E_PARSE);
	tcb_bad("\"tcbLevels\"", "\"tcbLevelz\"", VT_E_PARSE);
	tcb_bad("\"version\":3", "\"version\":2", VT_E_PARSE);
	tcb_bad("\"id\":\"TDX\"", "\"id\":\"XYZ\"", VT_E_PARSE);
	tcb_bad("\"issueDate\":\"2025-01-01T00:00:00Z\"", "\"issueDate\":\"yesterday\"", VT_E_PARSE);
	tcb_bad("{\"svn\":255}", "{\"svn\":256}", VT_E_PARSE);
	tcb_bad("{\"svn\":255}", "{\"svn\":-1}", VT_E_PARSE);
	tcb_bad("{\"svn\":255}],", "{\"svn\":255},{\"svn\":1}],", VT_E_PARSE);
	tcb_bad("{\"svn\":1},{\"svn\":2}", "{\"svn\":2}", VT_E_PARSE);
	tcb_bad("\"pcesvn\":13", "\"pcesvn\":65536", VT_E_PARSE);
	tcb_bad("\"pcesvn\":13", "\"pcesvn\":\"13\"", VT_E_PARSE);
	tcb_bad(",\"tdxtcbcomponents\"", ",\"tdxtcbcomponentz\"", VT_E_PARSE); /* TDX needs them */
	tcb_bad("\"tdxModule\"", "\"tdxModulf\"", VT_E_PARSE);
	tcb_bad("\"tcbLevels\":[{", "\"tcbLevels\":[],\"x\":[{", VT_E_PARSE);
	tcb_bad("[\"INTEL-SA-00001\",", "[\"\",", VT_E_PARSE);
	tcb_bad("[\"INTEL-SA-00001\",", "[1,", VT_E_PARSE);
	tcb_bad("\"tcbType\":0", "\"tcbType\":0,\"tcbType\":1", VT_E_PARSE); /* duplicate key */
	tcb_bad("\"tdxModule\":{", "\"tdxModuleIdentities\":[{\"id\":\"TDX_01\",\"mrsigner\":\"00\"}],\"tdxModule\":{",
		VT_E_PARSE);

	/* long advisory list → limit */
	char big[4096] = "[";
	for (int i = 0; i < 60; i++)
		strcat(big, i ? ",\"INTEL-SA-00000\"" : "\"INTEL-SA-00000\"");
	strcat(big, "]");
	tcb_bad("[\"INTEL-SA-00001\",\"INTEL-SA-00002\"]", big, VT_E_LIMIT);

	/* more than 256 levels → limit */
	const char *lv = strstr(syn_tcb, "{\"tcb\":");
	size_t lvlen = strlen(lv) - 2; /* without the closing "]}" */
	size_t head = (size_t)(lv - syn_tcb);
	size_t cap = head + 257 * (lvlen + 1) + 8;
	char *many = malloc(cap);
	assert_non_null(many);
	memcpy(many, syn_tcb, head);
	size_t o = head;
	for (int i = 0; i < 257; i++) {
		if (i)
			many[o++] = ',';
		memcpy(many + o, lv, lvlen);
		o += lvlen;
	}
	memcpy(many + o, "]}", 3);
	assert_int_equal(vt_tcb_info_parse(many, strlen(many), &ti, &err), VT_E_LIMIT);
	/* 256 is fine */
	o = head;
	for (int i = 0; i < 256; i++) {
		if (i)
			many[o++] = ',';
		memcpy(many + o, lv, lvlen);
		o += lvlen;
	}
	memcpy(many + o, "]}", 3);
	assert_int_equal(vt_tcb_info_parse(many, strlen(many), &ti, NULL), VT_OK);
	assert_int_equal(ti.level_count, 256);
	vt_tcb_info_free(&ti);
	free(many);

	/* QE identity */
	struct vt_qe_identity qi;
	if (vt_qe_identity_parse(syn_qe, strlen(syn_qe), &qi, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_int_equal(qi.level_count, 2);
	assert_int_equal(qi.levels[1].isvsvn, 2);
	assert_int_equal(qi.levels[1].status, VT_TCB_OUT_OF_DATE);
	assert_string_equal(qi.levels[1].advisory_ids, "INTEL-SA-1");
	assert_hex(qi.miscselect, 4, "00000000", "miscselect");
	vt_qe_identity_free(&qi);
	qe_bad("\"UpToDate\"", "\"Uptodate\"");
	qe_bad("\"miscselect\":\"00000000\"", "\"miscselect\":\"0000000\"");
	qe_bad("\"mrsigner\":\"DC", "\"mrsigner\":\"");
	qe_bad("\"tcbLevels\"", "\"tcbLevelz\"");
	qe_bad("\"version\":2", "\"version\":1");
	qe_bad("\"isvprodid\":2", "\"isvprodid\":65536");
	qe_bad("\"id\":\"TD_QE\"", "\"id\":\"TDQE\"");
	qe_bad("{\"isvsvn\":4}", "{\"isvsvn\":\"4\"}");
	assert_int_equal(vt_qe_identity_parse("[]", 2, &qi, NULL), VT_E_PARSE);
	assert_int_equal(vt_qe_identity_parse("{", 1, &qi, NULL), VT_E_PARSE);
}

/* ------------------------------------------------------------ collateral loading */

static void test_collateral_qvl_json(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	static const struct {
		const char *file, *tcb_prefix, *qe_prefix, *tcb_sig, *qe_sig;
		size_t root_crl, pck_crl;
	} cases[] = {
		{"tdx/phala_v5_quote_no_matching_tcb_level_collateral.json", "{\"id\":\"TDX\"", "{\"id\":\"TD_QE\"",
		 "bdd7c459", "85037e9d", 292, 3355},
		{"sgx/phala_sgx_v3_quote_00a067110000_collateral.json", "{\"id\":\"SGX\"", "{\"id\":\"QE\"", "9ad0e9be",
		 "f130961c", 292, 302},
	};
	for (size_t i = 0; i < 2; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", vt_test_vectors_dir(), cases[i].file);
		struct vt_dcap_collateral c;
		struct vt_err err = {0};
		if (vt_dcap_collateral_load(path, &c, &err) != VT_OK)
			fail_msg("%s: %s: %s", cases[i].file, err.field, err.detail);
		assert_int_equal(strncmp(c.tcb_info, cases[i].tcb_prefix, strlen(cases[i].tcb_prefix)), 0);
		assert_int_equal(strncmp(c.qe_identity, cases[i].qe_prefix, strlen(cases[i].qe_prefix)), 0);
		assert_hex(c.tcb_info_signature, 4, cases[i].tcb_sig, "tcb sig");
		assert_hex(c.qe_identity_signature, 4, cases[i].qe_sig, "qe sig");
		assert_int_equal(c.root_ca_crl_size, cases[i].root_crl);
		assert_int_equal(c.pck_crl_size, cases[i].pck_crl);
		assert_int_equal(c.root_ca_crl[0], 0x30);
		assert_non_null(strstr(c.tcb_info_issuer_chain, "-----BEGIN CERTIFICATE-----"));
		assert_non_null(strstr(c.pck_crl_issuer_chain, "-----BEGIN CERTIFICATE-----"));
		assert_non_null(strstr(c.qe_identity_issuer_chain, "-----BEGIN CERTIFICATE-----"));
		/* the embedded signed texts parse */
		struct vt_tcb_info ti;
		struct vt_qe_identity qi;
		if (vt_tcb_info_parse(c.tcb_info, strlen(c.tcb_info), &ti, &err) != VT_OK)
			fail_msg("%s tcb_info: %s: %s", cases[i].file, err.field, err.detail);
		if (vt_qe_identity_parse(c.qe_identity, strlen(c.qe_identity), &qi, &err) != VT_OK)
			fail_msg("%s qe_identity: %s: %s", cases[i].file, err.field, err.detail);
		vt_tcb_info_free(&ti);
		vt_qe_identity_free(&qi);
		vt_dcap_collateral_free(&c);
		vt_dcap_collateral_free(&c);
	}
	struct vt_dcap_collateral c;
	struct vt_err err = {0};
	assert_int_equal(vt_dcap_collateral_load("/nonexistent/veritee-dcap", &c, &err), VT_E_NOTFOUND);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void copy_vec(const char *dir, const char *rel, const char *name)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	assert_true(load_vec(rel, &buf, &n));
	write_file(dir, name, buf, n);
	free(buf);
}

static void rm_dir(const char *dir)
{
	static const char *const names[] = {"tcbinfo.json", "qeidentity.json", "tcbinfo_issuer_chain.pem",
					    "qeidentity_issuer_chain.pem", "pckcrl.der", "pckcrl.pem",
					    "pckcrl_issuer_chain.pem", "rootcrl.der", "bad.json"};
	char path[512];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void test_collateral_dir(void **state)
{
	(void)state;
	SKIP_NO_VECTORS();
	char *dir = vt_test_tmpdir();
	assert_non_null(dir);
	const char *chain = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem";
	copy_vec(dir, "tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json", "tcbinfo.json");
	copy_vec(dir, "tdx/automata_qeidentity_td_qe_2025-10-13.json", "qeidentity.json");
	copy_vec(dir, chain, "tcbinfo_issuer_chain.pem");
	copy_vec(dir, chain, "qeidentity_issuer_chain.pem");
	copy_vec(dir, chain, "pckcrl_issuer_chain.pem"); /* content not checked by the loader */
	copy_vec(dir, "roots/intel/intel_pck_platform_ca_crl_2025-10-13.der", "pckcrl.der");
	copy_vec(dir, "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der", "rootcrl.der");

	struct vt_dcap_collateral c;
	struct vt_err err = {0};
	if (vt_dcap_collateral_load(dir, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_int_equal(strncmp(c.tcb_info, "{\"id\":\"TDX\"", 11), 0);
	assert_int_equal(strncmp(c.qe_identity, "{\"id\":\"TD_QE\"", 13), 0);
	assert_int_equal(c.pck_crl_size, 2661);
	assert_int_equal(c.root_ca_crl_size, 292);
	assert_hex(c.qe_identity_signature, 4, "bb0fd102", "qe sig");
	uint8_t *crl = NULL;
	size_t crl_n = 0;
	assert_true(load_vec("roots/intel/intel_pck_platform_ca_crl_2025-10-13.der", &crl, &crl_n));
	assert_memory_equal(c.pck_crl, crl, crl_n);
	vt_dcap_collateral_free(&c);

	/* PEM CRL instead of DER: same bytes */
	char path[512];
	snprintf(path, sizeof(path), "%s/pckcrl.der", dir);
	unlink(path);
	const unsigned char *pp = crl;
	X509_CRL *x = d2i_X509_CRL(NULL, &pp, (long)crl_n);
	assert_non_null(x);
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509_CRL(b, x), 1);
	char *pem = NULL;
	long pem_n = BIO_get_mem_data(b, &pem);
	write_file(dir, "pckcrl.pem", pem, (size_t)pem_n);
	BIO_free(b);
	X509_CRL_free(x);
	if (vt_dcap_collateral_load(dir, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_int_equal(c.pck_crl_size, crl_n);
	assert_memory_equal(c.pck_crl, crl, crl_n);
	vt_dcap_collateral_free(&c);
	free(crl);

	/* a broken tcbinfo.json fails and leaves nothing allocated */
	write_file(dir, "tcbinfo.json", "{\"tcbInfo\":{}}", 14);
	assert_int_equal(vt_dcap_collateral_load(dir, &c, &err), VT_E_PARSE);
	assert_null(c.tcb_info);
	rm_dir(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_synthetic_ok),
		cmocka_unit_test(test_synthetic_negative),
		cmocka_unit_test(test_real_quotes),
		cmocka_unit_test(test_real_truncations),
		cmocka_unit_test(test_real_negative),
		cmocka_unit_test(test_pck_ext_synthetic),
		cmocka_unit_test(test_split_synthetic),
		cmocka_unit_test(test_split_real),
		cmocka_unit_test(test_tcbinfo_real),
		cmocka_unit_test(test_qeidentity_real),
		cmocka_unit_test(test_tcbinfo_synthetic),
		cmocka_unit_test(test_collateral_qvl_json),
		cmocka_unit_test(test_collateral_dir),
	};
	return cmocka_run_group_tests_name("dcap_parse", tests, NULL, NULL);
}
