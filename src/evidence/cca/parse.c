/*
 * Arm CCA token parsing: the tagged collection, both COSE_Sign1 envelopes,
 * both claim sets and the RAK.  Layout and rules: veritee/cca.h.
 *
 * All CBOR goes through vt_cbor_decode (veritee/cose.h), which walks the
 * bytes with libcbor's allocation-free decoder before building a tree:
 * definite lengths only, declared sizes bounded by the bytes present,
 * bounded depth, no duplicate map keys, nothing after the item.  Here each
 * claim is then checked for its type and size; errors name the claim
 * ("realm.challenge", "platform.sw_components[3].measurement_value").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evidence/cca/cca_token.h"
#include "veritee/jose.h"
#include "veritee/util.h"

/* Nesting inside a claim set: map -> sw-components array -> component map,
 * with room for unknown (ignored) claims that nest a little. */
#define CLAIMS_MAX_DEPTH 8
#define COLLECTION_MAX_DEPTH 3 /* tag -> map -> bstr */
#define COSE_KEY_MAX_DEPTH 2

#define FIELD_MAX sizeof(((struct vt_err *)0)->field)

static vt_status bad(struct vt_err *err, const char *field, const char *what)
{
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%s", what);
}

/* "a.b" into out (FIELD_MAX bytes), cut short when it does not fit. */
static void field_join(char *out, const char *a, const char *b)
{
	int r = snprintf(out, FIELD_MAX, "%s%s%s", a, b[0] ? "." : "", b);
	if (r < 0)
		out[0] = '\0';
}

/* Name the outer layer in front of the field an inner layer recorded. */
static void prefix_field(struct vt_err *err, const char *prefix)
{
	if (err == NULL)
		return;
	char f[FIELD_MAX];
	field_join(f, prefix, err->field);
	memcpy(err->field, f, sizeof(f));
}

/* ------------------------------------------------------------ values */

/* Well-formed UTF-8 (RFC 3629: shortest forms, no surrogates, <= U+10FFFF)
 * without NUL: text claims end up in JSON claims and in messages. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len > n - i)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static vt_status get_bytes(const cbor_item_t *v, const char *field, size_t min, size_t max, struct cca_bytes *out,
			   struct vt_err *err)
{
	if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v))
		return bad(err, field, "not a byte string");
	size_t n = cbor_bytestring_length(v);
	if (n < min || n > max) {
		if (min == max)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu bytes, want %zu", n, min);
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu bytes, want %zu to %zu", n, min, max);
	}
	out->p = n > 0 ? cbor_bytestring_handle(v) : (const uint8_t *)"";
	out->n = n;
	return VT_OK;
}

/* A measurement or digest: 32, 48 or 64 bytes (SHA-256/384/512). */
static vt_status get_digest(const cbor_item_t *v, const char *field, struct cca_bytes *out, struct vt_err *err)
{
	vt_status rc = get_bytes(v, field, 32, 64, out, err);
	if (rc == VT_OK && out->n != 32 && out->n != 48 && out->n != 64)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu bytes, want 32, 48 or 64", out->n);
	return rc;
}

static vt_status get_text(const cbor_item_t *v, const char *field, struct cca_text *out, struct vt_err *err)
{
	if (!cbor_isa_string(v) || !cbor_string_is_definite(v))
		return bad(err, field, "not a text string");
	size_t n = cbor_string_length(v);
	if (n > VT_CCA_MAX_TEXT)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, field, "text of %zu bytes, at most %d accepted", n,
			       VT_CCA_MAX_TEXT);
	const uint8_t *p = n > 0 ? cbor_string_handle(v) : (const uint8_t *)"";
	if (!utf8_ok(p, n))
		return bad(err, field, "text is not well-formed UTF-8 (or holds NUL)");
	out->p = (const char *)p;
	out->n = n;
	out->present = true;
	return VT_OK;
}

