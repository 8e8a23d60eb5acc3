/* Sealed files whose key only this machine's TEE recovers, without a
 * broker (docs/sealed-format.md, "Local key sources"): the header, the
 * dispatch to the kinds, HKDF, option lists, and the INSECURE sim kind. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "seal/local.h"
#include "veritee/crypto.h"
#include "veritee/seal.h"
#include "veritee/sim.h"

#define LOCAL_URL_PREFIX "local:"

static const char SIM_LABEL[] = "veritee/seal/sim/v1"; /* 19 bytes, no NUL */

/* ------------------------------------------------------------ names */

static const char *const NAMES[] = {[VT_SEAL_LOCAL_TPM] = "tpm", [VT_SEAL_LOCAL_SNP] = "snp", [VT_SEAL_LOCAL_SIM] = "sim"};

const char *vt_seal_local_name(enum vt_seal_local kind)
{
	return kind > VT_SEAL_LOCAL_NONE && kind <= VT_SEAL_LOCAL_SIM ? NAMES[kind] : NULL;
}

enum vt_seal_local vt_seal_local_from_name(const char *name)
{
	for (int k = VT_SEAL_LOCAL_TPM; name && k <= VT_SEAL_LOCAL_SIM; k++)
		if (strcmp(name, NAMES[k]) == 0)
			return (enum vt_seal_local)k;
	return VT_SEAL_LOCAL_NONE;
}

enum vt_seal_local vt_seal_local_from_url(const char *url, size_t url_size)
{
	const size_t p = sizeof(LOCAL_URL_PREFIX) - 1;
	if (url == NULL || url_size <= p || memcmp(url, LOCAL_URL_PREFIX, p) != 0)
		return VT_SEAL_LOCAL_NONE;
	for (int k = VT_SEAL_LOCAL_TPM; k <= VT_SEAL_LOCAL_SIM; k++)
		if (url_size - p == strlen(NAMES[k]) && memcmp(url + p, NAMES[k], url_size - p) == 0)
			return (enum vt_seal_local)k;
	return VT_SEAL_LOCAL_NONE;
}

enum vt_seal_local vt_seal_header_local(const struct vt_seal_header *h)
{
	if (!(h->flags & VT_SEAL_FLAG_LOCAL) || h->count != 1)
		return VT_SEAL_LOCAL_NONE;
	return vt_seal_local_from_url(h->brokers[0].url, strnlen(h->brokers[0].url, sizeof(h->brokers[0].url)));
}

/* ------------------------------------------------------------ option lists */

vt_status vt_seal_pcrs_parse(const char *list, uint32_t *mask, struct vt_err *err)
{
	uint32_t m = 0;
	const char *p = list;
	if (list == NULL || *list == '\0')
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pcrs", "no PCRs: give a list such as 7,11");
	for (;;) {
		unsigned v = 0;
		size_t digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 3)
			v = v * 10 + (unsigned)(*p++ - '0'), digits++;
		if (digits == 0 || v > 23 || (*p != ',' && *p != '\0'))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pcrs",
				       "\"%.64s\": want PCR numbers 0..23 separated by commas, e.g. 7,11", list);
		if (m & (1u << v))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pcrs", "PCR %u is listed twice", v);
		m |= 1u << v;
		if (*p++ == '\0')
			break;
	}
	*mask = m;
	return VT_OK;
}

void vt_seal_pcrs_format(uint32_t mask, char *buf, size_t size)
{
	size_t off = 0;
	if (size == 0)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < 24; i++) {
		if (!(mask & (1u << i)))
			continue;
		int n = snprintf(buf + off, size - off, "%s%u", off ? "," : "", i);
		if (n < 0 || (size_t)n >= size - off)
			return;
		off += (size_t)n;
	}
}

static const char *const SNP_FIELD_NAMES[] = {"policy", "image-id", "family-id", "measurement", "guest-svn", "tcb"};

