/* Init-data binding checks by a TEE's rule (evidence.h, vt_init_data_rule). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/util.h"

static vt_status differ(const uint8_t *want, size_t want_size, const uint8_t *seen, size_t seen_size,
			const char *how, struct vt_err *err)
{
	char *w = vt_hex_encode(want, want_size);
	char *s = vt_hex_encode(seen, seen_size);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "init_data",
			       "init-data digest does not match the TEE's init-data field (%s): expected %s, seen %s", how,
			       w ? w : "?", s ? s : "?");
	free(w);
	free(s);
	return rc;
}

vt_status vt_init_data_check(const struct vt_tee *tee, const json_t *claims, const uint8_t *digest,
			     size_t digest_size, struct vt_err *err)
{
	if (tee == NULL || digest == NULL || digest_size == 0 || digest_size > 64)
		return vt_fail(err, VT_E_USAGE, VT_STEP_BINDING, "init_data", "missing argument");
	if (tee->init_data == VT_INIT_DATA_NONE)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "init-data",
			       "tee %s has no init-data field: send no init-data", tee->name);
	const char *hex = json_string_value(json_object_get(claims, "init_data"));
	uint8_t *field = NULL;
	size_t field_size = 0;
	if (hex == NULL || vt_hex_decode(hex, &field, &field_size, NULL) != VT_OK || field_size == 0 ||
	    field_size > 64) {
		free(field);
		return vt_fail(err, VT_E_INTERNAL, VT_STEP_BINDING, "init_data",
			       "the %s verifier reported no init-data field", tee->name);
	}
	vt_status rc = VT_OK;
	uint8_t want[64];
	memset(want, 0, sizeof(want));
	switch (tee->init_data) {
	case VT_INIT_DATA_PAD:
		memcpy(want, digest, digest_size < field_size ? digest_size : field_size);
		if (memcmp(want, field, field_size) != 0) /* public values */
			rc = differ(want, field_size, field, field_size, "zero-padded or truncated", err);
		break;
	case VT_INIT_DATA_EXACT:
		if (digest_size != field_size || memcmp(digest, field, field_size) != 0)
			rc = differ(digest, digest_size, field, field_size, "exact", err);
		break;
	case VT_INIT_DATA_PCR_EXTEND: {
		if (digest_size != 32 || field_size != 32) {
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "init-data.body.algorithm",
				     "tee %s binds init-data through PCR 8 (SHA-256 bank): the TOML must name sha256",
				     tee->name);
			break;
		}
		uint8_t in[64];
		size_t n = 0;
		memset(in, 0, 32);
		memcpy(in + 32, digest, 32);
		rc = vt_digest(EVP_sha256(), in, sizeof(in), want, &n, err);
		if (rc == VT_OK && memcmp(want, field, 32) != 0)
			rc = differ(want, 32, field, 32, "PCR 8 = SHA-256(zeros || digest)", err);
		break;
	}
	default:
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_BINDING, "init_data", "unknown init-data rule");
	}
	free(field);
	return rc;
}
