"""The chat page in headless Debian Chromium, against a real Daphne."""

import pytest
from playwright.sync_api import expect, sync_playwright

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
