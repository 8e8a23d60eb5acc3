/* veritee seal / unseal: files and directories whose key only attested
 * workloads get, from one broker or K of N (docs/sealed-format.md). */
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
		"\n"
		"Encrypts FILE (or DIR, as a POSIX tar stream) with a fresh 256-bit key in authenticated\n"
		"AES-256-GCM chunks and stores the key at the broker(s) as resource REPO/TYPE/TAG through\n"
		"their admin API.  With one broker the key is stored whole.  With N brokers and --threshold K\n"
		"the key is split K-of-N (Shamir over GF(256), libgfshare): each broker keeps one share, and\n"
		"any K of them open the file.  Nothing is written to --out unless every broker stored its part.\n"
		"The resource is overwritten: use a resource path of its own for every sealed file.\n"
		"\n"
		"  --broker URL        a broker (repeat; at most %u)\n"
		"  --admin-key KEY     admin private key for the broker given before it (or one key for all)\n"
		"  --threshold K       brokers needed to unseal (required with more than one broker)\n"
		"  --chunk-size N      plaintext bytes per chunk, %u..%u (default %u)\n"
		"  --cacert PEM        CA bundle that signs the brokers' HTTPS certificates\n",
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

int cmd_seal(int argc, char **argv)
{
	static const struct option opts[] = {
		{"in", required_argument, 0, 'i'},	   {"out", required_argument, 0, 'o'},
		{"resource", required_argument, 0, 'r'},   {"threshold", required_argument, 0, 't'},
		{"broker", required_argument, 0, 'b'},	   {"admin-key", required_argument, 0, 'k'},
		{"chunk-size", required_argument, 0, 'c'}, {"cacert", required_argument, 0, 'C'},
		{"help", no_argument, 0, 'h'},		   {0, 0, 0, 0},
	};
	const char *in = NULL, *out = NULL, *resource = NULL, *cacert = NULL;
	const char *urls[VT_SEAL_MAX_BROKERS], *keys[VT_SEAL_MAX_BROKERS];
	size_t nb = 0, nk = 0;
	uint32_t k = 0, chunk = VT_SEAL_DEFAULT_CHUNK;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
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
	if (optind != argc || in == NULL || out == NULL || resource == NULL || nb == 0 || nk == 0) {
		seal_usage(stderr);
		return CLI_ERROR;
	}
	if (nk != 1 && nk != nb) {
		fprintf(stderr, "veritee seal: give one --admin-key for all brokers, or one per --broker (%zu brokers, %zu keys)\n",
			nb, nk);
		return CLI_ERROR;
	}
	if (k == 0 && nb > 1) {
		fprintf(stderr, "veritee seal: %zu brokers: say how many are needed to unseal with --threshold K\n", nb);
		return CLI_ERROR;
	}
	if (k == 0)
		k = 1;
	if (k > nb) {
		fprintf(stderr, "veritee seal: --threshold %u is more than the %zu brokers given\n", k, nb);
		return CLI_ERROR;
	}
	if (!vt_kbs_resource_path_valid(resource)) {
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
	if (vt_seal_header_new(payload, chunk, resource, urls, nb, (uint8_t)k, h, &key, shares, &e) != VT_OK ||
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
	 * only when all did does it appear under its name. */
	for (size_t i = 0; i < nb; i++) {
		if (g_cancel || store_share(urls[i], cacert, pk[nk == 1 ? 0 : i], resource, shares[i], (unsigned)i) != 0) {
			if (i > 0)
				fprintf(stderr, "veritee seal: note: broker%s 1..%zu already store their part of this key under "
						"%s; it opens nothing without %s\n",
					i > 1 ? "s" : "", i, resource, out);
			goto out;
		}
	}
	g_temp_file_set = 0;
	if (vt_seal_out_commit(&o, &e) != VT_OK) {
		cli_err("seal", &e);
		goto out;
	}
	if (k == 1 && nb == 1)
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
		   "                      [--broker-cacert PEM] [--rsa]\n"
		   "\n"
		   "Attests to every broker named in the sealed file at once, keeps the key shares that match\n"
		   "the commitments in its header, and as soon as K are in, rebuilds the key, checks every\n"
		   "chunk and writes the plaintext.  Nothing appears at --out (or --to-dir) unless the whole\n"
		   "file authenticated: it is written to a temporary file (or directory) beside it and renamed\n"
		   "at the end; an error, SIGINT or SIGTERM removes it.  Exit 0 unsealed, 1 refused or\n"
		   "tampered, 2 error.\n"
		   "\n"
		   "  --in FILE.vts        the sealed file\n"
		   "  --out FILE           where the plaintext goes (mode 0600) for a sealed file\n"
		   "  --to-dir DIR         where a sealed directory is extracted (must not exist, or be empty)\n"
		   "  --tee TEE            the TEE to attest as (its attester's options below)\n"
		   "  --broker-cacert PEM  CA bundle that signs the brokers' HTTPS certificates\n"
		   "  --rsa                use an RSA-3072 TEE key (RSA-OAEP-256) instead of P-256\n");
	cli_attesters_help(f);
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
		{"broker-cacert", required_argument, 0, 'c'}, {"rsa", no_argument, 0, 'R'},
		{"help", no_argument, 0, 'h'},		{0, 0, 0, 0},
	};
	static struct cli_teeopts to;
	cli_attesters_opts(&to, fixed);
	struct vt_client_opts co = {0};
	const char *in = NULL, *out = NULL, *to_dir = NULL;
	json_t *given = json_object();
	int c, ret = CLI_ERROR;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", to.opts, NULL)) != -1) {
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
	if (optind != argc || in == NULL || co.tee == NULL || (out == NULL) == (to_dir == NULL)) {
		unseal_usage(stderr);
		json_decref(given);
		return CLI_ERROR;
	}
	if (cli_attester_check("unseal", co.tee, given) != 0) {
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
	signals_install();
	struct vt_unseal_opts uo = {.client = &co, .cancel = &g_cancel};
	vt_status rc = vt_unseal_key(h, &uo, &key, res, &e);
	for (unsigned i = 0; i < h->count; i++) {
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
