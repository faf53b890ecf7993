"""Search quality through the product search service: NDCG@10 and type precision@10 of ``search_batch``.

Prepares a ``DATA_DIR`` with both public catalogs (IKEA + Best Buy) imported and
indexed by the code tree under test (``--repo``), then sends two labelled query
sets through ``manage.py search_batch --k 10`` (CONTRACTS §2), the same path as a
chat's first turn, and grades what it returns from the catalogs' own fields:

- ``fresh``: ``data/fresh_queries.jsonl``, written before any tuning for issue 14;
- ``tuned``: ``data/retrieval_queries.jsonl``, the 56 queries the project tuned on.

A product is of the asked type when its ``type`` attribute is one of the label's
``type.types``, or its type or title contains a ``type.any`` phrase, and neither
contains a ``type.none`` phrase. Grade 2: of the type and meeting every labelled
constraint (and, for a ``sort`` label, among the 10 first of those in that order);
grade 1: of the type only; grade 0: anything else. A ``missing_type`` query asks for
a type the catalog does not carry: it scores 1 when nothing is shown, else 0.

Reported per set: NDCG@10 (gains ``2^g - 1``, the ideal ranks the whole catalog),
NDCG@10 per kind, type precision@10 (the share of shown products that are of the
asked type, over queries whose type has at least 10 products and that showed
something), both also per kind, empty answers, and ``search_batch``'s own
milliseconds per query (mean, p50, p95; the first query pays for warming up).
Prints one JSON line; progress goes to stderr.

    python benchmarks/search_quality.py                                  # fresh DATA_DIR, this tree
    python benchmarks/search_quality.py --repo /tmp/other-tree --data-dir /tmp/aisle-sq --per-query
    python benchmarks/search_quality.py --check-labels                   # grade counts only
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Only the importers (CONTRACTS §2 formats): the grading must not move with the search code it grades.
from benchmarks.metrics import ndcg_at_k  # noqa: E402
from catalog.importers import ProductRecord, read_catalog  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_CATALOGS = ROOT.parent / "shared" / "data"
CATALOGS = (("ikea", "ikea/ikea.csv"), ("bestbuy", "bestbuy/products.json"))
SETS = {"fresh": DATA / "fresh_queries.jsonl", "tuned": DATA / "retrieval_queries.jsonl"}
K = 10
MIN_TYPE_PRODUCTS = 10  # type precision counts queries whose type has at least this many products
PREPARED = ".search_quality_prepared"
UNSET = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "AISLE_CURRENCY_RATES")
LIST_FIELDS = ("brands", "colors", "materials", "exclude_brands", "exclude_colors", "exclude_materials")
DIMENSIONS = ("width", "depth", "height")  # cm, IKEA's attributes
NUMBER_FIELDS = (
    "price_min",
    "price_max",
    *(f"{name}_{end}" for name in DIMENSIONS for end in ("min", "max")),
)
SORT_KEYS = ("price", "popularity")  # Best Buy's ``popularity``: higher is more popular; no ratings in either
_MARKS = re.compile("[\u2122\u00ae\u00a9\u0099]")


@dataclass(frozen=True)
class Product:
    """One catalog product: which catalog it came from and its imported record."""

    catalog: str
    record: ProductRecord


def read_products(folder: Path) -> list[Product]:
    """Every importable product of both catalogs, in file order, as ``import_catalog`` reads them."""
    return [
        Product(name, record)
        for name, relative in CATALOGS
        for _, record in read_catalog(folder / relative, name)
        if isinstance(record, ProductRecord)
    ]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- labels ----------------------------------------------------------------------------------------------


def plain(text: str) -> str:
    """Lower-case, trade marks dropped, single spaces: how type phrases and features are matched.

    Kept here rather than imported so that the grading cannot move with the code it grades.
    """
    return " ".join(_MARKS.sub("", str(text)).lower().split())


@dataclass(frozen=True)
class Label:
    """One labelled query: its text, kind, catalog, asked type, constraints and optional order."""

    id: str
    text: str
    kind: str
    catalog: str
    types: frozenset[str]
    any_phrases: tuple[str, ...]
    no_phrases: tuple[str, ...]
    constraints: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[str, str] | None = None
    missing_type: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Label":
        """One line of a query file; unknown constraint names are an error, not silently ignored."""
        constraints = dict(data.get("constraints", {}))
        unknown = set(constraints) - {*LIST_FIELDS, *NUMBER_FIELDS, "currency", "features"}
        if unknown:
            raise ValueError(f"{data.get('id')}: unknown constraint fields {sorted(unknown)}")
        for name in LIST_FIELDS:
            if name in constraints:
                constraints[name] = {plain(value) for value in constraints[name]}
        if "features" in constraints:
            constraints["features"] = [
                [plain(phrase) for phrase in group] for group in constraints["features"]
            ]
        sort = data.get("sort")
        if sort is not None and (sort["by"] not in SORT_KEYS or sort["order"] not in ("asc", "desc")):
            raise ValueError(f"{data.get('id')}: bad sort {sort}")
        wanted = data.get("type", {})
        return cls(
            id=data["id"],
            text=data["query"],
            kind=data.get("kind", "tuned"),
            catalog=data["catalog"],
            types=frozenset(plain(name) for name in wanted.get("types", ())),
            any_phrases=tuple(plain(phrase) for phrase in wanted.get("any", ())),
            no_phrases=tuple(plain(phrase) for phrase in wanted.get("none", ())),
            constraints=constraints,
            sort=(sort["by"], sort["order"]) if sort else None,
            missing_type=bool(data.get("missing_type")),
        )


def load_labels(path: Path) -> list[Label]:
    """The labelled queries of ``path``, one JSON object per non-blank line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Label.from_json(json.loads(line)) for line in lines if line.strip()]


