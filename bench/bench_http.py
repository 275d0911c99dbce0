"""HTTP load on ``POST /api/v1/complaints`` under a real multi-process WSGI server (``make bench``).

For each database — a fresh SQLite file, then a fresh PostgreSQL database when a server answers
(PGHOST/PGPORT/PGUSER/PGPASSWORD, default 127.0.0.1:55432 tousu/tousu, as scripts/ensure-postgres.sh
starts it) — the app is migrated, given a few handlers per department, and served by gunicorn on
127.0.0.1. Then ``--clients`` concurrent clients send ``--requests`` submissions (realistic texts from
corpus/stories, with contact data, each under an Idempotency-Key of its own, as an anonymous client)
and the script prints submissions/s, p50/p99 latency and errors, with the CPU per submission of the app's
workers, of PostgreSQL's server processes and of the load generator (user + system time of those processes
alone, so other load on the machine does not count), and how busy the machine was besides.

The load generator is ``wrk`` (Debian's package; scripts/ensure-wrk.sh installs it, ``make bench`` runs
that) with bench_http.lua: C, so it takes little of the two cores it shares with the server. Without
wrk the script says so and uses Python threads instead, which take about three times wrk's CPU.
Bounded: at most ``--seconds`` of load per database. Only loopback is used. Prints figures; asserts
nothing (exit 0 unless the server fails).

    .venv/bin/python bench/bench_http.py [--databases sqlite,postgresql] [--workers 4] [--clients 16]
    .venv/bin/python bench/bench_http.py --client python    # the Python load generator even where wrk is
    .venv/bin/python bench/bench_http.py --profile var/profile   # py-spy: where the workers spend CPU (GIL held)
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from scratch_db import database_env, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PATH = "/api/v1/complaints"
BENCH_DB = "tousu_bench"
TARGETS = {"postgresql": (200, 150)}  # submissions/s at least, p99 ms at most


# ---------------------------------------------------------------------------- the load


def payloads(n: int, seed: int = 7) -> list[bytes]:
    texts = []
    for path in sorted((ROOT / "corpus" / "stories").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(seed)
    bodies = []
    for i in range(n):
        body = {"text": rng.choice(texts), "complainant_type": rng.choice(["consumer", "merchant", "unknown"])}
        if rng.random() < 0.8:
            body["contact_phone"] = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        if rng.random() < 0.3:
            body["contact_email"] = f"bench{i}@example.com"
        if rng.random() < 0.5:
            body["merchant_number"] = f"8221{rng.randrange(10**11):011d}"
        bodies.append(json.dumps(body, ensure_ascii=False).encode())
    return bodies


def submit(port: int, body: bytes, key: str) -> tuple[float, int | str]:
    """One submission on a fresh connection (gunicorn's sync workers close after each response)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json", "Idempotency-Key": key})
        response = conn.getresponse()
        response.read()
        outcome: int | str = response.status
    except (OSError, http.client.HTTPException) as e:
        outcome = type(e).__name__
    finally:
        conn.close()
    return (time.perf_counter() - start) * 1000, outcome


def load_python(port: int, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """``clients`` threads share the bodies; stop when all are sent or ``seconds`` have passed."""
    lock, next_index, run = threading.Lock(), [0], uuid.uuid4().hex[:12]
    latencies: list[float] = []
    outcomes: Counter = Counter()
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(bodies):
                return
            ms, outcome = submit(port, bodies[i], f"{run}-{i}")
            with lock:
                latencies.append(ms)
                outcomes[outcome] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - start
    latencies.sort()
    done = len(latencies)
    return {
        "requests": done,
        "seconds": round(elapsed, 2),
        "per_s": round(done / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[min(done - 1, int(0.99 * done))], 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "errors": sum(n for outcome, n in outcomes.items() if outcome != 201),
        "outcomes": dict(outcomes),
    }


def load_wrk(port: int, bodies: list[bytes], clients: int, seconds: float, scratch: Path) -> dict:
    """The same load from wrk: ``clients`` connections on one thread, each request with its own body and key."""
    bodies_file = scratch / f"bodies-{uuid.uuid4().hex[:8]}.jsonl"
    bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
    argv = ["wrk", "-t", "1", "-c", str(clients), "-d", f"{int(seconds)}s", "--timeout", "30s"]
    argv += ["-s", str(Path(__file__).with_name("bench_http.lua")), f"http://{HOST}:{port}{PATH}"]
    argv += ["--", str(bodies_file), str(len(bodies)), uuid.uuid4().hex[:12], "1"]
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(seconds + 60, wrk.kill)
    timer.start()
    output = []
    for line in wrk.stdout:
        output.append(line)
        if line.startswith("wrk-all-received"):  # or wrk would wait until its -d is over
            wrk.send_signal(signal.SIGINT)
    timer.cancel()
    found = re.search(r"^wrk-result (.*)$", "".join(output), re.MULTILINE)
    if wrk.wait() != 0 or not found:
        sys.exit(f"wrk failed ({wrk.returncode}): {''.join(output)[-1000:]}")
    result = json.loads(found.group(1))
    outcomes = {int(status): n for status, n in result["outcomes"].items()}
    if result["socket_errors"]:
        outcomes["socket errors"] = result["socket_errors"]
    done = result["requests"]
    return {
        "requests": done,
        "seconds": round(result["seconds"], 2),
        "per_s": round(done / result["seconds"], 1),
        **{k: result[k] for k in ("p50_ms", "p99_ms", "max_ms")},
        "errors": sum(n for outcome, n in outcomes.items() if outcome != 201),
        "outcomes": outcomes,
    }


def children_cpu() -> float:
    """User + system CPU of the waited-for child processes so far (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each of these processes so far (Linux /proc); none for one that is gone."""
    tick, seconds = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process that started in between counts from 0."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def django_env(db: str, scratch: Path) -> dict[str, str]:
    return database_env(
        db,
        scratch,
        BENCH_DB if db == "postgresql" else "bench",
        TOUSU_SUBMIT_RATE=str(10**9),  # the anonymous per-address limit would stop a benchmark from one address
        TOUSU_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        TOUSU_DEBUG="0",
        TOUSU_CONN_MAX_AGE="600",  # one PostgreSQL connection per worker for the whole run: its CPU is counted whole
    )


SEED_STAFF = """
import django; django.setup()
from django.contrib.auth import get_user_model
from tousu_web.complaints.models import KB, Role, StaffProfile
for department in KB.departments:
    for n in range(3):
        user = get_user_model().objects.create(username=f"{department}-{n}", email=f"{department}-{n}@example.com")
        StaffProfile.objects.create(user=user, role=Role.HANDLER, department=department)
user = get_user_model().objects.create(username="supervisor", email="supervisor@example.com")
StaffProfile.objects.create(user=user, role=Role.SUPERVISOR)
"""


def postgres_backends(env: dict[str, str]) -> list[int]:
    """The server processes serving the benchmark database (one per gunicorn worker: CONN_MAX_AGE keeps them)."""
    import psycopg

    dsn = dict(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], password=env["PGPASSWORD"])
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **dsn) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [BENCH_DB]).fetchall()
    return [pid for (pid,) in rows]


