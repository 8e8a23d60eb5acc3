/*
 * jose_tool — drive veritee's JOSE code from the command line (interop tests).
 *
 *   jose_tool jwe-encrypt PUBJWK.json ALG  < plaintext > jwe.json
 *   jose_tool jwe-decrypt PRIVJWK.json     < jwe.json  > plaintext
 *   jose_tool jws-sign    PRIVJWK.json ALG < payload   > jws.txt
 *   jose_tool jws-verify  PUBJWK.json ALG  < jws.txt   > payload
 *
 * Exit status: 0 ok, 1 rejected (VT_E_REJECTED), 2 usage / parse / other error.
 * The error record goes to stderr; secrets never do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/crypto.h"
#include "veritee/jose.h"
#include "veritee/json.h"
#include "veritee/util.h"

#define TOOL_MAX_INPUT ((size_t)64 << 20)

static int usage(void)
{
	fprintf(stderr, "usage: jose_tool jwe-encrypt PUBJWK ALG < plaintext > jwe.json\n"
			"       jose_tool jwe-decrypt PRIVJWK < jwe.json > plaintext\n"
			"       jose_tool jws-sign PRIVJWK ALG < payload > jws.txt\n"
			"       jose_tool jws-verify PUBJWK ALG < jws.txt > payload\n");
	return 2;
}

static int report(const char *what, vt_status rc, const struct vt_err *err)
{
	char buf[700];
	vt_err_format(err, buf, sizeof(buf));
	fprintf(stderr, "jose_tool: %s: %s: %s\n", what, vt_status_name(rc), buf);
	return rc == VT_E_REJECTED ? 1 : 2;
}

/* Read all of stdin (at most TOOL_MAX_INPUT bytes), NUL-terminated. */
static vt_status read_stdin(struct vt_buf *b, struct vt_err *err)
{
	uint8_t chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		vt_status rc = vt_buf_append(b, chunk, n, err);
		if (rc != VT_OK)
			return rc;
	}
	if (ferror(stdin))
		return vt_fail(err, VT_E_IO, VT_STEP_IO, "stdin", "read error");
	return vt_buf_nul_terminate(b, err);
}

static vt_status load_jwk(const char *path, bool priv, EVP_PKEY **key, struct vt_err *err)
{
	uint8_t *text = NULL;
	size_t len = 0;
	json_t *jwk = NULL;
	vt_status rc = vt_file_read(path, 1 << 20, &text, &len, err);
	if (rc != VT_OK)
		return rc;
	rc = vt_json_parse((const char *)text, len, 1 << 20, &jwk, err);
	vt_wipe(text, len);
	free(text);
	if (rc != VT_OK)
		return rc;
	rc = vt_jwk_to_key(jwk, priv, key, err);
	json_decref(jwk);
	return rc;
}

static bool write_all(const void *p, size_t n)
{
	return (n == 0 || fwrite(p, 1, n, stdout) == n) && fflush(stdout) == 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *cmd = argv[1];
	bool enc = strcmp(cmd, "jwe-encrypt") == 0, dec = strcmp(cmd, "jwe-decrypt") == 0;
	bool sign = strcmp(cmd, "jws-sign") == 0, verify = strcmp(cmd, "jws-verify") == 0;
	if (!(enc || dec || sign || verify) || argc != (dec ? 3 : 4))
		return usage();

	struct vt_err err = {0};
	EVP_PKEY *key = NULL;
	struct vt_buf in;
	vt_buf_init(&in, TOOL_MAX_INPUT);
	in.wipe = true;
	int status = 2;
	vt_status rc = load_jwk(argv[2], dec || sign, &key, &err);
	if (rc != VT_OK) {
		status = report("key", rc, &err);
		if (status == 1)
			status = 2;
		goto out;
	}
	rc = read_stdin(&in, &err);
	if (rc != VT_OK) {
		status = report("input", rc, &err);
		goto out;
	}
	const char *text = in.data ? (const char *)in.data : "";

	if (enc) {
		json_t *jwe = NULL;
		rc = vt_jwe_encrypt(key, argv[3], in.data, in.len, &jwe, &err);
		if (rc != VT_OK) {
			status = report("jwe-encrypt", rc, &err);
			goto out;
		}
		char *s = vt_json_compact(jwe);
		json_decref(jwe);
		status = s != NULL && write_all(s, strlen(s)) && write_all("\n", 1) ? 0 : 2;
		free(s);
	} else if (dec) {
		json_t *jwe = NULL;
		struct vt_secret *pt = NULL;
		rc = vt_json_parse(text, in.len, TOOL_MAX_INPUT, &jwe, &err);
		if (rc != VT_OK) {
			status = report("jwe-decrypt", rc, &err);
			goto out;
		}
		rc = vt_jwe_decrypt(key, jwe, &pt, &err);
		json_decref(jwe);
		if (rc != VT_OK) {
			status = report("jwe-decrypt", rc, &err);
			goto out;
		}
		status = write_all(pt->data, pt->len) ? 0 : 2;
		vt_secret_free(pt);
	} else if (sign) {
		json_t *hdr = json_pack("{s:s}", "alg", argv[3]);
		char *jws = NULL;
		rc = hdr ? vt_jws_sign(key, hdr, in.data, in.len, &jws, &err) : VT_E_NOMEM;
		json_decref(hdr);
		if (rc != VT_OK) {
			status = report("jws-sign", rc, &err);
			goto out;
		}
		status = write_all(jws, strlen(jws)) && write_all("\n", 1) ? 0 : 2;
		free(jws);
	} else {
		/* Accept one trailing newline (as written by jws-sign or echo). */
		size_t len = in.len;
		if (len > 0 && text[len - 1] == '\n')
			len--;
		if (len > 0 && text[len - 1] == '\r')
			len--;
		if (strlen(text) != in.len) {
			fprintf(stderr, "jose_tool: jws-verify: NUL byte in input\n");
			goto out;
		}
		char *tok = strndup(text, len);
		const char *allowed[] = {argv[3], NULL};
		uint8_t *payload = NULL;
		size_t plen = 0;
		rc = tok ? vt_jws_verify(tok, key, allowed, NULL, &payload, &plen, &err) : VT_E_NOMEM;
		free(tok);
		if (rc != VT_OK) {
			status = report("jws-verify", rc, &err);
			goto out;
		}
		status = write_all(payload, plen) ? 0 : 2;
		free(payload);
	}
out:
	vt_buf_free(&in);
	EVP_PKEY_free(key);
	return status;
}
