"""A veritee cluster on this machine, for the fault tests and the benchmarks.

PostgreSQL (Debian's postgresql-15: initdb in a temporary directory, loopback,
a free port; tests/pg-server.sh), N `veritee serve` replicas on it, and
HAProxy (Debian's haproxy) in front of them: round-robin per request, no
stickiness, health checks on /readyz, every port on 127.0.0.1 chosen at run
time.  Or one broker on SQLite, for comparison.  Everything started here is
stopped by stop(), also on failure (use it as a context manager).

The load itself comes from bench/bench_cluster.c (C, libcurl, one keep-alive
connection per worker).
"""
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import kbs_helpers as kh
from jwcrypto import jwk

ROOT = kh.ROOT
PG_SCRIPT = os.path.join(ROOT, "tests", "pg-server.sh")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def have_haproxy():
    return shutil.which("haproxy") is not None


def bench_bin():
    """bench_cluster next to the veritee binary under test (BUILD/bench/)."""
    return os.path.join(os.path.dirname(kh.VBIN), "bench", "bench_cluster")


def proc_cpu(pid):
    """utime + stime of one process, seconds (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == ppid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


class Cluster:
    def __init__(self, replicas=3, pg=True, haproxy=True, threads=4, pool=4, extra=None, name="cluster"):
        self.tmp = tempfile.mkdtemp(prefix=f"veritee-{name}-")
        self.n = replicas
        self.use_pg = pg
        self.use_haproxy = haproxy and replicas > 0
        self.threads = threads
        self.pool = pool
        self.extra = dict(extra or {})
        self.pg_dir = None
        self.db_url = None
        self.brokers = []
        self.haproxy = None
        self.front_port = None
        self.secret = b"cluster-secret-" + secrets.token_hex(8).encode()
        self.resource = "default/key/cluster"
        self.admin_key_path = os.path.join(self.tmp, "admin.key")
        self.sim_dir = os.path.join(self.tmp, "sim")

    # ----------------------------------------------------------- lifecycle
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        p = kh.run(["admin", "keygen", self.admin_key_path])
        if p.returncode != 0:
            raise kh.TestFailure(f"admin keygen: {p.stderr!r}")
        p = kh.run(["attest", "--tee", "sim", "--sim-dir", self.sim_dir, "--report-data", "00"])
        if p.returncode != 0:
            raise kh.TestFailure(f"sim keys: {p.stderr!r}")
        with open(self.admin_key_path, "rb") as f:
            self.admin_jwk = jwk.JWK.from_pem(f.read())
        if self.use_pg:
            self.start_pg()
        self.front_port = kh.free_port() if self.use_haproxy else None
        for i in range(self.n):
            self.add_replica(i)
        # Replica 0 creates the shared key files; the others then start with them.
        for b in self.brokers:
            self.start_broker(b)
        if self.use_haproxy:
            self.start_haproxy()
        self.provision()
        return self

    def start_pg(self):
        p = subprocess.run([PG_SCRIPT, "start"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise kh.TestFailure(f"pg-server.sh start: rc={p.returncode} {p.stderr[-2000:]}")
        self.pg_dir, self.db_url = p.stdout.split()[:2]

    def pg(self, *args, timeout=60):
        return subprocess.run([PG_SCRIPT] + list(args), capture_output=True, text=True, timeout=timeout)

    def sql(self, query):
        p = self.pg("psql", self.pg_dir, query)
        if p.returncode != 0:
            raise kh.TestFailure(f"psql {query!r}: {p.stderr}")
        return p.stdout.strip()

    def settings(self, i):
        s = {
            "listen": "127.0.0.1:0",
            "database": self.db_url if self.use_pg else "kbs.db",
            "master_key": "master.key",
            "token_signing_key": "token.pem",
            "admin_public_keys": ["admin.key.pub"],
            "insecure_sim_root": "sim/sim-root.pem",
            "threads": self.threads,
            "max_sessions": 200000,
            "max_sessions_per_client": 50000,
            # Behind HAProxy every connection comes from 127.0.0.1.
            "max_connections_per_client": 2000,
        }
        if self.use_pg:
            s["database_pool_size"] = self.pool
        if self.use_haproxy:
            s["trusted_proxies"] = ["127.0.0.1"]
            s["admin_audience"] = [self.front_url]
        s.update(self.extra)
        return s

    def add_replica(self, i):
        b = kh.Broker(self.tmp, f"r{i}", self.settings(i))
        self.brokers.append(b)
        return b

    def start_broker(self, b):
        res = b.start()
        if res is not None:
            rc, out, err = res
            raise kh.TestFailure(f"replica {b.name} did not start: rc={rc} {err[-2000:]!r}")

    @property
    def front_url(self):
        return f"http://127.0.0.1:{self.front_port}"

    @property
    def url(self):
        return self.front_url if self.use_haproxy else self.brokers[0].url

    def haproxy_config(self):
        servers = "\n".join(f"    server {b.name} 127.0.0.1:{b.port} check" for b in self.brokers)
        return f"""global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout queue 5s
    option forwardfor
    option redispatch
    retries 2
