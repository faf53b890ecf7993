"""Catalog imports from the admin: every ``import_catalog`` format through the same readers, a
preview listing each bad row and why, the good rows stored on confirmation, large files in a
worker with progress, the rejected-rows report, categories fitted to the tree, one index refresh."""

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from catalog.models import CatalogImport, Category, IndexJob, Product

from .conftest import demo_subset, shared_data, wait_until_finished
from .test_admin import CSV_HEADER

IMPORTS = "/admin/catalog/catalogimport/"
GOOD_ROW = "N-1,Blue velvet armchair,349,USD,Furniture > Armchairs,Velluto,navy\n"
BAD_ROWS = "N-2,No price,,USD,,,\nN-3,Bad price,cheap,USD,,,\n,No SKU,10,USD,,,\n"


def upload(client, name: str, content: bytes, fmt: str, **fields: str) -> CatalogImport:
    """Upload a file as the admin's add form does; the import waits, previewed."""
    form = {"file": SimpleUploadedFile(name, content), "format": fmt, "match_existing": "on", **fields}
    response = client.post(IMPORTS + "add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    created = CatalogImport.objects.latest("created_at")
    assert response["Location"] == f"{IMPORTS}{created.pk}/change/"
    return created


def page_of(client, upload: CatalogImport) -> str:
    response = client.get(f"{IMPORTS}{upload.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def confirm(client, upload: CatalogImport) -> CatalogImport:
    response = client.post(f"{IMPORTS}{upload.pk}/confirm/")
    assert response.status_code == 302
    upload.refresh_from_db()
    return upload


def ikea_sample(rows: int, extra: str = "") -> bytes:
    """The first ``rows`` items of the public IKEA file, in its own layout."""
    lines = shared_data("ikea/ikea.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    return ("".join(lines[: rows + 1]) + extra).encode()


@pytest.mark.django_db
def test_the_preview_lists_each_bad_row_and_why_and_confirming_keeps_the_good_ones(
    admin_client, small_catalog
):
    before = set(Product.objects.values_list("sku", flat=True))
    pending = upload(admin_client, "four.csv", (CSV_HEADER + GOOD_ROW + BAD_ROWS).encode(), "csv")
    assert pending.preview == {
        "rows": 4,
        "good": 1,
        "new": 1,
        "existing": 0,
        "bad_count": 3,
        "bad": pending.preview["bad"],
    }
    assert [bad["row"] for bad in pending.preview["bad"]] == [2, 3, 4]  # data rows, as import_catalog counts
    assert set(Product.objects.values_list("sku", flat=True)) == before, "a preview stores nothing"

    page = page_of(admin_client, pending)
    assert "price is required" in page
    assert "sku is required" in page
    assert "Import the 1 good row, leave out the 3 bad ones" in page

    done = confirm(admin_client, pending)
    assert done.status == "succeeded"
    assert done.summary == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 3}
    assert done.index_job is None  # the upload left "refresh the search index" unticked
    assert not IndexJob.objects.exists()
    assert set(Product.objects.values_list("sku", flat=True)) == before | {"N-1"}
    page = page_of(admin_client, done)
    assert "1 created, 0 updated, 0 unchanged, 3 rejected" in page
    assert "confirm-import" not in page  # confirmed once

    report = admin_client.get(f"{IMPORTS}{done.pk}/rejected.csv")
    assert report["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.content.decode())))
    assert [row["row"] for row in rows] == ["2", "3", "4"]
    assert "price is required" in rows[0]["reason"]
    assert admin_client.post(f"{IMPORTS}{done.pk}/confirm/", follow=True).status_code == 200
    assert Product.objects.count() == len(before) + 1  # confirming again imports nothing twice


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["ikea", "bestbuy", "jsonl", "csv"])
def test_every_format_of_import_catalog_imports_from_the_admin(admin_client, fmt, tmp_path):
    if fmt == "ikea":
        content = ikea_sample(12)
    elif fmt == "bestbuy":
        items = json.loads(shared_data("bestbuy/products.json").read_text(encoding="utf-8"))[:12]
        content = json.dumps(items).encode()
    elif fmt == "jsonl":
        content = demo_subset(tmp_path / "demo.jsonl", per_type=1).read_bytes()
    else:
        content = (CSV_HEADER + GOOD_ROW).encode()
    pending = upload(admin_client, f"catalog.{fmt}", content, fmt)
    assert pending.preview["good"] > 0, pending.preview
    assert pending.preview["bad_count"] == 0, pending.preview
    done = confirm(admin_client, pending)
    assert done.status == "succeeded", done.error
    assert done.summary["created"] == pending.preview["good"] == Product.objects.count()


@pytest.mark.django_db
def test_a_file_that_is_not_of_the_chosen_format_fails_with_one_reason(admin_client, db):
    pending = upload(admin_client, "catalog.json", b"sku,title\nA,B\n", "bestbuy")
    assert pending.status == "failed"
    page = page_of(admin_client, pending)
    assert "cannot be read as bestbuy" in page
    assert "confirm-import" not in page
    assert admin_client.post(f"{IMPORTS}{pending.pk}/confirm/", follow=True).status_code == 200
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_categories_join_the_existing_tree_or_go_under_a_chosen_one(admin_client, small_catalog):
    furniture = Category.objects.get(path="furniture")
    assert Category.objects.filter(full_name="Furniture > Beds").exists()
    beds_before = Category.objects.filter(name="Beds").count()
    row = "I-1,MALM bed frame,499,SAR,Beds,IKEA,white\nI-2,LACK table,49,SAR,Tables & desks,IKEA,black\n"

    confirm(admin_client, upload(admin_client, "a.csv", (CSV_HEADER + row).encode(), "csv"))
    assert [c.full_name for c in Product.objects.get(sku="I-1").categories.all()] == ["Furniture > Beds"]
    assert Category.objects.filter(name="Beds").count() == beds_before  # no second "Beds"
    assert [c.full_name for c in Product.objects.get(sku="I-2").categories.all()] == ["Tables & desks"]

    moved = row.replace("I-1", "I-3").replace("I-2", "I-4")
    confirm(
        admin_client,
        upload(admin_client, "b.csv", (CSV_HEADER + moved).encode(), "csv", place_under=str(furniture.pk)),
    )
    assert [c.full_name for c in Product.objects.get(sku="I-4").categories.all()] == [
        "Furniture > Tables & desks"
    ]
    assert [c.full_name for c in Product.objects.get(sku="I-3").categories.all()] == ["Furniture > Beds"]

    as_is = row.replace("I-1", "I-5").replace("I-2", "I-6")
    form = {"file": SimpleUploadedFile("c.csv", (CSV_HEADER + as_is).encode()), "format": "csv"}  # unticked
    assert admin_client.post(IMPORTS + "add/", form).status_code == 302
    confirm(admin_client, CatalogImport.objects.latest("created_at"))
    assert [c.full_name for c in Product.objects.get(sku="I-5").categories.all()] == ["Beds"]


@pytest.mark.django_db
def test_one_import_asks_for_one_index_refresh_however_many_batches_it_commits(admin_client, settings):
    settings.AISLE_IMPORT_INLINE_ROWS = 1000
    assert not settings.AISLE_INDEX_AUTO_REFRESH  # the import's own choice decides, not the edits' setting
    pending = upload(
        admin_client, "ikea.csv", ikea_sample(450), "ikea", refresh_index="on"
    )  # 3 batches of 200
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = confirm(admin_client, pending)
    assert done.summary["created"] == 450
    assert list(IndexJob.objects.all()) == [done.index_job]
    assert "Search index refresh #" in page_of(admin_client, done)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_imported_by_the_worker_with_its_progress(admin_client, settings, celery_worker):
    settings.AISLE_IMPORT_INLINE_ROWS = 50
    broken = "9999,99999999,BROKEN,Beds,not a price,No old price,TRUE,https://example.com/x,No,bed,,,,\n"
    pending = upload(admin_client, "ikea.csv", ikea_sample(120, broken), "ikea")
    assert pending.preview["rows"] == 121
    assert pending.preview["bad_count"] == 1
    queued = confirm(admin_client, pending)
    assert queued.status in ("queued", "running", "succeeded")
    assert "import-progress" in page_of(admin_client, queued) or queued.status == "succeeded"

    done = wait_until_finished(queued, 120)
    assert done.status == "succeeded", done.error
    assert done.worker
    assert done.worker != "admin request"
    assert done.progress == {"done": 121, "total": 121}
    assert (done.summary["created"], done.summary["rejected"]) == (120, 1)
    state = admin_client.get(f"{IMPORTS}{done.pk}/progress/").json()
    assert (state["status"], state["percent"]) == ("succeeded", 100)
    assert Product.objects.count() == 120
    assert Path(done.file.path).is_file()
