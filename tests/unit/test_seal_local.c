/*
 * Sealed files with a local key source (docs/sealed-format.md, "Local key
 * sources"): the header extension and its negative cases (an independent
 * byte builder, not the encoder), the INSECURE sim kind, SEV-SNP with a fake
 * firmware behind the derive hook, and the TPM against two real software
 * TPMs (swtpm on 127.0.0.1, started and stopped here; those cases skip,
 * saying so, when swtpm is not installed).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "attester/tpm/tpm_attester.h"
#include "seal/local.h"
#include "veritee/crypto.h"
#include "veritee/seal.h"
#include "veritee/sim.h"

/* ------------------------------------------------------------ helpers */

static int memfd(const void *p, size_t n)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	int fd = dup(fileno(f));
	fclose(f);
	if (n)
		assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void rm_rf(char *dir)
{
	if (dir == NULL)
		return;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
	free(dir);
}

/* Seal pt[n] under h/key into a buffer (header + records). */
static uint8_t *seal_with(const struct vt_seal_header *h, const struct vt_secret *key, const uint8_t *pt, size_t n,
			  size_t *size)
{
	uint8_t hdr[VT_SEAL_MAX_HEADER];
	size_t hs = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_seal_header_encode(h, hdr, sizeof(hdr), &hs, &e), VT_OK);
	int fd = memfd(NULL, 0);
	struct vt_seal_enc *enc = NULL;
	assert_int_equal(vt_seal_enc_new(key, h, hdr, hs, fd, &enc, &e), VT_OK);
	assert_int_equal(vt_seal_enc_write(enc, pt, n, &e), VT_OK);
	assert_int_equal(vt_seal_enc_finish(enc, &e), VT_OK);
	vt_seal_enc_free(enc);
	off_t end = lseek(fd, 0, SEEK_END);
	uint8_t *out = malloc((size_t)end);
	assert_int_equal(pread(fd, out, (size_t)end, 0), end);
	close(fd);
	*size = (size_t)end;
	return out;
}

