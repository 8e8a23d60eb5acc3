/*
 * IBM Secure Execution attester: inside an SE guest, one Retrieve
 * Attestation Measurement call through the kernel's uvdevice
 * (arch/s390/include/uapi/asm/uvdevice.h; s390-tools rust/pv_core
 * uvdevice/ffi.rs): ioctl(UVIO_IOCTL_ATT = _IOWR('u', 1, struct
 * uvio_ioctl_cb)) on /dev/uv, whose argument is a struct uvio_attest
 * {ARCB, measurement and additional-data buffers, user data in, CUID out}.
 * s390x is big-endian, and the structures are in the machine's order.
 *
 * The request (the ARCB) comes from the verifier's side: a pvattest
 * exchange request (`pvattest create`), a raw ARCB, or Trustee's
 * SeAttestationRequest JSON (the /auth nonce of a Trustee KBS for "se").
 * The user data is the 64 bytes of report data (the KBS binding), as
 * guest-components' SE attester does.  The guest cannot verify what the
 * Ultravisor returns (the HMAC key is sealed in the ARCB): sizes only.
 * Nothing here is secret: the ARCB is encrypted, the measurement public.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "veritee/attester.h"
#include "veritee/json.h"
#include "veritee/se.h"
#include "veritee/util.h"

/* ------------------------------------------------------------ device */

struct uvio_ioctl_cb {
	uint32_t flags;
	uint16_t uv_rc;
	uint16_t uv_rrc;
	uint64_t argument_addr;
	uint32_t argument_len;
	uint8_t reserved14[44];
};

struct uvio_attest {
	uint64_t arcb_addr;
	uint64_t meas_addr;
	uint64_t add_data_addr;
	uint8_t user_data[VT_SE_USER_DATA_MAX];
	uint8_t config_uid[VT_SE_CUID_SIZE];
	uint32_t arcb_len;
	uint32_t meas_len;
	uint32_t add_data_len;
	uint16_t user_data_len;
	uint16_t reserved136;
};

#define VT_UVIO_IOCTL_ATT _IOWR('u', 1, struct uvio_ioctl_cb)
#define UV_RC_SUCCESS 0x0001
#define UV_RC_MORE_DATA 0x0100

static_assert(sizeof(struct uvio_ioctl_cb) == 0x40, "uvio_ioctl_cb is 0x40 bytes in the kernel ABI");
static_assert(sizeof(struct uvio_attest) == 0x138, "uvio_attest is 0x138 bytes in the kernel ABI");
static_assert(VT_UVIO_IOCTL_ATT == 0xc0407501u, "UVIO_IOCTL_ATT");

static vt_status device_attest(void *ctx, struct vt_se_uv_attest *io, struct vt_err *err)
{
	const char *dev = ctx;
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "uv_device",
				       "no Ultravisor device at %.200s: not inside an IBM Secure Execution guest", dev);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "uv_device", "cannot open %.200s: %s", dev, strerror(e));
	}
	struct uvio_attest a;
	memset(&a, 0, sizeof(a));
	a.arcb_addr = (uint64_t)(uintptr_t)io->arcb;
	a.meas_addr = (uint64_t)(uintptr_t)io->measurement;
	a.add_data_addr = io->additional_size ? (uint64_t)(uintptr_t)io->additional : 0;
	memcpy(a.user_data, io->user_data, sizeof(a.user_data));
	a.arcb_len = io->arcb_size;
	a.meas_len = io->measurement_size;
	a.add_data_len = io->additional_size;
	a.user_data_len = io->user_data_size;
	struct uvio_ioctl_cb cb;
	memset(&cb, 0, sizeof(cb));
	cb.argument_addr = (uint64_t)(uintptr_t)&a;
	cb.argument_len = sizeof(a);
	int r = ioctl(fd, VT_UVIO_IOCTL_ATT, &cb);
	int e = errno;
	close(fd);
	io->uv_rc = cb.uv_rc;
	io->uv_rrc = cb.uv_rrc;
	if (r != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "uv_device", "UVIO_IOCTL_ATT failed: %s (uv rc 0x%04x rrc 0x%04x)",
			       strerror(e), cb.uv_rc, cb.uv_rrc);
	if (cb.uv_rc != UV_RC_SUCCESS && cb.uv_rc != UV_RC_MORE_DATA)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "uv_device", "the Ultravisor refused: rc 0x%04x rrc 0x%04x%s",
			       cb.uv_rc, cb.uv_rrc,
			       cb.uv_rc == 0x010c ? " (cannot decrypt the request: no host key of this machine)" : "");
	memcpy(io->cuid, a.config_uid, sizeof(io->cuid));
	io->additional_size = a.add_data_len;
	return VT_OK;
}

