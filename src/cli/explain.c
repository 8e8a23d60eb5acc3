/*
 * What `veritee verify` prints about verified evidence (docs/cli.md): the
 * key claims of each TEE in a few lines, the verdict in a sentence, the TCB
 * explained (Intel's TCB status and advisories; AMD's reported, committed,
 * launch and current TCB), and the TCB decisions made on the command line
 * (--accept-tcb-status, --min-tcb).  Everything here reads the claims the
 * verifiers return; nothing decides whether evidence is genuine.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "veritee/dcap.h"
#include "veritee/json.h"
#include "veritee/util.h"

/* ------------------------------------------------------------ claims */

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const json_t *ptr(const json_t *o, const char *pointer)
{
	return vt_json_pointer(o, pointer);
}

static bool is_family(const char *tee, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(tee, *names) == 0)
			return true;
	return false;
}

bool cli_tee_is_snp(const char *tee)
{
	static const char *const n[] = {"snp", "az-snp-vtpm", NULL};
	return is_family(tee, n);
}

bool cli_tee_is_dcap(const char *tee)
{
	static const char *const n[] = {"tdx", "sgx", "az-tdx-vtpm", NULL};
	return is_family(tee, n);
}

/* The SNP claims of an snp-family result (az-snp-vtpm keeps them under "snp"). */
static const json_t *snp_block(const char *tee, const json_t *claims)
{
	if (!cli_tee_is_snp(tee))
		return NULL;
	const json_t *b = json_object_get(claims, "snp");
	return json_is_object(b) ? b : claims;
}

/* The DCAP claims (tdx, sgx, az-tdx-vtpm: at the top). */
static const json_t *dcap_block(const char *tee, const json_t *claims)
{
	return cli_tee_is_dcap(tee) && json_object_get(claims, "tcb_status") ? claims : NULL;
}

static bool all_zero_hex(const char *h)
{
	if (h == NULL)
		return true;
	for (; *h; h++)
		if (*h != '0')
			return false;
	return true;
}

