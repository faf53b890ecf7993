"""The plugin kit (``recsys_plugins.testing``) fails a plugin whose hook implementations would not be
called as written, and says why: a misspelt hook, a hook not marked ``@hookimpl``, an argument that
is not the hook's. The contracts' own checks of Aisle's rankers are in tests/test_ranker_contracts.py.
"""

import types
from collections.abc import Generator

import numpy as np
import pytest

from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.rankers.base import Candidates, RankedProduct, RankerInfo, RankingContext
from recsys_plugins.testing import RankerContract, RerankContract, hook_problems, registry_with


class Plain:
    """A correct ranker: it scores candidates in their retrieval order."""

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo("plain", "Keeps the retrieval order.")]

    @hookimpl
    def aisle_score_candidates(self, ranker: str, candidates: Candidates) -> np.ndarray | None:
        return -np.arange(len(candidates), dtype=np.float64) if ranker == "plain" else None


class MisspeltHook(Plain):
    @hookimpl
    def aisle_explain_scores(self, ranker: str) -> str | None:
        return None


class NotMarked(Plain):
    def aisle_explain_score(self, ranker: str) -> str | None:
        return "never shown" if ranker == "plain" else None


class MisspeltArgument(Plain):
    @hookimpl
    def aisle_fit(self, interactions: object, gpu: bool = False) -> None:
        return None


class MisspeltPositionalArgument(Plain):
    @hookimpl
    def aisle_score_candidates(self, ranker: str, candidates: Candidates, contxt: RankingContext):
        return super().aisle_score_candidates(ranker, candidates)


class CatchAll(Plain):
    @hookimpl
    def aisle_explain_score(self, **kwargs: object) -> str | None:
        return kwargs.get("ranker")


class ReverseWithTypo:
    """A rerank wrapper whose ``context`` argument is misspelt: it always sees its default."""

    @hookimpl(wrapper=True)
    def aisle_rerank(
        self, contxt: RankingContext | None = None
    ) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
        ranking = yield
        return ranking[::-1]


BROKEN = [
    pytest.param(
        MisspeltHook, r"aisle_explain_scores is no hook \(did you mean aisle_explain_score\?\)", id="hook"
    ),
    pytest.param(NotMarked, r"aisle_explain_score is not marked @hookimpl", id="unmarked"),
    pytest.param(
        MisspeltArgument,
        r"aisle_fit: 'gpu' is not an argument of aisle_fit\(interactions, directory, use_gpu\)",
        id="argument",
    ),
    pytest.param(
        MisspeltPositionalArgument,
        r"aisle_score_candidates: 'contxt' is not an argument of "
        r"aisle_score_candidates\(ranker, candidates, context\)",
        id="positional",
    ),
    pytest.param(CatchAll, r"aisle_explain_score: \*\*kwargs receives nothing", id="kwargs"),
]


def contract_on(plugin_class: type) -> RankerContract:
    """The ranker contract as a plugin author subclasses it, on ``plugin_class``."""
    return type("TestPlugin", (RankerContract,), {"plugin": plugin_class(), "ranker": "plain"})()


def test_a_correct_plugin_and_the_builtins_pass_the_check():
    contract_on(Plain).test_hook_implementations_match_the_specs()
    registry = registry_with(Plain(), "plain")
    assert "plain" in registry.rankers()
    for name in ("aisle.core", "cosine", "cf", "hybrid"):
        assert hook_problems(registry.plugins.get_plugin(name)) == [], name


@pytest.mark.parametrize(("plugin_class", "problem"), BROKEN)
def test_the_ranker_contract_fails_a_plugin_whose_hooks_do_not_match_the_specs(plugin_class, problem):
    contract = contract_on(plugin_class)
    with pytest.raises(AssertionError, match=problem):
        contract.test_hook_implementations_match_the_specs()
    # the registry every other contract test needs is refused with the same reason
    with pytest.raises(ValueError, match=problem):
        contract.make_registry()


def test_the_rerank_contract_fails_a_wrapper_with_a_misspelt_argument():
    contract = type("TestWrapper", (RerankContract,), {"plugin": ReverseWithTypo()})()
    problem = r"aisle_rerank: 'contxt' is not an argument of aisle_rerank\(ranking, context\)"
    with pytest.raises(AssertionError, match=problem):
        contract.test_hook_implementations_match_the_specs()
    with pytest.raises(ValueError, match=problem):
        contract.make_registry()


def test_every_problem_of_a_plugin_is_named_once():
    class Everything(MisspeltHook, NotMarked, MisspeltArgument):
        pass

    problems = hook_problems(Everything())
    assert len(problems) == 3, problems
    assert [problem.split()[0] for problem in problems] == [
        "aisle_explain_score",
        "aisle_explain_scores",
        "aisle_fit:",
    ]


def test_a_module_plugin_is_checked_like_an_object():
    module = types.ModuleType("typo_plugin")
    module.np = np  # what a plugin module imports is no hook implementation
    module.hookimpl = hookimpl
    module.aisle_feedback_event = hookimpl(lambda evnt: True)
    assert hook_problems(module) == [
        "aisle_feedback_event: 'evnt' is not an argument of aisle_feedback_event(event), "
        "so it is never passed"
    ]
    assert hook_problems(pytest.importorskip("aisle_novelty.plugin")) == []
