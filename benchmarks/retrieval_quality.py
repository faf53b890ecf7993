"""Retrieval quality (NDCG@10, P@10) of semantic, lexical and fused search on hand-labelled queries.

Builds one index over both public catalogs (IKEA + Best Buy) exactly as
``build_index`` does, then runs every query of ``data/retrieval_queries.jsonl``
through ``catalog.retrieval.retriever.Retriever`` in each mode, under three
constraint settings:

- ``keyword``: hard filters parsed from the query text by ``keyword_slots``,
  as the live search API does today;
- ``oracle``: the labelled constraints as hard filters (what a perfect parser
  would give: the ceiling);
- ``none``: no hard filters (ranking alone).

Relevance comes from catalog fields, never from listed SKUs: grade 1 when the
product's type or title contains one of the query's ``type.any`` phrases and
none of its ``type.none`` phrases; grade 2 when it also meets every labelled
constraint; grade 0 otherwise. No Django (``slugify`` aside). Prints one JSON
line; progress goes to stderr.

    python benchmarks/retrieval_quality.py
    python benchmarks/retrieval_quality.py --per-query      # per-query rows on stderr
    python benchmarks/retrieval_quality.py --check-labels   # grade counts only, no encoder
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.catalogs import (  # noqa: E402
    DEFAULT_DATA,
    Product,
    brand_vocabulary,
    build_index,
    keyword_constraints,
    log,
    product_vectors,
    read_products,
    require_data,
)
from benchmarks.metrics import ndcg_at_k  # noqa: E402
from catalog.importers import ProductRecord  # noqa: E402
from catalog.retrieval.constraints import NO_CONSTRAINTS, Constraints, normalise_key  # noqa: E402
from catalog.retrieval.encoder import Encoder  # noqa: E402
from catalog.retrieval.keyword_slots import Vocabulary  # noqa: E402
from catalog.retrieval.retriever import Retriever  # noqa: E402
from catalog.retrieval.store import IndexVersion  # noqa: E402

QUERIES = Path(__file__).resolve().parent / "data" / "retrieval_queries.jsonl"
K = 10
CONSTRAINT_FIELDS = (
    "price_min",
    "price_max",
    "brands",
    "colors",
    "materials",
    "exclude_brands",
    "exclude_colors",
    "exclude_materials",
)
SETTINGS = ("keyword", "oracle", "none")
SWEEP = (0.3, 0.4, 0.6, 0.7)  # semantic weight; 0.5 is ``fused_convex``
BOOTSTRAP_ROUNDS = 2000
TARGET_FUSION_GAIN = 0.04
TARGET_NDCG = 0.85


@dataclass(frozen=True)
class Method:
    """One way of ranking: a retriever mode plus, for fused modes, how to fuse."""

    mode: str
    fusion: str = "convex"
    semantic_weight: float = 0.5

    @property
    def weights(self) -> dict[str, float]:
        return {"semantic": self.semantic_weight, "lexical": round(1 - self.semantic_weight, 3)}


METHODS: dict[str, Method] = {
    "semantic": Method("semantic"),
    "lexical": Method("lexical"),
    "fused_convex": Method("fused", "convex", 0.5),
    "fused_rrf": Method("fused", "rrf", 0.5),
    **{f"convex_sem{w}": Method("fused", "convex", w) for w in SWEEP},
}


@dataclass(frozen=True)
class Query:
    """A labelled query: its text, its catalog, what type it asks for and its true constraints."""

    id: str
    text: str
    catalog: str
    any_types: tuple[str, ...]
    no_types: tuple[str, ...]
    constraints: Constraints

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Query":
        """One line of the query file; constraint names are those of ``Constraints``."""
        unknown = set(data.get("constraints", {})) - set(CONSTRAINT_FIELDS)
        if unknown:
            raise ValueError(f"{data.get('id')}: unknown constraint fields {sorted(unknown)}")
        values = {
            name: value if name.startswith("price") else tuple(value)
            for name, value in data.get("constraints", {}).items()
        }
        return cls(
            id=data["id"],
            text=data["query"],
            catalog=data["catalog"],
            any_types=tuple(_plain(phrase) for phrase in data["type"]["any"]),
            no_types=tuple(_plain(phrase) for phrase in data["type"].get("none", ())),
            constraints=Constraints(**values),
        )


def load_queries(path: Path) -> list[Query]:
    """The labelled queries, one JSON object per non-blank line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Query.from_json(json.loads(line)) for line in lines if line.strip()]


# --- relevance -------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Lower-case, trade marks dropped, single spaces: what type phrases are matched against."""
    return " ".join(normalise_key(text).split())


