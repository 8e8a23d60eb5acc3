/*
 * TPM attester against a real software TPM: swtpm is started on 127.0.0.1
 * (two free ports found by binding), the evidence is checked independently
 * (libtss2-mu unmarshalling, OpenSSL signature verification), and swtpm is
 * stopped with SIGTERM + waitpid at the end, also when cases fail (and it
 * dies with this process through PR_SET_PDEATHSIG if the test crashes).
 * Without swtpm the whole program reports one skipped case.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "attester/tpm/tpm_attester.h"
#include "veritee/attester.h"
#include "veritee/json.h"

#define RSA_AK_HANDLE 0x81010003u

static pid_t swtpm_pid = -1;
static int swtpm_port;
static char *state_dir;
static char tcti[128];

/* ------------------------------------------------------------ swtpm */

static bool have_swtpm(void)
{
	return system("command -v swtpm >/dev/null 2>&1") == 0;
}

static void swtpm_stop(void)
{
	if (swtpm_pid <= 0)
		return;
	kill(swtpm_pid, SIGTERM);
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(swtpm_pid, &st, WNOHANG) == swtpm_pid) {
			swtpm_pid = -1;
			return;
		}
		usleep(50 * 1000);
	}
	kill(swtpm_pid, SIGKILL);
	waitpid(swtpm_pid, &st, 0);
	swtpm_pid = -1;
}

static int swtpm_start(void)
{
	state_dir = vt_test_tmpdir();
	if (state_dir == NULL)
		return -1;
	for (int attempt = 0; attempt < 5; attempt++) {
		int p = vt_test_free_port_pair();
		if (p < 0)
			return -1;
		char server[96], ctrl[96], state[300];
		snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", p);
		snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", p + 1);
		snprintf(state, sizeof(state), "dir=%s", state_dir);
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, 1);
				close(fd);
			}
			execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--tpmstate", state,
			       "--flags", "not-need-init,startup-clear", (char *)NULL);
			_exit(127);
		}
		swtpm_pid = pid;
		for (int i = 0; i < 200; i++) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				swtpm_pid = -1;
				break; /* lost a port race, or swtpm failed: try again */
			}
			if (vt_test_port_accepts(p)) {
				swtpm_port = p;
				snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", p);
				return 0;
			}
			usleep(50 * 1000);
		}
		swtpm_stop();
	}
	return -1;
}

static int group_setup(void **state)
{
	(void)state;
	if (swtpm_start() != 0) {
		fprintf(stderr, "cannot start swtpm\n");
		swtpm_stop();
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	swtpm_stop();
	if (state_dir) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
		(void)!system(cmd);
		free(state_dir);
		state_dir = NULL;
	}
	return 0;
}

/* ------------------------------------------------------------ helpers */

static void report_data(uint8_t rd[64], uint8_t seed)
{
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(seed + i * 7);
}

static json_t *attest_ok(const char *alg, uint32_t handle, const uint8_t rd[64])
{
	struct vt_tpm_attest_opts o = {.tcti = tcti, .ak_handle = handle, .ak_alg = alg};
	struct vt_err e = {0};
	json_t *ev = NULL;
	vt_status rc = vt_tpm_attest_evidence(&o, rd, &ev, &e);
	if (rc != VT_OK)
		fail_msg("attest: %s: %s: %s", vt_status_name(rc), e.field, e.detail);
	assert_non_null(ev);
	return ev;
}

static uint8_t *b64(const json_t *obj, const char *key, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, key));
	if (s == NULL)
		fail_msg("member %s missing or not a string", key);
	uint8_t *out = NULL;
	struct vt_err e = {0};
	if (vt_b64_decode(s, strlen(s), &out, len, &e) != VT_OK)
		fail_msg("%s is not standard base64: %s", key, e.detail);
	return out;
}

static const json_t *quote_of(const json_t *ev)
{
	const json_t *q = json_object_get(ev, "tpm_quote");
	assert_true(json_is_object(q));
	return q;
}

