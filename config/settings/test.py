"""Test settings: only what makes the suite fast and self-contained."""

from .base import *  # noqa: F403
from .base import DATA_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A file, not memory, so that a Daphne server or a Celery worker started by a
# test sees the same SQLite test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# Serve app static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True

# Tests that exercise the signal-driven refresh switch it on themselves; the
# rest would otherwise leave refresh tasks queued for a later test's worker.
AISLE_INDEX_AUTO_REFRESH = env.bool("AISLE_INDEX_AUTO_REFRESH", default=False)
AISLE_PARSER_EXAMPLES = 400
# Test modules import config.asgi before the test database exists.
AISLE_WARM_UP = False

# Every request of the suite comes from one address; tests of the limits set their own.
AISLE_RATE_LIMIT_PER_IP = ""
