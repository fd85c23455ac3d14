"""The dialog's own projections of what other services report (issue 7, issue 8): the
resident's requests (from ``ticket.*``), the contact center's service list
(``contactcenter.services``) and current outages (``outage.*``).

The engine only *reads* them, through :class:`Records` (``Context.records``). How an
event changes a projection is pure logic here (:func:`apply_ticket_event`,
:func:`newer_outage`), shared by the service's store-backed projection
(``dialog.projections``) and the in-memory one tests use (:class:`MemoryRecords`).
Applying the same event twice changes nothing: every ticket keeps the ids of the events
it applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from chatbot_common.events import (
    ContactCenterServices,
    EventData,
    InfoChanged,
    OutageSnapshot,
    OutageState,
    ServiceInfo,
    SurveyPublished,
    SurveyState,
    TicketDeadlineChanged,
    TicketEvent,
    TicketLocation,
    TicketOverdue,
    TicketRated,
    TicketRegistered,
    TicketRejected,
    TicketStatus,
    TicketStatusChanged,
    TicketSubmitted,
)
from chatbot_common.directory import InfoSection, Link, UsefulInfo, street_key

#: How many applied event ids a ticket remembers (its whole life is far fewer events).
APPLIED_KEPT = 200


class HistoryItem(BaseModel):
    """One line of a request's history as the resident sees it."""

    kind: str  # submitted | registered | status | deadline | overdue | rejected | rated
    at: datetime
    status: TicketStatus | None = None
    expected_at: datetime | None = None
    notes: str | None = None
    rating: int | None = None
    reopen: bool = False


class TicketView(BaseModel):
    """One request as the dialog knows it."""

    ticket_id: str
    resident_id: str
    service_code: str | None = None
    service_name: str = ""
    number: str | None = None  # the contact center's service_request_id
    status: TicketStatus = TicketStatus.submitted
    status_at: datetime | None = None
    expected_at: datetime | None = None
    overdue: bool = False
    location: TicketLocation | None = None
    submitted_at: datetime | None = None
    rating: int | None = None
    comment: str | None = None
    history: list[HistoryItem] = Field(default_factory=list)
    applied: list[str] = Field(default_factory=list)

    @property
    def open(self) -> bool:
        return not self.status.final and self.status != TicketStatus.rejected

    @property
    def rateable(self) -> bool:
        return self.status.final and self.rating is None


def apply_ticket_event(view: TicketView | None, event_id: str, data: EventData) -> TicketView | None:
    """The ticket after ``data`` (``None`` for an event that is not about a ticket).
    An event already applied (by id) returns the view unchanged."""
    if not isinstance(data, TicketSubmitted | TicketEvent | TicketRated):
        return view
    if view is None:
        view = TicketView(ticket_id=data.ticket_id, resident_id=data.resident_id)
    else:
        view = view.model_copy(deep=True)
    if event_id in view.applied:
        return view
    view.applied = [*view.applied, event_id][-APPLIED_KEPT:]
    at = data.submitted_at if isinstance(data, TicketSubmitted) else data.at
    if isinstance(data, TicketSubmitted):
        view.service_code, view.service_name = data.service_code, data.service_name
        view.location, view.submitted_at = data.location, data.submitted_at
        view.history.append(HistoryItem(kind="submitted", at=at, status=TicketStatus.submitted))
        _status(view, TicketStatus.submitted, at, only_if_unset=True)
    elif isinstance(data, TicketRated):
        view.rating, view.comment = data.rating, data.comment
        view.history.append(HistoryItem(kind="rated", at=at, rating=data.rating, notes=data.comment,
                                        reopen=data.reopen))
    else:
        view.service_name = view.service_name or data.service_name
        view.number = data.service_request_id or view.number
        if isinstance(data, TicketRegistered):
            view.history.append(HistoryItem(kind="registered", at=at, expected_at=data.expected_at,
                                            notes=data.service_notice))
            view.expected_at = data.expected_at or view.expected_at
            _status(view, TicketStatus.open, at, only_if_unset=True)
        elif isinstance(data, TicketStatusChanged):
            view.history.append(HistoryItem(kind="status", at=at, status=data.status, notes=data.notes))
            _status(view, data.status, at)
            if data.status == TicketStatus.reopened:
                view.rating, view.comment = None, None  # the reopened work is rated again
        elif isinstance(data, TicketDeadlineChanged):
            view.history.append(HistoryItem(kind="deadline", at=at, expected_at=data.expected_at))
            view.expected_at, view.overdue = data.expected_at, False
        elif isinstance(data, TicketOverdue):
            view.history.append(HistoryItem(kind="overdue", at=at, expected_at=data.expected_at))
            view.overdue = True
        elif isinstance(data, TicketRejected):
            view.history.append(HistoryItem(kind="rejected", at=at, status=TicketStatus.rejected, notes=data.reason))
            _status(view, TicketStatus.rejected, at)
        else:  # a reminder: nothing the history needs
            view.applied = view.applied[:-1]
            return view
    view.history.sort(key=lambda item: item.at)
    return view


def _status(view: TicketView, status: TicketStatus, at: datetime, *, only_if_unset: bool = False) -> None:
    """The contact center's newest status wins, whatever order its events arrive in
    (``status_at`` is the time of the last one it reported); our own «submitted» and
    «registered» never override what it reported (clocks of two systems differ)."""
    if only_if_unset:
        if view.status_at is None and not (status == TicketStatus.submitted and view.status == TicketStatus.open):
            view.status = status
        return
    if view.status_at is not None and at < view.status_at:
        return
    view.status, view.status_at = status, at


