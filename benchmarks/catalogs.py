"""The public IKEA and Best Buy catalogs as the benchmarks read them, and their index.

Both are read with the project's own importers; each product gets the text
``build_index`` embeds and keyword-matches it by and the filter fields
``publish_active_products`` reads, and ``build_index`` here publishes them
with the real ``IndexStore``. No Django (``slugify`` aside).
"""

import hashlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.utils.text import slugify

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog.importers import ProductRecord, read_catalog  # noqa: E402
from catalog.retrieval.constraints import Constraints, constraints_from_slots  # noqa: E402
from catalog.retrieval.encoder import Encoder  # noqa: E402
from catalog.retrieval.filters import FilterRow  # noqa: E402
from catalog.retrieval.keyword_slots import Vocabulary, extract_slots  # noqa: E402
from catalog.retrieval.product_text import product_text  # noqa: E402
from catalog.retrieval.store import IndexStore, IndexVersion  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
CATALOGS = (("ikea", "ikea/ikea.csv"), ("bestbuy", "bestbuy/products.json"))


@dataclass(frozen=True)
class Product:
    """One catalog product as the benchmark sees it."""

    catalog: str
    record: ProductRecord
    text: str


def require_data(data_dir: Path) -> None:
    """Exit with a "skipped" message (non-zero) when the public catalogs are not there."""
    if not all((data_dir / relative).is_file() for _, relative in CATALOGS):
        sys.exit(f"skipped: the public catalogs are not in {data_dir} (see ../shared/data/README.md)")


def catalog_records(data_dir: Path) -> Iterator[tuple[str, ProductRecord]]:
    """``(catalog name, record)`` for every importable product of both catalogs, in file order."""
    for name, relative in CATALOGS:
        for _, record in read_catalog(data_dir / relative, name):
            if isinstance(record, ProductRecord):
                yield name, record


def record_text(record: ProductRecord) -> str:
    """The text ``build_index`` embeds and keyword-matches ``record`` by."""
    return product_text(
        title=record.title,
        brand=record.brand,
        categories=[" > ".join(path) for path in record.categories],
        attributes=record.attributes,
        description=record.description,
    )


def catalog_texts(data_dir: Path) -> list[str]:
    """The embedding text of every importable product in both catalogs."""
    return [record_text(record) for _, record in catalog_records(data_dir)]


def read_products(data_dir: Path) -> list[Product]:
    """Every importable product of both catalogs with its index text, in file order."""
    return [Product(name, record, record_text(record)) for name, record in catalog_records(data_dir)]


def category_path(names: Sequence[str]) -> str:
    """A category's slug path, as ``Category.path`` stores it."""
    return "/".join(slugify(name, allow_unicode=True) or "category" for name in names)


def filter_row(record: ProductRecord) -> FilterRow:
    """The product's filterable fields, as ``publish_active_products`` reads them from the database."""
    return FilterRow(
        price=float(record.price),
        stock=record.stock,
        brand=record.brand,
        categories=[category_path(path) for path in record.categories],
        colors=record.attributes.get("color") or [],
        materials=record.attributes.get("material") or [],
    )


def product_vectors(encoder: Encoder, texts: list[str], cache_dir: Path) -> np.ndarray:
    """The texts' vectors, from a ``.npy`` cache keyed by the texts and the encoder when present."""
    digest = hashlib.sha256(f"{encoder.name}|{encoder.precision}".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    path = cache_dir / f"aisle-retrieval-quality-{digest.hexdigest()[:20]}.npy"
    if path.exists():
        log(f"product vectors from cache {path}")
        return np.load(path)
    started = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=64)
    log(f"encoded {len(texts)} products in {time.perf_counter() - started:.1f}s")
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(temporary, vectors)
    os.replace(temporary, path)
    return vectors


def build_index(products: Sequence[Product], vectors: np.ndarray, folder: Path) -> IndexVersion:
    """Publish and load an index version whose product ids are the positions in ``products``."""
    store = IndexStore(folder)
    store.publish(
        np.arange(len(products), dtype=np.int64),
        vectors,
        [product.text for product in products],
        [filter_row(product.record) for product in products],
    )
    index = store.load()
    assert index is not None
    return index


def brand_vocabulary(products: Sequence[Product]) -> Vocabulary:
    """The vocabulary the live search reads brands with: every brand in the index."""
    return Vocabulary.from_brands({product.record.brand for product in products if product.record.brand})


def keyword_constraints(text: str, vocabulary: Vocabulary) -> Constraints:
    """The hard filters the live search API derives from a query's text today."""
    return constraints_from_slots(extract_slots(text, vocabulary))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
