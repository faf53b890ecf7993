"""Jobs and versions in the admin: the front page says what is live, one page lists every kept
index, parser and ranker version with its metrics and activates any, and index refreshes are
listed with their progress, timing, worker and error."""

import pytest
from django.utils import timezone

from catalog.indexing import build_index, index_store
from catalog.models import IndexJob, Product

from .test_admin_permissions import login_as  # noqa: F401 (a fixture)

VERSIONS = "/admin/versions/"


@pytest.fixture
def two_index_versions(own_data_dir, indexed_catalog: list[str]) -> list[str]:
    """Two published index versions, oldest first; the newest is live."""
    product = Product.objects.get(sku=indexed_catalog[0])
    product.title += " (renamed)"
    product.save()
    build_index()
    versions = index_store().versions()
    assert len(versions) == 2
    return versions


@pytest.mark.django_db
def test_the_front_page_says_what_is_live(admin_client, two_index_versions):
    page = admin_client.get("/admin/").content.decode()
    assert "Live now" in page
    assert two_index_versions[-1] in page
    assert f"{Product.objects.count()} products" in page


@pytest.mark.django_db
def test_an_empty_shop_says_nothing_is_published_yet(admin_client, own_data_dir):
    assert "Nothing is published yet" in admin_client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_any_kept_index_version_can_be_activated_and_the_live_one_is_marked(admin_client, two_index_versions):
    older, newer = two_index_versions
    page = admin_client.get(VERSIONS).content.decode()
    assert page.index(newer) < page.index(older)  # newest first
    assert "live" in page

    response = admin_client.post(VERSIONS, {"kind": "index", "version": older}, follow=True)
    assert index_store().active_version() == older
    assert f"Search index version {older} is live" in response.content.decode()

    response = admin_client.post(VERSIONS, {"kind": "index", "version": "19990101T000000"}, follow=True)
    assert "cannot be activated" in response.content.decode()
    assert index_store().active_version() == older  # a bad request changes nothing


@pytest.mark.django_db
def test_activating_needs_the_change_permission_of_that_kind(login_as, two_index_versions):  # noqa: F811
    older, newer = two_index_versions
    viewer = login_as("catalog.view_indexjob")
    assert viewer.get(VERSIONS).status_code == 200
    assert viewer.post(VERSIONS, {"kind": "index", "version": older}).status_code == 403
    assert index_store().active_version() == newer
    permitted = login_as("catalog.change_indexjob")
    permitted.post(VERSIONS, {"kind": "index", "version": older})
    assert index_store().active_version() == older


@pytest.mark.django_db
def test_index_refreshes_are_listed_with_progress_timing_worker_and_error(admin_client):
    started = timezone.now()
    IndexJob.objects.create(
        status="failed",
        reason="catalog edit",
        worker="celery@shop-1",
        started_at=started,
        finished_at=started + timezone.timedelta(seconds=12),
        progress={"stage": "encoding", "done": 50, "total": 200},
        error="Traceback …\nRuntimeError: CUDA out of memory",
    )
    IndexJob.objects.create(status="succeeded", reason="catalog import 3", result={"version": "20261204T1"})
    page = admin_client.get("/admin/catalog/indexjob/").content.decode()
    shown = (
        "celery@shop-1",
        "encoding 25 %",
        "12.0",
        "RuntimeError: CUDA out of memory",
        "20261204T1",
        "100 %",
    )
    for words in shown:
        assert words in page
    assert "100 %" in page  # the one that succeeded
