/*
 * veritee/dcap.h — Intel DCAP quotes (SGX v3, TDX v4/v5), collateral (PCK
 * certificates and CRLs, TCB Info, QE Identity) and TCB status.  Shared by
 * the `tdx` and `sgx` TEEs.  Layouts and rules:
 * ../shared/docs/formats/tdx-sgx-dcap.md.
 *
 * Ownership: vt_dcap_quote_parse copies every fixed-size field into the
 * struct; the variable-size parts (QE auth data, certification data, the
 * signed region) are views into the caller's buffer, valid while it is.
 */
#ifndef VERITEE_DCAP_H
#define VERITEE_DCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/evidence.h"
#include "veritee/fetch.h"

/* SHA-256 of the DER of the Intel SGX Root CA (CN=Intel SGX Root CA, P-256,
 * 2018-05-21..2049-12-31): every PCK chain and collateral chain must end in it. */
#define VT_DCAP_INTEL_ROOT_SHA256 "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

#define VT_DCAP_TEE_SGX 0x00000000u
#define VT_DCAP_TEE_TDX 0x00000081u

/* SGX REPORTBODY (384 bytes): the SGX quote body and the QE report. */
struct vt_sgx_report_body {
	uint8_t cpu_svn[16];
	uint32_t misc_select;
	uint8_t isv_ext_prod_id[16];
	uint8_t attributes[16];     /* flags u64 LE || xfrm u64 LE */
	uint8_t mr_enclave[32];
	uint8_t mr_signer[32];
	uint8_t config_id[64];
	uint16_t isv_prod_id, isv_svn, config_svn;
	uint8_t isv_family_id[16];
	uint8_t report_data[64];
	uint8_t raw[384];           /* the bytes as received (signed by the PCK for the QE report) */
};

/* TD report body: TDX 1.0 (584 bytes) and the TDX 1.5 additions. */
struct vt_tdx_report_body {
	uint8_t tee_tcb_svn[16];
	uint8_t mr_seam[48];
	uint8_t mrsigner_seam[48];
	uint8_t seam_attributes[8];
	uint64_t td_attributes;
	uint64_t xfam;
	uint8_t mr_td[48];
	uint8_t mr_config_id[48];
	uint8_t mr_owner[48];
	uint8_t mr_owner_config[48];
	uint8_t rtmr[4][48];
	uint8_t report_data[64];
	bool has_v15;               /* body type 3 */
	uint8_t tee_tcb_svn2[16];
	uint8_t mr_servicetd[48];
};

struct vt_dcap_quote {
	uint16_t version;           /* 3, 4 or 5 */
	uint16_t att_key_type;      /* 2 */
	uint32_t tee_type;          /* VT_DCAP_TEE_SGX / VT_DCAP_TEE_TDX */
	uint8_t qe_vendor_id[16];
	uint8_t user_data[20];
	uint16_t body_type;         /* 1 SGX, 2 TDX 1.0, 3 TDX 1.5 (v3: 1, v4: 2) */
	struct vt_sgx_report_body sgx;   /* when tee_type is SGX */
	struct vt_tdx_report_body tdx;   /* when tee_type is TDX */
	const uint8_t *signed_region;    /* view: bytes covered by the quote signature */
	size_t signed_size;
	uint8_t signature[64];           /* r || s, big-endian */
	uint8_t attestation_key[64];     /* X || Y, big-endian */
	struct vt_sgx_report_body qe_report;
	uint8_t qe_report_signature[64];
	const uint8_t *qe_auth_data;     /* view */
	size_t qe_auth_data_size;
	uint16_t cert_data_type;         /* inner type, 1..5 */
	const uint8_t *cert_data;        /* view (type 5: PEM chain, trailing NULs stripped) */
	size_t cert_data_size;
	size_t quote_size;               /* bytes the quote occupies (trailing bytes after it are allowed) */
};

/* Parse a quote; bytes after the signature data are ignored (buffers are
 * often padded).  Errors VT_E_PARSE naming the field ("quote.version",
 * "quote.sig_data.cert_data_type", ...). */
VT_API VT_MUST_USE vt_status vt_dcap_quote_parse(const uint8_t *buf, size_t size, struct vt_dcap_quote *out,
						 struct vt_err *err);

/* PCK certificate SGX extension (OID 1.2.840.113741.1.13.1). */
struct vt_pck_ext {
	uint8_t ppid[16];
	uint8_t comp_svn[16];       /* SGX TCB COMP01..16 */
	uint16_t pcesvn;
	uint8_t cpusvn[16];
	uint8_t pceid[2];
	uint8_t fmspc[6];
	int sgx_type;               /* 0 standard, 1 scalable, 2 scalable with integrity */
	bool has_platform_instance_id;
	uint8_t platform_instance_id[16];
};
VT_API VT_MUST_USE vt_status vt_pck_ext_parse(X509 *pck, struct vt_pck_ext *out, struct vt_err *err);
/* Same, from the extension's DER value (the fuzzer's entry point). */
VT_API VT_MUST_USE vt_status vt_pck_ext_parse_der(const uint8_t *der, size_t size, struct vt_pck_ext *out,
						  struct vt_err *err);

