"""What ranking stores: shoppers' feedback (its training data), admins' ranker choices, training runs."""

from django.conf import settings
from django.db import models

from catalog.models import Product
from core.jobs import JobStatus


class FeedbackEvent(models.Model):
    """A shopper's reaction to a product; the training signal for ranking."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        CLICK = "click", "Clicked"
        LIKE = "like", "Liked"
        DISLIKE = "dislike", "Disliked"
        ADD_TO_CART = "add_to_cart", "Added to cart"

    session_key = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    product = models.ForeignKey(Product, related_name="feedback_events", on_delete=models.CASCADE)
    action = models.CharField(max_length=16, choices=Action)
    ranker = models.CharField(max_length=64, blank=True, help_text="Ranker that showed the product.")
    context = models.JSONField(default=dict, blank=True, help_text="Query, slots, position…")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        # The table it had in the assistant app: the move copied no rows.
        db_table = "assistant_feedbackevent"

    def __str__(self) -> str:
        return f"{self.action} {self.product_id} by {self.session_key[:8]}…"


class RankerSetting(models.Model):
    """An admin's choice for one installed ranker; rankers without a row use the settings."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(
        default=0, help_text="Order in lists; the first enabled ranker orders the chat's results."
    )
    weight = models.FloatField(default=1.0, help_text="Share in the hybrid ranker's fused score.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class RankerTrainingRun(models.Model):
    """One training run of the trainable rankers over all feedback events so far."""

    Status = JobStatus

    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    reason = models.CharField(max_length=32, blank=True, help_text="admin, schedule, feedback or command")
    device_used = models.CharField(max_length=8, blank=True)
    events = models.PositiveIntegerField(default=0, help_text="Feedback events trained on.")
    reports = models.JSONField(default=list, blank=True, help_text="What each trainable ranker reported.")
    version = models.CharField(max_length=64, blank=True, help_text="Artifacts version this run published.")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ranker training {self.pk} ({self.status})"
