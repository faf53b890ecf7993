"""django-import-export resource: the admin's product export, in the ``csv`` catalog format that
``import_catalog --format csv`` and the admin's catalog imports read back.
"""

import json

from django.db.models import QuerySet
from import_export import fields, resources

from .models import Product


class ProductResource(resources.ModelResource):
    brand = fields.Field(attribute="brand__name", column_name="brand")
    categories = fields.Field(column_name="categories")
    attributes = fields.Field(column_name="attributes")

    class Meta:
        model = Product
        fields = (
            "sku", "title", "description", "brand", "categories", "price", "currency",
            "attributes", "image_url", "url", "rating", "rating_count", "stock", "is_active",
        )  # fmt: skip
        export_order = fields

    def get_queryset(self) -> QuerySet[Product]:
        return Product.objects.with_details()

    def dehydrate_categories(self, product: Product) -> str:
        return "|".join(category.full_name for category in product.categories.all())

    def dehydrate_attributes(self, product: Product) -> str:
        return json.dumps(product.attribute_dict(), ensure_ascii=False, sort_keys=True)
