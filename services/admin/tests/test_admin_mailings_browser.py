"""«Розсилки» and «Привітання» in headless Chromium, as a staff member uses them: compose
a mailing to a street segment (the street picker narrows as one types), see the count
and cost from a (fake) notifier update by itself, send it, watch the progress bar reach
done as mailing.progress events arrive on the bus; then set the birthday greeting.
Screenshots go to test-artifacts/admin/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin
from admin_testkit import running_admin
from playwright.async_api import async_playwright, expect
from test_admin_mailings import FakeNotifier

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


async def test_send_a_mailing_to_a_street_watch_it_and_set_the_birthday_greeting(
        admin_service: Admin, notifier: FakeNotifier, chromium_path: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{admin_service.runtime.bound_port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="uk-UA")
        await page.goto(f"{base}/panel/mailings")
        await page.get_by_label("Електронна пошта").fill(ADMIN_EMAIL)
        await page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Увійти").click()
        await expect(page.get_by_role("heading", name="Розсилки", exact=True)).to_be_visible()

        # compose: the counter follows the text
        await page.get_by_role("link", name="Нова розсилка").click()
        text = page.get_by_label("Текст (до 7000 символів; звертайтеся до мешканців на «Ви»)")
        await text.fill("Шановні мешканці! У суботу — прибирання двору. Чекаємо на Вас.")
        await expect(page.locator("#text-count")).to_have_text("62 із 7000 символів")
        await page.get_by_label("Напис кнопки-посилання (до 40 символів, необов'язково)").fill("Деталі")
        await page.get_by_label("Адреса посилання").fill("https://example.org/subotnyk")

        # the segment: a street picked from what htmx suggests, and a house range
        await page.get_by_label("Населений пункт").select_option("khmelnytskyi")
        street = page.get_by_label("Вулиця 1")
        await street.press_sequentially("Проскур", delay=30)
        options = page.locator("#streets-0 option")
        await expect(options).to_have_count(2)
        await street.fill(await options.first.get_attribute("value") or "")
        await page.get_by_label("Будинки 1 (порожньо — уся вулиця)").fill("1-31 непарні")
        await page.get_by_label("за адресою").check()  # a change: the count refreshes by itself

        # the live count and cost (16 × 0.80)
        await expect(page.locator("#audience-residents")).to_have_text("16")
        await expect(page.locator("#audience-cost")).to_contain_text("12.80 грн")
        segment = notifier.segments[-1]
        assert segment["streets"][0]["street_id"] == "proskurivska" and segment["streets"][0]["houses"][-1] == "31"
        assert segment["notify_scopes"] == ["address"]
        await page.screenshot(path=str(ARTIFACTS / "21-mailing-compose.png"), full_page=True)

        # send now: the mailing's page polls its figures
        await page.get_by_role("button", name="Надіслати розсилку").click()
        await expect(page.get_by_role("status")).to_contain_text("Розсилку запущено")
        mid = page.url.split("/panel/mailings/")[1].split("?")[0]
        await expect(page.locator("#progress")).to_have_attribute("data-done", "false")
        bus = create_bus(admin_service.bus_url)
        t0 = utcnow()

        async def progress(n: int, **figures: int | bool) -> None:
            await bus.publish(make_event(
                MailingProgress(mailing_id=f"n-{mid}", subject="mailing", subject_id=mid,
                                at=t0 + timedelta(seconds=n), **figures),
                source="/notifier", id=derived_id("progress", mid, n)))

        await progress(1, targeted=16, sent=7)
        await expect(page.locator("#p-sent")).to_have_text("7")
        await expect(page.locator("#bar-sent")).to_have_attribute("value", "7")
        await page.screenshot(path=str(ARTIFACTS / "22-mailing-progress.png"), full_page=True)
        await progress(2, targeted=16, sent=16, delivered=15, seen=8, failed=1, done=True)
        await expect(page.locator("#progress")).to_have_attribute("data-done", "true")
        await expect(page.locator("#p-delivered")).to_have_text("15")
        await expect(page.locator("#h-progress")).to_have_text("Розсилка завершена")
        await expect(page.locator("#state")).to_have_text("надсилається")  # the page as loaded
        await page.reload()
        await expect(page.locator("#state")).to_have_text("надіслано")
        await page.screenshot(path=str(ARTIFACTS / "23-mailing-done.png"), full_page=True)
        await bus.close()
        await page.get_by_role("link", name="До списку").click()
        await expect(page.get_by_role("table", name="Надіслані")).to_contain_text("16 із 16")
        await page.screenshot(path=str(ARTIFACTS / "24-mailings.png"), full_page=True)

        # the birthday greeting
        await page.get_by_role("link", name="Привітання").click()
        await page.get_by_label("Надсилати привітання з днем народження").check()
        await page.get_by_label("Текст привітання (на «Ви», до 7000 символів)").fill(
            "Вітаємо Вас із днем народження! Міська рада бажає Вам здоров'я.")
        await page.get_by_label("Час надсилання (за київським часом)").fill("09:30")
        await page.get_by_role("button", name="Зберегти привітання з днем народження").click()
        await expect(page.get_by_role("status")).to_contain_text("збережено")
        await expect(page.get_by_label("Надсилати привітання з днем народження")).to_be_checked()
        await page.screenshot(path=str(ARTIFACTS / "25-greetings.png"), full_page=True)
        await browser.close()

    _, mailing = await admin_service.client.get(f"/api/v1/mailings/{mid}")
    assert mailing["state"] == "sent" and mailing["segment"]["streets"][0]["street_id"] == "proskurivska"
    [requested] = [e for e in admin_service.events if e.type == "mailing.requested"]
    assert requested.payload().link_label == "Деталі"
    [configured] = [e for e in admin_service.events if e.type == "greeting.configured"]
    data = configured.payload()
    assert data.birthday_enabled and data.birthday_time == "09:30" and data.revision == 1
