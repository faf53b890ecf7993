"""The admin's analytics: per ranker and day, impressions and what shoppers did with them, as
charts and tables with CSV; top queries, the unanswered ones, the rate of questions asked back.
Feedback is credited to the ranker that ordered the list on screen."""

import csv
import io
import uuid

import pytest
from django.contrib.sessions.backends.db import SessionStore

from assistant import services
from assistant.models import Conversation, Message
from recsys_plugins.models import FeedbackEvent

from .test_admin_permissions import login_as  # noqa: F401 (a fixture)

ANALYTICS = "/admin/analytics/"


@pytest.mark.django_db
def test_feedback_names_the_ranker_that_ordered_the_list_and_the_page_counts_it(
    admin_client, indexed_catalog
):
    session = SessionStore()
    session.create()
    shown = services.chat_turn(session.session_key, "sofa")
    ranker = Conversation.objects.get(session_key=session.session_key).state["ranker"]
    assert ranker == "hybrid"  # the first enabled ranker ordered the list
    services.chat_turn(session.session_key, "the second one")  # no search: the list stays hybrid's
    second = shown["products"][1]["sku"]
    services.shopper_feedback(session.session_key, second, "like")
    services.shopper_feedback(session.session_key, second, "add_to_cart")
    assert set(FeedbackEvent.objects.values_list("ranker", flat=True)) == {"hybrid"}

    page = admin_client.get(ANALYTICS)
    assert page.status_code == 200
    rows = page.context["tables"]["rankers"]
    assert len(rows) == 1
    assert (rows[0]["ranker"], rows[0]["impressions"]) == ("hybrid", len(shown["products"]))
    assert (rows[0]["like"], rows[0]["add_to_cart"]) == (1, 1)
    assert rows[0]["like_rate"] == pytest.approx(1 / len(shown["products"]), abs=1e-4)
    assert "<svg" in page.content.decode()  # the charts
    assert "sofa" in [row["query"] for row in page.context["tables"]["queries"]]

    download = admin_client.get(f"{ANALYTICS}?csv=rankers")
    assert download["Content-Type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert exported[0]["ranker"] == "hybrid"
    assert exported[0]["like"] == "1"


@pytest.mark.django_db
def test_unanswered_queries_and_the_clarifying_rate(admin_client, db):
    conversation = Conversation.objects.create(session_key=uuid.uuid4().hex)
    for said, reply, outcome in (
        ("a flying carpet", "Sorry, we don't sell flying carpet.", "no_result"),
        ("leather bookcase", "No leather bookcase; here are the closest.", "relaxed"),
        ("hmm", "I am not sure what you mean.", "clarified"),
        ("sofa", "Here are 4 options.", ""),
    ):
        Message.objects.create(conversation=conversation, role="user", text=said, intent="search")
        Message.objects.create(conversation=conversation, role="assistant", text=reply, outcome=outcome)
    page = admin_client.get(ANALYTICS)
    unanswered = {(row["query"], row["outcome"]) for row in page.context["tables"]["unanswered"]}
    assert unanswered == {("a flying carpet", "no_result"), ("leather bookcase", "relaxed")}
    assert page.context["clarifying"] == {"replies": 4, "asked_back": 1, "rate": 0.25}
    assert "1 of 4 replies (25 %)" in page.content.decode()
    queries = list(
        csv.DictReader(io.StringIO(admin_client.get(f"{ANALYTICS}?csv=unanswered").content.decode()))
    )
    assert {row["query"] for row in queries} == {"a flying carpet", "leather bookcase"}


@pytest.mark.django_db
def test_analytics_needs_the_view_permission_on_feedback(login_as, db):  # noqa: F811
    assert login_as().get(ANALYTICS).status_code == 403
    assert login_as("recsys_plugins.view_feedbackevent").get(ANALYTICS).status_code == 200


def test_charts_draw_a_bar_per_ranker_for_one_day_lines_for_more_and_nothing_for_zero():
    from datetime import date

    from config.admin import line_chart

    one_day = line_chart({"hybrid": [(date(2026, 12, 4), 0.2)], "cosine": [(date(2026, 12, 4), 0.1)]})
    assert one_day.count("<rect") == 2
    assert "<polyline" not in one_day
    assert "20.0%" in one_day  # the scale's top is the highest rate, not 100 %
    days = line_chart({"hybrid": [(date(2026, 12, 3), 0.1), (date(2026, 12, 4), 0.3)]})
    assert days.count("<polyline") == 1
    assert "2026-12-03" in days
    assert "2026-12-04" in days
    assert line_chart({"hybrid": [(date(2026, 12, 4), 0.0)]}) == ""
    assert line_chart({}) == ""
