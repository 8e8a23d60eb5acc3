/*
 * gce-vtpm: Google Compute Engine vTPM attestations (go-tpm-tools
 * attest.Attestation protobuf).  The two real attestations of the shared
 * vectors (tpm/gce_cos85_*.pb, same VM and AK, nonce 0x9009 / empty) are
 * verified against roots/google/ at a time inside the AK certificate's
 * window (2021-08-31..2051-08-24); without the vectors those cases skip.
 * The protobuf reader is also tested on messages built here.
 */
#include <openssl/x509.h>

#include "testutil.h"
#include "evidence/gce/proto.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/gce.h"
#include "veritee/json.h"
#include "veritee/tpm.h"

#define VEC_NONCE "tpm/gce_cos85_vtpm_attestation_nonce9009.pb"
#define VEC_EMPTY "tpm/gce_cos85_vtpm_attestation_no_nonce.pb"
#define NOW 1735689600 /* 2025-01-01T00:00:00Z */

static const uint8_t N9009[2] = {0x90, 0x09};
static char roots_dir[1024], root_file[1024], int2_file[1024], amd_ark[1024];

/* ------------------------------------------------------------ helpers */

static uint8_t *vec_read(const char *rel, size_t *n)
{
	const char *dir = vt_test_vectors_dir();
	if (dir == NULL)
		return NULL;
	char path[1024];
	uint8_t *p = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (vt_file_read(path, 1u << 22, &p, n, NULL) != VT_OK)
		return NULL;
	return p;
}

/* The vector, or skip the test when the shared vectors are absent. */
static uint8_t *need_vec(const char *rel, size_t *n)
{
	uint8_t *p = vec_read(rel, n);
	if (p == NULL) {
		print_message("shared vectors not found (VERITEE_VECTORS): skipped\n");
		skip();
	}
	const char *dir = vt_test_vectors_dir();
	snprintf(roots_dir, sizeof(roots_dir), "%s/roots/google", dir);
	snprintf(root_file, sizeof(root_file), "%s/roots/google/gce_tpm_ek_root_1.cer", dir);
	snprintf(int2_file, sizeof(int2_file), "%s/roots/google/gce_tpm_ek_intermediate_2.crt", dir);
	snprintf(amd_ark, sizeof(amd_ark), "%s/roots/amd/ark_milan.pem", dir);
	return p;
}

/* Raw protobuf -> load_file -> verify. nonce NULL = no binding. */
static vt_status verify_pb(const uint8_t *pb, size_t n, const char *roots, int64_t now, const uint8_t *nonce,
			   size_t nonce_n, json_t **claims, struct vt_err *err)
{
	const struct vt_tee *t = vt_tee_find("gce-vtpm");
	assert_non_null(t);
	json_t *ev = NULL, *c = NULL;
	vt_err_clear(err);
	vt_status rc = t->load_file(pb, n, &ev, err);
	if (rc != VT_OK)
		return rc;
	struct vt_verify_ctx ctx = {.now = now, .gce_roots = roots};
	struct vt_binding b = {.report_data = nonce, .report_data_size = nonce_n};
	rc = t->verify(&ctx, ev, nonce ? &b : NULL, &c, err);
	json_decref(ev);
	if (rc == VT_OK && claims != NULL)
		*claims = c;
	else
		json_decref(c);
	return rc;
}

static void expect(const uint8_t *pb, size_t n, const char *roots, int64_t now, const uint8_t *nonce,
		   size_t nonce_n, vt_status code, vt_step step, const char *field_part)
{
	struct vt_err err;
	vt_status rc = verify_pb(pb, n, roots, now, nonce, nonce_n, NULL, &err);
	if (rc != code)
		fail_msg("rc %s (%s: %s), want %s", vt_status_name(rc), err.field, err.detail, vt_status_name(code));
	assert_err(&err, code, step);
	if (field_part != NULL && strstr(err.field, field_part) == NULL)
		fail_msg("field \"%s\" (%s), want it to contain \"%s\"", err.field, err.detail, field_part);
}

static const char *claim_str(const json_t *c, const char *ptr)
{
	const char *s = json_string_value(vt_json_pointer(c, ptr));
	if (s == NULL)
		fail_msg("claim %s missing", ptr);
	return s;
}

/* A small protobuf writer (for messages built here). */
struct pbw {
	uint8_t *p;
	size_t n, cap;
};

static void w_raw(struct pbw *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 64;
		w->p = realloc(w->p, w->cap);
		assert_non_null(w->p);
	}
	if (n)
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void w_varint(struct pbw *w, uint64_t v)
{
	do {
		uint8_t c = (uint8_t)(v & 0x7F);
		v >>= 7;
		if (v)
			c |= 0x80;
		w_raw(w, &c, 1);
	} while (v);
}

