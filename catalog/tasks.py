"""Background work for the catalog, run by Celery workers."""

import logging

from celery import shared_task

from . import indexing

logger = logging.getLogger(__name__)


@shared_task(bind=True)
def refresh_index(self, product_ids: list[int] | None = None, full: bool = False) -> dict:
    """Bring the search indexes up to date: re-encode what is stale (or ``product_ids``, or
    everything with ``full``) and publish a new index version if the catalog changed.

    Progress is reported as task state ``PROGRESS`` with ``{"stage", "done", "total"}``.
    """

    def report_progress(stage: str, done: int, total: int) -> None:
        self.update_state(state="PROGRESS", meta={"stage": stage, "done": done, "total": total})

    report = indexing.build_index(product_ids, full=full, on_progress=report_progress)
    logger.info(
        "index refresh: encoded %d, %s version %s with %d products in %.1fs",
        report.encoded,
        "published" if report.published else "kept",
        report.version,
        report.products,
        report.seconds,
    )
    return report.as_dict()
