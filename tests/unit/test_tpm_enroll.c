/*
 * AK enrollment against a software TPM whose EK is certified by a local CA:
 * swtpm_setup (with a swtpm_setup.conf and swtpm-localca config written
 * here, everything under one temporary directory) manufactures the TPM
 * state, EK certificates included; swtpm then serves it on 127.0.0.1 (free
 * ports found by binding) and is stopped with SIGTERM + waitpid at the end,
 * also when cases fail (and dies with this process through
 * PR_SET_PDEATHSIG).  A second swtpm_setup run makes a second, unrelated
 * CA.  Without swtpm/swtpm_setup the program reports one skipped case.
 *
 * The credential made by vt_tpm_make_credential (OpenSSL) is activated by
 * the TPM itself (TPM2_ActivateCredential): that is the check that the
 * KDFa/KDFe/OAEP/CFB/HMAC composition is the TPM's.
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
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/tpm.h"

#define AK_HANDLE 0x81010002u

static pid_t swtpm_pid = -1;
static char *tmp;
static char tcti[128];
static char ca_dir[400], ca_bundle[400], ca_root[400], other_root[400];

/* ------------------------------------------------------------ swtpm */

static bool have_tools(void)
{
	return system("command -v swtpm >/dev/null 2>&1 && command -v swtpm_setup >/dev/null 2>&1 && "
		      "command -v swtpm_localca >/dev/null 2>&1") == 0;
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

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fputs(text, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* swtpm_setup into tmp/<name>-state with a local CA in tmp/<name>-ca. */
static int manufacture(const char *name)
{
	char d[300], path[400], text[1400], cmd[2400];
	snprintf(d, sizeof(d), "%s/%s", tmp, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s-state' '%s-ca'", d, d);
	if (system(cmd) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s-localca.conf", d);
	snprintf(text, sizeof(text),
		 "statedir = %s-ca\nsigningkey = %s-ca/signkey.pem\nissuercert = %s-ca/issuercert.pem\n"
		 "certserial = %s-ca/certserial\n",
		 d, d, d, d);
	if (write_text(path, text) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s-localca.options", d);
	if (write_text(path, "--platform-manufacturer veritee\n--platform-version 2.1\n--platform-model test\n") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s-setup.conf", d);
	snprintf(text, sizeof(text),
		 "create_certs_tool = swtpm_localca\ncreate_certs_tool_config = %s-localca.conf\n"
		 "create_certs_tool_options = %s-localca.options\nactive_pcr_banks = sha256\n",
		 d, d);
	if (write_text(path, text) != 0)
		return -1;
	/* HOME/XDG_CONFIG_HOME point into tmp so that nothing is read from or
	 * written to the real home directory. */
	snprintf(cmd, sizeof(cmd),
		 "HOME='%s' XDG_CONFIG_HOME='%s' swtpm_setup --tpm2 --tpmstate '%s-state' --create-ek-cert "
		 "--create-platform-cert --config '%s-setup.conf' --overwrite >'%s-setup.log' 2>&1",
		 tmp, tmp, d, d, d);
	return system(cmd) == 0 ? 0 : -1;
}

static int swtpm_start(const char *name)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		int p = vt_test_free_port_pair();
		if (p < 0)
			return -1;
		char server[96], ctrl[96], state[400];
		snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", p);
		snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", p + 1);
		snprintf(state, sizeof(state), "dir=%s/%s-state", tmp, name);
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
				break;
			}
			if (vt_test_port_accepts(p)) {
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
	tmp = vt_test_tmpdir();
	if (tmp == NULL)
		return -1;
	if (manufacture("tpm") != 0 || manufacture("other") != 0) {
		fprintf(stderr, "swtpm_setup failed (logs in %s)\n", tmp);
		return -1;
	}
	snprintf(ca_dir, sizeof(ca_dir), "%s/tpm-ca", tmp);
	snprintf(ca_root, sizeof(ca_root), "%s/tpm-ca/swtpm-localca-rootca-cert.pem", tmp);
	snprintf(other_root, sizeof(other_root), "%s/other-ca/swtpm-localca-rootca-cert.pem", tmp);
	snprintf(ca_bundle, sizeof(ca_bundle), "%s/bundle.pem", tmp);
	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "cat '%s' '%s/issuercert.pem' > '%s'", ca_root, ca_dir, ca_bundle);
	if (system(cmd) != 0)
		return -1;
	if (swtpm_start("tpm") != 0) {
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
	if (tmp) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		(void)!system(cmd);
		free(tmp);
		tmp = NULL;
	}
	return 0;
}

/* ------------------------------------------------------------ helpers */

static struct vt_attest_opts opts(void)
{
	struct vt_attest_opts o = {.tpm_tcti = tcti};
	return o;
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

/* What the attester sends to enroll: EK certificate, EK and AK public areas. */
struct start {
	uint8_t *ek_cert, *ek_public, *ak_public;
	size_t ek_cert_len, ek_public_len, ak_public_len;
};

static void start(struct start *s)
{
	struct vt_attest_opts o = opts();
	struct vt_err e = {0};
	json_t *j = NULL;
	vt_status rc = vt_tpm_enroll_start(&o, &j, &e);
	if (rc != VT_OK)
		fail_msg("enroll start: %s: %s: %s", vt_status_name(rc), e.field, e.detail);
	s->ek_cert = b64(j, "ek_cert", &s->ek_cert_len);
	s->ek_public = b64(j, "ek_public", &s->ek_public_len);
	s->ak_public = b64(j, "ak_public", &s->ak_public_len);
	json_decref(j);
}

static void start_free(struct start *s)
{
	free(s->ek_cert);
	free(s->ek_public);
	free(s->ak_public);
}

static EVP_PKEY *ek_key(const struct start *s)
{
	EVP_PKEY *k = NULL;
	struct vt_err e = {0};
	vt_status rc = vt_tpm_ek_verify(s->ek_cert, s->ek_cert_len, ca_bundle, vt_now(), &k, &e);
	if (rc != VT_OK)
		fail_msg("EK chain: %s: %s", vt_status_name(rc), e.detail);
	return k;
}

struct cred {
	uint8_t *blob, *secret;
	size_t blob_len, secret_len;
};

static void make(EVP_PKEY *ek, const uint8_t *name, size_t name_len, const uint8_t *secret, size_t n, struct cred *c)
{
	struct vt_err e = {0};
	vt_status rc = vt_tpm_make_credential(ek, name, name_len, secret, n, &c->blob, &c->blob_len, &c->secret,
					      &c->secret_len, &e);
	if (rc != VT_OK)
		fail_msg("make credential: %s: %s", vt_status_name(rc), e.detail);
}

static vt_status activate(const struct cred *c, struct vt_secret **out, struct vt_err *e)
{
	struct vt_attest_opts o = opts();
	return vt_tpm_activate(&o, c->blob, c->blob_len, c->secret, c->secret_len, out, e);
}

static void cred_free(struct cred *c)
{
	free(c->blob);
	free(c->secret);
}

/* ------------------------------------------------------------ EK chain */

static void test_ek_chain(void **state)
{
	(void)state;
	struct start s;
	start(&s);
	struct vt_err e = {0};
	EVP_PKEY *k = NULL;
	/* bundle file (root + intermediate), and the CA directory */
	assert_int_equal(vt_tpm_ek_verify(s.ek_cert, s.ek_cert_len, ca_bundle, vt_now(), &k, &e), VT_OK);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
	assert_int_equal(vt_tpm_ek_public_match(s.ek_public, s.ek_public_len, k, &e), VT_OK);
	EVP_PKEY_free(k);
	assert_int_equal(vt_tpm_ek_verify(s.ek_cert, s.ek_cert_len, ca_dir, vt_now(), NULL, &e), VT_OK);

	/* another CA; the root without its intermediate; before notBefore */
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_verify(s.ek_cert, s.ek_cert_len, other_root, vt_now(), &k, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_null(k);
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_verify(s.ek_cert, s.ek_cert_len, ca_root, vt_now(), NULL, &e), VT_E_REJECTED);
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_verify(s.ek_cert, s.ek_cert_len, ca_bundle, 1000000000, NULL, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "not yet valid"));

	/* no roots configured: refused, never "any EK" */
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_verify(s.ek_cert, s.ek_cert_len, NULL, vt_now(), NULL, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	/* garbage and trailing bytes */
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_verify(s.ek_public, s.ek_public_len, ca_bundle, vt_now(), NULL, &e), VT_E_PARSE);
	uint8_t *longer = malloc(s.ek_cert_len + 1);
	memcpy(longer, s.ek_cert, s.ek_cert_len);
	longer[s.ek_cert_len] = 0;
	assert_int_equal(vt_tpm_ek_verify(longer, s.ek_cert_len + 1, ca_bundle, vt_now(), NULL, &e), VT_E_PARSE);
	free(longer);

	/* the EK public area must be the certificate's key */
	EVP_PKEY *other = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_RSA2048, &other, &e), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_public_match(s.ek_public, s.ek_public_len, other, &e), VT_E_REJECTED);
	EVP_PKEY_free(other);
	start_free(&s);
}

/* A certificate for `key` signed by `ca_key`/`ca` (NULL: self-signed CA)
 * with one extra extension (oid, critical, DER value) or none. */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *ca_key, X509 *ca, const char *oid, const uint8_t *der, size_t n)
{
	X509 *c = X509_new();
	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), ca ? 2 : 1);
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)(ca ? "ek" : "test root"), -1, -1, 0);
	X509_set_subject_name(c, name);
	X509_set_issuer_name(c, ca ? X509_get_subject_name(ca) : name);
	X509_NAME_free(name);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, ca ? ca : c, c, NULL, NULL, 0);
	X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:FALSE" : "critical,CA:TRUE");
	X509_add_ext(c, bc, -1);
	X509_EXTENSION_free(bc);
	if (oid) {
		ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
		ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(val, der, (int)n);
		X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, val);
		assert_non_null(ext);
		X509_add_ext(c, ext, -1);
		X509_EXTENSION_free(ext);
		ASN1_OCTET_STRING_free(val);
		ASN1_OBJECT_free(obj);
	}
	assert_true(X509_sign(c, ca_key, EVP_sha256()) > 0);
	return c;
}