static void line(FILE *f, const char *label, const char *fmt, ...) VT_PRINTF(3, 4);
static void line(FILE *f, const char *label, const char *fmt, ...)
{
	va_list ap;
	fprintf(f, "  %-14s ", label);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

static void line_str(FILE *f, const char *label, const char *v)
{
	if (v != NULL)
		line(f, label, "%s", v);
}

static const char *yes_no(const json_t *v, const char *yes, const char *no)
{
	return json_is_true(v) ? yes : no;
}

static long long num(const json_t *o, const char *key, long long dflt)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* The SNP TCB components, as the claims name them (<prefix>_<component>). */
static const char *const SNP_TCB_COMP[] = {"fmc", "bootloader", "tee", "snp", "microcode"};
#define N_SNP_TCB_COMP (sizeof(SNP_TCB_COMP) / sizeof(SNP_TCB_COMP[0]))

/* "bootloader 4, tee 0, snp 27, microcode 222[, fmc N]" from <prefix>_<component>. */
static void snp_tcb_text(const json_t *b, const char *prefix, char *buf, size_t n)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < N_SNP_TCB_COMP && off < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s_%s", prefix, SNP_TCB_COMP[i]);
		const json_t *v = json_object_get(b, key);
		if (!json_is_integer(v))
			continue;
		int w = snprintf(buf + off, n - off, "%s%s %lld", off ? ", " : "", SNP_TCB_COMP[i], (long long)json_integer_value(v));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static void print_snp(FILE *f, const json_t *b)
{
	const char *product = str(b, "product"), *key = str(b, "signing_key");
	line(f, "TEE", "AMD SEV-SNP%s%s%s, report version %lld", product ? " (" : "", product ? product : "",
	     product ? ")" : "", num(b, "version", 0));
	if (key)
		line(f, "signing key", "%s (%s)", strcmp(key, "vlek") == 0 ? "VLEK" : "VCEK",
		     strcmp(key, "vlek") == 0 ? "versioned loaded endorsement key, issued to a cloud provider"
					      : "versioned chip endorsement key, unique to this chip");
	line_str(f, "measurement", str(b, "measurement"));
	char tcb[160];
	snp_tcb_text(b, "reported_tcb", tcb, sizeof(tcb));
	line(f, "TCB", "reported %s", tcb);
	const json_t *vmpl = json_object_get(b, "vmpl");
	line(f, "guest policy", "%s%lld; debug %s; migration agent %s; SMT %s", json_is_integer(vmpl) ? "VMPL " : "",
	     json_is_integer(vmpl) ? (long long)json_integer_value(vmpl) : 0LL,
	     yes_no(json_object_get(b, "policy_debug_allowed"), "ALLOWED", "not allowed"),
	     yes_no(json_object_get(b, "policy_migrate_ma"), "ALLOWED", "not allowed"),
	     yes_no(json_object_get(b, "policy_smt_allowed"), "allowed", "not allowed"));
	if (!all_zero_hex(str(b, "host_data")))
		line_str(f, "host data", str(b, "host_data"));
	if (!all_zero_hex(str(b, "id_key_digest")))
		line_str(f, "ID key digest", str(b, "id_key_digest"));
	if (json_object_get(b, "crl_checked") != NULL)
		line(f, "CRL", "%s", json_is_true(json_object_get(b, "crl_checked")) ? "checked (the ASK/ASVK is not revoked)"
										      : "not available (revocation not checked)");
}

/* A little-endian number from its hex bytes ("0100" -> 1). */
static long le_hex(const char *h)
{
	long v = 0;
	size_t n = h ? strlen(h) / 2 : 0;
	for (size_t i = n; i-- > 0;) {
		char b[3] = {h[2 * i], h[2 * i + 1], '\0'};
		v = v * 256 + strtol(b, NULL, 16);
	}
	return v;
}

static void print_dcap(FILE *f, const char *tee, const json_t *c)
{
	if (strcmp(tee, "sgx") == 0) {
		line(f, "TEE", "Intel SGX enclave (quote version %d)", 3);
		line_str(f, "MRENCLAVE", json_string_value(ptr(c, "/body/mr_enclave")));
		line_str(f, "MRSIGNER", json_string_value(ptr(c, "/body/mr_signer")));
		line(f, "ISV", "product %ld, SVN %ld", le_hex(json_string_value(ptr(c, "/body/isv_prod_id"))),
		     le_hex(json_string_value(ptr(c, "/body/isv_svn"))));
		line_str(f, "CPU SVN", json_string_value(ptr(c, "/body/cpu_svn")));
		line(f, "debug", "%s", yes_no(json_object_get(c, "debug"), "ENABLED (the enclave can be inspected)", "disabled"));
	} else {
		line(f, "TEE", "Intel TDX trust domain (quote version %ld)",
		     le_hex(json_string_value(ptr(c, "/quote/header/version"))));
		line_str(f, "MRTD", json_string_value(ptr(c, "/quote/body/mr_td")));
		for (int i = 0; i < 4; i++) {
			char p[40], label[16];
			snprintf(p, sizeof(p), "/quote/body/rtmr_%d", i);
			snprintf(label, sizeof(label), "RTMR%d", i);
			line_str(f, label, json_string_value(ptr(c, p)));
		}
		line_str(f, "MRSEAM", json_string_value(ptr(c, "/quote/body/mr_seam")));
		line_str(f, "TEE TCB SVN", json_string_value(ptr(c, "/quote/body/tcb_svn")));
		line(f, "debug", "%s", yes_no(json_object_get(c, "debug"), "ENABLED (the TD can be inspected)", "disabled"));
	}
	line(f, "signing key", "%s", "attestation key of the Quoting Enclave, certified by the platform's PCK certificate");
	line(f, "TCB", "%s (matched level of %.10s; QE %s)", str(c, "tcb_status") ?: "?", str(c, "tcb_date") ?: "?",
	     str(c, "qe_tcb_status") ?: "?");
}

static void print_tpm_like(FILE *f, const json_t *c)
{
	const char *pem = str(c, "ak_public_pem");
	const char *kind = "";
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	if (pk != NULL)
		kind = EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA ? "RSA " : EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC ? "EC " : "";
	EVP_PKEY_free(pk);
	BIO_free(bio);
	ERR_clear_error();
	if (str(c, "ak_digest"))
		line(f, "signing key", "%sattestation key (AK), SHA-256 of its public key %s", kind, str(c, "ak_digest"));
	line_str(f, "PCR bank", str(c, "pcr_bank"));
	int n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)c, k, v) {
		if (strncmp(k, "pcr", 3) == 0 && k[3] >= '0' && k[3] <= '9')
			n++;
	}
	if (n)
		line(f, "PCRs", "%d quoted", n);
	if (str(c, "pcr07"))
		line(f, "PCR 7", "%s (secure boot policy)", str(c, "pcr07"));
	const json_t *el = json_object_get(c, "event_log");
	if (json_is_object(el))
		line(f, "event log", "%zu events, replayed against the quoted PCRs",
		     json_array_size(json_object_get(el, "events")));
	else if (json_object_get(c, "ak_digest"))
		line(f, "event log", "none sent");
}

