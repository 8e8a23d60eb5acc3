/* A roots file or directory split into anchors and intermediates
 * (crypto/x509_roots.h). */
#include "crypto/x509_roots.h"

#include <stdlib.h>

#include <openssl/err.h>

#include "veritee/crypto.h"

struct vt_x509_roots {
	STACK_OF(X509) *certs;         /* every certificate read; owns them */
	STACK_OF(X509) *intermediates; /* the ones not self-signed, borrowed from certs */
	X509_STORE *anchors;           /* the self-signed ones */
	size_t n_anchors;
};

void vt_x509_roots_free(struct vt_x509_roots *r)
{
	if (r == NULL)
		return;
	X509_STORE_free(r->anchors);
	sk_X509_free(r->intermediates);
	sk_X509_pop_free(r->certs, X509_free);
	free(r);
}

size_t vt_x509_roots_anchors(const struct vt_x509_roots *r)
{
	return r ? r->n_anchors : 0;
}

vt_status vt_x509_roots_load(const char *path, const char *field, struct vt_x509_roots **out, struct vt_err *err)
{
	*out = NULL;
	struct vt_x509_roots *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->certs = sk_X509_new_null()) == NULL || (r->intermediates = sk_X509_new_null()) == NULL ||
	    (r->anchors = X509_STORE_new()) == NULL) {
		vt_x509_roots_free(r);
		return vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, field, "out of memory");
	}
	vt_status rc = vt_x509_load_all(path, field, r->certs, err);
	for (int i = 0; rc == VT_OK && i < sk_X509_num(r->certs); i++) {
		X509 *c = sk_X509_value(r->certs, i);
		if (X509_self_signed(c, 0) == 1) {
			if (X509_STORE_add_cert(r->anchors, c) != 1)
				ERR_clear_error(); /* a duplicate */
			r->n_anchors++;
		} else if (!sk_X509_push(r->intermediates, c)) {
			rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CONFIG, field, "out of memory");
		}
	}
	ERR_clear_error(); /* X509_self_signed on a certificate it cannot check */
	if (rc != VT_OK) {
		vt_x509_roots_free(r);
		return rc;
	}
	*out = r;
	return VT_OK;
}

vt_status vt_x509_roots_verify(const struct vt_x509_roots *r, X509 *leaf, STACK_OF(X509) *extra, int64_t now,
			       int depth, X509_STORE_CTX_verify_cb cb, const char *field, const char *what,
			       const char *to, struct vt_err *err)
{
	vt_status rc = VT_OK;
	STACK_OF(X509) *untrusted = sk_X509_dup(r->intermediates);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	for (int i = 0; untrusted != NULL && i < sk_X509_num(extra); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(extra, i))) {
			sk_X509_free(untrusted);
			untrusted = NULL;
		}
	if (untrusted == NULL || ctx == NULL || X509_STORE_CTX_init(ctx, r->anchors, leaf, untrusted) != 1) {
		rc = vt_fail(err, VT_E_NOMEM, VT_STEP_CHAIN, field, "out of memory");
		goto out;
	}
	if (cb != NULL)
		X509_STORE_CTX_set_verify_cb(ctx, cb);
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, (time_t)now);
	X509_VERIFY_PARAM_set_depth(vp, depth);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		rc = vt_fail(err, VT_E_REJECTED, VT_STEP_CHAIN, field, "%s does not chain to %s: %s (depth %d)", what, to,
			     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	return rc;
}
