/*
 * SEV-SNP report <-> Trustee's JSON form (the sev crate's serde output, as
 * in trustee attestation-service/tests/e2e/evidence.json):
 *
 *   {"version": 2, "guest_svn": 4, "policy": 196639, "family_id": [16 bytes],
 *    "image_id": [...], "vmpl": 0, "sig_algo": 1,
 *    "current_tcb": {"fmc": null|n, "bootloader": n, "tee": n, "snp": n, "microcode": n},
 *    "plat_info": n, "key_info": n, "report_data": [64], "measurement": [48],
 *    "host_data": [32], "id_key_digest": [48], "author_key_digest": [48],
 *    "report_id": [32], "report_id_ma": [32], "reported_tcb": {...},
 *    "cpuid_fam_id": null|n, "cpuid_mod_id": null|n, "cpuid_step": null|n,
 *    "chip_id": [64], "committed_tcb": {...}, "current": {"major", "minor", "build"},
 *    "committed": {...}, "launch_tcb": {...},
 *    ("launch_mit_vector": n, "current_mit_vector": n,)   -- version 5
 *    "signature": {"r": [72], "s": [72]}}
 *
 * Byte arrays are JSON arrays of integers 0..255 of the exact length.  TCBs
 * are decoded per product: "fmc" is a number for Turin (family 0x1A) and
 * null otherwise, and the other members are placed in that product's byte
 * layout.  Parsing is strict: unknown members, wrong lengths, wrong types
 * and out-of-range integers are errors naming the member.
 */
#include <stdio.h>
#include <string.h>

#include "veritee/snp.h"
#include "veritee/util.h"

#define PATH "attestation_report"

/* Report offsets (sev-snp.md §1). */
enum {
	OFF_VERSION = 0x000, OFF_GUEST_SVN = 0x004, OFF_POLICY = 0x008, OFF_FAMILY_ID = 0x010,
	OFF_IMAGE_ID = 0x020, OFF_VMPL = 0x030, OFF_SIG_ALGO = 0x034, OFF_CURRENT_TCB = 0x038,
	OFF_PLAT_INFO = 0x040, OFF_KEY_INFO = 0x048, OFF_REPORT_DATA = 0x050, OFF_MEASUREMENT = 0x090,
	OFF_HOST_DATA = 0x0C0, OFF_ID_KEY_DIGEST = 0x0E0, OFF_AUTHOR_KEY_DIGEST = 0x110, OFF_REPORT_ID = 0x140,
	OFF_REPORT_ID_MA = 0x160, OFF_REPORTED_TCB = 0x180, OFF_CPUID_FAM = 0x188, OFF_CPUID_MOD = 0x189,
	OFF_CPUID_STEP = 0x18A, OFF_CHIP_ID = 0x1A0, OFF_COMMITTED_TCB = 0x1E0, OFF_CURRENT_VER = 0x1E8,
	OFF_COMMITTED_VER = 0x1EC, OFF_LAUNCH_TCB = 0x1F0, OFF_LAUNCH_MIT = 0x1F8, OFF_CURRENT_MIT = 0x200,
	OFF_SIG_R = 0x2A0, OFF_SIG_S = 0x2E8,
};

/* ------------------------------------------------------------ helpers */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static void member_path(char *f, size_t n, const char *path, const char *key)
{
	/* Truncation is harmless: the field is for humans and error records. */
	int w = snprintf(f, n, "%s.%s", path, key);
	(void)w;
}

/* Every member of `obj` must be in the NULL-terminated `allowed` list. */
static vt_status check_members(const json_t *obj, const char *path, const char *const *allowed, struct vt_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		bool known = false;
		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known) {
			char f[64];
			member_path(f, sizeof(f), path, key);
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "unknown member \"%.64s\" in %s", key, path);
		}
	}
	return VT_OK;
}

typedef enum { REQUIRED, NULLABLE, OPTIONAL } presence;

