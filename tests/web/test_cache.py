"""Rate limits live in the database cache: several web processes count one limit together.

Real processes hammer one limit at once, on a SQLite file (migrated in a subprocess: ``migrate``
makes the cache table too) and on PostgreSQL (the test database); together they get exactly the
limit, not the limit each. In-process tests pin down what ``incr`` keeps.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, TRIES, LIMIT = 4, 15, 25
TIMEOUT = 120  # seconds for one process
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

# One web process's worth of check_rate calls, all from one client address, started on a signal.
HAMMER = """
import sys, time
from pathlib import Path

import django

django.setup()
from django.db import connection
from django.test import RequestFactory

from tousu_web.complaints.api import ApiError, check_rate

bucket, limit, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ready, go = Path(sys.argv[4]), Path(sys.argv[5])
request = RequestFactory().post("/api/v1/complaints", REMOTE_ADDR="203.0.113.7")
connection.ensure_connection()
ready.touch()
while not go.exists():
    time.sleep(0.005)
allowed = 0
for _ in range(tries):
    try:
        check_rate(request, bucket, limit)
        allowed += 1
    except ApiError:
        pass
print(allowed)
"""


def environment(**values: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tousu_web.settings", **values}
    env.pop("TOUSU_SQLITE_TEST_PATH", None)
    return env


def hammer(env: dict[str, str], tmp_path: Path, bucket: str) -> list[int]:
    """Start the processes, let them all go at once, and return how many calls each was allowed."""
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(PROCESSES)]
    argv = [sys.executable, "-c", HAMMER, bucket, str(LIMIT), str(TRIES)]
    processes = [
        subprocess.Popen([*argv, str(r), str(go)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for r in ready
    ]
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all(r.exists() for r in ready):
            assert all(p.poll() is None for p in processes), processes[0].communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.05)
        go.touch()
        outputs = [p.communicate(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in processes), [err.decode()[-3000:] for _, err in outputs]
    return [int(out.decode().split()[-1]) for out, _ in outputs]


def test_web_processes_on_a_sqlite_file_share_one_rate_limit(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite run covers the embedded default; this run tests PostgreSQL")
    database = tmp_path / "tousu.sqlite3"
    env = environment(TOUSU_DB="sqlite", TOUSU_SQLITE_PATH=str(database), TOUSU_VAR_DIR=str(tmp_path))
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    done = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(database) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "tousu_cache" in tables  # made by migrate, as in `make run`
    allowed = hammer(env, tmp_path, "submit")
    assert sum(allowed) == LIMIT, allowed


def test_web_processes_on_postgresql_share_one_rate_limit(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (TOUSU_DB=postgresql): the in-memory SQLite test database is not shared")
    db = connection.settings_dict
    env = environment(
        TOUSU_DB="postgresql",
        PGDATABASE=db["NAME"],
        PGHOST=db["HOST"] or "127.0.0.1",
        PGPORT=str(db["PORT"] or 5432),
        PGUSER=db["USER"],
        PGPASSWORD=db["PASSWORD"],
    )
    try:
        allowed = hammer(env, tmp_path, f"test-{uuid.uuid4().hex}")
    finally:
        cache.clear()  # the cache table is not emptied between transactional tests
    assert sum(allowed) == LIMIT, allowed


# ---------------------------------------------------------------------------- incr


def expiry(key: str):
    table = connection.ops.quote_name("tousu_cache")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT expires FROM {table} WHERE cache_key = %s", [cache.make_key(key)])
        return cursor.fetchone()[0]


def test_counting_keeps_the_window_it_started_with(db):
    cache.clear()
    assert cache.add("rate:test", 0, 3600) is True
    window_end = expiry("rate:test")
    assert [cache.incr("rate:test") for _ in range(3)] == [1, 2, 3]
    assert cache.get("rate:test") == 3 and cache.decr("rate:test") == 2
    assert expiry("rate:test") == window_end  # Django's own incr would restart it with the default timeout


def test_an_expired_or_missing_count_cannot_be_counted_on(db):
    cache.clear()
    with pytest.raises(ValueError):
        cache.incr("rate:missing")
    cache.add("rate:old", 5, 3600)
    table = connection.ops.quote_name("tousu_cache")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET expires = %s", [connection.ops.adapt_datetimefield_value(LONG_AGO)])
    with pytest.raises(ValueError):
        cache.incr("rate:old")
    assert cache.add("rate:old", 0, 3600) is True  # a new window starts from nothing
