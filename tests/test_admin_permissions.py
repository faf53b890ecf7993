"""Admin permissions: import, export and every action need the model permission they imply.

Each test logs in a staff user holding exactly the permissions under test, tries the
page or action, and checks that a user without the permission changes nothing (rows,
flags, queued tasks, active versions) while a user with it succeeds.
"""

from collections.abc import Callable, Iterator

import pytest
from celery.signals import after_task_publish
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase

from assistant import parsing
from assistant.models import ParserExample, TrainingJob
from catalog.admin import IMPORT_PERMISSIONS
from catalog.indexing import build_index, index_store
from catalog.models import CatalogImport, IndexJob, Product
from core.celery_app import app as celery_app
from recsys_plugins.models import RankerTrainingRun

from .test_admin import CHANGELIST, CSV_HEADER, csv_format_index

NEW_ROW = "P-1,Green linen armchair,299,USD,Furniture > Armchairs,Velluto,green\n"
EXAMPLES = "/admin/assistant/parserexample/"
JOBS = "/admin/assistant/trainingjob/"
RANKERS = "/admin/recsys_plugins/rankersetting/"
IMPORTS = "/admin/catalog/catalogimport/"

LoginAs = Callable[..., Client]


@pytest.fixture
def login_as(django_user_model) -> LoginAs:
    """``login_as("catalog.view_product", …)``: a client logged in as staff with exactly those permissions."""

    def login(*permissions: str) -> Client:
        user = django_user_model.objects.create_user(
            f"staff{django_user_model.objects.count()}", password="x", is_staff=True
        )
        for permission in permissions:
            app_label, codename = permission.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def published() -> Iterator[list[str]]:
    """Names of the tasks the broker accepted during the test.

    Their queues are purged afterwards: the rows they name are rolled back, and a later
    test's worker must not run them against rows that reuse the ids.
    """
    names: list[str] = []
    queues: set[str] = set()

    def record(sender: str, routing_key: str, **kwargs: object) -> None:
        names.append(sender)
        queues.add(routing_key)

    after_task_publish.connect(record, weak=False)
    yield names
    after_task_publish.disconnect(record)
    with celery_app.connection_for_write() as connection:
        for queue in queues:
            connection.default_channel.queue_purge(queue)


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Point the Celery app at a port nothing listens on: every send fails for real."""
    original = celery_app.conf.broker_url

    def use(url: str) -> None:
        celery_app.conf.broker_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    use("redis://127.0.0.1:1/0")
    yield
    use(original)


def offered_actions(response) -> set[str]:
    """The actions a changelist page offers."""
    form = response.context["action_form"]
    return {value for value, _label in form.fields["action"].choices if value} if form else set()


def run_action(client: Client, url: str, action: str, rows: list) -> str:
    """Run an admin action on ``rows`` as the changelist's form does; returns the page it leads to.

    What the request leaves for after its commit (sending tasks) runs too, as outside a test.
    """
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            url, {"action": action, "_selected_action": [str(row.pk) for row in rows]}, follow=True
        )
    assert response.status_code in (200, 403)
    return response.content.decode()


def preview_import(client: Client, content: str) -> CatalogImport:
    """Upload ``content`` as a csv catalog file; the import waits, previewed, for confirmation."""
    response = client.post(
        IMPORTS + "add/",
        {"file": SimpleUploadedFile("new.csv", content.encode(), content_type="text/csv"), "format": "csv"},
    )
    assert response.status_code == 302, response.content.decode()[:1000]
    return CatalogImport.objects.latest("created_at")


# --- import and export ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "permissions",
    [
        (),
        ("catalog.view_product",),
        ("catalog.add_catalogimport",),
        ("catalog.add_product", "catalog.change_product"),
        ("catalog.add_catalogimport", "catalog.add_product"),
    ],
    ids=["none", "view", "import-only", "products-only", "no-change"],
)
def test_import_needs_its_own_permission_and_add_and_change_of_products(login_as, small_catalog, permissions):
    importer = login_as(*IMPORT_PERMISSIONS)
    upload = preview_import(importer, CSV_HEADER + NEW_ROW)
    before = Product.objects.count()

    refused = login_as(*permissions)
    assert refused.post(f"{IMPORTS}{upload.pk}/confirm/").status_code == 403
    assert not Product.objects.filter(sku="P-1").exists()
    assert Product.objects.count() == before
    assert refused.get(IMPORTS + "add/").status_code == 403
    assert "Import a catalog file" not in refused.get(CHANGELIST).content.decode()

    # The file the refused user tried to confirm is still there for the permitted one.
    importer.post(f"{IMPORTS}{upload.pk}/confirm/")
    assert Product.objects.count() == before + 1
    assert Product.objects.get(sku="P-1").title == "Green linen armchair"


@pytest.mark.django_db
def test_import_and_export_buttons_follow_the_permissions(login_as, small_catalog):
    viewer = login_as("catalog.view_product")
    page = viewer.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["has_export_permission"]
    assert "Import a catalog file" not in page.content.decode()
    importer = login_as("catalog.view_product", *IMPORT_PERMISSIONS)
    assert "Import a catalog file" in importer.get(CHANGELIST).content.decode()


@pytest.mark.django_db
def test_export_needs_view(login_as, small_catalog):
    Product.objects.filter(sku=small_catalog[0]).update(is_active=False)
    refused = login_as()
    assert refused.get(f"{CHANGELIST}export/").status_code == 403
    response = refused.post(f"{CHANGELIST}export/", {"format": "0", "resource": "0"})
    assert response.status_code == 403
    assert small_catalog[0] not in response.content.decode()

    viewer = login_as("catalog.view_product")
    form_page = viewer.get(f"{CHANGELIST}export/")
    assert form_page.status_code == 200
    form = form_page.context["form"]
    fields = {name: "on" for name in form.fields if name.startswith("productresource_")}
    exported = viewer.post(
        f"{CHANGELIST}export/", {"format": csv_format_index(form_page), "resource": "0", **fields}
    )
    assert exported.status_code == 200
    assert small_catalog[0] in exported.content.decode("utf-8-sig")


# --- product actions ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_view_only_user_cannot_deactivate_or_reindex(login_as, small_catalog, published):
    products = list(Product.objects.order_by("pk")[:3])
    viewer = login_as("catalog.view_product")
    run_action(viewer, CHANGELIST, "deactivate", products)
    run_action(viewer, CHANGELIST, "refresh_search_index", products)
    assert Product.objects.filter(pk__in=[p.pk for p in products], is_active=True).count() == 3
    assert IndexJob.objects.count() == 0
    assert published == []
    assert not offered_actions(viewer.get(CHANGELIST)) & {"deactivate", "refresh_search_index"}


@pytest.mark.django_db
def test_change_permission_deactivates_and_reindexes(login_as, small_catalog, published):
    products = list(Product.objects.order_by("pk")[:3])
    editor = login_as("catalog.view_product", "catalog.change_product")
    assert {"deactivate", "refresh_search_index"} <= offered_actions(editor.get(CHANGELIST))
    page = run_action(editor, CHANGELIST, "refresh_search_index", products)
    assert "Queued re-encoding of 3 products" in page
    job = IndexJob.objects.get()
    assert job.product_ids == [p.pk for p in products]
    assert published == ["catalog.tasks.refresh_index"]
    assert "Deactivated 3 products" in run_action(editor, CHANGELIST, "deactivate", products)
    assert not Product.objects.filter(pk__in=[p.pk for p in products], is_active=True).exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_reindex_with_the_broker_down_says_so(login_as, small_catalog, published, broker_down):
    products = list(Product.objects.order_by("pk")[:2])
    editor = login_as("catalog.view_product", "catalog.change_product")
    page = run_action(editor, CHANGELIST, "refresh_search_index", products)
    assert "Could not queue the reindex now: the task broker is not reachable" in page
    assert "Queued" not in page
    assert published == []
    # What is stored is right: a queued job the index sweep sends once the broker is back.
    job = IndexJob.objects.get()
    assert job.status == IndexJob.Status.QUEUED
    assert job.product_ids == [p.pk for p in products]


@pytest.fixture
def two_index_versions(settings, tmp_path, small_catalog) -> list[str]:
    """Two published index versions in a private ``DATA_DIR``, oldest first; the second is active."""
    settings.DATA_DIR = tmp_path / "data"
    first = build_index().version
    Product.objects.filter(sku=small_catalog[0]).update(title="Renamed", index_stale=True)
    second = build_index().version
    assert index_store().active_version() == second != first
    return [first, second]


@pytest.mark.slow
@pytest.mark.django_db
def test_rolling_back_the_index_needs_change(login_as, two_index_versions):
    first, second = two_index_versions
    product = Product.objects.order_by("pk").first()
    viewer = login_as("catalog.view_product")
    run_action(viewer, CHANGELIST, "roll_back_search_index", [product])
    assert index_store().active_version() == second
    assert "roll_back_search_index" not in offered_actions(viewer.get(CHANGELIST))

    editor = login_as("catalog.view_product", "catalog.change_product")
    assert f"The search index is back at version {first}" in run_action(
        editor, CHANGELIST, "roll_back_search_index", [product]
    )
    assert index_store().active_version() == first
    # Nothing older is kept: the admin is told, and the active version stays.
    page = run_action(editor, CHANGELIST, "roll_back_search_index", [product])
    assert "No earlier search index version" in page
    assert index_store().active_version() == first


# --- parser training and versions ---------------------------------------------------------------


@pytest.fixture
def parser_versions(settings, tmp_path) -> list[str]:
    """Two kept parser versions in a private ``DATA_DIR``; the first is active."""
    settings.DATA_DIR = tmp_path
    store = parsing.parser_store()
    versions = []
    for activate in (True, False):
        with store.publishing(), store.staging() as staging:
            (staging / "weights.bin").write_bytes(b"\0")
            versions.append(store.commit(staging, {"metrics": {}}, activate=activate))
    return versions


@pytest.mark.django_db
def test_view_only_user_cannot_train_or_review_parser_examples(login_as, published):
    example = ParserExample.objects.create(text="cheap red sofas", intent="search", slots={})
    viewer = login_as("assistant.view_parserexample", "assistant.view_trainingjob")
    run_action(viewer, EXAMPLES, "train_parser", [example])
    run_action(viewer, EXAMPLES, "mark_reviewed", [example])
    assert TrainingJob.objects.count() == 0
    example.refresh_from_db()
    assert not example.reviewed
    assert published == []
    assert offered_actions(viewer.get(EXAMPLES)) == set()


@pytest.mark.django_db
def test_training_a_parser_needs_change_on_training_jobs(login_as, published):
    example = ParserExample.objects.create(text="cheap red sofas", intent="search", slots={})
    reviewer = login_as("assistant.view_parserexample", "assistant.change_parserexample")
    run_action(reviewer, EXAMPLES, "train_parser", [example])
    assert TrainingJob.objects.count() == 0
    assert published == []
    assert offered_actions(reviewer.get(EXAMPLES)) == {"mark_reviewed"}
    assert "will be used" in run_action(reviewer, EXAMPLES, "mark_reviewed", [example])

    trainer = login_as("assistant.view_parserexample", "assistant.change_trainingjob")
    assert "is queued" in run_action(trainer, EXAMPLES, "train_parser", [example])
    assert TrainingJob.objects.count() == 1
    assert published == ["assistant.tasks.train_parser"]


@pytest.mark.slow
@pytest.mark.django_db
def test_training_with_the_broker_down_keeps_a_queued_job(login_as, published, broker_down):
    example = ParserExample.objects.create(text="cheap red sofas", intent="search", slots={})
    trainer = login_as("assistant.view_parserexample", "assistant.change_trainingjob")
    assert "is queued" in run_action(trainer, EXAMPLES, "train_parser", [example])
    # Stored as queued: the training sweep sends it once the broker is back.
    assert TrainingJob.objects.get().status == TrainingJob.Status.QUEUED
    assert published == []


@pytest.mark.django_db
def test_view_only_user_cannot_train_again_or_activate_a_version(login_as, parser_versions, published):
    first, kept = parser_versions
    job = TrainingJob.objects.create(status="succeeded", version=kept, epochs=1)
    viewer = login_as("assistant.view_trainingjob")
    run_action(viewer, JOBS, "activate_version", [job])
    run_action(viewer, JOBS, "train_again", [job])
    assert parsing.parser_store().active_version() == first
    assert TrainingJob.objects.count() == 1
    assert published == []
    assert offered_actions(viewer.get(JOBS)) == set()


@pytest.mark.django_db
def test_change_on_training_jobs_activates_a_version_and_trains_again(login_as, parser_versions, published):
    first, kept = parser_versions
    job = TrainingJob.objects.create(status="succeeded", version=kept, epochs=1)
    manager = login_as("assistant.view_trainingjob", "assistant.change_trainingjob")
    assert offered_actions(manager.get(JOBS)) == {"activate_version", "train_again"}
    assert f"Parser version {kept} is active" in run_action(manager, JOBS, "activate_version", [job])
    assert parsing.parser_store().active_version() == kept
    assert "is queued" in run_action(manager, JOBS, "train_again", [job])
    assert TrainingJob.objects.count() == 2
    assert published == ["assistant.tasks.train_parser"]
    # The rows stay read-only: the change permission opens no edit form.
    manager.post(f"{JOBS}{job.pk}/change/", {"version": first})
    job.refresh_from_db()
    assert job.version == kept


# --- ranker training ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_training_rankers_needs_change_on_ranker_training_runs(login_as, published):
    viewer = login_as("recsys_plugins.view_rankersetting", "recsys_plugins.change_rankersetting")
    page = viewer.get(RANKERS)
    assert "Train the trainable rankers now" not in page.content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert viewer.post(RANKERS, {"train": "1"}).status_code == 403
    assert RankerTrainingRun.objects.count() == 0
    assert published == []

    trainer = login_as("recsys_plugins.view_rankersetting", "recsys_plugins.change_rankertrainingrun")
    assert "Train the trainable rankers now" in trainer.get(RANKERS).content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        queued = trainer.post(RANKERS, {"train": "1"}, follow=True)
    assert "is queued" in queued.content.decode()
    assert RankerTrainingRun.objects.count() == 1
    assert published == ["recsys_plugins.tasks.fit_rankers"]