/* Parse a sealed buffer, recover the key from the local TEE, decrypt. */
static vt_status open_local(const uint8_t *file, size_t size, const struct vt_seal_local_opts *o, uint8_t **out,
			    size_t *out_size, struct vt_err *e)
{
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_secret *key = NULL;
	size_t hs = 0;
	*out = NULL;
	*out_size = 0;
	vt_status rc = vt_seal_header_parse(file, size, h, &hs, e);
	if (rc == VT_OK)
		rc = vt_unseal_local_key(h, o, &key, e);
	if (rc != VT_OK) {
		free(h);
		return rc;
	}
	int fd = memfd(file + hs, size - hs);
	struct vt_seal_dec *d = NULL;
	assert_int_equal(vt_seal_dec_new(key, h, file, hs, fd, &d, e), VT_OK);
	for (bool done = false; !done && rc == VT_OK;) {
		const uint8_t *pt;
		size_t n;
		rc = vt_seal_dec_next(d, &pt, &n, &done, e);
		if (rc == VT_OK && n) {
			*out = realloc(*out, *out_size + n);
			memcpy(*out + *out_size, pt, n);
			*out_size += n;
		}
	}
	vt_seal_dec_free(d);
	vt_secret_free(key);
	close(fd);
	free(h);
	if (rc != VT_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static void expect_err(vt_status got, const struct vt_err *e, vt_status code, vt_step step, const char *field,
		       const char *needle)
{
	if (got != code || (step != (vt_step)-1 && e->step != step) || (field && strcmp(e->field, field) != 0) ||
	    (needle && strstr(e->detail, needle) == NULL))
		fail_msg("got %s step %s field %s (%s); want %s step %s field %s, \"%s\"", vt_status_name(got),
			 vt_step_name(e->step), e->field, e->detail, vt_status_name(code),
			 step == (vt_step)-1 ? "any" : vt_step_name(step), field ? field : "any", needle ? needle : "");
}

/* ------------------------------------------------------------ header bytes
 * An independent encoder of docs/sealed-format.md, so the negative cases
 * can say things the library's encoder refuses to write. */

struct raw {
	uint8_t b[VT_SEAL_MAX_HEADER];
	size_t n;
};

static void raw_put(struct raw *r, const void *p, size_t n)
{
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void raw_u8(struct raw *r, uint8_t v)
{
	raw_put(r, &v, 1);
}

static void raw_u16(struct raw *r, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	raw_put(r, b, 2);
}

static void raw_u32(struct raw *r, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	raw_put(r, b, 4);
}

/* flags, K of N entries named urls[] (index idx), resource; blob when
 * blob_len >= 0 (the u16 then the bytes, blob_len may exceed what follows:
 * `blob_bytes` are written). */
static void raw_header(struct raw *r, uint16_t flags, uint8_t k, uint8_t n, const char *resource,
		       const char *const *urls, uint8_t idx, int blob_len, size_t blob_bytes)
{
	static const uint8_t commit[32] = {1, 2, 3};
	memset(r, 0, sizeof(*r));
	raw_put(r, "VTSEALED", 8);
	raw_u16(r, 1);
	raw_u32(r, 0); /* header_size, below */
	raw_u8(r, 1);
	raw_u8(r, 1);
	raw_u16(r, flags);
	raw_u32(r, 4096);
	for (int i = 0; i < 20; i++)
		raw_u8(r, (uint8_t)(0xa0 + i)); /* file_id, nonce_prefix */
	raw_u8(r, k);
	raw_u8(r, n);
	raw_u16(r, (uint16_t)strlen(resource));
	raw_put(r, resource, strlen(resource));
	for (unsigned i = 0; i < n; i++) {
		raw_u8(r, idx);
		raw_u16(r, (uint16_t)strlen(urls[i]));
		raw_put(r, urls[i], strlen(urls[i]));
		raw_put(r, commit, 32);
	}
	if (blob_len >= 0) {
		raw_u16(r, (uint16_t)blob_len);
		for (size_t i = 0; i < blob_bytes; i++)
			raw_u8(r, (uint8_t)i);
	}
	uint32_t hs = (uint32_t)r->n;
	for (int i = 0; i < 4; i++)
		r->b[10 + i] = (uint8_t)(hs >> (8 * i));
}

static void raw_expect(const struct raw *r, const char *field)
{
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	size_t hs = 0;
	struct vt_err e = {0};
	vt_status rc = vt_seal_header_parse(r->b, r->n, h, &hs, &e);
	if (field == NULL) {
		if (rc != VT_OK)
			fail_msg("want a valid header: %s (%s)", e.field, e.detail);
		/* and it re-encodes to the same bytes */
		uint8_t again[VT_SEAL_MAX_HEADER];
		size_t n = 0;
		assert_int_equal(vt_seal_header_encode(h, again, sizeof(again), &n, &e), VT_OK);
		assert_int_equal(n, r->n);
		assert_memory_equal(again, r->b, n);
	} else {
		expect_err(rc, &e, VT_E_PARSE, VT_STEP_PARSE, field, NULL);
	}
	free(h);
}

static void header_local_rules(void **state)
{
	(void)state;
	const char *const tpm[] = {"local:tpm", "local:tpm"}, *const snp[] = {"local:snp"}, *const sim[] = {"local:sim"};
	const char *const http[] = {"http://127.0.0.1:1"}, *const odd[] = {"local:sgx"};
	struct raw r;
	/* good: each kind, and a version 1 broker header unchanged */
	raw_header(&r, 1, 1, 1, "", tpm, 0, 6, 6), raw_expect(&r, NULL);
	raw_header(&r, 1, 1, 1, "", tpm, 0, 4096, 4096), raw_expect(&r, NULL);
	raw_header(&r, 1, 1, 1, "", snp, 0, 32, 32), raw_expect(&r, NULL);
	raw_header(&r, 1, 1, 1, "", sim, 0, 0, 0), raw_expect(&r, NULL);
	raw_header(&r, 0, 1, 1, "a/b/c", http, 0, -1, 0), raw_expect(&r, NULL);
	/* the flag set without a blob: the header ends where the size would be */
	raw_header(&r, 1, 1, 1, "", sim, 0, -1, 0), raw_expect(&r, "header.local_blob_size");
	/* a blob longer than 4096, longer than what is left */
	raw_header(&r, 1, 1, 1, "", tpm, 0, 4097, 4097), raw_expect(&r, "header.local_blob_size");
	raw_header(&r, 1, 1, 1, "", tpm, 0, 100, 99), raw_expect(&r, "header.local_blob");
	/* a blob whose size the kind does not allow */
	raw_header(&r, 1, 1, 1, "", snp, 0, 31, 31), raw_expect(&r, "header.local_blob");
	raw_header(&r, 1, 1, 1, "", sim, 0, 1, 1), raw_expect(&r, "header.local_blob");
	raw_header(&r, 1, 1, 1, "", tpm, 0, 5, 5), raw_expect(&r, "header.local_blob");
	/* a local entry among others, or K/N other than 1 */
	raw_header(&r, 1, 1, 2, "", tpm, 0, 6, 6), raw_expect(&r, "header.count");
	raw_header(&r, 1, 2, 2, "", tpm, 1, 6, 6), raw_expect(&r, "header.count");
	/* the flag on a broker header; an unknown local kind; another flag */
	raw_header(&r, 1, 1, 1, "a/b/c", http, 0, 6, 6), raw_expect(&r, "header.flags");
	raw_header(&r, 1, 1, 1, "", odd, 0, 6, 6), raw_expect(&r, "header.flags");
	raw_header(&r, 3, 1, 1, "", tpm, 0, 6, 6), raw_expect(&r, "header.flags");
	raw_header(&r, 2, 1, 1, "a/b/c", http, 0, -1, 0), raw_expect(&r, "header.flags");
	/* a local entry without the flag (then the blob bytes are trailing) */
	raw_header(&r, 0, 1, 1, "", sim, 0, -1, 0), raw_expect(&r, "header.brokers.url");
	raw_header(&r, 0, 1, 1, "", sim, 0, 0, 0), raw_expect(&r, "header.brokers.url"); /* a cleared flag */
	raw_header(&r, 0, 1, 1, "a/b/c", http, 0, 0, 0), raw_expect(&r, "header");
	/* a resource or a share index with a local entry */
	raw_header(&r, 1, 1, 1, "a/b/c", sim, 0, 0, 0), raw_expect(&r, "header.resource");
	raw_header(&r, 1, 1, 1, "", sim, 1, 0, 0), raw_expect(&r, "header.brokers.index");
	/* every prefix of a local header is truncated, never a half result */
	raw_header(&r, 1, 1, 1, "", snp, 0, 32, 32);
	for (size_t n = 0; n < r.n; n++) {
		struct vt_seal_header *h = calloc(1, sizeof(*h));
		size_t hs;
		struct vt_err e = {0};
		assert_int_equal(vt_seal_header_parse(r.b, n, h, &hs, &e), VT_E_PARSE);
		free(h);
	}
	/* the encoder refuses what the parser refuses */
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	size_t hs = 0;
	struct vt_err e = {0};
	raw_header(&r, 1, 1, 1, "", snp, 0, 32, 32);
	assert_int_equal(vt_seal_header_parse(r.b, r.n, h, &hs, &e), VT_OK);
	assert_int_equal(vt_seal_header_local(h), VT_SEAL_LOCAL_SNP);
	h->local_blob_size = 33;
	assert_int_equal(vt_seal_header_encode(h, r.b, sizeof(r.b), &hs, &e), VT_E_USAGE);
	assert_string_equal(e.field, "header.local_blob");
	h->local_blob_size = 32;
	h->flags = 0;
	assert_int_equal(vt_seal_header_encode(h, r.b, sizeof(r.b), &hs, &e), VT_E_USAGE);
	/* a broker unseal of a local header is refused */
	h->flags = VT_SEAL_FLAG_LOCAL;
	struct vt_secret *key = NULL;
	struct vt_unseal_opts uo = {0};
	vt_err_clear(&e);
	assert_int_equal(vt_unseal_key(h, &uo, &key, NULL, &e), VT_E_USAGE);
	assert_non_null(strstr(e.detail, "local"));
	free(h);
}

static void option_lists(void **state)
{
	(void)state;
	uint32_t m = 0;
	uint64_t f = 0;
	char buf[128];
	struct vt_err e = {0};
	assert_int_equal(vt_seal_pcrs_parse("7,11", &m, &e), VT_OK);
	assert_int_equal(m, (1u << 7) | (1u << 11));
	vt_seal_pcrs_format(m, buf, sizeof(buf));
	assert_string_equal(buf, "7,11");
	assert_int_equal(vt_seal_pcrs_parse("0,23", &m, &e), VT_OK);
	const char *bad_pcrs[] = {"", "24", "7,", ",7", "7,,11", "7,7", "-1", "a", "7 ,11", "0007", "100"};
	for (size_t i = 0; i < sizeof(bad_pcrs) / sizeof(bad_pcrs[0]); i++)
		if (vt_seal_pcrs_parse(bad_pcrs[i], &m, &e) != VT_E_USAGE)
			fail_msg("PCR list \"%s\" accepted", bad_pcrs[i]);
	assert_int_equal(vt_seal_snp_fields_parse("measurement,policy", &f, &e), VT_OK);
	assert_int_equal(f, VT_SEAL_SNP_FIELDS_DEFAULT);
	assert_int_equal(vt_seal_snp_fields_parse("policy,image-id,family-id,measurement,guest-svn,tcb", &f, &e), VT_OK);
	assert_int_equal(f, VT_SEAL_SNP_FIELDS_ALL);
	vt_seal_snp_fields_format(f, buf, sizeof(buf));
	assert_string_equal(buf, "policy,image-id,family-id,measurement,guest-svn,tcb");
	const char *bad_fields[] = {"", "measurement,", "measurement,measurement", "launch", ",policy"};
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++)
		if (vt_seal_snp_fields_parse(bad_fields[i], &f, &e) != VT_E_USAGE)
			fail_msg("field list \"%s\" accepted", bad_fields[i]);
	assert_int_equal(vt_seal_local_from_name("tpm"), VT_SEAL_LOCAL_TPM);
	assert_int_equal(vt_seal_local_from_name("sgx"), VT_SEAL_LOCAL_NONE);
	assert_int_equal(vt_seal_local_from_url("local:sim", 9), VT_SEAL_LOCAL_SIM);
	assert_int_equal(vt_seal_local_from_url("local:sim", 8), VT_SEAL_LOCAL_NONE);
	assert_int_equal(vt_seal_local_from_url("local:", 6), VT_SEAL_LOCAL_NONE);
}

/* ------------------------------------------------------------ sim */

static void sim_opts(struct vt_seal_local_opts *o, const char *dir)
{
	struct vt_sim_attest_opts so;
	vt_sim_attest_opts_default(&so);
	memset(o, 0, sizeof(*o));
	o->kind = VT_SEAL_LOCAL_SIM;
	o->sim_dir = dir;
	memcpy(o->sim_measurement, so.measurement, 48);
	o->sim_svn = so.svn;
}

static void sim_seal_unseal(void **state)
{
	(void)state;
	char *dir = vt_test_tmpdir(), *other = vt_test_tmpdir(), *empty = vt_test_tmpdir();
	char sim[300], sim2[300], sim3[300];
	snprintf(sim, sizeof(sim), "%s/a/b/sim", dir); /* parents made too */
	snprintf(sim2, sizeof(sim2), "%s/sim", other);
	snprintf(sim3, sizeof(sim3), "%s/none", empty);
	struct vt_seal_local_opts o;
	sim_opts(&o, sim);
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_secret *key = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), VT_OK);
	assert_int_equal(h->flags, VT_SEAL_FLAG_LOCAL);
	assert_string_equal(h->brokers[0].url, "local:sim");
	assert_string_equal(h->resource, "");
	assert_int_equal(h->local_blob_size, 0);
	assert_true(vt_seal_share_matches(h, &h->brokers[0], key));

	uint8_t pt[1000];
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7);
	size_t size = 0, n = 0;
	uint8_t *file = seal_with(h, key, pt, sizeof(pt), &size), *out = NULL;
	assert_int_equal(open_local(file, size, &o, &out, &n, &e), VT_OK);
	assert_int_equal(n, sizeof(pt));
	assert_memory_equal(out, pt, n);
	free(out);

	/* another measurement, another svn: another key, refused by the commitment */
	struct vt_seal_local_opts x = o;
	x.sim_measurement[0] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &x, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.sim",
		   "this workload's sealing key differs (measurement");
	x = o;
	x.sim_svn = 2;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &x, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.sim", "svn 2");
	/* another sim platform key; no sim key at all (unseal never makes one) */
	struct vt_secret *k2 = NULL;
	struct vt_seal_header *h2 = calloc(1, sizeof(*h2));
	x = o;
	x.sim_dir = sim2;
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &x, h2, &k2, &e), VT_OK);
	vt_err_clear(&e);
	expect_err(open_local(file, size, &x, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.sim", NULL);
	x.sim_dir = sim3;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &x, &out, &n, &e), &e, VT_E_USAGE, VT_STEP_CONFIG, "sim_dir",
		   "no sim platform key");
	struct stat st;
	assert_int_not_equal(stat(sim3, &st), 0);
	/* a header byte (the nonce prefix): the key still comes, chunk 0 refuses */
	file[38] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_SIGNATURE, "chunk[0]", NULL);
	/* the file id (HKDF salt and commitment input): another key */
	file[38] ^= 1;
	file[22] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.sim", NULL);
	vt_secret_free(key);
	vt_secret_free(k2);
	free(h);
	free(h2);
	free(file);
	rm_rf(dir);
	rm_rf(other);
	rm_rf(empty);
}

