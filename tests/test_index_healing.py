"""A damaged index version is refused, reported by /healthz, repaired by build_index, and rolled back."""

import json
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.indexing import build_index, index_store, roll_back_index
from catalog.models import Product, ProductEmbedding
from catalog.retrieval.store import LiveIndex

from .conftest import running_daphne


def truncate_vectors(folder: Path) -> None:
    path = folder / "vectors.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncate_lexical_vocabulary(folder: Path) -> None:
    path = folder / "lexical" / "vocab.index.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_text('{"version": "half a manif')


DAMAGE = [truncate_vectors, truncate_lexical_vocabulary, corrupt_manifest]


@pytest.fixture
def two_versions(small_catalog: list[str]) -> tuple[str, str]:
    """``(previous, active)``, the only two versions: the second published after a price edit."""
    shutil.rmtree(index_store().root, ignore_errors=True)  # versions other tests left behind
    build_index()
    previous = index_store().active_version()
    product = Product.objects.order_by("pk").first()
    product.price += 1
    product.save()
    assert build_index().published
    return previous, index_store().active_version()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_active_version_is_refused_and_the_previous_good_one_served(
    two_versions, damage: Callable[[Path], None], caplog
):
    previous, active = two_versions
    damage(index_store().folder(active))

    with caplog.at_level(logging.ERROR, logger="core.versions"):
        served = LiveIndex(index_store()).get()  # what a freshly started process loads

    assert served.name == previous
    assert len(served) == Product.objects.active().count()
    assert f"refusing version {active}" in caplog.text
    assert f"serving {previous} instead" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("damage", DAMAGE)
def test_build_index_republishes_a_damaged_active_version_from_the_stored_vectors(
    two_versions, damage: Callable[[Path], None], capsys
):
    _, damaged = two_versions
    damage(index_store().folder(damaged))
    embedded_at = dict(ProductEmbedding.objects.values_list("product_id", "updated_at"))

    call_command("build_index", "--json")

    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["encoded"] == 0
    assert report["published"] is True
    assert report["repaired"].startswith(f"version {damaged} is damaged")
    assert "damaged" in err
    assert "Traceback" not in err
    assert dict(ProductEmbedding.objects.values_list("product_id", "updated_at")) == embedded_at
    repaired = index_store().active_version()
    assert repaired != damaged
    assert LiveIndex(index_store()).get().name == repaired
    assert not build_index().published  # and healthy again: the next run keeps it


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_server_started_on_a_damaged_index_answers_from_the_previous_one_until_build_index_repairs_it(
    two_versions, damage: Callable[[Path], None], process_env, tmp_path
):
    _, damaged = two_versions
    damage(index_store().folder(damaged))

    log_path = tmp_path / "daphne.log"
    with running_daphne(process_env, log_path) as (url, _):
        status, body = get(f"{url}/api/search/?q=wireless+keyboard&k=3")
        assert status == 200, body
        assert body["results"]
        status, health = get(f"{url}/healthz")
        assert status == 503, health
        assert not health["models"]["ok"]
        assert damaged in health["models"]["error"]
        assert f"refusing version {damaged}" in log_path.read_text()

        assert build_index().published

        status, health = get(f"{url}/healthz")
        assert status == 200, health
        assert health["models"]["index"]["version"] == index_store().active_version()


@pytest.mark.django_db
def test_roll_back_index_activates_the_version_before_the_active_one_or_a_named_one(two_versions):
    previous, active = two_versions

    assert roll_back_index() == previous
    assert index_store().active_version() == previous
    assert LiveIndex(index_store()).get().name == previous
    with pytest.raises(LookupError, match="no earlier"):
        roll_back_index()

    assert roll_back_index(active) == active
    assert index_store().active_version() == active
    with pytest.raises(LookupError, match="no version"):
        roll_back_index("19990101T000000.000000")
    assert index_store().active_version() == active


@pytest.mark.django_db
def test_roll_back_index_refuses_a_damaged_version(two_versions):
    previous, active = two_versions
    truncate_vectors(index_store().folder(previous))
    with pytest.raises(LookupError, match="damaged"):
        roll_back_index(previous)
    assert index_store().active_version() == active


@pytest.mark.django_db
def test_the_roll_back_index_command(two_versions, capsys):
    previous, active = two_versions

    call_command("roll_back_index", "--json")

    out, err = capsys.readouterr()
    assert json.loads(out) == {"version": previous, "previous": active}
    assert previous in err
    call_command("roll_back_index", active)
    assert index_store().active_version() == active
    with pytest.raises(CommandError, match="no version"):
        call_command("roll_back_index", "19990101T000000.000000")
