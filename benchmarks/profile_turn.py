"""Where a chat turn's time goes: the hand-written dialogues replayed through ``chat_turn`` under
pyinstrument, at the IKEA + Best Buy catalogs.

Prepares the ``DATA_DIR`` as ``dialogue_scripts.py`` does, warms up (models loaded, caches
filled), then profiles ``--rounds`` replays of every dialogue in new sessions. Prints one JSON
line: turns, mean milliseconds per turn, and the functions with the most time of their own
(``self``) and in total (``total``), as shares of all the time profiled.

    python benchmarks/profile_turn.py --data-dir /tmp/aisle-gen --top 15
"""

import argparse
import json
import os
import platform
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

from pyinstrument import Profiler

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.chat_latency import WARM_UP  # noqa: E402
from benchmarks.dialogue_scripts import (  # noqa: E402
    add_setup_arguments,
    load_dialogues,
    prepare,
    set_up_django,
)


def shares(session, top: int) -> tuple[list[dict], list[dict]]:
    """The ``top`` functions by own time and by total time (a function counted once per stack)."""
    own: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)

    def walk(frame, above: frozenset[str]) -> None:
        if frame.function.startswith("["):  # pyinstrument's "[self]" and "[await]" stand-ins
            return
        name = f"{frame.function} ({Path(frame.file_path or '?').name}:{frame.line_no})"
        own[name] += frame.total_self_time
        if name not in above:
            total[name] += frame.time
        for child in frame.children:
            walk(child, above | {name})

    root = session.root_frame()
    walk(root, frozenset())
    whole = root.time or 1.0

    def best(times: dict[str, float]) -> list[dict]:
        ranked = sorted(times.items(), key=lambda item: -item[1])[:top]
        return [{"function": name, "share": round(seconds / whole, 3)} for name, seconds in ranked]

    return best(own), best(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setup_arguments(parser)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    set_up_django(args)
    from assistant import services

    parser_used = prepare(args.data, args.train_parser)
    warm = uuid.uuid4().hex
    for text in WARM_UP:
        services.chat_turn(warm, text)
    dialogues = [[said for said, _ in dialogue["turns"]] for dialogue in load_dialogues()]
    profiler = Profiler(interval=0.0005)
    turns = 0
    started = time.perf_counter()
    with profiler:
        for _ in range(args.rounds):
            for dialogue in dialogues:
                session = uuid.uuid4().hex
                for text in dialogue:
                    services.chat_turn(session, text)
                    turns += 1
    elapsed = time.perf_counter() - started
    own, total = shares(profiler.last_session, args.top)
    print(
        json.dumps(
            {
                "benchmark": "profile_turn",
                "parser": parser_used,
                "turns": turns,
                "mean_ms": round(elapsed / turns * 1000, 1),
                "self": own,
                "total": total,
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )


if __name__ == "__main__":
    main()
