/*
 * sim attester (INSECURE, see sim.h): a local P-384 "sim root" CA, a platform
 * key certified by it, and reports signed by the platform key.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "veritee/crypto.h"
#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/sim.h"
#include "veritee/util.h"

#define SIM_ROOT_CN "veritee sim root (INSECURE)"
#define SIM_PLATFORM_CN "veritee sim platform (INSECURE)"
#define SIM_VALIDITY_DAYS 3652 /* 10 years */

static const char DEFAULT_WORKLOAD[] = "veritee sim default workload";

void vt_sim_attest_opts_default(struct vt_sim_attest_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	unsigned int n = 0;
	if (EVP_Digest(DEFAULT_WORKLOAD, strlen(DEFAULT_WORKLOAD), opts->measurement, &n, EVP_sha384(), NULL) != 1 ||
	    n != sizeof(opts->measurement))
		memset(opts->measurement, 0, sizeof(opts->measurement));
	opts->svn = 1;
	opts->debug = false;
}

/* ------------------------------------------------------------------ files */

static vt_status join(const char *dir, const char *name, char out[PATH_MAX], struct vt_err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "dir", "sim key directory path is too long");
	return VT_OK;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* mkdir -p; every directory we create is 0700. */
static vt_status make_dir(const char *dir, struct vt_err *err)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	if (len == 0 || len >= sizeof(path))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "dir", "bad sim key directory path");
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return vt_fail(err, VT_E_IO, VT_STEP_IO, "dir", "cannot create %s: %s", path, strerror(errno));
		path[i] = saved;
	}
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "dir", "%s is not a directory", dir);
	return VT_OK;
}

static vt_status save_cert(const char *path, X509 *cert, struct vt_err *err)
{
	vt_status rc;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, path, "cannot encode certificate as PEM");
		goto out;
	}
	long n = BIO_get_mem_data(bio, &pem);
	if (n <= 0) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, path, "cannot encode certificate as PEM");
		goto out;
	}
	rc = vt_file_write(path, pem, (size_t)n, 0644, err);
out:
	BIO_free(bio);
	return rc;
}

/* ------------------------------------------------------------ certificates */

static vt_status set_name(X509_NAME *name, const char *cn, struct vt_err *err)
{
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1)
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot set subject name");
	return VT_OK;
}

/* Positive, non-zero 128-bit serial from the CSPRNG. */
static vt_status set_serial(X509 *cert, struct vt_err *err)
{
	uint8_t raw[16];
	vt_status rc = vt_random(raw, sizeof(raw), err);
	if (rc != VT_OK)
		return rc;
	raw[0] &= 0x7f;
	raw[0] |= 0x40; /* keep it 16 bytes long and non-zero */
	BIGNUM *bn = BN_bin2bn(raw, (int)sizeof(raw), NULL);
	ASN1_INTEGER *ser = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (ser == NULL || X509_set_serialNumber(cert, ser) != 1)
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot set serial number");
	ASN1_INTEGER_free(ser);
	BN_free(bn);
	return rc;
}

static vt_status add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value, struct vt_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
		X509_EXTENSION_free(ext);
		return vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot add extension %s", OBJ_nid2sn(nid));
	}
	X509_EXTENSION_free(ext);
	return VT_OK;
}

/*
 * A certificate for `key` named `cn`.  With issuer == NULL it is the
 * self-signed root (CA:TRUE, keyCertSign); otherwise a leaf (CA:FALSE,
 * digitalSignature) signed by issuer_key, never outliving its issuer.
 */
