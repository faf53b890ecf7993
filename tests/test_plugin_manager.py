"""The plugin manager (``recsys_plugins.manager``) with real plugins and no mocks: the built-ins,
small plugins written here, and the example plugin installed from ``examples/aisle-novelty``.

Every hook of ``recsys_plugins.hookspecs`` is called here through the registry:
``aisle_register_rankers``, ``aisle_score_candidates``, ``aisle_explain_score``, ``aisle_rerank``,
``aisle_fit`` and ``aisle_feedback_event``.
"""

import logging
import os
import re
from collections.abc import Callable, Generator
from dataclasses import replace
from importlib import metadata

import numpy as np
import pytest

from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.interactions import Interaction
from recsys_plugins.manager import BUILTIN_PACKAGE, ENTRY_POINT_GROUP, RankerRegistry, UnknownRanker
from recsys_plugins.rankers.base import Candidates, RankedProduct, RankerInfo, RankingContext, Scores
from recsys_plugins.testing import make_candidates, make_context, make_interactions, registry_with

BUILTIN_RANKERS = ["cosine", "cf", "popularity", "hybrid"]
EXAMPLE = "novelty"
TRACE_LINE = re.compile(
    r"^(aisle_\w+)( ranker=(\w+))?: \d+\.\d\d ms, "
    r"(answered by [\w. +-]+|\d+ answers|raised .+), over \[([\w., -]*)\]$"
)


# --------------------------------------------------------------------------- small real plugins


class FixedRanker:
    """A ranker whose score for a product is ``score_of(product_id)``; explains with the score."""

    def __init__(self, name: str, score_of: Callable[[int], float], explain: bool = True) -> None:
        self.name = name
        self.score_of = score_of
        self.explain = explain

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo(self.name, "Fixed scores, for tests.")]

    @hookimpl
    def aisle_score_candidates(self, ranker: str, candidates: Candidates) -> np.ndarray | None:
        if ranker != self.name:
            return None
        return np.asarray([self.score_of(int(i)) for i in candidates.ids], dtype=np.float32)

    @hookimpl
    def aisle_explain_score(self, ranker: str, product_id: int, parts: dict[str, float]) -> str | None:
        if ranker != self.name or not self.explain:
            return None
        return f"{product_id} scored {parts[self.name]:g}"


class Reverse:
    """An ``aisle_rerank`` wrapper that turns the list around."""

    @hookimpl(wrapper=True)
    def aisle_rerank(self) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
        ranking = yield
        return ranking[::-1]


class KeepFirst:
    """An ``aisle_rerank`` wrapper that keeps the first ``n`` products of what it is given."""

    def __init__(self, n: int) -> None:
        self.n = n

    @hookimpl(wrapper=True)
    def aisle_rerank(self) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
        ranking = yield
        return ranking[: self.n]


class RefitOnCart:
    """Asks for a training run whenever a product goes in a cart; trains nothing."""

    @hookimpl
    def aisle_feedback_event(self, event: Interaction) -> bool:
        return event.action == "add_to_cart"

    @hookimpl
    def aisle_fit(self) -> None:
        return None


def by_id(product_id: int) -> float:
    return float(product_id)


def ids_of(ranking: list[RankedProduct]) -> list[int]:
    return [item.product_id for item in ranking]


@pytest.fixture
def example_installed() -> None:
    """Skips (fails under CI) unless the example plugin is installed in this environment."""
    if not any(ep.name == EXAMPLE for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)):
        message = "the example plugin is not installed: pip install -e examples/aisle-novelty --no-deps"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


# --------------------------------------------------------------------------- loading plugins


def test_aisle_register_rankers_lists_the_builtins_with_their_plugins_and_hooks():
    rankers = RankerRegistry(entry_points=False, version="9.9.9").rankers()
    assert list(rankers) == BUILTIN_RANKERS
    assert {name: ranker.plugin for name, ranker in rankers.items()} == {
        "cosine": "cosine",
        "cf": "cf",
        "popularity": "cf",
        "hybrid": "hybrid",
    }
    assert {(ranker.package, ranker.version) for ranker in rankers.values()} == {(BUILTIN_PACKAGE, "9.9.9")}
    scoring = ("aisle_explain_score", "aisle_register_rankers", "aisle_score_candidates")
    assert rankers["cosine"].hooks == rankers["hybrid"].hooks == scoring
    assert (
        rankers["cf"].hooks
        == rankers["popularity"].hooks
        == (
            "aisle_explain_score",
            "aisle_feedback_event",
            "aisle_fit",
            "aisle_register_rankers",
            "aisle_score_candidates",
        )
    )
    assert [name for name, ranker in rankers.items() if ranker.trainable] == ["cf", "popularity"]
    assert all(ranker.description for ranker in rankers.values())


