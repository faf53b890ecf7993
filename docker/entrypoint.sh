#!/bin/sh
# Aisle container entrypoint.
#
# Named commands (extra arguments are appended to the underlying command):
#   web         migrate + collectstatic, then Daphne on 0.0.0.0:8000
#   worker      Celery worker for the default "celery" queue
#   gpu-worker  Celery worker for the "gpu" queue (CUDA image)
#   beat        Celery beat scheduler
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
        exec daphne -b 0.0.0.0 -p 8000 "$@" config.asgi:application
        ;;
    worker)
        exec celery -A config worker -l info -Q celery --concurrency 2 --beat --schedule /tmp/celerybeat-schedule "$@"
        ;;
    gpu-worker)
        exec celery -A config worker -l info -Q gpu --concurrency 1 "$@"
        ;;
    beat)
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