static vt_status make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, X509 **out,
			   struct vt_err *err)
{
	vt_status rc;
	X509 *cert = X509_new();
	if (cert == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "cert", "out of memory");
	bool is_root = issuer == NULL;
	if (X509_set_version(cert, 2) != 1 || X509_set_pubkey(cert, key) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot set version or key");
		goto out;
	}
	VT_GUARD(set_serial(cert, err));
	VT_GUARD(set_name(X509_get_subject_name(cert), cn, err));
	if (X509_set_issuer_name(cert, is_root ? X509_get_subject_name(cert) : X509_get_subject_name(issuer)) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot set issuer name");
		goto out;
	}
	time_t now = (time_t)vt_now();
	if (X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), SIM_VALIDITY_DAYS, 0, &now) == NULL) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot set validity");
		goto out;
	}
	if (!is_root && ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(issuer)) > 0 &&
	    X509_set1_notAfter(cert, X509_get0_notAfter(issuer)) != 1) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot set validity");
		goto out;
	}
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, is_root ? cert : issuer, cert, NULL, NULL, 0);
	if (is_root) {
		VT_GUARD(add_ext(cert, &v3, NID_basic_constraints, "critical,CA:TRUE", err));
		VT_GUARD(add_ext(cert, &v3, NID_key_usage, "critical,keyCertSign,cRLSign", err));
		VT_GUARD(add_ext(cert, &v3, NID_subject_key_identifier, "hash", err));
	} else {
		VT_GUARD(add_ext(cert, &v3, NID_basic_constraints, "critical,CA:FALSE", err));
		VT_GUARD(add_ext(cert, &v3, NID_key_usage, "critical,digitalSignature", err));
		VT_GUARD(add_ext(cert, &v3, NID_subject_key_identifier, "hash", err));
		VT_GUARD(add_ext(cert, &v3, NID_authority_key_identifier, "keyid:always", err));
	}
	if (X509_sign(cert, is_root ? key : issuer_key, EVP_sha384()) <= 0) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "cert", "cannot sign certificate");
		goto out;
	}
	*out = cert;
	cert = NULL;
	rc = VT_OK;
out:
	X509_free(cert);
	return rc;
}

/* New key + certificate written as key_path (0600) then cert_path (0644). */
static vt_status create_pair(const char *key_path, const char *cert_path, const char *cn, X509 *issuer,
			     EVP_PKEY *issuer_key, struct vt_err *err)
{
	vt_status rc;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	VT_GUARD(vt_key_generate(VT_KEY_P384, &key, err));
	VT_GUARD(make_cert(key, cn, issuer, issuer_key, &cert, err));
	VT_GUARD(vt_key_save_pem(key_path, key, true, 0600, err));
	VT_GUARD(save_cert(cert_path, cert, err));
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Key and certificate from disk; the certificate must carry the key's public half. */
static vt_status load_pair(const char *key_path, const char *cert_path, EVP_PKEY **key_out, X509 **cert_out,
			   struct vt_err *err)
{
	vt_status rc;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	VT_GUARD(vt_key_load_pem(key_path, true, &key, err));
	VT_GUARD(vt_x509_load(cert_path, &cert, err));
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, cert_path, "certificate does not match %s", key_path);
		goto out;
	}
	*key_out = key;
	*cert_out = cert;
	key = NULL;
	cert = NULL;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

vt_status vt_sim_ensure_keys(const char *dir, struct vt_err *err)
{
	vt_status rc;
	char root_key[PATH_MAX], root_pem[PATH_MAX], plat_key[PATH_MAX], plat_pem[PATH_MAX], lock[PATH_MAX];
	EVP_PKEY *rkey = NULL;
	X509 *rcert = NULL;
	int lock_fd = -1;

	if (dir == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "dir", "no sim key directory");
	VT_GUARD(join(dir, VT_SIM_ROOT_KEY_FILE, root_key, err));
	VT_GUARD(join(dir, VT_SIM_ROOT_CERT_FILE, root_pem, err));
	VT_GUARD(join(dir, VT_SIM_PLATFORM_KEY_FILE, plat_key, err));
	VT_GUARD(join(dir, VT_SIM_PLATFORM_CERT_FILE, plat_pem, err));
	VT_GUARD(join(dir, ".lock", lock, err));
	VT_GUARD(make_dir(dir, err));

	/* Fast path, no lock needed: everything is there. */
	if (exists(root_key) && exists(root_pem) && exists(plat_key) && exists(plat_pem))
		return VT_OK;

	/* Serialize first use between processes so key and certificate files
	 * always belong together.  Every file itself is written atomically. */
	lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		rc = vt_fail(err, VT_E_IO, VT_STEP_IO, lock, "cannot open lock file: %s", strerror(errno));
		goto out;
	}
	while (flock(lock_fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			rc = vt_fail(err, VT_E_IO, VT_STEP_IO, lock, "cannot lock: %s", strerror(errno));
			goto out;
		}
	}

	/* A root half (key without cert or the reverse) cannot be repaired:
	 * make a new root, and then a new platform certified by it. */
	bool new_root = !exists(root_key) || !exists(root_pem);
	if (new_root)
		VT_GUARD(create_pair(root_key, root_pem, SIM_ROOT_CN, NULL, NULL, err));
	if (new_root || !exists(plat_key) || !exists(plat_pem)) {
		VT_GUARD(load_pair(root_key, root_pem, &rkey, &rcert, err));
		VT_GUARD(create_pair(plat_key, plat_pem, SIM_PLATFORM_CN, rcert, rkey, err));
	}
	rc = VT_OK;
