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

from recsys_plugins.models import FeedbackEvent

from .dialogue.manager import CLARIFIED, NO_RESULT, RELAXED
from .models import Message

ACTIONS = ("click", "like", "dislike", "add_to_cart")


@dataclass
class RankerDay:
    """One ranker's day: impressions and what shoppers did with them."""

    day: date
    ranker: str
    impressions: int = 0
    actions: Counter = field(default_factory=Counter)

    def rate(self, action: str) -> float:
        return self.actions[action] / self.impressions if self.impressions else 0.0

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
        .values_list("day", "ranker", "products")
    )
    for day, ranker, products in replies.iterator():
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
