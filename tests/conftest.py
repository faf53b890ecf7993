"""Shared fixtures: a small real catalog, and real Daphne and Celery processes.

Processes started here see the pytest database through ``DATABASE_URL``, so
tests that talk to them use ``transactional_db`` (their rows are committed).
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

from assistant import ratelimit
from assistant.consumers import TURNS
from catalog.importers import read_catalog
from catalog.indexing import build_index
from catalog.services import import_rows

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DEMO_CATALOG = ROOT / "catalog" / "demo" / "demo_catalog.jsonl"
SERVICES_PROFILE = bool(os.environ.get("AISLE_TEST_SERVICES"))
IN_CI = bool(os.environ.get("CI"))
CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``services`` need PostgreSQL and Redis: skipped without them, never in CI."""
    if SERVICES_PROFILE:
        return
    reason = "needs PostgreSQL and Redis (set by `make test` when they answer, always in CI)"
    for item in items:
        if "services" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _services_profile_is_real(django_db_setup: None, django_db_blocker) -> None:
    """In the services pass, refuse to run on anything but PostgreSQL and Redis."""
    if not SERVICES_PROFILE:
        return
    with django_db_blocker.unblock():
        assert connection.vendor == "postgresql", "services pass must run on PostgreSQL"
    import redis

    assert settings.REDIS_URL, "services pass needs REDIS_URL"
    assert redis.Redis.from_url(settings.REDIS_URL).ping(), "Redis does not answer"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis")
    assert settings.CELERY_BROKER_URL.startswith("redis://")


@pytest.fixture(scope="session", autouse=True)
def _close_async_test_connections(django_db_setup: None) -> Iterator[None]:
    """Async tests reach the ORM through asgiref's shared worker thread and the chat turns' pool,
    whose database connections would outlive the session and keep PostgreSQL from dropping the
    test database."""
    yield
    asyncio.run(sync_to_async(connections.close_all)())
    # The chat turns' pool threads too: one close on each (the barrier keeps them on distinct threads).
    threads = TURNS._max_workers
    barrier = threading.Barrier(threads)

    def close() -> None:
        barrier.wait(timeout=10)
        connections.close_all()

    for future in [TURNS.submit(close) for _ in range(threads)]:
        future.result(timeout=20)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Each test starts with no request counted (in Redis the counters outlive a process)."""
    ratelimit.reset()


def shared_data(relative: str) -> Path:
    """A file from ../shared/data; skips outside CI when absent, fails in CI."""
    path = SHARED_DATA / relative
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; CI expects ../shared/data beside the checkout")
        pytest.skip(f"{path} is absent (public data lives in ../shared/data)")
    return path


def demo_subset(path: Path, per_type: int = 3) -> Path:
    """A few demo products of each type: a small but varied real catalog."""
    seen: dict[str, int] = {}
    lines = []
    for line in DEMO_CATALOG.read_text(encoding="utf-8").splitlines():
        product_type = json.loads(line)["attributes"]["type"]
        if seen.get(product_type, 0) < per_type:
            seen[product_type] = seen.get(product_type, 0) + 1
            lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def own_data_dir(settings, tmp_path: Path) -> Path:
    """A ``DATA_DIR`` of this test's own: no index, parser or ranker versions of other tests."""
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def small_catalog(db: None, tmp_path: Path) -> list[str]:
    """A small demo catalog imported (not yet embedded); returns its SKUs."""
    import_rows(read_catalog(demo_subset(tmp_path / "small.jsonl"), "jsonl"))
    from catalog.models import Product

    return list(Product.objects.values_list("sku", flat=True))


@pytest.fixture
def indexed_catalog(small_catalog: list[str]) -> list[str]:
    """``small_catalog`` encoded by the real encoder and published as the active index version."""
    build_index()
    return small_catalog


def wait_until_finished(job: Any, timeout: float, finished: tuple[str, ...] = ("succeeded", "failed")) -> Any:
    """Poll a background run's row (a parser or ranker training run) until its status is final."""
    deadline = time.monotonic() + timeout
    while job.status not in finished and time.monotonic() < deadline:
        time.sleep(0.5)
        job.refresh_from_db()
    return job


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def process_env(django_db_setup: None, django_db_blocker) -> dict[str, str]:
    """Environment for a child process that must use the test database."""
    with django_db_blocker.unblock():
        url = _database_url()
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(settings.DATA_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONUNBUFFERED": "1",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_daphne(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real Daphne serving the ASGI app on a free port with ``env``; yields its base URL and process."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", **env},
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        _stop(process)


@contextlib.contextmanager
def running_worker(env: dict[str, str], log_path: Path, *extra_args: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker process with ``env``, serving both queues; yields it once it is ready.
    Torch trains on one thread: the suite's own process, Daphne and the database share two cores,
    and oversubscribed they made a test's training run five times slower (122 s against 22 s)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--loglevel=info", "--queues=celery,gpu", f"--hostname=test-{os.getpid()}-{_free_port()}@%h",
         *extra_args],
        cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", **env},
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def daphne_server(process_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Daphne serving the ASGI app on a free port; yields its base URL."""
    with running_daphne(process_env, tmp_path_factory.mktemp("daphne") / "daphne.log") as (url, _):
        yield url


@pytest.fixture(scope="session")
def celery_worker(process_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real Celery worker process on the configured broker; yields its log path."""
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    with running_worker(process_env, log_path):
        yield log_path


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail("Debian chromium is not installed (make test installs it)")
        pytest.skip("Debian chromium is not installed: apt-get install chromium")
    return CHROMIUM
