"""Admin for the catalog: products with import/export, categories, brands, attributes."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin

from core import broker

from .indexing import queue_refresh, roll_back_index
from .links import safe_url
from .models import Attribute, Brand, Category, Product, ProductAttributeValue
from .resources import ProductResource
from .signals import schedule_index_refresh
from .tasks import refresh_index


class PriceBandFilter(admin.SimpleListFilter):
    title = "price band"
    parameter_name = "price_band"
    BANDS = {
        "0-50": (0, 50),
        "50-200": (50, 200),
        "200-1000": (200, 1000),
        "1000-": (1000, None),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            (key, f"{low}–{high}" if high else f"{low} and more") for key, (low, high) in self.BANDS.items()
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        if self.value() not in self.BANDS:
            return queryset
        low, high = self.BANDS[self.value()]
        queryset = queryset.filter(price__gte=low)
        return queryset.filter(price__lt=high) if high is not None else queryset


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock_state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("in", "In stock"), ("out", "Out of stock"), ("unknown", "Unknown")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        match self.value():
            case "in":
                return queryset.filter(stock__gt=0)
            case "out":
                return queryset.filter(stock=0)
            case "unknown":
                return queryset.filter(stock__isnull=True)
        return queryset


class AttributeValueInline(admin.TabularInline):
    model = ProductAttributeValue
    extra = 0
    autocomplete_fields = ["attribute"]


@admin.register(Product)
class ProductAdmin(ImportExportModelAdmin):
    resource_classes = [ProductResource]
    list_display = [
        "thumbnail", "sku", "title", "brand", "price", "currency", "stock", "rating",
        "is_active", "index_stale", "updated_at",
    ]  # fmt: skip
    list_display_links = ["sku", "title"]
    list_filter = [
        "is_active",
        "index_stale",
        StockFilter,
        PriceBandFilter,
        "categories",
        "brand",
        "currency",
    ]
    search_fields = ["sku", "title", "description", "brand__name"]
    list_select_related = ["brand"]
    autocomplete_fields = ["brand"]
    filter_horizontal = ["categories"]
    readonly_fields = ["thumbnail", "created_at", "updated_at", "content_hash", "index_stale"]
    inlines = [AttributeValueInline]
    actions = ["refresh_search_index", "deactivate", "roll_back_search_index"]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["sku", "title", "description", "brand", "categories"]}),
        ("Price and stock", {"fields": ["price", "currency", "stock", "is_active"]}),
        ("Links and reviews", {"fields": ["thumbnail", "image_url", "url", "rating", "rating_count"]}),
        ("Bookkeeping", {"fields": ["index_stale", "content_hash", "created_at", "updated_at"]}),
    ]

    @admin.display(description="image")
    def thumbnail(self, product: Product) -> str:
        image_url = safe_url(product.image_url)
        if not image_url:
            return "—"
        return format_html(
            '<img src="{}" alt="" loading="lazy" style="height:48px;width:48px;object-fit:contain">',
            image_url,
        )

    def save_model(self, request: HttpRequest, obj: Product, form, change: bool) -> None:
        obj.content_hash = ""  # edited by hand: the next import of this SKU rewrites it
        super().save_model(request, obj, form, change)

    def has_import_permission(self, request: HttpRequest) -> bool:
        """The settings' code (add) and change: an import updates the SKUs it already has."""
        return super().has_import_permission(request) and self.has_change_permission(request)

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return (
            super()
            .get_export_queryset(request)
            .select_related("brand")
            .prefetch_related("categories", "attribute_values__attribute")
        )

    @admin.action(description="Re-encode and reindex (in the background)", permissions=["change"])
    def refresh_search_index(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        product_ids = list(queryset.values_list("pk", flat=True))
        job = queue_refresh(f"admin: re-encode {len(product_ids)} products", product_ids=product_ids)
        task_id = broker.send(refresh_index, job_id=job.pk)
        if task_id is None:
            self.message_user(
                request,
                f"Could not queue the reindex now: the task broker is not reachable. Index job #{job.pk} "
                "is recorded; the index sweep sends it once the broker is back.",
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            f"Queued re-encoding of {len(product_ids)} products and a new search index "
            f"(index job #{job.pk}, task {task_id}).",
            messages.SUCCESS,
        )

    @admin.action(description="Deactivate (hide from shoppers)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        count = queryset.update(is_active=False)
        schedule_index_refresh()
        self.message_user(request, f"Deactivated {count} products.", messages.SUCCESS)

    @admin.action(
        description="Roll back the search index to the previous version (any selection)",
        permissions=["change"],
    )
    def roll_back_search_index(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        """The whole index goes back one kept version; which products are selected does not matter."""
        try:
            version = roll_back_index()
        except LookupError as problem:
            self.message_user(
                request,
                f"No earlier search index version to roll back to ({problem}); the active one stays.",
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            f"The search index is back at version {version}; searches use it from their next request. "
            "The next catalog edit publishes the catalog as it is again.",
            messages.SUCCESS,
        )


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["indented_name", "path", "product_count"]
    search_fields = ["name", "full_name", "path"]
    readonly_fields = ["path", "full_name"]
    fields = ["name", "parent", "path", "full_name"]

    @admin.display(description="category", ordering="path")
    def indented_name(self, category: Category) -> str:
        return format_html('<span style="padding-left:{}em">{}</span>', 1.5 * category.depth, category.name)

    @admin.display(description="products")
    def product_count(self, category: Category) -> int:
        return category.products.count()


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "value_type", "is_multi_valued", "unit"]
    search_fields = ["slug", "name"]
