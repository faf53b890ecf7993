"""Query latency of ``retrieve`` over the IKEA + Best Buy catalogs (6,253 products).

Each call is what a chat's first turn costs before the database: encoding the
query, the hard filters read from its words, the vector and keyword searches
and their fusion. The labelled queries of ``data/retrieval_queries.jsonl`` are
run ``--rounds`` times after one warm-up round; nothing is cached between
calls. No Django. Prints one JSON line.

    python benchmarks/retrieval_latency.py
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.catalogs import (  # noqa: E402
    DEFAULT_DATA,
    brand_vocabulary,
    build_index,
    keyword_constraints,
    product_vectors,
    read_products,
    require_data,
)
from catalog.retrieval.encoder import Encoder  # noqa: E402
from catalog.retrieval.retriever import Retriever  # noqa: E402

QUERIES = Path(__file__).resolve().parent / "data" / "retrieval_queries.jsonl"


def milliseconds(samples: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(float(np.percentile(samples, q)) * 1000, 2) for q in (50, 95, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "aisle-bench-cache")
    args = parser.parse_args()
    require_data(args.data)

    products = read_products(args.data)
    encoder = Encoder(device=args.device)
    vectors = product_vectors(encoder, [product.text for product in products], args.cache_dir)
    vocabulary = brand_vocabulary(products)
    queries = [json.loads(line)["query"] for line in QUERIES.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="aisle-latency-") as folder:
        retriever = Retriever(build_index(products, vectors, Path(folder)), encoder)
        timings: dict[str, list[float]] = {"retrieve": [], "encode_only": [], "retrieve_given_vector": []}
        for round_number in range(args.rounds + 1):
            for text in queries:
                started = time.perf_counter()
                retriever.retrieve(text, keyword_constraints(text, vocabulary), k=10)
                total = time.perf_counter() - started
                started = time.perf_counter()
                vector = encoder.encode([text])[0]
                encode = time.perf_counter() - started
                started = time.perf_counter()
                retriever.retrieve(text, keyword_constraints(text, vocabulary), k=10, query_vector=vector)
                rest = time.perf_counter() - started
                if round_number:  # round 0 warms up kernels and caches
                    timings["retrieve"].append(total)
                    timings["encode_only"].append(encode)
                    timings["retrieve_given_vector"].append(rest)
    print(
        json.dumps(
            {
                "benchmark": "retrieval_latency",
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "device": encoder.device,
                "precision": encoder.precision,
                "products": len(products),
                "calls": len(timings["retrieve"]),
                **{name: milliseconds(samples) for name, samples in timings.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
