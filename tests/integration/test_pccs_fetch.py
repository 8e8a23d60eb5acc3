#!/usr/bin/python3
"""`veritee verify tdx` fetching DCAP collateral from a fake PCCS on 127.0.0.1.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_pccs_fetch.py
Prints TAP.  The server serves the vector collateral for the Trustee v4 quote
(FMSPC 00A06D080000; expected OutOfDate at 2025-11-01) under the PCS v4 paths
with URL-encoded PEM issuer-chain headers, and answers the TCB Info request
once with 429 + Retry-After: 1.  Checks: fetched verification, the cache,
--offline from the cache, --offline past nextUpdate ("expired"), and --grace.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.environ.get("VERITEE_VECTORS", os.path.join(os.path.dirname(REPO), "shared", "vectors"))
BIN = os.environ.get("VERITEE_BIN", os.path.join(REPO, "build", "veritee"))

QUOTE = "tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat"
TCB = "tdx/trustee_tcbinfo_tdx_00a06d080000_2025-10-27.json"       # nextUpdate 2025-11-26T13:07:17Z
QE = "tdx/trustee_qeidentity_td_qe_2025-10-28.json"                 # nextUpdate 2025-11-27T06:45:09Z
PCK_CRL = "roots/intel/intel_pck_platform_ca_crl_2025-10-13.der"
ROOT_CRL = "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der"
TCB_CHAIN = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem"
AT = "2025-11-01T00:00:00Z"
LATER = "2025-12-15T00:00:00Z"    # past every nextUpdate above
GRACE = str(60 * 86400)
EXPECTED = "OutOfDate"

results = []


def tap(name, ok, why=""):
    results.append((name, ok, why))
    n = len(results)
    print(f"ok {n} - {name}" if ok else f"not ok {n} - {name}" + (f"  # {why}" if why else ""), flush=True)


def read(rel):
    with open(os.path.join(VECTORS, rel), "rb") as f:
        return f.read()


class PCCS(http.server.BaseHTTPRequestHandler):
    routes = {}       # path+query -> (body, {header: value})
    seen = []
    throttle_once = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        PCCS.seen.append(self.path)
        if self.path in PCCS.throttle_once:
            PCCS.throttle_once.discard(self.path)
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route = PCCS.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, headers = route
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run(args):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def tcb_status(out):
    try:
        doc = json.loads(out)
    except ValueError:
        return None
    # `veritee verify --json` prints {"verified", "tee", "at", "claims", ...} (docs/cli.md)
    if not isinstance(doc, dict) or doc.get("verified") is not True:
        return None
    return doc["claims"].get("tcb_status")


def main():
    needed = [QUOTE, TCB, QE, PCK_CRL, ROOT_CRL, TCB_CHAIN]
    if not all(os.path.exists(os.path.join(VECTORS, r)) for r in needed):
        print("ok 1 - pccs fetch # SKIP shared vectors not found")
        print("1..1")
        return 0
    if not os.access(BIN, os.X_OK):
        print(f"ok 1 - pccs fetch # SKIP {BIN} not built")
        print("1..1")
        return 0

    quote = read(QUOTE)
    # The PCK CRL issuer chain (PCK Platform CA + Intel root) is the tail of
    # the PEM chain in the quote's certification data.
    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", quote, re.S)
    assert len(pems) == 3, "expected 3 PEM certificates in the quote"
    pck_chain = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in pems[1:])
    enc = lambda b: urllib.parse.quote(b, safe="")
    tcb_chain = read(TCB_CHAIN)
    PCCS.routes = {
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der": (read(PCK_CRL), {
            "SGX-PCK-CRL-Issuer-Chain": enc(pck_chain), "Content-Type": "application/x-pem-file"}),
        "/sgx/certification/v4/rootcacrl": (read(ROOT_CRL), {}),
        "/tdx/certification/v4/tcb?fmspc=00A06D080000": (read(TCB), {
            "TCB-Info-Issuer-Chain": enc(tcb_chain), "Content-Type": "application/json"}),
        "/tdx/certification/v4/qe/identity": (read(QE), {
            "SGX-Enclave-Identity-Issuer-Chain": enc(tcb_chain), "Content-Type": "application/json"}),
    }
    tcb_path = "/tdx/certification/v4/tcb?fmspc=00A06D080000"
    PCCS.throttle_once = {tcb_path}

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PCCS)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    tmp = tempfile.mkdtemp(prefix="veritee-pccs-")
    cache = os.path.join(tmp, "cache")
    qpath = os.path.join(VECTORS, QUOTE)
    try:
        rc, out, err = run(["verify", "tdx", qpath, "--pccs-url", url, "--cache", cache, "--at", AT, "--json"])
        tap("fetched collateral verifies (exit 0)", rc == 0, f"rc={rc} {err.strip()[:300]}")
        st = tcb_status(out)
        tap(f"tcb_status {EXPECTED}", st == EXPECTED, f"got {st!r}")
        tap("TCB Info request throttled once, then retried",
            PCCS.seen.count(tcb_path) == 2, f"requests: {PCCS.seen}")
        files = sorted(os.listdir(os.path.join(cache, "dcap"))) if os.path.isdir(os.path.join(cache, "dcap")) else []
        tap("cache filled (4 items)", len(files) == 4, f"files: {files}")

        n = len(PCCS.seen)
        rc, out, err = run(["verify", "tdx", qpath, "--pccs-url", url, "--cache", cache, "--at", AT, "--json"])
        tap("second run served from the cache (no request)", rc == 0 and len(PCCS.seen) == n,
            f"rc={rc} new requests: {PCCS.seen[n:]}")

        srv.shutdown()
        srv.server_close()   # nothing listens any more: offline must not need it
        rc, out, err = run(["verify", "tdx", qpath, "--pccs-url", url, "--cache", cache, "--offline",
                            "--at", AT, "--json"])
        tap("--offline from the cache verifies", rc == 0 and tcb_status(out) == EXPECTED,
            f"rc={rc} {err.strip()[:300]}")

        rc, out, err = run(["verify", "tdx", qpath, "--pccs-url", url, "--cache", cache, "--offline",
                            "--at", LATER, "--json"])
        tap("--offline past nextUpdate fails with 'expired'", rc != 0 and "expired" in (out + err),
            f"rc={rc} {(out + err).strip()[:300]}")

        rc, out, err = run(["verify", "tdx", qpath, "--pccs-url", url, "--cache", cache, "--offline",
                            "--at", LATER, "--grace", GRACE, "--json"])
        tap("--offline past nextUpdate passes within --grace", rc == 0 and tcb_status(out) == EXPECTED,
            f"rc={rc} {(out + err).strip()[:300]}")
        expired_flag = None
        try:
            doc = json.loads(out)
            expired_flag = doc["claims"]["collateral_expiration_status"] == "1" and doc["tcb"]["collateral_expired"]
        except (ValueError, KeyError):
            pass
        tap("collateral used within the grace is flagged", expired_flag is True, out.strip()[:300])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
