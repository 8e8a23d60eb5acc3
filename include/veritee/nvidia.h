/*
 * veritee/nvidia.h — NVIDIA GPU (Hopper, Blackwell) and NVSwitch (LS10)
 * confidential-computing attestation (verifier, tee "nvidia", a device TEE).
 *
 * Evidence of one device is what the NVIDIA driver returns (docs/nvidia.md,
 * formats/nvidia-gpu.md): an SPDM 1.1 GET_MEASUREMENTS request (37 bytes,
 * carrying the verifier's 32-byte nonce) followed by the MEASUREMENTS
 * response, whose last 96 bytes are an ECDSA P-384 signature (raw r || s,
 * big-endian) with SHA-384 over request || response-without-signature, made
 * by the key of the device's leaf certificate.  All integers little-endian.
 *
 *   request   u8 SPDMVersion 0x11, u8 code 0xE0, u8 Param1 (bit 0: signature
 *             requested, must be set), u8 Param2 0xFF (all blocks),
 *             32-byte nonce, u8 SlotIDParam 0
 *   response  u8 0x11, u8 0x60, u8 Param1, u8 Param2 (low nibble: slot 0),
 *             u8 NumberOfBlocks (>= 1), u24 L1, L1 bytes of blocks, 32-byte
 *             responder nonce, u16 L2, L2 bytes of opaque TLVs, 96-byte
 *             signature, and nothing after it (42 + L1 + L2 + 96 == size
 *             of the response: every shared sample has 0 trailing bytes)
 *   block     u8 Index (the i-th block has Index i, 1-based), u8
 *             MeasurementSpecification 0x01 (DMTF), u16 MeasurementSize,
 *             then exactly that many bytes: u8 DMTF value type, u16 value
 *             size (== MeasurementSize - 3), value
 *   opaque    repeated u16 type, u16 size, data until L2 is used up exactly;
 *             a type appears at most once; 255 (INVALID) is refused;
 *             unknown types are kept (claims "opaque_<type>": hex)
 *
 * Trust (docs/nvidia.md): the chain the device sends (leaf first, 5
 * certificates: FMC leaf, BROM, Provisioner ICA, <chip> Identity, NVIDIA
 * Device Identity CA) has its last certificate replaced by the shipped
 * NVIDIA Device Identity CA, pinned by the SHA-256 of its DER
 * (VT_NVIDIA_DEVICE_ROOT_SHA256); the certificate sent last must be that
 * root byte for byte.  The chain is verified with X509_verify_cert at the
 * caller's time.  FWID: the leaf's TCG DICE extension (2.23.133.5.4.1 or
 * 2.23.133.5.4.1.1) carries the firmware digest — Hopper/LS10 form
 * SEQUENCE {INTEGER, SubjectPublicKeyInfo, FWID}, Blackwell form DiceTcbInfo
 * with fwids [6] (the first FWID's digest) — and it must equal opaque field
 * 20 (FWID).  GPUs (Hopper, Blackwell) must send FWID; NVSwitches need not.
 * No OCSP (offline verifier): see docs/nvidia.md.
 *
 * Binding: the request nonce must equal the first 32 bytes of the expected
 * report data (Trustee truncates NVIDIA report data to 32 bytes); expected
 * report data shorter than 32 bytes is refused (VT_E_USAGE, step binding).
 *
 * Evidence JSON of one device (Trustee's NvDeviceReportAndCert):
 *   {"arch": "HOPPER"|"BLACKWELL"|"LS10" (any case; optional: then the
 *            leaf certificate's model decides),
 *    "uuid": "...",                       (optional, at most 128 characters)
 *    "evidence": "<std base64 (or hex) of request || response>",
 *    "certificate": "<std base64 of the PEM (or DER) chain>"}  (optional:
 *            else the chain given as the state option "certs")
 * Other members (nvtrust's "nonce", "version", "driver_version",
 * "vbios_version") are ignored: they are not signed.
 *
 * Steps, in order, and the fields they name:
 *   parse      "evidence", "arch", "uuid", "certificate", "report.request.*",
 *              "report.response.*", "report.blocks[i].*", "report.opaque.*"
 *   signature  "report.signature" (also a leaf key that is not P-384)
 *   chain      "certificate" (count, root pin), "certificate[i]"
 *              (X509_verify_cert), "certificate[0].fwid", "arch" (the
 *              leaf's model contradicts the evidence's arch)
 *   binding    "report.request.nonce"
 *   collateral "rim" (an applicable RIM whose chain fails at `now`, or two
 *              RIMs claiming one measurement)
 *
 * Claims (names as Trustee's nvidia verifier where it has one):
 *   {"arch": "Hopper"|"Blackwell"|"LS10", "class": "gpu"|"switch",
 *    "uuid": "..."|"unknown",
 *    "hwmodel": CN of the second certificate (e.g. "GH100 A01 GSP BROM"),
 *    "ueid": decimal serial number of the leaf,
 *    "spdm_version": "1.1", "number_of_blocks": 64,
 *    "measurements": {"1": "<hex>", ...},          (every block, by Index)
 *    "config": {opaque fields by Trustee's names: "driver_version",
 *               "vbios_version" ("96.00.9f.00.01"; ASCII on NVSwitches),
 *               "project", "project_sku", "chip_sku", "chip_sku_mod",
 *               "chip_info" (ASCII, NULs stripped), "fwid" (hex),
 *               "nvdec0_status", "protected_pcie_status" ("enabled" 0xAA,
 *               "disabled" 0x55, else hex), "measurement_count" {"1": n},
 *               "switch_pdi" [hex], "opaque_data_version" n, "feature_flag"
 *               "SPT"|"MPT"|"PPCIE"|"unknown", others hex},
 *    "nonce": hex of the request nonce, "report_data": the same,
 *    "rim": {"driver"|"vbios": {"verified": true, "file": "...",
 *            "version": "...", "matched": [i, ...], "mismatched":
 *            [{"index": i, "seen": hex|null, "allowed": [hex, ...]}]}},
 *    "measres": "success"|"fail"}      (rim and measres only when a RIM
 *                                       of the state applies to the device)
 */