/* ------------------------------------------------------------ SNP (fake firmware) */

/* A firmware stand-in: a chip secret, the guest's fields and its limits;
 * the key depends on exactly what the request selects, as MSG_KEY_REQ says. */
struct fake_snp {
	uint8_t chip[32];
	uint64_t policy;
	uint8_t image_id[16], family_id[16], measurement[48];
	uint32_t vmpl_now, guest_svn;
	uint64_t committed_tcb;
	int calls;
	struct vt_seal_snp_key_req last;
};

static vt_status fake_derive(void *ctx, const struct vt_seal_snp_key_req *q, uint8_t key[32], struct vt_err *err)
{
	struct fake_snp *f = ctx;
	f->calls++;
	f->last = *q;
	if (q->vmpl < f->vmpl_now || q->guest_svn > f->guest_svn || q->tcb_version > f->committed_tcb)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "key_rsp.status", "firmware status 0x16 (invalid parameters)");
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	uint64_t sel = q->guest_field_select;
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(c, f->chip, 32);
	EVP_DigestUpdate(c, &q->vmpl, 4);
	EVP_DigestUpdate(c, &sel, 8);
	if (sel & VT_SEAL_SNP_FIELD_POLICY)
		EVP_DigestUpdate(c, &f->policy, 8);
	if (sel & VT_SEAL_SNP_FIELD_IMAGE_ID)
		EVP_DigestUpdate(c, f->image_id, 16);
	if (sel & VT_SEAL_SNP_FIELD_FAMILY_ID)
		EVP_DigestUpdate(c, f->family_id, 16);
	if (sel & VT_SEAL_SNP_FIELD_MEASUREMENT)
		EVP_DigestUpdate(c, f->measurement, 48);
	if (sel & VT_SEAL_SNP_FIELD_GUEST_SVN)
		EVP_DigestUpdate(c, &q->guest_svn, 4);
	if (sel & VT_SEAL_SNP_FIELD_TCB_VERSION)
		EVP_DigestUpdate(c, &q->tcb_version, 8);
	EVP_DigestFinal_ex(c, key, &n);
	EVP_MD_CTX_free(c);
	return VT_OK;
}

