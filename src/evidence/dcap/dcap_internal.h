/*
 * dcap_internal.h — parsed forms of Intel TCB Info v3 and QE / enclave
 * identity v2 (../shared/docs/formats/tdx-sgx-dcap.md §5.1–§5.2), private to
 * src/evidence/dcap/.  The verifier (TCB matching, §6) codes against these.
 *
 * Parsing is strict: hex strings must have the exact length, statuses must be
 * Intel's exact strings, dates must be RFC 3339, level arrays are capped at
 * VT_DCAP_MAX_LEVELS, module identities at VT_DCAP_MAX_MODULE_IDS.
 * Hex-valued fields are stored as the bytes the hex spells, in string order
 * (so miscselect/attributes are in report byte order, fmspc as in the PCK
 * extension).  Levels keep the JSON order (PCS returns them newest first; the
 * verifier must not assume more than that — TCB Info levels are not re-sorted).
 *
 * Strings that are optional in the JSON are "" when absent.  advisory_ids is
 * the comma-separated list ("INTEL-SA-00106,INTEL-SA-00115"), "" if none;
 * longer lists fail the parse with VT_E_LIMIT.
 *
 * Every parse function zeroes *out first and, on failure, frees anything it
 * allocated (leaving *out zeroed), so calling _free on it is always safe.
 */
#ifndef VT_DCAP_INTERNAL_H
#define VT_DCAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veritee/dcap.h"
#include "veritee/err.h"

#define VT_DCAP_MAX_LEVELS 256
#define VT_DCAP_MAX_MODULE_IDS 64
#define VT_DCAP_ADVISORY_MAX 512

/* One entry of tcbInfo.tcbLevels. */
struct vt_tcb_level {
	uint8_t sgx_svn[16];         /* tcb.sgxtcbcomponents[i].svn, i = 0..15 */
	uint16_t pcesvn;             /* tcb.pcesvn */
	bool has_tdx;                /* tcb.tdxtcbcomponents present (required when id == "TDX") */
	uint8_t tdx_svn[16];         /* tcb.tdxtcbcomponents[j].svn, j = 0..15 */
	int64_t tcb_date;            /* tcbDate, seconds since the epoch */
	char tcb_date_str[32];       /* tcbDate as written in the JSON */
	vt_tcb_status status;        /* tcbStatus */
	char advisory_ids[VT_DCAP_ADVISORY_MAX]; /* advisoryIDs joined by ",", "" if none */
};

/* One entry of tdxModuleIdentities[].tcbLevels. */
struct vt_tdx_module_level {
	uint8_t isvsvn;              /* tcb.isvsvn (0..255) */
	int64_t tcb_date;
	char tcb_date_str[32];
	vt_tcb_status status;        /* UpToDate / OutOfDate / Revoked in practice */
	char advisory_ids[VT_DCAP_ADVISORY_MAX];
};

/* One entry of tcbInfo.tdxModuleIdentities. */
struct vt_tdx_module_identity {
	char id[16];                 /* "TDX_01", ... (as written) */
	uint8_t mrsigner[48];
	uint8_t attributes[8];
	uint8_t attributes_mask[8];
	struct vt_tdx_module_level *levels; /* JSON order */
	size_t level_count;
};

/* tcbInfo (the signed value, not the {"tcbInfo":…,"signature":…} wrapper). */
struct vt_tcb_info {
	char id[8];                  /* "SGX" or "TDX" */
	int version;                 /* 3 (only version 3 is accepted) */
	int64_t issue_date;
	int64_t next_update;
	uint8_t fmspc[6];
	uint8_t pceid[2];
	int tcb_type;                /* 0 */
	int evaluation_number;       /* tcbEvaluationDataNumber */
	bool has_tdx_module;         /* tdxModule present */
	uint8_t tdx_mrsigner[48];    /* tdxModule.mrsigner */
	uint8_t tdx_attributes[8];   /* tdxModule.attributes */
	uint8_t tdx_attributes_mask[8]; /* tdxModule.attributesMask */
	struct vt_tdx_module_identity *module_ids; /* tdxModuleIdentities, NULL/0 when absent */
	size_t module_id_count;
	struct vt_tcb_level *levels; /* tcbLevels, JSON order, at least 1 */
	size_t level_count;
};