static void print_named(FILE *f, const char *tee, const json_t *c)
{
	if (strcmp(tee, "sim") == 0 || strcmp(tee, "sim-gpu") == 0) {
		line(f, "TEE", "simulated (INSECURE: signed by a local key, proves nothing about hardware)");
		line_str(f, "measurement", str(c, "measurement"));
		line(f, "SVN", "%lld", num(c, "svn", 0));
		line(f, "debug", "%s", yes_no(json_object_get(c, "debug"), "ENABLED", "disabled"));
		line(f, "signing key", "sim platform key, certified by the sim root");
	} else if (strcmp(tee, "tpm") == 0) {
		line(f, "TEE", "TPM 2.0 quote");
		print_tpm_like(f, c);
	} else if (strcmp(tee, "gce-vtpm") == 0) {
		const json_t *g = json_object_get(c, "gce");
		line(f, "TEE", "Google Compute Engine vTPM");
		if (json_is_object(g))
			line(f, "instance", "%s (%s) in project %s, zone %s", str(g, "instance_name") ?: "?",
			     str(g, "instance_id") ?: "?", str(g, "project_id") ?: "?", str(g, "zone") ?: "?");
		line(f, "signing key", "attestation key certified by Google (issuer %s)",
		     json_string_value(ptr(c, "/ak_cert/issuer")) ?: "?");
		const json_t *pcrs = ptr(c, "/pcrs/sha256");
		if (json_is_object(pcrs)) {
			line(f, "PCR bank", "sha256 (%zu PCRs)", json_object_size(pcrs));
			line_str(f, "PCR 7", str(pcrs, "pcr07"));
		}
	} else if (strcmp(tee, "cca") == 0) {
		line(f, "TEE", "Arm CCA realm");
		line_str(f, "realm RIM", json_string_value(ptr(c, "/realm/cca-realm-initial-measurement")));
		line_str(f, "hash", json_string_value(ptr(c, "/realm/cca-realm-hash-algo-id")));
		line_str(f, "platform", json_string_value(ptr(c, "/platform/cca-platform-profile")));
		line_str(f, "lifecycle", json_string_value(ptr(c, "/platform/cca-platform-lifecycle-state")));
		const json_t *sw = ptr(c, "/platform/cca-platform-sw-components");
		if (json_is_array(sw))
			line(f, "components", "%zu measured platform software components", json_array_size(sw));
		line(f, "signing key", "realm attestation key, endorsed by the platform token (CPAK)");
	} else if (strcmp(tee, "nitro") == 0) {
		line(f, "TEE", "AWS Nitro Enclave %s", str(c, "module_id") ?: "");
		line_str(f, "PCR 0", json_string_value(ptr(c, "/pcrs/0")));
		line_str(f, "PCR 1", json_string_value(ptr(c, "/pcrs/1")));
		line_str(f, "PCR 2", json_string_value(ptr(c, "/pcrs/2")));
		line(f, "debug", "%s", yes_no(json_object_get(c, "debug"), "ENABLED (debug mode: PCRs are zero)", "disabled"));
		line_str(f, "timestamp", str(c, "timestamp_rfc3339"));
		line(f, "signing key", "enclave instance certificate (P-384), chain of %zu to the AWS Nitro root",
		     json_array_size(json_object_get(c, "cabundle")));
	} else if (strcmp(tee, "se") == 0) {
		line(f, "TEE", "IBM Secure Execution guest");
		line_str(f, "image PHKH", str(c, "image_phkh"));
		line_str(f, "image tag", str(c, "tag"));
		line_str(f, "CUID", str(c, "cuid"));
		line(f, "signing key", "HMAC-SHA512 with the measurement key from the %s",
		     strcmp(str(c, "key_source") ?: "", "arcb") == 0 ? "attestation request (ARCB)"
								    : "INSECURE Trustee RSA key");
	} else if (strcmp(tee, "nvidia") == 0) {
		line(f, "TEE", "NVIDIA %s %s (%s)", str(c, "arch") ?: "", str(c, "class") ?: "device",
		     str(c, "hwmodel") ?: "?");
		line_str(f, "UEID", str(c, "ueid"));
		line(f, "SPDM", "version %s, %lld measurement blocks", str(c, "spdm_version") ?: "?",
		     num(c, "number_of_blocks", 0));
		line(f, "signing key", "device attestation key (P-384), chain to NVIDIA's Device Identity CA");
	}
}

