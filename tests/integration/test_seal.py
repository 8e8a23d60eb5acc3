#!/usr/bin/python3
"""Sealed files with K-of-N brokers (`veritee seal` / `veritee unseal`) against
three real `veritee serve` processes on loopback, each with its own admin
key, master key, token key and policies; the INSECURE sim TEE.  Then local
sealing without a broker (`--local sim`, and `--local tpm` against two
swtpm instances on loopback, skipped with a reason when swtpm is missing).

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_seal.py
Prints TAP.  Every failure case checks that nothing is left at --out (and no
temporary file beside it).
"""
import glob
import hashlib
import hmac
import http.server
import os
import resource as rlimit
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import DEFAULT_MEASUREMENT, Broker, Tap, TestFailure, check, eq, run  # noqa: E402
from test_tpm_rcar import Swtpm  # noqa: E402

OTHER_MEASUREMENT = "11" * 48
CHUNK = 4096
TAG = 16


class Fake(http.server.BaseHTTPRequestHandler):
    """A 'broker' that accepts the admin upload and answers garbage to the guest."""

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = b"" if self.path.startswith("/kbs/v0/resource/") else b"\x00garbage, not JSON"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *a):
        pass


class World:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="veritee-seal-it-")
        self.brokers = []
        self.tpms = []
        self.keys = {}
        self.path = lambda *p: os.path.join(self.tmp, *p)
        self.sim = self.path("sim")

    def broker(self, name):
        key = self.path(f"{name}-admin.key")
        p = run(["admin", "keygen", key])
        check(p.returncode == 0, f"keygen {name}: {p.stderr!r}")
        b = Broker(self.tmp, name, {
            "listen": "127.0.0.1:0", "database": f"{name}.db", "master_key": f"{name}.master",
            "token_signing_key": f"{name}-token.pem", "admin_public_keys": [f"{name}-admin.key.pub"],
            "insecure_sim_root": "sim/sim-root.pem", "threads": 2})
        res = b.start()
        if res is not None:
            raise TestFailure(f"broker {name} did not start: {res!r}")
        self.brokers.append(b)
        self.keys[name] = key
        p = b.admin(key, "add-reference-value", "sim_measurement", DEFAULT_MEASUREMENT)
        check(p.returncode == 0, f"reference value on {name}: {p.stderr!r}")
        return b

    def seal(self, src, out, res, brokers, threshold=None, extra=()):
        args = ["seal", "--in", src, "--out", out, "--resource", res, "--chunk-size", str(CHUNK)]
        for url, key in brokers:
            args += ["--broker", url, "--admin-key", key]
        if threshold:
            args += ["--threshold", str(threshold)]
        return run(args + list(extra))

    def unseal(self, src, out, measurement=None, to_dir=False, **kw):
        args = ["unseal", "--in", src, "--to-dir" if to_dir else "--out", out, "--tee", "sim", "--sim-dir", self.sim]
        if measurement:
            args += ["--measurement", measurement]
        return run(args, **kw)

    def leftovers(self, out):
        d = os.path.dirname(out) or "."
        return glob.glob(os.path.join(d, "." + os.path.basename(out) + ".unseal-*"))


def absent(w, out, p=None):
    check(not os.path.lexists(out), f"{out} exists after a failure ({p.stderr[-800:] if p else ''!r})")
    left = w.leftovers(out)
    check(not left, f"temporary output left behind: {left}")


