#!/usr/bin/env bash
# Install wrk, the HTTP load generator of bench/bench_http.py, from Debian's package when it is missing.
# Never fails: without it (no apt, no root) the benchmark says so and falls back to Python clients.
set -uo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
echo "installing wrk (Debian package)…"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }; then
  echo "could not install wrk: bench/bench_http.py will use its Python load generator instead" >&2
fi
exit 0