# --- grading ---------------------------------------------------------------------------------------------


def is_of_type(label: Label, product: Product) -> bool:
    """Whether ``product`` is of the type ``label`` asks for (its catalog included)."""
    if label.missing_type or label.catalog not in ("any", product.catalog):
        return False
    kind = plain(product.record.attributes.get("type") or "")
    fields = (kind, plain(product.record.title))
    if kind not in label.types and not any(phrase in text for phrase in label.any_phrases for text in fields):
        return False
    return not any(phrase in text for phrase in label.no_phrases for text in fields)


def meets(constraints: Mapping[str, Any], product: Product) -> bool:
    """Whether ``product`` meets every labelled constraint, read from its own fields."""
    record = product.record
    currency = constraints.get("currency")
    has_bound = "price_min" in constraints or "price_max" in constraints
    if currency and has_bound and record.currency != currency:
        return False  # no conversion rates: a bound in one currency says nothing about another
    price = float(record.price)
    if price < constraints.get("price_min", -np.inf) or price > constraints.get("price_max", np.inf):
        return False
    for name in DIMENSIONS:
        value = record.attributes.get(name)
        low, high = constraints.get(f"{name}_min"), constraints.get(f"{name}_max")
        if (low is not None or high is not None) and value is None:
            return False
        if (low is not None and float(value) < low) or (high is not None and float(value) > high):
            return False
    brand = plain(record.brand)
    if ("brands" in constraints and brand not in constraints["brands"]) or brand in constraints.get(
        "exclude_brands", ()
    ):
        return False
    for key, wanted, unwanted in (
        ("color", "colors", "exclude_colors"),
        ("material", "materials", "exclude_materials"),
    ):
        values = {plain(value) for value in record.attributes.get(key) or ()}
        if (wanted in constraints and not values & constraints[wanted]) or values & constraints.get(
            unwanted, set()
        ):
            return False
    text = plain(" ".join((record.title, str(record.attributes.get("type") or ""), record.description)))
    return all(any(phrase in text for phrase in group) for group in constraints.get("features", ()))


def sort_value(product: Product, key: str) -> float:
    record = product.record
    return float(record.price) if key == "price" else float(record.attributes.get(key) or 0)


def grades(label: Label, products: Sequence[Product]) -> np.ndarray:
    """The grade of every product for ``label``, by position in ``products``."""
    of_type = np.array([is_of_type(label, product) for product in products])
    good = of_type & np.array([meets(label.constraints, product) for product in products])
    if label.sort is not None and good.any():
        key, order = label.sort
        values = np.array([sort_value(products[i], key) for i in np.flatnonzero(good)])
        values = values if order == "asc" else -values
        cut = np.sort(values)[min(K, len(values)) - 1]  # ties at the cut all count
        top = np.zeros_like(good)
        top[np.flatnonzero(good)[values <= cut]] = True
        good = top
    return of_type.astype(np.int64) + good.astype(np.int64)


