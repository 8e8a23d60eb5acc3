/*
 * veritee/nitro.h — AWS Nitro Enclaves: attestation documents (verifier and
 * attester, tee "nitro").
 *
 * An attestation document is an untagged COSE_Sign1 (ES384, protected
 * header {1: -35}) made by the Nitro Secure Module (NSM).  Its payload is a
 * CBOR map (AWS aws-nitro-enclaves-nsm-api, docs/attestation_process.md
 * §2.2 and §3.2.2):
 *   module_id   text, non-empty
 *   digest      "SHA384"
 *   timestamp   uint, ms since the epoch, > 0
 *   pcrs        map, 1..32 entries, index 0..31 -> bstr (48 bytes for SHA384)
 *   certificate bstr 1..1024, DER, the leaf that signs the document
 *   cabundle    array of bstr 1..1024 (DER), cabundle[0] the root, each
 *               certificate signs the next, the last signs the leaf
 *   public_key  bstr 0..1024 or null      (optional)
 *   user_data   bstr 0..1024 or null      (optional)
 *   nonce       bstr 0..1024 or null      (optional)
 * No other key is accepted.  The map may be definite or indefinite-length
 * (NSM documents from 2025 on use an indefinite-length map).
 *
 * Trust: the chain must end at the AWS Nitro Enclaves Root-G1, shipped in
 * src/evidence/nitro/root.c and pinned by the SHA-256 of its DER
 * (VT_NITRO_ROOT_SHA256); cabundle[0] must be byte-identical to it.
 * The chain is verified with OpenSSL at the caller's time (`now`); the
 * wall clock is never read.  AWS CRLs are not checked (offline).
 *
 * Binding to the KBS (no Trustee/guest-components convention exists for
 * Nitro; neither project has a Nitro verifier or attester): the expected
 * report data (the 48-byte SHA-384 of the KBS runtime data) is carried in
 * `nonce` (what the NSM API calls the consumer's challenge and what our
 * attester fills), or else in `user_data` (where dstack puts its 64-byte
 * report data).  A field matches when it equals the expected bytes, or is
 * 64 bytes and equals them zero-padded to 64 (the 64-byte report-data shape
 * SNP/TDX guests send).  nonce is tried first, then user_data.
 *
 * Evidence JSON (primary_evidence for tee "nitro"; Trustee defines none):
 *   {"attestation_document": "<standard base64 of the COSE_Sign1 bytes>"}
 *
 * Verification steps, in order, with the fields they name:
 *   parse      "evidence", "attestation_document", "cose...", "payload.<key>",
 *              "payload.pcrs[i]", "payload.certificate", "payload.cabundle[i]"
 *              (also a certificate that is not strict DER)
 *   signature  "cose.protected" (alg not ES384, leaf key not P-384),
 *              "cose.signature"
 *   chain      "payload.cabundle[0]" (not the pinned root),
 *              "payload.certificate" / "payload.cabundle[i]" (X509_verify_cert
 *              at `now`, e.g. expired), leaf is a CA or lacks digitalSignature
 *   binding    "payload.nonce" (neither nonce nor user_data matches)
 *
 * Claims (new JSON object):
 *   {"module_id": "...", "digest": "SHA384",
 *    "timestamp": <ms>, "timestamp_rfc3339": "2022-10-13T08:58:02.136Z",
 *    "pcrs": {"0": "<hex>", ...},             (every PCR the document lists)
 *    "debug": bool,                           (PCR0, PCR1, PCR2 present and all zero)
 *    "public_key": hex|null, "user_data": hex|null, "nonce": hex|null,
 *    "certificate": {"subject": RFC 2253, "issuer": ..., "serial": hex,
 *                    "not_before": RFC 3339, "not_after": RFC 3339, "sha256": hex},
 *    "cabundle": [{"subject": ..., "not_after": ..., "sha256": hex}, ...],
 *    "root_sha256": hex,
 *    "report_data": hex}   (the field that carried the binding: nonce when
 *                           present, else user_data, else "")
 */
#ifndef VERITEE_NITRO_H
#define VERITEE_NITRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "veritee/cose.h"
#include "veritee/err.h"
#include "veritee/evidence.h"

/* The whole COSE_Sign1: AWS caps the payload at 16384 bytes; the NSM's
 * response buffer is 0x3000 bytes. */
