"""The Django-free retrieval core: hard filters, the vector and BM25 indexes, fusion, the
versioned index store with its hot reload, the retriever over the real encoder, and keyword slots.

Filters and indexes are checked against brute-force references over seeded random data; the
store is checked against a publisher process that is killed half-way and against readers in
threads while versions are published. Nothing here touches the database.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import types
from typing import NamedTuple

import numpy as np
import pytest

from catalog.retrieval import vector_index
from catalog.retrieval.constraints import NO_CONSTRAINTS, Constraints, constraints_from_slots
from catalog.retrieval.encoder import get_encoder
from catalog.retrieval.filters import FilterRow, FilterTable, Postings
from catalog.retrieval.fusion import RRF_C, convex_fusion, reciprocal_rank_fusion
from catalog.retrieval.keyword_slots import Vocabulary, extract_slots, parse_amount
from catalog.retrieval.lexical_index import LexicalIndex, best_matches, fold_accents, tokenize
from catalog.retrieval.product_text import product_text
from catalog.retrieval.retriever import Hit, Retriever
from catalog.retrieval.store import IndexStore, LiveIndex
from catalog.retrieval.vector_index import VectorIndex, top_k
from core import versions as versions_module
from core.versions import KEEP_VERSIONS

from .conftest import ROOT

# --------------------------------------------------------------------------- helpers


def unit_vectors(rng: np.random.Generator, n: int, d: int = 64, latent: int = 32) -> np.ndarray:
    """Clustered unit vectors of low intrinsic dimension, like sentence embeddings."""
    basis = np.random.default_rng(1).standard_normal((latent, d))
    centres = np.random.default_rng(2).standard_normal((40, latent))
    z = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, latent))
    x = z @ basis + rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top_k(vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None):
    positions = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    scores = vectors[positions] @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return positions[order], scores[order]


def key(name: str) -> str:
    """The reference normalisation of names, written independently of the module's."""
    return name.replace("™", "").replace("®", "").strip().lower()


def satisfies(row: FilterRow, product_id: int, c: Constraints) -> bool:
    """Brute-force reference for ``FilterTable.mask``."""
    if c.price_min is not None and row.price < c.price_min:
        return False
    if c.price_max is not None and row.price > c.price_max:
        return False
    if c.in_stock and row.stock == 0:
        return False
    brand = key(row.brand)
    if c.brands and (not brand or brand not in {key(b) for b in c.brands}):
        return False
    if brand and brand in {key(b) for b in c.exclude_brands}:
        return False
    if c.categories:
        wanted = [path.strip("/") for path in c.categories]
        if not any(own == w or own.startswith(w + "/") for own in row.categories for w in wanted):
            return False
    for values, wanted, unwanted in (
        (row.colors, c.colors, c.exclude_colors),
        (row.materials, c.materials, c.exclude_materials),
    ):
        own = {key(v) for v in values}
        if wanted and not own & {key(w) for w in wanted}:
            return False
        if own & {key(u) for u in unwanted}:
            return False
    return product_id not in c.exclude_ids


BRAND_NAMES = ["Nordal", "IKEA", "ikea ", "Insignia™", "Casa Verde", "", "Sony"]
CATEGORY_PATHS = [
    "furniture/sofas",
    "furniture/sofas/corner",
    "furniture/storage/bookcases",
    "furniture/tables",
    "electronics/cell-phones/cases",
    "electronics/chargers",
    "home",
]
COLOR_NAMES = ["Grey", "grey", "BLACK", "white", "beige", "Blue", "Brown"]
MATERIAL_NAMES = ["Oak", "fabric", "Leather", "glass", "metal", "wool"]
# Constraint values include paths that are prefixes of real ones but not ancestors ("furniture/sofa").
QUERY_CATEGORIES = [
    "furniture",
    "furniture/sofas",
    "/furniture/sofas/",
    "furniture/sofa",
    "electronics",
    "home",
]
QUERY_BRANDS = ["nordal", "IKEA", "Insignia", "INSIGNIA™", "casa verde", "sony", "unknown brand"]


def random_rows(rng: np.random.Generator, n: int) -> list[FilterRow]:
    def some(names: list[str], most: int) -> list[str]:
        return list(rng.choice(names, size=rng.integers(0, most + 1)))

    return [
        FilterRow(
            price=float(rng.integers(0, 60)),
            stock=[None, 0, 1, 7][rng.integers(0, 4)],
            brand=str(rng.choice(BRAND_NAMES)),
            categories=some(CATEGORY_PATHS, 2),
            colors=some(COLOR_NAMES, 3),
            materials=some(MATERIAL_NAMES, 2),
        )
        for _ in range(n)
    ]


def random_constraints(rng: np.random.Generator, ids: np.ndarray) -> Constraints:
    def maybe(names: list[str], chance: float = 0.35) -> tuple[str, ...]:
        if rng.random() > chance:
            return ()
        return tuple(rng.choice(names, size=rng.integers(1, 3)))

    low = float(rng.integers(0, 60)) if rng.random() < 0.4 else None
    high = float(rng.integers(0, 60)) if rng.random() < 0.4 else None
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Constraints(
        price_min=low,
        price_max=high,
        categories=maybe(QUERY_CATEGORIES),
        brands=maybe(QUERY_BRANDS, 0.25),
        colors=maybe(COLOR_NAMES),
        materials=maybe(MATERIAL_NAMES),
        in_stock=bool(rng.random() < 0.3),
        exclude_brands=maybe(QUERY_BRANDS, 0.2),
        exclude_colors=maybe(COLOR_NAMES, 0.2),
        exclude_materials=maybe(MATERIAL_NAMES, 0.2),
        exclude_ids=tuple(rng.choice(ids, size=rng.integers(0, 20))) if rng.random() < 0.3 else (),
    )


