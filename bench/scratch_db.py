"""Scratch databases for the web benchmarks: the environment a subprocess needs, and a fresh PostgreSQL database."""

from __future__ import annotations

import os
from pathlib import Path


def database_env(db: str, scratch: Path, name: str, **extra: str) -> dict[str, str]:
    """Environment for a Django subprocess on a scratch SQLite file or the PostgreSQL database ``name``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tousu_web.settings", "TOUSU_DB": db, "TOUSU_LOG_LEVEL": "WARNING"}
    env.update(TOUSU_VAR_DIR=str(scratch), **extra)
    if db == "sqlite":
        env["TOUSU_SQLITE_PATH"] = str(scratch / f"{name}.sqlite3")
        return env
    env.update(
        PGDATABASE=name,
        PGHOST=os.environ.get("PGHOST", "127.0.0.1"),
        PGPORT=os.environ.get("PGPORT", "55432"),
        PGUSER=os.environ.get("PGUSER", "tousu"),
        PGPASSWORD=os.environ.get("PGPASSWORD", "tousu"),
    )
    return env


def postgres_admin(env: dict[str, str], *statements: str) -> str | None:
    """Run statements on the server's ``postgres`` database; the reason it cannot, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    dsn = dict(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], password=env["PGPASSWORD"])
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **dsn) as conn:
            for statement in statements:
                conn.execute(statement)
    except psycopg.Error as e:
        return f"no PostgreSQL at {env['PGHOST']}:{env['PGPORT']} ({str(e).strip().splitlines()[0]})"
    return None


def fresh_postgres(env: dict[str, str]) -> str | None:
    """Drop and create the database named in ``env``; the reason it cannot, or None."""
    name = env["PGDATABASE"]
    return postgres_admin(env, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
