"""Admin for conversations (transcripts to review) and for the parser: corrections and training runs."""

import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from catalog.models import Product
from core.admin import ReadOnlyAdmin, may_change
from recsys_plugins.models import FeedbackEvent

from . import parsing
from .dialogue.manager import CLARIFIED, NO_RESULT, RELAXED
from .models import Conversation, Message, ParserExample, TrainingJob

LOW_CONFIDENCE = 0.6
"""A shopper message the parser read with less confidence than this is worth a look."""


class NeedsReviewFilter(admin.SimpleListFilter):
    """Conversations with a turn worth a look."""

    title = "needs review"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("low_confidence", f"a message read with confidence under {LOW_CONFIDENCE}"),
            (NO_RESULT, "a turn with no result"),
            (RELAXED, "a relaxed search"),
            (CLARIFIED, "a question asked back"),
            ("disliked", "a disliked product"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        chosen = self.value()
        if chosen == "low_confidence":
            turns = Message.objects.filter(role=Message.Role.USER, confidence__lt=LOW_CONFIDENCE)
        elif chosen in (NO_RESULT, RELAXED, CLARIFIED):
            turns = Message.objects.filter(outcome=chosen)
        elif chosen == "disliked":
            sessions = FeedbackEvent.objects.filter(action=FeedbackEvent.Action.DISLIKE).values("session_key")
            return queryset.filter(session_key__in=sessions)
        else:
            return queryset
        return queryset.filter(Exists(turns.filter(conversation=OuterRef("pk"))))


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    """Conversations as transcripts: each turn's words, how the parser read them, the products
    shown; any shopper message can become a parser example ("Correct this turn")."""

    list_display = ["opening", "turns", "flags", "created_at", "updated_at"]
    list_filter = [NeedsReviewFilter]
    actions = ["forget_shoppers"]
    fields = ["session_key", "user", "created_at", "updated_at"]  # the state is shown in words above
    search_fields = ["session_key", "messages__text"]
    date_hierarchy = "created_at"
    change_form_template = "admin/assistant/conversation/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        shopper = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.USER)
        return (
            super()
            .get_queryset(request)
            .annotate(
                opening_text=Subquery(shopper.order_by("created_at", "pk").values("text")[:1]),
                turn_count=Count("messages", filter=Q(messages__role=Message.Role.USER)),
            )
        )

    @admin.display(description="first message")
    def opening(self, conversation: Conversation) -> str:
        return (conversation.opening_text or "(no message)")[:80]

    @admin.display(description="turns", ordering="turn_count")
    def turns(self, conversation: Conversation) -> int:
        return conversation.turn_count

    @admin.display(description="worth a look")
    def flags(self, conversation: Conversation) -> str:
        return ", ".join(review_flags(conversation.messages.all()))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        conversation = self.get_object(request, object_id)
        if conversation is None:
            return super().change_view(request, object_id, form_url, extra_context)
        extra_context = {
            **(extra_context or {}),
            "transcript": transcript(conversation, may_correct=self.may_correct(request)),
            "state": readable_state(conversation.state),
            "feedback": FeedbackEvent.objects.filter(session_key=conversation.session_key)
            .select_related("product")
            .order_by("created_at"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def may_correct(self, request: HttpRequest) -> bool:
        return request.user.has_perm("assistant.add_parserexample")

    @admin.action(
        description="Forget these shoppers: delete their conversations and feedback", permissions=["delete"]
    )
    def forget_shoppers(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        """A shopper's request to be forgotten: every conversation and feedback event of their
        sessions (and of their account, when they were logged in) is deleted."""
        forgotten = forget_shoppers(queryset)
        counts = f"{forgotten['conversations']} conversations and {forgotten['feedback']} feedback events"
        self.message_user(request, f"Deleted {counts}.")


def forget_shoppers(conversations: QuerySet[Conversation]) -> dict[str, int]:
    """Delete the shoppers' conversations and feedback, by their sessions and accounts."""
    sessions = set(conversations.values_list("session_key", flat=True))
    users = set(conversations.exclude(user=None).values_list("user_id", flat=True))
    theirs = Q(session_key__in=sessions) | Q(user_id__in=users)
    with transaction.atomic():
        feedback, _ = FeedbackEvent.objects.filter(theirs).delete()
        _, by_model = Conversation.objects.filter(theirs).delete()
    return {"conversations": by_model.get(Conversation._meta.label, 0), "feedback": feedback}


def transcript(conversation: Conversation, may_correct: bool) -> list[dict[str, Any]]:
    """Each message with what the review page shows: the parse of a shopper's message and the link
    that makes it a parser example, the products of a reply linked to their admin pages."""
    messages_ = list(conversation.messages.all())
    skus = {card.get("sku") for message in messages_ for card in message.products or []}
    product_ids = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
    rows = []
    for message in messages_:
        row: dict[str, Any] = {"message": message, "shopper": message.role == Message.Role.USER}
        if row["shopper"] and may_correct:
            initial = {
                "text": message.text,
                "intent": message.intent,
                "slots": json.dumps(message.slots),
                "reviewed": "1",  # the admin correcting it is the review
            }
            row["correct_url"] = f"{reverse('admin:assistant_parserexample_add')}?{urlencode(initial)}"
        row["products"] = [
            {
                **card,
                "url": reverse("admin:catalog_product_change", args=[product_ids[card["sku"]]])
                if card.get("sku") in product_ids
                else "",
            }
            for card in message.products or []
        ]
        row["low_confidence"] = message.confidence is not None and message.confidence < LOW_CONFIDENCE
        rows.append(row)
    return rows


def readable_state(state: dict[str, Any]) -> list[tuple[str, str]]:
    """The stored dialogue state as ``(what, value)`` lines an admin can read."""
    lines = []
    if state.get("query"):
        lines.append(("searching for", str(state["query"])))
    for name, value in (state.get("constraints") or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        lines.append((name.replace("_", " "), shown))
    if state.get("shown"):
        lines.append(("products on screen", ", ".join(state["shown"])))
    if state.get("focus"):
        lines.append(("product in focus", str(state["focus"])))
    cart = state.get("cart") or []
    if cart:
        lines.append(("cart", ", ".join(f"{line.get('quantity', 1)} × {line.get('sku')}" for line in cart)))
    if state.get("ranker"):
        lines.append(("ranker", str(state["ranker"])))
    if state.get("experiment"):
        lines.append(("in ranker experiment", f"#{state['experiment'].get('id')}"))
    return lines


OUTCOME_LABELS = {NO_RESULT: "no result", RELAXED: "relaxed", CLARIFIED: "asked back"}


def review_flags(messages_: Any) -> list[str]:
    flags = []
    if any(m.confidence is not None and m.confidence < LOW_CONFIDENCE for m in messages_):
        flags.append("low confidence")
    outcomes = {m.outcome for m in messages_}
    flags += [label for outcome, label in OUTCOME_LABELS.items() if outcome in outcomes]
    return flags


class ParserVersionsPermission:
    """Actions that train or activate a parser version need the change permission on training jobs."""

    def has_parser_versions_permission(self, request: HttpRequest) -> bool:
        return may_change(request, TrainingJob)


@admin.register(ParserExample)
class ParserExampleAdmin(ParserVersionsPermission, admin.ModelAdmin):
    """Utterances the parser got wrong, with the frame they should have: reviewed ones are trained on."""

    list_display = ["text", "intent", "slots", "reviewed", "updated_at"]
    list_filter = ["reviewed", "intent"]
    search_fields = ["text"]
    actions = ["mark_reviewed", "train_parser"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A transcript's "Correct this turn" opens this form with the message and its parse."""
        initial = super().get_changeform_initial_data(request)
        try:
            initial["slots"] = json.loads(initial.get("slots") or "{}")
        except (TypeError, ValueError):
            initial["slots"] = {}
        return initial

    @admin.action(description="Mark as reviewed (train on them)", permissions=["change"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[ParserExample]) -> None:
        count = queryset.update(reviewed=True)
        self.message_user(request, f"{count} examples will be used in the next training run.")

    @admin.action(
        description="Train a new parser with the reviewed examples", permissions=["parser_versions"]
    )
    def train_parser(self, request: HttpRequest, queryset: QuerySet[ParserExample]) -> None:
        job = parsing.start_training(settings.AISLE_DEVICE)
        self.message_user(request, f"Training job #{job.pk} is queued; follow it under Training jobs.")


HELD_OUT_SCORES = ("intent_accuracy", "slot_f1", "slot_precision", "slot_recall", "exact_frame")


@admin.register(TrainingJob)
class TrainingJobAdmin(ParserVersionsPermission, ReadOnlyAdmin):
    """Parser training runs: progress while they run, held-out scores after; activate any kept version."""

    list_display = [
        "pk",
        "status_and_stage",
        "scores",
        "corrections",
        "short_version",
        "is_active",
        "created_at",
    ]
    list_filter = ["status", "activated"]
    fields = [
        "status",
        "device",
        "device_used",
        "epochs",
        "activate",
        "stage",
        "loss",
        "held_out",
        "corrections",
        "version",
        "activated",
        "message",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    actions = ["activate_version", "train_again"]

    @admin.display(description="stage")
    def stage(self, job: TrainingJob) -> str:
        progress = job.progress or {}
        if progress.get("steps"):
            epoch = f" (epoch {progress['epoch']})" if progress.get("epoch") else ""
            return f"{progress.get('stage')}, step {progress['step']} of {progress['steps']}{epoch}"
        return str(progress.get("stage", ""))

    @admin.display(description="status", ordering="status")
    def status_and_stage(self, job: TrainingJob) -> str:
        progress = job.progress or {}
        step = f" {progress['step']}/{progress['steps']}" if progress.get("steps") else ""
        return format_html(
            "{}<br><small>{}{}</small>", job.get_status_display(), progress.get("stage", ""), step
        )

    @admin.display(description="held-out scores")
    def scores(self, job: TrainingJob) -> str:
        metrics = job.metrics or {}
        if "intent_accuracy" not in metrics:
            return ""
        return f"intent {metrics['intent_accuracy']:.1%}, slots {metrics['slot_f1']:.1%}"

    @admin.display(description="held-out scores")
    def held_out(self, job: TrainingJob) -> str:
        """The held-out scores in words, and the F1 of each intent, weakest first."""
        metrics = job.metrics or {}
        if "intent_accuracy" not in metrics:
            return "not scored yet"
        per_intent = sorted((metrics.get("per_intent") or {}).items(), key=lambda item: item[1].get("f1", 0))
        share = {name: f"{metrics.get(name, 0):.1%}" for name in HELD_OUT_SCORES}
        return format_html(
            "{} utterances: intent accuracy {}, slot F1 {} (precision {}, recall {}), whole frame right {}"
            "<br><small>F1 per intent, weakest first: {}</small>",
            metrics.get("utterances", "?"),
            *share.values(),
            ", ".join(f"{intent} {scores.get('f1', 0):.2f}" for intent, scores in per_intent),
        )

    @admin.display(description="version")
    def short_version(self, job: TrainingJob) -> str:
        return format_html('<span title="{}">{}</span>', job.version, job.version.split(".")[0])

    @admin.display(description="corrections right")
    def corrections(self, job: TrainingJob) -> str:
        """The reviewed corrections read exactly: by the version active before, then by this one."""
        read = (job.metrics or {}).get("corrections")
        if not read:
            return ""
        before = f"{read['before']:.0%} → " if read.get("before") is not None else ""
        return f"{before}{read['accuracy']:.0%} of {read['count']}"

    @admin.display(description="serving", boolean=True)
    def is_active(self, job: TrainingJob) -> bool:
        return bool(job.version) and job.version == parsing.parser_store().active_version()

    @admin.action(description="Activate this version (roll back or forward)", permissions=["parser_versions"])
    def activate_version(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one job.", level=messages.ERROR)
            return
        job = queryset.get()
        try:
            parsing.activate_version(job.version)
        except LookupError:
            self.message_user(request, f"Version {job.version!r} is no longer kept.", level=messages.ERROR)
            return
        self.message_user(
            request, f"Parser version {job.version} is active; web processes switch on their next parse."
        )

    @admin.action(description="Train a new parser with the same settings", permissions=["parser_versions"])
    def train_again(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        for job in queryset:
            queued = parsing.start_training(job.device, job.epochs, job.activate)
            self.message_user(request, f"Training job #{queued.pk} is queued.")
