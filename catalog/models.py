"""The shop's catalog: products, a category tree, brands and typed attributes.

Attributes follow the entity–attribute–value shape of Saleor and django-oscar:
one row per (product, attribute, value), typed columns, so that "colour is
grey" or "width under 200 cm" stay database queries rather than JSON scans.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from core.jobs import JobStatus

from .importers import READERS


class Brand(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=140, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """A node of the category tree, with its materialised path for subtree queries."""

    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.CASCADE
    )
    path = models.CharField(max_length=500, unique=True, help_text="Slugs from the root, joined by '/'.")
    full_name = models.CharField(max_length=600, help_text="Names from the root, joined by ' > '.")

    class Meta:
        ordering = ["path"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keep ``path`` and ``full_name`` in step with name and parent, down the subtree."""
        old_path = self.path
        self.path, self.full_name = self.computed_path()
        super().save(*args, **kwargs)
        if old_path and old_path != self.path:
            for child in self.children.all():
                child.save()

    @property
    def depth(self) -> int:
        return self.path.count("/")

    def computed_path(self) -> tuple[str, str]:
        """``(path, full_name)`` as they follow from ``name`` and ``parent``."""
        slug = self.slug_for(self.name)
        if self.parent is None:
            return slug, self.name
        return f"{self.parent.path}/{slug}", f"{self.parent.full_name} > {self.name}"

    def clean(self) -> None:
        path, _ = self.computed_path()
        if (
            self.pk
            and self.parent_id
            and (self.parent_id == self.pk or self.parent.path.startswith(f"{self.path}/"))
        ):
            raise ValidationError({"parent": "A category cannot sit inside itself."})
        if Category.objects.filter(path=path).exclude(pk=self.pk).exists():
            raise ValidationError({"name": f"A category {path!r} already exists."})

    @staticmethod
    def slug_for(name: str) -> str:
        return slugify(name, allow_unicode=True) or "category"