/* TCB statuses, ordered as in Intel's documentation. */
typedef enum vt_tcb_status {
	VT_TCB_UP_TO_DATE = 0,
	VT_TCB_SW_HARDENING_NEEDED,
	VT_TCB_CONFIGURATION_NEEDED,
	VT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
	VT_TCB_OUT_OF_DATE,
	VT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
	VT_TCB_TD_RELAUNCH_ADVISED,
	VT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
	VT_TCB_REVOKED,
	VT_TCB_NOT_SUPPORTED,       /* no TCB level matches: verification fails */
	VT_TCB_NOT_EVALUATED,       /* verified without collateral (tcb_unevaluated_insecure) */
} vt_tcb_status;
/* "UpToDate", "SWHardeningNeeded", ... as Intel spells them. */
VT_API const char *vt_tcb_status_name(vt_tcb_status s);
VT_API VT_MUST_USE vt_status vt_tcb_status_parse(const char *name, vt_tcb_status *out, struct vt_err *err);

/*
 * Collateral, as PCS/PCCS serve it.  Every member is owned (malloc'd) and
 * freed by vt_dcap_collateral_free.  tcb_info / qe_identity hold the EXACT
 * bytes of the signed JSON values ("tcbInfo" / "enclaveIdentity"), which
 * are what the signatures cover.
 */
struct vt_dcap_collateral {
	char *pck_crl_issuer_chain;     /* PEM */
	uint8_t *root_ca_crl;           /* DER */
	size_t root_ca_crl_size;
	uint8_t *pck_crl;               /* DER */
	size_t pck_crl_size;
	char *tcb_info_issuer_chain;    /* PEM */
	char *tcb_info;                 /* exact JSON text of the tcbInfo value */
	uint8_t tcb_info_signature[64];
	char *qe_identity_issuer_chain; /* PEM */
	char *qe_identity;              /* exact JSON text of the enclaveIdentity value */
	uint8_t qe_identity_signature[64];
};

/*
 * Load collateral from a path:
 *   - a JSON file in dcap-qvl's layout (keys pck_crl_issuer_chain, root_ca_crl
 *     (hex DER), pck_crl (hex DER), tcb_info_issuer_chain, tcb_info (string),
 *     tcb_info_signature (hex), qe_identity_issuer_chain, qe_identity (string),
 *     qe_identity_signature (hex));
 *   - a directory of what PCS/PCCS return: tcbinfo.json and qeidentity.json
 *     (full response bodies {"tcbInfo":…,"signature":…}), tcbinfo_issuer_chain.pem,
 *     qeidentity_issuer_chain.pem, pckcrl.der (or .pem), pckcrl_issuer_chain.pem,
 *     rootcrl.der.
 */
VT_API VT_MUST_USE vt_status vt_dcap_collateral_load(const char *path, struct vt_dcap_collateral *out,
						     struct vt_err *err);
/* From a PCS response body {"tcbInfo": {...}, "signature": "hex"}: keeps the
 * exact bytes of the signed value.  `member` is "tcbInfo" or "enclaveIdentity". */
VT_API VT_MUST_USE vt_status vt_dcap_signed_json_split(const char *body, size_t size, const char *member,
						       char **value_out, uint8_t sig_out[64], struct vt_err *err);
VT_API void vt_dcap_collateral_free(struct vt_dcap_collateral *c);

/* Where collateral comes from for the broker and the CLI.  Fetches from
 * PCS/PCCS go through `gate` (veritee/fetch.h), which bounds their number,
 * time and rate and charges vt_verify_ctx.client; NULL = no gate, each
 * fetch still ends within VT_FETCH_TIMEOUT_DEFAULT_MS. */
struct vt_dcap_sources {
	const char *collateral_path;    /* file or directory (vt_dcap_collateral_load) */
	const char *pccs_url;           /* PCS/PCCS base, e.g. https://api.trustedservices.intel.com */
	const char *cache_dir;
	bool offline;
	int64_t grace_seconds;          /* accept collateral this long past nextUpdate (default 0: fail closed) */
	struct vt_fetch_gate *gate;     /* borrowed, may be NULL; shared with vt_snp_sources.gate */
	vt_http_get_fn http_get;        /* the PCS/PCCS transport (veritee/fetch.h); NULL: fetches fail closed */
	/* Where verifications and fetches with these sources cache (borrowed: a
	 * verifier's, vt_verifier_caches); NULL = the ctx's verifier's, else none. */
	struct vt_cache_set *caches;
	/* With no collateral_path and no PCS/PCCS: verify what needs no
	 * collateral (PCK chain to the pinned root without CRLs, QE report,
	 * attestation key, quote signature, QE vendor) and report the TCB as
	 * "NotEvaluated" instead of failing.  Revocation, QE identity and TCB
	 * level are NOT checked: for looking at evidence (veritee verify
	 * ratls), not for releasing secrets. */
	bool tcb_unevaluated_insecure;
};