static void w_uint(struct pbw *w, uint32_t field, uint64_t v)
{
	w_varint(w, (uint64_t)field << 3 | 0);
	w_varint(w, v);
}

static void w_bytes(struct pbw *w, uint32_t field, const void *p, size_t n)
{
	w_varint(w, (uint64_t)field << 3 | 2);
	w_varint(w, n);
	w_raw(w, p, n);
}

#define ENC_NO_CERT 1u
#define ENC_NO_LOG 2u
#define ENC_DROP_PCR5 4u

/* Re-encode a parsed attestation (in our field order) with changes. */
static void encode(const struct vt_gce_attestation *a, unsigned flags, struct pbw *out)
{
	w_bytes(out, 1, a->ak_pub, a->ak_pub_size);
	for (size_t i = 0; i < a->quote_count; i++) {
		const struct vt_gce_quote *q = &a->quotes[i];
		struct pbw qm = {0}, pm = {0};
		w_uint(&pm, 1, q->pcrs.hash_alg);
		for (unsigned k = 0; k < 24; k++) {
			if (!(q->pcrs.present & (1u << k)) || ((flags & ENC_DROP_PCR5) && k == 5))
				continue;
			struct pbw e = {0};
			w_uint(&e, 1, k);
			w_bytes(&e, 2, q->pcrs.value[k], q->pcrs.digest_size);
			w_bytes(&pm, 2, e.p, e.n);
			free(e.p);
		}
		w_bytes(&qm, 1, q->quote, q->quote_size);
		w_bytes(&qm, 2, q->raw_sig, q->raw_sig_size);
		w_bytes(&qm, 3, pm.p, pm.n);
		w_bytes(out, 2, qm.p, qm.n);
		free(qm.p);
		free(pm.p);
	}
	if (a->event_log && !(flags & ENC_NO_LOG))
		w_bytes(out, 3, a->event_log, a->event_log_size);
	if (a->ak_cert && !(flags & ENC_NO_CERT))
		w_bytes(out, 6, a->ak_cert, a->ak_cert_size);
	for (size_t i = 0; i < a->intermediate_count; i++)
		w_bytes(out, 7, a->intermediates[i], a->intermediate_sizes[i]);
}

static void parse_ok(const uint8_t *pb, size_t n, struct vt_gce_attestation *a)
{
	struct vt_err err;
	vt_err_clear(&err);
	if (vt_gce_attestation_parse(pb, n, a, &err) != VT_OK)
		fail_msg("parse: %s: %s", err.field, err.detail);
}

/* ------------------------------------------------------------ real vectors */

static void check_claims(const json_t *c, const char *report_data)
{
	assert_string_equal(claim_str(c, "/report_data"), report_data);
	/* SHA-256 bank values as the vectors README lists them */
	assert_string_equal(claim_str(c, "/pcrs/sha256/pcr00"),
			    "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf");
	assert_string_equal(claim_str(c, "/pcrs/sha256/pcr04"),
			    "d690bdac2aa8b73a1d718cb91990df07d0747b07ea57b3b2d0f0d511f0d90491");
	assert_string_equal(claim_str(c, "/pcrs/sha256/pcr07"),
			    "3365d7fa2b024c852913c06e04ffbfa6ea5289f743bbf1a76f7ffdf21ed84793");
	assert_string_equal(claim_str(c, "/pcrs/sha256/pcr09"),
			    "e01c8cf808763422c5ede2cdb34595b92bd7d06b8bbd6014b54d2e95b14b0963");
	assert_int_equal(json_object_size(json_object_get(json_object_get(c, "pcrs"), "sha1")), 24);
	assert_int_equal(json_object_size(json_object_get(json_object_get(c, "pcrs"), "sha256")), 24);
	assert_int_equal(json_object_size(json_object_get(json_object_get(c, "pcrs"), "sha384")), 24);
	assert_int_equal(strlen(claim_str(c, "/pcrs/sha384/pcr23")), 96);
	assert_int_equal(json_array_size(json_object_get(c, "quotes")), 3);
	assert_string_equal(claim_str(c, "/quotes/1/pcr_bank"), "sha256");
	assert_string_equal(claim_str(c, "/quotes/0/firmware_version"), "2016051100162800");
	/* the AK certificate */
	assert_string_equal(claim_str(c, "/ak_cert/subject"), "");
	assert_non_null(strstr(claim_str(c, "/ak_cert/issuer"),
			       "CN=tpm_ek_v1_cloud_host-signer-0-2020-10-22T14:02:08-07:00"));
	assert_string_equal(claim_str(c, "/ak_cert/sha256"),
			    "7dbdf36e4e897ed258936b59926e0b0f453641c0450992700961075bbdf5f55c");
	assert_string_equal(claim_str(c, "/ak_cert/not_before"), "2021-08-31T23:11:05Z");
	assert_string_equal(claim_str(c, "/ak_cert/not_after"), "2051-08-24T23:16:05Z");
	assert_int_equal(strlen(claim_str(c, "/ak_digest")), 64);
	/* the instance identity from Google's extension */
	assert_true(json_is_true(vt_json_pointer(c, "/gce/decoded")));
	assert_string_equal(claim_str(c, "/gce/zone"), "us-central1-a");
	assert_string_equal(claim_str(c, "/gce/project_id"), "google.com:wuale-gcp-testing");
	assert_string_equal(claim_str(c, "/gce/project_number"), "117478743145");
	assert_string_equal(claim_str(c, "/gce/instance_name"), "cos-test");
	assert_string_equal(claim_str(c, "/gce/instance_id"), "6797026933021542085");
	assert_int_equal(json_integer_value(vt_json_pointer(c, "/gce/security_properties/security_version")), 0);
	assert_true(json_is_true(vt_json_pointer(c, "/gce/security_properties/is_production")));
	/* the event log replayed to the SHA-256 bank: Secure Boot on */
	assert_true(json_is_true(vt_json_pointer(c, "/event_log/secure_boot")));
	assert_true(json_integer_value(vt_json_pointer(c, "/event_log/event_count")) > 10);
	assert_true(json_array_size(vt_json_pointer(c, "/event_log/events")) > 10);
	assert_int_equal(json_array_size(json_object_get(c, "unverified")), 0);
}

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(vt_tee_find("gce-vtpm"), &vt_tee_gce_vtpm);
	assert_non_null(strstr(vt_tee_names(), "gce-vtpm"));
	assert_false(vt_tee_gce_vtpm.insecure);
}

