"""Ranking inside Aisle: the rankers API and admin page, training runs (command, worker, feedback,
schedule), hot reload of trained rankers, and hybrid explanations on the chat's product cards.

Each test that trains points ``DATA_DIR`` at its own folder, so no trained ranker leaks into
the rest of the suite.
"""

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from assistant import services
from catalog.models import Product
from core.celery_app import app
from recsys_plugins import ranking
from recsys_plugins.models import FeedbackEvent, RankerSetting, RankerTrainingRun
from recsys_plugins.tasks import fit_rankers_if_stale

from .conftest import wait_until_finished

BUILTINS = {"cosine", "cf", "popularity", "hybrid"}


@pytest.fixture
def fresh_registry():
    """A registry built from this test's settings (the process keeps one otherwise)."""
    ranking.registry.cache_clear()
    yield
    ranking.registry.cache_clear()


def like(session_key: str, skus: list[str], action: str = "like") -> None:
    for sku in skus:
        FeedbackEvent.objects.create(
            session_key=session_key, product=Product.objects.get(sku=sku), action=action
        )


def shoppers_with_shared_taste(skus: list[str]) -> None:
    """Twelve shoppers: half like the first four products, half the next four."""
    for shopper in range(12):
        group = skus[:4] if shopper % 2 == 0 else skus[4:8]
        like(f"shopper-{shopper}", group)


