/*
 * veritee roots [--out DIR] [--json]: the vendor certificates veritee ships
 * and pins, so that nobody has to hunt for them: AMD's ARK/ASK/ASVK
 * (src/evidence/snp/builtin.c), Intel's SGX Root CA (pinned in
 * src/evidence/dcap/verify.c; the quote and the collateral carry it, the
 * copy here is for people and for other tools), NVIDIA's device and RIM
 * roots (src/evidence/nvidia/root.c) and the AWS Nitro root
 * (src/evidence/nitro/root.c).  Each is checked against its pinned SHA-256
 * before it is shown or written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "evidence/snp/sources.h"
#include "veritee/crypto.h"
#include "veritee/dcap.h"
#include "veritee/json.h"
#include "veritee/nitro.h"
#include "veritee/nvidia.h"
#include "veritee/snp.h"
#include "veritee/util.h"

/* Intel SGX Root CA (CN=Intel SGX Root CA, P-256, 2018-05-21 .. 2049-12-31),
 * as https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem */
static const char INTEL_SGX_ROOT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
	"aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
	"cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
	"BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
	"A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
	"aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
	"AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
	"1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
	"uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
	"MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
	"ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
	"Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
	"KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
	"AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
	"-----END CERTIFICATE-----\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee roots [--out DIR] [--json]\n"
		   "\n"
		   "List the vendor certificates veritee ships, each pinned by the SHA-256 of its DER in\n"
		   "veritee's source (a certificate that differs is refused), and what uses them.  With\n"
		   "--out, write each one as a PEM file into DIR, e.g. for another tool.\n"
		   "Google's vTPM roots are not shipped: `veritee verify gce-vtpm` takes them with --gce-roots.\n");
}

struct root {
	const char *vendor, *name, *used_by, *file;
	X509 *x509; /* owned */
	char sha256[65];
	char not_after[32];
	char name_buf[48], file_buf[48]; /* AMD's, made from product and role */
};

static bool fill(struct root *r, X509 *x, const char *pin)
{
	uint8_t fp[32];
	if (x == NULL || vt_x509_fingerprint_sha256(x, fp, NULL) != VT_OK) {
		X509_free(x);
		return false;
	}
	char *h = vt_hex_encode(fp, 32);
	bool ok = h != NULL && (pin == NULL || strcmp(h, pin) == 0);
	snprintf(r->sha256, sizeof(r->sha256), "%s", h ? h : "");
	free(h);
	int64_t nb = 0, na = 0;
	if (vt_x509_window(x, &nb, &na))
		vt_time_format_rfc3339(na, r->not_after, sizeof(r->not_after));
	if (!ok) {
		X509_free(x);
		return false;
	}
	r->x509 = x;
	return true;
}

static X509 *from_pem(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error();
	return x;
}

