"""The dialog service around the engine: store, outbox, idempotency (in-process, on the
in-memory bus and the store under test — a real MongoDB when MONGODB_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from chatbot_common.bus import Bus, PublishError, create_bus
from chatbot_common.events import (
    CloudEvent,
    InboundContent,
    InboundMessage,
    Lane,
    MessageKind,
    OutboundMessage,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.store import Store, open_store
from dialog.repository import ResidentRepository
from dialog.service import build
from dialog.settings import DialogSettings


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns something truthy. The dialog's bookkeeping after
    the publishes (``outbox_sent``, ``erase``) lands after the reply: reading the store
    once, right when the reply arrives, races it (and loses on a real MongoDB)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def slow_bookkeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the follow-ups after the write late, as a real database may be, so the tests
    prove they wait for them on every store (not only where the race shows)."""
    real = ResidentRepository.complete

    async def late(self, *args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.3)
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(ResidentRepository, "complete", late)


class Dialog:
    """A running dialog service, the bus to talk to it and what it published."""

    def __init__(self, runtime, bus, store: Store) -> None:
        self.runtime = runtime
        self.bus = bus
        self.store = store
        self.published: list[CloudEvent] = []
        self.n = 0

    async def event(self, data, event_id: str) -> CloudEvent:
        """Publish another service's event to the dialog."""
        event = make_event(data, source="test", id=event_id)
        await self.bus.publish(event)
        return event

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


#: what every dialog test records: the replies and the resident events
RECORDED = ("outbound.#", "resident.#")


async def start_dialog(unique: str, mongodb_url: str, keys: Sequence[str] = RECORDED, *,
                       store: Store | None = None, **settings: Any) -> tuple[Dialog, Bus]:
    """The dialog service on the in-memory bus ``unique`` and the store under test (or
    ``store``: a restart keeps it), and a recorder of the events matching ``keys``
    (``Dialog.published``). Stop both with :func:`stop_dialog`."""
    bus_url = f"memory://dialog-{unique}"
    store = store or open_store(mongodb_url, f"dialog_{unique}", memory_namespace=unique)
    runtime = build(DialogSettings(dialog_port=0, outbox_relay_seconds=0.3, **settings),
                    bus=create_bus(bus_url, delivery_limit=3), store=store)
    recorder = create_bus(bus_url)
    d = Dialog(runtime, create_bus(bus_url), store)

    async def record(event: CloudEvent) -> None:
        d.published.append(event)

    recorder.subscribe(f"test.everything.{id(d)}", list(keys), record)  # one queue per run: restarts overlap
    await recorder.start_consuming()
    await runtime.start(host="127.0.0.1")
    return d, recorder


async def stop_dialog(d: Dialog, recorder: Bus) -> None:
    await d.runtime.stop()
    await recorder.close()


@asynccontextmanager
async def running_dialog(unique: str, mongodb_url: str, keys: Sequence[str] = RECORDED) -> AsyncIterator[Dialog]:
    """:func:`start_dialog` for one test; its database is dropped afterwards (MongoDB)."""
    d, recorder = await start_dialog(unique, mongodb_url, keys)
    try:
        yield d
    finally:
        await stop_dialog(d, recorder)
        if not d.store.in_memory:
            await d.store.client.drop_database(f"dialog_{unique}")


@pytest.fixture
async def dialog(unique: str, mongodb_url: str) -> AsyncIterator[Dialog]:
    async with running_dialog(unique, mongodb_url) as d:
        yield d


async def register(d: Dialog, user: str) -> None:
    for text in ("start", "consent:yes", "settlement:khmelnytskyi", "Олена Коваленко"):
        await d.say(user, text)
    await d.send(d.inbound(user, phone="+380671234567"))
    for text in ("Проскурівська", "12а", "apartment:none", "notify:address"):
        await d.say(user, text)
    assert d.of_type("resident.registered")


async def stored_everything(dialog: Dialog) -> list[dict]:
    store = dialog.runtime.store
    return [doc async for doc in store["residents"].find({})] + [doc async for doc in store["identities"].find({})]


PERSONAL = ("Олена", "Коваленко", "380671234567", "Проскурівська", "u-del")


async def test_deleting_data_removes_every_personal_field_from_the_store(dialog: Dialog, slow_bookkeeping):
    await register(dialog, "u-del")
    residents = dialog.runtime.store["residents"]
    [stored] = [doc async for doc in residents.find({})]
    assert stored["resident"]["name"] == "Олена Коваленко"  # what is about to go
    for code in ("menu:profile", "profile:delete", "profile:delete:yes"):
        await dialog.say("u-del", code)
    assert "видалено" in dialog.replies()[-1].data["text"]

    async def deleted_announced() -> list[CloudEvent]:
        return dialog.of_type("resident.deleted")  # published after the farewell

    [deleted] = await eventually(deleted_announced, "resident.deleted published")
    assert deleted.data["resident_id"] == stored["_id"]

    async def nothing_personal_left() -> bool:
        dump = repr(await stored_everything(dialog))
        return not any(personal in dump for personal in PERSONAL)

    try:
        await eventually(nothing_personal_left, "personal data erased")
    except TimeoutError:
        dump = repr(await stored_everything(dialog))
        pytest.fail(f"still stored: {[p for p in PERSONAL if p in dump]} in {dump[:500]}")


