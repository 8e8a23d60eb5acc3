/*
 * veritee/se.h — IBM Secure Execution (s390x, `se`): the attestation
 * request (ARCB), the SE image header, pvattest's exchange format, the
 * attestation measurement, the `se` TEE and its attester.
 *
 * How SE attestation works (s390-tools rust/pv, rust/pvattest; Trustee
 * deps/verifier/src/se; guest-components attester/src/se):
 *
 *   verifier                         guest (SE VM)              Ultravisor
 *   ARCB = AES-256-GCM under a fresh ARPK of {measurement key (64), nonce (16)},
 *          the ARPK wrapped to each host key (one key slot per host key)
 *                        ──ARCB──▶  ioctl UVIO_IOCTL_ATT on /dev/uv ──▶ unwraps the ARPK
 *                                   with user data (<= 256 bytes)       with its host key
 *                        ◀── measurement = HMAC-SHA512(measurement key, items),
 *                            additional data, configuration UID (CUID)
 *   recomputes the HMAC from the SE header it trusts and the keys it made.
 *
 * Every multi-byte integer below is big-endian.
 *
 * ARCB v1 (rust/pv src/uvattest/arcb.rs, src/req/header.rs, request.rs):
 *   0x00  magic             8    all zero
 *   0x08  version           u32  0x0100
 *   0x0c  size (rql)        u32  == the whole request
 *   0x10  IV                12   AES-256-GCM IV
 *   0x1c  reserved          4+7
 *   0x27  nks               u8   key slots, >= 1
 *   0x28  reserved          4
 *   0x2c  sea               u32  size of the encrypted area: 64 (key) or 80 (key + nonce)
 *   0x30  flags             u64  plaintext attestation flags, MSB-0 bit numbers (VT_SE_FLAG_*)
 *   0x38  mai               u32  measurement algorithm: 1 = HMAC-SHA512
 *   0x3c  reserved          u32
 *   0x40  customer key      160  the requester's ECDH P-521 public key (x, y padded to 80 each)
 *   0xe0  key slots         nks * 80: {public host-key hash (32), wrapped ARPK (32), tag (16)}
 *         encrypted area    sea: measurement key (64) || nonce (16, when flag bit 1)
 *         GCM tag           16
 *   The authenticated data is everything before the encrypted area.
 *
 * SE header v1, "IBMSecEx" (rust/pv src/brcb.rs, rust/pvimg se_hdr/hdr_v1.rs):
 *   0x000 magic "IBMSecEx"  8;  0x008 version u32 0x0100;  0x00c size (sehs) u32 (<= 8192)
 *   0x010 IV 12;  0x01c reserved u32;  0x020 nks u64;  0x028 sea u64;  0x030 nep u64
 *   0x038 pcf u64 (plaintext control flags);  0x040 customer key 160
 *   0x0e0 PLD 64 (page list digest);  0x120 ALD 64 (address list digest);  0x160 TLD 64 (tweaks)
 *   0x1a0 key slots nks * 80;  encrypted area sea;  tag 16 (last 16 bytes)
 *   The attestation measurement covers PLD || ALD || TLD || tag ("boot header tags", 208 bytes).
 *
 * pvattest exchange format v1 (rust/pvattest src/exchange.rs):
 *   0x00 magic "pvattest" 8;  0x08 version u32 0x0100;  0x0c size u32 (== the file);
 *   0x10 reserved u64 (zero);  0x18 five entries {size u32, offset u32}:
 *   ARCB, measurement, additional data, user data, configuration UID.
 *   size 0 = absent; offset 0 with size > 0 = "expect this many bytes" (a request);
 *   otherwise the bytes at [offset, offset + size), offset >= 0x40.
 *
 * Attestation measurement (rust/pv src/uvattest/attest.rs, AttestationItems):
 *   HMAC-SHA512(measurement key,
 *     PLD || ALD || TLD || header tag || CUID (16) || user-data length u16 || 0x0000 ||
 *     additional-data length u32 || user data || nonce (16, when requested) || additional data)
 *
 * Additional data, in this order, each present when its flag is set:
 *   image public host-key hash (32, bit 2), attestation public host-key
 *   hash (32, bit 3), secret-store hash (64, bit 4), firmware state (320, bit 5).
 */
#ifndef VERITEE_SE_H
#define VERITEE_SE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "veritee/err.h"
#include "veritee/evidence.h"

#define VT_SE_VERSION_1 0x0100u
#define VT_SE_MAI_HMAC_SHA512 1u

