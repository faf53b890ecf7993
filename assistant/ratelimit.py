"""How fast shoppers may talk to the assistant: limits per session and per client address.

Built on the ``limits`` library (moving windows). The counters live in Redis when ``REDIS_URL``
is set, so that every web process (``make serve`` runs several) and every host counts against
the same limit; without Redis each process counts on its own. ``AISLE_RATE_LIMIT_PER_SESSION``
and ``AISLE_RATE_LIMIT_PER_IP`` are ``limits`` strings ("10 per 10 seconds; 60 per minute"); an
empty one turns that limit off. The chat WebSocket counts every frame, the JSON API every
request. If Redis cannot be reached the request is let through and the failure logged: a broken
limiter must not take the chat down.
"""

import functools
import logging

from django.conf import settings
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LIMITS = {"session": "AISLE_RATE_LIMIT_PER_SESSION", "ip": "AISLE_RATE_LIMIT_PER_IP"}
"""Each scope and the setting that holds its limits."""
REDIS_TIMEOUT = 0.5
"""Seconds a limiter call waits for Redis before letting the request through."""


def allowed(session_key: str | None, address: str | None) -> bool:
    """Count one request of ``session_key`` from ``address``; ``False`` when either is over its
    limit (the request should then be refused). A missing key is not limited."""
    limiter = _limiter(settings.REDIS_URL)
    try:
        for scope, key in (("session", session_key), ("ip", address)):
            if key and not all(
                limiter.hit(item, scope, key) for item in _items(getattr(settings, LIMITS[scope]))
            ):
                return False
    except (RedisError, OSError) as problem:
        logger.warning("rate limiter unavailable (%s); request let through", problem)
    return True


def reset() -> None:
    """Forget every count (tests; an admin lifting limits after an incident)."""
    try:
        _limiter(settings.REDIS_URL).storage.reset()
    except (RedisError, OSError) as problem:
        logger.warning("rate limiter unavailable (%s); nothing reset", problem)


@functools.cache
def _limiter(redis_url: str) -> MovingWindowRateLimiter:
    if redis_url:
        storage = storage_from_string(
            redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
    else:
        storage = storage_from_string("memory://")
    return MovingWindowRateLimiter(storage)


@functools.cache
def _items(spec: str) -> list[RateLimitItem]:
    return parse_many(spec) if spec.strip() else []
