/* veritee seal / unseal: files and directories whose key only attested
 * workloads get, from one broker or K of N, or only this machine's TEE in
 * the same state (--local: TPM, SEV-SNP, sim) (docs/sealed-format.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "veritee/client.h"
#include "veritee/crypto.h"
#include "veritee/kbs.h"
#include "veritee/seal.h"
#include "veritee/sim.h"
#include "veritee/util.h"

/* Registered in main.c, which declares them too. */
int cmd_seal(int argc, char **argv);
int cmd_unseal(int argc, char **argv);

/* ------------------------------------------------------------ signals
 * SIGINT/SIGTERM while an output is being written: the handler unlinks the
 * temp file at once (unlink is async-signal-safe) and raises the flag the
 * loops check; a temp directory is removed by the main thread, which then
 * dies of the same signal. */
static volatile sig_atomic_t g_cancel;
static volatile sig_atomic_t g_temp_file_set;
static char g_temp_file[4096];

static void on_signal(int sig)
{
	if (g_temp_file_set) {
		g_temp_file_set = 0;
		unlink(g_temp_file);
	}
	g_cancel = sig;
}

static void signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void temp_track(const struct vt_seal_out *o)
{
	if (!o->dir) {
		snprintf(g_temp_file, sizeof(g_temp_file), "%s", o->temp);
		g_temp_file_set = 1;
	}
}

/* Die of the signal that cancelled us (after cleaning up), as a shell expects. */
static void reraise(void)
{
	if (g_cancel) {
		fflush(NULL);
		signal((int)g_cancel, SIG_DFL);
		raise((int)g_cancel);
		_exit(128 + (int)g_cancel);
	}
}

/* ------------------------------------------------------------ progress */