static uint8_t *to_der(X509 *c, size_t *n)
{
	unsigned char *der = NULL;
	int len = i2d_X509(c, &der);
	assert_true(len > 0);
	*n = (size_t)len;
	return der;
}

/* EK profile critical extensions are accepted, any other unhandled one is not. */
static void test_ek_critical_extensions(void **state)
{
	(void)state;
	struct vt_err e = {0};
	EVP_PKEY *ca_key = NULL, *ek = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P256, &ca_key, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_RSA2048, &ek, &e), VT_OK);
	X509 *root = make_cert(ca_key, ca_key, NULL, NULL, NULL, 0);
	char path[400];
	snprintf(path, sizeof(path), "%s/critical-root.pem", tmp);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, root), 1);
	fclose(f);
	/* subjectDirectoryAttributes: SEQUENCE { SEQUENCE { OID 2.23.133.2.16, SET { SEQUENCE {...} } } } */
	static const uint8_t sda[] = {0x30, 0x16, 0x30, 0x14, 0x06, 0x05, 0x67, 0x81, 0x05, 0x02, 0x10, 0x31, 0x0b,
				      0x30, 0x09, 0x0c, 0x03, 0x32, 0x2e, 0x30, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00};
	static const uint8_t junk[] = {0x05, 0x00};
	struct {
		const char *oid;
		const uint8_t *der;
		size_t n;
		vt_status want;
	} cases[] = {
		{NULL, NULL, 0, VT_OK},
		{"2.5.29.9", sda, sizeof(sda), VT_OK},
		{"1.2.3.4.5", junk, sizeof(junk), VT_E_REJECTED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *leaf = make_cert(ek, ca_key, root, cases[i].oid, cases[i].der, cases[i].n);
		size_t n;
		uint8_t *der = to_der(leaf, &n);
		vt_err_clear(&e);
		vt_status rc = vt_tpm_ek_verify(der, n, path, vt_now(), NULL, &e);
		if (rc != cases[i].want)
			fail_msg("case %zu: %s (%s), want %s", i, vt_status_name(rc), e.detail,
				 vt_status_name(cases[i].want));
		if (rc != VT_OK)
			assert_non_null(strstr(e.detail, "critical"));
		OPENSSL_free(der);
		X509_free(leaf);
	}
	/* a CA certificate is not an EK certificate */
	size_t n;
	uint8_t *der = to_der(root, &n);
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ek_verify(der, n, path, vt_now(), NULL, &e), VT_E_REJECTED);
	OPENSSL_free(der);
	X509_free(root);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ek);
}

