"""The plugin developer kit: data helpers, pytest fixtures and contract tests for ranking plugins.

Pure Python and pytest: nothing here imports Django, so a plugin's tests run without a project
database, in the plugin's own repository: ``pip install aisle-ranking[kit]`` (built from Aisle's
``packaging/aisle-ranking``) provides this module and registers it with pytest. A plugin's test
module subclasses the contracts and says what to check::

    import aisle_novelty.plugin
    from recsys_plugins.testing import RankerContract, RerankContract


    class TestNoveltyRanker(RankerContract):
        plugin = aisle_novelty.plugin  # a module or an object with @hookimpl functions
        ranker = "novelty"  # the ranker it registers


    class TestHideDisliked(RerankContract):
        plugin = aisle_novelty.plugin
        plugin_name = "novelty"  # its entry-point name

Each contract is a set of ordinary pytest tests run against a :class:`RankerRegistry` that holds
the built-in plugins and the plugin under test (never the installed entry points, so a test sees
the same plugins everywhere; only ``test_loads_from_its_entry_point`` loads the plugin's own).
Override ``make_plugin`` for a fresh plugin object per test, ``make_context`` for a context your
ranker needs, or a single ``test_*`` method to relax one rule (say why in its docstring).

The helpers (:func:`make_candidates`, :func:`make_catalog_candidates`, :func:`make_context`,
:func:`make_events`, :func:`make_interactions`, :func:`make_ranking`, :func:`registry_with`,
:func:`call_own_hook`, :func:`hook_problems`) work on their own too. The fixtures
``sample_candidates``, ``sample_context`` and ``sample_interactions`` need no import: the
``aisle_ranking`` pytest plugin (:mod:`recsys_plugins.pytest_plugin`) registers them, and has
pytest rewrite the assertions here, so a failing contract shows the values it compared.
"""

import dataclasses
import difflib
import inspect
import itertools
import json
import pickle
import time
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from recsys_plugins import hookspecs
from recsys_plugins.interactions import Interaction, InteractionMatrix
from recsys_plugins.manager import ENTRY_POINT_GROUP, RankerRegistry
from recsys_plugins.rankers.base import (
    Candidates,
    ProductFacts,
    RankedProduct,
    RankerInfo,
    RankingContext,
    as_scores,
)
from recsys_plugins.rankers.hybrid import NAME as HYBRID
from recsys_plugins.rankers.hybrid import RETRIEVAL

__all__ = [
    "BUILTINS",
    "CATALOG_DIM",
    "CATALOG_POOL",
    "CATALOG_SHOPS",
    "MAX_EXPLANATION",
    "PAGE",
    "RankerContract",
    "RerankContract",
    "call_own_hook",
    "default_name",
    "hook_problems",
    "hooks_meant",
    "implements",
    "long_title",
    "make_candidates",
    "make_catalog_candidates",
    "make_context",
    "make_events",
    "make_facts",
    "make_interactions",
    "make_ranking",
    "registry_with",
    "sample_candidates",
    "sample_context",
    "sample_interactions",
    "unit_vectors",
    "weights_for",
]

BUILTINS: tuple[str, ...] = ("cosine", "cf", "hybrid")
"""The built-in plugins (``cf`` provides the ``cf`` and ``popularity`` rankers)."""

MAX_EXPLANATION = 120
"""The longest explanation a ranker may give: it is one line under a product card."""

DIM = 16
FIRST_ID = 1001
"""Product ids of generated candidates count up from here."""

USER = "shopper-1"
"""The shopper of :func:`make_context`; :func:`make_events` makes them a known, trained user."""

CATALOG_POOL = 150
"""The most candidates one request ranks: 50 results (the API's largest page) times 3 (the
default ``AISLE_RANKING_POOL``)."""
CATALOG_DIM = 384
"""The size of the product vectors Aisle's encoder (all-MiniLM-L6-v2) gives."""
PAGE = 50
"""The largest page a request shows, each product explained."""
CATALOG_SHOPS = ("furniture", "electronics", "mixed")
"""The shapes :func:`make_catalog_candidates` gives."""

TIMED_RUNS = 5
"""A timed contract test counts the best of this many runs, so a busy machine does not fail it."""

ACTIONS = ("view", "click", "like", "add_to_cart", "purchase", "dislike")
ACTION_ODDS = (0.35, 0.25, 0.2, 0.1, 0.05, 0.05)

_SPECS: dict[str, inspect.Signature] = {
    name: inspect.signature(function)
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, f"{hookspecs.PROJECT}_spec")
}
_IMPL = f"{hookspecs.PROJECT}_impl"
"""The attribute ``@hookimpl`` sets on a function, holding its options."""


# --------------------------------------------------------------------------- data helpers


