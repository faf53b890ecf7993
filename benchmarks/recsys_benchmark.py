"""Ranking (issue 5): offline quality of cf, hybrid and popularity, and ranking latency per request.

- MovieLens-100k, random 80/20 split, all-item ranking, with the tuned ML-100k CF configuration;
- Amazon Video Games, leave-one-out against 100 sampled negatives, with its own configuration;
  both for split seeds 0, 1 and 2 (the seed also seeds ALS and the negatives), every ranker
  measured in the same run as popularity;
- latency of ``RankerRegistry.rank`` for 500 candidates (random unit 384-d vectors, ML-100k item
  ids) and a shopper with 20 events, for cosine, cf, popularity and hybrid, after
  ``registry.fit`` trained on all of ML-100k.

Prints one JSON object. No Django. Without ``../shared/data`` it prints ``{"skipped": reason}``
and exits 0, except under CI (``CI`` set), where that is a failure.

    .venv/bin/python benchmarks/recsys_benchmark.py [--data ../shared/data] [--requests 200]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recsys_plugins.evaluation import (  # noqa: E402
    HYBRID_WEIGHTS,
    ML100K_CONFIG,
    VIDEO_GAMES_CONFIG,
    evaluate,
    load_interactions,
    split,
)
from recsys_plugins.interactions import Interaction, InteractionMatrix  # noqa: E402
from recsys_plugins.manager import RankerRegistry  # noqa: E402
from recsys_plugins.rankers.base import Candidates, RankingContext  # noqa: E402
from recsys_plugins.rankers.cf import CFConfig  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
ML100K = "ml-100k/ml-100k.inter"
VIDEO_GAMES = "amazon-videogames/Video.txt"
SEEDS = (0, 1, 2)
METRICS = ("hr@10", "ndcg@10", "recall@10", "mrr", "fit_s", "score_ms")
PUBLISHED = {
    "ml-100k random80 ndcg@10": {"MostPop": 0.2197, "ItemKNN": 0.3986, "ALS MF": 0.4402, "BPR": 0.4083},
    "videogames loo100 SASRec": {"hr@10": 0.741, "ndcg@10": 0.536},
}
CANDIDATES = 500
DIMENSIONS = 384
HISTORY = 20
RANKERS = ("cosine", "cf", "popularity", "hybrid")
SERVED_WEIGHTS = {"retrieval": 1.0, "cosine": 0.5, "cf": 0.5, "popularity": 0.1}
"""The served hybrid's default weights (``AISLE_RANKER_WEIGHTS``)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> str:
    """``x86_64, AMD EPYC, 2 cores, VM``: architecture, CPU model, cores, and whether it is virtual."""
    model, virtual = platform.processor() or "", False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        if key.strip() == "flags":
            virtual = virtual or "hypervisor" in value.split()
    parts = [platform.machine(), model, f"{os.cpu_count()} cores"] + (["VM"] if virtual else [])
    return ", ".join(part for part in parts if part)


def skip_or_fail(reason: str) -> None:
    """No public data: a clean skip on a developer machine, a failure in CI."""
    if os.environ.get("CI"):
        print(json.dumps({"benchmark": "recsys", "error": reason}))
        sys.exit(1)
    print(json.dumps({"benchmark": "recsys", "skipped": reason}))
    sys.exit(0)


def offline(path: Path, data_format: str, protocol: str, config: CFConfig) -> dict:
    """cf, hybrid and popularity on each split seed: per-seed results and their means."""
    interactions = load_interactions(path, data_format)
    by_seed, evaluated_users = {}, {}
    for seed in SEEDS:
        data = split(interactions, protocol, seed)
        evaluated_users[str(seed)] = len(data.users)
        results = evaluate(data, ["cf", "hybrid"], replace(config, seed=seed), HYBRID_WEIGHTS)
        by_seed[str(seed)] = {name: {key: row[key] for key in METRICS} for name, row in results.items()}
        scores = [
            f"{name} NDCG@10 {row['ndcg@10']:.4f} HR@10 {row['hr@10']:.4f}" for name, row in results.items()
        ]
        log(f"{path.name} {protocol} seed {seed}: {', '.join(scores)}")
    mean = {
        name: {key: round(statistics.mean(by_seed[str(s)][name][key] for s in SEEDS), 4) for key in METRICS}
        for name in by_seed["0"]
    }
    return {
        "file": str(path.relative_to(path.parent.parent)),
        "protocol": protocol,
        "interactions": len(interactions),
        "users": len({event.user for event in interactions}),
        "evaluated_users": evaluated_users,
        "config": asdict(config),
        "hybrid_weights": dict(HYBRID_WEIGHTS),
        "results": by_seed["0"],
        "mean_over_seeds": mean,
        "by_seed": by_seed,
    }


