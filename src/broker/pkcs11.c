/*
 * Broker keys behind PKCS#11, through libp11's OpenSSL engine (pkcs11.h).
 *
 * The ENGINE API is deprecated in OpenSSL 3 and this is the one file that
 * uses it: Debian 12 has no PKCS#11 provider, and OSSL_STORE cannot open
 * "pkcs11:" URIs without one (docs/decisions.md, "PKCS#11 through libp11's
 * engine").  The engine is a run-time plugin (ENGINE_by_id finds
 * engines-3/pkcs11.so); nothing links against it.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#include "broker/pkcs11.h"
#include "veritee/crypto.h"

#define ENGINE_PACKAGE "libengine-pkcs11-openssl"

bool vt_pkcs11_is_uri(const char *s)
{
	return s != NULL && strncmp(s, "pkcs11:", 7) == 0;
}

/* The last OpenSSL error's text (or ""), and the queue cleared. */
static void ossl_reason(char *buf, size_t n)
{
	buf[0] = '\0';
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
}

/* An attribute of the URI's path or query ("name=" after ':', ';', '?' or '&'). */
static bool uri_has(const char *uri, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = uri + 7; *p; p++)
		if ((p == uri + 7 || p[-1] == ';' || p[-1] == '?' || p[-1] == '&') && strncmp(p, name, n) == 0)
			return true;
	return false;
}

/* A UI that never prompts: with no PIN, libp11 would ask on the terminal. */
static int ui_refuse(UI *ui, UI_STRING *uis)
{
	(void)ui;
	(void)uis;
	return 0;
}

vt_status vt_pkcs11_load_key(const char *module, const char *uri, const char *field, EVP_PKEY **out,
			     struct vt_err *err)
{
	*out = NULL;
	if (!vt_pkcs11_is_uri(uri))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "not a PKCS#11 URI (\"pkcs11:...\")");
	if (uri_has(uri, "pin-value="))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field,
			       "the URI holds the PIN (pin-value): use pin-source=file:PATH (a 0600 file) or the "
			       "environment variable " VT_PKCS11_PIN_ENV " instead");
	const char *pin = getenv(VT_PKCS11_PIN_ENV);
	if (pin != NULL && pin[0] == '\0')
		pin = NULL;
	if (pin == NULL && !uri_has(uri, "pin-source="))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field,
			       "no PIN for the token: set " VT_PKCS11_PIN_ENV " or add pin-source=file:PATH to the URI");
	if (module == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pkcs11_module",
			       "a pkcs11: key needs \"pkcs11_module\": the token's PKCS#11 module, e.g. "
			       "/usr/lib/softhsm/libsofthsm2.so (Debian package softhsm2)");
	if (access(module, R_OK) != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pkcs11_module",
			       "PKCS#11 module %s: %s (SoftHSM 2's is /usr/lib/softhsm/libsofthsm2.so, Debian package "
			       "softhsm2)",
			       module, strerror(errno));
	ENGINE *e = ENGINE_by_id("pkcs11");
	if (e == NULL) {
		ERR_clear_error();
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field,
			       "the OpenSSL engine \"pkcs11\" (libp11) is not installed: apt install " ENGINE_PACKAGE);
	}
	vt_status rc = VT_OK;
	UI_METHOD *ui = UI_create_method("veritee: no PIN prompt");
	char reason[256];
	bool inited = false;
	if (ui == NULL || UI_method_set_reader(ui, ui_refuse) != 0) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, field, "out of memory");
		goto out;
	}
	if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) != 1 ||
	    (pin != NULL && ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) != 1)) {
		ossl_reason(reason, sizeof(reason));
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "cannot configure the pkcs11 engine%s%s",
			     reason[0] ? ": " : "", reason);
		goto out;
	}
	if (ENGINE_init(e) != 1) {
		ossl_reason(reason, sizeof(reason));
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "pkcs11_module",
			     "cannot load PKCS#11 module %s through the pkcs11 engine%s%s", module, reason[0] ? ": " : "",
			     reason);
		goto out;
	}
	inited = true;
	*out = ENGINE_load_private_key(e, uri, ui, NULL);
	if (*out == NULL) {
		ossl_reason(reason, sizeof(reason));
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field,
			     "cannot open the private key %s: no such token or object, or a wrong PIN%s%s", uri,
			     reason[0] ? "; OpenSSL: " : "", reason);
	}
out:
	if (inited)
		ENGINE_finish(e); /* the key holds its own reference */
	ENGINE_free(e);
	UI_destroy_method(ui);
	return rc;
}

