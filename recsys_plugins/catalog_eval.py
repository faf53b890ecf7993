"""Offline evaluation of any ranker on search queries made from the catalog (``evaluate_rankers``).

The queries come from the catalog's own fields, not from hand-fixed expectations: its product
types, and for each type a colour, material or brand that some (not all) of its products have, or
a price bound that splits its prices ("grey sofa", "samsung phone case", "bookcase under 200").
Each product's relevance to a query is graded from the same fields:

- 2: the query's product type, and every colour, material, brand and price bound it states;
- 1: the query's product type (or the category most products of that type are in), not all else;
- 0: anything else.

Each ranker orders the pool the live search found for the query, through
``RankerRegistry.rank`` (plugins' wrappers and all), and is scored on its first ``CUTOFF``
products:

- ``ndcg@10``: graded NDCG, gain ``2**grade - 1``, discount ``log2(rank + 1)``, against the
  catalog's best ten (so retrieval's misses count; ``ceiling`` is the best order of the pool);
- ``brand_diversity``: distinct brands over the products that name one (1.0: all different);
- ``category_diversity``: distinct product types (a product of unknown type: its first leaf
  category) over the products listed;
- ``price_cv``: coefficient of variation (population standard deviation over mean) of the prices,
  per currency with two products or more, weighted by how many products each has;
- ``ms``: mean milliseconds per ``rank`` call.

Every metric is a mean over the queries the ranker answered. No Django: the pools come from a
callable the caller supplies.
"""

import functools
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recsys_plugins.evaluation import CUTOFF
from recsys_plugins.manager import RankerFailed, RankerRegistry
from recsys_plugins.rankers.base import Candidates, ProductFacts, RankingContext

KINDS = ("type", "color", "material", "brand", "under", "over")
"""What a query states besides the product type, in the order queries are drawn."""
MIN_TYPE_PRODUCTS = 3
"""A product type needs this many products to be asked for."""
MIN_MATCHES = 2
"""A colour, material, brand or price bound is asked for only when at least this many products of
the type meet it, and at least one does not."""
RETRIEVAL = "retrieval"
"""The row of the pool's own order (the retrieval score), the baseline of every ranker."""
METRICS = ("ndcg@10", "brand_diversity", "category_diversity", "price_cv", "ms")

Pool = tuple[Candidates, RankingContext]
PoolSource = Callable[["CatalogQuery"], Pool | None]


@dataclass(frozen=True)
class CatalogQuery:
    """A search made from the catalog's fields, and what a product must have to meet it."""

    text: str
    kind: str
    """One of ``KINDS``: what the query states besides the product type."""
    product_type: str
    category: str
    """The leaf category most products of ``product_type`` are in."""
    color: str = ""
    material: str = ""
    brand: str = ""
    price_min: float | None = None
    price_max: float | None = None
    currency: str = ""
    """The currency of a price bound (the one most products of the type are priced in)."""

    @property
    def type_words(self) -> str:
        """How the query names its type."""
        return _spoken(self.product_type)

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value not in ("", None)}


def generate_queries(facts: ProductFacts, count: int, seed: int = 0) -> list[CatalogQuery]:
    """Up to ``count`` distinct queries over the products of ``facts``, the same for the same seed.

    Kinds take turns (``KINDS``), and within a kind every product type is asked about once before
    any is asked about twice; which types, values and bounds are drawn depends on ``seed``.
    """
    rng = np.random.default_rng(seed)
    by_type: dict[str, list[int]] = defaultdict(list)
    for row, kind in enumerate(facts.product_type):
        if kind:
            by_type[kind].append(row)
    options: dict[str, list[CatalogQuery]] = {kind: [] for kind in KINDS}
    for product_type in sorted(by_type):
        rows = by_type[product_type]
        if len(rows) < MIN_TYPE_PRODUCTS:
            continue
        for query in _queries_of_type(facts, product_type, rows, rng):
            options[query.kind].append(query)
    drawn = {kind: _spread_over_types(options[kind], rng) for kind in KINDS}
    queries: list[CatalogQuery] = []
    seen: set[str] = set()
    while len(queries) < count and any(drawn.values()):
        for kind in KINDS:
            if drawn[kind] and len(queries) < count:
                query = drawn[kind].pop(0)
                if query.text not in seen:
                    seen.add(query.text)
                    queries.append(query)
    return queries


