"""Hostile input over HTTP and the WebSocket: the contract's error, never a 500 or a dropped socket.

Each case here gave a 500 (HTML), a 200 that stored unstorable text, or closed the socket with 1011
before the protocol's decoder bounded depth, number size and characters (CONTRACTS §4/§5).
"""

import json
import socket

import pytest
from django.db import connection
from django.test import Client

from assistant.models import Message
from recsys_plugins.models import FeedbackEvent
from tests.test_chat_consumer import connect

DEEP_IN_OBJECT = '{"type": "message", "text": "sofa", "x": ' + "[" * 1500 + "]" * 1500 + "}"
DEEP_ARRAY = "[" * 8000 + "]" * 8000
HUGE_INT = '{"type": "message", "text": "sofa", "n": 1' + "0" * 5000 + "}"
SURROGATE_TEXT = '{"type": "message", "text": "sofa \\ud800"}'
NUL_TEXT = '{"type": "message", "text": "sofa\\u0000"}'
SURROGATE_SKU = '{"type": "feedback", "session": "abcdefgh12", "sku": "\\udfff", "action": "like"}'
NUL_SKU = '{"type": "feedback", "session": "abcdefgh12", "sku": "A\\u0000", "action": "like"}'

HOSTILE_BODIES = [
    pytest.param(DEEP_IN_OBJECT, "too_deep", id="nested-1500"),
    pytest.param(DEEP_ARRAY, "too_deep", id="nested-8000"),
    pytest.param('{"text": "sofa", "x": ' + "[" * 40 + "]" * 40 + "}", "too_deep", id="nested-40"),
    pytest.param(HUGE_INT, "number_too_large", id="int-5000-digits"),
    pytest.param('{"text": "sofa", "n": 1e999}', "number_too_large", id="float-overflow"),
    pytest.param(SURROGATE_TEXT, "invalid_characters", id="surrogate-text"),
    pytest.param(NUL_TEXT, "invalid_characters", id="nul-text"),
    pytest.param('{"text": "sofa", "\\u0000": 1}', "invalid_characters", id="nul-key"),
]


@pytest.fixture
def api() -> Client:
    """A test client that returns a 500 as the server would, instead of re-raising the exception."""
    return Client(raise_request_exception=False)


def assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:200]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body == {"type": "error", "code": code, "message": body["message"]}
    assert body["message"]


@pytest.mark.smoke
@pytest.mark.django_db
@pytest.mark.parametrize(("body", "code"), HOSTILE_BODIES)
def test_hostile_chat_bodies_are_refused(api, body, code):
    response = api.post("/api/chat/", data=body, content_type="application/json")
    assert_json_error(response, 400, code)
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        *HOSTILE_BODIES,
        pytest.param(SURROGATE_SKU, "invalid_characters", id="surrogate-sku"),
        pytest.param(NUL_SKU, "invalid_characters", id="nul-sku"),
    ],
)
def test_hostile_feedback_bodies_are_refused(api, small_catalog, body, code):
    response = api.post("/api/feedback/", data=body, content_type="application/json")
    assert_json_error(response, 400, code)
    assert not FeedbackEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": "sofa\x00"},
        {"q": "sofa", "category": "\x00"},
        {"q": "sofa", "brand": "ikea\x00"},
        {"q": "sofa", "color": "\x00grey"},
        {"q": "sofa", "material": "oak\x00"},
        {"q": "sofa", "ranker": "cosine\x00"},
        {"q": "sofa", "k": "3\x00"},
        {"q": "sofa", "\x00": "x"},
    ],
    ids=lambda params: "-".join(params)[:20].replace("\x00", "NUL"),
)
def test_search_query_strings_with_nul_are_refused(api, small_catalog, params):
    assert_json_error(api.get("/api/search/", params), 400, "invalid_characters")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("get", "/api/nope/", 404, "not_found"),
        ("get", "/api/rankers/nope", 404, "not_found"),
        ("get", "/api/chat/", 405, "method_not_allowed"),
        ("post", "/api/search/", 405, "method_not_allowed"),
        ("post", "/api/rankers/", 405, "method_not_allowed"),
        ("put", "/api/feedback/", 405, "method_not_allowed"),
    ],
)
def test_every_api_error_is_json(api, method, url, status, code):
    response = getattr(api, method)(url)
    assert_json_error(response, status, code)
    if status == 405:
        assert response["Allow"]


@pytest.mark.django_db
def test_pages_outside_the_api_keep_html_errors(api):
    response = api.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_a_server_error_in_the_api_is_json(api):
    """A real fault: the messages table is gone (renamed inside the test's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {Message._meta.db_table} RENAME TO broken_messages")
    response = api.post("/api/chat/", data={"text": "grey sofa"}, content_type="application/json")
    assert_json_error(response, 500, "server_error")


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
async def test_hostile_frames_get_errors_and_the_socket_stays_open(settings):
    settings.AISLE_RATE_LIMIT_PER_SESSION = ""  # the frames go back to back; the rate limit has its own test
    communicator = await connect()
    frames = [
        (DEEP_IN_OBJECT, "too_deep"),
        (DEEP_ARRAY, "too_deep"),
        ("[" * 9000 + "]" * 9000, "message_too_long"),  # over the frame limit: never parsed
        (HUGE_INT, "number_too_large"),
        (SURROGATE_TEXT, "invalid_characters"),
        (NUL_TEXT, "invalid_characters"),
        (SURROGATE_SKU, "invalid_characters"),
        (NUL_SKU, "invalid_characters"),
        (json.dumps({"type": "reset", "junk": "\x00"}), "invalid_characters"),
    ]
    for frame, code in frames:
        await communicator.send_to(text_data=frame)
        answer = await communicator.receive_json_from(timeout=10)
        assert (answer["type"], answer["code"]) == ("error", code), frame[:60]
        assert answer["message"]

    await communicator.send_json_to({"type": "reset"})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "reply"
    await communicator.disconnect()
    assert not await Message.objects.aexists()
    assert not await FeedbackEvent.objects.aexists()


def raw_http(base_url: str, request: bytes) -> bytes:
    """Send ``request`` as it is to the server and read until it closes the connection."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


LONG = b"a" * 17_000


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /api/search/?q=" + LONG + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"414", "uri_too_long"),
        (b"GET /api/search/?q=sofa HTTP/1.1\r\nX-Big: " + LONG + b"\r\n\r\n", b"431", "header_too_long"),
    ],
    ids=["url", "header"],
)
def test_over_long_lines_get_an_answer_not_a_dropped_connection(daphne_server, request_bytes, status, code):
    answer = raw_http(daphne_server, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert json.loads(body) == {"type": "error", "code": code, "message": json.loads(body)["message"]}
    # The server is still there for the next client.
    assert raw_http(daphne_server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
