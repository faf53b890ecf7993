"""Admin for conversations (read-only) and for the parser: corrections and training runs."""

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin, may_change

from . import parsing
from .models import Conversation, Message, ParserExample, TrainingJob


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "role", "text", "intent", "slots"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["session_key", "user", "message_count", "created_at", "updated_at"]
    search_fields = ["session_key", "messages__text"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]

    @admin.display(description="messages")
    def message_count(self, conversation: Conversation) -> int:
        return conversation.messages.count()


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


@admin.register(TrainingJob)
class TrainingJobAdmin(ParserVersionsPermission, ReadOnlyAdmin):
    """Parser training runs: progress while they run, held-out scores after; activate any kept version."""

    list_display = [
        "pk",
        "status",
        "stage",
        "intent_accuracy",
        "slot_f1",
        "version",
        "is_active",
        "created_at",
    ]
    list_filter = ["status", "activated"]
    readonly_fields = [field.name for field in TrainingJob._meta.fields]
    actions = ["activate_version", "train_again"]

    @admin.display(description="stage")
    def stage(self, job: TrainingJob) -> str:
        progress = job.progress or {}
        if progress.get("steps"):
            return f"{progress.get('stage')} {progress['step']}/{progress['steps']}"
        return str(progress.get("stage", ""))

    @admin.display(description="intent acc.")
    def intent_accuracy(self, job: TrainingJob) -> float | None:
        return (job.metrics or {}).get("intent_accuracy")

    @admin.display(description="slot F1")
    def slot_f1(self, job: TrainingJob) -> float | None:
        return (job.metrics or {}).get("slot_f1")

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