/*
 * An integer member in 0..max.  REQUIRED: present and an integer; NULLABLE:
 * present, integer or null; OPTIONAL: may also be absent.  *is_null says
 * whether the value was null/absent (then *out is 0).
 */
static vt_status get_uint(const json_t *obj, const char *path, const char *key, uint64_t max, presence pr,
			  bool *is_null, uint64_t *out, struct vt_err *err)
{
	char f[64];
	member_path(f, sizeof(f), path, key);
	json_t *v = json_object_get(obj, key);
	*out = 0;
	if (is_null != NULL)
		*is_null = false;
	if (v == NULL && pr != OPTIONAL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "missing member \"%s\"", key);
	if (v == NULL || json_is_null(v)) {
		if (pr == REQUIRED)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" is null, want an integer", key);
		if (is_null != NULL)
			*is_null = true;
		return VT_OK;
	}
	if (!json_is_integer(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" is a %s, want an integer", key,
			       type_name(v));
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x > max)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" is %lld, out of range 0..%llu", key,
			       (long long)x, (unsigned long long)max);
	*out = (uint64_t)x;
	return VT_OK;
}

/* An array member of exactly n integers 0..255. */
static vt_status get_bytes(const json_t *obj, const char *path, const char *key, uint8_t *out, size_t n,
			   struct vt_err *err)
{
	char f[64];
	member_path(f, sizeof(f), path, key);
	json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "missing member \"%s\"", key);
	if (!json_is_array(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" is a %s, want an array of %zu bytes", key,
			       type_name(v), n);
	if (json_array_size(v) != n)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" has %zu elements, want %zu", key,
			       json_array_size(v), n);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_integer(e))
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\"[%zu] is a %s, want a byte 0..255",
				       key, i, type_name(e));
		json_int_t x = json_integer_value(e);
		if (x < 0 || x > 255)
			return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\"[%zu] is %lld, want a byte 0..255", key,
				       i, (long long)x);
		out[i] = (uint8_t)x;
	}
	return VT_OK;
}

static vt_status get_object(const json_t *obj, const char *path, const char *key, const char *const *allowed,
			    json_t **out, struct vt_err *err)
{
	char f[64];
	member_path(f, sizeof(f), path, key);
	json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "missing member \"%s\"", key);
	if (!json_is_object(v))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" is a %s, want an object", key,
			       type_name(v));
	*out = v;
	return check_members(v, f, allowed, err);
}

static uint64_t tcb_encode(const struct vt_snp_tcb *t, bool turin)
{
	uint8_t b[8] = {0};
	if (turin) {
		b[0] = t->fmc;
		b[1] = t->bootloader;
		b[2] = t->tee;
		b[3] = t->snp;
	} else {
		b[0] = t->bootloader;
		b[1] = t->tee;
		b[6] = t->snp;
	}
	b[7] = t->microcode;
	uint64_t raw = 0;
	for (size_t i = 0; i < sizeof(b); i++)
		raw |= (uint64_t)b[i] << (8 * i);
	return raw;
}

static const char *const TCB_MEMBERS[] = {"fmc", "bootloader", "tee", "snp", "microcode", NULL};

/* A TCB object; *has_fmc says whether "fmc" was a number (Turin layout). */
static vt_status get_tcb(const json_t *obj, const char *key, uint64_t *raw, bool *has_fmc, struct vt_err *err)
{
	char f[64];
	json_t *t;
	uint64_t fmc, bl, tee, snp, ucode;
	bool fmc_null;
	vt_status rc;
	member_path(f, sizeof(f), PATH, key);
	VT_GUARD(get_object(obj, PATH, key, TCB_MEMBERS, &t, err));
	/* "fmc" is Option<u8> in the sev crate; older revisions omit it. */
	VT_GUARD(get_uint(t, f, "fmc", 255, OPTIONAL, &fmc_null, &fmc, err));
	VT_GUARD(get_uint(t, f, "bootloader", 255, REQUIRED, NULL, &bl, err));
	VT_GUARD(get_uint(t, f, "tee", 255, REQUIRED, NULL, &tee, err));
	VT_GUARD(get_uint(t, f, "snp", 255, REQUIRED, NULL, &snp, err));
	VT_GUARD(get_uint(t, f, "microcode", 255, REQUIRED, NULL, &ucode, err));
	struct vt_snp_tcb d = {
		.fmc = (uint8_t)fmc, .bootloader = (uint8_t)bl, .tee = (uint8_t)tee, .snp = (uint8_t)snp,
		.microcode = (uint8_t)ucode,
	};
	*has_fmc = !fmc_null;
	*raw = tcb_encode(&d, !fmc_null);
out:
	return rc;
}

