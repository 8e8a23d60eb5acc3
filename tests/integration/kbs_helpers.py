"""Helpers for the veritee broker integration tests (stdlib + jwcrypto only).

Everything here talks to real `veritee serve` processes over loopback:
a small TAP runner, a broker process wrapper, raw HTTP, an independent
KBS 0.4.0 RCAR client (Python, not veritee's client) and JWT minting.
"""
import base64
import hashlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import traceback

try:
    import jwcrypto  # noqa: F401
except ImportError:  # a python without jwcrypto (pyenv): run the test again with Debian's
    os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

from jwcrypto import jwe as jwe_mod  # noqa: E402
from jwcrypto import jwk, jws  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VBIN = os.path.abspath(os.environ.get("VERITEE_BIN") or os.path.join(ROOT, "build", "veritee"))
KBS_ERR = "https://github.com/confidential-containers/kbs/errors/"
# SHA-384("veritee sim default workload"): the measurement `veritee attest`
# reports by default (include/veritee/sim.h, vt_sim_attest_opts_default).
DEFAULT_MEASUREMENT = hashlib.sha384(b"veritee sim default workload").hexdigest()

# ------------------------------------------------------------------ TAP


class TestFailure(Exception):
    pass


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.todo_failed = 0
        self.todo_passed = 0

    def run(self, name, fn, todo=None):
        """Run one case; an exception (any) is a failure with diagnostics."""
        self.n += 1
        suffix = f" # TODO {todo}" if todo else ""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported
            if todo:
                self.todo_failed += 1
            else:
                self.failed += 1
            print(f"not ok {self.n} - {name}{suffix}")
            msg = str(e) if isinstance(e, TestFailure) else traceback.format_exc()
            for line in msg.rstrip().splitlines():
                print(f"#   {line[:2000]}")
        else:
            if todo:
                self.todo_passed += 1
            print(f"ok {self.n} - {name}{suffix}")
        sys.stdout.flush()

    def skip(self, name, why):
        self.n += 1
        print(f"ok {self.n} - {name} # SKIP {why}")
        sys.stdout.flush()

    def finish(self):
        print(f"1..{self.n}")
        sys.stdout.flush()
        return 1 if self.failed else 0


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: got {got!r}, want {want!r}")


