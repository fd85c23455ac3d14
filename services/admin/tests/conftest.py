"""Fixtures of the admin service's tests: the service built on an in-memory bus and
store of its own (a real MongoDB when MONGODB_URL is set), logged in as the bootstrap
admin, with a recorder of every outage event it publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from admin_testkit import ADMIN_EMAIL, ADMIN_PASSWORD, Admin, Client, settings

from admin.service import build
from chatbot_common.bus import create_bus
from chatbot_common.events import CloudEvent
from chatbot_common.store import open_store


@asynccontextmanager
async def running_admin(unique: str, mongodb_url: str, **overrides: Any) -> AsyncIterator[Admin]:
    bus_url = f"memory://admin-{unique}"
    store = open_store(mongodb_url, f"admin_{unique}", memory_namespace=unique)
    runtime = build(settings(**overrides), bus=create_bus(bus_url, delivery_limit=3), store=store)
    recorder = create_bus(bus_url)
    events: list[CloudEvent] = []

    async def record(event: CloudEvent) -> None:
        events.append(event)

    recorder.subscribe("test.outages", ["outage.#", "mailing.requested", "mailing.cancelled", "greeting.configured"],
                       record)
    await recorder.start_consuming()
    await runtime.start(host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        client = Client(session, f"http://127.0.0.1:{runtime.bound_port}")
        client.token = await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield Admin(runtime, client, events, bus_url)
    await runtime.stop()
    await recorder.close()
    if not store.in_memory:
        await store.client.drop_database(f"admin_{unique}")


@pytest.fixture
async def admin(unique: str, mongodb_url: str) -> AsyncIterator[Admin]:
    async with running_admin(unique, mongodb_url) as started:
        yield started