static void fake_init(struct fake_snp *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 32; i++)
		f->chip[i] = (uint8_t)(0x5a ^ i);
	f->policy = 0x30000;
	memset(f->measurement, 0x42, 48);
	f->guest_svn = 3;
	f->committed_tcb = 0x1b00000000000004ull;
}

static void snp_opts(struct vt_seal_local_opts *o, struct fake_snp *f)
{
	memset(o, 0, sizeof(*o));
	o->kind = VT_SEAL_LOCAL_SNP;
	o->snp_derive = fake_derive;
	o->snp_derive_ctx = f;
}

static void snp_blob_rules(void **state)
{
	(void)state;
	struct vt_seal_snp_key_req q = {.guest_field_select = 0x18, .vmpl = 2, .guest_svn = 5}, p;
	uint8_t b[VT_SEAL_SNP_BLOB_SIZE];
	struct vt_err e = {0};
	vt_seal_snp_blob_encode(&q, b);
	/* the kernel's struct snp_derived_key_req, little-endian */
	const uint8_t want[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0};
	assert_memory_equal(b, want, 32);
	assert_int_equal(vt_seal_snp_blob_parse(b, 32, &p, &e), VT_OK);
	assert_memory_equal(&p.guest_field_select, &q.guest_field_select, 8);
	assert_int_equal(p.vmpl, 2);
	assert_int_equal(vt_seal_snp_blob_parse(b, 31, &p, &e), VT_E_PARSE);
	/* one defect each */
	const struct {
		size_t at;
		uint8_t v;
		const char *field;
	} bad[] = {
		{0, 1, "local_blob.root_key_select"},	 {4, 1, "local_blob.reserved"},
		{8, 0, "local_blob.guest_field_select"}, {8, 0x40, "local_blob.guest_field_select"},
		{15, 1, "local_blob.guest_field_select"}, {16, 4, "local_blob.vmpl"},
		{24, 1, "local_blob.tcb_version"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t t[32];
		memcpy(t, b, 32);
		t[bad[i].at] = bad[i].v;
		vt_err_clear(&e);
		expect_err(vt_seal_snp_blob_parse(t, 32, &p, &e), &e, VT_E_PARSE, VT_STEP_PARSE, bad[i].field, NULL);
	}
	q.guest_field_select = VT_SEAL_SNP_FIELD_MEASUREMENT; /* svn 5 without its bit */
	vt_seal_snp_blob_encode(&q, b);
	vt_err_clear(&e);
	expect_err(vt_seal_snp_blob_parse(b, 32, &p, &e), &e, VT_E_PARSE, VT_STEP_PARSE, "local_blob.guest_svn", NULL);

	/* The data key: HKDF-SHA-256(derived, salt file_id, info label || blob),
	 * recomputed here through the other OpenSSL HKDF interface. */
	uint8_t derived[32], fid[16], info[19 + 32], expect[32];
	for (int i = 0; i < 32; i++)
		derived[i] = (uint8_t)(i * 3);
	memset(fid, 0x77, sizeof(fid));
	q.guest_svn = 0;
	vt_seal_snp_blob_encode(&q, b);
	memcpy(info, "veritee/seal/snp/v1", 19);
	memcpy(info + 19, b, 32);
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = sizeof(expect);
	assert_non_null(pc);
	assert_int_equal(EVP_PKEY_derive_init(pc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_hkdf_salt(pc, fid, 16), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_hkdf_key(pc, derived, 32), 1);
	assert_int_equal(EVP_PKEY_CTX_add1_hkdf_info(pc, info, sizeof(info)), 1);
	assert_int_equal(EVP_PKEY_derive(pc, expect, &outlen), 1);
	EVP_PKEY_CTX_free(pc);
	struct vt_secret *k = NULL;
	assert_int_equal(vt_seal_snp_data_key(derived, fid, b, &k, &e), VT_OK);
	assert_memory_equal(k->data, expect, 32);
	vt_secret_free(k);
}

static void snp_fake_firmware(void **state)
{
	(void)state;
	struct fake_snp f;
	struct vt_seal_local_opts o;
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_secret *key = NULL;
	struct vt_err e = {0};
	fake_init(&f);
	snp_opts(&o, &f);
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), VT_OK);
	assert_string_equal(h->brokers[0].url, "local:snp");
	assert_int_equal(h->local_blob_size, VT_SEAL_SNP_BLOB_SIZE);
	assert_int_equal(f.last.guest_field_select, VT_SEAL_SNP_FIELDS_DEFAULT);
	assert_int_equal(f.last.vmpl, 0);
	uint8_t pt[300] = {1, 2, 3};
	size_t size = 0, n = 0;
	uint8_t *file = seal_with(h, key, pt, sizeof(pt), &size), *out = NULL;
	/* the same guest: opens; an unselected field changed: still opens */
	assert_int_equal(open_local(file, size, &o, &out, &n, &e), VT_OK);
	assert_memory_equal(out, pt, sizeof(pt));
	free(out);
	f.image_id[0] = 9;
	assert_int_equal(open_local(file, size, &o, &out, &n, &e), VT_OK);
	free(out);
	/* another measurement or policy: refused, naming what the key binds */
	f.measurement[5] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.snp",
		   "sealing key differs (derived from policy,measurement at VMPL 0)");
	f.measurement[5] ^= 1;
	f.policy |= 1u << 19; /* debug */
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.snp", NULL);
	f.policy &= ~(1u << 19);
	/* another chip */
	f.chip[0] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.snp", NULL);
	f.chip[0] ^= 1;
	/* the blob asks for VMPL 1: another key (and the header changed) */
	struct vt_seal_header *h2 = calloc(1, sizeof(*h2));
	size_t hs = 0;
	assert_int_equal(vt_seal_header_parse(file, size, h2, &hs, &e), VT_OK);
	h2->local_blob[16] = 1;
	struct vt_secret *k2 = NULL;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(h2, &o, &k2, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.snp", "VMPL 1");
	free(h2);
	free(file);
	vt_secret_free(key);

	/* guest SVN and TCB: the current values go into the blob and the request */
	o.snp_fields = VT_SEAL_SNP_FIELD_MEASUREMENT | VT_SEAL_SNP_FIELD_GUEST_SVN | VT_SEAL_SNP_FIELD_TCB_VERSION;
	o.snp_vmpl = 2;
	o.snp_have_current = true;
	o.snp_guest_svn = f.guest_svn;
	o.snp_tcb_version = f.committed_tcb;
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), VT_OK);
	struct vt_seal_snp_key_req q;
	assert_int_equal(vt_seal_snp_blob_parse(h->local_blob, h->local_blob_size, &q, &e), VT_OK);
	assert_int_equal(q.guest_svn, 3);
	assert_true(q.tcb_version == f.committed_tcb);
	assert_int_equal(q.vmpl, 2);
	f.calls = 0;
	assert_int_equal(vt_unseal_local_key(h, &o, &k2, &e), VT_OK);
	assert_int_equal(f.calls, 1);
	assert_true(f.last.tcb_version == f.committed_tcb && f.last.guest_svn == 3);
	assert_true(vt_secret_eq(k2, key));
	vt_secret_free(k2);
	/* a firmware rolled back below the sealed TCB refuses the request */
	f.committed_tcb--;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(h, &o, &k2, &e), &e, VT_E_IO, VT_STEP_IO, NULL, "0x16");
	vt_secret_free(key);
	free(h);
}

