#!/usr/bin/python3
"""The `veritee verify` contract (docs/cli.md) on the shared vectors.

Run from the repo root:
  VERITEE_BIN=build/veritee VERITEE_VECTORS=../shared/vectors /usr/bin/python3 tests/integration/test_cli_verify.py
Prints TAP.  Every case checks the exit code (0 verified, 1 evidence
rejected, 2 usage or setup error) and the text or the one JSON object
--json prints, on success and on failure: the claims each TEE shows, the
TCB explanations (Intel status, advisories, dates; AMD reported /
committed / launch / current), --accept-tcb-status and --min-tcb, the
shipped AMD roots (a VCEK is enough), --product for version 2 reports, and
what a file of the wrong kind is said to be.  No network: every run is
--offline or uses files only.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.environ.get("VERITEE_VECTORS", os.path.join(os.path.dirname(REPO), "shared", "vectors"))
BIN = os.environ.get("VERITEE_BIN", os.path.join(REPO, "build", "veritee"))

SNP_AT = "2025-12-08T00:00:00Z"
GCP = "snp/teekit_gcp_milan_v5_report.bin"
GCP_VCEK = "snp/teekit_gcp_milan_vcek.pem"
GCP_MEAS = "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f58406f3"
V2 = "snp/trustee_milan_v2_report.bin"
V2_VCEK = "snp/trustee_milan_v2_vcek.der"
V2_NONCE = "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2"
TDX_Q = "tdx/azure_cvm_tdx_v4_quote.dat"
TDX_AT = "2025-11-01T00:00:00Z"
SGX_Q = "sgx/phala_sgx_v3_quote_00a067110000.dat"
SGX_COL = "sgx/phala_sgx_v3_quote_00a067110000_collateral.json"
SGX_AT = "2025-07-01T00:00:00Z"

results = []


def tap(name, ok, why=""):
    results.append((name, ok))
    n = len(results)
    print(f"ok {n} - {name}" if ok else f"not ok {n} - {name}", flush=True)
    if not ok and why:
        for line in str(why).splitlines()[:25]:
            print(f"#   {line}")


def vec(rel):
    return os.path.join(VECTORS, rel)


class R:
    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"rc={self.rc}\nstdout: {self.out[-1500:]}\nstderr: {self.err[-1500:]}"


def run(*args, env=None, stdin=None):
    e = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    e.update(env or {})
    return R(subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=120, env=e, input=stdin))


def one_json(r):
    """stdout is exactly one JSON object (nothing before or after)."""
    try:
        doc = json.loads(r.out)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def tdx_collateral(d):
    """The seven-file collateral directory for the Azure TDX quote (valid at TDX_AT)."""
    q = open(vec(TDX_Q), "rb").read()
    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", q, re.S)
    os.makedirs(d)
    shutil.copy(vec("tdx/automata_tcbinfo_tdx_00806f050000_2025-10-19.json"), os.path.join(d, "tcbinfo.json"))
    shutil.copy(vec("tdx/automata_qeidentity_td_qe_2025-10-13.json"), os.path.join(d, "qeidentity.json"))
    chain = open(vec("roots/intel/DERIVED_intel_sgx_tcb_signing_chain_2025-05-06_to_2032-05-06.pem"), "rb").read()
    for n in ("tcbinfo_issuer_chain.pem", "qeidentity_issuer_chain.pem"):
        open(os.path.join(d, n), "wb").write(chain)
    open(os.path.join(d, "pckcrl_issuer_chain.pem"), "wb").write(
        b"".join(p if p.endswith(b"\n") else p + b"\n" for p in pems[1:]))
    shutil.copy(vec("roots/intel/intel_pck_platform_ca_crl_2025-10-13.der"), os.path.join(d, "pckcrl.der"))
    shutil.copy(vec("roots/intel/DERIVED_intel_sgx_root_ca_crl_2025-03-20.der"), os.path.join(d, "rootcrl.der"))


def main():
    if not os.path.isdir(VECTORS):
        print("1..1\nok 1 - cli verify # SKIP vectors not present; set VERITEE_VECTORS")
        return 0
    if not os.access(BIN, os.X_OK):
        print(f"1..1\nnot ok 1 - veritee binary {BIN} missing")
        return 1
    tmp = tempfile.mkdtemp(prefix="veritee-cli-verify-")
    try:
        cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(ok for _, ok in results) else 1


def cases(tmp):
    snp = [vec(GCP), "--certs", vec(GCP_VCEK), "--offline", "--at", SNP_AT]

    # ---------------------------------------------------------------- SNP, text
    r = run("verify", "snp", *snp)
    tap("snp with only its VCEK verifies offline (AMD's ARK/ASK are shipped): exit 0", r.rc == 0, r)
    want = ["snp evidence", "AMD SEV-SNP (Milan), report version 5", "VCEK (versioned chip endorsement key",
            f"measurement    {GCP_MEAS}", "reported bootloader 4, tee 0, snp 27, microcode 222",
            "VMPL 0; debug not allowed; migration agent not allowed; SMT allowed",
            "committed  bootloader 4, tee 0, snp 27, microcode 222", "VERIFIED: this AMD SEV-SNP report (Milan, signed by "
            "its VCEK) is genuine", "the report data was NOT checked (no --nonce)"]
    missing = [w for w in want if w not in r.out]
    tap("snp text names the TEE, measurement, TCB components, VMPL/debug/policy flags, key kind and verdict",
        not missing, f"missing {missing}\n{r!r}")
    tap("without --nonce a warning on stderr", "warning: no --nonce" in r.err, r)

    # ---------------------------------------------------------------- SNP, JSON success
    r = run("verify", "snp", *snp, "--json")
    doc = one_json(r)
    ok = (r.rc == 0 and doc is not None and doc.get("verified") is True and doc.get("tee") == "snp"
          and doc.get("at") == SNP_AT and doc["claims"].get("measurement") == GCP_MEAS
          and doc["claims"].get("signing_key") == "vcek" and "error" not in doc)
    tap("--json success: one object {verified: true, tee, at, claims}", ok, r)
    ok = doc is not None and doc.get("tcb", {}).get("vendor") == "amd" and \
        doc["tcb"]["reported"] == {"bootloader": 4, "tee": 0, "snp": 27, "microcode": 222}
    tap("--json success carries the AMD TCB explained (reported components)", ok, r)
    ok = doc is not None and doc.get("nonce_checked") is False and \
        any("no --nonce" in w for w in doc.get("warnings", []))
    tap("--json says the nonce was not checked, in nonce_checked and warnings", ok, r)

    # ---------------------------------------------------------------- SNP, JSON failures
    r = run("verify", "snp", vec(GCP), "--offline", "--at", SNP_AT, "--json")
    doc = one_json(r)
    ok = (r.rc == 2 and doc is not None and doc["verified"] is False and doc["tee"] == "snp" and doc["at"] == SNP_AT
          and doc["error"]["step"] == "collateral" and doc["error"]["field"] == "vek" and doc["error"]["kind"] == "setup"
          and "no VCEK" in doc["error"]["detail"] and "claims" not in doc and "veritee fetch snp" in doc["error"]["hint"])
    tap("no VCEK offline: exit 2 and one object {verified: false, error: {step collateral, field vek}} with a hint",
        ok, r)
    r = run("verify", "snp", *snp, "--nonce", "11" * 64, "--json")
    doc = one_json(r)
    ok = (r.rc == 1 and doc is not None and doc["verified"] is False and doc["error"]["step"] == "binding"
          and doc["error"]["field"] == "report.report_data" and doc["error"]["kind"] == "rejected")
    tap("wrong nonce: exit 1, error {step binding, field report.report_data}", ok, r)
    r = run("verify", "snp", *snp, "--nonce", "11" * 64)
    tap("wrong nonce in text: 'REJECTED (snp) at step binding' on stderr, exit 1",
        r.rc == 1 and "REJECTED (snp) at step binding, field report.report_data" in r.err, r)
    r = run("verify", "snp", *snp, "--nonce", "zz")
    tap("--nonce that is not hex: exit 2, said once on stderr, nothing on stdout",
        r.rc == 2 and r.err.count("--nonce must be at most 64 bytes of hex") == 1 and r.out == "", r)
    r = run("verify", "snp", vec(GCP), "--offline", "--at", SNP_AT)
    tap("setup failure in text: 'CANNOT VERIFY (snp) at step collateral' and a hint, exit 2",
        r.rc == 2 and "CANNOT VERIFY (snp) at step collateral" in r.err and "hint:" in r.err, r)

    # ---------------------------------------------------------------- --min-tcb (AMD)
    r = run("verify", "snp", *snp, "--min-tcb", "bootloader=4,tee=0,snp=27,microcode=222")
    tap("--min-tcb equal to the reported TCB: exit 0", r.rc == 0, r)
    r = run("verify", "snp", *snp, "--min-tcb", "ucode=223", "--json")
    doc = one_json(r)
    ok = (r.rc == 1 and doc is not None and doc["error"]["step"] == "tcb"
          and doc["error"]["field"] == "reported_tcb_microcode" and "below --min-tcb microcode=223" in doc["error"]["detail"]
          and doc.get("claims", {}).get("measurement") == GCP_MEAS)
    tap("--min-tcb above the reported microcode: exit 1 at step tcb, claims still shown", ok, r)
    r = run("verify", "snp", *snp, "--min-tcb", "speed=9")
    tap("--min-tcb with an unknown component: exit 2 naming the syntax",
        r.rc == 2 and "COMPONENT=N" in r.err, r)
    r = run("verify", "snp", *snp, "--accept-tcb-status", "UpToDate")
    tap("--accept-tcb-status on snp: exit 2, 'use --min-tcb'", r.rc == 2 and "use --min-tcb" in r.err, r)

    # ---------------------------------------------------------------- AMD TCB explained
    r = run("verify", "snp", vec(V2), "--certs", vec(V2_VCEK), "--offline", "--at", SNP_AT, "--nonce", V2_NONCE,
            "--json")
    doc = one_json(r)
    ok = (r.rc == 0 and doc is not None and doc["tcb"]["reported"]["microcode"] == 115
          and doc["tcb"]["current"]["microcode"] == 206 and doc["tcb"]["committed"]["microcode"] == 115
          and doc["nonce_checked"] is True)
    tap("v2 report: reported (115), committed and current (206) TCB side by side in --json", ok, r)
    ok = doc is not None and any("newer than the launch TCB" in n for n in doc["tcb"]["notes"]) and \
        any("not committed yet" in n for n in doc["tcb"]["notes"])
    tap("current newer than launch and committed is explained (update after launch, not committed)", ok, r)
    r = run("verify", "snp", vec(V2), "--certs", vec(V2_VCEK), "--offline", "--at", SNP_AT, "--nonce", V2_NONCE)
    ok = r.rc == 0 and re.search(r"current\s+bootloader 3, tee 0, snp 8, microcode 206\s+running now", r.out) and \
        re.search(r"reported\s+bootloader 3, tee 0, snp 8, microcode 115\s+what the signing key is issued for", r.out) \
        and "the report data matches --nonce" in r.out
    tap("text: one TCB row per kind with what it means; the verdict says the nonce matched", bool(ok), r)

    # ---------------------------------------------------------------- --product
    r = run("verify", "snp", vec(V2), "--offline", "--at", SNP_AT, "--json")
    doc = one_json(r)
    tap("v2 report without VCEK or --product: exit 2, field product, names --product",
        r.rc == 2 and doc and doc["error"]["field"] == "product" and "--product" in doc["error"]["detail"], r)
    r = run("verify", "snp", vec(V2), "--offline", "--at", SNP_AT, "--product", "Milan", "--json")
    doc = one_json(r)
    tap("v2 report with --product Milan: the product is known, the VCEK is what is missing (field vek)",
        r.rc == 2 and doc and doc["error"]["field"] == "vek", r)
    r = run("verify", "snp", *snp, "--product", "Genoa", "--json")
    doc = one_json(r)
    tap("--product contradicting the report's CPUID: exit 2, step config",
        r.rc == 2 and doc and doc["error"]["step"] == "config" and "not Genoa" in doc["error"]["detail"], r)
    r = run("verify", "snp", *snp, "--product", "Bergamo")
    tap("--product with an unknown name: exit 2", r.rc == 2 and "Milan, Genoa or Turin" in r.err, r)

    # ---------------------------------------------------------------- Intel TDX: TCB status explained
    col = os.path.join(tmp, "tdx-collateral")
    tdx_collateral(col)
    tdx = [vec(TDX_Q), "--collateral", col, "--at", TDX_AT]
    r = run("verify", "tdx", *tdx)
    want = ["Intel TDX trust domain (quote version 4)", "MRTD", "RTMR0", "debug          disabled",
            "TCB status OutOfDate: the platform's TCB", "the platform matches the TCB level of 2023-08-09; the newest "
            "level is of 2024-03-13 (217 days newer)",
            "INTEL-SA-00960  https://www.intel.com/content/www/us/en/security-center/advisory/intel-sa-00960.html",
            "INTEL-SA-00982  https://", "INTEL-SA-00986  https://", "to do: update the platform",
            "VERIFIED: this Intel TDX quote (TCB OutOfDate) is genuine"]
    missing = [w for w in want if w not in r.out]
    tap("tdx OutOfDate: meaning, how far behind (dates, days), one line per advisory, what to do; exit 0",
        r.rc == 0 and not missing, f"missing {missing}\n{r!r}")
    r = run("verify", "tdx", *tdx, "--json")
    doc = one_json(r)
    ok = (r.rc == 0 and doc and doc["tcb"]["status"] == "OutOfDate" and doc["tcb"]["days_behind"] == 217
          and [a["id"] for a in doc["tcb"]["advisories"]] == ["INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"]
          and doc["claims"]["tcb_status"] == "OutOfDate")
    tap("tdx --json: tcb {status, days_behind 217, advisories}", ok, r)
    r = run("verify", "tdx", *tdx, "--accept-tcb-status", "UpToDate", "--json")
    doc = one_json(r)
    ok = (r.rc == 1 and doc and doc["error"]["step"] == "tcb" and doc["error"]["field"] == "tcb_status"
          and "OutOfDate is not accepted" in doc["error"]["detail"] and doc["claims"]["tcb_status"] == "OutOfDate")
    tap("--accept-tcb-status UpToDate refuses OutOfDate: exit 1 at step tcb", ok, r)
    r = run("verify", "tdx", *tdx, "--accept-tcb-status", "UpToDate,OutOfDate")
    tap("--accept-tcb-status UpToDate,OutOfDate accepts it: exit 0", r.rc == 0, r)
    r = run("verify", "tdx", *tdx, "--accept-tcb-status", "Fine")
    tap("--accept-tcb-status with an unknown status: exit 2 listing the known ones",
        r.rc == 2 and "unknown TCB status \"Fine\"" in r.err and "SWHardeningNeeded" in r.err, r)
    r = run("verify", "tdx", *tdx, "--min-tcb", "2024-01-01")
    tap("--min-tcb 2024-01-01 refuses the 2023-08-09 level: exit 1",
        r.rc == 1 and "older than --min-tcb 2024-01-01" in r.err, r)
    r = run("verify", "tdx", *tdx, "--min-tcb", "2023-08-01")
    tap("--min-tcb 2023-08-01 accepts it: exit 0", r.rc == 0, r)
    r = run("verify", "tdx", vec(TDX_Q), "--offline", "--at", TDX_AT, "--json")
    doc = one_json(r)
    tap("tdx without collateral offline: exit 2, step collateral, hint names `veritee fetch tdx`",
        r.rc == 2 and doc and doc["error"]["step"] == "collateral" and "veritee fetch tdx" in doc["error"]["hint"], r)

    # ---------------------------------------------------------------- Intel SGX
    r = run("verify", "sgx", vec(SGX_Q), "--collateral", vec(SGX_COL), "--at", SGX_AT)
    want = ["Intel SGX enclave", "MRENCLAVE      33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
            "MRSIGNER", "ISV            product 0, SVN 0", "TCB status ConfigurationAndSWHardeningNeeded:",
            "INTEL-SA-00289", "INTEL-SA-00615", "the platform matches the newest TCB level (2024-03-13)"]
    missing = [w for w in want if w not in r.out]
    tap("sgx ConfigurationAndSWHardeningNeeded explained; exit 0", r.rc == 0 and not missing, f"missing {missing}\n{r!r}")

    # ---------------------------------------------------------------- other TEEs: key claims
    r = run("verify", "az-snp-vtpm", vec("tpm/azure_cvm_snp_milan_evidence_v1.json"), "--certs",
            vec("snp/azure_cvm_milan_vcek_ask_ark.pem"), "--offline")
    tap("az-snp-vtpm: SNP claims and the vTPM named; exit 0",
        r.rc == 0 and "AMD SEV-SNP (Milan)" in r.out and "vTPM" in r.out and "VERIFIED:" in r.out, r)
    r = run("verify", "nitro", vec("nitro/marlin_nitro_prod_2024-08-07.cose"), "--at", "2024-08-07T07:00:00Z")
    tap("nitro: module, PCRs, debug and signing key; exit 0",
        r.rc == 0 and "AWS Nitro Enclave i-084e1dd2f1b2c529b-enc0190fecc5b166251" in r.out and "PCR 0" in r.out
        and "debug          disabled" in r.out and "AWS's pinned Nitro root" in r.out, r)
    r = run("verify", "cca", vec("cca/trustee_cca_token_fvp_testkeys.cbor"), "--cpak", vec("cca/trustee_cca_cpak_pub.json"))
    tap("cca: realm measurement and platform lifecycle; exit 0",
        r.rc == 0 and "realm RIM" in r.out and "lifecycle      secured" in r.out, r)
    r = run("verify", "nvidia", vec("nvidia/nvtrust_h100_attestation_report.hex.txt"), "--certs",
            vec("nvidia/nvtrust_h100_cert_chain.pem"))
    tap("nvidia: device, SPDM blocks and root; exit 0",
        r.rc == 0 and "NVIDIA Hopper gpu" in r.out and "64 measurement blocks" in r.out, r)
    r = run("verify", "gce-vtpm", vec("tpm/gce_cos85_vtpm_attestation_nonce9009.pb"), "--gce-roots", vec("roots/google"),
            "--nonce", "9009")
    tap("gce-vtpm: instance, AK certificate issuer, PCR bank; exit 0",
        r.rc == 0 and "cos-test" in r.out and "attestation key certified by Google" in r.out, r)
    r = run("verify", "gce-vtpm", vec("tpm/gce_cos85_vtpm_attestation_nonce9009.pb"), "--json")
    doc = one_json(r)
    tap("gce-vtpm without roots: exit 2 (setup), hint names --gce-roots",
        r.rc == 2 and doc and doc["error"]["kind"] == "setup" and "--gce-roots" in doc["error"].get("hint", ""), r)

    # ---------------------------------------------------------------- sim
    simdir = os.path.join(tmp, "sim")
    env = {"VERITEE_SIM_DIR": simdir}
    ev = run("attest", "--tee", "sim", "--report-data", "ab" * 8, env=env)
    evp = os.path.join(tmp, "sim.json")
    open(evp, "w").write(ev.out)
    r = run("verify", "sim", evp, "--nonce", "ab" * 8, env=env)
    tap("sim: 'simulated (INSECURE' in the claims, verified with the nonce; exit 0",
        r.rc == 0 and "simulated (INSECURE" in r.out and "matches --nonce" in r.out, r)
    r = run("verify", "sim", evp, "--json", env={"VERITEE_SIM_DIR": os.path.join(tmp, "nosim")})
    doc = one_json(r)
    tap("sim without sim keys: exit 2, hint says how to create them",
        r.rc == 2 and doc and "veritee attest --tee sim" in doc["error"].get("hint", ""), r)

    # ---------------------------------------------------------------- input sniffing
    b64 = os.path.join(tmp, "report.b64")
    open(b64, "w").write(base64.b64encode(open(vec(GCP), "rb").read()).decode())
    r = run("verify", "snp", b64, *snp[1:])
    tap("base64 of an SNP report given as binary: exit 2, 'base64 text of an AMD SEV-SNP report', decode hint",
        r.rc == 2 and "this looks like base64 text of an AMD SEV-SNP report" in r.err and "base64 -d" in r.err, r)
    r = run("verify", "tpm", vec("tpm/gce_cos85_vtpm_attestation_nonce9009.pb"), "--json")
    doc = one_json(r)
    tap("a GCE protobuf given as tpm: 'try `veritee verify gce-vtpm ...`', exit 2",
        r.rc == 2 and doc and "try `veritee verify gce-vtpm" in doc["error"]["hint"], r)
    r = run("verify", "snp", vec(TDX_Q))
    tap("a TDX quote given as snp: 'this looks like an Intel TDX quote (version 4); try `veritee verify tdx'",
        r.rc == 2 and "this looks like an Intel TDX quote (version 4); try `veritee verify tdx" in r.err, r)
    r = run("verify", "tpm", vec("tpm/azure_cvm_snp_milan_evidence_v1.json"))
    tap("Azure JSON given as tpm: 'try `veritee verify az-snp-vtpm'",
        r.rc == 2 and "try `veritee verify az-snp-vtpm" in r.err, r)
    r = run("verify", "snp", evp, "--offline")
    tap("sim JSON given as snp: 'try `veritee verify sim'", r.rc == 2 and "try `veritee verify sim" in r.err, r)
    r = run("verify", "snp", vec(GCP_VCEK))
    tap("a PEM certificate given as a report: 'a PEM CERTIFICATE (not evidence', exit 2",
        r.rc == 2 and "this looks like a PEM CERTIFICATE (not evidence" in r.err, r)
    r = run("verify", "nitro", vec("cca/trustee_cca_token_fvp_testkeys.cbor"))
    tap("a CCA token given as nitro: 'try `veritee verify cca'", r.rc == 2 and "try `veritee verify cca" in r.err, r)
    trunc = os.path.join(tmp, "trunc.bin")
    open(trunc, "wb").write(open(vec(GCP), "rb").read()[:600])
    r = run("verify", "snp", trunc, "--json")
    doc = one_json(r)
    tap("a truncated SNP report is evidence rejected (exit 1, step parse), no other TEE suggested",
        r.rc == 1 and doc and doc["error"]["step"] == "parse" and "hint" not in doc["error"], r)

    # ---------------------------------------------------------------- usage errors
    r = run("verify", "foo", vec(GCP), "--json")
    doc = one_json(r)
    tap("unknown tee with --json: exit 2, one object, the known TEEs listed",
        r.rc == 2 and doc and doc["tee"] is None and "unknown tee \"foo\"" in doc["error"]["detail"]
        and "snp" in doc["error"]["detail"] and doc["error"]["kind"] == "usage", r)
    r = run("verify", "foo", vec(GCP))
    tap("unknown tee in text: exit 2 on stderr", r.rc == 2 and "unknown tee \"foo\" (known:" in r.err, r)
    r = run("verify", "snp", os.path.join(tmp, "missing.bin"), "--json")
    doc = one_json(r)
    tap("missing evidence file: exit 2, step io", r.rc == 2 and doc and doc["error"]["step"] == "io", r)
    r = run("verify", "snp", *snp, "--nonce", "00", "--nonce", "01")
    tap("--nonce twice: exit 2 '--nonce given twice'", r.rc == 2 and "--nonce given twice" in r.err, r)
    r = run("verify", "snp", *snp, "--certs", vec(GCP_VCEK), "--json")
    doc = one_json(r)
    tap("a TEE option twice (--certs) with --json: exit 2, one object", r.rc == 2 and doc
        and "--certs given twice" in doc["error"]["detail"], r)
    r = run("verify", "snp", *snp, "--cpak", "x")
    tap("an option of another TEE: exit 2 'not an option of tee snp'", r.rc == 2 and "not an option of tee snp" in r.err, r)
    r = run("verify", "snp", "--json")
    doc = one_json(r)
    tap("missing EVIDENCE with --json: exit 2, one object", r.rc == 2 and doc and doc["error"]["kind"] == "usage", r)
    r = run("verify", "--help", "--certs", "/nonexistent")
    tap("--help: exit 0, usage on stdout", r.rc == 0 and r.out.startswith("usage: veritee verify"), r)
    r = run("verify", "snp", "-", *snp[1:], stdin=None)
    tap("'-' reads stdin (empty: parse error, exit 1)", r.rc in (1, 2) and "snp" in r.err, r)


if __name__ == "__main__":
    sys.exit(main())
