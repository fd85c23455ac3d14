"""In headless Chromium, as people would (issue 7): a resident files a request on the
phone page (Viber simulator), an operator moves it on the contact center's operator
page, and the notices arrive on the phone page — every service its own process on real
RabbitMQ."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.e2e.harness import ROOT, CitySystem
from tests.support import CHROMIUM_ARGS

pytestmark = [pytest.mark.rabbitmq, pytest.mark.browser]
ARTIFACTS = ROOT / "test-artifacts" / "requests"
TIMEOUT = 20000


class PhonePage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.bot = page.get_by_test_id("bubble-bot")

    def button(self, code: str):
        return self.page.locator(f'[data-testid="kbd-button"][data-action-body="{code}"]')

    async def tap(self, code: str) -> None:
        button = self.button(code)
        await expect(button).to_be_visible(timeout=TIMEOUT)
        count = await self.bot.count()
        await button.click()
        await expect(self.bot).to_have_count(count + 1, timeout=TIMEOUT)

    async def tap_label(self, prefix: str, label: str) -> None:
        button = self.page.locator(f'[data-testid="kbd-button"][data-action-body^="{prefix}"]', has_text=label)
        await expect(button.first).to_be_visible(timeout=TIMEOUT)
        count = await self.bot.count()
        await button.first.click()
        await expect(self.bot).to_have_count(count + 1, timeout=TIMEOUT)

    async def type(self, text: str) -> None:
        count = await self.bot.count()
        await self.page.get_by_test_id("input").fill(text)
        await self.page.get_by_test_id("send").click()
        await expect(self.bot).to_have_count(count + 1, timeout=TIMEOUT)


async def test_file_on_the_phone_page_move_on_the_operator_page_see_the_notices(city: CitySystem, chromium_path: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 480, "height": 960})
        await page.goto(city.sim.url + "/")
        await page.get_by_test_id("user-id").fill("browser-request")
        phone = PhonePage(page)
        await page.get_by_test_id("start").click()
        # Register (S5), then «📝 Нове звернення».
        await phone.tap("start")
        await phone.tap("consent:yes")
        await phone.tap("settlement:khmelnytskyi")
        await phone.type("Ганна Шевчук")
        await phone.type("0671112233")
        await phone.type("Кам'янецька")
        await phone.type("21")
        await phone.tap("apartment:none")
        await phone.tap("notify:address")
        await phone.tap("menu:new_ticket")
        await phone.tap_label("tcat:g:", "Вуличне освітлення")
        await phone.tap_label("tcat:s:", "Не працює вуличне освітлення")
        await phone.tap("temerg:no")
        await phone.type("Не світять ліхтарі біля будинку вже тиждень.")
        await phone.tap_label("tloc:a:", "Кам'янецька")
        await phone.tap("tphoto:skip")
        while await phone.button("tsum:send").count() == 0:  # the category's questions
            if await phone.button("tattr:skip").count():
                await phone.tap("tattr:skip")
            elif await page.locator('[data-testid="kbd-button"][data-action-body^="tattr:v:"]').count():
                await phone.tap_label("tattr:v:", "")  # a required list: its first value
            else:
                await phone.type("3")  # a required number («Скільки ліхтарів не світить?»)
        await page.screenshot(path=str(ARTIFACTS / "phone-summary.png"))
        count = await phone.bot.count()
        await phone.button("tsum:send").click()
        await expect(phone.bot).to_have_count(count + 2, timeout=TIMEOUT)  # accepted + the number
        await expect(page.get_by_test_id("chat")).to_contain_text("прийнято")

        # The operator opens the request on the contact center's page and moves it.
        operator = await browser.new_page(viewport={"width": 1200, "height": 900})
        await operator.goto(city.ccsim.url + "/")
        row = operator.get_by_test_id("request-row").first
        await expect(row).to_be_visible(timeout=TIMEOUT)
        number = await row.get_attribute("data-number")
        assert number and number in await page.get_by_test_id("chat").inner_text()  # the resident has the number
        await row.locator("a").first.click()
        await expect(operator.get_by_test_id("fact-resident-name")).to_contain_text("Ганна Шевчук")
        await operator.get_by_test_id("status-select").select_option("in_progress")
        await operator.get_by_test_id("status-submit").click()
        await expect(phone.bot).to_have_count(count + 3, timeout=TIMEOUT)
        await expect(phone.bot.last).to_contain_text("Виконується")
        await operator.screenshot(path=str(ARTIFACTS / "operator-request.png"))
        await operator.get_by_test_id("close-status").select_option("fixed")
        await operator.get_by_test_id("close-outcome").fill("Замінено лампи, освітлення працює.")
        await operator.get_by_test_id("close-submit").click()
        await expect(phone.bot).to_have_count(count + 4, timeout=TIMEOUT)
        await expect(phone.bot.last).to_contain_text("Замінено лампи")
        await expect(page.locator('[data-testid="kbd-button"][data-action-body^="ticket:rate:"]')).to_have_count(5)
        await page.screenshot(path=str(ARTIFACTS / "phone-outcome.png"))
        # The resident rates it on the phone; the operator sees the rating.
        await page.locator('[data-testid="kbd-button"][data-action-body$=":5"][data-action-body^="ticket:rate:"]').click()
        await expect(phone.bot).to_have_count(count + 5, timeout=TIMEOUT)
        await phone.tap("trate:skip")
        await operator.reload()
        for _ in range(40):
            if await operator.get_by_test_id("rating").count():
                break
            await operator.wait_for_timeout(250)
            await operator.reload()
        await expect(operator.get_by_test_id("rating")).to_have_attribute("data-rating", re.compile("5"))
        await browser.close()


async def test_the_phone_page_and_the_operator_chat_page_talk_to_each_other(city: CitySystem, chromium_path: str):
    """Issue 11 in headless Chromium: the resident writes on the phone page, the operator
    reads it on the contact center's chat page and answers; the answer is on the phone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 480, "height": 960})
        await page.goto(city.sim.url + "/")
        await page.get_by_test_id("user-id").fill("browser-chat")
        phone = PhonePage(page)
        await page.get_by_test_id("start").click()
        await phone.tap("start")
        await phone.tap("consent:yes")
        await phone.tap("settlement:khmelnytskyi")
        await phone.type("Ганна Шевчук")
        await phone.type("0671112233")
        await phone.type("Кам'янецька")
        await phone.type("21")
        await phone.tap("apartment:none")
        await phone.tap("notify:address")
        await phone.button("menu:chat").click()
        await expect(phone.bot.last).to_contain_text("черзі", timeout=TIMEOUT)
        await page.get_by_test_id("input").fill("Доброго дня, у під'їзді не світить лампа.")
        await page.get_by_test_id("send").click()

        operator = await browser.new_page(viewport={"width": 1200, "height": 900})
        await operator.goto(city.ccsim.url + "/chat")
        link = operator.locator('[data-testid^="chat-open-"]').first
        await expect(link).to_be_visible(timeout=TIMEOUT)
        await link.click()
        transcript = operator.get_by_test_id("transcript")
        for _ in range(40):
            if "не світить лампа" in await transcript.inner_text():
                break
            await operator.get_by_test_id("refresh").click()
        await expect(transcript).to_contain_text("не світить лампа")
        await operator.get_by_test_id("reply-text").fill("Дякуємо! Електрик прийде сьогодні.")
        count = await phone.bot.count()
        await operator.get_by_test_id("reply-send").click()
        await expect(phone.bot).to_have_count(count + 1, timeout=TIMEOUT)
        await expect(phone.bot.last).to_contain_text("Електрик прийде сьогодні")
        await operator.screenshot(path=str(ARTIFACTS / "operator-chat.png"))
        await page.screenshot(path=str(ARTIFACTS / "phone-chat.png"))
        await browser.close()
