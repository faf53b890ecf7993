#!/usr/bin/env bash
# The test suite as `make test` runs it.
#
# With CI set (or when PostgreSQL and Redis both answer here): the whole suite
# against PostgreSQL and Redis (channel layer, Celery broker and results), then
# the smoke subset again on the embedded set-up (SQLite, in-memory channel
# layer, filesystem broker) with a real worker. Under CI a missing service is
# a failure. Without the services: the whole suite on the embedded set-up;
# tests that need the services skip and say so.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest --durations=15)
PG_URL=${AISLE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${AISLE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}

if [ -n "${CI:-}" ]; then
  bash .ci/services.sh || { echo "CI needs PostgreSQL and Redis; see above." >&2; exit 1; }
fi
if ! command -v chromium >/dev/null; then
  echo "Installing Debian's chromium for the browser tests"
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || { [ -n "${CI:-}" ] && { echo "chromium could not be installed" >&2; exit 1; }; }
fi

services_up() {
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = "PONG" ]
}

run_pass() {  # name, then pytest arguments
  local name=$1; shift
  echo "=== $name ==="
  rm -rf "var/test-$name"
  "${PYTEST[@]}" "$@"
}

embedded() {  # pytest arguments; no service URLs, so the embedded defaults apply
  (unset DATABASE_URL REDIS_URL CELERY_BROKER_URL AISLE_TEST_SERVICES
   DATA_DIR="$PWD/var/test-embedded" run_pass embedded "$@")
}

status=0
if [ -n "${CI:-}" ] || services_up; then
  DATA_DIR="$PWD/var/test-services" DATABASE_URL=$PG_URL REDIS_URL=$REDIS AISLE_TEST_SERVICES=1 \
    run_pass services tests examples || status=1
  embedded -m smoke tests || status=1
else
  echo "PostgreSQL/Redis not reachable: running everything on the embedded set-up."
  embedded tests examples || status=1
fi
exit $status
