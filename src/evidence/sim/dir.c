/* Where the local INSECURE sim keys live (shared by `veritee attest` and
 * `veritee verify sim`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veritee/sim.h"

char *vt_sim_default_dir(void)
{
	const char *env = getenv("VERITEE_SIM_DIR");
	if (env && *env)
		return strdup(env);
	char *out = NULL;
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;
	if (xdg && *xdg)
		n = asprintf(&out, "%s/veritee/sim", xdg);
	else
		n = asprintf(&out, "%s/.local/share/veritee/sim", home && *home ? home : "/tmp");
	return n < 0 ? NULL : out;
}

