"""What the admin's analytics page reports (``/admin/analytics/``).

- Per ranker and day: the products shown (impressions: every product card of a reply, credited to
  the ranker that ordered it) and what shoppers did with them (clicks, likes, dislikes, adds to
  cart, from the feedback events, credited the same way), as counts and rates per impression.
- The top queries (a conversation's searches), the queries that ended with no result or a
  relaxed search, and how often the assistant asked back instead of answering.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Lower, TruncDate

from recsys_plugins import experiments
from recsys_plugins.models import FeedbackEvent, RankerExperiment

from .dialogue.manager import CLARIFIED, NO_RESULT, RELAXED
from .models import Message

ACTIONS = ("click", "like", "dislike", "add_to_cart")
ACTION_WORDS = {"click": "a click", "like": "a like", "dislike": "a dislike", "add_to_cart": "an add to cart"}


@dataclass
class RankerDay:
    """One ranker's day: impressions and what shoppers did with them."""

    day: date
    ranker: str
    impressions: int = 0
    actions: Counter = field(default_factory=Counter)

    def rate(self, action: str) -> float:
        return self.actions[action] / self.impressions if self.impressions else 0.0

    def cells(self) -> list[str]:
        """Each action's count and rate per impression, as the page shows them."""
        return [f"{self.actions[action]} ({self.rate(action):.1%})" for action in ACTIONS]

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "day": self.day.isoformat(),
            "ranker": self.ranker,
            "impressions": self.impressions,
        }
        for action in ACTIONS:
            row[action] = self.actions[action]
            row[f"{action}_rate"] = round(self.rate(action), 4)
        return row


def ranker_days(since: date) -> list[RankerDay]:
    """Per ranker and day since ``since``, oldest first."""
    days: dict[tuple[date, str], RankerDay] = {}

    def of(day: date, ranker: str) -> RankerDay:
        return days.setdefault((day, ranker), RankerDay(day, ranker))

    replies = (
        Message.objects.filter(role=Message.Role.ASSISTANT, created_at__date__gte=since)
        .exclude(ranker="")
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "ranker", "products", "experiment")
    )
    rankers_of = {experiment.pk: experiment.ranker_of for experiment in RankerExperiment.objects.all()}
    for day, ranker, products, experiment in replies.iterator():
        if experiment and experiment.get("id") in rankers_of:  # interleaved: each product's own ranker
            for arm in experiment["arms"]:
                of(day, rankers_of[experiment["id"]](arm) if arm else ranker).impressions += 1
        else:
            of(day, ranker).impressions += len(products or ())
    events = (
        FeedbackEvent.objects.filter(created_at__date__gte=since, action__in=ACTIONS)
        .exclude(ranker="")
        .annotate(day=TruncDate("created_at"))
        .values("day", "ranker", "action")
        .annotate(count=Count("pk"))
    )
    for row in events:
        of(row["day"], row["ranker"]).actions[row["action"]] += row["count"]
    return [days[key] for key in sorted(days)]


def top_queries(since: date, limit: int = 20) -> list[dict[str, Any]]:
    """The searches shoppers typed most, case folded."""
    searches = (
        Message.objects.filter(role=Message.Role.USER, intent="search", created_at__date__gte=since)
        .annotate(query=Lower("text"))
        .values("query")
        .annotate(count=Count("pk"))
        .order_by("-count", "query")[:limit]
    )
    return list(searches)


def unanswered_queries(since: date, limit: int = 50) -> list[dict[str, Any]]:
    """The shopper messages whose reply found nothing, or only products without a constraint."""
    said = Message.objects.filter(
        conversation=OuterRef("conversation"), role=Message.Role.USER, created_at__lte=OuterRef("created_at")
    ).order_by("-created_at", "-pk")
    replies = (
        Message.objects.filter(
            role=Message.Role.ASSISTANT, outcome__in=(NO_RESULT, RELAXED), created_at__date__gte=since
        )
        .annotate(query=Lower(Subquery(said.values("text")[:1])))
        .values("query", "outcome")
        .annotate(count=Count("pk"))
        .order_by("-count", "query")[:limit]
    )
    return list(replies)


def clarifying_rate(since: date) -> dict[str, Any]:
    """How many replies asked back, of all replies."""
    replies = Message.objects.filter(role=Message.Role.ASSISTANT, created_at__date__gte=since)
    total, asked = replies.count(), replies.filter(outcome=CLARIFIED).count()
    return {"replies": total, "asked_back": asked, "rate": round(asked / total, 4) if total else 0.0}


def series(days: list[RankerDay], action: str) -> dict[str, list[tuple[date, float]]]:
    """Per ranker, the day-by-day rate of ``action`` (a chart's lines)."""
    lines: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for day in days:
        lines[day.ranker].append((day.day, day.rate(action)))
    return dict(lines)


@dataclass
class ArmReport:
    """One arm of an experiment: its ranker, sessions, impressions and outcome rates."""

    arm: str
    ranker: str
    sessions: int = 0
    impressions: int = 0
    per_session: dict[str, experiments.Rate] = field(default_factory=dict)
    """Of a split: the share of the arm's sessions with each action."""
    per_impression: dict[str, experiments.Rate] = field(default_factory=dict)


