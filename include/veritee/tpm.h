/*
 * veritee/tpm.h — TPM 2.0 quotes (TPMS_ATTEST + TPMT_SIGNATURE), the TCG PC
 * Client crypto-agile event log, and the "tpm" evidence of the KBS protocol.
 * Layouts and verification steps: ../shared/docs/formats/tpm-quote.md.
 *
 * TPM structures are unmarshalled by libtss2-mu (never by hand); the event
 * log (little-endian) is read through the bounded reader.  Nothing here
 * decides whether an AK is trusted: the "tpm" claims expose the AK (its
 * SHA-256 SPKI digest and PEM) for the policy's `trusted_aks`.
 */
#ifndef VERITEE_TPM_H
#define VERITEE_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/attester.h"
#include "veritee/err.h"
#include "veritee/evidence.h"
#include "veritee/util.h"

#define VT_TPM_NUM_PCRS 24u
#define VT_TPM_MAX_BANKS 16u
#define VT_TPM_MAX_DIGEST 64u
#define VT_TPM_ATTEST_MAX 1024u    /* a TPMS_ATTEST larger than this is not a quote */
#define VT_TPM_SIGNATURE_MAX 1024u /* RSA-4096 TPMT_SIGNATURE is 518 bytes */

/* TPM_ALG_ID values used here. */
#define VT_TPM_ALG_SHA1 0x0004u
#define VT_TPM_ALG_SHA256 0x000Bu
#define VT_TPM_ALG_SHA384 0x000Cu
#define VT_TPM_ALG_SHA512 0x000Du
#define VT_TPM_ALG_RSASSA 0x0014u
#define VT_TPM_ALG_RSAPSS 0x0016u
#define VT_TPM_ALG_ECDSA 0x0018u

#define VT_TPM_GENERATED_VALUE 0xFF544347u
#define VT_TPM_ST_ATTEST_QUOTE 0x8018u

/* One TPMS_PCR_SELECTION: bit n of `mask` = PCR n (n < 24). */
struct vt_tpm_pcr_bank {
	uint16_t hash_alg;
	uint32_t mask;
};

/* A TPMS_ATTEST of type QUOTE, every field copied out. */
struct vt_tpm_quote {
	uint32_t magic;
	uint16_t type;
	uint8_t qualified_signer[2 + VT_TPM_MAX_DIGEST]; /* TPM2B_NAME contents */
	size_t qualified_signer_size;
	uint8_t extra_data[VT_TPM_MAX_DIGEST];           /* qualifying data (the nonce) */
	size_t extra_data_size;
	uint64_t clock;
	uint32_t reset_count;
	uint32_t restart_count;
	bool safe;
	uint64_t firmware_version;
	uint32_t bank_count;                             /* TPML_PCR_SELECTION, in quote order */
	struct vt_tpm_pcr_bank banks[VT_TPM_MAX_BANKS];
	uint8_t pcr_digest[VT_TPM_MAX_DIGEST];
	size_t pcr_digest_size;
};

/* Claimed PCR values of one bank: value[n] valid when bit n of `present`. */
struct vt_tpm_pcrs {
	uint16_t hash_alg;
	size_t digest_size;
	uint32_t present;
	uint8_t value[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST];
};

/* "sha1", "sha256", "sha384", "sha512" or NULL; the OpenSSL digest or NULL. */
VT_API const char *vt_tpm_alg_name(uint16_t alg);
VT_API const EVP_MD *vt_tpm_alg_md(uint16_t alg);

/*
 * Parse a TPMS_ATTEST (the bytes without the TPM2B size) with
 * Tss2_MU_TPMS_ATTEST_Unmarshal.  Fails (VT_E_PARSE, step parse) unless it
 * unmarshals, consumes the whole buffer, has magic TPM_GENERATED_VALUE and
 * type TPM_ST_ATTEST_QUOTE, and selects only PCRs 0..23.
 */
VT_API VT_MUST_USE vt_status vt_tpm_attest_parse(const uint8_t *attest, size_t size, struct vt_tpm_quote *out,
						 struct vt_err *err);

