"""The plugin kit's contracts (``recsys_plugins.testing``) on Aisle's own rankers.

``cf`` and ``popularity`` are trained first (the kit fits every trainable plugin into a temporary
folder that becomes ``context.artifacts``); so is the ``hybrid`` ranker's context, so that it
fuses trained ``cf`` and ``popularity`` scores with ``cosine`` and the retrieval score.
"""

from recsys_plugins.testing import (
    MAX_EXPLANATION,
    RankerContract,
    make_candidates,
    make_context,
    make_interactions,
    registry_with,
)


class TestCosineContract(RankerContract):
    ranker = "cosine"


class TestCFContract(RankerContract):
    ranker = "cf"


class TestPopularityContract(RankerContract):
    ranker = "popularity"
    plugin_name = "cf"


class TestHybridContract(RankerContract):
    ranker = "hybrid"
    train = True


def test_hybrid_explanations_stay_short_when_cosine_and_cf_lead(tmp_path):
    registry = registry_with()
    candidates = make_candidates()
    registry.fit(make_interactions(items=candidates.ids), tmp_path)
    context = make_context(
        candidates,
        user="someone-new",  # folded in from their history, so cf explains with a title
        artifacts=tmp_path,
        weights={"retrieval": 0.2, "cosine": 1.0, "cf": 1.0},
    )
    ranking = registry.rank("hybrid", candidates, context, len(candidates))
    assert max(len(item.explanation) for item in ranking) <= MAX_EXPLANATION
