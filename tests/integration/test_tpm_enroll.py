#!/usr/bin/python3
"""TPM AK enrollment end to end: `veritee tpm-enroll` against `veritee serve`.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_tpm_enroll.py
Prints TAP.  Manufactures software TPMs with swtpm_setup (EK certificates
made by swtpm_localca with local CAs, all under one temporary directory,
with HOME pointing there), serves them with swtpm on 127.0.0.1 (free ports
found by binding), runs brokers on 127.0.0.1 port 0, and stops everything
at the end with SIGTERM (also on failure, on SIGTERM and on the overall
time limit VERITEE_IT_TIMEOUT, default 150 s).

The broker's tpm_ek_roots is CA "a" (root + intermediate).  The admin
registers only tpm_pcr11; the shipped default_tpm policy also requires the
AK digest in trusted_aks, which only the enrollment fills.  tpm2-tools
(when installed) build raw requests and activate the broker's credential
themselves: that checks the broker's MakeCredential against another
implementation of ActivateCredential's client side, and lets the test
replay ids and send wrong secrets.
"""
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Broker, Tap, TestFailure, check, eq, run  # noqa: E402

RESOURCE = "kbs:///default/key/x"
SECRET = b"tpm-enrolled-" + os.urandom(8).hex().encode()
AK_HANDLE = "0x81010002"
EK_HANDLE = "0x81010001"
EK_CERT_NV = "0x1c00002"

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
    for _ in range(200):
        p = random.randint(20000, 59999)
        if port_free(p) and port_free(p + 1):
            return p
    raise TestFailure("no free port pair on 127.0.0.1")


class Swtpm:
    """A TPM manufactured by swtpm_setup with an EK certificate from the local CA `ca`."""

    def __init__(self, workdir, name, ca):
        self.root = workdir
        self.dir = os.path.join(workdir, name)
        self.state = os.path.join(self.dir, "state")
        self.ca = os.path.join(workdir, "ca-" + ca)
        os.makedirs(self.state)
        os.makedirs(self.ca, exist_ok=True)
        self.proc = None
        self.port = None

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def manufacture(self):
        d = self.dir
        with open(os.path.join(d, "localca.conf"), "w") as f:
            f.write(f"statedir = {self.ca}\nsigningkey = {self.ca}/signkey.pem\n"
                    f"issuercert = {self.ca}/issuercert.pem\ncertserial = {self.ca}/certserial\n")
        with open(os.path.join(d, "localca.options"), "w") as f:
            f.write("--platform-manufacturer veritee\n--platform-version 2.1\n--platform-model test\n")
        with open(os.path.join(d, "setup.conf"), "w") as f:
            f.write(f"create_certs_tool = swtpm_localca\ncreate_certs_tool_config = {d}/localca.conf\n"
                    f"create_certs_tool_options = {d}/localca.options\nactive_pcr_banks = sha256\n")
        env = dict(os.environ, HOME=self.root, XDG_CONFIG_HOME=self.root)
        p = subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", self.state, "--create-ek-cert",
                            "--create-platform-cert", "--config", os.path.join(d, "setup.conf"), "--overwrite"],
                           env=env, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise TestFailure(f"swtpm_setup: rc={p.returncode} {p.stdout[-1500:]!r} {p.stderr[-1500:]!r}")

    def start(self):
        for _ in range(5):
            p = free_port_pair()
            log = open(os.path.join(self.dir, "swtpm.log"), "ab")
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2",
                 "--server", f"type=tcp,port={p},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={p + 1},bindaddr=127.0.0.1",
                 "--tpmstate", f"dir={self.state}", "--flags", "not-need-init,startup-clear"],
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
            self.stop()
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
        self.tmp = tempfile.mkdtemp(prefix="veritee-tpm-enroll-it-")
        self.brokers = []
        self.tpms = []
        self.path = lambda *p: os.path.join(self.tmp, *p)

    def tpm(self, name, ca):
        t = Swtpm(self.tmp, name, ca)
        self.tpms.append(t)
        t.manufacture()
        t.start()
        return t

    def broker(self, name, **extra):
        settings = {
            "listen": "127.0.0.1:0",
            "database": f"{name}.db",
            "master_key": f"{name}.master",
            "token_signing_key": f"{name}-token.pem",
            "admin_public_keys": ["admin.key.pub"],
            "threads": 2,
        }
        settings.update(extra)
        b = Broker(self.tmp, name, settings)
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


def quiet_env(extra=None):
    env = dict(os.environ, TSS2_LOG="all+none")
    env.update(extra or {})
    return env


def evidence(tpm):
    p = run(["attest", "--tee", "tpm", "--report-data", "00" * 64], env=quiet_env({"VERITEE_TPM_TCTI": tpm.tcti}))
    if p.returncode != 0:
        raise TestFailure(f"veritee attest --tee tpm: rc={p.returncode} {p.stderr!r}")
    return json.loads(p.stdout)


