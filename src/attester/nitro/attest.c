/*
 * AWS Nitro Enclaves attester: one NSM "Attestation" request from inside
 * the enclave.  Wire format (aws-nitro-enclaves-nsm-api src/api/mod.rs,
 * serde's externally tagged enums in CBOR):
 *   request   {"Attestation": {"user_data": null, "nonce": h'..', "public_key": null}}
 *   response  {"Attestation": {"document": h'<COSE_Sign1>'}}  or  {"Error": "<ErrorCode>"}
 * The device exchange is one ioctl on /dev/nsm carrying two {addr, len}
 * buffers (request in, response out; the driver writes the response length
 * back): Linux's NSM_IOCTL_RAW = _IOWR(0x0A, 0, struct nsm_raw), the same
 * number and layout as the NSM_IOCTL_REQUEST of AWS's out-of-tree driver.
 *
 * The report data goes in `nonce` (see src/evidence/nitro/verify.c for the
 * binding choice).  Everything the device hands back is untrusted: decoded
 * with limits, and the document must parse and carry our nonce.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cbor.h>

#include "veritee/attester.h"
#include "veritee/cose.h"
#include "veritee/nitro.h"
#include "veritee/util.h"

struct nsm_iovec {
	uint64_t addr;
	uint64_t len;
};

struct nsm_raw {
	struct nsm_iovec request;
	struct nsm_iovec response;
};

#define VT_NSM_IOCTL_REQUEST _IOWR(0x0A, 0x0, struct nsm_raw)

static_assert(sizeof(struct nsm_raw) == 32, "struct nsm_raw is four u64 in the kernel ABI");

/* ------------------------------------------------------------ device */

static vt_status device_exchange(void *ctx, const uint8_t *req, size_t req_size, uint8_t *resp, size_t *resp_size,
				 struct vt_err *err)
{
	const char *dev = ctx;
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			return vt_fail(err, VT_E_USAGE, VT_STEP_IO, "nsm",
				       "no Nitro Secure Module at %.200s: not inside a Nitro enclave", dev);
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "nsm", "cannot open %.200s: %s", dev, strerror(e));
	}
	struct nsm_raw raw = {
		.request = {.addr = (uint64_t)(uintptr_t)req, .len = req_size},
		.response = {.addr = (uint64_t)(uintptr_t)resp, .len = *resp_size},
	};
	int r = ioctl(fd, VT_NSM_IOCTL_REQUEST, &raw);
	int e = errno;
	close(fd);
	if (r != 0)
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "nsm", "NSM request failed: %s",
			       e == EMSGSIZE ? "request too large" : strerror(e));
	if (raw.response.len == 0 || raw.response.len > *resp_size)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "nsm.response",
			       "the NSM reported a %llu-byte response for a %zu-byte buffer",
			       (unsigned long long)raw.response.len, *resp_size);
	*resp_size = (size_t)raw.response.len;
	return VT_OK;
}

/* ------------------------------------------------------------ request */

static vt_status build_request(const uint8_t *rd, size_t n, uint8_t *out, size_t *out_len, struct vt_err *err)
{
	cbor_item_t *outer = cbor_new_definite_map(1), *inner = cbor_new_definite_map(3);
	cbor_item_t *k[4] = {cbor_build_string("Attestation"), cbor_build_string("user_data"), cbor_build_string("nonce"),
			     cbor_build_string("public_key")};
	cbor_item_t *v[3] = {cbor_new_null(), cbor_build_bytestring(rd, n), cbor_new_null()};
	bool ok = outer != NULL && inner != NULL;
	for (size_t i = 0; i < 3; i++)
		ok = ok && k[i + 1] != NULL && v[i] != NULL &&
		     cbor_map_add(inner, (struct cbor_pair){.key = k[i + 1], .value = v[i]});
	ok = ok && k[0] != NULL && cbor_map_add(outer, (struct cbor_pair){.key = k[0], .value = inner});
	size_t len = ok ? cbor_serialize(outer, out, *out_len) : 0;
	for (size_t i = 0; i < 4; i++)
		if (k[i] != NULL)
			cbor_decref(&k[i]);
	for (size_t i = 0; i < 3; i++)
		if (v[i] != NULL)
			cbor_decref(&v[i]);
	if (inner != NULL)
		cbor_decref(&inner);
	if (outer != NULL)
		cbor_decref(&outer);
	if (len == 0)
		return vt_fail(err, ok ? VT_E_LIMIT : VT_E_NOMEM, VT_STEP_NONE, "nsm.request",
			       ok ? "request larger than %d bytes" : "out of memory", VT_NSM_REQUEST_MAX);
	*out_len = len;
	return VT_OK;
}

/* ------------------------------------------------------------ response */

/* The value of the single pair of `map` when its key is the text `name`. */
static const cbor_item_t *only_member(const cbor_item_t *map, const char **name)
{
	if (!cbor_isa_map(map) || cbor_map_size(map) != 1)
		return NULL;
	const cbor_item_t *k = cbor_map_handle(map)[0].key;
	if (!cbor_isa_string(k) || !cbor_string_is_definite(k))
		return NULL;
	static const char *const names[] = {"Attestation", "Error"};
	for (size_t i = 0; i < 2; i++) {
		size_t l = strlen(names[i]);
		if (cbor_string_length(k) == l && memcmp(cbor_string_handle(k), names[i], l) == 0) {
			*name = names[i];
			return cbor_map_handle(map)[0].value;
		}
	}
	return NULL;
}

