"""Ranking in the running app: the plugin registry built from settings, the rankers' admin
choices, the context of a shopper's request and the training runs of trainable rankers.

Trained rankers live in ``DATA_DIR/rankers`` as versions (``core.versions``); every run
publishes and activates a new one, and web processes follow it without a restart.
"""

import functools
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.indexing import live_index
from catalog.retrieval.store import IndexVersion
from core import broker
from core.devices import resolve_device
from core.jobs import JobStatus
from core.versions import LiveVersion, VersionStore

from . import __version__, experiments
from .interactions import Interaction, InteractionMatrix
from .manager import InstalledRanker, RankerFailed, RankerRegistry, UnknownRanker
from .models import FeedbackEvent, PluginSetting, RankerExperiment, RankerSetting, RankerTrainingRun
from .rankers.base import Candidates, RankedProduct, RankingContext
from .rankers.cf import CFConfig
from .rankers.hybrid import RETRIEVAL

logger = logging.getLogger(__name__)
HISTORY_LIMIT = 200
"""Most recent feedback events a request's context carries."""
TRAINING_RUNS = broker.JobQueue(
    "recsys_plugins.tasks.fit_rankers", RankerTrainingRun, JobStatus.QUEUED, JobStatus.RUNNING
)
"""Training runs and their task (named here: ``tasks`` imports this module)."""
INTERLEAVED = "interleaved"
"""What ordered products drafted from an interleaving experiment's two rankers."""


@functools.cache
def registry() -> RankerRegistry:
    """This process's plugins, loaded once from the settings."""
    return RankerRegistry(
        allow=settings.AISLE_PLUGINS_ALLOW,
        deny=settings.AISLE_PLUGINS_DENY,
        cf_config=CFConfig(**settings.AISLE_CF),
        refit_after=settings.AISLE_CF_REFIT_AFTER,
        trace=settings.AISLE_TRACE_PLUGINS,
        version=__version__,
    )


def artifacts_store() -> VersionStore:
    return VersionStore(Path(settings.DATA_DIR) / "rankers")


def activate_artifacts(version: str) -> None:
    """Make kept trained-ranker ``version`` active (a rollback); every process follows it."""
    artifacts_store().activate(version)


@functools.cache
def _live_artifacts(root: Path) -> LiveVersion[Path]:
    store = VersionStore(root)
    return LiveVersion(store, store.folder)


def active_artifacts() -> Path | None:
    """The active trained-rankers folder, followed across processes."""
    return _live_artifacts(Path(settings.DATA_DIR) / "rankers").get()


@dataclass(frozen=True)
class RankerChoice:
    """An installed ranker with the admin's (or the settings') choice for it."""

    ranker: InstalledRanker
    enabled: bool
    position: int
    weight: float


NEW_RANKER_WEIGHT = 0.1
"""The weight in hybrid of a ranker ``AISLE_RANKER_WEIGHTS`` does not name: a newly enabled
plugin nudges the fused order (as popularity does) instead of outweighing cosine (0.5)."""


def ranker_choices(switched_off: Collection[str] | None = None) -> list[RankerChoice]:
    """Installed rankers in their order; a ``RankerSetting`` row (an admin's save) overrides the
    settings. A ranker whose plugin is switched off is not enabled."""
    switched_off = plugins_switched_off() if switched_off is None else switched_off
    rows = {row.name: row for row in RankerSetting.objects.all()}
    order = list(settings.AISLE_RANKERS)
    choices = []
    for name, installed in registry().rankers().items():
        if name in rows:
            row = rows[name]
            enabled, position, weight = row.enabled, row.position, row.weight
        else:
            enabled = name in order
            position = order.index(name) if name in order else len(order) + len(choices)
            weight = settings.AISLE_RANKER_WEIGHTS.get(name, NEW_RANKER_WEIGHT)
        choices.append(
            RankerChoice(installed, enabled and installed.plugin not in switched_off, position, weight)
        )
    return sorted(choices, key=lambda choice: (choice.position, choice.ranker.name))


def plugins_switched_off() -> frozenset[str]:
    """The loaded plugins an admin switched off."""
    return frozenset(PluginSetting.objects.filter(enabled=False).values_list("name", flat=True))


def save_choices(rankers: Mapping[str, tuple[bool, int, float]], plugins: Mapping[str, bool]) -> None:
    """Store an admin's choices: ``rankers`` by name as (enabled, position, weight), ``plugins`` by
    name as on or off. From then on they override the settings for those rankers."""
    with transaction.atomic():
        for name, (enabled, position, weight) in rankers.items():
            RankerSetting.objects.update_or_create(
                name=name, defaults={"enabled": enabled, "position": position, "weight": weight}
            )
        for name, enabled in plugins.items():
            PluginSetting.objects.update_or_create(name=name, defaults={"enabled": enabled})


def default_ranker(choices: Sequence[RankerChoice] | None = None) -> str | None:
    """The first enabled ranker, which orders the chat's and the API's results."""
    choices = ranker_choices() if choices is None else choices
    return next((choice.ranker.name for choice in choices if choice.enabled), None)