static void snp_no_device(void **state)
{
	(void)state;
	struct vt_seal_local_opts o = {.kind = VT_SEAL_LOCAL_SNP, .snp_dev = "/nonexistent/sev-guest"};
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_secret *key = NULL;
	struct vt_err e = {0};
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), &e, VT_E_USAGE, VT_STEP_CONFIG,
		   "snp", "needs an SEV-SNP guest: /nonexistent/sev-guest is absent");
	assert_null(key);
	o.snp_fields = VT_SEAL_SNP_FIELD_TCB_VERSION; /* would need a report first */
	vt_err_clear(&e);
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), &e, VT_E_USAGE, VT_STEP_CONFIG,
		   "snp", "needs an SEV-SNP guest");
	free(h);
}

/* ------------------------------------------------------------ TPM (swtpm) */

struct swtpm {
	pid_t pid;
	int port;
	char *dir;
	char tcti[128];
};
static struct swtpm tpm_a = {.pid = -1}, tpm_b = {.pid = -1};
static bool have_swtpm;

static void swtpm_stop(struct swtpm *s)
{
	if (s->pid > 0) {
		int st;
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 100 && waitpid(s->pid, &st, WNOHANG) != s->pid; i++) {
			usleep(50 * 1000);
			if (i == 99) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &st, 0);
			}
		}
		s->pid = -1;
	}
	rm_rf(s->dir);
	s->dir = NULL;
}