def is_right_type(query: Query, record: ProductRecord) -> bool:
    """The product's type or title contains a ``type.any`` phrase and no ``type.none`` phrase."""
    fields = (_plain(str(record.attributes.get("type") or "")), _plain(record.title))
    if not any(phrase in field for phrase in query.any_types for field in fields):
        return False
    return not any(phrase in field for phrase in query.no_types for field in fields)


def meets(constraints: Constraints, record: ProductRecord) -> bool:
    """Whether ``record`` meets every constraint, read from its own fields (not from the index)."""
    price = float(record.price)
    if constraints.price_min is not None and price < constraints.price_min:
        return False
    if constraints.price_max is not None and price > constraints.price_max:
        return False
    brand = normalise_key(record.brand)
    if (constraints.brands and brand not in constraints.brands) or brand in constraints.exclude_brands:
        return False
    for key, wanted, unwanted in (
        ("color", constraints.colors, constraints.exclude_colors),
        ("material", constraints.materials, constraints.exclude_materials),
    ):
        values = {normalise_key(value) for value in record.attributes.get(key) or ()}
        if (wanted and not values & set(wanted)) or values & set(unwanted):
            return False
    return True


def grade(query: Query, product: Product) -> int:
    """2: right type and every constraint met; 1: right type only; 0: anything else."""
    if product.catalog != query.catalog or not is_right_type(query, product.record):
        return 0
    return 2 if meets(query.constraints, product.record) else 1


def grades(query: Query, products: Sequence[Product]) -> np.ndarray:
    """The grade of every product for ``query``, by position."""
    return np.array([grade(query, product) for product in products], dtype=np.int64)


# --- metrics ---------------------------------------------------------------------------------------------


def query_metrics(ranked: np.ndarray, all_grades: np.ndarray) -> dict[str, float]:
    """NDCG@10, P@10 (grade >= 1) and P@10 counting grade 2 only; missing results count as misses."""
    return {
        "ndcg@10": ndcg_at_k(ranked, all_grades),
        "p@10": float((ranked[:K] >= 1).sum()) / K,
        "p@10_grade2": float((ranked[:K] == 2).sum()) / K,
    }


# --- evaluation ------------------------------------------------------------------------------------------

PerQuery = dict[str, dict[str, list[dict[str, float]]]]
"""Per-query metrics by constraints setting and method: ``[setting][method][query]``."""


@dataclass(frozen=True)
class Run:
    """Everything the retrieval runs share: the index, the encoder and the labelled queries."""

    index: IndexVersion
    encoder: Encoder
    queries: Sequence[Query]
    query_vectors: np.ndarray
    query_grades: Sequence[np.ndarray]
    vocabulary: Vocabulary

    def constraints(self, query: Query, setting: str) -> Constraints:
        if setting == "keyword":
            return keyword_constraints(query.text, self.vocabulary)
        return query.constraints if setting == "oracle" else NO_CONSTRAINTS

    def metrics(self, retriever: Retriever, mode: str, setting: str, i: int) -> dict[str, float]:
        """Metrics of query ``i``'s top ``K`` from ``retriever`` in ``mode`` under ``setting``."""
        query, all_grades = self.queries[i], self.query_grades[i]
        constraints = self.constraints(query, setting)
        hits = retriever.retrieve(query.text, constraints, k=K, mode=mode, query_vector=self.query_vectors[i])
        return query_metrics(all_grades[[hit.product_id for hit in hits]], all_grades)


def evaluate(run: Run) -> PerQuery:
    """Per-query metrics of every method under every constraints setting."""
    results: PerQuery = {}
    for setting in SETTINGS:
        results[setting] = {}
        for name, method in METHODS.items():
            retriever = Retriever(run.index, run.encoder, fusion=method.fusion, weights=method.weights)
            results[setting][name] = [
                run.metrics(retriever, method.mode, setting, i) for i in range(len(run.queries))
            ]
    return results


def summarise(per_query: PerQuery) -> dict[str, dict[str, dict[str, float]]]:
    """Metric means over queries, rounded."""
    return {
        setting: {name: mean_metrics(rows) for name, rows in methods.items()}
        for setting, methods in per_query.items()
    }


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {metric: round(float(np.mean([row[metric] for row in rows])), 4) for metric in rows[0]}