def _queries_of_type(
    facts: ProductFacts, product_type: str, rows: list[int], rng: np.random.Generator
) -> Iterator[CatalogQuery]:
    """Every query the products of one type allow: the type alone, one per colour, material and
    brand some of them have, and a bound under and over which some of them are priced."""
    said = _spoken(product_type)
    category = Counter(leaf for row in rows for leaf in facts.categories[row]).most_common(1)
    base = {"product_type": product_type, "category": category[0][0] if category else ""}
    yield CatalogQuery(said, "type", **base)
    for kind in ("color", "material"):  # each the name of the attribute and of the query's field
        values = Counter(value for row in rows for value in set(facts.attributes[row].get(kind, ())))
        for value in sorted(_splitting(values, len(rows))):
            yield CatalogQuery(f"{value} {said}", kind, **base, **{kind: value})
    brands = Counter(facts.brand[row] for row in rows if facts.brand[row])
    for brand in sorted(_splitting(brands, len(rows))):
        yield CatalogQuery(f"{brand} {said}", "brand", **base, brand=brand)
    currency = Counter(facts.currency[row] for row in rows).most_common(1)[0][0]
    prices = np.sort(np.asarray([facts.price[row] for row in rows if facts.currency[row] == currency]))
    if len(prices) >= MIN_TYPE_PRODUCTS:
        bound = _round_price(float(np.quantile(prices, rng.uniform(0.3, 0.7))))
        below, above = int((prices <= bound).sum()), int((prices >= bound).sum())
        if MIN_MATCHES <= below < len(prices):
            yield CatalogQuery(f"{said} under {bound:g}", "under", **base, price_max=bound, currency=currency)
        if MIN_MATCHES <= above < len(prices):
            yield CatalogQuery(f"{said} over {bound:g}", "over", **base, price_min=bound, currency=currency)


def _splitting(counts: Counter[str], total: int) -> list[str]:
    """The values at least ``MIN_MATCHES`` products have, but not all ``total`` of them."""
    return [value for value, count in counts.items() if MIN_MATCHES <= count < total]


def _spread_over_types(queries: list[CatalogQuery], rng: np.random.Generator) -> list[CatalogQuery]:
    """``queries`` shuffled, then ordered so that each type comes once before any comes twice."""
    shuffled = [queries[i] for i in rng.permutation(len(queries))]
    turn: Counter[str] = Counter()
    keyed = []
    for position, query in enumerate(shuffled):
        keyed.append((turn[query.product_type], position, query))
        turn[query.product_type] += 1
    return [query for *_, query in sorted(keyed, key=lambda item: item[:2])]


def _spoken(product_type: str) -> str:
    """How a shopper names a type: the plainest of a label's alternatives ("a / b with c")."""
    return min((part.strip() for part in product_type.split(" / ")), key=len)


def _round_price(price: float) -> float:
    """``price`` to two significant figures (437.5 -> 440, 1290 -> 1300, 49.99 -> 50)."""
    if price <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(price)) - 1)
    return float(round(price / step) * step)


def grades(query: CatalogQuery, facts: ProductFacts) -> np.ndarray:
    """Each product's relevance to ``query`` (int8, row for row of ``facts``): 2, 1 or 0."""
    result = np.zeros(len(facts), dtype=np.int8)
    for row in range(len(facts)):
        exact = facts.product_type[row] == query.product_type
        if exact and _meets(query, facts, row):
            result[row] = 2
        elif exact or (query.category and query.category in facts.categories[row]):
            result[row] = 1
    return result


def _meets(query: CatalogQuery, facts: ProductFacts, row: int) -> bool:
    """Whether the product at ``row`` has every colour, material, brand and price ``query`` states."""
    attributes = facts.attributes[row]
    if query.color and query.color not in attributes.get("color", ()):
        return False
    if query.material and query.material not in attributes.get("material", ()):
        return False
    if query.brand and facts.brand[row] != query.brand:
        return False
    if query.price_min is None and query.price_max is None:
        return True
    price = float(facts.price[row])
    return (
        facts.currency[row] == query.currency
        and (query.price_min is None or price >= query.price_min)
        and (query.price_max is None or price <= query.price_max)
    )


