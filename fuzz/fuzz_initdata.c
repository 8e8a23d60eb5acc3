/* libFuzzer target: KBS init-data.  The input is the TOML body: it goes
 * through the TOML subset reader and, wrapped as {"format":"toml","body"},
 * through the whole init-data parse (digest, [data] claims, aa.toml /
 * cdh.toml as TOML again, the agent policy's JSON). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "veritee/kbs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	if (vt_toml_parse((const char *)data, size, &doc, NULL) == VT_OK) {
		char *s = json_dumps(doc, JSON_COMPACT);
		free(s);
		json_decref(doc);
	}
	/* jansson strings are NUL-free UTF-8: the body as a JSON string */
	json_t *body = json_stringn((const char *)data, size);
	if (body == NULL)
		return 0;
	json_t *init = json_pack("{s:s, s:o}", "format", "toml", "body", body);
	struct vt_kbs_init_data d;
	if (init && vt_kbs_init_data_parse(init, &d, NULL) == VT_OK)
		vt_kbs_init_data_free(&d);
	json_decref(init);
	return 0;
}
