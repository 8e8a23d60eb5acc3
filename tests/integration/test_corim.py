#!/usr/bin/python3
"""Integration test of signed CoRIM import (docs/corim.md) against a real broker.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_corim.py
Prints TAP.  Starts one `veritee serve` on 127.0.0.1 port 0 in a temporary
directory and stops it at the end, also on failure.

* `veritee admin ... import-corim` with the Veraison signed CoRIM and its JWK
  (inside its 2021-12-31..2025-12-31 validity with --at), then the stored values
  read back with `veritee admin get-reference-value` and with a raw
  GET /kbs/v0/reference-value/NAME under a fresh single-use admin token;
* refusals: expired (no --at), wrong signer, unsigned and NEGATIVE CoRIMs,
  a tampered signed CoRIM; none of them stores anything;
* end to end: a CoRIM built and signed here (Python CBOR writer +
  cryptography, independent of veritee's code) carrying "sim.measurement"
  makes the default sim policy release a resource that it refused before.
The vector cases skip without $VERITEE_VECTORS/corim.
"""
import hashlib
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
# kbs_helpers first: under a python without jwcrypto it re-runs the test with Debian's
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402
from jwcrypto import jwk  # noqa: E402
from kbs_helpers import (DEFAULT_MEASUREMENT, Broker, Tap, TestFailure, check, eq, mint_jwt, request,  # noqa: E402
                         run)

VEC = os.path.join(os.environ.get("VERITEE_VECTORS") or os.path.join(kh.ROOT, "..", "shared", "vectors"), "corim")
SIGNED = "veraison_corim_signed_good_corim.cbor"
SIGNER_JWK = "veraison_corim_ec-p256.jwk"
INSIDE = "2025-06-01T00:00:00Z"
VECTOR_NAME = "corim_31fb5abf-023e-4992-aa4e-95f9c1503bfa_sha256"
VECTOR_VALUES = ["87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7",
                 "0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f",
                 "a3a5e715f0cc574a73c3f9bebb6bc24f32ffd5b67b387244c2c909da779a1478"]


# ------------------------------------------------------------ CBOR writer (RFC 8949, definite lengths)

class Tag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt, lim in ((24, ">B", 0xff), (25, ">H", 0xffff), (26, ">I", 0xffffffff), (27, ">Q", 2**64 - 1)):
        if n <= lim:
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor(v):
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    if isinstance(v, Tag):
        return _head(6, v.tag) + cbor(v.value)
    raise TypeError(type(v))


def signed_corim(key, measurements, not_before, not_after, corim_id="it corim"):
    """#6.18(COSE_Sign1) around #6.501(corim-map) with one CoMID; ES256 with `key`."""
    comid = {1: {0: "veritee integration test"},
             4: {0: [[{0: {1: "veritee", 2: "integration"}}, measurements]]}}
    payload = cbor(Tag(501, {0: corim_id, 1: [Tag(506, cbor(comid))]}))
    meta = cbor({0: {0: "veritee integration signer"},
                 1: {0: Tag(1, int(not_before)), 1: Tag(1, int(not_after))}})
    protected = cbor({1: -7, 3: "application/rim+cbor", 8: meta})
    tbs = cbor(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor(Tag(18, [protected, {}, payload, sig]))


# ------------------------------------------------------------------ cases

class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="veritee-corim-it-")
        self.path = lambda *p: os.path.join(self.tmp, *p)
        self.broker = None
        self.admin_key = None


class Abort(BaseException):
    pass