static int swtpm_start(struct swtpm *s)
{
	if ((s->dir = vt_test_tmpdir()) == NULL)
		return -1;
	for (int attempt = 0; attempt < 5; attempt++) {
		int p = vt_test_free_port_pair();
		if (p < 0)
			return -1;
		char server[96], ctrl[96], state[300];
		snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", p);
		snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", p + 1);
		snprintf(state, sizeof(state), "dir=%s", s->dir);
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0)
				dup2(fd, 1), dup2(fd, 2), close(fd);
			execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--tpmstate", state,
			       "--flags", "not-need-init,startup-clear", (char *)NULL);
			_exit(127);
		}
		s->pid = pid;
		for (int i = 0; i < 200; i++) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				s->pid = -1;
				break; /* lost a port race: try again */
			}
			if (vt_test_port_accepts(p)) {
				s->port = p;
				snprintf(s->tcti, sizeof(s->tcti), "swtpm:host=127.0.0.1,port=%d", p);
				return 0;
			}
			usleep(50 * 1000);
		}
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->pid = -1;
		}
	}
	return -1;
}

static int tpm_setup(void **state)
{
	(void)state;
	have_swtpm = system("command -v swtpm >/dev/null 2>&1") == 0;
	if (!have_swtpm)
		return 0;
	if (swtpm_start(&tpm_a) != 0 || swtpm_start(&tpm_b) != 0) {
		fprintf(stderr, "cannot start swtpm\n");
		swtpm_stop(&tpm_a);
		swtpm_stop(&tpm_b);
		return -1;
	}
	return 0;
}

static int tpm_teardown(void **state)
{
	(void)state;
	swtpm_stop(&tpm_a);
	swtpm_stop(&tpm_b);
	return 0;
}

#define NEED_SWTPM()                                                                           \
	do {                                                                                   \
		if (!have_swtpm) {                                                             \
			fprintf(stderr, "# swtpm is not installed (Debian: swtpm): TPM case skipped\n"); \
			skip();                                                                \
		}                                                                              \
	} while (0)

/* Transient objects and sessions a TPM holds (swtpm has no resource
 * manager: a handle we forgot to flush stays). */
static unsigned tpm_leftovers(const char *tcti)
{
	TSS2_TCTI_CONTEXT *t = NULL;
	ESYS_CONTEXT *esys = NULL;
	unsigned n = 0;
	assert_int_equal(Tss2_TctiLdr_Initialize(tcti, &t), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&esys, t, NULL), TSS2_RC_SUCCESS);
	/* transient objects, loaded sessions, saved sessions (literals: tss2's
	 * TPM2_TRANSIENT_FIRST shifts 0x80 into an int's sign bit) */
	const TPM2_HANDLE firsts[] = {0x80000000u, 0x02000000u, 0x03000000u};
	for (size_t i = 0; i < 3; i++) {
		TPMS_CAPABILITY_DATA *cap = NULL;
		TPMI_YES_NO more;
		assert_int_equal(Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
						    firsts[i], 64, &more, &cap),
				 TSS2_RC_SUCCESS);
		for (UINT32 k = 0; k < cap->data.handles.count; k++)
			if ((cap->data.handles.handle[k] >> 24) == (firsts[i] >> 24))
				n++;
		Esys_Free(cap);
	}
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&t);
	return n;
}

