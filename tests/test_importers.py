"""Importers: the public catalogs, idempotency, and bad rows (CONTRACTS §2)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.importers import RowError, read_catalog
from catalog.models import Category, Product

from .conftest import shared_data


def import_json(path: Path, fmt: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:
    call_command("import_catalog", str(path), "--format", fmt, "--json", *extra)
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.django_db
def test_ikea_catalog_imports_2962_products_and_reimport_changes_nothing(capsys):
    path = shared_data("ikea/ikea.csv")
    first = import_json(path, "ikea", capsys=capsys)
    assert (first["created"], first["rejected"]) == (2962, [])
    assert Product.objects.count() == 2962
    again = import_json(path, "ikea", capsys=capsys)
    assert again == {"created": 0, "updated": 0, "unchanged": 2962, "rejected": []}

    # One item listed under two categories became one product in both.
    frekvens = Product.objects.get(sku="90420332")
    assert {c.name for c in frekvens.categories.all()} == {"Bar furniture", "Tables & desks"}
    assert frekvens.title == "FREKVENS bar table"
    assert (frekvens.brand.name, frekvens.currency, frekvens.price) == ("IKEA", "SAR", Decimal("265.00"))
    attributes = frekvens.attribute_dict()
    assert attributes["color"] == ["black"]
    assert attributes["designer"] == "Nicholai Wiig Hansen"
    assert (attributes["height"], attributes["width"], attributes["sellable_online"]) == (99, 51, True)


@pytest.mark.slow
@pytest.mark.django_db
def test_bestbuy_catalog_imports_3291_products_and_reimport_changes_nothing(capsys):
    path = shared_data("bestbuy/products.json")
    first = import_json(path, "bestbuy", capsys=capsys)
    assert (first["created"], first["rejected"]) == (3291, [])
    again = import_json(path, "bestbuy", capsys=capsys)
    assert again == {"created": 0, "updated": 0, "unchanged": 3291, "rejected": []}

    phone = Product.objects.get(sku="4984700")
    assert phone.currency == "USD"
    assert phone.brand.name == "AT&T GoPhone"
    assert [c.full_name for c in phone.categories.all()] == [
        "Cell Phones > Prepaid Phones > All Prepaid Phones"
    ]
    assert Category.objects.get(full_name="Cell Phones > Prepaid Phones").parent.name == "Cell Phones"
    assert "popularity" in phone.attribute_dict()


GOOD = {"sku": "A-1", "title": "Oak desk", "price": 199, "categories": ["Furniture > Desks"],
        "attributes": {"color": ["Light Gray"], "material": "Solid wood", "width": 120}}  # fmt: skip


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.smoke
@pytest.mark.django_db
def test_jsonl_broken_rows_are_listed_and_good_rows_stored(tmp_path, capsys):
    path = write_jsonl(
        tmp_path / "products.jsonl",
        [
            json.dumps(GOOD),
            "{not json",
            json.dumps({"sku": "A-2", "title": "No price"}),
            json.dumps({"sku": "A-3", "title": "Negative", "price": -5}),
            json.dumps({"sku": "A-4", "title": "Lamp", "price": "49.50", "rating": 9}),
            json.dumps({"sku": "A-5", "title": "Lamp", "price": "49.50", "currency": "dollars"}),
            json.dumps(["a", "list"]),
            json.dumps({"sku": "A-6", "title": "Rug", "price": 80, "attributes": {"color": "navy"}}),
        ],
    )
    summary = import_json(path, "jsonl", capsys=capsys)
    assert summary["created"] == 2
    reasons = {row["row"]: row["reason"] for row in summary["rejected"]}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert "invalid JSON" in reasons[2]
    assert reasons[3] == "price is required"
    assert "non-negative" in reasons[4]
    assert "rating" in reasons[5]
    assert "currency" in reasons[6]
    assert "object" in reasons[7]
    desk = Product.objects.get(sku="A-1")
    assert desk.attribute_dict() == {"color": ["grey"], "material": ["wood"], "width": 120}
    assert Product.objects.get(sku="A-6").attribute_dict()["color"] == ["blue"]


@pytest.mark.django_db
def test_reimport_updates_changed_rows_and_keeps_others(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps(GOOD), json.dumps({**GOOD, "sku": "A-2"})])
    import_json(path, "jsonl", capsys=capsys)
    write_jsonl(path, [json.dumps({**GOOD, "price": 149}), json.dumps({**GOOD, "sku": "A-2"}), "oops"])
    summary = import_json(path, "jsonl", capsys=capsys)
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 1)
    assert Product.objects.get(sku="A-1").price == Decimal("149.00")
    assert Product.objects.get(sku="A-2").price == Decimal("199.00")


@pytest.mark.django_db
def test_dry_run_reports_but_stores_nothing(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps(GOOD), "{broken"])
    summary = import_json(path, "jsonl", "--dry-run", capsys=capsys)
    assert summary["created"] == 1
    assert len(summary["rejected"]) == 1
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_csv_format_with_attribute_columns_and_broken_rows(tmp_path, capsys):
    path = tmp_path / "products.csv"
    path.write_text(
        "sku,title,price,currency,categories,brand,attr:color,attr:width,stock\n"
        "C-1,Grey sofa,899,USD,Furniture > Sofas|Sale,Nordal,gray,210,4\n"
        "C-2,Broken price,abc,USD,,,,,\n"
        'C-3,"Too, many",10,USD,,,,,,extra\n'
        ",No sku,10,USD,,,,,\n"
        "C-5,Stockless,10,USD,,,,,-1\n",
        encoding="utf-8",
    )
    summary = import_json(path, "csv", capsys=capsys)
    assert summary["created"] == 1
    assert [row["row"] for row in summary["rejected"]] == [2, 3, 4, 5]
    sofa = Product.objects.get(sku="C-1")
    assert sofa.attribute_dict() == {"color": ["grey"], "width": 210}
    assert sorted(c.full_name for c in sofa.categories.all()) == ["Furniture > Sofas", "Sale"]
    assert sofa.stock == 4


@pytest.mark.django_db
def test_unreadable_files_fail_with_one_line_reason(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_catalog", str(tmp_path / "missing.jsonl"), "--format", "jsonl")
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("name,cost\nx,1\n")
    with pytest.raises(CommandError, match="sku, title and price"):
        call_command("import_catalog", str(bad_header), "--format", "csv")
    not_array = tmp_path / "bestbuy.json"
    not_array.write_text('{"oops": ')
    with pytest.raises(CommandError, match="JSON array"):
        call_command("import_catalog", str(not_array), "--format", "bestbuy")


def test_bestbuy_rows_without_a_sku_are_rejected(tmp_path):
    path = tmp_path / "bb.json"
    path.write_text(json.dumps([
        {"name": "Case - Black", "price": 9.99, "image": "https://x/123_sb.jpg", "categories": ["Cases"]},
        {"name": "No image", "price": 1},
    ]))  # fmt: skip
    rows = list(read_catalog(path, "bestbuy"))
    assert rows[0][1].sku == "123"
    assert rows[0][1].attributes["color"] == ["black"]
    assert isinstance(rows[1][1], RowError)
    assert "SKU" in str(rows[1][1])


@pytest.mark.django_db
def test_import_is_streamed(tmp_path):
    """The reader is lazy: rows are produced one by one, not read up front."""
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps({**GOOD, "sku": f"S-{i}"}) for i in range(5)])
    rows = read_catalog(path, "jsonl")
    assert next(rows)[1].sku == "S-0"
    with path.open("a") as handle:  # appended after reading started, still read
        handle.write(json.dumps({**GOOD, "sku": "S-late"}) + "\n")
    assert [record.sku for _, record in rows][-1] == "S-late"


@pytest.mark.django_db
def test_absurd_numbers_are_rejected_per_row(tmp_path, capsys):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            '{"sku": "H-1", "title": "Huge stock", "price": 1, "stock": 1e400}',
            json.dumps({"sku": "H-2", "title": "Huge width", "price": 1, "attributes": {"width": 10**400}}),
            json.dumps({"sku": "H-3", "title": "Huge price", "price": "1e30"}),
            json.dumps(GOOD),
        ],
    )
    summary = import_json(path, "jsonl", capsys=capsys)
    assert summary["created"] == 1
    assert [row["row"] for row in summary["rejected"]] == [1, 2, 3]


@pytest.mark.django_db
def test_a_file_that_breaks_part_way_keeps_what_was_read_and_says_where(tmp_path, capsys):
    items = [
        {
            "name": f"Case {i} - Black",
            "price": 9.99,
            "image": f"https://x/{100 + i}_sb.jpg",
            "categories": ["Cases"],
        }
        for i in range(3)
    ]
    path = tmp_path / "bb.json"
    path.write_text(json.dumps(items)[:-30])  # truncated inside the third item
    summary = import_json(path, "bestbuy", capsys=capsys)
    assert summary["created"] == 2
    assert summary["rejected"][-1]["row"] == 3
    assert "breaks here" in summary["rejected"][-1]["reason"]
    assert Product.objects.count() == 2

    an_object = tmp_path / "object.json"
    an_object.write_text('{"name": "not a list"}')
    with pytest.raises(CommandError, match="JSON array"):
        call_command("import_catalog", str(an_object), "--format", "bestbuy")


@pytest.mark.django_db
def test_reimport_keeps_a_product_the_admin_deactivated(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps(GOOD)])
    import_json(path, "jsonl", capsys=capsys)
    Product.objects.filter(sku="A-1").update(is_active=False)
    assert import_json(path, "jsonl", capsys=capsys)["unchanged"] == 1
    assert not Product.objects.get(sku="A-1").is_active


@pytest.mark.django_db
def test_an_attribute_that_becomes_a_list_keeps_every_value(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps({**GOOD, "attributes": {"style": "modern"}})])
    import_json(path, "jsonl", capsys=capsys)
    write_jsonl(path, [json.dumps({**GOOD, "sku": "A-2", "attributes": {"style": ["modern", "industrial"]}})])
    import_json(path, "jsonl", capsys=capsys)
    assert Product.objects.get(sku="A-2").attribute_dict()["style"] == ["modern", "industrial"]
    assert Product.objects.get(sku="A-1").attribute_dict()["style"] == ["modern"]
