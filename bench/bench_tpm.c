/*
 * bench_tpm — TPM quote verification (`vt_tee_tpm.verify`: quote signature,
 * qualifying data, PCR digest, replay of a realistic event log against the
 * quoted PCRs, claims) per second on one core, next to the raw OpenSSL
 * signature verification rate for the same key type measured in the same
 * run, and to `tpm2_checkquote` (one process per quote, as users run it).
 *
 * usage: bench_tpm [seconds]
 *
 * Setup (not timed): starts swtpm on 127.0.0.1 (free ports, fresh state in a
 * temporary directory), builds a synthetic but realistic TCG crypto-agile
 * event log (Spec ID event, ~100 events on PCRs 0-9 with
 * SHA-1 and SHA-256 digests: CRTM version, firmware blobs, EFI boot
 * variables, Secure Boot variables, GPT, boot applications, grub commands
 * and files), extends the same SHA-256 digests into the TPM, then takes one
 * quote with an ECDSA P-256 AK and one with an RSA-2048 RSASSA AK through
 * veritee's attester, and one of each with tpm2_quote (tpm2-tools' own PCR
 * file format for tpm2_checkquote -f).  swtpm is stopped before timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "attester/tpm/tpm_attester.h"
#include "veritee/crypto.h"
#include "veritee/evidence.h"
#include "veritee/json.h"
#include "veritee/tpm.h"
#include "veritee/util.h"

extern char **environ;

static char dir[64];
static pid_t swtpm_pid = -1;
static char tcti[96];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stop_swtpm(void)
{
	if (swtpm_pid > 0) {
		kill(swtpm_pid, SIGTERM);
		waitpid(swtpm_pid, NULL, 0);
		swtpm_pid = -1;
	}
}

static void cleanup(void)
{
	stop_swtpm();
	if (dir[0] && getenv("BENCH_TPM_KEEP") != NULL) {
		fprintf(stderr, "bench_tpm: kept %s\n", dir);
	} else if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n", dir);
		dir[0] = 0;
	}
}

static void die(const char *what, const struct vt_err *e)
{
	fprintf(stderr, "bench_tpm: %s%s%s\n", what, e ? ": " : "", e ? e->detail : "");
	cleanup();
	exit(2);
}

/* ------------------------------------------------------------ swtpm */

static bool port_free(int p)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

static bool port_accepts(int p)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

static void start_swtpm(void)
{
	char state[96];
	snprintf(state, sizeof(state), "%s/tpm", dir);
	if (mkdir(state, 0700) != 0)
		die("mkdir tpm state", NULL);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	for (int attempt = 0; attempt < 20; attempt++) {
		int p = 20000 + rand() % 40000;
		if (!port_free(p) || !port_free(p + 1))
			continue;
		char server[96], ctrl[96], st[128];
		snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", p);
		snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", p + 1);
		snprintf(st, sizeof(st), "dir=%s", state);
		swtpm_pid = fork();
		if (swtpm_pid == 0) {
			if (freopen("/dev/null", "r", stdin) == NULL || freopen("/dev/null", "w", stdout) == NULL ||
			    freopen("/dev/null", "w", stderr) == NULL)
				_exit(127);
			execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--tpmstate", st,
			       "--flags", "not-need-init,startup-clear", (char *)NULL);
			_exit(127);
		}
		if (swtpm_pid < 0)
			die("fork", NULL);
		for (int i = 0; i < 200; i++) {
			if (port_accepts(p)) {
				snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", p);
				return;
			}
			if (waitpid(swtpm_pid, NULL, WNOHANG) == swtpm_pid) {
				swtpm_pid = -1;
				break;
			}
			usleep(50000);
		}
		stop_swtpm(); /* lost a port race: other ports */
	}
	die("swtpm did not start (is it installed? apt-get install swtpm)", NULL);
}

/* ------------------------------------------------------------ event log */

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *src, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			die("out of memory", NULL);
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void u16le(struct bytes *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(b, x, 2);
}