out:
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	X509_free(rcert);
	EVP_PKEY_free(rkey);
	return rc;
}

/* ------------------------------------------------------------ key cache */

/* The last platform pair loaded, so an attesting process does not parse
 * PEM for every report (a real TEE keeps its key in hardware).  Reloaded
 * when either file is replaced (inode or mtime changes). */
static struct {
	char key_path[PATH_MAX];
	struct stat key_st, cert_st;
	EVP_PKEY *key;
	X509 *cert;
} pair_cache;
static pthread_mutex_t pair_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_size == b->st_size;
}

static vt_status load_pair_cached(const char *key_path, const char *cert_path, EVP_PKEY **key_out, X509 **cert_out,
				  struct vt_err *err)
{
	struct stat ks, cs;
	if (stat(key_path, &ks) != 0 || stat(cert_path, &cs) != 0)
		return load_pair(key_path, cert_path, key_out, cert_out, err); /* reports the error */
	vt_status rc = VT_OK;
	pthread_mutex_lock(&pair_cache_lock);
	if (pair_cache.key == NULL || strcmp(pair_cache.key_path, key_path) != 0 || !same_file(&pair_cache.key_st, &ks) ||
	    !same_file(&pair_cache.cert_st, &cs)) {
		EVP_PKEY *k = NULL;
		X509 *c = NULL;
		rc = load_pair(key_path, cert_path, &k, &c, err);
		if (rc == VT_OK) {
			EVP_PKEY_free(pair_cache.key);
			X509_free(pair_cache.cert);
			pair_cache.key = k;
			pair_cache.cert = c;
			pair_cache.key_st = ks;
			pair_cache.cert_st = cs;
			snprintf(pair_cache.key_path, sizeof(pair_cache.key_path), "%s", key_path);
		}
	}
	if (rc == VT_OK) {
		EVP_PKEY_up_ref(pair_cache.key);
		X509_up_ref(pair_cache.cert);
		*key_out = pair_cache.key;
		*cert_out = pair_cache.cert;
	}
	pthread_mutex_unlock(&pair_cache_lock);
	return rc;
}

/* ------------------------------------------------------------------ report */

vt_status vt_sim_attest(const char *dir, const struct vt_sim_attest_opts *opts, const uint8_t report_data[64],
			json_t **evidence_out, struct vt_err *err)
{
	vt_status rc;
	char key_path[PATH_MAX], pem_path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	char *report_b64 = NULL, *cert_b64 = NULL;
	struct vt_sim_report rep;
	uint8_t buf[VT_SIM_REPORT_V2_SIZE];

	struct vt_sim_attest_opts defaults;
	if (dir == NULL || report_data == NULL || evidence_out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "", "missing argument");
	if (opts == NULL) {
		vt_sim_attest_opts_default(&defaults);
		opts = &defaults;
	}
	VT_GUARD(vt_sim_ensure_keys(dir, err));
	VT_GUARD(join(dir, VT_SIM_PLATFORM_KEY_FILE, key_path, err));
	VT_GUARD(join(dir, VT_SIM_PLATFORM_CERT_FILE, pem_path, err));
	VT_GUARD(load_pair_cached(key_path, pem_path, &key, &cert, err));

	memset(&rep, 0, sizeof(rep));
	rep.version = opts->has_init_data ? VT_SIM_VERSION_2 : VT_SIM_VERSION;
	if (opts->has_init_data)
		memcpy(rep.init_data, opts->init_data, sizeof(rep.init_data));
	const size_t size = vt_sim_report_size(rep.version), signed_size = vt_sim_signed_size(rep.version);
	rep.flags = opts->debug ? VT_SIM_FLAG_DEBUG : 0;
	rep.svn = opts->svn;
	memcpy(rep.measurement, opts->measurement, sizeof(rep.measurement));
	memcpy(rep.report_data, report_data, sizeof(rep.report_data));
	VT_GUARD(vt_sim_platform_id(cert, rep.platform_id, err));
	vt_sim_report_serialize(&rep, buf);

	size_t sig_size = sizeof(rep.signature);
	VT_GUARD(vt_ecdsa_sign_raw(key, EVP_sha384(), buf, signed_size, buf + signed_size, &sig_size,
				   err));
	if (sig_size != sizeof(rep.signature)) {
		rc = vt_fail(err, VT_E_INTERNAL, VT_STEP_CRYPTO, "report.signature", "signature is %zu bytes, want %zu",
			     sig_size, sizeof(rep.signature));
		goto out;
	}

	int der_size = i2d_X509(cert, &der);
	if (der_size <= 0) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CRYPTO, "platform_cert", "cannot encode certificate");
		goto out;
	}
	report_b64 = vt_b64_encode(buf, size);
	cert_b64 = vt_b64_encode(der, (size_t)der_size);
	json_t *ev = report_b64 && cert_b64
			     ? json_pack("{s:s, s:s}", "report", report_b64, "platform_cert", cert_b64)
			     : NULL;
	if (ev == NULL) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
		goto out;
	}
	*evidence_out = ev;
	rc = VT_OK;