/* ------------------------------------------------------------ AK check */

static void test_ak_check(void **state)
{
	(void)state;
	struct start s;
	start(&s);
	struct vt_err e = {0};
	uint8_t name[VT_TPM_NAME_MAX];
	size_t name_len = 0;
	EVP_PKEY *ak = NULL;
	assert_int_equal(vt_tpm_ak_check(s.ak_public, s.ak_public_len, name, &name_len, &ak, &e), VT_OK);
	assert_int_equal(name_len, 34);
	assert_int_equal(EVP_PKEY_get_base_id(ak), EVP_PKEY_EC);

	/* the Name is the TPM's own (ESAPI reads it from the TPM) */
	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *es = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	TPM2B_NAME *tname = NULL;
	assert_int_equal(Tss2_TctiLdr_Initialize(tcti, &tc), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&es, tc, NULL), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_TR_FromTPMPublic(es, AK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_TR_GetName(es, h, &tname), TSS2_RC_SUCCESS);
	assert_int_equal(tname->size, name_len);
	assert_memory_equal(tname->name, name, name_len);
	Esys_Free(tname);
	(void)Esys_TR_Close(es, &h);
	Esys_Finalize(&es);
	Tss2_TctiLdr_Finalize(&tc);

	/* the exported key is the one the evidence carries (same DER SPKI digest) */
	uint8_t rd[64] = {1};
	json_t *ev = NULL;
	struct vt_attest_opts o = opts();
	assert_int_equal(vt_attest("tpm", &o, rd, &ev, &e), VT_OK);
	size_t spki_len;
	uint8_t *spki = b64(ev, "ak_public", &spki_len);
	unsigned char *der = NULL;
	int der_len = i2d_PUBKEY(ak, &der);
	assert_int_equal((size_t)der_len, spki_len);
	assert_memory_equal(der, spki, spki_len);
	OPENSSL_free(der);
	free(spki);
	json_decref(ev);
	EVP_PKEY_free(ak);

	/* attribute variations: not restricted, decrypt, not fixedTPM */
	TPMT_PUBLIC pub;
	size_t off = 0;
	memset(&pub, 0, sizeof(pub));
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Unmarshal(s.ak_public, s.ak_public_len, &off, &pub), TSS2_RC_SUCCESS);
	const TPMA_OBJECT orig = pub.objectAttributes;
	const TPMA_OBJECT clear[] = {TPMA_OBJECT_RESTRICTED, TPMA_OBJECT_FIXEDTPM, TPMA_OBJECT_SIGN_ENCRYPT,
				     TPMA_OBJECT_SENSITIVEDATAORIGIN, TPMA_OBJECT_FIXEDPARENT};
	for (size_t i = 0; i < sizeof(clear) / sizeof(clear[0]) + 1; i++) {
		pub.objectAttributes = i < sizeof(clear) / sizeof(clear[0]) ? orig & ~clear[i] : orig | TPMA_OBJECT_DECRYPT;
		uint8_t buf[sizeof(TPMT_PUBLIC)];
		size_t len = 0;
		assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&pub, buf, sizeof(buf), &len), TSS2_RC_SUCCESS);
		vt_err_clear(&e);
		ak = NULL;
		assert_int_equal(vt_tpm_ak_check(buf, len, name, &name_len, &ak, &e), VT_E_REJECTED);
		assert_null(ak);
		assert_non_null(strstr(e.detail, "not an attestation key"));
	}
	assert_non_null(strstr(e.detail, "with decrypt"));
	/* trailing byte, truncation */
	uint8_t *longer = malloc(s.ak_public_len + 1);
	memcpy(longer, s.ak_public, s.ak_public_len);
	longer[s.ak_public_len] = 0;
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_ak_check(longer, s.ak_public_len + 1, name, &name_len, NULL, &e), VT_E_PARSE);
	assert_int_equal(vt_tpm_ak_check(longer, s.ak_public_len - 1, name, &name_len, NULL, &e), VT_E_PARSE);
	free(longer);
	start_free(&s);
}

