/*
 * veritee/ratls.h — attested TLS (RA-TLS): an X.509 certificate whose
 * extension carries TEE evidence that binds a hash of the certificate's own
 * SubjectPublicKeyInfo, so a TLS handshake with that certificate proves
 * both the key and the workload.  Formats (docs/ratls.md has the bytes):
 *
 *   TCG DICE  OID 2.23.133.5.4.9 (tcg-dice-conceptual-message-wrapper), the
 *             CCC interoperable RA-TLS format of Gramine, rats-tls, Occlum
 *             and the Intel SGX SDK: CBOR tag 60000([quote, claims-buffer])
 *             for SGX and TDX quotes.
 *   CMW       OID 1.3.6.1.5.5.7.1.35 (id-pe-cmw, draft-ietf-rats-msg-wrap):
 *             every other TEE (snp, tpm, sim, nitro, cca, az-*, ...): a CBOR
 *             CMW record ["application/vnd.veritee.ratls+cbor",
 *             bstr .cbor [tee, evidence-json, claims-buffer], 4].
 *   legacy    read, never written: Gramine's quote OID (encoded with its own
 *             tag and length inside the OID) and rats-tls' Enclave-TLS OID
 *             1.2.840.113741.1337.6 (a raw SGX quote whose report data is
 *             SHA-256 of the key), and Intel's SGX SDK OID
 *             1.2.840.113741.1.13.1 (not bound to the key: refused alone).
 *
 * claims-buffer = CBOR map {"pubkey-hash": bstr .cbor [alg, hash],
 * ? "nonce": bstr}, alg 1 / 7 / 8 = SHA-256 / -384 / -512 of the SPKI DER;
 * other keys are ignored.  The evidence's report data is SHA-256 of the
 * claims-buffer bytes, zero-padded to the TEE's report data size.
 *
 * Library split: parsing, verification and the OpenSSL verify hook are in
 * libveritee-verifier; making a certificate from a TEE's attester
 * (vt_ratls_cert_new, vt_ratls_ssl_ctx_serve_fresh) is in
 * libveritee-attester.  Nothing here prints or exits.
 */
#ifndef VERITEE_RATLS_H
#define VERITEE_RATLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/policy.h"

struct vt_verifier;

#define VT_RATLS_OID_TCG_DICE	      "2.23.133.5.4.9"
#define VT_RATLS_OID_TCG_ENDORSEMENTS "2.23.133.5.4.2"
#define VT_RATLS_OID_CMW	      "1.3.6.1.5.5.7.1.35"
#define VT_RATLS_OID_LEGACY_QUOTE     "1.2.840.113741.1337.6"
#define VT_RATLS_OID_SGXSDK_QUOTE     "1.2.840.113741.1.13.1"

/* CBOR tags of the CCC formats (IANA): a quote, a local report, a legacy EREPORT. */
#define VT_RATLS_TAG_INTEL_QUOTE       60000u
#define VT_RATLS_TAG_INTEL_REPORT      60001u
#define VT_RATLS_TAG_SGX_LEGACY_REPORT 60002u

/* The CMW record type of veritee's evidence, and the CMW "evidence" indicator. */
#define VT_RATLS_CMW_TYPE	  "application/vnd.veritee.ratls+cbor"
#define VT_RATLS_CMW_IND_EVIDENCE 4u

/* pubkey-hash algorithm ids (IANA Named Information Hash Algorithm Registry). */
#define VT_RATLS_HASH_SHA256 1
#define VT_RATLS_HASH_SHA384 7
#define VT_RATLS_HASH_SHA512 8

/* Limits on untrusted input. */
#define VT_RATLS_MAX_CERT      ((size_t)1 << 20)   /* certificate DER */
#define VT_RATLS_MAX_EXTENSION ((size_t)512 << 10) /* one evidence extension's value */
#define VT_RATLS_MAX_CLAIMS    ((size_t)4096)	   /* the claims-buffer */
#define VT_RATLS_MAX_NONCE     ((size_t)256)	   /* the nonce claim */
#define VT_RATLS_MAX_TEE_NAME  31

/* TLS ClientHello extension carrying the client's nonce (private-use
 * range, RFC 8446 §4.2): 32 random bytes.  A server that understands it
 * makes a certificate with that nonce claim for this handshake. */
#define VT_RATLS_NONCE_EXT_TYPE 0xff5au
#define VT_RATLS_NONCE_SIZE	32