def score(label: Label, all_grades: np.ndarray, ranked: np.ndarray) -> dict[str, Any]:
    """One query's metrics from the grades of the products it showed, in order."""
    of_type = int((all_grades >= 1).sum())
    shown = len(ranked)
    row: dict[str, Any] = {
        "ndcg@10": float(not shown) if label.missing_type else ndcg_at_k(ranked, all_grades),
        "shown": shown,
        "of_type_in_catalog": of_type,
        "relevant_in_catalog": int((all_grades == 2).sum()),
        "type_p@10": None,
    }
    if shown and not label.missing_type and of_type >= MIN_TYPE_PRODUCTS:
        row["type_p@10"] = float((ranked[:K] >= 1).mean())
    return row


# --- running the search service --------------------------------------------------------------------------


def service_env(data_dir: Path) -> dict[str, str]:
    """The embedded configuration: own DATA_DIR, no shared services, no currency rates, offline model."""
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    env.update(DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    return env


def manage(repo: Path, python: str, data_dir: Path, *args: str) -> None:
    """Run ``manage.py`` in ``repo``; its output goes to stderr, a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(
        [python, "manage.py", *args], cwd=repo, env=service_env(data_dir), stdout=sys.stderr, check=False
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed with exit status {done.returncode}")
    log(f"manage.py {args[0]}: {time.perf_counter() - started:.1f}s")


def prepare(repo: Path, python: str, data_dir: Path, catalogs: Path, train_parser: bool) -> None:
    """Migrate, import both catalogs once per ``data_dir``, index them; train the parser if asked
    and none is active."""
    marker = data_dir / PREPARED
    data_dir.mkdir(parents=True, exist_ok=True)
    manage(repo, python, data_dir, "migrate", "--noinput", "-v", "0")
    if marker.exists():
        log(f"reusing the catalog of {data_dir}")
    else:
        for name, relative in CATALOGS:
            manage(repo, python, data_dir, "import_catalog", str(catalogs / relative), "--format", name)
        marker.write_text(f"{repo}\n")
    # Brings a reused index up to date with the tree under test (its layout may differ); only
    # products whose text changed are encoded again.
    manage(repo, python, data_dir, "build_index")
    if train_parser:
        manage(repo, python, data_dir, "train_parser", "--if-missing")


def search_batch(repo: Path, python: str, data_dir: Path, labels: Sequence[Label], name: str) -> list[dict]:
    """``search_batch``'s answer line for every label, in order."""
    source, answers = (
        data_dir / f"search_quality_{name}_in.jsonl",
        data_dir / f"search_quality_{name}_out.jsonl",
    )
    source.write_text("".join(json.dumps({"id": label.id, "query": label.text}) + "\n" for label in labels))
    manage(repo, python, data_dir, "search_batch", str(source), str(answers), "--k", str(K))
    rows = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines() if line.strip()]
    if [row.get("id") for row in rows] != [label.id for label in labels]:
        sys.exit(f"search_batch answered {len(rows)} lines for {len(labels)} queries, or out of order")
    return rows


# --- reporting -------------------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def summarise(labels: Sequence[Label], rows: Sequence[dict], answers: Sequence[dict]) -> dict[str, Any]:
    """A set's figures from its per-query metrics and ``search_batch`` answers."""
    precision = [row["type_p@10"] for row in rows if row["type_p@10"] is not None]
    timings = [float(answer["ms"]) for answer in answers if "ms" in answer]
    by_kind: dict[str, list[dict]] = {}
    for label, row in zip(labels, rows, strict=True):
        by_kind.setdefault(label.kind, []).append(row)
    return {
        "queries": len(labels),
        "ndcg@10": mean([row["ndcg@10"] for row in rows]),
        "ndcg@10_without_missing_type": mean(
            [row["ndcg@10"] for label, row in zip(labels, rows, strict=True) if not label.missing_type]
        ),
        "type_p@10": mean(precision),
        "type_p@10_queries": len(precision),
        "empty": sum(row["shown"] == 0 for row in rows),
        "empty_with_relevant": sum(row["shown"] == 0 and row["relevant_in_catalog"] > 0 for row in rows),
        "errors": sum("error" in answer for answer in answers),
        "by_kind": {
            kind: {
                "queries": len(kind_rows),
                "ndcg@10": mean([row["ndcg@10"] for row in kind_rows]),
                "type_p@10": mean([row["type_p@10"] for row in kind_rows if row["type_p@10"] is not None]),
            }
            for kind, kind_rows in sorted(by_kind.items())
        },
        "ms_mean": mean(timings),
        "ms_p50": round(float(np.percentile(timings, 50)), 2) if timings else None,
        "ms_p95": round(float(np.percentile(timings, 95)), 2) if timings else None,
    }


