/*
 * veritee/measure.h — expected AMD SEV-SNP launch measurement (the report's
 * MEASUREMENT field) for a QEMU/KVM, EC2 or GCE guest booted from OVMF,
 * optionally with direct kernel boot (-kernel/-initrd/-append).
 *
 * The algorithm is the one of virtee/sev-snp-measure (docs/measure.md and
 * the shared format notes, sev-snp.md §7):
 *
 *   LD := 48 zero bytes (or a precomputed "OVMF hash")
 *   1. every 4 KiB page of the OVMF image, mapped to end at 4 GiB (NORMAL)
 *   2. the SEV metadata sections of the image, in table order (ZERO,
 *      UNMEASURED, SECRETS, CPUID pages; the SEV hashes table page)
 *   3. one VMSA page per vCPU
 *
 * Each page updates LD := SHA-384(PAGE_INFO) with the 0x70-byte PAGE_INFO
 * structure of the SNP firmware ABI (current LD, contents digest, length,
 * page type, GPA).
 *
 * All parsing of the OVMF image goes through the bounded reader; malformed
 * images fail with VT_E_PARSE naming the field.  Nothing here allocates
 * except the OpenSSL digest context inside struct vt_snp_gctx.
 */
#ifndef VERITEE_MEASURE_H
#define VERITEE_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "veritee/err.h"

#define VT_SNP_LD_SIZE 48       /* SHA-384 launch digest */
#define VT_SNP_PAGE_SIZE 4096
#define VT_SNP_VMSA_SIZE 4096
#define VT_SNP_HASHES_TABLE_SIZE 176 /* padded SEV hashes table (168 + 8) */
#define VT_SNP_MAX_VCPUS 512
#define VT_SNP_MAX_SECTIONS 64  /* cap on SEV metadata descriptors */
#define VT_SNP_OVMF_MAX_SIZE (64u * 1024 * 1024)
#define VT_SNP_VMSA_GPA 0xFFFFFFFFF000ull /* (u64)-1, page aligned, bits > 51 clear */
#define VT_SNP_BSP_EIP 0xFFFFFFF0u

/* PAGE_INFO.PAGE_TYPE */
enum vt_snp_page_type {
	VT_SNP_PAGE_NORMAL = 1,
	VT_SNP_PAGE_VMSA = 2,
	VT_SNP_PAGE_ZERO = 3,
	VT_SNP_PAGE_UNMEASURED = 4,
	VT_SNP_PAGE_SECRETS = 5,
	VT_SNP_PAGE_CPUID = 6,
};

/* OVMF SEV metadata section types (OvmfSevMetadata.asm). */
enum vt_snp_section_type {
	VT_SNP_SEC_MEM = 1,
	VT_SNP_SEC_SECRETS = 2,
	VT_SNP_SEC_CPUID = 3,
	VT_SNP_SEC_SVSM_CAA = 4,
	VT_SNP_SEC_KERNEL_HASHES = 0x10,
};

/* Which VMM launches the guest: changes the initial register state and how
 * some sections are measured (docs/measure.md). */
enum vt_snp_vmm {
	VT_SNP_VMM_QEMU = 0,
	VT_SNP_VMM_EC2,
	VT_SNP_VMM_GCE,
};

struct vt_snp_section {
	uint32_t gpa;
	uint32_t size;
	uint32_t type; /* enum vt_snp_section_type */
};

/* What the OVMF footer GUID table and SEV metadata say.  Borrows `data`. */
struct vt_snp_ovmf {
	const uint8_t *data;
	size_t size;
	uint64_t gpa; /* 4 GiB - size */
	bool has_reset_eip;
	uint32_t ap_eip; /* SEV-ES reset block: AP reset EIP */
	bool has_hashes_table;
	uint32_t hashes_table_gpa; /* SEV hash table reserved area (0: none) */
	uint32_t hashes_table_size;
	bool has_metadata;
	size_t nsections;
	struct vt_snp_section sections[VT_SNP_MAX_SECTIONS];
};

/*
 * Parse the footer table and SEV metadata of an OVMF image.  The image must
 * be a non-empty multiple of 4 KiB.  A missing footer table or missing
 * metadata is not an error here (has_metadata = false); malformed ones are
 * (VT_E_PARSE, field "ovmf.…").
 */
VT_API VT_MUST_USE vt_status vt_snp_ovmf_parse(const uint8_t *data, size_t size, struct vt_snp_ovmf *out,
					       struct vt_err *err);

/* ---------------------------------------------------------------------------
 * The launch-digest chain (guest context).  Fetches SHA-384 once and reuses
 * one digest context; free with vt_snp_gctx_free.
 */