/* One entry of enclaveIdentity.tcbLevels. */
struct vt_qe_level {
	uint16_t isvsvn;             /* tcb.isvsvn */
	int64_t tcb_date;
	char tcb_date_str[32];
	vt_tcb_status status;
	char advisory_ids[VT_DCAP_ADVISORY_MAX];
};

/* enclaveIdentity (the signed value). */
struct vt_qe_identity {
	char id[8];                  /* "QE", "TD_QE" or "QVE" */
	int version;                 /* 2 */
	int64_t issue_date;
	int64_t next_update;
	int evaluation_number;       /* tcbEvaluationDataNumber */
	uint8_t miscselect[4];       /* report byte order */
	uint8_t miscselect_mask[4];
	uint8_t attributes[16];      /* report byte order */
	uint8_t attributes_mask[16];
	uint8_t mrsigner[32];
	uint16_t isvprodid;
	struct vt_qe_level *levels;  /* JSON order (isvsvn descending per PCS), at least 1 */
	size_t level_count;
};

/* Parse the exact text of a tcbInfo value (e.g. vt_dcap_collateral.tcb_info).
 * VT_E_PARSE / VT_E_LIMIT with step VT_STEP_COLLATERAL. */
VT_MUST_USE vt_status vt_tcb_info_parse(const char *json, size_t len, struct vt_tcb_info *out, struct vt_err *err);
void vt_tcb_info_free(struct vt_tcb_info *ti);

/* Parse the exact text of an enclaveIdentity value. */
VT_MUST_USE vt_status vt_qe_identity_parse(const char *json, size_t len, struct vt_qe_identity *out,
					   struct vt_err *err);
void vt_qe_identity_free(struct vt_qe_identity *qi);


/* ------------------------------------------------------------------ collateral handed over with its hashes */

/* SHA-256 of the exact bytes of each collateral field (strings without their NUL). */
struct dcap_hashes {
	uint8_t pck_crl_issuer_chain[32], root_ca_crl[32], pck_crl[32], tcb_info_issuer_chain[32], tcb_info[32],
		qe_identity_issuer_chain[32], qe_identity[32];
};

/* Hash every field of `c` (NULL fields hash as empty). */
vt_status dcap_collateral_hashes(const struct vt_dcap_collateral *c, struct dcap_hashes *h, struct vt_err *err);
/*
 * `caches` below is a verifier's (crypto/cache.h; vt_verifier_caches), or
 * NULL: no caching (the public vt_dcap_* functions, which have no verifier).
 */
struct vt_cache_set;

/*
 * vt_dcap_collateral_load without the copy: a shared, read-only collateral
 * and the hashes of its fields, valid until dcap_collateral_release(*handle).
 * The path's files are read through the stat-keyed file cache of `caches`
 * (operator configuration), and a set whose file hashes were seen before is
 * reused.
 */
vt_status dcap_collateral_acquire(struct vt_cache_set *caches, const char *path, const struct vt_dcap_collateral **c,
				  const struct dcap_hashes **h, void **handle, struct vt_err *err);
void dcap_collateral_release(void *handle);
/* vt_dcap_signed_json_split with the split cached in `caches`. */
vt_status dcap_signed_json_split_cached(struct vt_cache_set *caches, const char *body, size_t size,
					const char *member, char **value_out, uint8_t sig_out[64], struct vt_err *err);
/* vt_dcap_verify with the field hashes already known (`h` must describe `c`; NULL: computed here),
 * caching in `caches`. */
vt_status dcap_verify_hashed(struct vt_cache_set *caches, const struct vt_dcap_quote *q,
			     const struct vt_dcap_collateral *c, const struct dcap_hashes *h, int64_t now,
			     int64_t grace_seconds, struct vt_dcap_result *res, struct vt_err *err);

#endif
