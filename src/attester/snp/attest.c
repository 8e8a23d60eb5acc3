/*
 * SEV-SNP attester: ask the firmware, from inside the guest, for a report
 * binding 64 bytes of report data, plus the host's certificate table.
 *
 *   1. configfs-tsm (Linux >= 6.7): a fresh entry under
 *      /sys/kernel/config/tsm/report, inblob in, outblob/auxblob out, the
 *      generation counter checked against concurrent writers.
 *   2. /dev/sev-guest ioctls, when the configfs-tsm root is absent:
 *      SNP_GET_EXT_REPORT, then SNP_GET_REPORT when that is unsupported.
 *
 * Everything the kernel hands back is untrusted and read through the
 * bounded reader.  Reports are public: nothing here is wiped.
 * Layouts: shared/docs/formats/sev-snp.md §5, §6; docs/attester-snp.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attester/snp/snp_attester.h"
#include "attester/tsm.h"
#include "veritee/crypto.h"
#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/snp.h"
#include "veritee/util.h"

#define DEFAULT_CONFIGFS_ROOT VT_TSM_DEFAULT_ROOT
#define DEFAULT_SEV_GUEST_DEV "/dev/sev-guest"

#define OUTBLOB_MAX ((size_t)16 * 1024)        /* a report is 1184 bytes */
#define AUXBLOB_MAX ((size_t)16 * 1024 * 1024) /* the kernel's largest blob */
#define REPORT_DATA_OFFSET 0x50u

static const char NO_INTERFACE[] = "no SEV-SNP guest interface (configfs-tsm or /dev/sev-guest) on this machine";

/* ------------------------------------------------------------ shared */

/* The report must carry the report data we asked for (a stale or foreign
 * report would otherwise go out under our name). */
static vt_status check_report(const uint8_t *rep, size_t size, const uint8_t report_data[64], const char *src,
			      struct vt_err *err)
{
	struct vt_reader r;
	const uint8_t *rd;
	vt_status rc;
	vt_reader_init(&r, rep, size);
	if (vt_reader_remaining(&r) < VT_SNP_REPORT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, src, "%zu bytes, a report is at least %u", size,
			       VT_SNP_REPORT_SIZE);
	rc = vt_reader_skip(&r, REPORT_DATA_OFFSET, src, err);
	if (rc == VT_OK)
		rc = vt_reader_view(&r, &rd, 64, src, err);
	if (rc != VT_OK)
		return rc;
	if (memcmp(rd, report_data, 64) != 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "report.report_data",
			       "the report from %s does not carry the requested report data", src);
	return VT_OK;
}

/* --------------------------------------------------------- configfs-tsm */

static vt_status configfs_attest(const char *root, const uint8_t report_data[64], uint32_t vmpl, struct vt_buf *rep,
				 struct vt_buf *aux, struct vt_err *err)
{
	struct vt_tsm_request req = {
		.root = root,
		.provider = "sev_guest",
		.what = "an SEV-SNP guest",
		.inblob = report_data,
		.inblob_size = 64,
		.privlevel = vmpl,
		.outblob_max = OUTBLOB_MAX,
		.auxblob_max = AUXBLOB_MAX,
	};
	vt_status rc = vt_tsm_report(&req, rep, aux, err);
	if (rc == VT_OK)
		rc = check_report(rep->data, rep->len, report_data, "outblob", err);
	if (rc != VT_OK) {
		vt_buf_free(rep);
		vt_buf_free(aux);
	}
	return rc;
}

/* ------------------------------------------------------ /dev/sev-guest
 *
 * Only real SEV-SNP hardware exercises this part.  The structures mirror
 * the kernel uapi <linux/sev-guest.h> (not included: it may be missing).
 */
struct sg_report_req {
	uint8_t user_data[64];
	uint32_t vmpl;
	uint8_t rsvd[28];
};

struct sg_report_resp {
	uint8_t data[4000];
};

struct sg_ext_report_req {
	struct sg_report_req data;
	uint64_t certs_address;
	uint32_t certs_len;
};

struct sg_guest_request_ioctl {
	uint8_t msg_version;
	uint64_t req_data;
	uint64_t resp_data;
	union {
		uint64_t exitinfo2;
		struct {
			uint32_t fw_error;
			uint32_t vmm_error;
		};
	};
};

