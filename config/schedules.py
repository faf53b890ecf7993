"""The periodic tasks beat runs. They live in the database (django-celery-beat's ``PeriodicTask``)
so that staff edit them in the admin, and beat's ``DatabaseScheduler`` follows the edits as it runs.

``migrate`` creates each entry of ``PERIODIC_TASKS`` that is missing, with its period from the
settings (the environment). From then on the row is the admin's: later migrations and beat starts
never change it. One is missing when no periodic task has its name or runs its task, so a renamed
entry is not doubled; a deleted one comes back at the next ``migrate``. Disabling is how to stop one.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q
from django.http import HttpRequest
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class PeriodicDefault:
    """An entry ``migrate`` creates when it is missing."""

    name: str  # as the admin lists it
    task: str  # a registered Celery task
    period_setting: str  # the setting with its first period, in seconds
    description: str


PERIODIC_TASKS = (
    PeriodicDefault(
        "Retrain the rankers when feedback came in",
        "recsys_plugins.tasks.fit_rankers_if_stale",
        "AISLE_RANKER_REFIT_SECONDS",
        "Queues a ranker training run when feedback arrived since the last successful one; "
        "does nothing otherwise.",
    ),
    PeriodicDefault(
        "Refresh a stale or lagging search index",
        "catalog.tasks.sweep_index",
        "AISLE_INDEX_SWEEP_SECONDS",
        "Sends again the index refreshes and catalog imports whose worker or message was lost, and "
        "queues a refresh when products are stale or the active index version is damaged.",
    ),
    PeriodicDefault(
        "Send again the ranker training runs the broker did not take",
        "recsys_plugins.tasks.resend_queued_runs",
        "AISLE_TRAINING_SWEEP_SECONDS",
        "Sends again the ranker training runs still queued AISLE_TRAINING_RESEND_AFTER seconds after "
        "they were created (the broker was down).",
    ),
    PeriodicDefault(
        "Send again the parser training jobs the broker did not take",
        "assistant.tasks.resend_queued_jobs",
        "AISLE_TRAINING_SWEEP_SECONDS",
        "Sends again the parser training jobs still queued AISLE_TRAINING_RESEND_AFTER seconds after "
        "they were created (the broker was down).",
    ),
)

# Largest first: 3600 seconds reads "every hour" in the admin.
UNITS = (
    (IntervalSchedule.DAYS, 86400),
    (IntervalSchedule.HOURS, 3600),
    (IntervalSchedule.MINUTES, 60),
    (IntervalSchedule.SECONDS, 1),
)


def interval(seconds: float, using: str = DEFAULT_DB_ALIAS) -> IntervalSchedule:
    """The interval of ``seconds`` (whole, at least one), in its largest exact unit; made if missing."""
    whole = max(1, round(seconds))
    period, size = next((period, size) for period, size in UNITS if whole % size == 0)
    schedules = IntervalSchedule.objects.using(using)
    existing = schedules.filter(every=whole // size, period=period).order_by("pk").first()
    return existing or schedules.create(every=whole // size, period=period)


def seed_periodic_tasks(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``post_migrate`` receiver: create the entries of ``PERIODIC_TASKS`` that are missing."""
    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return  # a partial migrate, before django_celery_beat's tables
    tasks = PeriodicTask.objects.using(using)
    for default in PERIODIC_TASKS:
        if tasks.filter(Q(name=default.name) | Q(task=default.task)).exists():
            continue
        tasks.create(
            name=default.name,
            task=default.task,
            interval=interval(getattr(settings, default.period_setting), using),
            description=default.description,
        )


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's, with its actions (enable, disable, toggle, run now) kept to staff who
    may change periodic tasks: the library offers them to view-only staff too."""

    def get_actions(self, request: HttpRequest) -> dict:
        return super().get_actions(request) if self.has_change_permission(request) else {}


def register_admin(site: admin.AdminSite) -> None:
    """Put ``PeriodicTaskAdmin`` in place of the library's (after the admin's autodiscovery)."""
    if site.is_registered(PeriodicTask):
        site.unregister(PeriodicTask)
    site.register(PeriodicTask, PeriodicTaskAdmin)
