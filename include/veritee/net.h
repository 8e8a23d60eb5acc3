/*
 * veritee/net.h — an HTTP transport for the collateral fetches, over
 * libcurl.  It lives in libveritee-attester, not in libveritee-verifier, so
 * that a program that only verifies links no HTTP client: such a program
 * leaves vt_verifier_settings.http_get NULL (no network; collateral and
 * certificates come from files, a cache or the evidence), or passes this
 * function, or its own vt_http_get_fn (veritee/fetch.h).
 *
 *   struct vt_verifier_settings vs = {.tees = tees, .http_get = vt_curl_http_get};
 *
 * The program calls curl_global_init(CURL_GLOBAL_DEFAULT) once, before any
 * thread can fetch (libcurl's rule, not ours).
 */
#ifndef VERITEE_NET_H
#define VERITEE_NET_H

#include "veritee/err.h"
#include "veritee/fetch.h"

/*
 * One GET attempt with libcurl, to the contract of vt_http_get_fn: http and
 * https only, no redirects, no signals (CURLOPT_NOSIGNAL), connect within
 * min(timeout_ms, 10 s) and everything within timeout_ms, header lines of
 * at most 64 KiB, the system's CA store for https.  A timeout is VT_E_IO
 * with field VT_FETCH_FIELD_TIMEOUT; other transport failures VT_E_IO with
 * libcurl's message.  Thread-safe (one easy handle per call).
 */
VT_API VT_MUST_USE vt_status vt_curl_http_get(const struct vt_http_get_req *req, struct vt_http_get_resp *resp,
					      struct vt_err *err);

#endif