def sample_inputs(n: int, seed: int = 0, d: int = 16):
    """Row-aligned ``publish`` inputs for ``n`` products."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64) * 10 + 7
    vectors = unit_vectors(rng, n, d=d, latent=8) if n else np.zeros((0, d), dtype=np.float32)
    texts = [f"item {i} {'sofa' if i % 2 else 'bookcase'} grey" for i in range(n)]
    rows = [FilterRow(price=float(i), stock=i % 3, brand="Nordal", colors=["grey"]) for i in range(n)]
    return ids, vectors, texts, rows


def publish_sample(store: IndexStore, n: int, seed: int = 0, **kwargs) -> str:
    return store.publish(*sample_inputs(n, seed), **kwargs)


def assert_complete(version) -> None:
    """A loaded version whose parts all describe the same products."""
    n = version.manifest["products"]
    assert len(version.ids) == n
    assert len(version.vectors) == n
    assert len(version.lexical) == n
    assert len(version.filters) == n
    assert version.manifest["version"] == version.name


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result


# --------------------------------------------------------------------------- Constraints and FilterTable


def test_constraints_normalise_names_paths_and_ids():
    c = Constraints(
        brands=(" IKEA ", "ikea™", "Insignia®"),
        colors=("Grey", "grey"),
        categories=("/furniture/sofas/", "furniture/sofas"),
        exclude_ids=(np.int64(3), "4"),
    )
    assert c.brands == ("ikea", "insignia")
    assert c.colors == ("grey",)
    assert c.categories == ("furniture/sofas",)
    assert c.exclude_ids == (3, 4)
    assert c.as_dict() == {
        "brands": ["ikea", "insignia"],
        "colors": ["grey"],
        "categories": ["furniture/sofas"],
        "exclude_ids": [3, 4],
    }


def test_constraints_reject_an_inverted_price_range_but_accept_an_equal_one():
    with pytest.raises(ValueError, match="above price_max"):
        Constraints(price_min=500, price_max=200)
    assert Constraints(price_min=200, price_max=200).price_max == 200


def test_empty_constraints_mask_nothing():
    table = FilterTable.build(random_rows(np.random.default_rng(0), 10))
    assert Constraints().is_empty()
    assert Constraints(in_stock=False, brands=()).is_empty()
    assert not Constraints(in_stock=True).is_empty()
    assert table.mask(NO_CONSTRAINTS) is None
    assert table.mask(Constraints(), np.arange(10)) is None


def test_price_bounds_are_inclusive():
    table = FilterTable.build([FilterRow(price=p) for p in (9.99, 10.0, 15.5, 20.0, 20.01)])
    assert table.mask(Constraints(price_min=10, price_max=20)).tolist() == [False, True, True, True, False]
    assert table.mask(Constraints(price_min=20)).tolist() == [False, False, False, True, True]
    assert table.mask(Constraints(price_max=10)).tolist() == [True, True, False, False, False]


def test_a_category_filter_takes_the_whole_subtree_and_only_real_ancestors():
    table = FilterTable.build(
        [
            FilterRow(price=1, categories=["furniture/sofas/corner"]),
            FilterRow(price=1, categories=["furniture/sofas"]),
            FilterRow(price=1, categories=["furniture/sofa-beds"]),
            FilterRow(price=1, categories=["electronics/cell-phones/cases", "furniture/tables"]),
            FilterRow(price=1, categories=[]),
        ]
    )

    def under(*paths: str) -> list[int]:
        return np.flatnonzero(table.mask(Constraints(categories=paths))).tolist()

    assert under("furniture") == [0, 1, 2, 3]
    assert under("furniture/sofas") == [0, 1]
    assert under("/furniture/sofas/") == [0, 1]
    assert under("furniture/sofas/corner") == [0]
    assert under("furniture/sofa") == []  # a prefix of a name is not a parent
    assert under("sofas") == []  # nor is a lower level on its own
    assert under("electronics/cell-phones", "furniture/sofas/corner") == [0, 3]


def test_brands_match_whatever_the_case_spacing_or_trade_mark():
    table = FilterTable.build(
        [
            FilterRow(price=1, brand="IKEA"),
            FilterRow(price=1, brand="ikea "),
            FilterRow(price=1, brand="Insignia™"),
            FilterRow(price=1, brand=""),
            FilterRow(price=1, brand="Sony"),
        ]
    )
    assert table.brands == ["ikea", "insignia", "sony"]
    assert table.mask(Constraints(brands=("Ikea",))).tolist() == [True, True, False, False, False]
    assert table.mask(Constraints(brands=("INSIGNIA",))).tolist() == [False, False, True, False, False]
    assert table.mask(Constraints(brands=("insignia™", "SONY"))).tolist() == [False, False, True, False, True]
    assert not table.mask(Constraints(brands=("nobody",))).any()
    # Excluding a brand keeps products without a brand.
    assert table.mask(Constraints(exclude_brands=("ikea™",))).tolist() == [False, False, True, True, True]


def test_colours_and_materials_match_any_of_the_wanted_values_and_none_of_the_excluded():
    table = FilterTable.build(
        [
            FilterRow(price=1, colors=["Grey", "black"], materials=["Oak"]),
            FilterRow(price=1, colors=["beige"], materials=["fabric", "oak"]),
            FilterRow(price=1, colors=[], materials=["leather"]),
        ]
    )
    assert table.mask(Constraints(colors=("grey", "beige"))).tolist() == [True, True, False]
    assert table.mask(Constraints(colors=("GREY",), materials=("oak",))).tolist() == [True, False, False]
    assert table.mask(Constraints(exclude_colors=("black",))).tolist() == [False, True, True]
    assert table.mask(Constraints(materials=("oak",), exclude_materials=("Fabric",))).tolist() == [
        True,
        False,
        False,
    ]


def test_in_stock_drops_known_zero_stock_and_keeps_unknown_stock():
    table = FilterTable.build([FilterRow(price=1, stock=s) for s in (0, None, 3, 0, 1)])
    assert table.mask(Constraints(in_stock=True)).tolist() == [False, True, True, False, True]


def test_excluded_ids_are_dropped_by_product_id_not_position():
    table = FilterTable.build([FilterRow(price=1) for _ in range(4)])
    ids = np.array([40, 30, 20, 10], dtype=np.int64)
    assert table.mask(Constraints(exclude_ids=(10, 30, 999)), ids).tolist() == [True, False, True, False]


def test_mask_equals_a_brute_force_predicate_for_random_constraints():
    rng = np.random.default_rng(42)
    rows = random_rows(rng, 600)
    ids = rng.permutation(10_000)[:600].astype(np.int64)
    table = FilterTable.build(rows)
    selective = 0
    for _ in range(400):
        constraints = random_constraints(rng, ids)
        mask = table.mask(constraints, ids)
        if constraints.is_empty():
            assert mask is None
            continue
        expected = [satisfies(row, int(i), constraints) for row, i in zip(rows, ids, strict=True)]
        assert mask.dtype == bool
        assert mask.tolist() == expected, constraints
        selective += 0 < sum(expected) < len(rows)
    assert selective > 200  # the random constraints really do select


def test_filter_table_survives_a_save_and_load_unchanged(tmp_path):
    rng = np.random.default_rng(7)
    rows = random_rows(rng, 300)
    ids = np.arange(300, dtype=np.int64) + 1000
    table = FilterTable.build(rows)
    table.save(tmp_path)
    loaded = FilterTable.load(tmp_path)
    assert len(loaded) == 300
    assert loaded.brands == table.brands
    for _ in range(150):
        constraints = random_constraints(rng, ids)
        before, after = table.mask(constraints, ids), loaded.mask(constraints, ids)
        assert (before is None and after is None) or np.array_equal(before, after)


def test_an_empty_filter_table_gives_empty_masks(tmp_path):
    table = FilterTable.build([])
    assert len(table) == 0
    assert table.mask(Constraints(colors=("grey",), in_stock=True)).shape == (0,)
    table.save(tmp_path)
    assert FilterTable.load(tmp_path).mask(Constraints(price_max=3)).shape == (0,)


def test_postings_hold_sorted_positions_per_value():
    postings = Postings.from_lists([["a", "b"], ["b"], [], ["a", "a"], ["c"]])
    assert postings.values == ["a", "b", "c"]
    assert postings.offsets.tolist() == [0, 2, 4, 5]
    assert postings.positions.tolist() == [0, 3, 0, 1, 4]
    assert postings.any_of(["a"], 5).tolist() == [True, False, False, True, False]
    assert postings.any_of(["c", "b"], 5).tolist() == [True, True, False, False, True]
    assert not postings.any_of(["zzz"], 5).any()
    assert not Postings.from_lists([]).any_of(["a"], 0).any()


# --------------------------------------------------------------------------- VectorIndex


@pytest.fixture(scope="module")
def clustered_5000() -> np.ndarray:
    return unit_vectors(np.random.default_rng(5), 5000, d=384, latent=48)


@pytest.fixture(scope="module")
def hnsw_5000(clustered_5000: np.ndarray) -> VectorIndex:
    return VectorIndex.build(clustered_5000, kind="hnsw")


def test_top_k_orders_best_first_with_ties_by_lower_position():
    positions, scores = top_k(np.array([7, 3, 9, 1]), np.array([0.5, 0.9, 0.5, 0.1]), 3)
    assert positions.tolist() == [3, 7, 9]
    assert scores.tolist() == [0.9, 0.5, 0.5]
    assert top_k(np.array([2, 1]), np.array([1.0, 2.0]), 10)[0].tolist() == [1, 2]


def test_top_k_keeps_the_lowest_positions_among_ties_at_the_cut():
    """Ties at the cut are settled by position too, so a shorter list is a prefix of a longer one."""
    assert top_k(np.array([5, 3, 9, 1]), np.ones(4), 2)[0].tolist() == [1, 3]
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 3, 50).astype(np.float64)
    longest = top_k(np.arange(50), scores, 40)[0]
    for k in range(1, 40):
        assert top_k(np.arange(50), scores, k)[0].tolist() == longest[:k].tolist(), k


def test_flat_search_equals_brute_force_top_k():
    rng = np.random.default_rng(11)
    vectors = unit_vectors(rng, 2000, d=64)
    index = VectorIndex.build(vectors)  # auto: below HNSW_THRESHOLD is exact
    assert index.kind == "flat"
    assert not index.is_approximate
    assert len(index) == 2000
    for query in unit_vectors(rng, 25, d=64):
        positions, scores = index.search(query, 10)
        expected_positions, expected_scores = exact_top_k(vectors, query, 10)
        assert positions.dtype == np.int64
        assert positions.tolist() == expected_positions.tolist()
        assert np.allclose(scores, expected_scores, atol=1e-5)
        assert np.allclose(index.scores_for(query, positions), expected_scores, atol=1e-5)


def test_unknown_index_kind_is_refused():
    with pytest.raises(ValueError, match="auto, flat or hnsw"):
        VectorIndex.build(np.ones((3, 4), dtype=np.float32), kind="ivf")


def test_hnsw_recall_at_10_against_exact_search(clustered_5000, hnsw_5000):
    assert hnsw_5000.kind == "hnsw"
    assert hnsw_5000.is_approximate
    assert np.array_equal(hnsw_5000.vectors, clustered_5000)  # a view of faiss's own copy
    queries = unit_vectors(np.random.default_rng(99), 200, d=384, latent=48)
    recalls = []
    for query in queries:
        positions, scores = hnsw_5000.search(query, 10)
        assert len(positions) == 10
        assert np.all(np.diff(scores) <= 1e-6)
        recalls.append(len(set(positions.tolist()) & set(exact_top_k(clustered_5000, query, 10)[0])) / 10)
    assert np.mean(recalls) >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_filtered_search_is_the_exact_filtered_top_k_below_the_scan_limit(kind, clustered_5000, hnsw_5000):
    index = hnsw_5000 if kind == "hnsw" else VectorIndex.build(clustered_5000, kind="flat")
    rng = np.random.default_rng(21)
    queries = unit_vectors(rng, 20, d=384, latent=48)
    for share in (0.002, 0.05, 0.5, 0.98):
        allowed = rng.random(len(clustered_5000)) < share
        assert np.count_nonzero(allowed) <= vector_index.EXACT_SCAN_LIMIT
        for query in queries:
            positions, scores = index.search(query, 10, allowed)
            assert allowed[positions].all()
            expected_positions, expected_scores = exact_top_k(clustered_5000, query, 10, allowed)
            assert positions.tolist() == expected_positions.tolist()
            assert np.allclose(scores, expected_scores, atol=1e-5)


def test_hnsw_filtered_search_through_the_id_selector_returns_only_allowed_rows(
    monkeypatch, clustered_5000, hnsw_5000
):
    monkeypatch.setattr(vector_index, "EXACT_SCAN_LIMIT", 100)
    scans = []
    real_scan = VectorIndex._scan
    monkeypatch.setattr(VectorIndex, "_scan", lambda self, *a: scans.append(1) or real_scan(self, *a))
    rng = np.random.default_rng(8)
    recalls = []
    for share in (0.05, 0.3, 0.8):
        allowed = rng.random(len(clustered_5000)) < share
        assert np.count_nonzero(allowed) > vector_index.EXACT_SCAN_LIMIT
        for query in unit_vectors(rng, 30, d=384, latent=48):
            positions, _ = hnsw_5000.search(query, 10, allowed)
            assert len(positions) == 10
            assert allowed[positions].all()
            exact = set(exact_top_k(clustered_5000, query, 10, allowed)[0].tolist())
            recalls.append(len(exact & set(positions.tolist())) / 10)
    assert scans == []  # the graph walk answered, not the fallback scan
    assert np.mean(recalls) >= 0.95


def test_hnsw_filtered_search_with_very_few_allowed_rows_still_finds_all_of_them(
    monkeypatch, clustered_5000, hnsw_5000
):
    monkeypatch.setattr(vector_index, "EXACT_SCAN_LIMIT", 0)  # force the selector, then maybe the fallback
    rng = np.random.default_rng(4)
    for query in unit_vectors(rng, 10, d=384, latent=48):
        allowed = np.zeros(len(clustered_5000), dtype=bool)
        allowed[rng.choice(len(clustered_5000), size=5, replace=False)] = True
        positions, scores = hnsw_5000.search(query, 10, allowed)
        expected_positions, expected_scores = exact_top_k(clustered_5000, query, 10, allowed)
        assert positions.tolist() == expected_positions.tolist()
        assert np.allclose(scores, expected_scores, atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_search_edge_cases_no_allowed_rows_zero_k_and_k_above_n(kind):
    vectors = unit_vectors(np.random.default_rng(2), 30, d=16, latent=4)
    index = VectorIndex.build(vectors, kind=kind)
    query = vectors[3]
    for positions, scores in (
        index.search(query, 5, np.zeros(30, dtype=bool)),
        index.search(query, 0),
        index.search(query, -1),
    ):
        assert positions.shape == (0,)
        assert scores.shape == (0,)
    positions, scores = index.search(query, 100)
    assert sorted(positions.tolist()) == list(range(30))
    assert positions[0] == 3
    assert np.all(np.diff(scores) <= 1e-6)
    allowed = np.zeros(30, dtype=bool)
    allowed[[1, 5, 7]] = True
    assert sorted(index.search(query, 100, allowed)[0].tolist()) == [1, 5, 7]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_vector_index_survives_a_save_and_load(tmp_path, kind):
    rng = np.random.default_rng(6)
    vectors = unit_vectors(rng, 500, d=32)
    index = VectorIndex.build(vectors, kind=kind)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded.kind == kind
    assert len(loaded) == 500
    assert np.array_equal(loaded.vectors, vectors)
    allowed = rng.random(500) < 0.4
    for query in unit_vectors(rng, 10, d=32):
        for mask in (None, allowed):
            a, b = index.search(query, 10, mask), loaded.search(query, 10, mask)
            assert a[0].tolist() == b[0].tolist()
            assert np.allclose(a[1], b[1])


@pytest.mark.parametrize("kind", ["auto", "flat", "hnsw"])
def test_an_empty_vector_index_searches_to_nothing_and_round_trips(tmp_path, kind):
    index = VectorIndex.build(np.zeros((0, 8), dtype=np.float32), kind=kind)
    assert len(index) == 0
    assert index.vectors.shape == (0, 8)
    assert index.search(np.ones(8), 5)[0].shape == (0,)
    assert index.search(np.ones(8), 5, np.zeros(0, dtype=bool))[0].shape == (0,)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert len(loaded) == 0
    assert loaded.search(np.ones(8), 5)[0].shape == (0,)


# --------------------------------------------------------------------------- LexicalIndex

LEXICAL_TEXTS = [
    "Halden three-seat sofa in grey linen",
    "Billy bookcase, white",
    "iPhone 7 silicone case",
    "iPhone 6 silicone case",
    "Oak coffee table",
]


def test_tokenize_stems_drops_stop_words_and_keeps_single_characters():
    assert tokenize(["The Sofas", "bookcases and tables"]) == [["sofa"], ["bookcas", "tabl"]]
    assert tokenize(["iPhone 7 x"]) == [["iphon", "7", "x"]]
    assert tokenize(["", "the of and"]) == [[], []]


def test_lexical_search_finds_plural_and_singular_forms():
    index = LexicalIndex.build(LEXICAL_TEXTS)
    assert len(index) == 5
    assert index.search("sofas", 5)[0].tolist() == [0]
    assert index.search("bookcases", 5)[0].tolist() == [1]
    assert index.search("tables", 5)[0].tolist() == [4]


def test_a_single_digit_separates_phone_models():
    index = LexicalIndex.build(LEXICAL_TEXTS)
    positions, scores = index.search("iphone 7 case", 5)
    assert positions.tolist() == [2, 3]
    assert scores[0] > scores[1] > 0
    assert index.search("iphone 6 case", 5)[0].tolist() == [3, 2]


def test_words_not_in_the_index_score_nothing():
    index = LexicalIndex.build(LEXICAL_TEXTS)
    assert index.scores("couch") is None
    assert index.scores("the of and") is None
    assert index.scores("") is None
    assert index.search("couch", 5)[0].shape == (0,)
    scores = index.scores("couch sofa")  # unknown words are ignored, known ones still count
    assert scores.shape == (5,)
    assert np.flatnonzero(scores).tolist() == [0]


def test_lexical_search_keeps_to_the_allowed_rows_and_k():
    index = LexicalIndex.build(LEXICAL_TEXTS)
    allowed = np.array([True, True, False, True, True])
    assert index.search("iphone 7 case", 5, allowed)[0].tolist() == [3]
    assert index.search("iphone case", 1)[0].shape == (1,)
    assert index.search("iphone case", 0)[0].shape == (0,)


def test_best_matches_takes_positive_scores_only():
    scores = np.array([0.0, 2.0, 0.5, 0.0, 3.0])
    assert best_matches(scores, 10)[0].tolist() == [4, 1, 2]
    assert best_matches(scores, 10, scores < 2.5)[0].tolist() == [1, 2]
    assert best_matches(None, 10)[0].shape == (0,)


def test_an_empty_lexical_index_finds_nothing_and_round_trips(tmp_path):
    index = LexicalIndex.build([])
    assert len(index) == 0
    assert index.scores("sofa") is None
    assert index.search("sofa", 5)[0].shape == (0,)
    index.save(tmp_path)
    assert not (tmp_path / "lexical").exists()
    assert len(LexicalIndex.load(tmp_path)) == 0


def test_a_corpus_without_index_terms_is_indexed_as_searching_to_nothing():
    """Texts made only of stop words (or empty) leave bm25s no vocabulary; that must not crash."""
    index = LexicalIndex.build(["the and", "of"])
    assert index.scores("sofa") is None
    assert index.search("sofa", 5)[0].shape == (0,)


def test_lexical_index_survives_a_save_and_load(tmp_path):
    index = LexicalIndex.build(LEXICAL_TEXTS)
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == 5
    for query in ("iphone 7 case", "grey sofas", "oak", "couch"):
        before, after = index.scores(query), loaded.scores(query)
        assert (before is None and after is None) or np.allclose(before, after)


# --------------------------------------------------------------------------- fusion


def test_convex_fusion_min_max_normalises_each_source_and_weights_it():
    fused = convex_fusion(
        {"semantic": np.array([0.2, 0.5, 0.8]), "lexical": np.array([0.0, 10.0, 5.0])},
        {"semantic": 0.7, "lexical": 0.3},
    )
    assert np.allclose(fused, [0.0, 0.7 * 0.5 + 0.3, 0.7 + 0.3 * 0.5])


def test_convex_fusion_ignores_a_source_with_no_spread():
    semantic = np.array([0.2, 0.5, 0.8], dtype=np.float32)
    fused = convex_fusion(
        {"semantic": semantic, "lexical": np.full(3, 4.2)}, {"semantic": 0.5, "lexical": 0.5}
    )
    assert np.allclose(fused, [0.0, 0.25, 0.5])
    assert fused.dtype == np.float64


def test_convex_fusion_is_unchanged_by_rescaling_a_source_and_defaults_weights_to_one():
    semantic, lexical = np.array([0.1, 0.9, 0.4]), np.array([7.0, 1.0, 3.0])
    fused = convex_fusion({"semantic": semantic, "lexical": lexical}, {})
    assert np.allclose(fused, [1.0, 1.0, 0.375 + 1 / 3])
    assert np.allclose(convex_fusion({"semantic": semantic * 3 + 2, "lexical": lexical / 10}, {}), fused)


def test_convex_fusion_divides_a_source_by_its_ceiling_instead_of_stretching_it():
    semantic, lexical = np.array([0.8, 0.3]), np.array([0.0, 2.0])
    # Min–max would make the weak lexical match a full 1 and tie it with the best cosine.
    assert np.allclose(convex_fusion({"semantic": semantic, "lexical": lexical}, {}), [1.0, 1.0])
    fused = convex_fusion({"semantic": semantic, "lexical": lexical}, {}, {"lexical": 8.0})
    assert np.allclose(fused, [1.0, 0.25])
    assert np.allclose(convex_fusion({"lexical": lexical}, {}, {"lexical": 0.0}), [0.0, 0.0])


def test_the_lexical_ceiling_is_the_sum_of_each_query_terms_best_score():
    index = LexicalIndex.build(["grey sofa", "grey grey lamp", "oak sofa bed"])
    found = index.match("grey sofa")
    assert found.ceiling == pytest.approx(index.scores("grey").max() + index.scores("sofa").max())
    assert found.scores.max() <= found.ceiling
    assert index.match("unknownword") is None


def test_accents_are_folded_so_shoppers_can_type_plain_letters():
    assert fold_accents("PÖANG café") == "POANG cafe"
    assert tokenize(["PÖANG armchair"]) == tokenize(["poang armchairs"])


def test_convex_fusion_of_nothing_is_empty():
    assert convex_fusion({}, {}).shape == (0,)
    assert convex_fusion({"semantic": np.zeros(0)}, {}).shape == (0,)


def test_reciprocal_rank_fusion_adds_weight_over_c_plus_rank():
    fused = reciprocal_rank_fusion(
        {"semantic": np.array([1, 2, 0]), "lexical": np.array([0, 1, 3])}, {"semantic": 1.0, "lexical": 0.5}
    )
    assert RRF_C == 60
    assert np.allclose(fused, [1 / 61, 1 / 62 + 0.5 / 61, 0.5 / 63])
    assert np.allclose(reciprocal_rank_fusion({"a": np.array([1, 0, 4])}, {}, c=1), [0.5, 0.0, 0.2])
    assert reciprocal_rank_fusion({}, {}).shape == (0,)


# --------------------------------------------------------------------------- IndexStore


def test_nothing_is_active_before_the_first_publish(tmp_path):
    store = IndexStore(tmp_path / "index")
    assert store.active_version() is None
    assert store.versions() == []
    assert store.manifest() is None
    assert store.load() is None
    assert LiveIndex(store).get() is None


def test_a_published_version_is_active_and_loads_with_a_matching_manifest(tmp_path):
    store = IndexStore(tmp_path / "index")
    ids, vectors, texts, rows = sample_inputs(40)
    version = store.publish(ids, vectors, texts, rows, metadata={"source": "test", "version": "ignored"})
    assert store.active_version() == version
    assert store.versions() == [version]
    assert (store.root / "ACTIVE").read_text() == version
    assert list(store.staging_dir.iterdir()) == []
    manifest = store.manifest()
    assert manifest["products"] == 40
    assert manifest["source"] == "test"
    assert manifest["version"] == version
    assert manifest["kind"] == "flat"
    assert manifest["dimension"] == 16
    loaded = store.load()
    assert loaded.name == version
    assert_complete(loaded)
    assert loaded.ids.tolist() == ids.tolist()
    assert np.array_equal(loaded.vectors.vectors, vectors)
    assert loaded.lexical.search("sofa", 100)[0].tolist() == list(range(1, 40, 2))
    assert np.flatnonzero(loaded.filters.mask(Constraints(price_max=2.0))).tolist() == [0, 1, 2]
    assert loaded.positions_of([17, 7, 12345, 397]).tolist() == [1, 0, 39]


def test_an_empty_catalog_publishes_and_loads(tmp_path):
    store = IndexStore(tmp_path / "index")
    store.publish(*sample_inputs(0))
    loaded = store.load()
    assert loaded.manifest["products"] == 0
    assert loaded.manifest["dimension"] is None
    assert_complete(loaded)


def test_a_second_publish_switches_active_and_activate_rolls_back(tmp_path):
    store = IndexStore(tmp_path / "index")
    first = publish_sample(store, 10)
    second = publish_sample(store, 20, seed=1)
    assert second > first
    assert store.versions() == [first, second]
    assert store.active_version() == second
    assert len(store.load()) == 20
    store.activate(first)
    assert store.active_version() == first
    assert len(store.load()) == 10
    assert len(store.load(second)) == 20
    assert store.manifest(second)["products"] == 20
    with pytest.raises(LookupError, match="no version"):
        store.activate("19990101T000000.000000")
    assert store.active_version() == first


def test_version_names_keep_publish_order_when_the_clock_steps_back(tmp_path, monkeypatch):
    store = IndexStore(tmp_path / "index")
    first = publish_sample(store, 3)
    past = types.SimpleNamespace(
        time=lambda: 86_400.0, perf_counter=time.perf_counter, strftime=time.strftime, gmtime=time.gmtime
    )
    monkeypatch.setattr(versions_module, "time", past)
    second = publish_sample(store, 4)
    third = publish_sample(store, 5)
    assert first < second < third
    assert store.versions() == [first, second, third]
    assert store.active_version() == third


def test_only_the_newest_versions_are_kept(tmp_path):
    store = IndexStore(tmp_path / "index")
    published = [publish_sample(store, 5 + i, seed=i) for i in range(KEEP_VERSIONS + 3)]
    assert store.versions() == published[-KEEP_VERSIONS:]
    assert store.active_version() == published[-1]


def test_pruning_never_removes_the_active_version(tmp_path, monkeypatch):
    store = IndexStore(tmp_path / "index")
    published = [publish_sample(store, 5, seed=i) for i in range(3)]
    store.activate(published[0])
    monkeypatch.setattr(store, "keep", 1)
    store._prune()
    assert store.versions() == [published[0], published[2]]
    assert len(store.load()) == 5


def test_pruning_removes_staging_folders_abandoned_for_a_day_but_not_fresh_ones(tmp_path):
    store = IndexStore(tmp_path / "index")
    publish_sample(store, 3)
    abandoned, in_progress = store.staging_dir / "abandoned", store.staging_dir / "in-progress"
    for folder in (abandoned, in_progress):
        folder.mkdir()
        (folder / "vectors.faiss").write_bytes(b"half")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(abandoned, (two_days_ago, two_days_ago))
    publish_sample(store, 4)
    assert not abandoned.exists()
    assert in_progress.exists()


def test_inputs_of_different_lengths_are_refused_before_anything_is_written(tmp_path):
    store = IndexStore(tmp_path / "index")
    good = publish_sample(store, 5)
    ids, vectors, texts, rows = sample_inputs(5)
    with pytest.raises(ValueError, match="one entry per product"):
        store.publish(ids, vectors, texts[:4], rows)
    assert store.active_version() == good
    assert store.versions() == [good]
    assert list(store.staging_dir.iterdir()) == []


def _bad_price(inputs):
    ids, vectors, texts, rows = inputs
    rows[-1] = FilterRow(price="not a price")  # fails after the vectors and BM25 are written
    return (ids, vectors, texts, rows), {}


def _unserialisable_metadata(inputs):
    return inputs, {"metadata": {"built_by": object()}}  # fails at the very last file


def _three_dimensional_vectors(inputs):
    ids, vectors, texts, rows = inputs
    return (ids, vectors.reshape(len(vectors), 4, 4), texts, rows), {}  # faiss's add() refuses it


@pytest.mark.parametrize("spoil", [_bad_price, _unserialisable_metadata, _three_dimensional_vectors])
def test_a_publish_that_fails_half_way_leaves_the_previous_version_active_and_no_staging(tmp_path, spoil):
    store = IndexStore(tmp_path / "index")
    good = publish_sample(store, 6)
    args, kwargs = spoil(list(sample_inputs(6, seed=3)))
    with pytest.raises((ValueError, TypeError)):
        store.publish(*args, **kwargs)
    assert store.active_version() == good
    assert store.versions() == [good]
    assert list(store.staging_dir.iterdir()) == []
    assert_complete(store.load())
    assert publish_sample(store, 7) != good  # and the store still publishes


CRASHING_PUBLISHER = """
import sys
from pathlib import Path
import numpy as np
from catalog.retrieval.filters import FilterRow
from catalog.retrieval.store import IndexStore

