"""Admin for ranking: shoppers' feedback (read-only); enable, order and weight the installed rankers;
train the trainable ones; run an online experiment between two rankers."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, may_change

from . import ranking
from .models import FeedbackEvent, RankerExperiment, RankerSetting, RankerTrainingRun


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


class ExperimentForm(forms.ModelForm):
    """Both arms are chosen among the installed rankers, enabled or not: a new plugin can be tried
    on a share of the traffic before it is switched on for everyone."""

    class Meta:
        model = RankerExperiment
        fields = ["name", "kind", "ranker_a", "ranker_b"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        installed = [(name, name) for name in ranking.registry().rankers()]
        for arm in ("ranker_a", "ranker_b"):
            field = self.fields[arm]
            self.fields[arm] = forms.ChoiceField(
                choices=installed, label=field.label, help_text=field.help_text
            )
        self.fields["ranker_a"].initial = ranking.default_ranker()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("ranker_a") and cleaned.get("ranker_a") == cleaned.get("ranker_b"):
            raise forms.ValidationError("Choose two different rankers.")
        if RankerExperiment.objects.filter(running=True).exists():
            raise forms.ValidationError("An experiment is running: stop it before starting another.")
        return cleaned


@admin.register(RankerExperiment)
class RankerExperimentAdmin(admin.ModelAdmin):
    """Start an experiment (it runs from the moment it is saved), stop it, read its results on the
    analytics page. A started experiment's arms cannot change: its results would mix two setups."""

    form = ExperimentForm
    list_display = ["name", "kind", "ranker_a", "ranker_b", "running", "started_at", "stopped_at", "results"]
    list_filter = ["running", "kind"]
    actions = ["stop"]

    def get_readonly_fields(self, request: HttpRequest, obj: RankerExperiment | None = None) -> list[str]:
        if obj is None:
            return []
        return ["name", "kind", "ranker_a", "ranker_b", "running", "started_at", "stopped_at", "results"]

    def get_fields(self, request: HttpRequest, obj: RankerExperiment | None = None) -> list[str]:
        return self.get_readonly_fields(request, obj) or ["name", "kind", "ranker_a", "ranker_b"]

    @admin.display(description="results")
    def results(self, experiment: RankerExperiment) -> str:
        return format_html(
            '<a href="{}#experiment-{}">Analytics</a>', reverse("admin:analytics"), experiment.pk
        )

    @admin.action(description="Stop the selected experiments", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[RankerExperiment]) -> None:
        stopped = queryset.filter(running=True).update(running=False, stopped_at=timezone.now())
        self.message_user(
            request,
            f"Stopped {stopped} experiment(s); shoppers see the ranker in use again.",
        )