/* ------------------------------------------------------------ activation */

static void test_activate_rsa(void **state)
{
	(void)state;
	struct start s;
	start(&s);
	EVP_PKEY *ek = ek_key(&s);
	uint8_t name[VT_TPM_NAME_MAX];
	size_t name_len = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_tpm_ak_check(s.ak_public, s.ak_public_len, name, &name_len, NULL, &e), VT_OK);
	for (size_t n = 1; n <= 32; n += 31) {
		struct vt_secret *want = vt_secret_random(n);
		assert_non_null(want);
		struct cred c;
		make(ek, name, name_len, want->data, want->len, &c);
		struct vt_secret *got = NULL;
		vt_status rc = activate(&c, &got, &e);
		if (rc != VT_OK)
			fail_msg("activate: %s: %s", vt_status_name(rc), e.detail);
		assert_true(vt_secret_eq(got, want));
		vt_secret_free(got);
		cred_free(&c);
		vt_secret_free(want);
	}
	/* a secret longer than a digest is refused */
	uint8_t big[33] = {0};
	struct cred c;
	assert_int_equal(vt_tpm_make_credential(ek, name, name_len, big, sizeof(big), &c.blob, &c.blob_len, &c.secret,
						&c.secret_len, &e),
			 VT_E_USAGE);
	EVP_PKEY_free(ek);
	start_free(&s);
}