static bool text_is(const struct cca_text *t, const char *s)
{
	size_t n = strlen(s);
	return t->present && t->n == n && memcmp(t->p, s, n) == 0;
}

const EVP_MD *cca_hash_by_name(const struct cca_text *name)
{
	/* IANA "Named Information Hash Algorithm" names, as the RMM uses them. */
	if (text_is(name, "sha-256"))
		return EVP_sha256();
	if (text_is(name, "sha-384"))
		return EVP_sha384();
	if (text_is(name, "sha-512"))
		return EVP_sha512();
	return NULL;
}

static vt_status get_hash_algo(const cbor_item_t *v, const char *field, struct cca_text *out, struct vt_err *err)
{
	vt_status rc = get_text(v, field, out, err);
	if (rc == VT_OK && cca_hash_by_name(out) == NULL)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "hash algorithm \"%.*s\" (want sha-256, sha-384 or sha-512)",
			     (int)(out->n > 32 ? 32 : out->n), out->p);
	return rc;
}

/*
 * A claim-set map: definite (the decoder saw to it), at most
 * VT_CCA_MAX_CLAIMS entries, keys integers or text strings (text keys are
 * not CCA claims and are skipped by the callers).
 */
static vt_status check_claims_map(const cbor_item_t *m, const char *field, struct vt_err *err)
{
	if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
		return bad(err, field, "not a map");
	size_t n = cbor_map_size(m);
	if (n > VT_CCA_MAX_CLAIMS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, field, "%zu entries, at most %d accepted", n,
			       VT_CCA_MAX_CLAIMS);
	struct cbor_pair *p = cbor_map_handle(m);
	for (size_t i = 0; i < n; i++) {
		int64_t k;
		if (!vt_cbor_int64(p[i].key, &k) && !cbor_isa_string(p[i].key))
			return bad(err, field, "a key is neither an integer nor a text string");
	}
	return VT_OK;
}

/* Set bit `bit` of *seen; a second time is a duplicate claim.  (The decoder
 * already refuses duplicate keys; this keeps each claim's parse honest if a
 * differently encoded integer ever slipped through.) */
static vt_status once(unsigned *seen, unsigned bit, const char *field, struct vt_err *err)
{
	if (*seen & bit)
		return bad(err, field, "claim appears twice");
	*seen |= bit;
	return VT_OK;
}

/* ------------------------------------------------------------ realm */

enum {
	R_CHALLENGE = 1u << 0,
	R_PROFILE = 1u << 1,
	R_PERSO = 1u << 2,
	R_HASH = 1u << 3,
	R_RAK = 1u << 4,
	R_RIM = 1u << 5,
	R_REM = 1u << 6,
	R_RAK_HASH = 1u << 7,
};

static vt_status parse_rem(const cbor_item_t *v, struct cca_realm *r, struct vt_err *err)
{
	if (!cbor_isa_array(v) || !cbor_array_is_definite(v))
		return bad(err, "realm.extensible_measurements", "not an array");
	if (cbor_array_size(v) != CCA_REM_COUNT)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "realm.extensible_measurements",
			       "%zu measurements, want %d", cbor_array_size(v), CCA_REM_COUNT);
	cbor_item_t **h = cbor_array_handle(v);
	for (size_t i = 0; i < CCA_REM_COUNT; i++) {
		char f[FIELD_MAX];
		snprintf(f, sizeof(f), "realm.extensible_measurements[%zu]", i);
		vt_status rc = get_digest(h[i], f, &r->rem[i], err);
		if (rc != VT_OK)
			return rc;
	}
	return VT_OK;
}

