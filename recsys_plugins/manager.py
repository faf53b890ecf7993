"""Loading ranking plugins and calling them: the pure core that the Django adapter configures.

Built-in plugins (``cosine``, ``cf`` with ``popularity``, ``hybrid``) are registered first, then
every plugin of the ``aisle.rankers`` entry-point group. ``allow`` and ``deny`` name plugins
(built-in names or entry-point names) to keep or leave out.
"""

import difflib
import logging
import re
import threading
import time
import traceback
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from recsys_plugins import hookspecs
from recsys_plugins.hookspecs import PROJECT, hookimpl
from recsys_plugins.interactions import Interaction, InteractionMatrix
from recsys_plugins.rankers.base import (
    Candidates,
    RankedProduct,
    RankerInfo,
    RankingContext,
    Scores,
    as_scores,
)
from recsys_plugins.rankers.cf import CFConfig, CFRanker
from recsys_plugins.rankers.cosine import CosineRanker
from recsys_plugins.rankers.hybrid import HybridRanker

ENTRY_POINT_GROUP = "aisle.rankers"
HOOK_NAMES = [name for name in dir(hookspecs) if name.startswith("aisle_")]
BUILTIN_PACKAGE = "aisle"
logger = logging.getLogger("aisle.plugins")


class UnknownRanker(LookupError):
    """A ranker name no loaded plugin provides."""


class RankerFailed(RuntimeError):
    """A ranker's plugin raised or returned malformed scores (logged and counted already)."""


@dataclass(frozen=True)
class InstalledRanker:
    """A ranker and the plugin it comes from, as ``GET /api/rankers/`` lists them."""

    name: str
    description: str
    trainable: bool
    hidden: bool
    plugin: str
    package: str
    version: str
    hooks: tuple[str, ...]


class _Core:
    """Aisle's own hook implementations: the innermost ``aisle_rerank``."""

    @hookimpl(trylast=True)
    def aisle_rerank(self, ranking: list[RankedProduct]) -> list[RankedProduct]:
        return ranking


