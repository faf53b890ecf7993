"""The hook specifications, their reference in docs/plugins.md and the tests stay in step.

Fails when a hook of ``recsys_plugins.hookspecs`` (every function named ``aisle_*``) has no
docstring, no ``### aisle_<hook>(<its arguments>)`` section in docs/plugins.md, or no test under
tests/ that names it; when the docs name a hook that does not exist; or when a Python example in
the docs does not run.
"""

import inspect
import os
import re

import pytest

from recsys_plugins import hookspecs

from .conftest import ROOT

DOCS = ROOT / "docs" / "plugins.md"
HOOKS = {
    name: function
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("aisle_")
}
HEADING = re.compile(r"^### (aisle_\w+)(?:\((.*)\))?[ \t]*$", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXAMPLE_PACKAGE = "aisle_novelty"


def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def sections() -> dict[str, list[str | None]]:
    """``{hook: [arguments of each heading that names it]}``."""
    found: dict[str, list[str | None]] = {}
    for match in HEADING.finditer(docs()):
        found.setdefault(match[1], []).append(match[2])
    return found


def test_the_hooks_are_found_and_are_all_specs():
    assert len(HOOKS) >= 6, sorted(HOOKS)
    for name, function in HOOKS.items():
        assert hasattr(function, f"{hookspecs.PROJECT}_spec"), f"{name} is not marked @hookspec"


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_has_a_docstring(hook):
    assert (inspect.getdoc(HOOKS[hook]) or "").strip(), (
        f"{hook} has no docstring in recsys_plugins/hookspecs.py"
    )


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_has_a_section_with_its_exact_arguments(hook):
    found = sections().get(hook)
    assert found, f"docs/plugins.md has no '### {hook}(…)' section"
    assert len(found) == 1, f"docs/plugins.md has {len(found)} sections for {hook}"
    arguments = list(inspect.signature(HOOKS[hook]).parameters)
    documented = [part.strip() for part in (found[0] or "").split(",") if part.strip()]
    assert documented == arguments, f"heading says {hook}({', '.join(documented)}), the spec {arguments}"


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_is_tested(hook):
    mention = re.compile(rf"\b{hook}\b")
    testing = [
        path.relative_to(ROOT)
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != "test_plugin_docs.py" and mention.search(path.read_text(encoding="utf-8"))
    ]
    assert testing, f"no test file under tests/ names {hook}"


def test_the_docs_name_only_hooks_that_exist():
    text = docs()
    named = (
        set(sections())
        | set(re.findall(r"\bdef (aisle_\w+)", text))
        | set(re.findall(r"\bhook\.(aisle_\w+)", text))
        | set(re.findall(r"`(aisle_\w+)(?:\(|`)", text))
    ) - {EXAMPLE_PACKAGE}
    stale = sorted(named - set(HOOKS))
    assert not stale, f"docs/plugins.md names hooks that recsys_plugins/hookspecs.py lacks: {stale}"


def python_examples() -> list:
    text = docs()
    return [
        pytest.param(match[1], id=f"line-{text.count(chr(10), 0, match.start()) + 1}")
        for match in PYTHON_BLOCK.finditer(text)
    ]


@pytest.mark.parametrize("code", python_examples())
def test_the_python_examples_run(code, request):
    if f"import {EXAMPLE_PACKAGE}" in code or f"from {EXAMPLE_PACKAGE}" in code:
        try:
            __import__(EXAMPLE_PACKAGE)
        except ModuleNotFoundError:
            message = "the example plugin is not installed: pip install -e examples/aisle-novelty --no-deps"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    exec(compile(code, f"docs/plugins.md ({request.node.callspec.id})", "exec"), {"__name__": "docs_example"})