static vt_status read_response(const uint8_t *resp, size_t len, cbor_item_t **root, const uint8_t **doc,
			       size_t *doc_len, struct vt_err *err)
{
	struct vt_cbor_limits lim = {.max_depth = 3, .max_items = 8, .allow_indefinite = true};
	vt_status rc = vt_cbor_decode_ex(resp, len, &lim, "nsm.response", root, err);
	if (rc != VT_OK)
		return rc;
	const char *name = NULL;
	const cbor_item_t *v = only_member(*root, &name);
	if (v == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "nsm.response",
			       "not {\"Attestation\": ...} or {\"Error\": ...}");
	if (strcmp(name, "Error") == 0) {
		if (cbor_isa_string(v) && cbor_string_is_definite(v))
			return vt_fail(err, VT_E_REJECTED, VT_STEP_IO, "nsm.response", "the NSM answered Error %.*s",
				       (int)(cbor_string_length(v) > 64 ? 64 : cbor_string_length(v)),
				       (const char *)cbor_string_handle(v));
		return vt_fail(err, VT_E_REJECTED, VT_STEP_IO, "nsm.response", "the NSM answered Error");
	}
	if (!cbor_isa_map(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "nsm.response.Attestation", "not a map");
	const cbor_item_t *d = vt_cbor_map_get_str(v, "document");
	if (d == NULL || cbor_map_size(v) != 1 || !cbor_isa_bytestring(d) || !cbor_bytestring_is_definite(d) ||
	    cbor_bytestring_length(d) == 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "nsm.response.Attestation.document",
			       "no document byte string");
	*doc = cbor_bytestring_handle(d);
	*doc_len = cbor_bytestring_length(d);
	return VT_OK;
}

/* ------------------------------------------------------------ attest */

vt_status vt_nitro_attest_via(vt_nsm_exchange_fn exchange, void *ctx, const uint8_t *report_data, size_t n,
			      json_t **evidence_out, struct vt_err *err)
{
	if (exchange == NULL || report_data == NULL || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (n == 0 || n > VT_NITRO_MAX_USER_DATA)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "report_data", "%zu bytes of report data, 1..%d accepted", n,
			       VT_NITRO_MAX_USER_DATA);
	*evidence_out = NULL;
	vt_status rc;
	uint8_t req[VT_NSM_REQUEST_MAX];
	size_t req_len = sizeof(req), resp_len = VT_NSM_RESPONSE_MAX, doc_len = 0;
	uint8_t *resp = malloc(VT_NSM_RESPONSE_MAX);
	cbor_item_t *root = NULL;
	const uint8_t *doc = NULL;
	struct vt_nitro_doc parsed;
	char *b64 = NULL;
	memset(&parsed, 0, sizeof(parsed));
	if (resp == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "nsm", "out of memory");

	VT_GUARD(build_request(report_data, n, req, &req_len, err));
	VT_GUARD(exchange(ctx, req, req_len, resp, &resp_len, err));
	if (resp_len == 0 || resp_len > VT_NSM_RESPONSE_MAX) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "nsm.response", "%zu-byte response", resp_len);
		goto out;
	}
	VT_GUARD(read_response(resp, resp_len, &root, &doc, &doc_len, err));
	/* A stale or foreign document must not go out under our name. */
	VT_GUARD(vt_nitro_doc_parse(doc, doc_len, &parsed, err));
	if (!parsed.nonce.present || parsed.nonce.len != n || memcmp(parsed.nonce.data, report_data, n) != 0) {
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "payload.nonce",
			     "the NSM document does not carry the requested nonce");
		goto out;
	}
	b64 = vt_b64_encode(doc, doc_len);
	*evidence_out = b64 ? json_pack("{s:s}", "attestation_document", b64) : NULL;
	if (*evidence_out == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "evidence", "out of memory");
out:
	free(b64);
	vt_nitro_doc_free(&parsed);
	if (root != NULL)
		cbor_decref(&root);
	free(resp);
	return rc;
}

vt_status vt_nitro_attest(const char *device, const uint8_t *report_data, size_t n, json_t **evidence_out,
			  struct vt_err *err)
{
	return vt_nitro_attest_via(device_exchange, (void *)(device ? device : VT_NSM_DEFAULT_DEVICE), report_data, n,
				   evidence_out, err);
}

/* ------------------------------------------------------------ registry */

static vt_status nitro_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				   struct vt_err *err)
{
	return vt_nitro_attest(json_string_value(json_object_get(o, "nsm_device")), report_data, 64, evidence_out, err);
}

static const struct vt_tee_option nitro_attest_options[] = {
	{"nsm_device", "PATH", true, "the Nitro Secure Module device (default " VT_NSM_DEFAULT_DEVICE ")"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_nitro = {
	.name = "nitro",
	.summary = "AWS Nitro Enclave: NSM Attestation request on /dev/nsm (report data as the nonce)",
	.options = nitro_attest_options,
	.attest = nitro_attest_json,
};
