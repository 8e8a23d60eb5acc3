/*
 * local:snp sealed files: the data key is HKDF-SHA-256 over a key the
 * SEV-SNP firmware derives for this guest (SNP ABI MSG_KEY_REQ, the
 * /dev/sev-guest SNP_GET_DERIVED_KEY ioctl) from the chip's VCEK root, the
 * VMPL and the guest fields the file selects (measurement, policy, ...).
 * The same guest in the same state on the same chip gets the same key; any
 * change to a selected field gives another key, refused by the commitment.
 *
 * Only a real SEV-SNP guest exercises the ioctl.  Everything around it
 * (the blob, the request, the HKDF) is reachable with a fake `snp_derive`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#if __has_include(<linux/sev-guest.h>)
#include <linux/sev-guest.h>
#define HAVE_SEV_GUEST_H 1
#else
#define HAVE_SEV_GUEST_H 0
#endif

#include "seal/local.h"
#include "veritee/seal.h"
#include "veritee/snp.h"

#define DEFAULT_SEV_GUEST_DEV "/dev/sev-guest"
#define KEY_RSP_KEY_OFFSET 0x20u /* MSG_KEY_RSP: status, 28 reserved bytes, the key */

static const char SNP_LABEL[] = "veritee/seal/snp/v1"; /* 19 bytes, no NUL */

/* ------------------------------------------------------------ blob */

/* MSG_KEY_REQ without its reserved tail, little-endian, as the kernel's
 * struct snp_derived_key_req lays it out. */
void vt_seal_snp_blob_encode(const struct vt_seal_snp_key_req *req, uint8_t out[VT_SEAL_SNP_BLOB_SIZE])
{
	vt_put_le(out, req->root_key_select, 4);
	vt_put_le(out + 4, 0, 4);
	vt_put_le(out + 8, req->guest_field_select, 8);
	vt_put_le(out + 16, req->vmpl, 4);
	vt_put_le(out + 20, req->guest_svn, 4);
	vt_put_le(out + 24, req->tcb_version, 8);
}

vt_status vt_seal_snp_blob_parse(const uint8_t *blob, size_t size, struct vt_seal_snp_key_req *out,
				 struct vt_err *err)
{
	struct vt_reader r;
	struct vt_seal_snp_key_req q;
	uint32_t rsvd;
	vt_status rc;
	vt_reader_init(&r, blob, size);
	VT_GUARD(vt_reader_u32le(&r, &q.root_key_select, "local_blob.root_key_select", err));
	VT_GUARD(vt_reader_u32le(&r, &rsvd, "local_blob.reserved", err));
	VT_GUARD(vt_reader_u64le(&r, &q.guest_field_select, "local_blob.guest_field_select", err));
	VT_GUARD(vt_reader_u32le(&r, &q.vmpl, "local_blob.vmpl", err));
	VT_GUARD(vt_reader_u32le(&r, &q.guest_svn, "local_blob.guest_svn", err));
	VT_GUARD(vt_reader_u64le(&r, &q.tcb_version, "local_blob.tcb_version", err));
	VT_GUARD(vt_reader_expect_end(&r, "local_blob", err));
	if (q.root_key_select != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.root_key_select",
			       "root key %u: only 0 (the chip's VCEK root) is used", q.root_key_select);
	if (rsvd != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.reserved", "must be zero");
	if (q.guest_field_select == 0 || (q.guest_field_select & ~(uint64_t)VT_SEAL_SNP_FIELDS_ALL) != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.guest_field_select",
			       "field select 0x%llx: want bits 0..5, at least one", (unsigned long long)q.guest_field_select);
	if (q.vmpl > 3)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.vmpl", "VMPL %u is not 0..3", q.vmpl);
	if (q.guest_svn != 0 && !(q.guest_field_select & VT_SEAL_SNP_FIELD_GUEST_SVN))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.guest_svn", "set, but not selected");
	if (q.tcb_version != 0 && !(q.guest_field_select & VT_SEAL_SNP_FIELD_TCB_VERSION))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "local_blob.tcb_version", "set, but not selected");
	*out = q;
out:
	return rc;
}

