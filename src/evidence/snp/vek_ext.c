/*
 * AMD extensions of VCEK/VLEK certificates (sev-snp.md §2.2), OIDs
 * 1.3.6.1.4.1.3704.1.<suffix>.  Each extnValue holds a DER value: INTEGER
 * (structVersion, SPLs), IA5String (productName, cspId), or the hwID as raw
 * bytes (64 on Milan/Genoa, 8 on Turin) or wrapped in an OCTET STRING.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "veritee/snp.h"
#include "veritee/util.h"

#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."

typedef enum {
	EXT_STRUCT_VERSION,
	EXT_PRODUCT_NAME,
	EXT_BL,
	EXT_TEE,
	EXT_SNP,
	EXT_SPL4,
	EXT_SPL5,
	EXT_SPL6,
	EXT_SPL7,
	EXT_UCODE,
	EXT_FMC,
	EXT_HWID,
	EXT_CSP_ID,
} ext_id;

static const struct {
	ext_id id;
	const char *suffix;
	const char *field;
} EXTS[] = {
	{EXT_STRUCT_VERSION, "1", "vcek.ext.structVersion"},
	{EXT_PRODUCT_NAME, "2", "vcek.ext.productName"},
	{EXT_BL, "3.1", "vcek.ext.blSPL"},
	{EXT_TEE, "3.2", "vcek.ext.teeSPL"},
	{EXT_SNP, "3.3", "vcek.ext.snpSPL"},
	{EXT_SPL4, "3.4", "vcek.ext.spl_4"},
	{EXT_SPL5, "3.5", "vcek.ext.spl_5"},
	{EXT_SPL6, "3.6", "vcek.ext.spl_6"},
	{EXT_SPL7, "3.7", "vcek.ext.spl_7"},
	{EXT_UCODE, "3.8", "vcek.ext.ucodeSPL"},
	{EXT_FMC, "3.9", "vcek.ext.fmcSPL"},
	{EXT_HWID, "4", "vcek.ext.hwID"},
	{EXT_CSP_ID, "5", "vcek.ext.cspId"},
};

#define N_EXTS (sizeof(EXTS) / sizeof(EXTS[0]))

/* Largest structVersion accepted ("a small non-negative integer"). */
#define STRUCT_VERSION_MAX 0xFFFF

/* A DER INTEGER filling exactly der[0..size), in 0..max. */
static vt_status der_uint(const uint8_t *der, size_t size, uint64_t max, const char *field, uint64_t *out,
			  struct vt_err *err)
{
	if (size == 0 || size > 64)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "INTEGER value of %zu bytes", size);
	const unsigned char *p = der;
	ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, (long)size);
	if (ai == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a DER INTEGER");
	vt_status rc = VT_OK;
	uint64_t v = 0;
	if ((size_t)(p - der) != size)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu trailing bytes after the INTEGER",
			     size - (size_t)(p - der));
	else if (ASN1_INTEGER_get_uint64(&v, ai) != 1 || v > max)
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "INTEGER is negative or above %llu",
			     (unsigned long long)max);
	ASN1_INTEGER_free(ai);
	if (rc == VT_OK)
		*out = v;
	return rc;
}

/* A DER IA5String filling exactly der[0..size), printable ASCII, at most
 * cap-1 characters, copied NUL-terminated into out[cap]. */
static vt_status der_ia5(const uint8_t *der, size_t size, char *out, size_t cap, const char *field,
			 struct vt_err *err)
{
	if (size == 0 || size > 4096)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "IA5String value of %zu bytes", size);
	const unsigned char *p = der;
	ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, (long)size);
	if (s == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "not a DER IA5String");
	vt_status rc = VT_OK;
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);
	if ((size_t)(p - der) != size) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "%zu trailing bytes after the IA5String",
			     size - (size_t)(p - der));
	} else if (len < 0 || (size_t)len >= cap) {
		rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "string of %d characters, at most %zu allowed", len,
			     cap - 1);
	} else {
		for (int i = 0; i < len; i++) {
			if (d[i] < 0x20 || d[i] > 0x7E) {
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
					     "character %d is 0x%02x, not printable ASCII", i, (unsigned)d[i]);
				break;
			}
		}
	}
	if (rc == VT_OK) {
		memcpy(out, d, (size_t)len);
		out[len] = '\0';
	}
	ASN1_IA5STRING_free(s);
	return rc;
}

/* hwID: raw 64 or 8 bytes, or a DER OCTET STRING holding 64 or 8 bytes.
 * The two forms cannot be confused: raw is 64/8 bytes, wrapped is 66/10. */
static vt_status hwid_value(const uint8_t *der, size_t size, struct vt_snp_vek_ext *ext, const char *field,
			    struct vt_err *err)
{
	if (size == 64 || size == 8) {
		memcpy(ext->hwid, der, size);
		ext->hwid_size = size;
		return VT_OK;
	}
	if ((size == 66 || size == 10) && der[0] == V_ASN1_OCTET_STRING && der[1] == size - 2) {
		const unsigned char *p = der;
		ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)size);
		if (os == NULL)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "malformed OCTET STRING");
		int len = ASN1_STRING_length(os);
		bool good = (size_t)(p - der) == size && len >= 0 && (size_t)len == size - 2;
		if (good) {
			memcpy(ext->hwid, ASN1_STRING_get0_data(os), (size_t)len);
			ext->hwid_size = (size_t)len;
		}
		ASN1_OCTET_STRING_free(os);
		if (good)
			return VT_OK;
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "malformed OCTET STRING");
	}
	return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field,
		       "hwID of %zu bytes: want 64 or 8 raw bytes or an OCTET STRING of 64 or 8", size);
}