def test_aisle_rerank_has_the_core_implementation_innermost():
    registry = RankerRegistry(entry_points=False)
    [core] = registry.plugins.hook.aisle_rerank.get_hookimpls()
    assert (core.plugin_name, core.trylast, core.wrapper) == ("aisle.core", True, False)
    ranking = [RankedProduct(1, 2.0), RankedProduct(2, 1.0)]
    called = registry.plugins.hook.aisle_rerank(
        ranking=ranking, context=RankingContext(), ranker="cosine", candidates=make_candidates(2, ids=[1, 2])
    )
    assert called is ranking


@pytest.mark.parametrize(
    ("allow", "deny", "expected"),
    [
        (None, (), BUILTIN_RANKERS),
        (["cosine"], (), ["cosine"]),
        (["cf"], (), ["cf", "popularity"]),
        ([], (), []),
        (None, ["cf"], ["cosine", "hybrid"]),
        (None, ["cosine", "cf", "hybrid"], []),
        (["cosine", "cf"], ["cf"], ["cosine"]),
    ],
)
def test_allow_and_deny_name_the_plugins_to_load(allow, deny, expected):
    assert list(RankerRegistry(allow=allow, deny=deny, entry_points=False).rankers()) == expected


def test_allow_and_deny_apply_to_entry_point_plugins(example_installed):
    assert EXAMPLE in RankerRegistry().rankers()
    assert EXAMPLE not in RankerRegistry(deny=[EXAMPLE]).rankers()
    assert list(RankerRegistry(allow=[EXAMPLE]).rankers()) == [EXAMPLE]
    assert list(RankerRegistry(allow=["cosine"]).rankers()) == ["cosine"]


def test_entry_points_load_the_installed_example_plugin(example_installed):
    registry = RankerRegistry(version="1.2.3")
    rankers = registry.rankers()
    assert list(rankers) == [*BUILTIN_RANKERS, EXAMPLE]  # built-ins first
    installed = rankers[EXAMPLE]
    assert (installed.plugin, installed.package, installed.version) == (EXAMPLE, "aisle-novelty", "0.1.0")
    assert "aisle_rerank" in installed.hooks
    assert rankers["cosine"].version == "1.2.3"
    # its aisle_rerank wrapper is live for every ranker: a disliked product is left out
    candidates = make_candidates(5)
    disliked = int(candidates.ids[0])
    context = RankingContext(session_events=(Interaction("s", disliked, "dislike"),))
    assert disliked not in ids_of(registry.rank("cosine", candidates, context, 5))
    assert disliked in ids_of(RankerRegistry(deny=[EXAMPLE]).rank("cosine", candidates, context, 5))


def test_a_ranker_name_clash_raises_and_changes_nothing():
    registry = RankerRegistry(entry_points=False)
    impostor = FixedRanker("cosine", by_id)
    with pytest.raises(
        ValueError, match=r"plugin 'impostor' cannot be loaded: rankers registered twice: cosine"
    ):
        registry.register(impostor, "impostor")
    assert list(registry.rankers()) == BUILTIN_RANKERS
    assert registry.rankers()["cosine"].plugin == "cosine"
    assert registry.plugins.get_plugin("impostor") is None
    registry.register(FixedRanker("mine", by_id), "mine", ("aisle-mine", "0.1"))
    with pytest.raises(ValueError, match="registered twice: mine"):
        registry.register(FixedRanker("mine", by_id), "mine-too")
    assert registry.rankers()["mine"].package == "aisle-mine"


def test_a_plugin_name_taken_twice_raises():
    registry = RankerRegistry(entry_points=False)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(FixedRanker("other", by_id), "cosine")


# --------------------------------------------------------------------------- ranking


