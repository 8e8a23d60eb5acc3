#!/usr/bin/env python3
"""`veritee serve` re-reads tls_cert and tls_key on SIGHUP (certificate
renewal without a restart):

* started with certificate A, a TLS client is served A;
* the files are replaced with certificate B and the broker gets SIGHUP: a
  new connection is served B, while a connection opened before the reload
  keeps working;
* a broken key (not B's) is written and the broker gets SIGHUP: new
  connections are still served B and the log has an error line naming
  tls_key; the broker still answers;
* a client that sends requests and never reads the responses is
  disconnected by the TLS front once its writes have stalled for 10 s.

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_tls_reload.py
"""
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Broker, Tap, check, eq  # noqa: E402


def make_cert(tmp, name, cn):
    key, pem = os.path.join(tmp, f"{name}.key"), os.path.join(tmp, f"{name}.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", pem, "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=60)
    check(p.returncode == 0, f"openssl req: {p.stderr!r}")
    os.chmod(key, 0o600)
    with open(pem, "rb") as f:
        return f.read(), open(key, "rb").read()


def served_cert(port):
    """The DER certificate the broker presents to a new connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def pem_der(pem):
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def replace(path, data):
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="veritee-tls-reload-")
    path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    b = None
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(kh.TestFailure("overall time limit")))
    signal.alarm(int(os.environ.get("VERITEE_IT_TIMEOUT", "150")))
    try:
        a_pem, a_key = make_cert(tmp, "a", "veritee-a")
        b_pem, b_key = make_cert(tmp, "b", "veritee-b")
        _, other_key = make_cert(tmp, "c", "veritee-c")
        replace(path("tls.pem"), a_pem)
        replace(path("tls.key"), a_key)
        b = Broker(tmp, "tls", {"listen": "127.0.0.1:0", "database": "tls.db", "master_key": "tls.master",
                                "tls_cert": "tls.pem", "tls_key": "tls.key",
                                # libmicrohttpd's own deadlines out of the way of the stall case
                                "header_timeout_seconds": 120, "request_timeout_seconds": 120})
        check(b.start() is None, f"broker did not start: {b.stderr_text()[-2000:]!r}")

        def hup_and_wait(needle):
            n = b.stderr_text().count(needle)
            b.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while b.stderr_text().count(needle) <= n:
                check(time.monotonic() < deadline, f"no log line {needle!r} after SIGHUP")
                time.sleep(0.05)

        def serves_a():
            eq(served_cert(b.port), pem_der(a_pem), "the certificate at start")
        tap.run("started with certificate A, serves A", serves_a)

        def reload_b():
            ctx = ssl.create_default_context(cafile=path("a.pem"))
            ctx.check_hostname = False
            old = http.client.HTTPSConnection("127.0.0.1", b.port, context=ctx, timeout=10)
            old.request("GET", "/.well-known/jwks.json")
            eq(old.getresponse().read()[:8], b'{"keys":', "a request on a connection made with A")
            replace(path("tls.pem"), b_pem)
            replace(path("tls.key"), b_key)
            hup_and_wait(b"reloaded the TLS certificate")
            eq(served_cert(b.port), pem_der(b_pem), "the certificate after SIGHUP")
            old.request("GET", "/.well-known/jwks.json")
            eq(old.getresponse().status, 200, "the connection opened with A still works")
            old.close()
        tap.run("files replaced with B + SIGHUP: new connections get B, an open one keeps working", reload_b)

        def broken_key():
            replace(path("tls.key"), other_key)
            hup_and_wait(b"TLS reload")
            log = b.stderr_text()
            line = [ln for ln in log.splitlines() if b"TLS reload" in ln][-1]
            check(b"ERROR" in line and b"tls_key" in line and b"previous certificate stays" in line,
                  f"the error line: {line!r}")
            eq(served_cert(b.port), pem_der(b_pem), "still B after a failed reload")
            replace(path("tls.key"), b"not a key\n")
            hup_and_wait(b"TLS reload")
            eq(served_cert(b.port), pem_der(b_pem), "still B after an unreadable key")
            check(b.alive(), "the broker is still running")
        tap.run("a key that is not the certificate's + SIGHUP: still B, an error in the log", broken_key)

        def stalled_reader():
            # Pipelined requests whose responses the client never reads: the
            # TLS front closes the connection FRONT_STALL_MS (10 s) after its
            # writes stop, even once libmicrohttpd has given up on its end.
            def fds():
                return len(os.listdir(f"/proc/{b.proc.pid}/fd"))
            base, seen = fds(), time.monotonic()  # settled: earlier connections' descriptors closed
            while time.monotonic() - seen < 1:
                if fds() != base:
                    base, seen = fds(), time.monotonic()
                time.sleep(0.05)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.connect(("127.0.0.1", b.port))
            t = ctx.wrap_socket(raw)
            # ~20 MiB of answers (/metrics is ~10 KiB): more than every buffer on the way
            t.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 2000)
            deadline = time.monotonic() + 3
            while fds() <= base and time.monotonic() < deadline:
                time.sleep(0.05)
            check(fds() > base, "the connection is open on the broker's side")
            time.sleep(2)
            check(fds() > base, "still open 2 s later (the client has not read)")
            deadline = time.monotonic() + 20
            while fds() > base:
                check(time.monotonic() < deadline, f"still {fds() - base} more descriptors 22 s after the client "
                                                   "stopped reading")
                time.sleep(0.2)
            t.close()
            check(b.alive(), "the broker is still running")
        tap.run("a client that never reads its responses is disconnected (10 s stall limit)", stalled_reader)

        def stop():
            eq(b.stop(), 0, "exit code")
        tap.run("stops cleanly (exit 0)", stop)
    except Exception as e:  # noqa: BLE001 - report the setup failure as a case
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        if b is not None:
            b.stop()
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
