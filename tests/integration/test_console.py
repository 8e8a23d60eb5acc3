#!/usr/bin/env python3
"""The read-only web console of `veritee serve` (issue 16), in Debian's
headless Chromium (no npm, no driver: --dump-dom gives the DOM after the
page's script ran, --screenshot a PNG):

* the page, opened with the link `veritee admin console-url` prints, shows
  the broker's state: the attestation rows are those of
  GET /kbs/v0/admin/attestations (same count, request ids, TEEs, verdicts;
  a failed one shows its failing step or rule), the charts those of
  GET /kbs/v0/admin/stats, the policies, reference values and resource
  names; no resource value reaches the page (a recognizable secret is
  stored and looked for);
* without a token the page asks to sign in and shows no data; an expired
  token and one signed by a key the broker does not trust get the refusal
  message and no data;
* every console answer (errors too) carries the CSP and the other headers;
  "/console/../" paths and unknown files are 404; /console redirects;
* the console token is read-only: reusable for the console's GETs, refused
  for a write, for other admin endpoints, and when it lives longer than the
  broker allows;
* a screenshot of the page is saved as console.png next to the veritee
  under test (VERITEE_BIN's directory).

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_console.py
"""
import html.parser
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbs_helpers as kh  # noqa: E402
from jwcrypto import jwk  # noqa: E402
from kbs_helpers import DEFAULT_MEASUREMENT, Broker, Tap, check, eq, run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


