/*
 * Private to src/evidence/snp: the certificate pool of one SNP verification
 * and where its certificates come from (evidence, --certs, cache, AMD KDS).
 * One file each:
 *   roots.c      the pinned AMD ARK/ASK/ASVK fingerprints, product and role
 *                names, and the classification of a certificate
 *   builtin.c    AMD's ARK/ASK/ASVK certificates, shipped (and pinned)
 *   pool.c       the pool: add (without duplicates), find, the VEK extensions
 *   pool_load.c  bytes, files and --certs into the pool (with the parse cache)
 *   tcb.c        report vs VEK TCB and identity consistency
 *   cache_dir.c  the --cache directory: read into the pool, write KDS answers
 *   kds.c        the AMD KDS client
 *
 * Every certificate in a pool is untrusted.  Classification only says what a
 * certificate claims to be (by its subject/issuer common names, and for an
 * ARK by the pinned SHA-256 of its DER); trust comes from the chain check in
 * verify.c against the pinned ARK of the report's product.
 */
#ifndef VT_SNP_SOURCES_H
#define VT_SNP_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "veritee/err.h"
#include "veritee/snp.h"

#define SNP_POOL_MAX 32
#define SNP_CRL_MAX 8
#define SNP_CERT_MAX_BYTES (64u * 1024u)   /* one certificate file / blob */
#define SNP_DIR_MAX_FILES 256

/* What a certificate claims to be. */
typedef enum snp_role {
	SNP_ROLE_OTHER = 0,
	SNP_ROLE_ARK,     /* self-signed; product set only when its SHA-256 is a pinned ARK */
	SNP_ROLE_ASK,     /* CN "SEV-<Product>", issuer "ARK-<Product>" */
	SNP_ROLE_ASVK,    /* CN "SEV-VLEK-<Product>", issuer "ARK-<Product>" */
	SNP_ROLE_VCEK,    /* CN "SEV-VCEK", product from issuer "SEV-<Product>" */
	SNP_ROLE_VLEK,    /* CN "SEV-VLEK", product from issuer "SEV-VLEK-<Product>" */
} snp_role;

struct snp_cert {
	X509 *x509;
	snp_role role;
	vt_snp_product product;
	const char *origin;   /* static: "evidence", "certs", "cache", "kds" */
	uint8_t fp[32];       /* SHA-256 of the DER (when has_fp) */
	bool has_fp;
};

struct snp_pool {
	struct snp_cert certs[SNP_POOL_MAX];
	size_t n;
	X509_CRL *crls[SNP_CRL_MAX];
	size_t ncrl;
	/* The verifier's caches (borrowed; NULL = none): parses, VEK extensions,
	 * operator files, chains and CRL signatures of this verification. */
	struct vt_cache_set *caches;
};

/* Pinned ARK SHA-256 (DER) per product; UNKNOWN when `fp` is not pinned. */
vt_snp_product snp_pinned_ark_product(const uint8_t fp[32]);
/* Pinned ASK / ASVK SHA-256 for a product (NULL for UNKNOWN). */
const uint8_t *snp_pinned_ask(vt_snp_product p);
const uint8_t *snp_pinned_asvk(vt_snp_product p);
/* "Milan" -> MILAN etc. (exact KDS spelling); UNKNOWN otherwise.  `len` bytes of `s`. */
vt_snp_product snp_product_from_name(const char *s, size_t len);
/* "SEV-VCEK", "ASK", ... for messages. */
const char *snp_role_name(snp_role r);
/* What `x` claims to be; `known_fp` (may be NULL) is the SHA-256 of its DER
 * when the caller has it (otherwise computed for a self-signed certificate). */
void snp_classify(X509 *x, const uint8_t *known_fp, snp_role *role, vt_snp_product *product);

/* AMD's shipped ARK and ASK (ASVK when `vlek`) of `product` (builtin.c),
 * checked against the pins, into the pool (origin "builtin"). */
vt_status snp_pool_add_builtin(struct snp_pool *pool, vt_snp_product product, bool vlek, struct vt_err *err);
/* The i-th shipped certificate (vt_snp_builtin_cert_at's order), parsed and
 * checked against its pin once per process: a new reference, NULL when it
 * fails its pin or i is past the end. */
X509 *snp_builtin_x509(size_t i);

/* Frees the certificates and CRLs; the pool is then empty (caches kept). */
void snp_pool_free(struct snp_pool *pool);
/* Classify and add (takes over the reference on success and failure; duplicates are dropped). */
vt_status snp_pool_add_x509(struct snp_pool *pool, X509 *x509, const char *origin, struct vt_err *err);
/* Add with a known fingerprint (may be NULL) and classification (from the
 * parse cache); takes over the reference like snp_pool_add_x509. */
vt_status snp_pool_add_known(struct snp_pool *pool, X509 *x509, const uint8_t *fp, snp_role role,
			      vt_snp_product product, const char *origin, struct vt_err *err);
/* Add a CRL (takes over the reference; duplicates are dropped).  VT_E_LIMIT
 * above SNP_CRL_MAX. */
