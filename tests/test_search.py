"""Search through Django: exact filters on real data, build_index, the API, search_batch, hot reload."""

import dataclasses
import itertools
import json
import random
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from assistant.search import Found, find_products
from catalog.importers import read_catalog
from catalog.indexing import build_index, index_store, live_index
from catalog.models import Category, Product
from catalog.retrieval.constraints import NO_CONSTRAINTS, Constraints, normalise_key
from catalog.search import matching_products
from catalog.services import import_rows

from .conftest import shared_data

REAL_CATALOG_ROWS = 700


def search(query: str, constraints: Constraints = NO_CONSTRAINTS, k: int = 10) -> Found:
    """The product search with ``constraints`` as an API search's filters."""
    filters = {f.name: getattr(constraints, f.name) for f in dataclasses.fields(constraints)}
    return find_products(
        query, {}, k, filters={n: v for n, v in filters.items() if v not in (None, (), False)}
    )


def shown(found: Found) -> list[Product]:
    return [product for product, _ in found.products]


def satisfies(product: Product, constraints: Constraints) -> bool:
    """The constraints judged from the product's own fields, independently of both filter implementations."""
    attributes = product.attribute_dict()

    def values(key: str) -> set[str]:
        value = attributes.get(key, [])
        return {v.lower() for v in (value if isinstance(value, list) else [value])}

    brand = normalise_key(product.brand.name) if product.brand else None
    paths = [category.path for category in product.categories.all()]
    checks = [
        product.is_active,
        constraints.price_min is None or product.price >= constraints.price_min,
        constraints.price_max is None or product.price <= constraints.price_max,
        not constraints.in_stock or product.stock != 0,
        not constraints.brands or brand in constraints.brands,
        brand is None or brand not in constraints.exclude_brands,
        not constraints.colors or values("color") & set(constraints.colors),
        not values("color") & set(constraints.exclude_colors),
        not constraints.materials or values("material") & set(constraints.materials),
        not values("material") & set(constraints.exclude_materials),
        product.pk not in constraints.exclude_ids,
        not constraints.categories
        or any(p == c or p.startswith(c + "/") for p in paths for c in constraints.categories),
    ]
    return all(checks)


def random_constraints(rng: random.Random, products: list[Product]) -> Constraints:
    """Constraints drawn from the real catalog's values, one to three fields at a time."""
    sample = rng.choice(products)
    attributes = sample.attribute_dict()
    categories = list(Category.objects.values_list("path", flat=True))
    price = float(sample.price)
    options = {
        "price_max": price * rng.uniform(0.8, 2.0),
        "price_min": price * rng.uniform(0.3, 1.0),
        "colors": (*attributes.get("color", ["black"])[:1], rng.choice(["white", "grey", "blue"])),
        "materials": tuple(attributes.get("material", ["oak"]))[:1],
        "brands": (sample.brand.name,) if sample.brand else ("IKEA",),
        "categories": (rng.choice(categories),),
        "exclude_colors": (rng.choice(["black", "white", "grey"]),),
        "exclude_brands": (rng.choice(["Apple", "Samsung", "OtterBox"]),),
        "in_stock": True,
        "exclude_ids": (sample.pk,),
    }
    chosen = rng.sample(sorted(options), rng.randint(1, 3))
    fields = {name: options[name] for name in chosen}
    if fields.get("price_min", 0) > fields.get("price_max", float("inf")):
        fields["price_min"], fields["price_max"] = fields["price_max"], fields["price_min"]
    return Constraints(**fields)


@pytest.mark.slow
@pytest.mark.django_db
def test_filters_are_exact_on_real_catalog_data():
    """Part of IKEA and Best Buy: every result meets every constraint, and the index's filter
    table selects exactly the products the database does."""
    for fmt, path in (("ikea", "ikea/ikea.csv"), ("bestbuy", "bestbuy/products.json")):
        rows = itertools.islice(read_catalog(shared_data(path), fmt), REAL_CATALOG_ROWS)
        assert not import_rows(rows).rejected
    every_ninth = list(Product.objects.order_by("pk").values_list("pk", flat=True))[::9]
    Product.objects.filter(pk__in=every_ninth).update(stock=0)
    build_index()
    version = live_index().get()
    products = list(
        Product.objects.select_related("brand").prefetch_related("categories", "attribute_values__attribute")
    )
    rng = random.Random(7)
    queries = ["sofa", "black phone case", "white bookcase", "table", "charger", "chair"]
    checked = 0
    for round_number in range(60):
        constraints = random_constraints(rng, products)
        mask = version.filters.mask(constraints, version.ids)
        from_index = set(version.ids[mask].tolist())
        from_database = set(matching_products(constraints).values_list("pk", flat=True))
        assert from_index == from_database, constraints
        found = search(queries[round_number % len(queries)], constraints, k=10)
        typed = version.allowed(found.constraints)  # with the type the query names
        assert len(found.products) == min(10, int(typed.sum())), constraints
        for product in shown(found):
            assert satisfies(product, constraints), (product.sku, constraints)
        checked += len(found.products)
    assert checked > 150  # typed queries leave fewer products per constraint set