_Static_assert(sizeof(struct sg_report_req) == 96, "snp_report_req layout");
_Static_assert(sizeof(struct sg_ext_report_req) == 112, "snp_ext_report_req layout");
_Static_assert(sizeof(struct sg_guest_request_ioctl) == 32, "snp_guest_request_ioctl layout");

#define SG_GET_REPORT 0xC0205300ul     /* _IOWR('S', 0x0, struct snp_guest_request_ioctl) */
#define SG_GET_EXT_REPORT 0xC0205302ul /* _IOWR('S', 0x2, struct snp_guest_request_ioctl) */
#define SG_VMM_ERR_INVALID_LEN 1u
#define SG_PAGE ((size_t)4096)
#define SG_RESP_REPORT_OFFSET 0x20u

static const char *fw_status_name(uint32_t s)
{
	switch (s) {
	case 0x16:
		return " (invalid parameters)";
	case 0x27:
		return " (invalid key)";
	default:
		return "";
	}
}

/* MSG_REPORT_RSP: status, report_size, 24 reserved bytes, the report. */
static vt_status parse_report_resp(const struct sg_report_resp *resp, const char *dev, struct vt_buf *rep,
				   struct vt_err *err)
{
	struct vt_reader r;
	uint32_t status, size;
	const uint8_t *p;
	vt_status rc;
	vt_reader_init(&r, resp->data, sizeof(resp->data));
	VT_GUARD(vt_reader_u32le(&r, &status, "report_rsp.status", err));
	VT_GUARD(vt_reader_u32le(&r, &size, "report_rsp.report_size", err));
	VT_GUARD(vt_reader_skip(&r, SG_RESP_REPORT_OFFSET - 8, "report_rsp.reserved", err));
	if (status != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "report_rsp.status", "firmware status 0x%x%s from %s", status,
			       fw_status_name(status), dev);
	if (size < VT_SNP_REPORT_SIZE)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "report_rsp.report_size",
			       "report of %u bytes from %s, at least %u expected", size, dev, VT_SNP_REPORT_SIZE);
	VT_GUARD(vt_reader_view(&r, &p, size, "report_rsp.report", err));
	VT_GUARD(vt_buf_append(rep, p, size, err));
out:
	return rc;
}

static vt_status ioctl_fail(const char *what, const char *dev, int e, const struct sg_guest_request_ioctl *g,
			    struct vt_err *err)
{
	return vt_fail(err, VT_E_IO, VT_STEP_IO, dev, "%s on %s failed: %s (fw_error 0x%x, vmm_error 0x%x)", what, dev,
		       strerror(e), g->fw_error, g->vmm_error);
}

/* The host's certificate table, or nothing when its first entry is the
 * terminator (the host has no certificates to give). */
static vt_status keep_certs(const uint8_t *certs, size_t len, struct vt_buf *aux, struct vt_err *err)
{
	struct vt_reader r;
	const uint8_t *first;
	vt_reader_init(&r, certs, len);
	vt_status rc = vt_reader_view(&r, &first, 24, "cert_table", err);
	if (rc != VT_OK)
		return rc;
	for (size_t i = 0; i < 24; i++)
		if (first[i] != 0)
			return vt_buf_append(aux, certs, len, err);
	return VT_OK;
}

static vt_status ioctl_attest(int fd, const char *dev, const uint8_t report_data[64], uint32_t vmpl,
			      struct vt_buf *rep, struct vt_buf *aux, struct vt_err *err)
{
	vt_status rc;
	struct sg_report_resp *resp = calloc(1, sizeof(*resp));
	size_t certs_len = 4 * SG_PAGE;
	uint8_t *certs = NULL;
	struct sg_ext_report_req ext;
	struct sg_guest_request_ioctl g;
	bool retried = false;

