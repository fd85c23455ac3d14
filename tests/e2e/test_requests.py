"""Requests to the Contact Center end to end (issue 7: P1, P3, C2, C6, S1, S6): a resident
files a request through signed callbacks, contactcenter-sync files it over Open311 with
the contact-center simulator, the operator moves it, and the resident hears each change
once — every service its own process on real RabbitMQ.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import CitySystem
from tests.e2e.resident import Phone, register
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq


class ContactCenter:
    """The contact-center simulator's control API: what it received, and the operator's hands."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=body) as resp:
                assert resp.status < 300, (method, path, resp.status, await resp.text())
                return await resp.json()

    async def requests(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/control/requests")

    async def wait_for_requests(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = await self.requests()
            if len(got) >= n:
                return got
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the contact center received {len(got)} requests, expected {n}")

    async def status(self, number: str, status: str, notes: str | None = None) -> None:
        await self._call("POST", f"/control/requests/{number}/status", {"status": status, "notes": notes})

    async def deadline(self, number: str, when: datetime) -> None:
        await self._call("POST", f"/control/requests/{number}/deadline", {"expected_datetime": when.isoformat()})

    async def faults(self, **faults: Any) -> None:
        await self._call("POST", "/control/faults", faults)

    async def ratings(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/control/ratings")


def code_with_label(phone: Phone, prefix: str, label_part: str) -> str:
    for button in phone.buttons:
        if button.code.startswith(prefix) and label_part in button.label:
            return button.code
    raise AssertionError(f"no {prefix}… button with «{label_part}»: {[b.label for b in phone.buttons]}")


async def file_water_request(phone: Phone, description: str, *, messages: int = 1) -> list[dict[str, Any]]:
    """«📝 Нове звернення» → Водопостачання → no cold water → not an emergency → the
    description → the saved address → no photo → «У всьому будинку», the optional
    questions skipped → send; returns the ``messages`` that answer the send (the
    acceptance, and the number when the contact center answers at once)."""
    await phone.tap("menu:new_ticket")
    await phone.tap(code_with_label(phone, "tcat:g:", "Водопостачання"))
    await phone.tap(code_with_label(phone, "tcat:s:", "холодне"))
    await phone.tap("temerg:no")
    await phone.say(description)
    await phone.tap(next(c for c in phone.codes if c.startswith("tloc:a:")))
    await phone.tap("tphoto:skip")
    await phone.tap(code_with_label(phone, "tattr:v:", "У всьому будинку"))
    while "tattr:skip" in phone.codes:  # the optional questions: entrance, since when
        await phone.tap("tattr:skip")
    assert "tsum:send" in phone.codes, phone.text
    assert description in phone.text  # the summary shows what will be sent
    return await phone.tap_expecting("tsum:send", messages)


def accepted(messages: list[dict[str, Any]]) -> dict[str, Any]:
    [message] = [m for m in messages if m["text"].startswith("✅ Звернення прийнято")]
    return message


async def test_a_request_is_filed_followed_to_completion_rated_and_reopened(city: CitySystem, city_sim: SimClient):
    cc = ContactCenter(city.ccsim.url)
    phone = Phone(city_sim, "req-resident", timeout=30)
    await register(phone, name="Олена Коваленко", number="0671234567", street="Проскурівська", house="12а")
    answers = await file_water_request(phone, "Третій день немає холодної води в усьому будинку.", messages=2)
    accepted(answers)  # accepted at once; the number follows in its own message
    seen = await phone.count()

    # The contact center received the POST with the right fields (Open311 + S6).
    [received] = await cc.wait_for_requests(1)
    fields = received["fields"]
    assert received["service_code"] == "water-none"
    assert (fields["first_name"], fields["last_name"]) == ("Олена", "Коваленко")
    assert fields["phone"].endswith("671234567")
    assert "Проскурівська" in fields["address_string"] and "12а" in fields["address_string"]
    assert fields["description"] == "Третій день немає холодної води в усьому будинку."
    assert "api_key" not in fields  # the simulator keeps no key; it refuses (403) a POST without the right one
    assert received["attributes"] == {"scope": "building"}
    assert received["idempotency_key"]  # our ticket id: a repeat would not file it twice
    number = received["service_request_id"]
    # The number reached the resident, once.
    [notice] = [m for m in answers if m is not accepted(answers)]
    assert number in notice["text"]

    # The operator sets a deadline, moves the status twice, moves the deadline, closes it.
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    await cc.deadline(number, deadline)
    notice = await phone.receive(seen)
    seen += 1
    assert deadline.astimezone(KYIV).strftime("%d.%m.%Y") in notice["text"]
    await cc.status(number, "in_progress")
    notice = await phone.receive(seen)
    seen += 1
    assert "Виконується" in notice["text"]
    await cc.status(number, "action_scheduled", "Бригада приїде завтра")
    notice = await phone.receive(seen)
    seen += 1
    assert "заплановано" in notice["text"]
    moved = deadline + timedelta(days=2)
    await cc.deadline(number, moved)
    notice = await phone.receive(seen)
    seen += 1
    assert moved.astimezone(KYIV).strftime("%d.%m.%Y") in notice["text"]
    await cc.status(number, "fixed", "Замінено засувку, воду подано.")
    closing = await phone.receive(seen)
    seen += 1
    assert "Замінено засувку" in closing["text"]  # the outcome, in the contact center's words
    rate_codes = [c for c in phone.codes if c.startswith("ticket:rate:")]
    assert len(rate_codes) == 5, phone.codes

    # Nothing more: each change exactly once.
    await asyncio.sleep(3)  # three poll rounds of contactcenter-sync
    assert await phone.count() == seen

    # The resident rates it 1 and asks to reopen: the rating and the reopen reach the contact center.
    await phone.tap(next(c for c in rate_codes if c.endswith(":1")))
    await phone.tap("trate:skip")  # no comment
    assert "trate:reopen" in phone.codes, phone.text
    await phone.tap("trate:reopen")
    deadline_at = time.monotonic() + 30
    while time.monotonic() < deadline_at:
        ratings = await cc.ratings()
        request = (await cc.requests())[0]
        if ratings and request["status"] == "open":
            break
        await asyncio.sleep(0.3)
    assert [(r["service_request_id"], r["rating"]) for r in ratings] == [(number, 1)]
    assert request["status"] == "open"  # reopened


async def test_the_contact_center_down_then_back_files_the_request_once(city: CitySystem, city_sim: SimClient):
    """The contact center down: the resident hears at once that the request was accepted;
    it waits and is filed exactly once when the contact center is back. (A restart of
    contactcenter-sync while it waits needs the service's database to outlive the
    process: proven on real RabbitMQ with a shared store in
    services/contactcenter-sync/tests/test_ccsync_rabbitmq.py.)"""
    cc = ContactCenter(city.ccsim.url)
    await cc.faults(down=True)
    phone = Phone(city_sim, "req-outage", timeout=30)
    await register(phone)
    accepted(await file_water_request(phone, "Немає води з ранку."))
    seen = await phone.count()
    await asyncio.sleep(3)  # several failed attempts
    assert await cc.requests() == []
    await cc.faults(down=False)
    [received] = await cc.wait_for_requests(1)
    notice = await phone.receive(seen)
    assert received["service_request_id"] in notice["text"]
    await asyncio.sleep(3)
    assert len(await cc.requests()) == 1
    assert await phone.count() == seen + 1


async def test_a_refused_request_is_explained_in_ukrainian_and_can_be_fixed_and_resent(
    city: CitySystem, city_sim: SimClient
):
    cc = ContactCenter(city.ccsim.url)
    await cc.faults(refuse=400)
    phone = Phone(city_sim, "req-refused", timeout=30)
    await register(phone)
    answers = await file_water_request(phone, "Немає води.", messages=2)
    [refusal] = [m for m in answers if m is not accepted(answers)]
    assert "не прийняв" in refusal["text"].lower() or "відхил" in refusal["text"].lower(), refusal["text"]
    resend = next(c for c in phone.codes if c.startswith("tdraft:resend:"))
    await cc.faults(refuse=None)
    answers = await phone.tap_expecting(resend, 2)  # accepted again, and the number
    requests = await cc.wait_for_requests(1)
    assert any(requests[-1]["service_request_id"] in m["text"] for m in answers)


KYIV = __import__("zoneinfo").ZoneInfo("Europe/Kyiv")
