/*
 * SEV-SNP launch measurement: OVMF footer table and SEV metadata parsing,
 * the PAGE_INFO chain, the SEV hashes table page and the initial VMSAs.
 * See include/veritee/measure.h and docs/measure.md.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "veritee/measure.h"
#include "veritee/util.h"

/* GUIDs in EFI (little-endian, uuid bytes_le) byte order, as stored. */
static const uint8_t GUID_FOOTER[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
					0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
static const uint8_t GUID_SEV_ES_RESET[16] = {0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
					      0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e};
static const uint8_t GUID_HASH_TABLE_RV[16] = {0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b,
					       0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54};
static const uint8_t GUID_SEV_METADATA[16] = {0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
					      0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc};
static const uint8_t GUID_HT_HEADER[16] = {0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
					   0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21};
static const uint8_t GUID_HT_CMDLINE[16] = {0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c,
					    0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a};
static const uint8_t GUID_HT_INITRD[16] = {0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b,
					   0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d};
static const uint8_t GUID_HT_KERNEL[16] = {0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42,
					   0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b};

#define FOOTER_TAIL 32     /* bytes after the table (reset vector) */
#define ENTRY_TRAILER 18   /* u16 size + GUID */
#define META_HEADER 16     /* "ASEV", size, version, num_items */
#define META_DESC 12       /* gpa, size, type */
#define HT_ENTRY 50        /* GUID + u16 + SHA-256 */
#define HT_LEN (16 + 2 + 3 * HT_ENTRY) /* 168 */

static const uint64_t FOUR_GIB = 0x100000000ull;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------------------------ OVMF */

static vt_status read_u32_at(struct vt_reader *r, size_t off, uint32_t *out, const char *field, struct vt_err *err)
{
	if (off > r->size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "offset %zu outside the %zu-byte image", off,
			       r->size);
	r->off = off;
	return vt_reader_u32le(r, out, field, err);
}

/* One footer-table entry whose data is [doff, doff + dlen). */
static vt_status footer_entry(struct vt_snp_ovmf *o, struct vt_reader *r, const uint8_t guid[16], size_t doff,
			      size_t dlen, bool *seen_meta, uint32_t *meta_off, struct vt_err *err)
{
	vt_status rc;
	if (memcmp(guid, GUID_SEV_ES_RESET, 16) == 0) {
		if (o->has_reset_eip)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_es_reset_block",
				       "duplicate entry");
		if (dlen < 4)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_es_reset_block",
				       "entry data is %zu bytes, need 4", dlen);
		rc = read_u32_at(r, doff, &o->ap_eip, "ovmf.footer.sev_es_reset_block", err);
		if (rc != VT_OK)
			return rc;
		o->has_reset_eip = true;
	} else if (memcmp(guid, GUID_HASH_TABLE_RV, 16) == 0) {
		if (o->has_hashes_table)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_hash_table",
				       "duplicate entry");
		if (dlen < 4)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_hash_table",
				       "entry data is %zu bytes, need 4", dlen);
		rc = read_u32_at(r, doff, &o->hashes_table_gpa, "ovmf.footer.sev_hash_table.gpa", err);
		if (rc == VT_OK && dlen >= 8)
			rc = vt_reader_u32le(r, &o->hashes_table_size, "ovmf.footer.sev_hash_table.size", err);
		if (rc != VT_OK)
			return rc;
		o->has_hashes_table = true;
	} else if (memcmp(guid, GUID_SEV_METADATA, 16) == 0) {
		if (*seen_meta)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_metadata", "duplicate entry");
		if (dlen < 4)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_metadata",
				       "entry data is %zu bytes, need 4", dlen);
		rc = read_u32_at(r, doff, meta_off, "ovmf.footer.sev_metadata.offset", err);
		if (rc != VT_OK)
			return rc;
		*seen_meta = true;
	}
	return VT_OK; /* other entries are not used for SNP */
}

