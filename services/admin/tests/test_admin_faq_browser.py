"""The knowledge-base pages in headless Chromium (C3), as an editor uses them: find an
entry, edit its answer watching the live character counter (it turns into a warning
past 1000 and the server refuses the answer next to the field), save, and see the
dialog's faq.changed on the bus; then «Питання мешканців» with a resident's unanswered
question → «Створити відповідь». Screenshots go to test-artifacts/admin/."""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, Recorder
from playwright.async_api import async_playwright, expect
from test_admin_faq import publish_feedback, wait_questions

from chatbot_common.events import FaqFeedback, utcnow
from tests.support import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "admin"


async def test_edit_an_answer_and_answer_a_residents_question(admin: Admin, chromium_path: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(admin.bus_url, ["faq.changed"])
    await recorder.start()
    question = FaqFeedback(verdict="unanswered", question="Де купити квиток на концерт?", at=utcnow())
    await publish_feedback(admin.bus_url, [("fb-b1", question)])
    await wait_questions(admin, 1)
    base = f"http://127.0.0.1:{admin.runtime.bound_port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="uk-UA")
        await page.goto(f"{base}/panel/faq")
        await page.get_by_label("Електронна пошта").fill(ADMIN_EMAIL)
        await page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Увійти").click()
        await expect(page.get_by_role("heading", name="Питання та відповіді")).to_be_visible()

        # find the entry and open it
        await page.get_by_label("Пошук (слова з питання чи відповіді)").fill("пахне газом")
        await page.get_by_role("button", name="Знайти").click()
        await expect(page.locator("#faq-gas-smell")).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "20-faq-list.png"), full_page=True)
        await page.get_by_role("link", name="Змінити «Що робити, якщо пахне газом?»").click()

        # the counter follows typing; past the limit it warns, and the server refuses
        answer = page.get_by_label("Відповідь (звертайтеся на «Ви», до 1000 символів)")
        counter = page.locator("#answer-count")
        await answer.fill("Ви " + "а" * 1000)
        await expect(counter).to_contain_text("1003 із 1000 символів — на 3 більше")
        await expect(counter).to_have_class("hint error")
        await page.get_by_role("button", name="Зберегти й показати в боті").click()
        await expect(page.locator("#f-faq-answer-error")).to_contain_text("довша за 1000")
        await answer.fill("")
        await answer.press_sequentially("Вийдіть надвір і телефонуйте 104.", delay=5)
        await expect(counter).to_have_text("33 із 1000 символів")
        await page.screenshot(path=str(ARTIFACTS / "21-faq-edit.png"), full_page=True)
        await page.get_by_role("button", name="Зберегти й показати в боті").click()
        await expect(page.get_by_role("status")).to_contain_text("Збережено")
        await expect(page.locator("#faq-gas-smell")).to_contain_text("Вийдіть надвір і телефонуйте 104.")

        # a resident's unanswered question becomes an entry
        await page.get_by_role("link", name="Питання мешканців").click()
        await expect(page.locator("#question-fb-b1")).to_contain_text("Де купити квиток на концерт?")
        await page.screenshot(path=str(ARTIFACTS / "22-faq-questions.png"), full_page=True)
        await page.get_by_role("link", name="Створити відповідь на «Де купити квиток на концерт?»").click()
        await expect(page.get_by_label("Питання (як його покаже кнопка-підказка)")).to_have_value(
            "Де купити квиток на концерт?")
        await page.get_by_label("Ідентифікатор (латиницею, напр. «bulky-waste»; потім не змінюється)").fill("concerts")
        await page.get_by_label("Тема (код латиницею: water, heating, cnap …)").fill("culture")
        await answer.fill("Квитки на міські концерти Ви можете придбати в касі філармонії.")
        await page.get_by_role("button", name="Зберегти й показати в боті").click()
        await expect(page.get_by_role("status")).to_contain_text("питання позначено як опрацьоване")
        await expect(page.locator("#question-fb-b1")).to_have_count(0)
        await browser.close()

    events = await recorder.count(2)
    await recorder.bus.close()
    first, second = events[0].payload(), events[1].payload()
    assert (first.entry_id, first.revision, first.entry.answer) == ("gas-smell", 1, "Вийдіть надвір і телефонуйте 104.")
    assert (second.entry_id, second.revision) == ("concerts", 1)
