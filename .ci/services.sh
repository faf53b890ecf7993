#!/usr/bin/env bash
# Makes sure the local PostgreSQL and Redis answer, starting them with this
# machine's documented commands if they are down. Exits non-zero if either
# still cannot be reached.
set -uo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  echo "PostgreSQL is down; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! redis_up; then
  echo "Redis is down; starting it"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 30); do
  pg_up && redis_up && { echo "PostgreSQL and Redis are up"; exit 0; }
  sleep 1
done
pg_up || echo "PostgreSQL at 127.0.0.1:5432 cannot be reached" >&2
redis_up || echo "Redis at 127.0.0.1:6379 cannot be reached" >&2
exit 1