void cli_explain_claims(FILE *f, const char *tee, const json_t *claims)
{
	const json_t *b;
	if ((b = snp_block(tee, claims)) != NULL) {
		print_snp(f, b);
		if (strcmp(tee, "az-snp-vtpm") == 0) {
			line(f, "vTPM", "Azure vTPM quote, its AK bound by the HCL report in the SNP report data");
			print_tpm_like(f, json_is_object(json_object_get(claims, "tpm")) ? json_object_get(claims, "tpm")
											 : claims);
		}
	} else if ((b = dcap_block(tee, claims)) != NULL) {
		print_dcap(f, tee, b);
		if (strcmp(tee, "az-tdx-vtpm") == 0)
			line(f, "vTPM", "Azure vTPM quote, its AK bound by the HCL report in the TD report data");
	} else {
		print_named(f, tee, claims);
	}
	const char *rd = str(claims, "report_data");
	if (rd && *rd)
		line(f, "report data", "%s", rd);
}

/* ------------------------------------------------------------ verdict */

static const struct {
	const char *tee, *what, *root;
} TEES[] = {
	{"sim", "simulated TEE report (INSECURE)", "the local sim root"},
	{"sim-gpu", "simulated GPU report (INSECURE)", "the local sim root"},
	{"snp", "AMD SEV-SNP report", "AMD's pinned ARK"},
	{"tdx", "Intel TDX quote", "Intel's pinned SGX Root CA"},
	{"sgx", "Intel SGX quote", "Intel's pinned SGX Root CA"},
	{"tpm", "TPM 2.0 quote", "the trusted AK given"},
	{"az-snp-vtpm", "Azure SEV-SNP vTPM quote", "AMD's pinned ARK"},
	{"az-tdx-vtpm", "Azure TDX vTPM quote", "Intel's pinned SGX Root CA"},
	{"gce-vtpm", "Google vTPM attestation", "the Google roots given"},
	{"cca", "Arm CCA token", "the CPAK given"},
	{"nitro", "AWS Nitro attestation document", "AWS's pinned Nitro root"},
	{"se", "IBM Secure Execution attestation", "the SE header and key given"},
	{"nvidia", "NVIDIA device attestation", "NVIDIA's pinned Device Identity CA"},
};

void cli_verdict_sentence(char *buf, size_t n, const char *tee, const json_t *claims, bool nonce_checked)
{
	const char *what = tee, *root = "its trust anchor";
	for (size_t i = 0; i < sizeof(TEES) / sizeof(TEES[0]); i++)
		if (strcmp(TEES[i].tee, tee) == 0) {
			what = TEES[i].what;
			root = TEES[i].root;
		}
	char extra[96] = "";
	const json_t *b = snp_block(tee, claims);
	if (b && str(b, "product"))
		snprintf(extra, sizeof(extra), " (%s, signed by its %s)", str(b, "product"),
			 strcmp(str(b, "signing_key") ?: "", "vlek") == 0 ? "VLEK" : "VCEK");
	else if ((b = dcap_block(tee, claims)) != NULL)
		snprintf(extra, sizeof(extra), " (TCB %s)", str(b, "tcb_status") ?: "?");
	snprintf(buf, n, "this %s%s is genuine: its signature and certificate chain verify up to %s; the report data %s.",
		 what, extra, root, nonce_checked ? "matches --nonce" : "was NOT checked (no --nonce)");
}

