/*
 * TPM 2.0 quote verification and TCG event-log replay.
 *
 * Real quotes are made at test time: a swtpm on 127.0.0.1 (free ports,
 * stopped in the group teardown) and tpm2-tools create an EK, ECDSA /
 * RSASSA / RSA-PSS AKs and quotes.  Without swtpm or tpm2-tools those cases
 * are skipped.  Real cloud quotes (Azure vTPM with the HCL AK, GCE with the
 * AK certificate key) come from the shared vectors.  The synthetic event
 * log's expected PCRs were computed independently with Python hashlib.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "testutil.h"

#include "veritee/verifier.h"
#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/tpm.h"

extern char **environ;

static const char NONCE_HEX[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static struct {
	bool ok;         /* swtpm running and quotes made */
	char *dir;       /* working directory */
	pid_t pid;       /* swtpm */
	char why[256];   /* skip reason */
} S;

/* ------------------------------------------------------------ helpers */

static int port_free(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 0;
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static int pick_ports(void)
{
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int i = 0; i < 200; i++) {
		int p = 20000 + rand() % 30000;
		if (port_free(p) && port_free(p + 1))
			return p;
	}
	return -1;
}

static int can_connect(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static int have_tool(const char *name)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Run a shell command in S.dir, output to S.dir/log. */
static int run(const char *fmt, ...) VT_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
	char inner[2048], cmd[2400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(inner, sizeof(inner), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && { %s ; } >>log 2>&1", S.dir, inner);
	return system(cmd);
}

#define FLUSH "tpm2_flushcontext -t && tpm2_flushcontext -s"

static uint8_t *read_in(const char *name, size_t *n)
{
	char path[512];
	uint8_t *p = NULL;
	snprintf(path, sizeof(path), "%s/%s", S.dir, name);
	if (vt_file_read(path, 1u << 20, &p, n, NULL) != VT_OK)
		return NULL;
	return p;
}

static EVP_PKEY *load_ak(const char *alg)
{
	char path[512];
	EVP_PKEY *k = NULL;
	snprintf(path, sizeof(path), "%s/ak_%s.pem", S.dir, alg);
	if (vt_key_load_pem(path, false, &k, NULL) != VT_OK)
		return NULL;
	return k;
}

static int make_quote(const char *alg, const char *key_alg, const char *scheme, const char *pcrs)
{
	return run("tpm2_createak -C ek.ctx -c ak_%s.ctx -G %s -g sha256 -s %s -u ak_%s.pem -f pem -n ak_%s.name && " FLUSH
		   " && tpm2_quote -c ak_%s.ctx -l sha256:%s -q %s -m msg_%s -s sig_%s -o pcrs_%s.bin -g sha256 "
		   "--scheme %s && " FLUSH " && tpm2_pcrread sha256:%s -o vals_%s.bin",
		   alg, key_alg, scheme, alg, alg, alg, pcrs, NONCE_HEX, alg, alg, alg, scheme, pcrs, alg);
}

static int group_setup(void **state)
{
	(void)state;
	const char *tools[] = {"swtpm", "tpm2_createek", "tpm2_createak", "tpm2_quote", "tpm2_pcrextend",
			       "tpm2_pcrread", "tpm2_flushcontext"};
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (!have_tool(tools[i])) {
			snprintf(S.why, sizeof(S.why), "%s not installed", tools[i]);
			return 0;
		}
	}
	S.dir = vt_test_tmpdir();
	int port = pick_ports();
	if (S.dir == NULL || port < 0) {
		snprintf(S.why, sizeof(S.why), "no temp dir or free port");
		return 0;
	}
	char state_dir[600], srv[64], ctrl[64], tss[96], logf[600];
	snprintf(state_dir, sizeof(state_dir), "dir=%s", S.dir);
	snprintf(srv, sizeof(srv), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
	snprintf(logf, sizeof(logf), "file=%s/swtpm.log", S.dir);
	char *argv[] = {"swtpm", "socket", "--tpm2", "--server", srv, "--ctrl", ctrl, "--tpmstate", state_dir,
			"--flags", "not-need-init,startup-clear", "--log", logf, NULL};
	if (posix_spawnp(&S.pid, "swtpm", NULL, NULL, argv, environ) != 0) {
		S.pid = 0;
		snprintf(S.why, sizeof(S.why), "cannot start swtpm");
		return 0;
	}
	for (int i = 0; i < 100 && !can_connect(port); i++)
		usleep(50000);
	snprintf(tss, sizeof(tss), "swtpm:host=127.0.0.1,port=%d", port);
	setenv("TPM2TOOLS_TCTI", tss, 1);
	if (run("tpm2_createek -c ek.ctx -G rsa -u ek.pub && " FLUSH) != 0 ||
	    run("tpm2_pcrextend 7:sha256=%s", "0000000000000000000000000000000000000000000000000000000000000001") != 0 ||
	    make_quote("ecdsa", "ecc", "ecdsa", "0,1,2,3,7") != 0 || make_quote("rsassa", "rsa", "rsassa", "0,1,2,3,7") != 0 ||
	    make_quote("rsapss", "rsa", "rsapss", "0,1,2,3,7") != 0 || make_quote("ecdsa2", "ecc", "ecdsa", "0,1,2,3,7") != 0 ||
	    /* PCR 8 gets two events of the small event log built in test_evidence_event_log */
	    run("tpm2_pcrextend 8:sha256=%s && tpm2_pcrextend 8:sha256=%s",
		"1111111111111111111111111111111111111111111111111111111111111111",
		"2222222222222222222222222222222222222222222222222222222222222222") != 0 ||
	    make_quote("evlog", "ecc", "ecdsa", "0,7,8") != 0) {
		snprintf(S.why, sizeof(S.why), "tpm2-tools failed (see %s/log)", S.dir);
		return 0;
	}
	S.ok = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (S.pid > 0) {
		kill(S.pid, SIGTERM);
		int st;
		while (waitpid(S.pid, &st, 0) < 0 && errno == EINTR)
			;
		S.pid = 0;
	}
	if (S.dir != NULL) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
		(void)!system(cmd);
		free(S.dir);
	}
	return 0;
}

#define NEED_TPM()                                                   \
	do {                                                         \
		if (!S.ok) {                                         \
			print_message("skipped: %s\n", S.why);       \
			skip();                                      \
		}                                                    \
	} while (0)

static char *b64_of(const uint8_t *p, size_t n)
{
	char *s = vt_b64_encode(p, n);
	assert_non_null(s);
	return s;
}

/* The tpm evidence JSON for quote `alg` (optionally with an event log). */
static json_t *evidence_for(const char *alg, const uint8_t *log, size_t log_size)
{
	char name[64];
	size_t msg_n, sig_n, vals_n;
	snprintf(name, sizeof(name), "msg_%s", alg);
	uint8_t *msg = read_in(name, &msg_n);
	snprintf(name, sizeof(name), "sig_%s", alg);
	uint8_t *sig = read_in(name, &sig_n);
	snprintf(name, sizeof(name), "vals_%s.bin", alg);
	uint8_t *vals = read_in(name, &vals_n);
	EVP_PKEY *ak = load_ak(alg);
	assert_non_null(msg);
	assert_non_null(sig);
	assert_non_null(vals);
	assert_non_null(ak);
	unsigned char *der = NULL;
	int der_n = i2d_PUBKEY(ak, &der);
	assert_true(der_n > 0);
	json_t *pcrs = json_array();
	for (size_t i = 0; i + 32 <= vals_n; i += 32) {
		char *h = vt_hex_encode(vals + i, 32);
		json_array_append_new(pcrs, json_string(h));
		free(h);
	}
	char *akb = b64_of(der, (size_t)der_n), *mb = b64_of(msg, msg_n), *sb = b64_of(sig, sig_n);
	json_t *ev = json_pack("{s:s, s:{s:s, s:s, s:o}}", "ak_public", akb, "tpm_quote", "signature", sb, "message", mb,
			       "pcrs", pcrs);
	assert_non_null(ev);
	if (log != NULL) {
		char *lb = b64_of(log, log_size);
		json_object_set_new(ev, "event_log", json_string(lb));
		free(lb);
	}
	free(akb);
	free(mb);
	free(sb);
	OPENSSL_free(der);
	EVP_PKEY_free(ak);
	free(msg);
	free(sig);
	free(vals);
	return ev;
}

static vt_status verify_ev(const json_t *ev, const uint8_t *rd, size_t rd_n, json_t **claims, struct vt_err *err)
{
	struct vt_verify_ctx ctx = {.now = vt_now()};
	struct vt_binding b = {.report_data = rd, .report_data_size = rd_n};
	const struct vt_tee *tee = vt_tee_find("tpm");
	assert_non_null(tee);
	vt_err_clear(err);
	return tee->verify(&ctx, ev, rd ? &b : NULL, claims, err);
}

static void nonce_bytes(uint8_t out[32])
{
	assert_int_equal(vt_hex_decode_fixed(NONCE_HEX, out, 32, NULL), VT_OK);
}

/* ------------------------------------------------------------ swtpm quotes */

static void check_alg_verifies(const char *alg)
{
	uint8_t rd[64] = {0};
	nonce_bytes(rd);
	json_t *ev = evidence_for(alg, NULL, 0), *claims = NULL;
	struct vt_err err;
	vt_status rc = verify_ev(ev, rd, sizeof(rd), &claims, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s/%s %s: %s", alg, vt_status_name(err.code), vt_step_name(err.step), err.field, err.detail);
	assert_string_equal(json_string_value(json_object_get(claims, "report_data")), NONCE_HEX);
	assert_non_null(json_object_get(claims, "pcr07"));
	assert_null(json_object_get(claims, "pcr04"));
	assert_string_equal(json_string_value(json_object_get(claims, "ak_public")),
			    json_string_value(json_object_get(ev, "ak_public")));
	assert_int_equal(strlen(json_string_value(json_object_get(claims, "ak_digest"))), 64);
	json_decref(claims);
	json_decref(ev);
}

static void test_ecdsa_verifies(void **state)
{
	(void)state;
	NEED_TPM();
	check_alg_verifies("ecdsa");
}

static void test_rsassa_verifies(void **state)
{
	(void)state;
	NEED_TPM();
	check_alg_verifies("rsassa");
}

static void test_rsapss_verifies(void **state)
{
	(void)state;
	NEED_TPM();
	check_alg_verifies("rsapss");
}

static void test_wrong_nonce(void **state)
{
	(void)state;
	NEED_TPM();
	uint8_t rd[32];
	nonce_bytes(rd);
	rd[31] ^= 1;
	json_t *ev = evidence_for("ecdsa", NULL, 0), *claims = NULL;
	struct vt_err err;
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "extra_data");
	/* a shorter expected value is zero-padded to 32 bytes: still no match */
	assert_int_equal(verify_ev(ev, rd, 16, &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	json_decref(ev);
}

static void test_pcr_changed(void **state)
{
	(void)state;
	NEED_TPM();
	uint8_t rd[32];
	nonce_bytes(rd);
	json_t *ev = evidence_for("rsassa", NULL, 0), *claims = NULL;
	json_t *pcrs = json_object_get(json_object_get(ev, "tpm_quote"), "pcrs");
	json_array_set_new(pcrs, 4, json_string("0000000000000000000000000000000000000000000000000000000000000002"));
	struct vt_err err;
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "pcr_digest");
	assert_non_null(strstr(err.detail, "pcr digest"));
	/* one PCR value missing: parse */
	json_array_remove(pcrs, 4);
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_E_PARSE);
	json_decref(ev);
}

static void test_other_ak(void **state)
{
	(void)state;
	NEED_TPM();
	uint8_t rd[32];
	nonce_bytes(rd);
	json_t *ev = evidence_for("ecdsa", NULL, 0), *other = evidence_for("ecdsa2", NULL, 0), *claims = NULL;
	json_object_set(ev, "ak_public", json_object_get(other, "ak_public"));
	struct vt_err err;
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	/* an RSA AK for an ECDSA signature */
	json_t *rsa = evidence_for("rsassa", NULL, 0);
	json_object_set(ev, "ak_public", json_object_get(rsa, "ak_public"));
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	/* RSASSA quote verified with the RSA-PSS AK (same type, other key) */
	json_t *pss = evidence_for("rsapss", NULL, 0);
	json_object_set(rsa, "ak_public", json_object_get(pss, "ak_public"));
	assert_int_equal(verify_ev(rsa, rd, sizeof(rd), &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	json_decref(pss);
	json_decref(rsa);
	json_decref(other);
	json_decref(ev);
}

struct raw_quote {
	uint8_t *msg, *sig, *vals;
	size_t msg_n, sig_n, vals_n;
	EVP_PKEY *ak;
	struct vt_tpm_pcrs pcrs;
};

static void raw_load(const char *alg, struct raw_quote *q)
{
	char name[64];
	memset(q, 0, sizeof(*q));
	snprintf(name, sizeof(name), "msg_%s", alg);
	q->msg = read_in(name, &q->msg_n);
	snprintf(name, sizeof(name), "sig_%s", alg);
	q->sig = read_in(name, &q->sig_n);
	snprintf(name, sizeof(name), "vals_%s.bin", alg);
	q->vals = read_in(name, &q->vals_n);
	q->ak = load_ak(alg);
	assert_non_null(q->msg);
	assert_non_null(q->sig);
	assert_non_null(q->ak);
	assert_int_equal(q->vals_n, 5 * 32);
	static const unsigned idx[5] = {0, 1, 2, 3, 7};
	q->pcrs.hash_alg = VT_TPM_ALG_SHA256;
	q->pcrs.digest_size = 32;
	for (int i = 0; i < 5; i++) {
		memcpy(q->pcrs.value[idx[i]], q->vals + 32 * i, 32);
		q->pcrs.present |= 1u << idx[i];
	}
}

static void raw_free(struct raw_quote *q)
{
	free(q->msg);
	free(q->sig);
	free(q->vals);
	EVP_PKEY_free(q->ak);
}

static void test_tampered_attest_byte(void **state)
{
	(void)state;
	NEED_TPM();
	struct raw_quote q;
	raw_load("ecdsa", &q);
	uint8_t rd[32];
	nonce_bytes(rd);
	struct vt_err err;
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_quote_verify(q.ak, q.msg, q.msg_n, q.sig, q.sig_n, &q.pcrs, rd, 32, NULL, &err), VT_OK);
	/* clock: magic 4, type 2, name 2+34, extraData 2+32 -> offset 76 */
	q.msg[80] ^= 0x01;
	assert_int_equal(vt_tpm_quote_verify(q.ak, q.msg, q.msg_n, q.sig, q.sig_n, &q.pcrs, rd, 32, NULL, &err),
			 VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	q.msg[80] ^= 0x01;
	/* a flipped signature byte (in s) */
	q.sig[q.sig_n - 1] ^= 0x01;
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_quote_verify(q.ak, q.msg, q.msg_n, q.sig, q.sig_n, &q.pcrs, rd, 32, NULL, &err),
			 VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_SIGNATURE);
	raw_free(&q);
}

static void exhaustive(const char *alg)
{
	struct raw_quote q;
	raw_load(alg, &q);
	uint8_t rd[32];
	nonce_bytes(rd);
	size_t rejected = 0;
	for (size_t i = 0; i < q.msg_n; i++) {
		struct vt_err err;
		q.msg[i] ^= 0xFF;
		vt_err_clear(&err);
		vt_status rc = vt_tpm_quote_verify(q.ak, q.msg, q.msg_n, q.sig, q.sig_n, &q.pcrs, rd, 32, NULL, &err);
		q.msg[i] ^= 0xFF;
		if (rc == VT_OK)
			fail_msg("%s: flipping TPMS_ATTEST byte %zu was accepted", alg, i);
		rejected++;
	}
	print_message("%s: %zu of %zu flipped TPMS_ATTEST bytes rejected\n", alg, rejected, q.msg_n);
	assert_int_equal(rejected, q.msg_n);
	raw_free(&q);
}

static void test_every_attest_byte(void **state)
{
	(void)state;
	NEED_TPM();
	exhaustive("ecdsa");
	exhaustive("rsassa");
	exhaustive("rsapss");
}

static void test_truncated_oversized(void **state)
{
	(void)state;
	NEED_TPM();
	struct raw_quote q;
	raw_load("rsassa", &q);
	struct vt_tpm_quote pq;
	struct vt_err err;
	assert_int_equal(vt_tpm_attest_parse(q.msg, q.msg_n, &pq, &err), VT_OK);
	assert_int_equal(pq.type, VT_TPM_ST_ATTEST_QUOTE);
	assert_int_equal(pq.extra_data_size, 32);
	assert_int_equal(pq.bank_count, 1);
	assert_int_equal(pq.banks[0].hash_alg, VT_TPM_ALG_SHA256);
	assert_int_equal(pq.banks[0].mask, 0x8Fu);
	for (size_t n = 0; n < q.msg_n; n++) {
		vt_err_clear(&err);
		assert_int_not_equal(vt_tpm_attest_parse(q.msg, n, &pq, &err), VT_OK);
		assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	}
	uint8_t *big = calloc(1, q.msg_n + 1);
	memcpy(big, q.msg, q.msg_n);
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_attest_parse(big, q.msg_n + 1, &pq, &err), VT_E_PARSE);
	assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
	free(big);
	/* truncated / oversized signature */
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_signature_verify(q.ak, q.msg, q.msg_n, q.sig, q.sig_n - 1, NULL, &err), VT_E_PARSE);
	uint8_t *bs = calloc(1, q.sig_n + 1);
	memcpy(bs, q.sig, q.sig_n);
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_signature_verify(q.ak, q.msg, q.msg_n, bs, q.sig_n + 1, NULL, &err), VT_E_PARSE);
	free(bs);
	/* wrong magic / type */
	q.msg[0] = 0xFE;
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_attest_parse(q.msg, q.msg_n, &pq, &err), VT_E_PARSE);
	assert_string_equal(err.field, "tpm_quote.message.magic");
	raw_free(&q);
}