def cases(tap, w):
    T = tap.run
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
    have_vectors = os.path.isfile(os.path.join(VEC, SIGNED))

    p = run(["attest", "--tee", "sim", "--sim-dir", w.path("sim"), "--report-data", "00"])
    check(p.returncode == 0, f"sim keys: {p.stderr!r}")
    w.admin_key = w.path("admin.key")
    p = run(["admin", "keygen", w.admin_key])
    check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
    b = Broker(w.tmp, "corim", {
        "listen": "127.0.0.1:0", "database": "corim.db", "master_key": "corim.master",
        "token_signing_key": "corim-token.pem", "admin_public_keys": ["admin.key.pub"],
        "insecure_sim_root": "sim/sim-root.pem", "threads": 2})
    res = b.start()
    if res is not None:
        raise TestFailure(f"broker did not start: {res!r}")
    w.broker = b

    def admin(*args):
        return b.admin(w.admin_key, *args)

    def stored(name):
        """The value under `name` via the CLI, or None when the broker has none."""
        p = admin("get-reference-value", name)
        if p.returncode != 0:
            check(b"not found" in p.stderr, f"get-reference-value {name}: rc={p.returncode} {p.stderr!r}")
            return None
        return json.loads(p.stdout)

    def vec(name):
        return os.path.join(VEC, name)

    # -------------------------------------------- the Veraison signed CoRIM
    def show_vector():
        p = run(["corim", "show", vec(SIGNED), "--signer", vec(SIGNER_JWK), "--at", INSIDE, "--json"])
        eq(p.returncode, 0, f"corim show exit code (stderr {p.stderr!r})")
        j = json.loads(p.stdout)
        eq(j["verified"], True, "verified")
        eq(j["signer"]["name"], "ACME Ltd signing key", "signer name")
        eq(j["signature_validity"], {"not_before": "2021-12-31T00:00:00Z", "not_after": "2025-12-31T00:00:00Z"},
           "signature validity")
        eq(j["reference_values"], {VECTOR_NAME: VECTOR_VALUES}, "reference values")

    def import_expired():
        eq(stored(VECTOR_NAME), None, "before any import")
        p = admin("import-corim", vec(SIGNED), "--signer", vec(SIGNER_JWK))
        eq(p.returncode, 1, f"exit code (stdout {p.stdout!r}, stderr {p.stderr!r})")
        check(b"expired at 2025-12-31T00:00:00Z" in p.stderr, f"stderr: {p.stderr!r}")
        eq(stored(VECTOR_NAME), None, "after the refused import")

    def import_wrong_signer():
        other = w.path("other.jwk")
        with open(other, "w") as f:
            f.write(jwk.JWK.generate(kty="EC", crv="P-256").export_public())
        p = admin("import-corim", vec(SIGNED), "--signer", other, "--at", INSIDE)
        eq(p.returncode, 1, f"exit code (stderr {p.stderr!r})")
        check(b"step=signature" in p.stderr and b"cose.signature" in p.stderr, f"stderr: {p.stderr!r}")
        eq(stored(VECTOR_NAME), None, "after the refused import")

    def import_vector():
        p = admin("import-corim", vec(SIGNED), "--signer", vec(SIGNER_JWK), "--at", INSIDE)
        eq(p.returncode, 0, f"exit code (stdout {p.stdout!r}, stderr {p.stderr!r})")
        check(b"imported 3 reference values under 1 name" in p.stdout and VECTOR_NAME.encode() in p.stdout,
              f"stdout: {p.stdout!r}")
        eq(stored(VECTOR_NAME), VECTOR_VALUES, "get-reference-value")

    def raw_get():
        # The GET endpoint itself, with a token minted here (fresh jti: single use).
        with open(w.admin_key, "rb") as f:
            key = jwk.JWK.from_pem(f.read())
        now = int(time.time())
        tok = mint_jwt(key, {"iat": now, "exp": now + 60, "jti": os.urandom(16).hex()})
        r = request(b.port, "GET", f"/kbs/v0/reference-value/{VECTOR_NAME}", bearer=tok)
        eq(r.status, 200, f"GET reference-value {r!r}")
        eq(r.json(), VECTOR_VALUES, "GET reference-value body")
        r = request(b.port, "GET", f"/kbs/v0/reference-value/{VECTOR_NAME}", bearer=tok)
        eq(r.status, 401, f"the same token twice {r!r}")

    def unsigned_refused():
        for name in ("veraison_services_corim_sevsnp_valid.cbor", "veraison_services_corim_cca_realm_valid.cbor",
                     "veraison_services_corim_parsec_tpm_valid.cbor", "veraison_corim_tdx_comid_seam_refval.cbor",
                     "NEGATIVE_veraison_services_corim_sevsnp_bad_refval_key.cbor",
                     "NEGATIVE_veraison_services_corim_parsec_tpm_bad_pcr.cbor",
                     "NEGATIVE_veraison_services_corim_cca_realm_bad_no_rim.cbor"):
            p = admin("import-corim", vec(name), "--signer", vec(SIGNER_JWK), "--at", INSIDE)
            eq(p.returncode, 1, f"{name}: exit code (stderr {p.stderr!r})")
            check(b"not signed" in p.stderr and b"--unsigned" in p.stderr, f"{name}: stderr {p.stderr!r}")
        for name in ("snp_launch_measurement", "snp_bootloader", "cca_rim", "tpm_pcr00"):
            eq(stored(name), None, f"{name} after the refused imports")

    def show_unsigned_and_negative():
        p = run(["corim", "show", vec("veraison_services_corim_sevsnp_valid.cbor"), "--unsigned", "--json"])
        eq(p.returncode, 0, f"show --unsigned (stderr {p.stderr!r})")
        j = json.loads(p.stdout)
        eq(j["verified"], False, "verified")
        eq(j["reference_values"]["snp_launch_measurement"],
           ["7699e6ac12ccdfd1dfac70e649ce1f046cb2afbb003438f4cdddfe2ccbe182fa5ffbe8dcdb930454324e10c52c788980"],
           "snp_launch_measurement")
        eq(j["reference_values"]["snp_bootloader"], [10], "snp_bootloader")
        p = run(["corim", "show", vec("NEGATIVE_veraison_services_corim_cca_realm_bad_no_rim.cbor"), "--unsigned"])
        eq(p.returncode, 1, "NEGATIVE realm CoRIM")
        check(b"cca.rim) is mandatory" in p.stderr, f"stderr {p.stderr!r}")

    if have_vectors:
        T("corim show verifies the Veraison signed CoRIM (--at inside its validity) and lists its values",
          show_vector)
        T("import-corim refuses the signed CoRIM after its validity (no --at): nothing stored", import_expired)
        T("import-corim refuses the signed CoRIM with another signer key: nothing stored", import_wrong_signer)
        T("import-corim stores the signed CoRIM's values; get-reference-value reads them back", import_vector)
        T("GET /kbs/v0/reference-value/NAME returns them (single-use admin token)", raw_get)
        T("import-corim refuses unsigned and NEGATIVE CoRIMs, naming --unsigned; nothing stored", unsigned_refused)
        T("corim show --unsigned shows the SNP CoRIM; a NEGATIVE one fails with its reason",
          show_unsigned_and_negative)
    else:
        for n in range(7):
            tap.skip(f"vector case {n + 1}", f"no vectors at {VEC}")

    # -------------------------------------------- end to end with the sim TEE
    key = ec.generate_private_key(ec.SECP256R1())
    signer = w.path("signer.pub.pem")
    with open(signer, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    now = time.time()
    good = signed_corim(key, [{0: "sim.measurement", 1: {2: [[7, bytes.fromhex(DEFAULT_MEASUREMENT)]]}}],
                        now - 3600, now + 3600)
    corim_path = w.path("sim.corim")
    with open(corim_path, "wb") as f:
        f.write(good)
    secret = b"corim-released-" + os.urandom(8).hex().encode()
    with open(w.path("k1.bin"), "wb") as f:
        f.write(secret)

    def get_resource():
        return run(["get-resource", b.url, "kbs:///default/key/k1", "--tee", "sim", "--sim-dir", w.path("sim")])

    def before_import():
        p = admin("set-resource", "default/key/k1", w.path("k1.bin"))
        eq(p.returncode, 0, f"set-resource {p.stderr!r}")
        p = get_resource()
        eq(p.returncode, 1, f"get-resource before the CoRIM (stderr {p.stderr!r})")
        eq(p.stdout, b"", "nothing released")

    def tampered():
        bad = bytearray(good)
        i = bad.find(bytes.fromhex(DEFAULT_MEASUREMENT))
        check(i > 0, "measurement in the CoRIM bytes")
        bad[i] ^= 1
        path = w.path("tampered.corim")
        with open(path, "wb") as f:
            f.write(bad)
        p = admin("import-corim", path, "--signer", signer)
        eq(p.returncode, 1, f"exit code (stderr {p.stderr!r})")
        check(b"step=signature" in p.stderr, f"stderr {p.stderr!r}")
        eq(stored("sim_measurement"), None, "sim_measurement after the tampered import")

    def expired_now():
        old = signed_corim(key, [{0: "sim.measurement", 1: {2: [[7, bytes.fromhex(DEFAULT_MEASUREMENT)]]}}],
                           now - 7200, now - 3600)
        path = w.path("old.corim")
        with open(path, "wb") as f:
            f.write(old)
        p = admin("import-corim", path, "--signer", signer)
        eq(p.returncode, 1, f"exit code (stderr {p.stderr!r})")
        check(b"expired at" in p.stderr, f"stderr {p.stderr!r}")

    def import_and_release():
        p = run(["corim", "show", corim_path, "--signer", signer])
        eq(p.returncode, 0, f"corim show (stderr {p.stderr!r})")
        check(DEFAULT_MEASUREMENT.encode() in p.stdout, f"show output {p.stdout!r}")
        p = admin("import-corim", corim_path, "--signer", signer)
        eq(p.returncode, 0, f"import-corim (stderr {p.stderr!r})")
        eq(stored("sim_measurement"), [DEFAULT_MEASUREMENT], "sim_measurement")
        p = get_resource()
        eq(p.returncode, 0, f"get-resource after the CoRIM (stderr {p.stderr!r})")
        eq(p.stdout, secret, "released secret")

    T("without a reference value the default sim policy refuses the resource", before_import)
    T("a signed CoRIM with one flipped payload byte is refused at step signature", tampered)
    T("a signed CoRIM past its corim-meta validity is refused now", expired_now)
    T("import-corim of a CoRIM signed here (sim.measurement) makes the sim TEE's resource release",
      import_and_release)

    def broker_healthy():
        check(b.alive(), f"broker died: {b.stderr_text()[-2000:]!r}")
        eq(request(b.port, "GET", "/healthz").status, 200, "/healthz")
    T("the broker is still healthy", broker_healthy)


def main():
    tap = Tap()
    w = World()

    def abort(signum, frame):
        raise Abort(f"signal {signum}")
    signal.signal(signal.SIGTERM, abort)
    signal.signal(signal.SIGALRM, abort)
    signal.alarm(int(os.environ.get("VERITEE_IT_TIMEOUT", "110")))
    try:
        cases(tap, w)
    except Abort as e:
        tap.failed += 1
        tap.n += 1
        print(f"not ok {tap.n} - test run aborted\n#   {e}")
    except Exception as e:  # noqa: BLE001 - setup errors become one failed case
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        rc = w.broker.stop() if w.broker else 0
        if w.broker is not None and rc != 0:
            tap.failed += 1
            tap.n += 1
            print(f"not ok {tap.n} - broker exit code {rc}")
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {w.tmp}")
        else:
            shutil.rmtree(w.tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