static const char *const VER_MEMBERS[] = {"major", "minor", "build", NULL};

/* {"major", "minor", "build"} to 3 bytes build, minor, major at p. */
static vt_status get_fw_version(const json_t *obj, const char *key, uint8_t *p, struct vt_err *err)
{
	char f[64];
	json_t *v;
	uint64_t major, minor, build;
	vt_status rc;
	member_path(f, sizeof(f), PATH, key);
	VT_GUARD(get_object(obj, PATH, key, VER_MEMBERS, &v, err));
	VT_GUARD(get_uint(v, f, "major", 255, REQUIRED, NULL, &major, err));
	VT_GUARD(get_uint(v, f, "minor", 255, REQUIRED, NULL, &minor, err));
	VT_GUARD(get_uint(v, f, "build", 255, REQUIRED, NULL, &build, err));
	p[0] = (uint8_t)build;
	p[1] = (uint8_t)minor;
	p[2] = (uint8_t)major;
out:
	return rc;
}

static const char *const SIG_MEMBERS[] = {"r", "s", NULL};

static const char *const REPORT_MEMBERS[] = {
	"version", "guest_svn", "policy", "family_id", "image_id", "vmpl", "sig_algo", "current_tcb",
	"plat_info", "key_info", "report_data", "measurement", "host_data", "id_key_digest",
	"author_key_digest", "report_id", "report_id_ma", "reported_tcb", "cpuid_fam_id", "cpuid_mod_id",
	"cpuid_step", "chip_id", "committed_tcb", "current", "committed", "launch_tcb", "launch_mit_vector",
	"current_mit_vector", "signature", NULL,
};

struct u_member {
	const char *key;
	size_t off, size;
	uint64_t max;
};

struct b_member {
	const char *key;
	size_t off, size;
};

struct tcb_member {
	const char *key;
	size_t off;
};

static const struct u_member U_MEMBERS[] = {
	{"version", OFF_VERSION, 4, UINT32_MAX},
	{"guest_svn", OFF_GUEST_SVN, 4, UINT32_MAX},
	{"policy", OFF_POLICY, 8, INT64_MAX}, /* jansson integers are signed 64-bit */
	{"vmpl", OFF_VMPL, 4, UINT32_MAX},
	{"sig_algo", OFF_SIG_ALGO, 4, UINT32_MAX},
	{"plat_info", OFF_PLAT_INFO, 8, INT64_MAX},
	{"key_info", OFF_KEY_INFO, 4, UINT32_MAX},
};

static const struct b_member B_MEMBERS[] = {
	{"family_id", OFF_FAMILY_ID, 16},
	{"image_id", OFF_IMAGE_ID, 16},
	{"report_data", OFF_REPORT_DATA, 64},
	{"measurement", OFF_MEASUREMENT, 48},
	{"host_data", OFF_HOST_DATA, 32},
	{"id_key_digest", OFF_ID_KEY_DIGEST, 48},
	{"author_key_digest", OFF_AUTHOR_KEY_DIGEST, 48},
	{"report_id", OFF_REPORT_ID, 32},
	{"report_id_ma", OFF_REPORT_ID_MA, 32},
	{"chip_id", OFF_CHIP_ID, 64},
};