struct progress {
	bool on;
	uint64_t total;
	double last;
	const char *verb;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_show(void *ctx, uint64_t done)
{
	struct progress *p = ctx;
	if (!p->on)
		return;
	double t = mono();
	if (t - p->last < 0.2 && done < p->total)
		return;
	p->last = t;
	fprintf(stderr, "\rveritee %s: %5.1f%% (%.1f of %.1f MiB)", p->verb,
		p->total ? 100.0 * (double)done / (double)p->total : 100.0, (double)done / 1048576.0,
		(double)p->total / 1048576.0);
}

static void progress_end(struct progress *p)
{
	if (p->on && p->last > 0)
		fprintf(stderr, "\r\033[K");
}

/* ------------------------------------------------------------ seal */

static void seal_usage(FILE *f)
{
	fprintf(f,
		"usage: veritee seal --in FILE|DIR --out FILE.vts --resource REPO/TYPE/TAG\n"
		"                    (--broker URL --admin-key KEY)... [--threshold K] [--chunk-size N] [--cacert PEM]\n"
		"       veritee seal --in FILE|DIR --out FILE.vts --local tpm [--pcrs LIST] [--tpm-tcti TCTI] [--chunk-size N]\n"
		"       veritee seal --in FILE|DIR --out FILE.vts --local snp [--snp-fields LIST] [--vmpl N] [--chunk-size N]\n"
		"       veritee seal --in FILE|DIR --out FILE.vts --local sim [--measurement HEX] [--svn N] [--sim-dir DIR]\n"
		"\n"
		"Encrypts FILE (or DIR, as a POSIX tar stream) with a fresh 256-bit key in authenticated\n"
		"AES-256-GCM chunks and stores the key at the broker(s) as resource REPO/TYPE/TAG through\n"
		"their admin API.  With one broker the key is stored whole.  With N brokers and --threshold K\n"
		"the key is split K-of-N (Shamir over GF(256), libgfshare): each broker keeps one share, and\n"
		"any K of them open the file.  Nothing is written to --out unless every broker stored its part.\n"
		"The resource is overwritten: use a resource path of its own for every sealed file.\n"
		"\n"
		"With --local there is no broker: only this machine's TEE, in the same state, recovers the\n"
		"key, and `veritee unseal --in FILE.vts --out FILE` needs no other option.\n"
		"  tpm  the key is sealed in this TPM under a policy on SHA-256 PCRs (default 7)\n"
		"  snp  the key is derived by the SEV-SNP firmware from the chip, the VMPL and the guest\n"
		"       fields listed (needs /dev/sev-guest, i.e. an SEV-SNP guest)\n"
		"  sim  INSECURE: the key is derived from the local sim platform key and the measurement\n"
		"\n"
		"  --broker URL        a broker (repeat; at most %u)\n"
		"  --admin-key KEY     admin private key for the broker given before it (or one key for all)\n"
		"  --threshold K       brokers needed to unseal (required with more than one broker)\n"
		"  --chunk-size N      plaintext bytes per chunk, %u..%u (default %u)\n"
		"  --cacert PEM        CA bundle that signs the brokers' HTTPS certificates\n"
		"  --local tpm|snp|sim seal to this machine's TEE instead of brokers\n"
		"  --pcrs LIST         tpm: PCRs of the SHA-256 bank the key depends on, e.g. 7,11 (default 7)\n"
		"  --tpm-tcti TCTI     tpm: e.g. swtpm:host=127.0.0.1,port=2321 (default $VERITEE_TPM_TCTI,\n"
		"                      else device:/dev/tpmrm0)\n"
		"  --snp-fields LIST   snp: of policy, image-id, family-id, measurement, guest-svn, tcb\n"
		"                      (default measurement,policy)\n"
		"  --vmpl N            snp: VMPL mixed into the key, 0..3 (default 0)\n"
		"  --measurement HEX   sim: the 48-byte workload measurement (default: the demo workload)\n"
		"  --svn N             sim: the security version (default 1)\n"
		"  --sim-dir DIR       sim: key directory (default $VERITEE_SIM_DIR or ~/.local/share/veritee/sim)\n",
		VT_SEAL_MAX_BROKERS, VT_SEAL_MIN_CHUNK, VT_SEAL_MAX_CHUNK, VT_SEAL_DEFAULT_CHUNK);
}

/* Store one broker's part of the key as the resource (admin API). */
static int store_share(const char *url, const char *cacert, EVP_PKEY *key, const char *resource,
		       const struct vt_secret *share, unsigned i)
{
	char path[512], *token = NULL, *resp = NULL;
	int status = 0;
	struct vt_err e = {0};
	snprintf(path, sizeof(path), "%s/resource/%s", VT_KBS_PREFIX, resource);
	if (cli_admin_token(key, url, "POST", path, share->data, share->len, &token, &e) != VT_OK ||
	    vt_client_request(url, cacert, "POST", path, token, share->data, share->len, "application/octet-stream",
			      &status, &resp, &e) != VT_OK) {
		char buf[1024];
		vt_err_format(&e, buf, sizeof(buf));
		fprintf(stderr, "veritee seal: broker %u (%s): cannot store the key share: %s\n", i + 1, url, buf);
		free(token);
		return -1;
	}
	free(token);
	if (status != 200) {
		fprintf(stderr, "veritee seal: broker %u (%s): POST %s refused: HTTP %d %s\n", i + 1, url, path, status,
			resp ? resp : "");
		free(resp);
		return -1;
	}
	free(resp);
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != 0 || s[0] == '-' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* The sim kind's options into *lo, the demo workload's measurement and
 * svn unless given; 0, or -1 after saying why. */
static int sim_opts(const char *cmd, const char *meas, const char *svn, const char *sim_dir,
		    struct vt_seal_local_opts *lo)
{
	struct vt_sim_attest_opts so;
	struct vt_err e = {0};
	vt_sim_attest_opts_default(&so);
	memcpy(lo->sim_measurement, so.measurement, sizeof(lo->sim_measurement));
	lo->sim_svn = so.svn;
	lo->sim_dir = sim_dir;
	if (meas && vt_hex_decode_fixed(meas, lo->sim_measurement, sizeof(lo->sim_measurement), &e) != VT_OK) {
		fprintf(stderr, "veritee %s: --measurement must be 48 bytes of hex\n", cmd);
		return -1;
	}
	if (svn && parse_u32(svn, &lo->sim_svn) != 0) {
		fprintf(stderr, "veritee %s: --svn must be a number\n", cmd);
		return -1;
	}
	return 0;
}

/* --local KIND and its options into *lo; 0, or -1 after saying why. */
static int seal_local_opts(const char *local, const char *resource, size_t broker_opts, const char *pcrs,
			   const char *tcti, const char *fields, const char *vmpl, const char *meas, const char *svn,
			   const char *sim_dir, struct vt_seal_local_opts *lo)
{
	struct vt_err e = {0};
	const struct {
		const char *flag, *value;
		enum vt_seal_local kind;
	} own[] = {
		{"--pcrs", pcrs, VT_SEAL_LOCAL_TPM},	  {"--tpm-tcti", tcti, VT_SEAL_LOCAL_TPM},
		{"--snp-fields", fields, VT_SEAL_LOCAL_SNP}, {"--vmpl", vmpl, VT_SEAL_LOCAL_SNP},
		{"--measurement", meas, VT_SEAL_LOCAL_SIM}, {"--svn", svn, VT_SEAL_LOCAL_SIM},
		{"--sim-dir", sim_dir, VT_SEAL_LOCAL_SIM},
	};
	memset(lo, 0, sizeof(*lo));
	if (local == NULL) {
		fprintf(stderr, "veritee seal: --pcrs, --snp-fields, --measurement and the like go with --local tpm|snp|sim\n");
		return -1;
	}
	if ((lo->kind = vt_seal_local_from_name(local)) == VT_SEAL_LOCAL_NONE) {
		fprintf(stderr, "veritee seal: --local %s: want tpm, snp or sim\n", local);
		return -1;
	}
	if (resource != NULL || broker_opts != 0) {
		fprintf(stderr, "veritee seal: --local seals without brokers: --resource, --broker, --admin-key, "
				"--threshold and --cacert do not go with it\n");
		return -1;
	}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (own[i].value != NULL && own[i].kind != lo->kind) {
			fprintf(stderr, "veritee seal: %s goes with --local %s, not --local %s\n", own[i].flag,
				vt_seal_local_name(own[i].kind), local);
			return -1;
		}
	}
	uint32_t v = 0;
	switch (lo->kind) {
	case VT_SEAL_LOCAL_TPM:
		lo->tpm_tcti = tcti;
		if (vt_seal_pcrs_parse(pcrs ? pcrs : "7", &lo->tpm_pcrs, &e) != VT_OK) {
			fprintf(stderr, "veritee seal: --pcrs: %s\n", e.detail);
			return -1;
		}
		break;
	case VT_SEAL_LOCAL_SNP:
		lo->snp_fields = VT_SEAL_SNP_FIELDS_DEFAULT;
		if (fields && vt_seal_snp_fields_parse(fields, &lo->snp_fields, &e) != VT_OK) {
			fprintf(stderr, "veritee seal: --snp-fields: %s\n", e.detail);
			return -1;
		}
		if (vmpl && (parse_u32(vmpl, &v) != 0 || v > 3)) {
			fprintf(stderr, "veritee seal: --vmpl must be 0..3\n");
			return -1;
		}
		lo->snp_vmpl = v;
		break;
	default: return sim_opts("seal", meas, svn, sim_dir, lo);
	}
	return 0;
}

/* What a local seal bound the key to, on success. */
static void seal_local_done(const char *in, const char *out, const struct vt_seal_local_opts *lo)
{
	char list[96];
	switch (lo->kind) {
	case VT_SEAL_LOCAL_TPM:
		vt_seal_pcrs_format(lo->tpm_pcrs, list, sizeof(list));
		fprintf(stderr, "veritee seal: %s -> %s; key sealed in this TPM under SHA-256 PCR%s %s as they are now\n", in,
			out, (lo->tpm_pcrs & (lo->tpm_pcrs - 1)) ? "s" : "", list);
		break;
	case VT_SEAL_LOCAL_SNP:
		vt_seal_snp_fields_format(lo->snp_fields, list, sizeof(list));
		fprintf(stderr, "veritee seal: %s -> %s; key derived by this SEV-SNP guest's firmware (chip, VMPL %u, %s)\n",
			in, out, lo->snp_vmpl, list);
		break;
	default: {
		char *hex = vt_hex_encode(lo->sim_measurement, sizeof(lo->sim_measurement));
		fprintf(stderr, "veritee seal: %s -> %s; key derived from the sim platform key for measurement %s, svn %u\n",
			in, out, hex ? hex : "?", lo->sim_svn);
		fprintf(stderr, "veritee seal: note: local:sim is INSECURE: whoever can read the sim key directory can "
				"open the file\n");
		free(hex);
		break;
	}
	}
}

int cmd_seal(int argc, char **argv)
{
	static const struct option opts[] = {
		{"in", required_argument, 0, 'i'},	   {"out", required_argument, 0, 'o'},
		{"resource", required_argument, 0, 'r'},   {"threshold", required_argument, 0, 't'},
		{"broker", required_argument, 0, 'b'},	   {"admin-key", required_argument, 0, 'k'},
		{"chunk-size", required_argument, 0, 'c'}, {"cacert", required_argument, 0, 'C'},
		{"local", required_argument, 0, 'L'},	   {"pcrs", required_argument, 0, 'P'},
		{"tpm-tcti", required_argument, 0, 'T'},   {"snp-fields", required_argument, 0, 'F'},
		{"vmpl", required_argument, 0, 'V'},	   {"measurement", required_argument, 0, 'M'},
		{"svn", required_argument, 0, 'S'},	   {"sim-dir", required_argument, 0, 'D'},
		{"help", no_argument, 0, 'h'},		   {0, 0, 0, 0},
	};
	const char *in = NULL, *out = NULL, *resource = NULL, *cacert = NULL;
	const char *urls[VT_SEAL_MAX_BROKERS], *keys[VT_SEAL_MAX_BROKERS];
	/* --local and its options, by the kind they belong to */
	const char *local = NULL, *pcrs = NULL, *tcti = NULL, *fields = NULL, *vmpl = NULL, *meas = NULL, *svn = NULL,
		   *sim_dir = NULL;
	size_t nb = 0, nk = 0;
	uint32_t k = 0, chunk = VT_SEAL_DEFAULT_CHUNK;
	int c, bad = 0;
	struct cli_seen seen = {0};
	static const int repeatable[] = {'b', 'k', 0}; /* one --broker and --admin-key per broker */
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", opts, "seal", &seen, repeatable)) != -1) {
		switch (c) {
		case CLI_OPT_REPEATED: bad = 1; break;
		case 'L': local = optarg; break;
		case 'P': pcrs = optarg; break;
		case 'T': tcti = optarg; break;
		case 'F': fields = optarg; break;
		case 'V': vmpl = optarg; break;
		case 'M': meas = optarg; break;
		case 'S': svn = optarg; break;
		case 'D': sim_dir = optarg; break;
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'r': resource = optarg; break;
		case 'C': cacert = optarg; break;
		case 't':
			if (parse_u32(optarg, &k) != 0 || k < 1 || k > VT_SEAL_MAX_BROKERS) {
				fprintf(stderr, "veritee seal: --threshold must be 1..%u\n", VT_SEAL_MAX_BROKERS);
				return CLI_ERROR;
			}
			break;
		case 'c':
			if (parse_u32(optarg, &chunk) != 0 || chunk < VT_SEAL_MIN_CHUNK || chunk > VT_SEAL_MAX_CHUNK) {
				fprintf(stderr, "veritee seal: --chunk-size must be %u..%u\n", VT_SEAL_MIN_CHUNK, VT_SEAL_MAX_CHUNK);
				return CLI_ERROR;
			}
			break;
		case 'b':
		case 'k':
			if ((c == 'b' ? nb : nk) >= VT_SEAL_MAX_BROKERS) {
				fprintf(stderr, "veritee seal: at most %u brokers\n", VT_SEAL_MAX_BROKERS);
				return CLI_ERROR;
			}
			if (c == 'b')
				urls[nb++] = optarg;
			else
				keys[nk++] = optarg;
			break;
		case 'h': seal_usage(stdout); return CLI_OK;
		default: seal_usage(stderr); return CLI_ERROR;
		}
	}
	if (bad)
		return CLI_ERROR;
	struct vt_seal_local_opts lo = {0};
	if (local != NULL || pcrs || tcti || fields || vmpl || meas || svn || sim_dir) {
		if (optind != argc || in == NULL || out == NULL) {
			seal_usage(stderr);
			return CLI_ERROR;
		}
		if (seal_local_opts(local, resource, nb + nk + k + (cacert != NULL), pcrs, tcti, fields, vmpl, meas, svn,
				    sim_dir, &lo) != 0)
			return CLI_ERROR;
	} else if (optind != argc || in == NULL || out == NULL || resource == NULL || nb == 0 || nk == 0) {
		seal_usage(stderr);
		return CLI_ERROR;
	}
	if (lo.kind == VT_SEAL_LOCAL_NONE && nk != 1 && nk != nb) {
		fprintf(stderr, "veritee seal: give one --admin-key for all brokers, or one per --broker (%zu brokers, %zu keys)\n",
			nb, nk);
		return CLI_ERROR;
	}
	if (lo.kind == VT_SEAL_LOCAL_NONE && k == 0 && nb > 1) {
		fprintf(stderr, "veritee seal: %zu brokers: say how many are needed to unseal with --threshold K\n", nb);
		return CLI_ERROR;
	}
	if (k == 0)
		k = 1;
	if (lo.kind == VT_SEAL_LOCAL_NONE && k > nb) {
		fprintf(stderr, "veritee seal: --threshold %u is more than the %zu brokers given\n", k, nb);
		return CLI_ERROR;
	}
	if (lo.kind == VT_SEAL_LOCAL_NONE && !vt_kbs_resource_path_valid(resource)) {
		fprintf(stderr, "veritee seal: --resource must be REPO/TYPE/TAG of [A-Za-z0-9_.-]\n");
		return CLI_ERROR;
	}
	struct stat st;
	if (stat(in, &st) != 0) {
		fprintf(stderr, "veritee seal: %s: %s\n", in, strerror(errno));
		return CLI_ERROR;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "veritee seal: %s is neither a regular file nor a directory\n", in);
		return CLI_ERROR;
	}
	const uint8_t payload = S_ISDIR(st.st_mode) ? VT_SEAL_PAYLOAD_TAR : VT_SEAL_PAYLOAD_FILE;

	int ret = CLI_ERROR, in_fd = -1;
	EVP_PKEY *pk[VT_SEAL_MAX_BROKERS] = {0};
	struct vt_secret *key = NULL, *shares[VT_SEAL_MAX_BROKERS] = {0};
	struct vt_seal_header *h = calloc(1, sizeof(*h));
	uint8_t *hdr = malloc(VT_SEAL_MAX_HEADER), *buf = NULL;
	size_t hdr_size = 0;
	struct vt_seal_enc *enc = NULL;
	struct vt_seal_out o = {.fd = -1};
	struct vt_err e = {0};
	if (h == NULL || hdr == NULL)
		goto out;
	for (size_t i = 0; i < nk; i++) {
		if (vt_key_load_pem(keys[i], true, &pk[i], &e) != VT_OK) {
			cli_err("seal", &e);
			goto out;
		}
	}
	if ((lo.kind != VT_SEAL_LOCAL_NONE ? vt_seal_local_header_new(payload, chunk, &lo, h, &key, &e)
					   : vt_seal_header_new(payload, chunk, resource, urls, nb, (uint8_t)k, h, &key,
								shares, &e)) != VT_OK ||
	    vt_seal_header_encode(h, hdr, VT_SEAL_MAX_HEADER, &hdr_size, &e) != VT_OK) {
		cli_err("seal", &e);
		goto out;
	}
	if (payload == VT_SEAL_PAYLOAD_FILE && (in_fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "veritee seal: %s: %s\n", in, strerror(errno));
		goto out;
	}
	signals_install();
	if (vt_seal_out_open(&o, out, false, &e) != VT_OK) {
		cli_err("seal", &e);
		goto out;
	}
	temp_track(&o);
	if (vt_seal_enc_new(key, h, hdr, hdr_size, o.fd, &enc, &e) != VT_OK) {
		cli_err("seal", &e);
		goto out;
	}
	struct progress pr = {.on = isatty(2) && payload == VT_SEAL_PAYLOAD_FILE, .total = (uint64_t)st.st_size, .verb = "seal"};
	if (payload == VT_SEAL_PAYLOAD_TAR) {
		if (vt_seal_archive_dir(in, enc, &e) != VT_OK) {
			cli_err("seal", &e);
			goto out;
		}
	} else {
		if ((buf = malloc(chunk)) == NULL)
			goto out;
		uint64_t done = 0;
		for (;;) {
			size_t got = 0;
			if (g_cancel) {
				fprintf(stderr, "veritee seal: cancelled\n");
				goto out;
			}
			if (vt_seal_read_full(in_fd, buf, chunk, &got, "input", &e) != VT_OK ||
			    vt_seal_enc_write(enc, buf, got, &e) != VT_OK) {
				cli_err("seal", &e);
				goto out;
			}
			done += got;
			progress_show(&pr, done);
			if (got < chunk)
				break;
		}
		progress_end(&pr);
	}
	if (vt_seal_enc_finish(enc, &e) != VT_OK) {
		cli_err("seal", &e);
		goto out;
	}
	/* The sealed file is complete; now the brokers get their parts, and
	 * only when all did does it appear under its name (a local key is
	 * complete already). */
	for (size_t i = 0; i < nb && lo.kind == VT_SEAL_LOCAL_NONE; i++) {
		if (g_cancel || store_share(urls[i], cacert, pk[nk == 1 ? 0 : i], resource, shares[i], (unsigned)i) != 0) {
			if (i > 0)
				fprintf(stderr, "veritee seal: note: broker%s 1..%zu already store their part of this key under "
						"%s; it opens nothing without %s\n",
					i > 1 ? "s" : "", i, resource, out);
			goto out;
		}
	}
	if (g_cancel) { /* the local path has no broker loop that looks */
		fprintf(stderr, "veritee seal: cancelled\n");
		goto out;
	}
	g_temp_file_set = 0;
	if (vt_seal_out_commit(&o, &e) != VT_OK) {
		cli_err("seal", &e);
		goto out;
	}
	if (lo.kind != VT_SEAL_LOCAL_NONE)
		seal_local_done(in, out, &lo);
	else if (k == 1 && nb == 1)
		fprintf(stderr, "veritee seal: %s -> %s; key stored at %s as %s\n", in, out, urls[0], resource);
	else
		fprintf(stderr, "veritee seal: %s -> %s; key split %u-of-%zu, one part at each broker as %s\n", in, out, k,
			nb, resource);
	ret = CLI_OK;