static void test_activate_wrong_name(void **state)
{
	(void)state;
	struct start s;
	start(&s);
	EVP_PKEY *ek = ek_key(&s);
	uint8_t name[VT_TPM_NAME_MAX];
	size_t name_len = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_tpm_ak_check(s.ak_public, s.ak_public_len, name, &name_len, NULL, &e), VT_OK);
	name[name_len - 1] ^= 0x01; /* another AK */
	uint8_t secret[32] = {7};
	struct cred c;
	make(ek, name, name_len, secret, sizeof(secret), &c);
	struct vt_secret *got = NULL;
	vt_err_clear(&e);
	assert_int_equal(activate(&c, &got, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_BINDING);
	assert_null(got);
	cred_free(&c);
	EVP_PKEY_free(ek);
	start_free(&s);
}

static void test_activate_tampered(void **state)
{
	(void)state;
	struct start s;
	start(&s);
	EVP_PKEY *ek = ek_key(&s);
	uint8_t name[VT_TPM_NAME_MAX];
	size_t name_len = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_tpm_ak_check(s.ak_public, s.ak_public_len, name, &name_len, NULL, &e), VT_OK);
	uint8_t secret[32] = {9};
	struct cred c;
	make(ek, name, name_len, secret, sizeof(secret), &c);
	struct vt_secret *got = NULL;
	/* each of: HMAC byte, encIdentity byte, encrypted seed byte */
	size_t where[3] = {5, c.blob_len - 1, 0};
	for (int i = 0; i < 3; i++) {
		uint8_t *p = i < 2 ? c.blob + where[i] : c.secret + c.secret_len / 2;
		*p ^= 0x40;
		vt_err_clear(&e);
		vt_status rc = activate(&c, &got, &e);
		if (rc != VT_E_REJECTED)
			fail_msg("tamper %d: %s: %s", i, vt_status_name(rc), e.detail);
		assert_null(got);
		*p ^= 0x40;
	}
	/* and untouched it still works (the TPM state was not disturbed) */
	assert_int_equal(activate(&c, &got, &e), VT_OK);
	assert_memory_equal(got->data, secret, sizeof(secret));
	vt_secret_free(got);
	/* malformed (truncated) blobs never reach the TPM */
	c.blob_len--;
	vt_err_clear(&e);
	assert_int_equal(activate(&c, &got, &e), VT_E_PARSE);
	cred_free(&c);
	EVP_PKEY_free(ek);
	start_free(&s);
}