#define VT_NITRO_MAX_DOC ((size_t)16384 + 1024)
#define VT_NITRO_MAX_USER_DATA 1024 /* public_key, user_data, nonce */
#define VT_NITRO_MAX_CERT 1024      /* certificate and each cabundle entry */
#define VT_NITRO_MAX_PCRS 32
#define VT_NITRO_MAX_CABUNDLE 16    /* AWS sends 4 (root, regional, zonal, instance) */
#define VT_NITRO_MAX_MODULE_ID 256
#define VT_NITRO_PCR_SIZE 48        /* digest "SHA384" */

/* SHA-256 of the DER of AWS Nitro Enclaves Root-G1 (CN=aws.nitro-enclaves). */
#define VT_NITRO_ROOT_SHA256 "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

/* One optional byte-string member: `present` false for absent or null. */
struct vt_nitro_bytes {
	const uint8_t *data;
	size_t len;
	bool present;
};

struct vt_nitro_pcr {
	uint32_t index;
	const uint8_t *value; /* VT_NITRO_PCR_SIZE bytes */
};

/*
 * A parsed document.  Nothing in it is verified: use vt_nitro_verify_doc.
 * All pointers are views into memory the struct owns, valid until
 * vt_nitro_doc_free.
 */
struct vt_nitro_doc {
	struct vt_cose_sign1 cose;
	const char *module_id;      /* NUL-terminated, no embedded NUL */
	uint64_t timestamp_ms;
	size_t pcr_count;
	struct vt_nitro_pcr pcrs[VT_NITRO_MAX_PCRS]; /* ascending index */
	struct vt_nitro_bytes certificate;
	size_t cabundle_count;
	struct vt_nitro_bytes cabundle[VT_NITRO_MAX_CABUNDLE];
	struct vt_nitro_bytes public_key, user_data, nonce;
	void *priv_;
};

/*
 * Parse (no signature, chain or binding check) a document of n bytes
 * (at most VT_NITRO_MAX_DOC): the COSE_Sign1 profile above (alg ES384 in
 * the protected header; tagged or untagged) and every payload rule.
 * VT_E_PARSE / VT_E_LIMIT, step parse.  On failure *out is left zeroed.
 */
VT_API VT_MUST_USE vt_status vt_nitro_doc_parse(const uint8_t *doc, size_t n, struct vt_nitro_doc *out,
						struct vt_err *err);
VT_API void vt_nitro_doc_free(struct vt_nitro_doc *d); /* zeroed struct ok */

/*
 * The shipped AWS root (a new reference; X509_free).  Checked against
 * VT_NITRO_ROOT_SHA256 when first loaded: VT_E_INTERNAL if it ever differs.
 */
VT_API VT_MUST_USE vt_status vt_nitro_aws_root(X509 **out, struct vt_err *err);

/*
 * A PEM or DER root offered as the Nitro trust anchor (e.g. from a config
 * file): accepted only when it parses and its DER has the pinned
 * fingerprint; anything else is VT_E_REJECTED, step chain (a tampered or
 * foreign root never becomes an anchor).  *out: new reference.
 */
VT_API VT_MUST_USE vt_status vt_nitro_root_from_bytes(const uint8_t *p, size_t n, X509 **out, struct vt_err *err);

/*
 * Verify a document at time `now` (seconds since the epoch) and return its
 * claims (new reference).  `root` NULL = the shipped pinned AWS root; a
 * non-NULL root replaces the pin (tests with a fake NSM and their own CA):
 * cabundle[0] must then be byte-identical to it.  `binding` NULL (or
 * report_data NULL) = not checked.
 */
VT_API VT_MUST_USE vt_status vt_nitro_verify_doc(const uint8_t *doc, size_t n, int64_t now, X509 *root,
						 const struct vt_binding *binding, json_t **claims_out,
						 struct vt_err *err);

/*
 * The registry entry (tee "nitro"): verify at ctx->now against the pinned
 * root (no options, no state; parsed certificates, verified chains and the
 * claims about a chain's certificates are cached in ctx->verifier's
 * caches; vt_nitro_verify_doc caches nothing), load_file (below) and the
 * default attestation policy "default_nitro" (also as vt_nitro_default_policy):
 *   hardware 2 when the document verified to the AWS root (root_sha256),
 *   executables 3 when claims /nitro/pcrs/0 is a reference value "nitro_pcr0",
 *   configuration 2 when /nitro/debug is false (96 when true).
 */