static void pcrs_of(const json_t *ev, uint8_t pcrs[24][32])
{
	const json_t *arr = json_object_get(quote_of(ev), "pcrs");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 24);
	for (size_t i = 0; i < 24; i++) {
		const char *h = json_string_value(json_array_get(arr, i));
		assert_non_null(h);
		assert_int_equal(strlen(h), 64);
		for (const char *c = h; *c; c++)
			assert_true((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'));
		struct vt_err e = {0};
		assert_int_equal(vt_hex_decode_fixed(h, pcrs[i], 32, &e), VT_OK);
	}
}

static EVP_PKEY *ak_of(const json_t *ev)
{
	size_t n;
	uint8_t *der = b64(ev, "ak_public", &n);
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)n);
	assert_non_null(k);
	assert_ptr_equal(p, der + n); /* no trailing bytes */
	free(der);
	return k;
}

static void attest_of(const json_t *ev, TPMS_ATTEST *att)
{
	size_t n, off = 0;
	uint8_t *msg = b64(quote_of(ev), "message", &n);
	memset(att, 0, sizeof(*att));
	assert_int_equal(Tss2_MU_TPMS_ATTEST_Unmarshal(msg, n, &off, att), TSS2_RC_SUCCESS);
	assert_int_equal(off, n);
	free(msg);
}

/* The quote's signature, checked with OpenSSL against the exported AK. */
static void verify_signature(const json_t *ev, TPM2_ALG_ID want_alg)
{
	size_t mlen, slen, off = 0;
	uint8_t *msg = b64(quote_of(ev), "message", &mlen);
	uint8_t *sigb = b64(quote_of(ev), "signature", &slen);
	TPMT_SIGNATURE sig;
	memset(&sig, 0, sizeof(sig));
	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Unmarshal(sigb, slen, &off, &sig), TSS2_RC_SUCCESS);
	assert_int_equal(off, slen);
	assert_int_equal(sig.sigAlg, want_alg);
	EVP_PKEY *key = ak_of(ev);
	unsigned char *der = NULL;
	int der_len = 0;
	if (want_alg == TPM2_ALG_ECDSA) {
		assert_int_equal(sig.signature.ecdsa.hash, TPM2_ALG_SHA256);
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig.signature.ecdsa.signatureR.buffer, sig.signature.ecdsa.signatureR.size, NULL);
		BIGNUM *s = BN_bin2bn(sig.signature.ecdsa.signatureS.buffer, sig.signature.ecdsa.signatureS.size, NULL);
		assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
		der_len = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
	} else {
		assert_int_equal(sig.signature.rsassa.hash, TPM2_ALG_SHA256);
		der_len = sig.signature.rsassa.sig.size;
		der = OPENSSL_malloc((size_t)der_len);
		memcpy(der, sig.signature.rsassa.sig.buffer, (size_t)der_len);
	}
	assert_true(der_len > 0);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestVerify(md, der, (size_t)der_len, msg, mlen), 1);
	/* and a flipped message byte must not verify */
	msg[mlen - 1] ^= 1;
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_not_equal(EVP_DigestVerify(md, der, (size_t)der_len, msg, mlen), 1);
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	free(msg);
	free(sigb);
}

