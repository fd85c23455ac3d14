"""Live chat with an operator end to end (issue 11, P4): the resident's messages reach the
contact center's chat (Chatwoot's API channel, played by the contact-center simulator)
in order, exactly once; the operator's public answers — not private notes — reach the
resident; the operator resolves and the resident rates the chat. Every service its own
process on real RabbitMQ, webhooks signed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import CitySystem
from tests.e2e.resident import Phone, register
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq

INCOMING = {"incoming", 0}


class OperatorDesk:
    """The simulator's chat control API: what the operator sees, and their hands."""

    def __init__(self, url: str) -> None:
        self.url = url + "/control/chat"

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=body) as resp:
                assert resp.status < 300, (method, path, resp.status, await resp.text())
                return await resp.json()

    async def conversations(self) -> list[dict[str, Any]]:
        answer = await self._call("GET", "/conversations")
        return answer["conversations"] if isinstance(answer, dict) else answer

    async def wait(self, probe, what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = probe(await self.conversations())
            if result:
                return result
            await asyncio.sleep(0.3)
        raise TimeoutError(what)

    async def reply(self, conversation_id: int, text: str) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/reply", {"content": text})

    async def note(self, conversation_id: int, text: str) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/note", {"content": text})

    async def resolve(self, conversation_id: int) -> None:
        await self._call("POST", f"/conversations/{conversation_id}/resolve", {})


def incoming(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in conversation["messages"] if m["message_type"] in INCOMING and not m.get("private")]


async def test_a_resident_chats_with_an_operator_and_rates_the_chat(city: CitySystem, city_sim: SimClient):
    desk = OperatorDesk(city.ccsim.url)
    phone = Phone(city_sim, "chat-resident", timeout=30)
    await register(phone, name="Олена Коваленко")
    answers = await phone.tap_expecting("menu:chat", 2)  # «connecting…» and «you are in the queue»
    assert any("З'єднуємо" in m["text"] for m in answers) and any("черзі" in m["text"] for m in answers)
    assert "chat:end" in phone.codes

    # The contact center has a contact (the resident id, S7) and a conversation whose
    # first message is the private note for the operator.
    [conversation] = await desk.wait(lambda cs: cs or None, "no conversation")
    assert conversation["contact"]["identifier"].startswith("r-")
    first = conversation["messages"][0]
    assert first.get("private") is True and "Проскурівська" in first["content"]

    # Three messages and a photo, in order; the bot stays quiet meanwhile.
    seen = await phone.count()
    for text in ("Добрий день!", "У нас третій день немає води.", "Під'їзд 2, вул. Проскурівська 12а."):
        assert (await city_sim.say("chat-resident", text))["http_status"] == 200
    assert (await city_sim.picture("chat-resident"))["http_status"] == 200
    conversation = await desk.wait(
        lambda cs: cs[0] if len(incoming(cs[0])) >= 4 else None, "the operator did not get 4 messages")
    got = incoming(conversation)
    assert [m["content"] for m in got[:3]] == ["Добрий день!", "У нас третій день немає води.",
                                               "Під'їзд 2, вул. Проскурівська 12а."]
    assert got[3].get("attachments") or "http" in (got[3].get("content") or "")  # the photo
    assert len(got) == 4  # each exactly once
    assert await phone.count() == seen

    # The operator answers twice and writes a private note: the resident gets the 2 answers only.
    cid = conversation["id"]
    await desk.reply(cid, "Добрий день! Перевіряємо інформацію.")
    await desk.note(cid, "Передати у Водоканал")
    await desk.reply(cid, "Аварійна бригада вже на місці.")
    deadline = time.monotonic() + 30
    while await phone.count() < seen + 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)
    texts = [m.get("text") or "" for m in (await phone.bot_messages())[seen:]]
    assert len(texts) == 2, texts
    assert "Перевіряємо інформацію" in texts[0] and "бригада вже на місці" in texts[1]
    assert not any("Водоканал" in t for t in texts)  # the private note stays with the operator

    # The operator resolves: the resident is told and asked to rate; the rating reaches the chat.
    await desk.resolve(cid)
    closing = await phone.receive(seen + 2)
    assert "Оцініть" in closing["text"]
    rate = [c for c in phone.codes if c.startswith("chat:rate:")]
    assert len(rate) == 5
    await phone.tap(next(c for c in rate if c.endswith(":5")))
    conversation = await desk.wait(
        lambda cs: cs[0] if any("5" in (m.get("content") or "") and m.get("private") for m in cs[0]["messages"][1:])
        else None, "the rating did not reach the operator")
    assert "menu:profile" in phone.codes or "nav:home" in phone.codes  # the cabinet is back
