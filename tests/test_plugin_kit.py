"""The plugin kit (``recsys_plugins.testing``) fails a plugin whose hook implementations would not be
called as written, and says why: a misspelt hook (with the closest one), a hook not marked
``@hookimpl`` or not a function, an argument that is not the hook's. Each of its contract tests
fails the broken plugin it is there for: an explanation hook pluggy never registered, one that
crashes once the hybrid ranker fuses the ranker, an entry point that names the class, scores that
go NaN on a catalog that rates nothing, a trained plugin that does not pickle, a ranker too slow
for a request. The contracts' own checks of Aisle's rankers are in tests/test_ranker_contracts.py;
the kit as an installed pytest plugin is tested in tests/test_ranking_distribution.py.
"""

import functools
import importlib
import inspect
import json
import sys
import textwrap
import time
import types
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import numpy as np
import pytest

from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.interactions import InteractionMatrix
from recsys_plugins.manager import RankerRegistry
from recsys_plugins.rankers.base import Candidates, RankedProduct, RankerInfo, RankingContext, Scores
from recsys_plugins.testing import (
    CATALOG_DIM,
    CATALOG_POOL,
    CATALOG_SHOPS,
    RankerContract,
    RerankContract,
    hook_problems,
    make_catalog_candidates,
    make_interactions,
    registry_with,
)


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
    problem = (
        r"aisle_rerank: 'contxt' is not an argument of aisle_rerank\(ranking, context, ranker, candidates\)"
    )
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
        "so it is never passed (did you mean 'event'?)"
    ]
    assert hook_problems(pytest.importorskip("aisle_novelty.plugin")) == []


# --------------------------------------------------------------------------- did you mean


class UnmarkedTypo(Plain):
    def aisle_explain_scores(self, ranker: str) -> str | None:
        return "never shown" if ranker == "plain" else None


def test_misspelt_hooks_and_arguments_get_a_did_you_mean():
    assert hook_problems(UnmarkedTypo()) == [
        "aisle_explain_scores is not marked @hookimpl and is no hook (did you mean aisle_explain_score?), "
        "so Aisle never calls it"
    ]
    [problem] = hook_problems(MisspeltPositionalArgument())
    assert problem.endswith("so it is never passed (did you mean 'context'?)")
    # the registry says it too, for a plugin registered without the kit
    with pytest.raises(ValueError, match=r"did you mean 'aisle_explain_score'\?"):
        RankerRegistry(entry_points=False).register(MisspeltHook(), "plain")


# --------------------------------------------------------------------------- running one contract test


def run_contract_test(contract: RankerContract | RerankContract, test: str, tmp_path: Path, **given) -> None:
    """Call one test of ``contract`` as pytest would, its fixtures built as the contract builds them."""
    registry = contract.make_registry()
    values = {"registry": registry, "tmp_path": tmp_path, **given}
    if isinstance(contract, RankerContract):
        candidates = contract._candidates()
        artifacts = catalog_artifacts = None
        if contract._trains(registry):
            artifacts, catalog_artifacts = tmp_path / "artifacts", tmp_path / "catalog-artifacts"
            registry.fit(make_interactions(items=candidates.ids), artifacts)
            catalog = make_interactions(users=40, items=make_catalog_candidates().ids, per_user=8)
            registry.fit(catalog, catalog_artifacts)
        values |= {
            "own_plugin": registry.plugins.get_plugin(contract._plugin_name()),
            "candidates": candidates,
            "artifacts": artifacts,
            "catalog_artifacts": catalog_artifacts,
            "context": contract.make_context(candidates, artifacts, registry),
        }
    method = getattr(contract, test)
    method(**{name: values[name] for name in inspect.signature(method).parameters})


NEW_RANKER_TESTS = [
    pytest.param("test_every_hook_function_is_registered", {}, id="registered"),
    pytest.param("test_explains_when_fused_by_hybrid", {}, id="hybrid"),
    *(
        pytest.param("test_scores_stay_finite_on_catalog_shaped_candidates", {"shop": shop}, id=shop)
        for shop in CATALOG_SHOPS
    ),
    pytest.param("test_pickles_once_trained", {}, id="pickles"),
    pytest.param("test_ranks_within_the_time_budget", {}, id="budget"),
]