static vt_status parse_metadata(struct vt_snp_ovmf *o, struct vt_reader *r, uint32_t meta_off, struct vt_err *err)
{
	vt_status rc;
	if (meta_off < META_HEADER || meta_off > o->size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.metadata.offset",
			       "metadata offset %u from the end is outside the %zu-byte image", meta_off, o->size);
	size_t start = o->size - meta_off;
	r->off = start;
	uint8_t sig[4];
	uint32_t hsize, version, num;
	if ((rc = vt_reader_copy(r, sig, 4, "ovmf.metadata.signature", err)) != VT_OK ||
	    (rc = vt_reader_u32le(r, &hsize, "ovmf.metadata.size", err)) != VT_OK ||
	    (rc = vt_reader_u32le(r, &version, "ovmf.metadata.version", err)) != VT_OK ||
	    (rc = vt_reader_u32le(r, &num, "ovmf.metadata.num_items", err)) != VT_OK)
		return rc;
	if (memcmp(sig, "ASEV", 4) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.metadata.signature",
			       "signature is %02x%02x%02x%02x, want \"ASEV\"", sig[0], sig[1], sig[2], sig[3]);
	if (version != 1)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.metadata.version", "version %u, want 1", version);
	if (hsize < META_HEADER || hsize > o->size - start)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.metadata.size",
			       "metadata size %u does not fit in the %zu bytes after its offset", hsize,
			       o->size - start);
	if (num > VT_SNP_MAX_SECTIONS)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.metadata.num_items",
			       "%u sections, at most %d supported", num, VT_SNP_MAX_SECTIONS);
	if (num > (hsize - META_HEADER) / META_DESC)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.metadata.num_items",
			       "%u descriptors do not fit in the %u-byte metadata", num, hsize);
	struct vt_reader d;
	vt_reader_init(&d, o->data + start + META_HEADER, hsize - META_HEADER);
	for (uint32_t i = 0; i < num; i++) {
		struct vt_snp_section *s = &o->sections[i];
		char field[64];
		snprintf(field, sizeof(field), "ovmf.metadata.section[%u]", i);
		if ((rc = vt_reader_u32le(&d, &s->gpa, field, err)) != VT_OK ||
		    (rc = vt_reader_u32le(&d, &s->size, field, err)) != VT_OK ||
		    (rc = vt_reader_u32le(&d, &s->type, field, err)) != VT_OK)
			return rc;
		switch (s->type) {
		case VT_SNP_SEC_MEM:
		case VT_SNP_SEC_SECRETS:
		case VT_SNP_SEC_CPUID:
		case VT_SNP_SEC_SVSM_CAA:
		case VT_SNP_SEC_KERNEL_HASHES: break;
		default:
			snprintf(field, sizeof(field), "ovmf.metadata.section[%u].type", i);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "unknown section type %#x", s->type);
		}
		if (s->gpa % VT_SNP_PAGE_SIZE != 0) {
			snprintf(field, sizeof(field), "ovmf.metadata.section[%u].gpa", i);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "gpa %#x is not page aligned", s->gpa);
		}
		if (s->size % VT_SNP_PAGE_SIZE != 0) {
			snprintf(field, sizeof(field), "ovmf.metadata.section[%u].size", i);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "size %#x is not a multiple of 4096",
				       s->size);
		}
	}
	o->nsections = num;
	o->has_metadata = true;
	return VT_OK;
}

