/*
 * Configuration checks with no side effect (`veritee serve --check-config`)
 * and the warnings `veritee serve` prints at start.  The checks mirror what
 * vt_broker_new and vt_broker_start do, but create nothing and listen on
 * nothing: a key or database file that does not exist yet only has to be
 * creatable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "broker/broker_internal.h"
#include "broker/pkcs11.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/util.h"
#include "veritee/verifier.h"

#define VT_TRY(expr)                   \
	do {                           \
		vt_status rc_ = (expr); \
		if (rc_ != VT_OK)      \
			return rc_;    \
	} while (0)

/* The same test as vt_broker_start's (server.c). */
static bool is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* Where notes go (vt_broker_config_check's warn). */
struct notes {
	void (*warn)(void *ctx, const char *text);
	void *ctx;
};

/* A regular file that exists (*exists), or one that can be created: its
 * directory exists and this user may write there.  A directory that is not
 * there yet but could be made (a service manager makes state directories:
 * systemd's StateDirectory=) is a note, not an error. */
static vt_status file_or_creatable(const struct notes *nt, const char *path, const char *field, bool *exists,
				   struct vt_err *err)
{
	struct stat st;
	*exists = false;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "%s is not a regular file", path);
		*exists = true;
		return VT_OK;
	}
	if (errno != ENOENT)
		return vt_fail(err, VT_E_IO, VT_STEP_CONFIG, field, "%s: %s", path, strerror(errno));
	char *copy = strdup(path);
	if (copy == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, field, "out of memory");
	const char *dir = dirname(copy);
	vt_status rc = VT_OK;
	if (access(dir, W_OK | X_OK) != 0) {
		int e = errno;
		char *up = e == ENOENT ? strdup(dir) : NULL;
		if (up && access(dirname(up), W_OK | X_OK) == 0) {
			char msg[PATH_MAX + 160];
			snprintf(msg, sizeof(msg),
				 "%s: directory %s does not exist yet; the broker does not make it (under systemd, "
				 "StateDirectory= does)",
				 field, dir);
			if (nt && nt->warn)
				nt->warn(nt->ctx, msg);
		} else {
			rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field,
				     "%s does not exist and cannot be created: directory %s: %s", path, dir, strerror(e));
		}
		free(up);
	}
	free(copy);
	return rc;
}

static vt_status check_listen(const struct vt_broker_config *c, struct vt_err *err)
{
	const char *host = c->listen_host ? c->listen_host : "127.0.0.1";
	uint8_t addr[16];
	if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "listen", "listen host must be an IP address, got \"%.64s\"",
			       host);
	if (c->tls_cert == NULL && !is_loopback(host) && !c->insecure_http)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "listen",
			       "refusing plain HTTP on non-loopback address %s: configure tls_cert/tls_key "
			       "(or set insecure_http, which exposes tokens and sessions to the network)",
			       host);
	return VT_OK;
}

/* The certificate and key parse, belong together, and the certificate is
 * valid now. */
static vt_status check_tls(const struct vt_broker_config *c, struct vt_err *err)
{
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_cert", "set both tls_cert and tls_key, or neither");
	if (c->tls_cert == NULL)
		return VT_OK;
	VT_TRY(vt_file_check_private(c->tls_key, err));
	vt_status rc = VT_OK;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	BIO *bc = BIO_new_file(c->tls_cert, "r"), *bk = BIO_new_file(c->tls_key, "r");
	if (bc == NULL || (cert = PEM_read_bio_X509(bc, NULL, NULL, NULL)) == NULL) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_cert", "%s: not a readable PEM certificate", c->tls_cert);
		goto out;
	}
	if (bk == NULL || (key = PEM_read_bio_PrivateKey(bk, NULL, NULL, NULL)) == NULL) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_key", "%s: not a readable PEM private key", c->tls_key);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_key", "%s is not the key of the certificate %s", c->tls_key,
			     c->tls_cert);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_cert", "%s has expired", c->tls_cert);
	else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tls_cert", "%s is not valid yet", c->tls_cert);
