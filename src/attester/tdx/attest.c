/*
 * TDX attester: ask for a TD quote binding 64 bytes of report data, from
 * inside the guest, through configfs-tsm (Linux >= 6.7): a fresh entry under
 * /sys/kernel/config/tsm/report, provider "tdx_guest", inblob in, outblob
 * (the quote) out, the generation counter checked against concurrent
 * writers, the entry removed on every path.  The CC event log (ACPI CCEL
 * data) goes along when the firmware published one.
 *
 * The legacy /dev/tdx_guest ioctl only returns the local TDREPORT (turning
 * it into a quote needs the host's quote service), so it is not used.
 * Everything the kernel hands back is untrusted and read through the
 * bounded reader.  Quotes are public: nothing here is wiped.
 * Layouts: shared/docs/formats/tdx-sgx-dcap.md §1, §2, §7, §8.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attester/tdx/tdx_attester.h"
#include "attester/tsm.h"
#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/crypto.h"
#include "veritee/util.h"

#define DEFAULT_CONFIGFS_ROOT VT_TSM_DEFAULT_ROOT
#define DEFAULT_CCEL_PATH "/sys/firmware/acpi/tables/data/CCEL"

#define QUOTE_MAX ((size_t)16 * 1024 * 1024)
#define CCEL_MAX ((size_t)16 * 1024 * 1024)
#define TEE_TYPE_TDX 0x81u
#define TD_REPORT_DATA_OFFSET 520u /* inside the TD report body */

static const char NO_INTERFACE[] = "no TDX guest interface (configfs-tsm with provider tdx_guest) on this machine";

/* ------------------------------------------------------------ files */

/* ------------------------------------------------------------ the quote */

/* Enough of the quote to know it is a TD quote carrying our report data
 * (a stale or foreign quote must not go out under our name).  The verifier
 * parses it fully. */
static vt_status check_quote(const uint8_t *q, size_t size, const uint8_t report_data[64], struct vt_err *err)
{
	struct vt_reader r;
	uint16_t version, att_key_type;
	uint32_t tee_type;
	const uint8_t *rd;
	vt_status rc;
	vt_reader_init(&r, q, size);
	VT_GUARD(vt_reader_u16le(&r, &version, "outblob.version", err));
	VT_GUARD(vt_reader_u16le(&r, &att_key_type, "outblob.att_key_type", err));
	VT_GUARD(vt_reader_u32le(&r, &tee_type, "outblob.tee_type", err));
	if (tee_type != TEE_TYPE_TDX)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.tee_type",
			       "the quote has TEE type 0x%x, not TDX (0x81)", tee_type);
	VT_GUARD(vt_reader_skip(&r, 48 - 8, "outblob.header", err));
	if (version == 5) {
		uint16_t body_type;
		uint32_t body_size;
		VT_GUARD(vt_reader_u16le(&r, &body_type, "outblob.body_type", err));
		VT_GUARD(vt_reader_u32le(&r, &body_size, "outblob.body_size", err));
		if (body_type != 2 && body_type != 3)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.body_type",
				       "quote v5 with body type %u, not a TD report", body_type);
		if (body_size < TD_REPORT_DATA_OFFSET + 64)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.body_size",
				       "TD report body of %u bytes", body_size);
	} else if (version != 4) {
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "outblob.version",
			       "quote version %u (4 or 5 expected)", version);
	}
	VT_GUARD(vt_reader_skip(&r, TD_REPORT_DATA_OFFSET, "outblob.body", err));
	VT_GUARD(vt_reader_view(&r, &rd, 64, "outblob.report_data", err));
	if (memcmp(rd, report_data, 64) != 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "quote.report_data",
			       "the quote from configfs-tsm does not carry the requested report data");
	rc = VT_OK;
out:
	return rc;
}

static vt_status configfs_quote(const char *root, const uint8_t report_data[64], struct vt_buf *quote,
				struct vt_err *err)
{
	struct vt_tsm_request req = {
		.root = root,
		.provider = "tdx_guest",
		.what = "a TDX guest",
		.inblob = report_data,
		.inblob_size = 64,
		.outblob_max = QUOTE_MAX,
	};
	vt_status rc = vt_tsm_report(&req, quote, NULL, err);
	if (rc != VT_OK)
		return rc;
	if (quote->len == 0)
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "outblob", "configfs-tsm returned an empty quote");
	else
		rc = check_quote(quote->data, quote->len, report_data, err);
	if (rc != VT_OK)
		vt_buf_free(quote);
	return rc;
}

/* ------------------------------------------------------------ evidence */

vt_status vt_tdx_attest_evidence(const struct vt_tdx_attest_paths *paths, const uint8_t report_data[64],
				 json_t **evidence_out, struct vt_err *err)
{
	if (report_data == NULL || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	const char *root = paths && paths->configfs_root ? paths->configfs_root : DEFAULT_CONFIGFS_ROOT;
	const char *ccel = paths && paths->ccel_path ? paths->ccel_path : DEFAULT_CCEL_PATH;

	vt_status rc0 = vt_tsm_check_root(root, NO_INTERFACE, err);
	if (rc0 != VT_OK)
		return rc0;

	struct vt_buf quote, log;
	bool no_log = false;
	char *q64 = NULL, *l64 = NULL;
	vt_status rc = configfs_quote(root, report_data, &quote, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_tsm_read_file(ccel, CCEL_MAX, &no_log, &log, err);
	if (rc != VT_OK) {
		vt_buf_free(&quote);
		return rc;
	}
	q64 = vt_b64_encode(quote.data, quote.len);
	if (!no_log && log.len > 0)
		l64 = vt_b64_encode(log.data, log.len);
	json_t *ev = NULL;
	if (q64 != NULL && (no_log || log.len == 0 || l64 != NULL))
		ev = json_pack("{s:s, s:o}", "quote", q64, "cc_eventlog", l64 ? json_string(l64) : json_null());
	if (ev == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	else
		*evidence_out = ev;
	free(q64);
	free(l64);
	vt_buf_free(&quote);
	vt_buf_free(&log);
	return rc;
}

static vt_status tdx_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	struct vt_tdx_attest_paths paths = {.configfs_root = json_string_value(json_object_get(o, "tdx_configfs")),
					    .ccel_path = json_string_value(json_object_get(o, "ccel"))};
	return vt_tdx_attest_evidence(&paths, report_data, evidence_out, err);
}

static const struct vt_tee_option tdx_attest_options[] = {
	{"tdx_configfs", "DIR", true, "configfs-tsm report root (default /sys/kernel/config/tsm/report)"},
	{"ccel", "FILE", true, "CC event log (default /sys/firmware/acpi/tables/data/CCEL)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_tdx = {
	.name = "tdx",
	.summary = "TDX guest: configfs-tsm; adds the CC event log when present",
	.options = tdx_attest_options,
	.attest = tdx_attest_json,
};
