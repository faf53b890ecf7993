"""Start a ranking plugin: ``python -m recsys_plugins.startplugin NAME [DEST]``.

Writes a package that works as it is: one ranker, ``NAME``, registered under an ``aisle.rankers``
entry point of the same name; a test module that runs the kit's contract tests on it and checks
what it promises; a README; and a GitHub Actions workflow that installs ``aisle-ranking`` and the
plugin and runs ``pytest``. Change the ranker's scoring and keep the tests passing.

``DEST`` (default ``./aisle-NAME``) must not exist or be empty. ``--core`` is the requirement the
workflow installs the ranking core with; by default, where this ``aisle-ranking`` was installed
from (a Git URL works in any CI; a local path only on this machine).
"""

import argparse
import json
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from string import Template

from recsys_plugins.manager import ENTRY_POINT_GROUP, RankerRegistry
from recsys_plugins.rankers.hybrid import RETRIEVAL

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")
"""A plugin name: lower-case words joined by ``_`` or ``-`` (``in_stock``, ``price-drop``)."""
CORE = "aisle-ranking"
PREFIX = "aisle"
"""Of the generated distribution's and package's names (``aisle-price-drop``, ``aisle_price_drop``)."""

PLUGIN = '''"""The ``$ranker`` ranking plugin for Aisle.

One ranker, ``$ranker``: the search's relevance, with a bonus for products in stock. Change
:func:`scores` to rank your way; the hook functions below stay as they are.
"""

import numpy as np
from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.rankers.base import Candidates, RankerInfo, RankingContext, Scores

NAME = "$ranker"
IN_STOCK_BONUS = 0.1
"""Added to the relevance (0 to 1) of a product the catalog says is in stock."""


def relevance(candidates: Candidates, context: RankingContext) -> np.ndarray:
    """How well each candidate matches the request, from 0 to 1: the retrieval score min-max
    scaled (all 1 when equal), else the cosine to the query, else 0."""
    if candidates.relevance is not None:
        found = np.asarray(candidates.relevance, dtype=np.float64)
        spread = float(np.ptp(found)) if len(found) else 0.0
        return (found - found.min()) / spread if spread > 0 else np.ones_like(found)
    if context.query_vector is not None:
        cosine = np.asarray(candidates.vectors, dtype=np.float64) @ context.query_vector
        return (cosine.reshape(len(candidates)) + 1) / 2
    return np.zeros(len(candidates))


def in_stock(candidates: Candidates) -> np.ndarray:
    """1 for a product in stock; 0 when out of stock or unknown (stock -1, or no facts)."""
    if candidates.facts is None:
        return np.zeros(len(candidates))
    return (np.asarray(candidates.facts.stock) > 0).astype(np.float64)


def scores(candidates: Candidates, context: RankingContext) -> Scores:
    """One finite score per candidate, higher is better, with the part each reason gave."""
    base = relevance(candidates, context)
    bonus = IN_STOCK_BONUS * in_stock(candidates)
    return Scores(base + bonus, {"relevance": base, "in_stock": bonus})


@hookimpl
def aisle_register_rankers() -> list[RankerInfo]:
    return [RankerInfo(NAME, "Relevance, with products in stock first among equals.")]


@hookimpl
def aisle_score_candidates(
    ranker: str, candidates: Candidates, context: RankingContext
) -> Scores | None:
    if ranker != NAME:
        return None  # another plugin's ranker
    return scores(candidates, context)


@hookimpl
def aisle_explain_score(ranker: str, parts: dict[str, float]) -> str | None:
    # Ranked alone, parts are those of scores(); fused by the hybrid ranker, only {NAME: share}.
    if ranker != NAME or parts.get("in_stock", 0.0) <= 0:
        return None
    return "in stock"
'''

INIT = '''"""Aisle ranking plugin: the ``$ranker`` ranker (see :mod:`$package.plugin`)."""

__version__ = "0.1.0"
'''

TESTS = '''"""The plugin's tests: the kit's contract tests on it, then what it promises.

The kit (``recsys_plugins.testing``, from aisle-ranking) registers its fixtures with pytest:
``sample_candidates``, ``sample_context`` and ``sample_interactions`` need no import.
"""

import dataclasses

import numpy as np
import pytest
from recsys_plugins.rankers.base import RankingContext
from recsys_plugins.testing import RankerContract, make_candidates, registry_with

from $package import plugin as ranking_plugin
from $package.plugin import IN_STOCK_BONUS, NAME


class Test${camel}Ranker(RankerContract):
    plugin = ranking_plugin  # what the entry point names
    ranker = NAME


def test_products_in_stock_come_first_among_equals():
    candidates = make_candidates(4)
    stock = np.array([0, 5, -1, 2])  # out of stock, in stock, unknown, in stock
    candidates = dataclasses.replace(
        candidates,
        relevance=np.full(4, 0.5, dtype=np.float32),
        facts=dataclasses.replace(candidates.facts, stock=stock),
    )
    ranking = registry_with(ranking_plugin).rank(NAME, candidates, RankingContext(), 4)
    ids = candidates.ids.tolist()
    assert [item.product_id for item in ranking] == [ids[1], ids[3], ids[0], ids[2]]
    assert [item.explanation for item in ranking] == ["in stock", "in stock", "", ""]
    assert ranking[0].score - ranking[-1].score == pytest.approx(IN_STOCK_BONUS)


def test_ranks_every_candidate_of_the_kits_sample(sample_candidates, sample_context):
    registry, count = registry_with(ranking_plugin), len(sample_candidates)
    ranking = registry.rank(NAME, sample_candidates, sample_context, count)
    ids = sample_candidates.ids.tolist()
    assert sorted(item.product_id for item in ranking) == sorted(ids)
'''

PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "Aisle ranking plugin: the $ranker ranker"
readme = "README.md"
requires-python = ">=3.11"
# Aisle provides recsys_plugins where the plugin runs; for the tests, aisle-ranking does.
dependencies = ["numpy"]

[project.optional-dependencies]
# aisle-ranking is not on PyPI: install it first (see README.md).
test = ["aisle-ranking[kit]"]

[project.entry-points."$group"]
$ranker = "$package.plugin"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
"""

README = """# $dist: an Aisle ranking plugin

The `$ranker` ranker: the search's relevance, with a bonus for products in stock. Generated by
`python -m recsys_plugins.startplugin $ranker`; the scoring lives in `$package/plugin.py`.

## Test

The plugin's tests run without Aisle, on Aisle's ranking core and plugin kit (`aisle-ranking`,
built from `packaging/aisle-ranking` in an Aisle checkout; it is not on PyPI):

```sh
pip install "$core"
pip install -e ".[test]"
pytest
```

`tests/test_plugin.py` runs the kit's contract tests (`RankerContract`) and the plugin's own.
`.github/workflows/tests.yml` runs the same three commands on every push; the first installs
`$core`, which must be reachable from CI: a Git URL such as
`aisle-ranking[kit] @ git+https://example.org/you/aisle.git#subdirectory=packaging/aisle-ranking`
is, a local path is not.

## Install into Aisle

Into Aisle's environment (Aisle provides `recsys_plugins` there), then restart Aisle:

```sh
pip install -e path/to/$dist --no-deps
```

The `$group` entry point `$ranker` makes Aisle load it. The ranker is off until enabled on the
admin's "Ranker settings" page or listed in `AISLE_RANKERS`; see `docs/plugins.md` in Aisle.
"""

WORKFLOW = """name: tests
on: [push, pull_request]

jobs:
  tests:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install "$core"
      - run: pip install -e ".[test]"
      - run: pytest
"""

GITIGNORE = """__pycache__/
*.egg-info/
build/
dist/
.venv/
"""


def core_requirement() -> str:
    """``aisle-ranking[kit]`` as this environment installed it: from a Git URL, a folder or a
    wheel (PEP 610's ``direct_url.json``), else by name and version."""
    try:
        dist = metadata.distribution(CORE)
    except metadata.PackageNotFoundError:
        return f"{CORE}[kit]"
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    url = direct.get("url")
    if not url:
        return f"{CORE}[kit]=={dist.version}"
    if "vcs_info" in direct:
        vcs = direct["vcs_info"]
        revision = f"@{vcs['commit_id']}" if vcs.get("commit_id") else ""
        subdirectory = f"#subdirectory={direct['subdirectory']}" if direct.get("subdirectory") else ""
        return f"{CORE}[kit] @ {vcs['vcs']}+{url}{revision}{subdirectory}"
    return f"{CORE}[kit] @ {url}"


def create_plugin(name: str, dest: Path, core: str | None = None) -> list[Path]:
    """Write the plugin ``name`` into ``dest``; the files written. ``ValueError`` when the name
    is not a plugin name or is Aisle's own, or ``dest`` holds files already."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{name!r} is no plugin name: lower-case words joined by _ or - (price_drop)")
    ranker = name.replace("-", "_")
    if ranker in {*RankerRegistry(entry_points=False).rankers(), RETRIEVAL}:
        raise ValueError(f"{ranker!r} is a name Aisle's own rankers use; choose another")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} exists and is not an empty folder")
    names = {
        "ranker": ranker,
        "package": f"{PREFIX}_{ranker}",
        "dist": f"{PREFIX}-{name.replace('_', '-')}",
        "camel": "".join(word.capitalize() for word in ranker.split("_")),
        "group": ENTRY_POINT_GROUP,
        "core": core or core_requirement(),
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        ".gitignore": GITIGNORE,
        ".github/workflows/tests.yml": WORKFLOW,
        f"{names['package']}/__init__.py": INIT,
        f"{names['package']}/plugin.py": PLUGIN,
        "tests/test_plugin.py": TESTS,
    }
    written = []
    for relative, template in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(names), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recsys_plugins.startplugin",
        description="Start an Aisle ranking plugin: a package with one ranker, its tests and a README.",
    )
    parser.add_argument("name", help="the plugin's and its ranker's name, e.g. price_drop")
    parser.add_argument("dest", nargs="?", type=Path, help="the folder to create (default: ./aisle-NAME)")
    parser.add_argument("--core", help="how CI installs aisle-ranking (default: as installed here)")
    arguments = parser.parse_args(argv)
    dest = arguments.dest or Path(f"{PREFIX}-{arguments.name.replace('_', '-')}")
    try:
        written = create_plugin(arguments.name, dest, arguments.core)
    except ValueError as problem:
        print(f"startplugin: {problem}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    print(f"\nNext: cd {dest} && pip install -e '.[test]' && pytest", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
