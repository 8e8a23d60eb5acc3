/*
 * The AWS Nitro Enclaves Root-G1 certificate (CN=aws.nitro-enclaves, P-384,
 * valid 2019-10-28 .. 2049-10-28), as AWS publishes it in
 * https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip and
 * as cabundle[0] of every attestation document.  Pinned by the SHA-256 of
 * its DER, VT_NITRO_ROOT_SHA256 (the value AWS lists on
 * docs.aws.amazon.com/enclaves/latest/user/verify-root.html), checked when
 * the PEM is first parsed, so an edit of the text below fails closed.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "veritee/crypto.h"
#include "veritee/nitro.h"
#include "veritee/util.h"

static const char AWS_NITRO_ROOT_G1_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL\n"
	"MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD\n"
	"VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4\n"
	"MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL\n"
	"DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG\n"
	"BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb\n"
	"48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE\n"
	"h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF\n"
	"R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC\n"
	"MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW\n"
	"rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N\n"
	"IwLz3/Y=\n"
	"-----END CERTIFICATE-----\n";

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static X509 *g_root;        /* NULL when the shipped PEM failed its check */
static struct vt_err g_err; /* why, then */

static bool pin_matches(X509 *cert)
{
	uint8_t fp[32], pin[32];
	if (vt_x509_fingerprint_sha256(cert, fp, NULL) != VT_OK ||
	    vt_hex_decode_fixed(VT_NITRO_ROOT_SHA256, pin, sizeof(pin), NULL) != VT_OK)
		return false;
	return memcmp(fp, pin, sizeof(fp)) == 0; /* public values */
}

static void load_root(void)
{
	X509 *c = NULL;
	if (vt_x509_from_bytes((const uint8_t *)AWS_NITRO_ROOT_G1_PEM, sizeof(AWS_NITRO_ROOT_G1_PEM) - 1, &c, &g_err) !=
	    VT_OK) {
		ERR_clear_error();
		return;
	}
	if (!pin_matches(c)) {
		vt_fail(&g_err, VT_E_INTERNAL, VT_STEP_CONFIG, "nitro.root",
			"the shipped AWS Nitro root does not have the pinned fingerprint %s", VT_NITRO_ROOT_SHA256);
		X509_free(c);
		return;
	}
	g_root = c;
}

vt_status vt_nitro_aws_root(X509 **out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "nitro.root", "missing argument");
	pthread_once(&g_once, load_root);
	if (g_root == NULL)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_CONFIG, "nitro.root", "shipped AWS Nitro root unusable: %s",
			       g_err.detail);
	X509_up_ref(g_root);
	*out = g_root;
	return VT_OK;
}

vt_status vt_nitro_root_from_bytes(const uint8_t *p, size_t n, X509 **out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "nitro.root", "missing argument");
	*out = NULL;
	X509 *c = NULL;
	struct vt_err e = {0};
	if (vt_x509_from_bytes(p, n, &c, &e) != VT_OK) {
		ERR_clear_error();
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "nitro.root",
			       "refused as the Nitro trust anchor: not a readable certificate (%s)", e.detail);
	}
	if (!pin_matches(c)) {
		X509_free(c);
		return vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, "nitro.root",
			       "refused as the Nitro trust anchor: SHA-256 differs from the AWS Root-G1 pin %s",
			       VT_NITRO_ROOT_SHA256);
	}
	*out = c;
	return VT_OK;
}
