"""Two real worker processes (``manage.py run_worker``) on one database: every warning, escalation and
notification happens exactly once ("even with two workers running").

The same scenario runs on PostgreSQL (pytest-django's test database, shared with the worker processes)
and on a SQLite file (the embedded default: migrated, seeded and checked in subprocesses).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from .test_notify import Receiver

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "业务员办的机器，说好费率0.38终身不变，上个月起每笔扣0.6%还加3元，要求退还多扣的手续费",  # finance
    "机器坏了开不了机，刷卡没反应，客服一直不回",  # after-sales: no handler there, supervisors only
    "昨天的交易款到现在还没到账，商户号822100000000001",  # settlement
    "没办过这台机器，却被扣了299元押金，要求退还",  # finance
]
GROUPS = {"overdue": 12, "soon": 12, "later": 4}  # deadline passed / inside the warning window / far off
COMPLIANCE = ["comp-a@example.com", "comp-b@example.com"]
SUPERVISORS = ["sup@example.com"]
PROCESS_TIMEOUT = 120  # seconds for one worker or helper process
SEPARATOR = "\n" + "-" * 79 + "\n"  # between two messages of Django's console e-mail backend


# ---------------------------------------------------------------------------- run inside the database's process
# These run in the test process (PostgreSQL) or in a subprocess on the SQLite file; they return plain JSON.


def seed(webhook_url: str) -> dict[str, list[int]]:
    """Staff, a webhook and complaints in each group, with their statutory deadlines moved into place."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tousu_web.complaints import services
    from tousu_web.complaints.models import Complaint, Role, StaffProfile, Webhook

    def staff(username, role, department, email):
        user = get_user_model().objects.create(username=username, email=email)  # no password: no hashing cost
        StaffProfile.objects.create(user=user, role=role, department=department)

    staff("fin-a", Role.HANDLER, "finance", "fin-a@example.com")
    staff("fin-b", Role.HANDLER, "finance", "fin-b@example.com")
    staff("settle", Role.HANDLER, "settlement_ops", "settle@example.com")
    staff("sup", Role.SUPERVISOR, "", SUPERVISORS[0])
    staff("comp-a", Role.COMPLIANCE, "compliance", COMPLIANCE[0])
    staff("comp-b", Role.COMPLIANCE, "compliance", COMPLIANCE[1])
    Webhook.objects.create(url=webhook_url, secret="worker-test-secret")
    now = timezone.now()
    due = {"overdue": now - dt.timedelta(hours=3), "soon": now + dt.timedelta(hours=20)}
    due["later"] = now + dt.timedelta(days=20)
    groups: dict[str, list[int]] = {}
    n = 0
    for group, count in GROUPS.items():
        for _ in range(count):
            complaint, _ = services.submit(
                TEXTS[n % len(TEXTS)],
                contact_phone=f"139{n:08d}",
                contact_email=f"merchant{n}@example.com" if n % 2 else "",
            )
            Complaint.objects.filter(pk=complaint.pk).update(statutory_due=due[group] + dt.timedelta(minutes=n))
            groups.setdefault(group, []).append(complaint.pk)
            n += 1
    return groups


def make_overdue(pks: list[int]) -> None:
    from django.utils import timezone

    from tousu_web.complaints.models import Complaint

    Complaint.objects.filter(pk__in=pks).update(statutory_due=timezone.now() - dt.timedelta(hours=1))


def summary() -> dict:
    """Per complaint: its deadline events, escalation level and staff notifications; and the whole outbox."""
    from tousu_web.complaints.models import Complaint, ComplaintEvent, Outbox

    complaints = {}
    for c in Complaint.objects.select_related("assignee").order_by("pk"):
        kinds = Counter(c.events.values_list("kind", flat=True))
        mail = Outbox.objects.filter(complaint=c, channel=Outbox.Channel.EMAIL)
        complaints[str(c.pk)] = {
            "breached": kinds[ComplaintEvent.Kind.DEADLINE_BREACHED],
            "warned": kinds[ComplaintEvent.Kind.DEADLINE_WARNING],
            "escalation_level": c.escalation_level,
            "assignee_email": c.assignee.email if c.assignee else None,
            "breach_mail": sorted(mail.filter(subject__contains="已超期").values_list("recipient", flat=True)),
            "warning_mail": sorted(mail.filter(subject__contains="即将到期").values_list("recipient", flat=True)),
        }
    outbox = list(Outbox.objects.order_by("pk").values("pk", "channel", "recipient", "body", "attempts", "last_error"))
    claims = Outbox.objects.order_by("pk").values_list("sent_at", "claimed_until")
    for item, (sent_at, claimed_until) in zip(outbox, claims, strict=True):
        item["sent"], item["claimed"] = sent_at is not None, claimed_until is not None
    return {"complaints": complaints, "outbox": outbox}


