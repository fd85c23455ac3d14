"""Request notices (P1, P3, C6, S1): ``ticket.*`` → one message to the resident.

- ``ticket.registered`` → the number (and the deadline, if known), on the **reply**
  lane: it answers the resident's own action (sending the request);
- ``ticket.status_changed`` → the new status (catalog ``ticket_status``) and the
  contact center's notes (the outcome); on a final status the rating buttons
  ``ticket:rate:<ticket_id>:<1..5>`` (the dialog handles them);
- ``ticket.deadline_changed`` / ``ticket.deadline_reminder`` / ``ticket.overdue`` → the
  deadline (дд.мм.рррр ГГ:ХХ, Kyiv time);

all but the first on the **bulk** lane, each with «📄 Деталі» (``ticket:show:<id>``) and
«🏠 Головне меню» (``nav:home``). A deleted or unsubscribed resident (or one the
audience projection does not know) gets nothing. The outbound id is
``derived_id(<input event id>, "notice")``: a redelivered input re-publishes the same
id, which the gateway never sends twice; the input is acknowledged only after the
broker confirmed the publish (a failed publish makes the input come again).
"""

from __future__ import annotations

import structlog
from pymongo.errors import DuplicateKeyError

from chatbot_common.bus import Bus, PermanentError
from chatbot_common.events import (
    Button,
    CloudEvent,
    Lane,
    OutboundMessage,
    TicketDeadlineChanged,
    TicketDeadlineReminder,
    TicketEvent,
    TicketOverdue,
    TicketRegistered,
    TicketStatusChanged,
    derived_id,
    make_event,
)
from chatbot_common.locks import KeyedLocks
from chatbot_common.store import Inbox, Store
from chatbot_common.texts import catalog

from .audience import Audience
from .mailings import SOURCE
from .texts import when

log = structlog.get_logger("notifier.tickets")
MAX_NOTES = 2500
OPEN_TICKETS = "open_tickets"


def ticket_message(data: TicketEvent, receiver: str, resident_id: str) -> OutboundMessage:
    t = catalog()
    number = data.service_request_id or t("ticket_notice.no_number")
    service = data.service_name
    lane = Lane.bulk
    rating = False
    match data:
        case TicketRegistered():
            lane = Lane.reply
            deadline = t("ticket_notice.registered_deadline", deadline=when(data.expected_at)) if data.expected_at else ""
            notice = t("ticket_notice.registered_notice", notice=data.service_notice[:MAX_NOTES]) \
                if data.service_notice else ""
            text = t("ticket_notice.registered", service=service, number=number, deadline=deadline, notice=notice)
        case TicketStatusChanged():
            notes = t("ticket_notice.status_notes", notes=data.notes.strip()[:MAX_NOTES]) if data.notes and data.notes.strip() else ""
            text = t("ticket_notice.status_changed", number=number, service=service,
                     status=t(f"ticket_status.{data.status.value}"), notes=notes)
            if data.status.final:
                rating = True
                text += t("ticket_notice.rate")
        case TicketDeadlineChanged():
            if data.previous_expected_at is None:
                text = t("ticket_notice.deadline_set", number=number, service=service, deadline=when(data.expected_at))
            else:
                text = t("ticket_notice.deadline_moved", number=number, service=service,
                         previous=when(data.previous_expected_at), deadline=when(data.expected_at))
        case TicketDeadlineReminder():
            text = t("ticket_notice.deadline_reminder", number=number, service=service, deadline=when(data.expected_at))
        case TicketOverdue():
            text = t("ticket_notice.overdue", number=number, service=service, deadline=when(data.expected_at))
        case _:
            raise PermanentError(f"no notice for {type(data).__name__}")
    buttons: list[Button] = []
    if rating:
        buttons += [Button(label=t("notice_button.rate", n=n), code=f"ticket:rate:{data.ticket_id}:{n}", columns=1)
                    for n in range(1, 6)]
    buttons.append(Button(label=t("notice_button.details"), code=f"ticket:show:{data.ticket_id}", columns=3))
    buttons.append(Button(label=t("notice_button.home"), code="nav:home", columns=3))
    return OutboundMessage(lane=lane, receivers=[receiver], resident_ids=[resident_id], text=text[:7000],
                           buttons=buttons)


class OpenRequests:
    """Which residents have an open request (segments: ``has_open_request``), from the
    ``ticket.*`` events this queue brings: ``ticket.registered`` → open; a
    ``ticket.status_changed`` to a final status → closed, to any other (reopened) →
    open. One document per ticket (collection ``open_tickets``: ``resident_id``,
    ``open``, ``at``), written only by an event at least as new as the one stored, so a
    late or redelivered event cannot undo a newer state."""

    def __init__(self, store: Store) -> None:
        self.collection = store[OPEN_TICKETS]

    async def setup(self) -> None:
        await self.collection.create_index([("open", 1), ("resident_id", 1)])

    async def apply(self, data: TicketEvent) -> bool:
        if isinstance(data, TicketRegistered):
            is_open = True
        elif isinstance(data, TicketStatusChanged):
            is_open = not data.status.final
        else:
            return False
        doc = {"resident_id": data.resident_id, "open": is_open, "at": data.at}
        result = await self.collection.update_one(
            {"_id": data.ticket_id, "at": {"$lte": data.at}}, {"$set": doc})
        if result.matched_count:
            return True
        try:
            await self.collection.insert_one({"_id": data.ticket_id, **doc})
        except DuplicateKeyError:
            return False  # a newer event is there already
        return True

    async def residents(self) -> set[str]:
        """Resident ids with at least one open request."""
        return {d["resident_id"] async for d in self.collection.find({"open": True}, {"resident_id": 1})}


class TicketNotices:
    def __init__(self, bus: Bus, audience: Audience, inbox: Inbox, open_requests: OpenRequests | None = None) -> None:
        self.bus = bus
        self.audience = audience
        self.inbox = inbox
        self.open_requests = open_requests
        self.locks = KeyedLocks()

    async def handle(self, event: CloudEvent) -> None:
        data = event.payload()
        if not isinstance(data, TicketEvent):
            raise PermanentError(f"not a ticket event: {event.type}")
        async with self.locks.hold(data.ticket_id):  # one ticket's notices in the order they came
            await self._handle(event, data)

    async def _handle(self, event: CloudEvent, data: TicketEvent) -> None:
        if self.open_requests is not None:
            await self.open_requests.apply(data)  # idempotent by itself (conditional on ``at``)
        if await self.inbox.seen(event.id):
            return
        doc = await self.audience.collection.find_one({"_id": data.resident_id})
        receiver = doc.get("receiver") if doc else None
        if doc is None or doc.get("deleted") or not doc.get("subscribed") or receiver is None:
            # Deleted, unsubscribed, unreachable or unknown: nothing is sent.
            log.info("ticket_notice.skipped", type=event.type, known=doc is not None,
                     deleted=bool(doc and doc.get("deleted")))
            await self.inbox.remember(event.id)
            return
        message = ticket_message(data, receiver, data.resident_id)
        await self.bus.publish(make_event(message, source=SOURCE, id=derived_id(event.id, "notice"),
                                          correlationid=event.correlationid or data.ticket_id))
        await self.inbox.remember(event.id)
