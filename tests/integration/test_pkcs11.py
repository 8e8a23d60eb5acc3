#!/usr/bin/env python3
"""Broker keys in an HSM through PKCS#11 (issue 16), with SoftHSM 2:

* a SoftHSM token in a temporary directory (SOFTHSM2_CONF), an EC P-256
  token-signing key and an RSA 3072 wrapping key made with pkcs11-tool;
* `veritee admin wrap-master-key` wraps a fresh master key to the RSA key
  (0600, refuses to overwrite);
* `veritee serve` with token_signing_key and master_key_wrapping_key as
  pkcs11: URIs: --check-config exits 0; a full round releases the secret;
  the EAR token verifies (jwcrypto) with /.well-known/jwks.json, whose key
  is the HSM's public key (read back with pkcs11-tool); a second start
  (PIN from the environment instead of pin-source) opens the same database
  (the master key unwrapped through the HSM is the same);
* refusals, each exit 2 with its message and no database created: wrong
  PIN, no PIN, a PIN in the URI, a missing object, an RSA token-signing
  key, a missing module, a missing engine, a missing or unwrapped master
  key file.

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_pkcs11.py
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbs_helpers as kh  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from jwcrypto import jwk  # noqa: E402
from kbs_helpers import DEFAULT_MEASUREMENT, Broker, Tap, check, eq, run  # noqa: E402

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
TOKEN = "pkcs11:token=veritee;object=token-signing"
WRAP = "pkcs11:token=veritee;object=veritee-master"


def tool(*args):
    p = subprocess.run(["pkcs11-tool", "--module", MODULE] + list(args), capture_output=True, timeout=60)
    check(p.returncode == 0, f"pkcs11-tool {args}: {p.stderr!r}")
    return p.stdout


def main():
    tap = Tap()
    missing = [w for w, ok in (("softhsm2", os.path.exists(MODULE)), ("opensc", shutil.which("pkcs11-tool")),
                               ("libengine-pkcs11-openssl", os.path.exists(ENGINE))) if not ok]
    if missing:
        tap.skip("PKCS#11 keys", "not installed: " + " ".join(missing) + " (scripts/install-deps.sh test)")
        return tap.finish()
    tmp = tempfile.mkdtemp(prefix="veritee-pkcs11-")
    path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    brokers = []
    env_before = dict(os.environ)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(kh.TestFailure("overall time limit")))
    signal.alarm(int(os.environ.get("VERITEE_IT_TIMEOUT", "150")))
    try:
        os.makedirs(path("tokens"))
        with open(path("softhsm2.conf"), "w") as f:
            f.write(f"directories.tokendir = {path('tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = path("softhsm2.conf")
        # Under ASan: libp11's own leak at exit (tests/lsan-pkcs11.supp); the
        # full unwind reaches ENGINE_remove through the unloaded engine.
        supp = os.path.join(kh.ROOT, "tests", "lsan-pkcs11.supp")
        os.environ["LSAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("LSAN_OPTIONS"), f"suppressions={supp}"]))
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "fast_unwind_on_malloc=0"]))
        os.environ.pop("VERITEE_PKCS11_PIN", None)
        p = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "veritee", "--pin", "1234",
                            "--so-pin", "5678"], capture_output=True, timeout=60)
        check(p.returncode == 0, f"softhsm2-util: {p.stderr!r}")
        tool("--login", "--pin", "1234", "--keypairgen", "--key-type", "EC:prime256v1", "--label", "token-signing",
             "--id", "01")
        tool("--login", "--pin", "1234", "--keypairgen", "--key-type", "rsa:3072", "--label", "veritee-master",
             "--id", "02")
        with open(path("pin"), "w") as f:
            f.write("1234")
        os.chmod(path("pin"), 0o600)
        p = run(["attest", "--tee", "sim", "--sim-dir", path("sim"), "--report-data", "00"])
        check(p.returncode == 0, f"sim keys: {p.stderr!r}")
        admin_key = path("admin.key")
        check(run(["admin", "keygen", admin_key]).returncode == 0, "admin keygen")
        pinsrc = f";pin-source=file:{path('pin')}"
        hsm = {"listen": "127.0.0.1:0", "database": "hsm.db", "master_key": "master.wrapped",
               "master_key_wrapping_key": WRAP + pinsrc, "pkcs11_module": MODULE,
               "token_signing_key": TOKEN + pinsrc, "admin_public_keys": ["admin.key.pub"],
               "tees": {"sim": {"root": "sim/sim-root.pem"}}}

        def wrap_cmd(out, *extra, env=None):
            return run(["admin", "wrap-master-key", "--module", MODULE, "--wrapping-key", WRAP + pinsrc,
                        "--out", out] + list(extra), env=env)

        def wrap():
            p = wrap_cmd(path("master.wrapped"))
            eq(p.returncode, 0, f"wrap-master-key (stderr {p.stderr!r})")
            st = os.stat(path("master.wrapped"))
            eq(st.st_size, 384, "an RSA 3072 OAEP ciphertext")
            eq(stat.S_IMODE(st.st_mode), 0o600, "mode")
            before = open(path("master.wrapped"), "rb").read()
            p = wrap_cmd(path("master.wrapped"))
            eq(p.returncode, 2, "a second wrap-master-key onto the same file")
            check(b"File exists" in p.stderr, f"names the reason: {p.stderr!r}")
            eq(open(path("master.wrapped"), "rb").read(), before, "the wrapped key is untouched")
            # --in: an existing plain key, wrapped
            with open(path("plain.master"), "wb") as f:
                f.write(os.urandom(32))
            os.chmod(path("plain.master"), 0o600)
            p = wrap_cmd(path("plain.wrapped"), "--in", path("plain.master"))
            eq(p.returncode, 0, f"wrap-master-key --in (stderr {p.stderr!r})")
        tap.run("wrap-master-key: 384 bytes, 0600, never overwritten; --in wraps an existing key", wrap)

        def check_config(name, settings, env=None):
            cfg = path(f"{name}.json")
            with open(cfg, "w") as f:
                json.dump(settings, f)
            return run(["serve", "--config", cfg, "--check-config"], env=env)

        def check_ok():
            p = check_config("cc", hsm)
            eq(p.returncode, 0, f"--check-config (stderr {p.stderr!r})")
            check(not os.path.exists(path("hsm.db")), "--check-config created no database")
        tap.run("--check-config opens both HSM keys and exits 0", check_ok)

        b = Broker(tmp, "hsm", hsm)
        brokers.append(b)
        tee = kh.Tee(path("sim"))
        state = {}

        def full_round():
            check(b.start() is None, f"broker with HSM keys did not start: {b.stderr_text()[-2000:]!r}")
            with open(path("secret"), "wb") as f:
                f.write(b"sealed by the HSM's master key")
            p = b.admin(admin_key, "set-resource", "hsm/key/one", path("secret"))
            eq(p.returncode, 0, f"set-resource (stderr {p.stderr!r})")
            p = b.admin(admin_key, "add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT)
            eq(p.returncode, 0, f"add-reference-value (stderr {p.stderr!r})")
            p = run(["get-resource", b.url, "kbs:///hsm/key/one", "--tee", "sim", "--sim-dir", path("sim")])
            eq(p.returncode, 0, f"get-resource (stderr {p.stderr!r})")
            eq(p.stdout, b"sealed by the HSM's master key", "the released secret")
            _, token, _ = kh.full_attest(b.port, tee)
            state["token"] = token
        tap.run("a full round with the HSM's keys releases the secret", full_round)

        def token_and_jwks():
            r = kh.request(b.port, "GET", "/.well-known/jwks.json")
            eq(r.status, 200, "jwks status")
            keys = r.json()["keys"]
            eq(len(keys), 1, "one key in the JWKS")
            served = jwk.JWK(**keys[0])
            claims = kh.verify_jwt(state["token"], served)  # raises when the signature is wrong
            check("submods" in claims, f"an EAR: {sorted(claims)}")
            hdr, _, _ = kh.jwt_parts(state["token"])
            eq(hdr.get("alg"), "ES256", "alg")
            tool("--read-object", "--type", "pubkey", "--id", "01", "--output-file", path("hsm-pub.der"))
            with open(path("hsm-pub.der"), "rb") as f:
                pub = serialization.load_der_public_key(f.read())
            hsm_jwk = jwk.JWK.from_pyca(pub).export_public(as_dict=True)
            eq((keys[0]["crv"], keys[0]["x"], keys[0]["y"]), (hsm_jwk["crv"], hsm_jwk["x"], hsm_jwk["y"]),
               "the JWKS key is the HSM's public key")
            eq(keys[0]["kid"], served.thumbprint(), "kid is the RFC 7638 thumbprint")
        tap.run("the EAR token verifies with the JWKS, whose key is the HSM's", token_and_jwks)

        def concurrent():
            # Several worker threads sign through the one engine key at once
            # (EAR and release-log head): every round must get a token that
            # verifies and the secret.
            import concurrent.futures
            served = jwk.JWK(**kh.request(b.port, "GET", "/.well-known/jwks.json").json()["keys"][0])

            def one(_):
                cookie, token, _ = kh.full_attest(b.port, kh.Tee(path("sim")))
                kh.verify_jwt(token, served)
                r = kh.request(b.port, "GET", "/kbs/v0/resource/hsm/key/one", cookie=cookie)
                return r.status
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                got = list(ex.map(one, range(32)))
            eq(got, [200] * 32, "32 rounds from 8 threads at once")
        tap.run("32 rounds from 8 threads at once: every token verifies, every secret is released", concurrent)

        def second_start():
            eq(b.stop(), 0, "first broker stops cleanly")
            b2 = Broker(tmp, "hsm2", dict(hsm, token_signing_key=TOKEN, master_key_wrapping_key=WRAP))
            brokers.append(b2)
            os.environ["VERITEE_PKCS11_PIN"] = "1234"
            try:
                check(b2.start() is None, f"second start: {b2.stderr_text()[-2000:]!r}")
            finally:
                os.environ.pop("VERITEE_PKCS11_PIN", None)
            p = run(["get-resource", b2.url, "kbs:///hsm/key/one", "--tee", "sim", "--sim-dir", path("sim")])
            eq(p.returncode, 0, f"get-resource from the same database (stderr {p.stderr!r})")
            eq(p.stdout, b"sealed by the HSM's master key", "the secret sealed under the first start")
            eq(b2.stop(), 0, "second broker stops cleanly")
        tap.run("a second start (PIN from VERITEE_PKCS11_PIN) unwraps the same master key: same database",
                second_start)

        def refused(name, change, *needles, env_extra=None, drop=()):
            def case():
                settings = dict(hsm, database=f"{name}.db", **change)
                for k in drop:
                    settings.pop(k, None)
                env = dict(os.environ, **(env_extra or {}))
                for mode in ("check", "serve"):
                    if mode == "check":
                        p = check_config(f"bad-{name}", settings, env=env)
                        rc, out, err = p.returncode, p.stdout, p.stderr
                    else:
                        cfg = path(f"bad-{name}.json")
                        p = subprocess.run([kh.VBIN, "serve", "--config", cfg, "--print-port"], capture_output=True,
                                           timeout=60, env=env, stdin=subprocess.DEVNULL)
                        rc, out, err = p.returncode, p.stdout, p.stderr
                    eq(rc, 2, f"{mode}: exit code (stderr {err!r})")
                    eq(out.strip() if mode == "serve" else b"", b"", f"{mode}: no port printed")
                    for n in needles:
                        check(n.encode() in err, f"{mode}: stderr names {n!r}: {err!r}")
                    check(not os.path.exists(path(f"{name}.db")), f"{mode}: no database created")
            return case

        env_pin = {"VERITEE_PKCS11_PIN": "1234"}
        cases = [
            ("wrong PIN", refused("wrongpin", {"token_signing_key": TOKEN, "master_key_wrapping_key": WRAP},
                                  "cannot open the private key", "wrong PIN", env_extra={"VERITEE_PKCS11_PIN": "9999"})),
            ("no PIN", refused("nopin", {"token_signing_key": TOKEN}, "no PIN", "VERITEE_PKCS11_PIN")),
            ("PIN in the URI", refused("pinvalue", {"token_signing_key": TOKEN + ";pin-value=1234"},
                                       "pin-value", "pin-source=file:")),
            ("missing object", refused("noobj", {"token_signing_key": "pkcs11:token=veritee;object=nope" + pinsrc},
                                       "token_signing_key", "no such token or object")),
            ("RSA token-signing key", refused("rsatoken", {"token_signing_key": WRAP + pinsrc},
                                              "token_signing_key", "must be EC P-256")),
            ("module missing", refused("nomodule", {"pkcs11_module": "/nonexistent/libsofthsm2.so"},
                                       "pkcs11_module", "/nonexistent/libsofthsm2.so", "softhsm2")),
            ("pkcs11_module unset", refused("unsetmodule", {}, "pkcs11_module", "softhsm2",
                                            drop=("pkcs11_module",))),
            ("engine missing", refused("noengine", {}, "libengine-pkcs11-openssl",
                                       env_extra={"OPENSSL_ENGINES": path("no-engines")})),
            ("wrapped master key file missing", refused("nomaster", {"master_key": "absent.wrapped"},
                                                        "master_key", "veritee admin wrap-master-key")),
            ("plain master key with a wrapping key", refused("plainmaster", {"master_key": "plain.master"},
                                                             "master_key", "unwrapped 32-byte key")),
            ("master key wrapped to another key", refused("otherwrap", {"master_key": "junk.wrapped"},
                                                          "master_key", "cannot unwrap")),
        ]
        with open(path("junk.wrapped"), "wb") as f:
            f.write(os.urandom(384))
        os.chmod(path("junk.wrapped"), 0o600)
        del env_pin
        for name, fn in cases:
            tap.run(f"refused with exit 2, nothing created: {name}", fn)
    except Exception as e:  # noqa: BLE001 - report the setup failure as a case
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        for b in brokers:
            b.stop()
        os.environ.clear()
        os.environ.update(env_before)
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
