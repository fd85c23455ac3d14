"""The staff's panel with the whole city running (issue 9), in headless Chromium as a
person would: publish an outage with the street picker and a house range, see the
preview count, watch the progress bar reach done while the residents' phones receive
it; build and publish a survey, answer it on a resident's phone page, see the chart;
edit a useful-information text and see it in the bot. Every service its own process on
real RabbitMQ; screenshots in test-artifacts/panel/."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, async_playwright, expect

from chatbot_common.events import utcnow
from tests.e2e.harness import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, CitySystem
from tests.e2e.resident import Phone, register
from tests.e2e.test_request_pages import PhonePage
from tests.support import CHROMIUM_ARGS
from vibersim.client import SimClient

pytestmark = [pytest.mark.rabbitmq, pytest.mark.browser]
ARTIFACTS = ROOT / "test-artifacts" / "panel"
KYIV = ZoneInfo("Europe/Kyiv")
TIMEOUT = 30000


async def log_in(page: Page, city: CitySystem, section: str) -> None:
    await page.goto(f"{city.admin.url}/panel/{section}")
    await page.get_by_label("Електронна пошта").fill(ADMIN_EMAIL)
    await page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Увійти").click()


def local(moment) -> str:
    return moment.astimezone(KYIV).strftime("%Y-%m-%dT%H:%M")


async def test_an_outage_published_in_the_panel_reaches_the_residents_and_the_bar_fills(
    city: CitySystem, city_sim: SimClient, chromium_path: str
):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    at_3, at_5, at_4 = Phone(city_sim, "panel-3"), Phone(city_sim, "panel-5"), Phone(city_sim, "panel-4")
    await register(at_3, street="Проскурівська", house="3")
    await register(at_5, street="Проскурівська", house="5")
    await register(at_4, street="Проскурівська", house="4")  # the even side: not in «1-31 непарні»
    before = {p.user_id: await p.count() for p in (at_3, at_5, at_4)}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1200, "height": 1000})
        await log_in(page, city, "outages")
        await page.get_by_role("link", name="Нове відключення").click()
        await page.get_by_label("Послуга").select_option("cold_water")
        street = page.get_by_label("Вулиця 1")
        await street.press_sequentially("Проскур", delay=30)
        options = page.locator("#streets-0 option")
        await expect(options.first).to_have_attribute("value", "вул. Проскурівська", timeout=TIMEOUT)
        await street.fill(await options.first.get_attribute("value") or "")
        await page.get_by_label("Будинки (порожньо — уся вулиця)").first.fill("1-31 непарні")
        await expect(page.locator("#houses-preview-0")).to_have_text("вул. Проскурівська: 1, 3, 5 … 31 — 16 будинків")
        now = utcnow()
        await page.get_by_label("Початок").fill(local(now - timedelta(minutes=5)))
        await page.get_by_label("Очікуване завершення").fill(local(now + timedelta(hours=6)))
        await page.get_by_label("Опис (що сталося, що робити)").fill("Аварійний ремонт водогону")
        await page.get_by_role("button", name="Переглянути перед публікацією").click()
        # the audience from the notifier's projection: the two residents on the odd side
        await expect(page.locator("#audience-residents")).to_have_text("2", timeout=TIMEOUT)
        await page.screenshot(path=str(ARTIFACTS / "outage-preview.png"), full_page=True)
        await page.get_by_role("button", name="Опублікувати й повідомити мешканців").click()
        await expect(page.get_by_role("status")).to_contain_text("Відключення опубліковано")
        await expect(page.locator("#progress")).to_have_attribute("data-done", "true", timeout=TIMEOUT)
        await expect(page.locator("#p-sent")).to_have_text("2")
        await page.screenshot(path=str(ARTIFACTS / "outage-progress-done.png"), full_page=True)
        await browser.close()
    for phone in (at_3, at_5):
        notice = await phone.receive(before[phone.user_id])
        assert "Проскурівська" in notice["text"]
    assert await at_4.count() == before[at_4.user_id]


async def test_a_survey_built_in_the_panel_is_answered_on_the_phone_page_and_charted(
    city: CitySystem, city_sim: SimClient, chromium_path: str
):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    resident = Phone(city_sim, "survey-resident")
    await register(resident)
    seen = await resident.count()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        panel = await browser.new_page(viewport={"width": 1200, "height": 1000})
        await log_in(panel, city, "surveys")
        await panel.get_by_role("link", name="Нове опитування").click()
        await panel.get_by_label("Назва (до 200 символів; її побачать мешканці)").fill("Прибирання двору")
        await panel.get_by_label("Ідентифікатор (необов'язково: латиниця, цифри, «_», «-»)").fill("dvir")
        await panel.get_by_label("Текст питання 1").fill("Як Ви оцінюєте прибирання двору?")
        await panel.get_by_label("Тип відповіді 1").select_option("single")
        await panel.get_by_label("Варіанти відповіді 1", exact=False).fill("Добре\nЗадовільно\nПогано")
        await panel.get_by_role("button", name="Додати питання").click()
        await panel.get_by_label("Текст питання 2").fill("Оцініть роботу контакт-центру")
        await panel.get_by_label("Тип відповіді 2").select_option("scale")
        await panel.get_by_role("button", name="Додати питання").click()
        await panel.get_by_label("Текст питання 3").fill("Що нам покращити?")
        await panel.get_by_label("Тип відповіді 3").select_option("text")
        await panel.get_by_label("Населений пункт").select_option("khmelnytskyi")
        await panel.get_by_label("Завершення").fill(local(utcnow() + timedelta(days=7)))
        await panel.get_by_role("button", name="Зберегти чернетку").click()
        await expect(panel.get_by_role("status")).to_contain_text("Чернетку збережено")
        await panel.get_by_role("link", name="Опублікувати").click()
        await panel.get_by_role("button", name="Так, опублікувати").click()
        await expect(panel.get_by_role("status")).to_contain_text("Опитування опубліковано")

        # The invitation reaches the resident; they answer on the phone page.
        invitation = await resident.receive(seen)
        assert "Прибирання двору" in invitation["text"]
        page = await browser.new_page(viewport={"width": 480, "height": 960})
        await page.goto(city.sim.url + "/")
        await page.get_by_test_id("user-id").fill("survey-resident")
        phone = PhonePage(page)
        await phone.tap("survey:open:dvir")
        await phone.tap_label("sv:o:", "Добре")
        await phone.tap("sv:s:5")
        await phone.type("Більше лавок біля під'їздів")
        await page.screenshot(path=str(ARTIFACTS / "phone-survey-summary.png"))
        await phone.tap("sv:send")

        # The panel's results: one respondent, the chart and the free text.
        await panel.get_by_role("link", name="Результати").click()
        for _ in range(60):
            if (await panel.locator("#respondents").inner_text()).strip() == "1":
                break
            await panel.wait_for_timeout(500)
            await panel.reload()
        await expect(panel.locator("#respondents")).to_have_text("1")
        chart = panel.get_by_role("table", name="Відповіді на питання 1")
        await expect(chart.get_by_role("row", name="Добре")).to_contain_text("1 (100.0%)")
        await expect(panel.locator("body")).to_contain_text("Більше лавок біля під'їздів")
        await panel.screenshot(path=str(ARTIFACTS / "survey-results.png"), full_page=True)
        await browser.close()


async def test_useful_information_edited_in_the_panel_is_what_the_bot_shows(
    city: CitySystem, city_sim: SimClient, chromium_path: str
):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    resident = Phone(city_sim, "info-resident")
    await register(resident)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        panel = await browser.new_page(viewport={"width": 1200, "height": 1000})
        await log_in(panel, city, "info")
        await panel.get_by_role("link", name="Змінити «🛡 Укриття і пункти незламності»").click()
        await panel.get_by_label("Текст (до 6500 символів; порожньо — лише меню підрозділів)").fill(
            "Найближче укриття — на мапі міста. Пункти незламності працюють цілодобово.")
        await panel.get_by_role("button", name="Зберегти й показати в боті").click()
        await expect(panel.get_by_role("status")).to_contain_text("Збережено")
        await browser.close()
    for _ in range(40):
        await resident.tap("menu:info")
        code = next(c for b, c in zip(resident.buttons, resident.codes, strict=True) if "Укриття" in b.label)
        await resident.tap(code)
        if "цілодобово" in resident.text:
            break
        await resident.tap("nav:home")
    assert "Пункти незламності працюють цілодобово" in resident.text
