/*
 * Unit tests for signed CoRIM (src/evidence/corim/, include/veritee/corim.h).
 *
 * Known answers from $VERITEE_VECTORS/corim (skipped when absent): the
 * Veraison signed CoRIM and its P-256 JWK (valid 2021-12-31..2025-12-31),
 * the Veraison services CoRIMs (SEV-SNP, CCA, Parsec TPM; unsigned), the
 * TDX profile CoMIDs, and the NEGATIVE_* documents with the reason each
 * must be refused for.  Everything else is built here with a small CBOR
 * writer (so that malformed encodings can be made on purpose) and signed
 * with keys made per run, one defect each.
 */
#include "testutil.h"

#include <cbor.h>
#include <openssl/evp.h>

#include "veritee/corim.h"
#include "veritee/cose.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/snp.h"

#define NEED_VECTORS()                                                \
	const char *vdir = vt_test_vectors_dir();                     \
	if (vdir == NULL) {                                           \
		printf("# SKIP: no vectors (set VERITEE_VECTORS)\n"); \
		skip();                                               \
	}

/* 2025-06-01T00:00:00Z: inside the Veraison signed CoRIM's validity. */
#define T_INSIDE 1748736000
#define T_BEFORE 1640908799 /* one second before 2021-12-31T00:00:00Z */
#define T_AFTER 1767139201  /* one second after 2025-12-31T00:00:00Z */

static EVP_PKEY *g_p256, *g_p384, *g_other;

/* ------------------------------------------------------------ CBOR writer */

struct enc {
	uint8_t *b;
	size_t n, cap;
};

static void put(struct enc *e, const void *p, size_t n)
{
	if (e->n + n > e->cap) {
		e->cap = (e->n + n) * 2 + 64;
		e->b = realloc(e->b, e->cap);
		assert_non_null(e->b);
	}
	if (n)
		memcpy(e->b + e->n, p, n);
	e->n += n;
}

static void head(struct enc *e, int major, uint64_t v)
{
	uint8_t h[9];
	size_t n;
	if (v < 24) {
		h[0] = (uint8_t)(major << 5 | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = (uint8_t)(major << 5 | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (uint8_t)(major << 5 | 25);
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		h[0] = (uint8_t)(major << 5 | 26);
		for (int i = 0; i < 4; i++)
			h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	} else {
		h[0] = (uint8_t)(major << 5 | 27);
		for (int i = 0; i < 8; i++)
			h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
		n = 9;
	}
	put(e, h, n);
}

static void e_int(struct enc *e, int64_t v)
{
	if (v >= 0)
		head(e, 0, (uint64_t)v);
	else
		head(e, 1, (uint64_t)(-1 - v));
}
static void e_uint(struct enc *e, uint64_t v) { head(e, 0, v); }
static void e_bytes(struct enc *e, const uint8_t *p, size_t n)
{
	head(e, 2, n);
	put(e, p, n);
}
static void e_text(struct enc *e, const char *s)
{
	head(e, 3, strlen(s));
	put(e, s, strlen(s));
}
static void e_arr(struct enc *e, uint64_t n) { head(e, 4, n); }
static void e_map(struct enc *e, uint64_t n) { head(e, 5, n); }
static void e_tag(struct enc *e, uint64_t t) { head(e, 6, t); }
static void e_enc(struct enc *e, const struct enc *o) { put(e, o->b, o->n); }
static void e_free(struct enc *e)
{
	free(e->b);
	memset(e, 0, sizeof(*e));
}

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v + i);
}

/* measurement-map {0: text mkey (NULL: none), 1: {2: [[alg, bytes]]}} */
static void m_digest(struct enc *e, const char *mkey, int64_t alg, const uint8_t *d, size_t n)
{
	e_map(e, mkey ? 2 : 1);
	if (mkey) {
		e_int(e, 0);
		e_text(e, mkey);
	}
	e_int(e, 1);
	e_map(e, 1);
	e_int(e, 2);
	e_arr(e, 1);
	e_arr(e, 2);
	e_int(e, alg);
	e_bytes(e, d, n);
}

/* measurement-map {0: text mkey, 1: {4: #6.560(bytes)}} */
static void m_raw(struct enc *e, const char *mkey, const uint8_t *d, size_t n)
{
	e_map(e, 2);
	e_int(e, 0);
	e_text(e, mkey);
	e_int(e, 1);
	e_map(e, 1);
	e_int(e, 4);
	e_tag(e, 560);
	e_bytes(e, d, n);
}

/* A CoMID: one reference triple, env {0: {[0: class-id oid,] 1: vendor, 2: model}},
 * `nm` measurements already encoded in `ms`. */
static void comid(struct enc *e, const uint8_t *oid, size_t oid_len, const struct enc *ms, size_t nm)
{
	e_map(e, 2);
	e_int(e, 1);
	e_map(e, 1);
	e_int(e, 0);
	e_text(e, "test comid");
	e_int(e, 4);
	e_map(e, 1);
	e_int(e, 0);
	e_arr(e, 1);
	e_arr(e, 2);
	e_map(e, 1);
	e_int(e, 0);
	e_map(e, oid ? 3 : 2);
	if (oid) {
		e_int(e, 0);
		e_tag(e, 111);
		e_bytes(e, oid, oid_len);
	}
	e_int(e, 1);
	e_text(e, "veritee test");
	e_int(e, 2);
	e_text(e, "model");
	e_arr(e, nm);
	e_enc(e, ms);
}

struct corim_opts {
	const char *profile;   /* URI */
	bool rim_validity;
	int64_t rim_nb, rim_na;
	size_t copies;         /* of the CoMID in tags (default 1) */
};

