/* veritee attest: produce evidence on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/attester.h"
#include "veritee/json.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee attest --tee TEE --report-data HEX [options]\n"
		   "\n"
		   "Produce attestation evidence binding up to 64 bytes of report data (zero-padded)\n"
		   "and print it as JSON (the KBS primary_evidence for that TEE).\n"
		   "\n"
		   "  --tee TEE             snp (SEV-SNP guest: configfs-tsm, else /dev/sev-guest),\n"
		   "                        tdx (TDX guest: configfs-tsm; adds the CC event log when present),\n"
		   "                        tpm (TPM 2.0 quote; TCTI from --tpm-tcti or $VERITEE_TPM_TCTI),\n"
		   "                        sim (INSECURE simulated TEE, works anywhere)\n"
		   "  --tpm-tcti TCTI       e.g. swtpm:host=127.0.0.1,port=2321 or device:/dev/tpmrm0\n"
		   "  --report-data HEX     up to 64 bytes\n"
		   "  --sim-dir DIR         sim key directory (default $VERITEE_SIM_DIR or ~/.local/share/veritee/sim)\n"
		   "  --measurement HEX     sim: 48-byte workload measurement (default: the demo workload)\n"
		   "  --svn N               sim: security version (default 1)\n"
		   "  --debug               sim: mark the TEE as debuggable\n");
}

int cmd_attest(int argc, char **argv)
{
	static const struct option opts[] = {
		{"tee", required_argument, 0, 't'},	   {"report-data", required_argument, 0, 'r'},
		{"sim-dir", required_argument, 0, 'd'},	   {"measurement", required_argument, 0, 'm'},
		{"svn", required_argument, 0, 's'},	   {"debug", no_argument, 0, 'D'},
		{"tpm-tcti", required_argument, 0, 'C'},   {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *tee = NULL, *rdhex = NULL;
	uint8_t rd[64] = {0}, meas[48];
	struct vt_attest_opts ao = {0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': tee = optarg; break;
		case 'r': rdhex = optarg; break;
		case 'd': ao.sim_dir = optarg; break;
		case 'm':
			if (cli_hex_arg("attest", "--measurement", optarg, meas, sizeof(meas), sizeof(meas)) != 0)
				return CLI_ERROR;
			ao.sim_measurement = meas;
			break;
		case 's': ao.sim_svn = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'D': ao.sim_debug = true; break;
		case 'C': ao.tpm_tcti = optarg; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (tee == NULL || rdhex == NULL || optind != argc) {
		usage(stderr);
		return CLI_ERROR;
	}
	if (cli_hex_arg("attest", "--report-data", rdhex, rd, sizeof(rd), 0) != 0)
		return CLI_ERROR;
	json_t *ev = NULL;
	struct vt_err e = {0};
	vt_status rc = vt_attest(tee, &ao, rd, &ev, &e);
	if (rc != VT_OK) {
		cli_err("attest", &e);
		return CLI_ERROR;
	}
	char *s = json_dumps(ev, JSON_INDENT(2));
	printf("%s\n", s ? s : "");
	free(s);
	json_decref(ev);
	if (strcmp(tee, "sim") == 0)
		fprintf(stderr, "veritee attest: note: sim evidence is INSECURE (signed by a local key)\n");
	return CLI_OK;
}