static void test_cli_shape_and_bad_json(void **state)
{
	(void)state;
	json_t *ev = json_pack("{s:s, s:{s:s, s:s, s:[]}, s:i}", "ak_public", "AA==", "tpm_quote", "signature", "AA==",
			       "message", "AA==", "pcrs", "extra", 1);
	json_t *claims = NULL;
	struct vt_err err;
	assert_int_equal(verify_ev(ev, NULL, 0, &claims, &err), VT_E_PARSE);
	json_object_del(ev, "extra");
	assert_int_equal(verify_ev(ev, NULL, 0, &claims, &err), VT_E_PARSE);
	assert_string_equal(err.field, "ak_public");
	json_decref(ev);
	const struct vt_tee *tee = vt_tee_find("tpm");
	json_t *out = NULL;
	const char *txt = "{\"ak_public\":\"\",\"tpm_quote\":{}}";
	assert_int_equal(tee->load_file((const uint8_t *)txt, strlen(txt), &out, &err), VT_OK);
	json_decref(out);
	assert_int_equal(tee->load_file((const uint8_t *)"[1]", 3, &out, &err), VT_E_PARSE);
}

/* A trusted AK (--ak-digest / tees.tpm.ak_digest) is checked; without one
 * `veritee verify` does not call the quote trusted. */