n = 200_000
vectors = np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32)
texts = [f"sofa model {i} grey linen" for i in range(n)]
rows = [FilterRow(price=float(i % 1000)) for i in range(n)]
store = IndexStore(Path(sys.argv[1]))
with store.publishing():
    store.publish(np.arange(n), vectors, texts, rows, kind="flat")
print("published", flush=True)
"""


def test_a_publisher_killed_half_way_leaves_the_previous_version_active(tmp_path):
    store = IndexStore(tmp_path / "index")
    good = publish_sample(store, 8)
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_PUBLISHER, str(store.root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Kill it once the vectors are written but the BM25 index (seconds for 200k texts) is not.
        deadline = time.monotonic() + 90
        while not list(store.staging_dir.glob("*/vectors.faiss")):
            assert process.poll() is None, (
                f"publisher ended before it could be killed: {process.stderr.read()}"
            )
            assert time.monotonic() < deadline, "publisher never started writing"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    (half_written,) = store.staging_dir.iterdir()
    assert not (half_written / "manifest.json").exists()

    assert store.active_version() == good
    assert store.versions() == [good]
    loaded = store.load()
    assert loaded.name == good
    assert_complete(loaded)
    assert len(loaded) == 8

    with store.publishing():  # the dead publisher's lock went with it
        newer = publish_sample(store, 9)
    assert store.active_version() == newer
    assert store.versions() == [good, newer]


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from catalog.retrieval.store import IndexStore

with IndexStore(Path(sys.argv[1])).publishing():
    print("locked", flush=True)
    time.sleep(1.0)
"""


