/* Attester registry: the descriptors listed in attesters.def. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/attester.h"
#include "veritee/evidence.h"
#include "veritee/sim.h"
#include "veritee/util.h"

#define VT_ATTESTER(id) extern const struct vt_attester vt_attester_##id;
#include "attester/attesters.def"
#undef VT_ATTESTER

static const struct vt_attester *const ATTESTERS[] = {
#define VT_ATTESTER(id) &vt_attester_##id,
#include "attester/attesters.def"
#undef VT_ATTESTER
};

#define ATTESTER_COUNT (sizeof(ATTESTERS) / sizeof(ATTESTERS[0]))

const struct vt_attester *vt_attester_at(size_t i)
{
	return i < ATTESTER_COUNT ? ATTESTERS[i] : NULL;
}

const struct vt_attester *vt_attester_find(const char *name)
{
	for (size_t i = 0; name && i < ATTESTER_COUNT; i++)
		if (strcmp(ATTESTERS[i]->name, name) == 0)
			return ATTESTERS[i];
	return NULL;
}

vt_status vt_attest_with(const char *tee, const json_t *options, const uint8_t report_data[64],
			 json_t **evidence_out, struct vt_err *err)
{
	const struct vt_attester *a = vt_attester_find(tee);
	if (a == NULL) {
		char names[256] = "";
		size_t n = 0;
		for (size_t i = 0; i < ATTESTER_COUNT && n < sizeof(names); i++)
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", ATTESTERS[i]->name);
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, "tee", "no attester for tee \"%.32s\" (attesters: %s)",
			       tee ? tee : "", names);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)options, k, v) {
		bool known = false;
		for (const struct vt_tee_option *o = a->options; o && o->name && !known; o++)
			known = strcmp(o->name, k) == 0;
		if (!known)
			return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, k, "the %s attester has no option \"%.64s\"", a->name, k);
	}
	json_t *empty = options ? NULL : json_object();
	vt_status rc = a->attest(options ? options : empty, report_data, evidence_out, err);
	json_decref(empty);
	return rc;
}

/* The typed options as the attesters' JSON options. */
json_t *vt_attest_opts_json(const char *tee, const struct vt_attest_opts *opts)
{
	const struct vt_attester *a = vt_attester_find(tee);
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	struct {
		const char *name, *value;
	} strs[] = {
		{"sim_dir", opts ? opts->sim_dir : NULL},
		{"snp_configfs", opts ? opts->snp_configfs_root : NULL},
		{"tdx_configfs", opts ? opts->tdx_configfs_root : NULL},
		{"ccel", opts ? opts->tdx_ccel_path : NULL},
		{"tpm_tcti", opts ? opts->tpm_tcti : NULL},
		{"event_log", opts ? opts->tpm_event_log : NULL},
	};
	char *mhex = opts && opts->sim_measurement ? vt_hex_encode(opts->sim_measurement, 48) : NULL;
	char svn[16] = "";
	if (opts && opts->sim_svn)
		snprintf(svn, sizeof(svn), "%u", opts->sim_svn);
	/* only what this attester takes: the typed struct serves them all */
	for (const struct vt_tee_option *p = a ? a->options : NULL; p && p->name; p++) {
		for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			if (strs[i].value && strcmp(strs[i].name, p->name) == 0)
				json_object_set_new(o, p->name, json_string(strs[i].value));
		if (mhex && strcmp(p->name, "measurement") == 0)
			json_object_set_new(o, p->name, json_string(mhex));
		if (svn[0] && strcmp(p->name, "svn") == 0)
			json_object_set_new(o, p->name, json_string(svn));
		if (opts && opts->sim_debug && strcmp(p->name, "debug") == 0)
			json_object_set_new(o, p->name, json_true());
	}
	free(mhex);
	return o;
}

vt_status vt_attest(const char *tee, const struct vt_attest_opts *opts, const uint8_t report_data[64],
		    json_t **evidence_out, struct vt_err *err)
{
	json_t *o = vt_attest_opts_json(tee, opts);
	if (o == NULL)
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, "", "out of memory");
	vt_status rc = vt_attest_with(tee, o, report_data, evidence_out, err);
	json_decref(o);
	return rc;
}