out:
	g_temp_file_set = 0;
	if (ret != CLI_OK)
		vt_seal_out_abort(&o);
	vt_seal_enc_free(enc);
	if (in_fd >= 0)
		close(in_fd);
	if (buf) {
		vt_wipe(buf, chunk);
		free(buf);
	}
	vt_secret_free(key);
	for (size_t i = 0; i < VT_SEAL_MAX_BROKERS; i++) {
		vt_secret_free(shares[i]);
		EVP_PKEY_free(pk[i]);
	}
	free(h);
	free(hdr);
	reraise();
	return ret;
}

/* ------------------------------------------------------------ unseal */

static void unseal_usage(FILE *f)
{
	fprintf(f, "usage: veritee unseal --in FILE.vts (--out FILE | --to-dir DIR) --tee TEE [TEE options]\n"
		   "                      [--cacert PEM] [--rsa]\n"
		   "       veritee unseal --in FILE.vts (--out FILE | --to-dir DIR)     (a file sealed with --local)\n"
		   "\n"
		   "Attests to every broker named in the sealed file at once, keeps the key shares that match\n"
		   "the commitments in its header, and as soon as K are in, rebuilds the key, checks every\n"
		   "chunk and writes the plaintext.  Nothing appears at --out (or --to-dir) unless the whole\n"
		   "file authenticated: it is written to a temporary file (or directory) beside it and renamed\n"
		   "at the end; an error, SIGINT or SIGTERM removes it.  Exit 0 unsealed, 1 refused or\n"
		   "tampered, 2 error.\n"
		   "\n"
		   "A file sealed with `veritee seal --local` names no broker: its key comes from this\n"
		   "machine's TEE (the TPM, the SEV-SNP firmware, or the INSECURE sim), which gives it only in\n"
		   "the state the file was sealed in.  Of the options below only --tpm-tcti (local:tpm) and\n"
		   "--sim-dir, --measurement, --svn (local:sim) apply to it.\n"
		   "\n"
		   "  --in FILE.vts        the sealed file\n"
		   "  --out FILE           where the plaintext goes (mode 0600) for a sealed file\n"
		   "  --to-dir DIR         where a sealed directory is extracted (must not exist, or be empty)\n"
		   "  --tee TEE            the TEE to attest as (its attester's options below)\n"
		   "  --cacert PEM         CA bundle that signs the brokers' HTTPS certificates\n"
		   "  --rsa                use an RSA-3072 TEE key (RSA-OAEP-256) instead of P-256\n");
	cli_attesters_help(f);
}