static void test_trusted_ak(void **state)
{
	(void)state;
	NEED_TPM();
	uint8_t rd[64] = {0};
	nonce_bytes(rd);
	json_t *ev = evidence_for("ecdsa", NULL, 0), *claims = NULL;
	struct vt_err err;
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_OK);
	const char *digest = json_string_value(json_object_get(claims, "ak_digest"));
	char good[65], bad[65];
	snprintf(good, sizeof(good), "%s", digest);
	snprintf(bad, sizeof(bad), "%s", digest);
	bad[0] = bad[0] == '0' ? '1' : '0';
	json_decref(claims);
	const struct vt_tee *tee = vt_tee_find("tpm");
	struct vt_binding b = {.report_data = rd, .report_data_size = sizeof(rd)};
	for (int i = 0; i < 2; i++) {
		json_t *t = json_pack("{s:{s:s}}", "tpm", "ak_digest", i ? bad : good);
		struct vt_verifier_settings vs = {.tees = t, .flags = VT_VERIFIER_ONLY_NAMED};
		struct vt_verifier *v = NULL;
		assert_int_equal(vt_verifier_new(&vs, &v, NULL), VT_OK);
		vt_err_clear(&err);
		claims = NULL;
		vt_status rc = vt_verifier_verify(v, tee, ev, &b, vt_now(), NULL, &claims, &err);
		if (i == 0) {
			assert_int_equal(rc, VT_OK);
		} else {
			assert_int_equal(rc, VT_E_REJECTED);
			assert_int_equal(err.step, VT_STEP_CHAIN);
			assert_string_equal(err.field, "ak_public");
			assert_null(claims);
		}
		json_decref(claims);
		vt_verifier_free(v);
		json_decref(t);
	}
	/* the CLI's question: no anchor given -> not trusted, with the reason */
	json_t *none = json_object(), *with = json_pack("{s:s}", "ak_digest", good);
	assert_non_null(tee->cli_untrusted);
	assert_non_null(strstr(tee->cli_untrusted(none), "--ak-digest"));
	assert_null(tee->cli_untrusted(with));
	json_decref(none);
	json_decref(with);
	json_decref(ev);
}