static void tpm_opts(struct vt_seal_local_opts *o, const char *tcti, uint32_t pcrs)
{
	memset(o, 0, sizeof(*o));
	o->kind = VT_SEAL_LOCAL_TPM;
	o->tpm_tcti = tcti;
	o->tpm_pcrs = pcrs;
}

static void extend(const char *tcti, unsigned pcr)
{
	uint8_t d[32];
	struct vt_err e = {0};
	memset(d, (int)(0x30 + pcr), sizeof(d));
	if (vt_tpm_pcr_extend(tcti, pcr, d, &e) != VT_OK)
		fail_msg("PCR_Extend: %s", e.detail);
}

#define PCRS_7_11 ((1u << 7) | (1u << 11))

static void tpm_seal_unseal(void **state)
{
	(void)state;
	NEED_SWTPM();
	struct vt_seal_local_opts o;
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_secret *key = NULL, *got = NULL;
	struct vt_err e = {0};
	tpm_opts(&o, tpm_a.tcti, PCRS_7_11);
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), VT_OK);
	assert_string_equal(h->brokers[0].url, "local:tpm");
	/* the blob starts with one TPMS_PCR_SELECTION: SHA-256, 3 bytes, PCRs 7 and 11 */
	const uint8_t sel[6] = {0x00, 0x0b, 0x03, 0x80, 0x08, 0x00};
	assert_memory_equal(h->local_blob, sel, 6);
	assert_true(h->local_blob_size > 6 + 64 + 40);
	/* the data key is not in the file (it is inside the TPM's encrypted private part) */
	for (size_t i = 0; i + 8 <= h->local_blob_size; i++)
		assert_false(memcmp(h->local_blob + i, key->data, 8) == 0);

	uint8_t pt[2000];
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i ^ 0x5c);
	size_t size = 0, n = 0;
	uint8_t *file = seal_with(h, key, pt, sizeof(pt), &size), *out = NULL;
	assert_int_equal(open_local(file, size, &o, &out, &n, &e), VT_OK);
	assert_int_equal(n, sizeof(pt));
	assert_memory_equal(out, pt, n);
	free(out);
	assert_int_equal(vt_unseal_local_key(h, &o, &got, &e), VT_OK);
	assert_true(vt_secret_eq(got, key));
	vt_secret_free(got);
	/* the TCTI from the environment, as the tpm attester takes it */
	struct vt_seal_local_opts env = o;
	env.tpm_tcti = NULL;
	setenv("VERITEE_TPM_TCTI", tpm_a.tcti, 1);
	assert_int_equal(vt_unseal_local_key(h, &env, &got, &e), VT_OK);
	unsetenv("VERITEE_TPM_TCTI");
	vt_secret_free(got);

	/* PCR 11 extended: the TPM refuses, and the message names the PCR */
	extend(tpm_a.tcti, 11);
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_POLICY, "local.tpm",
		   "PCR 11 changed since sealing (policy check failed)");
	/* a PCR outside the selection does not matter for a new seal */
	vt_secret_free(key);
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), VT_OK);
	extend(tpm_a.tcti, 12);
	assert_int_equal(vt_unseal_local_key(h, &o, &got, &e), VT_OK);
	vt_secret_free(got);
	extend(tpm_a.tcti, 7);
	extend(tpm_a.tcti, 11);
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(h, &o, &got, &e), &e, VT_E_REJECTED, VT_STEP_POLICY, "local.tpm",
		   "PCRs 7,11 changed since sealing");
	/* another TPM: TPM2_Load refuses the object */
	vt_err_clear(&e);
	struct vt_seal_local_opts b = o;
	b.tpm_tcti = tpm_b.tcti;
	expect_err(vt_unseal_local_key(h, &b, &got, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm",
		   "sealed by a different TPM");
	/* no TPM there */
	struct vt_seal_local_opts dead = o;
	char tcti[128];
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", tpm_b.port + 7);
	dead.tpm_tcti = tcti;
	got = NULL;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(h, &dead, &got, &e), &e, VT_E_IO, (vt_step)-1, NULL, NULL);
	vt_err_clear(&e);
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &dead, h, &got, &e), &e, VT_E_IO, (vt_step)-1,
		   NULL, NULL);
	assert_null(got);
	/* nothing left behind in either TPM, failures included */
	assert_int_equal(tpm_leftovers(tpm_a.tcti), 0);
	assert_int_equal(tpm_leftovers(tpm_b.tcti), 0);
	vt_secret_free(key);
	free(file);
	free(h);
}