def unit_vectors(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    """``n`` random unit vectors (float32, ``n × dim``), as the encoder gives products."""
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


def make_candidates(
    n: int = 12,
    dim: int = DIM,
    seed: int = 0,
    *,
    ids: Sequence[int] | None = None,
    relevance: bool = True,
) -> Candidates:
    """``n`` candidates with unit vectors and, in retrieval order, decreasing relevance in [0, 1].

    Ids are ``1001, 1002, …`` unless given. ``relevance=False`` leaves the retrieval scores out,
    as for candidates that did not come from a search.
    """
    rng = np.random.default_rng(seed)
    product_ids = np.arange(FIRST_ID, FIRST_ID + n) if ids is None else np.asarray(ids)
    if len(product_ids) != n:
        raise ValueError(f"{len(product_ids)} ids for {n} candidates")
    vectors = unit_vectors(rng, n, dim)
    scores = np.sort(rng.random(n).astype(np.float32))[::-1].copy() if relevance else None
    return Candidates(product_ids.astype(np.int64), vectors, scores, make_facts(n, seed))


SAMPLE_BRANDS = ("ikea", "samsung", "insignia", "otterbox", "")
SAMPLE_KINDS = (
    ("furniture/sofas", "3-seat sofa"),
    ("furniture/bookcases-shelving-units", "bookcase"),
    ("electronics/cell-phones/cases", "phone case"),
    ("electronics/tvs", ""),
)


def make_facts(n: int, seed: int = 0) -> ProductFacts:
    """Facts shaped like a real catalog's: a few brands (some products with none), prices over
    two orders of magnitude in two currencies, products out of stock and of unknown stock,
    unrated ones (NaN) and unknown popularity, colours, materials and measures on some."""
    rng = np.random.default_rng(seed + 1)
    kinds = [SAMPLE_KINDS[i % len(SAMPLE_KINDS)] for i in rng.integers(0, len(SAMPLE_KINDS), n)]
    rated = rng.random(n) < 0.7
    return ProductFacts(
        brand=tuple(SAMPLE_BRANDS[i] for i in rng.integers(0, len(SAMPLE_BRANDS), n)),
        price=np.round(np.exp(rng.uniform(np.log(5), np.log(3000), n)), 2),
        currency=tuple("SAR" if i % 3 else "USD" for i in range(n)),
        categories=tuple((path,) for path, _ in kinds),
        product_type=tuple(kind for _, kind in kinds),
        stock=rng.choice(np.array([-1, 0, 1, 3, 12, 40]), n).astype(np.int64),
        rating=np.where(rated, np.round(rng.uniform(1, 5, n), 1), np.nan),
        rating_count=np.where(rated, rng.integers(1, 5000, n), np.nan).astype(np.float64),
        popularity=np.where(rng.random(n) < 0.5, rng.random(n), np.nan),
        attributes=tuple(
            {"color": ["grey"], "material": ["oak"], "width": 200.0}
            if i % 2
            else {"color": [], "material": []}
            for i in range(n)
        ),
    )


FURNITURE_KINDS = (
    ("furniture/sofas-armchairs", "3-seat sofa"),
    ("furniture/bookcases-shelving-units", "bookcase"),
    ("furniture/beds", "bed frame"),
    ("furniture/tables-desks", "desk"),
    ("furniture/chairs", "chair"),
)
ELECTRONICS_CATEGORIES = (
    "cell-phones/cell-phone-accessories/cases",
    "cell-phones/unlocked-cell-phones",
    "cell-phones/cell-phone-accessories/chargers",
    "tvs-home-theater/tvs",
)
ELECTRONICS_BRANDS = ("samsung", "apple", "insignia", "otterbox", "zagg", "lg", "motorola", "belkin")


def make_catalog_candidates(
    shop: str = "mixed", n: int = CATALOG_POOL, dim: int = CATALOG_DIM, seed: int = 0
) -> Candidates:
    """``n`` candidates as a search of a real catalog returns them, best first, with what real
    catalogs lack.

    ``furniture`` is shaped like the IKEA catalog Aisle imports: one brand, whole prices in SAR
    from 3 to about 9,600, measures on most products, and no stock, rating or popularity at all
    (every value unknown). ``electronics`` is shaped like the Best Buy one: several brands, USD
    prices from 1 to 900, popularity counts up to about 21,000, no product types, stock, ratings
    or measures. ``mixed`` is a shop that imported both and a JSONL file with ratings and stock
    (:func:`make_facts`), some products naming no brand.

    In every shop the ids are database keys (large, in no order), every seventh product is a
    variant of the one before it (the same vector and relevance: ties), and relevance is a
    convex fusion of a min-max scaled cosine and a lexical score most candidates do not get (the
    weakest candidate's relevance is exactly 0).
    """
    if shop not in CATALOG_SHOPS:
        raise ValueError(f"unknown shop {shop!r}; one of {', '.join(CATALOG_SHOPS)}")
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1, 40 * n + 100_000), size=n, replace=False).astype(np.int64)
    vectors = unit_vectors(rng, n, dim)
    lexical = np.where(rng.random(n) < 0.3, rng.uniform(0.2, 1.0, n), 0.0)
    variants = np.arange(3, n, 7)
    vectors[variants], lexical[variants] = vectors[variants - 1], lexical[variants - 1]
    cosine = vectors @ unit_vectors(rng, 1, dim)[0]
    spread = float(np.ptp(cosine)) if n else 0.0
    semantic = (cosine - cosine.min()) / spread if spread > 0 else np.zeros(n)
    relevance = (0.5 * semantic + 0.5 * lexical).astype(np.float32)
    order = np.argsort(-relevance, kind="stable")
    facts = {
        "furniture": lambda: _furniture_facts(n, rng),
        "electronics": lambda: _electronics_facts(n, rng),
        "mixed": lambda: _mixed_facts(n, rng, seed),
    }[shop]()
    return Candidates(ids[order], vectors[order], relevance[order], facts.take(order))


def _furniture_facts(n: int, rng: np.random.Generator) -> ProductFacts:
    kinds = [FURNITURE_KINDS[i] for i in rng.integers(0, len(FURNITURE_KINDS), n)]
    second = [FURNITURE_KINDS[i][0] for i in rng.integers(0, len(FURNITURE_KINDS), n)]
    measured = rng.random(n) < 0.85
    colours = ("white", "black-brown", "grey", "birch", "")
    unknown = np.full(n, np.nan)
    return ProductFacts(
        brand=("ikea",) * n,
        price=np.round(np.exp(rng.uniform(np.log(3), np.log(9585), n))),
        currency=("SAR",) * n,
        categories=tuple(
            tuple(dict.fromkeys((path, other) if i % 5 == 0 else (path,)))
            for i, ((path, _), other) in enumerate(zip(kinds, second, strict=True))
        ),
        product_type=tuple(kind for _, kind in kinds),
        stock=np.full(n, -1, dtype=np.int64),
        rating=unknown.copy(),
        rating_count=unknown.copy(),
        popularity=unknown.copy(),
        attributes=tuple(
            {
                "color": [colour] if (colour := colours[int(rng.integers(0, len(colours)))]) else [],
                "material": [],
                **(
                    {name: float(rng.integers(20, 300)) for name in ("width", "depth", "height")}
                    if measured[i]
                    else {}
                ),
            }
            for i in range(n)
        ),
    )


def _electronics_facts(n: int, rng: np.random.Generator) -> ProductFacts:
    unknown = np.full(n, np.nan)
    return ProductFacts(
        brand=tuple(ELECTRONICS_BRANDS[i] for i in rng.integers(0, len(ELECTRONICS_BRANDS), n)),
        price=np.round(np.exp(rng.uniform(0, np.log(900), n)), 2),
        currency=("USD",) * n,
        categories=tuple(
            (ELECTRONICS_CATEGORIES[i],) for i in rng.integers(0, len(ELECTRONICS_CATEGORIES), n)
        ),
        product_type=("",) * n,
        stock=np.full(n, -1, dtype=np.int64),
        rating=unknown.copy(),
        rating_count=unknown.copy(),
        popularity=np.round(np.exp(rng.uniform(np.log(3), np.log(21449), n))),
        attributes=tuple({"color": [], "material": []} for _ in range(n)),
    )


def _mixed_facts(n: int, rng: np.random.Generator, seed: int) -> ProductFacts:
    """Each product from one of three sources: furniture, electronics or :func:`make_facts`."""
    shops = (_furniture_facts(n, rng), _electronics_facts(n, rng), make_facts(n, seed))
    source = rng.integers(0, len(shops), n)
    columns: dict[str, Any] = {}
    for name, first in vars(shops[0]).items():
        values = [getattr(shops[int(s)], name)[row] for row, s in enumerate(source)]
        is_array = isinstance(first, np.ndarray)
        columns[name] = np.asarray(values, dtype=first.dtype) if is_array else tuple(values)
    return ProductFacts(**columns)