vt_status vt_snp_ovmf_parse(const uint8_t *data, size_t size, struct vt_snp_ovmf *o, struct vt_err *err)
{
	memset(o, 0, sizeof(*o));
	if (data == NULL || size == 0 || size % VT_SNP_PAGE_SIZE != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.size",
			       "image is %zu bytes, want a non-zero multiple of 4096 (truncated?)", size);
	if (size > VT_SNP_OVMF_MAX_SIZE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "ovmf.size", "image is %zu bytes, at most %u", size,
			       VT_SNP_OVMF_MAX_SIZE);
	o->data = data;
	o->size = size;
	o->gpa = FOUR_GIB - size;

	struct vt_reader r;
	vt_reader_init(&r, data, size);
	vt_status rc;
	/* The table ends 32 bytes before the end; its last entry is the footer. */
	size_t end = size - FOOTER_TAIL;
	uint16_t total;
	uint8_t guid[16];
	r.off = end - ENTRY_TRAILER;
	if ((rc = vt_reader_u16le(&r, &total, "ovmf.footer.size", err)) != VT_OK ||
	    (rc = vt_reader_copy(&r, guid, 16, "ovmf.footer.guid", err)) != VT_OK)
		return rc;
	if (memcmp(guid, GUID_FOOTER, 16) != 0)
		return VT_OK; /* no GUID table: not an SEV-capable build */
	if (total < ENTRY_TRAILER)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.size",
			       "table size %u is smaller than its own %d-byte footer", total, ENTRY_TRAILER);
	if (total > end)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.size",
			       "table size %u is larger than the %zu bytes before it", total, end);

	/* Walk backwards over [start, pos): data || u16 size || GUID. */
	size_t start = end - total, pos = end - ENTRY_TRAILER;
	bool seen_meta = false;
	uint32_t meta_off = 0;
	for (unsigned i = 0; pos - start >= ENTRY_TRAILER; i++) {
		char field[64];
		uint16_t esize;
		snprintf(field, sizeof(field), "ovmf.footer.entry[%u].size", i);
		r.off = pos - ENTRY_TRAILER;
		if ((rc = vt_reader_u16le(&r, &esize, field, err)) != VT_OK ||
		    (rc = vt_reader_copy(&r, guid, 16, field, err)) != VT_OK)
			return rc;
		if (esize < ENTRY_TRAILER)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "entry size %u < %d", esize,
				       ENTRY_TRAILER);
		if (esize > pos - start)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "entry size %u exceeds the %zu bytes left in the table", esize, pos - start);
		size_t doff = pos - esize, dlen = (size_t)esize - ENTRY_TRAILER;
		rc = footer_entry(o, &r, guid, doff, dlen, &seen_meta, &meta_off, err);
		if (rc != VT_OK)
			return rc;
		pos -= esize;
	}
	if (seen_meta)
		return parse_metadata(o, &r, meta_off, err);
	return VT_OK;
}

/* ------------------------------------------------------------ the chain */

static vt_status crypto_fail(struct vt_err *err, const char *what)
{
	return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "sha384", "%s failed", what);
}

vt_status vt_snp_gctx_init(struct vt_snp_gctx *g, const uint8_t *seed, struct vt_err *err)
{
	memset(g, 0, sizeof(*g));
	if (seed)
		memcpy(g->ld, seed, VT_SNP_LD_SIZE);
	g->md = EVP_MD_fetch(NULL, "SHA384", NULL);
	g->ctx = EVP_MD_CTX_new();
	if (g->md == NULL || g->ctx == NULL) {
		vt_snp_gctx_free(g);
		return crypto_fail(err, "EVP_MD_fetch(SHA384)");
	}
	return VT_OK;
}

void vt_snp_gctx_free(struct vt_snp_gctx *g)
{
	if (g == NULL)
		return;
	EVP_MD_CTX_free(g->ctx);
	EVP_MD_free(g->md);
	g->ctx = NULL;
	g->md = NULL;
}

static vt_status sha384(struct vt_snp_gctx *g, const void *p, size_t n, uint8_t out[VT_SNP_LD_SIZE],
			struct vt_err *err)
{
	unsigned int len = 0;
	if (EVP_DigestInit_ex2(g->ctx, g->md, NULL) != 1 || EVP_DigestUpdate(g->ctx, p, n) != 1 ||
	    EVP_DigestFinal_ex(g->ctx, out, &len) != 1 || len != VT_SNP_LD_SIZE)
		return crypto_fail(err, "SHA-384");
	return VT_OK;
}

