"""Offline evaluation of any ranker on catalog queries (``evaluate_rankers``): the queries and
grades made from the catalog's fields, the list metrics, failures kept to the failing ranker, and
the command on the demo catalog with every installed ranker, the example plugin included."""

import io
import json
import math
from importlib import metadata

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recsys_plugins import ranking
from recsys_plugins.catalog_eval import (
    KINDS,
    MIN_MATCHES,
    RETRIEVAL,
    Catalog,
    CatalogQuery,
    brand_diversity,
    category_diversity,
    evaluate,
    generate_queries,
    grades,
    ndcg,
    price_spread,
)
from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.manager import ENTRY_POINT_GROUP
from recsys_plugins.rankers.base import Candidates, ProductFacts, RankerInfo, RankingContext
from recsys_plugins.testing import make_facts, registry_with, unit_vectors

from .conftest import IN_CI


def facts_of(rows: list[dict]) -> ProductFacts:
    """Facts of hand-written products: type, category, brand, price, currency, colour, material."""
    return ProductFacts(
        brand=tuple(row.get("brand", "") for row in rows),
        price=np.asarray([row.get("price", 100.0) for row in rows], dtype=np.float64),
        currency=tuple(row.get("currency", "USD") for row in rows),
        categories=tuple((row["category"],) for row in rows),
        product_type=tuple(row.get("type", "") for row in rows),
        stock=np.full(len(rows), -1, dtype=np.int64),
        rating=np.full(len(rows), np.nan),
        rating_count=np.full(len(rows), np.nan),
        popularity=np.full(len(rows), np.nan),
        attributes=tuple(
            {"color": row.get("color", []), "material": row.get("material", [])} for row in rows
        ),
    )


SOFAS = "furniture/sofas"
SHOP = facts_of(
    [
        {"type": "sofa", "category": SOFAS, "brand": "halden", "price": 400, "color": ["grey"]},
        {"type": "sofa", "category": SOFAS, "brand": "halden", "price": 900, "color": ["grey"]},
        {"type": "sofa", "category": SOFAS, "brand": "solvik", "price": 650, "color": ["blue"]},
        {"type": "sofa", "category": SOFAS, "brand": "solvik", "price": 1200, "color": ["green"]},
        {"type": "corner sofa", "category": SOFAS, "brand": "halden", "price": 1500, "color": ["grey"]},
        {"type": "", "category": SOFAS, "brand": "", "price": 300, "color": ["grey"]},
        {"type": "phone case", "category": "electronics/cases", "brand": "brisk", "price": 20},
        {"type": "phone case", "category": "electronics/cases", "brand": "brisk", "price": 35},
        {"type": "phone case", "category": "electronics/cases", "brand": "nexora", "price": 90},
    ]
)


# --------------------------------------------------------------------------- queries and grades


def test_queries_come_from_the_catalogs_types_and_fields_and_follow_the_seed():
    queries = generate_queries(SHOP, 50, seed=3)
    texts = [query.text for query in queries]
    assert "sofa" in texts
    assert "phone case" in texts
    assert "grey sofa" in texts  # two of the four sofas are grey
    assert "blue sofa" not in texts  # only one is: not enough to ask for
    assert "halden sofa" in texts
    assert "brisk phone case" in texts
    assert any(text.startswith("sofa under ") for text in texts)
    assert not any("corner sofa" in text for text in texts)  # one product: too few to ask for
    assert len(set(texts)) == len(texts)
    kinds = [query.kind for query in queries]
    present = [kind for kind in KINDS if kind in kinds]  # no product states a material
    assert kinds[: len(present)] == present  # kinds take turns
    assert generate_queries(SHOP, 50, seed=3) == queries
    assert generate_queries(SHOP, 4, seed=3) == queries[:4]


def test_every_query_has_products_that_meet_it_and_products_that_do_not():
    facts = make_facts(200, seed=5)
    queries = generate_queries(facts, 60, seed=1)
    assert {query.kind for query in queries} == set(KINDS)
    for query in queries:
        graded = grades(query, facts)
        assert (graded == 2).sum() >= MIN_MATCHES, query
        if query.kind != "type":
            assert (graded == 1).any(), query  # of the type, but not all it states