async def test_a_redelivered_inbound_event_is_answered_once(dialog: Dialog):
    event = dialog.inbound("u-dup", "start")
    await dialog.send(event)
    await dialog.bus.publish(event)  # the broker delivers it again (at-least-once)
    await dialog.say("u-dup", "consent:yes")  # a later message: the duplicate was before it
    assert len(dialog.replies()) == 2


async def test_a_crash_between_saving_and_publishing_publishes_the_stored_outbox_once(
    dialog: Dialog, monkeypatch, slow_bookkeeping
):
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

    async def outbox_emptied() -> dict | None:
        docs = [d async for d in dialog.runtime.store["residents"].find({})]
        return docs[0] if len(docs) == 1 and docs[0]["outbox"] == [] else None

    # The retry re-published the reply stored with the state instead of running the
    # step again: the resident is at the consent question, answered exactly once.
    doc = await eventually(outbox_emptied, "the outbox marked sent")
    assert doc["resident"]["state"]["step"] == "consent"
    await dialog.say("u-crash-marker", "start")  # a later reply: anything before it has arrived
    assert [r.data["receivers"] for r in dialog.replies()] == [["u-crash"], ["u-crash-marker"]]


async def test_the_relay_takes_an_entry_written_in_the_millisecond_its_cutoff_falls_in(
    unique: str, mongodb_url: str, monkeypatch
):
    """Stored times are whole milliseconds: an outbox entry written 0.4 ms before the
    relay's cutoff, in the same millisecond, is due (with ``$lt`` it was not, and on the
    in-memory store, which has no periodic scan, nothing would ever have sent it)."""
    from datetime import UTC, datetime, timedelta

    import dialog.repository as repository_module
    from chatbot_common.outbox import Outbox

    store = open_store(mongodb_url, f"relay_{unique}", memory_namespace=f"relay-{unique}")
    bus = create_bus(f"memory://relay-{unique}")
    published: list[CloudEvent] = []

    async def record(event: CloudEvent) -> None:
        published.append(event)

    bus.subscribe("test.relay", ["outbound.#"], record)
    await bus.start_consuming()
    try:
        repo = ResidentRepository(store, Outbox(bus, store, "residents", grace=0.3))
        written = datetime(2026, 11, 29, 15, 19, 8, 183500, tzinfo=UTC)
        reply = make_event(OutboundMessage(channel="viber", lane=Lane.reply, receivers=["u"], text="t"),
                           source="/dialog", id="reply-1")
        await store["residents"].insert_one({"_id": "r-1", "version": 1, "inputs": ["in-1"], "tasks": [],
                                             "outbox": [{"input": "in-1", "at": written,
                                                         "events": [reply.model_dump(mode="json")]}]})
        monkeypatch.setattr(repository_module, "utcnow", lambda: written + timedelta(seconds=0.3, microseconds=400))
        assert await repo.relay_once(grace=0.3) == 0  # nothing left pending
        await eventually(lambda: asyncio.sleep(0, result=[e.id for e in published]), "the reply relayed")
        assert [e.id for e in published] == ["reply-1"]
        assert (await store["residents"].find_one({"_id": "r-1"}))["outbox"] == []
    finally:
        await bus.close()
        if not store.in_memory:
            await store.client.drop_database(f"relay_{unique}")


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


async def test_someone_who_only_opens_the_chat_leaves_no_record(dialog: Dialog):
    from chatbot_common.events import InboundConversationStarted

    opened = InboundConversationStarted(channel="viber", channel_user_id="u-look", channel_message_id="1",
                                        sent_at=utcnow())
    event = make_event(opened, source="test")
    await dialog.bus.publish(event)
    await dialog.say("u-other", "start")
    inbox = dialog.runtime.store["inbox"]
    for _ in range(400):  # handled (remembered in the inbox) means done
        if await inbox.find_one({"_id": event.id}):
            break
        await asyncio.sleep(0.01)
    assert await inbox.find_one({"_id": event.id})
    residents = [doc async for doc in dialog.runtime.store["residents"].find({})]
    identities = [doc async for doc in dialog.runtime.store["identities"].find({})]
    assert [d["_id"] for d in identities] == ["viber:u-other"]
    assert len(residents) == 1


