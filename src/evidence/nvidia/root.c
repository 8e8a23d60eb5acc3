/*
 * The two NVIDIA roots, as NVIDIA publishes them in NVIDIA/nvtrust
 * (guest_tools/gpu_verifiers/local_gpu_verifier/src/verifier/certs/):
 *   verifier_device_root.pem  CN=NVIDIA Device Identity CA, O=NVIDIA (P-384,
 *                             2021-11-05 .. 9999-12-31): root of every GPU
 *                             (GH100, GB100) and NVSwitch (LS10) device chain;
 *   verifier_RIM_root.pem     CN=NVIDIA CoRIM signing Root CA (P-384,
 *                             2023-03-16 .. 2053-03-08): root of RIM signers.
 * Each is pinned by the SHA-256 of its DER (VT_NVIDIA_DEVICE_ROOT_SHA256,
 * VT_NVIDIA_RIM_ROOT_SHA256, the values formats/nvidia-gpu.md lists),
 * checked when the PEM is first parsed, so an edit of the text below fails
 * closed.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "evidence/nvidia/nvidia_internal.h"
#include "veritee/crypto.h"
#include "veritee/nvidia.h"
#include "veritee/util.h"

static const char DEVICE_ROOT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICCzCCAZCgAwIBAgIQLTZwscoQBBHB/sDoKgZbVDAKBggqhkjOPQQDAzA1MSIw\n"
	"IAYDVQQDDBlOVklESUEgRGV2aWNlIElkZW50aXR5IENBMQ8wDQYDVQQKDAZOVklE\n"
	"SUEwIBcNMjExMTA1MDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMDUxIjAgBgNVBAMM\n"
	"GU5WSURJQSBEZXZpY2UgSWRlbnRpdHkgQ0ExDzANBgNVBAoMBk5WSURJQTB2MBAG\n"
	"ByqGSM49AgEGBSuBBAAiA2IABA5MFKM7+KViZljbQSlgfky/RRnEQScW9NDZF8SX\n"
	"gAW96r6u/Ve8ZggtcYpPi2BS4VFu6KfEIrhN6FcHG7WP05W+oM+hxj7nyA1r1jkB\n"
	"2Ry70YfThX3Ba1zOryOP+MJ9vaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B\n"
	"Af8EBAMCAQYwHQYDVR0OBBYEFFeF/4PyY8xlfWi3Olv0jUrL+0lfMB8GA1UdIwQY\n"
	"MBaAFFeF/4PyY8xlfWi3Olv0jUrL+0lfMAoGCCqGSM49BAMDA2kAMGYCMQCPeFM3\n"
	"TASsKQVaT+8S0sO9u97PVGCpE9d/I42IT7k3UUOLSR/qvJynVOD1vQKVXf0CMQC+\n"
	"EY55WYoDBvs2wPAH1Gw4LbcwUN8QCff8bFmV4ZxjCRr4WXTLFHBKjbfneGSBWwA=\n"
	"-----END CERTIFICATE-----\n";

static const char RIM_ROOT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICKTCCAbCgAwIBAgIQRdrjoA5QN73fh1N17LXicDAKBggqhkjOPQQDAzBFMQsw\n"
	"CQYDVQQGEwJVUzEPMA0GA1UECgwGTlZJRElBMSUwIwYDVQQDDBxOVklESUEgQ29S\n"
	"SU0gc2lnbmluZyBSb290IENBMCAXDTIzMDMxNjE1MzczNFoYDzIwNTMwMzA4MTUz\n"
	"NzM0WjBFMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGTlZJRElBMSUwIwYDVQQDDBxO\n"
	"VklESUEgQ29SSU0gc2lnbmluZyBSb290IENBMHYwEAYHKoZIzj0CAQYFK4EEACID\n"
	"YgAEuECyi9vNM+Iw2lfUzyBldHAwaC1HF7TCgp12QcEyUTm3Tagxwr48d55+K2VI\n"
	"lWYIDk7NlAIQdcV/Ff7euGLI+Qauj93HsSI4WX298PpW54RTgz9tC+Q684caR/BX\n"
	"WEeZo2MwYTAdBgNVHQ4EFgQUpaXrOPK4ZDAk08DBskn594zeZjAwHwYDVR0jBBgw\n"
	"FoAUpaXrOPK4ZDAk08DBskn594zeZjAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B\n"
	"Af8EBAMCAQYwCgYIKoZIzj0EAwMDZwAwZAIwHGDyscDP6ihHqRvZlI3eqZ4YkvjE\n"
	"1duaN84tAHRVgxVMvNrp5Tnom3idHYGW/dskAjATvjIx6VzHm/4e2GiZAyZEIUBD\n"
	"OKPzp5ei/A0iUZpdvngenDwV8Qa/wGdiTmJ7Bp4=\n"
	"-----END CERTIFICATE-----\n";

struct pinned {
	pthread_once_t once;
	const char *pem;
	size_t pem_size;
	const char *pin;
	const char *what;
	X509 *cert;        /* NULL when the shipped PEM failed its check */
	struct vt_err err; /* why, then */
};

static struct pinned g_device = {PTHREAD_ONCE_INIT, DEVICE_ROOT_PEM, sizeof(DEVICE_ROOT_PEM) - 1,
				 VT_NVIDIA_DEVICE_ROOT_SHA256, "NVIDIA Device Identity CA", NULL, {0}};
static struct pinned g_rim = {PTHREAD_ONCE_INIT, RIM_ROOT_PEM, sizeof(RIM_ROOT_PEM) - 1, VT_NVIDIA_RIM_ROOT_SHA256,
			      "NVIDIA CoRIM signing Root CA", NULL, {0}};

bool nvx_fingerprint_is(const uint8_t fp[32], const char *pin_hex)
{
	uint8_t pin[32];
	if (vt_hex_decode_fixed(pin_hex, pin, sizeof(pin), NULL) != VT_OK)
		return false;
	return memcmp(fp, pin, sizeof(pin)) == 0; /* public values */
}

static void load(struct pinned *p)
{
	X509 *c = NULL;
	uint8_t fp[32];
	if (vt_x509_from_bytes((const uint8_t *)p->pem, p->pem_size, &c, &p->err) != VT_OK) {
		ERR_clear_error();
		return;
	}
	if (vt_x509_fingerprint_sha256(c, fp, &p->err) != VT_OK || !nvx_fingerprint_is(fp, p->pin)) {
		vt_fail(&p->err, VT_E_INTERNAL, VT_STEP_CONFIG, "nvidia.root",
			"the shipped %s does not have the pinned fingerprint %s", p->what, p->pin);
		X509_free(c);
		return;
	}
	p->cert = c;
}

static void load_device(void)
{
	load(&g_device);
}

static void load_rim(void)
{
	load(&g_rim);
}

static vt_status get(struct pinned *p, void (*init)(void), X509 **out, struct vt_err *err)
{
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "nvidia.root", "missing argument");
	pthread_once(&p->once, init);
	if (p->cert == NULL)
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_CONFIG, "nvidia.root", "shipped %s unusable: %s", p->what,
			       p->err.detail);
	X509_up_ref(p->cert);
	*out = p->cert;
	return VT_OK;
}

vt_status vt_nvidia_device_root(X509 **out, struct vt_err *err)
{
	return get(&g_device, load_device, out, err);
}

vt_status vt_nvidia_rim_root(X509 **out, struct vt_err *err)
{
	return get(&g_rim, load_rim, out, err);
}
