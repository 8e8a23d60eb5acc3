/* The TEE registry: the descriptors listed in tees.def, nothing else. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "veritee/evidence.h"

#define VT_TEE(id) extern const struct vt_tee vt_tee_##id;
#include "evidence/tees.def"
#undef VT_TEE

static const struct vt_tee *const TEES[] = {
#define VT_TEE(id) &vt_tee_##id,
#include "evidence/tees.def"
#undef VT_TEE
};

#define TEE_COUNT (sizeof(TEES) / sizeof(TEES[0]))

const struct vt_tee *vt_tee_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < TEE_COUNT; i++)
		if (strcmp(TEES[i]->name, name) == 0)
			return TEES[i];
	return NULL;
}

const struct vt_tee *vt_tee_at(size_t i)
{
	return i < TEE_COUNT ? TEES[i] : NULL;
}

static char names_buf[512];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
	size_t off = 0;
	for (size_t i = 0; i < TEE_COUNT; i++) {
		int n = snprintf(names_buf + off, sizeof(names_buf) - off, "%s%s", i ? "," : "", TEES[i]->name);
		if (n < 0 || (size_t)n >= sizeof(names_buf) - off)
			break; /* cannot happen with a handful of short names; keeps what fit */
		off += (size_t)n;
	}
}

const char *vt_tee_names(void)
{
	pthread_once(&names_once, build_names);
	return names_buf;
}