vt_status vt_seal_snp_data_key(const uint8_t derived[VT_SEAL_KEY_SIZE], const uint8_t file_id[VT_SEAL_FILE_ID_SIZE],
			       const uint8_t blob[VT_SEAL_SNP_BLOB_SIZE], struct vt_secret **key_out, struct vt_err *err)
{
	uint8_t info[sizeof(SNP_LABEL) - 1 + VT_SEAL_SNP_BLOB_SIZE];
	memcpy(info, SNP_LABEL, sizeof(SNP_LABEL) - 1);
	memcpy(info + sizeof(SNP_LABEL) - 1, blob, VT_SEAL_SNP_BLOB_SIZE);
	return vt_seal_hkdf(derived, VT_SEAL_KEY_SIZE, file_id, VT_SEAL_FILE_ID_SIZE, info, sizeof(info), key_out, err);
}

/* ------------------------------------------------------------ the ioctl */

static vt_status no_device(const char *dev, struct vt_err *err)
{
	return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp",
		       "--local snp needs an SEV-SNP guest: %s is absent on this machine (the firmware's derived keys "
		       "are reached only through it)",
		       dev);
}

#if HAVE_SEV_GUEST_H
_Static_assert(sizeof(struct snp_derived_key_req) == 32, "snp_derived_key_req: the MSG_KEY_REQ layout");
_Static_assert(sizeof(((struct snp_derived_key_resp *)0)->data) >= KEY_RSP_KEY_OFFSET + VT_SEAL_KEY_SIZE,
	       "snp_derived_key_resp holds MSG_KEY_RSP");

static const char *fw_status_name(uint32_t s)
{
	switch (s) {
	case 0x16: return " (invalid parameters: a VMPL below this guest's, or a guest SVN / TCB above the current)";
	case 0x27: return " (invalid key)";
	default: return "";
	}
}

/* SNP_GET_DERIVED_KEY on `dev`. */
static vt_status sev_guest_derive(const char *dev, const struct vt_seal_snp_key_req *q, uint8_t key[VT_SEAL_KEY_SIZE],
				  struct vt_err *err)
{
	struct snp_derived_key_req req;
	struct snp_derived_key_resp resp;
	struct snp_guest_request_ioctl g;
	struct vt_reader r;
	uint32_t status = 0;
	vt_status rc;
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			return no_device(dev, err);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "snp", "cannot open %s: %s", dev, strerror(e));
	}
	memset(&req, 0, sizeof(req));
	req.root_key_select = q->root_key_select;
	req.guest_field_select = q->guest_field_select;
	req.vmpl = q->vmpl;
	req.guest_svn = q->guest_svn;
	req.tcb_version = q->tcb_version;
	for (;;) {
		memset(&resp, 0, sizeof(resp));
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.req_data = (uint64_t)(uintptr_t)&req;
		g.resp_data = (uint64_t)(uintptr_t)&resp;
		if (ioctl(fd, SNP_GET_DERIVED_KEY, &g) == 0)
			break;
		if (errno == EINTR)
			continue;
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "snp", "SNP_GET_DERIVED_KEY on %s failed: %s (fw_error 0x%x%s, vmm_error 0x%x)",
			     dev, strerror(errno), g.fw_error, fw_status_name(g.fw_error), g.vmm_error);
		goto out;
	}
	vt_reader_init(&r, resp.data, sizeof(resp.data));
	VT_GUARD(vt_reader_u32le(&r, &status, "key_rsp.status", err));
	if (status != 0) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "key_rsp.status", "firmware status 0x%x%s from %s", status,
			     fw_status_name(status), dev);
		goto out;
	}
	VT_GUARD(vt_reader_skip(&r, KEY_RSP_KEY_OFFSET - 4, "key_rsp.reserved", err));
	VT_GUARD(vt_reader_copy(&r, key, VT_SEAL_KEY_SIZE, "key_rsp.derived_key", err));
out:
	vt_wipe(&resp, sizeof(resp));
	close(fd);
	return rc;
}
#else
static vt_status sev_guest_derive(const char *dev, const struct vt_seal_snp_key_req *q, uint8_t key[VT_SEAL_KEY_SIZE],
				  struct vt_err *err)
{
	(void)dev, (void)q, (void)key;
	return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp",
		       "--local snp: this build has no <linux/sev-guest.h> (Debian linux-libc-dev)");
}
#endif

/* ------------------------------------------------------------ seal / unseal */

static vt_status derive(const struct vt_seal_local_opts *o, const struct vt_seal_snp_key_req *q,
			uint8_t key[VT_SEAL_KEY_SIZE], struct vt_err *err)
{
	if (o->snp_derive)
		return o->snp_derive(o->snp_derive_ctx, q, key, err);
	return sev_guest_derive(o->snp_dev ? o->snp_dev : DEFAULT_SEV_GUEST_DEV, q, key, err);
}

