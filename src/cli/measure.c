/* veritee measure snp: the expected SEV-SNP launch measurement (docs/measure.md). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli/cli.h"
#include "veritee/measure.h"
#include "veritee/util.h"

#define KERNEL_MAX ((size_t)4 << 30) /* cap on streamed kernel/initrd size */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: veritee measure snp --ovmf FILE --vcpus N --vcpu-type NAME [options]\n"
		"\n"
		"Print the expected AMD SEV-SNP launch measurement (the report's 48-byte\n"
		"MEASUREMENT) of a guest booted from OVMF, as sev-snp-measure computes it.\n"
		"\n"
		"  --ovmf FILE             OVMF image with SEV metadata (AmdSev build for direct boot)\n"
		"  --kernel FILE           direct kernel boot (-kernel): needs an SNP_KERNEL_HASHES section\n"
		"  --initrd FILE           initrd (-initrd); empty if omitted\n"
		"  --append STRING         kernel command line (-append); empty if omitted\n"
		"  --vcpus N               number of vCPUs, 1..%d\n"
		"  --vcpu-type NAME        QEMU CPU model (case-insensitive): %s\n"
		"  --vcpu-sig HEX|N        CPUID(1).EAX signature instead of --vcpu-type\n"
		"  --vmm-type TYPE         qemu (default), ec2 or gce (ec2/gce ignore the vCPU signature)\n"
		"  --guest-features HEX    VMSA SEV_FEATURES (default 0x1; 0x21 for host kernels 6.6-6.7)\n"
		"  --ovmf-hash HEX         precomputed 48-byte OVMF hash: skips hashing the image\n"
		"                          (the image is still read for its metadata)\n"
		"  --json                  print a JSON object (measurement, ovmf_hash, inputs) instead of hex\n"
		"\n"
		"Exit codes: 0 ok, 2 error.\n",
		VT_SNP_MAX_VCPUS, vt_snp_vcpu_type_names());
}

static int bad(const char *fmt, ...) VT_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "veritee measure: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_ERROR;
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;
	errno = 0;
	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* SHA-256 of a file, streamed. */
static vt_status file_sha256(const char *path, uint8_t out[32], struct vt_err *err)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return vt_fail(err, errno == ENOENT ? VT_E_NOTFOUND : VT_E_IO, VT_STEP_IO, path, "cannot open: %s",
			       strerror(errno));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	vt_status rc = VT_OK;
	unsigned int len = 0;
	size_t total = 0;
	if (ctx == NULL || EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) != 1)
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "sha256", "SHA-256 init failed");
	static uint8_t buf[1 << 16];
	while (rc == VT_OK) {
		size_t n = fread(buf, 1, sizeof(buf), f);
		if (n == 0) {
			if (ferror(f))
				rc = vt_fail(err, VT_E_IO, VT_STEP_IO, path, "read failed");
			break;
		}
		total += n;
		if (total > KERNEL_MAX)
			rc = vt_fail(err, VT_E_LIMIT, VT_STEP_IO, path, "larger than %zu bytes", KERNEL_MAX);
		else if (EVP_DigestUpdate(ctx, buf, n) != 1)
			rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "sha256", "SHA-256 update failed");
	}
	if (rc == VT_OK && (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32))
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "sha256", "SHA-256 final failed");
	EVP_MD_CTX_free(ctx);
	fclose(f);
	return rc;
}

