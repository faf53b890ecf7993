"""The ``novelty`` plugin: fresh products first, and nothing the shopper said no to.

Two hook implementations, both using only what every ranking request carries (the candidates'
retrieval scores and vectors, and the shopper's feedback events in the context):

``novelty`` ranker (``aisle_score_candidates``)
    A shopper who keeps asking has usually seen the first answers already. This ranker takes the
    retrieval relevance (or, without it, the cosine to the query) scaled to [0, 1] and subtracts
    :data:`SEEN_PENALTY` for each time the shopper viewed or clicked a product without liking,
    carting or buying it (at most :data:`MAX_COUNTED` times). So a product they looked at and
    passed over drops below equally relevant ones they have not seen yet. Used alone it is a
    "show me something new" order; given a weight in the hybrid ranker it nudges results towards
    fresh products.

Hide disliked products (an ``aisle_rerank`` wrapper)
    Whatever ranker orders the results, a product the shopper disliked (in this or an earlier
    session) is left out. The page stays full: Aisle hands the wrapper every candidate in score
    order and cuts the page afterwards. Deny the plugin (``AISLE_PLUGINS_DENY=novelty``) to turn
    both parts off.
"""

from collections import Counter
from collections.abc import Generator

import numpy as np

from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.interactions import POSITIVE_ACTIONS
from recsys_plugins.rankers.base import Candidates, RankedProduct, RankerInfo, RankingContext, Scores

NAME = "novelty"
SEEN_ACTIONS = frozenset({"view", "click"})
"""Actions that show the shopper has seen a product."""
SEEN_PENALTY = 0.2
"""Subtracted, on the [0, 1] relevance scale, for each time a product was seen and passed over."""
MAX_COUNTED = 3
"""Seeing a product more often than this lowers it no further."""


def seen_counts(context: RankingContext) -> Counter[int]:
    """How often the shopper viewed or clicked each product they never liked, carted or bought."""
    wanted = {event.item for event in context.events if event.action in POSITIVE_ACTIONS}
    return Counter(
        event.item for event in context.events if event.action in SEEN_ACTIONS and event.item not in wanted
    )


def disliked_products(context: RankingContext) -> set[int]:
    """Products the shopper disliked: Aisle keeps them out of taste profiles, this plugin out of sight."""
    return {event.item for event in context.events if event.action == "dislike"}


def relevance(candidates: Candidates, context: RankingContext) -> np.ndarray:
    """How well each candidate matches the request, in [0, 1]: the retrieval score min-max scaled
    (all 1 when they are equal), else the cosine to the query mapped from [-1, 1], else 0."""
    if candidates.relevance is not None:
        scores = np.asarray(candidates.relevance, dtype=np.float32)
        if len(scores) == 0:
            return scores
        spread = float(scores.max() - scores.min())
        return (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
    if context.query_vector is not None:
        cosine = np.asarray(candidates.vectors, dtype=np.float32) @ np.asarray(
            context.query_vector, np.float32
        )
        return ((cosine + 1) / 2).astype(np.float32).reshape(len(candidates))
    return np.zeros(len(candidates), dtype=np.float32)


@hookimpl
def aisle_register_rankers() -> list[RankerInfo]:
    return [RankerInfo(NAME, "Relevance, lowered for products the shopper has already seen and passed over.")]


@hookimpl
def aisle_score_candidates(ranker: str, candidates: Candidates, context: RankingContext) -> Scores | None:
    if ranker != NAME:
        return None
    base = relevance(candidates, context)
    seen = seen_counts(context)
    times = np.asarray([min(seen[int(i)], MAX_COUNTED) for i in candidates.ids], dtype=np.float32)
    penalty = SEEN_PENALTY * times
    return Scores(base - penalty, {"relevance": base, "seen": -penalty})


@hookimpl
def aisle_explain_score(ranker: str, product_id: int, context: RankingContext) -> str | None:
    if ranker != NAME:
        return None
    seen = seen_counts(context)
    if not seen:
        return None  # nothing seen yet: every product is new, which says nothing
    return "you have looked at this before" if product_id in seen else "new to you"


@hookimpl(wrapper=True)
def aisle_rerank(context: RankingContext) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
    ranking = yield
    disliked = disliked_products(context)
    return [item for item in ranking if item.product_id not in disliked]