/* Verification result beyond the claims. */
struct vt_dcap_result {
	vt_tcb_status status;
	vt_tcb_status qe_status;
	char advisory_ids[512];         /* comma-separated, "" if none */
	char tcb_date[32];              /* of the matched level */
	char latest_tcb_date[32];       /* of the newest level (how far behind) */
	bool collateral_expired;        /* nextUpdate passed but within grace */
};

/*
 * Verify a parsed quote against collateral at time `now`, in the order of
 * tdx-sgx-dcap.md §4 (implemented in src/evidence/dcap/verify.c): PCK chain
 * to the pinned Intel SGX Root CA and the two CRLs (step chain; revoked:
 * VT_E_REJECTED "revoked"), QE report signature (signature), attestation-key
 * binding (binding), TCB Info / QE Identity signatures, freshness and
 * FMSPC / PCE-ID / id agreement (collateral), QE identity (tcb), quote
 * signature (signature), QE vendor and TDX module identity (tcb), TCB level
 * (tcb: "TCB level not supported", Revoked).  Collateral past nextUpdate is
 * accepted for `grace_seconds` and then sets res->collateral_expired.  *res
 * is filled as far as verification got (status, advisories, dates on
 * success and on a tcb rejection).
 */
VT_API VT_MUST_USE vt_status vt_dcap_verify(const struct vt_dcap_quote *q, const struct vt_dcap_collateral *c,
					    int64_t now, int64_t grace_seconds, struct vt_dcap_result *res,
					    struct vt_err *err);

/*
 * One CRL check: `der` must be a DER CRL issued (name and signature) by
 * `issuer`, valid at `now` (thisUpdate <= now <= nextUpdate + grace; a CRL
 * used within the grace sets *expired), and must not list `subject`'s serial.
 * Revoked, bad signature or wrong issuer: VT_E_REJECTED step chain;
 * expired / missing: step collateral.  `field` names the CRL in errors.
 */
VT_API VT_MUST_USE vt_status vt_dcap_crl_check(const uint8_t *der, size_t der_size, X509 *issuer, X509 *subject,
					       int64_t now, int64_t grace_seconds, bool *expired, const char *field,
					       struct vt_err *err);

/*
 * Shared by the tdx and sgx registry entries (src/evidence/dcap/verify.c).
 *
 * vt_dcap_verify_evidence: decode evidence["quote"] (std base64) into
 * *quote_buf (malloc'd, backs q's views; freed by the caller, NULL on
 * failure), parse it, require `tee_type`, get the collateral from ctx->dcap
 * (collateral_path; else PCS/PCCS or its cache through the fetcher unless
 * offline without a cache; ctx->dcap NULL or nothing usable: VT_E_REJECTED
 * step collateral "no collateral: ..."), run vt_dcap_verify at
 * ctx->now, then compare the report data with `binding` (zero-padded to 64;
 * NULL = not checked).
 */
VT_API VT_MUST_USE vt_status vt_dcap_verify_evidence(const struct vt_verify_ctx *ctx, const json_t *evidence,
						     uint32_t tee_type, const struct vt_binding *binding,
						     uint8_t **quote_buf, struct vt_dcap_quote *q,
						     struct vt_dcap_result *res, struct vt_err *err);
/* evidence[key] as std base64 of at most max_chars characters, decoded (malloc'd). */
VT_API VT_MUST_USE vt_status vt_dcap_evidence_b64(const json_t *evidence, const char *key, size_t max_chars,
						  uint8_t **out, size_t *out_size, struct vt_err *err);
/* Add tcb_status, qe_tcb_status, advisory_ids (array), tcb_date, latest_tcb_date and
 * collateral_expiration_status ("0" fresh, "1" used within the grace; absent when the
 * TCB was not evaluated) to `claims`. */
VT_API VT_MUST_USE vt_status vt_dcap_result_claims(const struct vt_dcap_result *res, json_t *claims,
						   struct vt_err *err);
/* claims[key] = lowercase hex of n bytes. */
VT_API VT_MUST_USE vt_status vt_dcap_claim_hex(json_t *o, const char *key, const void *p, size_t n,
					       struct vt_err *err);
/* The tee load_file hook: evidence JSON as is, or a quote (raw bytes or hex text) as {"quote": b64}. */
VT_API VT_MUST_USE vt_status vt_dcap_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out,
					       struct vt_err *err);

/* The two registry entries.  Evidence JSON (Trustee's forms):
 *   tdx: {"quote": "<std base64>", "cc_eventlog": "<std base64>" | null}
 *   sgx: {"quote": "<std base64>"} */
VT_API extern const struct vt_tee vt_tee_tdx;
VT_API extern const struct vt_tee vt_tee_sgx;

#endif