def test_publishing_is_one_process_at_a_time(tmp_path):
    store = IndexStore(tmp_path / "index")
    process = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(store.root)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with store.publishing():
            waited = time.monotonic() - started
    finally:
        process.wait(timeout=30)
    assert waited > 0.5


PUBLISHER = """
import sys
from pathlib import Path
import numpy as np
from catalog.retrieval.filters import FilterRow
from catalog.retrieval.store import IndexStore

n = int(sys.argv[2])
rng = np.random.default_rng(n)
vectors = rng.standard_normal((n, 16)).astype(np.float32)
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
store = IndexStore(Path(sys.argv[1]))
with store.publishing():
    texts = [f"item {i}" for i in range(n)]
    version = store.publish(np.arange(n) + 1, vectors, texts, [FilterRow(price=float(i)) for i in range(n)])
print(version)
"""


def test_live_index_follows_a_publish_from_another_process_without_being_recreated(tmp_path):
    store = IndexStore(tmp_path / "index")
    live = LiveIndex(store)
    assert live.get() is None
    first = run_python(PUBLISHER, str(store.root), "12").stdout.strip()
    current = live.get()
    assert current.name == first
    assert len(current) == 12
    assert live.get() is current  # unchanged ACTIVE: the same loaded object, no reload

    second = run_python(PUBLISHER, str(store.root), "30").stdout.strip()
    assert second != first
    current = live.get()
    assert current.name == second
    assert_complete(current)
    assert len(current) == 30

    store.activate(first)  # a rollback is followed too
    assert live.get().name == first


