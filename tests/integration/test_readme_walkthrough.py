#!/usr/bin/python3
"""The README's "A broker from scratch" walkthrough, run as written, so that it cannot rot.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_readme_walkthrough.py
Prints TAP.  Takes every ```sh block between the markers <!-- walkthrough:begin
... --> and <!-- walkthrough:end --> of README.md and runs them, in order, as one
`bash -euo pipefail` script, in a fresh temporary HOME (so ~/.local/share/veritee/sim
and ~/kbs are new) from a stand-in for the repository whose build/veritee is
$VERITEE_BIN.  Two things differ from a reader's run, and only these: the
build line `make deps && make` is not run (the binary under test is already
built; the line must still be there, verbatim), and the broker's port 8080 is
replaced by a free loopback port.  Checks: the script exits 0, the approved
guest got the secret, the other one was refused naming rule
measurement-approved, and the admin listings show what was set.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("VERITEE_BIN", os.path.join(REPO, "build", "veritee")))
BUILD_LINE = "make deps && make"

results = []


def tap(name, ok, why=""):
    results.append(ok)
    print(f"ok {len(results)} - {name}" if ok else f"not ok {len(results)} - {name}", flush=True)
    if not ok and why:
        for line in str(why).splitlines()[-40:]:
            print(f"#   {line}")


def blocks():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- walkthrough:begin.*?-->(.*?)<!-- walkthrough:end -->", text, re.S)
    if not m:
        return None
    return re.findall(r"```sh\n(.*?)```", m.group(1), re.S)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    if not os.access(BIN, os.X_OK):
        print(f"1..1\nnot ok 1 - veritee binary {BIN} missing")
        return 1
    bl = blocks()
    tap("README.md has the walkthrough markers and sh blocks between them", bool(bl), "no walkthrough found")
    if not bl:
        print(f"1..{len(results)}")
        return 1
    tap("the first block builds (make deps && make) and puts build/ on the PATH",
        BUILD_LINE in bl[0] and 'export PATH="$PWD/build:$PATH"' in bl[0], bl[0])
    script = "\n".join(bl).replace(BUILD_LINE, ": # built already: the binary under test")
    tap("the broker listens on 127.0.0.1:8080 in the README", "127.0.0.1:8080" in script, script)
    port = free_port()
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{port}")

    tmp = tempfile.mkdtemp(prefix="veritee-readme-")
    home = os.path.join(tmp, "home")
    repo = os.path.join(tmp, "repo")
    os.makedirs(home)
    os.makedirs(os.path.join(repo, "build"))
    os.symlink(BIN, os.path.join(repo, "build", "veritee"))
    env = {"HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    p = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=repo, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    finally:
        try:
            os.killpg(p.pid, signal.SIGTERM)  # a broker the script left behind
        except ProcessLookupError:
            pass
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    why = f"rc={p.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    try:
        tap("the walkthrough runs to the end: exit 0", p.returncode == 0, why)
        tap("the sim root is where the README says",
            os.path.isfile(os.path.join(home, ".local/share/veritee/sim/sim-root.pem")), why)
        tap("the approved guest got the secret", "my disk key" in out, why)
        tap("the other workload was refused, naming the rule measurement-approved",
            "refused, as it should be" in out and "measurement-approved" in err, why)
        tap("the admin listings show the secret's path and the reference value (never the value)",
            re.search(r"default/key/disk\s+11 bytes", out) is not None and re.search(r"sim_measurement\s+1 value", out)
            is not None and out.count("my disk key") == 1, why)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