/* A direct ESAPI connection for the test's own TPM operations. */
struct conn {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static void conn_open(struct conn *c)
{
	assert_int_equal(Tss2_TctiLdr_Initialize(tcti, &c->tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&c->esys, c->tcti, NULL), TSS2_RC_SUCCESS);
}

static void conn_close(struct conn *c)
{
	Esys_Finalize(&c->esys);
	Tss2_TctiLdr_Finalize(&c->tcti);
}

static void extend_pcr(unsigned pcr, const uint8_t digest[32])
{
	struct conn c;
	conn_open(&c);
	TPML_DIGEST_VALUES v = {.count = 1};
	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(v.digests[0].digest.sha256, digest, 32);
	TSS2_RC r = Esys_PCR_Extend(c.esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &v);
	conn_close(&c);
	assert_int_equal(r, TSS2_RC_SUCCESS);
}

/* ------------------------------------------------------------ cases */

static void test_evidence_shape(void **state)
{
	(void)state;
	uint8_t rd[64];
	report_data(rd, 1);
	json_t *ev = attest_ok(NULL, 0, rd);
	/* exactly Trustee's members: no event log with a simulator TCTI */
	assert_int_equal(json_object_size(ev), 2);
	assert_true(json_is_string(json_object_get(ev, "ak_public")));
	const json_t *q = quote_of(ev);
	assert_int_equal(json_object_size(q), 3);
	assert_true(json_is_string(json_object_get(q, "signature")));
	assert_true(json_is_string(json_object_get(q, "message")));
	uint8_t pcrs[24][32];
	pcrs_of(ev, pcrs);
	size_t n;
	free(b64(q, "signature", &n));
	free(b64(q, "message", &n));
	EVP_PKEY *k = ak_of(ev);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
	char group[32];
	size_t glen = 0;
	assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	EVP_PKEY_free(k);
	json_decref(ev);
}

static void test_quote_binding(void **state)
{
	(void)state;
	uint8_t rd[64];
	report_data(rd, 2);
	json_t *ev = attest_ok("ecc", 0, rd);
	TPMS_ATTEST att;
	attest_of(ev, &att);
	assert_int_equal(att.magic, TPM2_GENERATED_VALUE);
	assert_int_equal(att.type, TPM2_ST_ATTEST_QUOTE);
	assert_int_equal(att.extraData.size, 32);
	assert_memory_equal(att.extraData.buffer, rd, 32);
	const TPML_PCR_SELECTION *sel = &att.attested.quote.pcrSelect;
	assert_int_equal(sel->count, 1);
	assert_int_equal(sel->pcrSelections[0].hash, TPM2_ALG_SHA256);
	assert_int_equal(sel->pcrSelections[0].sizeofSelect, 3);
	static const uint8_t all[3] = {0xff, 0xff, 0xff};
	assert_memory_equal(sel->pcrSelections[0].pcrSelect, all, 3);
	uint8_t pcrs[24][32], digest[32];
	pcrs_of(ev, pcrs);
	unsigned int dl = 0;
	assert_int_equal(EVP_Digest(pcrs, sizeof(pcrs), digest, &dl, EVP_sha256(), NULL), 1);
	assert_int_equal(att.attested.quote.pcrDigest.size, 32);
	assert_memory_equal(att.attested.quote.pcrDigest.buffer, digest, 32);
	verify_signature(ev, TPM2_ALG_ECDSA);
	json_decref(ev);
}

static void test_persistent_ak_reused(void **state)
{
	(void)state;
	uint8_t rd1[64], rd2[64];
	report_data(rd1, 3);
	report_data(rd2, 4);
	json_t *a = attest_ok(NULL, 0, rd1);
	json_t *b = attest_ok(NULL, 0, rd2);
	assert_string_equal(json_string_value(json_object_get(a, "ak_public")),
			    json_string_value(json_object_get(b, "ak_public")));
	assert_string_not_equal(json_string_value(json_object_get(quote_of(a), "message")),
				json_string_value(json_object_get(quote_of(b), "message")));
	/* the AK really is persistent at the default handle */
	struct conn c;
	conn_open(&c);
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC r = Esys_TR_FromTPMPublic(c.esys, VT_TPM_DEFAULT_AK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h);
	conn_close(&c);
	assert_int_equal(r, TSS2_RC_SUCCESS);
	json_decref(a);
	json_decref(b);
}

static void test_pcr_extend_seen(void **state)
{
	(void)state;
	uint8_t rd[64], before[24][32], after[24][32], d[32], want[32];
	report_data(rd, 5);
	json_t *a = attest_ok(NULL, 0, rd);
	pcrs_of(a, before);
	memset(d, 0x5a, sizeof(d));
	extend_pcr(11, d);
	json_t *b = attest_ok(NULL, 0, rd);
	pcrs_of(b, after);
	uint8_t buf[64];
	memcpy(buf, before[11], 32);
	memcpy(buf + 32, d, 32);
	unsigned int dl = 0;
	assert_int_equal(EVP_Digest(buf, sizeof(buf), want, &dl, EVP_sha256(), NULL), 1);
	assert_memory_equal(after[11], want, 32);
	for (int i = 0; i < 24; i++)
		if (i != 11)
			assert_memory_equal(after[i], before[i], 32);
	TPMS_ATTEST ta, tb;
	attest_of(a, &ta);
	attest_of(b, &tb);
	assert_memory_not_equal(ta.attested.quote.pcrDigest.buffer, tb.attested.quote.pcrDigest.buffer, 32);
	verify_signature(b, TPM2_ALG_ECDSA);
	json_decref(a);
	json_decref(b);
}

static void test_rsa_ak(void **state)
{
	(void)state;
	uint8_t rd[64];
	report_data(rd, 6);
	json_t *ev = attest_ok("rsa", RSA_AK_HANDLE, rd);
	EVP_PKEY *k = ak_of(ev);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	EVP_PKEY_free(k);
	TPMS_ATTEST att;
	attest_of(ev, &att);
	assert_memory_equal(att.extraData.buffer, rd, 32);
	verify_signature(ev, TPM2_ALG_RSASSA);
	json_t *again = attest_ok("rsa", RSA_AK_HANDLE, rd);
	assert_string_equal(json_string_value(json_object_get(ev, "ak_public")),
			    json_string_value(json_object_get(again, "ak_public")));
	json_decref(again);
	json_decref(ev);
}

static void test_wrong_key_at_handle(void **state)
{
	(void)state;
	uint8_t rd[64];
	report_data(rd, 7);
	json_t *warm = attest_ok("ecc", 0, rd); /* make sure the ECC AK exists */
	json_decref(warm);
	struct vt_tpm_attest_opts o = {.tcti = tcti, .ak_alg = "rsa"};
	struct vt_err e = {0};
	json_t *ev = NULL;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_E_USAGE);
	assert_null(ev);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	assert_string_equal(e.field, "ak_handle");
	assert_non_null(strstr(e.detail, "0x81010002"));
	assert_non_null(strstr(e.detail, "an ECC restricted signing key"));
}

