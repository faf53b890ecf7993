"""Hybrid ranking: min-max normalised scores of several rankers, weighted by how much the
shopper's history can be trusted, with each ranker's part kept for the explanation."""

from collections.abc import Callable, Mapping

import numpy as np

from recsys_plugins.hookspecs import hookimpl

from .base import Candidates, RankerInfo, RankingContext, Scores

Scorer = Callable[[str, Candidates, RankingContext], Scores | None]
"""Another ranker's scores, ``None`` when it has none or its plugin failed (``RankerRegistry.score``)."""
Explainer = Callable[[str, int, Mapping[str, float], RankingContext], str]

NAME = "hybrid"
RETRIEVAL = "retrieval"
RETRIEVAL_REASON = "matches your search"
"""The reason given for retrieval's part; the search service replaces it with what matched."""
"""The weight name of the score retrieval found a candidate with (semantic + lexical fusion)."""
EXPLAINED_PARTS = 2
EXPLAINED_SHARE = 0.2
"""A part is named in the explanation when it brings at least this share of the score."""

PERSONAL_RANKERS = frozenset({"cf"})
"""Rankers whose scores only mean something once the shopper has a history."""

HISTORY_HALF_WEIGHT = 3
"""With this many items in the history, a personal ranker counts for half its weight."""


def normalise(scores: np.ndarray) -> np.ndarray:
    """Scores along the last axis mapped to [0, 1]; a row with no spread maps to zeros."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.size == 0:
        return scores  # no candidates: min() of nothing would raise
    low = scores.min(axis=-1, keepdims=True)
    spread = scores.max(axis=-1, keepdims=True) - low
    return np.divide(scores - low, spread, out=np.zeros_like(scores), where=spread > 0)


def shifted_weights(weights: Mapping[str, float], history_size: int) -> dict[str, float]:
    """``weights`` with personal rankers scaled by ``h / (h + HISTORY_HALF_WEIGHT)`` and
    popularity by the complement, so a new shopper sees what is popular and relevant and
    a known one sees what people like them liked."""
    trust = history_size / (history_size + HISTORY_HALF_WEIGHT)
    shifted = {}
    for name, weight in weights.items():
        if name in PERSONAL_RANKERS:
            shifted[name] = weight * trust
        elif name == "popularity":
            shifted[name] = weight * (1 - trust)
        else:
            shifted[name] = weight
    return shifted


def fuse(
    parts: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The weighted sum of normalised ``parts`` and each part's contribution to it."""
    contributions = {name: weights.get(name, 0.0) * normalise(scores) for name, scores in parts.items()}
    total = sum(contributions.values(), start=np.zeros(1, dtype=np.float32))
    return np.asarray(total, dtype=np.float32), contributions


class HybridRanker:
    """The built-in ``hybrid`` plugin: fuses the retrieval score and every other enabled ranker
    named in ``context.weights``, asking their plugins through the registry, which leaves out a
    ranker whose plugin fails (hybrid then fuses the others)."""

    def __init__(self, score: Scorer, explain: Explainer) -> None:
        self.score = score
        self.explain = explain

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [
            RankerInfo(NAME, "Retrieval, cosine, cf and popularity fused, weighted by the shopper's history.")
        ]

    @hookimpl
    def aisle_score_candidates(
        self, ranker: str, candidates: Candidates, context: RankingContext
    ) -> Scores | None:
        if ranker != NAME:
            return None
        weights = shifted_weights(
            {name: weight for name, weight in context.weights.items() if name != NAME},
            len(context.history_weights()),
        )
        parts = {}
        for name, weight in weights.items():
            if weight <= 0:
                continue
            if name == RETRIEVAL:
                if candidates.relevance is not None:
                    parts[name] = np.asarray(candidates.relevance, dtype=np.float32)
                continue
            scored = self.score(name, candidates, context)
            if scored is not None:
                parts[name] = np.asarray(scored.total, dtype=np.float32)
        if not parts:
            return Scores(np.zeros(len(candidates), dtype=np.float32), {})
        total, contributions = fuse(parts, weights)
        return Scores(total, contributions)

    @hookimpl
    def aisle_explain_score(
        self, ranker: str, product_id: int, parts: Mapping[str, float], context: RankingContext
    ) -> str | None:
        if ranker != NAME:
            return None
        reasons = []
        for name, part in sorted(parts.items(), key=lambda item: -item[1])[:EXPLAINED_PARTS]:
            if part < EXPLAINED_SHARE * max(sum(parts.values()), 1e-9):
                break
            reason = (
                RETRIEVAL_REASON
                if name == RETRIEVAL
                else self.explain(name, product_id, {name: part}, context)
            )
            if reason and reason not in reasons:
                reasons.append(reason)
        return "; ".join(reasons) or None
