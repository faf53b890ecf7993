"""Product search for the chat, the API and ``search_batch``: retrieval over the live index.

``retriever`` binds the pure retriever (``catalog.retrieval``) to this
process's live index version and encoder. ``search`` adds what only the
database knows: it re-checks every hard constraint against the live rows, so
a product edited or deactivated after the index version was built can never
break one, and it loads the products to show.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from .indexing import live_index
from .models import Brand, Category, Product, ProductAttributeValue
from .retrieval.encoder import Encoder, get_encoder
from .retrieval.filters import NO_CONSTRAINTS, Constraints, normalise_key
from .retrieval.retriever import Hit, Retriever

# How many more candidates to fetch when the database turns some down.
RETRY_FACTOR = 3
# Query texts whose vectors are kept, per process.
QUERY_VECTORS_CACHED = 1024


@dataclass(frozen=True)
class SearchHit:
    """A product to show and how retrieval found it."""

    product: Product
    hit: Hit

    @property
    def score(self) -> float:
        return self.hit.score


def encode_query(query_text: str) -> np.ndarray | None:
    """The query's unit vector from the live encoder, or ``None`` before the first ``build_index``."""
    current = retriever()
    if current is None or not query_text.strip():
        return None
    return _query_vector(current.encoder, query_text)


@functools.lru_cache(maxsize=QUERY_VECTORS_CACHED)
def _query_vector(encoder: Encoder, query_text: str) -> np.ndarray:
    # A conversation's "cheaper" and "more" search its query again; encoding is most of a turn.
    vector = encoder.encode([query_text])[0]
    vector.flags.writeable = False
    return vector


def retriever() -> Retriever | None:
    """A retriever over the active index version, or ``None`` before the first ``build_index``."""
    version = live_index().get()
    if version is None:
        return None
    return Retriever(
        version,
        get_encoder(settings.AISLE_DEVICE),
        fusion=settings.AISLE_FUSION,
        weights=settings.AISLE_FUSION_WEIGHTS,
    )


def search(
    query_text: str,
    constraints: Constraints = NO_CONSTRAINTS,
    k: int = 10,
    *,
    query_vector: np.ndarray | None = None,
) -> list[SearchHit]:
    """The ``k`` best active products for ``query_text`` meeting every constraint, in the fused
    retrieval order (rankers reorder them later). ``query_vector`` saves encoding the text again.
    """
    current = retriever()
    if current is None or not query_text.strip():
        return []
    if query_vector is None:
        query_vector = current.encoder.encode([query_text])[0]
    wanted = k
    while True:
        hits = current.retrieve(query_text, constraints, wanted, query_vector=query_vector)
        products = matching_products(constraints).in_bulk([hit.product_id for hit in hits])
        found = [SearchHit(products[hit.product_id], hit) for hit in hits if hit.product_id in products]
        # Fewer hits than asked for means retrieval has nothing more to give.
        if len(found) >= k or len(hits) < wanted or wanted >= k * RETRY_FACTOR**2:
            break
        wanted *= RETRY_FACTOR
    return found[:k]


def matching_products(constraints: Constraints) -> QuerySet[Product]:
    """Active products meeting ``constraints``, decided by the database (the filters' reference)."""
    products = Product.objects.active().select_related("brand")
    if constraints.price_min is not None:
        products = products.filter(price__gte=constraints.price_min)
    if constraints.price_max is not None:
        products = products.filter(price__lte=constraints.price_max)
    if constraints.in_stock:
        products = products.exclude(stock=0)
    if constraints.brands:
        products = products.filter(brand__in=_brand_ids(constraints.brands))
    if constraints.exclude_brands:
        products = products.exclude(brand__in=_brand_ids(constraints.exclude_brands))
    if constraints.categories:
        in_subtree = Q()
        for path in constraints.categories:
            in_subtree |= Q(path=path) | Q(path__startswith=f"{path}/")
        through = Product.categories.through.objects.filter(product=OuterRef("pk"))
        products = products.filter(Exists(through.filter(category__in=_categories(in_subtree))))
    for slug, wanted, unwanted in (
        ("color", constraints.colors, constraints.exclude_colors),
        ("material", constraints.materials, constraints.exclude_materials),
    ):
        if wanted:
            products = products.filter(_has_value(slug, wanted))
        if unwanted:
            products = products.exclude(_has_value(slug, unwanted))
    if constraints.exclude_ids:
        products = products.exclude(pk__in=constraints.exclude_ids)
    return products


def _brand_ids(names: Iterable[str]) -> list[int]:
    wanted = set(names)
    return [pk for pk, name in Brand.objects.values_list("pk", "name") if normalise_key(name) in wanted]


def _categories(condition: Q) -> QuerySet[Category]:
    return Category.objects.filter(condition).values("pk")


def _has_value(slug: str, values: Iterable[str]) -> Exists:
    any_value = Q()
    for value in values:
        any_value |= Q(value_text__iexact=value)
    return Exists(
        ProductAttributeValue.objects.filter(product=OuterRef("pk"), attribute__slug=slug).filter(any_value)
    )