/*
 * Verify a TPMT_SIGNATURE (unmarshalled with Tss2_MU_TPMT_SIGNATURE_Unmarshal,
 * whole buffer) over `msg` (the TPMS_ATTEST bytes) with `ak`.  Schemes:
 * ECDSA (EC key), RSASSA-PKCS1v1.5 and RSA-PSS (RSA key; any salt length);
 * hashes SHA-256/384/512, taken from the signature.  *hash_alg_out (may be
 * NULL) receives the signature's hash algorithm.
 * Errors: VT_E_PARSE step parse (malformed), VT_E_REJECTED step signature
 * (bad signature, unsupported scheme/hash, key type mismatch).
 */
VT_API VT_MUST_USE vt_status vt_tpm_signature_verify(EVP_PKEY *ak, const uint8_t *msg, size_t msg_size,
						     const uint8_t *sig, size_t sig_size, uint16_t *hash_alg_out,
						     struct vt_err *err);

/*
 * Full quote check (tpm-quote.md §4): parse, signature, qualifying data,
 * PCR digest.  The PCR digest is recomputed with the signature's hash over
 * the claimed values of the quoted selection (banks in TPML order, PCRs
 * ascending); every non-empty bank of the selection must be `pcrs->hash_alg`
 * and every selected PCR present.  `expected_qd` NULL = qualifying data not
 * checked; otherwise it must equal extraData exactly (length and bytes).
 * quote_out (may be NULL) receives the parsed quote on success.
 * Errors: parse (VT_E_PARSE), signature, binding (field "extra_data" or
 * "pcr_digest"; VT_E_REJECTED).
 */
VT_API VT_MUST_USE vt_status vt_tpm_quote_verify(EVP_PKEY *ak, const uint8_t *attest, size_t attest_size,
						 const uint8_t *sig, size_t sig_size, const struct vt_tpm_pcrs *pcrs,
						 const uint8_t *expected_qd, size_t expected_qd_size,
						 struct vt_tpm_quote *quote_out, struct vt_err *err);

/* ------------------------------------------------------------ event log */

#define VT_TCG_EVENTLOG_MAX_EVENTS 100000u              /* events after the Spec ID event */
#define VT_TCG_EVENTLOG_MAX_EVENT_SIZE ((size_t)4 << 20) /* event data bytes of one event */
#define VT_TCG_EVENTLOG_DATA_HEX_MAX 1024u               /* event data bytes shown in events */

/*
 * Replay a TCG PC Client crypto-agile event log (tpm-quote.md §6) for one
 * bank.  The first record is the Spec ID event ("Spec ID Event03", legacy
 * SHA-1 header) that must list `bank_alg` with its digest size; then
 * TCG_PCR_EVENT2 records.  Reading stops at the end of the buffer or at 0xFF
 * padding.  An algorithm not in the Spec ID table, a PCR index >= 24, a
 * non-EV_NO_ACTION event without a `bank_alg` digest, a digest listed twice,
 * or a length past the buffer is VT_E_PARSE; caps above give VT_E_LIMIT.
 * EV_NO_ACTION is never extended; "StartupLocality" (PCR 0, before PCR 0 is
 * extended) sets PCR0 to 0..0||locality; the first EV_EFI_HCRTM_EVENT on
 * PCR 0 (before any extension) sets PCR0 to 0..0||04.
 *
 * pcrs_out: the 24 replayed PCRs (digest size of the bank; rest zero).
 * events_out (may be NULL): new reference, a JSON array of the replayed
 * events: {"pcr", "type" (name or number), "digest" (hex, bank_alg),
 * "data" (hex, first 1 KiB), "data_size", optional "data_truncated",
 * "string" (printable text events), "variable_name" (GUID) and
 * "unicode_name" (EFI variable events), "digest_check": "match" | "mismatch"
 * for events whose digest can be recomputed from their data (§6.5)}.
 */
VT_API VT_MUST_USE vt_status vt_tcg_eventlog_replay(const uint8_t *log, size_t size, uint16_t bank_alg,
						    uint8_t pcrs_out[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST],
						    json_t **events_out, struct vt_err *err);

/*
 * Replay and compare with quoted PCR values: for every PCR in `selection`
 * (bit n = PCR n) that the log extends (or initialises through
 * StartupLocality / H-CRTM), the replayed value must equal quoted_pcrs[n].
 * A mismatch is VT_E_REJECTED, step binding, field "pcrN", with both values.
 * events_out (may be NULL) as above, set only on success.
 */
VT_API VT_MUST_USE vt_status vt_tcg_eventlog_check(const uint8_t *log, size_t size, uint16_t bank_alg,
						   const uint8_t quoted_pcrs[VT_TPM_NUM_PCRS][VT_TPM_MAX_DIGEST],
						   uint32_t selection, json_t **events_out, struct vt_err *err);