out:
	BIO_free(bc);
	BIO_free(bk);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Master key, token-signing key and database: present and right, or
 * creatable at first start. */
static vt_status check_files(const struct notes *nt, const struct vt_broker_config *c, struct vt_err *err)
{
	if (c->db_path == NULL || c->master_key_path == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, c->db_path ? "master_key" : "database",
			       "the broker needs \"database\" and \"master_key\" paths");
	bool exists = false;
	if (c->master_key_wrapping_key) { /* in an HSM: the wrapped key must be there and unwrap */
		struct vt_secret *mk = NULL;
		VT_TRY(vt_pkcs11_master_key_unwrap(c->pkcs11_module, c->master_key_wrapping_key, c->master_key_path, &mk,
						   err));
		vt_secret_free(mk);
	} else {
		VT_TRY(file_or_creatable(nt, c->master_key_path, "master_key", &exists, err));
	}
	if (exists) {
		struct vt_secret *mk = NULL;
		VT_TRY(vt_master_key_load(c->master_key_path, &mk, err));
		vt_secret_free(mk);
	}
	if (vt_pkcs11_is_uri(c->token_key_path)) { /* in an HSM: it opens, and is P-256 */
		EVP_PKEY *k = NULL;
		VT_TRY(vt_pkcs11_load_key(c->pkcs11_module, c->token_key_path, "token_signing_key", &k, err));
		bool p256 = EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && vt_ec_coord_size(k) == 32;
		EVP_PKEY_free(k);
		if (!p256)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "token_signing_key",
				       "%s: the token-signing key must be EC P-256", c->token_key_path);
	} else if (c->token_key_path) {
		VT_TRY(file_or_creatable(nt, c->token_key_path, "token_signing_key", &exists, err));
		if (exists) {
			EVP_PKEY *k = NULL;
			VT_TRY(vt_file_check_private(c->token_key_path, err));
			VT_TRY(vt_key_load_pem(c->token_key_path, true, &k, err));
			bool p256 = vt_ec_coord_size(k) == 32;
			EVP_PKEY_free(k);
			if (!p256)
				return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, c->token_key_path,
					       "token signing key must be EC P-256");
		}
	}
	/* A database URI (PostgreSQL) is checked when the broker connects. */
	if (strstr(c->db_path, "://") == NULL) {
		VT_TRY(file_or_creatable(nt, c->db_path, "database", &exists, err));
		if (exists && access(c->db_path, R_OK | W_OK) != 0)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "database", "%s: %s", c->db_path, strerror(errno));
	}
	if (c->tpm_ek_roots && access(c->tpm_ek_roots, R_OK) != 0)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "tpm_ek_roots", "%s: %s", c->tpm_ek_roots, strerror(errno));
	return VT_OK;
}

/* The verifier the broker would build (trust anchors, collateral files),
 * without its network transport; with `flags` VT_VERIFIER_ONLY_NAMED, one
 * of the TEEs the config names only, each of which must build (the broker
 * leaves out, silently, one whose state says "not configured", e.g. sim
 * with a root file that is not there). */
static vt_status build_verifier(const struct vt_broker_config *c, unsigned flags, struct vt_verifier **out,
				struct vt_err *err)
{
	json_t *tees = NULL, *common = NULL;
	vt_status rc = vt_broker_config_tees(c, &tees, &common, err);
	if (rc == VT_OK) {
		struct vt_verifier_settings vs = {.tees = tees, .common = common, .flags = flags};
		rc = vt_verifier_new(&vs, out, err);
	}
	json_decref(tees);
	json_decref(common);
	return rc;
}

