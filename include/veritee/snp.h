/*
 * veritee/snp.h — AMD SEV-SNP: attestation report parsing, certificate
 * table and VCEK/VLEK extension parsing, verification, and evidence in the
 * JSON form Trustee's snp verifier takes.  Byte layouts and verification
 * steps: ../shared/docs/formats/sev-snp.md.
 *
 * All parsers go through the bounded reader, borrow their input and copy
 * fields into the output structs (no pointers into the input survive).
 */
#ifndef VERITEE_SNP_H
#define VERITEE_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/evidence.h"
#include "veritee/fetch.h"

#define VT_SNP_REPORT_SIZE 0x4A0u   /* 1184 */
#define VT_SNP_SIGNED_SIZE 0x2A0u   /* bytes covered by the signature */

/* The product (processor generation) decides the TCB byte layout and the root. */
typedef enum vt_snp_product {
	VT_SNP_PRODUCT_UNKNOWN = 0,
	VT_SNP_PRODUCT_MILAN,
	VT_SNP_PRODUCT_GENOA,
	VT_SNP_PRODUCT_TURIN,
} vt_snp_product;

/* "Milan", "Genoa", "Turin" (KDS spelling) or "unknown". */
VT_API const char *vt_snp_product_name(vt_snp_product p);
/* From the report's CPUID family/model (v3+); UNKNOWN for v2 or unknown models. */
VT_API vt_snp_product vt_snp_product_from_cpuid(uint8_t family, uint8_t model);

/* TCB_VERSION decoded for a product.  `fmc` is Turin-only (0 otherwise). */
struct vt_snp_tcb {
	uint8_t fmc, bootloader, tee, snp, microcode;
	uint64_t raw; /* the 8 bytes as a little-endian u64 */
};
VT_API void vt_snp_tcb_decode(uint64_t raw, vt_snp_product product, struct vt_snp_tcb *out);

/* Signing key selector from KEY_INFO bits 4:2. */
#define VT_SNP_SIGNING_KEY_VCEK 0
#define VT_SNP_SIGNING_KEY_VLEK 1
#define VT_SNP_SIGNING_KEY_NONE 7

/* Every field of the report, versions 2, 3, 4 (read as 3) and 5. */
struct vt_snp_report {
	uint32_t version;
	uint32_t guest_svn;
	uint64_t policy;
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t vmpl;
	uint32_t signature_algo;
	uint64_t current_tcb;
	uint64_t platform_info;
	uint32_t key_info;          /* bit 0 author_key_en, bit 1 mask_chip_key, bits 4:2 signing_key */
	uint8_t report_data[64];
	uint8_t measurement[48];
	uint8_t host_data[32];
	uint8_t id_key_digest[48];
	uint8_t author_key_digest[48];
	uint8_t report_id[32];
	uint8_t report_id_ma[32];
	uint64_t reported_tcb;
	uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step; /* v3+ (0 in v2) */
	uint8_t chip_id[64];
	uint64_t committed_tcb;
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint64_t launch_tcb;
	uint64_t launch_mit_vector;   /* v5 (0 before) */
	uint64_t current_mit_vector;  /* v5 (0 before) */
	uint8_t sig_r[72];            /* little-endian, as in the report */
	uint8_t sig_s[72];
	vt_snp_product product;       /* from CPUID (v3+), else UNKNOWN */
};

/*
 * Parse a report.  `size` must be at least VT_SNP_REPORT_SIZE; bytes past
 * it are ignored only when `allow_trailing` (e.g. a report followed by a
 * certificate table or an HCL trailer).  Checks: version 2..5 (others:
 * VT_E_PARSE naming "report.version" and the value), signature_algo 1,
 * every MBZ/reserved range zero, policy bit 17 set, platform_info bit 6
 * clear, signing_key 0 or 1, signature reserved area zero.
 */
VT_API VT_MUST_USE vt_status vt_snp_report_parse(const uint8_t *buf, size_t size, bool allow_trailing,
						 struct vt_snp_report *out, struct vt_err *err);

/*
 * Trustee's JSON form of a report (the sev crate's serde output, as in
 * `primary_evidence.attestation_report`: integers, byte arrays as JSON
 * arrays of numbers, nested current_tcb{…}, signature{r,s}, …) to the
 * 1184-byte binary report, and back.  to_json emits the version-3 key set
 * (plus launch_mit_vector/current_mit_vector for v5).
 */