class Attribute(models.Model):
    """A product property such as colour, material or width, with its value type."""

    class ValueType(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        BOOLEAN = "boolean", "Yes/no"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    value_type = models.CharField(max_length=10, choices=ValueType, default=ValueType.TEXT)
    is_multi_valued = models.BooleanField(
        default=False, help_text="A product may have several values (colours, materials)."
    )
    unit = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class ProductQuerySet(models.QuerySet["Product"]):
    def active(self) -> "ProductQuerySet":
        return self.filter(is_active=True)

    def stale(self) -> "ProductQuerySet":
        return self.filter(index_stale=True)

    def to_encode(self) -> "ProductQuerySet":
        """Active products whose vector is out of date or missing (reactivated after an edit)."""
        return self.active().filter(models.Q(index_stale=True) | models.Q(embedding__isnull=True))

    def with_details(self) -> "ProductQuerySet":
        """With what a product card shows: brand, categories and attributes (three queries in all)."""
        return self.select_related("brand").prefetch_related(*product_prefetches())


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    brand = models.ForeignKey(
        Brand, null=True, blank=True, related_name="products", on_delete=models.SET_NULL
    )
    categories = models.ManyToManyField(Category, blank=True, related_name="products")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    image_url = models.CharField("image URL", max_length=1000, blank=True)
    url = models.CharField("page URL", max_length=1000, blank=True)
    rating = models.FloatField(null=True, blank=True)
    rating_count = models.PositiveIntegerField(default=0)
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Empty when unknown.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    index_stale = models.BooleanField(
        "index stale",
        default=True,
        help_text="Set when the product changed since its embedding was last built.",
    )

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        indexes = [
            models.Index(fields=["price"]),
            models.Index(fields=["is_active", "index_stale"]),
            # The parser's vocabulary is rebuilt when the latest change moves: read once per message.
            models.Index(fields=["updated_at"], name="catalog_product_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.sku})"

    def attribute_dict(self) -> dict[str, Any]:
        """Attributes as ``{slug: value}``; multi-valued ones as lists."""
        values: dict[str, list[Any]] = {}
        multi: set[str] = set()
        for row in self.attribute_values.all():
            values.setdefault(row.attribute.slug, []).append(row.value)
            if row.attribute.is_multi_valued:
                multi.add(row.attribute.slug)
        return {
            slug: found if slug in multi or len(found) > 1 else found[0] for slug, found in values.items()
        }


def product_prefetches() -> tuple[str | models.Prefetch, ...]:
    """The prefetches a product card needs: its categories, and its attribute values with their
    attributes in one query (``attribute_values__attribute`` would take two)."""
    values = ProductAttributeValue.objects.select_related("attribute")
    return "categories", models.Prefetch("attribute_values", queryset=values)


class ProductAttributeValue(models.Model):
    product = models.ForeignKey(Product, related_name="attribute_values", on_delete=models.CASCADE)
    attribute = models.ForeignKey(Attribute, related_name="values", on_delete=models.CASCADE)
    value_text = models.CharField(max_length=255, blank=True)
    value_number = models.FloatField(null=True, blank=True)
    value_bool = models.BooleanField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["attribute", "value_text"]),
            models.Index(fields=["attribute", "value_number"]),
            # The search filters ask "has this product a colour in ..." per candidate.
            models.Index(fields=["product", "attribute"], name="catalog_pav_product_attr"),
        ]

    def __str__(self) -> str:
        return f"{self.attribute.slug}={self.value}"

    @property
    def value(self) -> Any:
        if self.value_number is not None:
            return int(self.value_number) if self.value_number.is_integer() else self.value_number
        if self.value_bool is not None:
            return self.value_bool
        return self.value_text


class ProductEmbedding(models.Model):
    """The encoder's vector for a product's text; the source the indexes are built from."""

    product = models.OneToOneField(
        Product, primary_key=True, related_name="embedding", on_delete=models.CASCADE
    )
    model_name = models.CharField(max_length=200)
    vector = models.BinaryField(help_text="float32, L2-normalised.")
    text_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"embedding of {self.product_id}"


class IndexJob(models.Model):
    """One index refresh: why it was asked, which worker ran it, how far it got, how it ended.

    The row is written before the task is sent, so a refresh whose message or worker was
    lost is still on record; the index sweep (``catalog.tasks.sweep_index``) sends it again.
    """

    Status = JobStatus

    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    reason = models.CharField(max_length=200, blank=True, help_text="Why the refresh was asked for.")
    product_ids = models.JSONField(
        null=True, blank=True, help_text="Products to re-encode; empty: whatever is stale."
    )
    full = models.BooleanField(default=False, help_text="Re-encode every active product.")
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    progress = models.JSONField(default=dict, blank=True, help_text="Stage, done, total.")
    result = models.JSONField(null=True, blank=True, help_text="What build_index reported.")
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent to a worker.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Its worker's latest progress.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"index refresh {self.pk} ({self.status})"


def _imports_storage() -> FileSystemStorage:
    """Uploaded catalog files, kept beside the rest of the state (never served)."""
    return FileSystemStorage(location=settings.DATA_DIR / "imports")


class CatalogImport(models.Model):
    """A catalog file uploaded in the admin: previewed, then imported (in a worker when large).

    The upload is read with the same readers and validation as ``import_catalog``. The preview
    lists the rows that cannot be imported and why; confirming stores every good row. The
    result keeps the counts and each rejected row with its reason (the rejected-rows report).
    """

    Status = JobStatus

    file = models.FileField(storage=_imports_storage, upload_to="%Y/%m/")
    file_name = models.CharField(max_length=255, blank=True, help_text="The name it was uploaded as.")
    format = models.CharField(
        max_length=16,
        choices=[(name, name) for name in READERS],
        help_text="The file's layout, as import_catalog --format reads it.",
    )
    place_under = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Put the file's categories under this one (empty: where the file says).",
    )
    match_existing = models.BooleanField(
        default=True,
        help_text="A file category named like exactly one category already in the tree goes there "
        "(the file's 'Beds' into 'Furniture > Beds'), instead of starting a second tree.",
    )
    refresh_index = models.BooleanField(
        default=True,
        help_text="Refresh the search index once the import ends, so that shoppers find the new products.",
    )
    status = models.CharField(max_length=16, choices=Status, default="", blank=True)
    preview = models.JSONField(default=dict, blank=True, help_text="Rows, good rows, new SKUs, bad rows.")
    progress = models.JSONField(default=dict, blank=True, help_text="Rows done of the total.")
    summary = models.JSONField(default=dict, blank=True, help_text="Created, updated, unchanged, rejected.")
    rejected = models.JSONField(default=list, blank=True, help_text="Each rejected row and why.")
    index_job = models.ForeignKey(
        "IndexJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "catalog import"

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name or self.file.name}"