static const struct tcb_member TCB_FIELDS[] = {
	{"current_tcb", OFF_CURRENT_TCB},
	{"reported_tcb", OFF_REPORTED_TCB},
	{"committed_tcb", OFF_COMMITTED_TCB},
	{"launch_tcb", OFF_LAUNCH_TCB},
};

static const struct u_member CPUID_MEMBERS[] = {
	{"cpuid_fam_id", OFF_CPUID_FAM, 1, 255},
	{"cpuid_mod_id", OFF_CPUID_MOD, 1, 255},
	{"cpuid_step", OFF_CPUID_STEP, 1, 255},
};

static const struct u_member MIT_MEMBERS[] = {
	{"launch_mit_vector", OFF_LAUNCH_MIT, 8, INT64_MAX},
	{"current_mit_vector", OFF_CURRENT_MIT, 8, INT64_MAX},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ JSON -> binary */

vt_status vt_snp_report_from_json(const json_t *obj, uint8_t out[VT_SNP_REPORT_SIZE], struct vt_err *err)
{
	vt_status rc;
	uint64_t v;
	bool is_null;
	uint8_t buf[VT_SNP_REPORT_SIZE];
	memset(buf, 0, sizeof(buf));
	if (out == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, PATH, "missing argument");
	memset(out, 0, VT_SNP_REPORT_SIZE);
	if (obj == NULL || !json_is_object(obj))
		return vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, PATH, "%s is a %s, want an object", PATH,
			       obj ? type_name(obj) : "missing value");
	VT_GUARD(check_members(obj, PATH, REPORT_MEMBERS, err));

	uint32_t version = 0;
	for (size_t i = 0; i < COUNT(U_MEMBERS); i++) {
		VT_GUARD(get_uint(obj, PATH, U_MEMBERS[i].key, U_MEMBERS[i].max, REQUIRED, NULL, &v, err));
		vt_put_le(buf + U_MEMBERS[i].off, v, U_MEMBERS[i].size);
		if (i == 0)
			version = (uint32_t)v;
	}
	for (size_t i = 0; i < COUNT(B_MEMBERS); i++)
		VT_GUARD(get_bytes(obj, PATH, B_MEMBERS[i].key, buf + B_MEMBERS[i].off, B_MEMBERS[i].size, err));

	/* CPUID: numbers from version 3 on, null in version 2 (no CPUID there). */
	for (size_t i = 0; i < COUNT(CPUID_MEMBERS); i++) {
		const char *key = CPUID_MEMBERS[i].key;
		VT_GUARD(get_uint(obj, PATH, key, 255, NULLABLE, &is_null, &v, err));
		if (is_null != (version < 3)) {
			char f[64];
			member_path(f, sizeof(f), PATH, key);
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f, "\"%s\" must be %s for report version %u", key,
				     version < 3 ? "null" : "a number", (unsigned)version);
			goto out;
		}
		buf[CPUID_MEMBERS[i].off] = (uint8_t)v;
	}
	vt_snp_product product = version >= 3 ? vt_snp_product_from_cpuid(buf[OFF_CPUID_FAM], buf[OFF_CPUID_MOD])
					      : VT_SNP_PRODUCT_UNKNOWN;

	for (size_t i = 0; i < COUNT(TCB_FIELDS); i++) {
		bool has_fmc;
		VT_GUARD(get_tcb(obj, TCB_FIELDS[i].key, &v, &has_fmc, err));
		if (has_fmc != (product == VT_SNP_PRODUCT_TURIN)) {
			char f[64];
			member_path(f, sizeof(f), PATH, TCB_FIELDS[i].key);
			rc = vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
				     "\"fmc\" must be %s for product %s (cpuid family/model of the report)",
				     product == VT_SNP_PRODUCT_TURIN ? "a number" : "null or absent",
				     vt_snp_product_name(product));
			goto out;
		}
		vt_put_le(buf + TCB_FIELDS[i].off, v, 8);
	}
	VT_GUARD(get_fw_version(obj, "current", buf + OFF_CURRENT_VER, err));
	VT_GUARD(get_fw_version(obj, "committed", buf + OFF_COMMITTED_VER, err));

	/* Mitigation vectors (version 5): absent or null reads as 0. */
	for (size_t i = 0; i < COUNT(MIT_MEMBERS); i++) {
		VT_GUARD(get_uint(obj, PATH, MIT_MEMBERS[i].key, MIT_MEMBERS[i].max, OPTIONAL, NULL, &v, err));
		vt_put_le(buf + MIT_MEMBERS[i].off, v, 8);
	}

	json_t *sig;
	VT_GUARD(get_object(obj, PATH, "signature", SIG_MEMBERS, &sig, err));
	VT_GUARD(get_bytes(sig, PATH ".signature", "r", buf + OFF_SIG_R, 72, err));
	VT_GUARD(get_bytes(sig, PATH ".signature", "s", buf + OFF_SIG_S, 72, err));

	/* The result must be a valid report (version, reserved ranges, bits). */
	struct vt_snp_report r;
	VT_GUARD(vt_snp_report_parse(buf, sizeof(buf), false, &r, err));
	memcpy(out, buf, sizeof(buf));