/* ------------------------------------------------------------ Intel TCB */

static const struct {
	const char *status, *meaning, *todo;
} INTEL[] = {
	{"UpToDate", "the platform runs the latest TCB Intel has published for it", NULL},
	{"SWHardeningNeeded",
	 "the platform is up to date, but the listed advisories need software mitigations in the workload "
	 "(the enclave or TD), which the quote cannot show",
	 "check that the workload is built with the mitigations the advisories name, then accept with "
	 "--accept-tcb-status SWHardeningNeeded"},
	{"ConfigurationNeeded",
	 "the platform's TCB is current, but its configuration (BIOS settings such as hyper-threading or "
	 "memory integrity) leaves it exposed to the listed advisories",
	 "change the platform configuration as the advisories say, or accept the risk with "
	 "--accept-tcb-status ConfigurationNeeded"},
	{"ConfigurationAndSWHardeningNeeded",
	 "the platform's TCB is current, but both its configuration and the workload's software mitigations "
	 "matter for the listed advisories",
	 "fix the configuration and check the workload's mitigations, or accept with --accept-tcb-status "
	 "ConfigurationAndSWHardeningNeeded"},
	{"OutOfDate",
	 "the platform's TCB (CPU microcode, firmware, SEAM module or Quoting Enclave) is older than the latest "
	 "Intel has published; the listed advisories are fixed in a newer TCB",
	 "update the platform (BIOS/microcode and, for TDX, the TDX module) to the latest TCB recovery, or "
	 "accept it explicitly with --accept-tcb-status OutOfDate"},
	{"OutOfDateConfigurationNeeded",
	 "the platform's TCB is older than the latest Intel has published and its configuration also needs "
	 "changes for the listed advisories",
	 "update the platform and fix its configuration, or accept with --accept-tcb-status "
	 "OutOfDateConfigurationNeeded"},
	{"TDRelaunchAdvised",
	 "the TDX module was updated while this TD ran; the TD still runs on the older module",
	 "relaunch the TD to run on the updated TDX module"},
	{"TDRelaunchAdvisedConfigurationNeeded",
	 "the TDX module was updated while this TD ran, and the platform configuration needs changes",
	 "relaunch the TD and fix the platform configuration"},
};

static int64_t date_of(const char *s)
{
	int64_t t = 0;
	if (s == NULL || vt_time_parse_rfc3339(s, &t, NULL) != VT_OK)
		return -1;
	return t;
}

static json_t *intel_tcb(const json_t *c)
{
	const char *st = str(c, "tcb_status");
	if (st == NULL)
		return NULL;
	const char *meaning = "an unknown status", *todo = NULL;
	for (size_t i = 0; i < sizeof(INTEL) / sizeof(INTEL[0]); i++)
		if (strcmp(INTEL[i].status, st) == 0) {
			meaning = INTEL[i].meaning;
			todo = INTEL[i].todo;
		}
	json_t *t = json_pack("{s:s, s:s, s:s, s:s?}", "vendor", "intel", "status", st, "meaning", meaning, "todo", todo);
	const char *d = str(c, "tcb_date"), *latest = str(c, "latest_tcb_date");
	if (d)
		json_object_set_new(t, "tcb_date", json_string(d));
	if (latest)
		json_object_set_new(t, "latest_tcb_date", json_string(latest));
	int64_t td = date_of(d), tl = date_of(latest);
	if (td >= 0 && tl >= 0 && tl >= td)
		json_object_set_new(t, "days_behind", json_integer((tl - td) / 86400));
	json_t *adv = json_array(), *id;
	size_t i;
	json_array_foreach(json_object_get(c, "advisory_ids"), i, id) {
		const char *s = json_string_value(id);
		if (s == NULL)
			continue;
		char url[160], lower[64];
		size_t k = 0;
		for (; s[k] && k + 1 < sizeof(lower); k++)
			lower[k] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
		lower[k] = '\0';
		snprintf(url, sizeof(url), "https://www.intel.com/content/www/us/en/security-center/advisory/%s.html", lower);
		json_array_append_new(adv, json_pack("{s:s, s:s}", "id", s, "url", url));
	}
	json_object_set_new(t, "advisories", adv);
	const char *qe = str(c, "qe_tcb_status");
	if (qe)
		json_object_set_new(t, "qe_status", json_string(qe));
	json_object_set_new(t, "collateral_expired",
			    json_boolean(strcmp(str(c, "collateral_expiration_status") ?: "0", "1") == 0));
	return t;
}

