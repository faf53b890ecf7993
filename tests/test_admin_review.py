"""Conversation review in the admin: transcripts with each turn's parse and products, the state in
words, filters for the turns worth a look, and "Correct this turn" into the parser's examples."""

import uuid
from urllib.parse import urlsplit

import pytest
from django.contrib.sessions.backends.db import SessionStore

from assistant import services
from assistant.models import Conversation, Message
from catalog.models import Product
from recsys_plugins.models import FeedbackEvent

CONVERSATIONS = "/admin/assistant/conversation/"


def conversation_with(*messages: dict) -> Conversation:
    conversation = Conversation.objects.create(session_key=uuid.uuid4().hex)
    for fields in messages:
        Message.objects.create(conversation=conversation, **fields)
    return conversation


@pytest.mark.django_db
def test_a_transcript_shows_the_parse_the_products_and_the_state_in_words(admin_client, indexed_catalog):
    session = SessionStore()
    session.create()
    reply = services.chat_turn(session.session_key, "grey sofa under 2000")
    conversation = Conversation.objects.get(session_key=session.session_key)
    shopper = conversation.messages.get(role=Message.Role.USER)
    assert (shopper.intent, shopper.confidence) == (reply["intent"], pytest.approx(shopper.confidence))
    assert shopper.confidence is not None

    page = admin_client.get(f"{CONVERSATIONS}{conversation.pk}/change/").content.decode()
    assert "Shopper: grey sofa under 2000" in page
    assert f"read as <strong>{reply['intent']}</strong>" in page
    first = Product.objects.get(sku=reply["products"][0]["sku"])
    assert f'href="/admin/catalog/product/{first.pk}/change/">{first.title}</a>' in page
    assert "price max</th><td>2000" in page  # the state, in words
    assert "&quot;constraints&quot;" not in page  # not as raw JSON

    listing = admin_client.get(CONVERSATIONS).content.decode()
    assert "grey sofa under 2000" in listing  # the list names a conversation by its first message


@pytest.mark.django_db
def test_correct_this_turn_opens_the_example_form_filled_with_the_message_and_its_parse(admin_client, db):
    conversation = conversation_with(
        {
            "role": "user",
            "text": "smth for my nan",
            "intent": "out_of_scope",
            "slots": {},
            "confidence": 0.41,
        },
        {"role": "assistant", "text": "I am not sure what you mean.", "outcome": "clarified"},
    )
    page = admin_client.get(f"{CONVERSATIONS}{conversation.pk}/change/").content.decode()
    assert "Correct this turn" in page
    link = page.split('class="correct-turn"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    form = admin_client.get(link)
    assert urlsplit(link).path == "/admin/assistant/parserexample/add/"
    initial = form.context["adminform"].form.initial
    assert (initial["text"], initial["intent"], initial["slots"]) == ("smth for my nan", "out_of_scope", {})

    corrected = admin_client.post(
        link,
        {"text": "smth for my nan", "intent": "search", "slots": '{"category": "gift"}', "reviewed": "on"},
    )
    assert corrected.status_code == 302
    assert conversation.messages.count() == 2  # the transcript is kept as it was


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("review", "matching"),
    [
        ("low_confidence", {"role": "user", "text": "uhh thing", "confidence": 0.3}),
        ("no_result", {"role": "assistant", "text": "Sorry, we don't sell fridge.", "outcome": "no_result"}),
        ("relaxed", {"role": "assistant", "text": "No leather bookcase; here…", "outcome": "relaxed"}),
        ("clarified", {"role": "assistant", "text": "More of what?", "outcome": "clarified"}),
    ],
)
def test_the_review_filters_find_the_turns_worth_a_look(admin_client, db, review, matching):
    plain = conversation_with(
        {"role": "user", "text": "plain sofa", "confidence": 0.99},
        {"role": "assistant", "text": "Here are 4."},
    )
    flagged = conversation_with({"role": "user", "text": "flagged one", "confidence": 0.9}, matching)
    shown = admin_client.get(f"{CONVERSATIONS}?review={review}").context["cl"].result_list
    assert [conversation.pk for conversation in shown] == [flagged.pk]
    assert plain.pk not in [conversation.pk for conversation in shown]


@pytest.mark.django_db
def test_the_disliked_filter_finds_sessions_with_negative_feedback(admin_client, small_catalog):
    liked = conversation_with({"role": "user", "text": "sofa"})
    disliked = conversation_with({"role": "user", "text": "sofa too"})
    product = Product.objects.first()
    FeedbackEvent.objects.create(session_key=liked.session_key, product=product, action="like")
    FeedbackEvent.objects.create(session_key=disliked.session_key, product=product, action="dislike")
    shown = admin_client.get(f"{CONVERSATIONS}?review=disliked").context["cl"].result_list
    assert [conversation.pk for conversation in shown] == [disliked.pk]


@pytest.mark.django_db
def test_a_training_job_shows_its_scores_and_corrections_in_words_not_json(admin_client):
    from assistant.models import TrainingJob

    job = TrainingJob.objects.create(
        status="succeeded",
        version="20261204T180453.325945",
        progress={"stage": "done", "step": 39, "steps": 39, "epoch": 3, "loss": 2.9},
        metrics={
            "utterances": 209,
            "intent_accuracy": 0.7081,
            "slot_f1": 0.377,
            "slot_precision": 0.586,
            "slot_recall": 0.2779,
            "exact_frame": 0.2105,
            "per_intent": {"more": {"f1": 0.0}, "search": {"f1": 0.93}},
            "corrections": {"count": 2, "accuracy": 1.0, "before": 0.5},
        },
    )
    listed = admin_client.get("/admin/assistant/trainingjob/").content.decode()
    assert "intent 70.8%, slots 37.7%" in listed
    assert "50% → 100% of 2" in listed
    assert ">20261204T180453<" in listed  # the version without its microseconds
    page = admin_client.get(f"/admin/assistant/trainingjob/{job.pk}/change/").content.decode()
    assert "209 utterances: intent accuracy 70.8%, slot F1 37.7%" in page
    assert "weakest first: more 0.00, search 0.93" in page
    assert "done, step 39 of 39 (epoch 3)" in page
    assert "per_intent" not in page  # no raw JSON
