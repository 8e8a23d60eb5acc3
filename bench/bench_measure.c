/*
 * bench_measure — SEV-SNP launch digest (veritee measure snp) for an OVMF
 * image with 64 vCPUs, next to its bound: one streaming SHA-384 over the
 * same number of bytes the PAGE_INFO chain hashes (every image page, the two
 * distinct VMSA pages, and 0x70 bytes per measured page).
 *
 * usage: bench_measure [OVMF]
 *
 * Without an argument it uses /usr/share/ovmf/OVMF.fd (Debian package ovmf)
 * if present, otherwise a 2 MiB synthetic OVMF-like image with the
 * metadata of edk2's AmdSev build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "veritee/measure.h"
#include "veritee/util.h"

#define VCPUS 64
#define SYNTH_SIZE (2u * 1024 * 1024)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Footer table entry ending at `pos`; returns where the entry starts. */
static size_t entry(uint8_t *d, size_t pos, const uint8_t *data, size_t n, const uint8_t guid[16])
{
	memcpy(d + pos - 18 - n, data, n);
	le16(d + pos - 18, (uint16_t)(n + 18));
	memcpy(d + pos - 16, guid, 16);
	return pos - 18 - n;
}

static uint8_t *synthetic(size_t *n)
{
	static const uint8_t footer[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
					   0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
	static const uint8_t reset[16] = {0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
					  0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e};
	static const uint8_t hashrv[16] = {0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b,
					   0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54};
	static const uint8_t meta[16] = {0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
					 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc};
	static const uint32_t secs[7][3] = {
		{0x800000, 0x9000, 1}, {0x80A000, 0x3000, 1}, {0x80D000, 0x1000, 2}, {0x80E000, 0x1000, 3},
		{0x80F000, 0x1000, 4}, {0x810000, 0x1000, 0x10}, {0x811000, 0xF000, 1},
	};
	uint8_t *d = malloc(SYNTH_SIZE), b[8];
	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < SYNTH_SIZE; i++)
		d[i] = (uint8_t)(i * 7 + (i >> 8));
	size_t m = SYNTH_SIZE - 0xF00, end = SYNTH_SIZE - 32;
	memcpy(d + m, "ASEV", 4);
	le32(d + m + 4, 16 + 12 * 7);
	le32(d + m + 8, 1);
	le32(d + m + 12, 7);
	for (int i = 0; i < 7; i++)
		for (int k = 0; k < 3; k++)
			le32(d + m + 16 + 12 * i + 4 * k, secs[i][k]);
	le16(d + end - 18, 18 + 22 + 26 + 22);
	memcpy(d + end - 16, footer, 16);
	le32(b, 0xF00);
	size_t pos = entry(d, end - 18, b, 4, meta);
	le32(b, 0x810C00);
	le32(b + 4, 0x400);
	pos = entry(d, pos, b, 8, hashrv);
	le32(b, 0x0080B004);
	(void)entry(d, pos, b, 4, reset);
	*n = SYNTH_SIZE;
	return d;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : (access("/usr/share/ovmf/OVMF.fd", R_OK) == 0 ? "/usr/share/ovmf/OVMF.fd"
											      : NULL);
	struct vt_err e = {0};
	uint8_t *img = NULL;
	size_t n = 0;
	if (path) {
		if (vt_file_read(path, VT_SNP_OVMF_MAX_SIZE, &img, &n, &e) != VT_OK) {
			fprintf(stderr, "bench_measure: %s: %s\n", path, e.detail);
			return 2;
		}
	} else if ((img = synthetic(&n)) == NULL) {
		fprintf(stderr, "bench_measure: out of memory\n");
		return 2;
	}
	struct vt_snp_ovmf o;
	if (vt_snp_ovmf_parse(img, n, &o, &e) != VT_OK || !o.has_metadata) {
		fprintf(stderr, "bench_measure: %s: %s\n", path ? path : "synthetic",
			o.has_metadata ? e.detail : "no SEV metadata");
		free(img);
		return 2;
	}
	/* Bytes the chain hashes: pages of the image, 2 VMSA pages, 0x70 per step. */
	uint64_t steps = n / 4096 + VCPUS;
	for (size_t i = 0; i < o.nsections; i++) {
		uint32_t t = o.sections[i].type;
		steps += (t == VT_SNP_SEC_SECRETS || t == VT_SNP_SEC_CPUID) ? 1 : o.sections[i].size / 4096;
	}
	uint64_t bytes = n + 2 * VT_SNP_VMSA_SIZE + 0x70 * steps;

	struct vt_snp_measure_opts mo = {
		.ovmf = img, .ovmf_size = n, .vcpus = VCPUS, .vcpu_sig = 0x00A00F11, .guest_features = 0x1,
		.vmm = VT_SNP_VMM_QEMU,
	};
	uint8_t ld[48];
	int iters = 0;
	double t0 = now_s(), t1;
	do {
		if (vt_snp_launch_digest(&mo, ld, &e) != VT_OK) {
			fprintf(stderr, "bench_measure: %s\n", e.detail);
			free(img);
			return 2;
		}
		iters++;
		t1 = now_s();
	} while (t1 - t0 < 1.0 || iters < 5);
	double per_ld = (t1 - t0) / iters;

	/* The bound: one streaming SHA-384 over the same number of bytes. */
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA384", NULL);
	uint8_t h[64];
	unsigned int hl;
	int hiters = 0;
	t0 = now_s();
	do {
		uint64_t left = bytes;
		EVP_DigestInit_ex2(ctx, md, NULL);
		while (left > 0) {
			size_t k = left < n ? (size_t)left : n;
			EVP_DigestUpdate(ctx, img, k);
			left -= k;
		}
		EVP_DigestFinal_ex(ctx, h, &hl);
		hiters++;
		t1 = now_s();
	} while (t1 - t0 < 1.0 || hiters < 5);
	double per_sha = (t1 - t0) / hiters;
	EVP_MD_free(md);
	EVP_MD_CTX_free(ctx);

	char *hex = vt_hex_encode(ld, sizeof(ld));
	printf("bench_measure: %s (%zu bytes, %zu sections), %d vCPUs, %llu PAGE_INFO steps, %llu bytes hashed\n",
	       path ? path : "synthetic 2 MiB image", n, o.nsections, VCPUS, (unsigned long long)steps,
	       (unsigned long long)bytes);
	printf("  launch digest      %8.3f ms  (%7.1f MB/s)  %s\n", per_ld * 1e3, (double)bytes / per_ld / 1e6,
	       hex ? hex : "");
	printf("  SHA-384 bound      %8.3f ms  (%7.1f MB/s)  one stream over the same bytes\n", per_sha * 1e3,
	       (double)bytes / per_sha / 1e6);
	printf("  ratio bound/measured = %.2f\n", per_sha / per_ld);
	free(hex);
	free(img);
	return 0;
}
