/*
 * What kind of file the user gave `veritee verify` (docs/cli.md, "Input
 * sniffing"): when evidence does not parse as the TEE named, a look at its
 * bytes may say what it is instead ("this looks like X; try `veritee
 * verify X FILE`").  Only a hint: nothing here is trusted or verified, and
 * the guess never replaces the TEE the user named.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "veritee/util.h"

#define SNIFF_MAX ((size_t)16 << 20)
#define SNP_REPORT_SIZE 1184u
#define HCL_HW_OFFSET 0x20u

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A DCAP quote header: version 3..5, attestation key type 2 (ECDSA P-256) or 3. */
static const char *dcap_tee(const uint8_t *p, size_t n)
{
	if (n < 48 + 384)
		return NULL;
	uint16_t ver = le16(p), akt = le16(p + 2);
	uint32_t tee = le32(p + 4);
	if (ver < 3 || ver > 5 || (akt != 2 && akt != 3))
		return NULL;
	if (tee == 0x81)
		return "tdx";
	if (tee == 0 && ver == 3)
		return "sgx";
	return NULL;
}

static bool snp_report(const uint8_t *p, size_t n)
{
	/* version 2..5 and signature algorithm 1 (ECDSA P-384 with SHA-384) */
	return n >= SNP_REPORT_SIZE && le32(p) >= 2 && le32(p) <= 6 && le32(p + 0x34) == 1;
}

/* A protobuf whose first field (1, bytes) holds a TPMT_PUBLIC: go-tpm-tools'
 * Attestation (GCE vTPM), field 1 = ak_pub. */
static bool gce_protobuf(const uint8_t *p, size_t n)
{
	if (n < 8 || p[0] != 0x0a)
		return false;
	size_t i = 1, len = 0;
	for (int shift = 0; i < n && shift < 28; shift += 7) {
		len |= (size_t)(p[i] & 0x7f) << shift;
		if (!(p[i++] & 0x80))
			break;
	}
	if (i + 2 > n || len < 2 || len > n - i)
		return false;
	uint16_t type = (uint16_t)(p[i] << 8 | p[i + 1]);
	return type == 0x0001 || type == 0x0023; /* TPM_ALG_RSA, TPM_ALG_ECC */
}

static const char *describe_binary(const uint8_t *p, size_t n, char *what, size_t wn)
{
	const char *t;
	if (n >= 8 && memcmp(p, "pvattest", 8) == 0) {
		snprintf(what, wn, "an IBM Secure Execution pvattest exchange");
		return "se";
	}
	if (n >= HCL_HW_OFFSET + SNP_REPORT_SIZE + 12 && memcmp(p, "HCLA", 4) == 0) {
		uint32_t type = le32(p + HCL_HW_OFFSET + SNP_REPORT_SIZE + 8);
		snprintf(what, wn, "an Azure HCL report (%s inside)", type == 4 ? "a TD report" : "an SEV-SNP report");
		return type == 4 ? NULL : "snp";
	}
	if (n >= 3 && p[0] == 0xd9 && p[1] == 0x01 && p[2] == 0x8f) {
		snprintf(what, wn, "an Arm CCA attestation token (CBOR tag 399)");
		return "cca";
	}
	if ((n >= 2 && p[0] == 0x84 && (p[1] == 0x44 || p[1] == 0x40)) ||
	    (n >= 3 && p[0] == 0xd2 && p[1] == 0x84) ||
	    (n >= 6 && le32(p) != 0 && p[4] == 0x84 && p[5] == 0x44)) {
		snprintf(what, wn, "a COSE_Sign1 document (an AWS Nitro Enclaves attestation document)");
		return "nitro";
	}
	if ((t = dcap_tee(p, n)) != NULL) {
		snprintf(what, wn, "an Intel %s quote (version %u)", strcmp(t, "tdx") == 0 ? "TDX" : "SGX", le16(p));
		return t;
	}
	if (snp_report(p, n)) {
		snprintf(what, wn, "an AMD SEV-SNP report (version %u)", le32(p));
		return "snp";
	}
	if (n >= 4 && p[0] == 0x11 && p[1] == 0xe0) {
		snprintf(what, wn, "NVIDIA SPDM measurements (GET_MEASUREMENTS request and response)");
		return "nvidia";
	}
	if (gce_protobuf(p, n)) {
		snprintf(what, wn, "a protobuf attestation with a TPM key (a GCE vTPM attestation, .pb)");
		return "gce-vtpm";
	}
	return NULL;
}