@pytest.mark.parametrize(("test", "given"), NEW_RANKER_TESTS)
def test_a_correct_plugin_passes_the_new_contract_tests(test, given, tmp_path):
    try:
        run_contract_test(contract_on(Plain), test, tmp_path, **given)
    except pytest.skip.Exception:
        assert test == "test_pickles_once_trained"  # Plain does not train


# --------------------------------------------------------------------------- a hook never registered


def _explain_plain(ranker: str) -> str | None:
    return "in retrieval order" if ranker == "plain" else None


class PartialHook(Plain):
    """Its explanation hook is a ``functools.partial``: marked, but pluggy registers only functions."""

    aisle_explain_score = hookimpl(functools.partial(_explain_plain))


@pytest.mark.parametrize("plugin_class", [NotMarked, PartialHook])
def test_the_contract_fails_a_hook_the_registry_never_registered(plugin_class, tmp_path):
    contract = contract_on(plugin_class)
    with pytest.raises(AssertionError, match=r"aisle_explain_score is never called: the registry did not"):
        contract.test_every_hook_function_is_registered()
    assert any(problem.startswith("aisle_explain_score is") for problem in hook_problems(plugin_class()))


# --------------------------------------------------------------------------- explanations under hybrid


class OwnPartsExplainer(Plain):
    """Explains from a part of its own scores, which the hybrid ranker does not pass."""

    @hookimpl
    def aisle_score_candidates(self, ranker: str, candidates: Candidates) -> Scores | None:
        if ranker != "plain":
            return None
        order = -np.arange(len(candidates), dtype=np.float64)
        return Scores(order, {"order": order})

    @hookimpl
    def aisle_explain_score(self, ranker: str, parts: dict[str, float]) -> str | None:
        if ranker != "plain":
            return None
        return "found first" if parts["order"] == 0 else None


def test_an_explanation_that_fails_under_hybrid_fails_the_contract(tmp_path):
    contract = contract_on(OwnPartsExplainer)
    run_contract_test(contract, "test_explanations_are_short_lines", tmp_path)  # ranked alone: fine
    with pytest.raises(AssertionError, match=r"aisle_explain_score raised KeyError: 'order' when the hybrid"):
        run_contract_test(contract, "test_explains_when_fused_by_hybrid", tmp_path)


# --------------------------------------------------------------------------- the entry point


ORDERED = """
    import numpy as np

    from recsys_plugins.hookspecs import hookimpl
    from recsys_plugins.rankers.base import RankerInfo


    class Ordered:
        @hookimpl
        def aisle_register_rankers(self):
            return [RankerInfo("ordered", "Keeps the retrieval order.")]

        @hookimpl
        def aisle_score_candidates(self, ranker, candidates):
            return -np.arange(len(candidates), dtype=np.float64) if ranker == "ordered" else None


    plugin = Ordered()
"""


@pytest.fixture
def install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], types.ModuleType]]:
    """``install(module, entry_point)``: :data:`ORDERED` as module ``module`` of an installed
    distribution whose only ``aisle.rankers`` entry point is ``entry_point``, for this test."""
    site = tmp_path / "site-packages"
    installed = []

    def install(module: str, entry_point: str) -> types.ModuleType:
        site.mkdir(exist_ok=True)
        (site / f"{module}.py").write_text(textwrap.dedent(ORDERED))
        info = site / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[aisle.rankers]\n{entry_point}\n")
        monkeypatch.syspath_prepend(str(site))
        installed.append(module)
        return importlib.import_module(module)

    yield install
    for module in installed:
        sys.modules.pop(module, None)