#ifndef VERITEE_NVIDIA_H
#define VERITEE_NVIDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/evidence.h"

#define VT_NVIDIA_REQUEST_SIZE 37
#define VT_NVIDIA_NONCE_SIZE 32
#define VT_NVIDIA_SIG_SIZE 96
/* Real reports are 2-5 KiB (64 blocks of 51 bytes, < 1 KiB opaque). */
#define VT_NVIDIA_MAX_REPORT ((size_t)64 * 1024)
#define VT_NVIDIA_MAX_BLOCKS 255  /* NumberOfBlocks is a u8 */
#define VT_NVIDIA_MAX_OPAQUE 64   /* distinct types; 36 are defined */
#define VT_NVIDIA_MAX_CHAIN ((size_t)64 * 1024) /* PEM or DER bytes */
#define VT_NVIDIA_MAX_CERTS 8
#define VT_NVIDIA_CHAIN_LEN 5     /* certificates sent, and after the root swap */
#define VT_NVIDIA_FWID_SIZE 48
#define VT_NVIDIA_MAX_UUID 128
/* Devices in one additional-evidence value when the caller gives no max. */
#define VT_NVIDIA_MAX_DEVICES 64

/* SHA-256 of the DER of the NVIDIA Device Identity CA (device chains) and of
 * the NVIDIA CoRIM signing Root CA (RIM chains), both shipped in
 * src/evidence/nvidia/root.c. */
#define VT_NVIDIA_DEVICE_ROOT_SHA256 "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48"
#define VT_NVIDIA_RIM_ROOT_SHA256 "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1"

/* Opaque data types (nvtrust spdm_msrt_resp_msg.py). */
enum vt_nvidia_opaque_type {
	VT_NVIDIA_OPAQUE_DRIVER_VERSION = 3,
	VT_NVIDIA_OPAQUE_VBIOS_VERSION = 6,
	VT_NVIDIA_OPAQUE_NVDEC0_STATUS = 11,
	VT_NVIDIA_OPAQUE_MSRSCNT = 12,
	VT_NVIDIA_OPAQUE_FWID = 20,
	VT_NVIDIA_OPAQUE_PROTECTED_PCIE_STATUS = 21,
	VT_NVIDIA_OPAQUE_SWITCH_PDI = 22,
	VT_NVIDIA_OPAQUE_INVALID = 255,
};

struct vt_nvidia_block {
	uint8_t index;        /* 1-based */
	uint8_t value_type;   /* DMTFSpecMeasurementValueType */
	const uint8_t *value;
	uint16_t value_size;
};

