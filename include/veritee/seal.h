/*
 * veritee/seal.h — sealed files: a file (or a directory as a POSIX tar
 * stream) encrypted in authenticated AES-256-GCM chunks under a fresh
 * 256-bit data key that is kept by one or K-of-N key brokers as a KBS
 * resource, or that only this machine's TEE can recover ("local" sealing:
 * a TPM object under a PCR policy, an SEV-SNP derived key, or the INSECURE
 * sim TEE).  The byte format is in docs/sealed-format.md.
 *
 * Pieces, one file each under src/seal/:
 *   format.c   header encode / parse (bounded reader; never trusts a length)
 *   stream.c   chunk encryption (push) and authenticated decryption (pull)
 *   shares.c   Shamir K-of-N over GF(256) with libgfshare; share commitments
 *   unseal.c   attest to every broker in parallel, keep K verified shares
 *   archive.c  directory <-> tar stream (libarchive), safe extraction
 *   output.c   temp file / temp directory in the target's directory, rename
 *   local.c    local key sources: dispatch, sim (HKDF over the sim platform key)
 *   local_tpm.c  TPM 2.0 sealed-data object under PolicyPCR (tpm2-tss ESAPI)
 *   local_snp.c  SEV-SNP SNP_GET_DERIVED_KEY (/dev/sev-guest) + HKDF
 *
 * Keys and shares are only ever held in struct vt_secret (wiped on free) and
 * never appear in an error record.
 */
#ifndef VERITEE_SEAL_H
#define VERITEE_SEAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veritee/client.h"
#include "veritee/err.h"
#include "veritee/util.h"

#define VT_SEAL_MAGIC "VTSEALED"       /* 8 bytes, no NUL on the wire */
#define VT_SEAL_VERSION 1
#define VT_SEAL_CIPHER_AES256GCM 1
#define VT_SEAL_PAYLOAD_FILE 1         /* the plaintext is the file's bytes */
#define VT_SEAL_PAYLOAD_TAR 2          /* the plaintext is a POSIX (pax) tar stream */
#define VT_SEAL_KEY_SIZE 32
#define VT_SEAL_SHARE_SIZE 32          /* a libgfshare share is as long as the secret */
#define VT_SEAL_TAG_SIZE 16
#define VT_SEAL_NONCE_PREFIX_SIZE 4
#define VT_SEAL_FILE_ID_SIZE 16
#define VT_SEAL_COMMIT_SIZE 32
#define VT_SEAL_MAX_BROKERS 16
#define VT_SEAL_MAX_URL 1024
#define VT_SEAL_MAX_RESOURCE 255
#define VT_SEAL_MAX_HEADER 65536
#define VT_SEAL_MIN_CHUNK 256u
#define VT_SEAL_MAX_CHUNK (16u << 20)
#define VT_SEAL_DEFAULT_CHUNK (1u << 20)
/* magic(8) version(2) header_size(4): enough to learn the header's size. */
#define VT_SEAL_PREFIX_SIZE 14
/* Header flags bit 0: the only entry is a local key source ("local:tpm",
 * "local:snp", "local:sim"; K = N = 1, empty resource), and a u16-length
 * local key blob follows the entries.  No other bit is defined. */
#define VT_SEAL_FLAG_LOCAL 0x0001u
#define VT_SEAL_MAX_LOCAL_BLOB 4096
#define VT_SEAL_SNP_BLOB_SIZE 32       /* the MSG_KEY_REQ fields, see local_snp.c */

/* One broker entry of the header. */
struct vt_seal_broker {
	char url[VT_SEAL_MAX_URL + 1];
	uint8_t index;                          /* Shamir x (1..255); 0 = the whole key (K = 1) */
	uint8_t commitment[VT_SEAL_COMMIT_SIZE]; /* vt_seal_commitment of this broker's share */
};

