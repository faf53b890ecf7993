"""Aisle on a Redis that holds sockets open, goes away and comes back (issue 13, failures 1 and 6).

Each test starts its own ``redis-server`` on a free port and a real Daphne (and Celery worker)
pointed at it, so that stopping Redis touches nobody else's. They need the ``redis-server``
binary, which the services pass has.
"""

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from assistant import parsing
from assistant.tasks import resend_queued_jobs, train_parser
from core.broker import JobQueue
from core.celery_app import app as celery_app
from recsys_plugins import ranking
from recsys_plugins.models import FeedbackEvent, RankerTrainingRun
from recsys_plugins.tasks import fit_rankers, resend_queued_runs

from .conftest import _free_port, running_daphne, running_worker

# channels_redis waits up to 5 s on each BRPOP; redis-py's default read timeout was also 5 s.
LONGER_THAN_A_BRPOP_S = 7.5
FAST_S = 2.0
FEEDBACK_POSTS = 60  # more than AISLE_CF_REFIT_AFTER (50): one of them asks for a training run


class PrivateRedis:
    """A ``redis-server`` of this test alone, on a free port, that the test may stop and start."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (the services pass installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=(self.workdir / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def redis_env(process_env: dict[str, str], private_redis: PrivateRedis) -> dict[str, str]:
    """The child processes' environment with the private Redis as channel layer, broker and results."""
    env = {key: value for key, value in process_env.items() if not key.startswith("CELERY_")}
    return {**env, "REDIS_URL": private_redis.url}


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/chat/"


def open_socket(base: str) -> ClientConnection:
    return ws_connect(ws_url(base), origin=base, open_timeout=10)