static void test_bad_options(void **state)
{
	(void)state;
	uint8_t rd[64] = {0};
	struct vt_err e = {0};
	json_t *ev = NULL;
	struct vt_tpm_attest_opts o = {.tcti = tcti, .ak_alg = "dsa"};
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_E_USAGE);
	assert_string_equal(e.field, "ak_alg");
	vt_err_clear(&e);
	o.ak_alg = NULL;
	o.ak_handle = 0x80000001u;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_E_USAGE);
	assert_string_equal(e.field, "ak_handle");
	assert_null(ev);
}

static void test_event_log(void **state)
{
	(void)state;
	uint8_t rd[64];
	report_data(rd, 8);
	char *dir = vt_test_tmpdir();
	assert_non_null(dir);
	char path[512];
	snprintf(path, sizeof(path), "%s/binary_bios_measurements", dir);
	uint8_t log[300];
	for (size_t i = 0; i < sizeof(log); i++)
		log[i] = (uint8_t)(i * 13);
	struct vt_err e = {0};
	assert_int_equal(vt_file_write(path, log, sizeof(log), 0600, &e), VT_OK);

	struct vt_tpm_attest_opts o = {.tcti = tcti, .event_log_path = path};
	json_t *ev = NULL;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_OK);
	size_t n;
	uint8_t *got = b64(ev, "event_log", &n);
	assert_int_equal(n, sizeof(log));
	assert_memory_equal(got, log, sizeof(log));
	free(got);
	json_decref(ev);

	o.event_log_path = "none";
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_OK);
	assert_null(json_object_get(ev, "event_log"));
	json_decref(ev);
	ev = NULL;

	/* a configured log that is missing is an error naming it */
	unlink(path);
	o.event_log_path = path;
	assert_int_not_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_OK);
	assert_null(ev);
	assert_non_null(strstr(e.detail, "binary_bios_measurements"));
	rmdir(dir);
	free(dir);
}

static void test_ek_cert(void **state)
{
	(void)state;
	/* Put a fake EK certificate at the RSA EK certificate index, as a
	 * manufacturer would (platform authorization, empty on swtpm). */
	uint8_t cert[1100];
	for (size_t i = 0; i < sizeof(cert); i++)
		cert[i] = (uint8_t)(i * 31 + 7);
	struct conn c;
	conn_open(&c);
	TPM2B_AUTH auth = {0};
	TPM2B_NV_PUBLIC pub = {0};
	pub.nvPublic.nvIndex = 0x01C00002;
	pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
	pub.nvPublic.attributes = TPMA_NV_PPWRITE | TPMA_NV_PPREAD | TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD |
				  TPMA_NV_NO_DA | TPMA_NV_PLATFORMCREATE;
	pub.nvPublic.dataSize = sizeof(cert);
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC r = Esys_NV_DefineSpace(c.esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
					&pub, &nv);
	for (size_t off = 0; r == TSS2_RC_SUCCESS && off < sizeof(cert); off += 512) {
		TPM2B_MAX_NV_BUFFER d = {.size = (UINT16)(sizeof(cert) - off < 512 ? sizeof(cert) - off : 512)};
		memcpy(d.buffer, cert + off, d.size);
		r = Esys_NV_Write(c.esys, ESYS_TR_RH_PLATFORM, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d,
				  (UINT16)off);
	}
	conn_close(&c);
	assert_int_equal(r, TSS2_RC_SUCCESS);

	uint8_t rd[64];
	report_data(rd, 9);
	struct vt_tpm_attest_opts o = {.tcti = tcti, .include_ek_cert = true};
	struct vt_err e = {0};
	json_t *ev = NULL;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_OK);
	size_t n;
	uint8_t *got = b64(ev, "ek_cert", &n);
	assert_int_equal(n, sizeof(cert));
	assert_memory_equal(got, cert, sizeof(cert));
	free(got);
	json_decref(ev);
	/* without the option, Trustee's shape stays exact */
	o.include_ek_cert = false;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_OK);
	assert_null(json_object_get(ev, "ek_cert"));
	json_decref(ev);
}

