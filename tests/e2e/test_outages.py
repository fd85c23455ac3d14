"""Outage notices end to end (issue 8: P2, C1, S3, S7): staff publish an outage through
the admin API; the residents it concerns — and only they — get exactly one notice each
for each change (published, end moved, resolved); the delivery figures add up; the
resident's «⚠️ Відключення» screen lists it. Every service its own process on real
RabbitMQ, the fake Viber API counting what residents receive."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import ADMIN_EMAIL, ADMIN_PASSWORD, CitySystem
from tests.e2e.resident import Phone, register
from vibersim.client import SimClient

pytestmark = pytest.mark.rabbitmq


class AdminApi:
    def __init__(self, url: str) -> None:
        self.url = url + "/api/v1"
        self.token: str | None = None

    async def call(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=body, headers=headers) as resp:
                payload = await resp.json()
                assert resp.status == expect, (method, path, resp.status, payload)
                return payload

    async def login(self) -> None:
        answer = await self.call("POST", "/auth/token", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        self.token = answer["access_token"]


async def bot_texts(phone: Phone) -> list[str]:
    return [m.get("text") or "" for m in await phone.bot_messages()]


async def wait_counts(phones: dict[str, Phone], expected: dict[str, int], timeout: float = 30.0) -> None:
    """Wait until each phone holds exactly its expected number of bot messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = {name: await phone.count() for name, phone in phones.items()}
        if all(counts[n] >= expected[n] for n in expected):
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)  # and nothing more arrives (one message per resident per change)
    counts = {name: await phone.count() for name, phone in phones.items()}
    assert counts == expected, counts


async def test_an_outage_reaches_exactly_its_residents_once_per_change(city: CitySystem, city_sim: SimClient):
    phones = {
        "at_address": Phone(city_sim, "out-at-address"),  # Проскурівська 12, «my address»: affected
        "odd_side": Phone(city_sim, "out-odd-side"),  # Проскурівська 13, «my address»: not in «10-14 парні»
        "whole_city": Phone(city_sim, "out-whole-city"),  # elsewhere in the city, «whole city»: affected
        "no_notices": Phone(city_sim, "out-no-notices"),  # «no notices»: never
        "other_village": Phone(city_sim, "out-other-village"),  # «whole city» of Богданівці: another settlement
    }
    await register(phones["at_address"], street="Проскурівська", house="12")
    await register(phones["odd_side"], street="Проскурівська", house="13")
    await register(phones["whole_city"], street="Кам'янецька", house="21", notify="city")
    await register(phones["no_notices"], street="Проскурівська", house="12", notify="none")
    await register(phones["other_village"], settlement="bohdanivtsi", street="Шевченка", house="5", notify="city")
    before = {name: await phone.count() for name, phone in phones.items()}

    admin = AdminApi(city.admin.url)
    await admin.call("GET", "/outages", expect=401)  # no token: nothing
    await admin.login()
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    ends = starts + timedelta(hours=6)
    outage = await admin.call("POST", "/outages", {
        "kind": "emergency", "utility": "cold_water", "settlement_id": "khmelnytskyi",
        "addresses": [{"street": "Проскурівська", "houses": "10-14 парні"}],
        "starts_at": starts.isoformat(), "ends_at": ends.isoformat(),
        "description": "Аварійний ремонт водогону.", "contact_phone": "0382 65 00 00",
    }, expect=201)
    affected = {"at_address", "whole_city"}
    expected = {name: before[name] + (1 if name in affected else 0) for name in phones}
    await wait_counts(phones, expected)
    for name in affected:
        text = (await bot_texts(phones[name]))[-1]
        assert "Проскурівська" in text and "холодне водопостачання" in text.lower(), text
        assert ends.astimezone(KYIV).strftime("%d.%m.%Y %H:%M") in text  # until when, Kyiv time

    # The end moves: one update each, to the same residents.
    moved = ends + timedelta(hours=3)
    await admin.call("PATCH", f"/outages/{outage['id']}", {"ends_at": moved.isoformat()})
    expected = {name: expected[name] + (1 if name in affected else 0) for name in phones}
    await wait_counts(phones, expected)
    for name in affected:
        assert moved.astimezone(KYIV).strftime("%d.%m.%Y %H:%M") in (await bot_texts(phones[name]))[-1]

    # Restored: one notice each.
    await admin.call("POST", f"/outages/{outage['id']}/resolve", {})
    expected = {name: expected[name] + (1 if name in affected else 0) for name in phones}
    await wait_counts(phones, expected)

    # The delivery figures add up: everyone targeted was sent to (the fake Viber accepted all).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        figures = await admin.call("GET", f"/outages/{outage['id']}/delivery")
        if figures["done"] and figures["sent"] == figures["targeted"]:
            break
        await asyncio.sleep(0.5)
    assert figures["targeted"] == len(affected) and figures["sent"] == len(affected), figures
    assert figures["failed"] == 0 and figures["unreachable"] == 0 and figures["done"] is True, figures

    # The audit log names the admin for each change.
    audit = await admin.call("GET", "/audit")
    items = audit["items"] if isinstance(audit, dict) else audit
    mine = sorted((a["at"], a["action"], a["actor_email"]) for a in items if a["entity_id"] == outage["id"])
    assert [(action, who) for _, action, who in mine] == [
        ("outage.published", ADMIN_EMAIL), ("outage.updated", ADMIN_EMAIL), ("outage.resolved", ADMIN_EMAIL)]


async def test_the_outages_screen_lists_what_applies_to_the_resident(city: CitySystem, city_sim: SimClient):
    phone = Phone(city_sim, "out-screen")
    await register(phone, street="Проскурівська", house="12")
    admin = AdminApi(city.admin.url)
    await admin.login()
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await admin.call("POST", "/outages", {
        "kind": "planned", "utility": "hot_water", "settlement_id": "khmelnytskyi",
        "addresses": [{"street": "Проскурівська", "houses": "1-20"}],
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=8)).isoformat(),
        "description": "Планова промивка мереж.",
    }, expect=201)
    seen = await phone.count()
    await phone.receive(seen)  # the announcement of the planned works
    deadline = time.monotonic() + 20
    while True:
        await phone.tap("menu:outages")
        if "гаряче водопостачання" in phone.text.lower() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert "гаряче водопостачання" in phone.text.lower() and "Проскурівська" in phone.text, phone.text
    assert "outages:notify" in phone.codes  # the subscription setting one tap away


KYIV = __import__("zoneinfo").ZoneInfo("Europe/Kyiv")