def latency(path: Path, requests: int) -> dict:
    """p50/p95 of ``RankerRegistry.rank`` for 500 candidates, per ranker, after ``registry.fit``."""
    interactions = load_interactions(path, "recbole")
    matrix = InteractionMatrix.from_interactions(interactions)
    rng = np.random.default_rng(0)
    items = np.asarray(matrix.items)

    def unit(rows: int) -> np.ndarray:
        vectors = rng.standard_normal((rows, DIMENSIONS)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    pools = [
        Candidates(rng.choice(items, CANDIDATES, replace=False), unit(CANDIDATES), rng.random(CANDIDATES))
        for _ in range(20)
    ]
    # A shopper the model has not seen (folded in), with the first 20 events of an ML-100k user.
    seen = [event.item for event in interactions if event.user == interactions[0].user][:HISTORY]
    history = tuple(
        Interaction("shopper", item, "like" if position % 4 == 0 else "view", float(position))
        for position, item in enumerate(seen)
    )
    with tempfile.TemporaryDirectory() as folder:
        registry = RankerRegistry(entry_points=False, cf_config=ML100K_CONFIG)
        began = time.perf_counter()
        reports = registry.fit(matrix, Path(folder))
        fit_s = time.perf_counter() - began
        context = RankingContext(
            query_vector=unit(1)[0],
            user="shopper",
            history=history,
            item_vectors=dict(zip(seen, unit(len(seen)), strict=True)),
            titles={item: f"item {item}" for item in seen},
            weights=SERVED_WEIGHTS,
            artifacts=Path(folder),
        )
        timings: dict[str, dict[str, float]] = {}
        for ranker in RANKERS:
            for pool in pools[:10]:  # warm-up: loads the model and fills caches
                registry.rank(ranker, pool, context, limit=10)
            samples = []
            for request in range(requests):
                began = time.perf_counter()
                ranked = registry.rank(ranker, pools[request % len(pools)], context, limit=10)
                samples.append(1000 * (time.perf_counter() - began))
                assert len(ranked) == 10
            samples.sort()
            timings[ranker] = {
                "p50_ms": round(statistics.median(samples), 3),
                "p95_ms": round(samples[int(0.95 * len(samples)) - 1], 3),
                "mean_ms": round(statistics.mean(samples), 3),
            }
            log(f"rank {ranker}: p50 {timings[ranker]['p50_ms']} ms, p95 {timings[ranker]['p95_ms']} ms")
    return {
        "candidates": CANDIDATES,
        "dimensions": DIMENSIONS,
        "history_events": len(history),
        "requests": requests,
        "limit": 10,
        "weights": SERVED_WEIGHTS,
        "registry_fit_s": round(fit_s, 3),
        "fit_reports": reports,
        "per_ranker": timings,
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--data", type=Path, default=DEFAULT_DATA)
    arguments.add_argument("--requests", type=int, default=200)
    options = arguments.parse_args()
    missing = [name for name in (ML100K, VIDEO_GAMES) if not (options.data / name).is_file()]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not in {options.data} (see ../shared/data/README.md)")
    started = time.perf_counter()
    movielens = offline(options.data / ML100K, "recbole", "random80", ML100K_CONFIG)
    video_games = offline(options.data / VIDEO_GAMES, "sasrec", "loo100", VIDEO_GAMES_CONFIG)
    # Users whose held-out item never occurs in training cannot be ranked and are left out;
    # counted as misses instead, for a like-for-like comparison with SASRec's figure:
    share = video_games["evaluated_users"]["0"] / video_games["users"]
    video_games["hr@10_with_unrankable_users_as_misses"] = {
        name: round(row["hr@10"] * share, 4) for name, row in video_games["results"].items()
    }
    speed = latency(options.data / ML100K, options.requests)
    print(
        json.dumps(
            {
                "benchmark": "recsys",
                "date": time.strftime("%Y-%m-%d"),
                "machine": machine(),
                "ml100k": movielens,
                "videogames": video_games,
                "fit_s": {
                    "ml100k_cf": movielens["results"]["cf"]["fit_s"],
                    "videogames_cf": video_games["results"]["cf"]["fit_s"],
                    "registry_fit_ml100k_all": speed["registry_fit_s"],
                },
                "ranking_latency": speed,
                "published": PUBLISHED,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
