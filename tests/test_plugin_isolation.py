"""A broken ranking plugin cannot take the shop down: a ranker that raises or returns malformed
scores is skipped for the request (the next enabled ranker answers), a wrapper that raises is
bypassed, a plugin that cannot register is left out, whatever the error. Each failure is logged
once with the plugin's name and counted in ``/api/rankers/``; ``/healthz`` says "degraded"."""

import logging
from collections.abc import Generator

import numpy as np
import pytest
from django.contrib.sessions.backends.db import SessionStore

from assistant import services
from assistant.models import Message
from recsys_plugins import ranking
from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.manager import RankerRegistry
from recsys_plugins.rankers.base import RankedProduct, RankerInfo
from recsys_plugins.testing import make_candidates, make_context, weights_for


class Broken:
    """A ranker plugin whose scores go wrong in the way ``how`` says."""

    def __init__(self, how: str) -> None:
        self.how = how

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo("broken", "goes wrong")]

    @hookimpl
    def aisle_score_candidates(self, ranker, candidates):
        if self.how == "raises for every ranker":
            raise KeyError("a bug that ignores which ranker is asked")
        if ranker != "broken":
            return None
        match self.how:
            case "raises":
                raise ZeroDivisionError("division by zero")
            case "wrong length":
                return np.ones(len(candidates) - 1)
            case "NaN":
                return np.full(len(candidates), np.nan)


class RaisingWrapper:
    @hookimpl(wrapper=True)
    def aisle_rerank(self) -> Generator[None, list[RankedProduct], list[RankedProduct]]:
        ranking = yield
        raise RuntimeError(f"wrapper bug on {len(ranking)} products")


@pytest.fixture
def shop_with(settings, indexed_catalog):
    """Register a plugin in this process's registry, enabled first; a fresh registry after."""
    ranking.registry.cache_clear()

    def install(plugin: object, name: str) -> RankerRegistry:
        registry = ranking.registry()
        registry.register(plugin, name)
        settings.AISLE_RANKERS = ["broken", "hybrid", "cosine", "cf", "popularity"]
        return registry

    yield install
    ranking.registry.cache_clear()


def chat(text: str) -> dict:
    session = SessionStore()
    session.create()
    return services.chat_turn(session.session_key, text)


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["raises", "wrong length", "NaN", "raises for every ranker"])
def test_a_ranker_that_fails_is_skipped_and_the_next_enabled_one_answers(shop_with, client, caplog, how):
    registry = shop_with(Broken(how), "broken")
    with caplog.at_level(logging.ERROR, logger="aisle.plugins"):
        reply = chat("sofa")
        again = chat("a grey sofa")
        api = client.get("/api/search/", {"q": "sofa"})
    assert reply["products"]
    assert again["products"]
    assert api.status_code == 200
    assert api.json()["results"]
    assert Message.objects.filter(role="assistant").last().ranker == "hybrid"  # the next enabled one
    failures = [record.getMessage() for record in caplog.records if "'broken'" in record.getMessage()]
    assert len(failures) == 1, failures  # logged once per plugin and kind of error, then counted
    assert "aisle_score_candidates" in failures[0]
    if how == "wrong length":
        assert "shape (" in failures[0]
        assert "candidates" in failures[0]
    body = client.get("/api/rankers/").json()
    assert body["runtime_errors"]["broken"] >= 3
    assert {entry["name"]: entry for entry in body["rankers"]}["broken"]["runtime_errors"] >= 3
    health = client.get("/healthz")
    assert health.status_code in (200, 503)  # the plugin does not decide the HTTP status
    assert health.json()["status"] == "degraded"
    assert health.json()["plugins"]["runtime_errors"]["broken"] >= 3
    assert registry.runtime_errors["broken"] >= 3


@pytest.mark.django_db
def test_a_wrapper_that_raises_is_bypassed(shop_with, client, caplog):
    registry = shop_with(RaisingWrapper(), "raising-wrapper")
    with caplog.at_level(logging.ERROR, logger="aisle.plugins"):
        reply = chat("sofa")
    assert reply["products"]
    assert any("'raising-wrapper'" in record.getMessage() for record in caplog.records)
    assert registry.runtime_errors["raising-wrapper"] == 1
    listed = {plugin["name"]: plugin for plugin in client.get("/api/rankers/").json()["plugins"]}
    assert listed["raising-wrapper"]["wrapper"] is True
    assert listed["raising-wrapper"]["rankers"] == []
    assert listed["raising-wrapper"]["runtime_errors"] == 1


class ClassPlugin:
    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [RankerInfo("classy", "registered as a class")]

    @hookimpl
    def aisle_score_candidates(self, ranker, candidates):
        return np.zeros(len(candidates)) if ranker == "classy" else None


class BadRegistration:
    def __init__(self, returns: object) -> None:
        self.returns = returns

    @hookimpl
    def aisle_register_rankers(self):
        if isinstance(self.returns, Exception):
            raise self.returns
        return self.returns

    @hookimpl
    def aisle_score_candidates(self, ranker, candidates):
        raise AssertionError("never called: the plugin was not registered")


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        (ClassPlugin, "names the class ClassPlugin; name an instance"),
        (BadRegistration(["not a RankerInfo"]), "must return a list of RankerInfo"),
        (BadRegistration(AttributeError("no such thing")), "AttributeError: no such thing"),
        (BadRegistration(TypeError("bad call")), "TypeError: bad call"),
        (BadRegistration(42), "TypeError"),
    ],
)
def test_a_plugin_that_cannot_register_is_left_out_whatever_the_error(plugin, reason):
    registry = RankerRegistry(entry_points=False)
    with pytest.raises(ValueError, match=reason):
        registry.register(plugin, "bad")
    assert registry.plugins.get_plugin("bad") is None
    candidates = make_candidates(6)
    ranked = registry.rank("cosine", candidates, make_context(candidates, weights=weights_for(registry)), 6)
    assert len(ranked) == 6


def test_a_misspelt_hook_is_reported_with_a_suggestion():
    class Misspelt:
        @hookimpl
        def aisle_score_candiates(self, ranker, candidates):
            return None

    with pytest.raises(
        ValueError, match="unknown hook 'aisle_score_candiates'; did you mean 'aisle_score_candidates'"
    ):
        RankerRegistry(entry_points=False).register(Misspelt(), "misspelt")


def test_under_hybrid_a_wrong_length_part_is_left_out_and_named(caplog):
    registry = RankerRegistry(entry_points=False)
    registry.register(Broken("wrong length"), "broken")
    candidates = make_candidates(9)
    context = make_context(candidates, weights=weights_for(registry))
    with caplog.at_level(logging.ERROR, logger="aisle.plugins"):
        ranked = registry.rank("hybrid", candidates, context, 9)
    assert len(ranked) == 9
    [logged] = [record.getMessage() for record in caplog.records]
    assert "'broken'" in logged
    assert "shape (8,) for 9 candidates" in logged


def test_tracing_names_the_implementation_that_answered_and_the_exception(caplog):
    registry = RankerRegistry(entry_points=False, trace=True)
    registry.register(Broken("raises"), "broken")
    candidates = make_candidates(4)
    context = make_context(candidates, weights=weights_for(registry))
    with caplog.at_level(logging.INFO, logger="aisle.plugins"):
        registry.rank_first(["broken", "cosine"], candidates, context, 4)
    lines = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert any(
        line.startswith("aisle_score_candidates ranker=broken:")
        and "raised ZeroDivisionError: division by zero in broken" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("aisle_score_candidates ranker=cosine:") and "answered by cosine" in line
        for line in lines
    ), lines