/*
 * A local file: the options that apply to its kind into *lo; a note for
 * every other option given (they are not used).  0, or -1 after saying why.
 */
static int unseal_local_opts(const char *in, enum vt_seal_local kind, const struct vt_client_opts *co,
			     const json_t *given, struct vt_seal_local_opts *lo)
{
	static const char *const uses[][4] = {
		[VT_SEAL_LOCAL_TPM] = {"tpm_tcti"},
		[VT_SEAL_LOCAL_SNP] = {NULL},
		[VT_SEAL_LOCAL_SIM] = {"sim_dir", "measurement", "svn"},
	};
	const char *name = vt_seal_local_name(kind), *key;
	json_t *v;
	memset(lo, 0, sizeof(*lo));
	lo->kind = kind;
	if (co->tee && strcmp(co->tee, name) != 0)
		fprintf(stderr, "veritee unseal: note: --tee %s is not used: %s is sealed to local:%s\n", co->tee, in, name);
	if (co->cacert || co->rsa)
		fprintf(stderr, "veritee unseal: note: %s%s%s %s not used: %s names no broker (local:%s)\n",
			co->cacert ? "--cacert" : "", co->cacert && co->rsa ? " and " : "", co->rsa ? "--rsa" : "",
			co->cacert && co->rsa ? "are" : "is", in, name);
	json_object_foreach((json_t *)given, key, v) {
		bool used = false;
		for (size_t i = 0; i < 4 && uses[kind][i]; i++)
			used |= strcmp(key, uses[kind][i]) == 0;
		if (!used) {
			char flag[64];
			cli_flag_name(key, flag, sizeof(flag));
			fprintf(stderr, "veritee unseal: note: --%s is not used for a local:%s file\n", flag, name);
		}
	}
	if (kind == VT_SEAL_LOCAL_TPM) {
		lo->tpm_tcti = json_string_value(json_object_get(given, "tpm_tcti"));
	} else if (kind == VT_SEAL_LOCAL_SIM) {
		return sim_opts("unseal", json_string_value(json_object_get(given, "measurement")),
				json_string_value(json_object_get(given, "svn")),
				json_string_value(json_object_get(given, "sim_dir")), lo);
	}
	return 0;
}

