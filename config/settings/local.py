"""Development settings: `make run` uses these."""

from .base import *  # noqa: F403
from .base import SECRET_KEY, env, refuse_weak_secret

DEBUG = env.bool("DEBUG", default=True)
refuse_weak_secret(DEBUG, SECRET_KEY)

# Serve app static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
