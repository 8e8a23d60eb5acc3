#!/usr/bin/python3
"""Hardening tests of `veritee serve`: resource exhaustion, HTTP framing,
path/log injection, admin token claims, key file modes, default deny and
oversized TEE keys.

Run from the repo root:
    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_broker_hardening.py
Prints TAP.  Brokers listen on 127.0.0.1 (port 0) in a temporary directory;
"other clients" connect from other loopback source addresses (127.0.0.2 ...
127.0.0.28: all of 127.0.0.0/8 routes to lo on Linux).  Every loop is
bounded in count and time; the whole file takes well under 2.5 minutes
(overall limit VERITEE_IT_TIMEOUT, default 150 s).

Settings this binary does not know (the broker refuses an unknown key) are
dropped and the broker started without them, so that the case still runs
against the old behaviour; the case then fails and names the settings.

`--trickle-attacker JSON` is an internal mode: the slow-header attacker of
case 1 runs in its own process so that it does not share the GIL with the
legitimate client whose latency is measured.
"""
import errno
import hashlib
import http.client
import json
import math
import os
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

if __name__ == "__main__" and "--trickle-attacker" not in sys.argv:
    try:
        import jwcrypto  # noqa: F401 - only whether it is there
    except ImportError:  # e.g. a pyenv python3 first on PATH: use Debian's
        if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != "/usr/bin/python3":
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        raise

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MONO = time.monotonic

# ------------------------------------------------------------------------------
# Case 1's attacker process (stdlib only; imported before jwcrypto is needed)


def trickle_attacker(cfg):
    """Hold `n` connections from `src`, each sending one header byte every
    `interval` s and never finishing the headers; reopen up to `reopen` closed
    ones per tick.  Prints "ready <monotonic>" after the first burst; at the end
    writes cfg["out"]: every connection's timeline (absolute monotonic times)."""
    port, src, n = cfg["port"], cfg["src"], cfg["n"]
    interval, duration, reopen = cfg["interval"], cfg["duration"], cfg["reopen"]
    payload = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: " + b"a" * 100000
    sel = selectors.DefaultSelector()
    recs = []
    t_start = MONO()

    def closed(rec, sock, how):
        if rec["t_closed"] is None:
            rec["t_closed"] = MONO()
            rec["how"] = how
        if sock is not None:
            try:
                sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def open_one(cohort):
        rec = {"cohort": cohort, "t_open": MONO(), "t_conn": None, "t_closed": None, "how": None, "sent": 0,
               "resp": ""}
        recs.append(rec)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            err = s.connect_ex(("127.0.0.1", port))
        except OSError as e:
            err = e.errno or -1
        if err not in (0, errno.EINPROGRESS):
            closed(rec, None, f"connect-error {errno.errorcode.get(err, err)}")
            s.close()
            return
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, rec)

    def send_byte(sock, rec):
        if rec["sent"] >= len(payload):
            return
        try:
            k = sock.send(payload[rec["sent"]:rec["sent"] + 1])
            rec["sent"] += k
        except BlockingIOError:
            pass
        except OSError as e:
            closed(rec, sock, f"send-error {errno.errorcode.get(e.errno, e.errno)}")

    for _ in range(n):
        open_one(0)
    ready_sent = False
    next_tick = MONO() + interval
    to_reopen = 0
    ticks = []
    while MONO() - t_start < duration:
        if not ready_sent and (MONO() - t_start > 0.5 or all(r["t_conn"] or r["t_closed"] for r in recs)):
            print(f"ready {MONO()!r}", flush=True)
            ready_sent = True
        for key, ev in sel.select(timeout=0.05):
            sock, rec = key.fileobj, key.data
            if rec["t_conn"] is None and ev & selectors.EVENT_WRITE:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    closed(rec, sock, f"connect-error {errno.errorcode.get(err, err)}")
                    to_reopen += 1
                    continue
                rec["t_conn"] = MONO()
                sel.modify(sock, selectors.EVENT_READ, rec)
                send_byte(sock, rec)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as e:
                    closed(rec, sock, f"reset {errno.errorcode.get(e.errno, e.errno)}")
                    to_reopen += 1
                    continue
                if not data:
                    closed(rec, sock, "eof")
                    to_reopen += 1
                elif len(rec["resp"]) < 200:
                    rec["resp"] += data[:200].decode("latin-1")
        if MONO() >= next_tick:
            next_tick += interval
            for key in list(sel.get_map().values()):
                if key.data["t_conn"] is not None:
                    send_byte(key.fileobj, key.data)
            k = min(to_reopen, reopen)
            to_reopen -= k
            for _ in range(k):
                open_one(1)
            ticks.append([MONO(), sum(1 for key in sel.get_map().values() if key.data["t_conn"] is not None)])
    if not ready_sent:
        print(f"ready {MONO()!r}", flush=True)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    with open(cfg["out"], "w") as f:
        json.dump({"recs": recs, "ticks": ticks}, f)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--trickle-attacker":
    trickle_attacker(json.loads(sys.argv[2]))
    sys.exit(0)

# ------------------------------------------------------------------------------

import kbs_helpers as kh  # noqa: E402
# kbs_helpers first: under a python without jwcrypto it re-runs the test with Debian's
from jwcrypto import jwk  # noqa: E402
from kbs_helpers import (DEFAULT_MEASUREMENT, Broker, Resp, Tap, Tee, TestFailure, attest_body, b64url,  # noqa: E402
                         check, eq, expect_err, mint_jwt, request, run)