@pytest.mark.django_db
def test_database_check_catches_edits_the_index_has_not_seen(indexed_catalog):
    """A product edited after the index version was built never breaks a constraint."""
    hits = shown(search("sofa", Constraints(price_max=5000), k=3))
    expensive = hits[0]
    Product.objects.filter(pk=expensive.pk).update(price=9999)  # no signal, no reindex
    assert expensive not in shown(search("sofa", Constraints(price_max=5000), k=10))
    Product.objects.filter(pk=hits[1].pk).update(is_active=False)
    assert hits[1] not in shown(search("sofa", k=10))


@pytest.mark.django_db
def test_build_index_command_reports_and_only_publishes_changes(indexed_catalog, capsys):
    call_command("build_index", "--json")
    unchanged = json.loads(capsys.readouterr().out)
    assert (unchanged["encoded"], unchanged["published"]) == (0, False)
    assert unchanged["products"] == len(indexed_catalog)

    # A price edit changes a filter but not the text: no re-encoding, but a new version.
    lamp = Product.objects.filter(title__icontains="lamp").first()
    lamp.price = 1.5
    lamp.save()
    call_command("build_index", "--json")
    repriced = json.loads(capsys.readouterr().out)
    assert (repriced["encoded"], repriced["published"]) == (0, True)
    assert shown(search("lamp", Constraints(price_max=2), k=5)) == [lamp]

    call_command("build_index", "--full", "--json")
    full = json.loads(capsys.readouterr().out)
    assert full["encoded"] == len(indexed_catalog)
    assert full["products_per_second"] > 0
    assert index_store().manifest()["products"] == len(indexed_catalog)


@pytest.mark.django_db
def test_search_api_filters_and_rankers(client, indexed_catalog):
    body = client.get("/api/search/", {"q": "grey sofa under 2000", "k": 5}).json()
    assert body["slots"] == {"category": "sofa", "color": ["grey"], "price_max": 2000}
    # The grey sofas within budget come first, each explained; the closest other sofas may follow.
    fits = []
    for card in body["results"]:
        product = Product.objects.get(sku=card["sku"])
        fits.append(product.price <= 2000 and "grey" in product.attribute_dict()["color"])
        assert "sofa" in product.attribute_dict()["type"], card["title"]
        if fits[-1]:
            assert "grey" in card["explanation"].lower()
    assert fits[0], body["results"]
    assert fits == sorted(fits, reverse=True)

    sofas = Category.objects.get(full_name="Furniture > Sofas")
    in_furniture = client.get(
        "/api/search/", {"q": "comfortable seat", "category": "Furniture", "k": 20}
    ).json()
    assert in_furniture["results"]
    assert all(card["categories"][0].startswith("Furniture") for card in in_furniture["results"])
    by_path = client.get("/api/search/", {"q": "seat", "category": sofas.path, "brand": "wrenfield"}).json()
    assert len(by_path["results"]) == sofas.products.filter(brand__name="Wrenfield").count() > 0
    assert all(card["brand"] == "Wrenfield" for card in by_path["results"])

    hybrid = client.get("/api/search/", {"q": "desk lamp", "k": 8}).json()["results"]
    cosine = client.get("/api/search/", {"q": "desk lamp", "k": 8, "ranker": "cosine"}).json()["results"]
    assert len(hybrid) == len(cosine) == 8
    # The product's own reasons (its type, what its name matched), not the same slogan on every card.
    assert all(card["explanation"] for card in hybrid)
    assert not any("matches your search" in card["explanation"].lower() for card in hybrid)
    assert all("lamp" in card["explanation"].lower() for card in hybrid[:3])
    assert all(card["explanation"] for card in cosine)

    for params, code in (
        ({"q": "sofa", "category": "No such aisle"}, "unknown_category"),
        ({"q": "sofa", "price_max": "cheap"}, "invalid_filter"),
        ({"q": "sofa", "price_min": "-5"}, "invalid_filter"),
        ({"q": "sofa", "price_min": "500", "price_max": "100"}, "invalid_filter"),
        ({"q": "sofa over 3000", "price_max": "100"}, "invalid_filter"),
        ({"q": "sofa", "ranker": "nope"}, "unknown_ranker"),
    ):
        response = client.get("/api/search/", params)
        assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.django_db
