"""Keeping the search indexes in step with the catalog.

Two stages, both under the index store's publish lock:

1. **Encode**: products marked stale get their text re-embedded, in chunks,
   into ``ProductEmbedding`` rows. A product whose text did not change (a
   price or stock edit) keeps its vector and is only unmarked.
2. **Publish**: when the catalog changed since the active version (or on
   ``full``), a new index version is built from the stored vectors, texts and
   filter fields of every active product and made active atomically.

``build_index`` runs both; ``build_index`` the command, the Celery tasks and
the signal-driven refresh all call it.
"""

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Sum

from .models import Product, ProductEmbedding
from .retrieval.encoder import DIMENSION, get_encoder
from .retrieval.filters import FilterRow
from .retrieval.product_text import product_text
from .retrieval.store import IndexStore, LiveIndex
from .services import chunks

logger = logging.getLogger(__name__)

# Products encoded per call: the encoder sorts a call's texts by length, so
# large calls pad little; each chunk is stored in its own transaction.
ENCODE_CHUNK = 1024
READ_CHUNK = 2000

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``; stage is ``encoding`` or ``publishing``."""


@dataclass
class IndexReport:
    """What ``build_index`` did."""

    encoded: int
    products: int
    version: str | None
    published: bool
    seconds: float

    @property
    def per_second(self) -> float:
        """Products encoded per second over the whole build."""
        return self.encoded / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "encoded": self.encoded,
            "products": self.products,
            "version": self.version,
            "published": self.published,
            "seconds": round(self.seconds, 3),
            "products_per_second": round(self.per_second, 1),
        }


@functools.cache
def _store(root: Path) -> IndexStore:
    return IndexStore(root)


@functools.cache
def _live(root: Path) -> LiveIndex:
    return LiveIndex(_store(root))


def index_store() -> IndexStore:
    """The index versions under ``DATA_DIR/index``."""
    return _store(Path(settings.DATA_DIR) / "index")


def live_index() -> LiveIndex:
    """This process's copy of the active index version, following new publications."""
    return _live(Path(settings.DATA_DIR) / "index")


def build_index(
    product_ids: Iterable[int] | None = None,
    *,
    full: bool = False,
    device: str | None = None,
    on_progress: Progress | None = None,
) -> IndexReport:
    """Encode stale products (every active one with ``full``, or just ``product_ids``), then publish.

    A new version is published when the catalog changed since the active
    one, when none exists, or with ``full``.
    """
    started = time.perf_counter()
    store = index_store()
    with store.publishing():
        encoded = encode_products(product_ids, full=full, device=device, on_progress=on_progress)
        signature = catalog_signature()
        manifest = store.manifest()
        published = full or manifest is None or manifest.get("signature") != signature
        if published:
            publish_active_products(signature, on_progress=on_progress)
            manifest = store.manifest()
    return IndexReport(
        encoded=encoded,
        products=manifest["products"] if manifest else 0,
        version=manifest["version"] if manifest else None,
        published=published,
        seconds=time.perf_counter() - started,
    )


def text_for(product: Product) -> str:
    """The text ``product`` is embedded and keyword-matched by (see ``retrieval.product_text``)."""
    return product_text(
        title=product.title,
        brand=product.brand.name if product.brand else "",
        categories=[category.full_name for category in product.categories.all()],
        attributes=product.attribute_dict(),
        description=product.description,
    )


def encode_products(
    product_ids: Iterable[int] | None = None,
    *,
    full: bool = False,
    device: str | None = None,
    on_progress: Progress | None = None,
) -> int:
    """Embed stale active products (all with ``full``, or the given ids); returns how many were encoded.

    A product edited while its chunk was encoding stays stale, so the next
    run picks it up again.
    """
    products = Product.objects.active()
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    elif not full:
        products = products.stale()
    total = products.count()
    products = products.select_related("brand", "embedding").prefetch_related(
        "categories", "attribute_values__attribute"
    )
    encoder = None
    done = encoded = 0
    for chunk in chunks(products.order_by("pk").iterator(chunk_size=ENCODE_CHUNK), ENCODE_CHUNK):
        texts = [text_for(product) for product in chunk]
        hashes = [_digest(text) for text in texts]
        changed = [i for i, product in enumerate(chunk) if full or _stored_hash(product) != hashes[i]]
        vectors = np.zeros((0, 0), dtype=np.float32)
        if changed:
            encoder = encoder or get_encoder(device or settings.AISLE_DEVICE)
            vectors = encoder.encode([texts[i] for i in changed])
        _store_embeddings(chunk, changed, hashes, vectors, encoder.name if encoder else "")
        done += len(chunk)
        encoded += len(changed)
        if on_progress:
            on_progress("encoding", done, total)
    return encoded


def _stored_hash(product: Product) -> str | None:
    try:
        return product.embedding.text_hash
    except ProductEmbedding.DoesNotExist:
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _store_embeddings(
    products: list[Product], changed: list[int], hashes: list[str], vectors: np.ndarray, model_name: str
) -> None:
    with transaction.atomic():
        ProductEmbedding.objects.bulk_create(
            [
                ProductEmbedding(
                    product=products[i], model_name=model_name, vector=vector.tobytes(), text_hash=hashes[i]
                )
                for i, vector in zip(changed, vectors, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["product"],
            update_fields=["model_name", "vector", "text_hash", "updated_at"],
        )
        for product in products:
            Product.objects.filter(pk=product.pk, updated_at=product.updated_at).update(index_stale=False)


def catalog_signature() -> str:
    """Changes whenever the set of active products, one of them, or a stored vector changes."""
    summary = (
        Product.objects.active()
        .filter(embedding__isnull=False)
        .aggregate(
            count=Count("pk"),
            ids=Sum("pk"),
            edited=Max("updated_at"),
            embedded=Max("embedding__updated_at"),
        )
    )
    return _digest(repr(sorted((key, str(value)) for key, value in summary.items())))


def publish_active_products(signature: str, on_progress: Progress | None = None) -> str:
    """Build and activate an index version of every active product that has a vector."""
    products = (
        Product.objects.active()
        .filter(embedding__isnull=False)
        .select_related("brand", "embedding")
        .prefetch_related("categories", "attribute_values__attribute")
        .order_by("pk")
    )
    total = products.count()
    ids, vectors, texts, rows = [], [], [], []
    model_names = set()
    for product in products.iterator(chunk_size=READ_CHUNK):
        attributes = product.attribute_dict()
        ids.append(product.pk)
        vectors.append(np.frombuffer(product.embedding.vector, dtype=np.float32))
        model_names.add(product.embedding.model_name)
        texts.append(text_for(product))
        rows.append(
            FilterRow(
                price=float(product.price),
                stock=product.stock,
                brand=product.brand.name if product.brand else "",
                categories=[category.path for category in product.categories.all()],
                colors=_as_list(attributes.get("color")),
                materials=_as_list(attributes.get("material")),
            )
        )
        if on_progress and len(ids) % READ_CHUNK == 0:
            on_progress("publishing", len(ids), total)
    matrix = np.vstack(vectors) if vectors else np.zeros((0, DIMENSION), dtype=np.float32)
    version = index_store().publish(
        np.asarray(ids, dtype=np.int64),
        matrix,
        texts,
        rows,
        metadata={"signature": signature, "encoder": sorted(model_names)},
    )
    if on_progress:
        on_progress("publishing", total, total)
    return version


def _as_list(value: object) -> list[str]:
    if value in (None, ""):
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]
