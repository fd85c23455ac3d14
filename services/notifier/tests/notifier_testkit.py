"""Notifier test helpers: residents and outages as the dialog and admin publish them,
and the notifier running in-process on a bus and store of the test's own."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatbot_common.bus import create_bus
from chatbot_common.events import (
    ChannelAddress,
    CloudEvent,
    NotifyScope,
    OutageAddress,
    OutageKind,
    OutagePublished,
    ResidentAddress,
    ResidentRegistered,
    Utility,
    make_event,
)
from chatbot_common.directory import address_key
from chatbot_common.store import open_store
from notifier.service import build
from notifier.settings import NotifierSettings

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def resident(rid: str, *, houses: list[tuple[str, str, str]] = (), notify: NotifyScope = NotifyScope.address,
             settlement: str = "khmelnytskyi", subscribed: bool = True, channels: list[ChannelAddress] | None = None,
             **extra: Any) -> ResidentRegistered:
    """A registered resident: ``houses`` are (settlement, street id, house); ``extra``:
    ``birth_date``, ``registered_at``."""
    addresses = [ResidentAddress(settlement_id=s, street_id=st, house=h, key=address_key(s, st, h)) for s, st, h in houses]
    if channels is None:
        channels = [ChannelAddress(channel="viber", channel_user_id=f"v-{rid}")]
    return ResidentRegistered(resident_id=rid, channels=channels, settlement_id=settlement, addresses=addresses,
                              notify=notify, subscribed=subscribed, **extra)


def outage(outage_id: str = "o1", *, revision: int = 1, streets: list[tuple[str, list[str]]] = (),
           city_wide: bool = False, settlement: str = "khmelnytskyi", kind: OutageKind = OutageKind.emergency,
           model: type = OutagePublished, starts_at: datetime = T0, ends_at: datetime | None = None,
           changed: list[str] = (), **extra: Any) -> Any:
    addresses = [OutageAddress(street_id=st, street_name=st, spec=", ".join(h), houses=list(h)) for st, h in streets]
    return model(outage_id=outage_id, revision=revision, kind=kind, utility=Utility.cold_water,
                 settlement_id=settlement, city_wide=city_wide, addresses=addresses, starts_at=starts_at,
                 ends_at=ends_at or starts_at + timedelta(hours=6), description="Ремонт водогону",
                 contact_phone="+380382650000", changed=list(changed), at=starts_at - timedelta(hours=1), **extra)


async def eventually(probe: Callable[[], Awaitable[Any] | Any], what: str, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


class FakeClock:
    """An injectable clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Crash(RuntimeError):
    """The process dying at this point (the input is not acknowledged)."""


class FailingInserts:
    """A collection, except that inserts after the first ``allowed`` fail as a crash."""

    def __init__(self, real: Any, allowed: int, crashed: asyncio.Event) -> None:
        self._real, self._allowed, self._crashed = real, allowed, crashed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def insert_one(self, doc: dict, *args: Any, **kwargs: Any) -> Any:
        if self._allowed <= 0:
            self._crashed.set()
            raise Crash("died while planning")
        self._allowed -= 1
        return await self._real.insert_one(doc, *args, **kwargs)


class Harness:
    """The notifier under test, a publisher and a recorder of what it publishes."""

    def __init__(self, bus_url: str, store_url: str, database: str, namespace: str, **settings: Any) -> None:
        self.bus_url = bus_url
        self.store_url = store_url
        self.database = database
        self.namespace = namespace
        self.settings = NotifierSettings(notifier_port=0, outbox_relay_seconds=0.3, notifier_progress_seconds=0.1,
                                         amqp_url=bus_url, **settings)
        self.runtime: Any = None
        self.publisher = create_bus(bus_url)
        self.recorder = create_bus(bus_url)
        self.published: list[CloudEvent] = []

    def store(self) -> Any:
        return open_store(self.store_url, self.database, memory_namespace=self.namespace)

    async def start(self, *, delivery_limit: int = 3, clock: Callable[[], datetime] | None = None) -> Any:
        extra = {"clock": clock} if clock is not None else {}
        self.runtime = build(self.settings, bus=create_bus(self.bus_url, delivery_limit=delivery_limit),
                             store=self.store(), **extra)
        await self.runtime.start(host="127.0.0.1")
        return self.runtime

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    @property
    def notifier(self) -> Any:
        return self.runtime.notifier

    def die_planning_after(self, chunks: int) -> asyncio.Event:
        """From now on the running notifier "dies" (the planning input fails) when it
        stores a mailing chunk after the first ``chunks``; the event is set then."""
        crashed = asyncio.Event()
        mailer = self.notifier.mailer
        mailer.chunks = FailingInserts(mailer.chunks, chunks, crashed)
        return crashed

    async def publish(self, data: Any, **kwargs: Any) -> CloudEvent:
        event = make_event(data, source="/test", **kwargs)
        await self.publisher.publish(event)
        return event

    def outbound(self) -> list[CloudEvent]:
        return [e for e in self.published if e.type == "outbound.viber"]

    def of_type(self, kind: str) -> list[CloudEvent]:
        return [e for e in self.published if e.type == kind]


@asynccontextmanager
async def running(bus_url: str, unique: str) -> AsyncIterator[Harness]:
    h = Harness(bus_url, "memory://", f"notifier_{unique}", unique)
    await h.publisher.connect()
    await h.recorder.connect()

    async def record(event: CloudEvent) -> None:
        h.published.append(event)

    h.recorder.subscribe("test.recorder", ["outbound.#", "mailing.#", "audience.#"], record, prefetch=1)
    await h.recorder.start_consuming()
    try:
        yield h
    finally:
        await h.stop()
        await h.recorder.close()
        await h.publisher.close()


@pytest.fixture
async def harness(unique: str) -> AsyncIterator[Harness]:
    async with running(f"memory://notifier-{unique}", unique) as h:
        yield h
