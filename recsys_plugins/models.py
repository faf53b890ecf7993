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
    """An admin's choice for one installed ranker, written when an admin saves the rankers page;
    rankers without a row follow the settings (``AISLE_RANKERS``, ``AISLE_RANKER_WEIGHTS``)."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(
        default=0, help_text="Order in lists; the first enabled ranker orders the chat's results."
    )
    weight = models.FloatField(default=1.0, help_text="Share in the hybrid ranker's fused score.")

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "rankers and plugins"  # the admin page lists and controls both

    def __str__(self) -> str:
        return self.name


class PluginSetting(models.Model):
    """An admin's choice for one loaded plugin: switched off, its rankers are not offered and its
    re-rank wrapper is bypassed, in every process, without a restart."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({'on' if self.enabled else 'off'})"


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


class RankerExperiment(models.Model):
    """Two rankers compared on the shop's own traffic: sessions split between them (sticky per
    session) or every list interleaved from both (team draft). One runs at a time; the chat's
    and the API's default results follow it, an explicitly requested ranker does not."""

    class Kind(models.TextChoices):
        SPLIT = "split", "Split sessions (A/B, sticky per session)"
        INTERLEAVE = "interleave", "Team-draft interleaving"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.SPLIT)
    ranker_a = models.CharField("ranker A", max_length=64, help_text="Usually the ranker in use now.")
    ranker_b = models.CharField("ranker B", max_length=64, help_text="Usually the challenger.")
    running = models.BooleanField(default=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["running"], condition=models.Q(running=True), name="one_running_experiment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ranker_a} vs {self.ranker_b})"

    def ranker_of(self, arm: str) -> str:
        return self.ranker_a if arm == "a" else self.ranker_b