def test_grades_two_for_type_and_everything_stated_one_for_type_or_category_alone():
    query = CatalogQuery(
        "grey sofa under 700", "under", "sofa", SOFAS, color="grey", price_max=700.0, currency="USD"
    )
    assert grades(query, SHOP).tolist() == [2, 1, 1, 1, 1, 1, 0, 0, 0]
    assert grades(CatalogQuery("halden sofa", "brand", "sofa", SOFAS, brand="halden"), SHOP).tolist()[:5] == [
        2,
        2,
        1,
        1,
        1,
    ]
    in_riyal = CatalogQuery("sofa under 700", "under", "sofa", SOFAS, price_max=700.0, currency="SAR")
    assert grades(in_riyal, SHOP).tolist()[:4] == [1, 1, 1, 1]  # a bound in another currency


# --------------------------------------------------------------------------- list metrics


def test_ndcg_is_graded_against_the_best_ten_of_the_whole_catalog():
    # DCG = (2^1-1)/log2(2) + (2^2-1)/log2(3) = 2.8928; ideal (2, 1) = 3/log2(2) + 1/log2(3) = 3.6309
    assert ndcg([1, 2, 0], [0, 2, 1, 0, 0]) == pytest.approx(0.7967, abs=1e-4)
    assert ndcg([1, 2, 0], [0, 2, 1, 0, 0]) == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert ndcg([2, 1], [2, 1, 0]) == 1.0
    assert ndcg([0, 0], [0, 0, 0]) == 0.0
    assert ndcg([2] * 12, [2] * 12) == 1.0  # the cut at ten, both sides
    assert ndcg([0] * 10 + [2], [2, 0]) == 0.0


def test_diversity_and_price_spread_on_tiny_lists():
    assert brand_diversity(["halden", "halden", "solvik", ""]) == pytest.approx(2 / 3)
    assert brand_diversity(["", ""]) is None
    assert category_diversity(["sofa", "sofa", "sofa", "armchair"]) == 0.5
    assert category_diversity([]) is None
    spread = price_spread([10.0, 30.0, 500.0], ["USD", "USD", "SAR"])
    assert spread == {"USD": pytest.approx(0.5)}  # std 10 over mean 20; one SAR price: no spread
    assert price_spread([10.0, 10.0], ["USD", "USD"]) == {"USD": 0.0}


# --------------------------------------------------------------------------- evaluate, pure


class Reversed:
    """Orders the pool against the retrieval score: the worst first."""

    @hookimpl
    def aisle_register_rankers(self):
        return [RankerInfo("reversed", "Retrieval order, reversed.")]

    @hookimpl
    def aisle_score_candidates(self, ranker, candidates):
        return None if ranker != "reversed" else -np.asarray(candidates.relevance, dtype=np.float64)


class Broken:
    """A ranker whose plugin goes wrong in the way ``how`` says."""

    def __init__(self, how: str) -> None:
        self.how = how

    @hookimpl
    def aisle_register_rankers(self):
        return [RankerInfo("broken", "goes wrong")]

    @hookimpl
    def aisle_score_candidates(self, ranker, candidates):
        if ranker != "broken":
            return None
        if self.how == "raises":
            raise ZeroDivisionError("division by zero")
        return np.full(len(candidates), np.nan)


def oracle_pools(catalog: Catalog):
    """The whole catalog as every query's pool, in the order of the query's grades."""

    def pool_of(query: CatalogQuery) -> tuple[Candidates, RankingContext]:
        relevance = grades(query, catalog.facts) + np.linspace(0.5, 0.0, len(catalog.ids))
        order = np.argsort(-relevance, kind="stable")  # retrieval order: best first
        vectors = unit_vectors(np.random.default_rng(0), len(order), 8)
        candidates = Candidates(catalog.ids[order], vectors, relevance[order], catalog.facts.take(order))
        return candidates, RankingContext()

    return pool_of


