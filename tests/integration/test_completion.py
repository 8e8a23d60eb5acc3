#!/usr/bin/env python3
"""Shell completion of veritee (dist/completion): completion.bash drives the
bash completion through bash-completion's machinery; then the zsh completion
is loaded by zsh's compinit and driven through a real interactive zsh on a
pseudo-terminal (zsh/zpty).  TAP output.

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_completion.py
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VBIN = os.path.abspath(os.environ.get("VERITEE_BIN") or os.path.join(ROOT, "build", "veritee"))

def main():
    n = 0
    failed = 0
    script = os.path.join(HERE, "completion.bash")
    env = dict(os.environ, VERITEE_BIN=VBIN)
    p = subprocess.run(["bash", script], capture_output=True, text=True, env=env, timeout=300)
    out = p.stdout
    # Renumber completion.bash's TAP lines into this program's.
    for line in out.splitlines():
        if line.startswith("ok ") or line.startswith("not ok "):
            n += 1
            head, _, rest = line.partition(" - ")
            word = "not ok" if line.startswith("not ok") else "ok"
            if word == "not ok":
                failed += 1
            print(f"{word} {n} - bash: {rest}")
        elif line.startswith("#"):
            print(line)
    if p.returncode != 0 and not any(l.startswith("not ok") for l in out.splitlines()):
        n += 1
        failed += 1
        print(f"not ok {n} - bash: completion.bash exited {p.returncode}")
        for line in p.stderr.splitlines()[-20:]:
            print(f"#   {line}")

    n, failed = zsh_cases(n, failed)
    print(f"1..{n}")
    return 1 if failed else 0


def zsh_cases(n, failed):
    """The zsh completion: loads (compinit, autoload) and completes the same lines."""
    def result(name, err):
        nonlocal n, failed
        n += 1
        if err is None:
            print(f"ok {n} - zsh: {name}")
        else:
            failed += 1
            print(f"not ok {n} - zsh: {name}")
            for line in str(err).splitlines():
                print(f"#   {line}")

    zsh = shutil.which("zsh")
    if zsh is None:
        n += 1
        print(f"ok {n} - zsh completion # SKIP zsh is not installed (apt-get install zsh)")
        return n, failed
    src = os.path.join(ROOT, "dist", "completion", "_veritee")
    p = subprocess.run([zsh, "-n", src], capture_output=True, text=True)
    result("_veritee parses (zsh -n)", None if p.returncode == 0 else p.stderr)

    tmp = tempfile.mkdtemp(prefix="veritee-zcomp-")
    try:
        os.makedirs(os.path.join(tmp, "site"))
        os.makedirs(os.path.join(tmp, "bin"))
        os.makedirs(os.path.join(tmp, "cwd", "sub"))
        shutil.copy(src, os.path.join(tmp, "site", "_veritee"))
        os.symlink(VBIN, os.path.join(tmp, "bin", "veritee"))
        for f in ("kbs.json", "ev.json"):
            open(os.path.join(tmp, "cwd", f), "w").close()
        helper = os.path.join(HERE, "completion_zsh.zsh")
        tees = subprocess.run([VBIN, "--help"], capture_output=True, text=True).stdout
        tees = next((l.split()[1].split(",") for l in tees.splitlines() if l.startswith("TEEs:")), [])
        cases = [
            ("veritee ver", {"verify", "version"}),
            ("veritee verify ", set(tees)),
            ("veritee serve --con", {"--config"}),
            ("veritee serve --config ", {"kbs.json", "ev.json", "sub"}),
            ("veritee serve --", {"--config", "--listen", "--print-port", "--check-config", "--log-format",
                                  "--log-level", "--help"}),
            ("veritee demo --tee ", {"sim", "tpm"}),
            ("veritee corim ", {"show"}),
        ]
        p = subprocess.run([zsh, "-f", helper, tmp] + [c[0] for c in cases], capture_output=True, text=True,
                           timeout=120, cwd=os.path.join(tmp, "cwd"), stdin=subprocess.DEVNULL)
        got = {}
        for line in p.stdout.splitlines():
            if line.startswith("RESULT\t"):
                _, line_in, words = line.split("\t", 2)
                got[line_in] = set(w for w in words.split(" ") if w)
        for line_in, want in cases:
            if line_in not in got:
                result(f"'{line_in}<TAB>'", f"no answer from zsh; stderr: {p.stderr[-1500:]}\nstdout: {p.stdout[-1500:]}")
            elif got[line_in] != want:
                result(f"'{line_in}<TAB>'", f"got {sorted(got[line_in])}, want {sorted(want)}")
            else:
                result(f"'{line_in}<TAB>' offers {' '.join(sorted(want))[:60]}", None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n, failed


if __name__ == "__main__":
    sys.exit(main())
