#!/bin/sh
# Aisle container entrypoint.
#
# Named commands (extra arguments are appended to the underlying command):
#   web         migrate + collectstatic, then the web tier (WEB_CONCURRENCY Daphne processes) on 0.0.0.0:8000
#   worker      Celery worker for AISLE_WORKER_QUEUES (default "celery,gpu": training falls back to the CPU)
#   gpu-worker  Celery worker for the "gpu" queue (CUDA image)
#   beat        Celery beat: runs the periodic tasks kept in the database (edited in the admin)
#   migrate     python manage.py migrate --noinput
#   manage      python manage.py <args>
# Anything else is exec'd as-is (e.g. `sh`, `python manage.py shell`).
set -eu

: "${DATA_DIR:=/data}"
export DATA_DIR
mkdir -p "$DATA_DIR" 2>/dev/null || true

cmd="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

case "$cmd" in
    web)
        python manage.py migrate --noinput
        python manage.py collectstatic --noinput
        HOST=0.0.0.0 PORT=8000 exec python -m config.serve "$@"
        ;;
    worker)
        # No --beat here: the "beat" service is the one scheduler, however many workers run.
        exec celery -A config worker -l info -Q "${AISLE_WORKER_QUEUES:-celery,gpu}" --concurrency 2 "$@"
        ;;
    gpu-worker)
        exec celery -A config worker -l info -Q gpu --concurrency 1 "$@"
        ;;
    beat)
        # The schedule is in the database, made by migrate (the web service runs it): wait for it.
        until python manage.py migrate --check >/dev/null 2>&1; do
            echo "beat: waiting for the database to be migrated" >&2
            sleep 5
        done
        exec celery -A config beat -l info "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$cmd" "$@"
        ;;
esac