# --------------------------------------------------------------- encoding


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def canonical(obj):
    """RFC 8785 for the ASCII, number-free objects used here."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_dec(h)), json.loads(b64url_dec(p)), s


# ------------------------------------------------------------- processes


def run(args, timeout=60, input=None, env=None):
    """Run veritee with args; returns CompletedProcess (bytes)."""
    return subprocess.run([VBIN] + list(args), capture_output=True, timeout=timeout, input=input,
                          env=env)


def attest_evidence(sim_dir, report_data_hex, measurement=None):
    """Evidence JSON (dict) from `veritee attest --tee sim`."""
    args = ["attest", "--tee", "sim", "--sim-dir", sim_dir, "--report-data", report_data_hex]
    if measurement:
        args += ["--measurement", measurement]
    p = run(args)
    if p.returncode != 0:
        raise TestFailure(f"veritee attest failed rc={p.returncode}: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout)


class Broker:
    """A `veritee serve --print-port` process with its own config file."""

    def __init__(self, workdir, name, settings):
        self.dir = workdir
        self.name = name
        self.settings = dict(settings)
        self.config = os.path.join(workdir, f"{name}.json")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        self.proc = None
        self.port = None
        self.scheme = "https" if "tls_cert" in settings else "http"
        self.exit_codes = []
        self.stderr_log = None
        with open(self.config, "w") as f:
            json.dump(self.settings, f, indent=1)

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        """Start; returns None when listening, else (rc, stdout, stderr) of the exited process."""
        # Append so that a restarted broker keeps one stderr file for the log checks.
        self.stderr_log = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([VBIN, "serve", "--config", self.config, "--print-port"],
                                     stdout=subprocess.PIPE, stderr=self.stderr_log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 64)
                if not chunk:
                    break
                line += chunk
                if b"\n" in line:
                    break
            elif self.proc.poll() is not None:
                break
        if b"\n" in line and line.strip().isdigit():
            self.port = int(line.strip())
            return None
        try:
            rc = self.proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        rest = self.proc.stdout.read()
        self.proc.stdout.close()
        self.stderr_log.close()
        self.proc = None
        with open(self.stderr_path, "rb") as f:
            err = f.read()
        return rc, line + rest, err

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.exit_codes.append(rc)
        self.proc.stdout.close()
        self.stderr_log.close()
        self.proc = None
        return rc

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read()

    # -- admin through the CLI
    def admin(self, key, *args, id=None, cacert=None, input=None):
        a = ["admin", "--url", self.url, "--key", key]
        if cacert:
            a += ["--cacert", cacert]
        if id:
            a += ["--id", id]
        return run(a + list(args), input=input)


# ------------------------------------------------------------------ HTTP


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def variant(self):
        try:
            t = self.json().get("type", "")
        except Exception:  # noqa: BLE001
            return None
        return t[len(KBS_ERR):] if t.startswith(KBS_ERR) else t

    @property
    def detail(self):
        try:
            return self.json().get("detail", "")
        except Exception:  # noqa: BLE001
            return ""

    def cookie(self):
        sc = self.headers.get("set-cookie", "")
        for part in sc.split(";"):
            part = part.strip()
            if part.startswith("kbs-session-id="):
                return part[len("kbs-session-id="):]
        return None

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:600]!r}"


def request(port, method, path, body=None, headers=None, cookie=None, bearer=None, timeout=30, cafile=None):
    """Raw HTTP/1.1 on loopback (HTTPS when cafile is given); the path is sent as given."""
    if cafile:
        import ssl
        ctx = ssl.create_default_context(cafile=cafile)
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = f"kbs-session-id={cookie}"
    if bearer is not None:
        h["Authorization"] = f"Bearer {bearer}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        c.close()


def expect_err(r, status, variant, *details):
    """Assert a KBS ErrorInformation response."""
    check(r.status == status, f"want HTTP {status} {variant}, got {r!r}")
    check(r.variant == variant, f"want variant {variant}, got {r!r}")
    for d in details:
        check(d in r.detail, f"detail lacks {d!r}: {r.detail!r}")


# ---------------------------------------------------------- RCAR client


class Tee:
    """One guest: a TEE key and a sim key directory."""

    def __init__(self, sim_dir, rsa=False, measurement=None):
        self.sim_dir = sim_dir
        self.measurement = measurement
        if rsa:
            self.key = jwk.JWK.generate(kty="RSA", size=2048)
            d = self.key.export_public(as_dict=True)
            self.pub = {"kty": "RSA", "alg": "RSA-OAEP-256", "n": d["n"], "e": d["e"]}
        else:
            self.key = jwk.JWK.generate(kty="EC", crv="P-256")
            d = self.key.export_public(as_dict=True)
            self.pub = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": d["x"], "y": d["y"]}

    def report_data(self, nonce, additional=""):
        rt = {"tee-pubkey": self.pub, "nonce": nonce, "additional-evidence": additional}
        return hashlib.sha384(canonical(rt).encode()).hexdigest()

    def evidence(self, nonce, sim_dir=None, additional=""):
        return attest_evidence(sim_dir or self.sim_dir, self.report_data(nonce, additional), self.measurement)

    def decrypt(self, body):
        obj = jwe_mod.JWE()
        obj.deserialize(body.decode() if isinstance(body, bytes) else body, key=self.key)
        return obj.payload


def auth(port, tee="sim", version="0.4.0"):
    r = request(port, "POST", "/kbs/v0/auth", {"version": version, "tee": tee, "extra-params": {}})
    check(r.status == 200, f"/auth: {r!r}")
    cookie = r.cookie()
    check(cookie, f"/auth gave no kbs-session-id cookie: {r.headers!r}")
    return cookie, r.json()["nonce"]


def attest_body(nonce, pub, evidence, additional=""):
    return {"runtime-data": {"nonce": nonce, "tee-pubkey": pub},
            "tee-evidence": {"primary_evidence": evidence, "additional_evidence": additional}}


def attest(port, cookie, body):
    return request(port, "POST", "/kbs/v0/attest", body, cookie=cookie)


def full_attest(port, tee):
    """auth + attest; returns (cookie, token, report_b64)."""
    cookie, nonce = auth(port)
    ev = tee.evidence(nonce)
    r = attest(port, cookie, attest_body(nonce, tee.pub, ev))
    check(r.status == 200, f"/attest: {r!r}")
    return cookie, r.json()["token"], ev["report"]


# ------------------------------------------------------------------- JWT


def mint_jwt(key, claims, alg="ES256", header=None):
    """Compact JWS with exactly the given protected header text (or a default one)."""
    hdr = header if header is not None else json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":"))
    s = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    s.add_signature(key, alg=alg, protected=hdr)
    return s.serialize(compact=True)


def verify_jwt(token, pubkey):
    s = jws.JWS()
    s.deserialize(token)
    s.verify(pubkey)
    return json.loads(s.payload)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raw_http(port, data, timeout=10):
    """Send raw bytes (e.g. a request line http.client refuses); return the raw answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def hs256_jwt(secret, claims):
    """An HS256 JWT keyed with `secret` (bytes): for algorithm-confusion tests."""
    import hmac
    h = b64url(b'{"alg":"HS256","typ":"JWT"}')
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url(sig)}"