	if (resp == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	for (;;) {
		free(certs);
		certs = aligned_alloc(SG_PAGE, certs_len);
		if (certs == NULL) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
			goto out;
		}
		memset(certs, 0, certs_len);
		memset(resp, 0, sizeof(*resp));
		memset(&ext, 0, sizeof(ext));
		memcpy(ext.data.user_data, report_data, 64);
		ext.data.vmpl = vmpl;
		ext.certs_address = (uint64_t)(uintptr_t)certs;
		ext.certs_len = (uint32_t)certs_len;
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.req_data = (uint64_t)(uintptr_t)&ext;
		g.resp_data = (uint64_t)(uintptr_t)resp;
		if (ioctl(fd, SG_GET_EXT_REPORT, &g) == 0) {
			VT_GUARD(parse_report_resp(resp, dev, rep, err));
			VT_GUARD(keep_certs(certs, certs_len, aux, err));
			goto out;
		}
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EIO && g.vmm_error == SG_VMM_ERR_INVALID_LEN && !retried) {
			/* The kernel wrote back the size the host needs. */
			size_t need = ext.certs_len;
			if (need <= certs_len || need > AUXBLOB_MAX || need % SG_PAGE != 0) {
				rc = vt_fail(err, VT_E_IO, VT_STEP_IO, dev,
					     "SNP_GET_EXT_REPORT on %s asks for a certificate buffer of %zu bytes", dev,
					     need);
				goto out;
			}
			certs_len = need;
			retried = true;
			continue;
		}
		if (e == ENOTTY || e == EINVAL)
			break; /* no extended requests here: plain report */
		rc = ioctl_fail("SNP_GET_EXT_REPORT", dev, e, &g, err);
		goto out;
	}

	struct sg_report_req req;
	for (;;) {
		memset(&req, 0, sizeof(req));
		memcpy(req.user_data, report_data, 64);
		req.vmpl = vmpl;
		memset(resp, 0, sizeof(*resp));
		memset(&g, 0, sizeof(g));
		g.msg_version = 1;
		g.req_data = (uint64_t)(uintptr_t)&req;
		g.resp_data = (uint64_t)(uintptr_t)resp;
		if (ioctl(fd, SG_GET_REPORT, &g) == 0)
			break;
		if (errno == EINTR)
			continue;
		rc = ioctl_fail("SNP_GET_REPORT", dev, errno, &g, err);
		goto out;
	}
	rc = parse_report_resp(resp, dev, rep, err);
out:
	free(certs);
	free(resp);
	return rc;
}

static vt_status dev_attest(const char *dev, const uint8_t report_data[64], uint32_t vmpl, struct vt_buf *rep,
			    struct vt_buf *aux, struct vt_err *err)
{
	vt_buf_init(rep, OUTBLOB_MAX);
	vt_buf_init(aux, AUXBLOB_MAX);
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO || errno == ENOTDIR)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tee", "%s", NO_INTERFACE);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, dev, "cannot open %s: %s", dev, strerror(errno));
	}
	vt_status rc = ioctl_attest(fd, dev, report_data, vmpl, rep, aux, err);
	close(fd);
	if (rc == VT_OK)
		rc = check_report(rep->data, rep->len, report_data, dev, err);
	if (rc != VT_OK) {
		vt_buf_free(rep);
		vt_buf_free(aux);
	}
	return rc;
}

/* ------------------------------------------------------------ entry */

vt_status vt_snp_attest_raw(const struct vt_snp_attest_paths *paths, const uint8_t report_data[64], uint32_t vmpl,
			    uint8_t **report, size_t *report_size, uint8_t **certs, size_t *certs_size,
			    struct vt_err *err)
{
	if (report_data == NULL || report == NULL || report_size == NULL || certs == NULL || certs_size == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*report = NULL;
	*certs = NULL;
	*report_size = *certs_size = 0;
	if (vmpl > 3)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "vmpl", "VMPL %u is not 0..3", vmpl);
	const char *root = paths && paths->configfs_root ? paths->configfs_root : DEFAULT_CONFIGFS_ROOT;
	const char *dev = paths && paths->sev_guest_dev ? paths->sev_guest_dev : DEFAULT_SEV_GUEST_DEV;

	struct vt_buf rep, aux;
	vt_status rc;
	struct stat st;
	if (stat(root, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "configfs_root", "%s is not a directory", root);
		rc = configfs_attest(root, report_data, vmpl, &rep, &aux, err);
	} else if (errno == ENOENT || errno == ENOTDIR) {
		rc = dev_attest(dev, report_data, vmpl, &rep, &aux, err);
	} else {
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "configfs_root", "cannot stat %s: %s", root, strerror(errno));
	}
	if (rc != VT_OK)
		return rc;
	*report = rep.data;
	*report_size = rep.len;
	if (aux.len > 0) {
		*certs = aux.data;
		*certs_size = aux.len;
	} else {
		vt_buf_free(&aux);
	}
	return VT_OK;
}

