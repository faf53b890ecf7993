"""Catalog edits reach the search indexes: mark what changed stale, refresh after commit.

Every receiver only marks products stale and asks for one refresh when the
transaction commits; the refresh itself (``tasks.refresh_index``) runs in a
Celery worker, a few seconds later, so that a burst of edits (an import, a
bulk admin change) becomes one batched re-encode and one new index version.
Updates made with ``QuerySet.update`` send no signals: callers that use it
(the admin's deactivate action) call ``schedule_index_refresh`` themselves.
Each refresh is an ``IndexJob`` row first; a refresh already waiting takes the
new edits too, and one whose message or worker is lost is sent again by the
index sweep (``tasks.sweep_index``).
"""

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from core.broker import send

from .indexing import queue_refresh, waiting_job
from .models import Brand, Category, IndexJob, Product

REFRESH_TASK = "catalog.tasks.refresh_index"
"""Sent by name: ``tasks`` imports the import service, which imports this module."""

_deferred: contextvars.ContextVar[bool] = contextvars.ContextVar("index_refresh_deferred", default=False)


@contextlib.contextmanager
def refreshes_deferred() -> Iterator[None]:
    """Edits inside ask for no refresh: the caller asks for one when done (an import, whose
    batches would otherwise each queue one as the previous one starts running)."""
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


def request_refresh(reason: str, always: bool = False) -> IndexJob | None:
    """Queue an index refresh of whatever is stale now; returns its job (or the job already waiting,
    which takes these edits too). ``None`` when automatic refreshes are off, unless ``always``
    (an admin import that asked for one)."""
    if not (always or settings.AISLE_INDEX_AUTO_REFRESH):
        return None
    job = queue_refresh(reason)
    if job is None:
        return waiting_job()
    send(REFRESH_TASK, job_id=job.pk, countdown=settings.AISLE_INDEX_REFRESH_DELAY)
    return job


def schedule_index_refresh() -> None:
    """Queue one index refresh for when the current transaction commits (at once outside one)."""
    if not settings.AISLE_INDEX_AUTO_REFRESH or _deferred.get():
        return
    # One callback per transaction: Django drops callbacks of a rolled-back
    # savepoint from this list, so a later edit registers again.
    if any(callback is _enqueue_refresh for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(_enqueue_refresh)


def _enqueue_refresh() -> None:
    # The job row is stored first: if the broker cannot take the task, the sweep sends it later.
    request_refresh("catalog edit")


def _product_saving(sender: type[Product], instance: Product, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        instance.index_stale = True


def _product_changed(sender: type[Product], raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        schedule_index_refresh()


def _categories_changed(
    sender: type, instance: Product | Category, action: str, reverse: bool, pk_set: set | None, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        products = Product.objects.filter(pk=instance.pk)
    elif action == "pre_clear":
        products = Product.objects.filter(categories=instance)
    else:
        products = Product.objects.filter(pk__in=pk_set or ())
    if products.update(index_stale=True):
        schedule_index_refresh()


def _renamed(
    sender: type, instance: Brand | Category, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """A brand's or category's name is part of its products' text."""
    if created or raw:
        return
    products = Product.objects.filter(brand=instance) if sender is Brand else instance.products.all()
    if products.update(index_stale=True):
        schedule_index_refresh()


def connect() -> None:
    """Connect the receivers (from ``CatalogConfig.ready``)."""
    pre_save.connect(_product_saving, sender=Product, dispatch_uid="catalog.product_saving")
    post_save.connect(_product_changed, sender=Product, dispatch_uid="catalog.product_saved")
    post_delete.connect(_product_changed, sender=Product, dispatch_uid="catalog.product_deleted")
    m2m_changed.connect(
        _categories_changed, sender=Product.categories.through, dispatch_uid="catalog.categories_changed"
    )
    post_save.connect(_renamed, sender=Brand, dispatch_uid="catalog.brand_saved")
    post_save.connect(_renamed, sender=Category, dispatch_uid="catalog.category_saved")