async def test_outputs_of_several_inputs_wait_in_order_while_the_broker_refuses_and_none_is_lost(dialog: Dialog):
    """Issue 6, case 1: each input's outputs are kept apart (never overwritten by the next
    input's), and once the broker takes publishes again every reply and every event goes
    out exactly once, in the order the inputs were handled."""
    await register(dialog, "u-block")
    done_before = len(dialog.replies())
    registered = dialog.of_type("resident.registered")
    switch = {"on": True}  # only the dialog's publishes fail, not the test's own
    test_bus, dialog_bus = dialog.bus, dialog.runtime.bus
    real = dialog_bus.publish

    async def blocked(event: CloudEvent) -> None:
        if switch["on"]:
            raise PublishError("memory alarm: publishing blocked")
        await real(event)

    dialog_bus.publish = blocked  # type: ignore[method-assign]
    inputs = [dialog.inbound("u-block", t) for t in ("menu:profile", "home", "menu:profile")]
    for event in inputs:
        await test_bus.publish(event)
    inbox = dialog.runtime.store["inbox"]

    async def all_handled() -> bool:
        return all([await inbox.find_one({"_id": e.id}) for e in inputs])

    await eventually(all_handled, "every input handled (acknowledged) while publishes fail")
    [doc] = [d async for d in dialog.runtime.store["residents"].find({})]
    assert [entry["input"] for entry in doc["outbox"]] == [e.id for e in inputs]  # kept apart, in order
    assert len(dialog.replies()) == done_before  # nothing got out
    switch["on"] = False

    async def three_more() -> bool:
        return len(dialog.replies()) >= done_before + 3

    await eventually(three_more, "the relay published what waited")
    await dialog.say("u-block-marker", "start")  # anything before this has arrived
    new = [r for r in dialog.replies()[done_before:] if r.data["receivers"] == ["u-block"]]
    assert len(new) == 3 and len({r.id for r in new}) == 3
    # profile, home, profile: in the order the inputs were handled
    assert new[0].data["text"] == new[2].data["text"] != new[1].data["text"]
    assert dialog.of_type("resident.registered") == registered  # announced once, not again


async def test_a_crash_after_the_write_is_completed_by_the_redelivery_without_a_second_resident(
    dialog: Dialog, monkeypatch
):
    """Issue 6, case 2: the process dies after the one write (identity claimed, resident
    written) and before anything else; the redelivered input publishes the stored
    outputs once and finds the same resident — no second one."""
    real = ResidentRepository.complete
    crashed = {"n": 0}

    async def crash_once(self, *args: Any, **kwargs: Any) -> bool:
        if not crashed["n"]:
            crashed["n"] += 1
            raise RuntimeError("killed right after the write")  # the bus requeues the input
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(ResidentRepository, "complete", crash_once)
    reply = await dialog.say("u-kill", "start")
    assert "персональних даних" in reply.data["text"]
    await dialog.say("u-kill-marker", "start")
    assert [r.data["receivers"] for r in dialog.replies()] == [["u-kill"], ["u-kill-marker"]]
    residents = [d async for d in dialog.runtime.store["residents"].find({})]
    assert len(residents) == 2  # u-kill and the marker: one each


async def test_a_message_after_a_deletion_whose_farewell_waits_starts_a_new_resident_linked_to_that_app(
    dialog: Dialog
):
    """Issue 6, case 3: a deletion whose outputs are still waiting for the broker is not
    finished by the next message at the cost of that message's identity link: the app
    starts afresh as a new resident, and the old record is erased once its farewell and
    resident.deleted are out."""
    await register(dialog, "u-again")
    [old] = [d["_id"] async for d in dialog.runtime.store["residents"].find({})]
    for code in ("menu:profile", "profile:delete"):
        await dialog.say("u-again", code)
    dialog_bus = dialog.runtime.bus
    real = dialog_bus.publish
    switch = {"on": True}

    async def blocked(event: CloudEvent) -> None:
        if switch["on"]:
            raise PublishError("publishing blocked")
        await real(event)

    dialog_bus.publish = blocked  # type: ignore[method-assign]
    confirm = dialog.inbound("u-again", "profile:delete:yes")
    again = dialog.inbound("u-again", "start")
    await dialog.bus.publish(confirm)
    await dialog.bus.publish(again)
    inbox = dialog.runtime.store["inbox"]

    async def both_handled() -> bool:
        return bool(await inbox.find_one({"_id": confirm.id}) and await inbox.find_one({"_id": again.id}))

    await eventually(both_handled, "both inputs handled while publishes fail")
    link = await dialog.runtime.store["identities"].find_one({"_id": "viber:u-again"})
    assert link is not None and link["resident_id"] != old  # the app belongs to a new resident
    switch["on"] = False

    async def erased() -> bool:
        return await dialog.runtime.store["residents"].find_one({"_id": old}) is None

    await eventually(erased, "the deleted resident erased once its outputs were out")
    assert len(dialog.of_type("resident.deleted")) == 1
    link = await dialog.runtime.store["identities"].find_one({"_id": "viber:u-again"})
    assert link is not None and link["resident_id"] != old  # the erase did not take the new link
    new = await dialog.runtime.store["residents"].find_one({"_id": link["resident_id"]})
    assert new["resident"]["state"]["step"] == "consent"
