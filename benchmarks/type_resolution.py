"""How well and how fast ``TypeVocabulary.resolve`` maps product phrases to the catalog's types.

The phrase set is generated from the catalog's own fields: for every head
concept with at least ``--min-products`` products, its name, its plural, a
typo of it (one seeded edit of its longest word) and a query with a colour
and a price around it, each expecting that concept. A small hand list adds
synonyms, product types neither catalog carries, and phrases that name no
type. Prints one JSON line: accuracy per phrase kind and resolve latency
(query vectors encoded beforehand, as the search service passes them).

    .venv/bin/python benchmarks/type_resolution.py [--data-dir ../shared/data]
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogs import DEFAULT_DATA, log, product_vectors, read_products, require_data

from catalog.retrieval.encoder import get_encoder
from catalog.retrieval.product_types import TypeMatch, TypeRow, TypeVocabulary, plural

COLOURS = ("grey", "white", "black", "blue", "red", "green", "beige", "brown")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# (phrase, expected concept): None = names no type, "" = a type neither catalog carries.
HAND = [
    ("couch", "sofa"),
    ("cheap couch", "sofa"),
    ("settee", "sofa"),
    ("bookshelf", "bookcase"),
    ("cellphone", "phone"),
    ("mobile", "phone"),
    ("smartphone", "phone"),
    ("nightstand", "table"),
    ("closet", "wardrobe"),
    ("sofa bed", "sofa-bed"),
    ("barstool", "stool"),
    ("phone charger", "charger"),
    ("headphones", "headset"),
    ("cupboard", "cabinet"),
    ("prepaid card", "minute"),
    ("fridge", ""),
    ("refrigerator", ""),
    ("laptop", ""),
    ("kettle", ""),
    ("lamp", ""),
    ("rug", ""),
    ("television", ""),
    ("washing machine", ""),
    ("bicycle", ""),
    ("tv", ""),
    ("something nice", None),
    ("under 500", None),
    ("hello", None),
    ("thanks a lot", None),
    ("the cheapest one please", None),
    ("which ones have magsafe", None),
    ("cheaper", None),
    ("show me more", None),
    ("in black", None),
    ("sort by price", None),
]


def typo(word: str, seed: str) -> str:
    """One deterministic edit (swap, drop, double or replace a letter) inside ``word``."""
    rng = random.Random(zlib.crc32(seed.encode()))
    at = rng.randrange(1, len(word) - 1)
    edit = rng.choice(("swap", "drop", "double", "replace"))
    if edit == "swap":
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if edit == "drop":
        return word[:at] + word[at + 1 :]
    if edit == "double":
        return word[:at] + word[at] + word[at:]
    return word[:at] + rng.choice(LETTERS.replace(word[at], "")) + word[at + 1 :]


def generated(
    vocabulary: TypeVocabulary, prices: dict[str, float], minimum: int
) -> list[tuple[str, str, str]]:
    """``(kind, phrase, expected concept)`` for every concept with ``minimum`` products."""
    cases = []
    for name in vocabulary.concept_names:
        concept = vocabulary.concepts[name]
        if concept.count < minimum:
            continue
        label = concept.label
        words = label.split()
        cases.append(("name", label, name))
        if len(words[-1]) > 2 and not words[-1].endswith("s"):
            cases.append(("plural", " ".join([*words[:-1], plural(words[-1])]), name))
        longest = max(range(len(words)), key=lambda at: len(words[at]))
        if len(words[longest]) >= 4 and words[longest].isalpha():
            words[longest] = typo(words[longest], name)
            cases.append(("typo", " ".join(words), name))
        rng = random.Random(zlib.crc32(name.encode()))
        price = max(10, round(prices.get(name, 100) * 1.2, -1))
        cases.append(("query", f"{rng.choice(COLOURS)} {label} under {price:g}", name))
    return cases


def correct(match: TypeMatch | None, expected: str | None) -> bool:
    if expected is None:
        return match is None
    if expected == "":
        return match is not None and not match.supported
    return match is not None and match.concept == expected


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "aisle-bench-cache")
    parser.add_argument("--min-products", type=int, default=5)
    parser.add_argument(
        "--names-only", action="store_true", help="centroids from type names, no product vectors"
    )
    parser.add_argument("--show-errors", action="store_true", help="log every wrong answer to stderr")
    args = parser.parse_args()
    require_data(args.data_dir)

    products = read_products(args.data_dir)
    rows = [
        TypeRow(str(p.record.attributes.get("type", "")), p.record.categories, p.record.title)
        for p in products
    ]
    encoder = get_encoder()
    vectors = (
        None if args.names_only else product_vectors(encoder, [p.text for p in products], args.cache_dir)
    )
    started = time.perf_counter()
    TypeVocabulary.build(rows)
    rules_s = time.perf_counter() - started
    started = time.perf_counter()
    vocabulary = TypeVocabulary.build(rows, encoder=encoder, vectors=vectors)
    build_s = time.perf_counter() - started

    by_concept: dict[str, list[float]] = defaultdict(list)
    for product, code in zip(products, vocabulary.codes, strict=True):
        if code >= 0:
            for name in vocabulary.types[code].concepts:
                by_concept[name].append(float(product.record.price))
    prices = {name: statistics.median(values) for name, values in by_concept.items()}
    cases = generated(vocabulary, prices, args.min_products)
    cases += [("synonym" if expected else "unsupported" if expected == "" else "non-type", phrase, expected)
              for phrase, expected in HAND]  # fmt: skip
    query_vectors = encoder.encode([phrase for _, phrase, _ in cases])

    cold = [
        _timed(vocabulary, phrase, vector)[1]
        for (_, phrase, _), vector in zip(cases, query_vectors, strict=True)
    ]
    results: dict[str, list[bool]] = defaultdict(list)
    warm = []
    for (kind, phrase, expected), vector in zip(cases, query_vectors, strict=True):
        match, elapsed = _timed(vocabulary, phrase, vector)
        warm.append(elapsed)
        results[kind].append(correct(match, expected))
        if args.show_errors and not results[kind][-1]:
            got = None if match is None else (match.concept, match.method, match.closest)
            log(f"{kind:12} {phrase!r:40} expected {expected!r:20} got {got}")
    report = {
        "benchmark": "type_resolution",
        "products": len(products),
        "types": len(vocabulary.types),
        "concepts": len(vocabulary.concepts),
        "centroids": "names" if vectors is None else "products+names",
        "build_rules_s": round(rules_s, 2),
        "build_s": round(build_s, 2),
        "accuracy": {kind: round(sum(ok) / len(ok), 3) for kind, ok in results.items()},
        "phrases": {kind: len(ok) for kind, ok in results.items()},
        "overall": round(sum(sum(ok) for ok in results.values()) / len(cases), 3),
        "resolve_ms": {
            "p50": round(float(np.percentile(warm, 50)), 3),
            "p95": round(float(np.percentile(warm, 95)), 3),
            "cold_p95": round(float(np.percentile(cold, 95)), 3),
        },
    }
    print(json.dumps(report))


def _timed(vocabulary: TypeVocabulary, phrase: str, vector: np.ndarray) -> tuple[TypeMatch | None, float]:
    started = time.perf_counter()
    match = vocabulary.resolve(phrase, vector=vector)
    return match, (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