/* This guest's guest SVN and committed TCB, from a fresh report: the
 * highest values the firmware lets a key request mix in. */
static vt_status current_versions(const struct vt_seal_local_opts *o, uint32_t vmpl, uint32_t *svn, uint64_t *tcb,
				  struct vt_err *err)
{
	if (o->snp_have_current) {
		*svn = o->snp_guest_svn;
		*tcb = o->snp_tcb_version;
		return VT_OK;
	}
	static const uint8_t zeros[64];
	struct vt_snp_attest_paths paths = {.sev_guest_dev = o->snp_dev};
	uint8_t *rep = NULL, *certs = NULL;
	size_t rep_size = 0, certs_size = 0;
	struct vt_snp_report sr;
	vt_status rc = vt_snp_attest_raw(&paths, zeros, vmpl, &rep, &rep_size, &certs, &certs_size, err);
	if (rc == VT_OK)
		rc = vt_snp_report_parse(rep, rep_size, true, &sr, err);
	if (rc == VT_OK) {
		*svn = sr.guest_svn;
		*tcb = sr.committed_tcb;
	}
	free(rep);
	free(certs);
	return rc;
}

vt_status vt_seal_snp_seal(const struct vt_seal_local_opts *o, struct vt_seal_header *h, struct vt_secret **key_out,
			   struct vt_err *err)
{
	vt_status rc;
	uint8_t derived[VT_SEAL_KEY_SIZE];
	struct vt_seal_snp_key_req q = {.guest_field_select = o->snp_fields ? o->snp_fields : VT_SEAL_SNP_FIELDS_DEFAULT,
					.vmpl = o->snp_vmpl};
	if ((q.guest_field_select & ~(uint64_t)VT_SEAL_SNP_FIELDS_ALL) != 0 || q.vmpl > 3)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp", "field select 0x%llx / VMPL %u: want bits 0..5, VMPL 0..3",
			       (unsigned long long)q.guest_field_select, q.vmpl);
	if (q.guest_field_select & (VT_SEAL_SNP_FIELD_GUEST_SVN | VT_SEAL_SNP_FIELD_TCB_VERSION)) {
		uint32_t svn = 0;
		uint64_t tcb = 0;
		if (!o->snp_derive && access(o->snp_dev ? o->snp_dev : DEFAULT_SEV_GUEST_DEV, F_OK) != 0) {
			/* Before the report, whose own error would speak of reports. */
			rc = no_device(o->snp_dev ? o->snp_dev : DEFAULT_SEV_GUEST_DEV, err);
			goto out;
		}
		VT_GUARD(current_versions(o, q.vmpl, &svn, &tcb, err));
		if (q.guest_field_select & VT_SEAL_SNP_FIELD_GUEST_SVN)
			q.guest_svn = svn;
		if (q.guest_field_select & VT_SEAL_SNP_FIELD_TCB_VERSION)
			q.tcb_version = tcb;
	}
	vt_seal_snp_blob_encode(&q, h->local_blob);
	h->local_blob_size = VT_SEAL_SNP_BLOB_SIZE;
	VT_GUARD(derive(o, &q, derived, err));
	rc = vt_seal_snp_data_key(derived, h->file_id, h->local_blob, key_out, err);
out:
	vt_wipe(derived, sizeof(derived));
	return rc;
}

vt_status vt_seal_snp_unseal(const struct vt_seal_header *h, const struct vt_seal_local_opts *o,
			     struct vt_secret **key_out, struct vt_err *err)
{
	vt_status rc;
	uint8_t derived[VT_SEAL_KEY_SIZE];
	struct vt_seal_snp_key_req q;
	VT_GUARD(vt_seal_snp_blob_parse(h->local_blob, h->local_blob_size, &q, err));
	VT_GUARD(derive(o, &q, derived, err));
	rc = vt_seal_snp_data_key(derived, h->file_id, h->local_blob, key_out, err);
out:
	vt_wipe(derived, sizeof(derived));
	return rc;
}

vt_status vt_seal_snp_mismatch(const struct vt_seal_header *h, struct vt_err *err)
{
	struct vt_seal_snp_key_req q = {0};
	char fields[96];
	(void)!vt_seal_snp_blob_parse(h->local_blob, h->local_blob_size, &q, NULL);
	vt_seal_snp_fields_format(q.guest_field_select, fields, sizeof(fields));
	return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "local.snp",
		       "this guest's sealing key differs (derived from %s at VMPL %u): the file was sealed by a guest "
		       "with another %s, at another VMPL, or on another chip",
		       fields, q.vmpl, fields);
}