def ak_digest(ev):
    return hashlib.sha256(base64.b64decode(ev["ak_public"], validate=True)).hexdigest()


def enroll(b, tpm):
    return run(["tpm-enroll", b.url, "--tpm-tcti", tpm.tcti], env=quiet_env())


def get_resource(b, tpm):
    return run(["get-resource", b.url, RESOURCE, "--tee", "tpm", "--tpm-tcti", tpm.tcti], env=quiet_env())


def tools(tpm, *cmd, cwd=None):
    p = subprocess.run([cmd[0], "-T", tpm.tcti] + list(cmd[1:]), capture_output=True, timeout=30, cwd=cwd,
                       env=quiet_env())
    if p.returncode != 0:
        raise TestFailure(f"{' '.join(cmd)}: rc={p.returncode} {p.stderr[-800:]!r}")
    return p


def raw_enroll_body(w, tpm, tweak_ak=None):
    """The enroll request built with tpm2-tools (EK certificate from NV, AK public area)."""
    d = tpm.dir
    tools(tpm, "tpm2_nvread", "-C", "o", EK_CERT_NV, "-o", os.path.join(d, "ek.der"))
    tools(tpm, "tpm2_readpublic", "-c", AK_HANDLE, "-f", "tss", "-o", os.path.join(d, "ak.pub"))
    with open(os.path.join(d, "ek.der"), "rb") as f:
        ek = f.read()
    with open(os.path.join(d, "ak.pub"), "rb") as f:
        ak = f.read()[2:]  # TPM2B_PUBLIC -> TPMT_PUBLIC
    if tweak_ak:
        ak = tweak_ak(ak)
    return {"ek_cert": base64.b64encode(ek).decode(), "ak_public": base64.b64encode(ak).decode()}


def tools_activate(tpm, blob_b64, secret_b64):
    """TPM2_ActivateCredential by tpm2-tools on the broker's credential."""
    d = tpm.dir
    cred = struct.pack(">II", 0xBADCC0DE, 1) + base64.b64decode(blob_b64) + base64.b64decode(secret_b64)
    with open(os.path.join(d, "cred.bin"), "wb") as f:
        f.write(cred)
    s = os.path.join(d, "session.ctx")
    tools(tpm, "tpm2_startauthsession", "--policy-session", "-S", s)
    try:
        tools(tpm, "tpm2_policysecret", "-S", s, "-c", "e")
        tools(tpm, "tpm2_activatecredential", "-c", AK_HANDLE, "-C", EK_HANDLE, "-i", os.path.join(d, "cred.bin"),
              "-o", os.path.join(d, "out.bin"), "-P", f"session:{s}")
    finally:
        subprocess.run(["tpm2_flushcontext", "-T", tpm.tcti, s], capture_output=True, timeout=30)
    with open(os.path.join(d, "out.bin"), "rb") as f:
        return f.read()