class RankerRegistry:
    """The loaded plugins, the rankers they provide and the calls Aisle makes into them."""

    def __init__(
        self,
        *,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        entry_points: bool = True,
        cf_config: CFConfig | None = None,
        refit_after: int = 50,
        trace: bool = False,
        version: str = "",
    ) -> None:
        self.plugins = pluggy.PluginManager(PROJECT)
        self.plugins.add_hookspecs(hookspecs)
        self.plugins.register(_Core(), name="aisle.core")
        self._rankers: dict[str, InstalledRanker] = {}
        self.failed: dict[str, str] = {}
        """Entry-point plugins that could not be loaded, with the reason."""
        self.runtime_errors: Counter[str] = Counter()
        """Per plugin: the hook calls it failed since this process loaded it (each was skipped)."""
        self._reported: set[tuple[str, str, str]] = set()
        self._packages: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        builtins: dict[str, object] = {
            "cosine": CosineRanker(),
            "cf": CFRanker(cf_config or CFConfig(), refit_after),
            "hybrid": HybridRanker(self.score, self.explain),
        }
        for name, plugin in builtins.items():
            if _allowed(name, allow, deny):
                self.register(plugin, name, (BUILTIN_PACKAGE, version))
        if entry_points:
            for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
                if _allowed(entry_point.name, allow, deny):
                    self._load_entry_point(entry_point)
        if trace:
            self._trace()

    def _load_entry_point(self, entry_point: metadata.EntryPoint) -> None:
        """Register one installed plugin; one that fails to import or clashes is left out and logged,
        so a broken plugin cannot take the shop down."""
        dist = entry_point.dist
        package = (dist.name, dist.version) if dist else (entry_point.module, "")
        try:
            self.register(entry_point.load(), entry_point.name, package)
        except Exception as problem:
            self.failed[entry_point.name] = f"{type(problem).__name__}: {problem}"
            logger.error("ranking plugin %r (%s) was not loaded: %s", entry_point.name, package[0], problem)

    def register(self, plugin: object, name: str, package: tuple[str, str] = ("", "")) -> None:
        """Add a plugin. It must be a module or an instance, its hook names known and its rankers
        new; otherwise it is left out, whatever went wrong, and ``ValueError`` says why."""
        if isinstance(plugin, type):
            raise ValueError(
                f"plugin {name!r} cannot be loaded: its entry point names the class {plugin.__name__}; "
                f"name an instance instead (for example a module-level `plugin = {plugin.__name__}()`)"
            )
        self.plugins.register(plugin, name=name)
        try:
            self.plugins.check_pending()
            infos = self._infos_of(plugin)
            if not all(isinstance(info, RankerInfo) for info in infos):
                raise TypeError("aisle_register_rankers must return a list of RankerInfo")
            names = [info.name for info in infos]
            clashes = set(self._rankers) & set(names) | {n for n in names if names.count(n) > 1}
            if clashes:
                raise ValueError(f"rankers registered twice: {', '.join(sorted(clashes))}")
        except pluggy.PluginValidationError as problem:
            self.plugins.unregister(plugin)
            raise ValueError(f"plugin {name!r} cannot be loaded: {_with_suggestion(str(problem))}") from None
        except Exception as problem:
            self.plugins.unregister(plugin)
            reason = (
                str(problem) if isinstance(problem, ValueError) else f"{type(problem).__name__}: {problem}"
            )
            raise ValueError(f"plugin {name!r} cannot be loaded: {reason}") from None
        hooks = tuple(sorted(caller.name for caller in self.plugins.get_hookcallers(plugin) or ()))
        self._packages[name] = package
        for info in infos:
            self._rankers[info.name] = InstalledRanker(
                info.name, info.description, info.trainable, info.hidden, name, package[0], package[1], hooks
            )

    def loaded_plugins(self) -> list[dict[str, Any]]:
        """Every loaded plugin, wrappers that provide no ranker included: its package, hooks,
        rankers, whether it wraps every ranker's list (``aisle_rerank``) and its runtime errors."""
        listed = []
        for name, (package, version) in self._packages.items():
            plugin = self.plugins.get_plugin(name)
            if plugin is None:
                continue
            hooks = sorted(caller.name for caller in self.plugins.get_hookcallers(plugin) or ())
            listed.append(
                {
                    "name": name,
                    "package": package,
                    "version": version,
                    "hooks": hooks,
                    "rankers": [ranker.name for ranker in self._rankers.values() if ranker.plugin == name],
                    "wrapper": "aisle_rerank" in hooks,
                    "runtime_errors": self.runtime_errors[name],
                }
            )
        return listed

    def rankers(self) -> dict[str, InstalledRanker]:
        """Every loaded ranker by name, in registration order."""
        return dict(self._rankers)

    def _infos_of(self, plugin: object) -> list[RankerInfo]:
        for implementation in self.plugins.hook.aisle_register_rankers.get_hookimpls():
            if implementation.plugin is plugin:
                return list(implementation.function() or [])
        return []

    def rank(
        self,
        ranker: str,
        candidates: Candidates,
        context: RankingContext,
        limit: int,
        skip: Collection[str] = (),
    ) -> list[RankedProduct]:
        """The ``limit`` best candidates under ``ranker``, explained.

        Re-rank wrappers see every candidate in score order before the cut, so a filtering or
        diversifying wrapper still fills the page. Ties keep the candidates' order, so equal
        input gives equal output. A wrapper or an explanation that fails is skipped, and so are the
        wrappers of the plugins named in ``skip`` (switched off); raises ``RankerFailed`` when the
        ranker itself fails.
        """
        if ranker not in self._rankers:
            raise UnknownRanker(f"No ranker named {ranker!r}; installed: {', '.join(self._rankers)}.")
        if len(candidates) == 0 or limit <= 0:
            return []
        scores = self._scores(ranker, candidates, context)
        total = np.asarray(scores.total, dtype=np.float64)
        order = np.lexsort((np.arange(len(total)), -total))
        ranking = [
            RankedProduct(
                int(candidates.ids[i]),
                float(total[i]),
                {name: float(part[i]) for name, part in scores.parts.items()},
            )
            for i in order
        ]
        reranked = self._guarded(
            "aisle_rerank",
            None,
            skip=skip,
            ranking=ranking,
            context=context,
            ranker=ranker,
            candidates=candidates,
        )
        ranking = (ranking if reranked is _FAILED else reranked)[:limit]
        for item in ranking:
            item.explanation = self.explain(ranker, item.product_id, item.parts, context)
        return ranking

    def rank_first(
        self,
        rankers: Sequence[str],
        candidates: Candidates,
        context: RankingContext,
        limit: int,
        skip: Collection[str] = (),
    ) -> tuple[str, list[RankedProduct]]:
        """Rank with the first of ``rankers`` whose plugin answers, and its name; raises
        ``RankerFailed`` when none does."""
        for ranker in rankers:
            try:
                return ranker, self.rank(ranker, candidates, context, limit, skip)
            except RankerFailed:
                continue
        raise RankerFailed(f"none of the rankers {', '.join(rankers)} answered")

    def score(self, ranker: str, candidates: Candidates, context: RankingContext) -> Scores | None:
        """``ranker``'s scores for ``candidates``; ``None`` when its plugin failed (logged once,
        counted): the hybrid ranker fuses the others."""
        try:
            return self._scores(ranker, candidates, context)
        except RankerFailed:
            return None

    def _scores(self, ranker: str, candidates: Candidates, context: RankingContext) -> Scores:
        """``ranker``'s scores, checked: one finite score per candidate, or ``RankerFailed``."""
        owner = self._rankers[ranker].plugin if ranker in self._rankers else None
        scored = self._guarded(
            "aisle_score_candidates", owner, ranker=ranker, candidates=candidates, context=context
        )
        if scored is _FAILED:
            raise RankerFailed(f"the plugin of ranker {ranker!r} raised (see the log)")
        problem = kind = ""
        try:
            if scored is None:
                kind, problem = "no scores", "returned no scores"
            else:
                scores = as_scores(scored, ranker)
                total = np.asarray(scores.total, dtype=np.float64)
                shapes = {np.shape(part) for part in [total, *scores.parts.values()]}
                if shapes != {(len(candidates),)}:
                    kind = "wrong shape"
                    problem = f"returned scores of shape {total.shape} for {len(candidates)} candidates"
                elif not np.isfinite(total).all():
                    kind = "not finite"
                    problem = f"returned {int((~np.isfinite(total)).sum())} NaN or infinite scores"
        except Exception as error:
            kind, problem = "malformed", f"returned {type(scored).__name__} ({error})"
        if problem:
            self._report(owner, "aisle_score_candidates", kind, f"ranker {ranker!r} {problem}")
            raise RankerFailed(f"ranker {ranker!r} must return one finite score per candidate; it {problem}")
        return scores

    def explain(
        self, ranker: str, product_id: int, parts: Mapping[str, float], context: RankingContext
    ) -> str:
        """The reason ``ranker`` gives for ``product_id``; "" when its plugin has none or fails."""
        owner = self._rankers[ranker].plugin if ranker in self._rankers else None
        reason = self._guarded(
            "aisle_explain_score", owner, ranker=ranker, product_id=product_id, parts=parts, context=context
        )
        return reason if isinstance(reason, str) else ""

    def fit(self, interactions: InteractionMatrix, directory: Path, use_gpu: bool = False) -> list[dict]:
        """Train every trainable ranker into ``directory``; their reports (a plugin that fails to
        train is left out, logged and counted)."""
        reports = self._guarded(
            "aisle_fit", None, interactions=interactions, directory=directory, use_gpu=use_gpu
        )
        return [] if reports is _FAILED else [report for report in reversed(reports) if report]

    def feedback(self, event: Interaction) -> bool:
        """Tell every plugin about ``event``; ``True`` if one asks for a training run."""
        asked = self._guarded("aisle_feedback_event", None, event=event)
        return asked is not _FAILED and any(asked)

    def _guarded(self, hook_name: str, owner: str | None, skip: Collection[str] = (), **kwargs: Any) -> Any:
        """Call a hook, leaving out each plugin that raises (logged once per plugin and error
        kind, counted) and calling it again without it. ``_FAILED`` when ``owner`` (the plugin
        whose answer is wanted) failed or the failing plugin cannot be told."""
        left_out = [plugin for name in skip if (plugin := self.plugins.get_plugin(name)) is not None]
        while True:
            caller = (
                self.plugins.subset_hook_caller(hook_name, left_out)
                if left_out
                else getattr(self.plugins.hook, hook_name)
            )
            try:
                return caller(**kwargs)
            except Exception as problem:
                culprit = self._culprit(problem, hook_name) or owner
                detail = f"{type(problem).__name__}: {problem}"
                if culprit is None:
                    logger.exception("%s failed in a plugin that could not be told apart", hook_name)
                    return _FAILED
                self._report(culprit, hook_name, type(problem).__name__, detail)
                plugin = self.plugins.get_plugin(culprit)
                if culprit == owner or plugin is None or plugin in left_out:
                    return _FAILED
                left_out.append(plugin)

    def _culprit(self, problem: BaseException, hook_name: str) -> str | None:
        """The plugin whose hook implementation raised ``problem``: the innermost frame of the
        traceback that runs one of the hook's implementations."""
        plugins_by_code = {
            getattr(implementation.function, "__code__", None): implementation.plugin_name
            for implementation in getattr(self.plugins.hook, hook_name).get_hookimpls()
        }
        found = None
        for frame, _ in traceback.walk_tb(problem.__traceback__):
            found = plugins_by_code.get(frame.f_code, found)
        return found

    def _report(self, plugin: str | None, hook_name: str, kind: str, detail: str) -> None:
        """Count a failed call of ``plugin`` and log it the first time it fails this way."""
        name = plugin or "?"
        with self._lock:
            self.runtime_errors[name] += 1
            first = (name, hook_name, kind) not in self._reported
            self._reported.add((name, hook_name, kind))
        if first:
            logger.error(
                "ranking plugin %r failed in %s and was skipped for the request (%s); "
                "further failures of this kind are counted in /api/rankers/, not logged",
                name,
                hook_name,
                detail,
            )

    def _trace(self) -> None:
        started = threading.local()

        def before(hook_name: str, implementations: list, kwargs: Mapping[str, Any]) -> None:
            started.__dict__.setdefault("stack", []).append(time.perf_counter())

        def after(outcome: Any, hook_name: str, implementations: list, kwargs: Mapping[str, Any]) -> None:
            elapsed = 1000 * (time.perf_counter() - started.stack.pop())
            plugins = ", ".join(implementation.plugin_name for implementation in implementations)
            ranker = kwargs.get("ranker")
            if outcome.exception is not None:
                culprit = self._culprit(outcome.exception, hook_name) or "?"
                answer = f"raised {type(outcome.exception).__name__}: {outcome.exception} in {culprit}"
            elif hook_name == "aisle_rerank":
                wrappers = [impl.plugin_name for impl in implementations if impl.wrapper or impl.hookwrapper]
                answer = f"answered by {' + '.join(reversed(wrappers)) or 'aisle.core'}"
            elif ranker is not None:  # a ranker's own plugin answers for it
                answered = outcome.get_result() is not None and ranker in self._rankers
                answer = f"answered by {self._rankers[ranker].plugin if answered else 'none'}"
            else:
                answer = f"{len(outcome.get_result() or ())} answers"
            named = f" ranker={ranker}" if "ranker" in kwargs else ""
            logger.info("%s%s: %.2f ms, %s, over [%s]", hook_name, named, elapsed, answer, plugins)

        self.plugins.add_hookcall_monitoring(before, after)


_FAILED = object()
"""What a guarded hook call returns when the plugin whose answer was wanted failed."""


def _with_suggestion(problem: str) -> str:
    """``problem`` (pluggy's "unknown hook 'x' in plugin <object at 0x…>") as "unknown hook 'x'",
    with the closest real hook name."""
    found = re.search(r"unknown hook '(\w+)'", problem)
    if not found:
        return problem
    close = difflib.get_close_matches(found[1], HOOK_NAMES, n=1)
    return f"unknown hook {found[1]!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def _allowed(name: str, allow: Collection[str] | None, deny: Collection[str]) -> bool:
    return name not in deny and (allow is None or name in allow)
