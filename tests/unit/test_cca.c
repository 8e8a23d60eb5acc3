/*
 * Unit tests for Arm CCA: the token verifier (src/evidence/cca/), the `cca`
 * descriptor and CPAK files, and the attester (src/attester/cca/).
 *
 * Synthetic tokens are built here with libcbor and signed with keys made
 * per run (a CPAK and a RAK), so every parse rule, binding and signature
 * step is exercised without the shared vectors.  The recorded tokens in
 * $VERITEE_VECTORS/cca (published test keys: TF-M/TF-A, Veraison, Trustee)
 * are checked against the expected results of shared/vectors/README-more.md;
 * without them those tests skip and say so.
 *
 * The attester runs against an emulated configfs-tsm, as in
 * test_tdx_attest.c: a child process runs the attester; the parent plays
 * the kernel (provider, generation, inblob, an `outblob` FIFO), and serves
 * a synthetic token carrying the challenge it read from inblob.  This
 * program's mkdir()/rmdir() stand in for what configfs does inside those
 * calls (the library is linked statically, so its calls land here).
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "attester/cca/cca_attester.h"
#include "veritee/cca.h"
#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"

/* ------------------------------------------------ child-side interposers */

static char g_root[PATH_MAX]; /* fake configfs root; "" = interposers inactive */
static int g_ready_fd = -1;   /* child: the parent writes a byte once an entry is populated */

static bool is_fake_entry(const char *path)
{
	size_t n = strlen(g_root);
	return n > 0 && strncmp(path, g_root, n) == 0 && path[n] == '/' && path[n + 1] != '\0' &&
	       strchr(path + n + 1, '/') == NULL;
}

int mkdir(const char *path, mode_t mode)
{
	int r = (int)syscall(SYS_mkdirat, AT_FDCWD, path, mode);
	if (r == 0 && is_fake_entry(path) && g_ready_fd >= 0) {
		struct pollfd p = {.fd = g_ready_fd, .events = POLLIN};
		char c;
		if (poll(&p, 1, 10000) == 1)
			(void)!read(g_ready_fd, &c, 1);
	}
	return r;
}

int rmdir(const char *path)
{
	if (is_fake_entry(path)) {
		static const char *const names[] = {"provider", "generation", "inblob", "outblob"};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			char p[PATH_MAX];
			if (snprintf(p, sizeof(p), "%s/%s", path, names[i]) < (int)sizeof(p))
				unlink(p);
		}
	}
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR);
}

/* ------------------------------------------------------------ fixtures */

static EVP_PKEY *g_cpak;    /* P-384: signs synthetic platform tokens (ES384) */
static EVP_PKEY *g_cpak256; /* P-256: ES256 platform tokens */
static EVP_PKEY *g_rak;     /* P-384: the realm attestation key */
static EVP_PKEY *g_other;   /* P-384: a key nobody trusts */
static uint8_t g_rak_raw[97];
static char *g_tmp;
static const char *g_vec; /* $VERITEE_VECTORS/cca, or NULL */
static char g_vec_buf[PATH_MAX];

static int group_setup(void **state)
{
	(void)state;
	struct vt_err e = {0};
	if (vt_key_generate(VT_KEY_P384, &g_cpak, &e) != VT_OK || vt_key_generate(VT_KEY_P256, &g_cpak256, &e) != VT_OK ||
	    vt_key_generate(VT_KEY_P384, &g_rak, &e) != VT_OK || vt_key_generate(VT_KEY_P384, &g_other, &e) != VT_OK)
		return -1;
	unsigned char *pt = NULL;
	size_t n = EVP_PKEY_get1_encoded_public_key(g_rak, &pt);
	if (n != sizeof(g_rak_raw) || pt[0] != 0x04)
		return -1;
	memcpy(g_rak_raw, pt, n);
	OPENSSL_free(pt);
	g_tmp = vt_test_tmpdir();
	const char *v = vt_test_vectors_dir();
	if (v != NULL) {
		snprintf(g_vec_buf, sizeof(g_vec_buf), "%s/cca", v);
		struct stat st;
		if (stat(g_vec_buf, &st) == 0 && S_ISDIR(st.st_mode))
			g_vec = g_vec_buf;
	}
	if (g_vec == NULL)
		fprintf(stderr, "# note: no shared vectors (VERITEE_VECTORS or ../shared/vectors, folder cca/): "
				"the recorded-token tests skip\n");
	return g_tmp ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(g_cpak);
	EVP_PKEY_free(g_cpak256);
	EVP_PKEY_free(g_rak);
	EVP_PKEY_free(g_other);
	if (g_tmp) {
		rmdir(g_tmp);
		free(g_tmp);
	}
	return 0;
}

/* ------------------------------------------------------------ CBOR builder */

static cbor_item_t *u(uint64_t v)
{
	if (v < 256)
		return cbor_build_uint8((uint8_t)v);
	if (v < 65536)
		return cbor_build_uint16((uint16_t)v);
	if (v <= UINT32_MAX)
		return cbor_build_uint32((uint32_t)v);
	return cbor_build_uint64(v);
}

static cbor_item_t *ik(int64_t v)
{
	if (v >= 0)
		return u((uint64_t)v);
	cbor_item_t *i = u((uint64_t)(-1 - v));
	cbor_mark_negint(i);
	return i;
}

static cbor_item_t *bs(const void *p, size_t n)
{
	return n == 0 ? cbor_new_definite_bytestring() : cbor_build_bytestring(p, n);
}

static cbor_item_t *bfill(uint8_t byte, size_t n)
{
	uint8_t b[128];
	assert_true(n <= sizeof(b));
	memset(b, byte, n);
	return bs(b, n);
}

static cbor_item_t *ts(const char *s)
{
	return cbor_build_string(s);
}

/* map[key] = v, consuming v. */
static void mput(cbor_item_t *map, cbor_item_t *key, cbor_item_t *v)
{
	assert_non_null(key);
	assert_non_null(v);
	assert_true(cbor_map_add(map, (struct cbor_pair){.key = cbor_move(key), .value = cbor_move(v)}));
}

static void apush(cbor_item_t *arr, cbor_item_t *v)
{
	assert_non_null(v);
	assert_true(cbor_array_push(arr, cbor_move(v)));
}

static uint8_t *ser(const cbor_item_t *it, size_t *n)
{
	unsigned char *buf = NULL;
	size_t cap = 0;
	*n = cbor_serialize_alloc(it, &buf, &cap);
	assert_true(*n > 0);
	return buf;
}

/* One override of a claim: val NULL deletes it; keys not in the defaults are added. */
struct ov {
	int64_t key;
	cbor_item_t *val;
};

#define MAX_OV 6

struct spec {
	bool ffm;                 /* realm + platform profiles of draft FFM, RAK as COSE_Key */
	const char *rak_hash;     /* claim 44240; default "sha-256" */
	const uint8_t *challenge; /* realm challenge (64 bytes); NULL = 0xab... */
	bool unbound;             /* platform challenge is not hash(RAK) */
	EVP_PKEY *cpak;           /* platform signer; default g_cpak */
	EVP_PKEY *realm_signer;   /* default g_rak */
	bool untagged_realm;      /* realm COSE_Sign1 without tag 18 */
	bool detached_realm;      /* realm payload nil */
	struct ov realm_ov[MAX_OV], plat_ov[MAX_OV];
	size_t n_realm_ov, n_plat_ov;
};

static void realm_ov(struct spec *s, int64_t key, cbor_item_t *val)
{
	assert_true(s->n_realm_ov < MAX_OV);
	s->realm_ov[s->n_realm_ov++] = (struct ov){key, val};
}

static void plat_ov(struct spec *s, int64_t key, cbor_item_t *val)
{
	assert_true(s->n_plat_ov < MAX_OV);
	s->plat_ov[s->n_plat_ov++] = (struct ov){key, val};
}

/* Add (key, default) to map unless an override replaces or deletes it. */
static void claim(cbor_item_t *map, struct ov *ovs, size_t n_ov, bool *used, int64_t key, cbor_item_t *def)
{
	for (size_t i = 0; i < n_ov; i++) {
		if (ovs[i].key == key && !used[i]) {
			used[i] = true;
			cbor_decref(&def);
			if (ovs[i].val != NULL)
				mput(map, ik(key), ovs[i].val);
			return;
		}
	}
	mput(map, ik(key), def);
}

static void rest(cbor_item_t *map, struct ov *ovs, size_t n_ov, bool *used)
{
	for (size_t i = 0; i < n_ov; i++)
		if (!used[i] && ovs[i].val != NULL)
			mput(map, ik(ovs[i].key), ovs[i].val);
}

static cbor_item_t *cose_key_rak(void)
{
	cbor_item_t *k = cbor_new_definite_map(4);
	mput(k, ik(1), ik(2));  /* kty EC2 */
	mput(k, ik(-1), ik(2)); /* crv P-384 */
	mput(k, ik(-2), bs(g_rak_raw + 1, 48));
	mput(k, ik(-3), bs(g_rak_raw + 49, 48));
	return k;
}

static cbor_item_t *sw_component(unsigned i, size_t value_len)
{
	static const char *const types[] = {"BL", "M1", "M2", "M3", "RMM"};
	char ver[16];
	snprintf(ver, sizeof(ver), "1.0.%u", i);
	cbor_item_t *c = cbor_new_definite_map(8); /* room for tests to add members */
	mput(c, ik(1), ts(types[i % 5]));
	mput(c, ik(2), bfill((uint8_t)(0x30 + i), value_len));
	mput(c, ik(4), ts(ver));
	mput(c, ik(5), bfill(0x53, 32));
	mput(c, ik(6), ts("sha-256"));
	return c;
}

static cbor_item_t *sw_components(size_t n)
{
	cbor_item_t *a = cbor_new_definite_array(n);
	for (size_t i = 0; i < n; i++)
		apush(a, sw_component((unsigned)i, 32));
	return a;
}

static const uint8_t DEFAULT_CHALLENGE[64] = {
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0x01,
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
	0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0x02,
};

