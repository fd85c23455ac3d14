"""The operator chat page in headless Chromium, driven by the stable element ids the docs
list: open the conversation, read the note and the resident's message, answer, write a
private note, resolve — and the webhooks tell the bridge each step."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

import pytest

from tests.support import CHROMIUM_ARGS

from .test_ccsim_chat import Chat, chat  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser]


@pytest.fixture
async def browser_page(chat: Chat, chromium_path: str) -> AsyncIterator[Any]:  # noqa: F811
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def test_operator_answers_notes_and_resolves_in_the_browser(chat: Chat, browser_page: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    page = browser_page
    conv = await chat.conversation()
    chat.sim.operator_reply(conv, "🤖 Мешканець шукав графік вивозу сміття", private=True)
    await chat.call("POST", f"/conversations/{conv}/messages",
                    json={"content": "Коли приїде <b>бригада</b>?", "message_type": "incoming", "source_id": "chatbot:m1"})

    await page.goto(chat.url + "/chat")
    await expect(page.get_by_test_id(f"chat-row-{conv}")).to_contain_text("Відкрита")
    await page.get_by_test_id(f"chat-open-{conv}").click()
    transcript = page.get_by_test_id("transcript")
    await expect(transcript).to_contain_text("шукав графік вивозу сміття")
    await expect(transcript).to_contain_text("Коли приїде <b>бригада</b>?")  # shown as text

    await page.get_by_test_id("reply-text").fill("Бригада буде до 15:00")
    await page.get_by_test_id("reply-send").click()
    await expect(transcript).to_contain_text("Бригада буде до 15:00")
    await page.get_by_test_id("note-text").fill("Передано в водоканал")
    await page.get_by_test_id("note-send").click()
    await expect(page.locator(".msg.private").last).to_contain_text("Передано в водоканал")
    await page.get_by_test_id("resolve-send").click()
    await expect(page.get_by_test_id("chat-status")).to_have_text("Завершена")
    await expect(page.get_by_test_id("reply-form")).to_have_count(0)

    await chat.sim.drain()
    sent = [json.loads(raw) for _, raw in chat.received]
    public = [e for e in sent if e["event"] == "message_created" and e["message_type"] == "outgoing" and not e["private"]]
    assert [e["content"] for e in public] == ["Бригада буде до 15:00"]
    assert any(e["event"] == "conversation_status_changed" and e["status"] == "resolved" for e in sent)