/* ------------------------------------------------------------ request */

struct se_request {
	uint8_t *arcb; /* owned */
	size_t arcb_size;
	json_t *trustee; /* the SeAttestationRequest JSON, or NULL */
};

static void request_free(struct se_request *q)
{
	free(q->arcb);
	json_decref(q->trustee);
	memset(q, 0, sizeof(*q));
}

static vt_status copy_arcb(struct se_request *q, const uint8_t *p, size_t n, struct vt_err *err)
{
	q->arcb = malloc(n ? n : 1);
	if (q->arcb == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	memcpy(q->arcb, p, n);
	q->arcb_size = n;
	return VT_OK;
}

static vt_status read_request(const uint8_t *p, size_t n, struct se_request *q, struct vt_err *err)
{
	memset(q, 0, sizeof(*q));
	if (n >= 8 && memcmp(p, "pvattest", 8) == 0) {
		struct vt_se_exchange x;
		vt_status rc = vt_se_exchange_parse(p, n, &x, err);
		return rc == VT_OK ? copy_arcb(q, x.arcb.data, x.arcb.size, err) : rc;
	}
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
		i++;
	if (i == n || p[i] != '{')
		return copy_arcb(q, p, n, err); /* a raw ARCB; parsed below */
	vt_status rc = vt_json_parse((const char *)p, n, 4 * VT_SE_ARCB_MAX, &q->trustee, err);
	if (rc != VT_OK)
		return rc;
	json_t *blob = json_object_get(q->trustee, "request_blob");
	if (!json_is_string(blob))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "request_blob",
			       "the SE request JSON has no \"request_blob\" string");
	size_t slen = json_string_length(blob);
	if (slen > 4 * ((VT_SE_ARCB_MAX + 2) / 3))
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "request_blob", "request_blob of %zu characters", slen);
	rc = vt_b64_decode(json_string_value(blob), slen, &q->arcb, &q->arcb_size, err);
	if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
		snprintf(err->field, sizeof(err->field), "request_blob");
	return rc;
}

/* ------------------------------------------------------------ attest */

static vt_status put_b64(json_t *o, const char *k, const uint8_t *p, size_t n, struct vt_err *err)
{
	static const uint8_t none[1] = {0};
	char *s = vt_b64_encode(p ? p : none, n);
	json_t *v = s ? json_string(s) : NULL;
	free(s);
	if (v == NULL || json_object_set_new(o, k, v) != 0)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "evidence", "out of memory");
	return VT_OK;
}