/* ------------------------------------------------------------ AMD TCB */

static json_t *snp_tcb_obj(const json_t *b, const char *prefix)
{
	json_t *o = json_object();
	for (size_t i = 0; i < N_SNP_TCB_COMP; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s_%s", prefix, SNP_TCB_COMP[i]);
		const json_t *v = json_object_get(b, key);
		if (json_is_integer(v))
			json_object_set_new(o, SNP_TCB_COMP[i], json_integer(json_integer_value(v)));
	}
	return o;
}

/* -1 a < b in some component, 0 equal, 1 a >= b everywhere and greater somewhere. */
static int tcb_cmp(const json_t *a, const json_t *b)
{
	bool less = false, more = false;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)a, k, v) {
		const json_t *w = json_object_get(b, k);
		if (!json_is_integer(w))
			continue;
		if (json_integer_value(v) < json_integer_value(w))
			less = true;
		else if (json_integer_value(v) > json_integer_value(w))
			more = true;
	}
	return less ? -1 : more ? 1 : 0;
}

static json_t *amd_tcb(const json_t *b)
{
	json_t *t = json_pack("{s:s}", "vendor", "amd");
	json_t *rep = snp_tcb_obj(b, "reported_tcb");
	json_object_set_new(t, "reported", rep);
	json_t *com = NULL, *lau = NULL, *cur = NULL;
	if (json_object_get(b, "committed_tcb_raw") != NULL) {
		json_object_set_new(t, "committed", com = snp_tcb_obj(b, "committed_tcb"));
		json_object_set_new(t, "launch", lau = snp_tcb_obj(b, "launch_tcb"));
		json_object_set_new(t, "current", cur = snp_tcb_obj(b, "current_tcb"));
	}
	json_t *notes = json_array();
	json_array_append_new(notes, json_string("reported TCB: the TCB the signing key (VCEK/VLEK) is issued for; "
						  "the signature vouches for this TCB and no newer one"));
	if (com != NULL) {
		if (tcb_cmp(rep, com) < 0)
			json_array_append_new(notes,
					      json_string("the reported TCB is OLDER than the committed TCB: the host "
							  "chose to report an older TCB (e.g. while a firmware update rolls "
							  "out); the platform itself cannot go back below the committed TCB"));
		if (tcb_cmp(com, cur) < 0)
			json_array_append_new(notes,
					      json_string("the current TCB is newer than the committed TCB: a firmware "
							  "update is installed but not committed yet (it can still be rolled "
							  "back)"));
		if (tcb_cmp(lau, cur) < 0)
			json_array_append_new(notes, json_string("the current TCB is newer than the launch TCB: the "
								  "firmware was updated after this guest launched"));
		if (tcb_cmp(rep, com) == 0 && tcb_cmp(com, lau) == 0 && tcb_cmp(lau, cur) == 0)
			json_array_append_new(notes, json_string("reported, committed, launch and current TCB agree"));
	}
	json_object_set_new(t, "notes", notes);
	json_object_set_new(t, "todo", json_string("compare the reported TCB with AMD's security bulletins for this "
						    "product, and require a minimum with --min-tcb (e.g. "
						    "--min-tcb bootloader=4,tee=0,snp=22,microcode=213)"));
	return t;
}

json_t *cli_tcb_explain(const char *tee, const json_t *claims)
{
	const json_t *b;
	if ((b = snp_block(tee, claims)) != NULL && json_object_get(b, "reported_tcb_microcode") != NULL)
		return amd_tcb(b);
	if ((b = dcap_block(tee, claims)) != NULL)
		return intel_tcb(b);
	return NULL;
}

static void print_tcb_row(FILE *f, const char *name, const json_t *o, const char *what)
{
	char buf[160] = "";
	size_t off = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%s%s %lld", off ? ", " : "", k,
				 (long long)json_integer_value(v));
		if (w < 0 || (size_t)w >= sizeof(buf) - off)
			break;
		off += (size_t)w;
	}
	fprintf(f, "    %-10s %-48s %s\n", name, buf, what);
}