def require_installed(name: str | None) -> None:
    """Raise ``UnknownRanker`` unless ``name`` is ``None`` or an installed ranker."""
    installed = registry().rankers()
    if name is not None and name not in installed:
        raise UnknownRanker(f"No ranker named {name!r}; installed: {', '.join(installed)}.")


def is_enabled(name: str) -> bool:
    return any(choice.ranker.name == name and choice.enabled for choice in ranker_choices())


class Shopper:
    """Whom a search ranks for: the session's feedback and, for a known ``user`` (a user id or an
    earlier session key), their earlier sessions', with the ranker choices. Each is read from the
    database once, however many searches a turn makes (a relaxed search is a second one)."""

    def __init__(self, session_key: str = "", user: str | None = None) -> None:
        self.session_key = session_key
        self.user = user

    @functools.cached_property
    def switched_off(self) -> frozenset[str]:
        """The plugins an admin switched off: their rankers and wrappers are left out."""
        return plugins_switched_off()

    @functools.cached_property
    def choices(self) -> list[RankerChoice]:
        return ranker_choices(self.switched_off)

    @functools.cached_property
    def events(self) -> tuple[list[FeedbackEvent], list[FeedbackEvent]]:
        """Earlier sessions' events and this session's, oldest first."""
        user = self.user
        earlier = _events(Q(user_id=user) if user and user.isdigit() else Q(session_key=user)) if user else []
        current = _events(Q(session_key=self.session_key)) if self.session_key else []
        return [event for event in earlier if event.session_key != self.session_key], current

    @functools.cached_property
    def experiment(self) -> RankerExperiment | None:
        """The running ranker experiment, for a shopper with a session; one whose rankers are no
        longer installed is left out (logged), so that it never stops the shop answering."""
        if not self.session_key:
            return None
        experiment = RankerExperiment.objects.filter(running=True).first()
        if experiment is None:
            return None
        missing = {experiment.ranker_a, experiment.ranker_b} - set(registry().rankers())
        if missing:
            logger.warning(
                "experiment %s skipped: %s not installed", experiment.pk, ", ".join(sorted(missing))
            )
            return None
        return experiment

    @property
    def arm(self) -> str:
        """This session's arm of a split experiment ("a" or "b"), the same at every turn; "" else."""
        experiment = self.experiment
        if experiment is None or experiment.kind != RankerExperiment.Kind.SPLIT:
            return ""
        return experiments.arm_of(self.session_key, str(experiment.pk))

    @property
    def interleaving(self) -> RankerExperiment | None:
        experiment = self.experiment
        return experiment if experiment and experiment.kind == RankerExperiment.Kind.INTERLEAVE else None

    @property
    def ranker(self) -> str | None:
        """The ranker of this shopper's default results: their arm's in a split experiment, else the
        first enabled one (an interleaving experiment's first ranker supplies the context)."""
        if self.arm:
            return self.experiment.ranker_of(self.arm)
        if self.interleaving:
            return self.interleaving.ranker_a
        return default_ranker(self.choices)


def order(
    ranker: str,
    candidates: Candidates,
    context: RankingContext,
    limit: int,
    shopper: Shopper,
    interleave: RankerExperiment | None = None,
    seed: str = "",
) -> tuple[str | None, list[tuple[RankedProduct, str]]]:
    """The ``limit`` best ``candidates`` for the ``shopper``, each with the experiment arm that
    placed it ("" outside an experiment), and what ordered them: ``ranker``, or when its plugin
    fails the next enabled ranker that answers; ``INTERLEAVED`` when ``interleave`` drafts them
    from its two rankers. ``None`` and no products when no ranker answered: a broken plugin never
    stops the shop answering, the caller falls back to the retrieval order."""
    if interleave is not None:
        return INTERLEAVED, _interleaved(interleave, candidates, context, limit, seed, shopper.switched_off)
    enabled = [choice.ranker.name for choice in shopper.choices if choice.enabled]
    try:
        used, ranked = registry().rank_first(
            [ranker, *(name for name in enabled if name != ranker)],
            candidates,
            context,
            limit,
            skip=shopper.switched_off,
        )
    except RankerFailed:
        return None, []
    arm = shopper.arm if used == ranker else ""
    return used, [(item, arm) for item in ranked]


def _interleaved(
    experiment: RankerExperiment,
    candidates: Candidates,
    context: RankingContext,
    limit: int,
    seed: str,
    skip: Collection[str],
) -> list[tuple[RankedProduct, str]]:
    """The experiment's two rankings of ``candidates`` merged by team draft: the ``limit`` products,
    each with the arm whose ranker drafted it (and explained by that ranker). A ranker that fails
    drafts nothing: the other team fills the list."""
    rankings = []
    for arm in experiments.ARMS:
        try:
            rankings.append(registry().rank(experiment.ranker_of(arm), candidates, context, limit, skip))
        except RankerFailed:
            rankings.append([])
    return experiments.team_draft(*rankings, limit, seed, key=lambda item: item.product_id)


