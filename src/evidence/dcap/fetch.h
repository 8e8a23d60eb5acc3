/*
 * DCAP collateral from Intel PCS or a PCCS (API v4), with an on-disk cache
 * honouring nextUpdate.  Private to src/evidence/dcap/.
 * URLs and headers: shared/docs/formats/tdx-sgx-dcap.md §5.
 */
#ifndef VT_DCAP_FETCH_H
#define VT_DCAP_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "veritee/dcap.h"
#include "veritee/err.h"

#define VT_DCAP_PCS_DEFAULT_URL "https://api.trustedservices.intel.com"
#define VT_DCAP_ROOT_CA_CRL_URL "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"

/*
 * Collect the collateral for one quote:
 *   PCK CRL      GET <base>/sgx/certification/v4/pckcrl?ca=<ca>&encoding=der  (SGX-PCK-CRL-Issuer-Chain)
 *   TCB Info     GET <base>/{sgx|tdx}/certification/v4/tcb?fmspc=<12 hex>     (TCB-Info-Issuer-Chain,
 *                                                                            or SGX-TCB-Info-Issuer-Chain)
 *   QE Identity  GET <base>/{sgx|tdx}/certification/v4/qe/identity           (SGX-Enclave-Identity-Issuer-Chain)
 *   Root CA CRL  GET <pccs_url>/sgx/certification/v4/rootcacrl when pccs_url is set (as PCCS serves it),
 *                else VT_DCAP_ROOT_CA_CRL_URL
 * <base> is src->pccs_url, or VT_DCAP_PCS_DEFAULT_URL when NULL.  Issuer
 * chains are URL-decoded PEM; CRL bodies may be DER, PEM or hex text (PCCS
 * versions differ) and are stored as DER; TCB Info / QE Identity bodies are
 * split with vt_dcap_signed_json_split (exact bytes kept).
 *
 * Cache (src->cache_dir, when set): one file per item under <cache>/dcap/
 * (tcbinfo-<sgx|tdx>-<FMSPC>.json, qeidentity-<sgx|tdx>.json,
 * pckcrl-<ca>.json, rootcacrl.json): {"url", "issuer_chain" (PEM), "body" (std
 * base64 of the TCB Info / QE Identity body as received, or of the CRL as DER)}.
 * A cached item is used without contacting the server while now < its
 * nextUpdate (tcbInfo / enclaveIdentity nextUpdate, CRL nextUpdate); after
 * that it is fetched again.  Offline (src->offline): cache only; an item
 * past nextUpdate is used only within src->grace_seconds (the verifier then
 * reports the collateral as expired), otherwise VT_E_REJECTED step
 * collateral "... expired ...".  When fetching fails, a cached item within
 * the grace is used as offline.
 *
 * Requests go through vt_fetch_get (src/fetch): src->gate (may be NULL)
 * admits each one and charges `client` (may be NULL) once for the whole
 * call; cached items take no slot and cost no budget.  HTTP 429: waits
 * Retry-After seconds (at most 5; 1, 2, 4 when absent) and retries, at most
 * 3 times, never past the fetch deadline (the gate's timeout, else
 * VT_FETCH_TIMEOUT_DEFAULT_MS); each attempt is also capped at 30 s.
 * Network and HTTP errors (404 included): VT_E_IO step collateral naming
 * the URL; gate refusals as in veritee/fetch.h.  A response the fetcher
 * cannot use (no issuer chain, bad CRL or JSON) is a failure the gate
 * remembers.  `ca` is "platform" or "processor".
 * *out is zeroed first; on failure nothing is left allocated in it.
 */
vt_status vt_dcap_fetch_collateral(const struct vt_dcap_sources *src, const char *client, bool tdx,
				   const uint8_t fmspc[6], const char *ca, int64_t now, struct vt_dcap_collateral *out,
				   struct vt_err *err);

/*
 * For `veritee fetch`: every item of vt_dcap_fetch_collateral fetched into
 * src->cache_dir independently (one failing does not stop the others), with
 * `progress` (may be NULL) called before each item (rc NULL) and after it
 * (its outcome).  Returns the first failure (all of them went through
 * `progress`).
 */
typedef void (*vt_dcap_fetch_progress)(void *ctx, int index, int count, const char *what, const char *url,
				       const vt_status *rc, const struct vt_err *err);
vt_status vt_dcap_fetch_each(const struct vt_dcap_sources *src, bool tdx, const uint8_t fmspc[6], const char *ca,
			     int64_t now, vt_dcap_fetch_progress progress, void *ctx, struct vt_err *err);

#endif