void cli_tcb_print(FILE *f, const json_t *t)
{
	if (t == NULL)
		return;
	size_t i;
	json_t *v;
	if (strcmp(str(t, "vendor") ?: "", "amd") == 0) {
		fprintf(f, "TCB (AMD: security version numbers of each firmware component):\n");
		print_tcb_row(f, "reported", json_object_get(t, "reported"), "what the signing key is issued for");
		if (json_object_get(t, "committed")) {
			print_tcb_row(f, "committed", json_object_get(t, "committed"), "the platform's anti-rollback floor");
			print_tcb_row(f, "launch", json_object_get(t, "launch"), "when this guest launched");
			print_tcb_row(f, "current", json_object_get(t, "current"), "running now");
		}
		json_array_foreach(json_object_get(t, "notes"), i, v) fprintf(f, "  - %s\n", json_string_value(v));
		fprintf(f, "  to do: %s\n", str(t, "todo"));
		return;
	}
	fprintf(f, "TCB status %s: %s.\n", str(t, "status"), str(t, "meaning"));
	const json_t *days = json_object_get(t, "days_behind");
	if (str(t, "tcb_date") && str(t, "latest_tcb_date")) {
		if (json_is_integer(days) && json_integer_value(days) > 0)
			fprintf(f, "  the platform matches the TCB level of %.10s; the newest level is of %.10s (%lld days "
				   "newer)\n",
				str(t, "tcb_date"), str(t, "latest_tcb_date"), (long long)json_integer_value(days));
		else
			fprintf(f, "  the platform matches the newest TCB level (%.10s)\n", str(t, "tcb_date"));
	}
	json_array_foreach(json_object_get(t, "advisories"), i, v)
		fprintf(f, "  %s  %s\n", json_string_value(json_object_get(v, "id")),
			json_string_value(json_object_get(v, "url")));
	if (str(t, "qe_status") && strcmp(str(t, "qe_status"), "UpToDate") != 0)
		fprintf(f, "  the Quoting Enclave's own TCB is %s\n", str(t, "qe_status"));
	if (json_is_true(json_object_get(t, "collateral_expired")))
		fprintf(f, "  the collateral is past its nextUpdate (accepted within --grace): fetch fresh collateral\n");
	if (str(t, "todo"))
		fprintf(f, "  to do: %s\n", str(t, "todo"));
}

/* ------------------------------------------------------------ decisions */

static bool status_known(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(INTEL) / sizeof(INTEL[0]); i++)
		if (strlen(INTEL[i].status) == n && strncmp(INTEL[i].status, s, n) == 0)
			return true;
	return false;
}

/* --accept-tcb-status LIST on its own: an Intel TEE, known status names. */
static vt_status accept_args(const char *tee, const char *list, struct vt_err *err)
{
	if (!cli_tee_is_dcap(tee))
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--accept-tcb-status",
			       "--accept-tcb-status is for Intel TEEs (tdx, sgx, az-tdx-vtpm); %s has no TCB status%s", tee,
			       cli_tee_is_snp(tee) ? " (use --min-tcb)" : "");
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (!status_known(p, n))
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--accept-tcb-status",
				       "unknown TCB status \"%.*s\" (known: UpToDate, SWHardeningNeeded, "
				       "ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, "
				       "OutOfDateConfigurationNeeded, TDRelaunchAdvised, TDRelaunchAdvisedConfigurationNeeded)",
				       (int)(n < 64 ? n : 64), p);
		p += n;
		if (*p == ',')
			p++;
	}
	return VT_OK;
}

static vt_status accept_status(const char *tee, const json_t *claims, const char *list, struct vt_err *err)
{
	vt_status rc = accept_args(tee, list, err);
	if (rc != VT_OK)
		return rc;
	const json_t *b = dcap_block(tee, claims);
	const char *st = b ? str(b, "tcb_status") : NULL;
	if (st == NULL)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "tcb_status", "no TCB status in the claims");
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (strlen(st) == n && strncmp(st, p, n) == 0)
			return VT_OK;
		p += n;
		if (*p == ',')
			p++;
	}
	return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "tcb_status",
		       "TCB status %s is not accepted (--accept-tcb-status %.200s)", st, list);
}

