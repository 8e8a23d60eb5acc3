/*
 * veritee/client.h — KBS client: the RCAR flow (auth -> attest -> resource),
 * as the Confidential Containers guest does it.
 */
#ifndef VERITEE_CLIENT_H
#define VERITEE_CLIENT_H

#include <stdbool.h>

#include "veritee/attester.h"
#include "veritee/err.h"
#include "veritee/util.h"

struct vt_ratls_verify_opts;

struct vt_client_opts {
	const char *url;              /* "http://127.0.0.1:8080" (no trailing /kbs/v0) */
	const char *tee;              /* "sim", ... */
	const char *cacert;           /* PEM CA bundle for HTTPS, NULL: system */
	bool rsa;                     /* TEE key RSA-3072/RSA-OAEP-256 instead of P-256/ECDH-ES+A256KW */
	struct vt_attest_opts attest;
	const json_t *attest_options; /* the attester's options (vt_attest_with); when set, `attest` is unused */
	long timeout_ms;              /* per request, 0 = 30 s */
	/* init-data TOML to send (kbs-protocol.md §5.4), NULL = none.  An
	 * attester with an "init_data_digest" option (sim) gets its digest, as if the
	 * workload had launched with it. */
	const char *init_data;
	/* Device evidence (composite, §14): {"<device tee>": {attester options}}
	 * gathered by those attesters and sent as additional_evidence; NULL =
	 * none. */
	const json_t *devices;
	const char *policy_selector;  /* extra-params attestation-policy-selector, NULL = none */
	/* Attested TLS (veritee/ratls.h): the broker's certificate must be an
	 * RA-TLS certificate these options accept, instead of one a CA signed
	 * (cacert is then unused; HTTPS only).  NULL = CA verification. */
	const struct vt_ratls_verify_opts *ratls;
};

/* What the broker said when it refused (KBS ErrorInformation). */
struct vt_client_refusal {
	int http_status;              /* 0 if no HTTP answer */
	char type[128];               /* variant, e.g. "PolicyDeny" */
	char detail[4096];
	char stage[16];               /* "auth", "attest", "resource" */
};

/*
 * Run the whole flow and return the released secret (to vt_secret_free).
 * On refusal: VT_E_REJECTED / VT_E_POLICY / VT_E_AUTH with `refusal` filled.
 * `token_out` (optional) receives the EAR (malloc'd).
 */
VT_API VT_MUST_USE vt_status vt_client_get_resource(const struct vt_client_opts *opts, const char *resource_path,
						    struct vt_secret **secret_out, char **token_out,
						    struct vt_client_refusal *refusal, struct vt_err *err);

/* One plain request for admin tools: method, path under the URL, optional
 * bearer token and body.  *status_out and *body_out (malloc'd) returned. */
VT_API VT_MUST_USE vt_status vt_client_request(const char *url, const char *cacert, const char *method,
					       const char *path, const char *bearer, const void *body, size_t body_size,
					       const char *content_type, int *status_out, char **body_out,
					       struct vt_err *err);

#endif
