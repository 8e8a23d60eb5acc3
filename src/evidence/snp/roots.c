/*
 * SEV-SNP: AMD's pinned roots and what a certificate claims to be.
 *
 * The SHA-256 of the DER of each product's ARK, ASK and ASVK, the KDS
 * product names, and the classification of a certificate by its subject
 * and issuer common names (an ARK also by its pinned fingerprint).  Nothing
 * here decides trust: verify.c checks the chain against the pinned ARK.
 */
#include <string.h>

#include <openssl/x509.h>

#include "evidence/snp/sources.h"
#include "veritee/crypto.h"

/* SHA-256 of the DER of AMD's ARK / ASK / ASVK per product
 * (../shared/docs/formats/sev-snp.md §2). */
static const struct {
	vt_snp_product product;
	uint8_t ark[32], ask[32], asvk[32];
} PINS[] = {
	{VT_SNP_PRODUCT_MILAN,
	 {0x69, 0xd0, 0x63, 0xb4, 0x53, 0x44, 0xd2, 0x6a, 0x2e, 0x94, 0xe1, 0xf4, 0x21, 0x0d, 0xe4, 0x9e,
	  0xf5, 0x55, 0x30, 0x82, 0x87, 0xd4, 0xc1, 0x74, 0x44, 0x5c, 0x95, 0x63, 0x9a, 0x54, 0x0b, 0xcd},
	 {0x67, 0xd3, 0x03, 0xbd, 0x39, 0x05, 0xfd, 0x38, 0xdb, 0x8b, 0x20, 0xe0, 0x79, 0x36, 0x99, 0x87,
	  0x0e, 0x7f, 0xa6, 0x12, 0xea, 0xad, 0x5d, 0xec, 0x35, 0x82, 0x93, 0xfd, 0x8c, 0x0b, 0xac, 0x1b},
	 {0xc5, 0xe0, 0x81, 0xf5, 0x9b, 0x7e, 0xfa, 0xb1, 0xfe, 0x2f, 0x8b, 0x50, 0x5e, 0x15, 0x97, 0x04,
	  0xe7, 0x2f, 0x29, 0xca, 0xb7, 0xef, 0x7c, 0xf6, 0x28, 0xa0, 0x5a, 0x42, 0x43, 0x90, 0x82, 0xf5}},
	{VT_SNP_PRODUCT_GENOA,
	 {0x4c, 0x65, 0x98, 0xd1, 0x9c, 0x18, 0x71, 0x9c, 0x5d, 0xfd, 0x4a, 0x7d, 0x33, 0x5f, 0x67, 0x4e,
	  0x5b, 0xfe, 0x1d, 0x8f, 0x80, 0x0c, 0xea, 0x2c, 0xf2, 0x70, 0xc1, 0x0d, 0x10, 0x3d, 0xb2, 0xf1},
	 {0x54, 0x64, 0x73, 0x8c, 0x15, 0x46, 0xae, 0xd5, 0xf2, 0xce, 0xcf, 0x1d, 0xc9, 0x8c, 0x5c, 0x96,
	  0x0a, 0x92, 0xe8, 0x91, 0x32, 0x38, 0xa6, 0x17, 0x11, 0xbc, 0x90, 0xec, 0x6e, 0x82, 0x85, 0x21},
	 {0x19, 0x7e, 0x61, 0x07, 0x43, 0xa9, 0x17, 0xd6, 0xb9, 0xbb, 0x98, 0x2a, 0x5a, 0x92, 0x26, 0xcc,
	  0xc0, 0xa1, 0x5b, 0x61, 0x1b, 0xe0, 0x61, 0x9e, 0x62, 0x6a, 0xca, 0x91, 0x51, 0x45, 0x73, 0x72}},
	{VT_SNP_PRODUCT_TURIN,
	 {0x1f, 0x08, 0x41, 0x61, 0xa4, 0x4b, 0xb6, 0xd9, 0x37, 0x78, 0xa9, 0x04, 0x87, 0x7d, 0x48, 0x19,
	  0xca, 0xfa, 0x5d, 0x05, 0xef, 0x41, 0x93, 0xb2, 0xde, 0xd9, 0xdd, 0x9c, 0x73, 0xdd, 0x3f, 0x6a},
	 {0x5b, 0x77, 0xef, 0x5f, 0xe7, 0xa7, 0xa0, 0x04, 0xfd, 0x90, 0x32, 0x66, 0x8f, 0xba, 0x9d, 0x0f,
	  0xda, 0x22, 0xf8, 0x8c, 0x44, 0x42, 0x06, 0x9a, 0x47, 0x96, 0x36, 0xa6, 0xae, 0x3b, 0x31, 0x85},
	 {0x10, 0x4e, 0x10, 0xa8, 0xbd, 0x06, 0x0a, 0x3c, 0x20, 0xa4, 0x34, 0x26, 0x1a, 0x57, 0xd0, 0x58,
	  0x8f, 0xd6, 0x5a, 0x88, 0x91, 0x5b, 0x4f, 0x65, 0xb0, 0x8b, 0xde, 0xca, 0xf8, 0xdf, 0x1a, 0x3c}},
};