def test_readers_in_threads_only_ever_see_complete_versions_while_publishing(tmp_path):
    store = IndexStore(tmp_path / "index")
    publish_sample(store, 10)
    live = LiveIndex(store)
    stop = threading.Event()
    problems: list[str] = []
    seen: list[set[str]] = []

    def read() -> None:
        names: set[str] = set()
        last = ""
        try:
            while not stop.is_set():
                current = live.get()
                n = current.manifest["products"]
                if not len(current.ids) == n == len(current.vectors) == len(current.filters):
                    problems.append(f"{current.name}: {len(current.ids)} ids, manifest says {n}")
                if current.ids.tolist() != (np.arange(n) * 10 + 7).tolist():
                    problems.append(f"{current.name}: ids do not match the manifest")
                if current.name < last:
                    problems.append(f"went back from {last} to {current.name}")
                last = current.name
                names.add(current.name)
        except Exception as error:  # any error while reading is a failure
            problems.append(repr(error))
        seen.append(names)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        published = [publish_sample(store, 10 + 37 * i, seed=i) for i in range(1, 11)]
        time.sleep(0.1)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    assert problems == []
    assert live.get().name == published[-1]
    assert all(published[-1] in names for names in seen)
    assert len(set().union(*seen)) > 2  # readers did run across several versions