static vt_status parse_realm(const cbor_item_t *m, struct cca_realm *r, struct vt_err *err)
{
	vt_status rc;
	unsigned seen = 0;
	VT_GUARD(check_claims_map(m, "realm.claims", err));
	struct cbor_pair *p = cbor_map_handle(m);
	size_t n = cbor_map_size(m);
	for (size_t i = 0; i < n; i++) {
		int64_t k;
		if (!vt_cbor_int64(p[i].key, &k))
			continue; /* a text key: not a CCA claim */
		const cbor_item_t *v = p[i].value;
		switch (k) {
		case CCA_CHALLENGE:
			VT_GUARD(once(&seen, R_CHALLENGE, "realm.challenge", err));
			VT_GUARD(get_bytes(v, "realm.challenge", VT_CCA_CHALLENGE_SIZE, VT_CCA_CHALLENGE_SIZE,
					   &r->challenge, err));
			break;
		case CCA_PROFILE:
			VT_GUARD(once(&seen, R_PROFILE, "realm.profile", err));
			VT_GUARD(get_text(v, "realm.profile", &r->profile, err));
			if (!text_is(&r->profile, CCA_REALM_PROFILE)) {
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "realm.profile",
					     "unknown realm profile \"%.*s\" (want \"" CCA_REALM_PROFILE "\" or none)",
					     (int)(r->profile.n > 64 ? 64 : r->profile.n), r->profile.p);
				goto out;
			}
			break;
		case CCA_REALM_PERSO:
			VT_GUARD(once(&seen, R_PERSO, "realm.personalization_value", err));
			VT_GUARD(get_bytes(v, "realm.personalization_value", 64, 64, &r->perso, err));
			break;
		case CCA_REALM_HASH_ALGO:
			VT_GUARD(once(&seen, R_HASH, "realm.hash_algo", err));
			VT_GUARD(get_hash_algo(v, "realm.hash_algo", &r->hash_algo, err));
			break;
		case CCA_REALM_RAK:
			VT_GUARD(once(&seen, R_RAK, "realm.public_key", err));
			VT_GUARD(get_bytes(v, "realm.public_key", 1, VT_CCA_MAX_TEXT, &r->rak, err));
			break;
		case CCA_REALM_RIM:
			VT_GUARD(once(&seen, R_RIM, "realm.initial_measurement", err));
			VT_GUARD(get_digest(v, "realm.initial_measurement", &r->rim, err));
			break;
		case CCA_REALM_REM:
			VT_GUARD(once(&seen, R_REM, "realm.extensible_measurements", err));
			VT_GUARD(parse_rem(v, r, err));
			break;
		case CCA_REALM_RAK_HASH_ALGO:
			VT_GUARD(once(&seen, R_RAK_HASH, "realm.public_key_hash_algo", err));
			VT_GUARD(get_hash_algo(v, "realm.public_key_hash_algo", &r->rak_hash_algo, err));
			break;
		default:
			break; /* unknown claims are ignored (RMM: "may contain additional claims") */
		}
	}
	static const struct {
		unsigned bit;
		const char *field;
	} mandatory[] = {
		{R_CHALLENGE, "realm.challenge"},
		{R_PERSO, "realm.personalization_value"},
		{R_RIM, "realm.initial_measurement"},
		{R_REM, "realm.extensible_measurements"},
		{R_HASH, "realm.hash_algo"},
		{R_RAK, "realm.public_key"},
		{R_RAK_HASH, "realm.public_key_hash_algo"},
	};
	for (size_t i = 0; i < sizeof(mandatory) / sizeof(mandatory[0]); i++)
		if (!(seen & mandatory[i].bit))
			return bad(err, mandatory[i].field, "mandatory realm claim is missing");
	rc = VT_OK;
out:
	return rc;
}

/* ------------------------------------------------------------ platform */

enum {
	P_PROFILE = 1u << 0,
	P_CHALLENGE = 1u << 1,
	P_IMPL = 1u << 2,
	P_INST = 1u << 3,
	P_CONFIG = 1u << 4,
	P_LIFECYCLE = 1u << 5,
	P_SW = 1u << 6,
	P_VSI = 1u << 7,
	P_HASH = 1u << 8,
};

