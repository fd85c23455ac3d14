"""The dialog's second consumer: ``dialog.events`` (``ticket.*``, ``contactcenter.services``,
``outage.*``, ``audience.resync_requested``, ``faq.changed``, ``faq.feedback``).

- Every event updates the dialog's own projections (``projections``), idempotently.
- ``ticket.rejected`` also tells the resident (an answer to their own action) through
  ``InboundHandler.notify`` with an input id derived from the event: once, whatever the
  redeliveries.
- ``audience.resync_requested`` publishes ``resident.updated`` for every registered
  resident (or the listed ones), each with an id derived from the request's id and the
  resident, so the notifier can rebuild its audience; a repeat republishes the same ids
  (its inbox drops them).
- ``faq.changed`` updates the knowledge base (highest revision wins) and rebuilds this
  replica's index; ``faq.feedback`` (published by the dialog's own outbox) is kept for
  staff in ``faq_questions`` (docs/faq.md).
- ``info.changed`` (C11, C7) replaces the useful information and links (highest revision
  wins, ``projections.info``): residents see it from their next screen on.

The inbox remembers an event only after all of that succeeded: a crash midway makes the
broker redeliver it, and each step is safe to repeat.
"""

from __future__ import annotations

import structlog

from chatbot_common.bus import Bus
from chatbot_common.events import (
    AudienceResyncRequested,
    CloudEvent,
    FaqChanged,
    FaqFeedback,
    InfoChanged,
    ResidentUpdated,
    SurveyPublished,
    TicketRejected,
    derived_id,
    make_event,
)
from chatbot_common.store import Inbox

from .conversation.api import TicketRejectedNotice
from .conversation.model import Resident
from .conversation.snapshots import snapshot
from .faq.answerer import FaqAnswerer
from .faq.store import FaqStore
from .handlers import SOURCE, InboundHandler
from .projections import Projections
from .repository import ResidentRepository

log = structlog.get_logger("dialog.events")


class EventsHandler:
    def __init__(self, *, projections: Projections, inbox: Inbox, inbound: InboundHandler,
                 repository: ResidentRepository, bus: Bus, faq: FaqStore | None = None,
                 answerer: FaqAnswerer | None = None) -> None:
        self.projections = projections
        self.inbox = inbox
        self.inbound = inbound
        self.repository = repository
        self.bus = bus
        self.faq = faq
        self.answerer = answerer

    async def __call__(self, event: CloudEvent) -> None:
        if await self.inbox.seen(event.id):
            return
        data = event.payload()
        if isinstance(data, AudienceResyncRequested):
            count = await self.resync(event, data)
            log.info("dialog.resync", requested_by=data.requested_by, residents=count)
        elif isinstance(data, FaqChanged):
            if self.faq is not None and await self.faq.apply(data):
                log.info("faq.changed", entry_id=data.entry_id, revision=data.revision, deleted=data.entry is None)
            if self.answerer is not None:
                await self.answerer.refresh()
        elif isinstance(data, InfoChanged):
            if await self.projections.apply_info(data):
                log.info("info.changed", revision=data.revision, sections=len(data.sections), links=len(data.links))
        elif isinstance(data, FaqFeedback):
            if self.faq is not None:
                await self.faq.record(event.id, data)
        else:
            await self.projections.apply(event.id, data)
            if isinstance(data, TicketRejected):
                notice = TicketRejectedNotice(ticket_id=data.ticket_id, service_name=data.service_name,
                                              reason=data.reason, http_status=data.http_status)
                await self.inbound.notify(derived_id(event.id, "rejected"), data.resident_id, notice,
                                          correlationid=event.correlationid)
        await self.inbox.remember(event.id)

    async def resync(self, event: CloudEvent, request: AudienceResyncRequested) -> int:
        query: dict = {"deleted": {"$ne": True}, "resident.registered": True}
        if request.resident_ids:
            query["_id"] = {"$in": list(request.resident_ids)}
        count = 0
        async for doc in self.repository.residents.find(query, {"resident": 1}):
            if not doc.get("resident"):
                continue
            resident = Resident.model_validate(doc["resident"])
            update = ResidentUpdated(**snapshot(resident))
            await self.bus.publish(make_event(update, source=SOURCE, id=derived_id(event.id, "resync", resident.id),
                                              correlationid=event.correlationid))
            count += 1
        return count


class SurveysHandler:
    """``dialog.surveys`` (issue 9, C8): ``survey.published`` into the ``surveys``
    projection, the highest revision winning — a redelivered or older one changes
    nothing. Residents see a survey's new state from their next screen on (a closed or
    cancelled survey answers politely, see ``conversation.surveys``)."""

    def __init__(self, *, projections: Projections) -> None:
        self.projections = projections

    async def __call__(self, event: CloudEvent) -> None:
        data = event.payload()
        if not isinstance(data, SurveyPublished):
            log.warning("surveys.event_ignored", event_type=event.type)
            return
        if await self.projections.apply_survey(data):
            log.info("survey.published", survey_id=data.survey_id, revision=data.revision, state=data.state.value)