static void u32le(struct bytes *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(b, x, 4);
}

static void u64le(struct bytes *b, uint64_t v)
{
	u32le(b, (uint32_t)v);
	u32le(b, (uint32_t)(v >> 32));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static void pseudo_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		p[i] = (uint8_t)rng_state;
	}
}

static void utf16(struct bytes *b, const char *s)
{
	for (; *s; s++)
		u16le(b, (uint16_t)(unsigned char)*s);
}

#define EV_NO_ACTION 0x3u
#define EV_SEPARATOR 0x4u
#define EV_S_CRTM_VERSION 0x8u
#define EV_PLATFORM_CONFIG_FLAGS 0xAu
#define EV_IPL 0xDu
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define EV_EFI_VARIABLE_BOOT 0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_BOOT_SERVICES_DRIVER 0x80000004u
#define EV_EFI_GPT_EVENT 0x80000006u
#define EV_EFI_ACTION 0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008u
#define EV_EFI_HANDOFF_TABLES 0x80000009u
#define EV_EFI_VARIABLE_AUTHORITY 0x800000E0u

struct log {
	struct bytes b;
	unsigned events;   /* after the Spec ID event */
	uint32_t pcr_mask; /* PCRs extended */
};

/* One TCG_PCR_EVENT2 with SHA-1 and SHA-256 digests of `measured` (what the
 * firmware hashed), event data `data`; the SHA-256 digest is extended into
 * the TPM unless EV_NO_ACTION. */
static void event(struct log *l, uint32_t pcr, uint32_t type, const void *data, size_t n, const void *measured,
		  size_t mn)
{
	uint8_t d1[20] = {0}, d256[32] = {0};
	size_t dl = 0;
	if (type != EV_NO_ACTION &&
	    (vt_digest(EVP_sha1(), measured, mn, d1, &dl, NULL) != VT_OK ||
	     vt_digest(EVP_sha256(), measured, mn, d256, &dl, NULL) != VT_OK))
		die("digest", NULL);
	u32le(&l->b, pcr);
	u32le(&l->b, type);
	u32le(&l->b, 2);
	u16le(&l->b, VT_TPM_ALG_SHA1);
	put(&l->b, d1, sizeof(d1));
	u16le(&l->b, VT_TPM_ALG_SHA256);
	put(&l->b, d256, sizeof(d256));
	u32le(&l->b, (uint32_t)n);
	put(&l->b, data, n);
	l->events++;
	if (type != EV_NO_ACTION) {
		struct vt_err e = {0};
		if (vt_tpm_pcr_extend(tcti, pcr, d256, &e) != VT_OK)
			die("PCR extend", &e);
		l->pcr_mask |= 1u << pcr;
	}
}

/* Event whose digest is the hash of its own data. */
static void event_self(struct log *l, uint32_t pcr, uint32_t type, const void *data, size_t n)
{
	event(l, pcr, type, data, n, data, n);
}

/* Event whose digest is of an image/blob the log does not carry. */
static void event_blob(struct log *l, uint32_t pcr, uint32_t type, const void *data, size_t n, size_t blob_size)
{
	uint8_t *blob = malloc(blob_size);
	if (blob == NULL)
		die("out of memory", NULL);
	pseudo_random(blob, blob_size);
	event(l, pcr, type, data, n, blob, blob_size);
	free(blob);
}

static void separator(struct log *l, uint32_t pcr)
{
	static const uint8_t zero[4] = {0};
	event_self(l, pcr, EV_SEPARATOR, zero, sizeof(zero));
}

