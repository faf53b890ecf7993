"""Background training of the trainable rankers, run by Celery workers."""

import logging

from celery import shared_task

from . import ranking
from .models import FeedbackEvent, RankerTrainingRun

logger = logging.getLogger(__name__)


# Acknowledged on receipt, not when done: training can outlast the broker's visibility timeout,
# after which an unacknowledged message goes to a second worker while the first still trains.
@shared_task(name=ranking.TRAINING_RUNS.task, acks_late=False)
def fit_rankers(run_id: int) -> dict:
    """Run training run ``run_id`` on the ``gpu`` queue; a worker without a GPU trains on its CPU."""
    run = ranking.TRAINING_RUNS.claim(run_id)
    if run is None:
        logger.warning("ranker training run %s is gone or already taken; nothing to do", run_id)
        return {"run": run_id, "status": "skipped"}
    run = ranking.run_training(run)
    return {"run": run.pk, "status": run.status, "version": run.version}


@shared_task
def fit_rankers_if_stale() -> dict:
    """The periodic run (Celery beat): trains when feedback arrived since the last successful run."""
    last = RankerTrainingRun.objects.filter(status=RankerTrainingRun.Status.SUCCEEDED).first()
    newer = FeedbackEvent.objects.all()
    if last is not None:
        newer = newer.filter(created_at__gt=last.created_at)
    if not newer.exists():
        return {"status": "up to date"}
    return {"status": "queued", "run": ranking.start_training(reason="schedule").pk}


@shared_task
def resend_queued_runs() -> dict:
    """The training sweep (Celery beat): sends again the runs the broker did not take."""
    return {"sent": ranking.resend_queued_runs()}
