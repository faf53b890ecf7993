"""Background work for the catalog, run by Celery workers."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(bind=True)
def rebuild_embeddings(self, product_ids: list[int] | None = None, full: bool = False) -> dict:
    """Re-encode the given products (or every stale one) and report progress."""

    def report_progress(done: int) -> None:
        self.update_state(state="PROGRESS", meta={"done": done})

    report = services.build_embeddings(product_ids, full=full, on_batch=report_progress)
    logger.info("embedded %d products in %.1fs", report.products, report.seconds)
    return {"products": report.products, "seconds": round(report.seconds, 3)}