static int measure_snp(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ovmf", required_argument, 0, 'o'},	      {"kernel", required_argument, 0, 'k'},
		{"initrd", required_argument, 0, 'i'},	      {"append", required_argument, 0, 'a'},
		{"vcpus", required_argument, 0, 'n'},	      {"vcpu-type", required_argument, 0, 't'},
		{"vcpu-sig", required_argument, 0, 's'},      {"vmm-type", required_argument, 0, 'm'},
		{"guest-features", required_argument, 0, 'g'}, {"ovmf-hash", required_argument, 0, 'H'},
		{"json", no_argument, 0, 'j'},		      {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *ovmf_path = NULL, *kernel = NULL, *initrd = NULL, *append = NULL, *vcpu_type = NULL;
	const char *vcpu_sig_s = NULL, *vmm_s = "qemu", *features_s = NULL, *ovmf_hash_s = NULL, *fmt = "hex";
	const char *vcpus_s = NULL;
	int c;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "measure", &seen, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: return CLI_ERROR;
		case 'o': ovmf_path = optarg; break;
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'a': append = optarg; break;
		case 'n': vcpus_s = optarg; break;
		case 't': vcpu_type = optarg; break;
		case 's': vcpu_sig_s = optarg; break;
		case 'm': vmm_s = optarg; break;
		case 'g': features_s = optarg; break;
		case 'H': ovmf_hash_s = optarg; break;
		case 'j': fmt = "json"; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (optind != argc)
		return bad("unexpected argument \"%s\" (see --help)", argv[optind]);
	if (ovmf_path == NULL)
		return bad("%s", "--ovmf FILE is required (see --help)");
	if (vcpus_s == NULL)
		return bad("%s", "--vcpus N is required (see --help)");
	if ((initrd || append) && kernel == NULL)
		return bad("%s", "--initrd and --append need --kernel");

	struct vt_err e = {0};
	struct vt_snp_measure_opts mo = {0};
	uint64_t v;
	if (parse_u64(vcpus_s, 10, &v) != 0 || v < 1 || v > VT_SNP_MAX_VCPUS) {
		fprintf(stderr, "veritee measure: --vcpus must be 1..%d, not \"%s\"\n", VT_SNP_MAX_VCPUS, vcpus_s);
		return CLI_ERROR;
	}
	mo.vcpus = (uint32_t)v;
	if (vt_snp_vmm_by_name(vmm_s, &mo.vmm, &e) != VT_OK) {
		cli_err("measure", &e);
		return CLI_ERROR;
	}
	if (vcpu_type && vcpu_sig_s)
		return bad("%s", "give --vcpu-type or --vcpu-sig, not both");
	if (vcpu_type) {
		if (vt_snp_vcpu_sig_by_name(vcpu_type, &mo.vcpu_sig, &e) != VT_OK) {
			cli_err("measure", &e);
			return CLI_ERROR;
		}
	} else if (vcpu_sig_s) {
		if (parse_u64(vcpu_sig_s, 0, &v) != 0 || v > UINT32_MAX)
			return bad("--vcpu-sig must be a 32-bit number (e.g. 0x00A00F11), not \"%s\"", vcpu_sig_s);
		mo.vcpu_sig = (uint32_t)v;
	} else if (mo.vmm == VT_SNP_VMM_QEMU) {
		fprintf(stderr, "veritee measure: --vcpu-type NAME (or --vcpu-sig) is required for qemu; known types: %s\n",
			vt_snp_vcpu_type_names());
		return CLI_ERROR;
	}
	mo.guest_features = 0x1;
	if (features_s && parse_u64(features_s, 16, &mo.guest_features) != 0) /* "0x" prefix optional */
		return bad("--guest-features must be hex (e.g. 0x1), not \"%s\"", features_s);
	uint8_t ovmf_hash[VT_SNP_LD_SIZE], ksha[32], isha[32];
	if (ovmf_hash_s) {
		if (cli_hex_arg("measure", "--ovmf-hash", ovmf_hash_s, ovmf_hash, sizeof(ovmf_hash), sizeof(ovmf_hash)) !=
		    0)
			return CLI_ERROR;
		mo.ovmf_hash = ovmf_hash;
	}

	uint8_t *ovmf = NULL;
	size_t ovmf_size = 0;
	vt_status rc = vt_file_read(ovmf_path, VT_SNP_OVMF_MAX_SIZE, &ovmf, &ovmf_size, &e);
	if (rc == VT_OK && kernel) {
		mo.has_kernel = true;
		rc = file_sha256(kernel, ksha, &e);
		mo.kernel_sha256 = ksha;
		if (rc == VT_OK && initrd) {
			rc = file_sha256(initrd, isha, &e);
			mo.initrd_sha256 = isha;
		}
		mo.cmdline = append;
	}
	bool json = strcmp(fmt, "json") == 0;
	if (rc == VT_OK && json && mo.ovmf_hash == NULL) {
		/* json reports step 1 too: compute it once and seed the chain with it. */
		rc = vt_snp_ovmf_hash(ovmf, ovmf_size, ovmf_hash, &e);
		mo.ovmf_hash = ovmf_hash;
	}
	uint8_t ld[VT_SNP_LD_SIZE];
	if (rc == VT_OK) {
		mo.ovmf = ovmf;
		mo.ovmf_size = ovmf_size;
		rc = vt_snp_launch_digest(&mo, ld, &e);
	}
	free(ovmf);
	if (rc != VT_OK) {
		cli_err("measure", &e);
		return CLI_ERROR;
	}
	char *hex = vt_hex_encode(ld, sizeof(ld));
	if (hex == NULL)
		return bad("%s", "out of memory");
	if (!json) {
		printf("%s\n", hex);
		free(hex);
		return CLI_OK;
	}
	char *ohex = vt_hex_encode(ovmf_hash, sizeof(ovmf_hash)), feat[24], sig[16];
	snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)mo.guest_features);
	snprintf(sig, sizeof(sig), "0x%08x", mo.vcpu_sig);
	json_t *j = ohex ? json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "measurement", hex, "ovmf_hash", ohex, "vcpus",
				     (json_int_t)mo.vcpus, "vcpu_sig", sig, "vmm_type", vt_snp_vmm_name(mo.vmm),
				     "guest_features", feat)
			 : NULL;
	char *out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int ret = out ? CLI_OK : bad("%s", "out of memory");
	if (out)
		printf("%s\n", out);
	free(out);
	json_decref(j);
	free(hex);
	free(ohex);
	return ret;
}

int cmd_measure(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "snp") != 0) {
		fprintf(stderr, "veritee measure: want \"snp\" (the only supported TEE), see --help\n");
		usage(stderr);
		return CLI_ERROR;
	}
	return measure_snp(argc - 1, argv + 1);
}