static const uint8_t EFI_GLOBAL[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
				       0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
static const uint8_t EFI_IMAGE_SECURITY_DB[16] = {0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
						  0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};

/* UEFI_VARIABLE_DATA: GUID, name length (chars), data length, UTF-16 name, data. */
static void variable(struct log *l, uint32_t pcr, uint32_t type, const uint8_t guid[16], const char *name,
		     size_t data_size, bool digest_of_data_only)
{
	struct bytes v = {0};
	uint8_t *data = malloc(data_size ? data_size : 1);
	if (data == NULL)
		die("out of memory", NULL);
	pseudo_random(data, data_size);
	if (strcmp(name, "SecureBoot") == 0 && data_size == 1)
		data[0] = 1;
	put(&v, guid, 16);
	u64le(&v, strlen(name));
	u64le(&v, data_size);
	utf16(&v, name);
	put(&v, data, data_size);
	if (digest_of_data_only) /* EV_EFI_VARIABLE_BOOT: the variable's data */
		event(l, pcr, type, v.p, v.n, data, data_size);
	else
		event_self(l, pcr, type, v.p, v.n);
	free(v.p);
	free(data);
}

static void text(struct log *l, uint32_t pcr, uint32_t type, const char *s)
{
	event_self(l, pcr, type, s, strlen(s));
}

/* grub: data "grub_cmd: CMD\0", digest of CMD; files: data path, digest of the file. */
static void grub_cmd(struct log *l, const char *cmd)
{
	char data[256];
	int n = snprintf(data, sizeof(data), "grub_cmd: %s", cmd);
	event(l, 8, EV_IPL, data, (size_t)n + 1, cmd, strlen(cmd));
}

static void build_log(struct log *l)
{
	memset(l, 0, sizeof(*l));
	/* Spec ID event (legacy TCG_PCClientPCREvent header, SHA-1 digest zero) */
	struct bytes sid = {0};
	put(&sid, "Spec ID Event03", 16);
	u32le(&sid, 0);                                        /* platform class: client */
	put(&sid, (const uint8_t[]){0, 2, 0, 2}, 4);           /* 2.0, errata 0, uintn 2 (8 bytes) */
	u32le(&sid, 2);
	u16le(&sid, VT_TPM_ALG_SHA1);
	u16le(&sid, 20);
	u16le(&sid, VT_TPM_ALG_SHA256);
	u16le(&sid, 32);
	put(&sid, (const uint8_t[]){0}, 1);                    /* vendor info size */
	u32le(&l->b, 0);
	u32le(&l->b, EV_NO_ACTION);
	put(&l->b, (const uint8_t[20]){0}, 20);
	u32le(&l->b, (uint32_t)sid.n);
	put(&l->b, sid.p, sid.n);
	free(sid.p);

	/* PCR 0: CRTM, firmware volumes.  No StartupLocality event: the TPM here
	 * starts at locality 0 anyway, and tpm2-tools 5.4's replay (tpm2_eventlog,
	 * tpm2_checkquote -e) gets PCR 0 wrong when the log has one. */
	struct bytes ver = {0};
	utf16(&ver, "1.0.0 (veritee bench firmware)");
	u16le(&ver, 0);
	event_self(l, 0, EV_S_CRTM_VERSION, ver.p, ver.n);
	free(ver.p);
	for (int i = 0; i < 6; i++) {
		uint8_t fv[16];
		pseudo_random(fv, sizeof(fv));
		event_blob(l, 0, EV_EFI_PLATFORM_FIRMWARE_BLOB, fv, sizeof(fv), 4096);
	}
	/* PCR 1: configuration, boot variables, handoff tables */
	uint8_t flags[4] = {1, 0, 0, 0};
	event_self(l, 1, EV_PLATFORM_CONFIG_FLAGS, flags, sizeof(flags));
	uint8_t tables[40];
	pseudo_random(tables, sizeof(tables));
	event_blob(l, 1, EV_EFI_HANDOFF_TABLES, tables, sizeof(tables), 512);
	variable(l, 1, EV_EFI_VARIABLE_BOOT, EFI_GLOBAL, "BootOrder", 16, true);
	for (int i = 0; i < 12; i++) {
		char name[16];
		snprintf(name, sizeof(name), "Boot%04X", i);
		variable(l, 1, EV_EFI_VARIABLE_BOOT, EFI_GLOBAL, name, 120 + (size_t)i * 8, true);
	}
	/* PCR 2: option ROM drivers */
	for (int i = 0; i < 5; i++) {
		uint8_t img[32];
		pseudo_random(img, sizeof(img));
		event_blob(l, 2, EV_EFI_BOOT_SERVICES_DRIVER, img, sizeof(img), 8192);
	}
	/* PCR 7: Secure Boot policy */
	variable(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, EFI_GLOBAL, "SecureBoot", 1, false);
	variable(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, EFI_GLOBAL, "PK", 862, false);
	variable(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, EFI_GLOBAL, "KEK", 1560, false);
	variable(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, EFI_IMAGE_SECURITY_DB, "db", 3143, false);
	variable(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, EFI_IMAGE_SECURITY_DB, "dbx", 3724, false);
	/* separators 0-7 */
	for (uint32_t p = 0; p <= 7; p++)
		separator(l, p);
	/* PCR 4: boot manager, shim, grub, kernel; PCR 7: the authorities used */
	text(l, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option");
	const size_t images[] = {950000, 2400000, 11000000};
	for (size_t i = 0; i < 3; i++) {
		uint8_t loaded[64];
		pseudo_random(loaded, sizeof(loaded));
		event_blob(l, 4, EV_EFI_BOOT_SERVICES_APPLICATION, loaded, sizeof(loaded), images[i] / 64);
		if (i < 2)
			variable(l, 7, EV_EFI_VARIABLE_AUTHORITY, EFI_IMAGE_SECURITY_DB, i ? "MokList" : "db",
				 i ? 1080 : 1500, false);
	}
	/* PCR 5: GPT */
	uint8_t gpt[92 + 8 + 3 * 128];
	pseudo_random(gpt, sizeof(gpt));
	event_self(l, 5, EV_EFI_GPT_EVENT, gpt, sizeof(gpt));
	/* PCR 8: grub commands and the kernel command line; PCR 9: files grub read */
	static const char *const cmds[] = {
		"set root='hd0,gpt2'",
		"search --no-floppy --fs-uuid --set=root 6f1d2c3b-7a44-4c1e-9d0e-2f5a8b7c6d01",
		"set prefix=($root)'/boot/grub'",
		"configfile ($root)/boot/grub/grub.cfg",
		"set pager=1",
		"[ -s (hd0,gpt2)/boot/grub/grubenv ]",
		"set have_grubenv=true",
		"load_env",
		"[ = 2 ]",
		"[ = 1 ]",
		"set default=0",
		"[ xy = xy ]",
		"menuentry_id_option=--id",
		"export menuentry_id_option",
		"[ = 1 ]",
		"font=unicode",
		"loadfont unicode",
		"set gfxmode=auto",
		"load_video",
		"[ xy = xy ]",
		"insmod all_video",
		"insmod gfxterm",
		"set locale_dir=$prefix/locale",
		"set lang=en_US",
		"insmod gettext",
		"terminal_output gfxterm",
		"[ = 1 ]",
		"set timeout_style=menu",
		"set timeout=5",
		"set menu_color_normal=white/black",
		"set menu_color_highlight=black/light-gray",
		"[ -f (hd0,gpt2)/boot/grub/custom.cfg ]",
		"setparams Debian GNU/Linux",
		"load_video",
		"insmod gzio",
		"insmod part_gpt",
		"insmod ext2",
		"set root='hd0,gpt2'",
		"echo Loading Linux 6.1.0-26-amd64 ...",
		"linux /boot/vmlinuz-6.1.0-26-amd64 root=UUID=6f1d2c3b-7a44-4c1e-9d0e-2f5a8b7c6d01 ro quiet",
		"echo Loading initial ramdisk ...",
		"initrd /boot/initrd.img-6.1.0-26-amd64",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		grub_cmd(l, cmds[i]);
		if (i == 3)
			event_blob(l, 9, EV_IPL, "(hd0,gpt2)/boot/grub/grub.cfg", 31, 7800);
		if (i == 5)
			event_blob(l, 9, EV_IPL, "(hd0,gpt2)/boot/grub/grubenv", 30, 1024);
		if (i == 16)
			event_blob(l, 9, EV_IPL, "(hd0,gpt2)/usr/share/grub/unicode.pf2", 38, 2400000 / 64);
	}
	static const char kcmd[] =
		"kernel_cmdline: /boot/vmlinuz-6.1.0-26-amd64 root=UUID=6f1d2c3b-7a44-4c1e-9d0e-2f5a8b7c6d01 ro quiet";
	event(l, 8, EV_IPL, kcmd, sizeof(kcmd), kcmd + 16, sizeof(kcmd) - 17);
	event_blob(l, 9, EV_IPL, "/boot/vmlinuz-6.1.0-26-amd64", 29, 8000000 / 64);
	event_blob(l, 9, EV_IPL, "/boot/initrd.img-6.1.0-26-amd64", 32, 30000000 / 64);
	/* PCR 5: ExitBootServices */
	text(l, 5, EV_EFI_ACTION, "Exit Boot Services Invocation");
	text(l, 5, EV_EFI_ACTION, "Exit Boot Services Returned with Success");
}

/* ------------------------------------------------------------ helpers */

static void write_file(const char *name, const void *p, size_t n, char *path_out, size_t path_size)
{
	snprintf(path_out, path_size, "%s/%s", dir, name);
	FILE *f = fopen(path_out, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("write file", NULL);
}

static void run(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_tpm: failed: %s\n", cmd);
		die("setup command", NULL);
	}
}

/* Run argv as a process, output discarded; exit status. */
static int spawn_wait(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int st = -1;
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0)
		waitpid(pid, &st, 0);
	posix_spawn_file_actions_destroy(&fa);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct keyset {
	const char *label, *alg, *sig_name;
	uint32_t handle;
	json_t *ev;                 /* veritee evidence with event log */
	char ak_pem[128], msg[128], sig[128], pcrs[128];
};

/* vt_tee_tpm.verify of `ev` bound to `rd`, back to back for `secs`. */
static double verify_rate(const json_t *ev, const uint8_t rd[64], double secs, size_t *events_out)
{
	struct vt_verify_ctx ctx = {.now = (int64_t)time(NULL)};
	struct vt_binding bind = {.report_data = rd, .report_data_size = 64};
	long n = 0;
	double t0 = now_s(), t;
	do {
		json_t *claims = NULL;
		struct vt_err e = {0};
		if (vt_tee_tpm.verify(&ctx, ev, &bind, &claims, &e) != VT_OK)
			die("vt_tee_tpm.verify", &e);
		if (n == 0 && events_out)
			*events_out = json_array_size(vt_json_pointer(claims, "/event_log/events"));
		json_decref(claims);
		n++;
	} while ((t = now_s() - t0) < secs);
	return (double)n / t;
}

/* Raw OpenSSL: verify a SHA-256 signature by a key of the AK's type over a
 * message of the quote's size, key already loaded (the bound: nothing but
 * the hash and the public-key operation). */
static double raw_rate(bool rsa, size_t msg_size, double secs)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
	if (kc == NULL || EVP_PKEY_keygen_init(kc) != 1 ||
	    (rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048) : EVP_PKEY_CTX_set_group_name(kc, "P-256")) != 1 ||
	    EVP_PKEY_keygen(kc, &k) != 1)
		die("keygen", NULL);
	EVP_PKEY_CTX_free(kc);
	uint8_t msg[VT_TPM_ATTEST_MAX], sig[512];
	pseudo_random(msg, sizeof(msg));
	size_t sl = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	if (m == NULL || EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(m, sig, &sl, msg, msg_size) != 1)
		die("sign", NULL);
	long n = 0;
	double t0 = now_s(), t;
	do {
		EVP_MD_CTX_reset(m);
		if (EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k) != 1 ||
		    EVP_DigestVerify(m, sig, sl, msg, msg_size) != 1)
			die("raw verify", NULL);
		n++;
	} while ((t = now_s() - t0) < secs);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	return (double)n / t;
}

