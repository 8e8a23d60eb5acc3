/*
 * Between the files of src/evidence/nvidia/ only (prefix nvx_).
 *   root.c    the two pinned NVIDIA roots
 *   spdm.c    SPDM GET_MEASUREMENTS request/response parser (no crypto)
 *   certs.c   certificate chains as sent (PEM or DER), the device chain
 *             check with its cache, the leaf's FWID
 *   rim.c     RIMs: XML parse, XML signature (xmlsec1), chain, comparison
 *   claims.c  opaque fields and claims
 *   tee.c     evidence JSON, verify, devices, load_file, state, descriptor
 */
#ifndef VT_EVIDENCE_NVIDIA_INTERNAL_H
#define VT_EVIDENCE_NVIDIA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/nvidia.h"

struct vt_cache_set;

/* SHA-256 fingerprint equals a pin given as 64 hex digits. */
bool nvx_fingerprint_is(const uint8_t fp[32], const char *pin_hex);

enum nvx_arch { NVX_ARCH_NONE = 0, NVX_ARCH_HOPPER, NVX_ARCH_BLACKWELL, NVX_ARCH_LS10 };

/* "HOPPER"/"Hopper"/..., case-insensitive; NVX_ARCH_NONE when unknown. */
enum nvx_arch nvx_arch_parse(const char *s);
const char *nvx_arch_name(enum nvx_arch a);   /* Trustee's: "Hopper", "Blackwell", "LS10" */
const char *nvx_arch_class(enum nvx_arch a);  /* "gpu" / "switch" */

/* A chain as the device sent it: leaf first, each certificate strict DER. */
struct nvx_chain {
	size_t count;
	uint8_t *der[VT_NVIDIA_MAX_CERTS];
	size_t der_size[VT_NVIDIA_MAX_CERTS];
	X509 *x[VT_NVIDIA_MAX_CERTS];
};

/* PEM (one or more CERTIFICATE blocks) or concatenated DER, at most
 * VT_NVIDIA_MAX_CHAIN bytes and VT_NVIDIA_MAX_CERTS certificates; parsed
 * certificates come from / go to `caches` (may be NULL).  VT_E_PARSE /
 * VT_E_LIMIT, step parse, field `field`. */
vt_status nvx_chain_parse(struct vt_cache_set *caches, const uint8_t *p, size_t n, const char *field,
			  struct nvx_chain *out, struct vt_err *err);
void nvx_chain_free(struct nvx_chain *c);

/* The device chain rule (veritee/nvidia.h) at `now`, cached in `caches`. */
vt_status nvx_device_chain_check(struct vt_cache_set *caches, const struct nvx_chain *c, int64_t now,
				 struct vt_err *err);

/* Verify `c` (leaf first, the last replaced by `root`, whose SHA-256 it
 * must have) at `now`; fields "<field>[i]".  Only c->x and c->count are
 * read. */
vt_status nvx_chain_verify(const struct nvx_chain *c, X509 *root, const char *root_pin, int64_t now,
			   const char *field, struct vt_err *err);

/* The model prefix of a certificate's subject CN ("GH100 A01 GSP FMC LF" ->
 * arch Hopper; "GB..." Blackwell; "LS_10..."/"LS10..." LS10), NONE else. */
enum nvx_arch nvx_arch_of_cert(X509 *cert);
/* The subject CN into buf ("" when absent). */
void nvx_cert_cn(X509 *cert, char *buf, size_t n);

/* Claims of a verified report (config, measurements, ...).  arch decides
 * how VBIOS_VERSION reads.  Fails (step parse) on malformed known fields. */
vt_status nvx_report_claims(const struct vt_nvidia_report *r, enum nvx_arch arch, json_t *claims,
			    struct vt_err *err);
/* The device's driver and VBIOS versions as in claims (lowercase), into buffers ("" when absent). */
vt_status nvx_versions(const struct vt_nvidia_report *r, enum nvx_arch arch, char *driver, size_t dn, char *vbios,
		       size_t vn, struct vt_err *err);

/* vt_nvidia_rim_check_chain with successes cached in `caches` (keyed by
 * the RIM file's SHA-256). */
vt_status nvx_rim_chain_cached(struct vt_cache_set *caches, const struct vt_nvidia_rim *rim, int64_t now,
			       struct vt_err *err);

/* Process-wide xmlsec1/libxml2 initialisation (once); false when it failed. */
bool nvx_xmlsec_ready(struct vt_err *err);

#endif