/* ------------------------------------------------------------ event log */

struct logbuf {
	uint8_t b[8192];
	size_t n;
};

static void put(struct logbuf *l, const void *p, size_t n)
{
	assert_true(l->n + n <= sizeof(l->b));
	memcpy(l->b + l->n, p, n);
	l->n += n;
}

static void put32(struct logbuf *l, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(l, b, 4);
}

static void put16(struct logbuf *l, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(l, b, 2);
}

/* Spec ID event listing SHA-1 and SHA-256 (or only SHA-256). */
static void spec_id(struct logbuf *l, bool with_sha1)
{
	uint8_t zero[20] = {0};
	put32(l, 0);
	put32(l, 3);
	put(l, zero, 20);
	put32(l, with_sha1 ? 37 : 33);
	put(l, "Spec ID Event03\0", 16);
	put32(l, 0);
	uint8_t ver[4] = {0, 2, 0, 2};
	put(l, ver, 4);
	put32(l, with_sha1 ? 2 : 1);
	if (with_sha1) {
		put16(l, 0x0004);
		put16(l, 20);
	}
	put16(l, 0x000B);
	put16(l, 32);
	uint8_t vendor = 0;
	put(l, &vendor, 1);
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	size_t dl;
	uint8_t d[EVP_MAX_MD_SIZE];
	assert_int_equal(vt_digest(EVP_sha256(), p, n, d, &dl, NULL), VT_OK);
	memcpy(out, d, 32);
}

static void event(struct logbuf *l, bool with_sha1, uint32_t pcr, uint32_t type, const uint8_t d256[32],
		  const void *data, size_t n)
{
	uint8_t sha1[20];
	memset(sha1, 0xAB, sizeof(sha1));
	put32(l, pcr);
	put32(l, type);
	put32(l, with_sha1 ? 2 : 1);
	if (with_sha1) {
		put16(l, 0x0004);
		put(l, sha1, 20);
	}
	put16(l, 0x000B);
	put(l, d256, 32);
	put32(l, (uint32_t)n);
	put(l, data, n);
}

/* The synthetic log; expected PCRs computed with Python hashlib:
 * PCR0 = 0..03 (StartupLocality 3), S-CRTM version, separator;
 * PCR7 = SecureBoot=1 variable, separator; PCR4 = boot app, separator;
 * PCR8 = GRUB command line; PCR5 = separator with a wrong digest;
 * PCR10 = an "IMA" action event. */
static const char *const EXPECTED[24] = {
	[0] = "6ef88caea18efa1870d184b77fcacdda9e3e48f4e6138baf167c9c9091aea5e1",
	[4] = "e212aecc25c815934a84977e002f39b0a9d31eebb716cf75369aceca1356b0ae",
	[5] = "bcb38c223ec74876619843fb39ee1fb6ed08fde0ca48150a0c3baf46b722f8ef",
	[7] = "3a765fab0c4555e805964d8c75231894f45c5a6f2161738cf157015250a3e624",
	[8] = "7e6f6570d682daa12436eb76e8e5be72de267eff5594685881ce615418ad002f",
	[10] = "b04bb924feeaee3dee2385e32f8c210852fd17ef2bf46ac1e02e16f4f57fe4e0",
};

