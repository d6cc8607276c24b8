#!/usr/bin/env bash
# Production start on one machine: migrate, then the engine as its own process
# (restarted if it dies) and gunicorn in front. Several machines on PostgreSQL run
# `gunicorn` and `flask --app wsgi engine run` as separate process groups instead.
set -euo pipefail
cd "$(dirname "$0")/.."
flask --app wsgi db upgrade

(
  trap 'kill -TERM "$engine_pid" 2>/dev/null; exit 0' TERM INT
  while true; do
    flask --app wsgi engine run &
    engine_pid=$!
    wait "$engine_pid" || true
    echo "engine exited; restarting in 2s" >&2
    sleep 2
  done
) &
supervisor=$!
trap 'kill -TERM "$supervisor" 2>/dev/null' EXIT

gunicorn --bind "0.0.0.0:${PORT:-8080}" --workers "${WEB_WORKERS:-2}" --worker-class gthread \
  --threads "${WEB_THREADS:-8}" --access-logfile - --graceful-timeout 20 wsgi:app
