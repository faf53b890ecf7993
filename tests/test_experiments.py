"""Online ranker experiments: sessions split between two rankers (sticky per session) or lists
interleaved by team draft; feedback credited to the ranker that placed the product; each arm's
rates with 95 % intervals and a significance statement on the analytics page."""

import csv
import io
import uuid
from collections import Counter

import pytest
from django.contrib.sessions.backends.db import SessionStore

from assistant import analytics, services
from assistant.models import Message
from recsys_plugins import experiments
from recsys_plugins.models import FeedbackEvent, RankerExperiment

ANALYTICS = "/admin/analytics/"


def new_session() -> str:
    session = SessionStore()
    session.create()
    return session.session_key


# -- the pure core ---------------------------------------------------------------------------------


def test_a_session_keeps_its_arm_and_sessions_split_about_evenly():
    keys = [uuid.uuid4().hex for _ in range(2000)]
    arms = [experiments.arm_of(key, "7") for key in keys]
    assert arms == [experiments.arm_of(key, "7") for key in keys]  # sticky
    assert 900 < Counter(arms)["a"] < 1100
    # another experiment splits the same sessions differently
    assert arms != [experiments.arm_of(key, "8") for key in keys]


def test_team_draft_takes_each_item_once_in_each_teams_own_order():
    first = ["p1", "p2", "p3", "p4", "p5", "p6"]
    second = ["p4", "p1", "p7", "p8", "p2", "p9"]
    for seed in map(str, range(20)):
        merged = experiments.team_draft(first, second, 6, seed)
        items = [item for item, _ in merged]
        assert len(items) == len(set(items)) == 6
        picks = Counter(arm for _, arm in merged)
        assert abs(picks["a"] - picks["b"]) <= 1  # the team with fewer picks drafts next
        for arm, ranking in (("a", first), ("b", second)):
            own = [item for item, team in merged if team == arm]
            assert own == sorted(own, key=ranking.index)  # a team drafts in its ranker's order
        assert {items[0], items[1]} <= {"p1", "p4", "p2"}  # both rankers' best lead
    assert experiments.team_draft(first, second, 6, "1") == experiments.team_draft(first, second, 6, "1")


def test_team_draft_lets_the_other_team_fill_when_one_runs_out():
    merged = experiments.team_draft(["x"], ["y", "z", "w"], 4, "seed")
    assert sorted(item for item, _ in merged) == ["w", "x", "y", "z"]
    assert experiments.team_draft([], [], 4, "seed") == []


def test_rates_intervals_and_significance():
    rate = experiments.Rate(30, 100)
    low, high = rate.interval
    assert low < 0.3 < high
    assert low > 0.2
    assert high < 0.4
    assert experiments.Rate(0, 0).interval == (0.0, 1.0)
    assert experiments.rates_differ(experiments.Rate(50, 100), experiments.Rate(20, 100)) < 0.05
    assert experiments.rates_differ(experiments.Rate(10, 100), experiments.Rate(11, 100)) > 0.5
    assert experiments.preference(30, 10) < 0.05
    assert experiments.preference(5, 4) > 0.5
    assert "significant" in experiments.verdict(0.01, "b", "a", "likes")
    assert experiments.verdict(0.3, "b", "a", "likes").startswith("No significant difference")


# -- in the app ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_split_experiment_gives_each_session_one_ranker_for_good(admin_client, indexed_catalog):
    experiment = RankerExperiment.objects.create(
        name="cosine or popularity", ranker_a="cosine", ranker_b="popularity"
    )
    # Four sessions in each arm: random keys all in one arm (1 in 128 for eight) would test nothing.
    by_arm: dict[str, list[str]] = {"a": [], "b": []}
    while min(len(keys) for keys in by_arm.values()) < 4:
        key = new_session()
        by_arm[experiments.arm_of(key, str(experiment.pk))].append(key)
    sessions = by_arm["a"][:4] + by_arm["b"][:4]
    for session_key in sessions:
        services.chat_turn(session_key, "sofa")
        services.chat_turn(session_key, "cheaper")
    for session_key in sessions:
        arm = experiments.arm_of(session_key, str(experiment.pk))
        replies = Message.objects.filter(conversation__session_key=session_key, role="assistant").exclude(
            ranker=""
        )
        assert {reply.ranker for reply in replies} == {experiment.ranker_of(arm)}
        assert all(set(reply.experiment["arms"]) == {arm} for reply in replies)

    liker = sessions[0]
    shown = Message.objects.filter(conversation__session_key=liker, role="assistant").last().products
    services.shopper_feedback(liker, shown[0]["sku"], "like")
    event = FeedbackEvent.objects.get()
    arm = experiments.arm_of(liker, str(experiment.pk))
    assert (event.ranker, event.context["experiment"], event.context["arm"]) == (
        experiment.ranker_of(arm),
        experiment.pk,
        arm,
    )

    report = analytics.experiment_report(experiment)
    by_arm = {row.arm: row for row in report.arms}
    assert by_arm["a"].sessions + by_arm["b"].sessions == len(sessions)
    assert by_arm[arm].per_session["like"].hits == 1
    assert len(report.findings) == 3
    assert report.findings[0]["verdict"].startswith("No significant")

    page = admin_client.get(ANALYTICS)
    html = page.content.decode()
    assert f'id="experiment-{experiment.pk}"' in html
    assert "share of each arm's sessions" in html
    assert "No significant difference" in html
    exported = list(
        csv.DictReader(io.StringIO(admin_client.get(f"{ANALYTICS}?csv=experiments").content.decode()))
    )
    assert {row["ranker"] for row in exported} == {"cosine", "popularity"}
    assert sum(int(row["like"]) for row in exported) == 1

    # An API client asking for a ranker gets that ranker, whatever the experiment.
    assert services.search_cards("sofa", 3, ranker="hybrid", session_key=sessions[1]).ranker == "hybrid"


