"""The smaller security gaps of issue 13: weak secrets, unsafe URLs, the WebSocket origin, feedback
for products never shown."""

import json
import secrets
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.admin.sites import site
from django.core.exceptions import ImproperlyConfigured
from playwright.sync_api import expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from assistant import services
from catalog.importers import read_catalog
from catalog.links import safe_url
from catalog.models import Product
from catalog.services import import_rows
from config.asgi import application
from config.origins import origin_allowed
from config.settings.base import DEV_SECRET_KEY, refuse_weak_secret
from recsys_plugins.models import FeedbackEvent

from .test_browser import chat_page, say
from .test_http_api import post
from .test_settings import settings_of

# ------------------------------------------------------------------------------ secrets

STRONG_SECRET = secrets.token_urlsafe(50)


@pytest.mark.parametrize(
    "secret",
    [
        "change-me",
        "changeme",
        "secret",
        "django-insecure-" + secrets.token_urlsafe(50),  # startproject's throwaway key
        "short-but-random-Q7x",  # under Django's 50 characters
        "ab" * 40,  # long, but fewer than 5 distinct characters
    ],
)
def test_debug_off_refuses_known_default_and_weak_secrets(secret):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        refuse_weak_secret(False, secret)
    refuse_weak_secret(True, secret)  # development may use anything


def test_a_strong_secret_is_accepted_with_debug_off():
    refuse_weak_secret(False, STRONG_SECRET)
    with pytest.raises(ImproperlyConfigured, match="must be set"):
        refuse_weak_secret(False, DEV_SECRET_KEY)


@pytest.mark.parametrize(("secret", "says"), [("change-me", "known default"), ("k3y-" * 10, "weak")])
def test_production_settings_refuse_the_compose_default_and_weak_keys(tmp_path, secret, says):
    refused = settings_of("config.settings.production", DATA_DIR=str(tmp_path), SECRET_KEY=secret)
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr
    assert says in refused.stderr
    accepted = settings_of("config.settings.production", DATA_DIR=str(tmp_path), SECRET_KEY=STRONG_SECRET)
    assert accepted.returncode == 0, accepted.stderr


def test_compose_ships_no_usable_secret():
    compose = (Path(__file__).resolve().parent.parent / "docker" / "docker-compose.yml").read_text()
    assert "SECRET_KEY: ${SECRET_KEY:?" in compose
    assert "change-me" not in compose


# ------------------------------------------------------------------------------ URLs

UNSAFE_URLS = [
    "//evil.example/x.png",
    "/\\evil.example/x.png",  # browsers read a backslash as a slash
    "/\t/evil.example/x.png",  # and drop tabs and newlines
    "javascript:alert(1)",
    " JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://files.example/x.png",
    "https:///no-host",
    "x.png",
]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_unsafe_urls_are_refused(url):
    assert safe_url(url) == ""


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://cdn.example/a.png", "https://cdn.example/a.png"),
        ("HTTPS://cdn.example/a.png", "HTTPS://cdn.example/a.png"),
        ("http://cdn.example/a.png", "https://cdn.example/a.png"),  # upgraded, never mixed content
        ("/media/a.png", "/media/a.png"),
        ('/missing.png" onerror="x', '/missing.png" onerror="x'),  # a path; set as a property, harmless
        ("", ""),
    ],
)
def test_same_site_paths_and_https_urls_are_kept(url, safe):
    assert safe_url(url) == safe


@pytest.mark.django_db
def test_the_importer_rejects_rows_with_unsafe_urls_and_upgrades_http(tmp_path):
    rows = [
        {"sku": "U-1", "title": "Lamp", "price": 10, "image_url": "//evil.example/x.png"},
        {"sku": "U-2", "title": "Lamp", "price": 10, "url": "javascript:alert(1)"},
        {"sku": "U-3", "title": "Lamp", "price": 10, "image_url": "http://cdn.example/3.png", "url": "/p/3"},
    ]
    path = tmp_path / "urls.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    summary = import_rows(read_catalog(path, "jsonl"))
    assert [(r["row"], "image_url" in r["reason"] or "url" in r["reason"]) for r in summary.rejected] == [
        (1, True),
        (2, True),
    ]
    assert list(Product.objects.values_list("sku", "image_url", "url")) == [
        ("U-3", "https://cdn.example/3.png", "/p/3")
    ]


@pytest.fixture
def unsafe_product(small_catalog) -> Product:
    """A product whose links were stored before the importer checked them (or typed in by hand)."""
    product = Product.objects.get(sku=small_catalog[0])
    product.image_url = "//evil.example/x.png"
    product.url = "javascript:alert(1)"
    product.save()
    return product


@pytest.mark.django_db
def test_unsafe_stored_urls_never_reach_a_product_card(unsafe_product):
    card = services.product_card(unsafe_product, "")
    assert (card["image_url"], card["url"]) == ("", "")