/* RSA-OAEP with SHA-256 for label and MGF1. */
static bool oaep_setup(EVP_PKEY_CTX *ctx)
{
	return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0;
}

static vt_status load_rsa(const char *module, const char *uri, EVP_PKEY **key, struct vt_err *err)
{
	vt_status rc = vt_pkcs11_load_key(module, uri, "master_key_wrapping_key", key, err);
	if (rc != VT_OK)
		return rc;
	if (EVP_PKEY_get_base_id(*key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(*key) < 2048) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key_wrapping_key",
			       "%s: the wrapping key must be RSA (2048 bits or more)", uri);
	}
	return VT_OK;
}

vt_status vt_pkcs11_master_key_unwrap(const char *module, const char *uri, const char *path, struct vt_secret **out,
				      struct vt_err *err)
{
	*out = NULL;
	struct vt_err e2 = {0};
	vt_status rc = vt_file_check_private(path, &e2);
	if (rc != VT_OK && rc != VT_E_NOTFOUND && err)
		*err = e2;
	if (rc == VT_E_NOTFOUND)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key",
			       "%s does not exist: with master_key_wrapping_key the broker does not create the master "
			       "key; make it with `veritee admin wrap-master-key` (docs/broker.md, \"Keys in an HSM\")",
			       path);
	if (rc != VT_OK)
		return rc;
	uint8_t *wrapped = NULL;
	size_t wn = 0;
	if ((rc = vt_file_read(path, 4096, &wrapped, &wn, err)) != VT_OK)
		return rc;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	struct vt_secret *plain = NULL;
	if (wn == 32) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key",
			     "%s holds an unwrapped 32-byte key but master_key_wrapping_key is set: wrap it with "
			     "`veritee admin wrap-master-key --in %s --out NEWFILE`",
			     path, path);
		goto out;
	}
	if ((rc = load_rsa(module, uri, &key, err)) != VT_OK)
		goto out;
	size_t pn = (size_t)EVP_PKEY_get_size(key);
	if (wn != pn) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key",
			     "%s has %zu bytes, not a key wrapped to %s (%zu bytes)", path, wn, uri, pn);
		goto out;
	}
	plain = vt_secret_new(pn);
	ctx = EVP_PKEY_CTX_new(key, NULL);
	if (plain == NULL || ctx == NULL || EVP_PKEY_decrypt_init(ctx) != 1 || !oaep_setup(ctx) ||
	    EVP_PKEY_decrypt(ctx, plain->data, &pn, wrapped, wn) != 1 || pn != 32) {
		char reason[256];
		ossl_reason(reason, sizeof(reason));
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key",
			     "cannot unwrap %s with %s (wrapped to another key?)%s%s", path, uri, reason[0] ? ": " : "",
			     reason);
		goto out;
	}
	*out = vt_secret_from(plain->data, 32);
	if (*out == NULL)
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, "", "out of memory");
out:
	vt_secret_free(plain);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	free(wrapped); /* ciphertext: not secret */
	return rc;
}

vt_status vt_pkcs11_master_key_wrap(const char *module, const char *uri, const struct vt_secret *mk,
				    const char *path, struct vt_err *err)
{
	if (mk == NULL || mk->len != 32)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "master_key", "the master key must be 32 bytes");
	EVP_PKEY *key = NULL, *pub = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *wrapped = NULL;
	vt_status rc = load_rsa(module, uri, &key, err);
	if (rc != VT_OK)
		return rc;
	if ((pub = vt_key_public_copy(key)) == NULL) {
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "master_key_wrapping_key", "cannot read the public key of %s",
			     uri);
		goto out;
	}
	size_t wn = (size_t)EVP_PKEY_get_size(pub);
	wrapped = malloc(wn);
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	if (wrapped == NULL || ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 || !oaep_setup(ctx) ||
	    EVP_PKEY_encrypt(ctx, wrapped, &wn, mk->data, mk->len) != 1) {
		ERR_clear_error();
		rc = vt_fail(err, VT_E_CRYPTO, VT_STEP_CONFIG, "master_key", "cannot wrap the master key to %s", uri);
		goto out;
	}
	/* O_EXCL: never overwrite a master key (the data sealed with it would be lost). */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "out", "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	ssize_t w = write(fd, wrapped, wn);
	int sync_rc = fsync(fd);
	close(fd);
	if (w < 0 || (size_t)w != wn || sync_rc != 0) {
		unlink(path);
		rc = vt_fail(err, VT_E_IO, VT_STEP_CONFIG, "out", "cannot write %s", path);
	}
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
	free(wrapped);
	return rc;
}