static void build_log(struct logbuf *l)
{
	uint8_t d[32];
	memset(l, 0, sizeof(*l));
	spec_id(l, true);
	uint8_t loc[17];
	memcpy(loc, "StartupLocality\0", 16);
	loc[16] = 3;
	memset(d, 0, 32);
	event(l, true, 0, 0x3, d, loc, sizeof(loc));
	const uint8_t crtm[8] = {'1', 0, '.', 0, '0', 0, 0, 0};
	sha256(crtm, sizeof(crtm), d);
	event(l, true, 0, 0x8, d, crtm, sizeof(crtm));
	uint8_t var[53];
	static const uint8_t guid[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
					 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
	memcpy(var, guid, 16);
	memset(var + 16, 0, 16);
	var[16] = 10;
	var[24] = 1;
	const char *nm = "SecureBoot";
	for (int i = 0; i < 10; i++) {
		var[32 + 2 * i] = (uint8_t)nm[i];
		var[33 + 2 * i] = 0;
	}
	var[52] = 1;
	sha256(var, sizeof(var), d);
	event(l, true, 7, 0x80000001u, d, var, sizeof(var));
	uint8_t app[32];
	memset(app, 0x11, sizeof(app));
	sha256("bootloader", 10, d);
	event(l, true, 4, 0x80000003u, d, app, sizeof(app));
	const uint8_t sep[4] = {0};
	sha256(sep, 4, d);
	event(l, true, 0, 0x4, d, sep, 4);
	event(l, true, 4, 0x4, d, sep, 4);
	event(l, true, 7, 0x4, d, sep, 4);
	const char grub[] = "grub_cmd linux /vmlinuz root=/dev/sda";
	sha256("linux /vmlinuz root=/dev/sda", 28, d);
	event(l, true, 8, 0xD, d, grub, sizeof(grub)); /* with the NUL */
	sha256("wrong", 5, d);
	event(l, true, 5, 0x4, d, sep, 4);
	sha256("ima", 3, d);
	event(l, true, 10, 0x5, d, "ima-ng boot_aggregate", 21);
	uint8_t ff[8];
	memset(ff, 0xFF, sizeof(ff));
	put(l, ff, sizeof(ff));
}

static const json_t *find_event(const json_t *events, int pcr, const char *type)
{
	size_t i;
	const json_t *ev;
	json_array_foreach ((json_t *)events, i, ev)
		if (json_integer_value(json_object_get(ev, "pcr")) == pcr &&
		    json_is_string(json_object_get(ev, "type")) &&
		    strcmp(json_string_value(json_object_get(ev, "type")), type) == 0)
			return ev;
	return NULL;
}

static void test_eventlog_replay(void **state)
{
	(void)state;
	struct logbuf *l = malloc(sizeof(*l));
	build_log(l);
	uint8_t pcrs[24][64];
	json_t *events = NULL;
	struct vt_err err;
	vt_err_clear(&err);
	vt_status rc = vt_tcg_eventlog_replay(l->b, l->n, VT_TPM_ALG_SHA256, pcrs, &events, &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	for (int i = 0; i < 24; i++) {
		char *h = vt_hex_encode(pcrs[i], 32);
		assert_string_equal(h, EXPECTED[i] ? EXPECTED[i]
						    : "0000000000000000000000000000000000000000000000000000000000000000");
		free(h);
	}
	assert_int_equal(json_array_size(events), 9); /* EV_NO_ACTION is not reported */
	assert_string_equal(json_string_value(json_object_get(find_event(events, 0, "EV_S_CRTM_VERSION"), "digest_check")),
			    "match");
	assert_string_equal(json_string_value(json_object_get(find_event(events, 8, "EV_IPL"), "digest_check")), "match");
	assert_string_equal(json_string_value(json_object_get(find_event(events, 5, "EV_SEPARATOR"), "digest_check")),
			    "mismatch");
	assert_null(json_object_get(find_event(events, 4, "EV_EFI_BOOT_SERVICES_APPLICATION"), "digest_check"));
	const json_t *sb = find_event(events, 7, "EV_EFI_VARIABLE_DRIVER_CONFIG");
	assert_string_equal(json_string_value(json_object_get(sb, "unicode_name")), "SecureBoot");
	assert_string_equal(json_string_value(json_object_get(sb, "variable_name")), "8be4df61-93ca-11d2-aa0d-00e098032b8c");
	json_t *sum = vt_tcg_eventlog_summary(events);
	assert_non_null(sum);
	assert_true(json_is_true(json_object_get(sum, "secure_boot")));
	assert_string_equal(json_string_value(json_object_get(sum, "secure_boot_digest_check")), "match");
	assert_int_equal(json_array_size(json_object_get(sum, "boot_applications")), 1);
	assert_int_equal(json_array_size(json_object_get(sum, "ipl")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(sum, "ipl"), 0), "string")),
			    "grub_cmd linux /vmlinuz root=/dev/sda");
	assert_int_equal(json_array_size(json_object_get(sum, "ima")), 1);
	assert_int_equal(json_integer_value(json_object_get(sum, "separators")), 4);
	json_decref(sum);
	json_decref(events);

	/* the SHA-1 bank replays too (digests are the 0xAB filler) */
	assert_int_equal(vt_tcg_eventlog_replay(l->b, l->n, VT_TPM_ALG_SHA1, pcrs, NULL, &err), VT_OK);
	/* a bank the log does not have */
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_replay(l->b, l->n, VT_TPM_ALG_SHA384, pcrs, NULL, &err), VT_E_PARSE);

	/* check: equal quoted PCRs pass; one differing selected PCR fails naming it */
	uint8_t quoted[24][64];
	memset(quoted, 0, sizeof(quoted));
	for (int i = 0; i < 24; i++)
		if (EXPECTED[i])
			assert_int_equal(vt_hex_decode_fixed(EXPECTED[i], quoted[i], 32, NULL), VT_OK);
	memset(quoted[3], 0x77, 32); /* selected but untouched by the log: not compared */
	assert_int_equal(vt_tcg_eventlog_check(l->b, l->n, VT_TPM_ALG_SHA256, (const uint8_t(*)[64])quoted, 0xFFFFFF,
					       NULL, &err),
			 VT_OK);
	quoted[7][0] ^= 1;
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_check(l->b, l->n, VT_TPM_ALG_SHA256, (const uint8_t(*)[64])quoted, 0xFFFFFF,
					       NULL, &err),
			 VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "pcr7");
	assert_non_null(strstr(err.detail, EXPECTED[7]));
	/* not in the selection: not compared */
	assert_int_equal(vt_tcg_eventlog_check(l->b, l->n, VT_TPM_ALG_SHA256, (const uint8_t(*)[64])quoted,
					       0xFFFFFF & ~(1u << 7), NULL, &err),
			 VT_OK);
	free(l);
}

