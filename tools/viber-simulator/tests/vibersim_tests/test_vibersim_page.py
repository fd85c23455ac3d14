"""The resident's phone page, driven in headless Chromium against a stub bot."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

from tests.support import CHROMIUM_ARGS

from .helpers import BOT, Sim, SimFactory, StubWebhook, eventually


# ``chromium_path`` (root conftest) skips without Chromium, or fails under REQUIRE_BROWSER=1.
pytestmark = [pytest.mark.browser]

WELCOME = {
    "type": "text", "text": "Оберіть тему звернення", "sender": BOT, "min_api_version": 3,
    "keyboard": {"Type": "keyboard", "Buttons": [
        {"ActionBody": "water", "Text": "<b>Вода</b>", "Columns": 3, "BgColor": "#2db9b9"},
        {"ActionBody": "light", "Text": "Світло", "Columns": 3},
        {"ActionBody": "phone", "ActionType": "share-phone", "Text": "Поділитися номером", "Columns": 6},
        {"ActionBody": "where", "ActionType": "location-picker", "Text": "Де проблема", "Columns": 6},
    ]},
}


@pytest.fixture
async def bot(make_sim: SimFactory, webhook: StubWebhook) -> AsyncIterator[Sim]:
    """A stub bot: welcome with a keyboard; answers every message through send_message."""
    sim = await make_sim()
    tasks: set[asyncio.Task[Any]] = set()

    async def reply(user_id: str, message: dict[str, Any]) -> None:
        kind = message["type"]
        text = {"text": f"Прийнято: {message.get('text')}",
                "contact": f"Дякуємо, ваш номер {message.get('contact', {}).get('phone_number')}",
                "location": "Локацію отримано"}.get(kind, "?")
        await sim.send_text(user_id, text)

    def respond(body: dict[str, Any]) -> web.Response:
        if body["event"] == "conversation_started":
            return web.json_response(WELCOME)
        if body["event"] == "message":
            task = asyncio.create_task(reply(body["sender"]["id"], body["message"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return web.json_response({})

    webhook.responder = respond
    yield sim
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def page(bot: Sim, chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(bot.url + "/")
            yield page
        finally:
            await browser.close()


async def test_page_open_then_tap_keyboard_button_shows_user_and_bot_reply_bubbles(
    page: Any, bot: Sim, webhook: StubWebhook
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    assert await page.get_by_test_id("user-id").input_value() == "resident-1"
    await page.get_by_test_id("start").click()
    await expect(page.get_by_test_id("bubble-bot").first).to_contain_text("Оберіть тему звернення")

    buttons = page.get_by_test_id("kbd-button")
    await expect(buttons).to_have_count(4)
    water = page.locator('[data-testid="kbd-button"][data-action-body="water"]')
    await expect(water).to_have_text("Вода")  # markup stripped
    assert "span 3" in await water.evaluate("el => el.style.gridColumn")
    await expect(water).to_have_css("background-color", "rgb(45, 185, 185)")

    await water.click()
    await expect(page.get_by_test_id("bubble-user").last).to_contain_text("water")
    await expect(page.get_by_test_id("bubble-bot").last).to_contain_text("Прийнято: water")
    await expect(buttons).to_have_count(0)  # the reply carried no keyboard

    await page.get_by_test_id("input").fill("Дякую!")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("bubble-user").last).to_contain_text("Дякую!")
    await expect(page.get_by_test_id("bubble-bot").last).to_contain_text("Прийнято: Дякую!")
    assert [c.body["message"]["text"] for c in webhook.events("message")] == ["water", "Дякую!"]


async def test_page_share_phone_and_location_buttons_send_contact_and_location(
    page: Any, bot: Sim, webhook: StubWebhook
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    await page.get_by_test_id("user-phone").fill("+380671112233")
    await page.get_by_test_id("start").click()
    await page.locator('[data-testid="kbd-button"][data-action-type="share-phone"]').click()
    await expect(page.get_by_test_id("bubble-bot").last).to_contain_text("Дякуємо, ваш номер +380671112233")

    await bot.call("send_message", {"receiver": "resident-1", **WELCOME})  # show the keyboard again
    await page.locator('[data-testid="kbd-button"][data-action-type="location-picker"]').click()
    await expect(page.get_by_test_id("bubble-bot").last).to_contain_text("Локацію отримано")
    location = (await eventually(lambda: [c for c in webhook.events("message")
                                          if c.body["message"]["type"] == "location"]))[0]
    assert location.body["message"]["location"] == {"lat": 49.4229, "lon": 26.9871}