@pytest.mark.parametrize(
    ("entry_point", "problem"),
    [
        pytest.param("ordered = {module}:plugin", None, id="instance"),
        pytest.param(
            "ordered = {module}:Ordered",
            r"entry point ordered = '\w+:Ordered' does not load: .*names the class Ordered",
            id="class",
        ),
        pytest.param(
            "ordered-ranker = {module}:plugin",
            r"no 'aisle.rankers' entry point named 'ordered' is installed "
            r"\(one for its module is named 'ordered-ranker'\)",
            id="other-name",
        ),
    ],
)
def test_the_contract_loads_the_plugin_from_its_entry_point(install, entry_point, problem, request, tmp_path):
    module_name = f"kit_fake_{request.node.callspec.id.replace('-', '_')}"
    module = install(module_name, entry_point.format(module=module_name))
    contract = type("TestOrdered", (RankerContract,), {"plugin": module.plugin, "ranker": "ordered"})()
    if problem is None:
        run_contract_test(contract, "test_loads_from_its_entry_point", tmp_path)
        run_contract_test(contract, "test_registers_the_ranker_with_a_description", tmp_path)
    else:
        with pytest.raises(AssertionError, match=problem):
            run_contract_test(contract, "test_loads_from_its_entry_point", tmp_path)


def test_the_contract_fails_a_plugin_that_is_not_installed(tmp_path):
    with pytest.raises(AssertionError, match=r"no 'aisle.rankers' entry point named 'plain' is installed"):
        run_contract_test(contract_on(Plain), "test_loads_from_its_entry_point", tmp_path)


# --------------------------------------------------------------------------- catalog-shaped candidates


class MeanRatingImputed(Plain):
    """Best rated first, an unrated product given the mean rating: fine where most products are
    rated, NaN in a shop that rates nothing."""

    @hookimpl
    def aisle_score_candidates(self, ranker: str, candidates: Candidates) -> np.ndarray | None:
        if ranker != "plain":
            return None
        rating = candidates.facts.rating
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of no ratings
            mean = np.nanmean(rating) if len(rating) else 0.0
        return np.where(np.isnan(rating), mean, rating)


def test_scores_that_go_nan_on_a_catalog_that_rates_nothing_fail_the_contract(tmp_path):
    contract = contract_on(MeanRatingImputed)
    run_contract_test(contract, "test_scores_one_finite_number_per_candidate", tmp_path)  # sample facts: fine
    on_catalog = "test_scores_stay_finite_on_catalog_shaped_candidates"
    run_contract_test(contract, on_catalog, tmp_path, shop="mixed")  # some products rated
    for shop in ("furniture", "electronics"):
        with pytest.raises(AssertionError, match=rf"150 scores are NaN or infinite \({shop},"):
            run_contract_test(contract, on_catalog, tmp_path, shop=shop)


def test_catalog_candidates_are_shaped_like_the_catalogs_aisle_imports():
    for shop in CATALOG_SHOPS:
        candidates = make_catalog_candidates(shop)
        assert candidates.vectors.shape == (CATALOG_POOL, CATALOG_DIM)
        relevance = candidates.relevance
        assert np.all(np.diff(relevance) <= 0), "best first, as retrieval hands them over"
        assert relevance.min() == 0, "the weakest candidate has no relevance"
        assert len(np.unique(relevance)) < len(relevance), "variants tie"
        assert len(set(candidates.ids.tolist())) == CATALOG_POOL
        assert not np.all(np.diff(candidates.ids) > 0), "database keys in no order"
        facts = candidates.facts
        assert len(facts) == CATALOG_POOL
        if shop != "mixed":
            assert np.isnan(facts.rating).all(), "nothing rated"
            assert (facts.stock == -1).all(), "no stock counted"
    furniture, electronics = make_catalog_candidates("furniture"), make_catalog_candidates("electronics")
    assert set(furniture.facts.currency) == {"SAR"}
    assert np.isnan(furniture.facts.popularity).all()
    assert set(electronics.facts.currency) == {"USD"}
    assert not np.isnan(electronics.facts.popularity).any()
    mixed = make_catalog_candidates("mixed").facts
    assert {"SAR", "USD"} <= set(mixed.currency)
    assert "" in mixed.brand
    assert not np.isnan(mixed.rating).all()
    assert len(make_catalog_candidates(n=0)) == 0


# --------------------------------------------------------------------------- pickling once trained


