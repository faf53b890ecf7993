"""Catalog business logic: importing records.

Commands and the admin call these functions; they hold no I/O of their own
beyond the database. Keeping the search indexes current is ``indexing``'s job.
"""

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from django.db import DataError, IntegrityError, transaction
from django.utils.text import slugify

from .importers import ProductRecord, RowError
from .importers.readers import Row
from .importers.records import MULTI_VALUED_ATTRIBUTES
from .models import Attribute, Brand, Category, Product, ProductAttributeValue

logger = logging.getLogger(__name__)

Outcome = Literal["created", "updated", "unchanged"]
LENGTH_UNITS = {"width": "cm", "depth": "cm", "height": "cm"}


@dataclass
class ImportSummary:
    """What an import did; ``rejected`` lists ``{"row", "reason"}`` per bad row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def reject(self, row: int, reason: str) -> None:
        self.rejected.append({"row": row, "reason": reason})

    def describe(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {len(self.rejected)}."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


class CatalogWriter:
    """Upserts ``ProductRecord``s by SKU, caching brands, categories and attributes."""

    def __init__(self) -> None:
        self._brands: dict[str, Brand] = {}
        self._categories: dict[tuple[str, ...], Category] = {}
        self._attributes: dict[str, Attribute] = {}

    def upsert(self, record: ProductRecord) -> Outcome:
        digest = record.content_hash()
        product = Product.objects.filter(sku=record.sku).first()
        if product is not None and product.content_hash == digest:
            return "unchanged"
        fields = {
            "title": record.title,
            "description": record.description,
            "brand": self._brand(record.brand),
            "price": record.price,
            "currency": record.currency,
            "image_url": record.image_url,
            "url": record.url,
            "rating": record.rating,
            "rating_count": record.rating_count,
            "stock": record.stock,
            "content_hash": digest,
            "index_stale": True,
        }
        if product is None:
            product = Product.objects.create(sku=record.sku, **fields)
            outcome: Outcome = "created"
        else:
            for name, value in fields.items():
                setattr(product, name, value)
            product.save()
            outcome = "updated"
        product.categories.set([self._category(path) for path in record.categories])
        product.attribute_values.all().delete()
        ProductAttributeValue.objects.bulk_create(self._attribute_rows(product, record.attributes))
        return outcome

    def write(self, record: ProductRecord) -> Outcome:
        """``upsert`` in its own savepoint; a row the database refuses becomes a ``RowError``.

        Other database errors (a lost connection, a lock) are not the row's
        fault and propagate: the batch is rolled back and the import stops.
        """
        try:
            with transaction.atomic():
                return self.upsert(record)
        except (IntegrityError, DataError) as error:
            self.forget()  # the cache may hold rows the savepoint just rolled back
            raise RowError(f"database refused the row: {error}") from error

    def forget(self) -> None:
        """Drop cached rows, e.g. after a rollback that may have removed some."""
        self._brands.clear()
        self._categories.clear()
        self._attributes.clear()

    def _brand(self, name: str) -> Brand | None:
        if not name:
            return None
        if name not in self._brands:
            brand = Brand.objects.filter(name__iexact=name).first()
            if brand is None:
                brand = Brand.objects.create(name=name, slug=_unique_slug(Brand, name))
            self._brands[name] = brand
        return self._brands[name]

    def _category(self, path: tuple[str, ...]) -> Category:
        if path not in self._categories:
            parent = self._category(path[:-1]) if len(path) > 1 else None
            category = Category(name=path[-1], parent=parent)
            category, _ = Category.objects.get_or_create(
                path=category.computed_path()[0], defaults={"name": path[-1], "parent": parent}
            )
            self._categories[path] = category
        return self._categories[path]

    def _attribute(self, slug: str, value: Any) -> Attribute:
        if slug not in self._attributes:
            sample = value[0] if isinstance(value, list) and value else value
            if isinstance(sample, bool):
                value_type = Attribute.ValueType.BOOLEAN
            elif isinstance(sample, int | float):
                value_type = Attribute.ValueType.NUMBER
            else:
                value_type = Attribute.ValueType.TEXT
            attribute, created = Attribute.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": slug.replace("_", " ").capitalize(),
                    "value_type": value_type,
                    "is_multi_valued": slug in MULTI_VALUED_ATTRIBUTES or isinstance(value, list),
                    "unit": LENGTH_UNITS.get(slug, ""),
                },
            )
            if not created and isinstance(value, list) and not attribute.is_multi_valued:
                attribute.is_multi_valued = True
                attribute.save(update_fields=["is_multi_valued"])
            self._attributes[slug] = attribute
        return self._attributes[slug]

    def _attribute_rows(
        self, product: Product, attributes: dict[str, Any]
    ) -> Iterator[ProductAttributeValue]:
        for slug, value in attributes.items():
            attribute = self._attribute(slug, value)
            for item in value if isinstance(value, list) else [value]:
                row = ProductAttributeValue(product=product, attribute=attribute)
                if isinstance(item, bool):
                    row.value_bool = item
                elif isinstance(item, int | float):
                    row.value_number = float(item)
                else:
                    row.value_text = str(item)
                yield row


def _unique_slug(model: type[Brand], name: str) -> str:
    base = slugify(name)[:120] or "brand"
    slug, suffix = base, 2
    while model.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def import_rows(
    rows: Iterable[Row],
    *,
    dry_run: bool = False,
    batch_size: int = 200,
    on_row: Callable[[], None] | None = None,
) -> ImportSummary:
    """Upsert every good row, reject every bad one with its reason.

    Rows are committed in batches; each row has its own savepoint, so a row
    the database refuses is rejected without touching its neighbours. With
    ``dry_run`` everything is rolled back and the summary says what would happen.
    """
    summary = ImportSummary()
    writer = CatalogWriter()
    with transaction.atomic() if dry_run else contextlib.nullcontext():
        for batch in chunks(rows, batch_size):
            with transaction.atomic():
                for number, record in batch:
                    _import_one(writer, summary, number, record)
                    if on_row:
                        on_row()
        if dry_run:
            transaction.set_rollback(True)
    return summary


def _import_one(
    writer: CatalogWriter, summary: ImportSummary, number: int, record: ProductRecord | RowError
) -> None:
    if isinstance(record, RowError):
        summary.reject(number, str(record))
        return
    try:
        summary.count(writer.write(record))
    except RowError as error:
        summary.reject(number, f"{record.sku}: {error}")


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
