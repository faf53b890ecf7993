"""Settings shared by every environment.

Everything a deployment changes comes from the environment (CONTRACTS §1);
see https://docs.djangoproject.com/en/5.2/ref/settings/.
"""

from pathlib import Path

import environ
from django.core.checks.security.base import (  # Django's own criteria (check_secret_key, W009)
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
    _check_secret_key,
)
from django.core.exceptions import ImproperlyConfigured

from catalog.retrieval.constraints import parse_rates

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    AISLE_DEVICE=(str, "auto"),
)

DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEV_SECRET_KEY = "django-insecure-aisle-development-only"
DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env("ALLOWED_HOSTS")


# Secrets published in compose files, tutorials and docs: never a real key, whatever their length.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"change-me", "changeme", "change_me", "secret", "secret-key", "secret_key", "your-secret-key", "django"}
)
NEW_SECRET_HINT = "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def refuse_weak_secret(debug: bool, secret_key: str) -> None:
    """Stop a non-debug process from running with the development secret, a known default, or a
    key Django's own deployment check calls weak (under 50 characters, under 5 distinct ones, or
    startproject's throwaway ``django-insecure-`` prefix)."""
    if debug:
        return
    if secret_key == DEV_SECRET_KEY:
        raise ImproperlyConfigured(f"SECRET_KEY must be set when DEBUG is off. {NEW_SECRET_HINT}")
    if secret_key.strip().lower() in KNOWN_DEFAULT_SECRETS:
        raise ImproperlyConfigured(
            f"SECRET_KEY is a known default ({secret_key!r}); set a long random value. {NEW_SECRET_HINT}"
        )
    if not _check_secret_key(secret_key):
        raise ImproperlyConfigured(
            f"SECRET_KEY is weak: it needs {SECRET_KEY_MIN_LENGTH} or more characters, "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} or more distinct ones, and no "
            f"{SECRET_KEY_INSECURE_PREFIX!r} prefix. {NEW_SECRET_HINT}"
        )


# ------------------------------------------------------------------------------
# Applications
# https://docs.djangoproject.com/en/5.2/ref/settings/#installed-apps
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "daphne",
    "config.apps.AisleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "channels",
    "import_export",
    "django_celery_beat",
]
LOCAL_APPS = [
    "catalog",
    "assistant",
    "recsys_plugins",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    # First, so that it sees the error answers of every other middleware too.
    "assistant.middleware.JsonApiErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
# ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'aisle.sqlite3'}"),
}
# Each chat turn runs on a pool thread (assistant/consumers.py) that keeps its connection: opening one
# per turn cost a PostgreSQL backend start (or SQLite's pragmas) every time: a sixth of a turn on SQLite.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and management commands share one file:
    # WAL and a busy timeout keep concurrent writers from failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Channels and Celery: Redis when REDIS_URL is set, otherwise in-process layer
# and a broker embedded in DATA_DIR (kombu's filesystem transport).
# https://channels.readthedocs.io/en/latest/topics/channel_layers.html
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
# Seconds a process tries to reach Redis or the broker: requests queue tasks (core/broker.py) and
# /healthz probes both, so a Redis that is down must fail them at once, not after redis-py's retries.
REDIS_CONNECT_TIMEOUT = 2.0
# Read timeout of the long-lived Redis connections: well above the 5 s that channels_redis (BRPOP)
# and the Celery workers block on a read, so a quiet connection is never taken for a dead one.
REDIS_READ_TIMEOUT = 30.0
if REDIS_URL:
    # The chat binds no socket to the layer (docker/README.md, "Redis"); it serves group messages.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                        "socket_timeout": REDIS_READ_TIMEOUT,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_QUEUE_DIR = DATA_DIR / "celery"
# The filesystem transport ignores the host; naming one keeps kombu from warning on every connection.
EMBEDDED_BROKER_URL = "filesystem://localhost/"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or EMBEDDED_BROKER_URL)
CELERY_RESULT_BACKEND = env(
    "CELERY_RESULT_BACKEND", default=REDIS_URL or f"file://{CELERY_QUEUE_DIR / 'results'}"
)
if CELERY_BROKER_URL == EMBEDDED_BROKER_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    for folder in ("queue", "processed", "control", "results"):
        (CELERY_QUEUE_DIR / folder).mkdir(parents=True, exist_ok=True)
# A task a worker took but never acknowledged (the worker was killed) is delivered again after this
# many seconds. Tasks acknowledge when they finish (acks-late), so every task that may run longer
# must be safe to run twice: index refreshes are; training acknowledges on receipt instead, and a
# run left queued is sent again by the training sweeps below.
AISLE_BROKER_VISIBILITY_TIMEOUT = env.int("AISLE_BROKER_VISIBILITY_TIMEOUT", default=300)
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_timeout": REDIS_READ_TIMEOUT,
        "visibility_timeout": AISLE_BROKER_VISIBILITY_TIMEOUT,
    }
if CELERY_RESULT_BACKEND.startswith(("redis://", "rediss://")):
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_CONNECT_TIMEOUT
    # Sending a task subscribes to its result; Celery's default retries that for 20 s.
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 1, "interval_start": 0.2}}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# A pool process that dies mid-task leaves its message to be delivered again, as a dead worker does.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Training goes to the "gpu" queue; `make run`'s worker serves both and trains on its CPU.
CELERY_TASK_ROUTES = {
    "assistant.tasks.train_parser": {"queue": "gpu"},
    "recsys_plugins.tasks.fit_rankers": {"queue": "gpu"},
}
# Training runs still queued this many seconds after they were created (the broker was down) are
# sent again by the training sweeps.
AISLE_TRAINING_RESEND_AFTER = env.float("AISLE_TRAINING_RESEND_AFTER", default=120.0)