enum { SW_TYPE = 1u << 0, SW_VALUE = 1u << 1, SW_VERSION = 1u << 2, SW_SIGNER = 1u << 3, SW_HASH = 1u << 4 };

/* One software component; `base` is "platform.sw_components[i]". */
static vt_status parse_sw(const cbor_item_t *m, const char *base, struct cca_sw_component *c, struct vt_err *err)
{
	char f[FIELD_MAX];
	unsigned seen = 0;
	vt_status rc;
	if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
		return bad(err, base, "software component is not a map");
	size_t n = cbor_map_size(m);
	if (n > VT_CCA_MAX_CLAIMS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, base, "%zu entries, at most %d accepted", n,
			       VT_CCA_MAX_CLAIMS);
	struct cbor_pair *p = cbor_map_handle(m);
	for (size_t i = 0; i < n; i++) {
		int64_t k;
		/* The component map is closed: rust-ccatoken and Veraison refuse other keys too. */
		if (!vt_cbor_int64(p[i].key, &k))
			return bad(err, base, "software component key is not an integer");
		const cbor_item_t *v = p[i].value;
		switch (k) {
		case CCA_SW_TYPE:
			field_join(f, base, "measurement_type");
			VT_GUARD(once(&seen, SW_TYPE, f, err));
			VT_GUARD(get_text(v, f, &c->type, err));
			break;
		case CCA_SW_VALUE:
			field_join(f, base, "measurement_value");
			VT_GUARD(once(&seen, SW_VALUE, f, err));
			VT_GUARD(get_digest(v, f, &c->value, err));
			break;
		case CCA_SW_VERSION:
			field_join(f, base, "version");
			VT_GUARD(once(&seen, SW_VERSION, f, err));
			VT_GUARD(get_text(v, f, &c->version, err));
			break;
		case CCA_SW_SIGNER_ID:
			field_join(f, base, "signer_id");
			VT_GUARD(once(&seen, SW_SIGNER, f, err));
			VT_GUARD(get_bytes(v, f, 1, 64, &c->signer_id, err));
			break;
		case CCA_SW_HASH_ALGO:
			field_join(f, base, "hash_algo");
			VT_GUARD(once(&seen, SW_HASH, f, err));
			VT_GUARD(get_hash_algo(v, f, &c->hash_algo, err));
			break;
		default:
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, base, "unknown software component key %lld",
				       (long long)k);
		}
	}
	if (!(seen & SW_VALUE)) {
		field_join(f, base, "measurement_value");
		return bad(err, f, "mandatory software component member is missing");
	}
	if (!(seen & SW_SIGNER)) {
		field_join(f, base, "signer_id");
		return bad(err, f, "mandatory software component member is missing");
	}
	rc = VT_OK;
out:
	return rc;
}

static vt_status parse_sw_components(const cbor_item_t *v, struct cca_platform *pl, struct vt_err *err)
{
	if (!cbor_isa_array(v) || !cbor_array_is_definite(v))
		return bad(err, "platform.sw_components", "not an array");
	size_t n = cbor_array_size(v);
	if (n > VT_CCA_MAX_SW_COMPONENTS)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "platform.sw_components",
			       "%zu software components, at most %d accepted", n, VT_CCA_MAX_SW_COMPONENTS);
	cbor_item_t **h = cbor_array_handle(v);
	for (size_t i = 0; i < n; i++) {
		char base[FIELD_MAX];
		snprintf(base, sizeof(base), "platform.sw_components[%zu]", i);
		vt_status rc = parse_sw(h[i], base, &pl->sw[i], err);
		if (rc != VT_OK)
			return rc;
	}
	pl->sw_count = n;
	return VT_OK;
}

