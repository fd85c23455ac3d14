"""A resident's phone for end-to-end conversations: acts through the Viber simulator
(signed callbacks into the real gateway) and reads what reached the fake Viber API.

Every dialog turn answers with exactly one message (docs/conversation.md), so an
action waits for the bot's message count to grow by one — no sleeps.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable
from typing import Any

import aio_pika

from chatbot_common.events import Button, ButtonAction
from vibersim.client import SimClient


def buttons_of(keyboard: dict[str, Any] | None) -> list[Button]:
    """The neutral buttons behind a Viber keyboard (for the shared UX checks)."""
    out = []
    for b in (keyboard or {}).get("Buttons", []):
        action = ButtonAction(b.get("ActionType", "reply"))
        body = b["ActionBody"]
        out.append(Button(label=html.unescape(b.get("Text", body)), code=body, action=action,
                          url=body if action == ButtonAction.open_url else None, columns=b.get("Columns", 6)))
    return out


class Phone:
    def __init__(self, sim: SimClient, user_id: str, *, timeout: float = 20.0) -> None:
        self.sim = sim
        self.user_id = user_id
        self.timeout = timeout
        self.last: dict[str, Any] = {}

    async def bot_messages(self) -> list[dict[str, Any]]:
        return [e for e in await self.sim.chat(self.user_id) if e["from"] == "bot"]

    async def _turn(self, action: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        before = len(await self.bot_messages())
        answer = await action
        assert answer["http_status"] == 200, answer
        chat = await self.sim.wait_for_chat(
            self.user_id, lambda c: sum(e["from"] == "bot" for e in c) >= before + 1, timeout=self.timeout
        )
        bot = [e for e in chat if e["from"] == "bot"]
        assert len(bot) == before + 1, f"one turn, one message; got {len(bot) - before}"
        self.last = bot[-1]
        return self.last

    async def count(self) -> int:
        """How many messages the bot has sent this phone so far (for :meth:`receive`)."""
        return len(await self.bot_messages())

    async def receive(self, seen: int) -> dict[str, Any]:
        """Wait for exactly one message the phone did not ask for (a notice caused by
        another app) after the ``seen`` it had; it becomes :attr:`last`."""
        chat = await self.sim.wait_for_chat(
            self.user_id, lambda c: sum(e["from"] == "bot" for e in c) >= seen + 1, timeout=self.timeout
        )
        bot = [e for e in chat if e["from"] == "bot"]
        assert len(bot) == seen + 1, f"one notice expected; got {len(bot) - seen}"
        self.last = bot[-1]
        return self.last

    # --- what the resident does
    async def open(self) -> dict[str, Any]:
        """Open the chat: the welcome comes in the webhook's answer."""
        return await self._turn(self.sim.open(self.user_id))

    async def say(self, text: str) -> dict[str, Any]:
        return await self._turn(self.sim.say(self.user_id, text))

    async def tap(self, code: str) -> dict[str, Any]:
        assert code in self.codes, f"{code!r} is not on the keyboard: {self.codes}"
        return await self._turn(self.sim.say(self.user_id, code, silent=True))

    async def tap_expecting(self, code: str, messages: int) -> list[dict[str, Any]]:
        """Tap, then wait for exactly ``messages`` new bot messages: the turn's answer and
        the notices it causes (e.g. «accepted» and the request's number, in either order)."""
        assert code in self.codes, f"{code!r} is not on the keyboard: {self.codes}"
        before = await self.count()
        answer = await self.sim.say(self.user_id, code, silent=True)
        assert answer["http_status"] == 200, answer
        chat = await self.sim.wait_for_chat(
            self.user_id, lambda c: sum(e["from"] == "bot" for e in c) >= before + messages, timeout=self.timeout
        )
        bot = [e for e in chat if e["from"] == "bot"]
        assert len(bot) == before + messages, f"expected {messages} messages, got {len(bot) - before}"
        self.last = bot[-1]
        return bot[before:]

    async def share_phone(self, phone: str) -> dict[str, Any]:
        assert any(b.action == ButtonAction.share_phone for b in self.buttons), "no share-phone button"
        return await self._turn(self.sim.contact(self.user_id, phone))

    async def sticker(self) -> dict[str, Any]:
        return await self._turn(self.sim.sticker(self.user_id))

    async def picture(self) -> dict[str, Any]:
        return await self._turn(self.sim.picture(self.user_id))

    async def location(self) -> dict[str, Any]:
        return await self._turn(self.sim.location(self.user_id))

    # --- what the resident sees
    @property
    def text(self) -> str:
        return self.last.get("text") or ""

    @property
    def buttons(self) -> list[Button]:
        return buttons_of(self.last.get("keyboard"))

    @property
    def codes(self) -> list[str]:
        return [b.code for b in self.buttons]


async def up_to_name(phone: Phone, settlement: str = "khmelnytskyi") -> None:
    """Open the chat, agree and choose the settlement: the name question is next."""
    await phone.open()
    await phone.tap("start")
    await phone.tap("consent:yes")
    await phone.tap(f"settlement:{settlement}")


async def register(phone: Phone, *, name: str = "Олена Коваленко", number: str = "0671234567",
                   shared: bool = False, street: str = "Проскурівська", house: str = "12а",
                   settlement: str = "khmelnytskyi", notify: str = "address") -> None:
    """The whole registration (S5), as a resident types and taps it."""
    await up_to_name(phone, settlement)
    await phone.say(name)
    if shared:
        await phone.share_phone(number)
    else:
        await phone.say(number)
    await phone.say(street)
    await phone.say(house)
    await phone.tap("apartment:none")
    await phone.tap(f"notify:{notify}")
    assert "menu:profile" in phone.codes, phone.text


class EventTap:
    """Everything published on ``chatbot`` under some keys, read from a private queue."""

    def __init__(self, url: str, keys: list[str]) -> None:
        self.url = url
        self.keys = keys
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> EventTap:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        # Passive: the services declared it (with its alternate exchange) at start.
        exchange = await channel.get_exchange("chatbot", ensure=True)
        self.queue = await channel.declare_queue(exclusive=True)
        for key in self.keys:
            await self.queue.bind(exchange, key)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def wait_for(self, event_type: str, timeout: float = 20.0, after: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        """The first event of ``event_type`` (published after ``after``, if given)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            start = self.events.index(after) + 1 if after is not None else 0
            for event in self.events[start:]:
                if event["type"] == event_type:
                    return event
            message = await self.queue.get(no_ack=True, fail=False)
            if message is not None:
                self.events.append(json.loads(message.body))
                continue
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no {event_type} among {[e['type'] for e in self.events]}")
            await asyncio.sleep(0.05)