# ------------------------------------------------------------------------------
# Periodic tasks: beat reads them from the database, where the admin edits them
# https://django-celery-beat.readthedocs.io/
# ------------------------------------------------------------------------------
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Empty on purpose: the DatabaseScheduler writes every entry here over the database's at each start,
# undoing an admin's edits. `migrate` creates the entries instead (config/schedules.py).
CELERY_BEAT_SCHEDULE: dict = {}
# The periods, in seconds, that `migrate` gives the entries it creates; after that the admin's count.
AISLE_RANKER_REFIT_SECONDS = env.float("AISLE_RANKER_REFIT_SECONDS", default=3600.0)
AISLE_TRAINING_SWEEP_SECONDS = env.float("AISLE_TRAINING_SWEEP_SECONDS", default=60.0)
AISLE_INDEX_SWEEP_SECONDS = env.float("AISLE_INDEX_SWEEP_SECONDS", default=300.0)

# ------------------------------------------------------------------------------
# Aisle
# ------------------------------------------------------------------------------
AISLE_DEVICE = env("AISLE_DEVICE")
# The shopper-facing product list length and the longest message accepted.
AISLE_RESULTS_PER_PAGE = 10
# Parser training: generated utterances, epochs and the seed that makes a run repeatable.
AISLE_PARSER_EXAMPLES = env.int("AISLE_PARSER_EXAMPLES", default=10_000)
AISLE_PARSER_EPOCHS = 3
# Where parser versions are kept (default DATA_DIR/parser): every web process and worker must see it.
AISLE_PARSER_DIR = env("AISLE_PARSER_DIR", default="")
AISLE_PARSER_SEED = 0
AISLE_MAX_MESSAGE_CHARS = 1000
# Rate limits (``limits`` strings; empty turns one off), shared by every web process through
# Redis when REDIS_URL is set: chat frames and API requests per shopper session and per client
# address. Over either, a frame or request is refused as "rate_limited" (HTTP 429).
AISLE_RATE_LIMIT_PER_SESSION = env(
    "AISLE_RATE_LIMIT_PER_SESSION", default="10 per 10 seconds; 120 per minute"
)
# Chat turns one web process answers at once (threads; the CPU work mostly releases the GIL).
AISLE_TURN_THREADS = env.int("AISLE_TURN_THREADS", default=4)
# A web process loads the parser, the encoder and the index when it starts (config/asgi.py), not
# on its first shopper's turn (seconds).
AISLE_WARM_UP = env.bool("AISLE_WARM_UP", default=True)
AISLE_RATE_LIMIT_PER_IP = env("AISLE_RATE_LIMIT_PER_IP", default="600 per minute")
# Catalog edits queue an index refresh this many seconds after they commit,
# so that a burst of edits is encoded and published once.
AISLE_INDEX_AUTO_REFRESH = env.bool("AISLE_INDEX_AUTO_REFRESH", default=True)
AISLE_INDEX_REFRESH_DELAY = 2.0
# An admin import of more rows than this runs in a worker, with a progress bar; smaller ones at once.
AISLE_IMPORT_INLINE_ROWS = env.int("AISLE_IMPORT_INLINE_ROWS", default=300)
# A refresh job queued this many seconds ago and not started is taken for lost and sent again.
AISLE_INDEX_JOB_TIMEOUT = env.float("AISLE_INDEX_JOB_TIMEOUT", default=300.0)
# Price bounds said in one currency apply to products priced in another only through these
# rates (USD per unit, "SAR=0.2667,EUR=1.08"); unset, a bound with a currency applies to
# products in that currency alone.
AISLE_CURRENCY_RATES = parse_rates(env("AISLE_CURRENCY_RATES", default=""))
# A shop's own synonym list ("said, said => meant" lines) on top of the shipped one.
AISLE_SYNONYMS_FILE = env("AISLE_SYNONYMS_FILE", default="")
# How semantic and lexical candidates are fused (see catalog/retrieval/fusion.py).
AISLE_FUSION = "convex"
AISLE_FUSION_WEIGHTS = {"semantic": 0.5, "lexical": 0.5}
# Ranking plugins (docs/plugins.md). Plugins by name: None allows every installed one.
AISLE_PLUGINS_ALLOW = env.list("AISLE_PLUGINS_ALLOW", default=None)
AISLE_PLUGINS_DENY = env.list("AISLE_PLUGINS_DENY", default=[])
AISLE_TRACE_PLUGINS = env.bool("AISLE_TRACE_PLUGINS", default=False)
# Rankers enabled without an admin choice, in order; the first orders the chat's results.
AISLE_RANKERS = env.list("AISLE_RANKERS", default=["hybrid", "cosine", "cf", "popularity"])
# Shares in the hybrid's fused score; "retrieval" is the score retrieval found a product with.
AISLE_RANKER_WEIGHTS = {"retrieval": 1.0, "cosine": 0.5, "cf": 0.5, "popularity": 0.1}
# Collaborative filtering: hyper-parameters tuned on MovieLens-100k (docs/benchmarks.md), and
# how many feedback events make a web process ask for a new training run.
AISLE_CF = {"algorithm": "als", "factors": 32, "regularization": 30.0, "alpha": 4.0}
AISLE_CF_REFIT_AFTER = 50
# Retrieval fetches this many candidates per shown product for the ranker to choose from.
AISLE_RANKING_POOL = 3

# ------------------------------------------------------------------------------
# Sessions, static files, i18n
# ------------------------------------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# django-import-export does the admin's product export, which needs the view permission; imports
# are the catalog's own (catalog/imports.py), in every import_catalog format.
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # bm25s logs every index build, faiss every CPU-feature probe; neither helps an operator.
    "loggers": {"bm25s": {"level": "WARNING"}, "faiss.loader": {"level": "WARNING"}},
}