struct vt_nvidia_opaque {
	uint16_t type;
	uint16_t size;
	const uint8_t *data;
};

/*
 * A parsed report (nothing verified).  Every pointer is a view into the
 * bytes given to vt_nvidia_report_parse, valid as long as they are.
 */
struct vt_nvidia_report {
	const uint8_t *nonce;           /* request nonce, VT_NVIDIA_NONCE_SIZE */
	uint8_t request_param1, request_param2;
	uint8_t spdm_version;           /* 0x11 */
	uint8_t response_param1, response_param2;
	size_t block_count;
	struct vt_nvidia_block blocks[VT_NVIDIA_MAX_BLOCKS];
	const uint8_t *responder_nonce; /* VT_NVIDIA_NONCE_SIZE */
	size_t opaque_count;
	struct vt_nvidia_opaque opaque[VT_NVIDIA_MAX_OPAQUE];
	const uint8_t *signed_data;     /* request || response up to the signature */
	size_t signed_size;
	const uint8_t *signature;       /* VT_NVIDIA_SIG_SIZE, r || s */
};

/*
 * Parse request || response (n bytes, at most VT_NVIDIA_MAX_REPORT) by the
 * rules above.  VT_E_PARSE / VT_E_LIMIT, step parse, naming the field.
 * On failure *out is zeroed.
 */
VT_API VT_MUST_USE vt_status vt_nvidia_report_parse(const uint8_t *p, size_t n, struct vt_nvidia_report *out,
						    struct vt_err *err);

/* The opaque field of `type`, or NULL. */
VT_API const struct vt_nvidia_opaque *vt_nvidia_report_opaque(const struct vt_nvidia_report *r, uint16_t type);

/*
 * The shipped roots (new references; X509_free), checked against their pins
 * when first loaded: VT_E_INTERNAL if one ever differs.
 */