# --------------------------------------------------------------------------- Retriever


class Product(NamedTuple):
    id: int
    title: str
    brand: str
    category: str
    color: str
    material: str
    price: float
    stock: int | None
    description: str


PRODUCTS = [
    Product(101, "Halden three-seat sofa", "Nordal", "furniture/sofas", "grey", "fabric", 899, 5,
            "A deep, soft three-seat sofa for the living room."),
    Product(102, "Borgo leather sofa", "Casa Verde", "furniture/sofas", "brown", "leather", 1899, 2,
            "Full-grain leather sofa with solid legs."),
    Product(103, "Luna two-seat sofa", "Nordal", "furniture/sofas", "beige", "linen", 649, 0,
            "Compact linen sofa for small flats."),
    Product(104, "Oslo corner sofa", "IKEA", "furniture/sofas/corner", "grey", "velvet", 1299, None,
            "L-shaped velvet corner sofa that seats five."),
    Product(105, "Mira sofa bed", "Ashley Furniture", "furniture/sofas", "blue", "fabric", 499, 12,
            "A sofa that unfolds into a double bed for guests."),
    Product(106, "Billy bookcase", "IKEA", "furniture/storage/bookcases", "white", "wood", 79, 40,
            "Tall bookcase with adjustable shelves."),
    Product(107, "Hemnes bookcase", "IKEA", "furniture/storage/bookcases", "brown", "pine", 199, 3,
            "Solid pine bookcase with two doors."),
    Product(108, "Ladder bookshelf", "Nordal", "furniture/storage/bookcases", "black", "metal", 129, 0,
            "Leaning ladder shelf in black steel."),
    Product(109, "Kallax KX4471 shelf unit", "IKEA", "furniture/storage/bookcases", "white", "wood", 89, 8,
            "Cube shelving for books and boxes."),
    Product(110, "Oak library bookcase", "Casa Verde", "furniture/storage/bookcases", "brown", "oak", 599, 1,
            "Wide oak bookcase for a home library."),
    Product(111, "iPhone 7 silicone case", "Apple", "electronics/cell-phones/cases", "black", "silicone", 29,
            100, "Soft-touch silicone case for iPhone 7."),
    Product(112, "iPhone 6 silicone case", "Apple", "electronics/cell-phones/cases", "black", "silicone", 19,
            100, "Soft-touch silicone case for iPhone 6."),
    Product(113, "Galaxy S23 clear case", "Spigen", "electronics/cell-phones/cases", "transparent", "plastic",
            15, 60, "Slim transparent case for Samsung Galaxy S23."),
    Product(114, "SM-S911B leather wallet case", "Samsung", "electronics/cell-phones/cases", "black",
            "leather", 35, 20, "Official wallet cover with card slots."),
    Product(115, "iPhone 15 Pro leather case", "Apple", "electronics/cell-phones/cases", "brown", "leather",
            59, 0, "MagSafe leather case for iPhone 15 Pro."),
    Product(116, "Rugged armour case for Galaxy S24", "OtterBox", "electronics/cell-phones/cases", "black",
            "rubber", 45, None, "Drop-proof case with a belt clip."),
    Product(117, "MagSafe wireless charger", "Apple", "electronics/chargers", "white", "plastic", 39, 50,
            "15 W magnetic charger for iPhone."),
    Product(118, "Walnut coffee table", "Nordal", "furniture/tables", "brown", "walnut", 349, 4,
            "Low walnut coffee table with rounded corners."),
    Product(119, "Glass dining table", "Casa Verde", "furniture/tables", "transparent", "glass", 799, 2,
            "Tempered glass top on a steel frame."),
    Product(120, "Wool area rug", "Nordal", "home/rugs", "grey", "wool", 259, 7,
            "Hand-woven wool rug, 200 x 300 cm."),
]  # fmt: skip
SOFAS = {p.id for p in PRODUCTS if p.category.startswith("furniture/sofas")}
BY_ID = {p.id: p for p in PRODUCTS}


def filter_row(p: Product) -> FilterRow:
    return FilterRow(p.price, p.stock, p.brand, [p.category], [p.color], [p.material])


@pytest.fixture(scope="module")
def encoder():
    return get_encoder("cpu")


