#!/usr/bin/python3
"""The library split (docs/decisions.md, "Libraries"), checked on the built files.

Run from the repo root:  VERITEE_BIN=build/veritee /usr/bin/python3 tests/integration/test_libs.py
Prints TAP.  The build directory is the one holding VERITEE_BIN; it must hold
libveritee-verifier.so and the veritee-*-uninstalled.pc files (`make all`).

* libveritee-verifier.so: neither its DT_NEEDED entries (readelf -d) nor its
  whole dependency closure (ldd) name libmicrohttpd, SQLite, tss2-esys,
  tss2-tctildr, tss2-sys or libcurl, and it leaves no symbol of theirs
  undefined; its soname is libveritee-verifier.so.0.
* The other two libraries need what they should (attester -> verifier,
  tss2-esys, libcurl; broker -> attester, verifier, libmicrohttpd, SQLite).
* A small C program built with `pkg-config veritee-verifier` (the build's
  -uninstalled.pc) and linked against nothing else verifies `veritee attest
  --tee sim` evidence through vt_verifier_new / vt_verifier_verify, refuses it
  with another nonce, and (with the shared SNP vectors) fails closed with
  field fetch.http_get when an SNP report needs AMD KDS: no HTTP client.  Its
  own ldd lacks the server, TPM-access and HTTP libraries as well.
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VBIN = os.path.abspath(os.environ.get("VERITEE_BIN") or os.path.join(ROOT, "build", "veritee"))
BUILD = os.path.dirname(VBIN)
VECTORS = os.environ.get("VERITEE_VECTORS") or os.path.join(os.path.dirname(ROOT), "shared", "vectors")
FORBIDDEN = ("libmicrohttpd", "libsqlite3", "libtss2-esys", "libtss2-tctildr", "libtss2-sys", "libcurl")
# Symbol prefixes of those libraries (libtss2-mu/-rc, which the verifier may use, are Tss2_MU_ / Tss2_RC_).
FORBIDDEN_SYMS = ("MHD_", "sqlite3_", "Esys_", "Tss2_TctiLdr_", "Tss2_Sys_", "curl_")
TIMEOUT = 120

n = 0
failed = 0


def ok(name, cond, diag=""):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {name}")
    else:
        failed += 1
        print(f"not ok {n} - {name}")
        for line in str(diag).rstrip().splitlines()[:40]:
            print(f"#   {line[:2000]}")
    sys.stdout.flush()
    return cond


def skip(name, why):
    global n
    n += 1
    print(f"ok {n} - {name} # SKIP {why}")
    sys.stdout.flush()


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, env=env, cwd=cwd)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def lib_env():
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = BUILD + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["PKG_CONFIG_PATH"] = BUILD
    return env


def needed(path):
    rc, out, err = run(["readelf", "-d", path])
    if rc != 0:
        raise RuntimeError(f"readelf -d {path}: {err}")
    libs, soname = [], None
    for line in out.splitlines():
        if "(NEEDED)" in line:
            libs.append(line.split("[", 1)[1].rstrip("]"))
        elif "(SONAME)" in line:
            soname = line.split("[", 1)[1].rstrip("]")
    return libs, soname, out


def ldd(path):
    rc, out, err = run(["ldd", path], env=lib_env())
    return rc, out + err


def bad_in(text):
    return [f for f in FORBIDDEN if f in text]


PROGRAM = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "veritee/util.h"
#include "veritee/verifier.h"

static int verify(const char *tee_name, json_t *tees, const char *file, const char *nonce_hex, const char *want_field)
{
	const struct vt_tee *tee = vt_tee_find(tee_name);
	if (tee == NULL) {
		printf("no tee %s\n", tee_name);
		return 2;
	}
	struct vt_verifier_settings vs = {.tees = tees, .flags = VT_VERIFIER_ONLY_NAMED}; /* http_get NULL */
	struct vt_verifier *v = NULL;
	struct vt_err e;
	vt_err_clear(&e);
	if (vt_verifier_new(&vs, &v, &e) != VT_OK) {
		printf("verifier: %s: %s\n", e.field, e.detail);
		return 2;
	}
	uint8_t *text = NULL;
	size_t len = 0;
	json_t *ev = NULL, *claims = NULL;
	vt_status rc = vt_file_read(file, 16u << 20, &text, &len, &e);
	if (rc == VT_OK)
		rc = tee->load_file ? tee->load_file(text, len, &ev, &e) : vt_json_parse((const char *)text, len, 16u << 20, &ev, &e);
	if (rc != VT_OK) {
		printf("load: %s: %s\n", e.field, e.detail);
		return 2;
	}
	uint8_t rd[64];
	struct vt_binding bind = {0};
	if (nonce_hex != NULL) {
		size_t n = strlen(nonce_hex) / 2;
		for (size_t i = 0; i < n && i < sizeof(rd); i++)
			sscanf(nonce_hex + 2 * i, "%2hhx", &rd[i]);
		bind.report_data = rd;
		bind.report_data_size = n;
	}
	vt_err_clear(&e);
	rc = vt_verifier_verify(v, tee, ev, &bind, vt_now(), NULL, &claims, &e);
	printf("status=%s field=%s detail=%s\n", vt_status_name(rc), e.field, e.detail);
	if (rc == VT_OK) {
		char *s = json_dumps(claims, JSON_COMPACT);
		printf("claims=%s\n", s ? s : "?");
		free(s);
	}
	int exit_code = want_field == NULL ? (rc == VT_OK ? 0 : 1) : (rc != VT_OK && strcmp(e.field, want_field) == 0 ? 0 : 1);
	json_decref(ev);
	json_decref(claims);
	free(text);
	vt_verifier_free(v);
	return exit_code;
}

int main(int argc, char **argv)
{
	json_t *tees = NULL;
	int rc = 2;
	if (argc == 5 && strcmp(argv[1], "sim") == 0) {
		/* sim ROOT EVIDENCE NONCE */
		tees = json_pack("{s:{s:s}}", "sim", "root", argv[2]);
		rc = verify("sim", tees, argv[3], argv[4], NULL);
	} else if (argc == 3 && strcmp(argv[1], "snp-online") == 0) {
		/* snp-online REPORT: needs AMD KDS; this program has no HTTP client */
		tees = json_pack("{s:{s:s}}", "snp", "kds_url", "http://127.0.0.1:9");
		rc = verify("snp", tees, argv[2], NULL, "fetch.http_get");
	}
	json_decref(tees);
	return rc;
}
'''


def main():
    so = os.path.join(BUILD, "libveritee-verifier.so")
    if not os.path.exists(so):
        skip("libveritee-verifier.so", f"not built in {BUILD} (make BUILD={os.path.relpath(BUILD, ROOT)} all)")
        return

    # --- the verifier library itself
    libs, soname, raw = needed(so)
    asan = any(lib.startswith("libasan") for lib in libs)
    ok("verifier: soname libveritee-verifier.so.0", soname == "libveritee-verifier.so.0", raw)
    ok("verifier: readelf -d NEEDED has no server/TPM-access/HTTP library", not bad_in(" ".join(libs)),
       f"NEEDED: {libs}")
    want = ("libcrypto", "libjansson", "libcbor", "libtss2-mu", "libtss2-rc")
    ok("verifier: readelf -d NEEDED has openssl, jansson, libcbor, tss2-mu, tss2-rc",
       all(any(lib.startswith(w) for lib in libs) for w in want), f"NEEDED: {libs}")
    rc, out = ldd(so)
    ok("verifier: ldd closure has none of " + ", ".join(FORBIDDEN), rc == 0 and not bad_in(out), out)
    ok("verifier: ldd resolves every dependency", rc == 0 and "not found" not in out, out)
    rc, out, err = run(["nm", "-D", "--undefined-only", so])
    und = [line.split()[-1] for line in out.splitlines() if line.strip()]
    bad_syms = [s for s in und if s.startswith(FORBIDDEN_SYMS)]
    ok("verifier: no undefined curl_/MHD_/sqlite3_/Esys_/TctiLdr symbol", rc == 0 and not bad_syms,
       f"{bad_syms[:20]} {err}")
    rc, out, err = run(["nm", "-D", "--defined-only", so])
    defined = {line.split()[-1] for line in out.splitlines() if line.strip()}
    ok("verifier: exports vt_verifier_new, vt_tee_find, vt_verifier_http_get, not vt_curl_http_get",
       {"vt_verifier_new", "vt_tee_find", "vt_verifier_http_get"} <= defined and "vt_curl_http_get" not in defined,
       err)

    # --- the other two (when this build made them)
    for name, must in (("attester", ("libveritee-verifier.so.0", "libtss2-esys", "libcurl")),
                       ("broker", ("libveritee-attester.so.0", "libveritee-verifier.so.0", "libmicrohttpd",
                                   "libsqlite3"))):
        path = os.path.join(BUILD, f"libveritee-{name}.so")
        if not os.path.exists(path):
            skip(f"{name}: NEEDED", f"libveritee-{name}.so not built in {BUILD}")
            continue
        libs2, soname2, raw2 = needed(path)
        ok(f"{name}: soname libveritee-{name}.so.0 and NEEDED " + ", ".join(must),
           soname2 == f"libveritee-{name}.so.0" and all(any(lib.startswith(m) for lib in libs2) for m in must),
           raw2)
        if name == "broker":
            rc, out, err = run(["nm", "-D", "--defined-only", path])
            ok("broker: does not carry the verifier or attester objects",
               rc == 0 and " vt_verifier_new" not in out and " vt_curl_http_get" not in out, err)

    # --- a program against the verifier library only
    tmp = tempfile.mkdtemp(prefix="veritee-libs-")
    keep = False
    try:
        env = lib_env()
        pc = os.path.join(BUILD, "veritee-verifier-uninstalled.pc")
        if not os.path.exists(pc):
            skip("pkg-config veritee-verifier", f"{pc} not built")
            return
        rc, flags, err = run(["pkg-config", "--cflags", "--libs", "veritee-verifier"], env=env)
        ok("pkg-config --cflags --libs veritee-verifier (the build's -uninstalled.pc)",
           rc == 0 and "-lveritee-verifier" in flags and "-lveritee-attester" not in flags
           and not bad_in(flags) and "-lmicrohttpd" not in flags and "-lsqlite3" not in flags
           and "-lcurl" not in flags and "-ltss2-esys" not in flags, flags + err)
        if rc != 0:
            return
        src = os.path.join(tmp, "verify_only.c")
        exe = os.path.join(tmp, "verify_only")
        with open(src, "w") as f:
            f.write(PROGRAM)
        cc = "gcc" if asan else os.environ.get("CC", "cc")
        cmd = [cc, "-std=c17", "-Wall", "-Wextra", "-o", exe, src]
        if asan:
            cmd += ["-fsanitize=address,undefined"]
        cmd += flags.split()
        rc, out, err = run(cmd, env=env)
        if not ok("compile and link a program with only the verifier library", rc == 0, " ".join(cmd) + "\n" + err):
            keep = True
            return
        libs3, _, raw3 = needed(exe)
        ok("program: NEEDED libveritee-verifier.so.0 and no other veritee library",
           "libveritee-verifier.so.0" in libs3 and not any(lib.startswith(("libveritee-attester", "libveritee-broker"))
                                                           for lib in libs3), raw3)
        rc, out = ldd(exe)
        ok("program: ldd has none of " + ", ".join(FORBIDDEN), rc == 0 and not bad_in(out)
           and "libveritee-verifier.so.0 => " + BUILD in out, out)

        # sim evidence from the CLI, verified by the program
        simdir = os.path.join(tmp, "sim")
        evf = os.path.join(tmp, "evidence.json")
        nonce = "5eed" * 16
        rc, out, err = run([VBIN, "attest", "--tee", "sim", "--sim-dir", simdir, "--report-data", nonce])
        if not ok("veritee attest --tee sim", rc == 0, err):
            keep = True
            return
        with open(evf, "w") as f:
            f.write(out)
        root = os.path.join(simdir, "sim-root.pem")
        rc, out, err = run([exe, "sim", root, evf, nonce], env=env)
        ok("program verifies sim evidence (vt_tee_find, vt_verifier_new, vt_verifier_verify)",
           rc == 0 and "claims=" in out, f"rc={rc}\n{out}\n{err}")
        rc, out, err = run([exe, "sim", root, evf, "00" * 64], env=env)
        ok("program rejects it with another nonce", rc == 1 and "claims=" not in out, f"rc={rc}\n{out}\n{err}")

        report = os.path.join(VECTORS, "snp", "teekit_gcp_milan_v5_report.bin")
        if os.path.exists(report):
            rc, out, err = run([exe, "snp-online", report], env=env)
            ok("program: an SNP report needing AMD KDS fails closed (fetch.http_get, no HTTP client)",
               rc == 0 and "no HTTP client in this program" in out, f"rc={rc}\n{out}\n{err}")
        else:
            skip("program: SNP report needing AMD KDS fails closed", f"no shared vectors ({report})")
    finally:
        if keep or os.environ.get("VERITEE_IT_KEEP"):
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        ok("test_libs.py ran to the end", False, repr(e))
    print(f"1..{n}")
    sys.exit(1 if failed else 0)