/* A TCG default low-range ECC P-256 EK (template L-2), made here with
 * TPM2_CreatePrimary, activates a credential vt_tpm_make_credential made
 * for its key (ECDH + KDFe path). */
static void test_activate_ecc_ek(void **state)
{
	(void)state;
	static const uint8_t ek_policy[32] = {
		0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
		0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
	};
	struct start s;
	start(&s); /* makes sure the AK exists */
	uint8_t name[VT_TPM_NAME_MAX];
	size_t name_len = 0;
	struct vt_err e = {0};
	assert_int_equal(vt_tpm_ak_check(s.ak_public, s.ak_public_len, name, &name_len, NULL, &e), VT_OK);

	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *es = NULL;
	assert_int_equal(Tss2_TctiLdr_Initialize(tcti, &tc), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&es, tc, NULL), TSS2_RC_SUCCESS);
	TPM2B_PUBLIC tmpl;
	memset(&tmpl, 0, sizeof(tmpl));
	TPMT_PUBLIC *a = &tmpl.publicArea;
	a->type = TPM2_ALG_ECC;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	a->authPolicy.size = 32;
	memcpy(a->authPolicy.buffer, ek_policy, 32);
	a->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	a->parameters.eccDetail.symmetric.keyBits.aes = 128;
	a->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	a->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	a->unique.ecc.x.size = 32;
	a->unique.ecc.y.size = 32;
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION none = {0};
	ESYS_TR ek = ESYS_TR_NONE, ak = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TPM2B_PUBLIC *ekpub = NULL;
	assert_int_equal(Esys_CreatePrimary(es, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
					    &sens, &tmpl, &outside, &none, &ek, &ekpub, NULL, NULL, NULL),
			 TSS2_RC_SUCCESS);

	/* its key for OpenSSL */
	uint8_t point[65] = {0x04};
	assert_int_equal(ekpub->publicArea.unique.ecc.x.size, 32);
	memcpy(point + 1, ekpub->publicArea.unique.ecc.x.buffer, 32);
	memcpy(point + 33, ekpub->publicArea.unique.ecc.y.buffer, 32);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
	OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *ekkey = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(pctx, &ekkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	/* and its public area is accepted as a default-template EK of that key */
	uint8_t pbuf[sizeof(TPMT_PUBLIC)];
	size_t plen = 0;
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&ekpub->publicArea, pbuf, sizeof(pbuf), &plen), TSS2_RC_SUCCESS);
	assert_int_equal(vt_tpm_ek_public_match(pbuf, plen, ekkey, &e), VT_OK);

	for (int round = 0; round < 2; round++) {
		uint8_t secret[32];
		for (int i = 0; i < 32; i++)
			secret[i] = (uint8_t)(i * 5 + round);
		if (round == 1)
			name[name_len - 1] ^= 1; /* wrong AK name: must fail */
		struct cred c;
		make(ekkey, name, name_len, secret, sizeof(secret), &c);
		TPM2B_ID_OBJECT id;
		TPM2B_ENCRYPTED_SECRET enc;
		size_t off = 0;
		assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(c.blob, c.blob_len, &off, &id), TSS2_RC_SUCCESS);
		off = 0;
		assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(c.secret, c.secret_len, &off, &enc),
				 TSS2_RC_SUCCESS);
		TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
		assert_int_equal(Esys_StartAuthSession(es, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						       ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &sess),
				 TSS2_RC_SUCCESS);
		assert_int_equal(Esys_PolicySecret(es, ESYS_TR_RH_ENDORSEMENT, sess, ESYS_TR_PASSWORD, ESYS_TR_NONE,
						   ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL),
				 TSS2_RC_SUCCESS);
		assert_int_equal(Esys_TR_FromTPMPublic(es, AK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ak),
				 TSS2_RC_SUCCESS);
		TPM2B_DIGEST *out = NULL;
		TSS2_RC r = Esys_ActivateCredential(es, ak, ek, ESYS_TR_PASSWORD, sess, ESYS_TR_NONE, &id, &enc, &out);
		(void)Esys_FlushContext(es, sess);
		(void)Esys_TR_Close(es, &ak);
		if (round == 0) {
			if (r != TSS2_RC_SUCCESS)
				fail_msg("ECC EK activation: 0x%x", (unsigned)r);
			assert_int_equal(out->size, 32);
			assert_memory_equal(out->buffer, secret, 32);
		} else {
			assert_int_not_equal(r, TSS2_RC_SUCCESS);
		}
		Esys_Free(out);
		cred_free(&c);
	}
	(void)Esys_FlushContext(es, ek);
	Esys_Free(ekpub);
	Esys_Finalize(&es);
	Tss2_TctiLdr_Finalize(&tc);
	EVP_PKEY_free(ekkey);
	start_free(&s);
}