/* The declaration of option `name` of TEE t or of a TEE it uses. */
static const struct vt_tee_option *tee_option(const struct vt_tee *t, const char *name)
{
	for (const struct vt_tee_option *o = t->options; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	for (const struct vt_tee *const *u = t->uses; u && *u; u++) {
		const struct vt_tee_option *o = tee_option(*u, name);
		if (o)
			return o;
	}
	return NULL;
}

/* Every path a TEE option names: there (a TEE may read it only when
 * evidence comes), or for a cache directory, creatable. */
static vt_status check_tee_paths(const struct notes *nt, const struct vt_broker_config *c, struct vt_err *err)
{
	json_t *tees = NULL, *common = NULL;
	vt_status rc = vt_broker_config_tees(c, &tees, &common, err);
	const char *name;
	json_t *block;
	json_object_foreach(tees, name, block) {
		const struct vt_tee *t = vt_tee_find(name);
		const char *opt;
		json_t *val;
		if (t == NULL || !json_is_object(block))
			continue; /* the verifier names it */
		json_object_foreach(block, opt, val) {
			const struct vt_tee_option *o = tee_option(t, opt);
			if (rc != VT_OK || o == NULL || !o->is_path || !json_is_string(val))
				continue;
			const char *path = json_string_value(val);
			bool exists = false;
			char field[96];
			snprintf(field, sizeof(field), "tees.%s.%s", name, opt);
			if (o->metavar && strcmp(o->metavar, "DIR") == 0)
				rc = access(path, F_OK) == 0 ? VT_OK : file_or_creatable(nt, path, field, &exists, err);
			else if (access(path, R_OK) != 0)
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, field, "%s: %s", path, strerror(errno));
		}
	}
	const char *cache = vt_tee_opt_str(common, "cache");
	bool exists = false;
	if (rc == VT_OK && cache && access(cache, F_OK) != 0)
		rc = file_or_creatable(nt, cache, "collateral_cache", &exists, err);
	json_decref(tees);
	json_decref(common);
	return rc;
}

vt_status vt_broker_config_check(const struct vt_broker_config *c, void (*warn)(void *ctx, const char *text),
				 void *ctx, struct vt_err *err)
{
	const struct notes nt = {warn, ctx};
	VT_TRY(check_listen(c, err));
	VT_TRY(check_tls(c, err));
	for (size_t i = 0; i < c->admin_key_count; i++) {
		EVP_PKEY *k = NULL;
		VT_TRY(vt_key_load_pem(c->admin_keys[i], false, &k, err));
		EVP_PKEY_free(k);
	}
	struct vt_verifier *v = NULL;
	VT_TRY(build_verifier(c, 0, &v, err));
	vt_verifier_free(v);
	v = NULL;
	VT_TRY(build_verifier(c, VT_VERIFIER_ONLY_NAMED, &v, err));
	vt_verifier_free(v);
	VT_TRY(check_tee_paths(&nt, c, err));
	return check_files(&nt, c, err);
}

size_t vt_broker_config_warnings(const struct vt_broker_config *c, void (*warn)(void *ctx, const char *text),
				 void *ctx)
{
	size_t n = 0;
	char msg[512];
	if (c->admin_key_count == 0) {
		warn(ctx, "no admin key is configured (\"admin_public_keys\"): the admin API refuses every request, so "
			  "resources, policies and reference values cannot be changed through it; create one with "
			  "`veritee admin keygen KEYFILE`");
		n++;
	}
	const char *host = c->listen_host ? c->listen_host : "127.0.0.1";
	struct vt_verifier *v = NULL;
	if (!is_loopback(host) && build_verifier(c, 0, &v, NULL) == VT_OK) {
		char names[128] = "";
		for (size_t i = 0; vt_tee_at(i) != NULL; i++) {
			const struct vt_tee *t = vt_tee_at(i);
			size_t o = strlen(names);
			if ((t->flags & VT_TEE_INSECURE) && vt_verifier_accepts(v, t))
				snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "", t->name);
		}
		if (names[0]) {
			snprintf(msg, sizeof(msg),
				 "INSECURE simulated evidence (%s) is accepted on the non-loopback address %s: whoever "
				 "reaches it with the sim key gets the secrets its policies release; remove \"tees\": "
				 "{\"sim\": ...} (and insecure_sim_root) outside a test machine",
				 names, host);
			warn(ctx, msg);
			n++;
		}
	}
	vt_verifier_free(v);
	return n;
}