static void test_eventlog_malformed(void **state)
{
	(void)state;
	struct logbuf *l = malloc(sizeof(*l));
	build_log(l);
	uint8_t pcrs[24][64];
	struct vt_err err;
	size_t full = l->n - 8; /* without the 0xFF padding */
	/* every truncation inside an event record is a parse error; at a record boundary it is a shorter log */
	size_t parse_errors = 0;
	for (size_t n = 0; n < full; n++) {
		vt_err_clear(&err);
		vt_status rc = vt_tcg_eventlog_replay(l->b, n, VT_TPM_ALG_SHA256, pcrs, NULL, &err);
		if (rc != VT_OK) {
			assert_err(&err, VT_E_PARSE, VT_STEP_PARSE);
			parse_errors++;
		}
	}
	assert_true(parse_errors >= full - 11);
	/* an algorithm not in the Spec ID table */
	struct logbuf *m = malloc(sizeof(*m));
	memset(m, 0, sizeof(*m));
	spec_id(m, false);
	uint8_t d[32] = {0};
	event(m, false, 1, 0x1, d, "x", 1);
	size_t at = m->n;
	event(m, false, 2, 0x1, d, "y", 1);
	m->b[at + 12] = 0x0C; /* alg 0x000B -> 0x000C */
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_replay(m->b, m->n, VT_TPM_ALG_SHA256, pcrs, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "event_log.event.digest.alg");
	/* PCR index 24 */
	m->b[at + 12] = 0x0B;
	m->b[at] = 24;
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_replay(m->b, m->n, VT_TPM_ALG_SHA256, pcrs, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "event_log.event.pcr_index");
	/* event size past the buffer */
	m->b[at] = 2;
	m->b[at + 46] = 0xFF;
	vt_err_clear(&err);
	assert_int_not_equal(vt_tcg_eventlog_replay(m->b, m->n, VT_TPM_ALG_SHA256, pcrs, NULL, &err), VT_OK);
	m->b[at + 46] = 1;
	/* the Spec ID event must be in PCR 0 */
	m->b[0] = 1;
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_replay(m->b, m->n, VT_TPM_ALG_SHA256, pcrs, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "event_log.spec_id.pcr_index");
	m->b[0] = 0;
	/* SHA-256 listed with 20-byte digests (its size at event data offset 30) */
	m->b[32 + 30] = 20;
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_replay(m->b, m->n, VT_TPM_ALG_SHA256, pcrs, NULL, &err), VT_E_PARSE);
	assert_string_equal(err.field, "event_log.spec_id.digest_sizes");
	m->b[32 + 30] = 32;
	assert_int_equal(vt_tcg_eventlog_replay(m->b, m->n, VT_TPM_ALG_SHA256, pcrs, NULL, &err), VT_OK);
	/* not a crypto-agile log */
	vt_err_clear(&err);
	assert_int_equal(vt_tcg_eventlog_replay((const uint8_t *)"\0\0\0\0\1\0\0\0", 8, VT_TPM_ALG_SHA256, pcrs, NULL,
						&err),
			 VT_E_PARSE);
	free(m);
	free(l);
}

/* A quote over PCR 0,7,8 where PCR 8 holds the two events of this log. */
static void test_evidence_event_log(void **state)
{
	(void)state;
	NEED_TPM();
	struct logbuf *l = malloc(sizeof(*l));
	memset(l, 0, sizeof(*l));
	spec_id(l, false);
	uint8_t d[32];
	memset(d, 0x11, 32);
	event(l, false, 8, 0xD, d, "kernel_cmdline: a", 17);
	memset(d, 0x22, 32);
	event(l, false, 8, 0x80000003u, d, "app", 3);
	uint8_t rd[32];
	nonce_bytes(rd);
	json_t *ev = evidence_for("evlog", l->b, l->n), *claims = NULL;
	struct vt_err err;
	vt_status rc = verify_ev(ev, rd, sizeof(rd), &claims, &err);
	if (rc != VT_OK)
		fail_msg("%s/%s %s: %s", vt_status_name(err.code), vt_step_name(err.step), err.field, err.detail);
	json_t *el = json_object_get(claims, "event_log");
	assert_non_null(el);
	assert_int_equal(json_array_size(json_object_get(el, "events")), 2);
	assert_int_equal(json_array_size(json_object_get(el, "boot_applications")), 1);
	assert_non_null(json_object_get(claims, "init_data")); /* PCR 8 quoted */
	json_decref(claims);
	claims = NULL;
	json_decref(ev);
	/* a log event the TPM never saw */
	event(l, false, 8, 0xD, d, "evil", 4);
	ev = evidence_for("evlog", l->b, l->n);
	assert_int_equal(verify_ev(ev, rd, sizeof(rd), &claims, &err), VT_E_REJECTED);
	assert_err(&err, VT_E_REJECTED, VT_STEP_BINDING);
	assert_string_equal(err.field, "pcr8");
	json_decref(ev);
	free(l);
}

/* ------------------------------------------------------------ real vectors */

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

