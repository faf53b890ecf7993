"""Chat turn latency over a real WebSocket at the IKEA + Best Buy catalogs (6,253 products).

Prepares a ``DATA_DIR`` as ``dialogue_scripts.py`` does (both catalogs
imported, the index built, the parser if asked for), starts Daphne on it with
``DEBUG`` off, and replays the utterances of ``data/dialogues.json``: one
WebSocket connection (a new shopper session) per dialogue, each message timed
from sending it to receiving its reply, so a turn is parse + dialogue +
retrieve + rank + reply + storing both messages. Each round starts a fresh
Daphne (no query vector cached from an earlier round) and warms it up with a
few utterances that are not in the scripts. Prints one JSON line.

    python benchmarks/chat_latency.py --rounds 3
"""

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.dialogue_scripts import add_setup_arguments, load_dialogues, prepare, require_catalogs  # noqa: E402

WARM_UP = ["hello", "black office chair under 300", "cheaper", "how much is the first one"]
"""Loads the models and fills the kernels' caches; none of these texts is in the scripts."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_daphne(port: int, environment: dict[str, str], log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"Daphne exited with {process.returncode}; see {log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    sys.exit(f"Daphne did not listen on {port}; see {log}")


async def replay(url: str, origin: str, utterances: list[list[str]]) -> list[tuple[str, float]]:
    """``(intent, seconds)`` per message; one connection per dialogue."""
    timings = []
    for dialogue in utterances:
        async with connect(url, origin=origin, max_size=2**22) as socket_:
            for text in dialogue:
                started = time.perf_counter()
                await socket_.send(json.dumps({"type": "message", "text": text}))
                while (frame := json.loads(await socket_.recv()))["type"] not in ("reply", "error"):
                    pass  # a "history" frame cannot come for a new session, but skip anything else
                elapsed = time.perf_counter() - started
                if frame["type"] == "error":
                    raise RuntimeError(f"{text!r} got {frame}")
                timings.append((frame["intent"], elapsed))
    return timings


def milliseconds(samples: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(float(np.percentile(samples, q)) * 1000, 1) for q in (50, 95, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setup_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3, help="each on a freshly started server")
    args = parser.parse_args()
    require_catalogs(args.data)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "DATA_DIR": str(args.data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
    }
    os.environ.update(environment)
    import django

    django.setup()
    from catalog.models import Product

    parser_used = prepare(args.data, args.train_parser)
    products = Product.objects.active().count()

    utterances = [[said for said, _ in dialogue["turns"]] for dialogue in load_dialogues()]
    timings = []
    for round_number in range(args.rounds):
        port = free_port()
        log = args.data_dir / f"daphne-benchmark-{round_number}.log"
        daphne = start_daphne(port, environment, log)
        try:
            url, origin = f"ws://127.0.0.1:{port}/ws/chat/", f"http://127.0.0.1:{port}"
            asyncio.run(replay(url, origin, [WARM_UP]))
            timings += asyncio.run(replay(url, origin, utterances))
        finally:
            daphne.terminate()
            daphne.wait(timeout=30)

    by_intent: dict[str, list[float]] = defaultdict(list)
    for intent, seconds in timings:
        by_intent[intent].append(seconds)
    report = {
        "benchmark": "chat_latency",
        "parser": parser_used,
        "products": products,
        "turns": len(timings),
        **milliseconds([seconds for _, seconds in timings]),
        "mean_ms": round(statistics.fmean(seconds for _, seconds in timings) * 1000, 1),
        "by_intent": {
            intent: {"turns": len(samples), **milliseconds(samples)}
            for intent, samples in sorted(by_intent.items())
        },
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
