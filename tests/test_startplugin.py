"""``python -m recsys_plugins.startplugin NAME [DEST]`` writes a plugin package that works as it is:
an entry point, one ranker that passes the kit's checks, a test module on the kit, a README and a
CI workflow. tests/test_ranking_distribution.py installs one outside the checkout and runs its
tests; here, what it writes and what it refuses."""

import importlib
import json
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys_plugins import startplugin
from recsys_plugins.rankers.base import RankingContext
from recsys_plugins.testing import hook_problems, make_catalog_candidates, registry_with

CORE = "aisle-ranking[kit] @ git+https://example.org/shop/aisle.git#subdirectory=packaging/aisle-ranking"


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, types.ModuleType]]:
    """The ``price-drop`` plugin, written into ``tmp_path`` and its module imported."""
    dest = tmp_path / "aisle-price-drop"
    startplugin.create_plugin("price-drop", dest, core=CORE)
    monkeypatch.syspath_prepend(str(dest))
    yield dest, importlib.import_module("aisle_price_drop.plugin")
    for name in ("aisle_price_drop.plugin", "aisle_price_drop"):
        sys.modules.pop(name, None)


def test_it_writes_a_package_with_an_entry_point_tests_a_readme_and_ci(generated):
    dest, _ = generated
    assert sorted(str(path.relative_to(dest)) for path in dest.rglob("*") if path.is_file()) == [
        ".github/workflows/tests.yml",
        ".gitignore",
        "README.md",
        "aisle_price_drop/__init__.py",
        "aisle_price_drop/plugin.py",
        "pyproject.toml",
        "tests/test_plugin.py",
    ]
    project = tomllib.loads((dest / "pyproject.toml").read_text())["project"]
    assert project["name"] == "aisle-price-drop"
    assert project["entry-points"]["aisle.rankers"] == {"price_drop": "aisle_price_drop.plugin"}
    assert project["optional-dependencies"]["test"] == ["aisle-ranking[kit]"]
    assert f'pip install "{CORE}"' in (dest / ".github" / "workflows" / "tests.yml").read_text()
    assert f'pip install "{CORE}"' in (dest / "README.md").read_text()
    assert "class TestPriceDropRanker(RankerContract):" in (dest / "tests" / "test_plugin.py").read_text()


def test_its_ranker_registers_and_ranks_catalog_shaped_candidates(generated):
    _, plugin = generated
    assert hook_problems(plugin) == []
    registry = registry_with(plugin, "price_drop")
    assert registry.rankers()["price_drop"].hooks == (
        "aisle_explain_score",
        "aisle_register_rankers",
        "aisle_score_candidates",
    )
    candidates = make_catalog_candidates("mixed")
    ranking = registry.rank("price_drop", candidates, RankingContext(), limit=10)
    in_stock = {int(i) for i, stock in zip(candidates.ids, candidates.facts.stock, strict=True) if stock > 0}
    assert {item.explanation for item in ranking if item.product_id in in_stock} == {"in stock"}
    assert {item.explanation for item in ranking if item.product_id not in in_stock} <= {""}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Price Drop", "is no plugin name"),
        ("2nd-look", "is no plugin name"),
        ("price--drop", "is no plugin name"),
        ("cosine", "a name Aisle's own rankers use"),
        ("popularity", "a name Aisle's own rankers use"),
        ("retrieval", "a name Aisle's own rankers use"),
    ],
)
def test_it_refuses_a_name_that_is_not_a_plugin_name_or_is_taken(name, problem, tmp_path):
    with pytest.raises(ValueError, match=problem):
        startplugin.create_plugin(name, tmp_path / "plugin", core=CORE)
    assert not (tmp_path / "plugin").exists()


def test_it_refuses_a_folder_that_holds_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert startplugin.main(["price_drop", str(tmp_path), "--core", CORE]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_it_writes_into_aisle_name_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert startplugin.main(["price_drop", "--core", CORE]) == 0
    assert (tmp_path / "aisle-price-drop" / "aisle_price_drop" / "plugin.py").exists()
    assert "Next: cd aisle-price-drop" in capsys.readouterr().err


class Installed:
    """An installed ``aisle-ranking`` as ``importlib.metadata`` gives it."""

    version = "0.5.0"

    def __init__(self, direct_url: dict | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return json.dumps(self.direct_url) if name == "direct_url.json" and self.direct_url else None


@pytest.mark.parametrize(
    ("direct_url", "requirement"),
    [
        (
            {
                "url": "https://example.org/shop/aisle.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
                "subdirectory": "packaging/aisle-ranking",
            },
            "aisle-ranking[kit] @ git+https://example.org/shop/aisle.git@abc123"
            "#subdirectory=packaging/aisle-ranking",
        ),
        (
            {"url": "file:///src/aisle/packaging/aisle-ranking", "dir_info": {"editable": True}},
            "aisle-ranking[kit] @ file:///src/aisle/packaging/aisle-ranking",
        ),
        (None, "aisle-ranking[kit]==0.5.0"),
    ],
)
def test_ci_installs_the_core_as_it_was_installed_here(direct_url, requirement, monkeypatch):
    monkeypatch.setattr(startplugin.metadata, "distribution", lambda name: Installed(direct_url))
    assert startplugin.core_requirement() == requirement
