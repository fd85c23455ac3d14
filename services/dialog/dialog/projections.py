"""The dialog's projections in its own database (issue 7, issue 8), built from the
``dialog.events`` queue and read by the engine through ``conversation.records.Records``.

- ``tickets``: one document per ticket (``_id`` = ticket id) holding the
  :class:`~.conversation.records.TicketView` (status, deadline, number, history, the
  event ids applied) and a ``version`` for compare-and-set writes: two replicas applying
  events of one ticket at once never lose one (the loser reads again).
- ``services``: one document (``_id`` = ``"latest"``), replaced only by a list fetched
  no earlier than the stored one.
- ``outages``: one document per outage with the snapshot of the highest revision.
- ``surveys`` (issue 9, C8): one document per survey (``_id`` = survey id) with the
  ``survey.published`` of the highest revision and its ``state`` (indexed).
- ``info`` (C11, C7): one document (``_id`` = ``"content"``) with the ``info.changed`` of
  the highest revision; the built menu is cached per revision in each replica.

Every write is idempotent: an event applied twice (redelivery, replay) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatbot_common.events import (
    EVENT_TYPES,
    ContactCenterServices,
    EventData,
    InfoChanged,
    OutageSnapshot,
    OutageState,
    ServiceInfo,
    SurveyPublished,
    SurveyState,
)
from chatbot_common.store import Store

from .conversation.records import PublishedInfo, TicketView, apply_ticket_event, build_info

#: Concurrent writers of one ticket tolerated before the event is requeued.
MAX_ATTEMPTS = 8


class ProjectionConflict(RuntimeError):
    """A ticket kept changing under this writer: the event goes back to the queue."""


class Projections:
    """Store-backed projections; implements ``Records`` for the engine."""

    def __init__(self, store: Store) -> None:
        self.ticket_docs = store["tickets"]
        self.service_docs = store["services"]
        self.outage_docs = store["outages"]
        #: residents who deleted their data (``ResidentRepository.complete`` notes them)
        self.erased = store["erased_residents"]
        self.survey_docs = store["surveys"]
        self.info_docs = store["info"]
        self._info: PublishedInfo | None = None  # built from the stored revision

    async def setup(self) -> None:
        await self.ticket_docs.create_index("resident_id")
        await self.outage_docs.create_index("settlement_id")
        await self.survey_docs.create_index("state")

    # ------------------------------------------------------------------ writes

    async def apply(self, event_id: str, data: EventData) -> TicketView | None:
        """Apply one event; returns the ticket it changed (``None`` for others)."""
        if isinstance(data, ContactCenterServices):
            await self._services(data)
            return None
        if isinstance(data, OutageSnapshot):
            await self._outage(data)
            return None
        if isinstance(data, SurveyPublished):
            await self.apply_survey(data)
            return None
        if isinstance(data, InfoChanged):
            await self.apply_info(data)
            return None
        ticket_id = getattr(data, "ticket_id", None)
        if ticket_id is None:
            return None
        return await self._ticket(ticket_id, event_id, data)

    async def _ticket(self, ticket_id: str, event_id: str, data: EventData) -> TicketView | None:
        for _attempt in range(MAX_ATTEMPTS):
            doc = await self.ticket_docs.find_one({"_id": ticket_id})
            current = TicketView.model_validate(doc["view"]) if doc else None
            if current is not None and event_id in current.applied:
                return current
            view = apply_ticket_event(current, event_id, data)
            if view is None or (current is not None and view == current):
                return current
            fields = {"view": view.model_dump(mode="json"), "resident_id": view.resident_id}
            if doc is None:
                if await self._erased(view.resident_id):
                    return None  # «Видалити мої дані» came first: the request stays forgotten
                try:
                    await self.ticket_docs.insert_one({"_id": ticket_id, "version": 1, **fields})
                except DuplicateKeyError:
                    continue
                if await self._erased(view.resident_id):
                    # The erasure ran between the check and the insert: undo it (its own
                    # delete may have run before the insert).
                    await self.ticket_docs.delete_one({"_id": ticket_id})
                    return None
                return view
            result = await self.ticket_docs.update_one(
                {"_id": ticket_id, "version": doc["version"]}, {"$set": {**fields, "version": doc["version"] + 1}}
            )
            if result.modified_count == 1:
                return view
        raise ProjectionConflict(f"ticket {ticket_id} kept changing")

    async def _erased(self, resident_id: str) -> bool:
        return await self.erased.find_one({"_id": resident_id}) is not None

    async def _services(self, data: ContactCenterServices) -> None:
        doc = {"services": [s.model_dump(mode="json") for s in data.services], "fetched_at": data.fetched_at}
        try:
            await self.service_docs.update_one(
                {"_id": "latest", "fetched_at": {"$lte": data.fetched_at}}, {"$set": doc}, upsert=True
            )
        except DuplicateKeyError:
            pass  # a newer list is stored: the upsert found no older one to replace

    async def _outage(self, data: OutageSnapshot) -> None:
        doc = {
            "revision": data.revision,
            "type": data.type,
            "settlement_id": data.settlement_id,
            "state": data.state.value,
            "snapshot": data.model_dump(mode="json"),
        }
        try:
            await self.outage_docs.update_one(
                {"_id": data.outage_id, "revision": {"$lt": data.revision}}, {"$set": doc}, upsert=True
            )
        except DuplicateKeyError:
            pass  # the stored revision is this one or newer

    async def apply_survey(self, data: SurveyPublished) -> bool:
        """Keep the highest revision; ``False`` when this one (or a newer) is stored."""
        doc = {"revision": data.revision, "state": data.state.value, "survey": data.model_dump(mode="json")}
        try:
            result = await self.survey_docs.update_one(
                {"_id": data.survey_id, "revision": {"$lt": data.revision}}, {"$set": doc}, upsert=True
            )
        except DuplicateKeyError:
            return False  # the stored revision is this one or newer
        return bool(result.modified_count or result.upserted_id is not None)

    async def apply_info(self, data: InfoChanged) -> bool:
        """Keep the highest revision; ``False`` when this one (or a newer) is stored."""
        doc = {"revision": data.revision, "content": data.model_dump(mode="json")}
        try:
            result = await self.info_docs.update_one(
                {"_id": "content", "revision": {"$lt": data.revision}}, {"$set": doc}, upsert=True
            )
        except DuplicateKeyError:
            return False
        return bool(result.modified_count or result.upserted_id is not None)

    # ------------------------------------------------------------------ reads (Records)

    async def surveys(self) -> list[SurveyPublished]:
        found = [SurveyPublished.model_validate(doc["survey"])
                 async for doc in self.survey_docs.find(
                     {"state": {"$in": [SurveyState.active.value, SurveyState.scheduled.value]}})]
        return sorted(found, key=lambda s: s.survey_id)

    async def info(self) -> PublishedInfo | None:
        """One small read per turn (the revision); the content only when it changed."""
        head = await self.info_docs.find_one({"_id": "content"}, {"revision": 1})
        if head is None:
            return None
        cached = self._info
        if cached is not None and cached.revision == head["revision"]:
            return cached
        doc = await self.info_docs.find_one({"_id": "content"})
        if doc is None:
            return None
        self._info = build_info(InfoChanged.model_validate(doc["content"]))
        return self._info

    async def services(self) -> list[ServiceInfo] | None:
        doc = await self.service_docs.find_one({"_id": "latest"})
        if doc is None:
            return None
        return [ServiceInfo.model_validate(s) for s in doc["services"]]

    async def tickets(self, resident_id: str) -> list[TicketView]:
        views = [TicketView.model_validate(doc["view"]) async for doc in self.ticket_docs.find({"resident_id": resident_id})]
        return sorted(views, key=lambda v: (v.submitted_at or v.status_at).timestamp() if (v.submitted_at or v.status_at)
                      else 0.0, reverse=True)

    async def ticket(self, ticket_id: str) -> TicketView | None:
        doc = await self.ticket_docs.find_one({"_id": ticket_id})
        return TicketView.model_validate(doc["view"]) if doc else None

    async def outages(self, settlement_ids: Iterable[str]) -> list[OutageSnapshot]:
        query: dict[str, Any] = {"settlement_id": {"$in": list(settlement_ids)}, "state": OutageState.active.value}
        found = []
        async for doc in self.outage_docs.find(query):
            model = EVENT_TYPES[doc["type"]]
            found.append(model.model_validate(doc["snapshot"]))
        return sorted(found, key=lambda o: (o.starts_at, o.outage_id))