def support_missing():
    for tool in ("swtpm", "swtpm_setup", "swtpm_localca"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    p = run(["tpm-enroll", "--help"])
    if p.returncode != 0:
        return "veritee has no tpm-enroll command yet"
    return None


class Abort(BaseException):
    pass


CASES = [
    "a broker without tpm_ek_roots refuses enrollment, naming tpm_ek_roots",
    "before enrollment the AK is not trusted: get-resource --tee tpm is refused",
    "veritee tpm-enroll succeeds and prints the AK digest of the TPM's evidence",
    "get-resource --tee tpm is released with only tpm_pcr11 registered by the admin",
    "trusted_aks holds exactly the enrolled AK digest",
    "enrolling again keeps one trusted_aks entry",
    "a TPM whose EK certificate is from another CA cannot enroll (clear error)",
    "that TPM is refused the resource",
    "tpm2-tools activate the broker's credential; the id works once, a replay fails",
    "a wrong secret fails with 401 and spends the challenge",
    "an AK that is not restricted is refused at enrollment",
    "an enrollment without an EK certificate is refused",
]


def cases(tap, w):
    T = tap.run
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
    why = support_missing()
    if why:
        for name in CASES:
            tap.skip(name, why)
        return
    have_tools = all(shutil.which(t) for t in ("tpm2_nvread", "tpm2_readpublic", "tpm2_activatecredential",
                                               "tpm2_startauthsession", "tpm2_policysecret", "tpm2_flushcontext"))

    tpm = w.tpm("tpm-a", "a")
    ca = os.path.join(w.tmp, "ca-a")
    with open(w.path("ek-roots.pem"), "w") as out:
        for name in ("swtpm-localca-rootca-cert.pem", "issuercert.pem"):
            with open(os.path.join(ca, name)) as f:
                out.write(f.read())
    w.admin_key = w.path("admin.key")
    p = run(["admin", "keygen", w.admin_key])
    check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
    b = w.broker("main", tpm_ek_roots="ek-roots.pem")

    ev = evidence(tpm)
    want_digest = ak_digest(ev)
    w.admin(b, "add-reference-value", "tpm_pcr11", ev["tpm_quote"]["pcrs"][11])
    sec = w.path("x.bin")
    with open(sec, "wb") as f:
        f.write(SECRET)
    w.admin(b, "set-resource", "default/key/x", sec)

    def released(t=tpm):
        p = get_resource(b, t)
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, SECRET, "stdout")

    def refused(t, *why):
        p = get_resource(b, t)
        eq(p.returncode, 1, f"exit code (stdout {p.stdout!r} stderr {p.stderr!r})")
        check(SECRET not in p.stdout, "secret printed on refusal")
        err = p.stderr.decode(errors="replace")
        for s in why:
            check(s in err, f"explanation lacks {s!r}: {err!r}")

    def no_roots():
        nb = w.broker("noroots")  # stopped (exit code checked) with the others
        p = enroll(nb, tpm)
        eq(p.returncode, 1, f"exit code (stderr {p.stderr!r})")
        err = p.stderr.decode(errors="replace")
        check("tpm_ek_roots" in err and "TpmEnrollmentError" in err, f"stderr: {err!r}")
        r = kh.request(nb.port, "POST", "/kbs/v0/tpm/enroll", {"ek_cert": "AA==", "ak_public": "AA=="})
        kh.expect_err(r, 401, "TpmEnrollmentError", "tpm_ek_roots")
    T(CASES[0], no_roots)

    T(CASES[1], lambda: refused(tpm, "trusted_aks"))

    def enrolled():
        p = enroll(b, tpm)
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout.decode().strip(), want_digest, "printed AK digest")
    T(CASES[2], enrolled)
    T(CASES[3], released)

    def trusted(n=1):
        p = w.admin(b, "get-reference-value", "trusted_aks")
        eq(json.loads(p.stdout), [want_digest], "trusted_aks")
    T(CASES[4], trusted)

    def again():
        p = enroll(b, tpm)
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        trusted()
        released()
    T(CASES[5], again)

    other = {}

    def other_ca():
        o = other["tpm"] = w.tpm("tpm-b", "b")
        p = enroll(b, o)
        eq(p.returncode, 1, f"exit code (stderr {p.stderr!r})")
        err = p.stderr.decode(errors="replace")
        check("EK certificate not trusted" in err and "configured EK roots" in err, f"stderr: {err!r}")
        trusted()
    T(CASES[6], other_ca)

    def other_refused():
        o = other.get("tpm")
        check(o is not None, "no second TPM")
        refused(o, "trusted_aks")
        o.stop()
    T(CASES[7], other_refused)

    def replay():
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/enroll", raw_enroll_body(w, tpm))
        eq(r.status, 200, f"enroll {r!r}")
        ch = r.json()
        got = tools_activate(tpm, ch["credential_blob"], ch["encrypted_secret"])
        eq(len(got), 32, "secret length")
        body = {"id": ch["id"], "secret": base64.b64encode(got).decode()}
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/activate", body)
        eq(r.status, 200, f"activate {r!r}")
        eq(r.json().get("ak_digest"), want_digest, "ak_digest")
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/activate", body)
        kh.expect_err(r, 401, "TpmEnrollmentError", "unknown enrollment id")

    def wrong_secret():
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/enroll", raw_enroll_body(w, tpm))
        eq(r.status, 200, f"enroll {r!r}")
        ch = r.json()
        got = tools_activate(tpm, ch["credential_blob"], ch["encrypted_secret"])
        bad = bytes([got[0] ^ 1]) + got[1:]
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/activate",
                       {"id": ch["id"], "secret": base64.b64encode(bad).decode()})
        kh.expect_err(r, 401, "TpmEnrollmentError", "wrong secret")
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/activate",
                       {"id": ch["id"], "secret": base64.b64encode(got).decode()})
        kh.expect_err(r, 401, "TpmEnrollmentError", "unknown enrollment id")
        trusted()

    def not_restricted():
        def clear_restricted(ak):
            attrs = struct.unpack(">I", ak[4:8])[0] & ~0x00010000
            return ak[:4] + struct.pack(">I", attrs) + ak[8:]
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/enroll", raw_enroll_body(w, tpm, clear_restricted))
        kh.expect_err(r, 401, "TpmEnrollmentError", "not an attestation key", "without restricted")

    def no_cert():
        body = raw_enroll_body(w, tpm)
        body["ek_cert"] = None
        r = kh.request(b.port, "POST", "/kbs/v0/tpm/enroll", body)
        kh.expect_err(r, 401, "TpmEnrollmentError", "no EK certificate")

    for name, fn in ((CASES[8], replay), (CASES[9], wrong_secret), (CASES[10], not_restricted),
                     (CASES[11], no_cert)):
        if have_tools:
            T(name, fn)
        else:
            tap.skip(name, "tpm2-tools are not installed")

    check(b.alive(), f"broker died: {b.stderr_text()[-2000:]!r}")


def main():
    tap = Tap()
    w = World()
    limit = int(os.environ.get("VERITEE_IT_TIMEOUT", "150"))

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
