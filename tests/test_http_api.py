"""The JSON API and the health check (CONTRACTS §5)."""

import json

import pytest

from assistant.models import Message
from catalog.models import Product
from recsys_plugins.models import FeedbackEvent


def post(client, url: str, body) -> "object":
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


@pytest.mark.django_db
def test_chat_api_returns_the_reply_and_its_session(client, indexed_catalog):
    response = post(client, "/api/chat/", {"text": "white bookcase"})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "reply"
    assert body["products"]
    assert body["session"]
    follow_up = post(client, "/api/chat/", {"session": body["session"], "text": "black phone case"}).json()
    assert follow_up["session"] == body["session"]
    assert Message.objects.filter(conversation__session_key=f"api:{body['session']}").count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{oops", "invalid_json"),
        ([1, 2], "invalid_json"),
        ({}, "invalid_message"),
        ({"text": ""}, "empty_message"),
        ({"text": "y" * 1001}, "message_too_long"),
        ({"text": "sofa", "session": "../../etc"}, "invalid_session"),
        ("x" * 20_000, "message_too_long"),
    ],
)
def test_chat_api_rejects_bad_input(client, body, code):
    response = post(client, "/api/chat/", body)
    assert response.status_code == 400
    assert response.json() == {"type": "error", "code": code, "message": response.json()["message"]}
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_search_api(client, indexed_catalog):
    body = client.get("/api/search/", {"q": "floor lamp", "k": 3}).json()
    assert len(body["results"]) == 3
    assert body["intent"] == "search"
    assert "lamp" in body["results"][0]["title"].lower()
    assert client.get("/api/search/", {"q": "lamp", "k": "many"}).json()["code"] == "invalid_k"
    assert client.get("/api/search/", {"q": "lamp", "k": 0}).status_code == 400
    assert client.get("/api/search/", {"q": ""}).json()["code"] == "empty_message"
    assert client.get("/api/search/", {"q": "lamp", "ranker": "nope"}).json()["code"] == "unknown_ranker"


@pytest.mark.django_db
def test_feedback_api(client, indexed_catalog):
    shown = post(client, "/api/chat/", {"session": "shopper-123", "text": "floor lamp"}).json()["products"]
    sku = shown[0]["sku"]  # feedback is taken only on products the chat has shown
    response = post(client, "/api/feedback/", {"session": "shopper-123", "sku": sku, "action": "add_to_cart"})
    assert response.status_code == 201
    assert response.json()["type"] == "ack"
    unknown = post(client, "/api/feedback/", {"session": "shopper-123", "sku": "NOPE", "action": "like"})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_sku"
    no_session = post(client, "/api/feedback/", {"sku": sku, "action": "like"})
    assert no_session.json()["code"] == "invalid_session"
    assert FeedbackEvent.objects.count() == 1


@pytest.mark.smoke
@pytest.mark.django_db
def test_healthz_reports_every_service(client, settings):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"]
    assert body["channel_layer"]["ok"]
    assert body["broker"]["ok"]
    expected_layer = "RedisChannelLayer" if settings.REDIS_URL else "InMemoryChannelLayer"
    assert body["channel_layer"]["backend"] == expected_layer
    assert body["models"]["encoder"] == "all-MiniLM-L6-v2"


@pytest.mark.django_db
def test_healthz_names_the_active_index_version(client, indexed_catalog):
    from catalog.indexing import index_store

    index = client.get("/healthz").json()["models"]["index"]
    expected = {"version": index_store().active_version(), "products": len(indexed_catalog), "kind": "flat"}
    assert index == expected


@pytest.mark.django_db
def test_healthz_reports_a_dead_broker(client, settings):
    from core.celery_app import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert not response.json()["broker"]["ok"]
    assert response.json()["database"]["ok"]


@pytest.mark.django_db
def test_chat_page_sets_a_session_and_loads_the_script(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "sessionid" in response.cookies
    assert b"assistant/chat.js" in response.content


@pytest.mark.django_db
def test_a_products_every_field_for_the_detail_view(client, indexed_catalog):
    product = Product.objects.get(sku=indexed_catalog[0])
    body = client.get(f"/api/products/{product.sku}/").json()
    assert (body["sku"], body["title"], body["price"]) == (product.sku, product.title, float(product.price))
    assert body["description"] == product.description
    assert body["attributes"] == product.attribute_dict()
    assert body["attributes"]
    missing = client.get("/api/products/NOPE/")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sku")
    assert client.get("/api/products/%00/").status_code == 404
    Product.objects.filter(pk=product.pk).update(is_active=False)
    assert client.get(f"/api/products/{product.sku}/").status_code == 404


@pytest.mark.django_db
def test_warm_up_searches_once_so_a_process_starts_with_its_models_loaded(indexed_catalog, caplog):
    from assistant import search, services

    search.query_vector.cache_clear()
    with caplog.at_level("WARNING"):
        services.warm_up()
    assert search.query_vector.cache_info().currsize == 1  # the query was encoded: encoder and index loaded
    assert "warm-up skipped" not in caplog.text


def test_warm_up_never_stops_a_process_whose_database_is_not_ready(caplog):
    from assistant import services

    services.warm_up()  # no database access in this test: the search fails inside
    assert "warm-up skipped" in caplog.text
