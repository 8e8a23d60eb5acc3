#!/usr/bin/python3
"""`veritee demo` and `veritee demo --tee tpm`, as a user runs them.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_demo.py
Prints TAP.  Each demo must exit 0 with last line "demo: ok …", show the
released secret and the refusal naming the policy rule, and leave nothing
behind: its broker port and (tpm) swtpm port closed, the swtpm process gone,
its temporary directory removed.  Without swtpm the tpm cases print `# SKIP`.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Tap, TestFailure, check, eq  # noqa: E402

TIMEOUT = int(os.environ.get("VERITEE_IT_TIMEOUT", "110"))


def demo(*args, env=None):
    p = subprocess.run([kh.VBIN, "demo", *args], capture_output=True, timeout=TIMEOUT, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def pid_alive(pid):
    """A live (not zombie) process with this pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def common(rc, out, err, rule, refusals=1):
    eq(rc, 0, f"exit code (stderr {err[-2000:]!r}, stdout tail {out[-2000:]!r})")
    lines = out.rstrip("\n").splitlines()
    check(lines and lines[-1].startswith("demo: ok"), f"last line: {lines[-1:]!r}")
    check(f"(rule {rule})" in lines[-1], f"last line does not name rule {rule}: {lines[-1]!r}")
    m = re.search(r'released secret \([^)]*\): "(disk-key-[0-9a-f]{16})"', out)
    check(m is not None, "no released-secret line")
    why = [ln for ln in lines if ln.strip().startswith("why:")]
    check(len(why) == refusals, f"expected {refusals} refusal explanation(s), got {why!r}")
    check(f'rule "{rule}"' in why[0], f"refusal does not name rule {rule}: {why[0]!r}")
    check(re.search(r"refused at \w+: HTTP 401 PolicyDeny", out) is not None, "no 'refused at … PolicyDeny' line")
    check("Sanitizer" not in err and "runtime error" not in err, f"sanitizer report: {err[-3000:]!r}")
    # Nothing left behind: broker port closed, temporary directory removed.
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", out)
    check(m is not None, "no broker listening line")
    check(not accepts(int(m.group(1))), f"broker port {m.group(1)} still accepts connections")
    m = re.search(r"removing (/tmp/veritee-demo-\w+)", out)
    check(m is not None, "no 'removing DIR' line")
    check(not os.path.exists(m.group(1)), f"{m.group(1)} left behind")


def main():
    tap = Tap()
    if not os.access(kh.VBIN, os.X_OK):
        tap.run("VERITEE_BIN is executable", lambda: (_ for _ in ()).throw(TestFailure(f"{kh.VBIN}")))
        return tap.finish()

    def sim():
        rc, out, err = demo()
        common(rc, out, err, "measurement-approved", refusals=2)
        check("INSECURE" in out, "the sim demo does not say it is INSECURE")
        check("released the model key to the CPU + 2 GPUs" in out, "composite step: no release to CPU + 2 GPUs")
        why = [ln for ln in out.splitlines() if ln.strip().startswith("why:")]
        check("/submods/gpu0/ear.status" in why[1] and 'rule "gpu-firmware-approved"' in why[1],
              f"the GPU refusal does not name the GPU and its rule: {why[1]!r}")
    tap.run("veritee demo (sim): secret released, modified workload refused (rule measurement-approved), "
            "CPU + 2 GPUs released and refused with unapproved GPUs", sim)

    def help_text():
        rc, out, err = demo("--help")
        eq(rc, 0, "exit code")
        check("--tee tpm" in out and "swtpm" in out, f"help: {out!r}")
    tap.run("veritee demo --help documents --tee tpm", help_text)

    def no_swtpm():
        env = dict(os.environ, PATH="/nonexistent-veritee-test")
        rc, out, err = demo("--tee", "tpm", env=env)
        eq(rc, 2, f"exit code (stdout {out!r})")
        check("install swtpm, or run the demo without --tee tpm" in err, f"stderr: {err!r}")
        check("demo: ok" not in out, "demo: ok without swtpm")
    tap.run("veritee demo --tee tpm without swtpm: clear error, exit 2", no_swtpm)

    tpm_cases = ["veritee demo --tee tpm: secret released, refused after PCR 11 extended (rule pcr11)"]
    if shutil.which("swtpm") is None:
        for name in tpm_cases:
            tap.skip(name, "swtpm is not installed (apt-get install swtpm)")
        return tap.finish()

    def tpm():
        t0 = time.monotonic()
        rc, out, err = demo("--tee", "tpm")
        common(rc, out, err, "pcr11")
        m = re.search(r"swtpm: pid (\d+), TPM 2\.0 on 127\.0\.0\.1:(\d+) \(control channel (\d+)\)", out)
        check(m is not None, "no swtpm line")
        pid, port, ctrl = int(m.group(1)), int(m.group(2)), int(m.group(3))
        check(not pid_alive(pid), f"swtpm pid {pid} still running")
        check(not accepts(port) and not accepts(ctrl), f"swtpm ports {port}/{ctrl} still accept connections")
        check("trusted_aks" in out and "tpm_pcr11" in out, "enrollment lines missing")
        check("EK certificate" in out, "the transcript does not say how real deployments enroll AKs")
        check("PCR 11:" in out, "no PCR 11 change line")
        print(f"#   tpm demo took {time.monotonic() - t0:.1f} s")
    tap.run(tpm_cases[0], tpm)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
