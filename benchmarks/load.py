"""Many shoppers at once: concurrent WebSocket conversations against the server ``make serve`` starts.

Prepares a ``DATA_DIR`` as ``dialogue_scripts.py`` does (IKEA + Best Buy imported, the index
built), starts the web tier with ``make serve`` on a free loopback port (``WEB_CONCURRENCY``
processes), and lets ``--shoppers`` simulated shoppers talk to it at once. Each shopper holds
conversations of ``--turns`` messages, one WebSocket connection (a new session) each: a search
for one of the kinds the chat page suggests, then follow-ups ("cheaper", "the second one", "add it
to my cart", "what's in my cart?"...), liking a shown product now and then (a feedback frame,
timed to its ack), and thinking ``--think`` seconds on average (0.5x to 1.5x) between turns.

Every run is bounded: shoppers start over ``--ramp`` seconds, no turn starts after ``--duration``
seconds, and a turn without an answer within ``--timeout`` seconds is an error. Traffic goes only
to the loopback server this script started (or ``--url``, which must be a loopback address).

Prints one JSON line: turns/s, p50/p95/p99 per kind of turn and overall, errors by kind, likes
acknowledged versus stored (they must be equal), and the web processes' RSS.

    python benchmarks/load.py --shoppers 100 --think 5 --workers 2
    DATABASE_URL=postgres://... REDIS_URL=redis://... python benchmarks/load.py --data-dir /tmp/aisle-load-pg
"""

import argparse
import asyncio
import ipaddress
import json
import os
import platform
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.chat_latency import free_port  # noqa: E402
from benchmarks.dialogue_scripts import add_setup_arguments, prepare, require_catalogs  # noqa: E402

FOLLOW_UPS = [
    "cheaper",
    "the second one",
    "is it in stock?",
    "more",
    "compare the first two",
    "add it to my cart",
    "what's in my cart?",
    "any in white?",
    "sort by price, cheapest first",
]
LIKE_CHANCE = 0.3
"""How often a shopper likes a product of a list just shown."""