vt_status vt_se_attest_via(vt_se_uv_fn uv, void *ctx, const uint8_t *request, size_t n,
			   const uint8_t report_data[VT_SE_REPORT_DATA_SIZE], json_t **evidence_out, struct vt_err *err)
{
	if (uv == NULL || request == NULL || report_data == NULL || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	*evidence_out = NULL;
	struct se_request q;
	struct vt_se_arcb arcb;
	uint8_t measurement[VT_SE_MEASUREMENT_SIZE];
	uint8_t *additional = NULL;
	json_t *ev = NULL;
	vt_status rc;

	VT_GUARD(read_request(request, n, &q, err));
	VT_GUARD(vt_se_arcb_parse(q.arcb, q.arcb_size, &arcb, err));
	uint32_t add_size = vt_se_additional_size(arcb.flags);
	additional = malloc(add_size ? add_size : 1);
	if (additional == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	struct vt_se_uv_attest io = {
		.arcb = q.arcb,
		.arcb_size = (uint32_t)q.arcb_size,
		.user_data_size = VT_SE_REPORT_DATA_SIZE,
		.measurement = measurement,
		.measurement_size = sizeof(measurement),
		.additional = additional,
		.additional_size = add_size,
	};
	memcpy(io.user_data, report_data, VT_SE_REPORT_DATA_SIZE);
	VT_GUARD(uv(ctx, &io, err));
	if (io.additional_size != add_size) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, "additional_data",
			     "the Ultravisor returned %u bytes of additional data; the request's flags ask for %u",
			     io.additional_size, add_size);
		goto out;
	}

	ev = json_object();
	if (ev == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "evidence", "out of memory");
		goto out;
	}
	VT_GUARD(put_b64(ev, "measurement", measurement, sizeof(measurement), err));
	VT_GUARD(put_b64(ev, "additional_data", additional, add_size, err));
	VT_GUARD(put_b64(ev, "user_data", io.user_data, io.user_data_size, err));
	VT_GUARD(put_b64(ev, "cuid", io.cuid, sizeof(io.cuid), err));
	/* A Trustee request's verifier-side members travel back unchanged. */
	static const char *const echoed[] = {"encr_measurement_key", "encr_request_nonce", "image_hdr_tags"};
	for (size_t i = 0; q.trustee != NULL && i < sizeof(echoed) / sizeof(echoed[0]); i++) {
		json_t *v = json_object_get(q.trustee, echoed[i]);
		if (v != NULL && (!json_is_string(v) || json_object_set(ev, echoed[i], v) != 0)) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, echoed[i], "\"%s\" is not a base64 string", echoed[i]);
			goto out;
		}
	}
	VT_GUARD(put_b64(ev, "request_blob", q.arcb, q.arcb_size, err));
	*evidence_out = ev;
	ev = NULL;
out:
	json_decref(ev);
	free(additional);
	request_free(&q);
	return rc;
}

vt_status vt_se_attest(const char *device, const char *request_path, const uint8_t report_data[VT_SE_REPORT_DATA_SIZE],
		       json_t **evidence_out, struct vt_err *err)
{
	if (request_path == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "se_request",
			       "se: give the attestation request (se_request: `pvattest create` output, a raw ARCB, or "
			       "Trustee's SE request JSON)");
	uint8_t *b = NULL;
	size_t n = 0;
	vt_status rc = vt_file_read(request_path, 4 * VT_SE_ARCB_MAX, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_se_attest_via(device_attest, (void *)(device ? device : VT_SE_DEFAULT_DEVICE), b, n, report_data,
			      evidence_out, err);
	free(b);
	return rc;
}

/* ------------------------------------------------------------ registry */

static vt_status se_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				struct vt_err *err)
{
	return vt_se_attest(json_string_value(json_object_get(o, "uv_device")),
			    json_string_value(json_object_get(o, "se_request")), report_data, evidence_out, err);
}

static const struct vt_tee_option se_attest_options[] = {
	{"se_request", "FILE", true,
	 "the attestation request: `pvattest create` output, a raw ARCB, or Trustee's SE request JSON"},
	{"uv_device", "PATH", true, "the Ultravisor device (default " VT_SE_DEFAULT_DEVICE ")"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_se = {
	.name = "se",
	.summary = "IBM Secure Execution guest: UVIO_IOCTL_ATT on /dev/uv with a verifier-made ARCB "
		   "(report data as the user data)",
	.options = se_attest_options,
	.attest = se_attest_json,
};
