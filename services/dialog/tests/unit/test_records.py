"""The dialog's projections as pure logic (``conversation.records``): a replayed event
changes nothing, events arriving out of order end in the contact center's newest status,
and our own «submitted» never hides what the contact center reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatbot_common.events import (
    TicketDeadlineChanged,
    TicketRated,
    TicketRegistered,
    TicketStatus,
    TicketStatusChanged,
    TicketSubmitted,
)

from dialog.conversation.records import MemoryRecords, apply_ticket_event

AT = datetime(2026, 3, 2, 8, tzinfo=UTC)
SUBMITTED = TicketSubmitted(ticket_id="t1", resident_id="r1", service_code="c", service_name="Ліхтар",
                            description="Темно", location={"address_string": "тут", "key": "k"},
                            submitted_at=AT + timedelta(days=1))  # our clock runs ahead of theirs
REGISTERED = TicketRegistered(ticket_id="t1", resident_id="r1", service_name="Ліхтар", service_request_id="42",
                              expected_at=AT + timedelta(days=5), at=AT)


def changed(status: TicketStatus, hours: int) -> TicketStatusChanged:
    return TicketStatusChanged(ticket_id="t1", resident_id="r1", service_name="Ліхтар", service_request_id="42",
                               update_id=f"u{hours}", status=status, raw_status=status.value,
                               at=AT + timedelta(hours=hours))


EVENTS = [
    ("e1", SUBMITTED),
    ("e2", REGISTERED),
    ("e3", changed(TicketStatus.in_progress, 1)),
    ("e4", TicketDeadlineChanged(ticket_id="t1", resident_id="r1", service_name="Ліхтар", service_request_id="42",
                                 expected_at=AT + timedelta(days=7), previous_expected_at=AT + timedelta(days=5),
                                 at=AT + timedelta(hours=2))),
    ("e5", changed(TicketStatus.fixed, 3)),
    ("e6", TicketRated(ticket_id="t1", resident_id="r1", rating=4, at=AT + timedelta(hours=4))),
]


def build(events) -> object:
    view = None
    for event_id, data in events:
        view = apply_ticket_event(view, event_id, data)
    return view


def test_the_whole_life_of_a_ticket_is_kept():
    view = build(EVENTS)
    assert (view.number, view.status, view.rating) == ("42", TicketStatus.fixed, 4)
    assert view.expected_at == AT + timedelta(days=7)
    assert [h.kind for h in view.history] == ["registered", "status", "deadline", "status", "rated", "submitted"]


def test_replaying_every_event_changes_nothing():
    once = build(EVENTS)
    assert build(EVENTS + EVENTS) == once
    assert build([*EVENTS, *reversed(EVENTS)]) == once


def test_out_of_order_statuses_end_in_the_newest_and_submitted_never_hides_it():
    view = build([EVENTS[4], EVENTS[2], EVENTS[1], EVENTS[0]])
    assert view.status == TicketStatus.fixed and view.number == "42"


def test_registered_before_our_own_submitted_still_shows_registered():
    view = build([("e2", REGISTERED), ("e1", SUBMITTED)])
    assert view.status == TicketStatus.open and view.service_code == "c"


async def test_memory_records_list_a_residents_tickets_only():
    records = MemoryRecords()
    for event_id, data in EVENTS:
        records.apply(event_id, data)
    records.apply("x", SUBMITTED.model_copy(update={"ticket_id": "t2", "resident_id": "r2"}))
    assert [v.ticket_id for v in await records.tickets("r1")] == ["t1"]
