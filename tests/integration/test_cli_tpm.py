#!/usr/bin/python3
"""`veritee verify tpm`: what anchors an AK (issue 16, "Dangerous behaviours").

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_cli_tpm.py
Prints TAP.  A software TPM (swtpm on 127.0.0.1, started and stopped here)
quotes with `veritee attest --tee tpm`; the test plays a TPM vendor / AK CA
with python3-cryptography.  Checks: without an anchor the verdict is NOT
TRUSTED (exit 1, with the claims, in text and --json); --ak-digest of this
AK verifies (exit 0); --ek-roots DIR verifies when an AK certificate for
exactly this AK (evidence member ak_cert, or --ak-cert FILE) chains to DIR,
and is refused (exit 1, step chain) for a certificate of another key, one
from another CA, or when only an EK certificate is there (an EK cannot sign:
the refusal says so and points to credential activation); ek_roots without
a root, or with --ak-digest, is a usage error (exit 2).
"""
import base64
import datetime
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("VERITEE_BIN", os.path.join(REPO, "build", "veritee"))
NONCE = "5a" * 32

results = []


def tap(name, ok, why=""):
    results.append(ok)
    print(f"ok {len(results)} - {name}" if ok else f"not ok {len(results)} - {name}", flush=True)
    if not ok and why:
        for line in str(why).splitlines()[:25]:
            print(f"#   {line}")


def run(*args, env=None):
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **(env or {})))
    return p


def why(p):
    return f"rc={p.returncode}\nstdout: {p.stdout[-1200:]}\nstderr: {p.stderr[-1200:]}"


def free_pair():
    for _ in range(200):
        port = random.randint(20000, 59999)
        ok = True
        for q in (port, port + 1):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError("no free port pair")


class CA:
    """A certificate authority made here (P-256), standing in for a TPM vendor or an AK CA."""

    def __init__(self, name, parent=None):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer = parent.name if parent else self.name
        signer = parent.key if parent else self.key
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(issuer)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(signer, hashes.SHA256()))

    def issue(self, public_key, cn):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(self.name).public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))

    def pem(self):
        from cryptography.hazmat.primitives import serialization
        return self.cert.public_bytes(serialization.Encoding.PEM)


def der(cert):
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.DER)


