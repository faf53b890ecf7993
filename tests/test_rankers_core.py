"""The built-in rankers' behaviour, without Django: cf fold-in, bought items, cold start and
explanations; the cosine taste profile; the hybrid's history-shifted weights and fusion."""

import numpy as np
import pytest

from recsys_plugins.interactions import Interaction, InteractionMatrix, history_weights
from recsys_plugins.rankers.base import Candidates, RankingContext
from recsys_plugins.rankers.cf import CFConfig, CFModel, CFRanker
from recsys_plugins.rankers.cosine import cosine_scores, taste_profile
from recsys_plugins.rankers.hybrid import fuse, normalise, shifted_weights

GROUP_A = [1, 2, 3, 4, 5]
GROUP_B = [11, 12, 13, 14, 15]


def two_taste_groups() -> InteractionMatrix:
    """Twenty shoppers: even ones like group A, odd ones group B, each missing one product."""
    events = []
    for shopper in range(20):
        group = GROUP_A if shopper % 2 == 0 else GROUP_B
        events += [Interaction(f"u{shopper}", item, "like") for item in group if item != group[shopper % 5]]
    return InteractionMatrix.from_interactions(events)


@pytest.fixture(scope="module", params=["als", "itemknn"])
def model(request) -> CFModel:
    return CFModel.fit(two_taste_groups(), CFConfig(algorithm=request.param, factors=8, regularization=0.1))


def test_interactions_sum_weights_and_leave_dislikes_out():
    matrix = InteractionMatrix.from_interactions(
        [Interaction("a", 7, "view"), Interaction("a", 7, "like"), Interaction("a", 8, "dislike")]
    )
    assert matrix.items == (7,)
    assert matrix.matrix.toarray().tolist() == [[5.0]]
    events = [Interaction("a", 7, "like"), Interaction("a", 9, "click"), Interaction("a", 9, "dislike")]
    assert history_weights(events) == {7: 4.0}


def test_cf_folds_a_new_shopper_in_from_their_history(model):
    scores = model.score(GROUP_A + GROUP_B, {1: 4.0, 2: 4.0}, user="never-seen")
    assert scores[:5].mean() > scores[5:].mean()
    other = model.score(GROUP_A + GROUP_B, {11: 4.0, 12: 4.0}, user="never-seen")
    assert other[5:].mean() > other[:5].mean()


def test_cf_without_history_falls_back_to_popularity(model):
    scores = model.score([1, 11, 999], {})
    counts = model.popularity.counts
    assert scores.tolist() == [counts[model.item_positions[1]], counts[model.item_positions[11]], 0.0]


def test_cf_explains_with_the_most_similar_product_in_the_history(model):
    assert model.because_of(3, {1: 4.0, 12: 4.0}) == 1
    assert model.because_of(13, {1: 4.0, 12: 4.0}) == 12
    assert model.because_of(999, {1: 4.0}) is None
    assert model.because_of(3, {}) is None


def test_a_saved_cf_model_loads_to_the_same_scores(model, tmp_path):
    model.save(tmp_path / "cf")
    loaded = CFModel.load(tmp_path / "cf")
    history = {1: 4.0, 11: 1.0}
    assert np.allclose(loaded.score(GROUP_A + GROUP_B, history), model.score(GROUP_A + GROUP_B, history))


def test_the_cf_plugin_puts_bought_products_last(tmp_path):
    plugin = CFRanker(CFConfig(factors=8, regularization=0.1))
    plugin.aisle_fit(two_taste_groups(), tmp_path, use_gpu=False)
    candidates = Candidates(np.asarray(GROUP_A), np.eye(5, dtype=np.float32))
    events = (Interaction("s", 1, "like"), Interaction("s", 2, "add_to_cart"))
    context = RankingContext(session_events=events, artifacts=tmp_path)
    scores = plugin.aisle_score_candidates("cf", candidates, context)
    assert scores[1] == scores.min()
    assert scores[1] < np.delete(scores, 1).min()
    assert plugin.aisle_score_candidates("cosine", candidates, context) is None


def test_the_cf_plugin_scores_zero_before_any_training():
    candidates = Candidates(np.asarray([1, 2]), np.eye(2, dtype=np.float32))
    assert CFRanker().aisle_score_candidates("cf", candidates, RankingContext()).tolist() == [0.0, 0.0]


def test_the_taste_profile_follows_likes_and_forgets_dislikes():
    vectors = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0])}
    liked = RankingContext(session_events=(Interaction("s", 1, "like"),), item_vectors=vectors)
    assert np.allclose(taste_profile(liked), [1.0, 0.0])
    changed_mind = RankingContext(
        history=(Interaction("s", 1, "like"),),
        session_events=(Interaction("s", 1, "dislike"), Interaction("s", 2, "add_to_cart")),
        item_vectors=vectors,
    )
    assert np.allclose(taste_profile(changed_mind), [0.0, 1.0])
    assert (
        taste_profile(RankingContext(session_events=(Interaction("s", 1, "view"),), item_vectors=vectors))
        is None
    )


def test_cosine_blends_the_query_with_the_profile():
    candidates = Candidates(np.asarray([1, 2]), np.eye(2, dtype=np.float32))
    query_only = cosine_scores(candidates, np.array([1.0, 0.0]), None)
    assert query_only.total.tolist() == [1.0, 0.0]
    blended = cosine_scores(candidates, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert blended.total[0] > blended.total[1] > 0
    profile_only = cosine_scores(candidates, None, np.array([0.0, 1.0]))
    assert profile_only.total.tolist() == [0.0, 1.0]


def test_hybrid_trusts_cf_more_as_the_history_grows():
    weights = {"retrieval": 1.0, "cf": 1.0, "popularity": 1.0}
    new = shifted_weights(weights, 0)
    known = shifted_weights(weights, 30)
    assert new["cf"] == 0.0
    assert new["popularity"] == 1.0
    assert known["cf"] > 0.9
    assert known["popularity"] < 0.1
    assert new["retrieval"] == known["retrieval"] == 1.0


def test_fusion_normalises_each_part_and_keeps_its_contribution():
    assert normalise(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert normalise(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]
    total, parts = fuse({"a": np.array([0.0, 10.0]), "b": np.array([1.0, 0.0])}, {"a": 2.0, "b": 1.0})
    assert total.tolist() == [1.0, 2.0]
    assert parts["a"].tolist() == [0.0, 2.0]
    assert parts["b"].tolist() == [1.0, 0.0]