vt_status vt_snp_gctx_update(struct vt_snp_gctx *g, uint8_t page_type, uint64_t gpa,
			     const uint8_t contents[VT_SNP_LD_SIZE], struct vt_err *err)
{
	uint8_t pi[0x70] = {0};
	memcpy(pi, g->ld, VT_SNP_LD_SIZE);
	memcpy(pi + 0x30, contents, VT_SNP_LD_SIZE);
	put16(pi + 0x60, 0x70);
	pi[0x62] = page_type;
	/* 0x63 IMI_PAGE, 0x64..0x66 VMPL3..1 perms, 0x67 reserved: all 0 */
	put64(pi + 0x68, gpa);
	return sha384(g, pi, sizeof(pi), g->ld, err);
}

vt_status vt_snp_gctx_normal_pages(struct vt_snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len,
				   struct vt_err *err)
{
	if (len % VT_SNP_PAGE_SIZE != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "len", "%zu is not a multiple of 4096", len);
	uint8_t h[VT_SNP_LD_SIZE];
	for (size_t off = 0; off < len; off += VT_SNP_PAGE_SIZE) {
		vt_status rc = sha384(g, data + off, VT_SNP_PAGE_SIZE, h, err);
		if (rc == VT_OK)
			rc = vt_snp_gctx_update(g, VT_SNP_PAGE_NORMAL, gpa + off, h, err);
		if (rc != VT_OK)
			return rc;
	}
	return VT_OK;
}

vt_status vt_snp_gctx_empty_pages(struct vt_snp_gctx *g, uint8_t page_type, uint64_t gpa, uint64_t len,
				  struct vt_err *err)
{
	static const uint8_t zeros[VT_SNP_LD_SIZE];
	if (len % VT_SNP_PAGE_SIZE != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "len", "%llu is not a multiple of 4096",
			       (unsigned long long)len);
	for (uint64_t off = 0; off < len; off += VT_SNP_PAGE_SIZE) {
		vt_status rc = vt_snp_gctx_update(g, page_type, gpa + off, zeros, err);
		if (rc != VT_OK)
			return rc;
	}
	return VT_OK;
}

vt_status vt_snp_gctx_vmsa_page(struct vt_snp_gctx *g, const uint8_t vmsa[VT_SNP_VMSA_SIZE], struct vt_err *err)
{
	uint8_t h[VT_SNP_LD_SIZE];
	vt_status rc = sha384(g, vmsa, VT_SNP_VMSA_SIZE, h, err);
	return rc != VT_OK ? rc : vt_snp_gctx_update(g, VT_SNP_PAGE_VMSA, VT_SNP_VMSA_GPA, h, err);
}

/* ------------------------------------------------------------------ VMSA */

static void put_seg(uint8_t *p, uint16_t sel, uint16_t attr, uint32_t limit, uint64_t base)
{
	put16(p, sel);
	put16(p + 2, attr);
	put32(p + 4, limit);
	put64(p + 8, base);
}