/* ------------------------------------------------------------ evidence */

static const char *cert_type_name(vt_snp_cert_kind k)
{
	switch (k) {
	case VT_SNP_CERT_ARK:
		return "ARK";
	case VT_SNP_CERT_ASK:
		return "ASK";
	case VT_SNP_CERT_VCEK:
		return "VCEK";
	case VT_SNP_CERT_VLEK:
		return "VLEK";
	case VT_SNP_CERT_CRL:
		return "CRL";
	case VT_SNP_CERT_OTHER:
	default:
		return NULL;
	}
}

/* Trustee's cert_chain array from a certificate table; json_null() when
 * no entry is of a known kind.  NULL on allocation failure or bad table. */
static vt_status cert_chain_json(const uint8_t *table, size_t size, json_t **out, struct vt_err *err)
{
	struct vt_snp_cert_entry ent[VT_SNP_CERT_TABLE_MAX];
	size_t count = 0;
	vt_status rc = vt_snp_cert_table_parse(table, size, ent, &count, err);
	if (rc != VT_OK)
		return rc;
	json_t *arr = json_array();
	if (arr == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	for (size_t i = 0; i < count && i < VT_SNP_CERT_TABLE_MAX; i++) {
		const char *type = cert_type_name(ent[i].kind);
		if (type == NULL)
			continue;
		/* The parser checked offset + length against size; re-read the
		 * bytes through the reader all the same. */
		struct vt_reader r;
		const uint8_t *data;
		vt_reader_init(&r, table, size);
		rc = vt_reader_skip(&r, ent[i].offset, "cert_table.offset", err);
		if (rc == VT_OK)
			rc = vt_reader_view(&r, &data, ent[i].length, "cert_table.data", err);
		if (rc != VT_OK) {
			json_decref(arr);
			return rc;
		}
		json_t *bytes = json_array();
		bool ok = bytes != NULL;
		for (uint32_t j = 0; ok && j < ent[i].length; j++)
			ok = json_array_append_new(bytes, json_integer(data[j])) == 0;
		json_t *obj = ok ? json_pack("{s:s, s:o}", "cert_type", type, "data", bytes) : NULL;
		if (!ok)
			json_decref(bytes);
		if (obj == NULL || json_array_append_new(arr, obj) != 0) {
			json_decref(arr);
			return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		}
	}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		arr = json_null();
	}
	*out = arr;
	return VT_OK;
}

vt_status vt_snp_attest_evidence(const struct vt_snp_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err)
{
	vt_status rc;
	uint8_t *report = NULL, *certs = NULL;
	size_t report_size = 0, certs_size = 0;
	json_t *rep_json = NULL, *chain = NULL;

	if (evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	VT_GUARD(vt_snp_attest_raw(paths, report_data, 0, &report, &report_size, &certs, &certs_size, err));
	/* report_size >= VT_SNP_REPORT_SIZE: vt_snp_attest_raw checked it. */
	VT_GUARD(vt_snp_report_to_json(report, &rep_json, err));
	if (certs != NULL)
		VT_GUARD(cert_chain_json(certs, certs_size, &chain, err));
	else
		chain = json_null();
	json_t *ev = json_pack("{s:O, s:O}", "attestation_report", rep_json, "cert_chain", chain);
	if (ev == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	*evidence_out = ev;
	rc = VT_OK;
out:
	json_decref(rep_json);
	json_decref(chain);
	free(report);
	free(certs);
	return rc;
}

static vt_status snp_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	struct vt_snp_attest_paths paths = {.configfs_root = json_string_value(json_object_get(o, "snp_configfs"))};
	return vt_snp_attest_evidence(&paths, report_data, evidence_out, err);
}

static const struct vt_tee_option snp_attest_options[] = {
	{"snp_configfs", "DIR", true, "configfs-tsm report root (default /sys/kernel/config/tsm/report)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_snp = {
	.name = "snp",
	.summary = "SEV-SNP guest: configfs-tsm, else /dev/sev-guest",
	.options = snp_attest_options,
	.attest = snp_attest_json,
};
