"""The panel in headless Chromium, as a staff member uses it: log in; create an outage
with the street picker (htmx narrows the datalist as one types) and a house range (the
live preview says what it covers); see the audience preview; publish; watch the
progress bar move as mailing.progress events arrive on the bus, until done; resolve it.
Then the admin's pages and an edit of a useful-information section. Screenshots of
each page go to test-artifacts/admin/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin
from admin_testkit import running_admin
from playwright.async_api import async_playwright, expect
from test_admin_panel import FakeNotifier

from chatbot_common.bus import create_bus
from chatbot_common.events import MailingProgress, derived_id, make_event, utcnow
from tests.support import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "admin"


@pytest.fixture
async def notifier() -> AsyncIterator[FakeNotifier]:
    fake = FakeNotifier()
    fake.answer = {"residents": 16, "messages": 16}
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def admin_service(unique: str, mongodb_url: str, notifier: FakeNotifier) -> AsyncIterator[Admin]:
    async with running_admin(unique, mongodb_url, admin_notifier_url=notifier.url) as started:
        yield started


async def test_publish_an_outage_watch_its_mailing_and_resolve_it(admin_service: Admin, notifier: FakeNotifier,
                                                                    chromium_path: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{admin_service.runtime.bound_port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="uk-UA")

        # log in (the labels name the fields)
        await page.goto(f"{base}/panel/outages")
        await expect(page).to_have_url(f"{base}/panel/login?next=/panel/outages")
        await page.get_by_label("Електронна пошта").fill(ADMIN_EMAIL)
        await page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
        await page.screenshot(path=str(ARTIFACTS / "01-login.png"))
        await page.get_by_role("button", name="Увійти").click()
        await expect(page.get_by_role("heading", name="Відключення", exact=True)).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "02-outages-empty.png"))

        # the form: street picker and house range
        await page.get_by_role("link", name="Нове відключення").click()
        await page.get_by_label("Послуга").select_option("cold_water")
        street = page.get_by_label("Вулиця 1")
        await street.press_sequentially("Проскур", delay=30)
        options = page.locator("#streets-0 option")
        # htmx replaced the settlement's 137 streets with those matching what was typed
        await expect(options).to_have_count(2)
        await expect(options.first).to_have_attribute("value", "вул. Проскурівська")
        await street.fill(await options.first.get_attribute("value") or "")
        houses = page.get_by_label("Будинки (порожньо — уся вулиця)").first
        await houses.fill("1-31 непарні")
        await expect(page.locator("#houses-preview-0")).to_have_text("вул. Проскурівська: 1, 3, 5 … 31 — 16 будинків")
        await page.get_by_label("Початок").fill("2030-06-01T09:00")
        await page.get_by_label("Очікуване завершення").fill("2030-06-01T18:00")
        await page.get_by_label("Опис (що сталося, що робити)").fill("Ремонт водогону")
        await page.screenshot(path=str(ARTIFACTS / "03-outage-form.png"), full_page=True)

        # preview: the audience from the notifier
        await page.get_by_role("button", name="Переглянути перед публікацією").click()
        await expect(page.locator("#audience-residents")).to_have_text("16")
        await expect(page.locator("#audience-cost")).to_contain_text("12.80 грн")  # 16 × 0.80
        assert notifier.drafts[-1]["addresses"][0]["houses"][-1] == "31"
        await page.screenshot(path=str(ARTIFACTS / "04-outage-preview.png"), full_page=True)

        # publish: the outage page polls the mailing figures
        await page.get_by_role("button", name="Опублікувати й повідомити мешканців").click()
        await expect(page.get_by_role("status")).to_contain_text("Відключення опубліковано")
        oid = page.url.split("/panel/outages/")[1].split("?")[0]
        await expect(page.locator("#progress")).to_have_attribute("data-done", "false")
        bus = create_bus(admin_service.bus_url)
        t0 = utcnow()

        async def progress(n: int, **figures: int | bool) -> None:
            await bus.publish(make_event(
                MailingProgress(mailing_id=f"m-{oid}", subject="outage", subject_id=oid,
                                at=t0 + timedelta(seconds=n), **figures),
                source="/notifier", id=derived_id("progress", oid, n)))

        await progress(1, targeted=16, sent=6)
        await expect(page.locator("#p-sent")).to_have_text("6")  # the bar moved without a reload
        await expect(page.locator("#bar-sent")).to_have_attribute("value", "6")
        await page.screenshot(path=str(ARTIFACTS / "05-outage-progress.png"), full_page=True)
        await progress(2, targeted=16, sent=16, delivered=15, seen=9, failed=1, done=True)
        await expect(page.locator("#progress")).to_have_attribute("data-done", "true")
        await expect(page.locator("#p-delivered")).to_have_text("15")
        await expect(page.locator("#h-progress")).to_have_text("Розсилка завершена")
        await page.screenshot(path=str(ARTIFACTS / "06-outage-done.png"), full_page=True)
        await bus.close()

        # resolve, after confirming
        await page.get_by_role("link", name="Постачання відновлено").click()
        await page.screenshot(path=str(ARTIFACTS / "07-resolve-confirm.png"))
        await page.get_by_role("button", name="Так, постачання відновлено").click()
        await expect(page.locator("#state")).to_have_text("відновлено")
        await page.get_by_role("link", name="До списку").click()
        await expect(page.get_by_role("table", name="Минулі (останні 50)")).to_contain_text("холодне водопостачання")
        await page.screenshot(path=str(ARTIFACTS / "08-outages-list.png"), full_page=True)

        # the admin's pages
        await page.get_by_role("link", name="Працівники").click()
        await expect(page.get_by_role("table", name="Облікові записи")).to_contain_text(ADMIN_EMAIL)
        await page.screenshot(path=str(ARTIFACTS / "09-staff.png"), full_page=True)
        await page.get_by_role("link", name="Журнал змін").click()
        await expect(page.get_by_role("table")).to_contain_text("outage.resolved")
        await page.screenshot(path=str(ARTIFACTS / "10-audit.png"), full_page=True)

        # useful information: edit a section's text (info.changed goes to the dialog)
        await page.get_by_role("link", name="Корисна інформація").click()
        await page.get_by_role("link", name="Змінити «🛡 Укриття і пункти незламності»").click()
        await page.get_by_label("Текст (до 6500 символів; порожньо — лише меню підрозділів)").fill(
            "Найближче укриття — на мапі міста.")
        await page.screenshot(path=str(ARTIFACTS / "11-info-section.png"), full_page=True)
        await page.get_by_role("button", name="Зберегти й показати в боті").click()
        await expect(page.get_by_role("status")).to_contain_text("Збережено")
        await expect(page.locator("#section-shelters")).to_contain_text("Найближче укриття — на мапі міста.")
        await page.screenshot(path=str(ARTIFACTS / "12-info.png"), full_page=True)

        await page.get_by_role("button", name="Вийти").click()
        await expect(page).to_have_url(f"{base}/panel/login")
        await browser.close()

    _, outage = await admin_service.client.get(f"/api/v1/outages/{oid}")
    assert outage["state"] == "resolved" and outage["revision"] == 2