void vt_snp_vmsa_build(uint8_t out[VT_SNP_VMSA_SIZE], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig,
		       enum vt_snp_vmm vmm)
{
	uint16_t cs_attr = 0x9B, ss_attr = 0x93, tr_attr = 0x8B, fcw = 0x37F;
	uint64_t g_pat = 0x0007040600070406ull, rdx = vcpu_sig;
	uint32_t mxcsr = 0x1F80;
	if (vmm == VT_SNP_VMM_EC2) {
		cs_attr = eip == VT_SNP_BSP_EIP ? 0x9A : 0x9B;
		ss_attr = 0x92;
		tr_attr = 0x83;
		rdx = 0x600;
		mxcsr = 0;
		fcw = 0;
	} else if (vmm == VT_SNP_VMM_GCE) {
		g_pat = 0x00070106;
		rdx = 0x600;
		mxcsr = 0;
		fcw = 0;
	}
	memset(out, 0, VT_SNP_VMSA_SIZE);
	put_seg(out + 0x000, 0, 0x93, 0xFFFF, 0);                       /* ES */
	put_seg(out + 0x010, 0xF000, cs_attr, 0xFFFF, eip & 0xFFFF0000u); /* CS */
	put_seg(out + 0x020, 0, ss_attr, 0xFFFF, 0);                    /* SS */
	put_seg(out + 0x030, 0, 0x93, 0xFFFF, 0);                       /* DS */
	put_seg(out + 0x040, 0, 0x93, 0xFFFF, 0);                       /* FS */
	put_seg(out + 0x050, 0, 0x93, 0xFFFF, 0);                       /* GS */
	put_seg(out + 0x060, 0, 0, 0xFFFF, 0);                          /* GDTR */
	put_seg(out + 0x070, 0, 0x82, 0xFFFF, 0);                       /* LDTR */
	put_seg(out + 0x080, 0, 0, 0xFFFF, 0);                          /* IDTR */
	put_seg(out + 0x090, 0, tr_attr, 0xFFFF, 0);                    /* TR */
	put64(out + 0x0D0, 0x1000);                                     /* EFER.SVME */
	put64(out + 0x148, 0x40);                                       /* CR4.MCE */
	put64(out + 0x158, 0x10);                                       /* CR0.ET */
	put64(out + 0x160, 0x400);                                      /* DR7 */
	put64(out + 0x168, 0xFFFF0FF0);                                 /* DR6 */
	put64(out + 0x170, 0x2);                                        /* RFLAGS */
	put64(out + 0x178, eip & 0xFFFFu);                              /* RIP */
	put64(out + 0x268, g_pat);                                      /* G_PAT */
	put64(out + 0x310, rdx);                                        /* RDX */
	put64(out + 0x3B0, sev_features);                               /* SEV_FEATURES */
	put64(out + 0x3E8, 0x1);                                        /* XCR0 */
	put32(out + 0x408, mxcsr);                                      /* MXCSR */
	put16(out + 0x410, fcw);                                        /* X87_FCW */
}

/* -------------------------------------------------------- hashes table */

static uint8_t *ht_entry(uint8_t *p, const uint8_t guid[16], const uint8_t hash[32])
{
	memcpy(p, guid, 16);
	put16(p + 16, HT_ENTRY);
	memcpy(p + 18, hash, 32);
	return p + HT_ENTRY;
}

void vt_snp_hashes_table(const uint8_t kernel_sha256[32], const uint8_t initrd_sha256[32],
			 const uint8_t cmdline_sha256[32], uint8_t out[VT_SNP_HASHES_TABLE_SIZE])
{
	memset(out, 0, VT_SNP_HASHES_TABLE_SIZE);
	memcpy(out, GUID_HT_HEADER, 16);
	put16(out + 16, HT_LEN);
	uint8_t *p = out + 18;
	p = ht_entry(p, GUID_HT_CMDLINE, cmdline_sha256);
	p = ht_entry(p, GUID_HT_INITRD, initrd_sha256);
	(void)ht_entry(p, GUID_HT_KERNEL, kernel_sha256);
	/* out[168..176) is the zero padding to a multiple of 16 */
}

/* ------------------------------------------------------------ vCPU types */

uint32_t vt_snp_cpu_sig(unsigned family, unsigned model, unsigned stepping)
{
	unsigned fam_lo = family, fam_hi = 0;
	if (family > 0xF) {
		fam_lo = 0xF;
		fam_hi = (family - 0xF) & 0xFF;
	}
	return ((uint32_t)fam_hi << 20) | ((uint32_t)((model >> 4) & 0xF) << 16) | ((uint32_t)fam_lo << 8) |
	       ((uint32_t)(model & 0xF) << 4) | (stepping & 0xF);
}

/* QEMU's builtin AMD EPYC models (family, model, stepping). */
static const struct {
	const char *name;
	unsigned family, model, stepping;
} VCPU_TYPES[] = {
	{"EPYC", 23, 1, 2},	    {"EPYC-v1", 23, 1, 2},	  {"EPYC-v2", 23, 1, 2},
	{"EPYC-v3", 23, 1, 2},	    {"EPYC-v4", 23, 1, 2},	  {"EPYC-IBPB", 23, 1, 2},
	{"EPYC-Rome", 23, 49, 0},   {"EPYC-Rome-v1", 23, 49, 0},  {"EPYC-Rome-v2", 23, 49, 0},
	{"EPYC-Rome-v3", 23, 49, 0}, {"EPYC-Milan", 25, 1, 1},	  {"EPYC-Milan-v1", 25, 1, 1},
	{"EPYC-Milan-v2", 25, 1, 1}, {"EPYC-Genoa", 25, 17, 0},	  {"EPYC-Genoa-v1", 25, 17, 0},
	{"EPYC-Turin", 26, 0, 0},
};