def prepare(env: dict[str, str]) -> None:
    run = dict(cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], **run)
    subprocess.run([sys.executable, "-c", SEED_STAFF], **run)


def start_server(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    gunicorn = BIN / "gunicorn"
    if not gunicorn.exists():
        sys.exit(f"{gunicorn} is missing: pip install the web extra (gunicorn is pinned in pyproject.toml)")
    argv = [str(gunicorn), "tousu_web.wsgi:application", "--bind", f"{HOST}:{port}", "--workers", str(workers)]
    argv += ["--worker-class", "sync"] if threads == 1 else ["--worker-class", "gthread", "--threads", str(threads)]
    argv += ["--preload", "--timeout", "60", "--error-logfile", str(log)]
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200 and len(children(server.pid)) >= workers:
                conn.close()
                return server
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    sys.exit(f"gunicorn did not answer on {HOST}:{port} within 60 s; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ---------------------------------------------------------------------------- profile (optional)


def start_profile(server: subprocess.Popen, out: Path, seconds: float) -> list[subprocess.Popen]:
    spy = BIN / "py-spy"
    if not spy.exists():
        print(f"  (no {spy}: pip install py-spy to profile)")
        return []
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in children(server.pid):
        argv = [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--nonblocking", "--gil"]
        argv += ["--duration", str(int(seconds)), "--output", str(out / f"{pid}.txt")]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def summarise_profile(procs: list[subprocess.Popen], out: Path, top: int = 25) -> None:
    """Inclusive share of samples per function (file:function), over every worker's stacks."""
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    inclusive, total = Counter(), 0
    for path in out.glob("*.txt"):
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            seen = set()
            for frame in stack.split(";"):
                name = frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1].split(":")[0].rstrip(")")
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += n
    if not total:
        print("  (no profile samples)")
        return
    print(f"  profile: {total} samples; inclusive share per function")
    for name, n in inclusive.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {name}")


# ---------------------------------------------------------------------------- main


def bench(db: str, args, scratch: Path) -> dict | None:
    env = django_env(db, scratch)
    if db == "postgresql":
        reason = fresh_postgres(env)
        if reason:
            print(f"{db:10} skipped: {reason}")
            return None
    prepare(env)
    port = free_port()
    server = start_server(env, port, args.workers, args.threads, scratch / f"gunicorn-{db}.log")
    if args.client == "wrk":
        load = functools.partial(load_wrk, scratch=scratch)
    else:
        load = load_python
    try:
        bodies = payloads(args.requests + args.warmup)
        load(port, bodies[: args.warmup], args.clients, args.seconds)  # every worker connects and warms up
        pids = children(server.pid)
        backends = postgres_backends(env) if db == "postgresql" else []
        cpu_before, db_before, (busy0, all0) = cpu_seconds(pids), cpu_seconds(backends), machine_busy()
        client_before = time.process_time() + children_cpu()
        spies = start_profile(server, Path(args.profile) / db, args.seconds) if args.profile else []
        figures = load(port, bodies[args.warmup :], args.clients, args.seconds)
        cpu = cpu_spent(cpu_before, cpu_seconds(pids))
        db_cpu = cpu_spent(db_before, cpu_seconds(postgres_backends(env))) if backends else 0.0
        client_cpu = time.process_time() + children_cpu() - client_before
        busy1, all1 = machine_busy()
        per_request = 1000 / max(1, figures["requests"])
        figures["app_cpu_ms_per_request"] = round(cpu * per_request, 2)
        figures["db_cpu_ms_per_request"] = round(db_cpu * per_request, 2) if backends else None
        figures["client_cpu_ms_per_request"] = round(client_cpu * per_request, 2)
        figures["machine_busy_pct"] = round(100 * (busy1 - busy0) / max(1, all1 - all0), 1)
        # What the rest of the machine spent meanwhile (other jobs, PostgreSQL's background processes), in CPUs.
        others = (busy1 - busy0) / os.sysconf("SC_CLK_TCK") - cpu - db_cpu - client_cpu
        figures["other_cpus"] = round(max(0.0, others) / figures["seconds"], 2)
        if spies:
            summarise_profile(spies, Path(args.profile) / db)
    finally:
        stop_server(server)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (more than 1: gthread workers)")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60, help="at most this long under load, per database")
    parser.add_argument("--profile", metavar="DIR", help="record the workers with py-spy and print a summary")
    args = parser.parse_args()
    if args.client == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed: run scripts/ensure-wrk.sh, or pass --client python")
    if args.client == "python":
        why = "as asked" if shutil.which("wrk") else "wrk is missing (scripts/ensure-wrk.sh installs it)"
        print(f"load from Python threads, {why}: their CPU competes with the server's, so figures are lower")
    server = f"sync x{args.workers}" if args.threads == 1 else f"gthread x{args.workers}, {args.threads} threads each"
    print(
        f"POST {PATH}: gunicorn {server} on {HOST}, {args.clients} {args.client} clients, "
        f"{args.requests} submissions (after {args.warmup} warm-up), {os.cpu_count()} CPUs"
    )
    scratch = Path(tempfile.mkdtemp(prefix="tousu-bench-http-"))
    try:
        for db in args.databases.split(","):
            figures = bench(db, args, scratch)
            if figures is None:
                continue
            target = ""
            if db in TARGETS:
                rate, p99 = TARGETS[db]
                met = figures["per_s"] >= rate and figures["p99_ms"] is not None and figures["p99_ms"] <= p99
                target = f"   target >= {rate}/s at p99 <= {p99} ms: {'met' if met else 'MISSED'}"
            print(
                f"{db:10} {figures['per_s']:7.1f} submissions/s   p50 {figures['p50_ms']} ms   "
                f"p99 {figures['p99_ms']} ms   max {figures['max_ms']} ms   errors {figures['errors']}"
                f"   ({figures['requests']} in {figures['seconds']} s){target}"
            )
            db_cpu = figures["db_cpu_ms_per_request"]
            print(
                f"{'':10} CPU per submission: app {figures['app_cpu_ms_per_request']} ms"
                + (f", PostgreSQL {db_cpu} ms" if db_cpu is not None else "")
                + f", client {figures['client_cpu_ms_per_request']} ms;"
                f" machine busy {figures['machine_busy_pct']}%, other processes {figures['other_cpus']} CPUs"
                f"   outcomes {figures['outcomes']}"
            )
            sys.stdout.flush()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if "postgresql" in args.databases:
            env = django_env("postgresql", scratch)
            try:
                import psycopg

                dsn = dict(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], password=env["PGPASSWORD"])
                with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **dsn) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            except Exception:  # the server went away or was never there: nothing to clean
                pass


if __name__ == "__main__":
    main()
