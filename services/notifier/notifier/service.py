"""Wiring of the notifier service: every message the bot starts itself (C1, C6, C9).

Consumes (``chatbot_common.topology``):

- ``notifier.residents`` (single active) → the audience projection (``audience``);
- ``notifier.outages`` (single active) → outage mailings (``outages``, ``mailings``);
- ``notifier.tickets`` → request notices (``tickets``);
- ``notifier.delivery`` → delivery figures per mailing (``mailings.Figures``);
- ``notifier.mailings`` (single active, prefetch 1) → staff mailings to segments and
  greetings (``staff``);
- ``notifier.surveys`` (single active, prefetch 1) → survey invitations and who answered
  (``surveys``).

Background: the mailings' outbox relay, the planned-works reminder, the staff mailings'
scheduler, the greetings job and the survey invitations run under leases (one replica each); every replica publishes ``mailing.progress`` for the figures it
changed, at most every ``NOTIFIER_PROGRESS_SECONDS``. At start, an empty audience
projection asks the dialog for every resident (``audience.resync_requested``); the same
request is ``python -m notifier resync``. See docs/notifier.md.
"""

from __future__ import annotations

import structlog

from chatbot_common.bus import Bus, PermanentError, PublishError
from aiohttp import web
from pydantic import ValidationError

from chatbot_common.events import (
    AudienceResyncRequested,
    CloudEvent,
    GreetingsConfigured,
    MailingCancelled,
    MailingRequested,
    OutagePublished,
    ResidentDeleted,
    Segment,
    SurveyAnswered,
    SurveyPublished,
    make_event,
    utcnow,
)
from chatbot_common.runner import ServiceRuntime
from chatbot_common.store import Inbox, Store
from chatbot_common.topology import queue

from .audience import Audience
from .mailings import SOURCE, Figures, Mailer
from .outages import Outages
from .settings import NotifierSettings
from .staff import Clock, Greetings, StaffMailings
from .surveys import SurveyAnswers, Surveys
from .tickets import OpenRequests, TicketNotices

log = structlog.get_logger("notifier")
#: The relay scans at start, soon after a publish failed, and at least this often.
RELAY_SAFETY_SCAN = 30.0
#: fields of an admin draft that are not part of the outage snapshot
PREVIEW_IGNORED = frozenset({"outage_id", "revision", "at", "id", "state", "changed"})


def resync_request(resident_ids: list[str] | None = None) -> CloudEvent:
    return make_event(AudienceResyncRequested(requested_by="notifier", resident_ids=resident_ids or []),
                      source=SOURCE)


