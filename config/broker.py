"""Sending Celery tasks from requests and signals without blocking or failing them on the broker.

Everything Aisle queues (index refreshes, parser and ranker training) is recorded in the
database first: stale product flags or a job row. Sending the task is only a nudge. So a
send tries the broker once, with the short connection timeout of the settings, and a broker
that is down is logged, never raised: the periodic sweeps (``catalog.tasks.sweep_index``, the
training sweeps) send the work again once the broker is back.
"""

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def send(task: Task, *args: Any, countdown: float | None = None, **kwargs: Any) -> str | None:
    """Send ``task`` now; returns the task id, or ``None`` when the broker could not take it."""
    try:
        return task.apply_async(args, kwargs, countdown=countdown, retry=False).id
    except Exception as problem:
        logger.warning(
            "could not queue %s (%s: %s); a sweep sends it later", task.name, type(problem).__name__, problem
        )
        return None


def send_on_commit(task: Task, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one); never raises."""
    transaction.on_commit(lambda: send(task, *args, countdown=countdown, **kwargs))