struct vt_snp_gctx {
	uint8_t ld[VT_SNP_LD_SIZE];
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

/* seed: 48 bytes, or NULL for zeros. */
VT_API VT_MUST_USE vt_status vt_snp_gctx_init(struct vt_snp_gctx *g, const uint8_t *seed, struct vt_err *err);
VT_API void vt_snp_gctx_free(struct vt_snp_gctx *g);
/* One PAGE_INFO step: LD := SHA-384(LD || contents || 0x0070 || type || 0 0 0 0 0 || gpa). */
VT_API VT_MUST_USE vt_status vt_snp_gctx_update(struct vt_snp_gctx *g, uint8_t page_type, uint64_t gpa,
						const uint8_t contents[VT_SNP_LD_SIZE], struct vt_err *err);
/* NORMAL pages over data (len a multiple of 4 KiB), contents = SHA-384(page). */
VT_API VT_MUST_USE vt_status vt_snp_gctx_normal_pages(struct vt_snp_gctx *g, uint64_t gpa, const uint8_t *data,
						      size_t len, struct vt_err *err);
/* ZERO / UNMEASURED / SECRETS / CPUID pages (contents = 48 zero bytes) over len bytes. */
VT_API VT_MUST_USE vt_status vt_snp_gctx_empty_pages(struct vt_snp_gctx *g, uint8_t page_type, uint64_t gpa,
						     uint64_t len, struct vt_err *err);
/* One VMSA page at VT_SNP_VMSA_GPA. */
VT_API VT_MUST_USE vt_status vt_snp_gctx_vmsa_page(struct vt_snp_gctx *g, const uint8_t vmsa[VT_SNP_VMSA_SIZE],
						   struct vt_err *err);

/* ---------------------------------------------------------------------------
 * Building blocks.
 */

/* The initial VMSA (VMCB save area) of a vCPU starting at `eip`. */
VT_API void vt_snp_vmsa_build(uint8_t out[VT_SNP_VMSA_SIZE], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig,
			      enum vt_snp_vmm vmm);

/* The padded SEV hashes table from the three SHA-256 digests. */
VT_API void vt_snp_hashes_table(const uint8_t kernel_sha256[32], const uint8_t initrd_sha256[32],
				const uint8_t cmdline_sha256[32], uint8_t out[VT_SNP_HASHES_TABLE_SIZE]);

/* CPUID(1).EAX for a family/model/stepping (family > 0xF uses the extended field). */
VT_API uint32_t vt_snp_cpu_sig(unsigned family, unsigned model, unsigned stepping);

/* QEMU CPU model name (case-insensitive) -> signature; VT_E_NOTFOUND listing the known names. */
VT_API VT_MUST_USE vt_status vt_snp_vcpu_sig_by_name(const char *name, uint32_t *sig, struct vt_err *err);
/* "EPYC, EPYC-v1, ..." (static string). */
VT_API const char *vt_snp_vcpu_type_names(void);

/* "qemu" | "ec2" | "gce" -> enum; VT_E_USAGE otherwise. */
VT_API VT_MUST_USE vt_status vt_snp_vmm_by_name(const char *name, enum vt_snp_vmm *out, struct vt_err *err);
VT_API const char *vt_snp_vmm_name(enum vt_snp_vmm vmm);

/* ---------------------------------------------------------------------------
 * The whole computation.
 */
struct vt_snp_measure_opts {
	const uint8_t *ovmf; /* the OVMF image (always needed for its metadata) */
	size_t ovmf_size;
	const uint8_t *ovmf_hash; /* 48 bytes: seed the chain, skip step 1; NULL: hash the image */
	bool has_kernel;           /* direct kernel boot */
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd; /* NULL/0: empty */
	size_t initrd_size;
	/* Optional precomputed SHA-256 digests (32 bytes) used instead of the
	 * bytes above, so large files can be hashed while streaming. */
	const uint8_t *kernel_sha256;
	const uint8_t *initrd_sha256;
	const char *cmdline; /* NULL: empty; hashed with its trailing NUL */
	uint32_t vcpus;      /* 1..VT_SNP_MAX_VCPUS */
	uint32_t vcpu_sig;   /* CPUID(1).EAX of the guest model (QEMU only) */
	uint64_t guest_features; /* VMSA SEV_FEATURES, e.g. 0x1 */
	enum vt_snp_vmm vmm;
};

/* Step 1 alone: the "OVMF hash" usable as opts.ovmf_hash. */
VT_API VT_MUST_USE vt_status vt_snp_ovmf_hash(const uint8_t *ovmf, size_t ovmf_size, uint8_t out[VT_SNP_LD_SIZE],
					      struct vt_err *err);

/*
 * The expected launch digest.  Errors: VT_E_PARSE (malformed image, field
 * named), VT_E_NOTFOUND (no SEV metadata: not an AmdSev/SNP OVMF build; no
 * SEV-ES reset block), VT_E_USAGE (vcpus out of range, kernel given but no
 * SNP_KERNEL_HASHES section, initrd/cmdline without kernel), VT_E_CRYPTO.
 */
VT_API VT_MUST_USE vt_status vt_snp_launch_digest(const struct vt_snp_measure_opts *opts,
						  uint8_t out[VT_SNP_LD_SIZE], struct vt_err *err);

#endif
