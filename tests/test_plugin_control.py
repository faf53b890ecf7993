"""Every plugin visible and controllable: the admin lists every loaded plugin (re-rank wrappers
included) and switches each on and off without a restart; the settings apply until an admin saves;
new rankers join hybrid at a small weight; API clients can ask only for enabled rankers, and a
hidden ranker is not even listed until enabled; ``manage.py plugins`` and a system check report
plugins at start-up."""

import io
import json
from collections.abc import Generator

import numpy as np
import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from recsys_plugins import ranking
from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.models import PluginSetting, RankerSetting
from recsys_plugins.rankers.base import RankedProduct, RankerInfo

RANKERS = "/admin/recsys_plugins/rankersetting/"


@pytest.fixture
def fresh_registry():
    ranking.registry.cache_clear()
    yield ranking.registry
    ranking.registry.cache_clear()


class Reverser:
    """A wrapper that reverses every ranker's list and records the ranker it was told about."""

    def __init__(self) -> None:
        self.rankers: list[str] = []

    @hookimpl(wrapper=True)
    def aisle_rerank(self, ranker: str) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
        ranked = yield
        self.rankers.append(ranker)
        return list(reversed(ranked))


class Hidden:
    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo("secret", "installed hidden", hidden=True)]

    @hookimpl
    def aisle_score_candidates(self, ranker, candidates):
        return np.arange(len(candidates), dtype=float) if ranker == "secret" else None


@pytest.mark.django_db
def test_viewing_the_rankers_page_writes_nothing_and_the_settings_apply_until_a_save(
    admin_client, client, settings, fresh_registry
):
    settings.AISLE_RANKERS = ["cosine", "hybrid"]
    page = admin_client.get(RANKERS)
    assert page.status_code == 200
    assert not RankerSetting.objects.exists()
    assert not PluginSetting.objects.exists()
    assert client.get("/api/rankers/").json()["default"] == "cosine"
    settings.AISLE_RANKERS = ["hybrid", "cosine"]  # a deploy changes the settings: they still apply
    assert client.get("/api/rankers/").json()["default"] == "hybrid"


@pytest.mark.django_db
def test_a_new_ranker_joins_hybrid_at_a_small_documented_weight(settings, fresh_registry):
    settings.AISLE_RANKERS = ["hybrid", "cosine", "novelty"]
    weights = {choice.ranker.name: choice.weight for choice in ranking.ranker_choices()}
    assert weights["novelty"] == ranking.NEW_RANKER_WEIGHT == 0.1
    assert weights["novelty"] < weights["cosine"]


@pytest.mark.django_db
def test_a_wrapper_is_listed_told_the_ranker_and_switched_off_without_a_restart(
    admin_client, indexed_catalog, fresh_registry
):
    reverser = Reverser()
    fresh_registry().register(reverser, "reverser", ("aisle-reverser", "1.0"))
    listed = {plugin["name"]: plugin for plugin in admin_client.get("/api/rankers/").json()["plugins"]}
    assert listed["reverser"]["wrapper"] is True
    assert listed["reverser"]["hooks"] == ["aisle_rerank"]
    page = admin_client.get(RANKERS).content.decode()
    assert 'id="plugin-reverser"' in page
    assert "wraps every ranker&#x27;s list" in page or "wraps every ranker's list" in page

    on = admin_client.get("/api/search/", {"q": "sofa", "k": 5}).json()["results"]
    assert reverser.rankers[-1] == "hybrid"  # the wrapper knows which ranker's list it reorders
    form = {f"enabled:{name}": "on" for name in ("hybrid", "cosine", "cf", "popularity")}
    form |= {"save": "Save"}  # "plugin:reverser" left unticked: switched off
    admin_client.post(RANKERS, form)
    assert PluginSetting.objects.get(name="reverser").enabled is False
    calls = len(reverser.rankers)
    off = admin_client.get("/api/search/", {"q": "sofa", "k": 5}).json()["results"]
    assert len(reverser.rankers) == calls  # bypassed, in this very process
    assert [card["sku"] for card in off] != [card["sku"] for card in on]
    assert off  # still answers


@pytest.mark.django_db
def test_api_clients_get_only_enabled_rankers_and_a_hidden_one_is_unlisted_until_enabled(
    client, indexed_catalog, settings, fresh_registry
):
    fresh_registry().register(Hidden(), "hidden-plugin")
    settings.AISLE_RANKERS = ["hybrid", "cosine"]
    names = [entry["name"] for entry in client.get("/api/rankers/").json()["rankers"]]
    assert "secret" not in names
    assert "novelty" in names  # installed, not hidden: listed, though disabled
    for ranker in ("secret", "novelty"):
        refused = client.get("/api/search/", {"q": "sofa", "ranker": ranker})
        assert refused.status_code == 400
        assert refused.json()["code"] == "unknown_ranker"
    settings.AISLE_RANKERS = ["hybrid", "cosine", "secret"]
    assert "secret" in [entry["name"] for entry in client.get("/api/rankers/").json()["rankers"]]
    assert client.get("/api/search/", {"q": "sofa", "ranker": "secret"}).status_code == 200


@pytest.mark.django_db
def test_manage_py_plugins_and_the_system_check_report_plugins_at_start_up(fresh_registry):
    out = io.StringIO()
    call_command("plugins", "--json", stdout=out)
    listing = json.loads(out.getvalue())
    assert {"cosine", "cf", "hybrid", "novelty"} <= {plugin["name"] for plugin in listing["plugins"]}
    assert next(plugin for plugin in listing["plugins"] if plugin["name"] == "novelty")["wrapper"] is True
    assert not [message for message in run_checks() if message.id == "aisle.W001"]

    registry = fresh_registry()
    registry.failed["unloadable"] = "AttributeError: broken on purpose"  # as _load_entry_point records it
    [warning] = [message for message in run_checks() if message.id == "aisle.W001"]
    assert "unloadable" in warning.msg
    with pytest.raises(CommandError, match="1 plugin"):
        call_command("plugins", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_a_ranker_moved_to_a_taken_position_goes_before_the_one_there(admin_client, client, fresh_registry):
    page = admin_client.get(RANKERS)
    form = {f"position:{choice['ranker'].name}": choice["position"] for choice in page.context["choices"]}
    form |= {f"weight:{choice['ranker'].name}": choice["weight"] for choice in page.context["choices"]}
    form |= {f"enabled:{choice['ranker'].name}": "on" for choice in page.context["choices"]}
    assert form["position:hybrid"] == 0
    form |= {"position:novelty": 0, "plugin:novelty": "on", "save": "Save"}  # the admin types 0
    admin_client.post(RANKERS, form)
    body = client.get("/api/rankers/").json()
    assert body["default"] == "novelty"
    assert [entry["position"] for entry in body["rankers"]] == list(range(len(body["rankers"])))
    assert [entry["name"] for entry in body["rankers"]][:2] == ["novelty", "hybrid"]
