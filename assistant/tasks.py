"""Background work for the assistant, run by Celery workers."""

import logging

from celery import shared_task

from . import parsing
from .models import TrainingJob

logger = logging.getLogger(__name__)


@shared_task
def train_parser(job_id: int) -> dict:
    """Run training job ``job_id`` on the ``gpu`` queue; a worker without a GPU trains on its CPU."""
    job = TrainingJob.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("training job %s is gone; nothing to do", job_id)
        return {"job": job_id, "status": "missing"}
    job = parsing.run_training(job, fall_back_to_cpu=True)
    return {"job": job.pk, "status": job.status, "version": job.version, "activated": job.activated}
