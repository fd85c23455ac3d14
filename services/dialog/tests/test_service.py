"""The dialog service around the engine: store, outbox, idempotency (in-process, on the
in-memory bus and the store under test — a real MongoDB when MONGODB_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatbot_common.bus import PublishError, create_bus
from chatbot_common.events import (
    CloudEvent,
    InboundContent,
    InboundMessage,
    MessageKind,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.settings import Settings
from chatbot_common.store import open_store
from dialog.service import build


class Dialog:
    def __init__(self, runtime, bus) -> None:
        self.runtime = runtime
        self.bus = bus
        self.published: list[CloudEvent] = []
        self.n = 0

    def inbound(self, user: str, text: str | None = None, *, phone: str | None = None) -> CloudEvent:
        self.n += 1
        content = (InboundContent(kind=MessageKind.contact, phone=phone) if phone
                   else InboundContent(kind=MessageKind.text, text=text))
        data = InboundMessage(channel="viber", channel_user_id=user, channel_message_id=str(self.n),
                              sent_at=utcnow(), content=content)
        return make_event(data, source="test", id=derived_id("test", user, self.n))

    async def send(self, event: CloudEvent) -> CloudEvent:
        before = len(self.replies())
        await self.bus.publish(event)
        for _ in range(400):
            if len(self.replies()) > before:
                return self.replies()[-1]
            await asyncio.sleep(0.01)
        raise TimeoutError("no reply")

    async def say(self, user: str, text: str) -> CloudEvent:
        return await self.send(self.inbound(user, text))

    def replies(self) -> list[CloudEvent]:
        return [e for e in self.published if e.type == "outbound.viber"]

    def of_type(self, kind: str) -> list[CloudEvent]:
        return [e for e in self.published if e.type == kind]


@pytest.fixture
async def dialog(unique: str, mongodb_url: str) -> AsyncIterator[Dialog]:
    bus_url = f"memory://dialog-{unique}"
    store = open_store(mongodb_url, f"dialog_{unique}", memory_namespace=unique)
    runtime = build(Settings(dialog_port=0), bus=create_bus(bus_url, delivery_limit=3), store=store)
    recorder = create_bus(bus_url)
    d = Dialog(runtime, create_bus(bus_url))

    async def record(event: CloudEvent) -> None:
        d.published.append(event)

    recorder.subscribe("test.everything", ["outbound.#", "resident.#"], record)
    await recorder.start_consuming()
    await runtime.start(host="127.0.0.1")
    yield d
    await runtime.stop()
    await recorder.close()
    if not store.in_memory:
        await store.client.drop_database(f"dialog_{unique}")


async def register(d: Dialog, user: str) -> None:
    for text in ("start", "consent:yes", "settlement:khmelnytskyi", "Олена Коваленко"):
        await d.say(user, text)
    await d.send(d.inbound(user, phone="+380671234567"))
    for text in ("Проскурівська", "12а", "apartment:none", "notify:address"):
        await d.say(user, text)
    assert d.of_type("resident.registered")


async def test_deleting_data_removes_every_personal_field_from_the_store(dialog: Dialog):
    await register(dialog, "u-del")
    residents = dialog.runtime.store["residents"]
    [stored] = [doc async for doc in residents.find({})]
    assert stored["resident"]["name"] == "Олена Коваленко"  # what is about to go
    for code in ("menu:profile", "profile:delete", "profile:delete:yes"):
        await dialog.say("u-del", code)
    assert "видалено" in dialog.replies()[-1].data["text"]
    [deleted] = dialog.of_type("resident.deleted")
    assert deleted.data["resident_id"] == stored["_id"]
    everything = [doc async for doc in residents.find({})] + [
        doc async for doc in dialog.runtime.store["identities"].find({})
    ]
    dump = repr(everything)
    for personal in ("Олена", "Коваленко", "380671234567", "Проскурівська", "u-del"):
        assert personal not in dump, f"{personal!r} still stored: {dump[:500]}"


async def test_a_redelivered_inbound_event_is_answered_once(dialog: Dialog):
    event = dialog.inbound("u-dup", "start")
    await dialog.send(event)
    await dialog.bus.publish(event)  # the broker delivers it again (at-least-once)
    await dialog.say("u-dup", "consent:yes")  # a later message: the duplicate was before it
    assert len(dialog.replies()) == 2


async def test_a_crash_between_saving_and_publishing_publishes_the_stored_outbox_once(dialog: Dialog, monkeypatch):
    bus = dialog.runtime.bus
    real_publish = bus.publish
    calls = {"n": 0}

    async def flaky_publish(event: CloudEvent) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise PublishError("connection lost after the state was written")
        await real_publish(event)

    monkeypatch.setattr(bus, "publish", flaky_publish)
    reply = await dialog.say("u-crash", "start")
    assert "персональних даних" in reply.data["text"]
    # The retry re-published the reply stored with the state instead of running the
    # step again: the resident is at the consent question, answered exactly once.
    assert len(dialog.replies()) == 1
    [doc] = [d async for d in dialog.runtime.store["residents"].find({})]
    assert doc["resident"]["state"]["step"] == "consent"
    assert doc["outbox"] == []


async def test_an_unreadable_stored_state_is_not_silently_answered(dialog: Dialog):
    """A handler failure is retried and then parked, never acknowledged without effect."""
    await dialog.say("u-bad", "start")
    await dialog.runtime.store["residents"].update_many({}, {"$set": {"resident": {"state": "garbage"}}})
    await dialog.bus.publish(dialog.inbound("u-bad", "consent:yes"))
    for _ in range(400):
        dead = dialog.bus.broker.dead.get("dialog.inbound.dead", [])
        if dead:
            break
        await asyncio.sleep(0.01)
    assert len(dialog.bus.broker.dead["dialog.inbound.dead"]) == 1
    assert len(dialog.replies()) == 1