const char *vt_snp_vcpu_type_names(void)
{
	return "EPYC, EPYC-v1, EPYC-v2, EPYC-v3, EPYC-v4, EPYC-IBPB, EPYC-Rome, EPYC-Rome-v1, EPYC-Rome-v2, "
	       "EPYC-Rome-v3, EPYC-Milan, EPYC-Milan-v1, EPYC-Milan-v2, EPYC-Genoa, EPYC-Genoa-v1, EPYC-Turin";
}

vt_status vt_snp_vcpu_sig_by_name(const char *name, uint32_t *sig, struct vt_err *err)
{
	for (size_t i = 0; name && i < sizeof(VCPU_TYPES) / sizeof(VCPU_TYPES[0]); i++) {
		if (strcasecmp(name, VCPU_TYPES[i].name) == 0) {
			*sig = vt_snp_cpu_sig(VCPU_TYPES[i].family, VCPU_TYPES[i].model, VCPU_TYPES[i].stepping);
			return VT_OK;
		}
	}
	return vt_fail(err, VT_E_NOTFOUND, VT_STEP_CONFIG, "vcpu-type", "unknown vCPU type \"%.64s\"; known: %s",
		       name ? name : "", vt_snp_vcpu_type_names());
}

vt_status vt_snp_vmm_by_name(const char *name, enum vt_snp_vmm *out, struct vt_err *err)
{
	if (name && strcasecmp(name, "qemu") == 0)
		*out = VT_SNP_VMM_QEMU;
	else if (name && strcasecmp(name, "ec2") == 0)
		*out = VT_SNP_VMM_EC2;
	else if (name && strcasecmp(name, "gce") == 0)
		*out = VT_SNP_VMM_GCE;
	else
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "vmm-type",
			       "unknown VMM type \"%.64s\"; known: qemu, ec2, gce", name ? name : "");
	return VT_OK;
}

const char *vt_snp_vmm_name(enum vt_snp_vmm vmm)
{
	switch (vmm) {
	case VT_SNP_VMM_QEMU: return "qemu";
	case VT_SNP_VMM_EC2: return "ec2";
	case VT_SNP_VMM_GCE: return "gce";
	}
	return "?";
}

/* ------------------------------------------------------- the computation */

vt_status vt_snp_ovmf_hash(const uint8_t *ovmf, size_t ovmf_size, uint8_t out[VT_SNP_LD_SIZE], struct vt_err *err)
{
	if (ovmf == NULL || ovmf_size == 0 || ovmf_size % VT_SNP_PAGE_SIZE != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.size",
			       "image is %zu bytes, want a non-zero multiple of 4096 (truncated?)", ovmf_size);
	if (ovmf_size > VT_SNP_OVMF_MAX_SIZE)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "ovmf.size", "image is %zu bytes, at most %u",
			       ovmf_size, VT_SNP_OVMF_MAX_SIZE);
	struct vt_snp_gctx g;
	vt_status rc = vt_snp_gctx_init(&g, NULL, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_snp_gctx_normal_pages(&g, FOUR_GIB - ovmf_size, ovmf, ovmf_size, err);
	if (rc == VT_OK)
		memcpy(out, g.ld, VT_SNP_LD_SIZE);
	vt_snp_gctx_free(&g);
	return rc;
}