static EVP_PKEY *rsa_from_jwk(const char *n_b64u, const char *e_b64u)
{
	uint8_t *n = NULL, *e = NULL;
	size_t nn, en;
	assert_int_equal(vt_b64url_decode(n_b64u, strlen(n_b64u), &n, &nn, NULL), VT_OK);
	assert_int_equal(vt_b64url_decode(e_b64u, strlen(e_b64u), &e, &en, NULL), VT_OK);
	BIGNUM *bn = BN_bin2bn(n, (int)nn, NULL), *be = BN_bin2bn(e, (int)en, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return k;
}

/* Azure SNP CVM: the vTPM quote is signed by HCLAkPub from the HCL report's runtime JSON. */
static void test_azure_quote(void **state)
{
	(void)state;
	size_t hn, qn;
	uint8_t *hcl = vec_read("snp/azure_cvm_milan_hcl_report.bin", &hn);
	uint8_t *qj = vec_read("tpm/azure_cvm_snp_milan_tpm_quote_v1.json", &qn);
	if (hcl == NULL || qj == NULL) {
		free(hcl);
		free(qj);
		skip();
	}
	/* IGVM request data at 0x4C0: 5 x u32 (last = variable data size), then the JSON */
	assert_true(hn > 0x4C0 + 20);
	uint32_t vs = (uint32_t)hcl[0x4C0 + 16] | ((uint32_t)hcl[0x4C0 + 17] << 8) | ((uint32_t)hcl[0x4C0 + 18] << 16) |
		      ((uint32_t)hcl[0x4C0 + 19] << 24);
	assert_true(0x4C0 + 20 + (size_t)vs <= hn);
	json_t *rt = NULL, *q = NULL;
	assert_int_equal(vt_json_parse((const char *)hcl + 0x4C0 + 20, vs, 1u << 20, &rt, NULL), VT_OK);
	json_t *key = json_array_get(json_object_get(rt, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(key, "kid")), "HCLAkPub");
	EVP_PKEY *ak = rsa_from_jwk(json_string_value(json_object_get(key, "n")),
				    json_string_value(json_object_get(key, "e")));
	assert_int_equal(vt_json_parse((const char *)qj, qn, 1u << 20, &q, NULL), VT_OK);
	uint8_t *msg = NULL, *raw = NULL;
	size_t msg_n, raw_n;
	assert_int_equal(vt_hex_decode(json_string_value(json_object_get(q, "message")), &msg, &msg_n, NULL), VT_OK);
	assert_int_equal(vt_hex_decode(json_string_value(json_object_get(q, "signature")), &raw, &raw_n, NULL), VT_OK);
	/* the file has the raw RSA signature: wrap it as TPMT_SIGNATURE (RSASSA, SHA-256) */
	uint8_t *sig = malloc(6 + raw_n);
	sig[0] = 0x00, sig[1] = 0x14, sig[2] = 0x00, sig[3] = 0x0B;
	sig[4] = (uint8_t)(raw_n >> 8), sig[5] = (uint8_t)raw_n;
	memcpy(sig + 6, raw, raw_n);
	struct vt_tpm_pcrs *pcrs = calloc(1, sizeof(*pcrs));
	pcrs->hash_alg = VT_TPM_ALG_SHA256;
	pcrs->digest_size = 32;
	json_t *arr = json_object_get(q, "pcrs");
	assert_int_equal(json_array_size(arr), 24);
	for (unsigned i = 0; i < 24; i++) {
		assert_int_equal(vt_hex_decode_fixed(json_string_value(json_array_get(arr, i)), pcrs->value[i], 32, NULL),
				 VT_OK);
		pcrs->present |= 1u << i;
	}
	struct vt_tpm_quote pq;
	struct vt_err err;
	vt_err_clear(&err);
	vt_status rc = vt_tpm_quote_verify(ak, msg, msg_n, sig, 6 + raw_n, pcrs, (const uint8_t *)"challenge", 9, &pq,
					   &err);
	if (rc != VT_OK)
		fail_msg("%s: %s", err.field, err.detail);
	assert_int_equal(pq.banks[0].mask, 0xFFFFFFu);
	/* PCR 0 altered: digest; wrong nonce: binding */
	pcrs->value[0][0] ^= 1;
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_quote_verify(ak, msg, msg_n, sig, 6 + raw_n, pcrs, NULL, 0, NULL, &err), VT_E_REJECTED);
	assert_string_equal(err.field, "pcr_digest");
	pcrs->value[0][0] ^= 1;
	vt_err_clear(&err);
	assert_int_equal(vt_tpm_quote_verify(ak, msg, msg_n, sig, 6 + raw_n, pcrs, (const uint8_t *)"challengf", 9, NULL,
					     &err),
			 VT_E_REJECTED);
	assert_string_equal(err.field, "extra_data");
	free(pcrs);
	free(sig);
	free(raw);
	free(msg);
	EVP_PKEY_free(ak);
	json_decref(q);
	json_decref(rt);
	free(hcl);
	free(qj);
}

/* Minimal protobuf walking for go-tpm-tools' attest.Attestation. */
struct pb {
	const uint8_t *p;
	size_t n, off;
};

static int pb_varint(struct pb *b, uint64_t *v)
{
	*v = 0;
	for (int s = 0; s < 64 && b->off < b->n; s += 7) {
		uint8_t c = b->p[b->off++];
		*v |= (uint64_t)(c & 0x7F) << s;
		if (!(c & 0x80))
			return 0;
	}
	return -1;
}

/* Next field: number, wire type; for type 2 a view of the bytes. */
static int pb_next(struct pb *b, uint32_t *field, const uint8_t **data, size_t *len, uint64_t *val)
{
	uint64_t key;
	if (b->off >= b->n || pb_varint(b, &key) != 0)
		return -1;
	*field = (uint32_t)(key >> 3);
	switch (key & 7) {
	case 0: return pb_varint(b, val) == 0 ? 0 : -1;
	case 1:
		if (b->n - b->off < 8)
			return -1;
		b->off += 8;
		return 1;
	case 5:
		if (b->n - b->off < 4)
			return -1;
		b->off += 4;
		return 1;
	case 2: {
		uint64_t l;
		if (pb_varint(b, &l) != 0 || l > b->n - b->off)
			return -1;
		*data = b->p + b->off;
		*len = (size_t)l;
		b->off += (size_t)l;
		return 2;
	}
	default: return -1;
	}
}