static double checkquote_rate(char *const argv[], double secs)
{
	if (spawn_wait(argv) != 0)
		return -1;
	long n = 0;
	double t0 = now_s(), t;
	do {
		if (spawn_wait(argv) != 0)
			return -1;
		n++;
	} while ((t = now_s() - t0) < secs);
	return (double)n / t;
}

static size_t b64_len(const json_t *ev, const char *ptr)
{
	const char *s = json_string_value(vt_json_pointer(ev, ptr));
	uint8_t *p = NULL;
	size_t n = 0;
	if (s == NULL || vt_b64_decode(s, strlen(s), &p, &n, NULL) != VT_OK)
		die("evidence member", NULL);
	free(p);
	return n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	if (secs <= 0)
		secs = 5;
	snprintf(dir, sizeof(dir), "/tmp/veritee-bench-tpm-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		dir[0] = 0;
		die("mkdtemp", NULL);
	}
	setenv("TSS2_LOG", "all+none", 0);
	start_swtpm();

	struct log l;
	build_log(&l);
	char logpath[128];
	write_file("eventlog.bin", l.b.p, l.b.n, logpath, sizeof(logpath));

	uint8_t rd[64];
	pseudo_random(rd, sizeof(rd));
	char *qhex = vt_hex_encode(rd, 32);
	struct keyset ks[2] = {
		{.label = "ECDSA P-256", .alg = "ecc", .sig_name = "ecdsa", .handle = 0x81010002u},
		{.label = "RSA-2048 RSASSA", .alg = "rsa", .sig_name = "rsassa", .handle = 0x81010003u},
	};
	for (int i = 0; i < 2; i++) {
		struct vt_err e = {0};
		struct vt_tpm_attest_opts o = {.tcti = tcti, .ak_handle = ks[i].handle, .ak_alg = ks[i].alg,
					       .event_log_path = logpath};
		if (vt_tpm_attest_evidence(&o, rd, &ks[i].ev, &e) != VT_OK)
			die("veritee TPM attester", &e);
		/* The AK as PEM, and a tpm2_quote of the same PCRs with the same
		 * AK in tpm2-tools' formats, for tpm2_checkquote. */
		const char *akb64 = json_string_value(json_object_get(ks[i].ev, "ak_public"));
		uint8_t *der = NULL;
		size_t dn = 0;
		if (vt_b64_decode(akb64, strlen(akb64), &der, &dn, NULL) != VT_OK)
			die("ak_public", NULL);
		const unsigned char *dp = der;
		EVP_PKEY *ak = d2i_PUBKEY(NULL, &dp, (long)dn);
		free(der);
		char *pem = ak ? vt_key_public_pem(ak) : NULL;
		EVP_PKEY_free(ak);
		if (pem == NULL)
			die("AK PEM", NULL);
		char name[32];
		snprintf(name, sizeof(name), "ak-%s.pem", ks[i].alg);
		write_file(name, pem, strlen(pem), ks[i].ak_pem, sizeof(ks[i].ak_pem));
		free(pem);
		snprintf(ks[i].msg, sizeof(ks[i].msg), "%s/quote-%s.msg", dir, ks[i].alg);
		snprintf(ks[i].sig, sizeof(ks[i].sig), "%s/quote-%s.sig", dir, ks[i].alg);
		snprintf(ks[i].pcrs, sizeof(ks[i].pcrs), "%s/quote-%s.pcrs", dir, ks[i].alg);
		char cmd[1024];
		snprintf(cmd, sizeof(cmd),
			 "tpm2_quote -T '%s' -c 0x%08x -l sha256:0,1,2,3,4,5,6,7,8,9 -q %s -g sha256 -m %s -s %s -o %s >/dev/null 2>&1",
			 tcti, (unsigned)ks[i].handle, qhex, ks[i].msg, ks[i].sig, ks[i].pcrs);
		run(cmd);
	}
	stop_swtpm();

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double load[3] = {0};
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("veritee TPM quote verification benchmark: %ld cores, load average %.2f before, %.1f s per measurement, "
	       "1 thread\n",
	       cores, load[0], secs);
	printf("event log: %u events after the Spec ID event, PCRs 0-9 (mask 0x%03x), %zu bytes, SHA-1 + SHA-256 "
	       "digests\n",
	       l.events, (unsigned)l.pcr_mask, l.b.n);

	/* The event-log replay alone, against the PCRs of the first quote. */
	{
		struct vt_tpm_pcrs pcrs;
		memset(&pcrs, 0, sizeof(pcrs));
		json_t *arr = vt_json_pointer(ks[0].ev, "/tpm_quote/pcrs");
		for (unsigned i = 0; i < VT_TPM_NUM_PCRS; i++)
			if (vt_hex_decode_fixed(json_string_value(json_array_get(arr, i)), pcrs.value[i], 32, NULL) != VT_OK)
				die("pcrs", NULL);
		long n = 0;
		double t0 = now_s(), t;
		do {
			json_t *events = NULL;
			struct vt_err e = {0};
			if (vt_tcg_eventlog_check(l.b.p, l.b.n, VT_TPM_ALG_SHA256,
						  (const uint8_t(*)[VT_TPM_MAX_DIGEST])pcrs.value, 0xFFFFFFu, &events,
						  &e) != VT_OK)
				die("event log replay", &e);
			json_decref(events);
			n++;
		} while ((t = now_s() - t0) < secs / 2);
		printf("event-log replay alone (vt_tcg_eventlog_check, with the events JSON): %.0f logs/s\n",
		       (double)n / t);
	}

	printf("%-16s %12s %12s %14s %7s %16s %16s\n", "AK", "verify/s", "(no log)/s", "raw verify/s", "ratio",
	       "checkquote/s", "checkquote -e/s");
	for (int i = 0; i < 2; i++) {
		size_t events = 0;
		double v = verify_rate(ks[i].ev, rd, secs, &events);
		json_t *nolog = json_deep_copy(ks[i].ev);
		json_object_del(nolog, "event_log");
		double vn = verify_rate(nolog, rd, secs / 2, NULL);
		json_decref(nolog);
		double raw = raw_rate(strcmp(ks[i].alg, "rsa") == 0, b64_len(ks[i].ev, "/tpm_quote/message"), secs);
		char *cq[] = {"tpm2_checkquote", "-u", ks[i].ak_pem, "-m", ks[i].msg, "-s", ks[i].sig, "-f", ks[i].pcrs,
			      "-g", "sha256", "-q", qhex, NULL};
		double c = checkquote_rate(cq, secs / 2);
		char *cqe[] = {"tpm2_checkquote", "-u", ks[i].ak_pem, "-m", ks[i].msg, "-s", ks[i].sig, "-f", ks[i].pcrs,
			       "-g", "sha256", "-q", qhex, "-e", logpath, NULL};
		double ce = checkquote_rate(cqe, secs / 2);
		printf("%-16s %12.0f %12.0f %14.0f %7.3f %16.1f %16.1f\n", ks[i].label, v, vn, raw, v / raw, c, ce);
		if (events != l.events)
			printf("  (note: %zu events in the claims)\n", events);
		if (c < 0 || ce < 0)
			printf("  (a negative checkquote rate means tpm2_checkquote rejected the quote or is missing)\n");
		fflush(stdout);
		json_decref(ks[i].ev);
	}
	printf("verify/s: vt_tee_tpm.verify (parse, AK import, signature, qualifying data, PCR digest, event-log\n"
	       "replay and claims); raw verify/s: OpenSSL EVP_DigestVerify, SHA-256 over a message of the quote's size,\n"
	       "key preloaded; ratio = verify/s / raw verify/s; checkquote/s: one tpm2_checkquote process per quote\n"
	       "(-f: signature, qualifying data, PCR digest; -e: also the event-log replay).\n");
	free(qhex);
	free(l.b.p);
	cleanup();
	return 0;
}
