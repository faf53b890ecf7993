#!/usr/bin/env bash
# Starts one Celery worker in the background and the web tier (`make serve`: WEB_CONCURRENCY
# Daphne processes) in the foreground; stopping it (Ctrl-C) stops the worker too. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
BIN=.venv/bin

# --beat also runs the periodic tasks (retraining the rankers when feedback came in, the sweeps), read
# from the database, where the admin edits them (CELERY_BEAT_SCHEDULER). Two worker processes: an
# import or an index refresh does not wait behind a first run's parser training.
# Each of the two shares the cores: torch in one of them uses half, not all (oversubscribed, a
# training run took five times as long while an import ran beside it).
threads=$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$threads} \
    "$BIN/celery" -A config worker --loglevel=info --concurrency=2 --queues=celery,gpu --beat &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM

echo
echo "  Aisle is starting at http://$HOST:$PORT/  (admin: http://$HOST:$PORT/admin/)"
echo "  Create an admin user with: $BIN/python manage.py createsuperuser"
echo
HOST=$HOST PORT=$PORT "$BIN/python" -m config.serve