def paired_comparison(better: Sequence[float], baseline: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """Mean difference, its 95% paired-bootstrap interval over queries, and per-query wins/losses."""
    deltas = np.asarray(better) - np.asarray(baseline)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(deltas), size=(BOOTSTRAP_ROUNDS, len(deltas)))
    low, high = np.percentile(deltas[samples].mean(axis=1), [2.5, 97.5])
    return {
        "delta": round(float(deltas.mean()), 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
        "wins": int((deltas > 0.005).sum()),
        "losses": int((deltas < -0.005).sum()),
    }


# --- reporting -------------------------------------------------------------------------------------------


def print_per_query(run: Run, per_query: PerQuery) -> None:
    """One stderr row per query: grade counts, NDCG@10 of the main methods, parsed constraints."""
    shown = {"semantic": "sem", "lexical": "lex", "fused_convex": "cvx", "fused_rrf": "rrf"}
    header = " ".join(
        f"{setting[:2]}:{short:>4}" for setting in ("keyword", "oracle") for short in shown.values()
    )
    log(f"{'id':4} {'n1':>4} {'n2':>4} {header}  query -> keyword constraints")
    for i, (query, all_grades) in enumerate(zip(run.queries, run.query_grades, strict=True)):
        cells = " ".join(
            f"{per_query[setting][name][i]['ndcg@10']:7.2f}"
            for setting in ("keyword", "oracle")
            for name in shown
        )
        parsed = run.constraints(query, "keyword").as_dict()
        log(
            f"{query.id:4} {int((all_grades >= 1).sum()):4} {int((all_grades == 2).sum()):4} {cells}  "
            f"{query.text!r} -> {json.dumps(parsed)}"
        )


def check_labels(queries: Sequence[Query], products: Sequence[Product], vocabulary: Vocabulary) -> None:
    """Grade counts and a few grade-2 titles per query, to check the labels (stderr)."""
    for query in queries:
        all_grades = grades(query, products)
        good = [products[i].record.title for i in np.flatnonzero(all_grades == 2)[:4]]
        log(
            f"{query.id} {query.text!r}: grade>=1 {int((all_grades >= 1).sum())}, "
            f"grade 2 {int((all_grades == 2).sum())}; keyword -> "
            f"{json.dumps(keyword_constraints(query.text, vocabulary).as_dict())}; e.g. {good}"
        )


def report(run: Run, per_query: PerQuery) -> dict[str, Any]:
    """The benchmark's JSON summary."""
    results = summarise(per_query)
    keyword = per_query["keyword"]
    ndcg = {name: [row["ndcg@10"] for row in rows] for name, rows in keyword.items()}
    best_single = max(("semantic", "lexical"), key=lambda name: float(np.mean(ndcg[name])))
    fused_vs_best = paired_comparison(ndcg["fused_convex"], ndcg[best_single])
    catalogs = [query.catalog for query in run.queries]
    summary: dict[str, Any] = {
        "benchmark": "retrieval_quality",
        "date": datetime.date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "encoder": {
            "model": run.encoder.name,
            "device": run.encoder.device,
            "precision": run.encoder.precision,
        },
        "queries": len(run.queries),
        "queries_by_catalog": {name: catalogs.count(name) for name in ("ikea", "bestbuy")},
        "products": len(run.index),
        "k": K,
        "results": results,
        "keyword_ndcg@10_by_catalog": {
            catalog: {
                name: round(
                    float(np.mean([v for v, c in zip(ndcg[name], catalogs, strict=True) if c == catalog])), 4
                )
                for name in ("semantic", "lexical", "fused_convex", "fused_rrf")
            }
            for catalog in ("ikea", "bestbuy")
        },
        "fused_minus_best_single": fused_vs_best["delta"],
        "fused_vs_best_single": {"best_single": best_single, **fused_vs_best},
        "targets": {
            f"fused_minus_best_single>={TARGET_FUSION_GAIN}": fused_vs_best["delta"] >= TARGET_FUSION_GAIN,
            f"oracle_fused_ndcg@10>={TARGET_NDCG}": results["oracle"]["fused_convex"]["ndcg@10"]
            >= TARGET_NDCG,
        },
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "aisle-bench-cache")
    parser.add_argument("--per-query", action="store_true", help="Per-query rows on stderr.")
    parser.add_argument("--check-labels", action="store_true", help="Print grade counts and stop.")
    args = parser.parse_args()
    require_data(args.data)

    started = time.perf_counter()
    products = read_products(args.data)
    queries = load_queries(args.queries)
    vocabulary = brand_vocabulary(products)
    if args.check_labels:
        check_labels(queries, products, vocabulary)
        return
    query_grades = [grades(query, products) for query in queries]
    too_few = [query.id for query, g in zip(queries, query_grades, strict=True) if (g == 2).sum() < 3]
    if too_few:
        sys.exit(f"queries with fewer than 3 products of grade 2: {too_few}")

    encoder = Encoder(device=args.device)
    vectors = product_vectors(encoder, [product.text for product in products], args.cache_dir)
    with tempfile.TemporaryDirectory(prefix="aisle-retrieval-quality-") as folder:
        index = build_index(products, vectors, Path(folder))
        query_vectors = encoder.encode([query.text for query in queries])
        run = Run(index, encoder, queries, query_vectors, query_grades, vocabulary)
        per_query = evaluate(run)
    if args.per_query:
        print_per_query(run, per_query)
    summary = report(run, per_query)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
