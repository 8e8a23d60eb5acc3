#!/usr/bin/python3
"""Three replicas on PostgreSQL behind HAProxy act as one broker, and lose
nothing when one dies (issue 15).  The short fault test of `make test`: about
a minute; the long runs are bench/cluster_bench.py.

Run from the repo root:
  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_cluster.py
Starts PostgreSQL (tests/pg-server.sh), three `veritee serve` and HAProxy on
127.0.0.1 ports chosen at run time, stops them at the end, also on failure.
Skips, saying why, without the PostgreSQL server or HAProxy.
"""
import glob
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster as cl  # noqa: E402
import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Tap, Tee, check, eq  # noqa: E402


def cases(tap, c):
    r0, r1, r2 = c.brokers

    def crosses_replicas():
        # Explicitly: /auth on r0, /attest on r1, /resource on r2.
        tee = Tee(c.sim_dir)
        cookie, nonce = kh.auth(r0.port)
        ev = tee.evidence(nonce)
        r = kh.attest(r1.port, cookie, kh.attest_body(nonce, tee.pub, ev))
        check(r.status == 200, f"/attest on r1 after /auth on r0: {r!r}")
        r = kh.request(r2.port, "GET", f"/kbs/v0/resource/{c.resource}", cookie=cookie)
        check(r.status == 200, f"/resource on r2: {r!r}")
        eq(tee.decrypt(r.body), c.secret, "secret released by r2")
        # The cookie is the session (~190 characters, authenticated): the
        # database has no row for it until /attest.
        check(len(cookie) > 100, f"session cookie: {cookie!r}")
        # veritee's own client, through HAProxy, keeps that cookie whole.
        p = subprocess.run([os.environ["VERITEE_BIN"], "get-resource", c.front_url, "kbs:///" + c.resource,
                            "--tee", "sim", "--sim-dir", c.sim_dir], capture_output=True, timeout=60)
        check(p.returncode == 0 and p.stdout == c.secret, f"veritee get-resource through HAProxy: {p!r}")
        # On replicas the token and the sealed resource come in one round trip;
        # what is refused, and when, is as on one broker: a missing resource
        # after the policy; a Bearer token without a cookie; a bad cookie.
        r = kh.request(r1.port, "GET", "/kbs/v0/resource/default/key/absent", cookie=cookie)
        kh.expect_err(r, 401, "PluginInternalError", "resource not found")
        cookie2, token, _ = kh.full_attest(r0.port, tee)
        r = kh.request(r2.port, "GET", f"/kbs/v0/resource/{c.resource}", bearer=token)
        check(r.status == 200, f"Bearer token on r2: {r!r}")
        eq(tee.decrypt(r.body), c.secret, "secret released for a Bearer token")
        r = kh.request(r2.port, "GET", f"/kbs/v0/resource/{c.resource}", cookie=cookie2[:-4] + "AAAA")
        kh.expect_err(r, 401, "TokenNotFound")
        # Through HAProxy (round-robin per request): every replica serves every step.
        res = c.load(4, 3)
        check(res["rounds"] > 20 and res["errors"] == 0 and res["mismatch"] == 0, f"load through HAProxy: {res}")
        for b in c.brokers:
            m = c.metrics(b)
            check(m.get("veritee_auth_total", 0) > 0 and m.get('veritee_attestations_total{result="ok"}', 0) > 0
                  and m.get('veritee_resource_requests_total{result="released"}', 0) > 0,
                  f"{b.name} did not serve every step: {m}")
    tap.run("a round's steps on three replicas (auth r0, attest r1, resource r2; and round-robin through HAProxy)",
            crosses_replicas)

    def nonce_once():
        for i in range(6):
            tee = Tee(c.sim_dir)
            cookie, nonce = kh.auth(r0.port)
            body = kh.attest_body(nonce, tee.pub, tee.evidence(nonce))
            results = [None, None]
            go = threading.Barrier(2)

            def send(k, b):
                go.wait()
                results[k] = kh.attest(b.port, cookie, body)
            ts = [threading.Thread(target=send, args=(k, b)) for k, b in enumerate((r1, r2))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            ok = [r for r in results if r.status == 200]
            refused = [r for r in results if r.status == 401 and "nonce already used" in r.detail]
            check(len(ok) == 1 and len(refused) == 1, f"round {i}: want one 200 and one 'nonce already used': {results}")
    tap.run("the same nonce sent to two replicas at once: exactly one attestation succeeds (6 times)", nonce_once)

    def policy_reaches_all():
        # A reference value registered on r0 is served by r1 and r2 within a second.
        val = "v-" + str(time.time())
        t0 = time.monotonic()
        r = c.set_refvals({"cluster_probe": val}, r0)
        check(r.status == 200, f"set on r0: {r!r}")
        seen = {}
        while time.monotonic() - t0 < 3 and len(seen) < 2:
            for b in (r1, r2):
                if b.name in seen:
                    continue
                g = c.admin_request(b.port, "GET", "/kbs/v0/reference-value/cluster_probe", None)
                if g.status == 200 and g.json() == val:
                    seen[b.name] = time.monotonic() - t0
            time.sleep(0.02)
        check(len(seen) == 2, f"not every replica saw the change within 3 s: {seen}")
        worst = max(seen.values())
        print(f"# reference value reached r1, r2 after {seen['r1'] * 1000:.0f} / {seen['r2'] * 1000:.0f} ms")
        check(worst < 1.0, f"slower than a second: {seen}")
    tap.run("a reference-value change reaches every replica within a second, no restart", policy_reaches_all)

    def sigkill_mid_load():
        # A session opened on r1 before it dies ...
        tee = Tee(c.sim_dir)
        cookie, nonce = kh.auth(r1.port)
        proc = c.load_async(8, 8, retries=1)
        time.sleep(3)
        r1.proc.send_signal(signal.SIGKILL)
        r1.proc.wait()
        # ... is served by the survivors: it lives in the database.
        r = kh.attest(r0.port, cookie, kh.attest_body(nonce, tee.pub, tee.evidence(nonce)))
        check(r.status == 200, f"/attest on r0 of a session made on the dead r1: {r!r}")
        r = kh.request(r2.port, "GET", f"/kbs/v0/resource/{c.resource}", cookie=cookie)
        check(r.status == 200 and tee.decrypt(r.body) == c.secret, f"/resource on r2: {r!r}")
        res = c.result(proc)
        print(f"# SIGKILL of r1 mid-load: {res}")
        check(res["rounds"] > 50, f"too few rounds: {res}")
        eq(res["errors"], 0, f"rounds failed after one retry ({res})")
        eq(res["mismatch"], 0, f"secrets that differ ({res})")
        # The survivors keep serving.
        res = c.load(4, 2)
        check(res["errors"] == 0 and res["rounds"] > 0, f"after the kill: {res}")
    tap.run("SIGKILL of a replica mid-load: zero failed rounds after one client retry, no secret differs; "
            "a session made on the dead replica is served by the others",
            sigkill_mid_load)

    def sigkill_during_admin_writes():
        acked, stop = [], threading.Event()
        run_id = str(int(time.time()))

        def writer(k):
            n = 0
            while not stop.is_set():
                key = f"w{run_id}_{k}_{n}"
                try:
                    r = c.set_refvals({key: f"value-{k}-{n}"})
                    if r.status == 200:
                        acked.append((key, f"value-{k}-{n}"))
                    r = c.set_resource(f"acked/{k}/{n}", f"secret-{k}-{n}".encode())
                    if r.status == 200:
                        acked.append((f"acked/{k}/{n}", None))
                except OSError:
                    pass  # a connection cut by the kill: not acknowledged
                n += 1
        ts = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        time.sleep(1.5)
        r2.proc.send_signal(signal.SIGKILL)
        r2.proc.wait()
        time.sleep(1.5)
        stop.set()
        for t in ts:
            t.join()
        check(len(acked) > 20, f"too few acknowledged writes: {len(acked)}")
        refvals = dict(line.split("|", 1) for line in c.sql(
            "SELECT key || '|' || value FROM kv WHERE ns = 'refval' AND key LIKE 'w%'").splitlines() if "|" in line)
        paths = set(c.sql("SELECT path FROM resources WHERE path LIKE 'acked/%'").splitlines())
        lost = [k for k, v in acked if (v is None and k not in paths) or
                (v is not None and refvals.get(k) != '"' + v + '"')]
        print(f"# {len(acked)} acknowledged admin writes during the SIGKILL of r2; lost: {len(lost)}")
        eq(lost, [], "acknowledged writes missing from the database")
        # And the surviving replica serves them (reference values via its memory).
        key, val = next((k, v) for k, v in acked if v is not None)
        g = c.admin_request(r0.port, "GET", f"/kbs/v0/reference-value/{key}", None)
        check(g.status == 200 and g.json() == val, f"r0 does not serve {key}: {g!r}")
    tap.run("SIGKILL of a replica during admin writes: every acknowledged write is in the database afterwards",
            sigkill_during_admin_writes)

    def pg_outage():
        # Down: /readyz says why, requests fail fast with 503 and Retry-After.
        p = c.pg("halt", c.pg_dir)
        check(p.returncode == 0, f"halt: {p.stderr}")
        try:
            r = kh.request(r0.port, "GET", "/readyz")
            check(r.status == 503 and "database" in r.json().get("reason", ""), f"/readyz while down: {r!r}")
            worst = 0.0
            for _ in range(10):
                t0 = time.monotonic()
                r = kh.request(r0.port, "POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "sim", "extra-params": {}})
                worst = max(worst, time.monotonic() - t0)
                check(r.status == 503 and r.headers.get("retry-after"), f"/auth while down: {r!r}")
            print(f"# database down: /auth answered 503 in at most {worst * 1000:.1f} ms")
            check(worst < 0.5, f"not fast: {worst:.3f} s")
            check(r0.alive(), "r0 exited while the database was down")
        finally:
            p = c.pg("start-again", c.pg_dir)
        check(p.returncode == 0, f"start-again: {p.stderr}")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            if kh.request(r0.port, "GET", "/readyz").status == 200:
                break
            time.sleep(0.1)
        print(f"# ready again {(time.monotonic() - t0) * 1000:.0f} ms after the database came back")
        eq(kh.request(r0.port, "GET", "/readyz").status, 200, "/readyz after the database came back")
        # A restart mid-load: failures are fast, then rounds succeed again by themselves.
        proc = c.load_async(4, 6)
        time.sleep(2)
        p = c.pg("restart", c.pg_dir)
        check(p.returncode == 0, f"restart: {p.stderr}")
        res = c.result(proc)
        print(f"# PostgreSQL restarted mid-load: {res}")
        check(res["rounds"] > 20, f"did not recover: {res}")
        res = c.load(4, 2)
        check(res["errors"] == 0 and res["rounds"] > 0, f"after the restart: {res}")
        check(all(b.alive() for b in (r0,)), "a replica exited")
    tap.run("PostgreSQL down: /readyz 503 with the reason, requests 503 fast; back: recovers by itself "
            "(also a restart mid-load)", pg_outage)

    def clean_exit():
        # The replicas that were not killed stop on SIGTERM with exit 0, no
        # sanitizer report, and no secret or password in their logs.
        for b in c.brokers:
            killed = b.proc is not None and b.proc.poll() is not None
            rc = b.stop()
            text = b.stderr_text()
            check(b"Sanitizer" not in text and b"runtime error" not in text, f"{b.name}: sanitizer report")
            check(c.secret not in text, f"{b.name} logged the secret")
            if not killed:
                eq(rc, 0, f"{b.name} exit status on SIGTERM")
    tap.run("every replica still running stops cleanly on SIGTERM; no sanitizer report, no secret in any log",
            clean_exit)


def main():
    tap = Tap()
    if not cl.have_haproxy():
        tap.skip("replicas behind HAProxy", "haproxy not installed (scripts/install-deps.sh test installs it)")
        return tap.finish()
    if subprocess_missing_pg():
        tap.skip("replicas on PostgreSQL", "PostgreSQL server not installed (scripts/install-deps.sh test)")
        return tap.finish()
    if not os.path.exists(cl.bench_bin()):
        tap.skip("replicas under load", f"{cl.bench_bin()} not built (make {cl.bench_bin()})")
        return tap.finish()
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    c = cl.Cluster(replicas=3, name="it-cluster")
    try:
        c.start()
        cases(tap, c)
    except Exception as e:  # noqa: BLE001 - report, then stop everything
        tap.failed += 1
        tap.n += 1
        print(f"not ok {tap.n} - cluster setup or run: {e}")
    finally:
        c.stop()
    return tap.finish()


def subprocess_missing_pg():
    # Where tests/pg-server.sh looks: $PG_BIN, else /usr/lib/postgresql/*/bin.
    pg_bin = os.environ.get("PG_BIN")
    if pg_bin:
        return not os.access(f"{pg_bin}/initdb", os.X_OK)
    return not glob.glob("/usr/lib/postgresql/*/bin/initdb")


if __name__ == "__main__":
    sys.exit(main())
