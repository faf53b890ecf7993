"""The hook specifications, their reference in docs/plugins.md and the tests stay in step.

Fails when a hook of ``recsys_plugins.hookspecs`` (every function named ``aisle_*``) has no
docstring, no ``### aisle_<hook>(<its arguments>)`` section in docs/plugins.md, or no test of its
own under tests/; when the docs name a hook that does not exist; or when a Python example in the
docs does not run.

A test of hook ``aisle_x`` is a test pytest collects whose name holds ``aisle_x`` as a word, whose
code (docstrings and comments do not count) calls the hook through a plugin manager (``….hook.aisle_x``,
``call_own_hook(…, "aisle_x", …)`` or a function of ``recsys_plugins.manager`` or
``recsys_plugins.testing`` that calls it, such as ``registry.rank``), which asserts something and
is not marked skip or xfail.
"""

import ast
import inspect
import os
import re
from pathlib import Path

import pytest

from recsys_plugins import hookspecs, manager, testing

from .conftest import ROOT

DOCS = ROOT / "docs" / "plugins.md"
HOOKS = {
    name: function
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("aisle_")
}
CALLERS = (manager, testing)
"""Modules whose functions a test may call a hook through."""
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


def called_name(call: ast.Call) -> str | None:
    """``f`` of ``f(…)`` and of ``x.f(…)``."""
    function = call.func
    return function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)


def hooks_called_directly(node: ast.AST) -> set[str]:
    """The hooks ``node``'s code calls by name: ``….hook.<hook>``, ``call_own_hook(…, "<hook>")`` or
    the registry's guarded ``_guarded("<hook>", …)``."""
    called = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Attribute):
            if child.value.attr == "hook" and child.attr in HOOKS:
                called.add(child.attr)
        elif isinstance(child, ast.Call) and called_name(child) in ("call_own_hook", "_guarded"):
            arguments = [*child.args, *(keyword.value for keyword in child.keywords)]
            called |= {a.value for a in arguments if isinstance(a, ast.Constant) and a.value in HOOKS}
    return called


def names_called(node: ast.AST) -> set[str]:
    return {called_name(child) for child in ast.walk(node) if isinstance(child, ast.Call)} - {None}


def hooks_reached() -> dict[str, set[str]]:
    """``{name of a function, method or class of CALLERS: the hooks calling it calls}``, also
    through the other functions of CALLERS it calls."""
    direct: dict[str, set[str]] = {}
    callees: dict[str, set[str]] = {}
    for module in CALLERS:
        for node in ast.parse(inspect.getsource(module)).body:
            functions = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
            if isinstance(node, ast.ClassDef):
                functions = [
                    (node.name if item.name == "__init__" else item.name, item)
                    for item in node.body
                    if isinstance(item, ast.FunctionDef)
                ]
            for name, function in functions:
                direct.setdefault(name, set()).update(hooks_called_directly(function))
                callees.setdefault(name, set()).update(names_called(function))
    reached = {name: set(hooks) for name, hooks in direct.items()}
    grew = True
    while grew:
        grew = False
        for name, called in callees.items():
            more = set().union(*(reached.get(callee, set()) for callee in called)) - reached[name]
            reached[name] |= more
            grew = grew or bool(more)
    return reached


def collected_tests(module: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The test functions pytest collects from a module: ``test_*`` at the top or in a ``Test*`` class."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found = [node for node in module.body if isinstance(node, functions)]
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found += [item for item in node.body if isinstance(item, functions)]
    return [function for function in found if function.name.startswith("test")]


def asserts(function: ast.AST) -> bool:
    """Whether ``function`` has an ``assert`` or a ``with pytest.raises(…)`` block."""
    return any(isinstance(node, ast.Assert) or raises_block(node) for node in ast.walk(function))


def raises_block(node: ast.AST) -> bool:
    return isinstance(node, ast.With) and any(
        isinstance(item.context_expr, ast.Call) and called_name(item.context_expr) == "raises"
        for item in node.items
    )


def skipped(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(re.search(r"\bmark\.(skip|skipif|xfail)\b", ast.unparse(d)) for d in function.decorator_list)


def hooks_called(node: ast.AST, reached: dict[str, set[str]]) -> set[str]:
    """The hooks ``node``'s code calls, directly or through the functions of CALLERS."""
    return hooks_called_directly(node).union(*(reached.get(name, set()) for name in names_called(node)))


def real_tests_of(hook: str, source: str, reached: dict[str, set[str]]) -> list[str]:
    """The names of the tests in ``source`` that test ``hook`` (see the module docstring)."""
    named = re.compile(rf"(^|_){hook}(_|$)")
    return [
        function.name
        for function in collected_tests(ast.parse(source))
        if named.search(function.name)
        and not skipped(function)
        and asserts(function)
        and hook in hooks_called(function, reached)
    ]


def modules_under_tests() -> list[Path]:
    return sorted(path for path in (ROOT / "tests").rglob("test_*.py") if path.name != "test_plugin_docs.py")


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_is_tested(hook):
    reached = hooks_reached()
    tests = [
        f"{path.relative_to(ROOT)}::{name}"
        for path in modules_under_tests()
        for name in real_tests_of(hook, path.read_text(encoding="utf-8"), reached)
    ]
    assert tests, (
        f"no test under tests/ tests {hook}: none is named for it (test_…{hook}…), calls it through "
        f"the plugin manager (….hook.{hook}, call_own_hook or a RankerRegistry method) and asserts"
    )


FAKE_TESTS = """
\"\"\"Tests of aisle_fit and aisle_rerank.\"\"\"
import pytest


def test_aisle_fit_only_in_the_name():
    assert True  # registry.fit(interactions, directory)


def test_aisle_fit_without_an_assert(registry, interactions, tmp_path):
    registry.fit(interactions, tmp_path)


@pytest.mark.skip(reason="later")
def test_aisle_fit_skipped(registry, interactions, tmp_path):
    assert registry.fit(interactions, tmp_path)


def test_training_named_for_no_hook(registry, interactions, tmp_path):
    assert registry.fit(interactions, tmp_path)


def helper_aisle_fit(registry, interactions, tmp_path):
    assert registry.fit(interactions, tmp_path)


def test_aisle_fit_through_the_registry(registry, interactions, tmp_path):
    assert registry.fit(interactions, tmp_path)


class TestAisleRerank:
    def test_aisle_rerank_through_the_hook(self, registry, ranking):
        assert registry.plugins.hook.aisle_rerank(ranking=ranking, context=None) == ranking

    def test_aisle_fit_is_no_rerank(self, registry, ranking):
        assert registry.plugins.hook.aisle_rerank(ranking=ranking, context=None) == ranking


class Helpers:
    def test_aisle_rerank_not_collected(self, registry, ranking):
        assert registry.plugins.hook.aisle_rerank(ranking=ranking, context=None) == ranking
"""


def test_the_check_counts_only_real_tests_of_a_hook():
    reached = hooks_reached()
    assert {"aisle_score_candidates", "aisle_rerank", "aisle_explain_score"} <= reached["rank"]
    assert "aisle_register_rankers" in reached["registry_with"]
    assert real_tests_of("aisle_fit", FAKE_TESTS, reached) == ["test_aisle_fit_through_the_registry"]
    assert real_tests_of("aisle_rerank", FAKE_TESTS, reached) == ["test_aisle_rerank_through_the_hook"]
    assert real_tests_of("aisle_feedback_event", FAKE_TESTS, reached) == []


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
