"""The admin as a shop admin uses it, in headless Debian Chromium against a real Daphne and worker:
import part of the public IKEA file with preview and confirmation, follow the job to 100 %, see the
index refresh it asked for publish, and find an IKEA product in the chat."""

import pytest
from playwright.sync_api import expect, sync_playwright

from catalog.indexing import index_store

from .conftest import shared_data
from .test_browser import ARTIFACTS, CHROMIUM_FLAGS, say, wait_connected

IKEA_ROWS = 400
"""Over the 300 rows imported inline: the import runs in the worker, with its progress bar."""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_admin_imports_the_ikea_file_and_shoppers_find_it(
    daphne_server, celery_worker, django_user_model, chromium_path, tmp_path
):
    lines = shared_data("ikea/ikea.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    ikea = tmp_path / "ikea.csv"
    broken = "9999,99999999,BROKEN,Beds,not a price,No old price,TRUE,https://example.com/x,No,bed,,,,\n"
    ikea.write_text("".join(lines[: IKEA_ROWS + 1]) + broken, encoding="utf-8")
    django_user_model.objects.create_superuser("shopadmin", "admin@example.com", "a long test passphrase")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = 0

    def screenshot(page, name: str) -> None:
        nonlocal shot
        shot += 1
        page.screenshot(path=str(ARTIFACTS / f"admin-{shot:02d}-{name}.png"), full_page=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(daphne_server + "/admin/login/")
        page.fill("#id_username", "shopadmin")
        page.fill("#id_password", "a long test passphrase")
        page.click("input[type=submit]")
        page.goto(daphne_server + "/admin/catalog/product/")
        page.click("text=Import a catalog file")
        page.set_input_files("#id_file", str(ikea))
        page.select_option("#id_format", "ikea")
        page.check("#id_refresh_index")
        screenshot(page, "upload")
        page.click("input[name=_save]")

        expect(page.locator("#import-preview")).to_contain_text(f"{IKEA_ROWS + 1} rows")
        expect(page.locator("#bad-rows")).to_contain_text("price")
        screenshot(page, "preview")
        page.click("#confirm-import")

        expect(page.locator("#import-result")).to_contain_text(f"{IKEA_ROWS} created", timeout=120_000)
        expect(page.locator("#import-result")).to_contain_text("1 rejected")
        screenshot(page, "imported")
        expect(page.locator("#import-index")).to_contain_text("refresh #")
        for _ in range(90):  # the worker encodes the new products and publishes a version
            page.reload()
            if "succeeded" in page.locator("#import-index").inner_text():
                break
            page.wait_for_timeout(2000)
        expect(page.locator("#import-index")).to_contain_text("succeeded")
        screenshot(page, "index-live")
        assert index_store().active_version()

        page.goto(daphne_server + "/")
        wait_connected(page)
        say(page, "a FREKVENS bar table")
        expect(page.locator(".msg.assistant .product-card .title").first).to_contain_text("FREKVENS")
        screenshot(page, "chat-finds-ikea")
        browser.close()