/* ------------------------------------------------------------ TPMT_PUBLIC -> key */

static void ec_coords(EVP_PKEY *k, uint8_t x[32], uint8_t y[32])
{
	BIGNUM *bx = NULL, *by = NULL;
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
	assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
	assert_int_equal(BN_bn2binpad(by, y, 32), 32);
	BN_free(bx);
	BN_free(by);
}

static void expect_refused(const TPMT_PUBLIC *a, vt_status code, const char *detail_part)
{
	struct vt_err e;
	EVP_PKEY *k = (EVP_PKEY *)1;
	vt_err_clear(&e);
	assert_int_equal(vt_tpm_public_to_pkey(a, "test_public", &k, &e), code);
	assert_null(k);
	assert_err(&e, code, code == VT_E_CRYPTO ? VT_STEP_CRYPTO : VT_STEP_PARSE);
	assert_string_equal(e.field, "test_public");
	if (strstr(e.detail, detail_part) == NULL)
		fail_msg("detail \"%s\", want it to contain \"%s\"", e.detail, detail_part);
}

/* vt_tpm_public_to_pkey: the key types, sizes and curves it accepts (no TPM needed). */
static void test_public_to_pkey(void **state)
{
	(void)state;
	struct vt_err e;
	EVP_PKEY *k = NULL;
	TPMT_PUBLIC a;

	/* ECC P-256 whose x starts with a zero byte, given without it as a TPM may */
	EVP_PKEY *ec = NULL;
	uint8_t x[32], y[32];
	for (int i = 0; i < 100000; i++) {
		EVP_PKEY_free(ec);
		ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		assert_non_null(ec);
		ec_coords(ec, x, y);
		if (x[0] == 0)
			break;
	}
	assert_int_equal(x[0], 0);
	memset(&a, 0, sizeof(a));
	a.type = TPM2_ALG_ECC;
	a.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	a.unique.ecc.x.size = 31;
	memcpy(a.unique.ecc.x.buffer, x + 1, 31);
	a.unique.ecc.y.size = 32;
	memcpy(a.unique.ecc.y.buffer, y, 32);
	assert_int_equal(vt_tpm_public_to_pkey(&a, "test_public", &k, &e), VT_OK);
	assert_int_equal(EVP_PKEY_eq(k, ec), 1);
	EVP_PKEY_free(k);
	k = NULL;
	a.parameters.eccDetail.curveID = TPM2_ECC_NIST_P521;
	expect_refused(&a, VT_E_REJECTED, "not P-256 or P-384");
	a.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	a.unique.ecc.x.size = 0;
	expect_refused(&a, VT_E_PARSE, "coordinates");
	a.unique.ecc.x.size = 33;
	expect_refused(&a, VT_E_PARSE, "coordinates");
	a.unique.ecc.x.size = 31;
	a.unique.ecc.y.buffer[31] ^= 0x01; /* off the curve */
	expect_refused(&a, VT_E_REJECTED, "not a valid EC key");
	EVP_PKEY_free(ec);

	/* RSA-2048, exponent 0 = 65537 */
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(rsa);
	BIGNUM *n = NULL;
	assert_int_equal(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n), 1);
	memset(&a, 0, sizeof(a));
	a.type = TPM2_ALG_RSA;
	a.parameters.rsaDetail.keyBits = 2048;
	a.unique.rsa.size = 256;
	assert_int_equal(BN_bn2binpad(n, a.unique.rsa.buffer, 256), 256);
	BN_free(n);
	assert_int_equal(vt_tpm_public_to_pkey(&a, "test_public", &k, &e), VT_OK);
	assert_int_equal(EVP_PKEY_eq(k, rsa), 1);
	EVP_PKEY_free(k);
	EVP_PKEY_free(rsa);
	a.parameters.rsaDetail.keyBits = 2049; /* 2049 / 8 is still 256 */
	expect_refused(&a, VT_E_REJECTED, "RSA key of 2049 bits");
	a.parameters.rsaDetail.keyBits = 1024;
	a.unique.rsa.size = 128;
	expect_refused(&a, VT_E_REJECTED, "RSA key of 1024 bits");
	a.parameters.rsaDetail.keyBits = 2048;
	a.unique.rsa.size = 255;
	expect_refused(&a, VT_E_REJECTED, "255-byte modulus");

	a.type = TPM2_ALG_KEYEDHASH;
	expect_refused(&a, VT_E_REJECTED, "not RSA or ECC");
	assert_int_equal(vt_tpm_public_to_pkey(NULL, "test_public", &k, &e), VT_E_USAGE);
}

