/* KBS protocol helpers shared by broker and client. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "veritee/crypto.h"
#include "veritee/json.h"
#include "veritee/kbs.h"

vt_status vt_kbs_runtime_digest(const json_t *tee_pubkey, const char *nonce, const char *additional,
				json_t **runtime_out, uint8_t out[48], struct vt_err *err)
{
	json_t *rt = json_pack("{s:O, s:s, s:s}", "tee-pubkey", tee_pubkey, "nonce", nonce, "additional-evidence",
			       additional ? additional : "");
	if (rt == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_BINDING, "runtime-data", "cannot build runtime data");
	char *canon = vt_json_canonical(rt);
	if (canon == NULL) {
		json_decref(rt);
		return vt_fail(err, VT_E_PARSE, VT_STEP_BINDING, "runtime-data",
			       "runtime data has no canonical form (real numbers or too deep)");
	}
	size_t n = 0;
	vt_status rc = vt_digest(EVP_sha384(), canon, strlen(canon), out, &n, err);
	free(canon);
	if (rc == VT_OK && runtime_out)
		*runtime_out = rt;
	else
		json_decref(rt);
	return rc;
}

static bool seg_char(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
		return true;
	return !first && c == '.';
}

bool vt_kbs_resource_path_valid(const char *path)
{
	if (path == NULL || strlen(path) > 128)
		return false;
	int segs = 0;
	const char *p = path;
	for (;;) {
		if (!seg_char(*p, true))
			return false;
		p++;
		while (*p && *p != '/') {
			if (!seg_char(*p, false))
				return false;
			p++;
		}
		segs++;
		if (*p == '\0')
			break;
		p++; /* '/' */
	}
	return segs == 3;
}
