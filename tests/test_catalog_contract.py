"""One contract for every ``Catalog`` the dialogue manager searches, run against the in-memory
``Shop`` of the dialogue tests and the real ``ShopCatalog`` (database, index, MiniLM) over the
same products: the small demo catalog plus two sofa covers, accessories of the sofas."""

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from assistant.dialogue.manager import Catalog, ProductView
from assistant.services import ShopCatalog
from catalog.importers import ProductRecord, read_catalog
from catalog.indexing import build_index
from catalog.services import import_rows

from .conftest import demo_subset
from .test_dialogue_core import Shop, mentions, values, within

COVERS = [
    {"sku": f"COVER-{n}", "title": f"{name} cover for 3-seat sofa, {color}", "price": price,
     "currency": "USD", "brand": "Halden", "categories": ["Furniture > Sofas"],
     "description": "A washable cover that fits the 3-seat sofa.",
     "attributes": {"type": "cover for 3-seat sofa", "color": [color], "material": ["cotton"]}}
    for n, name, color, price in ((1, "Vida", "grey", 39.0), (2, "Lisa", "beige", 49.0))
]  # fmt: skip
SOFAS = {"sofa", "corner sofa", "outdoor sofa"}
CHAIRS = {"dining chair", "office chair", "garden chair"}
LAMPS = {"pendant lamp", "table lamp", "floor lamp"}
BEDS = {"bed", "sofa bed"}
DESKS = {"desk", "standing desk"}
ALL = 50
"""A page larger than any answer here: a search must list everything that qualifies."""


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = demo_subset(tmp_path_factory.mktemp("contract") / "catalog.jsonl")
    with path.open("a", encoding="utf-8") as file:
        file.writelines(json.dumps(row) + "\n" for row in COVERS)
    return path


@pytest.fixture(scope="module")
def listed(catalog_file: Path) -> list[ProductView]:
    """The catalog's products as the dialogue sees them, in file order."""
    return [
        ProductView(
            record.sku,
            record.title,
            float(record.price),
            record.currency,
            record.brand,
            record.rating,
            record.stock,
            record.description,
            record.attributes,
            [" > ".join(path) for path in record.categories],
        )
        for _, record in read_catalog(catalog_file, "jsonl")
        if isinstance(record, ProductRecord)
    ]


def unmet(product: ProductView, constraints: Mapping[str, Any]) -> list[str]:
    """The hard filters of ``constraints`` that ``product`` fails (all prices are in USD here)."""
    failed = []
    if constraints.get("price_max") is not None and product.price > constraints["price_max"]:
        failed.append("price_max")
    if constraints.get("price_min") is not None and product.price < constraints["price_min"]:
        failed.append("price_min")
    brand = product.brand.lower()
    if constraints.get("brand") and brand not in [name.lower() for name in constraints["brand"]]:
        failed.append("brand")
    if brand in [name.lower() for name in constraints.get("exclude_brand", [])]:
        failed.append("exclude_brand")
    for slot in ("color", "material"):
        if constraints.get(slot) and not values(product, slot) & set(constraints[slot]):
            failed.append(slot)
        if values(product, slot) & set(constraints.get(f"exclude_{slot}", [])):
            failed.append(f"exclude_{slot}")
    failed += [
        f"feature {feature}" for feature in constraints.get("feature", []) if not mentions(product, feature)
    ]
    failed += [f"{m['name']} {m}" for m in constraints.get("dimension", []) if not within(product, m)]
    return failed


def type_of(product: ProductView) -> str:
    return str(product.attributes["type"])


def skus(products: list[ProductView]) -> list[str]:
    return [product.sku for product in products]


