"""Test harness: the contactcenter-sync service on a bus (in-memory or RabbitMQ) with an
in-memory store of its own, a settable clock, and a listener that records every event
the service publishes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from chatbot_common.bus import Bus, create_bus
from chatbot_common.events import (
    CloudEvent,
    TicketContact,
    TicketLocation,
    TicketRated,
    TicketSubmitted,
    make_event,
    utcnow,
)
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import open_store
from contactcenter_sync.service import SYNC_KEY, build
from contactcenter_sync.settings import ContactCenterSyncSettings
from contactcenter_sync.sync import TicketSync


async def eventually(probe: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = probe()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


class Clock:
    """The service's clock for deadlines; tests move it."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


class Listener:
    """Records what the service publishes, from a queue of its own."""

    def __init__(self, amqp_url: str) -> None:
        self.bus: Bus = create_bus(amqp_url, name="ccsync-test-listener")
        self.events: list[CloudEvent] = []

        async def record(event: CloudEvent) -> None:
            if event.type != "ticket.submitted" and event.type != "ticket.rated":
                self.events.append(event)

        self.bus.subscribe(f"test.ccsync-{uuid.uuid4().hex[:6]}", ["ticket.#", "contactcenter.#", "outage.#"], record)

    async def start(self) -> None:
        await self.bus.connect()
        await self.bus.declare()
        await self.bus.start_consuming()

    async def stop(self) -> None:
        await self.bus.stop_consuming()
        await self.bus.close()

    def of(self, event_type: str, ticket_id: str | None = None) -> list[CloudEvent]:
        return [e for e in self.events if e.type == event_type
                and (ticket_id is None or e.data.get("ticket_id") == ticket_id)]

    async def wait(self, event_type: str, count: int = 1, ticket_id: str | None = None,
                   timeout: float = 15.0) -> list[CloudEvent]:
        return await eventually(lambda: len(self.of(event_type, ticket_id)) >= count and self.of(event_type, ticket_id),
                                f"{count} × {event_type}", timeout)


class Sync:
    """One running contactcenter-sync (``start``/``stop`` as a process would)."""

    def __init__(self, center_url: str, amqp_url: str, *, database: str | None = None,
                 clock: Clock | None = None, **overrides: Any) -> None:
        self.amqp_url = amqp_url
        self.database = database or f"ccsync_{uuid.uuid4().hex[:8]}"
        self.clock = clock or Clock()
        values: dict[str, Any] = dict(
            amqp_url=amqp_url, contactcenter_url=center_url, contactcenter_api_key="secret-key",
            contactcenter_sync_port=0, contactcenter_poll_seconds=0.1, contactcenter_retry_min_seconds=0.05,
            contactcenter_retry_max_seconds=0.2, contactcenter_timeout_seconds=2.0, outbox_relay_seconds=0.5,
            contactcenter_updates_overlap_seconds=600, contactcenter_deadline_reminder_hours=24,
        )
        values.update(overrides)
        self.settings = ContactCenterSyncSettings(**values)
        self.runtime: ServiceRuntime | None = None

    @property
    def sync(self) -> TicketSync:
        assert self.runtime is not None
        return self.runtime.app[SYNC_KEY]

    @property
    def tickets(self) -> Any:
        return self.sync.tickets

    async def start(self) -> Sync:
        store = open_store("memory://", self.database)
        self.runtime = build(self.settings, store=store, clock=self.clock)
        await self.runtime.start("127.0.0.1")
        return self

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def publish(self, event: CloudEvent) -> None:
        assert self.runtime is not None
        await self.runtime.bus.publish(event)

    async def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        return await self.tickets.find_one({"_id": ticket_id})


def submitted(ticket_id: str, **changes: Any) -> CloudEvent:
    data: dict[str, Any] = dict(
        ticket_id=ticket_id, resident_id="r-1", service_code="water-leak", service_name="Витік води",
        description="Тече труба в підвалі", submitted_at=utcnow(),
        location=TicketLocation(address_string="вул. Проскурівська, 1"),
        attributes={"where": ["1"]}, contact=TicketContact(first_name="Олена", phone="+380501234567"),
    )
    data.update(changes)
    return make_event(TicketSubmitted(**data), source="test", id=f"submit-{ticket_id}")


def rated(ticket_id: str, rating: int, *, reopen: bool = False, comment: str | None = None,
          event_id: str | None = None) -> CloudEvent:
    return make_event(TicketRated(ticket_id=ticket_id, resident_id="r-1", rating=rating, comment=comment,
                                  reopen=reopen, at=utcnow()),
                      source="test", id=event_id or f"rate-{ticket_id}-{rating}-{reopen}")