vt_status vt_seal_snp_fields_parse(const char *list, uint64_t *fields, struct vt_err *err)
{
	uint64_t f = 0;
	const char *p = list;
	if (list == NULL || *list == '\0')
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp_fields", "no fields: give e.g. measurement,policy");
	while (*p) {
		size_t n = strcspn(p, ",");
		unsigned bit = 0;
		while (bit < 6 && !(strlen(SNP_FIELD_NAMES[bit]) == n && strncmp(p, SNP_FIELD_NAMES[bit], n) == 0))
			bit++;
		if (bit == 6)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp_fields",
				       "\"%.*s\" is not a field (policy, image-id, family-id, measurement, guest-svn, tcb)",
				       (int)(n < 64 ? n : 64), p);
		if (f & (1u << bit))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp_fields", "%s is listed twice",
				       SNP_FIELD_NAMES[bit]);
		f |= 1u << bit;
		p += n;
		if (*p == ',' && *++p == '\0')
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "snp_fields", "a trailing comma");
	}
	*fields = f;
	return VT_OK;
}

void vt_seal_snp_fields_format(uint64_t fields, char *buf, size_t size)
{
	size_t off = 0;
	if (size == 0)
		return;
	buf[0] = '\0';
	for (unsigned bit = 0; bit < 6; bit++) {
		if (!(fields & (1u << bit)))
			continue;
		int n = snprintf(buf + off, size - off, "%s%s", off ? "," : "", SNP_FIELD_NAMES[bit]);
		if (n < 0 || (size_t)n >= size - off)
			return;
		off += (size_t)n;
	}
}

/* ------------------------------------------------------------ HKDF */

vt_status vt_seal_hkdf(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt, size_t salt_size,
		       const uint8_t *info, size_t info_size, struct vt_secret **out, struct vt_err *err)
{
	struct vt_secret *key = vt_secret_new(VT_SEAL_KEY_SIZE);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_size),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_size),
		OSSL_PARAM_construct_end(),
	};
	bool ok = key && ctx && EVP_KDF_derive(ctx, key->data, key->len, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (!ok) {
		vt_secret_free(key);
		return key ? vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "local", "HKDF-SHA-256 failed")
			   : vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "local", "out of memory");
	}
	*out = key;
	return VT_OK;
}

/* ------------------------------------------------------------ sim (INSECURE) */

/*
 * HKDF-SHA-256(ikm = the platform key's DER (i2d_PrivateKey: RFC 5915
 * ECPrivateKey), salt = file_id, info = label || measurement || le32 svn).
 * Sealing makes the sim keys when missing; unsealing never does (a new
 * platform key could only give another key).
 */
static vt_status sim_key(const struct vt_seal_local_opts *o, const uint8_t file_id[VT_SEAL_FILE_ID_SIZE], bool seal,
			 struct vt_secret **out, struct vt_err *err)
{
	vt_status rc;
	char *dir = o->sim_dir ? strdup(o->sim_dir) : vt_sim_default_dir(), path[PATH_MAX];
	EVP_PKEY *pk = NULL;
	unsigned char *der = NULL;
	int der_size = 0;
	uint8_t info[sizeof(SIM_LABEL) - 1 + 48 + 4];
	if (dir == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "local.sim", "out of memory");
	if (seal) {
		VT_GUARD(vt_sim_ensure_keys(dir, err));
	}
	int n = snprintf(path, sizeof(path), "%s/%s", dir, VT_SIM_PLATFORM_KEY_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "sim_dir", "sim key directory path is too long");
		goto out;
	}
	struct stat st;
	if (!seal && stat(path, &st) != 0) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "sim_dir",
			     "no sim platform key at %.300s (%s): a local:sim file opens only with the sim directory "
			     "it was sealed with (--sim-dir)",
			     path, strerror(errno));
		goto out;
	}
	VT_GUARD(vt_key_load_pem(path, true, &pk, err));
	if ((der_size = i2d_PrivateKey(pk, &der)) <= 0) {
		der = NULL;
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "local.sim", "cannot encode the sim platform key");
		goto out;
	}
	memcpy(info, SIM_LABEL, sizeof(SIM_LABEL) - 1);
	memcpy(info + sizeof(SIM_LABEL) - 1, o->sim_measurement, 48);
	vt_put_le(info + sizeof(SIM_LABEL) - 1 + 48, o->sim_svn, 4);
	rc = vt_seal_hkdf(der, (size_t)der_size, file_id, VT_SEAL_FILE_ID_SIZE, info, sizeof(info), out, err);