static cbor_item_t *realm_claims(const struct spec *sp_in)
{
	struct spec *sp = (struct spec *)sp_in;
	bool used[MAX_OV] = {false};
	cbor_item_t *m = cbor_new_definite_map(32);
	const uint8_t *ch = sp->challenge ? sp->challenge : DEFAULT_CHALLENGE;
	if (sp->ffm)
		claim(m, sp->realm_ov, sp->n_realm_ov, used, 265, ts("tag:arm.com,2023:realm#1.0.0"));
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 10, bs(ch, 64));
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 44235, bfill(0x50, 64));
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 44238, bfill(0x11, 32));
	cbor_item_t *rem = cbor_new_definite_array(4);
	for (uint8_t i = 0; i < 4; i++)
		apush(rem, bfill((uint8_t)(0x20 + i), 32));
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 44239, rem);
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 44236, ts("sha-256"));
	cbor_item_t *rak;
	if (sp->ffm) {
		size_t kn;
		cbor_item_t *k = cose_key_rak();
		uint8_t *kb = ser(k, &kn);
		cbor_decref(&k);
		rak = bs(kb, kn);
		free(kb);
	} else {
		rak = bs(g_rak_raw, sizeof(g_rak_raw));
	}
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 44237, rak);
	claim(m, sp->realm_ov, sp->n_realm_ov, used, 44240, ts(sp->rak_hash ? sp->rak_hash : "sha-256"));
	rest(m, sp->realm_ov, sp->n_realm_ov, used);
	return m;
}

/* hash(the realm map's claim 44237 bytes) with the spec's RAK hash. */
static cbor_item_t *platform_challenge(const struct spec *sp, const cbor_item_t *realm)
{
	const cbor_item_t *rak = vt_cbor_map_get_int(realm, 44237);
	const char *h = sp->rak_hash ? sp->rak_hash : "sha-256";
	const EVP_MD *md = strcmp(h, "sha-512") == 0 ? EVP_sha512() : strcmp(h, "sha-384") == 0 ? EVP_sha384() : EVP_sha256();
	uint8_t d[EVP_MAX_MD_SIZE];
	size_t dn = 0;
	struct vt_err e = {0};
	if (rak != NULL && cbor_isa_bytestring(rak))
		assert_int_equal(vt_digest(md, cbor_bytestring_handle(rak), cbor_bytestring_length(rak), d, &dn, &e), VT_OK);
	else
		assert_int_equal(vt_digest(md, "x", 1, d, &dn, &e), VT_OK);
	if (sp->unbound)
		d[0] ^= 0x5a;
	return bs(d, dn);
}

static cbor_item_t *platform_claims(const struct spec *sp_in, const cbor_item_t *realm)
{
	struct spec *sp = (struct spec *)sp_in;
	bool used[MAX_OV] = {false};
	cbor_item_t *m = cbor_new_definite_map(32);
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 265,
	      ts(sp->ffm ? "tag:arm.com,2023:cca_platform#1.0.0" : "http://arm.com/CCA-SSD/1.0.0"));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 10, platform_challenge(sp, realm));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 2396, bfill(0x7f, 32));
	uint8_t inst[33];
	memset(inst, 0x02, sizeof(inst));
	inst[0] = 0x01;
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 256, bs(inst, sizeof(inst)));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 2401, bs("cfg", 3));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 2395, u(0x3003));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 2399, sw_components(4));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 2400, ts("https://verifier.example/cca"));
	claim(m, sp->plat_ov, sp->n_plat_ov, used, 2402, ts("sha-256"));
	rest(m, sp->plat_ov, sp->n_plat_ov, used);
	return m;
}

/* COSE_Sign1 over `claims` with `key` (ES256 or ES384 by its curve). */
static uint8_t *sign1(const cbor_item_t *claims, EVP_PKEY *key, bool tagged, bool detached, size_t *out_n)
{
	struct vt_err e = {0};
	bool p256 = vt_ec_coord_size(key) == 32;
	cbor_item_t *ph = cbor_new_definite_map(1);
	mput(ph, ik(1), ik(p256 ? -7 : -35));
	size_t pn, pln;
	uint8_t *prot = ser(ph, &pn);
	cbor_decref(&ph);
	uint8_t *payload = ser(claims, &pln);
	uint8_t *tbs = NULL;
	size_t tbs_n = 0;
	assert_int_equal(vt_cose_sig_structure(prot, pn, NULL, 0, payload, pln, &tbs, &tbs_n, &e), VT_OK);
	uint8_t sig[96];
	size_t sig_n = sizeof(sig);
	assert_int_equal(vt_ecdsa_sign_raw(key, p256 ? EVP_sha256() : EVP_sha384(), tbs, tbs_n, sig, &sig_n, &e), VT_OK);
	free(tbs);
	cbor_item_t *arr = cbor_new_definite_array(4);
	apush(arr, bs(prot, pn));
	apush(arr, cbor_new_definite_map(0));
	apush(arr, detached ? cbor_new_null() : bs(payload, pln));
	apush(arr, bs(sig, sig_n));
	free(prot);
	free(payload);
	cbor_item_t *top = tagged ? cbor_build_tag(18, cbor_move(arr)) : arr;
	uint8_t *out = ser(top, out_n);
	cbor_decref(&top);
	return out;
}

/* 399({44234: platform, 44241: realm}) */
static uint8_t *collection(const uint8_t *p, size_t pn, const uint8_t *r, size_t rn, size_t *out_n)
{
	cbor_item_t *m = cbor_new_definite_map(2);
	mput(m, ik(44234), bs(p, pn));
	mput(m, ik(44241), bs(r, rn));
	cbor_item_t *t = cbor_build_tag(399, cbor_move(m));
	uint8_t *out = ser(t, out_n);
	cbor_decref(&t);
	return out;
}

static uint8_t *build(const struct spec *sp, size_t *n)
{
	cbor_item_t *rc = realm_claims(sp);
	cbor_item_t *pc = platform_claims(sp, rc);
	size_t rn, pn;
	uint8_t *r = sign1(rc, sp->realm_signer ? sp->realm_signer : g_rak, !sp->untagged_realm, sp->detached_realm, &rn);
	uint8_t *p = sign1(pc, sp->cpak ? sp->cpak : g_cpak, true, false, &pn);
	cbor_decref(&rc);
	cbor_decref(&pc);
	uint8_t *t = collection(p, pn, r, rn, n);
	free(r);
	free(p);
	return t;
}

/* ------------------------------------------------------------ verify helpers */

static vt_status verify(const uint8_t *t, size_t n, EVP_PKEY *cpak, const uint8_t *bind, size_t bind_n,
			json_t **claims, struct vt_err *e)
{
	struct vt_binding b = {.report_data = bind, .report_data_size = bind_n};
	vt_err_clear(e);
	*claims = NULL;
	vt_status rc = vt_cca_verify_token(t, n, cpak, bind ? &b : NULL, claims, e);
	if (rc != VT_OK)
		assert_null(*claims);
	else
		assert_non_null(*claims);
	return rc;
}

static void expect_fail(const uint8_t *t, size_t n, EVP_PKEY *cpak, vt_status code, vt_step step, const char *field)
{
	json_t *c;
	struct vt_err e;
	vt_status rc = verify(t, n, cpak, NULL, 0, &c, &e);
	if (rc != code || e.step != step || (field != NULL && strcmp(e.field, field) != 0))
		fail_msg("got %s/%s field \"%s\" (%s), want %s/%s field \"%s\"", vt_status_name(rc), vt_step_name(e.step),
			 e.field, e.detail, vt_status_name(code), vt_step_name(step), field ? field : "*");
}

/* Build, expect a parse failure naming `field`; the spec's overrides are consumed. */
static void expect_spec_fails(struct spec *sp, vt_status code, const char *field)
{
	size_t n;
	uint8_t *t = build(sp, &n);
	expect_fail(t, n, g_cpak, code, VT_STEP_PARSE, field);
	free(t);
}

static char *claim_str(const json_t *claims, const char *ptr)
{
	json_t *v = vt_json_pointer(claims, ptr);
	if (!json_is_string(v))
		fail_msg("claim %s missing or not a string", ptr);
	return strdup(json_string_value(v));
}

/* A base64 claim as hex. */
static char *claim_hex(const json_t *claims, const char *ptr)
{
	char *s = claim_str(claims, ptr);
	uint8_t *b = NULL;
	size_t n = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_b64_decode(s, strlen(s), &b, &n, &e), VT_OK);
	char *h = vt_hex_encode(b, n);
	free(s);
	free(b);
	return h;
}

static void assert_claim_hex(const json_t *c, const char *ptr, const char *want)
{
	char *h = claim_hex(c, ptr);
	if (strcmp(h, want) != 0)
		fail_msg("%s = %s, want %s", ptr, h, want);
	free(h);
}

static void assert_claim_str(const json_t *c, const char *ptr, const char *want)
{
	char *s = claim_str(c, ptr);
	if (strcmp(s, want) != 0)
		fail_msg("%s = \"%s\", want \"%s\"", ptr, s, want);
	free(s);
}

static json_int_t claim_int(const json_t *c, const char *ptr)
{
	json_t *v = vt_json_pointer(c, ptr);
	if (!json_is_integer(v))
		fail_msg("claim %s missing or not an integer", ptr);
	return json_integer_value(v);
}

/* ------------------------------------------------------------ synthetic: good */

static void test_synthetic_legacy_ok(void **state)
{
	(void)state;
	struct spec sp = {0};
	size_t n;
	uint8_t *t = build(&sp, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, DEFAULT_CHALLENGE, 64, &c, &e), VT_OK);
	char *rd = vt_hex_encode(DEFAULT_CHALLENGE, 64);
	assert_claim_str(c, "/report_data", rd);
	free(rd);
	assert_null(vt_json_pointer(c, "/realm/cca-realm-profile"));
	assert_claim_str(c, "/platform/cca-platform-profile", "http://arm.com/CCA-SSD/1.0.0");
	assert_int_equal(claim_int(c, "/platform/cca-platform-lifecycle"), 0x3003);
	assert_claim_str(c, "/platform/cca-platform-lifecycle-state", "secured");
	assert_int_equal(json_array_size(vt_json_pointer(c, "/platform/cca-platform-sw-components")), 4);
	assert_claim_str(c, "/platform/cca-platform-sw-components/3/measurement-type", "M3");
	assert_claim_str(c, "/platform/cca-platform-sw-components/3/version", "1.0.3");
	assert_claim_str(c, "/platform/cca-platform-sw-components/3/hash-algo-id", "sha-256");
	assert_claim_hex(c, "/platform/cca-platform-config", "636667");
	assert_claim_hex(c, "/realm/cca-realm-initial-measurement",
			 "1111111111111111111111111111111111111111111111111111111111111111");
	assert_claim_hex(c, "/realm/cca-realm-extensible-measurements/2",
			 "2222222222222222222222222222222222222222222222222222222222222222");
	char *rak = vt_hex_encode(g_rak_raw, sizeof(g_rak_raw));
	assert_claim_hex(c, "/realm/cca-realm-public-key", rak);
	free(rak);
	char pv[129];
	memset(pv, '5', 128);
	for (int i = 1; i < 128; i += 2)
		pv[i] = '0';
	pv[128] = '\0';
	assert_claim_str(c, "/init_data", pv);
	json_decref(c);
	free(t);
}