def print_per_query(labels: Sequence[Label], rows: Sequence[dict], answers: Sequence[dict]) -> None:
    """One stderr row per query: NDCG@10, type precision, counts, the query and the slots it was read as."""
    log(f"{'id':5} {'kind':10} {'ndcg':>5} {'typeP':>5} {'shown':>5} {'type':>5} {'rel':>5}  query -> slots")
    for label, row, answer in zip(labels, rows, answers, strict=True):
        precision = "-" if row["type_p@10"] is None else f"{row['type_p@10']:.1f}"
        log(
            f"{label.id:5} {label.kind:10} {row['ndcg@10']:5.2f} {precision:>5} {row['shown']:5} "
            f"{row['of_type_in_catalog']:5} {row['relevant_in_catalog']:5}  {label.text!r} -> "
            f"{json.dumps(answer.get('slots'), ensure_ascii=False)}"
        )


def check_labels(labels: Sequence[Label], products: Sequence[Product]) -> None:
    """Grade counts, the types matched and a few grade-2 titles per query, to check the labels (stderr)."""
    for label in labels:
        all_grades = grades(label, products)
        matched = Counter(
            str(products[i].record.attributes.get("type")) for i in np.flatnonzero(all_grades >= 1)
        )
        good = [products[i].record.title[:60] for i in np.flatnonzero(all_grades == 2)[:3]]
        log(
            f"{label.id} [{label.kind}] {label.text!r}: type {int((all_grades >= 1).sum())}, "
            f"grade 2 {int((all_grades == 2).sum())}; types {matched.most_common(6)}; "
            f"e.g. {good}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="Code tree whose manage.py answers.")
    parser.add_argument("--python", default=sys.executable, help="Interpreter to run that manage.py with.")
    parser.add_argument(
        "--data-dir", type=Path, help="DATA_DIR to prepare once and reuse (default: temporary)."
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_CATALOGS, help="Folder of the public catalogs.")
    parser.add_argument("--train-parser", action="store_true", help="Also train the parser when preparing.")
    parser.add_argument("--sets", default="fresh,tuned", help="Comma-separated query sets to run.")
    parser.add_argument("--per-query", action="store_true", help="Per-query rows on stderr.")
    parser.add_argument("--check-labels", action="store_true", help="Print grade counts and stop.")
    args = parser.parse_args()
    if not all((args.data / relative).is_file() for _, relative in CATALOGS):
        sys.exit(f"skipped: the public catalogs are not in {args.data} (see ../shared/data/README.md)")
    names = args.sets.split(",")
    unknown = set(names) - set(SETS)
    if unknown:
        sys.exit(f"unknown query sets {sorted(unknown)}; known: {', '.join(SETS)}")

    started = time.perf_counter()
    products = read_products(args.data)
    position = {product.record.sku: i for i, product in enumerate(products)}
    labels = {name: load_labels(SETS[name]) for name in names}
    if args.check_labels:
        for name in names:
            check_labels(labels[name], products)
        return

    with tempfile.TemporaryDirectory(prefix="aisle-search-quality-") as scratch:
        data_dir = (args.data_dir or Path(scratch)).resolve()
        repo = args.repo.resolve()
        # manage.py runs in ``repo``: a relative interpreter path must not be read from there
        python = str(Path(args.python).absolute()) if os.sep in args.python else args.python
        prepare(repo, python, data_dir, args.data, args.train_parser)
        active = data_dir / "parser" / "ACTIVE"  # the version store's pointer; none: the keyword rules parse
        parser_version = active.read_text().strip() if active.exists() else None
        results = {}
        for name in names:
            answers = search_batch(repo, python, data_dir, labels[name], name)
            rows = []
            for label, answer in zip(labels[name], answers, strict=True):
                all_grades = grades(label, products)
                shown = [position.get(sku) for sku in answer.get("results", [])]
                ranked = np.array([0 if i is None else all_grades[i] for i in shown], dtype=np.int64)
                rows.append(score(label, all_grades, ranked))
            if args.per_query:
                print_per_query(labels[name], rows, answers)
            results[name] = summarise(labels[name], rows, answers)
    print(
        json.dumps(
            {
                "benchmark": "search_quality",
                "date": datetime.date.today().isoformat(),
                "repo": str(repo),
                "machine": {
                    "platform": platform.platform(),
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                },
                "products": len(products),
                "k": K,
                "parser": parser_version,
                "results": results,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
