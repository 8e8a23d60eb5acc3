#!/usr/bin/python3
"""The broker's release log and /.well-known/jwks.json over real HTTP (issue 13).

Releases and refusals land in a hash chain with a signed head; `veritee admin
... audit --out` exports it (paging with --since / --page-size); `veritee
audit verify` checks it against the broker's JWKS and names the first bad
entry of an edited file.  python3-jwcrypto is the independent oracle: it
verifies an EAR and the signed head with the published key, and this file
recomputes the chain itself.  Prints TAP.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_audit.py
"""
import copy
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# kbs_helpers first: under a python without jwcrypto it runs the test again with /usr/bin/python3
import kbs_helpers as kh  # noqa: E402
from jwcrypto import jwk, jws  # noqa: E402
from kbs_helpers import (DEFAULT_MEASUREMENT, Broker, Tap, Tee, TestFailure, b64url_dec, canonical, check,  # noqa: E402
                         eq, full_attest, jwt_parts, request, run)

GENESIS = "0" * 64


def sha256_hex(b):
    return hashlib.sha256(b if isinstance(b, bytes) else b.encode()).hexdigest()


def main():
    tap = Tap()
    T = tap.run
    tmp = tempfile.mkdtemp(prefix="veritee-audit-")
    path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    b = None
    try:
        check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
        p = run(["attest", "--tee", "sim", "--sim-dir", path("sim"), "--report-data", "00"])
        check(p.returncode == 0, f"sim keys: {p.stderr!r}")
        admin_key = path("admin.key")
        p = run(["admin", "keygen", admin_key])
        check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
        b = Broker(tmp, "b", {"listen": "127.0.0.1:0", "database": "b.db", "master_key": "b.master",
                              "token_signing_key": "b-token.pem", "admin_public_keys": ["admin.key.pub"],
                              "insecure_sim_root": "sim/sim-root.pem", "threads": 2})
        res = b.start()
        check(res is None, f"broker did not start: {res!r}")
        secret = b"audit-secret-" + os.urandom(8).hex().encode()
        with open(path("k1.bin"), "wb") as f:
            f.write(secret)

        def admin(*args):
            p = b.admin(admin_key, *args)
            if p.returncode != 0:
                raise TestFailure(f"veritee admin {args[0]}: rc={p.returncode} {p.stderr!r}")
            return p
        admin("add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT)
        admin("set-resource", "default/key/k1", path("k1.bin"))
        state = {}

        # ---------------------------------------------------------- JWKS
        def jwks_published():
            r = request(b.port, "GET", "/.well-known/jwks.json")
            eq(r.status, 200, f"GET jwks: {r!r}")
            doc = r.json()
            eq(len(doc["keys"]), 1, "one key")
            k = doc["keys"][0]
            eq((k["kty"], k["crv"], k["alg"], k["use"]), ("EC", "P-256", "ES256", "sig"), "key members")
            check("d" not in k, "no private member")
            key = jwk.JWK(**k)
            eq(k["kid"], key.thumbprint(), "kid is the RFC 7638 thumbprint (jwcrypto)")
            state["jwks"] = doc
            state["key"] = key
            with open(path("jwks.json"), "w") as f:
                json.dump(doc, f)
            eq(request(b.port, "POST", "/.well-known/jwks.json", body="{}").status, 405, "POST")
        T("GET /.well-known/jwks.json publishes the token key with kid = RFC 7638 thumbprint, no auth", jwks_published)

        tee = Tee(path("sim"))

        def ear_verifies():
            cookie, token, _ = full_attest(b.port, tee)
            state["cookie"], state["token"] = cookie, token
            hdr, payload, _ = jwt_parts(token)
            eq(hdr.get("kid"), state["jwks"]["keys"][0]["kid"], "EAR header kid")
            check("jwk" in hdr, "EAR header keeps jwk (as Trustee)")
            s = jws.JWS()
            s.deserialize(token)
            s.verify(state["key"])  # raises on a bad signature
            eq(json.loads(s.payload)["submods"]["cpu0"]["ear.status"], "affirming", "EAR status")
        T("an EAR the broker issued verifies with jwcrypto against the JWKS key named by its kid", ear_verifies)

        # ---------------------------------------------------------- records
        def releases_and_denials():
            cookie, token = state["cookie"], state["token"]
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", cookie=cookie)
            eq(r.status, 200, f"release by cookie: {r!r}")
            eq(tee.decrypt(r.body), secret, "released secret")
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", bearer=token)
            eq(r.status, 200, f"release by bearer: {r!r}")
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/absent", cookie=cookie)
            eq(r.status, 401, f"absent resource: {r!r}")
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1")
            eq(r.variant, "TokenNotFound", "no token")
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", bearer=token[:-4] + "AAAA")
            eq(r.variant, "TokenVerifierError", "forged token")
            bad = Tee(path("sim"), measurement="11" * 48)
            c2, t2, _ = full_attest(b.port, bad)
            state["bad_token"] = t2
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", cookie=c2)
            eq(r.variant, "PolicyDeny", f"unregistered measurement: {r!r}")
            for how in ({"cookie": cookie}, {"bearer": token}):
                r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", **how)
                eq(r.status, 200, f"release again: {r!r}")
        T("releases and refusals (cookie, Bearer, absent resource, no token, forged token, policy)",
          releases_and_denials)

        log_path = path("audit.json")

        def export():
            p = b.admin(admin_key, "audit", "--out", log_path)
            eq(p.returncode, 0, f"audit export: {p.stderr!r}")
            with open(log_path) as f:
                log = json.load(f)
            state["log"] = log
            es = log["entries"]
            got = [(e["seq"], e["outcome"], e["step"], e["credential"], e["resource"]) for e in es]
            want = [(1, "released", None, "cookie", "default/key/k1"),
                    (2, "released", None, "bearer", "default/key/k1"),
                    (3, "error", "storage", "cookie", "default/key/absent"),
                    (4, "denied", "policy", "cookie", "default/key/k1"),
                    (5, "released", None, "cookie", "default/key/k1"),
                    (6, "released", None, "bearer", "default/key/k1")]
            eq(got, want, "entries")
            eq(log["since"], 0, "since")
            eq(es[0]["session"], sha256_hex(state["cookie"]), "session = SHA-256 of the cookie")
            eq(es[1]["session"], sha256_hex(state["token"]), "session = SHA-256 of the Bearer token")
            _, claims, _ = jwt_parts(state["token"])
            eq(es[0]["claims"], sha256_hex(canonical(claims)), "claims = SHA-256 of the claims' JCS")
            eq(es[1]["claims"], es[0]["claims"], "same token, same claims digest")
            # No token, a forged token: refused but not logged (anyone can send them).
            check(all(e["credential"] != "none" for e in es), "a request with no token was logged")
            check(all(e["session"] != sha256_hex(state["token"][:-4] + "AAAA") for e in es), "a forged token was logged")
            check(es[3]["claims"] is not None, "a policy refusal names the verified claims")
            eq(es[0]["tee"], "sim", "tee")
            text = open(log_path, "rb").read()
            db = open(path("b.db"), "rb").read() + (open(path("b.db-wal"), "rb").read()
                                                    if os.path.exists(path("b.db-wal")) else b"")
            for what, v in (("secret", secret), ("cookie", state["cookie"].encode()),
                            ("token", state["token"].encode()), ("token signature", state["token"].split(".")[2].encode())):
                check(v not in text, f"the {what} is in the exported log")
            check(state["cookie"].encode() not in db, "the cookie is in the database")
        T("`veritee admin audit --out` exports every release and refusal, hashed, with no secret, cookie or token",
          export)

        def oracle():
            log = state["log"]
            prev = GENESIS
            for e in log["entries"]:
                body = {k: v for k, v in e.items() if k != "hash"}
                eq(e["prev"], prev, f"seq {e['seq']} prev")
                eq(sha256_hex(canonical(body)), e["hash"], f"seq {e['seq']} hash")
                prev = e["hash"]
            s = jws.JWS()
            s.deserialize(log["head"])
            s.verify(state["key"])
            hdr = json.loads(b64url_dec(log["head"].split(".")[0]))
            eq(hdr["alg"], "ES256", "head alg")
            eq(hdr["kid"], state["jwks"]["keys"][0]["kid"], "head kid")
            head = json.loads(s.payload)
            eq((head["seq"], head["hash"]), (6, prev), "the head signs the last entry")
        T("oracle: Python recomputes the chain and jwcrypto verifies the signed head with the JWKS key", oracle)

        def verify(*args):
            return run(["audit", "verify"] + list(args))

        def verify_ok():
            p = verify(log_path, "--url", b.url)
            eq(p.returncode, 0, f"audit verify --url: {p.stdout!r} {p.stderr!r}")
            check(b"OK" in p.stdout and b"seq 1..6" in p.stdout, f"stdout {p.stdout!r}")
            p = verify(log_path, "--jwks", path("jwks.json"))
            eq(p.returncode, 0, f"audit verify --jwks: {p.stdout!r} {p.stderr!r}")
        T("`veritee audit verify LOG --url` and `--jwks FILE` (offline) accept the export (exit 0)", verify_ok)

        def tampered(edit, *needles):
            log = copy.deepcopy(state["log"])
            edit(log)
            t = path("tampered.json")
            with open(t, "w") as f:
                json.dump(log, f)
            p = verify(t, "--url", b.url)
            eq(p.returncode, 1, f"exit code ({p.stdout!r} {p.stderr!r})")
            for n in needles:
                check(n.encode() in p.stdout, f"output lacks {n!r}: {p.stdout!r}")

        def edit_field():
            def e(log):
                log["entries"][2]["outcome"] = "released"
            tampered(e, "TAMPERED", "index 2, seq 3", "modified")
        T("an edited field: exit 1 naming that entry (index 2, seq 3)", edit_field)

        def edit_delete():
            def e(log):
                del log["entries"][3]
            tampered(e, "seq 4 is missing")
        T("a deleted entry: exit 1 naming the missing seq", edit_delete)

        def edit_reorder():
            def e(log):
                es = log["entries"]
                es[1], es[2] = es[2], es[1]
            tampered(e, "index 1", "reordered")
        T("reordered entries: exit 1", edit_reorder)

        def edit_truncate():
            def e(log):
                log["entries"].pop()
            tampered(e, "truncated", "seq 6")
        T("a truncated tail: exit 1, the signed head is further on", edit_truncate)

        def edit_rehash():
            def e(log):
                x = log["entries"][1]
                x["resource"] = "default/key/other"
                x["hash"] = sha256_hex(canonical({k: v for k, v in x.items() if k != "hash"}))
            tampered(e, "seq 3", "does not chain to entry seq 2")
        T("an entry rewritten with its hash recomputed: the next entry no longer chains", edit_rehash)

        def wrong_key():
            other = jwk.JWK.generate(kty="EC", crv="P-256")
            d = json.loads(other.export_public())
            d.update(kid=state["jwks"]["keys"][0]["kid"], alg="ES256", use="sig")
            with open(path("other.jwks"), "w") as f:
                json.dump({"keys": [d]}, f)
            p = verify(log_path, "--jwks", path("other.jwks"))
            eq(p.returncode, 1, f"exit code {p.stdout!r}")
            check(b"does not verify" in p.stdout, f"stdout {p.stdout!r}")
        T("another key under the broker's kid: exit 1 (the head does not verify)", wrong_key)

        def usage():
            eq(verify(log_path).returncode, 2, "no --url/--jwks")
            eq(verify(path("nope.json"), "--url", b.url).returncode, 2, "missing log")
            eq(run(["audit"]).returncode, 2, "no subcommand")
            eq(verify(log_path, "--url", "http://127.0.0.1:1").returncode, 2, "unreachable broker")
        T("usage and setup errors exit 2", usage)

        def paging():
            out = path("since.json")
            p = b.admin(admin_key, "audit", "--out", out, "--since", "2", "--page-size", "2")
            eq(p.returncode, 0, f"export --since: {p.stderr!r}")
            log = json.load(open(out))
            eq(log["since"], 2, "since")
            eq([e["seq"] for e in log["entries"]], [3, 4, 5, 6], "entries after seq 2, over two pages")
            eq(log["entries"], state["log"]["entries"][2:], "the same entries as the full export")
            p = verify(out, "--url", b.url)
            eq(p.returncode, 0, f"verify: {p.stdout!r}")
            check(b"starts at seq 3" in p.stdout, f"stdout {p.stdout!r}")
            out2 = path("paged.json")
            p = b.admin(admin_key, "audit", "--out", out2, "--page-size", "1")
            eq(p.returncode, 0, f"export --page-size 1: {p.stderr!r}")
            eq(json.load(open(out2))["entries"], state["log"]["entries"], "page size 1 gives the same log")
            r = request(b.port, "GET", "/kbs/v0/admin/audit?since=0")
            eq(r.status, 401, "no admin token")
        T("--since and --page-size page through the log; the export verifies from its first seq", paging)

        def fail_closed():
            db = sqlite3.connect(path("b.db"), timeout=10)
            db.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'no'); END")
            db.commit()
            try:
                r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", cookie=state["cookie"])
                eq(r.status, 401, f"status {r!r}")
                eq(r.variant, "PluginInternalError", "variant")
                check("Release log error" in r.detail, f"detail {r.detail!r}")
                check(b"ciphertext" not in r.body, "no JWE")
            finally:
                db.execute("DROP TRIGGER no_audit")
                db.commit()
                db.close()
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", cookie=state["cookie"])
            eq(r.status, 200, f"release after the log is writable again: {r!r}")
            out = path("after.json")
            eq(b.admin(admin_key, "audit", "--out", out).returncode, 0, "export")
            log = json.load(open(out))
            eq([e["outcome"] for e in log["entries"]][6:], ["released"], "the refused release left no entry")
            eq(verify(out, "--url", b.url).returncode, 0, "the chain is intact")
        T("fail closed: when the log cannot be appended the resource is not released", fail_closed)

        def restart():
            b.stop()
            check(b.start() is None, "restart")
            r = request(b.port, "GET", "/kbs/v0/resource/default/key/k1", bearer=state["token"])
            eq(r.status, 200, f"release after restart: {r!r}")
            out = path("restart.json")
            eq(b.admin(admin_key, "audit", "--out", out).returncode, 0, "export")
            eq(len(json.load(open(out))["entries"]), 8, "entries")
            p = verify(out, "--jwks", path("jwks.json"))
            eq(p.returncode, 0, f"verify with the JWKS saved before the restart: {p.stdout!r}")
        T("the chain continues across a restart (same token key, same JWKS)", restart)

        def pruned():
            p = b.admin(admin_key, "audit-prune", "--through", "8")
            eq(p.returncode, 2, f"the head's entry stays: {p.stdout!r} {p.stderr!r}")
            check(b"below the head (seq 8)" in p.stderr, f"stderr {p.stderr!r}")
            p = b.admin(admin_key, "audit-prune", "--through", "5")
            eq(p.returncode, 0, f"audit-prune: {p.stderr!r}")
            check(b"5 entries deleted" in p.stdout, f"stdout {p.stdout!r}")
            eq(b.admin(admin_key, "audit-prune", "--through", "3").returncode, 2, "already pruned")
            db = sqlite3.connect(path("b.db"), timeout=10)
            eq(db.execute("SELECT min(seq), count(*) FROM audit").fetchone(), (6, 3), "rows left")
            db.close()
            out = path("pruned.json")
            p = b.admin(admin_key, "audit", "--out", out)
            eq(p.returncode, 0, f"export after the prune: {p.stderr!r}")
            check(b"pruned" in p.stderr, f"says the export starts after the checkpoint: {p.stderr!r}")
            log = json.load(open(out))
            eq(log["since"], 5, "since")
            eq([e["seq"] for e in log["entries"]], [6, 7, 8], "the rows kept")
            # the oracle: jwcrypto verifies the checkpoint with the published key
            tok = jws.JWS()
            tok.deserialize(log["checkpoint"])
            tok.verify(state["key"])
            eq(json.loads(tok.objects["protected"])["typ"], "veritee-audit-checkpoint+jwt", "typ")
            ck = json.loads(tok.payload)
            eq((ck["seq"], ck["hash"]), (5, state["log"]["entries"][4]["hash"]), "signs entry 5's hash")
            eq(log["entries"][0]["prev"], ck["hash"], "entry 6 links to it")
            p = verify(out, "--url", b.url)
            eq(p.returncode, 0, f"verify: {p.stdout!r}")
            check(b"signed checkpoint at seq 5" in p.stdout, f"stdout {p.stdout!r}")
            # rows deleted by hand behind the broker's back are still found
            db = sqlite3.connect(path("b.db"), timeout=10)
            db.execute("DELETE FROM audit WHERE seq = 6")
            db.commit()
            db.close()
            out = path("pruned-by-hand.json")
            eq(b.admin(admin_key, "audit", "--out", out).returncode, 0, "export")
            p = verify(out, "--url", b.url)
            eq(p.returncode, 1, f"a row deleted by hand: {p.stdout!r}")
            check(b"seq 6 is missing" in p.stdout, f"stdout {p.stdout!r}")
        T("audit-prune: the oldest entries go, a signed checkpoint stays, the rest verifies from it", pruned)
    except Exception as e:  # noqa: BLE001 - setup errors become one failed case
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup)", reraise)
    finally:
        if b is not None:
            b.stop()
        if tap.failed or os.environ.get("VERITEE_IT_KEEP"):
            print(f"# test directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
