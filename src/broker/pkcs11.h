/*
 * Broker keys in an HSM through PKCS#11 (docs/broker.md, "Keys in an HSM";
 * docs/decisions.md, "PKCS#11 through libp11's engine").  Keys are named by
 * RFC 7512 "pkcs11:" URIs and opened through libp11's OpenSSL engine
 * ("pkcs11", Debian package libengine-pkcs11-openssl), loaded at run time:
 * nothing here needs it at link time.  The PIN comes from the URI's
 * pin-source=file:PATH or the environment variable VERITEE_PKCS11_PIN; a
 * pin-value in the URI is refused (URIs appear in configs and logs).
 */
#ifndef VT_BROKER_PKCS11_H
#define VT_BROKER_PKCS11_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "veritee/err.h"
#include "veritee/util.h"

/* The environment variable holding the token's user PIN. */
#define VT_PKCS11_PIN_ENV "VERITEE_PKCS11_PIN"

/* Whether s is a PKCS#11 URI ("pkcs11:..."). */
bool vt_pkcs11_is_uri(const char *s);

/*
 * The private key `uri` names, in the token of PKCS#11 module `module` (a
 * shared object path), as an EVP_PKEY whose private operations run in the
 * token (EVP_PKEY_free).  `field` names the config member in errors.  Only
 * opens: never creates a key.  Errors are VT_E_USAGE, step config.
 */
VT_MUST_USE vt_status vt_pkcs11_load_key(const char *module, const char *uri, const char *field, EVP_PKEY **out,
					 struct vt_err *err);

/*
 * The broker's master key wrapped to an RSA key in the token: the file
 * `path` holds the 32-byte key encrypted with RSA-OAEP (SHA-256, MGF1
 * SHA-256) to the key `uri` names; it is decrypted in the token into *out.
 * A file of exactly 32 bytes (an unwrapped key) is refused.
 */
VT_MUST_USE vt_status vt_pkcs11_master_key_unwrap(const char *module, const char *uri, const char *path,
						  struct vt_secret **out, struct vt_err *err);

/* Encrypt `key` (32 bytes) to the RSA key `uri` names (its public half) and
 * write the result to `path` (0600; refuses to overwrite). */
VT_MUST_USE vt_status vt_pkcs11_master_key_wrap(const char *module, const char *uri, const struct vt_secret *key,
						const char *path, struct vt_err *err);

#endif
