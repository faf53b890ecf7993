"""Sending Celery tasks from requests and signals without blocking or failing them on the broker.

Everything Aisle queues (index refreshes, parser and ranker training) is recorded in the
database first: stale product flags or a job row. Sending the task is only a nudge. So a
send tries the broker once, with the short connection timeout of the settings, and a broker
that is down is logged, never raised: the periodic sweeps (``catalog.tasks.sweep_index``, the
training sweeps) send the work again once the broker is back. Work sent again may arrive
twice; a task takes its job row with ``JobQueue.claim`` so that only one delivery runs it.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import Task
from django.db import models, transaction
from django.utils import timezone

from .celery_app import app

logger = logging.getLogger(__name__)


def send(task: Task | str, *args: Any, countdown: float | None = None, **kwargs: Any) -> str | None:
    """Send ``task`` (or the task of that name) now; returns the task id, or ``None`` when the
    broker could not take it. A name lets a service queue a task whose module imports it."""
    name = task if isinstance(task, str) else task.name
    try:
        # A signature sends through the registered task when this process has it (its options,
        # task_always_eager), by name otherwise.
        return app.signature(name).apply_async(args, kwargs, countdown=countdown, retry=False).id
    except Exception as problem:
        logger.warning(
            "could not queue %s (%s: %s); a sweep sends it later", name, type(problem).__name__, problem
        )
        return None


def send_on_commit(task: Task | str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one); never raises."""
    transaction.on_commit(lambda: send(task, *args, countdown=countdown, **kwargs))


@dataclass(frozen=True)
class JobQueue:
    """Job rows whose work ``task`` does, one row id per message: a row is created ``queued`` (with
    a ``created_at``), and the delivery that takes it moves it to ``running``."""

    task: str
    model: type[models.Model]
    queued: str
    running: str

    def send_on_commit(self, pk: int) -> None:
        send_on_commit(self.task, pk)

    def resend_stale(self, older_than_s: float) -> list[int]:
        """Send the task again for each row still queued ``older_than_s`` seconds after it was
        created (the broker did not take it), oldest first; returns the ids the broker took."""
        since = timezone.now() - timedelta(seconds=older_than_s)
        stale = self._queued().filter(created_at__lte=since).order_by("created_at")
        return [pk for pk in stale.values_list("pk", flat=True) if send(self.task, pk) is not None]

    def claim(self, pk: int) -> Any:
        """Row ``pk`` once moved from queued to running in one ``UPDATE``, or ``None`` when it is gone
        or another delivery of the same work (a sweep sends queued work again) took it first."""
        if not self._queued().filter(pk=pk).update(status=self.running):
            return None
        return self.model._default_manager.get(pk=pk)

    def _queued(self) -> models.QuerySet:
        return self.model._default_manager.filter(status=self.queued)