def make_context(
    candidates: Candidates | None = None,
    *,
    seed: int = 0,
    query: bool = True,
    user: str | None = USER,
    history: Sequence[Interaction] | None = None,
    session_events: Sequence[Interaction] | None = None,
    constraints: Mapping[str, Any] | None = None,
    weights: Mapping[str, float] | None = None,
    artifacts: Path | None = None,
    titles: Mapping[int, str] | None = None,
) -> RankingContext:
    """A typical shopper's request over ``candidates``.

    Without ``history`` and ``session_events`` the shopper, in earlier sessions, liked the 1st
    candidate, viewed the 2nd and clicked the 3rd; in this session they viewed the 4th and the 2nd
    again, and disliked the 5th. ``item_vectors`` come from the candidates and ``titles`` are as
    long as real catalogue titles get (about 80 characters), so explanations that quote them are tested
    at their longest. ``query=False`` leaves the query vector out. Without candidates the context
    is empty but for ``query`` (a random unit vector), ``user`` and what is passed.
    """
    rng = np.random.default_rng(seed + 1)
    dim = candidates.vectors.shape[1] if candidates is not None and candidates.vectors.ndim == 2 else DIM
    ids = [int(i) for i in candidates.ids] if candidates is not None else []
    if history is None:
        history = _events_on(ids, user, [(0, "like"), (1, "view"), (2, "click")], start=1.0)
    if session_events is None:
        session_events = _events_on(ids, user, [(3, "view"), (1, "view"), (4, "dislike")], start=100.0)
    events = [*history, *session_events]
    vector_of = {int(i): v for i, v in zip(ids, candidates.vectors, strict=True)} if candidates else {}
    return RankingContext(
        query_vector=unit_vectors(rng, 1, dim)[0] if query else None,
        constraints=dict(constraints or {}),
        user=user,
        history=tuple(history),
        session_events=tuple(session_events),
        item_vectors={e.item: vector_of[e.item] for e in events if e.item in vector_of},
        titles=dict(titles) if titles is not None else {e.item: long_title(e.item) for e in events},
        weights=dict(weights or {}),
        artifacts=artifacts,
    )


def long_title(product_id: int) -> str:
    """A product title about as long as the longest in the demo catalogue (80 characters)."""
    title = f"Product {product_id}: solid oak extending dining table, six upholstered chairs, natural oak"
    return title[:80].rstrip()


def _events_on(
    ids: Sequence[int], user: str | None, plan: Sequence[tuple[int, str]], start: float
) -> list[Interaction]:
    return [
        Interaction(user or "anonymous", ids[position], action, start + step)
        for step, (position, action) in enumerate(plan)
        if position < len(ids)
    ]


def make_events(
    users: int = 8, items: Sequence[int] | None = None, per_user: int = 4, seed: int = 0
) -> list[Interaction]:
    """Feedback of ``users`` shoppers (``shopper-1``, ``shopper-2``, …), each on ``per_user``
    distinct ``items`` (default: the ids of :func:`make_candidates`), with seeded random actions
    (mostly views and clicks, a few likes, carts, purchases and dislikes), oldest first."""
    rng = np.random.default_rng(seed)
    items = [int(i) for i in (range(FIRST_ID, FIRST_ID + 12) if items is None else items)]
    events = []
    for user in range(users):
        for item in rng.choice(items, size=min(per_user, len(items)), replace=False):
            action = str(rng.choice(ACTIONS, p=ACTION_ODDS))
            events.append(Interaction(f"shopper-{user + 1}", int(item), action, float(len(events))))
    return events


def make_interactions(
    users: int = 8, items: Sequence[int] | None = None, per_user: int = 4, seed: int = 0
) -> InteractionMatrix:
    """:func:`make_events` as the matrix ``aisle_fit`` trains on."""
    return InteractionMatrix.from_interactions(make_events(users, items, per_user, seed))


def make_ranking(n: int = 12, seed: int = 0) -> list[RankedProduct]:
    """A ranked list of the :func:`make_candidates` ids, best first, for testing ``aisle_rerank``."""
    return _ranking_of(make_candidates(n, seed=seed))


def _ranking_of(candidates: Candidates) -> list[RankedProduct]:
    """``candidates`` as a ranked list in their (retrieval) order."""
    scores = candidates.relevance if candidates.relevance is not None else np.zeros(len(candidates))
    pairs = zip(candidates.ids, scores, strict=True)
    return [RankedProduct(int(i), float(s), {"test": float(s)}) for i, s in pairs]


def weights_for(registry: RankerRegistry) -> dict[str, float]:
    """Weight 1 for the retrieval score and every loaded ranker, as the ``hybrid`` ranker reads them."""
    return {RETRIEVAL: 1.0, **dict.fromkeys(registry.rankers(), 1.0)}


# --------------------------------------------------------------------------- registry helpers


def registry_with(
    plugin: object | None = None,
    name: str | None = None,
    *,
    builtins: Collection[str] = BUILTINS,
    **options: Any,
) -> RankerRegistry:
    """A registry with the built-in plugins named in ``builtins`` (all by default, so a name clash
    with them shows), ``plugin`` registered as ``name`` and no entry-point plugins.

    ``options`` go to :class:`RankerRegistry` (``refit_after``, ``trace``, ``cf_config``…).
    Raises ``ValueError``, one line per problem, when the plugin's hook implementations do not
    match the specs (:func:`hook_problems`).
    """
    registry = RankerRegistry(allow=builtins, entry_points=False, **options)
    if plugin is not None:
        name = name or default_name(plugin)
        problems = hook_problems(plugin)
        if problems:
            raise ValueError(f"plugin {name!r} does not match the hook specs:\n" + "\n".join(problems))
        registry.register(plugin, name)
    return registry


def hook_problems(plugin: object) -> list[str]:
    """Why some of ``plugin``'s hook implementations would not be called as written, one line each.

    Finds what registration lets through or reports without a hint: a function named ``aisle_*``
    that is not marked ``@hookimpl`` (never called), a marked one whose name is no hook (a typo,
    with the closest hook, as the registry says it), a hook implementation that is no function
    (a ``functools.partial``, a callable object: pluggy skips it), and an argument that is not one
    of the hook's. Aisle passes a hook's arguments by name, and only those, so a misspelt argument
    with a default always keeps its default and ``*args``/``**kwargs`` receive nothing.
    """
    problems = []
    for attribute in sorted(dir(plugin)):
        try:
            function = getattr(plugin, attribute)
        except Exception:  # a property that fails here is no hook implementation either
            continue
        named_as_hook = attribute.startswith(f"{hookspecs.PROJECT}_")
        options = getattr(function, _IMPL, None) if callable(function) else None
        if not inspect.isroutine(function):
            if options is not None or (named_as_hook and callable(function)):
                problems.append(
                    f"{attribute} is a {type(function).__name__}, not a function, so it is never "
                    "registered; define it with def and mark it @hookimpl"
                )
            continue
        if options is None:
            if named_as_hook:
                typo = "" if attribute in _SPECS else f" and is no hook{_did_you_mean(attribute, _SPECS)}"
                problems.append(f"{attribute} is not marked @hookimpl{typo}, so Aisle never calls it")
            continue
        hook = options.get("specname") or attribute
        spec = _SPECS.get(hook)
        if spec is None:
            hint = _did_you_mean(hook, _SPECS) or f"; the hooks are {', '.join(sorted(_SPECS))}"
            problems.append(f"{attribute} is no hook{hint}, so Aisle never calls it")
            continue
        expected = f"{hook}({', '.join(spec.parameters)})"
        for parameter in _own_parameters(function):
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                stars = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
                problems.append(
                    f"{attribute}: {stars}{parameter.name} receives nothing; "
                    f"name the arguments you use from {expected}"
                )
            elif parameter.name not in spec.parameters:
                hint = _did_you_mean(parameter.name, spec.parameters, quote=True)
                problems.append(
                    f"{attribute}: {parameter.name!r} is not an argument of {expected}, "
                    f"so it is never passed{hint}"
                )
    return problems