@dataclass
class Tally:
    """What the shoppers measured, shared by all of them (one event loop, no locks needed)."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    likes_acknowledged: int = 0
    conversations: int = 0


def loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        sys.exit(f"refusing to send load to {host}: only loopback addresses are allowed")


def start_server(port: int, workers: int, environment: dict[str, str], log: Path) -> subprocess.Popen:
    """``make serve`` on 127.0.0.1:``port``; returns once the chat page answers."""
    process = subprocess.Popen(
        ["make", "--no-print-directory", "serve"],
        cwd=ROOT,
        env={**environment, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that stopping it stops every worker process
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"make serve exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(process)
    sys.exit(f"make serve did not answer on {port}; see {log}")


def stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def worker_rss_mb(process: subprocess.Popen) -> list[float]:
    """Resident memory of each Daphne process the server started, in MiB."""
    sizes = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
            if int(fields[3]) != process.pid or b"daphne" not in command:  # fields[3]: the session id
                continue
            rss_pages = int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        sizes.append(round(rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1))
    return sorted(sizes, reverse=True)


def suggested_kinds(base: str) -> list[str]:
    """The kinds of product the chat page offers as chips: what a new shopper would try."""
    with urllib.request.urlopen(f"{base}/", timeout=10) as response:
        page = response.read().decode()
    found = re.search(r'<script id="aisle-examples" type="application/json">(.*?)</script>', page, re.S)
    kinds = json.loads(found.group(1)) if found else []
    return kinds or ["sofa", "phone case", "desk", "chair"]


async def turn(socket_, frame: dict, wanted: str, timeout: float) -> tuple[dict, float]:
    started = time.perf_counter()
    await socket_.send(json.dumps(frame))
    async with asyncio.timeout(timeout):
        while (reply := json.loads(await socket_.recv()))["type"] not in (wanted, "error"):
            pass  # a "history" frame, say
    return reply, time.perf_counter() - started


async def shopper(
    number: int, url: str, origin: str, kinds: list[str], args: argparse.Namespace, tally: Tally, end: float
) -> None:
    chance = random.Random(args.seed * 10_007 + number)
    await asyncio.sleep(chance.uniform(0, args.ramp))
    while time.monotonic() < end:
        tally.conversations += 1
        try:
            async with connect(url, origin=origin, max_size=2**22, open_timeout=args.timeout) as socket_:
                texts = [chance.choice(kinds), *chance.sample(FOLLOW_UPS, args.turns - 1)]
                for text in texts:
                    if time.monotonic() >= end:
                        return
                    reply, seconds = await turn(
                        socket_, {"type": "message", "text": text}, "reply", args.timeout
                    )
                    if reply["type"] == "error":
                        tally.errors[reply.get("code", "error")] += 1
                        continue
                    tally.seconds["message"].append(seconds)
                    products = reply.get("products") or []
                    if products and chance.random() < LIKE_CHANCE:
                        sku = chance.choice(products)["sku"]
                        frame = {"type": "feedback", "sku": sku, "action": "like"}
                        ack, seconds = await turn(socket_, frame, "ack", args.timeout)
                        if ack["type"] == "error":
                            tally.errors[ack.get("code", "error")] += 1
                        else:
                            tally.likes_acknowledged += 1
                            tally.seconds["feedback"].append(seconds)
                    await asyncio.sleep(args.think * chance.uniform(0.5, 1.5))
        except TimeoutError:
            tally.errors["timeout"] += 1
        except OSError as problem:  # refused or dropped connections
            tally.errors[type(problem).__name__] += 1
        except Exception as problem:  # websockets' ConnectionClosed and the like
            tally.errors[type(problem).__name__] += 1


async def run_load(base: str, kinds: list[str], args: argparse.Namespace) -> tuple[Tally, float]:
    url, origin = base.replace("http", "ws", 1) + "/ws/chat/", base
    tally = Tally()
    started = time.monotonic()
    end = started + args.duration
    await asyncio.gather(*(shopper(n, url, origin, kinds, args, tally, end) for n in range(args.shoppers)))
    return tally, time.monotonic() - started


def milliseconds(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    return {f"p{q}_ms": round(float(np.percentile(samples, q)) * 1000, 1) for q in (50, 95, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setup_arguments(parser)
    parser.add_argument("--shoppers", type=int, default=20)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between a shopper's turns")
    parser.add_argument("--turns", type=int, default=6, help="messages per conversation (at most 10)")
    parser.add_argument("--duration", type=float, default=90.0, help="no turn starts after this many seconds")
    parser.add_argument("--ramp", type=float, default=10.0, help="shoppers start spread over these seconds")
    parser.add_argument("--timeout", type=float, default=30.0, help="a turn unanswered this long is an error")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="WEB_CONCURRENCY")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a server already running on loopback, instead of starting one")
    args = parser.parse_args()
    args.turns = max(1, min(args.turns, len(FOLLOW_UPS) + 1))
    require_catalogs(args.data)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "DATA_DIR": str(args.data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
        # A load test is many shoppers from one address: the per-address limit would refuse it.
        "AISLE_RATE_LIMIT_PER_IP": os.environ.get("AISLE_RATE_LIMIT_PER_IP", "100000/minute"),
    }
    os.environ.update(environment)
    import django

    django.setup()
    from django.utils import timezone

    from catalog.models import Product
    from recsys_plugins.models import FeedbackEvent

    parser_used = prepare(args.data, args.train_parser)
    server = None
    if args.url:
        loopback_only(args.url)
        base = args.url.rstrip("/")
    else:
        port = free_port()
        server = start_server(port, args.workers, environment, args.data_dir / "load-server.log")
        base = f"http://127.0.0.1:{port}"
    try:
        kinds = suggested_kinds(base)
        warm_up = {"shoppers": 2, "duration": 5, "ramp": 0, "think": 0.1, "turns": 3}
        asyncio.run(run_load(base, kinds[:2], argparse.Namespace(**{**vars(args), **warm_up})))
        since = timezone.now()
        tally, elapsed = asyncio.run(run_load(base, kinds, args))
        rss = worker_rss_mb(server) if server else []
    finally:
        if server is not None:
            stop_server(server)
    stored = FeedbackEvent.objects.filter(action="like", created_at__gte=since).count()
    every = [seconds for samples in tally.seconds.values() for seconds in samples]
    report = {
        "benchmark": "load",
        "database": django.conf.settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "redis": bool(os.environ.get("REDIS_URL")),
        "parser": parser_used,
        "products": Product.objects.active().count(),
        "workers": args.workers if server else None,
        "shoppers": args.shoppers,
        "think_s": args.think,
        "duration_s": round(elapsed, 1),
        "conversations": tally.conversations,
        "turns": len(every),
        "turns_per_s": round(len(every) / elapsed, 1),
        **milliseconds(every),
        "by_kind": {
            kind: {"turns": len(samples), **milliseconds(samples)} for kind, samples in tally.seconds.items()
        },
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors),
        "likes_acknowledged": tally.likes_acknowledged,
        "likes_stored": stored,
        "rss_mb": rss,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