/* PSA/CCA security lifecycle: the major state is the high byte, 0x00-0x06. */
static vt_status get_lifecycle(const cbor_item_t *v, uint16_t *out, struct vt_err *err)
{
	int64_t x;
	if (!cbor_isa_uint(v) || !vt_cbor_int64(v, &x))
		return bad(err, "platform.lifecycle", "not an unsigned integer");
	if (x > 0x60ff || (x & 0xff00) % 0x1000 != 0)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "platform.lifecycle",
			       "lifecycle 0x%llx is in no security lifecycle state", (unsigned long long)x);
	*out = (uint16_t)x;
	return VT_OK;
}

static vt_status parse_platform(const cbor_item_t *m, struct cca_platform *pl, struct vt_err *err)
{
	vt_status rc;
	unsigned seen = 0;
	VT_GUARD(check_claims_map(m, "platform.claims", err));
	struct cbor_pair *p = cbor_map_handle(m);
	size_t n = cbor_map_size(m);
	for (size_t i = 0; i < n; i++) {
		int64_t k;
		if (!vt_cbor_int64(p[i].key, &k))
			continue;
		const cbor_item_t *v = p[i].value;
		switch (k) {
		case CCA_PROFILE:
			VT_GUARD(once(&seen, P_PROFILE, "platform.profile", err));
			VT_GUARD(get_text(v, "platform.profile", &pl->profile, err));
			if (!text_is(&pl->profile, CCA_PLATFORM_PROFILE_LEGACY) &&
			    !text_is(&pl->profile, CCA_PLATFORM_PROFILE_FFM)) {
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "platform.profile",
					     "unknown platform profile \"%.*s\"",
					     (int)(pl->profile.n > 64 ? 64 : pl->profile.n), pl->profile.p);
				goto out;
			}
			break;
		case CCA_CHALLENGE:
			VT_GUARD(once(&seen, P_CHALLENGE, "platform.challenge", err));
			VT_GUARD(get_digest(v, "platform.challenge", &pl->challenge, err));
			break;
		case CCA_PLAT_IMPL_ID:
			VT_GUARD(once(&seen, P_IMPL, "platform.implementation_id", err));
			VT_GUARD(get_bytes(v, "platform.implementation_id", 32, 32, &pl->impl_id, err));
			break;
		case CCA_PLAT_INSTANCE_ID:
			VT_GUARD(once(&seen, P_INST, "platform.instance_id", err));
			VT_GUARD(get_bytes(v, "platform.instance_id", 33, 33, &pl->inst_id, err));
			if (pl->inst_id.p[0] != 0x01) { /* EAT UEID type RAND */
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "platform.instance_id",
					     "UEID type 0x%02x, want 0x01 (RAND)", pl->inst_id.p[0]);
				goto out;
			}
			break;
		case CCA_PLAT_CONFIG:
			VT_GUARD(once(&seen, P_CONFIG, "platform.config", err));
			VT_GUARD(get_bytes(v, "platform.config", 0, VT_CCA_MAX_CONFIG, &pl->config, err));
			break;
		case CCA_PLAT_LIFECYCLE:
			VT_GUARD(once(&seen, P_LIFECYCLE, "platform.lifecycle", err));
			VT_GUARD(get_lifecycle(v, &pl->lifecycle, err));
			break;
		case CCA_PLAT_SW_COMPONENTS:
			VT_GUARD(once(&seen, P_SW, "platform.sw_components", err));
			VT_GUARD(parse_sw_components(v, pl, err));
			break;
		case CCA_PLAT_VSI:
			VT_GUARD(once(&seen, P_VSI, "platform.verification_service", err));
			VT_GUARD(get_text(v, "platform.verification_service", &pl->vsi, err));
			break;
		case CCA_PLAT_HASH_ALGO:
			VT_GUARD(once(&seen, P_HASH, "platform.hash_algo", err));
			VT_GUARD(get_hash_algo(v, "platform.hash_algo", &pl->hash_algo, err));
			break;
		default:
			break;
		}
	}
	static const struct {
		unsigned bit;
		const char *field;
	} mandatory[] = {
		{P_PROFILE, "platform.profile"},
		{P_CHALLENGE, "platform.challenge"},
		{P_IMPL, "platform.implementation_id"},
		{P_INST, "platform.instance_id"},
		{P_CONFIG, "platform.config"},
		{P_LIFECYCLE, "platform.lifecycle"},
		{P_SW, "platform.sw_components"},
		{P_HASH, "platform.hash_algo"},
	};
	for (size_t i = 0; i < sizeof(mandatory) / sizeof(mandatory[0]); i++)
		if (!(seen & mandatory[i].bit))
			return bad(err, mandatory[i].field, "mandatory platform claim is missing");
	rc = VT_OK;
