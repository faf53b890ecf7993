"""django-import-export resource: admin import/export in the ``csv`` catalog format.

Imports go through the same validation and upsert as ``import_catalog``, so a
file behaves the same from the admin and from the command line.
"""

import json
from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.results import RowResult

from .importers import RowError
from .importers.readers import record_from_csv_row
from .models import Product
from .services import CatalogWriter

_IMPORT_TYPES = {
    "created": RowResult.IMPORT_TYPE_NEW,
    "updated": RowResult.IMPORT_TYPE_UPDATE,
    "unchanged": RowResult.IMPORT_TYPE_SKIP,
}


class ProductResource(resources.ModelResource):
    brand = fields.Field(attribute="brand__name", column_name="brand")
    categories = fields.Field(column_name="categories")
    attributes = fields.Field(column_name="attributes")

    class Meta:
        model = Product
        import_id_fields = ("sku",)
        fields = (
            "sku", "title", "description", "brand", "categories", "price", "currency",
            "attributes", "image_url", "url", "rating", "rating_count", "stock", "is_active",
        )  # fmt: skip
        export_order = fields

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._writer = CatalogWriter()

    def get_queryset(self):
        return Product.objects.select_related("brand").prefetch_related(
            "categories", "attribute_values__attribute"
        )

    def dehydrate_categories(self, product: Product) -> str:
        return "|".join(category.full_name for category in product.categories.all())

    def dehydrate_attributes(self, product: Product) -> str:
        return json.dumps(product.attribute_dict(), ensure_ascii=False, sort_keys=True)

    def import_row(self, row: dict[str, Any], instance_loader: Any, **kwargs: Any) -> RowResult:
        """Validate and upsert one row with the catalog's own writer."""
        result = self.get_row_result_class()()
        try:
            record = record_from_csv_row(row)
            outcome = self._writer.write(record)
        except (RowError, TypeError, ValueError, AttributeError, ArithmeticError) as error:
            # Whatever a row holds, it is reported on its line of the preview.
            result.import_type = RowResult.IMPORT_TYPE_INVALID
            result.validation_error = ValidationError(str(error) or type(error).__name__)
            return result
        result.import_type = _IMPORT_TYPES[outcome]
        result.instance = Product.objects.get(sku=record.sku)  # the admin logs it
        result.add_instance_info(result.instance)
        return result
