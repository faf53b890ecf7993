"""The admin site Aisle installs in place of Django's default one (``config.admin.AisleAdminSite``),
and what it keeps in place after every ``migrate``: the staff groups and the periodic tasks
(``config.schedules``)."""

from typing import Any

from django.contrib.admin.apps import AdminConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate

GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    # Catalog, imports and the index: everything about products, and the index's versions.
    "Catalog managers": {
        "catalog.product": ("add", "change", "delete", "view"),
        "catalog.category": ("add", "change", "delete", "view"),
        "catalog.brand": ("add", "change", "delete", "view"),
        "catalog.attribute": ("add", "change", "delete", "view"),
        "catalog.productattributevalue": ("add", "change", "delete", "view"),
        "catalog.catalogimport": ("add", "view"),
        "catalog.indexjob": ("change", "view"),
        # The schedules (docs/admin.md, "Schedules"): edit, enable, disable and run periodic tasks, and
        # pick or add an interval. Adding or deleting periodic tasks, and editing an interval in
        # place (intervals are shared between tasks), is left to superusers.
        "django_celery_beat.periodictask": ("change", "view"),
        "django_celery_beat.intervalschedule": ("add", "view"),
    },
    # Read-only: conversations, feedback and the analytics built on it, training runs, the schedules.
    "Analysts": {
        "assistant.conversation": ("view",),
        "assistant.message": ("view",),
        "assistant.trainingjob": ("view",),
        "recsys_plugins.feedbackevent": ("view",),
        "recsys_plugins.rankersetting": ("view",),
        "recsys_plugins.rankertrainingrun": ("view",),
        "django_celery_beat.periodictask": ("view",),
        "django_celery_beat.intervalschedule": ("view",),
    },
}


def ensure_groups(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Create the staff groups and give them their permissions (adds what is missing, never
    removes what an admin granted)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for app_config in apps.get_app_configs():  # this may run before auth's own receiver has
        create_permissions(app_config, verbosity=0, using=using)

    for name, models in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for model, actions in models.items():
            app_label, model_name = model.split(".")
            codenames = [f"{action}_{model_name}" for action in actions]
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


class AisleAdminConfig(AdminConfig):
    default_site = "config.admin.AisleAdminSite"

    def ready(self) -> None:
        super().ready()  # the autodiscovery: every app's admin module is registered
        from django.contrib import admin

        from config import schedules

        schedules.register_admin(admin.site)
        post_migrate.connect(ensure_groups, sender=self, dispatch_uid="aisle.ensure_groups")
        post_migrate.connect(
            schedules.seed_periodic_tasks, sender=self, dispatch_uid="aisle.seed_periodic_tasks"
        )
