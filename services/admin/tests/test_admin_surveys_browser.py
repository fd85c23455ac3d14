"""«Опитування» in headless Chromium, as a staff member uses it: build a survey with three
questions (single choice, 1–5 scale, free text) — adding and filling questions in the
builder —, see the recipient count, publish after confirming, let residents' answers
arrive as ``survey.answered`` on the in-memory bus, see the bars, the average and the
free-text answers, and download the CSV. Screenshots go to test-artifacts/admin/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin
from admin_testkit import running_admin
from playwright.async_api import async_playwright, expect
from test_admin_mailings import FakeNotifier
from test_admin_surveys import Recorder, answer, survey_events

from admin.mailings import KYIV
from chatbot_common.events import utcnow
from tests.support import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "admin"


@pytest.fixture
async def notifier() -> AsyncIterator[FakeNotifier]:
    fake = FakeNotifier()
    fake.answer = {"residents": 250, "messages": 250}
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def service(unique: str, mongodb_url: str, notifier: FakeNotifier) -> AsyncIterator[tuple[Admin, Recorder]]:
    async with running_admin(unique, mongodb_url, admin_notifier_url=notifier.url) as admin:
        async with survey_events(admin.bus_url) as recorder:
            yield admin, recorder


async def test_build_publish_answer_and_read_the_results_of_a_survey(service, chromium_path: str, tmp_path: Path):
    admin, recorder = service
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{admin.runtime.bound_port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="uk-UA",
                                            accept_downloads=True)
        page = await context.new_page()
        await page.goto(f"{base}/panel/surveys")
        await page.get_by_label("Електронна пошта").fill(ADMIN_EMAIL)
        await page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Увійти").click()
        await expect(page.get_by_role("heading", name="Опитування", exact=True)).to_be_visible()

        # the builder: three questions
        await page.get_by_role("link", name="Нове опитування").click()
        await page.get_by_label("Назва (до 200 символів; її побачать мешканці)").fill("Прибирання двору")
        await page.get_by_label("Вступ (необов'язково, до 2000 символів; на «Ви»)").fill(
            "Допоможіть нам зробити двори чистішими: три короткі питання.")
        await page.get_by_label("Ідентифікатор (необов'язково: латиниця, цифри, «_», «-»)").fill("dvir")
        await page.get_by_label("Текст питання 1").fill("Як Ви оцінюєте прибирання двору?")
        await page.get_by_label("Тип відповіді 1").select_option("single")
        await page.get_by_label("Варіанти відповіді 1", exact=False).fill("Добре\nЗадовільно\nПогано")
        await page.get_by_role("button", name="Додати питання").click()
        await page.get_by_label("Текст питання 2").fill("Оцініть роботу контакт-центру")
        await page.get_by_label("Тип відповіді 2").select_option("scale")
        await page.get_by_role("button", name="Додати питання").click()
        await page.get_by_label("Текст питання 3").fill("Що нам покращити?")
        await page.get_by_label("Тип відповіді 3").select_option("text")
        await page.get_by_label("Обов'язкове питання 3").uncheck()
        await expect(page.get_by_label("Текст питання 1")).to_have_value("Як Ви оцінюєте прибирання двору?")
        await page.get_by_label("Населений пункт").select_option("khmelnytskyi")
        await expect(page.locator("#audience-residents")).to_have_text("250")  # refreshed by itself
        ends = (utcnow() + timedelta(days=7)).astimezone(KYIV).strftime("%Y-%m-%dT%H:%M")
        await page.get_by_label("Завершення").fill(ends)
        await page.screenshot(path=str(ARTIFACTS / "31-survey-builder.png"), full_page=True)
        await page.get_by_role("button", name="Зберегти чернетку").click()
        await expect(page.get_by_role("status")).to_contain_text("Чернетку збережено")
        await expect(page.locator("#state")).to_have_text("чернетка")

        # publish after confirming (the count and cost again)
        await page.get_by_role("link", name="Опублікувати").click()
        await expect(page.locator("#audience-cost")).to_contain_text("200.00 грн")
        await page.screenshot(path=str(ARTIFACTS / "32-survey-publish.png"), full_page=True)
        await page.get_by_role("button", name="Так, опублікувати").click()
        await expect(page.get_by_role("status")).to_contain_text("Опитування опубліковано")
        await expect(page.locator("#state")).to_have_text("триває")
        [published] = await recorder.payloads(1)
        assert [q.kind.value for q in published.questions] == ["single", "scale", "text"]
        assert published.questions[2].required is False and published.segment.settlement_ids == ["khmelnytskyi"]

        # residents answer in the bot: survey.answered on the bus
        keys = {o.label: o.key for o in published.questions[0].options}
        q1, q2, q3 = (q.question_id for q in published.questions)
        for n, (choice, scale, text) in enumerate([("Добре", 5, "Більше лавок"), ("Добре", 4, None),
                                                   ("Погано", 2, "Вивозити сміття частіше"), ("Добре", 5, None)]):
            answers = [{"question_id": q1, "options": [keys[choice]]}, {"question_id": q2, "scale": scale}]
            if text:
                answers.append({"question_id": q3, "text": text})
            await answer(admin.bus_url, "dvir", f"resident-{n}", answers)
        await answer(admin.bus_url, "dvir", "resident-0", [{"question_id": q1, "options": [keys["Погано"]]}])

        await page.get_by_role("link", name="Результати").click()
        await expect(page.locator("#respondents")).to_have_text("4")
        chart = page.get_by_role("table", name="Відповіді на питання 1")
        await expect(chart.get_by_role("row", name="Добре")).to_contain_text("3 (75.0%)")
        await expect(chart.get_by_role("row", name="Погано")).to_contain_text("1 (25.0%)")
        await expect(chart.locator("rect.fill").first).to_have_attribute("width", "180.0")
        await expect(page.locator(f"#average-{q2}")).to_have_text("4.00")
        await expect(page.locator(f"#texts-{q3} li")).to_have_count(2)
        await expect(page.locator(f"#texts-{q3}")).to_contain_text("Вивозити сміття частіше")
        await page.screenshot(path=str(ARTIFACTS / "33-survey-results.png"), full_page=True)

        async with page.expect_download() as waiting:
            await page.locator("#csv").click()
        download = await waiting.value
        target = tmp_path / download.suggested_filename
        await download.save_as(target)
        await browser.close()

    assert download.suggested_filename == "survey-dvir.csv"
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("№,День відповіді,1. Як Ви оцінюєте прибирання двору?")
    assert "resident-" not in raw.decode("utf-8-sig")
