#!/usr/bin/python3
"""Integration tests of attested TLS (veritee ratls cert|connect|serve, veritee verify ratls,
the broker over RA-TLS and get-resource --ratls-policy), against openssl s_server / s_client.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_ratls.py
Prints TAP.  Every server listens on 127.0.0.1 on a port chosen at run time and is stopped at the
end, also on failure.  The real certificates come from $VERITEE_VECTORS/ratls (skipped without).
"""
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import DEFAULT_MEASUREMENT, Broker, Tap, TestFailure, check, eq, run  # noqa: E402

VECTORS = os.environ.get("VERITEE_VECTORS") or os.path.join(kh.ROOT, "..", "shared", "vectors")
T2025 = "2025-01-01T00:00:00Z"


def wait_port(port, proc=None, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Echo:
    """A plain TCP echo service on loopback (what `ratls serve` forwards to)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        with c:
            while True:
                try:
                    d = c.recv(4096)
                except OSError:
                    return
                if not d:
                    return
                c.sendall(d)

    def stop(self):
        self.stopped = True
        self.sock.close()


class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="veritee-ratls-")
        self.procs = []
        self.brokers = []
        self.serves = []  # (proc, stderr path) of every `ratls serve`
        self.path = lambda *p: os.path.join(self.tmp, *p)

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, stdin=subprocess.PIPE if kw.pop("stdin", False) else subprocess.DEVNULL,
                             stdout=kw.pop("stdout", subprocess.PIPE), stderr=kw.pop("stderr", subprocess.PIPE), **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def s_server(self, cert, key, extra=()):
        """openssl s_server on a free loopback port; returns (proc, port)."""
        for _ in range(5):
            port = kh.free_port()
            p = self.spawn(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key,
                            "-quiet", *extra], stdin=True)
            if wait_port(port, p):
                return p, port
            self.stop(p)
        raise TestFailure("openssl s_server did not start")

    def ratls_serve(self, *args):
        """veritee ratls serve --print-port; returns (proc, port, stderr file)."""
        errf = open(self.path(f"serve-{len(self.procs)}.err"), "wb")
        p = self.spawn([kh.VBIN, "ratls", "serve", "--listen", "127.0.0.1:0", "--print-port", *args], stderr=errf)
        line = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"\n" not in line and p.poll() is None:
            line += p.stdout.read1(64) if hasattr(p.stdout, "read1") else p.stdout.read(1)
        errf.close()
        self.serves.append((p, errf.name))
        if not line.strip().isdigit():
            self.stop(p)
            with open(errf.name, "rb") as f:
                raise TestFailure(f"ratls serve did not start: {line!r} {f.read()[-1500:]!r}")
        return p, int(line.strip()), errf.name


def s_client_echo(w, port, line, until=None, timeout=20):
    """openssl s_client: send a line, read until `until` (the line) comes back, stop; (stdout, stderr)."""
    until = until or line.strip()
    p = w.spawn(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet"], stdin=True)
    p.stdin.write(line)
    p.stdin.flush()
    out = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() < deadline and until not in out and p.poll() is None:
        time.sleep(0.05)
        try:
            out += os.read(p.stdout.fileno(), 4096)
        except BlockingIOError:
            pass
    w.stop(p)
    return out, p.stderr.read()


def rj(p):
    """The JSON report a --json command printed."""
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise TestFailure(f"no JSON on stdout (rc={p.returncode}): {p.stdout[-500:]!r} {p.stderr[-1500:]!r}")


def refused_at(p, step, rc=1):
    eq(p.returncode, rc, f"exit code (stderr {p.stderr[-800:]!r})")
    r = rj(p)
    eq(r.get("verified"), False, "verified")
    eq(r.get("failed_step"), step, f"failed step ({r.get('error')!r})")
    return r


def main():
    tap = Tap()
    w = World()
    limit = int(os.environ.get("VERITEE_IT_TIMEOUT", "240"))

    def abort(signum, frame):
        raise TestFailure(f"signal {signum} / time limit {limit} s")
    signal.signal(signal.SIGTERM, abort)
    signal.signal(signal.SIGALRM, abort)
    signal.alarm(limit)
    echo = Echo()
    try:
        cases(tap, w, echo)
    except TestFailure as e:
        tap.failed += 1
        tap.n += 1
        print(f"not ok {tap.n} - test run aborted\n#   {e}")
    finally:
        signal.alarm(0)
        echo.stop()
        for p in w.procs:
            w.stop(p)
        for b in w.brokers:
            b.stop()
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {w.tmp}")
        else:
            shutil.rmtree(w.tmp, ignore_errors=True)
    return tap.finish()


def cases(tap, w, echo):
    T = tap.run
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
    sim, sim2 = w.path("sim"), w.path("sim2")
    root, root2 = os.path.join(sim, "sim-root.pem"), os.path.join(sim2, "sim-root.pem")
    env = dict(os.environ, VERITEE_SIM_DIR=sim)

    def vt(*args, **kw):
        return run(list(args), env=kw.pop("env", env), **kw)

    # ------------------------------------------------------ certificates
    cert, key = w.path("c.pem"), w.path("k.pem")

    def make_cert():
        p = vt("ratls", "cert", "--tee", "sim", "--sim-dir", sim, "--key", key, "--out", cert)
        eq(p.returncode, 0, f"exit code ({p.stderr!r})")
        check(oct(os.stat(key).st_mode & 0o777) == "0o600", "new key is 0600")
        p = vt("ratls", "cert", "--tee", "sim", "--sim-dir", sim2, "--key", w.path("k2.pem"), "--out", w.path("c2.pem"),
               "--hash", "sha384", "--key-type", "p384")
        eq(p.returncode, 0, f"exit code ({p.stderr!r})")
        # openssl reads it and keeps the evidence extension (non-critical)
        p = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], capture_output=True, timeout=30)
        eq(p.returncode, 0, "openssl x509")
        check(b"1.3.6.1.5.5.7.1.35" in p.stdout, "id-pe-cmw extension present")
    T("ratls cert --tee sim: a self-signed certificate with the CMW extension (new key 0600; P-384/sha384 too)",
      make_cert)

    def verify_own():
        p = vt("verify", "ratls", cert, "--insecure-sim-root", root, "--json")
        eq(p.returncode, 0, f"exit code ({p.stderr!r})")
        r = rj(p)
        for step in ("self_signature", "validity", "key_binding", "evidence"):
            eq(r.get(step), "ok", step)
        eq(r.get("format"), "cmw", "format")
        eq(r["claims"]["measurement"], DEFAULT_MEASUREMENT, "claims measurement")
        p = vt("verify", "ratls", w.path("c2.pem"), "--insecure-sim-root", root2, "--json")
        eq(p.returncode, 0, f"P-384 exit code ({p.stderr!r})")
        eq(rj(p)["pubkey_hash"]["alg"], "sha-384", "pubkey-hash alg")
    T("verify ratls: own sim certificate verifies (every step ok, claims)", verify_own)

    def repeated_options():
        # a second --policy / --at / --key must not silently replace the first (cli_getopt)
        for args, flag in ((["verify", "ratls", cert, "--insecure-sim-root", root, "--at", T2025, "--at", T2025],
                            "--at"),
                           (["ratls", "connect", "127.0.0.1:1", "--policy", cert, "--policy", cert], "--policy"),
                           (["ratls", "serve", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"], "--listen"),
                           (["ratls", "cert", "--tee", "sim", "--key", key, "--key", key, "--out", cert], "--key")):
            p = vt(*args)
            eq(p.returncode, 2, f"{' '.join(args[:2])}: exit code ({p.stderr!r})")
            check(f"{flag} given twice".encode() in p.stderr, f"{' '.join(args[:2])}: {p.stderr!r}")
    T("ratls commands: an option given twice is a usage error, as for every other command", repeated_options)

    def serve_verifier_options_alone():
        # without --require-client-evidence these would be accepted and check nothing
        for extra in (["--policy", cert], ["--at", T2025], ["--insecure-sim-root", root]):
            p = vt("ratls", "serve", "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1", "--tee", "sim", *extra)
            eq(p.returncode, 2, f"{extra[0]}: exit code ({p.stderr!r})")
            check(b"give --require-client-evidence too" in p.stderr, f"{extra[0]}: {p.stderr!r}")
    T("ratls serve: a client-evidence option without --require-client-evidence is a usage error",
      serve_verifier_options_alone)

    def verify_negatives():
        # another sim root
        refused_at(vt("verify", "ratls", w.path("c2.pem"), "--insecure-sim-root", root, "--json"), "evidence")
        # expired (as of --at)
        refused_at(vt("verify", "ratls", cert, "--insecure-sim-root", root, "--json", "--at", "2099-01-01T00:00:00Z"),
                   "validity")
        # a plain self-signed certificate
        pc, pk = w.path("plain.pem"), w.path("plain.key")
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-subj", "/CN=plain", "-days", "1", "-keyout", pk, "-out", pc],
                           capture_output=True, timeout=60)
        eq(p.returncode, 0, "openssl req")
        r = refused_at(vt("verify", "ratls", pc, "--insecure-sim-root", root, "--json"), "parse")
        check("no RA-TLS evidence extension" in r["error"], r["error"])
        # SPKI != the bound hash: the evidence extension moved to a certificate of another key
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        with open(cert, "rb") as f:
            c = x509.load_pem_x509_certificate(f.read())
        ext = c.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.35"))
        other = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "swapped")])
        swapped = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(other.public_key())
                   .serial_number(5).not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(ext.value, critical=False).sign(other, hashes.SHA256()))
        with open(w.path("swapped.pem"), "wb") as f:
            f.write(swapped.public_bytes(serialization.Encoding.PEM))
        with open(w.path("swapped.key"), "wb") as f:
            f.write(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        r = refused_at(vt("verify", "ratls", w.path("swapped.pem"), "--insecure-sim-root", root, "--json"),
                       "key_binding")
        check("SubjectPublicKeyInfo" in r["key_binding"], r["key_binding"])
        # not a certificate; a missing file
        with open(w.path("junk.pem"), "wb") as f:
            f.write(b"not a certificate")
        refused_at(vt("verify", "ratls", w.path("junk.pem"), "--json"), "parse")
        eq(vt("verify", "ratls", w.path("nope.pem")).returncode, 2, "missing file: exit 2")
    T("verify ratls refuses another sim root (evidence), expired (validity), plain self-signed (parse), "
      "SPKI != bound hash (key_binding), junk (parse)", verify_negatives)

    def verify_policy():
        allow, deny = w.path("allow.json"), w.path("deny.json")
        with open(allow, "w") as f:
            json.dump({"version": 1, "id": "allow", "rules": [
                {"name": "measurement", "claim": "/sim/measurement", "in_reference": "m"},
                {"name": "cmw", "claim": "/ratls/format", "equals": "cmw"}]}, f)
        with open(w.path("refs.json"), "w") as f:
            json.dump({"m": [DEFAULT_MEASUREMENT]}, f)
        with open(deny, "w") as f:
            json.dump({"version": 1, "id": "deny", "rules": [
                {"name": "measurement", "claim": "/sim/measurement", "equals": "11" * 48}]}, f)
        p = vt("verify", "ratls", cert, "--insecure-sim-root", root, "--policy", allow, "--reference-values",
               w.path("refs.json"), "--json")
        eq(p.returncode, 0, f"allow: exit code ({p.stderr!r})")
        eq(rj(p)["policy"]["allowed"], True, "policy allowed")
        r = refused_at(vt("verify", "ratls", cert, "--insecure-sim-root", root, "--policy", deny, "--json"), "policy")
        check("measurement" in r["error"], r["error"])
    T("verify ratls --policy: the broker's policy language allows / denies (step policy, exit 1)", verify_policy)

    # ------------------------------------------------------ the real certificates
    vec = os.path.join(VECTORS, "ratls")
    if not os.path.isdir(vec):
        tap.skip("verify ratls: the shared RA-TLS certificates", f"no vectors at {vec}")
    else:
        def vectors():
            want = {  # README-more.md, ratls/
                "ccc_gramine_ratls_cert.pem": ("tcg-dice", "0866e7ca11b9f4efe4bf39b2607f4e1299f111920d96d95719080f01b62b7585",
                                               "5a5a5b2d177433048e9d62409d1acc4ec526c06e294d09e69a36cff9369e4851"),
                "ccc_intel_sgxsdk_ratls_cert.pem": ("tcg-dice", "09e218a4be9dadbf7cdc82c45497d6d4f676d3b75445fc37a376f0b65b47de6a",
                                                    "f306ed602985371e3b485102db1fcdd4f4738329ce58b2f8d1c5d2cc79752026"),
                "rats-tls_legacy_enclave_tls_cert.pem": ("legacy-quote",
                                                         "144e81488fc3d59ddbe69b03bd939a3b938d85b6a7c9897e2b09808ade956574",
                                                         None),
            }
            for name, (fmt, mre, ph) in want.items():
                p = vt("verify", "ratls", os.path.join(vec, name), "--at", T2025, "--json")
                eq(p.returncode, 0, f"{name}: exit code ({p.stderr[-600:]!r})")
                r = rj(p)
                eq(r["format"], fmt, f"{name} format")
                eq(r["key_binding"], "ok", f"{name} key_binding")
                eq(r["tcb_status"], "not evaluated (no collateral)", f"{name} tcb_status")
                eq(r["claims"]["body"]["mr_enclave"], mre, f"{name} mr_enclave")
                if ph:
                    eq(r["pubkey_hash"]["value"], ph, f"{name} pubkey-hash")
                check(b"TCB status is NOT evaluated" in p.stderr, "the missing TCB evaluation is said")
            # after the certificate's notAfter, and after the PCK chain's
            refused_at(vt("verify", "ratls", os.path.join(vec, "ccc_gramine_ratls_cert.pem"), "--at",
                          "2031-01-01T00:00:00Z", "--json"), "validity")
            refused_at(vt("verify", "ratls", os.path.join(vec, "ccc_gramine_ratls_cert.pem"), "--at",
                          "2030-06-01T00:00:00Z", "--json"), "evidence")
            refused_at(vt("verify", "ratls", os.path.join(vec, "rats-tls_legacy_enclave_tls_cert.pem"), "--at", T2025,
                          "--no-legacy", "--json"), "key_binding")
            # a policy on the SGX claims (mr_signer of the Gramine sample)
            pol = w.path("sgx.json")
            with open(pol, "w") as f:
                json.dump({"version": 1, "rules": [{"name": "signer", "claim": "/sgx/body/mr_signer",
                           "equals": "adc53501f21ced9b998e37a7a18e061c63e00315045fa57a49c18ef0a30d02ca"}]}, f)
            eq(vt("verify", "ratls", os.path.join(vec, "ccc_gramine_ratls_cert.pem"), "--at", T2025, "--policy",
                  pol).returncode, 0, "Gramine + mr_signer policy")
            refused_at(vt("verify", "ratls", os.path.join(vec, "ccc_intel_sgxsdk_ratls_cert.pem"), "--at", T2025,
                          "--policy", pol, "--json"), "policy")
        T("verify ratls: Gramine, Intel SGX SDK (TCG DICE) and rats-tls legacy certificates verify with the "
          "README's binding and claims; TCB not evaluated without collateral; negatives fail", vectors)

    # ------------------------------------------------------ openssl s_server -> ratls connect
    def s_server_connect():
        p, port = w.s_server(cert, key)
        c = vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--json")
        eq(c.returncode, 0, f"exit code ({c.stderr!r})")
        r = rj(c)
        eq(r["verified"], True, "verified")
        eq(r["claims"]["measurement"], DEFAULT_MEASUREMENT, "claims")
        w.stop(p)
        # the same server against another root: refused, step named
        p, port = w.s_server(cert, key)
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root2, "--json"), "evidence")
        w.stop(p)
        # a server whose certificate binds another key
        p, port = w.s_server(w.path("swapped.pem"), w.path("swapped.key"))
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--json"), "key_binding")
        w.stop(p)
        # a plain TLS server
        p, port = w.s_server(w.path("plain.pem"), w.path("plain.key"))
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--json"), "parse")
        w.stop(p)
        # --fresh against a server that cannot answer the nonce
        p, port = w.s_server(cert, key)
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--fresh", "--json"),
                   "freshness")
        w.stop(p)
    T("openssl s_server with a veritee RA-TLS (sim) certificate: ratls connect verifies it; another root, "
      "a swapped key, a plain certificate, a missing nonce are refused at their step", s_server_connect)

    # ------------------------------------------------------ ratls serve <- openssl s_client
    def s_client_serve():
        p, port, errf = w.ratls_serve("--forward", f"127.0.0.1:{echo.port}", "--tee", "sim", "--sim-dir", sim)
        out, err = s_client_echo(w, port, b"hello through the TEE\n")
        check(b"hello through the TEE" in out, f"echo through ratls serve: {out!r} {err[-800:]!r}")
        check(b"self-signed" in err, f"s_client saw the self-signed certificate: {err[-400:]!r}")
        # and veritee's own client, verifying
        c = vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--send", "ping", "--json")
        eq(c.returncode, 0, f"connect exit ({c.stderr!r})")
        eq(rj(c)["received"], "ping", "echo")
        eq(w.stop(p), 0, "ratls serve exit code on SIGTERM")
    T("ratls serve: openssl s_client completes a handshake (the extension is ignored) and reaches the "
      "loopback echo service; veritee ratls connect verifies it", s_client_serve)

    # ------------------------------------------------------ mutual RA-TLS and freshness
    def mutual():
        # two sim workloads: the server admits only clients measured as CLIENT_MEASUREMENT
        client_m = "33" * 48
        pol = w.path("clients.json")
        with open(pol, "w") as f:
            json.dump({"version": 1, "id": "clients", "rules": [
                {"name": "client-workload", "claim": "/sim/measurement", "equals": client_m}]}, f)
        p, port, errf = w.ratls_serve("--forward", f"127.0.0.1:{echo.port}", "--tee", "sim", "--sim-dir", sim,
                                      "--require-client-evidence", "--insecure-sim-root", root, "--policy", pol,
                                      "--fresh")
        spol = w.path("server.json")
        with open(spol, "w") as f:
            json.dump({"version": 1, "id": "server", "rules": [
                {"name": "server-workload", "claim": "/sim/measurement", "equals": DEFAULT_MEASUREMENT}]}, f)
        # the client presents its own RA-TLS certificate (made now, for its own measurement)
        c = vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--tee", "sim", "--sim-dir", sim,
               "--measurement", client_m, "--policy", spol, "--fresh", "--send", "mutual", "--json")
        eq(c.returncode, 0, f"mutual exit ({c.stderr!r})")
        r = rj(c)
        eq(r["received"], "mutual", "echo")
        eq(r["freshness"], "ok", "nonce claim checked")
        eq(r["policy"]["allowed"], True, "the client appraised the server")
        check(r.get("nonce") and len(r["nonce"]) == 64, "the server's certificate carries our nonce")
        # another workload (the default measurement), a client from another sim root, one without a certificate
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--tee", "sim",
                      "--sim-dir", sim, "--json"), "handshake")
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--cert",
                      w.path("c2.pem"), "--key", w.path("k2.pem"), "--json"), "handshake")
        refused_at(vt("ratls", "connect", f"127.0.0.1:{port}", "--insecure-sim-root", root, "--json"), "handshake")
        w.stop(p)
        with open(errf, "rb") as f:
            log = f.read()
        check(b"client verified (sim)" in log, f"serve log: {log[-800:]!r}")
        check(b"client REFUSED at step policy" in log, f"serve log names the policy step: {log[-800:]!r}")
        check(b"client REFUSED at step evidence" in log, f"serve log names the evidence step: {log[-800:]!r}")
    T("mutual RA-TLS between two sim workloads (each appraises the other's measurement, fresh nonce); another "
      "workload (policy), a client from another root (evidence) and one without evidence are refused", mutual)

    # ------------------------------------------------------ the broker over RA-TLS
    broker_over_ratls(tap, w, sim, sim2, root, root2, cert, key, vt)

    def clean_exits():
        bad = []
        for p, errf in w.serves:
            rc = w.stop(p)
            with open(errf, "rb") as f:
                err = f.read()
            if rc != 0 or b"Sanitizer" in err or b"runtime error" in err:
                bad.append(f"ratls serve rc={rc}: {err[-600:]!r}")
        for b in w.brokers:
            b.stop()
            err = b.stderr_text()
            if any(rc != 0 for rc in b.exit_codes) or b"Sanitizer" in err or b"runtime error" in err:
                bad.append(f"broker {b.name} exits {b.exit_codes}: {err[-600:]!r}")
        check(not bad, "; ".join(bad))
    T("every ratls serve and broker stopped on SIGTERM with exit 0 and no sanitizer report", clean_exits)


def broker_over_ratls(tap, w, sim, sim2, root, root2, cert, key, vt):
    T = tap.run
    admin_key = w.path("admin.key")
    state = {}

    def settings(**kw):
        base = {"listen": "127.0.0.1:0", "database": "kbs.db", "master_key": "kbs.master",
                "token_signing_key": "kbs-token.pem", "admin_public_keys": ["admin.key.pub"],
                "insecure_sim_root": "sim/sim-root.pem", "threads": 2}
        base.update(kw)
        return base

    def provision():
        eq(vt("admin", "keygen", admin_key).returncode, 0, "admin keygen")
        plain = Broker(w.tmp, "kbs-plain", settings())
        w.brokers.append(plain)
        res = plain.start()
        check(res is None, f"broker start: {res!r}")
        sec = b"secret-" + os.urandom(8).hex().encode()
        with open(w.path("k1.bin"), "wb") as f:
            f.write(sec)
        for args in (["add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT],
                     ["set-resource", "default/key/k1", w.path("k1.bin")]):
            p = plain.admin(admin_key, *args)
            eq(p.returncode, 0, f"admin {args[0]}: {p.stderr!r}")
        plain.stop()
        state["secret"] = sec
        # the same store behind an RA-TLS certificate: a broker inside a (sim) TEE
        b = Broker(w.tmp, "kbs-ratls", settings(tls_cert="c.pem", tls_key="k.pem", header_timeout_seconds=2,
                                                max_connections_per_client=3))
        w.brokers.append(b)
        res = b.start()
        check(res is None, f"RA-TLS broker start: {res!r}")
        check(b.url.startswith("https://"), b.url)
        state["b"] = b
        pol = w.path("broker-ratls.json")
        with open(pol, "w") as f:
            json.dump({"version": 1, "id": "broker-in-tee", "rules": [
                {"name": "broker-measurement", "claim": "/sim/measurement", "equals": DEFAULT_MEASUREMENT}]}, f)
        deny = w.path("broker-deny.json")
        with open(deny, "w") as f:
            json.dump({"version": 1, "id": "other-broker", "rules": [
                {"name": "broker-measurement", "claim": "/sim/measurement", "equals": "22" * 48}]}, f)
        state["pol"], state["deny"] = pol, deny
    T("broker: provisioned over HTTP, restarted behind an RA-TLS certificate (TLS by OpenSSL)", provision)
    if "b" not in state:
        return
    b = state["b"]

    def get(*extra):
        return vt("get-resource", b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim, *extra)

    def accepted():
        p = get("--ratls-policy", state["pol"], "--ratls-insecure-sim-root", root)
        eq(p.returncode, 0, f"exit code ({p.stderr!r})")
        eq(p.stdout, state["secret"], "secret released over attested TLS")
    T("get-resource --ratls-policy accepts the broker's RA-TLS evidence and releases the secret", accepted)

    def refused():
        p = get("--ratls-policy", state["deny"], "--ratls-insecure-sim-root", root)
        eq(p.returncode, 1, f"policy: exit code ({p.stderr!r})")
        eq(p.stdout, b"", "nothing released")
        check(b"step policy" in p.stderr, p.stderr)
        p = get("--ratls-policy", state["pol"], "--ratls-insecure-sim-root", root2)
        eq(p.returncode, 1, f"other root: exit code ({p.stderr!r})")
        check(b"step evidence" in p.stderr, p.stderr)
        p = get("--ratls-policy", state["pol"])  # no sim root: sim evidence is not accepted
        eq(p.returncode, 1, f"no sim root: exit code ({p.stderr!r})")
        # without --ratls-policy and without --cacert: not a CA-signed certificate, exit 2 as before
        eq(get().returncode, 2, "plain HTTPS verification fails")
        check(b.alive(), "broker alive")
    T("get-resource --ratls-policy refuses a broker whose evidence fails (policy, other root, no root): exit 1, "
      "nothing released", refused)

    def plain_cert_broker():
        b2 = Broker(w.tmp, "kbs-plaincert", settings(database="kbs2.db", master_key="kbs2.master",
                                                     tls_cert="plain.pem", tls_key="plain.key"))
        w.brokers.append(b2)
        res = b2.start()
        check(res is None, f"start: {res!r}")
        p = vt("get-resource", b2.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim, "--ratls-policy",
               state["pol"], "--ratls-insecure-sim-root", root)
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        check(b"step parse" in p.stderr, p.stderr)
        b2.stop()
    T("get-resource --ratls-policy refuses a broker with a plain (non RA-TLS) certificate", plain_cert_broker)

    def tls_guard():
        # a client that never sends a ClientHello is closed at header_timeout (2 s), like one that
        # never sends its headers: the connection guard sees TLS connections from accept on
        s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
        t0 = time.monotonic()
        data = s.recv(1)
        took = time.monotonic() - t0
        s.close()
        eq(data, b"", "closed without a byte")
        check(1.0 <= took <= 6.0, f"closed after {took:.1f} s (header_timeout 2 s)")
        # the per-client connection limit applies at accept (3 here)
        socks = [socket.create_connection(("127.0.0.1", b.port), timeout=10) for _ in range(5)]
        time.sleep(0.5)
        closed = 0
        for s in socks:
            s.settimeout(0.3)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except socket.timeout:
                pass
        for s in socks:
            s.close()
        check(closed >= 2, f"{closed} of 5 connections closed at once (limit 3)")
        out, err = s_client_echo(w, b.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", until=b"HTTP/1.1 ")
        check(b"HTTP/1.1 200" in out, f"/healthz over TLS: {out[:200]!r} {err[-300:]!r}")
    T("broker over TLS: a silent TLS client is reaped at header_timeout; the per-client limit applies "
      "at accept; HTTP/1.1 over OpenSSL answers", tls_guard)


if __name__ == "__main__":
    sys.exit(main())
