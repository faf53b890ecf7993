"""Background work for the catalog, run by Celery workers."""

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from core.broker import send

from . import imports, indexing

logger = logging.getLogger(__name__)


@shared_task(bind=True)
def refresh_index(
    self, product_ids: list[int] | None = None, full: bool = False, job_id: int | None = None
) -> dict:
    """Run index refresh job ``job_id`` (a new job when sent without one): re-encode what is stale
    (or ``product_ids``, or everything with ``full``) and publish a new index version if the catalog
    changed. Safe to run twice: a finished job is not run again, and a second run finds nothing to do.

    Progress goes to the job row and to task state ``PROGRESS`` with ``{"stage", "done", "total"}``.
    """
    job = indexing.job_for(job_id, product_ids, full)
    if job is None:
        logger.warning("index refresh job %s is gone; nothing to do", job_id)
        return {}

    def report_progress(stage: str, done: int, total: int) -> None:
        self.update_state(state="PROGRESS", meta={"stage": stage, "done": done, "total": total})

    report = indexing.run_refresh(job, self.request.hostname or "", self.request.id or "", report_progress)
    if report is None:
        logger.info("index refresh job %s had finished already; nothing to do", job.pk)
        return {}
    logger.info(
        "index refresh %s: encoded %d, %s version %s with %d products in %.1fs",
        job.pk,
        report.encoded,
        "published" if report.published else "kept",
        report.version,
        report.products,
        report.seconds,
    )
    return report.as_dict()


# Acknowledged on receipt: a large import can outlast the broker's visibility timeout, and a second
# delivery must not import the file again while the first still runs (``claim`` refuses it anyway).
@shared_task(bind=True, name=imports.IMPORTS.task, acks_late=False)
def import_catalog_file(self, import_id: int) -> dict:
    """Import the catalog file of admin import ``import_id`` (queued, confirmed after its preview)."""
    upload = imports.IMPORTS.claim(import_id)
    if upload is None:
        logger.warning("catalog import %s is gone or already taken; nothing to do", import_id)
        return {"import": import_id, "status": "skipped"}
    upload = imports.run(upload, worker=self.request.hostname or "")
    return {"import": upload.pk, "status": upload.status, **upload.summary}


@shared_task
def sweep_index() -> dict:
    """Send again the index refreshes whose worker or message was lost, and queue one when the
    index lags behind the catalog (stale products, a damaged active version). Run at worker start
    and on the beat schedule."""
    if not settings.AISLE_INDEX_AUTO_REFRESH:
        return {"sent": []}
    jobs = indexing.sweep()
    for job in jobs:
        send(refresh_index, job_id=job.pk)
    imports_sent = imports.IMPORTS.resend_stale(settings.AISLE_TRAINING_RESEND_AFTER)
    return {"sent": [job.pk for job in jobs], "imports_sent": imports_sent}


def sweep_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """``worker_ready`` receiver: a restarted worker takes up what a killed one left.

    The sweep runs here, in the starting worker, rather than as a message that any worker (one
    configured differently, or busy for an hour with training) might take.
    """
    try:
        sweep_index()
    except Exception:  # the worker must start even when the database does not answer yet
        logger.exception("the index sweep at worker start failed; the beat schedule runs it again")
