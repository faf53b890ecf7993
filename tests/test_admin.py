"""The catalog admin: lists, filters, export, background actions (imports: test_admin_imports.py)."""

import csv
import io
from decimal import Decimal

import pytest

from catalog.importers import read_catalog
from catalog.models import Category, Product
from catalog.services import import_rows
from recsys_plugins.models import FeedbackEvent

CHANGELIST = "/admin/catalog/product/"
CSV_HEADER = "sku,title,price,currency,categories,brand,attr:color\n"


@pytest.fixture
def staff(admin_client):
    return admin_client


def csv_format_index(response) -> str:
    """The value of the CSV option in an import/export form's format select."""
    for value, label in response.context["form"].fields["format"].choices:
        if str(label).lower() == "csv":
            return str(value)
    raise AssertionError("no CSV format offered")


@pytest.mark.django_db
def test_product_list_filters_and_search(staff, small_catalog):
    assert staff.get(CHANGELIST).status_code == 200
    cheap = staff.get(CHANGELIST, {"price_band": "0-50"}).context["cl"].result_count
    assert cheap == Product.objects.filter(price__lt=50).count() > 0
    sofas = Category.objects.get(full_name="Furniture > Sofas")
    in_sofas = staff.get(CHANGELIST, {"categories__id__exact": sofas.pk}).context["cl"].result_count
    assert in_sofas == sofas.products.count() > 0
    assert staff.get(CHANGELIST, {"index_stale__exact": "1"}).context["cl"].result_count == len(small_catalog)
    assert (
        staff.get(CHANGELIST, {"stock_state": "out"}).context["cl"].result_count
        == Product.objects.filter(stock=0).count()
    )
    assert staff.get(CHANGELIST, {"q": "sofa"}).context["cl"].result_count > 0
    for page in (
        "/admin/catalog/category/",
        "/admin/recsys_plugins/feedbackevent/",
        "/admin/assistant/conversation/",
    ):
        assert staff.get(page).status_code == 200


@pytest.mark.django_db
def test_export_respects_the_current_filter_and_round_trips(staff, small_catalog, tmp_path):
    # As the admin does it: filter the list, then press "Export".
    form_page = staff.get(f"{CHANGELIST}export/?price_band=0-50")
    form = form_page.context["form"]
    fields = {name: "on" for name in form.fields if name.startswith("productresource_")}
    response = staff.post(
        f"{CHANGELIST}export/?price_band=0-50",
        {"format": csv_format_index(form_page), "resource": "0", **fields,
         "export_items": form.initial.get("export_items", [])},
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    expected = set(Product.objects.filter(price__lt=50).values_list("sku", flat=True))
    assert {row["sku"] for row in rows} == expected
    assert expected

    # What the admin exports, the catalog's csv reader (import_catalog, admin imports) reads back.
    exported = tmp_path / "export.csv"
    exported.write_bytes(response.content)
    summary = import_rows(read_catalog(exported, "csv"))
    assert (summary.created, summary.updated, summary.rejected) == (0, 0, [])
    assert summary.unchanged == len(expected)


@pytest.mark.django_db
def test_bad_admin_form_input_is_refused_and_stored_data_kept(staff, small_catalog):
    product = Product.objects.get(sku=small_catalog[0])
    response = staff.post(
        f"{CHANGELIST}{product.pk}/change/",
        {"sku": small_catalog[1], "title": "", "price": "cheap", "currency": "USD", "rating_count": -1},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"sku", "title", "price", "rating_count"} <= set(errors)
    product.refresh_from_db()
    assert product.sku == small_catalog[0]
    assert product.price > Decimal(0)


@pytest.mark.django_db
def test_category_cannot_be_moved_inside_itself(staff, small_catalog):
    furniture = Category.objects.get(full_name="Furniture")
    sofas = Category.objects.get(full_name="Furniture > Sofas")
    response = staff.post(
        f"/admin/catalog/category/{furniture.pk}/change/", {"name": "Furniture", "parent": sofas.pk}
    )
    assert "cannot sit inside itself" in response.content.decode()
    furniture.refresh_from_db()
    assert furniture.parent is None


@pytest.mark.django_db
def test_feedback_and_conversations_are_read_only(staff, small_catalog):
    event = FeedbackEvent.objects.create(
        session_key="s" * 32, product=Product.objects.first(), action=FeedbackEvent.Action.LIKE
    )
    assert staff.get("/admin/recsys_plugins/feedbackevent/add/").status_code == 403
    staff.post(f"/admin/recsys_plugins/feedbackevent/{event.pk}/change/", {"action": "dislike"})
    event.refresh_from_db()
    assert event.action == "like"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_reindex_action_runs_in_the_worker(staff, small_catalog, celery_worker):
    products = Product.objects.order_by("pk")[:3]
    ids = [str(p.pk) for p in products]
    response = staff.post(
        CHANGELIST, {"action": "refresh_search_index", "_selected_action": ids}, follow=True
    )
    assert "Queued re-encoding of 3 products" in response.content.decode()
    import time

    deadline = time.monotonic() + 120
    while Product.objects.filter(pk__in=ids, index_stale=True).exists():
        assert time.monotonic() < deadline, "the worker did not embed the products"
        time.sleep(0.5)
    assert "catalog.tasks.refresh_index" in celery_worker.read_text()


@pytest.mark.django_db
def test_the_deactivate_action_queues_an_index_refresh(
    staff, indexed_catalog, settings, django_capture_on_commit_callbacks
):
    from catalog.signals import _enqueue_refresh

    settings.AISLE_INDEX_AUTO_REFRESH = True
    ids = [str(pk) for pk in Product.objects.order_by("pk").values_list("pk", flat=True)[:4]]
    with django_capture_on_commit_callbacks() as callbacks:
        staff.post(CHANGELIST, {"action": "deactivate", "_selected_action": ids}, follow=True)
    assert callbacks == [_enqueue_refresh]
    assert not Product.objects.filter(pk__in=ids, is_active=True).exists()


@pytest.mark.django_db
def test_edits_mark_products_stale_and_queue_one_refresh_per_transaction(
    staff, indexed_catalog, settings, django_capture_on_commit_callbacks
):
    from catalog.signals import _enqueue_refresh

    settings.AISLE_INDEX_AUTO_REFRESH = True
    product = Product.objects.order_by("pk").first()
    with django_capture_on_commit_callbacks() as callbacks:
        product.title = "Renamed by hand"
        product.save()
        product.categories.clear()
        product.brand.name = "Renamed brand"
        product.brand.save()
    assert callbacks == [_enqueue_refresh]
    stale = Product.objects.filter(index_stale=True)
    assert set(stale.values_list("pk", flat=True)) == set(
        Product.objects.filter(brand=product.brand).values_list("pk", flat=True)
    )
    assert staff.get(CHANGELIST, {"index_stale__exact": "1"}).context["cl"].result_count == stale.count()
