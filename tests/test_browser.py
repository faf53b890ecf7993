"""The chat page in headless Debian Chromium, against a real Daphne."""

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from assistant.models import FeedbackEvent

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.mark.smoke
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_grey_sofa_shows_product_cards(indexed_catalog, daphne_server, chromium_path, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(daphne_server + "/")
        expect(page.locator("#connection-status")).to_have_text("Connected", timeout=15_000)

        page.fill("#chat-input", "grey sofa")
        page.press("#chat-input", "Enter")

        cards = page.locator(".msg.assistant .product-card")
        expect(cards.first).to_be_visible(timeout=30_000)
        assert 1 <= cards.count() <= 10
        assert "sofa" in cards.first.locator(".title").inner_text().lower()
        page.screenshot(path=str(tmp_path / "grey-sofa.png"), full_page=True)
        browser.close()
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
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone-width screen
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(daphne_server + "/")
        expect(page.locator("#connection-status")).to_have_text("Connected", timeout=15_000)

        say(page, "grey sofa")
        say(page, "cheaper")
        latest = page.locator(".msg.assistant").last
        expect(latest).to_contain_text("under")
        listed = [card.get_attribute("data-sku") for card in latest.locator(".product-card").all()]
        assert len(listed) >= 2, latest.inner_text()
        say(page, "compare the first two")
        expect(page.locator(".msg.assistant").last.locator("table.compare")).to_be_visible()
        say(page, "how much is the first one")
        say(page, "add it to my cart")
        expect(page.locator("#cart-count")).to_have_text("1")
        like = page.locator(".msg.assistant .product-card").first.locator("button.like")
        liked_sku = page.locator(".msg.assistant .product-card").first.get_attribute("data-sku")
        like.click()
        expect(like).to_have_attribute("aria-pressed", "true", timeout=10_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)
        browser.close()
    assert errors == []
    events = list(FeedbackEvent.objects.order_by("pk").values_list("product__sku", "action"))
    assert events == [(listed[0], "add_to_cart"), (liked_sku, "like")]
