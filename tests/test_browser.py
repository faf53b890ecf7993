"""The chat page in headless Debian Chromium, against a real Daphne."""

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from assistant.models import Conversation
from catalog.importers import read_catalog
from catalog.indexing import build_index
from catalog.models import Product
from catalog.services import import_rows
from recsys_plugins.models import FeedbackEvent

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chat_page(
    server: str, chromium_path: Path, route: Callable | None = None, cookies: Sequence = (), **options: Any
) -> Iterator[tuple[Page, list[str]]]:
    """Headless Chromium on the chat page, connected; yields the page and the script errors it
    raised. ``route`` handles the page's WebSockets; ``cookies`` are set before it loads;
    ``options`` go to the browser context (a viewport, for example)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_FLAGS)
        context = browser.new_context(**options)
        context.add_cookies(list(cookies))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        if route is not None:
            page.route_web_socket("**/ws/chat/", route)
        page.goto(server + "/")
        wait_connected(page)
        yield page, errors
        browser.close()


def wait_connected(page: Page) -> None:
    expect(page.locator("#connection-status")).to_have_text("Connected", timeout=15_000)


@pytest.mark.smoke
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_grey_sofa_shows_product_cards(indexed_catalog, daphne_server, chromium_path, tmp_path):
    with chat_page(daphne_server, chromium_path) as (page, errors):
        page.fill("#chat-input", "grey sofa")
        page.press("#chat-input", "Enter")

        cards = page.locator(".msg.assistant .product-card")
        expect(cards.first).to_be_visible(timeout=30_000)
        assert 1 <= cards.count() <= 10
        assert "sofa" in cards.first.locator(".title").inner_text().lower()
        page.screenshot(path=str(tmp_path / "grey-sofa.png"), full_page=True)
    assert errors == []


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def say(page, text: str) -> None:
    replies = page.locator(".msg.assistant").count()
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    expect(page.locator(".msg.assistant")).to_have_count(replies + 1, timeout=30_000)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_whole_conversation_search_refine_compare_question_cart_like(
    indexed_catalog, daphne_server, chromium_path
):
    phone = {"width": 390, "height": 844}
    with chat_page(daphne_server, chromium_path, viewport=phone) as (page, errors):
        say(page, "table")
        say(page, "cheaper")
        latest = page.locator(".msg.assistant").last
        expect(latest).to_contain_text("under")
        listed = [card.get_attribute("data-sku") for card in latest.locator(".product-card").all()]
        assert len(listed) >= 2, latest.inner_text()
        titles = latest.locator(".product-card .title").all_inner_texts()[:2]
        say(page, "compare the first two")
        columns = page.locator(".msg.assistant").last.locator("table.compare thead th")
        expect(columns).to_have_text(["", *titles])  # products named by title, not SKU
        say(page, "how much is the first one")
        say(page, "add it to my cart")
        expect(page.locator("#cart-count")).to_have_text("1")
        like = page.locator(".msg.assistant .product-card").first.locator("button.like")
        liked_sku = page.locator(".msg.assistant .product-card").first.get_attribute("data-sku")
        like.click()
        expect(like).to_have_attribute("aria-pressed", "true", timeout=10_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)  # the liked card
        page.locator("table.compare").scroll_into_view_if_needed()  # then the question and cart below
        page.screenshot(path=str(ARTIFACTS / "conversation-end.png"))
        page.reload()  # the history brings the cards, the table and the cart count back
        expect(page.locator("table.compare thead th")).to_have_text(["", *titles], timeout=15_000)
        expect(page.locator("#cart-count")).to_have_text("1")
    assert errors == []
    events = list(FeedbackEvent.objects.order_by("pk").values_list("product__sku", "action"))
    assert events == [(listed[0], "add_to_cart"), (liked_sku, "like")]


def focus_matches(page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


def press_until_focused(page, key: str, selector: str, limit: int = 60) -> bool:
    """Press ``key`` (Tab or Shift+Tab) until the focused element matches ``selector``."""
    for _ in range(limit):
        if focus_matches(page, selector):
            return True
        page.keyboard.press(key)
    return focus_matches(page, selector)


HOSTILE_SKU = "HOSTILE-0001"
HOSTILE_TITLE = 'Zorblax sofa <img src=x onerror="window.__pwned=1"> <b>bold</b> grey'
HOSTILE_ROW = {
    "sku": HOSTILE_SKU,
    "title": HOSTILE_TITLE,
    "description": (
        'A grey zorblax sofa. <script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">'
    ),
    "brand": '<b>bold</b><img src=x onerror="window.__pwned=4">',
    "categories": ["Furniture > Sofas"],
    "price": 499.0,
    "currency": "USD",
    "attributes": {"type": "sofa", "color": ["grey"]},
    # A path the importer accepts; an attribute built by string concatenation would run its handler.
    "image_url": '/missing.png" onerror="window.__pwned=5',
    "url": "https://demo.aisle.example/p/HOSTILE-0001",
    "rating": 4.0,
    "stock": 3,
}


@pytest.fixture
def hostile_catalog(small_catalog: list[str], tmp_path: Path) -> str:
    """The small catalog plus one product whose text is HTML, imported and indexed like any other."""
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(HOSTILE_ROW) + "\n", encoding="utf-8")
    summary = import_rows(read_catalog(path, "jsonl"))
    assert summary.created == 1, summary.rejected
    build_index()
    return HOSTILE_SKU


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_catalog_html_is_shown_as_text_and_never_runs(hostile_catalog, daphne_server, chromium_path):
    stored_title = Product.objects.get(sku=hostile_catalog).title  # the ORM is not for Playwright's loop
    with chat_page(daphne_server, chromium_path) as (page, errors):
        say(page, "grey zorblax sofa")
        card = page.locator(f'.msg.assistant .product-card[data-sku="{hostile_catalog}"]').first
        expect(card).to_be_visible()
        # Give an injected handler time to run before looking for its mark.
        page.wait_for_timeout(500)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        messages = page.locator("#messages")
        assert messages.locator('img[src="x"]').count() == 0
        assert messages.locator("b, script").count() == 0
        assert messages.locator("[onerror]").count() == 0
        expect(card.locator(".title")).to_have_text(stored_title)
        assert '<img src=x onerror="window.__pwned=1">' in card.locator(".title").inner_text()
        expect(card.locator(".brand")).to_have_text(HOSTILE_ROW["brand"])
        # The image URL is set as a property: it 404s and the card falls back to its placeholder.
        expect(card.locator(".thumb .placeholder")).to_have_text("Z")
    assert errors == []


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_chat_works_from_the_keyboard_alone(indexed_catalog, daphne_server, chromium_path):
    with chat_page(daphne_server, chromium_path) as (page, errors):
        assert press_until_focused(page, "Tab", "#chat-input", limit=10), "Tab never reached the input"
        page.keyboard.type("grey sofa")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.user")).to_have_text(["grey sofa"])
        expect(page.locator(".msg.assistant .product-card").first).to_be_visible(timeout=30_000)
        expect(page.locator("#chat-input")).to_be_focused()
        expect(page.locator("#chat-input")).to_have_value("")

        # The reply's suggestion chips sit just before the composer in tab order.
        assert press_until_focused(page, "Shift+Tab", "button.suggestion", limit=5), "no chip reachable"
        chip = page.evaluate("document.activeElement.textContent")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.user")).to_have_text(["grey sofa", chip])
        expect(page.locator(".msg.assistant")).to_have_count(3, timeout=30_000)  # the greeting, two replies
        # The chips are replaced by the reply's, so keyboard focus must not fall back to <body>.
        expect(page.locator("#chat-input")).to_be_focused()

        assert press_until_focused(page, "Shift+Tab", ".product-card button.like"), "no Like reachable"
        liked = page.evaluate("document.activeElement.closest('.product-card').dataset.sku")
        focused_like = page.locator(".product-card button.like:focus")
        expect(focused_like).to_have_attribute("aria-pressed", "false")
        page.keyboard.press("Enter")
        expect(focused_like).to_have_attribute("aria-pressed", "true", timeout=10_000)
    assert errors == []
    assert list(FeedbackEvent.objects.values_list("product__sku", "action")) == [(liked, "like")]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_dropped_socket_reconnects_with_back_off_and_replays_history(
    indexed_catalog, daphne_server, chromium_path
):
    sockets: list = []  # the page side of each connection the page opened
    frames: list[str] = []  # the type of each frame the server sent, in order
    refuse = {"next": 0}  # how many of the next connection attempts to fail

    def route(ws) -> None:
        sockets.append(ws)
        if refuse["next"]:
            refuse["next"] -= 1
            ws.close()  # closed before it opened: a failed attempt, as the page sees it
            return
        server = ws.connect_to_server()

        def forward(message) -> None:
            frames.append(json.loads(message)["type"])
            ws.send(message)

        server.on_message(forward)

    with chat_page(daphne_server, chromium_path, route=route) as (page, errors):
        status = page.locator("#connection-status")

        say(page, "grey sofa")
        first = page.locator(".msg.assistant .product-card").first
        in_cart = first.get_attribute("data-sku")
        first.locator("button.add_to_cart").click()
        expect(page.locator("#cart-count")).to_have_text("1", timeout=10_000)
        assert frames == ["reply", "ack"]
        page.locator("#messages .msg").first.evaluate("node => { node.dataset.beforeDrop = 'yes'; }")

        refuse["next"] = 1
        sockets[0].close()
        expect(status).to_have_text("Reconnecting in 1s\u2026")
        expect(page.locator("#chat-form button[type=submit]")).to_be_disabled()
        # The first attempt fails, so the wait doubles.
        expect(status).to_have_text("Reconnecting in 2s\u2026", timeout=5_000)
        wait_connected(page)
        assert len(sockets) == 3
        expect(page.locator("#chat-form button[type=submit]")).to_be_enabled()
        # The history frame re-rendered the conversation: same messages, new nodes.
        assert frames[2:] == ["history"]
        expect(page.locator("#messages [data-before-drop]")).to_have_count(0)
        expect(page.locator(".msg.user")).to_have_text(["grey sofa"])
        expect(page.locator(".msg.assistant .product-card").first).to_have_attribute("data-sku", in_cart)
        expect(page.locator("#cart-count")).to_have_text("1")

        say(page, "cheaper")
        expect(page.locator(".msg.assistant").last).to_contain_text("under")

        page.reload()
        wait_connected(page)
        expect(page.locator("#cart-count")).to_have_text("1")
        expect(page.locator(".msg.user")).to_have_text(["grey sofa", "cheaper"])
        expect(page.locator(".msg.assistant")).to_have_count(2)
    assert errors == []


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_socket_closed_for_abuse_is_not_reopened(indexed_catalog, daphne_server, chromium_path):
    servers: list = []  # the server side of each connection the page opened

    def route(ws) -> None:
        servers.append(ws.connect_to_server())

    with chat_page(daphne_server, chromium_path, route=route) as (page, _):
        status = page.locator("#connection-status")
        for _ in range(25):  # garbage, straight to the real server, which closes with 4008 at 20
            servers[0].send("not json")
        expect(status).to_contain_text("too many messages were refused", timeout=15_000)
        page.wait_for_timeout(3_000)  # longer than the first reconnect delay
        expect(status).to_contain_text("Reload the page")
        assert len(servers) == 1


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_page_renders_the_cart_count_of_the_sessions_conversation(
    indexed_catalog, daphne_server, chromium_path
):
    with chat_page(daphne_server, chromium_path) as (page, _):
        say(page, "grey sofa")
        say(page, "add the first one to my cart")
        expect(page.locator("#cart-count")).to_have_text("1")
        cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
        # Served HTML, before any script or socket runs.
        html = page.request.get(daphne_server + "/").text()
    assert '<span id="cart-count">1</span>' in html
    state = Conversation.objects.get(session_key=cookie["value"]).state
    assert len(state["cart"]) == 1


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_stale_session_cookie_is_replaced_so_the_conversation_survives_a_reload(
    indexed_catalog, daphne_server, chromium_path
):
    stale = "x" * 32  # a well-formed key that names no stored session (expired or flushed)
    cookies = [{"name": "sessionid", "value": stale, "url": daphne_server}]
    with chat_page(daphne_server, chromium_path, cookies=cookies) as (page, _):
        say(page, "grey sofa")
        page.reload()
        wait_connected(page)
        expect(page.locator(".msg.user")).to_have_text(["grey sofa"])
        cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    assert cookie["value"] != stale
    assert Conversation.objects.filter(session_key=cookie["value"]).exists()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_cart_panel_pointing_and_a_yes_no_question(
    indexed_catalog, daphne_server, chromium_path, tmp_path
):
    with chat_page(daphne_server, chromium_path) as (page, errors):
        # The greeting offers kinds of product this catalog has.
        chips = page.locator(".msg.assistant .suggestion")
        expect(chips.first).to_be_visible()
        assert "running shoes" not in page.content()
        say(page, "grey sofa")
        cards = page.locator(".msg.assistant").last.locator(".product-card")
        second = cards.nth(1)
        title = second.locator(".title").inner_text()
        sku = second.get_attribute("data-sku")
        second = page.locator(f'.product-card[data-sku="{sku}"]').first  # not "the last reply's"

        second.locator("button.details").click()  # every field of the product
        detail = page.locator("#product-detail")
        expect(detail).to_be_visible()
        expect(detail.locator("h2")).to_have_text(title)
        expect(detail.locator("dt").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "detail.png"))
        detail.locator("button.close").click()
        expect(detail).to_be_hidden()

        say(page, "the second one")  # points, never buys
        expect(page.locator(".msg.assistant").last).to_contain_text(title)
        expect(page.locator("#cart-count")).to_have_text("0")

        say(page, "is it grey?")
        expect(page.locator(".msg.assistant .bubble").last).to_have_text(
            re.compile(r"^(Yes|No|The catalog does not say)")
        )

        second.locator("button.add_to_cart").click()
        expect(page.locator("#cart-count")).to_have_text("1", timeout=10_000)
        expect(second.locator("button.add_to_cart")).to_have_text("In cart")
        second.locator("button.add_to_cart").click()  # "In cart" does not add it again
        page.locator("#cart-panel summary").click()
        expect(page.locator("#cart-items li")).to_have_count(1)
        expect(page.locator("#cart-items li").first).to_contain_text(f"1 × {title}")
        expect(page.locator("#cart-total")).to_contain_text("Total:")
        page.screenshot(path=str(tmp_path / "cart.png"))

        page.reload()  # the cart and the card's state survive a reload
        wait_connected(page)
        expect(page.locator("#cart-count")).to_have_text("1")
        in_cart = page.locator(f'.product-card[data-sku="{sku}"] button.add_to_cart').first
        expect(in_cart).to_have_text("In cart")
        page.locator("#new-conversation").click()  # a new conversation keeps the cart
        expect(page.locator("#cart-count")).to_have_text("1")

        page.locator("#cart-panel summary").click()
        page.locator("#cart-items button.remove").click()
        expect(page.locator("#cart-count")).to_have_text("0", timeout=30_000)
    assert not errors