/* #6.501({0: "test corim", 1: [#6.506(bstr comid) ...], ? 3: profile, ? 4: validity}) */
static void corim(struct enc *e, const struct enc *cm, const struct corim_opts *o)
{
	size_t copies = o && o->copies ? o->copies : 1;
	e_tag(e, 501);
	e_map(e, 2 + (o && o->profile ? 1 : 0) + (o && o->rim_validity ? 1 : 0));
	e_int(e, 0);
	e_text(e, "test corim");
	e_int(e, 1);
	e_arr(e, copies);
	for (size_t i = 0; i < copies; i++) {
		e_tag(e, 506);
		e_bytes(e, cm->b, cm->n);
	}
	if (o && o->profile) {
		e_int(e, 3);
		e_tag(e, 32);
		e_text(e, o->profile);
	}
	if (o && o->rim_validity) {
		e_int(e, 4);
		e_map(e, 2);
		e_int(e, 0);
		e_tag(e, 1);
		e_int(e, o->rim_nb);
		e_int(e, 1);
		e_tag(e, 1);
		e_int(e, o->rim_na);
	}
}

struct sign_opts {
	int64_t alg;           /* 0: ES256 */
	const char *ctype;     /* NULL: application/rim+cbor; "" : none */
	bool untagged;
	bool meta_unprotected;
	int64_t nb, na;        /* corim-meta validity (0,0: none) */
};

/* A signed CoRIM: #6.18([prot, unprot, payload, sig]). */
static uint8_t *sign_corim(EVP_PKEY *key, const struct sign_opts *o, const struct enc *payload, size_t *outn)
{
	struct sign_opts d = {0};
	if (o == NULL)
		o = &d;
	int64_t alg = o->alg ? o->alg : -7;
	const EVP_MD *md = alg == -35 ? EVP_sha384() : alg == -36 ? EVP_sha512() : EVP_sha256();
	struct enc meta = {0}, prot = {0}, out = {0};
	bool has_ct = !(o->ctype && o->ctype[0] == '\0');
	e_map(&meta, o->na ? 2 : 1);
	e_int(&meta, 0);
	e_map(&meta, 1);
	e_int(&meta, 0);
	e_text(&meta, "veritee test signer");
	if (o->na) {
		e_int(&meta, 1);
		e_map(&meta, 2);
		e_int(&meta, 0);
		e_tag(&meta, 1);
		e_int(&meta, o->nb);
		e_int(&meta, 1);
		e_tag(&meta, 1);
		e_int(&meta, o->na);
	}
	e_map(&prot, 1 + (has_ct ? 1 : 0) + (o->meta_unprotected ? 0 : 1));
	e_int(&prot, 1);
	e_int(&prot, alg);
	if (has_ct) {
		e_int(&prot, 3);
		e_text(&prot, o->ctype ? o->ctype : "application/rim+cbor");
	}
	if (!o->meta_unprotected) {
		e_int(&prot, 8);
		e_bytes(&prot, meta.b, meta.n);
	}
	uint8_t *tbs = NULL, sig[132];
	size_t tbs_len = 0, sig_len = sizeof(sig);
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sig_structure(prot.b, prot.n, NULL, 0, payload->b, payload->n, &tbs, &tbs_len, &err),
			 VT_OK);
	assert_int_equal(vt_ecdsa_sign_raw(key, md, tbs, tbs_len, sig, &sig_len, &err), VT_OK);
	free(tbs);
	if (!o->untagged)
		e_tag(&out, 18);
	e_arr(&out, 4);
	e_bytes(&out, prot.b, prot.n);
	if (o->meta_unprotected) {
		e_map(&out, 1);
		e_int(&out, 8);
		e_bytes(&out, meta.b, meta.n);
	} else {
		e_map(&out, 0);
	}
	e_bytes(&out, payload->b, payload->n);
	e_bytes(&out, sig, sig_len);
	e_free(&meta);
	e_free(&prot);
	*outn = out.n;
	return out.b;
}

/* ------------------------------------------------------------------ helpers */

static uint8_t *read_vec(const char *vdir, const char *name, size_t *n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/corim/%s", vdir, name);
	uint8_t *b = NULL;
	struct vt_err err = {0};
	assert_int_equal(vt_file_read(p, 1 << 20, &b, n, &err), VT_OK);
	return b;
}

static EVP_PKEY *vec_signer(const char *vdir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/corim/veraison_corim_ec-p256.jwk", vdir);
	EVP_PKEY *k = NULL;
	struct vt_err err = {0};
	if (vt_corim_signer_load(p, &k, &err) != VT_OK)
		fail_msg("signer: %s", err.detail);
	return k;
}

static vt_status load(const uint8_t *b, size_t n, EVP_PKEY *key, int64_t now, bool unsigned_ok, struct vt_corim **c,
		      struct vt_err *err)
{
	struct vt_corim_opts o = {.signer = key, .now = now, .allow_unsigned = unsigned_ok};
	vt_err_clear(err);
	return vt_corim_load(b, n, &o, c, err);
}

/* The values of `name` as one comma-separated string (strings and integers). */
static char *values_of(const struct vt_corim *c, const char *name)
{
	json_t *l = json_object_get(c->values, name);
	if (l == NULL)
		return strdup("(absent)");
	char *s = vt_json_compact(l);
	assert_non_null(s);
	return s;
}

static void assert_values(const struct vt_corim *c, const char *name, const char *want_json)
{
	char *got = values_of(c, name);
	if (strcmp(got, want_json) != 0)
		fail_msg("%s = %s, want %s", name, got, want_json);
	free(got);
}

static bool has_note(const struct vt_corim *c, const char *needle)
{
	for (size_t i = 0; i < json_array_size(c->notes); i++)
		if (strstr(json_string_value(json_array_get(c->notes, i)), needle))
			return true;
	return false;
}

#define assert_detail(errp, needle)                                                               \
	do {                                                                                      \
		if (strstr((errp)->detail, (needle)) == NULL)                                     \
			fail_msg("detail \"%s\" (field %s) lacks \"%s\"", (errp)->detail, (errp)->field, \
				 (needle));                                                       \
	} while (0)

#define assert_field(errp, want)                                                                      \
	do {                                                                                          \
		if (strcmp((errp)->field, (want)) != 0)                                               \
			fail_msg("field \"%s\" (detail %s), want \"%s\"", (errp)->field, (errp)->detail, (want)); \
	} while (0)

static char *hexs(const uint8_t *p, size_t n)
{
	char *h = vt_hex_encode(p, n);
	assert_non_null(h);
	return h;
}