vt_status snp_pool_add_crl(struct snp_pool *pool, X509_CRL *crl, struct vt_err *err);
/*
 * Add the certificates (and CRLs) in a blob: one DER certificate, one DER
 * CRL, or PEM text with any number of CERTIFICATE / X509 CRL blocks.
 * VT_E_PARSE (step parse, naming `field`) when nothing in it is usable.
 */
vt_status snp_pool_add_bytes(struct snp_pool *pool, const uint8_t *p, size_t n, const char *origin,
			     const char *field, struct vt_err *err);
/* snp_pool_add_bytes for bytes whose SHA-256 is already known (from the file cache). */
vt_status snp_pool_add_bytes_hashed(struct snp_pool *pool, const uint8_t *p, size_t n, const uint8_t sha256[32],
				    const char *origin, const char *field, struct vt_err *err);
/* Read a file (not through the file cache) and add what it holds.  When not
 * `must`, a file that cannot be read or parsed adds nothing and is not an
 * error (a full pool or running out of memory still is). */
vt_status snp_pool_add_file(struct snp_pool *pool, const char *path, const char *origin, bool must,
			     struct vt_err *err);
/* The certificate's SHA-256 fingerprint (from the pool, else computed); false on failure. */
bool snp_cert_fp(const struct snp_cert *c, uint8_t out[32]);
/* vt_snp_vek_ext_parse, cached in `caches` (may be NULL) per certificate fingerprint (successes only). */
vt_status snp_vek_ext_get(struct vt_cache_set *caches, const struct snp_cert *c, struct vt_snp_vek_ext *out,
			  struct vt_err *err);
/* A file (must hold certificates) or a directory (every regular file that
 * parses is taken, the rest ignored).  Errors: VT_E_IO step collateral. */
vt_status snp_pool_add_path(struct snp_pool *pool, const char *path, struct vt_err *err);

/* Find the best VEK for the report: the role the report's SIGNING_KEY names,
 * preferring one whose hwID and TCB extensions match; falls back to a VEK
 * of the other kind (the tcb step then explains).  -1 when none. */
int snp_pool_find_vek(const struct snp_pool *pool, const struct vt_snp_report *rep, vt_snp_product product,
		      bool *matches);
/* First certificate of `role` for `product`; -1 when none. */
int snp_pool_find(const struct snp_pool *pool, snp_role role, vt_snp_product product);

/*
 * TCB / identity consistency between the report and the VEK's AMD
 * extensions: SIGNING_KEY 0 needs a VCEK (hwID, no cspId), 1 a VLEK (cspId,
 * no hwID); VCEK hwID == CHIP_ID (Turin: the first 8 bytes); every SPL ==
 * REPORTED_TCB's component for the product.  VT_E_REJECTED step tcb naming
 * the component.
 */
vt_status snp_check_tcb(const struct vt_snp_report *rep, vt_snp_product product, const struct vt_snp_vek_ext *ext,
			bool vek_is_vlek, struct vt_err *err);

/* Bytes of the hwID a VCEK is named by: 8 on Turin, 64 before. */
size_t snp_hwid_size(vt_snp_product p);

/* Cache file paths (malloc'd; NULL when out of memory) — the VCEK's exposed
 * for tests; <cache>/amd/<Product>/<name> for the per-product files. */
char *snp_cache_vcek_path(const char *cache_dir, vt_snp_product p, const struct vt_snp_report *rep);
char *snp_cache_product_file(const char *cache_dir, vt_snp_product p, const char *name);
/* Write a KDS answer into the cache (creating directories, atomically).
 * Errors are step collateral. */
vt_status snp_cache_write(const char *path, const uint8_t *p, size_t n, struct vt_err *err);

/* Add what the cache holds for `product` (VCEK for the report's hwID and
 * REPORTED_TCB, chains, CRLs).  Missing files are not an error. */
vt_status snp_pool_add_cache(struct snp_pool *pool, const char *cache_dir, vt_snp_product product,
			     const struct vt_snp_report *rep, int64_t now, bool online, struct vt_err *err);

/* What the pool still lacks for this report. */
struct snp_needs {
	bool vcek, vlek, chain, crl;
};

/*
 * Fetch what `needs` lists from AMD KDS (src->kds_url, default
 * https://kdsintf.amd.com) and add it to the pool; write every fetched
 * object to src->cache_dir (when set) atomically.  Every request goes
 * through vt_fetch_get: src->gate (may be NULL) admits it, charging `client`
 * (may be NULL) once for the whole call; HTTP 429 is retried within the
 * fetch deadline; each attempt is capped by src->timeout_ms (0 = 10 s).
 * Failures are step collateral with the URL (VT_E_NOTFOUND for a 404, else
 * mostly VT_E_IO; gate refusals as in veritee/fetch.h).  A 404 on the CRL
 * is not an error.  A body that holds no usable certificate is a failure
 * the gate remembers.
 */
vt_status snp_kds_fetch(struct snp_pool *pool, const struct vt_snp_sources *src, const char *client,
			vt_snp_product product, const struct vt_snp_report *rep, bool vlek, const struct snp_needs *needs,
			struct vt_err *err);

#endif
