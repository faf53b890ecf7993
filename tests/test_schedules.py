"""The periodic tasks beat runs: ``migrate`` creates them in the database with the periods from
the settings, an admin's edits survive later migrations and beat starts, and who may edit them."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.schedules import PERIODIC_TASKS, interval
from core.celery_app import app as celery_app

from .test_admin_permissions import offered_actions, published  # noqa: F401 (a fixture)

TASKS = "/admin/django_celery_beat/periodictask/"
REFIT, INDEX, RANKER_SWEEP, PARSER_SWEEP = (default.name for default in PERIODIC_TASKS)


def every(name: str) -> timedelta:
    return PeriodicTask.objects.get(name=name).interval.schedule.run_every


def admin_edits() -> None:
    """What an admin does: the refit every two hours, the index sweep switched off."""
    refit = PeriodicTask.objects.get(name=REFIT)
    refit.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    refit.save()
    sweep = PeriodicTask.objects.get(name=INDEX)
    sweep.enabled = False
    sweep.save()


def assert_edits_kept() -> None:
    assert every(REFIT) == timedelta(hours=2)
    assert not PeriodicTask.objects.get(name=INDEX).enabled
    assert PeriodicTask.objects.filter(task="catalog.tasks.sweep_index").count() == 1


@pytest.fixture
def member(django_user_model):
    """``member("Analysts")``: a client logged in as staff in that group only."""

    def login(group: str) -> Client:
        user = django_user_model.objects.create_user(uuid.uuid4().hex[:20], password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client = Client()
        client.force_login(user)
        return client

    return login


def change_form(task: PeriodicTask, **changes: object) -> dict:
    """The change form of ``task`` as the admin page posts it, with ``changes``."""
    form = {
        "name": task.name,
        "regtask": task.task,
        "task": task.task,
        "enabled": "on" if task.enabled else "",
        "description": task.description,
        "interval": task.interval_id,
        "args": task.args,
        "kwargs": task.kwargs,
        "headers": task.headers or "{}",
        **changes,
    }
    return {key: value for key, value in form.items() if value not in ("", None)}


# ------------------------------------------------------------------------------ seeding


@pytest.mark.django_db
def test_migrate_creates_each_periodic_task_with_its_period_from_the_settings(settings):
    for default in PERIODIC_TASKS:
        task = PeriodicTask.objects.get(name=default.name)
        assert (task.task, task.enabled) == (default.task, True)
        assert task.description == default.description
        assert every(default.name) == timedelta(seconds=getattr(settings, default.period_setting))

    PeriodicTask.objects.all().delete()
    settings.AISLE_RANKER_REFIT_SECONDS = 7200.0
    settings.AISLE_TRAINING_SWEEP_SECONDS = 30.0
    settings.AISLE_INDEX_SWEEP_SECONDS = 600.0
    call_command("migrate", verbosity=0)
    assert every(REFIT) == timedelta(hours=2)
    assert str(PeriodicTask.objects.get(name=REFIT).interval) == "every 2 hours"
    assert every(RANKER_SWEEP) == every(PARSER_SWEEP) == timedelta(seconds=30)
    assert every(INDEX) == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(3600.0, "every hour"), (300.0, "every 5 minutes"), (90.0, "every 90 seconds"), (0.2, "every second")],
)
@pytest.mark.django_db
def test_a_period_reads_in_its_largest_whole_unit(seconds, expected):
    assert str(interval(seconds)) == expected


@pytest.mark.django_db
def test_migrate_again_keeps_an_admins_edits_and_brings_back_a_deleted_task(settings):
    admin_edits()
    parser_sweep = PeriodicTask.objects.get(name=PARSER_SWEEP)
    parser_sweep.name = "Parser sweep"  # renamed: not doubled
    parser_sweep.save()
    PeriodicTask.objects.filter(name=RANKER_SWEEP).delete()
    settings.AISLE_RANKER_REFIT_SECONDS = 60.0  # a new default applies to new entries only

    call_command("migrate", verbosity=0)

    assert_edits_kept()
    assert PeriodicTask.objects.filter(task="assistant.tasks.resend_queued_jobs").count() == 1
    assert not PeriodicTask.objects.filter(name=PARSER_SWEEP).exists()
    restored = PeriodicTask.objects.get(name=RANKER_SWEEP)
    assert (restored.task, restored.enabled) == ("recsys_plugins.tasks.resend_queued_runs", True)


@pytest.mark.django_db(transaction=True)  # the scheduler commits and closes connections as beat does
def test_beat_starting_keeps_an_admins_edits():
    admin_edits()

    scheduler = DatabaseScheduler(app=celery_app, lazy=True)
    scheduler.setup_schedule()
    entries = scheduler.schedule
    scheduler.close()

    assert_edits_kept()
    assert entries[REFIT].schedule.run_every == timedelta(hours=2)
    assert INDEX not in entries  # disabled
    assert {RANKER_SWEEP, PARSER_SWEEP} <= set(entries)


def test_each_periodic_task_is_a_registered_celery_task():
    celery_app.loader.import_default_modules()
    assert {default.task for default in PERIODIC_TASKS} <= set(celery_app.tasks)


# ------------------------------------------------------------------------------ the admin


@pytest.mark.django_db
def test_a_superuser_sees_and_edits_every_periodic_task(admin_client):
    page = admin_client.get(TASKS)
    assert page.status_code == 200
    for default in PERIODIC_TASKS:
        assert default.name in page.content.decode()
    assert page.context["wrong_scheduler"] is False
    task = PeriodicTask.objects.get(name=REFIT)
    assert admin_client.get(f"{TASKS}{task.pk}/change/").status_code == 200
    assert admin_client.get(f"{TASKS}add/").status_code == 200


@pytest.mark.django_db
def test_catalog_managers_edit_enable_and_disable_the_schedules_but_add_or_delete_none(member):
    manager = member("Catalog managers")
    task = PeriodicTask.objects.get(name=REFIT)
    assert manager.get(TASKS).status_code == 200
    assert manager.get(f"{TASKS}{task.pk}/change/").status_code == 200

    two_hours = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    saved = manager.post(f"{TASKS}{task.pk}/change/", change_form(task, interval=two_hours.pk))
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    assert every(REFIT) == timedelta(hours=2)

    assert {"enable_tasks", "disable_tasks", "run_tasks"} <= offered_actions(manager.get(TASKS))
    manager.post(TASKS, {"action": "disable_tasks", "_selected_action": [task.pk]})
    assert not PeriodicTask.objects.get(pk=task.pk).enabled

    assert manager.get("/admin/django_celery_beat/intervalschedule/add/").status_code == 200
    assert manager.get(f"{TASKS}add/").status_code == 403
    assert manager.post(f"{TASKS}{task.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.django_db
def test_analysts_read_the_schedules_and_change_or_run_nothing(member, published):  # noqa: F811
    analyst = member("Analysts")
    task = PeriodicTask.objects.get(name=REFIT)
    before = every(REFIT)
    page = analyst.get(TASKS)
    assert page.status_code == 200
    assert offered_actions(page) == set()
    assert analyst.get(f"{TASKS}{task.pk}/change/").status_code == 200  # read-only

    two_hours = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    refused = analyst.post(f"{TASKS}{task.pk}/change/", change_form(task, interval=two_hours.pk))
    assert refused.status_code == 403
    for action in ("disable_tasks", "toggle_tasks", "run_tasks"):
        analyst.post(TASKS, {"action": action, "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert (task.enabled, every(REFIT)) == (True, before)
    assert published == []
