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
struct vt_verifier;
struct vt_tee;
struct vt_cache_set;

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
	/* The verifier whose TEE states (trust anchors) and caches
	 * (vt_verifier_caches) apply; NULL = only the members above, and no
	 * caching (lower-level callers and tests). */
	const struct vt_verifier *verifier;
};

/* The state a TEE's state_new built in ctx->verifier, or NULL. */
VT_API void *vt_verify_state(const struct vt_verify_ctx *ctx, const struct vt_tee *tee);

/*
 * Expected binding of the evidence to the caller: the digest of the KBS
 * runtime data (or any nonce).  NULL / 0 = do not check (CLI only, says so).
 */
struct vt_binding {
	const uint8_t *report_data;
	size_t report_data_size;
};

/* One option of a TEE: a `veritee verify` flag (--NAME) and a member of the
 * TEE's block in the broker config ("tees": {"<tee>": {"NAME": ...}}). */
struct vt_tee_option {
	const char *name;    /* e.g. "certs"; NULL ends a table */
	const char *metavar; /* e.g. "FILE|DIR"; NULL = a flag (JSON true) */
	bool is_path;        /* config value is a file path, resolved against the config's directory */
	const char *help;    /* one line */
};

#define VT_TEE_INSECURE 0x1u /* evidence is not rooted in hardware (sim): an explicit opt-in everywhere */
#define VT_TEE_CLI_ONLY 0x2u /* no KBS wire name: `veritee verify` only, refused by the broker */
/* A device (GPU, NVSwitch): its evidence reaches the broker only as KBS
 * additional_evidence next to a CPU TEE's, never as the primary evidence
 * of /auth.  Such a descriptor has `devices`. */
#define VT_TEE_DEVICE 0x4u

/*
 * How a TEE binds KBS init-data (kbs-protocol.md §5.4).  Its verifier puts
 * the launch-time field in claims["init_data"] (hex); the broker compares
 * the init-data digest with it by this rule (vt_init_data_check).
 */
enum vt_init_data_rule {
	VT_INIT_DATA_NONE = 0,   /* not supported: init-data is refused for this TEE */
	VT_INIT_DATA_PAD,        /* the digest, zero-padded or truncated to the field's size (SNP, TDX, SGX, sim) */
	VT_INIT_DATA_EXACT,      /* the digest itself, same size (CCA personalization value) */
	VT_INIT_DATA_PCR_EXTEND, /* the field (PCR 8) = SHA-256(0x00*32 || digest), a 32-byte digest (TPMs) */
};

/*
 * A TEE is one descriptor; nothing outside its folder knows its name.  The
 * registry (src/evidence/registry.c) lists the descriptors.
 */