VT_API VT_MUST_USE vt_status vt_snp_report_from_json(const json_t *obj, uint8_t out[VT_SNP_REPORT_SIZE],
						     struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_snp_report_to_json(const uint8_t report[VT_SNP_REPORT_SIZE], json_t **out,
						   struct vt_err *err);

/* Certificate table of an extended report (GHCB MSG_REPORT_REQ / auxblob). */
typedef enum vt_snp_cert_kind {
	VT_SNP_CERT_OTHER = 0,
	VT_SNP_CERT_ARK,
	VT_SNP_CERT_ASK,   /* also ASVK */
	VT_SNP_CERT_VCEK,
	VT_SNP_CERT_VLEK,
	VT_SNP_CERT_CRL,
} vt_snp_cert_kind;

struct vt_snp_cert_entry {
	vt_snp_cert_kind kind;
	uint8_t guid[16];
	uint32_t offset, length;   /* data = table + offset, length bytes */
};

#define VT_SNP_CERT_TABLE_MAX 16

/* Parse the table: entries until the all-zero terminator; offsets must lie
 * past the entry array and offset+length within `size` (checked by
 * subtraction).  At most VT_SNP_CERT_TABLE_MAX entries. */
VT_API VT_MUST_USE vt_status vt_snp_cert_table_parse(const uint8_t *table, size_t size,
						     struct vt_snp_cert_entry out[VT_SNP_CERT_TABLE_MAX],
						     size_t *count, struct vt_err *err);

/* AMD extensions of a VCEK/VLEK certificate (OIDs 1.3.6.1.4.1.3704.1.*). */
struct vt_snp_vek_ext {
	bool has_struct_version;
	int64_t struct_version;
	char product_name[32];        /* productName1, e.g. "Milan-B0" ("" if absent) */
	bool has_bl, has_tee, has_snp, has_ucode, has_fmc;
	uint8_t bl, tee, snp, ucode, fmc;
	bool has_hwid;
	uint8_t hwid[64];
	size_t hwid_size;             /* 64 (Milan/Genoa) or 8 (Turin) */
	bool has_csp_id;
	char csp_id[64];              /* VLEK only */
};

/* Read the AMD extensions from a certificate.  SPL integers must be 0..255;
 * hwID accepted raw or wrapped in an OCTET STRING. */
VT_API VT_MUST_USE vt_status vt_snp_vek_ext_parse(X509 *cert, struct vt_snp_vek_ext *out, struct vt_err *err);

/* Same, from the DER extension values (for the fuzzer and tests):
 * `oid_suffix` is the part after 1.3.6.1.4.1.3704.1. ("3.1", "4", ...). */
VT_API VT_MUST_USE vt_status vt_snp_vek_ext_value(const char *oid_suffix, const uint8_t *der, size_t der_size,
						  struct vt_snp_vek_ext *ext, struct vt_err *err);

/*
 * Where certificates come from, tried in this order:
 *   1. those sent with the evidence (cert table / Trustee cert_chain);
 *   2. `certs_path`: a file or a directory holding any mix of PEM and DER
 *      certificates (VCEK/VLEK, ASK/ASVK, ARK) — picked by what they are;
 *   3. `cache_dir`: certificates fetched before, as <cache>/amd/<product>/...;
 *   4. AMD KDS at `kds_url` (default https://kdsintf.amd.com), unless
 *      `offline`; fetched certificates are written to the cache.  Fetches
 *      go through `gate` (veritee/fetch.h), which bounds their number, time
 *      and rate and charges vt_verify_ctx.client; NULL = no gate, each
 *      fetch still ends within VT_FETCH_TIMEOUT_DEFAULT_MS.
 * Certificates from any source are untrusted until they chain to the
 * pinned ARK of the report's product.
 */
struct vt_snp_sources {
	const char *certs_path;
	const char *cache_dir;
	const char *kds_url;
	bool offline;
	long timeout_ms;              /* per KDS attempt, 0 = 10 s (the gate's timeout caps the whole fetch) */
	struct vt_fetch_gate *gate;   /* borrowed, may be NULL; shared with vt_dcap_sources.gate */
	vt_http_get_fn http_get;      /* the KDS transport (veritee/fetch.h); NULL: KDS fetches fail closed */
	/* Where verifications with these sources cache (borrowed: a verifier's,
	 * vt_verifier_caches); NULL = the ctx's verifier's, else no caching. */
	struct vt_cache_set *caches;
	/* Use AMD's ARK/ASK/ASVK shipped with veritee (pinned, like any ARK)
	 * when the evidence and certs_path lack them.  A verifier's snp state
	 * sets it; a zeroed struct does not. */
	bool builtin_roots;
	/* The product of a report that does not name it (version 2), instead
	 * of the VCEK's productName; VT_SNP_PRODUCT_UNKNOWN = from the VCEK.
	 * For a report that names it (CPUID), a different product is refused. */
	vt_snp_product product;
};

/* The AMD certificates veritee ships (builtin.c), each pinned by the
 * SHA-256 of its DER: role "ARK", "ASK" or "ASVK", PEM text.  NULL past
 * the end. */
struct vt_snp_builtin_cert {
	vt_snp_product product;
	const char *role;
	const char *pem;
};
VT_API const struct vt_snp_builtin_cert *vt_snp_builtin_cert_at(size_t i);

/* The registry entry, tee "snp".  Evidence JSON (Trustee's form):
 *   {"attestation_report": {...serde...}, "cert_chain": [{"cert_type": "VCEK"|"VLEK"|"ASK"|"ASVK"|"ARK"|"CRL",
 *    "data": [DER bytes as numbers]}] | null}
 * veritee also accepts {"report": "<std base64 of the binary report, optionally followed by a cert
 * table>", "cert_table": "<std base64>"?} so raw guest output can be sent as is. */
VT_API extern const struct vt_tee vt_tee_snp;

/* ---------------------------------------------------------------------------
 * Guest side (attester).  Where the guest interfaces live; NULL members mean
 * the defaults.  See docs/attester-snp.md.
 */
struct vt_snp_attest_paths {
	const char *configfs_root;   /* default /sys/kernel/config/tsm/report */
	const char *sev_guest_dev;   /* default /dev/sev-guest */
};

/*
 * Ask the SEV-SNP firmware (inside a guest) for a report binding
 * `report_data` at privilege level `vmpl` (0..3).  configfs-tsm first; when
 * its root is absent, the /dev/sev-guest SNP_GET_EXT_REPORT ioctl (then
 * SNP_GET_REPORT).  *report (malloc'd, *report_size >= VT_SNP_REPORT_SIZE)
 * is the raw report; *certs the certificate table (§5), or NULL / 0 when the
 * host supplied none.  `paths` may be NULL.  Neither interface present:
 * VT_E_USAGE.
 */
VT_API VT_MUST_USE vt_status vt_snp_attest_raw(const struct vt_snp_attest_paths *paths, const uint8_t report_data[64],
					       uint32_t vmpl, uint8_t **report, size_t *report_size, uint8_t **certs,
					       size_t *certs_size, struct vt_err *err);

#endif