def ndcg(ranked: Sequence[int], ideal: Sequence[int], k: int = CUTOFF) -> float:
    """Graded NDCG@k of the grades ``ranked`` in list order, against the best ``k`` of ``ideal``
    (every product's grade); 0.0 when nothing is relevant."""
    best = sorted(ideal, reverse=True)[:k]
    ideal_gain = _dcg(best)
    return _dcg(ranked[:k]) / ideal_gain if ideal_gain > 0 else 0.0


def _dcg(grades_in_order: Sequence[int]) -> float:
    return sum((2 ** int(grade) - 1) / math.log2(rank + 2) for rank, grade in enumerate(grades_in_order))


def brand_diversity(brands: Sequence[str]) -> float | None:
    """Distinct brands over the products that name one; ``None`` when none does."""
    named = [brand for brand in brands if brand]
    return len(set(named)) / len(named) if named else None


def category_diversity(kinds: Sequence[str]) -> float | None:
    """Distinct kinds over the products listed; ``None`` for an empty list."""
    return len(set(kinds)) / len(kinds) if kinds else None


def price_spread(prices: Sequence[float], currencies: Sequence[str]) -> dict[str, float]:
    """The coefficient of variation of ``prices`` per currency that prices two products or more."""
    groups: dict[str, list[float]] = defaultdict(list)
    for price, currency in zip(prices, currencies, strict=True):
        groups[currency].append(float(price))
    spread = {}
    for currency, values in sorted(groups.items()):
        mean = float(np.mean(values))
        if len(values) >= 2 and mean > 0:
            spread[currency] = float(np.std(values)) / mean
    return spread


@dataclass(frozen=True)
class Catalog:
    """Every product of an index version: its ids and its facts, row for row."""

    ids: np.ndarray
    facts: ProductFacts

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.facts):
            raise ValueError("the catalog needs one row of facts per product id")

    def rows_of(self, product_ids: Sequence[int]) -> list[int]:
        """Rows of the given ids; an id the catalog lacks is left out."""
        lookup = self._rows
        return [lookup[int(i)] for i in product_ids if int(i) in lookup]

    @functools.cached_property
    def _rows(self) -> dict[int, int]:
        return {int(product_id): row for row, product_id in enumerate(self.ids)}

    def kind(self, row: int) -> str:
        """A product's kind for category diversity: its type, else its first leaf category."""
        categories = self.facts.categories[row]
        return self.facts.product_type[row] or (categories[0] if categories else "")


def list_metrics(catalog: Catalog, rows: Sequence[int], query_grades: np.ndarray) -> dict[str, Any]:
    """NDCG@10, diversity and price spread of one ranked list (catalog rows, best first)."""
    rows = list(rows)[:CUTOFF]
    facts = catalog.facts
    spread = price_spread([facts.price[row] for row in rows], [facts.currency[row] for row in rows])
    sizes = Counter(facts.currency[row] for row in rows)
    weighted = sum(sizes[currency] * value for currency, value in spread.items())
    return {
        "ndcg@10": ndcg([int(query_grades[row]) for row in rows], query_grades),
        "brand_diversity": brand_diversity([facts.brand[row] for row in rows]),
        "category_diversity": category_diversity([catalog.kind(row) for row in rows]),
        "price_cv": weighted / sum(sizes[currency] for currency in spread) if spread else None,
        "price_cv_by_currency": spread,
    }


@dataclass
class _Scored:
    """What one ranker's lists scored, query by query."""

    lists: list[dict[str, Any]]
    kinds: list[str]
    failures: int = 0
    reason: str = ""
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {"queries": len(self.lists), "failed_queries": self.failures}
        for name in METRICS:
            values = [scored[name] for scored in self.lists if scored.get(name) is not None]
            row[name] = round(float(np.mean(values)), 4) if values else None
        by_currency: dict[str, list[float]] = defaultdict(list)
        for scored in self.lists:
            for currency, value in scored["price_cv_by_currency"].items():
                by_currency[currency].append(value)
        row["price_cv_by_currency"] = {c: round(float(np.mean(v)), 4) for c, v in sorted(by_currency.items())}
        by_kind: dict[str, list[float]] = defaultdict(list)
        for scored, kind in zip(self.lists, self.kinds, strict=True):
            by_kind[kind].append(scored["ndcg@10"])
        row["ndcg@10_by_kind"] = {
            kind: round(float(np.mean(by_kind[kind])), 4) for kind in KINDS if kind in by_kind
        }
        row["status"] = "failed" if self.failures else "ok"
        if self.reason:
            row["reason"] = self.reason
        row["hook_errors"] = self.errors
        return row