out:
	free(report_b64);
	free(cert_b64);
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key); /* EVP_PKEY_free clears the private scalar */
	return rc;
}

/* The attester table's entry: options sim_dir, measurement (48 bytes hex),
 * svn, debug. */
static vt_status sim_attest_json(const json_t *o, const uint8_t report_data[64], json_t **evidence_out,
				 struct vt_err *err)
{
	struct vt_sim_attest_opts so;
	vt_sim_attest_opts_default(&so);
	const char *m = json_string_value(json_object_get(o, "measurement"));
	if (m && vt_hex_decode_fixed(m, so.measurement, sizeof(so.measurement), err) != VT_OK)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "measurement", "measurement must be 48 bytes of hex");
	const char *svn = json_string_value(json_object_get(o, "svn"));
	if (svn) {
		char *end = NULL;
		unsigned long v = strtoul(svn, &end, 10);
		if (end == svn || *end != '\0' || v > UINT32_MAX)
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "svn", "svn must be a number");
		so.svn = (uint32_t)v;
	}
	so.debug = json_is_true(json_object_get(o, "debug"));
	const char *idata = json_string_value(json_object_get(o, "init_data_digest"));
	if (idata) {
		uint8_t *bytes = NULL;
		size_t n = 0;
		if (vt_hex_decode(idata, &bytes, &n, NULL) != VT_OK || n == 0 || n > sizeof(so.init_data)) {
			free(bytes);
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "init_data_digest",
				       "init_data_digest must be 1 to 48 bytes of hex");
		}
		memcpy(so.init_data, bytes, n); /* zero-padded, as SNP HOST_DATA / TDX MRCONFIGID */
		so.has_init_data = true;
		free(bytes);
	}
	const char *d = json_string_value(json_object_get(o, "sim_dir"));
	char *dir = d ? strdup(d) : vt_sim_default_dir();
	if (dir == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_status rc = vt_sim_attest(dir, &so, report_data, evidence_out, err);
	free(dir);
	return rc;
}

static const struct vt_tee_option sim_attest_options[] = {
	{"sim_dir", "DIR", true, "sim key directory (default $VERITEE_SIM_DIR or ~/.local/share/veritee/sim)"},
	{"measurement", "HEX", false, "48-byte workload measurement (default: the demo workload)"},
	{"svn", "N", false, "security version (default 1)"},
	{"debug", NULL, false, "mark the TEE as debuggable"},
	{"init_data_digest", "HEX", false, "init-data digest the simulated workload launched with (report version 2)"},
	{NULL, NULL, false, NULL},
};

const struct vt_attester vt_attester_sim = {
	.name = "sim",
	.insecure = true,
	.summary = "INSECURE simulated TEE, works anywhere (signed by a local key)",
	.options = sim_attest_options,
	.attest = sim_attest_json,
};