#define VT_SE_IV_SIZE 12
#define VT_SE_GCM_TAG_SIZE 16
#define VT_SE_CUST_KEY_SIZE 160
#define VT_SE_KEYSLOT_SIZE 80
#define VT_SE_PHKH_SIZE 32
#define VT_SE_DIGEST_SIZE 64                         /* PLD, ALD, TLD */
#define VT_SE_TAGS_SIZE (3 * VT_SE_DIGEST_SIZE + 16) /* PLD || ALD || TLD || header tag = 208 */
#define VT_SE_CUID_SIZE 16
#define VT_SE_NONCE_SIZE 16
#define VT_SE_MEAS_KEY_SIZE 64
#define VT_SE_MEASUREMENT_SIZE 64 /* HMAC-SHA512 */
#define VT_SE_ARPK_SIZE 32        /* AES-256 */
#define VT_SE_USER_DATA_MAX 256   /* architecture limit (UVIO_ATT_USER_DATA_LEN) */
#define VT_SE_ADDITIONAL_MAX 0x8000u /* UVIO_ATT_ADDITIONAL_MAX_LEN */
#define VT_SE_REPORT_DATA_SIZE 64 /* the binding: the first 64 bytes of the user data */

#define VT_SE_ARCB_HDR_SIZE 0x30
#define VT_SE_ARCB_MIN_AAD (VT_SE_ARCB_HDR_SIZE + 16 + VT_SE_CUST_KEY_SIZE) /* without key slots */
/* nks is one byte: the largest ARCB v1 has 255 key slots and a nonce. */
#define VT_SE_ARCB_MAX (VT_SE_ARCB_MIN_AAD + 255 * VT_SE_KEYSLOT_SIZE + VT_SE_MEAS_KEY_SIZE + VT_SE_NONCE_SIZE + 16)

#define VT_SE_HDR_FIXED_SIZE 0x1a0 /* up to the key slots */
#define VT_SE_HDR_MAX 8192         /* two pages (pvimg SeHdrDataV1::MAX_SIZE) */

#define VT_SE_EXCHANGE_HDR_SIZE 0x40
#define VT_SE_EXCHANGE_MAX ((size_t)VT_SE_EXCHANGE_HDR_SIZE + VT_SE_ARCB_MAX + 2 * VT_SE_ADDITIONAL_MAX + \
			    VT_SE_USER_DATA_MAX + VT_SE_CUID_SIZE)

/* Plaintext attestation flags (MSB-0 bit n = 1 << (63 - n)). */
#define VT_SE_FLAG_NONCE (UINT64_C(1) << 62)             /* bit 1: the request carries a nonce */
#define VT_SE_FLAG_IMAGE_PHKH (UINT64_C(1) << 61)        /* bit 2: +32 additional: image host-key hash */
#define VT_SE_FLAG_ATTEST_PHKH (UINT64_C(1) << 60)       /* bit 3: +32: attestation host-key hash */
#define VT_SE_FLAG_SECRET_STORE_HASH (UINT64_C(1) << 59) /* bit 4: +64: secret-store hash */
#define VT_SE_FLAG_FIRMWARE_STATE (UINT64_C(1) << 58)    /* bit 5: +320: firmware state */
#define VT_SE_FLAGS_KNOWN (VT_SE_FLAG_NONCE | VT_SE_FLAG_IMAGE_PHKH | VT_SE_FLAG_ATTEST_PHKH | \
			   VT_SE_FLAG_SECRET_STORE_HASH | VT_SE_FLAG_FIRMWARE_STATE)

/* ---------------------------------------------------------------- parsers
 * Each borrows its input: the views are valid as long as the input is.  On
 * failure nothing is filled in and `err` names the field (VT_E_PARSE or
 * VT_E_LIMIT, step parse).  No cryptography happens in a parser.
 */

struct vt_se_arcb {
	uint32_t version, size, sea;
	uint8_t nks;
	uint64_t flags;
	uint32_t mai;
	const uint8_t *iv;                /* 12 */
	const uint8_t *aad;               /* the authenticated bytes: [0, aad_size) */
	size_t aad_size;
	const uint8_t *cust_key;          /* 160 */
	const uint8_t *keyslots;          /* nks * 80; slot i's host-key hash = keyslots + 80 * i */
	const uint8_t *encrypted;         /* sea */
	const uint8_t *tag;               /* 16 */
};

/*
 * An ARCB v1 of exactly n bytes.  Fields: "arcb.magic" (not all zero),
 * "arcb.version", "arcb.size" (!= n, or above VT_SE_ARCB_MAX: VT_E_LIMIT),
 * "arcb.reserved", "arcb.nks" (0, or not matching the size), "arcb.sea",
 * "arcb.flags" (unknown bits), "arcb.mai" (not HMAC-SHA512), or the field
 * a truncated read stopped at.
 */
