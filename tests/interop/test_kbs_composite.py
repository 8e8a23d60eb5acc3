#!/usr/bin/python3
"""An independent KBS client, written from Trustee's protocol description
(../shared/docs/kbs-protocol.md §2-§7 and §14), runs composite rounds with
init-data against `veritee serve`.

Only the evidence comes from veritee (`veritee attest --tee sim` and
`--tee sim-gpu`, standing in for the hardware); everything the protocol
defines is done here in Python: the /auth extra-params, the JCS runtime
data and its SHA-384 for the CPU and for the devices, the additional
evidence text, init-data, the JWE (jwcrypto) and the token (checked with
the broker's /.well-known/jwks.json, jwcrypto again).

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/interop/test_kbs_composite.py
"""
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from kbs_helpers import Broker, Tap, TestFailure, check, eq, request, run  # noqa: E402
# kbs_helpers first: under a python without jwcrypto it re-runs the test with Debian's
from jwcrypto import jwe as jwe_mod  # noqa: E402
from jwcrypto import jwk, jws  # noqa: E402

KBS_ERR = "https://github.com/confidential-containers/kbs/errors/"
CPU_MEASUREMENT = hashlib.sha384(b"veritee sim default workload").hexdigest()
GPU_MEASUREMENT = hashlib.sha384(b"veritee sim gpu firmware").hexdigest()
RESOURCE = "/kbs/v0/resource/default/model/weights-key"

INIT_TOML = '''version = "0.1.0"
algorithm = "sha384"

[data]
"aa.toml" = \'\'\'
[token_configs]
[token_configs.kbs]
url = "http://127.0.0.1:8080"
\'\'\'
"cdh.toml" = \'\'\'
socket = 'unix:///run/confidential-containers/cdh.sock'
credentials = []
\'\'\'
'''


