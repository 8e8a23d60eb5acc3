/* Shared pieces of the `veritee` command. Exit codes: 0 ok / verified,
 * 1 rejected or denied, 2 usage or internal error. */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "veritee/err.h"

#define CLI_OK 0
#define CLI_REJECTED 1
#define CLI_ERROR 2

int cmd_attest(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_get_resource(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_tpm_enroll(int argc, char **argv);

/* Print "veritee <cmd>: <error>" to stderr. */
void cli_err(const char *cmd, const struct vt_err *e);

/* Exit code for a failed vt_status: rejections 1, the rest 2. */
int cli_exit_code(vt_status rc);

/* Hex argument of at most `max` bytes, zero-padded into out[max]. */
int cli_hex_arg(const char *cmd, const char *name, const char *hex, uint8_t *out, size_t max, size_t exact);

/* A short-lived admin JWT (exp = now + 300 s) signed with `key`. malloc'd. */
/* A single-use admin JWT for one request (jti, iat, exp +120 s, aud = the
 * URL's origin, htm/htu/body_sha256 binding the request). */
vt_status cli_admin_token(EVP_PKEY *key, const char *url, const char *method, const char *path, const void *body,
			  size_t n, char **out, struct vt_err *err);

#endif