frontend kbs
    bind 127.0.0.1:{self.front_port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    timeout check 3s
    default-server inter 500ms fall 2 rise 1
{servers}
"""

    def start_haproxy(self):
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.haproxy_config())
        log = open(os.path.join(self.tmp, "haproxy.log"), "ab")
        self.haproxy = subprocess.Popen(["haproxy", "-f", cfg, "-db"], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                r = kh.request(self.front_port, "GET", "/readyz", timeout=2)
                if r.status == 200:
                    return
            except OSError:
                pass
            if self.haproxy.poll() is not None:
                break
            time.sleep(0.1)
        raise kh.TestFailure("haproxy did not come up: " + open(os.path.join(self.tmp, "haproxy.log")).read()[-2000:])

    def reload_haproxy(self):
        """Rewrite the config with the replicas' current ports and restart HAProxy."""
        self.stop_haproxy()
        self.start_haproxy()

    def stop_haproxy(self):
        if self.haproxy is not None:
            if self.haproxy.poll() is None:
                self.haproxy.terminate()
                try:
                    self.haproxy.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.haproxy.kill()
                    self.haproxy.wait()
            self.haproxy = None

    def stop(self):
        self.stop_haproxy()
        for b in self.brokers:
            try:
                b.stop()
            except Exception:  # noqa: BLE001 - stop everything whatever happens
                pass
        if self.pg_dir:
            self.pg("stop", self.pg_dir)
            self.pg_dir = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --------------------------------------------------------------- admin
    def admin_token(self, method=None, path=None):
        claims = {"exp": int(time.time()) + 120, "iat": int(time.time()), "jti": "cl-" + secrets.token_hex(12)}
        if method:
            claims["htm"] = method
        if path:
            claims["htu"] = path
        return kh.mint_jwt(self.admin_jwk, claims)

    def admin_request(self, port, method, path, body):
        return kh.request(port, method, path, body, bearer=self.admin_token(method, path), timeout=10)

    def port_of(self, target):
        return self.front_port if target is None else target.port

    def set_refvals(self, values, target=None):
        msg = {"version": "0.1.0", "type": "sample",
               "payload": base64.b64encode(json.dumps(values).encode()).decode()}
        return self.admin_request(self.port_of(target), "POST", "/kbs/v0/reference-value", msg)

    def set_resource(self, path, data, target=None):
        return self.admin_request(self.port_of(target), "POST", f"/kbs/v0/resource/{path}", data)

    def provision(self):
        target = None if self.use_haproxy else self.brokers[0]
        r = self.set_refvals({"sim_measurement": kh.DEFAULT_MEASUREMENT}, target)
        kh.check(r.status == 200, f"reference value: {r!r}")
        r = self.set_resource(self.resource, self.secret, target)
        kh.check(r.status == 200, f"resource: {r!r}")

    # ---------------------------------------------------------------- load
    def load_argv(self, concurrency, seconds, retries=0, url=None):
        return [bench_bin(), "load", url or self.url, self.sim_dir, self.resource, self.secret.hex(),
                str(concurrency), str(seconds), str(retries)]

    def load(self, concurrency, seconds, retries=0, url=None):
        """Run bench_cluster load; returns its JSON result."""
        p = subprocess.run(self.load_argv(concurrency, seconds, retries, url),
                           capture_output=True, text=True, timeout=seconds + 120)
        if p.returncode != 0:
            raise kh.TestFailure(f"bench_cluster: rc={p.returncode} {p.stderr[-2000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def load_async(self, concurrency, seconds, retries=0):
        return subprocess.Popen(self.load_argv(concurrency, seconds, retries),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def result(proc, timeout=180):
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise kh.TestFailure(f"bench_cluster: rc={proc.returncode} {err[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def crypto_bound(self, seconds=5):
        """The crypto of one round, both sides, in one thread per core at once: rounds per CPU-second."""
        p = subprocess.run([bench_bin(), "crypto", self.sim_dir, str(seconds), str(os.cpu_count() or 1)],
                           capture_output=True, text=True, timeout=seconds + 60)
        return json.loads(p.stdout)["crypto_rounds_per_s_per_core"]

    # ----------------------------------------------------- what runs where
    def server_pids(self):
        pids = [b.proc.pid for b in self.brokers if b.alive()]
        if self.haproxy is not None and self.haproxy.poll() is None:
            pids.append(self.haproxy.pid)
        pm = self.postmaster_pid()
        if pm:
            pids.append(pm)
            pids.extend(children(pm))
        return pids

    def postmaster_pid(self):
        if not self.pg_dir:
            return None
        try:
            with open(os.path.join(self.pg_dir, "data", "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def cpu(self):
        """CPU seconds used so far by the replicas, HAProxy and PostgreSQL (all its processes)."""
        return {pid: proc_cpu(pid) for pid in self.server_pids()}

    def cpu_by_role(self, before, after):
        """The CPU between two cpu() samples, split: replicas, postgresql, haproxy."""
        roles = {b.proc.pid: "replicas" for b in self.brokers if b.proc is not None}
        if self.haproxy is not None:
            roles[self.haproxy.pid] = "haproxy"
        out = {"replicas": 0.0, "postgresql": 0.0, "haproxy": 0.0}
        for pid in after:
            out[roles.get(pid, "postgresql")] += max(0.0, after[pid] - before.get(pid, 0.0))
        return {k: round(v, 3) for k, v in out.items()}

    def db_connections(self):
        if not self.pg_dir:
            return 0
        return int(self.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'veritee'") or 0)

    def metrics(self, b):
        r = kh.request(b.port, "GET", "/metrics", timeout=5)
        out = {}
        for line in r.body.decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out


def cpu_delta(before, after):
    """CPU seconds between two cpu() samples (processes that appeared count from 0)."""
    return sum(max(0.0, after.get(pid, 0.0) - before.get(pid, 0.0)) for pid in after)