def _did_you_mean(name: str, choices: Collection[str], quote: bool = False) -> str:
    """`` (did you mean <the closest of choices>?)``, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    if not close:
        return ""
    return f" (did you mean {close[0]!r}?)" if quote else f" (did you mean {close[0]}?)"


def hooks_meant(plugin: object) -> set[str]:
    """The hooks ``plugin`` means to implement: those its ``@hookimpl`` marks name and those its
    callables named ``aisle_*`` are named after, marked or not."""
    meant = set()
    for attribute in dir(plugin):
        try:
            function = getattr(plugin, attribute)
        except Exception:
            continue
        options = getattr(function, _IMPL, None) if callable(function) else None
        if options is not None:
            meant.add(options.get("specname") or attribute)
        elif attribute.startswith(f"{hookspecs.PROJECT}_") and callable(function):
            meant.add(attribute)
    return meant


def _own_parameters(function: Any) -> list[inspect.Parameter]:
    """The parameters of ``function`` less the ``self`` or ``cls`` of a method looked up on a class."""
    parameters = list(inspect.signature(function).parameters.values())
    if parameters and parameters[0].name in ("self", "cls") and not inspect.ismethod(function):
        return parameters[1:]
    return parameters


def default_name(plugin: object) -> str:
    """The name :func:`registry_with` registers ``plugin`` under when given none: a module's
    name, else its class's."""
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def _own_implementations(registry: RankerRegistry, plugin: object, hook: str) -> list:
    return [impl for impl in getattr(registry.plugins.hook, hook).get_hookimpls() if impl.plugin is plugin]


def implements(registry: RankerRegistry, plugin: object, hook: str) -> bool:
    """Whether ``plugin`` implements ``hook`` (as a plain implementation or a wrapper)."""
    return bool(_own_implementations(registry, plugin, hook))


def call_own_hook(registry: RankerRegistry, plugin: object, hook: str, **kwargs: Any) -> Any:
    """``plugin``'s own answer to ``hook``, leaving the other plugins out.

    Passes only the arguments the implementation takes, as pluggy does. Raises ``LookupError``
    when the plugin has no plain (non-wrapper) implementation of ``hook``.
    """
    for impl in _own_implementations(registry, plugin, hook):
        if not (impl.wrapper or impl.hookwrapper):
            return impl.function(*(kwargs[name] for name in impl.argnames))
    raise LookupError(f"the plugin implements no plain {hook}")


def _reranked(registry: RankerRegistry) -> bool:
    """Whether a plugin other than Aisle's core implements ``aisle_rerank``."""
    return any(
        impl.plugin_name != "aisle.core" for impl in registry.plugins.hook.aisle_rerank.get_hookimpls()
    )


def _assert_matches_the_specs(plugin: object) -> None:
    """The contracts' check of the hook implementations. It builds no registry, so it names the
    problems even where the registry the other tests need cannot be built."""
    assert plugin is not None, "no plugin to test"
    problems = hook_problems(plugin)
    assert not problems, "the hook implementations do not match the specs:\n" + "\n".join(problems)


def _assert_every_hook_is_registered(registry: RankerRegistry, plugin: object) -> None:
    """Every hook ``plugin`` means to implement (:func:`hooks_meant`) is one ``registry`` calls.
    Asks pluggy what it registered, so it holds whatever :func:`hook_problems` misses."""
    registered = {caller.name for caller in registry.plugins.get_hookcallers(plugin) or ()}
    missing = sorted(hooks_meant(plugin) - registered)
    one = len(missing) == 1
    assert not missing, (
        f"{', '.join(missing)} {'is' if one else 'are'} never called: the registry did not register "
        f"{'it' if one else 'them'}; mark each hook implementation @hookimpl, on a function or method"
    )


def _load_entry_point(
    plugin: object, name: str | None, builtins: Collection[str]
) -> tuple[RankerRegistry, metadata.EntryPoint]:
    """A registry that loaded ``plugin`` as Aisle does, from its installed entry point: the one
    named ``name``, else the one whose module is the plugin's. Fails when none is installed or it
    does not load."""
    module = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
    installed = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    same_module = [ep for ep in installed if module == ep.module or module.startswith(f"{ep.module}.")]
    found = [ep for ep in installed if ep.name == name] if name else same_module
    if not found:
        named = f"named {name!r}" if name else f"for {module}"
        also = f" (one for its module is named {same_module[0].name!r})" if same_module else ""
        raise AssertionError(
            f"no {ENTRY_POINT_GROUP!r} entry point {named} is installed{also}: declare it in "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] and install the package (pip install -e .)'
        )
    entry_point = found[0]
    registry = RankerRegistry(allow=(*builtins, entry_point.name))
    problem = registry.failed.get(entry_point.name)
    assert problem is None, f"entry point {entry_point.name} = {entry_point.value!r} does not load: {problem}"
    return registry, entry_point


def _hooks_of(registry: RankerRegistry, plugin: object) -> list[str]:
    return sorted(caller.name for caller in registry.plugins.get_hookcallers(plugin) or ())


def _best_time_ms(run: Callable[[], object]) -> float:
    """The fastest of :data:`TIMED_RUNS` calls of ``run``, in milliseconds."""
    took = []
    for _ in range(TIMED_RUNS):
        began = time.perf_counter()
        run()
        took.append(1000 * (time.perf_counter() - began))
    return min(took)


def _assert_one_finite_score_each(scored: Any, ranker: str, count: int, given: str = "") -> None:
    """``scored`` (a ranker's own answer) holds one finite score per candidate, in total and per part."""
    assert scored is not None, f"the plugin returned None for its own ranker {ranker!r}{given}"
    scores = as_scores(scored, ranker)
    assert np.shape(scores.total) == (count,), f"one score per candidate{given}"
    total = np.asarray(scores.total, dtype=np.float64)
    assert np.isfinite(total).all(), f"{int((~np.isfinite(total)).sum())} scores are NaN or infinite{given}"
    for name, part in scores.parts.items():
        assert np.shape(part) == (count,), f"part {name!r} is not one value per candidate{given}"
        assert np.isfinite(np.asarray(part, dtype=np.float64)).all(), f"part {name!r} is not finite{given}"