static void test_registry_and_env_tcti(void **state)
{
	(void)state;
	uint8_t rd[64];
	report_data(rd, 10);
	char *saved = getenv("VERITEE_TPM_TCTI") ? strdup(getenv("VERITEE_TPM_TCTI")) : NULL;
	setenv("VERITEE_TPM_TCTI", tcti, 1);
	struct vt_attest_opts ao = {0};
	struct vt_err e = {0};
	json_t *ev = NULL;
	vt_status rc = vt_attest("tpm", &ao, rd, &ev, &e);
	if (saved) {
		setenv("VERITEE_TPM_TCTI", saved, 1);
		free(saved);
	} else {
		unsetenv("VERITEE_TPM_TCTI");
	}
	if (rc != VT_OK)
		fail_msg("vt_attest(tpm): %s: %s", e.field, e.detail);
	TPMS_ATTEST att;
	attest_of(ev, &att);
	assert_memory_equal(att.extraData.buffer, rd, 32);
	json_decref(ev);
	/* and the explicit option wins over the environment */
	ao.tpm_tcti = tcti;
	setenv("VERITEE_TPM_TCTI", "nosuchtcti:x", 1);
	rc = vt_attest("tpm", &ao, rd, &ev, &e);
	unsetenv("VERITEE_TPM_TCTI");
	assert_int_equal(rc, VT_OK);
	json_decref(ev);
}

static void test_bad_tcti(void **state)
{
	(void)state;
	uint8_t rd[64] = {0};
	struct vt_tpm_attest_opts o = {.tcti = "nosuchtcti:foo=bar"};
	struct vt_err e = {0};
	json_t *ev = NULL;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_E_USAGE);
	assert_null(ev);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	assert_string_equal(e.field, "tpm_tcti");
	assert_non_null(strstr(e.detail, "nosuchtcti:foo=bar"));
}

static void test_tpm_unreachable(void **state)
{
	(void)state;
	uint8_t rd[64] = {0};
	int p = vt_test_free_port_pair();
	assert_true(p > 0);
	char conf[96];
	snprintf(conf, sizeof(conf), "swtpm:host=127.0.0.1,port=%d", p);
	struct vt_tpm_attest_opts o = {.tcti = conf};
	struct vt_err e = {0};
	json_t *ev = NULL;
	assert_int_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_E_IO);
	assert_null(ev);
	assert_non_null(strstr(e.detail, "not reachable"));
	assert_non_null(strstr(e.detail, conf));

	vt_err_clear(&e);
	o.tcti = "device:/nonexistent/tpmrm9";
	assert_int_not_equal(vt_tpm_attest_evidence(&o, rd, &ev, &e), VT_OK);
	assert_null(ev);
	assert_non_null(strstr(e.detail, "/nonexistent/tpmrm9"));
}

int main(void)
{
	if (!have_swtpm()) {
		printf("1..1\nok 1 - tpm attester # SKIP swtpm is not installed\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evidence_shape),	     cmocka_unit_test(test_quote_binding),
		cmocka_unit_test(test_persistent_ak_reused), cmocka_unit_test(test_pcr_extend_seen),
		cmocka_unit_test(test_rsa_ak),		     cmocka_unit_test(test_wrong_key_at_handle),
		cmocka_unit_test(test_bad_options),	     cmocka_unit_test(test_event_log),
		cmocka_unit_test(test_ek_cert),		     cmocka_unit_test(test_registry_and_env_tcti),
		cmocka_unit_test(test_bad_tcti),	     cmocka_unit_test(test_tpm_unreachable),
	};
	return cmocka_run_group_tests_name("tpm_attest", tests, group_setup, group_teardown);
}
