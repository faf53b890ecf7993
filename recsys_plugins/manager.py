"""Loading ranking plugins and calling them: the pure core that the Django adapter configures.

Built-in plugins (``cosine``, ``cf`` with ``popularity``, ``hybrid``) are registered first, then
every plugin of the ``aisle.rankers`` entry-point group. ``allow`` and ``deny`` name plugins
(built-in names or entry-point names) to keep or leave out.
"""

import logging
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from recsys_plugins import hookspecs
from recsys_plugins.hookspecs import PROJECT, hookimpl
from recsys_plugins.interactions import Interaction, InteractionMatrix
from recsys_plugins.rankers.base import Candidates, RankedProduct, RankerInfo, RankingContext, as_scores
from recsys_plugins.rankers.cf import CFConfig, CFRanker
from recsys_plugins.rankers.cosine import CosineRanker
from recsys_plugins.rankers.hybrid import HybridRanker

ENTRY_POINT_GROUP = "aisle.rankers"
BUILTIN_PACKAGE = "aisle"
logger = logging.getLogger("aisle.plugins")


class UnknownRanker(LookupError):
    """A ranker name no loaded plugin provides."""


@dataclass(frozen=True)
class InstalledRanker:
    """A ranker and the plugin it comes from, as ``GET /api/rankers/`` lists them."""

    name: str
    description: str
    trainable: bool
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
        builtins: dict[str, object] = {
            "cosine": CosineRanker(),
            "cf": CFRanker(cf_config or CFConfig(), refit_after),
            "hybrid": HybridRanker(self.plugins),
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
        """Add a plugin. Its hook names must be known and its rankers new; otherwise it is
        left out and ``ValueError`` says why."""
        self.plugins.register(plugin, name=name)
        try:
            self.plugins.check_pending()
            infos = self._infos_of(plugin)
            names = [info.name for info in infos]
            clashes = set(self._rankers) & set(names) | {n for n in names if names.count(n) > 1}
            if clashes:
                raise ValueError(f"rankers registered twice: {', '.join(sorted(clashes))}")
        except (pluggy.PluginValidationError, ValueError) as problem:
            self.plugins.unregister(plugin)
            raise ValueError(f"plugin {name!r} cannot be loaded: {problem}") from None
        hooks = tuple(sorted(caller.name for caller in self.plugins.get_hookcallers(plugin) or ()))
        for info in infos:
            self._rankers[info.name] = InstalledRanker(
                info.name, info.description, info.trainable, name, package[0], package[1], hooks
            )

    def rankers(self) -> dict[str, InstalledRanker]:
        """Every loaded ranker by name, in registration order."""
        return dict(self._rankers)

    def _infos_of(self, plugin: object) -> list[RankerInfo]:
        for implementation in self.plugins.hook.aisle_register_rankers.get_hookimpls():
            if implementation.plugin is plugin:
                return list(implementation.function() or [])
        return []

    def rank(
        self, ranker: str, candidates: Candidates, context: RankingContext, limit: int
    ) -> list[RankedProduct]:
        """The ``limit`` best candidates under ``ranker``, explained.

        Re-rank wrappers see every candidate in score order before the cut, so a filtering or
        diversifying wrapper still fills the page. Ties keep the candidates' order, so equal
        input gives equal output.
        """
        if ranker not in self._rankers:
            raise UnknownRanker(f"No ranker named {ranker!r}; installed: {', '.join(self._rankers)}.")
        if len(candidates) == 0 or limit <= 0:
            return []
        scored = self.plugins.hook.aisle_score_candidates(
            ranker=ranker, candidates=candidates, context=context
        )
        if scored is None:
            raise RuntimeError(f"the plugin of ranker {ranker!r} returned no scores")
        scores = as_scores(scored, ranker)
        total = np.asarray(scores.total, dtype=np.float64)
        if total.shape != (len(candidates),) or not np.isfinite(total).all():
            raise RuntimeError(f"ranker {ranker!r} must return one finite score per candidate")
        order = np.lexsort((np.arange(len(total)), -total))
        ranking = [
            RankedProduct(
                int(candidates.ids[i]),
                float(total[i]),
                {name: float(part[i]) for name, part in scores.parts.items()},
            )
            for i in order
        ]
        ranking = self.plugins.hook.aisle_rerank(ranking=ranking, context=context)[:limit]
        for item in ranking:
            item.explanation = (
                self.plugins.hook.aisle_explain_score(
                    ranker=ranker, product_id=item.product_id, parts=item.parts, context=context
                )
                or ""
            )
        return ranking

    def fit(self, interactions: InteractionMatrix, directory: Path, use_gpu: bool = False) -> list[dict]:
        """Train every trainable ranker into ``directory``; their reports."""
        reports = self.plugins.hook.aisle_fit(interactions=interactions, directory=directory, use_gpu=use_gpu)
        return [report for report in reversed(reports) if report]

    def feedback(self, event: Interaction) -> bool:
        """Tell every plugin about ``event``; ``True`` if one asks for a training run."""
        return any(self.plugins.hook.aisle_feedback_event(event=event))

    def _trace(self) -> None:
        started = threading.local()

        def before(hook_name: str, implementations: list, kwargs: Mapping[str, Any]) -> None:
            started.__dict__.setdefault("stack", []).append(time.perf_counter())

        def after(outcome: Any, hook_name: str, implementations: list, kwargs: Mapping[str, Any]) -> None:
            elapsed = 1000 * (time.perf_counter() - started.stack.pop())
            plugins = ", ".join(implementation.plugin_name for implementation in implementations)
            ranker = f" ranker={kwargs['ranker']}" if "ranker" in kwargs else ""
            logger.info("%s%s: %.2f ms over [%s]", hook_name, ranker, elapsed, plugins)

        self.plugins.add_hookcall_monitoring(before, after)


def _allowed(name: str, allow: Collection[str] | None, deny: Collection[str]) -> bool:
    return name not in deny and (allow is None or name in allow)
