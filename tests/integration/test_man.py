#!/usr/bin/env python3
"""The manual pages (scripts/man.sh, help2man from the program's --help):
one for veritee and one for each command `veritee --help` lists, each
renders without groff warnings, has NAME (with the command's summary),
SYNOPSIS, DESCRIPTION and EXIT STATUS, and carries every option its
command's --help shows (the pages are that help, not a second copy).

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_man.py
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VBIN = os.path.abspath(os.environ.get("VERITEE_BIN") or os.path.join(ROOT, "build", "veritee"))


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def result(self, name, err=None):
        self.n += 1
        if err is None:
            print(f"ok {self.n} - {name}")
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}")
            for line in str(err).splitlines():
                print(f"#   {line}")
        sys.stdout.flush()


def commands():
    out = subprocess.run([VBIN, "--help"], capture_output=True, text=True, check=True).stdout
    names, on = [], False
    for line in out.splitlines():
        if line.startswith("commands:"):
            on = True
        elif on and not line.strip():
            on = False
        elif on and re.match(r"^  [a-z]", line):
            name = line.split()[0]
            if name != "help" and name not in names:  # a command may have two lines (verify)
                names.append(name)
    return names


def render(page):
    env = dict(os.environ, MANWIDTH="100", LANG="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=env)
    # man prints its pager-less output; strip overstrike (bold, underline).
    text = re.sub(r".\x08", "", p.stdout)
    # Words groff hyphenated at a line end, joined again.
    text = re.sub(r"[\u2010-]\n\s+(?=\S)", lambda m: "-" if m.group(0)[0] == "-" else "", text)
    return p.returncode, text, p.stderr


def main():
    tap = Tap()
    if shutil.which("help2man") is None or shutil.which("man") is None:
        tap.result("manual pages # SKIP help2man or man is not installed (apt-get install help2man man-db, or scripts/install-deps.sh test)")
        print(f"1..{tap.n}")
        return 0
    tmp = tempfile.mkdtemp(prefix="veritee-man-")
    try:
        out = os.path.join(tmp, "man")
        p = subprocess.run([os.path.join(ROOT, "scripts", "man.sh"), VBIN, out, "0.1.0"], capture_output=True,
                           text=True, timeout=300)
        tap.result("scripts/man.sh builds the pages", None if p.returncode == 0 else p.stderr)
        cmds = commands()
        want = sorted(["veritee.1"] + [f"veritee-{c}.1" for c in cmds])
        got = sorted(os.listdir(out)) if os.path.isdir(out) else []
        tap.result(f"one page for veritee and each of its {len(cmds)} commands",
                   None if got == want else f"got {got}, want {want}")
        for page in ["veritee"] + [f"veritee-{c}" for c in cmds]:
            path = os.path.join(out, page + ".1")
            if not os.path.exists(path):
                tap.result(f"{page}(1)", "missing")
                continue
            rc, text, err = render(path)
            problems = []
            if rc != 0 or err.strip():
                problems.append(f"man -l: rc {rc}, warnings {err.strip()!r}")
            for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"):
                if not re.search(rf"^{section}$", text, re.M):
                    problems.append(f"no {section} section")
            m = re.search(r"^NAME\n\s+(\S+) - (.+)$", text, re.M)
            if not m or m.group(1) != page or "manual page for" in m.group(2) or not m.group(2).strip():
                problems.append(f"NAME line: {m.group(0) if m else None!r}")
            cmd = page[len("veritee-"):] if page != "veritee" else None
            help_text = subprocess.run([VBIN] + ([cmd] if cmd else []) + ["--help"], capture_output=True,
                                       text=True).stdout
            flat = re.sub(r"\s+", " ", text)
            missing = sorted({f for f in re.findall(r"--[a-z0-9][a-z0-9-]*", help_text) if f not in flat})
            if missing:
                problems.append(f"options of --help missing from the page: {missing}")
            tap.result(f"{page}(1) renders, has its sections and every option of its --help",
                       "\n".join(problems) if problems else None)
        _, text, _ = render(os.path.join(out, "veritee-serve.1"))
        ok = all(s in text for s in ("--check-config", "SIGHUP", "FILES", "/etc/veritee/kbs.json", "EXAMPLES"))
        tap.result("veritee-serve(1) has the reload, check-config, files and examples", None if ok else text[:3000])
        _, text, _ = render(os.path.join(out, "veritee.1"))
        missing = [c for c in cmds if f"veritee-{c}(1)" not in text]
        tap.result("veritee(1) points to every command's page (SEE ALSO)",
                   None if not missing else f"missing: {missing}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{tap.n}")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