def newer_outage(stored: OutageSnapshot | None, incoming: OutageSnapshot) -> bool:
    """Keep the highest revision of each outage (a replay or a late event is older)."""
    return stored is None or incoming.revision > stored.revision


def outage_applies(outage: OutageSnapshot, keys: Iterable[str], settlement_id: str | None) -> bool:
    """Does ``outage`` affect one of these address keys (or, city-wide, the settlement)?"""
    if outage.city_wide:
        return outage.settlement_id == settlement_id
    affected = outage.keys()
    for key in keys:
        settlement, street, _house = key.split("|", 2)
        if key in affected or street_key(settlement, street) in affected:
            return True
    return False


def newer_survey(stored: SurveyPublished | None, incoming: SurveyPublished) -> bool:
    """Keep the highest revision of each survey (a replay or a late event is older)."""
    return stored is None or incoming.revision > stored.revision


@dataclass(frozen=True)
class PublishedInfo:
    """The useful information and links staff last published (``info.changed``)."""

    revision: int
    info: UsefulInfo
    links: tuple[Link, ...]


def build_info(data: InfoChanged) -> PublishedInfo:
    """The menu tree from the event's flat list (parents before their children, siblings
    in order). A section whose parent is not in the list is left out, with its own
    children (the admin never sends one; a broken event must not break the menu)."""
    children: dict[str | None, list] = {}
    for item in data.sections:
        children.setdefault(item.parent_id, []).append(item)
    seen: set[str] = set()

    def build(item, parent_id: str | None) -> InfoSection | None:
        if item.id in seen:
            return None  # an id twice (or a loop): the first one counts
        seen.add(item.id)
        kids = tuple(s for s in (build(c, item.id) for c in children.get(item.id, [])) if s is not None)
        return InfoSection(item.id, item.title, item.text.strip(), kids, parent_id)

    top = tuple(s for s in (build(item, None) for item in children.get(None, [])) if s is not None)
    links = tuple(Link(link.id, link.label, link.url.strip()) for link in data.links
                  if link.url.strip().startswith(("https://", "http://")))
    return PublishedInfo(data.revision, UsefulInfo(top), links)


class Records(Protocol):
    """What the engine may read of the dialog's projections."""

    async def services(self) -> list[ServiceInfo] | None:
        """The latest service list, or ``None`` before contactcenter-sync sent one."""

    async def tickets(self, resident_id: str) -> list[TicketView]:
        """The resident's requests, newest first."""

    async def ticket(self, ticket_id: str) -> TicketView | None: ...

    async def outages(self, settlement_ids: Iterable[str]) -> list[OutageSnapshot]:
        """Active outages in these settlements, soonest first."""

    async def surveys(self) -> list[SurveyPublished]:
        """Surveys in the ``active`` or ``scheduled`` state (the engine checks dates and segments)."""

    async def info(self) -> PublishedInfo | None:
        """The useful information staff published last, or ``None`` before any
        (the packaged ``useful_info.toml`` / ``links.toml`` are shown then)."""


class MemoryRecords:
    """Projections kept in memory (engine tests, and a dialog with no store for them)."""

    def __init__(self) -> None:
        self.service_list: list[ServiceInfo] | None = None
        self.services_at: datetime | None = None
        self.by_ticket: dict[str, TicketView] = {}
        self.by_outage: dict[str, OutageSnapshot] = {}
        self.by_survey: dict[str, SurveyPublished] = {}
        self.published_info: PublishedInfo | None = None

    def apply(self, event_id: str, data: EventData) -> None:
        if isinstance(data, SurveyPublished):
            if newer_survey(self.by_survey.get(data.survey_id), data):
                self.by_survey[data.survey_id] = data
        elif isinstance(data, InfoChanged):
            if self.published_info is None or data.revision > self.published_info.revision:
                self.published_info = build_info(data)
        elif isinstance(data, ContactCenterServices):
            if self.services_at is None or data.fetched_at >= self.services_at:
                self.service_list, self.services_at = list(data.services), data.fetched_at
        elif isinstance(data, OutageSnapshot):
            if newer_outage(self.by_outage.get(data.outage_id), data):
                self.by_outage[data.outage_id] = data
        else:
            view = apply_ticket_event(self.by_ticket.get(getattr(data, "ticket_id", "")), event_id, data)
            if view is not None:
                self.by_ticket[view.ticket_id] = view

    async def services(self) -> list[ServiceInfo] | None:
        return self.service_list

    async def tickets(self, resident_id: str) -> list[TicketView]:
        mine = [t for t in self.by_ticket.values() if t.resident_id == resident_id]
        return sorted(mine, key=_newest_first)

    async def ticket(self, ticket_id: str) -> TicketView | None:
        return self.by_ticket.get(ticket_id)

    async def outages(self, settlement_ids: Iterable[str]) -> list[OutageSnapshot]:
        wanted = set(settlement_ids)
        found = [o for o in self.by_outage.values() if o.settlement_id in wanted and o.state == OutageState.active]
        return sorted(found, key=lambda o: (o.starts_at, o.outage_id))

    async def surveys(self) -> list[SurveyPublished]:
        return [s for s in self.by_survey.values() if s.state in (SurveyState.active, SurveyState.scheduled)]

    async def info(self) -> PublishedInfo | None:
        return self.published_info


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _newest_first(view: TicketView) -> Any:
    return -(view.submitted_at or view.status_at or _EPOCH).timestamp()