/*
 * Summary claims from a replayed events array (vt_tcg_eventlog_replay):
 * {"secure_boot": bool (absent when no SecureBoot variable event),
 *  "secure_boot_digest_check": "match"|"mismatch",
 *  "boot_applications": [{"pcr", "digest"}] (EV_EFI_BOOT_SERVICES_APPLICATION),
 *  "ipl": [{"pcr", "digest", "string"?, "digest_check"?}] (EV_IPL),
 *  "ima": [...] (events on PCR 10, when present),
 *  "separators": n, "event_count": n}.  New reference or NULL on OOM.
 */
VT_API json_t *vt_tcg_eventlog_summary(const json_t *events);

/* ------------------------------------------------------------ evidence */

/*
 * The "tpm" registry entry.  Evidence (kbs-protocol.md §5.3):
 *   {"ak_public": std base64 DER SPKI,
 *    "tpm_quote": {"signature": std base64 TPMT_SIGNATURE,
 *                  "message": std base64 TPMS_ATTEST,
 *                  "pcrs": [hex PCR values]},
 *    "event_log": std base64 TCG log}   <- optional, veritee extension
 * "pcrs" lists either all 24 PCRs of the quoted bank (index = PCR number)
 * or exactly the quoted PCRs in selection order.  Binding: extraData must
 * be the first 32 bytes of binding->report_data (zero-padded when shorter).
 */
extern VT_API const struct vt_tee vt_tee_tpm;

/* ------------------------------------------------------------ AK enrollment */

/*
 * Credential activation (tpm-quote.md §5.3): the broker trusts an AK after
 * the TPM holding a certified EK proved, with TPM2_ActivateCredential, that
 * it also holds the AK.  Verifier side: vt_tpm_ek_verify, vt_tpm_ak_check,
 * vt_tpm_make_credential; attester side: vt_tpm_enroll_start, vt_tpm_activate.
 */

#define VT_TPM_NAME_MAX (2u + VT_TPM_MAX_DIGEST) /* nameAlg || digest */
#define VT_TPM_CREDENTIAL_MAX 32u                /* a credential is at most a SHA-256 digest */

/*
 * Verify a DER EK certificate at `now` up to the CA certificates in
 * `roots_path` (a file with PEM certificates or one DER certificate, or a
 * directory of such files).  Self-signed certificates there are the trust
 * anchors; the others are intermediates the chain may pass through.  The EK
 * certificate must not be a CA.  Unhandled critical extensions fail the
 * chain, except those of the TCG EK profile (subjectDirectoryAttributes
 * 2.5.29.9, subjectAltName 2.5.29.17) on the EK certificate itself.
 * *ek_pub_out (may be NULL) receives the certificate's key (EVP_PKEY_free).
 * Errors: no roots configured or unreadable (VT_E_USAGE, step config),
 * malformed certificate (VT_E_PARSE), chain failure (VT_E_REJECTED, step
 * chain, OpenSSL's reason in the detail).
 */
VT_API VT_MUST_USE vt_status vt_tpm_ek_verify(const uint8_t *ek_cert_der, size_t size, const char *roots_path,
					      int64_t now, EVP_PKEY **ek_pub_out, struct vt_err *err);

/* TPMT_PUBLIC of <tss2/tss2_tpm2_types.h> (libtss2-mu unmarshals it). */
struct TPMT_PUBLIC;

/*
 * The public key of an unmarshalled TPMT_PUBLIC: RSA with keyBits
 * 2048..4096 (a multiple of 8) and a modulus of exactly keyBits / 8 bytes
 * (exponent 0 means 65537), or ECC on NIST P-256 / P-384 (coordinates
 * 1..32 / 1..48 bytes, left-padded).  Object attributes are not looked at:
 * callers check what the key must be used for.  The attester encodes this
 * key as the AK's DER SubjectPublicKeyInfo and the verifier rebuilds it the
 * same way, so their DER agree.
 * *out receives a new key (EVP_PKEY_free), NULL on failure.  `field` names
 * the TPMT_PUBLIC in errors.
 * Errors: VT_E_REJECTED step parse (another key type, size or curve; a key
 * OpenSSL refuses), VT_E_PARSE (ECC coordinate sizes), VT_E_CRYPTO.
 */
