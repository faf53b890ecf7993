"""Offline evaluation of rankers on public interaction data (``evaluate_recsys``).

Two protocols, as the published figures use them:

- ``random80``: each interaction goes to training with probability 0.8; every user with held-out
  items ranks all items they did not train on (MovieLens-100k, Recommenders.jl).
- ``loo100``: each user's last interaction is held out and ranked against 100 items sampled from
  those the user never touched (Amazon Video Games, SASRec).
"""

import csv
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from scipy import sparse

from recsys_plugins.interactions import Interaction, InteractionMatrix
from recsys_plugins.rankers.cf import CFConfig, CFModel, Popularity
from recsys_plugins.rankers.hybrid import fuse, shifted_weights

Format = Literal["recbole", "sasrec"]
Protocol_ = Literal["random80", "loo100"]
CUTOFF = 10
NEGATIVES = 100
USER_BATCH = 1024
POSITIVE_RATING = 1.0
"""A rated interaction counts as a positive from this rating up (on MovieLens: all of them)."""

ML100K_CONFIG = CFConfig(algorithm="als", factors=32, regularization=30.0, alpha=4.0, iterations=15)
"""Tuned on MovieLens-100k, random 80/20: NDCG@10 0.447 mean over split seeds 0-2 (docs/benchmarks.md)."""
VIDEO_GAMES_CONFIG = CFConfig(algorithm="als", factors=128, regularization=1000.0, alpha=300.0, iterations=15)
"""Tuned on Amazon Video Games, leave-one-out validation (each user's second-to-last item)."""
HYBRID_WEIGHTS: Mapping[str, float] = {"cf": 1.0, "popularity": 0.2}
"""cf and popularity in the ratio of the served hybrid's defaults (``AISLE_RANKER_WEIGHTS``: 0.5 / 0.1)."""


class RowScorer(Protocol):
    def score_rows(self, user_rows: sparse.csr_matrix, users: np.ndarray | None = None) -> np.ndarray: ...


Fitter = Callable[[InteractionMatrix], RowScorer]


def load_interactions(path: Path, data_format: Format) -> list[Interaction]:
    """``recbole``: an atomic ``.inter`` file with a ``user_id``/``item_id`` header (rows rated
    below ``POSITIVE_RATING`` left out; file order when there is no ``timestamp``);
    ``sasrec``: ``user item`` lines in time order.

    Raises ``ValueError`` naming the line for a malformed file, and for one with no interactions.
    """
    if data_format == "recbole":
        interactions = _read_recbole(path)
    elif data_format == "sasrec":
        interactions = _read_sasrec(path)
    else:
        raise ValueError(f"unknown format {data_format!r}; use recbole or sasrec")
    if not interactions:
        raise ValueError(f"{path} holds no interactions")
    return interactions


def _read_recbole(path: Path) -> list[Interaction]:
    with path.open(newline="", encoding="utf-8") as source:
        rows = csv.reader(source, delimiter="\t")
        header = [name.split(":")[0].strip() for name in next(rows, [])]
        if "user_id" not in header or "item_id" not in header:
            raise ValueError(f"{path}: the first line must be a header naming user_id and item_id columns")
        user, item = header.index("user_id"), header.index("item_id")
        rating = header.index("rating") if "rating" in header else None
        stamp = header.index("timestamp") if "timestamp" in header else None
        interactions = []
        for line_number, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                if rating is not None and float(row[rating]) < POSITIVE_RATING:
                    continue
                moment = float(row[stamp]) if stamp is not None else float(line_number)
                interactions.append(Interaction(row[user], int(row[item]), "view", moment))
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}, line {line_number}: expected {len(header)} tab-separated fields "
                    "with an integer item_id"
                ) from None
        return interactions


