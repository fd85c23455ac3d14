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


async def test_a_resident_registers_completely_on_the_phone_page_and_reaches_the_cabinet(
    system: BotSystem, chromium_path: str
):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 480, "height": 960})
        await page.goto(system.sim.url + "/")
        await page.get_by_test_id("user-id").fill("browser-registration")
        bot = page.get_by_test_id("bubble-bot")

        async def tap(code: str) -> None:
            button = page.locator(f'[data-testid="kbd-button"][data-action-body="{code}"]')
            await expect(button).to_be_visible(timeout=15000)
            count = await bot.count()
            await button.click()
            await expect(bot).to_have_count(count + 1, timeout=15000)

        async def type_and_send(text: str) -> None:
            count = await bot.count()
            await page.get_by_test_id("input").fill(text)
            await page.get_by_test_id("send").click()
            await expect(bot).to_have_count(count + 1, timeout=15000)

        await page.get_by_test_id("start").click()
        await tap("start")
        await tap("consent:yes")
        await tap("settlement:khmelnytskyi")
        await expect(bot.last).to_contain_text("Як до Вас звертатися")
        await type_and_send("Ганна Шевчук")
        await page.get_by_test_id("user-phone").fill("+380671112233")  # the phone Viber would share
        await tap("phone:share")  # share-phone: the page sends the phone field as a contact
        await type_and_send("Кам'янецька")
        await type_and_send("21")
        await tap("apartment:none")
        await tap("notify:address")
        await expect(bot.last).to_contain_text("Реєстрацію завершено")
        await expect(page.locator('[data-testid="kbd-button"][data-action-body="menu:profile"]')).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "registration-cabinet.png"))
        await tap("menu:profile")
        # The shared number is a call-back number only (S7): shown as given, never "verified".
        await expect(bot.last).to_contain_text("Телефон: +380 67 111 22 33")
        assert "підтверджено" not in await bot.last.inner_text()
        await browser.close()
