"""Semantic product search over the stored embeddings (the first chat path).

The embedding matrix is cached per process and reloaded when the stored
embeddings or the set of active products change, so a running web process sees
a rebuilt index without a restart.
"""

import threading
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, QuerySet

from recsys_plugins.rankers.base import Candidates
from recsys_plugins.rankers.cosine import CosineRanker

from .models import Product, ProductEmbedding
from .retrieval.encoder import get_encoder


@dataclass(frozen=True)
class SearchHit:
    product: Product
    score: float


class _EmbeddingCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._candidates = _load(ProductEmbedding.objects.none())

    def candidates(self) -> Candidates:
        """The active products' embeddings, reloaded when they changed."""
        rows = ProductEmbedding.objects.filter(product__is_active=True)
        signature = tuple(rows.aggregate(count=Count("pk"), latest=Max("updated_at")).values())
        with self._lock:
            if signature != self._signature:
                self._candidates = _load(rows)
                self._signature = signature
            return self._candidates


def _load(rows: QuerySet[ProductEmbedding]) -> Candidates:
    ids, vectors = [], []
    for product_id, blob in rows.values_list("product_id", "vector"):
        ids.append(product_id)
        vectors.append(np.frombuffer(blob, dtype=np.float32))
    matrix = np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    return Candidates(np.asarray(ids, dtype=np.int64), matrix)


_cache = _EmbeddingCache()


def search_products(query: str, k: int = 10) -> list[SearchHit]:
    """The ``k`` active products whose embeddings are closest to ``query``."""
    candidates = _cache.candidates()
    if len(candidates) == 0 or not query.strip():
        return []
    query_vector = get_encoder(settings.AISLE_DEVICE).encode([query])[0]
    ranked = CosineRanker().rank(query_vector, candidates, k)
    products = (
        Product.objects.active()
        .select_related("brand")
        .prefetch_related("categories")
        .in_bulk([product_id for product_id, _ in ranked])
    )
    return [SearchHit(products[pid], score) for pid, score in ranked if pid in products]