/* ------------------------------------------------------- the signed vector */

static void test_signed_vector_verifies(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vec(vdir, "veraison_corim_signed_good_corim.cbor", &n);
	EVP_PKEY *k = vec_signer(vdir);
	struct vt_corim *c = NULL;
	struct vt_err err;
	if (load(b, n, k, T_INSIDE, false, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_true(c->verified);
	assert_string_equal(c->form, "signed-corim");
	assert_int_equal(c->alg, -7);
	assert_string_equal(c->kid, "31");
	assert_string_equal(c->content_type, "application/rim+cbor");
	assert_string_equal(c->id, "test corim id");
	assert_null(c->profile);
	assert_string_equal(c->signer_name, "ACME Ltd signing key");
	assert_string_equal(c->signer_uri, "https://acme.example");
	assert_true(c->signature_validity.has_not_before && c->signature_validity.has_not_after);
	assert_int_equal(c->signature_validity.not_before, 1640908800);
	assert_int_equal(c->signature_validity.not_after, 1767139200);
	assert_int_equal(c->comids, 1);
	assert_int_equal(json_object_size(c->values), 1);
	assert_values(c, "corim_31fb5abf-023e-4992-aa4e-95f9c1503bfa_sha256",
		      "[\"87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7\","
		      "\"0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f\","
		      "\"a3a5e715f0cc574a73c3f9bebb6bc24f32ffd5b67b387244c2c909da779a1478\"]");

	/* The RVPS message stores exactly these values. */
	char *body = vt_corim_rvps_message(c);
	assert_non_null(body);
	json_t *msg = json_loads(body, 0, NULL);
	assert_non_null(msg);
	assert_string_equal(json_string_value(json_object_get(msg, "version")), "0.1.0");
	assert_string_equal(json_string_value(json_object_get(msg, "type")), "sample");
	const char *pl = json_string_value(json_object_get(msg, "payload"));
	uint8_t *raw = NULL;
	size_t rn = 0;
	assert_int_equal(vt_b64_decode(pl, strlen(pl), &raw, &rn, &err), VT_OK);
	json_t *vals = json_loadb((const char *)raw, rn, 0, NULL);
	assert_true(json_equal(vals, c->values));
	json_decref(vals);
	free(raw);
	json_decref(msg);
	free(body);

	json_t *j = vt_corim_to_json(c);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "signature_validity"), "not_after")),
			    "2025-12-31T00:00:00Z");
	assert_true(json_is_true(json_object_get(j, "verified")));
	json_decref(j);
	vt_corim_free(c);
	EVP_PKEY_free(k);
	free(b);
}