static const char *describe_json(const json_t *j, char *what, size_t wn)
{
	if (json_is_array(j)) {
		const json_t *e = json_array_get(j, 0);
		if (json_is_object(e) && json_object_get(e, "evidence") && json_object_get(e, "certificate")) {
			snprintf(what, wn, "NVIDIA device evidence (a list of %zu devices)", json_array_size(j));
			return "nvidia";
		}
		snprintf(what, wn, "a JSON array");
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(what, wn, "JSON that is not an object");
		return NULL;
	}
#define HAS(k) (json_object_get(j, (k)) != NULL)
	if (HAS("device_evidence_list") || (HAS("evidence") && HAS("certificate") && HAS("arch"))) {
		snprintf(what, wn, "NVIDIA device evidence (JSON)");
		return "nvidia";
	}
	if (HAS("hcl_report")) {
		bool tdx = HAS("td_quote");
		snprintf(what, wn, "Azure %s vTPM evidence (JSON with an HCL report)", tdx ? "TDX" : "SEV-SNP");
		return tdx ? "az-tdx-vtpm" : "az-snp-vtpm";
	}
	if (HAS("vcek") && HAS("report") && json_is_object(json_object_get(j, "quote"))) {
		snprintf(what, wn, "Azure SEV-SNP vTPM evidence (JSON)");
		return "az-snp-vtpm";
	}
	if (HAS("attestation_report")) {
		snprintf(what, wn, "AMD SEV-SNP evidence (Trustee's JSON)");
		return "snp";
	}
	if (HAS("tpm_quote") && HAS("ak_public")) {
		snprintf(what, wn, "TPM 2.0 quote evidence (JSON)");
		return "tpm";
	}
	if (HAS("attestation_document")) {
		snprintf(what, wn, "AWS Nitro evidence (JSON)");
		return "nitro";
	}
	if (HAS("request_blob") && HAS("measurement")) {
		snprintf(what, wn, "IBM Secure Execution evidence (JSON)");
		return "se";
	}
	if (json_is_array(json_object_get(j, "token"))) {
		snprintf(what, wn, "Arm CCA evidence (JSON)");
		return "cca";
	}
	const char *b64 = json_string_value(json_object_get(j, "report"));
	if (b64 == NULL)
		b64 = json_string_value(json_object_get(j, "quote"));
	if (b64 != NULL) {
		uint8_t *d = NULL;
		size_t n = 0;
		const char *t = NULL;
		if (vt_b64_decode(b64, strlen(b64), &d, &n, NULL) == VT_OK) {
			if (n >= 4 && memcmp(d, "VTSM", 4) == 0) {
				snprintf(what, wn, "simulated TEE evidence (INSECURE, `veritee attest --tee sim`)");
				t = "sim";
			} else if (HAS("quote") && (t = dcap_tee(d, n)) != NULL) {
				snprintf(what, wn, "Intel %s evidence (JSON)", strcmp(t, "tdx") == 0 ? "TDX" : "SGX");
			} else if (HAS("report") && snp_report(d, n)) {
				snprintf(what, wn, "AMD SEV-SNP evidence (JSON)");
				t = "snp";
			}
		}
		free(d);
		if (t != NULL)
			return t;
	}
#undef HAS
	snprintf(what, wn, "JSON of an unknown kind");
	return NULL;
}

static bool all_of(const uint8_t *p, size_t n, int (*ok)(int))
{
	size_t seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (isspace(p[i]))
			continue;
		if (!ok(p[i]))
			return false;
		seen++;
	}
	return seen > 0;
}

static int is_b64(int c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '=' || c == '-' || c == '_';
}

/* Decode text (hex or base64) ignoring whitespace; NULL when it does not decode. */
static uint8_t *decode_text(const uint8_t *p, size_t n, bool hex, size_t *out_n)
{
	char *s = malloc(n + 1);
	size_t k = 0;
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isspace(p[i]))
			s[k++] = (char)(hex ? p[i] : p[i] == '-' ? '+' : p[i] == '_' ? '/' : p[i]);
	s[k] = '\0';
	uint8_t *d = NULL;
	vt_status rc = hex ? vt_hex_decode(s, &d, out_n, NULL) : vt_b64_decode(s, k, &d, out_n, NULL);
	free(s);
	return rc == VT_OK ? d : NULL;
}

const char *cli_sniff(const uint8_t *p, size_t n, char *what, size_t wn, bool *not_evidence)
{
	*not_evidence = false;
	snprintf(what, wn, "something veritee does not recognise");
	if (p == NULL || n == 0) {
		snprintf(what, wn, "an empty file");
		*not_evidence = true;
		return NULL;
	}
	if (n > SNIFF_MAX)
		return NULL;
	size_t i = 0;
	while (i < n && isspace(p[i]))
		i++;
	if (n - i >= 11 && memcmp(p + i, "-----BEGIN ", 11) == 0) {
		const uint8_t *e = memchr(p + i + 11, '-', n - i - 11);
		int len = e ? (int)(e - (p + i + 11)) : 0;
		snprintf(what, wn, "a PEM %.*s (not evidence: certificates and keys are given with options such as "
				   "--certs, --ak, --cpak)",
			 len > 40 ? 40 : len, (const char *)p + i + 11);
		*not_evidence = true;
		return NULL;
	}
	if (i < n && (p[i] == '{' || p[i] == '[')) {
		json_t *j = json_loadb((const char *)p, n, 0, NULL);
		if (j == NULL) {
			snprintf(what, wn, "text that starts like JSON but does not parse");
			return NULL;
		}
		const char *t = describe_json(j, what, wn);
		json_decref(j);
		return t;
	}
	const char *t = describe_binary(p, n, what, wn);
	if (t != NULL)
		return t;
	bool hex = all_of(p, n, isxdigit), b64 = !hex && all_of(p, n, is_b64);
	if (hex || b64) {
		size_t dn = 0;
		uint8_t *d = decode_text(p, n, hex, &dn);
		char inner[200];
		const char *ti = d ? describe_binary(d, dn, inner, sizeof(inner)) : NULL;
		free(d);
		if (ti != NULL) {
			snprintf(what, wn, "%s text of %s", hex ? "hex" : "base64", inner);
			return ti;
		}
		snprintf(what, wn, "%s text of something veritee does not recognise", hex ? "hex" : "base64");
	}
	return NULL;
}