def test_search_batch_answers_in_order_and_reports_bad_lines(indexed_catalog, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"id": 1, "query": "white bookcase"}\n'
        b"{oops\n"
        b'{"id": "x", "query": ""}\n'
        b"\xff\xfe\n"
        b'{"id": 3, "query": "black phone case under 40"}\n'
    )
    target = tmp_path / "out.jsonl"
    call_command("search_batch", str(source), str(target), "--k", "5", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert (summary["queries"], summary["failed"]) == (5, 3)
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line.get("id") for line in lines] == [1, None, "x", None, 3]
    assert "invalid JSON" in lines[1]["error"]
    assert "query" in lines[2]["error"]
    first, last = lines[0], lines[4]
    white_bookcases = [
        product.sku
        for product in Product.objects.filter(attribute_values__value_text="bookcase")
        if "white" in product.attribute_dict().get("color", [])
    ]
    # The white bookcases first, then the closest other bookcases fill the page: never another type.
    bookcases = set(
        Product.objects.filter(attribute_values__value_text="bookcase").values_list("sku", flat=True)
    )
    white = min(5, len(white_bookcases))
    assert white > 0
    assert set(first["results"][:white]) <= set(white_bookcases)
    assert set(first["results"]) <= bookcases
    assert len(first["results"]) == min(5, len(bookcases))
    assert (first["intent"], first["slots"]) == ("search", {"category": "bookcase", "color": ["white"]})
    assert first["ms"] > 0
    assert last["slots"] == {"category": "phone case", "color": ["black"], "price_max": 40}
    within = [Product.objects.get(sku=sku).price <= 40 for sku in last["results"]]
    assert within[0], last["results"]
    assert within == sorted(within, reverse=True)  # those within budget first, then the closest others


@pytest.mark.django_db
def test_search_batch_refuses_bad_arguments(indexed_catalog, tmp_path):
    good = tmp_path / "in.jsonl"
    good.write_text('{"id": 1, "query": "lamp"}\n')
    with pytest.raises(CommandError, match="--k"):
        call_command("search_batch", str(good), str(tmp_path / "o"), "--k", "0")
    with pytest.raises(CommandError, match="unknown ranker"):
        call_command("search_batch", str(good), str(tmp_path / "o"), "--ranker", "nope")
    with pytest.raises(CommandError, match="cannot open"):
        call_command("search_batch", str(tmp_path / "missing.jsonl"), str(tmp_path / "o"))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_running_server_picks_up_a_new_index_version_without_restart(indexed_catalog, daphne_server):
    def found(query: str) -> list[str]:
        with urllib.request.urlopen(f"{daphne_server}/api/search/?q={query}&k=3", timeout=60) as response:
            return [card["sku"] for card in json.load(response)["results"]]

    assert "HOT-1" not in found("xylophonic+ottoman")
    Product.objects.create(sku="HOT-1", title="Xylophonic ottoman", description="A footstool.", price=40)
    build_index()
    assert found("xylophonic+ottoman")[0] == "HOT-1"


def test_index_artifacts_live_in_data_dir(settings):
    assert index_store().root == Path(settings.DATA_DIR) / "index"


@pytest.mark.django_db
def test_build_index_reports_progress_by_stage(small_catalog):
    seen: list[tuple[str, int, int]] = []
    report = build_index(full=True, on_progress=lambda *step: seen.append(step))
    assert report.encoded == len(small_catalog)
    assert seen[-1] == ("publishing", len(small_catalog), len(small_catalog))
    encoding = [step for step in seen if step[0] == "encoding"]
    assert encoding[-1] == ("encoding", len(small_catalog), len(small_catalog))
    assert [done for _, done, _ in encoding] == sorted(done for _, done, _ in encoding)


def test_the_words_an_explanation_quotes_are_written_as_the_title_writes_them():
    from assistant.search import _content_words, _word_forms

    forms = _word_forms("FREKVENS bar table, black, 2 tables")
    assert forms["frekven"] == "FREKVENS"  # matched in the singular, quoted as written, not "frekven"
    assert forms["table"] == "table"
    assert _content_words("FREKVENS bar tables") == ["frekven", "bar", "table"]
