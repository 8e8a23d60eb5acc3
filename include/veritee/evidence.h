/*
 * veritee/evidence.h — the TEE registry: one entry per evidence format.
 * Adding a TEE = one folder under src/evidence/<tee>/ + one line in the
 * registry table (src/evidence/registry.c).
 */
#ifndef VERITEE_EVIDENCE_H
#define VERITEE_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "veritee/err.h"

struct vt_snp_sources;
struct vt_dcap_sources;

/* Trust anchors and inputs shared by all verifiers.  Borrowed pointers. */
struct vt_verify_ctx {
	int64_t now;              /* verification time (seconds since the epoch) */
	X509 *sim_root_insecure;  /* the sim root; NULL means sim evidence is refused */
	const struct vt_snp_sources *snp; /* SNP certificate sources; NULL = only what the evidence carries */
	const struct vt_dcap_sources *dcap; /* DCAP collateral sources; NULL = none (TDX/SGX then fail closed) */
	const char *gce_roots;    /* file or dir of trusted Google vTPM roots (gce-vtpm); NULL = none */
	/*
	 * Who asked, for the per-client fetch budget of the sources' gate
	 * (veritee/fetch.h), e.g. the peer's IP address; NULL = no per-client
	 * accounting.  Only verifications that reach the network are charged.
	 */
	const char *client;
};

/*
 * Expected binding of the evidence to the caller: the digest of the KBS
 * runtime data (or any nonce).  NULL / 0 = do not check (CLI only, says so).
 */
struct vt_binding {
	const uint8_t *report_data;
	size_t report_data_size;
};

struct vt_tee {
	const char *name;      /* wire name in the KBS protocol, e.g. "sim" */
	bool insecure;         /* evidence is not rooted in hardware */
	bool cli_only;         /* no KBS wire name: `veritee verify` only, refused by the broker */
	/*
	 * Verify `evidence` (the primary_evidence JSON of this TEE) and return
	 * its claims (new reference), named as in Trustee where a name exists.
	 * Must put the hex report data under claims["report_data"].
	 */
	vt_status (*verify)(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err);
	/*
	 * Optional, for `veritee verify TEE FILE`: turn the bytes of a file as
	 * a user has it (raw binary, hex text, or the JSON evidence itself) into
	 * the evidence JSON `verify` takes.  NULL: the file must be that JSON.
	 */
	vt_status (*load_file)(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err);
};

/* Look up by wire name; NULL when unknown. */
VT_API const struct vt_tee *vt_tee_find(const char *name);
/* Comma-separated list of supported names (static string). */
VT_API const char *vt_tee_names(void);

#endif