def main():
    if not os.access(BIN, os.X_OK):
        print(f"1..1\nnot ok 1 - veritee binary {BIN} missing")
        return 1
    try:
        import cryptography  # noqa: F401
    except ImportError:
        print("1..1\nok 1 - verify tpm anchors # SKIP python3-cryptography not installed")
        return 0
    if shutil.which("swtpm") is None:
        print("1..1\nok 1 - verify tpm anchors # SKIP swtpm is not installed")
        return 0
    tmp = tempfile.mkdtemp(prefix="veritee-cli-tpm-")
    os.makedirs(os.path.join(tmp, "state"))
    port = free_pair()
    log = open(os.path.join(tmp, "swtpm.log"), "wb")
    sw = subprocess.Popen(["swtpm", "socket", "--tpm2", "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                           "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                           "--tpmstate", f"dir={os.path.join(tmp, 'state')}", "--flags", "not-need-init,startup-clear"],
                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        cases(tmp, f"swtpm:host=127.0.0.1,port={port}")
    finally:
        sw.send_signal(signal.SIGTERM)
        try:
            sw.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sw.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


def cases(tmp, tcti):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    p = run("attest", "--tee", "tpm", "--tpm-tcti", tcti, "--report-data", NONCE, "--event-log", "none")
    tap("swtpm quote with veritee attest --tee tpm", p.returncode == 0, why(p))
    if p.returncode != 0:
        return
    ev = json.loads(p.stdout)
    ak_der = base64.b64decode(ev["ak_public"])
    ak = serialization.load_der_public_key(ak_der)
    import hashlib
    ak_digest = hashlib.sha256(ak_der).hexdigest()

    def write(name, obj):
        path = os.path.join(tmp, name)
        with open(path, "w" if isinstance(obj, (dict, str)) else "wb") as f:
            if isinstance(obj, dict):
                json.dump(obj, f)
            else:
                f.write(obj)
        return path

    plain = write("plain.json", ev)
    p = run("verify", "tpm", plain, "--nonce", NONCE)
    tap("no anchor: NOT TRUSTED, exit 1, the claims still shown",
        p.returncode == 1 and "NOT TRUSTED (tpm)" in p.stderr and "attestation key (AK)" in p.stdout
        and "--ek-roots DIR" in p.stderr, why(p))
    p = run("verify", "tpm", plain, "--nonce", NONCE, "--json")
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    tap("no anchor --json: verified false, error at step chain, claims with ak_digest",
        p.returncode == 1 and doc.get("verified") is False and doc.get("error", {}).get("step") == "chain"
        and doc.get("claims", {}).get("ak_digest") == ak_digest, why(p))
    p = run("verify", "tpm", plain, "--nonce", NONCE, "--ak-digest", ak_digest)
    tap("--ak-digest of this AK: VERIFIED, exit 0", p.returncode == 0 and "VERIFIED" in p.stdout, why(p))

    root = CA("veritee test TPM root")
    inter = CA("veritee test AK CA", parent=root)
    roots = os.path.join(tmp, "roots")
    os.makedirs(roots)
    write("roots/root.pem", root.pem())
    write("roots/intermediate.pem", inter.pem())
    akcert = inter.issue(ak, "AK of the test TPM")
    with_ak = dict(ev, ak_cert=base64.b64encode(der(akcert)).decode())
    p = run("verify", "tpm", write("akcert.json", with_ak), "--nonce", NONCE, "--ek-roots", roots, "--json")
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    tap("--ek-roots with an AK certificate for this AK (root -> intermediate -> AK cert): verified, exit 0",
        p.returncode == 0 and doc.get("verified") is True
        and "AK of the test TPM" in doc.get("claims", {}).get("ak_cert", {}).get("subject", ""), why(p))
    akfile = write("ak.crt", der(akcert))
    p = run("verify", "tpm", plain, "--nonce", NONCE, "--ek-roots", roots, "--ak-cert", akfile)
    tap("--ek-roots with --ak-cert FILE (the evidence carries none): exit 0", p.returncode == 0, why(p))

    other = inter.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "someone else's AK")
    p = run("verify", "tpm", write("other.json", dict(ev, ak_cert=base64.b64encode(der(other)).decode())),
            "--nonce", NONCE, "--ek-roots", roots)
    tap("an AK certificate for another key: REJECTED at step chain, exit 1",
        p.returncode == 1 and "at step chain, field ak_cert" in p.stderr and "another key" in p.stderr, why(p))
    stranger = CA("another CA")
    p = run("verify", "tpm", write("stranger.json", dict(ev, ak_cert=base64.b64encode(
        der(stranger.issue(ak, "AK"))).decode())), "--nonce", NONCE, "--ek-roots", roots)
    tap("an AK certificate from a CA not in ek_roots: REJECTED, exit 1",
        p.returncode == 1 and "does not chain to ek_roots" in p.stderr, why(p))
    ekcert = root.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), "EK of the test TPM")
    p = run("verify", "tpm", write("ek.json", dict(ev, ek_cert=base64.b64encode(der(ekcert)).decode())),
            "--nonce", NONCE, "--ek-roots", roots)
    tap("only an EK certificate (genuine): REJECTED, the refusal says an EK cannot sign and names tpm-enroll",
        p.returncode == 1 and "chains to ek_roots, so the TPM is genuine, but an EK cannot sign" in p.stderr
        and "veritee tpm-enroll" in p.stderr, why(p))
    # A TCG-profile EK certificate: subjectDirectoryAttributes (2.5.29.9, TPM
    # specification 2.23.133.2.16) marked critical, which OpenSSL alone refuses.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    sda = bytes.fromhex("3010300e" "0605678105021031" "050c03322e30")
    now = datetime.datetime.now(datetime.timezone.utc)
    tcg_ek = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TCG EK")]))
              .issuer_name(root.name).public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
              .not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.9"), sda), critical=True)
              .sign(root.key, hashes.SHA256()))
    p = run("verify", "tpm", write("tcg-ek.json", dict(ev, ek_cert=base64.b64encode(der(tcg_ek)).decode())),
            "--nonce", NONCE, "--ek-roots", roots)
    tap("an EK certificate with the EK profile's critical subjectDirectoryAttributes is said to be genuine",
        p.returncode == 1 and "chains to ek_roots, so the TPM is genuine" in p.stderr, why(p))
    empty = os.path.join(tmp, "noroots")
    os.makedirs(empty)
    write("noroots/intermediate.pem", inter.pem())
    p = run("verify", "tpm", write("akcert2.json", with_ak), "--nonce", NONCE, "--ek-roots", empty)
    tap("ek_roots without a self-signed root: exit 2 (setup)", p.returncode == 2 and "no self-signed" in p.stderr, why(p))
    p = run("verify", "tpm", plain, "--nonce", NONCE, "--ek-roots", roots, "--ak-digest", ak_digest)
    tap("--ek-roots with --ak-digest: exit 2, one anchor at a time",
        p.returncode == 2 and "one of ak, ak_digest and ek_roots" in p.stderr, why(p))
    p = run("verify", "tpm", plain, "--nonce", NONCE, "--ak-cert", akfile)
    tap("--ak-cert without --ek-roots: exit 2", p.returncode == 2 and "ak_cert needs ek_roots" in p.stderr, why(p))


if __name__ == "__main__":
    sys.exit(main())
