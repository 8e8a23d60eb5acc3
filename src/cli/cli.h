/* Shared pieces of the `veritee` command. Exit codes: 0 ok / verified,
 * 1 rejected or denied, 2 usage or internal error. */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

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
int cmd_corim(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_roots(int argc, char **argv);

/* Read and verify a CoRIM file (corim.c): signer key file (NULL only with
 * allow_unsigned), --at time (NULL = now).  Prints the failure; returns a
 * CLI exit code and, on CLI_OK, *out (vt_corim_free). */
struct vt_corim;
int cli_corim_load(const char *cmd, const char *path, const char *signer, const char *at, bool allow_unsigned,
		   struct vt_corim **out);

/* Print "veritee <cmd>: <error>" to stderr. */
void cli_err(const char *cmd, const struct vt_err *e);

/* Exit code for a failed vt_status: rejections 1, the rest 2. */
int cli_exit_code(vt_status rc);

/* Hex argument of at most `max` bytes, zero-padded into out[max]. */
int cli_hex_arg(const char *cmd, const char *name, const char *hex, uint8_t *out, size_t max, size_t exact);

/* A single-use admin JWT for one request (jti, iat, exp +120 s, aud = the
 * URL's origin, htm/htu/body_sha256 binding the request). */
vt_status cli_admin_token(EVP_PKEY *key, const char *url, const char *method, const char *path, const void *body,
			  size_t n, char **out, struct vt_err *err);
/* A console token (veritee admin console-url): GETs of the console's
 * read-only endpoints, reusable for `lifetime` seconds (scope "console"). */
vt_status cli_admin_console_token(EVP_PKEY *key, const char *url, int64_t lifetime, char **out, struct vt_err *err);

/* Options from descriptors (teeopts.c): each struct vt_tee_option
 * becomes --NAME ('_' -> '-'); getopt returns CLI_TEEOPT_BASE + index. */
#define CLI_MAX_TEEOPTS 64
#define CLI_MAX_FIXED 16
#define CLI_TEEOPT_BASE 256
struct vt_tee_option;
struct cli_teeopts {
	struct option opts[CLI_MAX_TEEOPTS + CLI_MAX_FIXED + 1];
	const struct vt_tee_option *defs[CLI_MAX_TEEOPTS];
	char names[CLI_MAX_TEEOPTS][64];
	size_t n;
};
void cli_flag_name(const char *opt, char *out, size_t n);
void cli_teeopts_add(struct cli_teeopts *t, const struct vt_tee_option *list);
/* Append the command's own options (terminated by a zero entry). */
void cli_teeopts_finish(struct cli_teeopts *t, const struct option *fixed);
/* Store the value of descriptor option `c` in `given`; -1 (said) when repeated. */
int cli_teeopts_take(struct cli_teeopts *t, int c, json_t *given, const char *cmd);
void cli_teeopts_help(FILE *f, const struct vt_tee_option *list);
bool cli_opt_declared(const struct vt_tee_option *list, const char *name);

/* The attesters' options (attest.c), for attest and get-resource. */
void cli_attesters_help(FILE *f);
void cli_attesters_opts(struct cli_teeopts *to, const struct option *fixed);
int cli_attester_check(const char *cmd, const char *tee, const json_t *given);
/* An option that may be given once: store `value` in *slot, or say it was
 * repeated and return 1. */
int cli_once(const char *cmd, const char *flag, const char **slot, const char *value);

/* getopt_long for every command: an option that takes a value and is given
 * a second time is an error, unless its value (the `val` of its struct
 * option) is in `repeatable` (0-terminated; NULL = none).  Then it says
 * "veritee CMD: --NAME given twice" (unless cmd is NULL), puts "--NAME" in
 * seen->repeated and returns CLI_OPT_REPEATED.  TEE options
 * (>= CLI_TEEOPT_BASE) are left to cli_teeopts_take. */
#define CLI_OPT_REPEATED 0x7ffe
struct cli_seen {
	unsigned char count[128];
	char repeated[72];
};
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts, const char *cmd,
	       struct cli_seen *seen, const int *repeatable);
/* argv holds --help or -h (before any "--"): commands answer it before
 * reading any file or key. */
bool cli_wants_help(int argc, char **argv);

/* ---- veritee verify's explanations (explain.c) */
bool cli_tee_is_snp(const char *tee);
bool cli_tee_is_dcap(const char *tee);
/* The key claims, a few lines of text. */
void cli_explain_claims(FILE *f, const char *tee, const json_t *claims);
/* The verdict of verified evidence in one sentence. */
void cli_verdict_sentence(char *buf, size_t n, const char *tee, const json_t *claims, bool nonce_checked);
/* The TCB explained (a new object; NULL when the TEE has no TCB claims). */
json_t *cli_tcb_explain(const char *tee, const json_t *claims);
void cli_tcb_print(FILE *f, const json_t *tcb);
/* --accept-tcb-status LIST / --min-tcb SPEC against the claims: VT_OK,
 * VT_E_REJECTED (step tcb) or VT_E_USAGE; the arguments alone, before
 * verifying, with cli_tcb_policy_check_args. */
vt_status cli_tcb_policy(const char *tee, const json_t *claims, const char *accept, const char *min_tcb,
			 struct vt_err *err);
vt_status cli_tcb_policy_check_args(const char *tee, const char *accept, const char *min_tcb, struct vt_err *err);

/* What a file looks like (sniff.c): the TEE whose `veritee verify` takes it
 * (NULL when none), a description in `what`, and whether it is not
 * evidence at all (a PEM, an empty file). */
const char *cli_sniff(const uint8_t *p, size_t n, char *what, size_t wn, bool *not_evidence);

#endif