@pytest.fixture(scope="module")
def catalog_index(encoder, tmp_path_factory):
    texts = [
        product_text(
            p.title, p.brand, [p.category], {"color": [p.color], "material": [p.material]}, p.description
        )
        for p in PRODUCTS
    ]
    store = IndexStore(tmp_path_factory.mktemp("retriever") / "index")
    store.publish(
        np.array([p.id for p in PRODUCTS]), encoder.encode(texts), texts, [filter_row(p) for p in PRODUCTS]
    )
    return store.load()


@pytest.fixture(scope="module")
def retriever(catalog_index, encoder) -> Retriever:
    return Retriever(catalog_index, encoder)


@pytest.mark.parametrize(
    ("query", "constraints"),
    [
        ("comfortable sofa", Constraints(price_max=1000, in_stock=True)),
        ("grey sofa", Constraints(colors=("grey",), categories=("furniture/sofas",))),
        ("phone case", Constraints(brands=("apple",), exclude_materials=("leather",))),
        ("bookcase", Constraints(price_min=89, price_max=599, exclude_brands=("ikea",))),
        ("something for the living room", Constraints(exclude_colors=("brown", "grey"), exclude_ids=(105,))),
        ("iphone 7 case", Constraints(categories=("electronics",), in_stock=True)),
    ],
)
def test_fused_results_satisfy_every_constraint_and_cover_all_qualifying_products(
    retriever, query, constraints
):
    hits = retriever.retrieve(query, constraints, k=len(PRODUCTS))
    qualifying = {p.id for p in PRODUCTS if satisfies(filter_row(p), p.id, constraints)}
    assert qualifying
    # Every product is a semantic candidate at the default depth, so all qualifying ones come back.
    assert {hit.product_id for hit in hits} == qualifying
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    top = retriever.retrieve(query, constraints, k=2)
    assert [hit.product_id for hit in top] == [hit.product_id for hit in hits[:2]]


def test_lexical_mode_finds_exact_model_numbers(retriever):
    for query, product_id in (("KX4471", 109), ("s911b", 114), ("SM-S911B case", 114)):
        hits = retriever.retrieve(query, mode="lexical")
        assert hits[0].product_id == product_id, query
    assert [hit.product_id for hit in retriever.retrieve("kx4471", mode="lexical")] == [109]


def test_lexical_mode_ranks_the_right_phone_model_first(retriever):
    hits = retriever.retrieve("iphone 7 case", mode="lexical", k=3)
    assert hits[0].product_id == 111
    assert hits[1].product_id == 112


def test_semantic_mode_finds_a_synonym_the_texts_never_use(retriever):
    assert retriever.retrieve("couch", mode="lexical") == []
    hits = retriever.retrieve("couch", mode="semantic", k=3)
    assert {hit.product_id for hit in hits} <= SOFAS
    fused = retriever.retrieve("couch", k=3)
    assert fused[0].product_id in SOFAS
    assert all(hit.lexical == 0.0 and hit.lexical_rank is None for hit in fused)


def test_hits_carry_the_scores_and_ranks_of_each_source(retriever, catalog_index, encoder):
    query = "grey fabric sofa"
    query_vector = encoder.encode([query])[0]
    cosines = catalog_index.vectors.vectors @ query_vector
    bm25 = catalog_index.lexical.scores(query)
    position = {int(i): p for p, i in enumerate(catalog_index.ids)}

    semantic = retriever.retrieve(query, mode="semantic", k=len(PRODUCTS))
    assert [hit.semantic_rank for hit in semantic] == list(range(1, len(PRODUCTS) + 1))
    for hit in semantic:
        assert isinstance(hit, Hit)
        assert hit.lexical is None
        assert hit.lexical_rank is None
        assert hit.score == hit.semantic
        assert hit.semantic == pytest.approx(cosines[position[hit.product_id]], abs=1e-5)

    lexical = retriever.retrieve(query, mode="lexical", k=len(PRODUCTS))
    assert len(lexical) == np.count_nonzero(bm25)
    assert [hit.lexical_rank for hit in lexical] == list(range(1, len(lexical) + 1))
    for hit in lexical:
        assert hit.semantic is None
        assert hit.semantic_rank is None
        assert hit.score == hit.lexical == pytest.approx(bm25[position[hit.product_id]])

    semantic_rank = {hit.product_id: hit.semantic_rank for hit in semantic}
    lexical_rank = {hit.product_id: hit.lexical_rank for hit in lexical}
    fused = retriever.retrieve(query, k=len(PRODUCTS))
    assert fused[0].product_id in SOFAS
    for hit in fused:
        assert hit.semantic == pytest.approx(cosines[position[hit.product_id]], abs=1e-5)
        assert hit.lexical == pytest.approx(bm25[position[hit.product_id]])
        assert hit.semantic_rank == semantic_rank[hit.product_id]
        assert hit.lexical_rank == lexical_rank.get(hit.product_id)
        assert (hit.lexical_rank is None) == (hit.lexical == 0.0)
        assert 0.0 <= hit.score <= 1.0


def test_rrf_fusion_scores_are_the_reciprocal_rank_sums(catalog_index, encoder):
    retriever = Retriever(catalog_index, encoder, fusion="rrf", weights={"semantic": 1.0, "lexical": 2.0})
    hits = retriever.retrieve("leather case", k=10)
    assert len(hits) == 10
    for hit in hits:
        expected = (1.0 / (RRF_C + hit.semantic_rank) if hit.semantic_rank else 0.0) + (
            2.0 / (RRF_C + hit.lexical_rank) if hit.lexical_rank else 0.0
        )
        assert hit.score == pytest.approx(expected)
    assert hits[0].lexical_rank is not None
    assert hits[0].semantic_rank is not None


def test_a_given_query_vector_is_used_instead_of_encoding_the_text(retriever, encoder):
    vector = encoder.encode(["couch"])[0]
    by_vector = retriever.retrieve("zzz", mode="semantic", k=5, query_vector=vector)
    by_text = retriever.retrieve("couch", mode="semantic", k=5)
    assert [hit.product_id for hit in by_vector] == [hit.product_id for hit in by_text]


def test_nothing_is_retrieved_for_no_k_or_constraints_that_allow_nothing(retriever):
    assert retriever.retrieve("sofa", k=0) == []
    assert retriever.retrieve("sofa", k=-3) == []
    for constraints in (
        Constraints(brands=("no such brand",)),
        Constraints(price_min=5000),
        Constraints(categories=("furniture/sofas",), materials=("silicone",)),
        Constraints(exclude_ids=tuple(p.id for p in PRODUCTS)),
    ):
        for mode in ("fused", "semantic", "lexical"):
            assert retriever.retrieve("sofa", constraints, mode=mode) == []


def test_excluded_products_and_out_of_stock_ones_stay_out(retriever):
    hits = retriever.retrieve("sofa", Constraints(exclude_ids=(101, 104), in_stock=True), k=10)
    ids = {hit.product_id for hit in hits}
    assert ids.isdisjoint({101, 103, 104})  # 103 has no stock
    assert {102, 105} <= ids


def test_bad_modes_and_fusions_are_refused(catalog_index, encoder, retriever):
    with pytest.raises(ValueError, match="mode must be one of"):
        retriever.retrieve("sofa", mode="hybrid")
    with pytest.raises(ValueError, match="fusion must be one of"):
        Retriever(catalog_index, encoder, fusion="max")


