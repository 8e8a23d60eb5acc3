#!/usr/bin/env python3
"""`veritee admin` must not do dangerous things silently (issue 16, first items):
keygen refuses to overwrite a key, add-reference-value adds (it does not
revoke what was approved before), remove-reference-value and
set-reference-values do what they say.  A real broker on loopback."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if "jwcrypto" not in sys.modules:
    try:
        import jwcrypto  # noqa: F401
    except ImportError:  # the pyenv python has no jwcrypto: use Debian's
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Broker, Tap, check, eq, run  # noqa: E402


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="veritee-admin-cli-")
    key = os.path.join(tmp, "admin.key")
    b = None
    try:
        def keygen_refuses():
            p = run(["admin", "keygen", key])
            eq(p.returncode, 0, f"first keygen: {p.stderr!r}")
            with open(key, "rb") as f:
                first = f.read()
            p = run(["admin", "keygen", key])
            eq(p.returncode, 2, "second keygen exit code")
            check(b"already exists" in p.stderr and b"--force" in p.stderr, f"stderr {p.stderr!r}")
            with open(key, "rb") as f:
                eq(f.read(), first, "the key is untouched")
            p = run(["admin", "keygen", "--force", key])
            eq(p.returncode, 0, f"keygen --force: {p.stderr!r}")
            with open(key, "rb") as f:
                check(f.read() != first, "--force wrote a new key")
        tap.run("admin keygen refuses to overwrite a key without --force", keygen_refuses)

        b = Broker(tmp, "b", {"listen": "127.0.0.1:0", "database": "kbs.db", "master_key": "master.key",
                              "admin_public_keys": ["admin.key.pub"]})
        check(b.start() is None, "broker did not start")

        def values(name):
            p = b.admin(key, "get-reference-value", name)
            eq(p.returncode, 0, f"get {name}: {p.stderr!r}")
            return json.loads(p.stdout)

        def add_keeps():
            eq(b.admin(key, "add-reference-value", "img", "aa", "bb").returncode, 0, "first add")
            eq(b.admin(key, "add-reference-value", "img", "cc", "aa").returncode, 0, "second add")
            eq(values("img"), ["aa", "bb", "cc"], "add keeps the approved values, no duplicates")
        tap.run("add-reference-value adds: approving a new image does not revoke the old one", add_keeps)

        def remove_some():
            p = b.admin(key, "remove-reference-value", "img", "bb", "zz")
            eq(p.returncode, 0, f"remove: {p.stderr!r}")
            check(b"zz was not a value of img" in p.stderr, f"stderr {p.stderr!r}")
            eq(values("img"), ["aa", "cc"], "remove takes out only what it names")
        tap.run("remove-reference-value removes only the named values", remove_some)

        def set_exact():
            eq(b.admin(key, "set-reference-values", "img", "dd").returncode, 0, "set")
            eq(values("img"), ["dd"], "set replaces")
        tap.run("set-reference-values replaces the list", set_exact)
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
