"""Catalog files imported from the admin (``CatalogImport``): a preview, then the import.

The same readers and validation as ``import_catalog``. The preview reads the whole file and writes
nothing: it counts the rows, the SKUs that are new and those that exist, and lists each row that
cannot be imported with its reason. Confirming stores every good row. A file of more than
``AISLE_IMPORT_INLINE_ROWS`` rows is imported by a worker (``tasks.import_catalog_file``), which
saves its progress on the row for the admin's progress bar. An import asks for one index refresh
when it ends (unless the admin unticked it), not one per committed batch.
"""

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import broker

from . import signals
from .importers import ProductRecord, RowError, read_catalog
from .importers.records import CATEGORY_SEPARATOR
from .models import CatalogImport, Category, IndexJob, Product
from .services import chunks, import_rows

logger = logging.getLogger(__name__)

IMPORTS = broker.JobQueue(
    "catalog.tasks.import_catalog_file",
    CatalogImport,
    CatalogImport.Status.QUEUED,
    CatalogImport.Status.RUNNING,
)
"""Imports waiting for a worker, and their task (named here: ``tasks`` imports this module)."""
BAD_ROWS_PREVIEWED = 1000
"""Bad rows the preview lists; the rejected-rows report after the import has every one."""
PROGRESS_EVERY = 50
"""Rows between two progress saves."""


def preview(upload: CatalogImport) -> CatalogImport:
    """Read the whole file and store what importing it would do, writing no product."""
    rows, skus, bad = 0, [], []
    try:
        for number, record in read_catalog(Path(upload.file.path), upload.format):
            rows += 1
            if isinstance(record, RowError):
                bad.append({"row": number, "reason": str(record)})
            else:
                skus.append(record.sku)
    except RowError as error:  # unreadable as a whole: wrong format, not a file of this kind
        _finish(
            upload, CatalogImport.Status.FAILED, error=f"This file cannot be read as {upload.format}: {error}"
        )
        return upload
    distinct = set(skus)
    existing = sum(Product.objects.filter(sku__in=chunk).count() for chunk in chunks(sorted(distinct), 500))
    upload.preview = {
        "rows": rows,
        "good": len(skus),
        "new": len(distinct) - existing,
        "existing": existing,
        "bad_count": len(bad),
        "bad": bad[:BAD_ROWS_PREVIEWED],
    }
    upload.save(update_fields=["preview", "status", "error"])
    return upload


def confirm(upload: CatalogImport) -> CatalogImport:
    """Import the good rows: here and now for a small file, in a worker for a large one."""
    if upload.status or not upload.preview:
        state = upload.get_status_display().lower() if upload.status else "not previewed"
        raise ValueError(f"Import {upload.pk} cannot be confirmed: it is {state}.")
    if upload.preview["rows"] <= settings.AISLE_IMPORT_INLINE_ROWS:
        upload.status = CatalogImport.Status.RUNNING
        upload.save(update_fields=["status"])
        return run(upload, worker="admin request")
    upload.status = CatalogImport.Status.QUEUED
    upload.save(update_fields=["status"])
    IMPORTS.send_on_commit(upload.pk)
    return upload


def run(upload: CatalogImport, worker: str = "") -> CatalogImport:
    """Import ``upload`` (already marked running), saving progress, counts and rejections on it.

    Products are committed in batches, so a failure part-way keeps the batches before it; the
    error says so. Products stored either way get one index refresh.
    """
    total = upload.preview.get("rows") or 0
    upload.worker, upload.started_at = worker[:200], timezone.now()
    upload.progress = {"done": 0, "total": total}
    upload.save(update_fields=["worker", "started_at", "progress"])
    done = 0

    def row_done() -> None:
        nonlocal done
        done += 1
        if done % PROGRESS_EVERY == 0:
            CatalogImport.objects.filter(pk=upload.pk).update(progress={"done": done, "total": total})

    place = CategoryPlacement(upload.place_under, upload.match_existing)
    try:
        with signals.refreshes_deferred():
            rows = (
                (number, place(record))
                for number, record in read_catalog(Path(upload.file.path), upload.format)
            )
            summary = import_rows(rows, on_row=row_done)
    except Exception as error:
        logger.exception("catalog import %s failed after %d rows", upload.pk, done)
        upload.index_job = _refresh(upload) if done and upload.refresh_index else None
        _finish(
            upload,
            CatalogImport.Status.FAILED,
            error=f"{type(error).__name__}: {error}. It stopped after row {done}; "
            "the rows stored before it are kept.",
            progress={"done": done, "total": total},
        )
        return upload
    upload.summary = {key: value for key, value in summary.as_dict().items() if key != "rejected"}
    upload.summary["rejected"] = len(summary.rejected)
    upload.rejected = summary.rejected
    changed = summary.created or summary.updated
    upload.index_job = _refresh(upload) if changed and upload.refresh_index else None
    _finish(upload, CatalogImport.Status.SUCCEEDED, progress={"done": done, "total": max(total, done)})
    logger.info("catalog import %s: %s", upload.pk, summary.describe())
    return upload


class CategoryPlacement:
    """Where a file's categories go in the shop's tree.

    ``under``: every path is put below that category. ``match_existing``: a path whose first name
    is not a top-level category but names exactly one category deeper in the tree continues from
    there, so the file's "Beds" joins "Furniture > Beds" instead of starting a second "Beds".
    """

    def __init__(self, under: Category | None, match_existing: bool) -> None:
        self.prefix = _names(under) if under is not None else ()
        self.homes: dict[str, tuple[str, ...] | None] = {}
        if match_existing and under is None:
            for category in Category.objects.only("name", "full_name", "parent_id"):
                key = category.name.casefold()
                if category.parent_id is None:
                    self.homes[key] = (category.name,)  # a top-level name stays where it is
                elif key not in self.homes:
                    self.homes[key] = _names(category)
                elif self.homes[key] != (category.name,):
                    self.homes[key] = None  # named twice deeper down: ambiguous, left as the file says

    def __call__(self, record: ProductRecord | RowError) -> ProductRecord | RowError:
        if isinstance(record, RowError) or not record.categories:
            return record
        return replace(record, categories=tuple(self.place(path) for path in record.categories))

    def place(self, path: tuple[str, ...]) -> tuple[str, ...]:
        if self.prefix:
            return (*self.prefix, *path)
        home = self.homes.get(path[0].casefold())
        return (*home, *path[1:]) if home else path


def rejected_rows(upload: CatalogImport) -> list[dict[str, Any]]:
    """The rejected-rows report: once imported its rejections, before that the preview's bad rows."""
    return (
        upload.rejected if upload.status == CatalogImport.Status.SUCCEEDED else upload.preview.get("bad", [])
    )


def _refresh(upload: CatalogImport) -> IndexJob | None:
    return signals.request_refresh(f"catalog import {upload.pk} ({upload.file_name})"[:200], always=True)


def _finish(upload: CatalogImport, status: str, **fields: Any) -> None:
    upload.status = status
    upload.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(upload, name, value)
    with transaction.atomic():
        upload.save()


def _names(category: Category) -> tuple[str, ...]:
    return tuple(category.full_name.split(CATEGORY_SEPARATOR))
