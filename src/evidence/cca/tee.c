/*
 * The `cca` TEE: evidence JSON (Trustee's shape), `veritee verify` files,
 * CPAK files, and the registry descriptor.  See veritee/cca.h.
 *
 * Evidence is what guest-components' CCA attester sends and Trustee's CCA
 * verifier deserializes (deps/verifier/src/cca/mod.rs, `struct CcaEvidence
 * { token: Vec<u8> }` through serde_json): {"token": [217, 1, 143, ...]}.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/cca/cca_token.h"
#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

/* Evidence JSON text: the array form spends at most 4 characters a byte. */
#define CCA_EVIDENCE_JSON_MAX (8 * VT_CCA_TOKEN_MAX)
#define CCA_TOKEN_B64_MAX (4 * ((VT_CCA_TOKEN_MAX + 2) / 3))
#define CPAK_FILE_MAX ((size_t)1 << 20)

static vt_status oom(struct vt_err *err)
{
	return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
}

/* ------------------------------------------------------------ evidence */

/* {"token": [...]} or {"token": "<base64>"}, nothing else.  *tok malloc'd. */
static vt_status evidence_token(const json_t *ev, uint8_t **tok, size_t *n, struct vt_err *err)
{
	if (!json_is_object(ev))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "cca evidence is not a JSON object");
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)ev, key, value) {
		if (strcmp(key, "token") != 0)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence", "unknown member \"%.64s\"", key);
	}
	json_t *t = json_object_get(ev, "token");
	if (json_is_string(t)) {
		size_t slen = json_string_length(t);
		if (slen > CCA_TOKEN_B64_MAX)
			return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "token", "%zu base64 characters, at most %zu accepted",
				       slen, (size_t)CCA_TOKEN_B64_MAX);
		vt_status rc = vt_b64_decode(json_string_value(t), slen, tok, n, err);
		if (rc != VT_OK && err != NULL && err->step == VT_STEP_PARSE)
			snprintf(err->field, sizeof(err->field), "token");
		return rc;
	}
	if (!json_is_array(t))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "token",
			       "\"token\" is missing, or neither an array of bytes nor a base64 string");
	size_t count = json_array_size(t);
	if (count == 0 || count > VT_CCA_TOKEN_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "token", "token of %zu bytes (1 to %zu accepted)", count,
			       VT_CCA_TOKEN_MAX);
	uint8_t *b = malloc(count);
	if (b == NULL)
		return oom(err);
	for (size_t i = 0; i < count; i++) {
		json_t *e = json_array_get(t, i);
		json_int_t v = json_is_integer(e) ? json_integer_value(e) : -1;
		if (v < 0 || v > 255) {
			free(b);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "token", "element %zu is not an integer 0..255", i);
		}
		b[i] = (uint8_t)v;
	}
	*tok = b;
	*n = count;
	return VT_OK;
}

vt_status vt_cca_evidence_from_token(const uint8_t *tok, size_t n, json_t **out, struct vt_err *err)
{
	if (out == NULL || (tok == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (n == 0 || n > VT_CCA_TOKEN_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "token", "token of %zu bytes (1 to %zu accepted)", n,
			       VT_CCA_TOKEN_MAX);
	json_t *arr = json_array();
	json_t *ev = arr ? json_pack("{s:o}", "token", arr) : NULL; /* takes arr */
	if (ev == NULL)
		return oom(err);
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(arr, json_integer(tok[i])) != 0) {
			json_decref(ev);
			return oom(err);
		}
	}
	*out = ev;
	return VT_OK;
}

static vt_status cca_verify(const struct vt_verify_ctx *ctx, const json_t *evidence, const struct vt_binding *binding,
			    json_t **claims_out, struct vt_err *err)
{
	if (ctx == NULL || evidence == NULL || claims_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	uint8_t *tok = NULL;
	size_t n = 0;
	vt_status rc = evidence_token(evidence, &tok, &n, err);
	if (rc != VT_OK)
		return rc;
	/* The CPAK is the verifier's state; without one: parsed, then refused. */
	rc = vt_cca_verify_token(tok, n, vt_verify_state(ctx, &vt_tee_cca), binding, claims_out, err);
	free(tok);
	return rc;
}

/* A raw token (CBOR, starts with tag 399's head 0xd9 0x01 0x8f) or the evidence JSON. */
static vt_status cca_load_file(const uint8_t *bytes, size_t size, json_t **evidence_out, struct vt_err *err)
{
	size_t i = 0;
	while (i < size && isspace(bytes[i]))
		i++;
	if (i < size && bytes[i] == '{')
		return vt_json_parse((const char *)bytes, size, CCA_EVIDENCE_JSON_MAX, evidence_out, err);
	if (size < 3 || bytes[0] != 0xd9 || bytes[1] != 0x01 || bytes[2] != 0x8f)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "evidence",
			       "neither cca evidence JSON nor a CCA token (CBOR tag 399)");
	return vt_cca_evidence_from_token(bytes, size, evidence_out, err);
}

/* The state: the platform's CPAK (no CPAK, no CCA: fail closed). */
static vt_status cca_state_new(const struct vt_verifier *v, const json_t *o, void **state, struct vt_err *err)
{
	(void)v;
	const char *path = vt_tee_opt_str(o, "cpak");
	if (path == NULL)
		return vt_fail(err, VT_E_NOTFOUND, VT_STEP_CONFIG, "cpak", "no CPAK configured: CCA evidence is refused");
	EVP_PKEY *k = NULL;
	vt_status rc = vt_cca_cpak_load(path, &k, err);
	if (rc == VT_OK)
		*state = k;
	return rc;
}

