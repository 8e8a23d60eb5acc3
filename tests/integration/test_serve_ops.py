#!/usr/bin/env python3
"""`veritee serve` for the people who run it (issue 16, set-up and operations):

* --check-config: exit 0 on a usable config without creating a file or
  listening; exit 2 with a message naming the setting on each kind of
  mistake (missing or unreadable files, TLS pair, listen address, TEE option
  paths, key modes, unknown members).
* warnings at start: no admin key; INSECURE sim accepted on a non-loopback
  listener; none on a sound loopback config.
* SIGHUP: a reference value and then a resource policy written straight
  into the broker's SQLite store take effect only when the broker gets
  SIGHUP (its answers to a real `get-resource --tee sim` flip each time); a
  reload that fails leaves the policies in force; a policy set through a
  second broker on the same store is in force after SIGHUP.
* sd_notify: with NOTIFY_SOCKET set to a datagram socket this test binds,
  READY=1 arrives and the port accepts right then; SIGHUP gives RELOADING=1
  then READY=1; SIGTERM gives STOPPING=1 and exit 0.

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_serve_ops.py
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbs_helpers as kh  # noqa: E402
from kbs_helpers import DEFAULT_MEASUREMENT, Broker, Tap, check, eq, run  # noqa: E402


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def check_config(tmp, name, settings):
    """Write settings to NAME.json and run --check-config on it."""
    path = os.path.join(tmp, name + ".json")
    write_json(path, settings)
    return run(["serve", "--config", path, "--check-config"])


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise kh.TestFailure(f"timed out waiting for {what}")


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="veritee-serve-ops-")
    path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    brokers = []
    procs = []
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(kh.TestFailure("overall time limit")))
    signal.alarm(int(os.environ.get("VERITEE_IT_TIMEOUT", "150")))
    try:
        check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
        p = run(["attest", "--tee", "sim", "--sim-dir", path("sim"), "--report-data", "00"])
        check(p.returncode == 0, f"sim keys: {p.stderr!r}")
        admin_key = path("admin.key")
        p = run(["admin", "keygen", admin_key])
        check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
        sound = {"listen": "127.0.0.1:0", "database": "cc.db", "master_key": "cc.master",
                 "token_signing_key": "cc-token.key", "admin_public_keys": ["admin.key.pub"],
                 "tees": {"sim": {"root": "sim/sim-root.pem"}}}

        # ------------------------------------------------------- --check-config
        def check_ok():
            before = set(os.listdir(tmp))
            p = check_config(tmp, "cc-ok", sound)
            eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
            check(b"usable" in p.stdout and b"http://127.0.0.1:0" in p.stdout, f"stdout {p.stdout!r}")
            check(b"warning" not in p.stderr, f"no warning on a sound config: {p.stderr!r}")
            eq(sorted(set(os.listdir(tmp)) - before), ["cc-ok.json"], "files created by --check-config")
            # An existing store and keys (after a real start) are read, not changed.
            b = Broker(tmp, "cc-real", sound)
            brokers.append(b)
            check(b.start() is None, "broker with the sound config did not start")
            b.stop()
            mtimes = {f: os.stat(path(f)).st_mtime_ns for f in ("cc.db", "cc.master", "cc-token.key")}
            p = check_config(tmp, "cc-ok", sound)
            eq(p.returncode, 0, f"exit code with existing files (stderr {p.stderr!r})")
            eq({f: os.stat(path(f)).st_mtime_ns for f in mtimes}, mtimes, "store and keys untouched")
        tap.run("--check-config: a usable config exits 0, creates and changes nothing", check_ok)

        def bad(name, change, *needles, drop=()):
            def case():
                settings = dict(sound, **change)
                for k in drop:
                    settings.pop(k, None)
                p = check_config(tmp, "cc-" + name, settings)
                eq(p.returncode, 2, f"exit code (stdout {p.stdout!r}, stderr {p.stderr!r})")
                err = p.stderr.decode(errors="replace")
                check(f"cc-{name}.json" in err, f"the message names the config file: {err!r}")
                for n in needles:
                    check(n in err, f"stderr lacks {n!r}: {err!r}")
                check(not os.path.exists(path("cc-" + name + ".db")), "a database was created")
            return case

        cases = [
            ("unknown member", bad("unknown", {"listne": "127.0.0.1:1"}, "listne")),
            ("missing database", bad("nodb", {}, "database", drop=("database",))),
            ("database in a missing directory", bad("dbdir", {"database": "no/such/dir/kbs.db"}, "field=database",
                                                    "cannot be created")),
            ("sim root that is not there", bad("simroot", {"tees": {"sim": {"root": "sim/nope.pem"}}}, "nope.pem")),
            ("TEE option path that is not there", bad("snpcerts", {"tees": {"snp": {"certs": "no-certs"}}},
                                                      "tees.snp.certs", "no-certs")),
            ("option a TEE does not have", bad("teeopt", {"tees": {"sim": {"root": "sim/sim-root.pem", "x": 1}}},
                                               "\"x\"")),
            ("admin key file missing", bad("admin", {"admin_public_keys": ["nope.pub"]}, "nope.pub")),
            ("tls_cert without tls_key", bad("tlshalf", {"tls_cert": "admin.key.pub"}, "tls_key")),
            ("listen host that is not an address", bad("host", {"listen": "example.org:8080"}, "listen",
                                                        "IP address")),
            ("plain HTTP on a public address", bad("plain", {"listen": "0.0.0.0:8080"}, "refusing plain HTTP",
                                                   "insecure_http")),
        ]
        for name, fn in cases:
            tap.run(f"--check-config: {name} exits 2 with a message naming it", fn)

        def master_mode():
            with open(path("loose.master"), "wb") as f:
                f.write(os.urandom(32))
            os.chmod(path("loose.master"), 0o644)
            bad("mode", {"master_key": "loose.master"}, "chmod 600")()
            eq(stat.S_IMODE(os.stat(path("loose.master")).st_mode), 0o644, "mode left as it was")
        tap.run("--check-config: a master key readable by others exits 2 (chmod 600)", master_mode)

        def state_dir_later():
            s = dict(sound, database="state/kbs.db", master_key="state/master.key",
                     token_signing_key="state/token.key")
            p = check_config(tmp, "cc-state", s)
            eq(p.returncode, 0, f"exit code (stderr {p.stderr!r})")
            check(b"directory" in p.stderr and b"does not exist yet" in p.stderr and b"StateDirectory" in p.stderr,
                  f"a note on the missing state directory: {p.stderr!r}")
            check(not os.path.exists(path("state")), "the directory was made")
        tap.run("--check-config: a state directory not made yet (systemd makes it) is a note, exit 0",
                state_dir_later)

        def tls_pair():
            if shutil.which("openssl") is None:
                raise kh.TestFailure("openssl command missing")
            for n in ("a", "b"):
                subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                "-nodes", "-keyout", path(f"tls-{n}.key"), "-out", path(f"tls-{n}.pem"), "-days", "2",
                                "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
                os.chmod(path(f"tls-{n}.key"), 0o600)
            p = check_config(tmp, "cc-tls", dict(sound, tls_cert="tls-a.pem", tls_key="tls-a.key"))
            eq(p.returncode, 0, f"matching pair (stderr {p.stderr!r})")
            check(b"https://" in p.stdout, f"stdout {p.stdout!r}")
            bad("tlsmix", {"tls_cert": "tls-a.pem", "tls_key": "tls-b.key"}, "not the key of the certificate")()
        if shutil.which("openssl"):
            tap.run("--check-config: TLS certificate and key must belong together", tls_pair)
        else:
            tap.skip("--check-config: TLS certificate and key must belong together", "no openssl command")

        # ------------------------------------------------------------- warnings
        def start_warnings(name, settings):
            b = Broker(tmp, name, settings)
            brokers.append(b)
            res = b.start()
            check(res is None, f"{name} did not start: {res!r}")
            b.stop()
            return b.stderr_text().decode(errors="replace")

        def warn_no_admin():
            s = dict(sound, database="w1.db", master_key="w1.master")
            s.pop("admin_public_keys")
            err = start_warnings("w1", s)
            check("warning: no admin key is configured" in err, f"stderr {err!r}")
            check("warning: INSECURE" not in err, f"no sim warning on loopback: {err!r}")
        tap.run("start: warns when no admin key is configured", warn_no_admin)

        def warn_sim_public():
            s = dict(sound, database="w2.db", master_key="w2.master", listen="0.0.0.0:0", insecure_http=True)
            err = start_warnings("w2", s)
            check("warning: INSECURE simulated evidence (sim" in err and "0.0.0.0" in err, f"stderr {err!r}")
            check("no admin key" not in err, f"admin keys are configured: {err!r}")
            p = check_config(tmp, "w2-check", s)
            eq(p.returncode, 0, "check-config exit code")
            check(b"warning: INSECURE simulated evidence" in p.stderr, f"--check-config warns too: {p.stderr!r}")
        tap.run("start: warns when sim is accepted on a non-loopback listener", warn_sim_public)

        def no_warning():
            err = start_warnings("w3", dict(sound, database="w3.db", master_key="w3.master"))
            check("warning" not in err, f"stderr {err!r}")
        tap.run("start: no warning with an admin key and sim on loopback", no_warning)

        # --------------------------------------------------------------- SIGHUP
        # The store is changed behind the broker's back (an operator's SQL,
        # a restore): nothing but SIGHUP makes the broker read it again.
        shared = {"listen": "127.0.0.1:0", "database": "shared.db", "master_key": "shared.master",
                  "admin_public_keys": ["admin.key.pub"], "tees": {"sim": {"root": "sim/sim-root.pem"}}}
        bb = Broker(tmp, "b", dict(shared, token_signing_key="b-token.key"))
        brokers.append(bb)
        check(bb.start() is None, "broker b did not start")
        with open(path("secret"), "wb") as f:
            f.write(b"the reloaded secret")
        p = bb.admin(admin_key, "set-resource", "ops/key/one", path("secret"))
        check(p.returncode == 0, f"set-resource: {p.stderr!r}")

        def fetch(b):
            return run(["get-resource", b.url, "kbs:///ops/key/one", "--tee", "sim", "--sim-dir", path("sim")])

        def log_count(b, what):
            return b.stderr_text().count(what)

        def hup(b, what=b"reloaded"):
            n = log_count(b, what)
            b.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: log_count(b, what) > n, 20, f"the log line {what!r}")

        def sql(statement, *args):
            db = sqlite3.connect(path("shared.db"), timeout=20)
            try:
                with db:
                    db.execute(statement, args)
            finally:
                db.close()

        closed = json.dumps({"version": 1, "id": "resource-policy", "rules": [
            {"name": "closed-for-maintenance", "claim": "/submods/*/ear.status", "equals": "maintenance"}]})

        def refval_reload():
            p = fetch(bb)
            eq(p.returncode, 1, f"refused before the reference value exists (stderr {p.stderr!r})")
            sql("INSERT OR REPLACE INTO kv(ns, key, value) VALUES('refval', 'sim_measurement', ?)",
                json.dumps([DEFAULT_MEASUREMENT]))
            time.sleep(1.0)
            p = fetch(bb)
            eq(p.returncode, 1, f"still refused before SIGHUP (stderr {p.stderr!r})")
            hup(bb)
            p = fetch(bb)
            eq(p.returncode, 0, f"released after SIGHUP (stderr {p.stderr!r})")
            eq(p.stdout, b"the reloaded secret", "secret")
            p = bb.admin(admin_key, "get-reference-value", "sim_measurement")
            check(p.returncode == 0 and DEFAULT_MEASUREMENT.encode() in p.stdout, f"the value: {p.stdout!r}")
        tap.run("SIGHUP: a reference value written into the store takes effect", refval_reload)

        def policy_reload():
            sql("INSERT OR REPLACE INTO kv(ns, key, value) VALUES('policy', 'resource-policy', ?)", closed)
            eq(fetch(bb).returncode, 0, "still released before SIGHUP")
            hup(bb)
            p = fetch(bb)
            eq(p.returncode, 1, "refused after SIGHUP")
            check(b"closed-for-maintenance" in p.stderr, f"the refusal names the new rule: {p.stderr!r}")
        tap.run("SIGHUP: a resource policy written into the store takes effect", policy_reload)

        def bad_reload():
            sql("INSERT OR REPLACE INTO kv(ns, key, value) VALUES('policy', 'resource-policy', ?)", "{not json")
            hup(bb, b"reload (the previous policies stay in force)")
            check(bb.alive(), "the broker survives a failed reload")
            p = fetch(bb)
            eq(p.returncode, 1, "the previous policy is still in force")
            check(b"closed-for-maintenance" in p.stderr, f"the previous rule: {p.stderr!r}")
            sql("DELETE FROM kv WHERE ns = 'policy' AND key = 'resource-policy'")
            hup(bb)
            eq(fetch(bb).returncode, 0, "the shipped default policy is back once the stored one is gone")
        tap.run("SIGHUP: a reload that fails keeps the policies in force; a deleted one reverts to the default",
                bad_reload)

        def replica_reload():
            a = Broker(tmp, "a", dict(shared, token_signing_key="a-token.key"))
            brokers.append(a)
            check(a.start() is None, "broker a did not start")
            write_json(path("closed.json"), json.loads(closed))
            p = a.admin(admin_key, "set-resource-policy", path("closed.json"))
            eq(p.returncode, 0, f"set-resource-policy through a: {p.stderr!r}")
            hup(bb)
            p = fetch(bb)
            eq(p.returncode, 1, "b refuses after SIGHUP")
            check(b"closed-for-maintenance" in p.stderr, f"b names the rule set through a: {p.stderr!r}")
            eq(a.stop(), 0, "a's exit code")
        tap.run("SIGHUP: a policy set through another broker on the same store is in force after it",
                replica_reload)

        def stop_clean():
            eq(bb.stop(), 0, "exit code after the reloads")
        tap.run("SIGHUP: the broker stops cleanly afterwards (exit 0)", stop_clean)

        # ------------------------------------------------------------ sd_notify
        def notify():
            sock_path = path("notify.sock")
            ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            ns.bind(sock_path)
            ns.settimeout(30)
            port = kh.free_port()
            cfg = path("n.json")
            write_json(cfg, dict(sound, listen=f"127.0.0.1:{port}", database="n.db", master_key="n.master",
                                 token_signing_key="n-token.key"))
            env = dict(os.environ, NOTIFY_SOCKET=sock_path)
            errf = open(path("n.stderr"), "wb")
            proc = subprocess.Popen([kh.VBIN, "serve", "--config", cfg], env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=errf)
            procs.append(proc)

            def recv():
                try:
                    return ns.recv(4096).decode()
                except socket.timeout:
                    raise kh.TestFailure(f"no notification within 30 s; stderr {open(path('n.stderr'), 'rb').read()!r}")
            msg = recv()
            lines = msg.split("\n")
            check("READY=1" in lines, f"first notification is READY=1: {msg!r}")
            # READY=1 means listening: the port accepts right now.
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.close()
            r = kh.request(port, "GET", "/healthz")
            eq(r.status, 200, "/healthz right after READY=1")
            check(any(x.startswith("STATUS=") for x in lines), f"a STATUS= line: {msg!r}")
            proc.send_signal(signal.SIGHUP)
            msg = recv()
            check("RELOADING=1" in msg.split("\n"), f"SIGHUP: RELOADING=1 first: {msg!r}")
            check(any(x.startswith("MONOTONIC_USEC=") for x in msg.split("\n")), f"with MONOTONIC_USEC: {msg!r}")
            msg = recv()
            check("READY=1" in msg.split("\n"), f"then READY=1: {msg!r}")
            proc.send_signal(signal.SIGTERM)
            msg = recv()
            check("STOPPING=1" in msg.split("\n"), f"SIGTERM: STOPPING=1: {msg!r}")
            eq(proc.wait(timeout=20), 0, "exit code")
            errf.close()
            ns.close()
        tap.run("sd_notify: READY=1 once the port accepts, RELOADING=1/READY=1 on SIGHUP, STOPPING=1", notify)
    except Exception as e:  # noqa: BLE001
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        for b in brokers:
            b.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