@pytest.mark.django_db
def test_unsafe_stored_urls_never_reach_the_admin_thumbnail(admin_client, unsafe_product):
    thumbnail = site.get_model_admin(Product).thumbnail(unsafe_product)
    assert "evil.example" not in thumbnail
    page = admin_client.get(f"/admin/catalog/product/{unsafe_product.pk}/change/").content.decode()
    assert 'src="//evil.example' not in page


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_chat_page_renders_no_unsafe_url_the_server_sends(indexed_catalog, daphne_server, chromium_path):
    """Even a reply with unsafe links (an older server, a proxy) shows neither the image nor the link."""

    def route(ws) -> None:
        server = ws.connect_to_server()

        def forward(message: str) -> None:
            frame = json.loads(message)
            for card in frame.get("products", []):
                card["image_url"], card["url"] = "//evil.example/x.png", "//evil.example/page"
            if frame.get("products"):
                frame["products"][0]["url"] = "javascript:window.__pwned=1"
            ws.send(json.dumps(frame))

        server.on_message(forward)

    with chat_page(daphne_server, chromium_path, route=route) as (page, errors):
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        say(page, "grey sofa")
        cards = page.locator(".msg.assistant .product-card")
        expect(cards.first).to_be_visible()
        page.wait_for_timeout(500)  # time for an image request to go out
        assert cards.locator("a").count() == 0
        expect(cards.first.locator(".thumb .placeholder")).to_be_visible()
    assert errors == []
    assert not [url for url in requested if "evil.example" in url]


# ------------------------------------------------------------------------------ WebSocket origin


@pytest.mark.parametrize(
    ("origin", "scheme", "host", "allowed"),
    [
        ("http://shop.example", "ws", "shop.example", True),
        ("http://shop.example:80", "ws", "shop.example", True),
        ("https://shop.example", "wss", "shop.example:443", True),
        ("http://shop.example:8080", "ws", "shop.example:8000", False),  # another port
        ("https://shop.example", "ws", "shop.example", False),  # another scheme
        ("http://shop.example", "wss", "shop.example", False),
        ("http://evil.example", "ws", "evil.example", False),  # its own origin, but not an allowed host
        ("null", "ws", "shop.example", False),
        (None, "ws", "shop.example", False),
        ("https://partner.example", "ws", "shop.example", True),  # CSRF_TRUSTED_ORIGINS
        ("https://partner.example:8443", "ws", "shop.example", False),
        ("https://a.cdn.example", "ws", "shop.example", True),  # https://*.cdn.example
        ("http://a.cdn.example", "ws", "shop.example", False),
    ],
)
def test_only_the_exact_own_or_a_trusted_origin_is_allowed(origin, scheme, host, allowed):
    trusted = ["https://partner.example", "https://*.cdn.example"]
    assert origin_allowed(origin, scheme, host, ["shop.example", "localhost"], trusted) is allowed


@pytest.mark.django_db(transaction=True)
def test_a_websocket_from_the_same_host_on_another_port_or_scheme_is_refused(daphne_server):
    own = daphne_server  # http://127.0.0.1:PORT
    uri = own.replace("http://", "ws://") + "/ws/chat/"
    host, port = own.removeprefix("http://").split(":")
    for foreign in (f"http://{host}:{int(port) + 1}", f"https://{host}:{port}", f"http://{host}"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(uri, origin=foreign, open_timeout=10).close()
        assert refused.value.response.status_code == 403, foreign
    with ws_connect(uri, origin=own, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "reset"}))
        assert json.loads(socket.recv(timeout=10))["intent"] == "reset"


# ------------------------------------------------------------------------------ feedback


@pytest.mark.django_db
def test_http_feedback_needs_a_conversation_that_showed_the_product(client, indexed_catalog):
    never_chatted = post(
        client, "/api/feedback/", {"session": "stranger-1", "sku": indexed_catalog[0], "action": "like"}
    )
    assert never_chatted.status_code == 400
    assert never_chatted.json()["code"] == "not_shown"

    sofas = post(client, "/api/chat/", {"session": "shopper-1", "text": "grey sofa"}).json()["products"]
    lamps = post(client, "/api/chat/", {"session": "shopper-1", "text": "floor lamp"}).json()["products"]
    shown = {card["sku"] for card in sofas + lamps}
    unseen = next(sku for sku in indexed_catalog if sku not in shown)
    refused = post(client, "/api/feedback/", {"session": "shopper-1", "sku": unseen, "action": "like"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "not_shown"
    assert not FeedbackEvent.objects.exists()

    earlier = sofas[0]["sku"]  # from an earlier reply, not the last list
    stored = post(client, "/api/feedback/", {"session": "shopper-1", "sku": earlier, "action": "like"})
    assert stored.status_code == 201, stored.json()
    assert list(FeedbackEvent.objects.values_list("session_key", "product__sku")) == [
        ("api:shopper-1", earlier)
    ]


async def _socket() -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_websocket_feedback_needs_a_conversation_that_showed_the_product(indexed_catalog):
    communicator = await _socket()
    await communicator.send_json_to({"type": "feedback", "sku": indexed_catalog[0], "action": "like"})
    answer = await communicator.receive_json_from(timeout=10)
    assert (answer["type"], answer["code"]) == ("error", "not_shown")

    await communicator.send_json_to({"type": "message", "text": "grey sofa"})
    shown = {card["sku"] for card in (await communicator.receive_json_from(timeout=30))["products"]}
    unseen = next(sku for sku in indexed_catalog if sku not in shown)
    await communicator.send_json_to({"type": "feedback", "sku": unseen, "action": "add_to_cart"})
    answer = await communicator.receive_json_from(timeout=10)
    assert (answer["type"], answer["code"]) == ("error", "not_shown")
    assert not await FeedbackEvent.objects.aexists()

    sku = sorted(shown)[0]
    await communicator.send_json_to({"type": "feedback", "sku": sku, "action": "like"})
    ack = await communicator.receive_json_from(timeout=10)
    assert (ack["type"], ack["sku"], ack["action"]) == ("ack", sku, "like")
    await communicator.disconnect()
    assert [e.product.sku async for e in FeedbackEvent.objects.select_related("product")] == [sku]
