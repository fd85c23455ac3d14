"""The simulator's phone page in headless Chromium, against the real bot processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.support import CHROMIUM_ARGS
from tests.e2e.harness import ROOT, BotSystem

pytestmark = [pytest.mark.rabbitmq, pytest.mark.browser]
ARTIFACTS = ROOT / "test-artifacts"


async def test_tapping_start_on_the_phone_page_shows_the_consent_question(system: BotSystem, chromium_path: str):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 480, "height": 900})
        await page.goto(system.sim.url + "/")
        await page.get_by_test_id("user-id").fill("browser-resident")
        await page.get_by_test_id("start").click()
        start = page.locator('[data-testid="kbd-button"][data-action-body="start"]')
        await expect(start).to_be_visible(timeout=15000)
        await expect(page.get_by_test_id("bubble-bot").first).to_contain_text("Вітаємо")
        await start.click()
        await expect(page.get_by_test_id("bubble-bot").last).to_contain_text("персональних даних", timeout=15000)
        await expect(page.locator('[data-testid="kbd-button"][data-action-body="consent:yes"]')).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(Path(ARTIFACTS) / "phone-page-consent.png"))
        await browser.close()