@pytest.mark.parametrize(
    ("how", "reason"), [("raises", "ZeroDivisionError: division by zero"), ("NaN", "NaN")]
)
def test_a_failing_ranker_is_reported_with_its_reason_and_the_others_are_scored(how, reason):
    registry = registry_with(Broken(how), "broken")
    registry.register(Reversed(), "reversed")
    catalog = Catalog(np.arange(100, 100 + len(SHOP)), SHOP)
    queries = generate_queries(SHOP, 8)
    report = evaluate(registry, ["broken", "cosine", "reversed"], queries, oracle_pools(catalog), catalog)
    rows = report["rankers"]
    assert list(rows) == [RETRIEVAL, "broken", "cosine", "reversed"]
    assert rows["broken"]["status"] == "failed"
    assert reason in rows["broken"]["reason"]
    assert rows["broken"]["failed_queries"] == report["evaluated"] == len(queries)
    assert rows["broken"]["queries"] == 0
    assert rows["broken"]["ndcg@10"] is None
    for name in ("cosine", "reversed"):
        assert rows[name]["status"] == "ok"
        assert rows[name]["queries"] == len(queries)
        assert rows[name]["ms"] >= 0
    assert rows[RETRIEVAL]["ndcg@10"] == report["pool"]["ceiling_ndcg@10"] == 1.0
    assert rows["reversed"]["ndcg@10"] < rows[RETRIEVAL]["ndcg@10"]
    assert rows["reversed"]["plugin"] == "reversed"


def test_a_query_without_a_pool_is_left_out():
    registry = registry_with()
    catalog = Catalog(np.arange(len(SHOP)), SHOP)
    queries = generate_queries(SHOP, 6)
    with_pools = oracle_pools(catalog)
    report = evaluate(
        registry, ["cosine"], queries, lambda q: None if q.kind == "type" else with_pools(q), catalog
    )
    assert report["queries"] == len(queries)
    assert report["evaluated"] == len(queries) - sum(query.kind == "type" for query in queries)
    assert all(query["kind"] != "type" for query in report["query_set"])


# --------------------------------------------------------------------------- the command


def run(*arguments: str) -> tuple[dict, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate_rankers", *arguments, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


@pytest.fixture
def fresh_registry():
    """This process's registry, loaded afresh (entry points included) and again after the test."""
    ranking.registry.cache_clear()
    yield ranking.registry
    ranking.registry.cache_clear()


@pytest.mark.django_db
def test_the_command_scores_every_installed_ranker_beside_the_retrieval_order(
    indexed_catalog, fresh_registry
):
    if not any(ep.name == "novelty" for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)):
        message = "the example plugin is not installed: pip install -e examples/aisle-novelty --no-deps"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    report, table = run("--queries", "12", "--seed", "2")
    installed = fresh_registry().rankers()
    assert "novelty" in installed
    assert list(report["rankers"]) == [RETRIEVAL, *installed]
    assert report["queries"] == 12
    assert report["evaluated"] >= 10
    assert report["filters"] == "type"
    for name, row in report["rankers"].items():
        assert row["status"] == "ok", (name, row)
        assert 0.0 <= row["ndcg@10"] <= report["pool"]["ceiling_ndcg@10"] + 1e-9
        assert 0.0 < row["category_diversity"] <= 1.0
    assert report["rankers"]["novelty"]["package"] == "aisle-novelty 0.1.0"
    for name in report["rankers"]:
        assert f"\n  {name} " in table
    again, _ = run("--queries", "12", "--seed", "2")
    assert again["query_set"] == report["query_set"]  # seeded: the same queries, the same pools
    assert {name: row["ndcg@10"] for name, row in again["rankers"].items()} == {
        name: row["ndcg@10"] for name, row in report["rankers"].items()
    }


@pytest.mark.django_db
def test_the_command_reports_a_broken_plugin_ranker_as_failed_and_scores_the_others(
    indexed_catalog, fresh_registry
):
    fresh_registry().register(Broken("raises"), "broken")
    report, table = run("--queries", "6", "--rankers", "broken,cosine,hybrid", "--filters", "parsed")
    rows = report["rankers"]
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["reason"] == "ZeroDivisionError: division by zero"
    assert rows["broken"]["failed_queries"] == report["evaluated"] > 0
    assert rows["cosine"]["status"] == rows["hybrid"]["status"] == "ok"
    assert rows["cosine"]["queries"] == report["evaluated"]
    assert "broken        failed on every query: ZeroDivisionError: division by zero" in table


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_ranker_and_a_missing_index(settings, tmp_path, fresh_registry):
    with pytest.raises(CommandError, match=r"no ranker named nope; installed: .*cosine"):
        run("--rankers", "cosine,nope")
    settings.DATA_DIR = tmp_path
    with pytest.raises(CommandError, match="run build_index first"):
        run()
