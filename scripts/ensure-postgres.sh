#!/usr/bin/env bash
# Start a PostgreSQL server for the test suite on 127.0.0.1:${TOUSU_PG_PORT:-55432},
# installing Debian's package first when the machine has none. Idempotent.
set -euo pipefail
port="${TOUSU_PG_PORT:-55432}"
data="${TOUSU_PG_DATA:-/tmp/tousu-pg-$port}"

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "installing PostgreSQL (Debian package)…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_postgres() { su postgres -s /bin/sh -c "$*"; }

if [ ! -f "$data/PG_VERSION" ]; then
  mkdir -p "$data"
  chown postgres "$data"
  as_postgres "$bin/initdb -D '$data' -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
fi
if ! as_postgres "$bin/pg_ctl -D '$data' status" >/dev/null 2>&1; then
  as_postgres "$bin/pg_ctl -D '$data' -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off\" -l '$data/server.log' -w start" >/dev/null
fi
psql="psql -h 127.0.0.1 -p $port -U postgres -v ON_ERROR_STOP=1 -qtA"
if [ "$($psql -c "select 1 from pg_roles where rolname='tousu'")" != "1" ]; then
  $psql -c "create role tousu login createdb password 'tousu'"
fi
if [ "$($psql -c "select 1 from pg_database where datname='tousu'")" != "1" ]; then
  $psql -c "create database tousu owner tousu"
fi
echo "PostgreSQL ready on 127.0.0.1:$port"
