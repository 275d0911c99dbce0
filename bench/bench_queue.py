"""The staff queue page (/console/) with 100,000 complaints (``make bench``). Prints figures; asserts nothing.

For each database (a fresh SQLite file, then a fresh PostgreSQL database when a server answers, as in
bench_http.py) the script bulk-creates ``--complaints`` realistic complaints — corpus texts with their
real triage (category, department, channel, verdict), spread over two years of received dates, open
and closed statuses, assignees, deadlines (some overdue, escalated or extended), shares with channel
management and repeat links — then times the queue page through Django's test client, signed in as a
finance handler and as a supervisor, plain, filtered and with a text search: p50/p99 ms, the SQL share
and the number of queries. When the console has no queue view yet, it times the equivalent queryset.

    .venv/bin/python bench/bench_queue.py [--databases sqlite,postgresql] [--complaints 100000] [--runs 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import database_env, fresh_postgres, postgres_admin

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "tousu_bench_queue"
TARGET_MS = 200
HANDLERS_PER_DEPARTMENT = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------------- one database (in a child process)


def corpus_verdicts() -> list[tuple[str, dict]]:
    from tousu.triage import triage

    texts = []
    for path in sorted((ROOT / "corpus" / "stories").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(text, triage(text).to_dict()) for text in texts]


def populate(n: int, seed: int = 11) -> dict:
    """Staff, then ``n`` complaints by bulk_create; returns what the timed requests need."""
    from django.contrib.auth import get_user_model
    from django.db.models import F

    from tousu_web.complaints.models import KB, OPEN_STATUSES, Complaint, ComplaintShare, Role, StaffProfile, Status

    rng = random.Random(seed)
    users = get_user_model()
    handlers: dict[str, list] = {}
    for department in KB.departments:
        for i in range(HANDLERS_PER_DEPARTMENT):
            user = users.objects.create(username=f"{department}-{i}", first_name=f"{department}{i}")
            StaffProfile.objects.create(user=user, role=Role.HANDLER, department=department)
            handlers.setdefault(department, []).append(user)
    supervisor = users.objects.create(username="supervisor", first_name="主管")
    StaffProfile.objects.create(user=supervisor, role=Role.SUPERVISOR)

    started = time.perf_counter()
    verdicts = corpus_verdicts()
    now = dt.datetime.now(dt.UTC)
    open_statuses = [Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.AWAITING_COMPLAINANT]
    open_statuses += [Status.RESOLUTION_PROPOSED]
    batch, shared = [], []
    for i in range(n):
        text, verdict = rng.choice(verdicts)
        received = now - dt.timedelta(days=rng.uniform(0, 730))
        age = (now - received).days
        is_open = rng.random() < (0.9 if age < 15 else 0.3 if age < 60 else 0.04)
        due = received + dt.timedelta(days=15)
        extended = is_open and rng.random() < 0.03
        if extended:
            due += dt.timedelta(days=10)
        overdue = is_open and due < now
        department = verdict["department"]
        assignee = rng.choice(handlers[department]) if rng.random() < 0.95 else None
        status = rng.choice(open_statuses) if is_open else rng.choice([Status.CLOSED] * 4 + [Status.RESOLVED])
        if assignee is None and is_open:
            status = Status.NEW
        merchant = f"8221{rng.randrange(10**11):011d}" if rng.random() < 0.5 else ""
        closed = None if is_open else received + dt.timedelta(days=rng.uniform(1, 14))
        batch.append(
            Complaint(
                tracking_number=f"TS{received:%Y%m%d}{i:06d}",
                access_code_hash="0" * 64,
                text=text,
                text_masked=verdict["masked_text"],
                complainant_type=rng.choice(["consumer", "merchant", "unknown"]),
                contact_name=rng.choice(["王先生", "李女士", "张经理", ""]),
                contact_phone=f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" if rng.random() < 0.7 else "",
                contact_email=f"c{i}@example.com" if rng.random() < 0.3 else "",
                merchant_number=merchant,
                terminal_number=f"T{rng.randrange(10**8):08d}" if rng.random() < 0.3 else "",
                intake=rng.choice(["portal"] * 6 + ["api"] * 2 + ["hotline", "regulator"]),
                category=verdict["category"],
                predicted_category=verdict["category"],
                confidence=verdict["confidence"],
                needs_review=verdict["needs_review"],
                channel=verdict["channel"],
                brand=verdict["brand"],
                verdict=verdict,
                department=department,
                assignee=assignee,
                status=status,
                received_at=received,
                statutory_due=due,
                statutory_max_due=received + dt.timedelta(days=60),
                statutory_rule=verdict["deadline"]["rule"],
                extended=extended,
                first_response_due=received + dt.timedelta(days=1),
                handover_due=received + dt.timedelta(hours=4),
                resolution_target_due=received + dt.timedelta(days=10),
                first_response_at=received + dt.timedelta(hours=rng.uniform(1, 48)) if age > 2 else None,
                resolved_at=closed,
                closed_at=closed,
                warned_at=due - dt.timedelta(days=2) if overdue else None,
                breached_at=due if overdue else None,
                escalation_level=2 if overdue else 0,
            )
        )
        if len(verdict["departments"]) > 1:
            shared.append((len(batch) - 1, verdict["departments"][1]))
        if len(batch) == 2000 or i == n - 1:
            created = Complaint.objects.bulk_create(batch)
            ComplaintShare.objects.bulk_create(
                ComplaintShare(complaint=created[j], department=d, reason="渠道管理部协办") for j, d in shared
            )
            batch, shared = [], []
    repeats = list(Complaint.objects.order_by("pk").values_list("pk", flat=True))[1::23]  # about 4 %
    for start in range(0, len(repeats), 500):
        Complaint.objects.filter(pk__in=repeats[start : start + 500]).update(repeat_of_id=F("pk") - 1)
    seconds = time.perf_counter() - started
    open_in_finance = Complaint.objects.filter(department="finance", status__in=OPEN_STATUSES).exclude(
        merchant_number=""
    )
    sample = open_in_finance.values_list("merchant_number", "tracking_number").first()
    return {
        "handler": handlers["finance"][0].pk,
        "supervisor": supervisor.pk,
        "merchant": sample[0],
        "tracking": sample[1],
        "load_seconds": round(seconds, 1),
    }


def sql_timer():
    """A connection execute wrapper that adds up time spent in SQL and counts queries."""

    class Timer:
        def __init__(self):
            self.seconds, self.queries, self.last = 0.0, 0, []

        def __call__(self, execute, sql, params, many, context):
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds += elapsed
                self.queries += 1
                self.last.append((elapsed * 1000, sql))

    return Timer()


def time_requests(runs: int, seeded: dict) -> list[dict]:
    """Each case ``runs`` times after 3 warm-up requests; p50/p99 of the whole request, and its SQL."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from tousu_web.complaints.models import OPEN_STATUSES, Complaint

    users = get_user_model().objects
    cases = [
        ("handler", "", "finance handler: own queue (open)"),
        ("handler", "?q=费率", "finance handler: text search 费率"),
        ("handler", f"?q={seeded['merchant']}", "finance handler: merchant number"),
        ("handler", "?overdue=on", "finance handler: overdue"),
        ("handler", "?status=closed&q=的", "finance handler: status=closed, text search 的"),
        ("supervisor", "", "supervisor: all open"),
        ("supervisor", "?department=finance", "supervisor: department=finance"),
        ("supervisor", "?q=退款", "supervisor: text search 退款"),
        ("supervisor", "?status=all&q=费率", "supervisor: status=all, text search 费率"),
        ("supervisor", "?status=closed&q=的", "supervisor: status=closed, text search 的"),
        ("supervisor", "?needs_review=on&q=的", "supervisor: needs_review, text search 的"),
        ("supervisor", "?overdue=on", "supervisor: overdue"),
        ("supervisor", f"?q={seeded['tracking']}", "supervisor: tracking number"),
        ("supervisor", "?status=all&page=200", "supervisor: all statuses, page 200"),
    ]
    try:
        url = reverse("console:queue")
    except NoReverseMatch:
        url = None
    results = []
    clients = {}
    for role in ("handler", "supervisor"):
        clients[role] = Client()
        clients[role].force_login(users.get(pk=seeded[role]))
    if url is not None:
        for role, query, label in cases:
            client, timings, timer = clients[role], [], sql_timer()
            for i in range(runs + 3):
                if i == 3:
                    timer.seconds, timer.queries = 0.0, 0
                timer.last = []
                start = time.perf_counter()
                with connection.execute_wrapper(timer):
                    response = client.get(url + query)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{label}: HTTP {response.status_code}")
                if i >= 3:
                    timings.append(elapsed)
            rows = response.content.decode().count('data-testid="queue-row"')
            results.append(
                {
                    "case": label,
                    "p50": statistics.median(timings),
                    "p99": percentile(timings, 0.99),
                    "sql_ms": 1000 * timer.seconds / runs,
                    "queries": timer.queries // runs,
                    "rows": rows,
                    "slowest": sorted(timer.last, reverse=True)[:3],
                }
            )
    # The queryset the queue stands on, without the page around it.
    department = "finance"
    timings = []
    for i in range(runs + 3):
        start = time.perf_counter()
        open_in_department = Complaint.objects.filter(department=department, status__in=OPEN_STATUSES)
        rows = list(open_in_department.select_related("assignee").order_by("statutory_due")[:50])
        open_in_department.count()
        if i >= 3:
            timings.append((time.perf_counter() - start) * 1000)
    results.append(
        {
            "case": "queryset: finance open, first 50 + count",
            "p50": statistics.median(timings),
            "p99": percentile(timings, 0.99),
            "sql_ms": None,
            "queries": 2,
            "rows": len(rows),
        }
    )
    return results