static void cca_state_free(void *state)
{
	EVP_PKEY_free(state);
}

static const struct vt_tee_option cca_options[] = {
	{"cpak", "KEY", true,
	 "the platform's CPAK public key: PEM SPKI, a JWK, or a one-entry rust-ccatoken/Trustee trust-anchor store"},
	{NULL, NULL, false, NULL},
};

/* hardware 2 when both tokens verified against the CPAK and the platform
 * is in a secured lifecycle state; executables 3 when the realm initial
 * measurement (RIM) is a reference value (cca_rim); configuration 2 when
 * the realm personalization value is a reference value (cca_rpv). */
static const char cca_policy[] =
	"{\"version\":1,\"id\":\"default_cca\","
	"\"trust_defaults\":{\"hardware\":97,\"executables\":33,\"configuration\":36},"
	"\"rules\":["
	"{\"name\":\"cca-token-verified\",\"claim\":\"/cca/platform/cca-platform-lifecycle-state\","
	"\"one_of\":[\"secured\",\"non-cca-platform-debug\"],\"on_pass\":{\"hardware\":2}},"
	"{\"name\":\"rim\",\"claim\":\"/cca/realm/cca-realm-initial-measurement\",\"in_reference\":\"cca_rim\","
	"\"on_pass\":{\"executables\":3},\"on_fail\":{\"executables\":33}},"
	"{\"name\":\"personalization\",\"claim\":\"/cca/realm/cca-realm-personalization-value\","
	"\"in_reference\":\"cca_rpv\",\"on_pass\":{\"configuration\":2},\"on_fail\":{\"configuration\":36}}"
	"]}";

const struct vt_tee vt_tee_cca = {
	.name = "cca",
	.summary = "Arm CCA attestation token (tag 399: platform + realm COSE_Sign1; legacy and draft-FFM profiles), "
		   "raw CBOR or Trustee's JSON",
	.default_policy = cca_policy,
	.options = cca_options,
	.state_new = cca_state_new,
	.state_free = cca_state_free,
	.verify = cca_verify,
	.load_file = cca_load_file,
	.init_data = VT_INIT_DATA_EXACT,
};

/* ------------------------------------------------------------ CPAK */

static vt_status cpak_fail(struct vt_err *err, vt_status code, const char *what, const struct vt_err *inner)
{
	if (code == VT_E_NOMEM)
		return oom(err);
	return vt_fail(err, code, VT_STEP_CONFIG, "cpak", "%s%s%s", what, inner ? ": " : "", inner ? inner->detail : "");
}

static vt_status cpak_from_jwk(const json_t *jwk, EVP_PKEY **out, struct vt_err *err)
{
	struct vt_err inner = {0};
	if (!json_is_object(jwk))
		return cpak_fail(err, VT_E_PARSE, "the CPAK JWK is not an object", NULL);
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL || strcmp(kty, "EC") != 0)
		return cpak_fail(err, VT_E_PARSE, "the CPAK is not an EC key (kty \"EC\")", NULL);
	vt_status rc = vt_jwk_to_key(jwk, false, out, &inner);
	return rc == VT_OK ? VT_OK : cpak_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE, "bad CPAK JWK", &inner);
}

vt_status vt_cca_cpak_from_bytes(const uint8_t *p, size_t n, EVP_PKEY **out, struct vt_err *err)
{
	if (out == NULL || (p == NULL && n > 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "cpak", "missing argument");
	if (n > CPAK_FILE_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_CONFIG, "cpak", "CPAK file of %zu bytes", n);
	size_t i = 0;
	while (i < n && isspace(p[i]))
		i++;
	struct vt_err inner = {0};
	vt_status rc;
	if (n - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0) {
		EVP_PKEY *k = NULL;
		rc = vt_key_from_pem((const char *)p, n, false, &k, &inner);
		if (rc != VT_OK)
			return cpak_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE, "bad CPAK PEM (want a public key)", &inner);
		if (vt_ec_coord_size(k) == 0) {
			EVP_PKEY_free(k);
			return cpak_fail(err, VT_E_PARSE, "the CPAK is not an EC key", NULL);
		}
		*out = k;
		return VT_OK;
	}
	json_t *j = NULL;
	rc = vt_json_parse((const char *)p, n, CPAK_FILE_MAX, &j, &inner);
	if (rc != VT_OK)
		return cpak_fail(err, rc == VT_E_NOMEM ? rc : VT_E_PARSE,
				 "the CPAK file is neither PEM nor JSON (a JWK or a trust-anchor store)", &inner);
	if (json_is_array(j)) {
		/* rust-ccatoken / Trustee trust-anchor store: [{"pkey": JWK, "implementation-id", "instance-id"}] */
		if (json_array_size(j) != 1)
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "cpak",
				     "the trust-anchor store holds %zu entries; give the one CPAK of this platform",
				     json_array_size(j));
		else
			rc = cpak_from_jwk(json_object_get(json_array_get(j, 0), "pkey"), out, err);
	} else {
		rc = cpak_from_jwk(j, out, err);
	}
	json_decref(j);
	return rc;
}

vt_status vt_cca_cpak_load(const char *path, EVP_PKEY **out, struct vt_err *err)
{
	uint8_t *b = NULL;
	size_t n = 0;
	if (path == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "cpak", "missing CPAK path");
	vt_status rc = vt_file_read(path, CPAK_FILE_MAX, &b, &n, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_cca_cpak_from_bytes(b, n, out, err);
	free(b);
	return rc;
}
