/* The chain-verification cache of a verifier: a hit needs the same leaf, the
 * same root and a time inside both certificates' validity; failures are
 * never cached; another verifier (or none) does not see the entries. */
#include "testutil.h"

#include <time.h>

#include <openssl/x509.h>

#include "crypto/cache.h"
#include "veritee/crypto.h"
#include "veritee/sim.h"
#include "veritee/verifier.h"

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

/* A fresh verifier with no TEE: only its caches are used here. */
static struct vt_verifier *fresh_verifier(void)
{
	json_t *none = json_object();
	struct vt_verifier_settings s = {.tees = none, .flags = VT_VERIFIER_ONLY_NAMED};
	struct vt_verifier *v = NULL;
	assert_int_equal(vt_verifier_new(&s, &v, NULL), VT_OK);
	json_decref(none);
	return v;
}

static uint64_t chain_hits(const struct vt_verifier *v, uint64_t *misses)
{
	uint64_t h = 0, m = 0;
	if (!vt_cache_set_stats(vt_verifier_caches(v), "x509.chain", &h, &m))
		h = m = 0;
	if (misses != NULL)
		*misses = m;
	return h;
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
	struct vt_verifier *v = fresh_verifier();
	struct vt_cache_set *caches = vt_verifier_caches(v);
	assert_non_null(caches);
	uint64_t m = 0;

	/* A failure first: not cached, so it fails again the same way. */
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, other_root, now, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, other_root, now, &e), VT_E_REJECTED);
	assert_int_equal(chain_hits(v, &m), 0);
	assert_int_equal(m, 2);

	/* Success, then a hit. */
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, root, now, NULL), VT_OK);
	assert_int_equal(chain_hits(v, NULL), 0);
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, root, now + 60, NULL), VT_OK);
	assert_int_equal(chain_hits(v, NULL), 1);

	/* The hit does not extend to another root or to a time outside validity. */
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, other_root, now, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, root, not_after(leaf) + 1, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_non_null(strstr(e.detail, "expired"));
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(caches, leaf, root, now - 7 * 86400, &e), VT_E_REJECTED);
	assert_non_null(strstr(e.detail, "not yet valid"));
	assert_int_equal(chain_hits(v, NULL), 1);

	/* Another verifier does not see the entry: its first check is a miss. */
	struct vt_verifier *v2 = fresh_verifier();
	assert_int_equal(vt_x509_verify_chain_cached(vt_verifier_caches(v2), leaf, root, now, NULL), VT_OK);
	assert_int_equal(chain_hits(v2, &m), 0);
	assert_int_equal(m, 1);
	vt_verifier_free(v2);

	/* No verifier: every call verifies (the same results), nothing is remembered. */
	assert_int_equal(vt_x509_verify_chain_cached(NULL, leaf, root, now, NULL), VT_OK);
	vt_err_clear(&e);
	assert_int_equal(vt_x509_verify_chain_cached(NULL, leaf, other_root, now, &e), VT_E_REJECTED);
	assert_err(&e, VT_E_REJECTED, VT_STEP_CHAIN);
	assert_int_equal(chain_hits(v, NULL), 1);

	/* The parsed-certificate cache: the same object back from the same DER, a copy without a verifier. */
	unsigned char *der = NULL;
	int dn = i2d_X509(leaf, &der);
	assert_true(dn > 0);
	X509 *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(vt_x509_from_der_cached(caches, der, (size_t)dn, "cert", &a, NULL), VT_OK);
	assert_int_equal(vt_x509_from_der_cached(caches, der, (size_t)dn, "cert", &b, NULL), VT_OK);
	assert_ptr_equal(a, b);
	assert_int_equal(vt_x509_from_der_cached(NULL, der, (size_t)dn, "cert", &c, NULL), VT_OK);
	assert_ptr_not_equal(a, c);
	assert_int_equal(X509_cmp(a, c), 0);
	uint64_t h = 0;
	assert_true(vt_cache_set_stats(caches, "x509.der", &h, &m));
	assert_int_equal(h, 1);
	assert_int_equal(m, 1);
	X509_free(a);
	X509_free(b);
	X509_free(c);
	OPENSSL_free(der);
	vt_verifier_free(v);

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