static void test_vectors_verify(void **state)
{
	(void)state;
	size_t n1, n2;
	uint8_t *a = need_vec(VEC_NONCE, &n1), *b = need_vec(VEC_EMPTY, &n2);
	struct vt_err err;
	json_t *c = NULL;
	vt_status rc = verify_pb(a, n1, roots_dir, NOW, N9009, 2, &c, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s: %s", VEC_NONCE, err.field, err.detail);
	check_claims(c, "9009");
	json_decref(c);
	c = NULL;
	/* empty nonce: a binding of 0 bytes must match, and no binding at all */
	rc = verify_pb(b, n2, roots_dir, NOW, (const uint8_t *)"", 0, &c, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s: %s", VEC_EMPTY, err.field, err.detail);
	check_claims(c, "");
	json_decref(c);
	c = NULL;
	assert_int_equal(verify_pb(b, n2, roots_dir, NOW, NULL, 0, NULL, &err), VT_OK);
	assert_int_equal(verify_pb(a, n1, roots_dir, NOW, NULL, 0, NULL, &err), VT_OK);
	/* the window edges: 2021-09-01 and 2051-08-01 */
	assert_int_equal(verify_pb(a, n1, roots_dir, 1630454400, N9009, 2, NULL, &err), VT_OK);
	assert_int_equal(verify_pb(a, n1, roots_dir, 2574460800, N9009, 2, NULL, &err), VT_OK);

	/* the evidence JSON itself */
	char *b64 = vt_b64_encode(a, n1);
	json_t *ev = json_pack("{s:s}", "attestation", b64);
	char *text = json_dumps(ev, 0);
	json_t *loaded = NULL;
	assert_int_equal(vt_tee_gce_vtpm.load_file((const uint8_t *)text, strlen(text), &loaded, &err), VT_OK);
	struct vt_verify_ctx ctx = {.now = NOW, .gce_roots = roots_dir};
	struct vt_binding bind = {.report_data = N9009, .report_data_size = 2};
	assert_int_equal(vt_tee_gce_vtpm.verify(&ctx, loaded, &bind, &c, &err), VT_OK);
	json_decref(c);
	/* unknown member, wrong type, bad base64 */
	json_object_set_new(loaded, "extra", json_true());
	vt_err_clear(&err);
	assert_int_equal(vt_tee_gce_vtpm.verify(&ctx, loaded, &bind, &c, &err), VT_E_PARSE);
	json_object_del(loaded, "extra");
	json_object_set_new(loaded, "attestation", json_integer(1));
	vt_err_clear(&err);
	assert_int_equal(vt_tee_gce_vtpm.verify(&ctx, loaded, &bind, &c, &err), VT_E_PARSE);
	json_object_set_new(loaded, "attestation", json_string("@@@@"));
	vt_err_clear(&err);
	assert_int_equal(vt_tee_gce_vtpm.verify(&ctx, loaded, &bind, &c, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	json_decref(loaded);
	free(text);
	json_decref(ev);
	free(b64);

	/* our own re-encoding of the parsed message verifies too */
	struct vt_gce_attestation *att = calloc(1, sizeof(*att));
	parse_ok(a, n1, att);
	assert_int_equal(att->quote_count, 3);
	assert_int_equal(att->ak_pub_size, 280);
	assert_int_equal(att->event_log_size, 23970);
	assert_int_equal(att->intermediate_count, 0);
	struct pbw w = {0};
	encode(att, 0, &w);
	assert_int_equal(verify_pb(w.p, w.n, roots_dir, NOW, N9009, 2, NULL, &err), VT_OK);
	free(w.p);
	free(att);
	free(a);
	free(b);
}

/* The intermediate may come with the evidence (field 7) instead of the roots. */
static void test_intermediate_in_evidence(void **state)
{
	(void)state;
	size_t n, in;
	uint8_t *a = need_vec(VEC_NONCE, &n), *inter = NULL;
	assert_int_equal(vt_file_read(int2_file, 1u << 16, &inter, &in, NULL), VT_OK);
	/* only the root: the AK certificate's issuer is missing */
	expect(a, n, root_file, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	/* protobuf concatenation appends a field 7 */
	struct pbw w = {0};
	w_raw(&w, a, n);
	w_bytes(&w, 7, inter, in);
	struct vt_err err;
	vt_status rc = verify_pb(w.p, w.n, root_file, NOW, N9009, 2, NULL, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	/* an intermediate is no trust anchor */
	expect(w.p, w.n, int2_file, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "gce_roots");
	/* a non-certificate in field 7 */
	w.n = n;
	w_bytes(&w, 7, "junk", 4);
	expect(w.p, w.n, root_file, NOW, N9009, 2, VT_E_PARSE, VT_STEP_PARSE, "intermediate_certs");
	free(w.p);
	free(inter);
	free(a);
}

/* ------------------------------------------------------------ negatives */

static void test_chain_negatives(void **state)
{
	(void)state;
	size_t n;
	uint8_t *a = need_vec(VEC_NONCE, &n);
	struct vt_err err;
	/* no roots */
	assert_int_equal(verify_pb(a, n, NULL, NOW, N9009, 2, NULL, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(err.detail, "no Google roots configured (--gce-roots)"));
	expect(a, n, "", NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "gce_roots");
	/* another vendor's root */
	expect(a, n, amd_ark, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	/* outside the AK certificate's window (and before the intermediate's) */
	expect(a, n, roots_dir, 1577836800 /* 2020-01-01 */, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	expect(a, n, roots_dir, 1630368000 /* 2021-08-31T00:00Z */, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	expect(a, n, roots_dir, 2577000000 /* 2051-08-30 */, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	/* a roots path that does not exist is a configuration error */
	expect(a, n, "/nonexistent/gce-roots", NOW, N9009, 2, VT_E_USAGE, VT_STEP_CONFIG, "gce_roots");

	struct vt_gce_attestation *att = calloc(1, sizeof(*att));
	parse_ok(a, n, att);
	/* no AK certificate */
	struct pbw w = {0};
	encode(att, ENC_NO_CERT, &w);
	expect(w.p, w.n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	free(w.p);
	/* an AK other than the certified one (last modulus byte changed) */
	uint8_t *m = malloc(n);
	memcpy(m, a, n);
	m[(size_t)(att->ak_pub - a) + att->ak_pub_size - 1] ^= 0x02;
	expect(m, n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_pub");
	/* a flipped byte in the AK certificate's signature */
	memcpy(m, a, n);
	m[(size_t)(att->ak_cert - a) + att->ak_cert_size - 1] ^= 0x01;
	expect(m, n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_CHAIN, "ak_cert");
	/* an AK that is not a restricted signing key (restricted bit cleared:
	 * objectAttributes at offset 4 of TPMT_PUBLIC, 0x00050072) */
	memcpy(m, a, n);
	m[(size_t)(att->ak_pub - a) + 5] ^= 0x01;
	expect(m, n, roots_dir, NOW, N9009, 2, VT_E_PARSE, VT_STEP_PARSE, "ak_pub");
	free(m);
	free(att);
	free(a);
}

static void test_quote_negatives(void **state)
{
	(void)state;
	size_t n;
	uint8_t *a = need_vec(VEC_NONCE, &n);
	struct vt_gce_attestation *att = calloc(1, sizeof(*att));
	parse_ok(a, n, att);
	uint8_t *m = malloc(n);
	for (size_t i = 0; i < att->quote_count; i++) {
		const struct vt_gce_quote *q = &att->quotes[i];
		char fld[32];
		snprintf(fld, sizeof(fld), "quotes[%zu]", i);
		/* last byte of the TPMS_ATTEST (the PCR digest) */
		memcpy(m, a, n);
		m[(size_t)(q->quote - a) + q->quote_size - 1] ^= 0x01;
		expect(m, n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_SIGNATURE, fld);
		/* a byte of the clock info (resetCount) */
		memcpy(m, a, n);
		m[(size_t)(q->quote - a) + q->quote_size - 60] ^= 0x80;
		expect(m, n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_SIGNATURE, fld);
		/* last byte of the signature */
		memcpy(m, a, n);
		m[(size_t)(q->raw_sig - a) + q->raw_sig_size - 1] ^= 0x01;
		expect(m, n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_SIGNATURE, fld);
	}
	/* PCR values changed, through the re-encoder so the right map entry changes */
	for (size_t i = 0; i < att->quote_count; i++) {
		struct vt_gce_attestation *copy = calloc(1, sizeof(*copy));
		*copy = *att;
		copy->quotes[i].pcrs.value[9][0] ^= 0x01;
		struct pbw w = {0};
		encode(copy, 0, &w);
		expect(w.p, w.n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_BINDING, "pcr_digest");
		free(w.p);
		free(copy);
	}
	/* a quoted PCR without a value */
	struct pbw w = {0};
	encode(att, ENC_DROP_PCR5, &w);
	expect(w.p, w.n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_BINDING, NULL);
	free(w.p);
	/* wrong nonce, nonce of another length, a nonce where there is none */
	static const uint8_t wrong[2] = {0x90, 0x08}, longer[3] = {0x90, 0x09, 0x00};
	expect(a, n, roots_dir, NOW, wrong, 2, VT_E_REJECTED, VT_STEP_BINDING, "extra_data");
	expect(a, n, roots_dir, NOW, longer, 3, VT_E_REJECTED, VT_STEP_BINDING, "extra_data");
	size_t n2;
	uint8_t *b = need_vec(VEC_EMPTY, &n2);
	expect(b, n2, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_BINDING, "extra_data");
	/* quotes of two attestations mixed: the same AK signed both, the nonces differ */
	struct vt_gce_attestation *bt = calloc(1, sizeof(*bt));
	parse_ok(b, n2, bt);
	struct vt_gce_attestation *mix = calloc(1, sizeof(*mix));
	*mix = *att;
	mix->quotes[2] = bt->quotes[2];
	w = (struct pbw){0};
	encode(mix, 0, &w);
	expect(w.p, w.n, roots_dir, NOW, NULL, 0, VT_E_REJECTED, VT_STEP_BINDING, "extra_data");
	free(w.p);
	free(mix);
	free(bt);
	free(b);
	free(m);
	free(att);
	free(a);
}

/* Offset (in the log) of the SHA-256 digest of the first extending PCR 0 event. */
static size_t pcr0_digest_offset(const uint8_t *log, size_t n)
{
	struct vt_reader r;
	vt_reader_init(&r, log, n);
	uint32_t pcr, type, cnt, sz;
	assert_int_equal(vt_reader_skip(&r, 4 + 4 + 20, "", NULL), VT_OK);
	assert_int_equal(vt_reader_u32le(&r, &sz, "", NULL), VT_OK);
	assert_int_equal(vt_reader_skip(&r, sz, "", NULL), VT_OK);
	while (vt_reader_remaining(&r) > 12) {
		assert_int_equal(vt_reader_u32le(&r, &pcr, "", NULL), VT_OK);
		assert_int_equal(vt_reader_u32le(&r, &type, "", NULL), VT_OK);
		assert_int_equal(vt_reader_u32le(&r, &cnt, "", NULL), VT_OK);
		size_t found = 0;
		for (uint32_t i = 0; i < cnt; i++) {
			uint16_t alg;
			assert_int_equal(vt_reader_u16le(&r, &alg, "", NULL), VT_OK);
			size_t ds = alg == 0x0004 ? 20 : alg == 0x000B ? 32 : alg == 0x000C ? 48 : 64;
			if (alg == 0x000B)
				found = r.off;
			assert_int_equal(vt_reader_skip(&r, ds, "", NULL), VT_OK);
		}
		assert_int_equal(vt_reader_u32le(&r, &sz, "", NULL), VT_OK);
		assert_int_equal(vt_reader_skip(&r, sz, "", NULL), VT_OK);
		if (pcr == 0 && type != 3 /* EV_NO_ACTION */ && found)
			return found;
	}
	fail_msg("no PCR 0 event in the log");
	return 0;
}

static void test_event_log_negatives(void **state)
{
	(void)state;
	size_t n;
	uint8_t *a = need_vec(VEC_NONCE, &n);
	struct vt_gce_attestation *att = calloc(1, sizeof(*att));
	parse_ok(a, n, att);
	size_t log_off = (size_t)(att->event_log - a);
	uint8_t *m = malloc(n);
	/* a digest extended into PCR 0: the replay no longer gives the quoted PCR 0 */
	memcpy(m, a, n);
	m[log_off + pcr0_digest_offset(att->event_log, att->event_log_size)] ^= 0x01;
	expect(m, n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_BINDING, "event_log.pcr0");
	/* the Spec ID signature ("Spec ID Event03" at data offset 32): not a crypto-agile log */
	memcpy(m, a, n);
	m[log_off + 32] ^= 0x01;
	expect(m, n, roots_dir, NOW, N9009, 2, VT_E_PARSE, VT_STEP_PARSE, "event_log");
	/* without the log: still verifies, no event_log claims */
	struct pbw w = {0};
	encode(att, ENC_NO_LOG, &w);
	json_t *c = NULL;
	struct vt_err err;
	assert_int_equal(verify_pb(w.p, w.n, roots_dir, NOW, N9009, 2, &c, &err), VT_OK);
	assert_null(json_object_get(c, "event_log"));
	json_decref(c);
	free(w.p);
	/* a log but no SHA-256 quote */
	struct vt_gce_attestation *copy = calloc(1, sizeof(*copy));
	*copy = *att;
	copy->quotes[1] = copy->quotes[2];
	copy->quote_count = 2;
	w = (struct pbw){0};
	encode(copy, 0, &w);
	expect(w.p, w.n, roots_dir, NOW, N9009, 2, VT_E_REJECTED, VT_STEP_BINDING, "event_log");
	free(w.p);
	free(copy);
	free(m);
	free(att);
	free(a);
}

static void test_truncations(void **state)
{
	(void)state;
	size_t n;
	uint8_t *a = need_vec(VEC_NONCE, &n);
	for (size_t len = 0; len < 200; len++)
		expect(a, len, roots_dir, NOW, N9009, 2, VT_E_PARSE, VT_STEP_PARSE, NULL);
	/* and a few cuts further in: inside quotes, the log, the certificate */
	for (size_t len = 200; len < n; len += 997) {
		struct vt_err err;
		vt_status rc = verify_pb(a, len, roots_dir, NOW, N9009, 2, NULL, &err);
		assert_int_equal(rc, VT_E_PARSE);
	}
	free(a);
}

/* Every single-bit flip of the first TPMS_ATTEST is rejected. */
static void test_every_attest_bit(void **state)
{
	(void)state;
	size_t n;
	uint8_t *a = need_vec(VEC_NONCE, &n);
	struct vt_gce_attestation *att = calloc(1, sizeof(*att));
	parse_ok(a, n, att);
	size_t off = (size_t)(att->quotes[0].quote - a), qn = att->quotes[0].quote_size;
	uint8_t *m = malloc(n);
	memcpy(m, a, n);
	unsigned parse = 0, sig = 0;
	for (size_t i = 0; i < qn; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			struct vt_err err;
			m[off + i] ^= (uint8_t)(1u << bit);
			vt_status rc = verify_pb(m, n, roots_dir, NOW, N9009, 2, NULL, &err);
			m[off + i] ^= (uint8_t)(1u << bit);
			if (rc == VT_OK)
				fail_msg("flip of bit %u of byte %zu accepted", bit, i);
			if (rc == VT_E_PARSE && err.step == VT_STEP_PARSE)
				parse++;
			else if (rc == VT_E_REJECTED && err.step == VT_STEP_SIGNATURE)
				sig++;
			else
				fail_msg("flip of bit %u of byte %zu: %s/%s (%s)", bit, i, vt_status_name(rc),
					 vt_step_name(err.step), err.detail);
		}
	}
	print_message("%zu bit flips: %u parse, %u signature\n", qn * 8, parse, sig);
	assert_true(sig > 0);
	free(m);
	free(att);
	free(a);
}

/* ------------------------------------------------------------ the reader */

static void parse_fails(const uint8_t *p, size_t n, vt_status code, const char *what)
{
	struct vt_gce_attestation *a = calloc(1, sizeof(*a));
	struct vt_err err;
	vt_err_clear(&err);
	vt_status rc = vt_gce_attestation_parse(p, n, a, &err);
	if (rc != code)
		fail_msg("%s: %s (%s: %s), want %s", what, vt_status_name(rc), err.field, err.detail,
			 vt_status_name(code));
	assert_int_equal(err.step, VT_STEP_PARSE);
	assert_int_equal(a->quote_count, 0);
	free(a);
}

/* A synthetic attestation: 16 bytes of "ak_pub", one quote of the SHA-256
 * bank with PCRs 0 and 7, an event log and a certificate of junk. */
static void synth(struct pbw *w, uint16_t hash, unsigned pcr_a, unsigned pcr_b, size_t vsize)
{
	uint8_t v[64];
	memset(v, 0xAB, sizeof(v));
	struct pbw pm = {0}, qm = {0}, e = {0};
	w_uint(&pm, 1, hash);
	w_uint(&e, 1, pcr_a);
	w_bytes(&e, 2, v, vsize);
	w_bytes(&pm, 2, e.p, e.n);
	e.n = 0;
	w_uint(&e, 1, pcr_b);
	w_bytes(&e, 2, v, vsize);
	w_bytes(&pm, 2, e.p, e.n);
	w_bytes(&qm, 1, "attest", 6);
	w_bytes(&qm, 2, "sig", 3);
	w_bytes(&qm, 3, pm.p, pm.n);
	w_bytes(w, 1, "ak_pub..........", 16);
	w_bytes(w, 2, qm.p, qm.n);
	w_bytes(w, 3, "log", 3);
	w_bytes(w, 6, "cert", 4);
	free(e.p);
	free(pm.p);
	free(qm.p);
}

static void test_proto_reader(void **state)
{
	(void)state;
	struct vt_gce_attestation *a = calloc(1, sizeof(*a));
	struct pbw w = {0};
	synth(&w, VT_TPM_ALG_SHA256, 0, 7, 32);
	parse_ok(w.p, w.n, a);
	assert_int_equal(a->quote_count, 1);
	assert_int_equal(a->quotes[0].pcrs.present, 0x81u);
	assert_int_equal(a->quotes[0].pcrs.digest_size, 32);
	assert_int_equal(a->quotes[0].quote_size, 6);
	assert_memory_equal(a->ak_pub, "ak_pub", 6);
	assert_int_equal(a->event_log_size, 3);
	assert_int_equal(a->ak_cert_size, 4);

	/* unknown fields of every wire type are skipped; known extras flagged */
	size_t base = w.n;
	w_uint(&w, 15, 123456789);
	w_varint(&w, (20u << 3) | 1);
	w_raw(&w, "12345678", 8);
	w_varint(&w, (21u << 3) | 5);
	w_raw(&w, "1234", 4);
	w_bytes(&w, 99, "x", 1);
	w_bytes(&w, 4, "\x0a\x01z", 3);
	w_bytes(&w, 5, "cel", 3);
	w_bytes(&w, 8, "snp", 3);
	parse_ok(w.p, w.n, a);
	assert_true(a->has_instance_info && a->has_canonical_event_log && a->has_tee_attestation);

	/* duplicates of singular fields, and of the oneof */
	w.n = base;
	w_bytes(&w, 1, "again", 5);
	parse_fails(w.p, w.n, VT_E_PARSE, "ak_pub twice");
	w.n = base;
	w_bytes(&w, 6, "again", 5);
	parse_fails(w.p, w.n, VT_E_PARSE, "ak_cert twice");
	w.n = base;
	w_bytes(&w, 8, "snp", 3);
	w_bytes(&w, 9, "tdx", 3);
	parse_fails(w.p, w.n, VT_E_PARSE, "two TEE attestations");
	/* known field, wrong wire type */
	w.n = base;
	w_uint(&w, 3, 1);
	parse_fails(w.p, w.n, VT_E_PARSE, "event_log as varint");
	/* a second quote of the same bank */
	struct pbw two = {0};
	synth(&two, VT_TPM_ALG_SHA256, 0, 7, 32);
	struct vt_gce_attestation *tmp = calloc(1, sizeof(*tmp));
	parse_ok(two.p, two.n, tmp);
	w.n = base;
	{
		/* re-emit the quote field of `w` */
		struct vt_reader r;
		struct vt_pb_field f;
		vt_reader_init(&r, two.p, two.n);
		while (vt_reader_remaining(&r) > 0) {
			assert_int_equal(vt_pb_next(&r, &f, "t", NULL), VT_OK);
			if (f.number == 2)
				w_bytes(&w, 2, f.data, f.size);
		}
	}
	parse_fails(w.p, w.n, VT_E_PARSE, "two SHA-256 quotes");
	free(tmp);
	free(two.p);
	/* one quote per known bank (4), then a repeat: only 4 banks exist, so the
	 * cap of VT_GCE_MAX_QUOTES is never reached by a valid message */
	{
		struct pbw many = {0};
		synth(&many, VT_TPM_ALG_SHA1, 0, 1, 20);
		uint16_t algs[] = {VT_TPM_ALG_SHA256, VT_TPM_ALG_SHA384, VT_TPM_ALG_SHA512};
		size_t sizes[] = {32, 48, 64};
		for (unsigned i = 0; i < 8; i++) {
			struct pbw one = {0};
			synth(&one, algs[i % 3], 0, 1, sizes[i % 3]);
			struct vt_reader r;
			struct vt_pb_field f;
			vt_reader_init(&r, one.p, one.n);
			while (vt_reader_remaining(&r) > 0) {
				assert_int_equal(vt_pb_next(&r, &f, "t", NULL), VT_OK);
				if (f.number == 2)
					w_bytes(&many, 2, f.data, f.size);
			}
			free(one.p);
		}
		struct vt_gce_attestation *four = calloc(1, sizeof(*four));
		struct vt_reader cut;
		struct vt_pb_field cf;
		vt_reader_init(&cut, many.p, many.n);
		size_t quotes = 0, end4 = 0;
		while (vt_reader_remaining(&cut) > 0) {
			assert_int_equal(vt_pb_next(&cut, &cf, "t", NULL), VT_OK);
			if (cf.number == 2 && ++quotes == 4)
				end4 = cut.off;
		}
		parse_ok(many.p, end4, four);
		assert_int_equal(four->quote_count, 4);
		free(four);
		parse_fails(many.p, many.n, VT_E_PARSE, "9 quotes (a bank repeated)");
		free(many.p);
	}

	/* PCR map: index 24, twice the same index, wrong value size, unknown bank */
	struct pbw x = {0};
	synth(&x, VT_TPM_ALG_SHA256, 0, 24, 32);
	parse_fails(x.p, x.n, VT_E_PARSE, "PCR 24");
	x.n = 0;
	synth(&x, VT_TPM_ALG_SHA256, 3, 3, 32);
	parse_fails(x.p, x.n, VT_E_PARSE, "PCR 3 twice");
	x.n = 0;
	synth(&x, VT_TPM_ALG_SHA256, 0, 7, 20);
	parse_fails(x.p, x.n, VT_E_PARSE, "20-byte SHA-256 values");
	x.n = 0;
	synth(&x, 0x0012, 0, 7, 32);
	parse_fails(x.p, x.n, VT_E_PARSE, "bank 0x12");
	x.n = 0;
	synth(&x, 0, 0, 7, 32);
	parse_fails(x.p, x.n, VT_E_PARSE, "bank 0");
	free(x.p);

	/* wire-level errors */
	static const uint8_t over[] = {0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02};
	parse_fails(over, sizeof(over), VT_E_PARSE, "varint above 2^64-1");
	static const uint8_t eleven[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	parse_fails(eleven, sizeof(eleven), VT_E_PARSE, "11-byte varint");
	static const uint8_t field0[] = {0x02, 0x00};
	parse_fails(field0, sizeof(field0), VT_E_PARSE, "field 0");
	static const uint8_t group[] = {0x0B, 0x0C};
	parse_fails(group, sizeof(group), VT_E_PARSE, "group");
	static const uint8_t wt7[] = {0x0F};
	parse_fails(wt7, sizeof(wt7), VT_E_PARSE, "wire type 7");
	static const uint8_t past[] = {0x0A, 0x05, 'a', 'b'};
	parse_fails(past, sizeof(past), VT_E_PARSE, "length past the end");
	static const uint8_t huge[] = {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	parse_fails(huge, sizeof(huge), VT_E_PARSE, "length 2^64-1");
	static const uint8_t fixed_short[] = {0xA1, 0x01, 1, 2, 3};
	parse_fails(fixed_short, sizeof(fixed_short), VT_E_PARSE, "truncated fixed64");
	parse_fails((const uint8_t *)"", 0, VT_E_PARSE, "empty message");
	/* the largest varint is fine; 10-byte varints as field values */
	static const uint8_t max[] = {0x78, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	struct vt_reader r;
	struct vt_pb_field f;
	vt_reader_init(&r, max, sizeof(max));
	assert_int_equal(vt_pb_next(&r, &f, "t", NULL), VT_OK);
	assert_int_equal(f.number, 15);
	assert_true(f.varint == UINT64_MAX);
	/* a quote missing its signature */
	w.n = 0;
	struct pbw q = {0};
	w_bytes(&q, 1, "attest", 6);
	w_bytes(&w, 1, "ak", 2);
	w_bytes(&w, 2, q.p, q.n);
	parse_fails(w.p, w.n, VT_E_PARSE, "quote without raw_sig");
	free(q.p);
	/* no quotes at all */
	w.n = 0;
	w_bytes(&w, 1, "ak", 2);
	parse_fails(w.p, w.n, VT_E_PARSE, "no quotes");
	free(w.p);
	free(a);
}

int main(void)
{
	setenv("TSS2_LOG", "all+none", 0); /* libtss2-mu logs every malformed input */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_proto_reader),
		cmocka_unit_test(test_vectors_verify),
		cmocka_unit_test(test_intermediate_in_evidence),
		cmocka_unit_test(test_chain_negatives),
		cmocka_unit_test(test_quote_negatives),
		cmocka_unit_test(test_event_log_negatives),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_every_attest_bit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
