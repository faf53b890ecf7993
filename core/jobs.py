"""What every background job row shares: its status (parser and ranker training, index refreshes)."""

from django.db import models


class JobStatus(models.TextChoices):
    """Where a background run is."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