def fit() -> dict:
    out = io.StringIO()
    call_command("fit_rankers", "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_api_rankers_lists_every_installed_ranker_per_contract(client):
    body = client.get("/api/rankers/").json()
    rankers = {entry["name"]: entry for entry in body["rankers"]}
    assert set(rankers) >= BUILTINS
    for entry in rankers.values():
        assert {"name", "version", "package", "hooks", "enabled"} <= set(entry)
        assert all(hook.startswith("aisle_") for hook in entry["hooks"])
    assert rankers["cf"]["package"] == "aisle"
    assert rankers["cf"]["trainable"]
    assert "aisle_fit" in rankers["cf"]["hooks"]
    assert [entry["name"] for entry in body["rankers"]][:4] == ["hybrid", "cosine", "cf", "popularity"]
    assert body["default"] == "hybrid"
    assert client.post("/api/rankers/").status_code == 405


@pytest.mark.django_db
def test_the_example_plugin_is_listed_with_its_package_but_not_enabled(client):
    rankers = {entry["name"]: entry for entry in client.get("/api/rankers/").json()["rankers"]}
    assert rankers["novelty"]["package"] == "aisle-novelty"
    assert rankers["novelty"]["version"] == "0.1.0"
    assert rankers["novelty"]["enabled"] is False


@pytest.mark.django_db
def test_deny_list_in_settings_leaves_a_plugin_out(client, settings, fresh_registry):
    settings.AISLE_PLUGINS_DENY = ["novelty", "cf"]
    names = {entry["name"] for entry in client.get("/api/rankers/").json()["rankers"]}
    assert names == {"cosine", "hybrid"}


@pytest.mark.django_db
def test_admin_page_enables_orders_and_weights_rankers(admin_client, client):
    page = admin_client.get("/admin/recsys_plugins/rankersetting/")
    assert page.status_code == 200
    assert not RankerSetting.objects.exists()  # viewing writes nothing: the settings still decide
    assert b"aisle-novelty" in page.content
    form = {f"position:{choice['ranker'].name}": choice["position"] for choice in page.context["choices"]}
    form |= {f"weight:{choice['ranker'].name}": choice["weight"] for choice in page.context["choices"]}
    form |= {f"enabled:{name}": "on" for name in ("cosine", "cf", "popularity", "novelty")}  # not hybrid
    form |= {"position:novelty": 0, "weight:novelty": 2.5, "plugin:novelty": "on", "save": "Save"}
    saved = admin_client.post("/admin/recsys_plugins/rankersetting/", form, follow=True)
    assert "Saved" in saved.content.decode()
    assert set(RankerSetting.objects.values_list("name", flat=True)) >= BUILTINS
    body = client.get("/api/rankers/").json()
    assert body["default"] == "novelty"
    rankers = {entry["name"]: entry for entry in body["rankers"]}
    assert rankers["hybrid"]["enabled"] is False
    assert rankers["novelty"]["weight"] == 2.5


@pytest.mark.django_db
def test_search_uses_the_first_enabled_ranker(client, indexed_catalog):
    RankerSetting.objects.create(name="hybrid", enabled=False, position=0)
    RankerSetting.objects.create(name="cosine", enabled=True, position=1)
    cards = client.get("/api/search/", {"q": "floor lamp", "k": 5}).json()["results"]
    cosine = client.get("/api/search/", {"q": "floor lamp", "k": 5, "ranker": "cosine"}).json()["results"]
    assert cards
    assert cards == cosine


@pytest.mark.django_db
def test_fit_rankers_refuses_without_feedback_and_keeps_nothing_half_written(own_data_dir, small_catalog):
    with pytest.raises(CommandError, match="no positive feedback"):
        call_command("fit_rankers", stderr=io.StringIO())
    run = RankerTrainingRun.objects.get()
    assert run.status == RankerTrainingRun.Status.FAILED
    assert ranking.artifacts_store().active_version() is None
    staging = own_data_dir / "rankers" / "staging"
    assert not staging.exists() or not any(staging.iterdir())


@pytest.mark.django_db
def test_fit_rankers_trains_publishes_and_web_processes_follow(own_data_dir, small_catalog, client):
    shoppers_with_shared_taste(small_catalog)
    report = fit()
    assert report["status"] == "succeeded"
    assert report["events"] == 48
    assert {entry["ranker"] for entry in report["reports"]} == {"cf"}
    assert ranking.active_artifacts() == ranking.artifacts_store().folder(report["version"])
    assert client.get("/healthz").json()["models"]["rankers"]["version"] == report["version"]
    first = report["version"]
    second = fit()["version"]
    assert second != first
    assert ranking.active_artifacts().name == second
    ranking.artifacts_store().activate(first)  # a rollback is seen without a restart
    assert ranking.active_artifacts().name == first


@pytest.mark.django_db
def test_hybrid_explanations_reach_the_chat_cards_after_training(own_data_dir, indexed_catalog):
    shoppers_with_shared_taste(indexed_catalog)
    fit()
    # This shopper likes what the first group liked, except one product; cf fills that gap.
    like("newcomer", indexed_catalog[:3])
    reply = services.chat_turn("newcomer", "items for around the home")
    explanations = [card["explanation"] for card in reply["products"]]
    assert explanations
    assert any("liked by shoppers who liked" in text for text in explanations), explanations
    assert all(len(text) <= 200 for text in explanations)


@pytest.mark.django_db
def test_feedback_events_ask_for_training_after_refit_after(
    settings, own_data_dir, indexed_catalog, fresh_registry, django_capture_on_commit_callbacks
):
    settings.AISLE_CF_REFIT_AFTER = 3
    # Feedback is taken only on products the chat has shown.
    shown = [card["sku"] for card in services.chat_turn("session-a", "items for around the home")["products"]]
    app.conf.task_always_eager = True  # the queued run executes here, synchronously
    try:
        for sku in shown[:2]:
            services.record_feedback("session-a", sku, "like")
        assert not RankerTrainingRun.objects.exists()
        with django_capture_on_commit_callbacks(execute=True):  # the run is sent once it is committed
            services.record_feedback("session-a", shown[2], "add_to_cart")
    finally:
        app.conf.task_always_eager = False
    run = RankerTrainingRun.objects.get()
    assert run.reason == "feedback"
    assert run.status == RankerTrainingRun.Status.SUCCEEDED, run.message


@pytest.mark.django_db
def test_the_refit_count_is_shared_by_every_process(
    settings, own_data_dir, indexed_catalog, fresh_registry, django_capture_on_commit_callbacks
):
    settings.AISLE_CF_REFIT_AFTER = 3
    shown = [card["sku"] for card in services.chat_turn("session-b", "items for around the home")["products"]]
    for sku in shown[:2]:  # stored by one web process...
        services.record_feedback("session-b", sku, "like")
    ranking.registry.cache_clear()  # ... the third by another, whose plugins have counted nothing
    with django_capture_on_commit_callbacks(execute=False):
        services.record_feedback("session-b", shown[2], "like")
        services.record_feedback("session-b", shown[3], "like")  # one run waiting is enough
    run = RankerTrainingRun.objects.get()
    assert (run.reason, run.status) == ("feedback", RankerTrainingRun.Status.QUEUED)


@pytest.mark.django_db
def test_the_schedule_trains_only_when_feedback_came_in(
    own_data_dir, small_catalog, django_capture_on_commit_callbacks
):
    app.conf.task_always_eager = True
    try:
        assert fit_rankers_if_stale() == {"status": "up to date"}
        shoppers_with_shared_taste(small_catalog)
        with django_capture_on_commit_callbacks(execute=True):  # the run is sent once it is committed
            assert fit_rankers_if_stale()["status"] == "queued"
        assert fit_rankers_if_stale() == {"status": "up to date"}
    finally:
        app.conf.task_always_eager = False
    assert RankerTrainingRun.objects.filter(reason="schedule", status="succeeded").count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_training_runs_in_the_worker_on_the_gpu_queue(small_catalog, celery_worker, settings):
    shoppers_with_shared_taste(small_catalog)
    run = ranking.start_training(reason="admin")
    try:
        wait_until_finished(run, 120)
        assert run.status == RankerTrainingRun.Status.SUCCEEDED, run.message
        assert run.device_used in ("cpu", "cuda")
        assert run.version
        assert "fit_rankers" in celery_worker.read_text()
    finally:  # the worker shares this process's DATA_DIR: leave no trained rankers to later tests
        shutil.rmtree(Path(settings.DATA_DIR) / "rankers", ignore_errors=True)


@pytest.mark.django_db
def test_search_batch_personalises_for_a_known_user(own_data_dir, indexed_catalog, tmp_path):
    shoppers_with_shared_taste(indexed_catalog)
    fit()
    queries = tmp_path / "in.jsonl"
    queries.write_text(json.dumps({"id": 1, "query": "items for around the home"}) + "\n")
    for user in ("shopper-0", "shopper-1"):
        call_command(
            "search_batch",
            str(queries),
            str(tmp_path / f"{user}.jsonl"),
            "--user",
            user,
            stderr=io.StringIO(),
        )
    results = [
        json.loads((tmp_path / f"{user}.jsonl").read_text())["results"] for user in ("shopper-0", "shopper-1")
    ]
    assert results[0]
    assert results[1]
    assert results[0] != results[1]
    with pytest.raises(CommandError, match="unknown ranker"):
        call_command(
            "search_batch", str(queries), str(tmp_path / "x"), "--ranker", "nope", stderr=io.StringIO()
        )
