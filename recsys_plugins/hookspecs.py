"""Hook specifications: everything a ranking plugin can implement.

A plugin is a module or an object with functions decorated by :data:`hookimpl`, named after the
hooks below. Aisle finds plugins in the ``aisle.rankers`` entry-point group. A plugin implements
only the hooks it needs. Calls pass arguments by keyword, so an implementation may accept a subset.

Every hook is documented in ``docs/plugins.md``; ``tests/test_plugin_docs.py`` fails when one is not.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pluggy

from recsys_plugins.interactions import Interaction, InteractionMatrix
from recsys_plugins.rankers.base import Candidates, RankedProduct, RankerInfo, RankingContext

PROJECT = "aisle"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def aisle_register_rankers() -> list[RankerInfo]:
    """The rankers this plugin provides.

    Called once when plugins load. Names must be unique across plugins; a clash is an error.
    """


@hookspec(firstresult=True)
def aisle_score_candidates(ranker: str, candidates: Candidates, context: RankingContext) -> np.ndarray | None:
    """Scores for ``candidates`` under ranker ``ranker``: one float per candidate, higher is better.

    Return ``None`` for a ranker you do not provide; the first non-``None`` answer wins. Scores
    need not be normalised. A ranker may return a :class:`~recsys_plugins.rankers.base.Scores`
    to keep the part each component contributed (the hybrid ranker does).
    """


@hookspec(firstresult=True)
def aisle_explain_score(
    ranker: str, product_id: int, parts: Mapping[str, float], context: RankingContext
) -> str | None:
    """A short reason, for the shopper, why ``product_id`` ranks where it does under ``ranker``.

    ``parts`` holds the product's score per component (just ``{ranker: score}`` for a single
    ranker). Return ``None`` for a ranker you do not provide or when there is nothing to say.
    """


@hookspec
def aisle_fit(interactions: InteractionMatrix, directory: Path, use_gpu: bool) -> dict | None:
    """Train a trainable ranker from shopper feedback and save it under ``directory / <ranker>``.

    Called by the ``fit_rankers`` task with every feedback event so far. ``directory`` becomes
    ``context.artifacts`` once the training run is activated. Return a small report
    (``{"ranker": name, ...}``) or ``None`` if you train nothing.
    """


@hookspec
def aisle_feedback_event(event: Interaction) -> bool | None:
    """React to a shopper's feedback as it is stored (a click, like, dislike or add to cart).

    Return ``True`` to ask for a training run soon, for example after enough new events.
    """


@hookspec(firstresult=True)
def aisle_rerank(
    ranking: list[RankedProduct], context: RankingContext, ranker: str, candidates: Candidates
) -> list[RankedProduct]:
    """The final order of a ranked list, after scoring by ranker ``ranker``.

    Meant for wrappers (``@hookimpl(wrapper=True)``) that take the list from ``yield`` and
    return a reordered or filtered copy, for example to spread brands for diversity:
    ``candidates.facts.brand[candidates.row_of(item.product_id)]`` is a product's brand.
    ``ranking`` holds every candidate in score order, not only the page; Aisle cuts it to the
    page afterwards. Aisle's own implementation returns the list unchanged and runs innermost; a
    wrapper that raises is skipped for that request.
    """