/* One byte of a local:tpm file changed, and the step that refuses it. */
static void tpm_tampered_blob(void **state)
{
	(void)state;
	NEED_SWTPM();
	struct vt_seal_local_opts o;
	struct vt_seal_header *h = calloc(1, sizeof(*h)), *t = calloc(1, sizeof(*t)), *h2 = calloc(1, sizeof(*h2));
	struct vt_secret *key = NULL, *k2 = NULL, *got = NULL;
	struct vt_err e = {0};
	tpm_opts(&o, tpm_a.tcti, PCRS_7_11);
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), VT_OK);
	const size_t pub_at = 6 + 2 * 32, last = h->local_blob_size - 1;

	/* a PCR value the file records: our policy check, before the TPM */
	*t = *h;
	t->local_blob[6 + 40] ^= 1;
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_REJECTED, VT_STEP_PARSE, "local_blob.pcr_values",
		   "was modified");
	/* the selection (PCR 7 -> 6): the same check */
	*t = *h;
	t->local_blob[3] = 0x40;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_REJECTED, VT_STEP_PARSE, "local_blob.pcr_values", NULL);
	/* the object's attributes (byte 9 of TPMT_PUBLIC: the low attribute
	 * byte; 0x40 = userWithAuth): refused before the TPM sees it */
	*t = *h;
	t->local_blob[pub_at + 2 + 7] |= 0x40;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_REJECTED, VT_STEP_PARSE, "local_blob.public", NULL);
	/* the private part: TPM2_Load refuses (integrity) */
	*t = *h;
	t->local_blob[last] ^= 1;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm", "TPM2_Load");
	/* the public's size, the private's size: tss2-mu's bounded parse */
	*t = *h;
	t->local_blob[pub_at] ^= 0x10;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_PARSE, VT_STEP_PARSE, "local_blob.public", NULL);
	*t = *h;
	t->local_blob_size--;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_PARSE, VT_STEP_PARSE, "local_blob.private", NULL);
	/* a whole blob of another seal on the same TPM, same PCRs: the TPM
	 * unseals, the commitment refuses the value */
	assert_int_equal(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h2, &k2, &e), VT_OK);
	*t = *h;
	memcpy(t->local_blob, h2->local_blob, h2->local_blob_size);
	t->local_blob_size = h2->local_blob_size;
	vt_err_clear(&e);
	expect_err(vt_unseal_local_key(t, &o, &got, &e), &e, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm",
		   "not this file's key");
	/* In a file, the PCR-value byte: the header is authenticated too, but
	 * our policy check refuses first; a byte outside the blob (nonce
	 * prefix): the TPM unseals, chunk 0 refuses. */
	uint8_t pt[100] = {7};
	size_t size = 0, n = 0, hs = 0;
	uint8_t hdr[VT_SEAL_MAX_HEADER];
	assert_int_equal(vt_seal_header_encode(h, hdr, sizeof(hdr), &hs, &e), VT_OK);
	uint8_t *file = seal_with(h, key, pt, sizeof(pt), &size), *out = NULL;
	file[hs - h->local_blob_size + 6] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_PARSE, "local_blob.pcr_values",
		   NULL);
	file[hs - h->local_blob_size + 6] ^= 1;
	file[38] ^= 1;
	vt_err_clear(&e);
	expect_err(open_local(file, size, &o, &out, &n, &e), &e, VT_E_REJECTED, VT_STEP_SIGNATURE, "chunk[0]", NULL);
	file[38] ^= 1;
	assert_int_equal(open_local(file, size, &o, &out, &n, &e), VT_OK);
	free(out);
	assert_int_equal(tpm_leftovers(tpm_a.tcti), 0);
	vt_secret_free(key);
	vt_secret_free(k2);
	free(file);
	free(h);
	free(h2);
	free(t);
}

static void tpm_bad_opts(void **state)
{
	(void)state;
	struct vt_seal_local_opts o;
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_secret *key = NULL;
	struct vt_err e = {0};
	tpm_opts(&o, "swtpm:host=127.0.0.1,port=1", 0);
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), &e, VT_E_USAGE, VT_STEP_CONFIG,
		   "pcrs", NULL);
	o.tpm_pcrs = 1u << 24;
	vt_err_clear(&e);
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), &e, VT_E_USAGE, VT_STEP_CONFIG,
		   "pcrs", NULL);
	o.tpm_pcrs = 1;
	o.tpm_tcti = "nosuchtcti:foo";
	vt_err_clear(&e);
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), &e, VT_E_USAGE, VT_STEP_CONFIG,
		   "tpm_tcti", NULL);
	o.kind = VT_SEAL_LOCAL_NONE;
	vt_err_clear(&e);
	expect_err(vt_seal_local_header_new(VT_SEAL_PAYLOAD_FILE, 256, &o, h, &key, &e), &e, VT_E_USAGE, VT_STEP_CONFIG,
		   "local", NULL);
	assert_null(key);
	free(h);
}

int main(void)
{
	/* tss2 logs every refused command and malformed input to stderr */
	setenv("TSS2_LOG", "all+none", 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_local_rules), cmocka_unit_test(option_lists),
		cmocka_unit_test(sim_seal_unseal),    cmocka_unit_test(snp_blob_rules),
		cmocka_unit_test(snp_fake_firmware),  cmocka_unit_test(snp_no_device),
		cmocka_unit_test(tpm_bad_opts),	      cmocka_unit_test(tpm_seal_unseal),
		cmocka_unit_test(tpm_tampered_blob),
	};
	return cmocka_run_group_tests_name("seal_local", tests, tpm_setup, tpm_teardown);
}