def one_database(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    seed_file = Path(os.environ["TOUSU_VAR_DIR"]) / "queue-seed.json"
    call_command("migrate", "--noinput", verbosity=0)  # a kept database gets the migrations added since
    if args.reuse and seed_file.exists():
        seeded = json.loads(seed_file.read_text())
    else:
        seeded = populate(args.complaints)
        seed_file.write_text(json.dumps(seeded))
    statistics_note = "no planner statistics"
    if args.no_analyze and connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # a reused file may carry statistics from an earlier run
            cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
    if not args.no_analyze:
        if connection.vendor == "sqlite":
            from tousu_web.complaints.management.commands.run_worker import refresh_planner_statistics

            refresh_planner_statistics()  # what run_worker does at start and hourly
            statistics_note = "planner statistics by run_worker's ANALYZE"
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # what autovacuum does shortly after a bulk load
            statistics_note = "planner statistics by ANALYZE (as autovacuum)"
    from tousu_web.complaints.models import OPEN_STATUSES, Complaint

    open_count = Complaint.objects.filter(status__in=OPEN_STATUSES).count()
    print(
        f"{connection.vendor}: {Complaint.objects.count()} complaints ({open_count} open) "
        f"bulk-created in {seeded['load_seconds']} s; {statistics_note}; {args.runs} runs per case after 3 warm-up"
    )
    for r in time_requests(args.runs, seeded):
        sql = f"sql {r['sql_ms']:6.1f} ms in {r['queries']:2} queries" if r["sql_ms"] is not None else ""
        flag = "" if r["p99"] <= TARGET_MS else f"   over the {TARGET_MS} ms target"
        print(f"  {r['case']:44} p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms   {sql}   rows {r['rows']}{flag}")
        if args.explain:
            for ms, statement in r.get("slowest", []):
                print(f"      {ms:7.1f} ms  {statement[:400]}")
    sys.stdout.flush()


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--complaints", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--explain", action="store_true", help="print each case's three slowest SQL statements")
    parser.add_argument("--no-analyze", action="store_true", help="time without planner statistics")
    parser.add_argument("--keep", metavar="DIR", help="keep the databases in DIR and reuse them on the next run")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # in the child, configured by env
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_database(args)
        return
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tousu-bench-queue-"))
    try:
        for db in args.databases.split(","):
            env = database_env(db, scratch / db, BENCH_DB if db == "postgresql" else "queue")
            (scratch / db).mkdir(parents=True, exist_ok=True)
            reuse = bool(args.keep) and (scratch / db / "queue-seed.json").exists()
            if db == "postgresql" and not reuse:
                reason = fresh_postgres(env)
                if reason:
                    print(f"postgresql: skipped: {reason}")
                    continue
            argv = [sys.executable, __file__, "--one", "--complaints", str(args.complaints), "--runs", str(args.runs)]
            argv += ["--explain"] * args.explain + ["--reuse"] * reuse + ["--no-analyze"] * args.no_analyze
            subprocess.run(argv, cwd=ROOT, env=env, check=True, timeout=1800)
            if db == "postgresql" and not args.keep:
                postgres_admin(env, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
