#!/usr/bin/python3
"""Replicas under load, faults and time (issue 15): the long runs of the
harness in tests/integration/cluster.py.  Results go to stdout as JSON lines
and a table; copy them into docs/benchmarks.md with the command.

  bench/cluster_bench.py load [--seconds S] [--levels 1,4,16,64,256]
      closed-loop rounds at each concurrency against: 3 replicas on PostgreSQL
      behind HAProxy, 1 replica on PostgreSQL (behind HAProxy), one broker on
      SQLite (no proxy) and the same behind HAProxy (--setups picks; default
      the first three); the crypto-only bound in the same run;
      rounds/s, p50/p99, errors, CPU used by every process (replicas,
      PostgreSQL, HAProxy, the client) and rounds/s per core used.
  bench/cluster_bench.py sessions [--count 10000]
      3 replicas: open COUNT sessions (/auth only), RSS of each replica and
      session rows in the database (none: a session lives in its cookie until
      /attest), then complete them all; p50/p99 of each phase.
  bench/cluster_bench.py soak [--minutes 60] [--concurrency 2] [--png docs/soak.png]
      3 replicas at a steady moderate load; every minute: RSS and open file
      descriptors of each replica, database connections, p99 and errors of
      that minute; a PNG plot (gnuplot) at the end.

BUILD selects the build directory (default build); VERITEE_BIN overrides the binary.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if "VERITEE_BIN" not in os.environ:
    os.environ["VERITEE_BIN"] = os.path.join(ROOT, os.environ.get("BUILD", "build"), "veritee")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import cluster as cl  # noqa: E402


def out(obj):
    print(json.dumps(obj), flush=True)


def run_levels(c, label, levels, seconds, bound_seconds):
    """Each level between two measurements of the crypto bound; its
    efficiency is against the higher of the two (the machine is shared and
    its speed moves: the conservative reading)."""
    rows = []
    c.load(4, 2)  # warm-up: connections, caches
    before = c.crypto_bound(bound_seconds)
    for conc in levels:
        cpu0 = c.cpu()
        t0 = time.monotonic()
        res = c.load(conc, seconds)
        wall = time.monotonic() - t0
        cpu1 = c.cpu()
        after = c.crypto_bound(bound_seconds)
        server = cl.cpu_delta(cpu0, cpu1)
        # The client ran inside [t0, t0 + wall]; its CPU is its own report.
        cores = (server + res["cpu_s"]) / res["seconds"]
        bound = max(before, after)
        res.update({"setup": label, "server_cpu_s": round(server, 3), "cpu_s_by_role": c.cpu_by_role(cpu0, cpu1),
                    "cpu_ms_per_round": {k: round(v * 1000 / max(res["rounds"], 1), 3)
                                         for k, v in dict(c.cpu_by_role(cpu0, cpu1), client=res["cpu_s"]).items()},
                    "cores_used": round(cores, 3),
                    "rounds_per_core_used": round(res["rounds_per_s"] / cores, 1) if cores else 0,
                    "crypto_bound_per_core": bound, "crypto_bound_before_after": [before, after],
                    "wall_s": round(wall, 2)})
        res["efficiency"] = round(res["rounds_per_core_used"] / bound, 3) if bound else 0
        out(res)
        rows.append(res)
        before = after
    return rows


def cmd_load(args):
    levels = [int(x) for x in args.levels.split(",")]
    results = []
    setups = [("3 replicas, PostgreSQL, HAProxy", dict(replicas=3, pg=True, haproxy=True)),
              ("1 replica, PostgreSQL, HAProxy", dict(replicas=1, pg=True, haproxy=True)),
              ("1 broker, SQLite, no proxy", dict(replicas=1, pg=False, haproxy=False)),
              # The floor of the topology: HAProxy in front, no shared database.
              ("1 broker, SQLite, HAProxy", dict(replicas=1, pg=False, haproxy=True))]
    setups = [setups[int(i)] for i in (args.setups or "0,1,2").split(",")]
    for label, kw in setups:
        with cl.Cluster(threads=args.threads, pool=args.pool, name="bench", **kw) as c:
            c.start()
            out({"setup": label, "threads": args.threads, "pool": args.pool, "cores": os.cpu_count()})
            results += run_levels(c, label, levels, args.seconds, args.crypto_seconds)
    print()
    print(f"{'setup':34} {'conc':>5} {'rounds/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
          f"{'cores':>6} {'r/s/core':>8} {'bound':>6} {'eff':>5}")
    for r in results:
        print(f"{r['setup']:34} {r['concurrency']:>5} {r['rounds_per_s']:>9.1f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['errors']:>6} {r['cores_used']:>6.2f} {r['rounds_per_core_used']:>8.1f} "
              f"{r['crypto_bound_per_core']:>6.1f} {r['efficiency']:>5.2f}")
    print("cores = CPU seconds of every process (replicas, PostgreSQL, HAProxy, the client) / wall seconds;")
    print("eff = (rounds/s per core used) / (crypto-only rounds per CPU-second, one thread per core: the higher")
    print("      of the measurements just before and just after the level)")


def cmd_sessions(args):
    with cl.Cluster(replicas=3, threads=args.threads, pool=args.pool, name="bench-sessions") as c:
        c.start()
        rss0 = {b.name: cl.proc_rss_kib(b.proc.pid) for b in c.brokers}
        p = subprocess.Popen([cl.bench_bin(), "sessions", c.url, c.sim_dir, c.resource, c.secret.hex(),
                              str(args.count), str(args.concurrency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        held = json.loads(p.stdout.readline())
        rss_held = {b.name: cl.proc_rss_kib(b.proc.pid) for b in c.brokers}
        # A session lives in its cookie until /attest: no row yet.
        in_db = int(c.sql("SELECT count(*) FROM attested"))
        held.update({"rss_kib_idle": rss0, "rss_kib_held": rss_held, "session_rows_in_db": in_db})
        out(held)
        p.stdin.write("go\n")
        p.stdin.flush()
        done = json.loads(p.stdout.readline())
        p.wait()
        done["rss_kib_after"] = {b.name: cl.proc_rss_kib(b.proc.pid) for b in c.brokers}
        done["session_rows_in_db"] = int(c.sql("SELECT count(*) FROM attested"))
        out(done)


def plot(rows, png):
    data = png + ".dat"
    with open(data, "w") as f:
        f.write("# minute rss_r0_mib rss_r1_mib rss_r2_mib fds_r0 fds_r1 fds_r2 db_conns p99_ms\n")
        for r in rows:
            rss = [r["rss_kib"][k] / 1024 for k in sorted(r["rss_kib"])]
            fds = [r["fds"][k] for k in sorted(r["fds"])]
            f.write(" ".join(str(x) for x in [r["minute"]] + rss + fds + [r["db_connections"], r["p99_ms"]]) + "\n")
    script = f"""set terminal pngcairo size 1100,800 font ",10"