/* EK keys the default templates do not describe are refused. */
static void test_make_credential_bad_ek(void **state)
{
	(void)state;
	struct vt_err e = {0};
	EVP_PKEY *k = NULL;
	assert_int_equal(vt_key_generate(VT_KEY_P384, &k, &e), VT_OK);
	uint8_t name[34] = {0x00, 0x0b};
	uint8_t secret[16] = {0};
	uint8_t *blob = NULL, *enc = NULL;
	size_t bl = 0, el = 0;
	assert_int_equal(vt_tpm_make_credential(k, name, sizeof(name), secret, sizeof(secret), &blob, &bl, &enc, &el, &e),
			 VT_E_REJECTED);
	assert_null(blob);
	EVP_PKEY_free(k);
	/* a non-SHA-256 name */
	assert_int_equal(vt_key_generate(VT_KEY_P256, &k, &e), VT_OK);
	name[1] = 0x0c;
	assert_int_equal(vt_tpm_make_credential(k, name, sizeof(name), secret, sizeof(secret), &blob, &bl, &enc, &el, &e),
			 VT_E_USAGE);
	EVP_PKEY_free(k);
}

/* The attester reports a missing AK instead of creating one on activation. */
static void test_activate_unreachable(void **state)
{
	(void)state;
	int p = vt_test_free_port_pair();
	char t[96];
	snprintf(t, sizeof(t), "swtpm:host=127.0.0.1,port=%d", p);
	struct vt_attest_opts o = {.tpm_tcti = t};
	uint8_t blob[4] = {0, 2, 0, 0}, enc[2] = {0, 0};
	struct vt_secret *got = NULL;
	struct vt_err e = {0};
	assert_int_equal(vt_tpm_activate(&o, blob, sizeof(blob), enc, sizeof(enc), &got, &e), VT_E_IO);
	assert_null(got);
	json_t *j = NULL;
	assert_int_equal(vt_tpm_enroll_start(&o, &j, &e), VT_E_IO);
	assert_null(j);
}

int main(void)
{
	if (!have_tools()) {
		printf("1..1\nok 1 - tpm enrollment # SKIP swtpm / swtpm_setup / swtpm_localca not installed\n");
		return 0;
	}
	setenv("TSS2_LOG", "all+none", 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ek_chain),	      cmocka_unit_test(test_ek_critical_extensions),
		cmocka_unit_test(test_ak_check),	      cmocka_unit_test(test_activate_rsa),
		cmocka_unit_test(test_activate_wrong_name),   cmocka_unit_test(test_activate_tampered),
		cmocka_unit_test(test_activate_ecc_ek),	      cmocka_unit_test(test_make_credential_bad_ek),
		cmocka_unit_test(test_activate_unreachable),   cmocka_unit_test(test_public_to_pkey),
	};
	return cmocka_run_group_tests_name("tpm_enroll", tests, group_setup, group_teardown);
}