def _assert_short_line(explanation: Any) -> None:
    assert explanation is None or isinstance(explanation, str), f"not a str: {explanation!r}"
    if explanation:
        assert len(explanation) <= MAX_EXPLANATION, f"too long ({len(explanation)}): {explanation!r}"
        assert "\n" not in explanation, f"more than one line: {explanation!r}"


def _written_under(directory: Path) -> list[Path]:
    return [path.relative_to(directory) for path in directory.rglob("*") if path.is_file()]


# --------------------------------------------------------------------------- fixtures
# Registered with pytest by recsys_plugins.pytest_plugin (the kit's pytest11 entry point).


@pytest.fixture
def sample_candidates() -> Candidates:
    """Twelve candidates (:func:`make_candidates`)."""
    return make_candidates()


@pytest.fixture
def sample_context(sample_candidates: Candidates) -> RankingContext:
    """A shopper's context over ``sample_candidates`` (:func:`make_context`)."""
    return make_context(sample_candidates)


@pytest.fixture
def sample_interactions(sample_candidates: Candidates) -> InteractionMatrix:
    """Eight shoppers' feedback on ``sample_candidates`` (:func:`make_interactions`)."""
    return make_interactions(items=sample_candidates.ids)


# --------------------------------------------------------------------------- ranker contract