out:
	return rc;
}

/* ------------------------------------------------------------ the RAK */

struct curve {
	int64_t cose_crv;
	int64_t cose_alg;
	size_t size;
	const char *jwk_crv;
};

static const struct curve CURVES[] = {
	{1, VT_COSE_ALG_ES256, 32, "P-256"},
	{2, VT_COSE_ALG_ES384, 48, "P-384"},
	{3, VT_COSE_ALG_ES512, 66, "P-521"},
};

/* x, y (big-endian coordinates) -> key, through the JWK importer, which
 * checks that the point is on the curve. */
static vt_status key_from_xy(const struct curve *c, const uint8_t *x, const uint8_t *y, EVP_PKEY **out,
			     struct vt_err *err)
{
	char *xb = vt_b64url_encode(x, c->size), *yb = vt_b64url_encode(y, c->size);
	json_t *jwk = NULL;
	if (xb != NULL && yb != NULL)
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", c->jwk_crv, "x", xb, "y", yb);
	free(xb);
	free(yb);
	if (jwk == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "realm.public_key", "out of memory");
	struct vt_err inner = {0};
	vt_status rc = vt_jwk_to_key(jwk, false, out, &inner);
	json_decref(jwk);
	if (rc == VT_E_NOMEM)
		return vt_fail(err, rc, VT_STEP_NONE, "realm.public_key", "out of memory");
	if (rc != VT_OK)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "realm.public_key", "the RAK is not a %s public key: %s",
			       c->jwk_crv, inner.detail);
	return VT_OK;
}

/* Legacy encoding: the uncompressed SEC1 point on P-384. */
static vt_status raw_rak(const struct cca_bytes *b, EVP_PKEY **out, struct vt_err *err)
{
	if (b->n != CCA_RAW_RAK_SIZE || b->p[0] != 0x04)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "realm.public_key",
			       "%zu bytes starting 0x%02x: without a realm profile the RAK is the 97-byte uncompressed "
			       "P-384 point (0x04 || x || y)",
			       b->n, b->p[0]);
	return key_from_xy(&CURVES[1], b->p + 1, b->p + 49, out, err);
}