out:
	if (der)
		OPENSSL_clear_free(der, (size_t)der_size);
	EVP_PKEY_free(pk);
	free(dir);
	return rc;
}

static vt_status sim_mismatch(const struct vt_seal_local_opts *o, struct vt_err *err)
{
	char *hex = vt_hex_encode(o->sim_measurement, 48);
	vt_status rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "local.sim",
			       "this workload's sealing key differs (measurement %s, svn %u): the file was sealed by a "
			       "sim workload with another measurement or svn, or under another sim platform key",
			       hex ? hex : "?", o->sim_svn);
	free(hex);
	return rc;
}

/* ------------------------------------------------------------ dispatch */

vt_status vt_seal_local_header_new(uint8_t payload, uint32_t chunk_size, const struct vt_seal_local_opts *o,
				   struct vt_seal_header *h, struct vt_secret **key_out, struct vt_err *err)
{
	vt_status rc;
	struct vt_secret *key = NULL;
	const char *name = o ? vt_seal_local_name(o->kind) : NULL;
	if (name == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "local", "no local key source (tpm, snp or sim)");
	memset(h, 0, sizeof(*h));
	h->version = VT_SEAL_VERSION;
	h->cipher = VT_SEAL_CIPHER_AES256GCM;
	h->payload = payload;
	h->flags = VT_SEAL_FLAG_LOCAL;
	h->chunk_size = chunk_size;
	h->threshold = 1;
	h->count = 1;
	snprintf(h->brokers[0].url, sizeof(h->brokers[0].url), LOCAL_URL_PREFIX "%s", name);
	h->brokers[0].index = 0;
	VT_GUARD(vt_random(h->file_id, sizeof(h->file_id), err));
	VT_GUARD(vt_random(h->nonce_prefix, sizeof(h->nonce_prefix), err));
	switch (o->kind) {
	case VT_SEAL_LOCAL_TPM: VT_GUARD(vt_seal_tpm_seal(o, h, &key, err)); break;
	case VT_SEAL_LOCAL_SNP: VT_GUARD(vt_seal_snp_seal(o, h, &key, err)); break;
	default: VT_GUARD(sim_key(o, h->file_id, true, &key, err)); break;
	}
	VT_GUARD(vt_seal_commitment(h->file_id, 0, key, h->brokers[0].commitment, err));
	*key_out = key;
	key = NULL;
out:
	vt_secret_free(key);
	return rc;
}

vt_status vt_unseal_local_key(const struct vt_seal_header *h, const struct vt_seal_local_opts *o,
			      struct vt_secret **key_out, struct vt_err *err)
{
	static const struct vt_seal_local_opts none;
	vt_status rc;
	struct vt_secret *key = NULL;
	enum vt_seal_local kind = vt_seal_header_local(h);
	if (o == NULL)
		o = &none;
	switch (kind) {
	case VT_SEAL_LOCAL_TPM: VT_GUARD(vt_seal_tpm_unseal(h, o, &key, err)); break;
	case VT_SEAL_LOCAL_SNP: VT_GUARD(vt_seal_snp_unseal(h, o, &key, err)); break;
	case VT_SEAL_LOCAL_SIM: VT_GUARD(sim_key(o, h->file_id, false, &key, err)); break;
	default: return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "local", "the header names brokers, not a local key source");
	}
	/* The commitment decides: a TEE in another state derives (or a
	 * replaced blob releases) another key, which is refused here rather
	 * than at chunk 0. */
	if (!vt_seal_share_matches(h, &h->brokers[0], key)) {
		if (kind == VT_SEAL_LOCAL_SIM)
			rc = sim_mismatch(o, err);
		else if (kind == VT_SEAL_LOCAL_SNP)
			rc = vt_seal_snp_mismatch(h, err);
		else
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_BINDING, "local.tpm",
				     "the TPM released a value that is not this file's key (commitment): the local key "
				     "blob was replaced");
		goto out;
	}
	*key_out = key;
	key = NULL;
	rc = VT_OK;
out:
	vt_secret_free(key);
	return rc;
}