VT_API VT_MUST_USE vt_status vt_tpm_public_to_pkey(const struct TPMT_PUBLIC *pub, const char *field, EVP_PKEY **out,
						   struct vt_err *err);

/*
 * Check an AK's TPMT_PUBLIC (Tss2_MU_TPMT_PUBLIC_Unmarshal, whole buffer):
 * fixedTPM, fixedParent, sensitiveDataOrigin, restricted and sign set,
 * decrypt clear; RSA (2048..4096) or ECC P-256/P-384; nameAlg SHA-256/384/512.
 * name_out receives its Name (nameAlg || H(TPMT_PUBLIC)), *name_size its
 * length; *ak_out (may be NULL) its public key (EVP_PKEY_free) — the DER SPKI
 * of that key is what the tpm verifier's `ak_digest` claim hashes.
 * Errors: VT_E_PARSE (malformed), VT_E_REJECTED (attributes, key type).
 */
VT_API VT_MUST_USE vt_status vt_tpm_ak_check(const uint8_t *ak_tpmt_public, size_t size,
					     uint8_t name_out[VT_TPM_NAME_MAX], size_t *name_size, EVP_PKEY **ak_out,
					     struct vt_err *err);

/*
 * Check that an EK's TPMT_PUBLIC is a restricted decryption key with nameAlg
 * SHA-256 and AES-128-CFB (the TCG default low-range templates
 * vt_tpm_make_credential is for) and that its key is `ek_cert_key`.
 * Errors: VT_E_PARSE, VT_E_REJECTED (step binding).
 */
VT_API VT_MUST_USE vt_status vt_tpm_ek_public_match(const uint8_t *ek_tpmt_public, size_t size, EVP_PKEY *ek_cert_key,
						    struct vt_err *err);

/*
 * TPM2_MakeCredential in software for an EK of a TCG default low-range
 * template: RSA-2048 or ECC P-256 key, nameAlg SHA-256, AES-128-CFB.
 * `ak_name` is a SHA-256 Name (34 bytes) from vt_tpm_ak_check; `secret` is
 * 1..32 bytes.  Outputs (malloc'd, caller frees) are the marshalled
 * TPM2B_ID_OBJECT (*cred_blob) and TPM2B_ENCRYPTED_SECRET (*enc_secret),
 * size prefixes included, as TPM2_ActivateCredential takes them.
 * Errors: VT_E_USAGE (arguments), VT_E_REJECTED (unsupported EK key),
 * VT_E_CRYPTO.
 */
VT_API VT_MUST_USE vt_status vt_tpm_make_credential(EVP_PKEY *ek_pub, const uint8_t *ak_name, size_t name_size,
						    const uint8_t *secret, size_t secret_size, uint8_t **cred_blob,
						    size_t *cb_size, uint8_t **enc_secret, size_t *es_size,
						    struct vt_err *err);

/*
 * Attester side, on the TPM named by opts->tpm_tcti (NULL/"" as vt_attest:
 * $VERITEE_TPM_TCTI, else device:/dev/tpmrm0), with the attester's AK (ECC
 * P-256 at persistent handle 0x81010002 under the RSA-2048 EK, created on
 * first use) — the AK `vt_attest("tpm", ...)` quotes with.
 *
 * vt_tpm_enroll_start: *out (new reference) =
 *   {"ek_cert": std base64 DER (NV 0x01C00002) or null,
 *    "ek_public": std base64 TPMT_PUBLIC of the EK,
 *    "ak_public": std base64 TPMT_PUBLIC of the AK}
 *
 * vt_tpm_activate: TPM2_ActivateCredential with the AK and the EK (policy
 * session PolicySecret(TPM_RH_ENDORSEMENT)) on the marshalled
 * TPM2B_ID_OBJECT / TPM2B_ENCRYPTED_SECRET from vt_tpm_make_credential;
 * *secret_out receives the credential (vt_secret_free).  A credential not
 * made for this AK and EK, or altered, is VT_E_REJECTED (step binding); no
 * AK yet: VT_E_NOTFOUND.
 */
VT_API VT_MUST_USE vt_status vt_tpm_enroll_start(const struct vt_attest_opts *opts, json_t **out,
						 struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_tpm_activate(const struct vt_attest_opts *opts, const uint8_t *cred_blob,
					     size_t cb_size, const uint8_t *enc_secret, size_t es_size,
					     struct vt_secret **secret_out, struct vt_err *err);

#endif
