"""The operator page in headless Chromium, driven by the stable element ids the docs list."""

from __future__ import annotations

import re
from typing import Any, AsyncIterator

import pytest

from tests.support import CHROMIUM_ARGS

from .helpers import B, CC

# ``chromium_path`` (root conftest) skips without Chromium, or fails under REQUIRE_BROWSER=1.
pytestmark = [pytest.mark.browser]


@pytest.fixture
async def browser_page(cc: CC, chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def test_operator_assigns_moves_status_sets_deadline_and_closes_in_the_browser(cc: CC, browser_page: Any) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    page = browser_page
    cc.sim.faults.answer_with, cc.sim.faults.token_delay_seconds = "token", None
    _, answer = await cc.file(description="Яма <b>глибока</b>")
    token = answer[0]["token"]
    [r] = cc.sim.requests.values()

    await page.goto(cc.url + "/")
    row = page.get_by_test_id("request-row").first
    await expect(row).to_contain_text("очікує номера")
    await expect(row).to_contain_text("Яма <b>глибока</b>")  # shown as text
    await page.get_by_test_id(f"open-{r.key}").click()

    await page.get_by_test_id("assign-submit").click()
    await expect(page.get_by_test_id("fact-number")).to_have_text(re.compile(r"^\d{4}-\d{5}$"))
    number = cc.sim.by_token[token].service_request_id
    assert (await cc.get(B + f"/tokens/{token}.json"))[1] == [{"token": token, "service_request_id": number}]

    await page.get_by_test_id("status-select").select_option("in_progress")
    await page.get_by_test_id("status-notes").fill("Бригада виїхала")
    await page.get_by_test_id("status-submit").click()
    await expect(page.get_by_test_id("fact-status")).to_contain_text("У роботі")

    await page.get_by_test_id("deadline-date").fill("2026-12-02")
    await page.get_by_test_id("deadline-time").fill("17:30")
    await page.get_by_test_id("deadline-submit").click()
    await expect(page.get_by_test_id("fact-deadline")).to_have_text("02.12.2026 17:30")

    await page.get_by_test_id("close-status").select_option("fixed")
    await page.get_by_test_id("close-outcome").fill("Яму засипано")
    await page.get_by_test_id("close-submit").click()
    await expect(page.get_by_test_id("history-row")).to_have_count(2)

    _, record = await cc.get(B + f"/requests/{number}.json")
    assert (record[0]["status"], record[0]["status_notes"], record[0]["expected_datetime"]) == (
        "closed", "Яму засипано", "2026-12-02T17:30:00+02:00")
    _, feed = await cc.get(B + "/servicerequestupdates.json")
    assert [u["status"] for u in feed] == ["in_progress", "fixed"]


async def test_faults_panel_in_the_browser_switches_the_contact_center_down(cc: CC, browser_page: Any) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    page = browser_page
    await page.goto(cc.url + "/faults")
    await page.get_by_test_id("fault-down").check()
    await page.get_by_test_id("faults-submit").click()
    await expect(page.get_by_test_id("faults-state")).to_contain_text("'down': True")
    assert (await cc.get(B + "/services.json"))[0] == 503