def context_for(
    query_vector: np.ndarray | None,
    constraints: dict[str, Any],
    shopper: Shopper,
    index: IndexVersion | None = None,
) -> RankingContext:
    """A ranking context with the ``shopper``'s feedback; their products' vectors come from
    ``index`` (the search's snapshot; default: the live version)."""
    earlier, current = shopper.events
    events = [*earlier, *current]
    product_ids = sorted({event.product_id for event in events})
    return RankingContext(
        query_vector=query_vector,
        constraints=constraints,
        user=shopper.user,
        history=tuple(_interaction(event) for event in earlier),
        session_events=tuple(_interaction(event) for event in current),
        item_vectors=_vectors_of(product_ids, index or live_index().get()),
        titles={event.product_id: event.product.title for event in events},
        weights={RETRIEVAL: settings.AISLE_RANKER_WEIGHTS.get(RETRIEVAL, 1.0)}
        | {choice.ranker.name: choice.weight for choice in shopper.choices if choice.enabled},
        artifacts=active_artifacts(),
    )


def _events(condition: Q) -> list[FeedbackEvent]:
    recent = FeedbackEvent.objects.filter(condition).select_related("product").order_by("-created_at")
    return list(reversed(recent[:HISTORY_LIMIT]))


def _interaction(event: FeedbackEvent) -> Interaction:
    user = str(event.user_id) if event.user_id else event.session_key
    return Interaction(user, event.product_id, event.action, event.created_at.timestamp())


def _vectors_of(product_ids: list[int], index: IndexVersion | None) -> dict[int, np.ndarray]:
    if index is None:
        return {}
    found, vectors = index.vectors_of(product_ids)
    return dict(zip(found, vectors, strict=True))


def feedback_stored(event: FeedbackEvent) -> None:
    """Tell the plugins about a stored feedback event; queue a training run when one asks or when
    ``AISLE_CF_REFIT_AFTER`` events have been stored since the last run, unless a run is waiting.

    The events are counted in the database, not in a plugin's memory: every web process counts
    the same events, so several processes neither train too late nor each start their own run.
    """
    asked = registry().feedback(_interaction(event))
    last = RankerTrainingRun.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    since = FeedbackEvent.objects.filter(created_at__gt=last) if last else FeedbackEvent.objects.all()
    due = since.count() >= settings.AISLE_CF_REFIT_AFTER
    waiting = RankerTrainingRun.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists()
    if (asked or due) and not waiting:
        start_training(reason="feedback")


def start_training(reason: str = "admin") -> RankerTrainingRun:
    """Queue a training run of the trainable rankers on the ``gpu`` queue.

    The run is stored first and its task sent once that commits; a broker that is down leaves the
    run queued for ``resend_queued_runs``, it never delays or fails the caller.
    """
    run = RankerTrainingRun.objects.create(reason=reason)
    TRAINING_RUNS.send_on_commit(run.pk)
    return run


def resend_queued_runs() -> list[int]:
    """Send again the runs still queued ``AISLE_TRAINING_RESEND_AFTER`` seconds after they were
    created; returns their ids. A run delivered twice trains once (``TRAINING_RUNS.claim``)."""
    return TRAINING_RUNS.resend_stale(settings.AISLE_TRAINING_RESEND_AFTER)


def run_training(run: RankerTrainingRun) -> RankerTrainingRun:
    """Train every trainable ranker on all feedback so far and activate the new artifacts.

    Marks ``run`` failed (keeping the active artifacts) and re-raises when training fails.
    """
    try:
        device = _device()
        _update(run, status=RankerTrainingRun.Status.RUNNING, device_used=device)
        events = [
            Interaction(str(user_id) if user_id else session_key, product_id, action, created_at.timestamp())
            for user_id, session_key, product_id, action, created_at in FeedbackEvent.objects.order_by(
                "created_at"
            ).values_list("user_id", "session_key", "product_id", "action", "created_at")
        ]
        interactions = InteractionMatrix.from_interactions(events)
        if not interactions.matrix.nnz:
            raise ValueError("there is no positive feedback to train on yet")
        store = artifacts_store()
        with store.publishing(), store.staging() as staging:
            reports = registry().fit(interactions, staging, use_gpu=device == "cuda")
            version = store.commit(staging, {"events": len(events), "reports": reports})
        _update(
            run,
            status=RankerTrainingRun.Status.SUCCEEDED,
            events=len(events),
            reports=reports,
            version=version,
            finished_at=timezone.now(),
            message=f"trained {', '.join(report['ranker'] for report in reports) or 'nothing'}",
        )
    except Exception as problem:
        _update(run, status=RankerTrainingRun.Status.FAILED, message=str(problem), finished_at=timezone.now())
        raise
    return run


def _device() -> str:
    try:
        return resolve_device(settings.AISLE_DEVICE)
    except RuntimeError:
        logger.warning("no CUDA device on this worker; training rankers on the CPU")
        return "cpu"


def _update(run: RankerTrainingRun, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=list(fields))