set output "{png}"
set multiplot layout 2,2 title "veritee soak: 3 replicas on PostgreSQL behind HAProxy, steady load"
set xlabel "minute"
set key bottom right
set ylabel "RSS (MiB)"; set yrange [0:*]
plot "{data}" u 1:2 w lp t "r0", "" u 1:3 w lp t "r1", "" u 1:4 w lp t "r2"
set ylabel "open fds"
plot "{data}" u 1:5 w lp t "r0", "" u 1:6 w lp t "r1", "" u 1:7 w lp t "r2"
set ylabel "database connections"
plot "{data}" u 1:8 w lp t "veritee connections"
set ylabel "p99 round (ms)"
plot "{data}" u 1:9 w lp t "p99 of the minute"
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        os.unlink(data)


def cmd_soak(args):
    rows = []
    with cl.Cluster(replicas=3, threads=args.threads, pool=args.pool, name="bench-soak") as c:
        c.start()
        for minute in range(1, args.minutes + 1):
            res = c.load(args.concurrency, 60)
            row = {"minute": minute, "rounds_per_s": res["rounds_per_s"], "p50_ms": res["p50_ms"],
                   "p99_ms": res["p99_ms"], "errors": res["errors"], "mismatch": res["mismatch"],
                   "rss_kib": {b.name: cl.proc_rss_kib(b.proc.pid) for b in c.brokers},
                   "fds": {b.name: cl.proc_fds(b.proc.pid) for b in c.brokers},
                   "db_connections": c.db_connections(),
                   "attested_rows": int(c.sql("SELECT count(*) FROM attested")),
                   "audit_rows": int(c.sql("SELECT count(*) FROM audit"))}
            out(row)
            rows.append(row)
    if args.png:
        plot(rows, args.png)
        print(f"plot: {args.png}")
    warm = rows[len(rows) // 6:] if len(rows) >= 6 else rows
    for k in ("r0", "r1", "r2"):
        rs = [r["rss_kib"][k] for r in warm]
        print(f"{k}: RSS after warm-up {min(rs) / 1024:.1f}..{max(rs) / 1024:.1f} MiB, "
              f"fds {min(r['fds'][k] for r in warm)}..{max(r['fds'][k] for r in warm)}")
    print(f"database connections {min(r['db_connections'] for r in warm)}..{max(r['db_connections'] for r in warm)}; "
          f"p99 {min(r['p99_ms'] for r in warm):.1f}..{max(r['p99_ms'] for r in warm):.1f} ms; "
          f"errors {sum(r['errors'] for r in rows)}, mismatches {sum(r['mismatch'] for r in rows)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["load", "sessions", "soak"])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--levels", default="1,4,16,64,256")
    ap.add_argument("--setups", default=None,
                    help="load: which of 0 (3 replicas), 1 (1 replica), 2 (SQLite), 3 (SQLite behind HAProxy)")
    ap.add_argument("--crypto-seconds", type=float, default=3)
    ap.add_argument("--threads", type=int, default=4, help="worker threads per replica")
    ap.add_argument("--pool", type=int, default=4, help="database connections per replica")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    if args.mode == "load":
        cmd_load(args)
    elif args.mode == "sessions":
        args.concurrency = args.concurrency or 32
        cmd_sessions(args)
    else:
        args.concurrency = args.concurrency or 2
        cmd_soak(args)


if __name__ == "__main__":
    main()