VT_API VT_MUST_USE vt_status vt_nvidia_device_root(X509 **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_nvidia_rim_root(X509 **out, struct vt_err *err);

/*
 * The FWID of a device leaf certificate (its DICE extension, above) into
 * out.  VT_E_REJECTED, step chain, field "certificate[0].fwid" when the
 * extension is absent, repeated or malformed.
 */
VT_API VT_MUST_USE vt_status vt_nvidia_leaf_fwid(X509 *leaf, uint8_t out[VT_NVIDIA_FWID_SIZE], struct vt_err *err);

/* ---------------------------------------------------------------------------
 * RIMs (reference integrity manifests): NVIDIA-signed SWID tags (ISO/IEC
 * 19770-2:2015 XML) with an enveloped XML signature (C14N 1.1,
 * ecdsa-sha384, sha384, Reference URI="").  docs/nvidia.md, "RIMs".
 */
#define VT_NVIDIA_RIM_MAX_FILE ((size_t)1 << 20)
#define VT_NVIDIA_RIM_MAX_MEASUREMENTS 256
#define VT_NVIDIA_RIM_MAX_ALTERNATIVES 16
#define VT_NVIDIA_RIM_MAX_VALUE 64
#define VT_NVIDIA_RIM_MAX_FILES 256

/* One Resource type="Measurement": index is 0-based (SPDM block index + 1). */
struct vt_nvidia_golden {
	uint32_t index;
	bool active;
	size_t size;                 /* bytes of each value */
	size_t alt_count;            /* 1..VT_NVIDIA_RIM_MAX_ALTERNATIVES */
	uint8_t alt[VT_NVIDIA_RIM_MAX_ALTERNATIVES][VT_NVIDIA_RIM_MAX_VALUE];
	char name[64];
};

struct vt_nvidia_rim {
	char *file;                  /* base name of the file it came from (or NULL) */
	uint8_t sha256[32];          /* of the file's bytes */
	char *version;               /* Meta colloquialVersion, lowercased */
	char *product;               /* Meta product, e.g. "GH100" */
	char *tag_id;                /* SoftwareIdentity tagId */
	bool signature_verified;     /* the XML signature verified with certs[0]'s key */
	size_t cert_count;           /* KeyInfo X509Certificate elements, leaf first */
	X509 *certs[VT_NVIDIA_MAX_CERTS];
	size_t golden_count;
	struct vt_nvidia_golden *golden; /* ascending index */
};

/*
 * Parse a RIM (at most VT_NVIDIA_RIM_MAX_FILE bytes; no DTD, no entity
 * expansion, no network: XML_PARSE_NONET, a DOCTYPE is refused) and verify
 * its XML signature with xmlsec1 (libxmlsec1-openssl) using the public key
 * of the first KeyInfo certificate; only the one enveloped reference
 * URI="" and the transforms above are accepted.  The certificate chain is
 * NOT checked here (time is an input: vt_nvidia_rim_check_chain).
 * `file` (may be NULL) names it in errors and claims.  Errors: VT_E_PARSE
 * / VT_E_LIMIT step parse, VT_E_REJECTED step signature.  *out: free with
 * vt_nvidia_rim_free.
 */
VT_API VT_MUST_USE vt_status vt_nvidia_rim_load(const uint8_t *xml, size_t n, const char *file,
						struct vt_nvidia_rim **out, struct vt_err *err);
VT_API void vt_nvidia_rim_free(struct vt_nvidia_rim *rim); /* NULL ok */

/*
 * The RIM's chain at `now`: its KeyInfo certificates minus the last (which
 * must be the pinned NVIDIA CoRIM signing Root CA) plus the shipped root.
 * VT_E_REJECTED, step chain.
 */
VT_API VT_MUST_USE vt_status vt_nvidia_rim_check_chain(const struct vt_nvidia_rim *rim, int64_t now,
						       struct vt_err *err);

/*
 * Compare a RIM's active golden measurements with a report's blocks
 * (golden index i <-> block Index i + 1; equal when the block's value has
 * the golden size and equals one of its alternatives).  Nothing here is
 * verified: the caller has verified both.  *out (new reference):
 *   {"matched": [i, ...], "mismatched": [{"index": i, "seen": hex|null,
 *    "allowed": [hex, ...]}, ...]}   (ascending index; "seen" null when
 *                                     the report has no such block)
 */
VT_API VT_MUST_USE vt_status vt_nvidia_rim_compare(const struct vt_nvidia_rim *rim,
						   const struct vt_nvidia_report *report, json_t **out,
						   struct vt_err *err);

/* ---------------------------------------------------------------------------
 * The registry entry (tee "nvidia", flags VT_TEE_DEVICE): verify (above),
 * devices, load_file, and the options
 *   certs FILE      the device's chain (PEM or DER) for evidence without
 *                   "certificate" (`veritee verify nvidia REPORT --certs F`)
 *   rim FILE|DIR    RIMs (a file, or every file of a directory): each is
 *                   parsed and its XML signature verified when the verifier
 *                   is built (a bad one fails it); at verification a RIM
 *                   applies to a device when its product equals the device
 *                   model's first word (hwmodel "GH100 A01 ..." -> "GH100")
 *                   and its version equals the device's driver version
 *                   (kind "driver") or VBIOS version (kind "vbios"); its
 *                   chain is then checked at `now` (cached) and compared.
 * Parsed certificates and verified chains (device and RIM) are cached in
 * the verifier's caches: a warm report costs its one P-384 signature.
 */
VT_API extern const struct vt_tee vt_tee_nvidia;

/*
 * load_file: file bytes as a user has them -> the evidence JSON of one
 * device.  Accepted: the evidence JSON (an object), a JSON array of exactly
 * one such object, {"device_evidence_list": [one object]} (several devices:
 * VT_E_USAGE naming how many), raw request || response (first bytes 0x11
 * 0xE0), or its hex or base64 text (whitespace allowed).  Raw forms give
 * {"evidence": base64} (no arch, no certificate).
 */
VT_API VT_MUST_USE vt_status vt_nvidia_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out,
						 struct vt_err *err);

/*
 * The devices hook on its own: {"device_evidence_list": [entry, ...]} ->
 * [{"class": "gpu"|"switch", "evidence": entry}, ...] in order, through
 * vt_device_list_split (veritee/evidence.h).  Refused, all at step parse:
 * not that shape, 0 entries, an entry that is not an object or lacks a
 * known "arch" (VT_E_PARSE); more than `max` (0 = VT_NVIDIA_MAX_DEVICES;
 * checked before any entry is read; VT_E_LIMIT); two entries with the same
 * "uuid" (VT_E_REJECTED).
 */
VT_API VT_MUST_USE vt_status vt_nvidia_devices(const json_t *evidence, size_t max, json_t **devices_out,
					       struct vt_err *err);

#endif