static void gce_case(const char *file, const uint8_t *nonce, size_t nonce_n)
{
	size_t fn;
	uint8_t *f = vec_read(file, &fn);
	if (f == NULL)
		skip();
	struct pb top = {f, fn, 0};
	uint32_t field;
	const uint8_t *data = NULL, *cert = NULL, *log = NULL;
	size_t len = 0, cert_n = 0, log_n = 0;
	uint64_t val;
	int t;
	const uint8_t *quotes[8];
	size_t quote_n[8], nq = 0;
	while ((t = pb_next(&top, &field, &data, &len, &val)) >= 0) {
		if (t == 2 && field == 6)
			cert = data, cert_n = len;
		if (t == 2 && field == 3)
			log = data, log_n = len;
		if (t == 2 && field == 2 && nq < 8)
			quotes[nq] = data, quote_n[nq++] = len;
	}
	assert_non_null(cert);
	assert_true(nq >= 1);
	X509 *x = NULL;
	assert_int_equal(vt_x509_from_bytes(cert, cert_n, &x, NULL), VT_OK);
	EVP_PKEY *ak = X509_get0_pubkey(x);
	assert_non_null(ak);
	int verified = 0;
	for (size_t i = 0; i < nq; i++) {
		struct pb qb = {quotes[i], quote_n[i], 0};
		const uint8_t *msg = NULL, *sig = NULL;
		size_t msg_n = 0, sig_n = 0;
		struct vt_tpm_pcrs *pcrs = calloc(1, sizeof(*pcrs));
		while ((t = pb_next(&qb, &field, &data, &len, &val)) >= 0) {
			if (t == 2 && field == 1)
				msg = data, msg_n = len;
			if (t == 2 && field == 2)
				sig = data, sig_n = len;
			if (t == 2 && field == 3) {
				struct pb pp = {data, len, 0};
				const uint8_t *d2;
				size_t l2;
				while ((t = pb_next(&pp, &field, &d2, &l2, &val)) >= 0) {
					if (t == 0 && field == 1)
						pcrs->hash_alg = (uint16_t)val;
					if (t == 2 && field == 2) { /* map entry {1: index, 2: value} */
						struct pb me = {d2, l2, 0};
						const uint8_t *d3 = NULL, *v = NULL;
						size_t l3 = 0, vl = 0;
						uint64_t idx = 99, v3;
						while ((t = pb_next(&me, &field, &d3, &l3, &v3)) >= 0) {
							if (t == 0 && field == 1)
								idx = v3;
							if (t == 2 && field == 2)
								v = d3, vl = l3;
						}
						assert_true(idx < 24 && v != NULL && vl <= 64);
						memcpy(pcrs->value[idx], v, vl);
						pcrs->digest_size = vl;
						pcrs->present |= 1u << idx;
					}
				}
			}
		}
		assert_non_null(msg);
		assert_non_null(sig);
		struct vt_err err;
		vt_err_clear(&err);
		vt_status rc = vt_tpm_quote_verify(ak, msg, msg_n, sig, sig_n, pcrs, nonce, nonce_n, NULL, &err);
		if (rc != VT_OK)
			fail_msg("%s quote %zu (bank 0x%04x): %s: %s", file, i, pcrs->hash_alg, err.field, err.detail);
		verified++;
		if (pcrs->hash_alg == VT_TPM_ALG_SHA256 && log != NULL) {
			/* the firmware event log replays to the quoted SHA-256 PCRs */
			json_t *events = NULL;
			vt_err_clear(&err);
			rc = vt_tcg_eventlog_check(log, log_n, VT_TPM_ALG_SHA256,
						   (const uint8_t(*)[64])pcrs->value, pcrs->present, &events, &err);
			if (rc != VT_OK)
				fail_msg("%s event log: %s: %s", file, err.field, err.detail);
			json_t *sum = vt_tcg_eventlog_summary(events);
			assert_non_null(sum);
			assert_non_null(json_object_get(sum, "secure_boot"));
			print_message("%s: %zu events, secure_boot=%s\n", file, json_array_size(events),
				      json_is_true(json_object_get(sum, "secure_boot")) ? "true" : "false");
			json_decref(sum);
			json_decref(events);
			/* ... and a flipped quoted PCR 4 is caught */
			pcrs->value[4][0] ^= 1;
			vt_err_clear(&err);
			assert_int_equal(vt_tcg_eventlog_check(log, log_n, VT_TPM_ALG_SHA256,
							       (const uint8_t(*)[64])pcrs->value, pcrs->present, NULL,
							       &err),
					 VT_E_REJECTED);
			assert_string_equal(err.field, "pcr4");
		}
		free(pcrs);
	}
	print_message("%s: %d quotes verified\n", file, verified);
	X509_free(x);
	free(f);
}

static void test_gce_quotes(void **state)
{
	(void)state;
	static const uint8_t n9009[2] = {0x90, 0x09};
	gce_case("tpm/gce_cos85_vtpm_attestation_nonce9009.pb", n9009, 2);
	gce_case("tpm/gce_cos85_vtpm_attestation_no_nonce.pb", n9009, 0);
}

int main(void)
{
	setenv("TSS2_LOG", "all+none", 0); /* libtss2-mu logs every malformed input */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecdsa_verifies),
		cmocka_unit_test(test_rsassa_verifies),
		cmocka_unit_test(test_rsapss_verifies),
		cmocka_unit_test(test_wrong_nonce),
		cmocka_unit_test(test_pcr_changed),
		cmocka_unit_test(test_other_ak),
		cmocka_unit_test(test_tampered_attest_byte),
		cmocka_unit_test(test_every_attest_byte),
		cmocka_unit_test(test_truncated_oversized),
		cmocka_unit_test(test_cli_shape_and_bad_json),
		cmocka_unit_test(test_trusted_ak),
		cmocka_unit_test(test_eventlog_replay),
		cmocka_unit_test(test_eventlog_malformed),
		cmocka_unit_test(test_evidence_event_log),
		cmocka_unit_test(test_azure_quote),
		cmocka_unit_test(test_gce_quotes),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
