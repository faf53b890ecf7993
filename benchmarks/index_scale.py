"""The vector index and hard filters at scale: synthetic products, real index code.

Builds ``VectorIndex`` (HNSW from 50k products on) and ``FilterTable`` over N
synthetic products (default 1,000,000) and measures build time, memory,
recall@10 against exact search, and query latency with and without filters.

Vectors are drawn around 2,000 random centres on the unit sphere, so the data
has the clustered shape of real embeddings (uniform random vectors in 384
dimensions have no neighbours worth finding). Each product gets a price, a
stock level, a brand out of 300, one or two categories in a three-level tree
of 10 x 10 x 10, one to two of 17 colours and 0–1 of 30 materials. Queries
are catalog vectors moved off their spot by noise. Filtered queries use
constraints of several selectivities; their recall is measured against an
exact scan of the qualifying products. No Django. Prints one JSON line.

    python benchmarks/index_scale.py                 # 1M products
    python benchmarks/index_scale.py --products 200000 --queries 200
"""

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog.retrieval.constraints import Constraints  # noqa: E402
from catalog.retrieval.filters import FilterRow, FilterTable  # noqa: E402
from catalog.retrieval.vector_index import VectorIndex  # noqa: E402

DIMENSION = 384
CENTRES = 2_000
COLORS = [f"colour{i}" for i in range(17)]
MATERIALS = [f"material{i}" for i in range(30)]
BRANDS = [f"brand{i}" for i in range(300)]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def synthetic_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    centres = unit(rng.standard_normal((CENTRES, DIMENSION), dtype=np.float32))
    vectors = np.empty((count, DIMENSION), dtype=np.float32)
    for start in range(0, count, 100_000):
        stop = min(count, start + 100_000)
        assignment = rng.integers(0, CENTRES, stop - start)
        noise = rng.standard_normal((stop - start, DIMENSION), dtype=np.float32) * 0.06
        vectors[start:stop] = unit(centres[assignment] + noise)
    return vectors


def synthetic_rows(count: int, rng: np.random.Generator) -> list[FilterRow]:
    prices = np.round(rng.lognormal(4.5, 1.2, count), 2)
    stock = rng.integers(-1, 30, count)
    brands = rng.integers(0, len(BRANDS), count)
    leaves = rng.integers(0, 1000, (count, 2))
    second_category = rng.random(count) < 0.3
    colors = rng.integers(0, len(COLORS), (count, 2))
    two_colors = rng.random(count) < 0.3
    materials = rng.integers(-len(MATERIALS), len(MATERIALS), count)  # negative: none
    rows = []
    for i in range(count):
        paths = [_path(leaves[i, 0])] + ([_path(leaves[i, 1])] if second_category[i] else [])
        rows.append(
            FilterRow(
                price=float(prices[i]),
                stock=None if stock[i] < 0 else int(stock[i]),
                brand=BRANDS[brands[i]],
                categories=paths,
                colors=[COLORS[c] for c in colors[i, : 2 if two_colors[i] else 1]],
                materials=[MATERIALS[materials[i]]] if materials[i] >= 0 else [],
            )
        )
    return rows


def _path(leaf: int) -> str:
    return f"c{leaf // 100}/c{leaf // 10}/c{leaf}"


FILTERS = {
    "price under 200": Constraints(price_max=200),
    "one colour": Constraints(colors=("colour3",)),
    "top category and price": Constraints(categories=("c4",), price_max=300),
    "brand and two colours": Constraints(brands=("brand7",), colors=("colour1", "colour2")),
    "leaf category in stock": Constraints(categories=("c4/c42/c421",), in_stock=True),
}


def percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)) * 1000, 3)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return len(set(found.tolist()) & set(exact.tolist())) / max(1, len(exact))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    vectors = synthetic_vectors(args.products, rng)
    rows = synthetic_rows(args.products, rng)

    started = time.perf_counter()
    index = VectorIndex.build(vectors)
    vector_build_s = time.perf_counter() - started
    started = time.perf_counter()
    table = FilterTable.build(rows)
    filter_build_s = time.perf_counter() - started
    del rows
    # What a web process holds: the serialised faiss index (vectors and graph) and the filter arrays.
    index_bytes = faiss.serialize_index(index.index).nbytes
    postings = [array for p in table.postings.values() for array in (p.offsets, p.positions)]
    filter_bytes = sum(array.nbytes for array in (table.prices, table.stock, table.brand_codes, *postings))
    vectors_for_queries = vectors[rng.integers(0, args.products, args.queries)].copy()
    del vectors
    queries = unit(
        vectors_for_queries + rng.standard_normal(vectors_for_queries.shape, dtype=np.float32) * 0.05
    )

    exact = index.vectors  # faiss's copy, for the exact answers
    results: dict[str, dict] = {}
    for name, constraints in {"no filter": None, **FILTERS}.items():
        # Timed first, checked after: the exact scans' BLAS threads would otherwise
        # still be spinning when the next timed search starts.
        timings, found = [], []
        for query in queries:
            started = time.perf_counter()
            allowed = table.mask(constraints) if constraints else None
            positions, _ = index.search(query, 10, allowed)
            timings.append(time.perf_counter() - started)
            found.append(positions)
        allowed = table.mask(constraints) if constraints else None
        candidates = np.flatnonzero(allowed) if allowed is not None else np.arange(len(index))
        recalls = []
        for query, positions in zip(queries, found, strict=True):
            truth = candidates[np.argsort(-(exact[candidates] @ query))[:10]]
            recalls.append(recall(positions, truth))
        results[name] = {
            "qualifying_share": round(len(candidates) / len(index), 5),
            "recall@10": round(float(np.mean(recalls)), 4),
            "p50_ms": percentile_ms(timings, 50),
            "p95_ms": percentile_ms(timings, 95),
        }
        print(name, results[name], file=sys.stderr)

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "benchmark": "index_scale",
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "products": args.products,
                "queries": args.queries,
                "kind": index.kind,
                "vector_build_s": round(vector_build_s, 1),
                "filter_build_s": round(filter_build_s, 1),
                "index_memory_gib": round((index_bytes + filter_bytes) / 2**30, 3),
                # ru_maxrss is in KiB on Linux; the peak includes generating the synthetic data.
                "benchmark_peak_rss_gib": round(peak_kib / 2**20, 2),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
