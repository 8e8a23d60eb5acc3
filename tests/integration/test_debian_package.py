#!/usr/bin/env python3
"""The Debian source package (debian/) builds and holds what it should.

The source tree is copied to a temporary directory (without .git and build
directories) and built there with `dpkg-buildpackage -us -uc -b`
(DEB_BUILD_OPTIONS="nocheck parallel=2": the project is compiled once more).
Then: the .debs exist; `dpkg-deb -c` lists the program, a man page for it
and each command, the bash and zsh completion, the systemd unit and the
example config in veritee, the shared libraries in their packages, headers,
static libraries and pkg-config files naming /usr in libveritee-dev;
Build-Depends covers the build list of scripts/install-deps.sh; the packaged
program runs; the unit's hardening scores as `systemd-analyze security`
says; `make uninstall` removes everything `make install` put in the staging
directory.  Nothing is installed on this machine.

Skipped (with the reason) when dpkg-buildpackage or debhelper is missing
(`make test` installs them: scripts/install-deps.sh test), and for
sanitizer builds (the package does not depend on VERITEE_BIN: one build per
run of the test suite is enough).

    VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_debian_package.py
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VBIN = os.path.abspath(os.environ.get("VERITEE_BIN") or os.path.join(ROOT, "build", "veritee"))
VERSION = "0.1.0"
LIBS = ("verifier", "attester", "broker")
TIMEOUT = int(os.environ.get("VERITEE_DEB_TIMEOUT", "1500"))


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def run(self, name, fn):
        self.n += 1
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            print(f"not ok {self.n} - {name}")
            for line in str(e).rstrip().splitlines():
                print(f"#   {line[:2000]}")
        else:
            print(f"ok {self.n} - {name}")
        sys.stdout.flush()

    def skip(self, name, why):
        self.n += 1
        print(f"ok {self.n} - {name} # SKIP {why}")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def ignore(dirpath, names):
    """What is not source: VCS, build directories, caches, fuzzing leftovers."""
    top = os.path.abspath(dirpath) == ROOT
    out = set()
    for n in names:
        if n in ("__pycache__", ".git") or (top and (n == "build" or n.startswith("build-"))):
            out.add(n)
        elif n.startswith(("crash-", "leak-", "timeout-")) and os.path.basename(dirpath) == "fuzz":
            out.add(n)
    return out


def install_deps_build_list():
    """The packages of `scripts/install-deps.sh build`: its first pkgs="..." line."""
    with open(os.path.join(ROOT, "scripts", "install-deps.sh")) as f:
        for line in f:
            m = re.match(r'^pkgs="([^"$]*)"\s*$', line.strip())
            if m:
                return m.group(1).split()
    raise Fail("no pkgs=\"...\" line in scripts/install-deps.sh")


def build_depends():
    text = open(os.path.join(ROOT, "debian", "control")).read()
    m = re.search(r"^Build-Depends:(.*?)(?=^\S)", text, re.M | re.S)
    check(m, "no Build-Depends in debian/control")
    field = re.sub(r"^#.*$", "", m.group(1), flags=re.M)
    names = set()
    for dep in field.split(","):
        dep = dep.strip()
        if dep:
            names.add(re.split(r"[\s(<\[]", dep, maxsplit=1)[0])
    return names


def deb_list(deb):
    p = sh(["dpkg-deb", "-c", deb])
    check(p.returncode == 0, f"dpkg-deb -c {deb}: {p.stderr}")
    # "-rw-r--r-- root/root 1234 2024-01-01 00:00 ./usr/bin/veritee [-> target]"
    return {re.sub(r" -> .*$", "", line.split(None, 5)[5]).lstrip(".") for line in p.stdout.splitlines()}


def deb_file(deb, path):
    p = subprocess.run(f"dpkg-deb --fsys-tarfile {deb} | tar -xO .{path}", shell=True, capture_output=True)
    check(p.returncode == 0, f"{path} from {deb}: {p.stderr!r}")
    return p.stdout.decode()


def deb_field(deb, field):
    return sh(["dpkg-deb", "-f", deb, field]).stdout.strip()


def main():
    tap = Tap()
    missing = [c for c in ("dpkg-buildpackage", "dh", "dpkg-deb") if shutil.which(c) is None]
    if missing:
        tap.skip("Debian package", f"{', '.join(missing)} not installed (apt-get install dpkg-dev debhelper, "
                                   "or scripts/install-deps.sh test)")
        print(f"1..{tap.n}")
        return 0
    if "asan" in os.path.basename(os.path.dirname(VBIN)) or "tsan" in os.path.basename(os.path.dirname(VBIN)):
        tap.skip("Debian package", "a sanitizer build's run: the package is built once, in the normal build's run")
        print(f"1..{tap.n}")
        return 0

    tmp = tempfile.mkdtemp(prefix="veritee-deb-")
    src = os.path.join(tmp, f"veritee-{VERSION}")
    debs = {}
    host_before = sh(["dpkg-query", "-W", "-f=${Status}", "veritee"]).stdout
    keep = bool(os.environ.get("VERITEE_IT_KEEP"))
    try:
        def build_depends_cover_install_deps():
            want = set(install_deps_build_list()) - {"gcc", "make"}  # build-essential
            have = build_depends()
            check(want <= have, f"in scripts/install-deps.sh build but not in Build-Depends: {sorted(want - have)}")
        tap.run("debian/control Build-Depends has every package of install-deps.sh build",
                build_depends_cover_install_deps)

        def build():
            shutil.copytree(ROOT, src, symlinks=True, ignore=ignore)
            env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2 noddebs", DEB_BUILD_PROFILES="nocheck",
                       LC_ALL="C.UTF-8")
            env.pop("MAKEFLAGS", None)
            env.pop("MFLAGS", None)
            log = os.path.join(tmp, "build.log")
            t0 = time.monotonic()
            with open(log, "w") as f:
                p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, stdout=f,
                                   stderr=subprocess.STDOUT, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
            print(f"# dpkg-buildpackage took {time.monotonic() - t0:.0f} s")
            if p.returncode != 0:
                with open(log) as f:
                    tail = f.read()[-6000:]
                raise Fail(f"dpkg-buildpackage exited {p.returncode}; last lines of its log:\n{tail}")
            arch = sh(["dpkg-architecture", "-qDEB_HOST_ARCH"]).stdout.strip()
            for pkg in ["veritee", "libveritee-dev"] + [f"libveritee-{lib}0" for lib in LIBS]:
                deb = os.path.join(tmp, f"{pkg}_{VERSION}_{arch}.deb")
                check(os.path.exists(deb), f"{os.path.basename(deb)} not built; {os.listdir(tmp)}")
                debs[pkg] = deb
        tap.run("dpkg-buildpackage -us -uc -b builds veritee, libveritee-{verifier,attester,broker}0, "
                "libveritee-dev", build)
        if len(debs) != 2 + len(LIBS):
            print(f"1..{tap.n}")
            return 1

        cmds = []
        out = subprocess.run([os.path.join(src, "debian", "build", "veritee"), "--help"], capture_output=True,
                             text=True).stdout
        on = False
        for line in out.splitlines():
            if line.startswith("commands:"):
                on = True
            elif on and not line.strip():
                on = False
            elif on and re.match(r"^  [a-z]", line) and line.split()[0] != "help":
                cmds.append(line.split()[0])

        def veritee_contents():
            files = deb_list(debs["veritee"])
            want = {"/usr/bin/veritee", "/usr/share/bash-completion/completions/veritee",
                    "/usr/share/zsh/vendor-completions/_veritee", "/lib/systemd/system/veritee-serve.service",
                    "/usr/share/doc/veritee/examples/kbs.json", "/usr/share/man/man1/veritee.1.gz"}
            want |= {f"/usr/share/man/man1/veritee-{c}.1.gz" for c in cmds}
            check(len(cmds) >= 10, f"commands found in --help: {cmds}")
            check(want <= files, f"missing from the veritee package: {sorted(want - files)}")
            stray = [f for f in files if "/usr/local" in f or "/include/" in f or ".so" in f or f.endswith(".a")]
            check(not stray, f"not for this package: {stray}")
        tap.run("veritee: the program, a man page per command, bash and zsh completion, the unit, an example",
                veritee_contents)

        def libs_contents():
            for lib in LIBS:
                files = deb_list(debs[f"libveritee-{lib}0"])
                check(f"/usr/lib/libveritee-{lib}.so.0" in files, f"libveritee-{lib}0: {sorted(files)}")
            files = deb_list(debs["libveritee-dev"])
            want = {"/usr/include/veritee/broker.h", "/usr/include/veritee/verifier.h"}
            for lib in LIBS:
                want |= {f"/usr/lib/libveritee-{lib}.a", f"/usr/lib/libveritee-{lib}.so",
                         f"/usr/lib/pkgconfig/veritee-{lib}.pc"}
            check(want <= files, f"missing from libveritee-dev: {sorted(want - files)}")
            for lib in LIBS:
                pc = deb_file(debs["libveritee-dev"], f"/usr/lib/pkgconfig/veritee-{lib}.pc")
                check(re.search(r"^prefix=/usr$", pc, re.M), f"veritee-{lib}.pc:\n{pc}")
                check("/usr/local" not in pc and tmp not in pc, f"veritee-{lib}.pc names another place:\n{pc}")
            dep = deb_field(debs["libveritee-attester0"], "Depends")
            check("libveritee-verifier0" in dep, f"libveritee-attester0 Depends: {dep}")
        tap.run("libraries in their packages; libveritee-dev has headers, .a, .so and .pc files naming /usr",
                libs_contents)

        def program_runs():
            root = os.path.join(tmp, "root")
            p = sh(["dpkg-deb", "-x", debs["veritee"], root])
            check(p.returncode == 0, p.stderr)
            p = sh([os.path.join(root, "usr", "bin", "veritee"), "--version"])
            check(p.returncode == 0 and VERSION in p.stdout, f"packaged veritee --version: {p!r}")
            dep = deb_field(debs["veritee"], "Depends")
            check("libsystemd0" in dep and "libssl3" in dep, f"veritee Depends: {dep}")
            unit = deb_file(debs["veritee"], "/lib/systemd/system/veritee-serve.service")
            for line in ("Type=notify", "ExecStart=/usr/bin/veritee serve --config /etc/veritee/kbs.json",
                         "ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes", "ProtectSystem=strict",
                         "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service"):
                check(line in unit, f"unit lacks {line!r}")
        tap.run("the packaged program runs; Depends from shlibs; the unit starts veritee serve (Type=notify)",
                program_runs)

        def unit_security():
            if shutil.which("systemd-analyze") is None:
                print("# systemd-analyze not installed: exposure not measured")
                return
            unit = os.path.join(tmp, "veritee-serve.service")
            with open(unit, "w") as f:
                f.write(deb_file(debs["veritee"], "/lib/systemd/system/veritee-serve.service"))
            p = sh(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit])
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout + p.stderr)
            check(m, f"systemd-analyze security: {p.stdout[-2000:]} {p.stderr[-2000:]}")
            print(f"# systemd-analyze security: exposure {m.group(1)} (0 = most locked down, 10 = unprotected)")
            check(float(m.group(1)) <= 2.0, f"exposure {m.group(1)} > 2.0:\n{p.stdout}")
        tap.run("the unit's exposure (systemd-analyze security --offline) is at most 2.0", unit_security)

        def uninstall():
            stage = os.path.join(src, "debian", "tmp")
            before = [os.path.join(d, f) for d, _, fs in os.walk(stage) for f in fs]
            check(len(before) > 20, f"staging directory debian/tmp: {before}")
            p = sh(["make", "-s", "BUILD=debian/build", "PREFIX=/usr", "SYSTEMDUNITDIR=/lib/systemd/system",
                    f"DESTDIR={stage}", "uninstall"], cwd=src)
            check(p.returncode == 0, f"make uninstall: {p.stderr}")
            left = [os.path.join(d, f)[len(stage):] for d, _, fs in os.walk(stage) for f in fs]
            check(not left, f"left after make uninstall: {left}")
        tap.run("make uninstall removes all that make install staged (dh_auto_install's debian/tmp)", uninstall)

        def host_untouched():
            after = sh(["dpkg-query", "-W", "-f=${Status}", "veritee"]).stdout
            check(after == host_before, f"dpkg status of veritee changed: {host_before!r} -> {after!r}")
        tap.run("nothing was installed on this machine", host_untouched)
    finally:
        if keep or tap.failed:
            print(f"# kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{tap.n}")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
