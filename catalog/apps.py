from celery.signals import worker_ready
from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from . import signals, tasks

        signals.connect()
        worker_ready.connect(tasks.sweep_at_worker_start, dispatch_uid="catalog.sweep_index_at_worker_start")