out:
	return rc;
}

/* ------------------------------------------------------------ binary -> JSON */

struct builder {
	json_t *obj;
	bool ok;
};

static void add(struct builder *b, json_t *parent, const char *key, json_t *v)
{
	/* json_object_set_new takes the reference even when it fails. */
	if (v == NULL || parent == NULL || json_object_set_new(parent, key, v) != 0) {
		if (parent == NULL)
			json_decref(v);
		b->ok = false;
	}
}

static json_t *bytes_json(const uint8_t *p, size_t n)
{
	json_t *a = json_array();
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(a, json_integer(p[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *u64_json(uint64_t v, const char *key, struct vt_err *err, bool *fail)
{
	if (v > (uint64_t)INT64_MAX) {
		char f[64];
		member_path(f, sizeof(f), PATH, key);
		vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
			"value 0x%llx does not fit a JSON integer (signed 64-bit)", (unsigned long long)v);
		*fail = true;
		return NULL;
	}
	return json_integer((json_int_t)v);
}

static json_t *tcb_json(uint64_t raw, vt_snp_product product, const char *key, struct vt_err *err, bool *fail)
{
	struct vt_snp_tcb t;
	bool turin = product == VT_SNP_PRODUCT_TURIN;
	vt_snp_tcb_decode(raw, product, &t);
	if (tcb_encode(&t, turin) != raw) {
		char f[64];
		member_path(f, sizeof(f), PATH, key);
		vt_fail(err, VT_E_PARSE, VT_STEP_PARSE, f,
			"TCB 0x%016llx has non-zero reserved bytes for product %s; not representable in the JSON form",
			(unsigned long long)raw, vt_snp_product_name(product));
		*fail = true;
		return NULL;
	}
	json_t *o = json_object();
	struct builder b = {o, o != NULL};
	add(&b, o, "fmc", turin ? json_integer(t.fmc) : json_null());
	add(&b, o, "bootloader", json_integer(t.bootloader));
	add(&b, o, "tee", json_integer(t.tee));
	add(&b, o, "snp", json_integer(t.snp));
	add(&b, o, "microcode", json_integer(t.microcode));
	if (!b.ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *fw_json(uint8_t build, uint8_t minor, uint8_t major)
{
	json_t *o = json_object();
	struct builder b = {o, o != NULL};
	add(&b, o, "major", json_integer(major));
	add(&b, o, "minor", json_integer(minor));
	add(&b, o, "build", json_integer(build));
	if (!b.ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *cpuid_json(const struct vt_snp_report *r, uint8_t v)
{
	return r->version >= 3 ? json_integer(v) : json_null();
}

vt_status vt_snp_report_to_json(const uint8_t report[VT_SNP_REPORT_SIZE], json_t **out, struct vt_err *err)
{
	struct vt_snp_report r;
	vt_status rc;
	if (out == NULL || report == NULL)
		return vt_fail(err, VT_E_USAGE, VT_STEP_NONE, PATH, "missing argument");
	*out = NULL;
	rc = vt_snp_report_parse(report, VT_SNP_REPORT_SIZE, false, &r, err);
	if (rc != VT_OK)
		return rc;

	bool fail = false; /* a value error already recorded in err */
	json_t *o = json_object();
	struct builder b = {o, o != NULL};
	add(&b, o, "version", json_integer(r.version));
	add(&b, o, "guest_svn", json_integer(r.guest_svn));
	add(&b, o, "policy", u64_json(r.policy, "policy", err, &fail));
	add(&b, o, "family_id", bytes_json(r.family_id, sizeof(r.family_id)));
	add(&b, o, "image_id", bytes_json(r.image_id, sizeof(r.image_id)));
	add(&b, o, "vmpl", json_integer(r.vmpl));
	add(&b, o, "sig_algo", json_integer(r.signature_algo));
	add(&b, o, "current_tcb", tcb_json(r.current_tcb, r.product, "current_tcb", err, &fail));
	add(&b, o, "plat_info", u64_json(r.platform_info, "plat_info", err, &fail));
	add(&b, o, "key_info", json_integer(r.key_info));
	add(&b, o, "report_data", bytes_json(r.report_data, sizeof(r.report_data)));
	add(&b, o, "measurement", bytes_json(r.measurement, sizeof(r.measurement)));
	add(&b, o, "host_data", bytes_json(r.host_data, sizeof(r.host_data)));
	add(&b, o, "id_key_digest", bytes_json(r.id_key_digest, sizeof(r.id_key_digest)));
	add(&b, o, "author_key_digest", bytes_json(r.author_key_digest, sizeof(r.author_key_digest)));
	add(&b, o, "report_id", bytes_json(r.report_id, sizeof(r.report_id)));
	add(&b, o, "report_id_ma", bytes_json(r.report_id_ma, sizeof(r.report_id_ma)));
	add(&b, o, "reported_tcb", tcb_json(r.reported_tcb, r.product, "reported_tcb", err, &fail));
	add(&b, o, "cpuid_fam_id", cpuid_json(&r, r.cpuid_fam_id));
	add(&b, o, "cpuid_mod_id", cpuid_json(&r, r.cpuid_mod_id));
	add(&b, o, "cpuid_step", cpuid_json(&r, r.cpuid_step));
	add(&b, o, "chip_id", bytes_json(r.chip_id, sizeof(r.chip_id)));
	add(&b, o, "committed_tcb", tcb_json(r.committed_tcb, r.product, "committed_tcb", err, &fail));
	add(&b, o, "current", fw_json(r.current_build, r.current_minor, r.current_major));
	add(&b, o, "committed", fw_json(r.committed_build, r.committed_minor, r.committed_major));
	add(&b, o, "launch_tcb", tcb_json(r.launch_tcb, r.product, "launch_tcb", err, &fail));
	if (r.version >= 5) {
		add(&b, o, "launch_mit_vector", u64_json(r.launch_mit_vector, "launch_mit_vector", err, &fail));
		add(&b, o, "current_mit_vector", u64_json(r.current_mit_vector, "current_mit_vector", err, &fail));
	}
	json_t *sig = json_object();
	struct builder sb = {sig, sig != NULL};
	add(&sb, sig, "r", bytes_json(r.sig_r, sizeof(r.sig_r)));
	add(&sb, sig, "s", bytes_json(r.sig_s, sizeof(r.sig_s)));
	if (!sb.ok) {
		json_decref(sig);
		sig = NULL;
	}
	add(&b, o, "signature", sig);

	if (!b.ok) {
		json_decref(o);
		if (fail)
			return VT_E_PARSE;
		return vt_fail(err, VT_E_NOMEM, VT_STEP_NONE, PATH, "out of memory building the JSON report");
	}
	*out = o;
	return VT_OK;
}