def progress() -> dict:
    """What the test polls while looping workers run."""
    from tousu_web.complaints.models import ComplaintEvent, Outbox

    return {
        "breached": ComplaintEvent.objects.filter(kind=ComplaintEvent.Kind.DEADLINE_BREACHED).count(),
        "unsent": Outbox.objects.filter(sent_at__isnull=True).count(),
    }


# ---------------------------------------------------------------------------- the database's side


class Site:
    """Where the workers run: the environment they get, and how the test calls the functions above."""

    def __init__(self, env: dict[str, str], in_process: bool, tmp_path: Path):
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tousu_web.settings", **env}
        # Delivery is visible in the workers' output: e-mail printed to stdout, SMS logged (masked) to stderr.
        self.env.update(
            TOUSU_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
            TOUSU_SMS_BACKEND="tousu_web.complaints.notify.LoggingSmsBackend",
            TOUSU_LOG_LEVEL="INFO",
            TOUSU_WARN_HOURS="48",
        )
        self.env.pop("TOUSU_SQLITE_TEST_PATH", None)
        self.in_process = in_process
        self.logs = tmp_path / "worker-logs"
        self.logs.mkdir()
        self.started = 0
        self.outputs: list[tuple[str, str]] = []  # (stdout, stderr) of every worker that ran

    def call(self, name: str, *args):
        if self.in_process:
            return globals()[name](*args)
        code = (
            "import django, json, sys; django.setup(); from tests.web import test_worker as t; "
            f"print(json.dumps(t.{name}(*json.loads(sys.argv[1]))))"
        )
        done = self.run([sys.executable, "-c", code, json.dumps(args)])
        return json.loads(done.stdout.strip().splitlines()[-1])

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
        assert done.returncode == 0, f"{argv[1:3]} failed:\n{done.stderr[-3000:]}"
        return done

    def start_workers(self, *args: str) -> list[tuple[subprocess.Popen, Path, Path]]:
        """Two worker processes; their output goes to files, so the test can read it while they run."""
        workers = []
        for _ in range(2):
            self.started += 1
            out, err = self.logs / f"{self.started}.out", self.logs / f"{self.started}.err"
            with out.open("w") as stdout, err.open("w") as stderr:
                argv = [sys.executable, "manage.py", "run_worker", *args]
                workers.append((subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=stdout, stderr=stderr), out, err))
        return workers

    def finish(self, workers: list[tuple[subprocess.Popen, Path, Path]]) -> None:
        try:
            for worker, _, err in workers:
                returncode = worker.wait(timeout=PROCESS_TIMEOUT)
                assert returncode == 0, f"worker exited with {returncode}:\n{err.read_text()[-3000:]}"
        finally:
            for worker, out, err in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
                self.outputs.append((out.read_text(), err.read_text()))

    def two_workers_once(self) -> None:
        """Two ``run_worker --once`` processes started together."""
        self.finish(self.start_workers("--once"))

    def two_workers_looping(self, until, timeout: float = 90) -> None:
        """Two looping workers (0.2 s interval) until ``until(progress)`` holds, a few more sweeps, then SIGTERM."""
        workers = self.start_workers("--interval", "0.2")
        try:
            deadline = time.monotonic() + timeout

            def wait_for(condition, what):
                while not condition():
                    assert time.monotonic() < deadline, f"{what} within {timeout} s"
                    assert all(w.poll() is None for w, _, _ in workers), "a worker died"
                    time.sleep(0.2)

            # "started" is logged once a worker has its SIGTERM handler: from then on it stops cleanly.
            wait_for(lambda: all("started" in err.read_text() for _, _, err in workers), "both workers started")
            wait_for(lambda: until(self.call("progress")), "the workers finished the work")
            time.sleep(1.5)  # several more sweeps each, to give a repeat every chance to happen
            for worker, _, _ in workers:
                worker.send_signal(signal.SIGTERM)
        finally:
            self.finish(workers)