class Notifier:
    """The notifier's parts, reachable from tests and the benchmark."""

    def __init__(self, runtime: ServiceRuntime, settings: NotifierSettings, clock: Clock = utcnow) -> None:
        self.runtime = runtime
        store = runtime.store
        self.audience = Audience(store)
        self.mailer = Mailer(runtime.bus, store, chunk_batches=settings.notifier_chunk_batches,
                             concurrency=settings.notifier_publish_concurrency, grace=settings.outbox_relay_seconds)
        self.figures = Figures(runtime.bus, store, self.mailer)
        self.outages = Outages(store, self.audience, self.mailer,
                               reminder_hours=settings.notifier_planned_reminder_hours)
        self.open_requests = OpenRequests(store)
        self.tickets = TicketNotices(runtime.bus, self.audience, Inbox(store, "ticket_inbox", ttl=settings.inbox_ttl),
                                     self.open_requests)
        self.answers = SurveyAnswers(store)
        self.staff = StaffMailings(runtime.bus, store, self.audience, self.mailer, self.open_requests, clock=clock,
                                   image_link_in_text=settings.notifier_image_link_in_text, answers=self.answers)
        self.greetings = Greetings(store, self.staff, self.mailer, clock=clock)
        self.surveys = Surveys(store, self.mailer, self.answers, self.staff.resolve, clock=clock)

    async def prepare(self) -> None:
        await self.audience.setup()
        await self.mailer.setup()
        await self.figures.setup()
        await self.outages.setup()
        await self.tickets.inbox.setup()
        await self.open_requests.setup()
        await self.staff.setup()
        await self.surveys.setup()
        await self.audience.load()

    async def request_resync_if_empty(self) -> bool:
        if not await self.audience.is_empty():
            return False
        try:
            await self.runtime.bus.publish(resync_request())
        except PublishError as exc:
            log.warning("audience.resync_not_requested", error=str(exc)[:200])
            return False
        log.info("audience.resync_requested")
        return True

    async def on_resident(self, event: CloudEvent) -> None:
        data = event.payload()
        await self.audience.apply(data, event.time)
        if isinstance(data, ResidentDeleted):
            await self.answers.forget(data.resident_id)

    async def on_survey(self, event: CloudEvent) -> None:
        data = event.payload()
        match data:
            case SurveyPublished():
                await self.surveys.published(data)
            case SurveyAnswered():
                await self.surveys.answered(data)
            case _:
                raise PermanentError(f"not a survey event: {event.type}")

    async def on_mailing(self, event: CloudEvent) -> None:
        data = event.payload()
        match data:
            case MailingRequested():
                await self.staff.requested(data)
            case MailingCancelled():
                await self.staff.cancelled(data)
            case GreetingsConfigured():
                await self.greetings.configure(data)
            case _:
                raise PermanentError(f"not a staff mailing event: {event.type}")

    async def segment_preview(self, request: web.Request) -> web.Response:
        """``POST /api/segment/preview``: a ``Segment`` (JSON) → ``{"residents",
        "messages"}`` — how many residents a staff mailing sent now would reach and how
        many paid Viber messages that is; a bad body → 422 naming the field."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON object is expected")
            segment = Segment.model_validate(body)
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            return web.json_response({"error": "invalid segment", "errors": errors}, status=422)
        except ValueError as exc:
            return web.json_response({"error": str(exc)[:200]}, status=422)
        return web.json_response(await self.staff.preview(segment))

    async def preview(self, request: web.Request) -> web.Response:
        """``POST /api/audience/preview``: how many residents an outage draft would
        reach and how many (paid) messages that is — the admin panel's contract
        (docs/admin.md). Body: the outage fields (``OutageSnapshot`` without id,
        revision and time); a bad body → 422 naming the field."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON object is expected")
            draft = OutagePublished.model_validate(
                {**{k: v for k, v in body.items() if k not in PREVIEW_IGNORED},
                 "outage_id": "preview", "revision": 1, "at": utcnow().isoformat()})
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            return web.json_response({"error": "invalid outage draft", "errors": errors}, status=422)
        except ValueError as exc:
            return web.json_response({"error": str(exc)[:200]}, status=422)
        await self.audience.refresh()
        rids = self.audience.index.match(draft)
        recipients = self.audience.index.recipients(rids)
        messages = len({receiver for _, receiver in recipients if receiver is not None})
        return web.json_response({"residents": len(rids), "messages": messages})


def build(settings: NotifierSettings, *, bus: Bus | None = None, store: Store | None = None,
          clock: Clock = utcnow) -> ServiceRuntime:
    runtime = ServiceRuntime("notifier", settings, port=settings.notifier_port, bus=bus, store=store)
    notifier = Notifier(runtime, settings, clock)
    runtime.notifier = notifier  # type: ignore[attr-defined]  # tests and the benchmark reach the parts here

    for name, handler in (
        ("notifier.residents", notifier.on_resident),
        ("notifier.outages", notifier.outages.handle),
        ("notifier.tickets", notifier.tickets.handle),
        ("notifier.delivery", notifier.figures.handle),
    ):
        spec = queue(name)
        runtime.subscribe(spec.name, list(spec.keys), handler, single_active=spec.single_active)
    # one at a time: a cancel never overtakes its mailing, the newest greetings win
    spec = queue("notifier.mailings")
    runtime.subscribe(spec.name, list(spec.keys), notifier.on_mailing, single_active=spec.single_active, prefetch=1)
    # one at a time: a survey's revisions and its answers in order
    spec = queue("notifier.surveys")
    runtime.subscribe(spec.name, list(spec.keys), notifier.on_survey, single_active=spec.single_active, prefetch=1)

    runtime.app.router.add_post("/api/audience/preview", notifier.preview)
    runtime.app.router.add_post("/api/segment/preview", notifier.segment_preview)
    runtime.on_prepare.append(notifier.prepare)
    runtime.on_started.append(notifier.request_resync_if_empty)
    runtime.singleton("mailings-relay", lambda: notifier.mailer.relay(RELAY_SAFETY_SCAN))
    runtime.singleton("planned-reminders", lambda: notifier.outages.reminders(settings.notifier_scheduler_seconds))
    runtime.singleton("staff-mailings", lambda: notifier.staff.scheduler(settings.notifier_scheduler_seconds))
    runtime.singleton("greetings", lambda: notifier.greetings.scheduler(settings.notifier_scheduler_seconds))
    runtime.singleton("survey-invitations", lambda: notifier.surveys.scheduler(settings.notifier_scheduler_seconds))
    runtime.background("mailing-progress", lambda: notifier.figures.reporter(settings.notifier_progress_seconds))
    return runtime
