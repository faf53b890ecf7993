"""Soak: hours-long health at moderate load on PostgreSQL + Redis, against real processes.

Prepares its own database (dropped and created again), loads the demo catalog,
builds the index, then starts Daphne (``DEBUG`` off) and a Celery worker with
beat, both on PostgreSQL and Redis. ``--shoppers`` simulated shoppers each
hold WebSocket conversations (a few turns, feedback on a shown product after
most replies, a think time between frames, a new connection now and then) for
``--minutes``. Every ``--sample-seconds`` it records the resident memory of the
web and worker processes, their open file descriptors, the TCP connections to
the web port, PostgreSQL's connections and Redis's clients.

It prints one JSON line: turns, errors (error frames, dropped sockets,
timeouts), latency percentiles, feedback acknowledged versus stored, and for
each sampled series its first and last value and its least-squares slope per
hour, so a growth trend shows. Only loopback addresses are contacted; every
loop is bounded by the deadline.

    python benchmarks/soak.py --minutes 30 --shoppers 20
"""

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
CONVERSATIONS = [
    ["grey sofa under 1000", "cheaper", "show me more", "how much is the first one"],
    ["white bookcase", "only oak", "compare the first two"],
    ["floor lamp", "something in black", "the second one"],
    ["black phone case", "from another brand", "best rated"],
    ["hello", "desk chair with armrests", "under 200", "thanks, bye"],
    ["wooden dining table", "for 6 people", "cheaper ones"],
]
FEEDBACK_ACTIONS = ("click", "like", "click", "dislike", "add_to_cart")
REPLY_TIMEOUT_S = 30.0


@dataclass
class Tally:
    turns: int = 0
    latencies: list[float] = field(default_factory=list)
    acks: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    connections: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(environment: dict[str, str], *arguments: str) -> None:
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=environment, check=True)