/* draft FFM profile: a COSE_Key (RFC 9053 §7.1.1, EC2). */
static vt_status cose_rak(const struct cca_bytes *b, EVP_PKEY **out, struct vt_err *err)
{
	cbor_item_t *k = NULL;
	vt_status rc;
	VT_GUARD(vt_cbor_decode(b->p, b->n, COSE_KEY_MAX_DEPTH, "realm.public_key", &k, err));
	if (!cbor_isa_map(k) || cbor_map_size(k) > VT_CCA_MAX_CLAIMS) {
		rc = bad(err, "realm.public_key", "the realm profile wants a COSE_Key map as RAK");
		goto out;
	}
	struct cbor_pair *p = cbor_map_handle(k);
	size_t n = cbor_map_size(k);
	for (size_t i = 0; i < n; i++) {
		int64_t label;
		if (!vt_cbor_int64(p[i].key, &label)) {
			rc = bad(err, "realm.public_key", "COSE_Key label is not an integer");
			goto out;
		}
	}
	int64_t kty, crv, alg;
	const cbor_item_t *x = vt_cbor_map_get_int(k, -2), *y = vt_cbor_map_get_int(k, -3);
	if (!vt_cbor_int64(vt_cbor_map_get_int(k, 1), &kty) || kty != 2) {
		rc = bad(err, "realm.public_key", "COSE_Key kty is not EC2 (2)");
		goto out;
	}
	if (vt_cbor_map_get_int(k, -4) != NULL) {
		rc = bad(err, "realm.public_key", "COSE_Key carries a private key (label -4)");
		goto out;
	}
	const struct curve *c = NULL;
	if (vt_cbor_int64(vt_cbor_map_get_int(k, -1), &crv))
		for (size_t i = 0; i < sizeof(CURVES) / sizeof(CURVES[0]); i++)
			if (CURVES[i].cose_crv == crv)
				c = &CURVES[i];
	if (c == NULL) {
		rc = bad(err, "realm.public_key", "COSE_Key crv is not P-256 (1), P-384 (2) or P-521 (3)");
		goto out;
	}
	const cbor_item_t *a = vt_cbor_map_get_int(k, 3);
	if (a != NULL && (!vt_cbor_int64(a, &alg) || alg != c->cose_alg)) {
		rc = bad(err, "realm.public_key", "COSE_Key alg does not fit its curve");
		goto out;
	}
	/* y as a boolean would be point compression: not used by the RMM. */
	if (x == NULL || y == NULL || !cbor_isa_bytestring(x) || !cbor_isa_bytestring(y) ||
	    cbor_bytestring_length(x) != c->size || cbor_bytestring_length(y) != c->size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, "realm.public_key",
			     "COSE_Key x and y must be %zu-byte strings", c->size);
		goto out;
	}
	rc = key_from_xy(c, cbor_bytestring_handle(x), cbor_bytestring_handle(y), out, err);
out:
	if (k != NULL)
		cbor_decref(&k);
	return rc;
}

/* ------------------------------------------------------------ envelopes */

/* The collection: 399({44234: bstr, 44241: bstr}), nothing else. */
static vt_status parse_collection(const uint8_t *tok, size_t n, struct cca_token *t, struct cca_bytes *plat,
				  struct cca_bytes *realm, struct vt_err *err)
{
	vt_status rc;
	VT_GUARD(vt_cbor_decode(tok, n, COLLECTION_MAX_DEPTH, "token", &t->collection, err));
	if (!cbor_isa_tag(t->collection) || cbor_tag_value(t->collection) != CCA_TAG_COLLECTION) {
		rc = bad(err, "token", "not a CCA attestation token (CBOR tag 399)");
		goto out;
	}
	cbor_item_t *m = cbor_tag_item(t->collection); /* new reference; the collection keeps it alive */
	bool is_map = cbor_isa_map(m);
	size_t count = is_map ? cbor_map_size(m) : 0;
	struct cbor_pair *p = is_map ? cbor_map_handle(m) : NULL;
	cbor_decref(&m);
	if (!is_map || count != 2) {
		rc = bad(err, "token", "the collection is not a map of the platform and realm tokens");
		goto out;
	}
	bool have_p = false, have_r = false;
	for (size_t i = 0; i < count; i++) {
		int64_t k;
		bool ok = vt_cbor_int64(p[i].key, &k);
		if (ok && k == CCA_KEY_PLATFORM_TOKEN && !have_p) {
			VT_GUARD(get_bytes(p[i].value, "platform", 1, n, plat, err));
			have_p = true;
		} else if (ok && k == CCA_KEY_REALM_TOKEN && !have_r) {
			VT_GUARD(get_bytes(p[i].value, "realm", 1, n, realm, err));
			have_r = true;
		} else {
			rc = bad(err, "token", "the collection holds a key other than 44234 (platform) and 44241 (realm)");
			goto out;
		}
	}
	rc = VT_OK;
out:
	return rc;
}

