"""The shop's admin site: its front page says what is live, and one page lists every kept version
of the search index, the parser and the trained rankers, with their metrics and a button that
activates any of them (a rollback, or forward again).

Each app keeps its own versions (``catalog.indexing``, ``assistant.parsing``,
``recsys_plugins.ranking``); this module, at the top of the project, only shows them side by side.
"""

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from assistant import analytics, parsing
from assistant.models import TrainingJob
from catalog.indexing import index_store, roll_back_index
from catalog.models import CatalogImport, IndexJob
from core.jobs import JobStatus
from core.versions import DamagedVersion, VersionStore
from recsys_plugins import ranking
from recsys_plugins.models import RankerTrainingRun


@dataclass(frozen=True)
class VersionKind:
    """One kind of versioned artefact: where its versions live, how one is activated, who may."""

    key: str
    title: str
    store: Callable[[], VersionStore]
    activate: Callable[[str], Any]
    permission: str
    describe: Callable[[dict[str, Any]], str]
    jobs_url: str


def _index_summary(manifest: dict[str, Any]) -> str:
    return f"{manifest.get('products', 0):,} products, built in {manifest.get('build_seconds', 0):.0f} s"


def _parser_summary(manifest: dict[str, Any]) -> str:
    metrics = manifest.get("metrics", {})
    corrections = metrics.get("corrections")
    learned = f", corrections {corrections['accuracy']:.0%} right" if corrections else ""
    return (
        f"intent accuracy {metrics.get('intent_accuracy', 0):.3f}, slot F1 {metrics.get('slot_f1', 0):.3f} "
        f"(held-out), {manifest.get('examples', 0):,} examples on {manifest.get('device', '?')}{learned}"
    )


def _rankers_summary(manifest: dict[str, Any]) -> str:
    trained = ", ".join(sorted(manifest.get("reports", {}))) or "nothing"
    return f"{manifest.get('events', 0):,} feedback events; trained {trained}"


KINDS = (
    VersionKind(
        key="index",
        title="Search index",
        store=index_store,
        activate=roll_back_index,
        permission="catalog.change_indexjob",
        describe=_index_summary,
        jobs_url="admin:catalog_indexjob_changelist",
    ),
    VersionKind(
        key="parser",
        title="Parser",
        store=parsing.parser_store,
        activate=parsing.activate_version,
        permission="assistant.change_trainingjob",
        describe=_parser_summary,
        jobs_url="admin:assistant_trainingjob_changelist",
    ),
    VersionKind(
        key="rankers",
        title="Trained rankers",
        store=ranking.artifacts_store,
        activate=ranking.activate_artifacts,
        permission="recsys_plugins.change_rankertrainingrun",
        describe=_rankers_summary,
        jobs_url="admin:recsys_plugins_rankertrainingrun_changelist",
    ),
)
JOB_MODELS = (CatalogImport, IndexJob, TrainingJob, RankerTrainingRun)


class AisleAdminSite(admin.AdminSite):
    site_header = "Aisle administration"
    site_title = "Aisle admin"
    index_title = "Shop administration"

    def get_urls(self) -> list[URLPattern]:
        return [
            path("versions/", self.admin_view(self.versions_view), name="versions"),
            path("analytics/", self.admin_view(self.analytics_view), name="analytics"),
            *super().get_urls(),
        ]

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        live = [{**row, "kind": kind} for kind in KINDS for row in _versions(kind) if row["active"]]
        busy = [
            (model._meta.verbose_name_plural, count)
            for model in JOB_MODELS
            if (count := model.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).count())
        ]
        context = {
            **(extra_context or {}),
            "live": live,
            "busy": busy,
            "default_ranker": ranking.default_ranker(),
        }
        return super().index(request, context)

    def versions_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            return self._activate(request)
        sections = [
            {
                "kind": kind,
                "rows": _versions(kind),
                "may_activate": request.user.has_perm(kind.permission),
                "jobs_url": reverse(kind.jobs_url),
            }
            for kind in KINDS
        ]
        context = {**self.each_context(request), "title": "Versions", "sections": sections}
        return TemplateResponse(request, "admin/versions.html", context)

    def _activate(self, request: HttpRequest) -> HttpResponse:
        kind = next((kind for kind in KINDS if kind.key == request.POST.get("kind")), None)
        version = request.POST.get("version", "")
        if kind is None or not request.user.has_perm(kind.permission):
            return HttpResponse("You may not activate these versions.", status=403)
        try:
            kind.activate(version)
        except LookupError as problem:
            self.message(
                request, f"{kind.title} version {version} cannot be activated: {problem}", messages.ERROR
            )
        else:
            self.message(request, f"{kind.title} version {version} is live; every process switches to it.")
        return HttpResponseRedirect(reverse("admin:versions"))

    def analytics_view(self, request: HttpRequest) -> HttpResponse:
        """Per ranker and day, the top queries, the unanswered ones, the clarifying-question rate,
        the ranker experiments; ``?csv=rankers|queries|unanswered|experiments`` downloads a table."""
        if not request.user.has_perm("recsys_plugins.view_feedbackevent"):
            return HttpResponse("You may not see the analytics.", status=403)
        try:
            days = max(1, min(int(request.GET.get("days", 30)), 366))
        except ValueError:
            days = 30
        since = timezone.now().date() - timedelta(days=days - 1)
        rankers = analytics.ranker_days(since)
        experiments = analytics.experiment_reports()
        tables = {
            "rankers": [day.as_row() for day in rankers],
            "queries": analytics.top_queries(since),
            "unanswered": analytics.unanswered_queries(since),
            "experiments": [
                {key: value for key, value in row.items() if key != "cells"}
                for report in experiments
                for row in report.rows()
            ],
        }
        wanted = request.GET.get("csv")
        if wanted in tables:
            return _csv(f"aisle-{wanted}-{since.isoformat()}.csv", tables[wanted])
        context = {
            **self.each_context(request),
            "title": "Analytics",
            "days": days,
            "since": since,
            "tables": tables,
            "clarifying": analytics.clarifying_rate(since),
            "experiments": experiments,
            "ranker_days": rankers,
            "charts": [
                (label, line_chart(analytics.series(rankers, action)))
                for action, label in (("click", "Clicks"), ("like", "Likes"), ("add_to_cart", "Adds to cart"))
            ],
        }
        return TemplateResponse(request, "admin/analytics.html", context)

    @staticmethod
    def message(request: HttpRequest, text: str, level: int = messages.SUCCESS) -> None:
        messages.add_message(request, level, text)


