"""contactcenter-sync as a whole on the in-memory bus, against a fake contact center
over real HTTP: stored first, filed exactly once, refusals, tokens, statuses, deadlines,
ratings, the service list."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from ccsync_fake import FakeContactCenter
from ccsync_support import Clock, Listener, Sync, eventually, rated, submitted

from chatbot_common.events import TicketStatus


@pytest.fixture
async def center() -> AsyncIterator[FakeContactCenter]:
    fake = FakeContactCenter()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def amqp_url() -> str:
    return f"memory://ccsync-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def listener(amqp_url: str) -> AsyncIterator[Listener]:
    lst = Listener(amqp_url)
    await lst.start()
    yield lst
    await lst.stop()


@pytest.fixture
async def service(center: FakeContactCenter, amqp_url: str, listener: Listener) -> AsyncIterator[Sync]:
    svc = await Sync(center.url, amqp_url).start()
    yield svc
    await svc.stop()


def created(center: FakeContactCenter) -> int:
    """Requests the contact center actually created (repeats with a known key excluded)."""
    return len(center.requests) + len([t for t in center.by_token.values() if t.service_request_id is None])


async def test_filed_once_with_the_number(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """A submitted ticket is posted once and one ticket.registered carries the number."""
    await service.publish(submitted("t-1"))
    [event] = await listener.wait("ticket.registered")
    assert event.data["service_request_id"] == "1001" and event.data["ticket_id"] == "t-1"
    assert event.data["service_notice"] == "Прийнято"
    doc = await service.ticket("t-1")
    assert doc and doc["state"] == "registered" and doc["status"] == "open"
    await service.publish(submitted("t-1"))  # a redelivered submission
    await asyncio.sleep(0.4)
    assert len(center.posts) == 1 and len(listener.of("ticket.registered")) == 1


async def test_down_for_a_while_then_back(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """The contact center answers 503 for a while: the ticket is stored, waits, is
    retried with backoff and filed once when it is back."""
    center.down = True
    await service.publish(submitted("t-2"))
    await eventually(lambda: len([c for c in center.calls if c == "POST /open311/v2/requests.json"]) >= 3,
                     "three attempts while down")
    doc = await service.ticket("t-2")
    assert doc and doc["state"] in ("pending", "posting") and doc["attempts"] >= 3
    assert not listener.of("ticket.registered")
    center.down = False
    await listener.wait("ticket.registered")
    await asyncio.sleep(0.3)
    assert created(center) == 1 and len(listener.of("ticket.registered")) == 1


async def test_restarted_while_the_contact_center_is_unreachable(center: FakeContactCenter, amqp_url: str,
                                                                 listener: Listener) -> None:
    """Connection refused, the service restarted meanwhile: filed once after recovery."""
    await center.stop()
    first = await Sync(center.url, amqp_url).start()
    await first.publish(submitted("t-3"))
    await eventually(lambda: first.ticket("t-3"), "stored")
    await eventually(lambda: _attempts(first, "t-3", 2), "two failed attempts")
    await first.stop()
    second = await Sync(center.url, amqp_url, database=first.database).start()
    try:
        await asyncio.sleep(0.3)
        await center.start()  # same port
        await listener.wait("ticket.registered")
        await asyncio.sleep(0.3)
        assert created(center) == 1 and len(listener.of("ticket.registered")) == 1
    finally:
        await second.stop()


async def _attempts(svc: Sync, ticket_id: str, n: int) -> bool:
    doc = await svc.ticket(ticket_id)
    return bool(doc and doc.get("attempts", 0) >= n)


async def test_crash_between_the_answer_and_our_write(center: FakeContactCenter, amqp_url: str,
                                                      listener: Listener) -> None:
    """The contact center filed it but we died before writing that down (the ticket is
    still claimed, 'posting'): the repeat POST carries the same Idempotency-Key, gets
    the first answer, and nothing is filed twice."""
    svc = Sync(center.url, amqp_url)
    await svc.start()
    await svc.stop()
    from chatbot_common.store import open_store
    from contactcenter_sync.open311 import Open311Client
    from chatbot_common.events import TicketSubmitted

    event = submitted("t-4")
    ticket = TicketSubmitted.model_validate(event.data)
    client = Open311Client(center.url, api_key="secret-key")
    first = await client.post_request(ticket, idempotency_key="t-4")  # the call that "happened"
    await client.close()
    store = open_store("memory://", svc.database)
    await store["tickets"].insert_one({
        "_id": "t-4", "resident_id": "r-1", "service_code": "water-leak", "service_name": "Витік води",
        "request": ticket.model_dump(mode="json"), "state": "posting", "status": "submitted", "attempts": 1,
        "next_attempt_at": datetime.now(UTC), "seen_updates": [], "deadline_version": 0})
    await svc.start()
    try:
        [registered] = await listener.wait("ticket.registered")
        assert registered.data["service_request_id"] == first.service_request_id
        assert len(center.requests) == 1 and len(center.posts) == 2
        assert center.posts[1]["headers"]["Idempotency-Key"] == "t-4"
    finally:
        await svc.stop()


async def test_token_then_number(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """A token answer: the ticket waits for its number, resolved through /tokens."""
    center.answer_with = "token"
    await service.publish(submitted("t-5"))
    doc = await eventually(lambda: _state(service, "t-5", "awaiting_token"), "awaiting its number")
    assert doc["token"] == "tk1" and not listener.of("ticket.registered")
    number = center.assign("tk1")
    [event] = await listener.wait("ticket.registered")
    assert event.data["service_request_id"] == number
    await asyncio.sleep(0.3)
    assert len(listener.of("ticket.registered")) == 1 and len(center.posts) == 1


async def _state(svc: Sync, ticket_id: str, state: str) -> dict | None:
    doc = await svc.ticket(ticket_id)
    return doc if doc and doc.get("state") == state else None


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_refused_is_rejected_with_the_reason(service: Sync, listener: Listener, center: FakeContactCenter,
                                                   status: int) -> None:
    """400/403/404 with an Open311 error body → one ticket.rejected with the contact
    center's own code and text; the ticket is not posted again."""
    center.refuse = (status, f"E{status}", "Адреса поза межами міста")
    await service.publish(submitted("t-6"))
    [event] = await listener.wait("ticket.rejected")
    assert (event.data["http_status"], event.data["code"], event.data["reason"]) == (
        status, f"E{status}", "Адреса поза межами міста")
    await asyncio.sleep(0.5)  # several retry periods (retry_min 0.05 s)
    assert len(center.posts) == 1
    doc = await service.ticket("t-6")
    assert doc and doc["state"] == "rejected" and doc["status"] == TicketStatus.rejected.value


