"""Admin for ranking: shoppers' feedback (read-only); enable, order and weight the installed rankers;
train the trainable ones; run an online experiment between two rankers."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, may_change

from . import ranking
from .manager import BUILTIN_PACKAGE
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
    """The rankers page: every installed ranker (enabled, position, weight) and every loaded plugin
    (on or off, re-rank wrappers included) with its hooks and runtime errors. Viewing it writes
    nothing; saving stores the choices, which from then on override the settings."""

    change_list_template = "admin/recsys_plugins/rankersetting/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from saving the page

    def has_train_permission(self, request: HttpRequest) -> bool:
        """Training publishes new ranker artifacts: it needs the change permission on training runs."""
        return may_change(request, RankerTrainingRun)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._post(request)
        registry = ranking.registry()
        switched_off = ranking.plugins_switched_off()
        plugins = [
            plugin
            | {"on": plugin["name"] not in switched_off, "builtin": plugin["package"] == BUILTIN_PACKAGE}
            for plugin in registry.loaded_plugins()
        ]
        choices = [
            {"ranker": choice.ranker, "enabled": choice.enabled, "position": choice.position,
             "weight": choice.weight, "errors": registry.runtime_errors[choice.ranker.plugin]}
            for choice in ranking.ranker_choices(switched_off)
        ]  # fmt: skip
        context = {
            **self.admin_site.each_context(request),
            "title": "Rankers and plugins",
            "opts": self.model._meta,
            "choices": choices,
            "plugins": plugins,
            "failed": registry.failed,
            "new_weight": ranking.NEW_RANKER_WEIGHT,
            "can_change": self.has_change_permission(request),
            "can_train": self.has_train_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.change_list_template, context)

    def _post(self, request: HttpRequest) -> HttpResponse:
        if "train" in request.POST:
            if not self.has_train_permission(request):
                raise PermissionDenied
            run = ranking.start_training(reason="admin")
            self.message_user(request, f"Ranker training run #{run.pk} is queued.", level=messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        if not self.has_change_permission(request):
            raise PermissionDenied
        registry = ranking.registry()
        try:
            rankers = {
                name: (
                    f"enabled:{name}" in request.POST,
                    int(request.POST.get(f"position:{name}", 0)),
                    float(request.POST.get(f"weight:{name}", ranking.NEW_RANKER_WEIGHT)),
                )
                for name in registry.rankers()
            }
        except ValueError:
            self.message_user(request, "Positions must be whole numbers and weights numbers.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        if any(position < 0 or weight < 0 for _, position, weight in rankers.values()):
            self.message_user(request, "Positions and weights cannot be negative.", messages.ERROR)
            return HttpResponseRedirect(request.path)
        plugins = {
            plugin["name"]: f"plugin:{plugin['name']}" in request.POST
            for plugin in registry.loaded_plugins()
            if plugin["package"] != BUILTIN_PACKAGE
        }
        ranking.save_choices(_renumbered(rankers), plugins)
        self.message_user(request, "Saved: every process ranks with these choices from its next request.")
        return HttpResponseRedirect(request.path)


def _renumbered(rankers: dict[str, tuple[bool, int, float]]) -> dict[str, tuple[bool, int, float]]:
    """Positions 0, 1, 2… in the order asked; a ranker moved to a position another one holds goes
    before it (set to 0, it comes first), the others keep their order."""
    before = {choice.ranker.name: choice.position for choice in ranking.ranker_choices()}
    order = sorted(
        rankers,
        key=lambda name: (rankers[name][1], rankers[name][1] == before.get(name), before.get(name, 0), name),
    )
    return {name: (rankers[name][0], position, rankers[name][2]) for position, name in enumerate(order)}


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
