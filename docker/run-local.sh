#!/usr/bin/env bash
# Starts one Celery worker in the background and the web tier (`make serve`: WEB_CONCURRENCY
# Daphne processes) in the foreground; stopping it (Ctrl-C) stops the worker too. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
BIN=.venv/bin

DATA_DIR=${DATA_DIR:-var}
mkdir -p "$DATA_DIR"
# --beat also runs the periodic jobs (retraining the rankers when feedback came in). Two worker
# processes: an import or an index refresh does not wait behind a first run's parser training.
"$BIN/celery" -A config worker --loglevel=info --concurrency=2 --queues=celery,gpu \
    --beat --schedule="$DATA_DIR/celerybeat-schedule" &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM

echo
echo "  Aisle is starting at http://$HOST:$PORT/  (admin: http://$HOST:$PORT/admin/)"
echo "  Create an admin user with: $BIN/python manage.py createsuperuser"
echo
HOST=$HOST PORT=$PORT "$BIN/python" -m config.serve
