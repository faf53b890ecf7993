"""Configuration from the environment (CONTRACTS §1)."""

import os
import secrets
import subprocess
import sys

from .conftest import ROOT


def settings_of(module: str, **environ: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL")
    }
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.CELERY_BROKER_URL)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": module, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_embedded(tmp_path):
    result = settings_of("config.settings.local", DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "filesystem://localhost/",
    ]
    assert (tmp_path / "celery" / "queue").is_dir()


def test_urls_select_real_services(tmp_path):
    result = settings_of(
        "config.settings.local",
        DATA_DIR=str(tmp_path),
        DATABASE_URL="postgres://aisle@db.invalid:5432/aisle",
        REDIS_URL="redis://cache.invalid:6379/0",
        CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
        "amqp://guest:guest@127.0.0.1:5672//",
    ]


def test_debug_off_refuses_the_development_secret(tmp_path):
    refused = settings_of("config.settings.production", DATA_DIR=str(tmp_path))
    assert refused.returncode != 0
    assert "SECRET_KEY must be set" in refused.stderr
    refused_local = settings_of("config.settings.local", DATA_DIR=str(tmp_path), DEBUG="false")
    assert refused_local.returncode != 0
    assert "SECRET_KEY must be set" in refused_local.stderr
    strong = secrets.token_urlsafe(50)  # "x" * 50 would be weak (one distinct character)
    accepted = settings_of("config.settings.production", DATA_DIR=str(tmp_path), SECRET_KEY=strong)
    assert accepted.returncode == 0, accepted.stderr