class CatalogContract:
    """What the dialogue manager relies on from a ``Catalog``. Subclasses provide ``catalog``."""

    @pytest.fixture
    def catalog(self) -> Catalog:
        raise NotImplementedError("a contract test class provides the catalog under test")

    @pytest.mark.parametrize(
        ("query", "constraints", "types"),
        [
            ("sofa under 1000", {"category": "sofa", "price_max": 1000}, SOFAS),
            ("chair from 100 to 300", {"category": "chair", "price_min": 100, "price_max": 300}, CHAIRS),
            ("grey sofa", {"category": "sofa", "color": ["grey"]}, SOFAS),
            ("oak or wood bed", {"category": "bed", "material": ["oak", "wood"]}, BEDS),
            ("lamp by Maple Row", {"category": "lamp", "brand": ["Maple Row"]}, LAMPS),
            (
                "chair, not black, no steel, not by Solvik",
                {"category": "chair", "exclude_color": ["black"], "exclude_material": ["steel"],
                 "exclude_brand": ["Solvik"]},
                CHAIRS,
            ),
            ("stackable chair", {"category": "chair", "feature": ["stackable"]}, CHAIRS),
            ("dimmable lamp", {"category": "lamp", "feature": ["dimmable"]}, LAMPS),
            (
                "desk at most 120 cm wide",
                {"category": "desk", "dimension": [{"name": "width", "max": 120, "unit": "cm"}]},
                DESKS,
            ),
        ],
    )  # fmt: skip
    def test_search_lists_exactly_the_products_of_the_type_that_meet_every_filter(
        self, catalog, listed, query, constraints, types
    ):
        expected = [p.sku for p in listed if type_of(p) in types and not unmet(p, constraints)]
        assert expected, "the case must have an answer"
        results = catalog.search(query, constraints, ALL, [])
        failing = {p.sku: (type_of(p), unmet(p, constraints)) for p in results.products}
        assert {sku: why for sku, why in failing.items() if why[0] not in types or why[1]} == {}
        assert sorted(skus(results.products)) == sorted(expected)
        assert (results.not_sold, results.notes) == ("", [])

    def test_the_type_takes_its_sub_types_and_never_its_accessories(self, catalog, listed):
        sofas = catalog.search("sofa", {"category": "sofa"}, ALL, []).products
        assert {type_of(p) for p in sofas} == SOFAS  # corner and outdoor sofas too; no sofa bed, no cover
        cheap = catalog.search(
            "grey sofa under 100", {"category": "sofa", "color": ["grey"], "price_max": 100}, 10, []
        )
        assert cheap.products == []  # the 39 USD grey sofa cover is no sofa
        covers = catalog.search("sofa cover", {"category": "cover"}, 10, []).products
        assert sorted(skus(covers)) == ["COVER-1", "COVER-2"]

    def test_skip_leaves_those_skus_out(self, catalog):
        everything = skus(catalog.search("sofa", {"category": "sofa"}, ALL, []).products)
        assert len(everything) > 3
        rest = catalog.search("sofa", {"category": "sofa"}, ALL, everything[:3]).products
        assert sorted(skus(rest)) == sorted(everything[3:])

    @pytest.mark.parametrize(("sort", "dearest_first"), [("price_asc", False), ("price_desc", True)])
    def test_a_price_sort_orders_every_product_of_the_type(self, catalog, listed, sort, dearest_first):
        prices = sorted((p.price for p in listed if type_of(p) in LAMPS), reverse=dearest_first)
        found = catalog.search("lamp", {"category": "lamp", "sort": sort}, 3, []).products
        assert [p.price for p in found] == prices[:3]

    def test_products_keeps_the_order_asked_and_leaves_out_unknown_skus(self, catalog, listed):
        first, other = listed[0].sku, listed[40].sku
        assert skus(catalog.products([other, "NO-SUCH-SKU", first])) == [other, first]

    def test_similar_never_returns_the_product_itself_and_keeps_the_filters(self, catalog, listed):
        sofa = next(p for p in listed if type_of(p) == "sofa")
        alike = catalog.similar(sofa.sku, {}, 5, [])
        assert alike
        assert sofa.sku not in skus(alike)
        grey = catalog.similar(sofa.sku, {"color": ["grey"]}, 5, [])
        assert grey
        assert sofa.sku not in skus(grey)
        assert all("grey" in values(p, "color") for p in grey)

    def test_a_type_not_carried_is_not_sold_and_the_closest_types_are(self, catalog):
        fridge = catalog.search("fridge", {"category": "fridge"}, 10, [])
        assert fridge.products == []
        assert fridge.not_sold
        assert fridge.closest
        for kind in fridge.closest:
            offered = catalog.search(kind, {"category": kind}, 10, [])
            assert (offered.not_sold, bool(offered.products)) == ("", True), kind

    def test_a_feature_or_measure_no_product_states_is_noted_and_the_rest_applied(self, catalog, listed):
        results = catalog.search(
            "grey magsafe sofa", {"category": "sofa", "color": ["grey"], "feature": ["magsafe"]}, ALL, []
        )
        expected = [p.sku for p in listed if type_of(p) in SOFAS and "grey" in values(p, "color")]
        assert sorted(skus(results.products)) == sorted(expected)
        assert len(results.notes) == 1
        assert "magsafe" in results.notes[0]
        round_sofas = catalog.search(
            "sofa 90 cm across",
            {"category": "sofa", "dimension": [{"name": "diameter", "max": 90, "unit": "cm"}]},
            ALL,
            [],
        )
        assert sorted(skus(round_sofas.products)) == sorted(p.sku for p in listed if type_of(p) in SOFAS)
        assert len(round_sofas.notes) == 1
        assert "diameter" in round_sofas.notes[0]


class TestInMemoryShop(CatalogContract):
    @pytest.fixture
    def catalog(self, listed: list[ProductView]) -> Catalog:
        return Shop(listed)


@pytest.fixture(scope="module")
def stored_catalog(catalog_file: Path, django_db_setup: None, django_db_blocker) -> Iterator[None]:
    """The products imported and indexed once for the module (a build takes seconds), then flushed."""
    with django_db_blocker.unblock():
        import_rows(read_catalog(catalog_file, "jsonl"))
        build_index()
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.django_db
class TestShopCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self, stored_catalog: None) -> Catalog:
        return ShopCatalog("catalog-contract")