enum vt_ratls_format {
	VT_RATLS_FORMAT_NONE = 0,
	VT_RATLS_FORMAT_TCG_DICE,      /* CCC interoperable (SGX/TDX quote, tag 60000) */
	VT_RATLS_FORMAT_CMW,	       /* id-pe-cmw with a veritee evidence record */
	VT_RATLS_FORMAT_LEGACY_QUOTE,  /* Gramine / rats-tls legacy: report data = SHA-256 of the key */
	VT_RATLS_FORMAT_SGXSDK_LEGACY, /* Intel SGX SDK legacy OID alone: not bound to the key */
};

/* Static lowercase name: "tcg-dice", "cmw", "legacy-quote", "sgxsdk-legacy", "none". */
VT_API const char *vt_ratls_format_name(enum vt_ratls_format f);

/*
 * The evidence of one certificate, parsed.  Owns every buffer
 * (vt_ratls_evidence_free; also safe on a zeroed struct).  Parsers zero
 * *out first and leave it zeroed on failure.
 */
struct vt_ratls_evidence {
	enum vt_ratls_format format;
	const char *oid; /* static: dotted OID of the extension read */
	bool critical;
	uint64_t cbor_tag;		     /* TCG DICE: the CBOR tag (60000); 0 otherwise */
	char tee[VT_RATLS_MAX_TEE_NAME + 1]; /* "sgx" / "tdx" from the quote header; CMW: the record's TEE */
	uint8_t *evidence;		     /* raw quote (TCG DICE, legacy) or the TEE's evidence JSON text (CMW) */
	size_t evidence_size;
	uint8_t *claims_buffer; /* the CBOR claims map as carried (TCG DICE, CMW); NULL for legacy */
	size_t claims_buffer_size;
	int pubkey_hash_alg; /* VT_RATLS_HASH_*; 0 for legacy */
	uint8_t pubkey_hash[64];
	size_t pubkey_hash_size;
	uint8_t *nonce; /* the "nonce" claim, NULL when absent */
	size_t nonce_size;
	char others[96]; /* other evidence extensions present and not used, comma-separated */
};
VT_API void vt_ratls_evidence_free(struct vt_ratls_evidence *e);

/*
 * Parsers of untrusted bytes (also the fuzz targets' entry points).  All
 * fail with VT_E_PARSE (VT_E_LIMIT past a cap) at step parse naming the
 * field, or VT_E_REJECTED for well-formed evidence veritee cannot verify
 * (a local report, a JSON CMW, an unknown CMW type).
 *
 * vt_ratls_claims_parse: a claims-buffer into out->pubkey_hash* and
 *   out->nonce (other members untouched; the caller zeroes *out).
 * vt_ratls_tcg_parse: the value of a 2.23.133.5.4.9 extension.
 * vt_ratls_cmw_parse: the value of an id-pe-cmw extension (DER CHOICE:
 *   OCTET STRING holding a CBOR CMW; a UTF8String JSON CMW is refused).
 * vt_ratls_evidence_from_cert: walk the certificate's extensions (no byte
 *   scanning) and parse the first of TCG DICE, CMW, legacy quote, SGX SDK
 *   legacy that is present; a repeated evidence extension is an error.
 */