def test_an_unknown_ranker_raises_unknown_ranker():
    registry = RankerRegistry(entry_points=False)
    for candidates in (make_candidates(3), make_candidates(0)):
        with pytest.raises(UnknownRanker, match=r"'nope'; installed: cosine, cf, popularity, hybrid\."):
            registry.rank("nope", candidates, RankingContext(), 10)
    assert issubclass(UnknownRanker, LookupError)


def test_aisle_score_candidates_orders_best_first_and_ties_keep_candidate_order():
    scores = {1001: 0.5, 1002: 2.0, 1003: 0.5, 1004: -1.0, 1005: 2.0}
    registry = registry_with(FixedRanker("fixed", scores.__getitem__), "fixed", builtins=())
    ranking = registry.rank("fixed", make_candidates(5), RankingContext(), 10)
    assert ids_of(ranking) == [1002, 1005, 1001, 1003, 1004]
    assert [item.score for item in ranking] == [2.0, 2.0, 0.5, 0.5, -1.0]
    assert ranking[0].parts == {"fixed": 2.0}
    assert ids_of(registry.rank("fixed", make_candidates(5), RankingContext(), 2)) == [1002, 1005]
    assert registry.rank("fixed", make_candidates(5), RankingContext(), 0) == []
    assert registry.rank("fixed", make_candidates(0), RankingContext(), 5) == []


def test_aisle_score_candidates_may_keep_each_components_part():
    class Parted:
        @hookimpl
        def aisle_register_rankers(self):
            return [RankerInfo("parted", "Two parts.")]

        @hookimpl
        def aisle_score_candidates(self, ranker, candidates):
            if ranker != "parted":
                return None
            first = np.arange(len(candidates), dtype=np.float32)
            return Scores(first + 10, {"first": first, "second": np.full(len(candidates), 10.0)})

    registry = registry_with(Parted(), "parted", builtins=())
    best = registry.rank("parted", make_candidates(3), RankingContext(), 1)[0]
    assert (best.product_id, best.score, best.parts) == (1003, 12.0, {"first": 2.0, "second": 10.0})


@pytest.mark.parametrize(
    ("score_of", "message"),
    [
        (lambda product_id: float("nan"), "one finite score per candidate"),
        (lambda product_id: float("inf"), "one finite score per candidate"),
    ],
)
def test_aisle_score_candidates_must_give_finite_scores(score_of, message):
    registry = registry_with(FixedRanker("bad", score_of), "bad", builtins=())
    with pytest.raises(RuntimeError, match=message):
        registry.rank("bad", make_candidates(3), RankingContext(), 3)


def test_aisle_score_candidates_must_give_one_score_per_candidate_and_answer_for_its_ranker():
    class Short(FixedRanker):
        @hookimpl
        def aisle_score_candidates(self, ranker, candidates):
            return np.zeros(len(candidates) - 1) if ranker == self.name else None

    class Silent(FixedRanker):
        @hookimpl
        def aisle_score_candidates(self, ranker):
            return None

    registry = registry_with(Short("short", by_id), "short", builtins=())
    registry.register(Silent("silent", by_id), "silent")
    with pytest.raises(RuntimeError, match="one finite score per candidate"):
        registry.rank("short", make_candidates(3), RankingContext(), 3)
    with pytest.raises(RuntimeError, match="returned no scores"):
        registry.rank("silent", make_candidates(3), RankingContext(), 3)


def test_aisle_explain_score_explains_each_ranked_product_or_leaves_it_blank():
    registry = registry_with(FixedRanker("talks", by_id), "talks", builtins=())
    registry.register(FixedRanker("quiet", by_id, explain=False), "quiet")
    ranking = registry.rank("talks", make_candidates(3), RankingContext(), 3)
    assert [item.explanation for item in ranking] == [
        "1003 scored 1003",
        "1002 scored 1002",
        "1001 scored 1001",
    ]
    assert [item.explanation for item in registry.rank("quiet", make_candidates(3), RankingContext(), 3)] == [
        ""
    ] * 3


def test_aisle_explain_score_through_the_hybrid_names_the_leading_parts():
    registry = RankerRegistry(entry_points=False)
    candidates = make_candidates(6)
    context = make_context(candidates, weights={"retrieval": 1.0, "cosine": 1.0})
    ranking = registry.rank("hybrid", candidates, context, 6)
    assert all(set(item.parts) == {"retrieval", "cosine"} for item in ranking)
    assert all(item.explanation for item in ranking)
    assert {reason for item in ranking for reason in item.explanation.split("; ")} <= {
        "matches your search",
        "close to what you asked for and picked before",
    }