class Dom(html.parser.HTMLParser):
    """What the test reads from the dumped DOM: body attributes, the rows
    of each table (row attributes, cell classes and texts), the text of a
    few elements by id, and the bars of each chart."""

    WANT = ("message-title", "message-text", "refreshed", "error")

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.body = {}
        self.tables = {}
        self.text = {}
        self.hidden = {}
        self.bars = {}
        self._table = None
        self._row = None
        self._cell = None
        self._capture = None
        self._svg = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "id" in a:
            self.hidden[a["id"]] = "hidden" in a
        if tag == "table" and "id" in a:
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = {"class": a.get("class", ""), "text": ""}
        elif tag == "svg" and "id" in a:
            self._svg = a["id"]
            self.bars[self._svg] = []
        elif tag == "g" and self._svg and "bar" in a.get("class", "").split():
            self.bars[self._svg].append(a)
        if a.get("id") in self.WANT:
            self._capture = (tag, a["id"])
            self.text[a["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row["cells"] and "empty" not in self._row["cells"][0]["class"]:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "svg":
            self._svg = None
        if self._capture and self._capture[0] == tag:
            self._capture = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._capture:
            self.text[self._capture[1]] += data

    def cell(self, row, cls):
        for c in row["cells"]:
            if cls in c["class"].split():
                return c["text"].strip()
        return None


def chromium(tmp, url, *extra):
    """Run headless Chromium on url with a fresh profile; returns stdout (text)."""
    prof = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={prof}",
                            "--virtual-time-budget=8000"] + list(extra) + [url],
                           capture_output=True, timeout=120)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    if p.returncode != 0:
        raise kh.TestFailure(f"chromium rc={p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    return p.stdout.decode(errors="replace")


def dom(tmp, url):
    text = chromium(tmp, url, "--dump-dom")
    check("<body" in text, f"no DOM from chromium: {text[:500]!r}")
    return Dom(text), text


def get_json(port, path, token):
    r = kh.request(port, "GET", path, bearer=token)
    check(r.status == 200, f"GET {path}: {r!r}")
    return r.json()


def main():
    tap = Tap()
    if not os.access(CHROMIUM, os.X_OK):
        print(f"1..1\nok 1 - web console # SKIP {CHROMIUM} is not installed (scripts/install-deps.sh test "
              "installs Debian's chromium)")
        return 0
    tmp = tempfile.mkdtemp(prefix="veritee-console-")
    path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    b = None
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(kh.TestFailure("overall time limit")))
    signal.alarm(int(os.environ.get("VERITEE_IT_TIMEOUT", "400")))
    try:
        check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
        for d in ("sim", "other-sim"):
            p = run(["attest", "--tee", "sim", "--sim-dir", path(d), "--report-data", "00"])
            check(p.returncode == 0, f"sim keys: {p.stderr!r}")
        for k in ("admin.key", "stranger.key"):
            p = run(["admin", "keygen", path(k)])
            check(p.returncode == 0, f"admin keygen: {p.stderr!r}")
        b = Broker(tmp, "console", {"listen": "127.0.0.1:0", "database": "c.db", "master_key": "c.master",
                                    "token_signing_key": "c-token.key", "admin_public_keys": ["admin.key.pub"],
                                    "tees": {"sim": {"root": "sim/sim-root.pem"}}})
        check(b.start() is None, f"broker did not start: {b.stderr_text()[-2000:]!r}")
        admin_key = path("admin.key")

        canary = "console-canary-" + secrets.token_hex(12)
        with open(path("secret"), "w") as f:
            f.write(canary)
        p = b.admin(admin_key, "set-resource", "app/key/db", path("secret"))
        check(p.returncode == 0, f"set-resource: {p.stderr!r}")

        def get_resource(sim_dir):
            return run(["get-resource", b.url, "kbs:///app/key/db", "--tee", "sim", "--sim-dir", path(sim_dir)])

        # A measurement not registered yet, then evidence from a key the
        # broker does not trust (fails verification), then two good ones.
        eq(get_resource("sim").returncode, 1, "refused before the reference value exists")
        eq(get_resource("other-sim").returncode, 1, "refused: evidence from an untrusted sim key")
        p = b.admin(admin_key, "add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT)
        check(p.returncode == 0, f"add-reference-value: {p.stderr!r}")
        for _ in range(2):
            p = get_resource("sim")
            eq(p.returncode, 0, f"released (stderr {p.stderr!r})")
            eq(p.stdout, canary.encode(), "the secret")

        p = b.admin(admin_key, "console-url")
        eq(p.returncode, 0, f"console-url exit code (stderr {p.stderr!r})")
        url = p.stdout.decode().strip()
        check(url.startswith(b.url + "/console/#token="), f"console-url printed {url!r}")
        token = url.split("#token=", 1)[1]
        _, claims, _ = kh.jwt_parts(token)
        eq(claims.get("scope"), "console", "the token's scope")
        check(claims["exp"] - claims["iat"] == 900, f"default lifetime 900 s: {claims!r}")

        # ---------------------------------------------------------- the page
        def page_matches_state():
            d, text = dom(tmp, url)
            eq(d.body.get("data-state"), "ok", f"page state (error {d.text.get('error')!r})")
            check(canary not in text, "the secret value reached the page")
            # Same answers as the endpoints the page reads (the console
            # token is reusable for them).
            att = get_json(b.port, "/kbs/v0/admin/attestations?limit=100", token)["attestations"]
            rows = d.tables["attestations"]
            eq(len(rows), len(att), "attestation rows")
            check(len(att) >= 4, f"at least the four attestations made here: {att!r}")
            for row, a in zip(rows, att):
                ra = row["attrs"]
                eq(ra.get("data-request-id"), a["request_id"], "row request id")
                eq(ra.get("data-tee"), a["tee"], "row TEE")
                eq(ra.get("data-ok"), "true" if a["ok"] else "false", "row verdict")
                eq(d.cell(row, "c-tee"), a["tee"], "TEE cell")
                eq(d.cell(row, "c-verdict"), "ok" if a["ok"] else "failed", "verdict cell")
                eq(d.cell(row, "c-status"), a["status"] or "", "status cell")
                eq(d.cell(row, "c-request-id"), a["request_id"], "request id cell")
                if not a["ok"]:
                    failing = d.cell(row, "c-failing")
                    for k in ("step", "rule"):
                        if a.get(k):
                            check(a[k] in failing, f"failed row shows its {k} {a[k]!r}: {failing!r}")
                    check(failing or d.cell(row, "c-explanation"), f"a failed row says why: {row!r}")
            check(any(not a["ok"] for a in att) and any(a["ok"] for a in att),
                  f"both verdicts among the attestations: {att!r}")
            check(any(not a["ok"] and (a.get("step") or a.get("rule")) for a in att),
                  f"a failed attestation with its failing step or rule: {att!r}")

            pol = get_json(b.port, "/kbs/v0/attestation-policy", token)["policies"]
            eq([r["attrs"].get("data-id") for r in d.tables["policies"]], [x["id"] for x in pol], "policy rows")
            res = get_json(b.port, "/kbs/v0/admin/resources", token)["resources"]
            eq([r["attrs"].get("data-path") for r in d.tables["resources"]], ["app/key/db"], "resource rows")
            eq([d.cell(r, "c-size") for r in d.tables["resources"]], [str(x["size"]) for x in res], "sizes")
            rv = d.tables["reference-values"]
            eq([r["attrs"].get("data-name") for r in rv], ["sim_measurement"], "reference value rows")
            check(DEFAULT_MEASUREMENT in d.cell(rv[0], "c-values"), f"the measurement is shown: {rv!r}")

            stats = get_json(b.port, "/kbs/v0/admin/stats", token)
            bars = d.bars.get("per-minute-svg", [])
            eq(len(bars), len(stats["per_minute"]), "per-minute bars")
            eq([(int(x["data-ok"]), int(x["data-failed"])) for x in bars],
               [(m["ok"], m["failed"]) for m in stats["per_minute"]], "per-minute bars' counts")
            eq(sum(int(x["data-failed"]) for x in bars) + sum(int(x["data-ok"]) for x in bars),
               stats["totals"]["ok"] + stats["totals"]["failed"], "the bars hold every attestation")
            lat = d.bars.get("latency-svg", [])
            eq([int(x["data-count"]) for x in lat], stats["latency_ms"]["counts"], "latency histogram")
            check(d.text.get("refreshed", "never") != "never", "refresh time shown")
        tap.run("page: attestations, policies, reference values, resources and charts as the broker has them",
                page_matches_state)

        def no_secret_anywhere():
            for ep in ("/kbs/v0/admin/resources", "/kbs/v0/admin/attestations?limit=100", "/kbs/v0/admin/stats",
                       "/kbs/v0/attestation-policy", "/kbs/v0/reference-value",
                       "/kbs/v0/reference-value/sim_measurement"):
                r = kh.request(b.port, "GET", ep, bearer=token)
                check(canary.encode() not in r.body, f"{ep} carries the secret value")
            r = kh.request(b.port, "GET", "/kbs/v0/resource/app/key/db", bearer=token)
            check(r.status != 200 and canary.encode() not in r.body, f"the resource itself: {r!r}")
        tap.run("no endpoint a console token reads carries a resource value", no_secret_anywhere)

        def screenshot():
            out = os.path.join(os.path.dirname(kh.VBIN), "console.png")
            if os.path.exists(out):
                os.unlink(out)
            chromium(tmp, url, f"--screenshot={out}", "--window-size=1280,900", "--hide-scrollbars")
            with open(out, "rb") as f:
                png = f.read()
            check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, f"{out}: {len(png)} bytes")
            print(f"# screenshot: {out}")
        tap.run("screenshot saved next to the veritee under test", screenshot)

        # -------------------------------------------------- signed out, refused
        def shows_nothing(d):
            for t in ("attestations", "policies", "resources", "reference-values"):
                eq(d.tables.get(t, []), [], f"rows of {t}")
            eq(d.bars, {}, "charts")
            check(d.hidden.get("content") is True, "the data section is hidden")
            check(d.hidden.get("message") is False, "the message is shown")

        def signed_out():
            d, text = dom(tmp, b.url + "/console/")
            eq(d.body.get("data-state"), "signin", "page state")
            check("Not signed in" in d.text.get("message-title", ""), f"message {d.text!r}")
            check("veritee admin console-url" in text, "the message says how to get a link")
            shows_nothing(d)
        tap.run("without a token: the sign-in message and no data", signed_out)

        key = jwk.JWK.from_pem(open(admin_key, "rb").read())
        stranger = jwk.JWK.from_pem(open(path("stranger.key"), "rb").read())

        def console_claims(**kw):
            now = int(time.time())
            c = {"iss": "veritee-admin", "role": "admin", "scope": "console", "iat": now, "exp": now + 300,
                 "jti": secrets.token_hex(16), "aud": b.url, "htm": "GET"}
            c.update(kw)
            return c

        def refused(tok, what):
            d, _ = dom(tmp, b.url + "/console/#token=" + tok)
            eq(d.body.get("data-state"), "refused", f"page state with {what}")
            check("refused" in d.text.get("message-title", ""), f"message {d.text!r}")
            shows_nothing(d)
            return d

        def expired():
            now = int(time.time())
            tok = kh.mint_jwt(key, console_claims(iat=now - 1000, exp=now - 100))
            d = refused(tok, "an expired token")
            check("expired" in d.text.get("message-text", ""), f"says expired: {d.text!r}")
            r = kh.request(b.port, "GET", "/kbs/v0/attestation-policy", bearer=tok)
            kh.expect_err(r, 401, "AdminAuthAccess", "expired")
        tap.run("an expired token: the refusal message and no data", expired)

        def wrong_key():
            tok = kh.mint_jwt(stranger, console_claims())
            d = refused(tok, "a token signed by an unknown key")
            check("not signed by a configured admin key" in d.text.get("message-text", ""),
                  f"the broker's reason is shown: {d.text!r}")
        tap.run("a token signed by a key the broker does not trust: the refusal message and no data", wrong_key)

        # ------------------------------------------------------------ headers
        def headers_everywhere():
            for p, status, ctype in (("/console/", 200, "text/html"), ("/console/index.html", 200, "text/html"),
                                     ("/console/console.js", 200, "text/javascript"),
                                     ("/console/console.css", 200, "text/css"), ("/console", 301, None),
                                     ("/console/nope.js", 404, None), ("/console/console.js/", 404, None),
                                     ("/console/.console.js", 404, None)):
                r = kh.request(b.port, "GET", p)
                eq(r.status, status, f"GET {p}")
                if ctype:
                    check(r.headers.get("content-type", "").startswith(ctype), f"{p}: {r.headers!r}")
                check(r.headers.get("content-security-policy", "").startswith(CSP), f"{p} CSP: {r.headers!r}")
                eq(r.headers.get("x-content-type-options"), "nosniff", f"{p} nosniff")
                eq(r.headers.get("referrer-policy"), "no-referrer", f"{p} referrer policy")
                eq(r.headers.get("cache-control"), "no-store", f"{p} cache control")
                if status == 301:
                    eq(r.headers.get("location"), "/console/", "redirect target")
            r = kh.request(b.port, "POST", "/console/", body=b"x")
            eq(r.status, 405, "POST /console/")
            check(r.headers.get("content-security-policy", "").startswith(CSP), "405 has the CSP")
            # The page holds no data and no inline script or style.
            page = kh.request(b.port, "GET", "/console/").body.decode()
            check("<script>" not in page and "style=" not in page and "<style" not in page, "inline code")
        tap.run("every console answer carries the CSP, nosniff, no-referrer, no-store", headers_everywhere)

        def traversal():
            for p in (b"/console/../console/console.js", b"/console/%2e%2e/console/index.html",
                      b"/console/./console.js", b"/console/../kbs/v0/admin/resources", b"/console//console.js",
                      b"/console/../../etc/passwd"):
                raw = kh.raw_http(b.port, b"GET " + p + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                head = raw.split(b"\r\n\r\n", 1)[0].lower()
                check(head.startswith(b"http/1.1 404"), f"{p!r}: {raw[:200]!r}")
                check(b"content-security-policy: default-src 'none'" in head, f"{p!r} has the CSP: {head!r}")
        tap.run("/console/../ paths and unknown files are 404", traversal)

        # ------------------------------------------------------ the token's reach
        def token_reach():
            for _ in range(3):
                eq(kh.request(b.port, "GET", "/kbs/v0/attestation-policy", bearer=token).status, 200,
                   "the console token is reused")
            r = kh.request(b.port, "POST", "/kbs/v0/resource/app/key/other", body=b"x", bearer=token)
            eq(r.status, 401, f"a write with the console token: {r!r}")
            r = kh.request(b.port, "DELETE", "/kbs/v0/resource/app/key/db", bearer=token)
            eq(r.status, 401, f"a delete with the console token: {r!r}")
            r = kh.request(b.port, "GET", "/kbs/v0/admin/audit", bearer=token)
            kh.expect_err(r, 401, "AdminAuthAccess", "console")
            p = b.admin(admin_key, "list-resources")
            check(p.returncode == 0 and b"app/key/db" in p.stdout, f"still there: {p.stdout!r} {p.stderr!r}")
            # Longer than admin_token_max_lifetime_seconds (900): refused.
            p = b.admin(admin_key, "console-url", "--lifetime", "3600")
            eq(p.returncode, 0, "console-url --lifetime 3600 prints a link")
            long_tok = p.stdout.decode().strip().split("#token=", 1)[1]
            r = kh.request(b.port, "GET", "/kbs/v0/attestation-policy", bearer=long_tok)
            kh.expect_err(r, 401, "AdminAuthAccess", "admin_token_max_lifetime_seconds")
            p = b.admin(admin_key, "console-url", "--lifetime", "soon")
            check(p.returncode != 0 and b"--lifetime" in p.stderr, f"bad --lifetime: {p.stderr!r}")
            # A console claim from a key the broker does not trust is nothing.
            r = kh.request(b.port, "GET", "/kbs/v0/attestation-policy", bearer=kh.mint_jwt(stranger, console_claims()))
            kh.expect_err(r, 401, "AdminAuthAccess", "not signed by a configured admin key")
        tap.run("a console token: reusable for the console's GETs only, lifetime capped by the broker", token_reach)

        def help_text():
            p = run(["admin", "--help"])
            check(b"console-url [--lifetime SECONDS]" in p.stdout and b"admin_token_max_lifetime_seconds" in p.stdout,
                  f"--help: {p.stdout!r}")
        tap.run("veritee admin --help documents console-url and the lifetime cap", help_text)
    except Exception as e:  # noqa: BLE001
        tap.run("setup", lambda: (_ for _ in ()).throw(e))
    finally:
        signal.alarm(0)
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