/* One COSE_Sign1_Tagged with an attached payload, and its decoded claims. */
static vt_status parse_signed(const struct cca_bytes *b, const char *which, struct vt_cose_sign1 *cose,
			      cbor_item_t **claims, struct vt_err *err)
{
	char f[FIELD_MAX];
	/*
	 * libcbor 0.8 refuses the one-byte heads of tags 6..20 (0xc6..0xd4) as
	 * unassigned, and COSE_Sign1_Tagged is 18 in that form: 0xd2.  Take
	 * that one head off and parse the untagged COSE_Sign1 behind it (the
	 * two-byte form 0xd8 0x12 reaches libcbor, which handles it).
	 */
	const uint8_t *p = b->p;
	size_t n = b->n;
	bool head18 = n > 0 && p[0] == 0xc0 + VT_COSE_TAG_SIGN1;
	if (head18) {
		p++;
		n--;
	}
	vt_status rc = vt_cose_sign1_parse(p, n, cose, err);
	if (rc != VT_OK) {
		prefix_field(err, which);
		return rc;
	}
	if (head18 && cose->tagged)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, which, "%s token is tagged 18 twice", which);
	cose->tagged = cose->tagged || head18;
	if (!cose->tagged)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, which, "%s token is not a tagged COSE_Sign1 (tag 18)",
			       which);
	if (cose->payload == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, which, "%s token has a detached payload", which);
	snprintf(f, sizeof(f), "%s.claims", which);
	return vt_cbor_decode(cose->payload, cose->payload_len, CLAIMS_MAX_DEPTH, f, claims, err);
}

vt_status cca_token_parse(const uint8_t *tok, size_t n, struct cca_token *t, struct vt_err *err)
{
	vt_status rc;
	struct cca_bytes pb, rb;
	memset(t, 0, sizeof(*t));
	if (tok == NULL && n > 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "token", "missing argument");
	if (n > VT_CCA_TOKEN_MAX)
		return vt_fail(err, VT_E_LIMIT, VT_STEP_PARSE, "token", "token of %zu bytes, at most %zu accepted", n,
			       VT_CCA_TOKEN_MAX);
	VT_GUARD(parse_collection(tok, n, t, &pb, &rb, err));
	VT_GUARD(parse_signed(&rb, "realm", &t->realm_cose, &t->realm_item, err));
	VT_GUARD(parse_realm(t->realm_item, &t->realm, err));
	VT_GUARD(parse_signed(&pb, "platform", &t->platform_cose, &t->platform_item, err));
	VT_GUARD(parse_platform(t->platform_item, &t->platform, err));

	/* draft FFM: a platform of the new profile goes with a profiled realm token. */
	if (text_is(&t->platform.profile, CCA_PLATFORM_PROFILE_FFM) && !t->realm.profile.present) {
		rc = bad(err, "realm.profile",
			 "the platform profile is " CCA_PLATFORM_PROFILE_FFM " but the realm token has no profile");
		goto out;
	}
	/* The RAK's encoding follows the realm profile (rust-ccatoken, Veraison ccatoken). */
	if (t->realm.profile.present)
		VT_GUARD(cose_rak(&t->realm.rak, &t->rak, err));
	else
		VT_GUARD(raw_rak(&t->realm.rak, &t->rak, err));
	rc = VT_OK;
out:
	if (rc != VT_OK)
		cca_token_free(t);
	return rc;
}

void cca_token_free(struct cca_token *t)
{
	if (t == NULL)
		return;
	EVP_PKEY_free(t->rak);
	if (t->platform_item != NULL)
		cbor_decref(&t->platform_item);
	if (t->realm_item != NULL)
		cbor_decref(&t->realm_item);
	vt_cose_sign1_free(&t->platform_cose);
	vt_cose_sign1_free(&t->realm_cose);
	if (t->collection != NULL)
		cbor_decref(&t->collection);
	memset(t, 0, sizeof(*t));
}