@pytest.mark.django_db
def test_an_interleaving_experiment_credits_each_product_to_the_ranker_that_drafted_it(indexed_catalog):
    experiment = RankerExperiment.objects.create(
        name="interleaved", kind=RankerExperiment.Kind.INTERLEAVE, ranker_a="cosine", ranker_b="popularity"
    )
    session_key = new_session()
    reply = services.chat_turn(session_key, "a chair")
    stored = Message.objects.filter(role="assistant").last()
    assert stored.ranker == "interleaved"
    arms = stored.experiment["arms"]
    assert len(arms) == len(reply["products"])
    assert set(arms) == {"a", "b"}
    assert abs(arms.count("a") - arms.count("b")) <= 1

    drafted_by_b = reply["products"][arms.index("b")]["sku"]
    services.shopper_feedback(session_key, drafted_by_b, "add_to_cart")
    event = FeedbackEvent.objects.get()
    assert (event.ranker, event.context["arm"]) == ("popularity", "b")

    days = {day.ranker: day for day in analytics.ranker_days(stored.created_at.date())}
    assert days["cosine"].impressions == arms.count("a")
    assert days["popularity"].impressions == arms.count("b")
    assert days["popularity"].actions["add_to_cart"] == 1
    report = analytics.experiment_report(experiment)
    assert report.preferred == Counter({"b": 1})
    assert report.findings[0]["p_value"] == 1.0  # one session tells nothing yet


@pytest.mark.django_db
def test_feedback_on_a_product_from_an_earlier_list_is_credited_to_the_ranker_that_listed_it(indexed_catalog):
    session_key = new_session()
    sofas = services.chat_turn(session_key, "sofa")["products"]
    services.chat_turn(session_key, "a lamp")  # another list is on screen now
    services.shopper_feedback(session_key, sofas[1]["sku"], "like")
    event = FeedbackEvent.objects.get()
    assert event.ranker == "hybrid"
    assert event.context["position"] == 2


@pytest.mark.django_db
def test_an_experiment_whose_ranker_is_gone_leaves_the_shop_answering(indexed_catalog):
    RankerExperiment.objects.create(name="gone", ranker_a="cosine", ranker_b="uninstalled-plugin")
    reply = services.chat_turn(new_session(), "sofa")
    assert reply["products"]
    assert Message.objects.filter(role="assistant").last().ranker == "hybrid"


@pytest.mark.django_db
def test_the_admin_starts_one_experiment_at_a_time_and_stops_it(admin_client, indexed_catalog):
    add = "/admin/recsys_plugins/rankerexperiment/add/"
    form = admin_client.get(add)
    assert form.context["adminform"].form.fields["ranker_a"].initial == "hybrid"
    same = admin_client.post(add, {"name": "x", "kind": "split", "ranker_a": "cosine", "ranker_b": "cosine"})
    assert "Choose two different rankers." in same.content.decode()
    started = admin_client.post(
        add, {"name": "new", "kind": "split", "ranker_a": "hybrid", "ranker_b": "cosine"}
    )
    assert started.status_code == 302
    second = admin_client.post(
        add, {"name": "two", "kind": "interleave", "ranker_a": "hybrid", "ranker_b": "cf"}
    )
    assert "An experiment is running" in second.content.decode()
    experiment = RankerExperiment.objects.get()
    admin_client.post(
        "/admin/recsys_plugins/rankerexperiment/",
        {"action": "stop", "_selected_action": [experiment.pk]},
    )
    experiment.refresh_from_db()
    assert not experiment.running
    assert experiment.stopped_at is not None
    session_key = new_session()
    services.chat_turn(session_key, "sofa")
    assert Message.objects.filter(role="assistant").last().experiment == {}