class ClosureCache(Plain):
    """Trainable: keeps what it loaded from its artifacts in a closure, which does not pickle."""

    def __init__(self) -> None:
        self._loaded: tuple[Path, Callable[[int], float]] | None = None

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo("plain", "Products with the most feedback first.", trainable=True)]

    @hookimpl
    def aisle_fit(self, interactions: InteractionMatrix, directory: Path) -> dict:
        folder = directory / "plain"
        folder.mkdir(parents=True, exist_ok=True)
        totals = np.asarray(interactions.matrix.sum(axis=0)).ravel().tolist()
        by_item = dict(zip(map(str, interactions.items), totals, strict=True))
        (folder / "totals.json").write_text(json.dumps(by_item))
        return {"ranker": "plain"}

    @hookimpl
    def aisle_score_candidates(
        self, ranker: str, candidates: Candidates, context: RankingContext
    ) -> np.ndarray | None:
        if ranker != "plain":
            return None
        saved = context.artifacts / "plain" / "totals.json" if context.artifacts else None
        if saved is None or not saved.exists():
            return np.zeros(len(candidates))
        if self._loaded is None or self._loaded[0] != saved:
            self._loaded = (saved, self.lookup(json.loads(saved.read_text())))
        return np.asarray([self._loaded[1](str(i)) for i in candidates.ids], dtype=np.float64)

    def lookup(self, totals: dict[str, float]) -> Callable[[str], float]:
        return lambda product: totals.get(product, 0.0)


def _total(totals: dict[str, float], product: str) -> float:
    return totals.get(product, 0.0)


class PartialCache(ClosureCache):
    """The same, with a ``functools.partial`` of a module's function, which pickles."""

    def lookup(self, totals: dict[str, float]) -> Callable[[str], float]:
        return functools.partial(_total, totals)


def test_a_trained_plugin_that_does_not_pickle_fails_the_contract(tmp_path):
    contract = contract_on(ClosureCache)
    run_contract_test(contract, "test_fit_writes_only_under_its_own_folders", tmp_path / "fit")
    with pytest.raises(AssertionError, match=r"the trained plugin does not pickle \(\w+Error: .*lambda"):
        run_contract_test(contract, "test_pickles_once_trained", tmp_path / "closure")
    run_contract_test(contract_on(PartialCache), "test_pickles_once_trained", tmp_path / "partial")


# --------------------------------------------------------------------------- the time budget


class Slow(Plain):
    @hookimpl
    def aisle_score_candidates(self, ranker: str, candidates: Candidates) -> np.ndarray | None:
        if ranker != "plain":
            return None
        time.sleep(0.08)
        return -np.arange(len(candidates), dtype=np.float64)


def test_a_ranker_too_slow_for_a_request_fails_the_contract(tmp_path):
    contract = contract_on(Slow)
    with pytest.raises(AssertionError, match=r"ranking 150 candidates took \d+ ms .*the budget is 50 ms"):
        run_contract_test(contract, "test_ranks_within_the_time_budget", tmp_path)


class SlowWrapper:
    @hookimpl(wrapper=True)
    def aisle_rerank(self) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
        ranking = yield
        time.sleep(0.03)
        return list(ranking)


def test_a_wrapper_too_slow_for_a_request_fails_the_contract(tmp_path):
    contract = type("TestSlow", (RerankContract,), {"plugin": SlowWrapper()})()
    with pytest.raises(AssertionError, match=r"reranking 150 products took \d+ ms .*the budget is 20 ms"):
        run_contract_test(contract, "test_reranks_within_the_time_budget", tmp_path)


# --------------------------------------------------------------------------- the example still passes


@pytest.mark.parametrize(("test", "given"), NEW_RANKER_TESTS)
def test_the_example_plugin_passes_the_new_contract_tests(test, given, tmp_path):
    plugin = pytest.importorskip("aisle_novelty.plugin")
    contract = type("TestNovelty", (RankerContract,), {"plugin": plugin, "ranker": "novelty"})()
    try:
        run_contract_test(contract, test, tmp_path, **given)
    except pytest.skip.Exception:
        assert test == "test_pickles_once_trained"  # novelty does not train
