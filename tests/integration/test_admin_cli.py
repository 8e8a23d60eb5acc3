#!/usr/bin/env python3
"""`veritee admin` must not do dangerous things silently (issue 16, first items):
keygen refuses to overwrite a key, add-reference-value adds (it does not
revoke what was approved before), remove-reference-value and
set-reference-values do what they say.  And it is complete (issue 16, "Admin
completeness"): list/get/delete for resources (paths and sizes, never
values), the resource policy, attestation policies and reference values,
through the broker's admin endpoints; a denial or an admin error is printed
as text, not as the broker's raw JSON.  A real broker on loopback."""
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbs_helpers as kh  # noqa: E402
from kbs_helpers import Broker, Tap, check, eq, run  # noqa: E402


def out(p):
    return p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def admin_completeness(tap, b, key, tmp):
    secret = b"s3cr3t-" + os.urandom(8).hex().encode()
    sfile = os.path.join(tmp, "secret.bin")
    with open(sfile, "wb") as f:
        f.write(secret)

    def no_secret(*ps):
        for p in ps:
            check(secret not in p.stdout and secret not in p.stderr, "the secret value appears in the output")

    def resources():
        p = b.admin(key, "list-resources")
        eq(p.returncode, 0, f"list-resources (empty): {p.stderr!r}")
        check(b"no resources stored" in p.stdout, f"stdout {p.stdout!r}")
        p = b.admin(key, "set-resource", "default/key/one", sfile)
        eq(p.returncode, 0, f"set-resource: {p.stderr!r}")
        check(f"stored resource default/key/one ({len(secret)} bytes)".encode() in p.stdout, f"stdout {p.stdout!r}")
        eq(b.admin(key, "set-resource", "default/key/two", sfile).returncode, 0, "second set-resource")
        p1 = b.admin(key, "list-resources")
        eq(p1.returncode, 0, "list-resources")
        lines = [ln.split() for ln in p1.stdout.decode().splitlines()]
        eq(lines, [["default/key/one", str(len(secret)), "bytes"], ["default/key/two", str(len(secret)), "bytes"]],
           "list-resources: path and size of each, in order")
        p2 = b.admin(key, "list-resources", "--json")
        eq(json.loads(p2.stdout), {"resources": [{"path": "default/key/one", "size": len(secret)},
                                                 {"path": "default/key/two", "size": len(secret)}]},
           "list-resources --json")
        p3 = b.admin(key, "get-resource", "default/key/one")
        eq(p3.returncode, 0, "get-resource")
        check(b"default/key/one" in p3.stdout and f"{len(secret)} bytes".encode() in p3.stdout
              and b"not shown" in p3.stdout, f"stdout {p3.stdout!r}")
        no_secret(p1, p2, p3)
        p = b.admin(key, "get-resource", "default/key/none")
        eq(p.returncode, 1, "get-resource of a missing one exits 1")
        o, e = out(p)
        check("refused (HTTP 404, PluginInternalError): no resource default/key/none" in e and '{"type"' not in e,
              f"stderr {e!r}")
        p = b.admin(key, "delete-resource", "default/key/one")
        eq(p.returncode, 0, f"delete-resource: {p.stderr!r}")
        check(b"deleted resource default/key/one" in p.stdout, f"stdout {p.stdout!r}")
        p = b.admin(key, "delete-resource", "default/key/one")
        eq(p.returncode, 1, "deleting it again exits 1")
        check(b"HTTP 404" in p.stderr and b"no resource default/key/one" in p.stderr, f"stderr {p.stderr!r}")
        p = b.admin(key, "list-resources", "--json")
        eq([r["path"] for r in json.loads(p.stdout)["resources"]], ["default/key/two"], "after the delete")
        p = b.admin(key, "get-resource", "../etc")
        eq(p.returncode, 2, "a bad resource path is refused locally (exit 2)")
    tap.run("resources: set, list (paths and sizes, never values), get (metadata), delete; 404 as text", resources)

    custom = {"version": 1, "id": "default_sim", "rules": [
        {"name": "custom-rule", "claim": "/sim/debug", "equals": False, "on_pass": {"hardware": 2}}]}
    pfile = os.path.join(tmp, "policy.json")
    with open(pfile, "w") as f:
        json.dump(custom, f)

    def att_policies():
        p = b.admin(key, "list-attestation-policies")
        eq(p.returncode, 0, f"list-attestation-policies: {p.stderr!r}")
        rows = {ln.split()[0]: ln.split()[1] for ln in p.stdout.decode().splitlines()[1:]}
        eq(rows.get("default_sim"), "built-in", f"default_sim listed as built-in: {rows}")
        check("default_cpu" in rows and "resource-policy" not in rows, f"rows {rows}")
        p = b.admin(key, "--id", "default_sim", "set-attestation-policy", pfile)
        eq(p.returncode, 0, f"set-attestation-policy: {p.stderr!r}")
        check(b"attestation policy default_sim updated" in p.stdout, f"stdout {p.stdout!r}")
        p = b.admin(key, "list-attestation-policies")
        check(re.search(rb"default_sim\s+uploaded \(replaces the built-in default\)", p.stdout), f"{p.stdout!r}")
        p = b.admin(key, "list-attestation-policies", "--json")
        ent = [x for x in json.loads(p.stdout)["policies"] if x["id"] == "default_sim"]
        eq(ent, [{"id": "default_sim", "source": "uploaded", "has_built_in": True}], "--json entry")
        p = b.admin(key, "get-attestation-policy", "default_sim")
        eq(p.returncode, 0, "get-attestation-policy")
        eq(json.loads(p.stdout), custom, "get returns the uploaded policy")
        p = b.admin(key, "delete-attestation-policy", "default_sim")
        eq(p.returncode, 0, f"delete-attestation-policy: {p.stderr!r}")
        check(b"attestation policy default_sim deleted: its built-in default is in force again" in p.stdout,
              f"stdout {p.stdout!r}")
        p = b.admin(key, "get-attestation-policy", "default_sim")
        names = [r["name"] for r in json.loads(p.stdout)["rules"]]
        check("custom-rule" not in names and "measurement-approved" in names, f"rules after delete {names}")
        p = b.admin(key, "delete-attestation-policy", "default_sim")
        eq(p.returncode, 1, "deleting the built-in default exits 1")
        check(b"is the built-in default: nothing uploaded to delete" in p.stderr, f"stderr {p.stderr!r}")
        p = b.admin(key, "get-attestation-policy", "nope_x")
        eq(p.returncode, 1, "get of an unknown policy exits 1")
        check(b"HTTP 404" in p.stderr and b"no policy nope_x" in p.stderr, f"stderr {p.stderr!r}")
        p = b.admin(key, "--id", "default_sim", "list-attestation-policies")
        eq(p.returncode, 2, "--id with another command is a usage error")
    tap.run("attestation policies: list (uploaded vs built-in), get, delete back to the built-in default", att_policies)

    def resource_policy():
        p = b.admin(key, "get-resource-policy")
        eq(p.returncode, 0, f"get-resource-policy: {p.stderr!r}")
        eq(json.loads(p.stdout)["id"], "resource-policy", "the built-in resource policy")
        rp = {"version": 1, "id": "resource-policy", "rules": [
            {"name": "only-affirming", "claim": "/submods/*/ear.status", "equals": "affirming"}]}
        rfile = os.path.join(tmp, "rp.json")
        with open(rfile, "w") as f:
            json.dump(rp, f)
        p = b.admin(key, "set-resource-policy", rfile)
        eq(p.returncode, 0, f"set-resource-policy {p.stderr!r}")
        eq(json.loads(b.admin(key, "get-resource-policy").stdout), rp, "get shows the uploaded one")
        p = b.admin(key, "delete-resource-policy")
        eq(p.returncode, 0, f"delete-resource-policy {p.stderr!r}")
        check(b"the built-in default is in force" in p.stdout, f"stdout {p.stdout!r}")
        names = [r["name"] for r in json.loads(b.admin(key, "get-resource-policy").stdout)["rules"]]
        eq(names, ["attestation-affirming"], "the built-in default again")
    tap.run("resource policy: get (its text), set, delete back to the built-in default", resource_policy)

    def refvals():
        eq(b.admin(key, "set-reference-values", "img2", "aa", "bb").returncode, 0, "set img2")
        p = b.admin(key, "list-reference-values")
        eq(p.returncode, 0, f"list-reference-values {p.stderr!r}")
        rows = {ln.split()[0]: ln.split()[1] for ln in p.stdout.decode().splitlines()}
        eq((rows.get("img"), rows.get("img2")), ("1", "2"), f"counts {rows}")
        p = b.admin(key, "list-reference-values", "--json")
        got = {x["name"]: x["count"] for x in json.loads(p.stdout)["reference_values"]}
        eq((got.get("img"), got.get("img2")), (1, 2), "--json counts")
        p = b.admin(key, "delete-reference-value", "img2")
        eq(p.returncode, 0, f"delete-reference-value {p.stderr!r}")
        check(b"deleted reference value img2" in p.stdout, f"stdout {p.stdout!r}")
        p = b.admin(key, "list-reference-values", "--json")
        check("img2" not in [x["name"] for x in json.loads(p.stdout)["reference_values"]], "img2 gone")
        p = b.admin(key, "delete-reference-value", "img2")
        eq(p.returncode, 1, "deleting it again exits 1")
        check(b"reference value img2 not found" in p.stderr and b'{"type"' not in p.stderr, f"stderr {p.stderr!r}")
        p = b.admin(key, "get-reference-value", "img2")
        eq(p.returncode, 1, "get of a deleted reference value exits 1")
        check(b"refused (HTTP 401, RvpsError): reference value not found" in p.stderr, f"stderr {p.stderr!r}")
    tap.run("reference values: list (names and counts), delete; errors as text", refvals)

    def survives_restart():
        b.stop()
        check(b.start() is None, "broker restart")
        p = b.admin(key, "list-reference-values", "--json")
        check("img2" not in [x["name"] for x in json.loads(p.stdout)["reference_values"]], "img2 still gone")
        p = b.admin(key, "list-resources", "--json")
        eq([r["path"] for r in json.loads(p.stdout)["resources"]], ["default/key/two"], "resources after restart")
    tap.run("deletions are stored: a restarted broker does not bring them back", survives_restart)

    def denied():
        other = os.path.join(tmp, "other.key")
        eq(run(["admin", "keygen", other]).returncode, 0, "keygen other")
        p = b.admin(other, "list-resources")
        eq(p.returncode, 1, "a key the broker does not know: exit 1")
        o, e = out(p)
        check("veritee admin: denied (HTTP 401): " in e and "admin token is not signed by a configured admin key" in e,
              f"stderr {e!r}")
        check("admin_public_keys" in e and '{"type"' not in e, f"stderr {e!r}")
        r = kh.request(b.port, "GET", "/kbs/v0/admin/resources")
        kh.expect_err(r, 401, "AdminAuthAccess")
        r = kh.request(b.port, "DELETE", "/kbs/v0/reference-value/img")
        kh.expect_err(r, 401, "AdminAuthAccess")
        p = run(["admin", "--url", "http://127.0.0.1:9", "--key", key, "list-resources"])
        eq(p.returncode, 2, "a broker that cannot be reached: exit 2")
        p = run(["admin", "--url", b.url, "--key", key, "--url", b.url, "list-resources"])
        eq(p.returncode, 2, "--url twice: exit 2")
        check(b"--url given twice" in p.stderr, f"stderr {p.stderr!r}")
        p = run(["admin", "--url", b.url, "--key", os.path.join(tmp, "missing.key"), "list-resources", "--help"])
        eq(p.returncode, 0, "--help needs no readable key")
        check(p.stdout.startswith(b"usage: veritee admin"), f"stdout {p.stdout[:80]!r}")
    tap.run("denials and errors as text with a hint; unreachable broker exit 2; --help without a key", denied)


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

        admin_completeness(tap, b, key, tmp)
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
