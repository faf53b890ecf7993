"""Cosine ranker: similarity to the query, blended with the shopper's taste profile."""

import numpy as np

from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.interactions import POSITIVE_ACTIONS

from .base import Candidates, RankerInfo, RankingContext, Scores

NAME = "cosine"
PROFILE_SHARE = 0.3
"""How much of the score the taste profile decides once there is one."""


def taste_profile(context: RankingContext) -> np.ndarray | None:
    """The unit mean of the vectors of products the shopper liked, carted or bought, in this
    and earlier sessions, minus those they later disliked; ``None`` without any."""
    disliked = {event.item for event in context.events if event.action == "dislike"}
    liked = {
        event.item
        for event in context.events
        if event.action in POSITIVE_ACTIONS
        and event.item not in disliked
        and event.item in context.item_vectors
    }
    if not liked:
        return None
    mean = np.mean([context.item_vectors[item] for item in sorted(liked)], axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 0 else None


def cosine_scores(
    candidates: Candidates, query_vector: np.ndarray | None, profile: np.ndarray | None
) -> Scores:
    """Query similarity and profile similarity (vectors are unit length, so inner products are
    cosines), mixed ``1 - PROFILE_SHARE`` to ``PROFILE_SHARE`` when both exist."""
    vectors = np.asarray(candidates.vectors, dtype=np.float32)
    zeros = np.zeros(len(candidates), dtype=np.float32)
    query = vectors @ np.asarray(query_vector, dtype=np.float32) if query_vector is not None else zeros
    taste = vectors @ profile.astype(np.float32) if profile is not None else zeros
    if query_vector is None:
        return Scores(taste, {"query": query, "profile": taste})
    share = PROFILE_SHARE if profile is not None else 0.0
    return Scores((1 - share) * query + share * taste, {"query": query, "profile": share * taste})


class CosineRanker:
    """The built-in ``cosine`` plugin."""

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo(NAME, "Similarity to the query, blended with the shopper's taste profile.")]

    @hookimpl
    def aisle_score_candidates(
        self, ranker: str, candidates: Candidates, context: RankingContext
    ) -> Scores | None:
        if ranker != NAME:
            return None
        return cosine_scores(candidates, context.query_vector, taste_profile(context))

    @hookimpl
    def aisle_explain_score(self, ranker: str, context: RankingContext) -> str | None:
        if ranker != NAME:
            return None
        if taste_profile(context) is None:
            return "close to what you asked for"
        return "close to what you asked for and picked before"