/* The parsed header: fixed-size fields, no pointers into the input. */
struct vt_seal_header {
	uint16_t version;
	uint8_t cipher;
	uint8_t payload;
	uint32_t chunk_size;                    /* plaintext bytes of every non-final chunk */
	uint8_t file_id[VT_SEAL_FILE_ID_SIZE];
	uint8_t nonce_prefix[VT_SEAL_NONCE_PREFIX_SIZE];
	uint8_t threshold;                      /* K */
	uint8_t count;                          /* N */
	char resource[VT_SEAL_MAX_RESOURCE + 1]; /* REPO/TYPE/TAG at every broker; "" when local */
	struct vt_seal_broker brokers[VT_SEAL_MAX_BROKERS];
	uint16_t flags;                         /* 0, or VT_SEAL_FLAG_LOCAL */
	uint16_t local_blob_size;               /* VT_SEAL_FLAG_LOCAL only; else 0 */
	uint8_t local_blob[VT_SEAL_MAX_LOCAL_BLOB];
};

/* ------------------------------------------------------------ format.c */

/*
 * Encode `h` into out[cap]; *out_size = the header's size (also written in
 * its header_size field).  Checks every field as the parser does
 * (VT_E_USAGE naming it); VT_E_LIMIT when cap is too small.
 */
VT_API VT_MUST_USE vt_status vt_seal_header_encode(const struct vt_seal_header *h, uint8_t *out, size_t cap,
						   size_t *out_size, struct vt_err *err);

/*
 * The header's declared size from the first VT_SEAL_PREFIX_SIZE bytes
 * (magic, version, size), checked against the limits: lets a reader learn
 * how many bytes to read before vt_seal_header_parse.
 */
VT_API VT_MUST_USE vt_status vt_seal_header_size(const uint8_t *buf, size_t size, size_t *header_size,
						 struct vt_err *err);

/*
 * Parse a header from buf[size] (untrusted; buf may continue with chunks):
 * *out is filled only on success, *header_size = the bytes it occupies.
 * Errors: VT_E_PARSE, step parse, field "header.<name>".  The header is
 * authenticated only later, as associated data of every chunk.  A local
 * header's blob is checked for its size only here; its contents by
 * vt_unseal_local_key.
 */
VT_API VT_MUST_USE vt_status vt_seal_header_parse(const uint8_t *buf, size_t size, struct vt_seal_header *out,
						  size_t *header_size, struct vt_err *err);

/* ------------------------------------------------------------ shares.c */

/*
 * SHA-256("veritee/seal/share/v1" || file_id || index || share): the header
 * holds one per broker, so a wrong share is recognised before it is used.
 */
VT_API VT_MUST_USE vt_status vt_seal_commitment(const uint8_t file_id[VT_SEAL_FILE_ID_SIZE], uint8_t index,
						const struct vt_secret *share, uint8_t out[VT_SEAL_COMMIT_SIZE],
						struct vt_err *err);
/* Whether `share` is the one committed to by broker entry `b` (constant time). */
VT_API bool vt_seal_share_matches(const struct vt_seal_header *h, const struct vt_seal_broker *b,
				  const struct vt_secret *share);

/*
 * Split a 32-byte key K-of-N: k == 1 gives N copies of the key (index 0);
 * 2 <= k <= n <= VT_SEAL_MAX_BROKERS gives libgfshare shares with indices
 * 1..n.  indices[n] and shares[n] (each vt_secret_free) are filled.
 */
VT_API VT_MUST_USE vt_status vt_seal_split(const struct vt_secret *key, uint8_t k, uint8_t n, uint8_t *indices,
					   struct vt_secret **shares, struct vt_err *err);
/* Combine k shares with distinct indices (k == 1: index 0, the key itself). */
VT_API VT_MUST_USE vt_status vt_seal_combine(uint8_t k, const uint8_t *indices, struct vt_secret *const *shares,
					     struct vt_secret **key_out, struct vt_err *err);

/*
 * A new header and its key material: random file id and nonce prefix, a
 * fresh key (RAND_priv_bytes), its split over `urls` (n of them, threshold
 * k) and the commitments.  *key_out and shares[n] to vt_secret_free.
 */
VT_API VT_MUST_USE vt_status vt_seal_header_new(uint8_t payload, uint32_t chunk_size, const char *resource,
						const char *const *urls, size_t n, uint8_t k,
						struct vt_seal_header *h, struct vt_secret **key_out,
						struct vt_secret **shares, struct vt_err *err);