static void test_synthetic_ffm_ok(void **state)
{
	(void)state;
	struct spec sp = {.ffm = true, .rak_hash = "sha-512"};
	size_t n;
	uint8_t *t = build(&sp, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK);
	assert_claim_str(c, "/realm/cca-realm-profile", "tag:arm.com,2023:realm#1.0.0");
	assert_claim_str(c, "/platform/cca-platform-profile", "tag:arm.com,2023:cca_platform#1.0.0");
	assert_claim_str(c, "/realm/cca-realm-public-key-hash-algo-id", "sha-512");
	char *pc = claim_hex(c, "/platform/cca-platform-challenge");
	assert_int_equal(strlen(pc), 128); /* sha-512 */
	free(pc);
	json_decref(c);
	free(t);
}

static void test_synthetic_es256_platform(void **state)
{
	(void)state;
	struct spec sp = {.cpak = g_cpak256, .rak_hash = "sha-384"};
	size_t n;
	uint8_t *t = build(&sp, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak256, NULL, 0, &c, &e), VT_OK);
	json_decref(c);
	/* The P-384 CPAK cannot check an ES256 token: the platform signature step says so. */
	expect_fail(t, n, g_cpak, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform");
	free(t);
}

static void test_unknown_claims_ignored(void **state)
{
	(void)state;
	struct spec sp = {0};
	realm_ov(&sp, 99999, ts("an unknown realm claim"));
	plat_ov(&sp, -70000, bfill(0x01, 3));
	size_t n;
	uint8_t *t = build(&sp, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK);
	json_decref(c);
	free(t);

	/* A text key is not a CCA claim: skipped too. */
	struct spec s2 = {0};
	cbor_item_t *rc = realm_claims(&s2);
	mput(rc, ts("vendor-extension"), u(7));
	cbor_item_t *pc = platform_claims(&s2, rc);
	size_t rn, pn;
	uint8_t *r = sign1(rc, g_rak, true, false, &rn), *p = sign1(pc, g_cpak, true, false, &pn);
	t = collection(p, pn, r, rn, &n);
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK);
	json_decref(c);
	cbor_decref(&rc);
	cbor_decref(&pc);
	free(r);
	free(p);
	free(t);
}

/* ------------------------------------------------------------ synthetic: binding */

