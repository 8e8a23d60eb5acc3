#!/usr/bin/python3
"""End to end with a software TPM: `veritee get-resource --tee tpm` against `veritee serve`.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_tpm_rcar.py
Prints TAP.  Starts swtpm (TPM 2.0, TCP on 127.0.0.1, free ports found by
binding) and a broker on 127.0.0.1 port 0 in a temporary directory, and
stops them all at the end with SIGTERM (also on failure, on SIGTERM and on
the overall time limit VERITEE_IT_TIMEOUT, default 110 s).

The broker appraises `tpm` evidence with policy default_tpm, uploaded here:
the AK (claim /tpm/ak_digest, SHA-256 of the AK's DER SPKI) must be a
registered `tpm_trusted_aks` value and PCR 11 (/tpm/pcr11) a registered
`tpm_pcr11` value.  Without swtpm, or while the tpm attester/verifier is not
in the binary, the cases print `# SKIP`.
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Broker, Tap, TestFailure, check, eq, run  # noqa: E402

RESOURCE = "kbs:///default/key/t"
SECRET = b"tpm-released-" + os.urandom(8).hex().encode()

POLICY = {
    "version": 1,
    "id": "default_tpm",
    "trust_defaults": {"hardware": 97, "executables": 33, "configuration": 36},
    "rules": [
        {"name": "ak-trusted", "claim": "/tpm/ak_digest", "in_reference": "tpm_trusted_aks",
         "description": "the quote is signed by an enrolled attestation key",
         "on_pass": {"hardware": 2}, "on_fail": {"hardware": 97}},
        {"name": "pcr11-approved", "claim": "/tpm/pcr11", "in_reference": "tpm_pcr11",
         "on_pass": {"executables": 3}, "on_fail": {"executables": 33}},
        {"name": "clock-safe", "claim": "/tpm/quote/safe", "equals": True,
         "on_pass": {"configuration": 2}, "on_fail": {"configuration": 36}},
    ],
}


# ------------------------------------------------------------------ swtpm


def port_free(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_pair():
    import random
    for _ in range(200):
        p = random.randint(20000, 59999)
        if port_free(p) and port_free(p + 1):
            return p
    raise TestFailure("no free port pair on 127.0.0.1")


class Swtpm:
    """`swtpm socket --tpm2` on 127.0.0.1 with its own state directory."""

    def __init__(self, workdir, name):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.proc = None
        self.port = None

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self):
        for _ in range(5):
            p = free_port_pair()
            log = open(os.path.join(self.dir, "swtpm.log"), "ab")
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2",
                 "--server", f"type=tcp,port={p},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={p + 1},bindaddr=127.0.0.1",
                 "--tpmstate", f"dir={self.dir}", "--flags", "not-need-init,startup-clear"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                    self.port = p
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()  # lost a port race: try other ports
        raise TestFailure("swtpm did not start")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ------------------------------------------------------------------ world


class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="veritee-tpm-it-")
        self.brokers = []
        self.tpms = []
        self.path = lambda *p: os.path.join(self.tmp, *p)

    def tpm(self, name):
        t = Swtpm(self.tmp, name)
        self.tpms.append(t)
        t.start()
        return t

    def broker(self, name):
        b = Broker(self.tmp, name, {
            "listen": "127.0.0.1:0",
            "database": f"{name}.db",
            "master_key": f"{name}.master",
            "token_signing_key": f"{name}-token.pem",
            "admin_public_keys": ["admin.key.pub"],
            "threads": 2,
        })
        self.brokers.append(b)
        res = b.start()
        if res is not None:
            rc, out, err = res
            raise TestFailure(f"broker {name} did not start: rc={rc} stdout={out!r} stderr={err[-2000:]!r}")
        return b

    def admin(self, b, *args, id=None):
        p = b.admin(self.admin_key, *args, id=id)
        if p.returncode != 0:
            raise TestFailure(f"veritee admin {' '.join(args[:1])}: rc={p.returncode} {p.stderr!r}")
        return p


def tpm_env(tpm):
    env = dict(os.environ)
    env["VERITEE_TPM_TCTI"] = tpm.tcti
    return env


def evidence(tpm):
    """`veritee attest --tee tpm` on this TPM, as a dict."""
    p = run(["attest", "--tee", "tpm", "--report-data", "00" * 64], env=tpm_env(tpm))
    if p.returncode != 0:
        raise TestFailure(f"veritee attest --tee tpm: rc={p.returncode} {p.stderr!r}")
    return json.loads(p.stdout)


def ak_digest(ev):
    return hashlib.sha256(base64.b64decode(ev["ak_public"], validate=True)).hexdigest()


def get_resource(b, tpm):
    return run(["get-resource", b.url, RESOURCE, "--tee", "tpm"], env=tpm_env(tpm))


def support_missing():
    """Why the tpm attester or verifier is not usable in this binary, or None."""
    if shutil.which("swtpm") is None:
        return "swtpm is not installed"
    p = run(["verify", "tpm", "/dev/null"])
    if b"unknown tee" in p.stderr:
        return "tpm verifier not registered yet"
    p = run(["attest", "--tee", "tpm", "--report-data", "00"], env=dict(os.environ, VERITEE_TPM_TCTI="swtpm:host=127.0.0.1,port=1"))
    if b"no attester" in p.stderr or b"unknown tee" in p.stderr:
        return "tpm attester not registered yet"
    return None


class Abort(BaseException):
    pass


CASES = [
    "get-resource --tee tpm (swtpm) releases the secret",
    "the released secret comes back again with a fresh quote",
    "a different TPM (different AK) is refused, naming the AK rule",
    "after extending PCR 11 the resource is refused, naming the PCR 11 rule",
    "registering the new PCR 11 value releases it again",
    "unreachable TPM: get-resource fails before contacting the broker, naming the TCTI",
    "tpm2_checkquote (tpm2-tools) accepts the evidence's quote, and refuses another nonce",
]


def cases(tap, w):
    T = tap.run
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
    why = support_missing()
    if why:
        for name in CASES:
            tap.skip(name, why)
        return

    tpm = w.tpm("tpm-a")
    w.admin_key = w.path("admin.key")
    p = run(["admin", "keygen", w.admin_key])
    check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
    b = w.broker("main")

    # Enrol this TPM: its AK and its current PCR 11 (what a provisioning
    # step would record), the policy, and the secret.
    ev = evidence(tpm)
    w.admin(b, "add-reference-value", "tpm_trusted_aks", ak_digest(ev))
    w.admin(b, "add-reference-value", "tpm_pcr11", ev["tpm_quote"]["pcrs"][11])
    pol = w.path("default_tpm.json")
    with open(pol, "w") as f:
        json.dump(POLICY, f)
    w.admin(b, "set-attestation-policy", pol, id="default_tpm")
    sec = w.path("t.bin")
    with open(sec, "wb") as f:
        f.write(SECRET)
    w.admin(b, "set-resource", "default/key/t", sec)

    def released(t=tpm):
        p = get_resource(b, t)
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, SECRET, "stdout")
    T(CASES[0], released)
    T(CASES[1], released)

    def refused(t, *why):
        p = get_resource(b, t)
        eq(p.returncode, 1, f"exit code (stdout {p.stdout!r} stderr {p.stderr!r})")
        check(SECRET not in p.stdout, "secret printed on refusal")
        err = p.stderr.decode(errors="replace")
        check("refused" in err, f"no refusal explanation: {err!r}")
        for s in why:
            check(s in err, f"explanation lacks {s!r}: {err!r}")

    def other_ak():
        other = w.tpm("tpm-b")
        try:
            ev_b = evidence(other)
            check(ak_digest(ev_b) != ak_digest(ev), "two swtpm instances gave the same AK")
            refused(other, "ak-trusted")
        finally:
            other.stop()
    T(CASES[2], other_ak)

    def extended():
        p = subprocess.run(["tpm2_pcrextend", "-T", tpm.tcti, "11:sha256=" + "5a" * 32], capture_output=True,
                           timeout=30)
        if p.returncode != 0:
            raise TestFailure(f"tpm2_pcrextend: {p.stderr!r}")
        ev2 = evidence(tpm)
        check(ev2["tpm_quote"]["pcrs"][11] != ev["tpm_quote"]["pcrs"][11], "PCR 11 did not change")
        refused(tpm, "pcr11-approved")
    if shutil.which("tpm2_pcrextend") is None:
        tap.skip(CASES[3], "tpm2_pcrextend (tpm2-tools) is not installed")
        tap.skip(CASES[4], "tpm2_pcrextend (tpm2-tools) is not installed")
    else:
        T(CASES[3], extended)

        def reenrolled():
            w.admin(b, "add-reference-value", "tpm_pcr11", ev["tpm_quote"]["pcrs"][11],
                    evidence(tpm)["tpm_quote"]["pcrs"][11])
            released()
        T(CASES[4], reenrolled)

    def unreachable():
        q = free_port_pair()
        p = run(["get-resource", b.url, RESOURCE, "--tee", "tpm"],
                env=dict(os.environ, VERITEE_TPM_TCTI=f"swtpm:host=127.0.0.1,port={q}"))
        eq(p.returncode, 2, f"exit code (stderr {p.stderr!r})")
        err = p.stderr.decode(errors="replace")
        check("not reachable" in err and str(q) in err, f"stderr: {err!r}")
    T(CASES[5], unreachable)

    def checkquote():
        import textwrap
        e = evidence(tpm)  # report data 00 x 64: qualifying data 00 x 32
        files = {"msg": base64.b64decode(e["tpm_quote"]["message"]),
                 "sig": base64.b64decode(e["tpm_quote"]["signature"]),
                 "ak.pem": ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(textwrap.wrap(e["ak_public"], 64)) +
                            "\n-----END PUBLIC KEY-----\n").encode()}
        for name, data in files.items():
            with open(w.path(name), "wb") as f:
                f.write(data)
        base = ["tpm2_checkquote", "-u", w.path("ak.pem"), "-m", w.path("msg"), "-s", w.path("sig"), "-g", "sha256"]
        p = subprocess.run(base + ["-q", "00" * 32], capture_output=True, timeout=30)
        eq(p.returncode, 0, f"tpm2_checkquote (stderr {p.stderr!r})")
        p = subprocess.run(base + ["-q", "01" * 32], capture_output=True, timeout=30)
        check(p.returncode != 0, "tpm2_checkquote accepted another qualifying data")
    if shutil.which("tpm2_checkquote") is None:
        tap.skip(CASES[6], "tpm2_checkquote (tpm2-tools) is not installed")
    else:
        T(CASES[6], checkquote)

    check(b.alive(), f"broker died: {b.stderr_text()[-2000:]!r}")


def main():
    tap = Tap()
    w = World()
    limit = int(os.environ.get("VERITEE_IT_TIMEOUT", "110"))

    def abort(signum, frame):
        raise Abort(f"signal {signum}" if signum != signal.SIGALRM else f"overall time limit of {limit} s exceeded")
    signal.signal(signal.SIGTERM, abort)
    signal.signal(signal.SIGALRM, abort)
    signal.alarm(limit)
    try:
        cases(tap, w)
    except Abort as e:
        signal.alarm(0)
        tap.failed += 1
        tap.n += 1
        print(f"not ok {tap.n} - test run aborted\n#   {e}")
    except Exception as e:  # noqa: BLE001 - setup errors become one failed case
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        for b in w.brokers:
            rc = b.stop()
            if rc not in (0, None):
                tap.failed += 1
                tap.n += 1
                print(f"not ok {tap.n} - broker {b.name} exited {rc}")
        for t in w.tpms:
            t.stop()
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {w.tmp}")
        else:
            shutil.rmtree(w.tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
