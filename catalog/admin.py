"""Admin for the catalog: products with export, catalog file imports, categories, brands, attributes."""

import csv
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from import_export.admin import ExportMixin

from core import broker
from core.admin import ReadOnlyAdmin

from . import imports
from .indexing import queue_refresh, roll_back_index
from .links import safe_url
from .models import Attribute, Brand, CatalogImport, Category, IndexJob, Product, ProductAttributeValue
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
class ProductAdmin(ExportMixin, admin.ModelAdmin):
    """Products; files are imported under Catalog imports (every ``import_catalog`` format), and
    exported here in the ``csv`` format."""

    resource_classes = [ProductResource]
    change_list_template = "admin/catalog/product/change_list.html"
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

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "may_import": may_import(request)})

    def save_model(self, request: HttpRequest, obj: Product, form, change: bool) -> None:
        obj.content_hash = ""  # edited by hand: the next import of this SKU rewrites it
        super().save_model(request, obj, form, change)

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_export_queryset(request).with_details()

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


IMPORT_PERMISSIONS = ("catalog.add_catalogimport", "catalog.add_product", "catalog.change_product")


def may_import(request: HttpRequest) -> bool:
    """An import creates and updates products: it takes its own permission and both of those."""
    return request.user.has_perms(IMPORT_PERMISSIONS)


@admin.register(CatalogImport)
class CatalogImportAdmin(admin.ModelAdmin):
    """Upload a catalog file, read its preview (each bad row and why), confirm, follow the import."""

    list_display = ["pk", "file_name", "format", "state", "percent", "counts", "created_by", "created_at"]
    list_filter = ["status", "format"]
    fields = ["file", "format", "place_under", "match_existing", "refresh_index"]
    autocomplete_fields = ["place_under"]
    change_form_template = "admin/catalog/catalogimport/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_import(request)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # Ticked where catalog edits refresh the index by themselves (the default).
        return {
            "refresh_index": settings.AISLE_INDEX_AUTO_REFRESH,
            **super().get_changeform_initial_data(request),
        }

    def get_fields(self, request: HttpRequest, obj: CatalogImport | None = None) -> list[str]:
        # Once uploaded, the file is named in the panel above; it is kept in DATA_DIR, not served.
        return self.fields if obj is None else self.fields[1:]

    def has_change_permission(self, request: HttpRequest, obj: CatalogImport | None = None) -> bool:
        return False  # an upload is not edited: a new file is a new import

    def has_view_permission(self, request: HttpRequest, obj: CatalogImport | None = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_add_permission(request)

    def save_model(self, request: HttpRequest, obj: CatalogImport, form, change: bool) -> None:
        obj.file_name = obj.file.name.rsplit("/", 1)[-1][:255]
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        imports.preview(obj)

    def response_add(self, request: HttpRequest, obj: CatalogImport, post_url_continue: str | None = None):
        return HttpResponseRedirect(reverse("admin:catalog_catalogimport_change", args=[obj.pk]))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/confirm/", view(self.confirm_view), name="catalog_catalogimport_confirm"),
            path("<int:pk>/progress/", view(self.progress_view), name="catalog_catalogimport_progress"),
            path("<int:pk>/rejected.csv", view(self.rejected_view), name="catalog_catalogimport_rejected"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        upload = get_object_or_404(CatalogImport, pk=object_id)
        extra_context = {
            **(extra_context or {}),
            "upload": upload,
            "may_confirm": not upload.status and bool(upload.preview) and self.has_add_permission(request),
            "percent": self.percent(upload),
            "progress_url": reverse("admin:catalog_catalogimport_progress", args=[upload.pk]),
            "index_job": upload.index_job,
            "import_inline_rows": settings.AISLE_IMPORT_INLINE_ROWS,
            "bad_rows": imports.rejected_rows(upload),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        upload = get_object_or_404(CatalogImport, pk=pk)
        if request.method != "POST" or not self.has_add_permission(request):
            return HttpResponse(status=405 if request.method != "POST" else 403)
        try:
            upload = imports.confirm(upload)
        except ValueError as problem:
            self.message_user(request, str(problem), level=messages.ERROR)
        else:
            if upload.status == CatalogImport.Status.QUEUED:
                self.message_user(request, "The import is queued for a worker; this page follows it.")
            elif upload.status == CatalogImport.Status.FAILED:
                self.message_user(request, upload.error, level=messages.ERROR)
            else:
                self.message_user(request, f"Imported: {self.counts(upload)}.")
        return HttpResponseRedirect(reverse("admin:catalog_catalogimport_change", args=[upload.pk]))

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        upload = get_object_or_404(CatalogImport, pk=pk)
        if not self.has_view_permission(request, upload):
            return JsonResponse({"error": "forbidden"}, status=403)
        return JsonResponse({"status": upload.status, "percent": self.percent(upload), **upload.progress})

    def rejected_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        upload = get_object_or_404(CatalogImport, pk=pk)
        if not self.has_view_permission(request, upload):
            return HttpResponse(status=403)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{upload.pk}-rejected-rows.csv"'
        writer = csv.writer(response)
        writer.writerow(["row", "reason"])
        writer.writerows(
            [rejection["row"], rejection["reason"]] for rejection in imports.rejected_rows(upload)
        )
        return response

    @admin.display(description="status", ordering="status")
    def state(self, upload: CatalogImport) -> str:
        return upload.get_status_display() if upload.status else "previewed: waiting for confirmation"

    @admin.display(description="progress")
    def percent(self, upload: CatalogImport) -> int:
        if upload.status == CatalogImport.Status.SUCCEEDED:
            return 100
        done, total = upload.progress.get("done", 0), upload.progress.get("total", 0)
        return min(100, round(100 * done / total)) if total else 0

    @admin.display(description="result")
    def counts(self, upload: CatalogImport) -> str:
        if not upload.summary:
            return ""
        return ", ".join(
            f"{upload.summary.get(key, 0)} {key}" for key in ("created", "updated", "unchanged", "rejected")
        )


@admin.register(IndexJob)
class IndexJobAdmin(ReadOnlyAdmin):
    """Index refreshes: why, which worker, how far, how long, which version they published, the error."""

    list_display = [
        "pk",
        "status",
        "reason",
        "done",
        "seconds",
        "worker",
        "version",
        "error_line",
        "queued_at",
    ]
    list_filter = ["status", "full"]
    readonly_fields = [field.name for field in IndexJob._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: IndexJob | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def done(self, job: IndexJob) -> str:
        if job.status == IndexJob.Status.SUCCEEDED:
            return "100 %"
        progress = job.progress or {}
        if not progress.get("total"):
            return str(progress.get("stage", ""))
        return f"{progress.get('stage', '')} {100 * progress.get('done', 0) // progress['total']} %"

    @admin.display(description="seconds")
    def seconds(self, job: IndexJob) -> float | None:
        if job.started_at and job.finished_at:
            return round((job.finished_at - job.started_at).total_seconds(), 1)
        return None

    @admin.display(description="version")
    def version(self, job: IndexJob) -> str:
        return (job.result or {}).get("version", "")

    @admin.display(description="error")
    def error_line(self, job: IndexJob) -> str:
        return job.error.strip().splitlines()[-1][:120] if job.error.strip() else ""