def evaluate(
    registry: RankerRegistry,
    rankers: Sequence[str],
    queries: Sequence[CatalogQuery],
    pool_of: PoolSource,
    catalog: Catalog,
) -> dict[str, Any]:
    """Rank each query's pool with every ranker of ``rankers`` and score the lists.

    ``pool_of`` gives the candidates and the context the live search would rank for a query
    (``None``: it found nothing to rank; the query is left out). A ranker whose plugin fails on a
    query (``RankerFailed``) is marked failed with the first reason, and scored on the queries
    it answered; the other rankers are not affected. ``hook_errors`` counts the hook calls the
    registry skipped while the ranker ranked (a failing wrapper or explanation).
    """
    scored = {name: _Scored([], []) for name in (RETRIEVAL, *rankers)}
    pools, ceilings, searched = [], [], []
    evaluated = []
    for query in queries:
        started = time.perf_counter()
        pool = pool_of(query)
        searched.append(time.perf_counter() - started)
        if pool is None or len(pool[0]) == 0:
            continue
        candidates, context = pool
        query_grades = grades(query, catalog.facts)
        pool_rows = catalog.rows_of(candidates.ids)
        evaluated.append(query)
        pools.append(len(candidates))
        best_order = sorted(pool_rows, key=lambda row: -int(query_grades[row]))
        ceilings.append(ndcg([int(query_grades[row]) for row in best_order], query_grades))
        _add(scored[RETRIEVAL], list_metrics(catalog, pool_rows, query_grades), query.kind, 0.0)
        for name in rankers:
            errors_before = sum(registry.runtime_errors.values())
            with _hook_exceptions(registry) as raised:
                started = time.perf_counter()
                try:
                    ranked = registry.rank(name, candidates, context, CUTOFF)
                except RankerFailed as failure:
                    record = scored[name]
                    record.failures += 1
                    record.reason = record.reason or (raised[-1] if raised else str(failure))
                    continue
                finally:
                    scored[name].errors += sum(registry.runtime_errors.values()) - errors_before
                elapsed = time.perf_counter() - started
            rows = catalog.rows_of([product.product_id for product in ranked])
            _add(scored[name], list_metrics(catalog, rows, query_grades), query.kind, elapsed)
    installed = registry.rankers()
    results = {}
    for name, record in scored.items():
        row = record.summary()
        if name == RETRIEVAL:
            row.update(ms=None, hook_errors=0, plugin="", package="the search's own order")
        else:
            row.update(plugin=installed[name].plugin, package=_package(installed[name]))
        results[name] = row
    return {
        "queries": len(queries),
        "evaluated": len(evaluated),
        "query_set": [query.as_dict() for query in evaluated],
        "pool": {
            "mean_size": round(float(np.mean(pools)), 1) if pools else 0.0,
            "ceiling_ndcg@10": round(float(np.mean(ceilings)), 4) if ceilings else None,
            "search_ms": round(1000 * float(np.mean(searched)), 2) if searched else None,
        },
        "rankers": results,
        "failed_plugins": dict(registry.failed),
    }


def _add(record: _Scored, metrics: dict[str, Any], kind: str, elapsed: float) -> None:
    record.lists.append({**metrics, "ms": 1000 * elapsed})
    record.kinds.append(kind)


def _package(installed: Any) -> str:
    return f"{installed.package} {installed.version}".strip()


@contextmanager
def _hook_exceptions(registry: RankerRegistry) -> Iterator[list[str]]:
    """The exceptions scoring hooks raise meanwhile, as "Type: message" (the registry logs them
    once per process and raises ``RankerFailed`` without them)."""
    raised: list[str] = []

    def before(hook_name: str, implementations: Any, kwargs: Mapping[str, Any]) -> None:
        pass

    def after(outcome: Any, hook_name: str, implementations: Any, kwargs: Mapping[str, Any]) -> None:
        if hook_name == "aisle_score_candidates" and outcome.exception is not None:
            raised.append(f"{type(outcome.exception).__name__}: {outcome.exception}")

    undo = registry.plugins.add_hookcall_monitoring(before, after)
    try:
        yield raised
    finally:
        undo()