struct vt_tee {
	const char *name;      /* wire name in the KBS protocol, e.g. "sim" */
	bool insecure;         /* = flags & VT_TEE_INSECURE (kept for readers of older code) */
	bool cli_only;         /* = flags & VT_TEE_CLI_ONLY */
	unsigned flags;
	const char *summary;   /* one line: what the evidence is and how `verify` takes it */
	/* The TEE's default attestation policy (JSON text of policy
	 * "default_<name>", docs/policy.md), or NULL. */
	const char *default_policy;
	/* Options of its state (trust anchors, collateral sources); NULL-name
	 * terminated, or NULL for none. */
	const struct vt_tee_option *options;
	/* TEEs whose state this one reads (composite evidence, e.g. a vTPM
	 * quote with an SNP report); NULL-terminated, or NULL. */
	const struct vt_tee *const *uses;
	/*
	 * The TEE's trust anchors and caches for one verifier (struct
	 * vt_verifier), built from its options: a JSON object {name: value}
	 * (strings; true for flags; paths resolved).  Return VT_E_NOTFOUND when
	 * the options leave the TEE unusable on purpose (e.g. sim without a
	 * root): the verifier then refuses this TEE.  NULL = no state.
	 */
	vt_status (*state_new)(const struct vt_verifier *v, const json_t *options, void **state_out, struct vt_err *err);
	void (*state_free)(void *state);
	/*
	 * Verify `evidence` (the primary_evidence JSON of this TEE) and return
	 * its claims (new reference), named as in Trustee where a name exists.
	 * Must put the hex report data under claims["report_data"].  State:
	 * vt_verify_state(ctx, &this descriptor).
	 */
	vt_status (*verify)(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err);
	/*
	 * Optional, for `veritee verify TEE FILE`: turn the bytes of a file as
	 * a user has it (raw binary, hex text, or the JSON evidence itself) into
	 * the evidence JSON `verify` takes.  NULL: the file must be that JSON.
	 */
	vt_status (*load_file)(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err);
	/* Optional, for `veritee verify`: fill options the user left out with
	 * local defaults (e.g. sim's root in the local sim directory). */
	void (*cli_defaults)(json_t *options);
	/* Optional, for `veritee verify`: when the options leave the result
	 * without a trust anchor (e.g. a TPM quote checked only against the AK
	 * it carries), why; the CLI then says so and does not report success. */
	const char *(*cli_untrusted)(const json_t *options);
	/*
	 * Device TEEs (VT_TEE_DEVICE): split the value under this TEE's name in
	 * the KBS additional_evidence map (e.g. nvidia's {"device_evidence_list":
	 * [...]}) into devices.  *devices_out: a JSON array (new reference) of
	 *   {"class": "gpu" | "switch" | ..., "evidence": <one device's evidence,
	 *    as `verify` takes it>}
	 * in the order sent.  More than `max` devices, none, or a duplicate
	 * device identity (e.g. UUID) is an error at VT_STEP_PARSE.  Each device
	 * is then verified with `verify` and a binding whose report data is the
	 * digest of the device runtime data (kbs-protocol.md §5.1); the TEE
	 * applies its own placement rule (nvidia: the first 32 bytes are the
	 * SPDM requester nonce).
	 */
	vt_status (*devices)(const json_t *evidence, size_t max, json_t **devices_out, struct vt_err *err);
	/* How init-data binds; VT_INIT_DATA_NONE (0) refuses it. */
	enum vt_init_data_rule init_data;
	/* The hash of the KBS runtime-data binding this TEE needs ("sha512" for
	 * IBM SE, whose user data holds 64 bytes); NULL = "sha384".  The broker
	 * names it in the challenge's extra-params (selected-hash-algorithm). */
	const char *binding_hash;
};

/*
 * Check an init-data digest against claims["init_data"] of `tee`'s
 * verified claims by the TEE's rule.  VT_E_REJECTED at VT_STEP_BINDING,
 * field "init_data", naming both values, when they differ; VT_E_REJECTED
 * when the TEE does not support init-data.
 */
VT_API VT_MUST_USE vt_status vt_init_data_check(const struct vt_tee *tee, const json_t *claims, const uint8_t *digest,
						size_t digest_size, struct vt_err *err);

/*
 * For `devices` hooks: split NVIDIA's additional-evidence shape
 * {"device_evidence_list": [entry, ...]} into [{"class": class_of(entry),
 * "evidence": entry}].  Refuses a missing or empty list, more than `max`
 * entries (VT_E_LIMIT), non-object entries and duplicate "uuid"s
 * (VT_E_REJECTED), all at VT_STEP_PARSE naming the entry.
 */
VT_API VT_MUST_USE vt_status vt_device_list_split(const json_t *value, const char *tee, size_t max,
						  const char *(*class_of)(const json_t *entry), json_t **devices_out,
						  struct vt_err *err);

/* Look up by wire name; NULL when unknown. */
VT_API const struct vt_tee *vt_tee_find(const char *name);
/* The i-th registered TEE (registry order), NULL past the end. */
VT_API const struct vt_tee *vt_tee_at(size_t i);
/* Comma-separated list of supported names (static string). */
VT_API const char *vt_tee_names(void);

#endif
