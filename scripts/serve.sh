#!/usr/bin/env bash
# Production start on one machine (the Docker image's CMD): migrate, then exec into
# scripts/supervise.py, which runs gunicorn and the engine (restarted if it dies) and
# passes SIGTERM and SIGINT to both: requests in flight finish, the engine ends the
# unit at hand and gives its lease up. Several machines on PostgreSQL run `gunicorn`
# and `flask --app wsgi engine run` as separate process groups instead.
#
# With LITESTREAM_REPLICA_URL (a path, a file:// or an s3:// URL; SQLite only), the
# database is first restored from the replica when its file is missing, and all of
# the above runs under `litestream replicate`, which ships every change to the
# replica within about 2 s (app/replication.py) and passes the signals on.
#
# Stopping takes at most `grace` (20 s) for gunicorn and the engine, side by side, and
# up to 5 s more for Litestream's last sync: within the 30 s a host waits after
# SIGTERM (fly.toml's kill_timeout, compose's stop_grace_period).
set -euo pipefail
cd "$(dirname "$0")/.."
grace=20

# prometheus_client's files for GET /metrics: one folder for the web workers and the
# engine, so a scrape shows both; under /tmp unless set, fresh for this start, and
# made before any process records into it (a missing one fails them). Litestream's
# configuration is written there too, over the last start's (prometheus_client reads
# only the *.db files), so no start leaves a file behind.
if [[ -z "${PROMETHEUS_MULTIPROC_DIR:-}" ]]; then
  PROMETHEUS_MULTIPROC_DIR="$(mktemp -d -t firebreak-metrics.XXXXXX)"
  export PROMETHEUS_MULTIPROC_DIR
fi
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db

if [[ -n "${LITESTREAM_REPLICA_URL:-}" && "${1:-}" != --replicated ]]; then
  config="$PROMETHEUS_MULTIPROC_DIR/litestream.yml"
  database="$(python -m app.replication "$config" "$LITESTREAM_REPLICA_URL")"
  litestream restore -config "$config" -no-expand-env -if-db-not-exists -if-replica-exists "$database"
  exec litestream replicate -config "$config" -no-expand-env -exec "scripts/serve.sh --replicated"
fi

flask --app wsgi db upgrade

# Web processes by database (docs/deployment.md#sizing, measured by bench/memory.py):
# SQLite takes one writer at a time, so one worker with 16 threads does as much as
# more, in about 375 MB with the engine (512 MB machines); PostgreSQL, two with 8.
url="${DATABASE_URL:-}"
if [[ -z "$url" && -n "${DATABASE_URL_FILE:-}" ]]; then
  url="$(< "$DATABASE_URL_FILE")"
fi
case "$url" in
  "" | sqlite:*) workers=1 threads=16 ;;
  *) workers=2 threads=8 ;;
esac
exec python scripts/supervise.py --grace "$grace" --engine "flask --app wsgi engine run" -- \
  gunicorn --bind "0.0.0.0:${PORT:-8080}" --workers "${WEB_WORKERS:-$workers}" --worker-class gthread \
  --threads "${WEB_THREADS:-$threads}" --graceful-timeout "$grace" \
  --access-logfile - wsgi:app