VT_API extern const struct vt_tee vt_tee_nitro;
VT_API extern const char *const vt_nitro_default_policy;

/*
 * load_file on its own: turn file bytes into the evidence JSON.  Accepted:
 *   - the evidence JSON itself ({"attestation_document": ...});
 *   - a raw COSE_Sign1 (first byte 0x84, or 0xd2 for tag 18);
 *   - dstack's SCALE framing (dstack-attest VersionedAttestation::V0 whose
 *     quote is AttestationQuote::DstackNitroEnclave): byte 0x00 (V0), byte
 *     0x02 (the variant), a SCALE compact length (little-endian, the low two
 *     bits give the width), the document, then dstack's trailer (runtime
 *     events, report_data, config), which is ignored;
 *   - standard base64 text of a document (surrounding whitespace allowed).
 */
VT_API VT_MUST_USE vt_status vt_nitro_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out,
						struct vt_err *err);

/* ---------------------------------------------------------------------------
 * Attester (inside an enclave): one NSM Attestation request over /dev/nsm.
 *
 * The transport is one request/response exchange of CBOR bytes.  `resp`
 * has *resp_size bytes of room (VT_NSM_RESPONSE_MAX); on success
 * *resp_size is the length written.  The device transport is the ioctl
 * NSM_IOCTL_RAW (_IOWR(0x0A, 0, struct {u64 addr, len} request, response)).
 */
#define VT_NSM_DEFAULT_DEVICE "/dev/nsm"
#define VT_NSM_REQUEST_MAX 0x1000
#define VT_NSM_RESPONSE_MAX 0x3000

typedef vt_status (*vt_nsm_exchange_fn)(void *ctx, const uint8_t *req, size_t req_size, uint8_t *resp,
					size_t *resp_size, struct vt_err *err);

/*
 * Ask the NSM for a document whose nonce is the n bytes of report data
 * (1..VT_NITRO_MAX_USER_DATA; user_data and public_key are null), check
 * that the document parses and carries that nonce, and return the evidence
 * JSON.  `device` NULL = VT_NSM_DEFAULT_DEVICE.  Errors: VT_E_USAGE (no
 * device: not inside a Nitro enclave), VT_E_IO (ioctl), VT_E_REJECTED (the
 * NSM answered Error, or the document lacks our nonce), VT_E_PARSE.
 */
VT_API VT_MUST_USE vt_status vt_nitro_attest(const char *device, const uint8_t *report_data, size_t n,
					     json_t **evidence_out, struct vt_err *err);
/* Same over any transport (tests use a fake NSM). */
VT_API VT_MUST_USE vt_status vt_nitro_attest_via(vt_nsm_exchange_fn exchange, void *ctx, const uint8_t *report_data,
						 size_t n, json_t **evidence_out, struct vt_err *err);

/*
 * The attester registry entry (`veritee attest --tee nitro`): the 64 bytes
 * of report data (the KBS digest zero-padded) as the nonce; option
 * "nsm_device" (PATH, default VT_NSM_DEFAULT_DEVICE).
 */
struct vt_attester;
VT_API extern const struct vt_attester vt_attester_nitro;

/* ---------------------------------------------------------------------------
 * For tests, fuzzing and benchmarks only (a fake NSM): build and sign a
 * document.  The verifier never calls this.  `leaf_key` is the P-384 key
 * of `certificate`; the result is an untagged COSE_Sign1 with protected
 * {1: -35}, an empty unprotected map and the payload keys in AWS's order
 * (an indefinite-length map when `indefinite`).  *out: malloc'd.
 */
struct vt_nitro_doc_spec {
	const char *module_id;
	const char *digest;                 /* NULL = "SHA384" */
	uint64_t timestamp_ms;
	size_t pcr_count;
	const struct vt_nitro_pcr *pcrs;    /* values of pcr_len bytes each */
	size_t pcr_len;                     /* 0 = VT_NITRO_PCR_SIZE */
	struct vt_nitro_bytes certificate;
	size_t cabundle_count;
	const struct vt_nitro_bytes *cabundle;
	struct vt_nitro_bytes public_key, user_data, nonce; /* !present = null */
	bool indefinite;
	int64_t alg;                        /* 0 = ES384 (-35) */
};
VT_API VT_MUST_USE vt_status vt_nitro_doc_build(const struct vt_nitro_doc_spec *spec, EVP_PKEY *leaf_key,
						uint8_t **out, size_t *out_len, struct vt_err *err);

#endif