VT_API VT_MUST_USE vt_status vt_ratls_claims_parse(const uint8_t *buf, size_t size, struct vt_ratls_evidence *out,
						   struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_ratls_tcg_parse(const uint8_t *value, size_t size, struct vt_ratls_evidence *out,
						struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_ratls_cmw_parse(const uint8_t *value, size_t size, struct vt_ratls_evidence *out,
						struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_ratls_evidence_from_cert(X509 *cert, struct vt_ratls_evidence *out, struct vt_err *err);

/*
 * Builders (certificate makers and tests).  Outputs are malloc'd (free()).
 * vt_ratls_claims_build: {"pubkey-hash": bstr .cbor [alg, H(spki_der)]
 *   (, "nonce": bstr)} with alg VT_RATLS_HASH_* (0 = SHA-256).
 * vt_ratls_tcg_build: 60000([quote, claims]).
 * vt_ratls_cmw_build: the DER OCTET STRING of the CBOR CMW record carrying
 *   [tee, evidence_json, claims].
 */
VT_API VT_MUST_USE vt_status vt_ratls_claims_build(const uint8_t *spki_der, size_t spki_size, int alg,
						   const uint8_t *nonce, size_t nonce_size, uint8_t **out,
						   size_t *out_size, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_ratls_tcg_build(const uint8_t *quote, size_t quote_size, const uint8_t *claims,
						size_t claims_size, uint8_t **out, size_t *out_size,
						struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_ratls_cmw_build(const char *tee, const char *evidence_json, const uint8_t *claims,
						size_t claims_size, uint8_t **out, size_t *out_size,
						struct vt_err *err);

/* The SubjectPublicKeyInfo DER of a certificate (malloc'd). */
VT_API VT_MUST_USE vt_status vt_ratls_spki_der(X509 *cert, uint8_t **out, size_t *out_size, struct vt_err *err);

/* ------------------------------------------------------------ making */

/* Produce a TEE's evidence JSON (as its verifier takes it, a new reference)
 * binding 64 bytes of report data, e.g. vt_attest_with. */
typedef vt_status (*vt_ratls_attest_fn)(void *ctx, const char *tee, const uint8_t report_data[64],
					json_t **evidence_out, struct vt_err *err);

struct vt_ratls_cert_opts {
	const char *tee;      /* "sgx" / "tdx": TCG DICE; any other TEE: CMW */
	int pubkey_hash_alg;  /* VT_RATLS_HASH_*; 0 = SHA-256 */
	const uint8_t *nonce; /* "nonce" claim (at most VT_RATLS_MAX_NONCE bytes); NULL = none */
	size_t nonce_size;
	int64_t not_before;	 /* 0 = now - 60 s */
	int64_t not_after;	 /* 0 = not_before + 1 day */
	const char *common_name; /* subject and issuer CN; NULL = "veritee RA-TLS" */
};

/*
 * A self-signed certificate for `key` (EC P-256/384/521, Ed25519 or RSA)
 * carrying evidence from `attest` that binds SHA-256 of the claims-buffer
 * (report data zero-padded to 64 bytes).  *out: X509_free.  Errors of
 * `attest` pass through; VT_E_USAGE for a TEE whose evidence has no quote
 * (sgx/tdx) or a bad option.
 */
VT_API VT_MUST_USE vt_status vt_ratls_cert_build(EVP_PKEY *key, const struct vt_ratls_cert_opts *o,
						 vt_ratls_attest_fn attest, void *attest_ctx, X509 **out,
						 struct vt_err *err);

/* libveritee-attester: the same with the attester of o->tee and its options
 * (vt_attest_with; `attest_options` may be NULL). */
VT_API VT_MUST_USE vt_status vt_ratls_cert_new(EVP_PKEY *key, const struct vt_ratls_cert_opts *o,
					       const json_t *attest_options, X509 **out, struct vt_err *err);

/* ------------------------------------------------------------ verifying */

struct vt_ratls_verify_opts {
	/* The TEEs accepted with their trust anchors, collateral and caches
	 * (borrowed; required).  A TEE the verifier does not accept fails at
	 * step evidence. */
	const struct vt_verifier *verifier;
	/* Appraisal of {"<tee>": claims, "ratls": {...}} (borrowed); NULL = no
	 * policy: any genuine, bound evidence of an accepted TEE passes. */
	const struct vt_policy *policy;
	vt_refval_fn refvals; /* reference values for in_reference rules; NULL = none */
	void *refctx;
	int64_t at; /* verification time; 0 = the clock at each verification */
	/* The "nonce" claim the certificate must carry (freshness); NULL = none
	 * required (the OpenSSL hook sets it per connection when it sent one). */
	const uint8_t *nonce;
	size_t nonce_size;
	/* Accept the legacy formats (Gramine / rats-tls quote OIDs).  The SGX
	 * SDK OID alone is never accepted: it does not bind the key. */
	bool allow_legacy;
	/* A verifier remembers a certificate whose evidence verified for 60 s
	 * (never past its notAfter) and then checks only the nonce and the
	 * policy again; true = verify the evidence at every call. */
	bool no_result_cache;
	/* The OpenSSL hook calls this with each verification's report (borrowed
	 * for the call), e.g. to keep why a handshake was refused when the TLS
	 * library (libcurl) hides the connection; NULL = none. */
	void (*on_report)(void *ctx, const json_t *report);
	void *report_ctx;
};

/*
 * Verify an RA-TLS certificate, in this order (the report's "failed_step"):
 *   parse           find and parse the evidence extension
 *   self_signature  signed by its own key (CA-signed RA-TLS is not supported)
 *   validity        notBefore <= at <= notAfter
 *   key_binding     pubkey-hash = H(SPKI), and the evidence's report data =
 *                   SHA-256(claims-buffer) (legacy: SHA-256 of the key)
 *   freshness       the nonce claim equals o->nonce (when given)
 *   evidence        the TEE's own verifier (vt_verifier_verify) at `at`
 *   policy          o->policy allows the claims
 * Returns VT_OK only when every step passed.  *report_out (may be NULL) is
 * always set to a new JSON object saying how far it got:
 *   {"verified", "failed_step"?, "error"?, "format", "extension_oid", "tee",
 *    "self_signature", "validity", "key_binding", "pubkey_hash":
 *    {"alg","value"}, "nonce", "evidence", "tcb_status"?, "claims",
 *    "policy": {"id","allowed","rules","explain"}?, "certificate": {...},
 *    "other_extensions"?}
 * where each step member is "ok" or the reason it failed.  Rejections are
 * VT_E_REJECTED / VT_E_POLICY / VT_E_PARSE; VT_E_USAGE for bad options.
 */
VT_API VT_MUST_USE vt_status vt_ratls_verify_cert(const struct vt_ratls_verify_opts *o, X509 *cert, json_t **report_out,
						  struct vt_err *err);
/* A certificate from DER (exactly one, nothing after it) or else PEM bytes,
 * at most VT_RATLS_MAX_CERT.  DER is tried first: an RA-TLS certificate's
 * DER carries PEM text (a DCAP quote's PCK chain).  *out: X509_free. */
VT_API VT_MUST_USE vt_status vt_ratls_cert_parse(const uint8_t *bytes, size_t size, X509 **out, struct vt_err *err);
/* vt_ratls_verify_cert on vt_ratls_cert_parse's certificate; a parse failure
 * is reported at step parse. */
VT_API VT_MUST_USE vt_status vt_ratls_verify_bytes(const struct vt_ratls_verify_opts *o, const uint8_t *bytes,
						   size_t size, json_t **report_out, struct vt_err *err);
/* Static step names for reports: "parse", "self_signature", ... */
VT_API const char *vt_ratls_report_step(const json_t *report);

/* ------------------------------------------------------------ OpenSSL */

#define VT_RATLS_SSL_REQUIRE_PEER 0x1u /* server: ask for a client certificate and fail without one */
#define VT_RATLS_SSL_REQUEST_NONCE                                                                                     \
	0x2u /* client: send a fresh nonce (VT_RATLS_NONCE_EXT_TYPE) and
					  * require the server's certificate to carry it */

/*
 * Verify the peer's certificate as RA-TLS with `o` (borrowed: it must
 * outlive `ctx`) instead of a CA chain: installs an
 * SSL_CTX_set_cert_verify_callback and SSL_VERIFY_PEER.  Intermediate
 * certificates the peer sends are ignored.  A refusal fails the handshake
 * with X509_V_ERR_APPLICATION_VERIFICATION; vt_ratls_ssl_report says why.
 */
VT_API VT_MUST_USE vt_status vt_ratls_ssl_ctx_verify(SSL_CTX *ctx, const struct vt_ratls_verify_opts *o, unsigned flags,
						     struct vt_err *err);
/* The report of the last RA-TLS verification on `ssl` (borrowed, valid
 * until SSL_free or the next handshake), or NULL when none ran. */
VT_API const json_t *vt_ratls_ssl_report(const SSL *ssl);

/* Present `cert` with `key` (an RA-TLS identity: vt_ratls_cert_new). */
VT_API VT_MUST_USE vt_status vt_ratls_ssl_ctx_use(SSL_CTX *ctx, EVP_PKEY *key, X509 *cert, struct vt_err *err);

/*
 * libveritee-attester, server side of VT_RATLS_SSL_REQUEST_NONCE: when a
 * ClientHello carries the nonce extension, make a certificate for `key`
 * with that nonce claim for this handshake (one attestation per such
 * handshake); otherwise the certificate set with vt_ratls_ssl_ctx_use is
 * presented.  Copies `o` (minus its nonce), `attest_options` and a
 * reference to `key` into the context.
 */
VT_API VT_MUST_USE vt_status vt_ratls_ssl_ctx_serve_fresh(SSL_CTX *ctx, EVP_PKEY *key,
							  const struct vt_ratls_cert_opts *o,
							  const json_t *attest_options, struct vt_err *err);

#endif