@dataclass
class ExperimentReport:
    """An experiment's arms and what the comparison says so far."""

    experiment: RankerExperiment
    arms: list[ArmReport]
    findings: list[dict[str, Any]]
    """Per action (split) or for the sessions' preference (interleave): the p-value and a verdict."""
    preferred: Counter = field(default_factory=Counter)
    """Of an interleave: sessions that preferred "a", "b", or neither ("tie")."""

    @property
    def per_session(self) -> bool:
        """Whether the rates are per session (a split) or per impression (an interleave)."""
        return self.experiment.kind == RankerExperiment.Kind.SPLIT

    def rows(self) -> list[dict[str, Any]]:
        """One row per arm: counts, each action's rate and 95 % interval (the CSV's columns), and
        ``cells``, the rates as the page shows them."""
        rows = []
        for arm in self.arms:
            rates = arm.per_session if self.per_session else arm.per_impression
            row: dict[str, Any] = {
                "experiment": self.experiment.pk,
                "arm": arm.arm.upper(),
                "ranker": arm.ranker,
                "sessions": arm.sessions,
                "impressions": arm.impressions,
            }
            cells = []
            for action in ACTIONS:
                rate = rates[action]
                low, high = rate.interval
                row |= {action: rate.hits, f"{action}_rate": round(rate.value, 4)}
                row |= {f"{action}_low": round(low, 4), f"{action}_high": round(high, 4)}
                cells.append(f"{rate.value:.1%} ({low:.1%} to {high:.1%})")
            rows.append(row | {"cells": cells})
        return rows


def experiment_report(experiment: RankerExperiment) -> ExperimentReport:
    """Each arm's sessions, impressions and outcome rates with 95 % intervals, and whether they
    differ significantly: per session for a split (the unit that was randomised), by the sessions'
    preferences for an interleave (a sign test on the teams' positive actions)."""
    arms = {arm: ArmReport(arm, experiment.ranker_of(arm)) for arm in experiments.ARMS}
    sessions: dict[str, set[str]] = {arm: set() for arm in experiments.ARMS}
    replies = Message.objects.filter(role=Message.Role.ASSISTANT, experiment__id=experiment.pk)
    for session_key, shown in replies.values_list("conversation__session_key", "experiment").iterator():
        for arm in shown.get("arms", ()):
            if arm in arms:
                arms[arm].impressions += 1
                sessions[arm].add(session_key)
    acted: dict[tuple[str, str], set[str]] = defaultdict(set)  # (arm, action) -> sessions
    counts: Counter = Counter()  # (arm, action) -> events
    positive: dict[str, Counter] = defaultdict(Counter)  # session -> arm -> positive actions
    events = FeedbackEvent.objects.filter(context__experiment=experiment.pk, action__in=ACTIONS)
    for session_key, action, arm in events.values_list("session_key", "action", "context__arm").iterator():
        acted[arm, action].add(session_key)
        counts[arm, action] += 1
        if action != "dislike":
            positive[session_key][arm] += 1
    for arm, report in arms.items():
        report.sessions = len(sessions[arm])
        for action in ACTIONS:
            report.per_session[action] = experiments.Rate(len(acted[arm, action]), report.sessions)
            report.per_impression[action] = experiments.Rate(counts[arm, action], report.impressions)
    first, second = arms["a"], arms["b"]
    if experiment.kind == RankerExperiment.Kind.INTERLEAVE:
        preferred = Counter(
            "a" if votes["a"] > votes["b"] else "b" if votes["b"] > votes["a"] else "tie"
            for votes in positive.values()
        )
        preferred["tie"] += len(sessions["a"] | sessions["b"]) - len(positive)
        p_value = experiments.preference(preferred["a"], preferred["b"])
        better, worse = (first, second) if preferred["a"] >= preferred["b"] else (second, first)
        what = "the sessions' preference (clicks, likes and adds to cart)"
        finding = {
            "what": what,
            "p_value": p_value,
            "verdict": experiments.verdict(p_value, better.ranker, worse.ranker, what),
        }
        return ExperimentReport(experiment, [first, second], [finding], preferred)
    findings = []
    for action in ACTIONS:
        if action == "dislike":
            continue
        rates = first.per_session[action], second.per_session[action]
        p_value = experiments.rates_differ(*rates)
        better, worse = (first, second) if rates[0].value >= rates[1].value else (second, first)
        what = f"sessions with {ACTION_WORDS[action]}"
        findings.append(
            {
                "what": what,
                "p_value": p_value,
                "verdict": experiments.verdict(p_value, better.ranker, worse.ranker, what),
            }
        )
    return ExperimentReport(experiment, [first, second], findings)


def experiment_reports(limit: int = 5) -> list[ExperimentReport]:
    """The running experiment's report and the latest stopped ones'."""
    recent = RankerExperiment.objects.order_by("-running", "-started_at")[:limit]
    return [experiment_report(experiment) for experiment in recent]