async def registered(service: Sync, listener: Listener, ticket_id: str) -> str:
    await service.publish(submitted(ticket_id))
    events = await listener.wait("ticket.registered", ticket_id=ticket_id)
    return str(events[0].data["service_request_id"])


async def test_each_update_once_despite_overlap_and_restart(center: FakeContactCenter, amqp_url: str,
                                                            listener: Listener) -> None:
    """The overlap window hands the same updates back on every poll, and a restart
    starts over from the persisted cursor: still one ticket.status_changed per update,
    in order, with the previous status."""
    svc = await Sync(center.url, amqp_url).start()
    srid = await registered(svc, listener, "t-7")
    center.set_status(srid, "in_progress", "Бригада виїхала")
    center.set_status(srid, "action_scheduled")
    await listener.wait("ticket.status_changed", 2)
    await asyncio.sleep(0.5)  # five more polls over the same updates
    await svc.stop()
    svc = await Sync(center.url, amqp_url, database=svc.database).start()
    try:
        await asyncio.sleep(0.5)
        center.set_status(srid, "fixed", "Замінено ділянку труби")
        await listener.wait("ticket.status_changed", 3)
        await asyncio.sleep(0.4)
        changes = listener.of("ticket.status_changed")
        assert [(e.data["status"], e.data.get("previous_status")) for e in changes] == [
            ("in_progress", "open"), ("action_scheduled", "in_progress"), ("fixed", "action_scheduled")]
        assert changes[0].data["notes"] == "Бригада виїхала" and changes[2].data["raw_status"] == "fixed"
    finally:
        await svc.stop()