def test_an_aisle_rerank_wrapper_changes_the_order():
    plain = registry_with(FixedRanker("fixed", by_id), "fixed", builtins=())
    reversed_ = registry_with(FixedRanker("fixed", by_id), "fixed", builtins=())
    reversed_.register(Reverse(), "reverse")
    candidates = make_candidates(4)
    before = plain.rank("fixed", candidates, RankingContext(), 4)
    after = reversed_.rank("fixed", candidates, RankingContext(), 4)
    assert ids_of(before) == [1004, 1003, 1002, 1001]
    assert ids_of(after) == [1001, 1002, 1003, 1004]
    assert [item.explanation for item in after] == [f"{i} scored {i}" for i in ids_of(after)]


def test_aisle_rerank_wrappers_nest_the_last_registered_outermost():
    registry = registry_with(FixedRanker("fixed", by_id), "fixed", builtins=())
    registry.register(Reverse(), "reverse")
    registry.register(KeepFirst(2), "keep-two")
    # keep-two runs outside reverse: it keeps the first two of the reversed list
    assert ids_of(registry.rank("fixed", make_candidates(5), RankingContext(), 5)) == [1001, 1002]


def test_aisle_rerank_wrappers_see_every_candidate_before_the_cut():
    registry = registry_with(FixedRanker("fixed", by_id), "fixed", builtins=())
    registry.register(Reverse(), "reverse")
    # Reverse sees all five, so the page of two holds the two lowest scores, not the top two reversed
    assert ids_of(registry.rank("fixed", make_candidates(5), RankingContext(), 2)) == [1001, 1002]


class Misspelt:
    """A plugin whose hook name has a typo: it must not load silently."""

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo("typo", "Never scores.")]

    @hookimpl
    def aisle_score_candidate(self, ranker: str) -> None:
        return None


def test_a_plugin_with_a_misspelt_hook_is_refused_at_registration():
    registry = RankerRegistry(entry_points=False)
    with pytest.raises(ValueError, match=r"cannot be loaded.*aisle_score_candidate"):
        registry.register(Misspelt(), "misspelt")
    assert "typo" not in registry.rankers()
    assert registry.plugins.get_plugin("misspelt") is None