static vt_status spl_value(const uint8_t *der, size_t size, bool *has, uint8_t *val, const char *field,
			   struct vt_err *err)
{
	uint64_t v;
	vt_status rc = der_uint(der, size, 255, field, &v, err);
	if (rc != VT_OK)
		return rc;
	if (has != NULL) {
		*has = true;
		*val = (uint8_t)v;
	}
	return VT_OK;
}

static bool already_has(const struct vt_snp_vek_ext *ext, ext_id id)
{
	switch (id) {
	case EXT_STRUCT_VERSION: return ext->has_struct_version;
	case EXT_PRODUCT_NAME: return ext->product_name[0] != '\0';
	case EXT_BL: return ext->has_bl;
	case EXT_TEE: return ext->has_tee;
	case EXT_SNP: return ext->has_snp;
	case EXT_UCODE: return ext->has_ucode;
	case EXT_FMC: return ext->has_fmc;
	case EXT_HWID: return ext->has_hwid;
	case EXT_CSP_ID: return ext->has_csp_id;
	case EXT_SPL4: case EXT_SPL5: case EXT_SPL6: case EXT_SPL7: return false;
	}
	return false;
}

vt_status vt_snp_vek_ext_value(const char *oid_suffix, const uint8_t *der, size_t der_size,
			       struct vt_snp_vek_ext *ext, struct vt_err *err)
{
	if (oid_suffix == NULL || ext == NULL || (der == NULL && der_size != 0))
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "vcek.ext", "missing argument");
	size_t k = 0;
	while (k < N_EXTS && strcmp(EXTS[k].suffix, oid_suffix) != 0)
		k++;
	if (k == N_EXTS)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "vcek.ext", "unknown AMD extension suffix \"%.16s\"",
			       oid_suffix);
	const char *field = EXTS[k].field;
	ext_id id = EXTS[k].id;
	if (already_has(ext, id))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "extension appears more than once");

	uint64_t v;
	vt_status rc;
	switch (id) {
	case EXT_STRUCT_VERSION:
		rc = der_uint(der, der_size, STRUCT_VERSION_MAX, field, &v, err);
		if (rc == VT_OK) {
			ext->has_struct_version = true;
			ext->struct_version = (int64_t)v;
		}
		return rc;
	case EXT_PRODUCT_NAME: {
		char name[sizeof(ext->product_name)];
		rc = der_ia5(der, der_size, name, sizeof(name), field, err);
		if (rc == VT_OK && name[0] == '\0')
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, field, "empty product name");
		if (rc == VT_OK)
			memcpy(ext->product_name, name, sizeof(name));
		return rc;
	}
	case EXT_BL: return spl_value(der, der_size, &ext->has_bl, &ext->bl, field, err);
	case EXT_TEE: return spl_value(der, der_size, &ext->has_tee, &ext->tee, field, err);
	case EXT_SNP: return spl_value(der, der_size, &ext->has_snp, &ext->snp, field, err);
	case EXT_UCODE: return spl_value(der, der_size, &ext->has_ucode, &ext->ucode, field, err);
	case EXT_FMC: return spl_value(der, der_size, &ext->has_fmc, &ext->fmc, field, err);
	case EXT_SPL4: case EXT_SPL5: case EXT_SPL6: case EXT_SPL7:
		/* Reserved SPLs: checked for form, not kept. */
		return spl_value(der, der_size, NULL, NULL, field, err);
	case EXT_HWID:
		rc = hwid_value(der, der_size, ext, field, err);
		if (rc == VT_OK)
			ext->has_hwid = true;
		return rc;
	case EXT_CSP_ID: {
		char csp[sizeof(ext->csp_id)];
		rc = der_ia5(der, der_size, csp, sizeof(csp), field, err);
		if (rc == VT_OK) {
			memcpy(ext->csp_id, csp, sizeof(csp));
			ext->has_csp_id = true;
		}
		return rc;
	}
	}
	return vt_fail(err, VT_E_INTERNAL, VT_STEP_NONE, field, "unhandled extension");
}

vt_status vt_snp_vek_ext_parse(X509 *cert, struct vt_snp_vek_ext *out, struct vt_err *err)
{
	if (cert == NULL || out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "vcek.ext", "missing argument");
	struct vt_snp_vek_ext ext;
	vt_status rc = VT_OK;
	memset(&ext, 0, sizeof(ext));
	memset(out, 0, sizeof(*out));

	for (size_t k = 0; k < N_EXTS && rc == VT_OK; k++) {
		char oid[64];
		size_t pl = strlen(AMD_OID_PREFIX), sl = strlen(EXTS[k].suffix);
		memcpy(oid, AMD_OID_PREFIX, pl);
		memcpy(oid + pl, EXTS[k].suffix, sl + 1);
		ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
		if (obj == NULL)
			return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, EXTS[k].field, "OBJ_txt2obj(%s) failed", oid);
		int idx = X509_get_ext_by_OBJ(cert, obj, -1);
		if (idx >= 0 && X509_get_ext_by_OBJ(cert, obj, idx) >= 0) {
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, EXTS[k].field, "extension %s appears more than once",
				     oid);
		} else if (idx >= 0) {
			X509_EXTENSION *x = X509_get_ext(cert, idx);
			ASN1_OCTET_STRING *data = x ? X509_EXTENSION_get_data(x) : NULL;
			if (data == NULL || ASN1_STRING_length(data) < 0)
				rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, EXTS[k].field, "extension %s has no value",
					     oid);
			else
				rc = vt_snp_vek_ext_value(EXTS[k].suffix, ASN1_STRING_get0_data(data),
							  (size_t)ASN1_STRING_length(data), &ext, err);
		}
		ASN1_OBJECT_free(obj);
	}
	if (rc == VT_OK)
		*out = ext;
	return rc;
}