static vt_status sha256(const void *p, size_t n, uint8_t out[32], struct vt_err *err)
{
	unsigned int len = 0;
	static const uint8_t empty;
	if (EVP_Digest(n ? p : &empty, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "sha256", "SHA-256 failed");
	return VT_OK;
}

/* The 4 KiB page QEMU fills with the SEV hashes table. */
static vt_status hashes_page(const struct vt_snp_measure_opts *o, uint32_t table_gpa, uint8_t page[VT_SNP_PAGE_SIZE],
			     struct vt_err *err)
{
	uint8_t hk[32], hi[32], hc[32], table[VT_SNP_HASHES_TABLE_SIZE];
	const char *cmd = o->cmdline ? o->cmdline : "";
	vt_status rc;
	if (o->kernel_sha256)
		memcpy(hk, o->kernel_sha256, 32);
	else if ((rc = sha256(o->kernel, o->kernel ? o->kernel_size : 0, hk, err)) != VT_OK)
		return rc;
	if (o->initrd_sha256)
		memcpy(hi, o->initrd_sha256, 32);
	else if ((rc = sha256(o->initrd, o->initrd ? o->initrd_size : 0, hi, err)) != VT_OK)
		return rc;
	if ((rc = sha256(cmd, strlen(cmd) + 1, hc, err)) != VT_OK) /* with its NUL */
		return rc;
	vt_snp_hashes_table(hk, hi, hc, table);
	size_t off = table_gpa & (VT_SNP_PAGE_SIZE - 1);
	if (off > VT_SNP_PAGE_SIZE - VT_SNP_HASHES_TABLE_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_hash_table.gpa",
			       "table at %#x would cross its page", table_gpa);
	memset(page, 0, VT_SNP_PAGE_SIZE);
	memcpy(page + off, table, sizeof(table));
	return VT_OK;
}

static vt_status measure_section(struct vt_snp_gctx *g, const struct vt_snp_section *s, unsigned idx,
				 const struct vt_snp_measure_opts *o, const uint8_t *ht_page, struct vt_err *err)
{
	switch (s->type) {
	case VT_SNP_SEC_MEM:
		return vt_snp_gctx_empty_pages(g, o->vmm == VT_SNP_VMM_GCE ? VT_SNP_PAGE_UNMEASURED : VT_SNP_PAGE_ZERO,
					       s->gpa, s->size, err);
	case VT_SNP_SEC_SECRETS: return vt_snp_gctx_empty_pages(g, VT_SNP_PAGE_SECRETS, s->gpa, VT_SNP_PAGE_SIZE, err);
	case VT_SNP_SEC_CPUID:
		if (o->vmm == VT_SNP_VMM_EC2)
			return VT_OK; /* EC2 measures CPUID pages after all other sections */
		return vt_snp_gctx_empty_pages(g, VT_SNP_PAGE_CPUID, s->gpa, VT_SNP_PAGE_SIZE, err);
	case VT_SNP_SEC_SVSM_CAA: return vt_snp_gctx_empty_pages(g, VT_SNP_PAGE_ZERO, s->gpa, s->size, err);
	case VT_SNP_SEC_KERNEL_HASHES:
		if (!o->has_kernel)
			return vt_snp_gctx_empty_pages(g, VT_SNP_PAGE_ZERO, s->gpa, s->size, err);
		if (s->size != VT_SNP_PAGE_SIZE) {
			char field[64];
			snprintf(field, sizeof(field), "ovmf.metadata.section[%u].size", idx);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
				       "SNP_KERNEL_HASHES section is %#x bytes, want exactly 4096", s->size);
		}
		return vt_snp_gctx_normal_pages(g, s->gpa, ht_page, VT_SNP_PAGE_SIZE, err);
	}
	return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, "section", "unexpected type %#x", s->type);
}