async def test_unknown_status_and_old_updates(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """A status nobody knows arrives as 'unknown' with the raw value; an update older
    than the status already held changes nothing and tells nobody."""
    srid = await registered(service, listener, "t-8")
    center.set_status(srid, "waiting_for_parts")
    [event] = await listener.wait("ticket.status_changed")
    assert (event.data["status"], event.data["raw_status"]) == ("unknown", "waiting_for_parts")
    center.set_status(srid, "in_progress", at=datetime.now(UTC) - timedelta(hours=1))
    await asyncio.sleep(0.5)
    assert len(listener.of("ticket.status_changed")) == 1
    doc = await service.ticket("t-8")
    assert doc and doc["status"] == "unknown"


async def test_records_when_updates_are_not_offered(center: FakeContactCenter, amqp_url: str,
                                                    listener: Listener) -> None:
    """No servicerequestupdates (404): the request records are polled by id lists and
    a change of (status, updated_datetime) is one notice, never repeated."""
    center.updates_offered = False
    svc = await Sync(center.url, amqp_url).start()
    try:
        srid = await registered(svc, listener, "t-9")
        await asyncio.sleep(0.3)
        assert not listener.of("ticket.status_changed")  # the record as registered is no news
        center.set_status(srid, "closed", "Виконано")
        [event] = await listener.wait("ticket.status_changed")
        assert event.data["status"] == "closed" and event.data["notes"] == "Виконано"
        await asyncio.sleep(0.5)
        assert len(listener.of("ticket.status_changed")) == 1
    finally:
        await svc.stop()


async def test_deadlines(center: FakeContactCenter, amqp_url: str, listener: Listener) -> None:
    """Deadline first set → deadline_changed (no previous); moved → deadline_changed with
    the previous one; 24 h before → one reminder; passed while open → one overdue; a new
    deadline value earns its own reminder. The clock is injected, nobody waits hours."""
    clock = Clock()
    svc = await Sync(center.url, amqp_url, clock=clock).start()
    try:
        srid = await registered(svc, listener, "t-10")
        now = datetime.now(UTC).replace(microsecond=0)
        first = now + timedelta(days=3)
        center.set_deadline(srid, first)
        [set_] = await listener.wait("ticket.deadline_changed")
        assert set_.data["expected_at"].startswith(first.isoformat()[:19]) and "previous_expected_at" not in set_.data
        moved = now + timedelta(days=2)
        center.set_deadline(srid, moved)
        changes = await listener.wait("ticket.deadline_changed", 2)
        assert changes[1].data["previous_expected_at"].startswith(first.isoformat()[:19])
        await asyncio.sleep(0.3)
        assert not listener.of("ticket.deadline_reminder")  # two days ahead: too early
        clock.now = moved - timedelta(hours=23)
        [reminder] = await listener.wait("ticket.deadline_reminder")
        assert reminder.data["expected_at"].startswith(moved.isoformat()[:19])
        clock.now = moved + timedelta(minutes=1)
        await listener.wait("ticket.overdue")
        await asyncio.sleep(0.4)
        assert len(listener.of("ticket.deadline_reminder")) == 1 and len(listener.of("ticket.overdue")) == 1
        later = now + timedelta(days=5)
        center.set_deadline(srid, later)
        await listener.wait("ticket.deadline_changed", 3)
        clock.now = later - timedelta(hours=1)
        await listener.wait("ticket.deadline_reminder", 2)
        center.set_status(srid, "fixed")
        await listener.wait("ticket.status_changed")
        clock.now = later + timedelta(hours=1)
        await asyncio.sleep(0.4)
        assert len(listener.of("ticket.overdue")) == 1  # done before the deadline: not overdue
    finally:
        await svc.stop()


async def test_a_deadline_told_inside_the_reminder_window_gets_no_separate_reminder(
        center: FakeContactCenter, amqp_url: str, listener: Listener) -> None:
    """A deadline set (or moved) when it is already less than the reminder window away:
    the deadline notice itself is the reminder — no second paid message a poll later
    saying the same; the overdue notice still comes when it passes."""
    clock = Clock()
    svc = await Sync(center.url, amqp_url, clock=clock).start()
    try:
        srid = await registered(svc, listener, "t-near")
        now = datetime.now(UTC).replace(microsecond=0)
        soon = now + timedelta(hours=5)  # inside the 24 h window from the start
        center.set_deadline(srid, soon)
        await listener.wait("ticket.deadline_changed")
        await asyncio.sleep(0.6)  # several poll rounds
        assert listener.of("ticket.deadline_reminder") == []
        clock.now = soon + timedelta(minutes=1)
        await listener.wait("ticket.overdue")
        assert listener.of("ticket.deadline_reminder") == []
    finally:
        await svc.stop()


async def test_rating_forwarded_and_reopen(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """A rating is stored and reaches the contact center's extension once (a replayed
    rating event changes nothing); reopen=True asks it to reopen, and its 'reopen'
    update becomes ticket.status_changed → reopened."""
    srid = await registered(service, listener, "t-11")
    center.set_status(srid, "fixed")
    await listener.wait("ticket.status_changed")
    await service.publish(rated("t-11", 1, reopen=True, comment="Знову тече"))
    await eventually(lambda: center.reopens, "reopen reached the contact center")
    assert center.ratings == [{"service_request_id": srid, "api_key": "secret-key", "rating": "1",
                               "comment": "Знову тече"}]
    changes = await listener.wait("ticket.status_changed", 2)
    assert changes[1].data["status"] == "reopened" and changes[1].data["previous_status"] == "fixed"
    await service.publish(rated("t-11", 1, reopen=True, comment="Знову тече"))  # replay
    await asyncio.sleep(0.4)
    assert len(center.ratings) == 1 and len(center.reopens) == 1
    doc = await service.ticket("t-11")
    assert doc and doc["rating"]["rating"] == 1 and doc["rating_state"] == "forwarded"
    assert doc["reopen_state"] == "forwarded"


async def test_rating_without_the_extension(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """The contact center does not offer ratings (404): the rating is stored, marked
    not offered, and not sent again and again."""
    srid = await registered(service, listener, "t-12")
    center.set_status(srid, "closed")
    center.extensions_offered = False
    await service.publish(rated("t-12", 5))
    doc = await eventually(lambda: _rating_state(service, "t-12", "not_offered"), "marked not offered")
    assert doc["rating"]["rating"] == 5
    calls = len([c for c in center.calls if c.endswith("/rating.json")])
    await asyncio.sleep(0.4)
    assert calls == 1 and len([c for c in center.calls if c.endswith("/rating.json")]) == 1


async def _rating_state(svc: Sync, ticket_id: str, state: str) -> dict | None:
    doc = await svc.ticket(ticket_id)
    return doc if doc and doc.get("rating_state") == state else None


async def test_service_list_published_and_served(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """At start the service list (with definitions) is published as
    contactcenter.services and served on GET /services; a changed list is published
    again on refresh, an unchanged one is not."""
    [event] = await listener.wait("contactcenter.services")
    services = event.data["services"]
    assert [s["service_code"] for s in services] == ["water-leak", "17"]
    assert services[0]["attributes"][0]["code"] == "where"
    assert service.runtime is not None
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.runtime.bound_port}/services") as resp:
            body = await resp.json()
    assert resp.status == 200 and body["services"] == services
    assert not await service.sync.refresh_services()  # unchanged: nothing published
    center.services.append({"service_code": "trees", "service_name": "Дерева", "metadata": False})
    assert await service.sync.refresh_services()
    events = await listener.wait("contactcenter.services", 2)
    assert [s["service_code"] for s in events[1].data["services"]][-1] == "trees"


async def test_not_configured_still_stores(amqp_url: str, listener: Listener) -> None:
    """CONTACTCENTER_URL empty: the service runs, stores the request and waits."""
    svc = await Sync("", amqp_url).start()
    try:
        await svc.publish(submitted("t-13"))
        doc = await eventually(lambda: svc.ticket("t-13"), "stored")
        assert doc["state"] == "pending"
        assert svc.runtime is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{svc.runtime.bound_port}/readyz") as resp:
                assert resp.status == 200
    finally:
        await svc.stop()


async def test_outage_feed_not_offered(service: Sync, listener: Listener, center: FakeContactCenter) -> None:
    """A contact center without the outage feed (404): asked, noted as not offered, no
    error loop, tickets unaffected."""
    await registered(service, listener, "t-14")
    await eventually(lambda: "GET /open311/v2/x-chatbot/v1/outages.json" in center.calls, "asked once")
    await asyncio.sleep(0.4)
    assert center.calls.count("GET /open311/v2/x-chatbot/v1/outages.json") == 1
    assert not [e for e in listener.events if e.type.startswith("outage.")]


async def test_update_before_the_token_resolved_is_not_lost(center: FakeContactCenter, amqp_url: str,
                                                            listener: Listener) -> None:
    """The operator moves a request whose token we have not resolved yet, and later
    updates of other requests move the feed on: once the token gives its number, that
    earlier update still becomes its ticket.status_changed (the cursor was held back)."""
    svc = await Sync(center.url, amqp_url, contactcenter_updates_overlap_seconds=0).start()
    try:
        other = await registered(svc, listener, "t-15")
        center.answer_with, center.hide_tokens = "token", True
        await svc.publish(submitted("t-16"))
        await eventually(lambda: _state(svc, "t-16", "awaiting_token"), "awaiting its number")
        number = center.assign("tk1")
        center.set_status(number, "in_progress", "Прийнято в роботу")
        center.set_status(other, "investigating", at=datetime.now(UTC) + timedelta(seconds=5))
        await listener.wait("ticket.status_changed", ticket_id="t-15")
        await asyncio.sleep(0.4)  # several polls see the update of an unknown number
        center.hide_tokens = False
        [event] = await listener.wait("ticket.status_changed", ticket_id="t-16")
        assert event.data["status"] == "in_progress" and event.data["service_request_id"] == number
    finally:
        await svc.stop()