def jcs(obj):
    """RFC 8785 for these documents: sorted keys, no whitespace, minimal escaping, no numbers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def veritee_evidence(args):
    p = run(["attest"] + args)
    if p.returncode != 0:
        raise TestFailure(f"veritee attest {args}: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout)


class Guest:
    """One confidential VM with `gpus` simulated GPUs, speaking KBS 0.4.0."""

    def __init__(self, port, sim_dir, gpus=2, init_toml=None, launch_toml=None, gpu_nonce=None):
        self.port = port
        self.sim_dir = sim_dir
        self.gpus = gpus
        self.init_toml = init_toml
        self.launch_toml = launch_toml if launch_toml is not None else init_toml
        self.gpu_nonce = gpu_nonce
        self.key = jwk.JWK.generate(kty="EC", crv="P-256")
        d = self.key.export_public(as_dict=True)
        self.pub = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": d["x"], "y": d["y"]}
        self.cookie = None

    def auth(self):
        r = request(self.port, "POST", "/kbs/v0/auth",
                    {"version": "0.4.0", "tee": "sim",
                     "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]}})
        eq(r.status, 200, f"/auth {r!r}")
        self.cookie = r.cookie()
        challenge = r.json()
        eq(challenge["extra-params"], "", "challenge extra-params for a SHA-384 TEE")
        return challenge["nonce"]

    def attest_body(self, nonce):
        additional = ""
        if self.gpus:
            device_rd = {"nonce": self.gpu_nonce or nonce, "tee-pubkey": self.pub}
            dd = hashlib.sha384(jcs(device_rd).encode()).hexdigest()
            value = veritee_evidence(["--tee", "sim-gpu", "--sim-dir", self.sim_dir, "--count", str(self.gpus),
                                      "--report-data", dd])
            additional = json.dumps({"sim-gpu": value})  # any JSON text: it is hashed as sent
        primary_rd = {"tee-pubkey": self.pub, "nonce": nonce, "additional-evidence": additional}
        rd = hashlib.sha384(jcs(primary_rd).encode()).hexdigest()
        args = ["--tee", "sim", "--sim-dir", self.sim_dir, "--report-data", rd]
        if self.launch_toml:
            args += ["--init-data-digest", hashlib.sha384(self.launch_toml.encode()).hexdigest()]
        body = {"runtime-data": {"nonce": nonce, "tee-pubkey": self.pub},
                "tee-evidence": {"primary_evidence": veritee_evidence(args), "additional_evidence": additional}}
        if self.init_toml is not None:
            body["init-data"] = {"format": "toml", "body": self.init_toml}
        return body

    def attest(self):
        nonce = self.auth()
        return request(self.port, "POST", "/kbs/v0/attest", self.attest_body(nonce), cookie=self.cookie)

    def resource(self, bearer=None):
        if bearer:
            return request(self.port, "GET", RESOURCE, bearer=bearer)
        return request(self.port, "GET", RESOURCE, cookie=self.cookie)

    def decrypt(self, body):
        obj = jwe_mod.JWE()
        obj.deserialize(body.decode(), key=self.key)
        return obj.payload


def error_body(r, status, variant, *needles):
    eq(r.status, status, f"status of {r!r}")
    body = r.json()
    eq(sorted(body.keys()), ["detail", "type"], "RFC 7807-style body members")
    eq(body["type"], KBS_ERR + variant, "error type")
    for n in needles:
        check(n in body["detail"], f"{n!r} not in {body['detail']!r}")


def token_claims(token, jwks):
    """Verify the EAR with the key the broker publishes (by kid), return its claims."""
    header = json.loads(b64url_dec(token.split(".")[0]))
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    eq(len(keys), 1, f"one JWKS key for kid {header.get('kid')}")
    key = jwk.JWK(**keys[0])
    obj = jws.JWS()
    obj.deserialize(token)
    obj.verify(key, alg="ES256")
    return json.loads(obj.payload)


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="veritee-composite-")
    sim_dir = os.path.join(tmp, "sim")
    brokers = []
    try:
        veritee_evidence(["--tee", "sim", "--sim-dir", sim_dir, "--report-data", "00"])  # makes the sim keys
        p = run(["admin", "keygen", os.path.join(tmp, "admin.key")])
        check(p.returncode == 0, f"keygen: {p.stderr!r}")
        settings = {"listen": "127.0.0.1:0", "database": "b.db", "master_key": "b.master",
                    "token_signing_key": "b-token.pem", "admin_public_keys": ["admin.key.pub"],
                    "tees": {"sim": {"root": "sim/sim-root.pem"}}, "threads": 2, "max_devices": 8}
        b = Broker(tmp, "b", settings)
        brokers.append(b)
        started = b.start()
        if started is not None:
            raise TestFailure(f"broker did not start: {started!r}")
        key = os.path.join(tmp, "admin.key")
        secret = b"model weights key " + os.urandom(8).hex().encode()
        with open(os.path.join(tmp, "secret"), "wb") as f:
            f.write(secret)
        for args in (["add-reference-value", "sim_measurement", CPU_MEASUREMENT],
                     ["add-reference-value", "sim_gpu_measurement", GPU_MEASUREMENT],
                     ["set-resource", "default/model/weights-key", os.path.join(tmp, "secret")]):
            p = b.admin(key, *args)
            check(p.returncode == 0, f"admin {args}: {p.stderr!r}")
        r = request(b.port, "GET", "/.well-known/jwks.json")
        eq(r.status, 200, f"jwks {r!r}")
        jwks = r.json()

        def composite_round():
            g = Guest(b.port, sim_dir, gpus=2, init_toml=INIT_TOML)
            r = g.attest()
            eq(r.status, 200, f"/attest {r!r}")
            c = token_claims(r.json()["token"], jwks)
            eq(sorted(c["submods"]), ["cpu0", "gpu0", "gpu1"], "submods")
            for s in ("cpu0", "gpu0", "gpu1"):
                eq(c["submods"][s]["ear.status"], "affirming", f"{s} status")
            a = c["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
            eq(a["init_data"], hashlib.sha384(INIT_TOML.encode()).hexdigest(), "init_data digest claim")
            eq(a["init_data_claims"]["aa.toml"]["token_configs"]["kbs"]["url"], "http://127.0.0.1:8080",
               "aa.toml as JSON")
            eq(a["init_data_claims"]["cdh.toml"]["credentials"], [], "cdh.toml as JSON")
            eq(a["sim"]["init_data"], hashlib.sha384(INIT_TOML.encode()).hexdigest(), "the TEE's init-data field")
            r = g.resource()
            eq(r.status, 200, f"resource {r!r}")
            eq(g.decrypt(r.body), secret, "released secret")
        tap.run("composite round (CPU + 2 GPUs, init-data) by an independent client -> released", composite_round)

        def bearer_eight_gpus():
            g = Guest(b.port, sim_dir, gpus=8)
            r = g.attest()
            eq(r.status, 200, f"/attest {r!r}")
            token = r.json()["token"]
            c = token_claims(token, jwks)
            eq(len(c["submods"]), 9, "cpu0 + gpu0..gpu7")
            check(len(token) < 64 * 1024, f"a token of 8 GPUs fits a Bearer header ({len(token)} bytes)")
            rt = c["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["runtime_data_claims"]
            check("additional-evidence" not in rt and len(rt["additional-evidence-sha384"]) == 96,
                  "raw device evidence left out of the token, its digest kept")
            r = g.resource(bearer=token)  # the token client path: no cookie
            eq(r.status, 200, f"resource with Bearer {r!r}")
            eq(g.decrypt(r.body), secret, "secret via Bearer")
        tap.run("8 GPUs: the token works as a Bearer header", bearer_eight_gpus)

        def gpu_other_nonce():
            g = Guest(b.port, sim_dir, gpus=2, gpu_nonce="some-other-nonce")
            error_body(g.attest(), 401, "AttestationError", "sim-gpu device 0 (gpu0)", "step binding")
            error_body(g.resource(), 401, "TokenNotFound")  # the failed session released nothing
        tap.run("GPU evidence bound to another nonce -> 401 naming the device", gpu_other_nonce)

        def init_data_mismatch():
            g = Guest(b.port, sim_dir, gpus=1, init_toml=INIT_TOML,
                      launch_toml='version = "0.1.0"\nalgorithm = "sha384"\n')
            error_body(g.attest(), 401, "AttestationError", "init-data digest does not match", "field init_data")
        tap.run("init-data other than the TEE launched with -> 401 step binding", init_data_mismatch)

        def bad_toml():
            g = Guest(b.port, sim_dir, gpus=0, init_toml="version = [\n", launch_toml="x = 1\n")
            error_body(g.attest(), 401, "AttestationError", "TOML", "step parse")
        tap.run("init-data TOML that does not parse -> 401 step parse", bad_toml)

        def unknown_hash():
            r = request(b.port, "POST", "/kbs/v0/auth",
                        {"version": "0.4.0", "tee": "sim", "extra-params": {"supported-hash-algorithms": ["sha3-999"]}})
            error_body(r, 401, "AttestationError", "unknown hash algorithm \"sha3-999\"")
        tap.run("/auth with an unknown hash algorithm -> 401", unknown_hash)
    except Exception as e:  # noqa: BLE001
        tap.run("setup", lambda: (_ for _ in ()).throw(e))
    finally:
        for b in brokers:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
