"""The dialog service's side of the operator chat (issue 11) through its handlers on the
in-memory bus and the store under test: ``chat.requested`` once per chat with the note,
the resident's messages in order with ``seq``, ``dialog.chat`` events told once however
often they are delivered, the rating, the idle job (once, across a restart); and the
requests gap: a ``ticket.*`` event arriving after «Видалити мої дані» does not bring the
request back into the dialog's projection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from chatbot_common.bus import Bus
from chatbot_common.events import (
    ChatClosed,
    ChatOpened,
    ChatOperatorMessage,
    CloudEvent,
    InboundContent,
    InboundMessage,
    MessageKind,
    TicketRegistered,
    TicketStatus,
    TicketStatusChanged,
    derived_id,
    make_event,
    utcnow,
)
from chatbot_common.texts import catalog
from test_service import RECORDED, Dialog, eventually, register, running_dialog, start_dialog, stop_dialog
from test_service_tickets import file_request

t = catalog()
AT = datetime(2026, 3, 2, 8, tzinfo=UTC)
CHAT_KEYS = ["chat:requested", "chat:resident_message", "chat:end_requested", "chat:rated"]
CHAT_RECORDED = [*RECORDED, "ticket.submitted", "chat.requested", "chat.resident_message", "chat.end_requested",
                 "chat.rated"]


async def start(unique: str, mongodb_url: str, store=None, **settings) -> tuple[Dialog, Bus]:
    return await start_dialog(unique, mongodb_url, CHAT_RECORDED, store=store, **settings)


@pytest.fixture
async def dialog(unique: str, mongodb_url: str) -> AsyncIterator[Dialog]:
    async with running_dialog(unique, mongodb_url, CHAT_RECORDED) as d:
        yield d


def photo(d: Dialog, user: str) -> CloudEvent:
    d.n += 1
    data = InboundMessage(channel="viber", channel_user_id=user, channel_message_id=str(d.n), sent_at=utcnow(),
                          content=InboundContent(kind=MessageKind.picture, media_url="https://media.example/p.jpg"))
    return make_event(data, source="test", id=derived_id("test", user, d.n))


async def published(d: Dialog, kind: str, count: int) -> list[CloudEvent]:
    async def enough():
        found = d.of_type(kind)
        return found if len(found) >= count else None

    return await eventually(enough, f"{count} × {kind}")


async def quiet(seconds: float = 0.5) -> None:
    """Room for a wrong extra event to show up (the assertions after it count events)."""
    await asyncio.sleep(seconds)


async def test_a_whole_chat_through_the_service(dialog: Dialog):
    """Enter → chat.requested once (with the note); 3 texts and a photo → 4
    chat.resident_message with seq 1..4 in order, no replies; chat.opened and two
    operator answers reach the resident (each delivered twice, told once); the
    operator closes → the rating question → chat.rated once."""
    await register(dialog, "u1")
    reply = await dialog.say("u1", "menu:chat")
    assert reply.data["text"] == t("chat.connecting")
    [requested] = await published(dialog, "chat.requested", 1)
    chat_id, resident_id = requested.data["chat_id"], requested.data["resident_id"]
    assert requested.data["name"] == "Олена Коваленко" and requested.data["phone"] == "+380671234567"
    assert "Проскурівська" in requested.data["note"]

    replies = len(dialog.replies())
    for text in ("Добрий день", "У під'їзді не світить", "Третій поверх"):
        await dialog.bus.publish(dialog.inbound("u1", text))
    await dialog.bus.publish(photo(dialog, "u1"))
    sent = await published(dialog, "chat.resident_message", 4)
    assert [m.data["seq"] for m in sent] == [1, 2, 3, 4]
    assert [m.data["text"] for m in sent[:3]] == ["Добрий день", "У під'їзді не світить", "Третій поверх"]
    assert sent[3].data["kind"] == "picture" and sent[3].data["media_url"] == "https://media.example/p.jpg"
    assert len({m.data["message_id"] for m in sent}) == 4
    await quiet()
    assert len(dialog.replies()) == replies  # no bot reply per message

    base = {"chat_id": chat_id, "resident_id": resident_id, "at": AT}
    opened = await dialog.event(ChatOpened(conversation_id="7", **base), "cc-opened")
    first = await dialog.event(ChatOperatorMessage(message_id="m1", text="Вітаю! Яка адреса?", **base), "cc-m1")
    second = await dialog.event(ChatOperatorMessage(message_id="m2", text="Передали бригаді.", **base), "cc-m2")
    for again in (opened, first, second):  # every event delivered twice
        await dialog.bus.publish(again)
    await eventually(lambda: _count(dialog, "Передали бригаді."), "the second answer")
    await quiet()
    texts = [r.data["text"] for r in dialog.replies()[replies:]]
    assert texts.count(t("chat.queued")) == 1
    assert sum("Вітаю! Яка адреса?" in x for x in texts) == 1 and sum("Передали бригаді." in x for x in texts) == 1

    closed = await dialog.event(ChatClosed(by="operator", **base), "cc-closed")
    await eventually(lambda: _count(dialog, t("chat.closed_by_operator")), "the rating question")
    await dialog.bus.publish(closed)
    reply = await dialog.say("u1", f"chat:rate:{chat_id}:5")
    assert reply.data["text"].startswith(t("chat.rate_thanks"))
    [rated] = await published(dialog, "chat.rated", 1)
    assert (rated.data["chat_id"], rated.data["rating"]) == (chat_id, 5)
    await dialog.say("u1", f"chat:rate:{chat_id}:5")
    await quiet()
    assert len(dialog.of_type("chat.rated")) == 1 and len(dialog.of_type("chat.requested")) == 1
    assert count(dialog, t("chat.closed_by_operator")) == 1
    doc = await dialog.store["residents"].find_one({"_id": resident_id})
    assert doc["resident"]["chat"] is None and doc["chat_active_at"] is None


def count(d: Dialog, text: str) -> int:
    return sum(text in r.data["text"] for r in d.replies())


async def _count(d: Dialog, text: str) -> int:
    return count(d, text)


async def test_a_redelivered_message_is_relayed_once(dialog: Dialog):
    await register(dialog, "u2")
    await dialog.say("u2", "menu:chat")
    message = dialog.inbound("u2", "Одне повідомлення")
    await dialog.bus.publish(message)
    await dialog.bus.publish(message)
    await published(dialog, "chat.resident_message", 1)
    await dialog.bus.publish(dialog.inbound("u2", "Друге"))
    sent = await published(dialog, "chat.resident_message", 2)
    await quiet()
    assert [m.data["seq"] for m in dialog.of_type("chat.resident_message")] == [1, 2]
    assert sent[0].id == derived_id(message.id, "chat.resident_message", 0)


async def test_ending_publishes_end_requested_and_a_stale_close_changes_nothing(dialog: Dialog):
    await register(dialog, "u3")
    await dialog.say("u3", "menu:chat")
    [requested] = await published(dialog, "chat.requested", 1)
    reply = await dialog.say("u3", "chat:end")
    assert reply.data["text"].startswith(t("chat.ended_resident"))
    [end] = await published(dialog, "chat.end_requested", 1)
    assert end.data["reason"] == "resident"
    replies = len(dialog.replies())
    base = {"chat_id": requested.data["chat_id"], "resident_id": requested.data["resident_id"], "at": AT}
    await dialog.event(ChatClosed(by="resident", **base), "cc-closed-3")
    await dialog.event(ChatOperatorMessage(message_id="late", text="Запізніла відповідь", **base), "cc-late-3")
    await quiet()
    assert len(dialog.replies()) == replies


async def test_a_quiet_chat_is_ended_once_by_the_idle_job_even_across_a_restart(unique: str, mongodb_url: str):
    """DIALOG_CHAT_IDLE_MINUTES of silence → chat.end_requested idle and the resident is
    told; later scans and a restarted service (same store) end nothing more."""
    d, recorder = await start(unique, mongodb_url, dialog_chat_idle_minutes=0.02, dialog_chat_idle_scan_seconds=0.2)
    try:
        await register(d, "u4")
        await d.say("u4", "menu:chat")
        [end] = await published(d, "chat.end_requested", 1)
        assert end.data["reason"] == "idle"
        await eventually(lambda: _count(d, t("chat.ended_idle")), "the resident told")
        await quiet(1.0)
    finally:
        await stop_dialog(d, recorder)
    again, recorder = await start(unique, mongodb_url, store=d.store, dialog_chat_idle_minutes=0.02,
                                  dialog_chat_idle_scan_seconds=0.2)
    try:
        await quiet(1.0)
        assert again.of_type("chat.end_requested") == [] and len(d.of_type("chat.end_requested")) == 1
    finally:
        await stop_dialog(again, recorder)


async def test_a_chat_with_a_resident_who_writes_is_not_idle(unique: str, mongodb_url: str):
    d, recorder = await start(unique, mongodb_url, dialog_chat_idle_minutes=0.05, dialog_chat_idle_scan_seconds=0.2)
    try:
        await register(d, "u5")
        await d.say("u5", "menu:chat")
        for n in range(4):  # every 1.5 s, the idle time being 3 s
            await asyncio.sleep(1.5)
            await d.bus.publish(d.inbound("u5", f"Повідомлення {n}"))
        await published(d, "chat.resident_message", 4)
        assert d.of_type("chat.end_requested") == []
    finally:
        await stop_dialog(d, recorder)


async def test_ticket_events_after_deletion_do_not_bring_the_request_back(dialog: Dialog):
    """C10 gap from the requests work: the resident files a request and deletes their
    data; then the contact center's ticket.registered / status change and a late
    redelivery of the dialog's own ticket.submitted (which carries the address) arrive:
    the projection stays empty of that resident."""
    await register(dialog, "u6")
    submitted = await file_request(dialog, "u6")
    ticket_id, resident_id = submitted.data["ticket_id"], submitted.data["resident_id"]
    tickets = dialog.store["tickets"]
    await eventually(lambda: tickets.find_one({"_id": ticket_id}), "the projected ticket")
    for code in ("menu:profile", "profile:delete", "profile:delete:yes"):
        await dialog.say("u6", code)

    async def erased() -> bool:
        return (await tickets.find_one({"resident_id": resident_id}) is None
                and await dialog.store["residents"].find_one({"_id": resident_id}) is None)

    await eventually(erased, "the resident and their requests erased")
    await dialog.event(TicketRegistered(ticket_id=ticket_id, resident_id=resident_id, service_name="Не світить ліхтар",
                                        service_request_id="9", at=AT), "late-registered")
    await dialog.event(TicketStatusChanged(ticket_id=ticket_id, resident_id=resident_id,
                                           service_name="Не світить ліхтар", service_request_id="9", update_id="u1",
                                           status=TicketStatus.in_progress, raw_status="open", at=AT), "late-status")
    await dialog.bus.publish(make_event(submitted.payload(), source="/dialog", id=derived_id(submitted.id, "again")))
    await quiet(1.0)
    assert await tickets.find_one({"_id": ticket_id}) is None
    assert await tickets.find_one({"resident_id": resident_id}) is None