vt_status vt_snp_launch_digest(const struct vt_snp_measure_opts *o, uint8_t out[VT_SNP_LD_SIZE], struct vt_err *err)
{
	struct vt_snp_ovmf ovmf;
	vt_status rc;
	if (o->vcpus < 1 || o->vcpus > VT_SNP_MAX_VCPUS)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "vcpus", "%u vCPUs, want 1..%d", o->vcpus,
			       VT_SNP_MAX_VCPUS);
	if (o->vmm != VT_SNP_VMM_QEMU && o->vmm != VT_SNP_VMM_EC2 && o->vmm != VT_SNP_VMM_GCE)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "vmm-type", "unknown VMM type %d", (int)o->vmm);
	if (!o->has_kernel && ((o->initrd && o->initrd_size) || o->initrd_sha256 || (o->cmdline && o->cmdline[0])))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "kernel", "initrd or cmdline given without a kernel");
	if ((rc = vt_snp_ovmf_parse(o->ovmf, o->ovmf_size, &ovmf, err)) != VT_OK)
		return rc;
	if (!ovmf.has_metadata)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_PARSE, "ovmf.metadata",
			       "no SEV metadata (footer GUID dc886566-...): not an AmdSev/SNP OVMF build");
	if (!ovmf.has_reset_eip)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_PARSE, "ovmf.footer.sev_es_reset_block",
			       "no SEV-ES reset block (AP reset EIP) in the footer table");
	if (o->vcpus > 1 && ovmf.ap_eip == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "ovmf.footer.sev_es_reset_block",
			       "AP reset EIP is 0 but %u vCPUs requested", o->vcpus);

	uint8_t ht_page[VT_SNP_PAGE_SIZE];
	if (o->has_kernel) {
		bool found = false;
		for (size_t i = 0; i < ovmf.nsections; i++)
			found = found || ovmf.sections[i].type == VT_SNP_SEC_KERNEL_HASHES;
		if (!found)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "kernel",
				       "kernel given but the OVMF metadata has no SNP_KERNEL_HASHES section (QEMU "
				       "would not measure the kernel); use an AmdSev OVMF build");
		if (!ovmf.has_hashes_table || ovmf.hashes_table_gpa == 0)
			return vt_fail(err, VT_E_NOTFOUND, VT_STEP_PARSE, "ovmf.footer.sev_hash_table",
				       "kernel given but the OVMF footer has no SEV hash table address");
		if ((rc = hashes_page(o, ovmf.hashes_table_gpa, ht_page, err)) != VT_OK)
			return rc;
	}

	struct vt_snp_gctx g;
	if ((rc = vt_snp_gctx_init(&g, o->ovmf_hash, err)) != VT_OK)
		return rc;
	uint8_t vmsa[VT_SNP_VMSA_SIZE], bsp_h[VT_SNP_LD_SIZE], ap_h[VT_SNP_LD_SIZE];
	if (o->ovmf_hash == NULL)
		VT_GUARD(vt_snp_gctx_normal_pages(&g, ovmf.gpa, ovmf.data, ovmf.size, err));
	for (size_t i = 0; i < ovmf.nsections; i++)
		VT_GUARD(measure_section(&g, &ovmf.sections[i], (unsigned)i, o, ht_page, err));
	if (o->vmm == VT_SNP_VMM_EC2)
		for (size_t i = 0; i < ovmf.nsections; i++)
			if (ovmf.sections[i].type == VT_SNP_SEC_CPUID)
				VT_GUARD(vt_snp_gctx_empty_pages(&g, VT_SNP_PAGE_CPUID, ovmf.sections[i].gpa,
								 VT_SNP_PAGE_SIZE, err));
	/* All APs share one VMSA: hash each kind once. */
	vt_snp_vmsa_build(vmsa, VT_SNP_BSP_EIP, o->guest_features, o->vcpu_sig, o->vmm);
	VT_GUARD(sha384(&g, vmsa, sizeof(vmsa), bsp_h, err));
	vt_snp_vmsa_build(vmsa, ovmf.ap_eip, o->guest_features, o->vcpu_sig, o->vmm);
	VT_GUARD(sha384(&g, vmsa, sizeof(vmsa), ap_h, err));
	for (uint32_t i = 0; i < o->vcpus; i++)
		VT_GUARD(vt_snp_gctx_update(&g, VT_SNP_PAGE_VMSA, VT_SNP_VMSA_GPA, i == 0 ? bsp_h : ap_h, err));
	memcpy(out, g.ld, VT_SNP_LD_SIZE);
out:
	vt_snp_gctx_free(&g);
	return rc;
}