static void test_signed_vector_wrong_key(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vec(vdir, "veraison_corim_signed_good_corim.cbor", &n);
	struct vt_corim *c = NULL;
	struct vt_err err;
	/* Another P-256 key: the signature does not verify. */
	assert_int_equal(load(b, n, g_other, T_INSIDE, false, &c, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_field(&err, "cose.signature");
	assert_null(c);
	/* A P-384 key: ES256 needs P-256. */
	assert_int_equal(load(b, n, g_p384, T_INSIDE, false, &c, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_detail(&err, "P-256");
	/* No key at all: a usage error, not a pass. */
	assert_int_equal(load(b, n, NULL, T_INSIDE, false, &c, &err), VT_E_USAGE);
	assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_E_USAGE);
	free(b);
}

/* Every bit of the signed region (protected header and payload) and of the
 * signature, flipped one at a time: never accepted, never a crash. */
static void test_signed_vector_flips(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vec(vdir, "veraison_corim_signed_good_corim.cbor", &n);
	EVP_PKEY *k = vec_signer(vdir);
	struct vt_cose_sign1 s = {0};
	struct vt_err err = {0};
	assert_int_equal(vt_cose_sign1_parse(b, n, &s, &err), VT_OK);
	/* Find the byte ranges in the file (the struct's views are a copy). */
	const uint8_t *pp = memmem(b, n, s.protected_bstr, s.protected_len);
	const uint8_t *pl = memmem(b, n, s.payload, s.payload_len);
	const uint8_t *sg = memmem(b, n, s.signature, s.signature_len);
	assert_non_null(pp);
	assert_non_null(pl);
	assert_non_null(sg);
	size_t ranges[3][2] = {{(size_t)(pp - b), s.protected_len},
			       {(size_t)(pl - b), s.payload_len},
			       {(size_t)(sg - b), s.signature_len}};
	vt_cose_sign1_free(&s);
	size_t tried = 0, sig_rejects = 0;
	for (size_t r = 0; r < 3; r++)
		for (size_t i = ranges[r][0]; i < ranges[r][0] + ranges[r][1]; i++)
			for (int bit = 0; bit < 8; bit++) {
				b[i] ^= (uint8_t)(1u << bit);
				struct vt_corim *c = NULL;
				vt_status rc = load(b, n, k, T_INSIDE, false, &c, &err);
				b[i] ^= (uint8_t)(1u << bit);
				if (rc == VT_OK)
					fail_msg("byte %zu bit %d flipped: accepted", i, bit);
				assert_null(c);
				sig_rejects += err.step == VT_STEP_SIGNATURE;
				tried++;
			}
	assert_int_equal(tried, 8 * (96 + 346 + 64));
	/* Most flips keep the CBOR well-formed and fail at the signature. */
	assert_true(sig_rejects > tried / 2);
	/* And the unflipped document still verifies. */
	struct vt_corim *c = NULL;
	assert_int_equal(load(b, n, k, T_INSIDE, false, &c, &err), VT_OK);
	vt_corim_free(c);
	EVP_PKEY_free(k);
	free(b);
}

static void test_signed_vector_validity(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vec(vdir, "veraison_corim_signed_good_corim.cbor", &n);
	EVP_PKEY *k = vec_signer(vdir);
	struct vt_corim *c = NULL;
	struct vt_err err;
	assert_int_equal(load(b, n, k, T_BEFORE, false, &c, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_field(&err, "corim-meta.validity");
	assert_detail(&err, "not valid before 2021-12-31T00:00:00Z");
	assert_int_equal(load(b, n, k, T_AFTER, false, &c, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	assert_detail(&err, "expired at 2025-12-31T00:00:00Z");
	/* The bounds themselves are inside. */
	assert_int_equal(load(b, n, k, 1640908800, false, &c, &err), VT_OK);
	vt_corim_free(c);
	assert_int_equal(load(b, n, k, 1767139200, false, &c, &err), VT_OK);
	vt_corim_free(c);
	EVP_PKEY_free(k);
	free(b);
}

/* -------------------------------------------------------- unsigned vectors */

static const char *const UNSIGNED[] = {
	"veraison_services_corim_sevsnp_valid.cbor",  "veraison_services_corim_cca_platform_valid.cbor",
	"veraison_services_corim_cca_realm_valid.cbor", "veraison_services_corim_parsec_tpm_valid.cbor",
	"veraison_corim_tdx_comid_seam_refval.cbor",  "veraison_corim_tdx_comid_qe_refval.cbor",
};

static void test_unsigned_refused(void **state)
{
	(void)state;
	NEED_VECTORS();
	for (size_t i = 0; i < sizeof(UNSIGNED) / sizeof(UNSIGNED[0]); i++) {
		size_t n;
		uint8_t *b = read_vec(vdir, UNSIGNED[i], &n);
		struct vt_corim *c = NULL;
		struct vt_err err;
		/* With or without a key: unsigned is never imported. */
		assert_int_equal(load(b, n, g_p256, T_INSIDE, false, &c, &err), VT_E_REJECTED);
		assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
		assert_detail(&err, "not signed");
		assert_detail(&err, "--unsigned");
		assert_null(c);
		/* Inspection accepts it (the NEGATIVE ones are separate). */
		if (load(b, n, NULL, T_INSIDE, true, &c, &err) != VT_OK)
			fail_msg("%s: %s: %s", UNSIGNED[i], err.field, err.detail);
		assert_false(c->verified);
		vt_corim_free(c);
		free(b);
	}
}

static void test_unsigned_snp_values(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	uint8_t *b = read_vec(vdir, "veraison_services_corim_sevsnp_valid.cbor", &n);
	struct vt_corim *c = NULL;
	struct vt_err err;
	assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_OK);
	assert_string_equal(c->form, "unsigned-corim");
	assert_string_equal(c->profile, "tag:amd.com,2024:snp-corim-profile");
	assert_int_equal(c->comids, 2);
	assert_values(c, "snp_launch_measurement",
		      "[\"7699e6ac12ccdfd1dfac70e649ce1f046cb2afbb003438f4cdddfe2ccbe182fa5ffbe8dcdb930454324e10c52c788980\"]");
	/* REPORTED_TCB (mkey 647) = 0x541700000000000a, Genoa layout. */
	assert_values(c, "snp_bootloader", "[10]");
	assert_values(c, "snp_tee_svn", "[0]");
	assert_values(c, "snp_snp_svn", "[23]");
	assert_values(c, "snp_microcode", "[84]");
	assert_int_equal(json_object_size(c->values), 5);
	assert_true(has_note(c, "attest-key-triples"));
	assert_true(has_note(c, "640"));

	/* The real AMD report the CoRIM describes gives exactly these claims. */
	size_t tn;
	uint8_t *tsm = read_vec(vdir, "veraison_services_sevsnp_tsm_report.cbor", &tn);
	cbor_item_t *m = NULL;
	assert_int_equal(vt_cbor_decode(tsm, tn, 0, "tsm", &m, &err), VT_OK);
	const cbor_item_t *out = vt_cbor_map_get_str(m, "outblob");
	assert_non_null(out);
	struct vt_snp_report r;
	assert_int_equal(vt_snp_report_parse(cbor_bytestring_handle(out), cbor_bytestring_length(out), true, &r, &err),
			 VT_OK);
	char *mh = hexs(r.measurement, sizeof(r.measurement));
	assert_string_equal(json_string_value(json_array_get(json_object_get(c->values, "snp_launch_measurement"), 0)),
			    mh);
	struct vt_snp_tcb t;
	vt_snp_tcb_decode(r.reported_tcb, r.product, &t);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(c->values, "snp_bootloader"), 0)),
			 t.bootloader);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(c->values, "snp_tee_svn"), 0)), t.tee);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(c->values, "snp_snp_svn"), 0)), t.snp);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(c->values, "snp_microcode"), 0)),
			 t.microcode);
	free(mh);
	cbor_decref(&m);
	free(tsm);
	vt_corim_free(c);
	free(b);
}

static void test_unsigned_cca_tpm_tdx_values(void **state)
{
	(void)state;
	NEED_VECTORS();
	size_t n;
	struct vt_corim *c = NULL;
	struct vt_err err;
	uint8_t *b = read_vec(vdir, "veraison_services_corim_cca_realm_valid.cbor", &n);
	assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_OK);
	/* 64 bytes of 0x43, standard base64 as the CCA claims hold them. */
	uint8_t c43[64];
	memset(c43, 0x43, sizeof(c43));
	char *b43 = vt_b64_encode(c43, sizeof(c43)), want[200];
	assert_non_null(b43);
	assert_int_equal(strlen(b43), 88);
	snprintf(want, sizeof(want), "[\"%s\"]", b43);
	free(b43);
	assert_values(c, "cca_rim", want);
	assert_values(c, "cca_rem3", want);
	assert_values(c, "cca_rpv",
		      "[\"QURBREFEQURBREFEQURBREFEQURBREFEQURBREFEQURBREFEQURBREFEQURBREFEQURBREFEQURBREFEQURBRA==\"]");
	vt_corim_free(c);
	free(b);

	b = read_vec(vdir, "veraison_services_corim_cca_platform_valid.cbor", &n);
	assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_OK);
	assert_values(c, "cca_platform_sw_BL", "[\"BwYFBAMCAQAPDg0MCwoJCBcWFRQTEhEQHx4dHBsaGRg=\"]");
	assert_values(c, "cca_platform_sw_M3", "[\"EwYFBAMCAQAPDg0MCwoJCBcWFRQTEhEQHx4dHBsaGRg=\"]");
	assert_values(c, "cca_platform_implementation_id", "[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]");
	/* Its platform config carries a mask: not an equality value. */
	assert_null(json_object_get(c->values, "cca_platform_config"));
	assert_true(has_note(c, "masked platform config"));
	vt_corim_free(c);
	free(b);

	b = read_vec(vdir, "veraison_services_corim_parsec_tpm_valid.cbor", &n);
	assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_OK);
	assert_values(c, "tpm_pcr02",
		      "[\"0000000000000000000000000000000000000000000000000000000000000000\","
		      "\"2107bbe761fca52d95136a1354db7a4dd57b1b26be0d3da71d9eb23986b34ba615abf6514cf35e5a9ea55a032d068a78\"]");
	assert_int_equal(json_object_size(c->values), 3);
	vt_corim_free(c);
	free(b);

	/* The TDX SEAM CoMID's digests are SHA-256/512: MRSEAM is SHA-384, so
	 * nothing is imported, and the notes say why. */
	b = read_vec(vdir, "veraison_corim_tdx_comid_seam_refval.cbor", &n);
	assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_OK);
	assert_string_equal(c->form, "comid");
	assert_int_equal(json_object_size(c->values), 0);
	assert_true(has_note(c, "mr_seam holds SHA-384"));
	vt_corim_free(c);
	free(b);
}

