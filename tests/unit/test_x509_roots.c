/* The roots file or directory of chain building (src/crypto/x509_roots.c):
 * which certificates become anchors, which intermediates, and the exact
 * refusal when a certificate does not chain. */
#include "testutil.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/x509_roots.h"
#include "veritee/crypto.h"

#define NOW 1800000000 /* 2027-01-15 */

static char *dir;
static EVP_PKEY *root_key, *int_key, *leaf_key;
static X509 *root, *inter, *leaf;

/* `subject` with `key`, issued by `ca` with `ca_key` (NULL: self-signed),
 * valid for a day around NOW. */
static X509 *make(const char *subject, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, bool is_ca)
{
	X509 *c = X509_new();
	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)subject, -1, -1, 0);
	X509_set_subject_name(c, name);
	X509_set_issuer_name(c, ca ? X509_get_subject_name(ca) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(c), NOW - 86400);
	ASN1_TIME_set(X509_getm_notAfter(c), NOW + 86400);
	X509_set_pubkey(c, key);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, ca ? ca : c, c, NULL, NULL, 0);
	X509_EXTENSION *bc =
		X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	assert_non_null(bc);
	X509_add_ext(c, bc, -1);
	X509_EXTENSION_free(bc);
	assert_true(X509_sign(c, ca_key ? ca_key : key, EVP_sha256()) > 0);
	return c;
}

/* dir/name holding the given certificates (PEM). */
static const char *write_pem(const char *name, X509 *a, X509 *b)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, a), 1);
	if (b)
		assert_int_equal(PEM_write_X509(f, b), 1);
	fclose(f);
	return path;
}

static int setup(void **state)
{
	(void)state;
	struct vt_err e = {0};
	dir = vt_test_tmpdir();
	assert_non_null(dir);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &root_key, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &int_key, &e), VT_OK);
	assert_int_equal(vt_key_generate(VT_KEY_P256, &leaf_key, &e), VT_OK);
	root = make("test root", root_key, NULL, NULL, true);
	inter = make("test intermediate", int_key, root, root_key, true);
	leaf = make("test leaf", leaf_key, inter, int_key, false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(int_key);
	EVP_PKEY_free(leaf_key);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
	return 0;
}

static vt_status verify(const char *path, STACK_OF(X509) *extra, int64_t now, int depth, struct vt_err *e)
{
	struct vt_x509_roots *r = NULL;
	vt_err_clear(e);
	vt_status rc = vt_x509_roots_load(path, "test_roots", &r, e);
	if (rc == VT_OK)
		rc = vt_x509_roots_verify(r, leaf, extra, now, depth, NULL, "leaf_cert", "the leaf", "the test roots", e);
	vt_x509_roots_free(r);
	return rc;
}

/* The root is an anchor and the intermediate in the same file is used. */
static void test_root_and_intermediate(void **state)
{
	(void)state;
	struct vt_err e = {0};
	struct vt_x509_roots *r = NULL;
	const char *path = write_pem("both.pem", inter, root);
	assert_int_equal(vt_x509_roots_load(path, "test_roots", &r, &e), VT_OK);
	assert_int_equal(vt_x509_roots_anchors(r), 1);
	vt_x509_roots_free(r);
	assert_int_equal(verify(path, NULL, NOW, 8, &e), VT_OK);
}

/* The intermediate may come from the caller (the evidence) instead. */
static void test_extra_intermediate(void **state)
{
	(void)state;
	struct vt_err e = {0};
	const char *path = write_pem("root.pem", root, NULL);
	STACK_OF(X509) *extra = sk_X509_new_null();
	assert_non_null(extra);
	assert_true(sk_X509_push(extra, inter) > 0);
	assert_int_equal(verify(path, extra, NOW, 8, &e), VT_OK);
	/* without it: refused, with OpenSSL's reason and the depth */
	assert_int_equal(verify(path, NULL, NOW, 8, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_string_equal(e.field, "leaf_cert");
	assert_string_equal(e.detail,
			    "the leaf does not chain to the test roots: unable to get local issuer certificate (depth 0)");
	sk_X509_free(extra);
}

/* An intermediate alone is no anchor: loaded, with zero anchors, and
 * nothing chains to it. */
static void test_no_anchor(void **state)
{
	(void)state;
	struct vt_err e = {0};
	struct vt_x509_roots *r = NULL;
	const char *path = write_pem("int.pem", inter, NULL);
	assert_int_equal(vt_x509_roots_load(path, "test_roots", &r, &e), VT_OK);
	assert_int_equal(vt_x509_roots_anchors(r), 0);
	vt_x509_roots_free(r);
	assert_int_equal(verify(path, NULL, NOW, 8, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
}

/* Time is an input: outside the validity window the chain is refused. */
static void test_time(void **state)
{
	(void)state;
	struct vt_err e = {0};
	const char *path = write_pem("both2.pem", root, inter);
	assert_int_equal(verify(path, NULL, NOW + 2 * 86400, 8, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "certificate has expired"));
	assert_int_equal(verify(path, NULL, NOW - 2 * 86400, 8, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "certificate is not yet valid"));
}

/* The depth limit holds: leaf, intermediate, root needs depth 1 or more. */
static void test_depth(void **state)
{
	(void)state;
	struct vt_err e = {0};
	const char *path = write_pem("both3.pem", root, inter);
	assert_int_equal(verify(path, NULL, NOW, 1, &e), VT_OK);
	assert_int_equal(verify(path, NULL, NOW, 0, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "chain too long"));
}

/* A missing path is the operator's error, named by the caller's field. */
static void test_missing(void **state)
{
	(void)state;
	struct vt_err e = {0};
	char path[600];
	snprintf(path, sizeof(path), "%s/absent.pem", dir);
	assert_int_equal(verify(path, NULL, NOW, 8, &e), VT_E_USAGE);
	assert_err(&e, VT_E_USAGE, VT_STEP_CONFIG);
	assert_string_equal(e.field, "test_roots");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_intermediate), cmocka_unit_test(test_extra_intermediate),
		cmocka_unit_test(test_no_anchor),             cmocka_unit_test(test_time),
		cmocka_unit_test(test_depth),                 cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