VT_API VT_MUST_USE vt_status vt_se_arcb_parse(const uint8_t *p, size_t n, struct vt_se_arcb *out, struct vt_err *err);

/* Size of the additional data the flags ask for (0..448). */
VT_API uint32_t vt_se_additional_size(uint64_t flags);

struct vt_se_hdr {
	uint32_t version, size;
	uint64_t nks, sea, nep, pcf;
	const uint8_t *iv;       /* 12 */
	const uint8_t *cust_key; /* 160 */
	const uint8_t *pld, *ald, *tld; /* 64 each */
	const uint8_t *keyslots; /* nks * 80 */
	const uint8_t *tag;      /* 16, the last bytes */
};

/*
 * An SE header of exactly n bytes, as pvextract-hdr writes it (the header
 * alone, not a whole SE image).  Fields "se_header.magic", ".version",
 * ".size" (!= n or above VT_SE_HDR_MAX), ".reserved", ".nks", ".sea".
 */
VT_API VT_MUST_USE vt_status vt_se_hdr_parse(const uint8_t *p, size_t n, struct vt_se_hdr *out, struct vt_err *err);
/* PLD || ALD || TLD || tag of a parsed header (208 bytes into out). */
VT_API void vt_se_hdr_tags(const struct vt_se_hdr *h, uint8_t out[VT_SE_TAGS_SIZE]);

struct vt_se_exchange_entry {
	bool present;        /* size > 0 */
	uint32_t size;
	const uint8_t *data; /* NULL when present with offset 0 (a request's expected size) */
};

struct vt_se_exchange {
	uint32_t version, size;
	struct vt_se_exchange_entry arcb, measurement, additional, user_data, cuid;
};

/*
 * A pvattest exchange file (request or response) of exactly n bytes.
 * Fields "exchange.magic", ".version", ".size", ".reserved", and per entry
 * "exchange.arcb" / ".measurement" / ".additional" / ".user_data" / ".cuid":
 * an offset inside the header, data past the end of the file, or a size
 * above the entry's cap (ARCB VT_SE_ARCB_MAX, measurement and additional
 * 0x8000, user data 256, CUID exactly 16): VT_E_LIMIT for the caps.
 */
VT_API VT_MUST_USE vt_status vt_se_exchange_parse(const uint8_t *p, size_t n, struct vt_se_exchange *out,
						  struct vt_err *err);

/* ---------------------------------------------------------------- cryptography */

/* The confidential part of an ARCB.  Secret: vt_wipe it after use. */
struct vt_se_arcb_secrets {
	uint8_t meas_key[VT_SE_MEAS_KEY_SIZE];
	uint8_t nonce[VT_SE_NONCE_SIZE];
	bool has_nonce;
};

/*
 * AES-256-GCM decryption of a parsed ARCB's encrypted area with `arpk`
 * (IV from the header, AAD = every byte before the encrypted area, the
 * trailing 16-byte tag).  A tag that does not authenticate: VT_E_REJECTED,
 * step signature, field "arcb.tag" (nothing is written to *out).
 */
VT_API VT_MUST_USE vt_status vt_se_arcb_unwrap(const struct vt_se_arcb *a, const uint8_t arpk[VT_SE_ARPK_SIZE],
					       struct vt_se_arcb_secrets *out, struct vt_err *err);

struct vt_se_measurement_input {
	const uint8_t *tags;       /* VT_SE_TAGS_SIZE: PLD || ALD || TLD || header tag */
	const uint8_t *cuid;       /* VT_SE_CUID_SIZE */
	const uint8_t *user_data;  /* 0..256 bytes */
	size_t user_data_size;
	const uint8_t *nonce;      /* VT_SE_NONCE_SIZE, or NULL when the request had none */
	const uint8_t *additional; /* 0..VT_SE_ADDITIONAL_MAX bytes */
	size_t additional_size;
};

/* The attestation measurement (HMAC-SHA512, layout above) into out[64].
 * VT_E_USAGE for sizes beyond the architecture's limits. */
VT_API VT_MUST_USE vt_status vt_se_measurement(const uint8_t *key, size_t key_size,
					       const struct vt_se_measurement_input *in,
					       uint8_t out[VT_SE_MEASUREMENT_SIZE], struct vt_err *err);