# ---------------------------------------------------------------------------- checks


def sent_by_workers(outputs: list[tuple[str, str]]) -> dict[str, Counter]:
    """What the workers actually sent, read from their output: e-mail (console backend) and SMS (log lines)."""
    mail, sms = Counter(), Counter()
    for out, err in outputs:
        for message in out.split(SEPARATOR):
            to = re.search(r"^To: (.+)$", message, re.M)
            if to:
                mail[(to.group(1).strip(), message.split("\n\n", 1)[1].strip())] += 1
        for phone, text in re.findall(r"^SMS to (\S+): (.*)$", err, re.M):
            sms[(phone, text.strip())] += 1
    return {"email": mail, "sms": sms}


def check_outbox(site: Site, state: dict, receiver: Receiver) -> None:
    """Every outbox item was sent, by one claim (released once done), and actually went out once: no more, no less."""
    from tousu.privacy import mask

    outbox = state["outbox"]
    assert [i for i in outbox if not i["sent"] or i["attempts"] != 1 or i["claimed"] or i["last_error"]] == []
    expected = {
        "email": Counter((i["recipient"], i["body"]) for i in outbox if i["channel"] == "email"),
        "sms": Counter((mask(i["recipient"]), mask(i["body"])) for i in outbox if i["channel"] == "sms"),
    }
    assert sent_by_workers(site.outputs) == expected
    assert Counter(receiver.bodies()) == Counter(i["body"] for i in outbox if i["channel"] == "webhook")


def check_deadlines(state: dict, groups: dict[str, list[int]], *, soon_breached: bool) -> None:
    complaints = state["complaints"]
    for group, pks in groups.items():
        for pk in pks:
            c = complaints[str(pk)]
            assignee = [c["assignee_email"]] if c["assignee_email"] else []
            breached = group == "overdue" or (group == "soon" and soon_breached)
            warned = group == "soon"
            assert (group, c["breached"], c["warned"]) == (group, int(breached), int(warned))
            assert c["escalation_level"] == (2 if breached else 0)
            assert c["breach_mail"] == (sorted(assignee + COMPLIANCE) if breached else [])
            assert c["warning_mail"] == (sorted(assignee + SUPERVISORS) if warned else [])
    assert any(c["assignee_email"] for c in complaints.values()), "the scenario should notify some assignees"


def scenario(site: Site) -> None:
    with Receiver() as receiver:
        groups = site.call("seed", receiver.url)
        # Round after round of two workers started together: the first round claims, later ones find nothing.
        site.two_workers_once()
        site.two_workers_once()
        state = site.call("summary")
        check_deadlines(state, groups, soon_breached=False)
        check_outbox(site, state, receiver)
        # The warned complaints' deadlines pass; two looping workers escalate each of them once.
        site.call("make_overdue", groups["soon"])
        total = len(groups["overdue"]) + len(groups["soon"])
        site.two_workers_looping(until=lambda p: p["breached"] >= total and p["unsent"] == 0)
        state = site.call("summary")
        check_deadlines(state, groups, soon_breached=True)
        check_outbox(site, state, receiver)


# ---------------------------------------------------------------------------- the tests


def test_two_workers_on_postgresql_warn_escalate_and_notify_exactly_once(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (TOUSU_DB=postgresql): the in-memory SQLite test database is not shared")
    db = connection.settings_dict
    env = {
        "TOUSU_DB": "postgresql",
        "PGDATABASE": db["NAME"],
        "PGHOST": db["HOST"] or "127.0.0.1",
        "PGPORT": str(db["PORT"] or 5432),
        "PGUSER": db["USER"],
        "PGPASSWORD": db["PASSWORD"],
    }
    scenario(Site(env, in_process=True, tmp_path=tmp_path))


def test_two_workers_on_a_sqlite_file_warn_escalate_and_notify_exactly_once(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite run covers the embedded default; this run tests PostgreSQL")
    site = Site(
        {"TOUSU_DB": "sqlite", "TOUSU_SQLITE_PATH": str(tmp_path / "tousu.sqlite3"), "TOUSU_VAR_DIR": str(tmp_path)},
        in_process=False,
        tmp_path=tmp_path,
    )
    site.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"])
    scenario(site)
