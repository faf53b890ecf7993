"""The chat WebSocket through the real ASGI stack (session and origin middleware)."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore

from assistant import parsing
from assistant.consumers import MAX_PROTOCOL_ERRORS, POLICY_VIOLATION
from assistant.dialogue.state import DialogueState
from assistant.models import Conversation, Message
from catalog.models import Product
from config.asgi import application
from recsys_plugins.models import FeedbackEvent

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


async def connect(headers: list[tuple[bytes, bytes]] = ORIGIN) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
async def test_message_gets_products_ranked_by_similarity(indexed_catalog):
    communicator = await connect()
    await communicator.send_json_to({"type": "message", "text": "grey sofa"})
    reply = await communicator.receive_json_from(timeout=30)
    await communicator.disconnect()

    assert reply["type"] == "reply"
    assert reply["intent"] == "search"
    assert set(reply) >= {"text", "slots", "state", "products", "compare", "suggestions"}
    products = reply["products"]
    assert 1 <= len(products) <= 10
    assert set(products[0]) == {"sku", "title", "price", "currency", "brand", "categories",
                                "image_url", "url", "rating", "explanation"}  # fmt: skip
    assert "sofa" in products[0]["title"].lower()
    assert all(p["sku"] in indexed_catalog for p in products)


@pytest.mark.django_db(transaction=True)
async def test_malformed_frames_get_errors_and_the_connection_stays_open(indexed_catalog, settings):
    settings.AISLE_RATE_LIMIT_PER_SESSION = ""  # the frames go back to back; the rate limit has its own test
    communicator = await connect()
    bad_frames = [
        ("{not json", "invalid_json"),
        (json.dumps(["a", "list"]), "invalid_message"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "message"}), "invalid_message"),
        (json.dumps({"type": "message", "text": "   "}), "empty_message"),
        (json.dumps({"type": "message", "text": "x" * 1001}), "message_too_long"),
        ("x" * 20_000, "message_too_long"),
        (json.dumps({"type": "feedback", "sku": "NOPE", "action": "like"}), "unknown_sku"),
        (json.dumps({"type": "feedback", "sku": indexed_catalog[0], "action": "steal"}), "invalid_feedback"),
    ]
    for frame, code in bad_frames:
        await communicator.send_to(text_data=frame)
        answer = await communicator.receive_json_from(timeout=10)
        assert (answer["type"], answer["code"]) == ("error", code), frame[:40]
        assert answer["message"]
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from())["code"] == "invalid_message"

    # Still open and working after all that.
    await communicator.send_json_to({"type": "message", "text": "white bookcase"})
    assert (await communicator.receive_json_from(timeout=30))["type"] == "reply"
    await communicator.disconnect()
    assert not await FeedbackEvent.objects.aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_keeps_sending_garbage_is_disconnected(db):
    communicator = await connect()
    for _ in range(MAX_PROTOCOL_ERRORS):
        await communicator.send_to(text_data="garbage")
        await communicator.receive_json_from()
    assert (await communicator.receive_output())["code"] == POLICY_VIOLATION


@pytest.mark.django_db(transaction=True)
async def test_frames_over_the_rate_limit_are_refused_unprocessed_until_the_window_moves(
    indexed_catalog, settings
):
    settings.AISLE_RATE_LIMIT_PER_SESSION = "3 per 2 seconds"
    communicator = await connect()
    # Feedback is taken only on products the chat has shown.
    await communicator.send_json_to({"type": "message", "text": "lamp"})
    skus = [card["sku"] for card in (await communicator.receive_json_from(timeout=30))["products"]][:6]
    assert len(skus) == 6
    await asyncio.sleep(2.1)  # the message has left the window
    for sku in skus[:5]:  # back to back: three, then two over the limit
        await communicator.send_json_to({"type": "feedback", "sku": sku, "action": "like"})
    answers = [await communicator.receive_json_from(timeout=10) for _ in range(5)]
    assert [a["type"] for a in answers] == ["ack", "ack", "ack", "error", "error"]
    assert [a["sku"] for a in answers[:3]] == skus[:3]
    assert {a["code"] for a in answers[3:]} == {"rate_limited"}
    assert "slow down" in answers[3]["message"]
    stored = [e.product.sku async for e in FeedbackEvent.objects.select_related("product").order_by("pk")]
    assert stored == skus[:3]  # the refused frames were not processed

    await asyncio.sleep(2.1)  # the three have left the window
    await communicator.send_json_to({"type": "feedback", "sku": skus[5], "action": "like"})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "ack"
    await communicator.disconnect()
    assert await FeedbackEvent.objects.filter(product__sku=skus[5]).aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_client_flooding_valid_frames_is_disconnected(db, settings):
    settings.AISLE_RATE_LIMIT_PER_SESSION = "1 per hour"
    communicator = await connect()
    for _ in range(MAX_PROTOCOL_ERRORS + 1):
        await communicator.send_json_to({"type": "reset"})
    assert (await communicator.receive_json_from(timeout=10))["intent"] == "reset"
    for _ in range(MAX_PROTOCOL_ERRORS):
        assert (await communicator.receive_json_from(timeout=10))["code"] == "rate_limited"
    assert (await communicator.receive_output())["code"] == POLICY_VIOLATION


@pytest.mark.django_db(transaction=True)
async def test_a_new_connection_of_the_same_session_does_not_reset_the_limit(db, settings):
    settings.AISLE_RATE_LIMIT_PER_SESSION = "2 per hour"
    store = SessionStore()
    await sync_to_async(store.create)()
    headers = [*ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode())]
    first = await connect(headers)
    for _ in range(2):
        await first.send_json_to({"type": "reset"})
        assert (await first.receive_json_from(timeout=10))["intent"] == "reset"
    await first.disconnect()
    again = await connect(headers)  # reconnecting used to start a fresh allowance
    await again.send_json_to({"type": "reset"})
    assert (await again.receive_json_from(timeout=10))["code"] == "rate_limited"
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_feedback_is_stored_and_acknowledged(indexed_catalog):
    communicator = await connect()
    await communicator.send_json_to({"type": "message", "text": "phone case"})
    shown = (await communicator.receive_json_from(timeout=30))["products"]
    sku = shown[1]["sku"]
    await communicator.send_json_to({"type": "feedback", "sku": sku, "action": "like"})
    ack = await communicator.receive_json_from()
    assert (ack["type"], ack["sku"], ack["action"], ack["liked"]) == ("ack", sku, "like", [sku])
    assert ack["cart"] == {"items": [], "count": 0, "totals": {}}
    await communicator.disconnect()

    event = await FeedbackEvent.objects.select_related("product").aget()
    assert (event.product.sku, event.action, event.ranker) == (sku, "like", "hybrid")
    assert event.context == {"query": "phone case", "position": 2}


@pytest.mark.django_db(transaction=True)
async def test_reconnecting_with_the_session_replays_history_and_reset_clears_state(indexed_catalog):
    communicator = await connect()
    await communicator.send_json_to({"type": "message", "text": "sofa"})
    first = await communicator.receive_json_from(timeout=30)
    await communicator.send_json_to({"type": "message", "text": "compare the first two"})
    compared = await communicator.receive_json_from(timeout=30)
    await communicator.disconnect()
    assert compared["compare"]["skus"] == [p["sku"] for p in first["products"][:2]]

    conversation = await Conversation.objects.aget()
    cookie = (b"cookie", f"sessionid={conversation.session_key}".encode())
    again = await connect([*ORIGIN, cookie])
    history = await again.receive_json_from()
    assert history["type"] == "history"
    assert [(m["role"], m["text"]) for m in history["messages"]] == [
        ("user", "sofa"),
        ("assistant", first["text"]),
        ("user", "compare the first two"),
        ("assistant", compared["text"]),
    ]
    assert [p["sku"] for p in history["messages"][1]["products"]] == [p["sku"] for p in first["products"]]
    assert history["messages"][1]["compare"] is None
    assert history["messages"][3]["compare"] == compared["compare"]  # the table comes back too

    await again.send_json_to({"type": "reset"})
    reset = await again.receive_json_from()
    await again.disconnect()
    assert reset["intent"] == "reset"
    assert reset["state"] == {"query": "", "cart": []}
    await conversation.arefresh_from_db()
    assert DialogueState.from_dict(conversation.state) == DialogueState()  # nothing was in the cart
    assert await Message.objects.acount() == 4  # reset keeps the record


@pytest.mark.django_db(transaction=True)
async def test_foreign_origins_are_refused(db):
    communicator = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"http://evil.example"), (b"host", b"localhost")]
    )
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
async def test_empty_catalog_says_so(db):
    communicator = await connect()
    await communicator.send_json_to({"type": "message", "text": "sofa"})
    reply = await communicator.receive_json_from(timeout=30)
    await communicator.disconnect()
    assert reply["products"] == []
    assert "empty" in reply["text"]
    assert not await Product.objects.aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_guessed_session_cookie_reaches_no_one_elses_history(indexed_catalog):
    from django.test import AsyncClient

    reply = await AsyncClient().post(
        "/api/chat/", {"session": "shopper-123", "text": "sofa"}, content_type="application/json"
    )
    assert reply.status_code == 200
    for guess in ("shopper-123", "api:shopper-123", "0" * 32):
        communicator = await connect([*ORIGIN, (b"cookie", f"sessionid={guess}".encode())])
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_two_connections_turns_run_at_once_and_each_answers_in_order(indexed_catalog, monkeypatch):
    # Each turn waits at the barrier until the other connection's turn has started too: run one
    # after the other, the first would wait alone and fail after the timeout.
    barrier = threading.Barrier(2, timeout=20)
    parse = parsing.parse

    def parse_once_both_are_in(text: str):
        if text.startswith("sofa"):
            barrier.wait()
        return parse(text)

    monkeypatch.setattr(parsing, "parse", parse_once_both_are_in)
    first, second = await connect(), await connect()
    await first.send_json_to({"type": "message", "text": "sofa please"})
    await second.send_json_to({"type": "message", "text": "sofa in grey"})
    await first.send_json_to({"type": "message", "text": "lamp"})  # after its sofa, on the same connection
    replies = [
        await first.receive_json_from(timeout=60),
        await second.receive_json_from(timeout=60),
        await first.receive_json_from(timeout=60),
    ]
    await first.disconnect()
    await second.disconnect()
    assert [reply["type"] for reply in replies] == ["reply", "reply", "reply"], replies
    assert [reply["intent"] for reply in replies] == ["search", "search", "search"]
    assert "sofa" in replies[0]["slots"].get("category", "sofa please")
    assert replies[2]["slots"].get("category") == "lamp"
