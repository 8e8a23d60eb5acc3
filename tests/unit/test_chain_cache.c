/* The chain-verification cache: a hit needs the same leaf, the same root and
 * a time inside both certificates' validity; failures are never cached. */
#include "testutil.h"

#include <time.h>

#include <openssl/x509.h>

#include "veritee/crypto.h"
#include "veritee/sim.h"

static X509 *load(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	X509 *x = NULL;
	assert_int_equal(vt_x509_load(path, &x, NULL), VT_OK);
	return x;
}

static int64_t not_after(X509 *x)
{
	struct tm tm;
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	return (int64_t)timegm(&tm);
}

static void test_cache(void **state)
{
	(void)state;
	char *d1 = vt_test_tmpdir(), *d2 = vt_test_tmpdir();
	assert_int_equal(vt_sim_ensure_keys(d1, NULL), VT_OK);
	assert_int_equal(vt_sim_ensure_keys(d2, NULL), VT_OK);
	X509 *leaf = load(d1, "platform.pem"), *root = load(d1, "sim-root.pem"), *other_root = load(d2, "sim-root.pem");
	int64_t now = vt_now();
	struct vt_err e = {0};

	/* A failure first: not cached, so it fails again the same way. */
	assert_int_equal(vt_x509_verify_chain_cached(leaf, other_root, now, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(leaf, other_root, now, &e), VT_E_REJECTED);

	/* Success, then a hit. */
	assert_int_equal(vt_x509_verify_chain_cached(leaf, root, now, NULL), VT_OK);
	assert_int_equal(vt_x509_verify_chain_cached(leaf, root, now + 60, NULL), VT_OK);

	/* The hit does not extend to another root or to a time outside validity. */
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(leaf, other_root, now, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(leaf, root, not_after(leaf) + 1, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "expired"));
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(leaf, root, now - 7 * 86400, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "not yet valid"));

	X509_free(leaf);
	X509_free(root);
	X509_free(other_root);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", d1, d2);
	assert_int_equal(system(cmd), 0);
	free(d1);
	free(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_cache)};
	return cmocka_run_group_tests_name("chain_cache", tests, NULL, NULL);
}