/* ---------------------------------------------------------------- verification
 *
 * Evidence JSON (the KBS primary_evidence for tee "se"): Trustee's
 * SeAttestationResponse (deps/verifier/src/se/ibmse.rs; guest-components
 * attester/src/se), every byte string standard base64:
 *   {"measurement", "additional_data", "user_data", "cuid",
 *    "encr_measurement_key", "encr_request_nonce", "image_hdr_tags"}
 * plus, as veritee's addition, "request_blob": the ARCB the guest gave the
 * Ultravisor (Trustee's SeAttestationRequest names it so).  measurement,
 * additional_data, user_data and cuid are required; the others are
 * optional; no other member is accepted.
 *
 * The verifier's trust (struct vt_se_trust, the `se` TEE's state):
 *   - SE headers it trusts (at least one): the measurement is recomputed
 *     over their tags, never over tags the evidence merely names;
 *   - ARPKs (pvattest create --arpk): the measurement key and nonce come
 *     from the evidence's request_blob, authenticated by AES-256-GCM;
 *   - or, INSECURE, Trustee's RSA key (SE_MEASUREMENT_ENCR_KEY_PRIVATE):
 *     the key and nonce come from encr_measurement_key / encr_request_nonce
 *     (RSA PKCS#1 v1.5).  Encryption to an RSA public key authenticates
 *     nothing: whoever holds the public key can choose a measurement key
 *     and forge evidence.  Only for evidence made against a Trustee KBS.
 *
 * Steps, in order (the first failure is reported):
 *   parse      the JSON members (field = the member), the ARCB ("arcb.*"),
 *              the additional data's size against the request's flags
 *              ("additional_data")
 *   signature  field "arcb.tag": no configured ARPK authenticates the ARCB;
 *              field "encr_measurement_key": the RSA key does not recover a
 *              64-byte key and a 16-byte nonce;
 *              field "measurement": the HMAC over a trusted header's tags
 *              does not match (constant-time comparison)
 *   binding    field "image_hdr_tags": the evidence names tags of no trusted header;
 *              field "arcb.flags": the request asked for no nonce;
 *              field "additional_data.attestation_phkh": not the hash of a
 *              host key of the request's key slots; field
 *              "additional_data.image_phkh": not one of the header's key slots;
 *              field "user_data": its first 64 bytes are not the caller's
 *              binding zero-padded to 64 (Trustee: regularize_data(.., 64))
 *
 * Claims (Trustee's SeAttestationClaims, hex): {"cuid", "report_data"
 * (the first 64 bytes of the user data), "version": 256, "image_phkh",
 * "attestation_phkh", "tag"} (the two hashes when the request asked for
 * them), and veritee's: "user_data", "pld", "ald", "tld", "pcf" (hex of the
 * header's plaintext control flags), "attestation_flags" (hex, ARCB only),
 * "secret_store_hash", "firmware_state" (when requested), "key_source"
 * ("arcb" or "trustee-rsa-insecure").
 */

struct vt_se_trust;

#define VT_SE_MAX_HEADERS 64
#define VT_SE_MAX_ARPKS 64