/* ------------------------------------------------------------ stream.c */

/*
 * Encryption, push style.  vt_seal_enc_new writes the header bytes to
 * out_fd; vt_seal_enc_write buffers at most one chunk and writes each full
 * chunk as it fills; vt_seal_enc_finish writes the final chunk (fewer than
 * chunk_size bytes, possibly none).  Memory: one chunk, whatever the size
 * of the input.  The key is copied (and wiped by vt_seal_enc_free).
 */
struct vt_seal_enc;
VT_API VT_MUST_USE vt_status vt_seal_enc_new(const struct vt_secret *key, const struct vt_seal_header *h,
					     const uint8_t *header, size_t header_size, int out_fd,
					     struct vt_seal_enc **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_seal_enc_write(struct vt_seal_enc *e, const void *p, size_t n, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_seal_enc_finish(struct vt_seal_enc *e, struct vt_err *err);
VT_API void vt_seal_enc_free(struct vt_seal_enc *e); /* NULL ok */

/*
 * Decryption, pull style, from in_fd positioned just after the header.
 * Each vt_seal_dec_next reads one chunk record and returns its plaintext
 * only once its tag verified (a view valid until the next call); *done is
 * set with the final chunk.  Errors (VT_E_REJECTED, step signature, field
 * "chunk[i]" / "chunks"): a chunk that does not authenticate (modified,
 * reordered, truncated or extended file, or a wrong key), a missing final
 * chunk, bytes after it.  Memory: two chunk buffers.
 */
struct vt_seal_dec;
VT_API VT_MUST_USE vt_status vt_seal_dec_new(const struct vt_secret *key, const struct vt_seal_header *h,
					     const uint8_t *header, size_t header_size, int in_fd,
					     struct vt_seal_dec **out, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_seal_dec_next(struct vt_seal_dec *d, const uint8_t **pt, size_t *pt_size, bool *done,
					      struct vt_err *err);
VT_API uint64_t vt_seal_dec_bytes_read(const struct vt_seal_dec *d); /* ciphertext bytes consumed */
VT_API void vt_seal_dec_free(struct vt_seal_dec *d);                  /* NULL ok; wipes */

/* Write all of p[n] to fd (EINTR retried); VT_E_IO naming `what`. */
VT_API VT_MUST_USE vt_status vt_seal_write_all(int fd, const void *p, size_t n, const char *what, struct vt_err *err);
/* Read up to n bytes (short only at end of file); *got = bytes read. */
VT_API VT_MUST_USE vt_status vt_seal_read_full(int fd, void *p, size_t n, size_t *got, const char *what,
					       struct vt_err *err);

/* ------------------------------------------------------------ unseal.c */

/*
 * Fetch one broker's share (the resource `resource` at `url`).  The default
 * runs a KBS round with vt_client_get_resource.  On refusal fill `refusal`.
 * Called from worker threads: it must be thread-safe, and `ctx` must stay
 * valid until vt_unseal_pending() is 0.
 */
typedef vt_status (*vt_seal_fetch_fn)(void *ctx, const struct vt_client_opts *client, const char *url,
				      const char *resource, struct vt_secret **share_out,
				      struct vt_client_refusal *refusal, struct vt_err *err);

struct vt_unseal_opts {
	const struct vt_client_opts *client;  /* TEE, attester options, cacert; url ignored. Copied. */
	vt_seal_fetch_fn fetch;               /* NULL: vt_client_get_resource */
	void *fetch_ctx;
	const volatile sig_atomic_t *cancel;  /* optional: stop waiting when it becomes non-zero */
	/* Hedging: K brokers are asked at once, one more whenever one of them
	 * fails, and all the others once K valid shares are hedge_ms late.
	 * 0 = VT_UNSEAL_HEDGE_MS; negative = ask every broker at once. */
	int hedge_ms;
};
#define VT_UNSEAL_HEDGE_MS 300

/* What happened at one broker (public text only, never share bytes). */
enum vt_seal_outcome { VT_SEAL_PENDING = 0, VT_SEAL_SHARE_OK, VT_SEAL_REFUSED, VT_SEAL_FAILED, VT_SEAL_WRONG_SHARE };
struct vt_seal_broker_result {
	enum vt_seal_outcome outcome;
	vt_status status;
	char message[4608];
};

/*
 * Attest to the brokers of `h` (one thread each; signals blocked in them;
 * K at once, more as hedge_ms above says), check each returned share against
 * its commitment, and as soon as K valid shares are in, combine them into
 * *key_out.  Brokers still working then are left to finish on their own
 * (their threads hold copies of everything they use and free it).
 * results[i] says what broker i did (PENDING: not answered when the key was
 * complete, or not asked).
 * Fewer than K valid shares: VT_E_POLICY when a broker refused by policy,
 * else VT_E_REJECTED when one refused or lied, else VT_E_IO; the detail
 * counts them.  Cancelled: VT_E_USAGE "cancelled".  A local header
 * (VT_SEAL_FLAG_LOCAL): VT_E_USAGE, see vt_unseal_local_key.
 */
VT_API VT_MUST_USE vt_status vt_unseal_key(const struct vt_seal_header *h, const struct vt_unseal_opts *o,
					   struct vt_secret **key_out,
					   struct vt_seal_broker_result results[VT_SEAL_MAX_BROKERS],
					   struct vt_err *err);
/* Broker fetches still running in this process (detached after the key was complete). */
VT_API unsigned vt_unseal_pending(void);

/* ------------------------------------------------------------ local.c */

/* Where a local file's key lives (the header's "local:NAME" entry). */
enum vt_seal_local {
	VT_SEAL_LOCAL_NONE = 0, /* not local: brokers */
	VT_SEAL_LOCAL_TPM,      /* a TPM 2.0 sealed-data object under PolicyPCR */
	VT_SEAL_LOCAL_SNP,      /* an SEV-SNP derived key (SNP_GET_DERIVED_KEY) */
	VT_SEAL_LOCAL_SIM,      /* INSECURE: HKDF over the sim platform key */
};
/* "tpm", "snp", "sim" (NULL for NONE / unknown). */
VT_API const char *vt_seal_local_name(enum vt_seal_local kind);
/* The kind of "tpm" / "snp" / "sim" (NONE otherwise). */
VT_API enum vt_seal_local vt_seal_local_from_name(const char *name);
/* The kind of a broker URL "local:tpm" / "local:snp" / "local:sim" (NONE otherwise). */
VT_API enum vt_seal_local vt_seal_local_from_url(const char *url, size_t url_size);
/* The local key source a parsed header names; NONE for a broker header. */
VT_API enum vt_seal_local vt_seal_header_local(const struct vt_seal_header *h);

/* SEV-SNP GUEST_FIELD_SELECT bits (SNP ABI MSG_KEY_REQ): what the firmware
 * mixes into the derived key besides the chip's VCEK root and the VMPL. */
#define VT_SEAL_SNP_FIELD_POLICY (1u << 0)
#define VT_SEAL_SNP_FIELD_IMAGE_ID (1u << 1)
#define VT_SEAL_SNP_FIELD_FAMILY_ID (1u << 2)
#define VT_SEAL_SNP_FIELD_MEASUREMENT (1u << 3)
#define VT_SEAL_SNP_FIELD_GUEST_SVN (1u << 4)
#define VT_SEAL_SNP_FIELD_TCB_VERSION (1u << 5)
#define VT_SEAL_SNP_FIELDS_ALL 0x3Fu
#define VT_SEAL_SNP_FIELDS_DEFAULT (VT_SEAL_SNP_FIELD_MEASUREMENT | VT_SEAL_SNP_FIELD_POLICY)

/*
 * The firmware's MSG_KEY_REQ (the kernel's struct snp_derived_key_req) as
 * the local key blob of a local:snp file stores it (32 bytes, docs).
 */
struct vt_seal_snp_key_req {
	uint32_t root_key_select;    /* 0: the chip's VCEK root (only value used) */
	uint64_t guest_field_select; /* VT_SEAL_SNP_FIELD_* */
	uint32_t vmpl;               /* 0..3 */
	uint32_t guest_svn;          /* mixed in with VT_SEAL_SNP_FIELD_GUEST_SVN; else 0 */
	uint64_t tcb_version;        /* mixed in with VT_SEAL_SNP_FIELD_TCB_VERSION; else 0 */
};

/*
 * Ask the firmware for the 32-byte derived key of `req`.  The default is
 * the SNP_GET_DERIVED_KEY ioctl on /dev/sev-guest; tests pass a fake.
 */
typedef vt_status (*vt_seal_snp_derive_fn)(void *ctx, const struct vt_seal_snp_key_req *req,
					   uint8_t key[VT_SEAL_KEY_SIZE], struct vt_err *err);

/* What sealing to, or unsealing from, a local key source needs.  Zero
 * members take their defaults.  Unseal takes the kind and the kind's
 * parameters (PCRs, SNP fields, VMPL) from the header, not from here. */
struct vt_seal_local_opts {
	enum vt_seal_local kind;     /* seal: where the key goes */
	/* tpm */
	const char *tpm_tcti;        /* NULL: $VERITEE_TPM_TCTI, else device:/dev/tpmrm0 */
	uint32_t tpm_pcrs;           /* seal: bit i = PCR i (0..23) of the SHA-256 bank; at least one */
	/* snp */
	uint64_t snp_fields;         /* seal: VT_SEAL_SNP_FIELD_*; 0 = VT_SEAL_SNP_FIELDS_DEFAULT */
	uint32_t snp_vmpl;           /* seal: 0..3 */
	const char *snp_dev;         /* NULL: /dev/sev-guest */
	vt_seal_snp_derive_fn snp_derive; /* NULL: the ioctl on snp_dev */
	void *snp_derive_ctx;
	/* seal with GUEST_SVN or TCB_VERSION selected: the values to mix in.
	 * false: taken from a fresh report (guest_svn, committed_tcb). */
	bool snp_have_current;
	uint32_t snp_guest_svn;
	uint64_t snp_tcb_version;
	/* sim (INSECURE) */
	const char *sim_dir;         /* NULL: vt_sim_default_dir() */
	uint8_t sim_measurement[48]; /* the workload's measurement (vt_sim_attest_opts_default gives the demo one) */
	uint32_t sim_svn;
};

/*
 * A new local header and its key.  tpm: a fresh RAND_priv_bytes key sealed
 * in the TPM under PolicyPCR over o->tpm_pcrs (their current values).
 * snp: HKDF-SHA-256 over the firmware's derived key.  sim: HKDF-SHA-256
 * over the sim platform key (made when missing).  Fills *h (flags, the
 * local:NAME entry with the key's commitment, the blob) and *key_out
 * (vt_secret_free).  Errors: VT_E_USAGE (bad options, no such TEE here),
 * VT_E_IO (TPM or device unreachable), VT_E_CRYPTO.
 */
VT_API VT_MUST_USE vt_status vt_seal_local_header_new(uint8_t payload, uint32_t chunk_size,
						      const struct vt_seal_local_opts *o, struct vt_seal_header *h,
						      struct vt_secret **key_out, struct vt_err *err);

/*
 * Recover the key of a local header from this machine's TEE and check it
 * against the entry's commitment.  Refusals are VT_E_REJECTED with a detail
 * that says why: "PCR 11 changed since sealing (policy check failed)",
 * "sealed by a different TPM", "this workload's sealing key differs
 * (measurement ...)".  No such TEE here: VT_E_USAGE; unreachable: VT_E_IO.
 */
VT_API VT_MUST_USE vt_status vt_unseal_local_key(const struct vt_seal_header *h, const struct vt_seal_local_opts *o,
						 struct vt_secret **key_out, struct vt_err *err);

/* "7,11" -> bits 7 and 11; each 0..23, at least one, no repeats. */
VT_API VT_MUST_USE vt_status vt_seal_pcrs_parse(const char *list, uint32_t *mask, struct vt_err *err);
/* "7,11" from a mask, into buf[size]. */
VT_API void vt_seal_pcrs_format(uint32_t mask, char *buf, size_t size);
/* "measurement,policy" (names: policy image-id family-id measurement
 * guest-svn tcb) -> VT_SEAL_SNP_FIELD_* bits; at least one. */
VT_API VT_MUST_USE vt_status vt_seal_snp_fields_parse(const char *list, uint64_t *fields, struct vt_err *err);
VT_API void vt_seal_snp_fields_format(uint64_t fields, char *buf, size_t size);

/* The local:snp blob <-> request.  Parse checks every rule of the docs. */
VT_API void vt_seal_snp_blob_encode(const struct vt_seal_snp_key_req *req, uint8_t out[VT_SEAL_SNP_BLOB_SIZE]);
VT_API VT_MUST_USE vt_status vt_seal_snp_blob_parse(const uint8_t *blob, size_t size, struct vt_seal_snp_key_req *req,
						    struct vt_err *err);
/*
 * The data key of a local:snp file from the firmware's 32-byte derived key:
 * HKDF-SHA-256(ikm = derived, salt = file_id, info = "veritee/seal/snp/v1"
 * || blob).  *key_out to vt_secret_free.
 */
VT_API VT_MUST_USE vt_status vt_seal_snp_data_key(const uint8_t derived[VT_SEAL_KEY_SIZE],
						  const uint8_t file_id[VT_SEAL_FILE_ID_SIZE],
						  const uint8_t blob[VT_SEAL_SNP_BLOB_SIZE], struct vt_secret **key_out,
						  struct vt_err *err);

/* ------------------------------------------------------------ archive.c */

/*
 * Archive directory `dir` as a POSIX (pax) tar stream pushed into `e`:
 * regular files, directories and symbolic links (stored as links, not
 * followed); sockets, devices and FIFOs are refused.  Names are relative
 * to `dir`.  Streams file by file (bounded memory).
 */
VT_API VT_MUST_USE vt_status vt_seal_archive_dir(const char *dir, struct vt_seal_enc *e, struct vt_err *err);

/*
 * Extract the tar stream that `d` decrypts into directory `into` (existing,
 * empty: the caller's temp directory).  Refuses absolute names, ".."
 * components, symbolic links whose target leaves `into`, hard links,
 * devices, FIFOs and sockets (VT_E_REJECTED naming the entry), and never
 * writes through a symbolic link.  Reads every chunk, so on VT_OK the whole
 * sealed file authenticated.  `progress` (optional) is called per chunk.
 */
VT_API VT_MUST_USE vt_status vt_seal_extract(struct vt_seal_dec *d, const char *into,
					     void (*progress)(void *ctx, uint64_t bytes), void *progress_ctx,
					     const volatile sig_atomic_t *cancel, struct vt_err *err);
/* Whether a tar member name is safe to create under a directory (relative,
 * no "..", not empty).  Exposed for tests. */
VT_API bool vt_seal_name_safe(const char *name);
/* Whether symbolic link `name` -> `target` stays inside the directory. */
VT_API bool vt_seal_link_safe(const char *name, const char *target);

/* ------------------------------------------------------------ output.c */

/*
 * The output, never visible under its final name before it is complete: a
 * temp file (O_EXCL, 0600) or a temp directory (0700) in the same
 * directory as `path`, renamed over `path` by vt_seal_out_commit (after
 * fsync).  vt_seal_out_abort removes whatever was created.  `temp` is the
 * temp path, so a signal handler can unlink(2) it.
 */
struct vt_seal_out {
	char path[4096];
	char temp[4096];
	int fd;   /* file: open for writing; directory: -1 */
	bool dir;
};
VT_API VT_MUST_USE vt_status vt_seal_out_open(struct vt_seal_out *o, const char *path, bool dir, struct vt_err *err);
VT_API VT_MUST_USE vt_status vt_seal_out_commit(struct vt_seal_out *o, struct vt_err *err);
VT_API void vt_seal_out_abort(struct vt_seal_out *o);

#endif
