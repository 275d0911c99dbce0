#!/usr/bin/env bash
# make run: migrate (which also creates the database cache's table, where rate limits are counted), load demo
# data, then serve on 127.0.0.1:8000 with the background worker beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
mkdir -p var
$py manage.py migrate --noinput -v0
$py manage.py seed_demo
$py manage.py run_worker --interval 30 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo "投诉人入口: http://127.0.0.1:8000/    员工控制台: http://127.0.0.1:8000/console/    API 文档: http://127.0.0.1:8000/api/v1/docs"
$py manage.py runserver 127.0.0.1:8000 --insecure --noreload