def test_an_empty_index_retrieves_nothing(tmp_path, encoder):
    store = IndexStore(tmp_path / "index")
    store.publish(np.zeros(0, dtype=np.int64), np.zeros((0, 384), dtype=np.float32), [], [])
    retriever = Retriever(store.load(), encoder)
    for mode in ("fused", "semantic", "lexical"):
        assert retriever.retrieve("sofa", mode=mode) == []


# --------------------------------------------------------------------------- keyword slots

VOCABULARY = Vocabulary.from_brands(
    ["Samsung", "Apple", "IKEA", "Ashley Furniture", "La-Z-Boy", "Insignia™", "Sony", "Black", "Oak", "X"]
)


def test_vocabulary_keeps_real_brand_names_only():
    assert VOCABULARY.brands == (
        "apple",
        "ashley furniture",
        "ikea",
        "insignia",
        "la-z-boy",
        "samsung",
        "sony",
    )  # "black" and "oak" would shadow a colour and a material; "x" is too short
    assert Vocabulary().brands == ()


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        # prices
        ("grey sofa under 1.5k", {"color": ["grey"], "price_max": 1500.0}),
        ("sofa between 200 and 500", {"price_min": 200.0, "price_max": 500.0}),
        ("between 500 and 200 dollars", {"price_min": 200.0, "price_max": 500.0, "currency": "USD"}),
        ("table over 900 under 300", {"price_min": 300.0, "price_max": 900.0}),
        ("rug from $300 to $800", {"price_min": 300.0, "price_max": 800.0, "currency": "USD"}),
        ("phone case $30 or less", {"price_max": 30.0, "currency": "USD"}),
        ("lamp over 20 bucks", {"price_min": 20.0, "currency": "USD"}),
        ("sofa under 2,000", {"price_max": 2000.0}),
        ("armchair 2,000 sar max", {"price_max": 2000.0, "currency": "SAR"}),
        ("rug 50 or more", {"price_min": 50.0}),
        ("charger 20+", {"price_min": 20.0}),
        ("up to $1,500.50", {"price_max": 1500.5, "currency": "USD"}),
        ("at least 2k", {"price_min": 2000.0}),
        ("desk under 300 and over 100", {"price_min": 100.0, "price_max": 300.0}),
        ("iphone 7 case", {}),
        # colours and materials, with synonyms
        ("gray couch", {"color": ["grey"]}),
        ("navy or charcoal rug", {"color": ["blue", "grey"]}),
        ("off-white rug", {"color": ["white"]}),
        ("oak or walnut table", {"material": ["oak", "walnut"]}),
        ("stainless steel pan", {"material": ["steel"]}),
        ("wooden bookcase", {"material": ["wood"]}),
        ("pineapple lamp", {}),
        # brands, in the order said, multiword ones whole
        ("sony or samsung tv", {"brand": ["sony", "samsung"]}),
        ("Samsung or Sony", {"brand": ["samsung", "sony"]}),
        ("ashley furniture sofa", {"brand": ["ashley furniture"]}),
        ("La-Z-Boy recliner", {"brand": ["la-z-boy"]}),
        ("Insignia™ TV", {"brand": ["insignia"]}),
        ("case for samsung galaxy", {}),
        ("case for the samsung galaxy s23", {}),
        ("apple case for samsung", {"brand": ["apple"]}),
        # negation
        ("not black", {"exclude_color": ["black"]}),
        ("black sofa, not grey", {"color": ["black"], "exclude_color": ["grey"]}),
        ("bookcase no plastic", {"exclude_material": ["plastic"]}),
        ("table without glass", {"exclude_material": ["glass"]}),
        ("samsung phone, not apple", {"brand": ["samsung"], "exclude_brand": ["apple"]}),
        ("bed frame, anything but white", {"exclude_color": ["white"]}),
        ("any colour other than black", {"exclude_color": ["black"]}),
        ("sofa in anything except leather", {"exclude_material": ["leather"]}),
        # a negated list: every term after "not" is unwanted
        ("samsung case but not apple or sony", {"brand": ["samsung"], "exclude_brand": ["apple", "sony"]}),
        ("no red, pink or orange please", {"exclude_color": ["red", "pink", "orange"]}),
        ("black or white desk", {"color": ["black", "white"]}),
        (
            "grey linen sofa under 2000, not leather, no ikea",
            {
                "price_max": 2000.0,
                "color": ["grey"],
                "material": ["linen"],
                "exclude_material": ["leather"],
                "exclude_brand": ["ikea"],
            },
        ),
    ],
)
def test_slots_from_utterances(text, slots):
    assert extract_slots(text, VOCABULARY) == slots


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("sofa for no more than 300", {"price_max": 300.0}),
        ("not over 500", {"price_max": 500.0}),
        ("no less than 100", {"price_min": 100.0}),
    ],
)
def test_negated_price_comparisons_keep_their_meaning(text, slots):
    assert extract_slots(text, VOCABULARY) == slots


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("what about in SAR?", {"currency": "SAR"}),
        ("prices in euros please", {"currency": "EUR"}),
        ("under 300 riyals in dollars", {"price_max": 300.0, "currency": "SAR"}),  # the amount's own
    ],
)
def test_a_currency_said_without_an_amount_is_a_currency(text, slots):
    assert extract_slots(text, VOCABULARY) == slots


@pytest.mark.parametrize(
    "text", ["case for galaxy s23+", "samsung galaxy s24+ screen protector", "iphone 15 pro max 256gb case"]
)
def test_model_names_and_capacities_are_not_read_as_prices(text):
    slots = extract_slots(text, VOCABULARY)
    assert "price_min" not in slots
    assert "price_max" not in slots


def test_parse_amount():
    assert parse_amount("1.5", "k") == 1500.0
    assert parse_amount("2,000", None) == 2000.0
    assert parse_amount("19.99", None) == 19.99


def test_constraints_from_slots_maps_every_slot():
    slots = {
        "price_min": 100.0,
        "price_max": 2000.0,
        "brand": ["ikea", "Nordal"],
        "color": ["grey"],
        "material": ["linen"],
        "exclude_brand": ["casa verde"],
        "exclude_color": ["brown"],
        "exclude_material": ["leather"],
    }
    constraints = constraints_from_slots(slots, categories=("furniture/sofas",), in_stock=True)
    assert constraints == Constraints(
        price_min=100.0,
        price_max=2000.0,
        categories=("furniture/sofas",),
        brands=("ikea", "nordal"),
        colors=("grey",),
        materials=("linen",),
        in_stock=True,
        exclude_brands=("casa verde",),
        exclude_colors=("brown",),
        exclude_materials=("leather",),
    )
    assert constraints_from_slots({}).is_empty()


def test_slots_of_an_utterance_filter_the_catalog():
    table = FilterTable.build([filter_row(p) for p in PRODUCTS])
    vocabulary = Vocabulary.from_brands(p.brand for p in PRODUCTS)
    constraints = constraints_from_slots(extract_slots("grey or beige sofa under 1k, not velvet", vocabulary))
    allowed = table.mask(constraints, np.array([p.id for p in PRODUCTS]))
    assert [PRODUCTS[i].id for i in np.flatnonzero(allowed)] == [101, 103, 120]
    constraints = constraints_from_slots(extract_slots("leather case for samsung", vocabulary))
    assert constraints.brands == ()
    assert [PRODUCTS[i].id for i in np.flatnonzero(table.mask(constraints))] == [102, 114, 115]