static void test_negative_vectors(void **state)
{
	(void)state;
	NEED_VECTORS();
	static const struct {
		const char *file, *field, *reason;
	} neg[] = {
		{"NEGATIVE_veraison_services_corim_sevsnp_bad_refval_key.cbor", "comid[0].ref[0].m[0].mkey",
		 "AMD SEV-SNP profile: measurement key must be a uint"},
		{"NEGATIVE_veraison_services_corim_parsec_tpm_bad_pcr.cbor", "comid[0].ref[0].m[0].mkey",
		 "Parsec TPM profile: measurement key must be a uint PCR index"},
		{"NEGATIVE_veraison_services_corim_cca_realm_bad_no_rim.cbor", "comid[0].ref[0]",
		 "the RIM (cca.rim) is mandatory"},
	};
	for (size_t i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
		size_t n;
		uint8_t *b = read_vec(vdir, neg[i].file, &n);
		struct vt_corim *c = NULL;
		struct vt_err err;
		/* Refused as unsigned first; and for its defect when inspected. */
		assert_int_equal(load(b, n, g_p256, T_INSIDE, false, &c, &err), VT_E_REJECTED);
		assert_int_equal(load(b, n, NULL, T_INSIDE, true, &c, &err), VT_E_PARSE);
		assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
		assert_field(&err, neg[i].field);
		assert_detail(&err, neg[i].reason);
		assert_null(c);
		free(b);
	}
}

/* ---------------------------------------------------- synthetic documents */

static uint8_t D48[48], D32[32], D64[64], X8[8];

/* Sign `payload` with defaults and load it with g_p256 at T_INSIDE. */
static vt_status sign_load(const struct sign_opts *so, const struct enc *payload, struct vt_corim **c,
			   struct vt_err *err)
{
	size_t n;
	uint8_t *b = sign_corim(g_p256, so, payload, &n);
	vt_status rc = load(b, n, g_p256, T_INSIDE, false, c, err);
	free(b);
	return rc;
}

