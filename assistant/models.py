"""Conversations with shoppers, and the parser's corrections and training runs."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.jobs import JobStatus

from .nlu.frame import INTENTS, SLOTS


class Conversation(models.Model):
    """One shopper's chat, keyed by their Django session."""

    session_key = models.CharField(
        max_length=64, unique=True, help_text="The Django session key, or 'api:' + an API client's id."
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    state = models.JSONField(default=dict, blank=True, help_text="The dialogue state.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"conversation {self.session_key[:8]}…"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Shopper"
        ASSISTANT = "assistant", "Assistant"

    conversation = models.ForeignKey(Conversation, related_name="messages", on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role)
    text = models.TextField()
    intent = models.CharField(max_length=32, blank=True)
    slots = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(null=True, blank=True, help_text="The parser's, of a shopper's message.")
    outcome = models.CharField(
        max_length=16,
        blank=True,
        help_text="Of a reply: clarified (asked a question back), relaxed or no_result; empty for an answer.",
    )
    ranker = models.CharField(max_length=64, blank=True, help_text="What ordered the reply's products.")
    experiment = models.JSONField(
        default=dict,
        blank=True,
        help_text='Of a reply in a ranker experiment: {"id", "arm"} (split) or {"id", "arms"} (interleaved, '
        "one per product).",
    )
    products = models.JSONField(default=list, blank=True, help_text="Product cards shown with the reply.")
    compare = models.JSONField(null=True, blank=True, help_text="The comparison table shown with the reply.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class ParserExample(models.Model):
    """An utterance with the frame an admin says it has: reviewed ones join the parser's training data."""

    text = models.CharField(max_length=1000)
    intent = models.CharField(max_length=32, choices=[(intent, intent) for intent in INTENTS])
    slots = models.JSONField(
        default=dict, blank=True, help_text='CONTRACTS §3 slots, e.g. {"color": ["grey"]}.'
    )
    reviewed = models.BooleanField(default=False, help_text="Only reviewed examples are trained on.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.intent}: {self.text[:60]}"

    def clean(self) -> None:
        unknown = (
            sorted(set(self.slots or {}) - set(SLOTS))
            if isinstance(self.slots, dict)
            else ["(not an object)"]
        )
        if unknown:
            raise ValidationError(
                {"slots": f"unknown slots: {', '.join(unknown)}; allowed: {', '.join(SLOTS)}"}
            )


class TrainingJob(models.Model):
    """One parser training run: what was asked, how far it got, what it scored."""

    Status = JobStatus

    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    device = models.CharField(max_length=8, default="auto", help_text="Requested: auto, cpu or cuda.")
    device_used = models.CharField(max_length=8, blank=True)
    epochs = models.PositiveSmallIntegerField(default=3)
    activate = models.BooleanField(default=True, help_text="Activate the new version if it is not worse.")
    progress = models.JSONField(default=dict, blank=True, help_text="Stage, epoch, step, steps, loss.")
    loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out scores of the new version.")
    version = models.CharField(max_length=64, blank=True)
    activated = models.BooleanField(default=False)
    message = models.TextField(
        blank=True, help_text="Why the version was or was not activated, or the error."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"parser training #{self.pk} ({self.status})"