def test_an_entry_point_plugin_that_fails_to_import_is_left_out_and_reported(tmp_path, monkeypatch):
    package = tmp_path / "broken_plugin-0.1.dist-info"
    package.mkdir()
    (package / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (package / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = RankerRegistry()
    assert "ModuleNotFoundError" in registry.failed["broken"]
    assert {"cosine", "cf", "popularity", "hybrid"} <= set(registry.rankers())


# --------------------------------------------------------------------------- training and feedback


def test_aisle_feedback_event_asks_for_training_after_refit_after_events():
    registry = RankerRegistry(entry_points=False, refit_after=3)
    event = Interaction("shopper", 1001, "click")
    assert [registry.feedback(event) for _ in range(7)] == [False, False, True, False, False, True, False]


def test_aisle_fit_starts_the_feedback_count_again(tmp_path):
    registry = RankerRegistry(entry_points=False, refit_after=3)
    event = Interaction("shopper", 1001, "like")
    assert [registry.feedback(event) for _ in range(2)] == [False, False]
    registry.fit(make_interactions(), tmp_path)
    assert [registry.feedback(event) for _ in range(3)] == [False, False, True]


def test_aisle_feedback_event_any_plugin_may_ask_for_training():
    registry = RankerRegistry(entry_points=False, refit_after=100)
    registry.register(RefitOnCart(), "always")
    assert registry.feedback(Interaction("shopper", 1001, "add_to_cart"))
    assert not registry.feedback(Interaction("shopper", 1001, "view"))


def test_aisle_fit_writes_artifacts_and_cf_then_scores_from_them(tmp_path):
    registry = RankerRegistry(entry_points=False)
    registry.register(RefitOnCart(), "always")  # reports nothing, so is left out of the reports
    candidates = make_candidates(12)
    context = make_context(candidates, user="someone-new")  # folded in from their history
    untrained = registry.rank("cf", candidates, context, 12)
    assert {item.score for item in untrained} == {0.0}
    interactions = make_interactions(items=candidates.ids)

    reports = registry.fit(interactions, tmp_path / "run", use_gpu=False)

    assert [report["ranker"] for report in reports] == ["cf"]
    assert reports[0]["users"] == len(interactions.users)
    assert reports[0]["interactions"] == interactions.matrix.nnz
    written = sorted(path.name for path in (tmp_path / "run" / "cf").iterdir())
    assert written == ["config.json", "items.npy", "model.npz", "popularity.npy", "users.npy"]
    trained = registry.rank("cf", candidates, replace(context, artifacts=tmp_path / "run"), 12)
    scores = np.asarray([item.score for item in trained])
    assert np.isfinite(scores).all()
    assert np.ptp(scores) > 0, "cf scores after training should not be all equal"
    assert all(item.explanation for item in trained)


def test_aisle_fit_popularity_counts_shoppers_per_product(tmp_path):
    registry = RankerRegistry(entry_points=False)
    candidates = make_candidates(12)
    interactions = make_interactions(items=candidates.ids)
    registry.fit(interactions, tmp_path)
    shoppers = np.asarray((interactions.matrix > 0).sum(axis=0)).ravel()
    expected = {item: float(count) for item, count in zip(interactions.items, shoppers, strict=True)}
    ranking = registry.rank("popularity", candidates, RankingContext(artifacts=tmp_path), 12)
    assert {item.product_id: item.score for item in ranking} == {
        int(i): expected.get(int(i), 0.0) for i in candidates.ids
    }
    assert {item.explanation for item in ranking} == {"popular with shoppers"}


def test_aisle_fit_asked_for_a_gpu_trains_where_there_is_none(tmp_path):
    reports = RankerRegistry(allow=["cf"], entry_points=False).fit(
        make_interactions(), tmp_path, use_gpu=True
    )
    assert [report["ranker"] for report in reports] == ["cf"]
    assert (tmp_path / "cf" / "model.npz").exists()


# --------------------------------------------------------------------------- tracing


def trace_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match]:
    records = [record for record in caplog.records if record.name == "aisle.plugins"]
    matches = [TRACE_LINE.match(record.getMessage()) for record in records]
    assert all(matches), [record.getMessage() for record in records]
    return matches


def test_tracing_logs_one_line_per_hook_call(caplog, tmp_path):
    registry = RankerRegistry(allow=["cosine", "cf"], entry_points=False, trace=True)
    candidates = make_candidates(5)
    with caplog.at_level(logging.INFO, logger="aisle.plugins"):
        registry.rank("cosine", candidates, RankingContext(), 5)
        lines = trace_lines(caplog)
        assert [(m[1], m[3]) for m in lines] == [
            ("aisle_score_candidates", "cosine"),
            ("aisle_rerank", "cosine"),
            *[("aisle_explain_score", "cosine")] * 5,
        ]
        assert lines[0][5] == "cosine, cf"  # every implementation the call could reach, in registration order
        assert lines[0][4] == "answered by cosine"  # the implementation that answered
        assert lines[1][5] == "aisle.core"
        caplog.clear()
        registry.feedback(Interaction("shopper", 1001, "click"))
        registry.fit(make_interactions(), tmp_path)
        assert [m[1] for m in trace_lines(caplog)] == ["aisle_feedback_event", "aisle_fit"]


def test_tracing_follows_nested_hook_calls(caplog):
    registry = RankerRegistry(allow=["cosine", "hybrid"], entry_points=False, trace=True)
    candidates = make_candidates(3)
    context = make_context(candidates, weights={"retrieval": 1.0, "cosine": 1.0})
    with caplog.at_level(logging.INFO, logger="aisle.plugins"):
        registry.rank("hybrid", candidates, context, 3)
    scored = [(m[1], m[3]) for m in trace_lines(caplog) if m[1] == "aisle_score_candidates"]
    assert scored == [
        ("aisle_score_candidates", "cosine"),
        ("aisle_score_candidates", "hybrid"),
    ]  # inner first


def test_no_trace_lines_without_tracing(caplog):
    registry = RankerRegistry(entry_points=False)
    with caplog.at_level(logging.DEBUG, logger="aisle.plugins"):
        registry.rank("cosine", make_candidates(3), RankingContext(), 3)
    assert [record for record in caplog.records if record.name == "aisle.plugins"] == []