/* Every shipped root, checked against its pin; false when one fails (said). */
static size_t collect(struct root *out, size_t max, bool *ok)
{
	size_t n = 0;
	*ok = true;
	for (size_t i = 0; vt_snp_builtin_cert_at(i) && n < max; i++, n++) {
		const struct vt_snp_builtin_cert *c = vt_snp_builtin_cert_at(i);
		const char *product = vt_snp_product_name(c->product);
		struct root *r = &out[n];
		bool asvk = strcmp(c->role, "ASVK") == 0;
		if (strcmp(c->role, "ARK") == 0)
			snprintf(r->name_buf, sizeof(r->name_buf), "ARK-%s", product);
		else
			snprintf(r->name_buf, sizeof(r->name_buf), "SEV-%s%s (%s)", asvk ? "VLEK-" : "", product, c->role);
		snprintf(r->file_buf, sizeof(r->file_buf), "amd_%s_%s.pem", c->role, product);
		for (char *p = r->file_buf; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		r->vendor = "AMD";
		r->name = r->name_buf;
		r->file = r->file_buf;
		r->used_by = asvk ? "snp, az-snp-vtpm (VLEK)" : "snp, az-snp-vtpm";
		/* parsed and checked against its pin by builtin.c (NULL when it fails) */
		*ok = fill(r, snp_builtin_x509(i), NULL) && *ok;
	}
	struct vt_err e = {0};
	X509 *x = NULL;
	if (n < max) {
		out[n] = (struct root){.vendor = "Intel", .name = "Intel SGX Root CA", .file = "intel_sgx_root_ca.pem",
				       .used_by = "tdx, sgx, az-tdx-vtpm"};
		*ok = fill(&out[n++], from_pem(INTEL_SGX_ROOT_PEM), VT_DCAP_INTEL_ROOT_SHA256) && *ok;
	}
	if (n < max) {
		out[n] = (struct root){.vendor = "NVIDIA", .name = "NVIDIA Device Identity CA",
				       .file = "nvidia_device_identity_ca.pem", .used_by = "nvidia (device chains)"};
		*ok = fill(&out[n++], vt_nvidia_device_root(&x, &e) == VT_OK ? x : NULL, VT_NVIDIA_DEVICE_ROOT_SHA256) && *ok;
	}
	if (n < max) {
		x = NULL;
		out[n] = (struct root){.vendor = "NVIDIA", .name = "NVIDIA CoRIM signing Root CA",
				       .file = "nvidia_rim_root_ca.pem", .used_by = "nvidia (RIM signers)"};
		*ok = fill(&out[n++], vt_nvidia_rim_root(&x, &e) == VT_OK ? x : NULL, VT_NVIDIA_RIM_ROOT_SHA256) && *ok;
	}
	if (n < max) {
		x = NULL;
		out[n] = (struct root){.vendor = "AWS", .name = "AWS Nitro Enclaves Root-G1", .file = "aws_nitro_root_g1.pem",
				       .used_by = "nitro"};
		*ok = fill(&out[n++], vt_nitro_aws_root(&x, &e) == VT_OK ? x : NULL, VT_NITRO_ROOT_SHA256) && *ok;
	}
	return n;
}

int cmd_roots(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *out = NULL;
	bool json = false;
	struct cli_seen seen = {0};
	int c;
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "roots", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'o': out = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return CLI_ERROR;
	}
	struct root roots[24];
	memset(roots, 0, sizeof(roots));
	bool ok = true;
	size_t n = collect(roots, sizeof(roots) / sizeof(roots[0]), &ok);
	int ret = ok ? CLI_OK : CLI_ERROR;
	if (!ok)
		fprintf(stderr, "veritee roots: a shipped certificate does not match its pin: this build is damaged\n");
	if (out != NULL && ok) {
		if (mkdir(out, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "veritee roots: cannot create %s: %s\n", out, strerror(errno));
			ret = CLI_ERROR;
		}
		for (size_t i = 0; i < n && ret == CLI_OK; i++) {
			BIO *b = BIO_new(BIO_s_mem());
			char *pem = NULL;
			long len = 0;
			if (b && PEM_write_bio_X509(b, roots[i].x509) == 1)
				len = BIO_get_mem_data(b, &pem);
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", out, roots[i].file);
			struct vt_err e = {0};
			if (len <= 0 || vt_file_write(path, pem, (size_t)len, 0644, &e) != VT_OK) {
				cli_err("roots", &e);
				ret = CLI_ERROR;
			}
			BIO_free(b);
		}
	}
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "vendor", roots[i].vendor, "name",
							   roots[i].name, "sha256", roots[i].sha256, "not_after",
							   roots[i].not_after, "used_by", roots[i].used_by, "file",
							   roots[i].file));
		char *s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "[]");
		free(s);
		json_decref(a);
	} else {
		printf("%-7s %-30s %-64s  %-10s  %s\n", "vendor", "certificate", "SHA-256 of the DER (pinned)", "valid to",
		       "used by veritee verify");
		for (size_t i = 0; i < n; i++)
			printf("%-7s %-30s %-64s  %-10.10s  %s\n", roots[i].vendor, roots[i].name, roots[i].sha256,
			       roots[i].not_after, roots[i].used_by);
		if (out != NULL && ret == CLI_OK)
			printf("wrote %zu PEM files to %s\n", n, out);
	}
	for (size_t i = 0; i < n; i++)
		X509_free(roots[i].x509);
	return ret;
}