RESOURCE = "/kbs/v0/resource/default/key/k1"
MiB = 1 << 20


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def is_asan(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def p50(xs):
    return statistics.median(xs) if xs else float("nan")


def ms(x):
    return f"{x * 1000:.1f} ms"


# ------------------------------------------------------------------ HTTP


def request_from(src, port, method, path, body=None, headers=None, cookie=None, bearer=None, timeout=10):
    """Like kbs_helpers.request, from loopback source address `src`."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(src, 0))
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


def raw_exchange(port, data, timeout=5.0, src=None):
    """Send raw bytes, read until EOF/reset or `timeout`.
    Returns (answer bytes, closed_by_server, seconds)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    t0 = MONO()
    out, closed = b"", False
    try:
        s.connect(("127.0.0.1", port))
        try:
            s.sendall(data)
        except OSError:
            pass
        while True:
            left = t0 + timeout - MONO()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    finally:
        s.close()
    return out, closed, MONO() - t0


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


AUTH_BODY = json.dumps({"version": "0.4.0", "tee": "sim", "extra-params": {}}).encode()


BLOCK = memoryview(b" " * 262144)


class Conn:
    """A raw non-blocking client connection for the body cases: the head, then
    `queue`d body bytes (spaces, sent from a shared block)."""

    def __init__(self, port, src, head, declared):
        self.src = src
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.bind((src, 0))
        self.s.settimeout(5)
        self.t0 = MONO()
        self.s.connect(("127.0.0.1", port))
        self.s.setblocking(False)
        self.head = head
        self.body_left = 0
        self.sent_body = 0
        self.declared = declared
        self.resp = b""
        self.t_resp = None
        self.closed = None  # time the server closed (EOF/reset), or None
        self.send_error = None

    def queue(self, n):
        self.body_left += n

    @property
    def pending(self):
        return bool(self.head) or self.body_left > 0

    def pump_send(self):
        """Send what is queued without blocking."""
        if self.closed is not None or self.send_error or not self.pending:
            return
        try:
            if self.head:
                k = self.s.send(self.head)
                self.head = self.head[k:]
            else:
                k = self.s.send(BLOCK[:min(self.body_left, len(BLOCK))])
                self.body_left -= k
                self.sent_body += k
        except BlockingIOError:
            pass
        except OSError as e:
            self.send_error = errno.errorcode.get(e.errno, str(e))

    def pump_recv(self):
        if self.closed is not None:
            return
        try:
            data = self.s.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.closed = MONO()
            return
        if not data:
            self.closed = MONO()
            return
        if not self.resp:
            self.t_resp = MONO()
        self.resp += data[:4096]

    @property
    def status(self):
        return status_of(self.resp)

    def close(self):
        self.s.close()


def pump(conns, seconds, send=True, until_sent=False):
    """Drive sends and receives of `conns` for up to `seconds`.  Ends early when
    there is nothing left to send and (until_sent) at once, or else when every
    connection has answered or closed."""
    end = MONO() + seconds
    while MONO() < end:
        live = [c for c in conns if c.closed is None]
        if not live:
            return
        writers = {id(c) for c in live if send and c.pending and not c.send_error}
        if not writers and (until_sent or all(c.resp for c in live)):
            return
        poller = select.poll()
        by = {}
        for c in live:
            fd = c.s.fileno()
            by[fd] = c
            poller.register(fd, select.POLLIN | (select.POLLOUT if id(c) in writers else 0))
        for fd, ev in poller.poll(max(0, min(50, int((end - MONO()) * 1000)))):
            c = by[fd]
            if ev & select.POLLOUT:
                c.pump_send()
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                c.pump_recv()


# ------------------------------------------------------------------ world


class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="veritee-hard-")
        self.brokers = []
        self.path = lambda *p: os.path.join(self.tmp, *p)
        self.asan = is_asan(kh.VBIN)

    def broker(self, name, **settings):
        base = {
            "listen": "127.0.0.1:0",
            "database": f"{name}.db",
            "master_key": f"{name}.master",
            "token_signing_key": f"{name}-token.key",
            "admin_public_keys": ["admin.key.pub"],
            "insecure_sim_root": "sim/sim-root.pem",
            "threads": 2,
        }
        base.update(settings)
        b = Broker(self.tmp, name, base)
        b.dropped = []
        self.brokers.append(b)
        return b

    def start(self, b, lenient=True):
        """Start b.  lenient: a setting this binary refuses as unknown is dropped
        (recorded in b.dropped) and the broker started without it."""
        for _ in range(16):
            seen = os.path.getsize(b.stderr_path) if os.path.exists(b.stderr_path) else 0
            res = b.start()
            if res is None:
                return b
            rc, out, err = res
            err = err[seen:]
            keys = [k.decode() for k in re.findall(rb'unknown setting \W*([A-Za-z0-9_]+)', err)]
            keys = [k for k in dict.fromkeys(keys) if k in b.settings]
            if lenient and keys:
                for key in keys:
                    b.dropped.append(key)
                    del b.settings[key]
                with open(b.config, "w") as f:
                    json.dump(b.settings, f, indent=1)
                continue
            raise TestFailure(f"broker {b.name} did not start: rc={rc} stdout={out!r} stderr={err[-2000:]!r}")
        raise TestFailure(f"broker {b.name}: too many start attempts")

    def admin(self, b, *args, ok=True):
        p = b.admin(self.admin_key, *args)
        if ok and p.returncode != 0:
            raise TestFailure(f"veritee admin {args[0]} on {b.name}: rc={p.returncode} {p.stderr!r}")
        return p

    def provision(self, b):
        """Register the default measurement and store default/key/k1; returns the secret."""
        self.admin(b, "add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT)
        sec = (f"{b.name}-k1-" + os.urandom(12).hex()).encode()
        f = self.path(f"{b.name}-k1.bin")
        with open(f, "wb") as fh:
            fh.write(sec)
        self.admin(b, "set-resource", "default/key/k1", f)
        return sec


def unsupported(*brokers):
    """Text naming settings the binary did not know (empty when all were known)."""
    notes = [f"{b.name}: {', '.join(b.dropped)}" for b in brokers if getattr(b, "dropped", None)]
    return ("settings unknown to this binary (broker started without them): " + "; ".join(notes)) if notes else ""


def with_settings_note(fn, *brokers):
    """Run fn; a failure also names the dropped settings; no failure but dropped
    settings is a failure too (the configured limit was never in force)."""
    def run_it():
        try:
            fn()
        except TestFailure as e:
            note = unsupported(*brokers)
            raise TestFailure(f"{e}\n{note}" if note else str(e)) from None
        note = unsupported(*brokers)
        if note:
            raise TestFailure(note)
    return run_it


def rcar_round(port, tee, secret, src="127.0.0.1", timeout=5):
    """auth -> attest -> resource from `src`; returns the seconds spent in HTTP
    (the local `veritee attest` evidence subprocess is not counted)."""
    spent = 0.0
    t = MONO()
    r = request_from(src, port, "POST", "/kbs/v0/auth", AUTH_BODY, headers={"Content-Type": "application/json"},
                     timeout=timeout)
    spent += MONO() - t
    check(r.status == 200 and r.cookie(), f"/auth: {r!r}")
    cookie, nonce = r.cookie(), r.json()["nonce"]
    ev = tee.evidence(nonce)
    t = MONO()
    r = request_from(src, port, "POST", "/kbs/v0/attest", attest_body(nonce, tee.pub, ev), cookie=cookie,
                     timeout=timeout)
    spent += MONO() - t
    check(r.status == 200, f"/attest: {r!r}")
    t = MONO()
    r = request_from(src, port, "GET", RESOURCE, cookie=cookie, timeout=timeout)
    spent += MONO() - t
    check(r.status == 200, f"resource: {r!r}")
    eq(tee.decrypt(r.body), secret, "released secret")
    return spent


def fresh_jti():
    return os.urandom(16).hex()


class Abort(BaseException):
    pass


def main():
    tap = Tap()
    w = World()

    def abort(signum, frame):
        raise Abort(f"signal {signum}" if signum != signal.SIGALRM else f"overall time limit of {limit} s exceeded")
    limit = int(os.environ.get("VERITEE_IT_TIMEOUT", "150"))
    signal.signal(signal.SIGTERM, abort)
    signal.signal(signal.SIGALRM, abort)
    signal.alarm(limit)
    t_start = MONO()
    try:
        cases(tap, w)
    except Abort as e:
        signal.alarm(0)
        tap.failed += 1
        tap.n += 1
        print(f"not ok {tap.n} - test run aborted\n#   {e}")
    except Exception as e:  # noqa: BLE001
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        for b in w.brokers:
            b.stop()
        print(f"# total {MONO() - t_start:.1f} s")
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {w.tmp}")
        else:
            shutil.rmtree(w.tmp, ignore_errors=True)
    return tap.finish()


def cases(tap, w):
    only = os.environ.get("VERITEE_IT_ONLY", "").replace(",", " ").split()

    def T(name, fn):
        """Run a case; VERITEE_IT_ONLY="1 4a 7" runs only the cases whose id (or its number) is listed."""
        cid = name.split(" ", 1)[0]
        if only and cid not in only and cid.rstrip("abcdefgh") not in only and cid != "every":
            return
        tap.run(name, fn)
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
    nofile = raise_nofile()
    check(nofile >= 4096, f"RLIMIT_NOFILE is only {nofile}")

    p = run(["attest", "--tee", "sim", "--sim-dir", w.path("sim"), "--report-data", "00"])
    check(p.returncode == 0, f"sim keys: {p.stderr!r}")
    w.admin_key = w.path("admin.key")
    p = run(["admin", "keygen", w.admin_key])
    check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
    with open(w.admin_key, "rb") as f:
        admin_jwk = jwk.JWK.from_pem(f.read())
    sim = w.path("sim")
    tee = Tee(sim)

    def admin_token(**claims):
        now = int(time.time())
        c = {"iat": now, "exp": now + 120, "jti": fresh_jti()}
        c.update(claims)
        return mint_jwt(admin_jwk, {k: v for k, v in c.items() if v is not None})

    # --------------------------------------------- 1. idle / trickling connections
    idle_b = w.broker("idle", header_timeout_seconds=3, max_connections=4000, max_connections_per_client=64,
                      idle_timeout_seconds=15)

    def idle_connections():
        w.start(idle_b)
        secret = w.provision(idle_b)
        port = idle_b.port
        per_client, htimeout, n_attack = 64, 3, 1100
        base = [rcar_round(port, tee, secret) for _ in range(10)]
        base_p50 = p50(base)
        cfg = {"port": port, "src": "127.0.0.2", "n": n_attack, "interval": 1.0, "duration": 9.0, "reopen": 250,
               "out": w.path("trickle.json")}
        att = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--trickle-attacker", json.dumps(cfg)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line, t_wait = b"", MONO() + 10
            while b"\n" not in line and MONO() < t_wait:
                r, _, _ = select.select([att.stdout.fileno()], [], [], max(0.0, t_wait - MONO()))
                chunk = os.read(att.stdout.fileno(), 256) if r else b""
                if r and not chunk:
                    break
                line += chunk
            check(line.startswith(b"ready "), f"attacker did not report ready: {line!r}")
            lat, fails = [], []
            t_end = MONO() + cfg["duration"]
            while att.poll() is None and MONO() < t_end and len(lat) + len(fails) < 60:
                t_round = MONO()
                try:
                    lat.append(rcar_round(port, tee, secret))
                except Exception as e:  # noqa: BLE001 - every failure of the legit client counts
                    fails.append(f"{type(e).__name__} after {MONO() - t_round:.1f} s: {str(e)[:200]}")
                time.sleep(0.1)
            out, err = att.communicate(timeout=30)
        finally:
            if att.poll() is None:
                att.kill()
                att.wait()
        check(att.returncode == 0, f"attacker exit {att.returncode}: {err[-2000:]!r}")
        with open(cfg["out"]) as f:
            data = json.load(f)
        recs = [x for x in data["recs"] if x["cohort"] == 0]
        burst_end = max(x["t_open"] for x in recs)
        problems = []
        # legit client
        if fails:
            problems.append(f"legit client failed {len(fails)} of {len(fails) + len(lat)} rounds during the "
                            f"attack, e.g. {fails[:3]}")
        if len(lat) < 5 and not fails:
            problems.append(f"only {len(lat)} legit rounds during the attack")
        if lat and p50(lat) >= 5 * base_p50 + 0.05:
            problems.append(f"legit p50 during the attack {ms(p50(lat))} >= 5 x baseline {ms(base_p50)} + 50 ms")
        # per-client connection cap: promptly refused / closed
        t_check = burst_end + 1.5
        alive = [x for x in recs if x["t_conn"] is not None and (x["t_closed"] is None or x["t_closed"] > t_check)]
        prompt = [x for x in recs if x["t_closed"] is not None and x["t_closed"] - x["t_open"] <= 1.0]
        if len(alive) > per_client:
            problems.append(f"{len(alive)} of {n_attack} connections from 127.0.0.2 still open 1.5 s after the "
                            f"burst (max_connections_per_client {per_client})")
        if len(prompt) < n_attack - per_client:
            problems.append(f"only {len(prompt)} of {n_attack} connections from 127.0.0.2 were refused/closed "
                            f"within 1 s (want >= {n_attack - per_client})")
        # header deadline: accepted trickling connections are closed at about header_timeout_seconds
        if not alive:
            problems.append("no connection from 127.0.0.2 was accepted at all")
        late = [x for x in alive if x["t_closed"] is None or x["t_closed"] - x["t_conn"] > htimeout + 2.5]
        early = [x for x in alive if x["t_closed"] is not None and x["t_closed"] - x["t_conn"] < htimeout - 1.0]
        if late:
            still = sum(1 for x in late if x["t_closed"] is None)
            problems.append(f"{len(late)} accepted trickling connections (1 header byte/s, up to "
                            f"{max(x['sent'] for x in late)} bytes sent) not closed within header_timeout_seconds "
                            f"{htimeout} + 2.5 s; {still} still open when the attacker stopped "
                            f"{cfg['duration']:.0f} s after it started")
        if early:
            problems.append(f"{len(early)} accepted connections closed before {htimeout - 1} s")
        hows = {}
        for x in recs:
            hows[x["how"]] = hows.get(x["how"], 0) + 1
        life = sorted(x["t_closed"] - x["t_conn"] for x in alive if x["t_closed"] is not None)
        info = (f"baseline p50 {ms(base_p50)}, attack p50 {ms(p50(lat)) if lat else '-'} ({len(lat)} ok, "
                f"{len(fails)} failed), first-burst outcomes {hows}, open at +1.5 s: {len(alive)}, their lifetime "
                f"{f'{life[0]:.2f}..{life[-1]:.2f} s' if life else '-'}, reconnects {len(data['recs']) - n_attack}")
        print(f"# idle connections: {info}")
        check(idle_b.alive(), f"broker died: {idle_b.stderr_text()[-2000:]!r}")
        check(not problems, "\n".join(problems + [info]))
    T("1 1,100 trickling connections from 127.0.0.2: legit RCAR latency normal, over-cap connections closed "
      "promptly, trickler closed at header_timeout_seconds (3 s)", with_settings_note(idle_connections, idle_b))

    # --------------------------------------------- 2. unfinished bodies
    body_b = w.broker("body", body_memory_bytes=16 * MiB, body_memory_bytes_per_client=4 * MiB,
                      request_timeout_seconds=5)
    body_state = {}

    def head(declared, path="/kbs/v0/attest"):
        return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Cookie: kbs-session-id={os.urandom(16).hex()}\r\nContent-Length: {declared}\r\n\r\n").encode()

    def big_declared():
        w.start(body_b)
        body_state["secret"] = secret = w.provision(body_b)
        port, pid = body_b.port, body_b.proc.pid
        rss0 = rss_kib(pid)
        limit_mib = 150 if not w.asan else 450
        conns = []
        try:
            for i in range(300):
                c = Conn(port, f"127.0.0.{3 + i % 10}", head(2 * MiB), 2 * MiB)
                c.queue(64 * 1024)
                conns.append(c)
            t_sent = MONO()
            pump(conns, 2.0)
            answered = [c for c in conns if c.resp]
            statuses = {}
            for c in conns:
                statuses[c.status] = statuses.get(c.status, 0) + 1
            slow = [c for c in answered if c.t_resp - c.t0 > 2.0]
            # the stalled rest: push on to 1.5 MiB of the declared 2 MiB, then stall
            for c in conns:
                if c.closed is None and not c.resp:
                    c.queue(int(1.5 * MiB) - 64 * 1024)
            pump([c for c in conns if c.closed is None and not c.resp], 20.0, until_sent=True)
            pushed = sum(c.sent_body for c in conns)
            time.sleep(0.5)
            rss1 = rss_kib(pid)
            legit_ok = None
            try:
                rcar_round(port, tee, secret)
                legit_ok = True
            except Exception as e:  # noqa: BLE001
                legit_ok = f"{type(e).__name__}: {e}"
        finally:
            for c in conns:
                c.close()
        problems = []
        if statuses.get(413, 0) != 300:
            problems.append(f"declared Content-Length 2097152 (> default max_body_bytes 1 MiB): want 300 x 413 "
                            f"within 2 s, got statuses {statuses}")
        if slow:
            problems.append(f"{len(slow)} answers came later than 2 s")
        bad = [c.resp[:80] for c in answered if c.status == 413 and b"PayloadTooLarge" not in c.resp]
        if bad:
            problems.append(f"413 without PayloadTooLarge: {bad[:2]}")
        if rss1 > limit_mib * 1024:
            problems.append(f"broker RSS {rss1 // 1024} MiB (was {rss0 // 1024} MiB) after 300 stalled 2 MiB "
                            f"bodies ({pushed // MiB} MiB pushed): want < {limit_mib} MiB")
        if legit_ok is not True:
            problems.append(f"legit RCAR round during the stall failed: {legit_ok}")
        print(f"# big declared bodies: statuses {statuses}, RSS {rss0 // 1024} -> {rss1 // 1024} MiB, "
              f"{pushed // MiB} MiB pushed, {MONO() - t_sent:.1f} s")
        check(body_b.alive(), f"broker died: {body_b.stderr_text()[-2000:]!r}")
        check(not problems, "\n".join(problems))
    T("2a 300 stalled POST /attest declaring 2 MiB from 127.0.0.3-12: 413 at once, broker RSS < 150 MiB, "
      "legit round ok", with_settings_note(big_declared, body_b))

    def budget(srcs_conns, want_refused, want_pending, what):
        """Each (src, count): `count` connections declaring 1000000 bytes, sending
        999000 and stalling.  Returns the connections (still open)."""
        port = body_b.port
        conns = []
        for src, count in srcs_conns:
            for _ in range(count):
                c = Conn(port, src, head(1000000), 1000000)
                c.queue(999000)
                conns.append(c)
                pump([c], 3.0, until_sent=True)
                pump(conns, 0.05, send=False)
        pump(conns, 1.0)
        statuses = {}
        for c in conns:
            statuses[c.status] = statuses.get(c.status, 0) + 1
        problems = []
        n503 = statuses.get(503, 0)
        pending = [c for c in conns if not c.resp and c.closed is None]
        if n503 < want_refused:
            problems.append(f"{what}: {n503} x 503 of {len(conns)} (want >= {want_refused}); statuses {statuses}")
        if len(pending) < want_pending:
            problems.append(f"{what}: only {len(pending)} bodies still accepted and pending (want >= "
                            f"{want_pending}); statuses {statuses}")
        refused_open = [c for c in conns if c.status == 503 and c.closed is None]
        if refused_open:
            pump(refused_open, 1.0, send=False)
            refused_open = [c for c in refused_open if c.closed is None]
            if refused_open:
                problems.append(f"{what}: {len(refused_open)} connections answered 503 were not closed")
        others = {k: v for k, v in statuses.items() if k not in (503, None)}
        if others:
            problems.append(f"{what}: unexpected answers {others}: "
                            f"{[c.resp[:100] for c in conns if c.status not in (503, None)][:2]}")
        print(f"# {what}: statuses {statuses}, {len(pending)} pending")
        return conns, problems

    def body_budget():
        check(body_b.alive(), "needs the broker of case 2a")
        secret = body_state["secret"]
        problems = []
        # per client: 4 MiB -> four 1000000-byte bodies fit, the other four are refused
        conns, pr = budget([("127.0.0.20", 8)], 3, 3, "one client, 8 x 1000000 (body_memory_bytes_per_client 4 MiB)")
        problems += pr
        for c in conns:
            c.close()
        time.sleep(0.5)  # the closed bodies give their budget back
        # global: 16 MiB -> sixteen fit, eight of 24 from 8 clients are refused
        srcs = [(f"127.0.0.{21 + i}", 1) for i in range(8)] * 3
        conns, pr = budget(srcs, 6, 14, "8 clients x 3 x 1000000 (body_memory_bytes 16 MiB)")
        problems += pr
        try:
            t_stall = MONO()
            try:
                rcar_round(body_b.port, tee, secret)
            except Exception as e:  # noqa: BLE001
                problems.append(f"legit RCAR round while the budget is taken failed: {type(e).__name__}: {e}")
            # request_timeout_seconds 5: a stalled body is cut off, whatever it still sends
            pending = [c for c in conns if not c.resp and c.closed is None]
            end = max(c.t0 for c in conns) + 5 + 3.0
            while pending and MONO() < end:
                for c in pending:
                    c.queue(1)
                pump(pending, 0.5)
                pending = [c for c in pending if c.closed is None]
            if pending:
                problems.append(f"{len(pending)} stalled bodies still open {MONO() - t_stall:.1f} s later "
                                f"(request_timeout_seconds 5)")
        finally:
            for c in conns:
                c.close()
        check(body_b.alive(), f"broker died: {body_b.stderr_text()[-2000:]!r}")
        check(not problems, "\n".join(problems))
    T("2b bodies of 1000000 bytes: per-client (4 MiB) and global (16 MiB) body budgets answer 503 and close; "
      "legit round ok; stalled bodies cut at request_timeout_seconds",
      with_settings_note(body_budget, body_b))

    # --------------------------------------------- 3. session flood
    flood_b = w.broker("flood", max_sessions=2000, max_sessions_per_client=500)
    flood_state = {}

    def flood(src, count, seconds, out):
        """`count` POST /auth over keep-alive connections from src."""
        end = MONO() + seconds
        out.update(statuses={}, first=None, last=None, reconnects=0, errors=[], sent=0)
        c = None
        while out["sent"] < count and MONO() < end:
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", flood_b.port, timeout=5, source_address=(src, 0))
            try:
                c.request("POST", "/kbs/v0/auth", AUTH_BODY, {"Content-Type": "application/json"})
                r = c.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException) as e:
                out["errors"].append(f"{type(e).__name__}: {e}")
                out["reconnects"] += 1
                c.close()
                c = None
                if len(out["errors"]) > 50:
                    break
                continue
            out["sent"] += 1
            out["statuses"][r.status] = out["statuses"].get(r.status, 0) + 1
            if r.status == 200:
                cookie = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, body).cookie()
                rec = (cookie, json.loads(body)["nonce"])
                if out["first"] is None:
                    out["first"] = rec
                out["last"] = rec
            if r.getheader("connection", "").lower() == "close":
                c.close()
                c = None
        if c is not None:
            c.close()

    def session_flood():
        w.start(flood_b)
        flood_state["secret"] = secret = w.provision(flood_b)
        port = flood_b.port
        res = {}
        th = threading.Thread(target=flood, args=("127.0.0.4", 3000, 40, res))
        th.start()
        rounds, fails = 0, []
        try:
            while th.is_alive() and rounds + len(fails) < 200:
                try:
                    rcar_round(port, tee, secret, timeout=10)
                    rounds += 1
                except Exception as e:  # noqa: BLE001
                    fails.append(f"{type(e).__name__}: {str(e)[:300]}")
        finally:
            th.join(60)
        problems = []
        if fails:
            problems.append(f"legit client failed {len(fails)} rounds during the flood: {fails[:3]}")
        if res.get("sent", 0) < 3000:
            problems.append(f"the flood sent only {res.get('sent')} /auth: {res.get('errors', [])[:3]}")
        try:
            rcar_round(port, tee, secret)
        except Exception as e:  # noqa: BLE001
            problems.append(f"legit round right after the flood failed: {type(e).__name__}: {e}")
        if res.get("first"):
            cookie, nonce = res["first"]
            r = request_from("127.0.0.4", port, "POST", "/kbs/v0/attest",
                             attest_body(nonce, tee.pub, tee.evidence(nonce)), cookie=cookie)
            if not (r.status == 401 and r.variant == "AttestationError" and "unknown or expired session" in r.detail):
                problems.append(f"the flood's first (evicted) session at /attest: want 401 unknown or expired "
                                f"session, got {r!r}")
        else:
            problems.append("the flood got no session at all")
        if res.get("last"):
            cookie, nonce = res["last"]
            r = request_from("127.0.0.4", port, "POST", "/kbs/v0/attest",
                             attest_body(nonce, tee.pub, tee.evidence(nonce)), cookie=cookie)
            if r.status != 200:
                problems.append(f"the flood's newest session must still attest: {r!r}")
        live = None
        r = request(port, "GET", "/metrics")
        for line in r.body.decode().splitlines():
            if line.startswith("veritee_sessions_live "):
                live = float(line.split()[1])
        if live is None or live > 500 + rounds + 10:
            problems.append(f"veritee_sessions_live {live} after the flood (want <= 500 + {rounds} legit + slack)")
        print(f"# session flood: flood statuses {res.get('statuses')}, {rounds} legit rounds during it, "
              f"sessions_live {live}")
        check(flood_b.alive(), f"broker died: {flood_b.stderr_text()[-2000:]!r}")
        check(not problems, "\n".join(problems))
    T("3a 3,000 /auth from 127.0.0.4 (max_sessions_per_client 500, max_sessions 2000): legit rounds never fail; "
      "the flood's oldest session is evicted, its newest still attests", with_settings_note(session_flood, flood_b))

    def global_eviction():
        check(flood_b.alive() and "secret" in flood_state, "needs the broker of case 3a")
        outs = [{} for _ in range(4)]
        ths = [threading.Thread(target=flood, args=(f"127.0.0.{5 + i}", 500, 30, outs[i])) for i in range(4)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        problems = []
        for i, o in enumerate(outs):
            if o.get("statuses") != {200: 500}:
                problems.append(f"127.0.0.{5 + i}: 500 /auth within its quota while the table is full: want all "
                                f"200, got {o.get('statuses')} {o.get('errors', [])[:2]}")
        try:
            rcar_round(flood_b.port, tee, flood_state["secret"])
        except Exception as e:  # noqa: BLE001
            problems.append(f"legit round with the session table full failed: {type(e).__name__}: {e}")
        r = request(flood_b.port, "GET", "/metrics")
        live = [float(x.split()[1]) for x in r.body.decode().splitlines() if x.startswith("veritee_sessions_live ")]
        if not live or live[0] > 2000:
            problems.append(f"veritee_sessions_live {live} > max_sessions 2000")
        check(not problems, "\n".join(problems))
    T("3b 4 more clients x 500 /auth fill max_sessions 2000: oldest sessions evicted, every /auth 200, "
      "legit round ok", with_settings_note(global_eviction, flood_b))

    # ------------------------------------------------------- main broker
    main_b = w.broker("main", max_body_bytes=MiB)
    w.start(main_b, lenient=False)
    secret1 = w.provision(main_b)
    port = main_b.port

    def survives(b=main_b):
        check(b.alive(), f"broker {b.name} died; stderr tail: {b.stderr_text()[-3000:]!r}")
        eq(request(b.port, "GET", "/healthz").status, 200, "/healthz after the bad input")

    def bad(fn, b=main_b):
        def run_it():
            try:
                fn()
            finally:
                survives(b)
        return run_it

    # ------------------------------------------------------- 4. HTTP framing
    H = b"POST /kbs/v0/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    chunked_auth = b"%x\r\n" % len(AUTH_BODY) + AUTH_BODY + b"\r\n0\r\n\r\n"

    def dup_cl():
        raw, closed, dt = raw_exchange(port, H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n{}    ")
        eq(status_of(raw), 400, f"status for Content-Length 5 and 6 (answer {raw[:200]!r})")
        check(closed, f"connection still open {dt:.1f} s after the 400 (must be closed)")
    T("4a two conflicting Content-Length headers (5, 6) -> 400 and the connection is closed", bad(dup_cl))

    def xchunked():
        raw, closed, dt = raw_exchange(port, H + b"Transfer-Encoding: xchunked\r\nContent-Length: 2\r\n\r\n{}")
        check(raw, f"no answer within {dt:.1f} s (hang)")
        eq(status_of(raw), 400, f"status for Transfer-Encoding xchunked + Content-Length (answer {raw[:200]!r})")
    T("4b Transfer-Encoding: xchunked with Content-Length -> 400 within 5 s (no hang)", bad(xchunked))

    def chunked_cl():
        raw, closed, dt = raw_exchange(
            port, H + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n" % len(chunked_auth) + chunked_auth)
        check(raw, f"no answer within {dt:.1f} s")
        eq(status_of(raw), 400, f"status for Transfer-Encoding chunked + Content-Length (answer {raw[:200]!r})")
        check(b"kbs-session-id=" not in raw, "a session was opened")
    T("4c Transfer-Encoding: chunked together with Content-Length -> 400", bad(chunked_cl))

    def chunked_ok():
        raw, closed, dt = raw_exchange(port, H + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                       + chunked_auth)
        eq(status_of(raw), 200, f"chunked /auth (answer {raw[:300]!r})")
        check(b"kbs-session-id=" in raw and b'"nonce"' in raw, f"no session/nonce: {raw[:400]!r}")
    T("4d a normal chunked /auth body still works (200, session cookie, nonce)", bad(chunked_ok))

    # --------------------------------------------------------- 5. NUL in path
    main_state = {}

    def nul_path():
        cookie, token, _ = kh.full_attest(port, tee)
        main_state["token"] = token
        eq(request(port, "GET", RESOURCE, bearer=token).status, 200, "sanity: k1 with the token")
        for suffix in ("k1%00x", "k1%00", "k1%00/x"):
            for how, kw in (("bearer", {"bearer": token}), ("cookie", {"cookie": cookie})):
                r = request(port, "GET", "/kbs/v0/resource/default/key/" + suffix, **kw)
                check(r.status in (400, 404), f"GET default/key/{suffix} ({how}): want 400/404, got {r!r}")
                check(b"ciphertext" not in r.body, f"GET default/key/{suffix} ({how}) released a JWE: {r!r}")
        t = admin_token()
        r = request(port, "POST", "/kbs/v0/resource/default/key/k1%00x", b"overwritten-through-nul", bearer=t,
                    headers={"Content-Type": "application/octet-stream"})
        check(r.status in (400, 404), f"admin POST default/key/k1%00x: want 400/404, got {r!r}")
        r = request(port, "DELETE", "/kbs/v0/resource/default/key/k1%00x", bearer=admin_token())
        check(r.status in (400, 404), f"admin DELETE default/key/k1%00x: want 400/404, got {r!r}")
        r = request(port, "GET", RESOURCE, bearer=token)
        eq(r.status, 200, f"k1 after the NUL requests {r!r}")
        eq(tee.decrypt(r.body), secret1, "k1 unchanged")
    T("5 GET/admin POST/DELETE default/key/k1%00x -> 400/404, never resource k1; k1 unchanged", bad(nul_path))

    # ------------------------------------------------------- 6. log injection
    def log_injection():
        fakes = {
            b"%0a2026-01-01T00:00:00Z%20INFO%20resource%20released": "2026-01-01T00:00:00Z INFO resource released",
            b"%0d2026-01-01T00:00:01Z%20INFO%20admin:%20resource%20default/key/k1%20stored":
                "2026-01-01T00:00:01Z INFO admin: resource default/key/k1 stored",
            b"%0d%0a2026-01-01T00:00:02Z%20WARN%20injected": "2026-01-01T00:00:02Z WARN injected",
            b"x%0b2026-01-01T00:00:03Z%20INFO%20vt": "2026-01-01T00:00:03Z INFO vt",
        }
        before = len(main_b.stderr_text())
        for enc in fakes:
            request(port, "GET", "/kbs/v0/" + enc.decode())
            request(port, "GET", "/kbs/v0/resource/default/" + enc.decode() + "/x", bearer=main_state.get("token"))
            request(port, "POST", "/kbs/v0/resource/default/key/" + enc.decode(), b"x", bearer=admin_token())
            # an oversized body: the 413 path logs the URL
            big = 1536 * 1024
            raw_exchange(port, b"POST /kbs/v0/" + enc + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % big + b" " * big, timeout=5)
            raw_exchange(port, b"GET /kbs/v0/" + enc + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                         b"Content-Length: 6\r\nConnection: close\r\n\r\n      ", timeout=3)
        time.sleep(0.3)
        text = main_b.stderr_text()[before:].decode("utf-8", errors="replace")
        hits = [ln for ln in text.splitlines() for f in fakes.values() if ln.startswith(f)]
        check(not hits, f"broker stderr has forged lines: {hits[:5]!r}")
    T("6 URLs with %0a/%0d/%0b and fake log text: no stderr line starts with the injected text",
      bad(log_injection))

    # ------------------------------------------------------- 7. admin tokens
    adm_b = w.broker("adm")

    def admin_tokens():
        w.start(adm_b, lenient=False)
        w.provision(adm_b)
        path = "/kbs/v0/resource/default/key/adm"

        def post(claims, body):
            t = mint_jwt(admin_jwk, {k: v for k, v in claims.items() if v is not None})
            return request(adm_b.port, "POST", path, body, bearer=t,
                           headers={"Content-Type": "application/octet-stream"})

        def claims(**kw):
            now = int(time.time())
            c = {"iat": now, "exp": now + 120, "jti": fresh_jti()}
            c.update(kw)
            return c

        problems = []

        def refused(what, r, *fields):
            if r.status != 401 or r.variant != "AdminAuthInitialization":
                problems.append(f"{what}: want 401 AdminAuthInitialization, got {r!r}")
                return
            for f in fields:
                if f not in r.detail:
                    problems.append(f"{what}: detail does not name {f!r}: {r.detail!r}")

        def accepted(what, r):
            if (r.status, r.body) != (200, b""):
                problems.append(f"{what}: want 200, got {r!r}")

        replayed = claims(exp=int(time.time()) + 600, iat=int(time.time()))
        accepted("fresh token {iat, exp, jti}", post(replayed, b"v1"))
        refused("the same token again (replay)", post(replayed, b"replayed-1"), "jti")
        adm_b.stop()
        w.start(adm_b, lenient=False)
        refused("the same token after a broker restart on the same database", post(replayed, b"replayed-2"), "jti")
        refused("token without jti", post(claims(jti=None), b"no-jti"), "jti")
        now = int(time.time())
        refused("exp - iat = 1 day", post(claims(iat=now, exp=now + 86400), b"long"), "exp")
        refused("no iat, exp = now + 1 h", post(claims(iat=None, exp=now + 3600), b"long2"), "exp")
        refused("nbf 120 s in the future", post(claims(nbf=now + 120), b"nbf"))
        refused("iat 300 s in the future", post(claims(iat=now + 300, exp=now + 400), b"iat"))
        refused("aud of another origin", post(claims(aud="http://127.0.0.1:1"), b"aud"), "aud")
        refused("aud of another service", post(claims(aud="https://kbs.example"), b"aud2"), "aud")
        accepted("aud = the broker origin", post(claims(aud=adm_b.url), b"v2"))
        good = {"htm": "POST", "htu": path, "body_sha256": hashlib.sha256(b"v3").hexdigest()}
        refused("htm DELETE on a POST", post(claims(**dict(good, htm="DELETE")), b"v3"))
        refused("htu of another resource", post(claims(**dict(good, htu="/kbs/v0/resource/default/key/other")),
                                                b"v3"))
        refused("body_sha256 of another body", post(claims(**dict(good, body_sha256=hashlib.sha256(b"v4")
                                                                  .hexdigest())), b"v3"))
        refused("body_sha256 of the body, sent with another body",
                post(claims(**good), b"v3-but-changed"))
        accepted("htm/htu/body_sha256 all matching", post(claims(**good), b"v3"))
        # the stored value is the last accepted write
        cookie, token, _ = kh.full_attest(adm_b.port, tee)
        r = request(adm_b.port, "GET", path, bearer=token)
        if r.status != 200:
            problems.append(f"GET default/key/adm: {r!r}")
        elif tee.decrypt(r.body) != b"v3":
            problems.append(f"default/key/adm holds {tee.decrypt(r.body)!r}, want b'v3' (a refused write landed?)")
        f = w.path("cli1.bin")
        with open(f, "wb") as fh:
            fh.write(b"cli-secret")
        for i in (1, 2):
            p = adm_b.admin(w.admin_key, "set-resource", "default/key/cli1", f)
            if p.returncode != 0:
                problems.append(f"veritee admin set-resource, call {i}: rc={p.returncode} {p.stderr!r}")
        check(not problems, "\n".join(problems))
    T("7 admin JWT: jti single-use (also after restart), jti/exp lifetime/nbf/iat/aud checked, htm/htu/"
      "body_sha256 bound; CLI admin works twice in a row", bad(admin_tokens, adm_b))

    # ------------------------------------------------------- 8. key file modes
    def refusal(b, *needles):
        res = b.start(timeout=30)
        if res is None:
            b.stop()
            raise TestFailure(f"broker {b.name} started on port {b.port}; expected a refusal")
        rc, out, err = res
        check(rc != 0, f"exit code {rc} (stderr {err[-1000:]!r})")
        eq(out, b"", "stdout (no port printed)")
        tail = err[-3000:]
        for s in needles:
            check(s.encode() in tail, f"stderr lacks {s!r}: {tail!r}")

    def token_key_mode():
        b = w.broker("kf")
        w.start(b, lenient=False)
        b.stop()
        key = w.path("kf-token.key")
        check(os.path.exists(key), "the broker did not create kf-token.key")
        os.chmod(key, 0o644)
        refusal(b, "kf-token.key", "chmod 600")
        os.chmod(key, 0o600)
        w.start(b, lenient=False)  # the same files with mode 0600 are fine
        b.stop()
    T("8a token_signing_key file mode 0644 -> serve refuses (names kf-token.key, says chmod 600)", token_key_mode)

    cert, tkey = w.path("kf-tls.crt"), w.path("kf-tls.key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                        "-keyout", tkey, "-out", cert], capture_output=True, timeout=60)
    if p.returncode != 0:
        tap.skip("8b tls_key file mode 0640 -> serve refuses", f"openssl req failed: {p.stderr[-200:]!r}")
    else:
        def tls_key_mode():
            b = w.broker("kft", tls_cert="kf-tls.crt", tls_key="kf-tls.key")
            os.chmod(tkey, 0o640)
            refusal(b, "kf-tls.key", "chmod 600")
            os.chmod(tkey, 0o600)
            w.start(b, lenient=False)
            b.stop()
        T("8b tls_key file mode 0640 (group-readable) -> serve refuses (names kf-tls.key, says chmod 600)",
          tls_key_mode)

    # ------------------------------------------------ 9. resource policy default deny
    pol_b = w.broker("pol")

    def default_deny():
        w.start(pol_b, lenient=False)
        secret = w.provision(pol_b)
        pf = w.path("other-only.json")
        with open(pf, "w") as f:
            json.dump({"version": 1, "id": "resource-policy", "rules": [
                {"name": "other-only", "claim": "/submods/cpu0/ear.status", "equals": "affirming",
                 "resources": ["other/*/*"]}]}, f)
        w.admin(pol_b, "set-resource-policy", pf)
        cookie, token, _ = kh.full_attest(pol_b.port, tee)
        r = request(pol_b.port, "GET", RESOURCE, cookie=cookie)
        check(r.status != 200 and b"ciphertext" not in r.body, f"k1 released under a policy with no rule for "
                                                               f"it: {r!r}")
        expect_err(r, 401, "PolicyDeny")
        check("no rule" in r.detail.lower(), f"detail does not say no rule applies: {r.detail!r}")
        check(secret not in r.body, "secret in the answer")
    T("9 resource policy whose only rule covers other/*/*: GET default/key/k1 -> 401 PolicyDeny 'no rule'",
      bad(default_deny, pol_b))

    # ------------------------------------------------ 10. oversized tee-pubkey
    pk_b = w.broker("pk", max_body_bytes=4 * MiB)

    def burnt(port_, cookie, nonce, what):
        good = attest_body(nonce, tee.pub, tee.evidence(nonce))
        r = kh.attest(port_, cookie, good)
        if not (r.status == 401 and "unknown or expired session" in r.detail):
            raise TestFailure(f"{what}: the session was not burnt; correct evidence on it gave {r!r}")

    def rsa16k():
        w.start(pk_b, lenient=False)
        # A random odd 16384-bit n with no prime factor below 752, so that a key
        # import would get past OpenSSL's cheap checks to the costly ones.
        small = math.prod(q for q in range(3, 752, 2) if all(q % d for d in range(3, int(q ** 0.5) + 1, 2)))
        for _ in range(1000):
            n = bytearray(os.urandom(2048))
            n[0] |= 0x80
            n[-1] |= 1
            if math.gcd(int.from_bytes(n, "big"), small) == 1:
                break
        t = Tee(sim)
        t.pub = {"kty": "RSA", "alg": "RSA-OAEP-256", "n": b64url(bytes(n)), "e": "AQAB"}
        cookie, nonce = kh.auth(pk_b.port)
        body = attest_body(nonce, t.pub, t.evidence(nonce))  # evidence really binds this key
        t0 = MONO()
        r = kh.attest(pk_b.port, cookie, body)
        dt = MONO() - t0
        problems = []
        if not (r.status == 401 and r.variant == "AttestationError" and "runtime-data.tee-pubkey" in r.detail):
            problems.append(f"want 401 AttestationError naming runtime-data.tee-pubkey, got {r!r}")
        if dt >= 0.2:
            problems.append(f"the answer took {ms(dt)} (want < 200 ms)")
        try:
            burnt(pk_b.port, cookie, nonce, "16384-bit modulus")
        except TestFailure as e:
            problems.append(str(e))
        check(not problems, "\n".join(problems) + f"\n(answer after {ms(dt)})")
    T("10a /attest with an RSA tee-pubkey of 16384 bits -> 401 naming runtime-data.tee-pubkey in < 0.2 s; "
      "session burnt", bad(rsa16k, pk_b))

    def huge_pubkey():
        check(pk_b.alive(), "needs the broker of 10a")
        t = Tee(sim)
        t.pub = dict(t.pub, kid="k" * (1536 * 1024))
        cookie, nonce = kh.auth(pk_b.port)
        body = attest_body(nonce, t.pub, t.evidence(nonce))
        r = kh.attest(pk_b.port, cookie, body)
        expect_err(r, 401, "AttestationError", "runtime-data.tee-pubkey")
        burnt(pk_b.port, cookie, nonce, "1.5 MB tee-pubkey")
    T("10b /attest with a 1.5 MB tee-pubkey (EC key + huge kid) -> 401 naming runtime-data.tee-pubkey; "
      "session burnt", bad(huge_pubkey, pk_b))

    # ------------------------------------------------------------- teardown
    for b in w.brokers:
        b.stop()

    def clean_exit():
        problems = []
        for b in w.brokers:
            for rc in b.exit_codes:
                if rc != 0:
                    problems.append(f"{b.name}: exit code {rc}")
            if os.path.exists(b.stderr_path):
                text = b.stderr_text()
                for marker in (b"Sanitizer", b"runtime error:"):
                    if marker in text:
                        i = text.index(marker)
                        problems.append(f"{b.name}: {text[max(0, i - 200):i + 1500]!r}")
        check(not problems, "\n".join(problems))
    T("every broker stopped on SIGTERM with exit 0 and no sanitizer report", clean_exit)


if __name__ == "__main__":
    sys.exit(main())