def _read_sasrec(path: Path) -> list[Interaction]:
    interactions = []
    with path.open(encoding="utf-8") as source:
        for line_number, line in enumerate(source, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                raise ValueError(f"{path}, line {line_number}: expected 'user item' with an integer item")
            interactions.append(Interaction(fields[0], int(fields[1]), "view", float(line_number)))
    return interactions


@dataclass(frozen=True)
class Split:
    """Training matrix plus what each evaluated user must find: the held-out item columns and,
    for sampled protocols, the candidate columns to rank (``None``: all untrained items)."""

    train: InteractionMatrix
    users: np.ndarray
    held_out: list[np.ndarray]
    candidates: list[np.ndarray] | None


def split(interactions: list[Interaction], protocol: Protocol_, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    if protocol == "random80":
        keep = rng.random(len(interactions)) < 0.8
        train_rows = [event for event, kept in zip(interactions, keep, strict=True) if kept]
        test_rows = [event for event, kept in zip(interactions, keep, strict=True) if not kept]
    elif protocol == "loo100":
        last: dict[str, Interaction] = {}
        for event in sorted(interactions, key=lambda event: event.timestamp):
            last[event.user] = event
        held = {id(event) for event in last.values()}
        train_rows = [event for event in interactions if id(event) not in held]
        test_rows = list(last.values())
    else:
        raise ValueError(f"unknown protocol {protocol!r}; use random80 or loo100")
    train = InteractionMatrix.from_interactions(train_rows)
    user_positions = {user: position for position, user in enumerate(train.users)}
    item_positions = {item: position for position, item in enumerate(train.items)}
    wanted: dict[int, set[int]] = {}
    for event in test_rows:  # a held-out item the model never saw cannot be ranked by anyone
        if event.user in user_positions and event.item in item_positions:
            wanted.setdefault(user_positions[event.user], set()).add(item_positions[event.item])
    if not wanted:
        raise ValueError(
            "nothing to evaluate: no held-out interaction is of a user and an item seen in training"
        )
    users = np.asarray(sorted(wanted), dtype=np.int64)
    held_out = [np.asarray(sorted(wanted[user]), dtype=np.int64) for user in users]
    candidates = None
    if protocol == "loo100":
        candidates = [
            np.concatenate([items, _negatives(rng, train.matrix[user].indices, items, len(train.items))])
            for user, items in zip(users, held_out, strict=True)
        ]
    return Split(train, users, held_out, candidates)


def _negatives(
    rng: np.random.Generator, seen: np.ndarray, positives: np.ndarray, item_count: int
) -> np.ndarray:
    excluded = set(seen.tolist()) | set(positives.tolist())
    if item_count - len(excluded) <= NEGATIVES:  # a tiny catalogue: every item the user never touched
        return np.asarray(sorted(set(range(item_count)) - excluded), dtype=np.int64)
    chosen: set[int] = set()
    while len(chosen) < NEGATIVES:
        for item in rng.integers(0, item_count, NEGATIVES * 2).tolist():
            if item not in excluded and len(chosen) < NEGATIVES:
                chosen.add(item)
    return np.asarray(sorted(chosen), dtype=np.int64)


def ranking_metrics(scores: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    """HR, NDCG and recall at ``CUTOFF`` and the reciprocal rank of the best relevant item,
    for one user's ``scores`` over their candidates (ties count against the relevant item)."""
    rank_of = {}
    for item in relevant:
        rank_of[int(item)] = int((scores > scores[item]).sum() + (scores == scores[item]).sum())
    ranks = np.asarray(sorted(rank_of.values()))
    hits = ranks[ranks <= CUTOFF]
    ideal = sum(1 / math.log2(position + 2) for position in range(min(len(relevant), CUTOFF)))
    return {
        "hr@10": float(len(hits) > 0),
        "ndcg@10": float(sum(1 / math.log2(rank + 1) for rank in hits) / ideal),
        "recall@10": len(hits) / len(relevant),
        "mrr": 1 / float(ranks[0]),
    }


def evaluate_scorer(scorer: RowScorer, data: Split, known_users: bool = True) -> dict[str, float]:
    """Mean metrics over the split's users and the mean time to score one user."""
    totals = {"hr@10": 0.0, "ndcg@10": 0.0, "recall@10": 0.0, "mrr": 0.0}
    elapsed = 0.0
    for start in range(0, len(data.users), USER_BATCH):
        users = data.users[start : start + USER_BATCH]
        rows = data.train.matrix[users]
        began = time.perf_counter()
        scores = scorer.score_rows(rows, users if known_users else None)
        elapsed += time.perf_counter() - began
        for offset in range(len(users)):
            index = start + offset
            if data.candidates is None:
                row = scores[offset].copy()
                row[rows[offset].indices] = -np.inf  # all-item ranking leaves out what the user trained on
                relevant = data.held_out[index]
            else:
                row = scores[offset][data.candidates[index]]
                relevant = np.arange(len(data.held_out[index]))
            for name, value in ranking_metrics(row, relevant).items():
                totals[name] += value
    count = max(len(data.users), 1)
    return {
        **{name: round(value / count, 4) for name, value in totals.items()},
        "score_ms": round(1000 * elapsed / count, 4),
    }


class HybridScorer:
    """cf and popularity fused with history-shifted weights, as the ``hybrid`` ranker does
    without a text query."""

    def __init__(self, cf: CFModel, popularity: Popularity, weights: Mapping[str, float]) -> None:
        self.cf, self.popularity, self.weights = cf, popularity, weights

    def score_rows(self, user_rows: sparse.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        cf_scores = self.cf.score_rows(user_rows, users)
        popular = self.popularity.score_rows(user_rows)
        history = np.diff(user_rows.indptr)
        fused = [
            fuse(
                {"cf": cf_scores[row], "popularity": popular[row]},
                shifted_weights(self.weights, int(history[row])),
            )[0]
            for row in range(user_rows.shape[0])
        ]
        return np.vstack(fused)


def fitters(config: CFConfig, weights: Mapping[str, float]) -> dict[str, Fitter]:
    """How each evaluable ranker is trained from a split's training matrix."""
    return {
        "popularity": Popularity.fit,
        "cf": lambda train: CFModel.fit(train, config),
        "hybrid": lambda train: HybridScorer(CFModel.fit(train, config), Popularity.fit(train), weights),
    }


def evaluate(
    data: Split,
    rankers: Iterable[str],
    config: CFConfig | None = None,
    weights: Mapping[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit and score each ranker in ``rankers`` (plus popularity) on ``data``."""
    available = fitters(config or ML100K_CONFIG, weights or HYBRID_WEIGHTS)
    results = {}
    for name in dict.fromkeys([*rankers, "popularity"]):
        if name not in available:
            raise ValueError(
                f"ranker {name!r} cannot be evaluated offline; choose from {', '.join(available)}"
            )
        began = time.perf_counter()
        scorer = available[name](data.train)
        fit_s = time.perf_counter() - began
        results[name] = {**evaluate_scorer(scorer, data), "fit_s": round(fit_s, 3)}
    return results