/* Read and parse the header; leaves fd just after it. */
static int read_header(int fd, struct vt_seal_header *h, uint8_t *hdr, size_t *hdr_size)
{
	struct vt_err e = {0};
	size_t got = 0, hs = 0;
	if (vt_seal_read_full(fd, hdr, VT_SEAL_PREFIX_SIZE, &got, "input", &e) != VT_OK ||
	    vt_seal_header_size(hdr, got, &hs, &e) != VT_OK) {
		cli_err("unseal", &e);
		return cli_exit_code(e.code);
	}
	size_t more = 0;
	if (vt_seal_read_full(fd, hdr + got, hs - got, &more, "input", &e) != VT_OK ||
	    vt_seal_header_parse(hdr, got + more, h, hdr_size, &e) != VT_OK) {
		cli_err("unseal", &e);
		return cli_exit_code(e.code);
	}
	return CLI_OK;
}

int cmd_unseal(int argc, char **argv)
{
	static const struct option fixed[] = {
		{"in", required_argument, 0, 'i'},	{"out", required_argument, 0, 'o'},
		{"to-dir", required_argument, 0, 'd'},	{"tee", required_argument, 0, 't'},
		{"cacert", required_argument, 0, 'c'},	{"rsa", no_argument, 0, 'R'},
		{"help", no_argument, 0, 'h'},
		/* the name before every command spelled it --cacert (not in the help) */
		{"broker-cacert", required_argument, 0, 'c'},
		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	cli_attesters_opts(&to, fixed);
	struct vt_client_opts co = {0};
	const char *in = NULL, *out = NULL, *to_dir = NULL;
	json_t *given = json_object();
	int c, ret = CLI_ERROR;
	struct cli_seen seen = {0};
	optind = 1;
	while ((c = cli_getopt(argc, argv, "h", to.opts, "unseal", &seen, NULL)) != -1) {
		if (c == CLI_OPT_REPEATED) {
			json_decref(given);
			return CLI_ERROR;
		}
		if (c >= CLI_TEEOPT_BASE) {
			if (cli_teeopts_take(&to, c, given, "unseal") != 0) {
				json_decref(given);
				return CLI_ERROR;
			}
			continue;
		}
		switch (c) {
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'd': to_dir = optarg; break;
		case 't': co.tee = optarg; break;
		case 'c': co.cacert = optarg; break;
		case 'R': co.rsa = true; break;
		case 'h': unseal_usage(stdout); json_decref(given); return CLI_OK;
		default: unseal_usage(stderr); json_decref(given); return CLI_ERROR;
		}
	}
	if (optind != argc || in == NULL || (out == NULL) == (to_dir == NULL)) {
		unseal_usage(stderr);
		json_decref(given);
		return CLI_ERROR;
	}
	co.attest_options = given;

	struct vt_seal_header *h = calloc(1, sizeof(*h));
	struct vt_seal_broker_result *res = calloc(VT_SEAL_MAX_BROKERS, sizeof(*res));
	uint8_t *hdr = malloc(VT_SEAL_MAX_HEADER);
	size_t hdr_size = 0;
	struct vt_secret *key = NULL;
	struct vt_seal_dec *dec = NULL;
	struct vt_seal_out o = {.fd = -1};
	struct vt_err e = {0};
	int fd = -1;
	if (h == NULL || res == NULL || hdr == NULL)
		goto out;
	if ((fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "veritee unseal: %s: %s\n", in, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "veritee unseal: %s is not a regular file\n", in);
		goto out;
	}
	if ((ret = read_header(fd, h, hdr, &hdr_size)) != CLI_OK)
		goto out;
	ret = CLI_ERROR;
	if (h->payload == VT_SEAL_PAYLOAD_TAR && out) {
		fprintf(stderr, "veritee unseal: %s holds a sealed directory: use --to-dir DIR\n", in);
		goto out;
	}
	if (h->payload == VT_SEAL_PAYLOAD_FILE && to_dir) {
		fprintf(stderr, "veritee unseal: %s holds a sealed file, not a directory: use --out FILE\n", in);
		goto out;
	}
	const enum vt_seal_local kind = vt_seal_header_local(h);
	struct vt_seal_local_opts lo;
	if (kind != VT_SEAL_LOCAL_NONE) {
		if (unseal_local_opts(in, kind, &co, given, &lo) != 0)
			goto out;
	} else if (co.tee == NULL) {
		fprintf(stderr, "veritee unseal: %s is opened by its broker%s: say which TEE to attest as with --tee TEE\n",
			in, h->count > 1 ? "s" : "");
		goto out;
	} else if (cli_attester_check("unseal", co.tee, given) != 0) {
		goto out;
	}
	signals_install();
	if (kind != VT_SEAL_LOCAL_NONE) {
		/* The TEE answers at once: no threads, no brokers to report. */
		if (vt_unseal_local_key(h, &lo, &key, &e) != VT_OK) {
			fprintf(stderr, "veritee unseal: cannot open %s (local:%s): %s\n", in, vt_seal_local_name(kind),
				e.detail);
			ret = cli_exit_code(e.code);
			goto out;
		}
		if (g_cancel) {
			fprintf(stderr, "veritee unseal: cancelled\n");
			goto out;
		}
	}
	struct vt_unseal_opts uo = {.client = &co, .cancel = &g_cancel};
	vt_status rc = kind != VT_SEAL_LOCAL_NONE ? VT_OK : vt_unseal_key(h, &uo, &key, res, &e);
	for (unsigned i = 0; i < h->count && kind == VT_SEAL_LOCAL_NONE; i++) {
		/* Every broker that did not give a good share is named, also on success. */
		if (rc != VT_OK || (res[i].outcome != VT_SEAL_SHARE_OK && res[i].outcome != VT_SEAL_PENDING))
			fprintf(stderr, "veritee unseal: broker %u of %u (%s): %s\n", i + 1, h->count, h->brokers[i].url,
				res[i].message);
	}
	if (rc != VT_OK) {
		if (g_cancel)
			fprintf(stderr, "veritee unseal: cancelled\n");
		else
			fprintf(stderr, "veritee unseal: cannot open %s: %s (K=%u of N=%u)\n", in, e.detail, h->threshold,
				h->count);
		ret = g_cancel ? CLI_ERROR : cli_exit_code(rc);
		goto out;
	}
	if (vt_seal_out_open(&o, out ? out : to_dir, to_dir != NULL, &e) != VT_OK) {
		cli_err("unseal", &e);
		goto out;
	}
	temp_track(&o);
	if (vt_seal_dec_new(key, h, hdr, hdr_size, fd, &dec, &e) != VT_OK) {
		cli_err("unseal", &e);
		goto out;
	}
	vt_secret_free(key);
	key = NULL;
	struct progress pr = {.on = isatty(2), .total = (uint64_t)st.st_size, .verb = "unseal"};
	if (to_dir) {
		if (vt_seal_extract(dec, o.temp, progress_show, &pr, &g_cancel, &e) != VT_OK) {
			progress_end(&pr);
			if (g_cancel)
				fprintf(stderr, "veritee unseal: cancelled\n");
			else
				cli_err("unseal", &e);
			ret = g_cancel ? CLI_ERROR : cli_exit_code(e.code);
			goto out;
		}
	} else {
		for (bool done = false; !done;) {
			const uint8_t *pt;
			size_t n;
			if (g_cancel) {
				progress_end(&pr);
				fprintf(stderr, "veritee unseal: cancelled\n");
				goto out;
			}
			if (vt_seal_dec_next(dec, &pt, &n, &done, &e) != VT_OK ||
			    vt_seal_write_all(o.fd, pt, n, "output", &e) != VT_OK) {
				progress_end(&pr);
				cli_err("unseal", &e);
				ret = cli_exit_code(e.code);
				goto out;
			}
			progress_show(&pr, vt_seal_dec_bytes_read(dec));
		}
	}
	progress_end(&pr);
	g_temp_file_set = 0;
	if (vt_seal_out_commit(&o, &e) != VT_OK) {
		cli_err("unseal", &e);
		goto out;
	}
	ret = CLI_OK;
out:
	g_temp_file_set = 0;
	if (ret != CLI_OK)
		vt_seal_out_abort(&o);
	vt_seal_dec_free(dec);
	vt_secret_free(key);
	if (fd >= 0)
		close(fd);
	free(h);
	free(res);
	free(hdr);
	json_decref(given);
	reraise();
	/* Brokers not waited for may still be mid-request in their threads;
	 * leave without the global library teardown that would race them. */
	if (vt_unseal_pending() > 0) {
		fflush(NULL);
		_exit(ret);
	}
	return ret;
}