static vt_status min_snp(const json_t *b, const char *spec, struct vt_err *err)
{
	static const struct {
		const char *alias, *name;
	} comps[] = {{"bootloader", "bootloader"}, {"bl", "bootloader"}, {"tee", "tee"},  {"snp", "snp"},
		     {"microcode", "microcode"},   {"ucode", "microcode"},  {"fmc", "fmc"}};
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", spec);
	vt_status rc = VT_OK;
	bool any = false;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *name = NULL;
		if (eq != NULL) {
			*eq = '\0';
			for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++)
				if (strcasecmp(tok, comps[i].alias) == 0)
					name = comps[i].name;
		}
		char *end = NULL;
		long want = eq ? strtol(eq + 1, &end, 10) : -1;
		if (name == NULL || end == eq + 1 || *end != '\0' || want < 0 || want > 255)
			return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--min-tcb",
				       "--min-tcb for SEV-SNP is COMPONENT=N,... with components bootloader, tee, snp, "
				       "microcode (and fmc on Turin), N 0..255; e.g. bootloader=4,tee=0,snp=22,microcode=213");
		char key[64];
		snprintf(key, sizeof(key), "reported_tcb_%s", name);
		const json_t *v = json_object_get(b, key);
		any = true;
		if (!json_is_integer(v)) {
			if (rc == VT_OK)
				rc = vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--min-tcb",
					     "this report's TCB has no %s component", name);
			continue;
		}
		if (json_integer_value(v) < want && rc == VT_OK)
			rc = vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, key, "the reported TCB's %s is %lld, below --min-tcb %s=%ld",
				     name, (long long)json_integer_value(v), name, want);
	}
	if (!any)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--min-tcb", "--min-tcb is empty");
	return rc;
}

static vt_status min_intel(const json_t *b, const char *spec, struct vt_err *err)
{
	char when[32];
	int64_t want = 0, have = -1;
	if (strlen(spec) == 10) {
		snprintf(when, sizeof(when), "%sT00:00:00Z", spec);
		spec = when;
	}
	if (vt_time_parse_rfc3339(spec, &want, NULL) != VT_OK)
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--min-tcb",
			       "--min-tcb for Intel TEEs is the oldest accepted TCB level date, YYYY-MM-DD (the tcbDate "
			       "of Intel's TCB levels, e.g. 2024-03-13)");
	const char *d = b ? str(b, "tcb_date") : NULL;
	have = date_of(d);
	if (have < 0)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "tcb_date", "no TCB level date in the claims");
	if (have < want)
		return vt_fail(err, VT_E_REJECTED, VT_STEP_TCB, "tcb_date",
			       "the platform's TCB level is of %.10s, older than --min-tcb %.10s", d, spec);
	return VT_OK;
}

vt_status cli_tcb_policy(const char *tee, const json_t *claims, const char *accept, const char *min_tcb,
			 struct vt_err *err)
{
	if (accept != NULL) {
		vt_status rc = accept_status(tee, claims, accept, err);
		if (rc != VT_OK)
			return rc;
	}
	if (min_tcb != NULL) {
		if (cli_tee_is_snp(tee))
			return min_snp(snp_block(tee, claims), min_tcb, err);
		if (cli_tee_is_dcap(tee))
			return min_intel(dcap_block(tee, claims), min_tcb, err);
		return vt_fail(err, VT_E_USAGE, VT_STEP_CONFIG, "--min-tcb",
			       "--min-tcb is for snp, az-snp-vtpm, tdx, sgx and az-tdx-vtpm; %s has no TCB to compare", tee);
	}
	return VT_OK;
}

vt_status cli_tcb_policy_check_args(const char *tee, const char *accept, const char *min_tcb, struct vt_err *err)
{
	if (accept != NULL) {
		vt_status rc = accept_args(tee, accept, err);
		if (rc != VT_OK)
			return rc;
	}
	if (min_tcb != NULL && !cli_tee_is_snp(tee) && !cli_tee_is_dcap(tee))
		return cli_tcb_policy(tee, NULL, NULL, min_tcb, err);
	return VT_OK;
}
