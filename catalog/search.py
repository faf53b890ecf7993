"""The database's word on the hard constraints: the reference the index's filters are checked
against, and the last check before products are shown (an index version may predate an edit or
a deactivation). The search itself is ``assistant.search``.
"""

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import Brand, Category, Product, ProductAttributeValue
from .retrieval.constraints import Constraints, normalise_key


def matching_products(constraints: Constraints) -> QuerySet[Product]:
    """Active products meeting the constraints the database can decide: price (in each product's
    currency), stock, brand, category, colour, material and the excluded ids. Product types,
    features and measures are the index's own (``catalog.retrieval``)."""
    products = Product.objects.active().select_related("brand")
    if constraints.prices_constrained():
        products = products.filter(_within_price(constraints))
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


def _within_price(constraints: Constraints) -> Q:
    """Bounds in each product's own currency; when the shopper named one, converted for the
    currencies the rates know (a product priced in any other cannot qualify)."""
    if constraints.currency is None:
        return _price_between(constraints.price_min, constraints.price_max)
    within = Q(pk__in=[])
    for currency in {constraints.currency, "USD", *(code for code, _ in constraints.rates)}:
        bounds = constraints.price_bounds_in(currency)
        if bounds is not None:
            within |= Q(currency__iexact=currency) & _price_between(*bounds)
    return within


def _price_between(low: float | None, high: float | None) -> Q:
    condition = Q()
    if low is not None:
        condition &= Q(price__gte=low)
    if high is not None:
        condition &= Q(price__lte=high)
    return condition


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
