#!/usr/bin/env python3
"""`veritee serve` logs and the attestation record (issue 16, Logs/Metrics):

* --log-format json (over the config's "log_format": "text"): every stderr
  line is one JSON object; each request's line carries the request id the
  response sent as X-Request-Id, the client, method, path (no query),
  status, TEE and outcome of /attest, and the failing step and field;
* no Authorization or cookie value and no token in the log;
* /metrics: the request-duration histogram, verification counts, build info;
* `veritee admin attestations [--limit N] [--json]` lists the attestations
  newest first; /admin/stats without a token is refused;
* bad --log-format / --log-level values: exit 2 naming the allowed values.

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_broker_obs.py
"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Broker, Tap, check, eq, run  # noqa: E402


class ArgsBroker(Broker):
    """A Broker started with extra `veritee serve` options."""

    def __init__(self, workdir, name, settings, args):
        super().__init__(workdir, name, settings)
        self.args = list(args)

    def start(self, timeout=30):
        self.stderr_log = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([kh.VBIN, "serve", "--config", self.config, "--print-port"] + self.args,
                                     stdout=subprocess.PIPE, stderr=self.stderr_log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and b"\n" not in line:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 64)
                if not chunk:
                    break
                line += chunk
            elif self.proc.poll() is not None:
                break
        if line.strip().isdigit():
            self.port = int(line.strip())
            return None
        self.proc.kill()
        self.proc.wait()
        return self.stderr_text()


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="veritee-obs-")
    path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    b = None
    try:
        check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
        p = run(["attest", "--tee", "sim", "--sim-dir", path("sim"), "--report-data", "00"])
        check(p.returncode == 0, f"sim keys: {p.stderr!r}")
        admin_key = path("admin.key")
        p = run(["admin", "keygen", admin_key])
        check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
        settings = {"listen": "127.0.0.1:0", "database": "obs.db", "master_key": "obs.master",
                    "admin_public_keys": ["admin.key.pub"], "tees": {"sim": {"root": "sim/sim-root.pem"}},
                    "log_format": "text", "log_level": "error"}
        b = ArgsBroker(tmp, "obs", settings, ["--log-format", "json", "--log-level", "info"])
        err = b.start()
        check(err is None, f"broker did not start: {err!r}")
        tee = kh.Tee(path("sim"))
        seen = {}

        def attestations():
            cookie, nonce = kh.auth(b.port)
            r = kh.attest(b.port, cookie, kh.attest_body(nonce, tee.pub, tee.evidence(nonce)))
            eq(r.status, 200, f"good /attest: {r!r}")
            seen["good"] = r.headers.get("x-request-id")
            seen["cookie"] = cookie
            seen["token"] = r.json()["token"]
            cookie2, nonce2 = kh.auth(b.port)
            r = kh.attest(b.port, cookie2, kh.attest_body("not-the-nonce", tee.pub, tee.evidence(nonce2)))
            eq(r.status, 401, f"bad /attest: {r!r}")
            seen["bad"] = r.headers.get("x-request-id")
            for k in ("good", "bad"):
                check(seen[k] and len(seen[k]) == 16 and all(c in "0123456789abcdef" for c in seen[k]),
                      f"X-Request-Id {seen[k]!r}")
            check(seen["good"] != seen["bad"], "a new request id per request")
            # secrets that must not reach the log
            r = kh.request(b.port, "GET", "/kbs/v0/resource/a/b/c?q=QUERYVALUE", bearer="AUTHZVALUE.x.y",
                           cookie="COOKIEVALUE0123456789abcdef01234")
            eq(r.status, 401, f"resource without a token: {r!r}")
            seen["res"] = r.headers.get("x-request-id")
        tap.run("a good and a failed attestation answer X-Request-Id", attestations)

        def json_lines():
            time.sleep(0.3)
            text = b.stderr_text().decode()
            for secret in ("QUERYVALUE", "AUTHZVALUE", "COOKIEVALUE", seen["cookie"], seen["token"],
                           seen["token"].split(".")[2]):
                check(secret not in text, f"{secret[:24]!r} in the log")
            lines = {}
            for ln in text.splitlines():
                if ln.startswith("veritee serve: "):  # the CLI's own words, not the broker's log
                    continue
                try:
                    obj = json.loads(ln)
                except ValueError:
                    raise kh.TestFailure(f"not a JSON line: {ln!r}")
                check(isinstance(obj, dict) and {"ts", "level", "msg"} <= set(obj), f"line {obj!r}")
                if obj["msg"] == "request":
                    lines[obj["request_id"]] = obj
            g, f, r = lines.get(seen["good"]), lines.get(seen["bad"]), lines.get(seen["res"])
            check(g and f and r, f"request lines for {seen!r}: {list(lines)!r}")
            eq((g["level"], g["client"], g["method"], g["path"], g["status"], g["tee"], g["step"], g["field"]),
               ("info", "127.0.0.1", "POST", "/kbs/v0/attest", 200, "sim", None, None), "good attestation line")
            check(g["outcome"] in ("affirming", "warning", "contraindicated", "none"), f"outcome {g!r}")
            check(isinstance(g["ms"], (int, float)) and g["ms"] >= 0, f"ms {g!r}")
            eq((f["level"], f["status"], f["tee"], f["outcome"], f["step"], f["field"]),
               ("warn", 401, "sim", "failed", "binding", "runtime-data.nonce"), "failed attestation line")
            eq((r["path"], r["status"], r["outcome"]), ("/kbs/v0/resource/a/b/c", 401, "denied"), "resource line")
            eq(sorted(g), sorted(["ts", "level", "msg", "request_id", "client", "method", "path", "status", "tee",
                                  "outcome", "step", "field", "detail", "ms"]), "request line keys")
        tap.run("--log-format json: JSON lines, request_id = X-Request-Id, no query/token/cookie", json_lines)

        def metrics():
            r = kh.request(b.port, "GET", "/metrics")
            eq(r.status, 200, "GET /metrics")
            text = r.body.decode()
            for want in ('veritee_http_request_duration_seconds_bucket{endpoint="attest",le="+Inf"} 2\n',
                         'veritee_http_request_duration_seconds_count{endpoint="auth"} 2\n',
                         'veritee_verifications_total{tee="sim",outcome="ok",step="none"} 1\n',
                         'veritee_verifications_total{tee="sim",outcome="failed",step="binding"} 1\n',
                         'veritee_build_info{version="',
                         'veritee_attestations_total{result="ok"} 1\n'):
                check(want in text, f"metrics lack {want!r}")
        tap.run("/metrics: request histogram, verification counts, build info", metrics)

        def admin_cli():
            p = b.admin(admin_key, "attestations", "--json")
            eq(p.returncode, 0, f"admin attestations --json: {p.stderr!r}")
            j = json.loads(p.stdout)
            ids = [a["request_id"] for a in j["attestations"]]
            eq(ids, [seen["bad"], seen["good"]], "newest first")
            a = j["attestations"][1]
            eq((a["tee"], a["ok"], a["client"], a["step"]), ("sim", True, "127.0.0.1", None), "good record")
            check(isinstance(a["time"], int) and isinstance(a["duration_ms"], (int, float)), f"record {a!r}")
            f = j["attestations"][0]
            eq((f["ok"], f["step"], f["field"]), (False, "binding", "runtime-data.nonce"), "failed record")
            p = b.admin(admin_key, "attestations", "--limit", "1")
            eq(p.returncode, 0, f"admin attestations --limit 1: {p.stderr!r}")
            out = p.stdout.decode()
            check("REQUEST" in out and seen["bad"] in out and seen["good"] not in out, f"table {out!r}")
            check("binding" in out and "failed" in out, f"table says why: {out!r}")
            p = b.admin(admin_key, "attestations", "--limit", "501")
            eq(p.returncode, 2, "--limit 501")
            r = kh.request(b.port, "GET", "/kbs/v0/admin/stats")
            eq(r.status, 401, "stats without a token")
            r = kh.request(b.port, "GET", "/kbs/v0/admin/attestations")
            eq(r.status, 401, "attestations without a token")
        tap.run("veritee admin attestations [--limit N] [--json]; no token: 401", admin_cli)

        def bad_values():
            p = run(["serve", "--config", b.config, "--log-format", "xml"])
            eq(p.returncode, 2, "--log-format xml")
            check(b"text or json" in p.stderr, f"stderr {p.stderr!r}")
            p = run(["serve", "--config", b.config, "--log-level", "loud"])
            eq(p.returncode, 2, "--log-level loud")
            check(b"error, warn, info or debug" in p.stderr, f"stderr {p.stderr!r}")
            bad_cfg = path("bad.json")
            with open(bad_cfg, "w") as fh:
                json.dump(dict(settings, log_format="yaml"), fh)
            p = run(["serve", "--config", bad_cfg, "--check-config"])
            eq(p.returncode, 2, "config log_format yaml")
            check(b'"text" or "json"' in p.stderr, f"stderr {p.stderr!r}")
        tap.run("bad --log-format/--log-level/log_format: exit 2 naming the allowed values", bad_values)

        def clean_exit():
            eq(b.stop(), 0, "exit code on SIGTERM")
            text = b.stderr_text()
            for marker in (b"Sanitizer", b"runtime error:"):
                check(marker not in text, f"sanitizer report: {text[-2000:]!r}")
        tap.run("the broker stops with exit 0 and no sanitizer report", clean_exit)
    except Exception as e:  # noqa: BLE001
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        if b is not None:
            b.stop()
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