class RankerContract:
    """Tests every ranker must pass. Subclass it as ``Test…`` and set :attr:`ranker` and, for a
    third-party plugin, :attr:`plugin`.

    The context the tests rank in is :func:`make_context` with weight 1 for every loaded ranker.
    A trainable ranker (or any, with :attr:`train` set) is trained first, once per test class:
    every trainable plugin of the registry fits :func:`make_interactions` over the candidates into
    a temporary folder, which becomes ``context.artifacts`` (and, for the tests on
    :func:`make_catalog_candidates`, over those candidates into another).
    """

    plugin: ClassVar[object | None] = None
    """The plugin under test: a module or an object with ``@hookimpl`` methods. ``None`` tests a
    built-in plugin (named by :attr:`plugin_name`)."""
    ranker: ClassVar[str] = ""
    """The name of the ranker under test."""
    plugin_name: ClassVar[str | None] = None
    """The name the plugin is registered under (its entry-point name); default: :attr:`ranker`."""
    builtins: ClassVar[Collection[str]] = BUILTINS
    """The built-in plugins loaded beside it."""
    train: ClassVar[bool | None] = None
    """Fit the registry's trainable plugins before ranking; default: when the ranker is trainable."""
    candidate_count: ClassVar[int] = 12
    dim: ClassVar[int] = DIM
    time_budget_ms: ClassVar[float] = 50.0
    """The longest ranking one request may take, in milliseconds: :data:`CATALOG_POOL`
    catalog-shaped candidates scored and reranked, and a :data:`PAGE` of them explained (the best
    of :data:`TIMED_RUNS` runs counts). Raise it only for a reason you can give your shoppers."""

    # --- what a subclass may override

    def make_plugin(self) -> object | None:
        """The plugin to register; override to give every test a fresh object."""
        return self.plugin

    def make_registry(self) -> RankerRegistry:
        return registry_with(self.make_plugin(), self._plugin_name(), builtins=self.builtins)

    def make_context(
        self, candidates: Candidates, artifacts: Path | None, registry: RankerRegistry
    ) -> RankingContext:
        """The context the tests rank in."""
        return make_context(candidates, artifacts=artifacts, weights=weights_for(registry))

    # --- fixtures

    @pytest.fixture
    def registry(self) -> RankerRegistry:
        return self.make_registry()

    @pytest.fixture
    def own_plugin(self, registry: RankerRegistry) -> object:
        """The registered plugin object that provides :attr:`ranker`."""
        plugin = registry.plugins.get_plugin(self._plugin_name())
        assert plugin is not None, f"no plugin named {self._plugin_name()!r} is registered"
        return plugin

    @pytest.fixture
    def candidates(self) -> Candidates:
        return self._candidates()

    @pytest.fixture(scope="class")
    @classmethod
    def artifacts(cls, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
        """Trained once per test class: the artifacts are only read."""
        contract = cls()
        registry = contract.make_registry()
        if not contract._trains(registry):
            return None
        directory = tmp_path_factory.mktemp("artifacts")
        registry.fit(make_interactions(items=contract._candidates().ids), directory)
        return directory

    @pytest.fixture
    def context(
        self, registry: RankerRegistry, candidates: Candidates, artifacts: Path | None
    ) -> RankingContext:
        return self.make_context(candidates, artifacts, registry)

    @pytest.fixture(scope="class")
    @classmethod
    def catalog_artifacts(cls, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
        """Trained once per test class, on feedback about :func:`make_catalog_candidates`."""
        contract = cls()
        registry = contract.make_registry()
        if not contract._trains(registry):
            return None
        directory = tmp_path_factory.mktemp("catalog-artifacts")
        items = make_catalog_candidates().ids
        registry.fit(make_interactions(users=40, items=items, per_user=8), directory)
        return directory

    # --- the contract

    def test_registers_the_ranker_with_a_description(self, registry: RankerRegistry, own_plugin: object):
        installed = registry.rankers().get(self.ranker)
        assert installed is not None, f"{self.ranker!r} is not among {sorted(registry.rankers())}"
        assert installed.plugin == self._plugin_name()
        assert isinstance(installed.description, str)
        assert installed.description.strip(), "the description is shown in the admin and the API"
        infos = call_own_hook(registry, own_plugin, "aisle_register_rankers")
        assert all(isinstance(info, RankerInfo) for info in infos)
        assert len({info.name for info in infos}) == len(infos), "the plugin registers a name twice"
        assert {"aisle_register_rankers", "aisle_score_candidates"} <= set(installed.hooks)

    def test_hook_implementations_match_the_specs(self):
        plugin = self.make_plugin()
        if plugin is None:  # a built-in
            plugin = registry_with(builtins=self.builtins).plugins.get_plugin(self._plugin_name())
        _assert_matches_the_specs(plugin)

    def test_every_hook_function_is_registered(self):
        """Each function the plugin means as a hook implementation (marked ``@hookimpl`` or named
        ``aisle_*``) is one the registry calls: a forgotten ``@hookimpl`` on
        ``aisle_explain_score`` is an explanation no shopper ever sees."""
        plugin = self.make_plugin()
        registry = RankerRegistry(allow=self.builtins, entry_points=False)
        if plugin is None:  # a built-in
            plugin = registry.plugins.get_plugin(self._plugin_name())
        else:
            registry.register(plugin, self._plugin_name())
        _assert_every_hook_is_registered(registry, plugin)

    def test_loads_from_its_entry_point(self, registry: RankerRegistry):
        """Aisle loads the plugin from its installed ``aisle.rankers`` entry point, named
        :attr:`plugin_name`: it names the plugin tested here (a module or an instance, not a
        class), loads without an error and provides the ranker."""
        if self.make_plugin() is None:
            pytest.skip("a built-in plugin is registered directly, not through an entry point")
        loaded, entry_point = _load_entry_point(self.make_plugin(), self._plugin_name(), self.builtins)
        installed = loaded.rankers().get(self.ranker)
        assert installed is not None, (
            f"entry point {entry_point.name} = {entry_point.value!r} provides no {self.ranker!r} ranker"
        )
        assert installed.package, f"entry point {entry_point.name} belongs to no installed distribution"
        tested = registry.rankers()[self.ranker].hooks
        assert installed.hooks == tested, (
            f"entry point {entry_point.value!r} loads a plugin with other hooks than the one tested"
        )

    def test_scores_one_finite_number_per_candidate(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, context: RankingContext
    ):
        scored = self._own_scores(registry, own_plugin, candidates, context)
        _assert_one_finite_score_each(scored, self.ranker, len(candidates))

    def test_ranks_the_candidates_best_first(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, context: RankingContext
    ):
        ranking = registry.rank(self.ranker, candidates, context, limit=len(candidates))
        ids = [item.product_id for item in ranking]
        assert len(set(ids)) == len(ids), "a product is ranked twice"
        assert set(ids) <= {int(i) for i in candidates.ids}, "ranked a product that is no candidate"
        total = as_scores(self._own_scores(registry, own_plugin, candidates, context), self.ranker).total
        score_of = dict(
            zip((int(i) for i in candidates.ids), np.asarray(total, dtype=np.float64), strict=True)
        )
        for item in ranking:
            assert item.score == pytest.approx(score_of[item.product_id], rel=1e-6, abs=1e-6)
        if not _reranked(registry):  # a rerank wrapper may reorder or filter
            assert len(ranking) == len(candidates)
            assert all(a.score >= b.score for a, b in itertools.pairwise(ranking))

    def test_is_deterministic(
        self, registry: RankerRegistry, candidates: Candidates, context: RankingContext
    ):
        def run(on: RankerRegistry) -> list[tuple]:
            ranking = on.rank(self.ranker, candidates, context, limit=len(candidates))
            return [(item.product_id, item.score, item.parts, item.explanation) for item in ranking]

        first = run(registry)
        assert run(registry) == first, "a second call on the same registry ranks differently"
        assert run(self.make_registry()) == first, "a fresh registry ranks differently"

    def test_handles_no_candidates(
        self, registry: RankerRegistry, own_plugin: object, context: RankingContext
    ):
        empty = make_candidates(0, self.dim)
        assert registry.rank(self.ranker, empty, context, limit=10) == []
        scored = self._own_scores(registry, own_plugin, empty, context)
        assert np.shape(as_scores(scored, self.ranker).total) == (0,)

    def test_respects_the_limit(
        self, registry: RankerRegistry, candidates: Candidates, context: RankingContext
    ):
        def ids(limit: int) -> list[int]:
            return [item.product_id for item in registry.rank(self.ranker, candidates, context, limit)]

        everything = ids(len(candidates))
        assert ids(len(candidates) + 10) == everything
        assert ids(0) == []
        top = ids(3)
        assert len(top) <= 3
        if not _reranked(registry):
            assert top == everything[:3]

    def test_declines_rankers_it_does_not_provide(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, context: RankingContext
    ):
        own = {info.name for info in call_own_hook(registry, own_plugin, "aisle_register_rankers")}
        others = ["no-such-ranker", *(name for name in registry.rankers() if name not in own)]
        product_id = int(candidates.ids[0])
        for other in others:
            assert self._own_scores(registry, own_plugin, candidates, context, other) is None, other
            if implements(registry, own_plugin, "aisle_explain_score"):
                explanation = call_own_hook(
                    registry,
                    own_plugin,
                    "aisle_explain_score",
                    ranker=other,
                    product_id=product_id,
                    parts={other: 1.0},
                    context=context,
                )
                assert explanation is None, f"explained a product for {other!r}"

    def test_explanations_are_short_lines(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, context: RankingContext
    ):
        ranking = registry.rank(self.ranker, candidates, context, limit=len(candidates))
        explanations = [item.explanation for item in ranking]
        if implements(registry, own_plugin, "aisle_explain_score"):
            explanations += [
                call_own_hook(
                    registry,
                    own_plugin,
                    "aisle_explain_score",
                    ranker=self.ranker,
                    product_id=item.product_id,
                    parts=item.parts,
                    context=context,
                )
                for item in ranking
            ]
        for explanation in explanations:
            _assert_short_line(explanation)

    def test_works_without_a_query_or_history(
        self, registry: RankerRegistry, candidates: Candidates, artifacts: Path | None
    ):
        bare = make_candidates(self.candidate_count, self.dim, relevance=False)
        for context in (RankingContext(), RankingContext(artifacts=artifacts)):
            for given in (candidates, bare):
                ranking = registry.rank(self.ranker, given, context, limit=len(given))
                assert all(np.isfinite(item.score) for item in ranking)
                if not _reranked(registry):
                    assert len(ranking) == len(given)

    def test_leaves_its_inputs_alone(
        self, registry: RankerRegistry, candidates: Candidates, context: RankingContext
    ):
        arrays = [candidates.ids, candidates.vectors, candidates.relevance, context.query_vector]
        before = [None if array is None else np.array(array, copy=True) for array in arrays]
        registry.rank(self.ranker, candidates, context, limit=len(candidates))
        for array, copy in zip(arrays, before, strict=True):
            if copy is not None:
                np.testing.assert_array_equal(array, copy)

    def test_fit_writes_only_under_its_own_folders(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, tmp_path: Path
    ):
        if not registry.rankers()[self.ranker].trainable:
            pytest.skip(f"{self.ranker} is not trainable")
        own = {info.name for info in call_own_hook(registry, own_plugin, "aisle_register_rankers")}
        directory = tmp_path / "run"
        interactions = make_interactions(items=candidates.ids)
        report = call_own_hook(
            registry, own_plugin, "aisle_fit", interactions=interactions, directory=directory, use_gpu=False
        )
        assert isinstance(report, dict), "a trainable ranker reports what it trained"
        assert report.get("ranker") in own, f"report names {report.get('ranker')!r}, not one of {own}"
        json.dumps(report)  # stored with the training run
        written = _written_under(directory)
        assert written, "fit wrote nothing"
        assert all(path.parts[0] in own for path in written), f"wrote outside directory/<ranker>: {written}"

    def test_ranks_before_any_training(
        self, registry: RankerRegistry, candidates: Candidates, context: RankingContext, tmp_path: Path
    ):
        if not registry.rankers()[self.ranker].trainable:
            pytest.skip(f"{self.ranker} is not trainable")
        untrained = tmp_path / "nothing-trained-yet"
        untrained.mkdir()
        for artifacts in (None, untrained):
            cold = dataclasses.replace(context, artifacts=artifacts)
            ranking = registry.rank(self.ranker, candidates, cold, limit=len(candidates))
            assert all(np.isfinite(item.score) for item in ranking)

    def test_feedback_answer_is_a_yes_or_no(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates
    ):
        if not implements(registry, own_plugin, "aisle_feedback_event"):
            pytest.skip("the plugin does not implement aisle_feedback_event")
        event = Interaction(USER, int(candidates.ids[0]), "like", 1.0)
        answer = call_own_hook(registry, own_plugin, "aisle_feedback_event", event=event)
        assert answer is None or isinstance(answer, bool)

    def test_explains_when_fused_by_hybrid(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, context: RankingContext
    ):
        """The hybrid ranker fuses this ranker's scores and asks it to explain each product with
        ``parts`` holding only ``{ranker: its share}``, not the parts its own scores had."""
        if self.ranker == HYBRID:
            pytest.skip("the hybrid ranker fuses the others, not itself")
        if HYBRID not in registry.rankers():
            pytest.skip("the hybrid ranker is not loaded (builtins)")
        fused = dataclasses.replace(context, weights={self.ranker: 1.0})
        ranking = registry.rank(HYBRID, candidates, fused, limit=len(candidates))
        if implements(registry, own_plugin, "aisle_explain_score"):
            for item in ranking:
                parts = {self.ranker: item.parts.get(self.ranker, 0.0)}
                try:
                    explanation = call_own_hook(
                        registry,
                        own_plugin,
                        "aisle_explain_score",
                        ranker=self.ranker,
                        product_id=item.product_id,
                        parts=parts,
                        context=fused,
                    )
                except Exception as error:
                    raise AssertionError(
                        f"aisle_explain_score raised {type(error).__name__}: {error} when the hybrid "
                        f"ranker asked about product {item.product_id} with parts={parts}: under "
                        "hybrid, parts hold only the ranker's own share"
                    ) from error
                _assert_short_line(explanation)
        failures = registry.runtime_errors[self._plugin_name()]
        assert failures == 0, f"the plugin failed {failures} hook calls while the hybrid ranker fused it"

    @pytest.mark.parametrize("shop", CATALOG_SHOPS)
    def test_scores_stay_finite_on_catalog_shaped_candidates(
        self, registry: RankerRegistry, own_plugin: object, catalog_artifacts: Path | None, shop: str
    ):
        """Real catalogs leave facts unknown (the IKEA and Best Buy sets rate nothing), tie
        variants and give some candidates no relevance at all: scores stay finite on
        :func:`make_catalog_candidates`, with and without retrieval scores and a shopper."""
        candidates = make_catalog_candidates(shop)
        bare = dataclasses.replace(candidates, relevance=None)
        for given, which in ((candidates, ""), (bare, ", no relevance")):
            contexts = {
                "a shopper's context": self.make_context(given, catalog_artifacts, registry),
                "an empty context": RankingContext(artifacts=catalog_artifacts),
            }
            for about, context in contexts.items():
                scored = self._own_scores(registry, own_plugin, given, context)
                _assert_one_finite_score_each(scored, self.ranker, len(given), f" ({shop}{which}, {about})")
                ranking = registry.rank(self.ranker, given, context, limit=PAGE)
                assert all(np.isfinite(item.score) for item in ranking)

    def test_pickles_once_trained(
        self, registry: RankerRegistry, own_plugin: object, candidates: Candidates, context: RankingContext
    ):
        """A trained plugin can be copied to another process (a process pool, a worker): once it
        has trained and loaded what it trained, it pickles, and the copy ranks the same."""
        if not registry.rankers()[self.ranker].trainable:
            pytest.skip(f"{self.ranker} is not trainable")
        if isinstance(own_plugin, types.ModuleType):
            pytest.skip("a module plugin is imported again by another process, not pickled")
        ranked = registry.rank(self.ranker, candidates, context, limit=len(candidates))
        try:
            copy = pickle.loads(pickle.dumps(own_plugin))
        except Exception as error:
            raise AssertionError(
                f"the trained plugin does not pickle ({type(error).__name__}: {error}); keep locks, "
                "open files and lambdas off it, or leave them out in __getstate__"
            ) from error
        # a built-in's copy takes the built-in's place
        others = [name for name in self.builtins if name != self._plugin_name()]
        again = registry_with(copy, self._plugin_name(), builtins=others).rank(
            self.ranker, candidates, context, limit=len(candidates)
        )
        assert [(item.product_id, item.score) for item in again] == [
            (item.product_id, item.score) for item in ranked
        ], "the pickled copy ranks differently"

    def test_ranks_within_the_time_budget(self, registry: RankerRegistry, catalog_artifacts: Path | None):
        """Every search ranks up to :data:`CATALOG_POOL` candidates while the shopper waits."""
        candidates = make_catalog_candidates()
        context = self.make_context(candidates, catalog_artifacts, registry)
        took = _best_time_ms(lambda: registry.rank(self.ranker, candidates, context, limit=PAGE))
        assert took <= self.time_budget_ms, (
            f"ranking {len(candidates)} candidates took {took:.0f} ms (the best of {TIMED_RUNS} runs); "
            f"the budget is {self.time_budget_ms:g} ms a request"
        )

    # --- helpers

    def _plugin_name(self) -> str:
        return self.plugin_name or self.ranker

    def _candidates(self) -> Candidates:
        return make_candidates(self.candidate_count, self.dim)

    def _trains(self, registry: RankerRegistry) -> bool:
        return self.train if self.train is not None else registry.rankers()[self.ranker].trainable

    def _own_scores(
        self,
        registry: RankerRegistry,
        plugin: object,
        candidates: Candidates,
        context: RankingContext,
        ranker: str | None = None,
    ) -> Any:
        return call_own_hook(
            registry,
            plugin,
            "aisle_score_candidates",
            ranker=ranker or self.ranker,
            candidates=candidates,
            context=context,
        )


# --------------------------------------------------------------------------- rerank contract


class RerankContract:
    """Tests every ``aisle_rerank`` wrapper must pass. Subclass it as ``Test…`` and set
    :attr:`plugin`; the tests rerank :func:`make_ranking` in :func:`make_context` over the same
    products, and rank through the built-in :attr:`ranker` to see the wrapper at work."""

    plugin: ClassVar[object | None] = None
    plugin_name: ClassVar[str | None] = None
    """The name the plugin is registered under (its entry-point name); default: the module's or
    class's name, and the entry point is the one naming the plugin's module."""
    builtins: ClassVar[Collection[str]] = BUILTINS
    ranker: ClassVar[str] = "cosine"
    """A loaded ranker to rank with."""
    time_budget_ms: ClassVar[float] = 20.0
    """The longest the wrapper may take over one request's :data:`CATALOG_POOL` candidates, in
    milliseconds (the best of :data:`TIMED_RUNS` runs counts)."""

    def make_plugin(self) -> object | None:
        return self.plugin

    def make_registry(self) -> RankerRegistry:
        plugin = self.make_plugin()
        assert plugin is not None, "set `plugin` (or override make_plugin) to the plugin under test"
        return registry_with(plugin, self.plugin_name or default_name(plugin), builtins=self.builtins)

    def make_context(self, ranking: Sequence[RankedProduct]) -> RankingContext:
        ids = [item.product_id for item in ranking]
        return make_context(make_candidates(len(ids), ids=ids))

    @pytest.fixture
    def registry(self) -> RankerRegistry:
        return self.make_registry()

    @pytest.fixture
    def ranking(self) -> list[RankedProduct]:
        return make_ranking()

    @pytest.fixture
    def context(self, ranking: list[RankedProduct]) -> RankingContext:
        return self.make_context(ranking)

    def test_hook_implementations_match_the_specs(self):
        _assert_matches_the_specs(self.make_plugin())

    def test_every_hook_function_is_registered(self):
        """Each function the plugin means as a hook implementation is one the registry calls."""
        plugin = self.make_plugin()
        assert plugin is not None, "set `plugin` (or override make_plugin) to the plugin under test"
        registry = RankerRegistry(allow=self.builtins, entry_points=False)
        registry.register(plugin, self.plugin_name or default_name(plugin))
        _assert_every_hook_is_registered(registry, plugin)

    def test_loads_from_its_entry_point(self, registry: RankerRegistry):
        """Aisle loads the wrapper from its installed ``aisle.rankers`` entry point, which names the
        plugin tested here (a module or an instance, not a class) and loads without an error."""
        plugin = self._own_plugin(registry)
        loaded, entry_point = _load_entry_point(plugin, self.plugin_name, self.builtins)
        hooks = _hooks_of(loaded, loaded.plugins.get_plugin(entry_point.name))
        assert "aisle_rerank" in hooks, f"entry point {entry_point.value!r} loads no aisle_rerank"
        assert hooks == _hooks_of(registry, plugin), (
            f"entry point {entry_point.value!r} loads a plugin with other hooks than the one tested"
        )

    def test_is_a_wrapper(self, registry: RankerRegistry):
        plugin = self._own_plugin(registry)
        implementations = _own_implementations(registry, plugin, "aisle_rerank")
        assert implementations, "the plugin implements no aisle_rerank"
        assert all(impl.wrapper or impl.hookwrapper for impl in implementations), (
            "aisle_rerank is first-result: a plain implementation hides the others; "
            "use @hookimpl(wrapper=True)"
        )

    def test_returns_only_products_it_was_given(
        self, registry: RankerRegistry, ranking: list[RankedProduct], context: RankingContext
    ):
        result = self._rerank(registry, list(ranking), context)
        assert isinstance(result, list)
        assert all(isinstance(item, RankedProduct) for item in result)
        ids = [item.product_id for item in result]
        assert len(set(ids)) == len(ids), "a product appears twice"
        assert set(ids) <= {item.product_id for item in ranking}

    def test_leaves_its_input_alone(
        self, registry: RankerRegistry, ranking: list[RankedProduct], context: RankingContext
    ):
        given = list(ranking)
        before = [(item.product_id, item.score) for item in given]
        self._rerank(registry, given, context)
        assert [(item.product_id, item.score) for item in given] == before, "return a copy instead"

    def test_is_deterministic(
        self, registry: RankerRegistry, ranking: list[RankedProduct], context: RankingContext
    ):
        def run(on: RankerRegistry) -> list[int]:
            return [item.product_id for item in self._rerank(on, list(ranking), context)]

        first = run(registry)
        assert run(registry) == first
        assert run(self.make_registry()) == first

    def test_handles_an_empty_list(self, registry: RankerRegistry, context: RankingContext):
        assert self._rerank(registry, [], context) == []

    def test_keeps_every_product_when_nothing_is_known(
        self, registry: RankerRegistry, ranking: list[RankedProduct]
    ):
        result = self._rerank(registry, list(ranking), RankingContext())
        assert sorted(item.product_id for item in result) == sorted(item.product_id for item in ranking)

    def test_runs_inside_rank(self, registry: RankerRegistry, ranking: list[RankedProduct]):
        ids = [item.product_id for item in ranking]
        candidates = make_candidates(len(ids), ids=ids)
        context = make_context(candidates, weights=weights_for(registry))
        result = registry.rank(self.ranker, candidates, context, limit=len(ids))
        assert {item.product_id for item in result} <= set(ids)
        assert all(isinstance(item.explanation, str) for item in result)

    @pytest.mark.parametrize("shop", CATALOG_SHOPS)
    def test_handles_catalog_shaped_candidates(self, registry: RankerRegistry, shop: str):
        """Real catalogs leave facts unknown (the IKEA and Best Buy sets rate nothing) and tie
        variants: the wrapper reorders :func:`make_catalog_candidates` without failing."""
        candidates = make_catalog_candidates(shop)
        ranking = _ranking_of(candidates)
        for context in (make_context(candidates), RankingContext()):
            result = self._rerank(registry, list(ranking), context, candidates)
            ids = [item.product_id for item in result]
            assert len(set(ids)) == len(ids), "a product appears twice"
            assert set(ids) <= {item.product_id for item in ranking}

    def test_reranks_within_the_time_budget(self, registry: RankerRegistry):
        """Every search hands the wrapper up to :data:`CATALOG_POOL` products while the shopper waits."""
        candidates = make_catalog_candidates()
        ranking, context = _ranking_of(candidates), make_context(candidates)
        took = _best_time_ms(lambda: self._rerank(registry, list(ranking), context, candidates))
        assert took <= self.time_budget_ms, (
            f"reranking {len(ranking)} products took {took:.0f} ms (the best of {TIMED_RUNS} runs); "
            f"the budget is {self.time_budget_ms:g} ms a request"
        )

    def _rerank(
        self,
        registry: RankerRegistry,
        ranking: list[RankedProduct],
        context: RankingContext,
        candidates: Candidates | None = None,
    ) -> list[RankedProduct]:
        """The wrapper chain called as Aisle calls it, with candidates (and facts) for the list."""
        if candidates is None:
            candidates = make_candidates(len(ranking), ids=[item.product_id for item in ranking])
        return registry.plugins.hook.aisle_rerank(
            ranking=ranking, context=context, ranker=self.ranker, candidates=candidates
        )

    def _own_plugin(self, registry: RankerRegistry) -> object:
        name = self.plugin_name or default_name(self.make_plugin())
        plugin = registry.plugins.get_plugin(name)
        assert plugin is not None, f"no plugin named {name!r} is registered"
        return plugin