#define PIN_COUNT (sizeof(PINS) / sizeof(PINS[0]))

vt_snp_product snp_pinned_ark_product(const uint8_t fp[32])
{
	for (size_t i = 0; i < PIN_COUNT; i++)
		if (memcmp(PINS[i].ark, fp, 32) == 0)
			return PINS[i].product;
	return VT_SNP_PRODUCT_UNKNOWN;
}

const uint8_t *snp_pinned_ask(vt_snp_product p)
{
	for (size_t i = 0; i < PIN_COUNT; i++)
		if (PINS[i].product == p)
			return PINS[i].ask;
	return NULL;
}

const uint8_t *snp_pinned_asvk(vt_snp_product p)
{
	for (size_t i = 0; i < PIN_COUNT; i++)
		if (PINS[i].product == p)
			return PINS[i].asvk;
	return NULL;
}

vt_snp_product snp_product_from_name(const char *s, size_t len)
{
	static const vt_snp_product all[] = {VT_SNP_PRODUCT_MILAN, VT_SNP_PRODUCT_GENOA, VT_SNP_PRODUCT_TURIN};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *name = vt_snp_product_name(all[i]);
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return all[i];
	}
	return VT_SNP_PRODUCT_UNKNOWN;
}

const char *snp_role_name(snp_role r)
{
	switch (r) {
	case SNP_ROLE_ARK: return "ARK";
	case SNP_ROLE_ASK: return "ASK";
	case SNP_ROLE_ASVK: return "ASVK";
	case SNP_ROLE_VCEK: return "VCEK";
	case SNP_ROLE_VLEK: return "VLEK";
	default: return "other";
	}
}

/* ------------------------------------------------------------ classification */

/* The (last) common name of a name into buf; false when absent or too long. */
static bool common_name(const X509_NAME *name, char *buf, size_t size)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		return false;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	if (s == NULL)
		return false;
	int len = ASN1_STRING_length(s);
	if (len <= 0 || (size_t)len >= size)
		return false;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
	buf[len] = '\0';
	if (strlen(buf) != (size_t)len)
		return false; /* embedded NUL */
	return true;
}

/* "<prefix><Product>" -> product, else UNKNOWN. */
static vt_snp_product suffix_product(const char *cn, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncmp(cn, prefix, pl) != 0)
		return VT_SNP_PRODUCT_UNKNOWN;
	return snp_product_from_name(cn + pl, strlen(cn + pl));
}

void snp_classify(X509 *x, const uint8_t *known_fp, snp_role *role, vt_snp_product *product)
{
	char cn[128], icn[128];
	*role = SNP_ROLE_OTHER;
	*product = VT_SNP_PRODUCT_UNKNOWN;
	bool has_cn = common_name(X509_get_subject_name(x), cn, sizeof(cn));
	bool has_icn = common_name(X509_get_issuer_name(x), icn, sizeof(icn));
	if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0) {
		uint8_t fp[32];
		struct vt_err scratch = {0};
		*role = SNP_ROLE_ARK;
		if (known_fp != NULL)
			*product = snp_pinned_ark_product(known_fp);
		else if (vt_x509_fingerprint_sha256(x, fp, &scratch) == VT_OK)
			*product = snp_pinned_ark_product(fp);
		return;
	}
	if (!has_cn || !has_icn)
		return;
	if (strcmp(cn, "SEV-VCEK") == 0) {
		*role = SNP_ROLE_VCEK;
		*product = suffix_product(icn, "SEV-");
		return;
	}
	if (strcmp(cn, "SEV-VLEK") == 0) {
		*role = SNP_ROLE_VLEK;
		*product = suffix_product(icn, "SEV-VLEK-");
		return;
	}
	vt_snp_product p = suffix_product(cn, "SEV-VLEK-");
	if (p != VT_SNP_PRODUCT_UNKNOWN && suffix_product(icn, "ARK-") == p) {
		*role = SNP_ROLE_ASVK;
		*product = p;
		return;
	}
	p = suffix_product(cn, "SEV-");
	if (p != VT_SNP_PRODUCT_UNKNOWN && suffix_product(icn, "ARK-") == p) {
		*role = SNP_ROLE_ASK;
		*product = p;
	}
}
