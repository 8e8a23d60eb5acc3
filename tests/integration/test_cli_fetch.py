#!/usr/bin/python3
"""`veritee fetch snp|tdx|sgx EVIDENCE --out DIR` against a fake AMD KDS and a
fake PCCS on 127.0.0.1 (never the internet), then `veritee verify ... --cache
DIR --offline` from what was fetched, with the servers gone.

Run from the repo root:
  VERITEE_BIN=build/veritee VERITEE_VECTORS=../shared/vectors /usr/bin/python3 tests/integration/test_cli_fetch.py
Prints TAP.  Checks: the progress lines, the cache layout `verify` reads,
every missing item listed at once (not only the first), exit codes (0 all
fetched, 2 something missing or a usage error), --timeout against a server
that does not answer, --product for version 2 reports, VLEKs, and --json.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.environ.get("VERITEE_VECTORS", os.path.join(os.path.dirname(REPO), "shared", "vectors"))
BIN = os.environ.get("VERITEE_BIN", os.path.join(REPO, "build", "veritee"))

SNP_AT = "2025-12-08T00:00:00Z"
REPORT = "snp/teekit_gcp_milan_v5_report.bin"
VCEK = "snp/teekit_gcp_milan_vcek.pem"
CHIP = ("980cf7b61876cb37fd517cd44ce11c72d43c5408e66ab39138370ec59bc195e0"
        "63254cb501d87d82f0b8b8dc774bcfe28019447711598f007390e4accc405361")
QUOTE = "tdx/trustee_v4_quote_00a06d080000_70_zero_trailing.dat"
TCB = "tdx/trustee_tcbinfo_tdx_00a06d080000_2025-10-27.json"
QE = "tdx/trustee_qeidentity_td_qe_2025-10-28.json"
PCK_CRL = "roots/intel/intel_pck_platform_ca_crl_2025-10-13.der"
ROOT_CRL = "roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der"
TCB_CHAIN = "roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem"
TDX_AT = "2025-11-01T00:00:00Z"

results = []


def tap(name, ok, why=""):
    results.append((name, ok))
    n = len(results)
    print(f"ok {n} - {name}" if ok else f"not ok {n} - {name}", flush=True)
    if not ok and why:
        for line in str(why).splitlines()[:30]:
            print(f"#   {line}")


def read(rel):
    with open(os.path.join(VECTORS, rel), "rb") as f:
        return f.read()


class R:
    def __init__(self, p, took):
        self.rc, self.out, self.err, self.took = p.returncode, p.stdout, p.stderr, took

    def __repr__(self):
        return f"rc={self.rc} took={self.took:.1f}s\nstdout: {self.out[-1500:]}\nstderr: {self.err[-2000:]}"


def run(*args):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    t0 = time.monotonic()
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=120, env=env)
    return R(p, time.monotonic() - t0)


class Fake(http.server.BaseHTTPRequestHandler):
    routes = {}   # path (with query) -> (body, headers)
    seen = []
    slow = 0.0

    def log_message(self, *args):
        pass

    def do_GET(self):
        Fake.seen.append(self.path)
        if Fake.slow:
            time.sleep(Fake.slow)
        route = Fake.routes.get(self.path) or Fake.routes.get(urllib.parse.urlparse(self.path).path)
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


def pem_to_der(pem_text):
    import base64
    body = "".join(l for l in pem_text.splitlines() if l and not l.startswith("-----"))
    return base64.b64decode(body)


def main():
    if not os.path.isdir(VECTORS):
        print("1..1\nok 1 - cli fetch # SKIP vectors not present; set VERITEE_VECTORS")
        return 0
    if not os.access(BIN, os.X_OK):
        print(f"1..1\nnot ok 1 - veritee binary {BIN} missing")
        return 1
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    tmp = tempfile.mkdtemp(prefix="veritee-cli-fetch-")
    try:
        snp_cases(tmp, url)
        dcap_cases(tmp, url, srv)
    finally:
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(ok for _, ok in results) else 1


def snp_cases(tmp, url):
    report = os.path.join(VECTORS, REPORT)
    vcek_der = pem_to_der(read(VCEK).decode())
    Fake.routes = {f"/vcek/v1/Milan/{CHIP}": (vcek_der, {})}
    out = os.path.join(tmp, "snp-cache")
    r = run("fetch", "snp", report, "--out", out, "--kds-url", url)
    tap("fetch snp: exit 0 when the VCEK is fetched (the CRL may be unpublished)", r.rc == 0, r)
    tap("a progress line per item, before it is fetched",
        f"[1/2] VCEK from {url}/vcek/v1/Milan/" in r.err and f"[2/2] CRL from {url}/vcek/v1/Milan/crl" in r.err, r)
    tap("the CRL 404 is reported as not published, not as missing", "CRL: ok (not published by KDS (404))" in r.err, r)
    vfile = os.path.join(out, "amd", "Milan", "vcek", CHIP, "4-0-27-222.der")
    tap("the VCEK is in the cache layout verify reads (amd/Milan/vcek/<hwid>/<tcb>.der)",
        os.path.isfile(vfile) and open(vfile, "rb").read() == vcek_der, vfile)
    tap("stdout names the command that verifies offline",
        f"veritee verify snp {report} --cache {out} --offline" in r.out, r)
    n = len(Fake.seen)
    Fake.routes = {}
    r = run("verify", "snp", report, "--cache", out, "--offline", "--at", SNP_AT)
    tap("verify snp --cache DIR --offline with what was fetched: exit 0, no request",
        r.rc == 0 and len(Fake.seen) == n and "VERIFIED" in r.out, r)

    r = run("fetch", "snp", report, "--out", os.path.join(tmp, "snp-empty"), "--kds-url", url, "--json")
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = None
    ok = (r.rc == 2 and doc is not None and doc["tee"] == "snp" and doc["missing"] == 1
          and [i["what"] for i in doc["items"]] == ["VCEK", "CRL"] and doc["items"][0]["ok"] is False
          and url in doc["items"][0]["error"] and doc["items"][1]["ok"] is True)
    tap("KDS without the VCEK: exit 2, --json lists each item with ok/error (the URL named)", ok, r)

    v2 = os.path.join(VECTORS, "snp/trustee_milan_v2_report.bin")
    r = run("fetch", "snp", v2, "--out", os.path.join(tmp, "v2"), "--kds-url", url)
    tap("v2 report without --product: exit 2, both items listed missing with why",
        r.rc == 2 and "2 of 2 items missing" in r.out and "give --product" in r.out, r)
    Fake.routes = {}
    seen = len(Fake.seen)
    r = run("fetch", "snp", v2, "--out", os.path.join(tmp, "v2"), "--kds-url", url, "--product", "Milan")
    chip_v2 = "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f"
    tap("v2 report with --product Milan: the VCEK is asked for under Milan",
        any(p.startswith(f"/vcek/v1/Milan/{chip_v2}") for p in Fake.seen[seen:]), Fake.seen[seen:])
    r = run("fetch", "snp", os.path.join(VECTORS, "snp/trustee_aws_milan_vlek_v3_report.bin"), "--out",
            os.path.join(tmp, "vlek"), "--kds-url", url)
    tap("VLEK-signed report: the VLEK is listed missing (KDS gives VLEKs to cloud providers only)",
        r.rc == 2 and "VLEK: AMD KDS gives VLEKs to cloud providers only" in r.out, r)

    Fake.routes = {f"/vcek/v1/Milan/{CHIP}": (vcek_der, {})}
    Fake.slow = 4.0
    r = run("fetch", "snp", report, "--out", os.path.join(tmp, "slow"), "--kds-url", url, "--timeout", "1")
    Fake.slow = 0.0
    tap("--timeout 1 against a server that answers after 4 s: exit 2 well before 8 s, the deadline named",
        r.rc == 2 and r.took < 7.5 and "no complete answer within 1000 ms" in r.out, r)

    r = run("fetch", "nitro", report, "--out", os.path.join(tmp, "x"))
    tap("fetch for a TEE without vendor collateral: exit 2", r.rc == 2 and "snp, tdx and sgx" in r.err, r)
    r = run("fetch", "snp", report)
    tap("fetch without --out: exit 2", r.rc == 2 and "--out DIR" in r.err, r)
    r = run("fetch", "snp", report, "--out", "a", "--out", "b")
    tap("--out twice: exit 2", r.rc == 2 and "--out given twice" in r.err, r)
    r = run("fetch", "snp", os.path.join(VECTORS, QUOTE), "--out", os.path.join(tmp, "y"), "--kds-url", url)
    tap("a TDX quote given to fetch snp: exit 2, 'try `veritee verify tdx'",
        r.rc == 2 and "try `veritee verify tdx" in r.err, r)


def dcap_cases(tmp, url, srv):
    quote = read(QUOTE)
    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", quote, re.S)
    pck_chain = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in pems[1:])
    enc = lambda b: urllib.parse.quote(b, safe="")
    tcb_chain = read(TCB_CHAIN)
    full = {
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der": (read(PCK_CRL), {
            "SGX-PCK-CRL-Issuer-Chain": enc(pck_chain)}),
        "/sgx/certification/v4/rootcacrl": (read(ROOT_CRL), {}),
        "/tdx/certification/v4/tcb?fmspc=00A06D080000": (read(TCB), {"TCB-Info-Issuer-Chain": enc(tcb_chain)}),
        "/tdx/certification/v4/qe/identity": (read(QE), {"SGX-Enclave-Identity-Issuer-Chain": enc(tcb_chain)}),
    }
    qpath = os.path.join(VECTORS, QUOTE)
    Fake.routes = {k: v for k, v in full.items() if "tcb?" not in k and "identity" not in k}
    out = os.path.join(tmp, "tdx-cache")
    r = run("fetch", "tdx", qpath, "--out", out, "--pccs-url", url)
    ok = (r.rc == 2 and "2 of 5 items missing" in r.out and "TCB Info:" in r.out and "QE Identity:" in r.out
          and "PCK CRL: ok" in r.err and "Root CA CRL: ok" in r.err)
    tap("PCCS without TCB Info and QE Identity: exit 2, both listed at once, the CRLs still fetched", ok, r)
    tap("the PCK chain comes from the quote (FMSPC and CA named)",
        "PCK certificate chain: ok (in the quote: FMSPC 00a06d080000, PCK platform CA)" in r.err, r)
    Fake.routes = full
    r = run("fetch", "tdx", qpath, "--out", out, "--pccs-url", url)
    tap("fetch tdx with everything served: exit 0, four progress lines",
        r.rc == 0 and all(f"[{i}/4]" in r.err for i in range(1, 5)), r)
    files = sorted(os.listdir(os.path.join(out, "dcap"))) if os.path.isdir(os.path.join(out, "dcap")) else []
    tap("the cache holds the four items (dcap/*.json)", len(files) == 4, files)
    n = len(Fake.seen)
    Fake.routes = {}
    r = run("verify", "tdx", qpath, "--cache", out, "--offline", "--at", TDX_AT, "--json")
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = {}
    tap("verify tdx --cache DIR --offline from what was fetched: exit 0, OutOfDate, no request",
        r.rc == 0 and doc.get("claims", {}).get("tcb_status") == "OutOfDate" and len(Fake.seen) == n, r)
    r = run("fetch", "sgx", qpath, "--out", out, "--pccs-url", url)
    tap("a TDX quote given to fetch sgx: exit 2, 'try `veritee fetch tdx'",
        r.rc == 2 and "try `veritee fetch tdx" in r.err, r)

    # SGX: the PCS answers rebuilt from the dcap-qvl bundle of the Phala quote (the signed JSON kept byte for byte)
    col = json.loads(read("sgx/phala_sgx_v3_quote_00a067110000_collateral.json"))
    Fake.routes = {
        "/sgx/certification/v4/pckcrl?ca=processor&encoding=der": (bytes.fromhex(col["pck_crl"]), {
            "SGX-PCK-CRL-Issuer-Chain": enc(col["pck_crl_issuer_chain"].encode())}),
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der": (bytes.fromhex(col["pck_crl"]), {
            "SGX-PCK-CRL-Issuer-Chain": enc(col["pck_crl_issuer_chain"].encode())}),
        "/sgx/certification/v4/rootcacrl": (bytes.fromhex(col["root_ca_crl"]), {}),
        "/sgx/certification/v4/tcb?fmspc=00A067110000": (
            ('{"tcbInfo":' + col["tcb_info"] + ',"signature":"' + col["tcb_info_signature"] + '"}').encode(),
            {"TCB-Info-Issuer-Chain": enc(col["tcb_info_issuer_chain"].encode())}),
        "/sgx/certification/v4/qe/identity": (
            ('{"enclaveIdentity":' + col["qe_identity"] + ',"signature":"' + col["qe_identity_signature"] + '"}').encode(),
            {"SGX-Enclave-Identity-Issuer-Chain": enc(col["qe_identity_issuer_chain"].encode())}),
    }
    sq = os.path.join(VECTORS, "sgx/phala_sgx_v3_quote_00a067110000.dat")
    sout = os.path.join(tmp, "sgx-cache")
    r = run("fetch", "sgx", sq, "--out", sout, "--pccs-url", url, "--json")
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = {}
    tap("fetch sgx: exit 0, --json lists the PCK chain (from the quote) and the four items, none missing",
        r.rc == 0 and doc.get("missing") == 0 and [i["what"] for i in doc.get("items", [])] ==
        ["PCK certificate chain", "PCK CRL", "Root CA CRL", "TCB Info", "QE Identity"]
        and "--cache " + sout in doc.get("verify", ""), r)
    Fake.routes = {}
    r = run("verify", "sgx", sq, "--cache", sout, "--offline", "--at", "2025-07-01T00:00:00Z", "--json")
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = {}
    tap("verify sgx --cache DIR --offline from what was fetched: ConfigurationAndSWHardeningNeeded",
        r.rc == 0 and doc.get("claims", {}).get("tcb_status") == "ConfigurationAndSWHardeningNeeded", r)
    r = run("fetch", "tdx", qpath, "--out", out, "--kds-url", url)
    tap("--kds-url with tdx: exit 2", r.rc == 2 and "--kds-url is not an option of tdx" in r.err, r)


if __name__ == "__main__":
    sys.exit(main())