def main():
    tap = Tap()
    w = World()
    fake = None
    limit = int(os.environ.get("VERITEE_IT_TIMEOUT", "170"))

    def abort(signum, frame):
        raise TestFailure(f"signal {signum} / time limit {limit} s")
    signal.signal(signal.SIGALRM, abort)
    signal.signal(signal.SIGTERM, abort)
    signal.alarm(limit)
    try:
        fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
        threading.Thread(target=fake.serve_forever, daemon=True).start()
        cases(tap, w, f"http://127.0.0.1:{fake.server_address[1]}")
        local_cases(tap, w)
    except Exception as e:  # noqa: BLE001 - setup errors become one failed case
        def reraise(exc=e):
            raise exc
        tap.run("test harness (setup/teardown)", reraise)
    finally:
        signal.alarm(0)
        if fake:
            fake.shutdown()
        for b in w.brokers:
            b.stop()
        for t in w.tpms:
            t.stop()
        if os.environ.get("VERITEE_IT_KEEP") or tap.failed:
            print(f"# test directory kept: {w.tmp}")
        else:
            shutil.rmtree(w.tmp, ignore_errors=True)
    return tap.finish()


def cases(tap, w, fake_url):
    T = tap.run
    check(os.access(kh.VBIN, os.X_OK), f"VERITEE_BIN {kh.VBIN} is not executable")
    p = run(["attest", "--tee", "sim", "--sim-dir", w.sim, "--report-data", "00"])
    check(p.returncode == 0, f"sim keys: {p.stderr!r}")
    a, b, c = w.broker("a"), w.broker("b"), w.broker("c")
    abc = [(x.url, w.keys[x.name]) for x in (a, b, c)]

    plain = os.urandom(100_000)  # 24 full chunks and a short final one
    with open(w.path("plain.bin"), "wb") as f:
        f.write(plain)
    f1, f2 = w.path("f1.vts"), w.path("f2.vts")

    def seal_2of3():
        for f, res in ((f1, "seal/file/f1"), (f2, "seal/file/f2")):
            p = w.seal(w.path("plain.bin"), f, res, abc, threshold=2)
            eq(p.returncode, 0, f"seal exit code ({p.stderr!r})")
            check(b"2-of-3" in p.stderr, f"seal says the split: {p.stderr!r}")
        with open(f1, "rb") as fh:
            data = fh.read()
        eq(data[:8], b"VTSEALED", "magic")
        hs = struct.unpack_from("<I", data, 10)[0]
        eq(len(data), hs + (len(plain) // CHUNK) * (CHUNK + TAG) + len(plain) % CHUNK + TAG, "sealed size")
        check(plain[:64] not in data, "plaintext visible in the sealed file")
    T("seal 2-of-3 over three brokers (each its own admin key)", seal_2of3)

    with open(f1, "rb") as fh:
        sealed = fh.read()
    hs = struct.unpack_from("<I", sealed, 10)[0]
    rec = CHUNK + TAG

    def open_all():
        out = w.path("all.out")
        p = w.unseal(f1, out)
        eq(p.returncode, 0, f"unseal exit code ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
        eq(stat.S_IMODE(os.stat(out).st_mode), 0o600, "--out mode")
        check(not w.leftovers(out), "temp file left")
    T("unseal with all three brokers up gives the plaintext (0600)", open_all)

    def one_broker_alone():
        p = w.seal(w.path("plain.bin"), w.path("one.vts"), "seal/file/one", abc[2:])
        eq(p.returncode, 0, f"seal one broker ({p.stderr!r})")
        out = w.path("one.out")
        p = w.unseal(w.path("one.vts"), out)
        eq(p.returncode, 0, f"unseal ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
    T("one broker: the key is stored whole (K=N=1) and opens", one_broker_alone)

    def usage():
        p = w.seal(w.path("plain.bin"), w.path("u.vts"), "seal/file/u", abc)
        eq(p.returncode, 2, "N=3 without --threshold")
        check(b"--threshold" in p.stderr, f"stderr {p.stderr!r}")
        p = w.seal(w.path("plain.bin"), w.path("u.vts"), "seal/file/u", abc[:2], threshold=3)
        eq(p.returncode, 2, "K > N")
        check(not os.path.exists(w.path("u.vts")), "no sealed file after a usage error")
    T("seal refuses N>1 without --threshold and K>N", usage)

    def not_approved():
        out = w.path("na.out")
        p = w.unseal(f1, out, measurement=OTHER_MEASUREMENT)
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        for needle in (b"PolicyDeny", b"measurement-approved", b"0 of 3 brokers released a valid share"):
            check(needle in p.stderr, f"stderr lacks {needle!r}: {p.stderr!r}")
        absent(w, out, p)
    T("a workload whose measurement is not approved is refused (the brokers' denial shown)", not_approved)

    def tamper(name, data, *needles):
        def case():
            src, out = w.path(f"t-{name}.vts"), w.path(f"t-{name}.out")
            with open(src, "wb") as fh:
                fh.write(data)
            p = w.unseal(src, out)
            eq(p.returncode, 1, f"exit code ({p.stderr!r})")
            for n in needles:
                check(n in p.stderr, f"stderr lacks {n!r}: {p.stderr!r}")
            absent(w, out, p)
        T(f"tampered file ({name}) is refused and --out stays absent", case)

    def flip(data, at):
        b = bytearray(data)
        b[at] ^= 0x01
        return bytes(b)
    nfull = len(plain) // CHUNK
    tamper("bit flip in chunk 3", flip(sealed, hs + 3 * rec + 100), b"chunk[3]", b"does not authenticate")
    tamper("bit flip in a tag", flip(sealed, hs + rec - 1), b"chunk[0]")
    tamper("truncated mid-chunk", sealed[:-10], b"chunk[24]")
    tamper("truncated at a chunk boundary", sealed[:hs + nfull * rec], b"before its final chunk")
    tamper("truncated inside the header", sealed[:hs - 5], b"truncated")
    tamper("extended by one byte", sealed + b"\0", b"chunk[24]")
    tamper("extended by a copied chunk", sealed + sealed[hs:hs + rec], b"does not authenticate")
    reordered = sealed[:hs] + sealed[hs + rec:hs + 2 * rec] + sealed[hs:hs + rec] + sealed[hs + 2 * rec:]
    tamper("chunks 0 and 1 swapped", reordered, b"chunk[0]")
    tamper("bad magic", b"X" + sealed[1:], b"magic")
    tamper("header nonce prefix flipped", flip(sealed, 8 + 2 + 4 + 1 + 1 + 2 + 4 + 16), b"chunk[0]")
    tamper("header chunk size changed", sealed[:18] + struct.pack("<I", 8192) + sealed[22:], b"does not authenticate")
    # the commitment of broker 1 is the last 32 bytes of its entry; with it
    # wrong, brokers 2 and 3 still give K shares, and chunk 0 (header = AAD) fails
    res_len = struct.unpack_from("<H", sealed, 8 + 2 + 4 + 4 + 4 + 16 + 4 + 2)[0]
    e1 = 8 + 2 + 4 + 4 + 4 + 16 + 4 + 2 + 2 + res_len
    url1_len = struct.unpack_from("<H", sealed, e1 + 1)[0]
    tamper("commitment of broker 1 flipped", flip(sealed, e1 + 3 + url1_len + 5), b"chunk[0]")
    tamper("file id flipped (every share fails its commitment)", flip(sealed, 8 + 2 + 4 + 4 + 4 + 3),
           b"0 of 3 brokers released a valid share")

    def unreachable_in_header():
        # broker 1's URL pointed at a port nothing listens on (header tampered)
        dead = a.url.encode()
        port = int(dead.rsplit(b":", 1)[1])
        other = dead.replace(str(port).encode(), str(1 if port != 1 else 2).encode())
        check(len(other) <= len(dead), "url")
        other = other.ljust(len(dead), b"0") if len(other) < len(dead) else other
        src, out = w.path("dead.vts"), w.path("dead.out")
        data = sealed.replace(dead, other[:len(dead)], 1)
        with open(src, "wb") as fh:
            fh.write(data)
        p = w.unseal(src, out)
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")  # 2 honest shares, then the AAD check
        check(b"broker 1 of 3" in p.stderr and b"failed" in p.stderr, f"stderr {p.stderr!r}")
        absent(w, out, p)
    T("a header naming an unreachable broker: that broker is reported, the modified header refused", unreachable_in_header)

    def garbage_broker():
        src, out = w.path("g.vts"), w.path("g.out")
        p = w.seal(w.path("plain.bin"), src, "seal/file/g", abc[:2] + [(fake_url, w.keys["c"])], threshold=2)
        eq(p.returncode, 0, f"seal ({p.stderr!r})")
        p = w.unseal(src, out)
        eq(p.returncode, 0, f"unseal with a garbage broker ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
    T("a broker answering garbage is skipped; the two honest ones open the file", garbage_broker)

    def lying_broker():
        wrong = w.path("wrong.share")
        with open(wrong, "wb") as fh:
            fh.write(os.urandom(32))
        p = b.admin(w.keys["b"], "set-resource", "seal/file/f1", wrong)
        eq(p.returncode, 0, f"overwrite broker b's share ({p.stderr!r})")
        out = w.path("lie.out")
        p = w.unseal(f1, out)
        eq(p.returncode, 0, f"unseal with a lying broker ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
        # it may or may not have been waited for; when it was, it is named
        check(b"broker 2 of 3" not in p.stderr or b"does not match its commitment" in p.stderr, f"{p.stderr!r}")
    T("a broker returning a wrong share is skipped; K honest brokers still open", lying_broker)

    def lying_plus_down_fails():
        a.stop()
        out = w.path("ld.out")
        p = w.unseal(f1, out)
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        for needle in (b"1 of 3 brokers released a valid share", b"2 needed", b"does not match its commitment",
                       b"broker 1 of 3"):
            check(needle in p.stderr, f"stderr lacks {needle!r}: {p.stderr!r}")
        absent(w, out, p)
    T("one broker down and one lying: fails closed, says which answered and why", lying_plus_down_fails)

    def one_down_opens():
        out = w.path("down1.out")
        p = w.unseal(f2, out)
        eq(p.returncode, 0, f"unseal with broker a stopped ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
        check(b"broker 1 of 3" in p.stderr and b"failed" in p.stderr, f"the stopped broker is named: {p.stderr!r}")
    T("with one of three brokers stopped the 2-of-3 file still opens", one_down_opens)

    def two_down_fails():
        b.stop()
        out = w.path("down2.out")
        p = w.unseal(f2, out)
        eq(p.returncode, 2, f"exit code ({p.stderr!r})")
        for needle in (b"1 of 3 brokers released a valid share (3 answered); 2 needed", b"broker 1 of 3",
                       b"broker 2 of 3"):
            check(needle in p.stderr, f"stderr lacks {needle!r}: {p.stderr!r}")
        absent(w, out, p)
    T("with two of three brokers stopped it fails closed (counts and reasons)", two_down_fails)

    # -------------------------------------------------- one broker from here on (c)
    cc = [(c.url, w.keys["c"])]

    def directory():
        d = w.path("tree")
        os.makedirs(os.path.join(d, "sub", "deeper"))
        with open(os.path.join(d, "a.txt"), "wb") as fh:
            fh.write(b"hello\n")
        with open(os.path.join(d, "sub", "deeper", "b.bin"), "wb") as fh:
            fh.write(os.urandom(20_000))
        os.symlink("../a.txt", os.path.join(d, "sub", "ok-link"))
        p = w.seal(d, w.path("tree.vts"), "seal/dir/t", cc)
        eq(p.returncode, 0, f"seal dir ({p.stderr!r})")
        with open(w.path("tree.vts"), "rb") as fh:
            eq(fh.read()[15], 2, "payload type tar")
        p = w.unseal(w.path("tree.vts"), w.path("tree.out"))
        eq(p.returncode, 2, "--out on a sealed directory")
        check(b"--to-dir" in p.stderr, f"{p.stderr!r}")
        out = w.path("tree2")
        p = w.unseal(w.path("tree.vts"), out, to_dir=True)
        eq(p.returncode, 0, f"unseal --to-dir ({p.stderr!r})")
        r = subprocess.run(["diff", "-r", "--no-dereference", d, out], capture_output=True)
        eq(r.returncode, 0, f"trees differ: {r.stdout!r}")
        eq(os.readlink(os.path.join(out, "sub", "ok-link")), "../a.txt", "link kept as a link")
    T("seal a directory (tar) and unseal --to-dir gives the same tree", directory)

    def escaping_link():
        d = w.path("evil")
        os.makedirs(os.path.join(d, "sub"))
        os.symlink("../../../etc/passwd", os.path.join(d, "sub", "escape"))
        p = w.seal(d, w.path("evil.vts"), "seal/dir/e", cc)
        eq(p.returncode, 0, f"seal ({p.stderr!r})")
        out = w.path("evil.out")
        p = w.unseal(w.path("evil.vts"), out, to_dir=True)
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        check(b"sub/escape" in p.stderr and b"leaves the directory" in p.stderr, f"{p.stderr!r}")
        absent(w, out, p)
    T("a symbolic link escaping --to-dir is refused; nothing is extracted", escaping_link)

    def tampered_dir():
        with open(w.path("tree.vts"), "rb") as fh:
            data = bytearray(fh.read())
        data[-30] ^= 1
        with open(w.path("tree-bad.vts"), "wb") as fh:
            fh.write(data)
        out = w.path("tree-bad")
        p = w.unseal(w.path("tree-bad.vts"), out, to_dir=True)
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        absent(w, out, p)
    T("a tampered sealed directory leaves --to-dir absent", tampered_dir)

    def write_error():
        out = w.path("fsize.out")

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            rlimit.setrlimit(rlimit.RLIMIT_FSIZE, (50_000, 50_000))
        p = subprocess.run([kh.VBIN, "unseal", "--in", w.path("one.vts"), "--out", out, "--tee", "sim",
                            "--sim-dir", w.sim], capture_output=True, preexec_fn=limit, timeout=60)
        eq(p.returncode, 2, f"exit code ({p.stderr!r})")
        check(b"write failed" in p.stderr, f"stderr {p.stderr!r}")
        absent(w, out, p)
    T("a write error on the output (file size limit: EFBIG) removes the temp file", write_error)

    def to_dev_full():
        p = w.unseal(w.path("one.vts"), "/dev/full")
        eq(p.returncode, 2, f"exit code ({p.stderr!r})")
        check(b"not a regular file" in p.stderr, f"stderr {p.stderr!r}")
        check(not glob.glob("/dev/.full.unseal-*"), "temp in /dev")
    T("--out /dev/full (not a regular file) is refused before anything is written", to_dev_full)

    def sigint():
        big = w.path("big.bin")
        with open(big, "wb") as fh:
            chunk = os.urandom(1 << 20)
            for _ in range(300):
                fh.write(chunk)
        p = run(["seal", "--in", big, "--out", w.path("big.vts"), "--resource", "seal/file/big",
                 "--broker", c.url, "--admin-key", w.keys["c"]], timeout=120)
        eq(p.returncode, 0, f"seal big ({p.stderr!r})")
        os.unlink(big)
        out = w.path("big.out")
        proc = subprocess.Popen([kh.VBIN, "unseal", "--in", w.path("big.vts"), "--out", out, "--tee", "sim",
                                 "--sim-dir", w.sim], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not w.leftovers(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.002)
        check(w.leftovers(out), "the temp file never appeared")
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        eq(proc.returncode, -signal.SIGINT, f"exit status ({err!r})")
        check(b"cancelled" in err, f"stderr {err!r}")
        absent(w, out)
        os.unlink(w.path("big.vts"))
    T("SIGINT during a large unseal: no temp file, no --out", sigint)


# ------------------------------------------------------------------ local sealing

def hkdf_sha256(ikm, salt, info, n=32):
    """RFC 5869, written out here to check the documented derivation."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm, i = okm + t, i + 1
    return okm[:n]


def local_header(data):
    """The fields of a local header (docs/sealed-format.md, "Local key sources")."""
    hs = struct.unpack_from("<I", data, 10)[0]
    flags = struct.unpack_from("<H", data, 16)[0]
    file_id = data[22:38]
    k, n, rl = data[42], data[43], struct.unpack_from("<H", data, 44)[0]
    off = 46 + rl
    idx, ul = data[off], struct.unpack_from("<H", data, off + 1)[0]
    url = data[off + 3:off + 3 + ul]
    commit = data[off + 3 + ul:off + 3 + ul + 32]
    off += 3 + ul + 32
    bl = struct.unpack_from("<H", data, off)[0]
    blob = data[off + 2:off + 2 + bl]
    eq(off + 2 + bl, hs, "header_size covers the blob exactly")
    return {"hs": hs, "flags": flags, "file_id": file_id, "k": k, "n": n, "resource_len": rl, "index": idx,
            "url": url, "commitment": commit, "blob": blob, "blob_at": off + 2}


def local_cases(tap, w):
    T = tap.run
    plain = os.urandom(30_000)
    src = w.path("local.bin")
    with open(src, "wb") as f:
        f.write(plain)
    sim = w.path("local-sim")
    lf = w.path("local-sim.vts")

    def sim_seal():
        p = run(["seal", "--in", src, "--out", lf, "--local", "sim", "--sim-dir", sim, "--chunk-size", str(CHUNK)])
        eq(p.returncode, 0, f"seal --local sim ({p.stderr!r})")
        check(b"INSECURE" in p.stderr, f"the sim note: {p.stderr!r}")
        with open(lf, "rb") as fh:
            data = fh.read()
        h = local_header(data)
        eq((h["flags"], h["k"], h["n"], h["resource_len"], h["index"], h["url"], h["blob"]),
           (1, 1, 1, 0, 0, b"local:sim", b""), "local:sim header")
        # the documented derivation, recomputed: HKDF-SHA-256 over the platform
        # key's DER (RFC 5915 ECPrivateKey), then the K = 1 commitment
        der = subprocess.run(["openssl", "ec", "-in", os.path.join(sim, "platform.key"), "-outform", "DER"],
                             capture_output=True, check=True).stdout
        info = b"veritee/seal/sim/v1" + bytes.fromhex(DEFAULT_MEASUREMENT) + struct.pack("<I", 1)
        key = hkdf_sha256(der, h["file_id"], info)
        want = hashlib.sha256(b"veritee/seal/share/v1" + h["file_id"] + b"\0" + key).digest()
        eq(h["commitment"], want, "commitment of HKDF(platform key DER, file_id, label || measurement || svn)")
    T("seal --local sim: a local:sim header whose key is the documented HKDF", sim_seal)

    def sim_unseal():
        out = w.path("local-sim.out")
        p = run(["unseal", "--in", lf, "--out", out, "--sim-dir", sim])
        eq(p.returncode, 0, f"unseal without --tee or brokers ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
        eq(stat.S_IMODE(os.stat(out).st_mode), 0o600, "--out mode")
    T("unseal of a local:sim file needs no broker and no --tee", sim_unseal)

    def sim_other_workload():
        out = w.path("local-sim-other.out")
        p = run(["unseal", "--in", lf, "--out", out, "--sim-dir", sim, "--measurement", OTHER_MEASUREMENT])
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        check(b"this workload's sealing key differs (measurement " + OTHER_MEASUREMENT.encode() in p.stderr,
              f"stderr {p.stderr!r}")
        absent(w, out, p)
    T("local:sim with another measurement is refused (the sealing key differs)", sim_other_workload)

    def sim_broker_options():
        out = w.path("local-sim-notes.out")
        p = run(["unseal", "--in", lf, "--out", out, "--sim-dir", sim, "--tee", "snp", "--cacert", "x.pem",
                 "--rsa"])
        eq(p.returncode, 0, f"exit code ({p.stderr!r})")
        for needle in (b"--tee snp is not used", b"--cacert and --rsa are not used"):
            check(needle in p.stderr, f"stderr lacks {needle!r}: {p.stderr!r}")
    T("broker options given for a local file are named as not used", sim_broker_options)

    def sim_tampered():
        with open(lf, "rb") as fh:
            data = bytearray(fh.read())
        h = local_header(bytes(data))
        for name, at, needle in (("nonce prefix", 38, b"chunk[0]"), ("file id", 22, b"sealing key differs"),
                                 ("flags", 16, b"header.")):
            t = bytearray(data)
            t[at] ^= 1
            bad, out = w.path("local-sim-bad.vts"), w.path("local-sim-bad.out")
            with open(bad, "wb") as fh:
                fh.write(t)
            p = run(["unseal", "--in", bad, "--out", out, "--sim-dir", sim])
            check(p.returncode in (1, 2) and needle in p.stderr, f"{name}: exit {p.returncode} {p.stderr!r}")
            absent(w, out, p)
        check(h["hs"] > 0, "header")
    T("a tampered local:sim file is refused (chunk 0, the key, the header) and --out stays absent", sim_tampered)

    def sim_directory():
        d = w.path("local-tree")
        os.makedirs(os.path.join(d, "sub"))
        with open(os.path.join(d, "sub", "f.txt"), "wb") as fh:
            fh.write(b"local tree\n")
        p = run(["seal", "--in", d, "--out", w.path("local-tree.vts"), "--local", "sim", "--sim-dir", sim])
        eq(p.returncode, 0, f"seal dir ({p.stderr!r})")
        out = w.path("local-tree.out")
        p = run(["unseal", "--in", w.path("local-tree.vts"), "--to-dir", out, "--sim-dir", sim])
        eq(p.returncode, 0, f"unseal --to-dir ({p.stderr!r})")
        with open(os.path.join(out, "sub", "f.txt"), "rb") as fh:
            eq(fh.read(), b"local tree\n", "file in the tree")
    T("a directory sealed --local sim comes back with unseal --to-dir", sim_directory)

    def usage():
        cases = (
            (["--local", "sim", "--broker", "http://127.0.0.1:1", "--admin-key", "k"], b"without brokers"),
            (["--local", "sim", "--resource", "a/b/c"], b"without brokers"),
            (["--local", "sim", "--pcrs", "7"], b"--pcrs goes with --local tpm"),
            (["--local", "tpm", "--pcrs", "7,24"], b"0..23"),
            (["--local", "sgx"], b"want tpm, snp or sim"),
            (["--pcrs", "7"], b"go with --local"),
            (["--local", "snp", "--snp-fields", "measurement,launch"], b"launch"),
            (["--local", "snp", "--vmpl", "4"], b"--vmpl"),
        )
        for extra, needle in cases:
            out = w.path("u-local.vts")
            p = run(["seal", "--in", src, "--out", out] + extra)
            eq(p.returncode, 2, f"{extra}: exit code ({p.stderr!r})")
            check(needle in p.stderr, f"{extra}: stderr {p.stderr!r}")
            check(not os.path.exists(out), f"{extra}: output written")
        p = run(["unseal", "--in", w.path("one.vts"), "--out", w.path("u-local.out")])
        eq(p.returncode, 2, f"a broker file without --tee ({p.stderr!r})")
        check(b"--tee TEE" in p.stderr, f"stderr {p.stderr!r}")
    T("seal --local refuses broker options and options of another kind; broker files still need --tee", usage)

    def no_snp():
        out = w.path("local-snp.vts")
        p = run(["seal", "--in", src, "--out", out, "--local", "snp"])
        eq(p.returncode, 2, f"exit code ({p.stderr!r})")
        check(b"needs an SEV-SNP guest: /dev/sev-guest is absent" in p.stderr, f"stderr {p.stderr!r}")
        check(not os.path.exists(out) and not glob.glob(out + "*") and not w.leftovers(out), "nothing written")
    if os.path.exists("/dev/sev-guest"):
        tap.skip("seal --local snp without /dev/sev-guest says so", "this machine has /dev/sev-guest")
    else:
        T("seal --local snp without /dev/sev-guest says so", no_snp)

    # -------------------------------------------------- TPM (swtpm)
    tpm_cases = ["seal --local tpm --pcrs 7,11 and unseal through $VERITEE_TPM_TCTI",
                 "another TPM refuses the sealed object (TPM2_Load)",
                 "a flipped byte in the TPM's private part is refused by TPM2_Load",
                 "after PCR 11 is extended unseal is refused, naming PCR 11"]
    if shutil.which("swtpm") is None:
        for c in tpm_cases:
            tap.skip(c, "swtpm is not installed (Debian: swtpm)")
        return
    ta, tb = Swtpm(w.tmp, "tpm-a"), Swtpm(w.tmp, "tpm-b")
    w.tpms += [ta, tb]
    ta.start()
    tb.start()
    tf = w.path("local-tpm.vts")

    def tpm_seal():
        p = run(["seal", "--in", src, "--out", tf, "--local", "tpm", "--pcrs", "7,11", "--tpm-tcti", ta.tcti])
        eq(p.returncode, 0, f"seal --local tpm ({p.stderr!r})")
        check(b"PCRs 7,11" in p.stderr, f"stderr {p.stderr!r}")
        with open(tf, "rb") as fh:
            h = local_header(fh.read())
        eq((h["flags"], h["url"]), (1, b"local:tpm"), "local:tpm header")
        eq(h["blob"][:6], bytes([0x00, 0x0B, 0x03, 0x80, 0x08, 0x00]), "TPMS_PCR_SELECTION of SHA-256 PCRs 7, 11")
        out = w.path("local-tpm.out")
        p = run(["unseal", "--in", tf, "--out", out], env=dict(os.environ, VERITEE_TPM_TCTI=ta.tcti))
        eq(p.returncode, 0, f"unseal ({p.stderr!r})")
        with open(out, "rb") as fh:
            eq(fh.read(), plain, "plaintext")
    T(tpm_cases[0], tpm_seal)

    def tpm_other():
        out = w.path("local-tpm-b.out")
        p = run(["unseal", "--in", tf, "--out", out, "--tpm-tcti", tb.tcti])
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        check(b"sealed by a different TPM" in p.stderr, f"stderr {p.stderr!r}")
        absent(w, out, p)
    T(tpm_cases[1], tpm_other)

    def tpm_flipped():
        with open(tf, "rb") as fh:
            data = bytearray(fh.read())
        h = local_header(bytes(data))
        data[h["hs"] - 1] ^= 1  # the last byte of the blob: TPM2B_PRIVATE
        bad, out = w.path("local-tpm-bad.vts"), w.path("local-tpm-bad.out")
        with open(bad, "wb") as fh:
            fh.write(data)
        p = run(["unseal", "--in", bad, "--out", out, "--tpm-tcti", ta.tcti])
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        check(b"TPM2_Load" in p.stderr, f"stderr {p.stderr!r}")
        absent(w, out, p)
    T(tpm_cases[2], tpm_flipped)

    def tpm_extended():
        e = subprocess.run(["tpm2_pcrextend", "-T", ta.tcti, "11:sha256=" + "5a" * 32], capture_output=True,
                           env=dict(os.environ, TSS2_LOG="all+none"))
        eq(e.returncode, 0, f"tpm2_pcrextend ({e.stderr!r})")
        out = w.path("local-tpm-ext.out")
        p = run(["unseal", "--in", tf, "--out", out, "--tpm-tcti", ta.tcti])
        eq(p.returncode, 1, f"exit code ({p.stderr!r})")
        check(b"PCR 11 changed since sealing (policy check failed)" in p.stderr, f"stderr {p.stderr!r}")
        absent(w, out, p)
    if shutil.which("tpm2_pcrextend") is None:
        tap.skip(tpm_cases[3], "tpm2_pcrextend (tpm2-tools) is not installed")
    else:
        T(tpm_cases[3], tpm_extended)


if __name__ == "__main__":
    sys.exit(main())