def start(command: list[str], environment: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the web server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


async def shopper(number: int, url: str, origin: str, deadline: float, tally: Tally) -> None:
    """One shopper: conversations over fresh connections until the deadline."""
    rng = random.Random(number)
    await asyncio.sleep(rng.uniform(0, 5))  # spread the arrivals
    while time.monotonic() < deadline:
        try:
            async with connect(url, origin=origin, max_size=2**22, open_timeout=REPLY_TIMEOUT_S) as socket_:
                tally.connections += 1
                for _ in range(rng.randint(1, 3)):  # conversations per connection
                    for text in rng.choice(CONVERSATIONS):
                        if time.monotonic() >= deadline:
                            return
                        await _turn(socket_, text, rng, tally)
                        await asyncio.sleep(rng.uniform(1.0, 4.0))  # think time
                    await socket_.send(json.dumps({"type": "reset"}))
                    await _next(socket_, ("reply",))
        except ConnectionClosed as closed:
            tally.error(f"closed_{closed.rcvd.code if closed.rcvd else 'abnormal'}")
        except TimeoutError:
            tally.error("timeout")
        except OSError as problem:
            tally.error(type(problem).__name__)
            await asyncio.sleep(1)


async def _turn(socket_: Any, text: str, rng: random.Random, tally: Tally) -> None:
    started = time.perf_counter()
    await socket_.send(json.dumps({"type": "message", "text": text}))
    reply = await _next(socket_, ("reply", "error"))
    tally.latencies.append(time.perf_counter() - started)
    tally.turns += 1
    if reply["type"] == "error":
        tally.error(f"error_{reply['code']}")
        return
    if reply["products"] and rng.random() < 0.7:
        sku = rng.choice(reply["products"])["sku"]
        await socket_.send(
            json.dumps({"type": "feedback", "sku": sku, "action": rng.choice(FEEDBACK_ACTIONS)})
        )
        ack = await _next(socket_, ("ack", "error"))
        if ack["type"] == "ack":
            tally.acks += 1
        else:
            tally.error(f"feedback_{ack['code']}")


async def _next(socket_: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket_.recv(), REPLY_TIMEOUT_S))
        if frame["type"] in kinds:
            return frame


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants."""
    total_kb = 0
    for child in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total_kb / 1024


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(child) for found in children for child in [int(found), *_descendants(int(found))]]


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return 0


def tcp_connections_to(port: int) -> int:
    """Established TCP connections whose local end is ``port`` (IPv4 and IPv6)."""
    established = "01"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == established and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    times, values = np.array(samples).T
    return float(np.polyfit(times / 3600, values, 1)[0])


def series_summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """First, last and largest value, and the slope after the warm-up (the first quarter, at most
    5 minutes: models load and caches fill then)."""
    values = [value for _, value in samples]
    warm_up = min(300.0, samples[-1][0] / 4)
    return {
        "first": round(values[0], 1),
        "last": round(values[-1], 1),
        "max": round(max(values), 1),
        "slope_per_hour": round(slope_per_hour([s for s in samples if s[0] >= warm_up]), 2),
    }


async def sample_every(
    seconds: float, deadline: float, probes: dict[str, Callable[[], float]], into: dict[str, list]
) -> None:
    started = time.monotonic()
    while time.monotonic() < deadline:
        elapsed = time.monotonic() - started
        for name, probe in probes.items():
            into.setdefault(name, []).append((elapsed, float(probe())))
        await asyncio.sleep(min(seconds, max(deadline - time.monotonic(), 0)))


async def load(args: argparse.Namespace, url: str, origin: str, probes: dict, samples: dict) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + args.minutes * 60
    await asyncio.gather(
        sample_every(args.sample_seconds, deadline, probes, samples),
        *(shopper(number, url, origin, deadline, tally) for number in range(args.shoppers)),
    )
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--shoppers", type=int, default=20)
    parser.add_argument("--sample-seconds", type=float, default=30)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="aisle_soak")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "soak")
    args = parser.parse_args()

    recreate_database(args.postgres, args.database)
    redis.Redis.from_url(args.redis_url).flushdb()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    database_url = args.postgres.rsplit("/", 1)[0] + f"/{args.database}"
    environment = {
        **os.environ,
        "DATA_DIR": str(args.data_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    manage(environment, "migrate", "--noinput", "-v", "0")
    manage(environment, "load_demo_catalog", "--if-empty")
    manage(environment, "build_index")

    port = free_port()
    web = start(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        environment,
        args.data_dir / "soak-web.log",
    )
    worker = start(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=info",
         "--queues=celery,gpu", "--beat"],
        environment,
        args.data_dir / "soak-worker.log",
    )  # fmt: skip
    store = redis.Redis.from_url(args.redis_url)
    database = psycopg.connect(database_url, autocommit=True)
    try:
        wait_for_port(port, web)
        probes = {
            "web_rss_mb": lambda: process_tree_rss_mb(web.pid),
            "worker_rss_mb": lambda: process_tree_rss_mb(worker.pid),
            "web_open_fds": lambda: open_fds(web.pid),
            "web_tcp_connections": lambda: tcp_connections_to(port),
            "postgres_connections": lambda: database.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (args.database,)
            ).fetchone()[0],
            "redis_clients": lambda: store.info("clients")["connected_clients"],
        }
        samples: dict[str, list] = {}
        started = time.monotonic()
        url, origin = f"ws://127.0.0.1:{port}/ws/chat/", f"http://127.0.0.1:{port}"
        tally = asyncio.run(load(args, url, origin, probes, samples))
        elapsed = time.monotonic() - started
        time.sleep(2)  # the last acknowledged feedback is committed before its ack; this is margin only
        stored = database.execute("SELECT count(*) FROM assistant_feedbackevent").fetchone()[0]
        web_alive, worker_alive = web.poll() is None, worker.poll() is None
    finally:
        for process in (web, worker):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        database.close()

    latencies = np.array(tally.latencies or [0.0])
    report = {
        "benchmark": "soak",
        "minutes": round(elapsed / 60, 1),
        "shoppers": args.shoppers,
        "connections": tally.connections,
        "turns": tally.turns,
        "turns_per_s": round(tally.turns / elapsed, 2),
        **{f"p{q}_ms": round(float(np.percentile(latencies, q)) * 1000, 1) for q in (50, 95, 99)},
        "errors": sum(tally.errors.values()),
        "errors_by_kind": tally.errors,
        "feedback_acknowledged": tally.acks,
        "feedback_stored": stored,
        "web_alive": web_alive,
        "worker_alive": worker_alive,
        "series": {name: series_summary(values) for name, values in samples.items()},
        "samples": len(next(iter(samples.values()), [])),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
