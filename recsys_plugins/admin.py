"""Admin for ranking: shoppers' feedback (read-only); enable, order and weight the installed rankers;
train the trainable ones."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from core.admin import ReadOnlyAdmin, may_change

from . import ranking
from .models import FeedbackEvent, RankerSetting, RankerTrainingRun


@admin.register(FeedbackEvent)
class FeedbackEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "product", "session_key", "ranker"]
    list_filter = ["action", "ranker", "created_at"]
    search_fields = ["product__sku", "product__title", "session_key"]
    list_select_related = ["product"]
    date_hierarchy = "created_at"


@admin.register(RankerSetting)
class RankerSettingAdmin(admin.ModelAdmin):
    """One row per installed ranker, created from the settings the first time the page opens."""

    list_display = ["name", "enabled", "position", "weight", "package", "version", "hooks"]
    list_editable = ["enabled", "position", "weight"]
    actions = ["train_rankers"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        for choice in ranking.ranker_choices():
            RankerSetting.objects.get_or_create(
                name=choice.ranker.name,
                defaults={"enabled": choice.enabled, "position": choice.position, "weight": choice.weight},
            )
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from installed plugins

    def _installed(self, setting: RankerSetting) -> Any:
        return ranking.registry().rankers().get(setting.name)

    @admin.display(description="package")
    def package(self, setting: RankerSetting) -> str:
        installed = self._installed(setting)
        return installed.package if installed else "not installed"

    @admin.display(description="version")
    def version(self, setting: RankerSetting) -> str:
        installed = self._installed(setting)
        return installed.version if installed else ""

    @admin.display(description="hooks")
    def hooks(self, setting: RankerSetting) -> str:
        installed = self._installed(setting)
        return ", ".join(hook.removeprefix("aisle_") for hook in installed.hooks) if installed else ""

    def has_train_permission(self, request: HttpRequest) -> bool:
        """Training publishes new ranker artifacts: it needs the change permission on training runs."""
        return may_change(request, RankerTrainingRun)

    @admin.action(description="Train the trainable rankers now", permissions=["train"])
    def train_rankers(self, request: HttpRequest, queryset: QuerySet[RankerSetting]) -> None:
        run = ranking.start_training(reason="admin")
        self.message_user(request, f"Ranker training run #{run.pk} is queued.", level=messages.SUCCESS)


@admin.register(RankerTrainingRun)
class RankerTrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "status", "reason", "device_used", "events", "version", "message", "created_at"]
    list_filter = ["status", "reason"]
    readonly_fields = [field.name for field in RankerTrainingRun._meta.fields]