static void test_binding(void **state)
{
	(void)state;
	/* The KBS digest is 48 bytes (SHA-384), zero-padded into the 64-byte challenge. */
	uint8_t ch[64] = {0}, digest[48];
	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(0x90 + i);
	memcpy(ch, digest, sizeof(digest));
	struct spec sp = {.challenge = ch};
	size_t n;
	uint8_t *t = build(&sp, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, digest, sizeof(digest), &c, &e), VT_OK);
	json_decref(c);
	assert_int_equal(verify(t, n, g_cpak, ch, sizeof(ch), &c, &e), VT_OK);
	json_decref(c);
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK); /* not checked */
	json_decref(c);

	uint8_t wrong[48];
	memcpy(wrong, digest, sizeof(wrong));
	wrong[47] ^= 1;
	assert_int_equal(verify(t, n, g_cpak, wrong, sizeof(wrong), &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(e.field, "realm.challenge");

	/* Zero padding is part of the binding: the same prefix with a non-zero tail does not match. */
	struct spec s2 = {0};
	free(t);
	t = build(&s2, &n);
	assert_int_equal(verify(t, n, g_cpak, DEFAULT_CHALLENGE, 48, &c, &e), VT_E_REJECTED);
	assert_string_equal(e.field, "realm.challenge");

	uint8_t big[65] = {0};
	assert_int_equal(verify(t, n, g_cpak, big, sizeof(big), &c, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_BINDING);
	free(t);
}

static void test_unbound_platform_challenge(void **state)
{
	(void)state;
	struct spec sp = {.unbound = true};
	size_t n;
	uint8_t *t = build(&sp, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(e.field, "platform.challenge");
	free(t);

	/* A platform challenge of another hash's size is unbound too. */
	struct spec s2 = {0};
	plat_ov(&s2, 10, bfill(0x00, 48));
	t = build(&s2, &n);
	expect_fail(t, n, g_cpak, VT_E_REJECTED, VT_STEP_BINDING, "platform.challenge");
	free(t);
}

static void test_wrong_keys(void **state)
{
	(void)state;
	struct spec sp = {0};
	size_t n;
	uint8_t *t = build(&sp, &n);
	expect_fail(t, n, g_other, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform");
	expect_fail(t, n, g_cpak256, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform");

	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, NULL, NULL, 0, &c, &e), VT_E_REJECTED); /* fail closed */
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_string_equal(e.field, "platform");
	assert_non_null(strstr(e.detail, "no CPAK configured"));
	free(t);

	/* The realm token signed by a key other than the RAK it names. */
	struct spec s2 = {.realm_signer = g_other};
	t = build(&s2, &n);
	expect_fail(t, n, g_cpak, VT_E_REJECTED, VT_STEP_SIGNATURE, "realm");
	free(t);
	struct spec s3 = {.ffm = true, .realm_signer = g_other};
	t = build(&s3, &n);
	expect_fail(t, n, g_cpak, VT_E_REJECTED, VT_STEP_SIGNATURE, "realm");
	free(t);
}

/* ------------------------------------------------------------ synthetic: parse rules */

static void test_sw_component_rules(void **state)
{
	(void)state;
	struct spec sp = {0};
	cbor_item_t *a = cbor_new_definite_array(5);
	for (unsigned i = 0; i < 5; i++)
		apush(a, sw_component(i, i == 3 ? 31 : 32));
	plat_ov(&sp, 2399, a);
	expect_spec_fails(&sp, VT_E_PARSE, "platform.sw_components[3].measurement_value");

	struct spec s2 = {0};
	a = cbor_new_definite_array(2);
	apush(a, sw_component(0, 32));
	cbor_item_t *c = sw_component(1, 32);
	mput(c, ik(7), ts("not a component key"));
	apush(a, c);
	plat_ov(&s2, 2399, a);
	expect_spec_fails(&s2, VT_E_PARSE, "platform.sw_components[1]");

	struct spec s3 = {0};
	a = cbor_new_definite_array(1);
	c = cbor_new_definite_map(2);
	mput(c, ik(1), ts("BL"));
	mput(c, ik(2), bfill(0x01, 48));
	apush(a, c);
	plat_ov(&s3, 2399, a);
	expect_spec_fails(&s3, VT_E_PARSE, "platform.sw_components[0].signer_id");

	struct spec s4 = {0};
	a = cbor_new_definite_array(1);
	c = cbor_new_definite_map(2);
	mput(c, ik(2), bfill(0x01, 64));
	mput(c, ik(5), bfill(0x02, 32));
	apush(a, c);
	plat_ov(&s4, 2399, a); /* type, version and hash algo are optional */
	size_t n;
	uint8_t *t = build(&s4, &n);
	json_t *cl;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &cl, &e), VT_OK);
	assert_null(vt_json_pointer(cl, "/platform/cca-platform-sw-components/0/version"));
	json_decref(cl);
	free(t);

	struct spec s5 = {0};
	plat_ov(&s5, 2399, sw_components(VT_CCA_MAX_SW_COMPONENTS + 1));
	expect_spec_fails(&s5, VT_E_LIMIT, "platform.sw_components");

	struct spec s6 = {0};
	plat_ov(&s6, 2399, ts("not an array"));
	expect_spec_fails(&s6, VT_E_PARSE, "platform.sw_components");

	struct spec s7 = {0};
	a = cbor_new_definite_array(1);
	c = sw_component(0, 32);
	cbor_item_t *c2 = cbor_new_definite_map(6);
	struct cbor_pair *p = cbor_map_handle(c);
	for (size_t i = 0; i < cbor_map_size(c); i++) {
		int64_t k;
		assert_true(vt_cbor_int64(p[i].key, &k));
		mput(c2, ik(k), k == 6 ? ts("md5") : cbor_incref(p[i].value));
	}
	cbor_decref(&c);
	apush(a, c2);
	plat_ov(&s7, 2399, a);
	expect_spec_fails(&s7, VT_E_PARSE, "platform.sw_components[0].hash_algo");
}

static void test_realm_claim_rules(void **state)
{
	(void)state;
	struct {
		int64_t key;
		cbor_item_t *val; /* NULL = delete */
		vt_status code;
		const char *field;
	} cases[] = {
		{10, bfill(0xab, 63), VT_E_PARSE, "realm.challenge"},
		{10, ts("a text challenge"), VT_E_PARSE, "realm.challenge"},
		{10, NULL, VT_E_PARSE, "realm.challenge"},
		{44235, bfill(0x00, 32), VT_E_PARSE, "realm.personalization_value"},
		{44238, NULL, VT_E_PARSE, "realm.initial_measurement"},
		{44238, bfill(0x11, 20), VT_E_PARSE, "realm.initial_measurement"},
		{44236, ts("md5"), VT_E_PARSE, "realm.hash_algo"},
		{44240, ts("sha-1"), VT_E_PARSE, "realm.public_key_hash_algo"},
		{44240, u(1), VT_E_PARSE, "realm.public_key_hash_algo"},
		{44237, NULL, VT_E_PARSE, "realm.public_key"},
		{265, ts("tag:arm.com,2099:realm#9"), VT_E_PARSE, "realm.profile"},
		{44239, ts("four measurements"), VT_E_PARSE, "realm.extensible_measurements"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec sp = {0};
		realm_ov(&sp, cases[i].key, cases[i].val);
		expect_spec_fails(&sp, cases[i].code, cases[i].field);
	}

	struct spec s1 = {0};
	cbor_item_t *rem = cbor_new_definite_array(3);
	for (int i = 0; i < 3; i++)
		apush(rem, bfill(0x20, 32));
	realm_ov(&s1, 44239, rem);
	expect_spec_fails(&s1, VT_E_PARSE, "realm.extensible_measurements");

	struct spec s2 = {0};
	rem = cbor_new_definite_array(4);
	for (int i = 0; i < 4; i++)
		apush(rem, bfill(0x20, i == 2 ? 20 : 32));
	realm_ov(&s2, 44239, rem);
	expect_spec_fails(&s2, VT_E_PARSE, "realm.extensible_measurements[2]");

	/* A tagged byte string is not a byte string. */
	struct spec s3 = {0};
	realm_ov(&s3, 10, cbor_build_tag(24, cbor_move(bfill(0xab, 64))));
	expect_spec_fails(&s3, VT_E_PARSE, "realm.challenge");
}

static void test_rak_rules(void **state)
{
	(void)state;
	/* A realm profile wants a COSE_Key; the raw point is refused. */
	struct spec s1 = {0};
	realm_ov(&s1, 265, ts("tag:arm.com,2023:realm#1.0.0"));
	expect_spec_fails(&s1, VT_E_PARSE, "realm.public_key");

	/* No profile: the raw point; a COSE_Key is refused. */
	struct spec s2 = {0};
	size_t kn;
	cbor_item_t *k = cose_key_rak();
	uint8_t *kb = ser(k, &kn);
	cbor_decref(&k);
	realm_ov(&s2, 44237, bs(kb, kn));
	free(kb);
	expect_spec_fails(&s2, VT_E_PARSE, "realm.public_key");

	/* Not on the curve. */
	struct spec s3 = {0};
	uint8_t bad[97];
	memcpy(bad, g_rak_raw, sizeof(bad));
	bad[96] ^= 1;
	realm_ov(&s3, 44237, bs(bad, sizeof(bad)));
	expect_spec_fails(&s3, VT_E_PARSE, "realm.public_key");

	/* Compressed point. */
	struct spec s4 = {0};
	uint8_t comp[49];
	comp[0] = 0x02;
	memcpy(comp + 1, g_rak_raw + 1, 48);
	realm_ov(&s4, 44237, bs(comp, sizeof(comp)));
	expect_spec_fails(&s4, VT_E_PARSE, "realm.public_key");

	/* COSE_Key variants. */
	for (int v = 0; v < 5; v++) {
		struct spec sp = {.ffm = true};
		cbor_item_t *ck = cbor_new_definite_map(6);
		mput(ck, ik(1), ik(v == 0 ? 1 : 2));          /* v0: kty OKP */
		mput(ck, ik(-1), ik(v == 1 ? 1 : 2));         /* v1: crv P-256 with 48-byte coordinates */
		mput(ck, ik(-2), bs(g_rak_raw + 1, 48));
		mput(ck, ik(-3), v == 2 ? cbor_build_bool(true) : bs(g_rak_raw + 49, 48)); /* v2: compressed */
		if (v == 3)
			mput(ck, ik(-4), bfill(0x01, 48)); /* v3: private key */
		if (v == 4)
			mput(ck, ik(3), ik(-7)); /* v4: alg ES256 on P-384 */
		uint8_t *b = ser(ck, &kn);
		cbor_decref(&ck);
		realm_ov(&sp, 44237, bs(b, kn));
		free(b);
		expect_spec_fails(&sp, VT_E_PARSE, "realm.public_key");
	}
	/* A COSE_Key with alg ES384 and a kid is fine. */
	struct spec s5 = {.ffm = true};
	cbor_item_t *ck = cose_key_rak();
	cbor_item_t *ck2 = cbor_new_definite_map(6);
	struct cbor_pair *p = cbor_map_handle(ck);
	for (size_t i = 0; i < cbor_map_size(ck); i++)
		assert_true(cbor_map_add(ck2, p[i]));
	mput(ck2, ik(3), ik(-35));
	mput(ck2, ik(2), bs("kid", 3));
	cbor_decref(&ck);
	uint8_t *b = ser(ck2, &kn);
	cbor_decref(&ck2);
	realm_ov(&s5, 44237, bs(b, kn));
	free(b);
	size_t n;
	uint8_t *t = build(&s5, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK);
	json_decref(c);
	free(t);
}

static void test_platform_claim_rules(void **state)
{
	(void)state;
	uint8_t inst[33];
	memset(inst, 0x02, sizeof(inst));
	struct {
		int64_t key;
		cbor_item_t *val;
		vt_status code;
		const char *field;
	} cases[] = {
		{265, ts("http://arm.com/psa/2.0.0"), VT_E_PARSE, "platform.profile"},
		{265, NULL, VT_E_PARSE, "platform.profile"},
		{10, bfill(0x00, 16), VT_E_PARSE, "platform.challenge"},
		{2396, bfill(0x7f, 31), VT_E_PARSE, "platform.implementation_id"},
		{256, bfill(0x01, 32), VT_E_PARSE, "platform.instance_id"},
		{256, bs(inst, sizeof(inst)), VT_E_PARSE, "platform.instance_id"}, /* UEID type 0x02 */
		{2401, NULL, VT_E_PARSE, "platform.config"},
		{2401, bfill(0x00, 1), VT_OK, NULL},
		{2395, u(0x7000), VT_E_PARSE, "platform.lifecycle"},
		{2395, u(0x0100), VT_E_PARSE, "platform.lifecycle"},
		{2395, ik(-1), VT_E_PARSE, "platform.lifecycle"},
		{2395, u(0x60ff), VT_OK, NULL},
		{2402, NULL, VT_E_PARSE, "platform.hash_algo"},
		{2402, ts("sha3-256"), VT_E_PARSE, "platform.hash_algo"},
		{2400, NULL, VT_OK, NULL}, /* verification service is optional */
		{2400, u(5), VT_E_PARSE, "platform.verification_service"},
		{2400, bs("\xff\xfe", 2), VT_E_PARSE, "platform.verification_service"},
		/* libcbor itself refuses ill-formed UTF-8 while decoding the claim set */
		{2400, cbor_build_stringn("\xc3\x28", 2), VT_E_PARSE, "platform.claims"},
		{2400, cbor_build_stringn("a\0b", 3), VT_E_PARSE, "platform.verification_service"},
		{2400, ts("https://v\xc3\xa9rifier.example/\xe2\x9c\x93"), VT_OK, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec sp = {0};
		plat_ov(&sp, cases[i].key, cases[i].val);
		size_t n;
		uint8_t *t = build(&sp, &n);
		if (cases[i].code == VT_OK) {
			json_t *c;
			struct vt_err e;
			if (verify(t, n, g_cpak, NULL, 0, &c, &e) != VT_OK)
				fail_msg("case %zu: %s %s: %s", i, vt_step_name(e.step), e.field, e.detail);
			json_decref(c);
		} else {
			expect_fail(t, n, g_cpak, cases[i].code, VT_STEP_PARSE, cases[i].field);
		}
		free(t);
	}

	/* The FFM platform profile needs a profiled realm token. */
	struct spec sp = {0};
	plat_ov(&sp, 265, ts("tag:arm.com,2023:cca_platform#1.0.0"));
	expect_spec_fails(&sp, VT_E_PARSE, "realm.profile");
	/* The legacy platform profile with an FFM realm (Veraison's cca-good) is fine. */
	struct spec s2 = {.ffm = true};
	plat_ov(&s2, 265, ts("http://arm.com/CCA-SSD/1.0.0"));
	size_t n;
	uint8_t *t = build(&s2, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK);
	json_decref(c);
	free(t);
}

/* ------------------------------------------------------------ structure */

static void test_structure_rules(void **state)
{
	(void)state;
	struct spec sp = {0};
	cbor_item_t *rc = realm_claims(&sp), *pc = platform_claims(&sp, rc);
	size_t rn, pn, n;
	uint8_t *r = sign1(rc, g_rak, true, false, &rn), *p = sign1(pc, g_cpak, true, false, &pn);

	/* Another tag, no tag. */
	cbor_item_t *m = cbor_new_definite_map(2);
	mput(m, ik(44234), bs(p, pn));
	mput(m, ik(44241), bs(r, rn));
	uint8_t *t = ser(m, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "token");
	free(t);
	cbor_item_t *tagged = cbor_build_tag(398, m); /* takes its own reference */
	t = ser(tagged, &n);
	cbor_decref(&tagged);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "token");
	free(t);

	/* A third key; a missing realm token; values of the wrong type. */
	cbor_item_t *m3 = cbor_new_definite_map(3);
	mput(m3, ik(44234), bs(p, pn));
	mput(m3, ik(44241), bs(r, rn));
	mput(m3, ik(44242), bs(r, rn));
	tagged = cbor_build_tag(399, cbor_move(m3));
	t = ser(tagged, &n);
	cbor_decref(&tagged);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "token");
	free(t);
	cbor_item_t *m1 = cbor_new_definite_map(2);
	mput(m1, ik(44234), bs(p, pn));
	mput(m1, ik(44240), bs(r, rn));
	tagged = cbor_build_tag(399, cbor_move(m1));
	t = ser(tagged, &n);
	cbor_decref(&tagged);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "token");
	free(t);
	cbor_item_t *m2 = cbor_new_definite_map(2);
	mput(m2, ik(44234), bs(p, pn));
	mput(m2, ik(44241), ts("realm"));
	tagged = cbor_build_tag(399, cbor_move(m2));
	t = ser(tagged, &n);
	cbor_decref(&tagged);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm");
	free(t);
	cbor_decref(&m);

	/* Trailing bytes, truncation, empty, too large. */
	t = collection(p, pn, r, rn, &n);
	uint8_t *t2 = malloc(n + 1);
	memcpy(t2, t, n);
	t2[n] = 0x00;
	expect_fail(t2, n + 1, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "token");
	free(t2);
	for (size_t k = 0; k < n; k++) {
		json_t *c;
		struct vt_err e;
		assert_int_not_equal(verify(t, k, g_cpak, NULL, 0, &c, &e), VT_OK);
	}
	expect_fail(NULL, 0, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "token");
	uint8_t *huge = calloc(1, VT_CCA_TOKEN_MAX + 1);
	memcpy(huge, t, n);
	expect_fail(huge, VT_CCA_TOKEN_MAX + 1, g_cpak, VT_E_LIMIT, VT_STEP_PARSE, "token");
	free(huge);
	free(t);

	/* COSE: untagged, detached payload, a wrapped realm token that is not COSE. */
	struct spec s2 = {.untagged_realm = true};
	t = build(&s2, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm");
	free(t);
	struct spec s3 = {.detached_realm = true};
	t = build(&s3, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm");
	free(t);
	t = collection(p, pn, (const uint8_t *)"\xa0", 1, &n);
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_E_PARSE);
	assert_non_null(strstr(e.field, "realm"));
	free(t);
	/* Tag 18 twice (0xd2 then 0xd8 0x12). */
	uint8_t *r2 = malloc(rn + 2);
	r2[0] = 0xd2;
	r2[1] = 0xd8;
	r2[2] = 0x12;
	memcpy(r2 + 3, r + 1, rn - 1);
	t = collection(p, pn, r2, rn + 2, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm");
	free(t);
	/* Tag 18 in its two-byte form is the same tag. */
	r2[0] = 0xd8;
	r2[1] = 0x12;
	memcpy(r2 + 2, r + 1, rn - 1);
	t = collection(p, pn, r2, rn + 1, &n);
	assert_int_equal(verify(t, n, g_cpak, NULL, 0, &c, &e), VT_OK);
	json_decref(c);
	free(t);
	free(r2);

	cbor_decref(&rc);
	cbor_decref(&pc);
	free(r);
	free(p);
}

/* Claim sets with the CBOR the profile forbids, signed (so only the parser objects). */
static void test_claims_encoding_rules(void **state)
{
	(void)state;
	struct spec sp = {0};
	cbor_item_t *rc = realm_claims(&sp), *pc = platform_claims(&sp, rc);
	size_t rn, pn, n;
	uint8_t *p = sign1(pc, g_cpak, true, false, &pn);

	/* Indefinite-length realm claims map. */
	cbor_item_t *ind = cbor_new_indefinite_map();
	struct cbor_pair *pairs = cbor_map_handle(rc);
	for (size_t i = 0; i < cbor_map_size(rc); i++)
		assert_true(cbor_map_add(ind, pairs[i]));
	uint8_t *r = sign1(ind, g_rak, true, false, &rn);
	uint8_t *t = collection(p, pn, r, rn, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm.claims");
	free(t);
	free(r);
	cbor_decref(&ind);

	/* Duplicate claim key (two challenges). */
	cbor_item_t *dup = cbor_new_definite_map(32);
	for (size_t i = 0; i < cbor_map_size(rc); i++)
		assert_true(cbor_map_add(dup, pairs[i]));
	mput(dup, ik(10), bfill(0xcd, 64));
	r = sign1(dup, g_rak, true, false, &rn);
	t = collection(p, pn, r, rn, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm.claims");
	free(t);
	free(r);
	cbor_decref(&dup);

	/* Indefinite-length byte string for the challenge. */
	cbor_item_t *chunks = cbor_new_indefinite_bytestring();
	assert_true(cbor_bytestring_add_chunk(chunks, cbor_move(bfill(0xab, 32))));
	assert_true(cbor_bytestring_add_chunk(chunks, cbor_move(bfill(0xab, 32))));
	cbor_item_t *ib = cbor_new_definite_map(32);
	for (size_t i = 0; i < cbor_map_size(rc); i++) {
		int64_t k;
		assert_true(vt_cbor_int64(pairs[i].key, &k));
		if (k != 10)
			assert_true(cbor_map_add(ib, pairs[i]));
	}
	mput(ib, ik(10), chunks);
	r = sign1(ib, g_rak, true, false, &rn);
	t = collection(p, pn, r, rn, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm.claims");
	free(t);
	free(r);
	cbor_decref(&ib);

	/* Deep nesting inside an unknown claim. */
	cbor_item_t *deep = cbor_new_definite_map(32);
	for (size_t i = 0; i < cbor_map_size(rc); i++)
		assert_true(cbor_map_add(deep, pairs[i]));
	cbor_item_t *inner = u(1);
	for (int i = 0; i < 40; i++) {
		cbor_item_t *a = cbor_new_definite_array(1);
		apush(a, inner);
		inner = a;
	}
	mput(deep, ik(77777), inner);
	r = sign1(deep, g_rak, true, false, &rn);
	t = collection(p, pn, r, rn, &n);
	expect_fail(t, n, g_cpak, VT_E_LIMIT, VT_STEP_PARSE, "realm.claims");
	free(t);
	free(r);
	cbor_decref(&deep);

	/* Too many claims in a claim set. */
	cbor_item_t *many = cbor_new_definite_map(32 + VT_CCA_MAX_CLAIMS);
	for (size_t i = 0; i < cbor_map_size(rc); i++)
		assert_true(cbor_map_add(many, pairs[i]));
	for (int i = 0; i < VT_CCA_MAX_CLAIMS; i++)
		mput(many, ik(100000 + i), u(0));
	r = sign1(many, g_rak, true, false, &rn);
	t = collection(p, pn, r, rn, &n);
	expect_fail(t, n, g_cpak, VT_E_LIMIT, VT_STEP_PARSE, "realm.claims");
	free(t);
	free(r);
	cbor_decref(&many);

	/* Realm claims that are not a map. */
	cbor_item_t *arr = cbor_new_definite_array(1);
	apush(arr, u(1));
	r = sign1(arr, g_rak, true, false, &rn);
	t = collection(p, pn, r, rn, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm.claims");
	free(t);
	free(r);
	cbor_decref(&arr);

	cbor_decref(&rc);
	cbor_decref(&pc);
	free(p);
}

/* Hand-written heads declaring lengths far beyond the bytes present. */
static void test_huge_declared_lengths(void **state)
{
	(void)state;
	static const uint8_t bstr4g[] = {0xd9, 0x01, 0x8f, 0xa2, 0x19, 0xac, 0xca, 0x5b, 0, 0, 0, 1, 0, 0, 0, 0, 0x00};
	static const uint8_t map4g[] = {0xd9, 0x01, 0x8f, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x00};
	static const uint8_t arr2g[] = {0xd9, 0x01, 0x8f, 0x9a, 0x80, 0, 0, 0, 0x00, 0x00};
	static const uint8_t tstr64[] = {0xd9, 0x01, 0x8f, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t indef[] = {0xd9, 0x01, 0x8f, 0xbf, 0x19, 0xac, 0xca, 0x41, 0x00, 0xff};
	static const uint8_t tag_only[] = {0xd9, 0x01, 0x8f};
	const struct {
		const uint8_t *p;
		size_t n;
	} cases[] = {
		{bstr4g, sizeof(bstr4g)}, {map4g, sizeof(map4g)}, {arr2g, sizeof(arr2g)},
		{tstr64, sizeof(tstr64)}, {indef, sizeof(indef)}, {tag_only, sizeof(tag_only)},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *c;
		struct vt_err e;
		vt_status rc = verify(cases[i].p, cases[i].n, g_cpak, NULL, 0, &c, &e);
		assert_true(rc == VT_E_PARSE || rc == VT_E_LIMIT);
		assert_int_equal(e.step, VT_STEP_PARSE);
		assert_string_equal(e.field, "token");
	}

	/* Inside a signed realm token: an array declaring 2^32 elements. */
	uint8_t payload[] = {0xa1, 0x0a, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0x00};
	uint8_t prot[] = {0xa1, 0x01, 0x38, 0x22};
	uint8_t cose[64] = {0xd2, 0x84, 0x44};
	size_t k = 3;
	memcpy(cose + k, prot, sizeof(prot));
	k += sizeof(prot);
	cose[k++] = 0xa0;
	cose[k++] = (uint8_t)(0x40 + sizeof(payload));
	memcpy(cose + k, payload, sizeof(payload));
	k += sizeof(payload);
	cose[k++] = 0x41;
	cose[k++] = 0x00;
	size_t n;
	uint8_t *t = collection(cose, k, cose, k, &n);
	expect_fail(t, n, g_cpak, VT_E_PARSE, VT_STEP_PARSE, "realm.claims");
	free(t);
}

/* ------------------------------------------------------------ recorded tokens */

static uint8_t *read_vec(const char *name, size_t *n)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", g_vec, name);
	uint8_t *b = NULL;
	struct vt_err e = {0};
	if (vt_file_read(p, 1 << 20, &b, n, &e) != VT_OK)
		fail_msg("cannot read %s: %s", p, e.detail);
	return b;
}

static EVP_PKEY *vec_cpak(const char *name)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", g_vec, name);
	EVP_PKEY *k = NULL;
	struct vt_err e = {0};
	if (vt_cca_cpak_load(p, &k, &e) != VT_OK)
		fail_msg("cannot load CPAK %s: %s", p, e.detail);
	return k;
}

#define SKIP_WITHOUT_VECTORS()                                                                 \
	do {                                                                                   \
		if (g_vec == NULL) {                                                           \
			fprintf(stderr, "# skipped: no shared vectors (cca/)\n");               \
			skip();                                                                \
		}                                                                              \
	} while (0)

static json_t *verify_vec(const char *token, const char *cpak)
{
	size_t n;
	uint8_t *t = read_vec(token, &n);
	EVP_PKEY *k = vec_cpak(cpak);
	json_t *c;
	struct vt_err e;
	if (verify(t, n, k, NULL, 0, &c, &e) != VT_OK)
		fail_msg("%s with %s: %s/%s %s: %s", token, cpak, vt_status_name(e.code), vt_step_name(e.step), e.field,
			 e.detail);
	/* The realm challenge as binding (all 64 bytes) verifies too. */
	char *rd = claim_str(c, "/report_data");
	uint8_t ch[64];
	assert_int_equal(vt_hex_decode_fixed(rd, ch, sizeof(ch), &e), VT_OK);
	json_t *c2;
	assert_int_equal(verify(t, n, k, ch, sizeof(ch), &c2, &e), VT_OK);
	json_decref(c2);
	ch[63] ^= 1;
	assert_int_equal(verify(t, n, k, ch, sizeof(ch), &c2, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(e.field, "realm.challenge");
	free(rd);
	EVP_PKEY_free(k);
	free(t);
	return c;
}

static const char TFM_IMPL_ID[] = "7f454c4602010100000000000000000003003e00010000005058000000000000";
static const char TFM_INST_ID[] = "0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918";

static void test_vector_trustee_fvp(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	json_t *c = verify_vec("trustee_cca_token_fvp_testkeys.cbor", "trustee_cca_cpak_pub.json");
	assert_claim_str(c, "/platform/cca-platform-profile", "http://arm.com/CCA-SSD/1.0.0");
	assert_claim_hex(c, "/platform/cca-platform-implementation-id", TFM_IMPL_ID);
	assert_claim_hex(c, "/platform/cca-platform-instance-id", TFM_INST_ID);
	assert_claim_hex(c, "/platform/cca-platform-challenge",
			 "b5973cb68baa9fc55558786b7ec67f69e40df5ba5aa921cd0c27f40587a011ea");
	assert_claim_hex(c, "/platform/cca-platform-config", "cfcfcfcf");
	assert_int_equal(claim_int(c, "/platform/cca-platform-lifecycle"), 0x3003);
	assert_claim_str(c, "/platform/cca-platform-lifecycle-state", "secured");
	assert_claim_str(c, "/platform/cca-platform-hash-algo-id", "sha-256");
	assert_claim_str(c, "/platform/cca-platform-service-indicator",
			 "https://veraison.example/.well-known/veraison/verification");
	assert_int_equal(json_array_size(vt_json_pointer(c, "/platform/cca-platform-sw-components")), 13);
	assert_claim_str(c, "/platform/cca-platform-sw-components/0/measurement-type", "RSE_BL1_2");
	assert_claim_str(c, "/platform/cca-platform-sw-components/8/measurement-type", "RMM");
	assert_null(vt_json_pointer(c, "/platform/cca-platform-sw-components/0/version"));
	assert_null(vt_json_pointer(c, "/realm/cca-realm-profile"));
	assert_claim_str(c, "/report_data",
			 "57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252"
			 "f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96");
	assert_claim_hex(c, "/realm/cca-realm-initial-measurement",
			 "ae87fbf7f105e71a7827cb6f0896889c73d2beaf4830d4f9cb05e3e96c3fc7b4"
			 "faa04caf36a26bd094cf9c7b738617e4c189aaee184dedda5d7a03c39dbdac7c");
	/* Trustee's reference value for this RIM, as its endorse-rim script gives it. */
	assert_claim_str(c, "/realm/cca-realm-initial-measurement",
			 "rof79/EF5xp4J8tvCJaInHPSvq9IMNT5ywXj6Ww/x7T6oEyvNqJr0JTPnHtzhhfkwYmq7hhN7dpdegPDnb2sfA==");
	assert_claim_str(c, "/realm/cca-realm-hash-algo-id", "sha-512");
	assert_claim_str(c, "/realm/cca-realm-public-key-hash-algo-id", "sha-256");
	char zero[129];
	memset(zero, '0', 128);
	zero[128] = '\0';
	assert_claim_str(c, "/init_data", zero);
	assert_claim_hex(c, "/realm/cca-realm-extensible-measurements/3", zero);
	json_decref(c);
}

static void test_vector_draft_ffm(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	json_t *c = verify_vec("rust-ccatoken_draft_ffm_00.cbor", "trustee_cca_cpak_pub.json");
	assert_claim_str(c, "/platform/cca-platform-profile", "tag:arm.com,2023:cca_platform#1.0.0");
	assert_claim_str(c, "/realm/cca-realm-profile", "tag:arm.com,2023:realm#1.0.0");
	assert_claim_hex(c, "/platform/cca-platform-challenge",
			 "0d22e08a98469058486318283489bdb36f09dbefeb1864df433fa6e54ea2d711");
	assert_claim_hex(c, "/realm/cca-realm-initial-measurement",
			 "311314ab73620350cf758834ae5c65d9e8c2dc7febe6e7d9654bbe864e300d49");
	assert_claim_hex(c, "/realm/cca-realm-extensible-measurements/0",
			 "24d5b0a296cc05cbd8068c5067c5bd473b770dda6ae082fe3ba30abe3f9a6ab1");
	assert_claim_hex(c, "/realm/cca-realm-extensible-measurements/3",
			 "32c6afc627e55585c03155359f331a0e225f6840db947dd96efab81be2671939");
	assert_claim_str(c, "/report_data",
			 "6e86d6d97cc713bc6dd43dbce491a6b40311c027a8bf85a39da63e9ce44c132a"
			 "8a119d296fae6a6999e9bf3e4471b0ce01245d889424c31e89793b3b1d6b1504");
	char *rak = claim_hex(c, "/realm/cca-realm-public-key");
	assert_int_equal(strlen(rak), 2 * 107); /* COSE_Key */
	free(rak);
	assert_int_equal(claim_int(c, "/platform/cca-platform-lifecycle"), 0x3003);
	json_decref(c);
}

static void test_vector_tfm_legacy(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	json_t *c = verify_vec("tfm_cca_token_legacy_profile.cbor", "tfm_cca_platform_pub.pem");
	assert_claim_hex(c, "/platform/cca-platform-implementation-id", TFM_IMPL_ID);
	assert_claim_str(c, "/platform/cca-platform-service-indicator", "whatever.com");
	assert_claim_str(c, "/platform/cca-platform-sw-components/0/measurement-type", "BL");
	assert_claim_str(c, "/platform/cca-platform-sw-components/0/version", "3.4.2");
	assert_claim_str(c, "/platform/cca-platform-sw-components/3/version", "1");
	char ab[129];
	for (int i = 0; i < 128; i += 2)
		memcpy(ab + i, "ab", 2);
	ab[128] = '\0';
	assert_claim_str(c, "/report_data", ab);
	assert_claim_hex(c, "/realm/cca-realm-initial-measurement",
			 "0000000000000000000000000000000000000000000000000000000000000000");
	/* "The quick brown fox jumps over 13 lazy dogs.The quick brown fox " */
	assert_claim_str(c, "/init_data",
			 "54686520717569636b2062726f776e20666f78206a756d7073206f766572203133206c617a7920646f67732e"
			 "54686520717569636b2062726f776e20666f7820");
	json_decref(c);
}

static void test_vector_token_02_p256(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	json_t *c = verify_vec("rust-ccatoken_token_02_p256.cbor", "rust-ccatoken_ta_02_ok.json");
	assert_claim_hex(c, "/platform/cca-platform-challenge",
			 "05e6b58844c6a0cd19382069bafdb0e494662a3adcf8fde11478e933951af179"
			 "0ff5de5c78e3db1123da0a207a8b66556e0a22f19ee64bdc2f89953b6b32555f");
	assert_claim_str(c, "/realm/cca-realm-public-key-hash-algo-id", "sha-512");
	assert_int_equal(claim_int(c, "/platform/cca-platform-lifecycle"), 0x3000);
	assert_claim_hex(c, "/platform/cca-platform-instance-id",
			 "010202020202020202020202020202020202020202020202020202020202020202");
	assert_null(vt_json_pointer(c, "/platform/cca-platform-sw-components/0/measurement-type"));
	json_decref(c);

	/*
	 * The "bad" anchor: its x is not a point of P-256 with that y, so the
	 * key is refused when loaded (the README allows this outcome).  The
	 * platform signature step itself is shown with a valid P-256 key that
	 * is not the CPAK.
	 */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/NEGATIVE_rust-ccatoken_ta_02_bad.json", g_vec);
	EVP_PKEY *bad = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_cca_cpak_load(p, &bad, &e), VT_E_PARSE);
	assert_err(&e, VT_E_PARSE, VT_STEP_CONFIG);
	assert_string_equal(e.field, "cpak");
	assert_null(bad);
	size_t n;
	uint8_t *t = read_vec("rust-ccatoken_token_02_p256.cbor", &n);
	expect_fail(t, n, g_cpak256, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform");
	free(t);
}

static void test_vector_veraison_good(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	json_t *c = verify_vec("veraison_services_cca_good.cbor", "veraison_services_cca_cpak_p256.jwk");
	assert_claim_str(c, "/realm/cca-realm-profile", "tag:arm.com,2023:realm#1.0.0");
	assert_claim_str(c, "/platform/cca-platform-profile", "http://arm.com/CCA-SSD/1.0.0");
	assert_claim_hex(c, "/platform/cca-platform-implementation-id",
			 "0000000000000000000000000000000000000000000000000000000000000000");
	assert_claim_hex(c, "/platform/cca-platform-config", "010203");
	assert_int_equal(claim_int(c, "/platform/cca-platform-lifecycle"), 0x3000);
	assert_claim_str(c, "/platform/cca-platform-sw-components/1/measurement-type", "M1");
	assert_claim_str(c, "/platform/cca-platform-sw-components/1/version", "1.2.0");
	assert_claim_hex(c, "/platform/cca-platform-sw-components/3/measurement-value",
			 "13060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918");
	assert_claim_hex(c, "/realm/cca-realm-initial-measurement",
			 "43434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343"
			 "434343434343434343434343434343434343");
	json_decref(c);
}

static void test_vector_bug33_unbound(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	size_t n;
	uint8_t *t = read_vec("NEGATIVE_rust-ccatoken_bug33_unbound_platform_challenge.cbor", &n);
	EVP_PKEY *k = vec_cpak("trustee_cca_cpak_pub.json");
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, k, NULL, 0, &c, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING); /* both signatures passed */
	assert_string_equal(e.field, "platform.challenge");
	assert_non_null(strstr(e.detail, "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"));
	EVP_PKEY_free(k);
	free(t);
}

/* A token's CPAK is not another token's. */
static void test_vector_cross_keys(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	size_t n;
	uint8_t *t = read_vec("tfm_cca_token_legacy_profile.cbor", &n);
	EVP_PKEY *k = vec_cpak("veraison_services_cca_cpak_p256.jwk");
	expect_fail(t, n, k, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform");
	EVP_PKEY_free(k);
	expect_fail(t, n, g_cpak, VT_E_REJECTED, VT_STEP_SIGNATURE, "platform");
	free(t);
}

/* Where a view returned by the COSE parser sits inside `outer`. */
static size_t find(const uint8_t *outer, size_t on, const uint8_t *inner, size_t in)
{
	const uint8_t *p = memmem(outer, on, inner, in);
	assert_non_null(p);
	return (size_t)(p - outer);
}

struct region {
	size_t off, len;
};

/* The signed bytes of one COSE_Sign1 wrapped in the token: protected header and payload. */
static void signed_regions(const uint8_t *tok, size_t n, int64_t key, struct region out[2])
{
	struct vt_err e = {0};
	cbor_item_t *item = NULL;
	assert_int_equal(vt_cbor_decode(tok, n, 4, "token", &item, &e), VT_OK);
	cbor_item_t *m = cbor_tag_item(item);
	const cbor_item_t *b = vt_cbor_map_get_int(m, key);
	assert_non_null(b);
	size_t bn = cbor_bytestring_length(b);
	size_t boff = find(tok, n, cbor_bytestring_handle(b), bn);
	struct vt_cose_sign1 s;
	assert_int_equal(tok[boff], 0xd2);
	assert_int_equal(vt_cose_sign1_parse(tok + boff + 1, bn - 1, &s, &e), VT_OK);
	out[0].off = boff + find(tok + boff, bn, s.protected_bstr, s.protected_len);
	out[0].len = s.protected_len;
	out[1].off = boff + find(tok + boff, bn, s.payload, s.payload_len);
	out[1].len = s.payload_len;
	assert_true(out[0].off + out[0].len < out[1].off);
	vt_cose_sign1_free(&s);
	cbor_decref(&m);
	cbor_decref(&item);
}

/* Every one-byte change in the signed regions of a real token fails; none crashes. */
static void test_vector_flips(void **state)
{
	(void)state;
	SKIP_WITHOUT_VECTORS();
	size_t n;
	uint8_t *t = read_vec("trustee_cca_token_fvp_testkeys.cbor", &n);
	EVP_PKEY *k = vec_cpak("trustee_cca_cpak_pub.json");
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, k, NULL, 0, &c, &e), VT_OK);
	json_decref(c);

	struct region r[4];
	signed_regions(t, n, 44241, r);
	signed_regions(t, n, 44234, r + 2);
	size_t tried = 0, by_step[VT_STEP_IO + 1] = {0};
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	for (size_t ri = 0; ri < 4; ri++) {
		for (size_t i = r[ri].off; i < r[ri].off + r[ri].len; i++) {
			for (size_t m = 0; m < sizeof(masks); m++) {
				t[i] ^= masks[m];
				vt_status rc = verify(t, n, k, NULL, 0, &c, &e);
				t[i] ^= masks[m];
				if (rc == VT_OK)
					fail_msg("byte %zu ^ 0x%02x of region %zu still verifies", i, masks[m], ri);
				by_step[e.step]++;
				tried++;
			}
		}
	}
	/* Realm flips fail at the realm signature (or parse); platform flips at the platform's. */
	assert_true(tried > 3 * 1000);
	assert_true(by_step[VT_STEP_SIGNATURE] > 0);
	fprintf(stderr, "# %zu one-byte changes in signed regions: %zu parse, %zu signature, %zu binding\n", tried,
		by_step[VT_STEP_PARSE], by_step[VT_STEP_SIGNATURE], by_step[VT_STEP_BINDING]);

	/* And everywhere else: nothing verifies, nothing crashes. */
	for (size_t i = 0; i < n; i++) {
		t[i] ^= 0x01;
		if (verify(t, n, k, NULL, 0, &c, &e) == VT_OK)
			fail_msg("byte %zu ^ 0x01 still verifies", i);
		t[i] ^= 0x01;
	}
	EVP_PKEY_free(k);
	free(t);
}

/* ------------------------------------------------------------ evidence, descriptor */

static void test_evidence_json(void **state)
{
	(void)state;
	struct spec sp = {0};
	size_t n;
	uint8_t *t = build(&sp, &n);
	struct vt_err e = {0};
	json_t *ev = NULL;
	assert_int_equal(vt_cca_evidence_from_token(t, n, &ev, &e), VT_OK);
	json_t *arr = json_object_get(ev, "token");
	assert_int_equal(json_array_size(arr), n);
	assert_int_equal(json_integer_value(json_array_get(arr, 0)), 0xd9);
	assert_int_equal(json_object_size(ev), 1);

	/* load_file: the raw token, and the JSON itself, give the same evidence. */
	json_t *ev2 = NULL;
	assert_int_equal(vt_tee_cca.load_file(t, n, &ev2, &e), VT_OK);
	assert_true(json_equal(ev, ev2));
	json_decref(ev2);
	char *text = json_dumps(ev, JSON_COMPACT);
	assert_int_equal(vt_tee_cca.load_file((const uint8_t *)text, strlen(text), &ev2, &e), VT_OK);
	assert_true(json_equal(ev, ev2));
	json_decref(ev2);
	free(text);
	vt_err_clear(&e);
	assert_int_equal(vt_tee_cca.load_file((const uint8_t *)"garbage", 7, &ev2, &e), VT_E_PARSE);

	/* The descriptor parses, then refuses: no CPAK reaches it yet. */
	struct vt_verify_ctx ctx = {.now = 0};
	struct vt_binding b = {.report_data = DEFAULT_CHALLENGE, .report_data_size = 64};
	json_t *claims = NULL;
	vt_err_clear(&e);
	assert_int_equal(vt_tee_cca.verify(&ctx, ev, &b, &claims, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_non_null(strstr(e.detail, "no CPAK configured"));
	assert_null(claims);
	assert_string_equal(vt_tee_cca.name, "cca");
	assert_false(vt_tee_cca.insecure);

	/* base64 form */
	char *b64 = vt_b64_encode(t, n);
	json_t *ev3 = json_pack("{s:s}", "token", b64);
	vt_err_clear(&e);
	assert_int_equal(vt_tee_cca.verify(&ctx, ev3, &b, &claims, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "no CPAK configured"));
	json_decref(ev3);
	free(b64);

	/* A malformed token inside well-formed evidence is a parse error first. */
	json_array_set_new(arr, 0, json_integer(0xd8));
	vt_err_clear(&e);
	assert_int_equal(vt_tee_cca.verify(&ctx, ev, &b, &claims, &e), VT_E_PARSE);
	assert_string_equal(e.field, "token");

	const char *bad[] = {
		"[1,2,3]",
		"{\"token\":[217,1,143],\"extra\":1}",
		"{}",
		"{\"token\":[]}",
		"{\"token\":[256]}",
		"{\"token\":[-1]}",
		"{\"token\":[1.5]}",
		"{\"token\":[\"a\"]}",
		"{\"token\":\"not base64!\"}",
		"{\"token\":{\"a\":1}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		vt_err_clear(&e);
		vt_status rc = vt_tee_cca.verify(&ctx, j, &b, &claims, &e);
		if (rc != VT_E_PARSE && rc != VT_E_LIMIT)
			fail_msg("%s: %s (%s)", bad[i], vt_status_name(rc), e.detail);
		assert_int_equal(e.step, VT_STEP_PARSE);
		assert_null(claims);
		json_decref(j);
	}
	json_decref(ev);
	free(t);
}

/* ------------------------------------------------------------ CPAK files */

static void test_cpak_files(void **state)
{
	(void)state;
	struct vt_err e = {0};
	EVP_PKEY *k = NULL;
	char *pem = vt_key_public_pem(g_cpak);
	assert_int_equal(vt_cca_cpak_from_bytes((const uint8_t *)pem, strlen(pem), &k, &e), VT_OK);
	assert_int_equal(EVP_PKEY_eq(k, g_cpak), 1);
	EVP_PKEY_free(k);
	free(pem);

	json_t *jwk = vt_key_to_jwk(g_cpak256, NULL, false);
	char *js = json_dumps(jwk, JSON_COMPACT);
	assert_int_equal(vt_cca_cpak_from_bytes((const uint8_t *)js, strlen(js), &k, &e), VT_OK);
	assert_int_equal(EVP_PKEY_eq(k, g_cpak256), 1);
	EVP_PKEY_free(k);
	free(js);

	/* Trust-anchor store, one entry (rust-ccatoken / Trustee tastore.json). */
	json_t *store = json_pack("[{s:O, s:s, s:s}]", "pkey", jwk, "implementation-id", "00", "instance-id", "01");
	js = json_dumps(store, JSON_COMPACT);
	assert_int_equal(vt_cca_cpak_from_bytes((const uint8_t *)js, strlen(js), &k, &e), VT_OK);
	assert_int_equal(EVP_PKEY_eq(k, g_cpak256), 1);
	EVP_PKEY_free(k);
	free(js);
	json_array_append(store, json_array_get(store, 0));
	js = json_dumps(store, JSON_COMPACT);
	k = NULL;
	vt_err_clear(&e);
	assert_int_equal(vt_cca_cpak_from_bytes((const uint8_t *)js, strlen(js), &k, &e), VT_E_USAGE);
	assert_null(k);
	free(js);
	json_decref(store);
	json_decref(jwk);

	const char *bad[] = {"", "not a key", "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", "[]",
			     "[{\"pkey\":1}]", "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}",
			     "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vt_err_clear(&e);
		vt_status rc = vt_cca_cpak_from_bytes((const uint8_t *)bad[i], strlen(bad[i]), &k, &e);
		if (rc == VT_OK)
			fail_msg("CPAK \"%s\" accepted", bad[i]);
		assert_int_equal(e.step, VT_STEP_CONFIG);
		assert_string_equal(e.field, "cpak");
	}

	/* An RSA public key is no CPAK. */
	EVP_PKEY *rsa = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_RSA2048, &rsa, &e), VT_OK);
	pem = vt_key_public_pem(rsa);
	vt_err_clear(&e);
	assert_int_equal(vt_cca_cpak_from_bytes((const uint8_t *)pem, strlen(pem), &k, &e), VT_E_PARSE);
	free(pem);
	EVP_PKEY_free(rsa);

	vt_err_clear(&e);
	assert_int_not_equal(vt_cca_cpak_load("/nonexistent/cpak.pem", &k, &e), VT_OK);
}

/* ------------------------------------------------------------ attester */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void path_in(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

static void put_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	path_in(path, dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_true(n == 0 || write(fd, p, n) == (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static size_t file_size(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	path_in(path, dir, name);
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static size_t dir_entries(const char *dir, char *first, size_t first_size)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == 0 && first)
			snprintf(first, first_size, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

enum outblob_kind { OUT_TOKEN, OUT_OTHER_CHALLENGE, OUT_GARBAGE, OUT_EMPTY };

struct scenario {
	const char *provider;
	unsigned gen_bump;
	enum outblob_kind out;
};

struct outcome {
	vt_status rc;
	char field[64];
	char detail[512];
	json_t *evidence;
	uint8_t inblob[128];
	size_t inblob_size;
	bool entry_seen;
	size_t left_in_root;
};

static void run(const struct scenario *sc, const uint8_t report_data[64], struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	char root[PATH_MAX], result[PATH_MAX];
	static unsigned seq;
	snprintf(root, sizeof(root), "%s/report%u", g_tmp, seq);
	snprintf(result, sizeof(result), "%s/result%u.json", g_tmp, seq++);
	assert_int_equal(mkdir(root, 0700), 0);

	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[1]);
		snprintf(g_root, sizeof(g_root), "%s", root);
		g_ready_fd = ready[0];
		struct vt_cca_attest_paths paths = {.configfs_root = root};
		struct vt_err e;
		vt_err_clear(&e);
		json_t *ev = NULL;
		vt_status rc = vt_cca_attest_evidence(&paths, report_data, &ev, &e);
		json_t *res = json_pack("{s:i, s:s, s:s, s:o}", "rc", (int)rc, "field", e.field, "detail", e.detail,
					"evidence", ev ? ev : json_null());
		int ok = res && json_dump_file(res, result, JSON_COMPACT) == 0;
		json_decref(res);
		_exit(ok ? 0 : 3);
	}
	close(ready[0]);

	char name[NAME_MAX + 1] = "", entry[PATH_MAX];
	int status = 0;
	bool exited = false;
	for (int t = 0; t < 10000 && dir_entries(root, name, sizeof(name)) == 0; t++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			break;
		}
		sleep_ms(1);
	}
	if (!exited && name[0] != '\0') {
		o->entry_seen = true;
		path_in(entry, root, name);
		put_file(entry, "provider", sc->provider, strlen(sc->provider));
		put_file(entry, "generation", "3\n", 2);
		put_file(entry, "inblob", "", 0);
		char fifo[PATH_MAX];
		path_in(fifo, entry, "outblob");
		assert_int_equal(mkfifo(fifo, 0600), 0);
		assert_int_equal(write(ready[1], "x", 1), 1);

		for (int t = 0; t < 10000 && file_size(entry, "inblob") < 64; t++) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				exited = true;
				break;
			}
			sleep_ms(1);
		}
		if (!exited) {
			char path[PATH_MAX];
			path_in(path, entry, "inblob");
			FILE *f = fopen(path, "rb");
			assert_non_null(f);
			o->inblob_size = fread(o->inblob, 1, sizeof(o->inblob), f);
			fclose(f);
			char g[32];
			int gl = snprintf(g, sizeof(g), "%u\n", 3 + sc->gen_bump);
			put_file(entry, "generation", g, (size_t)gl);

			/* The "RMM": a token whose realm challenge is what inblob holds. */
			uint8_t *tok = NULL;
			size_t tn = 0;
			if (sc->out == OUT_TOKEN || sc->out == OUT_OTHER_CHALLENGE) {
				struct spec sp = {.challenge = sc->out == OUT_TOKEN && o->inblob_size == 64 ? o->inblob
													  : DEFAULT_CHALLENGE};
				tok = build(&sp, &tn);
			} else if (sc->out == OUT_GARBAGE) {
				tok = (uint8_t *)strdup("not a token");
				tn = strlen((char *)tok);
			}
			int fd = -1;
			for (int t = 0; t < 10000; t++) {
				fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
				if (fd >= 0 || errno != ENXIO)
					break;
				sleep_ms(1);
			}
			assert_true(fd >= 0);
			assert_int_not_equal(fcntl(fd, F_SETFL, 0), -1);
			size_t done = 0;
			while (done < tn) {
				ssize_t w = write(fd, tok + done, tn - done);
				if (w <= 0)
					break;
				done += (size_t)w;
			}
			free(tok);
			close(fd);
		}
	}
	close(ready[1]);
	if (!exited)
		assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	json_t *res = json_load_file(result, 0, NULL);
	assert_non_null(res);
	o->rc = (vt_status)json_integer_value(json_object_get(res, "rc"));
	snprintf(o->field, sizeof(o->field), "%s", json_string_value(json_object_get(res, "field")));
	snprintf(o->detail, sizeof(o->detail), "%s", json_string_value(json_object_get(res, "detail")));
	json_t *ev = json_object_get(res, "evidence");
	o->evidence = json_is_null(ev) ? NULL : json_incref(ev);
	json_decref(res);
	o->left_in_root = dir_entries(root, NULL, 0);
	unlink(result);
	rmdir(root);
}

static void test_attest_ok(void **state)
{
	(void)state;
	uint8_t rd[64];
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(7 * i + 1);
	struct scenario sc = {.provider = "arm_cca_guest\n", .gen_bump = 1, .out = OUT_TOKEN};
	struct outcome o;
	run(&sc, rd, &o);
	if (o.rc != VT_OK)
		fail_msg("attest: %s %s: %s", vt_status_name(o.rc), o.field, o.detail);
	assert_int_equal(o.inblob_size, 64);
	assert_memory_equal(o.inblob, rd, 64);
	assert_int_equal(o.left_in_root, 0);
	assert_non_null(o.evidence);

	/* The evidence verifies with the CPAK and binds rd. */
	json_t *arr = json_object_get(o.evidence, "token");
	size_t n = json_array_size(arr);
	assert_true(n > 0);
	uint8_t *t = malloc(n);
	for (size_t i = 0; i < n; i++)
		t[i] = (uint8_t)json_integer_value(json_array_get(arr, i));
	json_t *c;
	struct vt_err e;
	assert_int_equal(verify(t, n, g_cpak, rd, sizeof(rd), &c, &e), VT_OK);
	json_decref(c);
	free(t);
	json_decref(o.evidence);
}

static void expect_attest_failure(const struct scenario *sc, vt_status want, const char *field, const char *detail)
{
	uint8_t rd[64];
	memset(rd, 0x42, sizeof(rd));
	struct outcome o;
	run(sc, rd, &o);
	if (o.rc != want)
		fail_msg("got %s (%s: %s), want %s", vt_status_name(o.rc), o.field, o.detail, vt_status_name(want));
	assert_true(o.entry_seen);
	if (field)
		assert_string_equal(o.field, field);
	if (detail && strstr(o.detail, detail) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", o.detail, detail);
	assert_null(o.evidence);
	assert_int_equal(o.left_in_root, 0);
}

static void test_attest_failures(void **state)
{
	(void)state;
	struct scenario tdx = {.provider = "tdx_guest\n", .gen_bump = 1, .out = OUT_TOKEN};
	expect_attest_failure(&tdx, VT_E_USAGE, "provider", "not an Arm CCA realm");
	struct scenario race = {.provider = "arm_cca_guest\n", .gen_bump = 2, .out = OUT_TOKEN};
	expect_attest_failure(&race, VT_E_IO, NULL, "concurrent writer");
	struct scenario other = {.provider = "arm_cca_guest\n", .gen_bump = 1, .out = OUT_OTHER_CHALLENGE};
	expect_attest_failure(&other, VT_E_REJECTED, "realm.challenge", "requested challenge");
	struct scenario garbage = {.provider = "arm_cca_guest\n", .gen_bump = 1, .out = OUT_GARBAGE};
	expect_attest_failure(&garbage, VT_E_PARSE, "token", NULL);
	struct scenario empty = {.provider = "arm_cca_guest\n", .gen_bump = 1, .out = OUT_EMPTY};
	expect_attest_failure(&empty, VT_E_IO, "outblob", "empty token");

	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/does-not-exist/report", g_tmp);
	struct vt_cca_attest_paths paths = {.configfs_root = root};
	uint8_t rd[64] = {0};
	json_t *ev = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	assert_int_equal(vt_cca_attest_evidence(&paths, rd, &ev, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	assert_non_null(strstr(e.detail, "no Arm CCA realm interface"));
	assert_null(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_legacy_ok),
		cmocka_unit_test(test_synthetic_ffm_ok),
		cmocka_unit_test(test_synthetic_es256_platform),
		cmocka_unit_test(test_unknown_claims_ignored),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_unbound_platform_challenge),
		cmocka_unit_test(test_wrong_keys),
		cmocka_unit_test(test_sw_component_rules),
		cmocka_unit_test(test_realm_claim_rules),
		cmocka_unit_test(test_rak_rules),
		cmocka_unit_test(test_platform_claim_rules),
		cmocka_unit_test(test_structure_rules),
		cmocka_unit_test(test_claims_encoding_rules),
		cmocka_unit_test(test_huge_declared_lengths),
		cmocka_unit_test(test_vector_trustee_fvp),
		cmocka_unit_test(test_vector_draft_ffm),
		cmocka_unit_test(test_vector_tfm_legacy),
		cmocka_unit_test(test_vector_token_02_p256),
		cmocka_unit_test(test_vector_veraison_good),
		cmocka_unit_test(test_vector_bug33_unbound),
		cmocka_unit_test(test_vector_cross_keys),
		cmocka_unit_test(test_vector_flips),
		cmocka_unit_test(test_evidence_json),
		cmocka_unit_test(test_cpak_files),
		cmocka_unit_test(test_attest_ok),
		cmocka_unit_test(test_attest_failures),
	};
	return cmocka_run_group_tests_name("cca", tests, group_setup, group_teardown);
}
