"""The key guarantees of contactcenter-sync on a real RabbitMQ (a fresh vhost per test):
filed exactly once across an outage and a restart, a refusal reported once, each status
update once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ccsync_fake import FakeContactCenter
from ccsync_support import Listener, Sync, eventually, submitted

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def center() -> AsyncIterator[FakeContactCenter]:
    fake = FakeContactCenter()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def listener(vhost_amqp_url: str) -> AsyncIterator[Listener]:
    lst = Listener(vhost_amqp_url)
    await lst.start()
    yield lst
    await lst.stop()


async def test_down_then_restarted_then_back_files_once(center: FakeContactCenter, vhost_amqp_url: str,
                                                        listener: Listener) -> None:
    """Contact center down (503, then the port closed), contactcenter-sync restarted
    meanwhile: after recovery the request is filed exactly once and one
    ticket.registered crosses the broker."""
    center.down = True
    first = await Sync(center.url, vhost_amqp_url).start()
    await first.publish(submitted("rq-1"))
    await eventually(lambda: len([c for c in center.calls if c.startswith("POST")]) >= 2, "two refused attempts")
    await center.stop()
    await first.stop()
    second = await Sync(center.url, vhost_amqp_url, database=first.database).start()
    try:
        await asyncio.sleep(0.3)
        center.down = False
        await center.start()
        [event] = await listener.wait("ticket.registered")
        assert event.data["ticket_id"] == "rq-1"
        await asyncio.sleep(0.5)
        assert len(center.requests) == 1 and len(listener.of("ticket.registered")) == 1
    finally:
        await second.stop()


async def test_refusal_and_updates_once(center: FakeContactCenter, vhost_amqp_url: str, listener: Listener) -> None:
    """A 400 refusal → one ticket.rejected with the reason; replayed updates (the
    overlap window, every poll) → one ticket.status_changed each."""
    svc = await Sync(center.url, vhost_amqp_url).start()
    try:
        center.refuse = (400, "bad_location", "Адреса поза межами міста")
        await svc.publish(submitted("rq-2"))
        [rejected] = await listener.wait("ticket.rejected")
        assert rejected.data["reason"] == "Адреса поза межами міста" and rejected.data["http_status"] == 400
        center.refuse = None
        await svc.publish(submitted("rq-3"))
        [registered] = await listener.wait("ticket.registered")
        srid = registered.data["service_request_id"]
        center.set_status(srid, "in_progress")
        center.set_status(srid, "closed", "Виконано")
        await listener.wait("ticket.status_changed", 2)
        await asyncio.sleep(0.6)
        assert [e.data["status"] for e in listener.of("ticket.status_changed")] == ["in_progress", "closed"]
        assert len(listener.of("ticket.rejected")) == 1 and len(center.posts) == 2
    finally:
        await svc.stop()