def ws_call(socket: ClientConnection, frame: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    socket.send(json.dumps(frame))
    return json.loads(socket.recv(timeout=timeout))


def http(base: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> tuple[int, Any]:
    """Status and JSON body of a GET (or, with ``body``, a POST) to the server."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as problem:
        return problem.code, json.loads(problem.read() or b"null")


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_idle_websocket_on_redis_stays_open_and_answers(redis_env, tmp_path):
    with running_daphne(redis_env, tmp_path / "daphne.log") as (base, _), open_socket(base) as socket:
        time.sleep(LONGER_THAN_A_BRPOP_S)
        reply = ws_call(socket, {"type": "reset"})
        assert reply["type"] == "reply"
        assert reply["intent"] == "reset"


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_healthz_is_ok_while_a_websocket_client_is_connected(redis_env, tmp_path):
    with running_daphne(redis_env, tmp_path / "daphne.log") as (base, _), open_socket(base) as socket:
        assert ws_call(socket, {"type": "reset"})["intent"] == "reset"
        for _ in range(3):  # a few times, across the 5 s a BRPOP of the layer waits
            status, health = http(base, "/healthz")
            assert status == 200, health
            assert health["channel_layer"]["ok"], health
            assert health["broker"]["ok"], health
            time.sleep(2)
        assert ws_call(socket, {"type": "reset"})["intent"] == "reset"


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chat_and_feedback_work_with_redis_down_and_the_training_run_is_sent_once_it_is_back(
    indexed_catalog, private_redis, redis_env, tmp_path
):
    with running_daphne(redis_env, tmp_path / "daphne.log") as (base, _):
        private_redis.stop()

        with open_socket(base) as socket:
            reply = ws_call(socket, {"type": "message", "text": "grey sofa"})
            assert reply["products"], reply
            began = time.monotonic()
            ack = ws_call(socket, {"type": "feedback", "sku": reply["products"][0]["sku"], "action": "like"})
            assert (ack["type"], ack["sku"], ack["action"]) == ("ack", reply["products"][0]["sku"], "like")
            assert time.monotonic() - began < FAST_S

        status, answer = http(base, "/api/chat/", {"session": "outage-shopper", "text": "grey sofa"})
        assert status == 200, answer
        assert answer["products"], answer
        skus = [card["sku"] for card in answer["products"]]

        slowest, acknowledged = 0.0, 1  # the WebSocket's
        for number in range(FEEDBACK_POSTS):
            began = time.monotonic()
            body = {"session": "outage-shopper", "sku": skus[number % len(skus)], "action": "like"}
            status, _ = http(base, "/api/feedback/", body)
            slowest = max(slowest, time.monotonic() - began)
            assert status == 201, f"feedback {number + 1} answered {status}"
            acknowledged += 1
        assert slowest < FAST_S
        assert FeedbackEvent.objects.count() == acknowledged
        run = RankerTrainingRun.objects.get(reason="feedback")
        assert run.status == RankerTrainingRun.Status.QUEUED

        status, health = http(base, "/healthz")
        assert status == 503
        assert health["status"] == "degraded"
        assert not health["channel_layer"]["ok"]
        assert not health["broker"]["ok"]
        assert health["database"]["ok"]

        # Redis is back: beat's sweep (every second, set as an admin would) sends the stuck run again
        # and a real worker trains it.
        private_redis.start()
        every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
        for sweep in PeriodicTask.objects.filter(task=resend_queued_runs.name):
            sweep.interval = every_second
            sweep.save()
        sweeping = {**redis_env, "AISLE_TRAINING_RESEND_AFTER": "0"}
        with running_worker(sweeping, tmp_path / "worker.log", "--beat"):
            deadline = time.monotonic() + 45
            while run.status == RankerTrainingRun.Status.QUEUED and time.monotonic() < deadline:
                time.sleep(0.5)
                run.refresh_from_db()
            worker_log = (tmp_path / "worker.log").read_text()
            assert run.status != RankerTrainingRun.Status.QUEUED, worker_log[-3000:]
        run.refresh_from_db()
        assert run.status == RankerTrainingRun.Status.SUCCEEDED, run.message
        assert http(base, "/healthz")[0] == 200


@pytest.mark.services
@pytest.mark.slow
async def test_a_listener_on_the_redis_layer_outlives_quiet_reads():
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    channel = await layer.new_channel()

    async def send_late() -> None:
        await asyncio.sleep(LONGER_THAN_A_BRPOP_S)
        await layer.send(channel, {"type": "chat.note", "text": "late"})

    sender = asyncio.create_task(send_late())
    assert (await asyncio.wait_for(layer.receive(channel), 30))["text"] == "late"
    await sender


# ------------------------------------------------------------------------------ training runs sent again

TRAINING = [
    pytest.param(ranking.TRAINING_RUNS, fit_rankers, resend_queued_runs, id="rankers"),
    pytest.param(parsing.TRAINING_JOBS, train_parser, resend_queued_jobs, id="parser"),
]
TRAINING_ARGS = ("jobs", "task", "sweep")


@pytest.mark.django_db
@pytest.mark.parametrize(TRAINING_ARGS, TRAINING)
def test_a_training_run_delivered_twice_trains_once(jobs: JobQueue, task: Any, sweep: Any):
    row = jobs.model.objects.create()
    assert jobs.claim(row.pk).status == "running"
    assert jobs.claim(row.pk) is None  # the second delivery
    assert jobs.claim(row.pk + 1000) is None  # a row that is gone
    assert task(row.pk)["status"] == "skipped"
    row.refresh_from_db()
    assert (row.status, row.version, row.finished_at) == ("running", "", None)


@pytest.mark.django_db
@pytest.mark.parametrize(TRAINING_ARGS, TRAINING)
def test_the_sweep_sends_again_only_what_stayed_queued_past_the_grace(
    jobs: JobQueue, task: Any, sweep: Any, settings
):
    settings.AISLE_TRAINING_RESEND_AFTER = 60
    stuck, fresh, running = (jobs.model.objects.create() for _ in range(3))
    long_ago = timezone.now() - timedelta(minutes=5)
    jobs.model.objects.filter(pk__in=[stuck.pk, running.pk]).update(created_at=long_ago)
    jobs.model.objects.filter(pk=running.pk).update(status="running")

    assert sweep() == {"sent": [stuck.pk]}  # ids the broker took
    assert jobs.model.objects.get(pk=fresh.pk).status == "queued"
    with celery_app.connection_for_write() as connection:
        assert connection.default_channel.queue_purge("gpu") == 1  # training's queue: only that one message