VT_API VT_MUST_USE vt_status vt_se_trust_new(struct vt_se_trust **out, struct vt_err *err);
VT_API void vt_se_trust_free(struct vt_se_trust *t); /* wipes the ARPKs; NULL ok */
/* A trusted SE header (the bytes are parsed and the tags and key slots copied). */
VT_API VT_MUST_USE vt_status vt_se_trust_add_header(struct vt_se_trust *t, const uint8_t *hdr, size_t n,
						    struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_se_trust_add_arpk(struct vt_se_trust *t, const uint8_t arpk[VT_SE_ARPK_SIZE],
						  struct vt_err *err);
/* Trustee's RSA private key (a reference is taken).  INSECURE, see above. */
VT_API VT_MUST_USE vt_status vt_se_trust_set_rsa_key_insecure(struct vt_se_trust *t, EVP_PKEY *key,
							      struct vt_err *err);

/*
 * Verify SE evidence (the JSON above).  `binding` NULL (or its report_data
 * NULL) = the user data is not checked; more than 64 bytes: VT_E_USAGE.
 * `t` NULL: VT_E_REJECTED, step config ("no SE trust configured").  On
 * success *claims_out is a new reference.
 */
VT_API VT_MUST_USE vt_status vt_se_verify(const struct vt_se_trust *t, const json_t *evidence,
					  const struct vt_binding *binding, json_t **claims_out, struct vt_err *err);

/* The evidence JSON of a pvattest exchange *response* (ARCB -> request_blob,
 * measurement, additional data, user data, CUID).  A request (no
 * measurement data): VT_E_PARSE, field "exchange.measurement". */
VT_API VT_MUST_USE vt_status vt_se_evidence_from_exchange(const uint8_t *p, size_t n, json_t **out,
							  struct vt_err *err);

/*
 * The registry entry (tee "se").  Options (veritee verify flags; keys of
 * "tees": {"se": {...}}):
 *   se_headers FILE|DIR    trusted SE headers (required)
 *   arpk FILE|DIR          32-byte ARPK files (mode 0600)
 *   measurement_rsa_key_insecure KEY   Trustee's RSA key (INSECURE)
 * Without se_headers (nor anything else) the TEE is not configured and is
 * refused.  load_file: the evidence JSON or a pvattest exchange response.
 */
VT_API extern const struct vt_tee vt_tee_se;

/* ---------------------------------------------------------------- attester */

#define VT_SE_DEFAULT_DEVICE "/dev/uv" /* the kernel's uvdevice (misc device "uv") */

/* One Retrieve Attestation Measurement call (UVIO_IOCTL_ATT). */
struct vt_se_uv_attest {
	const uint8_t *arcb;             /* in */
	uint32_t arcb_size;
	uint8_t user_data[VT_SE_USER_DATA_MAX]; /* in */
	uint16_t user_data_size;
	uint8_t *measurement;            /* out, measurement_size bytes */
	uint32_t measurement_size;
	uint8_t *additional;             /* out; in: capacity, out: bytes written */
	uint32_t additional_size;
	uint8_t cuid[VT_SE_CUID_SIZE];   /* out */
	uint16_t uv_rc, uv_rrc;          /* out: the Ultravisor's return and reason codes */
};

/* The device: fill the outputs, or fail (VT_E_IO / VT_E_USAGE). */
typedef vt_status (*vt_se_uv_fn)(void *ctx, struct vt_se_uv_attest *io, struct vt_err *err);

/*
 * Ask the Ultravisor for an attestation measurement of the request in
 * `request` (n bytes: a raw ARCB, a pvattest exchange request, or Trustee's
 * SeAttestationRequest JSON) with `report_data` as the user data (the KBS
 * binding, as guest-components' SE attester does), and return the evidence
 * JSON above (encr_measurement_key, encr_request_nonce and image_hdr_tags
 * copied from a Trustee request).  The device's answer is checked for
 * sizes only: the guest cannot verify the HMAC.  Errors: VT_E_PARSE (the
 * request), VT_E_USAGE (no device: not an SE guest), VT_E_IO.
 */
VT_API VT_MUST_USE vt_status vt_se_attest_via(vt_se_uv_fn uv, void *ctx, const uint8_t *request, size_t n,
					      const uint8_t report_data[VT_SE_REPORT_DATA_SIZE], json_t **evidence_out,
					      struct vt_err *err);
/* The same on the real device (NULL = VT_SE_DEFAULT_DEVICE) with the
 * request read from `request_path`. */
VT_API VT_MUST_USE vt_status vt_se_attest(const char *device, const char *request_path,
					  const uint8_t report_data[VT_SE_REPORT_DATA_SIZE], json_t **evidence_out,
					  struct vt_err *err);

struct vt_attester;
VT_API extern const struct vt_attester vt_attester_se;

/* ---------------------------------------------------------------------------
 * For tests, fuzzing and benchmarks only: build an ARCB v1 (encrypted with
 * `arpk`) and an SE header.  Key slots and the customer key are filler
 * (no host key is involved): nothing here can talk to an Ultravisor.
 */
struct vt_se_arcb_spec {
	uint64_t flags;           /* VT_SE_FLAG_NONCE decides whether the nonce goes in */
	uint32_t mai;             /* 0 = HMAC-SHA512 */
	uint8_t nks;              /* 0 = 1 */
	const uint8_t *phkh;      /* nks * 32 host-key hashes, or NULL for 0x5a filler */
	uint8_t iv[VT_SE_IV_SIZE];
	uint8_t arpk[VT_SE_ARPK_SIZE];
	uint8_t meas_key[VT_SE_MEAS_KEY_SIZE];
	uint8_t nonce[VT_SE_NONCE_SIZE];
};
VT_API VT_MUST_USE vt_status vt_se_arcb_build(const struct vt_se_arcb_spec *spec, uint8_t **out, size_t *out_size,
					      struct vt_err *err);
/* An SE header whose PLD/ALD/TLD/tag are filled with `seed`, seed+1, ...
 * and whose key slots carry the `nks` hashes in `phkh` (NULL: 0x5a filler). */
VT_API VT_MUST_USE vt_status vt_se_hdr_build(uint8_t seed, uint8_t nks, const uint8_t *phkh, uint8_t **out,
					     size_t *out_size, struct vt_err *err);

#endif
