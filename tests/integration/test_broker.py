#!/usr/bin/python3
"""Integration tests of `veritee serve` (KBS protocol 0.4.0, RCAR) over real HTTP.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_broker.py
Prints TAP.  Starts several brokers on 127.0.0.1 port 0 in a temporary
directory and stops them at the end, also on failure.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
# kbs_helpers first: under a python without jwcrypto it re-runs the test with Debian's
from jwcrypto import jwk  # noqa: E402
from kbs_helpers import (DEFAULT_MEASUREMENT, Broker, Tap, Tee, TestFailure, attest, attest_body,  # noqa: E402
                         attest_evidence, auth, b64url, b64url_dec, check, eq, expect_err, full_attest, jwt_parts,
                         mint_jwt, request, run, verify_jwt)

OTHER_MEASUREMENT = "11" * 48
RESOURCE = "/kbs/v0/resource/default/key/k1"


class World:
    """State shared by the cases (brokers, keys, secrets, what must not be logged)."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="veritee-it-")
        self.brokers = []
        self.secrets = []       # every secret stored anywhere: must never show in logs/DB
        self.reports = []       # base64 of every evidence report sent
        self.tokens = []        # every EAR / admin token seen or sent
        self.path = lambda *p: os.path.join(self.tmp, *p)

    def secret(self, label, size=None):
        s = (f"{label}-" + os.urandom(12).hex()).encode()
        if size:
            s = (s * (size // len(s) + 1))[:size]
        self.secrets.append(s)
        return s

    def broker(self, name, **settings):
        base = {
            "listen": "127.0.0.1:0",
            "database": f"{name}.db",
            "master_key": f"{name}.master",
            "token_signing_key": f"{name}-token.pem",
            "admin_public_keys": ["admin.key.pub"],
            "insecure_sim_root": "sim/sim-root.pem",
            "threads": 2,
        }
        base.update(settings)
        b = Broker(self.tmp, name, base)
        self.brokers.append(b)
        return b

    def start(self, b):
        res = b.start()
        if res is not None:
            rc, out, err = res
            raise TestFailure(f"broker {b.name} did not start: rc={rc} stdout={out!r} stderr={err[-2000:]!r}")

    def admin(self, b, *args, ok=True, **kw):
        p = b.admin(self.admin_key, *args, **kw)
        if ok and p.returncode != 0:
            raise TestFailure(f"veritee admin {args[0]} on {b.name}: rc={p.returncode} {p.stderr!r}")
        return p

    def provision(self, b, cacert=None):
        """Register the default measurement and store default/key/k1."""
        self.admin(b, "add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT, cacert=cacert)
        sec = self.secret(f"{b.name}-k1")
        f = self.path(f"{b.name}-k1.bin")
        with open(f, "wb") as fh:
            fh.write(sec)
        self.admin(b, "set-resource", "default/key/k1", f, cacert=cacert)
        return sec

    def full_attest(self, b, tee):
        cookie, token, report = full_attest(b.port, tee)
        self.reports.append(report)
        self.tokens.append(token)
        return cookie, token

    def evidence(self, tee, nonce, **kw):
        ev = tee.evidence(nonce, **kw)
        self.reports.append(ev["report"])
        return ev


class Abort(BaseException):
    """Overall time limit or SIGTERM: stop running cases, still stop the brokers."""


def main():
    tap = Tap()
    w = World()

    def abort(signum, frame):
        raise Abort(f"signal {signum}" if signum != signal.SIGALRM else
                    f"overall time limit of {limit} s exceeded")
    limit = int(os.environ.get("VERITEE_IT_TIMEOUT", "110"))
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
            b.stop()
        keep = os.environ.get("VERITEE_IT_KEEP")
        if keep or tap.failed:
            print(f"# test directory kept: {w.tmp}")
        else:
            shutil.rmtree(w.tmp, ignore_errors=True)
    return tap.finish()


def cases(tap, w):
    T = tap.run
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")

    # ------------------------------------------------------------ setup
    p = run(["attest", "--tee", "sim", "--sim-dir", w.path("sim"), "--report-data", "00"])
    check(p.returncode == 0, f"sim keys: {p.stderr!r}")
    p = run(["attest", "--tee", "sim", "--sim-dir", w.path("sim2"), "--report-data", "00"])
    check(p.returncode == 0, f"sim2 keys: {p.stderr!r}")
    w.admin_key = w.path("admin.key")
    p = run(["admin", "keygen", w.admin_key])
    check(p.returncode == 0 and os.path.exists(w.admin_key + ".pub"), f"admin keygen: {p.stderr!r}")
    with open(w.admin_key, "rb") as f:
        admin_jwk = jwk.JWK.from_pem(f.read())
    stranger_jwk = jwk.JWK.generate(kty="EC", crv="P-256")
    sim = w.path("sim")

    main_b = w.broker("main")
    w.start(main_b)
    secret1 = w.provision(main_b)
    port = main_b.port

    def survives(b=main_b):
        check(b.alive(), f"broker {b.name} died; stderr tail: {b.stderr_text()[-3000:]!r}")
        r = request(b.port, "GET", "/healthz", cafile=getattr(b, "cafile", None))
        eq(r.status, 200, "/healthz after the bad input")

    def bad(fn, b=main_b):
        """A bad-input case: the assertion, then the broker must still be healthy."""
        def run_it():
            try:
                fn()
            finally:
                survives(b)
        return run_it

    # ------------------------------------------------ 1. CLI happy paths
    def cli_stdout():
        p = run(["get-resource", main_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim])
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, secret1, "stdout")
    T("get-resource CLI prints exactly the stored secret", cli_stdout)

    def cli_out():
        out = w.path("out.bin")
        p = run(["get-resource", main_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim, "--out", out])
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, b"", "stdout with --out")
        with open(out, "rb") as f:
            eq(f.read(), secret1, "--out file content")
        eq(stat.S_IMODE(os.stat(out).st_mode), 0o600, "--out file mode")
    T("get-resource --out writes the secret with mode 0600", cli_out)

    def cli_rsa():
        p = run(["get-resource", main_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim, "--rsa"])
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, secret1, "stdout with --rsa")
    T("get-resource --rsa (RSA TEE key, RSA-OAEP-256) releases the secret", cli_rsa)

    def cli_token_out():
        tf = w.path("token.jwt")
        p = run(["get-resource", main_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim,
                 "--token-out", tf])
        eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, secret1, "stdout")
        with open(tf) as f:
            tok = f.read().strip()
        w.tokens.append(tok)
        eq(tok.count("."), 2, "JWT has three parts")
        with open(w.path("main-token.pem"), "rb") as f:
            pub = jwk.JWK.from_pem(f.read())
        claims = verify_jwt(tok, pub)
        eq(claims["submods"]["cpu0"]["ear.status"], "affirming", "ear.status in the saved token")
        eq(stat.S_IMODE(os.stat(tf).st_mode), 0o600, "--token-out file mode")
    T("get-resource --token-out saves the EAR JWT (verifies with the broker key)", cli_token_out)

    # ------------------------------------------ 2. independent Python client
    tee = Tee(sim)
    st = {}

    def py_cookie():
        r = request(port, "POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "sim", "extra-params": {}})
        eq(r.status, 200, f"/auth {r!r}")
        cookie = r.cookie()
        check(cookie and len(cookie) == 32 and all(c in "0123456789abcdef" for c in cookie),
              f"cookie is not 32 lowercase hex: {r.headers.get('set-cookie')!r}")
        check("Expires=" in r.headers.get("set-cookie", ""), "Set-Cookie has no Expires")
        body = r.json()
        eq(body.get("extra-params"), "", "challenge extra-params")
        nonce = body["nonce"]
        eq(len(nonce), 44, "nonce length (base64 of 32 bytes)")
        eq(len(base64.b64decode(nonce, validate=True)), 32, "nonce bytes")
        ev = w.evidence(tee, nonce)
        r = attest(port, cookie, attest_body(nonce, tee.pub, ev))
        eq(r.status, 200, f"/attest {r!r}")
        st["token"] = r.json()["token"]
        st["nonce"] = nonce
        w.tokens.append(st["token"])
        eq(r.cookie(), cookie, "/attest re-sends the session cookie")
        r = request(port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"resource {r!r}")
        eq(r.headers.get("content-type"), "application/json", "content type")
        st["jwe"] = r.json()
        eq(tee.decrypt(r.body), secret1, "decrypted JWE payload")
    T("python RCAR client: auth -> attest -> resource (cookie), JWE decrypts to the secret", py_cookie)

    def py_protected():
        check("jwe" in st, "needs the previous case")
        jwe_obj = st["jwe"]
        eq(sorted(jwe_obj), ["ciphertext", "encrypted_key", "iv", "protected", "tag"], "JWE members")
        hdr = b64url_dec(jwe_obj["protected"]).decode()
        check(hdr.startswith('{"alg":"ECDH-ES+A256KW","enc":"A256GCM"'), f"protected header order: {hdr}")
        h = json.loads(hdr)
        eq(h["epk"]["crv"], "P-256", "epk curve")
        for m in jwe_obj.values():
            check("=" not in m, f"padding in JWE member {m!r}")
    T("JWE protected header is compact JSON with alg then enc first", py_protected)

    def py_bearer():
        check("token" in st, "needs the cookie case")
        r = request(port, "GET", RESOURCE, bearer=st["token"])
        eq(r.status, 200, f"resource with Bearer {r!r}")
        eq(tee.decrypt(r.body), secret1, "decrypted JWE payload (Bearer)")
    T("resource with Authorization: Bearer <token> and no cookie", py_bearer)

    def py_ear():
        check("token" in st, "needs the cookie case")
        tok = st["token"]
        with open(w.path("main-token.pem"), "rb") as f:
            pub = jwk.JWK.from_pem(f.read())
        claims = verify_jwt(tok, pub)
        hdr, _, _ = jwt_parts(tok)
        eq(hdr.get("alg"), "ES256", "header alg")
        cpu0 = claims["submods"]["cpu0"]
        eq(cpu0["ear.status"], "affirming", "ear.status")
        check(isinstance(claims.get("eat_profile"), str) and claims["eat_profile"], "eat_profile missing")
        check(isinstance(claims.get("iat"), int) and isinstance(claims.get("exp"), int), "iat/exp not integers")
        check(claims["exp"] > claims["iat"], f"exp {claims['exp']} <= iat {claims['iat']}")
        ae = cpu0["ear.veraison.annotated-evidence"]
        eq(ae["runtime_data_claims"]["tee-pubkey"], tee.pub, "tee-pubkey in the token")
        eq(ae["runtime_data_claims"]["nonce"], st["nonce"], "nonce in runtime_data_claims")
        eq(ae["runtime_data_claims"]["additional-evidence"], "", "additional-evidence in runtime_data_claims")
        eq(ae["report_data"][:96], tee.report_data(st["nonce"]), "report_data = SHA-384(JCS(runtime data))")
        eq(cpu0.get("veritee.insecure"), True, "veritee.insecure")
        eq(ae["sim"]["measurement"], DEFAULT_MEASUREMENT, "sim measurement claim")
        # A token signed by another key must not verify against the broker key.
        other = jwk.JWK.generate(kty="EC", crv="P-256")
        try:
            verify_jwt(tok, other)
        except Exception:  # noqa: BLE001
            pass
        else:
            raise TestFailure("token verified under an unrelated key")
    T("EAR token: ES256 signature by token_signing_key; affirming, eat_profile, exp>iat, tee-pubkey, insecure",
      py_ear)

    def py_rsa():
        rtee = Tee(sim, rsa=True)
        cookie, _ = w.full_attest(main_b, rtee)
        r = request(port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"resource {r!r}")
        hdr = b64url_dec(r.json()["protected"]).decode()
        check(hdr.startswith('{"alg":"RSA-OAEP-256","enc":"A256GCM"'), f"protected header: {hdr}")
        eq(rtee.decrypt(r.body), secret1, "decrypted RSA JWE")
    T("python client with an RSA-2048 RSA-OAEP-256 TEE key", py_rsa)

    def py_p521():
        t = Tee(sim)
        t.key = jwk.JWK.generate(kty="EC", crv="P-521")
        d = t.key.export_public(as_dict=True)
        t.pub = {"kty": "EC", "crv": "P-521", "alg": "ECDH-ES+A256KW", "x": d["x"], "y": d["y"]}
        cookie, _ = w.full_attest(main_b, t)
        r = request(port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"resource {r!r}")
        eq(t.decrypt(r.body), secret1, "decrypted P-521 JWE")
    T("python client with a P-521 ECDH-ES+A256KW TEE key", py_p521)

    def py_jcs():
        # Extra JWK members with non-ASCII, '/', DEL, a control character, quote and
        # backslash: the broker must hash the RFC 8785 form, as real clients do.
        t = Tee(sim)
        t.pub = dict(t.pub, kid="cl\u00e9/\u007f\u0001\u2028\"\\", use="enc")
        cookie, tok = w.full_attest(main_b, t)
        r = request(port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"resource {r!r}")
        eq(t.decrypt(r.body), secret1, "decrypted JWE")
        got = jwt_parts(tok)[1]["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["runtime_data_claims"]
        eq(got["tee-pubkey"], t.pub, "tee-pubkey echoed in the token")
    T("runtime data hashed per RFC 8785 (JWK with non-ASCII/escaped extra members)", py_jcs)

    def rsa15():
        t = Tee(sim, rsa=True)
        t.pub["alg"] = "RSA1_5"
        cookie, nonce = auth(port)
        r = attest(port, cookie, attest_body(nonce, t.pub, w.evidence(t, nonce)))
        expect_err(r, 401, "AttestationError", "RSA1_5", "tee-pubkey")
    T("tee-pubkey RSA1_5 -> 401 (unsupported key/alg)", rsa15)

    # ------------------------------------------------- 3. denial explanation
    deny_tee = Tee(sim, measurement=OTHER_MEASUREMENT)

    def denied():
        cookie, tok = w.full_attest(main_b, deny_tee)
        st["deny_token"] = tok
        eq(jwt_parts(tok)[1]["submods"]["cpu0"]["ear.status"], "warning", "ear.status of the unknown workload")
        r = request(port, "GET", RESOURCE, cookie=cookie)
        expect_err(r, 401, "PolicyDeny", "measurement-approved", "/sim/measurement", OTHER_MEASUREMENT,
                   DEFAULT_MEASUREMENT)
    T("unknown measurement: 401 PolicyDeny naming rule, claim, seen and allowed values", denied)

    def denied_cli():
        p = run(["get-resource", main_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim,
                 "--measurement", OTHER_MEASUREMENT])
        eq(p.returncode, 1, f"exit code (stderr {p.stderr!r})")
        eq(p.stdout, b"", "stdout of a refusal")
        err = p.stderr.decode()
        for s in ("PolicyDeny", "measurement-approved", "/sim/measurement", OTHER_MEASUREMENT, DEFAULT_MEASUREMENT):
            check(s in err, f"stderr lacks {s!r}: {err!r}")
    T("get-resource CLI refused: exit 1, explanation on stderr", denied_cli)

    # ---------------------------------------------------------- 4. /auth
    def auth_bad(body, *details):
        def f():
            r = request(port, "POST", "/kbs/v0/auth", body)
            expect_err(r, 401, "AttestationError", "RCAR handshake Auth failed", *details)
            check(r.cookie() is None, "a failed /auth set a cookie")
        return bad(f)
    T("/auth malformed JSON -> 401 AttestationError (step parse)", auth_bad(b'{"version":', "step parse"))
    T("/auth body not an object -> 401 AttestationError", auth_bad(b'["0.4.0"]', "must be a JSON object"))
    T("/auth without extra-params -> 401 AttestationError",
      auth_bad({"version": "0.4.0", "tee": "sim"}, "extra-params"))
    T("/auth unknown tee snp9 -> 401 AttestationError",
      auth_bad({"version": "0.4.0", "tee": "snp9", "extra-params": {}}, "snp9", "not accepted"))
    T("/auth version 0.2.0 -> 401 Version Mismatch",
      auth_bad({"version": "0.2.0", "tee": "sim", "extra-params": {}}, "KBS Client Protocol Version Mismatch",
               "0.2.0"))
    T("/auth 30000 nested arrays -> 401 AttestationError (depth limit)",
      auth_bad(b"[" * 30000, "depth"))
    T("GET /kbs/v0/auth -> 404 PluginNotFound",
      bad(lambda: expect_err(request(port, "GET", "/kbs/v0/auth"), 404, "PluginNotFound")))

    # -------------------------------------------------------- 5. /attest
    def attest_case(mutate, *details, same_session_retry=True):
        """Fresh session; send mutate(nonce, cookie) -> (cookie, body); expect 401 with details.
        Then the session must be burnt: the correct evidence on it fails too."""
        def f():
            cookie, nonce = auth(port)
            c2, body = mutate(nonce, cookie)
            r = attest(port, c2, body)
            expect_err(r, 401, "AttestationError", "RCAR handshake Attest failed", *details)
            if same_session_retry and c2 == cookie:
                good = attest_body(nonce, tee.pub, w.evidence(tee, nonce))
                r = attest(port, cookie, good)
                expect_err(r, 401, "AttestationError", "unknown or expired session")
        return bad(f)

    T("/attest without cookie -> 401",
      attest_case(lambda n, c: (None, attest_body(n, tee.pub, {})), "no kbs-session-id cookie",
                  same_session_retry=False))
    T("/attest with unknown cookie -> 401 unknown or expired session",
      attest_case(lambda n, c: ("0123456789abcdef0123456789abcdef", attest_body(n, tee.pub, {})),
                  "unknown or expired session", same_session_retry=False))

    def altered_nonce(n, c):
        n2 = ("A" if n[0] != "A" else "B") + n[1:]
        return c, attest_body(n2, tee.pub, w.evidence(tee, n2))
    T("/attest nonce altered -> 401 binding (nonce), session burnt", attest_case(altered_nonce, "nonce", "binding"))

    def flipped(n, c):
        ev = w.evidence(tee, n)
        rep = bytearray(base64.b64decode(ev["report"]))
        rep[20] ^= 0x01  # inside the measurement, covered by the signature
        ev["report"] = base64.b64encode(bytes(rep)).decode()
        return c, attest_body(n, tee.pub, ev)
    T("/attest report with one flipped byte -> 401 step signature", attest_case(flipped, "step signature"))

    def truncated(n, c):
        ev = w.evidence(tee, n)
        ev["report"] = base64.b64encode(base64.b64decode(ev["report"])[:200]).decode()
        return c, attest_body(n, tee.pub, ev)
    T("/attest truncated report -> 401 step parse", attest_case(truncated, "step parse", "200 bytes"))

    T("/attest evidence from another sim root -> 401 step chain",
      attest_case(lambda n, c: (c, attest_body(n, tee.pub, w.evidence(tee, n, sim_dir=w.path("sim2")))),
                  "step chain"))

    def other_rd(n, c):
        ev = attest_evidence(sim, "ab" * 48)
        w.reports.append(ev["report"])
        return c, attest_body(n, tee.pub, ev)
    T("/attest evidence for other report data -> 401 step binding", attest_case(other_rd, "step binding"))

    def other_key(n, c):
        t2 = Tee(sim)
        return c, attest_body(n, tee.pub, w.evidence(t2, n))  # evidence binds t2's key, body sends tee's
    T("/attest evidence bound to another TEE key -> 401 step binding", attest_case(other_key, "step binding"))

    def replay():
        cookie, nonce = auth(port)
        body = attest_body(nonce, tee.pub, w.evidence(tee, nonce))
        r = attest(port, cookie, body)
        eq(r.status, 200, f"first /attest {r!r}")
        w.tokens.append(r.json()["token"])
        r = attest(port, cookie, body)
        expect_err(r, 401, "AttestationError", "nonce already used")
        r = request(port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"the attested session still releases after the refused replay {r!r}")
        eq(tee.decrypt(r.body), secret1, "secret after the refused replay")
    T("/attest replayed on an attested session -> 401 nonce already used", bad(replay))

    def cross_session():
        ca, na = auth(port)
        cb, nb = auth(port)
        ev_a = w.evidence(tee, na)
        r = attest(port, cb, attest_body(nb, tee.pub, ev_a))
        expect_err(r, 401, "AttestationError", "step binding")
        # session A is untouched and still works with its own evidence
        r = attest(port, ca, attest_body(na, tee.pub, ev_a))
        eq(r.status, 200, f"session A after B's failure {r!r}")
        w.tokens.append(r.json()["token"])
    T("/attest evidence of session A sent in session B -> 401 binding; A unaffected", bad(cross_session))

    def additional(n, c):
        add = json.dumps({"no-such-device": {"x": 1}})
        return c, attest_body(n, tee.pub, w.evidence(tee, n, additional=add), additional=add)
    T("/attest additional_evidence of an unknown device -> 401 rejected",
      attest_case(additional, "additional_evidence", "is not a device TEE accepted here"))

    def init_data(n, c):
        body = attest_body(n, tee.pub, w.evidence(tee, n))
        body["init-data"] = {"format": "toml", "body": 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'}
        return c, body
    T("/attest with init-data the TEE did not launch with -> 401 step binding",
      attest_case(init_data, "init-data digest does not match", "step binding, field init_data"))

    def missing_evidence(n, c):
        body = attest_body(n, tee.pub, {})
        del body["tee-evidence"]["primary_evidence"]
        return c, body
    T("/attest without primary_evidence -> 401 step parse", attest_case(missing_evidence, "primary_evidence"))

    def bad_alg(n, c):
        pub = dict(tee.pub, alg="ECDH-ES")
        return c, attest_body(n, pub, {})
    T("/attest tee-pubkey with unsupported alg -> 401", attest_case(bad_alg, "tee-pubkey", "unsupported"))

    # ---------------------------------------------------- 6. expired session
    sess_b = w.broker("sess", session_timeout_seconds=1, max_sessions=3)
    w.start(sess_b)
    sess_state = {}

    def max_sessions():
        # A full table evicts the oldest unattested session instead of
        # refusing everyone (docs/security.md): the 4th /auth succeeds and the
        # 1st session is gone.
        auth_body = {"version": "0.4.0", "tee": "sim", "extra-params": {}}
        rs = [request(sess_b.port, "POST", "/kbs/v0/auth", auth_body) for _ in range(4)]
        eq([r.status for r in rs], [200, 200, 200, 200], "four /auth with max_sessions 3")
        r = attest(sess_b.port, rs[0].cookie(), attest_body(rs[0].json()["nonce"], tee.pub, {}))
        expect_err(r, 401, "AttestationError", "unknown or expired session")
        sess_state["cookie"], sess_state["nonce"] = rs[3].cookie(), rs[3].json()["nonce"]
    T("max_sessions 3: the 4th /auth evicts the oldest unattested session", bad(max_sessions, sess_b))

    def expired_session():
        check("cookie" in sess_state, "needs the max_sessions case")
        cookie, nonce = sess_state["cookie"], sess_state["nonce"]
        ev = w.evidence(tee, nonce)
        time.sleep(2.2)
        r = attest(sess_b.port, cookie, attest_body(nonce, tee.pub, ev))
        expect_err(r, 401, "AttestationError", "unknown or expired session")
    T("/attest after session_timeout_seconds -> 401 unknown or expired session", bad(expired_session, sess_b))

    def sessions_reclaimed():
        # The sessions of the max_sessions case have expired: new ones live
        # and the count stays at max_sessions.
        auth_body = {"version": "0.4.0", "tee": "sim", "extra-params": {}}
        rs = [request(sess_b.port, "POST", "/kbs/v0/auth", auth_body) for _ in range(4)]
        eq([r.status for r in rs], [200, 200, 200, 200], "four /auth after the earlier sessions expired")
        m = request(sess_b.port, "GET", "/metrics").body.decode()
        check("veritee_sessions_live 3" in m, f"sessions_live not 3: {m[-300:]}")
    T("expired sessions are reclaimed; the table never holds more than max_sessions",
      bad(sessions_reclaimed, sess_b))

    # ---------------------------------------------------- 7. oversized bodies
    small_b = w.broker("small", max_body_bytes=4096)
    w.start(small_b)
    w.provision(small_b)

    def big_auth():
        r = request(small_b.port, "POST", "/kbs/v0/auth", b"{" + b" " * 10240 + b"}")
        expect_err(r, 413, "PayloadTooLarge", "4096")
    T("POST /kbs/v0/auth of 10 KB with max_body_bytes 4096 -> 413 PayloadTooLarge", bad(big_auth, small_b))

    def big_chunked():
        chunk = b"{" + b" " * 10240 + b"}"
        req = (b"POST /kbs/v0/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
        raw = kh.raw_http(small_b.port, req)
        check(raw.startswith(b"HTTP/1.1 413"), f"chunked 10 KB body: {raw[:300]!r}")
        check(b"PayloadTooLarge" in raw, f"no PayloadTooLarge: {raw[:300]!r}")
    T("chunked POST /kbs/v0/auth of 10 KB (no Content-Length) -> 413 PayloadTooLarge", bad(big_chunked, small_b))

    def big_resource():
        big = w.secret("big", 10240)
        f = w.path("big.bin")
        with open(f, "wb") as fh:
            fh.write(big)
        p = w.admin(small_b, "set-resource", "default/key/big", f, ok=False)
        eq(p.returncode, 1, f"admin exit code (stderr {p.stderr!r})")
        check(b"413" in p.stderr and b"PayloadTooLarge" in p.stderr, f"admin stderr: {p.stderr!r}")
        cookie, _ = w.full_attest(small_b, tee)
        r = request(small_b.port, "GET", "/kbs/v0/resource/default/key/big", cookie=cookie)
        expect_err(r, 401, "PluginInternalError")
        r = request(small_b.port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"k1 on the small broker {r!r}")
    T("admin set-resource of 10 KB -> 413 and the resource is not stored", bad(big_resource, small_b))

    # ------------------------------------------------------- 8. resources
    def no_token():
        expect_err(request(port, "GET", RESOURCE), 401, "TokenNotFound", "Attestation Token not found")
    T("resource without cookie or token -> 401 TokenNotFound", bad(no_token))

    def unattested_cookie():
        cookie, _ = auth(port)
        expect_err(request(port, "GET", RESOURCE, cookie=cookie), 401, "TokenNotFound")
    T("resource with a not-yet-attested session cookie -> 401 TokenNotFound", bad(unattested_cookie))

    def forged():
        check("token" in st, "needs a real token")
        h, p_, _ = st["token"].split(".")
        hdr_text = b64url_dec(h).decode()
        payload = json.loads(b64url_dec(p_))
        other = jwk.JWK.generate(kty="EC", crv="P-256")
        fake = mint_jwt(other, payload, header=hdr_text)
        eq(fake.split(".")[0], h, "forged header is byte-identical")
        w.tokens.append(fake)
        expect_err(request(port, "GET", RESOURCE, bearer=fake), 401, "TokenVerifierError", "step signature")
    T("Bearer token re-signed by another P-256 key -> 401 TokenVerifierError", bad(forged))

    def tampered():
        check("deny_token" in st, "needs the warning token")
        h, p_, s = st["deny_token"].split(".")
        payload = json.loads(b64url_dec(p_))
        payload["submods"]["cpu0"]["ear.status"] = "affirming"
        fake = h + "." + b64url(json.dumps(payload).encode()) + "." + s
        expect_err(request(port, "GET", RESOURCE, bearer=fake), 401, "TokenVerifierError")
    T("Bearer token with payload edited to affirming -> 401 TokenVerifierError", bad(tampered))

    def garbage():
        for g in ("garbage", "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30."):
            expect_err(request(port, "GET", RESOURCE, bearer=g), 401, "TokenVerifierError")
    T("Bearer garbage -> 401 TokenVerifierError", bad(garbage))

    def hs256_ear():
        # alg confusion: HMAC keyed with the broker's *public* key PEM must not verify
        check("token" in st, "needs a real token")
        with open(w.path("main-token.pem"), "rb") as f:
            pub_pem = jwk.JWK.from_pem(f.read()).export_to_pem()
        payload = jwt_parts(st["token"])[1]
        fake = kh.hs256_jwt(pub_pem, payload)
        expect_err(request(port, "GET", RESOURCE, bearer=fake), 401, "TokenVerifierError")
    T("Bearer EAR HS256-signed with the broker public key PEM -> 401 TokenVerifierError", bad(hs256_ear))

    def huge_headers():
        r = request(port, "POST", "/kbs/v0/attest", {}, cookie="a" * 8000)
        expect_err(r, 401, "AttestationError", "unknown or expired session")
        expect_err(request(port, "GET", RESOURCE, cookie="a" * 8000), 401, "TokenNotFound")
        r = request(port, "GET", RESOURCE, bearer="a." * 30000 + "a")
        check(r.status in (401, 413, 431), f"60 KB bearer: {r!r}")
        if r.status == 401:
            eq(r.variant, "TokenVerifierError", "variant")
    T("8 KB cookie / 60 KB Bearer -> 401, broker survives", bad(huge_headers))

    def alg_none_ear():
        check("token" in st, "needs a real token")
        payload = jwt_parts(st["token"])[1]
        fake = b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(json.dumps(payload).encode()) + "."
        expect_err(request(port, "GET", RESOURCE, bearer=fake), 401, "TokenVerifierError")
    T("Bearer EAR with alg none -> 401 TokenVerifierError", bad(alg_none_ear))

    tok_b = w.broker("tok", token_lifetime_seconds=1)
    w.start(tok_b)
    w.provision(tok_b)

    def expired_token():
        _, token = w.full_attest(tok_b, tee)
        time.sleep(2.1)
        expect_err(request(tok_b.port, "GET", RESOURCE, bearer=token), 401, "TokenVerifierError", "expired")
    T("expired EAR (token_lifetime_seconds 1) -> 401 TokenVerifierError expired", bad(expired_token, tok_b))

    def unknown_resource():
        check("token" in st, "needs a real token")
        expect_err(request(port, "GET", "/kbs/v0/resource/default/key/nope", bearer=st["token"]), 401,
                   "PluginInternalError")
    T("unknown resource with a valid token -> 401 PluginInternalError", bad(unknown_resource))

    def bad_path(path):
        def f():
            r = request(port, "GET", "/kbs/v0/resource/" + path, bearer=st.get("token", "x"))
            expect_err(r, 404, "InvalidRequestPath")
        return bad(f)
    def nul_path():
        r = request(port, "GET", "/kbs/v0/resource/default/key/%00x", bearer=st.get("token", "x"))
        expect_err(r, 400, "BadRequest", "NUL")
    T("GET resource path 'default/key/%00x' -> 400 (a NUL never truncates the path)", bad(nul_path))
    for pth in ("default/key/../x", "default/key", "a/b/c/d", "default/key/%2e%2e",
                "default/.key/x", "/default/key/k1"):
        T(f"GET resource path {pth!r} -> 404 InvalidRequestPath", bad_path(pth))

    def space_path():
        raw = kh.raw_http(port, b"GET /kbs/v0/resource/default/ke y/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Connection: close\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        check(status in (400, 404), f"status {status}: {raw[:300]!r}")
        if status == 404:
            check(b"InvalidRequestPath" in raw, f"404 without InvalidRequestPath: {raw[:300]!r}")
    T("GET resource path 'default/ke y/x' (raw space) -> 404 InvalidRequestPath or 400", bad(space_path))

    def other_plugin():
        expect_err(request(port, "GET", "/kbs/v0/nebula-ca/x"), 404, "PluginNotFound")
        expect_err(request(port, "GET", "/other"), 404, "InvalidRequestPath")
    T("unknown plugin -> 404 PluginNotFound; path outside /kbs/v0 -> 404 InvalidRequestPath", bad(other_plugin))

    # ------------------------------------------------------ 9. admin auth
    def admin_tok(key=admin_jwk, exp_delta=60, **kw):
        # one token per request: a fresh single-use jti each time
        t = mint_jwt(key, {"exp": int(time.time()) + exp_delta, "jti": os.urandom(16).hex()}, **kw)
        w.tokens.append(t)
        return t

    def no_auth_resource():
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1", b"overwritten!")
        expect_err(r, 401, "AdminAuthInitialization", "Authorization")
    T("admin POST resource without Authorization -> 401 AdminAuthInitialization", bad(no_auth_resource))

    def no_auth_policy():
        r = request(port, "POST", "/kbs/v0/resource-policy", {"policy": b64url(b'{"version":1}')})
        expect_err(r, 401, "AdminAuthAccess", "Authorization")
        r = request(port, "GET", "/kbs/v0/reference-value/sim_measurement")
        expect_err(r, 401, "AdminAuthAccess")
    T("admin resource-policy / reference-value without auth -> 401 AdminAuthAccess", bad(no_auth_policy))

    def stranger():
        t = admin_tok(stranger_jwk)
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1", b"overwritten!", bearer=t)
        expect_err(r, 401, "AdminAuthInitialization", "not signed by a configured admin key")
        r = request(port, "POST", "/kbs/v0/resource-policy", {"policy": b64url(b'{"version":1}')}, bearer=t)
        expect_err(r, 401, "AdminAuthAccess", "not signed by a configured admin key")
    T("admin token signed by a non-configured key -> 401", bad(stranger))

    def expired_admin():
        t = admin_tok(exp_delta=-30)
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1", b"overwritten!", bearer=t)
        expect_err(r, 401, "AdminAuthInitialization", "exp")
        t2 = mint_jwt(admin_jwk, {"iat": int(time.time())})
        r = request(port, "DELETE", "/kbs/v0/resource/default/key/k1", bearer=t2)
        expect_err(r, 401, "AdminAuthInitialization", "exp")
    T("admin token expired / without exp (signed by the real key) -> 401 mentioning exp", bad(expired_admin))

    def none_admin():
        t = b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(
            json.dumps({"exp": int(time.time()) + 60}).encode()) + "."
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1", b"overwritten!", bearer=t)
        expect_err(r, 401, "AdminAuthInitialization")
        r = request(port, "DELETE", "/kbs/v0/resource/default/key/k1", bearer=t)
        expect_err(r, 401, "AdminAuthInitialization")
    T("admin token with alg none -> 401", bad(none_admin))

    def hs256_admin():
        with open(w.admin_key + ".pub", "rb") as f:
            pub_pem = f.read()
        t = kh.hs256_jwt(pub_pem, {"exp": int(time.time()) + 60})
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1", b"overwritten!", bearer=t)
        expect_err(r, 401, "AdminAuthInitialization")
    T("admin token HS256-signed with the admin public key PEM -> 401", bad(hs256_admin))

    def ear_as_admin():
        check("token" in st, "needs a real token")
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1", b"overwritten!", bearer=st["token"])
        expect_err(r, 401, "AdminAuthInitialization")
    T("an attestation token is not an admin token -> 401", bad(ear_as_admin))

    minted = w.secret("minted")
    default_rp = json.dumps({"version": 1, "id": "resource-policy", "rules": [
        {"name": "attestation-affirming", "claim": "/submods/cpu0/ear.status", "equals": "affirming"}]}).encode()

    def valid_admin():
        t = admin_tok()
        r = request(port, "POST", "/kbs/v0/resource/default/key/minted", minted, bearer=admin_tok(),
                    headers={"Content-Type": "application/octet-stream"})
        eq((r.status, r.body), (200, b""), "POST resource with a jwcrypto-minted admin JWT")
        r = request(port, "POST", "/kbs/v0/resource-policy", {"policy": b64url(default_rp)}, bearer=admin_tok())
        eq((r.status, r.body), (200, b""), "POST resource-policy")
        r = request(port, "GET", "/kbs/v0/resource-policy", bearer=admin_tok())
        # the policy in force, as Trustee answers GET resource-policy (issue 16: admin get)
        eq((r.status, r.json()), (200, json.loads(default_rp)), "GET resource-policy")
        r = request(port, "GET", "/kbs/v0/reference-value/sim_measurement", bearer=admin_tok())
        eq((r.status, r.json()), (200, [DEFAULT_MEASUREMENT]), "GET reference-value")
        r = request(port, "GET", "/kbs/v0/resource/default/key/minted", bearer=st["token"])
        eq(r.status, 200, f"GET minted resource {r!r}")
        eq(tee.decrypt(r.body), minted, "minted resource content")
        r = request(port, "POST", "/kbs/v0/resource/default/key/tmp", b"short-lived", bearer=admin_tok())
        eq(r.status, 200, f"POST tmp {r!r}")
        r = request(port, "DELETE", "/kbs/v0/resource/default/key/tmp", bearer=admin_tok())
        eq((r.status, r.body), (200, b""), "DELETE resource")
        expect_err(request(port, "GET", "/kbs/v0/resource/default/key/tmp", bearer=st["token"]), 401,
                   "PluginInternalError")
        # deleting what is not there: 404 naming it (issue 16: admin errors an operator can act on)
        expect_err(request(port, "DELETE", "/kbs/v0/resource/default/key/tmp", bearer=admin_tok()), 404,
                   "PluginInternalError", "no resource default/key/tmp")
    T("jwcrypto-minted ES256 admin JWT {exp: now+60} works (resource POST/DELETE, policy, reference value)", valid_admin)

    def policy_still_in_force():
        r = request(port, "GET", RESOURCE, bearer=st["token"])
        eq(r.status, 200, f"affirming token after a bad upload {r!r}")
        eq(tee.decrypt(r.body), secret1, "secret after a bad upload")
        r = request(port, "GET", RESOURCE, bearer=st["deny_token"])
        expect_err(r, 401, "PolicyDeny", "attestation-affirming")

    def policy_upload(body, variant, *details, endpoint="/kbs/v0/resource-policy"):
        def f():
            r = request(port, "POST", endpoint, body, bearer=admin_tok())
            expect_err(r, 401, variant, *details)
            policy_still_in_force()
        return bad(f)
    allow_all = b'{"version":1,"rules":[]}'  # would release to everyone if it got installed
    T("resource-policy not base64url -> 401 SerdeError; previous policy in force",
      policy_upload({"policy": "!!not base64!!"}, "SerdeError", "base64url"))
    padded = base64.urlsafe_b64encode(allow_all + b" ").decode()
    check(padded.endswith("="), "test bug: padded policy has no padding")
    T("resource-policy padded base64 -> 401 SerdeError; previous policy in force",
      policy_upload({"policy": padded}, "SerdeError", "base64url"))
    T("resource-policy valid base64url of invalid policy -> 401 ParsePolicyError; previous in force",
      policy_upload({"policy": b64url(b'{"version":1,"rules":[{"name":"x","claim":"a/b","equals":1}]}')},
                    "ParsePolicyError", "rules[0].claim"))
    T("resource-policy not JSON inside -> 401 ParsePolicyError; previous in force",
      policy_upload({"policy": b64url(b"package policy\ndefault allow = true\n")}, "ParsePolicyError"))
    T("resource-policy body without policy member -> 401 SerdeError; previous in force",
      policy_upload({"polcy": b64url(allow_all)}, "SerdeError", "policy"))
    T("attestation-policy with bad policy_id -> 401 SerdeError",
      policy_upload({"policy_id": "mine", "policy": b64url(allow_all)}, "SerdeError", "policy_id",
                    endpoint="/kbs/v0/attestation-policy"))
    T("attestation-policy with invalid policy -> 401 ParsePolicyError",
      policy_upload({"policy_id": "default_sim", "policy": b64url(b'{"version":1,"rules":[{"name":"a"}]}')},
                    "ParsePolicyError", endpoint="/kbs/v0/attestation-policy"))

    def bad_refval():
        t = admin_tok()
        for body, det in (({"version": "0.1.0", "type": "foo", "payload": ""}, "sample"),
                          ({"version": "0.1.0", "type": "sample", "payload": "%%%"}, "base64"),
                          ({"version": "0.1.0", "type": "sample",
                            "payload": base64.b64encode(b'["x"]').decode()}, "JSON object"),
                          ({"version": "9", "type": "sample", "payload": ""}, "version")):
            r = request(port, "POST", "/kbs/v0/reference-value", body, bearer=admin_tok())
            expect_err(r, 401, "RvpsError", det)
        r = request(port, "GET", "/kbs/v0/reference-value/sim_measurement", bearer=admin_tok())
        eq((r.status, r.json()), (200, [DEFAULT_MEASUREMENT]), "reference value after bad messages")
        r = request(port, "GET", "/kbs/v0/reference-value/nope", bearer=admin_tok())
        expect_err(r, 401, "RvpsError", "not found")
    T("bad reference-value messages -> 401 RvpsError; sim_measurement unchanged", bad(bad_refval))

    def store_unchanged():
        t2 = Tee(sim)
        cookie, _ = w.full_attest(main_b, t2)
        r = request(port, "GET", RESOURCE, cookie=cookie)
        eq(r.status, 200, f"k1 at the end {r!r}")
        eq(t2.decrypt(r.body), secret1, "k1 still holds the original secret")
        p = w.admin(main_b, "get-reference-value", "sim_measurement")
        eq(json.loads(p.stdout), [DEFAULT_MEASUREMENT], "sim_measurement reference value")
        eq(jwt_parts(st["token"])[1]["submods"]["cpu0"]["ear.status"], "affirming", "sanity")
    T("after all bad inputs: k1 decrypts to the same secret, reference values unchanged", bad(store_unchanged))

    # ------------------------------------------------------- 14. metrics
    def metrics():
        r = request(port, "GET", "/healthz")
        eq((r.status, r.body), (200, b""), "/healthz")
        r = request(port, "GET", "/metrics")
        eq(r.status, 200, "/metrics status")
        text = r.body.decode()
        vals = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                vals[k] = float(v)
        check(vals.get('veritee_attestations_total{result="ok"}', 0) >= 1, f"attestations ok: {text}")
        check(vals.get('veritee_attestations_total{result="failed"}', 0) >= 1, f"attestations failed: {text}")
        check("veritee_sessions_live" in vals, f"no veritee_sessions_live: {text}")
        check(vals.get('veritee_resource_requests_total{result="denied"}', 0) >= 1, "denied count")
        check(vals.get("veritee_admin_denied_total", 0) >= 1, "admin denied count")
        r = request(port, "POST", "/metrics", b"")
        eq(r.status, 405, "POST /metrics")
    T("/healthz 200 empty; /metrics counters; POST /metrics -> 405", bad(metrics))

    # ---------------------------------------------------------- 11. HTTPS
    cert, key = w.path("tls-cert.pem"), w.path("tls-key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                        "-keyout", key, "-out", cert], capture_output=True, timeout=60)
    if p.returncode != 0:
        tap.skip("HTTPS: get-resource with --cacert", f"openssl req failed: {p.stderr[-200:]!r}")
        tap.skip("HTTPS: get-resource without --cacert fails (exit 2)", "openssl req failed")
    else:
        tls_b = w.broker("tls", tls_cert="tls-cert.pem", tls_key="tls-key.pem")
        tls_b.cafile = cert
        tls_state = {}

        def https_ok():
            w.start(tls_b)
            tls_state["secret"] = w.provision(tls_b, cacert=cert)
            check(tls_b.url.startswith("https://"), tls_b.url)
            p = run(["get-resource", tls_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim,
                     "--cacert", cert])
            eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
            eq(p.stdout, tls_state["secret"], "secret over HTTPS")
        T("HTTPS broker: get-resource with --cacert releases the secret", https_ok)

        def https_no_ca():
            check(tls_b.alive(), "TLS broker not running")
            p = run(["get-resource", tls_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim])
            eq(p.returncode, 2, f"exit code (stderr {p.stderr!r})")
            eq(p.stdout, b"", "stdout")
            check(p.stderr, "no error message")
            survives(tls_b)  # /healthz over HTTPS, verified against the self-signed cert
            try:  # plain HTTP to the TLS port: refused one way or another, no crash
                r = request(tls_b.port, "GET", "/healthz", timeout=10)
                check(r.status != 200, f"plain HTTP answered on the TLS port: {r!r}")
            except (OSError, http.client.HTTPException):
                pass
            survives(tls_b)
        T("HTTPS broker: get-resource without --cacert fails (exit 2)", https_no_ca)

    # ------------------------------------------------- 12. startup refusals
    def refuse(name, settings, *msgs, prep=None):
        def f():
            b = w.broker(name, **settings)
            if prep:
                prep()
            res = b.start(timeout=30)
            if res is None:
                b.stop()
                raise TestFailure(f"broker started on port {b.port}; expected a refusal")
            rc, out, err = res
            eq(rc, 2, f"exit code (stderr {err!r})")
            eq(out, b"", "stdout (no port printed)")
            for m in msgs:
                check(m.encode() in err, f"stderr lacks {m!r}: {err!r}")
        return f

    T("refuses listen 0.0.0.0 without TLS or insecure_http (exit 2)",
      refuse("r-any", {"listen": "0.0.0.0:0"}, "refusing plain HTTP", "0.0.0.0"))

    def weak_master():
        with open(w.path("r-mode.master"), "wb") as f:
            f.write(os.urandom(32))
        os.chmod(w.path("r-mode.master"), 0o644)
    T("refuses a master key file with mode 0644 (exit 2)",
      refuse("r-mode", {}, "r-mode.master", "644", prep=weak_master))
    T("refuses an unknown config key (exit 2)", refuse("r-key", {"bogus_setting": 1}, "bogus_setting", "unknown"))
    T("refuses admin_public_keys naming a missing file (exit 2)",
      refuse("r-adm", {"admin_public_keys": ["no-such-admin.pub"]}, "no-such-admin.pub"))
    T("refuses half a TLS configuration (exit 2)",
      refuse("r-tls", {"tls_cert": "tls-cert.pem"}, "tls_key"))

    # ---------------------------------------------------- 13. persistence
    def persistence():
        main_b.stop()
        db = w.path("main.db")
        blobs = b""
        for suffix in ("", "-wal", "-journal", "-shm"):
            if os.path.exists(db + suffix):
                with open(db + suffix, "rb") as f:
                    blobs += f.read()
        check(len(blobs) > 0, "no database file")
        for s in (secret1, minted):
            check(s not in blobs, f"secret {s[:12]!r}... in clear in the SQLite file")
        eq(stat.S_IMODE(os.stat(w.path("main.master")).st_mode), 0o600, "master key file mode")
        eq(os.path.getsize(w.path("main.master")), 32, "master key size")
        eq(stat.S_IMODE(os.stat(w.path("main-token.pem")).st_mode), 0o600, "token signing key mode")
        w.start(main_b)
        p = run(["get-resource", main_b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", sim])
        eq(p.returncode, 0, f"exit code after restart (stderr {p.stderr!r})")
        eq(p.stdout, secret1, "secret after restart")
        # the EAR signing key persisted too: an old token still works
        r = request(main_b.port, "GET", "/kbs/v0/resource/default/key/minted", bearer=st["token"])
        eq(r.status, 200, f"old token after restart {r!r}")
        eq(tee.decrypt(r.body), minted, "minted secret after restart")
    T("restart on the same database: secrets released, not in clear on disk, keys 0600", persistence)

    # --------------------------------------------------------- 10. logs
    for b in list(w.brokers):
        b.stop()

    def logs():
        problems = []
        for b in w.brokers:
            if not os.path.exists(b.stderr_path):
                continue
            text = b.stderr_text()
            for s in w.secrets:
                if s in text:
                    problems.append(f"{b.name}: secret {s[:16]!r}")
            for rep in w.reports:
                if rep.encode() in text or rep[:48].encode() in text:
                    problems.append(f"{b.name}: evidence report {rep[:16]}...")
            for t in w.tokens:
                parts = t.split(".")
                if t.encode() in text or (len(parts) == 3 and parts[2] and parts[2].encode() in text):
                    problems.append(f"{b.name}: token {t[:24]}...")
        check(not problems, "leaked into broker logs:\n" + "\n".join(problems[:20]))
        check(len(w.secrets) >= 4 and len(w.reports) >= 10 and len(w.tokens) >= 5, "too little was checked")
    T("broker logs carry no secret, evidence report or token", logs)

    def clean_exit():
        problems = []
        for b in w.brokers:
            for rc in b.exit_codes:
                if rc != 0:
                    problems.append(f"{b.name}: exit code {rc}")
            if os.path.exists(b.stderr_path):
                text = b.stderr_text()
                for marker in (b"Sanitizer", b"runtime error:", b"LeakSanitizer"):
                    if marker in text:
                        i = text.index(marker)
                        problems.append(f"{b.name}: {text[max(0, i - 200):i + 1500]!r}")
        check(not problems, "\n".join(problems))
    T("every broker stopped on SIGTERM with exit 0 and no sanitizer report", clean_exit)


if __name__ == "__main__":
    sys.exit(main())