def _versions(kind: VersionKind) -> list[dict[str, Any]]:
    """The kept versions of ``kind``, newest first, described from their manifests."""
    store = kind.store()
    active = store.active_version()
    rows = []
    for version in reversed(store.versions()):
        try:
            manifest = store.manifest(version) or {}
            summary = kind.describe(manifest)
        except (DamagedVersion, FileNotFoundError) as problem:
            manifest, summary = {}, f"damaged: {problem}"
        rows.append(
            {
                "version": version,
                "active": version == active,
                "created": manifest.get("created_at", ""),
                "summary": summary,
            }
        )
    return rows


CHART_COLOURS = ("#417690", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#7f8c8d")


def line_chart(lines: dict[str, list[tuple[Any, float]]], width: int = 560, height: int = 160) -> str:
    """An SVG chart of rates per impression by day: one line per ranker, or one bar per ranker when
    there is a single day; with the scale, the first and last day and a legend. "" when every rate
    is 0 (the page says so in words)."""
    points = [rate for line in lines.values() for _, rate in line]
    days = sorted({day for line in lines.values() for day, _ in line})
    if not days or not max(points):
        return ""
    top, left, plot = max(points), 52, width - 52
    parts = [
        f'<svg viewBox="0 0 {width} {height + 44}" width="{width}" height="{height + 44}" role="img">',
        f'<text x="0" y="20" font-size="11">{top:.1%}</text>',
        f'<text x="0" y="{height}" font-size="11">0%</text>',
        f'<line x1="{left}" y1="{height}" x2="{width}" y2="{height}" stroke="#ccc"/>',
        f'<text x="{left}" y="{height + 14}" font-size="11">{days[0]}</text>',
    ]
    if len(days) > 1:
        parts.append(
            f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">{days[-1]}</text>'
        )

    def y_of(rate: float) -> float:
        return height - rate / top * (height - 16)

    bar = plot / (2 * len(lines))
    for number, (ranker, line) in enumerate(sorted(lines.items())):
        colour = CHART_COLOURS[number % len(CHART_COLOURS)]
        if len(days) == 1:
            x, rate = left + bar * (2 * number + 0.5), line[0][1]
            parts.append(
                f'<rect x="{x:.1f}" y="{y_of(rate):.1f}" width="{bar:.1f}" height="{height - y_of(rate):.1f}"'
                f' fill="{colour}"><title>{escape(ranker)}: {rate:.1%}</title></rect>'
            )
        else:
            step = plot / (len(days) - 1)
            coordinates = [(left + days.index(day) * step, y_of(rate)) for day, rate in line]
            points_text = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points_text}"/>')
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coordinates)
        legend = f'x="{left + number * 140}" y="{height + 36}" font-size="12" fill="{colour}"'
        parts.append(f"<text {legend}>{escape(ranker)}</text>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # numbers, and ranker names escaped


def _csv(filename: str, rows: list[dict[str, Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if rows:
        writer = csv.DictWriter(response, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return response
