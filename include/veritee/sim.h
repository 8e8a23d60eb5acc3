/*
 * veritee/sim.h — the simulated TEE "sim".  INSECURE: its evidence is signed
 * by a local key on the same machine; it proves nothing about hardware.  It
 * exists so the whole trust path runs on a laptop, and is labelled insecure
 * wherever it appears (claims, EAR, broker config, CLI output).
 *
 * Report layout (256 bytes, little-endian integers, shaped like hardware
 * reports):
 *   off size field
 *     0    4 magic "VTSM"
 *     4    2 version (1)
 *     6    2 flags (bit 0: debug; other bits must be zero)
 *     8    4 svn
 *    12    4 reserved (zero)
 *    16   48 measurement
 *    64   64 report_data
 *   128   32 platform_id (SHA-256 of the platform key's SubjectPublicKeyInfo DER)
 *   160   96 signature: ECDSA P-384 over SHA-384 of bytes 0..159, r || s big-endian
 *
 * Version 2 (304 bytes) adds the init-data field, like SNP's HOST_DATA or
 * TDX's MRCONFIGID, so the KBS init-data binding runs with sim too:
 *   160   48 init_data (the init-data digest the workload launched with)
 *   208   96 signature over bytes 0..207
 * The attester writes version 2 only when given init-data; version 1
 * reports read as init_data = zeros.
 *
 * Evidence JSON (the KBS primary_evidence for tee "sim"):
 *   {"report": "<std base64 of the 256 bytes>",
 *    "platform_cert": "<std base64 of the platform certificate DER>"}
 */
#ifndef VERITEE_SIM_H
#define VERITEE_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/evidence.h"

#define VT_SIM_REPORT_SIZE 256
#define VT_SIM_SIGNED_SIZE 160
#define VT_SIM_VERSION 1
#define VT_SIM_VERSION_2 2
#define VT_SIM_REPORT_V2_SIZE 304
#define VT_SIM_V2_SIGNED_SIZE 208
#define VT_SIM_FLAG_DEBUG 0x0001u

struct vt_sim_report {
	uint16_t version;
	uint16_t flags;
	uint32_t svn;
	uint8_t measurement[48];
	uint8_t report_data[64];
	uint8_t platform_id[32];
	uint8_t init_data[48]; /* version 2; zeros in version 1 */
	uint8_t signature[96];
};

/* Report size and signed size of a version (0 for an unknown version). */
VT_API size_t vt_sim_report_size(uint16_t version);
VT_API size_t vt_sim_signed_size(uint16_t version);

/* Parse a version 1 (VT_SIM_REPORT_SIZE bytes) or 2 (VT_SIM_REPORT_V2_SIZE)
 * report through the bounded reader. */
VT_API VT_MUST_USE vt_status vt_sim_report_parse(const uint8_t *buf, size_t size, struct vt_sim_report *out,
						 struct vt_err *err);

/*
 * Inverse of vt_sim_report_parse: write the magic, the fields, a zero
 * reserved word and `r->signature` as-is into exactly VT_SIM_REPORT_SIZE
 * bytes.  Bytes 0..VT_SIM_SIGNED_SIZE-1 of `out` are what the signature covers.
 * Does not check `r->version` or `r->flags` (tests build malformed reports).
 */
VT_API void vt_sim_report_serialize(const struct vt_sim_report *r, uint8_t *out);

/* platform_id of a platform certificate: SHA-256 of its public key's
 * SubjectPublicKeyInfo DER (i2d_PUBKEY).  VT_E_CRYPTO on library failure. */
VT_API VT_MUST_USE vt_status vt_sim_platform_id(X509 *cert, uint8_t out[32], struct vt_err *err);

/*
 * Attester side.  `dir` holds the sim root and platform keys:
 *   sim-root.pem / sim-root.key (self-signed P-384 CA, 10 years),
 *   platform.pem / platform.key (P-384, signed by the root).
 * vt_sim_ensure_keys creates any that are missing (keys 0600, dir 0700).
 */
VT_API VT_MUST_USE vt_status vt_sim_ensure_keys(const char *dir, struct vt_err *err);

/*
 * File names inside the sim key directory.  When the root pair is (re)made,
 * the platform pair is made again under it.  First use is serialized between
 * processes by flock on "<dir>/.lock"; every file is written atomically.
 */
#define VT_SIM_ROOT_CERT_FILE "sim-root.pem"
#define VT_SIM_ROOT_KEY_FILE "sim-root.key"
#define VT_SIM_PLATFORM_CERT_FILE "platform.pem"
#define VT_SIM_PLATFORM_KEY_FILE "platform.key"

struct vt_sim_attest_opts {
	uint8_t measurement[48];
	uint32_t svn;
	bool debug;
	bool has_init_data;     /* write a version 2 report carrying init_data */
	uint8_t init_data[48];
};
/* Default options: measurement = SHA-384("veritee sim default workload"), svn 1, no debug. */
VT_API void vt_sim_attest_opts_default(struct vt_sim_attest_opts *opts);

/* Produce evidence JSON (new reference) for the given 64-byte report data. */
VT_API VT_MUST_USE vt_status vt_sim_attest(const char *dir, const struct vt_sim_attest_opts *opts,
					   const uint8_t report_data[64], json_t **evidence_out, struct vt_err *err);

/*
 * Verifier side: the registry entry (tee "sim").  Steps, in order:
 *   parse (evidence JSON, base64, report) -> chain (platform cert to
 *   ctx->sim_root_insecure at ctx->now; refused when that is NULL) ->
 *   signature (report) -> platform_id matches the cert key -> binding
 *   (report_data == binding padded with zeros to 64).
 * Claims: {"version":1,"svn":N,"debug":bool,"measurement":hex,
 *          "report_data":hex,"platform_id":hex,"insecure":true}
 */
VT_API extern const struct vt_tee vt_tee_sim;

/* Default sim key directory: $VERITEE_SIM_DIR, else $XDG_DATA_HOME/veritee/sim,
 * else $HOME/.local/share/veritee/sim.  Returns a malloc'd path. */
VT_API char *vt_sim_default_dir(void);

#endif
