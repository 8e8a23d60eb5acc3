/* configfs-tsm (Linux >= 6.7, /sys/kernel/config/tsm/report): the report
 * interface shared by the SEV-SNP and TDX attesters.  One request = one
 * fresh entry directory: check the provider, write inblob (and privlevel),
 * read outblob (and auxblob), check that the generation counter moved by
 * exactly our writes (else another process wrote to the entry), remove the
 * entry on every path.  Only a real guest kernel exercises the kernel side;
 * the tests emulate it (see docs/attester-snp.md). */
#ifndef VT_ATTESTER_TSM_H
#define VT_ATTESTER_TSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veritee/err.h"
#include "veritee/util.h"

#define VT_TSM_DEFAULT_ROOT "/sys/kernel/config/tsm/report"

struct vt_tsm_request {
	const char *root;          /* configfs-tsm report root */
	const char *provider;      /* the provider this TEE expects: "sev_guest", "tdx_guest" */
	const char *what;          /* for messages: "an SEV-SNP guest", "a TDX guest" */
	const uint8_t *inblob;     /* the report data */
	size_t inblob_size;
	uint32_t privlevel;        /* written to privlevel when non-zero (SNP VMPL) */
	size_t outblob_max;
	size_t auxblob_max;        /* 0: auxblob is not read */
};

/* Run one request.  *outblob (and *auxblob when auxblob_max > 0; an absent
 * auxblob reads as empty) are initialized here and freed on failure. */
vt_status vt_tsm_report(const struct vt_tsm_request *req, struct vt_buf *outblob, struct vt_buf *auxblob,
			struct vt_err *err);

/* Read a whole file of at most `max` bytes into *out (initialized here).
 * With `absent` non-NULL a missing file is not an error: *absent is set
 * and *out is empty. */
vt_status vt_tsm_read_file(const char *path, size_t max, bool *absent, struct vt_buf *out, struct vt_err *err);

/* dir + "/" + name into out, or an error when it does not fit. */
/* The configfs-tsm report root must be a directory: VT_E_USAGE (field
 * "tee", "<no_interface> (<root> is missing)") when it is absent, so the
 * user learns this machine has no such TEE. */
vt_status vt_tsm_check_root(const char *root, const char *no_interface, struct vt_err *err);

vt_status vt_tsm_join(const char *dir, const char *name, char out[], size_t out_size, struct vt_err *err);

#endif
