"""Background work for the assistant, run by Celery workers."""

import logging

from celery import shared_task

from . import parsing

logger = logging.getLogger(__name__)


# Acknowledged on receipt, not when done: training can outlast the broker's visibility timeout,
# after which an unacknowledged message goes to a second worker while the first still trains.
@shared_task(name=parsing.TRAINING_JOBS.task, acks_late=False)
def train_parser(job_id: int) -> dict:
    """Run training job ``job_id`` on the ``gpu`` queue; a worker without a GPU trains on its CPU."""
    job = parsing.TRAINING_JOBS.claim(job_id)
    if job is None:
        logger.warning("training job %s is gone or already taken; nothing to do", job_id)
        return {"job": job_id, "status": "skipped"}
    job = parsing.run_training(job, fall_back_to_cpu=True)
    return {"job": job.pk, "status": job.status, "version": job.version, "activated": job.activated}


@shared_task
def resend_queued_jobs() -> dict:
    """The training sweep (Celery beat): sends again the jobs the broker did not take."""
    return {"sent": parsing.resend_queued_jobs()}