static void test_text_keys(void **state)
{
	(void)state;
	struct enc ms = {0}, cm = {0}, pl = {0};
	m_digest(&ms, "tdx.mr_td", 7, D48, 48);
	m_digest(&ms, "tdx.rtmr_1", 7, D48, 48);
	m_raw(&ms, "tdx.xfam", X8, 8);
	m_digest(&ms, "nitro.pcr0", 7, D48, 48);
	m_digest(&ms, "sgx.mr_enclave", 1, D32, 32);
	m_raw(&ms, "sgx.mr_signer", D32, 32);
	m_digest(&ms, "sim.measurement", 7, D48, 48);
	m_digest(&ms, "snp.measurement", 7, D48, 48);
	m_digest(&ms, "tpm.pcr11", 1, D32, 32);
	m_digest(&ms, "cca.rim", 8, D64, 64);
	m_digest(&ms, "tdx.mr_td", 1, D32, 32);   /* wrong algorithm for MRTD: noted */
	m_digest(&ms, "tdx.nonsense", 7, D48, 48); /* unknown key in our namespace: noted */
	m_digest(&ms, "nitro.pcr32", 7, D48, 48);  /* PCR out of range: noted */
	comid(&cm, NULL, 0, &ms, 13);
	corim(&pl, &cm, NULL);
	struct vt_corim *c = NULL;
	struct vt_err err;
	if (sign_load(NULL, &pl, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	char *h48 = hexs(D48, 48), *h32 = hexs(D32, 32), *h8 = hexs(X8, 8), want[300];
	snprintf(want, sizeof(want), "[\"%s\"]", h48);
	assert_values(c, "mr_td", want);
	assert_values(c, "rtmr_1", want);
	assert_values(c, "nitro_pcr0", want);
	assert_values(c, "sim_measurement", want);
	assert_values(c, "snp_launch_measurement", want);
	snprintf(want, sizeof(want), "[\"%s\"]", h32);
	assert_values(c, "sgx_mr_enclave", want);
	assert_values(c, "sgx_mr_signer", want);
	assert_values(c, "tpm_pcr11", want);
	snprintf(want, sizeof(want), "[\"%s\"]", h8);
	assert_values(c, "xfam", want);
	assert_non_null(json_object_get(c->values, "cca_rim"));
	assert_int_equal(json_object_size(c->values), 10);
	assert_true(has_note(c, "mr_td holds SHA-384"));
	assert_true(has_note(c, "\"tdx.nonsense\": unknown veritee measurement key"));
	assert_true(has_note(c, "\"nitro.pcr32\": unknown veritee measurement key"));
	assert_string_equal(c->signer_name, "veritee test signer");
	free(h48);
	free(h32);
	free(h8);
	vt_corim_free(c);
	e_free(&ms);
	e_free(&cm);
	e_free(&pl);
}

static void test_generic_names(void **state)
{
	(void)state;
	struct enc ms = {0}, cm = {0}, pl = {0};
	/* {0: 5, 1: {1: 552(3), 4: 560(x8)}} */
	e_map(&ms, 2);
	e_int(&ms, 0);
	e_int(&ms, 5);
	e_int(&ms, 1);
	e_map(&ms, 2);
	e_int(&ms, 1);
	e_tag(&ms, 552);
	e_int(&ms, 3);
	e_int(&ms, 4);
	e_tag(&ms, 560);
	e_bytes(&ms, X8, 8);
	m_digest(&ms, NULL, 1, D32, 32);       /* no mkey */
	m_digest(&ms, "my.component", 7, D48, 48);
	m_digest(&ms, "bad key/with slash", 1, D32, 32); /* cannot be a name: noted */
	/* min-svn: noted, not imported */
	e_map(&ms, 2);
	e_int(&ms, 0);
	e_int(&ms, 6);
	e_int(&ms, 1);
	e_map(&ms, 1);
	e_int(&ms, 1);
	e_tag(&ms, 553);
	e_int(&ms, 2);
	comid(&cm, NULL, 0, &ms, 5);
	corim(&pl, &cm, NULL);
	struct vt_corim *c = NULL;
	struct vt_err err;
	if (sign_load(NULL, &pl, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_values(c, "corim_5_svn", "[3]");
	char *h = hexs(X8, 8), want[300];
	snprintf(want, sizeof(want), "[\"%s\"]", h);
	assert_values(c, "corim_5_raw", want);
	free(h);
	h = hexs(D32, 32);
	snprintf(want, sizeof(want), "[\"%s\"]", h);
	assert_values(c, "corim_sha256", want);
	free(h);
	assert_non_null(json_object_get(c->values, "corim_my.component_sha384"));
	assert_int_equal(json_object_size(c->values), 4);
	assert_true(has_note(c, "cannot be part of a reference value name"));
	assert_true(has_note(c, "min-svn not imported"));
	vt_corim_free(c);
	e_free(&ms);
	e_free(&cm);
	e_free(&pl);
}

static void test_snp_min_svn_and_intel_seam(void **state)
{
	(void)state;
	struct enc ms = {0}, cm = {0}, pl = {0};
	/* SNP profile: env class-id OID + #6.560 instance, mkey 647 min-svn. */
	static const uint8_t amd_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x03, 0x01};
	e_map(&cm, 2);
	e_int(&cm, 1);
	e_map(&cm, 1);
	e_int(&cm, 0);
	e_text(&cm, "snp");
	e_int(&cm, 4);
	e_map(&cm, 1);
	e_int(&cm, 0);
	e_arr(&cm, 1);
	e_arr(&cm, 2);
	e_map(&cm, 2);
	e_int(&cm, 0);
	e_map(&cm, 1);
	e_int(&cm, 0);
	e_tag(&cm, 111);
	e_bytes(&cm, amd_oid, sizeof(amd_oid));
	e_int(&cm, 1);
	e_tag(&cm, 560);
	e_bytes(&cm, D48, 48);
	e_arr(&cm, 1);
	e_map(&cm, 2);
	e_int(&cm, 0);
	e_int(&cm, 647);
	e_int(&cm, 1);
	e_map(&cm, 1);
	e_int(&cm, 1);
	e_tag(&cm, 553);
	e_uint(&cm, 0xfd1700000000fe0aull); /* bootloader 10, tee 254, snp 23, microcode 253 */
	struct corim_opts co = {.profile = "tag:amd.com,2024:snp-corim-profile"};
	corim(&pl, &cm, &co);
	struct vt_corim *c = NULL;
	struct vt_err err;
	if (sign_load(NULL, &pl, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_values(c, "snp_tee_svn", "[254,255]");
	assert_values(c, "snp_microcode", "[253,254,255]");
	assert_int_equal(json_array_size(json_object_get(c->values, "snp_bootloader")), 246);
	assert_int_equal(json_array_size(json_object_get(c->values, "snp_snp_svn")), 233);
	vt_corim_free(c);
	e_free(&cm);
	e_free(&pl);

	/* Intel TDX SEAM environment: tee.mrtee (-83) as 60020([member, digests]). */
	static const uint8_t seam_oid[] = {0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x4d, 0x01, 0x02, 0x03, 0x04, 0x03};
	e_map(&ms, 1);
	e_int(&ms, 1);
	e_map(&ms, 2);
	e_int(&ms, -83);
	e_tag(&ms, 60020);
	e_arr(&ms, 2);
	e_int(&ms, 6);
	e_arr(&ms, 1);
	e_arr(&ms, 2);
	e_int(&ms, 7);
	e_bytes(&ms, D48, 48);
	e_int(&ms, -84);
	e_arr(&ms, 1);
	e_arr(&ms, 2);
	e_int(&ms, 7);
	e_bytes(&ms, D48, 48);
	comid(&cm, seam_oid, sizeof(seam_oid), &ms, 1);
	corim(&pl, &cm, NULL);
	if (sign_load(NULL, &pl, &c, &err) != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	char *h = hexs(D48, 48), want[200];
	snprintf(want, sizeof(want), "[\"%s\"]", h);
	assert_values(c, "mr_seam", want);
	assert_values(c, "mrsigner_seam", want);
	free(h);
	vt_corim_free(c);
	e_free(&ms);
	e_free(&cm);
	e_free(&pl);
}

/* A minimal valid signed payload around `cm` (a CoMID encoding). */
static void simple_payload(struct enc *pl)
{
	struct enc ms = {0}, cm = {0};
	m_digest(&ms, "tdx.mr_td", 7, D48, 48);
	comid(&cm, NULL, 0, &ms, 1);
	corim(pl, &cm, NULL);
	e_free(&ms);
	e_free(&cm);
}

static void test_envelope_defects(void **state)
{
	(void)state;
	struct enc pl = {0};
	simple_payload(&pl);
	struct vt_corim *c = NULL;
	struct vt_err err;

	/* The baseline is accepted. */
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_OK);
	vt_corim_free(c);

	struct sign_opts untagged = {.untagged = true};
	assert_int_equal(sign_load(&untagged, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "cose");
	assert_detail(&err, "tagged 18");

	struct sign_opts no_ct = {.ctype = ""};
	assert_int_equal(sign_load(&no_ct, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "cose.protected.content-type");
	struct sign_opts bad_ct = {.ctype = "application/json"};
	assert_int_equal(sign_load(&bad_ct, &pl, &c, &err), VT_E_PARSE);
	struct sign_opts ct_param = {.ctype = "application/rim+cbor; profile=\"x\""};
	assert_int_equal(sign_load(&ct_param, &pl, &c, &err), VT_OK);
	vt_corim_free(c);

	struct sign_opts meta_unprot = {.meta_unprotected = true};
	assert_int_equal(sign_load(&meta_unprot, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "cose.unprotected");

	struct sign_opts expired = {.nb = 1000, .na = T_INSIDE - 1};
	assert_int_equal(sign_load(&expired, &pl, &c, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	struct sign_opts inverted = {.nb = T_INSIDE + 10, .na = T_INSIDE - 10};
	assert_int_equal(sign_load(&inverted, &pl, &c, &err), VT_E_PARSE);
	assert_detail(&err, "not-before is after not-after");

	/* ES384 with a P-384 key verifies; claiming ES384 signed with P-256 does not. */
	size_t n;
	struct sign_opts es384 = {.alg = -35};
	uint8_t *b = sign_corim(g_p384, &es384, &pl, &n);
	assert_int_equal(load(b, n, g_p384, T_INSIDE, false, &c, &err), VT_OK);
	assert_int_equal(c->alg, -35);
	vt_corim_free(c);
	assert_int_equal(load(b, n, g_p256, T_INSIDE, false, &c, &err), VT_E_REJECTED);
	free(b);

	/* Payload with the wrong tag. */
	struct enc bad = {0};
	e_tag(&bad, 502);
	put(&bad, pl.b + 3, pl.n - 3); /* the map after 0xd9 0x01 0xf5 */
	assert_int_equal(sign_load(NULL, &bad, &c, &err), VT_E_PARSE);
	assert_field(&err, "corim.payload");
	assert_detail(&err, "tag 502");
	e_free(&bad);

	/* rim-validity in the past: the CoRIM itself expired. */
	struct enc ms = {0}, cm = {0}, pl2 = {0};
	m_digest(&ms, "tdx.mr_td", 7, D48, 48);
	comid(&cm, NULL, 0, &ms, 1);
	struct corim_opts co = {.rim_validity = true, .rim_nb = 0, .rim_na = T_INSIDE - 1};
	corim(&pl2, &cm, &co);
	assert_int_equal(sign_load(NULL, &pl2, &c, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_COLLATERAL);
	assert_field(&err, "corim.rim-validity");
	e_free(&pl2);

	/* Too many tags. */
	struct corim_opts many = {.copies = VT_CORIM_MAX_TAGS + 1};
	corim(&pl2, &cm, &many);
	assert_int_equal(sign_load(NULL, &pl2, &c, &err), VT_E_LIMIT);
	assert_field(&err, "corim.tags");
	e_free(&pl2);
	/* Exactly the cap is fine; the duplicates collapse to one value. */
	struct corim_opts cap = {.copies = VT_CORIM_MAX_TAGS};
	corim(&pl2, &cm, &cap);
	assert_int_equal(sign_load(NULL, &pl2, &c, &err), VT_OK);
	assert_int_equal(c->comids, VT_CORIM_MAX_TAGS);
	assert_int_equal(json_array_size(json_object_get(c->values, "mr_td")), 1);
	vt_corim_free(c);
	e_free(&pl2);
	e_free(&ms);
	e_free(&cm);
	e_free(&pl);
}

/* Malformed CoMID encodings, each inside a correctly signed CoRIM. */
static void test_comid_defects(void **state)
{
	(void)state;
	struct vt_corim *c = NULL;
	struct vt_err err;
	struct enc cm = {0}, pl = {0};

	/* Duplicate key 4 in the CoMID map. */
	e_map(&cm, 3);
	e_int(&cm, 1);
	e_map(&cm, 1);
	e_int(&cm, 0);
	e_text(&cm, "t");
	e_int(&cm, 4);
	e_map(&cm, 0);
	e_int(&cm, 4);
	e_map(&cm, 0);
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "corim.tags[0]");
	assert_detail(&err, "duplicate map key");
	e_free(&cm);
	e_free(&pl);

	/* An indefinite-length array (0x9f ... 0xff) for the measurements. */
	static const uint8_t indef[] = {0xa2, 0x01, 0xa1, 0x00, 0x61, 't', 0x04, 0xa1, 0x00, 0x81, 0x82, 0xa0,
					0x9f, 0xa1, 0x01, 0xa1, 0x01, 0x01, 0xff};
	put(&cm, indef, sizeof(indef));
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "corim.tags[0]");
	assert_detail(&err, "indefinite-length array");
	e_free(&cm);
	e_free(&pl);

	/* A byte string that declares 4 GiB. */
	static const uint8_t huge[] = {0xa2, 0x01, 0xa1, 0x00, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00};
	put(&cm, huge, sizeof(huge));
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "corim.tags[0]");
	assert_detail(&err, "truncated");
	e_free(&cm);
	e_free(&pl);

	/* An array that declares 2^32-1 elements. */
	static const uint8_t huge_arr[] = {0xa1, 0x04, 0xa1, 0x00, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x00};
	put(&cm, huge_arr, sizeof(huge_arr));
	corim(&pl, &cm, NULL);
	vt_status rc = sign_load(NULL, &pl, &c, &err);
	assert_true(rc == VT_E_PARSE || rc == VT_E_LIMIT);
	assert_field(&err, "corim.tags[0]");
	e_free(&cm);
	e_free(&pl);

	/* A digest whose length does not fit its algorithm. */
	struct enc ms = {0};
	m_digest(&ms, "tdx.mr_td", 7, D32, 32);
	comid(&cm, NULL, 0, &ms, 1);
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "comid[0].ref[0].m[0].digests[0]");
	assert_detail(&err, "sha-384 digest of 32 bytes");
	e_free(&ms);
	e_free(&cm);
	e_free(&pl);

	/* A class-id with a tag that is not a class-id. */
	static const uint8_t bad_cid[] = {0xa2, 0x01, 0xa1, 0x00, 0x61, 't', 0x04, 0xa1, 0x00, 0x81, 0x82,
					  0xa1, 0x00, 0xa1, 0x00, 0xd8, 0x40, 0x41, 0x00, 0x81, 0xa1, 0x01,
					  0xa1, 0x01, 0x01};
	put(&cm, bad_cid, sizeof(bad_cid));
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "comid[0].ref[0].env");
	assert_detail(&err, "class-id has tag 64");
	e_free(&cm);
	e_free(&pl);

	/* A CoMID without triples. */
	static const uint8_t no_triples[] = {0xa1, 0x01, 0xa1, 0x00, 0x61, 't'};
	put(&cm, no_triples, sizeof(no_triples));
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_PARSE);
	assert_field(&err, "comid[0].triples");
	e_free(&cm);
	e_free(&pl);

	/* Too many measurements in one triple. */
	for (size_t i = 0; i < VT_CORIM_MAX_MEASUREMENTS + 1; i++)
		m_digest(&ms, "tdx.mr_td", 7, D48, 48);
	comid(&cm, NULL, 0, &ms, VT_CORIM_MAX_MEASUREMENTS + 1);
	corim(&pl, &cm, NULL);
	assert_int_equal(sign_load(NULL, &pl, &c, &err), VT_E_LIMIT);
	assert_field(&err, "comid[0].ref[0]");
	e_free(&ms);
	e_free(&cm);
	e_free(&pl);
}

static void test_signer_files(void **state)
{
	(void)state;
	struct vt_err err = {0};
	EVP_PKEY *k = NULL;
	char *pem = vt_key_public_pem(g_p256);
	assert_int_equal(vt_corim_signer_from_bytes((const uint8_t *)pem, strlen(pem), &k, &err), VT_OK);
	assert_int_equal(EVP_PKEY_eq(k, g_p256), 1);
	EVP_PKEY_free(k);
	free(pem);
	static const char set2[] = "{\"keys\":[{\"kty\":\"EC\"},{\"kty\":\"EC\"}]}";
	assert_int_not_equal(vt_corim_signer_from_bytes((const uint8_t *)set2, strlen(set2), &k, &err), VT_OK);
	assert_field(&err, "signer");
	vt_err_clear(&err);
	static const char junk[] = "not a key";
	assert_int_equal(vt_corim_signer_from_bytes((const uint8_t *)junk, strlen(junk), &k, &err), VT_E_PARSE);
	vt_err_clear(&err);
	EVP_PKEY *ed = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_ED25519, &ed, &err), VT_OK);
	pem = vt_key_public_pem(ed);
	assert_int_equal(vt_corim_signer_from_bytes((const uint8_t *)pem, strlen(pem), &k, &err), VT_E_PARSE);
	assert_detail(&err, "not an EC key");
	free(pem);
	EVP_PKEY_free(ed);
}

static void test_garbage_inputs(void **state)
{
	(void)state;
	static const uint8_t samples[][6] = {
		{0xd2, 0x80},                   /* tag 18, empty array */
		{0xd9, 0x01, 0xf5, 0x80},       /* tag 501 around an array */
		{0xd9, 0x01, 0xf6, 0xa0},       /* tag 502 */
		{0x01},                         /* an integer */
		{0xa0},                         /* an empty map (a CoMID without anything) */
		{0xd9, 0x01, 0xfa, 0x40},       /* tag 506 around an empty bstr */
	};
	static const size_t lens[] = {2, 4, 4, 1, 1, 4};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct vt_corim *c = NULL;
		struct vt_err err;
		vt_status rc = load(samples[i], lens[i], g_p256, T_INSIDE, true, &c, &err);
		if (rc == VT_OK)
			fail_msg("sample %zu accepted", i);
		assert_null(c);
		assert_true(err.detail[0] != '\0');
	}
	struct vt_corim *c = NULL;
	struct vt_err err;
	assert_int_equal(load((const uint8_t *)"", 0, g_p256, T_INSIDE, true, &c, &err), VT_E_PARSE);
}

static int setup(void **state)
{
	(void)state;
	struct vt_err err = {0};
	if (vt_key_generate(VT_KEY_P256, &g_p256, &err) != VT_OK || vt_key_generate(VT_KEY_P384, &g_p384, &err) != VT_OK ||
	    vt_key_generate(VT_KEY_P256, &g_other, &err) != VT_OK)
		return -1;
	fill(D48, 48, 0x30);
	fill(D32, 32, 0x60);
	fill(D64, 64, 0x90);
	fill(X8, 8, 0xe7);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(g_p256);
	EVP_PKEY_free(g_p384);
	EVP_PKEY_free(g_other);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_vector_verifies),
		cmocka_unit_test(test_signed_vector_wrong_key),
		cmocka_unit_test(test_signed_vector_flips),
		cmocka_unit_test(test_signed_vector_validity),
		cmocka_unit_test(test_unsigned_refused),
		cmocka_unit_test(test_unsigned_snp_values),
		cmocka_unit_test(test_unsigned_cca_tpm_tdx_values),
		cmocka_unit_test(test_negative_vectors),
		cmocka_unit_test(test_text_keys),
		cmocka_unit_test(test_generic_names),
		cmocka_unit_test(test_snp_min_svn_and_intel_seam),
		cmocka_unit_test(test_envelope_defects),
		cmocka_unit_test(test_comid_defects),
		cmocka_unit_test(test_signer_files),
		cmocka_unit_test(test_garbage_inputs),
	};
	return cmocka_run_group_tests_name("corim", tests, setup, teardown);
}
