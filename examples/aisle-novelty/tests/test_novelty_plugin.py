"""The example plugin: Aisle's contract tests on both of its parts, then what it promises."""

import os
from importlib import metadata

import aisle_novelty.plugin
import numpy as np
import pytest
from aisle_novelty.plugin import MAX_COUNTED, NAME, SEEN_PENALTY

from recsys_plugins.interactions import Interaction
from recsys_plugins.manager import RankerRegistry
from recsys_plugins.rankers.base import Candidates, RankingContext
from recsys_plugins.testing import (
    RankerContract,
    RerankContract,
    make_candidates,
    make_context,
    registry_with,
)

SHOPPER = "shopper-1"


class TestNoveltyRanker(RankerContract):
    plugin = aisle_novelty.plugin
    ranker = NAME


class TestHideDisliked(RerankContract):
    plugin = aisle_novelty.plugin
    plugin_name = NAME


@pytest.fixture
def registry() -> RankerRegistry:
    return registry_with(aisle_novelty.plugin, NAME)


def events(*plan: tuple[int, str]) -> tuple[Interaction, ...]:
    return tuple(Interaction(SHOPPER, item, action, float(step)) for step, (item, action) in enumerate(plan))


def equally_relevant(n: int = 5) -> Candidates:
    candidates = make_candidates(n)
    return Candidates(candidates.ids, candidates.vectors, np.full(n, 0.7, dtype=np.float32))


def ranked_ids(
    registry: RankerRegistry, ranker: str, candidates: Candidates, context: RankingContext
) -> list[int]:
    return [item.product_id for item in registry.rank(ranker, candidates, context, len(candidates))]


# --------------------------------------------------------------------------- installed


def test_is_installed_and_loaded_from_its_entry_point():
    found = [ep for ep in metadata.entry_points(group="aisle.rankers") if ep.name == NAME]
    if not found:
        message = "aisle-novelty is not installed: pip install -e examples/aisle-novelty --no-deps"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    installed = RankerRegistry().rankers()[NAME]
    assert (installed.plugin, installed.package, installed.version) == (NAME, "aisle-novelty", "0.1.0")
    assert installed.hooks == (
        "aisle_explain_score",
        "aisle_register_rankers",
        "aisle_rerank",
        "aisle_score_candidates",
    )
    assert not installed.trainable


# --------------------------------------------------------------------------- the novelty ranker


def test_products_seen_and_passed_over_drop_below_fresh_ones(registry):
    candidates = equally_relevant()
    first, second = (int(i) for i in candidates.ids[:2])
    context = RankingContext(session_events=events((first, "view"), (first, "click"), (second, "view")))
    ranking = registry.rank(NAME, candidates, context, len(candidates))
    assert [item.product_id for item in ranking][-2:] == [second, first]
    score = {item.product_id: item.score for item in ranking}
    fresh = int(candidates.ids[2])
    assert score[fresh] == pytest.approx(1.0)
    assert score[second] == pytest.approx(1.0 - SEEN_PENALTY)
    assert score[first] == pytest.approx(1.0 - 2 * SEEN_PENALTY)
    explanation = {item.product_id: item.explanation for item in ranking}
    assert explanation[first] == "you have looked at this before"
    assert explanation[fresh] == "new to you"


def test_products_the_shopper_wants_are_not_lowered(registry):
    candidates = equally_relevant()
    liked, carted = (int(i) for i in candidates.ids[:2])
    context = RankingContext(
        history=events((liked, "view"), (liked, "like")),
        session_events=events((carted, "click"), (carted, "add_to_cart")),
    )
    scores = {item.product_id: item.score for item in registry.rank(NAME, candidates, context, 5)}
    assert scores == pytest.approx(dict.fromkeys(scores, 1.0))


def test_the_penalty_stops_growing(registry):
    candidates = equally_relevant()
    often = int(candidates.ids[0])
    context = RankingContext(history=events(*[(often, "view")] * (MAX_COUNTED + 5)))
    scores = {item.product_id: item.score for item in registry.rank(NAME, candidates, context, 5)}
    assert scores[often] == pytest.approx(1.0 - MAX_COUNTED * SEEN_PENALTY)


def test_relevance_decides_among_unseen_products(registry):
    candidates = make_candidates(8)  # relevance decreasing in retrieval order
    assert ranked_ids(registry, NAME, candidates, RankingContext()) == [int(i) for i in candidates.ids]


def test_without_retrieval_scores_the_query_decides(registry):
    candidates = make_candidates(8, relevance=False)
    target = int(candidates.ids[5])
    context = RankingContext(query_vector=candidates.vectors[5])
    assert ranked_ids(registry, NAME, candidates, context)[0] == target


def test_nothing_to_explain_before_the_shopper_has_seen_anything(registry):
    ranking = registry.rank(NAME, make_candidates(4), RankingContext(), 4)
    assert [item.explanation for item in ranking] == [""] * 4


def test_weighted_into_the_hybrid_ranker_it_lowers_seen_products(registry):
    plain = make_candidates(6)
    candidates = Candidates(plain.ids, plain.vectors, np.asarray([1.0, 0.95, 0.9, 0.5, 0.3, 0.1], np.float32))
    best = int(candidates.ids[0])
    seen = make_context(candidates, history=events((best, "view"), (best, "view")), session_events=())
    retrieval_only = make_context(
        candidates, history=seen.history, session_events=(), weights={"retrieval": 1.0}
    )
    assert ranked_ids(registry, "hybrid", candidates, retrieval_only)[0] == best
    with_novelty = make_context(
        candidates, history=seen.history, session_events=(), weights={"retrieval": 1.0, NAME: 1.0}
    )
    assert ranked_ids(registry, "hybrid", candidates, with_novelty)[0] != best


# --------------------------------------------------------------------------- hiding disliked products


@pytest.mark.parametrize("ranker", ["cosine", "hybrid", NAME])
def test_disliked_products_are_hidden_whatever_the_ranker(registry, ranker):
    candidates = make_candidates(6)
    disliked = int(candidates.ids[2])
    context = make_context(
        candidates,
        history=events((disliked, "like")),
        session_events=events((disliked, "dislike")),
        weights={"retrieval": 1.0, "cosine": 1.0},
    )
    without_plugin = registry_with()
    assert disliked in ranked_ids(without_plugin, ranker if ranker != NAME else "cosine", candidates, context)
    shown = ranked_ids(registry, ranker, candidates, context)
    assert disliked not in shown
    assert len(shown) == len(candidates) - 1


def test_a_dislike_from_an_earlier_session_counts_too(registry):
    candidates = make_candidates(4)
    disliked = int(candidates.ids[0])
    context = RankingContext(history=events((disliked, "dislike")))
    shown = ranked_ids(registry, NAME, candidates, context)
    assert shown == [int(i) for i in candidates.ids[1:]]


def test_the_kits_sample_shopper_sees_the_product_they_disliked_hidden(
    registry, sample_candidates, sample_context
):
    disliked = {event.item for event in sample_context.events if event.action == "dislike"}
    assert disliked, "the kit's sample shopper disliked a product"
    shown = ranked_ids(registry, NAME, sample_candidates, sample_context)
    assert set(shown) == {int(i) for i in sample_candidates.ids} - disliked
